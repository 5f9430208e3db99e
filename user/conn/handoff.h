/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* From one parse thread to the correlator's thread. The parse thread's
 * collector makes its exchanges here (handoff_sink) and fills them
 * privately; when one is done its ownership passes through a bounded
 * single-producer/single-consumer ring, and the correlator's thread
 * adopts it (correlator_adopt), in the order they ended.
 *
 * Whole exchanges at their end, not a message at request_done: nothing
 * is shared while an exchange is being parsed, so no field is ever read
 * by two threads. What it costs: the correlator sees a request only once
 * its response ended. Rows are built from client requests after they
 * ended plus the linger, and a forward ends before the client's answer
 * does (the router reads the worker's last byte before it writes its
 * own), a worker request before its forward: with the watermark below,
 * the pieces of a row are all in when it is built. Not seen until their
 * end: exchanges still in flight (no --listen in-flight view, no
 * idle-expiry of a silent one until its connection goes), and a forward
 * that outlives its client request (client abort) is an unmatched forward.
 * correlator_adopt puts each into the store by its start, walking back
 * from the newest over what started after it: short for forwards and
 * worker requests, the requests started meanwhile for a long client
 * request (an index would make it O(log n); not needed at the rates seen).
 *
 * The watermark: the parse thread publishes the time it has consumed its
 * rings up to, after it passed every exchange that ended before it; the
 * correlator's thread ticks the correlator with the least of them. */
#ifndef SERVETRACE_HANDOFF_H
#define SERVETRACE_HANDOFF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "conn/exchange_sink.h"

struct handoff_opts {
	uint32_t slots;			/* ring size (power of two) */
	uint64_t wait_max_ns;		/* a full ring: wait at most this long */
	/* monotonic ns; once set and passed, a full ring is not waited for */
	const _Atomic uint64_t *deadline;
};

/* Written by the parse thread, readable from any (relaxed). */
struct handoff_stats {
	uint64_t made;			/* exchanges begun */
	uint64_t passed;		/* handed to the correlator's thread */
	uint64_t freed;			/* ignored or dropped here, the lost too */
	uint64_t waits;			/* the ring was full: the thread waited */
	uint64_t wait_ns;		/* for this long in all */
	uint64_t lost;			/* still full past wait_max_ns: freed, counted */
};

/* What the correlator's thread is told besides exchanges. */
typedef void (*handoff_exit_fn)(void *ctx, uint32_t tgid, uint64_t ts);

struct handoff;

struct handoff *handoff_new(const struct handoff_opts *opts);
/* Frees what the ring still holds (never adopted). */
void handoff_free(struct handoff *h);
/* The parse thread's collector's sink. */
struct exchange_sink handoff_sink(struct handoff *h);
/* Parse thread: a traced process exited (broadcast by the other side). */
void handoff_proc_exit(struct handoff *h, uint32_t tgid, uint64_t ts);
/* Parse thread: every event up to ts was consumed and what it ended passed. */
void handoff_publish(struct handoff *h, uint64_t ts);
/* Correlator's thread. */
uint64_t handoff_watermark(struct handoff *h);
/* Correlator's thread: when the oldest client request the parse thread
 * holds open started, as of its last publish (UINT64_MAX: none). */
uint64_t handoff_open_since(struct handoff *h);
/* Correlator's thread: what was passed, adopted by corr in order; process
 * exits to fn. Returns the messages taken. */
/* The correlator's side, one at a time: the start of the next exchange
 * (0 for a process exit); false when empty. */
bool handoff_next_start(struct handoff *h, uint64_t *start);
bool handoff_drain_one(struct handoff *h, struct correlator *corr,
		       handoff_exit_fn fn, void *ctx);
uint32_t handoff_drain(struct handoff *h, struct correlator *corr,
		       handoff_exit_fn fn, void *ctx);
/* Once the parse thread is gone (joined): drains, then whatever its
 * collector still ends (flush) goes straight to corr. */
void handoff_direct(struct handoff *h, struct correlator *corr,
		    handoff_exit_fn fn, void *ctx);
void handoff_stats(struct handoff *h, struct handoff_stats *out);
/* The correlator's thread, as its correlator_exchange_return_fn: a freed
 * exchange back to the parse thread that made it (home: its handoff). */
bool handoff_return(void *home, struct exchange *ex);

#endif

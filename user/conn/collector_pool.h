/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* K parse threads, each with its own collector and a fixed share of the
 * capture's shards (shard i -> thread i % K). A connection never changes
 * shard, so it is always parsed by one thread and a collector needs no
 * lock. Exchanges reach the one correlator, on the caller's thread,
 * through each thread's handoff (conn/handoff.h); the caller ticks the
 * correlator with the least watermark (collector_pool_pump), which keeps
 * the matching across threads exact.
 *
 * Messages the other way (roles, process exits seen by another thread,
 * replayed records) go through a second SPSC ring per thread, its inbox.
 * No libbpf in here: live, the caller's poll function reads the thread's
 * rings; replay feeds the records itself. */
#ifndef SERVETRACE_COLLECTOR_POOL_H
#define SERVETRACE_COLLECTOR_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "conn/collector.h"
#include "conn/handoff.h"

#define COLLECTOR_POOL_MAX_THREADS 16

struct collector_pool_opts {
	uint32_t threads;
	struct collector_opts col;	/* max_conns: all threads together */
	uint32_t handoff_slots;		/* per thread; 0: 16384 */
	uint64_t wait_max_ns;		/* a full handoff is waited for; 0: 200 ms */
	/* Live: each thread calls poll(ctx, thread, final) over and over; it
	 * consumes the thread's rings (collector_pool_handle per record) and
	 * returns the monotonic time it consumed them up to. final: the last
	 * call, after collector_pool_stop: drain what is left.
	 * NULL: records come from collector_pool_feed (replay). */
	uint64_t (*poll)(void *ctx, uint32_t thread, bool final);
	void *poll_ctx;
	/* On the caller's thread: a traced process exited. */
	collector_exit_fn on_exit;
	void *exit_ctx;
};

/* Summed over the threads; readable while they run. */
struct collector_pool_stats {
	uint64_t in_flight;		/* exchanges held by the threads, not done */
	uint64_t handoff_waits, handoff_wait_ns, handoff_lost;
};

struct collector_pool;

struct collector_pool *collector_pool_new(const struct collector_pool_opts *opts,
					  struct correlator *corr);
int collector_pool_start(struct collector_pool *p);
/* The thread a shard's records go to; the shard the kernel picks for a
 * socket (bpf/sock.bpf.c ring_for), for a replay to route the same way. */
uint32_t collector_pool_thread_of(const struct collector_pool *p, uint32_t shard);
uint32_t collector_pool_shard_of(uint64_t sock_id, uint32_t nshards);
/* Caller's thread: every thread knows tgid's role before its next record. */
void collector_pool_set_role(struct collector_pool *p, uint32_t tgid, enum proc_role role);
/* A parse thread (from its poll): one ring-buffer record. */
void collector_pool_handle(struct collector_pool *p, uint32_t thread,
			   const struct sock_event *ev, const char *data);
/* Replay: a copy of one record (struct sock_event + payload) to thread. */
int collector_pool_feed(struct collector_pool *p, uint32_t thread, const void *rec, size_t size);
/* Caller's thread: what the threads passed, into the correlator; returns
 * the time to tick it with (every thread consumed up to there). */
uint64_t collector_pool_pump(struct collector_pool *p);
/* Exit: past ns (monotonic) full handoffs are not waited for; the poll
 * function reads it to stop draining. */
void collector_pool_set_deadline(struct collector_pool *p, uint64_t ns);
uint64_t collector_pool_deadline(struct collector_pool *p);
/* Threads told to stop (a last poll(final) each, or the fed records
 * done), joined; what they passed is pumped meanwhile. */
void collector_pool_stop(struct collector_pool *p);
/* After stop: every collector's connections closed, their exchanges into
 * the correlator (then correlator_flush). */
void collector_pool_flush(struct collector_pool *p);
void collector_pool_collector_stats(struct collector_pool *p, struct collector_stats *sum);
void collector_pool_stats(struct collector_pool *p, struct collector_pool_stats *out);
/* Latest event timestamp any thread saw (after stop). */
uint64_t collector_pool_last_ts(struct collector_pool *p);
uint32_t collector_pool_threads(const struct collector_pool *p);
void collector_pool_free(struct collector_pool *p);

#endif

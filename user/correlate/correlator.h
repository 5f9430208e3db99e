/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Joins what the router and the workers saw into one row per request:
 * client request -> forward(s) -> worker request -> responses, plus the
 * in-server hops, once every piece had time to arrive (the linger). */
#ifndef SERVETRACE_CORRELATOR_H
#define SERVETRACE_CORRELATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "correlate/exchange.h"
#include "correlate/server_events.h"
#include "output/timeline_row.h"

struct correlator_opts {
	bool have_router;		/* else worker requests are the rows */
	uint64_t linger_ns;		/* wait after a request ends */
	uint64_t orphan_ns;		/* unmatched pieces are given up after */
	uint64_t idle_ns;		/* unfinished exchanges expire after */
	uint32_t max_exchanges;		/* live exchanges, oldest evicted */
	uint32_t max_hop_records;	/* server-hop records kept */
	void (*emit)(void *ctx, const struct timeline_row *row);
	void *emit_ctx;
};

struct correlator_stats {
	uint64_t rows;
	uint64_t rows_router, rows_node, rows_unmatched_worker;
	uint64_t forwards_unmatched;	/* router forwards no client request claimed */
	uint64_t rows_without_forward;	/* router rows with no forward seen */
	uint64_t time_walks_bounded;	/* searches by time ended at TIME_WALK_MAX */
	uint64_t searches_skipped;	/* id'd clients not searched by prompt/time */
	uint64_t rows_without_worker;	/* forward seen, worker request not */
	uint64_t evicted;		/* max_exchanges reached */
	uint64_t expired_unfinished;	/* idle_ns passed without an end */
	uint64_t incomplete_at_exit;
	uint64_t retried;		/* requests with more than one forward */
	uint64_t hops, hop_records_evicted, hops_unclaimed;
	uint64_t adopted_unordered;	/* placed near, not at, their start order */
	uint64_t pair_steps;		/* worker requests looked at to find forwards'
					 * (tests: the lookups stay short) */
	uint64_t unwritten_at_exit;	/* exchanges left unmatched: exit deadline */
	uint64_t live;			/* exchanges held now */
	uint64_t in_flight;		/* of which not done yet */
};

struct correlator;

struct correlator *correlator_new(const struct correlator_opts *opts);
/* An exchange with home set (made by a parse thread) that c lets go of is
 * offered to fn instead of freed (fn takes it: true); NULL: freed. Cleared
 * before the homes go. */
typedef bool (*correlator_exchange_return_fn)(void *home, struct exchange *ex);
void correlator_set_exchange_return(struct correlator *c, correlator_exchange_return_fn fn);
void correlator_free(struct correlator *c);
struct exchange *correlator_new_exchange(struct correlator *c, enum exchange_kind kind,
					 uint32_t tgid, const struct sock_endpoint *local,
					 const struct sock_endpoint *peer, uint64_t ts);
/* An exchange outside any correlator, for a parse thread to fill
 * (size: at least sizeof(struct exchange), for a caller's wrapper that
 * starts with it), then hand over with correlator_adopt, or free. */
struct exchange *correlator_exchange_alloc(size_t size, enum exchange_kind kind,
					   uint32_t tgid, const struct sock_endpoint *local,
					   const struct sock_endpoint *peer, uint64_t ts);
void correlator_exchange_free(struct exchange *ex);
/* Freed exchanges are kept for reuse by the thread that freed them: a
 * thread that ends lets go of its own with this. */
void correlator_exchange_cache_drain(void);
/* A done exchange from correlator_exchange_alloc is the correlator's from
 * now: as if made here, its request_done (if it was) and its
 * exchange_done at ts called. */
void correlator_adopt(struct correlator *c, struct exchange *ex, bool request_done,
		      uint64_t ts);
/* Whether the store is in start order (a check for tests: O(live)). */
bool correlator_store_ordered(struct correlator *c);
/* The request of ex has been fully read or written. */
void correlator_request_done(struct correlator *c, struct exchange *ex);
/* Fetches what correlator_request_done(ex) will write, ahead of it, into
 * the correlator's thread's cache: any time after ex's head was read. */
void correlator_prefetch_request(struct correlator *c, struct exchange *ex);
/* ex is over (response ended, or the connection went away). */
void correlator_exchange_done(struct correlator *c, struct exchange *ex, uint64_t ts);
/* Not an inference request: forget it. */
void correlator_drop(struct correlator *c, struct exchange *ex);
/* Emits what is due at monotonic time now; expires what waited too long. */
void correlator_tick(struct correlator *c, uint64_t now);
/* When the oldest client request that parse threads still hold open
 * started (UINT64_MAX: none): what ended after it waits to be claimed. */
void correlator_set_open_since(struct correlator *c, uint64_t ts);
/* At exit: everything out, unfinished requests flagged as such. */
void correlator_flush(struct correlator *c);
/* The same, until stop(ctx) says the time is up (read every 64 rows):
 * what is left is counted (unwritten_at_exit), not matched and written. */
void correlator_flush_bounded(struct correlator *c, bool (*stop)(void *ctx), void *ctx);
const struct correlator_stats *correlator_stats(struct correlator *c);
/* A router appeared (auto discovery): worker requests wait to be claimed. */
void correlator_set_have_router(struct correlator *c, bool have_router);
/* Whoever holds exchanges (ex->conn set) is told before one is freed, so
 * it lets go of it: the collector registers itself here. */
void correlator_set_holder(struct correlator *c,
			   void (*detach)(void *ctx, struct exchange *ex), void *ctx);
/* One hop inside an SGLang server (server_hops' sink). rid: SGLang's
 * request id; worker_tgid: the server's main process; ts: monotonic ns.
 * The first note per (rid, hop) wins, except HOP_SCHED_LAST_OUT. */
void correlator_note_hop(struct correlator *c, const char *rid, enum server_hop hop,
			 uint64_t ts, uint32_t worker_tgid);
/* The same as a server_hop_fn, ctx = the correlator: what a builder gives
 * server_hops_opts.on_hop. */
void correlator_hop_sink(void *ctx, const char *rid, enum server_hop hop,
			 uint64_t ts, uint32_t worker_tgid);
/* The requests that would become rows but have not ended yet, as partial
 * rows: what is known so far filled, error "in_flight", the rest empty.
 * Nothing is consumed or counted: a view for live queries. */
void correlator_foreach_in_flight(struct correlator *c,
				  void (*fn)(void *ctx, const struct timeline_row *partial),
				  void *ctx);

#endif

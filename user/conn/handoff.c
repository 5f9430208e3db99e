// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Whether the sink's request_done was called travels with the exchange
 * (sink_request_done): the collector sets req_done also for requests cut
 * short, which are never matchable.
 *
 * Exchanges go back: the correlator's thread frees one by pushing it
 * onto its home's return ring, and the parse thread frees its buffers
 * and reuses the block when it makes its next ones. Every malloc and
 * free of an exchange and its buffers stays on the parse thread: freed
 * on the correlator's thread they took the parse thread's arena lock,
 * and the two threads fought over it (futex waits in a profile). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "conn/handoff.h"
#include "output/clock.h"
#include "util/spsc_ring.h"

enum msg_type { MSG_EXCHANGE = 1, MSG_PROC_EXIT };

struct msg {
	uint32_t type;
	uint32_t tgid;
	struct exchange *ex;
	uint64_t ts;
};

struct handoff {
	struct handoff_opts o;
	struct spsc_ring ring;
	struct spsc_ring back;		/* freed exchanges, to the parse thread */
	/* client requests not done, oldest first (the parse thread's; linked
	 * by their store node, unused until the correlator adopts them) */
	struct list_head open;
	_Alignas(64) _Atomic uint64_t watermark;
	_Atomic uint64_t open_since;	/* the oldest's start, UINT64_MAX: none */
	/* the producer's counters: single writer, relaxed */
	_Alignas(64) _Atomic uint64_t made, passed, freed, waits, wait_ns, lost;
	/* after the producer is joined: straight to the correlator */
	struct correlator *direct;
	handoff_exit_fn exit_fn;
	void *exit_ctx;
};

static void bump(_Atomic uint64_t *v, uint64_t n)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static uint64_t get(_Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static bool past_deadline(const struct handoff *h, uint64_t now)
{
	uint64_t d = h->o.deadline ? atomic_load_explicit(h->o.deadline, memory_order_relaxed) : 0;

	return d && now > d;
}

/* A full ring: the correlator's thread drains it every few ms, so wait
 * for it, a bounded time. false: still full. */
static bool push_wait(struct handoff *h, const struct msg *m)
{
	uint64_t start, now;

	if (spsc_ring_push(&h->ring, m))
		return true;
	bump(&h->waits, 1);
	start = now = clock_mono_now_ns();
	while (!spsc_ring_push(&h->ring, m)) {
		struct timespec ts = { 0, 20000 };

		if (now - start >= h->o.wait_max_ns || past_deadline(h, now)) {
			bump(&h->wait_ns, now - start);
			return false;
		}
		nanosleep(&ts, NULL);
		now = clock_mono_now_ns();
	}
	bump(&h->wait_ns, clock_mono_now_ns() - start);
	return true;
}

/* ---- the parse thread's sink --------------------------------------- */

static struct exchange *h_new_exchange(void *ctx, enum exchange_kind kind, uint32_t tgid,
				       const struct sock_endpoint *local,
				       const struct sock_endpoint *peer, uint64_t ts)
{
	struct handoff *h = ctx;
	struct exchange *ex;

	/* two back for each one made: the ring empties when frees come in
	 * bursts (the correlator's expiry) */
	for (int i = 0; i < 2 && spsc_ring_pop(&h->back, &ex); i++) {
		struct exchange *const *next = spsc_ring_peek_at(&h->back, 1);

		/* the merge thread had it last: fetched a free ahead, for
		 * the free and the clearing that reuses it */
		if (next)
			exchange_prefetch_write(*next);
		ex->home = NULL;
		correlator_exchange_free(ex);	/* into this thread's cache */
	}
	ex = correlator_exchange_alloc(sizeof(*ex), kind, tgid, local, peer, ts);
	if (ex) {
		ex->home = h;
		bump(&h->made, 1);
		if (kind == EX_CLIENT_IN)
			list_add_tail(&ex->node, &h->open);
	}
	return ex;
}

/* A client request leaves the open ones when done or dropped. */
static void h_closed(struct exchange *ex)
{
	if (ex->kind == EX_CLIENT_IN)
		list_del(&ex->node);
}

static void h_request_done(void *ctx, struct exchange *ex)
{
	ex->sink_request_done = true;
}

static void h_drop(void *ctx, struct exchange *ex)
{
	struct handoff *h = ctx;

	h_closed(ex);
	ex->home = NULL;	/* freed here, on its own thread */
	correlator_exchange_free(ex);
	bump(&h->freed, 1);
}

static void h_exchange_done(void *ctx, struct exchange *ex, uint64_t ts)
{
	struct handoff *h = ctx;
	struct msg m = { .type = MSG_EXCHANGE, .ex = ex, .ts = ts };

	ex->conn = NULL;
	if (ex->ignored) {	/* the correlator would free it at once */
		h_drop(h, ex);
		return;
	}
	h_closed(ex);
	if (h->direct) {
		handoff_drain(h, h->direct, h->exit_fn, h->exit_ctx);
		correlator_adopt(h->direct, ex, ex->sink_request_done, ts);
		bump(&h->passed, 1);
		return;
	}
	if (!push_wait(h, &m)) {
		bump(&h->lost, 1);
		h_drop(h, ex);
		return;
	}
	bump(&h->passed, 1);
}

/* Nothing but the parse thread frees its exchanges before they are done. */
static void h_set_holder(void *ctx, exchange_detach_fn detach, void *hctx)
{
}

static const struct exchange_sink_ops handoff_ops = {
	.new_exchange = h_new_exchange,
	.request_done = h_request_done,
	.exchange_done = h_exchange_done,
	.drop = h_drop,
	.set_holder = h_set_holder,
};

struct exchange_sink handoff_sink(struct handoff *h)
{
	return (struct exchange_sink){ .ops = &handoff_ops, .ctx = h };
}

void handoff_proc_exit(struct handoff *h, uint32_t tgid, uint64_t ts)
{
	struct msg m = { .type = MSG_PROC_EXIT, .tgid = tgid, .ts = ts };

	if (h->direct) {
		if (h->exit_fn)
			h->exit_fn(h->exit_ctx, tgid, ts);
		return;
	}
	if (!push_wait(h, &m))
		bump(&h->lost, 1);
}

void handoff_publish(struct handoff *h, uint64_t ts)
{
	struct exchange *oldest = list_first_or_null(&h->open, struct exchange, node);

	atomic_store_explicit(&h->open_since, oldest ? oldest->t_req_first : UINT64_MAX,
			      memory_order_relaxed);
	atomic_store_explicit(&h->watermark, ts, memory_order_release);
}

/* ---- the correlator's thread --------------------------------------- */

uint64_t handoff_watermark(struct handoff *h)
{
	return atomic_load_explicit(&h->watermark, memory_order_acquire);
}

uint64_t handoff_open_since(struct handoff *h)
{
	return atomic_load_explicit(&h->open_since, memory_order_relaxed);
}

bool handoff_next_start(struct handoff *h, uint64_t *start)
{
	const struct msg *m = spsc_ring_peek(&h->ring);

	if (!m)
		return false;
	*start = m->type == MSG_EXCHANGE ? m->ex->t_req_first : 0;
	return true;
}

/* How far ahead in a handoff ring exchanges are fetched: a parse thread
 * wrote them on another core, and the merge reads each at once (its start,
 * then its place in the store and indexes): misses otherwise. */
#define PREFETCH_AHEAD 4

bool handoff_drain_one(struct handoff *h, struct correlator *corr,
		       handoff_exit_fn fn, void *ctx)
{
	const struct msg *ahead;
	struct msg m;

	if (!spsc_ring_pop(&h->ring, &m))
		return false;
	ahead = spsc_ring_peek_at(&h->ring, PREFETCH_AHEAD - 1);
	if (ahead && ahead->type == MSG_EXCHANGE)
		exchange_prefetch(ahead->ex);
	/* and, from the lines fetched two drains ago, the index bucket
	 * its request_done will write */
	ahead = spsc_ring_peek_at(&h->ring, PREFETCH_AHEAD / 2 - 1);
	if (ahead && ahead->type == MSG_EXCHANGE && ahead->ex->sink_request_done)
		correlator_prefetch_request(corr, ahead->ex);
	if (m.type == MSG_EXCHANGE)
		correlator_adopt(corr, m.ex, m.ex->sink_request_done, m.ts);
	else if (m.type == MSG_PROC_EXIT && fn)
		fn(ctx, m.tgid, m.ts);
	return true;
}

uint32_t handoff_drain(struct handoff *h, struct correlator *corr,
		       handoff_exit_fn fn, void *ctx)
{
	uint32_t n = 0;

	while (handoff_drain_one(h, corr, fn, ctx))
		n++;
	return n;
}

void handoff_direct(struct handoff *h, struct correlator *corr,
		    handoff_exit_fn fn, void *ctx)
{
	handoff_drain(h, corr, fn, ctx);
	h->exit_fn = fn;
	h->exit_ctx = ctx;
	h->direct = corr;
}

void handoff_stats(struct handoff *h, struct handoff_stats *out)
{
	out->made = get(&h->made);
	out->passed = get(&h->passed);
	out->freed = get(&h->freed);
	out->waits = get(&h->waits);
	out->wait_ns = get(&h->wait_ns);
	out->lost = get(&h->lost);
}

struct handoff *handoff_new(const struct handoff_opts *opts)
{
	struct handoff *h = aligned_alloc(64, (sizeof(*h) + 63) & ~(size_t)63);

	if (!h)
		return NULL;
	memset(h, 0, sizeof(*h));
	h->o = *opts;
	list_init(&h->open);
	h->open_since = UINT64_MAX;
	if (spsc_ring_init(&h->ring, opts->slots ? opts->slots : 4096, sizeof(struct msg))) {
		free(h);
		return NULL;
	}
	if (spsc_ring_init(&h->back, opts->slots ? opts->slots : 4096, sizeof(struct exchange *))) {
		spsc_ring_free(&h->ring);
		free(h);
		return NULL;
	}
	return h;
}

/* The correlator's thread: an exchange it let go of, back to its parse
 * thread; false (a full ring, or the thread is gone): the correlator
 * frees it. */
bool handoff_return(void *home, struct exchange *ex)
{
	struct handoff *h = home;

	return !h->direct && spsc_ring_push(&h->back, &ex);
}

void handoff_free(struct handoff *h)
{
	struct exchange *ex;
	struct msg m;

	if (!h)
		return;
	while (spsc_ring_pop(&h->ring, &m))
		if (m.type == MSG_EXCHANGE) {
			m.ex->home = NULL;
			correlator_exchange_free(m.ex);
		}
	while (spsc_ring_pop(&h->back, &ex)) {
		ex->home = NULL;
		correlator_exchange_free(ex);
	}
	spsc_ring_free(&h->ring);
	spsc_ring_free(&h->back);
	free(h);
}

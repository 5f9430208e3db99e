// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Who touches what: a thread's collector, its handoff's producer side
 * and its inbox's consumer side belong to that thread; the correlator,
 * the handoffs' consumer side and the inboxes' producer side to the
 * caller's. Counters cross as relaxed atomic snapshots. */
#define _GNU_SOURCE	/* pthread_setname_np */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "conn/collector_pool.h"
#include "correlate/correlator.h"
#include "proto/body_fields.h"
#include "util/spsc_ring.h"

#define NSTATS (sizeof(struct collector_stats) / sizeof(uint64_t))
_Static_assert(sizeof(struct collector_stats) % sizeof(uint64_t) == 0,
	       "collector_stats: uint64_t counters only");

enum inbox_type { IN_ROLE = 1, IN_EXIT, IN_RECORD };

struct inbox_msg {
	uint32_t type;
	uint32_t tgid;
	uint32_t role;
	void *rec;
	uint64_t ts;
};

struct worker {
	struct collector_pool *p;
	uint32_t id;
	pthread_t tid;
	bool started;
	struct collector *col;
	struct handoff *h;
	struct spsc_ring inbox;
	uint64_t sent;			/* replay: records fed (caller's side) */
	_Atomic uint64_t done;		/* replay: records handled */
	_Atomic bool finished;
	bool applying_exit;		/* an exit another thread saw */
	_Atomic uint64_t snap[NSTATS];	/* the collector's counters */
};

struct collector_pool {
	struct collector_pool_opts o;
	struct correlator *corr;
	struct worker w[COLLECTOR_POOL_MAX_THREADS];
	_Atomic bool stop;
	_Atomic uint64_t deadline;
	uint64_t upto;			/* replay: latest ts fed */
};

static void pause_us(long us)
{
	struct timespec ts = { 0, us * 1000 };

	nanosleep(&ts, NULL);
}

uint32_t collector_pool_shard_of(uint64_t sock_id, uint32_t nshards)
{
	if (nshards <= 1)
		return 0;
	return (uint32_t)(((sock_id >> 6) ^ (sock_id >> 32)) * 2654435761u) % nshards;
}

uint32_t collector_pool_thread_of(const struct collector_pool *p, uint32_t shard)
{
	return shard % p->o.threads;
}

uint32_t collector_pool_threads(const struct collector_pool *p)
{
	return p->o.threads;
}

/* ---- a parse thread ------------------------------------------------ */

static void snapshot(struct worker *w)
{
	const uint64_t *st = (const uint64_t *)collector_stats(w->col);

	for (size_t i = 0; i < NSTATS; i++)
		atomic_store_explicit(&w->snap[i], st[i], memory_order_relaxed);
}

/* Its collector saw a process exit: the caller forgets it, the other
 * threads close its connections. */
static void worker_on_exit(void *ctx, uint32_t tgid)
{
	struct worker *w = ctx;

	if (!w->applying_exit)
		handoff_proc_exit(w->h, tgid, collector_last_ts(w->col));
}

static void worker_apply(struct worker *w, const struct inbox_msg *m)
{
	switch (m->type) {
	case IN_ROLE:
		collector_set_role(w->col, m->tgid, m->role);
		break;
	case IN_EXIT: {
		struct sock_event ev = {
			.type = EV_PROC_EXIT, .tgid = m->tgid, .fd = -1,
			.ts_enter = m->ts, .ts_exit = m->ts,
		};

		w->applying_exit = true;
		collector_handle(w->col, &ev, NULL);
		w->applying_exit = false;
		break;
	}
	case IN_RECORD: {
		const struct sock_event *ev = m->rec;

		collector_pool_handle(w->p, w->id, ev, (const char *)(ev + 1));
		free(m->rec);
		handoff_publish(w->h, m->ts);
		atomic_fetch_add_explicit(&w->done, 1, memory_order_release);
		break;
	}
	}
}

/* true: something was applied */
static bool worker_inbox(struct worker *w)
{
	struct inbox_msg m;
	bool any = false;

	while (spsc_ring_pop(&w->inbox, &m)) {
		worker_apply(w, &m);
		any = true;
	}
	return any;
}

void collector_pool_handle(struct collector_pool *p, uint32_t thread,
			   const struct sock_event *ev, const char *data)
{
	struct worker *w = &p->w[thread];

	/* live, a target is announced before its tgid enters the kernel's
	 * map: its first record may come before this thread read its inbox
	 * (a replay's inbox holds the roles in order with the records) */
	if (p->o.poll && ev->type != EV_PROC_EXIT &&
	    collector_role(w->col, ev->tgid) == ROLE_NONE)
		worker_inbox(w);
	collector_handle(w->col, ev, data);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct collector_pool *p = w->p;

	for (;;) {
		bool stopping = atomic_load_explicit(&p->stop, memory_order_acquire);
		bool any = worker_inbox(w);

		if (p->o.poll)
			handoff_publish(w->h, p->o.poll(p->o.poll_ctx, w->id, stopping));
		snapshot(w);
		if (stopping && (p->o.poll || !any))
			break;
		if (!p->o.poll && !any)
			pause_us(50);
	}
	atomic_store_explicit(&w->finished, true, memory_order_release);
	correlator_exchange_cache_drain();
	body_fields_thread_done();
	return NULL;
}

/* ---- the caller's side --------------------------------------------- */

static void pool_on_exit(void *ctx, uint32_t tgid, uint64_t ts)
{
	struct worker *src = ctx;
	struct collector_pool *p = src->p;

	if (p->o.on_exit)
		p->o.on_exit(p->o.exit_ctx, tgid);
	for (uint32_t i = 0; i < p->o.threads; i++) {
		struct inbox_msg m = { .type = IN_EXIT, .tgid = tgid, .ts = ts };

		if (&p->w[i] == src)
			continue;
		if (p->w[i].started && !atomic_load(&p->w[i].finished)) {
			while (!spsc_ring_push(&p->w[i].inbox, &m))
				pause_us(20);
		} else {
			worker_apply(&p->w[i], &m);	/* joined, or never ran */
		}
	}
}

/* Merged by start across the threads (each hands over in done order, so
 * the merge is near start order): the correlator then places each close
 * to the end of its store. Thread by thread, each exchange of the second
 * walked back past all the first had handed over since the last drain
 * (16-core bench: 370k of 1.3M exchanges walked the whole 512 bound). */
static void drain_all(struct collector_pool *p)
{
	for (;;) {
		struct worker *next = NULL;
		uint64_t best = 0, t;

		for (uint32_t i = 0; i < p->o.threads; i++)
			if (p->w[i].h && handoff_next_start(p->w[i].h, &t) && (!next || t < best)) {
				next = &p->w[i];
				best = t;
			}
		if (!next)
			return;
		handoff_drain_one(next->h, p->corr, pool_on_exit, next);
	}
}

/* The inbox is drained by the thread within a poll: a full one means
 * the thread waits on its handoff, which we drain meanwhile. */
static void inbox_push(struct collector_pool *p, struct worker *w, const struct inbox_msg *m)
{
	if (!w->started || atomic_load(&w->finished)) {
		worker_apply(w, m);
		return;
	}
	while (!spsc_ring_push(&w->inbox, m)) {
		drain_all(p);
		pause_us(20);
	}
}

uint64_t collector_pool_pump(struct collector_pool *p)
{
	uint64_t wm = UINT64_MAX, open_since = UINT64_MAX;

	/* watermarks first: what was passed before them is in the rings */
	for (uint32_t i = 0; i < p->o.threads; i++) {
		struct worker *w = &p->w[i];
		uint64_t x;

		if (!p->o.poll && atomic_load_explicit(&w->done, memory_order_acquire) == w->sent)
			x = p->upto;	/* caught up with every record fed */
		else
			x = handoff_watermark(w->h);
		if (x < wm)
			wm = x;
		x = handoff_open_since(w->h);
		if (x < open_since)
			open_since = x;
	}
	correlator_set_open_since(p->corr, open_since);
	drain_all(p);
	return wm == UINT64_MAX ? 0 : wm;
}

void collector_pool_set_role(struct collector_pool *p, uint32_t tgid, enum proc_role role)
{
	for (uint32_t i = 0; i < p->o.threads; i++) {
		struct inbox_msg m = { .type = IN_ROLE, .tgid = tgid, .role = role };

		inbox_push(p, &p->w[i], &m);
	}
}

int collector_pool_feed(struct collector_pool *p, uint32_t thread, const void *rec, size_t size)
{
	const struct sock_event *ev = rec;
	struct inbox_msg m = { .type = IN_RECORD, .rec = malloc(size) };

	if (!m.rec)
		return -ENOMEM;
	memcpy(m.rec, rec, size);
	if (ev->ts_exit > p->upto)
		p->upto = ev->ts_exit;
	m.ts = p->upto;
	p->w[thread].sent++;
	inbox_push(p, &p->w[thread], &m);
	return 0;
}

void collector_pool_set_deadline(struct collector_pool *p, uint64_t ns)
{
	atomic_store_explicit(&p->deadline, ns, memory_order_relaxed);
}

uint64_t collector_pool_deadline(struct collector_pool *p)
{
	return atomic_load_explicit(&p->deadline, memory_order_relaxed);
}

void collector_pool_stop(struct collector_pool *p)
{
	atomic_store_explicit(&p->stop, true, memory_order_release);
	for (uint32_t i = 0; i < p->o.threads; i++) {
		struct worker *w = &p->w[i];

		if (!w->started)
			continue;
		while (!atomic_load_explicit(&w->finished, memory_order_acquire)) {
			drain_all(p);
			pause_us(200);
		}
		pthread_join(w->tid, NULL);
		w->started = false;
	}
	drain_all(p);
}

void collector_pool_flush(struct collector_pool *p)
{
	for (uint32_t i = 0; i < p->o.threads; i++)
		handoff_direct(p->w[i].h, p->corr, pool_on_exit, &p->w[i]);
	for (uint32_t i = 0; i < p->o.threads; i++) {
		collector_flush(p->w[i].col);
		snapshot(&p->w[i]);
	}
}

void collector_pool_collector_stats(struct collector_pool *p, struct collector_stats *sum)
{
	uint64_t *out = (uint64_t *)sum;

	memset(sum, 0, sizeof(*sum));
	for (uint32_t i = 0; i < p->o.threads; i++)
		for (size_t k = 0; k < NSTATS; k++)
			out[k] += atomic_load_explicit(&p->w[i].snap[k], memory_order_relaxed);
}

void collector_pool_stats(struct collector_pool *p, struct collector_pool_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < p->o.threads; i++) {
		struct handoff_stats hs;

		handoff_stats(p->w[i].h, &hs);
		/* freed counts the lost too (h_drop) */
		out->in_flight += hs.made - hs.passed - hs.freed;
		out->handoff_waits += hs.waits;
		out->handoff_wait_ns += hs.wait_ns;
		out->handoff_lost += hs.lost;
	}
}

uint64_t collector_pool_last_ts(struct collector_pool *p)
{
	uint64_t ts = 0;

	for (uint32_t i = 0; i < p->o.threads; i++)
		if (collector_last_ts(p->w[i].col) > ts)
			ts = collector_last_ts(p->w[i].col);
	return ts;
}

/* ---- lifetime ------------------------------------------------------ */

struct collector_pool *collector_pool_new(const struct collector_pool_opts *opts,
					  struct correlator *corr)
{
	struct collector_pool *p = calloc(1, sizeof(*p));
	struct collector_opts co = opts->col;

	if (!p)
		return NULL;
	p->o = *opts;
	if (p->o.threads < 1)
		p->o.threads = 1;
	if (p->o.threads > COLLECTOR_POOL_MAX_THREADS)
		p->o.threads = COLLECTOR_POOL_MAX_THREADS;
	p->corr = corr;
	/* bounded memory per thread: the connections split between them */
	co.max_conns = co.max_conns / p->o.threads ? co.max_conns / p->o.threads : 1;
	for (uint32_t i = 0; i < p->o.threads; i++) {
		struct worker *w = &p->w[i];
		struct exchange_sink sink;

		w->p = p;
		w->id = i;
		w->h = handoff_new(&(struct handoff_opts){
			.slots = opts->handoff_slots ? opts->handoff_slots : 16384,
			.wait_max_ns = opts->wait_max_ns ? opts->wait_max_ns : 200000000ULL,
			.deadline = &p->deadline,
		});
		if (!w->h || spsc_ring_init(&w->inbox, 1024, sizeof(struct inbox_msg)))
			goto fail;
		sink = handoff_sink(w->h);
		w->col = collector_new_sink(&co, &sink);
		if (!w->col)
			goto fail;
		collector_on_exit(w->col, worker_on_exit, w);
	}
	return p;
fail:
	collector_pool_free(p);
	return NULL;
}

int collector_pool_start(struct collector_pool *p)
{
	correlator_set_exchange_return(p->corr, handoff_return);
	for (uint32_t i = 0; i < p->o.threads; i++) {
		int err = pthread_create(&p->w[i].tid, NULL, worker_main, &p->w[i]);
		char name[16];

		if (err) {
			collector_pool_stop(p);
			return -err;
		}
		p->w[i].started = true;
		/* top -H and perf tell the parse threads from the merge (main) */
		snprintf(name, sizeof(name), "servetrace-p%u", i);
		pthread_setname_np(p->w[i].tid, name);
	}
	return 0;
}

void collector_pool_free(struct collector_pool *p)
{
	if (!p)
		return;
	collector_pool_stop(p);
	/* the correlator frees what it still holds itself from now on */
	correlator_set_exchange_return(p->corr, NULL);
	for (uint32_t i = 0; i < p->o.threads; i++) {
		struct worker *w = &p->w[i];
		struct inbox_msg m;

		if (w->h)
			handoff_direct(w->h, p->corr, NULL, NULL);
		collector_free(w->col);
		if (w->inbox.slots) {
			while (spsc_ring_pop(&w->inbox, &m))
				if (m.type == IN_RECORD)
					free(m.rec);
			spsc_ring_free(&w->inbox);
		}
		handoff_free(w->h);
	}
	free(p);
}

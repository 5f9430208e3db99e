// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The parse threads (conn/collector_pool) against one thread: a real
 * recording (router_sglang.strec) replayed through one collector, then
 * through 2 and 3 threads with its records routed by the shard the kernel
 * would have picked, must give the same rows (sorted: the order rows end
 * in differs). Only the ids servetrace assigns (st-N, by arrival at the
 * correlator) are per-run; none is expected here. Plus the handoff on its
 * own: order, a full ring waited for and then counted. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "capture/recording.h"
#include "conn/collector_pool.h"
#include "conn/handoff.h"
#include "correlate/server_hops.h"
#include "output/clock.h"
#include "output/output.h"
#include "fixture.h"
#include "test.h"

#define RECORDING "tests/unit/data/router_sglang.strec"
#define MAX_LINES 256

struct rows {
	struct output out;
	char *text;
	size_t len;
	char *line[MAX_LINES];
	int n;
	uint32_t exits;			/* on_exit calls */
	struct collector_stats cs;
};

static void catch_row(void *ctx, const struct timeline_row *row)
{
	struct rows *rs = ctx;
	struct timeline_row r = *row;

	if (r.rid_source && !strcmp(r.rid_source, "assigned"))
		r.req_id[0] = 0;	/* per run: by arrival order */
	output_row(&rs->out, &r);
}

static void count_exit(void *ctx, uint32_t tgid)
{
	((struct rows *)ctx)->exits++;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The rows as CSV lines, header dropped, sorted. */
static void split_rows(struct rows *rs)
{
	char *save = NULL, *l = strtok_r(rs->text, "\n", &save);

	for (l = strtok_r(NULL, "\n", &save); l && rs->n < MAX_LINES;
	     l = strtok_r(NULL, "\n", &save))
		rs->line[rs->n++] = l;
	qsort(rs->line, rs->n, sizeof(rs->line[0]), cmp_line);
}

struct run {
	uint32_t threads, shards;	/* threads 1: the plain collector */
	bool exits;			/* every traced process exits at the end */
	uint32_t threads_used;		/* how many threads got records */
};

static void feed(struct run *run, struct collector *col, struct collector_pool *pool,
		 struct correlator *corr, const char *buf, long n, bool *used)
{
	const struct sock_event *ev = (const void *)buf;

	if (!pool) {
		collector_handle(col, ev, (const char *)(ev + 1));
		correlator_tick(corr, collector_last_ts(col));
		return;
	}
	uint32_t t = collector_pool_thread_of(pool, collector_pool_shard_of(ev->sock_id, run->shards));

	used[t] = true;
	collector_pool_feed(pool, t, buf, n);
	correlator_tick(corr, collector_pool_pump(pool));
}

/* Every traced process ends: a bare EV_PROC_EXIT as the kernel sends it
 * (no socket: shard 0), after the last record. */
static void feed_exits(struct run *run, struct collector *col, struct collector_pool *pool,
		       struct correlator *corr, const uint32_t *tgids, int n, uint64_t ts,
		       bool *used)
{
	for (int i = 0; i < n; i++) {
		struct sock_event ev = {
			.type = EV_PROC_EXIT, .tgid = tgids[i], .fd = -1,
			.ts_enter = ts, .ts_exit = ts,
		};

		feed(run, col, pool, corr, (const char *)&ev, sizeof(ev), used);
	}
}

/* This process's threads named servetrace-p<N>, N < threads. */
static uint32_t named_parse_threads(uint32_t threads)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	uint32_t n = 0;

	while (d && (e = readdir(d))) {
		char path[64], comm[32] = "";
		unsigned int i;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%.16s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && sscanf(comm, "servetrace-p%u", &i) == 1 &&
		    i < threads)
			n++;
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

static int replay(struct run *run, struct rows *rs)
{
	FILE *mem = open_memstream(&rs->text, &rs->len);
	struct correlator *corr = correlator_new(&(struct correlator_opts){
		.have_router = true, .linger_ns = 300 * MS, .orphan_ns = 10000 * MS,
		.idle_ns = 600000 * MS, .max_exchanges = 10000, .max_hop_records = 10000,
		.emit = catch_row, .emit_ctx = rs,
	});
	struct collector_opts co = { .body_limit = 65536, .max_conns = 1024, .have_router = true };
	struct server_hops *sh = server_hops_new(&(struct server_hops_opts){
		.on_hop = correlator_hop_sink, .ctx = corr, .max_rids = 10000,
	});
	struct collector *col = NULL;
	struct collector_pool *pool = NULL;
	FILE *f = fopen(RECORDING, "r");
	bool used[COLLECTOR_POOL_MAX_THREADS] = {};
	uint32_t tgids[16];
	int ntgids = 0;
	char *buf = NULL;
	size_t cap = 0;
	uint32_t src;
	int64_t off;
	long n;

	output_init(&rs->out, mem, OUT_CSV);
	if (run->threads == 1) {
		col = collector_new(&co, corr);
		collector_on_exit(col, count_exit, rs);
	} else {
		pool = collector_pool_new(&(struct collector_pool_opts){
			.threads = run->threads, .col = co,
			.on_exit = count_exit, .exit_ctx = rs,
		}, corr);
		if (pool && collector_pool_start(pool))
			abort();
		/* top -H and perf tell them from the merge thread */
		ASSERT_EQ(named_parse_threads(run->threads), run->threads,
			  "each parse thread is named servetrace-p<N>");
	}
	if (!corr || !sh || (!col && !pool) || !f || recording_read_header(f, &off)) {
		fprintf(stderr, "  cannot replay %s (run from the repo root)\n", RECORDING);
		return -1;
	}
	clock_set_offset(off);
	while ((n = recording_read(f, &src, &buf, &cap)) > 0) {
		if (src == REC_ROLE) {
			const struct rec_role *r = (const void *)buf;

			if (pool)
				collector_pool_set_role(pool, r->tgid, r->role);
			else
				collector_set_role(col, r->tgid, r->role);
			if (ntgids < 16)
				tgids[ntgids++] = r->tgid;
		} else if (src == REC_SGLANG_PROC) {
			const struct rec_sglang_proc *p = (const void *)buf;

			server_hops_set_proc(sh, p->pid, p->role, p->main_pid);
		} else if (src == REC_SOCK) {
			feed(run, col, pool, corr, buf, n, used);
		} else if (src == REC_ZMQ) {
			server_hops_handle(sh, buf, n);
		}
	}
	if (run->exits)
		feed_exits(run, col, pool, corr, tgids, ntgids,
			   (pool ? collector_pool_pump(pool) : collector_last_ts(col)) + MS, used);
	if (pool) {
		collector_pool_stop(pool);
		collector_pool_flush(pool);
		collector_pool_collector_stats(pool, &rs->cs);
	} else {
		collector_flush(col);
		rs->cs = *collector_stats(col);
	}
	correlator_flush(corr);
	for (uint32_t i = 0; i < COLLECTOR_POOL_MAX_THREADS; i++)
		run->threads_used += used[i];
	collector_pool_free(pool);
	collector_free(col);
	server_hops_free(sh);
	correlator_free(corr);
	free(buf);
	fclose(f);
	fclose(mem);
	split_rows(rs);
	return 0;
}

static void free_rows(struct rows *rs)
{
	free(rs->text);
}

static void same_rows(const struct rows *a, const struct rows *b, const char *what)
{
	int diff = 0;

	if (!ASSERT_EQ(b->n, a->n, what))
		return;
	for (int i = 0; i < a->n; i++) {
		if (strcmp(a->line[i], b->line[i]) && !diff++)
			fprintf(stderr, "  first difference:\n   1: %s\n   K: %s\n",
				a->line[i], b->line[i]);
	}
	ASSERT_EQ(diff, 0, what);
}

static void test_same_rows(void)
{
	struct run one = { .threads = 1 };
	struct rows base = {};
	struct run runs[] = {
		{ .threads = 2, .shards = 2 }, { .threads = 3, .shards = 3 },
		{ .threads = 2, .shards = 8 }, { .threads = 3, .shards = 8 },
	};

	if (!ASSERT_EQ(replay(&one, &base), 0, "one thread replays"))
		return;
	ASSERT_EQ(base.n, 24, "24 rows");
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		struct rows rs = {};
		char what[64];

		snprintf(what, sizeof(what), "%u threads, %u shards: same rows",
			 runs[i].threads, runs[i].shards);
		if (!ASSERT_EQ(replay(&runs[i], &rs), 0, "threads replay"))
			continue;
		/* else it would be one thread by another name */
		ASSERT_TRUE(runs[i].threads_used > 1, "the connections spread over the threads");
		same_rows(&base, &rs, what);
		ASSERT_EQ(rs.cs.events, base.cs.events, "every record parsed once");
		ASSERT_EQ(rs.cs.client_requests, base.cs.client_requests, "counters summed");
		ASSERT_EQ(rs.cs.conns_opened, base.cs.conns_opened, "connections summed");
		free_rows(&rs);
	}
	free_rows(&base);
}

/* A process exit reaches one thread (shard 0); the others close its
 * connections too, and the session hears of it once. */
static void test_exit_broadcast(void)
{
	struct run one = { .threads = 1, .exits = true };
	struct run three = { .threads = 3, .shards = 3, .exits = true };
	struct rows a = {}, b = {};

	if (!ASSERT_EQ(replay(&one, &a), 0, "one thread") ||
	    !ASSERT_EQ(replay(&three, &b), 0, "three threads"))
		return;
	ASSERT_TRUE(a.exits > 1, "the recording traced several processes");
	ASSERT_EQ(b.exits, a.exits, "each exit told once");
	ASSERT_EQ(b.cs.proc_exits, 3 * a.cs.proc_exits, "every thread's collector saw each");
	same_rows(&a, &b, "same rows with the exits");
	free_rows(&a);
	free_rows(&b);
}

/* ---- the handoff alone --------------------------------------------- */

static struct sock_endpoint ep(uint16_t port)
{
	struct sock_endpoint e;

	gen_endpoint(&e, port);
	return e;
}

static void test_handoff_order(void)
{
	struct correlator *corr = correlator_new(&(struct correlator_opts){
		.have_router = false, .linger_ns = MS, .orphan_ns = 10 * MS, .idle_ns = 100 * MS,
		.max_exchanges = 100, .max_hop_records = 10,
	});
	struct handoff *h = handoff_new(&(struct handoff_opts){ .slots = 8, .wait_max_ns = MS });
	struct exchange_sink sink;
	struct sock_endpoint l = ep(30000), p = ep(40000);
	struct handoff_stats hs;

	if (!ASSERT_TRUE(corr && h, "made"))
		return;
	sink = handoff_sink(h);
	/* begun 1, 2, 3; ended 2, 3, 1; an ignored one never crosses */
	struct exchange *e[3];

	for (int i = 0; i < 3; i++) {
		e[i] = exchange_sink_new_exchange(&sink, EX_WORKER_IN, 7, &l, &p, (i + 1) * MS);
		e[i]->req_done = true;
		exchange_sink_request_done(&sink, e[i]);
	}
	struct exchange *ign = exchange_sink_new_exchange(&sink, EX_WORKER_IN, 7, &l, &p, 4 * MS);

	ign->ignored = true;
	exchange_sink_exchange_done(&sink, e[1], 5 * MS);
	exchange_sink_exchange_done(&sink, e[2], 6 * MS);
	exchange_sink_exchange_done(&sink, ign, 6 * MS);
	exchange_sink_exchange_done(&sink, e[0], 7 * MS);
	ASSERT_EQ(correlator_stats(corr)->live, 0, "nothing crossed before the drain");
	ASSERT_EQ(handoff_drain(h, corr, NULL, NULL), 3, "three passed, in one drain");
	ASSERT_EQ(correlator_stats(corr)->live, 3, "adopted");
	ASSERT_EQ(correlator_stats(corr)->in_flight, 0, "all done");
	handoff_stats(h, &hs);
	ASSERT_EQ(hs.made, 4, "four made");
	ASSERT_EQ(hs.passed, 3, "three passed");
	ASSERT_EQ(hs.freed, 1, "the ignored one freed on its thread");
	handoff_publish(h, 42);
	ASSERT_EQ(handoff_watermark(h), 42, "the watermark as published");
	handoff_free(h);
	correlator_free(corr);
}

static void keep_forwards(void *ctx, const struct timeline_row *row)
{
	*(int *)ctx = row->forwards + 1;
}

/* A parse thread holds a client request open (a router streaming to a
 * slow reader) while its forward, done long before, crosses: the forward
 * waits past orphan_ns for the client, which the correlator has not seen
 * (it crosses when done), and its row has the forward. */
static void test_handoff_open_client(void)
{
	int got = 0;	/* the row's forwards + 1 */
	struct correlator *corr = correlator_new(&(struct correlator_opts){
		.have_router = true, .linger_ns = MS, .orphan_ns = 10 * MS, .idle_ns = 5000 * MS,
		.max_exchanges = 100, .max_hop_records = 10, .emit = keep_forwards,
		.emit_ctx = &got,
	});
	struct handoff *h = handoff_new(&(struct handoff_opts){ .slots = 8, .wait_max_ns = MS });
	struct sock_endpoint l = ep(30000), p = ep(40000), fl = ep(5555), fp = ep(30001);
	struct exchange_sink sink;
	struct exchange *cl, *fw;

	if (!ASSERT_TRUE(corr && h, "made"))
		return;
	sink = handoff_sink(h);
	cl = exchange_sink_new_exchange(&sink, EX_CLIENT_IN, 7, &l, &p, 1 * MS);
	fw = exchange_sink_new_exchange(&sink, EX_FORWARD, 7, &fl, &fp, 2 * MS);
	snprintf(cl->header_id, sizeof(cl->header_id), "a");
	snprintf(fw->header_id, sizeof(fw->header_id), "a");
	snprintf(cl->path, sizeof(cl->path), "/generate");
	snprintf(fw->path, sizeof(fw->path), "/generate");
	cl->req_done = fw->req_done = true;
	exchange_sink_request_done(&sink, cl);
	exchange_sink_request_done(&sink, fw);
	fw->status = 200;
	fw->resp_started = fw->resp_complete = true;
	exchange_sink_exchange_done(&sink, fw, 3 * MS);
	handoff_publish(h, 3 * MS);
	ASSERT_EQ(handoff_open_since(h), 1 * MS, "the open client's start published");
	handoff_drain(h, corr, NULL, NULL);
	correlator_set_open_since(corr, handoff_open_since(h));
	correlator_tick(corr, 500 * MS);	/* an expiry scan, past orphan_ns */
	ASSERT_EQ(correlator_stats(corr)->forwards_unmatched, 0, "the forward waits");
	cl->status = 200;
	cl->resp_started = cl->resp_complete = true;
	exchange_sink_exchange_done(&sink, cl, 600 * MS);
	handoff_publish(h, 600 * MS);
	ASSERT_EQ(handoff_open_since(h), UINT64_MAX, "none open");
	handoff_drain(h, corr, NULL, NULL);
	correlator_set_open_since(corr, handoff_open_since(h));
	correlator_tick(corr, 700 * MS);
	ASSERT_EQ(got, 2, "the row has its forward");
	ASSERT_EQ(correlator_stats(corr)->forwards_unmatched, 0, "none unclaimed");
	handoff_free(h);
	correlator_free(corr);
}

/* Nobody drains: the ring fills, the thread waits a bounded time for
 * each further exchange, then counts it lost, never silently. */
static void test_handoff_full(void)
{
	struct correlator *corr = correlator_new(&(struct correlator_opts){
		.linger_ns = MS, .orphan_ns = 10 * MS, .idle_ns = 100 * MS, .max_exchanges = 100,
	});
	struct handoff *h = handoff_new(&(struct handoff_opts){ .slots = 4, .wait_max_ns = 1000 });
	struct sock_endpoint l = ep(30000), p = ep(40000);
	struct exchange_sink sink;
	struct handoff_stats hs;

	if (!ASSERT_TRUE(corr && h, "made"))
		return;
	sink = handoff_sink(h);
	for (int i = 0; i < 6; i++) {
		struct exchange *ex = exchange_sink_new_exchange(&sink, EX_WORKER_IN, 7, &l, &p,
								 (i + 1) * MS);

		exchange_sink_exchange_done(&sink, ex, (i + 2) * MS);
	}
	handoff_stats(h, &hs);
	ASSERT_EQ(hs.passed, 4, "the ring's four");
	ASSERT_EQ(hs.waits, 2, "waited for each of the other two");
	ASSERT_EQ(hs.lost, 2, "then counted them lost");
	/* the pool's in-flight count is made - passed - freed: it went below
	 * zero (2^64 - lost in the progress line) when lost was taken off too */
	ASSERT_EQ(hs.freed, 2, "the lost are freed, counted once there");
	ASSERT_EQ(hs.made - hs.passed - hs.freed, 0, "none held by the thread");
	ASSERT_EQ(handoff_drain(h, corr, NULL, NULL), 4, "the four drain");
	handoff_direct(h, corr, NULL, NULL);
	struct exchange *ex = exchange_sink_new_exchange(&sink, EX_WORKER_IN, 7, &l, &p, 9 * MS);

	exchange_sink_exchange_done(&sink, ex, 10 * MS);
	ASSERT_EQ(correlator_stats(corr)->live, 5, "direct: straight in once the thread is gone");
	handoff_free(h);
	correlator_free(corr);
}

/* Over max_exchanges, the oldest exchange is ended and waiting out its
 * linger behind one that ended later but reached the correlator first
 * (threads hand over in done order, not start order): it is written at
 * once and freed. (It used to recurse into a tick that could not reach
 * it, and evict it again, without end.) Also: a lagging thread's
 * exchange walks only a bounded part of the store, and that is counted. */
static void test_evict_queued(void)
{
	struct correlator *corr = correlator_new(&(struct correlator_opts){
		.have_router = false, .linger_ns = 100 * MS, .orphan_ns = 1000 * MS,
		.idle_ns = 1000 * MS, .max_exchanges = 1, .max_hop_records = 10,
	});
	struct handoff *h = handoff_new(&(struct handoff_opts){ .slots = 8, .wait_max_ns = MS });
	struct sock_endpoint l = ep(30000), p = ep(40000), l2 = ep(30001);
	struct exchange_sink sink;
	struct exchange *late, *old;

	if (!ASSERT_TRUE(corr && h, "made"))
		return;
	sink = handoff_sink(h);
	old = exchange_sink_new_exchange(&sink, EX_WORKER_IN, 7, &l, &p, 1 * MS);
	late = exchange_sink_new_exchange(&sink, EX_WORKER_IN, 7, &l2, &p, 2 * MS);
	old->req_done = late->req_done = true;
	exchange_sink_request_done(&sink, old);
	exchange_sink_request_done(&sink, late);
	exchange_sink_exchange_done(&sink, late, 60 * MS);	/* queued first */
	exchange_sink_exchange_done(&sink, old, 50 * MS);
	ASSERT_EQ(handoff_drain(h, corr, NULL, NULL), 2, "both adopted");
	correlator_tick(corr, 70 * MS);
	ASSERT_EQ(correlator_stats(corr)->evicted, 1, "the oldest evicted");
	ASSERT_EQ(correlator_stats(corr)->rows, 1, "its row written, not lost");
	ASSERT_EQ(correlator_stats(corr)->live, 1, "one left");
	correlator_flush(corr);
	ASSERT_EQ(correlator_stats(corr)->rows, 2, "and the other at the end");
	handoff_free(h);
	correlator_free(corr);
}

/* 600 exchanges handed over after one that began before them all, 600 ms
 * earlier, out of the buckets' reach: it is placed within the walk's
 * bound, not at its start, and counted. */
static void test_adopt_bounded(void)
{
	struct correlator *corr = correlator_new(&(struct correlator_opts){
		.have_router = false, .linger_ns = MS, .orphan_ns = 1000 * MS,
		.idle_ns = 1000 * MS, .max_exchanges = 10000, .max_hop_records = 10,
	});
	struct handoff *h = handoff_new(&(struct handoff_opts){ .slots = 1024, .wait_max_ns = MS });
	struct sock_endpoint l = ep(30000), p = ep(40000);
	struct exchange_sink sink;
	struct exchange *first;

	if (!ASSERT_TRUE(corr && h, "made"))
		return;
	sink = handoff_sink(h);
	first = exchange_sink_new_exchange(&sink, EX_WORKER_IN, 7, &l, &p, 1 * MS);
	for (int i = 0; i < 600; i++) {
		struct exchange *ex = exchange_sink_new_exchange(&sink, EX_WORKER_IN, 7, &l, &p,
								 (2 + i) * MS);

		exchange_sink_exchange_done(&sink, ex, (3 + i) * MS);
	}
	exchange_sink_exchange_done(&sink, first, 700 * MS);
	ASSERT_EQ(handoff_drain(h, corr, NULL, NULL), 601, "all adopted");
	ASSERT_EQ(correlator_stats(corr)->live, 601, "all held");
	ASSERT_EQ(correlator_stats(corr)->adopted_unordered, 1, "the late one, counted");
	handoff_free(h);
	correlator_free(corr);
}

/* Parse threads that lag each other by up to 6 ms: 20000 exchanges 2 us
 * apart (500k a second), handed over out of start order, with rows freed between the
 * batches. The store stays in exact start order, no placement walks to
 * its bound. */
static void test_adopt_order(void)
{
	struct correlator *corr = correlator_new(&(struct correlator_opts){
		.have_router = false, .linger_ns = MS, .orphan_ns = 1000 * MS,
		.idle_ns = 1000 * MS, .max_exchanges = 100000, .max_hop_records = 10,
	});
	struct handoff *h = handoff_new(&(struct handoff_opts){ .slots = 8192, .wait_max_ns = MS });
	struct sock_endpoint l = ep(30000), p = ep(40000);
	enum { N = 20000 };
	static struct { uint64_t start, due; struct exchange *ex; } e[N];
	struct exchange_sink sink;
	uint32_t seed = 12345;
	bool ordered = true;

	if (!ASSERT_TRUE(corr && h, "made"))
		return;
	sink = handoff_sink(h);
	for (int i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		e[i].start = 1000 * MS + (uint64_t)i * 2000;
		e[i].due = e[i].start + (seed >> 8) % (6 * MS);
		e[i].ex = exchange_sink_new_exchange(&sink, EX_WORKER_IN, 7, &l, &p, e[i].start);
	}
	/* handed over in the order they are due: insertion sort, nearly sorted */
	for (int i = 1; i < N; i++)
		for (int j = i; j > 0 && e[j - 1].due > e[j].due; j--) {
			__typeof__(e[0]) t = e[j];

			e[j] = e[j - 1];
			e[j - 1] = t;
		}
	for (int i = 0; i < N; i++) {
		exchange_sink_exchange_done(&sink, e[i].ex, e[i].due);
		if (i % 1000 == 999) {
			handoff_drain(h, corr, NULL, NULL);
			ordered = ordered && correlator_store_ordered(corr);
			/* rows whose linger passed: their exchanges go */
			correlator_tick(corr, e[i].due - 7 * MS);
			ordered = ordered && correlator_store_ordered(corr);
		}
	}
	handoff_drain(h, corr, NULL, NULL);
	ASSERT_TRUE(ordered && correlator_store_ordered(corr), "in start order throughout");
	ASSERT_EQ(correlator_stats(corr)->adopted_unordered, 0, "no walk reached its bound");
	ASSERT_TRUE(correlator_stats(corr)->rows > 10000, "rows freed exchanges between batches");
	correlator_flush(corr);
	ASSERT_EQ(correlator_stats(corr)->rows, N, "every one a row");
	handoff_free(h);
	correlator_free(corr);
}

static bool time_is_up(void *ctx)
{
	int *polls = ctx;

	(*polls)++;
	return true;
}

/* An exit flush past its deadline counts what it leaves, writes no more,
 * and every exchange is either a row or counted. */
static void test_flush_bounded(void)
{
	struct correlator *corr = correlator_new(&(struct correlator_opts){
		.have_router = false, .linger_ns = MS, .orphan_ns = 1000 * MS,
		.idle_ns = 1000 * MS, .max_exchanges = 10000, .max_hop_records = 10,
	});
	struct handoff *h = handoff_new(&(struct handoff_opts){ .slots = 512, .wait_max_ns = MS });
	struct sock_endpoint l = ep(30000), p = ep(40000);
	struct exchange_sink sink;
	int polls = 0;

	if (!ASSERT_TRUE(corr && h, "made"))
		return;
	sink = handoff_sink(h);
	for (int i = 0; i < 200; i++) {
		struct exchange *ex = exchange_sink_new_exchange(&sink, EX_WORKER_IN, 7, &l, &p,
								 (1 + i) * MS);

		ex->req_done = true;
		exchange_sink_request_done(&sink, ex);
		exchange_sink_exchange_done(&sink, ex, (2 + i) * MS);
	}
	ASSERT_EQ(handoff_drain(h, corr, NULL, NULL), 200, "all adopted");
	correlator_flush_bounded(corr, time_is_up, &polls);
	ASSERT_EQ(polls, 1, "the clock read once, at the 64th row");
	ASSERT_EQ(correlator_stats(corr)->rows, 63, "rows until then");
	ASSERT_EQ(correlator_stats(corr)->unwritten_at_exit, 137, "the rest counted");
	ASSERT_EQ(correlator_stats(corr)->live, 0, "and freed");
	handoff_free(h);
	correlator_free(corr);
}

void test_area_collector_pool(void)
{
	RUN_SUBTEST(test_same_rows);
	RUN_SUBTEST(test_exit_broadcast);
	RUN_SUBTEST(test_handoff_order);
	RUN_SUBTEST(test_handoff_open_client);
	RUN_SUBTEST(test_handoff_full);
	RUN_SUBTEST(test_evict_queued);
	RUN_SUBTEST(test_adopt_bounded);
	RUN_SUBTEST(test_adopt_order);
	RUN_SUBTEST(test_flush_bounded);
}

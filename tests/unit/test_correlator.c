// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The correlator's matching rules, fed exchanges directly (what the
 * collector would hand it): which forwards a client request claims,
 * which worker request a forward became, retries, node level, the
 * linger, orphan and idle expiry, server hops and in-flight rows. A
 * router (tgid 100) forwards from :5555 to a worker (tgid 200) on :30001
 * and from :5556 to one (tgid 201) on :30002. */
#include <string.h>
#include "fixture.h"
#include "test.h"

#define ROUTER 100
#define WORKER 200
#define WORKER2 201

static struct fixture *setup(bool have_router)
{
	return fixture_setup(&(struct fixture_opts){ .have_router = have_router });
}

/* An exchange whose request (id: x-request-id, or NULL) was read or
 * written at t ms on lport <-> pport. */
static struct exchange *request(struct fixture *f, enum exchange_kind kind, uint32_t tgid,
				uint16_t lport, uint16_t pport, double t, const char *id)
{
	struct sock_endpoint local, peer;
	struct exchange *ex;

	gen_endpoint(&local, lport);
	gen_endpoint(&peer, pport);
	ex = correlator_new_exchange(f->corr, kind, tgid, &local, &peer, (uint64_t)(t * MS));
	if (id)
		snprintf(ex->header_id, sizeof(ex->header_id), "%s", id);
	snprintf(ex->path, sizeof(ex->path), "/generate");
	ex->req_done = true;
	correlator_request_done(f->corr, ex);
	return ex;
}

static struct exchange *client(struct fixture *f, double t, const char *id)
{
	return request(f, EX_CLIENT_IN, ROUTER, 30000, 40000, t, id);
}

static struct exchange *forward(struct fixture *f, int worker, double t, const char *id)
{
	return request(f, EX_FORWARD, ROUTER, worker == 2 ? 5556 : 5555,
		       worker == 2 ? 30002 : 30001, t, id);
}

static struct exchange *worker_in(struct fixture *f, int worker, double t, const char *id)
{
	return request(f, EX_WORKER_IN, worker == 2 ? WORKER2 : WORKER,
		       worker == 2 ? 30002 : 30001, worker == 2 ? 5556 : 5555, t, id);
}

/* The response began at t ms and ended with status at t + 1. */
static void respond(struct fixture *f, struct exchange *ex, double t, int status)
{
	ex->status = status;
	ex->resp_started = true;
	ex->resp_complete = true;
	ex->t_resp_first = (uint64_t)(t * MS);
	ex->t_resp_last = (uint64_t)((t + 1) * MS);
	correlator_exchange_done(f->corr, ex, ex->t_resp_last);
}

/* Forwards are claimed by id; one with another id is left alone and
 * given up as unclaimed once orphan_ns passed. */
static void test_claim_by_id(void)
{
	struct fixture *f = setup(true);
	struct exchange *c = client(f, 1, "a");
	struct exchange *other = forward(f, 1, 2, "b");
	struct exchange *fa = forward(f, 2, 3, "a");

	respond(f, other, 4, 200);
	respond(f, fa, 5, 200);
	respond(f, c, 6, 200);
	fixture_tick(f, 200 * MS);
	if (!ASSERT_EQ(f->nrows, 1, "one row"))
		goto out;
	ASSERT_STREQ(f->rows[0].host, "127.0.0.1:30002", "the forward with its id");
	ASSERT_EQ(f->rows[0].router_send_time, 3 * MS, "its send time");
	ASSERT_EQ(f->rows[0].forwards, 1, "one forward");
	ASSERT_STREQ(f->rows[0].notes, "worker not traced or not seen", "no worker request");
	ASSERT_EQ(fixture_corr_stats(f)->forwards_unmatched, 0, "not given up yet");
	fixture_tick(f, 2000 * MS);
	ASSERT_EQ(fixture_corr_stats(f)->forwards_unmatched, 1, "the other given up");
	ASSERT_EQ(fixture_corr_stats(f)->live, 0, "nothing held");
out:
	fixture_teardown(f);
}

/* A forward that failed on its connection (its worker killed) is what
 * the router retries elsewhere: the client ends after the retry, later
 * than orphan_ns (1 s here), and still claims both forwards. */
static void test_failed_forward_waits_for_retry(void)
{
	struct fixture *f = setup(true);
	struct exchange *c = client(f, 1, "a");
	struct exchange *failed = forward(f, 1, 2, "a");
	struct exchange *retry = forward(f, 2, 10, "a");

	snprintf(failed->conn_error, sizeof(failed->conn_error), "connection_reset");
	correlator_exchange_done(f->corr, failed, 5 * MS);
	fixture_tick(f, 2500 * MS);
	ASSERT_EQ(fixture_corr_stats(f)->forwards_unmatched, 0, "the failed forward is not given up");
	respond(f, retry, 3000, 200);
	respond(f, c, 3001, 200);
	fixture_tick(f, 3500 * MS);
	if (!ASSERT_EQ(f->nrows, 1, "one row"))
		goto out;
	ASSERT_EQ(f->rows[0].forwards, 2, "both forwards");
	ASSERT_STREQ(f->rows[0].host, "127.0.0.1:30002", "the retry's worker");
	ASSERT_EQ(fixture_corr_stats(f)->forwards_unmatched, 0, "none unclaimed");
out:
	fixture_teardown(f);
}

/* A router streaming to a slow reader: the worker's response and the
 * forward's end at once, the client's 30 s later, long past orphan_ns.
 * Both wait for the client request still open (they were given up after
 * orphan_ns: the row had no forward, an e2e slow-reader stream). */
static void test_slow_reader_keeps_forward(void)
{
	struct fixture *f = setup(true);
	struct exchange *c = client(f, 1, "a");
	struct exchange *fw = forward(f, 1, 2, "a");
	struct exchange *w = worker_in(f, 1, 3, "a");

	respond(f, w, 10, 200);
	respond(f, fw, 11, 200);
	fixture_tick(f, 15000 * MS);
	ASSERT_EQ(fixture_corr_stats(f)->forwards_unmatched, 0, "the forward waits");
	respond(f, c, 30000, 200);
	fixture_tick(f, 30002 * MS);	/* an expiry scan within the row's linger */
	ASSERT_EQ(fixture_corr_stats(f)->forwards_unmatched, 0, "it waits for the row");
	fixture_tick(f, 30500 * MS);
	if (!ASSERT_EQ(f->nrows, 1, "one row"))
		goto out;
	ASSERT_EQ(f->rows[0].forwards, 1, "its forward");
	ASSERT_EQ(f->rows[0].router_send_time, 2 * MS, "the forward's send time");
	ASSERT_EQ(f->rows[0].worker_pid, WORKER, "the worker request joined");
	ASSERT_EQ(fixture_corr_stats(f)->forwards_unmatched, 0, "none unclaimed");
	fixture_tick(f, 40000 * MS);
	ASSERT_EQ(fixture_corr_stats(f)->live, 0, "nothing held");
out:
	fixture_teardown(f);
}

/* A forward became the worker request read on the same connection after
 * it was written; one whose id differs is not taken. */
static void test_worker_by_connection(void)
{
	struct fixture *f = setup(true);
	struct exchange *c = client(f, 1, "a");
	struct exchange *fw = forward(f, 1, 2, "a");
	struct exchange *wrong = worker_in(f, 1, 2.5, "zzz");
	struct exchange *w = worker_in(f, 1, 3, "a");

	respond(f, wrong, 3.5, 200);
	respond(f, w, 4, 200);
	respond(f, fw, 5, 200);
	respond(f, c, 6, 200);
	fixture_tick(f, 200 * MS);
	if (!ASSERT_EQ(f->nrows, 1, "one row"))
		goto out;
	ASSERT_EQ(f->rows[0].worker_pid, WORKER, "worker request found");
	ASSERT_EQ(f->rows[0].server_created_time, 3 * MS, "the one with the same id");
	fixture_tick(f, 5000 * MS);
	ASSERT_EQ(f->nrows, 2, "the other is a row of its own, later");
	ASSERT_STREQ(f->rows[1].notes, "no router request matched", "and says so");
	ASSERT_EQ(fixture_corr_stats(f)->rows_unmatched_worker, 1, "counted");
out:
	fixture_teardown(f);
}

/* Worker requests whose forwards were never seen (records dropped) are
 * not walked past again by every lookup on their connection (each
 * starts after the last claim), and are still written as rows of their
 * own at the orphan limit; the 100 forwards each find their own worker
 * request. A forward older than the last claim still finds its own. */
static void test_orphan_workers_skipped(void)
{
	struct fixture *f = setup(true);
	char id[32];
	int found = 0;

	for (int i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "orphan%d", i);
		respond(f, worker_in(f, 1, 1 + i, id), 1.5 + i, 200);
	}
	for (int i = 0; i < 100; i++) {
		double t = 10 + 2 * i;
		struct exchange *c, *fw, *w;

		snprintf(id, sizeof(id), "r%d", i);
		c = client(f, t, id);
		fw = forward(f, 1, t + 0.2, id);
		w = worker_in(f, 1, t + 0.4, id);
		respond(f, w, t + 0.6, 200);
		respond(f, fw, t + 0.7, 200);
		respond(f, c, t + 0.8, 200);
	}
	fixture_tick(f, 600 * MS);
	if (!ASSERT_EQ(fixture_corr_stats(f)->rows, 100, "a row a request"))
		goto out;
	for (int i = 0; i < f->nrows; i++)	/* the fixture keeps 64 */
		found += f->rows[i].worker_pid == WORKER;
	ASSERT_EQ(found, f->nrows, "each with its worker request");
	ASSERT_EQ(fixture_corr_stats(f)->rows_without_worker, 0, "all 100 of them");
	/* 3 orphans walked past by each of 100 lookups: 400 steps */
	ASSERT_TRUE(fixture_corr_stats(f)->pair_steps <= 110, "one step a lookup, about");
	fixture_tick(f, 5000 * MS);
	ASSERT_EQ(fixture_corr_stats(f)->rows_unmatched_worker, 3, "and are rows of their own");
	ASSERT_EQ(fixture_corr_stats(f)->live, 0, "nothing held");
out:
	fixture_teardown(f);
}

/* Two requests one after the other on one connection whose client rows
 * are built in the other order (the first client's answer took longer to
 * write): the second claim does not hide the first request's worker. */
static void test_claim_out_of_order(void)
{
	struct fixture *f = setup(true);
	struct exchange *cx = client(f, 1, NULL), *fx = forward(f, 1, 1.2, "x");
	struct exchange *wx = worker_in(f, 1, 1.4, "x");
	struct exchange *cy, *fy, *wy;

	snprintf(cx->header_id, sizeof(cx->header_id), "x");
	respond(f, wx, 1.6, 200);
	respond(f, fx, 1.7, 200);
	cy = client(f, 3, "y");
	fy = forward(f, 1, 3.2, "y");
	wy = worker_in(f, 1, 3.4, "y");
	respond(f, wy, 3.6, 200);
	respond(f, fy, 3.7, 200);
	respond(f, cy, 3.8, 200);
	fixture_tick(f, 150 * MS);	/* y's row: the claim on the connection */
	respond(f, cx, 60, 200);
	fixture_tick(f, 400 * MS);
	if (!ASSERT_EQ(f->nrows, 2, "two rows"))
		goto out;
	ASSERT_STREQ(f->rows[0].req_id, "y", "y first");
	ASSERT_EQ(f->rows[1].worker_pid, WORKER, "x still finds its worker request");
	ASSERT_EQ(f->rows[1].server_created_time, (uint64_t)(1.4 * MS), "its own");
out:
	fixture_teardown(f);
}

/* Without ids: the same prompt fingerprint, first unclaimed forward after
 * the client request; a failed one is followed by its retry. */
static void test_fingerprint_retry(void)
{
	struct fixture *f = setup(true);
	struct exchange *c = client(f, 1, NULL);
	struct exchange *f1 = forward(f, 1, 2, NULL);
	struct exchange *f2 = forward(f, 2, 4, NULL);

	c->req.fingerprint = f1->req.fingerprint = f2->req.fingerprint = 0x1234;
	/* the index takes the fingerprint when the request is done */
	correlator_request_done(f->corr, f1);
	correlator_request_done(f->corr, f2);
	respond(f, f1, 3, 503);
	respond(f, f2, 5, 200);
	respond(f, c, 6, 200);
	fixture_tick(f, 200 * MS);
	if (!ASSERT_EQ(f->nrows, 1, "one row"))
		goto out;
	ASSERT_EQ(f->rows[0].forwards, 2, "503 then its retry");
	ASSERT_STREQ(f->rows[0].host, "127.0.0.1:30002", "host = the retry's worker");
	ASSERT_EQ(fixture_corr_stats(f)->retried, 1, "retry counted");
	ASSERT_STREQ(f->rows[0].rid_source, "assigned", "no id anywhere");
out:
	fixture_teardown(f);
}

/* No id, no prompt: the first forward written while the client request
 * was open; one written after its response began is not it. */
static void test_claim_by_time(void)
{
	struct fixture *f = setup(true);
	struct exchange *c = client(f, 10, NULL);
	struct exchange *early = forward(f, 2, 5, NULL);
	struct exchange *fw = forward(f, 1, 11, NULL);

	respond(f, early, 6, 200);
	respond(f, fw, 12, 200);
	respond(f, c, 13, 200);
	fixture_tick(f, 200 * MS);
	if (ASSERT_EQ(f->nrows, 1, "one row"))
		ASSERT_EQ(f->rows[0].router_send_time, 11 * MS, "the forward inside its window");
	fixture_teardown(f);
}

/* Rows built newest first (each client's answer took longer than the
 * next one's) on a connection that also holds 300 requests whose
 * forwards were lost: each older forward's lookup steps back from the
 * last one's instead of walking past the 300 from the list's head. */
static void test_older_lookups_short(void)
{
	struct fixture *f = setup(true);
	struct exchange *cl[100];
	char id[32];
	int found = 0;

	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "orphan%d", i);
		respond(f, worker_in(f, 1, 1 + 0.01 * i, id), 5 + 0.01 * i, 200);
	}
	for (int i = 0; i < 100; i++) {
		double t = 10 + 2 * i;
		struct exchange *fw, *w;

		snprintf(id, sizeof(id), "r%d", i);
		cl[i] = client(f, t, id);
		fw = forward(f, 1, t + 0.2, id);
		w = worker_in(f, 1, t + 0.4, id);
		respond(f, w, t + 0.6, 200);
		respond(f, fw, t + 0.7, 200);
	}
	for (int i = 99; i >= 0; i--)	/* the last request's answer first */
		respond(f, cl[i], 400 - i, 200);
	fixture_tick(f, 600 * MS);	/* the 300 still wait for forwards */
	if (!ASSERT_EQ(fixture_corr_stats(f)->rows, 100, "a row a request"))
		goto out;
	ASSERT_STREQ(f->rows[0].req_id, "r99", "newest first");
	for (int i = 0; i < f->nrows; i++)
		found += f->rows[i].worker_pid == WORKER;
	ASSERT_EQ(found, f->nrows, "each with its worker request");
	ASSERT_EQ(fixture_corr_stats(f)->rows_without_worker, 0, "all 100 of them");
	/* the first lookup walks the 400 from the head (no hint yet), each
	 * later one a few steps back; from the head, 300 and more each */
	ASSERT_TRUE(fixture_corr_stats(f)->pair_steps <= 400 + 5 * 100, "a few steps a lookup");
out:
	fixture_teardown(f);
}

/* Forwards whose worker requests and answers were lost (records
 * dropped) on a connection that goes on carrying requests: each lookup
 * stops at the connection's next request, which has another id, instead
 * of walking every later one. */
static void test_lost_worker_lookup_short(void)
{
	struct fixture *f = setup(true);
	char id[32];

	for (int i = 0; i < 200; i++) {
		double t = 10 + 2 * i;

		snprintf(id, sizeof(id), "lost%d", i);
		respond(f, client(f, t, id), t + 1.5, 200);
		forward(f, 1, t + 0.2, id);	/* answer and worker request lost */
		snprintf(id, sizeof(id), "w%d", i);
		worker_in(f, 1, t + 1, id);	/* a request whose forward was lost */
	}
	fixture_tick(f, 600 * MS);
	ASSERT_EQ(fixture_corr_stats(f)->rows_without_worker, 200, "no worker request for any");
	/* each walk ends ID_MISMATCHES_MAX reads on, not at the list's end
	 * (~100 on average) */
	ASSERT_TRUE(fixture_corr_stats(f)->pair_steps <= 6 * 200, "short lookups");
	fixture_teardown(f);
}

/* A client request with no id, no prompt and no answer (its records
 * lost): the search by time ends at its bound, counted, instead of
 * walking every exchange started after it; within the bound it still
 * finds its forward. */
static void test_time_walk_bounded(void)
{
	struct fixture *f = setup(true);
	struct exchange *fw;

	client(f, 1, NULL);
	client(f, 2, NULL);
	for (int i = 0; i < 3000; i++)	/* worker requests: not forwards */
		request(f, EX_WORKER_IN, WORKER, 30001, 6000 + i, 3 + i * 0.001, NULL);
	fw = forward(f, 1, 7, NULL);	/* 3000 exchanges after both clients */
	respond(f, fw, 8, 200);
	fixture_tick(f, 20000 * MS);	/* both evicted unanswered */
	/* the forward waited while they were open: given up the scan after */
	fixture_tick(f, 21000 * MS);
	ASSERT_EQ(fixture_corr_stats(f)->time_walks_bounded, 2, "both searches bounded");
	ASSERT_EQ(fixture_corr_stats(f)->rows_without_forward, 2, "no forward taken from afar");
	ASSERT_EQ(fixture_corr_stats(f)->forwards_unmatched, 1, "the forward is its own");
	fixture_teardown(f);
}

/* The router passes ids on (a forward was claimed by id): a client with
 * an id whose forward was lost does not take another client's forward
 * written while it was open. */
static void test_lost_forward_not_replaced(void)
{
	struct fixture *f = setup(true);
	struct exchange *a = client(f, 1, "a"), *fa = forward(f, 1, 1.2, "a");
	struct exchange *b, *c, *fc;

	respond(f, fa, 1.5, 200);
	respond(f, a, 2, 200);
	b = client(f, 10, "b");		/* its forward is lost */
	c = client(f, 10.5, "c");
	fc = forward(f, 1, 11, "c");	/* written while b was open */
	respond(f, fc, 12, 200);
	respond(f, b, 13, 200);		/* b's row first */
	fixture_tick(f, 150 * MS);
	respond(f, c, 20, 200);
	fixture_tick(f, 400 * MS);
	if (!ASSERT_EQ(f->nrows, 3, "three rows"))
		goto out;
	ASSERT_STREQ(f->rows[1].req_id, "b", "b's row");
	ASSERT_STREQ(f->rows[1].notes, "no forward seen", "b: its forward was lost");
	ASSERT_EQ(f->rows[2].router_send_time, 11 * MS, "c keeps its own forward");
	ASSERT_EQ(fixture_corr_stats(f)->searches_skipped, 1, "b was not searched by time");
out:
	fixture_teardown(f);
}

/* No router: each worker request is a row of its own. */
static void test_node_level(void)
{
	struct fixture *f = setup(false);
	struct exchange *w = worker_in(f, 1, 1, "n1");

	respond(f, w, 2, 200);
	fixture_tick(f, 200 * MS);
	if (!ASSERT_EQ(f->nrows, 1, "one row"))
		goto out;
	ASSERT_STREQ(f->rows[0].level, "node", "node level");
	ASSERT_STREQ(f->rows[0].host, "127.0.0.1:30001", "the worker itself");
	ASSERT_EQ(fixture_corr_stats(f)->rows_node, 1, "counted");
out:
	fixture_teardown(f);
}

/* A row waits linger_ns after its end; an exchange with no end expires
 * after idle_ns and is written as such. */
static void test_linger_and_idle(void)
{
	struct fixture *f = fixture_setup(&(struct fixture_opts){
		.have_router = true, .linger_ns = 50 * MS, .idle_ns = 500 * MS });
	struct exchange *c = client(f, 1, "l1");
	struct exchange *stuck;

	respond(f, c, 2, 200);		/* done at 3 ms */
	fixture_tick(f, 52 * MS);
	ASSERT_EQ(f->nrows, 0, "not before the linger");
	fixture_tick(f, 53 * MS);
	ASSERT_EQ(f->nrows, 1, "written once it passed");

	stuck = client(f, 100, "l2");
	stuck->t_last = 100 * MS;
	fixture_tick(f, 400 * MS);
	ASSERT_EQ(f->nrows, 1, "still waiting for an end");
	fixture_tick(f, 700 * MS);
	if (ASSERT_EQ(f->nrows, 2, "given up after idle_ns")) {
		ASSERT_STREQ(f->rows[1].req_id, "l2", "that one");
		ASSERT_STREQ(f->rows[1].error, "no_end_seen", "and why");
	}
	ASSERT_EQ(fixture_corr_stats(f)->expired_unfinished, 1, "counted");
	fixture_teardown(f);
}

/* Hops noted under SGLang's rid land in the row; the oldest record goes
 * when there are more than max_hop_records. */
static void test_hops(void)
{
	struct fixture *f = fixture_setup(&(struct fixture_opts){ .max_hop_records = 2 });
	struct exchange *w = worker_in(f, 1, 1, "h1");

	correlator_note_hop(f->corr, "h1", HOP_SCHED_RECV, 2 * MS, WORKER);
	correlator_note_hop(f->corr, "h1", HOP_SCHED_RECV, 9 * MS, WORKER);
	correlator_note_hop(f->corr, "h1", HOP_SCHED_LAST_OUT, 3 * MS, WORKER);
	correlator_note_hop(f->corr, "h1", HOP_SCHED_LAST_OUT, 4 * MS, WORKER);
	correlator_note_hop(f->corr, "x1", HOP_SCHED_RECV, 5 * MS, WORKER);
	correlator_note_hop(f->corr, "x2", HOP_SCHED_RECV, 6 * MS, WORKER);
	correlator_note_hop(f->corr, "", HOP_SCHED_RECV, 6 * MS, WORKER);
	respond(f, w, 7, 200);
	fixture_tick(f, 200 * MS);
	if (ASSERT_EQ(f->nrows, 1, "one row"))
		ASSERT_EQ(f->rows[0].queue_time_start, 0, "h1's record was evicted");
	ASSERT_EQ(fixture_corr_stats(f)->hop_records_evicted, 1, "eviction counted");
	ASSERT_EQ(fixture_corr_stats(f)->hops, 6, "an empty rid is no hop");
	fixture_teardown(f);

	f = setup(false);
	w = worker_in(f, 1, 1, "h2");
	correlator_note_hop(f->corr, "h2", HOP_SCHED_RECV, 2 * MS, WORKER);
	correlator_note_hop(f->corr, "h2", HOP_SCHED_RECV, 9 * MS, WORKER);
	correlator_note_hop(f->corr, "h2", HOP_SCHED_LAST_OUT, 3 * MS, WORKER);
	correlator_note_hop(f->corr, "h2", HOP_SCHED_LAST_OUT, 4 * MS, WORKER);
	respond(f, w, 7, 200);
	fixture_tick(f, 200 * MS);
	if (ASSERT_EQ(f->nrows, 1, "one row")) {
		ASSERT_EQ(f->rows[0].queue_time_start, 2 * MS, "first receive wins");
		ASSERT_EQ(f->rows[0].scheduler_last_output_time, 4 * MS, "latest output wins");
		ASSERT_STREQ(f->rows[0].sglang_rid, "h2", "rid");
	}
	fixture_teardown(f);
}

struct seen {
	struct timeline_row rows[4];
	int n;
};

static void collect(void *ctx, const struct timeline_row *r)
{
	struct seen *s = ctx;

	if (s->n < 4)
		s->rows[s->n++] = *r;
}

/* Requests not ended yet, as partial rows: what is known filled, nothing
 * claimed, so the final row is still whole. */
static void test_in_flight(void)
{
	struct fixture *f = setup(true);
	struct exchange *c = client(f, 1, "p1");
	struct exchange *fw = forward(f, 1, 2, "p1");
	struct exchange *w = worker_in(f, 1, 3, "p1");
	struct seen s = {};

	correlator_note_hop(f->corr, "p1", HOP_SCHED_RECV, 4 * MS, WORKER);
	correlator_foreach_in_flight(f->corr, collect, &s);
	if (ASSERT_EQ(s.n, 1, "one request in flight (forward, worker not rows)")) {
		ASSERT_STREQ(s.rows[0].req_id, "p1", "its id");
		ASSERT_STREQ(s.rows[0].error, "in_flight", "status");
		ASSERT_EQ(s.rows[0].success, -1, "not known yet");
		ASSERT_EQ(s.rows[0].arrival_time, 1 * MS, "arrival known");
		ASSERT_STREQ(s.rows[0].host, "127.0.0.1:30001", "forward known");
		ASSERT_EQ(s.rows[0].worker_pid, WORKER, "worker known");
		ASSERT_EQ(s.rows[0].queue_time_start, 4 * MS, "hop known");
		ASSERT_EQ(s.rows[0].finish_time, 0, "finish empty");
	}
	ASSERT_EQ(f->nrows, 0, "nothing written");
	respond(f, w, 5, 200);
	respond(f, fw, 6, 200);
	respond(f, c, 7, 200);
	s.n = 0;
	correlator_foreach_in_flight(f->corr, collect, &s);
	ASSERT_EQ(s.n, 0, "ended: no longer in flight");
	fixture_tick(f, 200 * MS);
	if (ASSERT_EQ(f->nrows, 1, "the final row")) {
		ASSERT_EQ(f->rows[0].worker_pid, WORKER, "worker still matched");
		ASSERT_EQ(f->rows[0].queue_time_start, 4 * MS, "hop still there");
		ASSERT_EQ(f->rows[0].success, 1, "and a success");
	}
	fixture_teardown(f);
}

void test_area_correlator(void)
{
	RUN_SUBTEST(test_claim_by_id);
	RUN_SUBTEST(test_failed_forward_waits_for_retry);
	RUN_SUBTEST(test_worker_by_connection);
	RUN_SUBTEST(test_fingerprint_retry);
	RUN_SUBTEST(test_claim_by_time);
	RUN_SUBTEST(test_node_level);
	RUN_SUBTEST(test_linger_and_idle);
	RUN_SUBTEST(test_hops);
	RUN_SUBTEST(test_orphan_workers_skipped);
	RUN_SUBTEST(test_claim_out_of_order);
	RUN_SUBTEST(test_time_walk_bounded);
	RUN_SUBTEST(test_slow_reader_keeps_forward);
	RUN_SUBTEST(test_lost_worker_lookup_short);
	RUN_SUBTEST(test_older_lookups_short);
	RUN_SUBTEST(test_lost_forward_not_replaced);
	RUN_SUBTEST(test_in_flight);
}

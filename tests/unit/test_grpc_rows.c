// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* gRPC calls through the collector and correlator: the real smg 1.13.0 <->
 * SGLang --grpc-mode connections (tests/unit/data/h2/) replayed as the
 * router's (tgid 100) and the workers' (200, 201) socket events, with the
 * clients' HTTP/1.1 requests to smg made up around them. */
#include <stdlib.h>
#include <string.h>
#include "fixture.h"
#include "h2_fixture.h"
#include "kernel_mirror.h"
#include "output/output.h"
#include "proto/grpc.h"
#include "test.h"

#define ROUTER 100
#define WORKER 200
#define WORKER2 201
#define MAX_CALLS 16

/* What the proto layer reads from a fixture (tested in test_grpc.c): the
 * truth the rows are checked against. */
struct call {
	char rid[128];		/* the protobuf request id */
	char xrid[128];		/* the x-request-id it was made from */
	long long max;
	bool stream, complete;
	uint32_t prompt, completion;
};

struct truth {
	struct call c[MAX_CALLS];
	int n;
};

static struct h2_fixture W[2];
static struct truth T[2];

static void truth_msg(void *ctx, const struct grpc_msg *m, uint64_t ts)
{
	struct truth *t = ctx;
	struct call *c;

	(void)ts;
	if (!m->decoded)
		return;
	if (m->side == H2_FROM_CLIENT && t->n < MAX_CALLS) {
		c = &t->c[t->n++];
		snprintf(c->rid, sizeof(c->rid), "%s", m->req.request_id);
		/* <x-request-id>-<36-char uuid> */
		snprintf(c->xrid, sizeof(c->xrid), "%.*s", (int)strlen(m->req.request_id) - 37,
			 m->req.request_id);
		c->max = m->req.max_new_tokens;
		c->stream = m->req.stream;
		return;
	}
	for (c = t->c; c < t->c + t->n; c++) {
		if (strcmp(c->rid, m->resp.request_id))
			continue;
		c->complete |= m->resp.complete;
		c->prompt = m->resp.prompt_tokens;
		c->completion = m->resp.completion_tokens;
	}
}

static void truth_feed(void *conn, enum h2_side side, const uint8_t *p, size_t n, uint64_t ts)
{
	grpc_conn_feed(conn, side, p, n, n, ts);
}

static void load_truth(int w)
{
	static const struct grpc_callbacks cbs = { .on_message = truth_msg };
	static struct grpc_conn g;

	memset(&T[w], 0, sizeof(T[w]));
	grpc_conn_init(&g, &cbs, &T[w], true);
	h2_fix_replay(&W[w], truth_feed, &g, -1, 0, NULL);
}

static const struct call *call_by_xrid(const char *xrid, int *worker)
{
	for (int w = 0; w < 2; w++)
		for (int i = 0; i < T[w].n; i++)
			if (!strcmp(T[w].c[i].xrid, xrid)) {
				if (worker)
					*worker = w;
				return &T[w].c[i];
			}
	return NULL;
}

/* ---- replay through the collector ---------------------------------- */

/* The router's end (fd 11 + w, :5555 + w -> :30001 + w) and the worker's. */
struct h2_pair {
	struct gen_conn fwd, wk;
	bool router, worker;		/* which ends are traced */
};

struct feed_ctx {
	struct h2_pair *p;
};

/* A segment: the writer's write, then the reader's read of it. */
static void pair_feed(void *conn, enum h2_side side, const uint8_t *p, size_t n, uint64_t ts)
{
	struct h2_pair *pr = conn;

	(void)ts;
	if (side == H2_FROM_CLIENT) {
		if (pr->router)
			gen_bytes(&pr->fwd, DIR_WRITE, p, n, n);
		if (pr->worker)
			gen_bytes(&pr->wk, DIR_READ, p, n, n);
	} else {
		if (pr->worker)
			gen_bytes(&pr->wk, DIR_WRITE, p, n, n);
		if (pr->router)
			gen_bytes(&pr->fwd, DIR_READ, p, n, n);
	}
}

static struct h2_pair pair(struct fixture *f, int w, bool router, bool worker)
{
	struct h2_pair p = {
		.fwd = gen_conn(&f->gen, ROUTER, 11 + w, 5555 + w, 30001 + w),
		.wk = gen_conn(&f->gen, w ? WORKER2 : WORKER, 7, 30001 + w, 5555 + w),
		.router = router, .worker = worker,
	};

	return p;
}

static struct fixture *setup(bool have_router)
{
	struct fixture *f = fixture_setup(&(struct fixture_opts){ .have_router = have_router });

	collector_set_role(f->col, ROUTER, ROLE_ROUTER);
	collector_set_role(f->col, WORKER, ROLE_WORKER);
	collector_set_role(f->col, WORKER2, ROLE_WORKER);
	return f;
}

static void finish(struct fixture *f)
{
	collector_flush(f->col);
	correlator_flush(f->corr);
}

/* Worker 0's connection alone, node level, from its accept; split_side /
 * split_at as h2_fix_replay, skip: attach there (no accept). */
static struct fixture *worker_only(int split_side, size_t split_at, const size_t skip[2])
{
	struct fixture *f = setup(false);
	struct h2_pair p = pair(f, 0, false, true);

	if (!skip)
		gen_accept(&p.wk);
	h2_fix_replay(&W[0], pair_feed, &p, split_side, split_at, skip);
	finish(f);
	return f;
}

static bool has_prefix(const char *s, const char *pre)
{
	return !strncmp(s, pre, strlen(pre));
}

/* A node-level row of worker 0 against what the call carried. */
static void check_node_row(const struct timeline_row *r)
{
	const struct call *c = call_by_xrid(r->req_id, NULL);

	if (!ASSERT_TRUE(c != NULL, r->req_id))
		return;
	ASSERT_STREQ(r->rid_source, "header", "x-request-id from the protobuf id");
	ASSERT_STREQ(r->sglang_rid, c->rid, "SGLang's rid is the protobuf id");
	ASSERT_STREQ(r->host, "127.0.0.1:30001", "host");
	ASSERT_TRUE(has_prefix(r->notes, "grpc"), r->notes);
	ASSERT_EQ(r->expected_output_length, c->max, "max_new_tokens");
	ASSERT_EQ(r->stream, c->stream, "stream");
	ASSERT_TRUE(r->arrival_time && r->server_created_time == r->arrival_time,
		    "worker read the call");
	if (!c->complete) {	/* the cancelled call */
		ASSERT_TRUE(r->success == 0 && r->error[0], "cancel is an error");
		ASSERT_TRUE(strstr(r->error, "grpc_status 14") != NULL, r->error);
		return;
	}
	ASSERT_EQ(r->success, 1, r->error);
	ASSERT_EQ(r->actual_prompt_tokens, c->prompt, "prompt tokens");
	ASSERT_EQ(r->actual_output_tokens, c->max, "completion tokens");
	ASSERT_EQ(r->actual_total_tokens, c->prompt + c->max, "total tokens");
	ASSERT_EQ(r->output_tokens_from_trace, c->stream ? c->max : -1, "tokens counted");
	ASSERT_TRUE(r->finish_time > r->arrival_time, "finish after arrival");
	if (c->stream)
		ASSERT_TRUE(r->server_first_token_time > r->arrival_time &&
			    r->server_first_token_time < r->finish_time,
			    "first token: the first response message");
	else
		ASSERT_EQ(r->server_first_token_time, 0, "unstreamed: first token not seen");
}

static void test_node_rows(void)
{
	struct fixture *f = worker_only(-1, 0, NULL);
	const struct collector_stats *st = collector_stats(f->col);

	ASSERT_EQ(f->nrows, T[0].n, "one row per Generate call");
	for (int i = 0; i < f->nrows; i++)
		check_node_row(&f->rows[i]);
	ASSERT_EQ(st->conns_h2, 1, "one HTTP/2 connection");
	ASSERT_EQ(st->grpc_calls, T[0].n, "Generate calls counted");
	ASSERT_TRUE(st->grpc_other_calls > 0, "health and load calls ignored");
	/* the server's RST_STREAM at shutdown follows its END_STREAM */
	ASSERT_EQ(st->grpc_resets, 0, "an RST after the end ends nothing");
	ASSERT_EQ(st->h2_unknown_fields + st->grpc_unknown_calls + st->grpc_undecoded, 0,
		  "from the start: nothing unknown");
	fixture_teardown(f);
}

/* What a row says apart from times (which move with the extra event). */
static void row_key(const struct timeline_row *r, char *out, size_t n)
{
	snprintf(out, n, "%s|%d|%s|%lld|%lld|%lld|%lld|%d|%s|%s", r->req_id, r->success,
		 r->error, r->expected_output_length, r->actual_prompt_tokens,
		 r->actual_output_tokens, r->output_tokens_from_trace, r->stream,
		 r->sglang_rid, r->notes);
}

static void test_split_every_byte(void)
{
	struct fixture *base = worker_only(-1, 0, NULL);
	char a[1024], b[1024];
	int bad = 0;

	for (int side = 0; side < 2; side++) {
		for (size_t at = 1; at < W[0].len[side]; at++) {
			struct fixture *f = worker_only(side, at, NULL);

			bad += f->nrows != base->nrows;
			for (int i = 0; i < f->nrows && i < base->nrows; i++) {
				row_key(&f->rows[i], a, sizeof(a));
				row_key(&base->rows[i], b, sizeof(b));
				bad += strcmp(a, b) != 0;
			}
			fixture_teardown(f);
		}
	}
	ASSERT_EQ(bad, 0, "the same rows at every split");
	fixture_teardown(base);
}

/* Attach at segment nseg * eighths / 8: the bytes of each side before it. */
static void attach_point(const struct h2_fixture *x, int eighths, size_t skip[2])
{
	skip[0] = skip[1] = 0;
	for (int i = 0; i < x->nseg * eighths / 8; i++)
		skip[x->seg[i].side] += x->seg[i].n;
}

/* Attached mid-connection (no accept, no preface, HPACK entries from
 * before): found by its frame heads; the calls opened after are rows with
 * the right ids; nothing made up; what cannot be known is counted. */
static void test_attach_mid_connection(void)
{
	for (int e = 1; e <= 2; e++) {
		for (int inside = 0; inside < 2; inside++) {
			size_t skip[2];
			struct fixture *f;
			const struct collector_stats *st;

			attach_point(&W[0], e, skip);
			skip[0] += 3 * inside;
			skip[1] += 7 * inside;
			f = worker_only(-1, 0, skip);
			st = collector_stats(f->col);

			ASSERT_EQ(st->conns_h2_midway, 1, "HTTP/2 found by its frames");
			/* the calls opened after the attach; one whose HEADERS
			 * the start inside a frame cut is not a row */
			ASSERT_TRUE(f->nrows < T[0].n, "not the earlier calls");
			if (e == 1 || !inside)
				ASSERT_TRUE(f->nrows > 0, "the later calls");
			for (int i = 0; i < f->nrows; i++)
				check_node_row(&f->rows[i]);
			ASSERT_TRUE(st->h2_unknown_fields > 0, "references to old entries counted");
			fixture_teardown(f);
		}
	}
}

/* ---- router level --------------------------------------------------- */

static char *client_request(const struct call *c)
{
	static char b[1024];
	char body[256];

	snprintf(body, sizeof(body), "{\"model\":\"m\",\"prompt\":\"a b c\",\"max_tokens\":%lld%s}",
		 c->max, c->stream ? ",\"stream\":true" : "");
	snprintf(b, sizeof(b), "POST /v1/completions HTTP/1.1\r\nhost: x\r\n"
		 "x-request-id: %s\r\ncontent-type: application/json\r\n"
		 "content-length: %zu\r\n\r\n%s", c->xrid, strlen(body), body);
	return b;
}

static char *client_response(const struct call *c)
{
	static char b[1024];
	char body[256];

	snprintf(body, sizeof(body), "{\"id\":\"x\",\"choices\":[{\"text\":\"z\"}],"
		 "\"usage\":{\"prompt_tokens\":%u,\"completion_tokens\":%u,\"total_tokens\":%u}}",
		 c->prompt, c->completion, c->prompt + c->completion);
	snprintf(b, sizeof(b), "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
		 "content-length: %zu\r\n\r\n%s", strlen(body), body);
	return b;
}

/* Both workers' connections, every end traced, each client request on a
 * connection of its own, read before the calls, answered after them; a
 * scheduler hop noted under each SGLang rid. */
static void test_router_rows(void)
{
	struct fixture *f = setup(true);
	struct gen_conn cl[2][MAX_CALLS];
	int total = 0;

	for (int w = 0; w < 2; w++) {
		for (int i = 0; i < T[w].n; i++) {
			cl[w][i] = gen_conn(&f->gen, ROUTER, 20 + w * MAX_CALLS + i, 30000,
					    40000 + w * MAX_CALLS + i);
			gen_accept(&cl[w][i]);
			gen_read(&cl[w][i], client_request(&T[w].c[i]));
		}
	}
	for (int w = 0; w < 2; w++) {
		struct h2_pair p = pair(f, w, true, true);

		gen_connect(&p.fwd);
		gen_accept(&p.wk);
		h2_fix_replay(&W[w], pair_feed, &p, -1, 0, NULL);
	}
	for (int w = 0; w < 2; w++) {
		for (int i = 0; i < T[w].n; i++) {
			correlator_note_hop(f->corr, T[w].c[i].rid, HOP_SCHED_RECV, f->gen.now,
					    w ? WORKER2 : WORKER);
			gen_write(&cl[w][i], client_response(&T[w].c[i]));
			total++;
		}
	}
	finish(f);
	ASSERT_EQ(f->nrows, total, "one row per client request");
	for (int i = 0; i < f->nrows; i++) {
		const struct timeline_row *r = &f->rows[i];
		int w = -1;
		const struct call *c = call_by_xrid(r->req_id, &w);
		char host[32];

		if (!ASSERT_TRUE(c != NULL, r->req_id))
			continue;
		snprintf(host, sizeof(host), "127.0.0.1:%d", 30001 + w);
		ASSERT_STREQ(r->level, "router", "router level");
		ASSERT_STREQ(r->host, host, "the worker the call went to");
		ASSERT_EQ(r->forwards, 1, "one forward");
		ASSERT_EQ(r->worker_pid, w ? WORKER2 : WORKER, "the worker's request");
		ASSERT_STREQ(r->sglang_rid, c->rid, "SGLang's rid");
		ASSERT_TRUE(has_prefix(r->notes, "grpc"), r->notes);
		ASSERT_TRUE(r->arrival_time < r->router_send_time &&
			    r->router_send_time < r->server_created_time &&
			    r->server_created_time < r->queue_time_start &&
			    r->queue_time_start < r->finish_time, "timestamps in order");
		if (c->stream && c->complete)
			ASSERT_TRUE(r->server_first_token_time > r->server_created_time &&
				    r->server_first_token_time < r->finish_time,
				    "first token: the first response message");
	}
	ASSERT_EQ(fixture_corr_stats(f)->rows_without_worker, 0, "every worker request matched");
	ASSERT_EQ(fixture_corr_stats(f)->forwards_unmatched, 0, "every forward claimed");
	fixture_teardown(f);
}

/* The concurrent streams on one connection overlap, and each row still
 * has its own call: the ids decide, not the order. */
static void test_interleaved_streams(void)
{
	struct fixture *f = worker_only(-1, 0, NULL);
	int conc = 0, overlaps = 0;

	for (int i = 0; i < f->nrows; i++) {
		const struct timeline_row *a = &f->rows[i];

		if (!has_prefix(a->req_id, "h2-conc-"))
			continue;
		conc++;
		ASSERT_EQ(a->actual_output_tokens, 24, "its own 24 tokens");
		for (int j = 0; j < f->nrows; j++) {
			const struct timeline_row *b = &f->rows[j];

			overlaps += j != i && has_prefix(b->req_id, "h2-conc-") &&
				    b->arrival_time < a->finish_time &&
				    a->arrival_time < b->finish_time;
		}
	}
	ASSERT_EQ(conc, 3, "three concurrent calls on worker 0");
	ASSERT_TRUE(overlaps > 0, "their streams interleave");
	fixture_teardown(f);
}

/* Where the server's last HEADERS frame on stream id begins (its trailers). */
static size_t trailers_at(const struct h2_fixture *x, uint32_t id)
{
	const uint8_t *b = x->bytes[H2_FROM_SERVER];
	size_t off = 0, found = 0;

	while (off + 9 <= x->len[H2_FROM_SERVER]) {
		uint32_t len = b[off] << 16 | b[off + 1] << 8 | b[off + 2];
		uint32_t sid = (uint32_t)b[off + 5] << 24 | b[off + 6] << 16 | b[off + 7] << 8 | b[off + 8];

		if (b[off + 3] == H2_HEADERS && sid == id)
			found = off;
		off += 9 + len;
	}
	return found;
}

struct cut {
	struct h2_pair *p;
	size_t off[2], limit[2];
};

static void cut_feed(void *conn, enum h2_side side, const uint8_t *p, size_t n, uint64_t ts)
{
	struct cut *k = conn;
	size_t a = k->off[side];

	k->off[side] += n;
	if (a >= k->limit[side])
		return;
	pair_feed(k->p, side, p, a + n > k->limit[side] ? k->limit[side] - a : n, ts);
}

/* RST_STREAM of an open call: worker 0 up to the cancelled call's
 * trailers, then smg resets that stream (CANCEL). The call ends there, as
 * an error, with what it streamed before. */
static void test_rst_stream(void)
{
	static const uint8_t rst[] = { 0, 0, 4, H2_RST_STREAM, 0, 0, 0, 0, 17, 0, 0, 0, 8 };
	struct fixture *f = setup(false);
	struct h2_pair p = pair(f, 0, false, true);
	struct cut k = { .p = &p, .limit = { W[0].len[0], trailers_at(&W[0], 17) } };
	const struct timeline_row *r;

	if (!ASSERT_TRUE(k.limit[1] > 0, "the cancelled call's trailers"))
		goto out;
	gen_accept(&p.wk);
	h2_fix_replay(&W[0], cut_feed, &k, -1, 0, NULL);
	gen_bytes(&p.wk, DIR_READ, rst, sizeof(rst), sizeof(rst));
	fixture_tick(f, f->gen.now + 1000 * MS);
	ASSERT_EQ(collector_stats(f->col)->grpc_resets, 1, "the reset counted");
	r = fixture_row(f, "h2-cancel-13");
	if (ASSERT_TRUE(r != NULL, "the row, before the connection closes")) {
		ASSERT_EQ(r->success, 0, "not a success");
		ASSERT_STREQ(r->error, "rst_stream 8 by client", "why");
		ASSERT_EQ(r->finish_time, 0, "never finished");
		ASSERT_TRUE(r->output_tokens_from_trace > 0, "tokens streamed before the reset");
		ASSERT_TRUE(has_prefix(r->notes, "grpc"), r->notes);
	}
out:
	finish(f);
	fixture_teardown(f);
}

/* ---- what the kernel holds back ------------------------------------ */

/* The router-level replay of test_router_rows, its records made here as
 * the kernel's full capture would make them (stream offsets included),
 * then fed to the collector as they are or through the kernel mirror. */
struct mirror_run {
	struct fixture *f;
	struct kernel_mirror *km;
	uint64_t in, out;		/* records in, records the collector got */
};

static struct mirror_run *MR;

static void mr_out(void *ctx, const struct sock_event *ev, const char *data)
{
	struct mirror_run *m = ctx;

	m->out++;
	collector_handle(m->f->col, ev, data);
}

static void mr_event(struct gen_conn *c, uint32_t type, int dir, const void *data, size_t n)
{
	static char buf[sizeof(struct sock_event) + 65536];
	struct sock_event *e = gen_record(c, buf, 65536, type, dir, data, n,
					  type == EV_DATA ? (long)n : type == EV_ACCEPT ? c->fd : 0);

	MR->in++;
	if (MR->km)
		kernel_mirror_feed(MR->km, e, (const char *)(e + 1));
	else
		mr_out(MR, e, (const char *)(e + 1));
}

static void mr_pair_feed(void *conn, enum h2_side side, const uint8_t *p, size_t n, uint64_t ts)
{
	struct h2_pair *pr = conn;

	(void)ts;
	mr_event(side == H2_FROM_CLIENT ? &pr->fwd : &pr->wk, EV_DATA, DIR_WRITE, p, n);
	mr_event(side == H2_FROM_CLIENT ? &pr->wk : &pr->fwd, EV_DATA, DIR_READ, p, n);
}

/* router: the clients' requests to smg too, rows at router level; else
 * worker rows (node level) only. */
static char *mirror_csv(bool mirrored, bool router, int split_side, size_t split_at,
			struct mirror_run *m)
{
	struct gen_conn cl[2][MAX_CALLS];
	struct output out;
	char *text = NULL;
	size_t len = 0;
	FILE *csv;

	memset(m, 0, sizeof(*m));
	m->f = setup(router);
	m->km = mirrored ? kernel_mirror_new(mr_out, m) : NULL;
	MR = m;
	for (int w = 0; w < 2 && router; w++) {
		for (int i = 0; i < T[w].n; i++) {
			const char *req = client_request(&T[w].c[i]);

			cl[w][i] = gen_conn(&m->f->gen, ROUTER, 20 + w * MAX_CALLS + i, 30000,
					    40000 + w * MAX_CALLS + i);
			mr_event(&cl[w][i], EV_ACCEPT, DIR_READ, "", 0);
			mr_event(&cl[w][i], EV_DATA, DIR_READ, req, strlen(req));
		}
	}
	for (int w = 0; w < 2; w++) {
		struct h2_pair p = pair(m->f, w, true, true);

		mr_event(&p.fwd, EV_CONNECT, DIR_WRITE, "", 0);
		mr_event(&p.wk, EV_ACCEPT, DIR_READ, "", 0);
		h2_fix_replay(&W[w], mr_pair_feed, &p, w ? -1 : split_side, split_at, NULL);
		mr_event(&p.fwd, EV_CLOSE, DIR_READ, "", 0);
		mr_event(&p.wk, EV_CLOSE, DIR_READ, "", 0);
	}
	for (int w = 0; w < 2 && router; w++) {
		for (int i = 0; i < T[w].n; i++) {
			const char *resp = client_response(&T[w].c[i]);

			correlator_note_hop(m->f->corr, T[w].c[i].rid, HOP_SCHED_RECV, m->f->gen.now,
					    w ? WORKER2 : WORKER);
			mr_event(&cl[w][i], EV_DATA, DIR_WRITE, resp, strlen(resp));
		}
	}
	finish(m->f);
	csv = open_memstream(&text, &len);
	output_init(&out, csv, OUT_CSV);
	for (int i = 0; i < m->f->nrows; i++)
		output_row(&out, &m->f->rows[i]);
	output_finish(&out);
	fclose(csv);
	fixture_teardown(m->f);
	kernel_mirror_free(m->km);
	MR = NULL;
	return text;
}

/* The kernel follows the HTTP/2 frames and holds the middle stream
 * chunks back: the rows (ids, times, token counts, bytes) are those of
 * the full capture, from fewer records. */
static void test_mirror_rows_equal_full_capture(void)
{
	for (int router = 0; router < 2; router++) {
		struct mirror_run full, held;
		char *a = mirror_csv(false, router, -1, 0, &full);
		char *b = mirror_csv(true, router, -1, 0, &held);

		if (ASSERT_TRUE(a && b, "rows made")) {
			ASSERT_TRUE(strlen(a) > 1000, "rows were made");
			ASSERT_STREQ(b, a, "same CSV with HTTP/2 frames held back");
			ASSERT_TRUE(held.out * 2 < full.out, "the kernel sent under half the records");
			printf("    h2 mirror (%s rows): %llu records full capture, %llu held back\n",
			       router ? "router" : "worker", (unsigned long long)full.out,
			       (unsigned long long)held.out);
		}
		free(a);
		free(b);
	}
}

/* Calls that split frames (and frame heads) anywhere: the kernel sends
 * what it cannot hold whole and keeps its place; same rows. */
static void test_mirror_split_calls(void)
{
	int bad = 0, runs = 0;

	for (int side = 0; side < 2; side++) {
		for (size_t at = 1; at < W[0].len[side]; at += side ? 37 : 5) {
			struct mirror_run full, held;
			char *a = mirror_csv(false, false, side, at, &full);
			char *b = mirror_csv(true, false, side, at, &held);

			bad += !a || !b || strcmp(a, b) != 0;
			runs++;
			free(a);
			free(b);
		}
	}
	ASSERT_TRUE(runs > 500, "split at many places");
	ASSERT_EQ(bad, 0, "the same rows at every split");
}

void test_area_grpc_rows(void)
{
	if (!ASSERT_TRUE(!h2_fix_load(&W[0], "smg_w0") && !h2_fix_load(&W[1], "smg_w1"),
			 "fixtures load (run from the repo root)"))
		return;
	load_truth(0);
	load_truth(1);
	if (!ASSERT_TRUE(T[0].n == 7 && T[1].n == 6, "13 Generate calls in the fixtures"))
		return;
	RUN_SUBTEST(test_node_rows);
	RUN_SUBTEST(test_split_every_byte);
	RUN_SUBTEST(test_attach_mid_connection);
	RUN_SUBTEST(test_router_rows);
	RUN_SUBTEST(test_interleaved_streams);
	RUN_SUBTEST(test_rst_stream);
	RUN_SUBTEST(test_mirror_rows_equal_full_capture);
	RUN_SUBTEST(test_mirror_split_calls);
	h2_fix_free(&W[0]);
	h2_fix_free(&W[1]);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* user/correlate/server_hops.c fed hand-built libzmq records (bpf/zmq_event.h) whose
 * payloads are the real SGLang messages of tests/unit/data/ipc/, read back
 * through the rows the correlator writes for a node-level worker (main
 * 200, scheduler 201, detokenizer 202). Times are in ms; the scheduler's
 * drain ends come from fail_last_ts on message records and from
 * EV_ZMQ_LOOP records, as the kernel side sends them. HTTP on the worker
 * comes from the fixture's event generator. */
#include <stdlib.h>
#include <string.h>
#include "fixture.h"
#include "test.h"
#include "zmq_event.h"
#include "correlate/server_hops_priv.h"

#define DATA_DIR "tests/unit/data/ipc/"
#define MAIN 200
#define SCHED 201
#define DETOK 202
#define CAP ZMQ_DEFAULT_CAPTURE

static struct fixture *fx;	/* the one set up */
#define sh (fx->hops)
#define rows (fx->rows)
#define nrows (fx->nrows)

static uint64_t ns(double ms)
{
	return (uint64_t)(ms * 1000.0 + 0.5) * 1000ULL;	/* whole microseconds */
}

static const struct timeline_row *row(const char *req_id)
{
	return fixture_row(fx, req_id);
}

/* A node-level pipeline (the worker's requests are the rows) whose hop
 * state knows the three processes of worker MAIN. */
static struct fixture *setup(uint32_t max_rids)
{
	fx = fixture_setup(&(struct fixture_opts){ .max_exchanges = 100, .max_rids = max_rids });
	collector_set_role(fx->col, MAIN, ROLE_WORKER);
	server_hops_set_proc(sh, MAIN, SGLANG_ROLE_MAIN, MAIN);
	server_hops_set_proc(sh, SCHED, SGLANG_ROLE_SCHEDULER, MAIN);
	server_hops_set_proc(sh, DETOK, SGLANG_ROLE_DETOKENIZER, MAIN);
	return fx;
}

static void teardown(struct fixture *f)
{
	fixture_teardown(f);
	fx = NULL;
}

/* ---- payloads ------------------------------------------------------ */

struct payload {
	unsigned char *p;
	size_t n;
};

static struct payload load(const char *name)
{
	struct payload pl = {};
	char path[256];
	long len;
	FILE *f;

	snprintf(path, sizeof(path), DATA_DIR "%s", name);
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "  cannot open %s (run from the repo root)\n", path);
		return pl;
	}
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	pl.p = malloc(len > 0 ? len : 1);
	if (pl.p && fread(pl.p, 1, len, f) == (size_t)len)
		pl.n = len;
	fclose(f);
	return pl;
}

/* The same message with every occurrence of rid from replaced by to (of
 * the same length, so no length byte or frame size changes). */
static struct payload with_rid(const char *name, const char *from, const char *to)
{
	struct payload pl = load(name);
	size_t k = strlen(from);

	if (strlen(to) != k || !pl.n)
		return pl;
	for (size_t i = 0; i + k <= pl.n; i++)
		if (!memcmp(pl.p + i, from, k))
			memcpy(pl.p + i, to, k);
	return pl;
}

#define FIX_RID "servetrace-rid-0001"	/* tok_stream, out_one */

/* tok_stream.pickle as a non-streaming request: its "stream": True
 * (NEWTRUE after the memoized key) becomes NEWFALSE. */
static struct payload nostream(struct payload pl)
{
	static const char key[] = "\x8c\x06stream\x94";
	size_t k = sizeof(key) - 1;

	for (size_t i = 0; i + k < pl.n; i++) {
		if (!memcmp(pl.p + i, key, k) && pl.p[i + k] == 0x88) {
			pl.p[i + k] = 0x89;
			return pl;
		}
	}
	ASSERT_TRUE(false, "stream field found in tok_stream.pickle");
	return pl;
}

/* ---- records ------------------------------------------------------- */

/* One message as bpf/zmq.bpf.c reports it: at most CAP bytes captured;
 * fails failed receives since the thread's previous record, the last at
 * fail_last (the end of a receive drain). */
static void zmsg(uint32_t tgid, int dir, double t, struct payload pl,
		 uint32_t fails, double fail_last)
{
	static char buf[sizeof(struct zmq_msg_event) + CAP];
	struct zmq_msg_event *e = (struct zmq_msg_event *)buf;
	size_t cap = pl.n < CAP ? pl.n : CAP;

	memset(e, 0, sizeof(*e));
	e->type = EV_ZMQ_MSG;
	e->tgid = tgid;
	e->tid = tgid;
	e->cap_len = cap;
	e->ts = ns(t);
	e->ts_enter = dir == ZMQ_DIR_RECV ? ns(t) - 1000 : ns(t);
	e->sock = 0x5000 + dir;
	e->size = pl.n;
	e->fail_count = fails;
	e->fail_first_ts = fails ? ns(fail_last) - 1000 * (fails - 1) : 0;
	e->fail_last_ts = fails ? ns(fail_last) : 0;
	e->dir = dir;
	e->msg_kind = ZMQ_MSG_LMSG;
	e->truncated = pl.n > cap;
	memcpy(buf + sizeof(*e), pl.p, cap);
	server_hops_handle(sh, buf, sizeof(*e) + cap);
}

/* The scheduler went from gap_start (end of a drain) to gap_end without
 * a failed receive: one busy iteration. */
static void zloop(double gap_start, double gap_end)
{
	struct zmq_loop_event e = {
		.type = EV_ZMQ_LOOP,
		.tgid = SCHED,
		.tid = SCHED,
		.fails_before = 3,
		.ts_gap_start = ns(gap_start),
		.ts_gap_end = ns(gap_end),
		.sock = 0x5001,
	};

	server_hops_handle(sh, &e, sizeof(e));
}

#define SEND ZMQ_DIR_SEND
#define RECV ZMQ_DIR_RECV

/* ---- HTTP on the worker -------------------------------------------- */

/* One syscall of MAIN on its connection fd (127.0.0.1:30001 from
 * :40000+fd), at t ms. */
static void http(struct fixture *f, int fd, int dir, double t, const char *data)
{
	struct gen_conn c = gen_conn(&f->gen, MAIN, fd, 30001, 40000 + fd);

	c.sock_id = 0x100 + fd;		/* the same socket on every call */
	gen_at(&f->gen, ns(t));
	gen_data(&c, dir, data, (long)strlen(data));
}

/* A /generate request with body rid (NULL: none, SGLang picks it). */
static void request(struct fixture *f, int fd, double t, const char *path,
		    const char *rid, bool stream)
{
	char body[512], req[1024];

	if (!strcmp(path, "/generate"))
		snprintf(body, sizeof(body), "{\"text\":\"the quick brown fox\",\"stream\":%s,"
			 "\"sampling_params\":{\"max_new_tokens\":4}%s%s%s}",
			 stream ? "true" : "false", rid ? ",\"rid\":\"" : "",
			 rid ? rid : "", rid ? "\"" : "");
	else
		snprintf(body, sizeof(body), "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
			 "\"content\":\"hi there\"}],\"max_tokens\":4,\"stream\":%s}",
			 stream ? "true" : "false");
	snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
		 "content-length: %zu\r\n\r\n%s", path, strlen(body), body);
	http(f, fd, DIR_READ, t, req);
}

static void chunk(char *out, const char *data)
{
	sprintf(out, "%zx\r\n%s\r\n", strlen(data), data);
}

/* SSE response: headers at t_head, one token event at t_tok, end at t_end;
 * id = SGLang's rid as meta_info.id or the OpenAI id. */
static void sse_response(struct fixture *f, int fd, double t_head, double t_tok,
			 double t_end, const char *id, bool openai)
{
	char ev[512], c[600];

	http(f, fd, DIR_WRITE, t_head, "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
	     "transfer-encoding: chunked\r\n\r\n");
	if (openai)
		snprintf(ev, sizeof(ev), "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\","
			 "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n", id);
	else
		snprintf(ev, sizeof(ev), "data: {\"text\":\"x\",\"meta_info\":{\"id\":\"%s\","
			 "\"completion_tokens\":1}}\n\n", id);
	chunk(c, ev);
	http(f, fd, DIR_WRITE, t_tok, c);
	chunk(c, "data: [DONE]\n\n");
	strcat(c, "0\r\n\r\n");
	http(f, fd, DIR_WRITE, t_end, c);
}

static void json_response(struct fixture *f, int fd, double t, const char *id)
{
	char body[256], resp[512];

	snprintf(body, sizeof(body), "{\"text\":\"a b c d\",\"meta_info\":{\"id\":\"%s\","
		 "\"prompt_tokens\":5,\"completion_tokens\":4}}", id);
	snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
		 "content-length: %zu\r\n\r\n%s", strlen(body), body);
	http(f, fd, DIR_WRITE, t, resp);
}

static void done(struct fixture *f)
{
	fixture_tick(f, 10000 * MS);
}

/* ---- subtests ------------------------------------------------------ */

/* Every hop of a streaming request, from main to scheduler and back. */
static void test_stream_hops(void)
{
	struct fixture *f = setup(100);
	struct payload tok = load("tok_stream.pickle"), out = load("out_one.pickle");
	struct payload strs = load("str_two.pickle");
	const struct timeline_row *r;

	request(f, 7, 1, "/generate", FIX_RID, true);
	zmsg(MAIN, SEND, 2, tok, 0, 0);
	/* the scheduler spun before it (drain end 2.5, before the receive) */
	zmsg(SCHED, RECV, 3, tok, 40, 2.5);
	/* the drain after the receive ended at 3.4; the prefill output at 9 */
	zmsg(SCHED, SEND, 9, out, 2, 3.4);
	zmsg(DETOK, RECV, 9.2, out, 0, 0);
	zmsg(SCHED, SEND, 12, out, 1, 9.5);
	sse_response(f, 7, 1.5, 10, 13, FIX_RID, false);
	done(f);

	r = row(FIX_RID);
	if (!ASSERT_TRUE(r, "row written"))
		goto out;
	ASSERT_STREQ(r->sglang_rid, FIX_RID, "hops found by the body rid");
	ASSERT_EQ(r->tokenizer_send_time, ns(2), "main sends TokenizedGenerateReqInput");
	ASSERT_EQ(r->queue_time_start, ns(3), "queue start = scheduler receive");
	ASSERT_EQ(r->queue_time_end, ns(3.4), "queue end = drain end before the first output");
	ASSERT_EQ(r->server_first_token_time, ns(9), "first token = first output with the rid");
	ASSERT_EQ(r->worker_first_token_time, ns(10), "the worker's first SSE event kept apart");
	ASSERT_EQ(r->scheduler_last_output_time, ns(12), "latest output with the rid");
	ASSERT_EQ(r->detokenizer_recv_time, ns(9.2), "detokenizer receive");
	ASSERT_TRUE(!r->notes[0], "no note on a streaming row");
	ASSERT_EQ(server_hops_stats(sh)->msgs, 5, "records counted");
	ASSERT_EQ(server_hops_stats(sh)->unparsed, 0, "all SGLang messages");
	ASSERT_EQ(server_hops_stats(sh)->truncated_rids, 0, "nothing cut");

	/* BatchStrOutput: detokenizer send and main receive, per rid */
	nrows = 0;
	request(f, 8, 20, "/generate", "r-two", true);
	zmsg(DETOK, SEND, 21, strs, 0, 0);
	zmsg(MAIN, RECV, 21.3, strs, 0, 0);
	sse_response(f, 8, 20.5, 22, 23, "r-two", false);
	done(f);
	r = row("r-two");
	if (ASSERT_TRUE(r, "second row")) {
		ASSERT_EQ(r->detokenizer_send_time, ns(21), "detokenizer sends BatchStrOutput");
		ASSERT_EQ(r->tokenizer_recv_time, ns(21.3), "main receives it");
		ASSERT_EQ(r->queue_time_start, 0, "no scheduler hop: empty");
		ASSERT_EQ(r->server_first_token_time, ns(22), "without one, the worker's SSE event");
	}
out:
	free(tok.p);
	free(out.p);
	free(strs.p);
	teardown(f);
}

/* The drain end comes from fail_last_ts on a message record, or from an
 * EV_ZMQ_LOOP record (gap start), whichever is the latest before the
 * first output. */
static void test_drain_end_sources(void)
{
	static const struct {
		const char *rid;
		double loop_start;	/* 0: no loop record */
		double out_fail_last;	/* 0: the output record carries no fails */
		double want;
	} cases[] = {
		{ "servetrace-rid-000a", 0, 4.0, 4.0 },	/* message record only */
		{ "servetrace-rid-000b", 4.2, 0, 4.2 },	/* loop record only */
		{ "servetrace-rid-000c", 4.2, 8.5, 8.5 },	/* a later drain wins */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fixture *f = setup(100);
		struct payload tok = with_rid("tok_stream.pickle", FIX_RID, cases[i].rid);
		struct payload out = with_rid("out_one.pickle", FIX_RID, cases[i].rid);
		const struct timeline_row *r;
		char what[96];

		request(f, 7, 1, "/generate", cases[i].rid, true);
		zmsg(SCHED, RECV, 3, tok, 10, 2.9);
		if (cases[i].loop_start)
			zloop(cases[i].loop_start, 8.0);
		zmsg(SCHED, SEND, 9, out, cases[i].out_fail_last ? 2 : 0, cases[i].out_fail_last);
		sse_response(f, 7, 1.5, 10, 11, cases[i].rid, false);
		done(f);
		r = row(cases[i].rid);
		snprintf(what, sizeof(what), "case %zu: queue end", i);
		if (ASSERT_TRUE(r, "row written")) {
			ASSERT_EQ(r->queue_time_end, ns(cases[i].want), what);
			ASSERT_EQ(r->queue_time_start, ns(3), "queue start");
		}
		free(tok.p);
		free(out.p);
		teardown(f);
	}
}

/* Non-streaming: its first output comes at finish. Queue end = the first
 * drain end after its receive, raised to the queue end of the last
 * streaming request received before it (fcfs); first token empty. */
static void test_nostream_fcfs(void)
{
	struct fixture *f = setup(100);
	struct payload tok_a = with_rid("tok_stream.pickle", FIX_RID, "servetrace-rid-000A");
	struct payload out_a = with_rid("out_one.pickle", FIX_RID, "servetrace-rid-000A");
	struct payload tok_b = nostream(with_rid("tok_stream.pickle", FIX_RID, "servetrace-rid-000B"));
	struct payload out_b = with_rid("out_one.pickle", FIX_RID, "servetrace-rid-000B");
	struct payload tok_c = nostream(with_rid("tok_stream.pickle", FIX_RID, "servetrace-rid-000C"));
	struct payload out_c = with_rid("out_one.pickle", FIX_RID, "servetrace-rid-000C");
	const struct timeline_row *a, *b, *c;

	request(f, 7, 1, "/generate", "servetrace-rid-000A", true);
	request(f, 8, 1.1, "/generate", "servetrace-rid-000B", false);
	/* A (stream) then B (not) arrive in one drain, which ends at 4; A
	 * waits (no room) through an iteration and leaves at the drain end
	 * 12; B, behind it, cannot leave earlier. */
	zmsg(SCHED, RECV, 3, tok_a, 5, 2.8);
	zmsg(SCHED, RECV, 3.5, tok_b, 0, 0);
	zloop(4, 11.8);
	zloop(12, 19);
	zmsg(SCHED, SEND, 20, out_a, 0, 0);
	/* C (not streaming) arrives later, alone: first drain end after it */
	request(f, 9, 24, "/generate", "servetrace-rid-000C", false);
	zmsg(SCHED, RECV, 25, tok_c, 3, 21);
	zloop(25.3, 30);
	/* B and C finish together */
	zmsg(SCHED, SEND, 40, out_b, 1, 39.5);
	zmsg(SCHED, SEND, 40.1, out_c, 0, 0);
	sse_response(f, 7, 1.5, 21, 41, "servetrace-rid-000A", false);
	json_response(f, 8, 42, "servetrace-rid-000B");
	json_response(f, 9, 42.5, "servetrace-rid-000C");
	done(f);

	a = row("servetrace-rid-000A");
	b = row("servetrace-rid-000B");
	c = row("servetrace-rid-000C");
	if (!ASSERT_TRUE(a && b && c, "three rows"))
		goto out;
	ASSERT_EQ(a->queue_time_end, ns(12), "stream: drain end before its first output");
	ASSERT_EQ(a->server_first_token_time, ns(20), "stream: first output");
	ASSERT_EQ(b->queue_time_start, ns(3.5), "B received");
	ASSERT_EQ(b->queue_time_end, ns(12), "B: first drain end 4 raised to A's 12 (fcfs)");
	ASSERT_EQ(b->server_first_token_time, 0, "non-streaming: first token not observable");
	ASSERT_STREQ(b->notes, "non-streaming: first token not observable", "and said so");
	ASSERT_EQ(b->scheduler_last_output_time, ns(40), "its output at finish still recorded");
	ASSERT_EQ(c->queue_time_end, ns(25.3), "C: the first drain end after its receive");
	ASSERT_TRUE(c->queue_time_start <= c->queue_time_end, "C in order");
out:
	free(tok_a.p);
	free(out_a.p);
	free(tok_b.p);
	free(out_b.p);
	free(tok_c.p);
	free(out_c.p);
	teardown(f);
}

/* The same with SGLANG_USE_PICKLE_IPC=0: msgpack payloads. The parser
 * finds no stream flag in them (m.stream = -1), so the row's HTTP stream
 * flag picks the method and the fcfs raise has no streaming request to
 * lean on: B's queue end stays at the first drain end (a lower bound). */
static void test_msgpack(void)
{
	struct fixture *f = setup(100);
	struct payload tok_a = with_rid("tok_stream.msgpack", FIX_RID, "servetrace-rid-000A");
	struct payload out_a = with_rid("out_one.msgpack", FIX_RID, "servetrace-rid-000A");
	struct payload tok_b = with_rid("tok_stream.msgpack", FIX_RID, "servetrace-rid-000B");
	struct payload out_b = with_rid("out_one.msgpack", FIX_RID, "servetrace-rid-000B");
	const struct timeline_row *a, *b;

	request(f, 7, 1, "/generate", "servetrace-rid-000A", true);
	request(f, 8, 1.1, "/generate", "servetrace-rid-000B", false);
	zmsg(MAIN, SEND, 2, tok_a, 0, 0);
	zmsg(SCHED, RECV, 3, tok_a, 5, 2.8);
	zmsg(SCHED, RECV, 3.5, tok_b, 0, 0);
	zloop(4, 11.8);
	zloop(12, 19);
	zmsg(SCHED, SEND, 20, out_a, 0, 0);
	zmsg(SCHED, SEND, 40, out_b, 1, 39.5);
	sse_response(f, 7, 1.5, 21, 41, "servetrace-rid-000A", false);
	json_response(f, 8, 42, "servetrace-rid-000B");
	done(f);

	a = row("servetrace-rid-000A");
	b = row("servetrace-rid-000B");
	if (!ASSERT_TRUE(a && b, "two rows"))
		goto out;
	ASSERT_EQ(a->tokenizer_send_time, ns(2), "msgpack: main send");
	ASSERT_EQ(a->queue_time_start, ns(3), "msgpack: queue start");
	ASSERT_EQ(a->queue_time_end, ns(12), "msgpack: stream queue end");
	ASSERT_EQ(a->server_first_token_time, ns(20), "msgpack: first token");
	ASSERT_EQ(b->queue_time_start, ns(3.5), "msgpack: B received");
	ASSERT_EQ(b->queue_time_end, ns(4), "msgpack: B's first drain end, not raised");
	ASSERT_TRUE(b->queue_time_end <= a->queue_time_end, "a lower bound of the fcfs value");
	ASSERT_EQ(server_hops_stats(sh)->unparsed, 0, "msgpack understood");
out:
	free(tok_a.p);
	free(out_a.p);
	free(tok_b.p);
	free(out_b.p);
	teardown(f);
}

/* OpenAI chat: the router drops the body rid, SGLang makes its own and
 * returns it as the id; the hops are found under it. */
static void test_rid_from_response(void)
{
	struct fixture *f = setup(100);
	struct payload tok = load("tok_stream.pickle"), out = load("out_one.pickle");
	const struct timeline_row *r;

	request(f, 7, 1, "/v1/chat/completions", NULL, true);
	zmsg(SCHED, RECV, 3, tok, 1, 2);
	zmsg(SCHED, SEND, 9, out, 1, 3.3);
	sse_response(f, 7, 10, 10, 11, FIX_RID, true);
	done(f);
	r = nrows == 1 ? &rows[0] : NULL;
	if (ASSERT_TRUE(r, "one row")) {
		ASSERT_STREQ(r->sglang_rid, FIX_RID, "hops under the response id");
		ASSERT_EQ(r->queue_time_start, ns(3), "queue start");
		ASSERT_EQ(r->queue_time_end, ns(3.3), "queue end");
		ASSERT_EQ(r->server_first_token_time, ns(9), "first token");
	}
	free(tok.p);
	free(out.p);
	teardown(f);
}

/* /health_generate requests (rid HEALTH_CHECK_<hex>) are nobody's. */
static void test_health_check_ignored(void)
{
	struct fixture *f = setup(100);
	struct payload tok = with_rid("tok_stream.pickle", FIX_RID, "HEALTH_CHECK_0a1b2c");
	struct payload out = with_rid("out_one.pickle", FIX_RID, "HEALTH_CHECK_0a1b2c");
	uint64_t hops0 = fixture_corr_stats(f)->hops;

	zmsg(MAIN, SEND, 1, tok, 0, 0);
	zmsg(SCHED, RECV, 2, tok, 1, 1.5);
	zmsg(SCHED, SEND, 5, out, 1, 2.5);
	ASSERT_EQ(server_hops_stats(sh)->health_checks, 3, "each health-check rid counted");
	ASSERT_EQ(fixture_corr_stats(f)->hops, hops0, "no hop noted");
	ASSERT_EQ(server_hops_stats(sh)->no_recv_seen, 0, "no state made for it");
	free(tok.p);
	free(out.p);
	teardown(f);
}

/* Records of a pid nobody named are counted, not used; so are those of a
 * process forgotten (exited). */
static void test_unknown_pids(void)
{
	struct fixture *f = setup(100);
	struct payload tok = load("tok_stream.pickle");
	uint64_t hops0 = fixture_corr_stats(f)->hops;

	zmsg(999, RECV, 1, tok, 0, 0);
	ASSERT_EQ(server_hops_stats(sh)->unknown_proc, 1, "unknown pid counted");
	ASSERT_EQ(server_hops_stats(sh)->msgs, 1, "and seen");
	server_hops_forget_proc(sh, SCHED);
	zmsg(SCHED, RECV, 2, tok, 0, 0);
	ASSERT_EQ(server_hops_stats(sh)->unknown_proc, 2, "forgotten pid counted");
	ASSERT_EQ(fixture_corr_stats(f)->hops, hops0, "no hop noted");
	free(tok.p);
	teardown(f);
}

/* What is lost is counted: outputs cut at the capture size, outputs of
 * requests received before tracing, rid states beyond the limit. */
static void test_losses_counted(void)
{
	struct fixture *f = setup(100);
	struct payload big = load("out_big.pickle");
	struct payload out = load("out_one.pickle");
	static const char *rids[] = { "servetrace-rid-000x", "servetrace-rid-000y",
				      "servetrace-rid-000z" };
	uint64_t hops0;

	ASSERT_TRUE(big.n > CAP, "out_big is larger than the capture");
	zmsg(SCHED, SEND, 1, big, 0, 0);
	ASSERT_EQ(server_hops_stats(sh)->truncated_rids, 1, "cut batch output counted");
	ASSERT_TRUE(server_hops_stats(sh)->no_recv_seen > 0, "its captured rids still noted");
	teardown(f);

	f = setup(2);
	hops0 = fixture_corr_stats(f)->hops;
	zmsg(SCHED, SEND, 2, out, 1, 1.5);
	ASSERT_EQ(server_hops_stats(sh)->no_recv_seen, 1, "output of a request received untraced");
	ASSERT_EQ(fixture_corr_stats(f)->hops - hops0, 2,
		  "its first and last output still noted");
	for (int i = 0; i < 3; i++) {
		struct payload tok = with_rid("tok_stream.pickle", FIX_RID, rids[i]);

		zmsg(SCHED, RECV, 10 + i, tok, 0, 0);
		free(tok.p);
	}
	ASSERT_EQ(server_hops_stats(sh)->rid_states_evicted, 2, "two of four states evicted (limit 2)");
	free(big.p);
	free(out.p);
	teardown(f);
}

/* A request's scheduler state goes when its output says finished: a
 * long run holds only the states of requests still in the server. The
 * row is as complete as before. */
static void test_state_freed_at_finish(void)
{
	struct fixture *f = setup(100);
	struct payload tok = load("tok_stream.pickle"), out = load("out_one.pickle");
	struct payload fin = load("out_fin.pickle");
	const struct timeline_row *r;

	request(f, 7, 1, "/generate", FIX_RID, true);
	zmsg(SCHED, RECV, 3, tok, 40, 2.5);
	zmsg(SCHED, SEND, 9, out, 2, 3.4);
	ASSERT_TRUE(server_hops_rid_state(sh, FIX_RID, false), "state kept while running");
	zmsg(SCHED, SEND, 12, fin, 1, 9.5);
	ASSERT_TRUE(!server_hops_rid_state(sh, FIX_RID, false), "state freed at the finished output");
	ASSERT_EQ(server_hops_stats(sh)->rid_states_done, 1, "counted as done");
	ASSERT_EQ(server_hops_stats(sh)->rid_states_evicted, 0, "not as evicted");
	sse_response(f, 7, 1.5, 10, 13, FIX_RID, false);
	done(f);
	r = row(FIX_RID);
	if (ASSERT_TRUE(r, "row written")) {
		ASSERT_EQ(r->queue_time_start, ns(3), "queue start kept");
		ASSERT_EQ(r->queue_time_end, ns(3.4), "queue end kept");
		ASSERT_EQ(r->scheduler_last_output_time, ns(12), "the finished output is the last");
	}
	/* the freed slot is reused: a full fifo of live states still evicts */
	for (int i = 0; i < 3; i++) {
		char id[32];
		struct payload t;

		snprintf(id, sizeof(id), "servetrace-rid-00%02d", 10 + i);
		t = with_rid("tok_stream.pickle", FIX_RID, id);
		zmsg(SCHED, RECV, 20 + i, t, 0, 0);
		free(t.p);
	}
	ASSERT_EQ(server_hops_stats(sh)->rid_states_evicted, 0, "3 live states within 100");
	free(tok.p);
	free(out.p);
	free(fin.p);
	teardown(f);
}

void test_area_server_hops(void)
{
	RUN_SUBTEST(test_stream_hops);
	RUN_SUBTEST(test_drain_end_sources);
	RUN_SUBTEST(test_nostream_fcfs);
	RUN_SUBTEST(test_msgpack);
	RUN_SUBTEST(test_rid_from_response);
	RUN_SUBTEST(test_health_check_ignored);
	RUN_SUBTEST(test_unknown_pids);
	RUN_SUBTEST(test_losses_counted);
	RUN_SUBTEST(test_state_freed_at_finish);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Collector + correlator fed event streams from the fixture's generator:
 * a router (tgid 100) in front of workers (tgid 200, 201), clients not
 * traced. */
#include <stdlib.h>
#include <string.h>
#include "fixture.h"
#include "test.h"

#define ROUTER 100
#define WORKER 200
#define WORKER2 201

/* The sockets of one router and two workers: the client's connection to
 * the router (fd 10, :30000), the router's to each worker (fd 11 from
 * :5555 to :30001, fd 12 from :5556 to :30002) and the workers' ends. */
struct net {
	struct gen_conn client, fwd, wk, fwd2, wk2;
};

static struct fixture *setup(bool have_router, struct net *n)
{
	struct fixture *f = fixture_setup(&(struct fixture_opts){ .have_router = have_router });
	struct event_gen *g = &f->gen;

	collector_set_role(f->col, ROUTER, ROLE_ROUTER);
	collector_set_role(f->col, WORKER, ROLE_WORKER);
	collector_set_role(f->col, WORKER2, ROLE_WORKER);
	n->client = gen_conn(g, ROUTER, 10, 30000, 40000);
	n->fwd = gen_conn(g, ROUTER, 11, 5555, 30001);
	n->wk = gen_conn(g, WORKER, 7, 30001, 5555);
	n->fwd2 = gen_conn(g, ROUTER, 12, 5556, 30002);
	n->wk2 = gen_conn(g, WORKER2, 8, 30002, 5556);
	return f;
}

static char *request(const char *path, const char *id_header, const char *body)
{
	static char b[4096];

	snprintf(b, sizeof(b), "POST %s HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
		 "%s%s%scontent-length: %zu\r\n\r\n%s", path,
		 id_header ? "x-request-id: " : "", id_header ? id_header : "",
		 id_header ? "\r\n" : "", strlen(body), body);
	return b;
}

static char *response(int status, const char *body)
{
	static char b[4096];

	snprintf(b, sizeof(b), "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
		 "content-length: %zu\r\n\r\n%s", status, status == 200 ? "OK" : "Service Unavailable",
		 strlen(body), body);
	return b;
}

static const char *gen_body = "{\"text\":\"the quick brown fox\",\"sampling_params\":{\"max_new_tokens\":8},\"rid\":\"r1\"}";
static const char *gen_resp = "{\"text\":\"a b\",\"meta_info\":{\"id\":\"r1\",\"prompt_tokens\":5,\"completion_tokens\":8}}";

/* client -> router :30000 (fd 10), router -> worker :30001 (fd 11, local 5555) */
static void one_request(struct net *n, double t, const char *id)
{
	char body[512], resp[512];

	snprintf(body, sizeof(body), "{\"text\":\"the quick brown fox\",\"sampling_params\":{\"max_new_tokens\":8},\"rid\":\"%s\"}", id);
	snprintf(resp, sizeof(resp), "{\"text\":\"a b\",\"meta_info\":{\"id\":\"%s\",\"prompt_tokens\":5,\"completion_tokens\":8}}", id);
	gen_read_at(&n->client, t, request("/generate", NULL, body));
	gen_write_at(&n->fwd, t + 1, request("/generate", NULL, body));
	gen_read_at(&n->wk, t + 2, request("/generate", NULL, body));
	gen_write_at(&n->wk, t + 50, response(200, resp));
	gen_read_at(&n->fwd, t + 51, response(200, resp));
	gen_write_at(&n->client, t + 52, response(200, resp));
}

static void test_router_keepalive(void)
{
	struct net net, *n = &net;
	struct fixture *f = setup(true, n);

	one_request(n, 10, "r1");
	one_request(n, 100, "r2");
	one_request(n, 200, "r3");
	fixture_tick(f, 1000 * MS);
	ASSERT_EQ(f->nrows, 3, "one row per request");
	ASSERT_STREQ(f->rows[0].req_id, "r1", "id from body rid");
	ASSERT_STREQ(f->rows[1].req_id, "r2", "second on the same connections");
	ASSERT_STREQ(f->rows[0].host, "127.0.0.1:30001", "host is the worker");
	ASSERT_EQ(f->rows[0].arrival_time, 10 * MS + 1000, "arrival = router read exit");
	ASSERT_EQ(f->rows[0].router_send_time, 11 * MS, "send = router write enter");
	ASSERT_EQ(f->rows[0].server_created_time, 12 * MS + 1000, "worker read exit");
	ASSERT_EQ(f->rows[0].finish_time, 62 * MS + 1000, "last byte to client, exit");
	ASSERT_EQ(f->rows[0].input_length, 4, "prompt words");
	ASSERT_EQ(f->rows[0].expected_output_length, 8, "max_new_tokens");
	ASSERT_EQ(f->rows[0].actual_output_tokens, 8, "completion tokens");
	ASSERT_EQ(f->rows[0].actual_total_tokens, 13, "total tokens");
	ASSERT_EQ(f->rows[0].success, 1, "2xx is success");
	ASSERT_EQ(f->rows[0].worker_pid, WORKER, "worker pid");
	ASSERT_EQ(f->rows[2].forwards, 1, "one forward");
	fixture_teardown(f);
}

/* Bytes split anywhere, and the worker's response joined with nothing. */
static void test_split_syscalls(void)
{
	struct net net, *n = &net;
	struct fixture *f = setup(true, n);
	char *req = strdup(request("/generate", "split-1", gen_body));
	size_t len = strlen(req);

	for (size_t i = 0; i < len; i += 7) {
		char piece[8] = {};

		memcpy(piece, req + i, i + 7 <= len ? 7 : len - i);
		gen_read_at(&n->client, 1 + i * 0.001, piece);
	}
	gen_write_at(&n->fwd, 5, req);
	gen_read_at(&n->fwd, 9, response(200, gen_resp));
	gen_write_at(&n->client, 10, response(200, gen_resp));
	fixture_tick(f, 1000 * MS);
	ASSERT_EQ(f->nrows, 1, "one row");
	ASSERT_STREQ(f->rows[0].req_id, "split-1", "x-request-id wins over body rid");
	ASSERT_STREQ(f->rows[0].rid_source, "header", "rid source");
	ASSERT_EQ(f->rows[0].arrival_time, 1 * MS + 1000, "arrival is the first piece");
	free(req);
	fixture_teardown(f);
}

/* Started in the middle: a body tail and a response with no request. */
static void test_midstream_start(void)
{
	struct net net, *n = &net;
	struct fixture *f = setup(true, n);
	const struct collector_stats *st = collector_stats(f->col);

	gen_read_at(&n->client, 1, "ns\":8},\"rid\":\"old\"}");
	gen_read_at(&n->fwd, 2, response(200, gen_resp));
	one_request(n, 10, "new");
	fixture_tick(f, 1000 * MS);
	ASSERT_EQ(f->nrows, 1, "only the whole request is a row");
	ASSERT_STREQ(f->rows[0].req_id, "new", "the next request boundary");
	ASSERT_TRUE(st->skipped_bytes > 0, "skipped bytes counted");
	ASSERT_EQ(st->midstream_requests, 1, "response without request counted");
	fixture_teardown(f);
}

/* Retry: 503 from one worker, then 200 from another, same id. */
static void test_retry(void)
{
	struct net net, *n = &net;
	struct fixture *f = setup(true, n);
	const char *body = gen_body;

	gen_read_at(&n->client, 1, request("/generate", "rt", body));
	gen_write_at(&n->fwd, 2, request("/generate", "rt", body));
	gen_read_at(&n->wk, 3, request("/generate", "rt", body));
	gen_write_at(&n->wk, 4, response(503, "{\"error\":{\"message\":\"busy\"}}"));
	gen_read_at(&n->fwd, 5, response(503, "{\"error\":{\"message\":\"busy\"}}"));
	gen_write_at(&n->fwd2, 6, request("/generate", "rt", body));
	gen_read_at(&n->wk2, 7, request("/generate", "rt", body));
	gen_write_at(&n->wk2, 20, response(200, gen_resp));
	gen_read_at(&n->fwd2, 21, response(200, gen_resp));
	gen_write_at(&n->client, 22, response(200, gen_resp));
	fixture_tick(f, 1000 * MS);
	ASSERT_EQ(f->nrows, 1, "one row for a retried request");
	ASSERT_EQ(f->rows[0].forwards, 2, "two forwards");
	ASSERT_STREQ(f->rows[0].host, "127.0.0.1:30002", "host = the worker that answered");
	ASSERT_EQ(f->rows[0].worker_pid, WORKER2, "its pid");
	ASSERT_EQ(f->rows[0].router_send_time, 6 * MS, "send time of the last forward");
	ASSERT_EQ(f->rows[0].success, 1, "final answer 200");
	fixture_teardown(f);
}

/* An error answered to the client. */
static void test_error_status(void)
{
	struct net net, *n = &net;
	struct fixture *f = setup(true, n);

	gen_read_at(&n->client, 1, request("/generate", "e1", gen_body));
	gen_write_at(&n->client, 2, response(503, "{\"error\":{\"message\":\"no workers\"}}"));
	fixture_tick(f, 1000 * MS);
	ASSERT_EQ(f->nrows, 1, "row");
	ASSERT_EQ(f->rows[0].success, 0, "not a success");
	ASSERT_TRUE(strstr(f->rows[0].error, "503") && strstr(f->rows[0].error, "no workers"),
		    "status and message in error");
	ASSERT_STREQ(f->rows[0].notes, "no forward seen", "says why host is empty");
	fixture_teardown(f);
}

static void chunk(char *out, const char *data, const char *tail)
{
	sprintf(out, "%zx\r\n%s\r\n%s", strlen(data), data, tail);
}

/* A streamed /generate (rid s1) through router and worker, up to its
 * first event (1 token) reaching the client at 10.6 ms. */
static void stream_open(struct net *n)
{
	const char *body = "{\"text\":\"a b c\",\"sampling_params\":{\"max_new_tokens\":2},\"stream\":true,\"rid\":\"s1\"}";
	const char *head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
	char c1[256];

	chunk(c1, "data: {\"text\":\"x\",\"meta_info\":{\"id\":\"s1\",\"completion_tokens\":1}}\n\n", "");
	gen_read_at(&n->client, 1, request("/generate", NULL, body));
	gen_write_at(&n->fwd, 2, request("/generate", NULL, body));
	gen_read_at(&n->wk, 3, request("/generate", NULL, body));
	gen_write_at(&n->wk, 4, head);
	gen_read_at(&n->fwd, 4.5, head);
	gen_write_at(&n->client, 4.6, head);
	gen_write_at(&n->wk, 10, c1);
	gen_read_at(&n->fwd, 10.5, c1);
	gen_write_at(&n->client, 10.6, c1);
}

/* A native stream's last event may repeat the count with no new token
 * (smg ends SGLang streams so): it adds nothing. It counted one, 257 of
 * 256 tokens, whenever it came in a call of its own rather than held. */
static void test_native_repeat_count(void)
{
	struct net net, *n = &net;
	struct fixture *f = setup(true, n);
	char c2[256], c3[256], c4[256];

	chunk(c2, "data: {\"text\":\"x y\",\"meta_info\":{\"id\":\"s1\",\"completion_tokens\":2}}\n\n", "");
	chunk(c3, "data: {\"text\":\"x y\",\"meta_info\":{\"id\":\"s1\",\"completion_tokens\":2,"
		  "\"finish_reason\":{\"type\":\"length\"}}}\n\n", "");
	chunk(c4, "data: [DONE]\n\n", "0\r\n\r\n");
	stream_open(n);
	gen_write_at(&n->wk, 20, c2);
	gen_read_at(&n->fwd, 20.5, c2);
	gen_write_at(&n->client, 20.6, c2);
	gen_write_at(&n->wk, 21, c3);
	gen_read_at(&n->fwd, 21.5, c3);
	gen_write_at(&n->client, 21.6, c3);
	gen_write_at(&n->wk, 22, c4);
	gen_read_at(&n->fwd, 22.5, c4);
	gen_write_at(&n->client, 23, c4);
	fixture_tick(f, 1000 * MS);
	ASSERT_EQ(f->nrows, 1, "row");
	ASSERT_EQ(f->rows[0].output_tokens_from_trace, 2, "the repeated count adds no token");
	ASSERT_EQ(f->rows[0].actual_output_tokens, 2, "meta_info of the last event");
	fixture_teardown(f);
}

/* SSE: first token = first data event the worker wrote. */
static void test_streaming(void)
{
	struct net net, *n = &net;
	struct fixture *f = setup(true, n);
	char c2[256], c3[256];

	chunk(c2, "data: {\"text\":\"x y\",\"meta_info\":{\"id\":\"s1\",\"completion_tokens\":2}}\n\n", "");
	chunk(c3, "data: [DONE]\n\n", "0\r\n\r\n");

	stream_open(n);
	gen_write_at(&n->wk, 20, c2);
	gen_write_at(&n->wk, 21, c3);
	gen_read_at(&n->fwd, 21.5, c2);
	gen_read_at(&n->fwd, 21.6, c3);
	gen_write_at(&n->client, 22, c2);
	gen_write_at(&n->client, 23, c3);
	fixture_tick(f, 1000 * MS);
	ASSERT_EQ(f->nrows, 1, "row");
	ASSERT_EQ(f->rows[0].server_first_token_time, 10 * MS, "first SSE data event the worker wrote");
	ASSERT_EQ(f->rows[0].router_first_token_time, 10 * MS + 600000, "first event to the client");
	ASSERT_EQ(f->rows[0].output_tokens_from_trace, 2, "two events with text, [DONE] not counted");
	ASSERT_EQ(f->rows[0].actual_output_tokens, 2, "meta_info of the last event");
	ASSERT_EQ(f->rows[0].has_generated_text, 1, "text seen");
	ASSERT_EQ(f->rows[0].stream, 1, "stream");
	ASSERT_EQ(f->rows[0].finish_time, 23 * MS + 1000, "finish = last write exit");
	fixture_teardown(f);
}

/* Node level: no router, the worker's requests are the rows. */
static void test_node_level(void)
{
	struct net net, *n = &net;
	struct fixture *f = setup(false, n);
	struct gen_conn node = gen_conn(&f->gen, WORKER, 7, 30001, 6000);

	gen_at(&f->gen, MS / 2);
	gen_accept(&node);
	gen_read_at(&node, 1, request("/v1/completions", NULL,
	   "{\"model\":\"m\",\"prompt\":\"one two\",\"max_tokens\":3}"));
	gen_write_at(&node, 9, response(200,
	   "{\"id\":\"cmpl-9\",\"choices\":[{\"text\":\"hi\"}],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3,\"total_tokens\":5}}"));
	fixture_tick(f, 1000 * MS);
	ASSERT_EQ(f->nrows, 1, "row");
	ASSERT_STREQ(f->rows[0].level, "node", "node level");
	ASSERT_STREQ(f->rows[0].req_id, "cmpl-9", "SGLang's id from the response");
	ASSERT_STREQ(f->rows[0].host, "127.0.0.1:30001", "host = the worker itself");
	ASSERT_EQ(f->rows[0].arrival_time, f->rows[0].server_created_time, "arrival = server arrival");
	ASSERT_EQ(f->rows[0].actual_total_tokens, 5, "usage");
	ASSERT_EQ(f->rows[0].input_length, 2, "prompt words");
	fixture_teardown(f);
}

/* Health checks and metrics are not requests; fd reuse starts over. */
static void test_ignored_and_fd_reuse(void)
{
	struct net net, *n = &net;
	struct fixture *f = setup(true, n);
	const struct collector_stats *st = collector_stats(f->col);
	struct gen_conn reuse = gen_conn(&f->gen, ROUTER, 11, 5557, 30001);

	gen_write_at(&n->fwd, 1, "GET /health HTTP/1.1\r\nhost: x\r\n\r\n");
	gen_read_at(&n->fwd, 2, response(200, "{}"));
	/* fd 11 now names a new socket without a close seen */
	gen_write_at(&reuse, 3, "GET /get_load HTTP/1.1\r\nhost: x\r\n\r\n");
	gen_read_at(&reuse, 4, response(200, "{}"));
	fixture_tick(f, 1000 * MS);
	ASSERT_EQ(f->nrows, 0, "no rows for health checks");
	ASSERT_EQ(st->ignored_requests, 2, "counted as ignored");
	ASSERT_EQ(st->fd_reused, 1, "fd reuse counted");
	ASSERT_EQ(fixture_corr_stats(f)->live, 0, "nothing held");
	fixture_teardown(f);
}

/* Client closes before the answer: the row says so. */
static void test_client_abort(void)
{
	struct net net, *n = &net;
	struct fixture *f = setup(true, n);

	gen_read_at(&n->client, 1, request("/generate", "ab", gen_body));
	gen_at(&f->gen, 5 * MS);
	gen_eof(&n->client);
	gen_close(&n->client);
	fixture_tick(f, 1000 * MS);
	ASSERT_EQ(f->nrows, 1, "aborted request is a row");
	ASSERT_STREQ(f->rows[0].error, "client_aborted", "error");
	ASSERT_EQ(f->rows[0].success, 0, "not a success");
	ASSERT_EQ(collector_stats(f->col)->client_aborts, 1, "counted");
	fixture_teardown(f);
}

/* No ids at all: forwards are matched by prompt fingerprint. */
static void test_fingerprint_match(void)
{
	struct net net, *n = &net;
	struct fixture *f = setup(true, n);
	struct gen_conn client2 = gen_conn(&f->gen, ROUTER, 20, 30000, 40001);
	const char *b1 = "{\"text\":\"alpha\",\"sampling_params\":{\"max_new_tokens\":4}}";
	const char *b2 = "{\"text\":\"beta gamma\",\"sampling_params\":{\"max_new_tokens\":4}}";

	gen_read_at(&n->client, 1, request("/generate", NULL, b1));
	gen_read_at(&client2, 2, request("/generate", NULL, b2));
	/* forwards written in the other order, to different workers */
	gen_write_at(&n->fwd2, 3, request("/generate", NULL, b2));
	gen_write_at(&n->fwd, 4, request("/generate", NULL, b1));
	gen_read_at(&n->fwd2, 8, response(200, gen_resp));
	gen_read_at(&n->fwd, 9, response(200, gen_resp));
	gen_write_at(&n->client, 10, response(200, "{\"text\":\"\"}"));
	gen_write_at(&client2, 11, response(200, gen_resp));
	fixture_tick(f, 1000 * MS);
	ASSERT_EQ(f->nrows, 2, "two rows");
	ASSERT_STREQ(f->rows[0].host, "127.0.0.1:30001", "alpha went to 30001");
	ASSERT_STREQ(f->rows[1].host, "127.0.0.1:30002", "beta went to 30002");
	ASSERT_EQ(f->rows[0].has_generated_text, 0, "empty text is no text");
	ASSERT_STREQ(f->rows[0].rid_source, "assigned", "servetrace assigned an id");
	fixture_teardown(f);
}

/* Truncated capture of a body: framing survives, fields may not. */
static void test_truncated_body(void)
{
	struct net net, *n = &net;
	struct fixture *f = setup(true, n);
	char *req = request("/generate", "tr", gen_body);
	size_t len = strlen(req);
	char cut[4096];

	memcpy(cut, req, len - 20);
	cut[len - 20] = 0;
	gen_at(&f->gen, 1 * MS);
	gen_data(&n->client, DIR_READ, cut, (long)len);
	gen_write_at(&n->client, 2, response(200, gen_resp));
	gen_read_at(&n->client, 3, request("/generate", "tr2", gen_body));
	gen_write_at(&n->client, 4, response(200, gen_resp));
	fixture_tick(f, 1000 * MS);
	ASSERT_EQ(f->nrows, 2, "both requests, framing kept");
	ASSERT_STREQ(f->rows[1].req_id, "tr2", "second parsed");
	ASSERT_EQ(f->rows[0].expected_output_length, -1, "field unknown, left empty");
	ASSERT_TRUE(collector_stats(f->col)->body_truncated >= 1, "truncation counted");
	fixture_teardown(f);
}

/* Process exit ends its connections; flush writes in-flight requests. */
static void test_exit_and_flush(void)
{
	struct net net, *n = &net;
	struct fixture *f = setup(true, n);

	gen_read_at(&n->client, 1, request("/generate", "fl", gen_body));
	gen_write_at(&n->fwd, 2, request("/generate", "fl", gen_body));
	gen_read_at(&n->wk, 3, request("/generate", "fl", gen_body));
	gen_at(&f->gen, 4 * MS);
	gen_proc_exit(&f->gen, WORKER);
	collector_flush(f->col);
	correlator_flush(f->corr);
	ASSERT_EQ(f->nrows, 1, "in-flight request written at exit");
	ASSERT_STREQ(f->rows[0].error, "in_flight_at_exit", "flagged");
	ASSERT_EQ(collector_role(f->col, WORKER), ROLE_NONE, "exited process forgotten");
	fixture_teardown(f);
}

/* n > 1: SGLang ids the samples itself, the row says why hops are missing. */
static void test_n_samples_flagged(void)
{
	struct net net, *n = &net;
	struct fixture *f = setup(false, n);
	struct gen_conn node = gen_conn(&f->gen, WORKER, 7, 30001, 6000);
	const char *body = "{\"text\":\"a b\",\"sampling_params\":{\"max_new_tokens\":2,\"n\":3}}";

	gen_read_at(&node, 1, request("/generate", "nn", body));
	gen_write_at(&node, 9, response(200, "[{\"text\":\"x\"}]"));
	fixture_tick(f, 1000 * MS);
	ASSERT_EQ(f->nrows, 1, "row");
	ASSERT_STREQ(f->rows[0].notes, "n>1: samples have their own ids inside SGLang", "flagged");
	fixture_teardown(f);
}

void test_area_collector(void)
{
	RUN_SUBTEST(test_router_keepalive);
	RUN_SUBTEST(test_split_syscalls);
	RUN_SUBTEST(test_midstream_start);
	RUN_SUBTEST(test_retry);
	RUN_SUBTEST(test_error_status);
	RUN_SUBTEST(test_streaming);
	RUN_SUBTEST(test_native_repeat_count);
	RUN_SUBTEST(test_node_level);
	RUN_SUBTEST(test_ignored_and_fd_reuse);
	RUN_SUBTEST(test_client_abort);
	RUN_SUBTEST(test_fingerprint_match);
	RUN_SUBTEST(test_truncated_body);
	RUN_SUBTEST(test_exit_and_flush);
	RUN_SUBTEST(test_n_samples_flagged);
}

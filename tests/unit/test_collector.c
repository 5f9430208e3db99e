// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Collector + correlator fed hand-made event streams: a router (tgid 100)
 * in front of workers (tgid 200, 201), clients not traced. */
#include <stdlib.h>
#include <string.h>
#include "conn/collector.h"
#include "test.h"

#define ROUTER 100
#define WORKER 200
#define WORKER2 201
#define MS 1000000ULL

static struct timeline_row rows[32];
static int nrows;

static void sink(void *ctx, const struct timeline_row *r)
{
	if (nrows < 32)
		rows[nrows++] = *r;
}

static struct collector *new_collector(bool have_router)
{
	struct collector_opts o = {
		.body_limit = 65536,
		.max_conns = 64,
		.corr = {
			.have_router = have_router,
			.linger_ns = 100 * MS,
			.orphan_ns = 1000 * MS,
			.idle_ns = 60000 * MS,
			.max_exchanges = 1000,
			.max_hop_records = 100,
			.emit = sink,
		},
	};
	struct collector *col = collector_new(&o);

	nrows = 0;
	memset(rows, 0, sizeof(rows));
	collector_set_role(col, ROUTER, ROLE_ROUTER);
	collector_set_role(col, WORKER, ROLE_WORKER);
	collector_set_role(col, WORKER2, ROLE_WORKER);
	correlator_set_current(collector_correlator(col));
	return col;
}

static void ep(struct sock_endpoint *e, uint16_t port)
{
	memset(e, 0, sizeof(*e));
	e->family = 2;
	e->addr[0] = 127;
	e->addr[3] = 1;
	e->port = port;
}

/* One syscall on (tgid, fd) between ports lport <-> pport, at t ms. */
static void ev(struct collector *col, uint32_t type, uint32_t tgid, int fd,
	       uint64_t sock, uint16_t lport, uint16_t pport, int dir,
	       double t_ms, const char *data, long total)
{
	static char buf[sizeof(struct sock_event) + 65536];
	struct sock_event *e = (struct sock_event *)buf;
	size_t n = data ? strlen(data) : 0;

	memset(e, 0, sizeof(*e));
	e->type = type;
	e->tgid = tgid;
	e->tid = tgid;
	e->fd = fd;
	e->sock_id = sock;
	ep(&e->local, lport);
	ep(&e->peer, pport);
	e->dir = dir;
	e->ts_enter = (uint64_t)(t_ms * MS);
	e->ts_exit = e->ts_enter + 1000;
	e->ret = total >= 0 ? total : (long)n;
	e->cap_len = n;
	e->truncated = e->ret > (long)n;
	memcpy(buf + sizeof(*e), data ? data : "", n);
	collector_handle(col, e, buf + sizeof(*e));
}

#define R DIR_READ
#define W DIR_WRITE

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
static void one_request(struct collector *col, double t, const char *id)
{
	char body[512], resp[512];

	snprintf(body, sizeof(body), "{\"text\":\"the quick brown fox\",\"sampling_params\":{\"max_new_tokens\":8},\"rid\":\"%s\"}", id);
	snprintf(resp, sizeof(resp), "{\"text\":\"a b\",\"meta_info\":{\"id\":\"%s\",\"prompt_tokens\":5,\"completion_tokens\":8}}", id);
	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, R, t, request("/generate", NULL, body), -1);
	ev(col, EV_DATA, ROUTER, 11, 2, 5555, 30001, W, t + 1, request("/generate", NULL, body), -1);
	ev(col, EV_DATA, WORKER, 7, 3, 30001, 5555, R, t + 2, request("/generate", NULL, body), -1);
	ev(col, EV_DATA, WORKER, 7, 3, 30001, 5555, W, t + 50, response(200, resp), -1);
	ev(col, EV_DATA, ROUTER, 11, 2, 5555, 30001, R, t + 51, response(200, resp), -1);
	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, W, t + 52, response(200, resp), -1);
}

static void test_router_keepalive(void)
{
	struct collector *col = new_collector(true);

	one_request(col, 10, "r1");
	one_request(col, 100, "r2");
	one_request(col, 200, "r3");
	collector_tick(col, 1000 * MS);
	ASSERT_EQ(nrows, 3, "one row per request");
	ASSERT_STREQ(rows[0].req_id, "r1", "id from body rid");
	ASSERT_STREQ(rows[1].req_id, "r2", "second on the same connections");
	ASSERT_STREQ(rows[0].host, "127.0.0.1:30001", "host is the worker");
	ASSERT_EQ(rows[0].arrival_time, 10 * MS + 1000, "arrival = router read exit");
	ASSERT_EQ(rows[0].router_send_time, 11 * MS, "send = router write enter");
	ASSERT_EQ(rows[0].server_created_time, 12 * MS + 1000, "worker read exit");
	ASSERT_EQ(rows[0].finish_time, 62 * MS + 1000, "last byte to client, exit");
	ASSERT_EQ(rows[0].input_length, 4, "prompt words");
	ASSERT_EQ(rows[0].expected_output_length, 8, "max_new_tokens");
	ASSERT_EQ(rows[0].actual_output_tokens, 8, "completion tokens");
	ASSERT_EQ(rows[0].actual_total_tokens, 13, "total tokens");
	ASSERT_EQ(rows[0].success, 1, "2xx is success");
	ASSERT_EQ(rows[0].worker_pid, WORKER, "worker pid");
	ASSERT_EQ(rows[2].forwards, 1, "one forward");
	collector_free(col);
}

/* Bytes split anywhere, and the worker's response joined with nothing. */
static void test_split_syscalls(void)
{
	struct collector *col = new_collector(true);
	char *req = strdup(request("/generate", "split-1", gen_body));
	size_t n = strlen(req);

	for (size_t i = 0; i < n; i += 7) {
		char piece[8] = {};

		memcpy(piece, req + i, i + 7 <= n ? 7 : n - i);
		ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, R, 1 + i * 0.001, piece, -1);
	}
	ev(col, EV_DATA, ROUTER, 11, 2, 5555, 30001, W, 5, req, -1);
	ev(col, EV_DATA, ROUTER, 11, 2, 5555, 30001, R, 9, response(200, gen_resp), -1);
	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, W, 10, response(200, gen_resp), -1);
	collector_tick(col, 1000 * MS);
	ASSERT_EQ(nrows, 1, "one row");
	ASSERT_STREQ(rows[0].req_id, "split-1", "x-request-id wins over body rid");
	ASSERT_STREQ(rows[0].rid_source, "header", "rid source");
	ASSERT_EQ(rows[0].arrival_time, 1 * MS + 1000, "arrival is the first piece");
	free(req);
	collector_free(col);
}

/* Started in the middle: a body tail and a response with no request. */
static void test_midstream_start(void)
{
	struct collector *col = new_collector(true);
	const struct collector_stats *st = collector_stats(col);

	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, R, 1, "ns\":8},\"rid\":\"old\"}", -1);
	ev(col, EV_DATA, ROUTER, 11, 2, 5555, 30001, R, 2, response(200, gen_resp), -1);
	one_request(col, 10, "new");
	collector_tick(col, 1000 * MS);
	ASSERT_EQ(nrows, 1, "only the whole request is a row");
	ASSERT_STREQ(rows[0].req_id, "new", "the next request boundary");
	ASSERT_TRUE(st->skipped_bytes > 0, "skipped bytes counted");
	ASSERT_EQ(st->midstream_requests, 1, "response without request counted");
	collector_free(col);
}

/* Retry: 503 from one worker, then 200 from another, same id. */
static void test_retry(void)
{
	struct collector *col = new_collector(true);
	const char *body = gen_body;

	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, R, 1, request("/generate", "rt", body), -1);
	ev(col, EV_DATA, ROUTER, 11, 2, 5555, 30001, W, 2, request("/generate", "rt", body), -1);
	ev(col, EV_DATA, WORKER, 7, 3, 30001, 5555, R, 3, request("/generate", "rt", body), -1);
	ev(col, EV_DATA, WORKER, 7, 3, 30001, 5555, W, 4, response(503, "{\"error\":{\"message\":\"busy\"}}"), -1);
	ev(col, EV_DATA, ROUTER, 11, 2, 5555, 30001, R, 5, response(503, "{\"error\":{\"message\":\"busy\"}}"), -1);
	ev(col, EV_DATA, ROUTER, 12, 4, 5556, 30002, W, 6, request("/generate", "rt", body), -1);
	ev(col, EV_DATA, WORKER2, 8, 5, 30002, 5556, R, 7, request("/generate", "rt", body), -1);
	ev(col, EV_DATA, WORKER2, 8, 5, 30002, 5556, W, 20, response(200, gen_resp), -1);
	ev(col, EV_DATA, ROUTER, 12, 4, 5556, 30002, R, 21, response(200, gen_resp), -1);
	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, W, 22, response(200, gen_resp), -1);
	collector_tick(col, 1000 * MS);
	ASSERT_EQ(nrows, 1, "one row for a retried request");
	ASSERT_EQ(rows[0].forwards, 2, "two forwards");
	ASSERT_STREQ(rows[0].host, "127.0.0.1:30002", "host = the worker that answered");
	ASSERT_EQ(rows[0].worker_pid, WORKER2, "its pid");
	ASSERT_EQ(rows[0].router_send_time, 6 * MS, "send time of the last forward");
	ASSERT_EQ(rows[0].success, 1, "final answer 200");
	collector_free(col);
}

/* An error answered to the client. */
static void test_error_status(void)
{
	struct collector *col = new_collector(true);

	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, R, 1, request("/generate", "e1", gen_body), -1);
	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, W, 2,
	   response(503, "{\"error\":{\"message\":\"no workers\"}}"), -1);
	collector_tick(col, 1000 * MS);
	ASSERT_EQ(nrows, 1, "row");
	ASSERT_EQ(rows[0].success, 0, "not a success");
	ASSERT_TRUE(strstr(rows[0].error, "503") && strstr(rows[0].error, "no workers"),
		    "status and message in error");
	ASSERT_STREQ(rows[0].notes, "no forward seen", "says why host is empty");
	collector_free(col);
}

static void chunk(char *out, const char *data, const char *tail)
{
	sprintf(out, "%zx\r\n%s\r\n%s", strlen(data), data, tail);
}

/* SSE: first token = first data event the worker wrote. */
static void test_streaming(void)
{
	struct collector *col = new_collector(true);
	const char *body = "{\"text\":\"a b c\",\"sampling_params\":{\"max_new_tokens\":2},\"stream\":true,\"rid\":\"s1\"}";
	const char *head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
	char c1[256], c2[256], c3[256];

	chunk(c1, "data: {\"text\":\"x\",\"meta_info\":{\"id\":\"s1\",\"completion_tokens\":1}}\n\n", "");
	chunk(c2, "data: {\"text\":\"x y\",\"meta_info\":{\"id\":\"s1\",\"completion_tokens\":2}}\n\n", "");
	chunk(c3, "data: [DONE]\n\n", "0\r\n\r\n");

	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, R, 1, request("/generate", NULL, body), -1);
	ev(col, EV_DATA, ROUTER, 11, 2, 5555, 30001, W, 2, request("/generate", NULL, body), -1);
	ev(col, EV_DATA, WORKER, 7, 3, 30001, 5555, R, 3, request("/generate", NULL, body), -1);
	ev(col, EV_DATA, WORKER, 7, 3, 30001, 5555, W, 4, head, -1);
	ev(col, EV_DATA, ROUTER, 11, 2, 5555, 30001, R, 4.5, head, -1);
	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, W, 4.6, head, -1);
	ev(col, EV_DATA, WORKER, 7, 3, 30001, 5555, W, 10, c1, -1);
	ev(col, EV_DATA, ROUTER, 11, 2, 5555, 30001, R, 10.5, c1, -1);
	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, W, 10.6, c1, -1);
	ev(col, EV_DATA, WORKER, 7, 3, 30001, 5555, W, 20, c2, -1);
	ev(col, EV_DATA, WORKER, 7, 3, 30001, 5555, W, 21, c3, -1);
	ev(col, EV_DATA, ROUTER, 11, 2, 5555, 30001, R, 21.5, c2, -1);
	ev(col, EV_DATA, ROUTER, 11, 2, 5555, 30001, R, 21.6, c3, -1);
	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, W, 22, c2, -1);
	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, W, 23, c3, -1);
	collector_tick(col, 1000 * MS);
	ASSERT_EQ(nrows, 1, "row");
	ASSERT_EQ(rows[0].server_first_token_time, 10 * MS, "first SSE data event the worker wrote");
	ASSERT_EQ(rows[0].router_first_token_time, 10 * MS + 600000, "first event to the client");
	ASSERT_EQ(rows[0].output_tokens_from_trace, 2, "two events with text, [DONE] not counted");
	ASSERT_EQ(rows[0].actual_output_tokens, 2, "meta_info of the last event");
	ASSERT_EQ(rows[0].has_generated_text, 1, "text seen");
	ASSERT_EQ(rows[0].stream, 1, "stream");
	ASSERT_EQ(rows[0].finish_time, 23 * MS + 1000, "finish = last write exit");
	collector_free(col);
}

/* Node level: no router, the worker's requests are the rows. */
static void test_node_level(void)
{
	struct collector *col = new_collector(false);

	ev(col, EV_ACCEPT, WORKER, 7, 3, 30001, 6000, R, 0.5, NULL, 7);
	ev(col, EV_DATA, WORKER, 7, 3, 30001, 6000, R, 1, request("/v1/completions", NULL,
	   "{\"model\":\"m\",\"prompt\":\"one two\",\"max_tokens\":3}"), -1);
	ev(col, EV_DATA, WORKER, 7, 3, 30001, 6000, W, 9, response(200,
	   "{\"id\":\"cmpl-9\",\"choices\":[{\"text\":\"hi\"}],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3,\"total_tokens\":5}}"), -1);
	collector_tick(col, 1000 * MS);
	ASSERT_EQ(nrows, 1, "row");
	ASSERT_STREQ(rows[0].level, "node", "node level");
	ASSERT_STREQ(rows[0].req_id, "cmpl-9", "SGLang's id from the response");
	ASSERT_STREQ(rows[0].host, "127.0.0.1:30001", "host = the worker itself");
	ASSERT_EQ(rows[0].arrival_time, rows[0].server_created_time, "arrival = server arrival");
	ASSERT_EQ(rows[0].actual_total_tokens, 5, "usage");
	ASSERT_EQ(rows[0].input_length, 2, "prompt words");
	collector_free(col);
}

/* Health checks and metrics are not requests; fd reuse starts over. */
static void test_ignored_and_fd_reuse(void)
{
	struct collector *col = new_collector(true);
	const struct collector_stats *st = collector_stats(col);

	ev(col, EV_DATA, ROUTER, 11, 2, 5555, 30001, W, 1, "GET /health HTTP/1.1\r\nhost: x\r\n\r\n", -1);
	ev(col, EV_DATA, ROUTER, 11, 2, 5555, 30001, R, 2, response(200, "{}"), -1);
	/* fd 11 now names a new socket without a close seen */
	ev(col, EV_DATA, ROUTER, 11, 9, 5557, 30001, W, 3, "GET /get_load HTTP/1.1\r\nhost: x\r\n\r\n", -1);
	ev(col, EV_DATA, ROUTER, 11, 9, 5557, 30001, R, 4, response(200, "{}"), -1);
	collector_tick(col, 1000 * MS);
	ASSERT_EQ(nrows, 0, "no rows for health checks");
	ASSERT_EQ(st->ignored_requests, 2, "counted as ignored");
	ASSERT_EQ(st->fd_reused, 1, "fd reuse counted");
	ASSERT_EQ(correlator_stats(collector_correlator(col))->live, 0, "nothing held");
	collector_free(col);
}

/* Client closes before the answer: the row says so. */
static void test_client_abort(void)
{
	struct collector *col = new_collector(true);

	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, R, 1, request("/generate", "ab", gen_body), -1);
	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, R, 5, NULL, 0);	/* EOF */
	ev(col, EV_CLOSE, ROUTER, 10, 1, 30000, 40000, R, 6, NULL, 0);
	collector_tick(col, 1000 * MS);
	ASSERT_EQ(nrows, 1, "aborted request is a row");
	ASSERT_STREQ(rows[0].error, "client_aborted", "error");
	ASSERT_EQ(rows[0].success, 0, "not a success");
	ASSERT_EQ(collector_stats(col)->client_aborts, 1, "counted");
	collector_free(col);
}

/* No ids at all: forwards are matched by prompt fingerprint. */
static void test_fingerprint_match(void)
{
	struct collector *col = new_collector(true);
	const char *b1 = "{\"text\":\"alpha\",\"sampling_params\":{\"max_new_tokens\":4}}";
	const char *b2 = "{\"text\":\"beta gamma\",\"sampling_params\":{\"max_new_tokens\":4}}";

	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, R, 1, request("/generate", NULL, b1), -1);
	ev(col, EV_DATA, ROUTER, 20, 6, 30000, 40001, R, 2, request("/generate", NULL, b2), -1);
	/* forwards written in the other order, to different workers */
	ev(col, EV_DATA, ROUTER, 12, 4, 5556, 30002, W, 3, request("/generate", NULL, b2), -1);
	ev(col, EV_DATA, ROUTER, 11, 2, 5555, 30001, W, 4, request("/generate", NULL, b1), -1);
	ev(col, EV_DATA, ROUTER, 12, 4, 5556, 30002, R, 8, response(200, gen_resp), -1);
	ev(col, EV_DATA, ROUTER, 11, 2, 5555, 30001, R, 9, response(200, gen_resp), -1);
	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, W, 10, response(200, "{\"text\":\"\"}"), -1);
	ev(col, EV_DATA, ROUTER, 20, 6, 30000, 40001, W, 11, response(200, gen_resp), -1);
	collector_tick(col, 1000 * MS);
	ASSERT_EQ(nrows, 2, "two rows");
	ASSERT_STREQ(rows[0].host, "127.0.0.1:30001", "alpha went to 30001");
	ASSERT_STREQ(rows[1].host, "127.0.0.1:30002", "beta went to 30002");
	ASSERT_EQ(rows[0].has_generated_text, 0, "empty text is no text");
	ASSERT_STREQ(rows[0].rid_source, "assigned", "servetrace assigned an id");
	collector_free(col);
}

/* Truncated capture of a body: framing survives, fields may not. */
static void test_truncated_body(void)
{
	struct collector *col = new_collector(true);
	char *req = request("/generate", "tr", gen_body);
	size_t n = strlen(req);
	char cut[4096];

	memcpy(cut, req, n - 20);
	cut[n - 20] = 0;
	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, R, 1, cut, (long)n);
	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, W, 2, response(200, gen_resp), -1);
	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, R, 3, request("/generate", "tr2", gen_body), -1);
	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, W, 4, response(200, gen_resp), -1);
	collector_tick(col, 1000 * MS);
	ASSERT_EQ(nrows, 2, "both requests, framing kept");
	ASSERT_STREQ(rows[1].req_id, "tr2", "second parsed");
	ASSERT_EQ(rows[0].expected_output_length, -1, "field unknown, left empty");
	ASSERT_TRUE(collector_stats(col)->body_truncated >= 1, "truncation counted");
	collector_free(col);
}

/* Process exit ends its connections; flush writes in-flight requests. */
static void test_exit_and_flush(void)
{
	struct collector *col = new_collector(true);

	ev(col, EV_DATA, ROUTER, 10, 1, 30000, 40000, R, 1, request("/generate", "fl", gen_body), -1);
	ev(col, EV_DATA, ROUTER, 11, 2, 5555, 30001, W, 2, request("/generate", "fl", gen_body), -1);
	ev(col, EV_DATA, WORKER, 7, 3, 30001, 5555, R, 3, request("/generate", "fl", gen_body), -1);
	ev(col, EV_PROC_EXIT, WORKER, -1, 0, 0, 0, R, 4, NULL, 0);
	collector_flush(col);
	ASSERT_EQ(nrows, 1, "in-flight request written at exit");
	ASSERT_STREQ(rows[0].error, "in_flight_at_exit", "flagged");
	ASSERT_EQ(collector_role(col, WORKER), ROLE_NONE, "exited process forgotten");
	collector_free(col);
}

/* n > 1: SGLang ids the samples itself, the row says why hops are missing. */
static void test_n_samples_flagged(void)
{
	struct collector *col = new_collector(false);
	const char *body = "{\"text\":\"a b\",\"sampling_params\":{\"max_new_tokens\":2,\"n\":3}}";

	ev(col, EV_DATA, WORKER, 7, 3, 30001, 6000, R, 1, request("/generate", "nn", body), -1);
	ev(col, EV_DATA, WORKER, 7, 3, 30001, 6000, W, 9, response(200, "[{\"text\":\"x\"}]"), -1);
	collector_tick(col, 1000 * MS);
	ASSERT_EQ(nrows, 1, "row");
	ASSERT_STREQ(rows[0].notes, "n>1: samples have their own ids inside SGLang", "flagged");
	collector_free(col);
}

void test_area_collector(void)
{
	RUN_SUBTEST(test_router_keepalive);
	RUN_SUBTEST(test_split_syscalls);
	RUN_SUBTEST(test_midstream_start);
	RUN_SUBTEST(test_retry);
	RUN_SUBTEST(test_error_status);
	RUN_SUBTEST(test_streaming);
	RUN_SUBTEST(test_node_level);
	RUN_SUBTEST(test_ignored_and_fd_reuse);
	RUN_SUBTEST(test_client_abort);
	RUN_SUBTEST(test_fingerprint_match);
	RUN_SUBTEST(test_truncated_body);
	RUN_SUBTEST(test_exit_and_flush);
	RUN_SUBTEST(test_n_samples_flagged);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The query API on a real libmicrohttpd server on an ephemeral loopback
 * port, driven by a raw-socket client: routes, errors, limits, and a
 * stalled client that must not hold up anyone else. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "query/query_server.h"
#include "test.h"
#include "timeline_rows.h"

#define SEC 1000000000ULL

struct resp {
	int status;
	char ctype[96];
	char *body;
};

/* Connected to 127.0.0.1:port; reads give up after 10 s so a broken
 * server fails the test instead of hanging it. */
static int dial(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		s += w;
		n -= w;
	}
}

/* Reads to EOF (the request said Connection: close). status -1: none. */
static void read_resp(int fd, struct resp *r)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap), *hdr_end, *ct;
	ssize_t n;

	while ((n = recv(fd, buf + len, cap - len - 1, 0)) > 0) {
		len += n;
		if (cap - len < 1024)
			buf = realloc(buf, cap *= 2);
	}
	buf[len] = 0;
	r->status = -1;
	r->ctype[0] = 0;
	r->body = strdup("");
	if (sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1)
		r->status = -1;
	hdr_end = strstr(buf, "\r\n\r\n");
	if (hdr_end) {
		*hdr_end = 0;
		ct = strcasestr(buf, "\r\nContent-Type: ");
		if (ct)
			snprintf(r->ctype, sizeof(r->ctype), "%.*s", (int)strcspn(ct + 16, "\r\n"), ct + 16);
		free(r->body);
		r->body = strdup(hdr_end + 4);
	}
	free(buf);
}

static struct resp http(unsigned port, const char *method, const char *path, const char *body)
{
	struct resp r = { .status = -1 };
	char head[512];
	int fd = dial(port);

	if (fd < 0) {
		r.body = strdup("");
		return r;
	}
	snprintf(head, sizeof(head),
		 "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
		 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
		 method, path, body ? strlen(body) : 0);
	send_all(fd, head, strlen(head));
	if (body)
		send_all(fd, body, strlen(body));
	read_resp(fd, &r);
	close(fd);
	return r;
}

static const char *err_of(const struct resp *r)
{
	static char buf[128];
	cJSON *o = cJSON_Parse(r->body);

	snprintf(buf, sizeof(buf), "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "error")) ?: "(no JSON error)");
	cJSON_Delete(o);
	return buf;
}

struct fixture {
	struct trace_store *st;
	struct metrics *m;
	struct query_server *qs;
	unsigned port;
};

static int setup(struct fixture *fx, const struct query_opts *o)
{
	struct timeline_row r;
	char id[16];

	fx->st = trace_store_new(NULL);
	fx->m = metrics_new();
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "r%d", i);
		rows_make(&r, id, i % 2, (10 + i) * SEC);
		trace_store_put(fx->st, &r);
		metrics_observe(fx->m, &r);
	}
	metrics_set_counter(fx->m, "kernel_ringbuf_drops", 0);
	fx->qs = query_server_start("127.0.0.1:0", o, fx->st, fx->m);
	fx->port = fx->qs ? query_server_port(fx->qs) : 0;
	return ASSERT_TRUE(fx->qs && fx->port, "server listens on an ephemeral port");
}

static void teardown(struct fixture *fx)
{
	query_server_stop(fx->qs);
	trace_store_free(fx->st);
	metrics_free(fx->m);
}

static void test_routes(void)
{
	struct fixture fx;
	struct resp r;
	cJSON *o;

	if (!setup(&fx, NULL))
		return;
	r = http(fx.port, "GET", "/v1/traces/r1", NULL);
	ASSERT_EQ(r.status, 200, "known id");
	ASSERT_STREQ(r.ctype, "application/json", "JSON");
	o = cJSON_Parse(r.body);
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(o, "request_id")), "r1", "that trace");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(o, "node_id")), "127.0.0.1:30001", "its node");
	cJSON_Delete(o);
	free(r.body);

	r = http(fx.port, "GET", "/v1/traces/nope", NULL);
	ASSERT_EQ(r.status, 404, "unknown id");
	ASSERT_STREQ(err_of(&r), "unknown request_id", "JSON error");
	free(r.body);

	r = http(fx.port, "GET", "/v1/traces?limit=2", NULL);
	ASSERT_EQ(r.status, 200, "list");
	o = cJSON_Parse(r.body);
	ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(o, "traces")), 2, "limit=2");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "traces"), 0), "request_id")), "r4", "newest first");
	cJSON_Delete(o);
	free(r.body);

	r = http(fx.port, "GET", "/v1/traces", NULL);
	o = cJSON_Parse(r.body);
	ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(o, "traces")), 5, "no limit: all (under the default)");
	cJSON_Delete(o);
	free(r.body);

	r = http(fx.port, "GET", "/v1/traces?limit=-1", NULL);
	ASSERT_EQ(r.status, 400, "bad limit");
	free(r.body);

	r = http(fx.port, "GET", "/v1/traces/stats", NULL);
	o = cJSON_Parse(r.body);
	ASSERT_EQ(r.status, 200, "stats");
	ASSERT_EQ(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "total_requests")), 5, "total_requests");
	ASSERT_EQ(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "requests_per_node"), "127.0.0.1:30000")), 3, "requests_per_node");
	cJSON_Delete(o);
	free(r.body);

	r = http(fx.port, "GET", "/metrics", NULL);
	ASSERT_EQ(r.status, 200, "metrics");
	ASSERT_TRUE(!strncmp(r.ctype, "text/plain; version=0.0.4", 25), "exposition content type");
	ASSERT_TRUE(strstr(r.body, "servetrace_total_latency_seconds_count{worker=\"127.0.0.1:30000\",path=\"/generate\"} 3\n") != NULL, "histogram served");
	ASSERT_TRUE(strstr(r.body, "servetrace_lost_total{counter=\"kernel_ringbuf_drops\"} 0\n") != NULL, "loss counter served");
	free(r.body);

	r = http(fx.port, "GET", "/nope", NULL);
	ASSERT_EQ(r.status, 404, "unknown endpoint");
	free(r.body);
	r = http(fx.port, "DELETE", "/v1/traces/r1", NULL);
	ASSERT_EQ(r.status, 405, "wrong method");
	free(r.body);
	teardown(&fx);
}

static void test_batch(void)
{
	struct query_opts qo = { .max_body = 1024 };
	char big[2048];
	struct fixture fx;
	struct resp r;
	cJSON *o;

	if (!setup(&fx, &qo))
		return;
	r = http(fx.port, "POST", "/v1/traces/batch", "{\"request_ids\":[\"r0\",\"zz\",\"r3\"]}");
	ASSERT_EQ(r.status, 200, "batch");
	o = cJSON_Parse(r.body);
	ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(o, "traces")), 2, "two found");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "traces"), 1), "request_id")), "r3", "in the order asked");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "not_found"), 0)), "zz", "not found listed");
	cJSON_Delete(o);
	free(r.body);

	r = http(fx.port, "POST", "/v1/traces/batch", "{\"request_ids\":[");
	ASSERT_EQ(r.status, 400, "malformed JSON");
	ASSERT_TRUE(strstr(err_of(&r), "request_ids") != NULL, "says what it wants");
	free(r.body);
	r = http(fx.port, "POST", "/v1/traces/batch", "{\"request_ids\":[1,2]}");
	ASSERT_EQ(r.status, 400, "ids not strings");
	free(r.body);
	r = http(fx.port, "POST", "/v1/traces/batch", "[]");
	ASSERT_EQ(r.status, 400, "not an object");
	free(r.body);
	r = http(fx.port, "POST", "/v1/traces/batch", NULL);
	ASSERT_EQ(r.status, 400, "empty body");
	free(r.body);

	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	memcpy(big, "{\"request_ids\":[]}", 18);
	r = http(fx.port, "POST", "/v1/traces/batch", big);
	ASSERT_EQ(r.status, 413, "body over max_body");
	ASSERT_STREQ(err_of(&r), "request body too large", "JSON error");
	free(r.body);
	r = http(fx.port, "GET", "/v1/traces/batch", NULL);
	ASSERT_EQ(r.status, 405, "batch is POST");
	free(r.body);
	teardown(&fx);
}

/* A chunked body grows past the limit without a Content-Length. */
static void test_chunked_too_big(void)
{
	struct query_opts qo = { .max_body = 256 };
	const char *head = "POST /v1/traces/batch HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
			   "Transfer-Encoding: chunked\r\n\r\n";
	char chunk[300];
	struct fixture fx;
	struct resp r;
	int fd;

	if (!setup(&fx, &qo))
		return;
	fd = dial(fx.port);
	send_all(fd, head, strlen(head));
	for (int i = 0; i < 3; i++) {
		snprintf(chunk, sizeof(chunk), "64\r\n%0100d\r\n", 0);
		send_all(fd, chunk, strlen(chunk));
	}
	send_all(fd, "0\r\n\r\n", 5);
	read_resp(fd, &r);
	close(fd);
	ASSERT_EQ(r.status, 413, "chunked body over the limit");
	free(r.body);
	teardown(&fx);
}

/* Half a request, then silence: others are served meanwhile, and the
 * stalled connection is closed by the connection timeout. */
static void test_stalled_client(void)
{
	struct query_opts qo = { .conn_timeout_s = 1 };
	const char *half = "GET /v1/traces/r1 HTTP/1.1\r\nHost: x\r\n";
	struct fixture fx;
	struct resp r;
	char b[64];
	ssize_t n;
	int slow;

	if (!setup(&fx, &qo))
		return;
	slow = dial(fx.port);
	send_all(slow, half, strlen(half));
	r = http(fx.port, "GET", "/v1/traces/r2", NULL);
	ASSERT_EQ(r.status, 200, "another client served while one stalls");
	free(r.body);
	n = recv(slow, b, sizeof(b), 0);
	ASSERT_TRUE(n == 0 || (n < 0 && errno == ECONNRESET), "stalled connection closed by the timeout");
	close(slow);
	teardown(&fx);
}

/* Two idle connections fill a cap of two: a third request is refused or
 * waits until the timeout has closed an idle one; never served beside them. */
static void test_connection_cap(void)
{
	struct query_opts qo = { .max_connections = 2, .conn_timeout_s = 1 };
	struct fixture fx;
	struct resp r;
	int a, b;
	char c;

	if (!setup(&fx, &qo))
		return;
	a = dial(fx.port);
	b = dial(fx.port);
	usleep(100000);		/* let the server accept both */
	r = http(fx.port, "GET", "/v1/traces/r2", NULL);
	if (r.status == 200)
		ASSERT_TRUE(recv(a, &c, 1, MSG_DONTWAIT) == 0 || recv(b, &c, 1, MSG_DONTWAIT) == 0,
			    "served only once an idle connection was closed");
	else
		ASSERT_EQ(r.status, -1, "refused: closed without a response");
	free(r.body);
	close(a);
	close(b);
	r = http(fx.port, "GET", "/v1/traces/r2", NULL);
	ASSERT_EQ(r.status, 200, "served again once connections are free");
	free(r.body);
	teardown(&fx);
}

static void test_listen_addr(void)
{
	struct sockaddr_storage ss;

	ASSERT_EQ(query_parse_listen("9100", &ss), 0, "port alone");
	ASSERT_EQ(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr), INADDR_LOOPBACK, "binds loopback by default");
	ASSERT_EQ(query_parse_listen("0.0.0.0:9100", &ss), 0, "any, when told");
	ASSERT_EQ(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9100, "port");
	ASSERT_EQ(query_parse_listen("[::1]:9100", &ss), 0, "IPv6");
	ASSERT_EQ(ss.ss_family, AF_INET6, "IPv6 family");
	ASSERT_TRUE(query_parse_listen("localhost:x", &ss) < 0, "bad port");
	ASSERT_TRUE(query_parse_listen("127.0.0.1:70000", &ss) < 0, "port range");
	ASSERT_TRUE(query_parse_listen("", &ss) < 0, "empty");
}

void test_area_query_server(void)
{
	RUN_SUBTEST(test_routes);
	RUN_SUBTEST(test_batch);
	RUN_SUBTEST(test_chunked_too_big);
	RUN_SUBTEST(test_stalled_client);
	RUN_SUBTEST(test_connection_cap);
	RUN_SUBTEST(test_listen_addr);
}

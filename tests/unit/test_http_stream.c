// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* HTTP/1.x stream parser: framing, splits, gaps, resync, real samples. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "proto/http_stream.h"
#include "proto/sse_parser.h"

#define MAX_MSGS 32

struct msg {
	uint64_t begin_ts, head_ts, end_ts;
	bool has_head, ended, complete;
	struct http_head head;
	char body[16384];
	size_t body_len;
	size_t gap;
};

struct rec {
	struct msg m[MAX_MSGS];
	int n;
	int desyncs;
	uint64_t desync_ts;
	int contract_errors;	/* callbacks out of the documented order */
	bool open;
	char log[1 << 16];
	size_t log_len;
	bool log_in_body;
	struct sse_parser *sse;	/* if set, body goes here too */
};

static struct rec R, R2;
static struct sse_parser sse;

struct sse_rec {
	int n;
	char data[16][2048];
	uint64_t ts[16];
	bool done[16], gap[16];
};

static struct sse_rec SR;

static void logf_(struct rec *r, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (r->log_in_body && r->log_len < sizeof(r->log) - 1)
		r->log[r->log_len++] = '|';
	r->log_in_body = false;
	va_start(ap, fmt);
	k = vsnprintf(r->log + r->log_len, sizeof(r->log) - r->log_len, fmt, ap);
	va_end(ap);
	if (k > 0)
		r->log_len += k;
	if (r->log_len >= sizeof(r->log))
		r->log_len = sizeof(r->log) - 1;
}

static struct msg *cur(struct rec *r)
{
	return r->n ? &r->m[(r->n - 1) % MAX_MSGS] : NULL;
}

static void cb_begin(void *ctx, uint64_t ts)
{
	struct rec *r = ctx;
	struct msg *m;

	if (r->open)
		r->contract_errors++;
	r->open = true;
	m = &r->m[r->n++ % MAX_MSGS];
	memset(m, 0, sizeof(*m));
	m->begin_ts = ts;
	logf_(r, "B%llu|", (unsigned long long)ts);
}

static void cb_head(void *ctx, const struct http_head *h, uint64_t ts)
{
	struct rec *r = ctx;
	struct msg *m = cur(r);

	if (!r->open || !m || m->has_head) {
		r->contract_errors++;
		return;
	}
	m->has_head = true;
	m->head = *h;
	m->head_ts = ts;
	logf_(r, "H %s %s %d %s cl=%lld ch=%d cc=%d es=%d rid=%s/%s tr=%d len=%zu|",
	      h->method, h->path, h->status, h->reason, h->content_length,
	      h->chunked, h->conn_close, h->event_stream, h->request_id,
	      h->request_id_header, h->head_truncated, h->head_len);
}

static void cb_body(void *ctx, const char *p, size_t n, uint64_t ts)
{
	struct rec *r = ctx;
	struct msg *m = cur(r);
	size_t k;

	if (!r->open || !m || !m->has_head || !n) {
		r->contract_errors++;
		return;
	}
	k = n;
	if (k > sizeof(m->body) - m->body_len)
		k = sizeof(m->body) - m->body_len;
	memcpy(m->body + m->body_len, p, k);
	m->body_len += k;
	if (!r->log_in_body)
		logf_(r, "D:");
	k = n;
	if (k > sizeof(r->log) - 1 - r->log_len)
		k = sizeof(r->log) - 1 - r->log_len;
	memcpy(r->log + r->log_len, p, k);
	r->log_len += k;
	r->log_in_body = true;
	if (r->sse)
		sse_parser_feed(r->sse, p, n, ts);
}

static void cb_gap(void *ctx, size_t n, uint64_t ts)
{
	struct rec *r = ctx;
	struct msg *m = cur(r);

	if (!r->open || !m || !m->has_head || !n) {
		r->contract_errors++;
		return;
	}
	m->gap += n;
	logf_(r, "G%zu|", n);
	if (r->sse)
		sse_parser_gap(r->sse, n, ts);
}

static void cb_end(void *ctx, uint64_t ts, bool complete)
{
	struct rec *r = ctx;
	struct msg *m = cur(r);

	if (!r->open || !m || !m->has_head || m->ended) {
		r->contract_errors++;
		return;
	}
	r->open = false;
	m->ended = true;
	m->complete = complete;
	m->end_ts = ts;
	logf_(r, "E%llu,%d|", (unsigned long long)ts, complete);
	if (r->sse)
		sse_parser_finish(r->sse, ts);
}

static void cb_desync(void *ctx, uint64_t ts)
{
	struct rec *r = ctx;

	r->desyncs++;
	r->desync_ts = ts;
	logf_(r, "X%llu|", (unsigned long long)ts);
}

static const struct http_callbacks cbs = {
	.on_begin = cb_begin,
	.on_head = cb_head,
	.on_body = cb_body,
	.on_body_gap = cb_gap,
	.on_end = cb_end,
	.on_desync = cb_desync,
};

static void sse_cb(void *ctx, const struct sse_event *ev, uint64_t ts)
{
	struct sse_rec *s = ctx;

	if (s->n < 16) {
		snprintf(s->data[s->n], sizeof(s->data[0]), "%s", ev->data);
		s->ts[s->n] = ts;
		s->done[s->n] = ev->done;
		s->gap[s->n] = ev->gap;
	}
	s->n++;
}

static void rec_reset(struct rec *r)
{
	memset(r, 0, sizeof(*r));
}

static void start(struct http_stream *s, struct rec *r, enum http_kind kind)
{
	rec_reset(r);
	http_stream_init(s, kind, &cbs, r);
}

static void with_sse(struct rec *r)
{
	memset(&SR, 0, sizeof(SR));
	sse_parser_init(&sse, sse_cb, &SR);
	r->sse = &sse;
}

static void feed(struct http_stream *s, const char *str, uint64_t ts)
{
	http_stream_feed(s, str, strlen(str), strlen(str), ts);
}

/* Only the first cap bytes of str are captured; str's length is total. */
static void feed_cut(struct http_stream *s, const char *str, size_t cap,
		     uint64_t ts)
{
	http_stream_feed(s, str, cap, strlen(str), ts);
}

static void feed_split(struct http_stream *s, const char *str, size_t len,
		       size_t piece, uint64_t ts)
{
	size_t off;

	for (off = 0; off < len; off += piece) {
		size_t k = len - off < piece ? len - off : piece;

		http_stream_feed(s, str + off, k, k, ts);
	}
}

static size_t chunk(char *dst, const char *data, bool upper)
{
	return sprintf(dst, upper ? "%zX\r\n%s\r\n" : "%zx\r\n%s\r\n",
		       strlen(data), data);
}

static bool contract_ok(struct rec *r)
{
	return ASSERT_EQ(r->contract_errors, 0, "callback order contract");
}

/* ---- realistic samples ---- */

static const char router_json[] =
	"{\"text\":\"The capital of France is\",\"sampling_params\":"
	"{\"max_new_tokens\":16,\"temperature\":0.0},\"stream\":false,"
	"\"rid\":\"abc\"}";

static int router_request(char *buf)
{
	return sprintf(buf,
		       "POST /generate HTTP/1.1\r\n"
		       "content-type: application/json\r\n"
		       "x-request-id: abc\r\n"
		       "accept: */*\r\n"
		       "host: 127.0.0.1:30001\r\n"
		       "content-length: %zu\r\n\r\n%s",
		       strlen(router_json), router_json);
}

static const char uvicorn_json[] =
	"{\"text\":\" Paris. It is\",\"meta_info\":{\"id\":\"abc\","
	"\"finish_reason\":{\"type\":\"length\",\"length\":16},"
	"\"prompt_tokens\":6,\"completion_tokens\":16}}";

static int uvicorn_response(char *buf)
{
	return sprintf(buf,
		       "HTTP/1.1 200 OK\r\n"
		       "date: Mon, 28 Jul 2025 12:38:57 GMT\r\n"
		       "server: uvicorn\r\n"
		       "content-length: %zu\r\n"
		       "content-type: application/json\r\n\r\n%s",
		       strlen(uvicorn_json), uvicorn_json);
}

static const char *const sse_events[] = {
	"data: {\"text\":\" Paris\",\"meta_info\":{\"id\":\"abc\",\"completion_tokens\":1}}\n\n",
	"data: {\"text\":\" Paris.\",\"meta_info\":{\"id\":\"abc\",\"completion_tokens\":2}}\n\n",
	"data: {\"text\":\" Paris. It\",\"meta_info\":{\"id\":\"abc\",\"completion_tokens\":3}}\n\n",
	"data: [DONE]\n\n",
};
#define N_SSE (int)(sizeof(sse_events) / sizeof(sse_events[0]))

static const char uvicorn_sse_head[] =
	"HTTP/1.1 200 OK\r\n"
	"date: Mon, 28 Jul 2025 12:38:57 GMT\r\n"
	"server: uvicorn\r\n"
	"content-type: text/event-stream; charset=utf-8\r\n"
	"transfer-encoding: chunked\r\n\r\n";

static void check_sse_events(void)
{
	int i;

	ASSERT_EQ(SR.n, N_SSE, "sse events");
	for (i = 0; i < N_SSE && i < SR.n; i++) {
		char want[256];
		size_t len = strlen(sse_events[i]) - 6 - 2;

		memcpy(want, sse_events[i] + 6, len);
		want[len] = '\0';
		ASSERT_STREQ(SR.data[i], want, "sse data");
		ASSERT_EQ(SR.done[i], i == N_SSE - 1, "done flag");
	}
}

static void test_router_request(void)
{
	struct http_stream s;
	char buf[1024];
	struct msg *m = &R.m[0];

	start(&s, &R, HTTP_REQUEST);
	router_request(buf);
	feed(&s, buf, 100);
	ASSERT_EQ(R.n, 1, "one request");
	ASSERT_STREQ(m->head.method, "POST", "method");
	ASSERT_STREQ(m->head.path, "/generate", "path");
	ASSERT_EQ(m->head.version_minor, 1, "version");
	ASSERT_EQ(m->head.content_length, strlen(router_json), "content-length");
	ASSERT_STREQ(m->head.request_id, "abc", "request id");
	ASSERT_STREQ(m->head.request_id_header, "x-request-id", "rid header");
	ASSERT_EQ(m->head.head_len, strlen(buf) - strlen(router_json), "head_len");
	ASSERT_EQ(m->body_len, strlen(router_json), "body len");
	ASSERT_TRUE(!memcmp(m->body, router_json, m->body_len), "body bytes");
	ASSERT_TRUE(m->ended && m->complete, "complete");
	ASSERT_EQ(m->begin_ts, 100, "begin ts");
	ASSERT_EQ(m->end_ts, 100, "end ts");
	ASSERT_EQ(s.stats.messages, 1, "stats.messages");
	ASSERT_EQ(s.stats.skipped_bytes, 0, "nothing skipped");
	ASSERT_EQ(s.state, HS_IDLE, "idle after");

	/* hyper may write the head and the body in separate syscalls */
	start(&s, &R, HTTP_REQUEST);
	http_stream_feed(&s, buf, strlen(buf) - strlen(router_json),
			 strlen(buf) - strlen(router_json), 200);
	ASSERT_TRUE(m->has_head && !m->ended, "head, no end yet");
	ASSERT_EQ(m->head_ts, 200, "head ts");
	feed(&s, router_json, 210);
	ASSERT_TRUE(m->ended && m->complete, "complete");
	ASSERT_EQ(m->end_ts, 210, "end ts is the body write");
	contract_ok(&R);
}

static void test_uvicorn_response(void)
{
	struct http_stream s;
	char buf[1024];
	struct msg *m = &R.m[0];

	start(&s, &R, HTTP_RESPONSE);
	uvicorn_response(buf);
	feed(&s, buf, 5);
	ASSERT_EQ(R.n, 1, "one response");
	ASSERT_EQ(m->head.status, 200, "status");
	ASSERT_STREQ(m->head.reason, "OK", "reason");
	ASSERT_EQ(m->head.content_length, strlen(uvicorn_json), "cl");
	ASSERT_TRUE(!m->head.chunked && !m->head.event_stream, "plain");
	ASSERT_TRUE(!m->head.conn_close, "keep-alive");
	ASSERT_EQ(m->body_len, strlen(uvicorn_json), "body len");
	ASSERT_TRUE(m->ended && m->complete, "complete");
	ASSERT_EQ(s.state, HS_IDLE, "idle");
	contract_ok(&R);
}

static void test_uvicorn_sse_stream(void)
{
	struct http_stream s;
	char buf[512];
	struct msg *m = &R.m[0];
	int i;

	start(&s, &R, HTTP_RESPONSE);
	with_sse(&R);
	/* uvicorn/h11: the head in one write, then one write per chunk */
	feed(&s, uvicorn_sse_head, 10);
	ASSERT_TRUE(m->has_head, "head");
	ASSERT_TRUE(m->head.chunked && m->head.event_stream, "chunked sse");
	ASSERT_EQ(m->head.content_length, -1, "no cl");
	for (i = 0; i < N_SSE; i++) {
		chunk(buf, sse_events[i], false);
		feed(&s, buf, 20 + i);
		ASSERT_EQ(SR.n, i + 1, "event per chunk");
		ASSERT_EQ(SR.ts[i], 20 + i, "event ts = its write");
	}
	ASSERT_TRUE(!m->ended, "not ended before last chunk");
	feed(&s, "0\r\n\r\n", 30);
	ASSERT_TRUE(m->ended && m->complete, "complete");
	ASSERT_EQ(m->end_ts, 30, "end ts");
	check_sse_events();
	ASSERT_EQ(sse.stats.done, 1, "one [DONE]");
	ASSERT_EQ(sse.stats.partial_dropped, 0, "nothing dropped");
	contract_ok(&R);
}

/* Bytes the kernel held back that end inside the chunk in progress (a
 * proxy's big chunk read in pieces): taken when the kernel's count of
 * what is left of the chunk agrees with the parser's, else refused (fed
 * as a gap by the caller). */
static void test_skip_within_chunk(void)
{
	struct http_stream s;
	struct msg *m = &R.m[0];

	start(&s, &R, HTTP_RESPONSE);
	feed(&s, uvicorn_sse_head, 10);
	/* a chunk of 0x64 = 100 bytes, 10 of them here */
	feed(&s, "64\r\n0123456789", 11);
	/* 50 more held back: 40 of the chunk and its CRLF to go (42) */
	ASSERT_TRUE(!http_stream_skip_chunks(&s, 50, 12, 41), "a count that disagrees: refused");
	ASSERT_TRUE(http_stream_skip_chunks(&s, 50, 12, 42), "the chunk's rest as the kernel counts it");
	feed(&s, "0123456789012345678901234567890123456789\r\n0\r\n\r\n", 13);
	ASSERT_TRUE(m->ended && m->complete, "the message ends where it does");
	ASSERT_EQ(R.desyncs, 0, "no desync");
	/* the CRLF's second byte left */
	start(&s, &R, HTTP_RESPONSE);
	feed(&s, uvicorn_sse_head, 10);
	feed(&s, "a\r\n01234", 11);
	ASSERT_TRUE(http_stream_skip_chunks(&s, 6, 12, 1), "to the chunk's LF");
	feed(&s, "\n0\r\n\r\n", 13);
	ASSERT_TRUE(R.m[0].ended && R.m[0].complete, "ends after the LF");
	ASSERT_EQ(R.desyncs, 0, "no desync either");
	/* the record ended inside a size line ("1" of "14"): the kernel
	 * read its rest in the skip and followed the chunk to its end */
	start(&s, &R, HTTP_RESPONSE);
	feed(&s, uvicorn_sse_head, 10);
	feed(&s, "a\r\n0123456789\r\n1", 11);
	ASSERT_TRUE(http_stream_skip_chunks(&s, 3 + 20 + 2, 12, 0), "a skip from a cut size line");
	feed(&s, "0\r\n\r\n", 13);
	ASSERT_TRUE(R.m[0].ended && R.m[0].complete, "ends at the last chunk");
	ASSERT_EQ(R.desyncs, 0, "no desync after a cut size line");
}

/* The router (axum/hyper) passes the stream through but chunks it its
 * own way: upper-case hex, events split across chunks and merged. */
static void test_hyper_rechunked_stream(void)
{
	struct http_stream s;
	char all[2048] = "", buf[2048];
	size_t len, off = 0, cuts[] = { 7, 50, 51, 130, 131, 0 };
	int i;

	for (i = 0; i < N_SSE; i++)
		strcat(all, sse_events[i]);
	len = strlen(all);
	start(&s, &R, HTTP_RESPONSE);
	with_sse(&R);
	feed(&s, "HTTP/1.1 200 OK\r\n"
		 "content-type: text/event-stream; charset=utf-8\r\n"
		 "x-request-id: abc\r\n"
		 "transfer-encoding: chunked\r\n"
		 "date: Mon, 28 Jul 2025 12:38:57 GMT\r\n\r\n", 1);
	for (i = 0; off < len; i++) {
		size_t end = cuts[i] ? cuts[i] : len;
		char piece[512];

		memcpy(piece, all + off, end - off);
		piece[end - off] = '\0';
		chunk(buf, piece, true);
		if (!cuts[i])
			strcat(buf, "0\r\n\r\n");	/* last chunk in one write */
		feed(&s, buf, 2 + i);
		off = end;
	}
	ASSERT_STREQ(R.m[0].head.request_id, "abc", "echoed rid");
	ASSERT_TRUE(R.m[0].ended && R.m[0].complete, "complete");
	ASSERT_EQ(R.m[0].body_len, len, "de-chunked length");
	ASSERT_TRUE(!memcmp(R.m[0].body, all, len), "de-chunked bytes");
	check_sse_events();
	ASSERT_EQ(s.stats.desyncs, 0, "no desync");
	contract_ok(&R);
}

static void test_keepalive_many_in_one_piece(void)
{
	struct http_stream s;
	char buf[4096];
	int n;

	start(&s, &R, HTTP_REQUEST);
	n = router_request(buf);
	strcpy(buf + n, "GET /health HTTP/1.1\r\nhost: w\r\n\r\n"
			"POST /v1/completions HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}");
	feed(&s, buf, 7);
	ASSERT_EQ(R.n, 3, "three requests");
	ASSERT_STREQ(R.m[1].head.method, "GET", "2nd method");
	ASSERT_STREQ(R.m[1].head.path, "/health", "2nd path");
	ASSERT_EQ(R.m[1].body_len, 0, "GET without length: no body");
	ASSERT_TRUE(R.m[1].ended && R.m[1].complete, "2nd complete");
	ASSERT_STREQ(R.m[2].head.path, "/v1/completions", "3rd path");
	ASSERT_EQ(R.m[2].body_len, 2, "3rd body");
	ASSERT_TRUE(R.m[2].ended, "3rd ended");
	ASSERT_EQ(s.stats.complete, 3, "3 complete");
	contract_ok(&R);

	/* responses: 200 with body, 204, chunked, in one piece */
	start(&s, &R, HTTP_RESPONSE);
	n = uvicorn_response(buf);
	strcpy(buf + n, "HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"
			"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
			"3\r\nabc\r\n0\r\n\r\n");
	feed(&s, buf, 8);
	ASSERT_EQ(R.n, 3, "three responses");
	ASSERT_EQ(R.m[1].head.status, 204, "204");
	ASSERT_EQ(R.m[2].body_len, 3, "chunked body");
	ASSERT_EQ(s.stats.complete, 3, "3 complete");
	contract_ok(&R);
}

/* a full keep-alive exchange, both directions */
static const char *exchange_req(char *buf)
{
	int n = router_request(buf);

	strcpy(buf + n, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
			"POST /generate HTTP/1.1\r\nX-Request-Id: r2\r\n"
			"Transfer-Encoding: chunked\r\n\r\n"
			"4;ext=1\r\n{\"a\"\r\n2\r\n:1\r\n1\r\n}\r\n0\r\nx-t: 1\r\n\r\n"
			"\r\nPOST /x HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
	return buf;
}

static const char *exchange_resp(char *buf)
{
	char c[512];
	int i, n = uvicorn_response(buf);

	strcpy(buf + n, "HTTP/1.1 100 Continue\r\n\r\n"
			"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
	strcat(buf, uvicorn_sse_head);
	for (i = 0; i < N_SSE; i++) {
		chunk(c, sse_events[i], false);
		strcat(buf, c);
	}
	strcat(buf, "0\r\n\r\n");
	strcat(buf, "HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n");
	strcat(buf, "HTTP/1.0 200 OK\r\n\r\nuntil close");
	return buf;
}

static void exchange_whole(struct rec *r, enum http_kind kind,
			   const char *data)
{
	struct http_stream s;

	start(&s, r, kind);
	feed(&s, data, 1);
	http_stream_close(&s, 1);
	ASSERT_EQ(s.stats.desyncs, 0, "whole: no desync");
}

static void test_byte_at_a_time(void)
{
	static char req[4096], resp[8192];
	struct http_stream s;
	enum http_kind kinds[2] = { HTTP_REQUEST, HTTP_RESPONSE };
	const char *data[2];
	int k;

	data[0] = exchange_req(req);
	data[1] = exchange_resp(resp);
	for (k = 0; k < 2; k++) {
		exchange_whole(&R, kinds[k], data[k]);
		ASSERT_EQ(R.n, k ? 5 : 4, "messages whole");
		start(&s, &R2, kinds[k]);
		feed_split(&s, data[k], strlen(data[k]), 1, 1);
		http_stream_close(&s, 1);
		ASSERT_EQ(R2.n, R.n, "same message count");
		ASSERT_EQ(R2.log_len, R.log_len, "same log length");
		ASSERT_TRUE(!strcmp(R.log, R2.log), "byte-at-a-time == whole");
		contract_ok(&R);
		contract_ok(&R2);
	}
	/* spot-check the whole-feed result itself */
	exchange_whole(&R, HTTP_REQUEST, data[0]);
	ASSERT_STREQ(R.m[2].head.request_id, "r2", "mixed-case rid header");
	ASSERT_EQ(R.m[2].body_len, 7, "chunked request body");
	ASSERT_TRUE(!memcmp(R.m[2].body, "{\"a\":1}", 7), "chunked bytes");
	ASSERT_TRUE(R.m[3].head.conn_close, "1.0 closes");
	exchange_whole(&R, HTTP_RESPONSE, data[1]);
	ASSERT_EQ(R.m[1].head.status, 200, "100 Continue skipped");
	ASSERT_EQ(R.m[3].head.status, 304, "304");
	ASSERT_EQ(R.m[3].body_len, 0, "304 has no body");
	ASSERT_STREQ(R.m[4].body, "until close", "read until close");
	ASSERT_TRUE(R.m[4].complete, "close ends it complete");
}

static void test_random_splits(void)
{
	static char req[4096], resp[8192];
	const char *data[2];
	struct http_stream s;
	unsigned int seed = 12345;
	int k, round;

	data[0] = exchange_req(req);
	data[1] = exchange_resp(resp);
	for (k = 0; k < 2; k++) {
		enum http_kind kind = k ? HTTP_RESPONSE : HTTP_REQUEST;
		bool same = true;

		exchange_whole(&R, kind, data[k]);
		for (round = 0; round < 200; round++) {
			size_t off = 0, len = strlen(data[k]);

			start(&s, &R2, kind);
			while (off < len) {
				size_t p;

				seed = seed * 1103515245 + 12345;
				p = 1 + (seed >> 16) % 40;
				if (p > len - off)
					p = len - off;
				http_stream_feed(&s, data[k] + off, p, p, 1);
				off += p;
			}
			http_stream_close(&s, 1);
			if (strcmp(R.log, R2.log) || R2.contract_errors)
				same = false;
		}
		ASSERT_TRUE(same, "200 random splits == whole");
	}
}

static void test_split_inside_crlf(void)
{
	struct http_stream s;

	start(&s, &R, HTTP_RESPONSE);
	feed(&s, "HTTP/1.1 200 OK\r", 1);
	feed(&s, "\ncontent-length: 3\r", 2);
	feed(&s, "\n\r", 3);
	ASSERT_TRUE(R.n == 1 && !R.m[0].has_head, "no head before last LF");
	feed(&s, "\nab", 4);
	ASSERT_EQ(R.m[0].head_ts, 4, "head ts = piece with the final LF");
	ASSERT_EQ(R.m[0].begin_ts, 1, "begin ts = first byte");
	feed(&s, "c", 5);
	ASSERT_TRUE(R.m[0].ended && R.m[0].complete, "ended");
	ASSERT_EQ(R.m[0].end_ts, 5, "end ts");

	/* chunk-size line and the CRLF after data split in the middle */
	feed(&s, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1", 6);
	feed(&s, "0\r", 7);
	feed(&s, "\n0123456789abcdef\r", 8);
	feed(&s, "\n0\r\n\r", 9);
	ASSERT_TRUE(!R.m[1].ended, "not before final LF");
	feed(&s, "\n", 10);
	ASSERT_EQ(R.m[1].body_len, 16, "0x10 bytes");
	ASSERT_TRUE(R.m[1].ended && R.m[1].complete, "ended");
	ASSERT_EQ(s.stats.desyncs, 0, "no desync");
	contract_ok(&R);
}

static void test_mid_stream_start(void)
{
	struct http_stream s;
	char buf[1024], c[512];

	/* request stream: we attach inside a body */
	start(&s, &R, HTTP_REQUEST);
	feed(&s, "\"max_new_tokens\":16}}", 1);
	feed(&s, "more body", 2);
	ASSERT_EQ(R.n, 0, "nothing yet");
	ASSERT_EQ(s.stats.skipped_bytes, 30, "skipped counted");
	router_request(buf);
	feed(&s, buf, 3);
	ASSERT_EQ(R.n, 1, "resynced on next request");
	ASSERT_TRUE(R.m[0].complete, "complete");
	ASSERT_EQ(s.stats.desyncs, 0, "seeking at start is not a desync");

	/* a piece whose start is a body but which holds a request later:
	 * resync points are piece starts only */
	start(&s, &R, HTTP_REQUEST);
	sprintf(c, "tail}%s", buf);
	feed(&s, c, 1);
	ASSERT_EQ(R.n, 0, "not found mid-piece");
	ASSERT_EQ(s.stats.skipped_bytes, strlen(c), "all skipped");

	/* response stream: attach inside an SSE stream */
	start(&s, &R, HTTP_RESPONSE);
	chunk(c, sse_events[1], false);
	feed(&s, c, 1);
	feed(&s, "0\r\n\r\n", 2);
	uvicorn_response(buf);
	feed(&s, buf, 3);
	ASSERT_EQ(R.n, 1, "resynced");
	ASSERT_EQ(R.m[0].head.status, 200, "status");
	ASSERT_TRUE(R.m[0].complete, "complete");
	ASSERT_EQ(s.stats.skipped_bytes, strlen(c) + 5, "skipped");
	contract_ok(&R);
}

/* A candidate start line spanning pieces fails at the next piece start:
 * that piece still gets its chance. */
static void test_seek_retry_at_piece_start(void)
{
	struct http_stream s;

	start(&s, &R, HTTP_RESPONSE);
	feed(&s, "HTT", 1);
	feed(&s, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 2);
	ASSERT_EQ(R.n, 1, "found");
	ASSERT_EQ(R.m[0].begin_ts, 2, "begins in 2nd piece");
	ASSERT_EQ(s.stats.skipped_bytes, 3, "3 skipped");

	start(&s, &R, HTTP_REQUEST);
	feed(&s, "GET /a", 1);
	feed(&s, "\"x\"}", 2);
	feed(&s, "GET / HTTP/1.1\r\n\r\n", 3);
	ASSERT_EQ(R.n, 1, "found after failed candidate");
	ASSERT_STREQ(R.m[0].head.path, "/", "path");
	ASSERT_EQ(s.stats.skipped_bytes, 10, "skipped");

	/* a dangling candidate after a message loses to a whole start line */
	feed(&s, "POST /x", 4);
	feed(&s, "GET /y HTTP/1.1\r\n\r\n", 5);
	ASSERT_EQ(R.n, 2, "found");
	ASSERT_STREQ(R.m[1].head.path, "/y", "the new one");
	ASSERT_EQ(s.stats.desyncs, 1, "the dangling one was lost framing");
	contract_ok(&R);
}

static void test_gap_in_body(void)
{
	struct http_stream s;
	char buf[1024];
	size_t head;

	start(&s, &R, HTTP_REQUEST);
	router_request(buf);
	head = strlen(buf) - strlen(router_json);
	feed_cut(&s, buf, head + 10, 1);
	ASSERT_EQ(R.m[0].body_len, 10, "captured part");
	ASSERT_EQ(R.m[0].gap, strlen(router_json) - 10, "gap reported");
	ASSERT_TRUE(R.m[0].ended && R.m[0].complete, "framing held");
	ASSERT_EQ(s.stats.body_gap_bytes, strlen(router_json) - 10, "stat");
	ASSERT_EQ(s.stats.gaps, 1, "one gap");
	feed(&s, "GET /x HTTP/1.1\r\n\r\n", 2);
	ASSERT_EQ(R.n, 2, "next message parsed");
	ASSERT_EQ(s.stats.desyncs, 0, "no desync");

	/* a gap in the middle of a body spread over pieces */
	start(&s, &R, HTTP_RESPONSE);
	feed(&s, "HTTP/1.1 200 OK\r\ncontent-length: 30\r\n\r\n0123", 1);
	http_stream_feed(&s, "4567", 4, 20, 2);
	feed(&s, "456789", 3);
	ASSERT_EQ(R.m[0].gap, 16, "gap");
	ASSERT_EQ(R.m[0].body_len, 14, "body");
	ASSERT_TRUE(R.m[0].complete, "complete");

	/* a gap that runs past the body end swallows the next start */
	feed(&s, "HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n", 4);
	http_stream_feed(&s, "ab", 2, 30, 5);
	ASSERT_TRUE(R.m[1].complete, "body done");
	ASSERT_EQ(R.m[1].gap, 2, "2 gap bytes belong to the body");
	ASSERT_EQ(s.stats.desyncs, 1, "rest may hold a message start");
	ASSERT_EQ(s.stats.skipped_bytes, 26, "skipped the rest");
	feed(&s, "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n", 6);
	ASSERT_EQ(R.m[2].head.status, 404, "resync");
	contract_ok(&R);
}

static void test_gap_in_chunk_data(void)
{
	struct http_stream s;
	char c[512];
	size_t cap;

	start(&s, &R, HTTP_RESPONSE);
	with_sse(&R);
	feed(&s, uvicorn_sse_head, 1);
	chunk(c, sse_events[0], false);
	feed(&s, c, 2);
	/* big chunk write cut after 20 bytes: data tail and CRLF lost */
	chunk(c, sse_events[1], false);
	cap = 20;
	feed_cut(&s, c, cap, 3);
	ASSERT_EQ(s.stats.desyncs, 0, "no desync");
	chunk(c, sse_events[2], false);
	feed(&s, c, 4);
	chunk(c, sse_events[3], false);
	feed(&s, c, 5);
	feed(&s, "0\r\n\r\n", 6);
	ASSERT_TRUE(R.m[0].ended && R.m[0].complete, "complete");
	ASSERT_EQ(R.m[0].gap, strlen(sse_events[1]) - (cap - 4), "gap size");
	ASSERT_EQ(SR.n, 4, "all 4 events, the cut one flagged");
	ASSERT_TRUE(SR.gap[1] && !SR.gap[2], "gap flag on the cut event");
	ASSERT_EQ(SR.ts[1], 3, "cut event ts = the gap's piece");
	ASSERT_TRUE(SR.done[3], "done");

	/* gap covering only part of the data: CRLF captured later */
	start(&s, &R, HTTP_RESPONSE);
	feed(&s, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", 1);
	http_stream_feed(&s, "a\r\n01", 5, 10, 2);	/* 5 data bytes lost */
	feed(&s, "789\r\n0\r\n\r\n", 3);
	ASSERT_EQ(R.m[0].gap, 5, "gap");
	ASSERT_EQ(R.m[0].body_len, 5, "body");
	ASSERT_TRUE(R.m[0].complete, "complete");

	/* gap that ends between CR and LF */
	start(&s, &R, HTTP_RESPONSE);
	feed(&s, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", 1);
	http_stream_feed(&s, "3\r\na", 4, 7, 2);	/* "bc\r" lost */
	feed(&s, "\n0\r\n\r\n", 3);
	ASSERT_TRUE(R.m[0].complete, "complete");
	ASSERT_EQ(s.stats.desyncs, 0, "no desync");
	contract_ok(&R);
}

static void test_gap_in_chunk_header(void)
{
	struct http_stream s;
	char c[512];

	start(&s, &R, HTTP_RESPONSE);
	feed(&s, uvicorn_sse_head, 1);
	/* the gap covers the data, the CRLF and the next size line */
	http_stream_feed(&s, "5\r\nab", 5, 20, 2);
	ASSERT_EQ(s.stats.desyncs, 1, "desync");
	ASSERT_EQ(R.desync_ts, 2, "desync ts");
	ASSERT_TRUE(R.m[0].ended && !R.m[0].complete, "ended incomplete");
	ASSERT_EQ(R.m[0].gap, 3, "body part of the gap reported");
	chunk(c, sse_events[0], false);
	feed(&s, c, 3);			/* inside the lost stream: skipped */
	ASSERT_EQ(R.n, 1, "no new message");
	feed(&s, uvicorn_sse_head, 4);
	ASSERT_EQ(R.n, 2, "resync on next response");
	ASSERT_EQ(R.m[1].begin_ts, 4, "begin ts");

	/* gap inside a size line */
	start(&s, &R, HTTP_RESPONSE);
	feed(&s, uvicorn_sse_head, 1);
	http_stream_feed(&s, "1", 1, 3, 2);
	ASSERT_EQ(s.stats.desyncs, 1, "desync in size line");
	ASSERT_TRUE(R.m[0].ended && !R.m[0].complete, "incomplete");
	contract_ok(&R);
}

static void test_gap_in_head(void)
{
	struct http_stream s;
	char buf[1024];

	start(&s, &R, HTTP_REQUEST);
	router_request(buf);
	feed_cut(&s, buf, 60, 1);	/* cut inside x-request-id line */
	ASSERT_EQ(R.n, 1, "begun");
	ASSERT_TRUE(R.m[0].has_head, "head still reported");
	ASSERT_TRUE(R.m[0].head.head_truncated, "as truncated");
	ASSERT_STREQ(R.m[0].head.path, "/generate", "start line kept");
	ASSERT_TRUE(R.m[0].ended && !R.m[0].complete, "incomplete");
	ASSERT_EQ(s.stats.desyncs, 1, "desync");
	ASSERT_EQ(s.stats.truncated_heads, 1, "stat");
	ASSERT_TRUE(strstr(R.log, "tr=1") < strstr(R.log, "X1") &&
		    strstr(R.log, "X1") < strstr(R.log, "E1,0"),
		    "head, desync, end in that order");
	router_request(buf);
	feed(&s, buf, 2);
	ASSERT_EQ(R.n, 2, "resync");
	ASSERT_TRUE(R.m[1].complete, "complete");

	/* gap inside the start line after a message: desync, no message */
	start(&s, &R, HTTP_REQUEST);
	feed(&s, "GET / HTTP/1.1\r\n\r\n", 1);
	http_stream_feed(&s, "POST /gen", 9, 400, 2);
	ASSERT_EQ(R.n, 1, "cut start line is not a message");
	ASSERT_EQ(s.stats.desyncs, 1, "desync");
	ASSERT_EQ(s.stats.skipped_bytes, 400, "skipped");
	contract_ok(&R);
}

static void test_gap_at_message_boundary(void)
{
	struct http_stream s;

	start(&s, &R, HTTP_RESPONSE);
	http_stream_feed(&s, "HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nx", 39,
			 60, 1);
	ASSERT_TRUE(R.m[0].complete, "complete");
	ASSERT_EQ(s.stats.desyncs, 1, "unknown bytes after a message");
	http_stream_feed(&s, NULL, 0, 100, 2);	/* nothing captured */
	ASSERT_EQ(s.stats.gaps, 2, "2 gaps");
	ASSERT_EQ(s.stats.skipped_bytes, 121, "skipped");
	feed(&s, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 3);
	ASSERT_EQ(R.n, 2, "resync");
	contract_ok(&R);
}

static void test_interim_100_continue(void)
{
	struct http_stream s;

	start(&s, &R, HTTP_REQUEST);
	feed(&s, "POST /generate HTTP/1.1\r\nExpect: 100-continue\r\n"
		 "content-length: 5\r\n\r\n", 1);
	ASSERT_TRUE(R.m[0].head.expect_continue, "expect flag");
	feed(&s, "hello", 2);	/* body after the 100 arrives */
	ASSERT_TRUE(R.m[0].complete, "request complete");

	start(&s, &R, HTTP_RESPONSE);
	feed(&s, "HTTP/1.1 100 Continue\r\n\r\n", 1);
	ASSERT_EQ(R.n, 0, "interim is silent");
	feed(&s, "HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n"
		 "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", 2);
	ASSERT_EQ(R.n, 1, "one final response");
	ASSERT_EQ(R.m[0].head.status, 200, "final status");
	ASSERT_EQ(R.m[0].begin_ts, 2, "begin ts of the final one");
	ASSERT_EQ(s.stats.interim, 2, "2 interim");
	ASSERT_EQ(s.stats.messages, 1, "1 message");

	/* HEAD expectation survives an interim response */
	start(&s, &R, HTTP_RESPONSE);
	http_stream_expect_no_body(&s);
	feed(&s, "HTTP/1.1 100 Continue\r\n\r\n"
		 "HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\n"
		 "HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nz", 1);
	ASSERT_EQ(R.n, 2, "two");
	ASSERT_EQ(R.m[0].body_len, 0, "HEAD response has no body");
	ASSERT_EQ(R.m[0].head.content_length, 99, "cl still reported");
	ASSERT_EQ(R.m[1].body_len, 1, "next one has");
	contract_ok(&R);
}

static void test_no_body_statuses(void)
{
	struct http_stream s;

	start(&s, &R, HTTP_RESPONSE);
	feed(&s, "HTTP/1.1 204 No Content\r\n\r\n"
		 "HTTP/1.1 304 Not Modified\r\ntransfer-encoding: chunked\r\n\r\n"
		 "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
		 "HTTP/1.1 201 Created\r\ncontent-length: 1\r\n\r\n!", 1);
	ASSERT_EQ(R.n, 4, "four");
	ASSERT_EQ(s.stats.complete, 4, "all complete");
	ASSERT_EQ(R.m[3].body_len, 1, "last body");
	ASSERT_EQ(s.state, HS_IDLE, "idle");
	contract_ok(&R);
}

static void test_read_until_close(void)
{
	struct http_stream s;

	start(&s, &R, HTTP_RESPONSE);
	feed(&s, "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\npart1", 1);
	http_stream_feed(&s, "part2", 5, 50, 2);
	feed(&s, "HTTP/1.1 200 OK\r\n\r\n", 3);	/* just body bytes */
	ASSERT_TRUE(!R.m[0].ended, "open until close");
	ASSERT_TRUE(R.m[0].head.conn_close, "conn_close");
	ASSERT_EQ(R.m[0].gap, 45, "gap in body");
	http_stream_close(&s, 9);
	ASSERT_TRUE(R.m[0].ended && R.m[0].complete, "close ends it");
	ASSERT_EQ(R.m[0].end_ts, 9, "end ts = close");
	ASSERT_EQ(R.n, 1, "one message");

	/* transfer-coding other than chunked: also until close */
	start(&s, &R, HTTP_RESPONSE);
	feed(&s, "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nzz", 1);
	http_stream_close(&s, 2);
	ASSERT_EQ(R.m[0].body_len, 2, "body");
	ASSERT_TRUE(R.m[0].complete, "complete");
	contract_ok(&R);
}

static void test_close_mid_message(void)
{
	struct http_stream s;

	start(&s, &R, HTTP_REQUEST);
	feed(&s, "POST /generate HTTP/1.1\r\ncontent-length: 10\r\n\r\nabc", 1);
	http_stream_close(&s, 2);
	ASSERT_TRUE(R.m[0].ended && !R.m[0].complete, "incomplete");
	ASSERT_EQ(R.m[0].end_ts, 2, "end ts");
	ASSERT_EQ(s.stats.incomplete, 1, "stat");
	ASSERT_EQ(s.stats.desyncs, 0, "a close is no desync");

	start(&s, &R, HTTP_RESPONSE);
	feed(&s, "HTTP/1.1 200 OK\r\nx-request-id: q\r\ncontent-le", 1);
	http_stream_close(&s, 2);
	ASSERT_TRUE(R.m[0].has_head && R.m[0].head.head_truncated,
		    "cut head reported");
	ASSERT_STREQ(R.m[0].head.request_id, "q", "with what we had");
	ASSERT_TRUE(R.m[0].ended && !R.m[0].complete, "incomplete");

	/* chunked stream cut by close; parser is reusable after */
	start(&s, &R, HTTP_RESPONSE);
	feed(&s, uvicorn_sse_head, 1);
	feed(&s, "5\r\nab", 2);
	http_stream_close(&s, 3);
	ASSERT_TRUE(R.m[0].ended && !R.m[0].complete, "incomplete");
	feed(&s, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 4);
	ASSERT_EQ(R.n, 2, "new stream after close");
	contract_ok(&R);
}

static void test_chunk_ext_trailers(void)
{
	struct http_stream s;

	start(&s, &R, HTTP_RESPONSE);
	feed(&s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
		 "5;name=\"v\";x\r\nhello\r\n"
		 "6 ; y\r\n world\r\n"
		 "0;last\r\nx-checksum: 1\r\nx-more: 2\r\n\r\n"
		 "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 1);
	ASSERT_EQ(R.n, 2, "two");
	ASSERT_TRUE(R.m[0].head.chunked, "chunked last");
	ASSERT_EQ(R.m[0].body_len, 11, "body");
	ASSERT_TRUE(!memcmp(R.m[0].body, "hello world", 11), "bytes");
	ASSERT_TRUE(R.m[0].complete && R.m[1].complete, "complete");
	ASSERT_EQ(s.stats.desyncs, 0, "no desync");

	/* bare-LF chunk lines (tolerated like most parsers) */
	start(&s, &R, HTTP_RESPONSE);
	feed(&s, "HTTP/1.1 200 OK\ntransfer-encoding: chunked\n\n"
		 "2\nhi\n0\n\n", 1);
	ASSERT_TRUE(R.m[0].complete, "LF only");
	ASSERT_EQ(R.m[0].body_len, 2, "body");
	contract_ok(&R);
}

static void test_request_id_priority(void)
{
	struct http_stream s;

	start(&s, &R, HTTP_REQUEST);
	feed(&s, "POST /v1/chat/completions HTTP/1.1\r\n"
		 "Request-Id: low\r\n"
		 "X-Trace-Id: trace\r\n"
		 "X-Request-ID:  best  \r\n"
		 "x-correlation-id: corr\r\n"
		 "x-request-id: second\r\n\r\n", 1);
	ASSERT_STREQ(R.m[0].head.request_id, "best", "x-request-id wins, trimmed");
	ASSERT_STREQ(R.m[0].head.request_id_header, "x-request-id", "name");

	feed(&s, "GET / HTTP/1.1\r\nrequest-id: r\r\nx-trace-id: t\r\n\r\n", 2);
	ASSERT_STREQ(R.m[1].head.request_id, "t", "x-trace-id over request-id");
	ASSERT_STREQ(R.m[1].head.request_id_header, "x-trace-id", "name");

	feed(&s, "GET / HTTP/1.1\r\nx-request-id-foo: no\r\n\r\n", 3);
	ASSERT_STREQ(R.m[2].head.request_id, "", "no prefix match");
	ASSERT_STREQ(R.m[2].head.request_id_header, "", "none");
	contract_ok(&R);
}

static void test_header_edge_cases(void)
{
	struct http_stream s;

	start(&s, &R, HTTP_RESPONSE);
	feed(&s, "HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 2\r\n"
		 "Connection: Keep-Alive, Close\r\n"
		 "Content-Type: Text/Event-Stream\r\n"
		 "folded: a\r\n  b\r\n\r\nok", 1);
	ASSERT_EQ(R.m[0].head.content_length, 2, "upper-case name");
	ASSERT_TRUE(R.m[0].head.conn_close, "close token");
	ASSERT_TRUE(R.m[0].head.event_stream, "media type case");
	ASSERT_TRUE(R.m[0].complete, "complete");

	feed(&s, "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\n"
		 "content-length: 0\r\n\r\n", 2);
	ASSERT_TRUE(!R.m[1].head.conn_close, "1.0 keep-alive");
	ASSERT_EQ(R.m[1].head.version_minor, 0, "1.0");

	feed(&s, "HTTP/1.1 200\r\ncontent-length: 1, 1\r\n\r\nx", 3);
	ASSERT_EQ(R.m[2].head.status, 200, "no reason phrase");
	ASSERT_EQ(R.m[2].body_len, 1, "repeated identical CL");

	feed(&s, "HTTP/1.1 200 OK\r\ncontent-type: text/event-streamer\r\n"
		 "transfer-encoding: chunked\r\ncontent-length: 100\r\n\r\n"
		 "0\r\n\r\n", 4);
	ASSERT_TRUE(!R.m[3].head.event_stream, "not a prefix match");
	ASSERT_TRUE(R.m[3].complete, "chunked beats CL");

	start(&s, &R, HTTP_REQUEST);
	feed(&s, "GET /a?b=c%20d HTTP/1.1\r\n\r\n", 1);
	ASSERT_STREQ(R.m[0].head.path, "/a?b=c%20d", "query kept");
	feed(&s, "OPTIONS * HTTP/1.1\r\n\r\n", 2);
	ASSERT_STREQ(R.m[1].head.method, "OPTIONS", "asterisk form");
	feed(&s, "M-SEARCH * HTTP/1.1\r\n\r\n", 3);
	ASSERT_EQ(R.n, 2, "non-standard methods are not followed");
	contract_ok(&R);

	/* names fold case letter by letter only: '\r' | 0x20 is '-', a
	 * byte off from 'l' by case is not a letter, and so on */
	start(&s, &R, HTTP_RESPONSE);
	feed(&s, "HTTP/1.1 200 OK\r\nContent\rLength: 2\r\nContent-Type: text/event\rstream\r\n"
		 "X-Request\rId: no\r\nConnection: keep-alivE\r\nCONTENT-LENGTH: 3\r\n\r\nabc", 1);
	ASSERT_EQ(R.m[0].head.content_length, 3, "'\\r' is no '-' in a name");
	ASSERT_TRUE(!R.m[0].head.event_stream, "nor in a media type");
	ASSERT_STREQ(R.m[0].head.request_id, "", "nor in an id header");
	feed(&s, "HTTP/1.1 200 OK\r\nCONTENT\x0dLENGTH: 1\r\nContent-LengtL: 1\r\n"
		 "Content-Lengt\x08: 1\r\nx-request-iD: yes\r\nContent-Length: 0\r\n\r\n", 2);
	ASSERT_EQ(R.m[1].head.content_length, 0, "near misses are not the name");
	ASSERT_STREQ(R.m[1].head.request_id, "yes", "mixed case is");
	contract_ok(&R);
}

static void test_long_lines(void)
{
	static char buf[HTTP_HEAD_MAX + 4096];
	struct http_stream s;
	int n;

	/* an overlong header line: truncated, framing still found */
	start(&s, &R, HTTP_REQUEST);
	n = sprintf(buf, "POST /generate HTTP/1.1\r\ncookie: ");
	memset(buf + n, 'c', 3000);
	n += 3000;
	n += sprintf(buf + n, "\r\nx-request-id: rid\r\ncontent-length: 3\r\n\r\nabc");
	feed(&s, buf, 1);
	ASSERT_TRUE(R.m[0].head.head_truncated, "truncated flag");
	ASSERT_STREQ(R.m[0].head.request_id, "rid", "later headers parsed");
	ASSERT_TRUE(R.m[0].complete && R.m[0].body_len == 3, "framing ok");
	ASSERT_EQ(s.stats.desyncs, 0, "no desync");

	/* a long target: path keeps a prefix, version still checked */
	start(&s, &R, HTTP_REQUEST);
	n = sprintf(buf, "GET /");
	memset(buf + n, 'p', 1000);
	n += 1000;
	sprintf(buf + n, " HTTP/1.1\r\n\r\n");
	feed(&s, buf, 1);
	ASSERT_EQ(R.n, 1, "parsed");
	ASSERT_EQ(strlen(R.m[0].head.path), 255, "path prefix");

	/* a head larger than HTTP_HEAD_MAX: desync */
	start(&s, &R, HTTP_REQUEST);
	n = sprintf(buf, "GET / HTTP/1.1\r\n");
	while (n < HTTP_HEAD_MAX + 100)
		n += sprintf(buf + n, "x-filler: %0100d\r\n", 0);
	sprintf(buf + n, "\r\n");
	feed(&s, buf, 1);
	ASSERT_EQ(s.stats.desyncs, 1, "desync");
	ASSERT_TRUE(R.m[0].head.head_truncated && !R.m[0].complete,
		    "truncated, incomplete");
	contract_ok(&R);
}

static void test_not_http(void)
{
	struct http_stream s;
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

	start(&s, &R, HTTP_REQUEST);
	feed(&s, preface, 1);
	http_stream_feed(&s, "\x00\x00\x12\x04\x00\x00\x00\x00", 8, 8, 2);
	ASSERT_EQ(R.n, 0, "h2 is skipped");
	ASSERT_EQ(s.stats.skipped_bytes, strlen(preface) + 8, "skipped");

	start(&s, &R, HTTP_RESPONSE);
	feed(&s, "HTTP/2 200\r\n\r\n", 1);
	feed(&s, "HTTP/1.1 99 Low\r\n\r\n", 2);
	feed(&s, "HTTP/1.1 2000 Long\r\n\r\n", 3);
	feed(&s, "http/1.1 200 OK\r\n\r\n", 4);
	ASSERT_EQ(R.n, 0, "implausible start lines");

	start(&s, &R, HTTP_REQUEST);
	feed(&s, "get / HTTP/1.1\r\n\r\n", 1);
	feed(&s, "GET  / HTTP/1.1\r\n\r\n", 2);
	feed(&s, "GET / HTTP/1.1 \r\n\r\n", 3);
	feed(&s, "GET /\r\n", 4);
	feed(&s, "HTTP/1.1 200 OK\r\n\r\n", 5);
	ASSERT_EQ(R.n, 0, "implausible requests");
	ASSERT_EQ(s.stats.desyncs, 0, "seeking, not desync");
	contract_ok(&R);
}

/* Fuzz find: a NUL inside the method made strncmp match "GET" and then
 * read methods[i][4], one byte past the literal. */
static void test_nul_in_method(void)
{
#define LIT(x) { x, sizeof(x) - 1 }
	static const struct { const char *p; size_t len; } bad[] = {
		LIT("GET\0 / HTTP/1.1\r\n\r\n"),
		LIT("GET\0X / HTTP/1.1\r\n\r\n"),
		LIT("TRACE\0 / HTTP/1.1\r\n\r\n"),
		LIT("PO\0ST / HTTP/1.1\r\n\r\n"),
		LIT("\0 / HTTP/1.1\r\n\r\n"),
	};
#undef LIT
	static const char good[] = "GET / HTTP/1.1\r\n\r\n";
	struct http_stream s;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		start(&s, &R, HTTP_REQUEST);
		http_stream_feed(&s, bad[i].p, bad[i].len, bad[i].len, 1);
		ASSERT_EQ(R.n, 0, "NUL in the method: no request");
		http_stream_feed(&s, good, sizeof(good) - 1, sizeof(good) - 1, 2);
		ASSERT_EQ(R.n, 1, "next piece parses");
		ASSERT_STREQ(R.m[0].head.method, "GET", "its method");
		contract_ok(&R);
	}
}

static void test_bad_framing(void)
{
	struct http_stream s;

	start(&s, &R, HTTP_RESPONSE);
	feed(&s, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", 1);
	ASSERT_EQ(s.stats.desyncs, 1, "bad chunk size");
	ASSERT_TRUE(R.m[0].ended && !R.m[0].complete, "incomplete");

	feed(&s, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
		 "2\r\nabX\r\n", 2);
	ASSERT_EQ(s.stats.desyncs, 2, "missing CRLF after data");

	feed(&s, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
		 "1234567890abcdef0\r\n", 3);
	ASSERT_EQ(s.stats.desyncs, 3, "size overflow");

	feed(&s, "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n"
		 "content-length: 6\r\n\r\n", 4);
	ASSERT_EQ(s.stats.desyncs, 4, "conflicting CL");

	feed(&s, "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n", 5);
	ASSERT_EQ(s.stats.desyncs, 5, "negative CL");

	start(&s, &R, HTTP_REQUEST);
	feed(&s, "POST / HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n", 1);
	ASSERT_EQ(s.stats.desyncs, 1, "request TE without chunked");
	ASSERT_EQ(R.n, 1, "still reported");
	ASSERT_TRUE(R.m[0].has_head && !R.m[0].complete, "incomplete");
	contract_ok(&R);
}

static void test_garbage_after_message(void)
{
	struct http_stream s;

	start(&s, &R, HTTP_REQUEST);
	feed(&s, "POST / HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}garbage", 1);
	ASSERT_EQ(R.n, 1, "one");
	ASSERT_TRUE(R.m[0].complete, "first complete");
	ASSERT_EQ(s.stats.desyncs, 1, "garbage = desync");
	ASSERT_EQ(s.stats.skipped_bytes, 7, "skipped");
	feed(&s, "more garbage", 2);
	ASSERT_EQ(s.stats.desyncs, 1, "one desync only");
	feed(&s, "GET / HTTP/1.1\r\n\r\n", 3);
	ASSERT_EQ(R.n, 2, "resync");

	/* a stray CRLF after a body is tolerated */
	feed(&s, "POST / HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}\r\n", 4);
	feed(&s, "GET / HTTP/1.1\r\n\r\n", 5);
	ASSERT_EQ(R.n, 4, "both");
	ASSERT_EQ(s.stats.desyncs, 1, "no new desync");
	contract_ok(&R);
}

static void test_upgrade_101(void)
{
	struct http_stream s;

	start(&s, &R, HTTP_RESPONSE);
	feed(&s, "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n"
		 "\x81\x05hello", 1);
	ASSERT_EQ(R.n, 1, "101 reported");
	ASSERT_TRUE(R.m[0].complete && R.m[0].body_len == 0, "no body");
	ASSERT_EQ(s.stats.skipped_bytes, 7, "frames skipped");
	ASSERT_EQ(s.stats.desyncs, 0, "not a desync");
	contract_ok(&R);
}

/* Status lines the whole-piece fast path reads (status digits, reason
 * bytes) against the same bytes one at a time, which take the per-byte
 * steps: the same messages, heads and rejections. */
static void test_status_line_shapes(void)
{
	static char longr[1200];
	const struct {
		const char *line;
		bool ok;	/* a start line */
	} lines[] = {
		{ "HTTP/1.1 200 OK\r\n", true },
		{ "HTTP/1.1 200 \r\n", true },
		{ "HTTP/1.1 200\r\n", true },
		{ "HTTP/1.1 204 No Content\r\n", true },
		{ "HTTP/1.0 503 Service\tUnavailable\r\n", true },
		{ "HTTP/1.1 599 Top\n", true },
		{ "HTTP/1.1 200 caf\xc3\xa9\r\n", true },
		{ "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n", true },
		{ "HTTP/1.1 200  two spaces\r\n", true },
		{ "HTTP/1.1 600 Too High\r\n", false },
		{ "HTTP/1.1 099 Too Low\r\n", false },
		{ "HTTP/1.1 20 Short\r\n", false },
		{ "HTTP/1.1 2000 Long\r\n", false },
		{ "HTTP/1.1 200 O\x7fK\r\n", false },
		{ "HTTP/1.1 200 O\x01K\r\n", false },
		{ "HTTP/1.1 20a Bad\r\n", false },
		{ "HTTP/1.1  200 OK\r\n", false },
		{ longr, false },
	};
	char buf[2048];
	struct http_stream s;

	memcpy(longr, "HTTP/1.1 200 ", 13);
	memset(longr + 13, 'r', 1100);		/* past REASON_MAX */
	strcpy(longr + 1113, "\r\n");
	for (size_t k = 0; k < sizeof(lines) / sizeof(lines[0]); k++) {
		snprintf(buf, sizeof(buf), "%sContent-Length: 2\r\n\r\nhi", lines[k].line);
		start(&s, &R, HTTP_RESPONSE);
		feed(&s, buf, 1);
		http_stream_close(&s, 1);
		start(&s, &R2, HTTP_RESPONSE);
		feed_split(&s, buf, strlen(buf), 1, 1);
		http_stream_close(&s, 1);
		ASSERT_TRUE(!strcmp(R.log, R2.log) && R.n == R2.n &&
			    R.desyncs == R2.desyncs, lines[k].line);
		ASSERT_EQ(R.n, lines[k].ok, lines[k].line);
	}
	/* and what they read */
	snprintf(buf, sizeof(buf), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
	start(&s, &R, HTTP_RESPONSE);
	feed(&s, buf, 1);
	ASSERT_EQ(R.m[0].head.status, 404, "status read whole");
	ASSERT_STREQ(R.m[0].head.reason, "Not Found", "reason read whole");
}

static void test_pipelined_split(void)
{
	struct http_stream s;
	static const char two[] =
		"POST /a HTTP/1.1\r\ncontent-length: 4\r\n\r\nabcd"
		"POST /b HTTP/1.1\r\ncontent-length: 4\r\n\r\nefgh";
	size_t cut = 42;	/* inside the first body */

	start(&s, &R, HTTP_REQUEST);
	http_stream_feed(&s, two, cut, cut, 1);
	http_stream_feed(&s, two + cut, strlen(two) - cut, strlen(two) - cut, 2);
	ASSERT_EQ(R.n, 2, "two");
	ASSERT_EQ(R.m[0].end_ts, 2, "1st ends in piece 2");
	ASSERT_EQ(R.m[1].begin_ts, 2, "2nd begins in piece 2");
	ASSERT_TRUE(!memcmp(R.m[1].body, "efgh", 4), "2nd body");
	contract_ok(&R);
}

static void test_null_callbacks(void)
{
	struct http_stream s;
	char buf[1024];

	http_stream_init(&s, HTTP_RESPONSE, NULL, NULL);
	uvicorn_response(buf);
	feed(&s, buf, 1);
	feed_cut(&s, uvicorn_sse_head, 30, 2);	/* cut in the head */
	http_stream_close(&s, 3);
	ASSERT_EQ(s.stats.messages, 2, "counted without callbacks");
	ASSERT_EQ(s.stats.complete, 1, "one complete");
	ASSERT_EQ(s.stats.incomplete, 1, "one incomplete");
}

void test_area_http_stream(void)
{
	RUN_SUBTEST(test_router_request);
	RUN_SUBTEST(test_uvicorn_response);
	RUN_SUBTEST(test_uvicorn_sse_stream);
	RUN_SUBTEST(test_hyper_rechunked_stream);
	RUN_SUBTEST(test_keepalive_many_in_one_piece);
	RUN_SUBTEST(test_byte_at_a_time);
	RUN_SUBTEST(test_random_splits);
	RUN_SUBTEST(test_split_inside_crlf);
	RUN_SUBTEST(test_mid_stream_start);
	RUN_SUBTEST(test_seek_retry_at_piece_start);
	RUN_SUBTEST(test_gap_in_body);
	RUN_SUBTEST(test_gap_in_chunk_data);
	RUN_SUBTEST(test_gap_in_chunk_header);
	RUN_SUBTEST(test_gap_in_head);
	RUN_SUBTEST(test_gap_at_message_boundary);
	RUN_SUBTEST(test_interim_100_continue);
	RUN_SUBTEST(test_no_body_statuses);
	RUN_SUBTEST(test_read_until_close);
	RUN_SUBTEST(test_close_mid_message);
	RUN_SUBTEST(test_chunk_ext_trailers);
	RUN_SUBTEST(test_request_id_priority);
	RUN_SUBTEST(test_header_edge_cases);
	RUN_SUBTEST(test_long_lines);
	RUN_SUBTEST(test_not_http);
	RUN_SUBTEST(test_nul_in_method);
	RUN_SUBTEST(test_bad_framing);
	RUN_SUBTEST(test_garbage_after_message);
	RUN_SUBTEST(test_upgrade_101);
	RUN_SUBTEST(test_pipelined_split);
	RUN_SUBTEST(test_status_line_shapes);
	RUN_SUBTEST(test_null_callbacks);
	RUN_SUBTEST(test_skip_within_chunk);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* text/event-stream parser: spec rules, splits, bounds, gaps. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "test.h"
#include "proto/sse_parser.h"

#define MAX_EV 32

struct ev {
	char data[4096];
	char type[SSE_TYPE_MAX];
	size_t data_len, data_total;
	bool truncated, gap, done;
	uint64_t ts;
};

struct ev_rec {
	struct ev e[MAX_EV];
	int n;
	char log[1 << 15];
	size_t log_len;
};

static struct ev_rec E, E2;
static struct sse_parser P, P2;

static void on_event(void *ctx, const struct sse_event *ev, uint64_t ts)
{
	struct ev_rec *r = ctx;
	struct ev *e = &r->e[r->n % MAX_EV];
	int k;

	snprintf(e->data, sizeof(e->data), "%s", ev->data);
	snprintf(e->type, sizeof(e->type), "%s", ev->type);
	e->data_len = ev->data_len;
	e->data_total = ev->data_total;
	e->truncated = ev->truncated;
	e->gap = ev->gap;
	e->done = ev->done;
	e->ts = ts;
	r->n++;
	k = snprintf(r->log + r->log_len, sizeof(r->log) - r->log_len,
		     "[%s|%s|%zu|%d%d%d]", ev->type, ev->data, ev->data_total,
		     ev->truncated, ev->gap, ev->done);
	if (k > 0 && r->log_len + k < sizeof(r->log))
		r->log_len += k;
}

static void start(struct sse_parser *p, struct ev_rec *r)
{
	memset(r, 0, sizeof(*r));
	sse_parser_init(p, on_event, r);
}

static void feed(struct sse_parser *p, const char *s, uint64_t ts)
{
	sse_parser_feed(p, s, strlen(s), ts);
}

static void test_basic(void)
{
	start(&P, &E);
	feed(&P, "data: {\"text\":\"hi\"}\n\n", 7);
	ASSERT_EQ(E.n, 1, "one event");
	ASSERT_STREQ(E.e[0].data, "{\"text\":\"hi\"}", "data");
	ASSERT_STREQ(E.e[0].type, "message", "default type");
	ASSERT_EQ(E.e[0].ts, 7, "ts");
	ASSERT_TRUE(!E.e[0].done && !E.e[0].gap && !E.e[0].truncated, "flags");
	feed(&P, "data: [DONE]\n\n", 8);
	ASSERT_EQ(E.n, 2, "two");
	ASSERT_TRUE(E.e[1].done, "[DONE]");
	ASSERT_EQ(P.stats.events, 2, "stats.events");
	ASSERT_EQ(P.stats.done, 1, "stats.done");

	/* not [DONE]: extra bytes, or a second data line */
	feed(&P, "data: [DONE] \n\ndata: [DONE]\ndata: x\n\n", 9);
	ASSERT_TRUE(!E.e[2].done && !E.e[3].done, "only exact [DONE]");
}

static void test_line_endings(void)
{
	static const char *const forms[] = {
		"data: a\ndata: b\n\nevent: e\ndata: c\n\n",
		"data: a\r\ndata: b\r\n\r\nevent: e\r\ndata: c\r\n\r\n",
		"data: a\rdata: b\r\revent: e\rdata: c\r\r",
		"data: a\r\ndata: b\n\revent: e\rdata: c\n\r\n",
	};
	size_t i;

	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		start(&P, &E);
		feed(&P, forms[i], 1);
		ASSERT_EQ(E.n, 2, "two events");
		ASSERT_STREQ(E.e[0].data, "a\nb", "joined with LF");
		ASSERT_STREQ(E.e[1].data, "c", "second");
		ASSERT_STREQ(E.e[1].type, "e", "event type");
	}
}

static void test_fields_and_comments(void)
{
	start(&P, &E);
	feed(&P, ": ping\n\n"			/* comment only: nothing */
		 "event: ping\n\n"		/* no data: not dispatched */
		 "data:no-space\n\n"
		 "data:  two spaces\n\n"
		 "data\n\n"			/* empty data */
		 "data:\ndata:\n\n"		/* "\n" */
		 "id: 7\nretry: 100\nfoo: bar\ndata: x\n: mid comment\n\n"
		 "dataX: nope\n\n"
		 "event: a\nevent: b\ndata: y\n\n"
		 "data: z\n\n", 1);
	ASSERT_EQ(E.n, 7, "events");
	ASSERT_STREQ(E.e[0].data, "no-space", "no space after colon");
	ASSERT_STREQ(E.e[1].data, " two spaces", "only one space dropped");
	ASSERT_STREQ(E.e[2].data, "", "bare data field");
	ASSERT_EQ(E.e[2].data_total, 0, "empty");
	ASSERT_STREQ(E.e[3].data, "\n", "two empty lines");
	ASSERT_STREQ(E.e[4].data, "x", "other fields ignored");
	ASSERT_STREQ(E.e[5].type, "b", "last event field wins");
	ASSERT_STREQ(E.e[6].type, "message", "type reset per event");
	ASSERT_EQ(P.stats.comments, 2, "comments");
}

static void test_splits(void)
{
	static const char stream[] =
		"\xef\xbb\xbf: hi\r\n\r\n"
		"data: {\"text\":\" Paris\"}\r\n\r\n"
		"event: delta\rdata: a\rdata: b\r\r"
		"data: x\n\n"
		"data: [DONE]\r\n\r\n";
	size_t len = strlen(stream), piece, off;
	unsigned int seed = 7;
	bool same = true;
	int round;

	start(&P, &E);
	feed(&P, stream, 1);
	ASSERT_EQ(E.n, 4, "whole: 4 events");
	ASSERT_TRUE(E.e[3].done, "done");
	for (piece = 1; piece <= 7; piece++) {
		start(&P2, &E2);
		for (off = 0; off < len; off += piece)
			sse_parser_feed(&P2, stream + off,
					len - off < piece ? len - off : piece, 1);
		if (strcmp(E.log, E2.log))
			same = false;
	}
	ASSERT_TRUE(same, "fixed splits == whole");
	same = true;
	for (round = 0; round < 200; round++) {
		start(&P2, &E2);
		for (off = 0; off < len; off += piece) {
			seed = seed * 1103515245 + 12345;
			piece = 1 + (seed >> 16) % 12;
			sse_parser_feed(&P2, stream + off,
					len - off < piece ? len - off : piece, 1);
		}
		if (strcmp(E.log, E2.log))
			same = false;
	}
	ASSERT_TRUE(same, "random splits == whole");
}

static void test_completing_ts(void)
{
	start(&P, &E);
	feed(&P, "data: he", 1);
	feed(&P, "llo\n", 2);
	ASSERT_EQ(E.n, 0, "not yet");
	feed(&P, "\n", 3);
	ASSERT_EQ(E.n, 1, "now");
	ASSERT_EQ(E.e[0].ts, 3, "ts of the completing piece");
	ASSERT_STREQ(E.e[0].data, "hello", "data");

	/* CRLF split between pieces: the CR completes the event */
	feed(&P, "data: x\r\n\r", 4);
	ASSERT_EQ(E.n, 2, "dispatched at CR");
	feed(&P, "\ndata: y\n\n", 5);
	ASSERT_EQ(E.n, 3, "LF not taken for a blank line");
	ASSERT_STREQ(E.e[2].data, "y", "next");
}

static void test_truncation(void)
{
	static char big[SSE_DATA_MAX + 100];
	size_t n;

	n = sprintf(big, "data: ");
	memset(big + n, 'a', SSE_DATA_MAX + 10);
	big[n + SSE_DATA_MAX + 10] = '\0';
	start(&P, &E);
	feed(&P, big, 1);
	feed(&P, "\ndata: more\n\n", 2);
	ASSERT_EQ(E.n, 1, "dispatched");
	ASSERT_TRUE(E.e[0].truncated, "truncated");
	ASSERT_EQ(E.e[0].data_len, SSE_DATA_MAX, "kept");
	ASSERT_EQ(E.e[0].data_total, SSE_DATA_MAX + 10 + 1 + 4, "real size");
	ASSERT_EQ(P.stats.truncated, 1, "stat");
	feed(&P, "data: ok\n\n", 3);
	ASSERT_TRUE(!E.e[1].truncated, "next event is fine");
	ASSERT_STREQ(E.e[1].data, "ok", "next");

	/* exactly SSE_DATA_MAX bytes of data is not truncated */
	start(&P, &E);
	n = sprintf(big, "data: ");
	memset(big + n, 'b', SSE_DATA_MAX);
	strcpy(big + n + SSE_DATA_MAX, "\n\n");
	feed(&P, big, 1);
	ASSERT_EQ(E.n, 1, "one");
	ASSERT_TRUE(!E.e[0].truncated, "fits");
	ASSERT_EQ(E.e[0].data_len, SSE_DATA_MAX, "all kept");
}

static void test_gap_then_new_line(void)
{
	start(&P, &E);
	feed(&P, "data: {\"text\":\" Par", 1);
	sse_parser_gap(&P, 200, 2);	/* rest of the event and "\n\n" */
	feed(&P, "data: {\"text\":\" Paris.\"}\n\n", 3);
	ASSERT_EQ(E.n, 2, "cut event and next one");
	ASSERT_TRUE(E.e[0].gap, "cut event flagged");
	ASSERT_STREQ(E.e[0].data, "{\"text\":\" Par", "its captured prefix");
	ASSERT_EQ(E.e[0].ts, 2, "ts of the gap");
	ASSERT_TRUE(!E.e[1].gap, "next event clean");
	ASSERT_EQ(E.e[1].ts, 3, "next ts");
	ASSERT_EQ(P.stats.gaps, 1, "gaps");
	ASSERT_EQ(P.stats.gap_events, 1, "gap_events");

	/* the probe itself split across pieces */
	start(&P, &E);
	feed(&P, "data: abc", 1);
	sse_parser_gap(&P, 10, 2);
	feed(&P, "da", 3);
	feed(&P, "ta: next\n\n", 4);
	ASSERT_EQ(E.n, 2, "two");
	ASSERT_STREQ(E.e[1].data, "next", "probe replayed");

	/* a gap at an event boundary loses no data we hold */
	start(&P, &E);
	feed(&P, "data: a\n\n", 1);
	sse_parser_gap(&P, 30, 2);
	feed(&P, "data: b\n\n", 3);
	ASSERT_EQ(E.n, 2, "no phantom event");
	ASSERT_TRUE(!E.e[1].gap, "b is whole");
}

static void test_gap_mid_line(void)
{
	start(&P, &E);
	feed(&P, "data: {\"a\":", 1);
	sse_parser_gap(&P, 50, 2);
	feed(&P, "tail of the line\"}\ndata: second line\n\ndata: n\n\n", 3);
	ASSERT_EQ(E.n, 2, "cut line skipped, event continues");
	ASSERT_TRUE(E.e[0].gap, "flagged");
	ASSERT_STREQ(E.e[0].data, "{\"a\":\nsecond line", "prefix + later lines");
	ASSERT_TRUE(!E.e[1].gap, "next clean");

	/* the byte after the gap ends the cut line */
	start(&P, &E);
	feed(&P, "data: x", 1);
	sse_parser_gap(&P, 5, 2);
	feed(&P, "\n\ndata: y\n\n", 3);
	ASSERT_EQ(E.n, 2, "two");
	ASSERT_STREQ(E.e[0].data, "x", "cut event");
	ASSERT_TRUE(E.e[0].gap, "flagged");
	ASSERT_EQ(E.e[0].ts, 3, "dispatched by the blank line");
}

static void test_finish(void)
{
	start(&P, &E);
	feed(&P, "data: a\n\ndata: partial\n", 1);
	sse_parser_finish(&P, 2);
	ASSERT_EQ(E.n, 1, "partial dropped");
	ASSERT_EQ(P.stats.partial_dropped, 1, "counted");
	feed(&P, "\n", 3);
	ASSERT_EQ(E.n, 1, "reset: nothing left to fire");
	feed(&P, "data: b\n\n", 4);
	ASSERT_EQ(E.n, 2, "usable after finish");
	sse_parser_finish(&P, 5);
	ASSERT_EQ(P.stats.partial_dropped, 1, "clean end not counted");
}

/* Streams as SGLang and the OpenAI-compatible endpoints write them. */
static void test_realistic(void)
{
	static const char generate[] =
		"data: {\"text\": \" Paris\", \"meta_info\": {\"id\": "
		"\"0f1e2d3c4b5a69788796a5b4c3d2e1f0\", \"finish_reason\": null, "
		"\"prompt_tokens\": 6, \"completion_tokens\": 1, "
		"\"cached_tokens\": 0}}\n\n"
		"data: {\"text\": \" Paris.\", \"meta_info\": {\"id\": "
		"\"0f1e2d3c4b5a69788796a5b4c3d2e1f0\", \"finish_reason\": "
		"{\"type\": \"length\", \"length\": 2}, \"prompt_tokens\": 6, "
		"\"completion_tokens\": 2, \"cached_tokens\": 0}}\n\n"
		"data: [DONE]\n\n";
	static const char chat[] =
		"data: {\"id\":\"abc\",\"object\":\"chat.completion.chunk\","
		"\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
		"\"content\":\"\"}}]}\n\n"
		"data: {\"id\":\"abc\",\"object\":\"chat.completion.chunk\","
		"\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"
		"data: {\"id\":\"abc\",\"choices\":[],\"usage\":{\"prompt_tokens\":"
		"5,\"completion_tokens\":1,\"total_tokens\":6}}\n\n"
		"data: [DONE]\n\n";

	start(&P, &E);
	feed(&P, generate, 1);
	ASSERT_EQ(E.n, 3, "generate: 3 events");
	ASSERT_TRUE(strstr(E.e[1].data, "\"completion_tokens\": 2") != NULL,
		    "last meta_info");
	ASSERT_TRUE(E.e[2].done, "done");
	start(&P, &E);
	feed(&P, chat, 1);
	ASSERT_EQ(E.n, 4, "chat: 4 events");
	ASSERT_TRUE(strstr(E.e[2].data, "\"usage\"") != NULL, "usage chunk");
	ASSERT_EQ(P.stats.done, 1, "done");
}

static void test_bom(void)
{
	start(&P, &E);
	feed(&P, "\xef\xbb", 1);
	feed(&P, "\xbf" "data: a\n\n", 2);
	ASSERT_EQ(E.n, 1, "BOM skipped");
	ASSERT_STREQ(E.e[0].data, "a", "data");
	feed(&P, "\xef\xbb\xbf" "data: b\n\n", 3);
	ASSERT_EQ(E.n, 1, "a BOM later is part of a field name");
}

void test_area_sse_parser(void)
{
	RUN_SUBTEST(test_basic);
	RUN_SUBTEST(test_line_endings);
	RUN_SUBTEST(test_fields_and_comments);
	RUN_SUBTEST(test_splits);
	RUN_SUBTEST(test_completing_ts);
	RUN_SUBTEST(test_truncation);
	RUN_SUBTEST(test_gap_then_new_line);
	RUN_SUBTEST(test_gap_mid_line);
	RUN_SUBTEST(test_finish);
	RUN_SUBTEST(test_realistic);
	RUN_SUBTEST(test_bom);
}

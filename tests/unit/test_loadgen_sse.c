// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* loadgen response side: SSE framing in any split, meta_info and usage
 * parsing, errors and garbage, the mapping onto the contract columns. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "lg_inband.h"
#include "lg_result.h"
#include "lg_row.h"
#include "lg_sse.h"

struct events {
	char text[8][128];
	int n;
};

static int collect(void *ctx, const char *data, size_t len)
{
	struct events *e = ctx;

	if (e->n < 8)
		snprintf(e->text[e->n], sizeof(e->text[0]), "%.*s", (int)len, data);
	e->n++;
	return 0;
}

static const char stream_text[] =
	": keep-alive comment\r\n"
	"data: {\"a\":1}\r\n\r\n"
	"event: message\n"
	"data:{\"b\":2}\n\n"
	"data: line1\n"
	"data: line2\n\n"
	"\n\n"
	"data: [DONE]\n\n";

static void check_events(const struct events *e, const char *how)
{
	ASSERT_EQ(e->n, 4, how);
	ASSERT_STREQ(e->text[0], "{\"a\":1}", "CRLF event, space stripped");
	ASSERT_STREQ(e->text[1], "{\"b\":2}", "no space after colon");
	ASSERT_STREQ(e->text[2], "line1\nline2", "data lines joined by newline");
	ASSERT_STREQ(e->text[3], "[DONE]", "DONE passed through");
}

static void test_sse_whole_and_split(void)
{
	size_t len = strlen(stream_text);
	struct events e = {};
	struct lg_sse p;

	lg_sse_init(&p);
	lg_sse_feed(&p, stream_text, len, collect, &e);
	lg_sse_finish(&p, collect, &e);
	check_events(&e, "whole buffer");
	lg_sse_free(&p);

	/* every split point, including inside "\r\n" */
	for (size_t cut = 1; cut < len; cut++) {
		struct events f = {};

		lg_sse_init(&p);
		lg_sse_feed(&p, stream_text, cut, collect, &f);
		lg_sse_feed(&p, stream_text + cut, len - cut, collect, &f);
		lg_sse_finish(&p, collect, &f);
		if (f.n != 4 || strcmp(f.text[2], "line1\nline2")) {
			ASSERT_TRUE(0, "split stream gives the same events");
			fprintf(stderr, "       cut at %zu\n", cut);
		}
		lg_sse_free(&p);
	}

	/* byte by byte, and an event without its final blank line */
	memset(&e, 0, sizeof(e));
	lg_sse_init(&p);
	for (size_t i = 0; i < len; i++)
		lg_sse_feed(&p, stream_text + i, 1, collect, &e);
	lg_sse_feed(&p, "data: tail", 10, collect, &e);
	ASSERT_EQ(e.n, 4, "tail not yet dispatched");
	lg_sse_finish(&p, collect, &e);
	ASSERT_EQ(e.n, 5, "tail dispatched at end of stream");
	lg_sse_free(&p);
}

static void feed_headers(struct lg_result *r, const char *ctype)
{
	char h[128];

	lg_result_header(r, "HTTP/1.1 100 Continue\r\n", 23);
	lg_result_header(r, "HTTP/1.1 200 OK\r\n", 17);
	snprintf(h, sizeof(h), "Content-Type: %s\r\n", ctype);
	lg_result_header(r, h, strlen(h));
	lg_result_header(r, "\r\n", 2);
}

static void feed(struct lg_result *r, const char *s, double now)
{
	lg_result_body(r, s, strlen(s), now);
}

/* What SGLang /generate streams with --enable-metrics. */
static void test_generate_stream_meta(void)
{
	struct lg_result r;
	struct lg_row row;

	lg_result_init(&r, LG_API_GENERATE);
	r.send_time = 1000000000.0;
	feed_headers(&r, "text/event-stream; charset=utf-8");
	ASSERT_EQ(r.status, 200, "last status line wins");
	ASSERT_TRUE(r.is_sse, "event stream detected");
	feed(&r, "data: {\"text\":\" a\",\"meta_info\":{\"id\":\"r1\",\"prompt_tokens\":5,"
		 "\"completion_tokens\":1,\"request_received_ts\":1000000000.1,"
		 "\"forward_entry_time\":1000000000.3,\"queue_time\":0.05,"
		 "\"prefill_finished_time\":1000000000.4}}\n\nda", 1000000000.5);
	feed(&r, "ta: {\"text\":\" a b\",\"meta_info\":{\"completion_tokens\":2}}\n\n",
	     1000000000.6);
	feed(&r, "data: {\"text\":\" a b c\",\"meta_info\":{\"completion_tokens\":3,"
		 "\"finish_reason\":{\"type\":\"length\",\"length\":3},"
		 "\"e2e_latency\":0.65,\"response_sent_to_client_ts\":1000000000.75,"
		 "\"request_finished_ts\":1000000000.74}}\n\ndata: [DONE]\n\n",
	     1000000000.8);
	lg_result_end(&r, NULL, 1000000000.9);

	ASSERT_TRUE(r.success, "success");
	ASSERT_TRUE(r.error == NULL, "no error");
	ASSERT_TRUE(r.has_text, "has text");
	ASSERT_EQ(r.chunks, 3, "three events with new tokens");
	ASSERT_EQ(r.prompt_tokens, 5, "prompt tokens");
	ASSERT_EQ(r.completion_tokens, 3, "completion tokens");
	ASSERT_EQ(r.total_tokens, 8, "total derived");
	ASSERT_STREQ(r.finish_reason, "length", "finish reason type");
	ASSERT_NEAR(r.first_byte_time, 1000000000.5, 1e-9, "first byte");
	ASSERT_NEAR(r.first_token_time, 1000000000.5, 1e-9, "first token = first event");
	ASSERT_NEAR(r.finish_time, 1000000000.8, 1e-9, "finish = last byte");
	ASSERT_NEAR(r.meta[LG_META_E2E_LATENCY], 0.65, 1e-9, "e2e_latency raw");
	ASSERT_NEAR(r.meta[LG_META_RESPONSE_SENT_TO_CLIENT_TS], 1000000000.75, 1e-9,
		    "response_sent_to_client_ts raw");

	lg_row_from_result(&row, &r);
	ASSERT_NEAR(row.ts[LG_TS_ARRIVAL], 1000000000.0, 1e-9, "arrival = send");
	ASSERT_TRUE(isnan(row.ts[LG_TS_ROUTER_SEND]), "router send unknown");
	ASSERT_NEAR(row.ts[LG_TS_SERVER_CREATED], 1000000000.1, 1e-6, "created = received_ts");
	ASSERT_NEAR(row.ts[LG_TS_QUEUE_START], 1000000000.25, 1e-6, "queue start = forward - queue_time");
	ASSERT_NEAR(row.ts[LG_TS_QUEUE_END], 1000000000.3, 1e-6, "queue end = forward_entry_time");
	ASSERT_NEAR(row.ts[LG_TS_SERVER_FIRST_TOKEN], 1000000000.4, 1e-6, "first token = prefill finished");
	ASSERT_NEAR(row.lat[LG_LAT_TOTAL], 0.8, 1e-6, "total latency");
	ASSERT_NEAR(row.lat[LG_LAT_TTFT], 0.4, 1e-6, "ttft");
	ASSERT_NEAR(row.lat[LG_LAT_PURE_QUEUE], 0.05, 1e-6, "pure queue = queue_time");
	ASSERT_NEAR(row.lat[LG_LAT_TOKENIZE], 0.15, 1e-6, "tokenize");
	ASSERT_NEAR(row.lat[LG_LAT_QUEUE_SERVER], 0.3, 1e-6, "queue in server");
	ASSERT_TRUE(isnan(row.lat[LG_LAT_SERVER]), "server latency needs router send");
	ASSERT_EQ(row.decode_length, 3, "decode length");
	lg_result_free(&r);
}

/* OpenAI chat stream: a role-only first chunk is no token; usage at the end. */
static void test_chat_stream_usage(void)
{
	struct lg_result r;
	struct lg_row row;

	lg_result_init(&r, LG_API_CHAT);
	r.send_time = 2000000000.0;
	feed_headers(&r, "text/event-stream");
	feed(&r, "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
	     2000000000.1);
	feed(&r, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
	     2000000000.2);
	feed(&r, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\"},\"finish_reason\":\"length\"}]}\n\n",
	     2000000000.3);
	feed(&r, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n"
		 "data: [DONE]\n\n", 2000000000.4);
	lg_result_end(&r, NULL, 2000000000.5);
	ASSERT_TRUE(r.success, "success");
	ASSERT_EQ(r.chunks, 2, "two chunks with content");
	ASSERT_NEAR(r.first_byte_time, 2000000000.1, 1e-9, "first byte at role chunk");
	ASSERT_NEAR(r.first_token_time, 2000000000.2, 1e-9, "first token at first content");
	ASSERT_EQ(r.prompt_tokens, 9, "usage prompt");
	ASSERT_EQ(r.completion_tokens, 2, "usage completion");
	ASSERT_EQ(r.total_tokens, 11, "usage total");
	ASSERT_STREQ(r.finish_reason, "length", "finish_reason string");
	lg_row_from_result(&row, &r);
	ASSERT_NEAR(row.ts[LG_TS_SERVER_FIRST_TOKEN], 2000000000.2, 1e-9,
		    "no server stamp: client's first token");
	ASSERT_TRUE(isnan(row.ts[LG_TS_SERVER_CREATED]), "no meta: created unknown");
	lg_result_free(&r);
}

/* Non-stream bodies, split anywhere, nested time_stats, aliases. */
static void test_whole_bodies(void)
{
	const char *gen = "{\"text\":\"xyz\",\"meta_info\":{\"prompt_tokens\":4,"
			  "\"completion_tokens\":6,\"time_stats\":{\"wait_queue_entry_time\":1700000000.2,"
			  "\"forward_entry_time\":1700000000.3},\"prefill_finished_ts\":1700000000.5}}";
	const char *cmpl = "{\"id\":\"r\",\"choices\":[{\"text\":\" out\",\"finish_reason\":\"length\"}],"
			   "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}";
	struct lg_result r;
	struct lg_row row;

	lg_result_init(&r, LG_API_GENERATE);
	feed_headers(&r, "application/json");
	lg_result_body(&r, gen, 10, 1700000001.0);
	lg_result_body(&r, gen + 10, strlen(gen) - 10, 1700000001.1);
	lg_result_end(&r, NULL, 1700000001.2);
	ASSERT_TRUE(r.success && r.has_text, "generate body ok");
	ASSERT_EQ(r.chunks, 0, "no stream chunks");
	ASSERT_TRUE(isnan(r.first_token_time), "no client first token without stream");
	ASSERT_EQ(r.completion_tokens, 6, "completion tokens");
	ASSERT_NEAR(r.meta[LG_META_WAIT_QUEUE_ENTRY_TIME], 1700000000.2, 1e-6, "nested time_stats");
	ASSERT_NEAR(r.meta[LG_META_PREFILL_FINISHED_TIME], 1700000000.5, 1e-6, "alias prefill_finished_ts");
	lg_row_from_result(&row, &r);
	ASSERT_NEAR(row.ts[LG_TS_QUEUE_START], 1700000000.2, 1e-6, "queue start = wait_queue_entry_time");
	ASSERT_NEAR(row.lat[LG_LAT_PURE_QUEUE], 0.1, 1e-6, "pure queue from stamps");
	lg_result_free(&r);

	lg_result_init(&r, LG_API_COMPLETIONS);
	feed_headers(&r, "application/json");
	feed(&r, cmpl, 1.0);
	lg_result_end(&r, NULL, 1.0);
	ASSERT_TRUE(r.success && r.has_text, "completions body ok");
	ASSERT_EQ(r.total_tokens, 4, "usage");
	lg_result_free(&r);

	/* perf_counter() stamps stay raw but are no epoch timestamps */
	lg_result_init(&r, LG_API_GENERATE);
	feed_headers(&r, "application/json");
	feed(&r, "{\"text\":\"a\",\"meta_info\":{\"forward_entry_time\":8123.5}}", 1.0);
	lg_result_end(&r, NULL, 1.0);
	lg_row_from_result(&row, &r);
	ASSERT_NEAR(r.meta[LG_META_FORWARD_ENTRY_TIME], 8123.5, 0, "raw kept");
	ASSERT_TRUE(isnan(row.ts[LG_TS_QUEUE_END]), "uptime clock not mapped");
	lg_result_free(&r);
}

static void test_errors_and_garbage(void)
{
	struct lg_result r;

	lg_result_init(&r, LG_API_COMPLETIONS);
	lg_result_header(&r, "HTTP/1.1 400 Bad Request\r\n", 26);
	lg_result_header(&r, "content-type: application/json\r\n", 32);
	feed(&r, "{\"object\":\"error\",\"message\":\"max_tokens too large\",\"code\":400}", 1);
	lg_result_end(&r, NULL, 1);
	ASSERT_TRUE(!r.success, "400 fails");
	ASSERT_STREQ(r.error, "HTTP 400 Bad Request: max_tokens too large", "status, reason, message");
	lg_result_free(&r);

	lg_result_init(&r, LG_API_GENERATE);
	feed_headers(&r, "text/html");
	feed(&r, "<html>oops</html>", 1);
	lg_result_end(&r, NULL, 1);
	ASSERT_TRUE(!r.success, "garbage fails");
	ASSERT_TRUE(r.error && strstr(r.error, "not JSON"), "says not JSON");
	ASSERT_TRUE(r.error && strstr(r.error, "<html>oops"), "shows the garbage");
	lg_result_free(&r);

	lg_result_init(&r, LG_API_GENERATE);
	feed_headers(&r, "text/event-stream");
	feed(&r, "data: {\"text\":\"a\",\"meta_info\":{\"completion_tokens\":1}}\n\n"
		 "data: {\"error\":{\"message\":\"engine died\"}}\n\n", 1);
	lg_result_end(&r, NULL, 1);
	ASSERT_STREQ(r.error, "engine died", "error object inside a 200 stream");
	lg_result_free(&r);

	lg_result_init(&r, LG_API_GENERATE);
	feed_headers(&r, "application/json");
	feed(&r, "{\"text\":\"\",\"meta_info\":{\"finish_reason\":{\"type\":\"abort\","
		 "\"message\":\"queue full\"}}}", 1);
	lg_result_end(&r, NULL, 1);
	ASSERT_STREQ(r.error, "aborted by server: queue full", "abort finish reason");
	ASSERT_TRUE(!r.has_text, "no text");
	lg_result_free(&r);

	lg_result_init(&r, LG_API_GENERATE);
	feed_headers(&r, "text/event-stream");
	feed(&r, "hello there\n\n", 1);
	lg_result_end(&r, NULL, 1);
	ASSERT_TRUE(r.error && strstr(r.error, "without any data"), "stream of no events");
	lg_result_free(&r);

	lg_result_init(&r, LG_API_GENERATE);
	lg_result_end(&r, "Failed to connect to 127.0.0.1 port 1", 5);
	ASSERT_STREQ(r.error, "Failed to connect to 127.0.0.1 port 1", "transport error");
	ASSERT_NEAR(r.finish_time, 5, 0, "finish = when the failure was seen");
	lg_result_free(&r);

	lg_result_init(&r, LG_API_GENERATE);
	feed_headers(&r, "application/json");
	lg_result_end(&r, NULL, 1);
	ASSERT_STREQ(r.error, "empty response body", "empty 200");
	lg_result_free(&r);
}

static bool starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static void test_inband_csv_row(void)
{
	struct lg_inband_ctx ctx = { .endpoint = "/generate", .stream = false };
	struct lg_item it = { .input_len = 3, .output_len = 4 };
	struct lg_result r;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	char *line2;

	lg_result_init(&r, LG_API_GENERATE);
	r.send_time = 1753795137.123456;
	r.sent = true;
	lg_result_header(&r, "HTTP/1.1 500 Internal Server Error\r\n", 36);
	feed(&r, "{\"error\":\"bad, \\\"very\\\" bad\"}", 1753795137.5);
	lg_result_end(&r, NULL, 1753795137.6);
	lg_inband_header(f);
	lg_inband_row(f, &ctx, "lg-x-000001", &it, &r);
	fclose(f);
	ASSERT_TRUE(starts_with(buf, "req_id,success,error,host,has_generated_text,input_length,"
			     "expected_output_length,actual_prompt_tokens,actual_output_tokens,"
			     "actual_total_tokens,output_tokens_from_trace,decode_length,"
			     "arrival_time,router_send_time,server_created_time,queue_time_start,"
			     "queue_time_end,server_first_token_time,finish_time,server_latency,"
			     "total_latency,ttft,queue_time_in_router,queue_time_in_server,"
			     "tokenize_time,pure_queue_time,"), "contract columns first, in order");
	line2 = strchr(buf, '\n') + 1;
	ASSERT_TRUE(starts_with(line2, "lg-x-000001,False,\"HTTP 500 Internal Server Error: bad, \"\"very\"\" bad\",,False,3,4,,,,,,1753795137.123456,,,,,,1753795137.500000,,0.376544,"),
		    "row: quoted error, 6 decimals, empty unknowns");
	free(buf);
	lg_result_free(&r);
}

void test_area_loadgen_sse(void)
{
	RUN_SUBTEST(test_sse_whole_and_split);
	RUN_SUBTEST(test_generate_stream_meta);
	RUN_SUBTEST(test_chat_stream_usage);
	RUN_SUBTEST(test_whole_bodies);
	RUN_SUBTEST(test_errors_and_garbage);
	RUN_SUBTEST(test_inband_csv_row);
}

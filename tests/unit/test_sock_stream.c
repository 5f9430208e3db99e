// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* bpf/sock_stream.h (the kernel's byte tests) and, through the kernel
 * mirror, the collector on what the kernel sends when it holds SSE
 * events back: the rows must be those of a full capture. */
#include <stdlib.h>
#include <string.h>
#include "capture/recording.h"
#include "conn/collector.h"
#include "correlate/correlator.h"
#include "fixture.h"
#include "kernel_mirror.h"
#include "output/clock.h"
#include "output/output.h"
#include "sock_h2.h"
#include "sock_stream.h"
#include "test.h"

static void test_head_kind(void)
{
	ASSERT_EQ(stream_head_kind("HTTP/1.1 200 OK\r\n", 17), HEAD_MESSAGE, "status line");
	ASSERT_EQ(stream_head_kind("POST /generate HTTP/1.1", 23), HEAD_MESSAGE, "request line");
	ASSERT_EQ(stream_head_kind("GET /health", 11), HEAD_MESSAGE, "GET");
	ASSERT_EQ(stream_head_kind("PRI * HTTP/2.0\r\n", 16), HEAD_OTHER, "HTTP/2 preface");
	ASSERT_EQ(stream_head_kind("POS", 3), HEAD_NONE, "too short to tell");
	ASSERT_EQ(stream_head_kind("1a\r\ndata: x", 11), HEAD_NONE, "a chunk");
	ASSERT_EQ(stream_head_kind("HTTP/1.", 6), HEAD_NONE, "cut status line");
}

static void test_chunk_head(void)
{
	struct chunk_head ch;

	ASSERT_TRUE(chunk_head_parse("1a\r\ndata: {}", 12, &ch), "chunk with data");
	ASSERT_EQ(ch.size, 26, "hex size");
	ASSERT_EQ(ch.head_len, 4, "size line length");
	ASSERT_TRUE(ch.sse_data && !ch.sse_done && !ch.sse_other, "an SSE data event");
	ASSERT_TRUE(chunk_head_parse("E\r\ndata: [DONE]\n\n", 17, &ch) && ch.sse_done, "[DONE]");
	ASSERT_TRUE(chunk_head_parse("e\r\ndata:[DONE]", 14, &ch) && ch.sse_done, "[DONE] unspaced");
	ASSERT_TRUE(chunk_head_parse("0\r\n\r\n", 5, &ch) && ch.size == 0, "last chunk");
	ASSERT_TRUE(chunk_head_parse("FFfe\r\n: ping", 12, &ch) && ch.size == 0xfffe &&
		    ch.sse_other, "comment line, mixed-case hex");
	ASSERT_TRUE(chunk_head_parse("10\r\n{\"json\": 1}", 16, &ch) && !ch.sse_data &&
		    !ch.sse_other, "not SSE");
	ASSERT_TRUE(!chunk_head_parse("1a;ext=1\r\ndata:", 15, &ch), "extensions: not followed");
	ASSERT_TRUE(!chunk_head_parse("123456789\r\n", 11, &ch), "more than 8 hex digits");
	ASSERT_TRUE(!chunk_head_parse("1a\r", 3, &ch), "cut size line");
	ASSERT_TRUE(!chunk_head_parse("\r\ndata:", 7, &ch), "no digits");
	ASSERT_TRUE(!chunk_head_parse("zz\r\n", 4, &ch), "not hex");
}

/* The kernel's HTTP/2 byte tests (bpf/sock_h2.h). */
static void test_h2_heads(void)
{
	static const __u8 settings[9] = { 0, 0, 24, H2K_SETTINGS, 0, 0, 0, 0, 0 };
	static const __u8 data[9] = { 0, 0, 63, H2K_DATA, 0, 0, 0, 0, 11 };
	static const __u8 even[9] = { 0, 0, 63, H2K_DATA, 0, 0, 0, 0, 12 };
	static const __u8 bad_flags[9] = { 0, 0, 63, H2K_DATA, 0x4, 0, 0, 0, 11 };
	static const __u8 rst[9] = { 0, 0, 4, H2K_RST_STREAM, 0, 0, 0, 0, 11 };
	static const char *const text[] = {
		"POST /generate HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\n", "1a\r\ndata: {}\n\n\r\n",
		"data: {\"a\":1}\n\n", "PRI * HTTP/2.0\r\n",
	};
	struct h2k_head h;

	ASSERT_TRUE(h2k_head_valid(settings), "SETTINGS");
	ASSERT_TRUE(h2k_head_valid(data) && h2k_head_valid(rst), "DATA, RST_STREAM");
	ASSERT_TRUE(!h2k_head_valid(even), "an even (pushed) stream");
	ASSERT_TRUE(!h2k_head_valid(bad_flags), "flags DATA cannot carry");
	for (unsigned i = 0; i < sizeof(text) / sizeof(text[0]); i++)
		ASSERT_TRUE(!h2k_head_valid((const __u8 *)text[i]), text[i]);
	h2k_head_parse(data, &h);
	ASSERT_TRUE(h.len == 63 && h.type == H2K_DATA && h.sid == 11 && !h.flags, "parsed");
}

/* Which DATA frames a held call may hold: one whole uncompressed message
 * shaped like a GenerateStreamChunk (field 1, then field 2). */
static void test_h2_frame_kind(void)
{
	/* 5-byte prefix, 0a 02 "id", then the oneof tag */
	__u8 p[12] = { 0, 0, 0, 0, 7, 0x0a, 2, 'i', 'd', 0x12, 1, 0 };
	struct h2k_head h = { .len = 12, .type = H2K_DATA, .sid = 1 };
	__u32 tag_at = 0;

	ASSERT_EQ(h2k_frame_kind(&h, p, 12, &tag_at), H2KF_NEED_TAG, "a message, tag to look at");
	ASSERT_EQ(tag_at, 9, "after the request id");
	ASSERT_TRUE(h2k_tag_is_chunk(p[tag_at]) && !h2k_tag_is_chunk(0x1a), "chunk, not complete");
	h.flags = H2K_END_STREAM;
	ASSERT_EQ(h2k_frame_kind(&h, p, 12, &tag_at), H2KF_SEND, "END_STREAM is sent");
	h.flags = 0;
	h.len = 13;
	ASSERT_EQ(h2k_frame_kind(&h, p, 12, &tag_at), H2KF_SEND, "not one whole message");
	h.len = 12;
	p[0] = 1;
	ASSERT_EQ(h2k_frame_kind(&h, p, 12, &tag_at), H2KF_SEND, "compressed");
	h.type = H2K_WINDOW_UPDATE;
	ASSERT_EQ(h2k_frame_kind(&h, p, 12, &tag_at), H2KF_CTL, "WINDOW_UPDATE may be held");
	h.type = H2K_HEADERS;
	ASSERT_EQ(h2k_frame_kind(&h, p, 12, &tag_at), H2KF_SEND, "HEADERS never");
}

/* A stream's first DATA frame is sent; the table of streams waiting for
 * it is bounded. */
static void test_h2_streams(void)
{
	struct h2k_state st = { 0 };
	struct h2k_call c = { .hold = 1 };
	struct h2k_head hd = { .type = H2K_HEADERS, .sid = 5 };
	struct h2k_head d = { .type = H2K_DATA, .sid = 5, .len = 63 };

	h2k_frame_seen(&st, &c, &hd, H2KF_SEND);
	c.hold = 1;
	h2k_frame_seen(&st, &c, &d, H2KF_CHUNK);
	ASSERT_TRUE(!c.hold && !c.msgs, "the first DATA frame is sent");
	c.hold = 1;
	h2k_frame_seen(&st, &c, &d, H2KF_CHUNK);
	ASSERT_TRUE(c.hold && c.msgs == 1 && c.data_bytes == 63, "the next one may be held");
	for (__u32 sid = 1; sid < 4 * H2K_WANT; sid += 2)
		h2k_want_add(&st, sid);
	ASSERT_TRUE(h2k_want_take(&st, 4 * H2K_WANT - 1), "the newest stream is in the table");
	ASSERT_TRUE(h2k_span_take(&st, &c) && st.nspan == 1 && st.span[0].msgs == 1,
		    "the span takes the call's stream");
}

/* ---- the mirror against a full capture ------------------------------ */

#define RECORDING "tests/unit/data/router_sglang.strec"

struct run {
	struct fixture *fx;
};

static void to_collector(void *ctx, const struct sock_event *ev, const char *data)
{
	struct run *r = ctx;

	collector_handle(r->fx->col, ev, data);
	fixture_tick(r->fx, collector_last_ts(r->fx->col));
}

/* Replays the recording's socket events, through the mirror or not, and
 * returns the CSV the rows make. */
static char *replay_csv(bool mirrored, uint64_t *skipped)
{
	struct run r = {};
	struct kernel_mirror *km = NULL;
	FILE *f = fopen(RECORDING, "r"), *csv;
	struct output out;
	char *buf = NULL, *text = NULL;
	size_t cap = 0, len = 0;
	uint32_t src;
	int64_t off;
	long n;

	if (!f || recording_read_header(f, &off))
		return NULL;
	clock_set_offset(off);
	r.fx = fixture_setup(&(struct fixture_opts){
		.have_router = true, .max_conns = 1024, .linger_ns = 300 * MS,
		.orphan_ns = 10000 * MS, .idle_ns = 600000 * MS,
		.max_exchanges = 10000, .max_hop_records = 10000, .max_rids = 10000,
	});
	if (mirrored)
		km = kernel_mirror_new(to_collector, &r);
	while ((n = recording_read(f, &src, &buf, &cap)) > 0) {
		const struct sock_event *ev = (const void *)buf;

		if (src == REC_ROLE) {
			const struct rec_role *rr = (const void *)buf;

			collector_set_role(r.fx->col, rr->tgid, rr->role);
		} else if (src == REC_SOCK && km) {
			kernel_mirror_feed(km, ev, (const char *)(ev + 1));
		} else if (src == REC_SOCK) {
			to_collector(&r, ev, (const char *)(ev + 1));
		}
	}
	collector_flush(r.fx->col);
	correlator_flush(r.fx->corr);
	csv = open_memstream(&text, &len);
	output_init(&out, csv, OUT_CSV);
	for (int i = 0; i < r.fx->nrows; i++)
		output_row(&out, &r.fx->rows[i]);
	output_finish(&out);
	fclose(csv);
	if (skipped)
		*skipped = km ? kernel_mirror_skipped(km) : 0;
	fixture_teardown(r.fx);
	kernel_mirror_free(km);
	free(buf);
	fclose(f);
	return text;
}

static void test_mirror_rows_equal_full_capture(void)
{
	uint64_t skipped = 0;
	char *full = replay_csv(false, NULL);
	char *held = replay_csv(true, &skipped);

	if (!ASSERT_TRUE(full && held, "recording replays (run from the repo root)"))
		goto out;
	ASSERT_TRUE(skipped > 100, "the mirror held SSE events back");
	ASSERT_TRUE(strlen(full) > 1000, "rows were made");
	ASSERT_STREQ(held, full, "same CSV with events held back");
out:
	free(full);
	free(held);
}

/* ---- OpenAI streams held back: the token count ---------------------- */

#define NODE 4343

struct held_feed {
	struct fixture *f;
	struct gen_conn conn;		/* the worker's: fd 7, :30001 <- :40001 */
	struct kernel_mirror *km;	/* NULL: a full capture */
	char buf[sizeof(struct sock_event) + 4096];
};

static void held_to_collector(void *ctx, const struct sock_event *ev, const char *data)
{
	collector_handle(ctx, ev, data);
}

/* One call of the worker's connection, through the mirror or not. */
static void held_call(struct held_feed *h, uint32_t type, int dir, const char *data)
{
	size_t len = data ? strlen(data) : 0;
	struct sock_event *e = gen_record(&h->conn, h->buf, sizeof(h->buf) - sizeof(*e), type,
					  dir, data, len, type == EV_ACCEPT ? h->conn.fd : (long)len);

	if (h->km)
		kernel_mirror_feed(h->km, e, (const char *)(e + 1));
	else
		collector_handle(h->f->col, e, (const char *)(e + 1));
}

/* One chunk per event; `pending` gathers several for one call. */
static void held_chunk(struct held_feed *h, const char *event, char *pending)
{
	char c[1024];

	snprintf(c, sizeof(c), "%zx\r\n%s\r\n", strlen(event), event);
	if (pending)
		strcat(pending, c);
	else
		held_call(h, EV_DATA, DIR_WRITE, c);
}

/* A streamed chat completion of `tokens` content chunks, one write each,
 * as SGLang sends it: the role chunk, the content, the closing chunk
 * (finish_reason, no content; vllm_style: the last content chunk carries
 * it instead), the usage chunk if asked, [DONE]; coalesced: those last
 * three in one write, as sglang-router flushes them (2: with the last 20
 * content events before them, more than the kernel keeps of a call). Returns the row's
 * output_tokens_from_trace. */
static long long chat_stream(bool mirrored, int tokens, bool usage, bool vllm_style,
			     int coalesced, uint64_t *held)
{
	char last[3500] = "", *end = coalesced ? last : NULL;
	static const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
				  "\"stream\":true,\"rid\":\"chat-held\"}";
	struct held_feed *h = calloc(1, sizeof(*h));
	char req[512], ev[512];
	long long got;

	h->f = fixture_setup(&(struct fixture_opts){ 0 });
	h->conn = gen_conn(&h->f->gen, NODE, 7, 30001, 40001);
	if (mirrored)
		h->km = kernel_mirror_new(held_to_collector, h->f->col);
	collector_set_role(h->f->col, NODE, ROLE_WORKER);
	snprintf(req, sizeof(req), "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
		 "content-type: application/json\r\ncontent-length: %zu\r\n\r\n%s", strlen(body), body);
	held_call(h, EV_ACCEPT, DIR_READ, NULL);
	held_call(h, EV_DATA, DIR_READ, req);
	held_call(h, EV_DATA, DIR_WRITE, "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
		  "transfer-encoding: chunked\r\n\r\n");
	held_chunk(h, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
		   "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n", NULL);
	for (int i = 0; i < tokens; i++) {
		bool last = vllm_style && i == tokens - 1;

		snprintf(ev, sizeof(ev), "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
			 "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" w%d\"},\"finish_reason\":%s}]}\n\n",
			 i, last ? "\"length\"" : "null");
		/* coalesced > 1: the last content events join the flush too,
		 * past the kernel's 1 KiB tail (a late reader's big flush) */
		held_chunk(h, ev, coalesced > 1 && i >= tokens - 20 ? end : NULL);
	}
	if (!vllm_style)
		held_chunk(h, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
			   "\"delta\":{},\"finish_reason\":\"length\"}]}\n\n", end);
	if (usage) {
		snprintf(ev, sizeof(ev), "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],"
			 "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":%d,\"total_tokens\":%d}}\n\n",
			 tokens, tokens + 3);
		held_chunk(h, ev, end);
	}
	held_chunk(h, "data: [DONE]\n\n", end);
	if (coalesced)
		held_call(h, EV_DATA, DIR_WRITE, last);
	held_call(h, EV_DATA, DIR_WRITE, "0\r\n\r\n");
	held_call(h, EV_CLOSE, DIR_READ, NULL);
	fixture_tick(h->f, h->f->gen.now + 2000 * MS);
	got = fixture_row(h->f, "chat-held") ? fixture_row(h->f, "chat-held")->output_tokens_from_trace : -2;
	if (held)
		*held = h->km ? kernel_mirror_skipped(h->km) : 0;
	kernel_mirror_free(h->km);
	fixture_teardown(h->f);
	free(h);
	return got;
}

/* The closing chunk sits between the content and the usage chunk: held
 * back, it was counted as a token (one above the client, on the 10k-token
 * chat stream of test_long_stream.py). The kernel sends the tails of the
 * last two held calls, and every event parsed from them counts itself,
 * however many a call holds. */
static void test_held_chat_token_count(void)
{
	static const struct { bool usage, vllm; int coalesced; const char *what; } cases[] = {
		{ true, false, 0, "closing chunk, then usage (SGLang, include_usage)" },
		{ true, false, 1, "closing chunk, usage and [DONE] in one write (the router)" },
		{ true, false, 2, "20 events, closing, usage and [DONE] in one 2 KiB flush (late reader)" },
		{ false, false, 0, "closing chunk last (no usage asked)" },
		{ false, false, 1, "closing chunk and [DONE] in one write" },
		{ true, true, 0, "finish_reason on the last content chunk, then usage (vLLM)" },
		{ false, true, 0, "finish_reason on the last content chunk, nothing after" },
	};
	char what[160];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t held = 0;
		long long full = chat_stream(false, 40, cases[i].usage, cases[i].vllm,
					     cases[i].coalesced, NULL);
		long long mirrored = chat_stream(true, 40, cases[i].usage, cases[i].vllm,
						 cases[i].coalesced, &held);

		snprintf(what, sizeof(what), "%s: full capture counts 40", cases[i].what);
		ASSERT_EQ(full, 40, what);
		snprintf(what, sizeof(what), "%s: events held back", cases[i].what);
		ASSERT_TRUE(held >= 19, what);
		snprintf(what, sizeof(what), "%s: held back, still 40", cases[i].what);
		ASSERT_EQ(mirrored, 40, what);
	}
}

void test_area_sock_stream(void)
{
	RUN_SUBTEST(test_head_kind);
	RUN_SUBTEST(test_chunk_head);
	RUN_SUBTEST(test_h2_heads);
	RUN_SUBTEST(test_h2_frame_kind);
	RUN_SUBTEST(test_h2_streams);
	RUN_SUBTEST(test_mirror_rows_equal_full_capture);
	RUN_SUBTEST(test_held_chat_token_count);
}

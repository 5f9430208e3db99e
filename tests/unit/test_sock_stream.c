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
	char buf[sizeof(struct sock_event) + 65536];	/* a whole call */
};

static uint64_t held_sent_bytes;	/* response bytes the mirror sent as data */

static void held_to_collector(void *ctx, const struct sock_event *ev, const char *data)
{
	if (ev->type == EV_DATA && ev->dir == DIR_WRITE)
		held_sent_bytes += ev->cap_len;
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

/* A worker's SSE exchange opened on a fresh fixture: the accept, a POST
 * of `body` to `path`, and the chunked event-stream head (in `pending`,
 * to go out with what follows, if not NULL). */
static struct held_feed *held_open(bool mirrored, const char *path, const char *body,
				   char *pending)
{
	static const char *head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
				  "transfer-encoding: chunked\r\n\r\n";
	struct held_feed *h = calloc(1, sizeof(*h));
	char req[512];

	h->f = fixture_setup(&(struct fixture_opts){ 0 });
	h->conn = gen_conn(&h->f->gen, NODE, 7, 30001, 40001);
	if (mirrored)
		h->km = kernel_mirror_new(held_to_collector, h->f->col);
	collector_set_role(h->f->col, NODE, ROLE_WORKER);
	snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nhost: x\r\ncontent-type: "
		 "application/json\r\ncontent-length: %zu\r\n\r\n%s", path, strlen(body), body);
	held_call(h, EV_ACCEPT, DIR_READ, NULL);
	held_call(h, EV_DATA, DIR_READ, req);
	if (pending)
		strcpy(pending, head);
	else
		held_call(h, EV_DATA, DIR_WRITE, head);
	return h;
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
 * content events before them, more than the kernel keeps of a call; 3:
 * with the last 100 and the last chunk, past the capture size: a slow
 * reader's queue). Returns the row's output_tokens_from_trace. */
static long long chat_stream_split(bool mirrored, int tokens, bool usage, bool vllm_style,
				   int coalesced, size_t split, uint64_t *held, long long *actual)
{
	char last[20000] = "", *end = coalesced ? last : NULL;
	static const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
				  "\"stream\":true,\"rid\":\"chat-held\"}";
	struct held_feed *h = held_open(mirrored, "/v1/chat/completions", body, NULL);
	char ev[512];
	long long got;

	held_chunk(h, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
		   "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n", NULL);
	for (int i = 0; i < tokens; i++) {
		bool last = vllm_style && i == tokens - 1;

		snprintf(ev, sizeof(ev), "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
			 "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" w%d\"},\"finish_reason\":%s}]}\n\n",
			 i, last ? "\"length\"" : "null");
		/* coalesced > 1: the last content events join the flush too,
		 * past the kernel's 1 KiB tail (a late reader's big flush) */
		held_chunk(h, ev, coalesced > 1 && i >= tokens - (coalesced > 2 ? 100 : 20) ?
				  end : NULL);
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
	if (coalesced > 2)
		strcat(last, "0\r\n\r\n");
	if (coalesced && split && split < strlen(last)) {
		size_t n = strlen(last);
		char save = last[n - split];

		last[n - split] = 0;
		held_call(h, EV_DATA, DIR_WRITE, last);		/* a partial write */
		last[n - split] = save;
		held_call(h, EV_DATA, DIR_WRITE, last + n - split);	/* its rest */
	} else if (coalesced) {
		held_call(h, EV_DATA, DIR_WRITE, last);
	}
	if (coalesced < 3)
		held_call(h, EV_DATA, DIR_WRITE, "0\r\n\r\n");
	held_call(h, EV_CLOSE, DIR_READ, NULL);
	fixture_tick(h->f, h->f->gen.now + 2000 * MS);
	got = fixture_row(h->f, "chat-held") ? fixture_row(h->f, "chat-held")->output_tokens_from_trace : -2;
	if (actual)
		*actual = fixture_row(h->f, "chat-held") ?
			  fixture_row(h->f, "chat-held")->actual_output_tokens : -2;
	if (held)
		*held = h->km ? kernel_mirror_skipped(h->km) : 0;
	kernel_mirror_free(h->km);
	fixture_teardown(h->f);
	free(h);
	return got;
}

static long long chat_stream(bool mirrored, int tokens, bool usage, bool vllm_style,
			     int coalesced, uint64_t *held)
{
	return chat_stream_split(mirrored, tokens, usage, vllm_style, coalesced, 0, held, NULL);
}

/* The closing chunk sits between the content and the usage chunk: held
 * back, it was counted as a token (one above the client, on the 10k-token
 * chat stream of test_long_stream.py). The kernel sends the tails of the
 * last two held calls, and every event parsed from them counts itself,
 * however many a call holds. */
static void test_held_chat_token_count(void)
{
	static const struct { bool usage, vllm; int coalesced, tokens; const char *what; } cases[] = {
		{ true, false, 0, 40, "closing chunk, then usage (SGLang, include_usage)" },
		{ true, false, 1, 40, "closing chunk, usage and [DONE] in one write (the router)" },
		{ true, false, 2, 40, "20 events, closing, usage and [DONE] in one 2 KiB flush (late reader)" },
		{ true, false, 3, 150, "100 events to the last chunk in one 14 KiB write (slow reader)" },
		{ false, false, 3, 150, "the same, no usage asked" },
		{ false, false, 0, 40, "closing chunk last (no usage asked)" },
		{ false, false, 1, 40, "closing chunk and [DONE] in one write" },
		{ true, true, 0, 40, "finish_reason on the last content chunk, then usage (vLLM)" },
		{ false, true, 0, 40, "finish_reason on the last content chunk, nothing after" },
	};
	char what[160];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t held = 0;
		int n = cases[i].tokens;
		long long full = chat_stream(false, n, cases[i].usage, cases[i].vllm,
					     cases[i].coalesced, NULL);
		long long mirrored = chat_stream(true, n, cases[i].usage, cases[i].vllm,
						 cases[i].coalesced, &held);

		snprintf(what, sizeof(what), "%s: full capture counts %d", cases[i].what, n);
		ASSERT_EQ(full, n, what);
		snprintf(what, sizeof(what), "%s: events held back", cases[i].what);
		ASSERT_TRUE(held >= 19, what);
		snprintf(what, sizeof(what), "%s: held back, still %d", cases[i].what, n);
		ASSERT_EQ(mirrored, n, what);
	}
}

/* A chat stream whose head goes out with its first `first` content
 * events in one call (a proxy reads 4 KiB of its upstream at a time),
 * then one event a call. Returns output_tokens_from_trace; *held: the
 * calls the mirror held back. */
static long long chat_head_with_events(bool mirrored, int tokens, int first, uint64_t *held)
{
	static const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
				  "\"stream\":true,\"rid\":\"chat-head\"}";
	char ev[256], call[8192];
	struct held_feed *h;
	const struct timeline_row *row;
	long long got;

	held_sent_bytes = 0;
	h = held_open(mirrored, "/v1/chat/completions", body, call);
	for (int i = 0; i < tokens; i++) {
		snprintf(ev, sizeof(ev), "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
			 "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" w%d\"},"
			 "\"finish_reason\":null}]}\n\n", i);
		held_chunk(h, ev, i < first ? call : NULL);
		if (i == first - 1)
			held_call(h, EV_DATA, DIR_WRITE, call);	/* the head and its events */
	}
	held_chunk(h, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
		   "\"delta\":{},\"finish_reason\":\"length\"}]}\n\n", NULL);
	held_chunk(h, "data: [DONE]\n\n", NULL);
	held_call(h, EV_DATA, DIR_WRITE, "0\r\n\r\n");
	held_call(h, EV_CLOSE, DIR_READ, NULL);
	fixture_tick(h->f, h->f->gen.now + 2000 * MS);
	row = fixture_row(h->f, "chat-head");
	got = row ? row->output_tokens_from_trace : -2;
	*held = h->km ? kernel_mirror_skipped(h->km) : 0;
	kernel_mirror_free(h->km);
	fixture_teardown(h->f);
	free(h);
	return got;
}

/* The head's call carried the first events, and the call after it was
 * sent too, as if it held the first event (two 4 KiB records a stream
 * more on each hop of the capture bench). Every call after the head is
 * held back now, and so are the head call's events after its first (one
 * held piece more), and the count stays exact. */
static void test_held_head_with_events(void)
{
	uint64_t sent_one = 0;
	char what[160];

	for (int first = 1; first <= 30; first++) {
		uint64_t held = 0, none = 0;
		long long full = chat_head_with_events(false, 40, first, &none);
		long long mirrored = chat_head_with_events(true, 40, first, &held);

		/* the head call sent up to its first event only: the same
		 * bytes whatever number of events came with it */
		if (first == 1)
			sent_one = held_sent_bytes;
		snprintf(what, sizeof(what), "head with %d events: sent as with one", first);
		ASSERT_EQ(held_sent_bytes, sent_one, what);

		snprintf(what, sizeof(what), "head with %d events: full capture counts 40", first);
		ASSERT_EQ(full, 40, what);
		snprintf(what, sizeof(what), "head with %d events: held back, still 40", first);
		ASSERT_EQ(mirrored, 40, what);
		/* the content calls after the head, the closing chunk, [DONE],
		 * and the head call's rest past its first event */
		snprintf(what, sizeof(what), "head with %d events: every call after it held", first);
		ASSERT_EQ(held, (uint64_t)(40 - first + 2 + (first > 1)), what);
	}
}

/* The router's last flush (closing chunk, usage, [DONE]; or 20 content
 * events before them) as a partial write and its rest, the rest any
 * length: the usage's counts and the content count still whole. */
static void test_held_chat_split_flush(void)
{
	char what[160];

	for (int coalesced = 1; coalesced <= 2; coalesced++) {
		for (size_t split = 1; split < (coalesced == 1 ? 420u : 3200u);
		     split += coalesced == 1 ? 1 : 7) {
			long long fa = 0, ma = 0, ft, mt;

			ft = chat_stream_split(false, 40, true, false, coalesced, split, NULL, &fa);
			mt = chat_stream_split(true, 40, true, false, coalesced, split, NULL, &ma);
			snprintf(what, sizeof(what), "flush %d, rest of %zu: full capture", coalesced,
				 split);
			ASSERT_EQ(ft, 40, what);
			ASSERT_EQ(fa, 40, what);
			snprintf(what, sizeof(what), "flush %d, rest of %zu: held back, from trace",
				 coalesced, split);
			ASSERT_EQ(mt, 40, what);
			snprintf(what, sizeof(what), "flush %d, rest of %zu: held back, actual",
				 coalesced, split);
			ASSERT_EQ(ma, 40, what);
		}
	}
}

/* ---- a native stream's end: split over two writes, or coalesced ----- */

/* A /generate stream of `tokens` cumulative events (text and ids grow, as
 * SGLang sends them), one write each, except:
 * - cut > 0: the last event's chunk, written as two calls, the second
 *   `cut` bytes long: a partial write to a slow reader, whose rest went
 *   out in the next call (rest_ends: with [DONE] and the last chunk);
 * - last_k > 0: the last last_k events, [DONE] and the last chunk in one
 *   write, as a router writes what a slow reader left queued.
 * The kernel held all but the first event back; the row's counts come
 * from the kept tails. Returns the row (actual, from trace, error). */
static void generate_end(bool mirrored, int tokens, size_t cut, bool rest_ends, int last_k,
			 long long *actual, long long *traced, char *error, size_t error_len)
{
	static const char *body = "{\"text\":\"hi\",\"stream\":true,\"rid\":\"gen-split\"}";
	struct held_feed *h = held_open(mirrored, "/generate", body, NULL);
	size_t cap = 64 * tokens + 512, tl = 0, il = 0, n, ql = 0;
	char *text = calloc(1, cap), *ids = calloc(1, cap), *ev = malloc(cap), *c = malloc(cap + 64);
	char *queued = calloc(1, last_k * (cap + 64) + 64);
	char save;
	const struct timeline_row *row;

	for (int i = 0; i < tokens; i++) {
		tl += snprintf(text + tl, cap - tl, " w%d", i);
		il += snprintf(ids + il, cap - il, "%s%d", i ? "," : "", 1000 + i);
		snprintf(ev, cap, "data: {\"text\":\"%s\",\"output_ids\":[%s],\"meta_info\":{\"id\":"
			 "\"gen-split\",\"finish_reason\":%s,\"prompt_tokens\":3,\"completion_tokens\""
			 ":%d,\"cached_tokens\":0,\"e2e_latency\":0.25}}\n\n", text, ids,
			 i == tokens - 1 ? "{\"type\":\"length\",\"length\":0}" : "null", i + 1);
		n = snprintf(c, cap + 32, "%zx\r\n%s\r\n", strlen(ev), ev);
		if (i >= tokens - last_k) {
			memcpy(queued + ql, c, n);
			ql += n;
			continue;
		}
		if (i < tokens - 1 || !cut || cut >= n) {
			held_call(h, EV_DATA, DIR_WRITE, c);
			continue;
		}
		save = c[n - cut];
		c[n - cut] = 0;
		held_call(h, EV_DATA, DIR_WRITE, c);		/* the partial write */
		c[n - cut] = save;
		if (rest_ends)	/* the rest, [DONE] and the last chunk in one */
			strcpy(c + n, "e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n");
		held_call(h, EV_DATA, DIR_WRITE, c + n - cut);	/* its rest */
	}
	if (last_k) {
		strcpy(queued + ql, "e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n");
		held_call(h, EV_DATA, DIR_WRITE, queued);
	} else if (!rest_ends) {
		held_call(h, EV_DATA, DIR_WRITE, "0\r\n\r\n");
	}
	held_call(h, EV_CLOSE, DIR_READ, NULL);
	fixture_tick(h->f, h->f->gen.now + 2000 * MS);
	row = fixture_row(h->f, "gen-split");
	*actual = row ? row->actual_output_tokens : -2;
	*traced = row ? row->output_tokens_from_trace : -2;
	snprintf(error, error_len, "%s", row ? row->error : "no row");
	kernel_mirror_free(h->km);
	fixture_teardown(h->f);
	free(h);
	free(text);
	free(ids);
	free(ev);
	free(c);
	free(queued);
}

/* The last event's rest can be any length: its last CRLF alone, the
 * meta_info's end, the completion_tokens number cut in two, or more than
 * the kernel keeps of a call. The count was 1 (the first event's) when
 * the rest held no "completion_tokens": a CI run of the 10k-token
 * stream, whose last event was 100 KB. */
static void test_held_generate_split_last(void)
{
	static const size_t more[] = { 250, 400, 900, 1023, 1024, 1025, 1100, 1300 };
	char what[160], err[200];

	for (size_t i = 1; i <= 200 + sizeof(more) / sizeof(more[0]); i++) {
		size_t cut = i <= 200 ? i : more[i - 201];
		long long fa, ft, ma, mt;

		for (int ends = 0; ends < 2; ends++) {
			const char *how = ends ? ", sent with the stream's end" : "";

			generate_end(false, 120, cut, ends, 0, &fa, &ft, err, sizeof(err));
			generate_end(true, 120, cut, ends, 0, &ma, &mt, err, sizeof(err));
			snprintf(what, sizeof(what), "rest of %zu bytes%s: full capture's count", cut,
				 how);
			ASSERT_EQ(fa, 120, what);
			ASSERT_EQ(ft, 120, what);
			snprintf(what, sizeof(what), "rest of %zu bytes%s: held back, "
				 "actual_output_tokens", cut, how);
			ASSERT_EQ(ma, 120, what);
			snprintf(what, sizeof(what), "rest of %zu bytes%s: held back, "
				 "output_tokens_from_trace", cut, how);
			ASSERT_EQ(mt, 120, what);
		}
	}
}

/* A slow reader's router writes the events it queued, the stream's end
 * with them, in one call: past the capture size from 8 events on here
 * (15 KB for 12). The capture kept the first only, and the row counted
 * what the tails before it said: 1188 of 1200 tokens and error
 * capture_incomplete, the framing lost with the last chunk (the e2e
 * test of a slow reader). */
static void test_held_generate_coalesced_end(void)
{
	char what[160], ferr[200], merr[200];

	for (int k = 1; k <= 40; k++) {
		long long fa, ft, ma, mt;

		generate_end(false, 120, 0, false, k, &fa, &ft, ferr, sizeof(ferr));
		generate_end(true, 120, 0, false, k, &ma, &mt, merr, sizeof(merr));
		snprintf(what, sizeof(what), "last %d events in one write: full capture's count", k);
		ASSERT_EQ(fa, 120, what);
		ASSERT_EQ(ft, 120, what);
		ASSERT_STREQ(ferr, "", what);
		snprintf(what, sizeof(what), "last %d events in one write: held back, actual", k);
		ASSERT_EQ(ma, 120, what);
		snprintf(what, sizeof(what), "last %d events in one write: held back, from trace", k);
		ASSERT_EQ(mt, 120, what);
		snprintf(what, sizeof(what), "last %d events in one write: held back, no error", k);
		ASSERT_STREQ(merr, "", what);
	}
}

/* A proxy re-chunks the stream (nginx, unbuffered: what it read, one
 * chunk a write), so chunks start anywhere in an event; one that starts
 * right after an event's "data" reads ": {...", like a comment. The
 * kernel took a call of such chunks for [DONE]s alone and kept no tail
 * of it: when it held the last events, the row counted what the call
 * before said (114 or 117 of 128 tokens, 1 row in 60 of the capture
 * bench, no error). piece: the bytes of events per chunk. */
static int held_colon_chunks;	/* chunks that started ": {" */

static void generate_rechunked(bool mirrored, int tokens, size_t piece, long long *actual,
			       long long *traced, char *error, size_t error_len)
{
	static const char *body = "{\"text\":\"hi\",\"stream\":true,\"rid\":\"rechunk\"}";
	char pending[256];	/* the head goes with the first chunk */
	struct held_feed *h = held_open(mirrored, "/generate", body, pending);
	size_t cap = 128 * tokens + 64, sl = 0;
	char *s = malloc(cap), *c = malloc(piece + 512);
	const struct timeline_row *row;

	for (int i = 0; i < tokens; i++)
		sl += snprintf(s + sl, cap - sl, "data: {\"text\":\" tok%d\",\"meta_info\":{\"id\":"
			       "\"rechunk\",\"prompt_tokens\":8,\"completion_tokens\":%d}}\n\n",
			       i, i + 1);
	sl += snprintf(s + sl, cap - sl, "data: [DONE]\n\n");
	held_colon_chunks = 0;
	for (size_t at = 0; at < sl; at += piece) {
		size_t n = sl - at < piece ? sl - at : piece;
		int hl = snprintf(c, 512, "%s%zx\r\n", at ? "" : pending, n);

		memcpy(c + hl, s + at, n);
		strcpy(c + hl + n, "\r\n");
		held_colon_chunks += s[at] == ':';
		held_call(h, EV_DATA, DIR_WRITE, c);
	}
	held_call(h, EV_DATA, DIR_WRITE, "0\r\n\r\n");
	held_call(h, EV_CLOSE, DIR_READ, NULL);
	fixture_tick(h->f, h->f->gen.now + 2000 * MS);
	row = fixture_row(h->f, "rechunk");
	*actual = row ? row->actual_output_tokens : -2;
	*traced = row ? row->output_tokens_from_trace : -2;
	snprintf(error, error_len, "%s", row ? row->error : "no row");
	kernel_mirror_free(h->km);
	fixture_teardown(h->f);
	free(h);
	free(s);
	free(c);
}

static void test_held_rechunked_by_proxy(void)
{
	char what[160], ferr[200], merr[200];
	int colon_cuts = 0;

	for (size_t piece = 200; piece <= 4000; piece += 13) {
		long long fa, ft, ma, mt;

		generate_rechunked(false, 128, piece, &fa, &ft, ferr, sizeof(ferr));
		generate_rechunked(true, 128, piece, &ma, &mt, merr, sizeof(merr));
		snprintf(what, sizeof(what), "chunks of %zu: full capture's count", piece);
		ASSERT_EQ(fa, 128, what);
		ASSERT_EQ(ft, 128, what);
		ASSERT_STREQ(ferr, "", what);
		snprintf(what, sizeof(what), "chunks of %zu: held back, actual", piece);
		ASSERT_EQ(ma, 128, what);
		snprintf(what, sizeof(what), "chunks of %zu: held back, from trace", piece);
		ASSERT_EQ(mt, 128, what);
		snprintf(what, sizeof(what), "chunks of %zu: held back, no error", piece);
		ASSERT_STREQ(merr, "", what);
		colon_cuts += held_colon_chunks;
	}
	/* the case is there: chunks that start with an event's ": {" */
	ASSERT_TRUE(colon_cuts > 0, "some chunk starts right after an event's \"data\"");
}

/* A response's wire bytes written in pieces of `piece` bytes, cut
 * anywhere (a proxy's 4 KiB reads of its upstream look the same to the
 * kernel): the head, one chunk per event, the last chunk. Returns 1 if a
 * cut fell inside the last chunk's size line ("0" | "\r\n"), which the
 * kernel does not follow (a cut "0" may be any chunk's start), else 0. */
static int write_in_pieces(struct held_feed *h, const char *head, int tokens, const char *rid,
			    size_t piece)
{
	size_t cap = 160 * tokens + 512, wl = 0;
	char *w = malloc(cap), *c = malloc(piece + 1);
	int zero_cut;

	wl += snprintf(w + wl, cap - wl, "%s", head);
	for (int i = 0; i <= tokens; i++) {
		char ev[256];

		if (i < tokens)
			snprintf(ev, sizeof(ev), "data: {\"text\":\" tok%d\",\"meta_info\":{\"id\":"
				 "\"%s\",\"prompt_tokens\":8,\"completion_tokens\":%d}}\n\n", i, rid,
				 i + 1);
		else
			snprintf(ev, sizeof(ev), "data: [DONE]\n\n");
		wl += snprintf(w + wl, cap - wl, "%zx\r\n%s\r\n", strlen(ev), ev);
	}
	wl += snprintf(w + wl, cap - wl, "0\r\n\r\n");
	zero_cut = (wl - 4) % piece == 0 || (wl - 3) % piece == 0;
	for (size_t at = 0; at < wl; at += piece) {
		size_t n = wl - at < piece ? wl - at : piece;

		memcpy(c, w + at, n);
		c[n] = 0;
		held_call(h, EV_DATA, DIR_WRITE, c);
	}
	free(w);
	free(c);
	return zero_cut;
}

/* Two streamed /generate responses of `tokens` events on one keep-alive
 * connection, each written in pieces of `piece` bytes cut anywhere; both
 * rows checked. Returns the mirror's (kernel_mirror_end_splits_mid_chunk,
 * kernel_mirror_head_splits) when mirrored. */
static int two_responses_in_pieces(bool mirrored, int tokens, size_t piece,
				   uint64_t *mid_chunk_ends, uint64_t *head_splits,
				   uint64_t *cut_heads, uint64_t *unaligned)
{
	static const char *rids[2] = { "pieces-1", "pieces-2" };
	char what[160], req[512], body[128], head[256];
	struct held_feed *h;
	int zero_cuts;

	snprintf(body, sizeof(body), "{\"text\":\"hi\",\"stream\":true,\"rid\":\"%s\"}", rids[0]);
	h = held_open(mirrored, "/generate", body, head);
	zero_cuts = write_in_pieces(h, head, tokens, rids[0], piece);
	snprintf(body, sizeof(body), "{\"text\":\"hi\",\"stream\":true,\"rid\":\"%s\"}", rids[1]);
	snprintf(req, sizeof(req), "POST /generate HTTP/1.1\r\nhost: x\r\ncontent-type: "
		 "application/json\r\ncontent-length: %zu\r\n\r\n%s", strlen(body), body);
	held_call(h, EV_DATA, DIR_READ, req);
	zero_cuts += write_in_pieces(h, head, tokens, rids[1], piece);
	held_call(h, EV_CLOSE, DIR_READ, NULL);
	fixture_tick(h->f, h->f->gen.now + 2000 * MS);
	for (int r = 0; r < 2; r++) {
		const struct timeline_row *row = fixture_row(h->f, rids[r]);
		const char *how = mirrored ? "held back" : "full capture";

		snprintf(what, sizeof(what), "%d events in pieces of %zu, %s, response %d: a row",
			 tokens, piece, how, r + 1);
		ASSERT_TRUE(row != NULL, what);
		if (!row)
			continue;
		snprintf(what, sizeof(what), "%d events in pieces of %zu, %s, response %d: count",
			 tokens, piece, how, r + 1);
		ASSERT_EQ(row->actual_output_tokens, tokens, what);
		ASSERT_EQ(row->output_tokens_from_trace, tokens, what);
		snprintf(what, sizeof(what), "%d events in pieces of %zu, %s, response %d: no error",
			 tokens, piece, how, r + 1);
		ASSERT_STREQ(row->error, "", what);
	}
	if (mirrored) {
		*mid_chunk_ends = kernel_mirror_end_splits_mid_chunk(h->km);
		*head_splits = kernel_mirror_head_splits(h->km);
		*cut_heads = kernel_mirror_cut_heads(h->km);
		*unaligned = kernel_mirror_unaligned(h->km);
	}
	kernel_mirror_free(h->km);
	fixture_teardown(h->f);
	free(h);
	return zero_cuts;
}

/* Pieces cut anywhere, as a proxy's 4 KiB reads of its upstream are: a
 * piece that starts inside a chunk and holds events and the stream's end
 * is split (events held back, the end sent), and the end must be read at
 * a chunk-size line, or the next response on the connection is lost. A
 * piece that ends inside a size line ("5f\r") leaves it to the next one:
 * the framing is kept, no call is sent for want of it. A whole stream in
 * one call is sent whole: no first-event split. */
static void test_held_pieces_keepalive(void)
{
	uint64_t mid = 0, heads = 0, cuts = 0, lost = 0, zero_cuts = 0;
	uint64_t total_mid = 0, total_heads = 0, total_cuts = 0, total_lost = 0;

	for (size_t piece = 1000; piece <= 4200; piece += 31) {
		two_responses_in_pieces(false, 128, piece, &mid, &heads, &cuts, &lost);
		zero_cuts += two_responses_in_pieces(true, 128, piece, &mid, &heads, &cuts, &lost);
		total_mid += mid;
		total_heads += heads;
		total_cuts += cuts;
		total_lost += lost;
	}
	/* the cases are there */
	ASSERT_TRUE(total_mid > 0, "some stream's end came in a piece begun mid-chunk");
	ASSERT_TRUE(total_heads > 0, "some piece held the first event and more");
	ASSERT_TRUE(total_cuts > 0, "some piece ended inside a chunk-size line");
	ASSERT_EQ(total_lost, zero_cuts, "no piece lost the framing but at a cut \"0\"");
	two_responses_in_pieces(false, 5, 1 << 16, &mid, &heads, &cuts, &lost);
	two_responses_in_pieces(true, 5, 1 << 16, &mid, &heads, &cuts, &lost);
	ASSERT_EQ(heads, 0, "a whole stream in one call: not split at its first event");
}

/* Every split of a stream's bytes into two calls, the cut falling on
 * every byte of the size lines around it: the rows read the same. */
static void test_held_cut_size_lines(void)
{
	uint64_t mid = 0, heads = 0, cuts = 0, lost = 0, total_cuts = 0, total_lost = 0;
	int zero_cuts = 0;

	for (size_t piece = 2000; piece <= 2240; piece++) {
		zero_cuts += two_responses_in_pieces(true, 40, piece, &mid, &heads, &cuts, &lost);
		total_cuts += cuts;
		total_lost += lost;
	}
	ASSERT_TRUE(total_cuts >= 4, "cuts on each byte of a size line and its CR");
	ASSERT_TRUE(zero_cuts > 0, "a cut in the last chunk's size line too");
	ASSERT_EQ(total_lost, zero_cuts, "no cut lost the framing but a cut \"0\" (sent whole)");
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
	RUN_SUBTEST(test_held_chat_split_flush);
	RUN_SUBTEST(test_held_head_with_events);
	RUN_SUBTEST(test_held_generate_split_last);
	RUN_SUBTEST(test_held_generate_coalesced_end);
	RUN_SUBTEST(test_held_rechunked_by_proxy);
	RUN_SUBTEST(test_held_pieces_keepalive);
	RUN_SUBTEST(test_held_cut_size_lines);
}

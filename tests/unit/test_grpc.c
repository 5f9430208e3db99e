// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* user/proto/grpc.c on real smg 1.13.0 <-> SGLang --grpc-mode connections
 * (tests/unit/data/h2/, see capture.sh): Generate calls decoded, the same
 * at every split, from a mid-connection start, RST_STREAM of a cancel. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "h2_fixture.h"
#include "proto/grpc.h"

#define MAX_CALLS 32

struct call {
	uint32_t stream;
	char path[96];
	struct grpc_generate_req req;
	bool have_req;
	unsigned resp_msgs, first_resp_seq;
	bool saw_first, saw_complete, rst, ended;
	struct grpc_generate_resp last;
	int grpc_status;
};

struct rec {
	struct call c[MAX_CALLS];
	int n;
	int goaways, rsts, desyncs, msgs, undecoded_generate;
	char log[1 << 15];
	size_t log_len;
};

static struct rec R;
static struct grpc_conn G;

static void logf_(struct rec *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (r->log_len < sizeof(r->log))
		r->log_len += vsnprintf(r->log + r->log_len, sizeof(r->log) - r->log_len, fmt, ap);
	va_end(ap);
}

static struct call *call_of(struct rec *r, uint32_t id)
{
	for (int i = r->n - 1; i >= 0; i--)
		if (r->c[i].stream == id)
			return &r->c[i];
	return NULL;
}

static void on_headers(void *ctx, const struct h2_headers *h, uint64_t ts)
{
	struct rec *r = ctx;
	struct call *c;

	logf_(r, "H %d %u %s %d %d u%u%s\n", h->side, h->stream_id, h->path, h->status,
	      h->grpc_status, h->unknown_fields, h->end_stream ? " end" : "");
	if (h->side == H2_FROM_CLIENT && !h->trailers && r->n < MAX_CALLS) {
		c = &r->c[r->n++];
		memset(c, 0, sizeof(*c));
		c->stream = h->stream_id;
		c->grpc_status = -1;
		snprintf(c->path, sizeof(c->path), "%s", h->path);
	} else if (h->side == H2_FROM_SERVER && (c = call_of(r, h->stream_id)) && h->grpc_status >= 0) {
		c->grpc_status = h->grpc_status;
	}
}

static void on_message(void *ctx, const struct grpc_msg *m, uint64_t ts)
{
	struct rec *r = ctx;
	struct call *c = call_of(r, m->stream_id);

	r->msgs++;
	logf_(r, "M %d %u seq%u len%u c%d d%d", m->side, m->stream_id, m->seq, m->length,
	      m->complete, m->decoded);
	if (m->decoded && m->side == H2_FROM_CLIENT)
		logf_(r, " rid=%s max=%lld st=%d in=%u", m->req.request_id, m->req.max_new_tokens,
		      m->req.stream, m->req.input_tokens);
	if (m->decoded && m->side == H2_FROM_SERVER)
		logf_(r, " rid=%s %s t%u p%u c%u %s", m->resp.request_id,
		      m->resp.complete ? "complete" : "chunk", m->resp.tokens,
		      m->resp.prompt_tokens, m->resp.completion_tokens, m->resp.finish_reason);
	logf_(r, "\n");
	if (m->method == GRPC_M_GENERATE && !m->decoded && m->complete)
		r->undecoded_generate++;
	if (!c)
		return;
	if (m->side == H2_FROM_CLIENT && m->decoded) {
		c->req = m->req;
		c->have_req = true;
	} else if (m->side == H2_FROM_SERVER && m->decoded) {
		if (!c->saw_first)
			c->first_resp_seq = m->seq;
		c->saw_first = true;
		c->resp_msgs++;
		c->saw_complete |= m->resp.complete;
		c->last = m->resp;
	}
}

static void on_end(void *ctx, enum h2_side side, uint32_t id, unsigned n, uint64_t ts)
{
	struct rec *r = ctx;
	struct call *c = call_of(r, id);

	logf_(r, "E %d %u %u\n", side, id, n);
	if (c && side == H2_FROM_SERVER)
		c->ended = true;
}

static void on_rst(void *ctx, enum h2_side side, uint32_t id, uint32_t code, uint64_t ts)
{
	struct rec *r = ctx;
	struct call *c = call_of(r, id);

	logf_(r, "R %d %u %u\n", side, id, code);
	r->rsts++;
	if (c)
		c->rst = true;
}

static void on_goaway(void *ctx, enum h2_side side, uint32_t last, uint32_t code, uint64_t ts)
{
	struct rec *r = ctx;

	logf_(r, "G %d %u %u\n", side, last, code);
	r->goaways++;
}

static void on_desync(void *ctx, enum h2_side side, uint64_t ts)
{
	((struct rec *)ctx)->desyncs++;
}

static const struct grpc_callbacks cbs = {
	.on_headers = on_headers, .on_message = on_message, .on_stream_end = on_end,
	.on_rst_stream = on_rst, .on_goaway = on_goaway, .on_desync = on_desync,
};

static void feed(void *conn, enum h2_side side, const uint8_t *p, size_t n, uint64_t ts)
{
	grpc_conn_feed(conn, side, p, n, n, ts);
}

static void replay(struct rec *r, const struct h2_fixture *x, bool from_start, int split_side,
		   size_t split_at, const size_t skip[2])
{
	memset(r, 0, sizeof(*r));
	grpc_conn_init(&G, &cbs, r, from_start);
	h2_fix_replay(x, feed, &G, split_side, split_at, skip);
}

static struct h2_fixture W0, W1, PY;
static struct rec BASE;

/* The x-request-id each call was sent with (capture.sh), by worker. */
static const char *const sent_w0[] = { "h2-chat-1", "h2-cmpl-3", "h2-gen-5", "h2-conc-9",
				       "h2-conc-7", "h2-conc-11", "h2-cancel-13" };
static const long long max_w0[] = { 8, 8, 8, 24, 24, 24, 2000 };
static const bool stream_w0[] = { false, false, false, true, true, true, true };

static void test_generate_calls(void)
{
	int k = 0;

	replay(&R, &W0, true, -1, 0, NULL);
	ASSERT_EQ(R.desyncs, 0, "no desync");
	ASSERT_EQ(R.undecoded_generate, 0, "every Generate message decoded");
	ASSERT_EQ(G.h2.half[0].hpack.stats.unknown_refs + G.h2.half[1].hpack.stats.unknown_refs, 0,
		  "from the start: no unknown HPACK reference");
	for (int i = 0; i < R.n; i++) {
		struct call *c = &R.c[i];
		size_t l;

		if (strcmp(c->path, GRPC_GENERATE_PATH))
			continue;
		if (!ASSERT_TRUE(k < 7 && c->have_req, "a sent Generate call, decoded"))
			break;
		/* smg sends <x-request-id>-<uuid> */
		l = strlen(sent_w0[k]);
		ASSERT_TRUE(!strncmp(c->req.request_id, sent_w0[k], l) &&
			    c->req.request_id[l] == '-', c->req.request_id);
		ASSERT_EQ(c->req.max_new_tokens, max_w0[k], "max_new_tokens");
		ASSERT_EQ(c->req.stream, stream_w0[k], "stream flag");
		ASSERT_TRUE(c->req.input_tokens > 0, "prompt tokens counted");
		ASSERT_TRUE(c->saw_first && c->first_resp_seq == 0, "first response message");
		ASSERT_STREQ(c->last.request_id, c->req.request_id, "response carries the id");
		ASSERT_EQ(c->last.prompt_tokens, c->req.input_tokens, "prompt tokens agree");
		if (max_w0[k] < 100) {	/* ran to the end (ignore_eos / no EOS drawn) */
			ASSERT_TRUE(c->saw_complete, "GenerateComplete last");
			ASSERT_EQ(c->last.completion_tokens, max_w0[k], "completion tokens");
			ASSERT_STREQ(c->last.finish_reason, "length", "finish reason");
			ASSERT_EQ(c->grpc_status, 0, "grpc-status 0");
			ASSERT_EQ(c->resp_msgs, stream_w0[k] ? max_w0[k] + 1 : 1,
				  "one chunk per token, then the complete message");
		} else {	/* cut by the shutdown: GOAWAY, UNAVAILABLE, RST_STREAM */
			ASSERT_TRUE(!c->saw_complete && c->rst, "cancelled call");
			ASSERT_EQ(c->grpc_status, 14, "grpc-status UNAVAILABLE");
		}
		ASSERT_TRUE(c->ended, "server ended the stream");
		k++;
	}
	ASSERT_EQ(k, 7, "7 Generate calls on worker 0");
	ASSERT_EQ(R.goaways, 2, "graceful shutdown: two GOAWAYs");
	ASSERT_EQ(R.rsts, 1, "one RST_STREAM");
	BASE = R;
}

/* Every byte of either side as a piece boundary: the same events. */
static void split_every_byte(const struct h2_fixture *x)
{
	struct rec base;
	int bad = 0;

	replay(&base, x, true, -1, 0, NULL);
	for (int side = 0; side < 2; side++) {
		for (size_t at = 1; at < x->len[side]; at++) {
			replay(&R, x, true, side, at, NULL);
			if (R.log_len != base.log_len || memcmp(R.log, base.log, R.log_len))
				bad++;
		}
	}
	ASSERT_EQ(bad, 0, "same events at every split");
	ASSERT_TRUE(base.msgs > 0, "messages seen");
}

static void test_split_every_byte(void)
{
	split_every_byte(&W0);
	split_every_byte(&W1);
	split_every_byte(&PY);
}

/* Offset of the first segment boundary of side at or after fraction/8. */
static size_t boundary_after(const struct h2_fixture *x, int side, int eighths)
{
	size_t off = 0;

	for (int i = 0; i < x->nseg; i++) {
		if (x->seg[i].side != side)
			continue;
		if (off * 8 >= x->len[side] * eighths)
			return off;
		off += x->seg[i].n;
	}
	return off;
}

/* What a late start reports must agree with the full replay: same ids,
 * same counts for the calls it decodes; nothing made up. */
static void check_against_base(const char *what)
{
	int decoded = 0;

	for (int i = 0; i < R.n; i++) {
		struct call *c = &R.c[i], *b = call_of(&BASE, c->stream);

		if (!ASSERT_TRUE(b != NULL, "a stream the full replay has"))
			continue;
		if (c->path[0])
			ASSERT_STREQ(c->path, b->path, what);
		if (c->have_req) {
			decoded++;
			ASSERT_STREQ(c->req.request_id, b->req.request_id, what);
			ASSERT_EQ(c->req.max_new_tokens, b->req.max_new_tokens, what);
		}
		if (c->saw_complete)
			ASSERT_EQ(c->last.completion_tokens, b->last.completion_tokens, what);
	}
	ASSERT_TRUE(decoded > 0, "calls opened after the attach are decoded");
}

static void test_attach_mid_connection(void)
{
	/* up to 5/8: Generate calls still open after it (stream 19, the last, is GetLoads) */
	for (int e = 1; e <= 5; e += 2) {
		size_t skip[2] = { boundary_after(&W0, 0, e), boundary_after(&W0, 1, e) };

		replay(&R, &W0, false, -1, 0, skip);
		check_against_base("attached at a segment boundary");
		/* smg indexes content-type, te, user-agent once: later
		 * references to them are unknown, and counted */
		ASSERT_TRUE(G.h2.half[0].hpack.stats.unknown_refs > 0, "unknown references counted");
		/* a non-boundary start: the first piece is skipped, not misread */
		skip[0] += 3;
		skip[1] += 7;
		replay(&R, &W0, false, -1, 0, skip);
		check_against_base("attached inside a frame");
		ASSERT_TRUE(G.h2.half[0].stats.skipped_bytes > 0, "bytes before the resync skipped");
	}
}

static void test_gap_in_data(void)
{
	/* lose 10 bytes inside a response message: framing kept, that message
	 * is incomplete, the next ones still decode */
	struct grpc_generate_resp r;
	static const uint8_t head_ok[] = { 0x0a, 0x03, 'a', 'b', 'c', 0x12, 0x04, 0x0a, 0x02, 0x05, 0x06 };

	ASSERT_EQ(grpc_decode_generate_resp(head_ok, sizeof(head_ok), &r), 0, "decodes");
	ASSERT_STREQ(r.request_id, "abc", "request id");
	ASSERT_EQ(r.tokens, 2, "two packed token ids");
	ASSERT_EQ(grpc_decode_generate_resp(head_ok, 7, &r), 0, "a cut buffer decodes its whole fields");
	ASSERT_STREQ(r.request_id, "abc", "request id of a cut buffer");
	static const uint8_t bad[] = { 0x0b };	/* wire type 3 (group): not ours */
	ASSERT_EQ(grpc_decode_generate_resp(bad, 1, &r), -1, "malformed");
}



/* H2_DUMP=0|1 .output/unit_tests: print the events of smg_w0|smg_w1 */
static void dump(void)
{
	if (!getenv("H2_DUMP"))
		return;
	replay(&R, getenv("H2_DUMP")[0] == '1' ? &W1 : &W0, true, -1, 0, NULL);
	fwrite(R.log, 1, R.log_len, stderr);
}

void test_area_grpc(void)
{
	if (!ASSERT_TRUE(!h2_fix_load(&W0, "smg_w0") && !h2_fix_load(&W1, "smg_w1") &&
			 !h2_fix_load(&PY, "pyclient"), "fixtures load (run from the repo root)"))
		return;
	dump();
	RUN_SUBTEST(test_generate_calls);
	RUN_SUBTEST(test_split_every_byte);
	RUN_SUBTEST(test_attach_mid_connection);
	RUN_SUBTEST(test_gap_in_data);
	h2_fix_free(&W0);
	h2_fix_free(&W1);
	h2_fix_free(&PY);
}

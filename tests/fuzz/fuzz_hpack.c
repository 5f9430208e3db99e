// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* HPACK header blocks on one decoder, so the dynamic table carries over
 * from block to block: byte 0 bit 0 = the connection is seen from its
 * start; then blocks, each a length byte and that many bytes; a zero
 * length marks a lost block (hpack_decoder_lost). Every field handed out
 * must be NUL-terminated inside its arrays. Huffman strings alone too. */
#include <stdlib.h>
#include <string.h>
#include "proto/hpack.h"

#define FUZZ_CHECK(cond) do { if (!(cond)) abort(); } while (0)

static bool on_field(void *ctx, const struct hpack_field *f)
{
	FUZZ_CHECK(memchr(f->name, 0, sizeof(f->name)));
	FUZZ_CHECK(memchr(f->value, 0, sizeof(f->value)));
	(*(unsigned *)ctx)++;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hpack_decoder d;
	const uint8_t *p = data + 1, *end = data + size;
	unsigned fields = 0;
	char out[64];

	if (size < 1)
		return -1;
	hpack_decoder_init(&d, data[0] & 1);
	while (p < end) {
		size_t n = *p++;

		if (n == 0) {
			hpack_decoder_lost(&d);
			continue;
		}
		if (n > (size_t)(end - p))
			n = end - p;
		hpack_decode_block(&d, p, n, on_field, &fields);
		if (hpack_huffman_decode(p, n, out, sizeof(out)) >= 0)
			FUZZ_CHECK(memchr(out, 0, sizeof(out)));
		p += n;
		FUZZ_CHECK(d.count <= HPACK_ENTRIES);
	}
	return 0;
}

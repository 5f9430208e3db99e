// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* user/proto/hpack.c: the RFC 7541 Appendix C examples (plain, Huffman,
 * eviction), and a table that predates the decoder (unknown, counted). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "test.h"
#include "proto/hpack.h"

struct fields {
	char text[1024];
	size_t len;
	int unknown;
};

static bool collect(void *ctx, const struct hpack_field *f)
{
	struct fields *r = ctx;

	if (f->name_unknown || f->value_unknown)
		r->unknown++;
	r->len += snprintf(r->text + r->len, sizeof(r->text) - r->len, "%s%s: %s\n",
			   f->name_unknown ? "?" : "", f->name, f->value_unknown ? "?" : f->value);
	return true;
}

static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;
	unsigned b;

	while (*hex) {
		if (*hex == ' ') {
			hex++;
			continue;
		}
		sscanf(hex, "%2x", &b);
		out[n++] = b;
		hex += 2;
	}
	return n;
}

static int decode_hex(struct hpack_decoder *d, const char *hex, struct fields *r)
{
	uint8_t buf[512];
	size_t n = unhex(hex, buf);

	memset(r, 0, sizeof(*r));
	return hpack_decode_block(d, buf, n, collect, r);
}

static struct hpack_decoder D;

/* C.3 (plain) and C.4 (Huffman): the same three requests. */
static void requests(const char *const blocks[3])
{
	struct fields r;

	hpack_decoder_init(&D, true);
	ASSERT_EQ(decode_hex(&D, blocks[0], &r), 0, "first request");
	ASSERT_STREQ(r.text, ":method: GET\n:scheme: http\n:path: /\n:authority: www.example.com\n",
		     "first request fields");
	ASSERT_EQ(D.size, 57, "table size 57");
	ASSERT_EQ(decode_hex(&D, blocks[1], &r), 0, "second request");
	ASSERT_STREQ(r.text, ":method: GET\n:scheme: http\n:path: /\n:authority: www.example.com\n"
		     "cache-control: no-cache\n", "second request fields");
	ASSERT_EQ(D.size, 110, "table size 110");
	ASSERT_EQ(decode_hex(&D, blocks[2], &r), 0, "third request");
	ASSERT_STREQ(r.text, ":method: GET\n:scheme: https\n:path: /index.html\n"
		     ":authority: www.example.com\ncustom-key: custom-value\n", "third request fields");
	ASSERT_EQ(D.size, 164, "table size 164");
	ASSERT_EQ(D.count, 3, "three entries");
}

static void test_rfc_c3_plain(void)
{
	static const char *const b[3] = {
		"828684410f7777772e6578616d706c652e636f6d",
		"828684be58086e6f2d6361636865",
		"828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
	};
	requests(b);
}

static void test_rfc_c4_huffman(void)
{
	static const char *const b[3] = {
		"828684418cf1e3c2e5f23a6ba0ab90f4ff",
		"828684be5886a8eb10649cbf",
		"828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
	};
	char out[32];

	requests(b);
	ASSERT_EQ(hpack_huffman_decode((const uint8_t *)"\xf1\xe3\xc2\xe5\xf2\x3a\x6b\xa0\xab\x90\xf4\xff",
				       12, out, sizeof(out)), 15, "www.example.com");
	ASSERT_STREQ(out, "www.example.com", "huffman text");
	/* padding longer than 7 bits, or not all ones: an error */
	ASSERT_EQ(hpack_huffman_decode((const uint8_t *)"\xff\xff", 2, out, sizeof(out)), -1, "EOS padding > 7 bits");
	ASSERT_EQ(hpack_huffman_decode((const uint8_t *)"\x00", 1, out, sizeof(out)), -1, "padding not ones");
}

/* C.5: responses with a 256-byte table: entries are evicted. */
static void test_rfc_c5_eviction(void)
{
	struct fields r;

	hpack_decoder_init(&D, true);
	D.max_size = 256;
	ASSERT_EQ(decode_hex(&D, "4803333032580770726976617465611d4d6f6e2c203231204f63742032303133"
			     "2032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d70"
			     "6c652e636f6d", &r), 0, "first response");
	ASSERT_EQ(D.size, 222, "table size 222");
	ASSERT_EQ(decode_hex(&D, "4803333037c1c0bf", &r), 0, "second response");
	ASSERT_STREQ(r.text, ":status: 307\ncache-control: private\n"
		     "date: Mon, 21 Oct 2013 20:13:21 GMT\nlocation: https://www.example.com\n",
		     "second response fields");
	ASSERT_EQ(D.size, 222, "table size 222 after eviction");
	ASSERT_EQ(D.stats.evictions, 1, ":status 302 evicted");
	/* size update to 0 empties the table */
	ASSERT_EQ(decode_hex(&D, "20", &r), 0, "size update");
	ASSERT_EQ(D.count, 0, "empty");
	ASSERT_EQ(decode_hex(&D, "be", &r), -1, "index past a table known empty: malformed");
}

/* Attached late: the oldest entries are unknown, never guessed. */
static void test_partial_table(void)
{
	struct fields r;

	hpack_decoder_init(&D, false);
	ASSERT_EQ(decode_hex(&D, "82be", &r), 0, "unknown reference is not an error");
	ASSERT_EQ(r.unknown, 1, "one unknown field");
	ASSERT_STREQ(r.text, ":method: GET\n?: ?\n", "unknown shown as such");
	/* a new entry is the newest: index 62 is now known, 63 is not */
	ASSERT_EQ(decode_hex(&D, "400a637573746f6d2d6b65790c637573746f6d2d76616c7565bebf", &r), 0,
		  "insert then reference");
	ASSERT_STREQ(r.text, "custom-key: custom-value\ncustom-key: custom-value\n?: ?\n",
		     "known newest, unknown older");
	ASSERT_EQ(D.stats.unknown_refs, 2, "counted");
	/* a literal whose name is an unknown entry: name unknown, value kept */
	ASSERT_EQ(decode_hex(&D, "7f0103616263", &r), 0, "literal with unknown name");
	ASSERT_STREQ(r.text, "?: abc\n", "value of a field with unknown name");
	/* a lost block: everything known is dropped */
	hpack_decoder_lost(&D);
	ASSERT_EQ(decode_hex(&D, "be", &r), 0, "after a loss");
	ASSERT_EQ(r.unknown, 1, "the entry is unknown again");
}

void test_area_hpack(void)
{
	RUN_SUBTEST(test_rfc_c3_plain);
	RUN_SUBTEST(test_rfc_c4_huffman);
	RUN_SUBTEST(test_rfc_c5_eviction);
	RUN_SUBTEST(test_partial_table);
}

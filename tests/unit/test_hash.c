// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* hash_bytes keys the body memo: a body that differs anywhere must not
 * look like one already read (the memo would answer with its fields). */
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "util/hash.h"

/* Every byte counts, in every lane and in the tails: one byte changed
 * anywhere, at every length from 0 to 300, gives another hash. */
static void test_every_byte_counts(void)
{
	unsigned char buf[300];
	int same = 0, runs = 0;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	for (size_t n = 1; n <= sizeof(buf); n++) {
		uint64_t h = hash_bytes(buf, n);

		for (size_t i = 0; i < n; i++) {
			buf[i] ^= 0x20;
			same += hash_bytes(buf, n) == h;
			buf[i] ^= 0x20;
			runs++;
		}
	}
	ASSERT_EQ(same, 0, "a changed byte changes the hash (every length and place to 300)");
	ASSERT_EQ(runs, 300 * 301 / 2, "all ran");
}

/* The length is in the hash, and the lanes are not interchangeable: two
 * 32-byte steps swapped, or bytes moved between lanes, hash apart. */
static void test_order_and_length(void)
{
	unsigned char a[128], b[128];

	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = (unsigned char)(i < 64 ? 'x' : 'y');
	memcpy(b, a + 64, 64);
	memcpy(b + 64, a, 64);
	ASSERT_TRUE(hash_bytes(a, 128) != hash_bytes(b, 128), "halves swapped");
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	a[0] = 1;	/* lane 0 */
	b[8] = 1;	/* lane 1, the same word */
	ASSERT_TRUE(hash_bytes(a, 128) != hash_bytes(b, 128), "a word in another lane");
	ASSERT_TRUE(hash_bytes(a, 127) != hash_bytes(a, 128), "zeros at the end still count");
	ASSERT_TRUE(hash_bytes(a, 64) != hash_bytes(a, 63), "across the four-lane threshold");
	ASSERT_EQ(hash_bytes("servetrace", 10), hash_bytes("servetrace", 10), "deterministic");
}

void test_area_hash(void)
{
	RUN_SUBTEST(test_every_byte_counts);
	RUN_SUBTEST(test_order_and_length);
}

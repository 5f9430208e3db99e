/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* FNV-1a for short keys (the collector's hash tables); hash_bytes for
 * long ones (bodies, prompts). */
#ifndef SERVETRACE_HASH_H
#define SERVETRACE_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FNV_SEED 0xcbf29ce484222325ULL

static inline uint64_t fnv_mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Never 0, so 0 can mean "no key". */
static inline uint64_t fnv_str(const char *s)
{
	uint64_t h = FNV_SEED;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h ? h : 1;
}

/* One word folded into h. */
static inline uint64_t hash_mix(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
	return h ^ h >> 29;
}

/* 64 bits of p[0, n), eight bytes a step (FNV's byte a step is a
 * multiply's latency per byte: ~6 instructions a byte). Long inputs go
 * 32 bytes a step in four independent lanes: one lane is a chain of
 * multiplies, ~2 bytes a cycle; four keep the multiplier busy (an 8 KiB
 * prompt is hashed on each of its three hops). */
static inline uint64_t hash_bytes(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = n * 0x9E3779B97F4A7C15ULL, w;

	if (n >= 64) {
		/* seeds far apart, and lanes folded in order through the mix:
		 * a word moved to another lane, or two steps swapped, differ.
		 * Four scalars, not an array: GCC made an array two SSE lanes
		 * of emulated 64-bit multiplies, through the stack (slower
		 * than one lane) */
		uint64_t l0 = h + 0xC2B2AE3D27D4EB4FULL, l1 = h + 2 * 0xC2B2AE3D27D4EB4FULL;
		uint64_t l2 = h + 3 * 0xC2B2AE3D27D4EB4FULL, l3 = h + 4 * 0xC2B2AE3D27D4EB4FULL;

		for (; n >= 32; b += 32, n -= 32) {
			uint64_t x0, x1, x2, x3;

			memcpy(&x0, b, 8);
			memcpy(&x1, b + 8, 8);
			memcpy(&x2, b + 16, 8);
			memcpy(&x3, b + 24, 8);
			l0 = hash_mix(l0, x0);
			l1 = hash_mix(l1, x1);
			l2 = hash_mix(l2, x2);
			l3 = hash_mix(l3, x3);
		}
		h = hash_mix(hash_mix(hash_mix(hash_mix(h, l0), l1), l2), l3);
	}
	for (; n >= 8; b += 8, n -= 8) {
		memcpy(&w, b, 8);
		h = hash_mix(h, w);
	}
	for (; n; b++, n--)
		h = (h ^ *b) * 0x100000001b3ULL;
	return h;
}

#endif

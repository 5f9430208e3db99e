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

/* 64 bits of p[0, n), eight bytes a step (FNV's byte a step is a
 * multiply's latency per byte: ~6 instructions a byte). */
static inline uint64_t hash_bytes(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = n * 0x9E3779B97F4A7C15ULL, w;

	for (; n >= 8; b += 8, n -= 8) {
		memcpy(&w, b, 8);
		h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
		h ^= h >> 29;
	}
	for (; n; b++, n--)
		h = (h ^ *b) * 0x100000001b3ULL;
	return h;
}

#endif

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* FNV-1a, for the collector's hash tables and fingerprints. */
#ifndef SERVETRACE_HASH_H
#define SERVETRACE_HASH_H

#include <stddef.h>
#include <stdint.h>

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

#endif

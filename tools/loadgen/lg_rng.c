// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <math.h>
#include "lg_rng.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void lg_rng_seed(struct lg_rng *rng, uint64_t seed)
{
	/* splitmix64 expands one word into a state that is never all zero */
	for (int i = 0; i < 4; i++)
		rng->s[i] = splitmix64(&seed);
}

uint64_t lg_rng_u64(struct lg_rng *rng)
{
	uint64_t *s = rng->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double lg_rng_unit(struct lg_rng *rng)
{
	/* 53 random bits, shifted by one so 0 cannot come out */
	return ((lg_rng_u64(rng) >> 11) + 1) * 0x1.0p-53;
}

double lg_rng_exp(struct lg_rng *rng, double mean)
{
	return -log(lg_rng_unit(rng)) * mean;
}

long lg_rng_range(struct lg_rng *rng, long lo, long hi)
{
	uint64_t span = (uint64_t)(hi - lo) + 1;

	/* modulo bias is below 2^-40 for the spans we use */
	return lo + (long)(lg_rng_u64(rng) % span);
}

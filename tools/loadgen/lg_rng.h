/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Seeded PRNG (xoshiro256**): the same --seed gives the same run everywhere. */
#ifndef LG_RNG_H
#define LG_RNG_H

#include <stdint.h>

struct lg_rng {
	uint64_t s[4];
};

void lg_rng_seed(struct lg_rng *rng, uint64_t seed);
uint64_t lg_rng_u64(struct lg_rng *rng);
/* Uniform in (0, 1]: never 0, so -log(u) is finite. */
double lg_rng_unit(struct lg_rng *rng);
/* Exponential with the given mean. */
double lg_rng_exp(struct lg_rng *rng, double mean);
/* Uniform integer in [lo, hi] (lo <= hi). */
long lg_rng_range(struct lg_rng *rng, long lo, long hi);

#endif

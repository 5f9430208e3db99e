// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <math.h>
#include <stdlib.h>
#include <strings.h>
#include "lg_arrivals.h"
#include "lg_rng.h"

void lg_arrivals_poisson(double *at, size_t n, double rate, uint64_t seed)
{
	struct lg_rng rng;
	double t = 0;

	if (!(rate > 0) || isinf(rate)) {
		for (size_t i = 0; i < n; i++)
			at[i] = 0;
		return;
	}
	lg_rng_seed(&rng, seed);
	for (size_t i = 0; i < n; i++) {
		/* the first request goes at t = 0, like bench_serving */
		if (i)
			t += lg_rng_exp(&rng, 1.0 / rate);
		at[i] = t;
	}
}

int lg_parse_rate(const char *s, double *rate)
{
	char *end;
	double v;

	if (!strcasecmp(s, "inf") || !strcasecmp(s, "infinity")) {
		*rate = INFINITY;
		return 0;
	}
	v = strtod(s, &end);
	if (end == s || *end || !(v > 0))
		return -1;
	*rate = v;
	return 0;
}

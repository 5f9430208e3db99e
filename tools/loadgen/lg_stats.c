// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <math.h>
#include <stdlib.h>
#include "lg_stats.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double lg_percentile_sorted(const double *v, size_t n, double p)
{
	double rank, frac;
	size_t lo;

	if (!n)
		return NAN;
	rank = p / 100.0 * (double)(n - 1);
	lo = (size_t)floor(rank);
	if (lo >= n - 1)
		return v[n - 1];
	frac = rank - (double)lo;
	return v[lo] + (v[lo + 1] - v[lo]) * frac;
}

void lg_dist_compute(struct lg_dist *d, double *v, size_t n)
{
	double sum = 0;

	d->n = n;
	if (!n) {
		d->mean = d->min = d->max = d->p50 = d->p90 = NAN;
		d->p95 = d->p99 = d->max_abs = NAN;
		return;
	}
	qsort(v, n, sizeof(*v), cmp_double);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	d->mean = sum / (double)n;
	d->min = v[0];
	d->max = v[n - 1];
	d->max_abs = fmax(fabs(v[0]), fabs(v[n - 1]));
	d->p50 = lg_percentile_sorted(v, n, 50);
	d->p90 = lg_percentile_sorted(v, n, 90);
	d->p95 = lg_percentile_sorted(v, n, 95);
	d->p99 = lg_percentile_sorted(v, n, 99);
}

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Distribution summaries: mean and percentiles (linear interpolation
 * between closest ranks, numpy's default). */
#ifndef LG_STATS_H
#define LG_STATS_H

#include <stddef.h>

struct lg_dist {
	size_t n;
	double mean, min, max, p50, p90, p95, p99;
	double max_abs;		/* largest |v| */
};

double lg_percentile_sorted(const double *v, size_t n, double p);
/* Sorts v in place. NaNs must have been left out. n = 0: all NAN. */
void lg_dist_compute(struct lg_dist *d, double *v, size_t n);

#endif

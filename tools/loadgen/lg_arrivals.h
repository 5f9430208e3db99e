/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Arrival schedule: a Poisson process, i.e. sequential arrivals with i.i.d.
 * exponential gaps, fixed before the run so sending never drifts it. */
#ifndef LG_ARRIVALS_H
#define LG_ARRIVALS_H

#include <stddef.h>
#include <stdint.h>

/* Fill at[0..n) with arrival offsets in seconds from the start: at[0] = 0,
 * at[i] = at[i-1] + Exp(1/rate). rate <= 0 or infinite: all zero (send
 * everything at once). */
void lg_arrivals_poisson(double *at, size_t n, double rate, uint64_t seed);

/* Parse a --request-rate value: a positive number, or "inf". */
int lg_parse_rate(const char *s, double *rate);

#endif

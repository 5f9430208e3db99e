/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Prometheus metrics of finished requests: a histogram per stage labelled
 * by worker and path, requests by status, and servetrace's loss counters.
 * Thread-safe (one mutex): the tracing thread observes, the HTTP thread
 * renders. */
#ifndef SERVETRACE_METRICS_H
#define SERVETRACE_METRICS_H

#include "output/timeline_row.h"

/* (worker, path) label pairs kept; later ones are counted under
 * worker="other",path="other" so memory stays bounded. */
#define METRICS_MAX_SERIES 256
#define METRICS_MAX_COUNTERS 128

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* A finished request: each stage whose two stamps are known. */
void metrics_observe(struct metrics *m, const struct timeline_row *r);
/* A loss counter's current value, by name (any text: it becomes the
 * label of servetrace_lost_total{counter="..."}). */
void metrics_set_counter(struct metrics *m, const char *name, unsigned long long value);
/* The exposition text (text/plain; version=0.0.4), malloc'd. */
char *metrics_render(struct metrics *m);

#endif

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* --perfetto: Chrome/Perfetto trace-event JSON (the JSON Array Format), one
 * row at a time. A process per router and per worker, a slice per request
 * with its stages nested inside, flow arrows router -> worker -> scheduler,
 * loss counters as counter tracks. Memory is bounded: only the lane tables
 * (which track is free from when) are kept. */
#ifndef SERVETRACE_PERFETTO_H
#define SERVETRACE_PERFETTO_H

#include <stdint.h>
#include <stdio.h>
#include "output/timeline_row.h"

/* Tracks per process; beyond it a request shares the least busy track and
 * is counted in perfetto_stats.lanes_shared. */
#define PERFETTO_MAX_LANES 1024
/* Processes named; beyond it rows of new processes are skipped (counted). */
#define PERFETTO_MAX_PROCS 256
#define PERFETTO_MAX_COUNTERS 64

struct perfetto;

struct perfetto_stats {
	unsigned long long rows;
	unsigned long long events;
	unsigned long long lanes_shared;	/* no free track: overlap */
	unsigned long long procs_skipped;	/* process table full */
};

/* Writes "[" at once; f stays the caller's (perfetto_free does not close
 * it). The file is a valid trace after every row: each row's events are
 * written whole and flushed, and the format allows a missing "]". */
struct perfetto *perfetto_new(FILE *f);
void perfetto_row(struct perfetto *pf, const struct timeline_row *r);
/* A loss counter at mono_ns (bpf_ktime_get_ns() clock); written only when
 * its value changed. */
void perfetto_counter(struct perfetto *pf, const char *name, uint64_t mono_ns,
		      unsigned long long value);
/* Writes the closing "]" and flushes; later rows are ignored. */
void perfetto_finish(struct perfetto *pf);
void perfetto_get_stats(const struct perfetto *pf, struct perfetto_stats *s);
void perfetto_free(struct perfetto *pf);

#endif

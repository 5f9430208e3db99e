/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The traces the query API serves, by req_id: finished requests and the
 * partial rows of requests in flight. Bounded by max_traces (oldest go
 * first) and by a TTL. One writer (the tracing thread) and readers on the
 * HTTP thread share it under one mutex; a row is rendered to JSON before
 * the lock is taken, and readers hold it only while copying text out. */
#ifndef SERVETRACE_TRACE_STORE_H
#define SERVETRACE_TRACE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "output/timeline_row.h"

#define TRACE_STORE_MAX_DEFAULT 10000
#define TRACE_STORE_TTL_DEFAULT_NS (3600ULL * 1000000000ULL)
/* Distinct nodes counted in the stats; later ones count as "other". */
#define TRACE_STORE_MAX_NODES 256

struct trace_store_opts {
	size_t max_traces;		/* 0: TRACE_STORE_MAX_DEFAULT */
	uint64_t ttl_ns;		/* 0: TRACE_STORE_TTL_DEFAULT_NS */
	const char *routing_policy;	/* NULL: "unknown"; kept by pointer */
	uint64_t (*now_ns)(void);	/* NULL: clock_mono_now_ns (tests set it) */
};

struct trace_store;

struct trace_store *trace_store_new(const struct trace_store_opts *o);
void trace_store_free(struct trace_store *st);

/* Writer side: the tracing thread (rendering uses output_row()). */
/* A finished request; replaces an in-flight entry or an older one of the
 * same id. */
void trace_store_put(struct trace_store *st, const struct timeline_row *r);
/* A refresh of the requests in flight: begin, one call per request (the
 * callback shape of correlator_foreach_in_flight, st as ctx), end. End
 * drops the in-flight entries the refresh did not name. A finished entry
 * is only replaced by an in-flight one that arrived later (a reused id). */
void trace_store_in_flight_begin(struct trace_store *st);
void trace_store_in_flight(void *st, const struct timeline_row *r);
void trace_store_in_flight_end(struct trace_store *st);

/* Reader side, any thread; results are malloc'd text the caller frees. */
/* One trace's JSON object, or NULL if unknown (or expired). */
char *trace_store_get_json(struct trace_store *st, const char *req_id);
/* A JSON array of the newest traces (limit at most), newest first. */
char *trace_store_list_json(struct trace_store *st, size_t limit);
/* {"total_requests","active_traces","in_flight_traces","requests_per_node",
 *  "requests_per_status"}: total and the per-node/status counts are of
 * finished requests since start (what the CSV holds), active = in store. */
char *trace_store_stats_json(struct trace_store *st);

struct trace_store_counts {
	unsigned long long total_requests;
	size_t active_traces;
	size_t in_flight_traces;
	unsigned long long evicted_max;		/* pushed out by max_traces */
	unsigned long long expired_ttl;
};
void trace_store_get_counts(struct trace_store *st, struct trace_store_counts *c);

#endif

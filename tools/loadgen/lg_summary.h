/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The end-of-run report, in the shape of SGLang's bench_serving. */
#ifndef LG_SUMMARY_H
#define LG_SUMMARY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "lg_dataset.h"
#include "lg_result.h"
#include "lg_stats.h"

struct lg_run_info {
	const char *backend;
	const char *url;
	const char *model;
	const char *run_prefix;
	bool stream;
	double rate;
	unsigned int max_concurrency;	/* 0 = not set */
	unsigned int peak_inflight;
	unsigned int max_connections;	/* 0 = not set */
	size_t held;			/* waited for the in-flight cap */
	double cpu_seconds;		/* loadgen's own CPU time, < 0 unknown */
	uint64_t seed;
	size_t planned;
	bool interrupted;
};

#define LG_TOP_ERRORS 5

struct lg_summary {
	size_t sent, completed, succeeded, failed;
	double duration;	/* first send to last finish, s */
	double send_span;	/* first send to last send, s */
	double send_rate;	/* achieved arrivals per second */
	long input_tokens, output_tokens;
	bool input_tokens_are_words; /* prompt_tokens missing somewhere */
	double req_throughput, input_throughput, output_throughput;
	struct lg_dist total_latency, server_latency, ttft, queue_time, lag;
	bool ttft_from_client;
	struct {
		char text[96];
		size_t count;
	} errors[LG_TOP_ERRORS];
	size_t nerrors;
};

/* res[0..n): the requests sent (res[i].sent), in schedule order. */
int lg_summary_compute(struct lg_summary *s, const struct lg_result *res,
		       const struct lg_item *items, size_t n);
void lg_summary_print(FILE *f, const struct lg_run_info *info,
		      const struct lg_summary *s);

#endif

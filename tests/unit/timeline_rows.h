/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Finished timeline rows for the output/query tests: every stage present,
 * durations fixed (below), the clock offset set so epoch = 1.7e9 s + mono. */
#ifndef SERVETRACE_TIMELINE_ROWS_H
#define SERVETRACE_TIMELINE_ROWS_H

#include <stdio.h>
#include <string.h>
#include "output/clock.h"
#include "output/timeline_row.h"

#define ROWS_EPOCH_NS (1700000000ULL * 1000000000ULL)
#define US 1000ULL
/* stage lengths, ns */
#define D_ROUTER_QUEUE (50 * US)
#define D_NETWORK (200 * US)
#define D_TOKENIZE (2000 * US)
#define D_SCHED_QUEUE (1000 * US)
#define D_PREFILL (10000 * US)
#define D_DECODE (30000 * US)
#define D_TO_CLIENT (100 * US)	/* worker's last byte to the router's */

/* worker "127.0.0.1:3000N" has pid 200+N; the router is pid 100. */
static inline void rows_make(struct timeline_row *r, const char *id, int worker, uint64_t t0)
{
	memset(r, 0, sizeof(*r));
	clock_set_offset(ROWS_EPOCH_NS);
	snprintf(r->req_id, sizeof(r->req_id), "%s", id);
	snprintf(r->host, sizeof(r->host), "127.0.0.1:%d", 30000 + worker);
	snprintf(r->path, sizeof(r->path), "/generate");
	r->success = 1;
	r->has_generated_text = 1;
	r->input_length = 5;
	r->expected_output_length = 8;
	r->actual_prompt_tokens = 6;
	r->actual_output_tokens = 8;
	r->actual_total_tokens = 14;
	r->output_tokens_from_trace = 8;
	r->arrival_time = t0;
	r->router_send_time = t0 + D_ROUTER_QUEUE;
	r->server_created_time = r->router_send_time + D_NETWORK;
	r->tokenizer_send_time = r->server_created_time + D_TOKENIZE - 10 * US;
	r->queue_time_start = r->server_created_time + D_TOKENIZE;
	r->queue_time_end = r->queue_time_start + D_SCHED_QUEUE;
	r->server_first_token_time = r->queue_time_end + D_PREFILL;
	r->worker_finish_time = r->server_first_token_time + D_DECODE;
	r->finish_time = r->worker_finish_time + D_TO_CLIENT;
	r->level = "router";
	r->router_pid = 100;
	r->worker_pid = 200 + worker;
	r->stream = 1;
	r->status = 200;
	r->forwards = 1;
	r->rid_source = "body";
	r->request_bytes = r->response_bytes = -1;
}

#endif

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* One output row: the timeline.md contract plus servetrace's own columns.
 * Timestamps are bpf_ktime_get_ns() values, 0 = not observed; counts are
 * -1 when unknown. */
#ifndef SERVETRACE_TIMELINE_ROW_H
#define SERVETRACE_TIMELINE_ROW_H

#include <stdint.h>
#include "proto/body_fields.h"

struct timeline_row {
	char req_id[RID_MAX];
	int success;
	char error[200];
	char host[64];
	int has_generated_text;		/* -1 unknown */
	long long input_length;
	long long expected_output_length;
	long long actual_prompt_tokens;
	long long actual_output_tokens;
	long long actual_total_tokens;
	long long output_tokens_from_trace;
	uint64_t arrival_time;
	uint64_t router_send_time;
	uint64_t server_created_time;
	uint64_t queue_time_start;
	uint64_t queue_time_end;
	uint64_t server_first_token_time;
	uint64_t finish_time;

	/* servetrace's own columns */
	const char *level;		/* "router" or "node" */
	uint32_t router_pid;
	uint32_t worker_pid;
	char path[128];
	int stream;			/* -1 unknown */
	int status;			/* 0 none */
	int forwards;
	const char *rid_source;
	char sglang_rid[RID_MAX];
	long long request_bytes;
	long long response_bytes;
	uint64_t router_first_token_time;	/* first SSE event to the client */
	uint64_t worker_first_token_time;	/* first SSE event the worker wrote */
	uint64_t worker_finish_time;
	uint64_t tokenizer_send_time;		/* main -> scheduler */
	uint64_t scheduler_last_output_time;
	uint64_t detokenizer_recv_time;
	uint64_t detokenizer_send_time;
	uint64_t tokenizer_recv_time;		/* detokenizer -> main, first */
	char notes[96];				/* why a value is empty or odd */
	const char *prompt;			/* --keep-text only, else NULL */
	const char *engine;			/* "sglang", "vllm"; NULL unknown (last column) */
};

#endif

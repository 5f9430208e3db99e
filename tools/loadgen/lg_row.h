/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The timeline.md contract columns as the client sees them. */
#ifndef LG_ROW_H
#define LG_ROW_H

#include "lg_result.h"

enum lg_ts {
	LG_TS_ARRIVAL,
	LG_TS_ROUTER_SEND,
	LG_TS_SERVER_CREATED,
	LG_TS_QUEUE_START,
	LG_TS_QUEUE_END,
	LG_TS_SERVER_FIRST_TOKEN,
	LG_TS_FINISH,
	LG_TS_N,
};

enum lg_lat {
	LG_LAT_SERVER,
	LG_LAT_TOTAL,
	LG_LAT_TTFT,
	LG_LAT_QUEUE_ROUTER,
	LG_LAT_QUEUE_SERVER,
	LG_LAT_TOKENIZE,
	LG_LAT_PURE_QUEUE,
	LG_LAT_N,
};

extern const char *const lg_ts_names[LG_TS_N];
extern const char *const lg_lat_names[LG_LAT_N];

struct lg_row {
	double ts[LG_TS_N];	/* epoch seconds, NAN = unknown */
	double lat[LG_LAT_N];	/* seconds, NAN = unknown */
	int actual_prompt_tokens, actual_output_tokens, actual_total_tokens;
	int output_tokens_from_trace, decode_length;	/* -1 = unknown */
};

/* A meta_info stamp counts as a timestamp only if it is on the epoch
 * clock: some releases put perf_counter() values there. */
double lg_epoch_or_nan(double v);

/* arrival = client send; router_send unknown to a client;
 * server_created = request_received_ts; queue_start = wait_queue_entry_time
 * or forward_entry_time - queue_time; queue_end = forward_entry_time;
 * server_first_token = prefill_finished_time, else the client's first
 * token event; finish = the client's last byte. Latencies by the
 * timeline.md formulas, empty when an operand is. */
void lg_row_from_result(struct lg_row *row, const struct lg_result *r);

#endif

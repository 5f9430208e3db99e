// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <math.h>
#include "lg_row.h"

const char *const lg_ts_names[LG_TS_N] = {
	"arrival_time", "router_send_time", "server_created_time",
	"queue_time_start", "queue_time_end", "server_first_token_time",
	"finish_time",
};

const char *const lg_lat_names[LG_LAT_N] = {
	"server_latency", "total_latency", "ttft", "queue_time_in_router",
	"queue_time_in_server", "tokenize_time", "pure_queue_time",
};

double lg_epoch_or_nan(double v)
{
	/* after 2001-09-09: anything smaller is an uptime-based clock */
	return v > 1e9 ? v : NAN;
}

static double diff(double a, double b)
{
	return isnan(a) || isnan(b) ? NAN : a - b;
}

void lg_row_from_result(struct lg_row *row, const struct lg_result *r)
{
	const double *m = r->meta;
	double *ts = row->ts, *lat = row->lat;
	double fwd = lg_epoch_or_nan(m[LG_META_FORWARD_ENTRY_TIME]);
	double first = lg_epoch_or_nan(m[LG_META_PREFILL_FINISHED_TIME]);

	ts[LG_TS_ARRIVAL] = r->send_time;
	ts[LG_TS_ROUTER_SEND] = NAN;
	ts[LG_TS_SERVER_CREATED] = lg_epoch_or_nan(m[LG_META_REQUEST_RECEIVED_TS]);
	ts[LG_TS_QUEUE_START] = lg_epoch_or_nan(m[LG_META_WAIT_QUEUE_ENTRY_TIME]);
	if (isnan(ts[LG_TS_QUEUE_START]))
		ts[LG_TS_QUEUE_START] = diff(fwd, m[LG_META_QUEUE_TIME]);
	ts[LG_TS_QUEUE_END] = fwd;
	ts[LG_TS_SERVER_FIRST_TOKEN] = isnan(first) ? r->first_token_time : first;
	ts[LG_TS_FINISH] = r->finish_time;

	lat[LG_LAT_SERVER] = diff(ts[LG_TS_FINISH], ts[LG_TS_ROUTER_SEND]);
	lat[LG_LAT_TOTAL] = diff(ts[LG_TS_FINISH], ts[LG_TS_ARRIVAL]);
	lat[LG_LAT_TTFT] = diff(ts[LG_TS_SERVER_FIRST_TOKEN], ts[LG_TS_ARRIVAL]);
	lat[LG_LAT_QUEUE_ROUTER] = diff(ts[LG_TS_ROUTER_SEND], ts[LG_TS_ARRIVAL]);
	lat[LG_LAT_QUEUE_SERVER] = diff(ts[LG_TS_SERVER_FIRST_TOKEN],
					ts[LG_TS_SERVER_CREATED]);
	lat[LG_LAT_TOKENIZE] = diff(ts[LG_TS_QUEUE_START], ts[LG_TS_SERVER_CREATED]);
	lat[LG_LAT_PURE_QUEUE] = diff(ts[LG_TS_QUEUE_END], ts[LG_TS_QUEUE_START]);

	row->actual_prompt_tokens = r->prompt_tokens;
	row->actual_output_tokens = r->completion_tokens;
	row->actual_total_tokens = r->total_tokens;
	row->output_tokens_from_trace = -1;	/* the tracer's to count */
	row->decode_length = r->completion_tokens;
}

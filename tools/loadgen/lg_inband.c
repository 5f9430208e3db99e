// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "lg_csv.h"
#include "lg_inband.h"
#include "lg_row.h"

/* After the contract columns; names a later column may never reuse. */
static const char *const client_cols[] = {
	"scheduled_time", "client_send_time", "client_first_byte_time",
	"client_first_token_time", "client_finish_time", "schedule_lag",
	"status", "endpoint", "stream", "client_chunks", "finish_reason",
	"client_peer", "dataset_id",
};

void lg_inband_header(FILE *f)
{
	struct lg_csv_writer w;

	lg_csv_start(&w, f);
	lg_csv_str(&w, "req_id");
	lg_csv_str(&w, "success");
	lg_csv_str(&w, "error");
	lg_csv_str(&w, "host");
	lg_csv_str(&w, "has_generated_text");
	lg_csv_str(&w, "input_length");
	lg_csv_str(&w, "expected_output_length");
	lg_csv_str(&w, "actual_prompt_tokens");
	lg_csv_str(&w, "actual_output_tokens");
	lg_csv_str(&w, "actual_total_tokens");
	lg_csv_str(&w, "output_tokens_from_trace");
	lg_csv_str(&w, "decode_length");
	for (int i = 0; i < LG_TS_N; i++)
		lg_csv_str(&w, lg_ts_names[i]);
	for (int i = 0; i < LG_LAT_N; i++)
		lg_csv_str(&w, lg_lat_names[i]);
	for (size_t i = 0; i < sizeof(client_cols) / sizeof(client_cols[0]); i++)
		lg_csv_str(&w, client_cols[i]);
	for (int i = 0; i < LG_META_N; i++)
		lg_csv_str(&w, lg_meta_names[i]);
	lg_csv_end_row(&w);
}

static void count(struct lg_csv_writer *w, int v)
{
	lg_csv_int(w, v, v >= 0);
}

void lg_inband_row(FILE *f, const struct lg_inband_ctx *ctx, const char *rid,
		   const struct lg_item *it, const struct lg_result *r)
{
	struct lg_csv_writer w;
	struct lg_row row;

	lg_row_from_result(&row, r);
	lg_csv_start(&w, f);
	lg_csv_str(&w, rid);
	lg_csv_bool(&w, r->success);
	lg_csv_str(&w, r->error);
	lg_csv_str(&w, NULL);	/* the worker is hidden behind a router */
	lg_csv_bool(&w, r->has_text);
	count(&w, it->input_len);
	count(&w, it->output_len);
	count(&w, row.actual_prompt_tokens);
	count(&w, row.actual_output_tokens);
	count(&w, row.actual_total_tokens);
	count(&w, row.output_tokens_from_trace);
	count(&w, row.decode_length);
	for (int i = 0; i < LG_TS_N; i++)
		lg_csv_num(&w, row.ts[i], 6);
	for (int i = 0; i < LG_LAT_N; i++)
		lg_csv_num(&w, row.lat[i], 6);

	lg_csv_num(&w, r->sched_time, 6);
	lg_csv_num(&w, r->send_time, 6);
	lg_csv_num(&w, r->first_byte_time, 6);
	lg_csv_num(&w, r->first_token_time, 6);
	lg_csv_num(&w, r->finish_time, 6);
	lg_csv_num(&w, r->lag, 6);
	lg_csv_int(&w, r->status, r->status > 0);
	lg_csv_str(&w, ctx->endpoint);
	lg_csv_bool(&w, ctx->stream);
	lg_csv_int(&w, r->chunks, ctx->stream);
	lg_csv_str(&w, r->finish_reason);
	lg_csv_str(&w, r->peer);
	lg_csv_str(&w, it->dataset_id);
	for (int i = 0; i < LG_META_N; i++)
		lg_csv_num(&w, r->meta[i], 6);
	lg_csv_end_row(&w);
}

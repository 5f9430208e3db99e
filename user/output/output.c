// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Every column is first rendered to text; CSV and JSON only differ in how
 * that text is quoted. Empty text means "not observed". */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "output/clock.h"
#include "output/output.h"
#include "util/str.h"

enum col_kind { COL_STR, COL_NUM, COL_BOOL };

struct col {
	const char *name;
	enum col_kind kind;
};

static const struct col cols[] = {
	{ "req_id", COL_STR }, { "success", COL_BOOL }, { "error", COL_STR },
	{ "host", COL_STR }, { "has_generated_text", COL_BOOL },
	{ "input_length", COL_NUM }, { "expected_output_length", COL_NUM },
	{ "actual_prompt_tokens", COL_NUM }, { "actual_output_tokens", COL_NUM },
	{ "actual_total_tokens", COL_NUM }, { "output_tokens_from_trace", COL_NUM },
	{ "decode_length", COL_NUM },
	{ "arrival_time", COL_NUM }, { "router_send_time", COL_NUM },
	{ "server_created_time", COL_NUM }, { "queue_time_start", COL_NUM },
	{ "queue_time_end", COL_NUM }, { "server_first_token_time", COL_NUM },
	{ "finish_time", COL_NUM },
	{ "server_latency", COL_NUM }, { "total_latency", COL_NUM },
	{ "ttft", COL_NUM }, { "queue_time_in_router", COL_NUM },
	{ "queue_time_in_server", COL_NUM }, { "tokenize_time", COL_NUM },
	{ "pure_queue_time", COL_NUM },
	/* servetrace's own, after the contract */
	{ "level", COL_STR }, { "router_pid", COL_NUM }, { "worker_pid", COL_NUM },
	{ "path", COL_STR }, { "stream", COL_BOOL }, { "status", COL_NUM },
	{ "forwards", COL_NUM }, { "rid_source", COL_STR },
	{ "sglang_rid", COL_STR }, { "request_bytes", COL_NUM },
	{ "response_bytes", COL_NUM }, { "router_first_token_time", COL_NUM },
	{ "worker_first_token_time", COL_NUM }, { "worker_finish_time", COL_NUM },
	{ "tokenizer_send_time", COL_NUM }, { "scheduler_last_output_time", COL_NUM },
	{ "detokenizer_recv_time", COL_NUM }, { "detokenizer_send_time", COL_NUM },
	{ "tokenizer_recv_time", COL_NUM }, { "notes", COL_STR },
	{ "engine", COL_STR },
};

#define NCOLS (sizeof(cols) / sizeof(cols[0]))
#define VAL_MAX 256

void output_init(struct output *o, FILE *f, enum output_format format)
{
	memset(o, 0, sizeof(*o));
	o->f = f;
	o->format = format;
}

const char *output_csv_header(void)
{
	static char hdr[2048];

	if (!hdr[0]) {
		for (size_t i = 0; i < NCOLS; i++) {
			if (i)
				strcat(hdr, ",");
			strcat(hdr, cols[i].name);
		}
	}
	return hdr;
}

/* Decimal digits of n at v, terminated; returns the end. printf costs a
 * row more than everything else the collector does for it. */
static char *put_u64(char *v, unsigned long long n)
{
	v = str_put_dec(v, n);
	*v = 0;
	return v;
}

/* A row's stamps mostly fall in one second: its digits are kept. */
static __thread struct {
	uint64_t sec;
	size_t len;
	char txt[24];
} last_sec = { .sec = UINT64_MAX };

static void put_ts(char *v, uint64_t mono)
{
	uint64_t ns, us, sec;

	if (!mono) {
		v[0] = 0;
		return;
	}
	ns = clock_mono_to_epoch_ns(mono);
	sec = ns / 1000000000ULL;
	if (sec != last_sec.sec) {
		last_sec.len = put_u64(last_sec.txt, sec) - last_sec.txt;
		last_sec.sec = sec;
	}
	memcpy(v, last_sec.txt, last_sec.len);
	v += last_sec.len;
	*v++ = '.';
	us = ns % 1000000000ULL / 1000;
	for (int d = 5; d >= 0; d--, us /= 10)
		v[d] = '0' + us % 10;
	v[6] = 0;
}

/* Below this many ns, |d| / 1e9 as a double is off by far less than the
 * 1 ns between a non-tie and the half microsecond printf rounds at. */
#define DELTA_EXACT_NS 1000000000000000LL

/* Seconds between two observed stamps; empty if either is missing. The
 * text is printf's "%.6f" of (double)d / 1e9: computed in integers unless
 * d sits on a half microsecond (a tie printf settles on the double). */
static void put_delta(char *v, uint64_t from, uint64_t to)
{
	int64_t d = (int64_t)(to - from);
	uint64_t a, us;

	if (!from || !to) {
		v[0] = 0;
		return;
	}
	a = d < 0 ? -(uint64_t)d : (uint64_t)d;
	if (a % 1000 == 500 || a >= DELTA_EXACT_NS) {
		snprintf(v, VAL_MAX, "%.6f", ((double)d) / 1e9);
		return;
	}
	us = (a + 500) / 1000;
	if (d < 0)
		*v++ = '-';
	v = put_u64(v, us / 1000000);
	*v++ = '.';
	us %= 1000000;
	for (int k = 5; k >= 0; k--, us /= 10)
		v[k] = '0' + us % 10;
	v[6] = 0;
}

static void put_num(char *v, long long n)
{
	if (n < 0)
		v[0] = 0;
	else
		put_u64(v, n);
}

static void put_str(char *v, const char *s)
{
	str_copy(v, VAL_MAX, s);
}

static void put_bool(char *v, int b)
{
	put_str(v, b < 0 ? "" : b ? "True" : "False");
}

static void render(const struct timeline_row *r, char v[NCOLS][VAL_MAX])
{
	long long decode = r->actual_output_tokens >= 0 ? r->actual_output_tokens
							 : r->output_tokens_from_trace;
	int i = 0;

	put_str(v[i++], r->req_id);
	put_bool(v[i++], r->success);
	put_str(v[i++], r->error);
	put_str(v[i++], r->host);
	put_bool(v[i++], r->has_generated_text);
	put_num(v[i++], r->input_length);
	put_num(v[i++], r->expected_output_length);
	put_num(v[i++], r->actual_prompt_tokens);
	put_num(v[i++], r->actual_output_tokens);
	put_num(v[i++], r->actual_total_tokens);
	put_num(v[i++], r->output_tokens_from_trace);
	put_num(v[i++], decode);
	put_ts(v[i++], r->arrival_time);
	put_ts(v[i++], r->router_send_time);
	put_ts(v[i++], r->server_created_time);
	put_ts(v[i++], r->queue_time_start);
	put_ts(v[i++], r->queue_time_end);
	put_ts(v[i++], r->server_first_token_time);
	put_ts(v[i++], r->finish_time);
	put_delta(v[i++], r->router_send_time, r->finish_time);
	put_delta(v[i++], r->arrival_time, r->finish_time);
	put_delta(v[i++], r->arrival_time, r->server_first_token_time);
	put_delta(v[i++], r->arrival_time, r->router_send_time);
	put_delta(v[i++], r->server_created_time, r->server_first_token_time);
	put_delta(v[i++], r->server_created_time, r->queue_time_start);
	put_delta(v[i++], r->queue_time_start, r->queue_time_end);
	put_str(v[i++], r->level);
	put_num(v[i++], r->router_pid ? (long long)r->router_pid : -1);
	put_num(v[i++], r->worker_pid ? (long long)r->worker_pid : -1);
	put_str(v[i++], r->path);
	put_bool(v[i++], r->stream);
	put_num(v[i++], r->status ? r->status : -1);
	put_num(v[i++], r->forwards);
	put_str(v[i++], r->rid_source);
	put_str(v[i++], r->sglang_rid);
	put_num(v[i++], r->request_bytes);
	put_num(v[i++], r->response_bytes);
	put_ts(v[i++], r->router_first_token_time);
	put_ts(v[i++], r->worker_first_token_time);
	put_ts(v[i++], r->worker_finish_time);
	put_ts(v[i++], r->tokenizer_send_time);
	put_ts(v[i++], r->scheduler_last_output_time);
	put_ts(v[i++], r->detokenizer_recv_time);
	put_ts(v[i++], r->detokenizer_send_time);
	put_ts(v[i++], r->tokenizer_recv_time);
	put_str(v[i++], r->notes);
	put_str(v[i++], r->engine);
}

static void csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* The row's fields as one CSV line in buf; false if one needs quoting
 * (then csv_field() writes them). */
static bool csv_line_plain(char v[][VAL_MAX], size_t n, char *buf, size_t cap, size_t *len)
{
	size_t at = 0;

	/* one pass per field: copied while checked; numbers, times and
	 * booleans hold nothing to quote */
	for (size_t i = 0; i < n; i++) {
		const char *s = v[i];

		if (at + 2 > cap)
			return false;
		if (i)
			buf[at++] = ',';
		if (cols[i].kind != COL_STR) {
			size_t k = strlen(s);

			if (at + k + 2 > cap)
				return false;
			memcpy(buf + at, s, k);
			at += k;
			continue;
		}
		for (; *s; s++) {
			if (*s == ',' || *s == '"' || *s == '\r' || *s == '\n' ||
			    at + 2 > cap)
				return false;
			buf[at++] = *s;
		}
	}
	*len = at;
	return true;
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void csv_header(struct output *o)
{
	fprintf(o->f, "%s%s\n", output_csv_header(), o->keep_text ? ",prompt" : "");
	o->header_done = true;
}

void output_finish(struct output *o)
{
	if (o->format == OUT_CSV && !o->header_done)
		csv_header(o);
	fflush(o->f);
}

void output_keep_text(struct output *o, bool on)
{
	o->keep_text = on;
}

void output_row(struct output *o, const struct timeline_row *r)
{
	static __thread char v[NCOLS][VAL_MAX];	/* the query server renders too */
	const char *prompt = r->prompt ? r->prompt : "";

	render(r, v);
	if (o->format == OUT_CSV) {
		char line[NCOLS * 32];
		size_t len;

		if (!o->header_done)
			csv_header(o);
		if (csv_line_plain(v, NCOLS, line, sizeof(line), &len)) {
			fwrite(line, 1, len, o->f);
		} else {
			for (size_t i = 0; i < NCOLS; i++) {
				if (i)
					fputc(',', o->f);
				csv_field(o->f, v[i]);
			}
		}
		if (o->keep_text) {
			fputc(',', o->f);
			csv_field(o->f, prompt);
		}
		fputc('\n', o->f);
	} else {
		fputc('{', o->f);
		for (size_t i = 0; i < NCOLS; i++) {
			fprintf(o->f, "%s\"%s\":", i ? "," : "", cols[i].name);
			if (!v[i][0] && cols[i].kind != COL_STR)
				fputs("null", o->f);
			else if (cols[i].kind == COL_NUM)
				fputs(v[i], o->f);
			else if (cols[i].kind == COL_BOOL)
				fputs(!strcmp(v[i], "True") ? "true" : "false", o->f);
			else
				json_string(o->f, v[i]);
		}
		if (o->keep_text) {
			fputs(",\"prompt\":", o->f);
			json_string(o->f, prompt);
		}
		fputs("}\n", o->f);
	}
	o->rows++;
}

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

/* A row is rendered once, its fields one after the other, each followed
 * by a comma: with nothing to quote (the usual row) that text is the CSV
 * line as it is; otherwise, and for JSON, each field is taken by its
 * offset and length. printf cost a row more than everything else the
 * collector does for it. */
struct cells {
	char text[NCOLS * VAL_MAX];
	unsigned short off[NCOLS], len[NCOLS];
	bool quote;			/* a string field holds , " CR or LF */
};

static char *put_u64(char *v, unsigned long long n)
{
	return str_put_dec(v, n);
}

/* A row's stamps mostly fall in one second: its digits are kept. */
static __thread struct {
	uint64_t sec;
	size_t len;
	char txt[24];
} last_sec = { .sec = UINT64_MAX };

static char *put_ts(char *v, uint64_t mono)
{
	uint64_t ns, us, sec;

	if (!mono)
		return v;
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
	return v + 6;
}

/* Below this many ns, |d| / 1e9 as a double is off by far less than the
 * 1 ns between a non-tie and the half microsecond printf rounds at. */
#define DELTA_EXACT_NS 1000000000000000LL

/* Seconds between two observed stamps; empty if either is missing. The
 * text is printf's "%.6f" of (double)d / 1e9: computed in integers unless
 * d sits on a half microsecond (a tie printf settles on the double). */
static char *put_delta(char *v, uint64_t from, uint64_t to)
{
	int64_t d = (int64_t)(to - from);
	uint64_t a, us;

	if (!from || !to)
		return v;
	a = d < 0 ? -(uint64_t)d : (uint64_t)d;
	if (a % 1000 == 500 || a >= DELTA_EXACT_NS)
		return v + snprintf(v, VAL_MAX, "%.6f", ((double)d) / 1e9);
	us = (a + 500) / 1000;
	if (d < 0)
		*v++ = '-';
	v = put_u64(v, us / 1000000);
	*v++ = '.';
	us %= 1000000;
	for (int k = 5; k >= 0; k--, us /= 10)
		v[k] = '0' + us % 10;
	return v + 6;
}

static char *put_num(char *v, long long n)
{
	return n < 0 ? v : put_u64(v, n);
}

/* At most VAL_MAX - 1 bytes of s, noting whether CSV must quote them. */
static char *put_str(char *v, const char *s, bool *quote)
{
	for (size_t n = 0; s && s[n] && n < VAL_MAX - 1; n++) {
		char c = s[n];

		if (c == ',' || c == '"' || c == '\r' || c == '\n')
			*quote = true;
		*v++ = c;
	}
	return v;
}

static char *put_bool(char *v, int b)
{
	if (b < 0)
		return v;
	memcpy(v, b ? "True" : "False", 5);
	return v + (b ? 4 : 5);
}

static void render(const struct timeline_row *r, struct cells *c)
{
	long long decode = r->actual_output_tokens >= 0 ? r->actual_output_tokens
							 : r->output_tokens_from_trace;
	char *at = c->text, *v;
	int i = 0;

	c->quote = false;
	/* field i is written at v; CELL closes it */
#define CELL(put) do {							\
		v = at;							\
		at = (put);						\
		c->off[i] = v - c->text;				\
		c->len[i++] = at - v;					\
		*at++ = ',';						\
	} while (0)
	CELL(put_str(v, r->req_id, &c->quote));
	CELL(put_bool(v, r->success));
	CELL(put_str(v, r->error, &c->quote));
	CELL(put_str(v, r->host, &c->quote));
	CELL(put_bool(v, r->has_generated_text));
	CELL(put_num(v, r->input_length));
	CELL(put_num(v, r->expected_output_length));
	CELL(put_num(v, r->actual_prompt_tokens));
	CELL(put_num(v, r->actual_output_tokens));
	CELL(put_num(v, r->actual_total_tokens));
	CELL(put_num(v, r->output_tokens_from_trace));
	CELL(put_num(v, decode));
	CELL(put_ts(v, r->arrival_time));
	CELL(put_ts(v, r->router_send_time));
	CELL(put_ts(v, r->server_created_time));
	CELL(put_ts(v, r->queue_time_start));
	CELL(put_ts(v, r->queue_time_end));
	CELL(put_ts(v, r->server_first_token_time));
	CELL(put_ts(v, r->finish_time));
	CELL(put_delta(v, r->router_send_time, r->finish_time));
	CELL(put_delta(v, r->arrival_time, r->finish_time));
	CELL(put_delta(v, r->arrival_time, r->server_first_token_time));
	CELL(put_delta(v, r->arrival_time, r->router_send_time));
	CELL(put_delta(v, r->server_created_time, r->server_first_token_time));
	CELL(put_delta(v, r->server_created_time, r->queue_time_start));
	CELL(put_delta(v, r->queue_time_start, r->queue_time_end));
	CELL(put_str(v, r->level, &c->quote));
	CELL(put_num(v, r->router_pid ? (long long)r->router_pid : -1));
	CELL(put_num(v, r->worker_pid ? (long long)r->worker_pid : -1));
	CELL(put_str(v, r->path, &c->quote));
	CELL(put_bool(v, r->stream));
	CELL(put_num(v, r->status ? r->status : -1));
	CELL(put_num(v, r->forwards));
	CELL(put_str(v, r->rid_source, &c->quote));
	CELL(put_str(v, r->sglang_rid, &c->quote));
	CELL(put_num(v, r->request_bytes));
	CELL(put_num(v, r->response_bytes));
	CELL(put_ts(v, r->router_first_token_time));
	CELL(put_ts(v, r->worker_first_token_time));
	CELL(put_ts(v, r->worker_finish_time));
	CELL(put_ts(v, r->tokenizer_send_time));
	CELL(put_ts(v, r->scheduler_last_output_time));
	CELL(put_ts(v, r->detokenizer_recv_time));
	CELL(put_ts(v, r->detokenizer_send_time));
	CELL(put_ts(v, r->tokenizer_recv_time));
	CELL(put_str(v, r->notes, &c->quote));
	CELL(put_str(v, r->engine, &c->quote));
#undef CELL
	_Static_assert(NCOLS == 47, "render() writes every column");
}

static void csv_field(FILE *f, const char *s, size_t n)
{
	if (!memchr(s, ',', n) && !memchr(s, '"', n) && !memchr(s, '\r', n) &&
	    !memchr(s, '\n', n)) {
		fwrite(s, 1, n, f);
		return;
	}
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			fputc('"', f);
		fputc(s[i], f);
	}
	fputc('"', f);
}

static void json_string(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

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
	static __thread struct cells c;	/* the query server renders too */
	const char *prompt = r->prompt ? r->prompt : "";

	render(r, &c);
	if (o->format == OUT_CSV) {
		if (!o->header_done)
			csv_header(o);
		if (!c.quote) {		/* the text is the line, less its last comma */
			fwrite(c.text, 1, c.off[NCOLS - 1] + c.len[NCOLS - 1], o->f);
		} else {
			for (size_t i = 0; i < NCOLS; i++) {
				if (i)
					fputc(',', o->f);
				csv_field(o->f, c.text + c.off[i], c.len[i]);
			}
		}
		if (o->keep_text) {
			fputc(',', o->f);
			csv_field(o->f, prompt, strlen(prompt));
		}
		fputc('\n', o->f);
	} else {
		fputc('{', o->f);
		for (size_t i = 0; i < NCOLS; i++) {
			const char *v = c.text + c.off[i];
			size_t n = c.len[i];

			fprintf(o->f, "%s\"%s\":", i ? "," : "", cols[i].name);
			if (!n && cols[i].kind != COL_STR)
				fputs("null", o->f);
			else if (cols[i].kind == COL_NUM)
				fwrite(v, 1, n, o->f);
			else if (cols[i].kind == COL_BOOL)
				fputs(v[0] == 'T' ? "true" : "false", o->f);
			else
				json_string(o->f, v, n);
		}
		if (o->keep_text) {
			fputs(",\"prompt\":", o->f);
			json_string(o->f, prompt, strlen(prompt));
		}
		fputs("}\n", o->f);
	}
	o->rows++;
}

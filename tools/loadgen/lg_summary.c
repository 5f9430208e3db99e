// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "lg_row.h"
#include "lg_summary.h"

struct vec {
	double *v;
	size_t n;
};

static void push(struct vec *x, double v)
{
	if (isfinite(v))
		x->v[x->n++] = v;
}

/* "... after 1 ms" and "... after 2 ms" are one kind of error. */
static void error_key(char *key, size_t cap, const char *err)
{
	size_t j = 0;

	for (const char *p = err; *p && j + 1 < cap; p++) {
		key[j++] = *p;
		if (j >= 6 && !strncmp(key + j - 6, "after ", 6) &&
		    isdigit((unsigned char)p[1])) {
			while (isdigit((unsigned char)p[1]))
				p++;
			if (j + 1 < cap)
				key[j++] = 'N';
		}
	}
	key[j] = '\0';
}

static void add_error(struct lg_summary *s, const char *err)
{
	char key[96];
	size_t i, min_i = 0;

	error_key(key, sizeof(key), err);
	for (i = 0; i < s->nerrors; i++) {
		if (!strcmp(s->errors[i].text, key)) {
			s->errors[i].count++;
			return;
		}
	}
	if (s->nerrors < LG_TOP_ERRORS) {
		i = s->nerrors++;
	} else {
		/* keep the frequent ones: replace the rarest seen once */
		for (i = 1; i < LG_TOP_ERRORS; i++)
			if (s->errors[i].count < s->errors[min_i].count)
				min_i = i;
		if (s->errors[min_i].count > 1)
			return;
		i = min_i;
	}
	memcpy(s->errors[i].text, key, sizeof(key));
	s->errors[i].count = 1;
}

int lg_summary_compute(struct lg_summary *s, const struct lg_result *res,
		       const struct lg_item *items, size_t n)
{
	struct vec tl, sl, tt, qt, lag;
	double first_send = INFINITY, last_send = -INFINITY;
	double last_finish = -INFINITY;
	size_t ttft_client = 0;
	int ret = -ENOMEM;

	memset(s, 0, sizeof(*s));
	tl.v = calloc(n + 1, sizeof(double));
	sl.v = calloc(n + 1, sizeof(double));
	tt.v = calloc(n + 1, sizeof(double));
	qt.v = calloc(n + 1, sizeof(double));
	lag.v = calloc(n + 1, sizeof(double));
	tl.n = sl.n = tt.n = qt.n = lag.n = 0;
	if (!tl.v || !sl.v || !tt.v || !qt.v || !lag.v)
		goto out;

	for (size_t i = 0; i < n; i++) {
		const struct lg_result *r = &res[i];
		struct lg_row row;

		if (!r->sent)
			continue;
		s->sent++;
		first_send = fmin(first_send, r->send_time);
		last_send = fmax(last_send, r->send_time);
		push(&lag, r->lag);
		if (!r->done)
			continue;
		s->completed++;
		if (isfinite(r->finish_time))
			last_finish = fmax(last_finish, r->finish_time);
		if (!r->success) {
			s->failed++;
			add_error(s, r->error ? r->error : "unknown error");
			continue;
		}
		s->succeeded++;
		if (r->prompt_tokens >= 0) {
			s->input_tokens += r->prompt_tokens;
		} else {
			s->input_tokens += items[i].input_len;
			s->input_tokens_are_words = true;
		}
		s->output_tokens += r->completion_tokens >= 0 ?
				    r->completion_tokens : r->chunks;
		lg_row_from_result(&row, r);
		push(&tl, row.lat[LG_LAT_TOTAL]);
		push(&sl, r->meta[LG_META_E2E_LATENCY]);
		push(&qt, r->meta[LG_META_QUEUE_TIME]);
		/* the client's own first token when it streamed */
		if (!isnan(r->first_token_time)) {
			push(&tt, r->first_token_time - r->send_time);
			ttft_client++;
		} else {
			push(&tt, row.lat[LG_LAT_TTFT]);
		}
	}
	s->ttft_from_client = ttft_client && ttft_client == tt.n;
	if (s->sent) {
		s->send_span = last_send - first_send;
		s->send_rate = s->send_span > 0 ?
			       (double)(s->sent - 1) / s->send_span : INFINITY;
		s->duration = isfinite(last_finish) ? last_finish - first_send : 0;
	}
	if (s->duration > 0) {
		s->req_throughput = s->succeeded / s->duration;
		s->input_throughput = s->input_tokens / s->duration;
		s->output_throughput = s->output_tokens / s->duration;
	}
	lg_dist_compute(&s->total_latency, tl.v, tl.n);
	lg_dist_compute(&s->server_latency, sl.v, sl.n);
	lg_dist_compute(&s->ttft, tt.v, tt.n);
	lg_dist_compute(&s->queue_time, qt.v, qt.n);
	lg_dist_compute(&s->lag, lag.v, lag.n);
	ret = 0;
out:
	free(tl.v);
	free(sl.v);
	free(tt.v);
	free(qt.v);
	free(lag.v);
	return ret;
}

#define LINE "=================================================="

static void title(FILE *f, const char *t)
{
	int pad = 50 - 2 - (int)strlen(t);

	if (pad < 2)
		pad = 2;
	fprintf(f, "%.*s %s %.*s\n", pad / 2, LINE, t, pad - pad / 2, LINE);
}

static void kv_str(FILE *f, const char *k, const char *v)
{
	fprintf(f, "%-40s %s\n", k, v);
}

static void kv_num(FILE *f, const char *k, double v, int dec)
{
	if (isfinite(v))
		fprintf(f, "%-40s %.*f\n", k, dec, v);
	else
		kv_str(f, k, isinf(v) ? "inf" : "n/a");
}

static void dist_ms(FILE *f, const char *what, const struct lg_dist *d,
		    const char *missing)
{
	char k[64];

	title(f, what);
	if (!d->n) {
		kv_str(f, "(no data)", missing);
		return;
	}
	snprintf(k, sizeof(k), "Mean %s (ms):", what);
	kv_num(f, k, d->mean * 1e3, 2);
	snprintf(k, sizeof(k), "Median %s (ms):", what);
	kv_num(f, k, d->p50 * 1e3, 2);
	snprintf(k, sizeof(k), "P95 %s (ms):", what);
	kv_num(f, k, d->p95 * 1e3, 2);
	snprintf(k, sizeof(k), "P99 %s (ms):", what);
	kv_num(f, k, d->p99 * 1e3, 2);
}

void lg_summary_print(FILE *f, const struct lg_run_info *info,
		      const struct lg_summary *s)
{
	char buf[160];

	fprintf(f, "\n");
	title(f, "Serving Benchmark Result");
	kv_str(f, "Backend:", info->backend);
	snprintf(buf, sizeof(buf), "%s%s", info->url,
		 info->stream ? " (stream)" : "");
	kv_str(f, "Endpoint:", buf);
	kv_str(f, "Model:", info->model ? info->model : "-");
	kv_str(f, "Run id prefix:", info->run_prefix);
	kv_num(f, "Traffic request rate:", info->rate, 2);
	if (info->max_concurrency)
		snprintf(buf, sizeof(buf), "%u", info->max_concurrency);
	else
		snprintf(buf, sizeof(buf), "not set");
	kv_str(f, "Max request concurrency:", buf);
	snprintf(buf, sizeof(buf), "%u", info->peak_inflight);
	kv_str(f, "Peak requests in flight:", buf);
	if (info->held) {
		bool by_conc = info->max_concurrency &&
			       (!info->max_connections ||
				info->max_concurrency <= info->max_connections);

		if (by_conc)
			snprintf(buf, sizeof(buf), "%zu (--max-concurrency %u)",
				 info->held, info->max_concurrency);
		else
			snprintf(buf, sizeof(buf), "%zu (--max-connections %u: the target fell behind)",
				 info->held, info->max_connections);
		kv_str(f, "Arrivals held by the in-flight cap:", buf);
	}
	snprintf(buf, sizeof(buf), "%zu / %zu (%.1f%%)%s", s->succeeded,
		 info->planned,
		 info->planned ? 100.0 * s->succeeded / info->planned : 0.0,
		 info->interrupted ? "  [interrupted]" : "");
	kv_str(f, "Successful requests:", buf);
	snprintf(buf, sizeof(buf), "%zu sent, %zu failed, %zu unfinished",
		 s->sent, s->failed, s->sent - s->completed);
	kv_str(f, "Requests:", buf);
	kv_num(f, "Benchmark duration (s):", s->duration, 2);
	snprintf(buf, sizeof(buf), "%ld%s", s->input_tokens,
		 s->input_tokens_are_words ? " (words where unreported)" : "");
	kv_str(f, "Total input tokens:", buf);
	snprintf(buf, sizeof(buf), "%ld", s->output_tokens);
	kv_str(f, "Total generated tokens:", buf);
	kv_num(f, "Request throughput (req/s):", s->req_throughput, 2);
	kv_num(f, "Input token throughput (tok/s):", s->input_throughput, 2);
	kv_num(f, "Output token throughput (tok/s):", s->output_throughput, 2);

	title(f, "Schedule");
	kv_num(f, "Send span (s):", s->send_span, 3);
	kv_num(f, "Achieved send rate (req/s):", s->send_rate, 1);
	kv_num(f, "Schedule lag P50 (ms):", s->lag.p50 * 1e3, 3);
	kv_num(f, "Schedule lag P99 (ms):", s->lag.p99 * 1e3, 3);
	kv_num(f, "Schedule lag max (ms):", s->lag.max * 1e3, 3);
	/* how close the generator itself is to being the bottleneck */
	if (info->cpu_seconds >= 0 && s->sent) {
		snprintf(buf, sizeof(buf), "%.2f s, %.1f us/request",
			 info->cpu_seconds, info->cpu_seconds / s->sent * 1e6);
		kv_str(f, "Load generator CPU:", buf);
	}

	dist_ms(f, "Total Latency", &s->total_latency, "no successful request");
	dist_ms(f, "Server Latency", &s->server_latency,
		"no meta_info.e2e_latency (start SGLang with --enable-metrics)");
	dist_ms(f, s->ttft_from_client ? "TTFT" : "TTFT (server stamp)", &s->ttft,
		"no first token seen (use --stream, or SGLang --enable-metrics)");
	dist_ms(f, "Queue Time", &s->queue_time,
		"no meta_info.queue_time (start SGLang with --enable-metrics)");
	if (s->nerrors) {
		title(f, "Errors");
		for (size_t i = 0; i < s->nerrors; i++)
			fprintf(f, "%8zu  %s\n", s->errors[i].count,
				s->errors[i].text);
	}
	fprintf(f, "%s\n", LINE);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* /metrics text parsed back: every histogram's buckets are cumulative,
 * _count equals the +Inf bucket, stages land in the right buckets. */
#include <stdlib.h>
#include <string.h>
#include "query/metrics.h"
#include "test.h"
#include "timeline_rows.h"

#define SEC 1000000000ULL

/* The value of the sample whose name+labels text is exactly key. */
static double sample(const char *text, const char *key, int *found)
{
	size_t kl = strlen(key);

	*found = 0;
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (!strncmp(l, key, kl) && l[kl] == ' ') {
			*found = 1;
			return strtod(l + kl + 1, NULL);
		}
	}
	return 0;
}

/* Walks every _bucket line: per series, le rises and counts never fall;
 * the +Inf bucket equals the series' _count. Returns histograms seen. */
static int check_histograms(const char *text)
{
	char series[512] = "", name[512];
	double prev_le = -1, prev = -1;
	int n = 0, bad_le = 0, bad_count = 0, bad_total = 0;

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *le = strstr(l, ",le=\""), *end = strchr(l, '\n');
		double v, lev;
		int found;

		if (*l == '#' || !le || le > end)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(le - l), l);
		lev = !strncmp(le + 5, "+Inf", 4) ? 1e300 : strtod(le + 5, NULL);
		v = strtod(strchr(le, ' ') + 1, NULL);
		if (strcmp(name, series)) {
			snprintf(series, sizeof(series), "%s", name);
			prev_le = prev = -1;
		}
		bad_le += !(lev > prev_le);
		bad_count += !(v >= prev);
		prev_le = lev;
		prev = v;
		if (lev == 1e300) {
			char key[600];
			const char *b = strstr(name, "_bucket{");

			snprintf(key, sizeof(key), "%.*s_count{%s}", (int)(b - name), name, b + 8);
			bad_total += !(sample(text, key, &found) == v && found);
			n++;
		}
	}
	ASSERT_EQ(bad_le, 0, "le increases within a series");
	ASSERT_EQ(bad_count, 0, "bucket counts monotonic");
	ASSERT_EQ(bad_total, 0, "_count = +Inf bucket");
	return n;
}

static void test_histograms_and_counters(void)
{
	struct metrics *m = metrics_new();
	struct timeline_row r;
	char *text;
	int found;

	for (int i = 0; i < 4; i++) {
		rows_make(&r, "x", i % 2, (10 + i) * SEC);
		if (i == 3) {
			r.success = 0;
			r.queue_time_start = 0;		/* unknown: no tokenize/queue sample */
		}
		metrics_observe(m, &r);
	}
	rows_make(&r, "y", 0, 20 * SEC);
	snprintf(r.path, sizeof(r.path), "/v1/chat/completions");
	metrics_observe(m, &r);
	metrics_set_counter(m, "kernel_ringbuf_drops", 3);
	metrics_set_counter(m, "kernel_ringbuf_drops", 5);
	metrics_set_counter(m, "exchanges \"evicted\"", 1);
	text = metrics_render(m);
	if (!ASSERT_TRUE(text != NULL, "renders"))
		return;
	/* 7 stages x 3 (worker, path) label sets: each set had one full row */
	ASSERT_EQ(check_histograms(text), 7 * 3, "7 stage histograms x 3 label sets");
	ASSERT_EQ(sample(text, "servetrace_total_latency_seconds_count{worker=\"127.0.0.1:30000\",path=\"/generate\"}", &found), 2, "worker 0 /generate: i=0,2");
	ASSERT_EQ(sample(text, "servetrace_tokenize_seconds_count{worker=\"127.0.0.1:30001\",path=\"/generate\"}", &found), 1, "stage with an unknown stamp not observed");
	/* router queue 50 us: le 0.0001 holds it, le 0.00025 too, nothing below */
	ASSERT_EQ(sample(text, "servetrace_router_queue_seconds_bucket{worker=\"127.0.0.1:30000\",path=\"/generate\",le=\"0.0001\"}", &found), 2, "50 us in the 100 us bucket");
	ASSERT_TRUE(found, "bucket line present");
	/* prefill 10 ms: not in le 0.005, in le 0.01 */
	ASSERT_EQ(sample(text, "servetrace_prefill_seconds_bucket{worker=\"127.0.0.1:30000\",path=\"/generate\",le=\"0.005\"}", &found), 0, "10 ms above 5 ms");
	ASSERT_EQ(sample(text, "servetrace_prefill_seconds_bucket{worker=\"127.0.0.1:30000\",path=\"/generate\",le=\"0.01\"}", &found), 2, "10 ms within 10 ms");
	ASSERT_NEAR(sample(text, "servetrace_scheduler_queue_seconds_sum{worker=\"127.0.0.1:30000\",path=\"/generate\"}", &found), 2 * D_SCHED_QUEUE / 1e9, 1e-9, "sum in seconds");
	ASSERT_EQ(sample(text, "servetrace_requests_total{worker=\"127.0.0.1:30001\",path=\"/generate\",status=\"error\"}", &found), 1, "errors by worker");
	ASSERT_EQ(sample(text, "servetrace_requests_total{worker=\"127.0.0.1:30000\",path=\"/v1/chat/completions\",status=\"success\"}", &found), 1, "by path");
	ASSERT_EQ(sample(text, "servetrace_lost_total{counter=\"kernel_ringbuf_drops\"}", &found), 5, "loss counter, latest value");
	ASSERT_TRUE(found, "loss counter present");
	sample(text, "servetrace_lost_total{counter=\"exchanges \\\"evicted\\\"\"}", &found);
	ASSERT_TRUE(found, "label value escaped");
	ASSERT_TRUE(strstr(text, "# TYPE servetrace_ttft_seconds histogram\n") != NULL, "TYPE line");
	ASSERT_TRUE(strstr(text, "# TYPE servetrace_requests_total counter\n") != NULL, "counter TYPE");
	free(text);
	metrics_free(m);
}

static void test_series_bounded(void)
{
	struct metrics *m = metrics_new();
	struct timeline_row r;
	char *text;
	int found;

	for (int i = 0; i < METRICS_MAX_SERIES + 10; i++) {
		rows_make(&r, "x", i, 10 * SEC);
		metrics_observe(m, &r);
	}
	text = metrics_render(m);
	ASSERT_EQ(sample(text, "servetrace_total_latency_seconds_count{worker=\"other\",path=\"other\"}", &found), 10, "label sets past the cap go to other");
	ASSERT_EQ(check_histograms(text), 7 * (METRICS_MAX_SERIES + 1), "all histograms well formed");
	free(text);
	metrics_free(m);
}

void test_area_metrics(void)
{
	RUN_SUBTEST(test_histograms_and_counters);
	RUN_SUBTEST(test_series_bounded);
}

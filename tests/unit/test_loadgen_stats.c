// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* loadgen statistics: percentiles and the run summary on hand-made results. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "lg_stats.h"
#include "lg_summary.h"

static void test_percentiles(void)
{
	double v[] = { 5, 1, 4, 2, 3 };
	struct lg_dist d;

	lg_dist_compute(&d, v, 5);
	ASSERT_NEAR(d.mean, 3, 1e-12, "mean");
	ASSERT_NEAR(d.p50, 3, 1e-12, "median");
	ASSERT_NEAR(d.p90, 4.6, 1e-12, "p90 interpolated");
	ASSERT_NEAR(d.p99, 4.96, 1e-12, "p99 interpolated");
	ASSERT_NEAR(d.min, 1, 0, "min");
	ASSERT_NEAR(d.max, 5, 0, "max");
	lg_dist_compute(&d, v, 1);
	ASSERT_NEAR(d.p99, 1, 0, "one value: every percentile is it");
	lg_dist_compute(&d, v, 0);
	ASSERT_TRUE(isnan(d.mean) && d.n == 0, "empty: NaN");

	double s[] = { -3, 1, 2 };

	lg_dist_compute(&d, s, 3);
	ASSERT_NEAR(d.max_abs, 3, 0, "max |v| from a negative");
}

static void mk(struct lg_result *r, double send, double finish, bool ok,
	       int ptok, int ctok, const char *err)
{
	lg_result_init(r, LG_API_GENERATE);
	r->sent = r->done = true;
	r->send_time = send;
	r->finish_time = finish;
	r->lag = 0.001;
	r->success = ok;
	r->prompt_tokens = ptok;
	r->completion_tokens = ctok;
	if (err)
		r->error = strdup(err);
}

static void test_summary(void)
{
	struct lg_result r[5];
	struct lg_item it[5] = { { .input_len = 10 }, { .input_len = 20 },
				 { .input_len = 30 }, { .input_len = 40 },
				 { .input_len = 50 } };
	struct lg_summary s;

	mk(&r[0], 100.0, 101.0, true, 8, 4, NULL);
	mk(&r[1], 100.5, 102.0, true, -1, 6, NULL);	/* no prompt count */
	mk(&r[2], 101.0, 101.5, false, -1, -1, "HTTP 500 Internal Server Error");
	mk(&r[3], 102.0, 104.0, false, -1, -1, "HTTP 500 Internal Server Error");
	free(r[2].error);
	free(r[3].error);
	r[2].error = strdup("Failed to connect to h port 1 after 1 ms: refused");
	r[3].error = strdup("Failed to connect to h port 1 after 23 ms: refused");
	mk(&r[4], 0, 0, false, -1, -1, NULL);
	r[4].sent = r[4].done = false;			/* never sent (^C) */
	r[0].meta[LG_META_E2E_LATENCY] = 0.9;
	r[0].meta[LG_META_QUEUE_TIME] = 0.1;
	r[0].first_token_time = 100.25;
	r[1].first_token_time = 100.75;

	ASSERT_EQ(lg_summary_compute(&s, r, it, 5), 0, "computes");
	ASSERT_EQ(s.sent, 4, "sent");
	ASSERT_EQ(s.succeeded, 2, "succeeded");
	ASSERT_EQ(s.failed, 2, "failed");
	ASSERT_NEAR(s.duration, 4.0, 1e-9, "first send to last finish");
	ASSERT_NEAR(s.send_rate, 1.5, 1e-9, "3 gaps in 2 s");
	ASSERT_EQ(s.input_tokens, 28, "8 tokens + 20 words");
	ASSERT_TRUE(s.input_tokens_are_words, "flagged");
	ASSERT_EQ(s.output_tokens, 10, "output tokens");
	ASSERT_NEAR(s.req_throughput, 0.5, 1e-9, "2 ok / 4 s");
	ASSERT_NEAR(s.total_latency.mean, 1.25, 1e-9, "latency of successes");
	ASSERT_EQ(s.server_latency.n, 1, "one e2e_latency");
	ASSERT_NEAR(s.ttft.p50, 0.25, 1e-9, "client ttft");
	ASSERT_TRUE(s.ttft_from_client, "from the client");
	ASSERT_EQ(s.nerrors, 1, "one kind of error");
	ASSERT_EQ(s.errors[0].count, 2, "seen twice, durations aside");
	ASSERT_STREQ(s.errors[0].text, "Failed to connect to h port 1 after N ms: refused",
		     "duration masked");
	ASSERT_NEAR(s.lag.max, 0.001, 1e-12, "lag");
	for (int i = 0; i < 5; i++)
		lg_result_free(&r[i]);
}

void test_area_loadgen_stats(void)
{
	RUN_SUBTEST(test_percentiles);
	RUN_SUBTEST(test_summary);
}

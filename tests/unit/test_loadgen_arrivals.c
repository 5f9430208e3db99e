// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* loadgen arrivals: a seeded run is a Poisson process (exponential gaps,
 * checked by Kolmogorov-Smirnov), sequential, and each request is sent at
 * its arrival whatever the responses do. */
#include <math.h>
#include <stdlib.h>
#include "test.h"
#include "lg_arrivals.h"
#include "lg_rng.h"
#include "lg_sched.h"

#define N_KS 20000
/* KS critical value at alpha = 0.01: 1.6276 / sqrt(n) */
#define KS_CRIT(n) (1.6276 / sqrt((double)(n)))

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* KS distance of gaps (sorted in place) from Exp(rate). */
static double ks_exponential(double *gaps, size_t n, double rate)
{
	double d = 0;

	qsort(gaps, n, sizeof(*gaps), cmp_double);
	for (size_t i = 0; i < n; i++) {
		double f = 1 - exp(-rate * gaps[i]);
		double hi = (double)(i + 1) / n - f, lo = f - (double)i / n;

		d = fmax(d, fmax(hi, lo));
	}
	return d;
}

static double *gaps_of(const double *at, size_t n)
{
	double *g = malloc((n - 1) * sizeof(*g));

	for (size_t i = 1; i < n; i++)
		g[i - 1] = at[i] - at[i - 1];
	return g;
}

static void test_exponential_gaps_pass_ks(void)
{
	const double rate = 50;
	double *at = malloc(N_KS * sizeof(*at)), *g, sum = 0, d;

	lg_arrivals_poisson(at, N_KS, rate, 42);
	g = gaps_of(at, N_KS);
	for (size_t i = 0; i < N_KS - 1; i++)
		sum += g[i];
	/* mean gap 1/rate within 4 standard errors */
	ASSERT_NEAR(sum / (N_KS - 1), 1 / rate, 4 / rate / sqrt(N_KS - 1),
		    "mean gap is 1/rate");
	d = ks_exponential(g, N_KS - 1, rate);
	if (!ASSERT_TRUE(d < KS_CRIT(N_KS - 1), "KS accepts Exp(rate) at alpha 0.01"))
		fprintf(stderr, "       D = %.5f, critical %.5f\n", d, KS_CRIT(N_KS - 1));
	free(g);
	free(at);
}

/* The test has power: the schedules that went wrong before fail it. */
static void test_ks_rejects_wrong_schedules(void)
{
	const double rate = 50;
	size_t n = 2000;
	double *g = malloc(n * sizeof(*g));
	struct lg_rng rng;

	for (size_t i = 0; i < n; i++)
		g[i] = 1 / rate;	/* evenly spaced */
	ASSERT_TRUE(ks_exponential(g, n, rate) > KS_CRIT(n), "constant gaps rejected");
	lg_rng_seed(&rng, 7);
	for (size_t i = 0; i < n; i++)	/* serial: wait 0.88 s for each response */
		g[i] = lg_rng_exp(&rng, 1 / rate) + 0.88;
	ASSERT_TRUE(ks_exponential(g, n, rate) > KS_CRIT(n), "serial sender rejected");
	for (size_t i = 0; i < n; i++)	/* uniform gaps of the same mean */
		g[i] = lg_rng_unit(&rng) * 2 / rate;
	ASSERT_TRUE(ks_exponential(g, n, rate) > KS_CRIT(n), "uniform gaps rejected");
	free(g);
}

static void test_sequential_and_seeded(void)
{
	double a[1000], b[1000], c[1000];
	int monotone = 1, same = 1, differ = 0;

	lg_arrivals_poisson(a, 1000, 10, 1);
	lg_arrivals_poisson(b, 1000, 10, 1);
	lg_arrivals_poisson(c, 1000, 10, 2);
	ASSERT_NEAR(a[0], 0, 0, "first request at t = 0");
	for (int i = 1; i < 1000; i++) {
		monotone &= a[i] > a[i - 1];
		same &= a[i] == b[i];
		differ |= a[i] != c[i];
	}
	ASSERT_TRUE(monotone, "arrival times strictly increase");
	ASSERT_TRUE(same, "same seed, same schedule");
	ASSERT_TRUE(differ, "another seed, another schedule");
}

static void test_hundred_at_fifty_take_two_seconds(void)
{
	double at[100];

	lg_arrivals_poisson(at, 100, 50, 1);
	/* 99 gaps of mean 20 ms: 1.98 s, sd 0.2 s; serial would be 88 s */
	ASSERT_TRUE(at[99] > 1.2 && at[99] < 2.8, "100 requests at 50/s span ~2 s");
}

static void test_rate_inf_and_parse(void)
{
	double at[50], r;
	int zero = 1;

	lg_arrivals_poisson(at, 50, INFINITY, 3);
	for (int i = 0; i < 50; i++)
		zero &= at[i] == 0;
	ASSERT_TRUE(zero, "rate inf: all at once");
	ASSERT_EQ(lg_parse_rate("inf", &r), 0, "parse inf");
	ASSERT_TRUE(isinf(r), "inf is infinite");
	ASSERT_EQ(lg_parse_rate("12.5", &r), 0, "parse 12.5");
	ASSERT_NEAR(r, 12.5, 0, "12.5");
	ASSERT_TRUE(lg_parse_rate("0", &r) < 0, "0 rejected");
	ASSERT_TRUE(lg_parse_rate("-3", &r) < 0, "negative rejected");
	ASSERT_TRUE(lg_parse_rate("5x", &r) < 0, "junk rejected");
}

/* Discrete-event run of the dispatcher: every response takes `service`
 * seconds. Returns the send time of each request in sent[]. */
static void simulate(const double *at, size_t n, unsigned int cap,
		     double service, double *sent)
{
	struct lg_sched s;
	double *ends = malloc(n * sizeof(*ends));
	size_t nends = 0;
	double now = 0;

	lg_sched_init(&s, at, n, cap);
	while (!lg_sched_finished(&s)) {
		double next_end = INFINITY, wake;
		size_t k = 0;

		while (lg_sched_ready(&s, now)) {
			size_t i = lg_sched_take(&s);

			sent[i] = now;
			ends[nends++] = now + service;
		}
		for (size_t j = 0; j < nends; j++)
			if (ends[j] < next_end)
				next_end = ends[k = j];
		wake = lg_sched_next_wake(&s);
		if (wake <= next_end) {
			now = wake;
			continue;
		}
		now = next_end;
		ends[k] = ends[--nends];
		lg_sched_done(&s);
	}
	free(ends);
}

static void test_send_at_arrival_despite_slow_responses(void)
{
	double at[100], sent[100];
	int on_time = 1;

	lg_arrivals_poisson(at, 100, 50, 1);
	simulate(at, 100, 0, 0.88, sent);	/* responses far slower than gaps */
	for (int i = 0; i < 100; i++)
		on_time &= sent[i] == at[i];
	ASSERT_TRUE(on_time, "every request sent at its arrival time");
	ASSERT_TRUE(sent[99] < 2.8, "the last one goes at ~2 s, not 88 s");
}

static void test_concurrency_cap_delays_only(void)
{
	double at[50], sent[50];
	int never_early = 1, monotone = 1;
	struct lg_sched s;

	lg_arrivals_poisson(at, 50, 1000, 5);
	simulate(at, 50, 2, 0.1, sent);
	for (int i = 0; i < 50; i++) {
		never_early &= sent[i] >= at[i];
		if (i)
			monotone &= sent[i] >= sent[i - 1];
	}
	ASSERT_TRUE(never_early, "no request before its arrival");
	ASSERT_TRUE(monotone, "sent in arrival order");
	/* two slots, 0.1 s each: 25 rounds */
	ASSERT_NEAR(sent[49], 2.4, 0.05, "cap 2 paces the sends");

	lg_sched_init(&s, at, 50, 1);
	ASSERT_TRUE(lg_sched_ready(&s, 0), "first is ready at 0");
	lg_sched_take(&s);
	ASSERT_TRUE(!lg_sched_ready(&s, 100), "cap reached: not ready");
	ASSERT_TRUE(isinf(lg_sched_next_wake(&s)), "cap reached: no wake");
	lg_sched_note_held(&s, 0);
	ASSERT_EQ(s.held, 0, "not due yet: not held");
	lg_sched_note_held(&s, 100);
	lg_sched_note_held(&s, 101);
	ASSERT_EQ(s.held, 1, "due and capped: held, counted once");
	lg_sched_done(&s);
	ASSERT_NEAR(lg_sched_next_wake(&s), at[1], 0, "slot free: next arrival");
	lg_sched_stop(&s);
	ASSERT_TRUE(lg_sched_all_sent(&s), "stop drops the rest");
	ASSERT_EQ(s.peak_inflight, 1, "peak in flight");
}

void test_area_loadgen_arrivals(void)
{
	RUN_SUBTEST(test_exponential_gaps_pass_ks);
	RUN_SUBTEST(test_ks_rejects_wrong_schedules);
	RUN_SUBTEST(test_sequential_and_seeded);
	RUN_SUBTEST(test_hundred_at_fifty_take_two_seconds);
	RUN_SUBTEST(test_rate_inf_and_parse);
	RUN_SUBTEST(test_send_at_arrival_despite_slow_responses);
	RUN_SUBTEST(test_concurrency_cap_delays_only);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The CSV contract of timeline.md: names, order, derived columns. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "output/clock.h"
#include "output/output.h"
#include "test.h"

static const char *contract =
	"req_id,success,error,host,has_generated_text,"
	"input_length,expected_output_length,actual_prompt_tokens,actual_output_tokens,"
	"actual_total_tokens,output_tokens_from_trace,decode_length,"
	"arrival_time,router_send_time,server_created_time,queue_time_start,queue_time_end,"
	"server_first_token_time,finish_time,"
	"server_latency,total_latency,ttft,queue_time_in_router,queue_time_in_server,"
	"tokenize_time,pure_queue_time";

static void test_header_contract(void)
{
	const char *h = output_csv_header();

	ASSERT_TRUE(!strncmp(h, contract, strlen(contract)), "contract columns first, in order");
	ASSERT_EQ(h[strlen(contract)], ',', "own columns after the contract");
}

static char *render_csv(const struct timeline_row *r)
{
	static char buf[8192];
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	struct output o;

	output_init(&o, f, OUT_CSV);
	output_row(&o, r);
	fclose(f);
	return strchr(buf, '\n') + 1;	/* skip the header */
}

static void field(const char *line, int idx, char *out, size_t len)
{
	const char *p = line;

	for (int i = 0; i < idx; i++)
		p = strchr(p, ',') + 1;
	snprintf(out, len, "%.*s", (int)strcspn(p, ",\n"), p);
}

static void test_derived_and_empty(void)
{
	struct timeline_row r = {};
	char v[64], *line;

	clock_set_offset(1700000000LL * 1000000000LL);
	snprintf(r.req_id, sizeof(r.req_id), "x");
	r.success = 1;
	r.has_generated_text = 1;
	r.input_length = 3;
	r.expected_output_length = 8;
	r.actual_prompt_tokens = r.actual_output_tokens = r.actual_total_tokens = -1;
	r.output_tokens_from_trace = 7;
	r.arrival_time = 1000000000ULL;		/* 1.000000 s after offset */
	r.router_send_time = 1000050000ULL;	/* +50 us */
	r.server_created_time = 1000200000ULL;
	r.server_first_token_time = 1100000000ULL;
	r.finish_time = 1500000000ULL;
	line = render_csv(&r);
	field(line, 1, v, sizeof(v));
	ASSERT_STREQ(v, "True", "success as Python bool text");
	field(line, 11, v, sizeof(v));
	ASSERT_STREQ(v, "7", "decode_length falls back to trace count");
	field(line, 12, v, sizeof(v));
	ASSERT_STREQ(v, "1700000001.000000", "epoch seconds with microseconds");
	field(line, 15, v, sizeof(v));
	ASSERT_STREQ(v, "", "unobserved queue_time_start is empty");
	field(line, 19, v, sizeof(v));
	ASSERT_STREQ(v, "0.499950", "server_latency = finish - router_send");
	field(line, 21, v, sizeof(v));
	ASSERT_STREQ(v, "0.100000", "ttft = first token - arrival");
	field(line, 22, v, sizeof(v));
	ASSERT_STREQ(v, "0.000050", "queue_time_in_router");
	field(line, 24, v, sizeof(v));
	ASSERT_STREQ(v, "", "tokenize_time empty without queue_time_start");
}

static void test_quoting(void)
{
	struct timeline_row r = {};
	char *line;

	snprintf(r.req_id, sizeof(r.req_id), "q");
	snprintf(r.error, sizeof(r.error), "HTTP 400 Bad Request: \"x\", y");
	r.has_generated_text = -1;
	line = render_csv(&r);
	ASSERT_TRUE(strstr(line, "\"HTTP 400 Bad Request: \"\"x\"\", y\"") != NULL,
		    "commas and quotes are CSV-quoted");
}

/* Prompt text only when asked, as the last column. */
static void test_keep_text(void)
{
	static char buf[8192];
	struct timeline_row r = { .has_generated_text = -1, .prompt = "say \"hi\", twice" };
	struct output o;
	FILE *f;

	snprintf(r.req_id, sizeof(r.req_id), "k");
	f = fmemopen(buf, sizeof(buf), "w");
	output_init(&o, f, OUT_CSV);
	output_row(&o, &r);
	fclose(f);
	ASSERT_TRUE(!strstr(buf, ",prompt\n") && !strstr(buf, "twice"), "no prompt text by default");

	f = fmemopen(buf, sizeof(buf), "w");
	output_init(&o, f, OUT_CSV);
	output_keep_text(&o, true);
	output_row(&o, &r);
	fclose(f);
	ASSERT_TRUE(strstr(buf, ",prompt\n") != NULL, "prompt column last in the header");
	ASSERT_TRUE(strstr(buf, ",\"say \"\"hi\"\", twice\"\n") != NULL, "prompt quoted");
}

/* Latencies are printed without printf, and must read as printf's "%.6f"
 * of the double did: ties on a half microsecond, negatives, rounding to
 * zero, carries into the seconds. */
static void test_delta_as_printf(void)
{
	static const int64_t fixed[] = {
		0, 1, 499, 500, 501, 999, 1000, 1500, 2500, 999999499, 999999500,
		999999501, 1000000000, 123456789012, -1, -499, -500, -501, -1500,
		-1000000000, 86400000000000LL, 999999999999999LL,
	};
	uint64_t base = 5000000000000ULL, x = 88172645463325252ULL;
	int bad = 0;

	clock_set_offset(0);
	for (int i = 0; i < 200000 + (int)(sizeof(fixed) / sizeof(fixed[0])); i++) {
		struct timeline_row r = { .has_generated_text = -1 };
		int64_t d;
		char want[64], got[64], *line;

		if (i < (int)(sizeof(fixed) / sizeof(fixed[0]))) {
			d = fixed[i];
		} else {	/* xorshift: all magnitudes, many ties */
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			d = (int64_t)(x % 4000000000000ULL) - 2000000000000LL;
			if (i % 3 == 0)
				d = d / 1000 * 1000 + 500 * (d < 0 ? -1 : 1);
			else if (i % 3 == 1)
				d %= 10000000;
		}
		snprintf(r.req_id, sizeof(r.req_id), "d");
		r.router_send_time = base;
		r.finish_time = base + d;
		line = render_csv(&r);
		field(line, 19, got, sizeof(got));
		snprintf(want, sizeof(want), "%.6f", (double)d / 1e9);
		if (strcmp(got, want) && bad++ < 5)
			fprintf(stderr, "delta %lld: got %s, printf %s\n", (long long)d, got, want);
	}
	ASSERT_EQ(bad, 0, "every delta reads as printf's %.6f");
}

void test_area_output(void)
{
	RUN_SUBTEST(test_header_contract);
	RUN_SUBTEST(test_derived_and_empty);
	RUN_SUBTEST(test_quoting);
	RUN_SUBTEST(test_keep_text);
	RUN_SUBTEST(test_delta_as_printf);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* compare: join counts and signed-error statistics on hand-made CSVs. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "test.h"
#include "lg_compare.h"
#include "lg_csv.h"

static const char trace_csv[] =
	"req_id,arrival_time,finish_time,actual_output_tokens,extra\n"
	"a,100.000,101.000,5,x\n"
	"b,200.000,202.000,7,y\n"
	"c,300.000,,3,z\n"
	"d,400.000,401.000,1,w\n"
	"d,400.500,401.500,1,second d\n"
	",500,501,1,no id\n";

static const char inband_csv[] =
	"req_id,client_send_time,client_finish_time,actual_output_tokens,note\r\n"
	"a,99.999,100.998,5,\"quoted, note\"\r\n"
	"b,199.995,202.000,6,x\r\n"
	"c,299.990,300.500,3,\"multi\nline\"\r\n"
	"d,399.000,401.001,1,z\r\n"
	"e,1,2,3,only here\r\n"
	"e,1,2,3,twice\r\n";

static void load(struct lg_csv_table *t, const char *text)
{
	ASSERT_EQ(lg_csv_parse(t, strdup(text)), 0, "CSV parses");
}

static void test_csv_reader(void)
{
	struct lg_csv_table t;
	double v;

	load(&t, inband_csv);
	ASSERT_EQ(t.ncols, 5, "columns");
	ASSERT_EQ(t.nrows, 6, "rows (quoted newline is no row)");
	ASSERT_EQ(t.ragged, 0, "no ragged rows");
	ASSERT_STREQ(lg_csv_cell(&t, 0, 4), "quoted, note", "quoted comma");
	ASSERT_STREQ(lg_csv_cell(&t, 2, 4), "multi\nline", "quoted newline");
	ASSERT_STREQ(lg_csv_cell(&t, 5, 4), "twice", "CRLF stripped");
	ASSERT_EQ(lg_csv_col(&t, "client_finish_time"), 2, "column lookup");
	ASSERT_EQ(lg_csv_col(&t, "nope"), -1, "missing column");
	ASSERT_TRUE(lg_csv_double(lg_csv_cell(&t, 1, 1), &v), "number");
	ASSERT_NEAR(v, 199.995, 1e-9, "value");
	ASSERT_TRUE(!lg_csv_double("", &v), "empty is no number");
	ASSERT_TRUE(!lg_csv_double("True", &v), "text is no number");
	lg_csv_table_free(&t);

	load(&t, "x,y\n1\n\"a\"\"b\",2,3");
	ASSERT_EQ(t.ragged, 2, "short and long rows counted");
	ASSERT_STREQ(lg_csv_cell(&t, 0, 1), "", "missing field is empty");
	ASSERT_STREQ(lg_csv_cell(&t, 1, 0), "a\"b", "doubled quote");
	lg_csv_table_free(&t);
	ASSERT_EQ(lg_csv_parse(&t, strdup("")), -ENODATA, "empty file");
	lg_csv_table_free(&t);
}

static const struct lg_pair pairs[] = {
	{ "arrival_time", "client_send_time", LG_UNIT_SECONDS },
	{ "finish_time", "client_finish_time", LG_UNIT_SECONDS },
	{ "actual_output_tokens", "actual_output_tokens", LG_UNIT_COUNT },
	{ "ttft", "ttft", LG_UNIT_SECONDS },
};

static void test_join_counts(void)
{
	struct lg_csv_table t, i;
	struct lg_compare c;
	const struct lg_join_counts *k = &c.counts;

	load(&t, trace_csv);
	load(&i, inband_csv);
	ASSERT_EQ(lg_compare_run(&c, &t, &i, "req_id", pairs, 4, 5), 0, "runs");
	ASSERT_EQ(k->trace_rows, 6, "trace rows");
	ASSERT_EQ(k->inband_rows, 6, "in-band rows");
	ASSERT_EQ(k->both, 4, "a b c d in both");
	ASSERT_EQ(k->only_trace, 0, "none only in trace");
	ASSERT_EQ(k->only_inband, 1, "e only in-band");
	ASSERT_STREQ(k->only_inband_ex[0], "e", "example id");
	ASSERT_EQ(k->dup_trace, 1, "d twice in trace");
	ASSERT_STREQ(k->dup_trace_ex[0], "d", "dup example");
	ASSERT_EQ(k->dup_inband, 1, "e twice in-band");
	ASSERT_EQ(k->empty_trace, 1, "one trace row without id");
	ASSERT_EQ(k->empty_inband, 0, "in-band rows all have ids");
	lg_compare_free(&c);
	ASSERT_EQ(lg_compare_run(&c, &t, &i, "rid", pairs, 4, 5), -ENOENT, "no key column");
	lg_compare_free(&c);
	lg_csv_table_free(&t);
	lg_csv_table_free(&i);
}

static void test_pair_statistics(void)
{
	struct lg_csv_table t, i;
	struct lg_compare c;
	const struct lg_pair_result *p;

	load(&t, trace_csv);
	load(&i, inband_csv);
	lg_compare_run(&c, &t, &i, "req_id", pairs, 4, 2);

	/* errors +0.001 +0.005 +0.010 +1.000 (first d row is used) */
	p = &c.pairs[0];
	ASSERT_EQ(p->n, 4, "arrival n");
	ASSERT_NEAR(p->err.mean, 0.254, 1e-9, "mean");
	ASSERT_NEAR(p->err.p50, 0.0075, 1e-9, "p50 interpolated");
	ASSERT_NEAR(p->err.p95, 0.8515, 1e-9, "p95 interpolated");
	ASSERT_NEAR(p->err.p99, 0.9703, 1e-9, "p99 interpolated");
	ASSERT_NEAR(p->err.max_abs, 1.0, 1e-9, "max |err|");
	ASSERT_EQ(p->nworst, 2, "two outliers kept");
	ASSERT_STREQ(p->worst[0].req_id, "d", "worst first");
	ASSERT_NEAR(p->worst[0].err, 1.0, 1e-9, "its error");
	ASSERT_NEAR(p->worst[0].trace, 400.0, 1e-9, "its servetrace value");
	ASSERT_STREQ(p->worst[1].req_id, "c", "second worst");

	/* +0.002, c has no trace value, 0, -0.001 */
	p = &c.pairs[1];
	ASSERT_EQ(p->n, 3, "finish n");
	ASSERT_EQ(p->inband_only_value, 1, "c: value only in-band");
	ASSERT_NEAR(p->err.min, -0.001, 1e-9, "signed: negative kept");
	ASSERT_NEAR(p->err.max_abs, 0.002, 1e-9, "max |err|");
	ASSERT_STREQ(p->worst[0].req_id, "a", "a is worst");

	p = &c.pairs[2];
	ASSERT_EQ(p->n, 4, "tokens n");
	ASSERT_NEAR(p->err.mean, 0.25, 1e-9, "b off by one token");

	p = &c.pairs[3];
	ASSERT_TRUE(p->missing_trace_col && p->missing_inband_col, "ttft missing");
	ASSERT_EQ(p->n, 0, "no values");
	lg_compare_free(&c);
	lg_csv_table_free(&t);
	lg_csv_table_free(&i);
}

static void test_json_and_table(void)
{
	struct lg_csv_table t, i;
	struct lg_compare c;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	cJSON *j, *p0;

	load(&t, trace_csv);
	load(&i, inband_csv);
	lg_compare_run(&c, &t, &i, "req_id", pairs, 4, 3);
	f = open_memstream(&buf, &len);
	ASSERT_EQ(lg_compare_print_json(f, &c, "t.csv", "i.csv"), 0, "json");
	fclose(f);
	j = cJSON_Parse(buf);
	ASSERT_TRUE(j != NULL, "valid JSON");
	ASSERT_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "requests"), "both")->valueint,
		  4, "json both");
	p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "pairs"), 0);
	ASSERT_NEAR(cJSON_GetObjectItem(p0, "p50")->valuedouble, 0.0075, 1e-9, "json p50 in s");
	ASSERT_STREQ(cJSON_GetObjectItem(p0, "unit")->valuestring, "s", "json unit");
	ASSERT_STREQ(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "pairs"), 3),
					 "missing_column")->valuestring, "servetrace",
		     "json missing column");
	cJSON_Delete(j);
	free(buf);

	buf = NULL;
	f = open_memstream(&buf, &len);
	lg_compare_print_table(f, &c, "t.csv", "i.csv");
	fclose(f);
	ASSERT_TRUE(strstr(buf, "requests in both: 4") != NULL, "table counts");
	ASSERT_TRUE(strstr(buf, "+7.500") != NULL, "table p50 in ms");
	ASSERT_TRUE(strstr(buf, "no such column") != NULL, "table says missing");
	free(buf);
	lg_compare_free(&c);
	lg_csv_table_free(&t);
	lg_csv_table_free(&i);
}

static void test_pair_spec(void)
{
	char a[] = "queue_time_end=forward_entry_time", b[] = "ttft";
	char bad1[] = "=x", bad2[] = "x=", d[] = "actual_output_tokens";
	struct lg_pair p;

	ASSERT_EQ(lg_pair_parse(a, &p), 0, "A=B");
	ASSERT_STREQ(p.trace_col, "queue_time_end", "trace side");
	ASSERT_STREQ(p.inband_col, "forward_entry_time", "in-band side");
	ASSERT_EQ(p.unit, LG_UNIT_SECONDS, "a time");
	ASSERT_EQ(lg_pair_parse(b, &p), 0, "same name");
	ASSERT_STREQ(p.inband_col, "ttft", "same on both sides");
	ASSERT_EQ(lg_pair_parse(d, &p), 0, "tokens");
	ASSERT_EQ(p.unit, LG_UNIT_COUNT, "tokens are counts");
	ASSERT_TRUE(lg_pair_parse(bad1, &p) < 0, "empty trace side");
	ASSERT_TRUE(lg_pair_parse(bad2, &p) < 0, "empty in-band side");
	ASSERT_TRUE(lg_default_npairs >= 10, "default pairs exist");
}

void test_area_loadgen_compare(void)
{
	RUN_SUBTEST(test_csv_reader);
	RUN_SUBTEST(test_join_counts);
	RUN_SUBTEST(test_pair_statistics);
	RUN_SUBTEST(test_json_and_table);
	RUN_SUBTEST(test_pair_spec);
}

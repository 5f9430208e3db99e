// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* compare: servetrace's CSV against loadgen's in-band CSV, by req_id. */
#include <argp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lg_compare.h"
#include "lg_csv.h"
#include "lg_dataset.h"

#define MAX_PAIRS 64

static struct env {
	const char *trace_path, *inband_path;
	const char *key;
	bool json;
	size_t outliers;
	struct lg_pair pairs[MAX_PAIRS];
	size_t npairs;
} env = {
	.key = "req_id",
	.outliers = 5,
};

const char *argp_program_version = "compare (servetrace) 0.1";

static const char doc_head[] =
"Join servetrace's CSV with the in-band CSV that loadgen wrote (--output-csv)\n"
"by req_id, and report for each column pair the signed error\n"
"(servetrace - in-band): n, mean, p50, p95, p99, max |error|, the worst\n"
"requests, and how many requests are in both files, in one only, or\n"
"duplicated. Times are shown in ms; JSON (--json) keeps seconds. A positive\n"
"error means servetrace's timestamp is the later one.\n"
"\n"
"USAGE: compare [-j] [-p TRACE_COL=INBAND_COL]... SERVETRACE_CSV INBAND_CSV\n"
"\n"
"EXAMPLES:\n"
"    compare trace.csv inband.csv           # table with the default pairs\n"
"    compare --json trace.csv inband.csv    # the same as JSON\n"
"    compare -p arrival_time=client_send_time -p ttft trace.csv inband.csv\n"
"                                           # only these pairs ('ttft' = same\n"
"                                           # column name on both sides)\n"
"\n"
"In-band columns: client_* are loadgen's own clock (send, first byte,\n"
"first streamed token, last byte); request_received_ts, forward_entry_time,\n"
"queue_time, prefill_finished_time, response_sent_to_client_ts, e2e_latency\n"
"are SGLang's meta_info (server started with --enable-metrics); the contract\n"
"columns are loadgen's mapping of both (see loadgen --help). SGLang stamps\n"
"response_sent_to_client_ts at its first write: the whole answer without\n"
"--stream (then add -p finish_time=response_sent_to_client_ts), the first\n"
"chunk with it.\n"
"\n"
"Default pairs (servetrace = in-band); a pair whose column is missing in\n"
"a file is listed as such, not an error:\n";

static const struct argp_option opts[] = {
	{ "json", 'j', NULL, 0, "Print JSON instead of a table", 0 },
	{ "pair", 'p', "TRACE_COL[=INBAND_COL]", 0,
	  "Compare these columns (repeatable; replaces the default pairs)", 0 },
	{ "key", 'k', "COL", 0, "Join column (default req_id)", 0 },
	{ "outliers", 'n', "N", 0, "Worst requests shown per pair (default 5, max 16)", 0 },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	char *end;

	switch (key) {
	case 'j':
		env.json = true;
		break;
	case 'p':
		if (env.npairs == MAX_PAIRS)
			argp_error(state, "at most %d pairs", MAX_PAIRS);
		if (lg_pair_parse(arg, &env.pairs[env.npairs]))
			argp_error(state, "bad pair '%s': want TRACE_COL=INBAND_COL", arg);
		env.npairs++;
		break;
	case 'k':
		env.key = arg;
		break;
	case 'n':
		errno = 0;
		env.outliers = strtoul(arg, &end, 10);
		if (errno || *end || env.outliers > 16)
			argp_error(state, "bad --outliers '%s' (0..16)", arg);
		break;
	case ARGP_KEY_ARG:
		if (state->arg_num == 0)
			env.trace_path = arg;
		else if (state->arg_num == 1)
			env.inband_path = arg;
		else
			argp_usage(state);
		break;
	case ARGP_KEY_END:
		if (state->arg_num < 2)
			argp_usage(state);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static char *build_doc(void)
{
	size_t cap = sizeof(doc_head) + lg_default_npairs * 80, len;
	char *d = malloc(cap);

	if (!d)
		return NULL;
	len = snprintf(d, cap, "%s", doc_head);
	for (size_t i = 0; i < lg_default_npairs && len < cap; i++)
		len += snprintf(d + len, cap - len, "    %-26s = %s\n",
				lg_default_pairs[i].trace_col,
				lg_default_pairs[i].inband_col);
	if (len < cap)
		snprintf(d + len, cap - len, "\vExit status: 0 on success, 1 on bad usage or a bad or unreadable file.");
	return d;
}

static int load(const char *path, struct lg_csv_table *t)
{
	char *buf = lg_read_file(path, NULL);
	int err;

	if (!buf) {
		fprintf(stderr, "compare: cannot read %s: %s\n", path, strerror(errno));
		return -1;
	}
	err = lg_csv_parse(t, buf);
	if (err) {
		fprintf(stderr, "compare: %s: %s\n", path,
			err == -ENODATA ? "empty file, no header" : strerror(-err));
		lg_csv_table_free(t);
		return -1;
	}
	if (lg_csv_col(t, env.key) < 0) {
		fprintf(stderr, "compare: %s has no '%s' column (header starts with '%s')\n",
			path, env.key, t->ncols ? t->header[0] : "");
		lg_csv_table_free(t);
		return -1;
	}
	if (t->ragged)
		fprintf(stderr, "compare: warning: %s: %zu rows have a different number of fields than the header\n",
			path, t->ragged);
	return 0;
}

int main(int argc, char **argv)
{
	struct lg_csv_table trace, inband;
	struct lg_compare cmp;
	char *doc = build_doc();
	struct argp argp = {
		.options = opts, .parser = parse_arg,
		.args_doc = "SERVETRACE_CSV INBAND_CSV", .doc = doc,
	};
	int err, ret = 1;

	argp_err_exit_status = 1;
	err = argp_parse(&argp, argc, argv, 0, NULL, NULL);
	if (err)
		goto out_doc;
	if (!env.npairs) {
		memcpy(env.pairs, lg_default_pairs,
		       lg_default_npairs * sizeof(lg_default_pairs[0]));
		env.npairs = lg_default_npairs;
	}
	if (load(env.trace_path, &trace))
		goto out_doc;
	if (load(env.inband_path, &inband))
		goto out_trace;
	err = lg_compare_run(&cmp, &trace, &inband, env.key, env.pairs,
			     env.npairs, env.outliers);
	if (err) {
		fprintf(stderr, "compare: %s\n", strerror(-err));
		goto cleanup;
	}
	if (env.json)
		err = lg_compare_print_json(stdout, &cmp, env.trace_path, env.inband_path);
	else
		lg_compare_print_table(stdout, &cmp, env.trace_path, env.inband_path);
	ret = err ? 1 : 0;
cleanup:
	lg_compare_free(&cmp);
	lg_csv_table_free(&inband);
out_trace:
	lg_csv_table_free(&trace);
out_doc:
	free(doc);
	return ret;
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The comparison as a table for people and as JSON for scripts. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <cjson/cJSON.h>
#include "lg_compare.h"

static double scale(enum lg_unit u)
{
	return u == LG_UNIT_SECONDS ? 1e3 : 1;
}

static const char *unit_name(enum lg_unit u)
{
	return u == LG_UNIT_SECONDS ? "ms" : "tokens";
}

static void examples(FILE *f, const char *what, const char *const *ex,
		     size_t count)
{
	if (!count)
		return;
	fprintf(f, "  %s:", what);
	for (size_t i = 0; i < count && i < LG_EXAMPLES; i++)
		fprintf(f, " %s", ex[i]);
	fprintf(f, "%s\n", count > LG_EXAMPLES ? " ..." : "");
}

static void cell(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, " %+10.3f", v);
	else
		fprintf(f, " %10s", "-");
}

void lg_compare_print_table(FILE *f, const struct lg_compare *c,
			    const char *trace_name, const char *inband_name)
{
	const struct lg_join_counts *k = &c->counts;

	fprintf(f, "servetrace: %s (%zu rows)\nin-band:    %s (%zu rows)\n\n",
		trace_name, k->trace_rows, inband_name, k->inband_rows);
	fprintf(f, "requests in both: %zu   only in servetrace: %zu   only in in-band: %zu\n",
		k->both, k->only_trace, k->only_inband);
	fprintf(f, "duplicated req_id: servetrace %zu, in-band %zu   without req_id: servetrace %zu, in-band %zu\n",
		k->dup_trace, k->dup_inband, k->empty_trace, k->empty_inband);
	examples(f, "only in servetrace", k->only_trace_ex, k->only_trace);
	examples(f, "only in in-band", k->only_inband_ex, k->only_inband);
	examples(f, "duplicated in servetrace", k->dup_trace_ex, k->dup_trace);
	examples(f, "duplicated in in-band", k->dup_inband_ex, k->dup_inband);

	fprintf(f, "\nsigned error = servetrace - in-band, over requests in both with both values\n");
	fprintf(f, "%-26s %-28s %6s %10s %10s %10s %10s %10s  %s\n",
		"servetrace", "in-band", "n", "mean", "p50", "p95", "p99",
		"max|err|", "unit");
	for (size_t p = 0; p < c->npairs; p++) {
		const struct lg_pair_result *r = &c->pairs[p];
		double s = scale(r->pair.unit);

		fprintf(f, "%-26s %-28s", r->pair.trace_col, r->pair.inband_col);
		if (r->missing_trace_col || r->missing_inband_col) {
			fprintf(f, " %6s  (no such column in %s)\n", "-",
				r->missing_trace_col ? "servetrace's CSV" : "the in-band CSV");
			continue;
		}
		fprintf(f, " %6zu", r->n);
		cell(f, r->err.mean * s);
		cell(f, r->err.p50 * s);
		cell(f, r->err.p95 * s);
		cell(f, r->err.p99 * s);
		if (isfinite(r->err.max_abs))
			fprintf(f, " %10.3f", r->err.max_abs * s);
		else
			fprintf(f, " %10s", "-");
		fprintf(f, "  %s", unit_name(r->pair.unit));
		if (r->trace_only_value || r->inband_only_value)
			fprintf(f, "  (value only in servetrace %zu, only in-band %zu)",
				r->trace_only_value, r->inband_only_value);
		fprintf(f, "\n");
	}

	fprintf(f, "\nworst outliers by |error| (exact matches left out)\n");
	for (size_t p = 0; p < c->npairs; p++) {
		const struct lg_pair_result *r = &c->pairs[p];
		double s = scale(r->pair.unit);
		int dec = r->pair.unit == LG_UNIT_SECONDS ? 6 : 0;

		if (!r->nworst)
			continue;
		fprintf(f, "  %s - %s\n", r->pair.trace_col, r->pair.inband_col);
		/* timestamps need their microseconds, counts none */
		for (size_t i = 0; i < r->nworst; i++)
			fprintf(f, "    %-32s %+12.3f %-6s servetrace %.*f  in-band %.*f\n",
				r->worst[i].req_id, r->worst[i].err * s,
				unit_name(r->pair.unit), dec, r->worst[i].trace,
				dec, r->worst[i].inband);
	}
}

static cJSON *id_list(const char *const *ex, size_t count)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < count && i < LG_EXAMPLES; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(ex[i]));
	return a;
}

/* JSON has no NaN: unknown values are null. */
static void add_num(cJSON *o, const char *name, double v)
{
	if (isfinite(v))
		cJSON_AddNumberToObject(o, name, v);
	else
		cJSON_AddNullToObject(o, name);
}

static cJSON *pair_json(const struct lg_pair_result *r)
{
	cJSON *o = cJSON_CreateObject(), *w;

	cJSON_AddStringToObject(o, "servetrace", r->pair.trace_col);
	cJSON_AddStringToObject(o, "inband", r->pair.inband_col);
	cJSON_AddStringToObject(o, "unit",
				r->pair.unit == LG_UNIT_SECONDS ? "s" : "tokens");
	if (r->missing_trace_col || r->missing_inband_col) {
		cJSON_AddStringToObject(o, "missing_column",
					r->missing_trace_col ? "servetrace" : "inband");
		return o;
	}
	cJSON_AddNumberToObject(o, "n", r->n);
	cJSON_AddNumberToObject(o, "value_only_in_servetrace", r->trace_only_value);
	cJSON_AddNumberToObject(o, "value_only_in_inband", r->inband_only_value);
	add_num(o, "mean", r->err.mean);
	add_num(o, "p50", r->err.p50);
	add_num(o, "p95", r->err.p95);
	add_num(o, "p99", r->err.p99);
	add_num(o, "min", r->err.min);
	add_num(o, "max", r->err.max);
	add_num(o, "max_abs", r->err.max_abs);
	w = cJSON_AddArrayToObject(o, "worst");
	for (size_t i = 0; i < r->nworst; i++) {
		cJSON *x = cJSON_CreateObject();

		cJSON_AddStringToObject(x, "req_id", r->worst[i].req_id);
		add_num(x, "error", r->worst[i].err);
		add_num(x, "servetrace", r->worst[i].trace);
		add_num(x, "inband", r->worst[i].inband);
		cJSON_AddItemToArray(w, x);
	}
	return o;
}

int lg_compare_print_json(FILE *f, const struct lg_compare *c,
			  const char *trace_name, const char *inband_name)
{
	const struct lg_join_counts *k = &c->counts;
	cJSON *root = cJSON_CreateObject(), *r, *pairs;
	char *s;

	if (!root)
		return -ENOMEM;
	cJSON_AddStringToObject(root, "servetrace_csv", trace_name);
	cJSON_AddStringToObject(root, "inband_csv", inband_name);
	cJSON_AddStringToObject(root, "error_sign", "servetrace - inband");
	r = cJSON_AddObjectToObject(root, "requests");
	cJSON_AddNumberToObject(r, "servetrace_rows", k->trace_rows);
	cJSON_AddNumberToObject(r, "inband_rows", k->inband_rows);
	cJSON_AddNumberToObject(r, "both", k->both);
	cJSON_AddNumberToObject(r, "only_servetrace", k->only_trace);
	cJSON_AddNumberToObject(r, "only_inband", k->only_inband);
	cJSON_AddNumberToObject(r, "duplicated_servetrace", k->dup_trace);
	cJSON_AddNumberToObject(r, "duplicated_inband", k->dup_inband);
	cJSON_AddNumberToObject(r, "no_id_servetrace", k->empty_trace);
	cJSON_AddNumberToObject(r, "no_id_inband", k->empty_inband);
	cJSON_AddItemToObject(r, "only_servetrace_examples",
			      id_list(k->only_trace_ex, k->only_trace));
	cJSON_AddItemToObject(r, "only_inband_examples",
			      id_list(k->only_inband_ex, k->only_inband));
	cJSON_AddItemToObject(r, "duplicated_servetrace_examples",
			      id_list(k->dup_trace_ex, k->dup_trace));
	cJSON_AddItemToObject(r, "duplicated_inband_examples",
			      id_list(k->dup_inband_ex, k->dup_inband));
	pairs = cJSON_AddArrayToObject(root, "pairs");
	for (size_t p = 0; p < c->npairs; p++)
		cJSON_AddItemToArray(pairs, pair_json(&c->pairs[p]));
	s = cJSON_Print(root);
	cJSON_Delete(root);
	if (!s)
		return -ENOMEM;
	fprintf(f, "%s\n", s);
	free(s);
	return 0;
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "lg_compare.h"

/* Which in-band value each servetrace column is closest to in meaning.
 * Not finish_time = response_sent_to_client_ts: SGLang stamps that at its
 * first write, which is the first chunk when streaming. */
const struct lg_pair lg_default_pairs[] = {
	{ "arrival_time", "client_send_time", LG_UNIT_SECONDS },
	{ "server_created_time", "request_received_ts", LG_UNIT_SECONDS },
	{ "queue_time_start", "queue_time_start", LG_UNIT_SECONDS },
	{ "queue_time_end", "forward_entry_time", LG_UNIT_SECONDS },
	{ "server_first_token_time", "prefill_finished_time", LG_UNIT_SECONDS },
	{ "finish_time", "client_finish_time", LG_UNIT_SECONDS },
	{ "total_latency", "total_latency", LG_UNIT_SECONDS },
	{ "ttft", "ttft", LG_UNIT_SECONDS },
	{ "tokenize_time", "tokenize_time", LG_UNIT_SECONDS },
	{ "pure_queue_time", "queue_time", LG_UNIT_SECONDS },
	{ "actual_prompt_tokens", "actual_prompt_tokens", LG_UNIT_COUNT },
	{ "actual_output_tokens", "actual_output_tokens", LG_UNIT_COUNT },
	{ "output_tokens_from_trace", "actual_output_tokens", LG_UNIT_COUNT },
};
const size_t lg_default_npairs = sizeof(lg_default_pairs) / sizeof(lg_default_pairs[0]);

static enum lg_unit guess_unit(const char *name)
{
	static const char *const counts[] = { "tokens", "length", "count",
					      "chunks", "status" };

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		if (strstr(name, counts[i]))
			return LG_UNIT_COUNT;
	return LG_UNIT_SECONDS;
}

int lg_pair_parse(char *spec, struct lg_pair *p)
{
	char *eq = strchr(spec, '=');

	if (!*spec || eq == spec || (eq && !eq[1]))
		return -EINVAL;
	p->trace_col = spec;
	p->inband_col = spec;
	if (eq) {
		*eq = '\0';
		p->inband_col = eq + 1;
	}
	p->unit = guess_unit(p->trace_col);
	return 0;
}

struct keyed {
	const char *id;
	size_t row;
};

static int cmp_keyed(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	if (c)
		return c;
	return (x->row > y->row) - (x->row < y->row);
}

/* Rows with an id, sorted by id then row: the first of a run of equal ids
 * is the earliest row, the one the join uses. */
static struct keyed *sorted_ids(const struct lg_csv_table *t, int col,
				size_t *n, size_t *empty)
{
	struct keyed *k = calloc(t->nrows + 1, sizeof(*k));

	*n = *empty = 0;
	if (!k)
		return NULL;
	for (size_t r = 0; r < t->nrows; r++) {
		const char *id = lg_csv_cell(t, r, col);

		if (!*id) {
			(*empty)++;
			continue;
		}
		k[*n].id = id;
		k[*n].row = r;
		(*n)++;
	}
	qsort(k, *n, sizeof(*k), cmp_keyed);
	return k;
}

static void example(const char **ex, size_t count, const char *id)
{
	if (count <= LG_EXAMPLES)
		ex[count - 1] = id;
}

/* Step over a run of equal ids from i; counts the run as a duplicate. */
static size_t skip_run(const struct keyed *k, size_t n, size_t i,
		       size_t *dups, const char **ex)
{
	size_t j = i + 1;

	while (j < n && !strcmp(k[j].id, k[i].id))
		j++;
	if (j - i > 1) {
		(*dups)++;
		example(ex, *dups, k[i].id);
	}
	return j;
}

static int join(struct lg_compare *c, const struct lg_csv_table *tt,
		int tcol, const struct lg_csv_table *it, int icol)
{
	struct lg_join_counts *cnt = &c->counts;
	size_t nt, ni, i = 0, j = 0;
	struct keyed *kt = sorted_ids(tt, tcol, &nt, &cnt->empty_trace);
	struct keyed *ki = sorted_ids(it, icol, &ni, &cnt->empty_inband);
	size_t cap = (nt < ni ? nt : ni) + 1;
	int ret = -ENOMEM;

	c->match_trace = calloc(cap, sizeof(size_t));
	c->match_inband = calloc(cap, sizeof(size_t));
	if (!kt || !ki || !c->match_trace || !c->match_inband)
		goto out;
	while (i < nt || j < ni) {
		int d = i >= nt ? 1 : j >= ni ? -1 : strcmp(kt[i].id, ki[j].id);

		if (d < 0) {
			cnt->only_trace++;
			example(cnt->only_trace_ex, cnt->only_trace, kt[i].id);
			i = skip_run(kt, nt, i, &cnt->dup_trace, cnt->dup_trace_ex);
		} else if (d > 0) {
			cnt->only_inband++;
			example(cnt->only_inband_ex, cnt->only_inband, ki[j].id);
			j = skip_run(ki, ni, j, &cnt->dup_inband, cnt->dup_inband_ex);
		} else {
			c->match_trace[c->nmatch] = kt[i].row;
			c->match_inband[c->nmatch] = ki[j].row;
			c->nmatch++;
			cnt->both++;
			i = skip_run(kt, nt, i, &cnt->dup_trace, cnt->dup_trace_ex);
			j = skip_run(ki, ni, j, &cnt->dup_inband, cnt->dup_inband_ex);
		}
	}
	ret = 0;
out:
	free(kt);
	free(ki);
	return ret;
}

static void keep_worst(struct lg_pair_result *pr, size_t max,
		       const struct lg_outlier *o)
{
	size_t pos;

	/* an exact match is no outlier */
	if (!max || o->err == 0)
		return;
	if (pr->nworst == max && fabs(o->err) <= fabs(pr->worst[max - 1].err))
		return;
	pos = pr->nworst < max ? pr->nworst++ : max - 1;
	/* insertion into a short list sorted by |err| descending */
	while (pos > 0 && fabs(pr->worst[pos - 1].err) < fabs(o->err)) {
		pr->worst[pos] = pr->worst[pos - 1];
		pos--;
	}
	pr->worst[pos] = *o;
}

static int pair_stats(struct lg_compare *c, struct lg_pair_result *pr,
		      const struct lg_csv_table *tt, int tkey,
		      const struct lg_csv_table *it, size_t max_outliers)
{
	int tc = lg_csv_col(tt, pr->pair.trace_col);
	int ic = lg_csv_col(it, pr->pair.inband_col);
	double *errs;

	pr->missing_trace_col = tc < 0;
	pr->missing_inband_col = ic < 0;
	errs = calloc(c->nmatch + 1, sizeof(double));
	if (!errs)
		return -ENOMEM;
	for (size_t m = 0; m < c->nmatch && tc >= 0 && ic >= 0; m++) {
		size_t tr = c->match_trace[m], ir = c->match_inband[m];
		double tv, iv;
		bool ht = lg_csv_double(lg_csv_cell(tt, tr, tc), &tv);
		bool hi = lg_csv_double(lg_csv_cell(it, ir, ic), &iv);
		struct lg_outlier o;

		if (ht && !hi)
			pr->trace_only_value++;
		if (hi && !ht)
			pr->inband_only_value++;
		if (!ht || !hi)
			continue;
		o.req_id = lg_csv_cell(tt, tr, tkey);
		o.trace = tv;
		o.inband = iv;
		o.err = tv - iv;
		errs[pr->n++] = o.err;
		keep_worst(pr, max_outliers, &o);
	}
	lg_dist_compute(&pr->err, errs, pr->n);
	free(errs);
	return 0;
}

int lg_compare_run(struct lg_compare *c, const struct lg_csv_table *trace,
		   const struct lg_csv_table *inband, const char *key,
		   const struct lg_pair *pairs, size_t npairs,
		   size_t max_outliers)
{
	int tkey = lg_csv_col(trace, key), ikey = lg_csv_col(inband, key);
	int ret;

	memset(c, 0, sizeof(*c));
	if (tkey < 0 || ikey < 0)
		return -ENOENT;
	if (max_outliers > 16)
		max_outliers = 16;
	c->counts.trace_rows = trace->nrows;
	c->counts.inband_rows = inband->nrows;
	ret = join(c, trace, tkey, inband, ikey);
	if (ret)
		return ret;
	c->pairs = calloc(npairs + 1, sizeof(*c->pairs));
	if (!c->pairs)
		return -ENOMEM;
	c->npairs = npairs;
	for (size_t p = 0; p < npairs; p++) {
		c->pairs[p].pair = pairs[p];
		ret = pair_stats(c, &c->pairs[p], trace, tkey, inband,
				 max_outliers);
		if (ret)
			return ret;
	}
	return 0;
}

void lg_compare_free(struct lg_compare *c)
{
	free(c->pairs);
	free(c->match_trace);
	free(c->match_inband);
	memset(c, 0, sizeof(*c));
}

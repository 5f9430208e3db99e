/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* servetrace's CSV against the in-band CSV: join by req_id, then the signed
 * error (servetrace - in-band) of each column pair. */
#ifndef LG_COMPARE_H
#define LG_COMPARE_H

#include <stdbool.h>
#include <stdio.h>
#include "lg_csv.h"
#include "lg_stats.h"

enum lg_unit {
	LG_UNIT_SECONDS,	/* shown in ms */
	LG_UNIT_COUNT,		/* tokens */
};

struct lg_pair {
	const char *trace_col;
	const char *inband_col;
	enum lg_unit unit;
};

extern const struct lg_pair lg_default_pairs[];
extern const size_t lg_default_npairs;

/* "TRACE_COL=INBAND_COL" or "COL" (same name on both sides). The unit is
 * guessed from the name: *tokens*, *length*, *count*, *chunks* are counts. */
int lg_pair_parse(char *spec, struct lg_pair *p);

#define LG_EXAMPLES 5

struct lg_outlier {
	const char *req_id;
	double trace, inband, err;
};

struct lg_pair_result {
	struct lg_pair pair;
	bool missing_trace_col, missing_inband_col;
	size_t n;		/* joined requests with both values */
	size_t trace_only_value, inband_only_value;
	struct lg_dist err;
	struct lg_outlier worst[16];
	size_t nworst;
};

struct lg_join_counts {
	size_t trace_rows, inband_rows;
	size_t both, only_trace, only_inband;
	size_t dup_trace, dup_inband;	/* ids seen more than once */
	size_t empty_trace, empty_inband; /* rows without an id */
	const char *only_trace_ex[LG_EXAMPLES], *only_inband_ex[LG_EXAMPLES];
	const char *dup_trace_ex[LG_EXAMPLES], *dup_inband_ex[LG_EXAMPLES];
};

struct lg_compare {
	struct lg_join_counts counts;
	struct lg_pair_result *pairs;
	size_t npairs;
	size_t *match_trace, *match_inband;	/* row indexes, nmatch */
	size_t nmatch;
};

/* key: join column (req_id). max_outliers <= 16. Fails with -ENOENT when
 * a table lacks the key column. */
int lg_compare_run(struct lg_compare *c, const struct lg_csv_table *trace,
		   const struct lg_csv_table *inband, const char *key,
		   const struct lg_pair *pairs, size_t npairs,
		   size_t max_outliers);
void lg_compare_print_table(FILE *f, const struct lg_compare *c,
			    const char *trace_name, const char *inband_name);
int lg_compare_print_json(FILE *f, const struct lg_compare *c,
			  const char *trace_name, const char *inband_name);
void lg_compare_free(struct lg_compare *c);

#endif

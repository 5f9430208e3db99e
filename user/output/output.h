/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Rows to CSV (timeline.md column order first) or JSON lines. */
#ifndef SERVETRACE_OUTPUT_H
#define SERVETRACE_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>
#include "output/timeline_row.h"

enum output_format { OUT_CSV, OUT_JSON };

struct output {
	FILE *f;
	enum output_format format;
	bool header_done;
	bool keep_text;		/* adds the prompt column */
	unsigned long long rows;
};

void output_init(struct output *o, FILE *f, enum output_format format);
void output_row(struct output *o, const struct timeline_row *r);
/* The CSV header line, without newline (tests check the contract). */
const char *output_csv_header(void);
/* End of output: a CSV with no rows still gets its header line. */
void output_finish(struct output *o);
/* Keeps a run of writes on one header when --keep-text adds "prompt". */
void output_keep_text(struct output *o, bool on);

#endif

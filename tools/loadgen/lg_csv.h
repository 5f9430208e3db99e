/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* CSV in the dialect Python's csv module writes and reads: fields with a
 * comma, quote or newline are quoted, quotes doubled. */
#ifndef LG_CSV_H
#define LG_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Writing: one row at a time. */
struct lg_csv_writer {
	FILE *f;
	int col;
};

void lg_csv_start(struct lg_csv_writer *w, FILE *f);
void lg_csv_str(struct lg_csv_writer *w, const char *s); /* NULL: empty */
/* Fixed decimals; NAN or infinite: empty. */
void lg_csv_num(struct lg_csv_writer *w, double v, int decimals);
void lg_csv_int(struct lg_csv_writer *w, long v, bool known);
void lg_csv_bool(struct lg_csv_writer *w, bool v);	/* True / False */
void lg_csv_end_row(struct lg_csv_writer *w);

/* Reading: the whole file, parsed in place. */
struct lg_csv_table {
	char *buf;		/* owns the text */
	char **cells;		/* nrows * ncols, row-major, never NULL */
	char **header;		/* ncols names */
	size_t nrows, ncols;
	size_t ragged;		/* rows with a different number of fields */
};

/* Takes ownership of buf (NUL-terminated, malloc'ed). */
int lg_csv_parse(struct lg_csv_table *t, char *buf);
int lg_csv_col(const struct lg_csv_table *t, const char *name);
static inline const char *lg_csv_cell(const struct lg_csv_table *t,
				      size_t row, int col)
{
	return col < 0 ? "" : t->cells[row * t->ncols + col];
}
void lg_csv_table_free(struct lg_csv_table *t);
/* Number in a cell; false for empty or non-numeric. */
bool lg_csv_double(const char *cell, double *v);

#endif

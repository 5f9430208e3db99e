// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "lg_csv.h"

void lg_csv_start(struct lg_csv_writer *w, FILE *f)
{
	w->f = f;
	w->col = 0;
}

static void sep(struct lg_csv_writer *w)
{
	if (w->col++)
		fputc(',', w->f);
}

void lg_csv_str(struct lg_csv_writer *w, const char *s)
{
	sep(w);
	if (!s)
		return;
	if (!s[strcspn(s, ",\"\r\n")]) {
		fputs(s, w->f);
		return;
	}
	fputc('"', w->f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', w->f);
		fputc(*s, w->f);
	}
	fputc('"', w->f);
}

void lg_csv_num(struct lg_csv_writer *w, double v, int decimals)
{
	sep(w);
	if (isfinite(v))
		fprintf(w->f, "%.*f", decimals, v);
}

void lg_csv_int(struct lg_csv_writer *w, long v, bool known)
{
	sep(w);
	if (known)
		fprintf(w->f, "%ld", v);
}

void lg_csv_bool(struct lg_csv_writer *w, bool v)
{
	lg_csv_str(w, v ? "True" : "False");
}

void lg_csv_end_row(struct lg_csv_writer *w)
{
	fputc('\n', w->f);
	w->col = 0;
}

/* Parse one field at *p in place; returns its start, sets *end_row. */
static char *field(char **p, bool *end_row, bool *end_file)
{
	char *s = *p, *out, *start;

	*end_row = *end_file = false;
	if (*s == '"') {
		start = out = ++s;
		for (;;) {
			if (!*s)
				break;
			if (*s == '"') {
				if (s[1] == '"') {
					*out++ = '"';
					s += 2;
					continue;
				}
				s++;
				break;
			}
			*out++ = *s++;
		}
		/* anything between the closing quote and the separator is
		 * kept out, as Python's reader would keep it: rare, ignore */
		while (*s && *s != ',' && *s != '\n' && *s != '\r')
			s++;
	} else {
		start = s;
		while (*s && *s != ',' && *s != '\n' && *s != '\r')
			s++;
		out = s;
	}
	if (*s == ',') {
		s++;
	} else {
		*end_row = true;
		if (*s == '\r')
			s++;
		if (*s == '\n')
			s++;
		if (!*s)
			*end_file = true;
	}
	*out = '\0';
	*p = s;
	return start;
}

int lg_csv_parse(struct lg_csv_table *t, char *buf)
{
	char *p = buf, **row = NULL;
	size_t rcap = 0, rn, cap = 0;
	bool end_row, end_file = !*buf;

	memset(t, 0, sizeof(*t));
	t->buf = buf;
	while (!end_file) {
		rn = 0;
		/* a blank line is no row */
		if (*p == '\n' || *p == '\r') {
			p += (*p == '\r' && p[1] == '\n') ? 2 : 1;
			end_file = !*p;
			continue;
		}
		do {
			char *f = field(&p, &end_row, &end_file);

			if (rn == rcap) {
				char **nr = realloc(row, (rcap = rcap ? rcap * 2 : 64) * sizeof(*row));

				if (!nr)
					goto nomem;
				row = nr;
			}
			row[rn++] = f;
		} while (!end_row);
		if (!t->header) {
			t->ncols = rn;
			t->header = malloc(rn * sizeof(*t->header));
			if (!t->header)
				goto nomem;
			memcpy(t->header, row, rn * sizeof(*row));
			continue;
		}
		if (rn != t->ncols)
			t->ragged++;
		if ((t->nrows + 1) * t->ncols > cap) {
			size_t nc = cap ? cap * 2 : t->ncols * 256;
			char **ncells = realloc(t->cells, nc * sizeof(*ncells));

			if (!ncells)
				goto nomem;
			t->cells = ncells;
			cap = nc;
		}
		for (size_t i = 0; i < t->ncols; i++)
			t->cells[t->nrows * t->ncols + i] = i < rn ? row[i] : "";
		t->nrows++;
	}
	free(row);
	if (!t->header)
		return -ENODATA;
	return 0;
nomem:
	free(row);
	return -ENOMEM;
}

int lg_csv_col(const struct lg_csv_table *t, const char *name)
{
	for (size_t i = 0; i < t->ncols; i++)
		if (!strcmp(t->header[i], name))
			return (int)i;
	return -1;
}

void lg_csv_table_free(struct lg_csv_table *t)
{
	free(t->buf);
	free(t->cells);
	free(t->header);
	memset(t, 0, sizeof(*t));
}

bool lg_csv_double(const char *cell, double *v)
{
	char *end;

	if (!cell || !*cell)
		return false;
	*v = strtod(cell, &end);
	while (*end == ' ')
		end++;
	return !*end && isfinite(*v);
}

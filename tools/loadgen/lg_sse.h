/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Incremental Server-Sent Events parser: bytes arrive in arbitrary pieces,
 * events come out whole (the data lines of one event joined by '\n'). */
#ifndef LG_SSE_H
#define LG_SSE_H

#include <stdbool.h>
#include <stddef.h>

/* data is NUL-terminated; return non-zero to stop parsing. */
typedef int (*lg_sse_cb)(void *ctx, const char *data, size_t len);

struct lg_sse {
	char *line;
	size_t line_len, line_cap;
	char *data;
	size_t data_len, data_cap;
	bool has_data;
	bool after_cr;		/* swallow the '\n' of a "\r\n" */
	size_t events;
	size_t lines;		/* non-empty lines seen: tells SSE from garbage */
	size_t data_lines;
};

void lg_sse_init(struct lg_sse *p);
/* Returns 0, the callback's non-zero value, or -ENOMEM. */
int lg_sse_feed(struct lg_sse *p, const char *buf, size_t len,
		lg_sse_cb cb, void *ctx);
/* End of stream: an event missing its final blank line still counts. */
int lg_sse_finish(struct lg_sse *p, lg_sse_cb cb, void *ctx);
void lg_sse_free(struct lg_sse *p);

#endif

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A message body kept up to a limit, for its JSON fields. */
#ifndef SERVETRACE_BODY_BUF_H
#define SERVETRACE_BODY_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct body_buf {
	char *data;
	uint32_t len;
	uint32_t cap;		/* allocation, at most the limit */
	bool truncated;		/* limit reached or bytes not captured */
};

/* Appends what fits under limit; the rest only sets truncated. */
void body_buf_append(struct body_buf *b, const char *p, size_t n, uint32_t limit);
void body_buf_release(struct body_buf *b);

#endif

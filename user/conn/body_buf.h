/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A message body kept up to a limit, for its JSON fields. */
#ifndef SERVETRACE_BODY_BUF_H
#define SERVETRACE_BODY_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct body_rid_scan;

struct body_buf {
	char *data;
	uint32_t len;
	uint32_t cap;		/* allocation, at most the limit */
	bool truncated;		/* limit reached or bytes not captured */
	struct body_rid_scan *scan;	/* started when truncated (request bodies) */
};

/* Appends what fits under limit; the rest only sets truncated. */
void body_buf_append(struct body_buf *b, const char *p, size_t n, uint32_t limit);
/* As body_buf_append for a body no one reads: len and truncated as it
 * would set them (the summary counts truncated bodies), no bytes kept. */
void body_buf_count(struct body_buf *b, size_t n, uint32_t limit);
/* The same for a request body: once it is truncated (over the limit, or
 * bytes not captured) its top-level "rid" is looked for by a streaming
 * scan, started over the kept bytes, that keeps no more of the body. */
void body_buf_append_req(struct body_buf *b, const char *p, size_t n, uint32_t limit);
/* n bytes of the body were not captured. */
void body_buf_gap(struct body_buf *b, bool scan);
/* The scan's rid, NULL if none was found; *lost: bytes not captured may
 * have held it. */
const char *body_buf_rid(const struct body_buf *b, bool *lost);
void body_buf_release(struct body_buf *b);

#endif

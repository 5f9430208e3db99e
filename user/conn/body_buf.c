// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Grows by doubling from 1 KiB, never past the limit. */
#include <stdlib.h>
#include <string.h>
#include "conn/body_buf.h"
#include "proto/body_fields.h"

void body_buf_append(struct body_buf *b, const char *p, size_t n, uint32_t limit)
{
	size_t room;

	if (b->len >= limit) {
		b->truncated = true;
		return;
	}
	room = limit - b->len;
	if (n > room) {
		n = room;
		b->truncated = true;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *d;

		while (cap < b->len + n)
			cap *= 2;
		if (cap > limit)
			cap = limit;
		d = realloc(b->data, cap);
		if (!d) {
			b->truncated = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void body_buf_count(struct body_buf *b, size_t n, uint32_t limit)
{
	if (b->len >= limit) {
		b->truncated = true;
		return;
	}
	if (n > limit - b->len) {
		n = limit - b->len;
		b->truncated = true;
	}
	b->len += n;
}

/* The scan starts over what is kept, so it sees the body from byte 0. */
static bool scan_start(struct body_buf *b)
{
	if (b->scan)
		return true;
	b->scan = malloc(sizeof(*b->scan));
	if (!b->scan)
		return false;
	body_rid_scan_init(b->scan);
	body_rid_scan_feed(b->scan, b->data, b->len);
	return true;
}

void body_buf_append_req(struct body_buf *b, const char *p, size_t n, uint32_t limit)
{
	uint32_t had = b->len;

	if (b->scan) {		/* past the limit: only the scan sees bytes */
		body_rid_scan_feed(b->scan, p, n);
		return;
	}
	body_buf_append(b, p, n, limit);
	if (b->truncated && scan_start(b))
		body_rid_scan_feed(b->scan, p + (b->len - had), n - (b->len - had));
}

void body_buf_gap(struct body_buf *b, bool scan)
{
	b->truncated = true;
	if (scan && scan_start(b))
		body_rid_scan_gap(b->scan);
}

const char *body_buf_rid(const struct body_buf *b, bool *lost)
{
	*lost = b->scan && b->scan->state == RID_LOST;
	return b->scan ? body_rid_scan_result(b->scan) : NULL;
}

void body_buf_release(struct body_buf *b)
{
	free(b->data);
	free(b->scan);
	b->data = NULL;
	b->scan = NULL;
	b->len = b->cap = 0;
}

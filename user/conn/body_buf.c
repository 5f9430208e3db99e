// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Grows by doubling from 1 KiB, never past the limit. */
#include <stdlib.h>
#include <string.h>
#include "conn/body_buf.h"

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

void body_buf_release(struct body_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

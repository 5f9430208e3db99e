// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "lg_sse.h"

void lg_sse_init(struct lg_sse *p)
{
	memset(p, 0, sizeof(*p));
}

static int grow(char **buf, size_t *cap, size_t need)
{
	size_t nc;
	char *nb;

	if (need <= *cap)
		return 0;
	nc = *cap ? *cap : 256;
	while (nc < need)
		nc *= 2;
	nb = realloc(*buf, nc);
	if (!nb)
		return -ENOMEM;
	*buf = nb;
	*cap = nc;
	return 0;
}

static int dispatch(struct lg_sse *p, lg_sse_cb cb, void *ctx)
{
	int ret = 0;

	if (p->has_data) {
		p->data[p->data_len] = '\0';
		p->events++;
		ret = cb(ctx, p->data, p->data_len);
	}
	p->data_len = 0;
	p->has_data = false;
	return ret;
}

/* One complete line (without its terminator) in p->line. */
static int process_line(struct lg_sse *p, lg_sse_cb cb, void *ctx)
{
	const char *v;
	size_t vl;

	if (!p->line_len)
		return dispatch(p, cb, ctx);
	p->lines++;
	if (p->line[0] == ':')
		return 0;	/* comment, e.g. keep-alive */
	if (p->line_len < 5 || memcmp(p->line, "data", 4) ||
	    (p->line_len > 4 && p->line[4] != ':'))
		return 0;	/* event:, id:, retry: mean nothing here */
	p->data_lines++;
	v = p->line + 5;
	vl = p->line_len - 5;
	if (vl && *v == ' ') {
		v++;
		vl--;
	}
	if (grow(&p->data, &p->data_cap, p->data_len + vl + 2))
		return -ENOMEM;
	if (p->has_data)
		p->data[p->data_len++] = '\n';
	memcpy(p->data + p->data_len, v, vl);
	p->data_len += vl;
	p->has_data = true;
	return 0;
}

int lg_sse_feed(struct lg_sse *p, const char *buf, size_t len,
		lg_sse_cb cb, void *ctx)
{
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		int ret;

		if (p->after_cr) {
			p->after_cr = false;
			if (c == '\n')
				continue;
		}
		if (c == '\r' || c == '\n') {
			p->after_cr = c == '\r';
			ret = process_line(p, cb, ctx);
			p->line_len = 0;
			if (ret)
				return ret;
			continue;
		}
		if (grow(&p->line, &p->line_cap, p->line_len + 2))
			return -ENOMEM;
		p->line[p->line_len++] = c;
	}
	return 0;
}

int lg_sse_finish(struct lg_sse *p, lg_sse_cb cb, void *ctx)
{
	int ret = 0;

	if (p->line_len) {
		ret = process_line(p, cb, ctx);
		p->line_len = 0;
	}
	if (!ret)
		ret = dispatch(p, cb, ctx);
	return ret;
}

void lg_sse_free(struct lg_sse *p)
{
	free(p->line);
	free(p->data);
	lg_sse_init(p);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* HTTP/1.x requests as the router receives them, in random splits with
 * gaps and early closes; bodies go to request_fields_parse, as the
 * collector does. Input: 2 split-seed bytes, then the stream. */
#include <stdlib.h>
#include "fuzz_contract.h"
#include "fuzz_split.h"
#include "proto/body_fields.h"
#include "proto/http_stream.h"

#define BODY_KEEP 16384

struct ctx {
	struct fuzz_contract c;
	char body[BODY_KEEP];
	size_t body_len;
};

static void on_begin(void *p, uint64_t ts)
{
	struct ctx *x = p;

	contract_begin(&x->c);
	x->body_len = 0;
}

static void on_head(void *p, const struct http_head *h, uint64_t ts)
{
	contract_head(&((struct ctx *)p)->c, h);
}

static void on_body(void *p, const char *d, size_t n, uint64_t ts)
{
	struct ctx *x = p;

	contract_body(&x->c, n);
	if (n > BODY_KEEP - x->body_len)
		n = BODY_KEEP - x->body_len;
	memcpy(x->body + x->body_len, d, n);
	x->body_len += n;
}

static void on_body_gap(void *p, size_t n, uint64_t ts)
{
	contract_body(&((struct ctx *)p)->c, n);
}

static void on_end(void *p, uint64_t ts, bool complete)
{
	struct ctx *x = p;
	struct request_fields rf;

	contract_end(&x->c);
	request_fields_parse(x->body, x->body_len, true, &rf);
	free(rf.prompt);
}

static const struct http_callbacks cbs = {
	.on_begin = on_begin, .on_head = on_head, .on_body = on_body,
	.on_body_gap = on_body_gap, .on_end = on_end,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_stream s;
	static struct ctx x;
	struct fuzz_split sp;
	struct fuzz_piece pc;

	memset(&x, 0, sizeof(x));
	http_stream_init(&s, HTTP_REQUEST, &cbs, &x);
	fuzz_split_init(&sp, data, size);
	while (fuzz_split_next(&sp, &pc)) {
		http_stream_feed(&s, pc.data, pc.cap_len, pc.total_len, pc.ts);
		if ((pc.roll & 63) == 0)	/* the client closed, reconnected */
			http_stream_close(&s, pc.ts);
	}
	http_stream_close(&s, sp.ts + 1);
	contract_closed(&x.c, &s);
	return 0;
}

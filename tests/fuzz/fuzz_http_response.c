// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* HTTP/1.x responses as the router receives them from a worker, in
 * random splits with gaps, HEAD responses and early closes. Event-stream
 * bodies go through sse_parser, every event and every other body through
 * response_fields_merge, as the collector does. Input: 2 split-seed
 * bytes, then the stream. */
#include "fuzz_contract.h"
#include "fuzz_split.h"
#include "proto/body_fields.h"
#include "proto/http_stream.h"
#include "proto/sse_parser.h"

#define BODY_KEEP 16384

struct ctx {
	struct fuzz_contract c;
	bool sse;
	struct sse_parser parser;
	struct response_fields rf;
	char body[BODY_KEEP];
	size_t body_len;
};

static void on_event(void *p, const struct sse_event *ev, uint64_t ts)
{
	struct ctx *x = p;

	FUZZ_CHECK(ev->data_len <= SSE_DATA_MAX && ev->data[ev->data_len] == 0);
	FUZZ_CHECK(ev->data_len <= ev->data_total);
	if (!ev->done)
		response_fields_merge(&x->rf, ev->data, ev->data_len);
}

static void on_begin(void *p, uint64_t ts)
{
	struct ctx *x = p;

	contract_begin(&x->c);
	x->body_len = 0;
	response_fields_init(&x->rf);
}

static void on_head(void *p, const struct http_head *h, uint64_t ts)
{
	struct ctx *x = p;

	contract_head(&x->c, h);
	x->sse = h->event_stream;
}

static void on_body(void *p, const char *d, size_t n, uint64_t ts)
{
	struct ctx *x = p;

	contract_body(&x->c, n);
	if (x->sse) {
		sse_parser_feed(&x->parser, d, n, ts);
		return;
	}
	if (n > BODY_KEEP - x->body_len)
		n = BODY_KEEP - x->body_len;
	memcpy(x->body + x->body_len, d, n);
	x->body_len += n;
}

static void on_body_gap(void *p, size_t n, uint64_t ts)
{
	struct ctx *x = p;

	contract_body(&x->c, n);
	if (x->sse)
		sse_parser_gap(&x->parser, n, ts);
}

static void on_end(void *p, uint64_t ts, bool complete)
{
	struct ctx *x = p;

	contract_end(&x->c);
	if (x->sse)
		sse_parser_finish(&x->parser, ts);
	else
		response_fields_merge(&x->rf, x->body, x->body_len);
	x->sse = false;
}

static const struct http_callbacks cbs = {
	.on_begin = on_begin, .on_head = on_head, .on_body = on_body,
	.on_body_gap = on_body_gap, .on_end = on_end,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_stream s;
	static struct ctx x;	/* ~100 KB: not on the stack */
	struct fuzz_split sp;
	struct fuzz_piece pc;

	memset(&x.c, 0, sizeof(x.c));
	x.sse = false;
	x.body_len = 0;
	sse_parser_init(&x.parser, on_event, &x);
	http_stream_init(&s, HTTP_RESPONSE, &cbs, &x);
	fuzz_split_init(&sp, data, size);
	while (fuzz_split_next(&sp, &pc)) {
		if ((pc.roll & 31) == 0)	/* the request was HEAD */
			http_stream_expect_no_body(&s);
		http_stream_feed(&s, pc.data, pc.cap_len, pc.total_len, pc.ts);
		if ((pc.roll >> 8 & 63) == 0)
			http_stream_close(&s, pc.ts);
	}
	http_stream_close(&s, sp.ts + 1);
	contract_closed(&x.c, &s);
	return 0;
}

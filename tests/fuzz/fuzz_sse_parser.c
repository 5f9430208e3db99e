// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* text/event-stream bodies in random splits with gaps. Input: 2
 * split-seed bytes, then the de-chunked body. */
#include <stdlib.h>
#include <string.h>
#include "fuzz_split.h"
#include "proto/sse_parser.h"

#define FUZZ_CHECK(cond) do { if (!(cond)) abort(); } while (0)

static uint64_t events;

static void on_event(void *ctx, const struct sse_event *ev, uint64_t ts)
{
	FUZZ_CHECK(ev->data_len <= SSE_DATA_MAX);
	FUZZ_CHECK(ev->data[ev->data_len] == 0);
	FUZZ_CHECK(ev->data_len <= ev->data_total);
	FUZZ_CHECK(ev->truncated == (ev->data_total > ev->data_len));
	FUZZ_CHECK(memchr(ev->type, 0, SSE_TYPE_MAX));
	FUZZ_CHECK(!ev->done || !strcmp(ev->data, "[DONE]"));
	events++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sse_parser p;	/* 64 KB data buffer */
	struct fuzz_split sp;
	struct fuzz_piece pc;

	events = 0;
	sse_parser_init(&p, on_event, NULL);
	fuzz_split_init(&sp, data, size);
	while (fuzz_split_next(&sp, &pc)) {
		sse_parser_feed(&p, pc.data, pc.cap_len, pc.ts);
		if (pc.total_len > pc.cap_len)
			sse_parser_gap(&p, pc.total_len - pc.cap_len, pc.ts);
	}
	sse_parser_finish(&p, sp.ts + 1);
	FUZZ_CHECK(p.stats.events == events);
	return 0;
}

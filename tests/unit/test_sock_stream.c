// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* bpf/sock_stream.h (the kernel's byte tests) and, through the kernel
 * mirror, the collector on what the kernel sends when it holds SSE
 * events back: the rows must be those of a full capture. */
#include <stdlib.h>
#include <string.h>
#include "capture/recording.h"
#include "conn/collector.h"
#include "correlate/correlator.h"
#include "fixture.h"
#include "kernel_mirror.h"
#include "output/clock.h"
#include "output/output.h"
#include "sock_stream.h"
#include "test.h"

static void test_head_kind(void)
{
	ASSERT_EQ(stream_head_kind("HTTP/1.1 200 OK\r\n", 17), HEAD_MESSAGE, "status line");
	ASSERT_EQ(stream_head_kind("POST /generate HTTP/1.1", 23), HEAD_MESSAGE, "request line");
	ASSERT_EQ(stream_head_kind("GET /health", 11), HEAD_MESSAGE, "GET");
	ASSERT_EQ(stream_head_kind("PRI * HTTP/2.0\r\n", 16), HEAD_OTHER, "HTTP/2 preface");
	ASSERT_EQ(stream_head_kind("POS", 3), HEAD_NONE, "too short to tell");
	ASSERT_EQ(stream_head_kind("1a\r\ndata: x", 11), HEAD_NONE, "a chunk");
	ASSERT_EQ(stream_head_kind("HTTP/1.", 6), HEAD_NONE, "cut status line");
}

static void test_chunk_head(void)
{
	struct chunk_head ch;

	ASSERT_TRUE(chunk_head_parse("1a\r\ndata: {}", 12, &ch), "chunk with data");
	ASSERT_EQ(ch.size, 26, "hex size");
	ASSERT_EQ(ch.head_len, 4, "size line length");
	ASSERT_TRUE(ch.sse_data && !ch.sse_done && !ch.sse_other, "an SSE data event");
	ASSERT_TRUE(chunk_head_parse("E\r\ndata: [DONE]\n\n", 17, &ch) && ch.sse_done, "[DONE]");
	ASSERT_TRUE(chunk_head_parse("e\r\ndata:[DONE]", 14, &ch) && ch.sse_done, "[DONE] unspaced");
	ASSERT_TRUE(chunk_head_parse("0\r\n\r\n", 5, &ch) && ch.size == 0, "last chunk");
	ASSERT_TRUE(chunk_head_parse("FFfe\r\n: ping", 12, &ch) && ch.size == 0xfffe &&
		    ch.sse_other, "comment line, mixed-case hex");
	ASSERT_TRUE(chunk_head_parse("10\r\n{\"json\": 1}", 16, &ch) && !ch.sse_data &&
		    !ch.sse_other, "not SSE");
	ASSERT_TRUE(!chunk_head_parse("1a;ext=1\r\ndata:", 15, &ch), "extensions: not followed");
	ASSERT_TRUE(!chunk_head_parse("123456789\r\n", 11, &ch), "more than 8 hex digits");
	ASSERT_TRUE(!chunk_head_parse("1a\r", 3, &ch), "cut size line");
	ASSERT_TRUE(!chunk_head_parse("\r\ndata:", 7, &ch), "no digits");
	ASSERT_TRUE(!chunk_head_parse("zz\r\n", 4, &ch), "not hex");
}

/* ---- the mirror against a full capture ------------------------------ */

#define RECORDING "tests/unit/data/router_sglang.strec"

struct run {
	struct fixture *fx;
};

static void to_collector(void *ctx, const struct sock_event *ev, const char *data)
{
	struct run *r = ctx;

	collector_handle(r->fx->col, ev, data);
	fixture_tick(r->fx, collector_last_ts(r->fx->col));
}

/* Replays the recording's socket events, through the mirror or not, and
 * returns the CSV the rows make. */
static char *replay_csv(bool mirrored, uint64_t *skipped)
{
	struct run r = {};
	struct kernel_mirror *km = NULL;
	FILE *f = fopen(RECORDING, "r"), *csv;
	struct output out;
	char *buf = NULL, *text = NULL;
	size_t cap = 0, len = 0;
	uint32_t src;
	int64_t off;
	long n;

	if (!f || recording_read_header(f, &off))
		return NULL;
	clock_set_offset(off);
	r.fx = fixture_setup(&(struct fixture_opts){
		.have_router = true, .max_conns = 1024, .linger_ns = 300 * MS,
		.orphan_ns = 10000 * MS, .idle_ns = 600000 * MS,
		.max_exchanges = 10000, .max_hop_records = 10000, .max_rids = 10000,
	});
	if (mirrored)
		km = kernel_mirror_new(to_collector, &r);
	while ((n = recording_read(f, &src, &buf, &cap)) > 0) {
		const struct sock_event *ev = (const void *)buf;

		if (src == REC_ROLE) {
			const struct rec_role *rr = (const void *)buf;

			collector_set_role(r.fx->col, rr->tgid, rr->role);
		} else if (src == REC_SOCK && km) {
			kernel_mirror_feed(km, ev, (const char *)(ev + 1));
		} else if (src == REC_SOCK) {
			to_collector(&r, ev, (const char *)(ev + 1));
		}
	}
	collector_flush(r.fx->col);
	correlator_flush(r.fx->corr);
	csv = open_memstream(&text, &len);
	output_init(&out, csv, OUT_CSV);
	for (int i = 0; i < r.fx->nrows; i++)
		output_row(&out, &r.fx->rows[i]);
	output_finish(&out);
	fclose(csv);
	if (skipped)
		*skipped = km ? kernel_mirror_skipped(km) : 0;
	fixture_teardown(r.fx);
	kernel_mirror_free(km);
	free(buf);
	fclose(f);
	return text;
}

static void test_mirror_rows_equal_full_capture(void)
{
	uint64_t skipped = 0;
	char *full = replay_csv(false, NULL);
	char *held = replay_csv(true, &skipped);

	if (!ASSERT_TRUE(full && held, "recording replays (run from the repo root)"))
		goto out;
	ASSERT_TRUE(skipped > 100, "the mirror held SSE events back");
	ASSERT_TRUE(strlen(full) > 1000, "rows were made");
	ASSERT_STREQ(held, full, "same CSV with events held back");
out:
	free(full);
	free(held);
}

void test_area_sock_stream(void)
{
	RUN_SUBTEST(test_head_kind);
	RUN_SUBTEST(test_chunk_head);
	RUN_SUBTEST(test_mirror_rows_equal_full_capture);
}

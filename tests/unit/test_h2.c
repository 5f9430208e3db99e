// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* user/proto/h2.c: frames built here (padding, priority, CONTINUATION,
 * interleaved streams, RST_STREAM, GOAWAY, gaps, the seek rules), and the
 * real smg connection of tests/unit/data/h2/ frame by frame. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "test.h"
#include "h2_fixture.h"
#include "proto/h2.h"

struct rec {
	int headers, rst, goaway, ends, desyncs;
	struct h2_headers last;
	char data[8][64];	/* by stream id / 2 */
	size_t gap[8];
	uint32_t rst_stream, rst_code, goaway_last, goaway_code;
};

static struct rec R;
static struct h2_conn C;

static void on_headers(void *ctx, const struct h2_headers *h, uint64_t ts)
{
	R.headers++;
	R.last = *h;
}

static void on_data(void *ctx, enum h2_side side, uint32_t id, const uint8_t *p, size_t n,
		    uint64_t ts)
{
	char *d = R.data[(id / 2) % 8];

	strncat(d, (const char *)p, n < 63 - strlen(d) ? n : 63 - strlen(d));
}

static void on_data_gap(void *ctx, enum h2_side side, uint32_t id, size_t n, uint64_t ts)
{
	R.gap[(id / 2) % 8] += n;
}

static void on_end(void *ctx, enum h2_side side, uint32_t id, uint64_t ts) { R.ends++; }
static void on_desync(void *ctx, enum h2_side side, uint64_t ts) { R.desyncs++; }

static void on_rst(void *ctx, enum h2_side side, uint32_t id, uint32_t code, uint64_t ts)
{
	R.rst++;
	R.rst_stream = id;
	R.rst_code = code;
}

static void on_goaway(void *ctx, enum h2_side side, uint32_t last, uint32_t code, uint64_t ts)
{
	R.goaway++;
	R.goaway_last = last;
	R.goaway_code = code;
}

static const struct h2_callbacks cbs = {
	.on_headers = on_headers, .on_data = on_data, .on_data_gap = on_data_gap,
	.on_stream_end = on_end, .on_rst_stream = on_rst, .on_goaway = on_goaway,
	.on_desync = on_desync,
};

static size_t frame(uint8_t *out, uint8_t type, uint8_t flags, uint32_t sid,
		    const void *payload, size_t len)
{
	out[0] = len >> 16;
	out[1] = len >> 8;
	out[2] = len;
	out[3] = type;
	out[4] = flags;
	out[5] = sid >> 24;
	out[6] = sid >> 16;
	out[7] = sid >> 8;
	out[8] = sid;
	memcpy(out + 9, payload, len);
	return 9 + len;
}

/* :method GET, :scheme http, :path /, :authority www.example.com (RFC 7541 C.3.1) */
static const uint8_t REQ_BLOCK[] = "\x82\x86\x84\x41\x0fwww.example.com";
#define REQ_LEN (sizeof(REQ_BLOCK) - 1)

static void start(bool from_start)
{
	memset(&R, 0, sizeof(R));
	h2_conn_init(&C, &cbs, NULL, from_start);
	if (from_start)
		h2_conn_feed(&C, H2_FROM_CLIENT, (const uint8_t *)H2_PREFACE, H2_PREFACE_LEN,
			     H2_PREFACE_LEN, 1);
}

static void test_padding_and_priority(void)
{
	uint8_t buf[256], pl[128];
	size_t n = 0;

	start(true);
	/* HEADERS: pad length 3, priority 5 bytes, block, 3 pad bytes */
	pl[0] = 3;
	memset(pl + 1, 0, 5);
	memcpy(pl + 6, REQ_BLOCK, REQ_LEN);
	memset(pl + 6 + REQ_LEN, 0, 3);
	n += frame(buf + n, 1, 0x4 | 0x8 | 0x20, 1, pl, 6 + REQ_LEN + 3);
	/* DATA: pad length 4, "hello", 4 pad bytes, END_STREAM */
	memcpy(pl, "\x04hello\0\0\0\0", 10);
	n += frame(buf + n, 0, 0x1 | 0x8, 1, pl, 10);
	h2_conn_feed(&C, H2_FROM_CLIENT, buf, n, n, 2);
	ASSERT_EQ(R.headers, 1, "one header block");
	ASSERT_STREQ(R.last.path, "/", ":path");
	ASSERT_STREQ(R.last.method, "GET", ":method");
	ASSERT_STREQ(R.last.authority, "www.example.com", ":authority");
	ASSERT_STREQ(R.data[0], "hello", "data without padding");
	ASSERT_EQ(R.ends, 1, "END_STREAM");
	ASSERT_EQ(R.desyncs, 0, "no desync");
}

static void test_continuation_and_interleaving(void)
{
	uint8_t buf[512];
	size_t n = 0;

	start(true);
	n += frame(buf + n, 1, 0, 1, REQ_BLOCK, 5);			/* no END_HEADERS */
	n += frame(buf + n, 9, 0x4, 1, REQ_BLOCK + 5, REQ_LEN - 5);	/* CONTINUATION */
	n += frame(buf + n, 1, 0x4, 3, "\x82\x86\x84\xbe", 4);	/* 62: the :authority above */
	n += frame(buf + n, 0, 0, 1, "one-", 4);
	n += frame(buf + n, 0, 0, 3, "three-", 6);
	n += frame(buf + n, 0, 0x1, 1, "done", 4);
	n += frame(buf + n, 3, 0, 3, "\0\0\0\x08", 4);		/* RST_STREAM CANCEL */
	n += frame(buf + n, 7, 0, 0, "\0\0\0\x03\0\0\0\0", 8);	/* GOAWAY last 3 */
	for (size_t i = 0; i < n; i++)	/* a byte at a time */
		h2_conn_feed(&C, H2_FROM_CLIENT, buf + i, 1, 1, 10 + i);
	ASSERT_EQ(R.headers, 2, "two blocks");
	ASSERT_STREQ(R.last.authority, "www.example.com", "dynamic entry from stream 1's block");
	ASSERT_STREQ(R.data[0], "one-done", "stream 1 data");
	ASSERT_STREQ(R.data[1], "three-", "stream 3 data");
	ASSERT_EQ(R.ends, 1, "stream 1 ended");
	ASSERT_TRUE(R.rst == 1 && R.rst_stream == 3 && R.rst_code == 8, "RST_STREAM 3 CANCEL");
	ASSERT_TRUE(R.goaway == 1 && R.goaway_last == 3 && R.goaway_code == 0, "GOAWAY");
}

static void test_gap_inside_data(void)
{
	uint8_t buf[256];
	size_t n = 0, head;

	start(true);
	n += frame(buf + n, 1, 0x4, 1, REQ_BLOCK, REQ_LEN);
	head = n;
	n += frame(buf + n, 0, 0x1, 1, "abcdefghij", 10);
	n += frame(buf + n, 6, 0, 0, "12345678", 8);	/* PING */
	h2_conn_feed(&C, H2_FROM_CLIENT, buf, head + 9 + 3, head + 9 + 10, 5);	/* 7 lost */
	h2_conn_feed(&C, H2_FROM_CLIENT, buf + head + 19, n - head - 19, n - head - 19, 6);
	ASSERT_STREQ(R.data[0], "abc", "bytes before the gap");
	ASSERT_EQ(R.gap[0], 7, "gap reported with its size");
	ASSERT_EQ(R.ends, 1, "END_STREAM still seen");
	ASSERT_EQ(R.desyncs, 0, "framing kept");
	ASSERT_EQ(C.half[0].stats.frames[6], 1, "the PING after it parsed");
}

static void test_seek_rules(void)
{
	uint8_t buf[256];
	size_t n = 0;

	ASSERT_TRUE(h2_frame_head_valid((const uint8_t *)"\0\0\x04\x03\0\0\0\0\x01"), "RST head");
	ASSERT_TRUE(!h2_frame_head_valid((const uint8_t *)"\0\0\x05\x03\0\0\0\0\x01"), "RST of 5 bytes");
	ASSERT_TRUE(!h2_frame_head_valid((const uint8_t *)"\0\0\x04\x00\0\0\0\0\0"), "DATA on stream 0");
	ASSERT_TRUE(!h2_frame_head_valid((const uint8_t *)"\0\0\x04\x00\x40\0\0\0\x01"), "unknown flag");
	ASSERT_TRUE(!h2_frame_head_valid((const uint8_t *)"\0\0\x04\x0c\0\0\0\0\x01"), "type 12");
	start(false);
	/* the tail of a frame: not a frame head, skipped */
	h2_conn_feed(&C, H2_FROM_CLIENT, (const uint8_t *)"lo world, and more", 18, 18, 1);
	ASSERT_EQ(R.headers + R.ends, 0, "nothing made up from the tail");
	/* a piece that starts with a frame: synced; the table predates us */
	n += frame(buf + n, 1, 0x5, 5, "\x82\x86\x84\xbe", 4);
	n += frame(buf + n, 0, 0x1, 7, "x", 1);
	h2_conn_feed(&C, H2_FROM_CLIENT, buf, n, n, 2);
	ASSERT_EQ(R.headers, 1, "header block after the resync");
	ASSERT_STREQ(R.last.path, "/", "static fields decoded");
	ASSERT_EQ(R.last.unknown_fields, 1, "the dynamic reference is unknown");
	ASSERT_STREQ(R.last.authority, "", "and not guessed");
	ASSERT_EQ(C.half[0].stats.resyncs, 1, "one resync");
	ASSERT_EQ(C.half[0].stats.skipped_bytes, 18, "the tail counted as skipped");
}

/* The real smg connection: every HEADERS frame gives one decoded block. */
static void test_real_connection(void)
{
	struct h2_fixture x;
	uint64_t headers_frames;

	if (!ASSERT_EQ(h2_fix_load(&x, "smg_w0"), 0, "fixture"))
		return;
	memset(&R, 0, sizeof(R));
	h2_conn_init(&C, &cbs, NULL, true);
	for (int i = 0, off[2] = { 0, 0 }; i < x.nseg; i++) {
		int s = x.seg[i].side;

		h2_conn_feed(&C, s, x.bytes[s] + off[s], x.seg[i].n, x.seg[i].n, i);
		off[s] += x.seg[i].n;
	}
	headers_frames = C.half[0].stats.frames[1] + C.half[1].stats.frames[1];
	ASSERT_EQ(R.desyncs, 0, "no desync");
	ASSERT_EQ(R.headers, headers_frames, "one block per HEADERS frame");
	ASSERT_TRUE(C.half[0].stats.frames[4] >= 1 && C.half[1].stats.frames[4] >= 1,
		    "SETTINGS both ways");
	ASSERT_TRUE(C.half[1].stats.frames[3] == 1 && C.half[1].stats.frames[7] == 2,
		    "the server's RST_STREAM and two GOAWAYs");
	ASSERT_EQ(C.half[0].hpack.stats.errors + C.half[1].hpack.stats.errors, 0, "HPACK clean");
	h2_fix_free(&x);
}

void test_area_h2(void)
{
	RUN_SUBTEST(test_padding_and_priority);
	RUN_SUBTEST(test_continuation_and_interleaving);
	RUN_SUBTEST(test_gap_inside_data);
	RUN_SUBTEST(test_seek_rules);
	RUN_SUBTEST(test_real_connection);
}

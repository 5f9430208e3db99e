// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* user/proto/vllm_ipc.c on real vLLM 0.32.0 frames (tests/unit/data/vllm/,
 * captured with the libzmq uprobes from a running API server and
 * EngineCore), cut at every length, plus hand-made layout mismatches. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proto/vllm_ipc.h"
#include "test.h"

/* Fixture tables leave the fields a case does not have at zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define DATA_DIR "tests/unit/data/vllm/"

struct want_req {
	const char *rid;
	int finished;
	uint32_t new_tokens;
	double queued_ts, scheduled_ts;	/* 0: no event */
};

struct fixture {
	const char *name;
	enum vllm_ipc_kind kind;
	uint32_t nreqs;
	struct want_req reqs[3];
	bool stats;
	/* ADD */
	const char *external;
	int stream;
	int64_t prompt_tokens;
};

static const struct fixture fixtures[] = {
	{ "add_cmpl_nostream_stats", VLLM_IPC_ADD, 1,
	  { { "cmpl-fx-stats-cmpl-nostream-0-869432df" } }, false,
	  "cmpl-fx-stats-cmpl-nostream-0", 0, 4 },
	{ "add_cmpl_stream_stats", VLLM_IPC_ADD, 1,
	  { { "cmpl-fx-stats-cmpl-stream-0-ab7aa615" } }, false,
	  "cmpl-fx-stats-cmpl-stream-0", 1, 4 },
	{ "add_chat_nostream_stats", VLLM_IPC_ADD, 1,
	  { { "chatcmpl-fx-stats-chat-nostream-b0a78edf" } }, false,
	  "chatcmpl-fx-stats-chat-nostream", 0, 9 },
	{ "add_chat_stream_stats", VLLM_IPC_ADD, 1,
	  { { "chatcmpl-fx-stats-chat-stream-9a5742b1" } }, false,
	  "chatcmpl-fx-stats-chat-stream", 1, 10 },
	{ "add_cmpl_nostream", VLLM_IPC_ADD, 1,
	  { { "cmpl-fx-nostats-cmpl-nostream-0-8f3e9268" } }, false,
	  "cmpl-fx-nostats-cmpl-nostream-0", 0, 4 },
	{ "add_chat_stream", VLLM_IPC_ADD, 1,
	  { { "chatcmpl-fx-nostats-chat-stream-a3ecf43a" } }, false,
	  "chatcmpl-fx-nostats-chat-stream", 1, 10 },
	{ "out_first_stats", VLLM_IPC_OUTPUTS, 1,
	  { { "cmpl-fx-stats-cmpl-nostream-0-869432df", 0, 1, 667.819370464, 667.819395201 } },
	  true },
	{ "out_next_stats", VLLM_IPC_OUTPUTS, 1,
	  { { "cmpl-fx-stats-cmpl-nostream-0-869432df", 0, 1 } }, true },
	{ "out_fin_stats", VLLM_IPC_OUTPUTS, 1,
	  { { "cmpl-fx-stats-cmpl-nostream-0-869432df", 1, 1 } }, true },
	{ "out_empty_stats", VLLM_IPC_OUTPUTS, 0, { }, true },
	{ "out_batch3_stats", VLLM_IPC_OUTPUTS, 3,
	  { { "cmpl-fx-stats-batch-0-0-804f6efc", 0, 1 },
	    { "cmpl-fx-stats-batch-1-0-83039e4b", 0, 1, 669.121587063, 669.121600504 },
	    { "cmpl-fx-stats-batch-2-0-869bee8f", 0, 1, 669.121592582, 669.121600504 } },
	  true },
	{ "out_batch_fin_stats", VLLM_IPC_OUTPUTS, 2,
	  { { "cmpl-fx-stats-batch-1-0-83039e4b", 1, 1 },
	    { "cmpl-fx-stats-batch-2-0-869bee8f", 1, 1 } }, true },
	{ "out_first", VLLM_IPC_OUTPUTS, 1,
	  { { "cmpl-fx-nostats-cmpl-nostream-0-8f3e9268", 0, 1 } }, false },
	{ "out_fin", VLLM_IPC_OUTPUTS, 1,
	  { { "cmpl-fx-nostats-cmpl-nostream-0-8f3e9268", 1, 1 } }, false },
	{ "out_batch2", VLLM_IPC_OUTPUTS, 2,
	  { { "cmpl-fx-nostats-batch-1-0-a6f28447", 0, 1 },
	    { "cmpl-fx-nostats-batch-2-0-88d5e86c", 0, 1 } }, false },
	{ "out_batch_fin", VLLM_IPC_OUTPUTS, 2,
	  { { "cmpl-fx-nostats-batch-1-0-a6f28447", 1, 1 },
	    { "cmpl-fx-nostats-batch-2-0-88d5e86c", 0, 1 } }, false },
};

static struct vllm_ipc_msg msg, full;

static unsigned char *load(const char *name, size_t *n)
{
	char path[256];
	unsigned char *buf;
	long len;
	FILE *f;

	snprintf(path, sizeof(path), DATA_DIR "%s.bin", name);
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "  cannot open %s (run from the repo root)\n", path);
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = malloc(len > 0 ? len : 1);
	if (buf && fread(buf, 1, len, f) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*n = len;
	return buf;
}

static bool rid_is(const struct vllm_ipc_msg *m, const void *p, uint32_t i, const char *want)
{
	char buf[128];

	return vllm_ipc_rid_copy(m, p, i, buf, sizeof(buf)) >= 0 && !strcmp(buf, want);
}

static void check_full(const struct fixture *fx, const unsigned char *p, size_t n)
{
	char ext[128] = "";
	uint32_t i;

	ASSERT_EQ(vllm_ipc_parse(p, n, false, &msg), 0, fx->name);
	ASSERT_EQ(msg.kind, fx->kind, "kind");
	ASSERT_EQ(msg.flags & ~(VLLM_IPC_F_STATS), 0, "no flag but stats");
	ASSERT_EQ(!!(msg.flags & VLLM_IPC_F_STATS), fx->stats, "stats");
	ASSERT_EQ(msg.nreqs, fx->nreqs, "nreqs");
	ASSERT_EQ(msg.reqs_total, fx->nreqs, "reqs_total");
	for (i = 0; i < fx->nreqs && i < msg.nreqs; i++) {
		const struct want_req *w = &fx->reqs[i];
		const struct vllm_ipc_req *q = &msg.reqs[i];

		ASSERT_TRUE(rid_is(&msg, p, i, w->rid), w->rid);
		if (fx->kind != VLLM_IPC_OUTPUTS)
			continue;
		ASSERT_EQ(q->finished, w->finished, "finished");
		ASSERT_EQ(q->finish_reason, w->finished ? 1 : -1, "finish_reason (length)");
		ASSERT_EQ(q->new_tokens, w->new_tokens, "new_tokens");
		ASSERT_NEAR(q->queued_ts, w->queued_ts, 1e-9, "queued_ts");
		ASSERT_NEAR(q->scheduled_ts, w->scheduled_ts, 1e-9, "scheduled_ts");
		ASSERT_EQ(q->nevents, w->queued_ts ? 2 : 0, "nevents");
	}
	if (fx->kind == VLLM_IPC_OUTPUTS) {
		ASSERT_EQ(msg.engine_index, 0, "engine_index");
		ASSERT_TRUE(msg.timestamp > 600 && msg.timestamp < 1000, "monotonic timestamp");
		return;
	}
	memcpy(ext, p + msg.external_rid.off, msg.external_rid.len < 127 ? msg.external_rid.len : 127);
	ASSERT_STREQ(ext, fx->external, "external_req_id");
	ASSERT_EQ(vllm_ipc_external_len((const char *)p + msg.reqs[0].rid.off, msg.reqs[0].rid.len),
		  strlen(fx->external), "external part of the internal id");
	ASSERT_EQ(msg.stream, fx->stream, "stream (output_kind)");
	ASSERT_EQ(msg.prompt_tokens, fx->prompt_tokens, "prompt tokens");
	ASSERT_TRUE(msg.arrival_time > 1.7e9 && msg.arrival_time < 1.9e9, "arrival_time (wall)");
}

/* Cut at every length: the same kind or not yet known, never a layout
 * error, never a request id or value the whole frame does not have. */
static void check_cuts(const struct fixture *fx, const unsigned char *p, size_t n)
{
	uint32_t i;
	size_t cut;

	vllm_ipc_parse(p, n, false, &full);
	for (cut = 0; cut < n; cut++) {
		int err = vllm_ipc_parse(p, cut, true, &msg);

		if (!ASSERT_EQ(err, 0, fx->name) ||
		    !ASSERT_EQ(msg.flags & (VLLM_IPC_F_BAD | VLLM_IPC_F_LAYOUT), 0, "cut: no error") ||
		    !ASSERT_TRUE(msg.flags & VLLM_IPC_F_INCOMPLETE, "cut: incomplete") ||
		    !ASSERT_TRUE(msg.kind == fx->kind || msg.kind == VLLM_IPC_UNKNOWN, "cut: kind") ||
		    !ASSERT_TRUE(msg.nreqs <= full.nreqs, "cut: nreqs")) {
			fprintf(stderr, "       at %zu of %zu bytes\n", cut, n);
			return;
		}
		for (i = 0; i < msg.nreqs; i++) {
			const struct vllm_ipc_req *q = &msg.reqs[i], *f = &full.reqs[i];

			if (!ASSERT_TRUE(q->rid.off == f->rid.off && q->rid.len == f->rid.len, "cut: rid") ||
			    !ASSERT_TRUE(q->finished < 0 || q->finished == f->finished, "cut: finished") ||
			    !ASSERT_TRUE(!q->queued_ts || q->queued_ts == f->queued_ts, "cut: queued") ||
			    !ASSERT_TRUE(q->rid.off + q->rid.len <= cut, "cut: rid inside")) {
				fprintf(stderr, "       at %zu of %zu bytes\n", cut, n);
				return;
			}
		}
		/* Not truncated but short: a broken frame, no ids from it. */
		vllm_ipc_parse(p, cut, false, &msg);
		if (cut > 2 && !ASSERT_TRUE(msg.nreqs == 0 && (msg.flags & VLLM_IPC_F_BAD),
					    "short, not truncated: bad")) {
			fprintf(stderr, "       at %zu of %zu bytes\n", cut, n);
			return;
		}
	}
}

static void test_fixtures(void)
{
	size_t k, n;

	for (k = 0; k < sizeof(fixtures) / sizeof(fixtures[0]); k++) {
		unsigned char *p = load(fixtures[k].name, &n);

		if (!ASSERT_TRUE(p, fixtures[k].name))
			continue;
		check_full(&fixtures[k], p, n);
		check_cuts(&fixtures[k], p, n);
		free(p);
	}
}

static void test_frames(void)
{
	ASSERT_EQ(vllm_ipc_parse("\x00", 1, false, &msg), 0, "type frame");
	ASSERT_EQ(msg.kind, VLLM_IPC_TYPE, "kind type");
	ASSERT_EQ(msg.req_type, 0, "ADD");
	ASSERT_EQ(vllm_ipc_parse("\x03", 1, false, &msg), 0, "type frame");
	ASSERT_EQ(msg.req_type, 3, "UTILITY");
	ASSERT_EQ(vllm_ipc_parse("\x00\x00", 2, false, &msg), 0, "identity frame");
	ASSERT_EQ(msg.kind, VLLM_IPC_IDENTITY, "kind identity");
	/* ABORT ["a", "bc"]; UTILITY [0, 5, "m", []] */
	ASSERT_EQ(vllm_ipc_parse("\x92\xa1" "a\xa2" "bc", 6, false, &msg), 0, "abort");
	ASSERT_EQ(msg.kind, VLLM_IPC_ABORT, "kind abort");
	ASSERT_EQ(msg.nreqs, 2, "abort rids");
	ASSERT_TRUE(rid_is(&msg, "\x92\xa1" "a\xa2" "bc", 1, "bc"), "abort rid 1");
	ASSERT_EQ(vllm_ipc_parse("\x94\x00\x05\xa1m\x90", 6, false, &msg), 0, "utility");
	ASSERT_EQ(msg.kind, VLLM_IPC_UTILITY, "kind utility");
	ASSERT_EQ(msg.call_id, 5, "call id");
	ASSERT_EQ(msg.nreqs, 0, "utility: no rid");
}

/* A frame from another layout is reported as such, with no ids. */
static void expect_layout(const void *p, size_t n, const char *what, const char *needle)
{
	ASSERT_EQ(vllm_ipc_parse(p, n, false, &msg), 0, what);
	ASSERT_TRUE(msg.flags & VLLM_IPC_F_LAYOUT, what);
	ASSERT_EQ(msg.nreqs, 0, "no rid from a mismatch");
	if (!ASSERT_TRUE(strstr(msg.mismatch, needle), needle))
		fprintf(stderr, "       mismatch: \"%s\"\n", msg.mismatch);
}

static void test_layout_mismatch(void)
{
	static const unsigned char str_arrival[] = {	/* arrival_time "x" */
		0x99, 0xa2, 'r', '1', 0xc0, 0xc0, 0xc0, 0xc0, 0xa1, 'x', 0xc0, 0xc0, 0xc0 };
	static unsigned char out19[] = {	/* an EngineCoreOutput of 19 fields */
		0x92, 0x00, 0x91, 0xdc, 0x00, 0x13, 0xa1, 'r', 0x91, 0x01 };
	static const unsigned char bad_event[] = {	/* events: [{"type": 1, "when": 2}] */
		0x92, 0x00, 0x91, 0x98, 0xa1, 'r', 0x91, 0x01, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0,
		0x91, 0x82, 0xa4, 't', 'y', 'p', 'e', 0x01, 0xa4, 'w', 'h', 'e', 'n', 0x02 };
	unsigned char buf[1024], big[64];
	size_t n;
	unsigned char *p = load("add_cmpl_nostream", &n);

	expect_layout(str_arrival, sizeof(str_arrival), "arrival_time type",
		      "EngineCoreRequest.arrival_time is str");
	memset(big, 0xc0, sizeof(big));
	memcpy(big, out19, sizeof(out19));
	expect_layout(big, sizeof(out19) + 17, "19 output fields", "EngineCoreOutput has 19 fields");
	expect_layout(bad_event, sizeof(bad_event), "event field", "EngineCoreEvent");
	expect_layout("\x92\xc3\xc3", 3, "no such message", "no vLLM 0.32.0 message");
	if (ASSERT_TRUE(p && n < sizeof(buf) - 1, "fixture")) {
		memcpy(buf, p, n);
		buf[2] = 0x17;	/* one field more than 0.32.0's 22 */
		buf[n] = 0xc0;
		expect_layout(buf, n + 1, "23 request fields", "EngineCoreRequest has 23 fields");
		buf[2] = 0x16;
		expect_layout(buf, n + 1, "trailing byte", "1 bytes after");
	}
	free(p);
	ASSERT_EQ(vllm_ipc_parse("hello", 5, false, &msg), -EINVAL, "not msgpack array");
	ASSERT_TRUE(msg.flags & VLLM_IPC_F_BAD, "bad");
	ASSERT_EQ(vllm_ipc_parse("\x91\xc1", 2 + 0, true, &msg), -EINVAL, "0xc1");
}

static void test_ids(void)
{
	size_t len = 0;
	int off;

	ASSERT_EQ(vllm_ipc_external_len("cmpl-abc-0-869432df", 19), 10, "strip random");
	ASSERT_EQ(vllm_ipc_external_len("cmpl-abc-0", 10), 10, "no random suffix");
	off = vllm_ipc_header_rid("cmpl-my-id-7-0", 14, true, &len);
	ASSERT_EQ(off, 5, "cmpl- prefix");
	ASSERT_EQ(len, 7, "my-id-7");
	off = vllm_ipc_header_rid("chatcmpl-my-id-7", 16, false, &len);
	ASSERT_EQ(off, 9, "chatcmpl- prefix");
	ASSERT_EQ(len, 7, "my-id-7 (chat)");
	ASSERT_EQ(vllm_ipc_header_rid("cmpl-noindex", 12, true, &len), -1, "no index");
	ASSERT_EQ(vllm_ipc_header_rid("embd-x", 6, false, &len), -1, "other prefix");
	ASSERT_STREQ(vllm_ipc_kind_name(VLLM_IPC_OUTPUTS), "outputs", "kind name");
}

void test_area_vllm_ipc(void)
{
	RUN_SUBTEST(test_fixtures);
	RUN_SUBTEST(test_frames);
	RUN_SUBTEST(test_layout_mismatch);
	RUN_SUBTEST(test_ids);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* user/proto/ipc.c on real SGLang payloads (tests/unit/data/ipc/, made by
 * gen_ipc_payloads.py from SGLang's own classes, pickle and msgpack),
 * cut at every length, plus hand-made pickles and garbage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proto/ipc.h"
#include "test.h"

#define DATA_DIR "tests/unit/data/ipc/"

struct fixture {
	const char *name;
	enum ipc_kind kind;
	const char *rids[4];	/* the first rids, NULL-terminated */
	uint32_t nrids;		/* all of them */
	int stream;		/* pickle only; msgpack says -1 */
	int64_t prompt_tokens;
};

static const struct fixture fixtures[] = {
	{ "tok_stream", IPC_KIND_TOKENIZED_GENERATE, { "servetrace-rid-0001" }, 1, 1, 37 },
	{ "tok_nostream", IPC_KIND_TOKENIZED_GENERATE,
	  { "a3f1c2d4e5b60718293a4b5c6d7e8f90" }, 1, 0, 1500 },
	{ "batch_tok", IPC_KIND_BATCH_TOKENIZED_GENERATE,
	  { "batch-rid-0", "batch-rid-1", "batch-rid-2" }, 3, -1, -1 },
	{ "out_one", IPC_KIND_BATCH_TOKEN_ID_OUTPUT, { "servetrace-rid-0001" }, 1, -1, -1 },
	{ "out_big", IPC_KIND_BATCH_TOKEN_ID_OUTPUT,
	  { "00000000000000000000000000000000", "00000000000000000000000000000001" },
	  300, -1, -1 },
	{ "str_two", IPC_KIND_BATCH_STR_OUTPUT, { "r-one", "r-two" }, 2, -1, -1 },
	{ "abort", IPC_KIND_ABORT, { "abort-me" }, 1, -1, -1 },
};

static unsigned char *load(const char *name, const char *ext, size_t *n)
{
	char path[256];
	unsigned char *buf;
	long len;
	FILE *f;

	snprintf(path, sizeof(path), DATA_DIR "%s.%s", name, ext);
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

static bool rid_eq(const struct ipc_msg *m, const void *p, uint32_t i,
		   const char *want)
{
	char buf[128];

	return ipc_rid_copy(m, p, i, buf, sizeof(buf)) >= 0 && !strcmp(buf, want);
}

/* The big output's rid i, as the generator makes it. */
static void big_rid(uint32_t i, char *buf)
{
	snprintf(buf, 33, "%032x", i);
}

static void check_whole(const struct fixture *fx, const char *ext,
			const unsigned char *p, size_t n)
{
	static struct ipc_msg m;
	bool msgpack = !strcmp(ext, "msgpack");
	char what[128], rid[64];
	uint32_t i;

	snprintf(what, sizeof(what), "%s.%s parses", fx->name, ext);
	if (!ASSERT_EQ(ipc_parse(p, n, false, &m), 0, what))
		return;
	ASSERT_EQ(m.format, msgpack ? IPC_FMT_MSGPACK : IPC_FMT_PICKLE, what);
	ASSERT_EQ(m.kind, fx->kind, what);
	ASSERT_EQ(m.rids_total, fx->nrids, what);
	ASSERT_EQ(m.flags & (IPC_F_INCOMPLETE | IPC_F_BAD | IPC_F_LIMIT), 0, what);
	for (i = 0; i < 4 && fx->rids[i]; i++)
		ASSERT_TRUE(rid_eq(&m, p, i, fx->rids[i]), what);
	ASSERT_EQ(m.stream, msgpack ? -1 : fx->stream, what);
	ASSERT_EQ(m.prompt_tokens, fx->prompt_tokens, what);
	if (!strcmp(fx->name, "out_big")) {
		ASSERT_EQ(m.nrids, IPC_MAX_RIDS, "capped");
		ASSERT_TRUE(m.flags & IPC_F_RIDS_CAPPED, "capped flag");
		for (i = 0; i < m.nrids; i++) {
			big_rid(i, rid);
			if (!rid_eq(&m, p, i, rid) ||
			    m.finished[i] != (i % 7 == 0)) {
				ASSERT_TRUE(false, "big output rid / finished");
				break;
			}
		}
	}
	if (!strcmp(fx->name, "str_two")) {
		ASSERT_EQ(m.finished[0], 0, "r-one running");
		ASSERT_EQ(m.finished[1], 1, "r-two finished");
	}
	if (!strcmp(fx->name, "out_one"))
		ASSERT_EQ(m.finished[0], 0, "first token: not finished");
}

/* Every prefix: no crash, never a wrong rid, only ever fewer. */
static void check_prefixes(const struct fixture *fx, const char *ext,
			   const unsigned char *p, size_t n)
{
	static struct ipc_msg m;
	char what[128], rid[64];
	size_t cut;
	uint32_t i;
	int bad = 0;

	for (cut = 0; cut <= n && !bad; cut++) {
		int ret = ipc_parse(p, cut, cut < n, &m);

		if (ret && cut > 2) {
			/* Only the first bytes may be too few to tell. */
			fprintf(stderr, "  cut %zu: ret %d\n", cut, ret);
			bad++;
		}
		if (m.kind != IPC_KIND_UNKNOWN && m.kind != fx->kind)
			bad++;
		if (m.nrids > fx->nrids)
			bad++;
		for (i = 0; i < m.nrids && !bad; i++) {
			const char *want = i < 4 ? fx->rids[i] : NULL;

			if (!strcmp(fx->name, "out_big")) {
				big_rid(i, rid);
				want = rid;
			}
			if (want && !rid_eq(&m, p, i, want))
				bad++;
			if (m.rids[i].off + m.rids[i].len > cut)
				bad++;
		}
		if (cut < n && !(m.flags & IPC_F_INCOMPLETE) &&
		    m.rids_total < fx->nrids && m.kind == fx->kind &&
		    strcmp(ext, "msgpack"))
			bad++;	/* a pickle cut short must say so */
		if (bad)
			fprintf(stderr, "  %s.%s cut at %zu of %zu: kind %d nrids %u flags %#x\n",
				fx->name, ext, cut, n, m.kind, m.nrids, m.flags);
	}
	snprintf(what, sizeof(what), "%s.%s: every prefix", fx->name, ext);
	ASSERT_EQ(bad, 0, what);
}

static void test_real_payloads(void)
{
	static const char *const exts[] = { "pickle", "msgpack" };
	size_t i, e, n;

	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		for (e = 0; e < 2; e++) {
			unsigned char *p = load(fixtures[i].name, exts[e], &n);

			if (!ASSERT_TRUE(p, "fixture file"))
				continue;
			check_whole(&fixtures[i], exts[e], p, n);
			check_prefixes(&fixtures[i], exts[e], p, n);
			free(p);
		}
	}
}

/* What the capture size leaves: a 1500-token prompt at 4 KiB still gives
 * its rid and, from the declared size of input_ids, its length. */
static void test_capture_limit(void)
{
	static struct ipc_msg m;
	unsigned char *p;
	size_t n;
	char rid[64];
	uint32_t i;

	p = load("tok_nostream", "pickle", &n);
	if (ASSERT_TRUE(p && n > 4096, "long prompt fixture")) {
		ASSERT_EQ(ipc_parse(p, 4096, true, &m), 0, "cut prompt");
		ASSERT_TRUE(rid_eq(&m, p, 0, "a3f1c2d4e5b60718293a4b5c6d7e8f90"), "rid");
		ASSERT_EQ(m.prompt_tokens, 1500, "prompt length");
		ASSERT_EQ(m.stream, -1, "stream comes after input_ids");
		ASSERT_TRUE(m.flags & IPC_F_INCOMPLETE, "incomplete");
		ASSERT_TRUE(!(m.flags & IPC_F_BAD), "not bad: truncated");
	}
	free(p);
	p = load("out_big", "pickle", &n);
	if (ASSERT_TRUE(p && n > 4096, "big output fixture")) {
		ASSERT_EQ(ipc_parse(p, 4096, true, &m), 0, "cut output");
		ASSERT_TRUE(m.nrids > 90 && m.nrids < 300, "a prefix of the rids");
		ASSERT_TRUE(m.flags & IPC_F_INCOMPLETE, "incomplete");
		for (i = 0; i < m.nrids; i++) {
			big_rid(i, rid);
			if (!ASSERT_TRUE(rid_eq(&m, p, i, rid), "rid in order"))
				break;
		}
		fprintf(stderr, "  info: 4096 bytes of a 300-rid BatchTokenIDOutput (pickle) hold %u rids\n",
			m.nrids);
	}
	free(p);
	p = load("out_big", "msgpack", &n);
	if (ASSERT_TRUE(p, "big output msgpack")) {
		ASSERT_EQ(ipc_parse(p, 4096, true, &m), 0, "cut msgpack output");
		ASSERT_TRUE(m.flags & IPC_F_INCOMPLETE, "incomplete");
		fprintf(stderr, "  info: 4096 bytes of a 300-rid BatchTokenIDOutput (msgpack) hold %u rids\n",
			m.nrids);
	}
	free(p);
}

/* Protocol 2 dataclass (older SGLang releases): NEWOBJ + BUILD. */
static const unsigned char pk_dataclass_p2[] = {
	0x80, 0x02, 0x63, 0x5f, 0x5f, 0x6d, 0x61, 0x69, 0x6e, 0x5f, 0x5f, 0x0a,
	0x42, 0x61, 0x74, 0x63, 0x68, 0x53, 0x74, 0x72, 0x4f, 0x75, 0x74, 0x70,
	0x75, 0x74, 0x0a, 0x71, 0x00, 0x29, 0x81, 0x71, 0x01, 0x7d, 0x71, 0x02,
	0x28, 0x58, 0x04, 0x00, 0x00, 0x00, 0x72, 0x69, 0x64, 0x73, 0x71, 0x03,
	0x5d, 0x71, 0x04, 0x28, 0x58, 0x02, 0x00, 0x00, 0x00, 0x64, 0x31, 0x71,
	0x05, 0x58, 0x02, 0x00, 0x00, 0x00, 0x64, 0x32, 0x71, 0x06, 0x65, 0x58,
	0x10, 0x00, 0x00, 0x00, 0x66, 0x69, 0x6e, 0x69, 0x73, 0x68, 0x65, 0x64,
	0x5f, 0x72, 0x65, 0x61, 0x73, 0x6f, 0x6e, 0x73, 0x71, 0x07, 0x5d, 0x71,
	0x08, 0x28, 0x4e, 0x7d, 0x71, 0x09, 0x28, 0x58, 0x04, 0x00, 0x00, 0x00,
	0x74, 0x79, 0x70, 0x65, 0x71, 0x0a, 0x58, 0x04, 0x00, 0x00, 0x00, 0x73,
	0x74, 0x6f, 0x70, 0x71, 0x0b, 0x58, 0x07, 0x00, 0x00, 0x00, 0x6d, 0x61,
	0x74, 0x63, 0x68, 0x65, 0x64, 0x71, 0x0c, 0x4b, 0x02, 0x75, 0x65, 0x75,
	0x62, 0x2e,
};

/* Req(other=s, rid=s): the rid is a BINGET of the memoized string. */
static const unsigned char pk_memo_rid[] = {
	0x80, 0x05, 0x95, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x8c,
	0x08, 0x5f, 0x5f, 0x6d, 0x61, 0x69, 0x6e, 0x5f, 0x5f, 0x94, 0x8c, 0x03,
	0x52, 0x65, 0x71, 0x94, 0x93, 0x94, 0x29, 0x81, 0x94, 0x7d, 0x94, 0x28,
	0x8c, 0x05, 0x6f, 0x74, 0x68, 0x65, 0x72, 0x94, 0x8c, 0x11, 0x73, 0x68,
	0x61, 0x72, 0x65, 0x64, 0x2d, 0x72, 0x69, 0x64, 0x2d, 0x73, 0x74, 0x72,
	0x69, 0x6e, 0x67, 0x94, 0x8c, 0x03, 0x72, 0x69, 0x64, 0x94, 0x68, 0x06,
	0x75, 0x62, 0x2e,
};

/* Nested(rid="right", meta={"rid": "WRONG"}): a one-item dict is built
 * with SETITEM, so its key sits where an outer key could. */
static const unsigned char pk_nested_rid[] = {
	0x80, 0x05, 0x95, 0x41, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x8c,
	0x08, 0x5f, 0x5f, 0x6d, 0x61, 0x69, 0x6e, 0x5f, 0x5f, 0x94, 0x8c, 0x06,
	0x4e, 0x65, 0x73, 0x74, 0x65, 0x64, 0x94, 0x93, 0x94, 0x29, 0x81, 0x94,
	0x7d, 0x94, 0x28, 0x8c, 0x03, 0x72, 0x69, 0x64, 0x94, 0x8c, 0x05, 0x72,
	0x69, 0x67, 0x68, 0x74, 0x94, 0x8c, 0x04, 0x6d, 0x65, 0x74, 0x61, 0x94,
	0x7d, 0x94, 0x68, 0x05, 0x8c, 0x05, 0x57, 0x52, 0x4f, 0x4e, 0x47, 0x94,
	0x73, 0x75, 0x62, 0x2e,
};

static void test_pickle_opcodes(void)
{
	static struct ipc_msg m;
	static unsigned char buf[1024];
	size_t n = 0, i;

	ASSERT_EQ(ipc_parse(pk_dataclass_p2, sizeof(pk_dataclass_p2), false, &m), 0,
		  "dataclass protocol 2");
	ASSERT_EQ(m.kind, IPC_KIND_BATCH_STR_OUTPUT, "GLOBAL opcode class");
	ASSERT_EQ(m.nrids, 2, "BINUNICODE rids");
	ASSERT_TRUE(rid_eq(&m, pk_dataclass_p2, 1, "d2"), "second rid");
	ASSERT_EQ(m.finished[0], 0, "None: running");
	ASSERT_EQ(m.finished[1], 1, "dict: finished");

	ASSERT_EQ(ipc_parse(pk_memo_rid, sizeof(pk_memo_rid), false, &m), 0, "memo");
	ASSERT_STREQ(m.class_name, "Req", "class name");
	ASSERT_EQ(m.kind, IPC_KIND_OTHER, "unlisted class");
	ASSERT_EQ(m.nrids, 1, "one rid");
	ASSERT_TRUE(rid_eq(&m, pk_memo_rid, 0, "shared-rid-string"), "BINGET rid");

	ASSERT_EQ(ipc_parse(pk_nested_rid, sizeof(pk_nested_rid), false, &m), 0, "nested");
	ASSERT_EQ(m.nrids, 1, "nested dict's rid ignored");
	ASSERT_TRUE(rid_eq(&m, pk_nested_rid, 0, "right"), "own rid");
	/* Cut right after "WRONG": still only the object's own rid. */
	ASSERT_EQ(ipc_parse(pk_nested_rid, sizeof(pk_nested_rid) - 4, true, &m), 0,
		  "nested, cut");
	ASSERT_EQ(m.nrids, 1, "nested, cut: one rid");
	ASSERT_TRUE(rid_eq(&m, pk_nested_rid, 0, "right"), "nested, cut: own rid");

	/* Hand-built: PROTO 4, NEWOBJ of a STACK_GLOBAL class, a
	 * 300-byte rid in BINUNICODE and a BINUNICODE8 key. */
	buf[n++] = 0x80; buf[n++] = 4;
	buf[n++] = 0x8c; buf[n++] = 3; memcpy(buf + n, "mod", 3); n += 3;
	buf[n++] = 0x8c; buf[n++] = 8; memcpy(buf + n, "AbortReq", 8); n += 8;
	buf[n++] = 0x93;	/* STACK_GLOBAL */
	buf[n++] = ')';		/* EMPTY_TUPLE */
	buf[n++] = 0x81;	/* NEWOBJ */
	buf[n++] = '}';		/* EMPTY_DICT: the state */
	buf[n++] = '(';
	buf[n++] = 0x8d;	/* BINUNICODE8 "rid" */
	buf[n++] = 3; for (i = 0; i < 7; i++) buf[n++] = 0;
	memcpy(buf + n, "rid", 3); n += 3;
	buf[n++] = 'X';		/* BINUNICODE, 300 bytes */
	buf[n++] = 300 & 0xff; buf[n++] = 300 >> 8; buf[n++] = 0; buf[n++] = 0;
	memset(buf + n, 'L', 300); n += 300;
	buf[n++] = 'u';		/* SETITEMS */
	buf[n++] = 'b';		/* BUILD */
	buf[n++] = '.';
	ASSERT_EQ(ipc_parse(buf, n, false, &m), 0, "hand-built");
	ASSERT_STREQ(m.class_name, "AbortReq", "STACK_GLOBAL class");
	ASSERT_EQ(m.kind, IPC_KIND_ABORT, "abort kind");
	ASSERT_EQ(m.nrids, 1, "one rid");
	ASSERT_EQ(m.rids[0].len, 300, "long rid");
	{
		char small[8];

		ASSERT_EQ(ipc_rid_copy(&m, buf, 0, small, sizeof(small)), 7, "copy cut");
		ASSERT_STREQ(small, "LLLLLLL", "copy is NUL-terminated");
		ASSERT_EQ(ipc_rid_copy(&m, buf, 1, small, sizeof(small)), -1, "index out of range");
	}
	/* Not truncated but without STOP: flagged bad, rid still given. */
	ASSERT_EQ(ipc_parse(buf, n - 3, false, &m), 0, "no STOP");
	ASSERT_TRUE(m.flags & IPC_F_BAD, "no STOP: bad");
	ASSERT_EQ(m.nrids, 1, "no STOP: rid from the open region");
}

static void test_garbage(void)
{
	static struct ipc_msg m;
	static unsigned char buf[4096];
	uint32_t seed = 12345;
	size_t i, len;
	int r;

	ASSERT_EQ(ipc_parse(NULL, 10, false, &m), -EINVAL, "NULL");
	ASSERT_EQ(ipc_parse("x", 0, false, &m), -EINVAL, "empty");
	ASSERT_EQ(ipc_parse("GET / HTTP/1.1\r\n", 16, false, &m), -EINVAL, "HTTP");
	ASSERT_TRUE(m.flags & IPC_F_BAD, "HTTP: bad");
	ASSERT_EQ(ipc_parse("\x80", 1, true, &m), 0, "PROTO only, truncated");
	ASSERT_EQ(m.kind, IPC_KIND_UNKNOWN, "no class yet");
	ASSERT_EQ(ipc_parse("\x80\x05\xff", 3, false, &m), -EINVAL, "bad opcode");
	ASSERT_EQ(ipc_parse("\x93\x01\x02", 3, false, &m), -EINVAL, "msgpack without tag");
	ASSERT_EQ(ipc_parse("\x80\x05h\xc8.", 5, false, &m), 0, "BINGET of nothing");
	ASSERT_EQ(ipc_parse("\x80\x05ue.", 5, false, &m), -EINVAL, "SETITEMS without MARK");

	/* Deep nesting hits the stack bound, not the C stack. */
	buf[0] = 0x80; buf[1] = 5;
	memset(buf + 2, '(', 1000);
	ASSERT_EQ(ipc_parse(buf, 1002, true, &m), 0, "1000 MARKs");
	ASSERT_TRUE(m.flags & IPC_F_LIMIT, "1000 MARKs: limit");
	memset(buf + 2, ']', 1000);
	ipc_parse(buf, 1002, true, &m);
	ASSERT_TRUE(m.flags & IPC_F_LIMIT, "1000 lists: limit");
	/* msgpack: a huge declared array in a few bytes. */
	ASSERT_EQ(ipc_parse("\xdd\xff\xff\xff\xff\xa3" "Foo\xdd\xff\xff\xff\xff", 14, true, &m), 0,
		  "msgpack huge array");
	ASSERT_TRUE(m.flags & IPC_F_INCOMPLETE, "msgpack huge array: incomplete");

	/* Random bytes, and random bytes after a real header. */
	for (i = 0; i < 20000; i++) {
		len = 1 + (i % 700);
		for (size_t k = 0; k < len; k++) {
			seed = seed * 1103515245 + 12345;
			buf[k] = seed >> 16;
		}
		if (i % 3 == 0)
			buf[0] = 0x80;
		else if (i % 3 == 1)
			buf[0] = 0x90 | (buf[1] & 15);
		r = ipc_parse(buf, len, i & 1, &m);
		if (r && r != -EINVAL)
			break;
		if (m.nrids > IPC_MAX_RIDS || (m.nrids && m.rids[m.nrids - 1].off +
					       m.rids[m.nrids - 1].len > len))
			break;
	}
	ASSERT_EQ(i, 20000, "random input: no crash, slices in bounds");
}

/* Mutations of the real payloads. */
static void test_mutations(void)
{
	static struct ipc_msg m;
	static const char *const names[] = { "out_big", "tok_stream", "batch_tok" };
	static const char *const exts[] = { "pickle", "msgpack" };
	uint32_t seed = 777;
	size_t i, n, it, bad = 0;

	for (i = 0; i < 6; i++) {
		unsigned char *p = load(names[i / 2], exts[i % 2], &n);

		if (!p)
			continue;
		for (it = 0; it < 3000; it++) {
			unsigned char *q = malloc(n);
			size_t cut, k, j;

			if (!q)
				break;
			memcpy(q, p, n);
			for (k = 0; k < 1 + it % 8; k++) {
				seed = seed * 1103515245 + 12345;
				q[(seed >> 8) % n] = seed >> 16;
			}
			seed = seed * 1103515245 + 12345;
			cut = (seed >> 8) % (n + 1);
			ipc_parse(q, cut, it & 1, &m);
			for (j = 0; j < m.nrids; j++)
				if (m.rids[j].off + m.rids[j].len > cut)
					bad++;
			free(q);
		}
		free(p);
	}
	ASSERT_EQ(bad, 0, "mutated payloads: slices in bounds");
}

static void test_names(void)
{
	ASSERT_EQ(ipc_kind_from_class("BatchTokenIDOutput", 18),
		  IPC_KIND_BATCH_TOKEN_ID_OUTPUT, "lookup");
	ASSERT_EQ(ipc_kind_from_class("BatchTokenIDOutputX", 19), IPC_KIND_OTHER, "exact");
	ASSERT_EQ(ipc_kind_from_class("", 0), IPC_KIND_UNKNOWN, "empty");
	ASSERT_STREQ(ipc_kind_name(IPC_KIND_BATCH_STR_OUTPUT), "batch_str_output", "name");
	ASSERT_STREQ(ipc_kind_name(IPC_KIND_MAX), "invalid", "out of range");
	ASSERT_TRUE(ipc_rid_is_health_check("HEALTH_CHECK_0a1b", 17), "health check rid");
	ASSERT_TRUE(!ipc_rid_is_health_check("servetrace-1", 12), "normal rid");
}

void test_area_ipc(void)
{
	RUN_SUBTEST(test_real_payloads);
	RUN_SUBTEST(test_capture_limit);
	RUN_SUBTEST(test_pickle_opcodes);
	RUN_SUBTEST(test_garbage);
	RUN_SUBTEST(test_mutations);
	RUN_SUBTEST(test_names);
}

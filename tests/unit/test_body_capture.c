// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* 1 MB request bodies through the kernel's decisions (the mirror of
 * bpf/sock_body.bpf.h) into the collector: the body's rid is found first,
 * in the middle and last; with the old capture (the first bytes of each
 * read) or past the per-message cap, a lost id is counted, not silent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "fixture.h"
#include "kernel_mirror.h"

#define WORKER 4242
#define READ_SIZE (256 * 1024)	/* what a Python worker's recv_into gets */

static void to_collector(void *ctx, const struct sock_event *ev, const char *data)
{
	collector_handle(ctx, ev, data);
}

struct feed {
	struct fixture *f;
	struct kernel_mirror *km;
	uint64_t now;
	uint32_t capture;	/* 0: the mirror (full data in, kernel out) */
	char *buf;
};

static void event(struct feed *fd, uint32_t type, int dir, const char *data, long ret)
{
	struct sock_event *e = (struct sock_event *)fd->buf;
	size_t cap = ret > 0 ? (size_t)ret : 0;

	if (fd->capture && cap > fd->capture)
		cap = fd->capture;
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->tgid = e->tid = WORKER;
	e->fd = 7;
	e->sock_id = 0x1000;
	gen_endpoint(&e->local, 30001);
	gen_endpoint(&e->peer, 40001);
	e->dir = dir;
	e->ts_enter = fd->now;
	e->ts_exit = fd->now + 1000;
	e->ret = type == EV_ACCEPT ? 7 : ret;
	e->cap_len = cap;
	e->truncated = ret > (long)cap;
	e->syscall = dir == DIR_READ ? SC_READ : SC_WRITE;
	if (cap)
		memcpy(e + 1, data, cap);
	fd->now += MS;
	if (fd->capture)
		collector_handle(fd->f->col, e, (const char *)(e + 1));
	else
		kernel_mirror_feed(fd->km, e, (const char *)(e + 1));
}

/* One connection: a POST with body, read in READ_SIZE calls, a small
 * response, a close. */
static void exchange(struct feed *fd, const char *body, size_t len)
{
	char head[256];
	size_t hl = snprintf(head, sizeof(head), "POST /generate HTTP/1.1\r\nhost: x\r\n"
			     "content-type: application/json\r\ncontent-length: %zu\r\n\r\n", len);
	char *first = malloc(READ_SIZE);
	size_t take = READ_SIZE - hl < len ? READ_SIZE - hl : len;
	const char *resp = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
			   "content-length: 2\r\n\r\n{}";

	event(fd, EV_ACCEPT, DIR_READ, NULL, 0);
	memcpy(first, head, hl);
	memcpy(first + hl, body, take);
	event(fd, EV_DATA, DIR_READ, first, hl + take);
	for (size_t off = take; off < len; off += READ_SIZE)
		event(fd, EV_DATA, DIR_READ, body + off, len - off < READ_SIZE ? len - off : READ_SIZE);
	event(fd, EV_DATA, DIR_WRITE, resp, strlen(resp));
	event(fd, EV_CLOSE, DIR_READ, NULL, 0);
	free(first);
}

static char *big_body(const char *where, const char *rid, size_t words, size_t *len)
{
	char *text = malloc(words * 5 + 1), *body = malloc(words * 5 + 256);

	for (size_t i = 0; i < words; i++)
		memcpy(text + 5 * i, "word ", 5);
	text[words * 5] = 0;
	if (!strcmp(where, "first"))
		*len = sprintf(body, "{\"rid\":\"%s\",\"text\":\"%s\",\"sampling_params\":{}}", rid, text);
	else if (!strcmp(where, "mid"))
		*len = sprintf(body, "{\"text\":\"%s\",\"rid\":\"%s\",\"sampling_params\":{}}", text, rid);
	else
		*len = sprintf(body, "{\"text\":\"%s\",\"sampling_params\":{},\"rid\":\"%s\"}", text, rid);
	free(text);
	return body;
}

static void run(uint32_t capture, size_t words, const char *const want[3], uint64_t lost)
{
	static const char *const where[] = { "first", "mid", "last" };
	struct fixture *f = fixture_setup(&(struct fixture_opts){ 0 });
	struct feed fd = { .f = f, .now = MS, .capture = capture };
	char rid[32], what[96];

	fd.km = kernel_mirror_new(to_collector, f->col);
	fd.buf = malloc(sizeof(struct sock_event) + words * 5 + 512);
	collector_set_role(f->col, WORKER, ROLE_WORKER);
	for (int k = 0; k < 3; k++) {
		size_t len;
		char *body;

		snprintf(rid, sizeof(rid), "big-%s", where[k]);
		body = big_body(where[k], rid, words, &len);
		exchange(&fd, body, len);
		free(body);
	}
	fixture_tick(f, fd.now + 2000 * MS);
	for (int k = 0; k < 3; k++) {
		const struct timeline_row *r;

		snprintf(rid, sizeof(rid), "big-%s", where[k]);
		r = fixture_row(f, rid);
		snprintf(what, sizeof(what), "capture %u: rid %s %s", capture, where[k],
			 want[k] ? "found" : "not found");
		ASSERT_TRUE(want[k] ? r && !strcmp(r->rid_source, "body") : !r, what);
	}
	ASSERT_EQ(f->nrows, 3, "a row for each request, found or not");
	ASSERT_EQ(collector_stats(f->col)->body_ids_lost, lost, "lost ids counted");
	ASSERT_EQ(collector_stats(f->col)->stream_gaps, 0, "no records lost");
	kernel_mirror_free(fd.km);
	free(fd.buf);
	fixture_teardown(f);
}

/* The kernel sends a request body whole: every rid is found. */
static void test_whole_body_found(void)
{
	static const char *const all[3] = { "first", "mid", "last" };

	run(0, 1 << 18, all, 0);
}

/* The first 8 KiB of each read only (the capture before request bodies
 * were sent whole): the rid at the start is found, the others are lost,
 * and counted. */
static void test_capture_gaps_counted(void)
{
	static const char *const first_only[3] = { "first", NULL, NULL };

	run(DEFAULT_CAPTURE, 1 << 18, first_only, 2);
}

/* A body past the kernel's per-message cap (4 MiB): the rid before the
 * cap is found, the one after it counted lost. */
static void test_body_cap(void)
{
	static const char *const first_only[3] = { "first", NULL, NULL };

	run(0, (5u << 20) / 5, first_only, 2);
}

void test_area_body_capture(void)
{
	RUN_SUBTEST(test_whole_body_found);
	RUN_SUBTEST(test_capture_gaps_counted);
	RUN_SUBTEST(test_body_cap);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* What the kernel holds back of a stream against a full capture: two
 * streamed /generate responses on one keep-alive worker connection, each
 * written in pieces the input sizes (cut anywhere: in a size line, an
 * event, its CRLF), fed once as captured whole and once through the
 * kernel's decisions (tests/unit/kernel_mirror.c). The rows must agree:
 * token counts and error; the full capture's counts must be the events
 * written. Input:
 *   byte 0: events per response, 1-64
 *   byte 1: bit 0: a proxy re-chunks the events (chunk sizes from the
 *           piece list, not one chunk per event); bit 1: an "event:" line
 *           before every third event; bit 2: a ": keep-alive" comment
 *           chunk every fifth event (one chunk per event only)
 *   byte 2: text padding per event, 0-255 bytes
 *   then piece sizes, 2 bytes each (little endian, MIN_PIECE-8191), used in turn
 *   for the writes (and for the proxy's chunks).
 * HELD_STREAM_VERBOSE=1 prints the held-back feed's records and both
 * rows' counts (to read a crash input). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fixture.h"
#include "kernel_mirror.h"

#define FUZZ_CHECK(cond) do { if (!(cond)) abort(); } while (0)
#define WIRE_MAX (64 * 1024)
/* Calls smaller than an event (here up to ~360 bytes) are outside what
 * the kernel follows: the two tails it keeps would not hold the last
 * event's counts, and a chunk whose "data:" starts in a later call is
 * not counted. Servers write whole events, and TCP frees send-buffer
 * room by acknowledged segments, so real partial writes are bigger. */
#define MIN_PIECE 512

struct sizes {
	const uint8_t *p;
	size_t n, at;
};

static size_t next_size(struct sizes *s)
{
	size_t v;

	if (s->n < 2)
		return 4096;
	v = ((size_t)s->p[s->at] | (size_t)s->p[s->at + 1] << 8) % (8192 - MIN_PIECE) + MIN_PIECE;
	s->at = (s->at + 2) % (s->n & ~(size_t)1);
	return v;
}

struct feed {
	struct fixture *f;
	struct gen_conn conn;
	struct kernel_mirror *km;	/* NULL: a full capture */
	char buf[sizeof(struct sock_event) + WIRE_MAX];
};

static void call(struct feed *h, uint32_t type, int dir, const char *data, size_t len)
{
	struct sock_event *e = gen_record(&h->conn, h->buf, sizeof(h->buf) - sizeof(*e), type,
					  dir, data, len, type == EV_ACCEPT ? h->conn.fd : (long)len);

	if (h->km)
		kernel_mirror_feed(h->km, e, (const char *)(e + 1));
	else
		collector_handle(h->f->col, e, (const char *)(e + 1));
}

/* HELD_STREAM_VERBOSE: one line per record the mirror sends (CR as ~,
 * LF as ^). */
static void print_record(const struct sock_event *ev, const char *data)
{
	fprintf(stderr, "T%u off %llu ret %lld cap %u capoff %u skip %llu/%u ev %u fr %u cl %u "
		"prev %u fl %x |", ev->type, (unsigned long long)ev->stream_off, (long long)ev->ret,
		ev->cap_len, ev->cap_off, (unsigned long long)ev->skip_bytes, ev->skip_calls,
		ev->skip_events, ev->skip_framing, ev->skip_chunk_left, ev->prev_len, ev->flags);
	for (uint32_t i = 0; i < ev->cap_len && i < 60; i++)
		fputc(data[i] == '\r' ? '~' : data[i] == '\n' ? '^' : data[i], stderr);
	fputc('\n', stderr);
}

static void to_collector(void *ctx, const struct sock_event *ev, const char *data)
{
	if (getenv("HELD_STREAM_VERBOSE") && ev->dir == DIR_WRITE)
		print_record(ev, data);
	collector_handle(ctx, ev, data);
}

/* The response's wire bytes; 0 if they would not fit. */
static size_t response(char *w, int events, uint8_t flags, int pad, const char *rid,
		       struct sizes *sz)
{
	static const char head[] = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
				   "transfer-encoding: chunked\r\n\r\n";
	char *text = malloc(WIRE_MAX);
	size_t tl = 0, wl = 0;
	char padding[256];

	memset(padding, 'x', sizeof(padding));
	/* the event stream, before any chunking */
	for (int i = 0; i <= events && tl < WIRE_MAX / 2; i++) {
		if (i < events && (flags & 2) && i % 3 == 0)
			tl += snprintf(text + tl, WIRE_MAX - tl, "event: token\n");
		if (i < events)
			tl += snprintf(text + tl, WIRE_MAX - tl,
				       "data: {\"text\":\" t%d%.*s\",\"meta_info\":{\"id\":\"%s\","
				       "\"prompt_tokens\":8,\"completion_tokens\":%d}}\n\n",
				       i, pad, padding, rid, i + 1);
		else
			tl += snprintf(text + tl, WIRE_MAX - tl, "data: [DONE]\n\n");
	}
	if (tl >= WIRE_MAX / 2) {
		free(text);
		return 0;
	}
	wl = snprintf(w, WIRE_MAX, "%s", head);
	if (flags & 1) {
		/* a proxy's chunks: anywhere in the text */
		for (size_t at = 0; at < tl;) {
			size_t n = next_size(sz);

			if (n > tl - at)
				n = tl - at;
			wl += snprintf(w + wl, WIRE_MAX - wl, "%zx\r\n", n);
			memcpy(w + wl, text + at, n);
			wl += n;
			wl += snprintf(w + wl, WIRE_MAX - wl, "\r\n");
			at += n;
		}
	} else {
		/* one chunk per event (and per "event:" line's event) */
		size_t at = 0;
		int k = 0;

		while (at < tl) {
			const char *end = strstr(text + at, "\n\n");
			size_t n = end ? (size_t)(end + 2 - (text + at)) : tl - at;

			if (!strncmp(text + at, "event:", 6)) {
				const char *nl = strchr(text + at, '\n');

				end = strstr(nl + 1, "\n\n");
				n = (size_t)(end + 2 - (text + at));
			}
			if ((flags & 4) && k++ % 5 == 4)
				wl += snprintf(w + wl, WIRE_MAX - wl, "d\r\n: keep-alive\n\r\n");
			wl += snprintf(w + wl, WIRE_MAX - wl, "%zx\r\n", n);
			memcpy(w + wl, text + at, n);
			wl += n;
			wl += snprintf(w + wl, WIRE_MAX - wl, "\r\n");
			at += n;
		}
	}
	wl += snprintf(w + wl, WIRE_MAX - wl, "0\r\n\r\n");
	free(text);
	return wl < WIRE_MAX - 64 ? wl : 0;
}

struct got {
	long long actual[2], traced[2];
	char error[2][64];
	bool found[2];
};

static void run(bool mirrored, const char *wire[2], const size_t wl[2], struct sizes sz,
		struct got *g)
{
	static const char *rids[2] = { "held-1", "held-2" };
	struct feed *h = calloc(1, sizeof(*h));
	char req[512], body[128];

	h->f = fixture_setup(&(struct fixture_opts){ 0 });
	h->conn = gen_conn(&h->f->gen, 7, 7, 30001, 40001);
	if (mirrored)
		h->km = kernel_mirror_new(to_collector, h->f->col);
	collector_set_role(h->f->col, 7, ROLE_WORKER);
	call(h, EV_ACCEPT, DIR_READ, NULL, 0);
	for (int r = 0; r < 2; r++) {
		int bl = snprintf(body, sizeof(body), "{\"text\":\"hi\",\"stream\":true,\"rid\":\"%s\"}",
				  rids[r]);
		int ql = snprintf(req, sizeof(req), "POST /generate HTTP/1.1\r\nhost: x\r\n"
				  "content-type: application/json\r\ncontent-length: %d\r\n\r\n%s",
				  bl, body);

		call(h, EV_DATA, DIR_READ, req, ql);
		for (size_t at = 0; at < wl[r];) {
			size_t n = next_size(&sz);

			if (n > wl[r] - at)
				n = wl[r] - at;
			call(h, EV_DATA, DIR_WRITE, wire[r] + at, n);
			at += n;
		}
	}
	call(h, EV_CLOSE, DIR_READ, NULL, 0);
	fixture_tick(h->f, h->f->gen.now + 2000 * MS);
	for (int r = 0; r < 2; r++) {
		const struct timeline_row *row = fixture_row(h->f, rids[r]);

		g->found[r] = row != NULL;
		if (!row)
			continue;
		g->actual[r] = row->actual_output_tokens;
		g->traced[r] = row->output_tokens_from_trace;
		snprintf(g->error[r], sizeof(g->error[r]), "%s", row->error);
	}
	kernel_mirror_free(h->km);
	fixture_teardown(h->f);
	free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *rids[2] = { "held-1", "held-2" };
	struct sizes sz = { data + 3, size > 3 ? size - 3 : 0, 0 };
	char *wire[2];
	size_t wl[2];
	struct got full = { 0 }, held = { 0 };
	int events, pad;
	uint8_t flags;

	if (size < 5)
		return -1;
	events = 1 + data[0] % 64;
	flags = data[1];
	pad = data[2];
	for (int r = 0; r < 2; r++) {
		struct sizes chunking = sz;

		wire[r] = malloc(WIRE_MAX);
		wl[r] = response(wire[r], events, flags, pad, rids[r], &chunking);
	}
	if (wl[0] && wl[1]) {
		run(false, (const char **)wire, wl, sz, &full);
		run(true, (const char **)wire, wl, sz, &held);
		if (getenv("HELD_STREAM_VERBOSE"))
			for (int r = 0; r < 2; r++)
				fprintf(stderr, "r%d events %d full %lld/%lld '%s' held %lld/%lld '%s'\n", r, events,
					full.actual[r], full.traced[r], full.error[r], held.actual[r],
					held.traced[r], held.error[r]);
		for (int r = 0; r < 2; r++) {
			FUZZ_CHECK(full.found[r]);
			FUZZ_CHECK(!strcmp(full.error[r], ""));
			FUZZ_CHECK(full.actual[r] == events);
			FUZZ_CHECK(held.found[r]);
			FUZZ_CHECK(!strcmp(held.error[r], full.error[r]));
			FUZZ_CHECK(held.actual[r] == full.actual[r]);
			FUZZ_CHECK(held.traced[r] == full.traced[r]);
		}
	}
	free(wire[0]);
	free(wire[1]);
	return 0;
}

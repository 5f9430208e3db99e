/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Server-sent events (text/event-stream) parser, fed the de-chunked body
 * of one response in arbitrary splits. Follows the WHATWG event-stream
 * interpretation: LF, CRLF or CR line ends, ':' comments, one optional
 * space after the colon, data lines joined with '\n', an event dispatched
 * at a blank line and only if it had a data field. No allocation; the
 * per-event data buffer is bounded (SSE_DATA_MAX, prefix kept). */
#ifndef SERVETRACE_SSE_PARSER_H
#define SERVETRACE_SSE_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SSE_DATA_MAX	(64 * 1024)
#define SSE_TYPE_MAX	64
#define SSE_PROBE_MAX	8

struct sse_event {
	const char *data;	/* NUL-terminated, data_len bytes */
	size_t data_len;	/* bytes kept */
	size_t data_total;	/* bytes the event really had */
	const char *type;	/* "event:" field, "message" if none */
	bool truncated;		/* data_total > data_len */
	bool gap;		/* bytes of this event were not captured */
	bool done;		/* data is exactly "[DONE]" (OpenAI end mark) */
};

typedef void (*sse_event_fn)(void *ctx, const struct sse_event *ev,
			     uint64_t ts);

struct sse_stats {
	uint64_t events;	/* dispatched */
	uint64_t truncated;	/* of which truncated */
	uint64_t gap_events;	/* of which gap */
	uint64_t done;		/* of which [DONE] */
	uint64_t comments;	/* ':' lines (keep-alive pings) */
	uint64_t gaps;		/* sse_parser_gap calls */
	uint64_t skipped_partial;	/* events cut by sse_parser_skip */
	uint64_t partial_dropped; /* unfinished event at sse_parser_finish */
};

struct sse_parser {
	sse_event_fn on_event;
	void *ctx;
	int state;
	int field;
	bool after_cr;		/* a following LF belongs to that CR */
	int bom_pos;		/* UTF-8 BOM bytes matched at stream start */
	char name[8];		/* field name prefix */
	size_t name_len;
	char probe[SSE_PROBE_MAX];	/* bytes seen after a gap */
	size_t probe_len;
	bool ev_gap;
	uint64_t gap_ts;
	char type[SSE_TYPE_MAX];
	size_t type_len;
	size_t data_len;
	size_t data_total;
	struct sse_stats stats;
	char data[SSE_DATA_MAX + 1];
};

void sse_parser_init(struct sse_parser *p, sse_event_fn on_event, void *ctx);
/* ts: of the piece; an event gets the ts of the piece that completed it. */
void sse_parser_feed(struct sse_parser *p, const char *buf, size_t n,
		     uint64_t ts);
/* n body bytes were not captured. The event in progress is flagged gap.
 * If the bytes after the gap start a field line ("data:", "event:",
 * "id:", "retry:", ":"), the gap is taken to have ended that event (as
 * when a large "data: ...\n\n" write is cut): it is dispatched with gap
 * set and ts of the gap. Otherwise the cut line is skipped to its end. */
void sse_parser_gap(struct sse_parser *p, size_t n, uint64_t ts);
/* Events went by that the kernel counted instead of sending (whole, at
 * event boundaries). Drops the event in progress, if any, and returns
 * whether there was one (its start was seen, its end was not). */
bool sse_parser_skip(struct sse_parser *p);
/* The bytes that follow may start inside an event whose start was not
 * sent: as after a gap, a line that does not start a field is skipped,
 * but nothing is flagged or counted (the kernel counted those events). */
void sse_parser_resync(struct sse_parser *p);
/* End of the body. An event without its blank line is dropped, as the
 * spec says, and counted in partial_dropped. Resets the parser. */
void sse_parser_finish(struct sse_parser *p, uint64_t ts);

#endif

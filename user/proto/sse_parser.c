// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Streaming text/event-stream parser: a byte state machine that never
 * buffers a whole line, only the current event's data (bounded). */
#include <string.h>
#include "proto/sse_parser.h"

enum sse_state {
	SS_LINE_START,
	SS_FIELD,	/* reading a field name */
	SS_VALUE_START,	/* just after ':' (one space is dropped) */
	SS_VALUE,
	SS_IGNORE,	/* comment, or the tail of a line cut by a gap */
	SS_PROBE,	/* after a gap: does a field line start here? */
};

enum sse_field { F_OTHER, F_DATA, F_EVENT };

static const unsigned char bom[3] = { 0xef, 0xbb, 0xbf };

/* Line starts that say "a new line begins here" after a gap. */
static const char *const probe_marks[] = {
	"data:", "event:", "id:", "retry:", ":",
};

static void reset_event(struct sse_parser *p)
{
	p->data_len = 0;
	p->data_total = 0;
	p->type_len = 0;
	p->ev_gap = false;
}

static void data_append(struct sse_parser *p, const char *s, size_t n)
{
	size_t room = SSE_DATA_MAX - p->data_len;
	size_t k = n < room ? n : room;

	memcpy(p->data + p->data_len, s, k);
	p->data_len += k;
	p->data_total += n;
}

static void type_append(struct sse_parser *p, const char *s, size_t n)
{
	size_t room = SSE_TYPE_MAX - 1 - p->type_len;
	size_t k = n < room ? n : room;

	memcpy(p->type + p->type_len, s, k);
	p->type_len += k;
}

static void dispatch(struct sse_parser *p, uint64_t ts)
{
	struct sse_event ev;

	if (!p->data_total) {		/* no data field: nothing to fire */
		reset_event(p);
		return;
	}
	/* drop the '\n' the last data line added, if it was kept */
	if (p->data_len == p->data_total)
		p->data_len--;
	p->data_total--;
	p->data[p->data_len] = '\0';
	p->type[p->type_len] = '\0';

	ev.data = p->data;
	ev.data_len = p->data_len;
	ev.data_total = p->data_total;
	ev.type = p->type_len ? p->type : "message";
	ev.truncated = p->data_len < p->data_total;
	ev.gap = p->ev_gap;
	ev.done = !ev.truncated && p->data_len == 6 &&
		  !memcmp(p->data, "[DONE]", 6);

	p->stats.events++;
	p->stats.truncated += ev.truncated;
	p->stats.gap_events += ev.gap;
	p->stats.done += ev.done;
	if (p->on_event)
		p->on_event(p->ctx, &ev, ts);
	reset_event(p);
}

static void field_begin(struct sse_parser *p)
{
	p->field = F_OTHER;
	if (p->name_len == 4 && !memcmp(p->name, "data", 4)) {
		p->field = F_DATA;
	} else if (p->name_len == 5 && !memcmp(p->name, "event", 5)) {
		p->field = F_EVENT;
		p->type_len = 0;
	}
}

static void line_end(struct sse_parser *p, char c)
{
	if ((p->state == SS_VALUE || p->state == SS_VALUE_START) &&
	    p->field == F_DATA)
		data_append(p, "\n", 1);
	p->state = SS_LINE_START;
	p->after_cr = c == '\r';
}

static void feed_bytes(struct sse_parser *p, const char *buf, size_t n,
		       uint64_t ts);

/* After a gap: 1 = a field line starts in the probe, 0 = undecided,
 * -1 = mid-line. */
static int probe_check(const struct sse_parser *p)
{
	size_t i, len;
	bool prefix = false;

	for (i = 0; i < sizeof(probe_marks) / sizeof(probe_marks[0]); i++) {
		len = strlen(probe_marks[i]);
		if (p->probe_len > len ||
		    memcmp(p->probe, probe_marks[i], p->probe_len))
			continue;
		if (p->probe_len == len)
			return 1;
		prefix = true;
	}
	return prefix ? 0 : -1;
}

/* Returns bytes consumed from buf (at least one unless leaving PROBE). */
static size_t do_probe(struct sse_parser *p, char c, uint64_t ts)
{
	char replay[SSE_PROBE_MAX];
	size_t len;
	int r;

	p->probe[p->probe_len++] = c;
	r = probe_check(p);
	if (r == 0)
		return 1;
	if (r < 0) {
		/* the byte may end the cut line: let SS_IGNORE see it */
		p->probe_len = 0;
		p->state = SS_IGNORE;
		return 0;
	}
	/* the gap ended the event in progress */
	if (p->data_total)
		dispatch(p, p->gap_ts);
	else
		reset_event(p);
	len = p->probe_len;
	memcpy(replay, p->probe, len);
	p->probe_len = 0;
	p->state = SS_LINE_START;
	feed_bytes(p, replay, len, ts);
	return 1;
}

static void feed_bytes(struct sse_parser *p, const char *buf, size_t n,
		       uint64_t ts)
{
	size_t i = 0, j;

	while (i < n) {
		char c = buf[i];

		if (p->after_cr) {
			p->after_cr = false;
			if (c == '\n') {
				i++;
				continue;
			}
		}
		if (p->bom_pos < 3) {
			if ((unsigned char)c == bom[p->bom_pos]) {
				p->bom_pos++;
				i++;
				continue;
			}
			p->bom_pos = 3;
		}

		switch (p->state) {
		case SS_LINE_START:
			if (c == '\r' || c == '\n') {
				dispatch(p, ts);
				line_end(p, c);
				i++;
			} else if (c == ':') {
				p->stats.comments++;
				p->state = SS_IGNORE;
				i++;
			} else {
				p->name_len = 0;
				p->state = SS_FIELD;
			}
			break;
		case SS_FIELD:
			if (c == ':') {
				field_begin(p);
				p->state = SS_VALUE_START;
			} else if (c == '\r' || c == '\n') {
				/* a name alone is the field with value "" */
				field_begin(p);
				p->state = SS_VALUE;
				line_end(p, c);
			} else {
				if (p->name_len < sizeof(p->name))
					p->name[p->name_len] = c;
				p->name_len++;
			}
			i++;
			break;
		case SS_VALUE_START:
			p->state = SS_VALUE;
			if (c == ' ')
				i++;
			break;
		case SS_VALUE:
		case SS_IGNORE:
			for (j = i; j < n && buf[j] != '\n' && buf[j] != '\r'; j++)
				;
			if (p->state == SS_VALUE) {
				if (p->field == F_DATA)
					data_append(p, buf + i, j - i);
				else if (p->field == F_EVENT)
					type_append(p, buf + i, j - i);
			}
			if (j < n) {
				line_end(p, buf[j]);
				j++;
			}
			i = j;
			break;
		case SS_PROBE:
			i += do_probe(p, c, ts);
			break;

		}
	}
}

void sse_parser_init(struct sse_parser *p, sse_event_fn on_event, void *ctx)
{
	/* the data buffer needs no clearing: only data_len bytes are read */
	memset(p, 0, offsetof(struct sse_parser, data));
	p->on_event = on_event;
	p->ctx = ctx;
	p->state = SS_LINE_START;
}

void sse_parser_feed(struct sse_parser *p, const char *buf, size_t n,
		     uint64_t ts)
{
	feed_bytes(p, buf, n, ts);
}

void sse_parser_gap(struct sse_parser *p, size_t n, uint64_t ts)
{
	if (!n)
		return;
	p->stats.gaps++;
	/* close the cut line so its data keeps its line end */
	if (p->state == SS_VALUE || p->state == SS_VALUE_START)
		line_end(p, '\n');
	p->after_cr = false;
	p->bom_pos = 3;
	p->state = SS_PROBE;
	p->probe_len = 0;
	p->ev_gap = true;
	p->gap_ts = ts;
}

bool sse_parser_skip(struct sse_parser *p)
{
	bool partial = p->data_total || p->state == SS_VALUE ||
		       p->state == SS_VALUE_START || p->state == SS_FIELD;

	reset_event(p);
	p->state = SS_LINE_START;
	p->after_cr = false;
	p->bom_pos = 3;
	p->probe_len = 0;
	if (partial)
		p->stats.skipped_partial++;
	return partial;
}

void sse_parser_resync(struct sse_parser *p)
{
	reset_event(p);
	p->after_cr = false;
	p->bom_pos = 3;
	p->state = SS_PROBE;
	p->probe_len = 0;
}

void sse_parser_finish(struct sse_parser *p, uint64_t ts)
{
	if (p->data_total || p->state == SS_VALUE ||
	    p->state == SS_VALUE_START || p->state == SS_FIELD)
		p->stats.partial_dropped++;
	reset_event(p);
	p->state = SS_LINE_START;
	p->after_cr = false;
	p->bom_pos = 0;
	p->probe_len = 0;
}

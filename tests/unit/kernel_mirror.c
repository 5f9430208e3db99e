// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The decisions of exit_data_call() and enter_close() in bpf/sock.bpf.c,
 * over whole buffers instead of peeks; the byte tests themselves are the
 * shared ones of bpf/sock_stream.h. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "kernel_mirror.h"
#include "sock_h2.h"
#include "sock_stream.h"

#define MIRROR_CONNS 1024
#define MIRROR_BODY_WHOLE_MAX (4u << 20)	/* body_whole_max's default */

struct mirror_conn {
	uint64_t sock_id;
	struct conn_dir d[2];
	struct mirror_tail {	/* sse_tails: per direction, two slots */
		char data[SSE_TAIL_MAX];
		uint32_t len;
		bool whole;
		uint64_t call_off, call_len, ts;
	} tail[2][2];
	struct h2k_state h2[2];
	bool h2_state[2];	/* the kernel's h2k_states entry exists */
};

struct kernel_mirror {
	kernel_mirror_fn out;
	void *ctx;
	struct mirror_conn conns[MIRROR_CONNS];
	uint64_t skipped;
	uint64_t end_splits_mid_chunk;	/* ends split from a call begun mid-chunk */
	uint64_t head_splits;		/* calls sent up to their first event */
	uint64_t cut_heads;		/* calls whose end cut a chunk-size line */
	uint64_t unaligned;		/* calls whose framing was lost (sent) */
	char buf[sizeof(struct sock_event) + MAX_CAPTURE];
};

static struct mirror_conn *conn_of(struct kernel_mirror *km, uint64_t sock_id, bool reset)
{
	struct mirror_conn *c = &km->conns[(sock_id ^ sock_id >> 6) % MIRROR_CONNS];

	if (c->sock_id != sock_id || reset) {
		memset(c, 0, sizeof(*c));
		c->sock_id = sock_id;
	}
	return c;
}

/* head_end() of the kernel: "\r\n\r\n" within the first HEAD_SCAN_MAX bytes. */
static uint64_t head_end(const char *b, uint64_t len)
{
	for (uint64_t i = 0; i + 4 <= len && i + 4 <= HEAD_SCAN_MAX; i++)
		if (!memcmp(b + i, "\r\n\r\n", 4))
			return i + 4;
	return 0;
}

static uint32_t peek_len(uint64_t off, uint64_t len)
{
	return off < len ? (len - off < PEEK_MAX ? len - off : PEEK_MAX) : 0;
}

/* classify_call() of the kernel, over the call's whole data. */
/* What classify() found in a call: walk_chunk()'s and walk_step()'s
 * struct walk in the kernel. */
struct mwalk {
	uint32_t events, framing, first_framing;
	uint64_t end_at, first_end;
	bool done_only;
	bool cut_rest;		/* the call began with a cut size line's rest */
	uint32_t heads;		/* chunk-size lines read in this call */
};

/* walk_chunk(): a chunk whose size line is at *off, counted, passed. */
static void walk_chunk(struct conn_dir *d, struct mwalk *w, const struct chunk_head *ch,
		       uint64_t *off, uint64_t len, int *kind)
{
	if (ch->sse_data) {
		if (!ch->sse_done) {
			w->events += 1;
			w->done_only = false;
			if (w->events == 1) {
				w->first_end = *off + ch->head_len + ch->size + 2;
				w->first_framing = w->framing + ch->head_len + 2;
			}
		}
	} else {
		w->done_only = false;
	}
	if (!ch->sse_data && !ch->sse_other &&
	    *off + ch->head_len + 6 <= len && *kind == CALL_SSE && !d->in_stream)
		*kind = CALL_SEND;
	*off += ch->head_len + ch->size + 2;
	w->framing += ch->head_len + 2;
}

static int classify(struct conn_dir *d, const char *b, uint64_t len, bool complete,
		    struct mwalk *w)
{
	int kind = CALL_SSE, result = CALL_UNALIGNED;
	uint64_t off = 0;
	uint32_t confirm = d->framing == FRAMING_TENTATIVE;	/* heads that make it sure */

	memset(w, 0, sizeof(*w));
	w->done_only = true;
	if (!complete) {
		d->framing = 0;
		return stream_head_kind(b, peek_len(0, len)) == HEAD_MESSAGE ? CALL_MESSAGE : CALL_SEND;
	}
	if (d->framing && d->head_cut) {
		struct chunk_head ch;
		uint32_t size = d->cut_size;
		uint8_t state = d->head_cut;
		int r = chunk_head_rest(b, peek_len(0, len), &state, &size, &ch);

		if (r == HEAD_REST_CUT && peek_len(0, len) == len) {
			/* a call inside the line: held in a stream, still cut */
			d->head_cut = state;
			d->cut_size = size;
			w->framing = len;
			return d->framing == FRAMING_KNOWN && d->in_stream ? CALL_SSE : CALL_SEND;
		}
		if (r != HEAD_REST_DONE) {
			d->framing = d->head_cut = 0;
			return CALL_UNALIGNED;
		}
		w->cut_rest = true;
		w->heads = 1;
		walk_chunk(d, w, &ch, &off, len, &kind);
	} else if (d->framing) {
		off = d->chunk_left;
		if (d->chunk_left)
			w->done_only = false;
	} else {
		struct chunk_head ch;
		int head = stream_head_kind(b, peek_len(0, len));

		if (head == HEAD_MESSAGE) {
			kind = CALL_MESSAGE;
			if (len < 5 || memcmp(b, "HTTP/", 5))
				return CALL_MESSAGE;	/* a request: framing not followed */
			off = head_end(b, len);
			if (!off)
				return CALL_MESSAGE;
		} else if (head == HEAD_OTHER || !chunk_head_parse(b, peek_len(0, len), &ch)) {
			return CALL_SEND;
		} else {
			confirm = 2;	/* a size line at the start: maybe one */
		}
	}
	d->framing = d->head_cut = 0;
	for (int k = 0; k < SSE_CHUNKS_MAX; k++) {
		struct chunk_head ch;
		uint32_t n = peek_len(off, len), size;
		uint8_t state;

		bool sure = w->heads >= confirm;

		if (off >= len) {
			d->chunk_left = off - len;
			d->framing = sure ? FRAMING_KNOWN : FRAMING_TENTATIVE;
			return sure ? kind : CALL_UNALIGNED;
		}
		if (!chunk_head_parse(b + off, n, &ch)) {
			if (off + n == len && chunk_head_cut(b + off, n, &size, &state)) {
				/* the call's end cut a size line: the next finishes it */
				w->framing += n;
				d->chunk_left = 0;
				d->head_cut = state;
				d->cut_size = size;
				d->framing = sure ? FRAMING_KNOWN : FRAMING_TENTATIVE;
				return sure ? kind : CALL_UNALIGNED;
			}
			w->first_end = 0;
			return kind == CALL_MESSAGE ? kind : CALL_UNALIGNED;
		}
		w->heads++;
		if (ch.size == 0) {
			w->first_end = 0;
			if (w->heads < confirm)
				return CALL_UNALIGNED;
			if (kind == CALL_SSE)
				w->end_at = off;
			return kind == CALL_MESSAGE ? kind : CALL_SEND;
		}
		walk_chunk(d, w, &ch, &off, len, &kind);
	}
	(void)result;
	w->first_end = 0;
	return kind == CALL_MESSAGE ? kind : CALL_UNALIGNED;
}

/* ---- HTTP/2: bpf/sock_h2.bpf.h over whole buffers ------------------- */

enum { H2K_NOT, H2K_SENT, H2K_HELD };
enum { H2KS_MORE, H2KS_END, H2KS_LOST };

/* h2k_seek_ok() */
static bool h2_seek_ok(const uint8_t *b, uint64_t len)
{
	uint64_t next;

	if (len < H2K_HEAD || !h2k_head_valid(b))
		return false;
	next = H2K_HEAD + ((uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2]);
	if (next > len)
		return false;
	return next + H2K_HEAD > len || h2k_head_valid(b + next);
}

/* h2k_first() */
static int h2_first(const uint8_t *b, uint64_t len, uint32_t *start)
{
	struct chunk_head ch;
	uint32_t n = peek_len(0, len);
	int head = stream_head_kind((const char *)b, n);

	*start = 0;
	if (head == HEAD_OTHER) {
		*start = H2K_PREFACE_LEN;
		return H2K_SYNCED;
	}
	if (head == HEAD_MESSAGE || chunk_head_parse((const char *)b, n, &ch))
		return H2K_OFF;
	return h2_seek_ok(b, len) ? H2K_SYNCED : H2K_SEEK;
}

/* h2k_step() in the bpf_loop of h2k_walk_call() */
static int h2_walk(struct h2k_state *st, const uint8_t *b, uint64_t len, uint64_t off,
		   struct h2k_call *c)
{
	for (int k = 0; k < H2K_FRAMES_MAX; k++) {
		uint32_t n = peek_len(off, len), tag_at = 0, tokens = 0;
		struct h2k_head h;
		int kind;

		if (off >= len)
			return H2KS_END;
		if (n < H2K_HEAD) {
			memcpy(st->hb, b + off, n);
			st->hn = n;
			c->hold = 0;
			return H2KS_END;
		}
		if ((b[off + 5] & 0x80) || b[off + 3] > H2K_CONTINUATION)
			return H2KS_LOST;
		h2k_head_parse(b + off, &h);
		kind = h2k_frame_kind(&h, b + off + H2K_HEAD, n - H2K_HEAD, &tag_at);
		if (kind == H2KF_NEED_TAG) {
			kind = H2KF_SEND;
			if (off + H2K_HEAD + h.len <= len &&
			    h2k_tag_is_chunk(b[off + H2K_HEAD + tag_at]))
				kind = H2KF_CHUNK;
		} else if (kind == H2KF_NEED_VLLM) {
			uint32_t want = h.len - tag_at;
			uint8_t t[H2K_VTAIL_BUF] = { 0 };
			int got = -1;

			kind = H2KF_SEND;
			if (off + H2K_HEAD + h.len <= len && want <= H2K_VTAIL_MAX) {
				memcpy(t, b + off + H2K_HEAD + tag_at, want);
				got = h2k_vllm_tokens(t, want);
			}
			if (got >= 0) {
				kind = H2KF_CHUNK;
				tokens = got;
			}
		}
		h2k_frame_tokens(st, c, &h, kind, tokens);
		off += H2K_HEAD + h.len;
		if (off > len) {
			st->frame_left = off - len;
			c->hold = 0;
			return H2KS_END;
		}
	}
	return H2KS_MORE;
}

/* h2k_walk_call() */
static int h2_walk_call(struct conn_dir *d, struct h2k_state *st, const uint8_t *b,
			uint64_t len, uint64_t start, bool aligned, uint64_t now)
{
	struct h2k_call c = { .hold = aligned };

	if (h2_walk(st, b, len, start, &c) != H2KS_END) {
		d->proto = H2K_SEEK;
		st->hn = 0;
		st->frame_left = 0;
		return H2K_SENT;
	}
	if (!c.hold || !c.frames || !h2k_span_take(st, &c))
		return H2K_SENT;
	d->skip_bytes += len;
	d->skip_calls++;
	d->skip_events += c.msgs;
	d->skip_framing += len - c.data_bytes;
	d->skip_ts = now;
	return H2K_HELD;
}

/* h2k_call(); complete: the recorded call holds all its bytes (else its
 * framing cannot be followed here: lost, as a gap would lose it). */
static int h2_call(struct mirror_conn *mc, int dir, const uint8_t *b, uint64_t len,
		   bool complete, uint64_t now)
{
	struct conn_dir *d = &mc->d[dir];
	struct h2k_state *st = &mc->h2[dir];
	uint32_t start = 0;

	if (d->proto == H2K_OFF)
		return H2K_NOT;
	if (d->proto == H2K_UNKNOWN || !mc->h2_state[dir]) {
		int r = h2_first(b, len, &start);

		if (r == H2K_OFF) {
			d->proto = H2K_OFF;
			return H2K_NOT;
		}
		memset(st, 0, sizeof(*st));
		mc->h2_state[dir] = true;
		d->proto = r;
		if (r == H2K_SEEK) {
			st->probes = 1;
			return H2K_SENT;
		}
		st->synced_once = 1;
		if (start >= len) {
			st->frame_left = start - len;
			return H2K_SENT;
		}
		if (!complete) {
			d->proto = H2K_SEEK;
			return H2K_SENT;
		}
		return h2_walk_call(d, st, b, len, start, false, now);
	}
	if (!complete) {
		d->proto = H2K_SEEK;
		return H2K_SENT;
	}
	if (d->proto == H2K_SEEK && !st->synced_once) {
		int r = h2_first(b, len, &start);

		if (r == H2K_OFF) {
			d->proto = H2K_OFF;
			return H2K_NOT;
		}
		if (r == H2K_SEEK) {
			if (++st->probes >= H2K_PROBES) {
				d->proto = H2K_OFF;
				return H2K_NOT;
			}
			return H2K_SENT;
		}
		d->proto = H2K_SYNCED;
		st->synced_once = 1;
		if (start >= len) {
			st->frame_left = start - len;
			return H2K_SENT;
		}
		return h2_walk_call(d, st, b, len, start, false, now);
	}
	if (d->proto == H2K_SEEK) {
		if (!h2_seek_ok(b, len))
			return H2K_SENT;
		d->proto = H2K_SYNCED;
		st->frame_left = 0;
		st->hn = 0;
		return h2_walk_call(d, st, b, len, 0, false, now);
	}
	if (st->hn) {	/* h2k_finish_head() */
		struct h2k_call c = { 0 };
		struct h2k_head h;
		uint8_t hb[H2K_HEAD];
		uint32_t hn = st->hn, n = peek_len(0, len);

		if (hn + n < H2K_HEAD) {
			memcpy(st->hb + hn, b, n);
			st->hn = hn + n;
			return H2K_SENT;
		}
		memcpy(hb, st->hb, hn);
		memcpy(hb + hn, b, H2K_HEAD - hn);
		st->hn = 0;
		h2k_head_parse(hb, &h);
		h2k_frame_seen(st, &c, &h, H2KF_SEND);
		start = H2K_HEAD - hn + h.len;
		if (start >= len) {
			st->frame_left = start - len;
			return H2K_SENT;
		}
		return h2_walk_call(d, st, b, len, start, false, now);
	}
	if (st->frame_left) {
		if (st->frame_left >= len) {
			st->frame_left -= len;
			return H2K_SENT;
		}
		start = st->frame_left;
		st->frame_left = 0;
		return h2_walk_call(d, st, b, len, start, false, now);
	}
	return h2_walk_call(d, st, b, len, 0, true, now);
}

static void send(struct kernel_mirror *km, const struct sock_event *ev, const char *data)
{
	struct sock_event *out = (struct sock_event *)km->buf;

	*out = *ev;
	memcpy(out + 1, data, ev->cap_len);
	km->out(km->ctx, out, (const char *)(out + 1));
}

static void take_skips(struct sock_event *ev, struct conn_dir *d, uint32_t start_left)
{
	ev->skip_chunk_left = d->skip_calls ? start_left : 0;
	ev->skip_bytes = d->skip_bytes;
	ev->skip_ts = d->skip_ts;
	ev->skip_calls = d->skip_calls;
	ev->skip_events = d->skip_events;
	ev->skip_framing = d->skip_framing;
	if (d->skip_calls)
		ev->flags |= SEF_SKIP_ALIGNED;
	d->skip_bytes = d->skip_ts = 0;
	d->skip_calls = d->skip_events = d->skip_framing = 0;
}

static void send_tail(struct kernel_mirror *km, struct mirror_conn *c, const struct sock_event *ev,
		      int dir)
{
	struct sock_event t = *ev;

	struct conn_dir *d = &c->d[dir];
	const struct mirror_tail *last = &c->tail[dir][d->tail_slot ^ 1];
	const struct mirror_tail *prev = d->tail_valid > 1 ? &c->tail[dir][d->tail_slot] : NULL;
	char data[2 * SSE_TAIL_MAX];

	if (!d->tail_valid)
		return;
	d->tail_valid = 0;
	t.type = EV_SSE_TAIL;
	t.ret = last->call_len;
	t.ts_exit = last->ts;
	t.stream_off = last->call_off;
	t.prev_len = prev ? prev->len : 0;
	t.cap_len = t.prev_len + last->len;
	t.cap_off = last->call_len - last->len;
	t.truncated = 0;
	t.flags = (last->whole ? SEF_TAIL_WHOLE : 0) | (prev && prev->whole ? SEF_PREV_WHOLE : 0);
	t.skip_chunk_left = 0;
	t.skip_bytes = t.skip_ts = 0;
	t.skip_calls = t.skip_events = t.skip_framing = 0;
	if (prev)
		memcpy(data, prev->data, prev->len);
	memcpy(data + t.prev_len, last->data, last->len);
	send(km, &t, data);
}

/* body_classify() of bpf/sock_body.bpf.h. */
static int body_classify(struct conn_dir *d, const char *b, uint64_t len, int kind)
{
	if (kind == CALL_MESSAGE) {
		d->req_body = len >= 5 && !memcmp(b, "POST ", 5);
		d->body_left = MIRROR_BODY_WHOLE_MAX;
		return kind;
	}
	if (d->req_body) {
		d->framing = 0;
		return CALL_SEND;
	}
	return kind;
}

/* body_emit(): a request-body call past the capture size goes out in
 * MAX_CAPTURE pieces, each a record of its own, up to the cap; the rest
 * as a gap. False: sent as one record. */
static bool body_emit(struct kernel_mirror *km, struct conn_dir *d, struct sock_event *ev,
		      const char *data)
{
	uint64_t whole, ret = ev->ret > 0 ? (uint64_t)ev->ret : 0;
	struct sock_event piece = *ev;

	if (!d->req_body || !ret)
		return false;
	if (ret <= DEFAULT_CAPTURE || !d->body_left) {
		d->body_left = ret < d->body_left ? d->body_left - ret : 0;
		return false;	/* one record, cut at the capture by on_data() */
	}
	whole = ret < d->body_left ? ret : d->body_left;
	d->body_left -= whole;
	for (uint64_t from = 0; from < whole; from += MAX_CAPTURE) {
		uint64_t n = whole - from < MAX_CAPTURE ? whole - from : MAX_CAPTURE;
		uint64_t have = from < ev->cap_len ? ev->cap_len - from : 0;

		piece.ret = n;
		piece.stream_off = ev->stream_off + from;
		piece.cap_len = have < n ? have : n;
		piece.truncated = piece.cap_len < n;
		send(km, &piece, data + (from < ev->cap_len ? from : 0));
		/* the skips go with the first piece only */
		piece.skip_bytes = piece.skip_ts = 0;
		piece.skip_calls = piece.skip_events = piece.skip_framing = 0;
		piece.skip_chunk_left = 0;
		piece.flags &= ~SEF_SKIP_ALIGNED;
	}
	if (whole < ret) {
		piece.ret = ret - whole;
		piece.stream_off = ev->stream_off + whole;
		piece.cap_len = 0;
		piece.truncated = 1;
		send(km, &piece, "");
	}
	return true;
}

/* h2k_emit_span() */
static void send_span(struct kernel_mirror *km, struct mirror_conn *c, const struct sock_event *ev,
		      int dir)
{
	struct h2k_state *st = &c->h2[dir];
	struct sock_event t = *ev;

	if (c->d[dir].proto == H2K_OFF || c->d[dir].proto == H2K_UNKNOWN || !st->nspan)
		return;
	t.type = EV_H2_SKIPS;
	t.ret = 0;
	t.ts_exit = c->d[dir].skip_ts;
	t.dir = dir;
	t.stream_off = c->d[dir].off;
	t.cap_len = st->nspan * sizeof(struct h2k_held);
	t.cap_off = 0;
	t.truncated = 0;
	t.flags = 0;
	t.skip_chunk_left = 0;
	t.skip_bytes = t.skip_ts = 0;
	t.skip_calls = t.skip_events = t.skip_framing = 0;
	st->nspan = 0;
	send(km, &t, (const char *)st->span);
}

/* hold_back() of the kernel: bytes [base, end) of the call counted, their
 * tail kept unless they are [DONE]s alone. */
static void hold_back(struct kernel_mirror *km, struct mirror_conn *c, int dir, const char *data,
		      uint64_t call_off, uint64_t base, uint64_t end, uint32_t events,
		      uint32_t framing, bool done_only, uint32_t start_left, uint64_t ts)
{
	struct conn_dir *d = &c->d[dir];
	uint64_t from = end > base + SSE_TAIL_MAX ? end - SSE_TAIL_MAX : base;

	d->skip_bytes += end - base;
	d->skip_calls++;
	d->skip_events += events;
	d->skip_framing += framing;
	d->skip_ts = ts;
	if (!done_only) {
		struct mirror_tail *t = &c->tail[dir][d->tail_slot & 1];

		t->len = end - from;
		t->whole = from == base && start_left == 0;
		memcpy(t->data, data + from, end - from);
		t->call_off = call_off + base;
		t->call_len = end - base;
		t->ts = ts;
		d->tail_slot ^= 1;
		if (d->tail_valid < 2)
			d->tail_valid++;
	}
	km->skipped++;
}

/* emit_data()'s capture: a record holds DEFAULT_CAPTURE bytes at most. */
static void send_captured(struct kernel_mirror *km, struct sock_event *ev, const char *data)
{
	if (ev->cap_len > DEFAULT_CAPTURE) {
		ev->cap_len = DEFAULT_CAPTURE;
		ev->truncated = 1;
	}
	send(km, ev, data);
}

static void on_data(struct kernel_mirror *km, const struct sock_event *in, const char *data)
{
	struct mirror_conn *c = conn_of(km, in->sock_id, false);
	int dir = in->dir & 1;
	struct conn_dir *d = &c->d[dir];
	struct sock_event ev = *in;
	uint32_t start_left = 0;
	uint64_t hold = 0, head = 0, call_off;
	struct mwalk w = { .done_only = true };

	ev.stream_off = call_off = d->off;
	if (in->ret > 0)
		d->off += in->ret;
	if (in->ret > 0 && d->proto != H2K_OFF) {
		int h2 = h2_call(c, dir, (const uint8_t *)data, in->ret, !in->truncated,
				 in->ts_exit);

		if (h2 == H2K_HELD) {
			km->skipped++;
			return;
		}
		if (h2 == H2K_SENT)
			goto out;
	}
	if (in->ret > 0) {
		int kind;

		start_left = d->framing ? d->chunk_left : 0;
		kind = classify(d, data, in->ret, !in->truncated, &w);
		kind = body_classify(d, data, in->cap_len, kind);
		km->cut_heads += d->head_cut != 0;
		km->unaligned += kind == CALL_UNALIGNED;

		if ((kind == CALL_MESSAGE || (kind == CALL_SSE && !d->in_stream)) &&
		    w.events > 1 && w.first_end && w.first_end < (uint64_t)in->ret) {
			head = w.first_end;	/* the first event sent, the rest held */
			d->in_stream = 1;
			km->head_splits++;
		} else if (kind == CALL_MESSAGE) {
			d->in_stream = w.events > 0;	/* the head with first events */
		} else if (kind == CALL_SSE && d->in_stream) {
			hold = in->ret;
		} else if (kind == CALL_SSE) {
			d->in_stream = 1;
		} else if (kind == CALL_SEND && d->in_stream && w.end_at &&
			   (w.events > 1 || w.cut_rest || in->ret > DEFAULT_CAPTURE)) {
			hold = w.end_at;	/* a stream's end with events before it */
		}
	}
	if (hold) {
		/* the tail is whole unless the call began inside a chunk or a
		 * size line */
		hold_back(km, c, dir, data, call_off, 0, hold, w.events, w.framing, w.done_only,
			  start_left || w.cut_rest, in->ts_exit);
		if (hold == (uint64_t)in->ret)
			return;
		if (start_left)
			km->end_splits_mid_chunk++;
		start_left = 0;	/* the record starts at a chunk-size line */
		/* the record: the call's bytes from the last chunk on */
		ev.stream_off += hold;
		ev.ret -= hold;
		ev.cap_len = ev.cap_len > hold ? ev.cap_len - hold : 0;
		data += hold;
	}
out:
	send_span(km, c, &ev, dir);
	send_tail(km, c, &ev, dir);
	take_skips(&ev, d, start_left);
	if (head) {
		/* the record first; the rest's skips go with the next one */
		ev.ret = head;
		ev.cap_len = head;
		send_captured(km, &ev, data);
		hold_back(km, c, dir, data, call_off, head, in->ret, w.events - 1,
			  w.framing - w.first_framing, w.done_only, 0, in->ts_exit);
	} else if (hold || !body_emit(km, d, &ev, data)) {
		send_captured(km, &ev, data);
	}
}

static void on_close(struct kernel_mirror *km, const struct sock_event *in)
{
	struct mirror_conn *c = conn_of(km, in->sock_id, false);

	for (int dir = 0; dir < 2; dir++) {
		struct sock_event ev = *in;

		if (!c->d[dir].skip_calls)
			continue;
		send_tail(km, c, &ev, dir);
		send_span(km, c, &ev, dir);
		ev.type = EV_DATA;
		ev.ret = 0;
		ev.dir = dir;
		ev.flags = SEF_FLUSH;
		ev.stream_off = c->d[dir].off;
		ev.cap_len = 0;
		take_skips(&ev, &c->d[dir], c->d[dir].framing ? c->d[dir].chunk_left : 0);
		send(km, &ev, "");
	}
	conn_of(km, in->sock_id, true);
	send(km, in, "");
}

void kernel_mirror_feed(struct kernel_mirror *km, const struct sock_event *ev, const char *data)
{
	switch (ev->type) {
	case EV_DATA:
		on_data(km, ev, data);
		break;
	case EV_CLOSE:
		on_close(km, ev);
		break;
	case EV_ACCEPT:
	case EV_CONNECT:
		conn_of(km, ev->sock_id, true);
		send(km, ev, data);
		break;
	default:
		send(km, ev, data);
	}
}

struct kernel_mirror *kernel_mirror_new(kernel_mirror_fn out, void *ctx)
{
	struct kernel_mirror *km = calloc(1, sizeof(*km));

	if (km) {
		km->out = out;
		km->ctx = ctx;
	}
	return km;
}

void kernel_mirror_free(struct kernel_mirror *km)
{
	free(km);
}

uint64_t kernel_mirror_skipped(const struct kernel_mirror *km)
{
	return km->skipped;
}

uint64_t kernel_mirror_end_splits_mid_chunk(const struct kernel_mirror *km)
{
	return km->end_splits_mid_chunk;
}

uint64_t kernel_mirror_head_splits(const struct kernel_mirror *km)
{
	return km->head_splits;
}

uint64_t kernel_mirror_cut_heads(const struct kernel_mirror *km)
{
	return km->cut_heads;
}

uint64_t kernel_mirror_unaligned(const struct kernel_mirror *km)
{
	return km->unaligned;
}

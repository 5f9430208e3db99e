/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* HTTP/2 (gRPC) connections followed frame by frame in the kernel: see
 * sock_h2.h for what a held-back call may hold. Included by sock.bpf.c
 * after its copy helpers; three hooks there: h2k_call() on every data
 * call, h2k_emit_span() before a record of a direction, h2k_forget() when
 * a socket starts a new connection or closes.
 *
 * A direction is looked at once, on its first call: the client preface,
 * or a frame head that passes the resync rule (attached mid-connection),
 * makes it HTTP/2; an HTTP/1.x head makes it HTTP/1.x for good. Lost
 * framing (a frame head no kind of HTTP/2, a call with more frames than
 * the walk follows) sends calls whole until a call starts on a head that
 * passes the resync rule again, counted. */
#ifndef SERVETRACE_SOCK_H2_BPF_H
#define SERVETRACE_SOCK_H2_BPF_H

#include "sock_h2.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct tail_key);
	__type(value, struct h2k_state);
} h2k_states SEC(".maps");

/* A zeroed state to insert (too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct h2k_state);
} h2k_zero SEC(".maps");

enum h2k_verdict { H2K_NOT, H2K_SENT, H2K_HELD };
enum h2k_step { H2KS_MORE, H2KS_END, H2KS_LOST };

struct h2k_walk {
	__u64 ret;
	__u64 off;		/* next frame head */
	__u32 sc;
	__u32 result;		/* enum h2k_step of the last step */
	struct h2k_call c;
};

/* h2k_vllm_tokens() over pb's first n bytes. Global: verified once. */
__noinline int h2k_vllm_count(struct peek_buf *pb, __u32 n)
{
	if (!pb)
		return -1;
	return h2k_vllm_tokens((const __u8 *)pb->b, n);
}

/* The frame head at w->off: followed, and w->off moved past its frame.
 * Global: the verifier walks it once. */
__noinline int h2k_step(struct peek_buf *pb, const struct pending_call *pc, __u8 sc,
			struct h2k_state *st, struct h2k_walk *w)
{
	struct h2k_head h;
	__u32 n, tag_at = 0, tokens = 0;
	int kind;

	if (!pb || !pc || !st || !w)
		return H2KS_LOST;
	if (w->off >= w->ret)
		return H2KS_END;
	COPY_RANGE(n, iov_copy_peek, pb, b, PEEK_MAX, pc, sc, w->ret, w->off, PEEK_MAX);
	if (n < H2K_HEAD) {	/* a head split by the call's end: kept */
		if (n != w->ret - w->off)
			return H2KS_LOST;
		for (__u32 i = 0; i < H2K_HEAD - 1; i++)
			if (i < n)
				st->hb[i & 15] = pb->b[i & (PEEK_MAX - 1)];
		st->hn = n;
		w->c.hold = 0;
		return H2KS_END;
	}
	if ((pb->b[5] & 0x80) || (__u8)pb->b[3] > H2K_CONTINUATION)
		return H2KS_LOST;
	h2k_head_parse((const __u8 *)pb->b, &h);
	kind = h2k_frame_kind(&h, (const __u8 *)pb->b + H2K_HEAD, n - H2K_HEAD, &tag_at);
	if (kind == H2KF_NEED_TAG) {
		__u64 at = w->off + H2K_HEAD + tag_at;

		kind = H2KF_SEND;
		if (w->off + H2K_HEAD + h.len <= w->ret) {	/* a frame whole in the call */
			__u32 j = H2K_HEAD + tag_at;

			if (j < n) {
				H2K_BOUND(j, PEEK_MAX - 1);
				if (h2k_tag_is_chunk(pb->b[j]))
					kind = H2KF_CHUNK;
			} else {
				COPY_RANGE(n, iov_copy_peek, pb, b, PEEK_MAX, pc, sc, w->ret, at, 1);
				if (n == 1 && h2k_tag_is_chunk(pb->b[0]))
					kind = H2KF_CHUNK;
			}
		}
	} else if (kind == H2KF_NEED_VLLM) {	/* vLLM's chunk: its fields after the ids */
		__u64 at = w->off + H2K_HEAD + tag_at;
		__u32 want = h.len - tag_at;
		int t;

		kind = H2KF_SEND;
		if (w->off + H2K_HEAD + h.len <= w->ret && want <= H2K_VTAIL_MAX) {
			COPY_RANGE(n, iov_copy_peek, pb, b, PEEK_MAX, pc, sc, w->ret, at, want);
			t = n == want ? h2k_vllm_count(pb, n) : -1;
			if (t >= 0) {
				kind = H2KF_CHUNK;
				tokens = t;
			}
		}
	}
	h2k_frame_tokens(st, &w->c, &h, kind, tokens);
	w->off += H2K_HEAD + h.len;
	if (w->off > w->ret) {	/* the frame goes on in the next call */
		st->frame_left = w->off - w->ret;
		w->c.hold = 0;
		return H2KS_END;
	}
	return H2KS_MORE;
}

/* bpf_loop's context: pointers only. What h2k_step() writes is apart,
 * as the verifier forgets the pointers in memory a global function gets. */
struct h2k_loop {
	const struct pending_call *pc;
	struct peek_buf *pb;
	struct h2k_state *st;
	struct h2k_walk *w;
};

static long h2k_loop_cb(__u64 i, void *ctx)
{
	struct h2k_loop *l = ctx;
	struct h2k_walk *w = l->w;

	w->result = h2k_step(l->pb, l->pc, w->sc, l->st, w);
	return w->result != H2KS_MORE;
}

/* The resync rule at the call's start (h2.c's seek): a valid head whose
 * frame ends in the call, and a valid head after it if the call goes on. */
__noinline int h2k_seek_ok(struct peek_buf *pb, const struct pending_call *pc, __u8 sc,
			   __u64 ret)
{
	__u32 n;
	__u64 next;

	if (!pb || !pc)
		return 0;
	COPY_RANGE(n, iov_copy_peek, pb, b, PEEK_MAX, pc, sc, ret, 0, PEEK_MAX);
	if (n < H2K_HEAD || !h2k_head_valid((const __u8 *)pb->b))
		return 0;
	next = H2K_HEAD + ((__u32)(__u8)pb->b[0] << 16 | (__u32)(__u8)pb->b[1] << 8 |
			   (__u8)pb->b[2]);
	if (next > ret)
		return 0;
	if (next + H2K_HEAD > ret)
		return 1;
	COPY_RANGE(n, iov_copy_peek, pb, b, PEEK_MAX, pc, sc, ret, next, PEEK_MAX);
	return n >= H2K_HEAD && h2k_head_valid((const __u8 *)pb->b);
}

/* First sight of a direction: H2K_OFF, H2K_SYNCED (*start: where the
 * first frame head is) or H2K_SEEK. Global: verified once. */
__noinline int h2k_first(struct peek_buf *pb, const struct pending_call *pc, __u8 sc,
			 __u64 ret, __u32 *start)
{
	struct chunk_head ch = {};
	__u32 n;
	int head;

	if (!pb || !pc || !start)
		return H2K_OFF;
	COPY_RANGE(n, iov_copy_peek, pb, b, PEEK_MAX, pc, sc, ret, 0, PEEK_MAX);
	if (n > PEEK_MAX)
		n = PEEK_MAX;
	head = stream_head_kind(pb->b, n);
	if (head == HEAD_OTHER) {	/* the client preface */
		*start = H2K_PREFACE_LEN;
		return H2K_SYNCED;
	}
	if (head == HEAD_MESSAGE || chunk_head_parse(pb->b, n, &ch))
		return H2K_OFF;
	*start = 0;
	return h2k_seek_ok(pb, pc, sc, ret) ? H2K_SYNCED : H2K_SEEK;
}

/* A direction that never showed a frame head, or whose state could not
 * be kept: the HTTP/1.x path (which sends what it cannot follow). */
static __always_inline int h2k_give_up(struct conn_dir *d)
{
	d->proto = H2K_OFF;
	count(CNT_H2_FALLBACK);
	return H2K_NOT;
}

/* Walks a synced direction's call from *start; H2K_HELD if it may be
 * held (then counted in d), else H2K_SENT. */
static __always_inline int h2k_walk_call(struct peek_buf *pb, const struct pending_call *pc,
					 __u8 sc, __u64 ret, struct conn_dir *d,
					 struct h2k_state *st, __u32 start, bool aligned,
					 __u64 now)
{
	struct h2k_walk w = { .ret = ret, .off = start, .sc = sc, .result = H2KS_LOST };
	struct h2k_loop l = { .pc = pc, .pb = pb, .st = st, .w = &w };

	w.c.hold = aligned;
	bpf_loop(H2K_FRAMES_MAX, h2k_loop_cb, &l, 0);
	if (w.result != H2KS_END) {	/* a head no HTTP/2, or too many frames */
		d->proto = H2K_SEEK;
		st->hn = 0;
		st->frame_left = 0;
		count(CNT_H2_UNSYNCED);
		return H2K_SENT;
	}
	if (!w.c.hold || !w.c.frames || !h2k_span_take(st, &w.c))
		return H2K_SENT;
	d->skip_bytes += ret;
	d->skip_calls++;
	d->skip_events += w.c.msgs;
	d->skip_framing += ret - w.c.data_bytes;
	d->skip_ts = now;
	count(CNT_SKIPPED_CALLS);
	count_n(CNT_SKIPPED_BYTES, ret);
	return H2K_HELD;
}

/* A split frame head completed by this call's first bytes: the frame is
 * followed (never held); *start: where the next head is. False if the
 * call ends before the head does. */
static __always_inline bool h2k_finish_head(struct peek_buf *pb, const struct pending_call *pc,
					    __u8 sc, __u64 ret, struct h2k_state *st,
					    __u32 *start)
{
	struct h2k_call c = {};
	struct h2k_head h;
	__u8 b[16] = {};
	__u32 n, hn = st->hn;

	if (hn >= H2K_HEAD)
		hn = 0;
	COPY_RANGE(n, iov_copy_peek, pb, b, PEEK_MAX, pc, sc, ret, 0, PEEK_MAX);
	for (__u32 i = 0; i < H2K_HEAD; i++) {
		__u32 j = i - hn;

		if (i < hn) {
			b[i] = st->hb[i & 15];
		} else if (j < n) {
			H2K_BOUND(j, PEEK_MAX - 1);
			b[i] = pb->b[j];
		}
	}
	if (hn + n < H2K_HEAD) {
		for (__u32 i = 0; i < H2K_HEAD; i++)
			st->hb[i & 15] = b[i];
		st->hn = hn + n;
		return false;
	}
	st->hn = 0;
	h2k_head_parse(b, &h);
	h2k_frame_seen(st, &c, &h, H2KF_SEND);
	*start = H2K_HEAD - hn + h.len;
	return true;
}

/* Every data call of a direction not known as HTTP/1.x comes here first.
 * H2K_NOT: not HTTP/2, the HTTP/1.x path decides; H2K_SENT: send it;
 * H2K_HELD: counted in d, not sent. Global: verified once. */
__noinline int h2k_call(const struct pending_call *pc, __u32 sc_dir, __u64 ret,
			struct conn_dir *d, __u64 now)
{
	__u8 sc = sc_dir & 0xff, dir = (sc_dir >> 8) & 1;	/* five arguments at most */
	struct tail_key k = { .dir = dir };
	struct peek_buf *pb;
	struct h2k_state *st;
	__u32 zero = 0, start = 0;
	bool aligned = false;

	if (!pc || !d || d->proto == H2K_OFF)
		return H2K_NOT;
	k.sock_id = pc->sock_id;
	pb = bpf_map_lookup_elem(&peek_space, &zero);
	if (!pb)
		return H2K_NOT;
	st = bpf_map_lookup_elem(&h2k_states, &k);
	if (d->proto == H2K_UNKNOWN || !st) {
		struct h2k_state *fresh = bpf_map_lookup_elem(&h2k_zero, &zero);
		int r = h2k_first(pb, pc, sc, ret, &start);

		if (r == H2K_OFF) {
			d->proto = H2K_OFF;
			return H2K_NOT;
		}
		if (!fresh || bpf_map_update_elem(&h2k_states, &k, fresh, BPF_ANY))
			return h2k_give_up(d);
		st = bpf_map_lookup_elem(&h2k_states, &k);
		if (!st)
			return h2k_give_up(d);
		d->proto = r;
		if (r == H2K_SEEK) {
			st->probes = 1;
			return H2K_SENT;
		}
		st->synced_once = 1;
		if (start >= ret) {	/* the preface, or part of it */
			st->frame_left = start - ret;
			return H2K_SENT;
		}
		return h2k_walk_call(pb, pc, sc, ret, d, st, start, false, now);
	}
	if (d->proto == H2K_SEEK && !st->synced_once) {	/* still looking */
		int r = h2k_first(pb, pc, sc, ret, &start);

		if (r == H2K_OFF) {
			d->proto = H2K_OFF;
			return H2K_NOT;
		}
		if (r == H2K_SEEK) {
			if (++st->probes >= H2K_PROBES)
				return h2k_give_up(d);
			return H2K_SENT;
		}
		d->proto = H2K_SYNCED;
		st->synced_once = 1;
		if (start >= ret) {
			st->frame_left = start - ret;
			return H2K_SENT;
		}
		return h2k_walk_call(pb, pc, sc, ret, d, st, start, false, now);
	}
	if (d->proto == H2K_SEEK) {	/* lost: the resync rule at each call's start */
		if (!h2k_seek_ok(pb, pc, sc, ret)) {
			count(CNT_H2_UNSYNCED);
			return H2K_SENT;
		}
		d->proto = H2K_SYNCED;
		st->frame_left = 0;
		st->hn = 0;
		return h2k_walk_call(pb, pc, sc, ret, d, st, 0, false, now);
	}
	if (st->hn) {
		if (!h2k_finish_head(pb, pc, sc, ret, st, &start))
			return H2K_SENT;
		if (start >= ret) {
			st->frame_left = start - ret;
			return H2K_SENT;
		}
	} else if (st->frame_left) {
		if (st->frame_left >= ret) {
			st->frame_left -= ret;
			return H2K_SENT;
		}
		start = st->frame_left;
		st->frame_left = 0;
	} else {
		aligned = true;
	}
	return h2k_walk_call(pb, pc, sc, ret, d, st, start, aligned, now);
}

/* Before a record of this direction: the streams of the DATA held back
 * since the previous one, as an EV_H2_SKIPS record. */
static __always_inline void h2k_emit_span(const struct pending_call *pc, __u8 dir,
					  struct conn_dir *d)
{
	struct tail_key k = { .sock_id = pc->sock_id, .dir = dir };
	struct h2k_state *st;
	struct sock_event *ev;
	void *rb;
	__u32 n;

	if (!d || d->proto == H2K_OFF || d->proto == H2K_UNKNOWN)
		return;
	st = bpf_map_lookup_elem(&h2k_states, &k);
	if (!st || !st->nspan)
		return;
	n = st->nspan;
	st->nspan = 0;
	rb = ring_for(pc->sock_id);
	if (!rb)
		return;
	ev = bpf_ringbuf_reserve(rb, sizeof(*ev) + sizeof(st->span), 0);
	if (!ev) {
		count(CNT_RINGBUF_FULL);
		return;
	}
	fill_header(ev, EV_H2_SKIPS, pc, 0, d->skip_ts);
	ev->dir = dir;
	ev->stream_off = d->off;
	if (n > H2K_SPAN_SIDS)
		n = H2K_SPAN_SIDS;
	ev->cap_len = n * sizeof(struct h2k_held);
	__builtin_memcpy((void *)(ev + 1), st->span, sizeof(st->span));
	bpf_ringbuf_submit(ev, 0);
	count(CNT_EVENTS);
}

/* The socket closes or starts a new connection. */
static __always_inline void h2k_forget(__u64 sock_id)
{
	for (__u32 dir = 0; dir < 2; dir++) {
		struct tail_key k = { .sock_id = sock_id, .dir = dir };

		bpf_map_delete_elem(&h2k_states, &k);
	}
}

#endif

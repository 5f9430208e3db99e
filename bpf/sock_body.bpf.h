/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Request bodies, sent whole up to a cap per message, so that user space
 * finds a body's "rid" wherever it sits in a 1 MB prompt (first, in the
 * middle, last). Included by sock.bpf.c after emit_data(); mirrored in
 * tests/unit/kernel_mirror.c.
 *
 * Why whole bytes and a user-space scan, not a key scan in the kernel:
 * finding "rid" in BPF means a byte loop over every body byte in the
 * traced thread's syscall (bpf_loop over 32-byte peeks: every byte read
 * twice and compared, several ns a byte), and it cannot tell a top-level
 * key from one nested or inside an escaped string without the full JSON
 * state. A copy costs the traced thread a memcpy instead (~1 GB/s and up
 * through probe_read_user + ringbuf_output) and user space runs the exact
 * streaming scan (proto/body_fields.c, memchr through the prompt text)
 * on its own core. Measured (bpf_stats_enabled, 20 prompts of 1.31 MB
 * read by a traced Python server, two runs each): the readers' exit
 * programs took 4.1-4.3 ms with this against 0.46-0.64 ms without,
 * ~140 us of BPF time per MB per traced hop (~7 GB/s), and ~58 records
 * of 16 KiB per MB (1776 records against 246); the user-space scan runs
 * at 12-18 us per MB (memchr). A key scan in BPF was not built: its
 * floor is a compare per byte plus the same probe_read of every byte.
 *
 * Only bodies of requests ("POST " heads) on that direction, only the
 * bytes past what emit_data() sends anyway, and at most body_whole_max
 * bytes per message: the rest of a call over the cap is a gap, counted
 * (CNT_BODY_CAPPED), and user space counts the id as lost if it was
 * there. SSE responses (the other direction) are untouched. */
#ifndef SERVETRACE_SOCK_BODY_BPF_H
#define SERVETRACE_SOCK_BODY_BPF_H

/* Bytes of one request body sent whole (default 4 MiB). */
const volatile __u32 body_whole_max = 4 << 20;

#define BODY_PIECE	MAX_CAPTURE	/* payload bytes per record */

/* The call starts a request: "POST " (inference requests are POSTs). */
static __always_inline bool body_is_post(const struct pending_call *pc, __u8 sc, __u64 ret)
{
	__u32 zero = 0, n;
	struct peek_buf *pb = bpf_map_lookup_elem(&peek_space, &zero);

	if (!pb)
		return false;
	n = peek_at(pb, pc, sc, ret, 0);	/* from the window classify() read */
	return ss_prefix(pb->b, n, 0, "POST ", 5);
}

/* After classify(): a message head says whether a request body follows;
 * a call inside one is sent (CALL_SEND), never held back as SSE. */
static __always_inline int body_classify(const struct pending_call *pc, __u8 sc, __u64 ret,
					 struct conn_dir *d, int kind)
{
	if (kind == CALL_MESSAGE) {
		d->req_body = body_is_post(pc, sc, ret);
		d->body_left = body_whole_max;
		return kind;
	}
	if (d->req_body) {
		d->framing = 0;
		return CALL_SEND;
	}
	return kind;
}

struct body_walk {
	struct pending_call pc;	/* a copy: the callback reads it through ctx */
	struct conn_dir *d;
	__u64 ret, whole, now, call_off;
	__u32 start_left;
	__u8 sc, dir;
};

/* Piece i of the call: [i * BODY_PIECE, +BODY_PIECE) as one EV_DATA
 * record, as if a call of that length; the first carries the skips. */
static long body_piece(__u64 i, void *ctx)
{
	struct body_walk *w = ctx;
	struct scratch *s = get_scratch();
	void *rb = ring_for(w->pc.sock_id);
	__u64 from = i * BODY_PIECE, n;
	struct sock_event *ev;
	__u32 got;

	if (!s || !rb || from >= w->whole)
		return 1;
	n = w->whole - from;
	if (n > BODY_PIECE)
		n = BODY_PIECE;
	COPY_RANGE(got, iov_copy_scratch, s, data, MAX_CAPTURE, &w->pc, w->sc, w->ret, from, n);
	ev = &s->ev;
	fill_header(ev, EV_DATA, &w->pc, n, w->now);
	ev->dir = w->dir;
	ev->stream_off = w->call_off + from;
	if (i == 0 && w->d)
		fill_skips(ev, w->d, w->start_left);
	ev->cap_len = got;
	ev->truncated = got < n;
	if (bpf_ringbuf_output(rb, s, (sizeof(*ev) + got) & (2 * MAX_CAPTURE - 1),
			       submit_flags(rb, w->pc.sock_id))) {
		count(CNT_RINGBUF_FULL);
		return 1;
	}
	count(CNT_EVENTS);
	count_n(CNT_BODY_BYTES, got);
	return 0;
}

/* Sends a request-body call whole, in pieces; false: emit_data() sends
 * it (not in a body, already within the capture size, or over the cap). */
static __always_inline bool body_emit(const struct pending_call *pc, __u8 sc, __s64 ret,
				      __u8 dir, __u64 now, struct conn_dir *d, __u64 call_off,
				      __u32 start_left)
{
	struct body_walk w = {};
	__u32 want = capture_bytes;
	void *rb;

	if (!d || !d->req_body || ret <= 0)
		return false;
	if (want > MAX_CAPTURE)
		want = MAX_CAPTURE;
	if ((__u64)ret <= want || !d->body_left) {
		d->body_left = (__u64)ret < d->body_left ? d->body_left - ret : 0;
		return false;
	}
	w.pc = *pc;
	w.d = d;
	w.ret = ret;
	w.whole = (__u64)ret < d->body_left ? (__u64)ret : d->body_left;
	w.now = now;
	w.call_off = call_off;
	w.start_left = start_left;
	w.sc = sc;
	w.dir = dir;
	d->body_left -= w.whole;
	bpf_loop((w.whole + BODY_PIECE - 1) / BODY_PIECE, body_piece, &w, 0);
	if (w.whole == (__u64)ret)
		return true;
	/* over the cap: the rest of the call is a gap user space sees */
	count(CNT_BODY_CAPPED);
	rb = ring_for(pc->sock_id);
	if (rb) {
		struct sock_event *ev = bpf_ringbuf_reserve(rb, sizeof(*ev), 0);

		if (!ev) {
			count(CNT_RINGBUF_FULL);
			return true;
		}
		fill_header(ev, EV_DATA, pc, ret - w.whole, now);
		ev->dir = dir;
		ev->stream_off = call_off + w.whole;
		ev->truncated = 1;
		bpf_ringbuf_submit(ev, submit_flags(rb, pc->sock_id));
		count(CNT_EVENTS);
	}
	return true;
}

#endif

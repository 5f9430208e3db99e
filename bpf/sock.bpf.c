// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Socket I/O capture for traced processes, from tracepoints only (no
 * kprobes, no fentry): connections and the read/write family on inet
 * stream sockets, with timestamps, addresses and payload bytes. Seen at
 * the socket layer (sock:sock_{recv,send}_length, inet_sock_set_state) or,
 * on kernels without those, at the syscalls' enter and exit tracepoints
 * (accept, connect, close and the read/write family).
 *
 * Cost is per message, not per byte: each connection direction keeps a
 * small state (stream offset, what was skipped). A call that starts an
 * HTTP message, or carries the first event of an SSE stream, is sent with
 * its first bytes; the middle events of a chunked SSE stream are only
 * counted here, and the last two calls' tails are kept for the token
 * counts.
 * Anything the kernel cannot follow is sent as it is, and counted. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sock_event.h"
#include "sock_lookup.bpf.h"
#include "sock_stream.h"
#include "ring_wake.h"
#include "traced_bits.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 capture_bytes = DEFAULT_CAPTURE;
/* Wake the reader as this much is queued (it also consumes on a timer):
 * a wakeup per event costs the traced threads microseconds. */
const volatile __u64 wakeup_bytes = 256 << 10;
const volatile __u32 nshards = 1;	/* ring buffers in `rings` */
const volatile bool skip_sse = true;	/* false: send every call (--full-capture) */
const volatile bool sock_hooks = false;	/* the socket layer's hooks are the loaded ones */

/* Socket-layer hooks: TCP sockets that became ESTABLISHED, by how (1: a
 * passive open, to be accepted; 2: an active one, connected), until a
 * traced process first moves data on one: that call reports the accept or
 * connect first, as the syscall path's exits do. LRU: most are never
 * used by a traced process. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} fresh_conns SEC(".maps");

/* What an enter saw, for its exit, in the thread's own storage: no
 * hashing, no delete. Data calls look their socket up at exit, and only
 * when bytes moved: non-blocking servers end every read loop with EAGAIN,
 * which then costs no lookup. */
struct pending_call {
	__u64 ts_enter;
	__u64 buf;		/* buffer, iovec array or msghdr */
	__u64 vlen;		/* iovec count for readv/writev */
	__u64 sock_id;
	struct sock_endpoint local;
	struct sock_endpoint peer;
	__s32 fd;
	__u8 syscall;		/* 0: no call in flight */
	__u8 pad[3];
	__u32 owner;		/* the process it is about, when not the caller's */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pending_call);
} pending_calls SEC(".maps");

/* Per connection (key: struct sock address) and direction: created on
 * first sight, so connections older than servetrace work too; deleted at
 * close; LRU so a close we never saw cannot leak it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);	/* resized by user space */
	__type(key, __u64);
	__type(value, struct conn_stream);
} conn_streams SEC(".maps");

/* Tails of the last two SSE calls skipped on a (socket, direction):
 * slot alternates (conn_dir.tail_slot). */
struct tail_key {
	__u64 sock_id;
	__u32 dir;
	__u32 slot;
};

struct sse_tail {
	__u64 call_off;		/* stream offset of the call it came from */
	__u64 call_len;
	__u64 ts;
	__u32 len;
	__u32 whole;		/* the whole call, starting on a chunk-size line */
	char data[2 * SSE_TAIL_MAX];	/* twice: masked offsets stay in bounds */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);	/* two per streaming direction */
	__type(key, struct tail_key);
	__type(value, struct sse_tail);
} sse_tails SEC(".maps");

/* Ring buffers, one per shard; a connection always maps to the same one,
 * so its records stay in order. Created and sized by user space. */
struct ringbuf_inner {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct ringbuf_inner);
} rings SEC(".maps");

/* Records are built here when their payload comes from several iovecs;
 * single-buffer calls read user memory straight into the ring record.
 * Twice MAX_CAPTURE so that offset-masked iovec copies stay in bounds. */
struct scratch {
	struct sock_event ev;
	char data[2 * MAX_CAPTURE];
};

/* Too big for a per-CPU value: an array indexed by CPU instead. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);	/* set to the number of CPUs by user space */
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_space SEC(".maps");

static __always_inline struct scratch *get_scratch(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&scratch_space, &cpu);
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count_n(__u32 id, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &id);

	if (c)
		*c += n;
}

static __always_inline void count(__u32 id)
{
	count_n(id, 1);
}

static __always_inline bool is_traced(void)
{
	return tgid_traced(bpf_get_current_pid_tgid() >> 32);
}

static __always_inline __u32 shard_of(__u64 sock_id)
{
	if (nshards <= 1)
		return 0;
	return (__u32)(((sock_id >> 6) ^ (sock_id >> 32)) * 2654435761u) % nshards;
}

static __always_inline void *ring_for(__u64 sock_id)
{
	__u32 shard = shard_of(sock_id);

	return bpf_map_lookup_elem(&rings, &shard);
}

__u64 woken_at[MAX_SHARDS];	/* per ring: see ring_wake_once() */

/* Wake the reader at the crossing only, once per sleep (ring_wake.h).
 * rb: sock_id's ring. The shard is worked out only within the band. */
static __always_inline __u64 submit_flags(void *rb, __u64 sock_id)
{
	__u64 queued = bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA);

	if (!ring_wake_now(queued, wakeup_bytes))
		return BPF_RB_NO_WAKEUP;
	return ring_wake_once(queued, bpf_ringbuf_query(rb, BPF_RB_CONS_POS), wakeup_bytes,
			      &woken_at[shard_of(sock_id) & (MAX_SHARDS - 1)]) ?
	       BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void fill_header(struct sock_event *ev, __u32 type,
					const struct pending_call *pc,
					__s64 ret, __u64 now)
{
	__u64 id = bpf_get_current_pid_tgid();

	ev->type = type;
	ev->tgid = pc->owner ? pc->owner : id >> 32;
	ev->tid = pc->owner ? 0 : (__u32)id;
	ev->fd = pc->fd;
	ev->ts_enter = pc->ts_enter;
	ev->ts_exit = now;
	ev->ret = ret;
	ev->sock_id = pc->sock_id;
	ev->local = pc->local;
	ev->peer = pc->peer;
	ev->cap_len = 0;
	ev->dir = 0;
	ev->syscall = pc->syscall;
	ev->truncated = 0;
	ev->flags = 0;
	ev->stream_off = 0;
	ev->skip_bytes = 0;
	ev->skip_ts = 0;
	ev->skip_calls = 0;
	ev->skip_events = 0;
	ev->cap_off = 0;
	ev->skip_framing = 0;
	ev->skip_chunk_left = 0;
	ev->prev_len = 0;
}

/* A record with no payload (accept, connect, close, process exit). */
static __always_inline void emit_bare(__u32 type, const struct pending_call *pc,
				      __s64 ret, __u64 now)
{
	void *rb = ring_for(pc->sock_id);
	struct sock_event *ev;

	if (!rb)
		return;
	ev = bpf_ringbuf_reserve(rb, sizeof(*ev), 0);
	if (!ev) {
		count(CNT_RINGBUF_FULL);
		return;
	}
	fill_header(ev, type, pc, ret, now);
	bpf_ringbuf_submit(ev, submit_flags(rb, pc->sock_id));
	count(CNT_EVENTS);
}

/* ---- enter side ---------------------------------------------------- */

static __always_inline struct pending_call *my_pending(bool create)
{
	return bpf_task_storage_get(&pending_calls, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

static __always_inline int enter_call(__s32 fd, __u64 buf, __u64 vlen, __u8 syscall)
{
	struct pending_call *pc;

	if (!is_traced())
		return 0;
	pc = my_pending(true);
	if (!pc)
		return 0;
	if (pc->syscall)	/* an earlier enter never saw its exit */
		count(CNT_STALE_ENTER);
	pc->ts_enter = bpf_ktime_get_ns();
	pc->buf = buf;
	pc->vlen = vlen;
	pc->fd = fd;
	pc->syscall = syscall;
	pc->sock_id = 0;
	return 0;
}

#define ENTER_BUF(name, sc)						\
SEC("tracepoint/syscalls/sys_enter_" #name)				\
int enter_##name(struct trace_event_raw_sys_enter *ctx)		\
{									\
	return enter_call((__s32)ctx->args[0], ctx->args[1],		\
			  ctx->args[2], sc);				\
}

ENTER_BUF(read, SC_READ)
ENTER_BUF(readv, SC_READV)
ENTER_BUF(recvfrom, SC_RECVFROM)
ENTER_BUF(recvmsg, SC_RECVMSG)
ENTER_BUF(write, SC_WRITE)
ENTER_BUF(writev, SC_WRITEV)
ENTER_BUF(sendto, SC_SENDTO)
ENTER_BUF(sendmsg, SC_SENDMSG)
ENTER_BUF(connect, SC_CONNECT)

/* accept: the fd exists only at exit; the listening fd is remembered. */
SEC("tracepoint/syscalls/sys_enter_accept")
int enter_accept_plain(struct trace_event_raw_sys_enter *ctx)
{
	return enter_call((__s32)ctx->args[0], 0, 0, SC_ACCEPT);
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int enter_accept4(struct trace_event_raw_sys_enter *ctx)
{
	return enter_call((__s32)ctx->args[0], 0, 0, SC_ACCEPT);
}

static __always_inline void emit_tail(const struct pending_call *pc, __u8 dir,
				      struct conn_dir *d);
static __always_inline void fill_skips(struct sock_event *ev, struct conn_dir *d,
				       __u32 start_left);
static __always_inline void h2k_emit_span(const struct pending_call *pc, __u8 dir,
					  struct conn_dir *d);
static __always_inline void h2k_forget(__u64 sock_id);

/* A traced process closes a socket (pc: its fd, id, addresses, the time):
 * whatever the kernel still held back for it goes first, then the close. */
static __always_inline void close_conn(struct pending_call *pc, struct conn_stream *cs)
{
	struct sock_event *ev;
	void *rb;

	pc->syscall = SC_CLOSE;
	rb = ring_for(pc->sock_id);
	if (!rb)
		return;
	if (cs) {
		for (__u8 dir = 0; dir < 2; dir++) {
			struct conn_dir *d = &cs->d[dir & 1];

			if (!d->skip_calls)
				continue;
			if (d->tail_valid)
				emit_tail(pc, dir, d);
			h2k_emit_span(pc, dir, d);
			/* a flush: the skip summary alone, ret 0 and no EOF */
			ev = bpf_ringbuf_reserve(rb, sizeof(*ev), 0);
			if (!ev) {
				count(CNT_RINGBUF_FULL);
				continue;
			}
			fill_header(ev, EV_DATA, pc, 0, pc->ts_enter);
			ev->dir = dir;
			ev->flags |= SEF_FLUSH;
			ev->stream_off = d->off;
			fill_skips(ev, d, d->framing ? d->chunk_left : 0);
			bpf_ringbuf_submit(ev, 0);
			count(CNT_EVENTS);
		}
		bpf_map_delete_elem(&conn_streams, &pc->sock_id);
		h2k_forget(pc->sock_id);
	}
	emit_bare(EV_CLOSE, pc, 0, pc->ts_enter);
}

/* close: the socket is gone after the call, so report at enter. */
SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	struct pending_call pc = {};

	if (!is_traced())
		return 0;
	pc.fd = (__s32)ctx->args[0];
	if (!sock_lookup_fd(pc.fd, &pc.sock_id, &pc.local, &pc.peer))
		return 0;
	pc.ts_enter = bpf_ktime_get_ns();
	close_conn(&pc, bpf_map_lookup_elem(&conn_streams, &pc.sock_id));
	return 0;
}

/* ---- reading the call's bytes -------------------------------------- */

/* b: up to PEEK_MAX bytes at one offset, what the byte tests read.
 * w: the call's first HEAD_SCAN_MAX bytes, read from user memory once
 * per call (classify()): each user read costs the traced thread a helper
 * call and a usercopy check, so peeks inside it are served from here. */
struct peek_buf {
	char b[2 * PEEK_MAX];
	__u64 wn;		/* bytes of the call in w */
	struct sock_event ev;	/* right before w: a call w holds is sent */
	char w[2 * HEAD_SCAN_MAX];	/* from here in one copy, no second read */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct peek_buf);
} peek_space SEC(".maps");

/* The call's iovec array, or NULL for a single buffer (buf, ret). */
static __always_inline bool call_iovecs(const struct pending_call *pc, __u8 sc,
					__u64 *iov, __u64 *vlen)
{
	struct user_msghdr msg;

	/* sc is a constant in each program: the verifier sees one branch */
	switch (sc) {
	case SC_READV:
	case SC_WRITEV:
		*iov = pc->buf;
		*vlen = pc->vlen;
		return true;
	case SC_RECVMSG:
	case SC_SENDMSG:
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)pc->buf)) {
			*iov = 0;
			*vlen = 0;
			return true;
		}
		*iov = (__u64)msg.msg_iov;
		*vlen = msg.msg_iovlen;
		return true;
	}
	return false;
}

/* Copies bytes [from, from + n) of what an iovec array holds into dst.
 * One global (separately verified) function per destination: the
 * 64-iovec loop is then verified once, not at every call site. */
#define DEFINE_IOV_COPY(name, type, field, cap)					\
struct name##_walk {								\
	type *t;								\
	__u64 iov_ptr, vlen, from, pos;						\
	__u32 n, got;								\
};										\
										\
/* one iovec; bpf_loop runs it, so the verifier sees it once */		\
static long name##_step(__u64 i, void *ctx)					\
{										\
	struct name##_walk *w = ctx;						\
	struct iovec iov;							\
	__u64 skip, take;							\
	__u32 at;								\
										\
	if (i >= w->vlen || w->got >= w->n)					\
		return 1;							\
	if (bpf_probe_read_user(&iov, sizeof(iov),				\
				(void *)(w->iov_ptr + i * sizeof(iov)))) {	\
		count(CNT_READ_FAULT);						\
		return 1;							\
	}									\
	if (w->pos + iov.iov_len <= w->from + w->got) {				\
		w->pos += iov.iov_len;						\
		return 0;							\
	}									\
	skip = w->from + w->got - w->pos;					\
	take = iov.iov_len - skip;						\
	if (take > w->n - w->got)						\
		take = w->n - w->got;						\
	if (take > (cap))							\
		take = (cap);							\
	at = w->got & ((cap) - 1);						\
	if (take && bpf_probe_read_user(w->t->field + at, take,			\
				(void *)((__u64)iov.iov_base + skip))) {	\
		count(CNT_READ_FAULT);						\
		return 1;							\
	}									\
	w->got += take;								\
	w->pos += iov.iov_len;							\
	return 0;								\
}										\
										\
__noinline int name(type *t, __u64 iov_ptr, __u64 vlen, __u64 from, __u32 n)	\
{										\
	struct name##_walk w = { .t = t, .iov_ptr = iov_ptr, .vlen = vlen,	\
				 .from = from, .n = n > (cap) ? (cap) : n };	\
										\
	if (!t)									\
		return 0;							\
	bpf_loop(MAX_IOVECS, name##_step, &w, 0);				\
	return w.got;								\
}

DEFINE_IOV_COPY(iov_copy_peek, struct peek_buf, b, PEEK_MAX)
DEFINE_IOV_COPY(iov_copy_win, struct peek_buf, w, HEAD_SCAN_MAX)
DEFINE_IOV_COPY(iov_copy_tail, struct sse_tail, data, SSE_TAIL_MAX)
DEFINE_IOV_COPY(iov_copy_scratch, struct scratch, data, MAX_CAPTURE)

/* Copies bytes [from, from + n) of the call's data (n <= cap, dst twice
 * cap long). Returns the bytes copied. */
#define COPY_RANGE(copied, iovfn, obj, field, cap, pc, sc, ret, from, want) do {	\
	__u64 ___iov, ___vlen, ___from = (from);					\
	__u64 ___n = (want);								\
											\
	(copied) = 0;									\
	if (___from < (ret)) {								\
		if (___n > (ret) - ___from)						\
			___n = (ret) - ___from;						\
		if (call_iovecs(pc, sc, &___iov, &___vlen)) {				\
			(copied) = iovfn(obj, ___iov, ___vlen, ___from, ___n);		\
		} else {								\
			asm volatile("" : "+r"(___n));					\
			if (___n > (cap))						\
				___n = (cap);						\
			if (!bpf_probe_read_user((obj)->field, ___n,			\
						 (void *)((pc)->buf + ___from)))	\
				(copied) = ___n;					\
		}									\
	}										\
} while (0)

/* ---- what the kernel keeps back ------------------------------------ */

static __always_inline void fill_skips(struct sock_event *ev, struct conn_dir *d,
				       __u32 start_left)
{
	ev->skip_chunk_left = d->skip_calls ? start_left : 0;
	ev->skip_bytes = d->skip_bytes;
	ev->skip_ts = d->skip_ts;
	ev->skip_calls = d->skip_calls;
	ev->skip_events = d->skip_events;
	ev->skip_framing = d->skip_framing;
	if (d->skip_calls)
		ev->flags |= SEF_SKIP_ALIGNED;
	d->skip_bytes = 0;
	d->skip_ts = 0;
	d->skip_calls = 0;
	d->skip_events = 0;
	d->skip_framing = 0;
	d->tail_valid = 0;
}

/* The kept tails of the last two skipped calls, as one record: the
 * earlier one's (when there are two) first. */
static __always_inline void emit_tail(const struct pending_call *pc, __u8 dir,
				      struct conn_dir *d)
{
	struct tail_key k = { .sock_id = pc->sock_id, .dir = dir };
	struct sse_tail *t, *prev = NULL;
	void *rb = ring_for(pc->sock_id);
	struct sock_event *ev;
	__u32 len, plen = 0;

	if (d->tail_valid > 1) {
		k.slot = d->tail_slot & 1;	/* the older: next to be reused */
		prev = bpf_map_lookup_elem(&sse_tails, &k);
	}
	k.slot = (d->tail_slot ^ 1) & 1;
	t = bpf_map_lookup_elem(&sse_tails, &k);
	if (!t || !rb)
		return;
	len = t->len;
	if (len > SSE_TAIL_MAX)
		len = SSE_TAIL_MAX;
	if (prev) {
		plen = prev->len;
		if (plen > SSE_TAIL_MAX)
			plen = SSE_TAIL_MAX;
	}
	ev = bpf_ringbuf_reserve(rb, sizeof(*ev) + 2 * SSE_TAIL_MAX, 0);
	if (!ev) {
		count(CNT_RINGBUF_FULL);
		return;
	}
	fill_header(ev, EV_SSE_TAIL, pc, t->call_len, t->ts);
	ev->dir = dir;
	ev->stream_off = t->call_off;
	ev->cap_off = t->call_len - len;
	if (t->whole)
		ev->flags |= SEF_TAIL_WHOLE;
	if (prev) {
		if (prev->whole)
			ev->flags |= SEF_PREV_WHOLE;
		bpf_probe_read_kernel((char *)(ev + 1), plen, prev->data);
	}
	ev->prev_len = plen;
	ev->cap_len = plen + len;
	bpf_probe_read_kernel((char *)(ev + 1) + plen, len, t->data);
	bpf_ringbuf_submit(ev, 0);
	count(CNT_EVENTS);
}

/* Keep the tail of a skipped SSE call in slot k: its meta_info / usage
 * hold the token counts the row needs. The call's bytes [base, ret) were
 * held back (base: past a first event sent from the same call). False if
 * it could not be kept. */
static __always_inline bool keep_tail(struct tail_key *k, const struct pending_call *pc,
				      __u8 sc, __u64 call_off, __u64 base, __u64 ret, __u64 now,
				      __u32 start_left, struct peek_buf *win)
{
	struct sse_tail *t = bpf_map_lookup_elem(&sse_tails, k);
	__u64 from;

	if (!t) {
		struct sse_tail *init = NULL;
		struct scratch *s = get_scratch();

		/* a zeroed value to insert: the scratch's tail is big enough */
		init = (struct sse_tail *)(s ? s->data : NULL);
		if (!init)
			return false;
		__builtin_memset(init, 0, sizeof(struct sse_tail) - sizeof(init->data));
		if (bpf_map_update_elem(&sse_tails, k, init, BPF_ANY))
			return false;
		t = bpf_map_lookup_elem(&sse_tails, k);
		if (!t)
			return false;
	}
	from = ret > base + SSE_TAIL_MAX ? ret - SSE_TAIL_MAX : base;
	if (!base && win && win->wn >= ret && ret <= SSE_TAIL_MAX) {
		/* the window holds the whole call (a token's event): no
		 * second read of user memory, an iovec walk for nginx */
		__u64 n = ret;

		/* re-bound, all 64 bits: clang drops a clamp it can prove
		 * and passes a wider register for a u32 */
		asm volatile("" : "+r"(n));
		if (n > SSE_TAIL_MAX)
			n = SSE_TAIL_MAX;
		t->len = bpf_probe_read_kernel(t->data, n, win->w) ? 0 : n;
	} else {
		COPY_RANGE(t->len, iov_copy_tail, t, data, SSE_TAIL_MAX, pc, sc, ret, from,
			   SSE_TAIL_MAX);
	}
	t->whole = from == base && start_left == 0;
	t->call_off = call_off + base;
	t->call_len = ret - base;
	t->ts = now;
	return true;
}

enum peek_result { PEEK_NONE, PEEK_MESSAGE, PEEK_OTHER, PEEK_CHUNK };

/* The byte tests of sock_stream.h on one peek, as a global function: the
 * verifier walks it once, not at each of the up to three calls in each of
 * the eight exit programs. */
__noinline int peek_parse(struct peek_buf *pb, __u32 n, int first, struct chunk_head *ch)
{
	int head;

	if (!pb || !ch)
		return PEEK_NONE;
	if (n > PEEK_MAX)
		n = PEEK_MAX;
	if (first) {
		head = stream_head_kind(pb->b, n);
		if (head == HEAD_MESSAGE)
			return PEEK_MESSAGE;
		if (head == HEAD_OTHER)
			return PEEK_OTHER;
	}
	return chunk_head_parse(pb->b, n, ch) ? PEEK_CHUNK : PEEK_NONE;
}

/* Reads the call's first bytes into pb->w, once per call. */
static __always_inline void win_fill(struct peek_buf *pb, const struct pending_call *pc,
				     __u8 sc, __u64 ret)
{
	__u32 n;

	COPY_RANGE(n, iov_copy_win, pb, w, HEAD_SCAN_MAX, pc, sc, ret, 0, HEAD_SCAN_MAX);
	pb->wn = n;
}

/* Up to PEEK_MAX bytes of the call at off into pb->b: from the window
 * when it holds them (or holds the whole call), else from user memory.
 * Returns the bytes there. Global: verified once. */
__noinline __u32 peek_at(struct peek_buf *pb, const struct pending_call *pc, __u8 sc,
			 __u64 ret, __u64 off)
{
	__u64 wn;
	__u32 n;

	if (!pb || !pc)
		return 0;
	wn = pb->wn;
	if (off < wn && (off + PEEK_MAX <= wn || wn >= ret)) {
		n = wn - off > PEEK_MAX ? PEEK_MAX : wn - off;
		__builtin_memcpy(pb->b, &pb->w[off & (HEAD_SCAN_MAX - 1)], PEEK_MAX);
		return n;
	}
	COPY_RANGE(n, iov_copy_peek, pb, b, PEEK_MAX, pc, sc, ret, off, PEEK_MAX);
	return n;
}

/* Where a message head ends ("\r\n\r\n") within the window, the call's
 * first HEAD_SCAN_MAX bytes; 0 if not there. Eight bytes a step, and in
 * a word that holds a '\n' only those bytes are tried: the lowest one's
 * index comes from a multiply (BPF has no count-trailing-zeros), not
 * from a loop over the word. Global: verified once. */
__noinline __u32 head_end(struct peek_buf *pb)
{
	const __u64 ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	__u64 n;

	if (!pb)
		return 0;
	n = pb->wn > HEAD_SCAN_MAX ? HEAD_SCAN_MAX : pb->wn;
	for (__u32 i = 0; i < HEAD_SCAN_MAX; i += 8) {
		__u64 v, m;

		if (i >= n)
			return 0;
		__builtin_memcpy(&v, &pb->w[i & (HEAD_SCAN_MAX - 1)], 8);
		v ^= 0x0a0a0a0a0a0a0a0aULL;	/* a zero byte where a '\n' is */
		/* every '\n' marked; a borrow may also mark a byte above
		 * one, which the byte test below turns away */
		m = (v - ones) & ~v & highs;
		for (int k = 0; k < 8 && m; k++) {
			__u64 low = m & -m;
			__u32 e = i + (__u32)(((low >> 7) * 0x0001020304050607ULL) >> 56);

			m &= m - 1;
			if (e >= n)
				return 0;
			e &= HEAD_SCAN_MAX - 1;
			if (e >= 3 && pb->w[e] == '\n' && pb->w[e - 1] == '\r' &&
			    pb->w[e - 2] == '\n' && pb->w[e - 3] == '\r')
				return e + 1;
		}
	}
	return 0;
}

/* The walk through one call's chunks. */
struct walk {
	__u64 ret;
	__u64 off;		/* next chunk-size line */
	__u32 events;
	__u32 framing;
	__u32 kind;		/* CALL_SSE so far, CALL_MESSAGE, or CALL_SEND */
	__u32 done_only;
	__u32 in_stream;	/* a router re-chunks: chunks may start mid-event */
	__u32 split;		/* chunks that did */
	__u64 end_at;		/* the last chunk's offset, SSE events before it */
	__u64 first_end;	/* past the call's first event's chunk */
	__u32 first_framing;	/* the framing up to there */
	__u32 cut_size;		/* STEP_CUT_HEAD: chunk_head_cut()'s size */
	__u8 cut_state;		/* ... and state */
	__u8 cut_rest;		/* the call began with a cut line's rest */
	__u32 heads;		/* chunk-size lines read in this call */
};

enum step_result { STEP_MORE, STEP_END_OF_CALL, STEP_LOST, STEP_LAST_CHUNK, STEP_CUT_HEAD };

/* A chunk whose size line ch read at w->off (the line ch->head_len long):
 * its event counted, w->off moved past it. */
static __always_inline void walk_chunk(struct walk *w, const struct chunk_head *ch)
{
	if (ch->sse_data) {
		if (!ch->sse_done) {
			w->events++;
			w->done_only = 0;
			if (w->events == 1) {
				w->first_end = w->off + ch->head_len + ch->size + 2;
				w->first_framing = w->framing + ch->head_len + 2;
			}
		}
	} else {
		/* event:, id:, a comment, or an event's middle a router
		 * re-chunked (": {" reads as a comment): its tail may hold
		 * the counts, so it is kept */
		w->done_only = 0;
	}
	if (!ch->sse_data && !ch->sse_other) {
		w->split++;
		if (w->off + ch->head_len + 6 <= w->ret && w->kind == CALL_SSE && !w->in_stream)
			w->kind = CALL_SEND;	/* chunked, not SSE */
	}
	w->off += ch->head_len + ch->size + 2;
	w->framing += ch->head_len + 2;
}

/* One chunk-size line at w->off: counted, and w->off moved past its
 * chunk. Global, so the verifier walks it once for all the steps. */
__noinline int walk_step(struct peek_buf *pb, const struct pending_call *pc, __u8 sc,
			 struct walk *w)
{
	struct chunk_head ch = {};
	__u32 n;

	if (!pb || !pc || !w)
		return STEP_LOST;
	if (w->off >= w->ret)
		return STEP_END_OF_CALL;
	n = peek_at(pb, pc, sc, w->ret, w->off);
	if (peek_parse(pb, n, 0, &ch) != PEEK_CHUNK) {
		/* the call's end cut a size line ("5f\r"): the next call
		 * finishes it */
		if (w->off + n == w->ret && chunk_head_cut(pb->b, n, &w->cut_size, &w->cut_state)) {
			w->framing += n;
			return STEP_CUT_HEAD;
		}
		return STEP_LOST;
	}
	w->heads++;
	if (ch.size == 0)
		return STEP_LAST_CHUNK;
	walk_chunk(w, &ch);
	return STEP_MORE;
}

/* walk_step() as bpf_loop's callback: verified once, whatever the bound. */
struct walk_loop {
	struct peek_buf *pb;
	const struct pending_call *pc;
	struct walk *w;
	__u8 sc;
	int r;
};

static long walk_loop_step(__u64 i, void *ctx)
{
	struct walk_loop *l = ctx;

	l->r = walk_step(l->pb, l->pc, l->sc, l->w);
	return l->r != STEP_MORE;
}

/* Follows the chunk framing of a stream through the call (from where the
 * last call left it, or from a head or a chunk-size line at its start)
 * and says whether the call may be held back: only chunks of SSE events,
 * not the last (zero-size) chunk, after the stream's first event was
 * sent. The framing position is kept in d for the next call either way.
 * Global: one verification, and the exit programs see a single result. */
__noinline int classify_call(struct peek_buf *pb, const struct pending_call *pc, __u8 sc,
			     struct walk *w, struct conn_dir *d)
{
	int kind = CALL_UNALIGNED;
	__u32 confirm = d && d->framing == FRAMING_TENTATIVE;	/* heads that make it sure */
	bool sure;

	if (!pb || !pc || !w || !d)
		return CALL_SEND;
	w->kind = CALL_SSE;
	w->done_only = 1;
	w->events = w->framing = w->first_framing = 0;
	w->end_at = w->first_end = 0;
	w->cut_rest = 0;
	w->heads = 0;
	if (d->framing && d->head_cut) {
		/* the last call's end cut a size line: its rest comes first */
		struct chunk_head ch = {};
		__u32 n = peek_at(pb, pc, sc, w->ret, 0), size = d->cut_size;
		__u8 state = d->head_cut;
		int r = chunk_head_rest(pb->b, n, &state, &size, &ch);

		if (r == HEAD_REST_CUT && n == w->ret) {
			/* a call inside the line (a 1-byte partial write): held
			 * in a stream, the line still cut */
			d->head_cut = state;
			d->cut_size = size;
			w->framing = n;
			return d->framing == FRAMING_KNOWN && d->in_stream ? CALL_SSE : CALL_SEND;
		}
		if (r != HEAD_REST_DONE) {
			d->framing = d->head_cut = 0;
			return CALL_UNALIGNED;
		}
		w->off = 0;
		w->cut_rest = 1;
		w->heads = 1;
		walk_chunk(w, &ch);
	} else if (d->framing) {
		w->off = d->chunk_left;
		/* the rest of a chunk a partial write left: an event's end,
		 * whose tail holds the counts */
		if (d->chunk_left)
			w->done_only = 0;
	} else {
		struct chunk_head ch = {};
		__u32 n;
		int r;

		n = peek_at(pb, pc, sc, w->ret, 0);
		r = peek_parse(pb, n, 1, &ch);
		if (r == PEEK_MESSAGE) {
			w->kind = CALL_MESSAGE;
			/* a request: its body is sent whole or absent, never
			 * held back, so its framing is not followed (half the
			 * calls of a proxied request skip the head scan) */
			if (!ss_prefix(pb->b, n, 0, "HTTP/", 5))
				return CALL_MESSAGE;
			w->off = head_end(pb);
			if (!w->off)
				return CALL_MESSAGE;	/* framing unknown */
		} else if (r != PEEK_CHUNK) {
			return CALL_SEND;
		} else {
			/* a size line at the call's start, the framing lost
			 * before (or never seen): maybe one ("5a\r\n" cut to
			 * "a\r\n" reads as one too). Nothing is held back on
			 * its word until the next size line is where it says */
			confirm = 2;
			count(CNT_SSE_RESYNC);
		}
	}
	d->framing = d->head_cut = 0;
	{
		struct walk_loop l = { .pb = pb, .pc = pc, .w = w, .sc = sc, .r = STEP_MORE };

		bpf_loop(SSE_CHUNKS_MAX, walk_loop_step, &l, 0);
		sure = w->heads >= confirm;
		if (l.r != STEP_END_OF_CALL && l.r != STEP_CUT_HEAD)
			w->first_end = 0;	/* only a call in mid-stream is split */
		if (l.r == STEP_END_OF_CALL) {
			d->chunk_left = w->off - w->ret;
			d->framing = sure ? FRAMING_KNOWN : FRAMING_TENTATIVE;
			kind = sure ? w->kind : CALL_UNALIGNED;
		} else if (l.r == STEP_CUT_HEAD) {
			d->chunk_left = 0;
			d->head_cut = w->cut_state;
			d->cut_size = w->cut_size;
			d->framing = sure ? FRAMING_KNOWN : FRAMING_TENTATIVE;
			kind = sure ? w->kind : CALL_UNALIGNED;
			count(CNT_SSE_CUT_HEAD);
		} else if (l.r == STEP_LAST_CHUNK && !sure) {
			kind = CALL_UNALIGNED;
		} else if (l.r == STEP_LAST_CHUNK) {
			kind = w->kind == CALL_MESSAGE ? CALL_MESSAGE : CALL_SEND;
			if (w->kind == CALL_SSE)
				w->end_at = w->off;
		} else if (l.r != STEP_MORE) {
			kind = w->kind == CALL_MESSAGE ? CALL_MESSAGE : CALL_UNALIGNED;
		}
	}
	return kind;
}

/* *win: the peek buffer, its window filled with this call's first bytes;
 * w: what the walk found. */
static __always_inline int classify(const struct pending_call *pc, __u8 sc, __u64 ret,
				    struct conn_dir *d, struct walk *w, struct peek_buf **win)
{
	__u32 zero = 0;
	struct peek_buf *pb = bpf_map_lookup_elem(&peek_space, &zero);

	w->ret = ret;
	w->in_stream = d->in_stream;
	if (pb)
		win_fill(pb, pc, sc, ret);
	*win = pb;
	return classify_call(pb, pc, sc, w, d);
}

#include "sock_h2.bpf.h"

/* ---- exit side ----------------------------------------------------- */

/* A syscall's first three arguments from the thread's saved user
 * registers. bpf_task_pt_regs() gives a typed pointer: on x86 these are
 * plain loads the JIT emits inline (BPF_CORE_READ made each a helper call,
 * four a traced call with the next macro). */
#if defined(__TARGET_ARCH_x86)
#define ST_ARG1(regs)	((regs)->di)
#define ST_ARG2(regs)	((regs)->si)
#define ST_ARG3(regs)	((regs)->dx)
#else
#define ST_ARG1(regs)	PT_REGS_PARM1_CORE_SYSCALL(regs)
#define ST_ARG2(regs)	PT_REGS_PARM2_CORE_SYSCALL(regs)
#define ST_ARG3(regs)	PT_REGS_PARM3_CORE_SYSCALL(regs)
#endif

/* An exit with no saved enter: the call began before we attached (a
 * thread parked in a blocking read). The syscall's arguments are still in
 * the registers saved at entry, so the call is rebuilt from them and its
 * data, which arrived after attach, is not lost. Counted all the same. */
static __always_inline bool rebuild_pending(struct pending_call *pc, __u8 sc)
{
	struct pt_regs *regs;

	if (!is_traced())
		return false;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	pc->fd = (__s32)ST_ARG1(regs);
	pc->buf = ST_ARG2(regs);
	pc->vlen = ST_ARG3(regs);
	pc->syscall = sc;
	pc->ts_enter = bpf_ktime_get_ns();	/* the enter time is lost */
	if (!sock_lookup_fd(pc->fd, &pc->sock_id, &pc->local, &pc->peer))
		return false;
	count(CNT_MISSED_ENTER);
	return true;
}

/* The thread's saved enter, if it is this call's. Only enter_call() of a
 * traced process fills one, so the traced common case costs the task
 * storage read alone, and an untraced thread (no storage) pays the
 * is_traced() lookup once, in rebuild_pending(). */
static __always_inline struct pending_call *take_pending(__u8 sc)
{
	struct pending_call *pc;

	pc = my_pending(false);
	if (!pc || !pc->syscall)
		return NULL;
	if (pc->syscall != sc) {
		count(CNT_STALE_ENTER);
		pc->syscall = 0;
		return NULL;
	}
	return pc;
}

/* The header of a data record whose first `got` bytes follow. */
static __always_inline void fill_data(struct sock_event *ev, const struct pending_call *pc,
				      __s64 ret, __u8 dir, __u64 now, struct conn_dir *d,
				      __u64 call_off, __u32 start_left, __u32 got)
{
	fill_header(ev, EV_DATA, pc, ret, now);
	ev->dir = dir;
	ev->stream_off = call_off;
	if (d)
		fill_skips(ev, d, start_left);
	ev->cap_len = got;
	if ((__u64)ret > got) {
		ev->truncated = 1;
		count(CNT_TRUNCATED);
	}
}

/* The bytes a data record holds at most. */
static __always_inline __u32 capture_limit(void)
{
	return capture_bytes < MAX_CAPTURE ? capture_bytes : MAX_CAPTURE;
}

/* Sends a data call: its first `want` bytes. From the window when it
 * holds them (win: classify() read it), else read again: straight into
 * the ring record for one buffer, through the scratch for iovecs. */
static __always_inline void emit_data(const struct pending_call *pc, __u8 sc, __s64 ret, __u8 dir,
				      __u64 now, struct conn_dir *d, __u64 call_off,
				      __u32 start_left, struct peek_buf *win, __u64 from)
{
	void *rb = ring_for(pc->sock_id);
	struct sock_event *ev;
	__u64 iov, vlen;
	__u32 want = 0;
	__u64 n;

	if (!rb)
		return;
	if (ret > 0) {
		want = capture_limit();
		if ((__u64)ret - from < want)
			want = ret - from;
	}
	if (win && want && want <= win->wn) {
		n = want;
		if (n > HEAD_SCAN_MAX)
			n = HEAD_SCAN_MAX;
		fill_data(&win->ev, pc, ret, dir, now, d, call_off, start_left, n);
		if (bpf_ringbuf_output(rb, &win->ev, sizeof(win->ev) + n, submit_flags(rb, pc->sock_id)))
			count(CNT_RINGBUF_FULL);
		else
			count(CNT_EVENTS);
		return;
	}
	/* from: a record for the call's bytes from there on (a stream's end
	 * whose events were held back) */
	if (want && (from || call_iovecs(pc, sc, &iov, &vlen))) {
		struct scratch *s = get_scratch();
		__u32 got;

		if (!s)
			return;
		COPY_RANGE(got, iov_copy_scratch, s, data, MAX_CAPTURE, pc, sc, ret, from, want);
		fill_data(&s->ev, pc, ret - from, dir, now, d, call_off + from, start_left, got);
		if (bpf_ringbuf_output(rb, s, (sizeof(s->ev) + got) & (2 * MAX_CAPTURE - 1),
				       submit_flags(rb, pc->sock_id)))
			count(CNT_RINGBUF_FULL);
		else
			count(CNT_EVENTS);
		return;
	}
	/* size classes: the verifier needs a constant reserve size */
#define EMIT_CLASS(SZ)								\
	if (want <= (SZ)) {							\
		ev = bpf_ringbuf_reserve(rb, sizeof(*ev) + (SZ), 0);		\
		if (!ev) {							\
			count(CNT_RINGBUF_FULL);				\
			return;							\
		}								\
		/* re-bound after an opaque copy: clang would drop it */	\
		n = want;							\
		asm volatile("" : "+r"(n));					\
		if (n > (SZ))							\
			n = (SZ);						\
		if (n && bpf_probe_read_user((char *)(ev + 1), n,		\
					     (void *)pc->buf)) {		\
			count(CNT_READ_FAULT);					\
			want = 0;						\
		}								\
		fill_data(ev, pc, ret, dir, now, d, call_off, start_left, want); \
		bpf_ringbuf_submit(ev, submit_flags(rb, pc->sock_id));		\
		count(CNT_EVENTS);						\
		return;								\
	}
	EMIT_CLASS(512)
	EMIT_CLASS(2048)
	EMIT_CLASS(8192)
	EMIT_CLASS(MAX_CAPTURE)
#undef EMIT_CLASS
}

#include "sock_body.bpf.h"

static __always_inline struct conn_dir *conn_dir_of(__u64 sock_id, __u8 dir, __s32 fd,
						    bool *created)
{
	struct conn_stream *cs = bpf_map_lookup_elem(&conn_streams, &sock_id);

	if (!cs) {
		struct conn_stream fresh = {};

		*created = true;
		if (bpf_map_update_elem(&conn_streams, &sock_id, &fresh, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(&conn_streams, &sock_id)) {
			count(CNT_CONN_FULL);
			return NULL;
		}
		cs = bpf_map_lookup_elem(&conn_streams, &sock_id);
		if (!cs)
			return NULL;
	}
	cs->tgid = bpf_get_current_pid_tgid() >> 32;
	cs->fd = fd;
	return &cs->d[dir & 1];
}

/* A connection's first data call in a traced process, at the socket
 * layer: the accept or connect it was, if it opened while attached. */
static __always_inline void report_open(struct pending_call *pc, __u64 now)
{
	__u8 *how = bpf_map_lookup_elem(&fresh_conns, &pc->sock_id);

	if (!how)
		return;		/* opened before attach: its first bytes tell */
	emit_bare(*how == 1 ? EV_ACCEPT : EV_CONNECT, pc, 0, now);
	bpf_map_delete_elem(&fresh_conns, &pc->sock_id);
}

/* Bytes [base, end) of a call held back: counted in d (they go out as
 * skips with the direction's next record), their tail kept unless they
 * are [DONE]s alone. */
static __always_inline void hold_back(const struct pending_call *pc, __u8 sc, struct conn_dir *d,
				      __u8 dir, __u64 call_off, __u64 base, __u64 end,
				      const struct walk *w, __u32 events, __u32 framing,
				      __u32 start_left, __u64 now, struct peek_buf *win)
{
	struct tail_key k = { .sock_id = pc->sock_id, .dir = dir, .slot = d->tail_slot & 1 };

	d->skip_bytes += end - base;
	d->skip_calls++;
	d->skip_events += events;
	d->skip_framing += framing;
	d->skip_ts = now;
	if (w->split)
		count_n(CNT_SSE_SPLIT, w->split);
	if (start_left)
		count(CNT_SSE_PARTIAL);
	/* a tail from the call's start is whole unless the call began
	 * inside a chunk or a size line */
	if (!w->done_only && keep_tail(&k, pc, sc, call_off, base, end, now,
				       start_left || (!base && w->cut_rest), win)) {
		d->tail_slot ^= 1;
		if (d->tail_valid < 2)
			d->tail_valid++;
	}
	count(CNT_SKIPPED_CALLS);
	count_n(CNT_SKIPPED_BYTES, end - base);
}

/* One data call that returned ret, whichever hook saw it. have_sock: pc
 * already names its socket. A pc in task storage is released at the end. */
static __always_inline int data_call(struct pending_call *pc, bool have_sock,
				     bool stored, __s64 ret, __u8 sc, __u8 dir)
{
	bool created = false;
	struct peek_buf *win = NULL;	/* set when classify() read the call */
	struct conn_dir *d = NULL;
	struct walk w = {};
	__u64 now, call_off = 0, hold = 0, head = 0;
	__u32 start_left = 0;
	int kind;

	/* Non-blocking sockets say EAGAIN all the time; a read of 0 is EOF
	 * (worth one record: it tells a client abort from a reset). */
	if ((ret == 0 && dir == DIR_WRITE) || ret == -11 /* EAGAIN */ ||
	    ret == -4 /* EINTR */)
		goto out;
	if (!have_sock && !sock_lookup_fd(pc->fd, &pc->sock_id, &pc->local, &pc->peer))
		goto out;	/* not an inet stream socket */
	now = bpf_ktime_get_ns();
	if (!pc->ts_enter)	/* socket layer: the call ends now (one clock read) */
		pc->ts_enter = now;
	d = conn_dir_of(pc->sock_id, dir, pc->fd, &created);
	if (sock_hooks && created)
		report_open(pc, now);
	if (d) {
		call_off = d->off;
		if (ret > 0)
			d->off += ret;
	}
	if (d && skip_sse && ret > 0 && d->proto != H2K_OFF) {
		kind = h2k_call(pc, sc | (__u32)dir << 8, ret, d, now);
		if (kind == H2K_HELD)
			goto out;
		if (kind == H2K_SENT)
			goto send;
	}
	if (d && skip_sse && ret > 0) {
		start_left = d->framing ? d->chunk_left : 0;
		kind = classify(pc, sc, ret, d, &w, &win);
		kind = body_classify(pc, sc, ret, d, kind);
		if ((kind == CALL_MESSAGE || (kind == CALL_SSE && !d->in_stream)) &&
		    w.events > 1 && w.first_end && w.first_end < (__u64)ret) {
			/* a stream's first event and more in one call (a
			 * proxy's 4 KiB read of a head and 40 events): sent
			 * up to that event's end, the rest held back */
			head = w.first_end;
			d->in_stream = 1;
			count(CNT_SSE_HEAD_SPLIT);
		} else if (kind == CALL_MESSAGE) {
			/* a response head with its stream's first event: what
			 * follows is held back */
			d->in_stream = w.events > 0;
		} else if (kind == CALL_SSE && d->in_stream) {
			hold = ret;
		} else if (kind == CALL_SSE) {
			d->in_stream = 1;	/* its first event: sent */
		} else if (kind == CALL_UNALIGNED) {
			count(CNT_SSE_UNALIGNED);
		} else if (d->in_stream && w.end_at &&
			   (w.events > 1 || w.cut_rest || ret > capture_limit())) {
			/* a stream's end with events before it (a proxy's last
			 * read, a slow reader's queue): the events are held
			 * back as a call of their own, tail kept, the last
			 * chunk sent. Past the capture size the record would
			 * keep only the first events, and lose the end; from
			 * a cut size line's rest, user space could not read it */
			hold = w.end_at;
			if (ret > capture_limit())
				count(CNT_SSE_END_SPLIT);
		}
	}
	if (hold && d) {
		hold_back(pc, sc, d, dir, call_off, 0, hold, &w, w.events, w.framing, start_left,
			  now, win);
		if (hold == (__u64)ret)
			goto out;
		/* the record starts at hold, the last chunk's size line:
		 * its skips say so, whatever chunk the call began in */
		win = NULL;
		start_left = 0;
	}
send:
	h2k_emit_span(pc, dir, d);
	if (d && d->tail_valid)
		emit_tail(pc, dir, d);
	if (head && d) {
		/* the record first: the held rest goes out as skips with
		 * the next record, ordered after this one */
		emit_data(pc, sc, head, dir, now, d, call_off, start_left, win, 0);
		hold_back(pc, sc, d, dir, call_off, head, ret, &w, w.events - 1,
			  w.framing - w.first_framing, 0, now, NULL);
	} else if (hold || !body_emit(pc, sc, ret, dir, now, d, call_off, start_left)) {
		emit_data(pc, sc, ret, dir, now, d, call_off, start_left, win, hold);
	}
	if (sock_hooks && (ret == -104 /* ECONNRESET */ || ret == -32 /* EPIPE */)) {
		/* reset: its close() may change no state (it is CLOSE
		 * already), so the close is said here, after the error */
		pc->ts_enter = now;
		close_conn(pc, bpf_map_lookup_elem(&conn_streams, &pc->sock_id));
	}
out:
	if (stored)
		pc->syscall = 0;
	return 0;
}

/* The syscall-tracepoint path: the exit finds what its enter saved. */
static __always_inline int exit_data_call(struct trace_event_raw_sys_exit *ctx,
					  __u8 sc, __u8 dir)
{
	struct pending_call *pc, rebuilt = {};

	pc = take_pending(sc);
	if (pc)
		return data_call(pc, false, true, ctx->ret, sc, dir);
	if (!rebuild_pending(&rebuilt, sc))
		return 0;
	return data_call(&rebuilt, true, false, ctx->ret, sc, dir);
}

#define EXIT_DATA(name, sc, dir)					\
SEC("tracepoint/syscalls/sys_exit_" #name)				\
int exit_##name(struct trace_event_raw_sys_exit *ctx)			\
{									\
	return exit_data_call(ctx, sc, dir);				\
}

EXIT_DATA(read, SC_READ, DIR_READ)
EXIT_DATA(readv, SC_READV, DIR_READ)
EXIT_DATA(recvfrom, SC_RECVFROM, DIR_READ)
EXIT_DATA(recvmsg, SC_RECVMSG, DIR_READ)
EXIT_DATA(write, SC_WRITE, DIR_WRITE)
EXIT_DATA(writev, SC_WRITEV, DIR_WRITE)
EXIT_DATA(sendto, SC_SENDTO, DIR_WRITE)
EXIT_DATA(sendmsg, SC_SENDMSG, DIR_WRITE)

/* The socket-layer path (kernels with sock:sock_{recv,send}_length, 6.3+):
 * one program per socket call, after it, with the socket at hand. Only
 * socket I/O runs it, so a traced process's file and pipe I/O costs
 * nothing, and no syscall tracepoint (each of which makes every syscall of
 * every process take the slow path) is needed for data. The call's
 * arguments are the syscall's, from the thread's saved user registers. A
 * read's time is its end; a write's start is tcp_send_start()'s below. */
#if defined(__TARGET_ARCH_x86)
#define ST_NR(regs)	((regs)->orig_ax)
enum { NR_READ = 0, NR_WRITE = 1, NR_CLOSE = 3, NR_READV = 19, NR_WRITEV = 20,
       NR_SENDTO = 44, NR_RECVFROM = 45, NR_SENDMSG = 46, NR_RECVMSG = 47 };
#elif defined(__TARGET_ARCH_arm64)
#define ST_NR(regs)	BPF_CORE_READ((struct user_pt_regs *)(regs), regs[8])
enum { NR_READ = 63, NR_WRITE = 64, NR_CLOSE = 57, NR_READV = 65, NR_WRITEV = 66,
       NR_SENDTO = 206, NR_RECVFROM = 207, NR_SENDMSG = 211, NR_RECVMSG = 212 };
#endif

#ifdef ST_NR
static __always_inline bool sock_call(struct trace_event_raw_sock_msg_length *ctx,
				      struct pending_call *pc, struct pt_regs **regs)
{
	if (ctx->ret == -11 /* EAGAIN */ || ctx->ret == -4 /* EINTR */)
		return false;	/* the non-blocking loop's last read: nothing moved */
	pc->sock_id = (__u64)ctx->sk;
	if (!sock_endpoints(ST_CAST(ctx->sk, struct sock), &pc->local, &pc->peer))
		return false;
	*regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	pc->fd = (__s32)ST_ARG1(*regs);
	pc->buf = ST_ARG2(*regs);
	pc->vlen = ST_ARG3(*regs);
	pc->ts_enter = 0;	/* data_call()'s clock read, unless a write's start */
	return true;
}

#define SOCK_CASE(nr, sc, dir)						\
	case nr:							\
		pc.syscall = sc;					\
		return data_call(&pc, true, false, ctx->ret, sc, dir)

SEC("tracepoint/sock/sock_recv_length")
int sock_recv(struct trace_event_raw_sock_msg_length *ctx)
{
	struct pending_call pc = {};
	struct pt_regs *regs;

	if (!is_traced() || !sock_call(ctx, &pc, &regs))
		return 0;
	if (ctx->flags & 2 /* MSG_PEEK: the bytes are read again later */)
		return 0;
	switch (ST_NR(regs)) {
	SOCK_CASE(NR_READ, SC_READ, DIR_READ);
	SOCK_CASE(NR_READV, SC_READV, DIR_READ);
	SOCK_CASE(NR_RECVFROM, SC_RECVFROM, DIR_READ);
	SOCK_CASE(NR_RECVMSG, SC_RECVMSG, DIR_READ);
	}
	count(CNT_OTHER_IO);	/* recvmmsg, splice, io_uring ...: not followed */
	return 0;
}

/* A write's enter time. sock_send_length fires once the bytes are
 * queued, and on loopback the reader may have read them by then: a
 * forward would look later than the worker's read of it. TCP's send loop
 * says when it starts; the first time in a call is kept in the thread's
 * storage for sock_send(). Without this tracepoint (older kernels; the
 * start-up line warns) writes are stamped at their end. */
#define SC_SEND_START 0xff

SEC("tracepoint/tcp/tcp_sendmsg_locked")
int tcp_send_start(void *ctx)
{
	struct pending_call *pc;

	if (!is_traced())
		return 0;
	pc = my_pending(true);
	if (pc && pc->syscall != SC_SEND_START) {
		pc->syscall = SC_SEND_START;
		pc->ts_enter = bpf_ktime_get_ns();
	}
	return 0;
}

SEC("tracepoint/sock/sock_send_length")
int sock_send(struct trace_event_raw_sock_msg_length *ctx)
{
	struct pending_call pc = {}, *start;
	struct pt_regs *regs;
	__u64 began = 0;

	if (!is_traced())
		return 0;
	start = my_pending(false);	/* taken by every send: none goes stale */
	if (start && start->syscall == SC_SEND_START) {
		began = start->ts_enter;
		start->syscall = 0;
	}
	if (!sock_call(ctx, &pc, &regs) || ctx->ret == 0)
		return 0;
	if (began)
		pc.ts_enter = began;
	switch (ST_NR(regs)) {
	SOCK_CASE(NR_WRITE, SC_WRITE, DIR_WRITE);
	SOCK_CASE(NR_WRITEV, SC_WRITEV, DIR_WRITE);
	SOCK_CASE(NR_SENDTO, SC_SENDTO, DIR_WRITE);
	SOCK_CASE(NR_SENDMSG, SC_SENDMSG, DIR_WRITE);
	}
	count(CNT_OTHER_IO);	/* sendfile, sendmmsg, io_uring ...: not followed */
	return 0;
}

/* Connections, with the socket-layer hooks: no syscall tracepoint at all
 * (one would send every syscall of every process through the slow path).
 * A socket that becomes ESTABLISHED starts a new connection on that struct
 * sock: any state left from an earlier one goes (what the accept and
 * connect exits do on the syscall path; the side of a connection is told
 * from its first bytes, as for connections older than servetrace). A close
 * is the first state change of a socket, inside the close() of the fd the
 * traced process last moved its data by: tcp_close() makes one (FIN_WAIT1,
 * LAST_ACK, CLOSE, or the same state again), in the closing thread. A
 * peer's or our own softirq work in that thread is another socket, or
 * another fd, or comes after the state is gone. */
SEC("tracepoint/sock/inet_sock_set_state")
int sock_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	struct pending_call pc = {};
	struct conn_stream *cs;
	struct pt_regs *regs;
	int old = ctx->oldstate;

	if (ctx->protocol != 6 /* IPPROTO_TCP */)
		return 0;
	pc.sock_id = (__u64)ctx->skaddr;
	if (ctx->newstate == 1 /* TCP_ESTABLISHED */) {
		__u8 how = old == 3 /* SYN_RECV */ ? 1 : old == 2 /* SYN_SENT */ ? 2 : 0;

		bpf_map_delete_elem(&conn_streams, &pc.sock_id);
		h2k_forget(pc.sock_id);
		if (how)
			bpf_map_update_elem(&fresh_conns, &pc.sock_id, &how, BPF_ANY);
		return 0;
	}
	if (ctx->newstate == 7 /* TCP_CLOSE */ &&
	    (old == 4 || old == 5 || old == 9 || old == 11)) {
		/* FIN_WAIT1/2, LAST_ACK, CLOSING -> CLOSE: both ways are done,
		 * often in softirq after a shutdown(); the fd's close() that
		 * follows then changes no state. Said for the owner. */
		cs = bpf_map_lookup_elem(&conn_streams, &pc.sock_id);
		if (!cs || !tgid_traced(cs->tgid))
			return 0;
		pc.owner = cs->tgid;
	} else {
		if (!is_traced())
			return 0;
		cs = bpf_map_lookup_elem(&conn_streams, &pc.sock_id);
		if (!cs || cs->tgid != bpf_get_current_pid_tgid() >> 32)
			return 0;
		regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
		if (ST_NR(regs) != NR_CLOSE ||
		    (__s32)ST_ARG1(regs) != cs->fd)
			return 0;
	}
	pc.fd = cs->fd;
	if (!sock_endpoints(ST_CAST(ctx->skaddr, struct sock), &pc.local, &pc.peer))
		return 0;
	pc.ts_enter = bpf_ktime_get_ns();
	close_conn(&pc, cs);
	return 0;
}
#endif

/* connect and accept report the connection with both addresses. */
static __always_inline int exit_conn_call(struct trace_event_raw_sys_exit *ctx,
					  __u8 sc, __u32 type)
{
	__s64 ret = ctx->ret;
	struct pending_call *pc;

	pc = take_pending(sc);
	if (!pc)
		return 0;	/* began before attach; the fd's data still names it */
	/* Non-blocking connect returns EINPROGRESS and is still a connection. */
	if (ret < 0 && !(sc == SC_CONNECT && ret == -115 /* EINPROGRESS */))
		goto out;
	if (sc == SC_ACCEPT)
		pc->fd = (__s32)ret;
	if (!sock_lookup_fd(pc->fd, &pc->sock_id, &pc->local, &pc->peer))
		goto out;
	/* a new connection on a reused struct sock starts a fresh stream */
	bpf_map_delete_elem(&conn_streams, &pc->sock_id);
	h2k_forget(pc->sock_id);
	emit_bare(type, pc, ret, bpf_ktime_get_ns());
out:
	pc->syscall = 0;
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept_plain(struct trace_event_raw_sys_exit *ctx)
{
	return exit_conn_call(ctx, SC_ACCEPT, EV_ACCEPT);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return exit_conn_call(ctx, SC_ACCEPT, EV_ACCEPT);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	return exit_conn_call(ctx, SC_CONNECT, EV_CONNECT);
}

/* A traced process is gone: user space drops its state. */
SEC("tracepoint/sched/sched_process_exit")
int on_process_exit(struct trace_event_raw_sched_process_template *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pending_call pc = {};

	if ((__u32)id != tgid || !is_traced())
		return 0;	/* only the thread-group leader ends a process */
	pc.ts_enter = bpf_ktime_get_ns();
	pc.fd = -1;
	emit_bare(EV_PROC_EXIT, &pc, 0, pc.ts_enter);
	return 0;
}

/* A process image starts (any process: exec is rare): user space, in
 * automatic mode, classifies it at once, so a router is traced before it
 * dials its workers rather than at the next /proc rescan. Woken at once;
 * not counted in CNT_EVENTS, which counts traffic. */
SEC("tracepoint/sched/sched_process_exec")
int on_process_exec(void *ctx)
{
	struct pending_call pc = {};
	struct sock_event *ev;
	void *rb = ring_for(0);

	if (!rb)
		return 0;
	ev = bpf_ringbuf_reserve(rb, sizeof(*ev), 0);
	if (!ev) {
		count(CNT_RINGBUF_FULL);
		return 0;
	}
	pc.ts_enter = bpf_ktime_get_ns();
	pc.fd = -1;
	fill_header(ev, EV_PROC_EXEC, &pc, 0, pc.ts_enter);
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
	return 0;
}

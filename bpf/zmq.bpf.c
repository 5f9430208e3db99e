// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Inside the SGLang server: the libzmq messages its processes exchange
 * (tokenizer -> scheduler -> detokenizer -> tokenizer), from uprobes on
 * zmq_msg_send (entry) and zmq_msg_recv (entry + return).
 *
 * The zmq_msg_t layout is libzmq 4.x's msg_t on LP64 (src/msg.hpp):
 * 64 bytes, type byte at +42, flags at +43; VSM keeps up to 33 bytes
 * inline at +8 with the size byte at +41; LMSG/ZCLMSG hold a content_t *
 * at +8 whose first two words are data and size; CMSG holds data at +8
 * and size at +16. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "zmq_event.h"
#include "ring_wake.h"

#define ZMQ_MSG_T_SIZE     64
#define ZMQ_MSG_DATA_OFF    8
#define ZMQ_MSG_VSM_SIZE   41
#define ZMQ_MSG_TYPE_OFF   42
#define ZMQ_MSG_FLAGS_OFF  43
#define ZMQ_MSG_CMSG_SIZE  16
#define ZMQ_MAX_VSM        33

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by user space between open and load. */
const volatile __u32 cap_bytes = ZMQ_DEFAULT_CAPTURE;
const volatile __u32 wakeup_bytes;	/* 0: wake the reader at every record */
const volatile __u64 loop_gap_ns = 1000000;	/* 0: no EV_ZMQ_LOOP */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} zmq_events SEC(".maps");

/* tgid -> enum zmq_proc_flags: only these processes are traced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} zmq_tgids SEC(".maps");

struct recv_args {
	__u64 msg;
	__u64 sock;
	__u64 ts;
};

/* zmq_msg_recv entry -> return, keyed by pid_tgid. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct recv_args);
} zmq_recv_args SEC(".maps");

/* Failed receives of a thread: summarised into its next message event
 * (first/last/count since then) and into EV_ZMQ_LOOP (gaps). LRU: a
 * thread that exits leaves its entry behind. */
struct fail_state {
	__u64 last_ts;		/* latest failed receive, never reset */
	__u64 first_since;	/* first failed receive since the last event */
	__u64 last_since;	/* latest failed receive since the last event */
	__u32 count_since;
	__u32 run;		/* failed receives since the last EV_ZMQ_LOOP */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct fail_state);
} zmq_fail_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZCNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} zmq_counters SEC(".maps");

__u64 zmq_woken_at;	/* ring_wake_once()'s */

static __always_inline __u64 submit_flags(void)
{
	__u64 queued;

	if (!wakeup_bytes)
		return 0;
	queued = bpf_ringbuf_query(&zmq_events, BPF_RB_AVAIL_DATA);
	if (!ring_wake_now(queued, wakeup_bytes))
		return BPF_RB_NO_WAKEUP;
	return ring_wake_once(queued, bpf_ringbuf_query(&zmq_events, BPF_RB_CONS_POS),
			      wakeup_bytes, &zmq_woken_at) ?
	       BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void count(__u32 id)
{
	__u64 *val = bpf_map_lookup_elem(&zmq_counters, &id);

	if (val)
		*val += 1;
}

static __always_inline bool traced(__u32 tgid, __u32 *flags)
{
	__u32 *f = bpf_map_lookup_elem(&zmq_tgids, &tgid);

	if (!f)
		return false;
	if (flags)
		*flags = *f;
	return true;
}

/* Move the thread's failed-receive summary into the event. */
static __always_inline void take_fail_summary(__u64 pid_tgid,
					      struct zmq_msg_event *ev)
{
	struct fail_state *st = bpf_map_lookup_elem(&zmq_fail_state, &pid_tgid);

	ev->fail_first_ts = 0;
	ev->fail_last_ts = 0;
	ev->fail_count = 0;
	if (!st || !st->count_since)
		return;
	ev->fail_first_ts = st->first_since;
	ev->fail_last_ts = st->last_since;
	ev->fail_count = st->count_since;
	st->count_since = 0;
}

/* Where the payload of a zmq_msg_t lives; false if the type is unknown. */
static __always_inline bool msg_payload(const __u8 *m, __u64 msg,
					__u64 *data, __u64 *size)
{
	struct {
		__u64 data;
		__u64 size;
	} content;
	__u64 word1 = *(const __u64 *)(m + ZMQ_MSG_DATA_OFF);

	switch (m[ZMQ_MSG_TYPE_OFF]) {
	case ZMQ_MSG_VSM:
		*data = msg + ZMQ_MSG_DATA_OFF;
		*size = m[ZMQ_MSG_VSM_SIZE];
		if (*size > ZMQ_MAX_VSM)
			return false;
		return true;
	case ZMQ_MSG_LMSG:
	case ZMQ_MSG_ZCLMSG:
		if (bpf_probe_read_user(&content, sizeof(content),
					(const void *)word1)) {
			count(ZCNT_READ_FAULT);
			*data = 0;
			*size = 0;
			return true;
		}
		*data = content.data;
		*size = content.size;
		return true;
	case ZMQ_MSG_CMSG:
		*data = word1;
		*size = *(const __u64 *)(m + ZMQ_MSG_CMSG_SIZE);
		return true;
	case ZMQ_MSG_DELIM:
	case ZMQ_MSG_JOIN:
	case ZMQ_MSG_LEAVE:
		*data = 0;
		*size = 0;
		return true;
	default:
		return false;
	}
}

static __always_inline void fill_msg(struct zmq_msg_event *ev, __u64 pid_tgid,
				     __u64 sock, __u64 ts_enter, __u64 ts, __u8 dir,
				     const __u8 *m, __u64 size, __u32 cap)
{
	ev->type = EV_ZMQ_MSG;
	ev->tgid = pid_tgid >> 32;
	ev->tid = (__u32)pid_tgid;
	ev->ts = ts;
	ev->ts_enter = ts_enter;
	ev->sock = sock;
	ev->dir = dir;
	ev->msg_kind = m[ZMQ_MSG_TYPE_OFF];
	ev->msg_flags = m[ZMQ_MSG_FLAGS_OFF];
	ev->size = size;
	ev->cap_len = cap;
	ev->truncated = size > cap;
	take_fail_summary(pid_tgid, ev);
}

/* The payload is read straight into the reserved ring record (no per-CPU
 * scratch, no second copy). The verifier wants a constant reserve size,
 * so the record takes the smallest of a few size classes that holds it;
 * the reader uses cap_len, not the record length. */
static __always_inline int emit_msg(__u64 pid_tgid, __u64 msg, __u64 sock,
				    __u64 ts_enter, __u64 ts, __u8 dir)
{
	__u8 m[ZMQ_MSG_T_SIZE] = {};
	struct zmq_msg_event *ev;
	__u64 data = 0, size = 0;
	__u32 cap = 0;
	__u64 n;

	if (bpf_probe_read_user(m, sizeof(m), (const void *)msg))
		count(ZCNT_READ_FAULT);
	else if (!msg_payload(m, msg, &data, &size))
		count(ZCNT_BAD_MSG);
	else if (data)
		cap = size < cap_bytes ? size : cap_bytes;
	if (cap > ZMQ_MAX_CAPTURE)
		cap = ZMQ_MAX_CAPTURE;
	if (size > cap)
		count(ZCNT_TRUNCATED);

#define EMIT_CLASS(SZ)								\
	if (cap <= (SZ)) {							\
		ev = bpf_ringbuf_reserve(&zmq_events, sizeof(*ev) + (SZ), 0);	\
		if (!ev) {							\
			count(ZCNT_RINGBUF_FULL);				\
			return 0;						\
		}								\
		/* re-bound after the branch: clang would drop it */		\
		n = cap;							\
		asm volatile("" : "+r"(n));					\
		if (n > (SZ))							\
			n = (SZ);						\
		if (n && bpf_probe_read_user(ev->data, n, (const void *)data)) { \
			count(ZCNT_READ_FAULT);					\
			cap = 0;						\
		}								\
		fill_msg(ev, pid_tgid, sock, ts_enter, ts, dir, m, size, cap);	\
		bpf_ringbuf_submit(ev, submit_flags());			\
		count(ZCNT_EVENTS);						\
		return 0;							\
	}
	EMIT_CLASS(256)
	EMIT_CLASS(1024)
	EMIT_CLASS(4096)
	EMIT_CLASS(ZMQ_MAX_CAPTURE)
#undef EMIT_CLASS
	return 0;
}

/* int zmq_msg_send(zmq_msg_t *msg, void *s, int flags): the payload is
 * intact at entry; after the call libzmq owns (and may free) it. */
SEC("uprobe")
int BPF_KPROBE(zmq_msg_send_enter, void *msg, void *sock)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 now;

	if (!traced(pid_tgid >> 32, NULL))
		return 0;
	now = bpf_ktime_get_ns();
	return emit_msg(pid_tgid, (__u64)msg, (__u64)sock, now, now,
			ZMQ_DIR_SEND);
}

/* int zmq_msg_recv(zmq_msg_t *msg, void *s, int flags) */
SEC("uprobe")
int BPF_KPROBE(zmq_msg_recv_enter, void *msg, void *sock)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct recv_args args;

	if (!traced(pid_tgid >> 32, NULL))
		return 0;
	args.msg = (__u64)msg;
	args.sock = (__u64)sock;
	args.ts = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&zmq_recv_args, &pid_tgid, &args, BPF_NOEXIST)) {
		/* An entry whose return we never saw (or a full map). */
		count(ZCNT_STALE_ENTER);
		bpf_map_update_elem(&zmq_recv_args, &pid_tgid, &args, BPF_ANY);
	}
	return 0;
}

static __always_inline void note_failed_recv(__u64 pid_tgid, __u32 flags,
					     __u64 sock, __u64 now)
{
	struct fail_state *st, init = {};
	struct zmq_loop_event *lev;

	count(ZCNT_EAGAIN);
	st = bpf_map_lookup_elem(&zmq_fail_state, &pid_tgid);
	if (!st) {
		init.last_ts = now;
		init.first_since = now;
		init.last_since = now;
		init.count_since = 1;
		init.run = 1;
		if (bpf_map_update_elem(&zmq_fail_state, &pid_tgid, &init,
					BPF_NOEXIST))
			count(ZCNT_STATE_FULL);
		return;
	}
	if ((flags & ZMQ_PF_LOOP) && loop_gap_ns &&
	    now - st->last_ts > loop_gap_ns) {
		lev = bpf_ringbuf_reserve(&zmq_events, sizeof(*lev), 0);
		if (lev) {
			lev->type = EV_ZMQ_LOOP;
			lev->tgid = pid_tgid >> 32;
			lev->tid = (__u32)pid_tgid;
			lev->fails_before = st->run;
			lev->ts_gap_start = st->last_ts;
			lev->ts_gap_end = now;
			lev->sock = sock;
			bpf_ringbuf_submit(lev, submit_flags());
			count(ZCNT_EVENTS);
		} else {
			count(ZCNT_RINGBUF_FULL);
		}
		st->run = 0;
	}
	if (!st->count_since)
		st->first_since = now;
	st->count_since++;
	st->last_since = now;
	st->last_ts = now;
	st->run++;
}

SEC("uretprobe")
int BPF_KRETPROBE(zmq_msg_recv_exit, int ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct recv_args *args;
	__u64 msg, sock, ts_enter, now;
	__u32 flags = 0;

	if (!traced(pid_tgid >> 32, &flags))
		return 0;
	args = bpf_map_lookup_elem(&zmq_recv_args, &pid_tgid);
	if (!args) {
		count(ZCNT_MISSED_ENTER);
		return 0;
	}
	msg = args->msg;
	sock = args->sock;
	ts_enter = args->ts;
	bpf_map_delete_elem(&zmq_recv_args, &pid_tgid);

	now = bpf_ktime_get_ns();
	/* The idle scheduler polls in a tight loop: failed receives only
	 * update per-thread state, never reach the ring buffer. */
	if (ret < 0) {
		note_failed_recv(pid_tgid, flags, sock, now);
		return 0;
	}
	return emit_msg(pid_tgid, msg, sock, ts_enter, now, ZMQ_DIR_RECV);
}

static __always_inline int emit_endpoint(void *sock, const char *addr,
					 __u32 op)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct zmq_endpoint_event *e;

	if (!traced(pid_tgid >> 32, NULL))
		return 0;
	e = bpf_ringbuf_reserve(&zmq_events, sizeof(*e), 0);
	if (!e) {
		count(ZCNT_RINGBUF_FULL);
		return 0;
	}
	e->type = EV_ZMQ_ENDPOINT;
	e->tgid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->op = op;
	e->ts = bpf_ktime_get_ns();
	e->sock = (__u64)sock;
	e->endpoint[0] = '\0';
	if (addr && bpf_probe_read_user_str(e->endpoint, sizeof(e->endpoint),
					    addr) < 0) {
		count(ZCNT_READ_FAULT);
		e->endpoint[0] = '\0';
	}
	bpf_ringbuf_submit(e, submit_flags());
	count(ZCNT_EVENTS);
	return 0;
}

/* int zmq_bind(void *s, const char *addr) */
SEC("uprobe")
int BPF_KPROBE(zmq_bind_enter, void *sock, const char *addr)
{
	return emit_endpoint(sock, addr, ZMQ_EP_BIND);
}

/* int zmq_connect(void *s, const char *addr) */
SEC("uprobe")
int BPF_KPROBE(zmq_connect_enter, void *sock, const char *addr)
{
	return emit_endpoint(sock, addr, ZMQ_EP_CONNECT);
}

/* int zmq_close(void *s): the handle may be reused by a later socket. */
SEC("uprobe")
int BPF_KPROBE(zmq_close_enter, void *sock)
{
	return emit_endpoint(sock, NULL, ZMQ_EP_CLOSE);
}

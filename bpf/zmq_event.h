/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Records of bpf/zmq.bpf.c: libzmq messages seen by uprobes on
 * zmq_msg_send/zmq_msg_recv (and zmq_bind/zmq_connect/zmq_close) in the
 * SGLang processes. Fixed-size fields only; every record starts with a
 * __u32 type from the 100..199 range that sock_event.h reserves. */
#ifndef SERVETRACE_ZMQ_EVENT_H
#define SERVETRACE_ZMQ_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>	/* user space; BPF gets them from vmlinux.h */
#endif

#define ZMQ_MAX_CAPTURE     16384	/* hard ceiling of payload bytes per message */
#define ZMQ_DEFAULT_CAPTURE 16384	/* a batch output of ~450 rids; vLLM frames of 150 requests */
#define ZMQ_ENDPOINT_LEN      128	/* "ipc:///tmp/tmpXXXXXXXX" is ~25 */

enum zmq_event_type {
	EV_ZMQ_MSG      = 100,	/* struct zmq_msg_event + cap_len bytes */
	EV_ZMQ_ENDPOINT = 101,	/* struct zmq_endpoint_event */
	EV_ZMQ_LOOP     = 102,	/* struct zmq_loop_event */
};

enum zmq_dir { ZMQ_DIR_SEND = 0, ZMQ_DIR_RECV = 1 };

enum zmq_endpoint_op { ZMQ_EP_BIND = 1, ZMQ_EP_CONNECT = 2, ZMQ_EP_CLOSE = 3 };

/* Values of the per-tgid filter map. */
enum zmq_proc_flags {
	ZMQ_PF_TRACE = 1,	/* trace this process's messages */
	ZMQ_PF_LOOP  = 2,	/* also emit EV_ZMQ_LOOP (the scheduler) */
};

/* libzmq 4.x msg_t::type_t, at byte ZMQ_MSG_TYPE_OFF of zmq_msg_t. */
enum zmq_msg_kind {
	ZMQ_MSG_VSM     = 101,	/* inline: data at +8, size byte at +41 */
	ZMQ_MSG_LMSG    = 102,	/* content_t * at +8: {data, size, ...} */
	ZMQ_MSG_DELIM   = 103,
	ZMQ_MSG_CMSG    = 104,	/* data pointer at +8, size at +16 */
	ZMQ_MSG_ZCLMSG  = 105,	/* like LMSG */
	ZMQ_MSG_JOIN    = 106,
	ZMQ_MSG_LEAVE   = 107,
};

/* One message sent (at zmq_msg_send entry) or received (at a successful
 * zmq_msg_recv return). The fail_* fields summarise the failed (EAGAIN)
 * receives this thread made since its previous EV_ZMQ_MSG, which the
 * kernel drops: they mark the end of the scheduler's receive drain. */
struct zmq_msg_event {
	__u32 type;		/* EV_ZMQ_MSG */
	__u32 tgid;
	__u32 tid;
	__u32 cap_len;		/* bytes of data[] that follow */
	__u64 ts;		/* send: entry; recv: return (bpf_ktime_get_ns) */
	__u64 ts_enter;		/* recv: entry (blocked from here); send: = ts */
	__u64 sock;		/* the void *socket handle: names the channel */
	__u64 size;		/* message size per zmq_msg_t */
	__u64 fail_first_ts;	/* first failed receive since previous event, or 0 */
	__u64 fail_last_ts;	/* latest failed receive since previous event, or 0 */
	__u32 fail_count;	/* failed receives since previous event */
	__u8  dir;		/* enum zmq_dir */
	__u8  msg_kind;		/* enum zmq_msg_kind, as read */
	__u8  msg_flags;	/* msg_t flags byte: 1 = more parts follow */
	__u8  truncated;	/* size > cap_len */
	char  data[];		/* ZMQ_MAX_CAPTURE at most */
};

/* zmq_bind/zmq_connect (entry: the endpoint string) and zmq_close. */
struct zmq_endpoint_event {
	__u32 type;		/* EV_ZMQ_ENDPOINT */
	__u32 tgid;
	__u32 tid;
	__u32 op;		/* enum zmq_endpoint_op */
	__u64 ts;
	__u64 sock;
	char  endpoint[ZMQ_ENDPOINT_LEN];	/* NUL-terminated; empty on close */
};

/* A thread of a ZMQ_PF_LOOP process went more than loop_gap_ns without a
 * failed receive: one scheduler iteration that did work (a forward, or
 * slow input processing). Emitted at the failed receive that ends it. */
struct zmq_loop_event {
	__u32 type;		/* EV_ZMQ_LOOP */
	__u32 tgid;
	__u32 tid;
	__u32 fails_before;	/* failed receives in the drain before the gap */
	__u64 ts_gap_start;	/* previous failed receive: end of last drain */
	__u64 ts_gap_end;	/* this failed receive */
	__u64 sock;		/* socket of this failed receive */
};

/* Per-CPU loss and health counters, summed by user space. */
enum zmq_counter_id {
	ZCNT_RINGBUF_FULL,	/* record dropped: ring buffer had no room */
	ZCNT_MISSED_ENTER,	/* recv return without a saved entry */
	ZCNT_STALE_ENTER,	/* recv entry overwritten before its return */
	ZCNT_TRUNCATED,		/* payload larger than the capture size */
	ZCNT_READ_FAULT,	/* bpf_probe_read_user of msg or payload failed */
	ZCNT_BAD_MSG,		/* unknown msg_t type byte: layout mismatch? */
	ZCNT_EAGAIN,		/* failed receives dropped in the kernel */
	ZCNT_EVENTS,		/* records submitted */
	ZCNT_STATE_FULL,	/* no room to record a thread's failed receives */
	ZCNT_MAX,
};

#endif

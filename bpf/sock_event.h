/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Records shared by the BPF programs and the collector: fixed-size
 * fields only. Every ring-buffer record starts with a __u32 type. */
#ifndef SERVETRACE_SOCK_EVENT_H
#define SERVETRACE_SOCK_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>	/* user space; BPF gets them from vmlinux.h */
#endif

#define MAX_CAPTURE      16384	/* hard ceiling of bytes per syscall event */
#define DEFAULT_CAPTURE   8192
#define MAX_IOVECS          64	/* iovecs copied per call: hyper flushes up to 64 */
#define MAX_SHARDS          64	/* ring buffers at most (--shards) */
/* Traced processes: one bit per tgid below the kernel's PID_MAX_LIMIT
 * (4M on 64-bit): traced_bits.bpf.h (512 KiB) */
#define TRACED_TGID_LIMIT   (1u << 22)
#define TRACED_WORDS        (TRACED_TGID_LIMIT / 64)

enum event_type {
	EV_DATA       = 1,	/* read/write family on a traced inet socket */
	EV_ACCEPT     = 2,
	EV_CONNECT    = 3,
	EV_CLOSE      = 4,
	EV_PROC_EXIT  = 5,
	EV_SSE_TAIL   = 6,	/* the tail of the last SSE event the kernel
				 * skipped (its meta_info/usage); sent right
				 * before the record that ends the skipping */
	EV_H2_SKIPS   = 7,	/* struct h2k_held[cap_len / 16]: per stream, the
				 * DATA the kernel held back on an HTTP/2
				 * direction; sent right before the record that
				 * ends the holding */
	EV_ZMQ_FIRST  = 100,	/* 100..199 belong to bpf/zmq.bpf.c */
	EV_PROC_EXEC  = 8,	/* a process (tgid) exec'd, any process: in
				 * automatic mode user space classifies it at
				 * once (never recorded, never parsed) */
};

enum data_dir { DIR_READ = 0, DIR_WRITE = 1 };

enum sock_syscall {
	SC_READ = 1, SC_READV, SC_RECVFROM, SC_RECVMSG,
	SC_WRITE, SC_WRITEV, SC_SENDTO, SC_SENDMSG,
	SC_ACCEPT, SC_CONNECT, SC_CLOSE,
};

struct sock_endpoint {
	__u8  addr[16];		/* IPv4 in the first 4 bytes, or IPv6 */
	__u16 port;		/* host byte order */
	__u16 family;		/* AF_INET or AF_INET6 */
};

/* Bits of sock_event.flags. */
enum sock_event_flags {
	SEF_SKIP_ALIGNED = 1,	/* skipped bytes are whole HTTP chunks (or whole
				 * HTTP/2 frames on an HTTP/2 direction): the
				 * stream is at a chunk-size line again */
	SEF_FLUSH        = 2,	/* no call: the skip summary alone (at close) */
	SEF_TAIL_WHOLE   = 4,	/* EV_SSE_TAIL: the whole call, from a chunk-size line */
	SEF_PREV_WHOLE   = 8,	/* EV_SSE_TAIL: the earlier tail (prev_len) is too */
};

/* Streams are followed per connection and direction (the socket's
 * address is the key): stream_off counts the bytes that direction moved
 * since servetrace first saw the socket. The kernel sends a record per
 * message head and sends the first SSE event of a stream, but only counts
 * the middle events: skip_* summarise the calls it did not send since the
 * previous record of that direction. */
struct sock_event {
	__u32 type;		/* EV_DATA/ACCEPT/CONNECT/CLOSE/PROC_EXIT */
	__u32 tgid;
	__u32 tid;
	__s32 fd;
	__u64 ts_enter;		/* bpf_ktime_get_ns() */
	__u64 ts_exit;
	__s64 ret;		/* bytes moved, new fd, or -errno */
	__u64 sock_id;		/* struct sock address: tells fd reuse apart */
	struct sock_endpoint local;
	struct sock_endpoint peer;
	__u32 cap_len;		/* bytes of data[] that follow */
	__u8  dir;		/* enum data_dir */
	__u8  syscall;		/* enum sock_syscall */
	__u8  truncated;	/* ret > cap_len */
	__u8  flags;		/* enum sock_event_flags */
	/* -- fields below are absent from version-1 recordings (zero) -- */
	__u64 stream_off;	/* bytes this direction moved before this call */
	__u64 skip_bytes;	/* bytes of the calls not sent since the last record */
	__u64 skip_ts;		/* exit time of the last call not sent, or 0 */
	__u32 skip_calls;	/* calls not sent */
	__u32 skip_events;	/* SSE events in them ([DONE] not counted) */
	__u32 cap_off;		/* captured bytes start this far into the call */
	__u32 skip_framing;	/* of skip_bytes: chunk-size lines and CRLFs */
	__u32 skip_chunk_left;	/* skips: this call starts this many bytes before
				 * the next chunk-size line (0: on one) */
	__u32 prev_len;		/* EV_SSE_TAIL: the data starts with the tail of the
				 * held-back call before the last one, this long (0:
				 * none); the last one's tail follows. Two, so that
				 * an OpenAI stream's closing chunk (finish_reason,
				 * no content) is seen, not counted as a token, when
				 * its usage chunk comes after it */
	/* cap_len payload bytes follow the struct in the record */
};

/* Size of struct sock_event in version-1 recordings (up to flags). */
#define SOCK_EVENT_V1_SIZE 96

#define SSE_TAIL_MAX 1024	/* tail kept of each of the last two held-back SSE calls */

/* Kernel-side loss and health counters (per-CPU array, summed by user). */
enum counter_id {
	CNT_RINGBUF_FULL,	/* record dropped: ring buffer had no room */
	CNT_MISSED_ENTER,	/* exit without a saved enter (attached mid-call) */
	CNT_STALE_ENTER,	/* enter overwritten before its exit */
	CNT_TRUNCATED,		/* payload larger than the capture size */
	CNT_READ_FAULT,		/* bpf_probe_read_user of the payload failed */
	CNT_EVENTS,		/* records submitted */
	CNT_SKIPPED_CALLS,	/* calls counted in the kernel, not sent */
	CNT_SKIPPED_BYTES,	/* their bytes */
	CNT_SSE_UNALIGNED,	/* stream pieces not on chunk boundaries: sent whole */
	CNT_CONN_FULL,		/* no room for a connection's state: sent whole */
	CNT_BODY_BYTES,		/* request-body bytes sent past the capture size */
	CNT_BODY_CAPPED,	/* calls past the request-body cap: rest not sent */
	CNT_H2_UNSYNCED,	/* HTTP/2 calls off frame boundaries: sent whole */
	CNT_H2_FALLBACK,	/* directions given up on (framing never found) */
	CNT_OTHER_IO,		/* socket calls by syscalls not followed (sendfile ...) */
	CNT_SSE_SPLIT,		/* held-back chunks that start mid-event: a router
				 * split an event, and an event whose "data:" is
				 * not at a chunk's start is not counted */
	CNT_SSE_PARTIAL,	/* held-back SSE calls that go on with a chunk a
				 * partial write left (a slow reader) */
	CNT_SSE_END_SPLIT,	/* stream ends in calls past the capture size (a
				 * slow reader's coalesced events): the events
				 * before the last chunk held back */
	CNT_SSE_HEAD_SPLIT,	/* a stream's first event sent with more events
				 * in its call (a proxy's read of a head and
				 * many events): the ones after it held back */
	CNT_SSE_CUT_HEAD,	/* chunk-size lines a call's end cut, finished
				 * by the next call (framing kept) */
	CNT_SSE_RESYNC,		/* chunk framing found again at a call's start
				 * (held back only once the next size line
				 * confirms it) */
	CNT_MAX,
};

#endif

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Loading and attaching the socket-capture BPF object, and its ring
 * buffers: one per shard, a connection always in the same shard. */
#ifndef SERVETRACE_SOCK_CAPTURE_H
#define SERVETRACE_SOCK_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <bpf/libbpf.h>
#include "sock_event.h"

struct sock_capture;

/* Where data calls are seen: IO_HOOKS_AUTO takes the socket layer's
 * tracepoints where the kernel has them, else the syscalls'. */
enum io_hooks { IO_HOOKS_AUTO, IO_HOOKS_SOCK, IO_HOOKS_SYSCALLS };

struct sock_capture_opts {
	uint32_t capture_bytes;		/* per-syscall payload cap */
	uint32_t ringbuf_bytes;		/* per shard, power of two */
	uint32_t wakeup_bytes;		/* queued bytes that wake the reader */
	uint32_t shards;		/* ring buffers (1..SOCK_CAPTURE_MAX_SHARDS) */
	uint32_t max_conns;		/* connection states kept in the kernel */
	bool full_capture;		/* send every call (no SSE skipping) */
	enum io_hooks io_hooks;
};

#define SOCK_CAPTURE_MAX_SHARDS MAX_SHARDS	/* sock_event.h: the kernel's too */

/* Returns NULL and prints why (privileges, missing tracepoints ...). */
struct sock_capture *sock_capture_open(const struct sock_capture_opts *opts);
void sock_capture_close(struct sock_capture *sc);
int sock_capture_add_tgid(struct sock_capture *sc, uint32_t tgid);
int sock_capture_del_tgid(struct sock_capture *sc, uint32_t tgid);
int sock_capture_shards(const struct sock_capture *sc);
int sock_capture_shard_fd(const struct sock_capture *sc, int shard);
/* Bytes written to the shard's ring and not consumed yet. */
uint64_t sock_capture_unread(const struct sock_capture *sc, int shard);
/* No new records from now on (the rings stay readable); the programs
 * start detaching on a thread of their own (~1.7 s: RCU grace periods,
 * one tracepoint at a time), which close waits for. */
void sock_capture_quiesce(struct sock_capture *sc);
void sock_capture_counters(struct sock_capture *sc, uint64_t out[CNT_MAX]);
/* True when data calls are seen at the socket layer, false: at syscalls. */
bool sock_capture_uses_sock_hooks(const struct sock_capture *sc);
/* Socket-layer hooks without tcp:tcp_sendmsg_locked: a write's time is
 * when it ended, not when it began. */
bool sock_capture_writes_at_end(const struct sock_capture *sc);
/* Names of tracepoints that did not attach (empty when all did). */
const char *sock_capture_missing(struct sock_capture *sc);

#endif

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Loading and attaching the socket-capture BPF object. */
#ifndef SERVETRACE_BPF_SOCK_H
#define SERVETRACE_BPF_SOCK_H

#include <stdint.h>
#include <bpf/libbpf.h>
#include "sock_event.h"

struct sock_capture;

struct sock_capture_opts {
	uint32_t capture_bytes;		/* per-syscall payload cap */
	uint32_t ringbuf_bytes;		/* power of two */
	uint32_t wakeup_bytes;		/* queued bytes that wake the reader */
};

/* Returns NULL and prints why (privileges, missing tracepoints ...). */
struct sock_capture *sock_capture_open(const struct sock_capture_opts *opts);
void sock_capture_close(struct sock_capture *sc);
int sock_capture_add_tgid(struct sock_capture *sc, uint32_t tgid, uint32_t role);
int sock_capture_del_tgid(struct sock_capture *sc, uint32_t tgid);
int sock_capture_ringbuf_fd(struct sock_capture *sc);
void sock_capture_counters(struct sock_capture *sc, uint64_t out[CNT_MAX]);
/* Names of tracepoints that did not attach (empty when all did). */
const char *sock_capture_missing(struct sock_capture *sc);

#endif

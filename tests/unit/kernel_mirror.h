/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A user-space mirror of what bpf/sock.bpf.c sends and holds back, run
 * over recorded full-capture events: it turns them into the records the
 * kernel would have sent (skip summaries, SSE tails, stream offsets), so
 * tests check that the collector makes the same rows of both. */
#ifndef SERVETRACE_KERNEL_MIRROR_H
#define SERVETRACE_KERNEL_MIRROR_H

#include <stdint.h>
#include "sock_event.h"

/* One record out: header + ev->cap_len payload bytes. */
typedef void (*kernel_mirror_fn)(void *ctx, const struct sock_event *ev, const char *data);

struct kernel_mirror;

struct kernel_mirror *kernel_mirror_new(kernel_mirror_fn out, void *ctx);
void kernel_mirror_free(struct kernel_mirror *km);
/* A recorded event (its payload complete unless ev->truncated). */
void kernel_mirror_feed(struct kernel_mirror *km, const struct sock_event *ev, const char *data);
uint64_t kernel_mirror_skipped(const struct kernel_mirror *km);
/* Stream ends split from a call that began inside a chunk. */
uint64_t kernel_mirror_end_splits_mid_chunk(const struct kernel_mirror *km);
/* Calls holding a stream's first event and more, sent up to its end. */
uint64_t kernel_mirror_head_splits(const struct kernel_mirror *km);
/* Calls whose end cut a chunk-size line; calls whose framing was lost. */
uint64_t kernel_mirror_cut_heads(const struct kernel_mirror *km);
uint64_t kernel_mirror_unaligned(const struct kernel_mirror *km);

#endif

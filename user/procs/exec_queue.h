/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Processes that just exec'd (EV_PROC_EXEC, bpf/sock.bpf.c), passed from
 * whichever thread reads the ring to the main thread, which classifies
 * them at once: a router is then traced before it dials its workers,
 * not at the next once-a-second /proc rescan. Bounded: when it is full
 * the rest is dropped and the drain says so (then rescan /proc whole). */
#ifndef SERVETRACE_EXEC_QUEUE_H
#define SERVETRACE_EXEC_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define EXEC_QUEUE_MAX 256

struct exec_queue_item {
	uint32_t pid;
	uint64_t ts;		/* the exec, bpf_ktime_get_ns() */
};

struct exec_queue {
	pthread_mutex_t lock;
	struct exec_queue_item q[EXEC_QUEUE_MAX];
	int n;
	bool overflow;		/* some were dropped since the last drain */
};

void exec_queue_init(struct exec_queue *eq);
void exec_queue_destroy(struct exec_queue *eq);
/* From any thread. */
void exec_queue_push(struct exec_queue *eq, uint32_t pid, uint64_t ts);
/* Takes up to max items; *overflow: some were dropped. */
int exec_queue_drain(struct exec_queue *eq, struct exec_queue_item *out, int max,
		     bool *overflow);

#endif

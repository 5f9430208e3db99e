/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Reads a set of BPF ring buffers in passes that give way.
 *
 * Under overload the kernel refills a ring as fast as it is read, and
 * libbpf's consume does not return: the reader's thread then never ticks,
 * sees no signal, publishes no watermark. A pass here reads the rings one
 * after the other and gives way once its budget is spent (or a stop flag
 * is set); the records left wait in the rings. The next pass starts after
 * the ring the last one gave way in: libbpf reads several rings in a
 * fixed order, so cut passes there starved the rings read last. One
 * libbpf reader per ring, and one epoll over them for the wait. */
#ifndef SERVETRACE_RING_SET_H
#define SERVETRACE_RING_SET_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <bpf/libbpf.h>

struct ring_set;

/* budget_ns: a pass gives way once it has read this long (the clock is
 * read every check_every records); stop: also once *stop is set (a
 * signal); NULL: never. */
struct ring_set *ring_set_new(uint64_t budget_ns, uint32_t check_every,
			      volatile sig_atomic_t *stop);
/* fn as libbpf's: a negative return ends the pass (its record is read). */
int ring_set_add(struct ring_set *rs, int map_fd, ring_buffer_sample_fn fn, void *ctx);
int ring_set_count(const struct ring_set *rs);

/* Waits up to timeout_ms for records, then reads a pass. *t_start: the
 * clock after the wait; when the pass was whole, every record committed
 * before it has been read. Returns 1 for a whole pass, 0 for one that
 * gave way (to its budget, the stop flag or fn), -errno on error (-EINTR:
 * a signal during the wait). */
int ring_set_pass(struct ring_set *rs, int timeout_ms, uint64_t *t_start);
/* Every ring until it is empty or fn ends the pass, with no budget: the
 * drain at exit (its deadline is fn's). */
void ring_set_drain(struct ring_set *rs);
/* Passes that gave way to the budget or the stop flag. */
uint64_t ring_set_cuts(const struct ring_set *rs);
void ring_set_free(struct ring_set *rs);

#endif

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A bounded single-producer/single-consumer ring of fixed-size slots,
 * lock-free with C11 atomics: one thread pushes, one other thread pops.
 * The indices run free (wrap at 2^32) and are masked by the power-of-two
 * size; each side caches the other's index so a push or pop touches the
 * shared cache line only when the cached view says full or empty. */
#ifndef SERVETRACE_SPSC_RING_H
#define SERVETRACE_SPSC_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct spsc_ring {
	/* producer's line */
	_Alignas(64) _Atomic uint32_t tail;	/* next slot written */
	uint32_t head_cache;			/* the producer's view of head */
	/* consumer's line */
	_Alignas(64) _Atomic uint32_t head;	/* next slot read */
	uint32_t tail_cache;			/* the consumer's view of tail */
	/* read-only after init */
	_Alignas(64) char *slots;
	uint32_t mask;				/* slots - 1 */
	uint32_t elem_size;
};

/* slots: rounded up to a power of two (at least 2). 0 or -ENOMEM. */
int spsc_ring_init(struct spsc_ring *r, uint32_t slots, uint32_t elem_size);
void spsc_ring_free(struct spsc_ring *r);
/* Producer: copies elem in; false when full (nothing written). */
bool spsc_ring_push(struct spsc_ring *r, const void *elem);
/* Consumer: copies the oldest element out; false when empty. */
bool spsc_ring_pop(struct spsc_ring *r, void *elem);
/* Consumer: the oldest element, left in place (valid until the next
 * pop); NULL when empty. */
const void *spsc_ring_peek(struct spsc_ring *r);
/* Consumer: the k-th element after the oldest (0: the oldest), left in
 * place; NULL when fewer are held. */
const void *spsc_ring_peek_at(struct spsc_ring *r, uint32_t k);
/* Elements held now (exact only from one of the two sides). */
uint32_t spsc_ring_count(struct spsc_ring *r);
uint32_t spsc_ring_capacity(const struct spsc_ring *r);

#endif

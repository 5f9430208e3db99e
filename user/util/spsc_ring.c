// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The element is copied before the index is published (release), and the
 * index is read before the element (acquire): the other side never sees
 * a slot half written. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "util/spsc_ring.h"

int spsc_ring_init(struct spsc_ring *r, uint32_t slots, uint32_t elem_size)
{
	uint32_t n = 2;

	while (n < slots && n < (1u << 30))
		n <<= 1;
	memset(r, 0, sizeof(*r));
	r->slots = calloc(n, elem_size);
	if (!r->slots)
		return -ENOMEM;
	r->mask = n - 1;
	r->elem_size = elem_size;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return 0;
}

void spsc_ring_free(struct spsc_ring *r)
{
	free(r->slots);
	r->slots = NULL;
}

bool spsc_ring_push(struct spsc_ring *r, const void *elem)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	if (tail - r->head_cache > r->mask) {
		r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
		if (tail - r->head_cache > r->mask)
			return false;
	}
	memcpy(r->slots + (size_t)(tail & r->mask) * r->elem_size, elem, r->elem_size);
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
	return true;
}

bool spsc_ring_pop(struct spsc_ring *r, void *elem)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

	if (head == r->tail_cache) {
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head == r->tail_cache)
			return false;
	}
	memcpy(elem, r->slots + (size_t)(head & r->mask) * r->elem_size, r->elem_size);
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	return true;
}

const void *spsc_ring_peek_at(struct spsc_ring *r, uint32_t k)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

	if (r->tail_cache - head <= k) {
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (r->tail_cache - head <= k)
			return NULL;
	}
	return r->slots + (size_t)((head + k) & r->mask) * r->elem_size;
}

const void *spsc_ring_peek(struct spsc_ring *r)
{
	return spsc_ring_peek_at(r, 0);
}

uint32_t spsc_ring_count(struct spsc_ring *r)
{
	return atomic_load_explicit(&r->tail, memory_order_acquire) -
	       atomic_load_explicit(&r->head, memory_order_acquire);
}

uint32_t spsc_ring_capacity(const struct spsc_ring *r)
{
	return r->mask + 1;
}

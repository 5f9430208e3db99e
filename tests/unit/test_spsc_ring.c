// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The SPSC ring the parse threads hand exchanges through: order, full,
 * wraparound of the slots and of the free-running indices, and two real
 * threads moving a long sequence through a small ring. */
#include <pthread.h>
#include <stdint.h>
#include "util/spsc_ring.h"
#include "test.h"

static void test_full(void)
{
	struct spsc_ring r;
	uint64_t v;
	uint32_t cap;

	if (!ASSERT_EQ(spsc_ring_init(&r, 5, sizeof(uint64_t)), 0, "init"))
		return;
	cap = spsc_ring_capacity(&r);
	ASSERT_EQ(cap, 8, "5 slots asked: rounded up to 8");
	ASSERT_TRUE(!spsc_ring_pop(&r, &v), "empty: nothing to pop");
	for (v = 0; v < cap; v++)
		ASSERT_TRUE(spsc_ring_push(&r, &v), "room until full");
	v = 99;
	ASSERT_TRUE(!spsc_ring_push(&r, &v), "full: refused");
	ASSERT_EQ(spsc_ring_count(&r), cap, "holds its capacity");
	ASSERT_TRUE(spsc_ring_pop(&r, &v) && v == 0, "the oldest comes out");
	v = 100;
	ASSERT_TRUE(spsc_ring_push(&r, &v), "one popped: one slot free");
	ASSERT_TRUE(!spsc_ring_push(&r, &v), "full again");
	for (uint64_t want = 1; want < cap; want++)
		ASSERT_TRUE(spsc_ring_pop(&r, &v) && v == want, "in order");
	ASSERT_TRUE(spsc_ring_pop(&r, &v) && v == 100, "the refused push left nothing behind");
	ASSERT_TRUE(!spsc_ring_pop(&r, &v), "empty");
	spsc_ring_free(&r);
}

/* Three in, three out, many times over a ring of four: every slot is
 * reused and the order holds across the wrap. */
static void test_wraparound(void)
{
	struct spsc_ring r;
	uint64_t next_in = 0, next_out = 0, v;
	bool ok = true;

	if (!ASSERT_EQ(spsc_ring_init(&r, 4, sizeof(uint64_t)), 0, "init"))
		return;
	for (int round = 0; round < 1000; round++) {
		for (int k = 0; k < 3; k++, next_in++)
			ok &= spsc_ring_push(&r, &next_in);
		for (int k = 0; k < 3; k++, next_out++)
			ok &= spsc_ring_pop(&r, &v) && v == next_out;
	}
	ASSERT_TRUE(ok, "3000 values through 4 slots, in order");
	spsc_ring_free(&r);
}

/* The indices run free: past 2^32 they wrap and the ring still counts
 * right (started just below the wrap). */
static void test_index_wrap(void)
{
	struct spsc_ring r;
	uint64_t v;
	bool ok = true;

	if (!ASSERT_EQ(spsc_ring_init(&r, 4, sizeof(uint64_t)), 0, "init"))
		return;
	atomic_store(&r.head, UINT32_MAX - 5);
	atomic_store(&r.tail, UINT32_MAX - 5);
	r.head_cache = r.tail_cache = UINT32_MAX - 5;
	for (uint64_t i = 0; i < 20; i++) {
		ok &= spsc_ring_push(&r, &i);
		ok &= spsc_ring_push(&r, &i);
		ok &= spsc_ring_count(&r) == 2;
		ok &= spsc_ring_pop(&r, &v) && v == i;
		ok &= spsc_ring_pop(&r, &v) && v == i;
	}
	ASSERT_TRUE(ok, "order and count across the index wrap");
	for (v = 0; v < 4; v++)
		ok &= spsc_ring_push(&r, &v);
	ASSERT_TRUE(ok, "fills after the wrap");
	ASSERT_TRUE(!spsc_ring_push(&r, &v), "and is full at capacity");
	spsc_ring_free(&r);
}

#define N_THREADED 2000000ULL

static void *producer(void *arg)
{
	struct spsc_ring *r = arg;

	for (uint64_t i = 1; i <= N_THREADED; i++)
		while (!spsc_ring_push(r, &i))
			;
	return NULL;
}

/* One producer thread, one consumer: nothing lost, doubled or reordered. */
static void test_two_threads(void)
{
	struct spsc_ring r;
	pthread_t t;
	uint64_t want = 1, v, bad = 0;

	if (!ASSERT_EQ(spsc_ring_init(&r, 64, sizeof(uint64_t)), 0, "init"))
		return;
	if (!ASSERT_EQ(pthread_create(&t, NULL, producer, &r), 0, "producer starts"))
		return;
	while (want <= N_THREADED) {
		if (!spsc_ring_pop(&r, &v))
			continue;
		bad += v != want;
		want = v + 1;
	}
	pthread_join(t, NULL);
	ASSERT_EQ(bad, 0, "every value in order");
	ASSERT_TRUE(!spsc_ring_pop(&r, &v), "nothing more");
	spsc_ring_free(&r);
}

/* peek shows the oldest without taking it; pop then takes that one. */
static void test_peek(void)
{
	struct spsc_ring r;
	const uint64_t *p;
	uint64_t v;

	if (!ASSERT_EQ(spsc_ring_init(&r, 4, sizeof(uint64_t)), 0, "init"))
		return;
	ASSERT_TRUE(spsc_ring_peek(&r) == NULL, "empty: nothing to peek");
	for (v = 7; v < 10; v++)
		spsc_ring_push(&r, &v);
	p = spsc_ring_peek(&r);
	ASSERT_TRUE(p && *p == 7, "the oldest");
	ASSERT_TRUE((p = spsc_ring_peek(&r)) && *p == 7, "still there");
	ASSERT_EQ(spsc_ring_count(&r), 3, "nothing taken");
	ASSERT_TRUE(spsc_ring_pop(&r, &v) && v == 7, "pop takes it");
	ASSERT_TRUE((p = spsc_ring_peek(&r)) && *p == 8, "then the next");
	spsc_ring_free(&r);
}

/* peek_at(k): the k-th after the oldest, across the wrap, NULL past the
 * last held; nothing taken. */
static void test_peek_at(void)
{
	struct spsc_ring r;
	const uint64_t *p;
	uint64_t v;

	if (!ASSERT_EQ(spsc_ring_init(&r, 4, sizeof(uint64_t)), 0, "init"))
		return;
	ASSERT_TRUE(spsc_ring_peek_at(&r, 0) == NULL, "empty: nothing at 0");
	for (v = 1; v <= 3; v++)
		spsc_ring_push(&r, &v);
	spsc_ring_pop(&r, &v);
	spsc_ring_pop(&r, &v);		/* head at slot 2 */
	for (v = 4; v <= 6; v++)
		spsc_ring_push(&r, &v);	/* 3 4 5 6, wrapping */
	for (uint32_t k = 0; k < 4; k++)
		ASSERT_TRUE((p = spsc_ring_peek_at(&r, k)) && *p == 3 + k, "element k");
	ASSERT_TRUE(spsc_ring_peek_at(&r, 4) == NULL, "past the last: NULL");
	ASSERT_EQ(spsc_ring_count(&r), 4, "nothing taken");
	ASSERT_TRUE(spsc_ring_pop(&r, &v) && v == 3, "the oldest still first");
	ASSERT_TRUE((p = spsc_ring_peek_at(&r, 2)) && *p == 6, "indexes follow the head");
	ASSERT_TRUE(spsc_ring_peek_at(&r, 3) == NULL, "one fewer held");
	spsc_ring_free(&r);
}

void test_area_spsc_ring(void)
{
	RUN_SUBTEST(test_full);
	RUN_SUBTEST(test_wraparound);
	RUN_SUBTEST(test_index_wrap);
	RUN_SUBTEST(test_two_threads);
	RUN_SUBTEST(test_peek);
	RUN_SUBTEST(test_peek_at);
}

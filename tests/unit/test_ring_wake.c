// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* bpf/ring_wake.h: which records wake a ring's reader. */
#include "ring_wake.h"
#include "test.h"

/* A ring filled record by record from empty (the reader asleep): the
 * wakeups come at the crossing, and stop past the band. */
static int wakes_while_filling(__u64 wakeup, __u64 rec, __u64 upto, __u64 *first, __u64 *last)
{
	int n = 0;

	*first = *last = 0;
	for (__u64 q = rec; q <= upto; q += rec) {
		if (!ring_wake_now(q, wakeup))
			continue;
		if (!n++)
			*first = q;
		*last = q;
	}
	return n;
}

static void test_crossing(void)
{
	__u64 first, last;
	int n;

	ASSERT_TRUE(!ring_wake_now(0, 1 << 20), "empty: no wakeup");
	ASSERT_TRUE(!ring_wake_now((1 << 20) - 1, 1 << 20), "below: none");
	ASSERT_TRUE(ring_wake_now(1 << 20, 1 << 20), "at the threshold");
	ASSERT_TRUE(ring_wake_now((2 << 20) - 1, 1 << 20), "inside the band");
	ASSERT_TRUE(!ring_wake_now(2 << 20, 1 << 20), "past the band: the reader is awake");
	ASSERT_TRUE(!ring_wake_now(60 << 20, 1 << 20), "far behind: none");
	n = wakes_while_filling(1 << 20, 448, 64 << 20, &first, &last);
	ASSERT_TRUE(n > 0 && first >= (1 << 20) && first < (1 << 20) + 448,
		    "the first record past the threshold wakes");
	ASSERT_TRUE(last < (2 << 20), "none past the band");
	ASSERT_EQ(n, (1 << 20) / 448 + 1, "one band's worth, not the rest of the ring");
}

static void test_small_rings(void)
{
	__u64 first, last;

	/* a 256 KiB ring wakes at 16 KiB: the band is wider than the
	 * threshold, so a 16 KiB record (a body piece) cannot step over it */
	ASSERT_TRUE(ring_wake_now(16 << 10, 16 << 10), "small threshold: at it");
	ASSERT_TRUE(ring_wake_now((16 << 10) + 16392, 16 << 10), "one body piece past it: still");
	ASSERT_TRUE(ring_wake_now((16 << 10) + RING_WAKE_BAND_MIN - 1, 16 << 10), "band minimum");
	ASSERT_TRUE(!ring_wake_now((16 << 10) + RING_WAKE_BAND_MIN, 16 << 10), "past it");
	ASSERT_TRUE(wakes_while_filling(16 << 10, 16392, 256 << 10, &first, &last) > 0,
		    "records of 16 KiB filling a 256 KiB ring still wake it");
}

/* A reader asleep at consumer position c: one wakeup as the queue enters
 * the band, none for the records after it until the reader has read,
 * and one again at the next crossing after it slept. */
static void test_once_per_sleep(void)
{
	const __u64 wake = 1 << 20, rec = 448;
	__u64 woken = 0, cons = 0, prod = 0;
	int n = 0;

	while (prod < cons + 2 * wake) {	/* asleep at 0: the queue climbs */
		prod += rec;
		n += ring_wake_once(prod - cons, cons, wake, &woken);
	}
	ASSERT_EQ(n, 1, "one wakeup for the whole climb through the band");
	cons = prod - 4096;		/* it read most of it, and records came */
	ASSERT_TRUE(!ring_wake_once(prod - cons, cons, wake, &woken), "below the mark: none");
	cons = prod;			/* it read everything and slept */
	n = 0;
	for (int i = 0; i < 5000; i++) {
		prod += rec;
		n += ring_wake_once(prod - cons, cons, wake, &woken);
	}
	ASSERT_EQ(n, 1, "asleep again: one wakeup at the next crossing");
	woken = 0;
	ASSERT_TRUE(ring_wake_once(wake, 0, wake, &woken), "a consumer position of 0 is no match");
}

void test_area_ring_wake(void)
{
	RUN_SUBTEST(test_crossing);
	RUN_SUBTEST(test_small_rings);
	RUN_SUBTEST(test_once_per_sleep);
}

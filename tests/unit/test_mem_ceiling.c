// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The memory ceiling from the limits: each table counts when full, the
 * parts add up, and each part grows with its own limit only. */
#include <string.h>
#include "test.h"
#include "output/mem_ceiling.h"

static const struct mem_ceiling_limits base_limits = {
	.ringbuf_mb = 16, .max_conns = 1000, .max_exchanges = 5000,
	.max_hop_records = 2000, .max_rids = 2000, .body_bytes = 65536, .max_traces = 0,
};

static uint64_t sum(const struct mem_ceiling *c)
{
	return c->base + c->rings + c->conns + c->bodies + c->exchanges + c->hops + c->traces +
	       c->memos;
}

static void test_parts_add_up(void)
{
	struct mem_ceiling c;

	mem_ceiling_compute(&base_limits, &c);
	ASSERT_EQ(c.total, sum(&c), "total is the sum of the parts");
	ASSERT_EQ(c.rings, 16ull << 20, "rings: their configured size");
	ASSERT_EQ(c.traces, 0, "no trace store without --listen");
	/* two bodies in flight per connection, each at most the limit */
	ASSERT_TRUE(c.bodies >= 1000ull * 2 * 65536, "bodies: 2 x limit per connection");
	ASSERT_TRUE(c.bodies < 1000ull * 2 * (65536 + 1024), "bodies: no more than that plus the scan");
}

/* Doubling one limit moves its own part only, by what one more full
 * table holds: the parts are linear in their limits. */
static void test_each_part_scales(void)
{
	struct mem_ceiling a, b;
	struct mem_ceiling_limits l = base_limits;

	mem_ceiling_compute(&base_limits, &a);
	l.max_exchanges *= 2;
	mem_ceiling_compute(&l, &b);
	ASSERT_EQ(b.exchanges, 2 * a.exchanges, "exchanges double");
	ASSERT_EQ(b.total - a.total, a.exchanges, "nothing else moves");

	l = base_limits;
	l.body_bytes *= 2;
	mem_ceiling_compute(&l, &b);
	ASSERT_EQ(b.bodies - a.bodies, 1000ull * 2 * 65536, "bodies grow by 2 x limit per connection");
	ASSERT_EQ(b.conns, a.conns, "connection state does not");

	l = base_limits;
	l.max_conns *= 2;
	mem_ceiling_compute(&l, &b);
	ASSERT_EQ(b.bodies, 2 * a.bodies, "bodies follow the connections");
	ASSERT_TRUE(b.conns > a.conns && b.conns < 2 * a.conns + 1, "connections grow");

	l = base_limits;
	l.max_traces = 10000;
	mem_ceiling_compute(&l, &b);
	ASSERT_TRUE(b.traces >= 10000ull * 4096, "traces: their JSON each");
	ASSERT_EQ(b.total - a.total, b.traces, "only the trace part moves");

	/* a memo of bodies read twice per parse thread, big ones within
	 * their 4 MiB budget */
	ASSERT_TRUE(a.memos >= 4ull << 20 && a.memos < 6ull << 20, "one thread's memo: 4-6 MiB");
	l = base_limits;
	l.parse_threads = 4;
	mem_ceiling_compute(&l, &b);
	ASSERT_EQ(b.memos, 4 * a.memos, "memos: one per parse thread");
	ASSERT_EQ(b.total - a.total, 3 * a.memos, "nothing else moves");
}

/* The defaults' ceiling, large because every connection may hold a full
 * SSE parser and two bodies; no overflow at the 32-bit maxima. */
static void test_extremes(void)
{
	struct mem_ceiling c;
	struct mem_ceiling_limits l = {
		.ringbuf_mb = 1u << 20, .max_conns = UINT32_MAX, .max_exchanges = UINT32_MAX,
		.max_hop_records = UINT32_MAX, .max_rids = UINT32_MAX, .body_bytes = UINT32_MAX,
		.max_traces = UINT32_MAX,
	};
	char line[256];

	mem_ceiling_compute(&l, &c);
	ASSERT_TRUE(c.bodies == UINT64_MAX, "bodies saturate at the maxima, no wrap");
	ASSERT_TRUE(c.total == UINT64_MAX, "and so does the total");
	l.body_bytes = 1 << 20;
	l.max_conns = 1 << 20;
	mem_ceiling_compute(&l, &c);
	ASSERT_TRUE(c.bodies >= 2ull << 40, "a terabyte of bodies is counted, not wrapped");
	mem_ceiling_compute(&(struct mem_ceiling_limits){ 0 }, &c);
	ASSERT_EQ(c.total, c.base + c.conns + c.memos,
		  "zero limits: the base, the hash heads and one thread's memo");
	mem_ceiling_format(&c, line, sizeof(line));
	ASSERT_TRUE(!strncmp(line, "memory ceiling ~", 16), line);
}

void test_area_mem_ceiling(void)
{
	RUN_SUBTEST(test_parts_add_up);
	RUN_SUBTEST(test_each_part_scales);
	RUN_SUBTEST(test_extremes);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The collector at its connection limit (issue 13, fuzz bug 3): the least
 * recently used connection is the one evicted, its request is ended with
 * the reason, and every connection is freed at the end (the old LRU list
 * held only the newest, so the others leaked and the newest was evicted). */
#include <stdio.h>
#include <string.h>
#include "fixture.h"
#include "test.h"

#define WORKER 200

static char *request(const char *rid)
{
	static char b[512];
	char body[128];

	snprintf(body, sizeof(body), "{\"text\":\"hi\",\"rid\":\"%s\"}", rid);
	snprintf(b, sizeof(b), "POST /generate HTTP/1.1\r\nhost: x\r\ncontent-type: "
		 "application/json\r\ncontent-length: %zu\r\n\r\n%s", strlen(body), body);
	return b;
}

static struct fixture *setup(void)
{
	struct fixture *f = fixture_setup(&(struct fixture_opts){ .max_conns = 2 });

	collector_set_role(f->col, WORKER, ROLE_WORKER);
	return f;
}

static void test_oldest_evicted(void)
{
	struct fixture *f = setup();
	struct gen_conn a = gen_conn(&f->gen, WORKER, 10, 30001, 40001);
	struct gen_conn b = gen_conn(&f->gen, WORKER, 11, 30001, 40002);
	struct gen_conn c = gen_conn(&f->gen, WORKER, 12, 30001, 40003);
	const struct timeline_row *r;

	gen_read_at(&a, 1, request("ra"));
	gen_read_at(&b, 2, request("rb"));
	gen_read_at(&c, 3, request("rc"));	/* third: one must go */
	ASSERT_EQ(collector_stats(f->col)->conns_evicted, 1, "one evicted");
	fixture_tick(f, 2000 * MS);
	r = fixture_row(f, "ra");
	if (ASSERT_TRUE(r != NULL, "the oldest (ra) ended at once"))
		ASSERT_STREQ(r->error, "evicted_memory_limit", "with the reason");
	ASSERT_TRUE(fixture_row(f, "rc") == NULL, "the newest is still open");
	ASSERT_TRUE(fixture_row(f, "rb") == NULL, "the middle one is still open");
	collector_flush(f->col);
	fixture_tick(f, 4000 * MS);
	ASSERT_EQ(collector_stats(f->col)->conns_closed, 3, "every connection closed");
	ASSERT_EQ(collector_stats(f->col)->conns_opened, 3, "three opened");
	r = fixture_row(f, "rc");
	if (ASSERT_TRUE(r != NULL, "rc flushed"))
		ASSERT_STREQ(r->error, "in_flight_at_exit", "rc ended at exit");
	fixture_teardown(f);
}

static void test_touch_moves_to_newest(void)
{
	struct fixture *f = setup();
	struct gen_conn a = gen_conn(&f->gen, WORKER, 10, 30001, 40001);
	struct gen_conn b = gen_conn(&f->gen, WORKER, 11, 30001, 40002);
	struct gen_conn c = gen_conn(&f->gen, WORKER, 12, 30001, 40003);
	const struct timeline_row *r;

	gen_read_at(&a, 1, "POST /generate HTTP/1.1\r\nhost: x\r\n");
	gen_read_at(&b, 2, request("rb"));
	/* a's request goes on: a is now the most recently used */
	gen_read_at(&a, 3, "content-type: application/json\r\ncontent-length: 24\r\n\r\n"
		    "{\"text\":\"hi\",\"rid\":\"ra\"}");
	gen_read_at(&c, 4, request("rc"));
	fixture_tick(f, 2000 * MS);
	r = fixture_row(f, "rb");
	if (ASSERT_TRUE(r != NULL, "b, least recently used, evicted"))
		ASSERT_STREQ(r->error, "evicted_memory_limit", "with the reason");
	ASSERT_TRUE(fixture_row(f, "ra") == NULL, "a, touched, kept");
	fixture_teardown(f);
}

/* Many connections through a limit of 2: the count never passes it and
 * teardown frees them all (collector_free closes what the list holds;
 * opened - evicted - closed by hand = what it must close). */
static void test_churn_frees_all(void)
{
	struct fixture *f = setup();
	struct gen_conn cs[50];
	char rid[16];

	for (int i = 0; i < 50; i++) {
		cs[i] = gen_conn(&f->gen, WORKER, 10 + i, 30001, 40000 + i);
		snprintf(rid, sizeof(rid), "r%d", i);
		gen_read_at(&cs[i], 1 + i, request(rid));
		if (i % 7 == 3)	/* closed at once, before any eviction */
			gen_close(&cs[i]);
	}
	ASSERT_EQ(collector_stats(f->col)->conns_opened, 50, "opened");
	ASSERT_EQ(collector_stats(f->col)->conns_opened - collector_stats(f->col)->conns_closed,
		  2, "at most max_conns held");
	collector_flush(f->col);
	ASSERT_EQ(collector_stats(f->col)->conns_closed, 50, "all freed by the flush");
	fixture_teardown(f);
}

void test_area_collector_limits(void)
{
	RUN_SUBTEST(test_oldest_evicted);
	RUN_SUBTEST(test_touch_moves_to_newest);
	RUN_SUBTEST(test_churn_frees_all);
}

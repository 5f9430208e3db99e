// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The query API's store: bounds (max, TTL), in-flight refreshes, stats, and
 * the JSON of one trace. */
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "query/trace_json.h"
#include "query/trace_store.h"
#include "test.h"
#include "timeline_rows.h"

#define SEC 1000000000ULL

static uint64_t fake_now;

static uint64_t now_fn(void)
{
	return fake_now;
}

static struct trace_store *store(size_t max, uint64_t ttl)
{
	struct trace_store_opts o = { .max_traces = max, .ttl_ns = ttl, .now_ns = now_fn,
				      .routing_policy = "round_robin" };

	fake_now = 1000 * SEC;
	return trace_store_new(&o);
}

static cJSON *get(struct trace_store *st, const char *id)
{
	char *s = trace_store_get_json(st, id);
	cJSON *o = s ? cJSON_Parse(s) : NULL;

	free(s);
	return o;
}

static const char *status_of(struct trace_store *st, const char *id)
{
	static char buf[32];
	cJSON *o = get(st, id);

	snprintf(buf, sizeof(buf), "%s", o ? cJSON_GetStringValue(cJSON_GetObjectItem(o, "status")) : "(none)");
	cJSON_Delete(o);
	return buf;
}

static void test_trace_json_fields(void)
{
	struct timeline_row r;
	cJSON *o, *tl;

	rows_make(&r, "q1", 2, 5 * SEC);
	o = trace_json(&r, false, NULL);
	if (!ASSERT_TRUE(o != NULL, "renders"))
		return;
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(o, "request_id")), "q1", "request_id");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(o, "node_id")), "127.0.0.1:30002", "node_id = worker");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(o, "worker_url")), "http://127.0.0.1:30002", "worker_url");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(o, "routing_policy")), "unknown", "policy unknown unless told");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(o, "status")), "success", "status");
	ASSERT_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "timestamp")), 1700000005.0, 1e-6, "timestamp = arrival, epoch s");
	tl = cJSON_GetObjectItem(o, "timeline");
	ASSERT_TRUE(cJSON_IsObject(tl), "timeline columns");
	ASSERT_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(tl, "ttft")),
		    (double)(r.server_first_token_time - r.arrival_time) / 1e9, 1e-6, "ttft column");
	ASSERT_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(tl, "pure_queue_time")), D_SCHED_QUEUE / 1e9, 1e-6, "pure_queue_time column");
	ASSERT_EQ(cJSON_GetNumberValue(cJSON_GetObjectItem(tl, "status")), 200, "HTTP status column");
	ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(tl, "success")), "success column");
	cJSON_Delete(o);

	r.success = 0;
	snprintf(r.error, sizeof(r.error), "client_aborted");
	ASSERT_STREQ(trace_json_status(&r, false), "aborted", "client abort");
	snprintf(r.error, sizeof(r.error), "HTTP 500");
	ASSERT_STREQ(trace_json_status(&r, false), "error", "error");
	r.host[0] = 0;
	r.queue_time_end = 0;
	o = trace_json(&r, true, "cache_aware");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(o, "status")), "in_flight", "in flight");
	ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(o, "node_id")), "not forwarded yet: node_id null");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(o, "routing_policy")), "cache_aware", "policy when known");
	ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "timeline"), "queue_time_end")),
		    "unknown stamp is null");
	cJSON_Delete(o);
}

static void test_max_evicts_oldest(void)
{
	struct trace_store *st = store(3, 3600 * SEC);
	struct trace_store_counts c;
	struct timeline_row r;
	char id[16];

	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "r%d", i);
		rows_make(&r, id, i % 2, (10 + i) * SEC);
		trace_store_put(st, &r);
		fake_now += SEC;
	}
	trace_store_get_counts(st, &c);
	ASSERT_EQ(c.active_traces, 3, "bounded by max_traces");
	ASSERT_EQ(c.total_requests, 5, "all counted");
	ASSERT_EQ(c.evicted_max, 2, "two pushed out");
	ASSERT_STREQ(status_of(st, "r0"), "(none)", "oldest gone");
	ASSERT_STREQ(status_of(st, "r1"), "(none)", "second oldest gone");
	ASSERT_STREQ(status_of(st, "r4"), "success", "newest kept");
	/* the same id again replaces, it does not take a second entry */
	rows_make(&r, "r4", 0, 20 * SEC);
	trace_store_put(st, &r);
	trace_store_get_counts(st, &c);
	ASSERT_EQ(c.active_traces, 3, "replaced in place");
	ASSERT_STREQ(status_of(st, "r2"), "success", "r2 not evicted by the replacement");
	trace_store_free(st);
}

static void test_ttl(void)
{
	struct trace_store *st = store(100, 10 * SEC);
	struct trace_store_counts c;
	struct timeline_row r;

	rows_make(&r, "old", 0, 1 * SEC);
	trace_store_put(st, &r);
	fake_now += 6 * SEC;
	rows_make(&r, "new", 0, 2 * SEC);
	trace_store_put(st, &r);
	fake_now += 5 * SEC;	/* old is 11 s old, new 5 s */
	ASSERT_STREQ(status_of(st, "old"), "(none)", "expired after the TTL");
	ASSERT_STREQ(status_of(st, "new"), "success", "younger one kept");
	trace_store_get_counts(st, &c);
	ASSERT_EQ(c.expired_ttl, 1, "one expired");
	ASSERT_EQ(c.total_requests, 2, "stats keep counting expired ones");
	trace_store_free(st);
}

static void fly(struct trace_store *st, const char **ids, int n, uint64_t t0)
{
	struct timeline_row r;

	trace_store_in_flight_begin(st);
	for (int i = 0; i < n; i++) {
		rows_make(&r, ids[i], 0, t0);
		r.finish_time = r.worker_finish_time = r.server_first_token_time = 0;
		trace_store_in_flight(st, &r);
	}
	trace_store_in_flight_end(st);
}

static void test_in_flight(void)
{
	struct trace_store *st = store(100, 3600 * SEC);
	struct trace_store_counts c;
	struct timeline_row r;
	const char *ab[] = { "a", "b" }, *b[] = { "b" }, *reused[] = { "a" };
	cJSON *o;

	fly(st, ab, 2, 10 * SEC);
	ASSERT_STREQ(status_of(st, "a"), "in_flight", "a in flight");
	o = get(st, "a");
	ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "timeline"), "finish_time")),
		    "what is known so far: no finish yet");
	cJSON_Delete(o);
	rows_make(&r, "a", 0, 10 * SEC);
	trace_store_put(st, &r);
	ASSERT_STREQ(status_of(st, "a"), "success", "finished row replaces the in-flight one");
	fly(st, ab, 2, 10 * SEC);	/* a late refresh still naming a */
	ASSERT_STREQ(status_of(st, "a"), "success", "a finished row is not downgraded");
	fly(st, b, 1, 10 * SEC);
	trace_store_get_counts(st, &c);
	ASSERT_EQ(c.in_flight_traces, 1, "b still in flight");
	fly(st, NULL, 0, 0);
	trace_store_get_counts(st, &c);
	ASSERT_EQ(c.in_flight_traces, 0, "a refresh without b drops it");
	ASSERT_STREQ(status_of(st, "b"), "(none)", "b gone (it never finished here)");
	ASSERT_EQ(c.active_traces, 1, "only a");
	ASSERT_EQ(c.total_requests, 1, "in-flight entries are not requests yet");
	fly(st, reused, 1, 50 * SEC);	/* the id reused by a later request */
	ASSERT_STREQ(status_of(st, "a"), "in_flight", "a later request with the same id shows");
	trace_store_free(st);
}

static void test_stats_and_list(void)
{
	struct trace_store *st = store(100, 3600 * SEC);
	struct timeline_row r;
	const char *fl[] = { "f" };
	char *s, id[16];
	cJSON *o, *arr;

	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "r%d", i);
		rows_make(&r, id, i % 2, (10 + i) * SEC);
		if (i == 4) {
			r.success = 0;
			snprintf(r.error, sizeof(r.error), "HTTP 500");
		}
		trace_store_put(st, &r);
	}
	fly(st, fl, 1, 30 * SEC);
	s = trace_store_stats_json(st);
	o = cJSON_Parse(s);
	free(s);
	ASSERT_EQ(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "total_requests")), 5, "total");
	ASSERT_EQ(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "active_traces")), 6, "active (5 + 1 in flight)");
	ASSERT_EQ(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "in_flight_traces")), 1, "in flight");
	ASSERT_EQ(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "requests_per_node"), "127.0.0.1:30000")), 3, "node 0: r0 r2 r4");
	ASSERT_EQ(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "requests_per_node"), "127.0.0.1:30001")), 2, "node 1");
	ASSERT_EQ(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "requests_per_status"), "success")), 4, "successes");
	ASSERT_EQ(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "requests_per_status"), "error")), 1, "errors");
	cJSON_Delete(o);

	s = trace_store_list_json(st, 3);
	arr = cJSON_Parse(s);
	free(s);
	ASSERT_EQ(cJSON_GetArraySize(arr), 3, "limit");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "request_id")), "f", "in flight first");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 1), "request_id")), "r4", "then newest finished");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 2), "request_id")), "r3", "newest first");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 1), "routing_policy")), "round_robin", "policy from the options");
	cJSON_Delete(arr);
	s = trace_store_list_json(st, 0);
	ASSERT_STREQ(s, "[]", "limit 0: empty array");
	free(s);
	trace_store_free(st);
}

void test_area_trace_store(void)
{
	RUN_SUBTEST(test_trace_json_fields);
	RUN_SUBTEST(test_max_evicts_oldest);
	RUN_SUBTEST(test_ttl);
	RUN_SUBTEST(test_in_flight);
	RUN_SUBTEST(test_stats_and_list);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* --perfetto: rows in, trace-event JSON out, read back with cJSON. */
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "output/perfetto.h"
#include "test.h"
#include "timeline_rows.h"

#define SEC 1000000000ULL

struct pf_out {
	char *buf;
	size_t len;
	FILE *f;
	struct perfetto *pf;
};

static void pf_open(struct pf_out *o)
{
	o->buf = NULL;
	o->f = open_memstream(&o->buf, &o->len);
	o->pf = perfetto_new(o->f);
}

/* The events so far; closed = the writer wrote "]" itself. */
static cJSON *pf_events(struct pf_out *o, int closed)
{
	char *text;
	cJSON *arr;

	fflush(o->f);
	text = malloc(o->len + 4);
	memcpy(text, o->buf, o->len);
	strcpy(text + o->len, closed ? "" : "]");
	arr = cJSON_Parse(text);
	free(text);
	return arr;
}

/* PERFETTO_SAMPLE=FILE keeps this output for tools/report's checker test. */
static void save_sample(const struct pf_out *o)
{
	const char *path = getenv("PERFETTO_SAMPLE");
	FILE *f = path ? fopen(path, "w") : NULL;

	if (f) {
		fwrite(o->buf, 1, o->len, f);
		fclose(f);
	}
}

static void pf_close(struct pf_out *o)
{
	perfetto_free(o->pf);
	fclose(o->f);
	free(o->buf);
}

static const char *str(const cJSON *ev, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, k));
}

static double num(const cJSON *ev, const char *k)
{
	return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ev, k));
}

/* The nth X event named name in process pid (pid 0: any). */
static const cJSON *slice(const cJSON *arr, const char *name, int pid, int nth)
{
	const cJSON *ev;

	cJSON_ArrayForEach(ev, arr) {
		if (strcmp(str(ev, "ph"), "X") || strcmp(str(ev, "name"), name))
			continue;
		if (pid && num(ev, "pid") != pid)
			continue;
		if (!nth--)
			return ev;
	}
	return NULL;
}

static int count_ph(const cJSON *arr, const char *ph)
{
	const cJSON *ev;
	int n = 0;

	cJSON_ArrayForEach(ev, arr)
		n += !strcmp(str(ev, "ph"), ph);
	return n;
}

static double us_of(uint64_t mono)
{
	return (double)clock_mono_to_epoch_ns(mono) / 1000.0;
}

static void check_slice(const cJSON *ev, uint64_t from, uint64_t to, const char *what)
{
	if (!ASSERT_TRUE(ev != NULL, what))
		return;
	ASSERT_NEAR(num(ev, "ts"), us_of(from), 0.5, what);
	ASSERT_NEAR(num(ev, "dur"), (double)(to - from) / 1000.0, 0.001, what);
}

static void test_slices_lanes_flows(void)
{
	struct timeline_row a, b, c;
	struct pf_out o;
	cJSON *arr, *ev;
	int s_ids[16] = {}, f_ids[16] = {};

	pf_open(&o);
	rows_make(&a, "a", 0, 1 * SEC);
	rows_make(&b, "b", 0, 1 * SEC + 5000 * US);	/* overlaps a */
	rows_make(&c, "c", 1, 2 * SEC);			/* after both */
	perfetto_row(o.pf, &a);
	perfetto_row(o.pf, &b);
	perfetto_row(o.pf, &c);
	perfetto_finish(o.pf);
	arr = pf_events(&o, 1);
	save_sample(&o);
	if (!ASSERT_TRUE(cJSON_IsArray(arr), "closed file is one JSON array"))
		goto out;
	check_slice(slice(arr, "a", 100, 0), a.arrival_time, a.finish_time, "router request slice");
	check_slice(slice(arr, "a", 200, 0), a.server_created_time, a.worker_finish_time,
		    "worker request slice");
	check_slice(slice(arr, "router queue", 100, 0), a.arrival_time, a.router_send_time,
		    "router queue");
	check_slice(slice(arr, "network", 100, 0), a.router_send_time, a.server_created_time,
		    "network");
	check_slice(slice(arr, "tokenize", 200, 0), a.server_created_time, a.queue_time_start,
		    "tokenize");
	check_slice(slice(arr, "scheduler queue", 200, 0), a.queue_time_start, a.queue_time_end,
		    "scheduler queue");
	check_slice(slice(arr, "prefill", 200, 0), a.queue_time_end, a.server_first_token_time,
		    "prefill");
	check_slice(slice(arr, "decode", 200, 0), a.server_first_token_time, a.worker_finish_time,
		    "decode until the worker's last byte");
	check_slice(slice(arr, "c", 201, 0), c.server_created_time, c.worker_finish_time,
		    "c on its own worker process");
	ASSERT_EQ(num(slice(arr, "a", 100, 0), "tid"), 1, "a on the first track");
	ASSERT_EQ(num(slice(arr, "b", 100, 0), "tid"), 2, "b overlaps a: second track");
	ASSERT_EQ(num(slice(arr, "b", 200, 0), "tid"), 2, "same on the worker");
	ASSERT_EQ(num(slice(arr, "c", 100, 0), "tid"), 1, "c reuses the first track");
	ASSERT_EQ(num(slice(arr, "network", 100, 1), "tid"), 2, "stages on the request's track");
	ASSERT_STREQ(str(cJSON_GetObjectItem(slice(arr, "a", 100, 0), "args"), "host"),
		     "127.0.0.1:30000", "request args carry the worker");
	ASSERT_EQ(count_ph(arr, "X"), 3 * (3 + 5), "3 requests x (router 3 + worker 5) slices");
	ASSERT_EQ(count_ph(arr, "s"), 6, "2 flows per request");
	ASSERT_EQ(count_ph(arr, "f"), 6, "every flow ends");
	cJSON_ArrayForEach(ev, arr) {
		const char *ph = str(ev, "ph");
		int id = (int)num(ev, "id");

		if (strcmp(ph, "s") && strcmp(ph, "f"))
			continue;
		if (id > 0 && id < 16)
			(ph[0] == 's' ? s_ids : f_ids)[id]++;
		if (ph[0] == 'f')
			ASSERT_STREQ(str(ev, "bp"), "e", "flow end binds to its enclosing slice");
	}
	for (int i = 1; i <= 6; i++)
		ASSERT_TRUE(s_ids[i] == 1 && f_ids[i] == 1, "flow id paired once");
	/* the first flow leaves the router at the forward, lands at the worker's read */
	cJSON_ArrayForEach(ev, arr) {
		if (num(ev, "id") != 1)
			continue;
		if (!strcmp(str(ev, "ph"), "s")) {
			ASSERT_EQ(num(ev, "pid"), 100, "flow starts on the router");
			ASSERT_NEAR(num(ev, "ts"), us_of(a.router_send_time), 0.5, "at the forward");
		} else {
			ASSERT_EQ(num(ev, "pid"), 200, "flow ends on the worker");
			ASSERT_NEAR(num(ev, "ts"), us_of(a.server_created_time), 0.5, "at its read");
		}
	}
	ASSERT_EQ(count_ph(arr, "M"), 3 + 2 + 2 + 1,
		  "process names (router, 2 workers), track names (2 + 2 + 1)");
out:
	cJSON_Delete(arr);
	pf_close(&o);
}

static void test_unknown_stages_skipped(void)
{
	struct timeline_row r, node;
	struct pf_out o;
	cJSON *arr;

	pf_open(&o);
	rows_make(&r, "r", 0, 1 * SEC);
	r.queue_time_start = r.queue_time_end = 0;	/* scheduler not seen */
	perfetto_row(o.pf, &r);
	rows_make(&node, "node", 1, 2 * SEC);		/* node level: no router */
	node.level = "node";
	node.router_pid = 0;
	node.router_send_time = 0;
	node.arrival_time = node.server_created_time;
	perfetto_row(o.pf, &node);
	arr = pf_events(&o, 0);
	ASSERT_TRUE(cJSON_IsArray(arr), "parses");
	ASSERT_TRUE(!slice(arr, "tokenize", 200, 0), "no tokenize without queue_time_start");
	ASSERT_TRUE(!slice(arr, "scheduler queue", 200, 0), "no scheduler queue");
	ASSERT_TRUE(!slice(arr, "prefill", 200, 0), "no prefill without queue_time_end");
	check_slice(slice(arr, "decode", 200, 0), r.server_first_token_time, r.worker_finish_time,
		    "decode still there");
	ASSERT_EQ(count_ph(arr, "s"), 2, "r: router->worker only; node: main->scheduler only");
	ASSERT_TRUE(!slice(arr, "node", 100, 0), "node row: nothing on a router");
	check_slice(slice(arr, "node", 201, 0), node.server_created_time, node.worker_finish_time,
		    "node row on its worker");
	ASSERT_EQ(count_ph(arr, "f"), count_ph(arr, "s"), "flows balanced");
	cJSON_Delete(arr);
	pf_close(&o);
}

static void test_counters_and_cut_file(void)
{
	struct timeline_row r;
	struct pf_out o;
	cJSON *arr, *ev;
	int c = 0;
	double last = -1;

	pf_open(&o);
	rows_make(&r, "r", 0, 1 * SEC);
	perfetto_counter(o.pf, "kernel_ringbuf_drops", 1 * SEC, 0);
	perfetto_counter(o.pf, "kernel_ringbuf_drops", 2 * SEC, 0);	/* unchanged */
	perfetto_counter(o.pf, "kernel_ringbuf_drops", 3 * SEC, 7);
	perfetto_counter(o.pf, "exchanges_evicted", 3 * SEC, 1);
	perfetto_row(o.pf, &r);
	/* no finish: as after a kill; the format allows the missing "]" */
	arr = pf_events(&o, 0);
	if (!ASSERT_TRUE(cJSON_IsArray(arr), "unterminated file parses with \"]\" added"))
		goto out;
	cJSON_ArrayForEach(ev, arr) {
		if (strcmp(str(ev, "ph"), "C") || strcmp(str(ev, "name"), "kernel_ringbuf_drops"))
			continue;
		c++;
		last = num(cJSON_GetObjectItem(ev, "args"), "value");
	}
	ASSERT_EQ(c, 2, "a counter event only when the value changes");
	ASSERT_EQ(last, 7, "latest value");
	ASSERT_EQ(count_ph(arr, "C"), 3, "each counter its own track");
	cJSON_Delete(arr);
	perfetto_finish(o.pf);
	perfetto_row(o.pf, &r);			/* after finish: ignored */
	arr = pf_events(&o, 1);
	ASSERT_TRUE(cJSON_IsArray(arr), "still one array after a late row");
out:
	cJSON_Delete(arr);
	pf_close(&o);
}

/* Stamps with sub-microsecond digits: readers parse ts as a double, so
 * consecutive stages must meet exactly (whole microseconds) or the viewer
 * nests one inside the other. */
static void test_adjacent_stages_share_boundary(void)
{
	static const char *order[] = { "tokenize", "scheduler queue", "prefill", "decode" };
	const cJSON *prev = NULL, *ev;
	struct timeline_row r;
	struct pf_out o;
	cJSON *arr;

	pf_open(&o);
	rows_make(&r, "r", 0, 1795412128 * SEC + 694273777);
	r.queue_time_start += 333;
	r.queue_time_end += 901;
	perfetto_row(o.pf, &r);
	arr = pf_events(&o, 0);
	for (int i = 0; i < 4; i++) {
		ev = slice(arr, order[i], 200, 0);
		if (!ASSERT_TRUE(ev != NULL, order[i]))
			break;
		ASSERT_TRUE(num(ev, "ts") == (double)(uint64_t)num(ev, "ts"), "whole microseconds");
		if (prev)
			ASSERT_TRUE(num(prev, "ts") + num(prev, "dur") == num(ev, "ts"),
				    "stage ends exactly where the next starts");
		prev = ev;
	}
	cJSON_Delete(arr);
	pf_close(&o);
}

/* More overlapping requests than tracks: they share, counted. */
static void test_lane_cap(void)
{
	struct timeline_row r;
	struct perfetto_stats s;
	struct pf_out o;
	char id[32];

	pf_open(&o);
	for (int i = 0; i < PERFETTO_MAX_LANES + 3; i++) {
		snprintf(id, sizeof(id), "r%d", i);
		rows_make(&r, id, 0, 1 * SEC + i * US);	/* all overlap */
		perfetto_row(o.pf, &r);
	}
	perfetto_get_stats(o.pf, &s);
	ASSERT_EQ(s.rows, PERFETTO_MAX_LANES + 3, "rows");
	ASSERT_EQ(s.lanes_shared, 2 * 3, "3 over the cap, on router and worker");
	pf_close(&o);
}

void test_area_perfetto(void)
{
	RUN_SUBTEST(test_slices_lanes_flows);
	RUN_SUBTEST(test_unknown_stages_skipped);
	RUN_SUBTEST(test_counters_and_cut_file);
	RUN_SUBTEST(test_adjacent_stages_share_boundary);
	RUN_SUBTEST(test_lane_cap);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A real recording (tests/unit/data/router_sglang.strec: sglang-router 0.3.2
 * in front of two SGLang 0.5.15 workers, 12 streaming and 12 non-streaming
 * /generate requests from tools/loadgen, made with servetrace --record)
 * replayed through the fixture's pipeline (collector, correlator, server
 * hops), as --replay does. */
#include <stdlib.h>
#include <string.h>
#include "output/clock.h"
#include "capture/recording.h"
#include "fixture.h"
#include "test.h"

#define RECORDING "tests/unit/data/router_sglang.strec"

static struct timeline_row rows[FIXTURE_MAX_ROWS];
static int nrows;

static int replay(const char *path)
{
	struct fixture *fx = fixture_setup(&(struct fixture_opts){
		.have_router = true, .max_conns = 1024, .linger_ns = 300 * MS,
		.orphan_ns = 10000 * MS, .idle_ns = 600000 * MS,
		.max_exchanges = 10000, .max_hop_records = 10000, .max_rids = 10000,
	});
	struct collector *col = fx->col;
	struct server_hops *sh = fx->hops;
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;
	uint32_t src;
	int64_t off;
	long n;

	nrows = 0;
	if (!f || recording_read_header(f, &off)) {
		fprintf(stderr, "  cannot read %s (run from the repo root)\n", path);
		fixture_teardown(fx);
		return -1;
	}
	clock_set_offset(off);
	while ((n = recording_read(f, &src, &buf, &cap)) > 0) {
		if (src == REC_ROLE) {
			const struct rec_role *r = (const void *)buf;

			collector_set_role(col, r->tgid, r->role);
		} else if (src == REC_SGLANG_PROC) {
			const struct rec_sglang_proc *p = (const void *)buf;

			server_hops_set_proc(sh, p->pid, p->role, p->main_pid);
		} else if (src == REC_SOCK) {
			const struct sock_event *ev = (const void *)buf;

			collector_handle(col, ev, (const char *)(ev + 1));
		} else if (src == REC_ZMQ) {
			server_hops_handle(sh, buf, n);
		}
		fixture_tick(fx, collector_last_ts(col));
	}
	collector_flush(col);
	correlator_flush(fx->corr);
	nrows = fx->nrows;
	memcpy(rows, fx->rows, sizeof(rows));
	fixture_teardown(fx);
	free(buf);
	fclose(f);
	return n == -1 ? -1 : 0;
}

static void test_real_router_and_sglang(void)
{
	int streams = 0, hosts_a = 0;

	if (!ASSERT_EQ(replay(RECORDING), 0, "recording replays"))
		return;
	ASSERT_EQ(nrows, 24, "one row per request");
	for (int i = 0; i < nrows; i++) {
		const struct timeline_row *r = &rows[i];
		uint64_t t[] = { r->arrival_time, r->router_send_time, r->server_created_time,
				 r->queue_time_start, r->queue_time_end, r->finish_time };
		bool ordered = true;

		for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++)
			ordered &= t[k] && (!k || t[k - 1] <= t[k]);
		ASSERT_TRUE(ordered, "arrival <= send <= created <= queue start <= end <= finish");
		ASSERT_TRUE(!strncmp(r->req_id, "rp", 2), "loadgen's id (x-request-id)");
		ASSERT_STREQ(r->sglang_rid, r->req_id, "SGLang saw the same rid");
		ASSERT_EQ(r->success, 1, "all succeeded");
		ASSERT_EQ(r->forwards, 1, "one forward each");
		if (r->stream == 1) {
			streams++;
			ASSERT_TRUE(r->server_first_token_time >= r->queue_time_end &&
				    r->server_first_token_time <= r->finish_time,
				    "first token inside the request");
			ASSERT_EQ(r->output_tokens_from_trace, r->actual_output_tokens,
				  "streamed tokens counted");
		} else {
			ASSERT_EQ(r->server_first_token_time, 0, "not observable: empty");
		}
		hosts_a += !strcmp(r->host, rows[0].host);
	}
	ASSERT_EQ(streams, 12, "12 streaming requests");
	ASSERT_TRUE(hosts_a > 0 && hosts_a < nrows, "both workers served");
}

void test_area_replay(void)
{
	RUN_SUBTEST(test_real_router_and_sglang);
}

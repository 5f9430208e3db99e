// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* user/correlate/vllm_hops.c fed the real vLLM 0.32.0 frames of
 * tests/unit/data/vllm/{stats,nostats}-frames.jsonl (every frame the API server and the
 * EngineCore sent, with their bpf_ktime_get_ns() stamps) as libzmq records,
 * read back through the rows the correlator writes for a node-level vLLM
 * worker (API server 300, EngineCore 301). The capture holds sends only:
 * the EngineCore's receive of each EngineCoreRequest is the same frame,
 * RECV_DELAY after the API server sent it (before the next engine frame). */
#define _GNU_SOURCE	/* memmem */
#include <stdlib.h>
#include <string.h>
#include "fixture.h"
#include "test.h"
#include "zmq_event.h"
#include "proto/vllm_ipc.h"

#define DATA_DIR "tests/unit/data/vllm/"
#define API 300
#define ENGINE 301
#define CAP ZMQ_DEFAULT_CAPTURE
#define RECV_DELAY 200000ULL	/* ns */
#define MAX_FRAMES 128

struct frame {
	uint64_t ts;
	bool engine;
	uint32_t size;
	unsigned char p[2048];
};

static struct frame frames[MAX_FRAMES];
static int nframes;

static const char *field(const char *line, const char *key)
{
	const char *at = strstr(line, key);

	return at ? at + strlen(key) : NULL;
}

/* The frames of one capture, in order. */
static int load_frames(const char *name)
{
	char path[256], *line = NULL;
	size_t cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), DATA_DIR "%s", name);
	f = fopen(path, "r");
	if (!ASSERT_TRUE(f != NULL, "open the frames (run from the repo root)"))
		return 0;
	nframes = 0;
	while (getline(&line, &cap, f) > 0 && nframes < MAX_FRAMES) {
		struct frame *fr = &frames[nframes];
		const char *ts = field(line, "\"ts\": "), *hex = field(line, "\"hex\": \"");
		const char *role = field(line, "\"role\": \"");
		uint32_t n = 0;

		if (!ts || !hex || !role)
			continue;
		fr->ts = strtoull(ts, NULL, 10);
		fr->engine = !strncmp(role, "engine", 6);
		while (hex[2 * n] != '"' && n < sizeof(fr->p)) {
			unsigned int b;

			sscanf(hex + 2 * n, "%2x", &b);
			fr->p[n++] = b;
		}
		fr->size = n;
		nframes++;
	}
	free(line);
	fclose(f);
	return nframes;
}

static struct fixture *fx;
#define sh (fx->hops)

static void zmsg(uint32_t tgid, int dir, uint64_t ts, const void *p, uint32_t n, uint32_t cap)
{
	static char buf[sizeof(struct zmq_msg_event) + CAP];
	struct zmq_msg_event *e = (struct zmq_msg_event *)buf;

	if (cap > n)
		cap = n;
	memset(e, 0, sizeof(*e));
	e->type = EV_ZMQ_MSG;
	e->tgid = tgid;
	e->tid = tgid;
	e->cap_len = cap;
	e->ts = ts;
	e->ts_enter = ts;
	e->size = n;
	e->dir = dir;
	e->msg_kind = ZMQ_MSG_LMSG;
	e->truncated = n > cap;
	memcpy(buf + sizeof(*e), p, cap);
	server_hops_handle(sh, buf, sizeof(*e) + cap);
}

/* Every frame as the probes would report it, plus the EngineCore's receive
 * of each request the API server sent. */
static uint32_t cut_size;	/* engine frames of this size are captured ... */
static uint32_t cut_at;		/* ... up to here only */

static void replay_frames(void)
{
	for (int i = 0; i < nframes; i++) {
		const struct frame *fr = &frames[i];
		uint32_t cap = fr->engine && fr->size == cut_size ? cut_at : CAP;

		zmsg(fr->engine ? ENGINE : API, ZMQ_DIR_SEND, fr->ts, fr->p, fr->size, cap);
		if (!fr->engine && fr->size > 100)
			zmsg(ENGINE, ZMQ_DIR_RECV, fr->ts + RECV_DELAY, fr->p, fr->size, CAP);
	}
}

/* ---- HTTP on the API server (port 28001) ---------------------------- */

static void http(int fd, int dir, uint64_t t, const char *data)
{
	struct gen_conn c = gen_conn(&fx->gen, API, fd, 28001, 40000 + fd);

	c.sock_id = 0x100 + fd;
	gen_at(&fx->gen, t);
	gen_data(&c, dir, data, (long)strlen(data));
}

/* A non-streaming request with X-Request-Id xrid, read just before t_add,
 * answered with id after t_end. */
static void exchange(int fd, const char *xrid, bool chat, uint64_t t_add, uint64_t t_end)
{
	char body[256], msg[1024], id[128];

	snprintf(body, sizeof(body), chat ?
		 "{\"model\":\"default\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4}" :
		 "{\"model\":\"default\",\"prompt\":\"the quick brown fox\",\"max_tokens\":4}");
	snprintf(msg, sizeof(msg), "POST %s HTTP/1.1\r\nhost: x\r\nx-request-id: %s\r\n"
		 "content-type: application/json\r\ncontent-length: %zu\r\n\r\n%s",
		 chat ? "/v1/chat/completions" : "/v1/completions", xrid, strlen(body), body);
	http(fd, DIR_READ, t_add - 500000, msg);
	snprintf(id, sizeof(id), "%s%s", chat ? "chatcmpl-" : "cmpl-", xrid);
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"choices\":[{\"index\":0,\"text\":\"a b\"}],"
		 "\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":4,\"total_tokens\":8}}", id);
	snprintf(msg, sizeof(msg), "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
		 "content-length: %zu\r\n\r\n%s", strlen(body), body);
	http(fd, DIR_WRITE, t_end + 300000, msg);
}

static struct fixture *setup(void)
{
	fx = fixture_setup(&(struct fixture_opts){ .max_exchanges = 100 });
	collector_set_role(fx->col, API, ROLE_WORKER);
	server_hops_set_proc(sh, API, HOPS_VLLM_API, API);
	server_hops_set_proc(sh, ENGINE, HOPS_VLLM_ENGINE_CORE, API);
	return fx;
}

static void teardown(void)
{
	fixture_teardown(fx);
	fx = NULL;
}

/* The API server's send of the request whose external id starts with ext,
 * and the EngineCore frames carrying it: first and last. */
struct seen {
	uint64_t add, first_out, last_out, prev_step;
};

static struct seen find(const char *ext)
{
	struct seen s = {};
	uint64_t last_step = 0;

	for (int i = 0; i < nframes; i++) {
		const struct frame *fr = &frames[i];
		bool has = memmem(fr->p, fr->size, ext, strlen(ext)) != NULL;

		if (fr->engine && fr->size > 2) {	/* not the 1-byte wake-ups */
			if (has && !s.first_out) {
				s.first_out = fr->ts;
				s.prev_step = last_step;
			}
			if (has)
				s.last_out = fr->ts;
			if (fr->size != 553)	/* the stats-only frame is no step */
				last_step = fr->ts;
		} else if (has && !fr->engine) {
			s.add = fr->ts;
		}
	}
	return s;
}

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static int nadds(void)
{
	int n = 0;

	for (int i = 0; i < nframes; i++)
		n += !frames[i].engine && frames[i].size > 100;
	return n;
}

struct req {
	const char *xrid;
	bool chat;
	double scheduled;	/* vLLM's SCHEDULED stamp (s), 0 stats off */
};

static void check_capture(const char *file, const struct req *reqs, int n, bool stats)
{
	if (!load_frames(file))
		return;
	setup();
	for (int i = 0; i < n; i++) {
		char ext[128];
		struct seen s;

		snprintf(ext, sizeof(ext), "%s%s", reqs[i].chat ? "chatcmpl-" : "cmpl-", reqs[i].xrid);
		s = find(ext);
		exchange(10 + i, reqs[i].xrid, reqs[i].chat, s.add, s.last_out);
	}
	replay_frames();
	fixture_tick(fx, frames[nframes - 1].ts + 10000 * MS);
	for (int i = 0; i < n; i++) {
		const struct timeline_row *r = fixture_row(fx, reqs[i].xrid);
		char ext[128];
		struct seen s;

		snprintf(ext, sizeof(ext), "%s%s", reqs[i].chat ? "chatcmpl-" : "cmpl-", reqs[i].xrid);
		s = find(ext);
		if (!ASSERT_TRUE(r != NULL, reqs[i].xrid))
			continue;
		ASSERT_STREQ(r->engine ? r->engine : "", "vllm", "engine column");
		ASSERT_EQ(r->tokenizer_send_time, s.add, "API server sends the EngineCoreRequest");
		ASSERT_EQ(r->queue_time_start, s.add + RECV_DELAY, "queue start: EngineCore receive");
		ASSERT_EQ(r->server_first_token_time, s.first_out, "first token: first output frame");
		ASSERT_EQ(r->scheduler_last_output_time, s.last_out, "last output frame");
		if (stats) {
			ASSERT_EQ(r->queue_time_end, (uint64_t)(reqs[i].scheduled * 1e9 + 0.5),
				  "queue end: vLLM's SCHEDULED stamp");
			ASSERT_TRUE(strstr(r->notes, "SCHEDULED") != NULL, "notes say so");
		} else {
			ASSERT_EQ(r->queue_time_end, max64(s.add + RECV_DELAY, s.prev_step),
				  "queue end: receive or the previous step's output");
			ASSERT_TRUE(strstr(r->notes, "stats off") != NULL, "notes say so");
		}
		ASSERT_TRUE(r->queue_time_start <= r->queue_time_end &&
			    r->queue_time_end <= r->server_first_token_time, "columns in time order");
	}
	ASSERT_EQ(server_hops_stats(sh)->vllm_scheduled_events, stats ? (uint64_t)nadds() : 0,
		  "SCHEDULED stamps read: one per request of the capture");
	ASSERT_EQ(server_hops_stats(sh)->vllm_layout_mismatch, 0, "no layout mismatch");
	teardown();
}

/* Stats on: the first output of each request carries QUEUED/SCHEDULED. */
static void test_stats_on(void)
{
	static const struct req reqs[] = {
		{ "fx-stats-cmpl-nostream", false, 667.819395201 },
		{ "fx-stats-chat-nostream", true, 0 },
		{ "fx-stats-batch-1", false, 669.121600504 },
		{ "fx-stats-batch-2", false, 669.121600504 },
	};
	struct req r[4];

	memcpy(r, reqs, sizeof(r));
	/* the chat request's stamp, read from its frame by the decoder */
	{
		struct vllm_ipc_msg *m = calloc(1, sizeof(*m));

		load_frames("stats-frames.jsonl");
		for (int i = 0; m && i < nframes; i++)
			if (frames[i].engine && memmem(frames[i].p, frames[i].size,
						       "chatcmpl-fx-stats-chat-nostream", 31) &&
			    !vllm_ipc_parse(frames[i].p, frames[i].size, false, m) &&
			    m->reqs[0].scheduled_ts > 0) {
				r[1].scheduled = m->reqs[0].scheduled_ts;
				break;
			}
		free(m);
	}
	ASSERT_TRUE(r[1].scheduled > 0, "chat request's SCHEDULED stamp found");
	check_capture("stats-frames.jsonl", r, 4, true);
}

/* Stats off: the queue end from the loop; batch-2 arrived while batch-1's
 * prefill ran and was scheduled in the next step. */
static void test_stats_off(void)
{
	static const struct req reqs[] = {
		{ "fx-nostats-cmpl-stream", false, 0 },
		{ "fx-nostats-chat-stream", true, 0 },
		{ "fx-nostats-batch-1", false, 0 },
		{ "fx-nostats-batch-2", false, 0 },
	};

	check_capture("nostats-frames.jsonl", reqs, 4, false);
	load_frames("nostats-frames.jsonl");
	{
		struct seen s = find("cmpl-fx-nostats-batch-2");

		ASSERT_TRUE(s.prev_step > s.add + RECV_DELAY, "batch-2 waited for a step");
	}
}

/* The frame with batch-1's and batch-2's first outputs (and their
 * SCHEDULED stamps) cut at the capture size, before their ids: their first
 * token is unknown, never taken from the next frame; batch-0, seen whole
 * in an earlier frame, keeps its columns. */
static void test_cut_first_output(void)
{
	static const char *const ids[] = { "fx-stats-batch-0", "fx-stats-batch-1", "fx-stats-batch-2" };

	if (!load_frames("stats-frames.jsonl"))
		return;
	setup();
	for (int i = 0; i < 3; i++) {
		char ext[64];
		struct seen s;

		snprintf(ext, sizeof(ext), "cmpl-%s", ids[i]);
		s = find(ext);
		exchange(20 + i, ids[i], false, s.add, s.last_out);
	}
	cut_size = 1106;	/* out3-ev: the batch's first frame with all three */
	cut_at = 120;		/* inside batch-1's entry: batch-0 whole, the others not */
	replay_frames();
	cut_size = 0;
	fixture_tick(fx, frames[nframes - 1].ts + 10000 * MS);
	ASSERT_TRUE(server_hops_stats(sh)->vllm_cut >= 1, "cut frame counted");
	for (int i = 0; i < 3; i++) {
		const struct timeline_row *r = fixture_row(fx, ids[i]);

		if (!ASSERT_TRUE(r != NULL, ids[i]))
			continue;
		if (i == 0) {
			ASSERT_TRUE(r->server_first_token_time > 0, "batch-0: first token seen whole");
			ASSERT_TRUE(strstr(r->notes, "SCHEDULED") != NULL, "and its stamp");
		} else {
			ASSERT_EQ(r->server_first_token_time, 0, "first token unknown, not guessed");
			ASSERT_EQ(r->queue_time_end, 0, "queue end unknown");
			ASSERT_TRUE(strstr(r->notes, "cut") != NULL, "notes say why");
			ASSERT_TRUE(r->queue_time_start > 0, "the receive is still known");
		}
	}
	teardown();
}

/* Hops gathered without the correlator, for the cut frames. */
static int nhops;
static char hop_key[8][128];
static uint64_t hop_sched;

static void sink(void *ctx, const char *rid, enum server_hop hop, uint64_t ts, uint32_t tgid)
{
	(void)ctx;
	(void)tgid;
	if (nhops < 8)
		snprintf(hop_key[nhops], sizeof(hop_key[0]), "%s", rid);
	nhops++;
	if (hop == HOP_VLLM_SCHEDULED)
		hop_sched = ts;
}

/* The first output frame (stats on) cut at every length: a request is
 * noted under its whole key or not at all, its stamp only when read whole;
 * every cut is counted. */
static void test_every_cut(void)
{
	static const char key[] = "cmpl-fx-stats-cmpl-nostream";
	struct server_hops *h;
	const struct frame *fr = NULL;
	bool bad = false;
	uint64_t cuts = 0;

	if (!load_frames("stats-frames.jsonl"))
		return;
	for (int i = 0; i < nframes && !fr; i++)
		if (frames[i].engine && frames[i].size > 700)
			fr = &frames[i];
	if (!ASSERT_TRUE(fr != NULL, "first output frame"))
		return;
	h = NULL;
	for (uint32_t n = 0; n <= fr->size; n++) {
		static char buf[sizeof(struct zmq_msg_event) + CAP];
		struct zmq_msg_event *e = (struct zmq_msg_event *)buf;

		nhops = 0;
		hop_sched = 0;
		memset(e, 0, sizeof(*e));
		e->type = EV_ZMQ_MSG;
		e->tgid = ENGINE;
		e->ts = fr->ts;
		e->cap_len = n;
		e->size = fr->size;
		e->truncated = n < fr->size;
		memcpy(buf + sizeof(*e), fr->p, n);
		server_hops_free(h);	/* a fresh state for each cut */
		h = server_hops_new(&(struct server_hops_opts){ .on_hop = sink, .max_rids = 4 });
		server_hops_set_proc(h, ENGINE, HOPS_VLLM_ENGINE_CORE, API);
		server_hops_handle(h, buf, sizeof(*e) + n);
		cuts += server_hops_stats(h)->vllm_cut;
		for (int k = 0; k < nhops && k < 8; k++)
			bad |= strcmp(hop_key[k], key) != 0;
		bad |= hop_sched && hop_sched != 667819395201ULL;
		if (n == fr->size) {
			ASSERT_TRUE(nhops > 0, "the whole frame gives hops");
			ASSERT_EQ(hop_sched, 667819395201ULL, "and the stamp");
		}
	}
	ASSERT_TRUE(!bad, "no cut gives a wrong key or stamp");
	ASSERT_TRUE(cuts > 0, "cut outputs counted");
	server_hops_free(h);
}

/* A frame of another layout: counted, its reason kept, no hop. */
static void test_layout_mismatch(void)
{
	unsigned char p[2048];
	uint32_t n;

	if (!load_frames("stats-frames.jsonl"))
		return;
	setup();
	n = frames[2].size;	/* the first EngineCoreRequest: array of 22 */
	memcpy(p, frames[2].p, n);
	ASSERT_EQ(p[0], 0xdc, "array16 head");
	p[2] = 23;		/* one field more than 0.32.0 sends */
	nhops = 0;
	zmsg(ENGINE, ZMQ_DIR_RECV, 1000, p, n, CAP);
	ASSERT_EQ(server_hops_stats(sh)->vllm_layout_mismatch, 1, "counted");
	ASSERT_TRUE(server_hops_stats(sh)->vllm_mismatch[0] != 0, "reason kept for the summary");
	ASSERT_EQ(fixture_corr_stats(fx)->hops, 0, "no hop from it");
	teardown();
}

void test_area_vllm_hops(void)
{
	RUN_SUBTEST(test_stats_on);
	RUN_SUBTEST(test_stats_off);
	RUN_SUBTEST(test_every_cut);
	RUN_SUBTEST(test_cut_first_output);
	RUN_SUBTEST(test_layout_mismatch);
}

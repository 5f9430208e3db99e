// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The scheduler loop drains its input with non-blocking receives until
 * EAGAIN, then forms a batch (a request leaves the waiting queue there),
 * runs the forward and sends the outputs. No message carries the rid when
 * it leaves the queue, so its time is taken from the drains:
 *  - streaming request: the end of the drain before the first output that
 *    carries its rid (that output is its prefill's). Measured against
 *    SGLang's own forward_entry_time: p50 -0.4 ms, worst -4 ms (lower
 *    bound: the batch is formed just after the drain);
 *  - non-streaming request (its first output comes at finish or after 50
 *    tokens): the first drain end after its receive, raised to the queue
 *    end of the last streaming request received before it, since fcfs
 *    admits in receive order. Exact without a queue; a lower bound with one.
 * The drain ends are the failed receives the kernel summarises on each
 * message record (fail_last_ts) and the loop records (gap start). */
#include <stdlib.h>
#include <string.h>
#include "util/hash.h"
#include "util/list.h"
#include "proto/ipc.h"
#include "correlate/server_events.h"
#include "correlate/server_hops.h"
#include "correlate/server_hops_priv.h"
#include "zmq_event.h"

static void ring_push(struct ring *r, uint64_t a, uint64_t b)
{
	uint32_t last = (r->head + RING - 1) % RING;

	if (r->n && r->a[last] == a)
		return;	/* the same drain end seen twice */
	r->a[r->head] = a;
	r->b[r->head] = b;
	r->head = (r->head + 1) % RING;
	if (r->n < RING)
		r->n++;
}

/* First entry with a > t (entries are in time order). */
static bool ring_first_after(const struct ring *r, uint64_t t, uint64_t *a)
{
	for (uint32_t i = 0; i < r->n; i++) {
		uint32_t k = (r->head + RING - r->n + i) % RING;

		if (r->a[k] > t) {
			*a = r->a[k];
			return true;
		}
	}
	return false;
}

/* Value of the latest entry with a < t. */
static bool ring_last_before(const struct ring *r, uint64_t t, uint64_t *b)
{
	bool found = false;
	uint64_t best = 0;

	for (uint32_t i = 0; i < r->n; i++) {
		uint32_t k = (r->head + RING - r->n + i) % RING;

		if (r->a[k] < t && r->a[k] >= best) {
			best = r->a[k];
			*b = r->b[k];
			found = true;
		}
	}
	return found;
}

struct server_hops *server_hops_new(const struct server_hops_opts *opts)
{
	struct server_hops *sh = calloc(1, sizeof(*sh));

	if (!sh)
		return NULL;
	sh->on_hop = opts->on_hop;
	sh->ctx = opts->ctx;
	sh->max_rids = opts->max_rids ? opts->max_rids : 1;
	sh->nbuckets = 4096;
	sh->buckets = calloc(sh->nbuckets, sizeof(*sh->buckets));
	sh->fifo = calloc(sh->max_rids, sizeof(*sh->fifo));
	if (!sh->buckets || !sh->fifo) {
		server_hops_free(sh);
		return NULL;
	}
	return sh;
}

void server_hops_free(struct server_hops *sh)
{
	if (!sh)
		return;
	for (uint32_t i = 0; i < sh->max_rids && sh->fifo; i++)
		free(sh->fifo[i]);
	for (uint32_t i = 0; i < sh->nprocs; i++)
		free(sh->procs[i]);
	free(sh->fifo);
	free(sh->buckets);
	free(sh);
}

static struct hop_proc *find_proc(struct server_hops *sh, uint32_t pid)
{
	for (uint32_t i = 0; i < sh->nprocs; i++)
		if (sh->procs[i]->pid == pid)
			return sh->procs[i];
	return NULL;
}

void server_hops_set_proc(struct server_hops *sh, uint32_t pid, uint32_t role,
			  uint32_t main_pid)
{
	struct hop_proc *p = find_proc(sh, pid);

	if (!p) {
		if (sh->nprocs >= PROC_MAX)
			return;
		p = calloc(1, sizeof(*p));
		if (!p)
			return;
		sh->procs[sh->nprocs++] = p;
	}
	p->pid = pid;
	p->role = role;
	p->main_pid = main_pid;
	if (!p->chunk_tokens)
		p->chunk_tokens = 2048;
}

void server_hops_set_chunked_prefill(struct server_hops *sh, uint32_t pid, int64_t tokens)
{
	struct hop_proc *p = find_proc(sh, pid);

	if (p && tokens > 0)
		p->chunk_tokens = tokens;
}

void server_hops_forget_proc(struct server_hops *sh, uint32_t pid)
{
	for (uint32_t i = 0; i < sh->nprocs; i++) {
		if (sh->procs[i]->pid == pid) {
			free(sh->procs[i]);
			sh->procs[i] = sh->procs[--sh->nprocs];
			return;
		}
	}
}

void server_hops_note(struct server_hops *sh, const char *rid, enum server_hop hop,
		 uint64_t ts, uint32_t main_pid)
{
	if (sh->on_hop)
		sh->on_hop(sh->ctx, rid, hop, ts, main_pid);
}

struct rid_state *server_hops_rid_state(struct server_hops *sh, const char *rid, bool create)
{
	uint64_t key = fnv_str(rid);
	struct hlist_head *chain = &sh->buckets[key % sh->nbuckets];
	struct hlist_node *pos, *tmp;
	struct rid_state *r;

	hlist_for_each_safe(pos, tmp, chain) {
		r = container_of(pos, struct rid_state, hn);
		if (r->key == key && !strcmp(r->rid, rid))
			return r;
	}
	if (!create)
		return NULL;
	r = sh->fifo[sh->fifo_head];
	if (r) {
		hlist_del(&r->hn);
		sh->st.rid_states_evicted++;
		memset(r, 0, sizeof(*r));
	} else {
		r = calloc(1, sizeof(*r));
		if (!r)
			return NULL;
		sh->fifo[sh->fifo_head] = r;
	}
	r->slot = sh->fifo_head;
	sh->fifo_head = (sh->fifo_head + 1) % sh->max_rids;
	r->key = key;
	r->stream = -1;
	r->prompt_tokens = -1;
	strncpy(r->rid, rid, sizeof(r->rid) - 1);
	hlist_add_head(&r->hn, chain);
	return r;
}

/* The scheduler finished the request: nothing later reads its state, so
 * it goes now rather than when the fifo comes round (a long run would
 * otherwise hold max_rids states, and its RSS creep until then). */
static void rid_done(struct server_hops *sh, struct rid_state *r)
{
	hlist_del(&r->hn);
	sh->fifo[r->slot] = NULL;
	sh->st.rid_states_done++;
	free(r);
}

static bool is_request_kind(enum ipc_kind k)
{
	return k == IPC_KIND_TOKENIZED_GENERATE || k == IPC_KIND_TOKENIZED_EMBEDDING ||
	       k == IPC_KIND_BATCH_TOKENIZED_GENERATE || k == IPC_KIND_BATCH_TOKENIZED_EMBEDDING;
}

static bool is_sched_output(enum ipc_kind k)
{
	return k == IPC_KIND_BATCH_TOKEN_ID_OUTPUT || k == IPC_KIND_BATCH_EMBEDDING_OUTPUT;
}

/* The scheduler's first output carrying rid: derive its queue end. */
static void first_output(struct server_hops *sh, struct hop_proc *p,
			 struct rid_state *r, uint64_t ts)
{
	uint64_t drain = 0, prev_stream_qend = 0, fcfs;

	bool chunked = r->prompt_tokens > p->chunk_tokens;

	server_hops_note(sh, r->rid, HOP_SCHED_FIRST_OUT, ts, p->main_pid);
	if (!r->recv_ts) {
		sh->st.no_recv_seen++;
		return;
	}
	if (chunked) {
		/* only the last chunk sends an output: its drain is too late */
		sh->st.chunked_prefills++;
		server_hops_note(sh, r->rid, HOP_SCHED_CHUNKED, r->recv_ts, p->main_pid);
	} else if (p->last_drain_end > r->recv_ts) {
		server_hops_note(sh, r->rid, HOP_SCHED_QEND_STREAM, p->last_drain_end,
					 p->main_pid);
		if (r->stream == 1)
			ring_push(&p->streams, r->recv_ts, p->last_drain_end);
	}
	if (!ring_first_after(&p->drains, r->recv_ts, &drain))
		return;
	fcfs = drain;
	if (chunked)
		server_hops_note(sh, r->rid, HOP_SCHED_QEND_STREAM, fcfs, p->main_pid);
	if (ring_last_before(&p->streams, r->recv_ts, &prev_stream_qend) &&
	    prev_stream_qend > fcfs && prev_stream_qend <= ts)
		fcfs = prev_stream_qend;
	server_hops_note(sh, r->rid, HOP_SCHED_QEND_FCFS, fcfs, p->main_pid);
}

static void handle_rid(struct server_hops *sh, struct hop_proc *p,
		       const struct zmq_msg_event *ev, const struct ipc_msg *m,
		       const char *rid, bool finished)
{
	bool send = ev->dir == ZMQ_DIR_SEND;
	struct rid_state *r;

	switch (p->role) {
	case SGLANG_ROLE_MAIN:
		if (send && is_request_kind(m->kind))
			server_hops_note(sh, rid, HOP_TOKENIZER_SEND, ev->ts, p->main_pid);
		else if (!send && (m->kind == IPC_KIND_BATCH_STR_OUTPUT ||
				   m->kind == IPC_KIND_BATCH_EMBEDDING_OUTPUT))
			server_hops_note(sh, rid, HOP_MAIN_RECV, ev->ts, p->main_pid);
		break;
	case SGLANG_ROLE_SCHEDULER:
		if (!send && is_request_kind(m->kind)) {
			server_hops_note(sh, rid, HOP_SCHED_RECV, ev->ts, p->main_pid);
			r = server_hops_rid_state(sh, rid, true);
			if (r) {
				r->recv_ts = ev->ts;
				r->stream = m->kind == IPC_KIND_TOKENIZED_GENERATE ? m->stream : -1;
				r->prompt_tokens = m->nrids == 1 ? m->prompt_tokens : -1;
			}
		} else if (send && is_sched_output(m->kind)) {
			server_hops_note(sh, rid, HOP_SCHED_LAST_OUT, ev->ts, p->main_pid);
			r = server_hops_rid_state(sh, rid, true);
			if (r && !r->first_out_done) {
				r->first_out_done = true;
				first_output(sh, p, r, ev->ts);
			}
			if (r && finished)
				rid_done(sh, r);
		}
		break;
	case SGLANG_ROLE_DETOKENIZER:
		if (!send && is_sched_output(m->kind))
			server_hops_note(sh, rid, HOP_DETOK_RECV, ev->ts, p->main_pid);
		else if (send && m->kind == IPC_KIND_BATCH_STR_OUTPUT)
			server_hops_note(sh, rid, HOP_DETOK_SEND, ev->ts, p->main_pid);
		break;
	default:
		break;
	}
}

static void handle_msg(struct server_hops *sh, const struct zmq_msg_event *ev, size_t len)
{
	static struct ipc_msg m;	/* large: rids of a whole batch */
	const char *data = (const char *)(ev + 1);
	struct hop_proc *p = find_proc(sh, ev->tgid);
	char rid[128];

	sh->st.msgs++;
	if (!p) {
		sh->st.unknown_proc++;
		return;
	}
	if (p->role >= HOPS_VLLM_API) {
		vllm_hops_msg(sh, p, ev, len);
		return;
	}
	if (p->role == SGLANG_ROLE_SCHEDULER && ev->fail_count) {
		p->last_drain_end = ev->fail_last_ts;
		ring_push(&p->drains, ev->fail_last_ts, 0);
	}
	if (sizeof(*ev) + ev->cap_len > len ||
	    ipc_parse(data, ev->cap_len, ev->truncated, &m) < 0) {
		sh->st.unparsed++;
		return;
	}
	/* once per output (at the scheduler), not again at the detokenizer */
	if (p->role == SGLANG_ROLE_SCHEDULER && ev->dir == ZMQ_DIR_SEND && is_sched_output(m.kind) &&
	    m.flags & (IPC_F_RIDS_CAPPED | IPC_F_INCOMPLETE))
		sh->st.truncated_rids++;
	for (uint32_t i = 0; i < m.nrids; i++) {
		if (ipc_rid_copy(&m, data, i, rid, sizeof(rid)) < 0 || !rid[0])
			continue;
		if (ipc_rid_is_health_check(rid, strlen(rid))) {
			sh->st.health_checks++;
			continue;
		}
		handle_rid(sh, p, ev, &m, rid,
			   m.kind == IPC_KIND_BATCH_TOKEN_ID_OUTPUT && i < IPC_MAX_RIDS &&
			   m.finished[i] == 1);
	}
}

void server_hops_handle(struct server_hops *sh, const void *rec, size_t len)
{
	const uint32_t *type = rec;

	if (len < sizeof(uint32_t))
		return;
	if (*type == EV_ZMQ_MSG && len >= sizeof(struct zmq_msg_event)) {
		handle_msg(sh, rec, len);
	} else if (*type == EV_ZMQ_LOOP && len >= sizeof(struct zmq_loop_event)) {
		const struct zmq_loop_event *lp = rec;
		struct hop_proc *p = find_proc(sh, lp->tgid);

		if (p && p->role == SGLANG_ROLE_SCHEDULER) {
			if (lp->ts_gap_start > p->last_drain_end)
				p->last_drain_end = lp->ts_gap_start;
			ring_push(&p->drains, lp->ts_gap_start, 0);
		}
	}
}

const struct server_hops_stats *server_hops_stats(struct server_hops *sh)
{
	return &sh->st;
}

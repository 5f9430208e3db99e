// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* vLLM's API server <-> EngineCore frames (proto/vllm_ipc.h) -> hops.
 *
 * The EngineCore's input thread receives each EngineCoreRequest (queue
 * start); its main loop schedules, runs one step and hands the step's
 * EngineCoreOutputs to an output thread, which sends them: one frame per
 * step, carrying every running request, streaming or not. So the first
 * frame carrying a request is its prefill's (first token), and the step
 * that scheduled it began when the previous step's outputs were handed
 * over. The queue end is taken as the later of the receive and the
 * previous step's output send (the loop's rhythm); with stats on, vLLM's
 * own SCHEDULED stamp crosses the wire in that first frame (same clock:
 * time.monotonic() = bpf_ktime_get_ns()) and is noted as well.
 *
 * Hops are keyed by the id the HTTP response carries ("cmpl-<X-Request-Id>",
 * "chatcmpl-<X-Request-Id>"), i.e. the internal id less its random suffix
 * and the completions prompt index, so rows join on the response id. */
#include <stdio.h>
#include <string.h>
#include "proto/vllm_ipc.h"
#include "correlate/server_hops_priv.h"

/* The hop key of an internal id: the response id ("cmpl-X", "chatcmpl-X"),
 * else the external id as sent. */
static void hop_key(struct server_hops *sh, const char *rid, char *key, size_t size)
{
	size_t ext = vllm_ipc_external_len(rid, strlen(rid)), hl = 0;
	bool cmpl = !strncmp(rid, "cmpl-", 5);
	int off = vllm_ipc_header_rid(rid, ext, cmpl, &hl);
	size_t n = off >= 0 ? (size_t)off + hl : ext;

	if (off < 0)
		sh->st.vllm_no_id++;
	if (n >= size)
		n = size - 1;
	memcpy(key, rid, n);
	key[n] = '\0';
}

static uint64_t mono_ns(double s)
{
	return s > 0 ? (uint64_t)(s * 1e9 + 0.5) : 0;
}

static void engine_recv(struct server_hops *sh, struct hop_proc *p, const char *rid,
			const char *key, const struct vllm_ipc_msg *m, uint64_t ts)
{
	struct rid_state *r = server_hops_rid_state(sh, rid, true);

	server_hops_note(sh, key, HOP_ENGINE_VLLM, ts, p->main_pid);
	server_hops_note(sh, key, HOP_SCHED_RECV, ts, p->main_pid);
	if (r && !r->recv_ts) {
		r->recv_ts = ts;
		r->stream = m->stream;
		r->prompt_tokens = m->prompt_tokens;
	}
}

/* One request of an EngineCoreOutputs frame the EngineCore sent at ts;
 * step_start: the previous step's output send. */
static void engine_out(struct server_hops *sh, struct hop_proc *p, const char *rid,
		       const char *key, const struct vllm_ipc_req *q, uint64_t ts,
		       uint64_t step_start, double stamp)
{
	struct rid_state *r = server_hops_rid_state(sh, rid, true);
	uint32_t mp = p->main_pid;

	server_hops_note(sh, key, HOP_ENGINE_VLLM, ts, mp);
	server_hops_note(sh, key, HOP_SCHED_LAST_OUT, ts, mp);
	if (q->finished == 1)
		server_hops_note(sh, key, HOP_VLLM_FINISHED, ts, mp);
	if (q->scheduled_ts > 0 && r && !r->scheduled_seen) {
		r->scheduled_seen = true;
		sh->st.vllm_scheduled_events++;
		server_hops_note(sh, key, HOP_VLLM_QUEUED, mono_ns(q->queued_ts), mp);
		server_hops_note(sh, key, HOP_VLLM_SCHEDULED, mono_ns(q->scheduled_ts), mp);
	}
	if (!r || r->first_out_done)
		return;
	r->first_out_done = true;
	if (r->first_out_unsure) {
		/* a cut frame may have carried it first: never a late guess */
		server_hops_note(sh, key, HOP_VLLM_FIRST_CUT, ts, mp);
		return;
	}
	server_hops_note(sh, key, HOP_SCHED_FIRST_OUT, ts, mp);
	if (stamp > 0)
		server_hops_note(sh, key, HOP_VLLM_FIRST_STAMP, mono_ns(stamp), mp);
	if (!r->recv_ts) {
		sh->st.no_recv_seen++;
		return;
	}
	server_hops_note(sh, key, HOP_SCHED_QEND_STREAM,
			 step_start > r->recv_ts && step_start < ts ? step_start : r->recv_ts, mp);
}

/* Which requests a cut output frame held past the cut is unknown: every
 * request received and not yet seen in an output may have been one. */
static void mark_unsure(struct server_hops *sh)
{
	for (uint32_t i = 0; i < sh->max_rids; i++) {
		struct rid_state *r = sh->fifo[i];

		if (r && r->recv_ts && !r->first_out_done)
			r->first_out_unsure = true;
	}
}

static void frame(struct server_hops *sh, struct hop_proc *p, const struct zmq_msg_event *ev,
		  const struct vllm_ipc_msg *m, const char *data)
{
	bool send = ev->dir == ZMQ_DIR_SEND, engine = p->role == HOPS_VLLM_ENGINE_CORE;
	uint64_t step_start = p->last_step_out;
	char rid[128], key[128];

	/* a step's outputs; not a utility reply nor a stats-only frame */
	if (engine && send && m->kind == VLLM_IPC_OUTPUTS && m->reqs_total &&
	    !(m->flags & VLLM_IPC_F_UTILITY_OUT))
		p->last_step_out = ev->ts;
	if (engine && send && m->kind == VLLM_IPC_OUTPUTS &&
	    m->flags & (VLLM_IPC_F_INCOMPLETE | VLLM_IPC_F_CAPPED)) {
		sh->st.vllm_cut++;
		mark_unsure(sh);
	}
	for (uint32_t i = 0; i < m->nreqs; i++) {
		if (vllm_ipc_rid_copy(m, data, i, rid, sizeof(rid)) <= 0)
			continue;
		hop_key(sh, rid, key, sizeof(key));
		if (m->kind == VLLM_IPC_ADD && engine && !send)
			engine_recv(sh, p, rid, key, m, ev->ts);
		else if (m->kind == VLLM_IPC_ADD && !engine && send)
			server_hops_note(sh, key, HOP_TOKENIZER_SEND, ev->ts, p->main_pid);
		else if (m->kind == VLLM_IPC_OUTPUTS && engine && send)
			engine_out(sh, p, rid, key, &m->reqs[i], ev->ts, step_start,
				   m->timestamp);
		else if (m->kind == VLLM_IPC_OUTPUTS && !engine && !send)
			server_hops_note(sh, key, HOP_MAIN_RECV, ev->ts, p->main_pid);
	}
}

/* A KVEventBatch [ts: float64, events: array, dp_rank], which the
 * EngineCore publishes on its own PUB socket when KV events are on (the
 * smg gRPC servicer turns them on): no request ids, and no engine message
 * of the pinned layout starts with a float, so it is no layout mismatch. */
static bool kv_event_batch(const struct hop_proc *p, const struct zmq_msg_event *ev,
			   const uint8_t *d)
{
	return p->role == HOPS_VLLM_ENGINE_CORE && ev->dir == ZMQ_DIR_SEND && ev->cap_len > 10 &&
	       d[0] == 0x93 && d[1] == 0xcb &&
	       ((d[10] & 0xf0) == 0x90 || d[10] == 0xdc || d[10] == 0xdd);
}

void vllm_hops_msg(struct server_hops *sh, struct hop_proc *p,
		   const struct zmq_msg_event *ev, size_t len)
{
	static struct vllm_ipc_msg m;	/* large: a whole batch */
	const char *data = (const char *)(ev + 1);

	sh->st.vllm_msgs++;
	if (sizeof(*ev) + ev->cap_len <= len && kv_event_batch(p, ev, (const uint8_t *)data))
		return;
	if (sizeof(*ev) + ev->cap_len > len ||
	    vllm_ipc_parse(data, ev->cap_len, ev->truncated, &m) < 0) {
		sh->st.vllm_unparsed++;
		return;
	}
	if (m.flags & VLLM_IPC_F_LAYOUT) {
		/* never a guess: no ids from a layout other than the pinned one */
		if (!sh->st.vllm_layout_mismatch++)
			snprintf(sh->st.vllm_mismatch, sizeof(sh->st.vllm_mismatch), "%s",
				 m.mismatch);
		return;
	}
	frame(sh, p, ev, &m, data);
}

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What server_hops.c (SGLang) and vllm_hops.c (vLLM) share: the processes
 * being traced and the per-request states. Not for other stages. */
#ifndef SERVETRACE_SERVER_HOPS_PRIV_H
#define SERVETRACE_SERVER_HOPS_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include "util/list.h"
#include "correlate/server_hops.h"
#include "zmq_event.h"

#define PROC_MAX 256
#define RING 1024	/* drain ends and streaming queue ends kept per scheduler */

struct ring {
	uint64_t a[RING], b[RING];	/* a: time key, b: value (stream log) */
	uint32_t head, n;
};

struct hop_proc {
	uint32_t pid;
	uint32_t role;			/* enum sglang_role or enum server_hops_vllm_role */
	uint32_t main_pid;
	uint64_t last_drain_end;
	int64_t chunk_tokens;		/* chunked-prefill size */
	struct ring drains;		/* a = drain end */
	struct ring streams;		/* a = receive time, b = queue end */
	uint64_t last_step_out;		/* vLLM EngineCore: latest step output sent */
};

struct rid_state {
	struct hlist_node hn;
	uint64_t key;
	uint32_t slot;			/* its place in fifo */
	char rid[128];
	uint64_t recv_ts;
	int64_t prompt_tokens;		/* -1 unknown */
	int stream;			/* -1 unknown */
	bool first_out_done;
	bool scheduled_seen;		/* vLLM: its SCHEDULED event was read */
	bool first_out_unsure;		/* vLLM: an output frame cut before its
					 * first one was read may have held it */
};

struct server_hops {
	server_hop_fn on_hop;
	void *ctx;
	struct hop_proc *procs[PROC_MAX];
	uint32_t nprocs;
	struct hlist_head *buckets;
	uint32_t nbuckets;
	struct rid_state **fifo;	/* eviction order */
	uint32_t max_rids, fifo_head, nrids;
	struct server_hops_stats st;
};

void server_hops_note(struct server_hops *sh, const char *rid, enum server_hop hop,
		      uint64_t ts, uint32_t main_pid);
/* The state of rid, created (evicting the oldest when full) if asked. */
struct rid_state *server_hops_rid_state(struct server_hops *sh, const char *rid, bool create);

/* vllm_hops.c: one libzmq message record of a vLLM process p. */
void vllm_hops_msg(struct server_hops *sh, struct hop_proc *p,
		   const struct zmq_msg_event *ev, size_t len);

#endif

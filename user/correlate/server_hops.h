/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* libzmq message records from inside SGLang (bpf/zmq.bpf.c) -> per-request
 * hops (server_events.h): which process sent or received which message
 * kind says which hop it is; the scheduler's receive drains give the
 * moment a request left the waiting queue. vLLM's API server and
 * EngineCore frames go the same way (vllm_hops.c). Pure: unit-tested on
 * records. */
#ifndef SERVETRACE_SERVER_HOPS_H
#define SERVETRACE_SERVER_HOPS_H

#include <stddef.h>
#include <stdint.h>
#include "correlate/server_events.h"
#include "procs/sglang_procs.h"

struct server_hops_stats {
	uint64_t msgs;			/* message records handled */
	uint64_t unparsed;		/* not an SGLang message (pyzmq internals ...) */
	uint64_t truncated_rids;	/* scheduler outputs cut before their end */
	uint64_t chunked_prefills;	/* requests whose prompt was prefilled in chunks */
	uint64_t health_checks;		/* /health_generate requests, ignored */
	uint64_t unknown_proc;		/* records from a pid we were not told about */
	uint64_t no_recv_seen;		/* outputs of requests received before tracing */
	uint64_t rid_states_evicted;
	uint64_t rid_states_done;	/* freed when the scheduler finished the request */
	/* vLLM (vllm_hops.c) */
	uint64_t vllm_msgs;		/* frames of vLLM processes */
	uint64_t vllm_unparsed;		/* not vLLM frames */
	uint64_t vllm_layout_mismatch;	/* frames not in the pinned layout: no rids read */
	uint64_t vllm_cut;		/* outputs cut at the capture size */
	uint64_t vllm_scheduled_events;	/* SCHEDULED stamps read (stats on) */
	uint64_t vllm_no_id;		/* ids without cmpl-/chatcmpl-: keyed as sent */
	char vllm_mismatch[96];		/* the first mismatch, "" if none */
};

struct server_hops_opts {
	server_hop_fn on_hop;		/* where the hops go (the correlator) */
	void *ctx;
	uint32_t max_rids;		/* per-rid states kept, oldest evicted */
};

struct server_hops;

struct server_hops *server_hops_new(const struct server_hops_opts *opts);
void server_hops_free(struct server_hops *sh);
/* vLLM's processes, as roles: recorded in rec_sglang_proc.role too, so
 * above every enum sglang_role. */
enum server_hops_vllm_role {
	HOPS_VLLM_API = 0x100,		/* API server (uvicorn, HTTP) */
	HOPS_VLLM_ENGINE_CORE,		/* VLLM::EngineCore: the engine loop */
};

/* pid is role (enum sglang_role or enum server_hops_vllm_role) within the
 * server whose main (HTTP) process is main_pid. */
void server_hops_set_proc(struct server_hops *sh, uint32_t pid, uint32_t role,
			  uint32_t main_pid);
void server_hops_forget_proc(struct server_hops *sh, uint32_t pid);
/* Prompts longer than this are prefilled in chunks and only the last chunk
 * sends an output (default 2048, SGLang's on CPU; a smaller value than the
 * server's only costs precision, never correctness). */
void server_hops_set_chunked_prefill(struct server_hops *sh, uint32_t pid, int64_t tokens);
/* One ring-buffer record of bpf/zmq.bpf.c. */
void server_hops_handle(struct server_hops *sh, const void *rec, size_t len);
const struct server_hops_stats *server_hops_stats(struct server_hops *sh);

#endif

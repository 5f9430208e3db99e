/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the inside-the-server tracing (libzmq uprobes) tells the
 * correlator: one call per rid-bearing IPC message hop, through a sink
 * given at construction. */
#ifndef SERVETRACE_SERVER_EVENTS_H
#define SERVETRACE_SERVER_EVENTS_H

#include <stdint.h>

enum server_hop {
	HOP_TOKENIZER_SEND = 1,	/* main process sends TokenizedGenerateReqInput */
	HOP_SCHED_RECV,		/* scheduler receives it: queue_time_start */
	HOP_SCHED_QEND_STREAM,	/* derived queue_time_end, streaming requests:
				 * end of the receive drain before the first
				 * output carrying the rid */
	HOP_SCHED_QEND_FCFS,	/* derived queue_time_end, non-streaming: first
				 * drain end after the receive, raised to the
				 * queue end of the last streaming request
				 * received before it (fcfs keeps that order) */
	HOP_SCHED_CHUNKED,	/* marker: prompt longer than the chunked-prefill
				 * size; the queue end is then the first drain
				 * after the receive (a lower bound) */
	HOP_SCHED_FIRST_OUT,	/* first BatchTokenIDOutput with the rid */
	HOP_SCHED_LAST_OUT,	/* latest BatchTokenIDOutput with the rid */
	HOP_DETOK_RECV,		/* detokenizer receives first output */
	HOP_DETOK_SEND,		/* detokenizer sends first BatchStrOutput */
	HOP_MAIN_RECV,		/* main process receives first BatchStrOutput */
	/* vLLM (the hops above mean: TOKENIZER_SEND the API server sends
	 * the EngineCoreRequest, SCHED_RECV the EngineCore receives it,
	 * SCHED_QEND_STREAM the queue end derived from the engine loop,
	 * SCHED_FIRST_OUT / LAST_OUT the EngineCore's first / latest
	 * EngineCoreOutputs with the request, MAIN_RECV the API server's
	 * first receive of them) */
	HOP_ENGINE_VLLM,	/* marker: the request ran in vLLM */
	HOP_VLLM_QUEUED,	/* vLLM's own QUEUED stamp (stats on) */
	HOP_VLLM_SCHEDULED,	/* vLLM's own SCHEDULED stamp (stats on) */
	HOP_VLLM_FINISHED,	/* the EngineCoreOutputs carrying its finish */
	HOP_VLLM_FIRST_CUT,	/* marker: its first output may have been in a
				 * frame cut at the capture size: first token
				 * and queue end unknown */
	HOP_VLLM_FIRST_STAMP,	/* EngineCoreOutputs.timestamp of the first output
				 * (vLLM's first_token_ts) */
	HOP_MAX,
};

/* Where hops go (struct server_hops_opts.on_hop; correlator_note_hop()
 * behind it). rid: SGLang's request id as it appears in the IPC payload;
 * worker_tgid: the SGLang main process pid the hop belongs to; ts_ns:
 * bpf_ktime_get_ns() of the hop. */
typedef void (*server_hop_fn)(void *ctx, const char *rid, enum server_hop hop,
			      uint64_t ts_ns, uint32_t worker_tgid);

#endif

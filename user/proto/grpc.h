/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* gRPC over one HTTP/2 connection (both directions): length-prefixed
 * messages reassembled per stream across DATA frames, and the smg
 * GenerateRequest / GenerateResponse protobufs decoded far enough for a
 * timeline row. Wraps an h2_conn (h2.h); feed it the same way.
 *
 * Message framing (gRPC over HTTP/2): 1 byte compressed flag, 4 bytes
 * big-endian length, then the message. Compressed messages are counted and
 * reported, never decoded. A stream whose first DATA bytes we did not see
 * (attached late, or a gap over a message prefix) is not resynced inside:
 * its bytes are counted until it ends, its end and RST are still reported.
 *
 * Protobuf fields relied on (smg-grpc-proto 0.4.28, sglang_scheduler.proto,
 * package sglang.grpc.scheduler, rpc SglangScheduler/Generate):
 *   GenerateRequest   1 request_id (string), 2 tokenized (TokenizedInput:
 *                     2 input_ids, repeated uint32), 4 sampling_params
 *                     (SamplingParams: 8 max_new_tokens optional uint32,
 *                     17 n uint32, 19 ignore_eos bool), 17 stream (bool)
 *   GenerateResponse  1 request_id, oneof 2 chunk (GenerateStreamChunk:
 *                     1 token_ids repeated uint32, 2 prompt_tokens,
 *                     3 completion_tokens, 4 cached_tokens, 8 index) or
 *                     3 complete (GenerateComplete: 1 output_ids repeated
 *                     uint32, 2 finish_reason string, 3 prompt_tokens,
 *                     4 completion_tokens, 5 cached_tokens, 11 index)
 * vLLM (vllm_engine.proto, package vllm.grpc.engine, rpc VllmEngine/Generate,
 * served by smg-grpc-servicer's VllmEngineServicer inside vLLM's gRPC
 * launcher) numbers the same things differently:
 *   GenerateRequest   1 request_id, 2 tokenized (2 input_ids), 4 sampling_params
 *                     (8 max_tokens optional uint32, 14 ignore_eos, 15 n),
 *                     5 stream
 *   GenerateResponse  no request_id; oneof 1 chunk (1 token_ids, 2 prompt_tokens,
 *                     3 completion_tokens, 4 cached_tokens, 7 index) or
 *                     2 complete (1 output_ids, 2 finish_reason, 3 prompt_tokens,
 *                     4 completion_tokens, 5 cached_tokens, 8 index)
 * The call's :path says which: a message is decoded with its stream's.
 * vLLM streams deltas (output_kind DELTA): each chunk's completion_tokens
 * counts its own tokens, and the closing complete repeats the last chunk.
 * The decoder reports completion_tokens as SGLang's are, the call's total
 * so far: summed over a vLLM stream's chunks, and that sum on its complete.
 * Unknown fields are skipped by wire type, so newer protos still decode. */
#ifndef SERVETRACE_GRPC_H
#define SERVETRACE_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "proto/h2.h"

#define GRPC_STREAMS	16	/* concurrent calls tracked per connection */
#define GRPC_KEEP	16384	/* message bytes kept for decoding */
#define GRPC_GENERATE_PATH "/sglang.grpc.scheduler.SglangScheduler/Generate"
#define GRPC_VLLM_GENERATE_PATH "/vllm.grpc.engine.VllmEngine/Generate"

enum grpc_method { GRPC_M_UNKNOWN, GRPC_M_GENERATE, GRPC_M_OTHER };
enum grpc_engine { GRPC_E_SGLANG, GRPC_E_VLLM };	/* whose Generate messages */

struct grpc_generate_req {
	char request_id[128];
	bool stream;
	long long max_new_tokens;	/* -1: absent */
	uint32_t n;			/* 0: absent (one sample) */
	bool ignore_eos;
	uint32_t input_tokens;		/* input_ids count */
};

struct grpc_generate_resp {
	char request_id[128];
	bool complete;			/* GenerateComplete, else a chunk */
	uint32_t tokens;		/* token ids in this message */
	uint32_t prompt_tokens, completion_tokens, cached_tokens;
	char finish_reason[32];		/* complete only */
	uint32_t index;			/* n > 1 */
};

struct grpc_msg {
	enum h2_side side;
	uint32_t stream_id;
	enum grpc_method method;	/* from the stream's request :path */
	enum grpc_engine engine;	/* the same */
	unsigned seq;			/* 0: the first message of this side on the stream */
	uint32_t length;		/* message bytes (after the 5-byte prefix) */
	bool compressed;		/* flag set: counted, not decoded */
	bool complete;			/* every byte seen */
	bool decoded;			/* req or resp below is filled */
	bool cut;			/* longer than GRPC_KEEP: decoded a prefix */
	uint64_t first_ts;		/* the prefix's first byte */
	struct grpc_generate_req req;	/* side H2_FROM_CLIENT, method GENERATE */
	struct grpc_generate_resp resp;	/* side H2_FROM_SERVER, method GENERATE */
};

struct grpc_callbacks {		/* any may be NULL */
	void (*on_headers)(void *ctx, const struct h2_headers *h, uint64_t ts);
	void (*on_message)(void *ctx, const struct grpc_msg *m, uint64_t ts);
	/* END_STREAM of one side; messages: how many that side sent */
	void (*on_stream_end)(void *ctx, enum h2_side side, uint32_t stream_id,
			      unsigned messages, uint64_t ts);
	void (*on_rst_stream)(void *ctx, enum h2_side side, uint32_t stream_id,
			      uint32_t error_code, uint64_t ts);
	void (*on_goaway)(void *ctx, enum h2_side side, uint32_t last_stream_id,
			  uint32_t error_code, uint64_t ts);
	void (*on_desync)(void *ctx, enum h2_side side, uint64_t ts);
};

struct grpc_stats {
	uint64_t messages;
	uint64_t compressed;
	uint64_t decoded;
	uint64_t decode_errors;
	uint64_t cut;			/* over GRPC_KEEP */
	uint64_t incomplete;		/* bytes lost to a gap */
	uint64_t unsynced_bytes;	/* DATA of streams whose start we missed */
	uint64_t streams_dropped;	/* no free slot */
};

struct grpc_side_state {
	bool synced;			/* message framing known */
	bool in_msg;
	uint8_t prefix[5];
	unsigned prefix_len;
	uint32_t msg_left;
	unsigned messages;
	struct grpc_msg cur;
};

struct grpc_stream {
	uint32_t id;			/* 0: free slot */
	enum grpc_method method;
	enum grpc_engine engine;
	struct grpc_side_state side[2];
	uint32_t vllm_chunk_tokens;	/* vLLM: chunks' completion_tokens, summed */
	bool vllm_chunked;		/* vLLM: a chunk was seen (a streamed call) */
	uint8_t keep[GRPC_KEEP];	/* the message being reassembled */
	uint32_t keep_len;
	int keep_side;			/* -1: free */
};

struct grpc_conn {
	struct h2_conn h2;
	const struct grpc_callbacks *cb;
	void *ctx;
	struct grpc_stream streams[GRPC_STREAMS];
	struct grpc_stats stats;
};

void grpc_conn_init(struct grpc_conn *g, const struct grpc_callbacks *cb, void *ctx,
		    bool from_start);
void grpc_conn_feed(struct grpc_conn *g, enum h2_side side, const uint8_t *data,
		    size_t cap_len, size_t total_len, uint64_t ts);

/* tokens of vLLM chunks on stream_id the kernel held back (bpf/sock_h2.h):
 * summed with the chunks seen, so later messages report the call's total. */
void grpc_conn_held_tokens(struct grpc_conn *g, uint32_t stream_id, uint32_t tokens);

/* The method of a request :path ("" unknown); engine may be NULL. */
enum grpc_method grpc_method_of(const char *path, enum grpc_engine *engine);

/* Protobuf decoders (exposed for tests): 0, or -1 if malformed. A buffer
 * cut short decodes the fields it holds whole. The unsuffixed ones are
 * SGLang's. */
int grpc_decode_generate_req_of(enum grpc_engine e, const uint8_t *p, size_t n,
				struct grpc_generate_req *r);
int grpc_decode_generate_resp_of(enum grpc_engine e, const uint8_t *p, size_t n,
				 struct grpc_generate_resp *r);
int grpc_decode_generate_req(const uint8_t *p, size_t n, struct grpc_generate_req *r);
int grpc_decode_generate_resp(const uint8_t *p, size_t n, struct grpc_generate_resp *r);

#endif

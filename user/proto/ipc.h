/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Classify an SGLang IPC message captured from libzmq (possibly only its
 * first bytes) and find the request ids in it. Pure: no I/O, no BPF.
 *
 * SGLang (0.5.x) serializes its io_struct messages, msgspec Structs
 * (older releases: dataclasses), with pickle protocol 5 by default and
 * with msgspec msgpack when SGLANG_USE_PICKLE_IPC=0:
 *   pickle:  msgspec._utils.rebuild(Class, {"rid": ..., ...}) or, for a
 *            dataclass, NEWOBJ(Class) + BUILD({"rid": ..., ...});
 *   msgpack: [ "Class", rid | [rids], http_worker_ipc(s), field3, ... ]
 *            (array_like tagged Structs, base fields first).
 * Single requests carry "rid"; batches carry "rids" (outputs) or a
 * "batch" list of single requests (BatchTokenized*ReqInput). */
#ifndef SERVETRACE_IPC_H
#define SERVETRACE_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPC_MAX_RIDS   256	/* rids kept per message; more are counted */
#define IPC_CLASS_LEN   64

enum ipc_format {
	IPC_FMT_UNKNOWN = 0,
	IPC_FMT_PICKLE,
	IPC_FMT_MSGPACK,
};

enum ipc_kind {
	IPC_KIND_UNKNOWN = 0,		/* no class found */
	IPC_KIND_OTHER,			/* a class not listed here */
	IPC_KIND_TOKENIZED_GENERATE,	/* main -> scheduler, one request */
	IPC_KIND_TOKENIZED_EMBEDDING,
	IPC_KIND_BATCH_TOKENIZED_GENERATE,	/* main -> scheduler, batch */
	IPC_KIND_BATCH_TOKENIZED_EMBEDDING,
	IPC_KIND_BATCH_TOKEN_ID_OUTPUT,	/* scheduler -> detokenizer */
	IPC_KIND_BATCH_STR_OUTPUT,	/* detokenizer -> main */
	IPC_KIND_BATCH_EMBEDDING_OUTPUT,	/* scheduler -> detok -> main */
	IPC_KIND_ABORT,			/* AbortReq: main -> scheduler */
	IPC_KIND_MAX,
};

enum ipc_flags {
	IPC_F_INCOMPLETE = 1 << 0,	/* ended before the message did: more rids may follow */
	IPC_F_BAD        = 1 << 1,	/* not a pickle/msgpack we understand (garbage?) */
	IPC_F_LIMIT      = 1 << 2,	/* a parser bound (depth, memo) stopped the parse */
	IPC_F_RIDS_CAPPED = 1 << 3,	/* more than IPC_MAX_RIDS rids: rids_total counts all */
	IPC_F_RID_NONE   = 1 << 4,	/* a rid field was None */
};

/* A slice of the payload that ipc_parse() read. */
struct ipc_str {
	uint32_t off;
	uint32_t len;
};

struct ipc_msg {
	enum ipc_format format;
	enum ipc_kind kind;
	char class_name[IPC_CLASS_LEN];	/* "" when unknown */
	uint32_t flags;			/* enum ipc_flags */
	uint32_t nrids;			/* entries of rids[] */
	uint32_t rids_total;		/* rids seen, >= nrids */
	struct ipc_str rids[IPC_MAX_RIDS];
	/* Batch outputs: finished_reasons[i] != None, for rids[i]; -1 unknown. */
	int8_t finished[IPC_MAX_RIDS];
	/* Single Tokenized*ReqInput: -1 when unknown (stream: pickle only). */
	int stream;
	int64_t prompt_tokens;		/* len(input_ids) */
};

/* Parse the first n bytes of a message; truncated says whether the
 * message was longer than that (so running out is no error). Bounded work
 * (linear in n), never reads past p + n. Returns 0 when the format was
 * recognized (out->kind, rids and flags say how much was found), or
 * -EINVAL for bytes that are neither (out->flags has IPC_F_BAD). */
int ipc_parse(const void *p, size_t n, bool truncated, struct ipc_msg *out);

/* Rid i of msg as a NUL-terminated string in buf (cut to size - 1).
 * Returns its length, or -1 when i is out of range. */
int ipc_rid_copy(const struct ipc_msg *msg, const void *p, uint32_t i,
		 char *buf, size_t size);

enum ipc_kind ipc_kind_from_class(const char *name, size_t len);
/* /health and /health_generate send "HEALTH_CHECK_<hex>" requests: no
 * client's, to be left out of the timeline. */
bool ipc_rid_is_health_check(const char *rid, size_t len);
const char *ipc_kind_name(enum ipc_kind kind);

/* For the decoders (pickle.c, msgpack.c): what both fill in the same way. */
/* The class name at p[off, off + len), and the kind it maps to. */
void ipc_msg_set_class(struct ipc_msg *out, const uint8_t *p, uint32_t off,
		       uint32_t len);
/* One more rid at p[off, off + len); past IPC_MAX_RIDS only counted. */
void ipc_msg_add_rid(struct ipc_msg *out, uint32_t off, uint32_t len);
/* Bytes per item of a Python array typecode ('i', 'q', ...); 0 unknown. */
unsigned int ipc_array_itemsize(uint8_t typecode);

#endif

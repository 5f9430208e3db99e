// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* vLLM IPC frames (msgspec msgpack, array_like Structs): see vllm_ipc.h.
 * Layout of vLLM 0.32.0, vllm/v1/engine/__init__.py. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "proto/vllm_ipc.h"

#define MAX_DEPTH 24

/* msgpack value types, as bits so a layout lists what a field may be. */
enum {
	T_NIL = 1 << 0, T_BOOL = 1 << 1, T_INT = 1 << 2, T_FLOAT = 1 << 3,
	T_STR = 1 << 4, T_BIN = 1 << 5, T_ARR = 1 << 6, T_MAP = 1 << 7,
	T_EXT = 1 << 8,
	T_ANY = 0x1ff,
};

struct rd {
	const uint8_t *p;
	size_t n, off;
	bool cut;	/* ran out of bytes */
	bool bad;	/* not msgpack */
	bool limit;	/* MAX_DEPTH */
};

/* The head of one value; str/bin/ext payloads are consumed, the elements
 * of arrays/maps are not. */
struct obj {
	unsigned type;
	uint32_t count;		/* array elements, map pairs */
	uint32_t off, len;	/* str/bin payload */
	int64_t i;
	double f;
};

struct field {
	const char *name;
	unsigned types;
};

/* vLLM 0.32.0, in declaration order (array_like: position is the field). */
static const struct field req_layout[] = {
	{ "request_id", T_STR }, { "prompt_token_ids", T_ARR | T_NIL },
	{ "mm_features", T_ARR | T_NIL }, { "sampling_params", T_MAP | T_NIL },
	{ "pooling_params", T_MAP | T_NIL }, { "arrival_time", T_FLOAT | T_INT },
	{ "lora_request", T_ANY }, { "cache_salt", T_STR | T_NIL },
	{ "data_parallel_rank", T_INT | T_NIL }, { "prompt_embeds", T_ANY },
	{ "prompt_is_token_ids", T_ARR | T_NIL }, { "client_index", T_INT },
	{ "current_wave", T_INT }, { "priority", T_INT },
	{ "trace_headers", T_MAP | T_NIL }, { "resumable", T_BOOL },
	{ "external_req_id", T_STR | T_NIL }, { "reasoning_ended", T_BOOL | T_NIL },
	{ "reasoning_parser_kwargs", T_MAP | T_NIL }, { "abort_immediately", T_BOOL },
	{ "session_id", T_STR | T_NIL }, { "kv_hints", T_ANY },
};
#define REQ_MIN_FIELDS 9	/* fields without a default */

static const struct field outs_layout[] = {
	{ "engine_index", T_INT }, { "outputs", T_ARR },
	{ "scheduler_stats", T_MAP | T_NIL }, { "timestamp", T_FLOAT | T_INT },
	{ "utility_output", T_ARR | T_NIL }, { "finished_requests", T_ARR | T_NIL },
	{ "wave_complete", T_INT | T_NIL }, { "start_wave", T_INT | T_NIL },
	{ "weight_version", T_STR | T_NIL },
};

static const struct field out_layout[] = {
	{ "request_id", T_STR }, { "new_token_ids", T_ARR },
	{ "new_logprobs", T_ANY }, { "new_prompt_logprobs_tensors", T_ANY },
	{ "pooling_output", T_ANY }, { "finish_reason", T_INT | T_NIL },
	{ "stop_reason", T_INT | T_STR | T_NIL }, { "events", T_ARR | T_NIL },
	{ "kv_transfer_params", T_MAP | T_NIL }, { "ec_transfer_params", T_MAP | T_NIL },
	{ "trace_headers", T_MAP | T_NIL }, { "prefill_stats", T_MAP | T_NIL },
	{ "routed_experts", T_ANY }, { "num_nans_in_logits", T_INT },
	{ "mm_cache_miss_hashes", T_ARR | T_NIL }, { "new_sampling_mask", T_ANY },
	{ "spec_decode_metrics", T_ANY }, { "prompt_token_id_logprobs", T_ANY },
};
#define OUT_MIN_FIELDS 2

#define NFIELDS(l) (sizeof(l) / sizeof((l)[0]))

/* ------------------------------------------------------------ msgpack */

static bool need(struct rd *r, uint64_t k)
{
	if (r->n - r->off >= k)
		return true;
	r->cut = true;
	return false;
}

/* k big-endian bytes at the cursor. */
static bool take(struct rd *r, int k, uint64_t *v)
{
	const uint8_t *p = r->p + r->off;

	if (!need(r, k))
		return false;
	*v = 0;
	while (k--)
		*v = *v << 8 | *p++;
	r->off = p - r->p;
	return true;
}

/* A payload of len bytes (str/bin/ext) at the cursor. */
static bool payload(struct rd *r, struct obj *o, unsigned type, uint64_t len)
{
	o->type = type;
	o->off = r->off;
	o->len = len;
	if (!need(r, len))
		return false;
	r->off += len;
	return true;
}

static bool head_num(struct rd *r, uint8_t b, struct obj *o)
{
	uint64_t v;
	uint32_t u;
	float f;

	if (!take(r, b == 0xca ? 4 : b == 0xcb ? 8 : 1 << ((b - 0xcc) & 3), &v))
		return false;
	o->type = b <= 0xcb ? T_FLOAT : T_INT;
	if (b == 0xca) {
		u = v;
		memcpy(&f, &u, 4);
		o->f = f;
	} else if (b == 0xcb) {
		memcpy(&o->f, &v, 8);
	} else if (b <= 0xcf) {
		o->i = (int64_t)v;	/* uint8..uint64 */
	} else {
		o->i = b == 0xd0 ? (int8_t)v : b == 0xd1 ? (int16_t)v :
		       b == 0xd2 ? (int32_t)v : (int64_t)v;
	}
	return true;
}

/* The head after marker b in 0xc0..0xdf. */
static bool head_var(struct rd *r, uint8_t b, struct obj *o)
{
	uint64_t v, t;

	if (b == 0xc0 || b == 0xc2 || b == 0xc3) {
		o->type = b == 0xc0 ? T_NIL : T_BOOL;
		o->i = b == 0xc3;
		return true;
	}
	if (b >= 0xc4 && b <= 0xc6)	/* bin 8/16/32 */
		return take(r, 1 << (b - 0xc4), &v) && payload(r, o, T_BIN, v);
	if (b >= 0xc7 && b <= 0xc9)	/* ext 8/16/32: len, type, data */
		return take(r, 1 << (b - 0xc7), &v) && take(r, 1, &t) &&
		       payload(r, o, T_EXT, v);
	if (b >= 0xca && b <= 0xd3)
		return head_num(r, b, o);
	if (b >= 0xd4 && b <= 0xd8)	/* fixext 1..16: type, data */
		return take(r, 1, &t) && payload(r, o, T_EXT, 1u << (b - 0xd4));
	if (b >= 0xd9 && b <= 0xdb)	/* str 8/16/32 */
		return take(r, 1 << (b - 0xd9), &v) && payload(r, o, T_STR, v);
	if (b >= 0xdc && b <= 0xdf) {	/* array 16/32, map 16/32 */
		if (!take(r, b & 1 ? 4 : 2, &v))
			return false;
		o->type = b <= 0xdd ? T_ARR : T_MAP;
		o->count = v;
		return true;
	}
	r->bad = true;	/* 0xc1: never used */
	return false;
}

/* The head of the next value; false when cut or bad (r says which). */
static bool head(struct rd *r, struct obj *o)
{
	uint8_t b;

	memset(o, 0, sizeof(*o));
	if (!need(r, 1))
		return false;
	b = r->p[r->off++];
	if (b <= 0x7f || b >= 0xe0) {
		o->type = T_INT;
		o->i = b <= 0x7f ? b : (int8_t)b;
		return true;
	}
	if (b <= 0x9f) {
		o->type = b <= 0x8f ? T_MAP : T_ARR;
		o->count = b & 0x0f;
		return true;
	}
	if (b <= 0xbf)
		return payload(r, o, T_STR, b & 0x1f);
	return head_var(r, b, o);
}

/* Skip the elements of an array/map whose head was read. */
static bool skip_body(struct rd *r, const struct obj *o, int depth)
{
	uint64_t k = o->type == T_MAP ? 2ull * o->count :
		     o->type == T_ARR ? o->count : 0;
	struct obj c;

	if (k && depth >= MAX_DEPTH) {
		r->limit = true;
		return false;
	}
	while (k--)
		if (!head(r, &c) || !skip_body(r, &c, depth + 1))
			return false;
	return true;
}

static bool str_is(const struct rd *r, const struct obj *o, const char *s)
{
	size_t len = strlen(s);

	return o->type == T_STR && o->len == len && !memcmp(r->p + o->off, s, len);
}

static double num(const struct obj *o)
{
	return o->type == T_FLOAT ? o->f : (double)o->i;
}

/* ------------------------------------------------------------ layout */

static const char *type_name(unsigned t)
{
	static const char *names[] = { "nil", "bool", "int", "float", "str", "bin",
				       "array", "map", "ext" };
	int i;

	for (i = 0; i < 9; i++)
		if (t == 1u << i)
			return names[i];
	return "?";
}

__attribute__((format(printf, 2, 3)))
static void mismatch(struct vllm_ipc_msg *m, const char *fmt, ...)
{
	va_list ap;

	if (m->flags & VLLM_IPC_F_LAYOUT)
		return;	/* the first one says most */
	m->flags |= VLLM_IPC_F_LAYOUT;
	va_start(ap, fmt);
	vsnprintf(m->mismatch, sizeof(m->mismatch), fmt, ap);
	va_end(ap);
}

static bool field_ok(struct vllm_ipc_msg *m, const char *cls, const struct field *f,
		     const struct obj *o)
{
	if (o->type & f->types)
		return true;
	mismatch(m, "%s.%s is %s (not vLLM " VLLM_IPC_VERSION "'s layout)", cls, f->name,
		 type_name(o->type));
	return false;
}

static bool count_ok(struct vllm_ipc_msg *m, const char *cls, uint32_t count,
		     size_t min, size_t max)
{
	if (count >= min && count <= max)
		return true;
	mismatch(m, "%s has %u fields, vLLM " VLLM_IPC_VERSION " sends %zu..%zu",
		 cls, count, min, max);
	return false;
}

static struct vllm_ipc_req *add_req(struct vllm_ipc_msg *m, const struct obj *rid)
{
	struct vllm_ipc_req *q;

	m->reqs_total++;
	if (m->nreqs >= VLLM_IPC_MAX_REQS) {
		m->flags |= VLLM_IPC_F_CAPPED;
		return NULL;
	}
	q = &m->reqs[m->nreqs++];
	memset(q, 0, sizeof(*q));
	q->rid.off = rid->off;
	q->rid.len = rid->len;
	q->finished = -1;
	q->finish_reason = -1;
	return q;
}

/* ------------------------------------------------------------ structs */

/* SamplingParams (a map: not array_like): output_kind says streaming. */
static bool sampling_params(struct rd *r, const struct obj *map, struct vllm_ipc_msg *m)
{
	struct obj k, v;
	uint32_t i;

	for (i = 0; i < map->count; i++) {
		if (!head(r, &k))
			return false;
		if (k.type != T_STR) {
			mismatch(m, "SamplingParams key is %s", type_name(k.type));
			return false;
		}
		if (!head(r, &v))
			return false;
		if (str_is(r, &k, "output_kind") && v.type == T_INT)
			m->stream = v.i == 1;	/* RequestOutputKind.DELTA */
		if (!skip_body(r, &v, 2))
			return false;
	}
	if (m->stream < 0)
		m->stream = 0;	/* omitted: the default, CUMULATIVE */
	return true;
}

/* One field of an EngineCoreRequest, its head read. */
static bool req_field(struct rd *r, uint32_t i, const struct obj *o,
		      struct vllm_ipc_msg *m, struct obj *rid)
{
	switch (i) {
	case 0:
		*rid = *o;
		break;
	case 1:
		if (o->type == T_ARR)
			m->prompt_tokens = o->count;
		break;
	case 3:
		return o->type != T_MAP || sampling_params(r, o, m);
	case 5:
		m->arrival_time = num(o);
		break;
	case 16:
		if (o->type == T_STR)
			m->external_rid = (struct vllm_ipc_str){ o->off, o->len };
		break;
	}
	return skip_body(r, o, 1);
}

static void parse_add(struct rd *r, const struct obj *top, struct vllm_ipc_msg *m)
{
	struct obj o, rid = {};
	uint32_t i;

	m->kind = VLLM_IPC_ADD;
	if (!count_ok(m, "EngineCoreRequest", top->count, REQ_MIN_FIELDS, NFIELDS(req_layout)))
		return;
	for (i = 0; i < top->count; i++) {
		if (!head(r, &o))
			break;
		if (!field_ok(m, "EngineCoreRequest", &req_layout[i], &o))
			return;
		if (!req_field(r, i, &o, m, &rid))
			break;
	}
	if (rid.type == T_STR)
		add_req(m, &rid);
}

/* EngineCoreOutput.events: [{"type": int, "timestamp": float}, ...] */
static bool events(struct rd *r, const struct obj *arr, struct vllm_ipc_msg *m,
		   struct vllm_ipc_req *q)
{
	struct obj ev, k, v;
	uint32_t i, j;
	int64_t type;
	double ts;

	for (i = 0; i < arr->count; i++) {
		if (!head(r, &ev))
			return false;
		if (ev.type != T_MAP || ev.count != 2) {
			mismatch(m, "EngineCoreEvent is %s of %u", type_name(ev.type), ev.count);
			return false;
		}
		type = -1;
		ts = 0;
		for (j = 0; j < 2; j++) {
			if (!head(r, &k) || !head(r, &v))
				return false;
			if (str_is(r, &k, "type") && v.type == T_INT)
				type = v.i;
			else if (str_is(r, &k, "timestamp") && (v.type & (T_FLOAT | T_INT)))
				ts = num(&v);
			else {
				mismatch(m, "EngineCoreEvent has an unknown field or type");
				return false;
			}
		}
		if (!q)
			continue;
		q->nevents++;
		if (type == VLLM_EV_QUEUED && !q->queued_ts)
			q->queued_ts = ts;
		else if (type == VLLM_EV_SCHEDULED && !q->scheduled_ts)
			q->scheduled_ts = ts;
		else if (type == VLLM_EV_PREEMPTED)
			q->preempted = 1;
	}
	return true;
}

/* One field of an EngineCoreOutput, its head read; *q is set at field 0. */
static bool out_field(struct rd *r, uint32_t i, const struct obj *o,
		      struct vllm_ipc_msg *m, struct vllm_ipc_req **q)
{
	switch (i) {
	case 0:
		*q = add_req(m, o);
		break;
	case 1:
		if (*q)
			(*q)->new_tokens = o->count;
		break;
	case 5:
		if (*q) {
			(*q)->finished = o->type != T_NIL;
			(*q)->finish_reason = o->type == T_INT ? o->i : -1;
		}
		break;
	case 7:
		return o->type != T_ARR || events(r, o, m, *q);
	}
	return skip_body(r, o, 2);
}

static bool parse_output(struct rd *r, struct vllm_ipc_msg *m)
{
	struct vllm_ipc_req *q = NULL;
	struct obj top, o;
	uint32_t i;

	if (!head(r, &top))
		return false;
	if (top.type != T_ARR) {
		mismatch(m, "EngineCoreOutput is %s", type_name(top.type));
		return false;
	}
	if (!count_ok(m, "EngineCoreOutput", top.count, OUT_MIN_FIELDS, NFIELDS(out_layout)))
		return false;
	for (i = 0; i < top.count; i++) {
		if (!head(r, &o))
			return false;
		if (!field_ok(m, "EngineCoreOutput", &out_layout[i], &o) ||
		    !out_field(r, i, &o, m, &q))
			return false;
	}
	if (q && q->finished < 0)
		q->finished = 0;	/* finish_reason omitted: None */
	return true;
}

/* One field of EngineCoreOutputs, its head read. */
static bool outs_field(struct rd *r, uint32_t i, const struct obj *o,
		       struct vllm_ipc_msg *m)
{
	struct obj c;
	uint32_t j;

	switch (i) {
	case 0:
		m->engine_index = o->i;
		return true;
	case 1:
		for (j = 0; j < o->count; j++)
			if (!parse_output(r, m))
				return false;
		return true;
	case 2:
		if (o->type == T_MAP)
			m->flags |= VLLM_IPC_F_STATS;
		break;
	case 3:
		m->timestamp = num(o);
		break;
	case 4:	/* UtilityOutput: [call_id, failure_message, result] */
		if (o->type != T_ARR)
			break;
		m->flags |= VLLM_IPC_F_UTILITY_OUT;
		if (!o->count)
			break;
		if (!head(r, &c))
			return false;
		if (c.type == T_INT)
			m->call_id = c.i;
		return skip_body(r, &c, 2) &&
		       skip_body(r, &(struct obj){ .type = T_ARR, .count = o->count - 1 }, 2);
	case 5:
		m->nfinished_requests = o->count;
		break;
	}
	return skip_body(r, o, 1);
}

static void parse_outputs(struct rd *r, const struct obj *top, struct vllm_ipc_msg *m)
{
	struct obj o;
	uint32_t i;

	m->kind = VLLM_IPC_OUTPUTS;
	if (!count_ok(m, "EngineCoreOutputs", top->count, 2, NFIELDS(outs_layout)))
		return;
	for (i = 0; i < top->count; i++) {
		if (!head(r, &o))
			return;
		if (!field_ok(m, "EngineCoreOutputs", &outs_layout[i], &o) ||
		    !outs_field(r, i, &o, m))
			return;
	}
}

/* ABORT: [rid, ...]; UTILITY: [client_index, call_id, method, args]. */
static void parse_abort(struct rd *r, const struct obj *top, struct vllm_ipc_msg *m)
{
	struct obj o;
	uint32_t i;

	m->kind = VLLM_IPC_ABORT;
	for (i = 0; i < top->count; i++) {
		if (!head(r, &o))
			return;
		if (o.type != T_STR) {
			mismatch(m, "abort request id %u is %s", i, type_name(o.type));
			return;
		}
		add_req(m, &o);
	}
}

static void parse_utility(struct rd *r, const struct obj *top, struct vllm_ipc_msg *m)
{
	static const unsigned want[] = { T_INT, T_INT, T_STR, T_ARR };
	struct obj o;
	uint32_t i;

	m->kind = VLLM_IPC_UTILITY;
	if (top->count != 4) {
		mismatch(m, "utility call has %u fields, not 4", top->count);
		return;
	}
	for (i = 0; i < 4; i++) {
		if (!head(r, &o))
			return;
		if (!(o.type & want[i])) {
			mismatch(m, "utility call field %u is %s", i, type_name(o.type));
			return;
		}
		if (i == 1)
			m->call_id = o.i;
		if (!skip_body(r, &o, 1))
			return;
	}
}

/* ------------------------------------------------------------ API */

/* Which message a top-level array is, from its first two elements. r is
 * the caller's copy: only its cut is passed on. */
static enum vllm_ipc_kind classify(struct rd r, const struct obj *top,
				   struct vllm_ipc_msg *m, bool *cut)
{
	struct obj a, b = {};

	*cut = false;
	if (top->count && !head(&r, &a))
		*cut = r.cut;
	else if (top->count && (a.type == T_STR || a.type == T_INT) &&
		 top->count > 1 && !head(&r, &b))
		*cut = r.cut;
	if (*cut || r.bad || !top->count)
		return VLLM_IPC_UNKNOWN;
	if (a.type == T_STR && top->count == 1)
		return VLLM_IPC_ABORT;
	if (a.type == T_STR && b.type == T_STR)
		return VLLM_IPC_ABORT;
	if (a.type == T_STR && (b.type & (T_ARR | T_NIL)))
		return VLLM_IPC_ADD;
	if (a.type == T_INT && b.type == T_ARR)
		return VLLM_IPC_OUTPUTS;
	if (a.type == T_INT && b.type == T_INT)
		return VLLM_IPC_UTILITY;
	mismatch(m, "array of %u starting %s, %s: no vLLM " VLLM_IPC_VERSION " message",
		 top->count, type_name(a.type),
		 a.type == T_STR || a.type == T_INT ? type_name(b.type) : "...");
	return VLLM_IPC_UNKNOWN;
}

static void init_msg(struct vllm_ipc_msg *m)
{
	memset(m, 0, offsetof(struct vllm_ipc_msg, reqs));
	memset(&m->external_rid, 0, sizeof(*m) - offsetof(struct vllm_ipc_msg, external_rid));
	m->prompt_tokens = -1;
	m->stream = -1;
	m->engine_index = -1;
	m->call_id = -1;
}

int vllm_ipc_parse(const void *p, size_t n, bool truncated, struct vllm_ipc_msg *m)
{
	struct rd r = { .p = p, .n = n };
	struct obj top;

	init_msg(m);
	if (!truncated && (n == 1 || n == 2)) {
		m->kind = n == 1 ? VLLM_IPC_TYPE : VLLM_IPC_IDENTITY;
		m->req_type = n == 1 ? *(const uint8_t *)p : 0;
		return 0;
	}
	if (head(&r, &top) && top.type != T_ARR)
		r.bad = true;	/* every vLLM message is an array */
	else if (!r.cut && !r.bad)
		m->kind = classify(r, &top, m, &r.cut);
	switch (m->kind) {
	case VLLM_IPC_ADD: parse_add(&r, &top, m); break;
	case VLLM_IPC_ABORT: parse_abort(&r, &top, m); break;
	case VLLM_IPC_UTILITY: parse_utility(&r, &top, m); break;
	case VLLM_IPC_OUTPUTS: parse_outputs(&r, &top, m); break;
	default: break;
	}
	if (r.limit)
		m->flags |= VLLM_IPC_F_LIMIT;
	if (r.cut)
		m->flags |= truncated ? VLLM_IPC_F_INCOMPLETE : VLLM_IPC_F_BAD;
	if (r.bad)
		m->flags |= VLLM_IPC_F_BAD;
	if (!(m->flags & ~VLLM_IPC_F_STATS & ~VLLM_IPC_F_UTILITY_OUT & ~VLLM_IPC_F_CAPPED) &&
	    m->kind != VLLM_IPC_UNKNOWN && r.off != n)
		mismatch(m, "%zu bytes after the message", n - r.off);
	if (m->flags & (VLLM_IPC_F_LAYOUT | VLLM_IPC_F_BAD)) {
		m->nreqs = 0;	/* never a guess */
		m->reqs_total = 0;
	}
	if (m->kind == VLLM_IPC_UNKNOWN && !(m->flags & (VLLM_IPC_F_INCOMPLETE | VLLM_IPC_F_LAYOUT))) {
		m->flags |= VLLM_IPC_F_BAD;
		return -EINVAL;
	}
	return m->flags & VLLM_IPC_F_BAD && m->kind == VLLM_IPC_UNKNOWN ? -EINVAL : 0;
}

int vllm_ipc_rid_copy(const struct vllm_ipc_msg *msg, const void *p, uint32_t i,
		      char *buf, size_t size)
{
	size_t len;

	if (i >= msg->nreqs || !size)
		return -1;
	len = msg->reqs[i].rid.len < size - 1 ? msg->reqs[i].rid.len : size - 1;
	memcpy(buf, (const char *)p + msg->reqs[i].rid.off, len);
	buf[len] = 0;
	return len;
}

size_t vllm_ipc_external_len(const char *rid, size_t len)
{
	size_t i;

	if (len < 10 || rid[len - 9] != '-')
		return len;
	for (i = len - 8; i < len; i++)
		if (rid[i] == '-')
			return len;
	return len - 9;
}

int vllm_ipc_header_rid(const char *rid, size_t len, bool completions, size_t *out_len)
{
	size_t pre, end = len;

	if (len > 9 && !memcmp(rid, "chatcmpl-", 9))
		pre = 9;
	else if (len > 5 && !memcmp(rid, "cmpl-", 5))
		pre = 5;
	else
		return -1;
	if (completions) {
		while (end > pre && rid[end - 1] >= '0' && rid[end - 1] <= '9')
			end--;
		if (end == len || end <= pre + 1 || rid[end - 1] != '-')
			return -1;	/* no "-<index>" */
		end--;
	}
	*out_len = end - pre;
	return pre;
}

const char *vllm_ipc_kind_name(enum vllm_ipc_kind kind)
{
	static const char *names[VLLM_IPC_KIND_MAX] = {
		"unknown", "identity", "type", "add", "abort", "utility", "outputs",
	};

	return kind < VLLM_IPC_KIND_MAX ? names[kind] : "?";
}

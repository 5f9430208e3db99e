// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Sizes come from the structs themselves where their definitions are
 * visible; the few private ones are bounded by constants named here. */
#include <stdio.h>
#include <string.h>
#include "output/mem_ceiling.h"
#include "conn/conn.h"
#include "correlate/exchange.h"
#include "correlate/server_events.h"
#include "correlate/server_hops_priv.h"
#include "proto/body_fields.h"
#include "proto/grpc.h"
#include "proto/sse_parser.h"

#define MALLOC_OVERHEAD	16		/* glibc chunk header, rounding */
/* Measured: idle RSS of a live run (libbpf, vmlinux BTF, skeletons,
 * buffers) without its rings, 2 cores; rounded up. */
#define BASE_BYTES	(40ull << 20)
/* Private structs, bounded from their fields: grpc_calls.c holds a
 * grpc_conn and GRPC_STREAMS call slots (< 64 bytes each); correlator.c's
 * hop_rec is two list nodes, a key, a rid and HOP_MAX stamps; its index
 * holds at most 3 nodes of 32 bytes per exchange. */
#define GRPC_CALLS_BYTES	(sizeof(struct grpc_conn) + 64 * (GRPC_STREAMS + 1))
#define HOP_REC_BYTES		(48 + RID_MAX + 8 * HOP_MAX)
#define EX_INDEX_BYTES		(3 * (32 + MALLOC_OVERHEAD))
/* The trace store keeps each trace's JSON text: a trace of every stamp
 * and its ids is under 4 KiB (trace_json.c). */
#define TRACE_BYTES		(4096 + 256 + RID_MAX)

static uint64_t alloc(uint64_t n)
{
	return n + MALLOC_OVERHEAD;
}

/* Saturating: limits at their maxima must not wrap to a small ceiling. */
static uint64_t mul(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t add(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

void mem_ceiling_compute(const struct mem_ceiling_limits *l, struct mem_ceiling *out)
{
	/* a connection is HTTP/1.x (SSE parser, kept tail) or HTTP/2 (gRPC) */
	uint64_t h1 = alloc(sizeof(struct sse_parser)) + alloc(2 * SSE_TAIL_MAX);
	uint64_t h2 = alloc(GRPC_CALLS_BYTES);
	uint64_t per_conn = alloc(sizeof(struct conn)) + (h1 > h2 ? h1 : h2);
	/* bodies live from their message's start to its end: one request
	 * and one response per connection at a time, each with its scan */
	uint64_t per_body = alloc(l->body_bytes) + alloc(sizeof(struct body_rid_scan));

	memset(out, 0, sizeof(*out));
	out->base = BASE_BYTES;
	out->rings = mul(l->ringbuf_mb, 1 << 20);
	out->conns = add(mul(l->max_conns, per_conn), CONN_BUCKETS * sizeof(void *));
	out->bodies = mul(mul(l->max_conns, 2), per_body);
	out->exchanges = mul(l->max_exchanges, alloc(sizeof(struct exchange)) + EX_INDEX_BYTES);
	out->hops = add(mul(l->max_hop_records, alloc(HOP_REC_BYTES)),
			mul(l->max_rids, alloc(sizeof(struct rid_state)) + sizeof(void *)));
	out->traces = mul(l->max_traces, sizeof(void *) * 2 + alloc(TRACE_BYTES));
	out->memos = mul(l->parse_threads ? l->parse_threads : 1, body_fields_memo_max_bytes());
	out->total = add(add(add(out->base, out->rings), add(out->conns, out->bodies)),
			 add(add(out->exchanges, out->hops), add(out->traces, out->memos)));
}

static unsigned long long mib(uint64_t b)
{
	return (b + (1 << 20) - 1) >> 20;
}

void mem_ceiling_format(const struct mem_ceiling *c, char *buf, size_t size)
{
	snprintf(buf, size, "memory ceiling ~%llu MiB from the limits (base %llu, rings %llu, "
		 "connections %llu, bodies in flight %llu, exchanges %llu, hops %llu, traces %llu, "
		 "bodies read twice %llu MiB)",
		 mib(c->total), mib(c->base), mib(c->rings), mib(c->conns), mib(c->bodies),
		 mib(c->exchanges), mib(c->hops), mib(c->traces), mib(c->memos));
}

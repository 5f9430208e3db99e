/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* servetrace's worst-case memory, from its configured limits: what every
 * bounded table holds when full. Printed at start-up; the e2e tests check
 * the measured peak RSS against it. */
#ifndef SERVETRACE_MEM_CEILING_H
#define SERVETRACE_MEM_CEILING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mem_ceiling_limits {
	uint32_t ringbuf_mb;		/* all ring buffers */
	uint32_t max_conns;
	uint32_t max_exchanges;
	uint32_t max_hop_records;
	uint32_t max_rids;
	uint32_t body_bytes;		/* --body-limit */
	uint32_t max_traces;		/* 0: no trace store (no --listen) */
	uint32_t parse_threads;		/* threads reading bodies (0 counts as 1) */
};

/* Bytes per component. */
struct mem_ceiling {
	uint64_t base;			/* binary, libraries, vmlinux BTF, idle heap */
	uint64_t rings;
	uint64_t conns;			/* per connection: state, SSE parser, gRPC, tail */
	uint64_t bodies;		/* a request and a response body in flight per connection */
	uint64_t exchanges;
	uint64_t hops;			/* hop records + per-rid scheduler states */
	uint64_t traces;
	uint64_t memos;			/* per parse thread: bodies read twice, kept */
	uint64_t total;
};

void mem_ceiling_compute(const struct mem_ceiling_limits *l, struct mem_ceiling *out);
/* "memory ceiling ~N MiB from the limits (rings .., ...)" into buf. */
void mem_ceiling_format(const struct mem_ceiling *c, char *buf, size_t size);

#endif

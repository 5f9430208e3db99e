/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Real HTTP/2 byte streams (tests/unit/data/h2/, made by capture.sh):
 * <name>.c2s / .s2c hold each direction's bytes, <name>.seg the TCP
 * segments in capture order ("c 24"), replayed as the syscall pieces. */
#ifndef SERVETRACE_TEST_H2_FIXTURE_H
#define SERVETRACE_TEST_H2_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "proto/h2.h"

#define H2_FIX_DIR "tests/unit/data/h2/"
#define H2_FIX_SEGS 1024

struct h2_fixture {
	uint8_t *bytes[2];		/* by enum h2_side */
	size_t len[2];
	struct { int side; uint32_t n; } seg[H2_FIX_SEGS];
	int nseg;
};

static inline uint8_t *h2_fix_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n ? n : 1);
	*len = fread(buf, 1, n, f);
	fclose(f);
	return buf;
}

static inline int h2_fix_load(struct h2_fixture *x, const char *name)
{
	char path[256], d;
	unsigned n;
	FILE *f;

	snprintf(path, sizeof(path), H2_FIX_DIR "%s.c2s", name);
	x->bytes[H2_FROM_CLIENT] = h2_fix_slurp(path, &x->len[H2_FROM_CLIENT]);
	snprintf(path, sizeof(path), H2_FIX_DIR "%s.s2c", name);
	x->bytes[H2_FROM_SERVER] = h2_fix_slurp(path, &x->len[H2_FROM_SERVER]);
	snprintf(path, sizeof(path), H2_FIX_DIR "%s.seg", name);
	f = fopen(path, "r");
	if (!f || !x->bytes[0] || !x->bytes[1])
		return -1;
	x->nseg = 0;
	while (x->nseg < H2_FIX_SEGS && fscanf(f, " %c %u", &d, &n) == 2) {
		x->seg[x->nseg].side = d == 'c' ? H2_FROM_CLIENT : H2_FROM_SERVER;
		x->seg[x->nseg++].n = n;
	}
	fclose(f);
	return 0;
}

static inline void h2_fix_free(struct h2_fixture *x)
{
	free(x->bytes[0]);
	free(x->bytes[1]);
}

/* Feeds the segments in order; the segment holding byte split_at of side
 * split_side is cut in two there (split_at 0: no cut). Segments before
 * skip_until[side] bytes of a side are not fed at all (attach later). */
typedef void (*h2_fix_feed_fn)(void *conn, enum h2_side side, const uint8_t *p,
			       size_t n, uint64_t ts);

static inline void h2_fix_replay(const struct h2_fixture *x, h2_fix_feed_fn feed, void *conn,
				 int split_side, size_t split_at, const size_t skip_until[2])
{
	size_t off[2] = { 0, 0 };
	uint64_t ts = 1000;

	for (int i = 0; i < x->nseg; i++) {
		int s = x->seg[i].side;
		size_t n = x->seg[i].n, a = off[s];

		off[s] += n;
		ts += 10;
		if (skip_until && a < skip_until[s]) {
			if (off[s] <= skip_until[s])
				continue;
			n -= skip_until[s] - a;	/* start inside this segment */
			a = skip_until[s];
		}
		if (s == split_side && split_at > a && split_at < a + n) {
			feed(conn, s, x->bytes[s] + a, split_at - a, ts);
			feed(conn, s, x->bytes[s] + split_at, a + n - split_at, ts + 1);
		} else {
			feed(conn, s, x->bytes[s] + a, n, ts);
		}
	}
}

#endif

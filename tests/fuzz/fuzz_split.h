/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Feeds a fuzz input to a stream parser the way syscalls deliver it:
 * in pieces of varied size, some cut short (only the head of what was
 * moved is captured, the rest is a gap). The input's first two bytes
 * seed the split; the rest is the stream, so a seed file is two bytes
 * and a capture. Same input, same split: crashes reproduce. */
#ifndef SERVETRACE_FUZZ_SPLIT_H
#define SERVETRACE_FUZZ_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fuzz_split {
	const uint8_t *p;
	size_t n, pos;
	uint32_t rng;
	uint64_t ts;
};

struct fuzz_piece {
	const char *data;
	size_t cap_len;		/* bytes of data */
	size_t total_len;	/* bytes the syscall moved: > cap_len is a gap */
	uint64_t ts;
	uint32_t roll;		/* free random bits for the harness */
};

static inline uint32_t fuzz_rand(struct fuzz_split *s)
{
	/* xorshift32: never 0 from a non-zero state */
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 17;
	s->rng ^= s->rng << 5;
	return s->rng;
}

static inline void fuzz_split_init(struct fuzz_split *s, const uint8_t *data,
				   size_t size)
{
	s->rng = 0x9e3779b9u;
	if (size >= 2) {
		s->rng ^= (uint32_t)data[0] << 8 | data[1];
		data += 2;
		size -= 2;
	} else {
		size = 0;
	}
	s->p = data;
	s->n = size;
	s->pos = 0;
	s->ts = 1000;
}

/* The next piece, or false at the end of the input. */
static inline bool fuzz_split_next(struct fuzz_split *s, struct fuzz_piece *pc)
{
	static const size_t sizes[] = { 1, 3, 16, 100, 1500, 1 << 16 };
	uint32_t r;
	size_t len;

	if (s->pos >= s->n)
		return false;
	r = fuzz_rand(s);
	len = 1 + r % sizes[(r >> 8) % (sizeof(sizes) / sizeof(sizes[0]))];
	if (len > s->n - s->pos)
		len = s->n - s->pos;
	pc->data = (const char *)s->p + s->pos;
	pc->cap_len = len;
	pc->total_len = len;
	if (((r >> 16) & 15) == 0)	/* 1 in 16 pieces was cut */
		pc->total_len += 1 + (fuzz_rand(s) & 0xfff);
	s->pos += len;
	s->ts += 1 + (r >> 24);
	pc->ts = s->ts;
	pc->roll = fuzz_rand(s);
	return true;
}

#endif

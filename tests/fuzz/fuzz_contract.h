/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The http_stream callback contract (http_stream.h), checked as the
 * fuzzer drives the parser: a violation aborts, so libFuzzer reports it. */
#ifndef SERVETRACE_FUZZ_CONTRACT_H
#define SERVETRACE_FUZZ_CONTRACT_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "proto/http_stream.h"

struct fuzz_contract {
	bool open, head;
	uint64_t begins, ends;
};

#define FUZZ_CHECK(cond) do { if (!(cond)) abort(); } while (0)

static inline void contract_begin(struct fuzz_contract *c)
{
	FUZZ_CHECK(!c->open);
	c->open = true;
	c->head = false;
	c->begins++;
}

static inline void contract_head(struct fuzz_contract *c,
				 const struct http_head *h)
{
	FUZZ_CHECK(c->open && !c->head);
	c->head = true;
	/* every string of the head is terminated inside its array */
	FUZZ_CHECK(memchr(h->method, 0, sizeof(h->method)));
	FUZZ_CHECK(memchr(h->path, 0, sizeof(h->path)));
	FUZZ_CHECK(memchr(h->reason, 0, sizeof(h->reason)));
	FUZZ_CHECK(memchr(h->request_id, 0, sizeof(h->request_id)));
	FUZZ_CHECK(memchr(h->request_id_header, 0, sizeof(h->request_id_header)));
}

static inline void contract_body(struct fuzz_contract *c, size_t n)
{
	FUZZ_CHECK(c->open && c->head && n > 0);
}

static inline void contract_end(struct fuzz_contract *c)
{
	FUZZ_CHECK(c->open && c->head);
	c->open = false;
	c->ends++;
}

/* After http_stream_close(): nothing is left open, and the stats add up. */
static inline void contract_closed(const struct fuzz_contract *c,
				   const struct http_stream *s)
{
	FUZZ_CHECK(!c->open && c->begins == c->ends);
	FUZZ_CHECK(s->stats.messages == c->begins);
	FUZZ_CHECK(s->stats.complete + s->stats.incomplete == c->ends);
	FUZZ_CHECK(s->stats.body_gap_bytes <= s->stats.gap_bytes);
}

#endif

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Where the collector sends the exchanges it makes. One thread: straight
 * into the correlator (exchange_sink_correlator). Several parse threads:
 * a handoff (conn/handoff.h) that keeps each exchange private to its
 * thread until it is done, then passes it to the correlator's thread.
 * The calls mirror the correlator's: see correlate/correlator.h. */
#ifndef SERVETRACE_EXCHANGE_SINK_H
#define SERVETRACE_EXCHANGE_SINK_H

#include <stdint.h>
#include "correlate/correlator.h"

typedef void (*exchange_detach_fn)(void *ctx, struct exchange *ex);

struct exchange_sink_ops {
	struct exchange *(*new_exchange)(void *ctx, enum exchange_kind kind, uint32_t tgid,
					 const struct sock_endpoint *local,
					 const struct sock_endpoint *peer, uint64_t ts);
	/* optional: the request's head is read (a hint, to fetch ahead) */
	void (*request_head)(void *ctx, struct exchange *ex);
	void (*request_done)(void *ctx, struct exchange *ex);
	/* ex is the sink's from here: the caller forgets it */
	void (*exchange_done)(void *ctx, struct exchange *ex, uint64_t ts);
	void (*drop)(void *ctx, struct exchange *ex);
	/* who to tell before the sink frees an exchange the caller holds */
	void (*set_holder)(void *ctx, exchange_detach_fn detach, void *hctx);
};

struct exchange_sink {
	const struct exchange_sink_ops *ops;
	void *ctx;
};

/* The correlator itself: what one thread uses (and the unit tests). */
struct exchange_sink exchange_sink_correlator(struct correlator *corr);

static inline struct exchange *
exchange_sink_new_exchange(const struct exchange_sink *s, enum exchange_kind kind,
			   uint32_t tgid, const struct sock_endpoint *local,
			   const struct sock_endpoint *peer, uint64_t ts)
{
	return s->ops->new_exchange(s->ctx, kind, tgid, local, peer, ts);
}

static inline void exchange_sink_request_head(const struct exchange_sink *s,
					      struct exchange *ex)
{
	if (s->ops->request_head)
		s->ops->request_head(s->ctx, ex);
}

static inline void exchange_sink_request_done(const struct exchange_sink *s,
					      struct exchange *ex)
{
	s->ops->request_done(s->ctx, ex);
}

static inline void exchange_sink_exchange_done(const struct exchange_sink *s,
					       struct exchange *ex, uint64_t ts)
{
	s->ops->exchange_done(s->ctx, ex, ts);
}

static inline void exchange_sink_drop(const struct exchange_sink *s, struct exchange *ex)
{
	s->ops->drop(s->ctx, ex);
}

static inline void exchange_sink_set_holder(const struct exchange_sink *s,
					    exchange_detach_fn detach, void *hctx)
{
	s->ops->set_holder(s->ctx, detach, hctx);
}

#endif

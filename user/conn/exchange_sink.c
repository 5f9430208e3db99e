// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The correlator as an exchange sink: each call is the correlator's own. */
#include "conn/exchange_sink.h"

static struct exchange *corr_new_exchange(void *ctx, enum exchange_kind kind, uint32_t tgid,
					  const struct sock_endpoint *local,
					  const struct sock_endpoint *peer, uint64_t ts)
{
	return correlator_new_exchange(ctx, kind, tgid, local, peer, ts);
}

static void corr_request_head(void *ctx, struct exchange *ex)
{
	correlator_prefetch_request(ctx, ex);
}

static void corr_request_done(void *ctx, struct exchange *ex)
{
	correlator_request_done(ctx, ex);
}

static void corr_exchange_done(void *ctx, struct exchange *ex, uint64_t ts)
{
	correlator_exchange_done(ctx, ex, ts);
}

static void corr_drop(void *ctx, struct exchange *ex)
{
	correlator_drop(ctx, ex);
}

static void corr_set_holder(void *ctx, exchange_detach_fn detach, void *hctx)
{
	correlator_set_holder(ctx, detach, hctx);
}

static const struct exchange_sink_ops corr_ops = {
	.new_exchange = corr_new_exchange,
	.request_head = corr_request_head,
	.request_done = corr_request_done,
	.exchange_done = corr_exchange_done,
	.drop = corr_drop,
	.set_holder = corr_set_holder,
};

struct exchange_sink exchange_sink_correlator(struct correlator *corr)
{
	return (struct exchange_sink){ .ops = &corr_ops, .ctx = corr };
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include <string.h>
#include "fixture.h"

#define GEN_MAX_DATA 65536

void gen_endpoint(struct sock_endpoint *e, uint16_t port)
{
	memset(e, 0, sizeof(*e));
	e->family = 2;		/* AF_INET */
	e->addr[0] = 127;
	e->addr[3] = 1;
	e->port = port;
}

struct gen_conn gen_conn(struct event_gen *g, uint32_t tgid, int32_t fd,
			 uint16_t lport, uint16_t pport)
{
	struct gen_conn c = { .g = g, .tgid = tgid, .fd = fd, .sock_id = ++g->next_sock };

	gen_endpoint(&c.local, lport);
	gen_endpoint(&c.peer, pport);
	return c;
}

void gen_at(struct event_gen *g, uint64_t t)
{
	g->now = t;
}

struct sock_event *gen_record(struct gen_conn *c, void *buf, size_t max, uint32_t type,
			      int dir, const void *data, size_t cap, long ret)
{
	struct sock_event *e = buf;
	struct event_gen *g = c->g;

	if (cap > max)
		cap = max;
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->tgid = c->tgid;
	e->tid = c->tgid;
	e->fd = c->fd;
	e->sock_id = c->sock_id;
	e->local = c->local;
	e->peer = c->peer;
	e->dir = dir;
	e->ts_enter = g->now;
	e->ts_exit = g->now + g->syscall;
	e->ret = ret;
	e->cap_len = cap;
	e->truncated = ret > (long)cap;
	e->stream_off = c->pos[dir];
	memcpy(e + 1, data ? data : "", cap);
	if (type == EV_DATA && ret > 0)
		c->pos[dir] += ret;
	g->now += g->step;
	return e;
}

/* One record as the kernel side fills it, to the collector. */
static void emit_event(struct gen_conn *c, uint32_t type, int dir, const char *data,
		       size_t cap, long ret)
{
	static char buf[sizeof(struct sock_event) + GEN_MAX_DATA];
	struct sock_event *e = gen_record(c, buf, GEN_MAX_DATA, type, dir, data, cap, ret);

	collector_handle(c->g->col, e, (const char *)(e + 1));
}

void gen_accept(struct gen_conn *c)
{
	emit_event(c, EV_ACCEPT, DIR_READ, NULL, 0, c->fd);
}

void gen_connect(struct gen_conn *c)
{
	emit_event(c, EV_CONNECT, DIR_WRITE, NULL, 0, 0);
}

void gen_data(struct gen_conn *c, int dir, const char *data, long ret)
{
	emit_event(c, EV_DATA, dir, data, data ? strlen(data) : 0, ret);
}

void gen_bytes(struct gen_conn *c, int dir, const void *data, size_t cap, long ret)
{
	emit_event(c, EV_DATA, dir, data, cap, ret);
}

void gen_read(struct gen_conn *c, const char *data)
{
	gen_data(c, DIR_READ, data, (long)strlen(data));
}

void gen_write(struct gen_conn *c, const char *data)
{
	gen_data(c, DIR_WRITE, data, (long)strlen(data));
}

void gen_read_at(struct gen_conn *c, double t_ms, const char *data)
{
	gen_at(c->g, (uint64_t)(t_ms * MS));
	gen_read(c, data);
}

void gen_write_at(struct gen_conn *c, double t_ms, const char *data)
{
	gen_at(c->g, (uint64_t)(t_ms * MS));
	gen_write(c, data);
}

void gen_eof(struct gen_conn *c)
{
	gen_data(c, DIR_READ, NULL, 0);
}

void gen_close(struct gen_conn *c)
{
	emit_event(c, EV_CLOSE, DIR_READ, NULL, 0, 0);
}

void gen_proc_exit(struct event_gen *g, uint32_t tgid)
{
	struct gen_conn c = { .g = g, .tgid = tgid, .fd = -1 };

	emit_event(&c, EV_PROC_EXIT, DIR_READ, NULL, 0, 0);
}

/* ---- the pipeline -------------------------------------------------- */

static void catch_row(void *ctx, const struct timeline_row *r)
{
	struct fixture *f = ctx;

	if (f->nrows < FIXTURE_MAX_ROWS)
		f->rows[f->nrows++] = *r;
}

#define OR(v, d) ((v) ? (v) : (d))

struct fixture *fixture_setup(const struct fixture_opts *opts)
{
	static const struct fixture_opts none;
	const struct fixture_opts *o = opts ? opts : &none;
	struct fixture *f = calloc(1, sizeof(*f));
	struct correlator_opts co = {
		.have_router = o->have_router,
		.linger_ns = OR(o->linger_ns, 100 * MS),
		.orphan_ns = OR(o->orphan_ns, 1000 * MS),
		.idle_ns = OR(o->idle_ns, 60000 * MS),
		.max_exchanges = OR(o->max_exchanges, 1000),
		.max_hop_records = OR(o->max_hop_records, 100),
		.emit = catch_row,
		.emit_ctx = f,
	};
	struct collector_opts col_o = {
		.body_limit = 65536,
		.max_conns = OR(o->max_conns, 64),
		.have_router = o->have_router,
	};
	struct server_hops_opts ho = { .on_hop = correlator_hop_sink, .max_rids = OR(o->max_rids, 100) };

	if (!f)
		abort();
	f->corr = correlator_new(&co);
	f->col = collector_new(&col_o, f->corr);
	ho.ctx = f->corr;
	f->hops = server_hops_new(&ho);
	if (!f->corr || !f->col || !f->hops)
		abort();
	f->gen = (struct event_gen){ .col = f->col, .now = MS, .step = MS, .syscall = 1000 };
	return f;
}

void fixture_teardown(struct fixture *f)
{
	if (!f)
		return;
	collector_free(f->col);
	correlator_free(f->corr);
	server_hops_free(f->hops);
	free(f);
}

const struct timeline_row *fixture_row(const struct fixture *f, const char *req_id)
{
	for (int i = 0; i < f->nrows; i++)
		if (!strcmp(f->rows[i].req_id, req_id))
			return &f->rows[i];
	return NULL;
}

void fixture_tick(struct fixture *f, uint64_t t)
{
	correlator_tick(f->corr, t);
}

const struct correlator_stats *fixture_corr_stats(const struct fixture *f)
{
	return correlator_stats(f->corr);
}

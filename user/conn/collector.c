// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A connection is (tgid, fd) plus the kernel's socket identity, so an fd
 * number reused for a new socket starts a new connection. Which side of
 * HTTP a process is on (server or client) comes from accept/connect when
 * we saw them, else from the first bytes: reading a request line makes it
 * the server, writing one makes it the client. Until then bytes are
 * skipped (counted): we never guess a request boundary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conn/collector.h"
#include "proto/http_stream.h"
#include "proto/sse_parser.h"

enum conn_side { SIDE_UNKNOWN, SIDE_SERVER, SIDE_CLIENT, SIDE_IGNORED };

#define MAX_PENDING 8	/* requests awaiting their response (pipelining) */
#define CONN_BUCKETS 8192
#define ROLE_BUCKETS 256

struct conn {
	struct conn *hnext;
	struct conn *lru_prev, *lru_next;	/* lru_next = more recent */
	struct collector *col;
	uint32_t tgid;
	int32_t fd;
	uint64_t sock_id;
	struct sock_endpoint local, peer;
	enum conn_side side;
	enum proc_role role;
	struct http_stream req, resp;
	struct exchange *cur_req;		/* request being parsed */
	struct exchange *cur_resp;		/* response being parsed */
	struct exchange *pending[MAX_PENDING];	/* requests done, no response yet */
	int npending;
	struct sse_parser *sse;			/* while a stream is parsed */
	uint64_t piece_first, piece_last;	/* times of the piece being fed */
	uint64_t next_off[2];			/* stream offset expected next, per dir */
	bool off_known[2];
	/* tail of the last SSE event the kernel held back (EV_SSE_TAIL) */
	char *tail;
	uint32_t tail_len;
	bool tail_whole;			/* it holds the whole event */
};

struct role_ent {
	struct role_ent *next;
	uint32_t tgid;
	enum proc_role role;
};

struct collector {
	struct collector_opts o;
	struct correlator *corr;
	struct conn *conns[CONN_BUCKETS];
	struct conn *lru_old, *lru_new;
	uint32_t nconns;
	struct role_ent *roles[ROLE_BUCKETS];
	uint64_t last_ts;
	collector_exit_fn on_exit;
	void *on_exit_ctx;
	struct collector_stats st;
};

static const struct http_callbacks req_cbs, resp_cbs;

/* ---- roles --------------------------------------------------------- */

void collector_set_role(struct collector *col, uint32_t tgid, enum proc_role role)
{
	struct role_ent **pp = &col->roles[tgid % ROLE_BUCKETS];

	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->tgid == tgid) {
			if (role == ROLE_NONE) {
				struct role_ent *e = *pp;

				*pp = e->next;
				free(e);
			} else {
				(*pp)->role = role;
			}
			return;
		}
	}
	if (role == ROLE_NONE)
		return;
	*pp = calloc(1, sizeof(**pp));
	if (*pp) {
		(*pp)->tgid = tgid;
		(*pp)->role = role;
	}
}

enum proc_role collector_role(struct collector *col, uint32_t tgid)
{
	for (struct role_ent *e = col->roles[tgid % ROLE_BUCKETS]; e; e = e->next)
		if (e->tgid == tgid)
			return e->role;
	return ROLE_NONE;
}

/* ---- inference paths ----------------------------------------------- */

static bool is_inference(const char *method, const char *path)
{
	static const char *const paths[] = {
		"/generate", "/v1/completions", "/v1/chat/completions",
		"/v1/responses", "/v1/embeddings", "/encode", "/v1/rerank",
		"/classify", "/v1/classify",
	};
	size_t plen = strcspn(path, "?");

	if (strcmp(method, "POST"))
		return false;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (strlen(paths[i]) == plen && !strncmp(path, paths[i], plen))
			return true;
	return false;
}

/* ---- bodies -------------------------------------------------------- */

static void body_append(struct collector *col, struct body_buf *b,
			const char *p, size_t n)
{
	size_t room;

	if (b->len >= col->o.body_limit) {
		b->truncated = true;
		return;
	}
	room = col->o.body_limit - b->len;
	if (n > room) {
		n = room;
		b->truncated = true;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *d;

		while (cap < b->len + n)
			cap *= 2;
		if (cap > col->o.body_limit)
			cap = col->o.body_limit;
		d = realloc(b->data, cap);
		if (!d) {
			b->truncated = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void body_release(struct body_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* ---- connections --------------------------------------------------- */

static void lru_unlink(struct collector *col, struct conn *c)
{
	if (c->lru_prev)
		c->lru_prev->lru_next = c->lru_next;
	else
		col->lru_old = c->lru_next;
	if (c->lru_next)
		c->lru_next->lru_prev = c->lru_prev;
	else
		col->lru_new = c->lru_prev;
	c->lru_prev = c->lru_next = NULL;
}

static void lru_touch(struct collector *col, struct conn *c)
{
	if (col->lru_new == c)
		return;
	lru_unlink(col, c);
	c->lru_prev = col->lru_new;
	if (col->lru_new)
		col->lru_new->lru_next = c;
	else
		col->lru_old = c;
	col->lru_new = c;
}

static uint32_t conn_bucket(uint32_t tgid, int32_t fd)
{
	return ((uint64_t)tgid * 2654435761u ^ (uint32_t)fd) % CONN_BUCKETS;
}

static struct conn *conn_find(struct collector *col, uint32_t tgid, int32_t fd)
{
	for (struct conn *c = col->conns[conn_bucket(tgid, fd)]; c; c = c->hnext)
		if (c->tgid == tgid && c->fd == fd)
			return c;
	return NULL;
}

static void end_exchange(struct conn *c, struct exchange *ex, const char *why,
			 uint64_t ts)
{
	if (why && !ex->conn_error[0])
		snprintf(ex->conn_error, sizeof(ex->conn_error), "%s", why);
	ex->t_last = ts;
	correlator_exchange_done(c->col->corr, ex, ts);
}

/* The socket is gone: end what was in flight on it and free it. */
static void conn_close(struct collector *col, struct conn *c, uint64_t ts,
		       const char *why)
{
	struct conn **pp = &col->conns[conn_bucket(c->tgid, c->fd)];

	/* ends read-until-close bodies normally, cuts anything else short */
	if (c->side == SIDE_SERVER || c->side == SIDE_CLIENT) {
		http_stream_close(&c->req, ts);
		http_stream_close(&c->resp, ts);
	}
	if (c->cur_req) {
		c->cur_req->conn = NULL;
		end_exchange(c, c->cur_req, why, ts);
		c->cur_req = NULL;
	}
	for (int i = 0; i < c->npending; i++) {
		c->pending[i]->conn = NULL;
		end_exchange(c, c->pending[i], why, ts);
	}
	c->npending = 0;
	if (c->cur_resp) {
		c->cur_resp->conn = NULL;
		end_exchange(c, c->cur_resp, why, ts);
		c->cur_resp = NULL;
	}
	free(c->sse);
	free(c->tail);
	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	lru_unlink(col, c);
	col->nconns--;
	col->st.conns_closed++;
	free(c);
}

static struct conn *conn_open(struct collector *col, const struct sock_event *ev)
{
	struct conn *c;
	uint32_t b = conn_bucket(ev->tgid, ev->fd);

	if (col->nconns >= col->o.max_conns && col->lru_old) {
		col->st.conns_evicted++;
		conn_close(col, col->lru_old, ev->ts_exit, "evicted_memory_limit");
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->col = col;
	c->tgid = ev->tgid;
	c->fd = ev->fd;
	c->sock_id = ev->sock_id;
	c->local = ev->local;
	c->peer = ev->peer;
	c->role = collector_role(col, ev->tgid);
	c->hnext = col->conns[b];
	col->conns[b] = c;
	col->nconns++;
	col->st.conns_opened++;
	lru_touch(col, c);
	return c;
}

static void conn_set_side(struct conn *c, enum conn_side side)
{
	c->side = side;
	if (side == SIDE_CLIENT && c->role == ROLE_WORKER)
		c->side = SIDE_IGNORED;	/* a worker's own outbound calls */
	if (c->side == SIDE_SERVER || c->side == SIDE_CLIENT) {
		http_stream_init(&c->req, HTTP_REQUEST, &req_cbs, c);
		http_stream_init(&c->resp, HTTP_RESPONSE, &resp_cbs, c);
	}
}

/* Called by the correlator before it frees an exchange we still hold. */
static void detach_exchange(void *ctx, struct exchange *ex)
{
	struct conn *c = ex->conn;

	(void)ctx;
	if (!c)
		return;
	if (c->cur_req == ex)
		c->cur_req = NULL;
	if (c->cur_resp == ex)
		c->cur_resp = NULL;
	for (int i = 0; i < c->npending; i++) {
		if (c->pending[i] == ex) {
			memmove(&c->pending[i], &c->pending[i + 1],
				(c->npending - i - 1) * sizeof(c->pending[0]));
			c->npending--;
			break;
		}
	}
}

/* ---- request stream callbacks -------------------------------------- */

static enum exchange_kind kind_of(const struct conn *c)
{
	if (c->role == ROLE_ROUTER)
		return c->side == SIDE_SERVER ? EX_CLIENT_IN : EX_FORWARD;
	return EX_WORKER_IN;
}

static void req_begin(void *ctx, uint64_t ts)
{
	struct conn *c = ctx;
	struct exchange *ex;

	/* ts is of the piece holding the first byte, maybe an earlier one */
	if (c->cur_req)	/* previous one never ended: parser says why */
		end_exchange(c, c->cur_req, "request_cut_short", ts);
	ex = correlator_new_exchange(c->col->corr, kind_of(c), c->tgid,
				     &c->local, &c->peer, ts);
	if (!ex)
		return;
	ex->conn = c;
	c->cur_req = ex;
}

static void req_head(void *ctx, const struct http_head *h, uint64_t ts)
{
	struct conn *c = ctx;
	struct exchange *ex = c->cur_req;

	(void)ts;
	if (!ex)
		return;
	snprintf(ex->method, sizeof(ex->method), "%s", h->method);
	snprintf(ex->path, sizeof(ex->path), "%s", h->path);
	snprintf(ex->header_id, sizeof(ex->header_id), "%s", h->request_id);
	ex->req_bytes = h->head_len;
	if (!is_inference(h->method, h->path)) {
		ex->ignored = true;
		c->col->st.ignored_requests++;
	} else {
		c->col->st.requests++;
		if (ex->kind == EX_CLIENT_IN)
			c->col->st.client_requests++;
		else if (ex->kind == EX_FORWARD)
			c->col->st.forwards++;
		else
			c->col->st.worker_requests++;
	}
	if (!strcmp(h->method, "HEAD"))
		http_stream_expect_no_body(&c->resp);
}

static void req_body(void *ctx, const char *p, size_t n, uint64_t ts)
{
	struct conn *c = ctx;

	(void)ts;
	if (!c->cur_req)
		return;
	c->cur_req->req_bytes += n;
	if (!c->cur_req->ignored)
		body_append(c->col, &c->cur_req->req_body, p, n);
}

static void req_gap(void *ctx, size_t n, uint64_t ts)
{
	struct conn *c = ctx;

	(void)ts;
	if (!c->cur_req)
		return;
	c->cur_req->req_bytes += n;
	c->cur_req->req_body.truncated = true;
}

static void req_end(void *ctx, uint64_t ts, bool complete)
{
	struct conn *c = ctx;
	struct exchange *ex = c->cur_req;

	(void)ts;
	if (!ex)
		return;
	c->cur_req = NULL;
	ex->t_last = c->piece_last;
	ex->req_done = true;
	if (ex->req_body.truncated)
		c->col->st.body_truncated++;
	if (!ex->ignored && ex->req_body.len)
		request_fields_parse(ex->req_body.data, ex->req_body.len,
				     c->col->o.keep_text, &ex->req);
	body_release(&ex->req_body);	/* never kept past parsing */
	if (!complete) {
		end_exchange(c, ex, "request_cut_short", c->piece_last);
		return;
	}
	correlator_request_done(c->col->corr, ex);
	if (c->npending >= MAX_PENDING) {
		c->pending[0]->conn = NULL;
		end_exchange(c, c->pending[0], "too_many_pipelined", c->piece_last);
		memmove(&c->pending[0], &c->pending[1],
			(MAX_PENDING - 1) * sizeof(c->pending[0]));
		c->npending--;
	}
	c->pending[c->npending++] = ex;
}

/* ---- response stream callbacks ------------------------------------- */

/* Whether SSE events of this exchange must be parsed as JSON: the
 * client-facing side always; a worker behind a router only until the
 * first event told SGLang's id. */
static bool wants_event_json(const struct conn *c, const struct exchange *ex)
{
	if (ex->kind == EX_CLIENT_IN)
		return true;
	if (ex->kind == EX_WORKER_IN)
		return !c->col->o.corr.have_router || !ex->resp.sglang_id[0];
	return false;
}

static void on_sse_event(void *ctx, const struct sse_event *ev, uint64_t ts)
{
	struct conn *c = ctx;
	struct exchange *ex = c->cur_resp;
	int got = MERGE_TOKEN;

	(void)ts;
	if (!ex || ev->done)
		return;
	if (ev->truncated || ev->gap)
		c->col->st.sse_truncated++;
	if (!ex->t_first_event)
		ex->t_first_event = c->piece_first;
	ex->sse_events++;
	/* Tokens are counted where rows take them (the front side). An event
	 * may carry several (SGLang merges outputs under load): its growth of
	 * meta_info.completion_tokens says how many; OpenAI chunks count one
	 * each (their usage, if any, comes in a last chunk of its own). */
	if (wants_event_json(c, ex)) {
		long long before = ex->resp.completion_tokens;

		got = response_fields_merge(&ex->resp, ev->data, ev->data_len);
		if (got & MERGE_NATIVE && ex->resp.completion_tokens > before) {
			ex->sse_tokens += ex->resp.completion_tokens - (before > 0 ? before : 0);
			return;
		}
	}
	if (got & MERGE_TOKEN)
		ex->sse_tokens++;
}

static void resp_begin(void *ctx, uint64_t ts)
{
	struct conn *c = ctx;
	struct exchange *ex;

	if (!c->npending) {
		/* we joined after its request went by */
		c->col->st.midstream_requests++;
		c->cur_resp = NULL;
		return;
	}
	ex = c->pending[0];
	memmove(&c->pending[0], &c->pending[1], (c->npending - 1) * sizeof(c->pending[0]));
	c->npending--;
	c->cur_resp = ex;
	ex->resp_started = true;
	ex->t_resp_first = ts;
}

static void resp_head(void *ctx, const struct http_head *h, uint64_t ts)
{
	struct conn *c = ctx;
	struct exchange *ex = c->cur_resp;

	(void)ts;
	if (!ex)
		return;
	ex->status = h->status;
	snprintf(ex->reason, sizeof(ex->reason), "%s", h->reason);
	ex->event_stream = h->event_stream;
	ex->resp_bytes = h->head_len;
	ex->t_last = c->piece_last;
	if (ex->event_stream && !ex->ignored) {
		free(c->sse);
		c->sse = malloc(sizeof(*c->sse));
		if (c->sse)
			sse_parser_init(c->sse, on_sse_event, c);
	}
}

static void resp_body(void *ctx, const char *p, size_t n, uint64_t ts)
{
	struct conn *c = ctx;
	struct exchange *ex = c->cur_resp;

	(void)ts;
	if (!ex)
		return;
	ex->resp_bytes += n;
	ex->t_last = c->piece_last;
	if (ex->ignored)
		return;
	if (c->sse)
		sse_parser_feed(c->sse, p, n, ts);
	else
		body_append(c->col, &ex->resp_body, p, n);
}

static void resp_gap(void *ctx, size_t n, uint64_t ts)
{
	struct conn *c = ctx;
	struct exchange *ex = c->cur_resp;

	if (!ex)
		return;
	ex->resp_bytes += n;
	ex->resp_body.truncated = true;
	ex->resp_gap_seen = true;
	if (c->sse)
		sse_parser_gap(c->sse, n, ts);
}

/* Whole chunks of an SSE stream the kernel counted instead of sending. */
static void resp_skipped(void *ctx, size_t n, uint64_t ts)
{
	struct conn *c = ctx;
	struct exchange *ex = c->cur_resp;

	(void)n;	/* counted without the chunk framing: account_skipped_events() */
	if (!ex)
		return;
	ex->t_last = ts;
}

static void resp_end(void *ctx, uint64_t ts, bool complete)
{
	struct conn *c = ctx;
	struct exchange *ex = c->cur_resp;

	if (!ex)
		return;
	c->cur_resp = NULL;
	if (c->sse) {
		sse_parser_finish(c->sse, ts);
		free(c->sse);
		c->sse = NULL;
	}
	ex->t_resp_last = c->piece_last;
	ex->resp_complete = complete;
	/* cut short after bytes we did not see: maybe our framing, not theirs */
	if (!complete && ex->resp_gap_seen)
		ex->capture_lost = true;
	if (ex->resp_body.truncated)
		c->col->st.body_truncated++;
	if (!ex->ignored && ex->resp_body.len && ex->kind != EX_FORWARD)
		response_fields_merge(&ex->resp, ex->resp_body.data, ex->resp_body.len);
	body_release(&ex->resp_body);
	ex->conn = NULL;
	end_exchange(c, ex, complete || ex->capture_lost ? NULL : "incomplete_response",
		     c->piece_last);
}

static void req_desync(void *ctx, uint64_t ts)
{
	struct conn *c = ctx;

	(void)ts;
	c->col->st.desyncs++;
	if (c->cur_req)
		c->cur_req->capture_lost = true;
}

static void resp_desync(void *ctx, uint64_t ts)
{
	struct conn *c = ctx;

	(void)ts;
	c->col->st.desyncs++;
	if (c->cur_resp)
		c->cur_resp->capture_lost = true;
}

static const struct http_callbacks req_cbs = {
	.on_begin = req_begin, .on_head = req_head, .on_body = req_body,
	.on_body_gap = req_gap, .on_end = req_end, .on_desync = req_desync,
};

static const struct http_callbacks resp_cbs = {
	.on_begin = resp_begin, .on_head = resp_head, .on_body = resp_body,
	.on_body_gap = resp_gap, .on_body_skipped = resp_skipped, .on_end = resp_end, .on_desync = resp_desync,
};

/* ---- event handling ------------------------------------------------ */

static bool starts_with(const char *d, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	return n >= l && !memcmp(d, lit, l);
}

static bool looks_like_request(const char *d, size_t n)
{
	static const char *const methods[] = {
		"GET ", "POST ", "PUT ", "DELETE ", "HEAD ", "OPTIONS ", "PATCH ",
	};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (starts_with(d, n, methods[i]))
			return true;
	return false;
}

/* First bytes on a connection of unknown side. */
static void sniff_side(struct collector *col, struct conn *c,
		       const struct sock_event *ev, const char *data)
{
	bool req = looks_like_request(data, ev->cap_len);
	bool resp = starts_with(data, ev->cap_len, "HTTP/1.");

	if (starts_with(data, ev->cap_len, "PRI * HTTP/2.0")) {
		col->st.conns_h2++;
		c->side = SIDE_IGNORED;
		return;
	}
	if (req)
		conn_set_side(c, ev->dir == DIR_READ ? SIDE_SERVER : SIDE_CLIENT);
	else if (resp)
		conn_set_side(c, ev->dir == DIR_READ ? SIDE_CLIENT : SIDE_SERVER);
}

/* The SSE events the kernel held back: counted, and the kept tail of
 * the last one fed to the SSE parser (whole) or scanned for its token
 * counts (cut). Native SGLang streams then count by the tail's
 * meta_info.completion_tokens, OpenAI streams one token per event. */
static void account_skipped_events(struct conn *c, const struct sock_event *ev)
{
	struct exchange *ex = c->cur_resp;
	uint32_t unseen = ev->skip_events;

	if (!ex)
		goto out;
	ex->resp_bytes += ev->skip_bytes - ev->skip_framing;
	if (!c->sse)
		goto out;
	ex->sse_events += ev->skip_events;
	ex->t_last = ev->skip_ts;
	if (c->tail_len && c->tail_whole && unseen)
		unseen--;	/* fed below, counted as it is parsed */
	if (!(ex->resp.completion_tokens > 0 && wants_event_json(c, ex)))
		ex->sse_tokens += unseen;
	if (!c->tail_len)
		goto out;
	if (c->tail_whole) {
		sse_parser_feed(c->sse, c->tail, c->tail_len, ev->skip_ts);
	} else if (wants_event_json(c, ex)) {
		long long before = ex->resp.completion_tokens;

		response_fields_scan_tail(&ex->resp, c->tail, c->tail_len);
		if (before > 0 && ex->resp.completion_tokens > before)
			ex->sse_tokens += ex->resp.completion_tokens - before;
	}
	c->col->st.sse_tails++;
out:
	c->tail_len = 0;
}

/* What the kernel held back on this direction before this record. */
static void apply_skips(struct collector *col, struct conn *c, struct http_stream *s,
			const struct sock_event *ev, int dir)
{
	uint64_t expect = c->next_off[dir] + ev->skip_bytes;

	if (c->off_known[dir] && ev->stream_off > expect) {
		/* records lost on the way (ring buffer full): a real gap */
		col->st.stream_gaps++;
		http_stream_feed(s, NULL, 0, ev->stream_off - expect, ev->ts_enter);
	}
	if (ev->skip_calls) {
		col->st.skipped_calls += ev->skip_calls;
		c->piece_first = c->piece_last = ev->skip_ts;
		if ((ev->flags & SEF_SKIP_ALIGNED) &&
		    http_stream_skip_chunks(s, ev->skip_bytes, ev->skip_ts)) {
			if (s == &c->resp)
				account_skipped_events(c, ev);
		} else {
			col->st.skips_unaligned++;
			http_stream_feed(s, NULL, 0, ev->skip_bytes, ev->skip_ts);
		}
	}
	c->tail_len = 0;
	c->off_known[dir] = true;
	c->next_off[dir] = ev->stream_off + (ev->ret > 0 ? (uint64_t)ev->ret : 0);
}

/* EV_SSE_TAIL: kept until the record that ends the skipping. */
static void keep_tail(struct conn *c, const struct sock_event *ev, const char *data)
{
	const char *p = data;
	uint32_t n = ev->cap_len;

	if (!c->tail)
		c->tail = malloc(SSE_TAIL_MAX);
	if (!c->tail || n > SSE_TAIL_MAX)
		return;
	/* whole: the tail starts at the call's chunk-size line */
	c->tail_whole = ev->cap_off == 0;
	if (c->tail_whole) {
		const char *nl = memchr(p, '\n', n);

		if (!nl)
			return;
		n -= nl + 1 - p;
		p = nl + 1;
	}
	memcpy(c->tail, p, n);
	c->tail_len = n;
}

static void handle_data(struct collector *col, struct conn *c,
			const struct sock_event *ev, const char *data)
{
	struct http_stream *s;
	bool reqdir;
	int dir = ev->dir & 1;

	if (c->side == SIDE_SERVER || c->side == SIDE_CLIENT) {
		reqdir = (c->side == SIDE_SERVER) == (ev->dir == DIR_READ);
		apply_skips(col, c, reqdir ? &c->req : &c->resp, ev, dir);
	} else {
		c->next_off[dir] = ev->stream_off + (ev->ret > 0 ? (uint64_t)ev->ret : 0);
	}
	if (ev->flags & SEF_FLUSH)
		return;
	if (ev->ret == 0) {	/* EOF: the peer closed its side */
		if (c->side == SIDE_SERVER && (c->cur_req || c->npending || c->cur_resp))
			col->st.client_aborts++;
		if (c->side == SIDE_SERVER || c->side == SIDE_CLIENT) {
			const char *why = c->side == SIDE_SERVER ? "client_aborted"
								 : "connection_closed_by_peer";

			http_stream_close(c->side == SIDE_SERVER ? &c->req : &c->resp,
					  ev->ts_exit);
			if (c->side == SIDE_SERVER) {
				for (int i = 0; i < c->npending; i++)
					snprintf(c->pending[i]->conn_error,
						 sizeof(c->pending[i]->conn_error), "%s", why);
				if (c->cur_resp && !c->cur_resp->conn_error[0])
					snprintf(c->cur_resp->conn_error,
						 sizeof(c->cur_resp->conn_error), "%s", why);
			}
		}
		return;
	}
	if (ev->ret < 0) {
		col->st.io_errors++;
		if (c->cur_resp && !c->cur_resp->conn_error[0])
			snprintf(c->cur_resp->conn_error, sizeof(c->cur_resp->conn_error),
				 "connection_reset");
		for (int i = 0; i < c->npending; i++)
			if (!c->pending[i]->conn_error[0])
				snprintf(c->pending[i]->conn_error,
					 sizeof(c->pending[i]->conn_error), "connection_reset");
		return;
	}
	col->st.data_events++;
	col->st.bytes += ev->ret;
	if (c->side == SIDE_UNKNOWN)
		sniff_side(col, c, ev, data);
	if (c->side == SIDE_UNKNOWN) {
		col->st.skipped_bytes += ev->ret;
		return;
	}
	if (c->side == SIDE_IGNORED)
		return;
	/* Reads count when the bytes were in hand (exit), writes when the
	 * process handed them over (enter); the last byte is out at exit. */
	c->piece_first = ev->dir == DIR_READ ? ev->ts_exit : ev->ts_enter;
	c->piece_last = ev->ts_exit;
	reqdir = (c->side == SIDE_SERVER) == (ev->dir == DIR_READ);
	s = reqdir ? &c->req : &c->resp;
	http_stream_feed(s, data, ev->cap_len, (size_t)ev->ret, c->piece_first);
}

static void handle_proc_exit(struct collector *col, uint32_t tgid, uint64_t ts)
{
	col->st.proc_exits++;
	for (uint32_t b = 0; b < CONN_BUCKETS; b++) {
		struct conn *c = col->conns[b], *next;

		for (; c; c = next) {
			next = c->hnext;
			if (c->tgid == tgid)
				conn_close(col, c, ts, "process_exited");
		}
	}
	collector_set_role(col, tgid, ROLE_NONE);
	if (col->on_exit)
		col->on_exit(col->on_exit_ctx, tgid);
}

void collector_handle(struct collector *col, const struct sock_event *ev,
		      const char *data)
{
	struct conn *c;

	col->st.events++;
	if (ev->ts_exit > col->last_ts)
		col->last_ts = ev->ts_exit;
	if (ev->type == EV_PROC_EXIT) {
		handle_proc_exit(col, ev->tgid, ev->ts_exit);
		return;
	}
	if (collector_role(col, ev->tgid) == ROLE_NONE)
		return;	/* an exit raced the map update */
	c = conn_find(col, ev->tgid, ev->fd);
	if (c && c->sock_id != ev->sock_id && ev->sock_id) {
		/* the fd now names another socket: we missed a close */
		col->st.fd_reused++;
		conn_close(col, c, ev->ts_enter, "connection_closed");
		c = NULL;
	}
	if (ev->type == EV_CLOSE) {
		if (c)
			conn_close(col, c, ev->ts_enter, "connection_closed");
		return;
	}
	if (!c) {
		c = conn_open(col, ev);
		if (!c)
			return;
	}
	lru_touch(col, c);
	switch (ev->type) {
	case EV_ACCEPT:
		if (c->side == SIDE_UNKNOWN)
			conn_set_side(c, SIDE_SERVER);
		break;
	case EV_CONNECT:
		c->peer = ev->peer;
		c->local = ev->local;
		if (c->side == SIDE_UNKNOWN)
			conn_set_side(c, SIDE_CLIENT);
		break;
	case EV_SSE_TAIL:
		keep_tail(c, ev, data);
		break;
	case EV_DATA:
		/* a connect in progress had no local port yet */
		if (!c->local.port)
			c->local = ev->local;
		handle_data(col, c, ev, data);
		break;
	}
}

/* ---- lifetime ------------------------------------------------------ */

struct collector *collector_new(const struct collector_opts *opts)
{
	struct collector *col = calloc(1, sizeof(*col));
	struct correlator_opts co;

	if (!col)
		return NULL;
	col->o = *opts;
	co = opts->corr;
	co.detach = detach_exchange;
	col->corr = correlator_new(&co);
	if (!col->corr) {
		free(col);
		return NULL;
	}
	return col;
}

void collector_tick(struct collector *col, uint64_t now)
{
	correlator_tick(col->corr, now);
}

void collector_flush(struct collector *col)
{
	while (col->lru_old)
		conn_close(col, col->lru_old, col->last_ts, "in_flight_at_exit");
	correlator_flush(col->corr);
}

void collector_free(struct collector *col)
{
	if (!col)
		return;
	while (col->lru_old)
		conn_close(col, col->lru_old, col->last_ts, NULL);
	correlator_free(col->corr);
	for (uint32_t b = 0; b < ROLE_BUCKETS; b++) {
		while (col->roles[b]) {
			struct role_ent *e = col->roles[b];

			col->roles[b] = e->next;
			free(e);
		}
	}
	free(col);
}

const struct collector_stats *collector_stats(struct collector *col)
{
	return &col->st;
}

struct correlator *collector_correlator(struct collector *col)
{
	return col->corr;
}

uint64_t collector_last_ts(struct collector *col)
{
	return col->last_ts;
}

void collector_on_exit(struct collector *col, collector_exit_fn fn, void *ctx)
{
	col->on_exit = fn;
	col->on_exit_ctx = ctx;
}

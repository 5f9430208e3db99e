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
#include "conn/conn.h"
#include "conn/endpoint.h"
#include "conn/grpc_calls.h"
#include "conn/http_sniff.h"
#include "conn/inference_path.h"
#include "conn/sse_tokens.h"
#include "proto/h2.h"
#include "proto/http_stream.h"
#include "proto/sse_parser.h"
#include "util/str.h"

static const struct http_callbacks req_cbs, resp_cbs;

void collector_set_role(struct collector *col, uint32_t tgid, enum proc_role role)
{
	roles_set(&col->roles, tgid, role);
}

enum proc_role collector_role(struct collector *col, uint32_t tgid)
{
	return roles_get(&col->roles, tgid);
}

/* ---- connections --------------------------------------------------- */

static struct hlist_head *conn_chain(struct collector *col, uint32_t tgid, int32_t fd)
{
	return &col->conns[((uint64_t)tgid * 2654435761u ^ (uint32_t)fd) % CONN_BUCKETS];
}

static struct conn *conn_find(struct collector *col, uint32_t tgid, int32_t fd)
{
	struct hlist_node *pos, *tmp;

	hlist_for_each_safe(pos, tmp, conn_chain(col, tgid, fd)) {
		struct conn *c = container_of(pos, struct conn, hn);

		if (c->tgid == tgid && c->fd == fd)
			return c;
	}
	return NULL;
}

static struct conn *conn_oldest(struct collector *col)
{
	return list_first_or_null(&col->lru, struct conn, lru);
}

/* Sets why ex failed unless something said so before. */
void conn_note_error(struct exchange *ex, const char *why)
{
	if (why && !ex->conn_error[0])
		str_copy(ex->conn_error, sizeof(ex->conn_error), why);
}

void conn_end_exchange(struct conn *c, struct exchange *ex, const char *why,
		       uint64_t ts)
{
	conn_note_error(ex, why);
	ex->t_last = ts;
	exchange_sink_exchange_done(&c->col->sink, ex, ts);
}

/* The socket is gone: end what was in flight on it and free it. */
static void conn_close(struct collector *col, struct conn *c, uint64_t ts,
		       const char *why)
{
	/* ends read-until-close bodies normally, cuts anything else short */
	if (c->side == SIDE_SERVER || c->side == SIDE_CLIENT) {
		http_stream_close(&c->req, ts);
		http_stream_close(&c->resp, ts);
	}
	if (c->cur_req) {
		c->cur_req->conn = NULL;
		conn_end_exchange(c, c->cur_req, why, ts);
		c->cur_req = NULL;
	}
	for (int i = 0; i < c->npending; i++) {
		c->pending[i]->conn = NULL;
		conn_end_exchange(c, c->pending[i], why, ts);
	}
	c->npending = 0;
	if (c->cur_resp) {
		c->cur_resp->conn = NULL;
		conn_end_exchange(c, c->cur_resp, why, ts);
		c->cur_resp = NULL;
	}
	if (c->h2) {
		grpc_calls_close(c->h2, why, ts);
		grpc_calls_free(c->h2);
	}
	free(c->sse);
	free(c->tail);
	hlist_del(&c->hn);
	list_del(&c->lru);
	col->nconns--;
	col->st.conns_closed++;
	free(c);
}

static struct conn *conn_open(struct collector *col, const struct sock_event *ev)
{
	struct conn *c;

	if (col->nconns >= col->o.max_conns && conn_oldest(col)) {
		col->st.conns_evicted++;
		conn_close(col, conn_oldest(col), ev->ts_exit, "evicted_memory_limit");
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->col = col;
	c->tgid = ev->tgid;
	c->fd = ev->fd;
	c->sock_id = ev->sock_id;
	c->local = endpoint_normal(&ev->local);
	c->peer = endpoint_normal(&ev->peer);
	c->role = collector_role(col, ev->tgid);
	hlist_add_head(&c->hn, conn_chain(col, ev->tgid, ev->fd));
	list_add_tail(&c->lru, &col->lru);
	col->nconns++;
	col->st.conns_opened++;
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
	if (c->h2)
		grpc_calls_detach(c->h2, ex);
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
		conn_end_exchange(c, c->cur_req, "request_cut_short", ts);
	ex = exchange_sink_new_exchange(&c->col->sink, kind_of(c), c->tgid,
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
	str_copy(ex->method, sizeof(ex->method), h->method);
	str_copy(ex->path, sizeof(ex->path), h->path);
	str_copy(ex->header_id, sizeof(ex->header_id), h->request_id);
	ex->req_bytes = h->head_len;
	if (!inference_path_match(h->method, h->path)) {
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
	exchange_sink_request_head(&c->col->sink, ex);
}

/* A forward that carries a request id is matched by it alone (the
 * correlator indexes it by nothing else): its body is not parsed. */
static bool body_scanned(const struct exchange *ex)
{
	return !ex->ignored && !(ex->kind == EX_FORWARD && ex->header_id[0]);
}

static void req_body(void *ctx, const char *p, size_t n, uint64_t ts)
{
	struct conn *c = ctx;

	(void)ts;
	if (!c->cur_req)
		return;
	c->cur_req->req_bytes += n;
	if (body_scanned(c->cur_req))
		body_buf_append_req(&c->cur_req->req_body, p, n, c->col->o.body_limit);
	else if (!c->cur_req->ignored)	/* never parsed: counted, not kept */
		body_buf_count(&c->cur_req->req_body, n, c->col->o.body_limit);
}

static void req_gap(void *ctx, size_t n, uint64_t ts)
{
	struct conn *c = ctx;

	(void)ts;
	if (!c->cur_req)
		return;
	c->cur_req->req_bytes += n;
	body_buf_gap(&c->cur_req->req_body, body_scanned(c->cur_req));
}

/* A body over --body-limit (or not all captured) is not parsed whole:
 * its rid comes from the streaming scan. One the scan could not find
 * because bytes were missing is counted, unless a header named it. */
static void req_body_rid(struct collector *col, struct exchange *ex)
{
	bool lost;
	const char *rid;

	if (!body_scanned(ex) || !ex->req_body.truncated || ex->req.rid[0])
		return;
	rid = body_buf_rid(&ex->req_body, &lost);
	if (rid) {
		str_copy(ex->req.rid, sizeof(ex->req.rid), rid);
		col->st.body_rids_scanned++;
	} else if (lost && !ex->header_id[0]) {
		col->st.body_ids_lost++;
	}
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
	/* A forward that carries a request id is matched by it alone (the
	 * correlator indexes it by nothing else): its body is not parsed. */
	if (!ex->ignored && ex->req_body.len && !(ex->kind == EX_FORWARD && ex->header_id[0]))
		request_fields_parse(ex->req_body.data, ex->req_body.len,
				     c->col->o.keep_text, &ex->req);
	req_body_rid(c->col, ex);
	body_buf_release(&ex->req_body);	/* never kept past parsing */
	if (!complete) {
		conn_end_exchange(c, ex, "request_cut_short", c->piece_last);
		return;
	}
	exchange_sink_request_done(&c->col->sink, ex);
	if (c->npending >= MAX_PENDING) {
		c->pending[0]->conn = NULL;
		conn_end_exchange(c, c->pending[0], "too_many_pipelined", c->piece_last);
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
		return !c->col->o.have_router || !ex->resp.sglang_id[0];
	return false;
}

static void on_sse_event(void *ctx, const struct sse_event *ev, uint64_t ts)
{
	struct conn *c = ctx;
	struct exchange *ex = c->cur_resp;

	(void)ts;
	if (!ex || ev->done)
		return;
	if (ev->truncated || ev->gap)
		c->col->st.sse_truncated++;
	if (!ex->t_first_event)
		ex->t_first_event = c->piece_first;
	ex->sse_events++;
	sse_tokens_count(ex, ev, wants_event_json(c, ex));
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
	str_copy(ex->reason, sizeof(ex->reason), h->reason);
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
	else if (ex->kind == EX_FORWARD)	/* never parsed: counted, not kept */
		body_buf_count(&ex->resp_body, n, c->col->o.body_limit);
	else
		body_buf_append(&ex->resp_body, p, n, c->col->o.body_limit);
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
	body_buf_release(&ex->resp_body);
	ex->conn = NULL;
	conn_end_exchange(c, ex, complete || ex->capture_lost ? NULL : "incomplete_response",
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

/* An HTTP/2 connection: its gRPC calls become exchanges. A worker's own
 * outbound calls (the servicer's warm-up client) are not requests. */
static void start_h2(struct conn *c, bool server, bool from_start)
{
	c->side = SIDE_IGNORED;
	if (!server && c->role == ROLE_WORKER)
		return;
	c->h2 = grpc_calls_new(c, server, from_start);
	if (c->h2)
		c->side = SIDE_H2;
}

/* The first bytes of a connection whose start we saw (accept, connect):
 * the client's preface, or a gRPC server's SETTINGS, which it may write
 * (and its client read) before the preface went by. */
static bool sniff_h2_start(struct collector *col, struct conn *c,
			   const struct sock_event *ev, const char *data)
{
	bool read = ev->dir == DIR_READ;

	if (http_sniff(data, ev->cap_len) == SNIFF_H2) {
		col->st.conns_h2++;
		start_h2(c, read, true);
		return true;
	}
	/* the server's direction speaks first: not HTTP/1.x */
	if ((c->side == SIDE_SERVER) != read &&
	    grpc_calls_settings_start(data, ev->cap_len)) {
		col->st.conns_h2++;
		start_h2(c, c->side == SIDE_SERVER, true);
		return true;
	}
	return false;
}

/* First bytes on a connection of unknown side. */
static void sniff_side(struct collector *col, struct conn *c,
		       const struct sock_event *ev, const char *data)
{
	bool read = ev->dir == DIR_READ;

	switch (http_sniff(data, ev->cap_len)) {
	case SNIFF_H2:
		col->st.conns_h2++;
		start_h2(c, read, true);
		break;
	case SNIFF_REQUEST:
		conn_set_side(c, read ? SIDE_SERVER : SIDE_CLIENT);
		break;
	case SNIFF_RESPONSE:
		conn_set_side(c, read ? SIDE_CLIENT : SIDE_SERVER);
		break;
	case SNIFF_UNKNOWN:
		/* attached mid-connection: HTTP/2 frame heads (text never
		 * passes the length check), a router being gRPC's client */
		if (c->role != ROLE_NONE && grpc_calls_sniff(data, ev->cap_len)) {
			col->st.conns_h2_midway++;
			start_h2(c, c->role == ROLE_WORKER, false);
		}
		break;
	}
}

/* An HTTP/2 connection's bytes, with what the kernel lost before them. */
static void feed_h2(struct collector *col, struct conn *c, const struct sock_event *ev,
		    const char *data, int dir)
{
	uint64_t expect = c->next_off[dir] + ev->skip_bytes;
	bool read = ev->dir == DIR_READ;

	if (c->off_known[dir] && ev->stream_off > expect) {
		col->st.stream_gaps++;
		grpc_calls_feed(c->h2, read, NULL, 0, ev->stream_off - expect, ev->ts_enter);
	}
	if (ev->skip_calls) {	/* whole frames the kernel held back */
		col->st.skipped_calls += ev->skip_calls;
		grpc_calls_skip(c->h2, read, ev->skip_bytes, ev->flags & SEF_SKIP_ALIGNED,
				ev->skip_ts);
	}
	c->off_known[dir] = true;
	c->next_off[dir] = ev->stream_off + (ev->ret > 0 ? (uint64_t)ev->ret : 0);
	if ((ev->flags & SEF_FLUSH) || ev->ret <= 0)
		return;
	c->piece_first = read ? ev->ts_exit : ev->ts_enter;
	c->piece_last = ev->ts_exit;
	grpc_calls_feed(c->h2, read, data, ev->cap_len, (size_t)ev->ret, c->piece_first);
}

/* EOF: the peer closed its side. */
static void handle_eof(struct collector *col, struct conn *c, uint64_t ts)
{
	bool server = c->side == SIDE_SERVER;
	const char *why = server ? "client_aborted" : "connection_closed_by_peer";

	if (server && (c->cur_req || c->npending || c->cur_resp))
		col->st.client_aborts++;
	if (!server && c->side != SIDE_CLIENT)
		return;
	http_stream_close(server ? &c->req : &c->resp, ts);
	if (!server)
		return;
	for (int i = 0; i < c->npending; i++)
		snprintf(c->pending[i]->conn_error, sizeof(c->pending[i]->conn_error),
			 "%s", why);
	if (c->cur_resp)
		conn_note_error(c->cur_resp, why);
}

/* A failed read or write: what waits on the connection was reset. */
static void handle_io_error(struct collector *col, struct conn *c)
{
	col->st.io_errors++;
	if (c->cur_resp)
		conn_note_error(c->cur_resp, "connection_reset");
	for (int i = 0; i < c->npending; i++)
		conn_note_error(c->pending[i], "connection_reset");
}

/* A [DONE] chunk whose head a partial write cut within its first bytes
 * (at plen, the join): the kernel, seeing no "data: [", counted it as an
 * event (chunk_head_parse() in bpf/sock_stream.h). */
static bool done_cut_at_join(const char *p, uint32_t plen, uint32_t n)
{
	static const struct { const char *s; uint32_t len, seen; } done[] = {
		{ "data: [DONE]", 12, 7 }, { "data:[DONE]", 11, 6 },
	};

	for (int i = 0; i < 2; i++)
		for (uint32_t seen = 0; seen < done[i].seen && seen + 2 <= plen; seen++) {
			uint32_t at = plen - seen;

			if (at + done[i].len <= n && !memcmp(p + at, done[i].s, done[i].len) &&
			    p[at - 2] == '\r' && p[at - 1] == '\n')
				return true;
		}
	return false;
}

/* The SSE bytes of a whole tail without the chunk-size line of `size`
 * they end with ("\r\n70" once chunk_payload() took its CRLF for the
 * chunk's): the chunk's data is all in the record that follows, and the
 * digits would run into its first line. */
static uint32_t size_line_cut(const char *p, uint32_t n, uint32_t size)
{
	uint32_t i = n, v = 0;

	while (i > 0 && n - i < 9 && p[i - 1] != '\n')
		i--;
	if (i == n || i == 0 || p[i - 1] != '\n')
		return n;
	for (uint32_t j = i; j < n; j++) {
		int d = str_hex_digit(p[j]);

		if (d < 0)
			return n;
		v = v * 16 + d;
	}
	return v == size ? i : n;
}

/* The bytes up to the end of the first event in p[0..n) (its blank
 * line), all n if it does not end there: what the parser, resynced, will
 * drop; the events after it it parses. Past the chunk the held call left
 * when a proxy re-chunked the stream (the event goes on in the next
 * chunk, its size line read through: it holds no count). */
static uint32_t event_end(const char *p, uint32_t n)
{
	for (uint32_t i = 0; i + 1 < n; i++)
		if (p[i] == '\n' && p[i + 1] == '\n')
			return i + 2;
	return n;
}

/* The record's first bytes with the chunk framing where the held chunk
 * ends taken out (left: the chunk's bytes to the next size line, its
 * CRLF included), so a number a proxy's re-chunking cut there reads
 * whole. At most max bytes. */
static uint32_t rest_unchunked(const char *p, uint32_t n, uint32_t left, char *out, uint32_t max)
{
	uint32_t k, i = left, data = left >= 2 ? left - 2 : 0;

	/* left 0: the record starts at a size line */
	if (left > n || (left >= 2 && memcmp(p + data, "\r\n", 2)) || (left == 1 && p[0] != '\n')) {
		data = i = 0;	/* not where the kernel said: as it is */
	} else {
		const char *nl = memchr(p + left, '\n', n - left < 12 ? n - left : 12);

		i = nl ? (uint32_t)(nl + 1 - p) : left;	/* past the next size line */
	}
	k = data < max ? data : max;
	memcpy(out, p, k);
	if (i < n && k < max) {
		uint32_t m = n - i < max - k ? n - i : max - k;

		memcpy(out + k, p + i, m);
		k += m;
	}
	return k;
}

/* Scans p for token counts with the chunk framing inside taken out
 * ("\r\n27\r\n": SSE JSON has no raw CRLF), so a key or a number a
 * proxy's re-chunking cut reads whole. */
static void scan_unframed(struct response_fields *rf, const char *p, uint32_t n)
{
	char buf[2 * SSE_TAIL_MAX + 128];
	uint32_t i = 0, k = 0;

	if (n > sizeof(buf))
		n = sizeof(buf);
	while (i < n) {
		uint32_t j = i + 2;

		if (p[i] == '\r' && j < n && p[i + 1] == '\n') {
			while (j < n && j - i - 2 < 8 && str_hex_digit(p[j]) >= 0)
				j++;
			if (j > i + 2 && j + 1 < n && p[j] == '\r' && p[j + 1] == '\n') {
				i = j + 2;	/* a chunk's end and the next size line */
				continue;
			}
		}
		buf[k++] = p[i++];
	}
	response_fields_scan_tail(rf, buf, k);
}

/* Counts in the bytes a held-back event ends with, after what the tail
 * scan saw of it: the rest a record carries of the chunk the last held
 * call left (a partial write's rest, sent with the stream's end), and the
 * join of the two, where a number may be cut in two. */
static void scan_rest(struct response_fields *rf, const char *tail, uint32_t tail_len,
		      const char *rest, uint32_t n)
{
	char join[128];
	uint32_t a, b = n < 64 ? n : 64;

	/* a held call that ended with its chunk (its CRLF): the event goes
	 * on in the record's next chunk, read without it */
	if (tail_len >= 2 && tail[tail_len - 2] == '\r' && tail[tail_len - 1] == '\n')
		tail_len -= 2;
	a = tail_len < 64 ? tail_len : 64;
	memcpy(join, tail + tail_len - a, a);
	memcpy(join + a, rest, b);
	scan_unframed(rf, join, a + b);
	scan_unframed(rf, rest, n);
}

/* The SSE events the kernel held back: counted, and what keep_tail()
 * kept of the last held calls fed to the SSE parser from its first event
 * on (each event counts itself as it is parsed), the bytes before only
 * scanned for token counts (with the rest of their event, when this
 * record carries it). The rest count blind: native SGLang streams by the
 * tail's meta_info.completion_tokens, OpenAI streams one token per event
 * (what is parsed is not counted blind: the closing chunk, finish_reason
 * and no content, comes right before the usage chunk, in the same call
 * or the one before). An event whose start was sent but whose rest was
 * held back counts too. */
static void account_skipped_events(struct conn *c, const struct sock_event *ev,
				   const char *data)
{
	struct exchange *ex = c->cur_resp;
	uint32_t unseen = ev->skip_events, parsed;
	bool whole = c->tail_scan < c->tail_len, native;
	long long first_count = 0;

	if (!ex)
		goto out;
	ex->resp_bytes += ev->skip_bytes - ev->skip_framing;
	if (!c->sse)
		goto out;
	if (sse_parser_skip(c->sse))
		unseen++;
	ex->t_last = ev->skip_ts;
	native = ex->resp.completion_tokens > 0 && wants_event_json(c, ex);
	parsed = ex->sse_events;
	if (c->tail_scan && wants_event_json(c, ex)) {
		long long before = ex->resp.completion_tokens;

		scan_unframed(&ex->resp, c->tail, c->tail_scan);
		/* an event cut at the tail's end goes on in this record (the
		 * parser, resynced, drops it), in the chunk the held call left
		 * or, re-chunked by a proxy, in the next */
		if (!whole && !ev->cap_off && ev->cap_len) {
			char rest[2048];
			uint32_t n = rest_unchunked(data, ev->cap_len, ev->skip_chunk_left, rest,
						    sizeof(rest));

			scan_rest(&ex->resp, c->tail, c->tail_len, rest, event_end(rest, n));
		}
		if (before > 0 && ex->resp.completion_tokens > before)
			ex->sse_tokens += ex->resp.completion_tokens - before;
		else if (before <= 0 && ex->resp.completion_tokens > 0)
			first_count = ex->resp.completion_tokens;
	}
	if (whole && ev->skip_chunk_left > 2)
		c->tail_len = c->tail_scan + size_line_cut(c->tail + c->tail_scan,
							   c->tail_len - c->tail_scan,
							   ev->skip_chunk_left - 2);
	if (whole)
		sse_parser_feed(c->sse, c->tail + c->tail_scan, c->tail_len - c->tail_scan,
				ev->skip_ts);
	/* the tail's events may be the first native ones parsed (the first
	 * event's end was held back): they counted their tokens, the rest
	 * are not counted blind */
	native = native || (ex->sse_native && wants_event_json(c, ex));
	/* no count before the skip (the first event's end was held back):
	 * the first one the tail showed, once its events say native */
	if (native && first_count > 0)
		ex->sse_tokens += first_count;
	parsed = ex->sse_events - parsed + c->tail_done_cut;
	if (ev->skip_chunk_left && !ev->cap_off && ev->cap_len && c->tail_len) {
		/* the last held call ended inside "data: [DONE]", this record
		 * goes on with it: the kernel counted it as an event */
		char join[32];
		uint32_t a = c->tail_len < 16 ? c->tail_len : 16, b = ev->cap_len < 16 ? ev->cap_len : 16;

		memcpy(join, c->tail + c->tail_len - a, a);
		memcpy(join + a, data, b);
		parsed += done_cut_at_join(join, a, a + b);
	}
	unseen = unseen > parsed ? unseen - parsed : 0;
	ex->sse_events += unseen;
	if (!native)
		ex->sse_tokens += unseen;
	/* OpenAI streams: the first event sent is the role-only one, the
	 * content came in what was held back (approximation: a held-back
	 * event not parsed is taken to carry text) */
	if (!native && unseen)
		ex->resp.has_text = true;
	/* a whole tail leads straight into what follows; else the next bytes
	 * may be the middle of an event */
	if (!whole)
		sse_parser_resync(c->sse);
	if (c->tail_len)
		c->col->st.sse_tails++;
out:
	c->tail_len = c->tail_scan = 0;
}

/* What the kernel held back on this direction before this record. */
static void apply_skips(struct collector *col, struct conn *c, struct http_stream *s,
			const struct sock_event *ev, const char *data, int dir)
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
		    http_stream_skip_chunks(s, ev->skip_bytes, ev->skip_ts, ev->skip_chunk_left)) {
			if (s == &c->resp)
				account_skipped_events(c, ev, data);
		} else {
			col->st.skips_unaligned++;
			http_stream_feed(s, NULL, 0, ev->skip_bytes, ev->skip_ts);
		}
	}
	c->tail_len = c->tail_scan = 0;
	c->off_known[dir] = true;
	c->next_off[dir] = ev->stream_off + (ev->ret > 0 ? (uint64_t)ev->ret : 0);
}

/* Chunked bytes from a chunk-size line, in place: the chunks' data
 * alone, the last chunk's as far as p goes; what follows a size line
 * that does not read kept as it is. Returns the new length; 0 if p does
 * not start with a size line. */
static uint32_t dechunk(char *p, uint32_t n)
{
	uint32_t i = 0, out = 0;

	while (i < n) {
		uint64_t size = 0;
		uint32_t j = i, m;

		while (j < n && j - i < 8 && str_hex_digit(p[j]) >= 0)
			size = size * 16 + str_hex_digit(p[j++]);
		if (j == i || j + 2 > n || p[j] != '\r' || p[j + 1] != '\n') {
			if (i == 0)
				return 0;
			memmove(p + out, p + i, n - i);	/* not a size line: as it is */
			return out + (n - i);
		}
		j += 2;
		m = size < n - j ? (uint32_t)size : n - j;
		memmove(p + out, p + j, m);
		out += m;
		i = j + m;
		/* the chunk's CRLF, maybe cut */
		if (i < n && p[i] == '\r')
			i++;
		if (i < n && p[i] == '\n')
			i++;
	}
	return out;
}

/* A whole call's SSE bytes: past its chunk-size line, without the
 * chunk's own CRLF. False if there is no size line. */
static bool chunk_payload(const char **p, uint32_t *n)
{
	const char *nl = memchr(*p, '\n', *n);

	if (!nl)
		return false;
	*n -= nl + 1 - *p;
	*p = nl + 1;
	if (*n >= 2 && (*p)[*n - 2] == '\r' && (*p)[*n - 1] == '\n')
		*n -= 2;
	return true;
}

/* In a cut tail, where the first chunk that starts an event begins (its
 * chunk-size line, after a CRLF); n if none. From there on the tail is
 * whole events, as a whole call is. */
static uint32_t first_event_chunk(const char *p, uint32_t n)
{
	for (uint32_t i = 0; i + 2 < n; i++) {
		uint32_t j = i + 2;

		if (p[i] != '\r' || p[i + 1] != '\n')
			continue;
		while (j < n && j - i - 2 < 8 && str_hex_digit(p[j]) >= 0)
			j++;
		if (j > i + 2 && j + 7 <= n && !memcmp(p + j, "\r\ndata:", 7))
			return i + 2;
	}
	return n;
}

/* A whole call's chunk whose bytes go on with an event, not start one
 * (a proxy re-chunks a stream anywhere: ": {" after an event's "data"):
 * *at, past its chunk-size line. */
static bool chunk_goes_on(const char *p, uint32_t n, uint32_t *at)
{
	const char *nl = memchr(p, '\n', n < 12 ? n : 12);
	uint32_t i;

	if (!nl)
		return false;
	i = nl + 1 - p;
	*at = i;
	if (i == n)
		return false;
	if (n - i >= 5 && !memcmp(p + i, "data:", 5))
		return false;
	if (n - i < 5 && !memcmp(p + i, "data:", n - i))
		return false;
	return !(n - i >= 6 && !memcmp(p + i, "event:", 6)) &&
	       !(n - i >= 3 && !memcmp(p + i, "id:", 3)) &&
	       !(n - i >= 6 && !memcmp(p + i, "retry:", 6));
}

/* EV_SSE_TAIL: kept until the record that ends the skipping. The data
 * holds the earlier call's tail (prev_len bytes, maybe none), then the
 * last one's. Both are read as one run when they join: both whole (each
 * the whole call, from a chunk-size line), or the last the whole call but
 * the rest of a chunk (a partial write's rest, maybe its CRLF alone).
 * Else the last one alone. A run that starts at a chunk-size line is fed
 * as events; one that does not, from its first event on, the bytes
 * before only scanned for their counts (the end of an event whose start
 * was not kept). */
static void keep_tail(struct conn *c, const struct sock_event *ev, const char *data)
{
	uint32_t plen = ev->prev_len, n = ev->cap_len, k, at;
	bool last_whole = ev->flags & SEF_TAIL_WHOLE, whole, joined = false;
	const char *p = data;

	c->tail_len = c->tail_scan = 0;
	c->tail_done_cut = false;
	if (!c->tail)
		c->tail = malloc(2 * SSE_TAIL_MAX);
	if (!c->tail || plen > ev->cap_len || plen > SSE_TAIL_MAX ||
	    ev->cap_len - plen > SSE_TAIL_MAX)
		return;
	if (plen && last_whole && chunk_goes_on(data + plen, n - plen, &at)) {
		/* a proxy's chunk that goes on with the event the earlier
		 * call's ended in: one run, the framing at the join taken
		 * out, so a number cut there reads whole */
		uint32_t pl = plen;

		if (pl >= 2 && data[pl - 2] == '\r' && data[pl - 1] == '\n')
			pl -= 2;
		memcpy(c->tail, data, pl);
		memcpy(c->tail + pl, data + plen + at, n - plen - at);
		n = pl + n - plen - at;
		p = c->tail;
		whole = ev->flags & SEF_PREV_WHOLE;
		joined = true;
	} else if (plen && (ev->flags & SEF_PREV_WHOLE) && last_whole) {
		whole = true;
	} else if (plen && !last_whole && ev->cap_off == 0) {
		whole = ev->flags & SEF_PREV_WHOLE;
		c->tail_done_cut = done_cut_at_join(data, plen, n);
	} else {
		p += plen;
		n -= plen;
		whole = last_whole;
	}
	k = whole ? 0 : first_event_chunk(p, n);
	memmove(c->tail, p, n);
	c->tail_len = n;
	c->tail_scan = k;
	if (k < n && !joined) {
		/* from a chunk-size line: the chunks' data alone (a proxy's
		 * chunk may end inside an event, its framing there would cut
		 * the event's line) */
		uint32_t m = dechunk(c->tail + k, n - k);

		if (m)
			c->tail_len = k + m;
		else
			c->tail_scan = c->tail_len;	/* no size line: scanned */
	} else if (k < n) {
		/* from the chunk-size line: the SSE bytes, framing between
		 * chunks left in (a line with no colon, ignored) */
		p = c->tail + k;
		n -= k;
		if (!chunk_payload(&p, &n)) {
			c->tail_scan = c->tail_len;	/* no size line: scanned */
			return;
		}
		memmove(c->tail + k, p, n);
		c->tail_len = k + n;
	}
}

static void handle_data(struct collector *col, struct conn *c,
			const struct sock_event *ev, const char *data)
{
	struct http_stream *s;
	bool reqdir;
	int dir = ev->dir & 1;

	if (!c->data_seen && ev->ret > 0 && !(ev->flags & SEF_FLUSH)) {
		c->data_seen = true;
		if ((c->side == SIDE_SERVER || c->side == SIDE_CLIENT) &&
		    sniff_h2_start(col, c, ev, data))
			c->off_known[0] = c->off_known[1] = false;
	}
	if (c->side == SIDE_H2) {
		if (ev->ret > 0 && !(ev->flags & SEF_FLUSH)) {
			col->st.data_events++;
			col->st.bytes += ev->ret;
		}
		feed_h2(col, c, ev, data, dir);
		return;
	}
	if (c->side == SIDE_SERVER || c->side == SIDE_CLIENT) {
		reqdir = (c->side == SIDE_SERVER) == (ev->dir == DIR_READ);
		apply_skips(col, c, reqdir ? &c->req : &c->resp, ev, data, dir);
	} else {
		c->next_off[dir] = ev->stream_off + (ev->ret > 0 ? (uint64_t)ev->ret : 0);
	}
	if (ev->flags & SEF_FLUSH)
		return;
	if (ev->ret == 0) {
		handle_eof(col, c, ev->ts_exit);
		return;
	}
	if (ev->ret < 0) {
		handle_io_error(col, c);
		return;
	}
	col->st.data_events++;
	col->st.bytes += ev->ret;
	if (c->side == SIDE_UNKNOWN)
		sniff_side(col, c, ev, data);
	if (c->side == SIDE_H2) {
		c->off_known[dir] = false;
		feed_h2(col, c, ev, data, dir);
		return;
	}
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
		struct hlist_node *pos, *tmp;

		hlist_for_each_safe(pos, tmp, &col->conns[b]) {
			struct conn *c = container_of(pos, struct conn, hn);

			if (c->tgid == tgid)
				conn_close(col, c, ts, "process_exited");
		}
	}
	collector_set_role(col, tgid, ROLE_NONE);
	if (col->on_exit)
		col->on_exit(col->on_exit_ctx, tgid);
}

/* The connection ev is about, opened if new; NULL when ev closed it. */
static struct conn *conn_for_event(struct collector *col, const struct sock_event *ev)
{
	struct conn *c = conn_find(col, ev->tgid, ev->fd);

	if (c && c->sock_id != ev->sock_id && ev->sock_id) {
		/* the fd now names another socket: we missed a close */
		col->st.fd_reused++;
		conn_close(col, c, ev->ts_enter, "connection_closed");
		c = NULL;
	}
	if (ev->type == EV_CLOSE) {
		if (c) {
			col->st.closes_seen++;
			conn_close(col, c, ev->ts_enter, "connection_closed");
		}
		return NULL;
	}
	if (!c)
		c = conn_open(col, ev);
	if (c)
		list_move_tail(&c->lru, &col->lru);
	return c;
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
	c = conn_for_event(col, ev);
	if (!c)
		return;
	switch (ev->type) {
	case EV_ACCEPT:
		if (c->side == SIDE_UNKNOWN)
			conn_set_side(c, SIDE_SERVER);
		break;
	case EV_CONNECT:
		c->peer = endpoint_normal(&ev->peer);
		c->local = endpoint_normal(&ev->local);
		if (c->side == SIDE_UNKNOWN)
			conn_set_side(c, SIDE_CLIENT);
		break;
	case EV_SSE_TAIL:
		keep_tail(c, ev, data);
		break;
	case EV_H2_SKIPS:
		if (c->side == SIDE_H2)
			grpc_calls_held(c->h2, ev->dir == DIR_READ, data, ev->cap_len, ev->ts_exit);
		break;
	case EV_DATA:
		/* a connect in progress had no local port yet */
		if (!c->local.port)
			c->local = endpoint_normal(&ev->local);
		handle_data(col, c, ev, data);
		break;
	}
}

/* ---- lifetime ------------------------------------------------------ */

struct collector *collector_new_sink(const struct collector_opts *opts,
				     const struct exchange_sink *sink)
{
	struct collector *col = calloc(1, sizeof(*col));

	if (!col)
		return NULL;
	col->o = *opts;
	col->sink = *sink;
	list_init(&col->lru);
	exchange_sink_set_holder(sink, detach_exchange, col);
	return col;
}

struct collector *collector_new(const struct collector_opts *opts,
				struct correlator *corr)
{
	struct exchange_sink sink = exchange_sink_correlator(corr);

	return collector_new_sink(opts, &sink);
}

static void close_all(struct collector *col, const char *why)
{
	struct conn *c;

	while ((c = conn_oldest(col)))
		conn_close(col, c, col->last_ts, why);
}

void collector_flush(struct collector *col)
{
	close_all(col, "in_flight_at_exit");
}

void collector_free(struct collector *col)
{
	if (!col)
		return;
	close_all(col, NULL);
	exchange_sink_set_holder(&col->sink, NULL, NULL);
	roles_clear(&col->roles);
	free(col);
}

const struct collector_stats *collector_stats(struct collector *col)
{
	return &col->st;
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

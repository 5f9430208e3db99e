// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* gRPC calls of one HTTP/2 connection as exchanges: see grpc_calls.h.
 * Times follow collector.c: a read counts when its bytes were in hand
 * (exit), a write when the process handed them over (enter). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conn/conn.h"
#include "conn/grpc_calls.h"
#include "proto/grpc.h"
#include "sock_h2.h"

struct grpc_call {
	uint32_t stream_id;		/* 0: free */
	struct exchange *ex;
	bool req_done;
	bool held;			/* the kernel held messages back since the last one seen */
	uint32_t held_msgs;		/* how many */
	uint32_t held_tokens;		/* their tokens, if vLLM's (the kernel read them) */
	uint32_t last_completion;	/* completion_tokens of the last message seen */
};

struct grpc_calls {
	struct grpc_conn g;
	struct conn *c;
	bool server;			/* the process serves gRPC: reads are the client's */
	struct grpc_call calls[GRPC_STREAMS];
};

/* ---- calls --------------------------------------------------------- */

static struct grpc_call *call_find(struct grpc_calls *gc, uint32_t id)
{
	for (int i = 0; i < GRPC_STREAMS; i++)
		if (gc->calls[i].stream_id == id && gc->calls[i].ex)
			return &gc->calls[i];
	return NULL;
}

static struct grpc_call *call_slot(struct grpc_calls *gc)
{
	for (int i = 0; i < GRPC_STREAMS; i++)
		if (!gc->calls[i].ex)
			return &gc->calls[i];
	return NULL;
}

static void call_forget(struct grpc_call *k)
{
	if (k->ex)
		k->ex->conn = NULL;
	k->ex = NULL;
	k->stream_id = 0;
	k->req_done = false;
	k->held = false;
	k->held_msgs = 0;
	k->held_tokens = 0;
	k->last_completion = 0;
}

/* A call that ends (reset, cancelled) after chunks the kernel held back
 * and no message after them: vLLM's by the tokens the kernel read, else
 * one token each, as SGLang streams them. */
static void held_unseen(struct grpc_call *k)
{
	struct exchange *ex = k->ex;
	uint32_t n = k->held_tokens ? k->held_tokens : k->held_msgs;

	if (!k->held || !ex->event_stream)
		return;
	ex->sse_tokens += n;
	if (ex->resp.completion_tokens) {
		ex->resp.completion_tokens += n;
		ex->resp.total_tokens += n;
	}
}

static void call_end(struct grpc_calls *gc, struct grpc_call *k, const char *why,
		     uint64_t ts)
{
	struct exchange *ex = k->ex;

	held_unseen(k);
	call_forget(k);
	conn_end_exchange(gc->c, ex, why, ts);
}

/* "<x-request-id>-<uuid>" (what smg sends): the part before the uuid. */
static bool strip_uuid(const char *id, char *out, size_t max)
{
	static const char shape[] = "-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	size_t n = strlen(id), u = sizeof(shape) - 1;

	if (n <= u || n - u >= max)
		return false;
	for (size_t i = 0; i < u; i++) {
		char ch = id[n - u + i];

		if (shape[i] == '-' ? ch != '-' : !isxdigit((unsigned char)ch))
			return false;
	}
	memcpy(out, id, n - u);
	out[n - u] = '\0';
	return true;
}

/* The request is all in (or all we will see of it): matchable from now. */
static void request_done(struct grpc_calls *gc, struct grpc_call *k)
{
	struct collector_stats *st = &gc->c->col->st;
	struct exchange *ex = k->ex;

	if (k->req_done)
		return;
	k->req_done = true;
	ex->req_done = true;
	if (!ex->req.rid[0])
		st->grpc_undecoded++;
	st->requests++;
	if (ex->kind == EX_FORWARD)
		st->forwards++;
	else
		st->worker_requests++;
	exchange_sink_request_done(&gc->c->col->sink, ex);
}

/* ---- grpc callbacks ------------------------------------------------ */

static void open_call(struct grpc_calls *gc, const struct h2_headers *h, uint64_t ts)
{
	struct conn *c = gc->c;
	struct collector_stats *st = &c->col->st;
	struct grpc_call *k = call_slot(gc);
	struct exchange *ex;

	if (!k)
		return;	/* more open calls than grpc.c tracks: it drops them too */
	ex = exchange_sink_new_exchange(&c->col->sink, gc->server ? EX_WORKER_IN : EX_FORWARD,
					c->tgid, &c->local, &c->peer, ts);
	if (!ex)
		return;
	ex->grpc = true;
	ex->conn = c;
	ex->t_last = ts;
	snprintf(ex->method, sizeof(ex->method), "%s", h->method[0] ? h->method : "POST");
	snprintf(ex->path, sizeof(ex->path), "%s", h->path);
	snprintf(ex->header_id, sizeof(ex->header_id), "%s", h->request_id);
	k->stream_id = h->stream_id;
	k->ex = ex;
	if (!h->path[0]) {	/* the :path entry predates attach */
		st->grpc_unknown_calls++;
		ex->ignored = true;
	} else if (grpc_method_of(h->path, NULL) != GRPC_M_GENERATE) {
		st->grpc_other_calls++;
		st->ignored_requests++;
		ex->ignored = true;
	} else {
		st->grpc_calls++;
	}
}

static void on_headers(void *ctx, const struct h2_headers *h, uint64_t ts)
{
	struct grpc_calls *gc = ctx;
	struct grpc_call *k;
	struct exchange *ex;

	gc->c->col->st.h2_unknown_fields += h->unknown_fields;
	if (h->side == H2_FROM_CLIENT) {
		if (!h->trailers)
			open_call(gc, h, ts);
		return;
	}
	k = call_find(gc, h->stream_id);
	if (!k)
		return;
	ex = k->ex;
	ex->t_last = gc->c->piece_last;
	if (!ex->resp_started) {
		ex->resp_started = true;
		ex->t_resp_first = ts;
		ex->status = h->status;
	}
	if (h->grpc_status > 0) {
		char why[48];

		snprintf(why, sizeof(why), "grpc_status %d%s%s", h->grpc_status,
			 h->grpc_message[0] ? " " : "", h->grpc_message);
		conn_note_error(ex, why);
	}
}

static void request_message(struct grpc_calls *gc, struct grpc_call *k,
			    const struct grpc_msg *m)
{
	struct exchange *ex = k->ex;
	const struct grpc_generate_req *r = &m->req;

	ex->req_bytes += 5 + m->length;
	if (m->seq || !m->decoded) {
		request_done(gc, k);
		return;
	}
	snprintf(ex->req.rid, sizeof(ex->req.rid), "%s", r->request_id);
	if (!ex->header_id[0])
		strip_uuid(r->request_id, ex->header_id, sizeof(ex->header_id));
	ex->req.parsed = true;
	ex->req.max_tokens = r->max_new_tokens;
	ex->req.stream = r->stream;
	ex->req.n = r->n ? (int)r->n : 1;
	ex->event_stream = r->stream;
	request_done(gc, k);
}

/* Chunks the kernel held back: their tokens are what the cumulative
 * completion_tokens grew by, less this message's own. */
static void held_tokens(struct grpc_call *k, const struct grpc_generate_resp *r)
{
	long long unseen = (long long)r->completion_tokens - k->last_completion -
			   (r->complete ? 0 : r->tokens);

	if (k->held && k->ex->event_stream && unseen > 0)
		k->ex->sse_tokens += unseen;
	k->held = false;
	k->held_msgs = 0;
	k->held_tokens = 0;
	if (r->completion_tokens > k->last_completion)
		k->last_completion = r->completion_tokens;
}

static void response_message(struct grpc_calls *gc, struct grpc_call *k,
			     const struct grpc_msg *m, uint64_t ts)
{
	struct exchange *ex = k->ex;
	const struct grpc_generate_resp *r = &m->resp;

	ex->resp_bytes += 5 + m->length;
	ex->t_last = gc->c->piece_last;
	if (!m->decoded)
		return;
	/* a streamed call's first message is its first token; an unstreamed
	 * one's only message comes at the finish */
	if (ex->event_stream && !ex->t_first_event)
		ex->t_first_event = ts;
	held_tokens(k, r);
	ex->sse_events++;
	if (!r->complete || !ex->event_stream)
		ex->sse_tokens += r->tokens;	/* a streamed complete repeats ids */
	ex->resp.parsed = true;
	ex->resp.has_text |= r->tokens > 0 || r->completion_tokens > 0;
	if (!ex->resp.sglang_id[0])
		snprintf(ex->resp.sglang_id, sizeof(ex->resp.sglang_id), "%s", r->request_id);
	ex->resp.prompt_tokens = r->prompt_tokens;
	ex->resp.completion_tokens = r->completion_tokens;
	ex->resp.total_tokens = (long long)r->prompt_tokens + r->completion_tokens;
}

static void on_message(void *ctx, const struct grpc_msg *m, uint64_t ts)
{
	struct grpc_calls *gc = ctx;
	struct grpc_call *k = call_find(gc, m->stream_id);

	if (!k || k->ex->ignored)
		return;
	if (m->side == H2_FROM_CLIENT)
		request_message(gc, k, m);
	else
		response_message(gc, k, m, ts);
}

static void on_stream_end(void *ctx, enum h2_side side, uint32_t id, unsigned messages,
			  uint64_t ts)
{
	struct grpc_calls *gc = ctx;
	struct grpc_call *k = call_find(gc, id);
	struct exchange *ex;

	(void)messages;
	if (!k)
		return;
	ex = k->ex;
	if (side == H2_FROM_CLIENT) {
		if (!ex->ignored)
			request_done(gc, k);
		return;
	}
	if (!k->req_done && !ex->ignored)
		request_done(gc, k);
	ex->t_resp_last = gc->c->piece_last;
	ex->resp_complete = true;
	call_end(gc, k, NULL, gc->c->piece_last);
}

static void on_rst_stream(void *ctx, enum h2_side side, uint32_t id, uint32_t code,
			  uint64_t ts)
{
	struct grpc_calls *gc = ctx;
	struct grpc_call *k = call_find(gc, id);
	char why[48];

	(void)ts;
	if (!k)
		return;
	gc->c->col->st.grpc_resets++;
	if (!k->req_done && !k->ex->ignored)
		request_done(gc, k);
	snprintf(why, sizeof(why), "rst_stream %u by %s", code,
		 side == H2_FROM_CLIENT ? "client" : "server");
	call_end(gc, k, why, gc->c->piece_last);
}

static void on_desync(void *ctx, enum h2_side side, uint64_t ts)
{
	struct grpc_calls *gc = ctx;

	(void)side;
	(void)ts;
	gc->c->col->st.h2_desyncs++;
	/* what is open may have lost bytes: its end is unknown, not failed */
	for (int i = 0; i < GRPC_STREAMS; i++)
		if (gc->calls[i].ex)
			gc->calls[i].ex->capture_lost = true;
}

static const struct grpc_callbacks calls_cbs = {
	.on_headers = on_headers,
	.on_message = on_message,
	.on_stream_end = on_stream_end,
	.on_rst_stream = on_rst_stream,
	.on_desync = on_desync,
};

/* ---- API ----------------------------------------------------------- */

struct grpc_calls *grpc_calls_new(struct conn *c, bool server, bool from_start)
{
	struct grpc_calls *gc = calloc(1, sizeof(*gc));

	if (!gc)
		return NULL;
	gc->c = c;
	gc->server = server;
	grpc_conn_init(&gc->g, &calls_cbs, gc, from_start);
	return gc;
}

void grpc_calls_feed(struct grpc_calls *gc, bool read, const char *data,
		     size_t cap_len, size_t total_len, uint64_t ts)
{
	enum h2_side side = read == gc->server ? H2_FROM_CLIENT : H2_FROM_SERVER;

	grpc_conn_feed(&gc->g, side, (const uint8_t *)data, cap_len, total_len, ts);
}

void grpc_calls_close(struct grpc_calls *gc, const char *why, uint64_t ts)
{
	for (int i = 0; i < GRPC_STREAMS; i++) {
		struct grpc_call *k = &gc->calls[i];

		if (!k->ex)
			continue;
		if (!k->req_done && !k->ex->ignored)
			request_done(gc, k);
		call_end(gc, k, why, ts);
	}
}

void grpc_calls_detach(struct grpc_calls *gc, struct exchange *ex)
{
	for (int i = 0; i < GRPC_STREAMS; i++)
		if (gc->calls[i].ex == ex)
			call_forget(&gc->calls[i]);
}

void grpc_calls_free(struct grpc_calls *gc)
{
	free(gc);
}

bool grpc_calls_skip(struct grpc_calls *gc, bool read, size_t n, bool aligned, uint64_t ts)
{
	enum h2_side side = read == gc->server ? H2_FROM_CLIENT : H2_FROM_SERVER;

	if (aligned)
		return h2_conn_skip(&gc->g.h2, side, n, ts);
	grpc_conn_feed(&gc->g, side, NULL, 0, n, ts);
	return false;
}

void grpc_calls_held(struct grpc_calls *gc, bool read, const void *data, size_t len,
		     uint64_t ts)
{
	enum h2_side side = read == gc->server ? H2_FROM_CLIENT : H2_FROM_SERVER;
	const struct h2k_held *t = data;

	for (size_t i = 0; i < len / sizeof(*t); i++) {
		struct grpc_call *k = call_find(gc, t[i].sid);

		if (!k || k->ex->ignored)
			continue;
		if (side == H2_FROM_CLIENT) {
			k->ex->req_bytes += t[i].bytes;
			continue;
		}
		k->held = true;
		k->held_msgs += t[i].msgs;
		k->held_tokens += t[i].tokens;
		grpc_conn_held_tokens(&gc->g, t[i].sid, t[i].tokens);
		k->ex->resp_bytes += t[i].bytes;
		k->ex->sse_events += t[i].msgs;
		k->ex->t_last = ts;
	}
}

bool grpc_calls_sniff(const char *data, size_t cap_len)
{
	const uint8_t *p = (const uint8_t *)data;
	size_t next;

	/* the seek rule of h2.c: a whole frame, and a valid head after it */
	if (cap_len < 9 || !h2_frame_head_valid(p))
		return false;
	next = 9 + ((size_t)p[0] << 16 | p[1] << 8 | p[2]);
	if (cap_len < next)
		return false;
	return cap_len < next + 9 || h2_frame_head_valid(p + next);
}

bool grpc_calls_settings_start(const char *data, size_t cap_len)
{
	const uint8_t *p = (const uint8_t *)data;
	uint8_t head[9] = { 0, 0, 0, H2_SETTINGS, 0, 0, 0, 0, 0 };
	size_t n = cap_len < 9 ? cap_len : 9;

	if (!n)
		return false;
	/* the bytes we have, completed as an empty SETTINGS head */
	memcpy(head, p, n);
	return head[3] == H2_SETTINGS && h2_frame_head_valid(head);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* gRPC messages over h2, smg Generate protobufs: see grpc.h. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "proto/grpc.h"

/* ---------------------------------------------------------- protobuf */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

struct pb_field {
	uint32_t num;
	int wt;
	uint64_t v;		/* varint value */
	const uint8_t *data;	/* LEN payload */
	size_t len;
};

static int pb_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*pp >= end)
			return 1;	/* cut */
		uint8_t b = *(*pp)++;

		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

/* Next field: 0, 1 at the end (or a field cut short), -1 if malformed. */
static int pb_next(const uint8_t **pp, const uint8_t *end, struct pb_field *f)
{
	uint64_t key, len;
	int r;

	if (*pp >= end)
		return 1;
	if ((r = pb_varint(pp, end, &key)))
		return r;
	f->num = key >> 3;
	f->wt = key & 7;
	if (!f->num)
		return -1;
	switch (f->wt) {
	case WT_VARINT:
		return pb_varint(pp, end, &f->v);
	case WT_I64:
	case WT_I32:
		len = f->wt == WT_I64 ? 8 : 4;
		if ((uint64_t)(end - *pp) < len)
			return 1;
		f->data = *pp;
		*pp += len;
		return 0;
	case WT_LEN:
		if ((r = pb_varint(pp, end, &len)))
			return r;
		if (len > (uint64_t)(end - *pp))
			return 1;
		f->data = *pp;
		f->len = len;
		*pp += len;
		return 0;
	default:
		return -1;	/* groups are not in these messages */
	}
}

/* Elements of a repeated uint32: packed (LEN) or one per field. */
static uint32_t pb_count(const struct pb_field *f)
{
	uint32_t n = 0;

	if (f->wt == WT_VARINT)
		return 1;
	if (f->wt != WT_LEN)
		return 0;
	for (size_t i = 0; i < f->len; i++)
		n += !(f->data[i] & 0x80);
	return n;
}

static void pb_string(const struct pb_field *f, char *out, size_t max)
{
	size_t n = f->wt == WT_LEN ? (f->len < max - 1 ? f->len : max - 1) : 0;

	memcpy(out, f->data, n);
	out[n] = '\0';
}

/* Field numbers of the Generate messages, per engine (grpc.h). */
struct gen_fields {
	uint32_t stream, max_tokens, n, ignore_eos;	/* request, sampling */
	uint32_t resp_id, chunk, complete;		/* response (0: absent) */
	uint32_t chunk_f[5], done_f[5];	/* {ids, prompt, completion, cached, index} */
};

static const struct gen_fields gen_fields[] = {
	[GRPC_E_SGLANG] = { 17, 8, 17, 19, 1, 2, 3, { 1, 2, 3, 4, 8 }, { 1, 3, 4, 5, 11 } },
	[GRPC_E_VLLM] = { 5, 8, 15, 14, 0, 1, 2, { 1, 2, 3, 4, 7 }, { 1, 3, 4, 5, 8 } },
};

static int decode_sampling(const struct gen_fields *fl, const uint8_t *p, size_t n,
			   struct grpc_generate_req *r)
{
	const uint8_t *end = p + n;
	struct pb_field f;
	int rc;

	while (!(rc = pb_next(&p, end, &f))) {
		if (f.wt != WT_VARINT)
			continue;
		if (f.num == fl->max_tokens)
			r->max_new_tokens = (long long)f.v;
		else if (f.num == fl->n)
			r->n = f.v;
		else if (f.num == fl->ignore_eos)
			r->ignore_eos = f.v;
	}
	return rc < 0 ? -1 : 0;
}

int grpc_decode_generate_req_of(enum grpc_engine e, const uint8_t *p, size_t n,
				struct grpc_generate_req *r)
{
	const struct gen_fields *fl = &gen_fields[e == GRPC_E_VLLM];
	const uint8_t *end = p + n;
	struct pb_field f, g;
	int rc;

	memset(r, 0, sizeof(*r));
	r->max_new_tokens = -1;
	while (!(rc = pb_next(&p, end, &f))) {
		if (f.num == 1 && f.wt == WT_LEN) {
			pb_string(&f, r->request_id, sizeof(r->request_id));
		} else if (f.num == 2 && f.wt == WT_LEN) {	/* TokenizedInput */
			const uint8_t *q = f.data, *qend = f.data + f.len;

			while (!pb_next(&q, qend, &g))
				if (g.num == 2)
					r->input_tokens += pb_count(&g);
		} else if (f.num == 4 && f.wt == WT_LEN) {
			if (decode_sampling(fl, f.data, f.len, r))
				return -1;
		} else if (f.num == fl->stream && f.wt == WT_VARINT) {
			r->stream = f.v;
		}
	}
	return rc < 0 ? -1 : 0;
}

/* GenerateStreamChunk (complete false) or GenerateComplete. */
static int decode_output(const struct gen_fields *fl, const uint8_t *p, size_t n,
			 struct grpc_generate_resp *r)
{
	const uint8_t *end = p + n;
	const uint32_t *num = r->complete ? fl->done_f : fl->chunk_f;
	struct pb_field f;
	int rc;

	while (!(rc = pb_next(&p, end, &f))) {
		if (f.num == num[0])
			r->tokens += pb_count(&f);
		else if (r->complete && f.num == 2 && f.wt == WT_LEN)
			pb_string(&f, r->finish_reason, sizeof(r->finish_reason));
		else if (f.wt != WT_VARINT)
			continue;
		else if (f.num == num[1])
			r->prompt_tokens = f.v;
		else if (f.num == num[2])
			r->completion_tokens = f.v;
		else if (f.num == num[3])
			r->cached_tokens = f.v;
		else if (f.num == num[4])
			r->index = f.v;
	}
	return rc < 0 ? -1 : 0;
}

int grpc_decode_generate_resp_of(enum grpc_engine e, const uint8_t *p, size_t n,
				 struct grpc_generate_resp *r)
{
	const struct gen_fields *fl = &gen_fields[e == GRPC_E_VLLM];
	const uint8_t *end = p + n;
	struct pb_field f;
	int rc;

	memset(r, 0, sizeof(*r));
	while (!(rc = pb_next(&p, end, &f))) {
		if (fl->resp_id && f.num == fl->resp_id && f.wt == WT_LEN) {
			pb_string(&f, r->request_id, sizeof(r->request_id));
		} else if ((f.num == fl->chunk || f.num == fl->complete) && f.wt == WT_LEN) {
			r->complete = f.num == fl->complete;
			if (decode_output(fl, f.data, f.len, r))
				return -1;
		}
	}
	return rc < 0 ? -1 : 0;
}

int grpc_decode_generate_req(const uint8_t *p, size_t n, struct grpc_generate_req *r)
{
	return grpc_decode_generate_req_of(GRPC_E_SGLANG, p, n, r);
}

int grpc_decode_generate_resp(const uint8_t *p, size_t n, struct grpc_generate_resp *r)
{
	return grpc_decode_generate_resp_of(GRPC_E_SGLANG, p, n, r);
}

enum grpc_method grpc_method_of(const char *path, enum grpc_engine *engine)
{
	enum grpc_engine e = GRPC_E_SGLANG;
	enum grpc_method m = !path[0] ? GRPC_M_UNKNOWN : GRPC_M_OTHER;

	if (!strcmp(path, GRPC_GENERATE_PATH)) {
		m = GRPC_M_GENERATE;
	} else if (!strcmp(path, GRPC_VLLM_GENERATE_PATH)) {
		m = GRPC_M_GENERATE;
		e = GRPC_E_VLLM;
	}
	if (engine)
		*engine = e;
	return m;
}

/* ---------------------------------------------------------- streams */

static struct grpc_stream *stream_find(struct grpc_conn *g, uint32_t id, bool create)
{
	struct grpc_stream *free_slot = NULL;

	for (int i = 0; i < GRPC_STREAMS; i++) {
		if (g->streams[i].id == id)
			return &g->streams[i];
		if (!g->streams[i].id && !free_slot)
			free_slot = &g->streams[i];
	}
	if (!create)
		return NULL;
	if (!free_slot) {
		g->stats.streams_dropped++;
		return NULL;
	}
	memset(free_slot, 0, offsetof(struct grpc_stream, keep));
	free_slot->id = id;
	free_slot->keep_side = -1;
	return free_slot;
}

static void stream_free(struct grpc_stream *s)
{
	s->id = 0;
}

static void on_h2_headers(void *ctx, const struct h2_headers *h, uint64_t ts)
{
	struct grpc_conn *g = ctx;
	/* a request head opens the call: its messages start framed */
	bool opens = h->side == H2_FROM_CLIENT && !h->trailers;
	struct grpc_stream *s = stream_find(g, h->stream_id, opens);

	if (s && opens) {
		s->method = grpc_method_of(h->path, &s->engine);
		s->side[H2_FROM_CLIENT].synced = true;
		s->side[H2_FROM_SERVER].synced = true;
	}
	if (g->cb->on_headers)
		g->cb->on_headers(g->ctx, h, ts);
}

/* vLLM's streamed counts are deltas: report the call's total (grpc.h). */
static void vllm_totals(struct grpc_stream *s, struct grpc_generate_resp *r)
{
	if (!r->complete) {
		s->vllm_chunked = true;
		s->vllm_chunk_tokens += r->completion_tokens;
		r->completion_tokens = s->vllm_chunk_tokens;
	} else if (s->vllm_chunked) {
		r->completion_tokens = s->vllm_chunk_tokens;
	}
}

static void msg_done(struct grpc_conn *g, struct grpc_stream *s, struct grpc_side_state *ss,
		     uint64_t ts)
{
	struct grpc_msg *m = &ss->cur;
	bool mine = s->keep_side == (int)m->side;
	int rc = 0;

	g->stats.messages++;
	g->stats.compressed += m->compressed;
	g->stats.incomplete += !m->complete;
	if (mine && m->complete && !m->compressed && s->method == GRPC_M_GENERATE) {
		m->cut = m->length > GRPC_KEEP;
		g->stats.cut += m->cut;
		if (m->side == H2_FROM_CLIENT)
			rc = grpc_decode_generate_req_of(s->engine, s->keep, s->keep_len, &m->req);
		else
			rc = grpc_decode_generate_resp_of(s->engine, s->keep, s->keep_len, &m->resp);
		if (!rc && m->side == H2_FROM_SERVER && s->engine == GRPC_E_VLLM)
			vllm_totals(s, &m->resp);
		m->decoded = !rc;
		g->stats.decoded += !rc;
		g->stats.decode_errors += rc != 0;
	}
	if (mine)
		s->keep_side = -1;
	ss->in_msg = false;
	ss->prefix_len = 0;
	ss->messages++;
	if (g->cb->on_message)
		g->cb->on_message(g->ctx, m, ts);
}

static void msg_begin(struct grpc_conn *g, struct grpc_stream *s, enum h2_side side,
		      uint64_t ts)
{
	struct grpc_side_state *ss = &s->side[side];
	struct grpc_msg *m = &ss->cur;

	memset(m, 0, sizeof(*m));
	m->side = side;
	m->stream_id = s->id;
	m->method = s->method;
	m->engine = s->engine;
	m->seq = ss->messages;
	m->compressed = ss->prefix[0] & 1;
	m->length = (uint32_t)ss->prefix[1] << 24 | ss->prefix[2] << 16 |
		    ss->prefix[3] << 8 | ss->prefix[4];
	m->complete = true;
	m->first_ts = ts;
	ss->msg_left = m->length;
	ss->in_msg = true;
	if (s->keep_side < 0) {	/* one message kept at a time per stream */
		s->keep_side = side;
		s->keep_len = 0;
	}
	if (!m->length)
		msg_done(g, s, ss, ts);
}

/* Message bytes (p NULL: lost to a gap). Returns bytes used. */
static size_t msg_bytes(struct grpc_conn *g, struct grpc_stream *s, enum h2_side side,
			const uint8_t *p, size_t n, uint64_t ts)
{
	struct grpc_side_state *ss = &s->side[side];
	size_t k = n < ss->msg_left ? n : ss->msg_left;

	if (!p) {
		ss->cur.complete = false;
	} else if (s->keep_side == (int)side) {
		size_t room = GRPC_KEEP - s->keep_len, c = k < room ? k : room;

		memcpy(s->keep + s->keep_len, p, c);
		s->keep_len += c;
	}
	ss->msg_left -= k;
	if (!ss->msg_left)
		msg_done(g, s, ss, ts);
	return k;
}

static void on_h2_data(void *ctx, enum h2_side side, uint32_t id, const uint8_t *p,
		       size_t n, uint64_t ts)
{
	struct grpc_conn *g = ctx;
	struct grpc_stream *s = stream_find(g, id, false);
	struct grpc_side_state *ss = s ? &s->side[side] : NULL;

	if (!ss || !ss->synced) {
		g->stats.unsynced_bytes += n;
		return;
	}
	while (n) {
		size_t k;

		if (ss->in_msg) {
			k = msg_bytes(g, s, side, p, n, ts);
		} else {
			k = 5 - ss->prefix_len < n ? 5 - ss->prefix_len : n;
			memcpy(ss->prefix + ss->prefix_len, p, k);
			ss->prefix_len += k;
			if (ss->prefix_len == 5)
				msg_begin(g, s, side, ts);
		}
		p += k;
		n -= k;
	}
}

static void on_h2_data_gap(void *ctx, enum h2_side side, uint32_t id, size_t n, uint64_t ts)
{
	struct grpc_conn *g = ctx;
	struct grpc_stream *s = stream_find(g, id, false);
	struct grpc_side_state *ss = s ? &s->side[side] : NULL;

	if (!ss || !ss->synced) {
		g->stats.unsynced_bytes += n;
		return;
	}
	if (ss->in_msg && n <= ss->msg_left) {	/* the framing survives */
		msg_bytes(g, s, side, NULL, n, ts);
		return;
	}
	ss->synced = false;	/* a prefix was lost: no guessing inside this stream */
	if (ss->in_msg && s->keep_side == (int)side)
		s->keep_side = -1;
	ss->in_msg = false;
	g->stats.unsynced_bytes += n;
}

static void on_h2_stream_end(void *ctx, enum h2_side side, uint32_t id, uint64_t ts)
{
	struct grpc_conn *g = ctx;
	struct grpc_stream *s = stream_find(g, id, false);
	unsigned messages = 0;

	if (s) {
		struct grpc_side_state *ss = &s->side[side];

		if (ss->in_msg) {	/* the stream ended inside a message */
			ss->cur.complete = false;
			ss->msg_left = 0;
			msg_done(g, s, ss, ts);
		}
		messages = ss->messages;
		if (side == H2_FROM_SERVER)	/* the server's end ends the call */
			stream_free(s);
	}
	if (g->cb->on_stream_end)
		g->cb->on_stream_end(g->ctx, side, id, messages, ts);
}

static void on_h2_rst(void *ctx, enum h2_side side, uint32_t id, uint32_t code, uint64_t ts)
{
	struct grpc_conn *g = ctx;
	struct grpc_stream *s = stream_find(g, id, false);

	if (s)
		stream_free(s);
	if (g->cb->on_rst_stream)
		g->cb->on_rst_stream(g->ctx, side, id, code, ts);
}

static void on_h2_goaway(void *ctx, enum h2_side side, uint32_t last, uint32_t code, uint64_t ts)
{
	struct grpc_conn *g = ctx;

	if (g->cb->on_goaway)
		g->cb->on_goaway(g->ctx, side, last, code, ts);
}

static void on_h2_desync(void *ctx, enum h2_side side, uint64_t ts)
{
	struct grpc_conn *g = ctx;

	/* DATA of any stream on this side may have been lost */
	for (int i = 0; i < GRPC_STREAMS; i++) {
		struct grpc_stream *s = &g->streams[i];

		if (!s->id)
			continue;
		s->side[side].synced = false;
		s->side[side].in_msg = false;
		if (s->keep_side == (int)side)
			s->keep_side = -1;
	}
	if (g->cb->on_desync)
		g->cb->on_desync(g->ctx, side, ts);
}

static const struct h2_callbacks grpc_h2_callbacks = {
	.on_headers = on_h2_headers,
	.on_data = on_h2_data,
	.on_data_gap = on_h2_data_gap,
	.on_stream_end = on_h2_stream_end,
	.on_rst_stream = on_h2_rst,
	.on_goaway = on_h2_goaway,
	.on_desync = on_h2_desync,
};

void grpc_conn_held_tokens(struct grpc_conn *g, uint32_t stream_id, uint32_t tokens)
{
	struct grpc_stream *s = stream_find(g, stream_id, false);

	if (!s || s->engine != GRPC_E_VLLM)
		return;
	s->vllm_chunked = true;
	s->vllm_chunk_tokens += tokens;
}

void grpc_conn_init(struct grpc_conn *g, const struct grpc_callbacks *cb, void *ctx,
		    bool from_start)
{
	static const struct grpc_callbacks none;

	memset(g, 0, offsetof(struct grpc_conn, streams));
	for (int i = 0; i < GRPC_STREAMS; i++) {
		g->streams[i].id = 0;
		g->streams[i].keep_side = -1;
	}
	memset(&g->stats, 0, sizeof(g->stats));
	g->cb = cb ? cb : &none;
	g->ctx = ctx;
	h2_conn_init(&g->h2, &grpc_h2_callbacks, g, from_start);
}

void grpc_conn_feed(struct grpc_conn *g, enum h2_side side, const uint8_t *data,
		    size_t cap_len, size_t total_len, uint64_t ts)
{
	h2_conn_feed(&g->h2, side, data, cap_len, total_len, ts);
}

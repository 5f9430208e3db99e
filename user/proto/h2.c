// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* HTTP/2 frame parser: see h2.h for the contract and the resync rules. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "proto/h2.h"
#include "sock_h2.h"

#define F_END_STREAM	0x1
#define F_ACK		0x1
#define F_END_HEADERS	0x4
#define F_PADDED	0x8
#define F_PRIORITY	0x20

static uint32_t be24(const uint8_t *p) { return p[0] << 16 | p[1] << 8 | p[2]; }
static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

/* The kernel's rule (bpf/sock_h2.h): both sides resync alike. */
bool h2_frame_head_valid(const uint8_t *p)
{
	return h2k_head_valid(p);
}

static void desync(struct h2_conn *c, struct h2_half *h, enum h2_side side, uint64_t ts)
{
	h->state = H2S_SEEK;
	h->head_len = 0;
	h->block_open = false;
	h->stats.desyncs++;
	hpack_decoder_lost(&h->hpack);
	if (c->cb->on_desync)
		c->cb->on_desync(c->ctx, side, ts);
}

static bool stream_seen(struct h2_half *h, uint32_t id, bool forget)
{
	for (unsigned i = 0; i < H2_STREAMS; i++) {
		if (h->open_streams[i] == id) {
			if (forget)
				h->open_streams[i] = 0;
			return true;
		}
	}
	return false;
}

static void stream_remember(struct h2_half *h, uint32_t id)
{
	if (stream_seen(h, id, false))
		return;
	for (unsigned i = 0; i < H2_STREAMS; i++) {
		if (!h->open_streams[i]) {
			h->open_streams[i] = id;
			return;
		}
	}
	h->open_streams[h->open_next++ % H2_STREAMS] = id;	/* oldest-ish out */
}

static int atoi_safe(const char *s)
{
	int v = 0;

	for (; *s >= '0' && *s <= '9' && v < 100000; s++)
		v = v * 10 + (*s - '0');
	return v;
}

static void copy_field(char *dst, size_t max, const char *v)
{
	snprintf(dst, max, "%s", v);
}

static bool header_field(void *ctx, const struct hpack_field *f)
{
	struct h2_headers *h = ctx;

	h->fields++;
	if (f->name_unknown || f->value_unknown) {
		h->unknown_fields++;
		return true;
	}
	if (!strcmp(f->name, ":method"))
		copy_field(h->method, sizeof(h->method), f->value);
	else if (!strcmp(f->name, ":path"))
		copy_field(h->path, sizeof(h->path), f->value);
	else if (!strcmp(f->name, ":authority"))
		copy_field(h->authority, sizeof(h->authority), f->value);
	else if (!strcmp(f->name, ":status"))
		h->status = atoi_safe(f->value);
	else if (!strcmp(f->name, "content-type"))
		copy_field(h->content_type, sizeof(h->content_type), f->value);
	else if (!strcmp(f->name, "grpc-status"))
		h->grpc_status = atoi_safe(f->value);
	else if (!strcmp(f->name, "grpc-message"))
		copy_field(h->grpc_message, sizeof(h->grpc_message), f->value);
	else if (!strcmp(f->name, "grpc-encoding"))
		copy_field(h->grpc_encoding, sizeof(h->grpc_encoding), f->value);
	else if (!strcmp(f->name, "x-request-id"))
		copy_field(h->request_id, sizeof(h->request_id), f->value);
	else if (!strcmp(f->name, "user-agent"))
		copy_field(h->user_agent, sizeof(h->user_agent), f->value);
	return true;
}

static void finish_block(struct h2_conn *c, struct h2_half *h, enum h2_side side, uint64_t ts)
{
	struct h2_headers hd;

	memset(&hd, 0, sizeof(hd));
	hd.side = side;
	hd.stream_id = h->block_stream;
	hd.end_stream = h->block_end_stream;
	hd.grpc_status = -1;
	hd.trailers = stream_seen(h, hd.stream_id, false);
	h->block_open = false;
	h->stats.header_blocks++;
	if (h->block_over) {
		hd.block_truncated = true;
		h->stats.truncated_blocks++;
		hpack_decoder_lost(&h->hpack);
	} else if (hpack_decode_block(&h->hpack, h->block, h->block_len, header_field, &hd)) {
		hd.decode_error = true;
	}
	if (hd.end_stream)
		stream_seen(h, hd.stream_id, true);
	else
		stream_remember(h, hd.stream_id);
	if (c->cb->on_headers)
		c->cb->on_headers(c->ctx, &hd, ts);
	if (hd.end_stream && c->cb->on_stream_end)
		c->cb->on_stream_end(c->ctx, side, hd.stream_id, ts);
}

static void control_frame(struct h2_conn *c, struct h2_half *h, enum h2_side side, uint64_t ts)
{
	const uint8_t *p = h->ctl;

	if (h->ctl_len < h->len && h->type != H2_SETTINGS)
		return;		/* cut by a gap: nothing trustworthy */
	switch (h->type) {
	case H2_RST_STREAM:
		stream_seen(h, h->stream_id, true);
		stream_seen(&c->half[!side], h->stream_id, true);
		if (c->cb->on_rst_stream)
			c->cb->on_rst_stream(c->ctx, side, h->stream_id, be32(p), ts);
		break;
	case H2_GOAWAY:
		if (c->cb->on_goaway)
			c->cb->on_goaway(c->ctx, side, be32(p) & 0x7fffffffu, be32(p + 4), ts);
		break;
	default:	/* SETTINGS, PING, WINDOW_UPDATE, PRIORITY: counted only;
			 * HPACK sizes change through in-block updates */
		break;
	}
}

static void end_frame(struct h2_conn *c, struct h2_half *h, enum h2_side side, uint64_t ts)
{
	h->state = H2S_HEAD;
	h->head_len = 0;
	switch (h->type) {
	case H2_DATA:
		if ((h->flags & F_END_STREAM) && c->cb->on_stream_end)
			c->cb->on_stream_end(c->ctx, side, h->stream_id, ts);
		if (h->flags & F_END_STREAM)
			stream_seen(h, h->stream_id, true);
		break;
	case H2_HEADERS:
	case H2_CONTINUATION:
		if (h->flags & F_END_HEADERS && h->block_open)
			finish_block(c, h, side, ts);
		break;
	case H2_PUSH_PROMISE:	/* its block fed the peer's table: not decoded */
		hpack_decoder_lost(&h->hpack);
		break;
	default:
		control_frame(c, h, side, ts);
	}
}

/* The frame head in h->head is complete: start its payload. */
static bool begin_frame(struct h2_conn *c, struct h2_half *h, enum h2_side side)
{
	h->len = be24(h->head);
	h->type = h->head[3];
	h->flags = h->head[4];
	h->stream_id = be32(h->head + 5) & 0x7fffffffu;
	h->left = h->len;
	h->pad = 0;
	h->pre_left = 0;
	h->need_pad = false;
	h->ctl_len = 0;
	if (h->type <= H2_CONTINUATION)
		h->stats.frames[h->type]++;
	else
		h->stats.unknown_frames++;
	if ((h->type == H2_DATA || h->type == H2_HEADERS) && (h->flags & F_PADDED)) {
		if (h->len < 1)
			return false;
		h->need_pad = true;
	}
	if (h->type == H2_HEADERS && (h->flags & F_PRIORITY))
		h->pre_left += 5;
	if (h->type == H2_HEADERS) {
		if (h->block_open)	/* previous block never ended */
			hpack_decoder_lost(&h->hpack);
		h->block_open = true;
		h->block_over = false;
		h->block_len = 0;
		h->block_stream = h->stream_id;
		h->block_end_stream = h->flags & F_END_STREAM;
	} else if (h->type == H2_CONTINUATION && (!h->block_open || h->stream_id != h->block_stream)) {
		hpack_decoder_lost(&h->hpack);	/* the block's start is lost */
		h->block_open = false;
	}
	h->state = H2S_PAYLOAD;
	return true;
}

/* n payload content bytes (p NULL: lost to a gap). */
static void content(struct h2_conn *c, struct h2_half *h, enum h2_side side,
		    const uint8_t *p, uint32_t n, uint64_t ts)
{
	if (h->type == H2_DATA) {
		h->stats.data_bytes += n;
		if (p && c->cb->on_data)
			c->cb->on_data(c->ctx, side, h->stream_id, p, n, ts);
		else if (!p && c->cb->on_data_gap)
			c->cb->on_data_gap(c->ctx, side, h->stream_id, n, ts);
	} else if (h->type == H2_HEADERS || h->type == H2_CONTINUATION) {
		if (!h->block_open)
			return;
		if (!p || h->block_len + n > H2_BLOCK_MAX) {
			h->block_over = true;
			return;
		}
		memcpy(h->block + h->block_len, p, n);
		h->block_len += n;
	} else if (p) {
		uint32_t k = n < sizeof(h->ctl) - h->ctl_len ? n : sizeof(h->ctl) - h->ctl_len;

		memcpy(h->ctl + h->ctl_len, p, k);
		h->ctl_len += k;
	}
}

/* Consumes payload bytes of the current frame; returns bytes used. */
static size_t payload(struct h2_conn *c, struct h2_half *h, enum h2_side side,
		      const uint8_t *p, size_t n, uint64_t ts)
{
	size_t used = 0;

	while (h->state == H2S_PAYLOAD && (used < n || h->left == 0)) {
		uint32_t avail = n - used, k;
		const uint8_t *q = p ? p + used : NULL;

		if (h->left == 0) {
			end_frame(c, h, side, ts);
			break;
		}
		if (h->need_pad) {	/* PADDED: the pad length byte first */
			h->need_pad = false;
			h->pad = q ? q[0] : 0;	/* lost: report all as content */
			k = 1;
			if (h->pad > h->left - 1) {
				desync(c, h, side, ts);
				return n;
			}
		} else if (h->pre_left) {	/* HEADERS priority fields */
			k = avail < h->pre_left ? avail : h->pre_left;
			h->pre_left -= k;
		} else if (h->left > h->pad) {
			k = h->left - h->pad;
			k = avail < k ? avail : k;
			content(c, h, side, q, k, ts);
		} else {
			k = avail < h->left ? avail : h->left;	/* padding */
		}
		h->left -= k;
		used += k;
	}
	return used;
}

/* Collects the frame head; returns bytes used. */
static size_t frame_head(struct h2_conn *c, struct h2_half *h, enum h2_side side,
			 const uint8_t *p, size_t n, uint64_t ts)
{
	size_t k = 9 - h->head_len < n ? 9 - h->head_len : n;

	memcpy(h->head + h->head_len, p, k);
	h->head_len += k;
	if (h->head_len < 9)
		return k;
	if (be24(h->head) > H2_FRAME_MAX || !begin_frame(c, h, side))
		desync(c, h, side, ts);
	return k;
}

static size_t preface(struct h2_conn *c, struct h2_half *h, enum h2_side side,
		      const uint8_t *p, size_t n, uint64_t ts)
{
	size_t k = H2_PREFACE_LEN - h->preface_pos < n ? H2_PREFACE_LEN - h->preface_pos : n;

	if (memcmp(p, H2_PREFACE + h->preface_pos, k)) {
		h->stats.preface_errors++;
		desync(c, h, side, ts);
		return n;
	}
	h->preface_pos += k;
	if (h->preface_pos == H2_PREFACE_LEN) {
		h->state = H2S_HEAD;
		h->head_len = 0;
	}
	return k;
}

/* Seek: try a frame head (or the preface) at the start of this piece. */
static bool seek(struct h2_half *h, enum h2_side side, const uint8_t *p, size_t n)
{
	if (side == H2_FROM_CLIENT && n >= H2_PREFACE_LEN &&
	    !memcmp(p, H2_PREFACE, H2_PREFACE_LEN)) {
		hpack_decoder_init(&h->hpack, true);	/* a new connection's start */
		h->state = H2S_PREFACE;
		h->preface_pos = 0;
		return true;
	}
	/* a head is trusted only if its frame ends inside the piece: payload
	 * bytes that look like a head mostly claim a length past it */
	if (n < 9 || !h2_frame_head_valid(p) || n < 9 + be24(p))
		return false;
	if (n >= 9 + be24(p) + 9 && !h2_frame_head_valid(p + 9 + be24(p)))
		return false;
	h->state = H2S_HEAD;
	h->head_len = 0;
	h->stats.resyncs++;
	return true;
}

/* total bytes were not captured: keep the framing through DATA when we can. */
static void gap(struct h2_conn *c, struct h2_half *h, enum h2_side side, size_t g, uint64_t ts)
{
	h->stats.gaps++;
	h->stats.gap_bytes += g;
	if (h->state == H2S_SEEK) {
		h->stats.skipped_bytes += g;
		return;
	}
	if (h->state == H2S_PAYLOAD) {
		size_t in_frame = g < h->left ? g : h->left;

		payload(c, h, side, NULL, in_frame, ts);
		g -= in_frame;
		if (h->state == H2S_PAYLOAD && h->left == 0)
			end_frame(c, h, side, ts);
		if (!g)
			return;
	}
	desync(c, h, side, ts);
	h->stats.skipped_bytes += g;
}

void h2_conn_feed(struct h2_conn *c, enum h2_side side, const uint8_t *data,
		  size_t cap_len, size_t total_len, uint64_t ts)
{
	struct h2_half *h = &c->half[side];
	size_t off = 0;

	if (h->state == H2S_SEEK && !seek(h, side, data, cap_len)) {
		h->stats.skipped_bytes += cap_len;
		off = cap_len;
	}
	while (off < cap_len) {
		switch (h->state) {
		case H2S_PREFACE:
			off += preface(c, h, side, data + off, cap_len - off, ts);
			break;
		case H2S_HEAD:
			off += frame_head(c, h, side, data + off, cap_len - off, ts);
			break;
		case H2S_PAYLOAD:
			off += payload(c, h, side, data + off, cap_len - off, ts);
			break;
		case H2S_SEEK:	/* lost mid-piece: wait for the next piece */
			h->stats.skipped_bytes += cap_len - off;
			off = cap_len;
			break;
		}
	}
	/* a frame whose payload is complete (or empty) ends now, not with the next piece */
	if (h->state == H2S_PAYLOAD && h->left == 0)
		payload(c, h, side, data, 0, ts);
	if (total_len > cap_len)
		gap(c, h, side, total_len - cap_len, ts);
}

bool h2_conn_skip(struct h2_conn *c, enum h2_side side, size_t n, uint64_t ts)
{
	struct h2_half *h = &c->half[side];

	if (!n)
		return true;
	if (h->state == H2S_HEAD && !h->head_len) {	/* between frames: still there after */
		h->stats.held_bytes += n;
		return true;
	}
	if (h->state == H2S_SEEK) {	/* waits for a head the kernel sends */
		h->stats.skipped_bytes += n;
		return true;
	}
	h->stats.held_unaligned++;
	gap(c, h, side, n, ts);
	return false;
}

void h2_conn_init(struct h2_conn *c, const struct h2_callbacks *cb, void *ctx, bool from_start)
{
	static const struct h2_callbacks none;

	memset(c, 0, sizeof(*c));
	c->cb = cb ? cb : &none;
	c->ctx = ctx;
	for (int s = 0; s < 2; s++) {
		struct h2_half *h = &c->half[s];

		hpack_decoder_init(&h->hpack, from_start);
		if (!from_start)
			h->state = H2S_SEEK;
		else
			h->state = s == H2_FROM_CLIENT ? H2S_PREFACE : H2S_HEAD;
	}
}

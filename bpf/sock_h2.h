/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the kernel knows of HTTP/2 (gRPC): frame heads, and which frames
 * a held-back call may hold. Pure functions of bytes and of a small
 * per-direction state, compiled into bpf/sock_h2.bpf.h, into the
 * collector's HTTP/2 parser (the resync rule) and into the unit tests'
 * kernel mirror, so both sides decide alike.
 *
 * A call is held back only if it starts and ends on frame boundaries and
 * every frame in it is a WINDOW_UPDATE, a PING, or a DATA frame that is
 * one whole uncompressed gRPC message shaped like a stream chunk, of a
 * stream whose first DATA frame was already sent, without END_STREAM.
 * Two chunk layouts: SGLang's GenerateResponse (field 1 request id, then
 * field 2 the chunk; its counts are cumulative, so the next message sent
 * tells what was held) and vLLM's (field 1 the GenerateStreamChunk alone,
 * whose completion_tokens is a delta: the kernel reads it and sums it
 * per stream, so the held tokens are exact). So the
 * first response message (first token), every header block (HPACK needs
 * them all), RST_STREAM, GOAWAY, SETTINGS, the GenerateComplete message
 * (the final token counts) and END_STREAM always reach user space. */
#ifndef SERVETRACE_SOCK_H2_H
#define SERVETRACE_SOCK_H2_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#include <stdbool.h>
#endif

#define H2K_HEAD	9
#define H2K_PREFACE_LEN	24
#define H2K_SEEK_MAX	65536	/* longer frames are not trusted when seeking */
#define H2K_WANT	16	/* streams waiting for their first DATA frame */
#define H2K_CALL_SIDS	4	/* streams whose DATA one held call may hold */
#define H2K_SPAN_SIDS	8	/* streams one held-back span may cover */
#define H2K_FRAMES_MAX	256	/* frame heads walked per call */
#define H2K_PROBES	32	/* calls tried for a frame head before giving up */
#define H2K_VTAIL_MAX	24	/* a vLLM chunk's fields after its token ids */
#define H2K_VTAIL_BUF	32	/* what the buffer given to h2k_vllm_tokens() holds */
#define H2K_VARINT_MAX	3	/* bytes of a count there: below 2^21 (verifier cost) */

/* conn_dir.proto: what the kernel made of a connection direction. */
enum h2k_proto {
	H2K_UNKNOWN = 0,	/* not looked at yet */
	H2K_OFF,		/* not HTTP/2: the HTTP/1.x path decides */
	H2K_SYNCED,		/* frame heads followed */
	H2K_SEEK,		/* framing lost (or attached mid-frame): sent whole */
};

/* h2k_frame_kind() */
enum h2k_frame { H2KF_SEND, H2KF_CTL, H2KF_CHUNK, H2KF_NEED_TAG, H2KF_NEED_VLLM };

enum h2k_type {
	H2K_DATA = 0, H2K_HEADERS = 1, H2K_PRIORITY = 2, H2K_RST_STREAM = 3,
	H2K_SETTINGS = 4, H2K_PUSH_PROMISE = 5, H2K_PING = 6, H2K_GOAWAY = 7,
	H2K_WINDOW_UPDATE = 8, H2K_CONTINUATION = 9,
};

#define H2K_END_STREAM	0x1
#define H2K_PADDED	0x8

/* Keeps a bound check that clang would prove redundant and drop: the
 * verifier does not see what clang proved. */
#ifdef __VMLINUX_H__
#define H2K_BOUND(x, mask) do { asm volatile("" : "+r"(x)); (x) &= (mask); } while (0)
#else
#define H2K_BOUND(x, mask) ((x) &= (mask))
#endif

struct h2k_head {
	__u32 len;
	__u32 sid;
	__u8 type;
	__u8 flags;
};

/* Held-back DATA of one stream: messages, payload bytes, and the tokens
 * of vLLM chunks (0 for SGLang's). 16 bytes, as before the tokens were
 * added: older recordings read with tokens 0 (little-endian). */
struct h2k_held {
	__u32 sid;
	__u32 msgs;
	__u32 bytes;
	__u32 tokens;
};

/* Per connection direction that looks like HTTP/2, kept in the kernel. */
struct h2k_state {
	__u32 frame_left;	/* bytes of the frame (or preface) still to come */
	__u32 want_next;	/* round-robin slot when want[] is full */
	__u32 want[H2K_WANT];	/* streams whose first DATA frame is still to be sent */
	__u8 hb[16];		/* a frame head split by the end of a call */
	__u8 hn;		/* its bytes in hb */
	__u8 probes;		/* calls tried while seeking, never synced */
	__u8 synced_once;	/* known HTTP/2: seek for ever */
	__u8 pad;
	__u32 nspan;
	struct h2k_held span[H2K_SPAN_SIDS];	/* held since the last record */
};

static inline void h2k_head_parse(const __u8 *b, struct h2k_head *h)
{
	h->len = (__u32)b[0] << 16 | (__u32)b[1] << 8 | b[2];
	h->type = b[3];
	h->flags = b[4];
	h->sid = ((__u32)b[5] << 24 | (__u32)b[6] << 16 | (__u32)b[7] << 8 | b[8]) & 0x7fffffffu;
}

/* The resync rule's test of one head (h2.c's seek uses it too): a known
 * type with its flags, length and stream id as RFC 9113 and gRPC allow.
 * HTTP/1.x text never passes: its first byte makes the length too big. */
static inline bool h2k_head_valid(const __u8 *b)
{
	static const __u8 valid_flags[10] = {
		[H2K_DATA] = 0x1 | 0x8, [H2K_HEADERS] = 0x1 | 0x4 | 0x8 | 0x20,
		[H2K_SETTINGS] = 0x1, [H2K_PING] = 0x1,
		[H2K_PUSH_PROMISE] = 0x4 | 0x8, [H2K_CONTINUATION] = 0x4,
	};
	struct h2k_head h;
	bool needs_stream;

	if (b[5] & 0x80)
		return false;
	h2k_head_parse(b, &h);
	if (h.type > H2K_CONTINUATION || h.len > H2K_SEEK_MAX)
		return false;
	if (h.flags & ~valid_flags[h.type])
		return false;
	needs_stream = h.type == H2K_DATA || h.type == H2K_HEADERS || h.type == H2K_PRIORITY ||
		       h.type == H2K_RST_STREAM || h.type == H2K_CONTINUATION ||
		       h.type == H2K_PUSH_PROMISE;
	if (needs_stream != (h.sid != 0) && h.type != H2K_WINDOW_UPDATE)
		return false;
	if (h.sid && !(h.sid & 1))	/* gRPC never pushes: client (odd) ids */
		return false;
	switch (h.type) {
	case H2K_RST_STREAM: case H2K_WINDOW_UPDATE: return h.len == 4;
	case H2K_PING: return h.len == 8;
	case H2K_PRIORITY: return h.len == 5;
	case H2K_SETTINGS: return h.len % 6 == 0 && (!(h.flags & 1) || h.len == 0);
	case H2K_GOAWAY: return h.len >= 8;
	default: return true;
	}
}

/* vLLM's chunk (payload p, n bytes of it at hand, len in all: 5 bytes
 * of gRPC prefix, 0x0a and a short length, the GenerateStreamChunk): its
 * fields after the token ids (field 1) start at *tail_at, and are short
 * enough for h2k_vllm_tokens(). */
static inline bool h2k_vllm_tail(const __u8 *p, __u32 n, __u32 len, __u32 *tail_at)
{
	if (len < 9 || n < 9)
		return false;
	if (p[7] != 0x0a) {
		*tail_at = 7;	/* no token ids */
	} else {
		if (p[8] >= 0x80)
			return false;
		*tail_at = 9 + p[8];
	}
	return *tail_at < len && len - *tail_at <= H2K_VTAIL_MAX;
}

/* What a frame may be in a held call, from its head and the first n
 * payload bytes p: H2KF_CTL (WINDOW_UPDATE, PING), H2KF_NEED_TAG (a DATA
 * frame holding one whole uncompressed message whose protobuf starts with
 * a short field 1 and goes on: the byte at *tag_at of the payload says
 * SGLang's chunk or not), H2KF_NEED_VLLM (the message is field 1 alone:
 * vLLM's chunk if the fields from *tag_at on read as h2k_vllm_tokens()
 * wants), else H2KF_SEND. */
static inline int h2k_frame_kind(const struct h2k_head *h, const __u8 *p, __u32 n,
				 __u32 *tag_at)
{
	__u32 mlen;

	if (h->type == H2K_WINDOW_UPDATE || h->type == H2K_PING)
		return H2KF_CTL;
	if (h->type != H2K_DATA || h->flags || h->len < 8 || n < 7)
		return H2KF_SEND;
	mlen = (__u32)p[1] << 24 | (__u32)p[2] << 16 | (__u32)p[3] << 8 | p[4];
	if (p[0] != 0 || mlen + 5 != h->len || p[5] != 0x0a || p[6] >= 0x80)
		return H2KF_SEND;
	*tag_at = 7 + p[6];
	if (*tag_at < h->len)
		return H2KF_NEED_TAG;
	if (*tag_at == h->len && h2k_vllm_tail(p, n, h->len, tag_at))
		return H2KF_NEED_VLLM;
	return H2KF_SEND;
}

/* The fields of vLLM's GenerateStreamChunk after its token ids, t[0..n)
 * of a buffer of H2K_VTAIL_BUF bytes: prompt_tokens (2), completion_tokens
 * (3), cached_tokens (4), index (7), each a varint of at most
 * H2K_VARINT_MAX bytes, in order, and nothing else (logprobs: sent). Its
 * completion_tokens (the tokens in this chunk), or -1 when the bytes are
 * not that, or carry no count. */
static inline int h2k_vllm_tokens(const __u8 *t, __u32 n)
{
	__u32 i = 0, last = 0;
	int tokens = -1;

	if (n > H2K_VTAIL_MAX)
		return -1;
	for (__u32 f = 0; f < 4 && i < n; f++) {
		__u32 at = i, v = 0;
		__u8 tag = t[at & (H2K_VTAIL_BUF - 1)];
		bool end = false;

		if ((tag != 0x10 && tag != 0x18 && tag != 0x20 && tag != 0x38) || tag <= last)
			return -1;
		last = tag;
		i++;
		for (__u32 k = 0; k < H2K_VARINT_MAX && !end; k++) {
			__u8 b;

			if (i >= n)
				return -1;
			at = i++;
			b = t[at & (H2K_VTAIL_BUF - 1)];
			v |= (__u32)(b & 0x7f) << (7 * k);
			end = !(b & 0x80);
		}
		if (!end)
			return -1;
		if (tag == 0x18)
			tokens = (int)v;
	}
	return i == n ? tokens : -1;
}

/* GenerateResponse field 2 (chunk), length-delimited; 3 is GenerateComplete. */
static inline bool h2k_tag_is_chunk(__u8 tag)
{
	return tag == 0x12;
}

/* The stream waits for its first DATA frame (a HEADERS without END_STREAM). */
static inline void h2k_want_add(struct h2k_state *s, __u32 sid)
{
	__u32 free_at = H2K_WANT;

	for (__u32 i = 0; i < H2K_WANT; i++) {
		if (s->want[i] == sid)
			return;
		if (!s->want[i] && free_at == H2K_WANT)
			free_at = i;
	}
	if (free_at == H2K_WANT)	/* full: the oldest-ish goes */
		free_at = s->want_next++;
	H2K_BOUND(free_at, H2K_WANT - 1);
	s->want[free_at] = sid;
}

/* Was the stream waiting for its first DATA frame? It no longer is. */
static inline bool h2k_want_take(struct h2k_state *s, __u32 sid)
{
	for (__u32 i = 0; i < H2K_WANT; i++) {
		if (s->want[i] == sid && sid) {
			s->want[i] = 0;
			return true;
		}
	}
	return false;
}

/* Adds n messages / bytes of stream sid to a table of max entries;
 * false when it is full of other streams. */
static inline bool h2k_held_add(struct h2k_held *t, __u32 *nt, __u32 max, __u32 sid,
				__u32 msgs, __u32 bytes, __u32 tokens)
{
	__u32 n = *nt;

	for (__u32 i = 0; i < H2K_SPAN_SIDS; i++) {
		if (i >= n || i >= max)
			break;
		if (t[i].sid == sid) {
			t[i].msgs += msgs;
			t[i].bytes += bytes;
			t[i].tokens += tokens;
			return true;
		}
	}
	if (n >= max || n >= H2K_SPAN_SIDS)
		return false;
	*nt = n + 1;
	H2K_BOUND(n, H2K_SPAN_SIDS - 1);
	t[n].sid = sid;
	t[n].msgs = msgs;
	t[n].bytes = bytes;
	t[n].tokens = tokens;
	return true;
}

/* One call's walk: may it be held, and what DATA it holds. */
struct h2k_call {
	__u32 hold;		/* every frame so far may be held */
	__u32 msgs;		/* chunk messages */
	__u64 data_bytes;	/* their DATA payload bytes */
	__u32 nsid;
	__u32 frames;
	struct h2k_held sids[H2K_CALL_SIDS];
};

/* A frame whose head lies in the call, with kind from h2k_frame_kind()
 * (H2KF_NEED_TAG, H2KF_NEED_VLLM resolved to H2KF_CHUNK or H2KF_SEND) and
 * the tokens of a vLLM chunk: the stream table follows it, and the call
 * stays holdable only if the frame may be held. */
static inline void h2k_frame_tokens(struct h2k_state *s, struct h2k_call *c,
				    const struct h2k_head *h, int kind, __u32 tokens)
{
	c->frames++;
	if (h->type == H2K_HEADERS) {
		if (h->flags & H2K_END_STREAM)
			h2k_want_take(s, h->sid);
		else
			h2k_want_add(s, h->sid);
	} else if (h->type == H2K_RST_STREAM) {
		h2k_want_take(s, h->sid);
	} else if (h->type == H2K_DATA && h2k_want_take(s, h->sid)) {
		kind = H2KF_SEND;	/* the stream's first DATA frame */
	}
	if (kind == H2KF_CHUNK) {
		c->msgs++;
		c->data_bytes += h->len;
		if (!h2k_held_add(c->sids, &c->nsid, H2K_CALL_SIDS, h->sid, 1, h->len, tokens))
			c->hold = 0;
	} else if (kind != H2KF_CTL) {
		c->hold = 0;
	}
}

/* h2k_frame_tokens() of a frame that is no vLLM chunk. */
static inline void h2k_frame_seen(struct h2k_state *s, struct h2k_call *c,
				  const struct h2k_head *h, int kind)
{
	h2k_frame_tokens(s, c, h, kind, 0);
}

/* The span held since the last record takes a held call's streams:
 * false (nothing changed) when they do not fit. */
static inline bool h2k_span_take(struct h2k_state *s, const struct h2k_call *c)
{
	__u32 need = 0;

	for (__u32 i = 0; i < H2K_CALL_SIDS; i++) {
		bool found = false;

		if (i >= c->nsid)
			break;
		for (__u32 j = 0; j < H2K_SPAN_SIDS; j++)
			if (j < s->nspan && s->span[j].sid == c->sids[i].sid)
				found = true;
		need += !found;
	}
	if (s->nspan + need > H2K_SPAN_SIDS)
		return false;
	for (__u32 i = 0; i < H2K_CALL_SIDS; i++) {
		if (i >= c->nsid)
			break;
		h2k_held_add(s->span, &s->nspan, H2K_SPAN_SIDS, c->sids[i].sid,
			     c->sids[i].msgs, c->sids[i].bytes, c->sids[i].tokens);
	}
	return true;
}

#endif

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the kernel knows of HTTP/1.x: enough to tell a message head from
 * the middle of an SSE stream by a call's first bytes. Pure functions of
 * a byte buffer, compiled into bpf/sock.bpf.c and into the unit tests,
 * which run them on recorded streams without root. */
#ifndef SERVETRACE_SOCK_STREAM_H
#define SERVETRACE_SOCK_STREAM_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#include <stdbool.h>
#endif

#define PEEK_MAX	32	/* bytes looked at per chunk head */
/* chunk heads followed in one call: a slow reader's router writes what
 * queued up (hundreds of a chat's small events) in one call */
#define SSE_CHUNKS_MAX	1024
#define HEAD_SCAN_MAX	1024	/* bytes searched for a head's end */

/* Per direction of a connection, kept in the kernel. */
/* conn_dir.framing. Tentative: found again at a call's start, nothing
 * held back until the next size line confirms it. */
enum framing { FRAMING_NONE, FRAMING_KNOWN, FRAMING_TENTATIVE };

struct conn_dir {
	__u64 off;		/* bytes moved so far (since first sight) */
	__u64 skip_bytes;	/* held back since the last record */
	__u64 skip_ts;
	__u32 skip_calls;
	__u32 skip_events;
	__u32 skip_framing;
	__u32 chunk_left;	/* with framing: bytes to the next chunk-size line */
	__u8  in_stream;	/* the current stream's first event was sent */
	__u8  tail_valid;	/* tails in sse_tails: of the last skipped calls, 0-2 */
	__u8  framing;		/* enum framing: is chunk_left known */
	__u8  req_body;		/* in a request's body: sent whole (sock_body.bpf.h) */
	__u32 body_left;	/* bytes of it still sent whole */
	__u8  proto;		/* enum h2k_proto (sock_h2.h) */
	__u8  tail_slot;	/* sse_tails slot the next tail goes to (the older) */
	__u8  head_cut;		/* with framing: the call's end cut a chunk-size
				 * line, chunk_head_cut()'s state (0: none) */
	__u8  pad;
	__u32 cut_size;		/* the size that cut line held so far */
};

struct conn_stream {
	struct conn_dir d[2];	/* enum data_dir */
	__u32 tgid;		/* who last moved data on it, and by which fd: */
	__s32 fd;		/* the socket-layer hooks report its close by them */
};

enum call_kind {
	CALL_SEND,		/* anything else: sent as is */
	CALL_MESSAGE,		/* starts an HTTP/1.x message: sent */
	CALL_SSE,		/* chunks of SSE events, framing followed: may be held back */
	CALL_UNALIGNED,		/* chunked, but the framing was lost in it: sent */
};

enum head_kind { HEAD_NONE, HEAD_MESSAGE, HEAD_OTHER };

struct chunk_head {
	__u32 size;		/* chunk data bytes */
	__u32 head_len;		/* size line with its CRLF */
	bool sse_data;		/* data begins "data:" */
	bool sse_done;		/* ... and it is "data: [DONE]" */
	bool sse_other;		/* another SSE line (event:, id:, retry:, comment) */
};

static inline bool ss_prefix(const char *b, __u32 n, __u32 at, const char *lit, __u32 len)
{
	if (at + len > n || at + len > PEEK_MAX)
		return false;
	for (__u32 i = 0; i < len && i < PEEK_MAX; i++)
		if (b[(at + i) & (2 * PEEK_MAX - 1)] != lit[i])
			return false;
	return true;
}

/* b ends (a call's last bytes) before lit does, and what there is of it
 * matches: a chunk's data cut by a partial write. */
static inline bool ss_prefix_cut(const char *b, __u32 n, __u32 at, const char *lit, __u32 len)
{
	if (at > n || at + len <= n || n > PEEK_MAX)
		return false;
	for (__u32 i = 0; i < len && i < PEEK_MAX; i++)
		if (at + i < n && b[(at + i) & (2 * PEEK_MAX - 1)] != lit[i])
			return false;
	return true;
}

/* HEAD_MESSAGE for a status line or a request line, HEAD_OTHER for the
 * HTTP/2 preface, else HEAD_NONE. */
static inline int stream_head_kind(const char *b, __u32 n)
{
	if (ss_prefix(b, n, 0, "HTTP/1.", 7) || ss_prefix(b, n, 0, "POST ", 5) ||
	    ss_prefix(b, n, 0, "GET ", 4) || ss_prefix(b, n, 0, "PUT ", 4) ||
	    ss_prefix(b, n, 0, "HEAD ", 5) || ss_prefix(b, n, 0, "DELETE ", 7) ||
	    ss_prefix(b, n, 0, "PATCH ", 6) || ss_prefix(b, n, 0, "OPTIONS ", 8))
		return HEAD_MESSAGE;
	if (ss_prefix(b, n, 0, "PRI * HTTP/2", 12))
		return HEAD_OTHER;
	return HEAD_NONE;
}

/* Hex digit value + 1, 0 for anything else: a table, because a branch
 * per character class multiplies the states the verifier walks. */
static const unsigned char ss_hex_table[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

static inline int ss_hex(char c)
{
	return (int)ss_hex_table[(unsigned char)c] - 1;
}

/* What a chunk's data at b[at] begins with. A call that ends inside its
 * first bytes (a partial write) is judged by what it has: an event,
 * [DONE] once "data: [" shows (events are JSON objects). */
static inline void chunk_data_kind(const char *b, __u32 n, __u32 at, struct chunk_head *ch)
{
	if (ss_prefix(b, n, at, "data:", 5) || ss_prefix_cut(b, n, at, "data:", 5)) {
		ch->sse_data = true;
		ch->sse_done = ss_prefix(b, n, at, "data: [DONE]", 12) ||
			       ss_prefix(b, n, at, "data:[DONE]", 11) ||
			       (n >= at + 7 && ss_prefix_cut(b, n, at, "data: [DONE]", 12)) ||
			       (n >= at + 6 && ss_prefix_cut(b, n, at, "data:[DONE]", 11));
	} else if (ss_prefix(b, n, at, "event:", 6) || ss_prefix(b, n, at, "id:", 3) ||
		   ss_prefix(b, n, at, "retry:", 6) || ss_prefix(b, n, at, ":", 1)) {
		ch->sse_other = true;
	}
}

/* A chunk-size line (hex digits, CRLF; no extensions) at b[0], and what
 * its data begins with. False if b does not start with one. */
static inline bool chunk_head_parse(const char *b, __u32 n, struct chunk_head *ch)
{
	__u32 size = 0, i;
	__u32 at;

	ch->size = 0;
	ch->head_len = 0;
	ch->sse_data = ch->sse_done = ch->sse_other = false;
	for (i = 0; i < 8; i++) {
		int v;

		if (i >= n)
			return false;
		v = ss_hex(b[i & (2 * PEEK_MAX - 1)]);
		if (v < 0)
			break;
		size = size * 16 + v;
	}
	if (i == 0 || !ss_prefix(b, n, i, "\r\n", 2))
		return false;
	ch->size = size;
	ch->head_len = i + 2;
	if (size == 0)
		return true;
	at = i + 2;
	chunk_data_kind(b, n, at, ch);
	return true;
}

/* A chunk-size line cut by the call's end: b[0..n) is 1-8 hex digits of
 * a size above 0, maybe its CR, nothing more (a reader's fixed-size read
 * ends inside "5f\r\n"). *state: the digits, | CUT_CR once the CR came.
 * A cut "0" may be the last chunk's: not taken. */
#define CUT_CR 0x80
static inline bool chunk_head_cut(const char *b, __u32 n, __u32 *size, __u8 *state)
{
	__u32 s = 0, i;

	if (n == 0 || n > 9)
		return false;
	for (i = 0; i < 8; i++) {
		int v;

		if (i >= n)
			break;
		v = ss_hex(b[i & (2 * PEEK_MAX - 1)]);
		if (v < 0)
			break;
		s = s * 16 + v;
	}
	if (i == 0 || s == 0)
		return false;
	if (i < n && (i + 1 != n || b[i & (2 * PEEK_MAX - 1)] != '\r'))
		return false;
	*size = s;
	*state = i | (i < n ? CUT_CR : 0);
	return true;
}

enum head_rest { HEAD_REST_BAD, HEAD_REST_DONE, HEAD_REST_CUT };

/* The rest of a cut chunk-size line at b[0] (*state and *size: what the
 * cut held). HEAD_REST_DONE: ch filled as chunk_head_parse() fills it,
 * head_len the rest's bytes. HEAD_REST_CUT: b, all of it, goes on with
 * the line and ends inside it again (*state, *size updated). */
static inline int chunk_head_rest(const char *b, __u32 n, __u8 *state, __u32 *size,
				  struct chunk_head *ch)
{
	__u32 i = 0, digits = *state & ~CUT_CR & 0xff, s = *size;

	ch->size = 0;
	ch->head_len = 0;
	ch->sse_data = ch->sse_done = ch->sse_other = false;
	if (*state & CUT_CR) {
		if (!ss_prefix(b, n, 0, "\n", 1))
			return HEAD_REST_BAD;
		i = 1;
	} else {
		for (__u32 k = 0; k < 8; k++) {
			int v;

			if (digits + k >= 8 || k >= n)
				break;
			v = ss_hex(b[k & (2 * PEEK_MAX - 1)]);
			if (v < 0)
				break;
			s = s * 16 + v;
			i = k + 1;
		}
		if (i == n || (i + 1 == n && b[i & (2 * PEEK_MAX - 1)] == '\r')) {
			*state = (digits + i) | (i < n ? CUT_CR : 0);
			*size = s;
			return HEAD_REST_CUT;
		}
		if (!ss_prefix(b, n, i, "\r\n", 2))
			return HEAD_REST_BAD;
		i += 2;
	}
	ch->size = s;
	ch->head_len = i;
	chunk_data_kind(b, n, i, ch);
	return HEAD_REST_DONE;
}

#endif

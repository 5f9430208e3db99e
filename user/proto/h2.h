/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Incremental HTTP/2 (RFC 9113) parser for one TCP connection, both
 * directions, fed the byte stream as the syscalls moved it (pieces that
 * split or merge frames, gaps, a start in the middle). Frames: DATA,
 * HEADERS + CONTINUATION (HPACK-decoded, see hpack.h), RST_STREAM, GOAWAY,
 * SETTINGS (header table size), PING, WINDOW_UPDATE, PRIORITY; padding and
 * priority flags handled, flow control ignored. No allocation.
 *
 * Callbacks, per stream and side: on_headers (request or response head,
 * then trailers) and on_data in wire order; on_stream_end after the frame
 * that carried END_STREAM was reported. on_rst_stream / on_goaway as they
 * come. A DATA payload partly lost to a gap is reported through on_data_gap
 * (the frame length keeps the framing).
 *
 * Mid-connection start and resync: a side fed from its start expects the
 * client preface (client side) or a SETTINGS frame (server side). A side
 * started late, or that lost its framing (a gap over a frame head, an
 * impossible frame head), seeks: a frame head is only tried at the start
 * of a piece, must be valid for its type (length, stream id: odd, as gRPC
 * never pushes; flags), its frame must end inside the piece, and the head
 * after it, when the piece holds one, must be valid too; else the piece is
 * skipped (counted). Once synced, its HPACK table is partial (see
 * hpack.h): fields that reference entries from before are "unknown". */
#ifndef SERVETRACE_H2_H
#define SERVETRACE_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "proto/hpack.h"

#define H2_BLOCK_MAX	16384		/* header block kept; larger: HPACK lost */
#define H2_FRAME_MAX	(1u << 24)	/* 24-bit length field */
#define H2_SEEK_FRAME_MAX 65536		/* longer frame heads are not trusted in seek */
#define H2_STREAMS	64		/* streams with an open head tracked, per side */
#define H2_PREFACE	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN	24

enum h2_side { H2_FROM_CLIENT = 0, H2_FROM_SERVER = 1 };

enum h2_frame_type {
	H2_DATA = 0, H2_HEADERS = 1, H2_PRIORITY = 2, H2_RST_STREAM = 3,
	H2_SETTINGS = 4, H2_PUSH_PROMISE = 5, H2_PING = 6, H2_GOAWAY = 7,
	H2_WINDOW_UPDATE = 8, H2_CONTINUATION = 9,
};

/* One decoded header block, with the fields a tracer needs. */
struct h2_headers {
	enum h2_side side;
	uint32_t stream_id;
	bool end_stream;
	bool trailers;		/* not the first block of this stream and side */
	char method[16];
	char path[256];
	char authority[128];
	int status;		/* :status, 0 if absent */
	char content_type[64];
	int grpc_status;	/* -1 if absent */
	char grpc_message[128];
	char grpc_encoding[32];
	char request_id[128];	/* x-request-id */
	char user_agent[64];
	unsigned fields;
	unsigned unknown_fields;	/* dynamic entries we never saw */
	bool block_truncated;	/* over H2_BLOCK_MAX or cut by a gap: not decoded */
	bool decode_error;
};

struct h2_callbacks {		/* any may be NULL */
	void (*on_headers)(void *ctx, const struct h2_headers *h, uint64_t ts);
	void (*on_data)(void *ctx, enum h2_side side, uint32_t stream_id,
			const uint8_t *p, size_t n, uint64_t ts);
	void (*on_data_gap)(void *ctx, enum h2_side side, uint32_t stream_id,
			    size_t n, uint64_t ts);
	void (*on_stream_end)(void *ctx, enum h2_side side, uint32_t stream_id,
			      uint64_t ts);
	void (*on_rst_stream)(void *ctx, enum h2_side side, uint32_t stream_id,
			      uint32_t error_code, uint64_t ts);
	void (*on_goaway)(void *ctx, enum h2_side side, uint32_t last_stream_id,
			  uint32_t error_code, uint64_t ts);
	void (*on_desync)(void *ctx, enum h2_side side, uint64_t ts);
};

struct h2_stats {
	uint64_t frames[10];		/* by type */
	uint64_t unknown_frames;	/* types > 9: skipped */
	uint64_t data_bytes;
	uint64_t header_blocks;
	uint64_t truncated_blocks;
	uint64_t desyncs;
	uint64_t resyncs;		/* seeks that found a frame head */
	uint64_t skipped_bytes;		/* while seeking */
	uint64_t gaps;
	uint64_t gap_bytes;
	uint64_t preface_errors;
	uint64_t held_bytes;		/* whole frames the kernel held back */
	uint64_t held_unaligned;	/* held spans that did not start between frames */
};

enum h2_state {
	H2S_PREFACE,		/* client side, from the start */
	H2S_SEEK,
	H2S_HEAD,		/* collecting a 9-byte frame head */
	H2S_PAYLOAD,
};

struct h2_half {
	enum h2_state state;
	unsigned preface_pos;
	uint8_t head[9];
	unsigned head_len;
	/* current frame */
	uint32_t len, stream_id;
	uint8_t type, flags;
	uint32_t left;		/* payload bytes still to come */
	uint32_t pad;		/* DATA/HEADERS padding at the payload's end */
	uint32_t pre_left;	/* HEADERS priority bytes still to skip */
	bool need_pad;		/* PADDED: the pad length byte is next */
	uint8_t ctl[64];	/* small control payloads (RST, GOAWAY head, SETTINGS) */
	uint32_t ctl_len;
	/* header block across HEADERS + CONTINUATION */
	uint8_t block[H2_BLOCK_MAX];
	uint32_t block_len;
	uint32_t block_stream;
	bool block_open, block_over, block_end_stream;
	struct hpack_decoder hpack;
	uint32_t open_streams[H2_STREAMS];	/* streams whose first block we saw */
	unsigned open_next;
	struct h2_stats stats;
};

struct h2_conn {
	const struct h2_callbacks *cb;
	void *ctx;
	struct h2_half half[2];
};

/* from_start: the connection is fed from its first byte. */
void h2_conn_init(struct h2_conn *c, const struct h2_callbacks *cb, void *ctx,
		  bool from_start);
/* data holds the first cap_len of the total_len bytes one syscall moved on
 * side; the rest (total_len - cap_len) is an uncaptured gap. */
void h2_conn_feed(struct h2_conn *c, enum h2_side side, const uint8_t *data,
		  size_t cap_len, size_t total_len, uint64_t ts);
/* n bytes of whole frames the kernel held back (bpf/sock_h2.h): skipped
 * in place when this side is between frames, which it is again after
 * them; else a gap. True if the framing survived. */
bool h2_conn_skip(struct h2_conn *c, enum h2_side side, size_t n, uint64_t ts);
/* Is p[0..8] a plausible frame head (the seek rule, exposed for tests)? */
bool h2_frame_head_valid(const uint8_t *p);

#endif

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Incremental HTTP/1.x parser for one direction of one connection, fed
 * the byte stream as the syscalls moved it: pieces that may split or
 * merge messages, may be only partly captured (gaps), and may start in
 * the middle of the stream. No allocation; memory is the struct.
 *
 * Callback contract, per message:
 *   on_begin -> on_head -> (on_body | on_body_gap)* -> on_end
 * Every on_begin gets exactly one on_head and one on_end. If the head was
 * cut short (gap, close, oversize), on_head still fires, with
 * head_truncated set and whatever was parsed, right before on_end(false).
 * on_desync fires when framing is lost; if a message was open it fires
 * between its on_head and its on_end(complete=false).
 * Interim 1xx responses (100 Continue, 103 ...) are parsed and skipped
 * without callbacks (counted in stats.interim). 101 ends HTTP on the
 * stream: its message is reported, the bytes after it are skipped. */
#ifndef SERVETRACE_HTTP_STREAM_H
#define SERVETRACE_HTTP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_LINE_MAX	1024		/* header line bytes inspected */
#define HTTP_HEAD_MAX	(64 * 1024)	/* larger: desync (h11 stops at 16K) */
#define HTTP_TARGET_MAX	8192		/* longer target: not a start line */
#define HTTP_CHUNK_LINE_MAX 4096	/* chunk-size line with extensions */

enum http_kind { HTTP_REQUEST, HTTP_RESPONSE };

struct http_head {		/* complete when on_head fires */
	char method[16];		/* request */
	char path[256];			/* request target, prefix if longer */
	int status;			/* response */
	char reason[64];		/* response, prefix if longer */
	int version_minor;		/* HTTP/1.x */
	long long content_length;	/* -1 if absent */
	bool chunked;			/* Transfer-Encoding ends in chunked */
	bool conn_close;		/* Connection: close, or 1.0 without keep-alive */
	bool event_stream;		/* Content-Type: text/event-stream */
	bool expect_continue;		/* request: Expect: 100-continue */
	char request_id[128];		/* best of x-request-id, x-correlation-id,
					 * x-trace-id, request-id (that order) */
	char request_id_header[32];	/* its header name, lower case */
	bool head_truncated;		/* not all header bytes were seen */
	size_t head_len;		/* bytes from start line to blank line */
};

struct http_callbacks {		/* any may be NULL */
	void (*on_begin)(void *ctx, uint64_t ts);	/* ts of the first byte */
	void (*on_head)(void *ctx, const struct http_head *h, uint64_t ts);
	void (*on_body)(void *ctx, const char *p, size_t n, uint64_t ts);
	void (*on_body_gap)(void *ctx, size_t n, uint64_t ts);
	/* n bytes of whole chunks went by uncaptured (counted in the kernel):
	 * unlike a gap, the framing is known intact. NULL: reported as a gap. */
	void (*on_body_skipped)(void *ctx, size_t n, uint64_t ts);
	void (*on_end)(void *ctx, uint64_t ts, bool complete);
	void (*on_desync)(void *ctx, uint64_t ts);
};

struct http_stream_stats {
	uint64_t messages;		/* on_begin calls */
	uint64_t complete;		/* on_end(complete=true) */
	uint64_t incomplete;		/* on_end(complete=false) */
	uint64_t interim;		/* 1xx responses skipped */
	uint64_t desyncs;
	uint64_t skipped_bytes;		/* outside any message, captured or not */
	uint64_t gaps;			/* pieces with cap_len < total_len */
	uint64_t gap_bytes;		/* bytes not captured */
	uint64_t body_gap_bytes;	/* of which reported through on_body_gap */
	uint64_t truncated_heads;	/* on_head with head_truncated */
	uint64_t skipped_chunk_bytes;	/* whole chunks passed over */
};

enum http_state {
	HS_SEEK,		/* lost: wait for a piece that starts a message */
	HS_IDLE,		/* after a message: the next byte starts one */
	HS_START,		/* checking a candidate start line */
	HS_HEADERS,
	HS_BODY_LEN,
	HS_BODY_CLOSE,
	HS_CHUNK_SIZE,
	HS_CHUNK_DATA,
	HS_CHUNK_CRLF,
	HS_TRAILERS,
};

struct http_stream {
	enum http_kind kind;
	const struct http_callbacks *cb;
	void *ctx;
	enum http_state state;
	bool seek_boundary;	/* SEEK: current position is a piece start */
	bool no_body_next;	/* next final response carries no body */
	bool msg_open;		/* on_begin fired, on_end not yet */
	bool head_sent;		/* on_head fired for the open message */
	bool interim;		/* current response is 1xx */
	uint64_t begin_ts;

	/* start line */
	struct http_sl_scan {
		int state;
		int pos;
		size_t field_len;
	} sl;
	bool sl_from_idle;	/* failure then means lost framing */
	size_t sl_len;

	/* header lines */
	char line[HTTP_LINE_MAX];
	size_t line_len;
	bool line_over;
	size_t head_bytes;
	int rid_rank;		/* rank of request_id's header, 0 = none */
	bool cl_seen;
	bool cl_invalid;
	bool te_seen;
	bool keep_alive;

	/* body */
	uint64_t body_left;	/* Content-Length or chunk bytes to come */
	uint64_t chunk_size;
	int chunk_digits;
	bool chunk_ext;
	bool chunk_cr;
	size_t chunk_line_len;
	int crlf_pos;
	bool trailer_nonempty;
	size_t trailer_bytes;

	struct http_head head;
	struct http_stream_stats stats;
};

void http_stream_init(struct http_stream *s, enum http_kind kind,
		      const struct http_callbacks *cb, void *ctx);
/* data holds the first cap_len of the total_len bytes one syscall moved;
 * the rest (total_len - cap_len) is an uncaptured gap. */
void http_stream_feed(struct http_stream *s, const char *data,
		      size_t cap_len, size_t total_len, uint64_t ts);
/* n bytes of a chunked body passed uncaptured (the kernel held them back
 * and followed the framing): they finish the chunk in progress, if any,
 * and end `left` bytes before the next chunk-size line (0: on it); or
 * they end inside the chunk in progress, `left` bytes before its end as
 * this stream counts it too. True if taken so; false (nothing done) if
 * the stream is not in a chunked body or the counts disagree: feed them
 * as a gap. */
bool http_stream_skip_chunks(struct http_stream *s, size_t n, uint64_t ts, size_t left);
/* Connection closed: ends a read-until-close body (complete), ends any
 * other open message as incomplete, and returns to seeking. */
void http_stream_close(struct http_stream *s, uint64_t ts);
/* The next final response has no body whatever its headers say (the
 * request was HEAD). Call before that response's head completes. */
void http_stream_expect_no_body(struct http_stream *s);

#endif

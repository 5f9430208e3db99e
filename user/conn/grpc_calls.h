/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The gRPC calls of one HTTP/2 connection (proto/grpc.h) as exchanges:
 * a call's request HEADERS open it (the router's forward, written; the
 * worker's request, read), its Generate message gives the request id and
 * sampling parameters, the response messages the first token and the
 * token counts, the server's END_STREAM or an RST_STREAM end it. Calls
 * other than Generate are ignored; calls whose :path HPACK cannot tell
 * (the table predates attach) are counted, never guessed. */
#ifndef SERVETRACE_GRPC_CALLS_H
#define SERVETRACE_GRPC_CALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct exchange;
struct grpc_calls;

/* server: the process is the gRPC server (reads are the client's side).
 * from_start: the connection is seen from its preface. */
struct grpc_calls *grpc_calls_new(struct conn *c, bool server, bool from_start);
/* cap_len of the total_len bytes one read (read true) or write moved. */
void grpc_calls_feed(struct grpc_calls *gc, bool read, const char *data,
		     size_t cap_len, size_t total_len, uint64_t ts);
/* n bytes the kernel held back on this side; aligned: whole HTTP/2 frames
 * (SEF_SKIP_ALIGNED), skipped in place, else a gap. True if the framing
 * survived. */
bool grpc_calls_skip(struct grpc_calls *gc, bool read, size_t n, bool aligned, uint64_t ts);
/* EV_H2_SKIPS: per stream, the messages, DATA bytes and vLLM tokens held back
 * (struct h2k_held[len / 16], bpf/sock_h2.h), counted on their calls. */
void grpc_calls_held(struct grpc_calls *gc, bool read, const void *data, size_t len,
		     uint64_t ts);
/* The connection is gone: end what is open on it. */
void grpc_calls_close(struct grpc_calls *gc, const char *why, uint64_t ts);
/* The correlator frees ex: forget it. */
void grpc_calls_detach(struct grpc_calls *gc, struct exchange *ex);
void grpc_calls_free(struct grpc_calls *gc);
/* Does this piece, on a connection seen mid-way, start with HTTP/2 frames? */
bool grpc_calls_sniff(const char *data, size_t cap_len);
/* Is this (maybe short) piece the start of a SETTINGS frame: what a gRPC
 * server writes first, before it read the client's preface? */
bool grpc_calls_settings_start(const char *data, size_t cap_len);

#endif

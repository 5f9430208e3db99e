/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Turns socket events of traced processes into HTTP exchanges, by
 * connection, and hands them to the correlator its builder gives it. No
 * BPF in here: unit tests feed it recorded or hand-made event streams. */
#ifndef SERVETRACE_COLLECTOR_H
#define SERVETRACE_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "conn/roles.h"
#include "correlate/correlator.h"
#include "sock_event.h"

struct collector_opts {
	uint32_t body_limit;		/* request/response body bytes kept */
	uint32_t max_conns;		/* the least recently used is evicted */
	bool keep_text;			/* rows carry the prompt (--keep-text) */
	/* Behind a router, a worker's SSE events are parsed as JSON only
	 * until one told SGLang's id (the router's side counts the tokens). */
	bool have_router;
};

struct collector_stats {
	uint64_t events, data_events, bytes;
	uint64_t conns_opened, conns_closed, conns_evicted, fd_reused;
	uint64_t closes_seen;		/* closes the kernel reported */
	uint64_t conns_not_http;	/* first bytes were not HTTP/1.x */
	uint64_t conns_h2;		/* HTTP/2, from the preface: parsed as gRPC */
	uint64_t conns_h2_midway;	/* HTTP/2 found mid-connection by frame heads */
	uint64_t grpc_calls;		/* Generate calls seen (each side) */
	uint64_t grpc_other_calls;	/* other gRPC methods (health, loads): ignored */
	uint64_t grpc_unknown_calls;	/* :path lost to an HPACK table from before attach */
	uint64_t grpc_undecoded;	/* Generate requests whose message was not decoded */
	uint64_t grpc_resets;		/* calls ended by RST_STREAM */
	uint64_t h2_unknown_fields;	/* header fields naming HPACK entries never seen */
	uint64_t h2_desyncs;		/* HTTP/2 framing lost, resynced */
	uint64_t skipped_bytes;		/* bytes before the first message boundary */
	uint64_t midstream_requests;	/* responses whose request we never saw */
	uint64_t ignored_requests;	/* health checks, metrics, GETs */
	uint64_t requests;		/* inference requests seen, every side */
	uint64_t client_requests;	/* of which: a router read them from a client */
	uint64_t forwards;		/* of which: a router wrote them to a worker */
	uint64_t worker_requests;	/* of which: a worker read them */
	uint64_t desyncs;		/* HTTP framing lost, resynced */
	uint64_t body_truncated;	/* bodies beyond body_limit or not captured */
	uint64_t body_rids_scanned;	/* of those: rid found by the streaming scan */
	uint64_t body_ids_lost;		/* of those: no header id, and bytes the
					 * rid may have been in were not captured */
	uint64_t sse_truncated;
	uint64_t io_errors;		/* failed reads/writes (reset, EPIPE) */
	uint64_t client_aborts;		/* client closed before the response */
	uint64_t proc_exits;
	uint64_t skipped_calls;		/* calls the kernel counted, not sent */
	uint64_t skips_unaligned;	/* of which not on a chunk boundary here */
	uint64_t sse_tails;		/* last-event tails taken from the kernel */
	uint64_t stream_gaps;		/* stream bytes missing: records lost */
};

struct collector;

/* Exchanges go to corr, which must outlive the collector; the collector
 * registers as their holder (correlator_set_holder). */
struct collector *collector_new(const struct collector_opts *opts,
				struct correlator *corr);
/* The same, exchanges to any sink (a parse thread's handoff). */
struct exchange_sink;
struct collector *collector_new_sink(const struct collector_opts *opts,
				     const struct exchange_sink *sink);
void collector_free(struct collector *col);
void collector_set_role(struct collector *col, uint32_t tgid, enum proc_role role);
enum proc_role collector_role(struct collector *col, uint32_t tgid);
/* One ring-buffer record (struct sock_event + payload). */
void collector_handle(struct collector *col, const struct sock_event *ev,
		      const char *data);
/* End of tracing: close every connection, ending what is in flight on
 * it (then correlator_flush() writes the rows). */
void collector_flush(struct collector *col);
const struct collector_stats *collector_stats(struct collector *col);
/* Latest event timestamp seen (monotonic ns). */
uint64_t collector_last_ts(struct collector *col);

/* Called for EV_PROC_EXIT so the caller can forget the process. */
typedef void (*collector_exit_fn)(void *ctx, uint32_t tgid);
void collector_on_exit(struct collector *col, collector_exit_fn fn, void *ctx);

#endif

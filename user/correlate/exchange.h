/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* One HTTP request/response exchange as one traced process saw it. */
#ifndef SERVETRACE_EXCHANGE_H
#define SERVETRACE_EXCHANGE_H

#include <stdbool.h>
#include <stdint.h>
#include "conn/body_buf.h"
#include "proto/body_fields.h"
#include "sock_event.h"
#include "util/list.h"

enum exchange_kind {
	EX_CLIENT_IN = 1,	/* router: request from a client */
	EX_FORWARD,		/* router: request to a worker */
	EX_WORKER_IN,		/* worker: request from the router or a client */
};

enum rid_source {
	RID_NONE = 0,
	RID_HEADER,		/* x-request-id and friends */
	RID_BODY,		/* JSON "rid" */
	RID_SGLANG,		/* meta_info.id / OpenAI id from the response */
	RID_ASSIGNED,		/* servetrace made one up */
};

struct exchange {
	/* what the correlator's expiry walk reads, in one cache line */
	struct list_head node;		/* store list, oldest first */
	uint64_t serial;
	enum exchange_kind kind;
	uint32_t tgid;
	bool ignored;			/* not an inference request */
	bool grpc;			/* a gRPC call over HTTP/2 (smg gRPC mode) */
	bool consumed;			/* part of an emitted row */
	bool finalize_queued;
	bool recyclable;		/* plain size: may be reused once freed */
	bool sink_request_done;		/* the sink's request_done came (handoff) */
	bool resp_done;			/* over (response ended, or given up) */
	uint64_t t_last;		/* last activity */
	uint64_t t_done;		/* when it ended, for the linger */

	struct sock_endpoint local, peer;
	uint64_t pair_hash;		/* connection, as the worker side sees it */
	struct list_head fin_node;	/* finalize queue, in t_done order */
	struct list_head dead_node;	/* consumed, freed at the tick's end */
	bool dead_queued;
	struct list_head pair_node;	/* worker requests of a connection, oldest first */
	void *conn;			/* owning connection while not done */
	void *home;			/* made by a parse thread: freed back to it
					 * (correlator_set_exchange_return) */
	uint64_t key_id, key_fp, key_pair;	/* index keys, 0 = not indexed */
	uint64_t id_key;		/* its id hashed once final (id_key_set) */
	bool id_key_set;
	struct hlist_node id_hn, fp_hn;		/* forwards by id, by fingerprint */

	/* request */
	char method[16];
	char path[128];
	char header_id[RID_MAX];
	struct request_fields req;
	struct body_buf req_body;
	uint64_t t_req_first;
	uint64_t req_bytes;
	bool req_done;

	/* response */
	int status;
	char reason[64];
	bool event_stream;
	struct body_buf resp_body;	/* non-streaming bodies only */
	struct response_fields resp;
	uint64_t t_resp_first, t_resp_last;
	uint64_t t_first_event;		/* first SSE data event */
	uint32_t sse_events;
	uint32_t sse_tokens;		/* generated tokens seen in the stream */
	bool sse_native;		/* an event carried SGLang's meta_info counts */
	uint64_t resp_bytes;
	bool resp_started, resp_complete;

	bool resp_gap_seen;		/* response bytes went by uncaptured */
	bool capture_lost;		/* framing lost to uncaptured bytes: the end
					 * of the exchange is unknown, not failed */
	char conn_error[48];		/* connection_reset, client_aborted ... */
};

/* Asks for all of ex's cache lines ahead of use: exchanges are written on
 * one thread and read on another, a linger later, as misses otherwise. */
static inline void exchange_prefetch(const struct exchange *ex)
{
	for (size_t off = 0; off < sizeof(*ex); off += 64)
		__builtin_prefetch((const char *)ex + off);
}

/* The same, to be written: a freed exchange is cleared for reuse. */
static inline void exchange_prefetch_write(struct exchange *ex)
{
	for (size_t off = 0; off < sizeof(*ex); off += 64)
		__builtin_prefetch((char *)ex + off, 1);
}

#endif

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The collector's connection and state, shared by collector.c (HTTP/1.x)
 * and grpc_calls.c (HTTP/2 + gRPC). Internal to user/conn. */
#ifndef SERVETRACE_CONN_H
#define SERVETRACE_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include "conn/collector.h"
#include "conn/exchange_sink.h"
#include "proto/http_stream.h"
#include "util/list.h"

enum conn_side { SIDE_UNKNOWN, SIDE_SERVER, SIDE_CLIENT, SIDE_IGNORED, SIDE_H2 };

#define MAX_PENDING 8	/* requests awaiting their response (pipelining) */
#define CONN_BUCKETS 8192

struct sse_parser;
struct grpc_calls;

struct conn {
	struct hlist_node hn;			/* by (tgid, fd) */
	struct list_head lru;			/* least recently used first */
	struct collector *col;
	uint32_t tgid;
	int32_t fd;
	uint64_t sock_id;
	struct sock_endpoint local, peer;
	enum conn_side side;
	enum proc_role role;
	struct http_stream req, resp;
	struct exchange *cur_req;		/* request being parsed */
	struct exchange *cur_resp;		/* response being parsed */
	struct exchange *pending[MAX_PENDING];	/* requests done, no response yet */
	int npending;
	struct sse_parser *sse;			/* while a stream is parsed */
	struct grpc_calls *h2;			/* SIDE_H2: the gRPC calls on it */
	uint64_t piece_first, piece_last;	/* times of the piece being fed */
	uint64_t next_off[2];			/* stream offset expected next, per dir */
	bool off_known[2];
	bool data_seen;				/* a data event went by */
	/* what the kernel kept of the last SSE calls it held back
	 * (EV_SSE_TAIL): [0, tail_scan) only scanned for token counts (an
	 * event's end), [tail_scan, tail_len) SSE bytes fed as events */
	char *tail;
	uint32_t tail_len, tail_scan;
	bool tail_done_cut;			/* the kernel counted its [DONE] */
};

struct collector {
	struct collector_opts o;
	struct exchange_sink sink;		/* the correlator, or a handoff */
	struct hlist_head conns[CONN_BUCKETS];
	struct list_head lru;
	uint32_t nconns;
	struct roles roles;
	uint64_t last_ts;
	collector_exit_fn on_exit;
	void *on_exit_ctx;
	struct collector_stats st;
};

/* Sets why ex failed unless something said so before. */
void conn_note_error(struct exchange *ex, const char *why);
/* ex is over: to the correlator. */
void conn_end_exchange(struct conn *c, struct exchange *ex, const char *why, uint64_t ts);

#endif

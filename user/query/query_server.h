/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* --listen: the query API and /metrics on libmicrohttpd, in its own thread
 * (one polling thread; a slow client costs a socket, never the tracer):
 *   GET  /v1/traces/{request_id}   404 if unknown
 *   POST /v1/traces/batch          {"request_ids": [...]}; 400 malformed,
 *                                  413 over max_body
 *   GET  /v1/traces?limit=N        newest first, N capped at max_limit
 *   GET  /v1/traces/stats
 *   GET  /metrics                  Prometheus exposition text
 * Errors are JSON: {"error": "..."}. */
#ifndef SERVETRACE_QUERY_SERVER_H
#define SERVETRACE_QUERY_SERVER_H

#include <stddef.h>
#include <sys/socket.h>
#include "query/metrics.h"
#include "query/trace_store.h"

#define QUERY_MAX_CONNECTIONS_DEFAULT 32
#define QUERY_CONN_TIMEOUT_DEFAULT_S 10
#define QUERY_MAX_BODY_DEFAULT (64 * 1024)
#define QUERY_MAX_LIMIT_DEFAULT 1000
#define QUERY_LIST_LIMIT_DEFAULT 100

struct query_opts {
	unsigned max_connections;	/* 0: default; more are refused */
	unsigned conn_timeout_s;	/* 0: default; idle connections closed */
	size_t max_body;		/* 0: default; larger bodies get 413 */
	unsigned max_limit;		/* 0: default; cap of ?limit= and batch ids */
};

struct query_server;

/* listen_addr: "PORT" (binds 127.0.0.1), "HOST:PORT" or "[V6]:PORT";
 * port 0 picks a free one (query_server_port says which). store and m
 * stay the caller's and must outlive the server. NULL on error, with a
 * message on stderr. */
struct query_server *query_server_start(const char *listen_addr, const struct query_opts *o,
					struct trace_store *store, struct metrics *m);
unsigned query_server_port(const struct query_server *qs);
/* Stops the thread, closes every connection, frees qs. */
void query_server_stop(struct query_server *qs);
/* Parses listen_addr as query_server_start does (for CLI checks). */
int query_parse_listen(const char *listen_addr, struct sockaddr_storage *ss);

#endif

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* One tracing session: builds the pipeline (capture -> collector ->
 * correlator <- server hops, correlator -> output), connects its stages
 * and runs it, live from the kernel or from a --record file, then prints
 * what was lost. main() only parses the command line into session_opts. */
#ifndef SERVETRACE_SESSION_H
#define SERVETRACE_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include "procs/discover.h"
#include "sock_event.h"

#define SESSION_MAX_TARGETS DISCOVER_MAX

/* Every limit, with its default. Memory is bounded by the max_* ones:
 * past them the oldest entry is evicted (and counted). */
#define LIMIT_MAX_CONNS_DEFAULT		65536	/* connections tracked */
#define LIMIT_MAX_EXCHANGES_DEFAULT	200000	/* HTTP exchanges held */
#define LIMIT_MAX_HOP_RECORDS_DEFAULT	100000	/* server-hop records awaiting a row */
#define LIMIT_MAX_RIDS_DEFAULT		100000	/* per-rid scheduler states */
#define LIMIT_LINGER_MS_DEFAULT		300	/* wait after a request ends (--linger) */
#define LIMIT_ORPHAN_MS_DEFAULT		10000	/* unclaimed pieces given up after */
#define LIMIT_IDLE_MS_DEFAULT		600000	/* unfinished exchanges expire after */
#define LIMIT_BODY_BYTES_DEFAULT	(64 * 1024)	/* body kept per message (--body-limit) */
#define LIMIT_CAPTURE_BYTES_DEFAULT	DEFAULT_CAPTURE	/* payload per syscall (--capture-size) */
#define LIMIT_RINGBUF_MB_DEFAULT	0	/* ring buffers in all (--ringbuf-size);
						 * 0: 64 MiB a shard, at most 256 (session.c) */
#define LIMIT_EXIT_DEADLINE_MS_DEFAULT	700	/* drain after SIGINT/SIGTERM, then go */
#define LIMIT_COLLECTOR_THREADS_DEFAULT	0	/* parse threads; 0: by the machine (session.c) */
#define LIMIT_COLLECTOR_THREADS_MAX	16	/* = COLLECTOR_POOL_MAX_THREADS */

struct session_limits {
	uint32_t max_conns;
	uint32_t max_exchanges;
	uint32_t max_hop_records;
	uint32_t max_rids;
	uint32_t linger_ms;
	uint32_t orphan_ms;
	uint32_t idle_ms;
	uint32_t body_bytes;
	uint32_t capture_bytes;
	uint32_t ringbuf_mb;		/* power of two, split over the shards; 0: by them */
	uint32_t shards;		/* ring buffers; 0: one per 4 CPUs, at most 8 */
	uint32_t exit_deadline_ms;	/* reading what is left after a signal */
	uint32_t collector_threads;	/* 0: 1 up to 4 CPUs, else min(shards, CPUs, 4) */
};

struct session_limits session_limits_default(void);

struct session_opts {
	const char *output;		/* NULL: stdout */
	bool json;
	bool quiet;
	bool verbose;
	uint32_t router_pids[SESSION_MAX_TARGETS], worker_pids[SESSION_MAX_TARGETS];
	int nrouter_pids, nworker_pids;
	uint16_t router_ports[SESSION_MAX_TARGETS], worker_ports[SESSION_MAX_TARGETS];
	int nrouter_ports, nworker_ports;
	double duration;		/* seconds, 0 = until a signal */
	uint32_t output_mode;		/* files created with it; 0: 0600 */
	const char *ready_file;
	const char *record;
	const char *replay;
	bool wait;
	bool keep_text;
	bool no_server_probes;
	bool full_capture;		/* no SSE skipping in the kernel */
	int io_hooks;			/* enum io_hooks: where data calls are seen */
	/* the views (issue 12): all off unless named */
	const char *perfetto;		/* --perfetto FILE */
	const char *listen;		/* --listen ADDR: query API + /metrics */
	uint32_t trace_ttl_s;		/* 0: the store's default */
	uint32_t max_traces;		/* 0: the store's default */
	const char *routing_policy;	/* the traces' routing_policy; NULL: unknown */
	bool serve_after_replay;	/* --replay then keep --listen up until a signal */
	struct session_limits limits;
};

/* Runs the session to its end; returns the process exit code. */
int session_run(const struct session_opts *opts);

#endif

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The pipeline, built and connected in one place (session_build):
 *
 *   kernel --sock events--> collector --exchanges--> correlator --rows--> output
 *   SGLang --libzmq records--> server_hops --hops----^
 *
 * then run live (ring buffers polled, targets rescanned every second) or
 * from a recording, with a progress line and a summary of every loss. */
#define _GNU_SOURCE	/* sched_getaffinity */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "capture/recording.h"
#include "capture/ring_set.h"
#include "capture/server_probes.h"
#include "capture/sock_capture.h"
#include "conn/collector.h"
#include "conn/collector_pool.h"
#include "correlate/correlator.h"
#include "correlate/server_hops.h"
#include "proto/vllm_ipc.h"
#include "output/clock.h"
#include "output/mem_ceiling.h"
#include "output/outfile.h"
#include "output/output.h"
#include "output/perfetto.h"
#include "procs/discover.h"
#include "procs/exec_queue.h"
#include "procs/procfs.h"
#include "query/metrics.h"
#include "query/query_server.h"
#include "query/trace_store.h"
#include "session.h"

#define MAX_TARGETS SESSION_MAX_TARGETS
#define MS_NS 1000000ULL
/* A pass over the rings gives way after this long (capture/ring_set.h
 * says why). Measured on 16 cores: one thread overloaded kept rows for
 * 28-36 % of the requests and took 1.9-7.2 s to exit; with passes that
 * give way, 84-100 % and 0.83-1.59 s. The clock is read every 256
 * records. SERVETRACE_TEST_CUT_PASSES cuts every pass at its first record
 * instead: a test that no row is lost or built early for it. */
#define PASS_BUDGET_NS (50 * MS_NS)
static uint64_t pass_budget_ns = PASS_BUDGET_NS;
static uint32_t pass_check_every = 256;

static volatile sig_atomic_t exiting;
static bool verbose;

struct session_limits session_limits_default(void)
{
	return (struct session_limits){
		.max_conns = LIMIT_MAX_CONNS_DEFAULT,
		.max_exchanges = LIMIT_MAX_EXCHANGES_DEFAULT,
		.max_hop_records = LIMIT_MAX_HOP_RECORDS_DEFAULT,
		.max_rids = LIMIT_MAX_RIDS_DEFAULT,
		.linger_ms = LIMIT_LINGER_MS_DEFAULT,
		.orphan_ms = LIMIT_ORPHAN_MS_DEFAULT,
		.idle_ms = LIMIT_IDLE_MS_DEFAULT,
		.body_bytes = LIMIT_BODY_BYTES_DEFAULT,
		.capture_bytes = LIMIT_CAPTURE_BYTES_DEFAULT,
		.ringbuf_mb = LIMIT_RINGBUF_MB_DEFAULT,
		.exit_deadline_ms = LIMIT_EXIT_DEADLINE_MS_DEFAULT,
		.collector_threads = LIMIT_COLLECTOR_THREADS_DEFAULT,
	};
}

static int libbpf_print_fn(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void sig_handler(int sig)
{
	exiting = 1;
}

/* ---- the tracing session ------------------------------------------- */

/* A parse thread's ring-buffer reader (--collector-threads > 1). */
struct parse_ctx {
	struct session *s;
	uint32_t thread;
	struct ring_set *rings;		/* its shards */
	uint64_t upto;			/* all records before are read */
	uint64_t unread, unread_bytes;	/* left at the exit deadline */
};

struct session {
	const struct session_opts *o;
	struct correlator *corr;
	struct collector *col;			/* one thread; else NULL */
	struct collector_pool *pool;		/* parse threads; else NULL */
	struct parse_ctx pctx[COLLECTOR_POOL_MAX_THREADS];
	uint32_t threads, shards;
	struct ring_set *rings;			/* the main thread's: every shard
						 * (one thread) and the libzmq ring */
	struct sock_capture *sc;
	struct server_hops *hops;
	struct server_probes *sp;
	struct output out;
	FILE *record;
	struct outfile out_file, rec_file;	/* -o, --record */
	bool started;				/* past start-up: files are kept */
	uint32_t traced[2 * MAX_TARGETS];
	int ntraced;
	bool auto_discover;
	struct exec_queue execq;		/* EV_PROC_EXEC: pids to classify now */
	char found[2 * MAX_TARGETS][96];	/* "router smg 1.13.0 pid N": summary */
	int nfound;
	uint64_t drain_deadline;		/* monotonic ns; 0 until a signal */
	uint64_t unread_records, unread_bytes;	/* left in the rings at exit */
	uint64_t exit_drain_ms, exit_flush_ms;	/* where an exit's time went */
	uint64_t flush_deadline;		/* monotonic ns; 0: none (replay) */
	/* the views: each NULL unless asked for */
	struct perfetto *pf;
	struct outfile pf_file;		/* --perfetto */
	struct trace_store *store;
	struct metrics *metrics;
	struct query_server *qs;
	char policy[64];			/* the traces' routing_policy */
};

static mode_t file_mode(const struct session_opts *o)
{
	return o->output_mode ? o->output_mode : OUTFILE_MODE_DEFAULT;
}

static void emit_row(void *ctx, const struct timeline_row *row)
{
	struct session *s = ctx;

	output_row(&s->out, row);
	if (s->pf)
		perfetto_row(s->pf, row);
	if (s->store)
		trace_store_put(s->store, row);
	if (s->metrics)
		metrics_observe(s->metrics, row);
}

/* Exit under load: past the drain deadline a record is counted, not
 * parsed (1), so the summary says how many were left, not how many rings
 * held some. The probes are quiet by then, so this reads at most what the
 * rings held, a few ns a record; should that take past UNREAD_COUNT_NS the
 * rest stays in the rings (-ETIME) and only its bytes are counted. */
#define UNREAD_COUNT_NS	(100 * 1000000ULL)

static int past_deadline(uint64_t deadline, uint64_t *records, uint64_t *bytes, size_t size)
{
	uint64_t now;

	if (!deadline || (now = clock_mono_now_ns()) <= deadline)
		return 0;
	if (now > deadline + UNREAD_COUNT_NS)
		return -ETIME;
	(*records)++;
	*bytes += (size + BPF_RINGBUF_HDR_SZ + 7) & ~7ULL;	/* as the ring holds it */
	return 1;
}

static int on_sock_event(void *ctx, void *data, size_t size)
{
	struct session *s = ctx;
	const struct sock_event *ev = data;
	int late = past_deadline(s->drain_deadline, &s->unread_records, &s->unread_bytes, size);

	if (late)
		return late < 0 ? late : 0;
	if (size < sizeof(*ev) || size < sizeof(*ev) + ev->cap_len)
		return 0;
	if (ev->type == EV_PROC_EXEC) {
		exec_queue_push(&s->execq, ev->tgid, ev->ts_enter);
		return 0;
	}
	if (s->record)	/* the record less its size-class padding */
		recording_write(s->record, REC_SOCK, data, sizeof(*ev) + ev->cap_len);
	collector_handle(s->col, ev, (const char *)(ev + 1));
	return 0;
}

/* The same on a parse thread: its own collector; --record shared. */
static int on_thread_sock_event(void *ctx, void *data, size_t size)
{
	struct parse_ctx *pc = ctx;
	struct session *s = pc->s;
	const struct sock_event *ev = data;
	int late = past_deadline(collector_pool_deadline(s->pool), &pc->unread,
				 &pc->unread_bytes, size);

	if (late)
		return late < 0 ? late : 0;
	if (size < sizeof(*ev) || size < sizeof(*ev) + ev->cap_len)
		return 0;
	if (ev->type == EV_PROC_EXEC) {
		exec_queue_push(&s->execq, ev->tgid, ev->ts_enter);
		return 0;
	}
	if (s->record) {
		flockfile(s->record);	/* one record's three writes together */
		recording_write(s->record, REC_SOCK, data, sizeof(*ev) + ev->cap_len);
		funlockfile(s->record);
	}
	collector_pool_handle(s->pool, pc->thread, ev, (const char *)(ev + 1));
	return 0;
}

/* A parse thread's loop body: its rings, on a wakeup or every 50 ms;
 * returns the time they were consumed up to. final: after the signal,
 * what they hold until the deadline (the callback counts the rest). */
static uint64_t thread_poll(void *ctx, uint32_t thread, bool final)
{
	struct session *s = ctx;
	struct parse_ctx *p = &s->pctx[thread];
	uint64_t t;

	if (final) {
		ring_set_drain(p->rings);
		return clock_mono_now_ns();
	}
	/* -EINTR: the main thread sees the signal. A pass that gave way
	 * leaves older records in the rings: the watermark stays */
	if (ring_set_pass(p->rings, 50, &t) == 1)
		p->upto = t;
	return p->upto;
}

static void set_role(struct session *s, uint32_t tgid, enum proc_role role)
{
	if (s->pool)
		collector_pool_set_role(s->pool, tgid, role);
	else
		collector_set_role(s->col, tgid, role);
}

static uint64_t passes_cut(const struct session *s)
{
	uint64_t n = ring_set_cuts(s->rings);

	for (uint32_t i = 0; s->pool && i < s->threads; i++)
		n += ring_set_cuts(s->pctx[i].rings);
	return n;
}

/* The collector's counters, summed over the parse threads. */
static const struct collector_stats *col_stats(struct session *s, struct collector_stats *tmp)
{
	if (!s->pool)
		return collector_stats(s->col);
	collector_pool_collector_stats(s->pool, tmp);
	return tmp;
}

static uint64_t col_last_ts(struct session *s)
{
	return s->pool ? collector_pool_last_ts(s->pool) : collector_last_ts(s->col);
}

static bool past_flush_deadline(void *ctx)
{
	const struct session *s = ctx;

	return s->flush_deadline && clock_mono_now_ns() > s->flush_deadline;
}

/* End of tracing: every connection closed, then every row out (live: by
 * flush_deadline, after which what is left is counted, not written). */
static void flush_pipeline(struct session *s)
{
	if (s->pool)
		collector_pool_flush(s->pool);
	else
		collector_flush(s->col);
	correlator_flush_bounded(s->corr, past_flush_deadline, s);
}

static int on_zmq_event(void *ctx, void *data, size_t size)
{
	struct session *s = ctx;
	int late = past_deadline(s->drain_deadline, &s->unread_records, &s->unread_bytes, size);

	if (late)	/* the uprobes still fire: this bounds the drain */
		return late < 0 ? late : 0;
	if (s->record)
		recording_write(s->record, REC_ZMQ, data, size);
	server_hops_handle(s->hops, data, size);
	return 0;
}

static bool is_traced(struct session *s, uint32_t pid)
{
	for (int i = 0; i < s->ntraced; i++)
		if (s->traced[i] == pid)
			return true;
	return false;
}

/* The router's --policy NAME (or --policy=NAME), for the traces. */
static void router_policy(struct session *s, uint32_t pid)
{
	char argv[8192];
	ssize_t n = procfs_cmdline(NULL, pid, argv, sizeof(argv) - 1);

	if (s->o->routing_policy || s->policy[0] || n <= 0)
		return;
	argv[n] = 0;
	for (char *a = argv; a < argv + n; a += strlen(a) + 1) {
		const char *v = NULL;

		if (!strncmp(a, "--policy=", 9))
			v = a + 9;
		else if (!strcmp(a, "--policy") && a + strlen(a) + 1 < argv + n)
			v = a + strlen(a) + 1;
		if (v && *v) {
			snprintf(s->policy, sizeof(s->policy), "%s", v);
			return;
		}
	}
}

static int trace_process(struct session *s, uint32_t pid, enum proc_role role)
{
	struct rec_role rr = { pid, role };
	struct proc_info pi;
	char what[96], cmd[256];
	int err;

	if (is_traced(s, pid) || s->ntraced >= (int)(sizeof(s->traced) / sizeof(s->traced[0])))
		return 0;
	if (discover_process(NULL, pid, &pi)) {
		fprintf(stderr, "servetrace: process %u does not exist\n", pid);
		return -ESRCH;
	}
	set_role(s, pid, role);
	if (s->sc) {
		err = sock_capture_add_tgid(s->sc, pid);
		if (err) {
			fprintf(stderr, "servetrace: cannot trace %u: %s\n", pid, strerror(-err));
			return err;
		}
	}
	if (s->record)
		recording_write(s->record, REC_ROLE, &rr, sizeof(rr));
	s->traced[s->ntraced++] = pid;
	if (role == ROLE_WORKER && s->sp)
		server_probes_track(s->sp, pid);
	if (role == ROLE_ROUTER)
		router_policy(s, pid);
	discover_version(NULL, &pi);
	if (pi.kind == PROC_KIND_NONE)
		snprintf(what, sizeof(what), "%s pid %u", role == ROLE_ROUTER ? "router" : "worker", pid);
	else
		discover_format(&pi, what, sizeof(what));
	if (s->nfound < (int)(sizeof(s->found) / sizeof(s->found[0])))
		snprintf(s->found[s->nfound++], sizeof(s->found[0]), "%s", what);
	procfs_cmdline_text(NULL, pid, cmd, sizeof(cmd));
	fprintf(stderr, "servetrace: tracing %s: %.80s\n", what, cmd);
	return 0;
}

static void forget_process(void *ctx, uint32_t tgid)
{
	struct session *s = ctx;
	bool found = false;

	for (int i = 0; i < s->ntraced && !found; i++) {
		if (s->traced[i] == tgid) {
			s->traced[i] = s->traced[--s->ntraced];
			found = true;
		}
	}
	if (!found)
		return;
	if (s->sp)
		server_probes_untrack(s->sp, tgid);
	if (s->sc)
		sock_capture_del_tgid(s->sc, tgid);
	fprintf(stderr, "servetrace: process %u exited; no longer traced\n", tgid);
}

static int trace_ports(struct session *s, const uint16_t *ports, int n,
		       enum proc_role role)
{
	for (int i = 0; i < n; i++) {
		uint32_t pids[MAX_TARGETS];
		int np = discover_listeners(NULL, ports[i], pids, MAX_TARGETS);

		if (!np) {
			fprintf(stderr, "servetrace: nothing is listening on TCP port %u\n", ports[i]);
			return -ENOENT;
		}
		for (int k = 0; k < np; k++) {
			int err = trace_process(s, pids[k], role);

			if (err)
				return err;
		}
	}
	return 0;
}

/* Auto mode: routers and SGLang servers by their command lines. New ones
 * (a restarted worker) are picked up by the periodic rescan. */
static int discover_all(struct session *s, bool first)
{
	struct proc_info pids[MAX_TARGETS];
	int n, found = 0;

	n = discover_routers(NULL, pids, MAX_TARGETS);
	for (int i = 0; i < n; i++, found++)
		trace_process(s, pids[i].pid, ROLE_ROUTER);
	if (n)
		correlator_set_have_router(s->corr, true);
	n = discover_workers(NULL, pids, MAX_TARGETS);
	for (int i = 0; i < n; i++, found++)
		trace_process(s, pids[i].pid, ROLE_WORKER);
	if (first && !found && s->o->wait) {
		fprintf(stderr, "servetrace: no router or server yet; waiting for them\n");
	} else if (first && !found) {
		fprintf(stderr, "servetrace: found no router (sglang-router, smg) or server (SGLang, vLLM); "
			"name them with --router-pid/--worker-pid or --router-port/--worker-port\n");
		return -ENOENT;
	}
	return 0;
}

/* Auto mode: processes that just exec'd, classified now (the rescan
 * comes each second); a router's pick-up time is printed. */
static void pick_up_execs(struct session *s)
{
	struct exec_queue_item it[64];
	bool overflow;
	int n = exec_queue_drain(&s->execq, it, 64, &overflow);

	if (overflow)
		discover_all(s, false);
	for (int i = 0; i < n; i++) {
		struct proc_info pi;
		enum proc_role role;

		if (discover_process(NULL, it[i].pid, &pi) || pi.kind == PROC_KIND_NONE ||
		    it[i].pid == (uint32_t)getpid() || is_traced(s, it[i].pid))
			continue;
		role = pi.kind == PROC_KIND_ROUTER ? ROLE_ROUTER : ROLE_WORKER;
		if (trace_process(s, it[i].pid, role))
			continue;
		if (role == ROLE_ROUTER)
			correlator_set_have_router(s->corr, true);
		fprintf(stderr, "servetrace: pid %u traced %.1f ms after its exec\n", it[i].pid,
			(clock_mono_now_ns() - it[i].ts) / 1e6);
	}
}

static int setup_targets(struct session *s)
{
	int err = 0;

	for (int i = 0; i < s->o->nrouter_pids && !err; i++)
		err = trace_process(s, s->o->router_pids[i], ROLE_ROUTER);
	for (int i = 0; i < s->o->nworker_pids && !err; i++)
		err = trace_process(s, s->o->worker_pids[i], ROLE_WORKER);
	if (!err)
		err = trace_ports(s, s->o->router_ports, s->o->nrouter_ports, ROLE_ROUTER);
	if (!err)
		err = trace_ports(s, s->o->worker_ports, s->o->nworker_ports, ROLE_WORKER);
	if (err)
		return err;
	s->auto_discover = !s->o->nrouter_pids && !s->o->nworker_pids &&
			   !s->o->nrouter_ports && !s->o->nworker_ports;
	return s->auto_discover ? discover_all(s, true) : 0;
}

static bool have_router(const struct session_opts *o)
{
	struct proc_info pids[MAX_TARGETS];

	if (o->nrouter_pids || o->nrouter_ports)
		return true;
	if (o->nworker_pids || o->nworker_ports)
		return false;
	return discover_routers(NULL, pids, MAX_TARGETS) > 0;
}

static void progress(struct session *s, const uint64_t *kc, bool final)
{
	struct collector_stats tmp;
	const struct collector_stats *cs = col_stats(s, &tmp);
	const struct correlator_stats *rs = correlator_stats(s->corr);
	uint64_t drops = kc ? kc[CNT_RINGBUF_FULL] : 0;
	uint64_t in_flight = rs->in_flight;
	struct collector_pool_stats ps;

	if (s->pool) {	/* the threads hold theirs until they end */
		collector_pool_stats(s->pool, &ps);
		in_flight += ps.in_flight;
	}

	if (s->o->quiet && !final)
		return;
	/* requests as the rows count them: at the router, or at the workers */
	uint64_t seen = cs->client_requests ? cs->client_requests : cs->worker_requests;

	fprintf(stderr, "\rservetrace: %llu requests seen, %llu rows, %llu in flight, "
		"%llu events, %llu drops   %s",
		(unsigned long long)seen, (unsigned long long)rs->rows,
		(unsigned long long)in_flight, (unsigned long long)cs->events,
		(unsigned long long)drops, final ? "\n" : "");
}

typedef void (*counter_fn)(void *ctx, const char *label, unsigned long long v);

/* Every counter of the summary, in its order: printed at exit, and
 * published once a second to /metrics and the --perfetto counter tracks. */
static void counters(struct session *s, const uint64_t *kc, counter_fn fn, void *ctx)
{
	struct collector_stats tmp;
	const struct collector_stats *cs = col_stats(s, &tmp);
	const struct correlator_stats *rs = correlator_stats(s->corr);

#define P(label, v) fn(ctx, label, (unsigned long long)(v))
	P("rows written", rs->rows);
	P("  router-level rows", rs->rows_router);
	P("  node-level rows", rs->rows_node);
	P("  worker requests no router request matched", rs->rows_unmatched_worker);
	P("  rows with no forward seen", rs->rows_without_forward);
	P("    of which had an id the router passes on (not searched by time)", rs->searches_skipped);
	P("    of which the search by time stopped at its bound", rs->time_walks_bounded);
	P("  rows whose worker request was not seen", rs->rows_without_worker);
	P("  requests in flight at exit (written, flagged)", rs->incomplete_at_exit);
	P("  requests retried to another worker", rs->retried);
	P("exchanges placed out of start order (threads lagging)", rs->adopted_unordered);
	P("exchanges not written, exit deadline passed", rs->unwritten_at_exit);
	P("inference requests read by the router", cs->client_requests);
	P("  forwards written by the router", cs->forwards);
	P("  requests read by the workers", cs->worker_requests);
	P("ignored requests (health, metrics, GETs)", cs->ignored_requests);
	P("router forwards no client request claimed", rs->forwards_unmatched);
	P("responses whose request predates tracing", cs->midstream_requests);
	P("bytes skipped before a message boundary", cs->skipped_bytes);
	P("HTTP framing lost and resynced", cs->desyncs);
	P("bodies truncated (capture or body limit)", cs->body_truncated);
	P("  request rids found by the body scan", cs->body_rids_scanned);
	P("  request ids lost (body bytes not captured)", cs->body_ids_lost);
	P("SSE events truncated", cs->sse_truncated);
	P("failed reads/writes (resets)", cs->io_errors);
	P("client aborts", cs->client_aborts);
	P("connections opened", cs->conns_opened);
	P("  closes seen", cs->closes_seen);
	P("connections evicted (memory limit)", cs->conns_evicted);
	P("fd reused without a close seen", cs->fd_reused);
	P("HTTP/2 connections (gRPC), from the start", cs->conns_h2);
	P("  found mid-connection", cs->conns_h2_midway);
	P("  gRPC Generate calls (each side)", cs->grpc_calls);
	P("  other gRPC calls ignored", cs->grpc_other_calls);
	P("  calls whose :path predates attach", cs->grpc_unknown_calls);
	P("  Generate requests not decoded", cs->grpc_undecoded);
	P("  calls reset (RST_STREAM)", cs->grpc_resets);
	P("  HPACK references predating attach", cs->h2_unknown_fields);
	P("  HTTP/2 framing lost and resynced", cs->h2_desyncs);
	P("SSE calls the kernel held back", cs->skipped_calls);
	P("  of which not on a chunk boundary here", cs->skips_unaligned);
	P("stream bytes missing (records lost)", cs->stream_gaps);
	P("exchanges evicted (memory limit)", rs->evicted);
	P("exchanges expired unfinished", rs->expired_unfinished);
	P("server hops noted (libzmq)", rs->hops);
	P("  hop records evicted (memory limit)", rs->hop_records_evicted);
	if (s->pool) {
		struct collector_pool_stats ps;

		collector_pool_stats(s->pool, &ps);
		P("collector threads", collector_pool_threads(s->pool));
		P("  handoffs waited for (ring full)", ps.handoff_waits);
		P("  time waited, us", ps.handoff_wait_ns / 1000);
		P("  exchanges lost, ring full past the wait", ps.handoff_lost);
	}
	if (kc) {
		P("kernel: events submitted", kc[CNT_EVENTS]);
		P("kernel: events dropped, ring buffer full", kc[CNT_RINGBUF_FULL]);
		P("kernel: syscall exits without enter", kc[CNT_MISSED_ENTER]);
		P("kernel: socket calls by other syscalls (sendfile ..., not followed)",
		  kc[CNT_OTHER_IO]);
		P("kernel: syscall enters without exit", kc[CNT_STALE_ENTER]);
		P("kernel: payloads truncated to capture size", kc[CNT_TRUNCATED]);
		P("kernel: payload read faults", kc[CNT_READ_FAULT]);
		P("kernel: SSE calls counted, not sent", kc[CNT_SKIPPED_CALLS]);
		P("kernel: their bytes", kc[CNT_SKIPPED_BYTES]);
		P("kernel: stream calls off chunk boundaries (sent)", kc[CNT_SSE_UNALIGNED]);
		P("kernel: held-back SSE chunks starting mid-event (token counts may be short by up to this)",
		  kc[CNT_SSE_SPLIT]);
		P("kernel: held-back SSE calls going on from a partial write", kc[CNT_SSE_PARTIAL]);
		P("kernel: stream ends past the capture size (events before held back)",
		  kc[CNT_SSE_END_SPLIT]);
		P("kernel: stream starts sent up to the first event (the rest of the call held back)",
		  kc[CNT_SSE_HEAD_SPLIT]);
		P("kernel: chunk-size lines cut by a call's end (followed into the next)",
		  kc[CNT_SSE_CUT_HEAD]);
		P("kernel: chunk framing found again at a call's start (held back once confirmed)",
		  kc[CNT_SSE_RESYNC]);
		P("kernel: connection states full (sent whole)", kc[CNT_CONN_FULL]);
		P("kernel: request-body bytes sent past the capture size", kc[CNT_BODY_BYTES]);
		P("kernel: request-body calls past the cap (rest not sent)", kc[CNT_BODY_CAPPED]);
		P("kernel: HTTP/2 calls off frame boundaries (sent whole)", kc[CNT_H2_UNSYNCED]);
		P("kernel: directions with no HTTP/1.x or HTTP/2 framing (sent whole)", kc[CNT_H2_FALLBACK]);
		P("reading: passes over the rings cut short, the collector behind (overload)",
		  passes_cut(s));
		P("exit: records left unread at the deadline", s->unread_records);
		P("exit: bytes left unread in the rings", s->unread_bytes);
		P("exit: ms draining the rings", s->exit_drain_ms);
		P("exit: ms closing open exchanges", s->exit_flush_ms);
	}
	if (s->hops) {
		const struct server_hops_stats *hs = server_hops_stats(s->hops);

		P("libzmq: messages seen", hs->msgs);
		P("libzmq: not SGLang messages (pyzmq internals)", hs->unparsed);
		P("libzmq: outputs cut at capture size (rids may be missing)", hs->truncated_rids);
		P("libzmq: chunked prefills (queue end a lower bound)", hs->chunked_prefills);
		P("libzmq: outputs of requests received untraced", hs->no_recv_seen);
		P("libzmq: health-check requests ignored", hs->health_checks);
		P("libzmq: rid states evicted (memory limit)", hs->rid_states_evicted);
		P("vllm: frames seen", hs->vllm_msgs);
		P("vllm: frames in another layout than " VLLM_IPC_VERSION " (no ids read)",
		  hs->vllm_layout_mismatch);
		if (hs->vllm_mismatch[0])
			fprintf(stderr, "  vllm: layout mismatch, first: %s\n", hs->vllm_mismatch);
		P("vllm: outputs cut at capture size", hs->vllm_cut);
		P("vllm: SCHEDULED stamps read (stats on)", hs->vllm_scheduled_events);
	}
#undef P
}

static void print_counter(void *ctx, const char *label, unsigned long long v)
{
	fprintf(ctx, "  %-44s %llu\n", label, v);
}

static void summary(struct session *s, const uint64_t *kc)
{
	fprintf(stderr, "servetrace summary\n");
	for (int i = 0; i < s->nfound; i++)
		fprintf(stderr, "  traced: %s\n", s->found[i]);
	counters(s, kc, print_counter, stderr);
	if (s->sp)
		server_probes_summary(s->sp, stderr);
}

/* ---- the views: --perfetto and --listen (query API + /metrics) ---- */

/* "kernel: events dropped, ring buffer full" -> "kernel_events_dropped_ring_buffer_full" */
static void counter_name(const char *label, char *name, size_t size)
{
	size_t n = 0;

	for (; *label && n + 1 < size; label++) {
		if (isalnum((unsigned char)*label))
			name[n++] = tolower((unsigned char)*label);
		else if (n && name[n - 1] != '_')
			name[n++] = '_';
	}
	while (n && name[n - 1] == '_')
		n--;
	name[n] = 0;
}

struct publish { struct session *s; uint64_t now; };

static void publish_counter(void *ctx, const char *label, unsigned long long v)
{
	struct publish *p = ctx;
	char name[96];

	counter_name(label, name, sizeof(name));
	if (p->s->metrics)
		metrics_set_counter(p->s->metrics, name, v);
	if (p->s->pf)
		perfetto_counter(p->s->pf, name, p->now, v);
}

/* The libzmq probes print their counters only: read them back. */
static void publish_probe_counters(struct publish *p)
{
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return;
	server_probes_summary(p->s->sp, f);
	fclose(f);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strrchr(line, ' '), *end;
		unsigned long long v;

		if (!sp)
			continue;
		v = strtoull(sp + 1, &end, 10);
		if (end == sp + 1 || *end)
			continue;
		*sp = 0;
		publish_counter(p, line, v);
	}
	free(text);
}

/* Once a second and at exit: the requests in flight, every counter. */
static void views_update(struct session *s, const uint64_t *kc, uint64_t now)
{
	struct publish p = { s, now };

	if (s->store) {
		trace_store_in_flight_begin(s->store);
		correlator_foreach_in_flight(s->corr, trace_store_in_flight, s->store);
		trace_store_in_flight_end(s->store);
	}
	if (!s->metrics && !s->pf)
		return;
	counters(s, kc, publish_counter, &p);
	if (s->sp)
		publish_probe_counters(&p);
}

static int views_open(struct session *s)
{
	const struct session_opts *o = s->o;

	if (o->routing_policy)
		snprintf(s->policy, sizeof(s->policy), "%s", o->routing_policy);
	if (o->perfetto) {
		char msg[512];
		int err = outfile_open(&s->pf_file, o->perfetto, file_mode(o), msg, sizeof(msg));

		if (err) {
			fprintf(stderr, "servetrace: %s\n", msg);
			return err;
		}
		s->pf = perfetto_new(s->pf_file.f);
		if (!s->pf)
			return -ENOMEM;
	}
	if (!o->listen)
		return 0;
	s->store = trace_store_new(&(struct trace_store_opts){
		.max_traces = o->max_traces,
		.ttl_ns = (uint64_t)o->trace_ttl_s * 1000000000ULL,
		.routing_policy = s->policy,	/* filled in when the router is found */
	});
	s->metrics = metrics_new();
	if (!s->store || !s->metrics)
		return -ENOMEM;
	s->qs = query_server_start(o->listen, NULL, s->store, s->metrics);
	if (!s->qs)
		return -EADDRINUSE;	/* the reason is on stderr */
	fprintf(stderr, "servetrace: query API and /metrics on %s (port %u)\n", o->listen,
		query_server_port(s->qs));
	return 0;
}

/* At exit, signal or not: the server stops, the timeline is closed. */
static void views_close(struct session *s)
{
	query_server_stop(s->qs);
	s->qs = NULL;
	if (s->pf) {
		struct perfetto_stats ps;

		perfetto_finish(s->pf);
		perfetto_get_stats(s->pf, &ps);
		fprintf(stderr, "servetrace: %llu rows (%llu events) written to %s\n",
			ps.rows, ps.events, s->o->perfetto);
		perfetto_free(s->pf);
	}
	outfile_close(&s->pf_file);
	trace_store_free(s->store);
	metrics_free(s->metrics);
}

/* --ready-file: made (empty) once the rows can be relied on. */
static void write_ready_file(const struct session_opts *o)
{
	struct outfile rf = {};
	char msg[512];

	if (!o->ready_file)
		return;
	if (outfile_open(&rf, o->ready_file, file_mode(o), msg, sizeof(msg)))
		fprintf(stderr, "servetrace: WARNING: %s\n", msg);
	outfile_close(&rf);
}

/* --serve-after-replay: the API stays up on what the replay produced. */
static void serve_until_signal(struct session *s)
{
	output_finish(&s->out);		/* the CSV complete before we say ready */
	write_ready_file(s->o);
	fprintf(stderr, "servetrace: replay done; serving until SIGINT/SIGTERM\n");
	while (!exiting)
		usleep(100 * 1000);
}

/* --collector-threads N with --replay: each record to the thread its
 * shard would have gone to live (--shards, else one per thread). */
static void replay_to_thread(struct session *s, const char *buf, long n)
{
	const struct sock_event *ev = (const void *)buf;
	uint32_t shard;

	if ((size_t)n < sizeof(*ev) || (size_t)n < sizeof(*ev) + ev->cap_len)
		return;
	shard = collector_pool_shard_of(ev->sock_id, s->shards);
	collector_pool_feed(s->pool, collector_pool_thread_of(s->pool, shard), buf, n);
}

static int replay(struct session *s)
{
	FILE *f = fopen(s->o->replay, "re");
	char *buf = NULL;
	size_t cap = 0;
	uint32_t source;
	int64_t off;
	long n;

	if (!f) {
		fprintf(stderr, "servetrace: cannot open %s: %s\n", s->o->replay, strerror(errno));
		return -errno;
	}
	if (recording_read_header(f, &off)) {
		fprintf(stderr, "servetrace: %s is not a servetrace recording\n", s->o->replay);
		fclose(f);
		return -EINVAL;
	}
	clock_set_offset(off);
	s->started = true;
	while ((n = recording_read(f, &source, &buf, &cap)) > 0) {
		if (source == REC_ROLE && n == sizeof(struct rec_role)) {
			const struct rec_role *rr = (const void *)buf;

			set_role(s, rr->tgid, rr->role);
			if (rr->role == ROLE_ROUTER)
				correlator_set_have_router(s->corr, true);
		} else if (source == REC_SOCK && s->pool) {
			replay_to_thread(s, buf, n);
		} else if (source == REC_SOCK) {
			on_sock_event(s, buf, n);
		} else if (source == REC_ZMQ) {
			server_hops_handle(s->hops, buf, n);
		} else if (source == REC_SGLANG_PROC && n == sizeof(struct rec_sglang_proc)) {
			const struct rec_sglang_proc *sp = (const void *)buf;

			server_hops_set_proc(s->hops, sp->pid, sp->role, sp->main_pid);
		}
		correlator_tick(s->corr, s->pool ? collector_pool_pump(s->pool)
						 : collector_last_ts(s->col));
	}
	free(buf);
	fclose(f);
	if (s->pool)
		collector_pool_stop(s->pool);
	if (n == -2) {
		fprintf(stderr, "servetrace: WARNING: %s ends inside a record (its writer was "
			"stopped abruptly); replayed up to there\n", s->o->replay);
	} else if (n < 0) {
		fprintf(stderr, "servetrace: %s is damaged (stopped at a bad record)\n", s->o->replay);
		return -EINVAL;
	}
	return 0;
}

/* Loads the socket capture and the libzmq probes, finds the targets and
 * connects the ring buffers to the pipeline. */
static uint32_t default_shards(void)
{
	int n = libbpf_num_possible_cpus();

	n = n > 0 ? (n + 3) / 4 : 1;
	return n > 8 ? 8 : n;
}

/* Ring memory in all, unless --ringbuf-size says: 64 MiB a shard (one per
 * 4 CPUs), at most 256. A burst must fit while the collector catches up:
 * on 16 cores (4 shards) at 150-180k requests/s, 64 MiB in all lost up to
 * 1.5 % of the records in some 8 s rounds, 256 none in 4 rounds. */
#define RING_MB_PER_SHARD	64
#define RING_MB_AUTO_MAX	256

static uint32_t ring_mb(const struct session_limits *lim, uint32_t shards)
{
	uint32_t mb = RING_MB_PER_SHARD;

	if (lim->ringbuf_mb)
		return lim->ringbuf_mb;
	while (mb < RING_MB_AUTO_MAX && mb < RING_MB_PER_SHARD * shards)
		mb *= 2;
	return mb;
}

/* The capture's sizes: the ring memory split over the shards, each a
 * power of two of at least 256 KiB. */
static struct sock_capture_opts capture_opts(const struct session_opts *o, uint32_t shards)
{
	const struct session_limits *lim = &o->limits;
	uint32_t per = (ring_mb(lim, shards) << 20) / shards;
	struct sock_capture_opts so = {
		.capture_bytes = lim->capture_bytes,
		.shards = shards,
		.max_conns = lim->max_conns,
		.full_capture = o->full_capture,
		.io_hooks = o->io_hooks,
	};

	while (per & (per - 1))
		per &= per - 1;
	if (per < (256u << 10))
		per = 256u << 10;
	so.ringbuf_bytes = per;
	/* a 16th of a ring (room for 50 ms of a heavy load to spare), at most
	 * 1 MiB: each wakeup's batch is parsed in one go, and on 2 cores a
	 * 4 MiB batch (64 MiB in one ring) took nginx's p99 from +1.7 to
	 * +3.0 ms against 1 MiB */
	so.wakeup_bytes = per / 16 < (1u << 20) ? per / 16 : 1u << 20;
	return so;
}

/* The readers: the main thread's (every shard with one thread; the
 * libzmq ring is added later) and each parse thread's (shard i -> thread
 * i % K). */
static int make_readers(struct session *s)
{
	s->rings = ring_set_new(pass_budget_ns, pass_check_every, &exiting);
	if (!s->rings)
		return -errno;
	for (uint32_t i = 0; s->pool && i < s->threads; i++)
		if (!(s->pctx[i].rings = ring_set_new(pass_budget_ns, pass_check_every, NULL)))
			return -errno;
	for (int i = 0; i < sock_capture_shards(s->sc); i++) {
		int fd = sock_capture_shard_fd(s->sc, i), err;
		struct parse_ctx *pc = &s->pctx[s->pool ? collector_pool_thread_of(s->pool, i) : 0];

		err = s->pool ? ring_set_add(pc->rings, fd, on_thread_sock_event, pc)
			      : ring_set_add(s->rings, fd, on_sock_event, s);
		if (err)
			return err;
	}
	return 0;
}

/* The parse threads get no signal: the main thread handles them. */
static int start_threads(struct session *s)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = collector_pool_start(s->pool);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		fprintf(stderr, "servetrace: cannot start the collector threads: %s\n", strerror(-err));
	return err;
}

/* The worst case of memory the limits allow (issue 13). */
static void print_mem_ceiling(const struct session_opts *o, uint32_t shards, uint32_t threads)
{
	struct mem_ceiling mc;
	char line[256];

	mem_ceiling_compute(&(struct mem_ceiling_limits){
		.ringbuf_mb = ring_mb(&o->limits, shards), .max_conns = o->limits.max_conns,
		.max_exchanges = o->limits.max_exchanges,
		.max_hop_records = o->limits.max_hop_records, .max_rids = o->limits.max_rids,
		.body_bytes = o->limits.body_bytes,
		.max_traces = !o->listen ? 0 : o->max_traces ? o->max_traces : TRACE_STORE_MAX_DEFAULT,
		.parse_threads = threads,
	}, &mc);
	mem_ceiling_format(&mc, line, sizeof(line));
	fprintf(stderr, "servetrace: %s\n", line);
}

static int live_attach(struct session *s)
{
	struct sock_capture_opts so = capture_opts(s->o, s->shards);
	int err;

	s->sc = sock_capture_open(&so);
	if (!s->sc)
		return -EPERM;
	if (sock_capture_missing(s->sc)[0])
		fprintf(stderr, "servetrace: WARNING: this kernel lacks tracepoints: %s; "
			"traffic through those syscalls is not seen\n", sock_capture_missing(s->sc));
	if (sock_capture_writes_at_end(s->sc))
		fprintf(stderr, "servetrace: WARNING: this kernel lacks tcp:tcp_sendmsg_locked: "
			"writes are stamped when they end (a fast reader may read first); "
			"--io-hooks syscalls stamps them when they begin\n");
	if (!s->o->no_server_probes)
		s->sp = server_probes_open(s->hops, s->record, 0);
	if (s->sp)
		server_probes_enable_engine(s->sp, PROC_ENGINE_VLLM);
	err = setup_targets(s);
	if (err)
		return err;
	err = make_readers(s);
	if (err) {
		fprintf(stderr, "servetrace: cannot create the ring buffer reader: %s\n", strerror(-err));
		return err;
	}
	if (s->sp && ring_set_add(s->rings, server_probes_ringbuf_fd(s->sp), on_zmq_event, s)) {
		fprintf(stderr, "servetrace: WARNING: cannot poll the libzmq ring buffer\n");
		server_probes_close(s->sp);
		s->sp = NULL;
	}
	s->started = true;
	write_ready_file(s->o);
	fprintf(stderr, "servetrace: attached (%u ring buffer%s of %u KiB%s; reads and writes "
		"seen at the %s); Ctrl-C to stop\n",
		so.shards, so.shards == 1 ? "" : "s", so.ringbuf_bytes >> 10,
		so.full_capture ? ", full capture" : "",
		sock_capture_uses_sock_hooks(s->sc) ? "socket layer" : "syscalls");
	if (s->pool)
		fprintf(stderr, "servetrace: %u collector threads\n", s->threads);
	print_mem_ceiling(s->o, s->shards, s->threads);
	return 0;
}

/* Once a second: clock, progress, targets come and gone, files flushed. */
static void live_each_second(struct session *s, uint64_t *kc)
{
	clock_sync();
	sock_capture_counters(s->sc, kc);
	progress(s, kc, false);
	if (s->auto_discover)
		discover_all(s, false);
	if (s->sp)
		server_probes_rescan(s->sp);
	for (int i = 0; i < s->ntraced; i++)
		if (!procfs_alive(NULL, s->traced[i]))
			forget_process(s, s->traced[i--]);
	fflush(s->out.f);
	if (s->record)
		fflush(s->record);
	views_update(s, kc, clock_mono_now_ns());
}

static int live_loop(struct session *s, uint64_t *kc)
{
	time_t start = time(NULL), last_sec = 0;
	uint64_t upto = 0;	/* one thread: all records before are read */
	int err = 0;

	while (!exiting) {
		uint64_t t;
		time_t now;

		/* the kernel wakes us only past wakeup_bytes: read on a timer
		 * too, so a quiet deployment's rows are out within a second.
		 * Parse threads: they read the rings; we take what they passed
		 * every 10 ms (and read the libzmq ring, if any) */
		err = ring_set_pass(s->rings, s->pool ? 10 : 50, &t);
		if (err == -EINTR)
			return 0;
		if (err < 0) {
			fprintf(stderr, "servetrace: polling the ring buffer failed: %s\n", strerror(-err));
			return err;
		}
		if (err == 1)	/* whole: else older records wait in the rings */
			upto = t;
		err = 0;
		correlator_tick(s->corr, s->pool ? collector_pool_pump(s->pool) : upto);
		if (s->auto_discover)
			pick_up_execs(s);
		now = time(NULL);
		if (now != last_sec) {
			last_sec = now;
			live_each_second(s, kc);
		}
		if (s->o->duration && difftime(now, start) >= s->o->duration)
			break;
	}
	return err;
}

/* After a signal: the probes go first, so the rings stop filling; what
 * they hold is read until the deadline, and what is left is counted. */
static void drain_at_exit(struct session *s)
{
	s->drain_deadline = clock_mono_now_ns() +
			    (uint64_t)s->o->limits.exit_deadline_ms * 1000000ULL;
	sock_capture_quiesce(s->sc);
	if (s->pool) {
		/* each thread drains its rings to the deadline, then is joined */
		collector_pool_set_deadline(s->pool, s->drain_deadline);
		collector_pool_stop(s->pool);
		for (uint32_t i = 0; i < s->threads; i++) {
			s->unread_records += s->pctx[i].unread;
			s->unread_bytes += s->pctx[i].unread_bytes;
		}
	}
	ring_set_drain(s->rings);
	for (int i = 0; i < sock_capture_shards(s->sc); i++)
		s->unread_bytes += sock_capture_unread(s->sc, i);
}

static int run_live(struct session *s)
{
	uint64_t kc[CNT_MAX] = {}, t0, t1;
	int err;

	if (getenv("SERVETRACE_TEST_CUT_PASSES")) {
		pass_budget_ns = 0;
		pass_check_every = 1;
		fprintf(stderr, "servetrace: SERVETRACE_TEST_CUT_PASSES: every pass over the "
			"rings gives way after one record (a test of that path)\n");
	}
	err = live_attach(s);
	if (!err && s->pool)
		err = start_threads(s);
	if (err)
		goto out;
	err = live_loop(s, kc);
	t0 = clock_mono_now_ns();
	drain_at_exit(s);
	sock_capture_counters(s->sc, kc);
	t1 = clock_mono_now_ns();
	/* the rows get as long as the rings had: under overload, exit stays
	 * within about twice --exit-deadline plus detaching the probes */
	s->flush_deadline = t1 + (uint64_t)s->o->limits.exit_deadline_ms * 1000000ULL;
	flush_pipeline(s);
	s->exit_drain_ms = (t1 - t0) / 1000000;
	s->exit_flush_ms = (clock_mono_now_ns() - t1) / 1000000;
	views_update(s, kc, clock_mono_now_ns());
	progress(s, kc, true);
	summary(s, kc);
out:
	if (s->pool)
		collector_pool_stop(s->pool);	/* before their readers go */
	for (uint32_t i = 0; s->pool && i < s->threads; i++) {
		ring_set_free(s->pctx[i].rings);
		s->pctx[i].rings = NULL;
	}
	ring_set_free(s->rings);
	s->rings = NULL;
	server_probes_close(s->sp);
	s->sp = NULL;
	sock_capture_close(s->sc);
	s->sc = NULL;
	return err;
}

/* Parse threads, by default. A machine of up to 4 CPUs keeps one: the
 * servers traced need those cores more, and one thread parses tens of
 * thousands of requests a second. Above that, one per shard, no more than
 * the CPUs servetrace may run on (its affinity: a pinned run gets what it
 * was given, at least 2 since the main thread mostly sleeps) and at most
 * 4: past that the one correlator thread is the limit, and threads only
 * take CPU from the servers. --listen and --record keep one: the
 * in-flight view needs requests in flight on the correlator's thread
 * (conn/handoff.h), a recording is one stream of records. */
static uint32_t default_threads(const struct session_opts *o, uint32_t shards)
{
	int machine = libbpf_num_possible_cpus(), mine = machine;
	cpu_set_t set;
	uint32_t n;

	if (!sched_getaffinity(0, sizeof(set), &set))
		mine = CPU_COUNT(&set);
	if (machine <= 4 || o->listen || o->record)
		return 1;
	n = mine < 2 ? 2 : mine > 4 ? 4 : mine;
	return n < shards ? n : shards;
}

/* The shards and the threads that read them. Asked for threads live:
 * at least a shard each (a thread without one would idle). Replay: one
 * thread unless asked; records routed as live with --shards (else one
 * shard per thread). */
static void pick_threads(struct session *s)
{
	const struct session_limits *lim = &s->o->limits;
	uint32_t asked = lim->collector_threads;

	s->shards = lim->shards ? lim->shards : default_shards();
	if (s->o->replay) {
		s->threads = asked ? asked : 1;
		if (!lim->shards)
			s->shards = s->threads;
	} else if (asked && s->o->record && asked > 1) {
		fprintf(stderr, "servetrace: --record: one collector thread (one stream of records)\n");
		s->threads = 1;
	} else if (asked) {
		s->threads = asked;
		if (!lim->shards && s->shards < asked)
			s->shards = asked < SOCK_CAPTURE_MAX_SHARDS ? asked : SOCK_CAPTURE_MAX_SHARDS;
		if (s->threads > s->shards) {
			fprintf(stderr, "servetrace: %u shards: %u collector threads\n",
				s->shards, s->shards);
			s->threads = s->shards;
		}
	} else {
		s->threads = default_threads(s->o, s->shards);
	}
	if (s->threads > COLLECTOR_POOL_MAX_THREADS)
		s->threads = COLLECTOR_POOL_MAX_THREADS;
}

/* Every stage, made and connected here. */
static int session_build(struct session *s)
{
	const struct session_opts *o = s->o;
	const struct session_limits *lim = &o->limits;
	struct correlator_opts co = {
		/* a replay learns it from the recorded roles */
		.have_router = o->replay ? false : have_router(o),
		.linger_ns = (uint64_t)lim->linger_ms * MS_NS,
		.orphan_ns = (uint64_t)lim->orphan_ms * MS_NS,
		.idle_ns = (uint64_t)lim->idle_ms * MS_NS,
		.max_exchanges = lim->max_exchanges,
		.max_hop_records = lim->max_hop_records,
		.emit = emit_row,
		.emit_ctx = s,
	};
	struct collector_opts col_o = {
		.body_limit = lim->body_bytes,
		.max_conns = lim->max_conns,
		.keep_text = o->keep_text,
		.have_router = co.have_router,
	};

	s->corr = correlator_new(&co);
	if (!s->corr)
		return -ENOMEM;
	pick_threads(s);
	if (s->threads > 1) {
		for (uint32_t i = 0; i < s->threads; i++)
			s->pctx[i] = (struct parse_ctx){ .s = s, .thread = i };
		s->pool = collector_pool_new(&(struct collector_pool_opts){
			.threads = s->threads, .col = col_o,
			.poll = o->replay ? NULL : thread_poll, .poll_ctx = s,
			.on_exit = forget_process, .exit_ctx = s,
		}, s->corr);
		if (!s->pool || (o->replay && start_threads(s)))
			return -ENOMEM;
	} else {
		s->col = collector_new(&col_o, s->corr);
		if (!s->col)
			return -ENOMEM;
		collector_on_exit(s->col, forget_process, s);
	}
	s->hops = server_hops_new(&(struct server_hops_opts){
		.on_hop = correlator_hop_sink, .ctx = s->corr, .max_rids = lim->max_rids,
	});
	return s->hops ? 0 : -ENOMEM;
}

static void session_teardown(struct session *s)
{
	collector_pool_free(s->pool);	/* its exchanges go to the correlator */
	collector_free(s->col);
	correlator_free(s->corr);
	server_hops_free(s->hops);
	/* an error before the run started leaves no half-written file */
	if (!s->started) {
		outfile_discard(&s->rec_file);
		outfile_discard(&s->out_file);
	}
	if (outfile_close(&s->rec_file))
		fprintf(stderr, "servetrace: WARNING: writing %s failed\n", s->o->record);
	s->record = NULL;
}

/* The output and --record files: see output/outfile.h. */
static int open_files(struct session *s, FILE **out)
{
	const struct session_opts *o = s->o;
	char msg[512];
	int err;

	*out = stdout;
	if (o->output) {
		err = outfile_open(&s->out_file, o->output, file_mode(o), msg, sizeof(msg));
		if (err) {
			fprintf(stderr, "servetrace: %s\n", msg);
			return err;
		}
		*out = s->out_file.f;
	}
	if (o->record) {
		err = outfile_open(&s->rec_file, o->record, file_mode(o), msg, sizeof(msg));
		if (err) {
			fprintf(stderr, "servetrace: %s\n", msg);
			return err;
		}
		s->record = s->rec_file.f;
		if (recording_write_header(s->record, clock_offset())) {
			fprintf(stderr, "servetrace: cannot write %s: %s\n", o->record, strerror(errno));
			return -EIO;
		}
	}
	output_init(&s->out, *out, o->json ? OUT_JSON : OUT_CSV);
	output_keep_text(&s->out, o->keep_text);
	return 0;
}

int session_run(const struct session_opts *opts)
{
	struct session s = { .o = opts };
	FILE *out = stdout;
	int err;

	verbose = opts->verbose;
	libbpf_set_print(libbpf_print_fn);
	signal(SIGINT, sig_handler);
	signal(SIGTERM, sig_handler);
	signal(SIGPIPE, SIG_IGN);
	clock_sync();

	if (open_files(&s, &out)) {
		session_teardown(&s);
		return 1;
	}
	if (session_build(&s)) {
		fprintf(stderr, "servetrace: out of memory\n");
		session_teardown(&s);
		return 1;
	}
	if (views_open(&s)) {
		views_close(&s);
		session_teardown(&s);
		return 1;
	}
	if (opts->replay) {
		err = replay(&s);
		flush_pipeline(&s);
		views_update(&s, NULL, col_last_ts(&s));
		if (!err)
			summary(&s, NULL);
		if (!err && opts->serve_after_replay)
			serve_until_signal(&s);
	} else {
		err = run_live(&s);
	}
	if (!err)
		output_finish(&s.out);
	views_close(&s);
	if (opts->output && s.started)
		fprintf(stderr, "servetrace: %llu rows written to %s\n",
			(unsigned long long)s.out.rows, opts->output);
	session_teardown(&s);
	if (out == stdout)
		fflush(stdout);
	else if (outfile_close(&s.out_file))
		fprintf(stderr, "servetrace: WARNING: writing %s failed\n", opts->output);
	return err ? 1 : 0;
}

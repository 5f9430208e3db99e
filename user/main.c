// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* servetrace: per-request timelines of an SGLang router and its workers,
 * from the kernel, without touching them. */
#include <argp.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "capture/server_probes.h"
#include "capture/sock_capture.h"
#include "output/clock.h"
#include "conn/collector.h"
#include "procs/discover.h"
#include "procs/procfs.h"
#include "output/output.h"
#include "capture/recording.h"
#include "correlate/server_hops.h"

#define MAX_TARGETS DISCOVER_MAX

static struct env {
	const char *output;
	bool json;
	bool quiet;
	bool verbose;
	uint32_t router_pids[MAX_TARGETS], worker_pids[MAX_TARGETS];
	int nrouter_pids, nworker_pids;
	uint16_t router_ports[MAX_TARGETS], worker_ports[MAX_TARGETS];
	int nrouter_ports, nworker_ports;
	double duration;
	uint32_t capture_bytes;
	uint32_t body_limit;
	uint32_t ringbuf_mb;
	uint32_t linger_ms;
	const char *ready_file;
	const char *record;
	const char *replay;
	bool wait;
	bool keep_text;
	bool no_server_probes;
} env = {
	.capture_bytes = DEFAULT_CAPTURE,
	.body_limit = 64 * 1024,
	.ringbuf_mb = 16,
	.linger_ms = 300,
};

static volatile sig_atomic_t exiting;

const char *argp_program_version = "servetrace 0.1";
static const char doc[] =
"servetrace: where each LLM request's time went, seen from the kernel.\n"
"\n"
"Attaches to a running sglang-router and its SGLang workers (nothing to\n"
"patch or restart) and writes one CSV row per inference request:\n"
"arrival at the router, forward to a worker (and which one), arrival at the\n"
"worker, first token, finish, and the latencies between them. The columns\n"
"are the timeline contract's (see README), then servetrace's own.\n"
"\n"
"Which processes: --router-pid/--worker-pid, or --router-port/--worker-port\n"
"(the processes listening there), or nothing: then every sglang-router and\n"
"SGLang server on this machine is found by its command line. Without a\n"
"router, each worker request is a row (node-level run).\n"
"\n"
"USAGE: servetrace [OPTION...]\n"
"\n"
"EXAMPLES:\n"
"  servetrace -o timeline.csv                 # find router and workers\n"
"  servetrace --router-port 30000 --worker-port 30001,30002 -o t.csv\n"
"  servetrace --worker-pid 4242 -d 60 -j      # one worker, 60 s, JSON lines\n"
"  servetrace --replay run.strec -o t.csv     # offline, no root needed\n"
"\n"
"Stops on SIGINT/SIGTERM or after --duration, writes what is pending and\n"
"prints every loss counter. Needs root (BPF, tracepoints).";

enum {
	OPT_ROUTER_PID = 256, OPT_WORKER_PID, OPT_ROUTER_PORT, OPT_WORKER_PORT,
	OPT_CAPTURE, OPT_BODY_LIMIT, OPT_RINGBUF, OPT_LINGER, OPT_READY,
	OPT_RECORD, OPT_REPLAY, OPT_WAIT, OPT_KEEP_TEXT, OPT_NO_SERVER,
};

static const struct argp_option opts[] = {
	{ "output", 'o', "FILE", 0, "Write rows to FILE (default: stdout)", 0 },
	{ "json", 'j', NULL, 0, "JSON lines instead of CSV", 0 },
	{ "router-pid", OPT_ROUTER_PID, "PID[,PID]", 0, "Router process(es) to trace", 1 },
	{ "worker-pid", OPT_WORKER_PID, "PID[,PID]", 0, "SGLang server main process(es) to trace", 1 },
	{ "router-port", OPT_ROUTER_PORT, "PORT[,PORT]", 0, "Trace the router listening on PORT", 1 },
	{ "worker-port", OPT_WORKER_PORT, "PORT[,PORT]", 0, "Trace the workers listening on PORT", 1 },
	{ "duration", 'd', "SEC", 0, "Stop after SEC seconds", 2 },
	{ "wait", OPT_WAIT, NULL, 0,
	  "Without targets: start anyway and trace routers and servers as they appear", 2 },
	{ "capture-size", OPT_CAPTURE, "BYTES", 0,
	  "Payload bytes copied per syscall (default 8192, max 16384)", 2 },
	{ "body-limit", OPT_BODY_LIMIT, "BYTES", 0,
	  "Body bytes kept per message for its JSON fields (default 65536)", 2 },
	{ "ringbuf-size", OPT_RINGBUF, "MB", 0, "Ring buffer size (default 16, power of 2)", 2 },
	{ "linger", OPT_LINGER, "MS", 0, "Wait after a request ends before writing it (default 300)", 2 },
	{ "http-only", OPT_NO_SERVER, NULL, 0,
	  "No libzmq uprobes inside SGLang: the queue columns stay empty", 2 },
	{ "keep-text", OPT_KEEP_TEXT, NULL, 0,
	  "Add a prompt column (first 4 KiB). Without it no prompt text is written", 3 },
	{ "ready-file", OPT_READY, "FILE", 0, "Create FILE once attached (for scripts)", 3 },
	{ "record", OPT_RECORD, "FILE", 0, "Also save the raw events to FILE", 3 },
	{ "replay", OPT_REPLAY, "FILE", 0, "Read events from a --record FILE instead of the kernel", 3 },
	{ "quiet", 'q', NULL, 0, "No progress line", 3 },
	{ "verbose", 'v', NULL, 0, "libbpf debug output", 3 },
	{},
};

static int parse_list(const char *arg, void *out, int *n, bool ports,
		      struct argp_state *state)
{
	char *copy = strdup(arg), *save = NULL, *tok;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		long v = strtol(tok, &end, 10);

		if (*end || v <= 0 || (ports && v > 65535) || *n >= MAX_TARGETS) {
			argp_error(state, "invalid %s: '%s'", ports ? "port" : "pid", tok);
			free(copy);
			return EINVAL;
		}
		if (ports)
			((uint16_t *)out)[(*n)++] = v;
		else
			((uint32_t *)out)[(*n)++] = v;
	}
	free(copy);
	return 0;
}

static long parse_num(const char *arg, long min, long max, struct argp_state *state)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || *end || v < min || v > max)
		argp_error(state, "'%s' is not a number from %ld to %ld", arg, min, max);
	return v;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 'o': env.output = arg; break;
	case 'j': env.json = true; break;
	case 'q': env.quiet = true; break;
	case 'v': env.verbose = true; break;
	case 'd': {
		char *end;

		env.duration = strtod(arg, &end);
		if (*end || env.duration <= 0)
			argp_error(state, "invalid duration '%s'", arg);
		break;
	}
	case OPT_ROUTER_PID: return parse_list(arg, env.router_pids, &env.nrouter_pids, false, state);
	case OPT_WORKER_PID: return parse_list(arg, env.worker_pids, &env.nworker_pids, false, state);
	case OPT_ROUTER_PORT: return parse_list(arg, env.router_ports, &env.nrouter_ports, true, state);
	case OPT_WORKER_PORT: return parse_list(arg, env.worker_ports, &env.nworker_ports, true, state);
	case OPT_CAPTURE: env.capture_bytes = parse_num(arg, 64, MAX_CAPTURE, state); break;
	case OPT_BODY_LIMIT: env.body_limit = parse_num(arg, 1024, 16 << 20, state); break;
	case OPT_RINGBUF:
		env.ringbuf_mb = parse_num(arg, 1, 1024, state);
		if (env.ringbuf_mb & (env.ringbuf_mb - 1))
			argp_error(state, "--ringbuf-size must be a power of 2");
		break;
	case OPT_LINGER: env.linger_ms = parse_num(arg, 0, 600000, state); break;
	case OPT_READY: env.ready_file = arg; break;
	case OPT_RECORD: env.record = arg; break;
	case OPT_REPLAY: env.replay = arg; break;
	case OPT_WAIT: env.wait = true; break;
	case OPT_KEEP_TEXT: env.keep_text = true; break;
	case OPT_NO_SERVER: env.no_server_probes = true; break;
	case ARGP_KEY_ARG: argp_usage(state); break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = { opts, parse_arg, NULL, doc, NULL, NULL, NULL };

static int libbpf_print_fn(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !env.verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void sig_handler(int sig)
{
	exiting = 1;
}

/* ---- the tracing session ------------------------------------------- */

struct session {
	struct collector *col;
	struct sock_capture *sc;
	struct server_hops *hops;
	struct server_probes *sp;
	struct output out;
	FILE *record;
	uint32_t traced[2 * MAX_TARGETS];
	int ntraced;
	bool auto_discover;
};

static void emit_row(void *ctx, const struct timeline_row *row)
{
	struct session *s = ctx;

	output_row(&s->out, row);
}

static int on_sock_event(void *ctx, void *data, size_t size)
{
	struct session *s = ctx;
	const struct sock_event *ev = data;

	if (size < sizeof(*ev) || size < sizeof(*ev) + ev->cap_len)
		return 0;
	if (s->record)
		recording_write(s->record, REC_SOCK, data, size);
	collector_handle(s->col, ev, (const char *)(ev + 1));
	return 0;
}

static int on_zmq_event(void *ctx, void *data, size_t size)
{
	struct session *s = ctx;

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

static int trace_process(struct session *s, uint32_t pid, enum proc_role role)
{
	struct rec_role rr = { pid, role };
	char cmd[256];
	int err;

	if (is_traced(s, pid) || s->ntraced >= (int)(sizeof(s->traced) / sizeof(s->traced[0])))
		return 0;
	if (!procfs_alive(NULL, pid)) {
		fprintf(stderr, "servetrace: process %u does not exist\n", pid);
		return -ESRCH;
	}
	collector_set_role(s->col, pid, role);
	if (s->sc) {
		err = sock_capture_add_tgid(s->sc, pid, role);
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
	procfs_cmdline_text(NULL, pid, cmd, sizeof(cmd));
	fprintf(stderr, "servetrace: tracing %s pid %u: %.80s\n",
		role == ROLE_ROUTER ? "router" : "worker", pid, cmd);
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
		correlator_set_have_router(collector_correlator(s->col), true);
	n = discover_workers(NULL, pids, MAX_TARGETS);
	for (int i = 0; i < n; i++, found++)
		trace_process(s, pids[i].pid, ROLE_WORKER);
	if (first && !found && env.wait) {
		fprintf(stderr, "servetrace: no router or SGLang server yet; waiting for them\n");
	} else if (first && !found) {
		fprintf(stderr, "servetrace: found no sglang-router or SGLang server; "
			"name them with --router-pid/--worker-pid or --router-port/--worker-port\n");
		return -ENOENT;
	}
	return 0;
}

static int setup_targets(struct session *s)
{
	int err = 0;

	for (int i = 0; i < env.nrouter_pids && !err; i++)
		err = trace_process(s, env.router_pids[i], ROLE_ROUTER);
	for (int i = 0; i < env.nworker_pids && !err; i++)
		err = trace_process(s, env.worker_pids[i], ROLE_WORKER);
	if (!err)
		err = trace_ports(s, env.router_ports, env.nrouter_ports, ROLE_ROUTER);
	if (!err)
		err = trace_ports(s, env.worker_ports, env.nworker_ports, ROLE_WORKER);
	if (err)
		return err;
	s->auto_discover = !env.nrouter_pids && !env.nworker_pids &&
			   !env.nrouter_ports && !env.nworker_ports;
	return s->auto_discover ? discover_all(s, true) : 0;
}

static bool have_router(void)
{
	struct proc_info pids[MAX_TARGETS];

	if (env.nrouter_pids || env.nrouter_ports)
		return true;
	if (env.nworker_pids || env.nworker_ports)
		return false;
	return discover_routers(NULL, pids, MAX_TARGETS) > 0;
}

static void progress(struct session *s, const uint64_t *kc, bool final)
{
	const struct collector_stats *cs = collector_stats(s->col);
	const struct correlator_stats *rs = correlator_stats(collector_correlator(s->col));
	uint64_t drops = kc ? kc[CNT_RINGBUF_FULL] : 0;

	if (env.quiet && !final)
		return;
	/* requests as the rows count them: at the router, or at the workers */
	uint64_t seen = cs->client_requests ? cs->client_requests : cs->worker_requests;

	fprintf(stderr, "\rservetrace: %llu requests seen, %llu rows, %llu in flight, "
		"%llu events, %llu drops   %s",
		(unsigned long long)seen, (unsigned long long)rs->rows,
		(unsigned long long)rs->in_flight, (unsigned long long)cs->events,
		(unsigned long long)drops, final ? "\n" : "");
}

static void summary(struct session *s, const uint64_t *kc)
{
	const struct collector_stats *cs = collector_stats(s->col);
	const struct correlator_stats *rs = correlator_stats(collector_correlator(s->col));

#define P(label, v) fprintf(stderr, "  %-44s %llu\n", label, (unsigned long long)(v))
	fprintf(stderr, "servetrace summary\n");
	P("rows written", rs->rows);
	P("  router-level rows", rs->rows_router);
	P("  node-level rows", rs->rows_node);
	P("  worker requests no router request matched", rs->rows_unmatched_worker);
	P("  rows with no forward seen", rs->rows_without_forward);
	P("  rows whose worker request was not seen", rs->rows_without_worker);
	P("  requests in flight at exit (written, flagged)", rs->incomplete_at_exit);
	P("  requests retried to another worker", rs->retried);
	P("inference requests read by the router", cs->client_requests);
	P("  forwards written by the router", cs->forwards);
	P("  requests read by the workers", cs->worker_requests);
	P("ignored requests (health, metrics, GETs)", cs->ignored_requests);
	P("router forwards no client request claimed", rs->forwards_unmatched);
	P("responses whose request predates tracing", cs->midstream_requests);
	P("bytes skipped before a message boundary", cs->skipped_bytes);
	P("HTTP framing lost and resynced", cs->desyncs);
	P("bodies truncated (capture or body limit)", cs->body_truncated);
	P("SSE events truncated", cs->sse_truncated);
	P("failed reads/writes (resets)", cs->io_errors);
	P("client aborts", cs->client_aborts);
	P("connections opened / closed", cs->conns_opened);
	P("connections evicted (memory limit)", cs->conns_evicted);
	P("fd reused without a close seen", cs->fd_reused);
	P("HTTP/2 connections ignored", cs->conns_h2);
	P("exchanges evicted (memory limit)", rs->evicted);
	P("exchanges expired unfinished", rs->expired_unfinished);
	P("server hops / records evicted", rs->hops);
	if (kc) {
		P("kernel: events submitted", kc[CNT_EVENTS]);
		P("kernel: events dropped, ring buffer full", kc[CNT_RINGBUF_FULL]);
		P("kernel: syscall exits without enter", kc[CNT_MISSED_ENTER]);
		P("kernel: syscall enters without exit", kc[CNT_STALE_ENTER]);
		P("kernel: payloads truncated to capture size", kc[CNT_TRUNCATED]);
		P("kernel: payload read faults", kc[CNT_READ_FAULT]);
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
	}
	if (s->sp)
		server_probes_summary(s->sp, stderr);
#undef P
}

static int replay(struct session *s)
{
	FILE *f = fopen(env.replay, "re");
	char *buf = NULL;
	size_t cap = 0;
	uint32_t source;
	int64_t off;
	long n;

	if (!f) {
		fprintf(stderr, "servetrace: cannot open %s: %s\n", env.replay, strerror(errno));
		return -errno;
	}
	if (recording_read_header(f, &off)) {
		fprintf(stderr, "servetrace: %s is not a servetrace recording\n", env.replay);
		fclose(f);
		return -EINVAL;
	}
	clock_set_offset(off);
	while ((n = recording_read(f, &source, &buf, &cap)) > 0) {
		if (source == REC_ROLE && n == sizeof(struct rec_role)) {
			const struct rec_role *rr = (const void *)buf;

			collector_set_role(s->col, rr->tgid, rr->role);
			if (rr->role == ROLE_ROUTER)
				correlator_set_have_router(collector_correlator(s->col), true);
		} else if (source == REC_SOCK) {
			on_sock_event(s, buf, n);
		} else if (source == REC_ZMQ) {
			server_hops_handle(s->hops, buf, n);
		} else if (source == REC_SGLANG_PROC && n == sizeof(struct rec_sglang_proc)) {
			const struct rec_sglang_proc *sp = (const void *)buf;

			server_hops_set_proc(s->hops, sp->pid, sp->role, sp->main_pid);
		}
		collector_tick(s->col, collector_last_ts(s->col));
	}
	free(buf);
	fclose(f);
	if (n == -2) {
		fprintf(stderr, "servetrace: WARNING: %s ends inside a record (its writer was "
			"stopped abruptly); replayed up to there\n", env.replay);
	} else if (n < 0) {
		fprintf(stderr, "servetrace: %s is damaged (stopped at a bad record)\n", env.replay);
		return -EINVAL;
	}
	return 0;
}

static int run_live(struct session *s)
{
	struct sock_capture_opts so = {
		.capture_bytes = env.capture_bytes,
		.ringbuf_bytes = env.ringbuf_mb << 20,
		/* a 16th of the ring: room for 50 ms of a heavy load to spare */
		.wakeup_bytes = (env.ringbuf_mb << 20) / 16,
	};
	struct ring_buffer *rb = NULL;
	uint64_t kc[CNT_MAX] = {};
	time_t start = time(NULL), last_sec = 0;
	int err;

	s->sc = sock_capture_open(&so);
	if (!s->sc)
		return -EPERM;
	if (sock_capture_missing(s->sc)[0])
		fprintf(stderr, "servetrace: WARNING: this kernel lacks tracepoints: %s; "
			"traffic through those syscalls is not seen\n", sock_capture_missing(s->sc));
	if (!env.no_server_probes)
		s->sp = server_probes_open(s->hops, s->record, 0);
	err = setup_targets(s);
	if (err)
		goto out;
	rb = ring_buffer__new(sock_capture_ringbuf_fd(s->sc), on_sock_event, s, NULL);
	if (!rb) {
		err = -errno;
		fprintf(stderr, "servetrace: cannot create the ring buffer reader: %s\n", strerror(errno));
		goto out;
	}
	if (s->sp && server_probes_add_ringbuf(s->sp, rb, on_zmq_event, s)) {
		fprintf(stderr, "servetrace: WARNING: cannot poll the libzmq ring buffer\n");
		server_probes_close(s->sp);
		s->sp = NULL;
	}
	if (env.ready_file) {
		FILE *f = fopen(env.ready_file, "w");

		if (f)
			fclose(f);
	}
	fprintf(stderr, "servetrace: attached; Ctrl-C to stop\n");

	while (!exiting) {
		time_t now;

		/* the kernel side wakes us only past wakeup_bytes: poll on a timer */
		err = ring_buffer__poll(rb, 50);
		if (err == -EINTR) {
			err = 0;
			break;
		}
		if (err < 0) {
			fprintf(stderr, "servetrace: polling the ring buffer failed: %s\n", strerror(-err));
			break;
		}
		err = 0;
		collector_tick(s->col, clock_mono_now_ns());
		now = time(NULL);
		if (now != last_sec) {
			last_sec = now;
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
		}
		if (env.duration && difftime(now, start) >= env.duration)
			break;
	}
	/* drain what is already in the ring buffer before detaching */
	ring_buffer__consume(rb);
	sock_capture_counters(s->sc, kc);
	collector_flush(s->col);
	progress(s, kc, true);
	summary(s, kc);
out:
	ring_buffer__free(rb);
	server_probes_close(s->sp);
	s->sp = NULL;
	sock_capture_close(s->sc);
	s->sc = NULL;
	return err;
}

int main(int argc, char **argv)
{
	struct collector_opts co = {};
	struct session s = {};
	FILE *out = stdout;
	int err;

	err = argp_parse(&argp, argc, argv, 0, NULL, NULL);
	if (err)
		return err;
	libbpf_set_print(libbpf_print_fn);
	signal(SIGINT, sig_handler);
	signal(SIGTERM, sig_handler);
	signal(SIGPIPE, SIG_IGN);
	clock_sync();

	if (env.output) {
		out = fopen(env.output, "w");
		if (!out) {
			fprintf(stderr, "servetrace: cannot write %s: %s\n", env.output, strerror(errno));
			return 1;
		}
	}
	if (env.record) {
		s.record = fopen(env.record, "w");
		if (!s.record || recording_write_header(s.record, clock_offset())) {
			fprintf(stderr, "servetrace: cannot write %s: %s\n", env.record, strerror(errno));
			return 1;
		}
	}
	output_init(&s.out, out, env.json ? OUT_JSON : OUT_CSV);
	output_keep_text(&s.out, env.keep_text);
	co.keep_text = env.keep_text;
	co.body_limit = env.body_limit;
	co.max_conns = 65536;
	/* a replay learns it from the recorded roles */
	co.corr.have_router = env.replay ? false : have_router();
	co.corr.linger_ns = (uint64_t)env.linger_ms * 1000000ULL;
	co.corr.orphan_ns = 10ULL * 1000000000ULL;
	co.corr.idle_ns = 600ULL * 1000000000ULL;
	co.corr.max_exchanges = 200000;
	co.corr.max_hop_records = 100000;
	co.corr.emit = emit_row;
	co.corr.emit_ctx = &s;
	s.col = collector_new(&co);
	if (!s.col) {
		fprintf(stderr, "servetrace: out of memory\n");
		return 1;
	}
	correlator_set_current(collector_correlator(s.col));
	s.hops = server_hops_new(100000);
	if (!s.hops) {
		fprintf(stderr, "servetrace: out of memory\n");
		return 1;
	}
	collector_on_exit(s.col, forget_process, &s);

	if (env.replay) {
		err = replay(&s);
		collector_flush(s.col);
		if (!err)
			summary(&s, NULL);
	} else {
		err = run_live(&s);
	}
	if (!err)
		output_finish(&s.out);
	if (env.output)
		fprintf(stderr, "servetrace: %llu rows written to %s\n",
			(unsigned long long)s.out.rows, env.output);
	collector_free(s.col);
	server_hops_free(s.hops);
	if (s.record)
		fclose(s.record);
	if (out != stdout)
		fclose(out);
	else
		fflush(stdout);
	return err ? 1 : 0;
}

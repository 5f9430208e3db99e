// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* servetrace: per-request timelines of an SGLang router and its workers,
 * from the kernel, without touching them. */
#include <argp.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "capture/sock_capture.h"
#include "output/outfile.h"
#include "query/query_server.h"
#include "session.h"

#define MAX_TARGETS SESSION_MAX_TARGETS

static struct session_opts env;

const char *argp_program_version = "servetrace 0.1";
static const char doc[] =
"servetrace: where each LLM request's time went, seen from the kernel.\n"
"\n"
"Attaches to a running router and its workers (nothing to patch or\n"
"restart) and writes one CSV row per inference request: arrival at the\n"
"router, forward to a worker (and which one), arrival at the worker, the\n"
"scheduler's queue, first token, finish, and the latencies between them.\n"
"The columns are the timeline contract's (see README), then servetrace's own.\n"
"Routers: sglang-router, smg (HTTP or gRPC mode). Workers: SGLang and vLLM\n"
"(HTTP or gRPC); their queue times come from uprobes on libzmq inside them.\n"
"\n"
"Which processes: --router-pid/--worker-pid, or --router-port/--worker-port\n"
"(the processes listening there), or nothing: then every router and server\n"
"above on this machine is found by its command line. Without a router,\n"
"each worker request is a row (node-level run).\n"
"\n"
"USAGE: servetrace [OPTION...]\n"
"\n"
"EXAMPLES:\n"
"  servetrace -o timeline.csv                 # find router and workers\n"
"  servetrace --router-port 30000 --worker-port 30001,30002 -o t.csv\n"
"  servetrace --worker-pid 4242 -d 60 -j      # one worker, 60 s, JSON lines\n"
"  servetrace --replay run.strec -o t.csv     # offline, no root needed\n"
"  servetrace -o t.csv --perfetto t.json      # + a Perfetto timeline\n"
"  servetrace -o t.csv --listen 9464          # + query API, /metrics\n"
"\n"
"Stops on SIGINT/SIGTERM or after --duration, writes what is pending and\n"
"prints every loss counter. Needs root (BPF, tracepoints).\n"
"\n"
"Files are created mode 0600 (--output-mode widens it); a symlink, FIFO or\n"
"other non-regular file at an output path is refused. --record files hold\n"
"the captured payloads (prompts, outputs): keep them private.";

enum {
	OPT_ROUTER_PID = 256, OPT_WORKER_PID, OPT_ROUTER_PORT, OPT_WORKER_PORT,
	OPT_CAPTURE, OPT_BODY_LIMIT, OPT_RINGBUF, OPT_LINGER, OPT_READY,
	OPT_RECORD, OPT_REPLAY, OPT_WAIT, OPT_KEEP_TEXT, OPT_NO_SERVER,
	OPT_FULL_CAPTURE, OPT_IO_HOOKS, OPT_SHARDS, OPT_COLLECTOR_THREADS, OPT_EXIT_DEADLINE, OPT_OUTPUT_MODE, OPT_PERFETTO,
	OPT_LISTEN, OPT_MAX_CONNS, OPT_TRACE_TTL, OPT_MAX_TRACES, OPT_ROUTING_POLICY, OPT_SERVE_AFTER_REPLAY,
};

static const struct argp_option opts[] = {
	{ "output", 'o', "FILE", 0, "Write rows to FILE (default: stdout)", 0 },
	{ "json", 'j', NULL, 0, "JSON lines instead of CSV", 0 },
	{ "output-mode", OPT_OUTPUT_MODE, "MODE", 0,
	  "Octal mode of the files written (-o, --record, --perfetto, --ready-file; default 0600, at most 0666)", 0 },
	{ "router-pid", OPT_ROUTER_PID, "PID[,PID]", 0, "Router process(es) to trace", 1 },
	{ "worker-pid", OPT_WORKER_PID, "PID[,PID]", 0, "Server (SGLang or vLLM) main process(es) to trace", 1 },
	{ "router-port", OPT_ROUTER_PORT, "PORT[,PORT]", 0, "Trace the router listening on PORT", 1 },
	{ "worker-port", OPT_WORKER_PORT, "PORT[,PORT]", 0, "Trace the workers listening on PORT", 1 },
	{ "duration", 'd', "SEC", 0, "Stop after SEC seconds", 2 },
	{ "wait", OPT_WAIT, NULL, 0,
	  "Without targets: start anyway and trace routers and servers as they appear", 2 },
	{ "capture-size", OPT_CAPTURE, "BYTES", 0,
	  "Payload bytes copied per syscall (default 8192, max 16384)", 2 },
	{ "body-limit", OPT_BODY_LIMIT, "BYTES", 0,
	  "Body bytes kept per message for its JSON fields (default 65536)", 2 },
	{ "max-conns", OPT_MAX_CONNS, "N", 0,
	  "Connections followed at once, in the kernel and here; past it the least recently "
	  "used is evicted and counted (default 65536). With --body-limit it bounds memory: "
	  "the start-up line prints the ceiling the limits allow", 2 },
	{ "ringbuf-size", OPT_RINGBUF, "MB", 0,
	  "Ring buffer memory in all, split over the shards (power of 2; default 64 per "
	  "shard, at most 256); raise it if the summary counts drops at high request rates", 2 },
	{ "shards", OPT_SHARDS, "N", 0,
	  "Ring buffers; a connection always uses the same one (default: 1 per 4 CPUs, at most 8)", 2 },
	{ "collector-threads", OPT_COLLECTOR_THREADS, "N", 0,
	  "Threads parsing the rings, each its own shards; the rows are joined on the main "
	  "thread, exactly as with one (default: 1 on up to 4 CPUs or with --listen/--record, "
	  "else one per shard, at most 4 and the CPUs allowed; --replay: 1, or N routed by shard)", 2 },
	{ "full-capture", OPT_FULL_CAPTURE, NULL, 0,
	  "Send every read and write to user space: no SSE events held back in the kernel "
	  "(costs more; for comparisons)", 2 },
	{ "io-hooks", OPT_IO_HOOKS, "WHERE", 0,
	  "Where sockets are watched: 'sock' (the socket layer's tracepoints, Linux 6.3+: one "
	  "program per socket call and no syscall tracepoint, so other processes pay nothing), "
	  "'syscalls' (the syscalls' enter/exit tracepoints, any kernel; every syscall of every "
	  "process then takes the kernel's slow path) or 'auto' (default: sock where the kernel "
	  "has it)", 2 },
	{ "exit-deadline", OPT_EXIT_DEADLINE, "MS", 0,
	  "After SIGINT/SIGTERM, read what the rings hold for at most MS, then count the rest and exit (default 700; detaching takes about a second more)", 2 },
	{ "linger", OPT_LINGER, "MS", 0, "Wait after a request ends before writing it (default 300)", 2 },
	{ "http-only", OPT_NO_SERVER, NULL, 0,
	  "No libzmq uprobes inside the servers (SGLang, vLLM): the queue columns stay empty", 2 },
	{ "keep-text", OPT_KEEP_TEXT, NULL, 0,
	  "Add a prompt column (first 4 KiB). Without it no prompt text is written", 3 },
	{ "ready-file", OPT_READY, "FILE", 0, "Create FILE once attached (for scripts)", 3 },
	{ "record", OPT_RECORD, "FILE", 0, "Also save the raw events to FILE", 3 },
	{ "replay", OPT_REPLAY, "FILE", 0, "Read events from a --record FILE instead of the kernel", 3 },
	{ "perfetto", OPT_PERFETTO, "FILE", 0,
	  "Also write a Chrome/Perfetto trace-event timeline to FILE (ui.perfetto.dev)", 3 },
	{ "listen", OPT_LISTEN, "ADDR", 0,
	  "Serve the query API (/v1/traces...) and Prometheus /metrics on ADDR: PORT "
	  "(127.0.0.1), HOST:PORT or [V6]:PORT; port 0 picks a free one", 3 },
	{ "trace-ttl", OPT_TRACE_TTL, "SEC", 0, "Traces the query API keeps are dropped after SEC (default 3600)", 3 },
	{ "max-traces", OPT_MAX_TRACES, "N", 0, "Traces the query API keeps at most, oldest dropped first (default 10000)", 3 },
	{ "routing-policy", OPT_ROUTING_POLICY, "NAME", 0,
	  "The routing_policy the query API's traces carry (default: the router's --policy if its command line shows it, else unknown)", 3 },
	{ "serve-after-replay", OPT_SERVE_AFTER_REPLAY, NULL, 0,
	  "With --replay and --listen: keep serving after the replay until SIGINT/SIGTERM", 3 },
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
	case OPT_CAPTURE: env.limits.capture_bytes = parse_num(arg, 64, MAX_CAPTURE, state); break;
	case OPT_BODY_LIMIT: env.limits.body_bytes = parse_num(arg, 1024, 16 << 20, state); break;
	case OPT_RINGBUF:
		env.limits.ringbuf_mb = parse_num(arg, 1, 1024, state);
		if (env.limits.ringbuf_mb & (env.limits.ringbuf_mb - 1))
			argp_error(state, "--ringbuf-size must be a power of 2");
		break;
	case OPT_MAX_CONNS: env.limits.max_conns = parse_num(arg, 16, 1 << 20, state); break;
	case OPT_LINGER: env.limits.linger_ms = parse_num(arg, 0, 600000, state); break;
	case OPT_OUTPUT_MODE: {
		int mode = outfile_parse_mode(arg);

		if (mode < 0)
			argp_error(state, "invalid --output-mode '%s' (octal, at most 0666, no execute bits)", arg);
		env.output_mode = mode;
		break;
	}
	case OPT_READY: env.ready_file = arg; break;
	case OPT_RECORD: env.record = arg; break;
	case OPT_REPLAY: env.replay = arg; break;
	case OPT_WAIT: env.wait = true; break;
	case OPT_KEEP_TEXT: env.keep_text = true; break;
	case OPT_NO_SERVER: env.no_server_probes = true; break;
	case OPT_FULL_CAPTURE: env.full_capture = true; break;
	case OPT_IO_HOOKS:
		if (!strcmp(arg, "auto"))
			env.io_hooks = IO_HOOKS_AUTO;
		else if (!strcmp(arg, "sock"))
			env.io_hooks = IO_HOOKS_SOCK;
		else if (!strcmp(arg, "syscalls"))
			env.io_hooks = IO_HOOKS_SYSCALLS;
		else
			argp_error(state, "invalid --io-hooks '%s' (auto, sock or syscalls)", arg);
		break;
	case OPT_SHARDS: env.limits.shards = parse_num(arg, 1, SOCK_CAPTURE_MAX_SHARDS, state); break;
	case OPT_COLLECTOR_THREADS:
		env.limits.collector_threads = parse_num(arg, 1, LIMIT_COLLECTOR_THREADS_MAX, state);
		break;
	case OPT_EXIT_DEADLINE: env.limits.exit_deadline_ms = parse_num(arg, 0, 600000, state); break;
	case OPT_PERFETTO: env.perfetto = arg; break;
	case OPT_LISTEN: {
		struct sockaddr_storage ss;

		if (query_parse_listen(arg, &ss))
			argp_error(state, "invalid --listen '%s': want PORT, HOST:PORT or [V6]:PORT "
				   "(HOST an IP address)", arg);
		env.listen = arg;
		break;
	}
	case OPT_TRACE_TTL: env.trace_ttl_s = parse_num(arg, 1, 30 * 86400, state); break;
	case OPT_MAX_TRACES: env.max_traces = parse_num(arg, 1, 10000000, state); break;
	case OPT_ROUTING_POLICY: env.routing_policy = arg; break;
	case OPT_SERVE_AFTER_REPLAY: env.serve_after_replay = true; break;
	case ARGP_KEY_END:
		if (env.serve_after_replay && (!env.replay || !env.listen))
			argp_error(state, "--serve-after-replay needs --replay and --listen");
		break;
	case ARGP_KEY_ARG: argp_usage(state); break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = { opts, parse_arg, NULL, doc, NULL, NULL, NULL };

int main(int argc, char **argv)
{
	int err;

	env.limits = session_limits_default();
	err = argp_parse(&argp, argc, argv, 0, NULL, NULL);
	if (err)
		return err;
	return session_run(&env);
}

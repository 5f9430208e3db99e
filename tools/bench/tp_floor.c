// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tp_floor PID...: attach tp_floor.bpf.c's do-nothing programs with PID...
 * as the traced processes, until SIGINT or SIGTERM. For the floor rounds
 * of tools/bench_capture.sh: the cost of the tracepoints alone. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "sock_event.h"
#include "tp_floor.skel.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: tp_floor [--hooks SET] [--ready-file FILE] PID...\n\n"
		"Attaches programs that only look up whether the calling process is one\n"
		"of PID..., on the tracepoints servetrace uses, and waits for SIGINT or\n"
		"SIGTERM. tools/bench_capture.sh --floor runs it: the throughput it costs\n"
		"is the floor under servetrace's. Needs root.\n\n"
		"  --hooks sock      the socket-layer tracepoints (servetrace's default\n"
		"                    --io-hooks sock; the default here)\n"
		"  --hooks sock-raw  the same tracepoints as raw tracepoints\n"
		"  --hooks syscalls  the syscall tracepoints (--io-hooks syscalls)\n");
}

int main(int argc, char **argv)
{
	const char *ready = NULL, *hooks = "sock", *prefix;
	struct bpf_program *prog;
	struct tp_floor_bpf *skel;
	int i = 1, n = 0, fd;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "--ready-file"))
			ready = argv[i + 1];
		else if (!strcmp(argv[i], "--hooks"))
			hooks = argv[i + 1];
		else
			break;
	}
	if (i >= argc || argv[i][0] == '-') {
		usage(stderr);
		return 2;
	}
	if (!strcmp(hooks, "sock"))
		prefix = "tp_";
	else if (!strcmp(hooks, "sock-raw"))
		prefix = "raw_";
	else if (!strcmp(hooks, "syscalls"))
		prefix = "e";	/* enter_*, exit_* */
	else {
		fprintf(stderr, "tp_floor: --hooks takes sock, sock-raw or syscalls, not '%s'\n",
			hooks);
		return 2;
	}
	skel = tp_floor_bpf__open();
	if (!skel) {
		fprintf(stderr, "tp_floor: opening the programs failed: %s\n", strerror(errno));
		return 1;
	}
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, !strncmp(bpf_program__name(prog), prefix,
							 strlen(prefix)));
	if (tp_floor_bpf__load(skel)) {
		fprintf(stderr, "tp_floor: loading the programs failed: %s%s\n", strerror(errno),
			geteuid() ? " (run as root)" : "");
		return 1;
	}
	for (; i < argc; i++) {
		char *end;
		long v = strtol(argv[i], &end, 10);
		if (*end || v <= 0 || v >= TRACED_TGID_LIMIT) {
			fprintf(stderr, "tp_floor: '%s' is not a pid\n", argv[i]);
			return 2;
		}
		skel->bss->traced_bits[v / 64] |= 1ULL << (v % 64);	/* the mmap of .bss */
		n++;
	}
	if (tp_floor_bpf__attach(skel)) {
		fprintf(stderr, "tp_floor: attaching failed: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (ready) {
		fd = open(ready, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0) {
			fprintf(stderr, "tp_floor: %s: %s\n", ready, strerror(errno));
			return 1;
		}
		close(fd);
	}
	fprintf(stderr, "tp_floor: %s hooks attached for %d processes\n", hooks, n);
	while (!stop)
		pause();
	tp_floor_bpf__destroy(skel);
	return 0;
}

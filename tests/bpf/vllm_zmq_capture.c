// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Fixture capture: attach the libzmq uprobes (user/capture/zmq_trace.c)
 * to the given pids, whatever they run (vLLM's API server and
 * VLLM::EngineCore here: servetrace only attaches to SGLang today), and
 * print every zmq message frame as a JSON line with its payload in hex.
 * tests/unit/data/vllm/capture.sh turns the lines into fixtures.
 *
 *   vllm_zmq_capture [-d SECONDS] [-c CAPTURE] PID...   (root) */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "capture/zmq_trace.h"

static volatile sig_atomic_t exiting;

static void on_signal(int sig)
{
	exiting = 1;
}

static int on_record(void *ctx, void *data, size_t size)
{
	const struct zmq_msg_event *e = data;
	const unsigned char *p;
	uint32_t i;

	if (size < sizeof(*e) || e->type != EV_ZMQ_MSG)
		return 0;
	p = (const unsigned char *)e->data;
	printf("{\"ts\":%llu,\"pid\":%u,\"tid\":%u,\"dir\":\"%s\",\"sock\":\"%#llx\","
	       "\"size\":%llu,\"trunc\":%u,\"hex\":\"",
	       (unsigned long long)e->ts, e->tgid, e->tid,
	       e->dir == ZMQ_DIR_SEND ? "send" : "recv",
	       (unsigned long long)e->sock, (unsigned long long)e->size, e->truncated);
	for (i = 0; i < e->cap_len; i++)
		printf("%02x", p[i]);
	printf("\"}\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct zmq_trace_opts opts = { .capture_bytes = ZMQ_MAX_CAPTURE,
				       .loop_gap_ns = UINT64_MAX };
	struct ring_buffer *rb = NULL;
	struct timespec t0, now;
	struct zmq_trace *zt;
	double seconds = 0;
	int opt, i, err = 0;

	while ((opt = getopt(argc, argv, "d:c:")) != -1) {
		if (opt == 'd')
			seconds = atof(optarg);
		else if (opt == 'c')
			opts.capture_bytes = atoi(optarg);
		else
			return 2;
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: vllm_zmq_capture [-d S] [-c BYTES] PID...\n");
		return 2;
	}
	zt = zmq_trace_open(&opts);
	if (!zt)
		return 1;
	for (i = optind; i < argc; i++) {
		err = zmq_trace_add_process(zt, strtoul(argv[i], NULL, 10), 0);
		fprintf(stderr, "pid %s: %s\n", argv[i], err ? strerror(-err) : "attached");
	}
	rb = ring_buffer__new(zmq_trace_ringbuf_fd(zt), on_record, NULL, NULL);
	if (!rb) {
		err = -errno;
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fprintf(stderr, "capturing\n");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!exiting) {
		err = ring_buffer__poll(rb, 100);
		if (err < 0)
			break;
		err = 0;
		fflush(stdout);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (seconds > 0 && (now.tv_sec - t0.tv_sec) +
		    (now.tv_nsec - t0.tv_nsec) / 1e9 > seconds)
			break;
	}
out:
	ring_buffer__free(rb);
	zmq_trace_close(zt);
	return err && err != -EINTR ? 1 : 0;
}

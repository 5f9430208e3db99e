// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Debug tool: attach the libzmq uprobes to one SGLang server (main pid,
 * or every server found) and print each record as a JSON line:
 * messages with their class and rids, endpoints, scheduler loop gaps.
 *
 *   zmq_dump [-d SECONDS] [-c CAPTURE] [-g LOOP_GAP_US] [-x] [MAIN_PID...]
 * (root; -x adds the captured payload in hex) */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "capture/zmq_trace.h"
#include "proto/ipc.h"
#include "procs/sglang_procs.h"

static volatile sig_atomic_t exiting;
static bool dump_hex;
static struct sglang_server servers[8];
static int nservers;

static void on_signal(int sig)
{
	exiting = 1;
}

static const char *role_of(uint32_t pid)
{
	int s, i;

	for (s = 0; s < nservers; s++)
		for (i = 0; i < servers[s].nprocs; i++)
			if (servers[s].procs[i].pid == pid)
				return sglang_role_name(servers[s].procs[i].title.role);
	return "?";
}

static int on_record(void *ctx, void *data, size_t size)
{
	const uint32_t *type = data;
	static struct ipc_msg m;
	char rid[96];
	uint32_t i;

	if (size < 4)
		return 0;
	if (*type == EV_ZMQ_MSG && size >= sizeof(struct zmq_msg_event)) {
		const struct zmq_msg_event *e = data;
		const char *p = e->data;

		ipc_parse(p, e->cap_len, e->truncated, &m);
		printf("{\"ev\":\"msg\",\"ts\":%llu,\"ts_enter\":%llu,\"pid\":%u,\"tid\":%u,"
		       "\"role\":\"%s\",\"dir\":\"%s\",\"sock\":\"%#llx\",\"size\":%llu,"
		       "\"kind\":%u,\"trunc\":%u,\"fail_n\":%u,\"fail_first\":%llu,"
		       "\"fail_last\":%llu,\"class\":\"%s\",\"flags\":%u,\"stream\":%d,"
		       "\"prompt\":%lld,\"nrids\":%u,\"rids\":[",
		       (unsigned long long)e->ts, (unsigned long long)e->ts_enter,
		       e->tgid, e->tid, role_of(e->tgid),
		       e->dir == ZMQ_DIR_SEND ? "send" : "recv",
		       (unsigned long long)e->sock, (unsigned long long)e->size,
		       e->msg_kind, e->truncated, e->fail_count,
		       (unsigned long long)e->fail_first_ts,
		       (unsigned long long)e->fail_last_ts, m.class_name, m.flags,
		       m.stream, (long long)m.prompt_tokens, m.rids_total);
		for (i = 0; i < m.nrids && i < 16; i++) {
			ipc_rid_copy(&m, p, i, rid, sizeof(rid));
			printf("%s\"%s\"", i ? "," : "", rid);
		}
		printf("],\"fin\":[");
		for (i = 0; i < m.nrids && i < 16; i++)
			printf("%s%d", i ? "," : "", m.finished[i]);
		printf("]");
		if (dump_hex) {
			printf(",\"hex\":\"");
			for (i = 0; i < e->cap_len; i++)
				printf("%02x", (unsigned char)p[i]);
			printf("\"");
		}
		printf("}\n");
	} else if (*type == EV_ZMQ_ENDPOINT && size >= sizeof(struct zmq_endpoint_event)) {
		const struct zmq_endpoint_event *e = data;

		printf("{\"ev\":\"endpoint\",\"ts\":%llu,\"pid\":%u,\"role\":\"%s\",\"op\":%u,"
		       "\"sock\":\"%#llx\",\"endpoint\":\"%s\"}\n",
		       (unsigned long long)e->ts, e->tgid, role_of(e->tgid), e->op,
		       (unsigned long long)e->sock, e->endpoint);
	} else if (*type == EV_ZMQ_LOOP && size >= sizeof(struct zmq_loop_event)) {
		const struct zmq_loop_event *e = data;

		printf("{\"ev\":\"loop\",\"pid\":%u,\"tid\":%u,\"role\":\"%s\",\"gap_start\":%llu,"
		       "\"gap_end\":%llu,\"fails_before\":%u,\"sock\":\"%#llx\"}\n",
		       e->tgid, e->tid, role_of(e->tgid),
		       (unsigned long long)e->ts_gap_start,
		       (unsigned long long)e->ts_gap_end, e->fails_before,
		       (unsigned long long)e->sock);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct zmq_trace_opts opts = {};
	uint64_t counters[ZCNT_MAX];
	struct ring_buffer *rb = NULL;
	struct zmq_trace *zt;
	uint32_t pids[8];
	double seconds = 0;
	struct timespec t0, now;
	int opt, n, s, i, err = 0;

	while ((opt = getopt(argc, argv, "d:c:g:x")) != -1) {
		if (opt == 'x')
			dump_hex = true;
		else if (opt == 'd')
			seconds = atof(optarg);
		else if (opt == 'c')
			opts.capture_bytes = atoi(optarg);
		else if (opt == 'g')
			opts.loop_gap_ns = strtoull(optarg, NULL, 10) * 1000;
		else
			return 2;
	}
	n = 0;
	for (i = optind; i < argc && n < 8; i++)
		pids[n++] = strtoul(argv[i], NULL, 10);
	if (!n)
		n = sglang_find_servers(NULL, pids, 8);
	if (n <= 0) {
		fprintf(stderr, "no SGLang server found\n");
		return 1;
	}
	zt = zmq_trace_open(&opts);
	if (!zt)
		return 1;
	for (s = 0; s < n; s++) {
		if (sglang_server_scan(NULL, pids[s], &servers[nservers]))
			continue;
		for (i = 0; i < servers[nservers].nprocs; i++) {
			const struct sglang_proc *p = &servers[nservers].procs[i];
			uint32_t flags = p->title.role == SGLANG_ROLE_SCHEDULER ?
					 ZMQ_PF_LOOP : 0;

			if (!p->libzmq[0])
				continue;
			err = zmq_trace_add_process_lib(zt, p->pid, p->libzmq, flags);
			fprintf(stderr, "pid %u %s (%s): %s\n", p->pid,
				sglang_role_name(p->title.role), p->libzmq,
				err ? strerror(-err) : "attached");
		}
		nservers++;
	}
	rb = ring_buffer__new(zmq_trace_ringbuf_fd(zt), on_record, NULL, NULL);
	if (!rb) {
		err = -errno;
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!exiting) {
		err = ring_buffer__poll(rb, 100);
		if (err == -EINTR)
			break;
		if (err < 0)
			break;
		err = 0;
		fflush(stdout);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (seconds > 0 && (now.tv_sec - t0.tv_sec) +
		    (now.tv_nsec - t0.tv_nsec) / 1e9 > seconds)
			break;
	}
	zmq_trace_counters(zt, counters);
	for (i = 0; i < ZCNT_MAX; i++)
		fprintf(stderr, "%s %llu\n", zmq_counter_name(i),
			(unsigned long long)counters[i]);
out:
	ring_buffer__free(rb);
	zmq_trace_close(zt);
	return err ? 1 : 0;
}

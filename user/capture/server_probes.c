// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "capture/server_probes.h"
#include "capture/zmq_trace.h"
#include "procs/discover.h"
#include "capture/recording.h"
#include "procs/sglang_procs.h"

#define MAX_SERVERS 64
#define MAX_PROBED 256

struct probed {
	uint32_t pid, main_pid;
};

struct server_probes {
	struct zmq_trace *zt;
	struct server_hops *hops;
	FILE *record;
	uint32_t servers[MAX_SERVERS];
	int nservers;
	struct probed probed[MAX_PROBED];
	int nprobed;
	uint64_t attach_failures;
};

struct server_probes *server_probes_open(struct server_hops *hops, FILE *record,
					 uint32_t capture_bytes)
{
	struct zmq_trace_opts o = { .capture_bytes = capture_bytes };
	struct server_probes *sp = calloc(1, sizeof(*sp));

	if (!sp)
		return NULL;
	sp->zt = zmq_trace_open(&o);
	if (!sp->zt) {
		fprintf(stderr, "servetrace: WARNING: libzmq uprobes unavailable: the queue and "
			"scheduler columns stay empty\n");
		free(sp);
		return NULL;
	}
	sp->hops = hops;
	sp->record = record;
	return sp;
}

void server_probes_close(struct server_probes *sp)
{
	if (!sp)
		return;
	zmq_trace_close(sp->zt);
	free(sp);
}

int server_probes_add_ringbuf(struct server_probes *sp, struct ring_buffer *rb,
			      ring_buffer_sample_fn fn, void *ctx)
{
	return zmq_trace_ring_buffer_add(sp->zt, rb, fn, ctx);
}

static bool is_probed(struct server_probes *sp, uint32_t pid)
{
	for (int i = 0; i < sp->nprobed; i++)
		if (sp->probed[i].pid == pid)
			return true;
	return false;
}

/* Only the processes on the request path: the main (HTTP + tokenizer),
 * the scheduler that reads the tokenizer's socket, the detokenizer. */
static bool wanted(const struct sglang_proc *p)
{
	switch (p->title.role) {
	case SGLANG_ROLE_MAIN:
	case SGLANG_ROLE_DETOKENIZER:
		return true;
	case SGLANG_ROLE_SCHEDULER:
		return p->input_rank;
	default:
		return false;
	}
}

/* --chunked-prefill-size N from the server's command line, or 0. */
static long chunked_prefill_size(uint32_t main_pid)
{
	static const char opt[] = "--chunked-prefill-size";
	char cmd[8192], *at;

	process_cmdline(main_pid, cmd, sizeof(cmd));
	at = strstr(cmd, opt);
	if (!at)
		return 0;
	at += sizeof(opt) - 1;
	if (*at == '=' || *at == ' ')
		at++;
	return strtol(at, NULL, 10);
}

static void probe_server(struct server_probes *sp, uint32_t main_pid)
{
	static struct sglang_server srv;

	if (sglang_server_scan(NULL, main_pid, &srv) < 0)
		return;
	for (int i = 0; i < srv.nprocs; i++) {
		const struct sglang_proc *p = &srv.procs[i];
		uint32_t flags = p->title.role == SGLANG_ROLE_SCHEDULER ? ZMQ_PF_LOOP : 0;
		struct rec_sglang_proc rec = { p->pid, p->title.role, main_pid };
		int err;

		if (!wanted(p) || is_probed(sp, p->pid) || sp->nprobed >= MAX_PROBED)
			continue;
		/* roles first: records may arrive as soon as the probes are in */
		server_hops_set_proc(sp->hops, p->pid, p->title.role, main_pid);
		if (p->title.role == SGLANG_ROLE_SCHEDULER)
			server_hops_set_chunked_prefill(sp->hops, p->pid,
							chunked_prefill_size(main_pid));
		if (sp->record)
			recording_write(sp->record, REC_SGLANG_PROC, &rec, sizeof(rec));
		err = zmq_trace_add_process(sp->zt, p->pid, flags);
		if (err == -ENOENT)
			continue;	/* no libzmq mapped yet: next rescan */
		if (err) {
			sp->attach_failures++;
			fprintf(stderr, "servetrace: cannot probe libzmq in %u (%s): %s\n",
				p->pid, sglang_role_name(p->title.role), strerror(-err));
			continue;
		}
		sp->probed[sp->nprobed++] = (struct probed){ p->pid, main_pid };
		fprintf(stderr, "servetrace: libzmq probes in %s pid %u (server %u)\n",
			sglang_role_name(p->title.role), p->pid, main_pid);
	}
}

void server_probes_track(struct server_probes *sp, uint32_t main_pid)
{
	for (int i = 0; i < sp->nservers; i++)
		if (sp->servers[i] == main_pid)
			return;
	if (sp->nservers < MAX_SERVERS)
		sp->servers[sp->nservers++] = main_pid;
	probe_server(sp, main_pid);
}

static void drop_probed(struct server_probes *sp, int i)
{
	zmq_trace_remove_process(sp->zt, sp->probed[i].pid);
	server_hops_forget_proc(sp->hops, sp->probed[i].pid);
	sp->probed[i] = sp->probed[--sp->nprobed];
}

void server_probes_untrack(struct server_probes *sp, uint32_t main_pid)
{
	for (int i = 0; i < sp->nservers; i++)
		if (sp->servers[i] == main_pid)
			sp->servers[i--] = sp->servers[--sp->nservers];
	for (int i = 0; i < sp->nprobed; i++)
		if (sp->probed[i].main_pid == main_pid)
			drop_probed(sp, i--);
}

void server_probes_rescan(struct server_probes *sp)
{
	for (int i = 0; i < sp->nprobed; i++)
		if (!process_alive(sp->probed[i].pid))
			drop_probed(sp, i--);
	for (int i = 0; i < sp->nservers; i++)
		probe_server(sp, sp->servers[i]);
}

void server_probes_summary(struct server_probes *sp, FILE *f)
{
	uint64_t c[ZCNT_MAX];

	zmq_trace_counters(sp->zt, c);
	for (int i = 0; i < ZCNT_MAX; i++)
		fprintf(f, "  %-44s %llu\n", zmq_counter_name(i), (unsigned long long)c[i]);
	fprintf(f, "  %-44s %llu\n", "libzmq: processes that could not be probed",
		(unsigned long long)sp->attach_failures);
}

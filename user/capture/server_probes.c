// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "capture/server_probes.h"
#include "capture/zmq_trace.h"
#include "capture/recording.h"
#include "procs/proc_tree.h"
#include "procs/procfs.h"

#define MAX_SERVERS 64
#define MAX_PROBED 256

struct probed {
	uint32_t pid, main_pid;
};

struct server {
	uint32_t main_pid;
	enum proc_engine engine;	/* NONE until the first scan */
};

struct server_probes {
	struct zmq_trace *zt;
	struct server_hops *hops;
	FILE *record;
	struct server servers[MAX_SERVERS];
	int nservers;
	bool engines[PROC_ENGINE_MAX];	/* engines whose hops server_hops decodes */
	struct probed probed[MAX_PROBED];
	int nprobed;
	/* pids whose probing failed: retried at every rescan, said and
	 * counted once (the message repeated every second) */
	uint32_t failed[MAX_PROBED];
	int nfailed;
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
	sp->engines[PROC_ENGINE_SGLANG] = true;
	return sp;
}

void server_probes_close(struct server_probes *sp)
{
	if (!sp)
		return;
	zmq_trace_close(sp->zt);
	free(sp);
}

int server_probes_ringbuf_fd(const struct server_probes *sp)
{
	return zmq_trace_ringbuf_fd(sp->zt);
}

static bool is_probed(struct server_probes *sp, uint32_t pid)
{
	for (int i = 0; i < sp->nprobed; i++)
		if (sp->probed[i].pid == pid)
			return true;
	return false;
}

/* Only the processes on the request path. SGLang: the main (HTTP +
 * tokenizer), the scheduler that reads the tokenizer's socket, the
 * detokenizer. vLLM: the API server and each EngineCore. */
static bool wanted(const struct proc_node *p)
{
	switch (p->cls.kind) {
	case PROC_KIND_SERVER:
	case PROC_KIND_DETOKENIZER:
		return true;
	case PROC_KIND_SCHEDULER:
	case PROC_KIND_ENGINE_CORE:
		return p->input;
	default:
		return false;
	}
}

/* --chunked-prefill-size N from the server's command line, or 0. */
static long chunked_prefill_size(uint32_t main_pid)
{
	static const char opt[] = "--chunked-prefill-size";
	char cmd[8192], *at;

	procfs_cmdline_text(NULL, main_pid, cmd, sizeof(cmd));
	at = strstr(cmd, opt);
	if (!at)
		return 0;
	at += sizeof(opt) - 1;
	if (*at == '=' || *at == ' ')
		at++;
	return strtol(at, NULL, 10);
}

/* The role server_hops knows p by: an enum sglang_role, or for vLLM an
 * enum server_hops_vllm_role (recorded the same way); 0: none. */
static uint32_t hops_role(const struct proc_node *p)
{
	if (p->cls.engine == PROC_ENGINE_SGLANG)
		return proc_kind_sglang_role(&p->cls);
	if (p->cls.engine != PROC_ENGINE_VLLM)
		return 0;
	if (p->cls.kind == PROC_KIND_SERVER)
		return HOPS_VLLM_API;
	return p->cls.kind == PROC_KIND_ENGINE_CORE ? HOPS_VLLM_ENGINE_CORE : 0;
}

/* Roles first: records may arrive as soon as the probes are in. */
static void announce(struct server_probes *sp, const struct proc_node *p, uint32_t main_pid)
{
	uint32_t role = hops_role(p);
	struct rec_sglang_proc rec = { p->pid, role, main_pid };

	if (!role)
		return;
	server_hops_set_proc(sp->hops, p->pid, role, main_pid);
	if (role == SGLANG_ROLE_SCHEDULER)
		server_hops_set_chunked_prefill(sp->hops, p->pid, chunked_prefill_size(main_pid));
	if (sp->record)
		recording_write(sp->record, REC_SGLANG_PROC, &rec, sizeof(rec));
}

static const char *node_name(const struct proc_node *p)
{
	if (p->cls.engine == PROC_ENGINE_SGLANG)
		return sglang_role_name(proc_kind_sglang_role(&p->cls));
	return proc_kind_name(p->cls.kind);
}

static int failed_at(const struct server_probes *sp, uint32_t pid)
{
	for (int i = 0; i < sp->nfailed; i++)
		if (sp->failed[i] == pid)
			return i;
	return -1;
}

/* The path is the one pid maps; zmq_trace reaches it through
 * /proc/PID/root, so a server in its own mount namespace resolves too. */
static void probe_node(struct server_probes *sp, const struct proc_node *p, uint32_t main_pid)
{
	uint32_t flags = p->cls.kind == PROC_KIND_SCHEDULER ? ZMQ_PF_LOOP : 0;
	int err = p->libzmq_err;
	int was = failed_at(sp, p->pid);

	announce(sp, p, main_pid);
	if (err == -ENOENT)
		return;		/* no libzmq mapped yet: next rescan */
	if (err == -ESTALE && was < 0)
		fprintf(stderr, "servetrace: zmq: pid %u maps a deleted %s: not attachable\n",
			p->pid, p->libzmq);
	if (!err)
		err = zmq_trace_add_process_lib(sp->zt, p->pid, p->libzmq, flags);
	if (err == -ESRCH || (err && procfs_gone(NULL, p->pid)))
		return;		/* it exited while being probed: dropped at the next scan */
	if (err) {
		if (was >= 0)
			return;
		sp->attach_failures++;
		if (sp->nfailed < MAX_PROBED)
			sp->failed[sp->nfailed++] = p->pid;
		fprintf(stderr, "servetrace: cannot probe libzmq in %u (%s): %s "
			"(tried again at each rescan, said once)\n",
			p->pid, node_name(p), strerror(-err));
		return;
	}
	if (was >= 0)
		sp->failed[was] = sp->failed[--sp->nfailed];
	sp->probed[sp->nprobed++] = (struct probed){ p->pid, main_pid };
	fprintf(stderr, "servetrace: libzmq probes in %s pid %u (server %u)\n",
		node_name(p), p->pid, main_pid);
}

static void probe_server(struct server_probes *sp, struct server *s)
{
	static struct proc_tree tree;	/* large */
	bool first = !s->engine;

	if (proc_tree_scan(NULL, s->main_pid, &tree) < 0)
		return;
	s->engine = tree.engine;
	if (!sp->engines[tree.engine]) {
		if (first)
			fprintf(stderr, "servetrace: %s server %u: its libzmq messages are not "
				"decoded yet; HTTP-level rows only\n",
				proc_engine_name(tree.engine), s->main_pid);
		return;
	}
	for (int i = 0; i < tree.nprocs; i++) {
		const struct proc_node *p = &tree.procs[i];

		if (wanted(p) && !is_probed(sp, p->pid) && sp->nprobed < MAX_PROBED)
			probe_node(sp, p, s->main_pid);
	}
}

void server_probes_enable_engine(struct server_probes *sp, enum proc_engine engine)
{
	if ((unsigned int)engine < PROC_ENGINE_MAX)
		sp->engines[engine] = true;
}

void server_probes_track(struct server_probes *sp, uint32_t main_pid)
{
	for (int i = 0; i < sp->nservers; i++)
		if (sp->servers[i].main_pid == main_pid)
			return;
	if (sp->nservers >= MAX_SERVERS)
		return;
	sp->servers[sp->nservers] = (struct server){ main_pid, PROC_ENGINE_NONE };
	probe_server(sp, &sp->servers[sp->nservers++]);
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
		if (sp->servers[i].main_pid == main_pid)
			sp->servers[i--] = sp->servers[--sp->nservers];
	for (int i = 0; i < sp->nprobed; i++)
		if (sp->probed[i].main_pid == main_pid)
			drop_probed(sp, i--);
}

void server_probes_rescan(struct server_probes *sp)
{
	for (int i = 0; i < sp->nprobed; i++)
		if (!procfs_alive(NULL, sp->probed[i].pid))
			drop_probed(sp, i--);
	for (int i = 0; i < sp->nfailed; i++)	/* the pid may come back as another */
		if (!procfs_alive(NULL, sp->failed[i]))
			sp->failed[i--] = sp->failed[--sp->nfailed];
	for (int i = 0; i < sp->nservers; i++)
		probe_server(sp, &sp->servers[i]);
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

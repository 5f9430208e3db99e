// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Open, size and load zmq.bpf.c; attach its uprobes per traced process
 * to the libzmq that process maps (pyzmq bundles its own copy, so two
 * servers in two venvs map two different files). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "capture/zmq_trace.h"
#include "util/percpu.h"
#include "procs/procfs.h"
#include "procs/sglang_procs.h"
#include "zmq.skel.h"

enum zmq_probe {
	PROBE_SEND,
	PROBE_RECV_ENTER,
	PROBE_RECV_EXIT,
	PROBE_BIND,
	PROBE_CONNECT,
	PROBE_CLOSE,
	PROBE_MAX,
};

struct zmq_proc {
	uint32_t pid;
	struct bpf_link *links[PROBE_MAX];
};

struct zmq_trace {
	struct zmq_bpf *skel;
	bool no_endpoints;
	int nprocs;
	int cap;
	struct zmq_proc *procs;
};

static const char *const counter_names[ZCNT_MAX] = {
	[ZCNT_RINGBUF_FULL] = "zmq_ringbuf_full",
	[ZCNT_MISSED_ENTER] = "zmq_missed_enter",
	[ZCNT_STALE_ENTER] = "zmq_stale_enter",
	[ZCNT_TRUNCATED] = "zmq_truncated",
	[ZCNT_READ_FAULT] = "zmq_read_fault",
	[ZCNT_BAD_MSG] = "zmq_bad_msg",
	[ZCNT_EAGAIN] = "zmq_failed_recv",
	[ZCNT_EVENTS] = "zmq_events",
	[ZCNT_STATE_FULL] = "zmq_state_full",
};

const char *zmq_counter_name(enum zmq_counter_id id)
{
	if ((unsigned int)id >= ZCNT_MAX)
		return "invalid";
	return counter_names[id];
}

struct zmq_trace *zmq_trace_open(const struct zmq_trace_opts *opts)
{
	struct zmq_trace_opts def = {};
	struct zmq_trace *zt;
	uint32_t cap;
	int err;

	if (!opts)
		opts = &def;
	if (geteuid() != 0) {
		fprintf(stderr, "servetrace: zmq: must run as root (uprobes need CAP_BPF and CAP_PERFMON)\n");
		return NULL;
	}
	zt = calloc(1, sizeof(*zt));
	if (!zt)
		return NULL;
	zt->no_endpoints = opts->no_endpoints;
	zt->skel = zmq_bpf__open();
	if (!zt->skel) {
		fprintf(stderr, "servetrace: zmq: cannot open the BPF object: %s\n",
			strerror(errno));
		goto fail;
	}
	cap = opts->capture_bytes ? opts->capture_bytes : ZMQ_DEFAULT_CAPTURE;
	zt->skel->rodata->cap_bytes = cap > ZMQ_MAX_CAPTURE ? ZMQ_MAX_CAPTURE : cap;
	if (opts->loop_gap_ns == UINT64_MAX)
		zt->skel->rodata->loop_gap_ns = 0;
	else if (opts->loop_gap_ns)
		zt->skel->rodata->loop_gap_ns = opts->loop_gap_ns;
	if (opts->ringbuf_bytes) {
		err = bpf_map__set_max_entries(zt->skel->maps.zmq_events,
					       opts->ringbuf_bytes);
		if (err) {
			fprintf(stderr, "servetrace: zmq: bad ring buffer size %u: %s\n",
				opts->ringbuf_bytes, strerror(-err));
			goto fail;
		}
	}
	/* wake the reader only once a 16th of the ring is waiting: it reads
	 * on a 50 ms timer anyway, and a wakeup per message (several per
	 * generated token) cost more than parsing the message */
	zt->skel->rodata->wakeup_bytes =
		bpf_map__max_entries(zt->skel->maps.zmq_events) / 16;
	err = zmq_bpf__load(zt->skel);
	if (err) {
		fprintf(stderr, "servetrace: zmq: loading BPF programs failed: %s%s\n",
			strerror(-err),
			err == -EPERM ? " (missing privileges, or lockdown)" : "");
		goto fail;
	}
	return zt;
fail:
	zmq_trace_close(zt);
	return NULL;
}

static void detach(struct zmq_proc *p)
{
	int i;

	for (i = 0; i < PROBE_MAX; i++) {
		bpf_link__destroy(p->links[i]);
		p->links[i] = NULL;
	}
}

void zmq_trace_close(struct zmq_trace *zt)
{
	int i;

	if (!zt)
		return;
	for (i = 0; i < zt->nprocs; i++)
		detach(&zt->procs[i]);
	free(zt->procs);
	zmq_bpf__destroy(zt->skel);
	free(zt);
}

static struct zmq_proc *find_proc(const struct zmq_trace *zt, uint32_t pid)
{
	int i;

	for (i = 0; i < zt->nprocs; i++)
		if (zt->procs[i].pid == pid)
			return &zt->procs[i];
	return NULL;
}

bool zmq_trace_has_process(const struct zmq_trace *zt, uint32_t pid)
{
	return zt && find_proc(zt, pid);
}

static int set_filter(struct zmq_trace *zt, uint32_t pid, uint32_t flags)
{
	flags |= ZMQ_PF_TRACE;
	return bpf_map__update_elem(zt->skel->maps.zmq_tgids, &pid, sizeof(pid),
				    &flags, sizeof(flags), BPF_ANY);
}

static int attach_one(struct bpf_program *prog, uint32_t pid, const char *path,
		      const char *func, bool retprobe, struct bpf_link **link)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uopts, .func_name = func,
		    .retprobe = retprobe);

	*link = bpf_program__attach_uprobe_opts(prog, pid, path, 0, &uopts);
	if (!*link) {
		int err = -errno;

		fprintf(stderr, "servetrace: zmq: attaching %s%s in %s for pid %u failed: %s\n",
			retprobe ? "return of " : "", func, path, pid,
			strerror(-err));
		return err;
	}
	return 0;
}

int zmq_trace_add_process_lib(struct zmq_trace *zt, uint32_t pid,
			      const char *libzmq, uint32_t flags)
{
	struct zmq_bpf *skel = zt->skel;
	struct zmq_proc *p, *procs;
	char path[PATH_MAX];
	int err;

	if (find_proc(zt, pid))
		return set_filter(zt, pid, flags);
	if (zt->nprocs == zt->cap) {
		int cap = zt->cap ? zt->cap * 2 : 16;

		procs = realloc(zt->procs, cap * sizeof(*procs));
		if (!procs)
			return -ENOMEM;
		zt->procs = procs;
		zt->cap = cap;
	}
	/* The path as the process sees it: through its root, so a server
	 * in another mount namespace (container) resolves too. */
	err = procfs_lib_path(NULL, pid, libzmq, path, sizeof(path));
	if (err && procfs_gone(NULL, pid))
		return -ESRCH;	/* it exited meanwhile: nothing to say */
	if (err) {
		fprintf(stderr, "servetrace: zmq: pid %u maps %s, not reachable through "
			"/proc/%u/root: %s\n", pid, libzmq, pid, strerror(-err));
		return err;
	}

	p = &zt->procs[zt->nprocs];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	/* Filter first: a message between the attaches is then seen whole
	 * or not at all (the recv pair tolerates a missing entry). */
	err = set_filter(zt, pid, flags);
	if (err)
		return err;
	err = attach_one(skel->progs.zmq_msg_send_enter, pid, path,
			 "zmq_msg_send", false, &p->links[PROBE_SEND]);
	if (!err)
		err = attach_one(skel->progs.zmq_msg_recv_exit, pid, path,
				 "zmq_msg_recv", true, &p->links[PROBE_RECV_EXIT]);
	if (!err)
		err = attach_one(skel->progs.zmq_msg_recv_enter, pid, path,
				 "zmq_msg_recv", false, &p->links[PROBE_RECV_ENTER]);
	if (!err && !zt->no_endpoints) {
		err = attach_one(skel->progs.zmq_bind_enter, pid, path,
				 "zmq_bind", false, &p->links[PROBE_BIND]);
		if (!err)
			err = attach_one(skel->progs.zmq_connect_enter, pid, path,
					 "zmq_connect", false,
					 &p->links[PROBE_CONNECT]);
		if (!err)
			err = attach_one(skel->progs.zmq_close_enter, pid, path,
					 "zmq_close", false, &p->links[PROBE_CLOSE]);
	}
	if (err) {
		detach(p);
		bpf_map__delete_elem(skel->maps.zmq_tgids, &pid, sizeof(pid), 0);
		return err;
	}
	zt->nprocs++;
	return 0;
}

int zmq_trace_add_process(struct zmq_trace *zt, uint32_t pid, uint32_t flags)
{
	char lib[SGLANG_PATH_MAX];
	int err;

	if (find_proc(zt, pid))
		return set_filter(zt, pid, flags);
	err = sglang_proc_libzmq(NULL, pid, lib, sizeof(lib));
	if (err == -ESTALE)
		fprintf(stderr, "servetrace: zmq: pid %u maps a deleted %s: not attachable\n",
			pid, lib);
	if (err)
		return err;
	return zmq_trace_add_process_lib(zt, pid, lib, flags);
}

int zmq_trace_remove_process(struct zmq_trace *zt, uint32_t pid)
{
	struct zmq_proc *p = find_proc(zt, pid);
	int err;

	err = bpf_map__delete_elem(zt->skel->maps.zmq_tgids, &pid, sizeof(pid), 0);
	if (!p)
		return err ? err : -ENOENT;
	detach(p);
	*p = zt->procs[--zt->nprocs];
	return 0;
}

int zmq_trace_ringbuf_fd(const struct zmq_trace *zt)
{
	return bpf_map__fd(zt->skel->maps.zmq_events);
}

void zmq_trace_counters(const struct zmq_trace *zt, uint64_t out[ZCNT_MAX])
{
	percpu_sum(bpf_map__fd(zt->skel->maps.zmq_counters), ZCNT_MAX, out);
}

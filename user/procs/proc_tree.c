// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A server's process tree from /proc (see proc_tree.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "procs/proc_tree.h"

#define SCAN_MAX 32768		/* processes looked at in one scan */

struct pid_ppid {
	uint32_t pid;
	uint32_t ppid;
};

struct ppid_scan {
	struct pid_ppid *all;
	int n, max;
};

static int ppid_visit(const char *root, uint32_t pid, void *ctx)
{
	struct ppid_scan *s = ctx;
	uint32_t ppid;

	if (procfs_ppid(root, pid, &ppid))
		return 0;	/* exited meanwhile */
	s->all[s->n].pid = pid;
	s->all[s->n].ppid = ppid;
	return ++s->n >= s->max;
}

static void classify(const char *root, struct proc_node *p, const struct proc_class *parent)
{
	char cmdline[PROCFS_CMDLINE_MAX], comm[32];
	ssize_t len = procfs_cmdline(root, p->pid, cmdline, sizeof(cmdline));

	procfs_comm(root, p->pid, comm, sizeof(comm));
	proc_kind_classify(cmdline, len > 0 ? len : 0, comm, parent, &p->cls);
}

static void fill_node(const char *root, struct proc_node *p, uint32_t pid,
		      uint32_t ppid, const struct proc_class *parent)
{
	const struct sglang_title *t = &p->cls.sglang;

	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->ppid = ppid;
	classify(root, p, parent);
	if (!parent) {
		/* main is the server the caller named, however it was started */
		p->cls.kind = PROC_KIND_SERVER;
	} else if (p->cls.kind == PROC_KIND_NONE) {
		/* an untitled helper (resource tracker, spawn) of its engine */
		p->cls.kind = PROC_KIND_ENGINE_OTHER;
		p->cls.engine = parent->engine;
	}
	p->input = (p->cls.kind == PROC_KIND_SCHEDULER && t->pp_rank <= 0 &&
		    t->tp_rank <= 0 && t->attn_cp_rank <= 0) ||
		   p->cls.kind == PROC_KIND_ENGINE_CORE;
	p->libzmq_err = procfs_libzmq(root, pid, p->libzmq, sizeof(p->libzmq));
	/* A deleted library keeps its old path: reported, not attachable. */
	if (p->libzmq_err && p->libzmq_err != -ESTALE) {
		p->libzmq[0] = '\0';
		if (p->libzmq_err != -ENAMETOOLONG)
			p->libzmq_err = -ENOENT;
	}
}

static const struct proc_node *node_of(const struct proc_tree *t, uint32_t pid)
{
	for (int i = 0; i < t->nprocs; i++)
		if (t->procs[i].pid == pid)
			return &t->procs[i];
	return NULL;
}

/* Breadth-first: a node's parent is always in the tree before it. */
static void add_descendants(const char *root, const struct ppid_scan *s,
			    struct proc_tree *out)
{
	for (int head = 0; head < out->nprocs; head++) {
		uint32_t parent = out->procs[head].pid;

		for (int i = 0; i < s->n; i++) {
			const struct proc_node *pn;

			if (s->all[i].ppid != parent || s->all[i].pid == out->main_pid)
				continue;
			if (out->nprocs >= PROC_TREE_MAX) {
				out->truncated = true;
				return;
			}
			pn = node_of(out, parent);
			fill_node(root, &out->procs[out->nprocs++], s->all[i].pid,
				  parent, &pn->cls);
		}
	}
}

/* Which engine: main says, else the first child that names one. */
static void settle_engine(struct proc_tree *t)
{
	t->engine = t->procs[0].cls.engine;
	for (int i = 1; i < t->nprocs && !t->engine; i++)
		t->engine = t->procs[i].cls.engine;
	if (!t->engine)
		t->engine = PROC_ENGINE_SGLANG;	/* what servetrace always assumed */
	t->procs[0].cls.engine = t->engine;
	for (int i = 1; i < t->nprocs; i++)
		if (!t->procs[i].cls.engine)
			t->procs[i].cls.engine = t->engine;
}

int proc_tree_scan(const char *root, uint32_t main_pid, struct proc_tree *out)
{
	struct ppid_scan s = { .max = SCAN_MAX };
	uint32_t ppid;
	int err;

	memset(out, 0, sizeof(*out));
	out->main_pid = main_pid;
	if (procfs_ppid(root, main_pid, &ppid))
		return -ESRCH;
	s.all = calloc(SCAN_MAX, sizeof(*s.all));
	if (!s.all)
		return -ENOMEM;
	err = procfs_walk(root, ppid_visit, &s);
	if (err < 0) {
		free(s.all);
		return err;
	}
	fill_node(root, &out->procs[out->nprocs++], main_pid, ppid, NULL);
	add_descendants(root, &s, out);
	settle_engine(out);
	free(s.all);
	return 0;
}

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* One server's processes: its main (the HTTP or gRPC front, the pid the
 * user or discovery named) and every descendant, each classified by
 * proc_kind and with the libzmq it maps. SGLang: main, schedulers (the
 * DP controller's are grandchildren), detokenizer. vLLM: API server,
 * EngineCore, its workers. */
#ifndef SERVETRACE_PROC_TREE_H
#define SERVETRACE_PROC_TREE_H

#include <stdbool.h>
#include <stdint.h>
#include "procs/proc_kind.h"
#include "procs/procfs.h"

#define PROC_TREE_MAX 64

struct proc_node {
	uint32_t pid;
	uint32_t ppid;
	struct proc_class cls;
	/* reads the main process's requests: an SGLang scheduler of PP, TP
	 * and ATTN_CP rank 0 (the others get them over torch.distributed),
	 * a vLLM EngineCore */
	bool input;
	char libzmq[PROCFS_PATH_MAX];	/* as pid sees it; "" when none */
	int libzmq_err;			/* 0, -ENOENT, -ESTALE (deleted: path kept) */
};

struct proc_tree {
	uint32_t main_pid;
	enum proc_engine engine;	/* from main, else its children; SGLang if neither says */
	int nprocs;			/* procs[0] is main, kind SERVER */
	bool truncated;			/* more than PROC_TREE_MAX processes */
	struct proc_node procs[PROC_TREE_MAX];
};

/* Breadth-first from main_pid. 0, -ESRCH when main_pid is gone, -errno. */
int proc_tree_scan(const char *root, uint32_t main_pid, struct proc_tree *out);

#endif

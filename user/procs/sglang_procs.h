/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* SGLang's process titles, and the processes of one SGLang server. A
 * server is its main process (uvicorn + FastAPI + TokenizerManager, the
 * one listening on HTTP) and the descendants it
 * spawns, which name themselves with setproctitle:
 *   sglang::scheduler[_DP<d>][_PP<p>][_ATTN_CP<c>][_MOE_DP<m>][_TP<t>][_EP<e>]
 *   sglang::detokenizer, sglang::data_parallel_controller,
 *   sglang::tokenizer_worker:<pid>, sglang::detokenizer_router.
 * Only the scheduler with PP/TP/ATTN_CP rank 0 reads the tokenizer's
 * socket; the other ranks get requests over torch.distributed. */
#ifndef SERVETRACE_SGLANG_PROCS_H
#define SERVETRACE_SGLANG_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SGLANG_MAX_PROCS   64
#define SGLANG_PATH_MAX   512

/* Values are recorded (capture/recording.h): append only. */
enum sglang_role {
	SGLANG_ROLE_UNKNOWN = 0,
	SGLANG_ROLE_MAIN,		/* HTTP + TokenizerManager */
	SGLANG_ROLE_SCHEDULER,
	SGLANG_ROLE_DETOKENIZER,
	SGLANG_ROLE_DP_CONTROLLER,
	SGLANG_ROLE_TOKENIZER_WORKER,	/* --tokenizer-worker-num > 1 */
	SGLANG_ROLE_DETOKENIZER_ROUTER,
	SGLANG_ROLE_OTHER,		/* another descendant: resource tracker ... */
	SGLANG_ROLE_MAX,
};

/* What a process title says. Ranks are -1 when the title omits them. */
struct sglang_title {
	enum sglang_role role;
	int dp_rank;
	int pp_rank;
	int attn_cp_rank;
	int moe_dp_rank;
	int tp_rank;
	int ep_rank;
};

struct sglang_proc {
	uint32_t pid;
	uint32_t ppid;
	struct sglang_title title;
	bool input_rank;		/* scheduler that reads the tokenizer's socket */
	char libzmq[SGLANG_PATH_MAX];	/* as mapped; "" when none */
};

struct sglang_server {
	uint32_t main_pid;
	int nprocs;			/* procs[0] is the main process */
	bool truncated;			/* more than SGLANG_MAX_PROCS descendants */
	struct sglang_proc procs[SGLANG_MAX_PROCS];
};

/* /proc/PID/cmdline bytes (NUL-separated argv, or a setproctitle title
 * padded with NULs). True when it is an sglang:: title; out is filled
 * (sglang::server, the title sglang_router.launch_server gives the
 * servers it forks, is MAIN). */
bool sglang_parse_title(const char *cmdline, size_t len,
			struct sglang_title *out);
const char *sglang_role_name(enum sglang_role role);

/* ---- the same through procs/proc_tree.h, for tests/bpf/zmq_dump.c and
 * capture/zmq_trace.c: proc_root NULL means "/proc" ------------------ */

/* Main processes of SGLang servers on this machine; returns the count. */
int sglang_find_servers(const char *proc_root, uint32_t *pids, int max);
/* The main process and its descendants, with roles and libzmq paths.
 * Returns 0, or -ESRCH when main_pid is gone. */
int sglang_server_scan(const char *proc_root, uint32_t main_pid,
		       struct sglang_server *out);
/* procfs_libzmq() */
int sglang_proc_libzmq(const char *proc_root, uint32_t pid, char *path,
		       size_t size);

#endif

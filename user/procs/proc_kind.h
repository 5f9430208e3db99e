/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The one rule for what a process is: a router (sglang-router or smg), an
 * engine's server (SGLang, vLLM) or one of its children, or none. Pure:
 * it reads the command line (argv, or the title setproctitle wrote over
 * it), comm and the parent's class, never /proc itself.
 *
 * Titles, exact:            sglang::router, smg::router, sglang::server,
 *   sglang::scheduler[_DPx_TPy...], sglang::detokenizer, ...,
 *   VLLM::APIServer[_N], VLLM::EngineCore[_DPn], VLLM::Worker[_...].
 * Command lines, by the program python runs (-m module, script, or the
 * console script itself) and its first argument; a mere mention of a
 * name (grep sglang, pytest -k sglang, smg.py) is no match:
 *   router:  python -m sglang_router.launch_router | .launch_server,
 *            sglang-router|amg|smg launch|server, python -m sglang_router ...,
 *            smg launch|serve, python -m smg[.cli] launch|serve,
 *            python -m smg.launch_router;
 *   server:  python -m sglang.launch_server, .../sglang/launch_server.py,
 *            sglang serve, vllm serve, python -m
 *            vllm.entrypoints.openai.api_server | vllm.entrypoints.grpc_server
 *            | vllm.entrypoints.launchers.grpc_server,
 *            python -m vllm.entrypoints.cli.main serve.
 * gRPC mode: --grpc-mode (SGLang); the grpc_server modules or serve --grpc (vLLM).
 * The console script "smg" is installed by both router packages: the
 * command line says smg; the package it loads (discover_version) decides. */
#ifndef SERVETRACE_PROC_KIND_H
#define SERVETRACE_PROC_KIND_H

#include <stdbool.h>
#include <stddef.h>
#include "procs/sglang_procs.h"

enum proc_kind {
	PROC_KIND_NONE = 0,
	PROC_KIND_ROUTER,
	PROC_KIND_SERVER,		/* engine front: SGLang main, vLLM API server */
	PROC_KIND_SCHEDULER,		/* SGLang children */
	PROC_KIND_DETOKENIZER,
	PROC_KIND_DP_CONTROLLER,
	PROC_KIND_TOKENIZER_WORKER,
	PROC_KIND_DETOKENIZER_ROUTER,
	PROC_KIND_ENGINE_CORE,		/* vLLM children */
	PROC_KIND_ENGINE_WORKER,
	PROC_KIND_ENGINE_OTHER,		/* another titled or forked engine process */
	PROC_KIND_MAX,
};

enum proc_engine { PROC_ENGINE_NONE = 0, PROC_ENGINE_SGLANG, PROC_ENGINE_VLLM, PROC_ENGINE_MAX };

enum proc_router { PROC_ROUTER_NONE = 0, PROC_ROUTER_SGLANG_ROUTER, PROC_ROUTER_SMG, PROC_ROUTER_MAX };

struct proc_class {
	enum proc_kind kind;
	enum proc_engine engine;	/* servers and their children */
	enum proc_router router;	/* routers */
	bool grpc;			/* started in gRPC mode (command line only) */
	bool titled;			/* from a setproctitle title */
	struct sglang_title sglang;	/* SGLang children: ranks */
};

/* cmdline: /proc/PID/cmdline bytes; comm: /proc/PID/comm (used when the
 * command line is empty); parent: the parent's class, or NULL. A process
 * forked from a server or router launcher carries its parent's command
 * line until it retitles itself: it is the parent's child, not a second
 * one. Returns out->kind. */
enum proc_kind proc_kind_classify(const char *cmdline, size_t len, const char *comm,
				  const struct proc_class *parent, struct proc_class *out);

/* SGLANG_ROLE_* for an SGLang process (server = main); UNKNOWN else. */
enum sglang_role proc_kind_sglang_role(const struct proc_class *c);

const char *proc_kind_name(enum proc_kind kind);
const char *proc_engine_name(enum proc_engine engine);		/* "sglang", "vllm" */
const char *proc_router_name(enum proc_router router);		/* "sglang-router", "smg" */

#endif

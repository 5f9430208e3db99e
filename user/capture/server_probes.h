/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Inside the servers being traced: which of their processes get libzmq
 * uprobes (SGLang: main, input scheduler, detokenizer; vLLM: API server,
 * EngineCore), found by procs/proc_tree.h and kept current as processes
 * start, restart and exit. Records go to server_hops. */
#ifndef SERVETRACE_BPF_SERVER_H
#define SERVETRACE_BPF_SERVER_H

#include <stdint.h>
#include <stdio.h>
#include <bpf/libbpf.h>
#include "correlate/server_hops.h"
#include "procs/proc_kind.h"

struct server_probes;

/* NULL (and a warning) when the uprobes cannot be loaded: servetrace
 * then runs at the HTTP level only. record may be NULL. */
struct server_probes *server_probes_open(struct server_hops *hops, FILE *record,
					 uint32_t capture_bytes);
void server_probes_close(struct server_probes *sp);
/* The libzmq records' ring buffer, for the collector's reader. */
int server_probes_ringbuf_fd(const struct server_probes *sp);
/* Probe the servers of this engine too (SGLang is on from the start;
 * the session enables vLLM, whose frames server_hops decodes too). */
void server_probes_enable_engine(struct server_probes *sp, enum proc_engine engine);
/* Follow the server whose HTTP (or gRPC) process is main_pid. */
void server_probes_track(struct server_probes *sp, uint32_t main_pid);
void server_probes_untrack(struct server_probes *sp, uint32_t main_pid);
/* New, restarted and exited processes of the tracked servers. */
void server_probes_rescan(struct server_probes *sp);
void server_probes_summary(struct server_probes *sp, FILE *f);

#endif

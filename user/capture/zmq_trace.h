/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Loading bpf/zmq.bpf.c and attaching its uprobes to the libzmq that
 * each traced SGLang process maps. Records (EV_ZMQ_* in zmq_event.h) arrive on
 * the object's own ring buffer (zmq_trace_ringbuf_fd()): the collector
 * reads it with the socket records' (capture/ring_set.h). */
#ifndef SERVETRACE_BPF_ZMQ_H
#define SERVETRACE_BPF_ZMQ_H

#include <stdbool.h>
#include <stdint.h>
#include <bpf/libbpf.h>
#include "zmq_event.h"

struct zmq_trace;

struct zmq_trace_opts {
	uint32_t capture_bytes;	/* payload bytes per message; 0: ZMQ_DEFAULT_CAPTURE */
	uint32_t ringbuf_bytes;	/* power of two; 0: 4 MiB */
	uint64_t loop_gap_ns;	/* EV_ZMQ_LOOP threshold; 0: 1 ms; UINT64_MAX: off */
	bool no_endpoints;	/* skip the zmq_bind/zmq_connect/zmq_close probes */
};

/* Returns NULL and prints why. Attaches nothing yet. */
struct zmq_trace *zmq_trace_open(const struct zmq_trace_opts *opts);
void zmq_trace_close(struct zmq_trace *zt);

/* Trace pid's libzmq messages: find the libzmq it maps (/proc/PID/maps),
 * attach the uprobes for that pid, add it to the in-kernel filter.
 * flags: enum zmq_proc_flags (ZMQ_PF_LOOP for a scheduler). Usable at
 * any time, for workers (re)started after tracing began. Adding a pid
 * twice only updates its flags. Returns 0, -ENOENT when pid maps no
 * libzmq (it may not have imported zmq yet: retry), or -errno. */
int zmq_trace_add_process(struct zmq_trace *zt, uint32_t pid, uint32_t flags);
/* The same with a known library path (as seen by pid). */
int zmq_trace_add_process_lib(struct zmq_trace *zt, uint32_t pid,
			      const char *libzmq, uint32_t flags);
/* Detach and filter out (the process exited or is no longer wanted). */
int zmq_trace_remove_process(struct zmq_trace *zt, uint32_t pid);
bool zmq_trace_has_process(const struct zmq_trace *zt, uint32_t pid);

int zmq_trace_ringbuf_fd(const struct zmq_trace *zt);
/* Sums of the per-CPU counters. */
void zmq_trace_counters(const struct zmq_trace *zt, uint64_t out[ZCNT_MAX]);
const char *zmq_counter_name(enum zmq_counter_id id);

#endif

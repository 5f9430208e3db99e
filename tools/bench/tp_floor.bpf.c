// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The floor of tools/bench_capture.sh --floor: programs that do nothing
 * but the is-this-process-traced lookup, on the tracepoints bpf/sock.bpf.c
 * uses. What a traced round loses beyond this round is servetrace's own
 * work; what this round loses is the kernel's price for running any
 * program on those tracepoints. Three sets (tp_floor --hooks): the syscall
 * tracepoints, the socket-layer ones as classic tracepoints (the kernel
 * fills a perf record for each call before the program runs) and the
 * same ones as raw tracepoints (the program gets the arguments). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "traced_bits.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline int floor_prog(void)
{
	return tgid_traced(bpf_get_current_pid_tgid() >> 32);
}

#define FLOOR(name)							\
SEC("tracepoint/syscalls/sys_enter_" #name)				\
int enter_##name(void *ctx) { return floor_prog(); }			\
SEC("tracepoint/syscalls/sys_exit_" #name)				\
int exit_##name(void *ctx) { return floor_prog(); }

FLOOR(read)
FLOOR(readv)
FLOOR(recvfrom)
FLOOR(recvmsg)
FLOOR(write)
FLOOR(writev)
FLOOR(sendto)
FLOOR(sendmsg)
FLOOR(connect)
FLOOR(accept)
FLOOR(accept4)

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(void *ctx) { return floor_prog(); }

/* --hooks sock: bpf/sock.bpf.c's default set */
SEC("tracepoint/sock/sock_recv_length")
int tp_sock_recv(void *ctx) { return floor_prog(); }
SEC("tracepoint/sock/sock_send_length")
int tp_sock_send(void *ctx) { return floor_prog(); }
SEC("tracepoint/tcp/tcp_sendmsg_locked")
int tp_send_start(void *ctx) { return floor_prog(); }
SEC("tracepoint/sock/inet_sock_set_state")
int tp_sock_state(void *ctx) { return floor_prog(); }

/* --hooks sock-raw: the same tracepoints, raw */
SEC("raw_tp/sock_recv_length")
int raw_sock_recv(void *ctx) { return floor_prog(); }
SEC("raw_tp/sock_send_length")
int raw_sock_send(void *ctx) { return floor_prog(); }
SEC("raw_tp/tcp_sendmsg_locked")
int raw_send_start(void *ctx) { return floor_prog(); }
SEC("raw_tp/inet_sock_set_state")
int raw_sock_state(void *ctx) { return floor_prog(); }

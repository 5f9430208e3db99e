// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Socket I/O capture for traced processes, from syscall tracepoints only
 * (no kprobes, no fentry): accept/connect/close and the read/write family
 * on inet stream sockets, with timestamps, addresses and payload bytes. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sock_event.h"
#include "sock_lookup.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 capture_bytes = DEFAULT_CAPTURE;
/* Wake the reader only once this much is queued (it also polls on a
 * timer): a wakeup per event costs the traced threads microseconds. */
const volatile __u64 wakeup_bytes = 256 << 10;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);	/* tgid */
	__type(value, __u32);	/* role, user-defined */
} traced_tgids SEC(".maps");

/* What an enter saw, for its exit; keyed by pid_tgid. Data calls look
 * their socket up at exit, and only when bytes moved: non-blocking
 * servers end every read loop with EAGAIN, which then costs no lookup. */
struct pending_call {
	__u64 ts_enter;
	__u64 buf;		/* buffer, iovec array or msghdr */
	__u64 vlen;		/* iovec count for readv/writev */
	__u64 sock_id;
	struct sock_endpoint local;
	struct sock_endpoint peer;
	__s32 fd;
	__u8 syscall;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct pending_call);
} pending_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);	/* resized by user space */
} events SEC(".maps");

/* Twice MAX_CAPTURE so that offset-masked iovec copies stay in bounds. */
struct scratch {
	struct sock_event ev;
	char data[2 * MAX_CAPTURE];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);	/* set to the number of CPUs by user space */
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_space SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 id)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &id);

	if (c)
		*c += 1;
}

static __always_inline bool is_traced(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	return bpf_map_lookup_elem(&traced_tgids, &tgid) != NULL;
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&scratch_space, &cpu);
}

static __always_inline void fill_header(struct sock_event *ev, __u32 type,
					const struct pending_call *pc,
					__s64 ret, __u64 now)
{
	__u64 id = bpf_get_current_pid_tgid();

	ev->type = type;
	ev->tgid = id >> 32;
	ev->tid = (__u32)id;
	ev->fd = pc->fd;
	ev->ts_enter = pc->ts_enter;
	ev->ts_exit = now;
	ev->ret = ret;
	ev->sock_id = pc->sock_id;
	ev->local = pc->local;
	ev->peer = pc->peer;
	ev->cap_len = 0;
	ev->dir = 0;
	ev->syscall = pc->syscall;
	ev->truncated = 0;
	ev->pad = 0;
}

static __always_inline void submit(struct scratch *s, __u32 cap_len)
{
	__u64 size = sizeof(s->ev) + cap_len;

	if (size > sizeof(*s))	/* keeps the verifier sure of the bound */
		return;
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&events, s, size, flags))
		count(CNT_RINGBUF_FULL);
	else
		count(CNT_EVENTS);
}

/* ---- enter side ---------------------------------------------------- */

static __always_inline void save_pending(struct pending_call *pc)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (bpf_map_update_elem(&pending_calls, &id, pc, BPF_NOEXIST)) {
		/* An earlier enter never saw its exit; replace it. */
		count(CNT_STALE_ENTER);
		bpf_map_update_elem(&pending_calls, &id, pc, BPF_ANY);
	}
}

static __always_inline int enter_sock_call(__s32 fd, __u64 buf, __u64 vlen,
					   __u8 syscall)
{
	struct pending_call pc = {};

	if (!is_traced())
		return 0;
	pc.ts_enter = bpf_ktime_get_ns();
	pc.buf = buf;
	pc.vlen = vlen;
	pc.fd = fd;
	pc.syscall = syscall;
	save_pending(&pc);
	return 0;
}

#define ENTER_BUF(name, sc)						\
SEC("tracepoint/syscalls/sys_enter_" #name)				\
int enter_##name(struct trace_event_raw_sys_enter *ctx)		\
{									\
	return enter_sock_call((__s32)ctx->args[0], ctx->args[1],	\
			       ctx->args[2], sc);			\
}

ENTER_BUF(read, SC_READ)
ENTER_BUF(readv, SC_READV)
ENTER_BUF(recvfrom, SC_RECVFROM)
ENTER_BUF(recvmsg, SC_RECVMSG)
ENTER_BUF(write, SC_WRITE)
ENTER_BUF(writev, SC_WRITEV)
ENTER_BUF(sendto, SC_SENDTO)
ENTER_BUF(sendmsg, SC_SENDMSG)
ENTER_BUF(connect, SC_CONNECT)

/* accept: the fd exists only at exit; remember the listening fd. */
static __always_inline int enter_accept(__s32 fd)
{
	struct pending_call pc = {};

	if (!is_traced())
		return 0;
	pc.ts_enter = bpf_ktime_get_ns();
	pc.fd = fd;
	pc.syscall = SC_ACCEPT;
	save_pending(&pc);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_accept")
int enter_accept_plain(struct trace_event_raw_sys_enter *ctx)
{
	return enter_accept((__s32)ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int enter_accept4(struct trace_event_raw_sys_enter *ctx)
{
	return enter_accept((__s32)ctx->args[0]);
}

/* close: the socket is gone after the call, so report at enter. */
SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	struct pending_call pc = {};
	struct scratch *s;

	if (!is_traced())
		return 0;
	pc.fd = (__s32)ctx->args[0];
	if (!sock_lookup_fd(pc.fd, &pc.sock_id, &pc.local, &pc.peer))
		return 0;
	pc.ts_enter = bpf_ktime_get_ns();
	pc.syscall = SC_CLOSE;
	s = get_scratch();
	if (!s)
		return 0;
	fill_header(&s->ev, EV_CLOSE, &pc, 0, pc.ts_enter);
	submit(s, 0);
	return 0;
}

/* ---- exit side ----------------------------------------------------- */

/* An exit with no saved enter: the call began before we attached (a
 * thread parked in a blocking read). The syscall's arguments are still in
 * the registers saved at entry, so the call is rebuilt from them and its
 * data, which arrived after attach, is not lost. Counted all the same. */
static __always_inline bool rebuild_pending(struct pending_call *pc, __u8 sc)
{
	struct pt_regs *regs;

	if (!is_traced())
		return false;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	pc->fd = (__s32)PT_REGS_PARM1_CORE_SYSCALL(regs);
	pc->buf = PT_REGS_PARM2_CORE_SYSCALL(regs);
	pc->vlen = PT_REGS_PARM3_CORE_SYSCALL(regs);
	pc->syscall = sc;
	pc->ts_enter = bpf_ktime_get_ns();	/* the enter time is lost */
	if (!sock_lookup_fd(pc->fd, &pc->sock_id, &pc->local, &pc->peer))
		return false;
	count(CNT_MISSED_ENTER);
	return true;
}

static __always_inline struct pending_call *take_pending(__u64 id, __u8 sc)
{
	struct pending_call *pc = bpf_map_lookup_elem(&pending_calls, &id);

	if (!pc)
		return NULL;
	if (pc->syscall != sc) {
		count(CNT_STALE_ENTER);
		bpf_map_delete_elem(&pending_calls, &id);
		return NULL;
	}
	return pc;
}

/* Copies up to `want` bytes from an iovec array into s->data. */
static __always_inline __u32 copy_iovecs(struct scratch *s, __u64 iov_ptr,
					 __u64 vlen, __u32 want)
{
	struct iovec iov;
	__u32 off = 0;

	for (int i = 0; i < MAX_IOVECS; i++) {
		__u64 n;

		if (i >= vlen || off >= want)
			break;
		if (bpf_probe_read_user(&iov, sizeof(iov),
					(void *)(iov_ptr + i * sizeof(iov)))) {
			count(CNT_READ_FAULT);
			break;
		}
		n = iov.iov_len;
		if (n > want - off)
			n = want - off;
		if (n > MAX_CAPTURE)
			n = MAX_CAPTURE;
		off &= MAX_CAPTURE - 1;
		if (n && bpf_probe_read_user(s->data + off, n, iov.iov_base)) {
			count(CNT_READ_FAULT);
			break;
		}
		off += n;
	}
	return off;
}

static __always_inline int exit_data_call(struct trace_event_raw_sys_exit *ctx,
					  __u8 sc, __u8 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	__s64 ret = ctx->ret;
	struct pending_call *pc, rebuilt = {};
	bool have_sock = false;
	struct scratch *s;
	__u32 want, got = 0;

	pc = take_pending(id, sc);
	if (!pc) {
		if (!rebuild_pending(&rebuilt, sc))
			return 0;
		pc = &rebuilt;
		have_sock = true;	/* rebuild_pending looked it up */
	}
	/* Non-blocking sockets say EAGAIN all the time; a read of 0 is EOF
	 * (worth one record: it tells a client abort from a reset). */
	if ((ret == 0 && dir == DIR_WRITE) || ret == -11 /* EAGAIN */ ||
	    ret == -4 /* EINTR */)
		goto out;
	if (!have_sock && !sock_lookup_fd(pc->fd, &pc->sock_id, &pc->local, &pc->peer))
		goto out;	/* not an inet stream socket */
	s = get_scratch();
	if (!s)
		goto out;
	fill_header(&s->ev, EV_DATA, pc, ret, bpf_ktime_get_ns());
	s->ev.dir = dir;
	if (ret <= 0)
		goto emit;

	want = capture_bytes;
	if (want > MAX_CAPTURE)
		want = MAX_CAPTURE;
	if ((__u64)ret < want)
		want = ret;

	switch (sc) {
	case SC_READ:
	case SC_WRITE:
	case SC_RECVFROM:
	case SC_SENDTO:
		if (want > MAX_CAPTURE)
			want = MAX_CAPTURE;
		if (bpf_probe_read_user(s->data, want, (void *)pc->buf))
			count(CNT_READ_FAULT);
		else
			got = want;
		break;
	case SC_READV:
	case SC_WRITEV:
		got = copy_iovecs(s, pc->buf, pc->vlen, want);
		break;
	case SC_RECVMSG:
	case SC_SENDMSG: {
		struct user_msghdr msg;

		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)pc->buf)) {
			count(CNT_READ_FAULT);
			break;
		}
		got = copy_iovecs(s, (__u64)msg.msg_iov, msg.msg_iovlen, want);
		break;
	}
	}
	if ((__u64)ret > got) {
		s->ev.truncated = 1;
		count(CNT_TRUNCATED);
	}
	s->ev.cap_len = got;
emit:
	submit(s, got);
out:
	bpf_map_delete_elem(&pending_calls, &id);
	return 0;
}

#define EXIT_DATA(name, sc, dir)					\
SEC("tracepoint/syscalls/sys_exit_" #name)				\
int exit_##name(struct trace_event_raw_sys_exit *ctx)			\
{									\
	return exit_data_call(ctx, sc, dir);				\
}

EXIT_DATA(read, SC_READ, DIR_READ)
EXIT_DATA(readv, SC_READV, DIR_READ)
EXIT_DATA(recvfrom, SC_RECVFROM, DIR_READ)
EXIT_DATA(recvmsg, SC_RECVMSG, DIR_READ)
EXIT_DATA(write, SC_WRITE, DIR_WRITE)
EXIT_DATA(writev, SC_WRITEV, DIR_WRITE)
EXIT_DATA(sendto, SC_SENDTO, DIR_WRITE)
EXIT_DATA(sendmsg, SC_SENDMSG, DIR_WRITE)

/* connect and accept report the connection with both addresses. */
static __always_inline int exit_conn_call(struct trace_event_raw_sys_exit *ctx,
					  __u8 sc, __u32 type)
{
	__u64 id = bpf_get_current_pid_tgid();
	__s64 ret = ctx->ret;
	struct pending_call *pc;
	struct scratch *s;

	pc = take_pending(id, sc);
	if (!pc)
		return 0;	/* began before attach; the fd's data still names it */
	/* Non-blocking connect returns EINPROGRESS and is still a connection. */
	if (ret < 0 && !(sc == SC_CONNECT && ret == -115 /* EINPROGRESS */))
		goto out;
	if (sc == SC_ACCEPT) {
		pc->fd = (__s32)ret;
		if (!sock_lookup_fd(pc->fd, &pc->sock_id, &pc->local, &pc->peer))
			goto out;
	} else if (!sock_lookup_fd(pc->fd, &pc->sock_id, &pc->local, &pc->peer)) {
		goto out;
	}
	s = get_scratch();
	if (!s)
		goto out;
	fill_header(&s->ev, type, pc, ret, bpf_ktime_get_ns());
	submit(s, 0);
out:
	bpf_map_delete_elem(&pending_calls, &id);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept_plain(struct trace_event_raw_sys_exit *ctx)
{
	return exit_conn_call(ctx, SC_ACCEPT, EV_ACCEPT);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return exit_conn_call(ctx, SC_ACCEPT, EV_ACCEPT);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	return exit_conn_call(ctx, SC_CONNECT, EV_CONNECT);
}

/* A traced process is gone: user space drops its state. */
SEC("tracepoint/sched/sched_process_exit")
int on_process_exit(struct trace_event_raw_sched_process_template *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pending_call pc = {};
	struct scratch *s;

	if ((__u32)id != tgid || !is_traced())
		return 0;	/* only the thread-group leader ends a process */
	pc.ts_enter = bpf_ktime_get_ns();
	pc.fd = -1;
	s = get_scratch();
	if (!s)
		return 0;
	fill_header(&s->ev, EV_PROC_EXIT, &pc, 0, pc.ts_enter);
	submit(s, 0);
	return 0;
}

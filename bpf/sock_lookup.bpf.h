/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* fd -> struct sock -> addresses, read from the current task's fd table,
 * so connections opened before servetrace started are named too. */
#ifndef SERVETRACE_SOCK_LOOKUP_BPF_H
#define SERVETRACE_SOCK_LOOKUP_BPF_H

#include "sock_event.h"

#define ST_AF_INET	2
#define ST_AF_INET6	10
#define ST_S_IFMT	00170000
#define ST_S_IFSOCK	0140000
#define ST_SOCK_STREAM	1

/* Typed loads instead of helper calls: every bpf_probe_read_kernel() is
 * a call with its own fault set-up, and this walk ran a dozen of them on
 * each traced call. bpf_rdonly_cast() (a kfunc, 6.2+) turns the pointers
 * read as plain numbers back into typed ones, so the rest are direct,
 * fault-safe loads the JIT emits inline. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

#define ST_CAST(p, type) \
	((type *)bpf_rdonly_cast((void *)(p), bpf_core_type_id_kernel(type)))

/* The struct sock behind fd (NULL if not a socket); *sk_addr its address
 * as a number, the connection's id. */
static __always_inline struct sock *sock_from_fd(__s32 fd, __u64 *sk_addr)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt;
	struct socket *sock;
	struct file *file;
	__u64 slot = 0;

	if (fd < 0)
		return NULL;
	fdt = task->files->fdt;
	if (!fdt || (unsigned int)fd >= fdt->max_fds)
		return NULL;
	/* fd[] is an array of pointers: the one read a typed load cannot do */
	if (bpf_probe_read_kernel(&slot, sizeof(slot), (void *)fdt->fd + (__u64)fd * 8) ||
	    !slot)
		return NULL;
	file = ST_CAST(slot, struct file);
	if ((file->f_inode->i_mode & ST_S_IFMT) != ST_S_IFSOCK)
		return NULL;
	sock = ST_CAST(file->private_data, struct socket);
	/* the id must be a number: a typed pointer allows no arithmetic */
	if (bpf_probe_read_kernel(sk_addr, sizeof(*sk_addr), &sock->sk) || !*sk_addr)
		return NULL;
	return sock->sk;
}

/* The socket's two addresses, when it is an inet stream socket. */
static __always_inline bool sock_endpoints(struct sock *sk, struct sock_endpoint *local,
					   struct sock_endpoint *peer)
{
	__u16 family;

	if (!sk)
		return false;
	family = sk->__sk_common.skc_family;
	if (family != ST_AF_INET && family != ST_AF_INET6)
		return false;
	if (sk->sk_type != ST_SOCK_STREAM)
		return false;

	local->family = family;
	peer->family = family;
	local->port = sk->__sk_common.skc_num;
	peer->port = __builtin_bswap16(sk->__sk_common.skc_dport);
	if (family == ST_AF_INET) {
		__u32 a;

		a = sk->__sk_common.skc_rcv_saddr;
		__builtin_memcpy(local->addr, &a, 4);
		a = sk->__sk_common.skc_daddr;
		__builtin_memcpy(peer->addr, &a, 4);
	} else {
		BPF_CORE_READ_INTO(&local->addr, sk,
				   __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&peer->addr, sk,
				   __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
	return true;
}

/* True for an inet (v4/v6) stream socket; fills id and both endpoints. */
static __always_inline bool sock_lookup_fd(__s32 fd, __u64 *sock_id,
					   struct sock_endpoint *local,
					   struct sock_endpoint *peer)
{
	return sock_endpoints(sock_from_fd(fd, sock_id), local, peer);
}

#endif

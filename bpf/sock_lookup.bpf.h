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

static __always_inline struct sock *sock_from_fd(__s32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt;
	struct file **fds;
	struct file *file;
	struct socket *sock;
	unsigned int max_fds;
	umode_t mode;

	if (fd < 0)
		return NULL;
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt)
		return NULL;
	max_fds = BPF_CORE_READ(fdt, max_fds);
	if ((unsigned int)fd >= max_fds)
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), fds + fd) || !file)
		return NULL;
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & ST_S_IFMT) != ST_S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return NULL;
	return BPF_CORE_READ(sock, sk);
}

/* True for an inet (v4/v6) stream socket; fills id and both endpoints. */
static __always_inline bool sock_lookup_fd(__s32 fd, __u64 *sock_id,
					   struct sock_endpoint *local,
					   struct sock_endpoint *peer)
{
	struct sock *sk = sock_from_fd(fd);
	__u16 family, type;

	if (!sk)
		return false;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != ST_AF_INET && family != ST_AF_INET6)
		return false;
	type = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type);
	if (type != ST_SOCK_STREAM)
		return false;

	*sock_id = (__u64)sk;
	local->family = family;
	peer->family = family;
	local->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	peer->port = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == ST_AF_INET) {
		__u32 a;

		a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__builtin_memcpy(local->addr, &a, 4);
		a = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(peer->addr, &a, 4);
	} else {
		/* &addr: the macro reads sizeof(*dst) bytes, 16 here, not 1 */
		BPF_CORE_READ_INTO(&local->addr, sk,
				   __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&peer->addr, sk,
				   __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
	return true;
}

#endif

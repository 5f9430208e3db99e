/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The processes whose calls are looked at: one bit per tgid, set by user
 * space through its mmap of .bss. Every socket call of every process
 * asks, so it is a load: the hash lookup it replaced was a third of
 * tcp_send_start()'s time (perf, 2-core VM). */
#ifndef SERVETRACE_TRACED_BITS_BPF_H
#define SERVETRACE_TRACED_BITS_BPF_H

#include "sock_event.h"

__u64 traced_bits[TRACED_WORDS];

static __always_inline bool tgid_traced(__u32 tgid)
{
	__u32 w = tgid / 64;

	/* the bound on the index itself: clang may rebuild it from tgid */
	if (w >= TRACED_WORDS)
		return false;
	return (traced_bits[w] >> (tgid % 64)) & 1;
}

#endif

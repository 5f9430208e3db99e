/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Per-CPU BPF counters summed over the CPUs, for the capture objects'
 * loss counters. Header-only: only libbpf users include it. */
#ifndef SERVETRACE_PERCPU_H
#define SERVETRACE_PERCPU_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/* out[k] = the sum over CPUs of key k of the per-CPU array map_fd, for k
 * below nkeys; a key that cannot be read stays 0. */
static inline void percpu_sum(int map_fd, uint32_t nkeys, uint64_t *out)
{
	int ncpus = libbpf_num_possible_cpus();
	uint64_t *vals;

	memset(out, 0, nkeys * sizeof(*out));
	if (ncpus <= 0)
		return;
	vals = calloc(ncpus, sizeof(*vals));
	if (!vals)
		return;
	for (uint32_t k = 0; k < nkeys; k++) {
		if (bpf_map_lookup_elem(map_fd, &k, vals))
			continue;
		for (int c = 0; c < ncpus; c++)
			out[k] += vals[c];
	}
	free(vals);
}

#endif

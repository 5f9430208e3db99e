/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* BPF timestamps are CLOCK_MONOTONIC; the CSV wants Unix epoch seconds. */
#ifndef SERVETRACE_CLOCK_H
#define SERVETRACE_CLOCK_H

#include <stdint.h>

/* Measures realtime - monotonic now (the tightest of several samples). */
void clock_sync(void);
/* Epoch nanoseconds for a bpf_ktime_get_ns() value. */
uint64_t clock_mono_to_epoch_ns(uint64_t mono_ns);
uint64_t clock_mono_now_ns(void);
/* Sets a fixed offset (replay of recorded events). */
void clock_set_offset(int64_t realtime_minus_mono_ns);
int64_t clock_offset(void);

#endif

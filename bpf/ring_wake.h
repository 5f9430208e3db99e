/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* When a record wakes its ring's reader: compiled into the BPF programs
 * (sock.bpf.c, zmq.bpf.c) and the unit tests.
 *
 * At the crossing of wakeup_bytes, not at every record past it. A reader
 * asleep in epoll went there with its rings empty, so while it sleeps the
 * queue climbs through the band above wakeup_bytes and the records there
 * wake it (the band is wider than what all CPUs reserve at once, so the
 * climb cannot step over it). Past the band the reader is awake and
 * behind: its epoll is level-triggered and does not sleep on a ring that
 * holds records. A forced wakeup per record there was an irq_work per
 * record in the traced thread, for nobody: on 16 cores with one collector
 * thread behind, it doubled the programs' time (sock_send 1.6-2.2 against
 * 0.9-1.1 us a call). Within the band, once per sleep (ring_wake_once()).
 * The reader also reads on a timer, whatever happens. */
#ifndef SERVETRACE_RING_WAKE_H
#define SERVETRACE_RING_WAKE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#include <stdbool.h>
#endif

#define RING_WAKE_BAND_MIN	(64 << 10)

static inline bool ring_wake_now(__u64 queued, __u64 wakeup_bytes)
{
	__u64 band = wakeup_bytes > RING_WAKE_BAND_MIN ? wakeup_bytes : RING_WAKE_BAND_MIN;

	return queued >= wakeup_bytes && queued < wakeup_bytes + band;
}

/* And once per sleep: within the band, a record wakes the reader only if
 * it has read since the last wakeup (its consumer position moved). While
 * it wakes and reads the first of the band, the traced threads go on
 * adding records there: each forced another irq_work, for a reader
 * already awake (~25 a crossing on 2 cores). No sleep is missed: a
 * reader sleeps at consumer position c only with the ring empty (producer
 * position c too), so no wakeup was forced at c, when the ring held at
 * least wakeup_bytes. *woken: the consumer position at the last forced
 * wakeup, plus one (0: none yet). */
static inline bool ring_wake_once(__u64 queued, __u64 cons, __u64 wakeup_bytes, __u64 *woken)
{
	if (!ring_wake_now(queued, wakeup_bytes) || *woken == cons + 1)
		return false;
	*woken = cons + 1;
	return true;
}

#endif

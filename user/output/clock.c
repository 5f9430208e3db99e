// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* realtime = monotonic + offset. Both clocks are slewed alike by NTP, so
 * the offset only moves when the wall clock is stepped; clock_sync() is
 * called again every second to follow such steps. The offset is bracketed
 * by two monotonic reads around one realtime read: error < half the
 * tightest bracket, well under a microsecond on this class of machine. */
#include <time.h>
#include "output/clock.h"

static int64_t offset_ns;

static uint64_t ts_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

void clock_sync(void)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 5; i++) {
		uint64_t m0 = ts_ns(CLOCK_MONOTONIC);
		uint64_t r = ts_ns(CLOCK_REALTIME);
		uint64_t m1 = ts_ns(CLOCK_MONOTONIC);

		if (m1 - m0 < best) {
			best = m1 - m0;
			offset_ns = (int64_t)r - (int64_t)(m0 + (m1 - m0) / 2);
		}
	}
}

uint64_t clock_mono_to_epoch_ns(uint64_t mono_ns)
{
	return (uint64_t)((int64_t)mono_ns + offset_ns);
}

uint64_t clock_mono_now_ns(void)
{
	return ts_ns(CLOCK_MONOTONIC);
}

void clock_set_offset(int64_t realtime_minus_mono_ns)
{
	offset_ns = realtime_minus_mono_ns;
}

int64_t clock_offset(void)
{
	return offset_ns;
}

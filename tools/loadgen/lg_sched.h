/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Dispatcher over an arrival schedule: which request may go now, and when
 * to wake next. The event loop asks it; the unit tests drive it with a
 * simulated clock. A request is never held back by an earlier one's
 * response, only by the optional in-flight cap. */
#ifndef LG_SCHED_H
#define LG_SCHED_H

#include <stdbool.h>
#include <stddef.h>

struct lg_sched {
	const double *at;	/* arrival offsets, seconds, non-decreasing */
	size_t n;
	size_t next;		/* next request to send */
	unsigned int max_inflight; /* 0 = no cap */
	unsigned int inflight;
	unsigned int peak_inflight;
	size_t held;		/* arrivals that found the cap full */
	size_t held_mark;	/* the one counted last, + 1 */
};

void lg_sched_init(struct lg_sched *s, const double *at, size_t n,
		   unsigned int max_inflight);
/* May request s->next be sent at time now? */
bool lg_sched_ready(const struct lg_sched *s, double now);
/* Take the next request (call only when ready); returns its index. */
size_t lg_sched_take(struct lg_sched *s);
/* One in-flight request finished. */
void lg_sched_done(struct lg_sched *s);
/* Arrival time of the next request if only the clock holds it back;
 * INFINITY when none is left or the in-flight cap blocks it. */
double lg_sched_next_wake(const struct lg_sched *s);
/* Count s->next as held back if it is due but the cap is full. */
void lg_sched_note_held(struct lg_sched *s, double now);
/* Stop sending: the rest of the schedule is dropped. */
void lg_sched_stop(struct lg_sched *s);
bool lg_sched_all_sent(const struct lg_sched *s);
bool lg_sched_finished(const struct lg_sched *s);

#endif

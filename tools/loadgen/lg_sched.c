// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <math.h>
#include "lg_sched.h"

void lg_sched_init(struct lg_sched *s, const double *at, size_t n,
		   unsigned int max_inflight)
{
	s->at = at;
	s->n = n;
	s->next = 0;
	s->max_inflight = max_inflight;
	s->inflight = 0;
	s->peak_inflight = 0;
	s->held = 0;
	s->held_mark = 0;
}

static bool has_room(const struct lg_sched *s)
{
	return !s->max_inflight || s->inflight < s->max_inflight;
}

bool lg_sched_ready(const struct lg_sched *s, double now)
{
	return s->next < s->n && has_room(s) && s->at[s->next] <= now;
}

size_t lg_sched_take(struct lg_sched *s)
{
	if (++s->inflight > s->peak_inflight)
		s->peak_inflight = s->inflight;
	return s->next++;
}

void lg_sched_done(struct lg_sched *s)
{
	if (s->inflight)
		s->inflight--;
}

double lg_sched_next_wake(const struct lg_sched *s)
{
	if (s->next >= s->n || !has_room(s))
		return INFINITY;
	return s->at[s->next];
}

void lg_sched_note_held(struct lg_sched *s, double now)
{
	if (s->next < s->n && !has_room(s) && s->at[s->next] <= now &&
	    s->held_mark != s->next + 1) {
		s->held++;
		s->held_mark = s->next + 1;
	}
}

void lg_sched_stop(struct lg_sched *s)
{
	s->n = s->next;
}

bool lg_sched_all_sent(const struct lg_sched *s)
{
	return s->next >= s->n;
}

bool lg_sched_finished(const struct lg_sched *s)
{
	return s->next >= s->n && !s->inflight;
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Processes that just exec'd, from the ring readers to the main thread:
 * see exec_queue.h. */
#include <string.h>
#include "procs/exec_queue.h"

void exec_queue_init(struct exec_queue *eq)
{
	memset(eq, 0, sizeof(*eq));
	pthread_mutex_init(&eq->lock, NULL);
}

void exec_queue_destroy(struct exec_queue *eq)
{
	pthread_mutex_destroy(&eq->lock);
}

void exec_queue_push(struct exec_queue *eq, uint32_t pid, uint64_t ts)
{
	pthread_mutex_lock(&eq->lock);
	if (eq->n < EXEC_QUEUE_MAX)
		eq->q[eq->n++] = (struct exec_queue_item){ pid, ts };
	else
		eq->overflow = true;
	pthread_mutex_unlock(&eq->lock);
}

int exec_queue_drain(struct exec_queue *eq, struct exec_queue_item *out, int max,
		     bool *overflow)
{
	int n;

	pthread_mutex_lock(&eq->lock);
	n = eq->n < max ? eq->n : max;
	memcpy(out, eq->q, n * sizeof(*out));
	memmove(eq->q, eq->q + n, (eq->n - n) * sizeof(*out));
	eq->n -= n;
	*overflow = eq->overflow;
	eq->overflow = false;
	pthread_mutex_unlock(&eq->lock);
	return n;
}

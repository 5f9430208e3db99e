// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Reads a set of BPF ring buffers in passes that give way (ring_set.h). */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include "capture/ring_set.h"

#define RING_SET_MAX 80		/* 64 shards, the libzmq ring, room */

struct ring {
	struct ring_set *rs;
	ring_buffer_sample_fn fn;
	void *ctx;
	struct ring_buffer *rb;
};

struct ring_set {
	struct ring r[RING_SET_MAX];	/* their addresses are the readers' ctx */
	int n;
	int next;			/* the ring the next pass starts at */
	int epfd;
	uint64_t budget_ns, pass_end, cuts;
	uint32_t check_every, until_check;	/* records to the next clock read */
	volatile sig_atomic_t *stop;
	bool in_pass, cut;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);	/* bpf_ktime_get_ns()'s clock */
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

struct ring_set *ring_set_new(uint64_t budget_ns, uint32_t check_every,
			      volatile sig_atomic_t *stop)
{
	struct ring_set *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return NULL;
	rs->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (rs->epfd < 0) {
		free(rs);
		return NULL;
	}
	rs->budget_ns = budget_ns;
	rs->check_every = rs->until_check = check_every ? check_every : 1;
	rs->stop = stop;
	return rs;
}

/* After each record: the pass gives way past its budget or at the stop
 * flag; the record itself is read. */
static int on_record(void *ctx, void *data, size_t size)
{
	struct ring *r = ctx;
	struct ring_set *rs = r->rs;
	int err = r->fn(r->ctx, data, size);

	if (err < 0 || !rs->in_pass)
		return err;
	if (!(rs->stop && *rs->stop)) {
		if (--rs->until_check)
			return 0;
		rs->until_check = rs->check_every;
		if (now_ns() < rs->pass_end)
			return 0;
	}
	rs->cut = true;
	return -EBUSY;
}

int ring_set_add(struct ring_set *rs, int map_fd, ring_buffer_sample_fn fn, void *ctx)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct ring *r;

	if (rs->n == RING_SET_MAX)
		return -E2BIG;
	r = &rs->r[rs->n];
	*r = (struct ring){ .rs = rs, .fn = fn, .ctx = ctx };
	r->rb = ring_buffer__new(map_fd, on_record, r, NULL);
	if (!r->rb)
		return -errno;
	if (epoll_ctl(rs->epfd, EPOLL_CTL_ADD, ring_buffer__epoll_fd(r->rb), &ev)) {
		int err = -errno;

		ring_buffer__free(r->rb);
		return err;
	}
	rs->n++;
	return 0;
}

int ring_set_count(const struct ring_set *rs)
{
	return rs->n;
}

int ring_set_pass(struct ring_set *rs, int timeout_ms, uint64_t *t_start)
{
	struct epoll_event ev;
	bool whole = true;

	if (epoll_wait(rs->epfd, &ev, 1, timeout_ms) < 0)
		return -errno;
	*t_start = now_ns();
	rs->cut = false;
	rs->in_pass = true;
	rs->pass_end = *t_start + rs->budget_ns;
	for (int k = 0; k < rs->n && whole; k++) {
		int i = (rs->next + k) % rs->n;

		if (ring_buffer__consume(rs->r[i].rb) < 0) {
			whole = false;
			rs->next = (i + 1) % rs->n;
		}
	}
	rs->in_pass = false;
	if (rs->cut && !(rs->stop && *rs->stop))
		rs->cuts++;
	return whole;
}

void ring_set_drain(struct ring_set *rs)
{
	for (int i = 0; i < rs->n; i++)
		while (ring_buffer__consume(rs->r[i].rb) > 0)
			;
}

uint64_t ring_set_cuts(const struct ring_set *rs)
{
	return rs ? rs->cuts : 0;
}

void ring_set_free(struct ring_set *rs)
{
	if (!rs)
		return;
	for (int i = 0; i < rs->n; i++)
		ring_buffer__free(rs->r[i].rb);
	close(rs->epfd);
	free(rs);
}

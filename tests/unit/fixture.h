/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The shared unit-test fixture, in the manner of Pixie's
 * testing/event_generator.h: the pipeline a session builds (correlator,
 * collector, server hops, rows caught in memory) and an event generator
 * that makes the socket events the kernel side would send, with a clock
 * and stream positions that advance by themselves. Every test that feeds
 * events goes through it; none builds records by hand. */
#ifndef SERVETRACE_FIXTURE_H
#define SERVETRACE_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include "conn/collector.h"
#include "correlate/correlator.h"
#include "correlate/server_hops.h"

#define MS 1000000ULL
#define FIXTURE_MAX_ROWS 64

/* Socket events of one process, timed by one clock. */
struct event_gen {
	struct collector *col;
	uint64_t now;		/* next event's syscall enter, ns */
	uint64_t step;		/* the clock moves on by this after each event */
	uint64_t syscall;	/* exit - enter of each event */
	uint64_t next_sock;	/* kernel socket identities handed out */
};

/* One socket of a traced process (tgid, fd), 127.0.0.1:lport to
 * 127.0.0.1:pport; pos counts the bytes moved each way. */
struct gen_conn {
	struct event_gen *g;
	uint32_t tgid;
	int32_t fd;
	uint64_t sock_id;
	struct sock_endpoint local, peer;
	uint64_t pos[2];	/* [DIR_READ], [DIR_WRITE] */
};

/* 127.0.0.1:port */
void gen_endpoint(struct sock_endpoint *e, uint16_t port);
/* A new socket (its own sock_id) on fd: reusing an fd number without a
 * close is what gen_conn() twice on the same fd does. */
struct gen_conn gen_conn(struct event_gen *g, uint32_t tgid, int32_t fd,
			 uint16_t lport, uint16_t pport);
/* Moves the clock to t (ns); it only ever goes where it is told. */
void gen_at(struct event_gen *g, uint64_t t);
/* One record of c as the kernel fills it, built in buf (a struct
 * sock_event and max bytes after it): cap bytes of data captured of a
 * call that returned ret. The stream offset and the clock move on. */
struct sock_event *gen_record(struct gen_conn *c, void *buf, size_t max, uint32_t type,
			      int dir, const void *data, size_t cap, long ret);
void gen_accept(struct gen_conn *c);
void gen_connect(struct gen_conn *c);
/* All of data moved and captured. */
void gen_read(struct gen_conn *c, const char *data);
void gen_write(struct gen_conn *c, const char *data);
/* The same, at t ms (a test that checks times says when). */
void gen_read_at(struct gen_conn *c, double t_ms, const char *data);
void gen_write_at(struct gen_conn *c, double t_ms, const char *data);
/* ret bytes moved, of which only data was captured (ret < 0: -errno). */
void gen_data(struct gen_conn *c, int dir, const char *data, long ret);
/* Any bytes (NULs too): ret moved, the first cap of data captured. */
void gen_bytes(struct gen_conn *c, int dir, const void *data, size_t cap, long ret);
/* The peer closed its side: a read returning 0. */
void gen_eof(struct gen_conn *c);
void gen_close(struct gen_conn *c);
void gen_proc_exit(struct event_gen *g, uint32_t tgid);

struct fixture_opts {
	bool have_router;	/* else worker requests are the rows */
	uint32_t max_conns;	/* 0: 64 */
	uint32_t max_exchanges;	/* 0: 1000 */
	uint32_t max_hop_records;	/* 0: 100 */
	uint32_t max_rids;	/* 0: 100 */
	uint64_t linger_ns;	/* 0: 100 ms */
	uint64_t orphan_ns;	/* 0: 1 s */
	uint64_t idle_ns;	/* 0: 60 s */
};

/* The pipeline, connected as session_build() connects it. */
struct fixture {
	struct correlator *corr;
	struct collector *col;
	struct server_hops *hops;
	struct event_gen gen;
	struct timeline_row rows[FIXTURE_MAX_ROWS];
	int nrows;
};

/* NULL opts: the defaults above, node level. */
struct fixture *fixture_setup(const struct fixture_opts *opts);
void fixture_teardown(struct fixture *f);
/* The row with this req_id, or NULL. */
const struct timeline_row *fixture_row(const struct fixture *f, const char *req_id);
/* Lets the correlator write everything due by t (ns). */
void fixture_tick(struct fixture *f, uint64_t t);
const struct correlator_stats *fixture_corr_stats(const struct fixture *f);

#endif

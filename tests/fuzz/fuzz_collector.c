// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The collector and correlator fed arbitrary event streams through the
 * unit tests' fixture (tests/unit/fixture.h), with limits small enough
 * that eviction runs all the time: 3 connections, 4 exchanges, 4 hop
 * records. Six sockets of a router and two workers; the input is a list
 * of operations:
 *   byte 0: bit 0 = a router is traced (else node level)
 *   then per op: opcode byte (low 3 bits: what, high 5: which socket),
 *   for data a 2-byte length (little endian, 12 bits), a gap byte, then
 *   the captured bytes.
 * Checks: connections held never pass the limit, and (LeakSanitizer)
 * teardown frees everything. */
#include <stdint.h>
#include <stdlib.h>
#include "fixture.h"

#define NSOCK 6
#define MAX_CONNS 3
#define FUZZ_CHECK(cond) do { if (!(cond)) abort(); } while (0)

static const struct { uint32_t tgid; int32_t fd; uint16_t lport, pport; } socks[NSOCK] = {
	{ 100, 10, 30000, 40000 },	/* client -> router */
	{ 100, 11, 5555, 30001 },	/* router -> worker 200 */
	{ 100, 12, 5556, 30002 },	/* router -> worker 201 */
	{ 200, 7, 30001, 5555 },	/* worker 200's end */
	{ 201, 8, 30002, 5556 },	/* worker 201's end */
	{ 100, 13, 30000, 40001 },	/* a second client */
};

static void op_data(struct gen_conn *c, int dir, const uint8_t **p, const uint8_t *end)
{
	size_t len, gap = 0;
	long ret;

	if (end - *p < 3) {
		*p = end;
		return;
	}
	len = ((size_t)(*p)[0] | (size_t)(*p)[1] << 8) & 0xfff;	/* < 4 KiB a call */
	if ((*p)[2] & 0x80)
		gap = (size_t)((*p)[2] & 0x7f) * 512;	/* moved, not captured */
	*p += 3;
	if (len > (size_t)(end - *p))
		len = end - *p;
	ret = (long)(len + gap);
	if (len == 0 && gap == 0 && ((*p - 1)[0] & 1))
		ret = -104;	/* -ECONNRESET */
	gen_bytes(c, dir, *p, len, ret);
	*p += len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct fixture *f;
	struct gen_conn c[NSOCK];
	bool router;

	if (size < 1)
		return -1;
	router = *p++ & 1;
	f = fixture_setup(&(struct fixture_opts){
		.have_router = router, .max_conns = MAX_CONNS, .max_exchanges = 4,
		.max_hop_records = 4, .max_rids = 4, .linger_ns = MS,
		.orphan_ns = 50 * MS, .idle_ns = 500 * MS,
	});
	if (router)
		collector_set_role(f->col, 100, ROLE_ROUTER);
	collector_set_role(f->col, 200, ROLE_WORKER);
	collector_set_role(f->col, 201, ROLE_WORKER);
	for (int i = 0; i < NSOCK; i++)
		c[i] = gen_conn(&f->gen, socks[i].tgid, socks[i].fd, socks[i].lport, socks[i].pport);
	while (p < end) {
		uint8_t op = *p++;
		struct gen_conn *k = &c[(op >> 3) % NSOCK];

		switch (op & 7) {
		case 0: op_data(k, DIR_READ, &p, end); break;
		case 1: op_data(k, DIR_WRITE, &p, end); break;
		case 2: gen_accept(k); break;
		case 3: gen_connect(k); break;
		case 4: gen_eof(k); break;
		case 5: gen_close(k); break;
		case 6:	/* the fd number reused by a new socket, no close seen */
			*k = gen_conn(&f->gen, k->tgid, k->fd, k->local.port, k->peer.port);
			break;
		case 7:
			if ((op >> 3) & 1) {
				gen_proc_exit(&f->gen, k->tgid);
			} else {
				f->gen.now += (uint64_t)((op >> 4) + 1) * 40 * MS;
				fixture_tick(f, f->gen.now);
			}
			break;
		}
		{
			const struct collector_stats *st = collector_stats(f->col);

			FUZZ_CHECK(st->conns_opened - st->conns_closed <= MAX_CONNS);
		}
	}
	collector_flush(f->col);
	fixture_tick(f, f->gen.now + 3600000 * MS);
	{
		const struct collector_stats *st = collector_stats(f->col);

		FUZZ_CHECK(st->conns_opened == st->conns_closed);
	}
	fixture_teardown(f);
	return 0;
}

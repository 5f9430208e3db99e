/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* One IPC payload parsed whole, as cut by the capture size, and with
 * the checks every result must pass: rids inside the payload, counts
 * consistent. Shared by the pickle and msgpack harnesses. */
#ifndef SERVETRACE_FUZZ_IPC_H
#define SERVETRACE_FUZZ_IPC_H

#include <stdlib.h>
#include <string.h>
#include "proto/ipc.h"

#define FUZZ_CHECK(cond) do { if (!(cond)) abort(); } while (0)

static inline void fuzz_ipc_check(const uint8_t *data, size_t n, bool truncated)
{
	static struct ipc_msg msg;	/* ~3 KB */
	char rid[64];
	uint32_t i;
	int ret;

	ret = ipc_parse(data, n, truncated, &msg);
	FUZZ_CHECK(ret == 0 || (msg.flags & IPC_F_BAD));
	FUZZ_CHECK(msg.nrids <= IPC_MAX_RIDS && msg.nrids <= msg.rids_total);
	FUZZ_CHECK((unsigned int)msg.kind < IPC_KIND_MAX);
	FUZZ_CHECK(memchr(msg.class_name, 0, sizeof(msg.class_name)));
	for (i = 0; i < msg.nrids; i++) {
		FUZZ_CHECK(msg.rids[i].off <= n &&
			   msg.rids[i].len <= n - msg.rids[i].off);
		FUZZ_CHECK(ipc_rid_copy(&msg, data, i, rid, sizeof(rid)) >= 0);
		ipc_rid_is_health_check(rid, strlen(rid));
	}
	ipc_kind_name(msg.kind);
}

/* The payload whole, then cut at a point its last byte picks, as a
 * capture window would cut it. */
static inline void fuzz_ipc_run(const uint8_t *data, size_t size)
{
	fuzz_ipc_check(data, size, false);
	fuzz_ipc_check(data, size, true);
	if (size > 1)
		fuzz_ipc_check(data, 1 + data[size - 1] * (size - 1) / 256, true);
}

#endif

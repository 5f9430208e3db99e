/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Which traced process plays which part: the table the collector looks
 * a connection's process up in. */
#ifndef SERVETRACE_ROLES_H
#define SERVETRACE_ROLES_H

#include <stdint.h>
#include "util/list.h"

enum proc_role { ROLE_NONE = 0, ROLE_ROUTER = 1, ROLE_WORKER = 2 };

#define ROLES_BUCKETS 256

struct roles {
	struct hlist_head b[ROLES_BUCKETS];
};

/* ROLE_NONE forgets tgid. */
void roles_set(struct roles *t, uint32_t tgid, enum proc_role role);
enum proc_role roles_get(const struct roles *t, uint32_t tgid);
void roles_clear(struct roles *t);

#endif

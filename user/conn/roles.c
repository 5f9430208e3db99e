// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A few dozen processes at most: a small chained table. */
#include <stdlib.h>
#include "conn/roles.h"

struct role_ent {
	struct hlist_node hn;
	uint32_t tgid;
	enum proc_role role;
};

static struct role_ent *find(const struct roles *t, uint32_t tgid)
{
	struct hlist_node *pos, *tmp;

	hlist_for_each_safe(pos, tmp, &t->b[tgid % ROLES_BUCKETS]) {
		struct role_ent *e = container_of(pos, struct role_ent, hn);

		if (e->tgid == tgid)
			return e;
	}
	return NULL;
}

void roles_set(struct roles *t, uint32_t tgid, enum proc_role role)
{
	struct role_ent *e = find(t, tgid);

	if (e && role == ROLE_NONE) {
		hlist_del(&e->hn);
		free(e);
		return;
	}
	if (e) {
		e->role = role;
		return;
	}
	if (role == ROLE_NONE)
		return;
	e = calloc(1, sizeof(*e));
	if (!e)
		return;
	e->tgid = tgid;
	e->role = role;
	hlist_add_head(&e->hn, &t->b[tgid % ROLES_BUCKETS]);
}

enum proc_role roles_get(const struct roles *t, uint32_t tgid)
{
	struct role_ent *e = find(t, tgid);

	return e ? e->role : ROLE_NONE;
}

void roles_clear(struct roles *t)
{
	for (uint32_t i = 0; i < ROLES_BUCKETS; i++) {
		while (t->b[i].first) {
			struct role_ent *e = container_of(t->b[i].first, struct role_ent, hn);

			hlist_del(&e->hn);
			free(e);
		}
	}
}

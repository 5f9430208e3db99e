// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* SGLang process titles; the server scan through the one /proc rule. */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include "procs/discover.h"
#include "procs/proc_tree.h"
#include "procs/sglang_procs.h"

#define TITLE_PREFIX "sglang::"

static const char *const role_names[SGLANG_ROLE_MAX] = {
	[SGLANG_ROLE_UNKNOWN] = "unknown",
	[SGLANG_ROLE_MAIN] = "main",
	[SGLANG_ROLE_SCHEDULER] = "scheduler",
	[SGLANG_ROLE_DETOKENIZER] = "detokenizer",
	[SGLANG_ROLE_DP_CONTROLLER] = "dp_controller",
	[SGLANG_ROLE_TOKENIZER_WORKER] = "tokenizer_worker",
	[SGLANG_ROLE_DETOKENIZER_ROUTER] = "detokenizer_router",
	[SGLANG_ROLE_OTHER] = "other",
};

const char *sglang_role_name(enum sglang_role role)
{
	if ((unsigned int)role >= SGLANG_ROLE_MAX)
		return "invalid";
	return role_names[role];
}

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
	size_t plen = strlen(prefix);

	return len >= plen && !memcmp(s, prefix, plen);
}

/* Digits at s[*i..]: their value, or -1 when there are none. */
static int parse_rank(const char *s, size_t len, size_t *i)
{
	int v = 0, digits = 0;

	while (*i < len && isdigit((unsigned char)s[*i]) && digits < 9) {
		v = v * 10 + (s[*i] - '0');
		(*i)++;
		digits++;
	}
	return digits ? v : -1;
}

/* "_DP0_PP1_ATTN_CP0_MOE_DP0_TP3_EP3": the longer names first, so that
 * MOE_DP is not read as DP. */
static void parse_scheduler_suffix(const char *s, size_t len,
				   struct sglang_title *t)
{
	static const struct {
		const char *name;
		size_t off;
	} keys[] = {
		{ "ATTN_CP", offsetof(struct sglang_title, attn_cp_rank) },
		{ "MOE_DP", offsetof(struct sglang_title, moe_dp_rank) },
		{ "DP", offsetof(struct sglang_title, dp_rank) },
		{ "PP", offsetof(struct sglang_title, pp_rank) },
		{ "TP", offsetof(struct sglang_title, tp_rank) },
		{ "EP", offsetof(struct sglang_title, ep_rank) },
	};
	size_t i = 0, k;

	while (i < len) {
		if (s[i] != '_') {
			i++;
			continue;
		}
		i++;
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			size_t klen = strlen(keys[k].name);

			if (has_prefix(s + i, len - i, keys[k].name)) {
				i += klen;
				*(int *)((char *)t + keys[k].off) =
					parse_rank(s, len, &i);
				break;
			}
		}
	}
}

bool sglang_parse_title(const char *cmdline, size_t len,
			struct sglang_title *out)
{
	size_t n = 0, plen = strlen(TITLE_PREFIX);
	const char *name;

	memset(out, 0, sizeof(*out));
	out->dp_rank = out->pp_rank = out->attn_cp_rank = -1;
	out->moe_dp_rank = out->tp_rank = out->ep_rank = -1;
	if (!cmdline)
		return false;
	/* The title ends at the first NUL; some setproctitle modes pad
	 * with spaces instead. */
	while (n < len && cmdline[n])
		n++;
	while (n && cmdline[n - 1] == ' ')
		n--;
	if (!has_prefix(cmdline, n, TITLE_PREFIX))
		return false;
	name = cmdline + plen;
	n -= plen;
	if (has_prefix(name, n, "scheduler")) {
		out->role = SGLANG_ROLE_SCHEDULER;
		parse_scheduler_suffix(name + 9, n - 9, out);
	} else if (has_prefix(name, n, "detokenizer_router")) {
		out->role = SGLANG_ROLE_DETOKENIZER_ROUTER;
	} else if (has_prefix(name, n, "detokenizer")) {
		out->role = SGLANG_ROLE_DETOKENIZER;
	} else if (has_prefix(name, n, "data_parallel_controller")) {
		out->role = SGLANG_ROLE_DP_CONTROLLER;
	} else if (has_prefix(name, n, "tokenizer_worker")) {
		out->role = SGLANG_ROLE_TOKENIZER_WORKER;
	} else if (n == 6 && has_prefix(name, n, "server")) {
		out->role = SGLANG_ROLE_MAIN;	/* forked by sglang_router.launch_server */
	} else {
		out->role = SGLANG_ROLE_OTHER;	/* sglang::router and others */
	}
	return true;
}

int sglang_find_servers(const char *proc_root, uint32_t *pids, int max)
{
	struct proc_info found[DISCOVER_MAX];
	int n = discover_workers(proc_root, found, DISCOVER_MAX), k = 0;

	for (int i = 0; i < n && k < max; i++)
		if (found[i].engine == PROC_ENGINE_SGLANG)
			pids[k++] = found[i].pid;
	return n < 0 ? n : k;
}

_Static_assert(SGLANG_PATH_MAX == PROCFS_PATH_MAX, "libzmq paths are copied");

int sglang_server_scan(const char *proc_root, uint32_t main_pid,
		       struct sglang_server *out)
{
	static struct proc_tree tree;
	int err = proc_tree_scan(proc_root, main_pid, &tree);

	memset(out, 0, sizeof(*out));
	out->main_pid = main_pid;
	if (err)
		return err;
	out->truncated = tree.truncated;
	for (int i = 0; i < tree.nprocs && i < SGLANG_MAX_PROCS; i++) {
		const struct proc_node *n = &tree.procs[i];
		struct sglang_proc *p = &out->procs[out->nprocs++];

		p->pid = n->pid;
		p->ppid = n->ppid;
		p->title = n->cls.sglang;
		p->title.role = proc_kind_sglang_role(&n->cls);
		p->input_rank = n->input && n->cls.kind == PROC_KIND_SCHEDULER;
		memcpy(p->libzmq, n->libzmq, sizeof(p->libzmq));
	}
	return 0;
}

int sglang_proc_libzmq(const char *proc_root, uint32_t pid, char *path,
		       size_t size)
{
	return procfs_libzmq(proc_root, pid, path, size);
}

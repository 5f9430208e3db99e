// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* SGLang server processes from /proc: titles, descendants, libzmq. */
#define _GNU_SOURCE		/* memrchr, memmem */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "procs/sglang_procs.h"

#define TITLE_PREFIX "sglang::"
#define CMDLINE_MAX  8192
#define STAT_MAX     1024
#define SCAN_MAX     32768	/* processes looked at in one scan */

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
	} else {
		out->role = SGLANG_ROLE_OTHER;	/* sglang::router and others */
	}
	return true;
}

static const char *base_name(const char *arg, size_t len, size_t *blen)
{
	const char *slash = memrchr(arg, '/', len);

	if (!slash) {
		*blen = len;
		return arg;
	}
	*blen = len - (slash + 1 - arg);
	return slash + 1;
}

static bool arg_is(const char *arg, size_t len, const char *s)
{
	return len == strlen(s) && !memcmp(arg, s, len);
}

static bool arg_ends(const char *arg, size_t len, const char *s)
{
	size_t slen = strlen(s);

	return len >= slen && !memcmp(arg + len - slen, s, slen);
}

bool sglang_is_server_cmdline(const char *cmdline, size_t len)
{
	size_t i = 0, alen, blen;
	bool prev_sglang = false;
	const char *arg, *base;
	int argc = 0;

	if (!cmdline || !len || has_prefix(cmdline, len, TITLE_PREFIX))
		return false;
	while (i < len && argc < 64) {
		arg = cmdline + i;
		alen = strnlen(arg, len - i);
		i += alen + 1;
		argc++;
		if (!alen)
			continue;
		if (arg_is(arg, alen, "sglang.launch_server") ||
		    arg_ends(arg, alen, "/sglang/launch_server.py"))
			return true;
		base = base_name(arg, alen, &blen);
		/* The console script: [python] .../bin/sglang serve ... */
		if (prev_sglang && arg_is(arg, alen, "serve"))
			return true;
		prev_sglang = arg_is(base, blen, "sglang");
	}
	return false;
}

/* One maps line: "start-end perms offset dev inode   path". */
static int maps_line_libzmq(const char *line, size_t len, char *path,
			    size_t size)
{
	const char *p, *end = line + len, *base;
	size_t plen, blen;
	int field = 0;
	bool deleted = false;

	/* Skip the five fixed fields. */
	for (p = line; p < end && field < 5; field++) {
		while (p < end && *p != ' ')
			p++;
		while (p < end && *p == ' ')
			p++;
	}
	if (p >= end || *p != '/')
		return -ENOENT;
	plen = end - p;
	while (plen && (p[plen - 1] == '\n' || p[plen - 1] == ' '))
		plen--;
	if (arg_ends(p, plen, " (deleted)")) {
		plen -= strlen(" (deleted)");
		deleted = true;
	}
	/* libzmq.so.5 or pyzmq's libzmq-<hash>.so.5.x, not libzmqpp. */
	base = base_name(p, plen, &blen);
	if ((!has_prefix(base, blen, "libzmq.") &&
	     !has_prefix(base, blen, "libzmq-")) ||
	    !memmem(base, blen, ".so", 3))
		return -ENOENT;
	if (!size)
		return -ENOSPC;
	if (plen > size - 1)
		return -ENAMETOOLONG;
	memcpy(path, p, plen);
	path[plen] = '\0';
	return deleted ? -ESTALE : 0;
}

int sglang_maps_libzmq(const char *maps, char *path, size_t size)
{
	const char *line = maps, *nl;
	int ret;

	if (!maps)
		return -ENOENT;
	while (*line) {
		nl = strchr(line, '\n');
		ret = maps_line_libzmq(line, nl ? (size_t)(nl - line) : strlen(line),
				       path, size);
		if (ret != -ENOENT)
			return ret;
		if (!nl)
			break;
		line = nl + 1;
	}
	return -ENOENT;
}

int sglang_stat_ppid(const char *stat, uint32_t *ppid)
{
	const char *p;
	char state;
	unsigned int v;

	if (!stat)
		return -EINVAL;
	/* comm may hold spaces and parentheses: the last ')' ends it. */
	p = strrchr(stat, ')');
	if (!p || sscanf(p + 1, " %c %u", &state, &v) != 2)
		return -EINVAL;
	*ppid = v;
	return 0;
}

static const char *root_of(const char *proc_root)
{
	return proc_root ? proc_root : "/proc";
}

/* Reads /proc/PID/name into buf (NUL-terminated); bytes read or -errno. */
static ssize_t read_proc(const char *proc_root, uint32_t pid, const char *name,
			 char *buf, size_t size)
{
	char path[256];
	ssize_t n, total = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/%u/%s", root_of(proc_root), pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((size_t)total < size - 1) {
		n = read(fd, buf + total, size - 1 - total);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			total = -errno;
			break;
		}
		if (!n)
			break;
		total += n;
	}
	close(fd);
	if (total >= 0)
		buf[total] = '\0';
	return total;
}

int sglang_proc_libzmq(const char *proc_root, uint32_t pid, char *path,
		       size_t size)
{
	char fname[256], *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int ret = -ENOENT;
	FILE *f;

	snprintf(fname, sizeof(fname), "%s/%u/maps", root_of(proc_root), pid);
	f = fopen(fname, "re");
	if (!f)
		return -errno;
	/* A torch process maps thousands of regions: stream it. */
	while ((len = getline(&line, &cap, f)) > 0) {
		ret = maps_line_libzmq(line, len, path, size);
		if (ret != -ENOENT)
			break;
	}
	free(line);
	fclose(f);
	return ret;
}

static bool is_pid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

struct pid_ppid {
	uint32_t pid;
	uint32_t ppid;
};

/* Every process's ppid; returns the count (at most max). */
static int scan_ppids(const char *proc_root, struct pid_ppid *out, int max)
{
	char stat[STAT_MAX];
	struct dirent *de;
	int n = 0;
	DIR *dir;

	dir = opendir(root_of(proc_root));
	if (!dir)
		return -errno;
	while (n < max && (de = readdir(dir))) {
		uint32_t pid, ppid;

		if (!is_pid_name(de->d_name))
			continue;
		pid = strtoul(de->d_name, NULL, 10);
		if (read_proc(proc_root, pid, "stat", stat, sizeof(stat)) <= 0 ||
		    sglang_stat_ppid(stat, &ppid))
			continue;	/* exited meanwhile */
		out[n].pid = pid;
		out[n].ppid = ppid;
		n++;
	}
	closedir(dir);
	return n;
}

int sglang_find_servers(const char *proc_root, uint32_t *pids, int max)
{
	char cmdline[CMDLINE_MAX];
	struct dirent *de;
	ssize_t len;
	int n = 0;
	DIR *dir;

	dir = opendir(root_of(proc_root));
	if (!dir)
		return -errno;
	while (n < max && (de = readdir(dir))) {
		uint32_t pid;

		if (!is_pid_name(de->d_name))
			continue;
		pid = strtoul(de->d_name, NULL, 10);
		len = read_proc(proc_root, pid, "cmdline", cmdline,
				sizeof(cmdline));
		if (len > 0 && sglang_is_server_cmdline(cmdline, len))
			pids[n++] = pid;
	}
	closedir(dir);
	return n;
}

static void fill_proc(const char *proc_root, struct sglang_proc *p,
		      uint32_t pid, uint32_t ppid, bool is_main)
{
	char cmdline[CMDLINE_MAX];
	const struct sglang_title *t = &p->title;
	ssize_t len;
	int ret;

	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->ppid = ppid;
	len = read_proc(proc_root, pid, "cmdline", cmdline, sizeof(cmdline));
	if (!sglang_parse_title(cmdline, len > 0 ? len : 0, &p->title))
		p->title.role = is_main ? SGLANG_ROLE_MAIN : SGLANG_ROLE_OTHER;
	p->input_rank = t->role == SGLANG_ROLE_SCHEDULER &&
			t->pp_rank <= 0 && t->tp_rank <= 0 &&
			t->attn_cp_rank <= 0;
	/* A deleted library keeps its old path: reported, not attachable. */
	ret = sglang_proc_libzmq(proc_root, pid, p->libzmq, sizeof(p->libzmq));
	if (ret && ret != -ESTALE)
		p->libzmq[0] = '\0';
}

int sglang_server_scan(const char *proc_root, uint32_t main_pid,
		       struct sglang_server *out)
{
	struct pid_ppid *all;
	uint32_t queue[SGLANG_MAX_PROCS + 1];
	int n, head = 0, tail = 0, i;
	char stat[STAT_MAX];
	uint32_t ppid = 0;

	memset(out, 0, sizeof(*out));
	out->main_pid = main_pid;
	if (read_proc(proc_root, main_pid, "stat", stat, sizeof(stat)) <= 0 ||
	    sglang_stat_ppid(stat, &ppid))
		return -ESRCH;
	all = calloc(SCAN_MAX, sizeof(*all));
	if (!all)
		return -ENOMEM;
	n = scan_ppids(proc_root, all, SCAN_MAX);
	if (n < 0) {
		free(all);
		return n;
	}
	fill_proc(proc_root, &out->procs[out->nprocs++], main_pid, ppid, true);
	/* Breadth-first: the DP controller's schedulers are grandchildren. */
	queue[tail++] = main_pid;
	while (head < tail) {
		uint32_t parent = queue[head++];

		for (i = 0; i < n; i++) {
			if (all[i].ppid != parent || all[i].pid == main_pid)
				continue;
			if (out->nprocs >= SGLANG_MAX_PROCS) {
				out->truncated = true;
				break;
			}
			fill_proc(proc_root, &out->procs[out->nprocs++],
				  all[i].pid, all[i].ppid, false);
			if (tail < SGLANG_MAX_PROCS + 1)
				queue[tail++] = all[i].pid;
		}
	}
	free(all);
	return 0;
}

uint32_t sglang_server_of(const char *proc_root, uint32_t pid)
{
	char buf[CMDLINE_MAX];
	uint32_t ppid;
	ssize_t len;
	int depth;

	for (depth = 0; pid > 1 && depth < 16; depth++) {
		len = read_proc(proc_root, pid, "cmdline", buf, sizeof(buf));
		if (len > 0 && sglang_is_server_cmdline(buf, len))
			return pid;
		if (read_proc(proc_root, pid, "stat", buf, sizeof(buf)) <= 0 ||
		    sglang_stat_ppid(buf, &ppid))
			return 0;
		pid = ppid;
	}
	return 0;
}

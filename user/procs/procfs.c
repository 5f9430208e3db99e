// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The /proc walker and readers (see procfs.h). */
#define _GNU_SOURCE		/* memrchr, memmem */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "procs/procfs.h"

#define STAT_MAX 1024
#define DELETED  " (deleted)"

const char *procfs_root(const char *root)
{
	return root ? root : "/proc";
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

int procfs_walk(const char *root, procfs_visit_fn fn, void *ctx)
{
	struct dirent *de;
	int ret = 0;
	DIR *dir;

	dir = opendir(procfs_root(root));
	if (!dir)
		return -errno;
	while (!ret && (de = readdir(dir)))
		if (is_pid_name(de->d_name))
			ret = fn(root, strtoul(de->d_name, NULL, 10), ctx);
	closedir(dir);
	return ret;
}

ssize_t procfs_read(const char *root, uint32_t pid, const char *name,
		    char *buf, size_t size)
{
	char path[PROCFS_PATH_MAX];
	ssize_t n, total = 0;
	int fd;

	if (!size)
		return -ENOSPC;
	snprintf(path, sizeof(path), "%s/%u/%s", procfs_root(root), pid, name);
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
	buf[total > 0 ? total : 0] = '\0';
	return total;
}

ssize_t procfs_cmdline(const char *root, uint32_t pid, char *buf, size_t size)
{
	return procfs_read(root, pid, "cmdline", buf, size);
}

void procfs_cmdline_text(const char *root, uint32_t pid, char *buf, size_t size)
{
	ssize_t n = procfs_cmdline(root, pid, buf, size);

	for (ssize_t i = 0; i + 1 < n; i++)
		if (!buf[i])
			buf[i] = ' ';
}

void procfs_comm(const char *root, uint32_t pid, char *buf, size_t size)
{
	if (procfs_read(root, pid, "comm", buf, size) < 0 && size)
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

int procfs_stat_ppid(const char *stat, uint32_t *ppid)
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

int procfs_stat_state(const char *stat, char *state)
{
	const char *p = stat ? strrchr(stat, ')') : NULL;

	return p && sscanf(p + 1, " %c", state) == 1 ? 0 : -EINVAL;
}

bool procfs_gone(const char *root, uint32_t pid)
{
	char stat[STAT_MAX], state;
	ssize_t n = procfs_read(root, pid, "stat", stat, sizeof(stat));

	if (n <= 0)
		return n == 0 || n == -ENOENT || n == -ESRCH;
	if (procfs_stat_state(stat, &state))
		return false;	/* unreadable state: not known gone */
	return state == 'Z' || state == 'X' || state == 'x';
}

int procfs_ppid(const char *root, uint32_t pid, uint32_t *ppid)
{
	char stat[STAT_MAX];
	ssize_t n = procfs_read(root, pid, "stat", stat, sizeof(stat));

	if (n <= 0)
		return n < 0 ? (int)n : -ESRCH;
	return procfs_stat_ppid(stat, ppid);
}

bool procfs_alive(const char *root, uint32_t pid)
{
	char path[PROCFS_PATH_MAX];

	if (!root)
		return kill((pid_t)pid, 0) == 0 || errno == EPERM;
	snprintf(path, sizeof(path), "%s/%u", root, pid);
	return access(path, F_OK) == 0;
}

void procfs_root_path(const char *root, uint32_t pid, const char *path,
		      char *out, size_t size)
{
	snprintf(out, size, "%s/%u/root%s", procfs_root(root), pid, path);
}

/* One maps line: "start-end perms offset dev inode   path". The path, or
 * NULL for an anonymous mapping; " (deleted)" cut and reported. */
static const char *maps_line_path(const char *line, size_t len, size_t *plen,
				  bool *deleted)
{
	const char *p, *end = line + len;
	size_t dlen = strlen(DELETED);
	int field;

	for (p = line, field = 0; p < end && field < 5; field++) {
		while (p < end && *p != ' ')
			p++;
		while (p < end && *p == ' ')
			p++;
	}
	if (p >= end || *p != '/')
		return NULL;
	*plen = end - p;
	while (*plen && (p[*plen - 1] == '\n' || p[*plen - 1] == ' '))
		(*plen)--;
	*deleted = *plen >= dlen && !memcmp(p + *plen - dlen, DELETED, dlen);
	if (*deleted)
		*plen -= dlen;
	return p;
}

/* libzmq.so.5 or pyzmq's libzmq-<hash>.so.5.x, not libzmqpp. */
static bool is_libzmq(const char *path, size_t len)
{
	const char *slash = memrchr(path, '/', len);
	const char *base = slash ? slash + 1 : path;
	size_t blen = len - (base - path);

	return blen > 7 && (!memcmp(base, "libzmq.", 7) || !memcmp(base, "libzmq-", 7)) &&
	       memmem(base, blen, ".so", 3);
}

struct libzmq_ctx {
	char *path;
	size_t size;
};

static int libzmq_visit(const char *path, size_t len, bool deleted, void *ctx)
{
	struct libzmq_ctx *c = ctx;

	if (!is_libzmq(path, len))
		return 0;
	if (!c->size)
		return -ENOSPC;
	if (len > c->size - 1)
		return -ENAMETOOLONG;
	memcpy(c->path, path, len);
	c->path[len] = '\0';
	return deleted ? -ESTALE : 1;
}

/* Feeds each line's path to fn, skipping repeats of the previous one. */
static int maps_line(const char *line, size_t len, char *prev, size_t *prev_len,
		     procfs_map_fn fn, void *ctx)
{
	size_t plen;
	bool deleted;
	const char *p = maps_line_path(line, len, &plen, &deleted);

	if (!p || (plen == *prev_len && !memcmp(p, prev, plen)))
		return 0;
	*prev_len = plen < PROCFS_PATH_MAX ? plen : 0;
	memcpy(prev, p, *prev_len);
	return fn(p, plen, deleted, ctx);
}

int procfs_maps_libzmq(const char *maps, char *path, size_t size)
{
	struct libzmq_ctx c = { path, size };
	char prev[PROCFS_PATH_MAX];
	size_t prev_len = 0;
	const char *line = maps, *nl;
	int ret = 0;

	if (!maps)
		return -ENOENT;
	while (!ret && *line) {
		nl = strchr(line, '\n');
		ret = maps_line(line, nl ? (size_t)(nl - line) : strlen(line),
				prev, &prev_len, libzmq_visit, &c);
		if (!nl)
			break;
		line = nl + 1;
	}
	return ret == 1 ? 0 : ret ? ret : -ENOENT;
}

int procfs_maps_each(const char *root, uint32_t pid, procfs_map_fn fn, void *ctx)
{
	char fname[PROCFS_PATH_MAX], prev[PROCFS_PATH_MAX], *line = NULL;
	size_t cap = 0, prev_len = 0;
	ssize_t len;
	int ret = 0;
	FILE *f;

	snprintf(fname, sizeof(fname), "%s/%u/maps", procfs_root(root), pid);
	f = fopen(fname, "re");
	if (!f)
		return -errno;
	while (!ret && (len = getline(&line, &cap, f)) > 0)
		ret = maps_line(line, len, prev, &prev_len, fn, ctx);
	free(line);
	fclose(f);
	return ret;
}

int procfs_libzmq(const char *root, uint32_t pid, char *path, size_t size)
{
	struct libzmq_ctx c = { path, size };
	int ret = procfs_maps_each(root, pid, libzmq_visit, &c);

	return ret == 1 ? 0 : ret ? ret : -ENOENT;
}

/* root/WHO/ns/NAME as the kernel names it ("net:[4026531840]"), or ""
 * when unreadable (gone, or a fake tree without namespaces). */
static void ns_link(const char *root, const char *who, const char *name,
		    char *buf, size_t size)
{
	char path[PROCFS_PATH_MAX];
	ssize_t l;

	snprintf(path, sizeof(path), "%s/%s/ns/%s", procfs_root(root), who, name);
	l = readlink(path, buf, size - 1);
	buf[l > 0 ? l : 0] = '\0';
}

int procfs_lib_path(const char *root, uint32_t pid, const char *lib,
		    char *out, size_t size)
{
	char mine[64], theirs[64], who[16];

	if ((size_t)snprintf(out, size, "%s/%u/root%s", procfs_root(root), pid, lib) >= size)
		return -ENAMETOOLONG;
	if (!access(out, R_OK))
		return 0;
	/* The plain path names the same file only in the same mount
	 * namespace; in a container it may name another file or none. */
	snprintf(who, sizeof(who), "%u", pid);
	ns_link(root, "self", "mnt", mine, sizeof(mine));
	ns_link(root, who, "mnt", theirs, sizeof(theirs));
	if (!mine[0] || strcmp(mine, theirs) || access(lib, R_OK))
		return -ENOENT;
	if ((size_t)snprintf(out, size, "%s", lib) >= size)
		return -ENAMETOOLONG;
	return 0;
}

#define LISTEN_MAX  16
#define NETNS_MAX   64

/* Inodes of the sockets listening on port, from DIR/net/tcp and tcp6
 * (DIR: the proc root, or one pid's directory for its network
 * namespace), appended at inodes[n]. Returns the new count. */
static int listen_inodes(const char *dir, uint16_t port, unsigned long *inodes, int n)
{
	static const char *const files[] = { "net/tcp", "net/tcp6" };
	char fname[PROCFS_PATH_MAX], line[512];

	for (size_t f = 0; f < 2; f++) {
		FILE *fp;

		snprintf(fname, sizeof(fname), "%s/%s", dir, files[f]);
		fp = fopen(fname, "re");
		if (!fp)
			continue;
		while (fgets(line, sizeof(line), fp) && n < LISTEN_MAX) {
			char local[64], *colon;
			unsigned int lport, state;
			unsigned long inode;

			if (sscanf(line, " %*d: %63s %*s %x %*s %*s %*s %*s %*s %lu",
				   local, &state, &inode) != 3)
				continue;
			colon = strrchr(local, ':');
			if (!colon || sscanf(colon + 1, "%x", &lport) != 1)
				continue;
			if (lport == port && state == 0x0A /* LISTEN */)
				inodes[n++] = inode;
		}
		fclose(fp);
	}
	return n;
}

/* Other network namespaces (containers): root/net is only our own, so
 * each namespace a process is in is read once, through that process. */
struct netns_ctx {
	char self[64];
	char seen[NETNS_MAX][64];
	int nseen;
	uint16_t port;
	unsigned long *inodes;
	int ninodes;
};

static int netns_visit(const char *root, uint32_t pid, void *ctx)
{
	struct netns_ctx *c = ctx;
	char who[16], link[64], dir[PROCFS_PATH_MAX];

	snprintf(who, sizeof(who), "%u", pid);
	ns_link(root, who, "net", link, sizeof(link));
	if (!link[0] || !strcmp(link, c->self))
		return 0;
	for (int i = 0; i < c->nseen; i++)
		if (!strcmp(c->seen[i], link))
			return 0;
	snprintf(dir, sizeof(dir), "%s/%u/net/tcp", procfs_root(root), pid);
	if (access(dir, R_OK))
		return 0;	/* exiting: another process of the namespace will do */
	if (c->nseen < NETNS_MAX)
		snprintf(c->seen[c->nseen++], sizeof(c->seen[0]), "%s", link);
	snprintf(dir, sizeof(dir), "%s/%u", procfs_root(root), pid);
	c->ninodes = listen_inodes(dir, c->port, c->inodes, c->ninodes);
	return c->nseen >= NETNS_MAX;
}

struct listen_ctx {
	const unsigned long *inodes;
	int ninodes;
	uint32_t *out;
	int n, max;
};

static bool holds_inode(const char *root, uint32_t pid, const struct listen_ctx *c)
{
	char dname[PROCFS_PATH_MAX], fpath[PROCFS_PATH_MAX + 258], link[64];
	struct dirent *fe;
	bool found = false;
	DIR *d;

	snprintf(dname, sizeof(dname), "%s/%u/fd", procfs_root(root), pid);
	d = opendir(dname);
	if (!d)
		return false;
	while (!found && (fe = readdir(d))) {
		unsigned long ino;
		ssize_t l;

		snprintf(fpath, sizeof(fpath), "%s/%s", dname, fe->d_name);
		l = readlink(fpath, link, sizeof(link) - 1);
		if (l <= 0)
			continue;
		link[l] = '\0';
		if (sscanf(link, "socket:[%lu]", &ino) != 1)
			continue;
		for (int i = 0; i < c->ninodes; i++)
			found |= c->inodes[i] == ino;
	}
	closedir(d);
	return found;
}

static int listen_visit(const char *root, uint32_t pid, void *ctx)
{
	struct listen_ctx *c = ctx;

	if (holds_inode(root, pid, c))
		c->out[c->n++] = pid;
	return c->n >= c->max;
}

int procfs_listeners(const char *root, uint16_t port, uint32_t *out, int max)
{
	static struct netns_ctx ns;	/* large */
	unsigned long inodes[LISTEN_MAX];
	struct listen_ctx c = { inodes, 0, out, 0, max };

	memset(&ns, 0, sizeof(ns));
	ns.port = port;
	ns.inodes = inodes;
	ns.ninodes = listen_inodes(procfs_root(root), port, inodes, 0);
	ns_link(root, "self", "net", ns.self, sizeof(ns.self));
	if (ns.self[0])
		procfs_walk(root, netns_visit, &ns);
	c.ninodes = ns.ninodes;
	if (!c.ninodes || max <= 0)
		return 0;
	procfs_walk(root, listen_visit, &c);
	return c.n;
}

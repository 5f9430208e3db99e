/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A fake /proc tree in a temporary directory, for the procs/ tests: pid
 * directories with cmdline, comm, stat, maps, fd links, and files under
 * a pid's root/ (a container's view of its own file system). */
#ifndef SERVETRACE_FAKE_PROC_H
#define SERVETRACE_FAKE_PROC_H

/* nftw: include this first, after #define _GNU_SOURCE */
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* A literal command line (NUL-separated) and its length. */
#define CMD(s) s, sizeof(s) - 1
/* A title as setproctitle leaves it: the text, then NUL padding. */
#define TITLE(s) s "\0\0\0\0\0\0\0\0", sizeof(s "\0\0\0\0\0\0\0\0") - 1

static inline bool fake_proc_init(char *root, size_t size)
{
	snprintf(root, size, "/tmp/servetrace-procs-XXXXXX");
	return mkdtemp(root) != NULL;
}

/* mkdir -p root/rel */
static inline void fake_mkdirs(const char *root, const char *rel)
{
	char path[1024];
	int n = snprintf(path, sizeof(path), "%s/%s", root, rel);

	for (int i = (int)strlen(root) + 1; i <= n; i++) {
		if (path[i] != '/' && path[i])
			continue;
		path[i] = '\0';
		mkdir(path, 0755);
		if (i < n)
			path[i] = '/';
	}
}

/* root/rel, its directory made already */
static inline void fake_file(const char *root, const char *rel, const char *data, size_t len)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	if (!f)
		return;
	fwrite(data, 1, len, f);
	fclose(f);
}

static inline void fake_put(const char *root, uint32_t pid, const char *name,
			    const char *data, size_t len)
{
	char path[1024];

	snprintf(path, sizeof(path), "%u", pid);
	fake_mkdirs(root, path);
	snprintf(path, sizeof(path), "%u/%s", pid, name);
	fake_file(root, path, data, len);
}

/* comm: the first 15 bytes of the title or of argv[0]'s base name. */
static inline void fake_proc(const char *root, uint32_t pid, uint32_t ppid,
			     const char *cmdline, size_t len, const char *maps)
{
	char stat[128], comm[17];
	const char *base = strrchr(cmdline, '/');

	snprintf(comm, sizeof(comm), "%.15s\n", base && base < cmdline + strlen(cmdline) ?
		 base + 1 : cmdline);
	snprintf(stat, sizeof(stat), "%u (python3) S %u %u %u 0 -1\n", pid, ppid, pid, ppid);
	fake_put(root, pid, "stat", stat, strlen(stat));
	fake_put(root, pid, "comm", comm, strlen(comm));
	fake_put(root, pid, "cmdline", cmdline, len);
	fake_put(root, pid, "maps", maps ? maps : "", maps ? strlen(maps) : 0);
}

/* root/PID/fd/N -> target (a dangling link, as /proc shows sockets) */
static inline void fake_fd(const char *root, uint32_t pid, int fd, const char *target)
{
	char path[1024];

	snprintf(path, sizeof(path), "%u/fd", pid);
	fake_mkdirs(root, path);
	snprintf(path, sizeof(path), "%s/%u/fd/%d", root, pid, fd);
	if (symlink(target, path))
		perror(path);
}

static inline int fake_rm_entry(const char *path, const struct stat *st, int flag,
				struct FTW *ftw)
{
	return remove(path);
}

static inline void fake_proc_cleanup(const char *root)
{
	if (nftw(root, fake_rm_entry, 8, FTW_DEPTH | FTW_PHYS))
		fprintf(stderr, "  (could not remove %s)\n", root);
}

#endif

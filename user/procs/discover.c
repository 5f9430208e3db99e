// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include "procs/discover.h"

static size_t read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0 || !len)
		return 0;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = 0;
	return n;
}

void process_cmdline(uint32_t pid, char *buf, size_t len)
{
	char path[64];
	size_t n;

	snprintf(path, sizeof(path), "/proc/%u/cmdline", pid);
	n = read_file(path, buf, len);
	for (size_t i = 0; i + 1 < n; i++)
		if (!buf[i])
			buf[i] = ' ';
}

static void process_comm(uint32_t pid, char *buf, size_t len)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	read_file(path, buf, len);
	buf[strcspn(buf, "\n")] = 0;
}

bool process_alive(uint32_t pid)
{
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

bool looks_like_router(const char *cmdline, const char *comm)
{
	return strstr(cmdline, "sglang::router") ||
	       strstr(cmdline, "sglang_router.launch_router") ||
	       strstr(cmdline, "sglang_router.launch_server") ||
	       !strcmp(comm, "sglang::router") || !strcmp(comm, "smg") ||
	       !strncmp(cmdline, "smg ", 4);
}

bool looks_like_worker(const char *cmdline, const char *comm)
{
	/* the scheduler and detokenizer retitle themselves: not the HTTP one */
	if (strstr(cmdline, "sglang::") || !strncmp(comm, "sglang::", 8))
		return false;
	return strstr(cmdline, "sglang.launch_server") ||
	       strstr(cmdline, "sglang serve");
}

typedef bool (*classify_fn)(const char *cmdline, const char *comm);

static int scan_processes(classify_fn fn, uint32_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;
	uint32_t self = getpid();

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max) {
		char cmd[4096], comm[32];
		uint32_t pid;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid = strtoul(e->d_name, NULL, 10);
		if (pid == self)
			continue;
		process_cmdline(pid, cmd, sizeof(cmd));
		process_comm(pid, comm, sizeof(comm));
		if (cmd[0] && fn(cmd, comm))
			out[n++] = pid;
	}
	closedir(d);
	return n;
}

int discover_routers(uint32_t *out, int max)
{
	return scan_processes(looks_like_router, out, max);
}

int discover_workers(uint32_t *out, int max)
{
	return scan_processes(looks_like_worker, out, max);
}

/* Listening sockets' inodes for port, from /proc/net/tcp and tcp6. */
static int listen_inodes(uint16_t port, unsigned long *inodes, int max)
{
	static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	int n = 0;

	for (size_t f = 0; f < 2; f++) {
		FILE *fp = fopen(files[f], "re");
		char line[512];

		if (!fp)
			continue;
		while (fgets(line, sizeof(line), fp) && n < max) {
			char local[64];
			unsigned int lport, state;
			unsigned long inode;
			char *colon;

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

int discover_listeners(uint16_t port, uint32_t *out, int max)
{
	unsigned long inodes[16];
	int ni = listen_inodes(port, inodes, 16), n = 0;
	DIR *d;
	struct dirent *e;

	if (!ni)
		return 0;
	d = opendir("/proc");
	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max) {
		char path[64], link[64];
		struct dirent *fe;
		DIR *fd_dir;
		bool found = false;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", e->d_name);
		fd_dir = opendir(path);
		if (!fd_dir)
			continue;
		while (!found && (fe = readdir(fd_dir))) {
			char fpath[128];
			ssize_t l;
			unsigned long ino;

			snprintf(fpath, sizeof(fpath), "%s/%s", path, fe->d_name);
			l = readlink(fpath, link, sizeof(link) - 1);
			if (l <= 0)
				continue;
			link[l] = 0;
			if (sscanf(link, "socket:[%lu]", &ino) != 1)
				continue;
			for (int i = 0; i < ni; i++)
				if (inodes[i] == ino)
					found = true;
		}
		closedir(fd_dir);
		if (found)
			out[n++] = strtoul(e->d_name, NULL, 10);
	}
	closedir(d);
	return n;
}

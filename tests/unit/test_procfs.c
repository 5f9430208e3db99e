// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* user/procs/procfs.c: the walker and readers on a fake /proc tree, and
 * the stat and maps parsers. */
#define _GNU_SOURCE		/* nftw, mkdtemp */
#include "fake_proc.h"
#include <errno.h>
#include "procs/procfs.h"
#include "test.h"

static const char maps_pyzmq[] =
	"55d0c0a00000-55d0c0a2a000 r--p 00000000 fd:01 1000 /usr/bin/python3.11\n"
	"7f1e2c000000-7f1e2c021000 rw-p 00000000 00:00 0 \n"
	"7f1e2d000000-7f1e2d0b0000 r--p 00000000 fd:01 2001 /usr/lib/x86_64-linux-gnu/libzmqpp.so.4\n"
	"7f1e2e000000-7f1e2e0a0000 r--p 00000000 fd:01 2002 "
	"/work/main/.venv/lib/python3.11/site-packages/pyzmq.libs/libzmq-2f02442c.so.5.2.5\n"
	"7f1e2e0a0000-7f1e2e100000 r-xp 000a0000 fd:01 2002 "
	"/work/main/.venv/lib/python3.11/site-packages/pyzmq.libs/libzmq-2f02442c.so.5.2.5\n"
	"7ffd1c000000-7ffd1c021000 rw-p 00000000 00:00 0 [stack]\n";

static void test_maps(void)
{
	char path[PROCFS_PATH_MAX];

	ASSERT_EQ(procfs_maps_libzmq(maps_pyzmq, path, sizeof(path)), 0, "pyzmq bundled");
	ASSERT_STREQ(path, "/work/main/.venv/lib/python3.11/site-packages/pyzmq.libs/"
		     "libzmq-2f02442c.so.5.2.5", "path");
	ASSERT_EQ(procfs_maps_libzmq("7f00-7f10 r-xp 0 fd:01 3 /usr/lib/x86_64-linux-gnu/libzmq.so.5.2.5\n",
				     path, sizeof(path)), 0, "system libzmq");
	ASSERT_STREQ(path, "/usr/lib/x86_64-linux-gnu/libzmq.so.5.2.5", "system path");
	ASSERT_EQ(procfs_maps_libzmq("7f00-7f10 r-xp 0 fd:01 3 /opt/libzmq.so.5 (deleted)",
				     path, sizeof(path)), -ESTALE, "deleted");
	ASSERT_STREQ(path, "/opt/libzmq.so.5", "deleted path without suffix");
	ASSERT_EQ(procfs_maps_libzmq("7f00-7f10 r-xp 0 fd:01 3 /usr/lib/libc.so.6\n",
				     path, sizeof(path)), -ENOENT, "none");
	ASSERT_EQ(procfs_maps_libzmq("7f00-7f10 r-xp 0 fd:01 3 /usr/lib/libzmq.a\n",
				     path, sizeof(path)), -ENOENT, "not a shared object");
	ASSERT_EQ(procfs_maps_libzmq("", path, sizeof(path)), -ENOENT, "empty");
	ASSERT_EQ(procfs_maps_libzmq("garbage without fields", path, sizeof(path)), -ENOENT,
		  "garbage");
	ASSERT_EQ(procfs_maps_libzmq(maps_pyzmq, path, 10), -ENAMETOOLONG, "small buffer");
}

static void test_stat(void)
{
	uint32_t ppid = 0;

	ASSERT_EQ(procfs_stat_ppid("4242 (python3) S 4200 4242 4200 0 -1", &ppid), 0, "stat");
	ASSERT_EQ(ppid, 4200, "ppid");
	ASSERT_EQ(procfs_stat_ppid("77 (sglang::sch) (x) R 76 77", &ppid), 0, "parens in comm");
	ASSERT_EQ(ppid, 76, "ppid after last paren");
	ASSERT_EQ(procfs_stat_ppid("77 (no end", &ppid), -EINVAL, "truncated");
	ASSERT_EQ(procfs_stat_ppid(NULL, &ppid), -EINVAL, "NULL");
}

/* A process probed while it exits: its /proc/PID/root no longer
 * resolves, and that is no error to report (CI saw one). */
static void test_gone(void)
{
	char root[64], state = 0;

	ASSERT_EQ(procfs_stat_state("77 (sglang::sch) (x) Z 76 77", &state), 0, "state");
	ASSERT_EQ(state, 'Z', "the letter after the last paren");
	ASSERT_EQ(procfs_stat_state("77 (no end", &state), -EINVAL, "truncated");
	if (!ASSERT_TRUE(fake_proc_init(root, sizeof(root)), "mkdtemp"))
		return;
	fake_proc(root, 9, 7, TITLE("sglang::scheduler"), NULL);
	fake_put(root, 10, "stat", "10 (python3) Z 7 10 7 0 -1\n", 27);
	fake_put(root, 11, "stat", "11 (python3) X 7 11 7 0 -1\n", 27);
	fake_put(root, 12, "stat", "12 (python3", 11);
	ASSERT_TRUE(!procfs_gone(root, 9), "sleeping: not gone");
	ASSERT_TRUE(procfs_gone(root, 10), "zombie: gone");
	ASSERT_TRUE(procfs_gone(root, 11), "dead: gone");
	ASSERT_TRUE(!procfs_gone(root, 12), "state unreadable: not known gone");
	ASSERT_TRUE(procfs_gone(root, 404), "no such pid: gone");
	fake_proc_cleanup(root);
}

static int count_visit(const char *root, uint32_t pid, void *ctx)
{
	uint32_t *sum = ctx;

	sum[0]++;
	sum[1] += pid;
	return pid == 42;	/* stops the walk */
}

static int count_map(const char *path, size_t len, bool deleted, void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

static void test_readers(void)
{
	static const char tcp[] =
		"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
		"   0: 0100007F:7531 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5551 1\n"
		"   1: 0100007F:7531 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 5552 1\n";
	char root[64], buf[256], path[PROCFS_PATH_MAX];
	uint32_t sum[2] = { 0, 0 }, ppid = 0, pids[4];
	int nmaps = 0;

	if (!ASSERT_TRUE(fake_proc_init(root, sizeof(root)), "mkdtemp"))
		return;
	fake_proc(root, 7, 1, CMD("/v/bin/python3\0-m\0sglang.launch_server\0"), maps_pyzmq);
	fake_proc(root, 9, 7, TITLE("sglang::scheduler"), NULL);
	fake_mkdirs(root, "net");
	fake_mkdirs(root, "self");	/* not a pid */
	fake_put(root, 5, "junk", "x", 1);	/* a pid without stat */

	ASSERT_EQ(procfs_walk(root, count_visit, sum), 0, "walk to the end");
	ASSERT_EQ(sum[0], 3, "three pid directories, not self or net");
	ASSERT_EQ(sum[1], 7 + 9 + 5, "their pids");
	fake_mkdirs(root, "42");
	ASSERT_EQ(procfs_walk(root, count_visit, sum), 1, "the visitor stops it");
	ASSERT_EQ(procfs_walk("/nonexistent-root", count_visit, sum), -ENOENT, "no root");

	procfs_cmdline_text(root, 7, buf, sizeof(buf));
	ASSERT_STREQ(buf, "/v/bin/python3 -m sglang.launch_server", "NULs as spaces");
	procfs_comm(root, 9, buf, sizeof(buf));
	ASSERT_STREQ(buf, "sglang::schedul", "comm without newline");
	procfs_comm(root, 404, buf, sizeof(buf));
	ASSERT_STREQ(buf, "", "comm of a gone pid");
	ASSERT_EQ(procfs_ppid(root, 9, &ppid), 0, "ppid");
	ASSERT_EQ(ppid, 7, "ppid value");
	ASSERT_TRUE(procfs_ppid(root, 5, &ppid) < 0, "no stat");
	ASSERT_TRUE(procfs_alive(root, 9) && !procfs_alive(root, 404), "alive");

	ASSERT_EQ(procfs_libzmq(root, 7, path, sizeof(path)), 0, "libzmq by pid");
	ASSERT_EQ(procfs_libzmq(root, 9, path, sizeof(path)), -ENOENT, "no libzmq");
	ASSERT_EQ(procfs_libzmq(root, 404, path, sizeof(path)), -ENOENT, "no such pid");
	ASSERT_EQ(procfs_maps_each(root, 7, count_map, &nmaps), 0, "maps each");
	ASSERT_EQ(nmaps, 3, "python, libzmqpp, libzmq once (two lines)");
	procfs_root_path(root, 7, "/usr/lib/x.so", path, sizeof(path));
	ASSERT_TRUE(!strncmp(path, root, strlen(root)) && strstr(path, "/7/root/usr/lib/x.so"),
		    "through the pid's root");

	fake_file(root, "net/tcp", tcp, sizeof(tcp) - 1);
	fake_fd(root, 7, 3, "socket:[5551]");
	fake_fd(root, 9, 3, "socket:[5552]");
	fake_fd(root, 9, 4, "/dev/null");
	ASSERT_EQ(procfs_listeners(root, 30001, pids, 4), 1, "one listener on 30001");
	ASSERT_EQ(pids[0], 7, "the one holding the LISTEN inode");
	ASSERT_EQ(procfs_listeners(root, 30002, pids, 4), 0, "nothing on 30002");
	fake_proc_cleanup(root);
}

/* root/REL -> target, its directory made */
static void fake_link(const char *root, const char *rel, const char *target)
{
	char path[1024], dir[1024];

	snprintf(dir, sizeof(dir), "%s", rel);
	*strrchr(dir, '/') = '\0';
	fake_mkdirs(root, dir);
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (symlink(target, path))
		perror(path);
}

/* A worker in its own mount and network namespaces (a container): its
 * libzmq through its root, its listener in its own net/tcp. */
static void test_container(void)
{
	static const char tcp[] =
		"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
		"   0: 0200E70A:80ED 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7777 1\n";
	char root[64], path[PROCFS_PATH_MAX], want[PROCFS_PATH_MAX], host_lib[PROCFS_PATH_MAX];
	uint32_t pids[4];

	if (!ASSERT_TRUE(fake_proc_init(root, sizeof(root)), "mkdtemp"))
		return;
	fake_link(root, "self/ns/mnt", "mnt:[4026531841]");
	fake_link(root, "self/ns/net", "net:[4026531840]");
	fake_proc(root, 7, 1, CMD("/v/bin/python3\0-m\0sglang.launch_server\0"), NULL);
	fake_link(root, "7/ns/mnt", "mnt:[4026531841]");
	fake_link(root, "7/ns/net", "net:[4026531840]");
	fake_proc(root, 20, 1, CMD("/opt/venv/bin/python3\0-m\0sglang.launch_server\0"), NULL);
	fake_link(root, "20/ns/mnt", "mnt:[4026532900]");
	fake_link(root, "20/ns/net", "net:[4026532901]");
	fake_mkdirs(root, "20/root/opt/venv");
	fake_file(root, "20/root/opt/venv/libzmq.so.5", "elf", 3);
	fake_mkdirs(root, "host");
	fake_file(root, "host/libzmq.so.5", "elf", 3);
	snprintf(host_lib, sizeof(host_lib), "%s/host/libzmq.so.5", root);

	ASSERT_EQ(procfs_lib_path(root, 20, "/opt/venv/libzmq.so.5", path, sizeof(path)), 0,
		  "container lib");
	snprintf(want, sizeof(want), "%s/20/root/opt/venv/libzmq.so.5", root);
	ASSERT_STREQ(path, want, "through the container's root");
	ASSERT_EQ(procfs_lib_path(root, 20, host_lib, path, sizeof(path)), -ENOENT,
		  "not the host's file of that name: another mount namespace");
	ASSERT_EQ(procfs_lib_path(root, 7, host_lib, path, sizeof(path)), 0,
		  "same mount namespace, root unreadable: the plain path");
	ASSERT_STREQ(path, host_lib, "plain path");
	ASSERT_EQ(procfs_lib_path(root, 7, "/opt/venv/libzmq.so.5", path, sizeof(path)), -ENOENT,
		  "nowhere");
	ASSERT_EQ(procfs_lib_path(root, 404, host_lib, path, sizeof(path)), -ENOENT,
		  "gone: its namespace is unknown");
	ASSERT_EQ(procfs_lib_path(root, 20, "/opt/venv/libzmq.so.5", path, 16), -ENAMETOOLONG,
		  "small buffer");

	/* the worker's listener (10.231.0.2:33005) is only in its namespace's
	 * table; pid 21 shares that namespace and holds the socket */
	fake_mkdirs(root, "20/net");
	fake_file(root, "20/net/tcp", tcp, sizeof(tcp) - 1);
	fake_proc(root, 21, 20, TITLE("sglang::server"), NULL);
	fake_link(root, "21/ns/net", "net:[4026532901]");
	fake_fd(root, 21, 5, "socket:[7777]");
	ASSERT_EQ(procfs_listeners(root, 33005, pids, 4), 1, "listener in another net namespace");
	ASSERT_EQ(pids[0], 21, "the socket's holder");
	ASSERT_EQ(procfs_listeners(root, 33006, pids, 4), 0, "nothing on 33006");
	fake_proc_cleanup(root);
}

void test_area_procfs(void)
{
	RUN_SUBTEST(test_maps);
	RUN_SUBTEST(test_stat);
	RUN_SUBTEST(test_gone);
	RUN_SUBTEST(test_readers);
	RUN_SUBTEST(test_container);
}

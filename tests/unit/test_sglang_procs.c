// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* user/procs/sglang_procs.c: SGLang's process titles. */
#define _GNU_SOURCE		/* nftw, mkdtemp */
#include "fake_proc.h"
#include "procs/sglang_procs.h"
#include "test.h"

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
	ASSERT_TRUE(sglang_parse_title(TITLE("sglang::server"), &t), "server title");
	ASSERT_EQ(t.role, SGLANG_ROLE_MAIN, "sglang_router.launch_server's servers are main");
	ASSERT_TRUE(sglang_parse_title(TITLE("sglang::serverX"), &t), "serverX");
	ASSERT_EQ(t.role, SGLANG_ROLE_OTHER, "not server");
	ASSERT_STREQ(sglang_role_name(SGLANG_ROLE_DETOKENIZER), "detokenizer", "role name");
	ASSERT_STREQ(sglang_role_name(SGLANG_ROLE_MAX), "invalid", "role out of range");

	ASSERT_TRUE(!sglang_parse_title("python3\0-m\0sglang.launch_server\0", 33, &t),
		    "argv is no title");
	ASSERT_TRUE(!sglang_parse_title("", 0, &t), "empty");
	ASSERT_TRUE(!sglang_parse_title(NULL, 5, &t), "NULL");
	ASSERT_TRUE(!sglang_parse_title("sglang:", 7, &t), "short prefix");
}

void test_area_sglang_procs(void)
{
	RUN_SUBTEST(test_titles);
}

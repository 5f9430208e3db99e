// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* loadgen request building: body per endpoint, stream on/off, the same id
 * in the body's rid and in X-Request-Id; datasets. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "test.h"
#include "lg_dataset.h"
#include "lg_request.h"

static cJSON *body_of(enum lg_api api, bool stream, const char *rid)
{
	struct lg_req_opts o = {
		.api = api, .model = "tiny", .stream = stream,
		.ignore_eos = true, .temperature = 0,
	};
	char *s = lg_request_body(&o, "hello big world", 7, rid);
	cJSON *j = cJSON_Parse(s);

	free(s);
	return j;
}

static const cJSON *get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static void test_generate_body(void)
{
	cJSON *b = body_of(LG_API_GENERATE, false, "lg-1-000003");
	const cJSON *sp = get(b, "sampling_params");

	ASSERT_STREQ(get(b, "text")->valuestring, "hello big world", "text");
	ASSERT_EQ(get(sp, "max_new_tokens")->valueint, 7, "max_new_tokens");
	ASSERT_EQ(get(sp, "temperature")->valueint, 0, "temperature 0");
	ASSERT_TRUE(cJSON_IsTrue(get(sp, "ignore_eos")), "ignore_eos");
	ASSERT_TRUE(cJSON_IsFalse(get(b, "stream")), "stream false");
	ASSERT_STREQ(get(b, "rid")->valuestring, "lg-1-000003", "rid");
	ASSERT_TRUE(!get(b, "model") && !get(b, "stream_options"), "no OpenAI fields");
	cJSON_Delete(b);

	b = body_of(LG_API_GENERATE, true, "r");
	ASSERT_TRUE(cJSON_IsTrue(get(b, "stream")), "stream true");
	cJSON_Delete(b);
}

static void test_completions_body(void)
{
	cJSON *b = body_of(LG_API_COMPLETIONS, true, "lg-2-000001");

	ASSERT_STREQ(get(b, "model")->valuestring, "tiny", "model");
	ASSERT_STREQ(get(b, "prompt")->valuestring, "hello big world", "prompt");
	ASSERT_EQ(get(b, "max_tokens")->valueint, 7, "max_tokens");
	ASSERT_TRUE(cJSON_IsTrue(get(b, "ignore_eos")), "ignore_eos");
	ASSERT_TRUE(cJSON_IsTrue(get(b, "stream")), "stream");
	ASSERT_TRUE(cJSON_IsTrue(get(get(b, "stream_options"), "include_usage")),
		    "usage asked for when streaming");
	ASSERT_STREQ(get(b, "rid")->valuestring, "lg-2-000001", "rid");
	ASSERT_TRUE(!get(b, "messages") && !get(b, "text"), "no other API's fields");
	cJSON_Delete(b);

	b = body_of(LG_API_COMPLETIONS, false, "x");
	ASSERT_TRUE(cJSON_IsFalse(get(b, "stream")), "stream off");
	ASSERT_TRUE(!get(b, "stream_options"), "no stream_options when not streaming");
	cJSON_Delete(b);
}

static void test_chat_body(void)
{
	cJSON *b = body_of(LG_API_CHAT, false, "lg-3-000002");
	const cJSON *m = get(b, "messages"), *m0 = cJSON_GetArrayItem(m, 0);

	ASSERT_EQ(cJSON_GetArraySize(m), 1, "one message");
	ASSERT_STREQ(get(m0, "role")->valuestring, "user", "role user");
	ASSERT_STREQ(get(m0, "content")->valuestring, "hello big world", "content");
	ASSERT_EQ(get(b, "max_tokens")->valueint, 7, "max_tokens");
	ASSERT_STREQ(get(b, "model")->valuestring, "tiny", "model");
	ASSERT_STREQ(get(b, "rid")->valuestring, "lg-3-000002", "rid");
	ASSERT_TRUE(!get(b, "prompt"), "no prompt field");
	ASSERT_TRUE(cJSON_IsFalse(get(b, "stream")), "stream off");
	cJSON_Delete(b);

	b = body_of(LG_API_CHAT, true, "lg-3-000003");
	ASSERT_TRUE(cJSON_IsTrue(get(b, "stream")), "stream on");
	ASSERT_TRUE(cJSON_IsTrue(get(get(b, "stream_options"), "include_usage")),
		    "usage asked for when streaming");
	ASSERT_STREQ(get(b, "rid")->valuestring, "lg-3-000003", "rid when streaming");
	cJSON_Delete(b);
}

static void test_ids_and_headers(void)
{
	char rid[64], hdr[96], p1[32], p2[32];
	struct lg_req_opts o = { .api = LG_API_GENERATE };
	char *body;
	cJSON *b;

	ASSERT_EQ(lg_request_id(rid, sizeof(rid), "lg-abc", 42), 0, "id fits");
	ASSERT_STREQ(rid, "lg-abc-000042", "id format");
	ASSERT_EQ(lg_request_id_header(hdr, sizeof(hdr), rid), 0, "header fits");
	ASSERT_STREQ(hdr, "X-Request-Id: lg-abc-000042", "header");
	body = lg_request_body(&o, "p", 1, rid);
	b = cJSON_Parse(body);
	ASSERT_STREQ(get(b, "rid")->valuestring, hdr + strlen("X-Request-Id: "),
		     "body rid equals the header's id");
	cJSON_Delete(b);
	free(body);
	ASSERT_TRUE(lg_request_id(rid, 8, "long-prefix", 1) < 0, "overflow reported");

	lg_run_prefix(p1, sizeof(p1), 0x123456789abcULL);
	lg_run_prefix(p2, sizeof(p2), 0x123456789abdULL);
	ASSERT_STREQ(p1, "lg-123456789abc", "run prefix from entropy");
	ASSERT_TRUE(strcmp(p1, p2), "other entropy, other prefix");
}

static void test_api_and_url(void)
{
	enum lg_api api;
	char url[128];

	ASSERT_EQ(lg_api_from_path("/generate"), LG_API_GENERATE, "generate");
	ASSERT_EQ(lg_api_from_path("/v1/completions"), LG_API_COMPLETIONS, "completions");
	ASSERT_EQ(lg_api_from_path("/v1/chat/completions/"), LG_API_CHAT, "chat, trailing slash");
	ASSERT_EQ(lg_api_from_path("/v1/chat/completions?x=1"), LG_API_CHAT, "chat, query");
	ASSERT_EQ(lg_api_from_backend("openai-chat", &api), 0, "backend openai-chat");
	ASSERT_EQ(api, LG_API_CHAT, "openai-chat is chat");
	ASSERT_TRUE(lg_api_from_backend("vllm", &api) < 0, "unknown backend");
	ASSERT_STREQ(lg_api_default_path(LG_API_COMPLETIONS), "/v1/completions", "default path");
	lg_join_url(url, sizeof(url), "http://h:1/", "/generate");
	ASSERT_STREQ(url, "http://h:1/generate", "one slash");
	lg_join_url(url, sizeof(url), "http://h:1/api", "v1/completions");
	ASSERT_STREQ(url, "http://h:1/api/v1/completions", "slash added");
}

static void test_random_dataset(void)
{
	struct lg_dataset_opts o = {
		.num_requests = 200, .input_len = 30, .output_len = 10,
		.range_ratio = 0.5, .seed = 9,
	};
	struct lg_dataset a, b;
	int in_range = 1, counted = 1, same = 1;

	ASSERT_EQ(lg_dataset_random(&a, &o), 0, "random dataset");
	ASSERT_EQ(lg_dataset_random(&b, &o), 0, "again");
	ASSERT_EQ(a.n, 200, "n items");
	for (size_t i = 0; i < a.n; i++) {
		in_range &= a.items[i].input_len >= 15 && a.items[i].input_len <= 30;
		in_range &= a.items[i].output_len >= 5 && a.items[i].output_len <= 10;
		counted &= (int)lg_count_words(a.items[i].prompt) == a.items[i].input_len;
		same &= !strcmp(a.items[i].prompt, b.items[i].prompt);
	}
	ASSERT_TRUE(in_range, "lengths within [len*ratio, len]");
	ASSERT_TRUE(counted, "prompt has input_len words");
	ASSERT_TRUE(same, "seeded");
	lg_dataset_free(&a);
	lg_dataset_free(&b);
	ASSERT_EQ(lg_count_words("  a\tb \n c  "), 3, "split() semantics");
}

static void test_file_datasets(void)
{
	const char *share =
		"[{\"conversations\":[{\"from\":\"human\",\"value\":\"one two three\"},"
		"{\"from\":\"gpt\",\"value\":\"a b c d e\"}]},"
		"{\"conversations\":[{\"from\":\"human\",\"value\":\"only\"}]},"
		"{\"conversations\":[{\"from\":\"human\",\"value\":\"x y\"},"
		"{\"from\":\"gpt\",\"value\":\"z\"}]}]";
	const char *custom =
		"[{\"prompt\":\"p q r\",\"completion\":\"c1 c2\",\"id\":\"item-1\"},"
		"{\"prompt\":\"s\",\"id\":7}]";
	struct lg_dataset_opts o = { .num_requests = 5, .output_len = 33, .seed = 1 };
	struct lg_dataset ds;
	char err[128] = "";
	int saw3 = 0, saw2 = 0;

	ASSERT_EQ(lg_dataset_sharegpt(&ds, share, &o, err, sizeof(err)), 0, "sharegpt");
	ASSERT_EQ(ds.n, 5, "cycled to 5");
	for (size_t i = 0; i < ds.n; i++) {
		if (ds.items[i].input_len == 3) {
			saw3++;
			ASSERT_EQ(ds.items[i].output_len, 5, "output from reply words");
		} else if (ds.items[i].input_len == 2) {
			saw2++;
		}
	}
	ASSERT_TRUE(saw3 && saw2 && saw3 + saw2 == 5, "two usable entries, one-turn entry skipped");
	lg_dataset_free(&ds);

	o.output_len_override = 4;
	ASSERT_EQ(lg_dataset_custom(&ds, custom, &o, err, sizeof(err)), 0, "custom");
	ASSERT_STREQ(ds.items[0].dataset_id, "item-1", "string id kept");
	ASSERT_STREQ(ds.items[1].dataset_id, "7", "numeric id kept");
	ASSERT_EQ(ds.items[0].output_len, 4, "override");
	ASSERT_STREQ(ds.items[2].prompt, "p q r", "in order, cycled");
	lg_dataset_free(&ds);

	o.output_len_override = 0;
	ASSERT_EQ(lg_dataset_custom(&ds, custom, &o, err, sizeof(err)), 0, "custom again");
	ASSERT_EQ(ds.items[0].output_len, 2, "completion words");
	ASSERT_EQ(ds.items[1].output_len, 33, "no completion: default");
	lg_dataset_free(&ds);

	ASSERT_TRUE(lg_dataset_custom(&ds, "{\"prompt\":1}", &o, err, sizeof(err)) < 0,
		    "not a list");
	ASSERT_TRUE(strstr(err, "list") != NULL, "says a list was expected");
	lg_dataset_free(&ds);
	ASSERT_TRUE(lg_dataset_sharegpt(&ds, "[1,", &o, err, sizeof(err)) < 0, "bad JSON");
	ASSERT_TRUE(strstr(err, "invalid JSON") != NULL, "says invalid JSON");
	lg_dataset_free(&ds);
}

void test_area_loadgen_request(void)
{
	RUN_SUBTEST(test_generate_body);
	RUN_SUBTEST(test_completions_body);
	RUN_SUBTEST(test_chat_body);
	RUN_SUBTEST(test_ids_and_headers);
	RUN_SUBTEST(test_api_and_url);
	RUN_SUBTEST(test_random_dataset);
	RUN_SUBTEST(test_file_datasets);
}

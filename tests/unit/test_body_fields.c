// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Request and response body fields: SGLang native and OpenAI shapes,
 * streaming merges, errors, batches, cut and odd bodies. */
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "proto/body_fields.h"

static void req(const char *body, bool keep_text, struct request_fields *out)
{
	request_fields_parse(body, strlen(body), keep_text, out);
}

static int merge(struct response_fields *rf, const char *json)
{
	return response_fields_merge(rf, json, strlen(json));
}

static void test_generate(void)
{
	struct request_fields r;

	req("{\"text\":\"The capital of  France\\n is\",\"rid\":\"abc-1\","
	    "\"sampling_params\":{\"max_new_tokens\":16,\"temperature\":0},"
	    "\"stream\":true}", false, &r);
	ASSERT_TRUE(r.parsed, "generate parsed");
	ASSERT_STREQ(r.rid, "abc-1", "generate rid");
	ASSERT_EQ(r.input_words, 5, "prompt.split() words");
	ASSERT_EQ(r.max_tokens, 16, "sampling_params.max_new_tokens");
	ASSERT_EQ(r.stream, 1, "stream true");
	ASSERT_EQ(r.n, 1, "n defaults to 1");
	ASSERT_TRUE(r.fingerprint != 0, "fingerprint set");
	ASSERT_TRUE(r.prompt == NULL, "no text kept without keep_text");

	/* A numeric rid is printed as an integer; a batch's first rid counts. */
	req("{\"text\":[\"a b\",\"c\"],\"rid\":[\"r0\",\"r1\"]}", false, &r);
	ASSERT_STREQ(r.rid, "r0", "batch: first rid");
	ASSERT_EQ(r.input_words, 3, "batch: words of every prompt");
	ASSERT_EQ(r.max_tokens, -1, "no max_new_tokens: unknown");
	ASSERT_EQ(r.stream, -1, "no stream: unknown");
	req("{\"text\":\"x\",\"rid\":42}", false, &r);
	ASSERT_STREQ(r.rid, "42", "numeric rid");
	req("{\"text\":\"x\",\"stream\":false,\"sampling_params\":{\"n\":3}}",
	    false, &r);
	ASSERT_EQ(r.stream, 0, "stream false");
	ASSERT_EQ(r.n, 3, "sampling_params.n");
}

static void test_completions(void)
{
	struct request_fields r;

	req("{\"model\":\"m\",\"prompt\":\"one two three\",\"max_tokens\":7,"
	    "\"n\":2,\"stream\":false}", false, &r);
	ASSERT_TRUE(r.parsed, "completions parsed");
	ASSERT_STREQ(r.rid, "", "no rid");
	ASSERT_EQ(r.input_words, 3, "prompt words");
	ASSERT_EQ(r.max_tokens, 7, "max_tokens");
	ASSERT_EQ(r.n, 2, "top-level n");
	ASSERT_EQ(r.stream, 0, "stream false");

	/* sampling_params wins over the top level; then max_tokens, then
	 * max_completion_tokens. */
	req("{\"prompt\":\"a\",\"max_tokens\":7,"
	    "\"sampling_params\":{\"max_new_tokens\":9}}", false, &r);
	ASSERT_EQ(r.max_tokens, 9, "max_new_tokens before max_tokens");
	req("{\"prompt\":\"a\",\"max_completion_tokens\":11}", false, &r);
	ASSERT_EQ(r.max_tokens, 11, "max_completion_tokens");
	req("{\"prompt\":\"a\",\"max_tokens\":\"7\"}", false, &r);
	ASSERT_EQ(r.max_tokens, -1, "a string max_tokens is unknown");
	/* "text" is taken before "prompt". */
	req("{\"text\":\"a b c d\",\"prompt\":\"e\"}", false, &r);
	ASSERT_EQ(r.input_words, 4, "text before prompt");
}

static void test_chat(void)
{
	struct request_fields r;

	req("{\"model\":\"m\",\"messages\":["
	    "{\"role\":\"system\",\"content\":\"be brief\"},"
	    "{\"role\":\"user\",\"content\":\"hello there world\"}],"
	    "\"max_tokens\":5,\"stream\":true}", true, &r);
	ASSERT_TRUE(r.parsed, "chat parsed");
	ASSERT_EQ(r.input_words, 5, "words of every message");
	ASSERT_EQ(r.max_tokens, 5, "chat max_tokens");
	ASSERT_EQ(r.stream, 1, "chat stream");
	if (ASSERT_TRUE(r.prompt != NULL, "keep_text keeps the messages"))
		ASSERT_STREQ(r.prompt, "be brief\nhello there world",
			     "messages joined by newlines");
	free(r.prompt);

	/* A message whose content is not a string adds nothing. */
	req("{\"messages\":[{\"role\":\"user\",\"content\":[1,2]},"
	    "{\"role\":\"user\",\"content\":\"x\"}]}", false, &r);
	ASSERT_EQ(r.input_words, 1, "non-string content skipped");
	req("{\"messages\":\"not a list but a string\"}", false, &r);
	ASSERT_EQ(r.input_words, 6, "messages as a string");
	req("{\"messages\":{\"content\":\"x\"}}", false, &r);
	ASSERT_EQ(r.input_words, -1, "messages as an object: unknown");
}

static void test_fingerprint(void)
{
	struct request_fields a, b, c, d;

	req("{\"text\":\"same words\",\"sampling_params\":{\"max_new_tokens\":8}}",
	    false, &a);
	req("{\"sampling_params\":{\"max_new_tokens\":8},\"rid\":\"z\","
	    "\"text\":\"same words\"}", false, &b);
	req("{\"text\":\"same words\",\"sampling_params\":{\"max_new_tokens\":9}}",
	    false, &c);
	req("{\"text\":\"other words\",\"sampling_params\":{\"max_new_tokens\":8}}",
	    false, &d);
	ASSERT_TRUE(a.fingerprint == b.fingerprint, "key order and rid ignored");
	ASSERT_TRUE(a.fingerprint != c.fingerprint, "max tokens counts");
	ASSERT_TRUE(a.fingerprint != d.fingerprint, "prompt counts");
	req("{\"model\":\"m\"}", false, &a);
	ASSERT_TRUE(a.parsed, "object without prompt parsed");
	ASSERT_EQ(a.fingerprint, 0, "no prompt, no max tokens: no fingerprint");
	ASSERT_EQ(a.input_words, -1, "no prompt: words unknown");
}

static void test_keep_text(void)
{
	struct request_fields r;
	char *big = malloc(3 * PROMPT_KEEP_MAX);
	size_t i, len;

	req("{\"text\":[\"first\",\"second\"]}", true, &r);
	if (ASSERT_TRUE(r.prompt != NULL, "batch text kept"))
		ASSERT_STREQ(r.prompt, "first\nsecond", "batch prompts joined");
	free(r.prompt);

	if (!ASSERT_TRUE(big != NULL, "malloc"))
		return;
	len = snprintf(big, 16, "{\"text\":\"");
	for (i = 0; i < 5000; i++)		/* "wwww " x 1000 > PROMPT_KEEP_MAX */
		big[len++] = i % 5 == 4 ? ' ' : 'w';
	strcpy(big + len, "\"}");
	req(big, true, &r);
	ASSERT_EQ(r.input_words, 1000, "all words counted");
	if (ASSERT_TRUE(r.prompt != NULL, "long prompt kept"))
		ASSERT_EQ(strlen(r.prompt), PROMPT_KEEP_MAX - 2,
			  "kept text bounded by PROMPT_KEEP_MAX");
	free(r.prompt);
	free(big);
}

static void test_request_not_json(void)
{
	static const char cut[] = "{\"text\":\"abc\",\"rid\":\"r1\",\"samp";
	struct request_fields r;

	request_fields_parse(cut, sizeof(cut) - 1, true, &r);
	ASSERT_TRUE(!r.parsed, "truncated body: not parsed");
	ASSERT_STREQ(r.rid, "", "truncated body: no rid");
	ASSERT_EQ(r.input_words, -1, "truncated body: words unknown");
	ASSERT_EQ(r.max_tokens, -1, "truncated body: max unknown");
	ASSERT_EQ(r.stream, -1, "truncated body: stream unknown");
	ASSERT_TRUE(r.prompt == NULL, "truncated body: nothing kept");
	req("[{\"text\":\"a\"}]", false, &r);
	ASSERT_TRUE(!r.parsed, "top-level array is no request object");
	request_fields_parse("", 0, false, &r);
	ASSERT_TRUE(!r.parsed, "empty body");
	/* len bounds the parse: bytes past it are not read. */
	request_fields_parse("{\"text\":\"a\"}garbage", 12, false, &r);
	ASSERT_TRUE(r.parsed, "len bounds the body");
	ASSERT_EQ(r.input_words, 1, "len-bounded body words");
}

static void test_native_meta_info(void)
{
	struct response_fields rf;
	int m;

	response_fields_init(&rf);
	ASSERT_EQ(rf.prompt_tokens, -1, "init: prompt unknown");
	ASSERT_EQ(rf.total_tokens, -1, "init: total unknown");
	/* Streamed /generate: cumulative text and counts, latest wins. */
	m = merge(&rf, "{\"text\":\"Hel\",\"meta_info\":{\"id\":\"sg-1\","
		  "\"prompt_tokens\":6,\"completion_tokens\":1}}");
	ASSERT_EQ(m, MERGE_TEXT | MERGE_TOKEN | MERGE_NATIVE, "native chunk");
	m = merge(&rf, "{\"text\":\"Hello\",\"meta_info\":{\"id\":\"sg-2\","
		  "\"prompt_tokens\":6,\"completion_tokens\":3}}");
	ASSERT_TRUE(rf.parsed, "parsed");
	ASSERT_STREQ(rf.sglang_id, "sg-1", "first id kept");
	ASSERT_EQ(rf.prompt_tokens, 6, "prompt tokens");
	ASSERT_EQ(rf.completion_tokens, 3, "latest completion tokens");
	ASSERT_EQ(rf.total_tokens, 9, "total computed");
	ASSERT_TRUE(rf.has_text, "has text");
	ASSERT_STREQ(rf.error, "", "no error");

	response_fields_init(&rf);
	m = merge(&rf, "{\"text\":\"\",\"meta_info\":{\"id\":\"x\"}}");
	ASSERT_EQ(m, MERGE_TOKEN | MERGE_NATIVE, "empty text: token, no text");
	ASSERT_TRUE(!rf.has_text, "empty text");
	ASSERT_EQ(rf.total_tokens, -1, "no counts: total unknown");
}

static void test_openai_usage(void)
{
	struct response_fields rf;
	int m;

	response_fields_init(&rf);
	m = merge(&rf, "{\"id\":\"cmpl-1\",\"object\":\"chat.completion.chunk\","
		  "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
		  "\"content\":\"\"},\"finish_reason\":null}]}");
	ASSERT_EQ(m, 0, "role-only opening chunk carries no token");
	m = merge(&rf, "{\"id\":\"cmpl-1\",\"choices\":[{\"index\":0,"
		  "\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}");
	ASSERT_EQ(m, MERGE_TEXT | MERGE_TOKEN, "content chunk");
	m = merge(&rf, "{\"id\":\"cmpl-1\",\"choices\":[{\"index\":0,"
		  "\"delta\":{},\"finish_reason\":\"stop\"}]}");
	ASSERT_EQ(m, 0, "closing chunk carries no token");
	m = merge(&rf, "{\"id\":\"cmpl-1\",\"choices\":[],\"usage\":{"
		  "\"prompt_tokens\":4,\"completion_tokens\":2,"
		  "\"total_tokens\":6}}");
	ASSERT_EQ(m, 0, "usage chunk");
	ASSERT_STREQ(rf.sglang_id, "cmpl-1", "OpenAI id");
	ASSERT_EQ(rf.prompt_tokens, 4, "usage prompt");
	ASSERT_EQ(rf.completion_tokens, 2, "usage completion");
	ASSERT_EQ(rf.total_tokens, 6, "usage total");
	ASSERT_TRUE(rf.has_text, "text seen");

	/* Non-streamed completion and chat bodies. */
	response_fields_init(&rf);
	m = merge(&rf, "{\"id\":\"c2\",\"choices\":[{\"text\":\" Paris\","
		  "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":3,"
		  "\"completion_tokens\":1,\"total_tokens\":4}}");
	ASSERT_EQ(m, MERGE_TEXT | MERGE_TOKEN, "completion body");
	ASSERT_EQ(rf.total_tokens, 4, "completion total");
	response_fields_init(&rf);
	m = merge(&rf, "{\"id\":\"c3\",\"choices\":[{\"message\":{\"role\":"
		  "\"assistant\",\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}");
	ASSERT_EQ(m, MERGE_TEXT | MERGE_TOKEN, "chat body");
	ASSERT_EQ(rf.prompt_tokens, -1, "no usage: unknown");
	/* A count of the wrong type leaves the value unknown. */
	response_fields_init(&rf);
	merge(&rf, "{\"usage\":{\"prompt_tokens\":\"4\",\"total_tokens\":null}}");
	ASSERT_EQ(rf.prompt_tokens, -1, "string count ignored");
	ASSERT_EQ(rf.total_tokens, -1, "null count ignored");
}

static void test_errors(void)
{
	struct response_fields rf;

	response_fields_init(&rf);
	merge(&rf, "{\"error\":{\"message\":\"bad input\",\"code\":400}}");
	ASSERT_STREQ(rf.error, "bad input", "error.message");
	merge(&rf, "{\"error\":\"later\"}");
	ASSERT_STREQ(rf.error, "bad input", "first error kept");

	response_fields_init(&rf);
	merge(&rf, "{\"error\":\"plain\"}");
	ASSERT_STREQ(rf.error, "plain", "error string");
	response_fields_init(&rf);
	merge(&rf, "{\"object\":\"error\",\"message\":\"oai\",\"code\":400}");
	ASSERT_STREQ(rf.error, "oai", "object=error message");
	response_fields_init(&rf);
	merge(&rf, "{\"detail\":\"Not Found\"}");
	ASSERT_STREQ(rf.error, "Not Found", "FastAPI detail");
	response_fields_init(&rf);
	merge(&rf, "{\"error\":{\"code\":500}}");
	ASSERT_STREQ(rf.error, "error", "error object without message");
	response_fields_init(&rf);
	merge(&rf, "{\"detail\":\"x\",\"meta_info\":{\"id\":\"a\"}}");
	ASSERT_STREQ(rf.error, "", "detail beside meta_info is no error");
	response_fields_init(&rf);
	merge(&rf, "{\"object\":\"list\",\"message\":\"m\"}");
	ASSERT_STREQ(rf.error, "", "message without object=error");
}

static void test_batch(void)
{
	struct response_fields rf;
	int m;

	response_fields_init(&rf);
	m = merge(&rf, "[{\"text\":\"a\",\"meta_info\":{\"id\":\"b0\","
		  "\"prompt_tokens\":3,\"completion_tokens\":2}},"
		  "7,"
		  "{\"text\":\"\",\"meta_info\":{\"id\":\"b1\","
		  "\"prompt_tokens\":4,\"completion_tokens\":5}}]");
	ASSERT_EQ(m, MERGE_TEXT | MERGE_TOKEN | MERGE_NATIVE, "batch mask");
	ASSERT_TRUE(rf.parsed, "batch parsed");
	ASSERT_STREQ(rf.sglang_id, "b0", "batch: first id");
	ASSERT_EQ(rf.prompt_tokens, 7, "batch prompt sum");
	ASSERT_EQ(rf.completion_tokens, 7, "batch completion sum");
	ASSERT_EQ(rf.total_tokens, 14, "batch total");
	ASSERT_TRUE(rf.has_text, "batch text");

	response_fields_init(&rf);
	merge(&rf, "[{\"text\":\"a\",\"meta_info\":{\"prompt_tokens\":3}},"
		  "{\"error\":{\"message\":\"second failed\"}}]");
	ASSERT_EQ(rf.prompt_tokens, 3, "batch: the known counts add");
	ASSERT_EQ(rf.completion_tokens, -1, "batch: none known stays unknown");
	ASSERT_EQ(rf.total_tokens, -1, "batch: total needs both");
	ASSERT_STREQ(rf.error, "second failed", "batch: an item's error");

	response_fields_init(&rf);
	m = merge(&rf, "[]");
	ASSERT_EQ(m, 0, "empty batch");
	ASSERT_TRUE(rf.parsed, "empty batch parsed");
	ASSERT_EQ(rf.prompt_tokens, -1, "empty batch counts unknown");
}

static void test_response_not_json(void)
{
	static const char cut[] = "{\"text\":\"abc\",\"meta_info\":{\"id\":\"x\","
				  "\"prompt_tokens\":5";
	struct response_fields rf;

	response_fields_init(&rf);
	ASSERT_EQ(response_fields_merge(&rf, cut, sizeof(cut) - 1), 0,
		  "truncated JSON: nothing merged");
	ASSERT_TRUE(!rf.parsed, "truncated JSON: not parsed");
	ASSERT_STREQ(rf.sglang_id, "", "truncated JSON: no id");
	ASSERT_EQ(rf.prompt_tokens, -1, "truncated JSON: no count");
	ASSERT_EQ(merge(&rf, "[DONE]"), 0, "[DONE] is not JSON");
	ASSERT_EQ(merge(&rf, "\"a string\""), 0, "a JSON string");
	ASSERT_TRUE(!rf.parsed, "scalars are no response");
	/* After a good chunk, a cut one changes nothing. */
	merge(&rf, "{\"meta_info\":{\"id\":\"x\",\"prompt_tokens\":5,"
		  "\"completion_tokens\":1}}");
	response_fields_merge(&rf, cut, sizeof(cut) - 1);
	ASSERT_EQ(rf.completion_tokens, 1, "good counts kept");
	ASSERT_TRUE(rf.parsed, "still parsed");
}

/* Fuzz find: casting a JSON number outside the long long range is
 * undefined (UBSan float-cast-overflow), and so are sums that overflow.
 * Such a count is unknown; a huge n saturates. */
static void test_out_of_range_numbers(void)
{
	struct response_fields rf;
	struct request_fields r;

	response_fields_init(&rf);
	merge(&rf, "{\"usage\":{\"prompt_tokens\":88888888888888888885}}");
	ASSERT_EQ(rf.prompt_tokens, -1, "2^66-ish prompt_tokens: unknown");
	merge(&rf, "{\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":-1e300,"
		  "\"total_tokens\":1e999}}");
	ASSERT_EQ(rf.prompt_tokens, 5, "in range: taken");
	ASSERT_EQ(rf.completion_tokens, -1, "-1e300: unknown");
	ASSERT_EQ(rf.total_tokens, -1, "inf: unknown");
	merge(&rf, "{\"usage\":{\"prompt_tokens\":9223372036854775808}}");
	ASSERT_EQ(rf.prompt_tokens, -1, "2^63: unknown");
	merge(&rf, "{\"usage\":{\"prompt_tokens\":4611686018427387904}}");
	ASSERT_EQ(rf.prompt_tokens, 4611686018427387904LL, "2^62: exact");

	/* A later out-of-range value replaces a known one: latest wins. */
	response_fields_init(&rf);
	merge(&rf, "{\"meta_info\":{\"prompt_tokens\":3,\"completion_tokens\":1}}");
	merge(&rf, "{\"meta_info\":{\"prompt_tokens\":3,"
		  "\"completion_tokens\":1e30}}");
	ASSERT_EQ(rf.completion_tokens, -1, "meta_info 1e30: unknown");

	/* prompt + completion past LLONG_MAX. */
	response_fields_init(&rf);
	merge(&rf, "{\"meta_info\":{\"prompt_tokens\":9.2e18,"
		  "\"completion_tokens\":9.2e18}}");
	ASSERT_EQ(rf.prompt_tokens, 9200000000000000000LL, "9.2e18 fits");
	ASSERT_EQ(rf.total_tokens, -1, "overflowing total: unknown");

	/* Batch sums that overflow stay unknown, even after a small item. */
	response_fields_init(&rf);
	merge(&rf, "[{\"meta_info\":{\"prompt_tokens\":9.2e18,\"completion_tokens\":1}},"
		  "{\"meta_info\":{\"prompt_tokens\":9.2e18,\"completion_tokens\":2}},"
		  "{\"meta_info\":{\"prompt_tokens\":1,\"completion_tokens\":3}}]");
	ASSERT_EQ(rf.prompt_tokens, -1, "overflowing batch sum: unknown");
	ASSERT_EQ(rf.completion_tokens, 6, "the other sum adds up");
	ASSERT_EQ(rf.total_tokens, -1, "total of an unknown: unknown");

	req("{\"prompt\":\"a\",\"max_tokens\":1e19,\"n\":1e12}", false, &r);
	ASSERT_EQ(r.max_tokens, -1, "max_tokens 1e19: unknown");
	ASSERT_EQ(r.n, 2147483647, "n 1e12 saturates");
	req("{\"prompt\":\"a\",\"sampling_params\":{\"max_new_tokens\":-1e19,"
	    "\"n\":-1e12}}", false, &r);
	ASSERT_EQ(r.max_tokens, -1, "max_new_tokens -1e19: unknown");
	ASSERT_EQ(r.n, -2147483647 - 1, "n -1e12 saturates");
	req("{\"prompt\":\"a\",\"max_tokens\":1e999,\"n\":1e999}", false, &r);
	ASSERT_EQ(r.max_tokens, -1, "max_tokens inf: unknown");
	ASSERT_EQ(r.n, 2147483647, "n inf saturates");
	req("{\"prompt\":\"a\",\"max_tokens\":12.9,\"n\":2.5}", false, &r);
	ASSERT_EQ(r.max_tokens, 12, "fractions truncate");
	ASSERT_EQ(r.n, 2, "fractional n truncates");
}

static void test_count_words(void)
{
	ASSERT_EQ(count_words(""), 0, "empty");
	ASSERT_EQ(count_words(" \t\n\r\f\v"), 0, "only spaces");
	ASSERT_EQ(count_words("a"), 1, "one");
	ASSERT_EQ(count_words("  a\tb\n\nc  "), 3, "runs of whitespace");
	ASSERT_EQ(count_words("caf\xc3\xa9 \xe2\x80\x83x"), 2,
		  "non-ASCII space is no separator (bytes)");
}

/* prompt.split() a byte at a time, as the counter was before it went
 * eight bytes a step. */
static int words_bytewise(const char *s)
{
	int words = 0;
	bool in_word = false;

	for (; *s; s++) {
		bool space = *s == ' ' || (*s >= '\t' && *s <= '\r');

		words += !space && !in_word;
		in_word = !space;
	}
	return words;
}

/* Eight bytes a step against a byte at a time: every length and start
 * alignment, words across the steps' edges, and the bytes next to the
 * spaces' values (0x08, 0x0e, 0x1f, 0x21) or equal to them but for the
 * top bit (0x89, 0x8d, 0xa0), which are no spaces. */
/* len random bytes at p, terminated: mostly spaces and their near
 * misses when spacey, else mostly words. Counts against a byte at a time. */
static bool count_matches(char *p, size_t len, bool spacey, uint64_t *x)
{
	static const char alphabet[] = " \t\n\v\f\r\x08\x0e\x1f!\x89\x8d\xa0\xff" "aZ";

	for (size_t i = 0; i < len; i++) {
		*x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
		p[i] = spacey ? alphabet[*x % (sizeof(alphabet) - 1)]
			      : (*x % 5 ? 'w' : alphabet[*x % 6]);
	}
	p[len] = 0;
	return count_words(p) == words_bytewise(p);
}

static void test_count_words_steps(void)
{
	char buf[80];
	uint64_t x = 0x9E3779B97F4A7C15ULL;
	int bad = 0, runs = 0;

	for (int round = 0; round < 4000; round++) {
		size_t off = round % 8, len = (round / 8) % 64;

		/* half the rounds mostly words, half mostly spaces */
		bad += !count_matches(buf + off, len, round & 1, &x);
		runs++;
	}
	ASSERT_EQ(bad, 0, "the same count as a byte at a time (4000 strings)");
	ASSERT_EQ(runs, 4000, "all ran");
	ASSERT_EQ(count_words("\x89\x8d\xa0\x08\x0e\x1f!"), 1, "near-spaces are one word");
	ASSERT_EQ(count_words("aaaaaaa bbbbbbbb\tccccccc\x0b\x0c"), 3, "words across the steps");
}

/* Sixteen bytes a step (SSE2) on long strings: every length near the
 * step, and past 255 steps, where each lane's count is folded before it
 * can wrap (" a" repeated gives one lane a start in every step). */
static void test_count_words_long(void)
{
	size_t max = 10000;
	char *buf = malloc(max + 16);
	uint64_t x = 0x2545F4914F6CDD1DULL;
	int bad = 0, runs = 0;

	for (size_t len = 0; len < max; len += len < 300 ? 1 : 997) {
		for (size_t off = 0; off < 16; off += 5) {
			bad += !count_matches(buf + off, len, len & 1, &x);
			runs++;
		}
	}
	ASSERT_EQ(bad, 0, "long strings: the same count as a byte at a time");
	ASSERT_TRUE(runs > 1000, "all lengths ran");
	for (size_t i = 0; i < max; i++)
		buf[i] = i & 1 ? 'a' : ' ';
	buf[max] = 0;
	ASSERT_EQ(count_words(buf), (int)(max / 2), "a start in every step of one lane, 625 steps");
	free(buf);
}

/* A chat body of about n bytes, its words told apart by tag. */
static char *chat_body(size_t n, char tag, size_t *len)
{
	char *b = malloc(n + 128);
	size_t k = (size_t)sprintf(b, "{\"messages\":[{\"role\":\"user\",\"content\":\"");

	for (size_t w = 1; k < n; w++) {
		b[k++] = tag;
		b[k++] = w % 16 ? 'w' : '\\';
		b[k++] = w % 16 ? ' ' : 'n';	/* "\\n" between some words */
	}
	k += (size_t)sprintf(b + k, "\"}],\"max_tokens\":7}");
	*len = k;
	return b;
}

/* Prompts of KiBs are kept too (a copy each, within 4 MiB a thread): the
 * worker's read of the router's bytes comes from the memo, the same. */
static void test_big_body_memo(void)
{
	struct request_fields a, b;
	size_t la, lb, lc;
	char *pa = chat_body(8192, 'a', &la), *pb = chat_body(3u << 20, 'b', &lb);
	char *pc = chat_body(3u << 20, 'c', &lc);
	uint64_t hits = body_fields_memo_hits();

	request_fields_parse(pa, la, false, &a);
	request_fields_parse(pa, la, false, &b);
	ASSERT_EQ(body_fields_memo_hits() - hits, 1, "an 8 KiB body read twice: once from the memo");
	ASSERT_TRUE(a.input_words > 2000 && a.input_words == b.input_words &&
		    a.fingerprint == b.fingerprint && a.max_tokens == 7 && b.max_tokens == 7,
		    "the same fields either way");
	pa[40] = 'z';	/* the same length, other bytes: read again */
	request_fields_parse(pa, la, false, &b);
	ASSERT_EQ(body_fields_memo_hits() - hits, 1, "a changed body is no hit");
	ASSERT_TRUE(a.fingerprint != b.fingerprint, "and its own fingerprint");
	/* a byte the memo's key does not sample (it samples the ends and 32
	 * words): the bytes are compared, so no hit either */
	pa[40] = 'a';
	request_fields_parse(pa, la, false, &a);
	hits = body_fields_memo_hits();
	pa[la / 2 + 3] = pa[la / 2 + 3] == ' ' ? 'q' : ' ';
	request_fields_parse(pa, la, false, &b);
	ASSERT_EQ(body_fields_memo_hits() - hits, 0, "a change between the key's samples is no hit");
	ASSERT_TRUE(a.input_words != b.input_words && a.fingerprint != b.fingerprint,
		    "and is read afresh");
	pa[la / 2 + 3] = pa[la / 2 + 3] == ' ' ? 'q' : ' ';
	request_fields_parse(pa, la, false, &b);
	ASSERT_EQ(body_fields_memo_hits() - hits, 0, "the original again: its slot was taken");
	request_fields_parse(pa, la, false, &b);
	ASSERT_EQ(body_fields_memo_hits() - hits, 1, "then a hit");
	ASSERT_TRUE(a.input_words == b.input_words && a.fingerprint == b.fingerprint, "same fields");

	/* 3 MiB fits the 4 MiB budget; a second 3 MiB does not */
	request_fields_parse(pb, lb, false, &a);
	request_fields_parse(pc, lc, false, &a);
	hits = body_fields_memo_hits();
	request_fields_parse(pb, lb, false, &b);
	request_fields_parse(pc, lc, false, &b);
	ASSERT_EQ(body_fields_memo_hits() - hits, 1, "past the budget a body is not kept");
	ASSERT_TRUE(b.input_words > 1000000, "and is read in full");
	body_fields_thread_done();	/* frees the copies (valgrind: make unit-valgrind) */
	free(pa);
	free(pb);
	free(pc);
}

/* ---- the streaming scan for a big body's rid ------------------------ */

static const char *scan_pieces(struct body_rid_scan *s, const char *body, size_t len,
			       size_t piece)
{
	body_rid_scan_init(s);
	for (size_t i = 0; i < len; i += piece)
		body_rid_scan_feed(s, body + i, len - i < piece ? len - i : piece);
	return body_rid_scan_result(s);
}

/* The scan agrees with cJSON's whole-body parse on every body, whole,
 * byte by byte, and split in two at every byte. */
static void test_rid_scan_matches_parse(void)
{
	static const char *const bodies[] = {
		"{\"rid\":\"first\",\"text\":\"a b\"}",
		"{\"text\":\"a b\",\"rid\":\"mid\",\"sampling_params\":{\"max_new_tokens\":4}}",
		"{\"text\":\"a b\",\"sampling_params\":{\"max_new_tokens\":4},\"rid\" : \"last\"}",
		/* "rid" inside the prompt text, escaped quotes, a fake key */
		"{\"text\":\"say \\\"rid\\\": \\\"evil\\\" now\",\"rid\":\"real\"}",
		"{\"text\":\"rid\",\"x\":[\"rid\",{\"a\":1}],\"rid\":\"after-values\"}",
		/* backslash runs: an escaped backslash then a real closing quote */
		"{\"text\":\"c:\\\\\",\"rid\":\"after-bs\"}",
		"{\"text\":\"\\\\\\\"rid\\\\\\\":1\",\"rid\":\"odd-run\"}",
		/* nested rid keys are not top-level */
		"{\"sampling_params\":{\"rid\":\"nested\"},\"text\":\"x\"}",
		"{\"messages\":[{\"role\":\"user\",\"rid\":\"in-msg\",\"content\":\"hi\"}]}",
		"{\"sampling_params\":{\"rid\":\"nested\"},\"rid\":\"top\"}",
		/* batches and numbers */
		"{\"text\":[\"a\",\"b\"],\"rid\":[\"r0\",\"r1\"]}",
		"{\"text\":\"x\",\"rid\": 42}",
		"{\"text\":\"x\",\"rid\":null,\"y\":\"rid\"}",
		"{\"text\":\"x\",\"rid\":\"\"}",
		"{\"text\":\"x\",\"rid\":\"esc\\\"aped\"}",
		"{ \"rid\"\n:\t\"spaces\" }",
		"{\"rids\":\"no\",\"ri\":\"no\",\"xrid\":\"no\"}",
		"[{\"rid\":\"array-root\"}]",
		"\"rid\"",
		"{}",
		"{\"text\":\"x\",\"rid\":true,\"rid\":\"dup\"}",
		"{\"rid\":\"one\",\"rid\":\"two\"}",
		"{\"rid\":[7,\"s\"]}",
		/* a UTF-8 BOM: cJSON skips one at the very start only */
		"\xEF\xBB\xBF{\"text\":\"x\",\"rid\":\"after-bom\"}",
		"\xEF\xBB\xBF {\"rid\":\"bom-then-space\"}",
		" \xEF\xBB\xBF{\"rid\":\"space-then-bom\"}",
		"\xEF\xBB{\"rid\":\"half-a-bom\"}",
	};

	for (size_t b = 0; b < sizeof(bodies) / sizeof(bodies[0]); b++) {
		const char *body = bodies[b];
		size_t len = strlen(body);
		struct request_fields rf;
		struct body_rid_scan s;
		const char *want, *got;
		char what[160];

		request_fields_parse(body, len, false, &rf);
		want = rf.rid[0] ? rf.rid : NULL;
		snprintf(what, sizeof(what), "body %zu whole: %s", b, body);
		got = scan_pieces(&s, body, len, len);
		ASSERT_TRUE(want ? got && !strcmp(got, want) : !got, what);
		snprintf(what, sizeof(what), "body %zu byte by byte", b);
		got = scan_pieces(&s, body, len, 1);
		ASSERT_TRUE(want ? got && !strcmp(got, want) : !got, what);
		for (size_t cut = 1; cut < len; cut++) {
			body_rid_scan_init(&s);
			body_rid_scan_feed(&s, body, cut);
			body_rid_scan_feed(&s, body + cut, len - cut);
			got = body_rid_scan_result(&s);
			snprintf(what, sizeof(what), "body %zu split at %zu", b, cut);
			if (!ASSERT_TRUE(want ? got && !strcmp(got, want) : !got, what))
				break;
		}
	}
}

/* A 1 MB prompt with the rid first, in the middle and last, fed in the
 * pieces a server reads. */
static void test_rid_scan_big_prompt(void)
{
	static const char *const shapes[] = {
		"{\"rid\":\"big-first\",\"text\":\"%s\",\"sampling_params\":{}}",
		"{\"text\":\"%s\",\"rid\":\"big-mid\",\"sampling_params\":{}}",
		"{\"text\":\"%s\",\"sampling_params\":{\"rid\":\"no\"},\"rid\":\"big-last\"}",
	};
	static const char *const want[] = { "big-first", "big-mid", "big-last" };
	size_t words = 1 << 18, len;
	char *text = malloc(words * 5 + 1), *body = malloc(words * 5 + 256);
	struct body_rid_scan s;

	for (size_t i = 0; i < words; i++)
		memcpy(text + 5 * i, i % 7 ? "word " : "\\\"rid", 5);	/* escaped "rid" too */
	text[words * 5] = 0;
	for (int k = 0; k < 3; k++) {
		len = snprintf(body, words * 5 + 256, shapes[k], text);
		ASSERT_STREQ(scan_pieces(&s, body, len, 65536), want[k], want[k]);
		ASSERT_STREQ(scan_pieces(&s, body, len, 4093), want[k], "odd piece size");
	}
	free(text);
	free(body);
}

/* Bytes not captured: a rid before the gap is kept, one after is lost,
 * and said so. */
static void test_rid_scan_gap(void)
{
	const char *body = "{\"rid\":\"kept\",\"text\":\"abc\"}";
	struct body_rid_scan s;

	body_rid_scan_init(&s);
	body_rid_scan_feed(&s, body, 14);
	body_rid_scan_gap(&s);
	ASSERT_STREQ(body_rid_scan_result(&s), "kept", "found before the gap");
	body_rid_scan_init(&s);
	body_rid_scan_feed(&s, "{\"text\":\"ab", 11);
	body_rid_scan_gap(&s);
	body_rid_scan_feed(&s, "c\",\"rid\":\"x\"}", 13);
	ASSERT_TRUE(body_rid_scan_result(&s) == NULL, "not taken after a gap");
	ASSERT_EQ(s.state, RID_LOST, "lost, not absent");
	body_rid_scan_init(&s);
	body_rid_scan_feed(&s, "{\"text\":\"abc\"}", 14);
	body_rid_scan_gap(&s);
	ASSERT_EQ(s.state, RID_SCANNING, "a gap after the end loses nothing");
}

void test_area_body_fields(void)
{
	RUN_SUBTEST(test_generate);
	RUN_SUBTEST(test_completions);
	RUN_SUBTEST(test_chat);
	RUN_SUBTEST(test_fingerprint);
	RUN_SUBTEST(test_keep_text);
	RUN_SUBTEST(test_request_not_json);
	RUN_SUBTEST(test_native_meta_info);
	RUN_SUBTEST(test_openai_usage);
	RUN_SUBTEST(test_errors);
	RUN_SUBTEST(test_batch);
	RUN_SUBTEST(test_response_not_json);
	RUN_SUBTEST(test_out_of_range_numbers);
	RUN_SUBTEST(test_count_words);
	RUN_SUBTEST(test_count_words_steps);
	RUN_SUBTEST(test_count_words_long);
	RUN_SUBTEST(test_big_body_memo);
	RUN_SUBTEST(test_rid_scan_matches_parse);
	RUN_SUBTEST(test_rid_scan_big_prompt);
	RUN_SUBTEST(test_rid_scan_gap);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* json_view against cJSON, which it replaced: the same documents accepted
 * and rejected, the same trees, and the same request and response fields
 * as the cJSON code read them (kept here, verbatim, as the reference), on
 * hand-picked quirks and on many mutations of real bodies. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "proto/body_fields.h"
#include "proto/json_view.h"
#include "test.h"
#include "util/hash.h"
#include "util/str.h"

/* ---- the reference: body_fields.c as it was on cJSON ---------------- */

static const cJSON *get(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* A JSON number as a long long. Casting a double outside the range is
 * undefined behaviour, and a count that big is no count: false, so the
 * caller keeps it unknown. 2^63 is exact in a double; NaN fails too. */
static bool json_ll(const cJSON *item, long long *v)
{
	double d;

	if (!cJSON_IsNumber(item))
		return false;
	d = item->valuedouble;
	if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
		return false;
	*v = (long long)d;
	return true;
}

/* a + b, or -1 (unknown) when either is unknown or the sum overflows. */
static long long add_counts(long long a, long long b)
{
	long long sum;

	if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &sum))
		return -1;
	return sum;
}

static void copy_str(char *dst, size_t len, const cJSON *item)
{
	if (cJSON_IsString(item) && item->valuestring)
		str_copy(dst, len, item->valuestring);
	else if (cJSON_IsNumber(item))
		snprintf(dst, len, "%.0f", item->valuedouble);
}

static void keep(char **dst, const char *s)
{
	size_t have = *dst ? strlen(*dst) : 0, add = strlen(s);
	char *d;

	if (have + 1 >= PROMPT_KEEP_MAX)
		return;
	if (have + add + 2 > PROMPT_KEEP_MAX)
		add = PROMPT_KEEP_MAX - have - 2;
	d = realloc(*dst, have + add + 2);
	if (!d)
		return;
	if (have)
		d[have++] = '\n';
	memcpy(d + have, s, add);
	d[have + add] = 0;
	*dst = d;
}

/* Adds the words of every prompt string and folds them into the hash. */
static void take_prompt(const cJSON *item, int *words, uint64_t *h, char **text)
{
	const cJSON *el;

	if (cJSON_IsString(item)) {
		*words += count_words(item->valuestring);
		uint64_t part = hash_bytes(item->valuestring, strlen(item->valuestring));

		*h = fnv_mix(*h, &part, sizeof(part));
		if (text)
			keep(text, item->valuestring);
		return;
	}
	if (!cJSON_IsArray(item))
		return;
	cJSON_ArrayForEach(el, item) {
		if (cJSON_IsString(el))
			take_prompt(el, words, h, text);
		else if (cJSON_IsObject(el))	/* chat message */
			take_prompt(get(el, "content"), words, h, text);
	}
}

/* Samples asked for: 1 when absent; saturated to the int range (a huge
 * n still asks for more than one). */
static int take_n(const cJSON *item)
{
	double d;

	if (!cJSON_IsNumber(item))
		return 1;
	d = item->valuedouble;
	if (d >= (double)INT_MAX)
		return INT_MAX;
	if (d <= (double)INT_MIN)
		return INT_MIN;
	return d == d ? (int)d : 1;
}

static void ref_request_fields_parse(const char *body, size_t len, bool keep_text,
			  struct request_fields *out)
{
	const cJSON *sp, *prompt, *rid, *mt, *st;
	cJSON *root;
	uint64_t h = FNV_SEED;
	int words = 0;

	memset(out, 0, sizeof(*out));
	out->input_words = -1;
	out->max_tokens = -1;
	out->stream = -1;
	root = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsObject(root))
		goto done;
	out->parsed = true;

	rid = get(root, "rid");
	if (cJSON_IsArray(rid))
		rid = cJSON_GetArrayItem(rid, 0);
	copy_str(out->rid, sizeof(out->rid), rid);

	prompt = get(root, "text");
	if (!prompt)
		prompt = get(root, "prompt");
	if (!prompt)
		prompt = get(root, "messages");
	if (prompt && (cJSON_IsString(prompt) || cJSON_IsArray(prompt))) {
		take_prompt(prompt, &words, &h, keep_text ? &out->prompt : NULL);
		out->input_words = words;
	}

	sp = get(root, "sampling_params");
	mt = sp ? get(sp, "max_new_tokens") : NULL;
	if (!mt)
		mt = get(root, "max_tokens");
	if (!mt)
		mt = get(root, "max_completion_tokens");
	if (!json_ll(mt, &out->max_tokens))
		out->max_tokens = -1;

	mt = sp ? get(sp, "n") : NULL;
	if (!mt)
		mt = get(root, "n");
	out->n = take_n(mt);

	st = get(root, "stream");
	if (cJSON_IsBool(st))
		out->stream = cJSON_IsTrue(st);

	if (words || out->max_tokens >= 0) {
		h = fnv_mix(h, (const char *)&out->max_tokens, sizeof(out->max_tokens));
		out->fingerprint = h ? h : 1;
	}
done:
	cJSON_Delete(root);
}


static bool nonempty_str(const cJSON *item)
{
	return cJSON_IsString(item) && item->valuestring && item->valuestring[0];
}

static void take_error(struct response_fields *rf, const cJSON *obj)
{
	const cJSON *err = get(obj, "error");
	const cJSON *msg = NULL;

	if (rf->error[0])
		return;
	if (cJSON_IsString(err))
		msg = err;
	else if (cJSON_IsObject(err))
		msg = get(err, "message");
	else if (nonempty_str(get(obj, "object")) &&
		 !strcmp(get(obj, "object")->valuestring, "error"))
		msg = get(obj, "message");
	else if (get(obj, "detail") && !get(obj, "meta_info") && !get(obj, "choices"))
		msg = get(obj, "detail");
	if (!msg && !cJSON_IsObject(err))
		return;
	if (cJSON_IsString(msg))
		str_copy(rf->error, sizeof(rf->error), msg->valuestring);
	else
		snprintf(rf->error, sizeof(rf->error), "error");
}

/* The latest value of a count: a number out of range makes it unknown. */
static void take_number(long long *dst, const cJSON *item)
{
	if (cJSON_IsNumber(item) && !json_ll(item, dst))
		*dst = -1;
}

/* One response object (native /generate or OpenAI). */
static int merge_object(struct response_fields *rf, const cJSON *obj)
{
	const cJSON *meta = get(obj, "meta_info");
	const cJSON *usage = get(obj, "usage");
	const cJSON *choices = get(obj, "choices");
	const cJSON *c;
	bool text = false, token = false;

	take_error(rf, obj);
	if (cJSON_IsObject(meta)) {
		if (!rf->sglang_id[0])
			copy_str(rf->sglang_id, sizeof(rf->sglang_id), get(meta, "id"));
		take_number(&rf->prompt_tokens, get(meta, "prompt_tokens"));
		take_number(&rf->completion_tokens, get(meta, "completion_tokens"));
		if (rf->prompt_tokens >= 0 && rf->completion_tokens >= 0)
			rf->total_tokens = add_counts(rf->prompt_tokens,
						      rf->completion_tokens);
		text = nonempty_str(get(obj, "text"));
		token = true;
	} else if (!rf->sglang_id[0]) {
		copy_str(rf->sglang_id, sizeof(rf->sglang_id), get(obj, "id"));
	}
	if (cJSON_IsObject(usage)) {
		take_number(&rf->prompt_tokens, get(usage, "prompt_tokens"));
		take_number(&rf->completion_tokens, get(usage, "completion_tokens"));
		take_number(&rf->total_tokens, get(usage, "total_tokens"));
	}
	cJSON_ArrayForEach(c, choices) {
		const cJSON *msg = get(c, "message"), *delta = get(c, "delta");

		const cJSON *fin = get(c, "finish_reason");

		if (nonempty_str(get(c, "text")) ||
		    (msg && nonempty_str(get(msg, "content"))) ||
		    (delta && nonempty_str(get(delta, "content"))))
			text = true;
		/* the opening chunk (role only) and the closing one (finish_reason
		 * set, no content) carry no token */
		if (delta && get(delta, "role") && !nonempty_str(get(delta, "content")))
			continue;
		if (text || !fin || cJSON_IsNull(fin))
			token = true;
	}
	if (text)
		rf->has_text = true;
	return (text ? MERGE_TEXT : 0) | (token ? MERGE_TOKEN : 0) |
	       (cJSON_IsObject(meta) ? MERGE_NATIVE : 0);
}

/* Batch sums: the known counts add up; once a sum overflows it stays
 * unknown (*over), not restarted by the next item. */
static void sum_count(long long *sum, long long one, bool *over)
{
	if (one < 0 || *over)
		return;
	*sum = add_counts(*sum < 0 ? 0 : *sum, one);
	*over = *sum < 0;
}

static int ref_response_fields_merge(struct response_fields *rf, const char *json, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	const cJSON *el;
	int text = 0;

	if (cJSON_IsObject(root)) {
		rf->parsed = true;
		text = merge_object(rf, root);
	} else if (cJSON_IsArray(root)) {
		/* Batch /generate: one object per prompt; counts add up. */
		struct response_fields sum;
		bool prompt_over = false, completion_over = false;

		response_fields_init(&sum);
		rf->parsed = true;
		cJSON_ArrayForEach(el, root) {
			struct response_fields one;

			response_fields_init(&one);
			if (!cJSON_IsObject(el))
				continue;
			text |= merge_object(&one, el);
			if (!sum.sglang_id[0])
				memcpy(sum.sglang_id, one.sglang_id, sizeof(sum.sglang_id));
			sum_count(&sum.prompt_tokens, one.prompt_tokens, &prompt_over);
			sum_count(&sum.completion_tokens, one.completion_tokens,
				  &completion_over);
			if (!sum.error[0])
				memcpy(sum.error, one.error, sizeof(sum.error));
		}
		if (!rf->sglang_id[0])
			memcpy(rf->sglang_id, sum.sglang_id, sizeof(rf->sglang_id));
		rf->prompt_tokens = sum.prompt_tokens;
		rf->completion_tokens = sum.completion_tokens;
		if (sum.prompt_tokens >= 0 && sum.completion_tokens >= 0)
			rf->total_tokens = add_counts(sum.prompt_tokens,
						      sum.completion_tokens);
		if (!rf->error[0])
			memcpy(rf->error, sum.error, sizeof(rf->error));
		rf->has_text |= !!(text & MERGE_TEXT);
	}
	cJSON_Delete(root);
	return text;
}


/* ---- comparisons ---------------------------------------------------- */

static int type_of(const cJSON *c)
{
	switch (c->type & 0xFF) {
	case cJSON_NULL: return JSON_NULL;
	case cJSON_False: return JSON_FALSE;
	case cJSON_True: return JSON_TRUE;
	case cJSON_Number: return JSON_NUMBER;
	case cJSON_String: return JSON_STRING;
	case cJSON_Array: return JSON_ARRAY;
	case cJSON_Object: return JSON_OBJECT;
	}
	return -1;
}

static bool same_text(const char *want, const char *got, size_t len)
{
	return got && strlen(want) == len && !memcmp(want, got, len);
}

static bool same_tree(const cJSON *c, const struct json_view *v, int i)
{
	const struct json_node *n = &v->nodes[i];
	char tmp[64], *heap;
	const char *got;
	size_t len = 0;
	bool ok;
	int k;

	if (type_of(c) != n->type)
		return false;
	if (c->string) {
		got = json_view_key(v, i, tmp, sizeof(tmp), &heap, &len);
		ok = same_text(c->string, got, len);
		free(heap);
		if (!ok)
			return false;
	}
	if (n->type == JSON_NUMBER && memcmp(&c->valuedouble, &n->num, sizeof(double)))
		return false;
	if (n->type == JSON_STRING) {
		got = json_view_str(v, i, tmp, sizeof(tmp), &heap, &len);
		ok = same_text(c->valuestring, got, len);
		free(heap);
		if (!ok || json_view_str_nonempty(v, i) != !!c->valuestring[0])
			return false;
		json_view_str_copy(v, i, tmp, 5);
		if (strncmp(tmp, c->valuestring, 4) || strlen(tmp) > 4)
			return false;
	}
	for (c = c->child, k = n->child; c && k >= 0; c = c->next, k = v->nodes[k].next)
		if (!same_tree(c, v, k))
			return false;
	return !c && k < 0;
}

static bool same_req(const struct request_fields *a, const struct request_fields *b)
{
	return a->parsed == b->parsed && !strcmp(a->rid, b->rid) &&
	       a->input_words == b->input_words && a->max_tokens == b->max_tokens &&
	       a->stream == b->stream && a->n == b->n && a->fingerprint == b->fingerprint &&
	       !a->prompt == !b->prompt && (!a->prompt || !strcmp(a->prompt, b->prompt));
}

static bool same_resp(const struct response_fields *a, const struct response_fields *b)
{
	return a->parsed == b->parsed && !strcmp(a->sglang_id, b->sglang_id) &&
	       a->prompt_tokens == b->prompt_tokens &&
	       a->completion_tokens == b->completion_tokens &&
	       a->total_tokens == b->total_tokens && a->has_text == b->has_text &&
	       !strcmp(a->error, b->error);
}

/* One document through both: false (and a line on stderr) on any
 * difference. The response merge starts from a state already holding
 * counts, so "latest value wins" is compared too. */
static bool agree(const char *doc, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(doc, len);
	struct request_fields ra, rb;
	struct response_fields fa, fb;
	struct json_view v;
	bool parsed = json_view_parse(&v, doc, len), ok = true;
	const char *what = "";

	if (parsed != !!root) {
		ok = false;
		what = "accepted by one only";
	} else if (parsed && !same_tree(root, &v, 0)) {
		ok = false;
		what = "trees differ";
	}
	if (parsed)
		json_view_release(&v);
	cJSON_Delete(root);

	ref_request_fields_parse(doc, len, true, &ra);
	request_fields_parse(doc, len, true, &rb);
	if (ok && !same_req(&ra, &rb)) {
		ok = false;
		what = "request fields differ";
	}
	free(ra.prompt);
	free(rb.prompt);

	response_fields_init(&fa);
	fa.prompt_tokens = 3;
	fa.completion_tokens = 4;
	fb = fa;
	if (ok && (ref_response_fields_merge(&fa, doc, len) != response_fields_merge(&fb, doc, len) ||
		   !same_resp(&fa, &fb))) {
		ok = false;
		what = "response fields differ";
	}
	/* into fresh fields, twice: the second read comes from the memo */
	for (int twice = 0; ok && twice < 2; twice++) {
		response_fields_init(&fa);
		response_fields_init(&fb);
		if (ref_response_fields_merge(&fa, doc, len) != response_fields_merge(&fb, doc, len) ||
		    !same_resp(&fa, &fb)) {
			ok = false;
			what = twice ? "response fields differ, from the memo" : "fresh response fields differ";
		}
		ref_request_fields_parse(doc, len, false, &ra);
		request_fields_parse(doc, len, false, &rb);
		if (ok && !same_req(&ra, &rb)) {
			ok = false;
			what = "request fields differ, without text";
		}
	}
	if (!ok) {
		fprintf(stderr, "json_view: %s on %zu bytes: ", what, len);
		for (size_t i = 0; i < len && i < 200; i++)
			fprintf(stderr, (unsigned char)doc[i] < 32 || (unsigned char)doc[i] > 126
				? "\\x%02x" : "%c", (unsigned char)doc[i]);
		fprintf(stderr, "\n");
	}
	return ok;
}

static bool agree_str(const char *doc)
{
	return agree(doc, strlen(doc));
}

/* cJSON's corners, one by one. */
static void test_quirks(void)
{
	static const char *const docs[] = {
		"", " ", "{", "}", "{}", "[]", "[ ]", "{ }", "null", "true", "false", "nul",
		"nullx", "[nullx]", "{\"a\":1}trailing", "{\"a\":1,}", "[1,]", "[,1]", "{,}",
		"{\"a\" : 1 , \"b\" :[ 1 , 2 ] }", "\x01{\"a\":\x1f" "1}", "{\"a\":1,",
		"\xEF\xBB\xBF{}", "\xEF\xBB\xBF" "1", "\xEF\xBB\xBF" "12", "\xEF\xBB\xBF[1]",
		"\xEF\xBB{}", "1", "-", "-0", "-01", "01", "1.5", "1.", ".5", "1e5", "1e", "1e+",
		"1e+5", "-1.5E-3", "1.2.3", "[1.2.3]", "[12-3]", "[1+2]", "+1", "[-]",
		"123456789012345", "1234567890123456", "12345678901234567890123",
		"-9223372036854775808", "9223372036854775807", "1e400", "-1e400", "1e-400",
		"[0x10]", "[Infinity]", "[NaN]", "[-Infinity]",
		"\"a\"", "\"a", "\"\\\"", "\"\\\\\"", "\"a\\\"b\"", "\"\\n\\t\\r\\b\\f\\/\"",
		"\"\\x\"", "\"\\u0041\"", "\"\\u00e9\"", "\"\\u20AC\"", "\"\\uD83D\\uDE00\"",
		"\"\\uD83D\"", "\"\\uD83Dx\"", "\"\\uD83D\\u0041\"", "\"\\uDE00\"",
		"\"\\uZZZZ\"", "\"\\u12\"", "\"\\u12G4x\"", "\"\\u0000abc\"", "\"a\\u0000b\"",
		"\"\\uABC\\\\\"", "\"\\u\\\"AB\"", "\"\\uD83D\\uZZZZ\"", "\"\\uDBFF\\uDFFF\"",
		"{\"rid\":\"a\\u0000b\"}", "{\"r\\u0069d\":\"esc-key\"}", "{\"rid\\u0000x\":\"nulkey\"}",
		"{\"text\":\"caf\\u00e9 na\\u00efve\\n x\",\"rid\":\"r\"}",
		"{\"text\":\"a\\u0000 b c\"}", "{\"text\":[\"a b\",{\"content\":\"c d\"},3,null]}",
		"{\"messages\":[{\"role\":\"user\",\"content\":\"hi there\"},"
		"{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"x\"}]}]}",
		"{\"text\":\"x\",\"text\":\"y z\"}", "{\"prompt\":null,\"text\":\"q\"}",
		"{\"rid\":[],\"text\":\"x\"}", "{\"rid\":[null,\"b\"]}", "{\"rid\":1.5}",
		"{\"rid\":-0}", "{\"rid\":1e300}", "{\"rid\":{\"a\":1}}",
		"{\"sampling_params\":[1],\"max_tokens\":5}", "{\"sampling_params\":{\"n\":1e20}}",
		"{\"n\":-1e20}", "{\"n\":2.9}", "{\"max_tokens\":1e19}", "{\"max_tokens\":-1}",
		"{\"max_tokens\":9223372036854775807}", "{\"stream\":1}", "{\"stream\":null}",
		"{\"meta_info\":{\"id\":\"m\",\"prompt_tokens\":5,\"completion_tokens\":1e30},"
		"\"text\":\"t\"}",
		"{\"meta_info\":{\"id\":7},\"text\":\"\"}", "{\"meta_info\":[],\"id\":\"x\"}",
		"{\"id\":\"chat\",\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}",
		"{\"id\":\"chat\",\"choices\":[{\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}",
		"{\"choices\":[{\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":2,"
		"\"completion_tokens\":3,\"total_tokens\":5}}",
		"{\"choices\":{\"a\":{\"text\":\"x\"}}}", "{\"choices\":\"s\"}",
		"{\"choices\":[{\"message\":{\"content\":\"\\u0000\"}}]}",
		"{\"error\":\"bad\"}", "{\"error\":{\"message\":\"m\"}}", "{\"error\":{}}",
		"{\"error\":{\"message\":5}}", "{\"object\":\"error\",\"message\":\"om\"}",
		"{\"object\":\"err\\u006fr\",\"message\":\"esc\"}", "{\"detail\":\"d\"}",
		"{\"detail\":[1],\"meta_info\":{}}", "{\"error\":null,\"detail\":\"x\"}",
		"[{\"meta_info\":{\"id\":\"a\",\"prompt_tokens\":1,\"completion_tokens\":2}},"
		"{\"meta_info\":{\"id\":\"b\",\"prompt_tokens\":3,\"completion_tokens\":4}},5]",
		"[{\"meta_info\":{\"prompt_tokens\":9223372036854775807,\"completion_tokens\":1}},"
		"{\"meta_info\":{\"prompt_tokens\":1,\"completion_tokens\":1}}]",
		"[{\"error\":\"e1\"},{\"error\":\"e2\"}]", "[[1]]", "[\"s\"]",
	};
	int bad = 0;

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		bad += !agree_str(docs[i]);
	/* embedded NUL bytes, which strings cannot show */
	bad += !agree("{\"rid\":\"a\0b\",\"text\":\"x\0 y\"}", 27);
	bad += !agree("{\"a\0b\":1,\"rid\":\"k\"}", 19);
	bad += !agree("[1,\0]", 5);
	ASSERT_EQ(bad, 0, "every quirk read as cJSON reads it");
}

/* Deep nesting: cJSON stops at 1000 open containers. */
static void test_nesting(void)
{
	static char doc[2 * 1100 + 1];
	int bad = 0;

	for (int depth = 998; depth <= 1002; depth++) {
		memset(doc, '[', depth);
		memset(doc + depth, ']', depth);
		bad += !agree(doc, 2 * depth);
		for (int i = 0; i < depth; i++) {
			doc[i] = i % 2 ? '[' : '{';
		}
	}
	ASSERT_EQ(bad, 0, "nesting limit as cJSON's");
}

/* A long number (cJSON as packaged reads it whole) and a long prompt. */
static void test_long_values(void)
{
	static char doc[70000];
	int bad = 0;
	size_t n;

	n = (size_t)snprintf(doc, sizeof(doc), "{\"max_tokens\":");
	memset(doc + n, '7', 100);
	n += 100;
	n += (size_t)snprintf(doc + n, sizeof(doc) - n, ".5e-90,\"text\":\"");
	for (int i = 0; i < 60000; i++)
		doc[n++] = i % 7 == 0 ? ' ' : i % 1000 == 1 ? '\\' : 'a' + i % 26;
	doc[n++] = '"';
	doc[n++] = '}';
	bad += !agree(doc, n);
	for (size_t i = 0; i < n; i++)
		if (doc[i] == '\\')
			doc[i] = 'x';
	bad += !agree(doc, n);
	/* many values: the node array grows off the stack */
	n = 0;
	doc[n++] = '[';
	for (int i = 0; i < 2000; i++)	/* ~45 KB */
		n += (size_t)snprintf(doc + n, sizeof(doc) - n, "%s{\"k%d\":[%d,\"v\"]}",
				      i ? "," : "", i, i);
	doc[n++] = ']';
	bad += !agree(doc, n);
	ASSERT_EQ(bad, 0, "long numbers, long strings, many values");
}

/* Strings decoded in runs: plain stretches of every length from 0 to 40
 * between escapes of each kind (\u0000 ends cJSON's copy), as the prompt
 * and a chat message, short (decoded on the stack) and long (heap). */
static void test_escape_runs(void)
{
	static const char *const escapes[] = {
		"\\n", "\\\"", "\\\\", "\\/", "\\t", "\\u00e9", "\\u20ac", "\\ud83d\\ude00",
		"\\u0000", "\\u0041",
	};
	static char doc[32768], str[16384];
	int bad = 0, runs = 0;

	for (size_t e = 0; e < sizeof(escapes) / sizeof(escapes[0]); e++) {
		/* runs past 16 + 64 bytes reach the 32-byte steps (AVX2) */
		for (int run = 0; run <= 130; run++) {
			for (int reps = 1; reps <= 60; reps += 59) {
				size_t k = 0, n;

				for (int r = 0; r < reps; r++) {
					for (int i = 0; i < run; i++)
						str[k++] = i % 5 == 4 ? ' ' : 'a' + (i + r) % 26;
					k += (size_t)snprintf(str + k, sizeof(str) - k, "%s", escapes[e]);
				}
				str[k] = 0;
				n = (size_t)snprintf(doc, sizeof(doc),
						     "{\"text\":\"%sx\",\"messages\":[{\"content\":\"%s\"}]}",
						     str, str);
				bad += !agree(doc, n);
				runs++;
			}
		}
	}
	ASSERT_EQ(bad, 0, "strings with escapes read as cJSON reads them");
	ASSERT_EQ(runs, 2620, "every escape, run length and size");
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Real bodies, mutated: bytes dropped, swapped for JSON's own syntax,
 * duplicated, cut. Whatever comes out, both read it the same. */
static void test_mutations(void)
{
	static const char *const seeds[] = {
		"{\"text\":\"The capital of France is a city that wrk0-0-1\","
		"\"sampling_params\":{\"max_new_tokens\":8,\"temperature\":0},\"stream\":true,"
		"\"rid\":\"abc\"}",
		"{\"text\":\" tok tok\",\"meta_info\":{\"id\":\"x\",\"finish_reason\":{\"type\":"
		"\"length\",\"length\":8},\"prompt_tokens\":5,\"completion_tokens\":8,"
		"\"cached_tokens\":0,\"e2e_latency\":0.0001}}",
		"{\"id\":\"cmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
		"\"delta\":{\"role\":\"assistant\",\"content\":\"H\\u00e9llo\\n\"},"
		"\"finish_reason\":null}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":1,"
		"\"total_tokens\":8}}",
		"{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"be \\\"brief\\\"\"},"
		"{\"role\":\"user\",\"content\":\"why \\uD83D\\uDE00?\"}],\"max_tokens\":-3,"
		"\"n\":2,\"stream\":false}",
		"[{\"meta_info\":{\"id\":\"a\",\"prompt_tokens\":1.5e1,\"completion_tokens\":2}},"
		"{\"error\":{\"message\":\"bad\"},\"object\":\"error\"}]",
		"{\"rid\":[\"r0\",\"r1\"],\"text\":[\"a b\",\"c\"],\"detail\":null}",
	};
	static const char alphabet[] = "\"\\{}[],:0123456789eE.+-untrfals u\x01\x7f\xEF\xBB\xBF";
	uint64_t x = 0x9E3779B97F4A7C15ULL;
	char doc[1024];
	int bad = 0, runs = 0;

	for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
		size_t seed_len = strlen(seeds[s]);

		for (int iter = 0; iter < 20000; iter++) {
			size_t n = seed_len;
			int edits = 1 + rnd(&x) % 4;

			memcpy(doc, seeds[s], n);
			for (int e = 0; e < edits; e++) {
				size_t at = n ? rnd(&x) % n : 0;
				char c = alphabet[rnd(&x) % (sizeof(alphabet) - 1)];

				switch (rnd(&x) % 5) {
				case 0:	/* replace */
					if (n)
						doc[at] = c;
					break;
				case 1:	/* insert */
					if (n + 1 < sizeof(doc)) {
						memmove(doc + at + 1, doc + at, n - at);
						doc[at] = c;
						n++;
					}
					break;
				case 2:	/* drop */
					if (n) {
						memmove(doc + at, doc + at + 1, n - at - 1);
						n--;
					}
					break;
				case 3:	/* cut */
					n = at;
					break;
				case 4:	/* duplicate a piece */
					if (n && n + 16 < sizeof(doc)) {
						size_t from = rnd(&x) % n, k = 1 + rnd(&x) % 16;

						if (from + k > n)
							k = n - from;
						memmove(doc + at + k, doc + at, n - at);
						memcpy(doc + at, doc + from + (from >= at ? k : 0), k);
						n += k;
					}
					break;
				}
			}
			runs++;
			if (!agree(doc, n) && ++bad >= 10)
				goto out;
		}
	}
out:
	ASSERT_EQ(bad, 0, "mutated bodies read as cJSON reads them");
	ASSERT_TRUE(runs >= 100000 || bad, "the mutations ran");
}

void test_area_json_view(void)
{
	RUN_SUBTEST(test_quirks);
	RUN_SUBTEST(test_nesting);
	RUN_SUBTEST(test_long_values);
	RUN_SUBTEST(test_escape_runs);
	RUN_SUBTEST(test_mutations);
}

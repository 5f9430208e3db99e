// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "proto/body_fields.h"
#include "util/hash.h"
#include "util/str.h"

int count_words(const char *s)
{
	int n = 0;
	bool in_word = false;

	for (; *s; s++) {
		bool space = *s == ' ' || *s == '\t' || *s == '\n' ||
			     *s == '\r' || *s == '\f' || *s == '\v';

		if (!space && !in_word)
			n++;
		in_word = !space;
	}
	return n;
}


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
		*h = fnv_mix(*h, item->valuestring, strlen(item->valuestring));
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

void request_fields_parse(const char *body, size_t len, bool keep_text,
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

void response_fields_init(struct response_fields *rf)
{
	memset(rf, 0, sizeof(*rf));
	rf->prompt_tokens = rf->completion_tokens = rf->total_tokens = -1;
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

int response_fields_merge(struct response_fields *rf, const char *json, size_t len)
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

/* The last `"key": <digits>` in p[0..n), or -1. */
static long long last_number_after(const char *p, size_t n, const char *key)
{
	size_t klen = strlen(key);
	long long found = -1;

	for (size_t i = 0; i + klen < n; i++) {
		size_t j = i + klen;
		long long v = 0;
		int digits = 0;

		if (memcmp(p + i, key, klen))
			continue;
		while (j < n && (p[j] == ' ' || p[j] == ':'))
			j++;
		while (j < n && p[j] >= '0' && p[j] <= '9' && digits < 18) {
			v = v * 10 + (p[j++] - '0');
			digits++;
		}
		if (digits)
			found = v;
	}
	return found;
}

void response_fields_scan_tail(struct response_fields *rf, const char *p, size_t n)
{
	long long v;

	if ((v = last_number_after(p, n, "\"prompt_tokens\"")) >= 0)
		rf->prompt_tokens = v;
	if ((v = last_number_after(p, n, "\"completion_tokens\"")) >= 0)
		rf->completion_tokens = v;
	if ((v = last_number_after(p, n, "\"total_tokens\"")) >= 0)
		rf->total_tokens = v;
	else if (rf->prompt_tokens >= 0 && rf->completion_tokens >= 0)
		rf->total_tokens = rf->prompt_tokens + rf->completion_tokens;
}

/* ---- the top-level "rid" of a body too big to parse whole ----------- */

enum rid_at {
	AT_START,		/* before the root value */
	AT_KEY,			/* depth 1: a key or the closing brace next */
	AT_COLON,		/* after a depth-1 key */
	AT_VALUE,		/* inside a value that is not the rid */
	AT_RID_VALUE,		/* the rid's value next */
	AT_RID_ARRAY,		/* inside the rid's array: its first string */
	AT_RID_NUMBER,		/* digits of a numeric rid */
	AT_END,			/* the root object closed */
};

void body_rid_scan_init(struct body_rid_scan *s)
{
	memset(s, 0, sizeof(*s));
}

/* As cJSON skips it: every control byte counts as space. */
static bool json_space(char c)
{
	return (unsigned char)c <= ' ';
}

static void rid_found(struct body_rid_scan *s)
{
	s->rid[s->len] = 0;
	s->len = strlen(s->rid);	/* a NUL inside ends it, as for cJSON */
	s->state = s->len ? RID_FOUND : RID_SCANNING;
	if (!s->len)
		s->at = AT_VALUE;	/* "rid": "" counts as none, like cJSON's copy */
}

/* A string that is not a depth-1 key nor the rid: skipped with memchr,
 * the usual case for a 1 MB prompt. Whether a quote is escaped is the
 * parity of the backslash run before it; s->backslashes carries an
 * escape left open at the end of the previous piece. */
static size_t skip_string(struct body_rid_scan *s, const char *p, size_t n)
{
	size_t i = 0;

	if (s->backslashes && n) {	/* the first byte is escaped */
		s->backslashes = 0;
		i = 1;
	}
	for (size_t from = i; from < n;) {
		const char *q = memchr(p + from, '"', n - from);
		size_t j, run = 0;

		if (!q)
			break;
		j = q - p;
		while (j - run > i && p[j - run - 1] == '\\')
			run++;
		if (!(run & 1)) {
			s->in_string = 0;
			return j + 1;
		}
		from = j + 1;
	}
	/* string goes on: is its last byte an escape still open? */
	{
		size_t run = 0;

		while (n - run > i && p[n - run - 1] == '\\')
			run++;
		s->backslashes = run & 1;
	}
	return n;
}

/* A depth-1 key or the rid's string, a byte at a time (both are short). */
static size_t read_string(struct body_rid_scan *s, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		bool escaped = s->backslashes;

		s->backslashes = 0;
		if (!escaped && c == '\\') {
			s->backslashes = 1;
			continue;
		}
		if (!escaped && c == '"') {
			s->in_string = 0;
			if (s->string_is_key) {
				s->string_is_key = 0;
				s->at = AT_COLON;
			} else {
				rid_found(s);
			}
			return i + 1;
		}
		if (s->string_is_key) {
			if (s->key_len < sizeof(s->key) - 1)
				s->key[s->key_len] = c;
			s->key_len++;
		} else if (s->len < RID_MAX - 1) {
			s->rid[s->len++] = c;
		}
	}
	return n;
}

static void open_string(struct body_rid_scan *s, bool key)
{
	s->in_string = 1;
	s->string_is_key = key;
	s->backslashes = 0;
	if (key) {
		s->key_len = 0;
		memset(s->key, 0, sizeof(s->key));
	}
}

/* One byte outside strings, in a value that is not the rid. */
static void value_byte(struct body_rid_scan *s, char c)
{
	switch (c) {
	case '"':
		open_string(s, false);
		break;
	case '{':
	case '[':
		s->depth++;
		break;
	case '}':
	case ']':
		if (s->depth)
			s->depth--;
		if (!s->depth)
			s->at = AT_END;
		break;
	case ',':
		if (s->depth == 1)
			s->at = AT_KEY;
		break;
	}
}

static bool number_byte(char c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* One byte outside strings. */
static void scan_byte(struct body_rid_scan *s, char c)
{
	switch (s->at) {
	case AT_START:
		if (json_space(c))
			return;
		if (c != '{') {
			s->state = RID_NOT_OBJECT;
			return;
		}
		s->depth = 1;
		s->at = AT_KEY;
		return;
	case AT_KEY:
		if (c == '"')
			open_string(s, true);
		else if (!json_space(c) && c != ',')
			value_byte(s, c);	/* '}' ends the root */
		return;
	case AT_COLON:
		if (c != ':')
			return;
		s->at = AT_VALUE;
		if (s->key_len == 3 && !memcmp(s->key, "rid", 3) && !s->rid_seen) {
			s->at = AT_RID_VALUE;
			s->rid_seen = 1;
		}
		return;
	case AT_RID_VALUE:
	case AT_RID_ARRAY:
		if (json_space(c))
			return;
		if (c == '"') {
			open_string(s, false);
			s->len = 0;
			return;
		}
		if (s->at == AT_RID_VALUE && c == '[') {
			s->depth++;
			s->at = AT_RID_ARRAY;
			return;
		}
		if (number_byte(c)) {
			s->at = AT_RID_NUMBER;
			s->len = 0;
			s->rid[s->len++] = c;
			return;
		}
		s->at = AT_VALUE;	/* null, true, an object: none */
		value_byte(s, c);
		return;
	case AT_RID_NUMBER:
		if (number_byte(c)) {
			if (s->len < RID_MAX - 1)
				s->rid[s->len++] = c;
			return;
		}
		rid_found(s);
		return;
	case AT_VALUE:
		value_byte(s, c);
		return;
	}
}

void body_rid_scan_feed(struct body_rid_scan *s, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && s->state == RID_SCANNING && s->at != AT_END) {
		if (s->in_string) {
			bool rid_string = s->at == AT_RID_VALUE || s->at == AT_RID_ARRAY;

			i += s->string_is_key || rid_string ? read_string(s, p + i, n - i)
							    : skip_string(s, p + i, n - i);
			continue;
		}
		scan_byte(s, p[i++]);
	}
}

void body_rid_scan_gap(struct body_rid_scan *s)
{
	if (s->state == RID_SCANNING && s->at != AT_END)
		s->state = RID_LOST;
}

const char *body_rid_scan_result(const struct body_rid_scan *s)
{
	return s->state == RID_FOUND ? s->rid : NULL;
}

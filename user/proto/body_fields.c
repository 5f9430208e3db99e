// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Bodies are read with json_view: in place, no allocation per value,
 * and the same answers cJSON gave (tests/unit/test_json_view.c checks
 * both against each other). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proto/body_fields.h"
#include "proto/json_view.h"
#include "util/hash.h"
#include "util/str.h"
#if defined(__SSE2__) && defined(__x86_64__)
#include <immintrin.h>
#endif

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Prompts run to many KiB and each is read on every hop: the word count
 * and the fingerprint go eight bytes a step (a byte loop was 11 and 6
 * instructions a byte). */
#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL
#define LOWS	0x7f7f7f7f7f7f7f7fULL

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "space_bytes reads words little-endian");

/* The high bit of each byte of w that is_space(): ' ', or 0x09-0x0d.
 * Exact per byte: each sum stays inside its byte (seven low bits plus
 * at most 0x7f), so no carry reaches the next. */
static uint64_t space_bytes(uint64_t w)
{
	uint64_t lo = w & LOWS, x = w ^ (' ' * ONES);
	uint64_t ge9 = lo + (0x80 - 0x09) * ONES;	/* bit 7: lo >= 0x09 */
	uint64_t ge14 = lo + (0x80 - 0x0e) * ONES;	/* bit 7: lo >= 0x0e */
	uint64_t blank = ~(((x & LOWS) + LOWS) | x);	/* bit 7: the byte is ' ' */

	return ((ge9 & ~ge14 & ~w) | blank) & HIGHS;
}

#if defined(__SSE2__) && defined(__x86_64__)
/* 0xff in each byte of x that is_space(): ' ', or 0x09-0x0d. */
static __m128i space_lanes(__m128i x)
{
	__m128i t = _mm_sub_epi8(x, _mm_set1_epi8(0x09));

	return _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(' ')),
			    _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(4)), t));
}

/* The sum of the sixteen byte lanes of acc (psadbw against zero). */
static uint64_t lanes_sum(__m128i acc)
{
	__m128i sum = _mm_sad_epu8(acc, _mm_setzero_si128());

	return (uint64_t)_mm_cvtsi128_si64(sum) +
	       (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(sum, sum));
}

/* The word starts in s[0, n & ~15), sixteen bytes a step (SSE2 is in
 * every x86-64): a start is a non-space byte after a space; each lane
 * counts its starts, folded by psadbw before a lane can wrap. *prev: is
 * the byte before s a space; on return, the last byte read. */
static int count_words_sse2(const char *s, size_t n, uint64_t *prev, size_t *done)
{
	__m128i last = _mm_set1_epi8(*prev ? -1 : 0), acc = _mm_setzero_si128();
	uint64_t words = 0;
	size_t i = 0;
	int steps = 0;

	for (; n - i >= 16; i += 16) {
		__m128i sp = space_lanes(_mm_loadu_si128((const __m128i *)(s + i)));
		__m128i before = _mm_or_si128(_mm_slli_si128(sp, 1), _mm_srli_si128(last, 15));

		acc = _mm_sub_epi8(acc, _mm_andnot_si128(sp, before));	/* +1 a start */
		last = sp;
		if (++steps == 255) {
			words += lanes_sum(acc);
			acc = _mm_setzero_si128();
			steps = 0;
		}
	}
	words += lanes_sum(acc);
	*prev = (unsigned)_mm_movemask_epi8(last) >> 15 & 1;
	*done = i;
	return (int)words;
}

/* The same, 32 bytes a step, on CPUs with AVX2 (asked at run time): a
 * byte mask a step, the starts counted by popcount. */
__attribute__((target("avx2,popcnt")))
static int count_words_avx2(const char *s, size_t n, uint64_t *prev, size_t *done)
{
	const __m256i blank = _mm256_set1_epi8(' '), nine = _mm256_set1_epi8(0x09);
	const __m256i four = _mm256_set1_epi8(4);
	uint32_t carry = *prev & 1;
	size_t i = 0;
	int words = 0;

	for (; n - i >= 32; i += 32) {
		__m256i x = _mm256_loadu_si256((const __m256i *)(s + i));
		__m256i t = _mm256_sub_epi8(x, nine);
		uint32_t sp = (uint32_t)_mm256_movemask_epi8(_mm256_or_si256(
			_mm256_cmpeq_epi8(x, blank),
			_mm256_cmpeq_epi8(_mm256_min_epu8(t, four), t)));

		words += __builtin_popcount(~sp & (sp << 1 | carry));
		carry = sp >> 31;
	}
	*prev = carry;
	*done = i;
	return words;
}
#endif

/* prompt.split() of s[0, n): a word starts at each non-space byte that
 * follows a space (or the start). */
static int count_words_n(const char *s, size_t n)
{
	uint64_t prev = 1;	/* the byte before s counts as a space */
	size_t i = 0;
	int words = 0;

#if defined(__SSE2__) && defined(__x86_64__)
	if (n >= 64 && __builtin_cpu_supports("avx2"))
		words = count_words_avx2(s, n, &prev, &i);
	else if (n >= 32)
		words = count_words_sse2(s, n, &prev, &i);
#endif
	for (; n - i >= 8; i += 8) {
		uint64_t w, sp, starts;

		memcpy(&w, s + i, 8);
		sp = space_bytes(w);
		starts = ~sp & ((sp << 8) | (prev << 7)) & HIGHS;
		words += (int)(((starts >> 7) * ONES) >> 56);	/* bytes summed */
		prev = sp >> 63;
	}
	for (; i < n; i++) {
		bool space = is_space(s[i]);

		words += !space && prev;
		prev = space;
	}
	return words;
}

int count_words(const char *s)
{
	return count_words_n(s, strlen(s));
}

static int get(const struct json_view *v, int obj, const char *key)
{
	return json_view_get(v, obj, key);
}

static bool is_type(const struct json_view *v, int i, enum json_type t)
{
	return json_view_type(v, i) == (int)t;
}

/* A JSON number as a long long. Casting a double outside the range is
 * undefined behaviour, and a count that big is no count: false, so the
 * caller keeps it unknown. 2^63 is exact in a double; NaN fails too. */
static bool json_ll(const struct json_view *v, int i, long long *out)
{
	double d;

	if (!is_type(v, i, JSON_NUMBER))
		return false;
	d = v->nodes[i].num;
	if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
		return false;
	*out = (long long)d;
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

/* An id: a string, or a number printed as an integer; else untouched. */
static void copy_str(char *dst, size_t len, const struct json_view *v, int i)
{
	if (is_type(v, i, JSON_STRING))
		json_view_str_copy(v, i, dst, len);
	else if (is_type(v, i, JSON_NUMBER))
		snprintf(dst, len, "%.0f", v->nodes[i].num);
}

static void keep(char **dst, const char *s, size_t add)
{
	size_t have = *dst ? strlen(*dst) : 0;
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
static void take_prompt(const struct json_view *v, int i, int *words, uint64_t *h, char **text)
{
	if (is_type(v, i, JSON_STRING)) {
		char tmp[256], *heap;
		size_t len;
		const char *s = json_view_str(v, i, tmp, sizeof(tmp), &heap, &len);
		uint64_t part;

		if (!s)
			return;
		*words += count_words_n(s, len);
		part = hash_bytes(s, len);
		*h = fnv_mix(*h, &part, sizeof(part));
		if (text)
			keep(text, s, len);
		free(heap);
		return;
	}
	if (!is_type(v, i, JSON_ARRAY))
		return;
	for (int el = v->nodes[i].child; el >= 0; el = v->nodes[el].next) {
		if (is_type(v, el, JSON_STRING))
			take_prompt(v, el, words, h, text);
		else if (is_type(v, el, JSON_OBJECT))	/* chat message */
			take_prompt(v, get(v, el, "content"), words, h, text);
	}
}

/* Samples asked for: 1 when absent; saturated to the int range (a huge
 * n still asks for more than one). */
static int take_n(const struct json_view *v, int i)
{
	double d;

	if (!is_type(v, i, JSON_NUMBER))
		return 1;
	d = v->nodes[i].num;
	if (d >= (double)INT_MAX)
		return INT_MAX;
	if (d <= (double)INT_MIN)
		return INT_MIN;
	return d == d ? (int)d : 1;
}

static void request_fields_take(const struct json_view *v, bool keep_text,
				struct request_fields *out)
{
	int sp, prompt, rid, mt, st;
	uint64_t h = FNV_SEED;
	int words = 0;

	out->parsed = true;
	rid = get(v, 0, "rid");
	if (is_type(v, rid, JSON_ARRAY))
		rid = v->nodes[rid].child;
	copy_str(out->rid, sizeof(out->rid), v, rid);

	prompt = get(v, 0, "text");
	if (prompt < 0)
		prompt = get(v, 0, "prompt");
	if (prompt < 0)
		prompt = get(v, 0, "messages");
	if (is_type(v, prompt, JSON_STRING) || is_type(v, prompt, JSON_ARRAY)) {
		take_prompt(v, prompt, &words, &h, keep_text ? &out->prompt : NULL);
		out->input_words = words;
	}

	sp = get(v, 0, "sampling_params");
	mt = get(v, sp, "max_new_tokens");
	if (mt < 0)
		mt = get(v, 0, "max_tokens");
	if (mt < 0)
		mt = get(v, 0, "max_completion_tokens");
	if (!json_ll(v, mt, &out->max_tokens))
		out->max_tokens = -1;

	mt = get(v, sp, "n");
	if (mt < 0)
		mt = get(v, 0, "n");
	out->n = take_n(v, mt);

	st = get(v, 0, "stream");
	if (is_type(v, st, JSON_TRUE) || is_type(v, st, JSON_FALSE))
		out->stream = is_type(v, st, JSON_TRUE);

	if (words || out->max_tokens >= 0) {
		h = fnv_mix(h, (const char *)&out->max_tokens, sizeof(out->max_tokens));
		out->fingerprint = h ? h : 1;
	}
}

/* ---- the same body twice ------------------------------------------ */

/* A router that forwards bytes unchanged makes the collector read each
 * body twice: the request as the router read it and as the worker read
 * it, the response as the worker wrote it and as the router wrote it.
 * What a body yields depends on its bytes alone (a request; a response
 * merged into fresh fields), so the last few results are kept by their
 * bytes, compared whole. Per thread. */
#define MEMO_BODY_MAX	1024
/* requests are each other's until both sides are read: the slots must
 * outnumber the bodies read in between (a few per connection in flight) */
#define REQ_MEMO_SLOTS	256
#define RESP_MEMO_SLOTS	64
/* Bigger request bodies (prompts of KiBs, each read on every hop): fewer
 * slots, each a copy on the heap, all of them within a byte budget. */
#define BIG_MEMO_SLOTS	64
#define BIG_MEMO_BUDGET	(4u << 20)

struct memo_key {
	uint64_t hash;
	uint32_t len;		/* 0: empty slot */
	char body[MEMO_BODY_MAX];
};

struct body_memo {
	struct req_memo {
		struct memo_key k;
		struct request_fields rf;
	} req[REQ_MEMO_SLOTS];
	struct resp_memo {
		struct memo_key k;
		struct response_fields rf;
		int ret;
	} resp[RESP_MEMO_SLOTS];
	struct big_memo {
		uint64_t hash;
		uint32_t len;		/* 0: empty slot */
		char *body;
		struct request_fields rf;
	} big[BIG_MEMO_SLOTS];
	size_t big_bytes;		/* held by big[], at most BIG_MEMO_BUDGET */
};

size_t body_fields_memo_max_bytes(void)
{
	return sizeof(struct body_memo) + BIG_MEMO_BUDGET + BIG_MEMO_SLOTS * 16;
}

static __thread struct body_memo *memo;	/* ~0.4 MB, made on first use */
static __thread uint64_t memo_hits;	/* request bodies read from it */

uint64_t body_fields_memo_hits(void)
{
	return memo_hits;
}

static struct body_memo *memo_get(void)
{
	if (!memo)
		memo = calloc(1, sizeof(*memo));
	return memo;
}

void body_fields_thread_done(void)
{
	for (int i = 0; memo && i < BIG_MEMO_SLOTS; i++)
		free(memo->big[i].body);
	free(memo);
	memo = NULL;
}

static bool memo_hit(const struct memo_key *k, uint64_t h, const char *p, size_t n)
{
	return k->len == n && k->hash == h && !memcmp(k->body, p, n);
}

static void memo_keep(struct memo_key *k, uint64_t h, const char *p, size_t n)
{
	k->hash = h;
	k->len = n;
	memcpy(k->body, p, n);
}

static void request_fields_read(const char *body, size_t len, bool keep_text,
				struct request_fields *out)
{
	struct json_view v;

	memset(out, 0, sizeof(*out));
	out->input_words = -1;
	out->max_tokens = -1;
	out->stream = -1;
	if (!json_view_parse(&v, body, len))
		return;
	if (is_type(&v, 0, JSON_OBJECT))
		request_fields_take(&v, keep_text, out);
	json_view_release(&v);
}

/* The same for a big body: its slot's copy is given up first, and a new
 * one is kept only within the budget (else the body is read each time). */
static void big_request_fields_parse(const char *body, size_t len, uint64_t h,
				     struct request_fields *out)
{
	struct big_memo *m = &memo->big[h % BIG_MEMO_SLOTS];

	if (m->len == len && m->hash == h && !memcmp(m->body, body, len)) {
		*out = m->rf;
		memo_hits++;
		return;
	}
	request_fields_read(body, len, false, out);
	memo->big_bytes -= m->len;
	free(m->body);
	m->body = NULL;
	m->len = 0;
	if (len > BIG_MEMO_BUDGET - memo->big_bytes || !(m->body = malloc(len)))
		return;
	memcpy(m->body, body, len);
	m->len = len;
	m->hash = h;
	m->rf = *out;
	memo->big_bytes += len;
}

/* The memo's key. A hit is confirmed by comparing the bytes, so the key
 * only has to spread bodies over the slots: past 1 KiB it is the length,
 * both ends and 32 words spread over the middle (bodies that share a
 * template differ in the middle). Hashing every byte of an 8 KiB prompt
 * on each of its three hops was a fifth of the collector's time. */
#define KEY_END		256
#define KEY_WORDS	32

static uint64_t memo_key(const char *p, size_t n)
{
	uint64_t h, w;
	size_t step;

	if (n <= MEMO_BODY_MAX)
		return hash_bytes(p, n);
	h = hash_mix(hash_bytes(p, KEY_END), hash_bytes(p + n - KEY_END, KEY_END));
	step = (n - 2 * KEY_END - 8) / (KEY_WORDS - 1);
	for (size_t i = 0; i < KEY_WORDS; i++) {
		memcpy(&w, p + KEY_END + i * step, 8);
		h = hash_mix(h, w);
	}
	return hash_mix(h, n);
}

void request_fields_parse(const char *body, size_t len, bool keep_text,
			  struct request_fields *out)
{
	struct req_memo *m;
	uint64_t h;

	if (keep_text || !len || !memo_get()) {
		/* kept text is the caller's: not shared */
		request_fields_read(body, len, keep_text, out);
		return;
	}
	h = memo_key(body, len);
	if (len > MEMO_BODY_MAX) {
		big_request_fields_parse(body, len, h, out);
		return;
	}
	m = &memo->req[h % REQ_MEMO_SLOTS];
	if (memo_hit(&m->k, h, body, len)) {
		*out = m->rf;
		memo_hits++;
		return;
	}
	request_fields_read(body, len, false, out);
	memo_keep(&m->k, h, body, len);
	m->rf = *out;
}

void response_fields_init(struct response_fields *rf)
{
	memset(rf, 0, sizeof(*rf));
	rf->prompt_tokens = rf->completion_tokens = rf->total_tokens = -1;
}

static bool nonempty_str(const struct json_view *v, int i)
{
	return json_view_str_nonempty(v, i);
}

static void take_error(struct response_fields *rf, const struct json_view *v, int obj)
{
	int err = get(v, obj, "error");
	int msg = -1;

	if (rf->error[0])
		return;
	if (is_type(v, err, JSON_STRING))
		msg = err;
	else if (is_type(v, err, JSON_OBJECT))
		msg = get(v, err, "message");
	else if (json_view_str_is(v, get(v, obj, "object"), "error"))
		msg = get(v, obj, "message");
	else if (get(v, obj, "detail") >= 0 && get(v, obj, "meta_info") < 0 &&
		 get(v, obj, "choices") < 0)
		msg = get(v, obj, "detail");
	if (msg < 0 && !is_type(v, err, JSON_OBJECT))
		return;
	if (is_type(v, msg, JSON_STRING))
		json_view_str_copy(v, msg, rf->error, sizeof(rf->error));
	else
		snprintf(rf->error, sizeof(rf->error), "error");
}

/* The latest value of a count: a number out of range makes it unknown. */
static void take_number(long long *dst, const struct json_view *v, int i)
{
	if (is_type(v, i, JSON_NUMBER) && !json_ll(v, i, dst))
		*dst = -1;
}

/* One choice of an OpenAI answer: text and token as merge_object sums. */
static void take_choice(const struct json_view *v, int c, bool *text, bool *token)
{
	int msg = get(v, c, "message"), delta = get(v, c, "delta");
	int fin = get(v, c, "finish_reason");

	if (nonempty_str(v, get(v, c, "text")) ||
	    (msg >= 0 && nonempty_str(v, get(v, msg, "content"))) ||
	    (delta >= 0 && nonempty_str(v, get(v, delta, "content"))))
		*text = true;
	/* the opening chunk (role only) and the closing one (finish_reason
	 * set, no content) carry no token */
	if (delta >= 0 && get(v, delta, "role") >= 0 && !nonempty_str(v, get(v, delta, "content")))
		return;
	if (*text || fin < 0 || is_type(v, fin, JSON_NULL))
		*token = true;
}

/* One response object (native /generate or OpenAI). */
static int merge_object(struct response_fields *rf, const struct json_view *v, int obj)
{
	int meta = get(v, obj, "meta_info");
	int usage = get(v, obj, "usage");
	int choices = get(v, obj, "choices");
	bool text = false, token = false;

	take_error(rf, v, obj);
	if (is_type(v, meta, JSON_OBJECT)) {
		if (!rf->sglang_id[0])
			copy_str(rf->sglang_id, sizeof(rf->sglang_id), v, get(v, meta, "id"));
		take_number(&rf->prompt_tokens, v, get(v, meta, "prompt_tokens"));
		take_number(&rf->completion_tokens, v, get(v, meta, "completion_tokens"));
		if (rf->prompt_tokens >= 0 && rf->completion_tokens >= 0)
			rf->total_tokens = add_counts(rf->prompt_tokens,
						      rf->completion_tokens);
		text = nonempty_str(v, get(v, obj, "text"));
		token = true;
	} else if (!rf->sglang_id[0]) {
		copy_str(rf->sglang_id, sizeof(rf->sglang_id), v, get(v, obj, "id"));
	}
	if (is_type(v, usage, JSON_OBJECT)) {
		take_number(&rf->prompt_tokens, v, get(v, usage, "prompt_tokens"));
		take_number(&rf->completion_tokens, v, get(v, usage, "completion_tokens"));
		take_number(&rf->total_tokens, v, get(v, usage, "total_tokens"));
	}
	/* cJSON_ArrayForEach walks an object's members too */
	for (int c = choices >= 0 ? v->nodes[choices].child : -1; c >= 0; c = v->nodes[c].next)
		take_choice(v, c, &text, &token);
	if (text)
		rf->has_text = true;
	return (text ? MERGE_TEXT : 0) | (token ? MERGE_TOKEN : 0) |
	       (is_type(v, meta, JSON_OBJECT) ? MERGE_NATIVE : 0);
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

/* Batch /generate: one object per prompt; counts add up. */
static int merge_batch(struct response_fields *rf, const struct json_view *v)
{
	struct response_fields sum;
	bool prompt_over = false, completion_over = false;
	int text = 0;

	response_fields_init(&sum);
	rf->parsed = true;
	for (int el = v->nodes[0].child; el >= 0; el = v->nodes[el].next) {
		struct response_fields one;

		response_fields_init(&one);
		if (!is_type(v, el, JSON_OBJECT))
			continue;
		text |= merge_object(&one, v, el);
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
	return text;
}

static int response_fields_read(struct response_fields *rf, const char *json, size_t len)
{
	struct json_view v;
	int text = 0;

	if (!json_view_parse(&v, json, len))
		return 0;
	if (is_type(&v, 0, JSON_OBJECT)) {
		rf->parsed = true;
		text = merge_object(rf, &v, 0);
	} else if (is_type(&v, 0, JSON_ARRAY)) {
		text = merge_batch(rf, &v);
	}
	json_view_release(&v);
	return text;
}

int response_fields_merge(struct response_fields *rf, const char *json, size_t len)
{
	static __thread struct response_fields fresh;
	static __thread bool fresh_made;
	struct resp_memo *m;
	uint64_t h;

	if (!fresh_made) {
		response_fields_init(&fresh);
		fresh_made = true;
	}
	/* only a merge into fresh fields depends on the bytes alone */
	if (!len || len > MEMO_BODY_MAX || memcmp(rf, &fresh, sizeof(*rf)) || !memo_get())
		return response_fields_read(rf, json, len);
	h = hash_bytes(json, len);
	m = &memo->resp[h % RESP_MEMO_SLOTS];
	if (memo_hit(&m->k, h, json, len)) {
		*rf = m->rf;
		return m->ret;
	}
	m->ret = response_fields_read(rf, json, len);
	memo_keep(&m->k, h, json, len);
	m->rf = *rf;
	return m->ret;
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
		if (s->bom < 3) {
			if ((unsigned char)c == (unsigned char)"\xEF\xBB\xBF"[s->bom]) {
				s->bom++;
				return;
			}
			if (s->bom) {	/* part of a BOM: cJSON fails there */
				s->state = RID_NOT_OBJECT;
				return;
			}
			s->bom = 3;
		}
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

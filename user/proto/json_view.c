// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* cJSON's grammar, quirks included, so a body reads the same as before:
 * a value's end is not checked (trailing bytes are fine), every byte up
 * to ' ' is space, numbers are the longest run of [0-9+-.eE] as strtod
 * reads it, a bad hex digit in \u makes the code 0, a lone low surrogate
 * fails, 1000 open containers at most, a UTF-8 BOM is skipped when at
 * least two bytes follow it. */
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include "proto/json_view.h"
#if defined(__SSE2__) && defined(__x86_64__)
#include <immintrin.h>
#endif

#define NESTING_LIMIT 1000	/* CJSON_NESTING_LIMIT */
#define FAST_DIGITS 15		/* an integer this long is exact as a double */

struct parser {
	struct json_view *v;
	const unsigned char *p, *end;
	int depth;
};

static int new_node(struct json_view *v)
{
	struct json_node *n;

	if (v->n == v->cap) {
		uint32_t cap = v->cap * 2;

		if (v->nodes == v->local) {
			n = malloc(cap * sizeof(*n));
			if (n)
				memcpy(n, v->local, sizeof(v->local));
		} else {
			n = realloc(v->nodes, cap * sizeof(*n));
		}
		if (!n)
			return -1;
		v->nodes = n;
		v->cap = cap;
	}
	n = &v->nodes[v->n];
	memset(n, 0, sizeof(*n));
	n->next = n->child = -1;
	return v->n++;
}

static void skip_space(struct parser *ps)
{
	while (ps->p < ps->end && *ps->p <= ' ')
		ps->p++;
}

/* parse_hex4: a bad digit makes the whole code 0, not an error */
static unsigned hex4(const unsigned char *s)
{
	unsigned h = 0;

	for (int i = 0; i < 4; i++) {
		unsigned char c = s[i];

		if (c >= '0' && c <= '9')
			h = h * 16 + (c - '0');
		else if (c >= 'A' && c <= 'F')
			h = h * 16 + (c - 'A' + 10);
		else if (c >= 'a' && c <= 'f')
			h = h * 16 + (c - 'a' + 10);
		else
			return 0;
	}
	return h;
}

/* One escape at r (r[0] == '\\', r < end; r[1] may be the closing quote,
 * as in cJSON): its length, 0 if cJSON rejects it; *cp the code point
 * (or the byte) it stands for. */
static size_t escape_len(const unsigned char *r, const unsigned char *end, unsigned long *cp)
{
	unsigned first, second;

	switch (r[1]) {
	case 'b': *cp = '\b'; return 2;
	case 'f': *cp = '\f'; return 2;
	case 'n': *cp = '\n'; return 2;
	case 'r': *cp = '\r'; return 2;
	case 't': *cp = '\t'; return 2;
	case '"': case '\\': case '/': *cp = r[1]; return 2;
	case 'u':
		break;
	default:
		return 0;
	}
	if (end - r < 6)
		return 0;
	first = hex4(r + 2);
	if (first >= 0xDC00 && first <= 0xDFFF)
		return 0;
	if (first < 0xD800 || first > 0xDBFF) {
		*cp = first;
		return 6;
	}
	if (end - (r + 6) < 6 || r[6] != '\\' || r[7] != 'u')
		return 0;
	second = hex4(r + 8);
	if (second < 0xDC00 || second > 0xDFFF)
		return 0;
	*cp = 0x10000 + (((first & 0x3FF) << 10) | (second & 0x3FF));
	return 12;
}

#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "skip_plain reads words little-endian");

/* The zero bytes of w, as their high bits: the lowest one set is the
 * first zero byte (bits above it may be set by the borrow; not used). */
static uint64_t zero_bytes(uint64_t w)
{
	return (w - ONES) & ~w & HIGHS;
}

#if defined(__SSE2__) && defined(__x86_64__)
/* The same 32 bytes a step, on CPUs with AVX2 (asked at run time): where
 * under 32 bytes are left, the SSE2 loop goes on. */
__attribute__((target("avx2")))
static const unsigned char *skip32(const unsigned char *q, const unsigned char *end,
				   char b1, char b2)
{
	const __m256i v1 = _mm256_set1_epi8(b1), v2 = _mm256_set1_epi8(b2);
	const __m256i z = _mm256_setzero_si256();

	while (end - q >= 32) {
		__m256i x = _mm256_loadu_si256((const __m256i *)q);
		unsigned m = (unsigned)_mm256_movemask_epi8(
			_mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(x, v1),
							_mm256_cmpeq_epi8(x, v2)),
					_mm256_cmpeq_epi8(x, z)));

		if (m)
			return q + __builtin_ctz(m);
		q += 32;
	}
	return q;
}

/* From q, sixteen bytes a step (SSE2 is in every x86-64) while a step
 * holds none of the bytes asked for (b1, b2, NUL; b2 == b1 to ask for
 * two): the first of them, or where under 16 bytes are left (for the
 * caller's tail loop). Prompts of KiBs go by here on every hop: past a
 * first step with none, AVX2 takes over where the CPU has it (a short
 * string, most of them, ends in that first step, inline). */
static const unsigned char *skip16(const unsigned char *q, const unsigned char *end,
				   char b1, char b2)
{
	const __m128i v1 = _mm_set1_epi8(b1), v2 = _mm_set1_epi8(b2), z = _mm_setzero_si128();
	bool first = true;

	while (end - q >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)q);
		unsigned m = (unsigned)_mm_movemask_epi8(
			_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, v1), _mm_cmpeq_epi8(x, v2)),
				     _mm_cmpeq_epi8(x, z)));

		if (m)
			return q + __builtin_ctz(m);
		q += 16;
		if (first && end - q >= 64 && __builtin_cpu_supports("avx2"))
			q = skip32(q, end, b1, b2);
		first = false;
	}
	return q;
}
#else
static const unsigned char *skip16(const unsigned char *q, const unsigned char *end,
				   char b1, char b2)
{
	return q;
}
#endif

/* The first quote, backslash or NUL from q (or end): 32, 16 or 8 bytes
 * at a time (little-endian: the lowest flag is the first byte). */
static const unsigned char *skip_plain(const unsigned char *q, const unsigned char *end)
{
	q = skip16(q, end, '"', '\\');
	while (end - q >= 8) {
		uint64_t w, m;

		memcpy(&w, q, sizeof(w));
		m = zero_bytes(w) | zero_bytes(w ^ ('"' * ONES)) | zero_bytes(w ^ ('\\' * ONES));
		if (m)
			return q + (__builtin_ctzll(m) >> 3);
		q += 8;
	}
	while (q < end && *q != '"' && *q != '\\' && *q)
		q++;
	return q;
}

/* The first backslash or NUL from q (or end), 32, 16 or 8 bytes at a time:
 * the end of a run of bytes that decode as themselves. */
static const unsigned char *skip_unescaped(const unsigned char *q, const unsigned char *end)
{
	q = skip16(q, end, '\\', '\\');
	while (end - q >= 8) {
		uint64_t w, m;

		memcpy(&w, q, sizeof(w));
		m = zero_bytes(w) | zero_bytes(w ^ ('\\' * ONES));
		if (m)
			return q + (__builtin_ctzll(m) >> 3);
		q += 8;
	}
	while (q < end && *q != '\\' && *q)
		q++;
	return q;
}

/* A string at ps->p (a quote): its raw content, and whether it needs
 * decoding (escapes, or a NUL that ends cJSON's copy of it); false where
 * cJSON's parse_string fails. Its end is found inline (skip_plain):
 * most strings are short, and memchr's call cost more than they. */
static bool parse_string(struct parser *ps, const char **s, uint32_t *len, bool *esc)
{
	const unsigned char *start = ps->p + 1, *q = start, *end = ps->end;
	bool backslash = false, nul = false;

	/* the end: a quote not skipped as the byte after a backslash */
	for (;; q++) {
		q = skip_plain(q, end);
		if (q >= end)
			return false;
		if (*q == '"')
			break;
		if (*q == '\\') {
			if (q + 1 >= end)
				return false;
			backslash = true;
			q++;
		} else if (!*q) {
			nul = true;
		}
	}
	/* then the escapes, as cJSON decodes them */
	for (const unsigned char *r = start; backslash && r < q;) {
		unsigned long cp;
		size_t k;

		if (*r != '\\') {
			r = memchr(r, '\\', q - r);	/* prompts: KiB between escapes */
			if (!r)
				break;
		}
		k = escape_len(r, q, &cp);
		if (!k)
			return false;
		r += k;
	}
	*esc = backslash || nul;
	*s = (const char *)start;
	*len = q - start;
	ps->p = q + 1;
	return true;
}

static bool number_byte(unsigned char c)
{
	return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'e' || c == 'E' || c == '.';
}

/* The run of number bytes as strtod reads it, '.' as the locale's point;
 * integers of up to 15 digits (what counts are) without strtod. */
static bool parse_number(struct parser *ps, double *num)
{
	const unsigned char *start = ps->p, *run = start, *d = start + (*start == '-');
	char local[64], *buf, *after;
	unsigned long long u = 0;
	size_t n;
	double x;

	while (run < ps->end && number_byte(*run))
		run++;
	n = run - start;
	if (run > d && run - d <= FAST_DIGITS) {
		const unsigned char *c = d;

		while (c < run && *c >= '0' && *c <= '9')
			u = u * 10 + (*c++ - '0');
		if (c == run) {
			*num = *start == '-' ? -(double)u : (double)u;
			ps->p = run;
			return true;
		}
	}
	buf = n < sizeof(local) ? local : malloc(n + 1);
	if (!buf)
		return false;
	memcpy(buf, start, n);
	buf[n] = 0;
	if (memchr(buf, '.', n)) {
		char point = localeconv()->decimal_point[0];

		for (size_t i = 0; i < n; i++)
			if (buf[i] == '.')
				buf[i] = point;
	}
	x = strtod(buf, &after);
	if (buf != local)
		free(buf);
	if (after == buf)
		return false;
	*num = x;
	ps->p = start + (after - buf);
	return true;
}

static bool parse_value(struct parser *ps, int i);

/* Arrays and objects: values separated by commas up to the closing
 * bracket; members of objects are "key": value. */
static bool parse_container(struct parser *ps, int i, bool object)
{
	int prev = -1;

	if (ps->depth >= NESTING_LIMIT)
		return false;
	ps->depth++;
	ps->v->nodes[i].type = object ? JSON_OBJECT : JSON_ARRAY;
	ps->p++;
	skip_space(ps);
	if (ps->p < ps->end && *ps->p == (object ? '}' : ']'))
		goto done;
	for (;;) {
		int c = new_node(ps->v);

		if (c < 0)
			return false;
		if (prev < 0)
			ps->v->nodes[i].child = c;
		else
			ps->v->nodes[prev].next = c;
		prev = c;
		if (object) {
			const char *key;
			uint32_t klen;
			bool esc;

			if (ps->p >= ps->end || *ps->p != '"' || !parse_string(ps, &key, &klen, &esc))
				return false;
			ps->v->nodes[c].key = key;
			ps->v->nodes[c].key_len = klen;
			ps->v->nodes[c].key_esc = esc;
			skip_space(ps);
			if (ps->p >= ps->end || *ps->p != ':')
				return false;
			ps->p++;
			skip_space(ps);
		}
		if (!parse_value(ps, c))
			return false;
		skip_space(ps);
		if (ps->p >= ps->end || *ps->p != ',')
			break;
		ps->p++;
		skip_space(ps);
	}
	if (ps->p >= ps->end || *ps->p != (object ? '}' : ']'))
		return false;
done:
	ps->depth--;
	ps->p++;
	return true;
}

static bool literal(struct parser *ps, int i, const char *word, size_t n, enum json_type t)
{
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n))
		return false;
	ps->v->nodes[i].type = t;
	ps->p += n;
	return true;
}

static bool parse_value(struct parser *ps, int i)
{
	struct json_node *n;
	const char *s;
	uint32_t len;
	double num;
	bool esc;

	if (ps->p >= ps->end)
		return false;
	switch (*ps->p) {
	case 'n':
		return literal(ps, i, "null", 4, JSON_NULL);
	case 'f':
		return literal(ps, i, "false", 5, JSON_FALSE);
	case 't':
		return literal(ps, i, "true", 4, JSON_TRUE);
	case '"':
		if (!parse_string(ps, &s, &len, &esc))
			return false;
		n = &ps->v->nodes[i];
		n->type = JSON_STRING;
		n->str = s;
		n->str_len = len;
		n->str_esc = esc;
		return true;
	case '[':
		return parse_container(ps, i, false);
	case '{':
		return parse_container(ps, i, true);
	}
	if (*ps->p != '-' && (*ps->p < '0' || *ps->p > '9'))
		return false;
	if (!parse_number(ps, &num))
		return false;
	ps->v->nodes[i].type = JSON_NUMBER;
	ps->v->nodes[i].num = num;
	return true;
}

bool json_view_parse(struct json_view *v, const char *text, size_t len)
{
	struct parser ps = {
		.v = v,
		.p = (const unsigned char *)text,
		.end = (const unsigned char *)text + len,
	};

	v->nodes = v->local;
	v->cap = JSON_VIEW_LOCAL;
	v->n = 0;
	if (!text || !len)
		return false;
	if (len > 4 && !memcmp(text, "\xEF\xBB\xBF", 3))
		ps.p += 3;
	skip_space(&ps);
	if (new_node(v) < 0 || !parse_value(&ps, 0)) {
		json_view_release(v);
		return false;
	}
	return true;
}

void json_view_release(struct json_view *v)
{
	if (v->nodes != v->local)
		free(v->nodes);
	v->nodes = v->local;
	v->cap = JSON_VIEW_LOCAL;
	v->n = 0;
}

int json_view_type(const struct json_view *v, int i)
{
	return i < 0 ? 0 : v->nodes[i].type;
}

/* Decodes raw[0, len) as cJSON does, into out (cap bytes, terminated),
 * stopping at a NUL: the bytes a C string of it holds. Returns them. */
static size_t decode(const char *raw, size_t len, char *out, size_t cap)
{
	const unsigned char *r = (const unsigned char *)raw, *end = r + len;
	size_t o = 0;

	while (r < end && o + 1 < cap) {
		unsigned char b[4];
		unsigned long cp;
		size_t k, blen;

		if (*r != '\\') {
			/* a run that decodes as itself, copied whole */
			size_t k = skip_unescaped(r, end) - r;

			if (!k)
				break;	/* a NUL: cJSON's copy ends there */
			if (k > cap - 1 - o)
				k = cap - 1 - o;
			memcpy(out + o, r, k);
			o += k;
			r += k;
			continue;
		}
		k = escape_len(r, end, &cp);	/* valid: checked when parsed */
		r += k;
		if (cp < 0x80) {
			b[0] = cp;
			blen = 1;
		} else if (cp < 0x800) {
			b[0] = 0xC0 | (cp >> 6);
			b[1] = 0x80 | (cp & 0x3F);
			blen = 2;
		} else if (cp < 0x10000) {
			b[0] = 0xE0 | (cp >> 12);
			b[1] = 0x80 | ((cp >> 6) & 0x3F);
			b[2] = 0x80 | (cp & 0x3F);
			blen = 3;
		} else {
			b[0] = 0xF0 | (cp >> 18);
			b[1] = 0x80 | ((cp >> 12) & 0x3F);
			b[2] = 0x80 | ((cp >> 6) & 0x3F);
			b[3] = 0x80 | (cp & 0x3F);
			blen = 4;
		}
		for (size_t j = 0; j < blen; j++) {
			if (!b[j] || o + 1 >= cap)
				goto out;
			out[o++] = b[j];
		}
	}
out:
	out[o] = 0;
	return o;
}

/* Does the C string that raw (escapes or not) stands for equal s? */
static bool raw_is(const char *raw, size_t len, bool esc, const char *s)
{
	size_t n = strlen(s);
	char tmp[128];

	if (!esc)
		return len >= n && !memcmp(raw, s, n) && (len == n || !raw[n]);
	if (n >= sizeof(tmp) - 1)
		return false;	/* not a name asked for here */
	return decode(raw, len, tmp, n + 2) == n && !memcmp(tmp, s, n);
}

int json_view_get(const struct json_view *v, int i, const char *key)
{
	size_t n = strlen(key);

	if (i < 0 || v->nodes[i].type != JSON_OBJECT)
		return -1;
	for (int c = v->nodes[i].child; c >= 0; c = v->nodes[c].next) {
		const struct json_node *m = &v->nodes[c];

		if (m->key_esc ? raw_is(m->key, m->key_len, true, key)
			       : m->key_len == n && !memcmp(m->key, key, n))
			return c;
	}
	return -1;
}

static const char *text_of(const char *raw, size_t rlen, bool esc, char *tmp, size_t cap,
			   char **heap, size_t *len)
{
	*heap = NULL;
	if (!esc) {	/* neither escapes nor NUL bytes */
		*len = rlen;
		return raw;
	}
	if (rlen >= cap) {	/* decoded is never longer than raw */
		*heap = malloc(rlen + 1);
		if (!*heap)
			return NULL;
		tmp = *heap;
		cap = rlen + 1;
	}
	*len = decode(raw, rlen, tmp, cap);
	return tmp;
}

const char *json_view_str(const struct json_view *v, int i, char *tmp, size_t cap,
			  char **heap, size_t *len)
{
	*heap = NULL;
	if (i < 0 || v->nodes[i].type != JSON_STRING)
		return NULL;
	return text_of(v->nodes[i].str, v->nodes[i].str_len, v->nodes[i].str_esc, tmp, cap,
		       heap, len);
}

const char *json_view_key(const struct json_view *v, int i, char *tmp, size_t cap,
			  char **heap, size_t *len)
{
	*heap = NULL;
	if (i < 0 || !v->nodes[i].key)
		return NULL;
	return text_of(v->nodes[i].key, v->nodes[i].key_len, v->nodes[i].key_esc, tmp, cap,
		       heap, len);
}

void json_view_str_copy(const struct json_view *v, int i, char *dst, size_t size)
{
	const struct json_node *n;
	size_t k = 0;

	if (!size)
		return;
	if (i < 0 || v->nodes[i].type != JSON_STRING) {
		dst[0] = 0;
		return;
	}
	n = &v->nodes[i];
	if (n->str_esc) {
		decode(n->str, n->str_len, dst, size);
		return;
	}
	while (k < n->str_len && n->str[k] && k < size - 1) {
		dst[k] = n->str[k];
		k++;
	}
	dst[k] = 0;
}

bool json_view_str_nonempty(const struct json_view *v, int i)
{
	char tmp[2];

	if (i < 0 || v->nodes[i].type != JSON_STRING)
		return false;
	return decode(v->nodes[i].str, v->nodes[i].str_len, tmp, sizeof(tmp)) > 0;
}

bool json_view_str_is(const struct json_view *v, int i, const char *s)
{
	if (i < 0 || v->nodes[i].type != JSON_STRING)
		return false;
	return raw_is(v->nodes[i].str, v->nodes[i].str_len, v->nodes[i].str_esc, s);
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Incremental HTTP/1.x framing for traced byte streams. See http_parser.h
 * for the callback contract. Resync points are piece starts and message
 * ends only: scanning inside a piece for "HTTP/1.1" would find body text. */
#include <string.h>
#include "proto/http_stream.h"
#include "util/str.h"

enum sl_state {
	SL_METHOD,
	SL_TARGET,
	SL_VERSION,
	SL_EOL,
	SL_LF,
	SL_SP,
	SL_STATUS,
	SL_AFTER_STATUS,
	SL_REASON,
};

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define REASON_MAX	1024	/* longer reason phrase: implausible */
#define CL_MAX		(1LL << 50)

static const char http_ver[] = "HTTP/1.";

/* Only standard methods: body text at a piece start must not pass. */
static const struct {
	const char *name;
	size_t len;
} methods[] = {
#define M(s) { s, sizeof(s) - 1 }
	M("GET"), M("POST"), M("PUT"), M("DELETE"), M("HEAD"), M("OPTIONS"), M("PATCH"),
	M("CONNECT"), M("TRACE"),
#undef M
};

static const char *const rid_headers[] = {
	"x-request-id", "x-correlation-id", "x-trace-id", "request-id",
};

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

#define ONES	0x0101010101010101ULL

/* lower(p[i]) == name[i] for all i < n, where name holds only lower-case
 * letters, digits, '-' and '/' (every name and token compared here): a
 * letter's byte has 0x40 set, and OR-ing 0x20 into the input there (only
 * there: '\r' | 0x20 is '-') folds exactly its two cases; 8 at a time. */
static bool word_is(const char *p, const char *name)
{
	uint64_t a, b;

	memcpy(&a, p, 8);
	memcpy(&b, name, 8);
	return (a | (b & 0x40 * ONES) >> 1) == b;
}

static bool name_is_n(const char *p, const char *name, size_t n)
{
	if (n >= 8) {	/* whole words, the last one overlapping */
		for (size_t i = 0; i + 8 < n; i += 8)
			if (!word_is(p + i, name + i))
				return false;
		return word_is(p + n - 8, name + n - 8);
	}
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)p[i] | ((unsigned char)name[i] & 0x40) >> 1) !=
		    (unsigned char)name[i])
			return false;
	return true;
}

static bool name_is(const char *p, size_t n, const char *name)
{
	return strlen(name) == n && name_is_n(p, name, n);
}

/* name_is for a literal: its length known at compile time */
#define NAME_IS(p, n, lit) ((n) == sizeof(lit) - 1 && name_is_n(p, lit, sizeof(lit) - 1))

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static inline void trim(const char **pp, size_t *nn)
{
	const char *p = *pp;	/* locals: stores through pp would alias */
	size_t n = *nn;

	while (n && is_ows(*p)) {
		p++;
		n--;
	}
	while (n && is_ows(p[n - 1]))
		n--;
	*pp = p;
	*nn = n;
}

/* Comma-separated list: does any element equal tok (case-insensitive)?
 * With last_only, only the final element counts (Transfer-Encoding). */
static bool list_has(const char *v, size_t n, const char *tok, bool last_only)
{
	bool found = false;
	size_t i = 0;

	while (i <= n) {
		size_t j = i;
		const char *e;
		size_t en;

		while (j < n && v[j] != ',')
			j++;
		e = v + i;
		en = j - i;
		trim(&e, &en);
		if (last_only)
			found = name_is(e, en, tok);
		else if (name_is(e, en, tok))
			return true;
		i = j + 1;
	}
	return found;
}

/* "5" or "5, 5": all elements must be the same number; -1 if invalid. */
static long long parse_content_length(const char *v, size_t n)
{
	long long val = -1;
	size_t i = 0;

	while (i <= n) {
		size_t j = i;
		const char *e;
		size_t en, k;
		long long x = 0;

		while (j < n && v[j] != ',')
			j++;
		e = v + i;
		en = j - i;
		trim(&e, &en);
		if (!en)
			return -1;
		for (k = 0; k < en; k++) {
			if (e[k] < '0' || e[k] > '9')
				return -1;
			x = x * 10 + (e[k] - '0');
			if (x > CL_MAX)
				return -1;
		}
		if (val >= 0 && x != val)
			return -1;
		val = x;
		i = j + 1;
	}
	return val;
}

/* Ids and names are a few dozen bytes: 8 at a time, not the inlined
 * rep movs the compiler picks for memcpy here (a third of header_line). */
static void copy_str(char *dst, size_t size, const char *src, size_t n)
{
	size_t i = 0;

	if (n > size - 1)
		n = size - 1;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, src + i, 8);
		memcpy(dst + i, &w, 8);
	}
	for (; i < n; i++)
		dst[i] = src[i];
	dst[n] = '\0';
}

static void send_head(struct http_stream *s, uint64_t ts)
{
	if (s->head.head_truncated)
		s->stats.truncated_heads++;
	s->head_sent = true;
	if (s->cb->on_head)
		s->cb->on_head(s->ctx, &s->head, ts);
}

/* A message was begun but its head is lost: report what we have. */
static void send_cut_head(struct http_stream *s, uint64_t ts)
{
	if (s->msg_open && !s->head_sent) {
		s->head.head_truncated = true;
		s->head.head_len = s->head_bytes;
		send_head(s, ts);
	}
}

static void end_message(struct http_stream *s, uint64_t ts, bool complete)
{
	s->msg_open = false;
	s->head_sent = false;
	if (complete)
		s->stats.complete++;
	else
		s->stats.incomplete++;
	s->state = HS_IDLE;
	if (s->cb->on_end)
		s->cb->on_end(s->ctx, ts, complete);
}

static void go_seek(struct http_stream *s)
{
	s->state = HS_SEEK;
	s->seek_boundary = false;
}

static void desync(struct http_stream *s, uint64_t ts)
{
	s->stats.desyncs++;
	send_cut_head(s, ts);
	if (s->cb->on_desync)
		s->cb->on_desync(s->ctx, ts);
	if (s->msg_open)
		end_message(s, ts, false);
	go_seek(s);
}

static void body(struct http_stream *s, const char *p, size_t n, uint64_t ts)
{
	if (n && s->cb->on_body)
		s->cb->on_body(s->ctx, p, n, ts);
}

static void body_gap(struct http_stream *s, size_t n, uint64_t ts)
{
	s->stats.body_gap_bytes += n;
	if (n && s->cb->on_body_gap)
		s->cb->on_body_gap(s->ctx, n, ts);
}

static void begin_candidate(struct http_stream *s, bool from_idle)
{
	memset(&s->head, 0, sizeof(s->head));
	s->head.content_length = -1;
	s->state = HS_START;
	s->sl.state = s->kind == HTTP_REQUEST ? SL_METHOD : SL_VERSION;
	s->sl.pos = 0;
	s->sl.field_len = 0;
	s->sl_len = 0;
	s->sl_from_idle = from_idle;
	s->interim = false;
	s->rid_rank = 0;
	s->cl_seen = false;
	s->cl_invalid = false;
	s->te_seen = false;
	s->keep_alive = false;
}

/* One byte of a candidate start line: -1 implausible, 0 more, 1 done. */
/* m[0, len) is a prefix of a method (whole: is one). memcmp, not
 * strncmp: a NUL in m must not end the comparison early and let
 * methods[i][len] read past a shorter literal. */
static bool method_ok(const char *m, size_t len, bool whole)
{
	size_t i, mlen;

	for (i = 0; i < ARRAY_SIZE(methods); i++) {
		mlen = methods[i].len;
		/* first bytes differ for most: no call for them */
		if (len && m[0] != methods[i].name[0])
			continue;
		if (len <= mlen && !memcmp(m, methods[i].name, len) &&
		    (!whole || len == mlen))
			return true;
	}
	return false;
}

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

static int start_line_step(enum http_kind kind, struct http_sl_scan *sc,
			   struct http_head *h, unsigned char c)
{

	switch (sc->state) {
	case SL_METHOD:
		if (c != ' ') {
			if (sc->field_len >= sizeof(h->method) - 1)
				return -1;
			h->method[sc->field_len++] = c;
			return method_ok(h->method, sc->field_len, false) ? 0 : -1;
		}
		if (!method_ok(h->method, sc->field_len, true))
			return -1;
		sc->state = SL_TARGET;
		sc->field_len = 0;
		return 0;
	case SL_TARGET:
		if (c == ' ' && sc->field_len) {
			sc->state = SL_VERSION;
			sc->pos = 0;
			return 0;
		}
		if (c <= 0x20 || c == 0x7f || sc->field_len >= HTTP_TARGET_MAX)
			return -1;
		if (sc->field_len < sizeof(h->path) - 1)
			h->path[sc->field_len] = c;
		sc->field_len++;
		return 0;
	case SL_VERSION:
		if (sc->pos < (int)sizeof(http_ver) - 1) {
			if (c != http_ver[sc->pos])
				return -1;
			sc->pos++;
			return 0;
		}
		if (!digit(c))
			return -1;
		h->version_minor = c - '0';
		sc->state = kind == HTTP_REQUEST ? SL_EOL : SL_SP;
		return 0;
	case SL_EOL:
		if (c == '\r') {
			sc->state = SL_LF;
			return 0;
		}
		return c == '\n' ? 1 : -1;
	case SL_LF:
		return c == '\n' ? 1 : -1;
	case SL_SP:
		if (c != ' ')
			return -1;
		sc->state = SL_STATUS;
		sc->pos = 0;
		return 0;
	case SL_STATUS:
		if (!digit(c))
			return -1;
		h->status = h->status * 10 + (c - '0');
		if (++sc->pos < 3)
			return 0;
		if (h->status < 100 || h->status > 599)
			return -1;
		sc->state = SL_AFTER_STATUS;
		return 0;
	case SL_AFTER_STATUS:
		if (c == ' ') {
			sc->state = SL_REASON;
			sc->field_len = 0;
			return 0;
		}
		if (c == '\r') {
			sc->state = SL_LF;
			return 0;
		}
		return c == '\n' ? 1 : -1;
	case SL_REASON:
		if (c == '\r') {
			sc->state = SL_LF;
			return 0;
		}
		if (c == '\n')
			return 1;
		if ((c < 0x20 && c != '\t') || c == 0x7f ||
		    sc->field_len >= REASON_MAX)
			return -1;
		if (sc->field_len < sizeof(h->reason) - 1)
			h->reason[sc->field_len] = c;
		sc->field_len++;
		return 0;
	}
	return -1;
}

/* Does this piece, on its own, begin with a complete start line? */
static bool piece_has_start_line(enum http_kind kind, const char *p, size_t n)
{
	struct http_sl_scan sc = {
		.state = kind == HTTP_REQUEST ? SL_METHOD : SL_VERSION,
	};
	struct http_head h;
	size_t i;

	memset(&h, 0, sizeof(h));
	for (i = 0; i < n; i++) {
		int r = start_line_step(kind, &sc, &h, (unsigned char)p[i]);

		if (r)
			return r > 0;
	}
	return false;
}

static void start_line_done(struct http_stream *s)
{
	int st = s->head.status;

	/* 1xx other than 101 precede the real response: no callbacks. */
	s->interim = s->kind == HTTP_RESPONSE && st >= 100 && st < 200 &&
		     st != 101;
	s->state = HS_HEADERS;
	s->line_len = 0;
	s->line_over = false;
	s->head_bytes = s->sl_len;
	if (!s->interim) {
		s->msg_open = true;
		s->head_sent = false;
		s->stats.messages++;
		if (s->cb->on_begin)
			s->cb->on_begin(s->ctx, s->begin_ts);
	}
}

/* Where the first ':' of line[0, len) is, len if none: a word at a time
 * (little-endian: the lowest flag is the first byte). */
static size_t colon_at(const char *line, size_t len)
{
	size_t i = 0;

	for (; len - i >= 8; i += 8) {
		uint64_t w, m;

		memcpy(&w, line + i, 8);
		w ^= ':' * ONES;
		m = (w - ONES) & ~w & (0x80 * ONES);
		if (m)
			return i + (__builtin_ctzll(m) >> 3);
	}
	while (i < len && line[i] != ':')
		i++;
	return i;
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "colon_at reads words little-endian");

static void header_line(struct http_stream *s, const char *line, size_t len,
			bool over)
{
	struct http_head *h = &s->head;
	const char *colon, *v;
	size_t nlen, vlen;
	size_t i;

	/* obs-fold continuation: nothing we use is ever folded; and the
	 * names below start with c, t, e, x or r (Host, Date, Server,
	 * User-Agent ... are passed over here) */
	switch (lower((unsigned char)line[0])) {
	case 'c': case 't': case 'e': case 'x': case 'r':
		break;
	default:
		return;
	}
	nlen = colon_at(line, len);
	if (nlen == len)
		return;
	/* the names below are 6, 10, 12, 14, 16 or 17 bytes long */
	if (nlen > 17 || !((1u << nlen) & (1u << 6 | 1u << 10 | 1u << 12 | 1u << 14 |
					   1u << 16 | 1u << 17)))
		return;
	colon = line + nlen;
	v = colon + 1;
	vlen = len - nlen - 1;
	trim(&v, &vlen);

	if (NAME_IS(line, nlen, "content-length")) {
		long long cl = over ? -1 : parse_content_length(v, vlen);

		if (cl < 0 || (s->cl_seen && cl != h->content_length))
			s->cl_invalid = true;
		s->cl_seen = true;
		h->content_length = cl;
	} else if (NAME_IS(line, nlen, "transfer-encoding")) {
		/* a cut line may hide a later coding: not chunked then */
		s->te_seen = true;
		h->chunked = !over && list_has(v, vlen, "chunked", true);
	} else if (NAME_IS(line, nlen, "connection")) {
		bool one = !memchr(v, ',', vlen);	/* one token: the usual case */

		if (one ? NAME_IS(v, vlen, "close") : list_has(v, vlen, "close", false))
			h->conn_close = true;
		if (one ? NAME_IS(v, vlen, "keep-alive") : list_has(v, vlen, "keep-alive", false))
			s->keep_alive = true;
	} else if (NAME_IS(line, nlen, "content-type")) {
		const char *semi = memchr(v, ';', vlen);
		size_t mlen = semi ? (size_t)(semi - v) : vlen;

		trim(&v, &mlen);
		h->event_stream = NAME_IS(v, mlen, "text/event-stream");
	} else if (NAME_IS(line, nlen, "expect")) {
		h->expect_continue = NAME_IS(v, vlen, "100-continue");
	} else {
		for (i = 0; i < ARRAY_SIZE(rid_headers); i++) {
			if (!name_is(line, nlen, rid_headers[i]))
				continue;
			if (s->rid_rank && s->rid_rank <= (int)i + 1)
				break;
			s->rid_rank = i + 1;
			copy_str(h->request_id, sizeof(h->request_id), v, vlen);
			copy_str(h->request_id_header,
				 sizeof(h->request_id_header), rid_headers[i],
				 strlen(rid_headers[i]));
			break;
		}
	}
}

static void chunk_size_init(struct http_stream *s)
{
	s->state = HS_CHUNK_SIZE;
	s->chunk_size = 0;
	s->chunk_digits = 0;
	s->chunk_ext = false;
	s->chunk_cr = false;
	s->chunk_line_len = 0;
}

static void head_done(struct http_stream *s, uint64_t ts)
{
	struct http_head *h = &s->head;
	bool no_body = false;

	h->head_len = s->head_bytes;
	if (h->version_minor == 0 && !s->keep_alive)
		h->conn_close = true;
	if (s->interim) {
		s->stats.interim++;
		s->state = HS_IDLE;
		return;
	}
	send_head(s, ts);

	if (s->kind == HTTP_RESPONSE) {
		no_body = s->no_body_next || h->status == 204 ||
			  h->status == 304 || h->status == 101;
		s->no_body_next = false;
	}
	if (no_body) {
		end_message(s, ts, true);
		if (h->status == 101)	/* protocol switched: not ours now */
			go_seek(s);
	} else if (s->te_seen) {
		if (h->chunked)
			chunk_size_init(s);
		else if (s->kind == HTTP_RESPONSE)
			s->state = HS_BODY_CLOSE;
		else
			desync(s, ts);	/* a server would answer 400 */
	} else if (s->cl_seen) {
		if (s->cl_invalid) {
			desync(s, ts);
		} else if (h->content_length > 0) {
			s->body_left = h->content_length;
			s->state = HS_BODY_LEN;
		} else {
			end_message(s, ts, true);
		}
	} else if (s->kind == HTTP_RESPONSE) {
		s->state = HS_BODY_CLOSE;
	} else {
		end_message(s, ts, true);
	}
}

/* Does p start with a standard method and a space? Then it is in
 * head.method, as start_line_step leaves it. */
static bool whole_method(struct http_stream *s, const char *p, size_t n)
{
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
		size_t len = methods[i].len;

		if (n > len && p[0] == methods[i].name[0] && p[len] == ' ' &&
		    !memcmp(p, methods[i].name, len)) {
			memcpy(s->head.method, methods[i].name, len + 1);
			return true;
		}
	}
	return false;
}

/* A byte start_line_step takes into the target and nothing more. */
static bool target_byte(const struct http_stream *s, char ch)
{
	unsigned char c = ch;

	return c > 0x20 && c != 0x7f && s->sl.field_len < HTTP_TARGET_MAX;
}

/* A byte start_line_step takes into the reason phrase and nothing more. */
static bool reason_byte(const struct http_stream *s, char ch)
{
	unsigned char c = ch;

	return (c >= 0x20 || c == '\t') && c != 0x7f && s->sl.field_len < REASON_MAX;
}

/* From p[i], a run of field bytes (ok says which) that start_line_step
 * would take one call each: kept as it keeps them (the prefix that fits
 * in dst), counted in the field and the line. Returns the run's end. */
static inline size_t take_run(struct http_stream *s, const char *p, size_t i, size_t n,
			      char *dst, size_t size,
			      bool (*ok)(const struct http_stream *, char))
{
	do {
		if (s->sl.field_len < size - 1)
			dst[s->sl.field_len] = p[i];
		s->sl.field_len++;
		s->sl_len++;
	} while (++i < n && ok(s, p[i]));
	return i;
}

static size_t do_start(struct http_stream *s, const char *p, size_t n,
		       bool at_piece_start, uint64_t ts)
{
	size_t i;

	/* A candidate left over from the last piece loses to a piece that
	 * starts with a whole start line: no suffix of a real start line
	 * is one, so this never breaks a genuinely split line. */
	if (at_piece_start && s->sl_len && piece_has_start_line(s->kind, p, n)) {
		s->stats.skipped_bytes += s->sl_len;
		if (s->sl_from_idle)
			desync(s, ts);
		begin_candidate(s, false);
	}
	for (i = 0; i < n; i++) {
		int r;

		/* empty lines before a message are allowed (RFC 9112 2.2) */
		if (!s->sl_len && (p[i] == '\r' || p[i] == '\n')) {
			s->stats.skipped_bytes++;
			continue;
		}
		if (!s->sl_len)
			s->begin_ts = ts;
		if (s->sl.state == SL_METHOD && !s->sl.field_len && whole_method(s, p + i, n - i)) {
			/* "POST " whole: the steps it would take */
			size_t k = strlen(s->head.method) + 1;

			s->sl.state = SL_TARGET;
			s->sl_len += k;
			i += k;
			if (i == n)
				break;
		}
		if (s->sl.state == SL_VERSION && !s->sl.pos && n - i >= sizeof(http_ver) &&
		    !memcmp(p + i, http_ver, sizeof(http_ver) - 1) &&
		    digit(p[i + sizeof(http_ver) - 1])) {
			/* "HTTP/1.x" whole: the 8 steps it would take */
			s->head.version_minor = p[i + sizeof(http_ver) - 1] - '0';
			s->sl.pos = sizeof(http_ver) - 1;
			s->sl.state = s->kind == HTTP_REQUEST ? SL_EOL : SL_SP;
			s->sl_len += sizeof(http_ver);
			i += sizeof(http_ver);
			if (i == n)
				break;
		}
		if (s->sl.state == SL_SP && n - i >= 5 && p[i] == ' ' &&
		    digit(p[i + 1]) && digit(p[i + 2]) && digit(p[i + 3])) {
			/* " 200" whole: the 4 steps it would take, when they
			 * would pass (else the steps below say why not) */
			int st = (p[i + 1] - '0') * 100 + (p[i + 2] - '0') * 10 + (p[i + 3] - '0');

			if (st >= 100 && st <= 599) {
				s->head.status = st;
				s->sl.state = SL_AFTER_STATUS;
				s->sl.pos = 3;
				s->sl_len += 4;
				i += 4;
			}
		}
		if (s->sl.state == SL_AFTER_STATUS && p[i] == ' ') {
			s->sl.state = SL_REASON;
			s->sl.field_len = 0;
			s->sl_len++;
			if (++i == n)
				break;
		}
		if (s->sl.state == SL_REASON && reason_byte(s, p[i])) {
			i = take_run(s, p, i, n, s->head.reason, sizeof(s->head.reason),
				     reason_byte);
			if (i == n)
				break;
		}
		if (s->sl.state == SL_TARGET && target_byte(s, p[i])) {
			/* the bulk of a start line */
			i = take_run(s, p, i, n, s->head.path, sizeof(s->head.path),
				     target_byte);
			if (i == n)
				break;
		}
		r = start_line_step(s->kind, &s->sl, &s->head,
				    (unsigned char)p[i]);
		if (r < 0) {
			bool retry = at_piece_start && i == 0 && s->sl_len;

			s->stats.skipped_bytes += s->sl_len;
			if (s->sl_from_idle)
				desync(s, ts);
			go_seek(s);
			/* a piece start is a fresh chance for this byte */
			s->seek_boundary = retry;
			return i;
		}
		s->sl_len++;
		if (r > 0) {
			start_line_done(s);
			return i + 1;
		}
	}
	return n;
}

static size_t do_headers(struct http_stream *s, const char *p, size_t n,
			 uint64_t ts)
{
	const char *nl = memchr(p, '\n', n);
	size_t k = nl ? (size_t)(nl - p) + 1 : n;
	size_t text = nl ? k - 1 : k;
	size_t room = HTTP_LINE_MAX - s->line_len;
	size_t len;

	if (s->head_bytes + k > HTTP_HEAD_MAX) {
		desync(s, ts);
		return 0;
	}
	s->head_bytes += k;
	if (nl && !s->line_len && text <= HTTP_LINE_MAX) {
		/* the whole line is in this piece: read in place */
		len = text;
		if (len && p[len - 1] == '\r')
			len--;
		if (!len)
			head_done(s, ts);
		else
			header_line(s, p, len, false);
		return k;
	}
	if (text > room) {
		s->line_over = true;
		text = room;
	}
	memcpy(s->line + s->line_len, p, text);
	s->line_len += text;
	if (!nl)
		return k;

	len = s->line_len;
	if (len && s->line[len - 1] == '\r')
		len--;
	if (s->line_over)
		s->head.head_truncated = true;
	if (!len && !s->line_over) {
		head_done(s, ts);
		return k;
	}
	if (len)
		header_line(s, s->line, len, s->line_over);
	s->line_len = 0;
	s->line_over = false;
	return k;
}

static size_t do_chunk_size(struct http_stream *s, const char *p, size_t n,
			    uint64_t ts)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = p[i];
		int x;

		if (++s->chunk_line_len > HTTP_CHUNK_LINE_MAX)
			goto bad;
		if (s->chunk_cr && c != '\n')
			goto bad;
		if (c == '\n') {
			if (!s->chunk_digits)
				goto bad;
			if (s->chunk_size) {
				s->body_left = s->chunk_size;
				s->state = HS_CHUNK_DATA;
			} else {
				s->state = HS_TRAILERS;
				s->trailer_nonempty = false;
				s->trailer_bytes = 0;
			}
			return i + 1;
		}
		if (c == '\r') {
			if (!s->chunk_digits)
				goto bad;
			s->chunk_cr = true;
			continue;
		}
		if (s->chunk_ext)
			continue;
		x = str_hex_digit(c);
		if (x >= 0) {
			if (s->chunk_digits >= 15)
				goto bad;
			s->chunk_size = s->chunk_size * 16 + x;
			s->chunk_digits++;
			continue;
		}
		if (s->chunk_digits && (c == ';' || is_ows(c))) {
			s->chunk_ext = true;
			continue;
		}
		goto bad;
	}
	return n;
bad:
	desync(s, ts);
	return i;
}

static size_t do_trailers(struct http_stream *s, const char *p, size_t n,
			  uint64_t ts)
{
	const char *nl = memchr(p, '\n', n);
	size_t k = nl ? (size_t)(nl - p) + 1 : n;
	size_t i;

	s->trailer_bytes += k;
	if (s->trailer_bytes > HTTP_HEAD_MAX) {
		desync(s, ts);
		return 0;
	}
	for (i = 0; i < (nl ? k - 1 : k); i++)
		if (p[i] != '\r')
			s->trailer_nonempty = true;
	if (nl) {
		if (!s->trailer_nonempty)
			end_message(s, ts, true);
		s->trailer_nonempty = false;
	}
	return k;
}

/* Consume some of p (possibly 0 bytes after a state change). */
static size_t step(struct http_stream *s, const char *p, size_t n,
		   bool at_piece_start, uint64_t ts)
{
	size_t k;

	switch (s->state) {
	case HS_SEEK:
		if (s->seek_boundary) {
			s->seek_boundary = false;
			begin_candidate(s, false);
			return 0;
		}
		s->stats.skipped_bytes += n;
		return n;
	case HS_IDLE:
		begin_candidate(s, true);
		return 0;
	case HS_START:
		return do_start(s, p, n, at_piece_start, ts);
	case HS_HEADERS:
		return do_headers(s, p, n, ts);
	case HS_BODY_LEN:
	case HS_CHUNK_DATA:
		k = n < s->body_left ? n : s->body_left;
		body(s, p, k, ts);
		s->body_left -= k;
		if (!s->body_left) {
			if (s->state == HS_BODY_LEN) {
				end_message(s, ts, true);
			} else {
				s->state = HS_CHUNK_CRLF;
				s->crlf_pos = 0;
			}
		}
		return k;
	case HS_BODY_CLOSE:
		body(s, p, n, ts);
		return n;
	case HS_CHUNK_SIZE:
		return do_chunk_size(s, p, n, ts);
	case HS_CHUNK_CRLF:
		if (p[0] == '\r' && !s->crlf_pos) {
			s->crlf_pos = 1;
			return 1;
		}
		if (p[0] == '\n') {
			chunk_size_init(s);
			return 1;
		}
		desync(s, ts);
		return 0;
	case HS_TRAILERS:
		return do_trailers(s, p, n, ts);
	}
	return n;
}

static void feed_gap(struct http_stream *s, size_t n, uint64_t ts)
{
	size_t k;

	s->stats.gaps++;
	s->stats.gap_bytes += n;
	while (n) {
		switch (s->state) {
		case HS_SEEK:
			s->stats.skipped_bytes += n;
			s->seek_boundary = false;
			n = 0;
			break;
		case HS_START:
			s->stats.skipped_bytes += s->sl_len;
			if (s->sl_from_idle)
				desync(s, ts);
			go_seek(s);
			break;
		case HS_IDLE:		/* a message may start in the gap */
		case HS_HEADERS:
		case HS_CHUNK_SIZE:
		case HS_TRAILERS:
			desync(s, ts);
			break;
		case HS_BODY_LEN:
		case HS_CHUNK_DATA:
			k = n < s->body_left ? n : s->body_left;
			body_gap(s, k, ts);
			s->body_left -= k;
			n -= k;
			if (!s->body_left) {
				if (s->state == HS_BODY_LEN) {
					end_message(s, ts, true);
				} else {
					s->state = HS_CHUNK_CRLF;
					s->crlf_pos = 0;
				}
			}
			break;
		case HS_BODY_CLOSE:
			body_gap(s, n, ts);
			n = 0;
			break;
		case HS_CHUNK_CRLF:
			/* writers put data and its CRLF in one syscall: a gap
			 * that ends the data most likely ends the CRLF too */
			n--;
			if (!s->crlf_pos)
				s->crlf_pos = 1;
			else
				chunk_size_init(s);
			break;
		}
	}
}

void http_stream_init(struct http_stream *s, enum http_kind kind,
		      const struct http_callbacks *cb, void *ctx)
{
	static const struct http_callbacks none;

	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->cb = cb ? cb : &none;
	s->ctx = ctx;
	s->state = HS_SEEK;
	s->head.content_length = -1;
}

void http_stream_feed(struct http_stream *s, const char *data,
		      size_t cap_len, size_t total_len, uint64_t ts)
{
	size_t off = 0;

	if (total_len < cap_len)
		total_len = cap_len;
	s->seek_boundary = true;
	while (off < cap_len)
		off += step(s, data + off, cap_len - off, off == 0, ts);
	if (total_len > cap_len)
		feed_gap(s, total_len - cap_len, ts);
}

bool http_stream_skip_chunks(struct http_stream *s, size_t n, uint64_t ts, size_t left)
{
	size_t need;

	if (!s->msg_open)
		return false;
	switch (s->state) {
	case HS_CHUNK_SIZE:
		/* a size line cut by the last record: the kernel finished it
		 * (chunk_head_rest()) and went on; its rest is in the skip */
		need = 0;
		break;
	case HS_CHUNK_DATA:
		need = s->body_left + 2;
		break;
	case HS_CHUNK_CRLF:
		need = 2 - s->crlf_pos;
		break;
	default:
		return false;
	}
	/* a skip within the chunk (the record goes on in it) only where
	 * the kernel's count of what is left agrees */
	if (n < need && need - n != left)
		return false;
	s->stats.skipped_chunk_bytes += n;
	if (s->cb->on_body_skipped)
		s->cb->on_body_skipped(s->ctx, n, ts);
	else
		body_gap(s, n, ts);
	/* where the next byte falls in its chunk */
	chunk_size_init(s);
	if (left > 0 && left <= 2) {
		s->state = HS_CHUNK_CRLF;
		s->crlf_pos = 2 - left;
	} else if (left > 2) {
		s->state = HS_CHUNK_DATA;
		s->body_left = left - 2;
	}
	return true;
}

void http_stream_close(struct http_stream *s, uint64_t ts)
{
	if (s->state == HS_BODY_CLOSE) {
		end_message(s, ts, true);
	} else if (s->state == HS_START) {
		s->stats.skipped_bytes += s->sl_len;
	} else if (s->msg_open) {
		send_cut_head(s, ts);
		end_message(s, ts, false);
	}
	go_seek(s);
	s->no_body_next = false;
}

void http_stream_expect_no_body(struct http_stream *s)
{
	s->no_body_next = true;
}

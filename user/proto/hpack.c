// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* HPACK decoder (RFC 7541): see hpack.h for the partial-table rules. */
#include <string.h>
#include "proto/hpack.h"

static const char *const static_table[HPACK_STATIC_COUNT][2] = {
	{":authority", ""}, {":method", "GET"}, {":method", "POST"},
	{":path", "/"}, {":path", "/index.html"}, {":scheme", "http"},
	{":scheme", "https"}, {":status", "200"}, {":status", "204"},
	{":status", "206"}, {":status", "304"}, {":status", "400"},
	{":status", "404"}, {":status", "500"}, {"accept-charset", ""},
	{"accept-encoding", "gzip, deflate"}, {"accept-language", ""},
	{"accept-ranges", ""}, {"accept", ""},
	{"access-control-allow-origin", ""}, {"age", ""}, {"allow", ""},
	{"authorization", ""}, {"cache-control", ""},
	{"content-disposition", ""}, {"content-encoding", ""},
	{"content-language", ""}, {"content-length", ""},
	{"content-location", ""}, {"content-range", ""},
	{"content-type", ""}, {"cookie", ""}, {"date", ""}, {"etag", ""},
	{"expect", ""}, {"expires", ""}, {"from", ""}, {"host", ""},
	{"if-match", ""}, {"if-modified-since", ""}, {"if-none-match", ""},
	{"if-range", ""}, {"if-unmodified-since", ""}, {"last-modified", ""},
	{"link", ""}, {"location", ""}, {"max-forwards", ""},
	{"proxy-authenticate", ""}, {"proxy-authorization", ""},
	{"range", ""}, {"referer", ""}, {"refresh", ""}, {"retry-after", ""},
	{"server", ""}, {"set-cookie", ""}, {"strict-transport-security", ""},
	{"transfer-encoding", ""}, {"user-agent", ""}, {"vary", ""},
	{"via", ""}, {"www-authenticate", ""},
};

/* Code lengths of symbols 0..256 (RFC 7541 Appendix B). The code is
 * canonical (codes ordered by length, then symbol), so lengths suffice. */
static const uint8_t huff_len[257] = {
	13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
	28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
	6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
	5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
	13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
	7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
	15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
	6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
	20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
	24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
	22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
	21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
	26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
	19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
	20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
	26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
	30,
};

struct huff_canon {
	bool ready;
	uint32_t first[31];	/* first code of each length */
	uint16_t count[31];
	uint16_t offset[31];	/* into sym */
	uint16_t sym[257];	/* symbols ordered by (length, symbol) */
};
static struct huff_canon huff;

static void huff_init(void)
{
	uint32_t code = 0;
	unsigned n = 0;

	for (unsigned len = 1; len <= 30; len++) {
		huff.first[len] = code;
		huff.offset[len] = n;
		for (unsigned s = 0; s < 257; s++)
			if (huff_len[s] == len)
				huff.sym[n++] = s;
		huff.count[len] = n - huff.offset[len];
		code = (code + huff.count[len]) << 1;
	}
	huff.ready = true;
}

long hpack_huffman_decode(const uint8_t *p, size_t n, char *out, size_t out_max)
{
	uint32_t code = 0;
	unsigned len = 0;
	long outn = 0;

	if (!huff.ready)
		huff_init();
	for (size_t i = 0; i < n * 8; i++) {
		code = code << 1 | ((p[i / 8] >> (7 - i % 8)) & 1);
		len++;
		if (len > 30)
			return -1;
		if (code - huff.first[len] >= huff.count[len])
			continue;
		unsigned s = huff.sym[huff.offset[len] + code - huff.first[len]];
		if (s == 256)
			return -1;	/* EOS inside a string is an error */
		if ((size_t)outn + 1 < out_max)
			out[outn] = (char)s;
		outn++;
		code = 0;
		len = 0;
	}
	/* padding: fewer than 8 bits, all ones (the EOS prefix) */
	if (len > 7 || code != (1u << len) - 1)
		return -1;
	if (out_max)
		out[(size_t)outn < out_max ? (size_t)outn : out_max - 1] = '\0';
	return outn;
}

/* Integer with an n-bit prefix (RFC 7541 5.1). */
static int read_int(const uint8_t **pp, const uint8_t *end, unsigned bits, uint32_t *v)
{
	const uint8_t *p = *pp;
	uint32_t max = (1u << bits) - 1, val;
	unsigned shift = 0;

	if (p >= end)
		return -1;
	val = *p++ & max;
	if (val == max) {
		uint8_t b;

		do {
			if (p >= end || shift > 28)
				return -1;
			b = *p++;
			val += (uint32_t)(b & 0x7f) << shift;
			shift += 7;
		} while (b & 0x80);
	}
	*pp = p;
	*v = val;
	return 0;
}

/* A string literal into out; *full_len gets its decoded length. */
static int read_string(const uint8_t **pp, const uint8_t *end, char *out,
		       size_t out_max, size_t *full_len)
{
	bool huffman;
	uint32_t len;

	if (*pp >= end)
		return -1;
	huffman = **pp & 0x80;
	if (read_int(pp, end, 7, &len) || len > (size_t)(end - *pp))
		return -1;
	if (huffman) {
		long n = hpack_huffman_decode(*pp, len, out, out_max);

		if (n < 0)
			return -1;
		*full_len = n;
	} else {
		size_t c = len < out_max - 1 ? len : out_max - 1;

		memcpy(out, *pp, c);
		out[c] = '\0';
		*full_len = len;
	}
	*pp += len;
	return 0;
}

static struct hpack_entry *entry_at(struct hpack_decoder *d, unsigned i)
{
	return &d->ent[(d->head + HPACK_ENTRIES - i) % HPACK_ENTRIES];
}

static void evict_to(struct hpack_decoder *d, uint32_t limit)
{
	while (d->count && d->size > limit) {
		d->size -= entry_at(d, d->count - 1)->size;
		d->count--;
		d->stats.evictions++;
	}
	/* the real table may hold only what we hold now: an entry we never
	 * saw fits in no room that is left over */
	if (d->size == 0 && limit == 0)
		d->partial = false;
}

static void insert(struct hpack_decoder *d, const struct hpack_field *f,
		   size_t name_len, size_t value_len)
{
	uint32_t size = name_len + value_len + 32;
	struct hpack_entry *e;

	if (size > d->max_size) {	/* empties the table (RFC 7541 4.4) */
		evict_to(d, 0);
		return;
	}
	evict_to(d, d->max_size - size);
	if (d->count == HPACK_ENTRIES) {	/* ours is full: forget the oldest */
		d->size -= entry_at(d, d->count - 1)->size;
		d->count--;
		d->partial = true;
	}
	d->head = (d->head + 1) % HPACK_ENTRIES;
	d->count++;
	e = entry_at(d, 0);
	memcpy(e->name, f->name, sizeof(e->name));
	memcpy(e->value, f->value, sizeof(e->value));
	e->size = size;
	e->name_len = name_len;
	e->value_len = value_len;
	e->name_unknown = f->name_unknown;
	e->truncated = f->truncated;
	d->size += size;
}

/* Fills f from index idx (1-based, static then dynamic). */
static int lookup(struct hpack_decoder *d, uint32_t idx, struct hpack_field *f,
		  bool name_only, size_t *name_len, size_t *value_len)
{
	if (idx == 0)
		return -1;
	if (idx <= HPACK_STATIC_COUNT) {
		strcpy(f->name, static_table[idx - 1][0]);
		if (!name_only)
			strcpy(f->value, static_table[idx - 1][1]);
	} else if (idx - HPACK_STATIC_COUNT - 1 < d->count) {
		const struct hpack_entry *e = entry_at(d, idx - HPACK_STATIC_COUNT - 1);

		memcpy(f->name, e->name, sizeof(f->name));
		f->name_unknown = e->name_unknown;
		f->truncated = e->truncated;
		if (!name_only)
			memcpy(f->value, e->value, sizeof(f->value));
		*name_len = e->name_len;
		*value_len = e->value_len;
		return 0;
	} else if (d->partial) {
		d->stats.unknown_refs++;
		f->name_unknown = true;
		f->value_unknown = !name_only;
		*name_len = 0;
		*value_len = 0;
		return 1;	/* unknown: the caller cannot size an insert */
	} else {
		return -1;	/* past a table we know completely: malformed */
	}
	*name_len = strlen(f->name);
	*value_len = strlen(f->value);
	return 0;
}

/* One field representation at *pp (RFC 7541 6.1-6.3). */
static int decode_field(struct hpack_decoder *d, const uint8_t **pp, const uint8_t *end,
			struct hpack_field *f, bool *emit)
{
	uint8_t b = **pp;
	uint32_t idx;
	size_t name_len = 0, value_len = 0;
	bool indexing = (b & 0xc0) == 0x40;
	int r;

	*emit = true;
	memset(f, 0, sizeof(*f));
	if (b & 0x80) {		/* indexed field */
		if (read_int(pp, end, 7, &idx))
			return -1;
		return lookup(d, idx, f, false, &name_len, &value_len) < 0 ? -1 : 0;
	}
	if ((b & 0xe0) == 0x20) {	/* dynamic table size update */
		*emit = false;
		if (read_int(pp, end, 5, &idx) || idx > 1u << 20)
			return -1;
		d->max_size = idx;
		d->stats.size_updates++;
		evict_to(d, idx);
		return 0;
	}
	/* literal: with indexing (6-bit index), without / never (4-bit) */
	if (read_int(pp, end, indexing ? 6 : 4, &idx))
		return -1;
	if (idx) {
		r = lookup(d, idx, f, true, &name_len, &value_len);
		if (r < 0)
			return -1;
	} else {
		if (read_string(pp, end, f->name, sizeof(f->name), &name_len))
			return -1;
	}
	if (read_string(pp, end, f->value, sizeof(f->value), &value_len))
		return -1;
	f->truncated |= name_len >= sizeof(f->name) || value_len >= sizeof(f->value);
	if (indexing)
		insert(d, f, f->name_unknown ? 0 : name_len, value_len);
	return 0;
}

int hpack_decode_block(struct hpack_decoder *d, const uint8_t *p, size_t n,
		       hpack_field_cb cb, void *ctx)
{
	const uint8_t *end = p + n;
	struct hpack_field f;
	bool emit, go_on = true;

	d->stats.blocks++;
	while (p < end) {
		if (decode_field(d, &p, end, &f, &emit)) {
			d->stats.errors++;
			hpack_decoder_lost(d);
			d->stats.resets--;	/* counted as an error */
			return -1;
		}
		if (!emit)
			continue;
		d->stats.fields++;
		/* after a stop, keep decoding: insertions must still happen */
		if (go_on && cb)
			go_on = cb(ctx, &f);
	}
	return 0;
}

void hpack_decoder_init(struct hpack_decoder *d, bool complete)
{
	memset(d, 0, sizeof(*d));
	d->max_size = HPACK_DEFAULT_TABLE_SIZE;
	d->partial = !complete;
}

void hpack_decoder_lost(struct hpack_decoder *d)
{
	d->count = 0;
	d->size = 0;
	d->partial = true;
	d->stats.resets++;
}

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* HPACK (RFC 7541) decoder for one direction of one HTTP/2 connection:
 * static table, dynamic table with size updates and eviction, Huffman
 * strings. No allocation; memory is the struct.
 *
 * Attached late (the dynamic table predates us) or after a lost header
 * block, the decoder knows only the entries it saw inserted since: those
 * are the newest, so their indices are right; an index past them names
 * an entry we never saw and yields an "unknown" field (counted), never a
 * guess. Stored strings are cut at HPACK_NAME_MAX / HPACK_VALUE_MAX
 * (flagged), sizes are accounted in full so eviction stays exact. */
#ifndef SERVETRACE_HPACK_H
#define SERVETRACE_HPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HPACK_NAME_MAX	48
#define HPACK_VALUE_MAX	192
#define HPACK_ENTRIES	128	/* 4096 / 32: a full default-size table */
#define HPACK_STATIC_COUNT 61
#define HPACK_DEFAULT_TABLE_SIZE 4096

struct hpack_field {
	char name[HPACK_NAME_MAX];
	char value[HPACK_VALUE_MAX];
	bool name_unknown;	/* indexed name from a dynamic entry never seen */
	bool value_unknown;	/* the whole field was such a reference */
	bool truncated;		/* name or value longer than stored */
};

struct hpack_entry {
	char name[HPACK_NAME_MAX];
	char value[HPACK_VALUE_MAX];
	uint32_t size;		/* RFC size: name + value lengths + 32; an
				 * unknown name counts 0 (an under-count only
				 * keeps entries the encoder no longer uses) */
	uint32_t name_len, value_len;	/* full lengths */
	bool name_unknown;
	bool truncated;
};

struct hpack_stats {
	uint64_t blocks;
	uint64_t fields;
	uint64_t unknown_refs;	/* references to dynamic entries never seen */
	uint64_t errors;	/* malformed blocks (the table is then lost) */
	uint64_t evictions;
	uint64_t size_updates;
	uint64_t resets;	/* hpack_decoder_lost calls */
};

struct hpack_decoder {
	struct hpack_entry ent[HPACK_ENTRIES];	/* ring, newest at head */
	unsigned head;		/* slot of the newest entry */
	unsigned count;		/* entries we hold */
	uint32_t size;		/* RFC size of what we hold */
	uint32_t max_size;	/* current dynamic table size limit */
	bool partial;		/* entries older than ours may exist */
	struct hpack_stats stats;
};

/* Called per decoded field; return false to stop. */
typedef bool (*hpack_field_cb)(void *ctx, const struct hpack_field *f);

/* complete: we see the connection from its start (empty table). */
void hpack_decoder_init(struct hpack_decoder *d, bool complete);
/* A header block was lost (gap, oversize): drop what we know, go partial. */
void hpack_decoder_lost(struct hpack_decoder *d);
/* Decodes one complete header block. Returns 0, or -1 on a malformed
 * block (the decoder is then partial: its table can no longer be trusted). */
int hpack_decode_block(struct hpack_decoder *d, const uint8_t *p, size_t n,
		       hpack_field_cb cb, void *ctx);
/* Huffman-decodes n bytes into out (at most out_max - 1 chars, NUL-ended).
 * Returns the decoded length (may exceed out_max - 1: cut), or -1. */
long hpack_huffman_decode(const uint8_t *p, size_t n, char *out, size_t out_max);

#endif

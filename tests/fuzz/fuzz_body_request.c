// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Request bodies (/generate, /v1/completions, chat) as captured: the
 * whole input is the body, read with its length only (no NUL after it).
 * The streaming rid scan for big bodies runs on it too, in pieces, and
 * must agree with the whole-body parse (cJSON) wherever it can: a body
 * cJSON reads as an object, with no backslash (escapes are decoded by
 * cJSON, kept raw by the scan) and a string rid. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "proto/body_fields.h"

#define FUZZ_CHECK(cond) do { if (!(cond)) abort(); } while (0)

static bool numeric(const char *s)
{
	return *s && strspn(s, "0123456789-+.eE") == strlen(s);
}

/* The fields but the kept text: what the memo must give back. */
static bool same_fields(const struct request_fields *a, const struct request_fields *b)
{
	return a->parsed == b->parsed && !strcmp(a->rid, b->rid) &&
	       a->input_words == b->input_words && a->max_tokens == b->max_tokens &&
	       a->stream == b->stream && a->n == b->n && a->fingerprint == b->fingerprint;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request_fields rf, m1, m2;
	struct body_rid_scan s;
	size_t piece = 1 + (size * 2654435761u >> 16) % 97;
	const char *rid;

	request_fields_parse((const char *)data, size, true, &rf);
	/* without kept text the memo serves: read, then a hit, the same */
	request_fields_parse((const char *)data, size, false, &m1);
	request_fields_parse((const char *)data, size, false, &m2);
	FUZZ_CHECK(same_fields(&rf, &m1) && same_fields(&rf, &m2) && !m1.prompt && !m2.prompt);
	FUZZ_CHECK(memchr(rf.rid, 0, sizeof(rf.rid)));
	FUZZ_CHECK(!rf.prompt || strlen(rf.prompt) < PROMPT_KEEP_MAX);
	FUZZ_CHECK(rf.parsed || (rf.input_words == -1 && rf.max_tokens == -1));
	free(rf.prompt);

	body_rid_scan_init(&s);
	for (size_t i = 0; i < size; i += piece)
		body_rid_scan_feed(&s, (const char *)data + i, size - i < piece ? size - i : piece);
	rid = body_rid_scan_result(&s);
	FUZZ_CHECK(!rid || (strlen(rid) > 0 && strlen(rid) < RID_MAX));
	if (rf.parsed && !memchr(data, '\\', size) && !memchr(data, 0, size) &&
	    !numeric(rf.rid) && !(rid && numeric(rid)))
		FUZZ_CHECK(rf.rid[0] ? rid && !strcmp(rid, rf.rid) : !rid);
	body_rid_scan_gap(&s);
	FUZZ_CHECK(body_rid_scan_result(&s) == rid);
	return 0;
}

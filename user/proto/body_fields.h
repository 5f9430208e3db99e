/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The few fields the timeline needs from request and response bodies of
 * SGLang's native and OpenAI-compatible endpoints. */
#ifndef SERVETRACE_BODY_FIELDS_H
#define SERVETRACE_BODY_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RID_MAX 128

struct request_fields {
	bool parsed;			/* body was a JSON object */
	char rid[RID_MAX];		/* body "rid" (first one for batches) */
	int input_words;		/* prompt.split() count, -1 unknown */
	long long max_tokens;		/* max_new_tokens / max_tokens, -1 */
	int stream;			/* -1 unknown, 0, 1 */
	int n;				/* samples asked for (n), 1 if absent */
	uint64_t fingerprint;		/* hash of prompt + max_tokens, 0 none */
	char *prompt;			/* only with keep_text: caller frees */
};

struct response_fields {
	bool parsed;			/* at least one JSON object seen */
	char sglang_id[RID_MAX];	/* meta_info.id, or the OpenAI "id" */
	long long prompt_tokens;	/* -1 unknown */
	long long completion_tokens;
	long long total_tokens;
	bool has_text;			/* any non-empty generated text */
	char error[160];		/* error object/message, empty if none */
};

#define PROMPT_KEEP_MAX 4096	/* --keep-text keeps this much of a prompt */

/* keep_text: also copy the prompt (joined, bounded) into out->prompt. */
void request_fields_parse(const char *body, size_t len, bool keep_text,
			  struct request_fields *out);
void response_fields_init(struct response_fields *rf);
enum merge_result {
	MERGE_TEXT = 1,		/* carried non-empty generated text */
	MERGE_TOKEN = 2,	/* carried token output (native meta_info, or an
				 * OpenAI choice with content or still open) */
	MERGE_NATIVE = 4,	/* SGLang native: cumulative meta_info counts */
};

/* Merges one JSON document (a whole body or one SSE data event) into rf:
 * token counts take the latest value, has_text and error accumulate.
 * Returns a mask of enum merge_result. */
int response_fields_merge(struct response_fields *rf, const char *json, size_t len);
/* The end of a response event whose start was cut off (the kernel keeps
 * only the tail of a long SSE event): takes the last "prompt_tokens",
 * "completion_tokens" and "total_tokens" numbers found in it. */
void response_fields_scan_tail(struct response_fields *rf, const char *p, size_t n);
/* A request body's top-level "rid", found by a streaming scan that keeps
 * no body bytes: for bodies over --body-limit (1 MB prompts), which are
 * not parsed whole. Fed the body in pieces of any size, from its first
 * byte. A key counts only at depth 1 of a body that is a JSON object,
 * outside any string (quotes are tracked with their backslash runs, so
 * an escaped quote inside the prompt text opens nothing): "rid" as a
 * value, as text inside the prompt, or as a nested key is not taken.
 * The value is taken as request_fields_parse() takes it: a string, the
 * first string of an array (batch), or a number's digits. */
enum body_rid_state {
	RID_SCANNING,		/* nothing yet */
	RID_FOUND,		/* rid[] holds it */
	RID_LOST,		/* a gap came first: bytes were not captured */
	RID_NOT_OBJECT,		/* the body is not a JSON object */
};

struct body_rid_scan {
	uint8_t state;		/* enum body_rid_state */
	uint8_t at;		/* internal: where in the grammar */
	uint8_t in_string;
	uint8_t string_is_key;	/* a depth-1 key is being read */
	uint8_t rid_seen;	/* the first "rid" key counts, as for cJSON */
	uint8_t bom;		/* bytes of a leading UTF-8 BOM matched (cJSON
				 * skips one); 3 once past the start */
	uint32_t depth;		/* open {/[ outside strings */
	uint32_t backslashes;	/* run of '\\' just before, in a string */
	uint32_t key_len;	/* bytes of the key seen (a prefix is kept) */
	char key[12];
	uint32_t len;		/* of rid */
	char rid[RID_MAX];
};

void body_rid_scan_init(struct body_rid_scan *s);
void body_rid_scan_feed(struct body_rid_scan *s, const char *p, size_t n);
/* n body bytes were not captured: unless found already, lost. */
void body_rid_scan_gap(struct body_rid_scan *s);
/* The rid once found, else NULL. */
const char *body_rid_scan_result(const struct body_rid_scan *s);

/* The fields of recent bodies are kept per thread (a router forwarding
 * bytes unchanged shows each body twice): a thread that ends lets go of
 * them with this. */
void body_fields_thread_done(void);
/* The most a thread's memo of bodies read twice holds (mem_ceiling). */
size_t body_fields_memo_max_bytes(void);
/* Request bodies this thread read from the memo (tests). */
uint64_t body_fields_memo_hits(void);

/* prompt.split() semantics: runs of ASCII whitespace separate words. */
int count_words(const char *s);

#endif

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
/* prompt.split() semantics: runs of ASCII whitespace separate words. */
int count_words(const char *s);

#endif

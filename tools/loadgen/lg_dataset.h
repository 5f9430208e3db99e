/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Workloads: random word prompts, ShareGPT conversations, custom lists. */
#ifndef LG_DATASET_H
#define LG_DATASET_H

#include <stddef.h>
#include <stdint.h>

struct lg_item {
	char *prompt;
	int input_len;		/* words, as prompt.split() counts them */
	int output_len;		/* max_new_tokens / max_tokens to ask for */
	char *dataset_id;	/* "id" of a custom entry, else NULL */
};

struct lg_dataset {
	struct lg_item *items;
	size_t n;
};

struct lg_dataset_opts {
	size_t num_requests;
	int input_len;		/* random: upper bound of prompt words */
	int output_len;		/* random: upper bound; files: default when
				 * an entry has no completion */
	double range_ratio;	/* random: lengths drawn from
				 * [max(len * ratio, 1), len] */
	int output_len_override; /* files: > 0 replaces completion length */
	uint64_t seed;
};

size_t lg_count_words(const char *s);

int lg_dataset_random(struct lg_dataset *ds, const struct lg_dataset_opts *o);
/* json: a ShareGPT file's text, a list of {"conversations": [{"from":
 * "human", "value"}, {"from": "gpt", "value"}]}. Entries are shuffled by
 * the seed and reused in turn when there are fewer than num_requests. */
int lg_dataset_sharegpt(struct lg_dataset *ds, const char *json,
			const struct lg_dataset_opts *o,
			char *err, size_t errlen);
/* json: a list of {"prompt", "completion", "id"}, used in order. */
int lg_dataset_custom(struct lg_dataset *ds, const char *json,
		      const struct lg_dataset_opts *o,
		      char *err, size_t errlen);
void lg_dataset_free(struct lg_dataset *ds);

/* Whole file into a NUL-terminated buffer (caller frees), NULL on error. */
char *lg_read_file(const char *path, size_t *len);

#endif

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "lg_dataset.h"
#include "lg_rng.h"

/* The model has random weights: any words make a prompt of roughly one
 * token per word. */
static const char *const words[] = {
	"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog",
	"time", "river", "stone", "light", "paper", "window", "garden", "cloud",
	"music", "number", "system", "market", "energy", "signal", "engine",
	"forest", "silver", "planet", "letter", "bridge", "summer", "winter",
	"ocean", "mountain", "road", "city", "table", "voice", "story", "field",
	"glass", "water", "fire", "earth", "wind", "north", "south", "east",
	"west", "red", "green", "blue", "yellow", "small", "large", "early",
	"late", "open", "close", "read", "write", "build", "carry", "follow",
	"answer", "question",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

size_t lg_count_words(const char *s)
{
	size_t n = 0;
	int in_word = 0;

	for (; s && *s; s++) {
		if (isspace((unsigned char)*s)) {
			in_word = 0;
		} else if (!in_word) {
			in_word = 1;
			n++;
		}
	}
	return n;
}

static int draw_len(struct lg_rng *rng, int len, double ratio)
{
	long lo = (long)(len * ratio);

	if (lo < 1)
		lo = 1;
	if (lo > len)
		return len > 0 ? len : 1;
	return (int)lg_rng_range(rng, lo, len);
}

static char *random_prompt(struct lg_rng *rng, int nwords)
{
	size_t cap = (size_t)nwords * 10 + 1, len = 0;
	char *p = malloc(cap);

	if (!p)
		return NULL;
	for (int i = 0; i < nwords; i++) {
		const char *w = words[lg_rng_u64(rng) % NWORDS];
		size_t wl = strlen(w);

		if (i)
			p[len++] = ' ';
		memcpy(p + len, w, wl);
		len += wl;
	}
	p[len] = '\0';
	return p;
}

static int alloc_items(struct lg_dataset *ds, size_t n)
{
	ds->n = 0;
	ds->items = calloc(n ? n : 1, sizeof(*ds->items));
	return ds->items ? 0 : -ENOMEM;
}

int lg_dataset_random(struct lg_dataset *ds, const struct lg_dataset_opts *o)
{
	struct lg_rng rng;

	if (alloc_items(ds, o->num_requests))
		return -ENOMEM;
	/* a stream apart from the arrivals', so lengths do not move gaps */
	lg_rng_seed(&rng, o->seed ^ 0x6c6f616467656eULL);
	for (size_t i = 0; i < o->num_requests; i++) {
		struct lg_item *it = &ds->items[i];

		it->input_len = draw_len(&rng, o->input_len, o->range_ratio);
		it->output_len = draw_len(&rng, o->output_len, o->range_ratio);
		it->prompt = random_prompt(&rng, it->input_len);
		if (!it->prompt)
			return -ENOMEM;
		ds->n++;
	}
	return 0;
}

/* One usable entry of a dataset file, before cycling to num_requests. */
struct entry {
	const char *prompt;
	const char *completion;	/* may be NULL */
	char id[64];
};

static int fill_from_entries(struct lg_dataset *ds, const struct entry *e,
			     size_t ne, const struct lg_dataset_opts *o)
{
	if (alloc_items(ds, o->num_requests))
		return -ENOMEM;
	for (size_t i = 0; i < o->num_requests; i++) {
		const struct entry *src = &e[i % ne];
		struct lg_item *it = &ds->items[i];

		it->prompt = strdup(src->prompt);
		if (!it->prompt)
			return -ENOMEM;
		it->input_len = (int)lg_count_words(src->prompt);
		if (o->output_len_override > 0)
			it->output_len = o->output_len_override;
		else if (src->completion && lg_count_words(src->completion))
			it->output_len = (int)lg_count_words(src->completion);
		else
			it->output_len = o->output_len;
		if (src->id[0])
			it->dataset_id = strdup(src->id);
		ds->n++;
	}
	return 0;
}

static const char *str_field(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static cJSON *parse_list(const char *json, const char *what,
			 char *err, size_t errlen)
{
	cJSON *root = cJSON_Parse(json);

	if (!root) {
		const char *at = cJSON_GetErrorPtr();

		snprintf(err, errlen, "%s: invalid JSON near \"%.30s\"", what,
			 at ? at : "");
		return NULL;
	}
	if (!cJSON_IsArray(root)) {
		snprintf(err, errlen, "%s: expected a JSON list", what);
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

int lg_dataset_sharegpt(struct lg_dataset *ds, const char *json,
			const struct lg_dataset_opts *o,
			char *err, size_t errlen)
{
	cJSON *root = parse_list(json, "sharegpt", err, errlen), *el;
	struct entry *e;
	struct lg_rng rng;
	size_t ne = 0;
	int ret;

	ds->items = NULL;
	ds->n = 0;
	if (!root)
		return -EINVAL;
	e = calloc(cJSON_GetArraySize(root) + 1, sizeof(*e));
	if (!e) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	cJSON_ArrayForEach(el, root) {
		const cJSON *conv = cJSON_GetObjectItemCaseSensitive(el, "conversations");
		const char *p, *c;

		/* bench_serving keeps entries with a first turn and a reply */
		if (!cJSON_IsArray(conv) || cJSON_GetArraySize(conv) < 2)
			continue;
		p = str_field(cJSON_GetArrayItem(conv, 0), "value");
		c = str_field(cJSON_GetArrayItem(conv, 1), "value");
		if (!p || !lg_count_words(p))
			continue;
		e[ne].prompt = p;
		e[ne].completion = c;
		ne++;
	}
	if (!ne) {
		snprintf(err, errlen, "sharegpt: no entry with two conversation turns");
		ret = -EINVAL;
		goto out;
	}
	lg_rng_seed(&rng, o->seed ^ 0x7368617265ULL);
	for (size_t i = ne - 1; i > 0; i--) {
		size_t j = lg_rng_u64(&rng) % (i + 1);
		struct entry t = e[i];

		e[i] = e[j];
		e[j] = t;
	}
	ret = fill_from_entries(ds, e, ne, o);
out:
	free(e);
	cJSON_Delete(root);
	return ret;
}

int lg_dataset_custom(struct lg_dataset *ds, const char *json,
		      const struct lg_dataset_opts *o,
		      char *err, size_t errlen)
{
	cJSON *root = parse_list(json, "custom", err, errlen), *el;
	struct entry *e;
	size_t ne = 0;
	int ret;

	ds->items = NULL;
	ds->n = 0;
	if (!root)
		return -EINVAL;
	e = calloc(cJSON_GetArraySize(root) + 1, sizeof(*e));
	if (!e) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	cJSON_ArrayForEach(el, root) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(el, "id");
		const char *p = str_field(el, "prompt");

		if (!p) {
			snprintf(err, errlen, "custom: entry %zu has no \"prompt\" string",
				 ne);
			ret = -EINVAL;
			goto out;
		}
		e[ne].prompt = p;
		e[ne].completion = str_field(el, "completion");
		if (cJSON_IsString(id))
			snprintf(e[ne].id, sizeof(e[ne].id), "%s", id->valuestring);
		else if (cJSON_IsNumber(id))
			snprintf(e[ne].id, sizeof(e[ne].id), "%.0f", id->valuedouble);
		ne++;
	}
	if (!ne) {
		snprintf(err, errlen, "custom: the list is empty");
		ret = -EINVAL;
		goto out;
	}
	ret = fill_from_entries(ds, e, ne, o);
out:
	free(e);
	cJSON_Delete(root);
	return ret;
}

void lg_dataset_free(struct lg_dataset *ds)
{
	for (size_t i = 0; i < ds->n; i++) {
		free(ds->items[i].prompt);
		free(ds->items[i].dataset_id);
	}
	free(ds->items);
	ds->items = NULL;
	ds->n = 0;
}

char *lg_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (!f)
		return NULL;
	do {
		if (cap - n < 65536) {
			char *nb = realloc(buf, cap = cap ? cap * 2 : 1 << 20);

			if (!nb) {
				free(buf);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
	} while (r > 0);
	if (ferror(f)) {
		free(buf);
		fclose(f);
		errno = EIO;
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

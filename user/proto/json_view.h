/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A JSON document read in place: one node per value, in an array that
 * starts on the caller's stack and grows only for big documents; strings
 * point into the text and are decoded only when asked. It accepts and
 * rejects exactly what cJSON_ParseWithLength (1.7.15, as packaged) does,
 * and reads the same values: cJSON cost a malloc per value and per key,
 * several per request. */
#ifndef SERVETRACE_JSON_VIEW_H
#define SERVETRACE_JSON_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum json_type {
	JSON_NULL = 1, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT,
};

struct json_node {
	uint8_t type;		/* enum json_type */
	bool key_esc;		/* key holds escapes or NUL bytes: decode */
	bool str_esc;
	int32_t next;		/* next sibling, -1 none */
	int32_t child;		/* first child (arrays, objects), -1 none */
	uint32_t key_len, str_len;	/* raw bytes between the quotes */
	const char *key;	/* object members only, else NULL */
	const char *str;
	double num;
};

#define JSON_VIEW_LOCAL 128	/* nodes held in the struct itself */

struct json_view {
	struct json_node *nodes;
	uint32_t n, cap;
	struct json_node local[JSON_VIEW_LOCAL];
};

/* Reads text[0, len). Returns false if cJSON would return NULL (then
 * nothing is held). The root is node 0. json_view_release() after. */
bool json_view_parse(struct json_view *v, const char *text, size_t len);
void json_view_release(struct json_view *v);

/* cJSON_GetObjectItemCaseSensitive: the first member named key of an
 * object (-1 for anything else, or none). i may be -1. */
int json_view_get(const struct json_view *v, int i, const char *key);
/* The node's type, 0 for i == -1. */
int json_view_type(const struct json_view *v, int i);

/* A string's value as cJSON's valuestring reads (up to its first NUL):
 * in place when it has no escapes, else decoded into tmp (cap bytes) or,
 * when longer, into *heap (malloc'd; the caller frees it). NULL if not a
 * string or out of memory. */
const char *json_view_str(const struct json_view *v, int i, char *tmp, size_t cap,
			  char **heap, size_t *len);
/* The same for the key of an object member (cJSON's item->string). */
const char *json_view_key(const struct json_view *v, int i, char *tmp, size_t cap,
			  char **heap, size_t *len);
/* str_copy(dst, size, valuestring) of a string node. */
void json_view_str_copy(const struct json_view *v, int i, char *dst, size_t size);
/* valuestring[0] != 0 of a string node. */
bool json_view_str_nonempty(const struct json_view *v, int i);
/* strcmp(valuestring, s) == 0 of a string node. */
bool json_view_str_is(const struct json_view *v, int i, const char *s);

#endif

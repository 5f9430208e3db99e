/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Request building per endpoint: path, JSON body and the id headers. */
#ifndef LG_REQUEST_H
#define LG_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lg_api {
	LG_API_GENERATE,	/* SGLang native /generate */
	LG_API_COMPLETIONS,	/* OpenAI /v1/completions */
	LG_API_CHAT,		/* OpenAI /v1/chat/completions */
};

struct lg_req_opts {
	enum lg_api api;
	const char *model;	/* OpenAI endpoints only */
	bool stream;
	bool ignore_eos;
	double temperature;
};

/* "sglang" | "generate", "openai" | "completions", "openai-chat" | "chat". */
int lg_api_from_backend(const char *backend, enum lg_api *api);
/* Guess the API from an endpoint path (used when --endpoint is given). */
enum lg_api lg_api_from_path(const char *path);
const char *lg_api_default_path(enum lg_api api);
const char *lg_api_name(enum lg_api api);

/* Body as a malloc'ed JSON string, NULL on allocation failure. */
char *lg_request_body(const struct lg_req_opts *o, const char *prompt,
		      int max_tokens, const char *rid);

/* "<prefix>-<index>" with the index zero-padded to 6 digits. */
int lg_request_id(char *buf, size_t len, const char *prefix, size_t index);
/* A run prefix unique across runs: "lg-" + 12 hex digits from entropy. */
void lg_run_prefix(char *buf, size_t len, uint64_t entropy);
/* "X-Request-Id: <rid>" */
int lg_request_id_header(char *buf, size_t len, const char *rid);

/* Join base URL and path without doubling or losing the slash. */
int lg_join_url(char *buf, size_t len, const char *base, const char *path);

#endif

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "lg_request.h"

int lg_api_from_backend(const char *backend, enum lg_api *api)
{
	if (!strcmp(backend, "sglang") || !strcmp(backend, "generate"))
		*api = LG_API_GENERATE;
	else if (!strcmp(backend, "openai") || !strcmp(backend, "completions"))
		*api = LG_API_COMPLETIONS;
	else if (!strcmp(backend, "openai-chat") || !strcmp(backend, "chat"))
		*api = LG_API_CHAT;
	else
		return -EINVAL;
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && !strcmp(s + ls - lx, suffix);
}

enum lg_api lg_api_from_path(const char *path)
{
	char p[256];
	size_t l;

	/* tolerate a trailing slash or a query string */
	snprintf(p, sizeof(p), "%s", path);
	p[strcspn(p, "?")] = '\0';
	l = strlen(p);
	while (l > 1 && p[l - 1] == '/')
		p[--l] = '\0';
	if (ends_with(p, "/chat/completions"))
		return LG_API_CHAT;
	if (ends_with(p, "/completions"))
		return LG_API_COMPLETIONS;
	return LG_API_GENERATE;
}

const char *lg_api_default_path(enum lg_api api)
{
	switch (api) {
	case LG_API_COMPLETIONS:
		return "/v1/completions";
	case LG_API_CHAT:
		return "/v1/chat/completions";
	default:
		return "/generate";
	}
}

const char *lg_api_name(enum lg_api api)
{
	switch (api) {
	case LG_API_COMPLETIONS:
		return "openai";
	case LG_API_CHAT:
		return "openai-chat";
	default:
		return "sglang";
	}
}

static cJSON *generate_body(const struct lg_req_opts *o, const char *prompt,
			    int max_tokens)
{
	cJSON *b = cJSON_CreateObject(), *sp;

	cJSON_AddStringToObject(b, "text", prompt);
	sp = cJSON_AddObjectToObject(b, "sampling_params");
	if (sp) {
		cJSON_AddNumberToObject(sp, "max_new_tokens", max_tokens);
		cJSON_AddNumberToObject(sp, "temperature", o->temperature);
		cJSON_AddBoolToObject(sp, "ignore_eos", o->ignore_eos);
	}
	return b;
}

static cJSON *openai_body(const struct lg_req_opts *o, const char *prompt,
			  int max_tokens)
{
	cJSON *b = cJSON_CreateObject();

	cJSON_AddStringToObject(b, "model", o->model ? o->model : "default");
	if (o->api == LG_API_CHAT) {
		cJSON *msgs = cJSON_AddArrayToObject(b, "messages");
		cJSON *m = cJSON_CreateObject();

		cJSON_AddStringToObject(m, "role", "user");
		cJSON_AddStringToObject(m, "content", prompt);
		cJSON_AddItemToArray(msgs, m);
	} else {
		cJSON_AddStringToObject(b, "prompt", prompt);
	}
	cJSON_AddNumberToObject(b, "max_tokens", max_tokens);
	cJSON_AddNumberToObject(b, "temperature", o->temperature);
	/* SGLang's extension: generate exactly max_tokens */
	cJSON_AddBoolToObject(b, "ignore_eos", o->ignore_eos);
	return b;
}

char *lg_request_body(const struct lg_req_opts *o, const char *prompt,
		      int max_tokens, const char *rid)
{
	cJSON *b;
	char *s;

	if (o->api == LG_API_GENERATE)
		b = generate_body(o, prompt, max_tokens);
	else
		b = openai_body(o, prompt, max_tokens);
	if (!b)
		return NULL;
	cJSON_AddBoolToObject(b, "stream", o->stream);
	if (o->stream && o->api != LG_API_GENERATE) {
		/* token counts come only in a final usage chunk */
		cJSON *so = cJSON_AddObjectToObject(b, "stream_options");

		cJSON_AddBoolToObject(so, "include_usage", 1);
	}
	cJSON_AddStringToObject(b, "rid", rid);
	s = cJSON_PrintUnformatted(b);
	cJSON_Delete(b);
	return s;
}

int lg_request_id(char *buf, size_t len, const char *prefix, size_t index)
{
	int n = snprintf(buf, len, "%s-%06zu", prefix, index);

	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

void lg_run_prefix(char *buf, size_t len, uint64_t entropy)
{
	snprintf(buf, len, "lg-%012llx",
		 (unsigned long long)(entropy & 0xffffffffffffULL));
}

int lg_request_id_header(char *buf, size_t len, const char *rid)
{
	int n = snprintf(buf, len, "X-Request-Id: %s", rid);

	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int lg_join_url(char *buf, size_t len, const char *base, const char *path)
{
	size_t bl = strlen(base);
	int n;

	while (bl && base[bl - 1] == '/')
		bl--;
	if (*path == '/')
		path++;
	n = snprintf(buf, len, "%.*s/%s", (int)bl, base, path);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

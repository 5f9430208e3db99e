// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#define _GNU_SOURCE /* vasprintf */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cjson/cJSON.h>
#include "lg_result.h"

const char *const lg_meta_names[LG_META_N] = {
	[LG_META_REQUEST_RECEIVED_TS] = "request_received_ts",
	[LG_META_API_SERVER_DISPATCH_FINISH_TS] = "api_server_dispatch_finish_ts",
	[LG_META_WAIT_QUEUE_ENTRY_TIME] = "wait_queue_entry_time",
	[LG_META_FORWARD_ENTRY_TIME] = "forward_entry_time",
	[LG_META_QUEUE_TIME] = "queue_time",
	[LG_META_PREFILL_FINISHED_TIME] = "prefill_finished_time",
	[LG_META_RESPONSE_SENT_TO_CLIENT_TS] = "response_sent_to_client_ts",
	[LG_META_REQUEST_FINISHED_TS] = "request_finished_ts",
	[LG_META_E2E_LATENCY] = "e2e_latency",
};

/* Names other SGLang releases use for the same stamps. */
static const struct {
	const char *name;
	enum lg_meta key;
} meta_aliases[] = {
	{ "prefill_finished_ts", LG_META_PREFILL_FINISHED_TIME },
	{ "forward_entry_ts", LG_META_FORWARD_ENTRY_TIME },
	{ "wait_queue_entry_ts", LG_META_WAIT_QUEUE_ENTRY_TIME },
};

#define MAX_BODY (64u << 20)

void lg_result_init(struct lg_result *r, enum lg_api api)
{
	memset(r, 0, sizeof(*r));
	r->api = api;
	r->sched_time = r->send_time = r->first_byte_time = NAN;
	r->first_token_time = r->last_byte_time = r->finish_time = NAN;
	r->lag = NAN;
	r->prompt_tokens = r->completion_tokens = r->total_tokens = -1;
	for (int i = 0; i < LG_META_N; i++)
		r->meta[i] = NAN;
	lg_sse_init(&r->sse);
}

static char *vfmt(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

/* First error of each kind wins: it is the cause, later ones are echoes. */
static void set_once(char **slot, const char *fmt, ...)
{
	va_list ap;

	if (*slot)
		return;
	va_start(ap, fmt);
	*slot = vfmt(fmt, ap);
	va_end(ap);
}

/* A short printable excerpt of garbage, for error messages. */
static void excerpt(char *dst, size_t cap, const char *src, size_t len)
{
	size_t j = 0;

	for (size_t i = 0; i < len && j + 1 < cap; i++)
		dst[j++] = isprint((unsigned char)src[i]) ? src[i] : '.';
	dst[j] = '\0';
}

void lg_result_header(struct lg_result *r, const char *line, size_t len)
{
	char buf[256];
	const char *v;

	excerpt(buf, sizeof(buf), line, len);
	/* the last status line wins: 100 Continue or redirects come first */
	if (!strncmp(buf, "HTTP/", 5)) {
		char *sp = strchr(buf, ' ');

		r->is_sse = false;
		r->reason[0] = '\0';
		if (!sp)
			return;
		r->status = strtol(sp + 1, &sp, 10);
		while (*sp == ' ')
			sp++;
		snprintf(r->reason, sizeof(r->reason), "%s", sp);
		/* drop the ".." that stood for CRLF */
		for (size_t l = strlen(r->reason); l && r->reason[l - 1] == '.'; )
			r->reason[--l] = '\0';
		return;
	}
	if (!strncasecmp(buf, "content-type:", 13)) {
		v = buf + 13;
		while (*v == ' ')
			v++;
		r->is_sse = !strncasecmp(v, "text/event-stream", 17);
	}
}

static double num_or_nan(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int int_or(const cJSON *o, const char *name, int dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) ? (int)v->valuedouble : dflt;
}

static void meta_times(struct lg_result *r, const cJSON *m)
{
	double v;

	for (int i = 0; i < LG_META_N; i++) {
		v = num_or_nan(m, lg_meta_names[i]);
		if (!isnan(v))
			r->meta[i] = v;
	}
	for (size_t i = 0; i < sizeof(meta_aliases) / sizeof(meta_aliases[0]); i++) {
		v = num_or_nan(m, meta_aliases[i].name);
		if (!isnan(v) && isnan(r->meta[meta_aliases[i].key]))
			r->meta[meta_aliases[i].key] = v;
	}
}

static void finish_reason(struct lg_result *r, const cJSON *fr)
{
	const cJSON *type, *msg;

	if (cJSON_IsString(fr)) {
		snprintf(r->finish_reason, sizeof(r->finish_reason), "%s",
			 fr->valuestring);
		return;
	}
	if (!cJSON_IsObject(fr))
		return;
	type = cJSON_GetObjectItemCaseSensitive(fr, "type");
	if (!cJSON_IsString(type))
		return;
	snprintf(r->finish_reason, sizeof(r->finish_reason), "%s",
		 type->valuestring);
	if (!strcmp(type->valuestring, "abort")) {
		msg = cJSON_GetObjectItemCaseSensitive(fr, "message");
		set_once(&r->body_error, "aborted by server: %s",
			 cJSON_IsString(msg) ? msg->valuestring : "no message");
	}
}

/* Returns the number of completion tokens meta_info reports, or -1. */
static int apply_meta(struct lg_result *r, const cJSON *m)
{
	const cJSON *ts;

	if (!cJSON_IsObject(m))
		return -1;
	meta_times(r, m);
	/* some releases nest the scheduler stamps */
	ts = cJSON_GetObjectItemCaseSensitive(m, "time_stats");
	if (cJSON_IsObject(ts))
		meta_times(r, ts);
	finish_reason(r, cJSON_GetObjectItemCaseSensitive(m, "finish_reason"));
	r->prompt_tokens = int_or(m, "prompt_tokens", r->prompt_tokens);
	return int_or(m, "completion_tokens", -1);
}

static void apply_usage(struct lg_result *r, const cJSON *u)
{
	if (!cJSON_IsObject(u))
		return;
	r->prompt_tokens = int_or(u, "prompt_tokens", r->prompt_tokens);
	r->completion_tokens = int_or(u, "completion_tokens", r->completion_tokens);
	r->total_tokens = int_or(u, "total_tokens", r->total_tokens);
}

static bool apply_error(struct lg_result *r, const cJSON *o)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
	const cJSON *obj = cJSON_GetObjectItemCaseSensitive(o, "object");
	const cJSON *msg;
	char *s;

	if (cJSON_IsString(obj) && !strcmp(obj->valuestring, "error"))
		e = o;		/* OpenAI-style error at top level */
	else if (!e || cJSON_IsNull(e))
		e = cJSON_GetObjectItemCaseSensitive(o, "detail"); /* FastAPI */
	if (!e || cJSON_IsNull(e))
		return false;
	if (cJSON_IsString(e)) {
		set_once(&r->body_error, "%s", e->valuestring);
		return true;
	}
	msg = cJSON_GetObjectItemCaseSensitive(e, "message");
	if (cJSON_IsString(msg)) {
		set_once(&r->body_error, "%s", msg->valuestring);
		return true;
	}
	s = cJSON_PrintUnformatted(e);
	set_once(&r->body_error, "%s", s ? s : "error");
	free(s);
	return true;
}

/* Text an OpenAI choice brings: completions text, chat delta or message. */
static const char *choice_text(const cJSON *c)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "text");
	const cJSON *m;

	if (cJSON_IsString(t))
		return t->valuestring;
	m = cJSON_GetObjectItemCaseSensitive(c, "delta");
	if (!cJSON_IsObject(m))
		m = cJSON_GetObjectItemCaseSensitive(c, "message");
	if (!cJSON_IsObject(m))
		return NULL;
	t = cJSON_GetObjectItemCaseSensitive(m, "content");
	if (cJSON_IsString(t) && *t->valuestring)
		return t->valuestring;
	t = cJSON_GetObjectItemCaseSensitive(m, "reasoning_content");
	return cJSON_IsString(t) ? t->valuestring : NULL;
}

static bool apply_generate(struct lg_result *r, const cJSON *o)
{
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, "text");
	int prev = r->completion_tokens > 0 ? r->completion_tokens : 0;
	int ct = apply_meta(r, cJSON_GetObjectItemCaseSensitive(o, "meta_info"));
	bool fresh = false;
	size_t tl = cJSON_IsString(text) ? strlen(text->valuestring) : 0;

	if (tl)
		r->has_text = true;
	if (ct >= 0) {
		fresh = ct > prev;
		r->completion_tokens = ct;
	} else {
		/* no counter: new output is text that changed */
		fresh = tl && tl != r->text_len;
	}
	if (tl)
		r->text_len = tl;
	return fresh;
}

static bool apply_openai(struct lg_result *r, const cJSON *o)
{
	const cJSON *choices = cJSON_GetObjectItemCaseSensitive(o, "choices");
	const cJSON *c = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
	const char *text;
	bool fresh = false;

	apply_usage(r, cJSON_GetObjectItemCaseSensitive(o, "usage"));
	/* SGLang may attach meta_info to the body or to the choice */
	apply_meta(r, cJSON_GetObjectItemCaseSensitive(o, "meta_info"));
	if (!c)
		return false;
	apply_meta(r, cJSON_GetObjectItemCaseSensitive(c, "meta_info"));
	finish_reason(r, cJSON_GetObjectItemCaseSensitive(c, "finish_reason"));
	text = choice_text(c);
	if (text && *text) {
		r->has_text = true;
		fresh = true;
	}
	return fresh;
}

void lg_result_apply_json(struct lg_result *r, const char *json, size_t len,
			  bool stream_event, double now)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	const cJSON *o = root;
	char ex[64];
	bool fresh;

	if (!root) {
		excerpt(ex, sizeof(ex), json, len);
		set_once(&r->parse_error, "%s is not JSON: \"%s\"",
			 stream_event ? "stream event" : "response", ex);
		return;
	}
	if (cJSON_IsArray(root))
		o = cJSON_GetArrayItem(root, 0);	/* batch form: first */
	if (!cJSON_IsObject(o)) {
		excerpt(ex, sizeof(ex), json, len);
		set_once(&r->parse_error, "%s is not a JSON object: \"%s\"",
			 stream_event ? "stream event" : "response", ex);
		goto out;
	}
	if (apply_error(r, o))
		goto out;
	if (r->api == LG_API_GENERATE)
		fresh = apply_generate(r, o);
	else
		fresh = apply_openai(r, o);
	if (stream_event && fresh) {
		r->chunks++;
		if (isnan(r->first_token_time))
			r->first_token_time = now;
	}
out:
	cJSON_Delete(root);
}

struct sse_ctx {
	struct lg_result *r;
	double now;
};

static int on_event(void *ctx, const char *data, size_t len)
{
	struct sse_ctx *c = ctx;

	if (len == 6 && !memcmp(data, "[DONE]", 6))
		return 0;
	lg_result_apply_json(c->r, data, len, true, c->now);
	return 0;
}

void lg_result_body(struct lg_result *r, const char *data, size_t len,
		    double now)
{
	if (!len)
		return;
	if (isnan(r->first_byte_time))
		r->first_byte_time = now;
	r->last_byte_time = now;
	r->body_bytes += len;
	if (r->is_sse) {
		struct sse_ctx c = { r, now };

		if (lg_sse_feed(&r->sse, data, len, on_event, &c))
			set_once(&r->parse_error, "out of memory parsing the stream");
		return;
	}
	if (r->body_len + len + 1 > r->body_cap) {
		size_t nc = r->body_cap ? r->body_cap : 4096;
		char *nb;

		while (nc < r->body_len + len + 1)
			nc *= 2;
		if (nc > MAX_BODY || !(nb = realloc(r->body, nc))) {
			set_once(&r->parse_error, "response body too large");
			return;
		}
		r->body = nb;
		r->body_cap = nc;
	}
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
}

static bool ok_status(long s)
{
	return s >= 200 && s < 300;
}

void lg_result_end(struct lg_result *r, const char *transport_error,
		   double now)
{
	r->done = true;
	r->finish_time = isnan(r->last_byte_time) ? now : r->last_byte_time;
	if (r->is_sse) {
		struct sse_ctx c = { r, now };

		lg_sse_finish(&r->sse, on_event, &c);
		if (!r->sse.data_lines && r->body_bytes && !transport_error)
			set_once(&r->parse_error,
				 "event stream without any data: event");
	} else if (r->body_len) {
		lg_result_apply_json(r, r->body, r->body_len, false, now);
	} else if (!transport_error && ok_status(r->status)) {
		set_once(&r->parse_error, "empty response body");
	}
	if (r->total_tokens < 0 && r->prompt_tokens >= 0 &&
	    r->completion_tokens >= 0)
		r->total_tokens = r->prompt_tokens + r->completion_tokens;

	if (transport_error)
		set_once(&r->error, "%s", transport_error);
	else if (!ok_status(r->status))
		set_once(&r->error, "HTTP %ld%s%s%s%s", r->status,
			 r->reason[0] ? " " : "", r->reason,
			 r->body_error ? ": " : "",
			 r->body_error ? r->body_error : "");
	else if (r->body_error)
		set_once(&r->error, "%s", r->body_error);
	else if (r->parse_error)
		set_once(&r->error, "%s", r->parse_error);
	r->success = !r->error;

	lg_sse_free(&r->sse);
	free(r->body);
	r->body = NULL;
	r->body_len = r->body_cap = 0;
}

void lg_result_free(struct lg_result *r)
{
	lg_sse_free(&r->sse);
	free(r->body);
	free(r->error);
	free(r->body_error);
	free(r->parse_error);
	r->body = r->error = r->body_error = r->parse_error = NULL;
}

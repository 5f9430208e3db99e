/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the client learns about one request: its own timestamps, the HTTP
 * status, the response (whole JSON or SSE events), token counts and the
 * timing fields SGLang puts in meta_info. Fed by the curl callbacks, and by
 * the unit tests with recorded bytes. */
#ifndef LG_RESULT_H
#define LG_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include "lg_request.h"
#include "lg_sse.h"

/* meta_info timing fields (SGLang --enable-metrics), raw, in CSV order. */
enum lg_meta {
	LG_META_REQUEST_RECEIVED_TS,
	LG_META_API_SERVER_DISPATCH_FINISH_TS,
	LG_META_WAIT_QUEUE_ENTRY_TIME,
	LG_META_FORWARD_ENTRY_TIME,
	LG_META_QUEUE_TIME,
	LG_META_PREFILL_FINISHED_TIME,
	LG_META_RESPONSE_SENT_TO_CLIENT_TS,
	LG_META_REQUEST_FINISHED_TS,
	LG_META_E2E_LATENCY,
	LG_META_N,
};

extern const char *const lg_meta_names[LG_META_N];

struct lg_result {
	/* client clock: CLOCK_REALTIME epoch seconds, NAN when unknown */
	double sched_time;	/* when the schedule said to send */
	double send_time;	/* when it was handed to the connection */
	double first_byte_time;	/* first response body byte */
	double first_token_time; /* first SSE event that brought output */
	double last_byte_time;
	double finish_time;	/* last byte, or when the failure was seen */
	double lag;		/* send - scheduled, monotonic seconds */

	long status;		/* HTTP status, 0 if none came */
	char reason[48];	/* its reason phrase */
	char finish_reason[32];
	char peer[64];		/* ip:port the client talked to */
	char *error;		/* final error text, NULL on success */
	char *body_error;	/* error object found in the response */
	char *parse_error;	/* response that is not what it should be */

	bool sent, done, success, has_text, is_sse;
	int prompt_tokens, completion_tokens, total_tokens; /* -1 unknown */
	int chunks;		/* stream events that brought new output */
	double meta[LG_META_N];

	enum lg_api api;
	struct lg_sse sse;
	char *body;		/* non-stream body, parsed at the end */
	size_t body_len, body_cap;
	size_t text_len;	/* /generate stream: cumulative text seen */
	size_t body_bytes;
};

void lg_result_init(struct lg_result *r, enum lg_api api);
/* One header line as curl's header callback gives it (with CRLF). */
void lg_result_header(struct lg_result *r, const char *line, size_t len);
/* A piece of the body, received at now (epoch seconds). */
void lg_result_body(struct lg_result *r, const char *data, size_t len,
		    double now);
/* Transfer over: transport_error is curl's message or NULL. Sets
 * finish_time, success and error; frees the receive buffers. */
void lg_result_end(struct lg_result *r, const char *transport_error,
		   double now);
/* Apply one JSON object (a whole body or one SSE event). */
void lg_result_apply_json(struct lg_result *r, const char *json, size_t len,
			  bool stream_event, double now);
void lg_result_free(struct lg_result *r);

#endif

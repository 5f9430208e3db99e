/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Generated tokens counted from a response's SSE events. */
#ifndef SERVETRACE_SSE_TOKENS_H
#define SERVETRACE_SSE_TOKENS_H

#include <stdbool.h>
#include "correlate/exchange.h"
#include "proto/sse_parser.h"

/* One data event of ex's stream: adds its tokens to ex->sse_tokens; with
 * parse_json, its JSON fields are merged into ex->resp too. */
void sse_tokens_count(struct exchange *ex, const struct sse_event *ev, bool parse_json);

#endif

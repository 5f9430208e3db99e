/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* One trace of the query API as JSON: the fields the router's trace API
 * had (request_id, node_id, worker_url, routing_policy, status, timestamp)
 * and every timeline column under "timeline", as -j writes them. */
#ifndef SERVETRACE_TRACE_JSON_H
#define SERVETRACE_TRACE_JSON_H

#include <stdbool.h>
#include <cjson/cJSON.h>
#include "output/timeline_row.h"

/* "in_flight", "success", "aborted" (the client went away) or "error". */
const char *trace_json_status(const struct timeline_row *r, bool in_flight);
/* Rendering goes through output_row(), which is not reentrant: call it on
 * the thread that writes the CSV. routing_policy NULL or "" means "unknown". */
cJSON *trace_json(const struct timeline_row *r, bool in_flight, const char *routing_policy);
/* The same, printed unformatted (malloc'd), or NULL on no memory. */
char *trace_json_text(const struct timeline_row *r, bool in_flight, const char *routing_policy);

#endif

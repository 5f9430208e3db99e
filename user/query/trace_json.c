// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The timeline columns come from output_row(OUT_JSON), so the API and -j
 * never disagree on a column. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "output/clock.h"
#include "output/output.h"
#include "query/trace_json.h"

const char *trace_json_status(const struct timeline_row *r, bool in_flight)
{
	if (in_flight)
		return "in_flight";
	if (r->success > 0)
		return "success";
	if (strstr(r->error, "client_aborted"))
		return "aborted";
	return "error";
}

static cJSON *columns(const struct timeline_row *r)
{
	struct timeline_row copy = *r;
	struct output o;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cJSON *obj;

	if (!f)
		return NULL;
	copy.prompt = NULL;
	output_init(&o, f, OUT_JSON);
	output_row(&o, &copy);
	fclose(f);
	obj = cJSON_Parse(buf);
	free(buf);
	return obj;
}

cJSON *trace_json(const struct timeline_row *r, bool in_flight, const char *routing_policy)
{
	uint64_t first = r->arrival_time ? r->arrival_time : r->server_created_time;
	cJSON *o = cJSON_CreateObject(), *cols = columns(r);
	char url[80];

	if (!o || !cols) {
		cJSON_Delete(o);
		cJSON_Delete(cols);
		return NULL;
	}
	cJSON_AddStringToObject(o, "request_id", r->req_id);
	if (r->host[0]) {
		snprintf(url, sizeof(url), "http://%s", r->host);
		cJSON_AddStringToObject(o, "node_id", r->host);
		cJSON_AddStringToObject(o, "worker_url", url);
	} else {
		cJSON_AddNullToObject(o, "node_id");
		cJSON_AddNullToObject(o, "worker_url");
	}
	cJSON_AddStringToObject(o, "routing_policy",
				routing_policy && *routing_policy ? routing_policy : "unknown");
	cJSON_AddStringToObject(o, "status", trace_json_status(r, in_flight));
	if (first)
		cJSON_AddNumberToObject(o, "timestamp",
					(double)clock_mono_to_epoch_ns(first) / 1e9);
	else
		cJSON_AddNullToObject(o, "timestamp");
	cJSON_AddItemToObject(o, "timeline", cols);
	return o;
}

char *trace_json_text(const struct timeline_row *r, bool in_flight, const char *routing_policy)
{
	cJSON *o = trace_json(r, in_flight, routing_policy);
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;

	cJSON_Delete(o);
	return s;
}

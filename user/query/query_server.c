// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* libmicrohttpd with its internal polling thread: every connection is a
 * non-blocking socket in one poll loop, so a client that stalls mid-request
 * only holds its own socket until the connection timeout. The handler takes
 * the store's lock only inside trace_store_* (copying text out). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include "query/query_server.h"

struct query_server {
	struct MHD_Daemon *d;
	struct query_opts o;
	struct trace_store *store;
	struct metrics *m;
	unsigned port;
};

/* Per request: the body as it arrives. */
struct req {
	char *body;
	size_t len;
	bool too_big;
};

int query_parse_listen(const char *addr, struct sockaddr_storage *ss)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char host[64] = "127.0.0.1";
	const char *port = addr, *colon = strrchr(addr, ':');
	char *end;
	unsigned long p;

	memset(ss, 0, sizeof(*ss));
	if (colon) {
		size_t hl = colon - addr;

		if (addr[0] == '[' && hl >= 2 && addr[hl - 1] == ']') {
			addr++;
			hl -= 2;
		}
		if (!hl || hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, addr, hl);
		host[hl] = 0;
		port = colon + 1;
	}
	errno = 0;
	p = strtoul(port, &end, 10);
	if (!*port || *end || errno || p > 65535)
		return -EINVAL;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(p);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(p);
		return 0;
	}
	return -EINVAL;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, char *body,
			     const char *ctype)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!body)
		return MHD_NO;	/* out of memory: MHD drops the connection */
	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", ctype);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned code, char *body)
{
	return reply(c, code, body, "application/json");
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned code, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	cJSON_AddStringToObject(o, "error", msg);
	cJSON_AddNumberToObject(o, "code", code);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return reply_json(c, code, s);
}

/* {"traces": [...found...], "not_found": [...]} */
static enum MHD_Result batch(struct query_server *qs, struct MHD_Connection *c,
			     const struct req *rq)
{
	cJSON *in = cJSON_ParseWithLength(rq->body ? rq->body : "", rq->len);
	cJSON *ids = cJSON_GetObjectItemCaseSensitive(in, "request_ids");
	cJSON *missing, *id;
	char *buf = NULL, *miss;
	size_t len = 0, found = 0;
	FILE *f;

	if (!cJSON_IsArray(ids)) {
		cJSON_Delete(in);
		return reply_error(c, 400, "body must be {\"request_ids\": [\"id\", ...]}");
	}
	if ((unsigned)cJSON_GetArraySize(ids) > qs->o.max_limit) {
		cJSON_Delete(in);
		return reply_error(c, 400, "too many request_ids");
	}
	cJSON_ArrayForEach(id, ids) {
		if (!cJSON_IsString(id)) {
			cJSON_Delete(in);
			return reply_error(c, 400, "request_ids must be strings");
		}
	}
	missing = cJSON_CreateArray();
	f = open_memstream(&buf, &len);
	if (!f || !missing) {
		cJSON_Delete(in);
		cJSON_Delete(missing);
		return MHD_NO;
	}
	fputs("{\"traces\":[", f);
	cJSON_ArrayForEach(id, ids) {
		char *t = trace_store_get_json(qs->store, id->valuestring);

		if (t) {
			fprintf(f, "%s%s", found++ ? "," : "", t);
			free(t);
		} else {
			cJSON_AddItemToArray(missing, cJSON_CreateString(id->valuestring));
		}
	}
	miss = cJSON_PrintUnformatted(missing);
	fprintf(f, "],\"found\":%zu,\"not_found\":%s}", found, miss ? miss : "[]");
	fclose(f);
	free(miss);
	cJSON_Delete(missing);
	cJSON_Delete(in);
	return reply_json(c, 200, buf);
}

static enum MHD_Result list(struct query_server *qs, struct MHD_Connection *c)
{
	const char *arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	unsigned long limit = QUERY_LIST_LIMIT_DEFAULT;
	char *arr, *out;
	char *end;
	size_t n;

	if (arg) {
		errno = 0;
		limit = strtoul(arg, &end, 10);
		if (!*arg || *end || errno || arg[0] == '-')
			return reply_error(c, 400, "limit must be a non-negative integer");
	}
	if (limit > qs->o.max_limit)
		limit = qs->o.max_limit;
	arr = trace_store_list_json(qs->store, limit);
	if (!arr)
		return MHD_NO;
	n = strlen(arr) + 64;
	out = malloc(n);
	if (out)
		snprintf(out, n, "{\"limit\":%lu,\"traces\":%s}", limit, arr);
	free(arr);
	return reply_json(c, 200, out);
}

static enum MHD_Result route(struct query_server *qs, struct MHD_Connection *c, const char *url,
			     const char *method, const struct req *rq)
{
	static const char prefix[] = "/v1/traces/";
	bool get = !strcmp(method, MHD_HTTP_METHOD_GET);
	bool post = !strcmp(method, MHD_HTTP_METHOD_POST);

	if (!strcmp(url, "/v1/traces/batch"))
		return post ? batch(qs, c, rq) : reply_error(c, 405, "use POST");
	if (!get)
		return reply_error(c, 405, "use GET");
	if (!strcmp(url, "/metrics"))
		return reply(c, 200, metrics_render(qs->m), "text/plain; version=0.0.4; charset=utf-8");
	if (!strcmp(url, "/v1/traces") || !strcmp(url, "/v1/traces/"))
		return list(qs, c);
	if (!strcmp(url, "/v1/traces/stats"))
		return reply_json(c, 200, trace_store_stats_json(qs->store));
	if (!strncmp(url, prefix, sizeof(prefix) - 1) && url[sizeof(prefix) - 1]) {
		char *t = trace_store_get_json(qs->store, url + sizeof(prefix) - 1);

		return t ? reply_json(c, 200, t) : reply_error(c, 404, "unknown request_id");
	}
	return reply_error(c, 404, "no such endpoint");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct query_server *qs = cls;
	struct req *rq = *con_cls;
	const char *cl;

	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		/* refuse before reading (and before 100-continue) */
		if (cl && strtoull(cl, NULL, 10) > qs->o.max_body)
			return reply_error(c, 413, "request body too large");
		return MHD_YES;
	}
	if (*upload_size) {
		if (!rq->too_big && rq->len + *upload_size > qs->o.max_body) {
			rq->too_big = true;
			free(rq->body);
			rq->body = NULL;
		}
		if (!rq->too_big) {
			char *b = realloc(rq->body, rq->len + *upload_size + 1);

			if (!b)
				return MHD_NO;
			memcpy(b + rq->len, upload, *upload_size);
			rq->len += *upload_size;
			b[rq->len] = 0;
			rq->body = b;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->too_big)
		return reply_error(c, 413, "request body too large");
	return route(qs, c, url, method, rq);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;

	if (rq) {
		free(rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

struct query_server *query_server_start(const char *listen_addr, const struct query_opts *o,
					struct trace_store *store, struct metrics *m)
{
	struct query_server *qs = calloc(1, sizeof(*qs));
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;

	if (!qs)
		return NULL;
	if (query_parse_listen(listen_addr, &ss)) {
		fprintf(stderr, "servetrace: --listen '%s': want PORT, HOST:PORT or [V6]:PORT\n",
			listen_addr);
		free(qs);
		return NULL;
	}
	if (o)
		qs->o = *o;
	if (!qs->o.max_connections)
		qs->o.max_connections = QUERY_MAX_CONNECTIONS_DEFAULT;
	if (!qs->o.conn_timeout_s)
		qs->o.conn_timeout_s = QUERY_CONN_TIMEOUT_DEFAULT_S;
	if (!qs->o.max_body)
		qs->o.max_body = QUERY_MAX_BODY_DEFAULT;
	if (!qs->o.max_limit)
		qs->o.max_limit = QUERY_MAX_LIMIT_DEFAULT;
	qs->store = store;
	qs->m = m;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	qs->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, qs,
				 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				 MHD_OPTION_CONNECTION_LIMIT, qs->o.max_connections,
				 MHD_OPTION_CONNECTION_TIMEOUT, qs->o.conn_timeout_s,
				 MHD_OPTION_NOTIFY_COMPLETED, completed, qs,
				 MHD_OPTION_END);
	if (!qs->d) {
		fprintf(stderr, "servetrace: cannot listen on %s: %s\n", listen_addr,
			strerror(errno ? errno : EADDRINUSE));
		free(qs);
		return NULL;
	}
	info = MHD_get_daemon_info(qs->d, MHD_DAEMON_INFO_BIND_PORT);
	qs->port = info ? info->port : 0;
	return qs;
}

unsigned query_server_port(const struct query_server *qs)
{
	return qs->port;
}

void query_server_stop(struct query_server *qs)
{
	if (!qs)
		return;
	MHD_stop_daemon(qs->d);
	free(qs);
}

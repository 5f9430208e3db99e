// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A chained hash over a fixed pool of entries, and two age lists (finished,
 * in flight), oldest at the head: eviction and TTL expiry pop heads. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "output/clock.h"
#include "query/trace_json.h"
#include "query/trace_store.h"
#include "util/hash.h"

struct trace {
	struct trace *hnext;
	struct trace *prev, *next;
	char req_id[RID_MAX];
	uint64_t put_ns;	/* store clock, for the TTL */
	uint64_t arrival;	/* the row's first stamp */
	unsigned gen;		/* in-flight refresh that last named it */
	bool in_flight;
	char *json;
};

struct trace_list {
	struct trace *head, *tail;
	size_t n;
};

struct node_count {
	char host[64];
	unsigned long long n;
};

static const char *const statuses[] = { "success", "error", "aborted" };
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))

struct trace_store {
	pthread_mutex_t lock;
	struct trace_store_opts o;
	struct trace *pool;
	struct trace *free_list;
	struct trace **buckets;
	size_t nbuckets;		/* power of two */
	struct trace_list done, flying;
	unsigned gen;
	unsigned long long total;
	unsigned long long per_status[NSTATUS];
	struct node_count nodes[TRACE_STORE_MAX_NODES];
	unsigned nnodes;
	unsigned long long other_nodes;
	unsigned long long evicted_max, expired_ttl;
};

struct trace_store *trace_store_new(const struct trace_store_opts *o)
{
	struct trace_store *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	pthread_mutex_init(&st->lock, NULL);
	if (o)
		st->o = *o;
	if (!st->o.max_traces)
		st->o.max_traces = TRACE_STORE_MAX_DEFAULT;
	if (!st->o.ttl_ns)
		st->o.ttl_ns = TRACE_STORE_TTL_DEFAULT_NS;
	if (!st->o.now_ns)
		st->o.now_ns = clock_mono_now_ns;
	for (st->nbuckets = 16; st->nbuckets < 2 * st->o.max_traces; st->nbuckets *= 2)
		;
	st->pool = calloc(st->o.max_traces, sizeof(*st->pool));
	st->buckets = calloc(st->nbuckets, sizeof(*st->buckets));
	if (!st->pool || !st->buckets) {
		trace_store_free(st);
		return NULL;
	}
	for (size_t i = 0; i < st->o.max_traces; i++) {
		st->pool[i].hnext = st->free_list;
		st->free_list = &st->pool[i];
	}
	return st;
}

void trace_store_free(struct trace_store *st)
{
	if (!st)
		return;
	for (size_t i = 0; st->pool && i < st->o.max_traces; i++)
		free(st->pool[i].json);
	pthread_mutex_destroy(&st->lock);
	free(st->pool);
	free(st->buckets);
	free(st);
}

static void list_add(struct trace_list *l, struct trace *t)
{
	t->next = NULL;
	t->prev = l->tail;
	if (l->tail)
		l->tail->next = t;
	else
		l->head = t;
	l->tail = t;
	l->n++;
}

static void list_del(struct trace_list *l, struct trace *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		l->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		l->tail = t->prev;
	l->n--;
}

static struct trace **bucket(struct trace_store *st, const char *id)
{
	return &st->buckets[fnv_str(id) & (st->nbuckets - 1)];
}

static struct trace *find(struct trace_store *st, const char *id)
{
	for (struct trace *t = *bucket(st, id); t; t = t->hnext)
		if (!strcmp(t->req_id, id))
			return t;
	return NULL;
}

/* Unlinks t and returns its text, to be freed outside the lock. */
static char *drop(struct trace_store *st, struct trace *t)
{
	struct trace **pp = bucket(st, t->req_id);
	char *json = t->json;

	while (*pp != t)
		pp = &(*pp)->hnext;
	*pp = t->hnext;
	list_del(t->in_flight ? &st->flying : &st->done, t);
	t->json = NULL;
	t->hnext = st->free_list;
	st->free_list = t;
	return json;
}

static void expire(struct trace_store *st)
{
	uint64_t now = st->o.now_ns();
	struct trace_list *lists[] = { &st->done, &st->flying };

	for (int i = 0; i < 2; i++) {
		while (lists[i]->head && now - lists[i]->head->put_ns > st->o.ttl_ns) {
			free(drop(st, lists[i]->head));
			st->expired_ttl++;
		}
	}
}

/* A free entry, evicting the oldest finished (else in-flight) one. */
static struct trace *alloc(struct trace_store *st, const char *id)
{
	struct trace *t;
	struct trace **b;

	if (!st->free_list) {
		free(drop(st, st->done.head ? st->done.head : st->flying.head));
		st->evicted_max++;
	}
	t = st->free_list;
	st->free_list = t->hnext;
	memset(t, 0, sizeof(*t));
	snprintf(t->req_id, sizeof(t->req_id), "%s", id);
	b = bucket(st, id);
	t->hnext = *b;
	*b = t;
	return t;
}

static void count_node(struct trace_store *st, const char *host)
{
	const char *h = host[0] ? host : "none";

	for (unsigned i = 0; i < st->nnodes; i++) {
		if (!strcmp(st->nodes[i].host, h)) {
			st->nodes[i].n++;
			return;
		}
	}
	if (st->nnodes == TRACE_STORE_MAX_NODES) {
		st->other_nodes++;
		return;
	}
	snprintf(st->nodes[st->nnodes].host, sizeof(st->nodes[0].host), "%s", h);
	st->nodes[st->nnodes++].n = 1;
}

static void count(struct trace_store *st, const struct timeline_row *r)
{
	const char *s = trace_json_status(r, false);

	st->total++;
	for (size_t i = 0; i < NSTATUS; i++)
		if (!strcmp(statuses[i], s))
			st->per_status[i]++;
	count_node(st, r->host);
}

static uint64_t first_stamp(const struct timeline_row *r)
{
	return r->arrival_time ? r->arrival_time : r->server_created_time;
}

void trace_store_put(struct trace_store *st, const struct timeline_row *r)
{
	char *json = trace_json_text(r, false, st->o.routing_policy), *old = NULL;
	struct trace *t;

	pthread_mutex_lock(&st->lock);
	expire(st);
	count(st, r);
	if (json) {
		t = find(st, r->req_id);
		if (t)
			list_del(t->in_flight ? &st->flying : &st->done, t);
		else
			t = alloc(st, r->req_id);
		old = t->json;
		t->json = json;
		t->in_flight = false;
		t->arrival = first_stamp(r);
		t->put_ns = st->o.now_ns();
		list_add(&st->done, t);
	}
	pthread_mutex_unlock(&st->lock);
	free(old);
}

void trace_store_in_flight_begin(struct trace_store *st)
{
	pthread_mutex_lock(&st->lock);
	st->gen++;
	pthread_mutex_unlock(&st->lock);
}

void trace_store_in_flight(void *ctx, const struct timeline_row *r)
{
	struct trace_store *st = ctx;
	char *json = trace_json_text(r, true, st->o.routing_policy), *old = NULL;
	struct trace *t;

	if (!json)
		return;
	pthread_mutex_lock(&st->lock);
	t = find(st, r->req_id);
	if (t && !t->in_flight && first_stamp(r) <= t->arrival) {
		old = json;	/* it finished already: the finished row wins */
		goto out;
	}
	if (t)
		list_del(t->in_flight ? &st->flying : &st->done, t);
	else
		t = alloc(st, r->req_id);
	old = t->json;
	t->json = json;
	t->in_flight = true;
	t->arrival = first_stamp(r);
	t->gen = st->gen;
	t->put_ns = st->o.now_ns();
	list_add(&st->flying, t);
out:
	pthread_mutex_unlock(&st->lock);
	free(old);
}

void trace_store_in_flight_end(struct trace_store *st)
{
	struct trace *t, *next;

	pthread_mutex_lock(&st->lock);
	for (t = st->flying.head; t; t = next) {
		next = t->next;
		if (t->gen != st->gen)
			free(drop(st, t));
	}
	expire(st);
	pthread_mutex_unlock(&st->lock);
}

char *trace_store_get_json(struct trace_store *st, const char *req_id)
{
	struct trace *t;
	char *s = NULL;

	pthread_mutex_lock(&st->lock);
	expire(st);
	t = find(st, req_id);
	if (t)
		s = strdup(t->json);
	pthread_mutex_unlock(&st->lock);
	return s;
}

/* Newest first: in flight (started last), then finished. */
char *trace_store_list_json(struct trace_store *st, size_t limit)
{
	struct trace_list *lists[] = { &st->flying, &st->done };
	size_t len = 2, n = 0, at = 1;
	char *out;

	pthread_mutex_lock(&st->lock);
	expire(st);
	for (int i = 0; i < 2; i++)
		for (struct trace *t = lists[i]->tail; t && n < limit; t = t->prev, n++)
			len += strlen(t->json) + 1;
	out = malloc(len + 1);
	if (out) {
		out[0] = '[';
		n = 0;
		for (int i = 0; i < 2; i++) {
			for (struct trace *t = lists[i]->tail; t && n < limit; t = t->prev, n++) {
				size_t l = strlen(t->json);

				if (n)
					out[at++] = ',';
				memcpy(out + at, t->json, l);
				at += l;
			}
		}
		out[at++] = ']';
		out[at] = 0;
	}
	pthread_mutex_unlock(&st->lock);
	return out;
}

char *trace_store_stats_json(struct trace_store *st)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *nodes = cJSON_AddObjectToObject(o, "requests_per_node");
	cJSON *status = cJSON_AddObjectToObject(o, "requests_per_status");
	char *s;

	pthread_mutex_lock(&st->lock);
	expire(st);
	cJSON_AddNumberToObject(o, "total_requests", (double)st->total);
	cJSON_AddNumberToObject(o, "active_traces", (double)(st->done.n + st->flying.n));
	cJSON_AddNumberToObject(o, "in_flight_traces", (double)st->flying.n);
	cJSON_AddNumberToObject(o, "max_traces", (double)st->o.max_traces);
	cJSON_AddNumberToObject(o, "trace_ttl_seconds", (double)st->o.ttl_ns / 1e9);
	for (unsigned i = 0; i < st->nnodes; i++)
		cJSON_AddNumberToObject(nodes, st->nodes[i].host, (double)st->nodes[i].n);
	if (st->other_nodes)
		cJSON_AddNumberToObject(nodes, "other", (double)st->other_nodes);
	for (size_t i = 0; i < NSTATUS; i++)
		if (st->per_status[i])
			cJSON_AddNumberToObject(status, statuses[i], (double)st->per_status[i]);
	pthread_mutex_unlock(&st->lock);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

void trace_store_get_counts(struct trace_store *st, struct trace_store_counts *c)
{
	pthread_mutex_lock(&st->lock);
	expire(st);
	c->total_requests = st->total;
	c->active_traces = st->done.n + st->flying.n;
	c->in_flight_traces = st->flying.n;
	c->evicted_max = st->evicted_max;
	c->expired_ttl = st->expired_ttl;
	pthread_mutex_unlock(&st->lock);
}

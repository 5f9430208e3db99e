// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Matching rules, strongest first:
 *  forward -> client request: same request id (header or body rid), else
 *    same prompt fingerprint, else the first unclaimed forward written
 *    while the client request was open (FIFO);
 *  worker request -> forward: same TCP connection (the router's outbound
 *    4-tuple is the worker's inbound one), first worker request read at
 *    or after the forward was written;
 *  server hops -> request: SGLang's rid (body rid or the response's id).
 * A row is built when the client-facing exchange ended and linger_ns
 * passed, so events still queued on other CPUs are in by then. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "correlate/correlator.h"
#include "conn/endpoint.h"
#include "util/hash.h"
#include "util/str.h"

/* Forwards by request id and by prompt fingerprint: chains of the
 * exchanges' own nodes (no allocation, one cache miss less a lookup).
 * Each step of a chain is a cache miss: at 16-core rates a linger's worth
 * of forwards is 50-70k, four a chain with 16384 buckets. */
#define IDX_BUCKETS 65536

struct ex_index {
	struct hlist_head b[IDX_BUCKETS];
	size_t node_off;	/* offset of the exchange's hlist_node */
	size_t key_off;		/* and of its key (key_id, key_fp) */
};

struct hop_rec {
	struct hlist_node hn;		/* hash chain */
	struct list_head age;		/* eviction order, oldest first */
	uint64_t key;
	char rid[RID_MAX];
	uint64_t t[HOP_MAX];
	uint32_t worker_tgid;
};

#define HOP_BUCKETS 4096

/* The last exchange in the store of one bucket of start times; bucket 0:
 * the slot is empty. */
struct order_slot {
	uint64_t bucket;
	struct exchange *tail;
};

/* How far into a connection's list of worker requests the last lookup
 * found only requests that started before its forward: a lookup for a
 * later forward starts after that. Under overload, requests whose
 * forwards were lost (dropped records) stay at the head of the list until
 * the orphan limit (10 s), and every lookup on the connection walked past
 * all of them, a cache miss each: the cost per row grew until the
 * hand-overs filled. */
struct pair_hint {
	uint64_t key;			/* the connection (key_pair) */
	uint64_t bound;			/* its requests up to node started before */
	struct list_head *node;		/* in the list (or its head) */
};

struct correlator {
	struct correlator_opts o;
	struct list_head live;		/* all live exchanges, oldest first */
	struct list_head fin;		/* finalize queue */
	struct list_head dead;		/* consumed: freed at the end of the tick */
	struct order_slot *order;	/* ORDER_SLOTS: where each bucket of start
					 * time ends in the store */
	uint64_t next_serial;
	struct ex_index fwd_by_id, fwd_by_fp;
	uint64_t open_since;	/* correlator_set_open_since() */
	/* worker requests by connection, oldest first: a forward takes the
	 * first one after it, so the walk stops there (a keep-alive pair
	 * holds every request of the linger window) */
	struct list_head worker_by_pair[IDX_BUCKETS];
	struct pair_hint *pair_hint;	/* IDX_BUCKETS: where to start looking */
	struct hlist_head hops[HOP_BUCKETS];
	struct list_head hop_age;
	uint32_t nhops;
	uint64_t last_scan;
	void (*detach)(void *ctx, struct exchange *ex);
	void *detach_ctx;
	bool (*stop)(void *ctx);	/* correlator_flush_bounded's clock */
	void *stop_ctx;
	uint32_t stop_polls;
	bool stopped;
	/* a forward was claimed by its client's id: the router passes ids on,
	 * so a client with an id whose forward has none of it lost it */
	bool ids_propagate;
	correlator_exchange_return_fn ex_return;	/* exchanges with a home */
	struct correlator_stats st;
};

#define SCAN_INTERVAL_NS 100000000ULL	/* expiry scans */

/* ---- index --------------------------------------------------------- */

static struct hlist_head *idx_chain(struct ex_index *ix, uint64_t key)
{
	return &ix->b[key % IDX_BUCKETS];
}

static struct hlist_node *idx_node(struct ex_index *ix, struct exchange *ex)
{
	return (struct hlist_node *)((char *)ex + ix->node_off);
}

static struct exchange *idx_ex(struct ex_index *ix, struct hlist_node *n)
{
	return (struct exchange *)((char *)n - ix->node_off);
}

static uint64_t idx_key(struct ex_index *ix, const struct exchange *ex)
{
	return *(const uint64_t *)((const char *)ex + ix->key_off);
}

static void idx_add(struct ex_index *ix, uint64_t key, struct exchange *ex)
{
	hlist_add_head(idx_node(ix, ex), idx_chain(ix, key));
}

static void idx_del(struct ex_index *ix, struct exchange *ex)
{
	hlist_del(idx_node(ix, ex));
}

static void unindex(struct correlator *c, struct exchange *ex)
{
	if (ex->key_id)
		idx_del(&c->fwd_by_id, ex);
	if (ex->key_fp)
		idx_del(&c->fwd_by_fp, ex);
	if (ex->key_pair) {
		struct pair_hint *h = &c->pair_hint[ex->key_pair % IDX_BUCKETS];

		if (h->node == &ex->pair_node)	/* the hint stays in the list */
			h->node = ex->pair_node.prev;
		list_del(&ex->pair_node);
	}
	ex->key_id = ex->key_fp = ex->key_pair = 0;
}

static const char *exchange_id(const struct exchange *ex)
{
	return ex->header_id[0] ? ex->header_id : ex->req.rid;
}

/* fnv_str(exchange_id(ex)), 0 without an id: a row's prefetch stages and
 * its match each look a client's id up, and a forward's is looked up
 * ahead of its indexing, so it is hashed once, once it is final: from a
 * header (never replaced) or once the request is done (before, the
 * body's rid may be still to come: the in-flight view asks then). */
static uint64_t id_key_of(struct exchange *ex)
{
	const char *id;
	uint64_t key;

	if (ex->id_key_set)
		return ex->id_key;
	id = exchange_id(ex);
	key = id[0] ? fnv_str(id) : 0;
	if (ex->header_id[0] || ex->req_done) {
		ex->id_key = key;
		ex->id_key_set = true;
	}
	return key;
}

#define ex_of(pos) list_entry(pos, struct exchange, node)

/* ---- the store's start order --------------------------------------- */

/* The store is kept in start order (forwards_by_time walks it from a
 * client request on, the expiry stops at the first young exchange, the
 * eviction takes the oldest). Exchanges come in as they end, not as they
 * begin, and with several parse threads one may lag the others by
 * milliseconds: placing one by walking back from the newest crossed
 * everything handed over meanwhile, a cache miss a step (on 16 cores,
 * half of the correlator's thread, and 500k of 2.8M placements hit the
 * walk's bound). So the store remembers where each 16 us bucket of start
 * times ends: a placement walks back from the end of its own bucket
 * (a few exchanges), or goes after the end of the nearest earlier one. */
#define ADOPT_WALK_MAX 512	/* store entries walked to place one, at most */
#define ORDER_SHIFT 14		/* buckets of 2^14 ns */
#define ORDER_SLOTS 65536	/* a second of buckets (1 MiB); older ones
				 * share slots with newer and lose theirs */
#define ORDER_LOOKBACK 64	/* empty buckets looked past for an earlier end */

static uint64_t bucket_of(const struct exchange *ex)
{
	return (ex->t_req_first >> ORDER_SHIFT) + 1;
}

static struct order_slot *order_slot(struct correlator *c, uint64_t bucket)
{
	return &c->order[bucket & (ORDER_SLOTS - 1)];
}

/* Where to start looking back from for ex: the end of its bucket, else of
 * the nearest earlier bucket within reach, else the newest. *exact: the
 * exchanges after the point started in later buckets. */
static struct list_head *order_start(struct correlator *c, uint64_t b, bool *exact)
{
	struct order_slot *s = order_slot(c, b);

	*exact = true;
	if (s->bucket == b)
		return &s->tail->node;
	for (uint64_t i = 1; i <= ORDER_LOOKBACK && i < b; i++) {
		s = order_slot(c, b - i);
		if (s->bucket == b - i)
			return &s->tail->node;
	}
	*exact = false;
	return c->live.prev;
}

static void store_insert(struct correlator *c, struct exchange *ex)
{
	uint64_t b = bucket_of(ex);
	struct list_head *pos = c->live.prev, *next;
	struct order_slot *s;
	bool exact;
	int steps = 0;

	/* the usual case, and the only one with one thread: the newest */
	if (pos != &c->live && ex_of(pos)->t_req_first > ex->t_req_first) {
		pos = order_start(c, b, &exact);
		/* an earlier bucket's end: a later one's slot may have been
		 * lost to a newer bucket, so step over what started before */
		while (exact && pos->next != &c->live &&
		       ex_of(pos->next)->t_req_first <= ex->t_req_first) {
			if (++steps > ADOPT_WALK_MAX)
				break;
			pos = pos->next;
		}
		/* Bounded: past it the order is only near (the eviction order
		 * and the time fallback of matching, no id and no prompt, may
		 * then be off), and it is counted. */
		while (pos != &c->live && ex_of(pos)->t_req_first > ex->t_req_first) {
			if (++steps > ADOPT_WALK_MAX) {
				c->st.adopted_unordered++;
				break;
			}
			pos = pos->prev;
		}
	}
	list_add_tail(&ex->node, pos->next);	/* just after pos */
	next = ex->node.next;
	if (next != &c->live && bucket_of(ex_of(next)) == b)
		return;		/* not the end of its bucket */
	s = order_slot(c, b);
	if (s->bucket <= b) {	/* a second older bucket loses its slot */
		s->bucket = b;
		s->tail = ex;
	}
}

bool correlator_store_ordered(struct correlator *c)
{
	struct list_head *pos;

	for (pos = c->live.next; pos != &c->live && pos->next != &c->live; pos = pos->next)
		if (ex_of(pos)->t_req_first > ex_of(pos->next)->t_req_first)
			return false;
	return true;
}

static void order_remove(struct correlator *c, struct exchange *ex)
{
	uint64_t b = bucket_of(ex);
	struct order_slot *s = order_slot(c, b);
	struct list_head *prev = ex->node.prev;

	if (s->bucket != b || s->tail != ex)
		return;
	if (prev != &c->live && bucket_of(ex_of(prev)) == b)
		s->tail = ex_of(prev);
	else
		s->bucket = 0;
}

/* ---- lifetime ------------------------------------------------------ */

struct correlator *correlator_new(const struct correlator_opts *opts)
{
	struct correlator *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->o = *opts;
	c->open_since = UINT64_MAX;
	list_init(&c->live);
	list_init(&c->fin);
	list_init(&c->dead);
	c->order = calloc(ORDER_SLOTS, sizeof(*c->order));
	c->pair_hint = calloc(IDX_BUCKETS, sizeof(*c->pair_hint));
	if (!c->order || !c->pair_hint) {
		free(c->order);
		free(c->pair_hint);
		free(c);
		return NULL;
	}
	c->fwd_by_id.node_off = offsetof(struct exchange, id_hn);
	c->fwd_by_fp.node_off = offsetof(struct exchange, fp_hn);
	c->fwd_by_id.key_off = offsetof(struct exchange, key_id);
	c->fwd_by_fp.key_off = offsetof(struct exchange, key_fp);
	for (int i = 0; i < IDX_BUCKETS; i++)
		list_init(&c->worker_by_pair[i]);
	list_init(&c->hop_age);
	return c;
}

static void free_exchange(struct correlator *c, struct exchange *ex)
{
	if (ex->conn && c->detach)
		c->detach(c->detach_ctx, ex);
	ex->conn = NULL;
	unindex(c, ex);
	order_remove(c, ex);
	list_del(&ex->node);
	list_del(&ex->fin_node);
	if (ex->dead_queued)
		list_del(&ex->dead_node);
	if (!ex->resp_done)
		c->st.in_flight--;
	c->st.live--;
	/* back to the thread that made it, buffers and all: it frees them
	 * in its own malloc arena and reuses the block (no lock shared with
	 * it, no allocation per exchange) */
	if (!ex->home || !c->ex_return || !c->ex_return(ex->home, ex))
		correlator_exchange_free(ex);
}

static void hop_remove(struct correlator *c, struct hop_rec *h)
{
	hlist_del(&h->hn);
	list_del(&h->age);
	c->nhops--;
	free(h);
}

void correlator_free(struct correlator *c)
{
	if (!c)
		return;
	while (!list_empty(&c->live))
		free_exchange(c, ex_of(c->live.next));
	while (!list_empty(&c->hop_age))
		hop_remove(c, list_entry(c->hop_age.next, struct hop_rec, age));
	free(c->order);
	free(c->pair_hint);
	free(c);
	correlator_exchange_cache_drain();
}

const struct correlator_stats *correlator_stats(struct correlator *c)
{
	return &c->st;
}

void correlator_set_have_router(struct correlator *c, bool have_router)
{
	c->o.have_router = have_router;
}

void correlator_set_holder(struct correlator *c,
			   void (*detach)(void *ctx, struct exchange *ex), void *ctx)
{
	c->detach = detach;
	c->detach_ctx = ctx;
}

/* Freed exchanges kept for reuse, per thread: three per request, each
 * past malloc's small-size cache, came and went through its slow path.
 * Bounded; an exchange freed on another thread than it was made on (the
 * parse threads' handoff) simply lands in that thread's cache. */
#define EX_CACHE_MAX 16384	/* a 100 ms scan frees ~7k at 25k req/s */
#define EX_ALLOC_SIZE ((sizeof(struct exchange) + 63) / 64 * 64)

static __thread struct exchange **ex_cache;	/* EX_CACHE_MAX, on first free */
static __thread uint32_t ex_cached;

static struct exchange *exchange_get(size_t size)
{
	struct exchange *ex;

	if (size > sizeof(*ex))
		return calloc(1, size);
	/* aligned: the fields the expiry walk reads share one cache line */
	ex = ex_cached ? ex_cache[--ex_cached] : aligned_alloc(64, EX_ALLOC_SIZE);
	/* the expiry frees thousands at once, long out of cache by the
	 * time they are reused: the next one is fetched while this serves */
	if (ex_cached)
		exchange_prefetch_write(ex_cache[ex_cached - 1]);
	if (ex) {
		memset(ex, 0, sizeof(*ex));
		ex->recyclable = true;
	}
	return ex;
}

static void exchange_put(struct exchange *ex)
{
	if (ex->recyclable && !ex_cache)
		ex_cache = malloc(EX_CACHE_MAX * sizeof(*ex_cache));
	if (ex->recyclable && ex_cache && ex_cached < EX_CACHE_MAX)
		ex_cache[ex_cached++] = ex;
	else
		free(ex);
}

void correlator_exchange_cache_drain(void)
{
	while (ex_cached)
		free(ex_cache[--ex_cached]);
	free(ex_cache);
	ex_cache = NULL;
}

struct exchange *correlator_exchange_alloc(size_t size, enum exchange_kind kind,
					   uint32_t tgid, const struct sock_endpoint *local,
					   const struct sock_endpoint *peer, uint64_t ts)
{
	struct exchange *ex = exchange_get(size);

	if (!ex)
		return NULL;
	ex->kind = kind;
	ex->tgid = tgid;
	ex->local = *local;
	ex->peer = *peer;
	ex->status = 0;
	ex->t_req_first = ex->t_last = ts;
	response_fields_init(&ex->resp);
	ex->req.input_words = -1;
	ex->req.max_tokens = -1;
	ex->req.stream = -1;
	list_init(&ex->fin_node);
	return ex;
}

void correlator_set_exchange_return(struct correlator *c, correlator_exchange_return_fn fn)
{
	c->ex_return = fn;
}

void correlator_exchange_free(struct exchange *ex)
{
	free(ex->req_body.data);
	free(ex->resp_body.data);
	free(ex->req.prompt);
	exchange_put(ex);
}

struct exchange *correlator_new_exchange(struct correlator *c, enum exchange_kind kind,
					 uint32_t tgid, const struct sock_endpoint *local,
					 const struct sock_endpoint *peer, uint64_t ts)
{
	struct exchange *ex = correlator_exchange_alloc(sizeof(*ex), kind, tgid, local, peer, ts);

	if (!ex)
		return NULL;
	ex->serial = ++c->next_serial;
	store_insert(c, ex);
	c->st.live++;
	c->st.in_flight++;
	return ex;
}

/* Another thread's exchange arrives when it is done, not when it began:
 * it goes into the store by its start (store_insert). */
void correlator_adopt(struct correlator *c, struct exchange *ex, bool request_done,
		      uint64_t ts)
{
	ex->serial = ++c->next_serial;
	ex->conn = NULL;
	store_insert(c, ex);
	c->st.live++;
	c->st.in_flight++;
	if (request_done)
		correlator_request_done(c, ex);
	correlator_exchange_done(c, ex, ts);
}

void correlator_request_done(struct correlator *c, struct exchange *ex)
{
	const char *id = exchange_id(ex);

	if (ex->ignored)
		return;
	/* indexed once: a second call must not link a node twice */
	if (ex->key_id || ex->key_fp || ex->key_pair)
		return;
	if (ex->kind == EX_FORWARD) {
		if (id[0]) {
			ex->key_id = id_key_of(ex);
			idx_add(&c->fwd_by_id, ex->key_id, ex);
		}
		/* prompts only matter without an id; identical prompts (common
		 * in benchmarks) would make one long chain of this index */
		if (!id[0] && ex->req.fingerprint) {
			ex->key_fp = ex->req.fingerprint;
			idx_add(&c->fwd_by_fp, ex->key_fp, ex);
		}
	} else if (ex->kind == EX_WORKER_IN) {
		ex->key_pair = endpoint_pair_hash(&ex->local, &ex->peer, false);
		list_add_tail(&ex->pair_node, &c->worker_by_pair[ex->key_pair % IDX_BUCKETS]);
	}
}

/* correlator_request_done's one miss was the index bucket a forward goes
 * into (a random line of a table the size of L2). */
void correlator_prefetch_request(struct correlator *c, struct exchange *ex)
{
	if (ex->kind == EX_FORWARD && ex->header_id[0] && !ex->ignored)
		__builtin_prefetch(idx_chain(&c->fwd_by_id, id_key_of(ex)), 1);
}

void correlator_drop(struct correlator *c, struct exchange *ex)
{
	if (ex->finalize_queued) {
		ex->ignored = true;	/* the queue will free it */
		return;
	}
	free_exchange(c, ex);
}

/* Rows are built from exchanges that face the client. */
static bool is_row_source(struct correlator *c, const struct exchange *ex)
{
	return ex->kind == EX_CLIENT_IN ||
	       (ex->kind == EX_WORKER_IN && !c->o.have_router);
}

static void queue_finalize(struct correlator *c, struct exchange *ex)
{
	ex->finalize_queued = true;
	list_add_tail(&ex->fin_node, &c->fin);
}

void correlator_exchange_done(struct correlator *c, struct exchange *ex, uint64_t ts)
{
	if (ex->resp_done && ex->t_done)
		return;
	if (!ex->resp_done) {
		ex->resp_done = true;
		c->st.in_flight--;
	}
	ex->t_done = ts;
	ex->conn = NULL;
	if (ex->ignored) {
		free_exchange(c, ex);
		return;
	}
	if (!is_row_source(c, ex) || ex->finalize_queued)
		return;
	/* the collector ends what its connections held at exit */
	if (ex->conn_error[0] && !strcmp(ex->conn_error, "in_flight_at_exit"))
		c->st.incomplete_at_exit++;
	queue_finalize(c, ex);
}

/* ---- server hops --------------------------------------------------- */

static struct hop_rec *hop_find(struct correlator *c, const char *rid)
{
	struct hlist_node *pos, *tmp;
	uint64_t key;

	if (!rid || !rid[0])
		return NULL;
	key = fnv_str(rid);
	hlist_for_each_safe(pos, tmp, &c->hops[key % HOP_BUCKETS]) {
		struct hop_rec *h = container_of(pos, struct hop_rec, hn);

		if (h->key == key && !strcmp(h->rid, rid))
			return h;
	}
	return NULL;
}

static struct hop_rec *hop_new(struct correlator *c, const char *rid)
{
	struct hop_rec *h;

	if (c->nhops >= c->o.max_hop_records && !list_empty(&c->hop_age)) {
		c->st.hop_records_evicted++;
		hop_remove(c, list_entry(c->hop_age.next, struct hop_rec, age));
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	str_copy(h->rid, sizeof(h->rid), rid);
	h->key = fnv_str(h->rid);
	hlist_add_head(&h->hn, &c->hops[h->key % HOP_BUCKETS]);
	list_add_tail(&h->age, &c->hop_age);
	c->nhops++;
	return h;
}

void correlator_note_hop(struct correlator *c, const char *rid, enum server_hop hop,
			 uint64_t ts, uint32_t worker_tgid)
{
	struct hop_rec *h;

	if (!c || hop <= 0 || hop >= HOP_MAX || !rid || !rid[0])
		return;
	c->st.hops++;
	h = hop_find(c, rid);
	if (!h)
		h = hop_new(c, rid);
	if (!h)
		return;
	if (worker_tgid)
		h->worker_tgid = worker_tgid;
	if (hop == HOP_SCHED_LAST_OUT || !h->t[hop])
		h->t[hop] = ts;
}

void correlator_hop_sink(void *ctx, const char *rid, enum server_hop hop,
			 uint64_t ts, uint32_t worker_tgid)
{
	correlator_note_hop(ctx, rid, hop, ts, worker_tgid);
}

/* ---- matching ------------------------------------------------------ */

#define MAX_FORWARDS 16

static bool fwd_has_id(const struct exchange *f, const char *id)
{
	return (f->header_id[0] && !strcmp(f->header_id, id)) ||
	       (f->req.rid[0] && !strcmp(f->req.rid, id));
}

static bool fwd_failed(const struct exchange *f)
{
	return f->conn_error[0] || f->status == 408 || f->status == 429 ||
	       f->status >= 500;
}

static int cmp_fwd(const void *a, const void *b)
{
	const struct exchange *x = *(struct exchange *const *)a;
	const struct exchange *y = *(struct exchange *const *)b;

	return x->t_req_first < y->t_req_first ? -1 : x->t_req_first > y->t_req_first;
}

typedef bool (*fwd_pred)(const struct exchange *f, const struct exchange *cl,
			 const char *id);

/* Unclaimed forwards of cl's router under key that pred accepts, at most
 * MAX_FORWARDS, oldest first. */
static int collect_forwards(struct ex_index *ix, uint64_t key, fwd_pred pred,
			    const struct exchange *cl, const char *id,
			    struct exchange **out)
{
	struct hlist_node *pos, *tmp;
	int n = 0;

	hlist_for_each_safe(pos, tmp, idx_chain(ix, key)) {
		struct exchange *f = idx_ex(ix, pos);
		if (idx_key(ix, f) != key || f->consumed || f->tgid != cl->tgid ||
		    !pred(f, cl, id) || n >= MAX_FORWARDS)
			continue;
		out[n++] = f;
	}
	if (n > 1)
		qsort(out, n, sizeof(*out), cmp_fwd);
	return n;
}

static bool fwd_id_matches(const struct exchange *f, const struct exchange *cl,
			   const char *id)
{
	return fwd_has_id(f, id);
}

static bool fwd_after_client(const struct exchange *f, const struct exchange *cl,
			     const char *id)
{
	return f->t_req_first >= cl->t_req_first;
}

static int forwards_by_id(struct correlator *c, struct exchange *cl,
			  const char *id, struct exchange **out)
{
	uint64_t key = id == exchange_id(cl) ? id_key_of(cl) : fnv_str(id);

	return collect_forwards(&c->fwd_by_id, key, fwd_id_matches, cl, id, out);
}

/* Same prompt: the earliest unclaimed forward after the client request
 * arrived, then the retries that followed a failed attempt. */
static int forwards_by_fingerprint(struct correlator *c, const struct exchange *cl,
				   struct exchange **out)
{
	int n = collect_forwards(&c->fwd_by_fp, cl->req.fingerprint, fwd_after_client,
				 cl, NULL, out);

	for (int i = 0; i < n; i++)
		if (!fwd_failed(out[i]))
			return i + 1;
	return n;
}

/* Exchanges a search by time looks at past the client request: with
 * more than this many started since, which forward is whose cannot be
 * told by time anyway (at 150k requests/s that is ~2 ms of traffic; at
 * 10/s, minutes). */
#define TIME_WALK_MAX 1024

/* No id, no prompt: the first unclaimed forward written while the client
 * request was open. */
static int forwards_by_time(struct correlator *c, const struct exchange *cl,
			    struct exchange **out)
{
	uint64_t until = cl->t_resp_first ? cl->t_resp_first : cl->t_done;
	struct list_head *pos;
	int steps = 0;

	/* The store is in creation order: forwards made while the client
	 * request was open come after it, and the walk ends past `until`
	 * (from the start it would be O(live) per row: quadratic when
	 * records are lost and ids find nothing). A request whose answer
	 * was lost has no `until`: the bound ends its walk (on 16 cores,
	 * under drops, these walks took 60 % of the merge thread). */
	for (pos = cl->node.next; pos != &c->live; pos = pos->next) {
		struct exchange *f = ex_of(pos);

		if (f->t_req_first > until && until)
			break;
		if (++steps > TIME_WALK_MAX) {
			c->st.time_walks_bounded++;
			break;
		}
		if (f->kind != EX_FORWARD || f->consumed || f->ignored ||
		    f->tgid != cl->tgid || !f->req_done)
			continue;
		if (f->t_req_first >= cl->t_req_first && (f->t_req_first <= until || !until)) {
			out[0] = f;
			return 1;
		}
	}
	return 0;
}

/* Requests with another id looked past on an HTTP/1.1 connection. */
#define ID_MISMATCHES_MAX 4

/* The worker request a forward became: same connection, read after the
 * forward was written and before its response came back, and no id that
 * says otherwise (a read in flight when we attached is missing, and the
 * next request on the connection must not take its place). */
static struct exchange *worker_for_forward(struct correlator *c, const struct exchange *f)
{
	uint64_t key = endpoint_pair_hash(&f->local, &f->peer, true);
	struct list_head *head = &c->worker_by_pair[key % IDX_BUCKETS];
	struct pair_hint *h = &c->pair_hint[key % IDX_BUCKETS];
	const char *fid = exchange_id(f);
	struct list_head *pos, *tmp, *ok = head;
	struct exchange *found = NULL;
	bool prefix = true;
	int mismatches = 0;

	/* what the hint covers started before this forward: skipped */
	if (h->node && h->key == key && f->t_req_first >= h->bound) {
		ok = h->node;
	} else if (h->node && h->key == key) {
		/* An older forward (rows end out of order): back from the
		 * hint to the connection's last request read before it; a
		 * connection's requests are listed in the order they were
		 * read, so nothing before that one can be its. From the
		 * head instead, each such lookup walked every request whose
		 * forward was lost (on 16 cores under drops, most of the
		 * merge thread). */
		struct list_head *p = h->node;

		while (p != head) {
			struct exchange *w = list_entry(p, struct exchange, pair_node);

			if (w->key_pair == key && w->t_req_first < f->t_req_first)
				break;
			c->st.pair_steps++;
			p = p->prev;
		}
		ok = p;
	}
	for (pos = ok->next; pos != head; pos = tmp) {
		struct exchange *w = list_entry(pos, struct exchange, pair_node);
		const char *wid;

		tmp = pos->next;
		c->st.pair_steps++;
		if (w->key_pair != key || w->consumed || w->t_req_first < f->t_req_first) {
			if (prefix)
				ok = pos;
			continue;
		}
		prefix = false;
		if (f->t_resp_first && w->t_req_first > f->t_resp_first)
			break;	/* later ones were read later still */
		if (!endpoint_equal(&w->local, &f->peer) || !endpoint_equal(&w->peer, &f->local))
			continue;	/* another connection in this bucket */
		wid = exchange_id(w);
		if (fid[0] && wid[0] && strcmp(fid, wid)) {
			/* HTTP/1.1 carries one request at a time: past the
			 * first few reads after the forward, its request was
			 * lost (without this, a walk to the list's end when
			 * the forward's answer was lost too: on 16 cores
			 * under drops, most of the merge thread) */
			if (!f->grpc && ++mismatches >= ID_MISMATCHES_MAX)
				break;
			continue;
		}
		found = w;	/* oldest first: the earliest that fits */
		break;
	}
	if (h->key != key || !h->node || f->t_req_first >= h->bound) {
		h->key = key;
		h->bound = f->t_req_first;
		h->node = ok;
	}
	return found;
}

/* ---- rows ---------------------------------------------------------- */

static void set_error(struct timeline_row *r, const struct exchange *ex)
{
	bool ok_status = ex->status >= 200 && ex->status < 300;

	if (ex->capture_lost && !ex->conn_error[0] && (ok_status || !ex->status)) {
		/* bytes went by uncaptured where the framing was: whether it
		 * ended well is unknown, and said so rather than guessed */
		snprintf(r->error, sizeof(r->error), "capture_incomplete");
		snprintf(r->notes, sizeof(r->notes),
			 "HTTP framing lost to uncaptured bytes: raise --capture-size");
		r->success = -1;
		return;
	}
	if (ex->conn_error[0])
		str_copy(r->error, sizeof(r->error), ex->conn_error);
	else if (ex->status && !ok_status)
		snprintf(r->error, sizeof(r->error), "HTTP %d %s%s%s", ex->status,
			 ex->reason, ex->resp.error[0] ? ": " : "", ex->resp.error);
	else if (ex->resp.error[0])
		str_copy(r->error, sizeof(r->error), ex->resp.error);
	else if (!ex->resp_complete)
		snprintf(r->error, sizeof(r->error), "%s",
			 ex->resp_started ? "incomplete_response" : "no_response");
	r->success = !r->error[0] && ok_status;
}

/* Everything the client-facing exchange tells. */
static void fill_from_front(struct timeline_row *r, const struct exchange *ex)
{
	r->has_generated_text = ex->resp.parsed || ex->sse_events ? ex->resp.has_text : -1;
	r->input_length = ex->req.input_words;
	r->expected_output_length = ex->req.max_tokens;
	r->actual_prompt_tokens = ex->resp.prompt_tokens;
	r->actual_output_tokens = ex->resp.completion_tokens;
	r->actual_total_tokens = ex->resp.total_tokens;
	r->output_tokens_from_trace = ex->event_stream ? (long long)ex->sse_tokens : -1;
	r->arrival_time = ex->t_req_first;
	r->finish_time = ex->resp_complete ? ex->t_resp_last : 0;
	str_copy(r->path, sizeof(r->path), ex->path);
	r->stream = ex->event_stream ? 1 : ex->req.stream;
	r->status = ex->status;
	r->request_bytes = ex->req_bytes;
	r->prompt = ex->req.prompt;
	r->response_bytes = ex->resp_bytes;
	set_error(r, ex);
}

static void pick_req_id(struct timeline_row *r, const struct exchange *front,
			const struct exchange *w)
{
	const char *cands[] = {
		front->header_id, front->req.rid,
		w ? w->header_id : "", w ? w->req.rid : "",
		w ? w->resp.sglang_id : "", front->resp.sglang_id,
	};
	static const char *const src[] = {
		"header", "body", "header", "body", "sglang", "sglang",
	};

	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
		if (cands[i][0]) {
			str_copy(r->req_id, sizeof(r->req_id), cands[i]);
			r->rid_source = src[i];
			return;
		}
	}
	snprintf(r->req_id, sizeof(r->req_id), "st-%llu",
		 (unsigned long long)front->serial);
	r->rid_source = "assigned";
}

/* vLLM sends every running request's outputs each step, streaming or
 * not: its first output frame is its first token. The queue end is vLLM's
 * own SCHEDULED stamp when stats are on, else the engine loop's. */
static double ms_diff(uint64_t a, uint64_t b)
{
	return a && b ? ((double)a - (double)b) / 1e6 : 0;
}

static void fill_vllm_hops(struct timeline_row *r, const struct hop_rec *h)
{
	uint64_t sched = h->t[HOP_VLLM_SCHEDULED];

	r->engine = "vllm";
	r->tokenizer_send_time = h->t[HOP_TOKENIZER_SEND];
	r->queue_time_start = h->t[HOP_SCHED_RECV];
	r->queue_time_end = sched ? sched : h->t[HOP_SCHED_QEND_STREAM];
	if (h->t[HOP_SCHED_FIRST_OUT])
		r->server_first_token_time = h->t[HOP_SCHED_FIRST_OUT];
	r->scheduler_last_output_time = h->t[HOP_SCHED_LAST_OUT];
	r->tokenizer_recv_time = h->t[HOP_MAIN_RECV];
	if (r->notes[0])
		return;
	if (h->t[HOP_VLLM_FIRST_CUT] && !h->t[HOP_SCHED_FIRST_OUT]) {
		snprintf(r->notes, sizeof(r->notes),
			 "vllm: output frames cut at capture size: first token unknown");
		return;
	}
	if (!sched) {
		snprintf(r->notes, sizeof(r->notes),
			 "vllm stats off: queue_time_end from the engine loop");
		return;
	}
	/* what servetrace alone would say, against vLLM's stamps (ms) */
	snprintf(r->notes, sizeof(r->notes),
		 "vllm: queue_time_end=SCHEDULED; loop %+.3f, recv %+.3f, out %+.3f ms",
		 ms_diff(h->t[HOP_SCHED_QEND_STREAM], sched),
		 ms_diff(h->t[HOP_SCHED_RECV], h->t[HOP_VLLM_QUEUED]),
		 ms_diff(h->t[HOP_SCHED_FIRST_OUT], h->t[HOP_VLLM_FIRST_STAMP]));
}

/* The hop record is found under SGLang's rid, which is the body rid the
 * client sent, or the id the response carried. take: the row is final,
 * the record goes with it. */
static void fill_hops(struct correlator *c, struct timeline_row *r,
		      const struct exchange *front, const struct exchange *w, bool take)
{
	const char *cands[] = {
		w ? w->resp.sglang_id : "", w ? w->req.rid : "",
		front->req.rid, front->resp.sglang_id, r->req_id,
	};
	struct hop_rec *h = NULL;

	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]) && !h; i++)
		h = hop_find(c, cands[i]);
	if (!h) {
		/* SGLang gives each of n samples a fresh id of its own */
		if (front->req.n > 1 && !r->notes[0])
			snprintf(r->notes, sizeof(r->notes),
				 "n>1: samples have their own ids inside SGLang");
		return;
	}
	str_copy(r->sglang_rid, sizeof(r->sglang_rid), h->rid);
	if (h->t[HOP_ENGINE_VLLM]) {
		fill_vllm_hops(r, h);
		if (take)
			hop_remove(c, h);
		return;
	}
	r->engine = "sglang";
	r->tokenizer_send_time = h->t[HOP_TOKENIZER_SEND];
	r->queue_time_start = h->t[HOP_SCHED_RECV];
	/* A stream's first scheduler output is its prefill's; a non-streaming
	 * request is sent out only at finish or every 50 tokens, so its first
	 * token is not observable and its queue end is the fcfs bound. */
	if (r->stream == 1) {
		r->queue_time_end = h->t[HOP_SCHED_QEND_STREAM];
		if (h->t[HOP_SCHED_FIRST_OUT])
			r->server_first_token_time = h->t[HOP_SCHED_FIRST_OUT];
	} else {
		r->queue_time_end = h->t[HOP_SCHED_QEND_FCFS];
		if (r->stream == 0 && !r->notes[0] && !h->t[HOP_SCHED_CHUNKED])
			snprintf(r->notes, sizeof(r->notes),
				 "non-streaming: first token not observable");
	}
	if (h->t[HOP_SCHED_CHUNKED] && !r->notes[0])
		snprintf(r->notes, sizeof(r->notes),
			 "chunked prefill: queue_time_end is a lower bound");
	r->scheduler_last_output_time = h->t[HOP_SCHED_LAST_OUT];
	r->detokenizer_recv_time = h->t[HOP_DETOK_RECV];
	r->detokenizer_send_time = h->t[HOP_DETOK_SEND];
	r->tokenizer_recv_time = h->t[HOP_MAIN_RECV];
	if (take)
		hop_remove(c, h);
}

static void fill_worker(struct timeline_row *r, const struct exchange *w)
{
	r->worker_pid = w->tgid;
	r->server_created_time = w->t_req_first;
	r->worker_first_token_time = w->t_first_event;
	r->server_first_token_time = w->t_first_event;
	r->worker_finish_time = w->resp_complete ? w->t_resp_last : 0;
	if (!r->sglang_rid[0])
		str_copy(r->sglang_rid, sizeof(r->sglang_rid), w->resp.sglang_id);
}

/* A row whose forward or worker request was a gRPC call says so first. */
static void note_grpc(struct timeline_row *r)
{
	char rest[sizeof(r->notes)];

	snprintf(rest, sizeof(rest), "%s", r->notes);
	snprintf(r->notes, sizeof(r->notes), "grpc%s%s", rest[0] ? "; " : "", rest);
}

static void row_init(struct timeline_row *r)
{
	memset(r, 0, sizeof(*r));
	r->has_generated_text = -1;
	r->output_tokens_from_trace = -1;
	r->stream = -1;
}

static void emit(struct correlator *c, struct timeline_row *r)
{
	c->st.rows++;
	if (c->o.emit)
		c->o.emit(c->o.emit_ctx, r);
}

/* Part of a row: out of the indexes now, freed at the end of the tick
 * (the row's builders still hold it). */
static void consume(struct correlator *c, struct exchange *ex)
{
	ex->consumed = true;
	unindex(c, ex);
	if (!ex->dead_queued) {
		ex->dead_queued = true;
		list_add_tail(&ex->dead_node, &c->dead);
	}
}

static void reap_dead(struct correlator *c)
{
	struct exchange *ex;

	while ((ex = list_first_or_null(&c->dead, struct exchange, dead_node))) {
		list_del(&ex->dead_node);
		ex->dead_queued = false;
		/* still queued: finalize_due frees it when it comes up */
		if (ex->consumed && !ex->finalize_queued)
			free_exchange(c, ex);
	}
}

/* What a client request was forwarded as: its forwards (retries too),
 * the last one and the worker request it became. take: claim them (the
 * row is final), so a worker request matched once is not matched again. */
struct client_match {
	struct exchange *fw[MAX_FORWARDS];
	int n;
	struct exchange *last, *w;
};

static void match_client(struct correlator *c, struct exchange *cl,
			 struct client_match *m, bool take)
{
	bool has_id = cl->header_id[0] || cl->req.rid[0];

	m->n = 0;
	m->last = m->w = NULL;
	if (cl->header_id[0])
		m->n = forwards_by_id(c, cl, cl->header_id, m->fw);
	if (!m->n && cl->req.rid[0])
		m->n = forwards_by_id(c, cl, cl->req.rid, m->fw);
	if (m->n)
		c->ids_propagate = true;
	/* Where the router passes ids on, a forward found by prompt or time
	 * for a client with an id would be another client's (its own was
	 * lost): not looked for. Under drops on 16 cores these searches
	 * were most of the merge thread's time. */
	if (!m->n && has_id && c->ids_propagate) {
		c->st.searches_skipped++;
	} else {
		if (!m->n && cl->req.fingerprint)
			m->n = forwards_by_fingerprint(c, cl, m->fw);
		if (!m->n)
			m->n = forwards_by_time(c, cl, m->fw);
	}

	for (int i = 0; i < m->n; i++) {
		struct exchange *wi = worker_for_forward(c, m->fw[i]);

		if (take) {
			consume(c, m->fw[i]);
			if (wi)
				consume(c, wi);
		}
		m->last = m->fw[i];
		m->w = wi;
	}
}

/* The row of a client request and what it was matched with. */
static void client_row(struct correlator *c, struct timeline_row *r,
		       const struct exchange *cl, const struct client_match *m, bool take)
{
	row_init(r);
	r->level = "router";
	r->router_pid = cl->tgid;
	r->forwards = m->n;
	fill_from_front(r, cl);
	if (m->last) {
		endpoint_format(&m->last->peer, r->host, sizeof(r->host));
		r->router_send_time = m->last->t_req_first;
	} else {
		snprintf(r->notes, sizeof(r->notes), "no forward seen");
	}
	if (m->w)
		fill_worker(r, m->w);
	else if (m->last)
		snprintf(r->notes, sizeof(r->notes), "worker not traced or not seen");
	r->router_first_token_time = cl->t_first_event;
	pick_req_id(r, cl, m->w);
	fill_hops(c, r, cl, m->w, take);
	if ((m->last && m->last->grpc) || (m->w && m->w->grpc))
		note_grpc(r);
}

static void finalize_client(struct correlator *c, struct exchange *cl)
{
	struct client_match m;
	struct timeline_row r;

	match_client(c, cl, &m, true);
	if (!m.last)
		c->st.rows_without_forward++;
	else if (!m.w)
		c->st.rows_without_worker++;
	if (m.n > 1)
		c->st.retried++;
	client_row(c, &r, cl, &m, true);
	c->st.rows_router++;
	emit(c, &r);
	consume(c, cl);
}

/* The row of a worker request no router request is known for. */
static void worker_row(struct correlator *c, struct timeline_row *r,
		       const struct exchange *w, bool take)
{
	row_init(r);
	r->level = "node";
	fill_from_front(r, w);
	fill_worker(r, w);
	endpoint_format(&w->local, r->host, sizeof(r->host));
	pick_req_id(r, w, NULL);
	fill_hops(c, r, w, w, take);
	if (w->grpc)
		note_grpc(r);
}

static void finalize_worker(struct correlator *c, struct exchange *w, bool unmatched)
{
	struct timeline_row r;

	worker_row(c, &r, w, true);
	if (unmatched) {
		c->st.rows_unmatched_worker++;
		snprintf(r.notes, sizeof(r.notes), "no router request matched");
	} else {
		c->st.rows_node++;
	}
	emit(c, &r);
	consume(c, w);
}

static void finalize(struct correlator *c, struct exchange *ex)
{
	if (ex->kind == EX_CLIENT_IN)
		finalize_client(c, ex);
	else
		finalize_worker(c, ex, false);
}

void correlator_foreach_in_flight(struct correlator *c,
				  void (*fn)(void *ctx, const struct timeline_row *partial),
				  void *ctx)
{
	struct list_head *pos, *tmp;

	list_for_each_safe(pos, tmp, &c->live) {
		struct exchange *ex = ex_of(pos);
		struct client_match m;
		struct timeline_row r;

		if (ex->resp_done || ex->ignored || ex->consumed || !is_row_source(c, ex))
			continue;
		if (ex->kind == EX_CLIENT_IN) {
			match_client(c, ex, &m, false);
			client_row(c, &r, ex, &m, false);
		} else {
			worker_row(c, &r, ex, false);
		}
		snprintf(r.error, sizeof(r.error), "in_flight");
		r.success = -1;
		r.finish_time = 0;
		fn(ctx, &r);
	}
}

/* Takes ex out of the hands of its connection before it is let go. */
static void force_done(struct correlator *c, struct exchange *ex, const char *why,
		       uint64_t now)
{
	if (!ex->conn_error[0])
		str_copy(ex->conn_error, sizeof(ex->conn_error), why);
	ex->consumed = true;	/* the connection forgets consumed exchanges */
	if (!ex->resp_done) {
		ex->resp_done = true;
		c->st.in_flight--;
	}
	ex->t_done = now;
}

static void give_up(struct correlator *c, struct exchange *ex, const char *why,
		    uint64_t now)
{
	bool row = is_row_source(c, ex) && !ex->ignored && !ex->finalize_queued;

	force_done(c, ex, why, now);
	if (row) {
		ex->consumed = false;
		finalize(c, ex);
	}
}

/* Rows whose linger has passed. */
/* Past the exit deadline (correlator_flush_bounded): rows are counted,
 * no longer matched and written. The clock is read every 64 rows. */
static bool out_of_time(struct correlator *c)
{
	if (c->stop && !c->stopped && ++c->stop_polls % 64 == 0)
		c->stopped = c->stop(c->stop_ctx);
	return c->stopped;
}

/* The exchange after ex in the finalize queue, NULL at its end. */
static struct exchange *fin_next(struct correlator *c, struct exchange *ex)
{
	return ex && ex->fin_node.next != &c->fin ?
	       list_entry(ex->fin_node.next, struct exchange, fin_node) : NULL;
}

/* The first forward indexed under a client's id: where its row's search
 * starts (NULL: none, or no id). */
static struct exchange *first_forward(struct correlator *c, struct exchange *cl)
{
	struct hlist_node *first;
	uint64_t key;

	if (!cl || cl->kind != EX_CLIENT_IN || !(key = id_key_of(cl)))
		return NULL;
	first = idx_chain(&c->fwd_by_id, key)->first;
	return first ? idx_ex(&c->fwd_by_id, first) : NULL;
}

/* The index bucket first_forward will read for cl. */
static void prefetch_id_bucket(struct correlator *c, struct exchange *cl)
{
	uint64_t key;

	if (cl && cl->kind == EX_CLIENT_IN && (key = id_key_of(cl)))
		__builtin_prefetch(idx_chain(&c->fwd_by_id, key));
}

/* The worker request the pair hint of f's connection points at next: the
 * one worker_for_forward(f) finds first. NULL if none. */
static struct exchange *hinted_worker(struct correlator *c, const struct exchange *f)
{
	uint64_t key = endpoint_pair_hash(&f->local, &f->peer, true);
	struct pair_hint *h = &c->pair_hint[key % IDX_BUCKETS];
	struct list_head *head = &c->worker_by_pair[key % IDX_BUCKETS];

	if (h->node && h->key == key && h->node->next != head)
		return list_entry(h->node->next, struct exchange, pair_node);
	return NULL;
}

/* A row is built from exchanges parse threads wrote a linger ago: out of
 * this core's caches, and every line is a miss (on 16 cores the misses
 * were most of the merge thread). What the next rows will read is fetched
 * ahead in stages, each from lines the stage before fetched, so the
 * misses overlap the row being built: the client request four rows
 * ahead, the index bucket of its id three ahead, its forward two ahead,
 * the worker request that forward's connection lists next one ahead, and
 * for this row the neighbour its worker request's unlinking writes. */
static void prefetch_rows(struct correlator *c, struct exchange *ex)
{
	struct exchange *n1 = fin_next(c, ex), *n2 = fin_next(c, n1);
	struct exchange *n3 = fin_next(c, n2), *n4 = fin_next(c, n3), *f, *w;

	if (n4)
		exchange_prefetch(n4);
	prefetch_id_bucket(c, n3);
	if ((f = first_forward(c, n2)))
		exchange_prefetch(f);
	if ((f = first_forward(c, n1)) && (w = hinted_worker(c, f)))
		exchange_prefetch(w);
	/* this row's worker request leaves its connection's list when the
	 * row is done: the next one there (or the list's head) is written */
	if ((f = first_forward(c, ex)) && (w = hinted_worker(c, f)))
		__builtin_prefetch(w->pair_node.next, 1);
}

static void finalize_due(struct correlator *c, uint64_t now)
{
	struct exchange *ex;

	while ((ex = list_first_or_null(&c->fin, struct exchange, fin_node)) &&
	       ex->t_done + c->o.linger_ns <= now) {
		prefetch_rows(c, ex);
		list_del(&ex->fin_node);
		ex->finalize_queued = false;
		if (ex->consumed || ex->ignored) {
			free_exchange(c, ex);	/* used up or dropped meanwhile */
			continue;
		}
		if (out_of_time(c)) {
			c->st.unwritten_at_exit++;
			free_exchange(c, ex);
			continue;
		}
		finalize(c, ex);
	}
}

/* Gives up on what waited too long (idle_ns for unfinished exchanges,
 * orphan_ns for pieces nothing claimed); frees what is used up. Rows
 * free their pieces at once (consume, reap_dead), so this only has to
 * look at the old: the store is in start order, and an exchange that
 * started less than the shorter of the two limits ago can be neither.
 * The walk stops at the first such one (it walked the whole store ten
 * times a second: a cache miss per exchange, a quarter of the
 * correlator's thread at 33k requests/s). */
/* How long a done piece waits to be claimed. One that failed on its
 * connection (its worker killed mid-request) is what a router retries on
 * another worker: its client request ends only after the retry, which
 * may take longer than orphan_ns, so it waits as long as an unfinished
 * client request could (idle_ns). */
static uint64_t claim_window(const struct correlator *c, const struct exchange *ex)
{
	return ex->conn_error[0] && c->o.idle_ns > c->o.orphan_ns ? c->o.idle_ns : c->o.orphan_ns;
}

static void expire(struct correlator *c, uint64_t now)
{
	uint64_t horizon = c->o.orphan_ns < c->o.idle_ns ? c->o.orphan_ns : c->o.idle_ns;
	struct list_head *pos, *tmp;
	/* a client request before this one may still claim it: open (here
	 * or in a parse thread), or ended and its row not yet written */
	bool client_open = false;

	list_for_each_safe(pos, tmp, &c->live) {
		struct exchange *ex = ex_of(pos);

		if (ex->t_req_first + horizon > now)
			break;
		if (ex->kind == EX_CLIENT_IN && !ex->consumed && !ex->ignored &&
		    (!ex->resp_done || ex->finalize_queued))
			client_open = true;
		if (ex->finalize_queued)
			continue;
		if (ex->consumed || ex->ignored) {
			if (ex->resp_done || ex->consumed)
				free_exchange(c, ex);
			continue;
		}
		if (!ex->resp_done && now > ex->t_last + c->o.idle_ns) {
			c->st.expired_unfinished++;
			give_up(c, ex, "no_end_seen", now);
			if (!ex->finalize_queued)
				free_exchange(c, ex);
			continue;
		}
		/* a router streaming to a slow reader ends the client's
		 * response long after the worker's: what a client request
		 * still open may claim waits for it (as long as it could) */
		if (ex->resp_done && (client_open || c->open_since < ex->t_req_first) &&
		    ex->kind != EX_CLIENT_IN && now <= ex->t_done + c->o.idle_ns)
			continue;
		if (ex->resp_done && now > ex->t_done + claim_window(c, ex)) {
			/* done, never claimed by a client request */
			if (ex->kind == EX_WORKER_IN && out_of_time(c))
				c->st.unwritten_at_exit++;
			else if (ex->kind == EX_WORKER_IN)
				finalize_worker(c, ex, true);
			else if (ex->kind == EX_FORWARD)
				c->st.forwards_unmatched++;
			free_exchange(c, ex);
		}
	}
}

void correlator_set_open_since(struct correlator *c, uint64_t ts)
{
	c->open_since = ts;
}

void correlator_tick(struct correlator *c, uint64_t now)
{
	struct exchange *ex;

	finalize_due(c, now);
	reap_dead(c);
	if (now >= c->last_scan + SCAN_INTERVAL_NS) {
		c->last_scan = now;
		expire(c, now);
	}
	/* Over the limit between scans, the oldest go at once, with no walk
	 * of the whole store (with the store full under overload that was a
	 * walk of max_exchanges per tick, a tick per hand-over). Used-up
	 * ones are only freed, as the scan would. */
	while (c->st.live > c->o.max_exchanges &&
	       (ex = list_first_or_null(&c->live, struct exchange, node))) {
		if (!ex->finalize_queued &&
		    (ex->consumed || (ex->ignored && ex->resp_done))) {
			free_exchange(c, ex);
			continue;
		}
		c->st.evicted++;
		if (ex->finalize_queued) {
			/* already ended: its row now, before its linger is out.
			 * (Not a tick at its linger's end: the queue is in done
			 * order, which threads make differ from start order, so
			 * that tick may not reach it and would evict it again.) */
			list_del(&ex->fin_node);
			ex->finalize_queued = false;
			if (!ex->consumed && !ex->ignored)
				finalize(c, ex);
		} else {
			give_up(c, ex, "evicted_memory_limit", now);
		}
		free_exchange(c, ex);
		reap_dead(c);	/* its row's pieces count in live too */
	}
}

void correlator_flush(struct correlator *c)
{
	correlator_flush_bounded(c, NULL, NULL);
}

void correlator_flush_bounded(struct correlator *c, bool (*stop)(void *ctx), void *ctx)
{
	struct list_head *pos, *tmp;

	c->stop = stop;
	c->stop_ctx = ctx;
	c->stopped = false;

	list_for_each_safe(pos, tmp, &c->live) {
		struct exchange *ex = ex_of(pos);

		if (!ex->resp_done && !ex->ignored && is_row_source(c, ex)) {
			c->st.incomplete_at_exit++;
			force_done(c, ex, "in_flight_at_exit", ex->t_last);
			ex->consumed = false;
			queue_finalize(c, ex);
		}
	}
	correlator_tick(c, UINT64_MAX / 2);
	/* Whatever is left was never claimed. */
	correlator_tick(c, UINT64_MAX - 1);
	c->stop = NULL;
}

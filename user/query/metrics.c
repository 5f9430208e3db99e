// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Fixed buckets from 100 us (router queue) to 2 min (long generations);
 * counts are kept per bucket and summed into "le" form when rendered. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "query/metrics.h"
#include "query/trace_json.h"

static const double bounds[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
				 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120 };
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

enum stage { ST_ROUTER_QUEUE, ST_NETWORK, ST_TOKENIZE, ST_SCHED_QUEUE, ST_PREFILL,
	     ST_TTFT, ST_TOTAL, NSTAGES };

static const struct {
	const char *name, *help;
} stages[NSTAGES] = {
	[ST_ROUTER_QUEUE] = { "router_queue", "router read to forward (router_send_time - arrival_time)" },
	[ST_NETWORK] = { "network", "forward to worker read (server_created_time - router_send_time)" },
	[ST_TOKENIZE] = { "tokenize", "worker read to scheduler queue (queue_time_start - server_created_time)" },
	[ST_SCHED_QUEUE] = { "scheduler_queue", "scheduler waiting queue (queue_time_end - queue_time_start)" },
	[ST_PREFILL] = { "prefill", "prefill batch to first token (server_first_token_time - queue_time_end)" },
	[ST_TTFT] = { "ttft", "arrival to first token (server_first_token_time - arrival_time)" },
	[ST_TOTAL] = { "total_latency", "arrival to last byte (finish_time - arrival_time)" },
};

static const char *const statuses[] = { "success", "error", "aborted" };
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))

struct hist {
	unsigned long long buckets[NBOUNDS + 1];	/* last: above every bound */
	unsigned long long count;
	double sum;
};

struct series {
	char worker[64];
	char path[128];
	struct hist h[NSTAGES];
	unsigned long long by_status[NSTATUS];
};

struct counter {
	char name[96];
	unsigned long long value;
};

struct metrics {
	pthread_mutex_t lock;
	struct series *series;		/* METRICS_MAX_SERIES + 1 ("other") */
	unsigned nseries;
	struct counter counters[METRICS_MAX_COUNTERS];
	unsigned ncounters;
};

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->series = calloc(METRICS_MAX_SERIES + 1, sizeof(*m->series));
	if (!m->series) {
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m->series);
	free(m);
}

static struct series *series_of(struct metrics *m, const char *worker, const char *path)
{
	struct series *s;

	for (unsigned i = 0; i < m->nseries; i++)
		if (!strcmp(m->series[i].worker, worker) && !strcmp(m->series[i].path, path))
			return &m->series[i];
	if (m->nseries == METRICS_MAX_SERIES) {
		s = &m->series[METRICS_MAX_SERIES];
		snprintf(s->worker, sizeof(s->worker), "other");
		snprintf(s->path, sizeof(s->path), "other");
		return s;
	}
	s = &m->series[m->nseries++];
	snprintf(s->worker, sizeof(s->worker), "%s", worker);
	snprintf(s->path, sizeof(s->path), "%s", path);
	return s;
}

static void observe(struct hist *h, uint64_t from, uint64_t to)
{
	double v;
	size_t b = 0;

	if (!from || !to || to < from)
		return;
	v = (double)(to - from) / 1e9;
	while (b < NBOUNDS && v > bounds[b])
		b++;
	h->buckets[b]++;
	h->count++;
	h->sum += v;
}

void metrics_observe(struct metrics *m, const struct timeline_row *r)
{
	const char *status = trace_json_status(r, false);
	struct series *s;

	pthread_mutex_lock(&m->lock);
	s = series_of(m, r->host, r->path);
	observe(&s->h[ST_ROUTER_QUEUE], r->arrival_time, r->router_send_time);
	observe(&s->h[ST_NETWORK], r->router_send_time, r->server_created_time);
	observe(&s->h[ST_TOKENIZE], r->server_created_time, r->queue_time_start);
	observe(&s->h[ST_SCHED_QUEUE], r->queue_time_start, r->queue_time_end);
	observe(&s->h[ST_PREFILL], r->queue_time_end, r->server_first_token_time);
	observe(&s->h[ST_TTFT], r->arrival_time, r->server_first_token_time);
	observe(&s->h[ST_TOTAL], r->arrival_time, r->finish_time);
	for (size_t i = 0; i < NSTATUS; i++)
		if (!strcmp(statuses[i], status))
			s->by_status[i]++;
	pthread_mutex_unlock(&m->lock);
}

void metrics_set_counter(struct metrics *m, const char *name, unsigned long long value)
{
	pthread_mutex_lock(&m->lock);
	for (unsigned i = 0; i < m->ncounters; i++) {
		if (!strcmp(m->counters[i].name, name)) {
			m->counters[i].value = value;
			goto out;
		}
	}
	if (m->ncounters < METRICS_MAX_COUNTERS) {
		snprintf(m->counters[m->ncounters].name, sizeof(m->counters[0].name), "%s", name);
		m->counters[m->ncounters++].value = value;
	}
out:
	pthread_mutex_unlock(&m->lock);
}

/* A label value: backslash, quote and newline escaped. */
static void label(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void series_labels(FILE *f, const struct series *s)
{
	fputs("worker=", f);
	label(f, s->worker[0] ? s->worker : "none");
	fputs(",path=", f);
	label(f, s->path[0] ? s->path : "none");
}

static void render_hist(FILE *f, const struct metrics *m, int st)
{
	const char *n = stages[st].name;
	unsigned total = m->nseries + (m->series[METRICS_MAX_SERIES].worker[0] ? 1 : 0);

	fprintf(f, "# HELP servetrace_%s_seconds %s\n", n, stages[st].help);
	fprintf(f, "# TYPE servetrace_%s_seconds histogram\n", n);
	for (unsigned i = 0; i < total; i++) {
		const struct series *s = &m->series[i < m->nseries ? i : METRICS_MAX_SERIES];
		const struct hist *h = &s->h[st];
		unsigned long long cum = 0;

		if (!h->count)
			continue;
		for (size_t b = 0; b <= NBOUNDS; b++) {
			cum += h->buckets[b];
			fprintf(f, "servetrace_%s_seconds_bucket{", n);
			series_labels(f, s);
			if (b < NBOUNDS)
				fprintf(f, ",le=\"%g\"} %llu\n", bounds[b], cum);
			else
				fprintf(f, ",le=\"+Inf\"} %llu\n", cum);
		}
		fprintf(f, "servetrace_%s_seconds_sum{", n);
		series_labels(f, s);
		fprintf(f, "} %.9f\n", h->sum);
		fprintf(f, "servetrace_%s_seconds_count{", n);
		series_labels(f, s);
		fprintf(f, "} %llu\n", h->count);
	}
}

static void render_status(FILE *f, const struct metrics *m)
{
	unsigned total = m->nseries + (m->series[METRICS_MAX_SERIES].worker[0] ? 1 : 0);

	fputs("# HELP servetrace_requests_total Finished requests by worker, path and status\n", f);
	fputs("# TYPE servetrace_requests_total counter\n", f);
	for (unsigned i = 0; i < total; i++) {
		const struct series *s = &m->series[i < m->nseries ? i : METRICS_MAX_SERIES];

		for (size_t k = 0; k < NSTATUS; k++) {
			if (!s->by_status[k])
				continue;
			fputs("servetrace_requests_total{", f);
			series_labels(f, s);
			fprintf(f, ",status=\"%s\"} %llu\n", statuses[k], s->by_status[k]);
		}
	}
}

char *metrics_render(struct metrics *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	pthread_mutex_lock(&m->lock);
	for (int st = 0; st < NSTAGES; st++)
		render_hist(f, m, st);
	render_status(f, m);
	fputs("# HELP servetrace_lost_total servetrace's own counters as its exit summary "
	      "prints them: losses, and the totals they are out of\n", f);
	fputs("# TYPE servetrace_lost_total counter\n", f);
	for (unsigned i = 0; i < m->ncounters; i++) {
		fputs("servetrace_lost_total{counter=", f);
		label(f, m->counters[i].name);
		fprintf(f, "} %llu\n", m->counters[i].value);
	}
	pthread_mutex_unlock(&m->lock);
	fclose(f);
	return buf;
}

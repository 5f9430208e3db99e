// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Trace-event JSON written as rows complete. Rows come in finish order, so
 * a track (lane) is free for a request that starts after everything put on
 * it so far has ended: one "busy until" stamp per lane is enough. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "output/clock.h"
#include "output/perfetto.h"
#include "util/hash.h"

struct pf_proc {
	uint32_t pid;
	unsigned nlanes;
	uint64_t *busy_until;		/* per lane, mono ns */
};

struct pf_counter {
	char name[64];
	unsigned long long value;
};

struct perfetto {
	FILE *f;
	bool first;
	bool finished;
	uint32_t self_pid;
	bool self_named;
	struct pf_proc procs[PERFETTO_MAX_PROCS];
	unsigned nprocs;
	struct pf_counter counters[PERFETTO_MAX_COUNTERS];
	unsigned ncounters;
	unsigned long long next_flow;
	struct perfetto_stats st;
};

struct perfetto *perfetto_new(FILE *f)
{
	struct perfetto *pf = calloc(1, sizeof(*pf));

	if (!pf)
		return NULL;
	pf->f = f;
	pf->first = true;
	pf->self_pid = getpid();
	pf->next_flow = 1;
	fputs("[\n", f);
	fflush(f);
	return pf;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Whole epoch microseconds (the CSV's resolution): readers parse ts as a
 * double, which holds integers of this size exactly but not fractions, so
 * adjacent stages share their boundary exactly. */
static uint64_t epoch_us(uint64_t mono)
{
	return clock_mono_to_epoch_ns(mono) / 1000;
}

/* Opens an event object: separator, ph, pid, optional tid. */
static void ev_open(struct perfetto *pf, const char *ph, uint32_t pid, int tid)
{
	if (!pf->first)
		fputs(",\n", pf->f);
	pf->first = false;
	fprintf(pf->f, "{\"ph\":\"%s\",\"pid\":%u", ph, pid);
	if (tid >= 0)
		fprintf(pf->f, ",\"tid\":%d", tid);
	pf->st.events++;
}

static void meta_name(struct perfetto *pf, const char *what, uint32_t pid, int tid,
		      const char *name)
{
	ev_open(pf, "M", pid, tid);
	fprintf(pf->f, ",\"name\":\"%s\",\"args\":{\"name\":", what);
	json_str(pf->f, name);
	fputs("}}", pf->f);
}

static struct pf_proc *proc_get(struct perfetto *pf, uint32_t pid, const char *name)
{
	struct pf_proc *p;

	for (unsigned i = 0; i < pf->nprocs; i++)
		if (pf->procs[i].pid == pid)
			return &pf->procs[i];
	if (pf->nprocs == PERFETTO_MAX_PROCS) {
		pf->st.procs_skipped++;
		return NULL;
	}
	p = &pf->procs[pf->nprocs];
	p->busy_until = calloc(PERFETTO_MAX_LANES, sizeof(*p->busy_until));
	if (!p->busy_until)
		return NULL;
	p->pid = pid;
	pf->nprocs++;
	meta_name(pf, "process_name", pid, -1, name);
	return p;
}

/* The lowest track free at start, a new one, or (table full) the one that
 * frees first. Returns the tid. */
static int lane_take(struct perfetto *pf, struct pf_proc *p, uint64_t start, uint64_t end)
{
	unsigned best = 0;
	char name[32];

	for (unsigned i = 0; i < p->nlanes; i++) {
		if (p->busy_until[i] <= start) {
			p->busy_until[i] = end;
			return i + 1;
		}
		if (p->busy_until[i] < p->busy_until[best])
			best = i;
	}
	if (p->nlanes < PERFETTO_MAX_LANES) {
		best = p->nlanes++;
		snprintf(name, sizeof(name), "requests %u", best + 1);
		meta_name(pf, "thread_name", p->pid, best + 1, name);
	} else {
		pf->st.lanes_shared++;
	}
	if (end > p->busy_until[best])
		p->busy_until[best] = end;
	return best + 1;
}

static void slice_open(struct perfetto *pf, uint32_t pid, int tid, const char *name,
		       const char *cat, uint64_t start, uint64_t end)
{
	ev_open(pf, "X", pid, tid);
	fputs(",\"name\":", pf->f);
	json_str(pf->f, name);
	fprintf(pf->f, ",\"cat\":\"%s\",\"ts\":%llu,\"dur\":%llu", cat,
		(unsigned long long)epoch_us(start),
		(unsigned long long)(epoch_us(end) - epoch_us(start)));
}

/* The request's outer slice; its args say what the row says. */
static void request_slice(struct perfetto *pf, uint32_t pid, int tid,
			  const struct timeline_row *r, uint64_t start, uint64_t end)
{
	slice_open(pf, pid, tid, r->req_id, "request", start, end);
	fputs(",\"args\":{\"req_id\":", pf->f);
	json_str(pf->f, r->req_id);
	fputs(",\"host\":", pf->f);
	json_str(pf->f, r->host);
	fputs(",\"path\":", pf->f);
	json_str(pf->f, r->path);
	fprintf(pf->f, ",\"status\":%d,\"success\":%s", r->status, r->success > 0 ? "true" : "false");
	if (r->error[0]) {
		fputs(",\"error\":", pf->f);
		json_str(pf->f, r->error);
	}
	if (r->notes[0]) {
		fputs(",\"notes\":", pf->f);
		json_str(pf->f, r->notes);
	}
	fputs("}}", pf->f);
}

struct lane_pos {
	uint32_t pid;
	int tid;
	uint64_t cursor;	/* end of the previous stage: stages never overlap */
	uint64_t end;		/* the request slice's end: stages stay inside */
};

/* A stage inside the request slice; skipped when either stamp is unknown. */
static void stage(struct perfetto *pf, struct lane_pos *l, const char *name, uint64_t s,
		  uint64_t e)
{
	if (!s || !e)
		return;
	if (s < l->cursor)
		s = l->cursor;
	if (e > l->end)
		e = l->end;
	if (e < s)
		return;
	slice_open(pf, l->pid, l->tid, name, "stage", s, e);
	fputs("}", pf->f);
	l->cursor = e;
}

static void flow(struct perfetto *pf, const char *ph, const struct lane_pos *l,
		 unsigned long long id, uint64_t ts)
{
	ev_open(pf, ph, l->pid, l->tid);
	fprintf(pf->f, ",\"name\":\"forward\",\"cat\":\"flow\",\"id\":%llu,\"ts\":%llu", id,
		(unsigned long long)epoch_us(ts));
	if (ph[0] == 'f')
		fputs(",\"bp\":\"e\"", pf->f);
	fputs("}", pf->f);
}

/* Workers without a pid (not discovered) get one made from their address,
 * high enough not to clash with real pids. */
static uint32_t worker_pid_of(const struct timeline_row *r)
{
	if (r->worker_pid)
		return r->worker_pid;
	if (!r->host[0])
		return 0;
	return 0x40000000u | (uint32_t)(fnv_str(r->host) & 0x3fffffff);
}

static bool router_part(struct perfetto *pf, const struct timeline_row *r, struct lane_pos *l)
{
	uint64_t s = r->arrival_time, e = r->finish_time;
	struct pf_proc *p;
	char name[64];

	if (!r->router_pid || !s || !e || e < s)
		return false;
	snprintf(name, sizeof(name), "router (pid %u)", r->router_pid);
	p = proc_get(pf, r->router_pid, name);
	if (!p)
		return false;
	*l = (struct lane_pos){ p->pid, lane_take(pf, p, s, e), s, e };
	request_slice(pf, l->pid, l->tid, r, s, e);
	stage(pf, l, "router queue", r->arrival_time, r->router_send_time);
	stage(pf, l, "network", r->router_send_time, r->server_created_time);
	return true;
}

static bool worker_part(struct perfetto *pf, const struct timeline_row *r, struct lane_pos *l)
{
	uint64_t s = r->server_created_time;
	uint64_t e = r->worker_finish_time ? r->worker_finish_time : r->finish_time;
	uint32_t pid = worker_pid_of(r);
	struct pf_proc *p;
	char name[128];

	if (!pid || !s || !e || e < s)
		return false;
	if (r->worker_pid)
		snprintf(name, sizeof(name), "worker %s (pid %u)", r->host, r->worker_pid);
	else
		snprintf(name, sizeof(name), "worker %s", r->host);
	p = proc_get(pf, pid, name);
	if (!p)
		return false;
	*l = (struct lane_pos){ p->pid, lane_take(pf, p, s, e), s, e };
	request_slice(pf, l->pid, l->tid, r, s, e);
	stage(pf, l, "tokenize", r->server_created_time, r->queue_time_start);
	stage(pf, l, "scheduler queue", r->queue_time_start, r->queue_time_end);
	stage(pf, l, "prefill", r->queue_time_end, r->server_first_token_time);
	stage(pf, l, "decode", r->server_first_token_time, e);
	return true;
}

void perfetto_row(struct perfetto *pf, const struct timeline_row *r)
{
	struct lane_pos rl, wl;
	bool have_r, have_w;
	uint64_t hop;

	if (pf->finished)
		return;
	have_r = router_part(pf, r, &rl);
	have_w = worker_part(pf, r, &wl);
	if (have_r && have_w && r->router_send_time &&
	    r->router_send_time <= r->server_created_time) {
		flow(pf, "s", &rl, pf->next_flow, r->router_send_time);
		flow(pf, "f", &wl, pf->next_flow++, r->server_created_time);
	}
	/* main process -> scheduler: from the IPC send when seen */
	hop = r->tokenizer_send_time ? r->tokenizer_send_time : r->server_created_time;
	if (have_w && r->queue_time_start && hop <= r->queue_time_start &&
	    r->queue_time_start <= wl.end) {
		flow(pf, "s", &wl, pf->next_flow, hop);
		flow(pf, "f", &wl, pf->next_flow++, r->queue_time_start);
	}
	pf->st.rows++;
	fflush(pf->f);
}

void perfetto_counter(struct perfetto *pf, const char *name, uint64_t mono_ns,
		      unsigned long long value)
{
	struct pf_counter *c = NULL;

	if (pf->finished)
		return;
	for (unsigned i = 0; i < pf->ncounters; i++)
		if (!strcmp(pf->counters[i].name, name))
			c = &pf->counters[i];
	if (c && c->value == value)
		return;
	if (!c) {
		if (pf->ncounters == PERFETTO_MAX_COUNTERS)
			return;
		c = &pf->counters[pf->ncounters++];
		snprintf(c->name, sizeof(c->name), "%s", name);
	}
	c->value = value;
	if (!pf->self_named) {
		meta_name(pf, "process_name", pf->self_pid, -1, "servetrace (losses)");
		pf->self_named = true;
	}
	ev_open(pf, "C", pf->self_pid, -1);
	fputs(",\"name\":", pf->f);
	json_str(pf->f, c->name);
	fprintf(pf->f, ",\"ts\":%llu,\"args\":{\"value\":%llu}}",
		(unsigned long long)epoch_us(mono_ns), value);
	fflush(pf->f);
}

void perfetto_finish(struct perfetto *pf)
{
	if (pf->finished)
		return;
	fputs("\n]\n", pf->f);
	fflush(pf->f);
	pf->finished = true;
}

void perfetto_get_stats(const struct perfetto *pf, struct perfetto_stats *s)
{
	*s = pf->st;
}

void perfetto_free(struct perfetto *pf)
{
	if (!pf)
		return;
	for (unsigned i = 0; i < pf->nprocs; i++)
		free(pf->procs[i].busy_until);
	free(pf);
}

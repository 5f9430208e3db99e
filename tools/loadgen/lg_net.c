// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include "lg_net.h"
#include "lg_sched.h"

double lg_now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double lg_now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* curl looks for a reusable connection by walking every connection to the
 * host, so one multi handle costs O(in flight) per request and an
 * overloaded target drags the sender down with it. Several multi handles,
 * each with its own connection cache, keep that walk short. */
#define NSHARDS 16
#define TFD_TAG 0xffffffffu

struct net;

struct shard {
	struct net *net;
	CURLM *multi;
	unsigned int id;
	double deadline;	/* curl's timer, monotonic; INFINITY = none */
	bool added;		/* got new requests: run them now */
};

struct conn {
	CURL *easy;
	struct shard *shard;
	size_t idx;
	bool busy;
	struct curl_slist id_node;	/* X-Request-Id, chained to the shared headers */
	char errbuf[CURL_ERROR_SIZE];
};

struct net {
	const struct lg_net_cfg *cfg;
	struct shard shards[NSHARDS];
	int epfd, tfd;
	double t0_mono, t0_real;
	double armed_wake;	/* arrival offset the timerfd is set for */
	struct lg_sched sched;
	const struct lg_net_req *reqs;
	struct lg_result *res;
	struct conn **conns;	/* every handle made, busy or free */
	size_t nconns, capconns;
	struct conn **free_list;
	size_t nfree;
	size_t done, ok, failed;
	double next_progress;
	bool tty;
};

static uint64_t ev_tag(unsigned int shard, int fd)
{
	return (uint64_t)shard << 32 | (uint32_t)fd;
}

static size_t on_header(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct conn *c = ud;

	lg_result_header(&c->shard->net->res[c->idx], buf, size * nmemb);
	return size * nmemb;
}

static size_t on_body(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct conn *c = ud;

	lg_result_body(&c->shard->net->res[c->idx], buf, size * nmemb,
		       lg_now_real());
	return size * nmemb;
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *ud, void *sockp)
{
	struct shard *sh = ud;
	int epfd = sh->net->epfd;
	struct epoll_event ev = { .data.u64 = ev_tag(sh->id, s) };

	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, s, NULL);
		curl_multi_assign(sh->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev.events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev.events |= EPOLLOUT;
	if (sockp) {
		epoll_ctl(epfd, EPOLL_CTL_MOD, s, &ev);
		return 0;
	}
	/* a recycled fd number may still be registered */
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, s, &ev) && errno == EEXIST)
		epoll_ctl(epfd, EPOLL_CTL_MOD, s, &ev);
	curl_multi_assign(sh->multi, s, sh);
	return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *ud)
{
	struct shard *sh = ud;

	sh->deadline = timeout_ms < 0 ? INFINITY :
		       lg_now_mono() + timeout_ms * 1e-3;
	return 0;
}

static struct conn *get_conn(struct net *net)
{
	struct conn *c;

	if (net->nfree)
		return net->free_list[--net->nfree];
	if (net->nconns == net->capconns) {
		size_t cap = net->capconns ? net->capconns * 2 : 256;
		struct conn **a = realloc(net->conns, cap * sizeof(*a));
		struct conn **f;

		if (!a)
			return NULL;
		net->conns = a;
		f = realloc(net->free_list, cap * sizeof(*f));
		if (!f)
			return NULL;
		net->free_list = f;
		net->capconns = cap;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->easy = curl_easy_init();
	if (!c->easy) {
		free(c);
		return NULL;
	}
	/* a handle stays in one shard and reuses that shard's connections */
	c->shard = &net->shards[net->nconns % NSHARDS];
	curl_easy_setopt(c->easy, CURLOPT_URL, net->cfg->url);
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
	if (net->cfg->timeout_ms > 0)
		curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, net->cfg->timeout_ms);
	net->conns[net->nconns++] = c;
	return c;
}

static void finish(struct net *net, struct conn *c, const char *terr)
{
	struct lg_result *r = &net->res[c->idx];
	char *ip = NULL;
	long port = 0;

	if (curl_easy_getinfo(c->easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK &&
	    ip && *ip) {
		curl_easy_getinfo(c->easy, CURLINFO_PRIMARY_PORT, &port);
		snprintf(r->peer, sizeof(r->peer), "%s:%ld", ip, port);
	}
	if (!r->status && !terr)
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &r->status);
	lg_result_end(r, terr, lg_now_real());
	curl_multi_remove_handle(c->shard->multi, c->easy);
	c->busy = false;
	net->free_list[net->nfree++] = c;
	lg_sched_done(&net->sched);
	net->done++;
	if (r->success)
		net->ok++;
	else
		net->failed++;
}

static int start(struct net *net, size_t i)
{
	const struct lg_net_req *q = &net->reqs[i];
	struct lg_result *r = &net->res[i];
	struct conn *c = get_conn(net);

	if (!c)
		return -ENOMEM;
	c->idx = i;
	c->busy = true;
	c->errbuf[0] = '\0';
	c->id_node.data = q->id_header;
	c->id_node.next = net->cfg->headers;
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, &c->id_node);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, q->body);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
	r->sched_time = net->t0_real + net->sched.at[i];
	r->lag = lg_now_mono() - (net->t0_mono + net->sched.at[i]);
	r->send_time = lg_now_real();
	r->sent = true;
	if (curl_multi_add_handle(c->shard->multi, c->easy) != CURLM_OK) {
		c->busy = false;
		net->free_list[net->nfree++] = c;
		lg_result_end(r, "curl_multi_add_handle failed", lg_now_real());
		lg_sched_done(&net->sched);
		net->done++;
		net->failed++;
		return 0;
	}
	c->shard->added = true;
	return 0;
}

static void reap(struct shard *sh)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(sh->multi, &left))) {
		struct conn *c;
		char terr[CURL_ERROR_SIZE + 64];

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		if (msg->data.result == CURLE_OK) {
			finish(sh->net, c, NULL);
			continue;
		}
		snprintf(terr, sizeof(terr), "%s",
			 c->errbuf[0] ? c->errbuf : curl_easy_strerror(msg->data.result));
		finish(sh->net, c, terr);
	}
}

static void kick(struct shard *sh, curl_socket_t s, int ev)
{
	int running;

	curl_multi_socket_action(sh->multi, s, ev, &running);
	reap(sh);
}

/* Run curl's due timers; with force, those of shards that got requests. */
static void run_timers(struct net *net)
{
	double now = lg_now_mono();

	for (int i = 0; i < NSHARDS; i++) {
		struct shard *sh = &net->shards[i];

		if (sh->added || sh->deadline <= now) {
			double before = sh->deadline;

			sh->added = false;
			kick(sh, CURL_SOCKET_TIMEOUT, 0);
			/* curl's ms timeout can end before its timer: if it
			 * set no new one, look again in 1 ms instead of
			 * spinning on a deadline that stays in the past */
			if (sh->deadline == before && before <= now)
				sh->deadline = now + 1e-3;
		}
	}
}

static void abort_inflight(struct net *net)
{
	for (size_t i = 0; i < net->nconns; i++)
		if (net->conns[i]->busy)
			finish(net, net->conns[i], "client_aborted");
}

static void arm(struct net *net)
{
	double wake = lg_sched_next_wake(&net->sched);
	struct itimerspec its = {};
	double at;

	if (wake == net->armed_wake)
		return;
	net->armed_wake = wake;
	if (isfinite(wake)) {
		/* wake a little early and spin the rest: see epoll_timeout() */
		at = net->t0_mono + wake - net->cfg->spin;
		its.it_value.tv_sec = (time_t)at;
		/* round up: firing a hair early would find nothing due */
		its.it_value.tv_nsec = (long)ceil((at - (double)its.it_value.tv_sec) * 1e9);
		if (its.it_value.tv_nsec >= 1000000000L) {
			its.it_value.tv_sec++;
			its.it_value.tv_nsec -= 1000000000L;
		}
		/* an all-zero value would disarm: a due time is 1 ns */
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(net->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void progress(struct net *net, bool last)
{
	double now = lg_now_mono();

	if (!net->cfg->progress || (!last && now < net->next_progress))
		return;
	net->next_progress = now + (net->tty ? 0.5 : 10);
	fprintf(stderr, "%sloadgen: [%7.1fs] sent %zu/%zu  done %zu (ok %zu, failed %zu)  in flight %u%s",
		net->tty ? "\r" : "", now - net->t0_mono, net->sched.next,
		net->sched.n, net->done, net->ok, net->failed,
		net->sched.inflight, net->tty && !last ? "   " : "\n");
}

static int epoll_timeout(struct net *net)
{
	double first = INFINITY, d, wake;
	int ms;

	/* A sleeping vCPU can take milliseconds to wake: close to an arrival,
	 * poll instead of sleeping, so the request leaves on time. */
	wake = lg_sched_next_wake(&net->sched);
	if (isfinite(wake) &&
	    net->t0_mono + wake - lg_now_mono() <= net->cfg->spin)
		return 0;

	for (int i = 0; i < NSHARDS; i++)
		first = fmin(first, net->shards[i].deadline);
	if (net->cfg->progress)
		first = fmin(first, net->next_progress);
	if (!isfinite(first))
		return -1;
	d = first - lg_now_mono();
	ms = d <= 0 ? 0 : (int)ceil(d * 1e3);
	return ms;
}

static int loop(struct net *net)
{
	struct epoll_event evs[256];

	while (!lg_sched_finished(&net->sched)) {
		double now = lg_now_mono() - net->t0_mono;
		bool added = false;
		int n, ret;

		if (*net->cfg->stop) {
			/* ^C: send no more, close what is open, keep the rows */
			lg_sched_stop(&net->sched);
			abort_inflight(net);
			break;
		}
		while (lg_sched_ready(&net->sched, now)) {
			ret = start(net, lg_sched_take(&net->sched));
			if (ret)
				return ret;
			added = true;
			now = lg_now_mono() - net->t0_mono;
		}
		/* write new requests now, not at the next wake-up; then poll
		 * the sockets even if the next arrival is already due */
		if (added)
			run_timers(net);
		lg_sched_note_held(&net->sched, now);
		arm(net);
		n = epoll_wait(net->epfd, evs, 256, epoll_timeout(net));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			unsigned int id = evs[i].data.u64 >> 32;
			int fd = (int)(uint32_t)evs[i].data.u64, ev = 0;

			if (id == TFD_TAG) {
				uint64_t ticks;

				if (read(fd, &ticks, sizeof(ticks)) < 0)
					(void)0;	/* EAGAIN: nothing to take */
				net->armed_wake = NAN;	/* fired: re-arm */
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				ev |= CURL_CSELECT_IN;
			if (evs[i].events & EPOLLOUT)
				ev |= CURL_CSELECT_OUT;
			if (evs[i].events & EPOLLERR)
				ev |= CURL_CSELECT_ERR;
			kick(&net->shards[id], fd, ev);
		}
		run_timers(net);
		progress(net, false);
	}
	return 0;
}

int lg_net_run(const struct lg_net_cfg *cfg, const double *arrivals,
	       size_t n, const struct lg_net_req *reqs, struct lg_result *res,
	       struct lg_net_stats *st)
{
	struct net net = {
		.cfg = cfg,
		.reqs = reqs,
		.res = res,
		.armed_wake = NAN,
		.epfd = -1,
		.tfd = -1,
	};
	struct epoll_event ev = { .events = EPOLLIN };
	unsigned int cap;
	int ret = -ENOMEM;

	/* a request in flight holds a connection: the cap is the smaller */
	cap = cfg->max_inflight;
	if (cfg->max_connections && (!cap || cfg->max_connections < cap))
		cap = cfg->max_connections;
	lg_sched_init(&net.sched, arrivals, n, cap);
	net.epfd = epoll_create1(EPOLL_CLOEXEC);
	net.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (net.epfd < 0 || net.tfd < 0) {
		ret = -errno;
		goto cleanup;
	}
	ev.data.u64 = ev_tag(TFD_TAG, net.tfd);
	epoll_ctl(net.epfd, EPOLL_CTL_ADD, net.tfd, &ev);
	for (unsigned int i = 0; i < NSHARDS; i++) {
		struct shard *sh = &net.shards[i];

		sh->net = &net;
		sh->id = i;
		sh->deadline = INFINITY;
		sh->multi = curl_multi_init();
		if (!sh->multi)
			goto cleanup;
		curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
		curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
		curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, on_timer);
		curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
		/* keep-alive connections for every request in flight, and
		 * room so a finished one is not closed to make space */
		curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS,
				  (long)(cap ? 2 * cap / NSHARDS + 8 : 2048));
	}
	net.tty = isatty(STDERR_FILENO);

	net.t0_real = lg_now_real();
	net.t0_mono = lg_now_mono();
	net.next_progress = net.t0_mono + (net.tty ? 0.5 : 10);
	ret = loop(&net);
	progress(&net, true);
	st->peak_inflight = net.sched.peak_inflight;
	st->held = net.sched.held;
	st->interrupted = *cfg->stop;
cleanup:
	for (size_t i = 0; i < net.nconns; i++) {
		if (net.conns[i]->busy)
			curl_multi_remove_handle(net.conns[i]->shard->multi,
						 net.conns[i]->easy);
		curl_easy_cleanup(net.conns[i]->easy);
		free(net.conns[i]);
	}
	free(net.conns);
	free(net.free_list);
	for (int i = 0; i < NSHARDS; i++)
		if (net.shards[i].multi)
			curl_multi_cleanup(net.shards[i].multi);
	if (net.tfd >= 0)
		close(net.tfd);
	if (net.epfd >= 0)
		close(net.epfd);
	return ret;
}

struct buf {
	char *p;
	size_t len;
};

static size_t to_buf(char *data, size_t size, size_t nmemb, void *ud)
{
	struct buf *b = ud;
	size_t n = size * nmemb;
	char *np;

	if (b->len + n > (8u << 20))
		return 0;	/* a model list is never this big */
	np = realloc(b->p, b->len + n + 1);
	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

long lg_net_get(const char *url, long timeout_ms, struct curl_slist *headers,
		char **body, char *err, size_t errlen)
{
	CURL *e = curl_easy_init();
	struct buf b = {};
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = -1;
	CURLcode rc;

	*body = NULL;
	if (!e) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -1;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, to_buf);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(e);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
		*body = b.p;
	} else {
		snprintf(err, errlen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
		free(b.p);
	}
	curl_easy_cleanup(e);
	return status;
}

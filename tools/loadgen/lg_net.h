/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The event loop: curl multi on epoll, a timerfd for the arrivals. Each
 * request is handed to curl the moment its arrival comes; responses are
 * read as they come, never waited for before the next arrival. */
#ifndef LG_NET_H
#define LG_NET_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <curl/curl.h>
#include "lg_result.h"

struct lg_net_req {
	const char *body;
	size_t body_len;
	char *id_header;	/* "X-Request-Id: ..." */
};

struct lg_net_cfg {
	const char *url;
	struct curl_slist *headers;	/* shared by all requests */
	long timeout_ms;		/* 0 = none */
	unsigned int max_inflight;	/* 0 = no cap */
	unsigned int max_connections;	/* 0 = no cap */
	double spin;			/* busy-poll this long before an arrival, s */
	bool progress;
	volatile sig_atomic_t *stop;	/* set by SIGINT */
};

struct lg_net_stats {
	unsigned int peak_inflight;
	size_t held;		/* requests that waited for the in-flight cap */
	bool interrupted;
};

int lg_net_run(const struct lg_net_cfg *cfg, const double *arrivals,
	       size_t n, const struct lg_net_req *reqs, struct lg_result *res,
	       struct lg_net_stats *st);

/* Blocking GET for the preflight; body malloc'ed into *body. Returns the
 * HTTP status, or -1 with curl's message in err. */
long lg_net_get(const char *url, long timeout_ms, struct curl_slist *headers,
		char **body, char *err, size_t errlen);

double lg_now_real(void);
double lg_now_mono(void);

#endif

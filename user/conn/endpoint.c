// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include "conn/endpoint.h"
#include "util/str.h"
#include "util/hash.h"

static bool v4_mapped(const uint8_t *a)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return !memcmp(a, prefix, sizeof(prefix));
}

/* "a.b.c.d:port" as inet_ntop and "%s:%u" write it, without printf: a
 * row's host is formatted once per request. */
static bool format_v4(const uint8_t *a, unsigned port, char *buf, size_t len)
{
	char *p = buf;

	if (len < sizeof("255.255.255.255:65535"))
		return false;
	for (int i = 0; i < 4; i++) {
		p = str_put_dec(p, a[i]);
		*p++ = i < 3 ? '.' : ':';
	}
	p = str_put_dec(p, port);
	*p = 0;
	return true;
}

static void format(const struct sock_endpoint *ep, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ep->family == 2 && format_v4(ep->addr, ep->port, buf, len))
		return;
	if (ep->family == 2) {
		inet_ntop(2, ep->addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ep->port);
	} else if (ep->family == 10 && v4_mapped(ep->addr)) {
		/* Dual-stack sockets: show the IPv4 address users typed. */
		inet_ntop(2, ep->addr + 12, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ep->port);
	} else if (ep->family == 10) {
		inet_ntop(10, ep->addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ep->port);
	} else {
		snprintf(buf, len, "?:%u", ep->port);
	}
}

/* Rows name the worker a request went to: a few endpoints, formatted once
 * per row (4 % of the collector's samples). The last strings are kept per
 * thread, by the endpoint's bytes. */
#define FMT_SLOTS 16

static __thread struct fmt_slot {
	struct sock_endpoint ep;
	bool used;
	char s[ENDPOINT_STR_MAX];
} fmt_cache[FMT_SLOTS];

void endpoint_format(const struct sock_endpoint *ep, char *buf, size_t len)
{
	struct fmt_slot *f = &fmt_cache[(ep->port ^ ep->addr[3] ^ ep->addr[15]) % FMT_SLOTS];

	if (len < ENDPOINT_STR_MAX) {
		format(ep, buf, len);
		return;
	}
	if (!f->used || memcmp(&f->ep, ep, sizeof(*ep))) {
		format(ep, f->s, sizeof(f->s));
		f->ep = *ep;
		f->used = true;
	}
	memcpy(buf, f->s, sizeof(f->s));
}

struct sock_endpoint endpoint_normal(const struct sock_endpoint *ep)
{
	struct sock_endpoint n = *ep;

	if (ep->family == 10 && v4_mapped(ep->addr)) {
		n.family = 2;
		memset(n.addr, 0, sizeof(n.addr));
		memcpy(n.addr, ep->addr + 12, 4);
	}
	return n;
}

bool endpoint_equal(const struct sock_endpoint *a, const struct sock_endpoint *b)
{
	size_t n = a->family == 2 ? 4 : 16;

	return a->family == b->family && a->port == b->port &&
	       !memcmp(a->addr, b->addr, n);
}


static uint64_t endpoint_hash(uint64_t h, const struct sock_endpoint *ep)
{
	h = fnv_mix(h, &ep->port, sizeof(ep->port));
	return fnv_mix(h, ep->addr, ep->family == 2 ? 4 : 16);
}

uint64_t endpoint_pair_hash(const struct sock_endpoint *local,
			    const struct sock_endpoint *peer, bool swap)
{
	uint64_t h = FNV_SEED;

	if (swap) {
		const struct sock_endpoint *t = local;

		local = peer;
		peer = t;
	}
	h = endpoint_hash(h, local);
	return endpoint_hash(h, peer);
}

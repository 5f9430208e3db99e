/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Socket endpoints as the kernel reports them: formatting and comparing. */
#ifndef SERVETRACE_ENDPOINT_H
#define SERVETRACE_ENDPOINT_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include "sock_event.h"

#define ENDPOINT_STR_MAX 64	/* "[v6 address]:65535" fits */

/* "127.0.0.1:30001" or "[::1]:30001". */
void endpoint_format(const struct sock_endpoint *ep, char *buf, size_t len);
/* A dual-stack socket's v4-mapped address (::ffff:a.b.c.d) as IPv4: the
 * two ends of one connection then compare equal (a v4 client, a v6 server). */
struct sock_endpoint endpoint_normal(const struct sock_endpoint *ep);
bool endpoint_equal(const struct sock_endpoint *a, const struct sock_endpoint *b);
/* Hash of a connection seen from one side; the other side's view
 * (local and peer swapped) gives the same value with swap=true. */
uint64_t endpoint_pair_hash(const struct sock_endpoint *local,
			    const struct sock_endpoint *peer, bool swap);

#endif

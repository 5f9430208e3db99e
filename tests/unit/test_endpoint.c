// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* endpoint_format: IPv4 written without printf, as inet_ntop + "%s:%u"
 * wrote it; short buffers truncate as snprintf does. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include "conn/endpoint.h"
#include "test.h"

static void test_v4_as_inet_ntop(void)
{
	uint64_t x = 0x2545F4914F6CDD1DULL;
	int bad = 0;

	for (int i = 0; i < 100000; i++) {
		struct sock_endpoint ep = { .family = 2 };
		char want[64], got[64], ip[INET6_ADDRSTRLEN];
		size_t len = i % 7 ? sizeof(got) : (size_t)(1 + i % 30);

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(ep.addr, &x, 4);
		if (i % 5 == 0)
			memset(ep.addr, i % 2 ? 0 : 255, 4);
		ep.port = i % 3 ? (uint16_t)(x >> 32) : (uint16_t)(i % 11 ? 0 : 65535);
		inet_ntop(2, ep.addr, ip, sizeof(ip));
		snprintf(want, len, "%s:%u", ip, ep.port);
		endpoint_format(&ep, got, len);
		if (strcmp(want, got) && bad++ < 3)
			fprintf(stderr, "endpoint: got %s, want %s (len %zu)\n", got, want, len);
	}
	ASSERT_EQ(bad, 0, "IPv4 endpoints read as inet_ntop's");
}

void test_area_endpoint(void)
{
	RUN_SUBTEST(test_v4_as_inet_ntop);
}

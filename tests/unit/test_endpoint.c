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

/* The per-thread cache of formatted endpoints: a few endpoints over and
 * over, colliding in its slots, v4 and v6, each read as formatted fresh. */
static void test_format_cache(void)
{
	struct sock_endpoint eps[6] = {
		{ .addr = { 10, 0, 0, 1 }, .port = 30001, .family = 2 },
		{ .addr = { 10, 0, 0, 17 }, .port = 30001, .family = 2 },	/* same slot */
		{ .addr = { 10, 0, 0, 1 }, .port = 30017, .family = 2 },	/* same slot */
		{ .addr = { 10, 0, 1, 1 }, .port = 30001, .family = 2 },	/* same slot */
		{ .addr = { [15] = 1 }, .port = 30001, .family = 10 },
		{ .addr = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 1 }, .port = 8000, .family = 10 },
	};
	const char *want[6] = {
		"10.0.0.1:30001", "10.0.0.17:30001", "10.0.0.1:30017", "10.0.1.1:30001",
		"[::1]:30001", "127.0.0.1:8000",
	};
	char got[64];
	int bad = 0;

	for (int round = 0; round < 50; round++) {
		int i = (round * 7 + round / 6) % 6;

		memset(got, 'x', sizeof(got));
		endpoint_format(&eps[i], got, sizeof(got));
		if (strcmp(got, want[i]) && bad++ < 3)
			fprintf(stderr, "endpoint: got %s, want %s\n", got, want[i]);
	}
	ASSERT_EQ(bad, 0, "cached endpoints read as formatted fresh");
	endpoint_format(&eps[0], got, 5);
	ASSERT_STREQ(got, "10.0", "a short buffer bypasses the cache, truncated");
}

void test_area_endpoint(void)
{
	RUN_SUBTEST(test_v4_as_inet_ntop);
	RUN_SUBTEST(test_format_cache);
}

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The first bytes of a connection whose side we did not see set up
 * (accept/connect): a request line or a status line, or HTTP/2. */
#ifndef SERVETRACE_HTTP_SNIFF_H
#define SERVETRACE_HTTP_SNIFF_H

#include <stddef.h>

enum http_sniff {
	SNIFF_UNKNOWN,		/* not a message start: skip, never guess */
	SNIFF_REQUEST,		/* "POST /x HTTP/1.1" ... */
	SNIFF_RESPONSE,		/* "HTTP/1.x 200" ... */
	SNIFF_H2,		/* the HTTP/2 preface (the router's gRPC probe) */
};

enum http_sniff http_sniff(const char *d, size_t n);

#endif

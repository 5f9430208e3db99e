// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdbool.h>
#include <string.h>
#include "conn/http_sniff.h"

static bool starts_with(const char *d, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	return n >= l && !memcmp(d, lit, l);
}

static bool looks_like_request(const char *d, size_t n)
{
	static const char *const methods[] = {
		"GET ", "POST ", "PUT ", "DELETE ", "HEAD ", "OPTIONS ", "PATCH ",
	};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (starts_with(d, n, methods[i]))
			return true;
	return false;
}

enum http_sniff http_sniff(const char *d, size_t n)
{
	if (starts_with(d, n, "PRI * HTTP/2.0"))
		return SNIFF_H2;
	if (looks_like_request(d, n))
		return SNIFF_REQUEST;
	if (starts_with(d, n, "HTTP/1."))
		return SNIFF_RESPONSE;
	return SNIFF_UNKNOWN;
}

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* snprintf(dst, size, "%s", src) without the format machinery: copies
 * happen several times per request, and printf costs more than the rest. */
#ifndef SERVETRACE_STR_H
#define SERVETRACE_STR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Copies src into dst (size bytes), truncated and always terminated. */
static inline void str_copy(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	if (!size)
		return;
	/* a loop, not strnlen: src may be a shorter array than dst */
	while (src && src[n] && n < size - 1) {
		dst[n] = src[n];
		n++;
	}
	dst[n] = 0;
}

/* The decimal digits of v at p, unterminated; returns their end. */
static inline char *str_put_dec(char *p, uint64_t v)
{
	char tmp[20];
	int k = 0;

	do {
		tmp[k++] = '0' + v % 10;
		v /= 10;
	} while (v);
	while (k)
		*p++ = tmp[--k];
	return p;
}

/* A hex digit's value, -1 for anything else (chunk-size lines). */
static inline int str_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

#endif

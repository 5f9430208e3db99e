// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include <string.h>
#include "capture/recording.h"
#include "sock_event.h"

#define MAGIC "STREC1\n"	/* record sources say the versions */
#define MAGIC2 "STREC2\n"	/* the same, with RECORDING_NOTICE after it */
#define RECORD_MAX (1u << 20)

_Static_assert(SOCK_EVENT_V1_SIZE == __builtin_offsetof(struct sock_event, stream_off),
	       "version-1 records must be a prefix of struct sock_event");

int recording_write_header(FILE *f, int64_t clock_offset)
{
	if (fwrite(MAGIC2, 1, strlen(MAGIC2), f) != strlen(MAGIC2) ||
	    fputs(RECORDING_NOTICE, f) == EOF ||
	    fwrite(&clock_offset, sizeof(clock_offset), 1, f) != 1)
		return -1;
	return 0;
}

int recording_write(FILE *f, uint32_t source, const void *data, uint32_t len)
{
	if (fwrite(&source, 4, 1, f) != 1 || fwrite(&len, 4, 1, f) != 1 ||
	    fwrite(data, 1, len, f) != len)
		return -1;
	return 0;
}

int recording_read_header(FILE *f, int64_t *clock_offset)
{
	char magic[sizeof(MAGIC)] = "";
	char notice[256] = "";

	if (fread(magic, 1, strlen(MAGIC), f) != strlen(MAGIC))
		return -1;
	if (!memcmp(magic, MAGIC2, strlen(MAGIC2))) {
		/* any notice line a later writer puts there, up to its newline */
		if (!fgets(notice, sizeof(notice), f) || !strchr(notice, '\n'))
			return -1;
	} else if (memcmp(magic, MAGIC, strlen(MAGIC))) {
		return -1;
	}
	if (fread(clock_offset, sizeof(*clock_offset), 1, f) != 1)
		return -1;
	return 0;
}

long recording_read(FILE *f, uint32_t *source, char **buf, size_t *cap)
{
	uint32_t len;

	if (fread(source, 4, 1, f) != 1)
		return feof(f) ? 0 : -1;
	if (fread(&len, 4, 1, f) != 1)
		return feof(f) ? -2 : -1;
	if (len > RECORD_MAX)
		return -1;
	if (len > *cap) {
		char *b = realloc(*buf, len);

		if (!b)
			return -1;
		*buf = b;
		*cap = len;
	}
	if (fread(*buf, 1, len, f) != len)
		return feof(f) ? -2 : -1;
	return recording_upgrade(source, buf, cap, len);
}

long recording_upgrade(uint32_t *source, char **buf, size_t *cap, long n)
{
	size_t grow = sizeof(struct sock_event) - SOCK_EVENT_V1_SIZE;
	char *b;

	if (*source != REC_SOCK_V1 || n < SOCK_EVENT_V1_SIZE)
		return n;
	if ((size_t)n + grow > *cap) {
		b = realloc(*buf, n + grow);
		if (!b)
			return n;
		*buf = b;
		*cap = n + grow;
	}
	b = *buf;
	memmove(b + sizeof(struct sock_event), b + SOCK_EVENT_V1_SIZE, n - SOCK_EVENT_V1_SIZE);
	memset(b + SOCK_EVENT_V1_SIZE, 0, grow);
	*source = REC_SOCK;
	return n + grow;
}

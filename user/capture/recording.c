// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include <string.h>
#include "capture/recording.h"

#define MAGIC "STREC1\n"
#define RECORD_MAX (1u << 20)

int recording_write_header(FILE *f, int64_t clock_offset)
{
	if (fwrite(MAGIC, 1, strlen(MAGIC), f) != strlen(MAGIC) ||
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

	if (fread(magic, 1, strlen(MAGIC), f) != strlen(MAGIC) ||
	    memcmp(magic, MAGIC, strlen(MAGIC)) ||
	    fread(clock_offset, sizeof(*clock_offset), 1, f) != 1)
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
	return len;
}

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Output files created safely. servetrace runs as root and its outputs
 * (rows, --record payloads) often go to /tmp: a symlink or a FIFO planted
 * at the path must not make root write elsewhere or hang, and what holds
 * prompts must not be readable by everyone. */
#ifndef SERVETRACE_OUTFILE_H
#define SERVETRACE_OUTFILE_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#define OUTFILE_MODE_DEFAULT	0600	/* --output-mode widens it on purpose */
#define OUTFILE_MODE_MAX	0666	/* never executable, never set-id */
#define OUTFILE_BUFFER		(256 * 1024)	/* stdio buffer: the caller flushes */

struct outfile {
	FILE *f;
	const char *path;
	dev_t dev;		/* what was opened: discard removes only this */
	ino_t ino;
};

/* Opens path for writing, truncated, with exactly mode: a regular file or
 * nothing at the path, never through a symlink, never a file with other
 * hard links. Returns 0, or -errno with msg set to a sentence naming the
 * path and the reason. */
int outfile_open(struct outfile *of, const char *path, mode_t mode, char *msg, size_t msglen);
/* A start-up error: closes the file and removes it if the path still
 * names it, so no half-written file is left behind. */
void outfile_discard(struct outfile *of);
/* Closes it; returns 0 or -errno if a write or the close failed. */
int outfile_close(struct outfile *of);
/* Parses --output-mode: octal, it widens 0600 (owner read-write kept),
 * at most OUTFILE_MODE_MAX. -1 if invalid. */
int outfile_parse_mode(const char *s);

#endif

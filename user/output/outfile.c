// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "output/outfile.h"

static const char *kind_of(mode_t m)
{
	if (S_ISLNK(m))
		return "a symbolic link";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	return "not a regular file";
}

/* What may be written: a regular file with no other name. */
static int check_target(const struct stat *st, const char *path, char *msg, size_t msglen)
{
	if (!S_ISREG(st->st_mode)) {
		snprintf(msg, msglen, "refusing to write %s: it is %s; servetrace writes only "
			 "regular files (remove it or choose another path)", path, kind_of(st->st_mode));
		return -EPERM;
	}
	if (st->st_nlink > 1) {
		snprintf(msg, msglen, "refusing to write %s: it has %lu hard links (the same file "
			 "under other names; remove it or choose another path)",
			 path, (unsigned long)st->st_nlink);
		return -EPERM;
	}
	return 0;
}

int outfile_open(struct outfile *of, const char *path, mode_t mode, char *msg, size_t msglen)
{
	struct stat st;
	int fd, err;

	memset(of, 0, sizeof(*of));
	of->path = path;
	/* a clear refusal first; the checks on the open descriptor below are
	 * what holds if the path is swapped in between */
	if (lstat(path, &st) == 0 && (err = check_target(&st, path, msg, msglen)))
		return err;
	/* no O_TRUNC here: truncate only once fstat says it is ours to write;
	 * O_NONBLOCK: a FIFO raced in fails or returns, it never blocks */
	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode);
	if (fd < 0) {
		err = -errno;
		if (errno == ELOOP)
			snprintf(msg, msglen, "refusing to write %s: it is a symbolic link", path);
		else
			snprintf(msg, msglen, "cannot create %s: %s", path, strerror(errno));
		return err;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		snprintf(msg, msglen, "cannot create %s: %s", path, strerror(errno));
		close(fd);
		return err;
	}
	if ((err = check_target(&st, path, msg, msglen)))
		goto fail;
	/* exactly mode: the umask does not widen it, and a file that was
	 * there before is narrowed too */
	if (fchmod(fd, mode) || ftruncate(fd, 0) ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)) {
		err = -errno;
		snprintf(msg, msglen, "cannot create %s: %s", path, strerror(errno));
		goto fail;
	}
	of->dev = st.st_dev;
	of->ino = st.st_ino;
	of->f = fdopen(fd, "w");
	if (!of->f) {
		err = -errno;
		snprintf(msg, msglen, "cannot create %s: %s", path, strerror(errno));
		goto fail;
	}
	/* a write(2) per 4 KiB was a few percent of the collector's CPU; the
	 * session flushes every second, so rows stay as live as before */
	setvbuf(of->f, NULL, _IOFBF, OUTFILE_BUFFER);
	return 0;
fail:
	close(fd);
	return err;
}

void outfile_discard(struct outfile *of)
{
	struct stat st;

	if (!of->f)
		return;
	fclose(of->f);
	of->f = NULL;
	if (lstat(of->path, &st) == 0 && st.st_dev == of->dev && st.st_ino == of->ino)
		unlink(of->path);
}

int outfile_close(struct outfile *of)
{
	int err = 0;

	if (!of->f)
		return 0;
	if (ferror(of->f))
		err = -EIO;
	if (fclose(of->f) && !err)
		err = -errno;
	of->f = NULL;
	return err;
}

int outfile_parse_mode(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 8);
	if (errno || !*s || *end || v < 0 || v > OUTFILE_MODE_MAX || (v & 0111) ||
	    (v & 0600) != 0600)
		return -1;
	return (int)v;
}

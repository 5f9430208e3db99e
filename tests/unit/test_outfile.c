// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* output/outfile: what servetrace (root) creates at an output path, and
 * what it refuses; capture/recording: the header says it holds payloads,
 * and version-1 recordings are still read. Runs in a fresh temp dir. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "capture/recording.h"
#include "output/outfile.h"
#include "test.h"

static char dir[64];

static const char *at(const char *name)
{
	static char p[4][128];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static void mkdir_tmp(void)
{
	snprintf(dir, sizeof(dir), "/tmp/st_outfile_XXXXXX");
	if (!mkdtemp(dir))
		dir[0] = 0;
}

static int file_mode(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : (int)(st.st_mode & 07777);
}

static void test_new_file_0600(void)
{
	struct outfile of;
	char msg[256] = "";
	mode_t old = umask(0);	/* a permissive umask must not widen it */

	ASSERT_EQ(outfile_open(&of, at("rows.csv"), OUTFILE_MODE_DEFAULT, msg, sizeof(msg)), 0, msg);
	umask(old);
	fputs("a,b\n", of.f);
	ASSERT_EQ(outfile_close(&of), 0, "closed");
	ASSERT_EQ(file_mode(at("rows.csv")), 0600, "created 0600");
}

static void test_existing_file_narrowed_and_truncated(void)
{
	const char *p = at("old.csv");
	struct outfile of;
	char msg[256] = "";
	struct stat st;
	int fd = open(p, O_WRONLY | O_CREAT, 0644);

	ASSERT_EQ(write(fd, "old content\n", 12), 12, "seeded");
	fchmod(fd, 0644);
	close(fd);
	ASSERT_EQ(outfile_open(&of, p, 0600, msg, sizeof(msg)), 0, msg);
	outfile_close(&of);
	ASSERT_EQ(stat(p, &st), 0, "still there");
	ASSERT_EQ(st.st_size, 0, "truncated");
	ASSERT_EQ(st.st_mode & 07777, 0600, "narrowed to 0600");
}

static void test_output_mode_widens(void)
{
	struct outfile of;
	char msg[256] = "";

	ASSERT_EQ(outfile_parse_mode("0640"), 0640, "0640 accepted");
	ASSERT_EQ(outfile_parse_mode("644"), 0644, "644 is octal");
	ASSERT_EQ(outfile_parse_mode("0755"), -1, "execute bits refused");
	ASSERT_EQ(outfile_parse_mode("0400"), -1, "narrower than owner read-write refused");
	ASSERT_EQ(outfile_parse_mode("4666"), -1, "set-id refused");
	ASSERT_EQ(outfile_parse_mode("rw"), -1, "not a number");
	ASSERT_EQ(outfile_parse_mode(""), -1, "empty");
	ASSERT_EQ(outfile_open(&of, at("wide.csv"), 0644, msg, sizeof(msg)), 0, msg);
	outfile_close(&of);
	ASSERT_EQ(file_mode(at("wide.csv")), 0644, "--output-mode 0644 honoured");
}

static void expect_refused(const char *path, const char *why)
{
	struct outfile of;
	char msg[256] = "";

	ASSERT_EQ(outfile_open(&of, path, 0600, msg, sizeof(msg)) < 0, 1, why);
	ASSERT_TRUE(of.f == NULL, "no stream");
	ASSERT_TRUE(strstr(msg, path) != NULL, "the message names the path");
	ASSERT_TRUE(strstr(msg, why) != NULL, msg);
}

static void test_symlink_refused(void)
{
	const char *target = at("victim"), *link = at("link.csv");
	int fd = open(target, O_WRONLY | O_CREAT, 0644);

	ASSERT_EQ(write(fd, "keep\n", 5), 5, "seeded");
	close(fd);
	ASSERT_EQ(symlink(target, link), 0, "link made");
	expect_refused(link, "symbolic link");
	ASSERT_EQ(file_mode(target), 0644, "target's mode untouched");
	ASSERT_EQ(open(target, O_RDONLY) >= 0, 1, "target still there");
	/* dangling: root must not create the file the link points to */
	ASSERT_EQ(symlink(at("nowhere"), at("dangling.csv")), 0, "dangling link made");
	expect_refused(at("dangling.csv"), "symbolic link");
	ASSERT_EQ(access(at("nowhere"), F_OK), -1, "nothing created through it");
}

static void test_fifo_dir_hardlink_refused(void)
{
	ASSERT_EQ(mkfifo(at("fifo.csv"), 0600), 0, "fifo made");
	expect_refused(at("fifo.csv"), "a FIFO");	/* and returns: no reader needed */
	ASSERT_EQ(mkdir(at("dir.csv"), 0700), 0, "dir made");
	expect_refused(at("dir.csv"), "a directory");
	close(open(at("orig"), O_WRONLY | O_CREAT, 0600));
	ASSERT_EQ(link(at("orig"), at("hard.csv")), 0, "hard link made");
	expect_refused(at("hard.csv"), "hard links");
}

static void test_discard_removes_what_it_made(void)
{
	const char *p = at("half.csv");
	struct outfile of;
	char msg[256] = "";

	ASSERT_EQ(outfile_open(&of, p, 0600, msg, sizeof(msg)), 0, msg);
	fputs("req_id,success\n", of.f);
	outfile_discard(&of);
	ASSERT_EQ(access(p, F_OK), -1, "no half-written file left");
	/* the path replaced meanwhile by someone else's file: left alone */
	ASSERT_EQ(outfile_open(&of, p, 0600, msg, sizeof(msg)), 0, msg);
	unlink(p);
	close(open(p, O_WRONLY | O_CREAT, 0600));
	outfile_discard(&of);
	ASSERT_EQ(access(p, F_OK), 0, "another file at the path is not removed");
}

static void test_recording_header_says_payloads(void)
{
	const char *p = at("rec.strec");
	char head[256] = "";
	int64_t off = 0;
	uint32_t src = 0;
	char *buf = NULL;
	size_t cap = 0;
	FILE *f = fopen(p, "w+");

	ASSERT_EQ(recording_write_header(f, 12345), 0, "header written");
	ASSERT_EQ(recording_write(f, REC_ROLE, "abcdefgh", 8), 0, "record written");
	rewind(f);
	ASSERT_TRUE(fgets(head, sizeof(head), f) && fgets(head, sizeof(head), f), "two lines");
	ASSERT_TRUE(strstr(head, "CONTAINS CAPTURED PAYLOADS") != NULL, head);
	rewind(f);
	ASSERT_EQ(recording_read_header(f, &off), 0, "read back");
	ASSERT_EQ(off, 12345, "clock offset after the notice");
	ASSERT_EQ(recording_read(f, &src, &buf, &cap), 8, "first record");
	ASSERT_EQ(src, REC_ROLE, "its source");
	fclose(f);
	/* version 1 (no notice), as tests/unit/data/router_sglang.strec */
	f = fopen(p, "w+");
	fwrite("STREC1\n", 1, 7, f);
	off = -7;
	fwrite(&off, 8, 1, f);
	rewind(f);
	off = 0;
	ASSERT_EQ(recording_read_header(f, &off), 0, "version 1 read");
	ASSERT_EQ(off, -7, "version 1 offset");
	fclose(f);
	free(buf);
}

void test_area_outfile(void)
{
	mkdir_tmp();
	if (!ASSERT_TRUE(dir[0], "temp dir"))
		return;
	RUN_SUBTEST(test_new_file_0600);
	RUN_SUBTEST(test_existing_file_narrowed_and_truncated);
	RUN_SUBTEST(test_output_mode_widens);
	RUN_SUBTEST(test_symlink_refused);
	RUN_SUBTEST(test_fifo_dir_hardlink_refused);
	RUN_SUBTEST(test_discard_removes_what_it_made);
	RUN_SUBTEST(test_recording_header_says_payloads);
	{
		char cmd[96];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			fprintf(stderr, "  cannot remove %s\n", dir);
	}
}

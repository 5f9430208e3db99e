/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Raw ring-buffer records saved to a file, to replay through the
 * collector without BPF or root (bug reports, unit tests). Format:
 * "STREC2\n", RECORDING_NOTICE (one text line: whoever opens the file
 * reads that it holds payloads), int64 realtime-minus-monotonic ns, then
 * per record u32 source, u32 length, bytes. Host byte order. Version 1
 * ("STREC1\n", no notice line) is still read. */
#ifndef SERVETRACE_RECORDING_H
#define SERVETRACE_RECORDING_H

#include <stdint.h>
#include <stdio.h>

#define RECORDING_NOTICE "servetrace recording: CONTAINS CAPTURED PAYLOADS " \
	"(prompts, outputs, headers as sent on the wire); keep it private\n"

/* REC_SOCK_V1 records hold the version-1 struct sock_event (96 bytes of
 * header); recording_upgrade() turns them into REC_SOCK. */
enum rec_source {
	REC_SOCK_V1 = 1, REC_ZMQ = 2, REC_ROLE = 3, REC_SGLANG_PROC = 4, REC_SOCK = 5,
};

/* REC_SGLANG_PROC: a process of an SGLang server and its role there. */
struct rec_sglang_proc {
	uint32_t pid;
	uint32_t role;		/* enum sglang_role */
	uint32_t main_pid;
};

/* REC_ROLE records carry the process roles: struct rec_role. */
struct rec_role {
	uint32_t tgid;
	uint32_t role;
};

int recording_write_header(FILE *f, int64_t clock_offset);
int recording_write(FILE *f, uint32_t source, const void *data, uint32_t len);
/* Returns 0 and the offset, or -1 if f is not a recording. */
int recording_read_header(FILE *f, int64_t *clock_offset);
/* Returns the length (buf reallocated as needed), 0 at end, -1 on a bad
 * record, -2 when the file ends inside a record (the writer was killed). */
long recording_read(FILE *f, uint32_t *source, char **buf, size_t *cap);
/* In place: a REC_SOCK_V1 record becomes a REC_SOCK one (the fields it
 * lacks zeroed). Returns the new length, or n unchanged. */
long recording_upgrade(uint32_t *source, char **buf, size_t *cap, long n);

#endif

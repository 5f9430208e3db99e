/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The one /proc walker and its readers. Every function takes the proc
 * root: NULL means "/proc"; tests pass a fake tree in a temp directory.
 * Pure parsers (stat, maps) are exported for the unit tests. */
#ifndef SERVETRACE_PROCFS_H
#define SERVETRACE_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROCFS_PATH_MAX    512
#define PROCFS_CMDLINE_MAX 8192

/* Called per pid directory; a non-zero return stops the walk and is
 * returned by procfs_walk(). */
typedef int (*procfs_visit_fn)(const char *root, uint32_t pid, void *ctx);

const char *procfs_root(const char *root);
/* Every numeric entry of root, in directory order. 0, the visitor's
 * non-zero return, or -errno when root cannot be opened. */
int procfs_walk(const char *root, procfs_visit_fn fn, void *ctx);

/* root/PID/name into buf, NUL-terminated: bytes read or -errno. */
ssize_t procfs_read(const char *root, uint32_t pid, const char *name,
		    char *buf, size_t size);
/* argv as the kernel gives it: NUL-separated (or a setproctitle title). */
ssize_t procfs_cmdline(const char *root, uint32_t pid, char *buf, size_t size);
/* The command line with NULs as spaces; "" if gone. For messages. */
void procfs_cmdline_text(const char *root, uint32_t pid, char *buf, size_t size);
/* comm without its newline; "" if gone. */
void procfs_comm(const char *root, uint32_t pid, char *buf, size_t size);
/* 0 and *ppid, or -errno (gone, unreadable). */
int procfs_ppid(const char *root, uint32_t pid, uint32_t *ppid);
bool procfs_alive(const char *root, uint32_t pid);
/* Gone, or exiting (a zombie, or dead): nothing of it is left to probe,
 * and its /proc/PID/root no longer resolves. */
bool procfs_gone(const char *root, uint32_t pid);

/* ppid from /proc/PID/stat text; 0 or -EINVAL. */
int procfs_stat_ppid(const char *stat, uint32_t *ppid);
/* The state letter (R, S, Z, X ...) from /proc/PID/stat text; 0 or -EINVAL. */
int procfs_stat_state(const char *stat, char *state);

/* Mapped file paths, each once per run of consecutive lines: fn returns
 * non-zero to stop, and that is returned. -errno when maps is unreadable. */
typedef int (*procfs_map_fn)(const char *path, size_t len, bool deleted, void *ctx);
int procfs_maps_each(const char *root, uint32_t pid, procfs_map_fn fn, void *ctx);
/* The first libzmq shared object in /proc/PID/maps text (libzmq.so.N or
 * pyzmq's bundled pyzmq.libs/libzmq-<hash>.so.5.x; not libzmqpp).
 * Returns 0, -ENOENT when none, -ESTALE when the file was deleted
 * (path is still filled, without " (deleted)"), -ENAMETOOLONG. */
int procfs_maps_libzmq(const char *maps, char *path, size_t size);
/* The same read from root/PID/maps (streamed: torch maps thousands). */
int procfs_libzmq(const char *root, uint32_t pid, char *path, size_t size);

/* path as pid sees it, reached from here: root/PID/root/path. */
void procfs_root_path(const char *root, uint32_t pid, const char *path,
		      char *out, size_t size);

/* lib (a path pid maps) as a path that names the same file from here:
 * root/PID/root/lib, so that a process in its own mount namespace (a
 * container) resolves; the plain lib only when that is unreadable and
 * pid shares our mount namespace. 0, -ENOENT, -ENAMETOOLONG. */
int procfs_lib_path(const char *root, uint32_t pid, const char *lib,
		    char *out, size_t size);

/* tgids holding a TCP socket that listens on port: root/net/tcp and
 * tcp6, and those of every other network namespace a process is in
 * (root/PID/net/tcp, once per namespace), then every root/PID/fd.
 * Returns the count. */
int procfs_listeners(const char *root, uint16_t port, uint32_t *out, int max);

#endif

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Finding the processes to trace in /proc: by listening port, or by what
 * the router and SGLang servers look like (titles, command lines). */
#ifndef SERVETRACE_DISCOVER_H
#define SERVETRACE_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DISCOVER_MAX 64

/* tgids with a TCP socket listening on port; returns the count. */
int discover_listeners(uint16_t port, uint32_t *out, int max);
/* Router processes (sglang::router, sglang_router.launch_router, smg). */
int discover_routers(uint32_t *out, int max);
/* SGLang server main processes (the HTTP one, not the scheduler). */
int discover_workers(uint32_t *out, int max);
bool process_alive(uint32_t pid);
/* The command line with NULs as spaces; "" if gone. */
void process_cmdline(uint32_t pid, char *buf, size_t len);
/* Pure classification of a command line + comm, for tests. */
bool looks_like_router(const char *cmdline, const char *comm);
bool looks_like_worker(const char *cmdline, const char *comm);

#endif

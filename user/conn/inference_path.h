/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Which HTTP requests are inference requests (rows); the rest (health
 * checks, metrics, GETs) are counted and ignored. */
#ifndef SERVETRACE_INFERENCE_PATH_H
#define SERVETRACE_INFERENCE_PATH_H

#include <stdbool.h>

/* POST to one of SGLang's (and the router's) generation endpoints; a
 * query string does not count. */
bool inference_path_match(const char *method, const char *path);

#endif

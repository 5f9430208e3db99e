/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The pickle (protocol 2-5) side of ipc_parse(): msgspec rebuild() or
 * NEWOBJ + BUILD of an SGLang io_struct, read for its rids. */
#ifndef SERVETRACE_PICKLE_H
#define SERVETRACE_PICKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "proto/ipc.h"

/* As ipc_parse() for a payload starting with PROTO, into the out
 * ipc_parse() has cleared. */
int pickle_parse(const uint8_t *p, size_t n, bool truncated,
		 struct ipc_msg *out);

#endif

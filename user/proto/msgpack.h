/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The msgpack side of ipc_parse(): msgspec array_like tagged Structs,
 * [ "Class", rid | [rids], ... ], read for their rids. */
#ifndef SERVETRACE_MSGPACK_H
#define SERVETRACE_MSGPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "proto/ipc.h"

/* As ipc_parse() for a payload starting with an array header,
 * into the out ipc_parse() has cleared. */
int msgpack_parse(const uint8_t *p, size_t n, bool truncated,
		  struct ipc_msg *out);

#endif

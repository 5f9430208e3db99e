// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Response bodies and SSE data events: each input line is one JSON
 * document merged into the same response, as the events of a stream are. */
#include <stdlib.h>
#include <string.h>
#include "proto/body_fields.h"

#define FUZZ_CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	struct response_fields rf;

	response_fields_init(&rf);
	while (p < end) {
		nl = memchr(p, '\n', end - p);
		if (!nl)
			nl = end;
		response_fields_merge(&rf, p, nl - p);
		p = nl + 1;
	}
	FUZZ_CHECK(memchr(rf.sglang_id, 0, sizeof(rf.sglang_id)));
	FUZZ_CHECK(memchr(rf.error, 0, sizeof(rf.error)));
	return 0;
}

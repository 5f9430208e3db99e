// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Request bodies (/generate, /v1/completions, chat) as captured: the
 * whole input is the body, read with its length only (no NUL after it). */
#include <stdlib.h>
#include <string.h>
#include "proto/body_fields.h"

#define FUZZ_CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request_fields rf;

	request_fields_parse((const char *)data, size, true, &rf);
	FUZZ_CHECK(memchr(rf.rid, 0, sizeof(rf.rid)));
	FUZZ_CHECK(!rf.prompt || strlen(rf.prompt) < PROMPT_KEEP_MAX);
	FUZZ_CHECK(rf.parsed || (rf.input_words == -1 && rf.max_tokens == -1));
	free(rf.prompt);
	return 0;
}

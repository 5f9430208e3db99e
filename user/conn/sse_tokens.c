// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Tokens are counted where rows take them (the front side). An event may
 * carry several (SGLang merges outputs under load): its growth of
 * meta_info.completion_tokens says how many; OpenAI chunks count one
 * each (their usage, if any, comes in a last chunk of its own). Without
 * parsing, every event counts one. */
#include "conn/sse_tokens.h"

void sse_tokens_count(struct exchange *ex, const struct sse_event *ev, bool parse_json)
{
	int got = MERGE_TOKEN;

	if (parse_json) {
		long long before = ex->resp.completion_tokens;

		got = response_fields_merge(&ex->resp, ev->data, ev->data_len);
		if (got & MERGE_NATIVE && ex->resp.completion_tokens > 0) {
			ex->sse_native = true;
			/* the same count again (smg's last event): no token */
			if (ex->resp.completion_tokens > before)
				ex->sse_tokens += ex->resp.completion_tokens - (before > 0 ? before : 0);
			return;
		}
	}
	if (got & MERGE_TOKEN)
		ex->sse_tokens++;
}

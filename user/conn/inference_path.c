// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <string.h>
#include "conn/inference_path.h"

bool inference_path_match(const char *method, const char *path)
{
	static const char *const paths[] = {
		"/generate", "/v1/completions", "/v1/chat/completions",
		"/v1/responses", "/v1/embeddings", "/encode", "/v1/rerank",
		"/classify", "/v1/classify",
	};
	size_t plen = strcspn(path, "?");

	if (strcmp(method, "POST"))
		return false;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (strlen(paths[i]) == plen && !strncmp(path, paths[i], plen))
			return true;
	return false;
}

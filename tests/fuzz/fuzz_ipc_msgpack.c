// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* SGLang IPC payloads in msgspec msgpack (SGLANG_USE_PICKLE_IPC=0). */
#include "fuzz_ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* ipc_parse routes on an array header */
	if (size < 1 || !((data[0] & 0xf0) == 0x90 || data[0] == 0xdc ||
			  data[0] == 0xdd))
		return -1;
	fuzz_ipc_run(data, size);
	return 0;
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* SGLang IPC payloads in pickle (protocol 5), as libzmq carries them. */
#include "fuzz_ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || data[0] != 0x80)	/* ipc_parse routes on PROTO */
		return -1;
	fuzz_ipc_run(data, size);
	return 0;
}

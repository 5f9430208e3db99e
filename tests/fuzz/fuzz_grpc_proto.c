// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* smg's protobuf messages alone: byte 0 bit 0 picks GenerateRequest or
 * GenerateResponse, the rest is the message (possibly cut short). */
#include "proto/grpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct grpc_generate_req req;
	static struct grpc_generate_resp resp;

	if (size < 1)
		return -1;
	if (data[0] & 1)
		grpc_decode_generate_resp(data + 1, size - 1, &resp);
	else
		grpc_decode_generate_req(data + 1, size - 1, &req);
	return 0;
}

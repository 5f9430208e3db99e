// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* SGLang IPC messages: which encoding a payload is in (pickle.c and
 * msgpack.c decode them), and what both decoders share: the class names
 * we know, the rid list, the array typecodes. */
#include <errno.h>
#include <string.h>
#include "proto/ipc.h"
#include "proto/msgpack.h"
#include "proto/pickle.h"

static const struct {
	const char *name;
	enum ipc_kind kind;
} class_kinds[] = {
	{ "TokenizedGenerateReqInput", IPC_KIND_TOKENIZED_GENERATE },
	{ "TokenizedEmbeddingReqInput", IPC_KIND_TOKENIZED_EMBEDDING },
	{ "BatchTokenizedGenerateReqInput", IPC_KIND_BATCH_TOKENIZED_GENERATE },
	{ "BatchTokenizedEmbeddingReqInput", IPC_KIND_BATCH_TOKENIZED_EMBEDDING },
	{ "BatchTokenIDOutput", IPC_KIND_BATCH_TOKEN_ID_OUTPUT },
	{ "BatchStrOutput", IPC_KIND_BATCH_STR_OUTPUT },
	{ "BatchEmbeddingOutput", IPC_KIND_BATCH_EMBEDDING_OUTPUT },
	{ "AbortReq", IPC_KIND_ABORT },
};

static const char *const kind_names[IPC_KIND_MAX] = {
	[IPC_KIND_UNKNOWN] = "unknown",
	[IPC_KIND_OTHER] = "other",
	[IPC_KIND_TOKENIZED_GENERATE] = "tokenized_generate",
	[IPC_KIND_TOKENIZED_EMBEDDING] = "tokenized_embedding",
	[IPC_KIND_BATCH_TOKENIZED_GENERATE] = "batch_tokenized_generate",
	[IPC_KIND_BATCH_TOKENIZED_EMBEDDING] = "batch_tokenized_embedding",
	[IPC_KIND_BATCH_TOKEN_ID_OUTPUT] = "batch_token_id_output",
	[IPC_KIND_BATCH_STR_OUTPUT] = "batch_str_output",
	[IPC_KIND_BATCH_EMBEDDING_OUTPUT] = "batch_embedding_output",
	[IPC_KIND_ABORT] = "abort",
};

enum ipc_kind ipc_kind_from_class(const char *name, size_t len)
{
	size_t i;

	if (!name || !len)
		return IPC_KIND_UNKNOWN;
	for (i = 0; i < sizeof(class_kinds) / sizeof(class_kinds[0]); i++) {
		if (strlen(class_kinds[i].name) == len &&
		    !memcmp(class_kinds[i].name, name, len))
			return class_kinds[i].kind;
	}
	return IPC_KIND_OTHER;
}

bool ipc_rid_is_health_check(const char *rid, size_t len)
{
	static const char prefix[] = "HEALTH_CHECK";

	return rid && len >= sizeof(prefix) - 1 &&
	       !memcmp(rid, prefix, sizeof(prefix) - 1);
}

const char *ipc_kind_name(enum ipc_kind kind)
{
	if ((unsigned int)kind >= IPC_KIND_MAX)
		return "invalid";
	return kind_names[kind];
}

int ipc_rid_copy(const struct ipc_msg *msg, const void *p, uint32_t i,
		 char *buf, size_t size)
{
	uint32_t len;

	if (!msg || !p || !buf || !size || i >= msg->nrids)
		return -1;
	len = msg->rids[i].len;
	if (len > size - 1)
		len = size - 1;
	memcpy(buf, (const char *)p + msg->rids[i].off, len);
	buf[len] = '\0';
	return len;
}

void ipc_msg_set_class(struct ipc_msg *out, const uint8_t *p, uint32_t off,
		       uint32_t len)
{
	if (len > IPC_CLASS_LEN - 1)
		len = IPC_CLASS_LEN - 1;
	memcpy(out->class_name, p + off, len);
	out->class_name[len] = '\0';
	out->kind = ipc_kind_from_class(out->class_name, len);
}

void ipc_msg_add_rid(struct ipc_msg *out, uint32_t off, uint32_t len)
{
	out->rids_total++;
	if (out->nrids >= IPC_MAX_RIDS) {
		out->flags |= IPC_F_RIDS_CAPPED;
		return;
	}
	out->rids[out->nrids].off = off;
	out->rids[out->nrids].len = len;
	out->nrids++;
}

unsigned int ipc_array_itemsize(uint8_t typecode)
{
	static const char codes[] = "bBuhHiIlLqQfd";
	static const uint8_t sizes[] = { 1, 1, 4, 2, 2, 4, 4, 8, 8, 8, 8, 4, 8 };
	const char *c = typecode ? strchr(codes, typecode) : NULL;

	return c ? sizes[c - codes] : 0;
}

int ipc_parse(const void *p, size_t n, bool truncated, struct ipc_msg *out)
{
	const uint8_t *b = p;

	if (!out)
		return -EINVAL;
	/* rids[] beyond nrids is never read: leave it. */
	memset(out, 0, offsetof(struct ipc_msg, rids));
	memset(out->finished, -1, sizeof(out->finished));
	out->stream = -1;
	out->prompt_tokens = -1;
	if (!p || !n) {
		out->flags = IPC_F_BAD;
		return -EINVAL;
	}
	if (n > UINT32_MAX)
		n = UINT32_MAX;	/* slices are 32-bit */
	/* Pickle protocol 2+ starts with PROTO; msgspec structs are arrays. */
	if (b[0] == 0x80)
		return pickle_parse(b, n, truncated, out);
	if ((b[0] & 0xf0) == 0x90 || b[0] == 0xdc || b[0] == 0xdd)
		return msgpack_parse(b, n, truncated, out);
	out->flags = IPC_F_BAD;
	return -EINVAL;
}


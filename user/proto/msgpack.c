// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Request ids in msgspec msgpack IPC payloads (SGLANG_USE_PICKLE_IPC=0):
 * array_like tagged Structs, base fields first, so the rids sit at a
 * fixed position and a walker that skips values finds them. Everything
 * is read through a bounds-checked cursor; a payload cut by the capture
 * size still yields the rids that were complete. */
#include <errno.h>
#include <string.h>
#include "proto/msgpack.h"

struct mp {
	const uint8_t *p;
	size_t n;
	size_t pos;
};

enum mp_type { MP_EOF = -1, MP_BAD = -2, MP_NIL = 0, MP_STR, MP_ARRAY,
	       MP_MAP, MP_SCALAR };

static uint64_t rd_be(const uint8_t *q, int bytes)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < bytes; i++)
		v = (v << 8) | q[i];
	return v;
}

/* Reads one header. STR: *len bytes follow (not consumed); ARRAY/MAP:
 * *len elements/pairs follow; SCALAR/NIL: fully consumed. */
static int mp_head(struct mp *mp, uint64_t *len)
{
	uint8_t b;
	int lb = 0, skip = 0, type;

	if (mp->pos >= mp->n)
		return MP_EOF;
	b = mp->p[mp->pos++];
	*len = 0;
	if (b <= 0x7f || b >= 0xe0)
		return MP_SCALAR;
	if (b <= 0x8f) {
		*len = b & 0x0f;
		return MP_MAP;
	}
	if (b <= 0x9f) {
		*len = b & 0x0f;
		return MP_ARRAY;
	}
	if (b <= 0xbf) {
		*len = b & 0x1f;
		return MP_STR;
	}
	switch (b) {
	case 0xc0:
		return MP_NIL;
	case 0xc2: case 0xc3:
		return MP_SCALAR;
	case 0xc4: lb = 1; type = MP_SCALAR; break;	/* bin 8/16/32 */
	case 0xc5: lb = 2; type = MP_SCALAR; break;
	case 0xc6: lb = 4; type = MP_SCALAR; break;
	case 0xc7: lb = 1; skip = 1; type = MP_SCALAR; break;	/* ext */
	case 0xc8: lb = 2; skip = 1; type = MP_SCALAR; break;
	case 0xc9: lb = 4; skip = 1; type = MP_SCALAR; break;
	case 0xca: skip = 4; type = MP_SCALAR; break;
	case 0xcb: skip = 8; type = MP_SCALAR; break;
	case 0xcc: case 0xd0: skip = 1; type = MP_SCALAR; break;
	case 0xcd: case 0xd1: skip = 2; type = MP_SCALAR; break;
	case 0xce: case 0xd2: skip = 4; type = MP_SCALAR; break;
	case 0xcf: case 0xd3: skip = 8; type = MP_SCALAR; break;
	case 0xd4: skip = 2; type = MP_SCALAR; break;	/* fixext */
	case 0xd5: skip = 3; type = MP_SCALAR; break;
	case 0xd6: skip = 5; type = MP_SCALAR; break;
	case 0xd7: skip = 9; type = MP_SCALAR; break;
	case 0xd8: skip = 17; type = MP_SCALAR; break;
	case 0xd9: lb = 1; type = MP_STR; break;
	case 0xda: lb = 2; type = MP_STR; break;
	case 0xdb: lb = 4; type = MP_STR; break;
	case 0xdc: lb = 2; type = MP_ARRAY; break;
	case 0xdd: lb = 4; type = MP_ARRAY; break;
	case 0xde: lb = 2; type = MP_MAP; break;
	case 0xdf: lb = 4; type = MP_MAP; break;
	default:
		return MP_BAD;	/* 0xc1: never used */
	}
	if (mp->n - mp->pos < (size_t)lb)
		return MP_EOF;
	*len = rd_be(mp->p + mp->pos, lb);
	mp->pos += lb;
	if (type == MP_SCALAR) {
		/* bin/ext payload (+ ext type byte) or fixed-size body */
		uint64_t body = (lb ? *len : 0) + skip;

		if (mp->n - mp->pos < body)
			return MP_EOF;
		mp->pos += body;
	}
	return type;
}

/* Skips one value; each header consumes a byte, so this is linear. */
static int mp_skip(struct mp *mp)
{
	uint64_t pending = 1, len;
	int t;

	while (pending) {
		pending--;
		t = mp_head(mp, &len);
		if (t < 0)
			return t;
		if (t == MP_STR) {
			if (mp->n - mp->pos < len)
				return MP_EOF;
			mp->pos += len;
		} else if (t == MP_ARRAY) {
			pending += len;
		} else if (t == MP_MAP) {
			pending += 2 * len;
		}
		if (pending > mp->n - mp->pos)
			return MP_EOF;	/* more values than bytes left */
	}
	return 0;
}

/* A string value: its slice, or a negative status. */
static int mp_str(struct mp *mp, int t, uint64_t len, struct ipc_str *s)
{
	if (t != MP_STR)
		return MP_BAD;
	if (mp->n - mp->pos < len)
		return MP_EOF;
	s->off = mp->pos;
	s->len = len;
	mp->pos += len;
	return 0;
}

/* A rid field: str, nil, or for batches an array of str/nil. */
static int mp_rids(struct mp *mp, struct ipc_msg *out)
{
	struct ipc_str s;
	uint64_t len, i, slen;
	int t, ret;

	t = mp_head(mp, &len);
	if (t < 0)
		return t;
	if (t == MP_NIL) {
		out->flags |= IPC_F_RID_NONE;
		return 0;
	}
	if (t == MP_STR) {
		ret = mp_str(mp, t, len, &s);
		if (ret)
			return ret;
		ipc_msg_add_rid(out, s.off, s.len);
		return 0;
	}
	if (t != MP_ARRAY)
		return MP_BAD;
	for (i = 0; i < len; i++) {
		t = mp_head(mp, &slen);
		if (t < 0)
			return t;
		if (t == MP_NIL) {
			out->flags |= IPC_F_RID_NONE;
			continue;
		}
		ret = mp_str(mp, t, slen, &s);
		if (ret)
			return ret;
		ipc_msg_add_rid(out, s.off, s.len);
	}
	return 0;
}

/* BatchTokenized*ReqInput.batch: [[tag, rid, ...], ...] */
static int mp_batch(struct mp *mp, struct ipc_msg *out)
{
	uint64_t len, n, i, j;
	int t, ret;

	t = mp_head(mp, &len);
	if (t < 0)
		return t;
	if (t != MP_ARRAY)
		return t == MP_NIL ? 0 : MP_BAD;
	for (i = 0; i < len; i++) {
		t = mp_head(mp, &n);
		if (t < 0)
			return t;
		if (t != MP_ARRAY || n < 2)
			return MP_BAD;
		ret = mp_skip(mp);		/* tag */
		if (!ret)
			ret = mp_rids(mp, out);
		for (j = 2; !ret && j < n; j++)
			ret = mp_skip(mp);
		if (ret)
			return ret;
	}
	return 0;
}

/* Batch*Output.finished_reasons: [None | {...}, ...] */
static int mp_finished(struct mp *mp, struct ipc_msg *out)
{
	uint64_t len, i;
	size_t at;
	int t, ret;

	t = mp_head(mp, &len);
	if (t < 0)
		return t;
	if (t != MP_ARRAY)
		return t == MP_NIL ? 0 : MP_BAD;
	for (i = 0; i < len; i++) {
		at = mp->pos;
		if (at >= mp->n)
			return MP_EOF;
		if (i < IPC_MAX_RIDS)
			out->finished[i] = mp->p[at] != 0xc0;
		ret = mp_skip(mp);
		if (ret)
			return ret;
	}
	return 0;
}

/* TokenizedGenerateReqInput.input_ids, the field after input_text: the
 * enc_hook turns array('i'|'q', ...) into [typecode, bin]. */
static int mp_input_ids(struct mp *mp, struct ipc_msg *out)
{
	struct ipc_str tc;
	uint64_t len, blen;
	unsigned int size;
	size_t at;
	int t, ret;

	t = mp_head(mp, &len);
	if (t < 0 || t == MP_NIL)
		return t < 0 ? t : 0;
	if (t != MP_ARRAY || len != 2) {
		/* A plain list of ints (older senders): its length. */
		if (t == MP_ARRAY)
			out->prompt_tokens = len;
		return 0;
	}
	t = mp_head(mp, &len);
	if (t < 0)
		return t;
	ret = mp_str(mp, t, len, &tc);
	if (ret)
		return ret == MP_EOF ? ret : 0;
	at = mp->pos;
	if (at >= mp->n)
		return MP_EOF;
	/* bin 8/16/32 header; the bytes themselves may be cut off. */
	if (mp->p[at] < 0xc4 || mp->p[at] > 0xc6 || tc.len != 1)
		return 0;
	t = 1 << (mp->p[at] - 0xc4);
	if (mp->n - at - 1 < (size_t)t)
		return MP_EOF;
	blen = rd_be(mp->p + at + 1, t);
	size = ipc_array_itemsize(mp->p[tc.off]);
	if (size)
		out->prompt_tokens = blen / size;
	return 0;
}

int msgpack_parse(const uint8_t *p, size_t n, bool truncated,
		  struct ipc_msg *out)
{
	struct mp mp = { .p = p, .n = n };
	struct ipc_str tag;
	uint64_t count, len;
	int t, ret;

	out->format = IPC_FMT_MSGPACK;
	t = mp_head(&mp, &count);
	if (t != MP_ARRAY || count < 1)
		goto bad;
	t = mp_head(&mp, &len);
	ret = t < 0 ? t : mp_str(&mp, t, len, &tag);
	if (ret == MP_EOF)
		goto eof;
	if (ret)
		goto bad;	/* not a tagged struct */
	ipc_msg_set_class(out, p, tag.off, tag.len);
	if (count < 2)
		return 0;
	/* Base fields: rid|rids, then http_worker_ipc(s). A batch input
	 * leaves rids None: its items carry them. */
	if (out->kind == IPC_KIND_BATCH_TOKENIZED_GENERATE ||
	    out->kind == IPC_KIND_BATCH_TOKENIZED_EMBEDDING)
		ret = mp_skip(&mp);
	else
		ret = mp_rids(&mp, out);
	if (!ret && count >= 3)
		ret = mp_skip(&mp);
	if (!ret && count >= 4) {
		switch (out->kind) {
		case IPC_KIND_BATCH_TOKENIZED_GENERATE:
		case IPC_KIND_BATCH_TOKENIZED_EMBEDDING:
			ret = mp_batch(&mp, out);
			break;
		case IPC_KIND_BATCH_TOKEN_ID_OUTPUT:
		case IPC_KIND_BATCH_STR_OUTPUT:
		case IPC_KIND_BATCH_EMBEDDING_OUTPUT:
			ret = mp_finished(&mp, out);
			break;
		case IPC_KIND_TOKENIZED_GENERATE:
		case IPC_KIND_TOKENIZED_EMBEDDING:
			ret = mp_skip(&mp);	/* input_text */
			if (!ret && count >= 5)
				ret = mp_input_ids(&mp, out);
			break;
		default:
			break;
		}
	}
	if (ret == MP_EOF)
		goto eof;
	if (ret)
		out->flags |= IPC_F_BAD | IPC_F_INCOMPLETE;
	return 0;
bad:
	out->flags |= IPC_F_BAD;
	out->format = IPC_FMT_UNKNOWN;
	return -EINVAL;
eof:
	out->flags |= IPC_F_INCOMPLETE;
	if (!truncated)
		out->flags |= IPC_F_BAD;
	return 0;
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Request ids in pickled SGLang IPC payloads: a bounded pickle stack
 * machine that builds no Python objects, only what it needs to see where
 * a key "rid"/"rids" of the top-level object's state dict (or of a batch
 * item's) points. Everything is read through a bounds-checked cursor; a
 * payload cut by the capture size still yields the rids that were
 * complete. */
#include <errno.h>
#include <string.h>
#include "proto/pickle.h"

#define PK_STACK_MAX	64
#define PK_MEMO_MAX	1024	/* later memo slots read back as "unknown" */

enum pv_kind {
	PV_UNSET = 0,
	PV_MARK,
	PV_NONE,
	PV_BOOL,
	PV_INT,
	PV_FLOAT,
	PV_STR,
	PV_BYTES,
	PV_GLOBAL,
	PV_LIST,
	PV_DICT,
	PV_TUPLE,
	PV_SET,
	PV_OBJ,
	PV_OTHER,
};

enum pv_role {
	R_NONE = 0,
	R_STATE,	/* dict: __setstate__/rebuild state of a class */
	R_NEWOBJ,	/* obj: fresh from NEWOBJ, its state may follow */
	R_RIDS,		/* list: the top object's "rids" */
	R_FINISHED,	/* list: the top object's "finished_reasons" */
	R_BATCH,	/* list: the top object's "batch" of requests */
	R_INPUT_IDS,	/* list: the top object's "input_ids" */
};

enum pv_owner { OWN_NONE = 0, OWN_TOP, OWN_ITEM };

/* One value on the pickle stack. Strings are slices of the payload. */
struct pv {
	uint8_t kind;
	uint8_t role;
	uint8_t owner;		/* R_STATE dicts: whose rid counts */
	uint8_t took_rid;	/* R_STATE dicts: "rid" already taken */
	uint32_t off, len;	/* STR/BYTES (declared len), GLOBAL/OBJ name */
	uint32_t moff, mlen;	/* GLOBAL/OBJ module */
	int64_t num;		/* INT/BOOL value, LIST length, array length */
};

enum pk_status { PK_OK = 0, PK_STOP, PK_EOF, PK_BAD, PK_LIMIT };

struct pk {
	const uint8_t *p;
	size_t n;
	size_t pos;
	int sp;
	bool have_top;
	uint32_t memo_next;
	uint32_t memo_hi;	/* memo[0, memo_hi) is initialized */
	struct ipc_msg *out;
	struct pv stack[PK_STACK_MAX];
	struct pv memo[PK_MEMO_MAX];
};

static bool pk_has(const struct pk *pk, size_t k)
{
	return pk->n - pk->pos >= k;
}

static uint64_t rd_le(const uint8_t *q, int bytes)
{
	uint64_t v = 0;
	int i;

	for (i = bytes - 1; i >= 0; i--)
		v = (v << 8) | q[i];
	return v;
}

static bool str_is(const struct pk *pk, const struct pv *v, const char *s)
{
	size_t len = strlen(s);

	return v->kind == PV_STR && v->len == len &&
	       !memcmp(pk->p + v->off, s, len);
}

/* Index of the topmost MARK at or below index from, or -1. */
static int mark_below(const struct pk *pk, int from)
{
	int i;

	for (i = from; i >= 0; i--)
		if (pk->stack[i].kind == PV_MARK)
			return i;
	return -1;
}

static bool is_state(const struct pv *v, uint8_t owner)
{
	return v->kind == PV_DICT && v->role == R_STATE && v->owner == owner;
}

/* A list about to be pushed: is it the value of a key we follow in the
 * top object's state dict? Either in a MARK ... SETITEMS region (values
 * sit at even positions after the mark) or a single key ... SETITEM. */
static uint8_t list_role(const struct pk *pk)
{
	int sp = pk->sp, m = mark_below(pk, sp - 1);
	const struct pv *key;

	if (sp < 2)
		return R_NONE;
	key = &pk->stack[sp - 1];
	if (key->kind != PV_STR)
		return R_NONE;
	if (m >= 1 && is_state(&pk->stack[m - 1], OWN_TOP) &&
	    (sp - m) % 2 == 0)
		goto found;
	if (is_state(&pk->stack[sp - 2], OWN_TOP) && m < sp - 2)
		goto found;
	return R_NONE;
found:
	if (str_is(pk, key, "rids"))
		return R_RIDS;
	if (str_is(pk, key, "finished_reasons"))
		return R_FINISHED;
	if (str_is(pk, key, "batch"))
		return R_BATCH;
	if (str_is(pk, key, "input_ids"))
		return R_INPUT_IDS;
	return R_NONE;
}

static bool is_batch_list(const struct pv *v)
{
	return v->kind == PV_LIST && v->role == R_BATCH;
}

/* A dict about to be pushed right after a class (msgspec rebuild's cls
 * argument, or a fresh NEWOBJ) is that object's state. It counts when
 * the object is the whole message (nothing below it) or an item of the
 * top object's "batch" list. */
static void dict_state(struct pk *pk, struct pv *d)
{
	int sp = pk->sp, c = sp - 1, start, below, i;
	const struct pv *cls;

	if (sp < 1)
		return;
	cls = &pk->stack[c];
	if (cls->kind == PV_GLOBAL)
		start = (c >= 1 && pk->stack[c - 1].kind == PV_GLOBAL) ? c - 1 : c;
	else if (cls->kind == PV_OBJ && cls->role == R_NEWOBJ)
		start = c;
	else
		return;
	d->role = R_STATE;
	if (start == 0 && !pk->have_top) {
		pk->have_top = true;
		d->owner = OWN_TOP;
		ipc_msg_set_class(pk->out, pk->p, cls->off, cls->len);
		return;
	}
	below = start - 1;
	for (i = below; i >= 0 && pk->stack[i].kind == PV_OBJ; i--)
		;
	if ((i >= 1 && pk->stack[i].kind == PV_MARK &&
	     is_batch_list(&pk->stack[i - 1])) ||
	    (below >= 0 && is_batch_list(&pk->stack[below])))
		d->owner = OWN_ITEM;
}

static void process_pair(struct pk *pk, struct pv *d,
			 const struct pv *key, const struct pv *val);
static void process_item(struct pk *pk, struct pv *list, const struct pv *item);

/* Long lists (a batch's rids) and big dicts pile their items up between
 * a MARK and APPENDS/SETITEMS. When the stack is full, hand the oldest
 * items of an open region to their list or dict now. The last few
 * before the region's end stay: a construct without a MARK of its own
 * (TUPLE1-3, NEWOBJ, a one-item SETITEM dict) spans at most that many. */
#define PK_FLUSH_KEEP	4

static bool pk_flush_region(struct pk *pk)
{
	int m, end = pk->sp, k, i;
	struct pv *target;

	for (m = pk->sp - 1; m >= 1; m--) {
		if (pk->stack[m].kind != PV_MARK)
			continue;
		target = &pk->stack[m - 1];
		k = end - (m + 1) - PK_FLUSH_KEEP;	/* items to hand over */
		if (target->kind == PV_DICT)
			k &= ~1;
		if ((target->kind == PV_DICT || target->kind == PV_LIST) &&
		    k > 0)
			break;
		end = m;
	}
	if (m < 1)
		return false;
	for (i = m + 1; i < m + 1 + k; i++) {
		if (target->kind == PV_DICT) {
			process_pair(pk, target, &pk->stack[i], &pk->stack[i + 1]);
			i++;
		} else {
			process_item(pk, target, &pk->stack[i]);
		}
	}
	memmove(&pk->stack[m + 1], &pk->stack[m + 1 + k],
		(pk->sp - (m + 1 + k)) * sizeof(pk->stack[0]));
	pk->sp -= k;
	return true;
}

static int pk_push(struct pk *pk, struct pv v)
{
	if (pk->sp >= PK_STACK_MAX && !pk_flush_region(pk))
		return PK_LIMIT;
	if (v.kind == PV_LIST && v.role == R_NONE)
		v.role = list_role(pk);
	pk->stack[pk->sp++] = v;
	return PK_OK;
}

static int pk_push_kind(struct pk *pk, uint8_t kind)
{
	struct pv v = { .kind = kind, .num = -1 };

	if (kind == PV_LIST)
		v.num = 0;
	return pk_push(pk, v);
}

static void process_pair(struct pk *pk, struct pv *d,
			 const struct pv *key, const struct pv *val)
{
	struct ipc_msg *out = pk->out;

	if (d->kind != PV_DICT || d->role != R_STATE || d->owner == OWN_NONE)
		return;
	if (str_is(pk, key, "rid")) {
		/* One rid per object: a later "rid" can only be a nested
		 * dict's key misread at the capture's end. */
		if (d->took_rid)
			return;
		d->took_rid = 1;
		if (val->kind == PV_STR)
			ipc_msg_add_rid(out, val->off, val->len);
		else if (val->kind == PV_NONE)
			out->flags |= IPC_F_RID_NONE;
		return;
	}
	if (d->owner != OWN_TOP)
		return;
	if (str_is(pk, key, "stream") && val->kind == PV_BOOL)
		out->stream = (int)val->num;
	else if (str_is(pk, key, "input_ids") && val->num >= 0 &&
		 (val->kind == PV_OBJ || val->kind == PV_GLOBAL ||
		  val->kind == PV_LIST))
		out->prompt_tokens = val->num;
}

static void process_item(struct pk *pk, struct pv *list, const struct pv *item)
{
	struct ipc_msg *out = pk->out;
	int64_t idx;

	if (list->kind != PV_LIST)
		return;
	idx = list->num++;
	switch (list->role) {
	case R_RIDS:
		if (item->kind == PV_STR)
			ipc_msg_add_rid(out, item->off, item->len);
		else if (item->kind == PV_NONE)
			out->flags |= IPC_F_RID_NONE;
		break;
	case R_FINISHED:
		if (idx < IPC_MAX_RIDS)
			out->finished[idx] = item->kind != PV_NONE;
		break;
	default:
		break;
	}
}

/* array._array_reconstructor(array.array, typecode, mformat, bytes):
 * the element count is known from the bytes' declared length even when
 * the capture ends inside them. Record it on the callable. */
static void note_array(struct pk *pk, const struct pv *bytes)
{
	int t = pk->sp - 1;
	const struct pv *tc;
	unsigned int size;

	if (t < 4)
		return;
	tc = &pk->stack[t - 1];
	if (pk->stack[t].kind != PV_INT || tc->kind != PV_STR || tc->len != 1 ||
	    pk->stack[t - 2].kind != PV_GLOBAL ||
	    pk->stack[t - 3].kind != PV_MARK ||
	    pk->stack[t - 4].kind != PV_GLOBAL)
		return;
	size = ipc_array_itemsize(pk->p[tc->off]);
	if (!size)
		return;
	pk->stack[t - 4].num = bytes->len / size;
}

/* Reads a '\n'-terminated text argument (protocol 0 opcodes). */
static int pk_line(struct pk *pk, uint32_t *off, uint32_t *len)
{
	const uint8_t *nl;

	nl = memchr(pk->p + pk->pos, '\n', pk->n - pk->pos);
	if (!nl)
		return PK_EOF;
	*off = pk->pos;
	*len = nl - (pk->p + pk->pos);
	pk->pos += *len + 1;
	return PK_OK;
}

static int pk_line_int(struct pk *pk, int64_t *v)
{
	uint32_t off, len, i;
	int64_t x = 0;
	int ret = pk_line(pk, &off, &len);

	if (ret)
		return ret;
	for (i = 0; i < len && i < 18; i++) {
		uint8_t ch = pk->p[off + i];

		if (ch >= '0' && ch <= '9')
			x = x * 10 + (ch - '0');
	}
	*v = x;
	return PK_OK;
}

static int pk_memo_put(struct pk *pk, uint64_t idx)
{
	if (pk->sp < 1)
		return PK_BAD;
	if (idx >= PK_MEMO_MAX)
		return PK_OK;
	/* Indices come in order; zero only what a jump skips. */
	if (idx >= pk->memo_hi) {
		memset(&pk->memo[pk->memo_hi], 0,
		       (idx - pk->memo_hi) * sizeof(pk->memo[0]));
		pk->memo_hi = idx + 1;
	}
	pk->memo[idx] = pk->stack[pk->sp - 1];
	return PK_OK;
}

static int pk_memo_get(struct pk *pk, uint64_t idx)
{
	struct pv v = { .kind = PV_OTHER, .num = -1 };

	if (idx < pk->memo_hi && pk->memo[idx].kind != PV_UNSET)
		v = pk->memo[idx];
	else
		pk->out->flags |= IPC_F_LIMIT;
	return pk_push(pk, v);
}

/* Length-prefixed string or bytes: push it, or the declared length and
 * PK_EOF when the capture ends inside it. */
static int pk_sized(struct pk *pk, int lenbytes, uint8_t kind)
{
	struct pv v = { .kind = kind, .num = -1 };
	uint64_t len;

	if (!pk_has(pk, lenbytes))
		return PK_EOF;
	len = rd_le(pk->p + pk->pos, lenbytes);
	pk->pos += lenbytes;
	v.off = pk->pos;
	v.len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
	if (!pk_has(pk, len)) {
		/* Only bytes are useful cut short: array lengths. */
		if (kind == PV_BYTES)
			note_array(pk, &v);
		return PK_EOF;
	}
	pk->pos += len;
	if (kind == PV_BYTES)
		note_array(pk, &v);
	return pk_push(pk, v);
}

static int pk_int(struct pk *pk, int bytes, bool is_signed)
{
	struct pv v = { .kind = PV_INT };
	uint64_t x;

	if (!pk_has(pk, bytes))
		return PK_EOF;
	x = rd_le(pk->p + pk->pos, bytes);
	pk->pos += bytes;
	if (is_signed && bytes == 4)
		v.num = (int32_t)x;
	else
		v.num = (int64_t)x;
	return pk_push(pk, v);
}

static int pk_long(struct pk *pk, int lenbytes)
{
	struct pv v = { .kind = PV_INT, .num = 0 };
	uint64_t len;

	if (!pk_has(pk, lenbytes))
		return PK_EOF;
	len = rd_le(pk->p + pk->pos, lenbytes);
	pk->pos += lenbytes;
	if (!pk_has(pk, len))
		return PK_EOF;
	if (len && len <= 8)
		v.num = (int64_t)rd_le(pk->p + pk->pos, len);
	pk->pos += len;
	return pk_push(pk, v);
}

/* Pops the items above the topmost MARK and the MARK; *m = its index. */
static int pk_pop_mark(struct pk *pk, int *m)
{
	*m = mark_below(pk, pk->sp - 1);
	if (*m < 0)
		return PK_BAD;
	pk->sp = *m;
	return PK_OK;
}

static int pk_stack_global(struct pk *pk)
{
	struct pv v = { .kind = PV_GLOBAL, .num = -1 };
	const struct pv *mod, *name;

	if (pk->sp < 2)
		return PK_BAD;
	mod = &pk->stack[pk->sp - 2];
	name = &pk->stack[pk->sp - 1];
	if (mod->kind != PV_STR || name->kind != PV_STR)
		return PK_BAD;
	v.moff = mod->off;
	v.mlen = mod->len;
	v.off = name->off;
	v.len = name->len;
	pk->sp -= 2;
	return pk_push(pk, v);
}

static int pk_global(struct pk *pk)
{
	struct pv v = { .kind = PV_GLOBAL, .num = -1 };
	int ret;

	ret = pk_line(pk, &v.moff, &v.mlen);
	if (ret)
		return ret;
	ret = pk_line(pk, &v.off, &v.len);
	if (ret)
		return ret;
	return pk_push(pk, v);
}

static int pk_setitems(struct pk *pk)
{
	int m = mark_below(pk, pk->sp - 1), i;
	struct pv *d;

	if (m < 1)
		return PK_BAD;
	d = &pk->stack[m - 1];
	for (i = m + 1; i + 1 < pk->sp; i += 2)
		process_pair(pk, d, &pk->stack[i], &pk->stack[i + 1]);
	pk->sp = m;
	return PK_OK;
}

static int pk_appends(struct pk *pk)
{
	int m = mark_below(pk, pk->sp - 1), i;
	struct pv *list;

	if (m < 1)
		return PK_BAD;
	list = &pk->stack[m - 1];
	for (i = m + 1; i < pk->sp; i++)
		process_item(pk, list, &pk->stack[i]);
	pk->sp = m;
	return PK_OK;
}

/* Replace the top k values with one of the given kind. */
static int pk_collapse(struct pk *pk, int k, uint8_t kind)
{
	if (pk->sp < k)
		return PK_BAD;
	pk->sp -= k;
	return pk_push_kind(pk, kind);
}

/* The opcodes by family, each a short switch; pk_ops[] below maps an
 * opcode to its family. Opcodes missing there are not pickle: PK_BAD. */

/* PROTO, FRAME, STOP: framing, no values. */
static int pk_op_frame(struct pk *pk, uint8_t op)
{
	switch (op) {
	case 0x80:			/* PROTO */
		if (!pk_has(pk, 1))
			return PK_EOF;
		pk->pos += 1;
		return PK_OK;
	case 0x95:			/* FRAME: a length hint only */
		if (!pk_has(pk, 8))
			return PK_EOF;
		pk->pos += 8;
		return PK_OK;
	case '.':			/* STOP */
		return PK_STOP;
	default:
		return PK_BAD;
	}
}

/* Values with no argument: MARK, empty containers, None, booleans. */
static int pk_op_const(struct pk *pk, uint8_t op)
{
	struct pv v = { .num = -1 };

	switch (op) {
	case '(':			/* MARK */
		return pk_push_kind(pk, PV_MARK);
	case ')':			/* EMPTY_TUPLE */
		return pk_push_kind(pk, PV_TUPLE);
	case ']':			/* EMPTY_LIST */
		return pk_push_kind(pk, PV_LIST);
	case '}':			/* EMPTY_DICT */
		v.kind = PV_DICT;
		dict_state(pk, &v);
		return pk_push(pk, v);
	case 0x8f:			/* EMPTY_SET */
		return pk_push_kind(pk, PV_SET);
	case 'N':			/* NONE */
		return pk_push_kind(pk, PV_NONE);
	case 0x88:			/* NEWTRUE */
	case 0x89:			/* NEWFALSE */
		v.kind = PV_BOOL;
		v.num = op == 0x88;
		return pk_push(pk, v);
	default:
		return PK_BAD;
	}
}

/* Integers and floats, binary and text. */
static int pk_op_number(struct pk *pk, uint8_t op)
{
	struct pv v = { .num = -1 };
	int64_t x;
	int ret;

	switch (op) {
	case 'K':			/* BININT1 */
		return pk_int(pk, 1, false);
	case 'M':			/* BININT2 */
		return pk_int(pk, 2, false);
	case 'J':			/* BININT */
		return pk_int(pk, 4, true);
	case 0x8a:			/* LONG1 */
		return pk_long(pk, 1);
	case 0x8b:			/* LONG4 */
		return pk_long(pk, 4);
	case 'G':			/* BINFLOAT */
		if (!pk_has(pk, 8))
			return PK_EOF;
		pk->pos += 8;
		return pk_push_kind(pk, PV_FLOAT);
	case 'F':			/* FLOAT */
		ret = pk_line(pk, &v.off, &v.len);
		if (ret)
			return ret;
		return pk_push_kind(pk, PV_FLOAT);
	case 'I':			/* INT */
	case 'L':			/* LONG */
		ret = pk_line_int(pk, &x);
		if (ret)
			return ret;
		v.kind = PV_INT;
		v.num = x;
		return pk_push(pk, v);
	default:
		return PK_BAD;
	}
}

/* Strings, bytes and buffers. */
static int pk_op_string(struct pk *pk, uint8_t op)
{
	struct pv v = { .num = -1 };
	int ret;

	switch (op) {
	case 0x8c:			/* SHORT_BINUNICODE */
		return pk_sized(pk, 1, PV_STR);
	case 'X':			/* BINUNICODE */
		return pk_sized(pk, 4, PV_STR);
	case 0x8d:			/* BINUNICODE8 */
		return pk_sized(pk, 8, PV_STR);
	case 'C':			/* SHORT_BINBYTES */
	case 'U':			/* SHORT_BINSTRING */
		return pk_sized(pk, 1, PV_BYTES);
	case 'B':			/* BINBYTES */
	case 'T':			/* BINSTRING */
		return pk_sized(pk, 4, PV_BYTES);
	case 0x8e:			/* BINBYTES8 */
	case 0x96:			/* BYTEARRAY8 */
		return pk_sized(pk, 8, PV_BYTES);
	case 'S':			/* STRING */
	case 'V':			/* UNICODE (raw-unicode-escape: kept raw) */
		ret = pk_line(pk, &v.off, &v.len);
		if (ret)
			return ret;
		v.kind = op == 'V' ? PV_STR : PV_BYTES;
		return pk_push(pk, v);
	case 0x97:			/* NEXT_BUFFER: out-of-band data */
		return pk_push_kind(pk, PV_BYTES);
	case 0x98:			/* READONLY_BUFFER */
		return pk->sp ? PK_OK : PK_BAD;
	default:
		return PK_BAD;
	}
}

/* The memo: PUT and GET in their four sizes. */
static int pk_op_memo(struct pk *pk, uint8_t op)
{
	uint64_t idx;
	int64_t line;
	int ret;

	switch (op) {
	case 0x94:			/* MEMOIZE */
		ret = pk_memo_put(pk, pk->memo_next);
		pk->memo_next++;
		return ret;
	case 'q':			/* BINPUT */
	case 'h':			/* BINGET */
		if (!pk_has(pk, 1))
			return PK_EOF;
		idx = pk->p[pk->pos++];
		return op == 'q' ? pk_memo_put(pk, idx) : pk_memo_get(pk, idx);
	case 'r':			/* LONG_BINPUT */
	case 'j':			/* LONG_BINGET */
		if (!pk_has(pk, 4))
			return PK_EOF;
		idx = rd_le(pk->p + pk->pos, 4);
		pk->pos += 4;
		return op == 'r' ? pk_memo_put(pk, idx) : pk_memo_get(pk, idx);
	case 'p':			/* PUT */
	case 'g':			/* GET */
		ret = pk_line_int(pk, &line);
		if (ret)
			return ret;
		return op == 'p' ? pk_memo_put(pk, line) : pk_memo_get(pk, line);
	default:
		return PK_BAD;
	}
}

/* Tuples, lists, dicts and sets: built, filled, and MARK regions. */
static int pk_op_container(struct pk *pk, uint8_t op)
{
	int m, ret;

	switch (op) {
	case 0x85:			/* TUPLE1 */
		return pk_collapse(pk, 1, PV_TUPLE);
	case 0x86:			/* TUPLE2 */
		return pk_collapse(pk, 2, PV_TUPLE);
	case 0x87:			/* TUPLE3 */
		return pk_collapse(pk, 3, PV_TUPLE);
	case 't':			/* TUPLE */
	case 'l':			/* LIST */
	case 'd':			/* DICT */
	case 0x91:			/* FROZENSET */
		ret = pk_pop_mark(pk, &m);
		if (ret)
			return ret;
		return pk_push_kind(pk, op == 't' ? PV_TUPLE :
				    op == 'l' ? PV_LIST :
				    op == 'd' ? PV_DICT : PV_SET);
	case '1':			/* POP_MARK */
	case 0x90:			/* ADDITEMS */
		return pk_pop_mark(pk, &m);
	case 'a':			/* APPEND */
		if (pk->sp < 2)
			return PK_BAD;
		process_item(pk, &pk->stack[pk->sp - 2], &pk->stack[pk->sp - 1]);
		pk->sp--;
		return PK_OK;
	case 'e':			/* APPENDS */
		return pk_appends(pk);
	case 's':			/* SETITEM */
		if (pk->sp < 3)
			return PK_BAD;
		process_pair(pk, &pk->stack[pk->sp - 3], &pk->stack[pk->sp - 2],
			     &pk->stack[pk->sp - 1]);
		pk->sp -= 2;
		return PK_OK;
	case 'u':			/* SETITEMS */
		return pk_setitems(pk);
	default:
		return PK_BAD;
	}
}

/* NEWOBJ and NEWOBJ_EX: the class is kept, its arguments dropped. */
static int pk_newobj(struct pk *pk, int k)
{
	struct pv v;

	if (pk->sp < k)
		return PK_BAD;
	v = pk->stack[pk->sp - k];
	v.kind = PV_OBJ;
	v.role = R_NEWOBJ;
	pk->sp -= k;
	return pk_push(pk, v);
}

/* INST: module\nname\n, arguments from the MARK. */
static int pk_inst(struct pk *pk)
{
	struct pv v = { .num = -1 };
	int m, ret;

	ret = pk_line(pk, &v.moff, &v.mlen);
	if (!ret)
		ret = pk_line(pk, &v.off, &v.len);
	if (!ret)
		ret = pk_pop_mark(pk, &m);
	if (ret)
		return ret;
	v.kind = PV_OBJ;
	v.role = R_NEWOBJ;
	return pk_push(pk, v);
}

/* OBJ: class and arguments from the MARK. */
static int pk_obj(struct pk *pk)
{
	struct pv v;
	int m = mark_below(pk, pk->sp - 1);

	if (m < 0 || m + 1 >= pk->sp)
		return PK_BAD;
	v = pk->stack[m + 1];
	pk->sp = m;
	v.kind = PV_OBJ;
	v.role = R_NEWOBJ;
	return pk_push(pk, v);
}

/* Classes and objects: globals, calls, construction, state. */
static int pk_op_object(struct pk *pk, uint8_t op)
{
	struct pv v;

	switch (op) {
	case 0x93:			/* STACK_GLOBAL */
		return pk_stack_global(pk);
	case 'c':			/* GLOBAL */
		return pk_global(pk);
	case 'R':			/* REDUCE: callable(args) */
		if (pk->sp < 2)
			return PK_BAD;
		v = pk->stack[pk->sp - 2];	/* keeps name and array length */
		v.kind = PV_OBJ;
		v.role = R_NONE;
		pk->sp -= 2;
		return pk_push(pk, v);
	case 0x81:			/* NEWOBJ: cls.__new__(cls, *args) */
		return pk_newobj(pk, 2);
	case 0x92:			/* NEWOBJ_EX */
		return pk_newobj(pk, 3);
	case 'b':			/* BUILD: obj.__setstate__(state) */
		if (pk->sp < 2)
			return PK_BAD;
		pk->sp--;
		pk->stack[pk->sp - 1].role = R_NONE;
		return PK_OK;
	case 'i':			/* INST */
		return pk_inst(pk);
	case 'o':			/* OBJ */
		return pk_obj(pk);
	default:
		return PK_BAD;
	}
}

/* Stack shuffles, extension codes, persistent ids: opaque values. */
static int pk_op_other(struct pk *pk, uint8_t op)
{
	struct pv v = { .num = -1 };
	int k, ret;

	switch (op) {
	case '0':			/* POP */
		if (pk->sp < 1)
			return PK_BAD;
		pk->sp--;
		return PK_OK;
	case '2':			/* DUP */
		if (pk->sp < 1)
			return PK_BAD;
		return pk_push(pk, pk->stack[pk->sp - 1]);
	case 0x82:			/* EXT1 */
	case 0x83:			/* EXT2 */
	case 0x84:			/* EXT4 */
		k = op == 0x82 ? 1 : op == 0x83 ? 2 : 4;
		if (!pk_has(pk, k))
			return PK_EOF;
		pk->pos += k;
		return pk_push_kind(pk, PV_OTHER);
	case 'Q':			/* BINPERSID */
		return pk_collapse(pk, 1, PV_OTHER);
	case 'P':			/* PERSID */
		ret = pk_line(pk, &v.off, &v.len);
		if (ret)
			return ret;
		return pk_push_kind(pk, PV_OTHER);
	default:
		return PK_BAD;
	}
}

typedef int (*pk_op_fn)(struct pk *pk, uint8_t op);

static const pk_op_fn pk_ops[256] = {
	[0x80] = pk_op_frame, [0x95] = pk_op_frame, ['.'] = pk_op_frame,

	['('] = pk_op_const, [')'] = pk_op_const, [']'] = pk_op_const,
	['}'] = pk_op_const, [0x8f] = pk_op_const, ['N'] = pk_op_const,
	[0x88] = pk_op_const, [0x89] = pk_op_const,

	['K'] = pk_op_number, ['M'] = pk_op_number, ['J'] = pk_op_number,
	[0x8a] = pk_op_number, [0x8b] = pk_op_number, ['G'] = pk_op_number,
	['F'] = pk_op_number, ['I'] = pk_op_number, ['L'] = pk_op_number,

	[0x8c] = pk_op_string, ['X'] = pk_op_string, [0x8d] = pk_op_string,
	['C'] = pk_op_string, ['U'] = pk_op_string, ['B'] = pk_op_string,
	['T'] = pk_op_string, [0x8e] = pk_op_string, [0x96] = pk_op_string,
	['S'] = pk_op_string, ['V'] = pk_op_string, [0x97] = pk_op_string,
	[0x98] = pk_op_string,

	[0x94] = pk_op_memo, ['q'] = pk_op_memo, ['h'] = pk_op_memo,
	['r'] = pk_op_memo, ['j'] = pk_op_memo, ['p'] = pk_op_memo,
	['g'] = pk_op_memo,

	[0x85] = pk_op_container, [0x86] = pk_op_container,
	[0x87] = pk_op_container, ['t'] = pk_op_container,
	['l'] = pk_op_container, ['d'] = pk_op_container,
	[0x91] = pk_op_container, ['1'] = pk_op_container,
	[0x90] = pk_op_container, ['a'] = pk_op_container,
	['e'] = pk_op_container, ['s'] = pk_op_container,
	['u'] = pk_op_container,

	[0x93] = pk_op_object, ['c'] = pk_op_object, ['R'] = pk_op_object,
	[0x81] = pk_op_object, [0x92] = pk_op_object, ['b'] = pk_op_object,
	['i'] = pk_op_object, ['o'] = pk_op_object,

	['0'] = pk_op_other, ['2'] = pk_op_other, [0x82] = pk_op_other,
	[0x83] = pk_op_other, [0x84] = pk_op_other, ['Q'] = pk_op_other,
	['P'] = pk_op_other,
};

static int pk_step(struct pk *pk)
{
	uint8_t op;

	if (!pk_has(pk, 1))
		return PK_EOF;
	op = pk->p[pk->pos++];
	if (!pk_ops[op])
		return PK_BAD;
	return pk_ops[op](pk, op);
}

/* The capture ended mid-message: read the open MARK regions as if they
 * were about to be closed, so rids already captured are not lost. */
static void pk_flush_pending(struct pk *pk)
{
	int m, end, j;

	for (m = 1; m < pk->sp; m++) {
		struct pv *target = &pk->stack[m - 1];

		if (pk->stack[m].kind != PV_MARK)
			continue;
		for (end = m + 1; end < pk->sp; end++)
			if (pk->stack[end].kind == PV_MARK)
				break;
		if (target->kind == PV_DICT) {
			for (j = m + 1; j + 1 < end; j += 2)
				process_pair(pk, target, &pk->stack[j],
					     &pk->stack[j + 1]);
		} else if (target->kind == PV_LIST) {
			for (j = m + 1; j < end; j++)
				process_item(pk, target, &pk->stack[j]);
		}
	}
}

int pickle_parse(const uint8_t *p, size_t n, bool truncated,
		 struct ipc_msg *out)
{
	struct pk pk;	/* ~34 KiB of stack, nothing zeroed but the header */
	int ret;

	memset(&pk, 0, offsetof(struct pk, stack));
	pk.p = p;
	pk.n = n;
	pk.out = out;
	out->format = IPC_FMT_PICKLE;
	do {
		ret = pk_step(&pk);
	} while (ret == PK_OK);

	switch (ret) {
	case PK_STOP:
		return 0;
	case PK_EOF:
		out->flags |= IPC_F_INCOMPLETE;
		if (!truncated)
			out->flags |= IPC_F_BAD;
		break;
	case PK_LIMIT:
		out->flags |= IPC_F_INCOMPLETE | IPC_F_LIMIT;
		break;
	default:
		out->flags |= IPC_F_INCOMPLETE | IPC_F_BAD;
		break;
	}
	pk_flush_pending(&pk);
	/* Garbage after a PROTO byte is still garbage. */
	if ((out->flags & IPC_F_BAD) && out->kind == IPC_KIND_UNKNOWN)
		return -EINVAL;
	return 0;
}

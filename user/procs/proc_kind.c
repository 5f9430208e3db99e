// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* What a process is, from its command line or title (see proc_kind.h). */
#define _GNU_SOURCE		/* memrchr */
#include <ctype.h>
#include <string.h>
#include "procs/proc_kind.h"

#define ARGV_MAX 64

struct argv_view {
	const char *arg[ARGV_MAX];
	size_t len[ARGV_MAX];
	int n;
};

/* The program a command line runs: a python module (-m), or the base
 * name of a script or executable, and the index of its first argument. */
struct program {
	const char *name;
	size_t len;
	bool module;
	int first;
};

enum { ANY = 0, CONSOLE, MODULE };

struct rule {
	const char *prog;
	int how;
	const char *sub;	/* first argument, or NULL */
	enum proc_kind kind;
	enum proc_engine engine;
	enum proc_router router;
	bool grpc;
};

/* CONSOLE names match an executable or a script python runs (a console
 * script started through its shebang reads "python /v/bin/smg launch"). */
#define ROUTER(prog, how, sub, router) \
	{ prog, how, sub, PROC_KIND_ROUTER, PROC_ENGINE_NONE, PROC_ROUTER_##router, false }
#define SERVER(prog, how, sub, engine, grpc) \
	{ prog, how, sub, PROC_KIND_SERVER, PROC_ENGINE_##engine, PROC_ROUTER_NONE, grpc }

static const struct rule rules[] = {
	ROUTER("sglang_router.launch_router", MODULE, NULL, SGLANG_ROUTER),
	ROUTER("sglang_router.launch_server", MODULE, NULL, SGLANG_ROUTER),
	ROUTER("sglang_router", MODULE, "launch", SGLANG_ROUTER),
	ROUTER("sglang_router", MODULE, "server", SGLANG_ROUTER),
	ROUTER("sglang_router.cli", MODULE, "launch", SGLANG_ROUTER),
	ROUTER("sglang_router.cli", MODULE, "server", SGLANG_ROUTER),
	ROUTER("sglang-router", CONSOLE, "launch", SGLANG_ROUTER),
	ROUTER("sglang-router", CONSOLE, "server", SGLANG_ROUTER),
	ROUTER("amg", CONSOLE, "launch", SGLANG_ROUTER),
	ROUTER("amg", CONSOLE, "server", SGLANG_ROUTER),
	/* sglang-router 0.3.2 installs "smg" too; only it has "server" */
	ROUTER("smg", CONSOLE, "server", SGLANG_ROUTER),
	ROUTER("smg", CONSOLE, "launch", SMG),
	ROUTER("smg", CONSOLE, "serve", SMG),
	ROUTER("smg", MODULE, "launch", SMG),
	ROUTER("smg", MODULE, "serve", SMG),
	ROUTER("smg.cli", MODULE, "launch", SMG),
	ROUTER("smg.cli", MODULE, "serve", SMG),
	ROUTER("smg.launch_router", MODULE, NULL, SMG),
	SERVER("sglang.launch_server", MODULE, NULL, SGLANG, false),
	SERVER("sglang", CONSOLE, "serve", SGLANG, false),
	SERVER("vllm", CONSOLE, "serve", VLLM, false),
	SERVER("vllm.entrypoints.cli.main", MODULE, "serve", VLLM, false),
	SERVER("vllm.entrypoints.openai.api_server", MODULE, NULL, VLLM, false),
	SERVER("vllm.entrypoints.grpc_server", MODULE, NULL, VLLM, true),
	/* vLLM 0.32's gRPC launcher (the module above re-exports it) */
	SERVER("vllm.entrypoints.launchers.grpc_server", MODULE, NULL, VLLM, true),
};

static bool eq(const char *s, size_t len, const char *lit)
{
	return len == strlen(lit) && !memcmp(s, lit, len);
}

static bool starts(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return len >= n && !memcmp(s, lit, n);
}

static bool ends(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return len >= n && !memcmp(s + len - n, lit, n);
}

static void clear(struct proc_class *c)
{
	memset(c, 0, sizeof(*c));
	sglang_parse_title(NULL, 0, &c->sglang);	/* ranks -1 */
}

static void split_argv(const char *cmdline, size_t len, struct argv_view *v)
{
	size_t i = 0, alen;

	v->n = 0;
	while (i < len && v->n < ARGV_MAX) {
		alen = strnlen(cmdline + i, len - i);
		v->arg[v->n] = cmdline + i;
		v->len[v->n++] = alen;
		i += alen + 1;
	}
	/* setproctitle pads with NULs: drop the empty tail */
	while (v->n && !v->len[v->n - 1])
		v->n--;
}

static const char *base_name(const char *s, size_t len, size_t *blen)
{
	const char *slash = memrchr(s, '/', len);
	const char *b = slash ? slash + 1 : s;

	*blen = len - (b - s);
	return b;
}

/* python, python3, python3.11 */
static bool is_python(const char *s, size_t len)
{
	size_t blen, i;
	const char *b = base_name(s, len, &blen);

	if (!starts(b, blen, "python"))
		return false;
	for (i = 6; i < blen; i++)
		if (!isdigit((unsigned char)b[i]) && b[i] != '.')
			return false;
	return true;
}

/* After the interpreter: skip its options, stop at -m MODULE, -c, or the
 * script. False when python runs no module or script (-c, stdin). */
static bool python_program(const struct argv_view *v, struct program *p)
{
	for (int i = 1; i < v->n; i++) {
		const char *a = v->arg[i];
		size_t l = v->len[i];

		if (eq(a, l, "-m")) {
			if (i + 1 >= v->n)
				return false;
			p->name = v->arg[i + 1];
			p->len = v->len[i + 1];
			p->module = true;
			p->first = i + 2;
			return true;
		}
		if (eq(a, l, "-c") || eq(a, l, "-") || !l)
			return false;
		if (eq(a, l, "-W") || eq(a, l, "-X")) {
			i++;
			continue;
		}
		if (a[0] == '-')
			continue;
		p->name = base_name(a, l, &p->len);
		p->first = i + 1;
		if (ends(a, l, "/sglang/launch_server.py")) {
			p->name = "sglang.launch_server";	/* same as -m */
			p->len = strlen(p->name);
			p->module = true;
		}
		return true;
	}
	return false;
}

static bool find_program(const struct argv_view *v, struct program *p)
{
	memset(p, 0, sizeof(*p));
	if (!v->n)
		return false;
	if (is_python(v->arg[0], v->len[0]))
		return python_program(v, p);
	p->name = base_name(v->arg[0], v->len[0], &p->len);
	p->first = 1;
	return true;
}

static bool has_arg(const struct argv_view *v, int from, const char *opt)
{
	size_t n = strlen(opt);

	for (int i = from; i < v->n; i++)
		if (eq(v->arg[i], v->len[i], opt) ||
		    (starts(v->arg[i], v->len[i], opt) && v->len[i] > n && v->arg[i][n] == '='))
			return true;
	return false;
}

/* smg talks gRPC to a grpc:// worker, and by default under "smg serve". */
static bool router_grpc(const struct argv_view *v, const struct program *p,
			const struct rule *r)
{
	for (int i = p->first; i < v->n; i++)
		if (starts(v->arg[i], v->len[i], "grpc://"))
			return true;
	if (!r->sub || strcmp(r->sub, "serve"))
		return false;
	return !has_arg(v, p->first, "--connection-mode") ||
	       has_arg(v, p->first, "--connection-mode=grpc");
}

static const struct rule *match_rule(const struct argv_view *v, const struct program *p)
{
	const char *sub = p->first < v->n ? v->arg[p->first] : "";
	size_t sublen = p->first < v->n ? v->len[p->first] : 0;

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const struct rule *r = &rules[i];

		if ((r->how == MODULE) != p->module || !eq(p->name, p->len, r->prog))
			continue;
		if (!r->sub || eq(sub, sublen, r->sub))
			return r;
	}
	return NULL;
}

static void classify_argv(const struct argv_view *v, const struct proc_class *parent,
			  struct proc_class *out)
{
	const struct rule *r;
	struct program p;

	if (!find_program(v, &p) || !(r = match_rule(v, &p)))
		return;
	out->kind = r->kind;
	out->engine = r->engine;
	out->router = r->router;
	out->grpc = r->grpc;
	if (r->engine == PROC_ENGINE_SGLANG)
		out->grpc = has_arg(v, p.first, "--grpc-mode");
	else if (r->engine == PROC_ENGINE_VLLM && !r->grpc)
		out->grpc = has_arg(v, p.first, "--grpc");	/* vllm serve --grpc */
	else if (r->kind == PROC_KIND_ROUTER)
		out->grpc = router_grpc(v, &p, r);
	/* A fork that has not retitled itself yet: the launcher's child. */
	if (!parent || parent->kind != out->kind || parent->engine != out->engine ||
	    parent->router != out->router)
		return;
	if (out->kind == PROC_KIND_SERVER) {
		out->kind = PROC_KIND_ENGINE_OTHER;
	} else if (eq(p.name, p.len, "sglang_router.launch_server")) {
		/* its children run SGLang servers (titled sglang::server) */
		out->kind = PROC_KIND_SERVER;
		out->engine = PROC_ENGINE_SGLANG;
		out->router = PROC_ROUTER_NONE;
	} else {
		clear(out);
	}
}

/* "Name" or "Name_<suffix>" after a title prefix. */
static bool title_name(const char *s, size_t len, const char *name)
{
	size_t n = strlen(name);

	return starts(s, len, name) && (len == n || s[n] == '_');
}

static enum proc_kind sglang_kind(enum sglang_role role)
{
	switch (role) {
	case SGLANG_ROLE_MAIN:			return PROC_KIND_SERVER;
	case SGLANG_ROLE_SCHEDULER:		return PROC_KIND_SCHEDULER;
	case SGLANG_ROLE_DETOKENIZER:		return PROC_KIND_DETOKENIZER;
	case SGLANG_ROLE_DP_CONTROLLER:		return PROC_KIND_DP_CONTROLLER;
	case SGLANG_ROLE_TOKENIZER_WORKER:	return PROC_KIND_TOKENIZER_WORKER;
	case SGLANG_ROLE_DETOKENIZER_ROUTER:	return PROC_KIND_DETOKENIZER_ROUTER;
	default:				return PROC_KIND_ENGINE_OTHER;
	}
}

/* A setproctitle title: false when t is none of the known prefixes. */
static bool classify_title(const char *t, size_t n, struct proc_class *out)
{
	if (starts(t, n, "smg::")) {
		out->kind = eq(t, n, "smg::router") ? PROC_KIND_ROUTER : PROC_KIND_NONE;
		out->router = out->kind ? PROC_ROUTER_SMG : PROC_ROUTER_NONE;
	} else if (eq(t, n, "sglang::router")) {
		out->kind = PROC_KIND_ROUTER;
		out->router = PROC_ROUTER_SGLANG_ROUTER;
	} else if (starts(t, n, "sglang::")) {
		sglang_parse_title(t, n, &out->sglang);
		out->kind = sglang_kind(out->sglang.role);
		out->engine = PROC_ENGINE_SGLANG;
	} else if (starts(t, n, "VLLM::")) {
		t += 6;
		n -= 6;
		out->engine = PROC_ENGINE_VLLM;
		out->kind = title_name(t, n, "APIServer") ? PROC_KIND_SERVER :
			    title_name(t, n, "EngineCore") ? PROC_KIND_ENGINE_CORE :
			    title_name(t, n, "Worker") ? PROC_KIND_ENGINE_WORKER :
			    PROC_KIND_ENGINE_OTHER;
	} else {
		return false;
	}
	out->titled = true;
	return true;
}

/* The title is the first string; some setproctitle modes pad with spaces. */
static size_t title_len(const char *s, size_t len)
{
	size_t n = strnlen(s, len);

	while (n && s[n - 1] == ' ')
		n--;
	return n;
}

enum proc_kind proc_kind_classify(const char *cmdline, size_t len, const char *comm,
				  const struct proc_class *parent, struct proc_class *out)
{
	struct argv_view v;

	clear(out);
	if (!cmdline || !len) {
		/* exiting, or a kernel thread: comm is all there is */
		if (comm)
			classify_title(comm, title_len(comm, strlen(comm)), out);
		return out->kind;
	}
	if (classify_title(cmdline, title_len(cmdline, len), out))
		return out->kind;
	split_argv(cmdline, len, &v);
	classify_argv(&v, parent, out);
	return out->kind;
}

enum sglang_role proc_kind_sglang_role(const struct proc_class *c)
{
	if (c->engine != PROC_ENGINE_SGLANG)
		return SGLANG_ROLE_UNKNOWN;
	switch (c->kind) {
	case PROC_KIND_SERVER:
		return SGLANG_ROLE_MAIN;
	case PROC_KIND_ENGINE_OTHER:
		return SGLANG_ROLE_OTHER;
	default:
		return c->titled ? c->sglang.role : SGLANG_ROLE_OTHER;
	}
}

static const char *const kind_names[PROC_KIND_MAX] = {
	[PROC_KIND_NONE] = "none",
	[PROC_KIND_ROUTER] = "router",
	[PROC_KIND_SERVER] = "server",
	[PROC_KIND_SCHEDULER] = "scheduler",
	[PROC_KIND_DETOKENIZER] = "detokenizer",
	[PROC_KIND_DP_CONTROLLER] = "dp_controller",
	[PROC_KIND_TOKENIZER_WORKER] = "tokenizer_worker",
	[PROC_KIND_DETOKENIZER_ROUTER] = "detokenizer_router",
	[PROC_KIND_ENGINE_CORE] = "engine_core",
	[PROC_KIND_ENGINE_WORKER] = "engine_worker",
	[PROC_KIND_ENGINE_OTHER] = "other",
};

const char *proc_kind_name(enum proc_kind kind)
{
	return (unsigned int)kind < PROC_KIND_MAX ? kind_names[kind] : "invalid";
}

const char *proc_engine_name(enum proc_engine engine)
{
	static const char *const names[PROC_ENGINE_MAX] = { "none", "sglang", "vllm" };

	return (unsigned int)engine < PROC_ENGINE_MAX ? names[engine] : "invalid";
}

const char *proc_router_name(enum proc_router router)
{
	static const char *const names[PROC_ROUTER_MAX] = { "none", "sglang-router", "smg" };

	return (unsigned int)router < PROC_ROUTER_MAX ? names[router] : "invalid";
}

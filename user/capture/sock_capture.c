// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Open, size, load and attach sock.bpf.c; probe which syscall
 * tracepoints this kernel has and say plainly which are missing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "capture/sock_capture.h"
#include "util/percpu.h"
#include "sock.skel.h"

struct sock_capture {
	struct sock_bpf *skel;
	char missing[512];
};

static bool tracefs_ready(void)
{
	if (!access("/sys/kernel/tracing/events", F_OK) ||
	    !access("/sys/kernel/debug/tracing/events", F_OK))
		return true;
	/* libbpf resolves tracepoint ids through tracefs: mount it if absent. */
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0)
		return true;
	fprintf(stderr, "servetrace: tracefs is not mounted and mounting it failed (%s); "
		"try: mount -t tracefs tracefs /sys/kernel/tracing\n", strerror(errno));
	return false;
}

static bool tracepoint_exists(const char *category, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/kernel/tracing/events/%s/%s/id",
		 category, name);
	if (!access(path, F_OK))
		return true;
	snprintf(path, sizeof(path), "/sys/kernel/debug/tracing/events/%s/%s/id",
		 category, name);
	return !access(path, F_OK);
}

/* Tracepoint sections look like "tracepoint/<category>/<name>". */
static void disable_missing_tracepoints(struct sock_capture *sc)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, sc->skel->obj) {
		const char *sec = bpf_program__section_name(prog);
		char cat[64], name[96];

		if (sscanf(sec, "tracepoint/%63[^/]/%95s", cat, name) != 2)
			continue;
		if (tracepoint_exists(cat, name))
			continue;
		bpf_program__set_autoload(prog, false);
		if (strlen(sc->missing) + strlen(name) + 2 < sizeof(sc->missing)) {
			if (sc->missing[0])
				strcat(sc->missing, " ");
			strcat(sc->missing, name);
		}
	}
}

struct sock_capture *sock_capture_open(const struct sock_capture_opts *opts)
{
	struct sock_capture *sc;
	int err, ncpus;

	if (geteuid() != 0) {
		fprintf(stderr, "servetrace: must run as root (BPF and tracepoints need CAP_BPF and CAP_PERFMON)\n");
		return NULL;
	}
	if (!tracefs_ready())
		return NULL;
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return NULL;
	sc->skel = sock_bpf__open();
	if (!sc->skel) {
		fprintf(stderr, "servetrace: cannot open the BPF object: %s\n", strerror(errno));
		goto fail;
	}
	sc->skel->rodata->capture_bytes = opts->capture_bytes;
	sc->skel->rodata->wakeup_bytes = opts->wakeup_bytes;
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0) {
		fprintf(stderr, "servetrace: cannot count CPUs: %s\n", strerror(-ncpus));
		goto fail;
	}
	bpf_map__set_max_entries(sc->skel->maps.scratch_space, ncpus);
	bpf_map__set_max_entries(sc->skel->maps.events, opts->ringbuf_bytes);
	disable_missing_tracepoints(sc);

	err = sock_bpf__load(sc->skel);
	if (err) {
		fprintf(stderr, "servetrace: loading BPF programs failed: %s%s\n", strerror(-err),
			err == -EPERM ? " (missing privileges, or kernel.unprivileged_bpf_disabled / lockdown)" : "");
		goto fail;
	}
	err = sock_bpf__attach(sc->skel);
	if (err) {
		fprintf(stderr, "servetrace: attaching tracepoints failed: %s\n", strerror(-err));
		goto fail;
	}
	return sc;
fail:
	sock_capture_close(sc);
	return NULL;
}

void sock_capture_close(struct sock_capture *sc)
{
	if (!sc)
		return;
	sock_bpf__destroy(sc->skel);
	free(sc);
}

int sock_capture_add_tgid(struct sock_capture *sc, uint32_t tgid, uint32_t role)
{
	return bpf_map__update_elem(sc->skel->maps.traced_tgids, &tgid, sizeof(tgid),
				    &role, sizeof(role), BPF_ANY);
}

int sock_capture_del_tgid(struct sock_capture *sc, uint32_t tgid)
{
	return bpf_map__delete_elem(sc->skel->maps.traced_tgids, &tgid, sizeof(tgid), 0);
}

int sock_capture_ringbuf_fd(struct sock_capture *sc)
{
	return bpf_map__fd(sc->skel->maps.events);
}

void sock_capture_counters(struct sock_capture *sc, uint64_t out[CNT_MAX])
{
	percpu_sum(bpf_map__fd(sc->skel->maps.counters), CNT_MAX, out);
}

const char *sock_capture_missing(struct sock_capture *sc)
{
	return sc->missing;
}

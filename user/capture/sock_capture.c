// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Open, size, load and attach sock.bpf.c; probe which syscall
 * tracepoints this kernel has and say plainly which are missing. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "capture/sock_capture.h"
#include "util/percpu.h"
#include "sock.skel.h"

struct sock_capture {
	struct sock_bpf *skel;
	int nshards;
	int ring_fd[SOCK_CAPTURE_MAX_SHARDS];
	/* read-only views of each ring's consumer and producer positions */
	const volatile uint64_t *cons_pos[SOCK_CAPTURE_MAX_SHARDS];
	const volatile uint64_t *prod_pos[SOCK_CAPTURE_MAX_SHARDS];
	char missing[512];
	pthread_t detacher;
	bool detaching;
	bool sock_hooks;	/* data calls seen at the socket layer */
	bool writes_at_end;	/* no tcp:tcp_sendmsg_locked: writes stamped at their end */
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

/* The two hook sets: the socket layer's tracepoints (sock_recv_length,
 * sock_send_length, inet_sock_set_state: one program per socket call, no
 * syscall tracepoint, so no slow path for anyone's syscalls) or the
 * syscalls' own enter/exit tracepoints (any kernel). Only one is loaded. */
static const char *const socket_syscalls[] = {
	"read", "readv", "recvfrom", "recvmsg", "write", "writev", "sendto", "sendmsg",
	"accept", "accept4", "connect", "close",
};

static bool is_socket_syscall_tp(const char *sec)
{
	const char *name;

	if (strncmp(sec, "tracepoint/syscalls/sys_", 24))
		return false;
	name = sec + 24;
	if (!strncmp(name, "enter_", 6))
		name += 6;
	else if (!strncmp(name, "exit_", 5))
		name += 5;
	else
		return false;
	for (size_t i = 0; i < sizeof(socket_syscalls) / sizeof(socket_syscalls[0]); i++)
		if (!strcmp(name, socket_syscalls[i]))
			return true;
	return false;
}

static void choose_data_hooks(struct sock_capture *sc, bool sock_hooks)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, sc->skel->obj) {
		const char *sec = bpf_program__section_name(prog);

		if (!strncmp(sec, "tracepoint/sock/", 16) || !strncmp(sec, "tracepoint/tcp/", 15))
			bpf_program__set_autoload(prog, sock_hooks);
		else if (is_socket_syscall_tp(sec))
			bpf_program__set_autoload(prog, !sock_hooks);
	}
}

/* The kernel has the socket layer's tracepoints (and this arch is known). */
static bool sock_hooks_available(void)
{
#if defined(__x86_64__) || defined(__aarch64__)
	return tracepoint_exists("sock", "sock_recv_length") &&
	       tracepoint_exists("sock", "sock_send_length") &&
	       tracepoint_exists("sock", "inet_sock_set_state");
#else
	return false;	/* the programs know these arches' syscall numbers only */
#endif
}

/* Tracepoint sections look like "tracepoint/<category>/<name>". */
static void disable_missing_tracepoints(struct sock_capture *sc)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, sc->skel->obj) {
		const char *sec = bpf_program__section_name(prog);
		char cat[64], name[96];

		if (!bpf_program__autoload(prog) ||
		    sscanf(sec, "tracepoint/%63[^/]/%95s", cat, name) != 2)
			continue;
		if (tracepoint_exists(cat, name))
			continue;
		bpf_program__set_autoload(prog, false);
		if (!strcmp(name, "tcp_sendmsg_locked")) {
			sc->writes_at_end = true;	/* not traffic: a timestamp */
			continue;
		}
		if (strlen(sc->missing) + strlen(name) + 2 < sizeof(sc->missing)) {
			if (sc->missing[0])
				strcat(sc->missing, " ");
			strcat(sc->missing, name);
		}
	}
}

/* One ring buffer per shard, made before load: the first is the outer
 * map's template. */
static int create_rings(struct sock_capture *sc, uint32_t bytes)
{
	long page = sysconf(_SC_PAGESIZE);

	for (int i = 0; i < sc->nshards; i++) {
		void *p;

		sc->ring_fd[i] = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "st_ring", 0, 0, bytes, NULL);
		if (sc->ring_fd[i] < 0) {
			fprintf(stderr, "servetrace: cannot create ring buffer %d of %u bytes: %s\n",
				i, bytes, strerror(errno));
			return -errno;
		}
		p = mmap(NULL, page, PROT_READ, MAP_SHARED, sc->ring_fd[i], 0);
		sc->cons_pos[i] = p == MAP_FAILED ? NULL : p;
		p = mmap(NULL, page, PROT_READ, MAP_SHARED, sc->ring_fd[i], page);
		sc->prod_pos[i] = p == MAP_FAILED ? NULL : p;
	}
	return 0;
}

/* After load: the outer map the programs look their shard up in. */
static int fill_rings(struct sock_capture *sc)
{
	int outer = bpf_map__fd(sc->skel->maps.rings);

	for (int i = 0; i < sc->nshards; i++) {
		if (bpf_map_update_elem(outer, &i, &sc->ring_fd[i], BPF_ANY)) {
			fprintf(stderr, "servetrace: cannot install ring buffer %d: %s\n",
				i, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

static struct sock_capture *capture_open(const struct sock_capture_opts *opts,
					  bool sock_hooks)
{
	struct sock_capture *sc;
	int err, ncpus;

	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return NULL;
	sc->skel = sock_bpf__open();
	if (!sc->skel) {
		fprintf(stderr, "servetrace: cannot open the BPF object: %s\n", strerror(errno));
		goto fail;
	}
	sc->nshards = opts->shards ? opts->shards : 1;
	if (sc->nshards > SOCK_CAPTURE_MAX_SHARDS)
		sc->nshards = SOCK_CAPTURE_MAX_SHARDS;
	for (int i = 0; i < SOCK_CAPTURE_MAX_SHARDS; i++)
		sc->ring_fd[i] = -1;
	sc->skel->rodata->capture_bytes = opts->capture_bytes;
	sc->skel->rodata->wakeup_bytes = opts->wakeup_bytes;
	sc->skel->rodata->nshards = sc->nshards;
	sc->skel->rodata->skip_sse = !opts->full_capture;
	bpf_map__set_max_entries(sc->skel->maps.rings, sc->nshards);
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0) {
		fprintf(stderr, "servetrace: cannot count CPUs: %s\n", strerror(-ncpus));
		goto fail;
	}
	bpf_map__set_max_entries(sc->skel->maps.scratch_space, ncpus);
	err = create_rings(sc, opts->ringbuf_bytes);
	if (err)
		goto fail;
	/* the outer map's template: the rings themselves are its size */
	bpf_map__set_inner_map_fd(sc->skel->maps.rings, sc->ring_fd[0]);
	if (opts->max_conns)
		bpf_map__set_max_entries(sc->skel->maps.conn_streams, opts->max_conns);
	sc->sock_hooks = sock_hooks;
	sc->skel->rodata->sock_hooks = sock_hooks;
	choose_data_hooks(sc, sock_hooks);
	disable_missing_tracepoints(sc);

	err = sock_bpf__load(sc->skel);
	if (err) {
		fprintf(stderr, "servetrace: loading BPF programs failed: %s%s\n", strerror(-err),
			err == -EPERM ? " (missing privileges, or kernel.unprivileged_bpf_disabled / lockdown)" : "");
		goto fail;
	}
	/* the traced processes are bits set through the mmap of .bss: a
	 * private copy (no BPF_F_MMAPABLE) would trace nothing, silently */
	if (!(bpf_map__map_flags(sc->skel->maps.bss) & BPF_F_MMAPABLE)) {
		fprintf(stderr, "servetrace: the kernel cannot map BPF global data "
			"(BPF_F_MMAPABLE, Linux 5.5): the traced processes cannot be set\n");
		goto fail;
	}
	err = fill_rings(sc);
	if (err)
		goto fail;
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

struct sock_capture *sock_capture_open(const struct sock_capture_opts *opts)
{
	struct sock_capture *sc;
	bool sock_hooks;

	if (geteuid() != 0) {
		fprintf(stderr, "servetrace: must run as root (BPF and tracepoints need CAP_BPF and CAP_PERFMON)\n");
		return NULL;
	}
	if (!tracefs_ready())
		return NULL;
	sock_hooks = opts->io_hooks != IO_HOOKS_SYSCALLS && sock_hooks_available();
	if (opts->io_hooks == IO_HOOKS_SOCK && !sock_hooks) {
		fprintf(stderr, "servetrace: --io-hooks sock: this kernel has no "
			"sock:sock_recv_length/sock_send_length tracepoints (Linux 6.3+, "
			"x86-64 or arm64); use --io-hooks syscalls\n");
		return NULL;
	}
	sc = capture_open(opts, sock_hooks);
	if (!sc && sock_hooks && opts->io_hooks == IO_HOOKS_AUTO) {
		fprintf(stderr, "servetrace: the socket-layer programs did not load; "
			"falling back to the syscall tracepoints (slower: --io-hooks syscalls)\n");
		sc = capture_open(opts, false);
	}
	return sc;
}

bool sock_capture_uses_sock_hooks(const struct sock_capture *sc)
{
	return sc->sock_hooks;
}

bool sock_capture_writes_at_end(const struct sock_capture *sc)
{
	return sc->writes_at_end;
}

/* The programs become no-ops at once (they check the tgid first); the
 * links themselves go at close, which waits out a grace period per
 * tracepoint (about a second for all of them). */
/* Each tracepoint's detach waits out RCU grace periods under one global
 * kernel mutex: ~50 ms apiece, 1.7 s for all of them here, which was
 * nearly all of an exit's time. So they go on a thread of their own from
 * the signal on, while the rings drain and the rows are written. */
static void *detach_one(void *arg)
{
	struct bpf_link **link = arg;

	bpf_link__destroy(*link);
	*link = NULL;
	return NULL;
}

/* Each tracepoint link waits for an RCU grace period as it goes: one
 * after the other, 27 of them took 1.7 s here and 2.5 s on 16 cores.
 * Destroyed all at once, from a thread each, the waits overlap. */
static void *detach_links(void *arg)
{
	struct sock_capture *sc = arg;
	const struct bpf_object_skeleton *sk = sc->skel->skeleton;
	pthread_t tid[64];
	bool started[64] = { false };

	for (int i = 0; i < sk->prog_cnt; i++) {
		const struct bpf_prog_skeleton *ps =
			(const void *)((const char *)sk->progs + (size_t)i * sk->prog_skel_sz);

		if (!ps->link || !*ps->link)
			continue;
		if (i < 64 && !pthread_create(&tid[i], NULL, detach_one, ps->link))
			started[i] = true;
		else
			detach_one(ps->link);
	}
	for (int i = 0; i < sk->prog_cnt && i < 64; i++)
		if (started[i])
			pthread_join(tid[i], NULL);
	return NULL;
}

void sock_capture_quiesce(struct sock_capture *sc)
{
	__u64 *bits;

	if (!sc || !sc->skel)
		return;
	/* first: the programs stop sending at once, for every process */
	bits = sc->skel->bss->traced_bits;
	for (size_t i = 0; i < TRACED_WORDS; i++)
		if (bits[i])
			__atomic_store_n(&bits[i], 0, __ATOMIC_RELAXED);
	if (!sc->detaching && !pthread_create(&sc->detacher, NULL, detach_links, sc))
		sc->detaching = true;	/* else sock_bpf__destroy() detaches them */
}

void sock_capture_close(struct sock_capture *sc)
{
	long page = sysconf(_SC_PAGESIZE);

	if (!sc)
		return;
	if (sc->detaching)
		pthread_join(sc->detacher, NULL);
	sock_bpf__destroy(sc->skel);
	for (int i = 0; i < sc->nshards; i++) {
		if (sc->cons_pos[i])
			munmap((void *)sc->cons_pos[i], page);
		if (sc->prod_pos[i])
			munmap((void *)sc->prod_pos[i], page);
		if (sc->ring_fd[i] >= 0)
			close(sc->ring_fd[i]);
	}
	free(sc);
}

/* The programs' traced_bits, through the skeleton's mmap of .bss: an
 * atomic read-modify-write, as the programs read the words meanwhile. */
int sock_capture_add_tgid(struct sock_capture *sc, uint32_t tgid)
{
	if (tgid >= TRACED_TGID_LIMIT)
		return -ERANGE;
	__atomic_fetch_or(&sc->skel->bss->traced_bits[tgid / 64], 1ULL << (tgid % 64),
			  __ATOMIC_RELAXED);
	return 0;
}

int sock_capture_del_tgid(struct sock_capture *sc, uint32_t tgid)
{
	if (tgid >= TRACED_TGID_LIMIT)
		return -ERANGE;
	__atomic_fetch_and(&sc->skel->bss->traced_bits[tgid / 64], ~(1ULL << (tgid % 64)),
			   __ATOMIC_RELAXED);
	return 0;
}

int sock_capture_shards(const struct sock_capture *sc)
{
	return sc->nshards;
}

int sock_capture_shard_fd(const struct sock_capture *sc, int shard)
{
	return shard >= 0 && shard < sc->nshards ? sc->ring_fd[shard] : -1;
}

uint64_t sock_capture_unread(const struct sock_capture *sc, int shard)
{
	if (shard < 0 || shard >= sc->nshards || !sc->cons_pos[shard] || !sc->prod_pos[shard])
		return 0;
	return *sc->prod_pos[shard] - *sc->cons_pos[shard];
}

void sock_capture_counters(struct sock_capture *sc, uint64_t out[CNT_MAX])
{
	percpu_sum(bpf_map__fd(sc->skel->maps.counters), CNT_MAX, out);
}

const char *sock_capture_missing(struct sock_capture *sc)
{
	return sc->missing;
}

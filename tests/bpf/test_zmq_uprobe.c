// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Root selftest of bpf/zmq.bpf.c + user/capture/zmq_trace.c on a real libzmq: a
 * Python child (tests/bpf/zmq_peer.py) runs a pyzmq PUSH/PULL pair over
 * ipc:// step by step; we attach to the libzmq it maps, drive it, and
 * check what arrived: rids via ipc_parse(), direction, socket handles,
 * zmq_msg_t kinds, truncation, and that failed receives (EAGAIN) make
 * no records, only counters and the next record's fail summary.
 *
 * Usage: test_zmq_uprobe PYTHON PEER_SCRIPT */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <bpf/libbpf.h>
#include "capture/zmq_trace.h"
#include "proto/ipc.h"
#include "test.h"

int test_failures;
int test_checks;

#define MAX_RECS 256

struct rec {
	uint32_t type;
	struct zmq_msg_event msg;
	struct zmq_endpoint_event ep;
	struct zmq_loop_event loop;
	unsigned char data[ZMQ_DEFAULT_CAPTURE];
};

static struct rec recs[MAX_RECS];
static int nrecs;
static uint32_t child_pid;

static int on_record(void *ctx, void *data, size_t size)
{
	const uint32_t *type = data;
	struct rec *r;

	if (size < sizeof(*type) || nrecs >= MAX_RECS)
		return 0;
	r = &recs[nrecs];
	memset(r, 0, sizeof(*r));
	r->type = *type;
	switch (*type) {
	case EV_ZMQ_MSG:
		if (size < sizeof(r->msg))
			return 0;
		memcpy(&r->msg, data, sizeof(r->msg));
		if (r->msg.tgid != child_pid)
			return 0;
		if (r->msg.cap_len > sizeof(r->data) ||
		    size < sizeof(r->msg) + r->msg.cap_len) {
			fprintf(stderr, "  bad record size %zu cap_len %u\n", size,
				r->msg.cap_len);
			test_failures++;
			return 0;
		}
		memcpy(r->data, (const char *)data + sizeof(r->msg), r->msg.cap_len);
		break;
	case EV_ZMQ_ENDPOINT:
		if (size < sizeof(r->ep))
			return 0;
		memcpy(&r->ep, data, sizeof(r->ep));
		if (r->ep.tgid != child_pid)
			return 0;
		break;
	case EV_ZMQ_LOOP:
		if (size < sizeof(r->loop))
			return 0;
		memcpy(&r->loop, data, sizeof(r->loop));
		if (r->loop.tgid != child_pid)
			return 0;
		break;
	default:
		return 0;
	}
	nrecs++;
	return 0;
}

struct peer {
	FILE *in;	/* its stdin */
	FILE *out;	/* its stdout */
	pid_t pid;
	unsigned long long push, pull;
	char endpoint[256];
};

static int peer_start(struct peer *p, const char *python, const char *script)
{
	int to[2], from[2];
	char line[512];

	if (pipe(to) || pipe(from))
		return -errno;
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (!p->pid) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		close(to[1]);
		close(from[0]);
		execl(python, python, script, (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	p->in = fdopen(to[1], "w");
	p->out = fdopen(from[0], "r");
	if (!p->in || !p->out)
		return -ENOMEM;
	if (!fgets(line, sizeof(line), p->out))
		return -EIO;
	if (sscanf(line, "ready %u %llu %llu %255s", &child_pid, &p->push,
		   &p->pull, p->endpoint) != 4) {
		fprintf(stderr, "  peer said: %s", line);
		return -EPROTO;
	}
	return 0;
}

/* Sends one command and waits for its "ok"; false when it failed. */
static bool peer_do(struct peer *p, const char *fmt, ...)
{
	char line[512], cmd[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fprintf(p->in, "%s\n", cmd);
	fflush(p->in);
	while (fgets(line, sizeof(line), p->out)) {
		if (!strncmp(line, "ok ", 3))
			return true;
		if (!strncmp(line, "skip ", 5))
			return false;
	}
	fprintf(stderr, "  peer died during '%s'\n", cmd);
	return false;
}

static void drain(struct ring_buffer *rb)
{
	/* The records of a finished step are already in the ring. */
	int i;

	for (i = 0; i < 5; i++)
		if (ring_buffer__poll(rb, 20) < 0)
			break;
}

/* pyzmq's zero-copy sends (>= 64 KiB) make its garbage-collector thread
 * exchange 8-byte messages on an inproc socket of its own: match on the
 * socket, as the collector will. */
static int find_msg(int from, uint8_t dir, uint64_t sock)
{
	int i;

	for (i = from; i < nrecs; i++)
		if (recs[i].type == EV_ZMQ_MSG && recs[i].msg.dir == dir &&
		    recs[i].msg.sock == sock)
			return i;
	return -1;
}

static int count_type(int from, uint32_t type)
{
	int i, n = 0;

	for (i = from; i < nrecs; i++)
		n += recs[i].type == type;
	return n;
}

static bool rid_is(const struct rec *r, const char *rid, enum ipc_kind kind)
{
	struct ipc_msg m;
	char buf[128];

	if (ipc_parse(r->data, r->msg.cap_len, r->msg.truncated, &m))
		return false;
	if (m.kind != kind || m.nrids < 1)
		return false;
	ipc_rid_copy(&m, r->data, 0, buf, sizeof(buf));
	return !strcmp(buf, rid);
}

int main(int argc, char **argv)
{
	struct zmq_trace_opts opts = { .loop_gap_ns = 3000000 };
	uint64_t before[ZCNT_MAX], after[ZCNT_MAX];
	struct ring_buffer *rb = NULL;
	struct zmq_trace *zt = NULL;
	struct peer peer = { 0 };
	int s, r, i, err, mark;

	if (argc != 3) {
		fprintf(stderr, "usage: %s PYTHON tests/bpf/zmq_peer.py\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	zt = zmq_trace_open(&opts);
	if (!zt)
		return 1;
	err = peer_start(&peer, argv[1], argv[2]);
	if (err) {
		fprintf(stderr, "cannot start the peer: %s\n", strerror(-err));
		goto out;
	}
	err = zmq_trace_add_process(zt, child_pid, ZMQ_PF_LOOP);
	if (!ASSERT_EQ(err, 0, "attach to the peer's libzmq"))
		goto out;
	rb = ring_buffer__new(zmq_trace_ringbuf_fd(zt), on_record, NULL, NULL);
	if (!ASSERT_TRUE(rb, "ring buffer"))
		goto out;

	fprintf(stderr, "zmq_uprobe\n");

	/* bind/connect name the channel and its socket handles */
	peer_do(&peer, "connect");
	drain(rb);
	for (i = 0, s = 0; i < nrecs; i++) {
		if (recs[i].type != EV_ZMQ_ENDPOINT)
			continue;
		if (recs[i].ep.op == ZMQ_EP_BIND) {
			s |= 1;
			ASSERT_EQ(recs[i].ep.sock, peer.pull, "bind: PULL handle");
			ASSERT_STREQ(recs[i].ep.endpoint, peer.endpoint, "bind: endpoint");
		} else if (recs[i].ep.op == ZMQ_EP_CONNECT) {
			s |= 2;
			ASSERT_EQ(recs[i].ep.sock, peer.push, "connect: PUSH handle");
			ASSERT_STREQ(recs[i].ep.endpoint, peer.endpoint, "connect: endpoint");
		}
	}
	ASSERT_EQ(s, 3, "bind and connect records");
	fprintf(stderr, "  %-4s endpoints\n", s == 3 ? "ok" : "FAIL");

	/* Failed receives: counted in the kernel, no records. */
	zmq_trace_counters(zt, before);
	mark = nrecs;
	peer_do(&peer, "eagain 1000");
	drain(rb);
	zmq_trace_counters(zt, after);
	/* (An EV_ZMQ_LOOP may appear if the peer was preempted > 3 ms.) */
	s = count_type(mark, EV_ZMQ_MSG) + count_type(mark, EV_ZMQ_ENDPOINT);
	ASSERT_EQ(s, 0, "EAGAIN receives make no message records");
	ASSERT_EQ(after[ZCNT_EAGAIN] - before[ZCNT_EAGAIN], 1000,
		  "EAGAIN receives counted");
	fprintf(stderr, "  %-4s eagain_dropped\n", s == 0 ? "ok" : "FAIL");

	/* A pickled request: send carries the rid, receive too, and the
	 * send tells how many receives failed since the last record. */
	mark = nrecs;
	peer_do(&peer, "pickle rid-0123456789abcdef 20");
	drain(rb);
	s = find_msg(mark, ZMQ_DIR_SEND, peer.push);
	r = find_msg(mark, ZMQ_DIR_RECV, peer.pull);
	if (ASSERT_TRUE(s >= 0 && r >= 0, "pickle: send and recv records")) {
		ASSERT_TRUE(rid_is(&recs[s], "rid-0123456789abcdef",
				   IPC_KIND_TOKENIZED_GENERATE), "pickle: send rid");
		ASSERT_TRUE(rid_is(&recs[r], "rid-0123456789abcdef",
				   IPC_KIND_TOKENIZED_GENERATE), "pickle: recv rid");
		ASSERT_EQ(recs[s].msg.sock, peer.push, "send: PUSH handle");
		ASSERT_EQ(recs[r].msg.sock, peer.pull, "recv: PULL handle");
		ASSERT_EQ(recs[s].msg.fail_count, 1000, "send: failed receives before it");
		ASSERT_TRUE(recs[s].msg.fail_first_ts && recs[s].msg.fail_first_ts <
			    recs[s].msg.fail_last_ts, "send: fail window");
		ASSERT_TRUE(recs[s].msg.fail_last_ts < recs[s].msg.ts,
			    "send: after the failed receives");
		ASSERT_EQ(recs[r].msg.fail_count, 0, "recv: summary was taken");
		ASSERT_TRUE(recs[r].msg.ts_enter <= recs[r].msg.ts &&
			    recs[s].msg.ts <= recs[r].msg.ts, "recv: timestamps");
		ASSERT_EQ(recs[s].msg.size, recs[r].msg.size, "same size both ends");
		ASSERT_EQ(recs[s].msg.truncated, 0, "pickle: not truncated");
		ASSERT_EQ(recs[s].msg.tid, recs[r].msg.tid, "one Python thread");
		fprintf(stderr, "  info pickle %llu bytes: send kind %u, recv kind %u\n",
			(unsigned long long)recs[s].msg.size, recs[s].msg.msg_kind,
			recs[r].msg.msg_kind);
	}
	ASSERT_EQ(count_type(mark, EV_ZMQ_MSG), 2, "pickle: exactly two records");
	fprintf(stderr, "  %-4s pickle_rid\n", s >= 0 && r >= 0 ? "ok" : "FAIL");

	/* Small payloads stay inline in zmq_msg_t (VSM). */
	mark = nrecs;
	peer_do(&peer, "raw tiny-rid 20");
	drain(rb);
	s = find_msg(mark, ZMQ_DIR_SEND, peer.push);
	r = find_msg(mark, ZMQ_DIR_RECV, peer.pull);
	if (ASSERT_TRUE(s >= 0 && r >= 0, "vsm: records")) {
		ASSERT_EQ(recs[s].msg.msg_kind, ZMQ_MSG_VSM, "vsm: send kind");
		ASSERT_EQ(recs[r].msg.msg_kind, ZMQ_MSG_VSM, "vsm: recv kind");
		ASSERT_EQ(recs[r].msg.size, 20, "vsm: size");
		ASSERT_EQ(recs[r].msg.cap_len, 20, "vsm: captured");
		ASSERT_TRUE(!memcmp(recs[r].data, "tiny-ridxxxx", 12), "vsm: bytes");
	}
	fprintf(stderr, "  %-4s vsm\n", s >= 0 && r >= 0 ? "ok" : "FAIL");

	/* Large payloads (zero-copy send, content_t on both ends): the
	 * capture stops at the limit and says so. */
	mark = nrecs;
	peer_do(&peer, "raw big-rid 200000");
	drain(rb);
	s = find_msg(mark, ZMQ_DIR_SEND, peer.push);
	r = find_msg(mark, ZMQ_DIR_RECV, peer.pull);
	if (ASSERT_TRUE(s >= 0 && r >= 0, "large: records")) {
		ASSERT_TRUE(recs[s].msg.msg_kind == ZMQ_MSG_LMSG ||
			    recs[s].msg.msg_kind == ZMQ_MSG_CMSG, "large: send kind");
		ASSERT_TRUE(recs[r].msg.msg_kind == ZMQ_MSG_LMSG ||
			    recs[r].msg.msg_kind == ZMQ_MSG_ZCLMSG, "large: recv kind");
		ASSERT_EQ(recs[r].msg.size, 200000, "large: size");
		ASSERT_EQ(recs[r].msg.cap_len, ZMQ_DEFAULT_CAPTURE, "large: capped");
		ASSERT_EQ(recs[r].msg.truncated, 1, "large: truncated");
		ASSERT_TRUE(!memcmp(recs[s].data, "big-ridxxx", 10) &&
			    !memcmp(recs[r].data, "big-ridxxx", 10), "large: bytes");
		fprintf(stderr, "  info 200000 bytes: send kind %u, recv kind %u\n",
			recs[s].msg.msg_kind, recs[r].msg.msg_kind);
	}
	fprintf(stderr, "  %-4s large_truncated\n", s >= 0 && r >= 0 ? "ok" : "FAIL");

	/* A medium copy-sent payload: LMSG both ends, whole. */
	mark = nrecs;
	peer_do(&peer, "raw mid-rid 1000");
	drain(rb);
	r = find_msg(mark, ZMQ_DIR_RECV, peer.pull);
	if (ASSERT_TRUE(r >= 0, "medium: record")) {
		ASSERT_EQ(recs[r].msg.cap_len, 1000, "medium: whole");
		ASSERT_EQ(recs[r].msg.truncated, 0, "medium: not truncated");
		fprintf(stderr, "  info 1000 bytes: recv kind %u\n",
			recs[r].msg.msg_kind);
	}

	/* msgpack batch output with several rids */
	mark = nrecs;
	if (peer_do(&peer, "msgpack r1 r2 r3")) {
		struct ipc_msg m;
		char buf[64];

		drain(rb);
		r = find_msg(mark, ZMQ_DIR_RECV, peer.pull);
		if (ASSERT_TRUE(r >= 0, "msgpack: record") &&
		    ASSERT_EQ(ipc_parse(recs[r].data, recs[r].msg.cap_len, false, &m),
			      0, "msgpack: parses")) {
			ASSERT_EQ(m.kind, IPC_KIND_BATCH_TOKEN_ID_OUTPUT, "msgpack: kind");
			ASSERT_EQ(m.nrids, 3, "msgpack: rids");
			ipc_rid_copy(&m, recs[r].data, 2, buf, sizeof(buf));
			ASSERT_STREQ(buf, "r3", "msgpack: third rid");
		}
		fprintf(stderr, "  %-4s msgpack\n", r >= 0 ? "ok" : "FAIL");
	} else {
		fprintf(stderr, "  skip msgpack (no msgpack module)\n");
	}

	/* Scheduler-like pacing: failed receives 5 ms apart make one
	 * EV_ZMQ_LOOP each (threshold 3 ms). */
	mark = nrecs;
	peer_do(&peer, "eagain 5 0.005");
	drain(rb);
	s = count_type(mark, EV_ZMQ_LOOP);
	ASSERT_TRUE(s >= 4 && s <= 5, "loop: one record per gap");
	for (i = mark; i < nrecs; i++) {
		if (recs[i].type != EV_ZMQ_LOOP)
			continue;
		ASSERT_TRUE(recs[i].loop.ts_gap_end - recs[i].loop.ts_gap_start >=
			    3000000, "loop: gap over threshold");
		ASSERT_EQ(recs[i].loop.sock, peer.pull, "loop: PULL handle");
	}
	ASSERT_EQ(count_type(mark, EV_ZMQ_MSG), 0, "loop: no message records");
	fprintf(stderr, "  %-4s loop_gaps\n", s >= 4 ? "ok" : "FAIL");

	/* Detaching stops the records. */
	err = zmq_trace_remove_process(zt, child_pid);
	ASSERT_EQ(err, 0, "detach");
	mark = nrecs;
	peer_do(&peer, "pickle after-detach 3");
	drain(rb);
	ASSERT_EQ(nrecs - mark, 0, "no records after detach");

	zmq_trace_counters(zt, after);
	ASSERT_EQ(after[ZCNT_RINGBUF_FULL], 0, "no ring buffer drops");
	ASSERT_EQ(after[ZCNT_READ_FAULT], 0, "no read faults");
	ASSERT_EQ(after[ZCNT_BAD_MSG], 0, "no unknown zmq_msg_t types");
	ASSERT_EQ(after[ZCNT_MISSED_ENTER], 0, "no missed recv entries");
	for (i = 0; i < ZCNT_MAX; i++)
		fprintf(stderr, "  counter %-18s %llu\n", zmq_counter_name(i),
			(unsigned long long)after[i]);
	peer_do(&peer, "quit");
out:
	if (peer.in)
		fclose(peer.in);
	if (peer.pid > 0) {
		int status;

		waitpid(peer.pid, &status, 0);
	}
	if (peer.out)
		fclose(peer.out);
	ring_buffer__free(rb);
	zmq_trace_close(zt);
	printf("%d passed, %d failed\n", test_checks - test_failures, test_failures);
	return test_failures || err ? 1 : 0;
}

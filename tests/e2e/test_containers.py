# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A real SGLang worker in a container of its own (network, mount and pid
namespaces: tools/deploy/netns_worker.py), next to a worker on the host,
both behind the real sglang-router on the host. servetrace on the host
finds the container's processes, probes their libzmq through
/proc/PID/root (the venv is bind-mounted at a path the host does not
have), names the worker by the address the router uses, and writes rows
as complete as the host worker's."""
import json
import os
import subprocess
import sys

import pytest

from harness import ROOT, Deployment, Tracer, post_many, summary_counter, ts

ROUTER_PORT, HOST_PORT, CTR_PORT = 22600, 22601, 22605
HOST_ADDR, CTR_ADDR = "10.231.0.1", "10.231.0.2"
NAME = "stc%d" % (os.getpid() % 100000)   # this run's netns and veth names
NETNS = os.path.join(ROOT, "tools/deploy/netns_worker.py")
MIX = [("/generate", False), ("/generate", True), ("/v1/completions", False),
       ("/v1/completions", True), ("/v1/chat/completions", True), ("/generate", False),
       ("/v1/completions", False), ("/generate", True)]
# the scheduler's hops; a detokenizer already waiting in zmq_msg_recv when
# servetrace attaches misses its first message (any worker), so the
# detokenizer columns are required only when servetrace started first
SERVER_COLS = ["server_created_time", "tokenizer_send_time", "queue_time_start",
               "queue_time_end", "scheduler_last_output_time"]
DETOK_COLS = ["detokenizer_recv_time", "detokenizer_send_time", "tokenizer_recv_time"]


def netns(*args):
    return subprocess.run(["python3", NETNS, *args], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def skip_loudly(why):
    msg = "SKIPPED containers: " + why
    print("\n" + "!" * 70 + "\n" + msg + "\n" + "!" * 70, file=sys.stderr)
    pytest.skip(msg)


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def descendants(pid):
    out = []
    for c in children(pid):
        out += [c] + descendants(c)
    return out


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


@pytest.fixture(scope="module")
def run(request, tmp_path_factory):
    """servetrace (automatic, --wait) first, then the container worker, then
    the host worker and the router, which routes to both."""
    check = netns("check")
    if check.returncode:
        skip_loudly(check.stdout.strip())
    d = str(tmp_path_factory.mktemp("containers"))
    run_dir, ctr_dir = os.path.join(d, "run"), os.path.join(d, "container")
    # on every exit path: the container (its pid 1 killed, netns and veth removed)
    request.addfinalizer(lambda: netns("down", "--run-dir", ctr_dir, "--name", NAME))
    auto = Tracer(d, "--wait", name="auto")
    request.addfinalizer(lambda: auto.proc.poll() is None and auto.stop())
    up = netns("up", "--name", NAME, "--port", str(CTR_PORT), "--addr", CTR_ADDR,
               "--host-addr", HOST_ADDR, "--run-dir", ctr_dir)
    assert up.returncode == 0, up.stdout
    with open(os.path.join(ctr_dir, "netns.json")) as f:
        ctr = json.load(f)
    dep = Deployment(run_dir, "-n", "1", "--policy", "round_robin",
                     "--router-port", str(ROUTER_PORT), "--worker-port", str(HOST_PORT),
                     "--extra-worker-url", "http://%s:%d" % (CTR_ADDR, CTR_PORT))
    request.addfinalizer(dep.down)
    return d, dep, ctr, auto


def container_procs(ctr):
    """{host pid: comm} of the processes inside the container but its shell."""
    return {p: comm(p) for p in descendants(ctr["init_pid"])}


def container_main(ctr):
    """Host pids of the SGLang main processes in the container."""
    out = []
    for p in container_procs(ctr):
        try:
            with open("/proc/%d/cmdline" % p, "rb") as f:
                if b"sglang.launch_server" in f.read().split(b"\0"):
                    out.append(p)
        except OSError:
            pass
    return out


def check_rows(rows, sent, cols, same=True):
    host_w, ctr_w = "127.0.0.1:%d" % HOST_PORT, "%s:%d" % (CTR_ADDR, CTR_PORT)
    by_id = {}
    for r in rows:
        by_id.setdefault(r["req_id"], []).append(r)
    mine = []
    for rid, status in sent.items():
        assert status == 200, (rid, status)
        assert len(by_id.get(rid, [])) == 1, "%s appears %d times" % (rid, len(by_id.get(rid, [])))
        r = by_id[rid][0]
        mine.append(r)
        assert r["success"] == "True" and r["status"] == "200" and r["level"] == "router", r
        assert r["host"] in (host_w, ctr_w), r
        order = [ts(r, c) for c in ("arrival_time", "router_send_time", "server_created_time",
                                    "queue_time_start", "queue_time_end")]
        if r["stream"] == "True":
            order.append(ts(r, "server_first_token_time"))
        order.append(ts(r, "finish_time"))
        assert None not in order and order == sorted(order), (rid, order, r)
        for col in cols:
            assert r[col], (rid, col, r)
        assert r["has_generated_text"] == "True", r
        if r["path"] != "/v1/chat/completions" and not (r["stream"] == "True" and
                                                        r["path"] != "/generate"):
            assert r["actual_output_tokens"] == "8", r
        if r["stream"] == "True" and r["path"] == "/generate":
            assert r["output_tokens_from_trace"] == "8", r
    hosts = {r["host"] for r in mine}
    assert hosts == {host_w, ctr_w}, "round robin used both workers: %s" % hosts
    # the container's rows are as complete as the host's, kind by kind
    for path, stream in set(MIX):
        kind = [r for r in mine if r["path"] == path and r["stream"] == str(stream)]
        filled = {h: {c for c, v in r.items() if v} for r in kind for h in [r["host"]]}
        if len(filled) == 2 and same:
            assert filled[ctr_w] == filled[host_w], (path, stream, filled[ctr_w] ^ filled[host_w])
    return mine


def test_discovery_and_probes(run):
    """The container's SGLang processes are found by the automatic scan
    (host pids, roles) and their libzmq is probed through /proc/PID/root."""
    d, dep, ctr, auto = run
    procs = container_procs(ctr)
    main = container_main(ctr)
    sched = [p for p, c in procs.items() if c.startswith("sglang::schedul")]
    detok = [p for p, c in procs.items() if c.startswith("sglang::detoken")]
    assert len(main) == 1 and sched and detok, procs
    # they are in other namespaces than ours: host pids of another pid namespace
    for ns in ("pid", "mnt", "net"):
        assert os.readlink("/proc/%d/ns/%s" % (main[0], ns)) != os.readlink("/proc/self/ns/" + ns)
    with open("/proc/%d/status" % main[0]) as f:
        nspid = [l.split()[1:] for l in f if l.startswith("NSpid:")][0]
    assert len(nspid) == 2 and nspid[0] == str(main[0]), nspid
    # the libzmq it maps is at a path the host does not have
    with open("/proc/%d/maps" % sched[0]) as f:
        libs = {l.split()[-1] for l in f if "libzmq" in l and "/" in l}
    assert libs and all(l.startswith("/tmp/ctr/venv/") for l in libs), libs
    assert not any(os.path.exists(l) for l in libs), "the host has that path: not a test"
    err = auto.stderr()
    assert "tracing worker sglang" in err and "pid %d:" % main[0] in err, err
    for p in sched:
        assert "libzmq probes in scheduler pid %d (server %d)" % (p, main[0]) in err, err
    for p in detok:
        assert "libzmq probes in detokenizer pid %d (server %d)" % (p, main[0]) in err, err
    assert "not reachable through" not in err and "cannot probe libzmq" not in err, err


def test_rows_automatic(run):
    """Requests through the router to both workers: the container's rows
    name it as the router does (10.231.0.2:PORT) and are complete."""
    d, dep, ctr, auto = run
    sent = post_many(ROUTER_PORT, [(p, "ctr-auto-%d" % i, s) for i, (p, s) in enumerate(MIX)])
    rows, err = auto.stop()
    assert auto.proc.returncode == 0, err
    mine = check_rows(rows, sent, SERVER_COLS + DETOK_COLS)
    main = container_main(ctr)
    for r in mine:
        if r["host"].startswith(CTR_ADDR):
            assert int(r["worker_pid"]) in main, (r, main)
    assert summary_counter(err, "kernel: events dropped, ring buffer full") == 0
    print("\ncontainer rows: %d of %d on %s:%d" % (
        sum(r["host"].startswith(CTR_ADDR) for r in mine), len(mine), CTR_ADDR, CTR_PORT))


def test_rows_by_port(run):
    """--worker-port names the container's port: its listener lives in the
    container's network namespace, found there."""
    d, dep, ctr, _ = run
    t = Tracer(d, "--router-port", str(ROUTER_PORT), "--worker-port",
               "%d,%d" % (HOST_PORT, CTR_PORT), name="byport")
    sent = post_many(ROUTER_PORT, [(p, "ctr-port-%d" % i, s) for i, (p, s) in enumerate(MIX)])
    rows, err = t.stop()
    assert t.proc.returncode == 0, err
    assert "nothing is listening on TCP port %d" % CTR_PORT not in err, err
    check_rows(rows, sent, SERVER_COLS, same=False)

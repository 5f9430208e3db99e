# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Restarts under a running servetrace (automatic mode), on the real
sglang-router and 2 SGLang workers: a worker killed with SIGKILL while it
streams, then started again on its port; the router killed and started
again. In-flight requests are flagged, retried ones show both forwards,
the new processes are traced (their rows complete, scheduler columns
included), and every request the client sent has its row or is counted
as lost. How soon servetrace picked each new process up is printed,
never asserted (wall-clock)."""
import http.client
import json
import os
import threading
import time
import urllib.request

import pytest

from harness import (Deployment, StderrWatch, Tracer, post_many, request_body, start_time,
                     summary_counter)

ROUTER_PORT, WORKER_PORT = 22800, 22801
LONG = 800          # tokens: still generating when the kill comes (4 per worker fit 4096)
SERVER_COLS = ["server_created_time", "tokenizer_send_time", "queue_time_start",
               "queue_time_end", "scheduler_last_output_time"]
MIX = [("/generate", False), ("/generate", True), ("/v1/completions", False),
       ("/v1/completions", True), ("/v1/chat/completions", True), ("/generate", False),
       ("/v1/completions", False), ("/generate", True)]
LOSSES = ["exchanges evicted (memory limit)", "exchanges expired unfinished",
          "kernel: events dropped, ring buffer full", "exit: records left unread at the deadline"]


@pytest.fixture(scope="module")
def run(request, tmp_path_factory):
    d = str(tmp_path_factory.mktemp("restarts"))
    # health checked every second, no circuit breaker: a restarted worker
    # is routed to again within seconds
    dep = Deployment(os.path.join(d, "run"), "-n", "2", "--policy", "round_robin",
                     "--router-port", str(ROUTER_PORT), "--worker-port", str(WORKER_PORT),
                     "--worker-arg=--log-requests",
                     "--router-arg=--health-check-interval-secs 1 --health-failure-threshold 1 "
                     "--health-success-threshold 1 --disable-circuit-breaker")
    request.addfinalizer(dep.down)
    return d, dep


def stream(rid, out, max_tokens=LONG):
    """A streaming /generate; out[rid]: status, SSE events, [DONE] seen, error."""
    res = out[rid] = {"status": None, "events": 0, "done": False, "error": None}
    try:
        conn = http.client.HTTPConnection("127.0.0.1", ROUTER_PORT, timeout=120)
        conn.request("POST", "/generate", json.dumps(request_body("/generate", rid, True, max_tokens)),
                     {"content-type": "application/json", "x-request-id": rid})
        resp = conn.getresponse()
        res["status"] = resp.status
        while True:
            line = resp.readline()
            if not line:
                break
            if line.startswith(b"data:"):
                res["done"] |= b"[DONE]" in line
                res["events"] += b"[DONE]" not in line
        conn.close()
    except Exception as e:  # the kill: the test asserts on it
        res["error"] = repr(e)


def generate(rid, out, max_tokens=LONG):
    """A non-streaming /generate; out[rid]: status, error."""
    res = out[rid] = {"status": None, "error": None}
    try:
        conn = http.client.HTTPConnection("127.0.0.1", ROUTER_PORT, timeout=120)
        conn.request("POST", "/generate", json.dumps(request_body("/generate", rid, False, max_tokens)),
                     {"content-type": "application/json", "x-request-id": rid})
        resp = conn.getresponse()
        resp.read()
        res["status"] = resp.status
        conn.close()
    except Exception as e:
        res["error"] = repr(e)


def in_flight(prefix, n_stream, n_plain, stream_tokens=LONG):
    """Starts n_stream streams (of stream_tokens) and n_plain plain requests;
    returns (outcomes, threads) once every stream has its first event."""
    out, threads = {}, []
    for i in range(n_stream + n_plain):
        fn = stream if i < n_stream else generate
        rid = "%s-%s-%d" % (prefix, "s" if i < n_stream else "n", i)
        threads.append(threading.Thread(target=fn, args=(rid, out, stream_tokens if fn is stream else LONG)))
        threads[-1].start()
        time.sleep(0.05)
    deadline = time.time() + 60
    while time.time() < deadline and not all(
            out.get(r, {}).get("events") or out.get(r, {}).get("error")
            for r in out if "-s-" in r):
        time.sleep(0.05)
    time.sleep(0.3)
    return out, threads


def wait_router_healthy(n, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/workers" % ROUTER_PORT, timeout=2) as r:
                body = json.load(r)
            ws = body.get("workers", body) if isinstance(body, dict) else body
            if len([w for w in ws if w.get("is_healthy", True)]) >= n:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError("router did not see %d healthy workers" % n)


def rows_by_id(rows):
    by_id = {}
    for r in rows:
        by_id.setdefault(r["req_id"], []).append(r)
    return by_id


def check_accounted(by_id, rids, err):
    """Every request the client sent: one row, or counted as lost."""
    twice = [r for r in rids if len(by_id.get(r, [])) > 1]
    assert not twice, twice
    missing = [r for r in rids if r not in by_id]
    lost = sum(summary_counter(err, l) for l in LOSSES)
    print("requests sent %d, rows %d, missing %d, counted losses %d" %
          (len(rids), len(rids) - len(missing), len(missing), lost))
    assert len(missing) <= lost, "not written and not counted: %s" % missing


def check_complete(r, pid=None):
    assert r["success"] == "True" and r["status"] == "200", r
    for col in SERVER_COLS:
        assert r[col], (col, r)
    if pid:
        assert int(r["worker_pid"]) == pid, (pid, r)


def pickup(watch, what, pid, needle):
    """Seconds from pid's start to servetrace's line naming it (printed)."""
    t, line = watch.first(needle)
    born = start_time(pid)
    gap = None if t is None or born is None else t - born
    print("pick-up: %s pid %d traced %s after it started (%s)" %
          (what, pid, "never" if gap is None else "%.2f s" % gap, line))
    return gap


class ProbeableWatch:
    """When each scheduler became probeable: titled sglang::scheduler and
    libzmq mapped (polled every 20 ms). Before that servetrace cannot
    attach, so pick-up is measured from here too."""

    def __init__(self):
        self.seen, self._stop = {}, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            for p in os.listdir("/proc"):
                if not p.isdigit() or int(p) in self.seen:
                    continue
                try:
                    with open("/proc/%s/cmdline" % p, "rb") as f:
                        if not f.read(17).startswith(b"sglang::scheduler"):
                            continue
                    with open("/proc/%s/maps" % p) as f:
                        if "libzmq" in f.read():
                            self.seen[int(p)] = time.time()
                except OSError:
                    pass
            self._stop.wait(0.02)

    def stop(self):
        self._stop.set()
        self.thread.join()


def test_worker_killed_and_restarted(run):
    d, dep = run
    t = Tracer(d, name="worker")
    watch = StderrWatch(t)
    w0 = dep.info["workers"][0]
    w0_host, w1_host = "127.0.0.1:%d" % w0["port"], "127.0.0.1:%d" % dep.info["workers"][1]["port"]
    warm = post_many(ROUTER_PORT, [("/generate", "wk-warm-%d" % i, False) for i in range(4)])
    out, threads = in_flight("wk-fly", 6, 2)
    dep.kill(0)
    for th in threads:
        th.join(120)
    killed_log = dep.worker_log(w0["port"])
    probeable = ProbeableWatch()
    dep.start(0)
    probeable.stop()
    w0new = dep.info["workers"][0]
    wait_router_healthy(2)
    after = post_many(ROUTER_PORT, [(p, "wk-after-%d" % i, s) for i, (p, s) in enumerate(MIX)])
    time.sleep(1.5)   # a rescan after the last request
    rows, err = t.stop()
    watch.stop()
    assert t.proc.returncode == 0, err
    by_id = rows_by_id(rows)
    check_accounted(by_id, list(warm) + list(out) + list(after), err)

    for rid, st in list(warm.items()) + list(after.items()):
        assert st == 200, (rid, st)
        check_complete(by_id[rid][0])
    cut = [r for r, o in out.items() if "-s-" in r and not o["done"]]
    print("streams cut by the kill: %s" % cut)
    assert cut, "no stream was on the killed worker when it died: raise LONG (%s)" % out
    for rid, o in out.items():
        r = by_id[rid][0]
        if rid in cut:
            # the router had answered 200 and was streaming: it cannot retry
            assert r["success"] == "False" and (r["error"] or r["notes"]), r
            assert r["host"] == w0_host, r
        elif "-s-" in rid:
            assert o["done"] and r["success"] == "True", (o, r)
    # plain requests the dead worker held: the router retried them on the
    # other worker (a connection lost before any response is retryable)
    held = [rid for rid in out if "-n-" in rid and "rid='%s'" % rid in killed_log]
    print("plain requests held by the killed worker: %s; forwards %s" %
          (held, {rid: by_id[rid][0]["forwards"] for rid in out if "-n-" in rid}))
    assert held, "no plain request was on the killed worker: %s" % out
    for rid in held:
        r = by_id[rid][0]
        assert out[rid]["status"] == 200, out[rid]
        assert r["success"] == "True" and r["host"] == w1_host and r["forwards"] == "2", r
    assert summary_counter(err, "requests retried to another worker") >= len(held)

    # the restarted worker's processes were found and probed: its rows are complete
    on_new = [by_id[rid][0] for rid in after if by_id[rid][0]["host"] == w0_host]
    assert on_new, "the router sent nothing to the restarted worker"
    for r in on_new:
        check_complete(r, w0new["pid"])
    pickup(watch, "worker main", w0new["pid"], "pid %d:" % w0new["pid"])
    for p in w0new["scheduler_pids"]:
        gap = pickup(watch, "scheduler", p, "libzmq probes in scheduler pid %d " % p)
        ready, (t_probe, _) = probeable.seen.get(p), watch.first("libzmq probes in scheduler pid %d " % p)
        print("pick-up: scheduler pid %d titled with libzmq mapped %s after it started; probed "
              "%s after that" % (p, "%.2f s" % (ready - start_time(p)) if ready else "(not seen)",
                                 "%.2f s" % (t_probe - ready) if ready and t_probe else "(?)"))
    assert "process %d exited; no longer traced" % w0["pid"] in err, err


def test_router_restarted(run):
    d, dep = run
    t = Tracer(d, name="router")
    watch = StderrWatch(t)
    old = dep.info["router"]["pid"]
    warm = post_many(ROUTER_PORT, [("/generate", "rt-warm-%d" % i, False) for i in range(4)])
    # 2 streams per worker: longer ones fit, and outlast a slow start (all
    # 4 of 800 tokens once finished before the kill on a loaded machine)
    out, threads = in_flight("rt-fly", 4, 2, stream_tokens=1200)
    dep.kill("router")
    for th in threads:
        th.join(120)
    dep.start("router")
    new = dep.info["router"]["pid"]
    after = post_many(ROUTER_PORT, [(p, "rt-after-%d" % i, s) for i, (p, s) in enumerate(MIX)])
    time.sleep(1.5)
    rows, err = t.stop()
    watch.stop()
    assert t.proc.returncode == 0, err
    by_id = rows_by_id(rows)
    check_accounted(by_id, list(warm) + list(out) + list(after), err)
    for rid, st in list(warm.items()) + list(after.items()):
        assert st == 200, (rid, st)
        check_complete(by_id[rid][0])
        assert int(by_id[rid][0]["router_pid"]) == (old if rid.startswith("rt-warm") else new)
    cut = [rid for rid, o in out.items() if o["error"] or ("-s-" in rid and not o["done"])]
    print("requests cut by the router's death: %s" % cut)
    assert cut, "nothing was in flight when the router died: %s" % out
    for rid in cut:
        r = by_id[rid][0]
        assert r["success"] == "False" and (r["error"] or r["notes"]), r
        assert int(r["router_pid"]) == old, r
        assert r["host"] in ("127.0.0.1:%d" % WORKER_PORT, "127.0.0.1:%d" % (WORKER_PORT + 1)), r
    pickup(watch, "router", new, "pid %d:" % new)
    assert "process %d exited; no longer traced" % old in err, err

# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The query API, /metrics and --perfetto driven by --replay of the committed
recording (no root): servetrace --replay ... --listen 127.0.0.1:0
--serve-after-replay keeps serving what the replay produced, and every
answer is compared with the CSV of the same run.
Run: .venv/bin/python -m pytest tests/query"""
import collections
import csv
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVETRACE = os.path.join(ROOT, "servetrace")
RECORDING = os.path.join(ROOT, "tests/unit/data/router_sglang.strec")
sys.path.insert(0, os.path.join(ROOT, "tools/report"))
import check_trace  # noqa: E402

if not os.path.exists(SERVETRACE):
    pytest.skip("SKIPPED: servetrace not built (run make)", allow_module_level=True)


class Served:
    """servetrace --replay --listen 127.0.0.1:0 --serve-after-replay."""

    def __init__(self, d, *args, name="replay"):
        self.csv = os.path.join(d, name + ".csv")
        self.perfetto = os.path.join(d, name + ".json")
        ready = os.path.join(d, name + ".ready")
        self.errf = open(os.path.join(d, name + ".err"), "w+")
        self.proc = subprocess.Popen([SERVETRACE, "--replay", RECORDING, "-o", self.csv,
                                      "--perfetto", self.perfetto, "--listen", "127.0.0.1:0",
                                      "--serve-after-replay", "--ready-file", ready, *args],
                                     stdout=subprocess.DEVNULL, stderr=self.errf)
        deadline = time.time() + 30
        while not os.path.exists(ready):
            assert self.proc.poll() is None and time.time() < deadline, self.stderr()
            time.sleep(0.05)
        self.port = int(re.search(r"query API and /metrics on \S+ \(port (\d+)\)", self.stderr()).group(1))
        with open(self.csv, newline="") as f:
            self.rows = list(csv.DictReader(f))

    def stderr(self):
        self.errf.flush()
        self.errf.seek(0)
        return self.errf.read()

    def get(self, path, body=None, raw=None):
        """(status, parsed JSON or text)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=data,
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, text, ctype = r.status, r.read().decode(), r.headers.get("content-type", "")
        except urllib.error.HTTPError as e:
            status, text, ctype = e.code, e.read().decode(), e.headers.get("content-type", "")
        return status, json.loads(text) if ctype.startswith("application/json") else text

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(timeout=30)
        self.errf.close()
        return rc


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    s = Served(str(tmp_path_factory.mktemp("query")), "--routing-policy", "round_robin")
    yield s
    assert s.stop() == 0


def metric(text, name, **labels):
    """Sum of the samples of name whose labels include labels."""
    total, seen = 0.0, False
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total, seen = total + float(m.group(3)), True
    assert seen, (name, labels)
    return total


def test_stats_match_csv(served):
    rows = served.rows
    assert len(rows) > 10
    status, st = served.get("/v1/traces/stats")
    assert status == 200
    assert st["total_requests"] == len(rows) and st["active_traces"] == len(rows)
    assert st["in_flight_traces"] == 0
    assert st["requests_per_node"] == dict(collections.Counter(r["host"] for r in rows))
    assert st["requests_per_status"] == dict(collections.Counter(
        "success" if r["success"] == "True" else "error" for r in rows))


def test_each_trace_matches_its_row(served):
    for row in served.rows:
        status, t = served.get("/v1/traces/" + row["req_id"])
        assert status == 200, row["req_id"]
        assert t["request_id"] == row["req_id"] and t["node_id"] == row["host"]
        assert t["worker_url"] == "http://" + row["host"] and t["routing_policy"] == "round_robin"
        assert t["status"] == ("success" if row["success"] == "True" else "error")
        assert abs(t["timestamp"] - float(row["arrival_time"])) < 2e-6
        for col in ("arrival_time", "finish_time", "total_latency", "queue_time_start", "ttft"):
            want = row[col]
            got = t["timeline"][col]
            assert (got is None) if want == "" else abs(got - float(want)) < 2e-6, (col, got, want)


def test_batch_and_limit(served):
    ids = [r["req_id"] for r in served.rows]
    status, b = served.get("/v1/traces/batch", {"request_ids": ids[:3] + ["no-such-id"]})
    assert status == 200 and b["found"] == 3 and b["not_found"] == ["no-such-id"]
    assert [t["request_id"] for t in b["traces"]] == ids[:3]
    status, lst = served.get("/v1/traces?limit=5")
    assert status == 200 and lst["limit"] == 5 and len(lst["traces"]) == 5
    # newest first: the last rows written
    assert [t["request_id"] for t in lst["traces"]] == ids[::-1][:5]
    status, lst = served.get("/v1/traces?limit=1000")
    assert len(lst["traces"]) == len(ids)


def test_bad_requests(served):
    status, e = served.get("/v1/traces/no-such-id")
    assert status == 404 and "error" in e
    status, e = served.get("/v1/traces/batch", raw=b"{not json")
    assert status == 400 and "error" in e
    status, e = served.get("/v1/traces/batch", {"ids": ["x"]})
    assert status == 400 and "error" in e
    status, e = served.get("/v1/traces/batch", {"request_ids": ["x" * 200000]})
    assert status == 413 and "error" in e
    status, e = served.get("/v1/traces?limit=abc")
    assert status == 400 and "error" in e


def test_metrics_match_csv(served):
    rows = served.rows
    status, text = served.get("/metrics")
    assert status == 200
    n = len(rows)
    assert metric(text, "servetrace_requests_total") == n
    assert metric(text, "servetrace_total_latency_seconds_count") == n
    assert metric(text, "servetrace_total_latency_seconds_bucket", le="+Inf") == n
    lat = [float(r["total_latency"]) for r in rows]
    les = sorted({float(le) for le in re.findall(r'servetrace_total_latency_seconds_bucket\{.*le="([^"+]+)"', text)})
    assert les
    for le in les:
        c = metric(text, "servetrace_total_latency_seconds_bucket", le="%g" % le)
        assert sum(v <= le - 1e-6 for v in lat) <= c <= sum(v <= le + 1e-6 for v in lat), (le, c)
    for host in {r["host"] for r in rows}:
        want = sum(r["host"] == host and r["ttft"] != "" for r in rows)
        assert metric(text, "servetrace_ttft_seconds_count", worker=host) == want
    assert abs(metric(text, "servetrace_total_latency_seconds_sum") - sum(lat)) < 1e-4
    # the summary's counters, by their labels made names
    assert metric(text, "servetrace_lost_total", counter="rows_written") == n
    assert metric(text, "servetrace_lost_total", counter="exchanges_evicted_memory_limit") == 0


def test_perfetto_valid_and_private(served):
    assert check_trace.main([served.perfetto]) == 0
    events = check_trace.load(served.perfetto)
    requests = [e for e in events if e.get("ph") == "X" and e.get("cat") == "request"]
    ids = {r["req_id"] for r in served.rows}
    assert {e["name"] for e in requests} == ids
    assert any(e.get("ph") == "C" and e["name"] == "rows_written" for e in events)
    for path in (served.perfetto, served.csv):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


def test_bounded_store(tmp_path):
    s = Served(str(tmp_path), "--max-traces", "5")
    try:
        ids = [r["req_id"] for r in s.rows]
        st = s.get("/v1/traces/stats")[1]
        assert st["total_requests"] == len(ids) and st["active_traces"] == 5
        assert s.get("/v1/traces/" + ids[0])[0] == 404
        assert s.get("/v1/traces/" + ids[-1])[0] == 200
        assert s.get("/v1/traces/" + ids[0])[1]["error"]
    finally:
        assert s.stop() == 0


def test_listen_errors(tmp_path):
    out = str(tmp_path / "t.csv")
    res = subprocess.run([SERVETRACE, "--replay", RECORDING, "-o", out, "--listen", "localhost:80"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    assert res.returncode != 0 and "invalid --listen 'localhost:80'" in res.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = subprocess.run([SERVETRACE, "--replay", RECORDING, "-o", out, "--listen", str(port)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    assert res.returncode == 1 and "cannot listen on %d: Address already in use" % port in res.stderr


def test_no_symlink_followed(tmp_path):
    target = tmp_path / "target"
    link = tmp_path / "link.json"
    link.symlink_to(target)
    res = subprocess.run([SERVETRACE, "--replay", RECORDING, "-o", str(tmp_path / "t.csv"),
                          "--perfetto", str(link)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    assert res.returncode == 1 and "refusing to write %s: it is a symbolic link" % link in res.stderr
    assert not target.exists()

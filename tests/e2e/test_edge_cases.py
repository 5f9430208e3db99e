# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Protocol edge cases through the real sglang-router: retries, resets, a
worker that dies, SIGTERM with rows pending, a client that hangs up, the
router's own background traffic, and where req_id comes from. The upstreams
are edge_worker.py, whose logs say which upstream saw which rid, so every
expectation below is derived from what really happened, not guessed."""
import http.client
import json
import signal
import socket
import threading
import time

import pytest

from edge_deploy import EdgeDeployment, EdgeWorker, abort_after, http_get, pick_ports, rows_by_id
from harness import Tracer, post, post_many, request_body, summary_counter, ts
from strec import DIR_WRITE, SC_WRITEV, sock_events


@pytest.fixture
def deploy(tmp):
    """Makes EdgeDeployments and takes every one down, pass or fail."""
    made = []

    def make(base_port, workers, *router_args):
        d = EdgeDeployment(tmp, base_port, workers, router_args)
        made.append(d)
        return d

    yield make
    for d in made:
        d.down()


@pytest.fixture
def tracer(tmp):
    """Makes Tracers; one a test left running is killed at teardown."""
    made = []

    def make(*args, name="trace"):
        t = Tracer(tmp, *args, name=name)
        made.append(t)
        return t

    yield make
    for t in made:
        if t.proc.poll() is None:
            t.proc.kill()
            t.proc.wait()
        t.errf.close()


STAMPS = ("arrival_time", "router_send_time", "server_created_time", "finish_time")


def exactly_once(rows, rids, level="router"):
    """Every sent request is one row, and nothing else is; whatever stamps a
    row has are in time order, whatever went wrong."""
    by_id = rows_by_id(rows)
    counts = {rid: len(by_id.get(rid, [])) for rid in rids}
    assert all(n == 1 for n in counts.values()), counts
    assert len(rows) == len(rids), [r["req_id"] for r in rows]
    for r in rows:
        seen = [ts(r, c) for c in STAMPS if r[c]]
        assert seen == sorted(seen), r
        assert r["level"] == level and r["arrival_time"], r
    return {rid: by_id[rid][0] for rid in rids}


def wait_for(cond, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def gen(rid, stream=False, prompt="the quick brown fox jumps", path="/generate"):
    return request_body(path, rid, stream, prompt=prompt)


def test_retry_lands_on_other_worker(deploy, tracer):
    """A 503 is retried by the router: one row, every forward counted,
    host is the upstream that finally answered."""
    dep = deploy(21000, ["fail", "ok"])
    bad, good = dep.workers
    t = tracer(*dep.tracer_args(), name="retry")
    reqs = [("/generate", False), ("/generate", True), ("/v1/completions", False),
            ("/v1/completions", True), ("/generate", False), ("/generate", True)]
    rids = ["retry-%d" % i for i in range(len(reqs))]
    for rid, (path, stream) in zip(rids, reqs):
        status, _ = post(dep.port, path, request_body(path, rid, stream))
        assert status == 200, rid
    rows, err = t.stop()
    got = exactly_once(rows, rids)
    retried = 0
    for rid in rids:
        r, fails = got[rid], bad.answered(rid)
        assert good.answered(rid) == 1, rid
        assert r["success"] == "True" and r["error"] == "" and r["status"] == "200", r
        assert r["host"] == good.host, r
        assert int(r["forwards"]) == fails + 1, (r, fails)
        assert r["has_generated_text"] == "True", r
        retried += fails > 0
    # round robin sends some first attempts to the failing upstream
    assert retried > 0
    assert summary_counter(err, "requests retried to another worker") == retried
    assert summary_counter(err, "inference requests read by the router") == len(rids)
    assert summary_counter(err, "forwards written by the router") == len(rids) + retried
    assert summary_counter(err, "kernel: events dropped, ring buffer full") == 0


def test_concurrent_retries(deploy, tracer):
    """Retries of many requests at once interleave on the router's pooled
    connections: each forward must still be charged to its own request."""
    dep = deploy(21080, ["fail", "ok", "ok"])
    bad = dep.workers[0]
    t = tracer(*dep.tracer_args(), name="concurrent-retry")
    paths = ["/generate", "/v1/completions"]
    # not streamed: a lagging client makes the router coalesce SSE chunks,
    # which test_stream_flushed_in_one_big_writev covers on its own
    reqs = [(paths[i % 2], "conc-%d" % i, False) for i in range(24)]
    sent = post_many(dep.port, reqs)
    rows, err = t.stop()
    assert all(isinstance(s, int) for s in sent.values()), sent
    # retries in lockstep advance the round robin together: now and then
    # one request meets the failing worker on all 6 attempts and the router
    # gives up (a CI run saw it). Its row must say exactly that.
    assert sum(s == 200 for s in sent.values()) >= len(reqs) - 2, sent
    got = exactly_once(rows, [rid for _, rid, _ in reqs])
    for _, rid, _ in reqs:
        r = got[rid]
        answered = [w for w in dep.workers[1:] if w.answered(rid)]
        if sent[rid] != 200:
            assert sent[rid] >= 500 and not answered and bad.answered(rid) >= 2, (rid, sent[rid])
            assert int(r["forwards"]) == bad.answered(rid), (r, bad.answered(rid))
            assert r["success"] == "False" and r["status"] == str(sent[rid]), r
            assert r["host"] == bad.host, r
            continue
        assert len(answered) == 1, rid
        assert r["host"] == answered[0].host, r
        assert int(r["forwards"]) == bad.answered(rid) + 1, (r, bad.answered(rid))
        assert r["success"] == "True", r
    assert summary_counter(err, "inference requests read by the router") == len(reqs)
    assert summary_counter(err, "forwards written by the router") == sum(int(r["forwards"]) for r in rows)
    assert summary_counter(err, "kernel: events dropped, ring buffer full") == 0


def test_reset_without_retries_is_a_failed_row(deploy, tracer):
    """The upstream resets the connection; with retries off the router
    answers the client 500: that request's row fails, with the error."""
    dep = deploy(21010, ["reset", "ok"], "--disable-retries")
    rst, good = dep.workers
    t = tracer(*dep.tracer_args(), name="reset")
    rids = ["reset-%d" % i for i in range(6)]
    sent = {rid: post(dep.port, "/generate", gen(rid))[0] for rid in rids}
    rows, err = t.stop()
    got = exactly_once(rows, rids)
    nreset = 0
    for rid in rids:
        r = got[rid]
        assert r["forwards"] == "1", r
        if rst.answered(rid):
            nreset += 1
            assert sent[rid] == 500, (rid, sent[rid])
            assert r["success"] == "False" and r["status"] == "500", r
            assert r["error"].startswith("HTTP 500"), r
            assert r["host"] == rst.host, r
        else:
            assert sent[rid] == 200 and good.answered(rid) == 1, rid
            assert r["success"] == "True" and r["error"] == "" and r["host"] == good.host, r
    assert 0 < nreset < len(rids)
    # the router's read of each reset connection fails
    assert summary_counter(err, "failed reads/writes (resets)") >= nreset


def test_reset_retried_until_router_gives_up(deploy, tracer):
    """Every attempt is reset: still one row, with every attempt counted."""
    dep = deploy(21015, ["reset"], "--retry-max-retries", "2", "--retry-initial-backoff-ms", "10")
    (rst,) = dep.workers
    t = tracer(*dep.tracer_args(), name="reset-retried")
    rids = ["gaveup-0", "gaveup-1"]
    sent = {rid: post(dep.port, "/generate", gen(rid))[0] for rid in rids}
    rows, err = t.stop()
    got = exactly_once(rows, rids)
    for rid in rids:
        r = got[rid]
        assert sent[rid] >= 500, sent
        assert rst.answered(rid) >= 2, rid
        assert int(r["forwards"]) == rst.answered(rid), r
        assert r["success"] == "False" and r["status"] == str(sent[rid]), r
        assert r["error"].startswith("HTTP %d" % sent[rid]), r
        assert r["host"] == rst.host, r


def send_until_received_by(dep, worker, prefix, prompt):
    """Round robin decides where a request goes: send one at a time until
    `worker` has one in hand. Returns (rid, thread, result, rids of the
    requests that went elsewhere)."""
    others = []
    for i in range(2 * len(dep.workers)):
        rid, res = "%s-%d" % (prefix, i), {}

        def one(rid=rid, res=res):
            res["status"] = post(dep.port, "/generate", gen(rid, prompt=prompt))[0]

        th = threading.Thread(target=one)
        th.start()
        wait_for(lambda: "status" in res or worker.received(rid), what=rid)
        if worker.received(rid):
            return rid, th, res, others
        th.join()
        others.append(rid)
    raise AssertionError("round robin never chose %s" % worker.host)


def test_worker_killed_mid_run(deploy, tracer):
    """A traced upstream dies (with a request in hand): servetrace drops it,
    keeps tracing the rest and exits cleanly."""
    dep = deploy(21020, ["ok", "ok"])
    keep, doomed = dep.workers
    t = tracer(*dep.tracer_args(), name="killed")
    rids = ["before-%d" % i for i in range(4)]
    for rid in rids:
        assert post(dep.port, "/generate", gen(rid))[0] == 200
    # a request the doomed upstream holds (slow) when it is killed
    victim, th, res, others = send_until_received_by(dep, doomed, "victim",
                                                          "slow edge_delay=30@%d" % doomed.port)
    rids += others + [victim]
    doomed.proc.kill()
    doomed.proc.wait()
    wait_for(lambda: "%d exited; no longer traced" % doomed.pid in t.stderr(), what="no longer traced")
    th.join(60)
    after = ["after-%d" % i for i in range(4)]
    statuses = {rid: post(dep.port, "/generate", gen(rid))[0] for rid in after}
    rows, err = t.stop()
    assert t.proc.returncode == 0, err
    assert "servetrace summary" in err
    got = exactly_once(rows, rids + after)
    for rid in rids[:4]:
        assert got[rid]["success"] == "True", got[rid]
    # the router saw the upstream's connection die and retried elsewhere
    r = got[victim]
    assert res["status"] == 200 and keep.answered(victim) == 1, res
    assert r["success"] == "True" and r["host"] == keep.host, r
    # a retry to the dead port is refused at connect: nothing written, no forward
    assert int(r["forwards"]) == doomed.received(victim) + 1 == 2, r
    for rid in after:
        assert statuses[rid] == 200, statuses
        assert got[rid]["success"] == "True" and got[rid]["host"] == keep.host, got[rid]


def test_sigterm_writes_pending_rows(deploy, tracer):
    """SIGTERM while rows wait out their linger and one request is still
    in flight: all are written, the unfinished one flagged, exit 0."""
    dep = deploy(21030, ["ok", "ok"])
    t = tracer(*dep.tracer_args(), "--linger", "600000", name="sigterm")
    done = ["done-%d" % i for i in range(3)]
    for rid in done:
        assert post(dep.port, "/generate", gen(rid))[0] == 200
    res = {}
    th = threading.Thread(target=lambda: res.update(
        status=post(dep.port, "/generate", gen("inflight", prompt="slow edge_delay=4"))[0]))
    th.start()
    wait_for(lambda: any(w.received("inflight") for w in dep.workers), what="inflight received")
    rows, err = t.stop(signal.SIGTERM)
    th.join(60)
    assert t.proc.returncode == 0, err
    got = exactly_once(rows, done + ["inflight"])
    for rid in done:
        assert got[rid]["success"] == "True" and got[rid]["finish_time"], got[rid]
    r = got["inflight"]
    assert r["host"] == [w.host for w in dep.workers if w.received("inflight")][0], r
    assert r["success"] == "False" and r["finish_time"] == "" and r["error"] == "in_flight_at_exit", r
    assert r["arrival_time"] and r["router_send_time"] and r["server_created_time"], r
    assert summary_counter(err, "rows written") == 4
    assert summary_counter(err, "requests in flight at exit (written, flagged)") == 1
    assert res["status"] == 200


def test_client_abort(deploy, tracer):
    """The client hangs up 0.2 s into a 2 s request. What the router does:
    it drops the request's future, which closes its connection to the
    upstream, so the upstream's late answer goes nowhere (BrokenPipe in its
    edge-*.out) and the client got nothing. The row says client_aborted,
    with no status and no finish, on the upstream that had it; the next
    request is unaffected."""
    dep = deploy(21040, [{"mode": "ok", "delay": 2}])
    (slow,) = dep.workers
    t = tracer(*dep.tracer_args(), name="abort")
    abort_after(dep.port, "/generate", gen("aborted"), 0.2)
    wait_for(lambda: slow.answered("aborted"), what="upstream done with the aborted request")
    assert post(dep.port, "/generate", gen("after"))[0] == 200
    rows, err = t.stop()
    got = exactly_once(rows, ["aborted", "after"])
    r = got["aborted"]
    assert r["success"] == "False" and r["error"] == "client_aborted", r
    assert r["status"] == "" and r["finish_time"] == "", r
    assert r["host"] == slow.host and r["arrival_time"] and r["router_send_time"], r
    assert summary_counter(err, "client aborts") == 1
    assert got["after"]["success"] == "True" and got["after"]["error"] == "", got["after"]


def test_background_traffic_is_not_a_row(deploy, tracer):
    """Health checks (the router's own, every second here) and the client's
    GETs are counted as ignored; only the POSTs are rows."""
    dep = deploy(21050, ["ok", "ok"], "--health-check-interval-secs", "1")
    t = tracer(*dep.tracer_args(), name="background")
    gets = ["/health", "/readiness", "/liveness", "/workers", "/v1/models", "/get_model_info"]
    for path in gets:
        assert http_get(dep.port, path)[0] is not None, path
    start = time.time()
    rids = ["bg-0", "bg-1"]
    for rid in rids:
        assert post(dep.port, "/generate", gen(rid))[0] == 200

    def health_checks():
        n = 0
        for w in dep.workers:
            with open(w.log) as f:
                n += sum(1 for line in f if '"GET /health' in line and float(line.split()[0]) > start)
        return n

    wait_for(lambda: health_checks() >= 2 * len(dep.workers), what="router health checks")
    rows, err = t.stop()
    exactly_once(rows, rids)
    # each GET is seen where the router reads it, each health check where the
    # router writes it (the worker's side of it may be seen too: at least)
    assert summary_counter(err, "ignored requests (health, metrics, GETs)") >= len(gets) + health_checks()
    assert summary_counter(err, "inference requests read by the router") == len(rids)
    assert summary_counter(err, "forwards written by the router") == len(rids)


def test_request_id_sources(deploy, tracer):
    """x-request-id alone and body rid alone each name the row; the id the
    router makes up for its response must not. With neither, the id the
    worker answered with (SGLang's meta_info.id) is used."""
    dep = deploy(21060, ["ok", "ok"])
    t = tracer(*dep.tracer_args(), name="rid")

    def without_rid(path, stream=False):
        body = request_body(path, None, stream)
        del body["rid"]
        return body

    assert post(dep.port, "/generate", without_rid("/generate"), rid="hdr-gen")[0] == 200
    assert post(dep.port, "/v1/completions", without_rid("/v1/completions", True), rid="hdr-comp")[0] == 200
    assert post(dep.port, "/generate", gen("body-gen"))[0] == 200
    assert post(dep.port, "/v1/completions", request_body("/v1/completions", "body-comp", True))[0] == 200
    status, body = post(dep.port, "/generate", without_rid("/generate"))
    assert status == 200
    worker_id = json.loads(body)["meta_info"]["id"]
    rows, err = t.stop()
    got = exactly_once(rows, ["hdr-gen", "hdr-comp", "body-gen", "body-comp", worker_id])
    for rid in ("hdr-gen", "hdr-comp"):
        assert got[rid]["rid_source"] == "header", got[rid]
    for rid in ("body-gen", "body-comp"):
        assert got[rid]["rid_source"] == "body", got[rid]
    assert got[worker_id]["rid_source"] == "sglang", got[worker_id]
    for r in rows:
        assert r["success"] == "True" and r["has_generated_text"] == "True", r


# Once bugs: a writev of more iovecs than we copied, and a read blocked
# before attach. Kept as regression tests.


def chunks(raw):
    """The chunks' data of one chunked HTTP/1.1 response (head included in raw)."""
    at = raw.index(b"\r\n\r\n") + 4
    out = []
    while True:
        eol = raw.index(b"\r\n", at)
        size = int(raw[at:eol].split(b";")[0], 16)
        if size == 0:
            return out
        out.append(raw[eol + 2:eol + 2 + size])
        at = eol + 2 + size + 2


def dechunk(raw):
    """The body of one chunked HTTP/1.1 response (head included in raw)."""
    return b"".join(chunks(raw))


def test_stream_flushed_in_one_big_writev(deploy, tracer):
    """A client that reads late makes the router queue SSE chunks and flush
    them in one writev of many iovecs (3 per chunk): every one of them is
    the client's stream, so the row must still be complete."""
    ntok = 20000
    dep = deploy(21090, [{"mode": "ok", "token_gap": 0}])
    t = tracer(*dep.tracer_args(), name="writev")
    body = json.dumps(request_body("/v1/completions", "late-reader", True, max_tokens=ntok)).encode()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)  # fills at once
    s.connect(("127.0.0.1", dep.port))
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
              b"content-length: %d\r\n\r\n%s" % (len(body), body))
    wait_for(lambda: dep.workers[0].answered("late-reader"), what="upstream answered")
    time.sleep(1)  # not a measurement: lets the router block on the full socket
    got = b""
    while not got.endswith(b"0\r\n\r\n"):
        piece = s.recv(65536)
        assert piece, "router closed early"
        got += piece
    s.close()
    # the router re-chunks: a "data: " may straddle two chunks, so count
    # in the de-chunked body, not in the bytes on the wire
    assert dechunk(got).count(b"data: ") == ntok + 2  # tokens, usage, [DONE]
    rows, err = t.stop()
    to_client = [ev for ev in sock_events(t.record) if ev["tgid"] == dep.pid
                 and ev["lport"] == dep.port and ev["dir"] == DIR_WRITE]
    r = exactly_once(rows, ["late-reader"])["late-reader"]
    assert r["success"] == "True" and r["error"] == "" and r["finish_time"], r
    # The router re-chunks the worker's one big write at its reads, so an
    # event may straddle two chunks; the kernel counts an event where its
    # "data:" starts a chunk, so one split inside "data:" goes uncounted
    # when held back (19999 in 2 of 10 runs). Never more than the count
    # of held-back chunks that began mid-event, and never above.
    split = summary_counter(err, "kernel: held-back SSE chunks starting mid-event")
    tokens = int(r["output_tokens_from_trace"])
    print("late reader: %d tokens counted, %d held-back chunks began mid-event" % (tokens, split))
    assert ntok - split <= tokens <= ntok, (tokens, split, r)
    # the flushes went through the kernel's iovec walk: sent cut at the
    # capture size (the iovecs it copies), or held back as SSE and counted
    # (what the kernel does with them; the test skipped when none was sent)
    big = [ev for ev in to_client if ev["syscall"] == SC_WRITEV and ev["truncated"]]
    held = summary_counter(err, "SSE calls the kernel held back")
    print("router writes to the client: %d sent (%d of them writev), %d big writevs sent cut, "
          "%d calls held back" % (len(to_client), sum(ev["syscall"] == SC_WRITEV for ev in to_client),
                                  len(big), held))
    assert any(ev["syscall"] == SC_WRITEV for ev in to_client), "the router wrote no writev"
    assert big or held > 1000, "the flushes were neither sent nor held back"


def test_request_read_by_a_call_started_before_attach(tmp, tracer):
    """A blocking server (one thread per connection, parked in recv) with a
    keep-alive connection open before tracing: both requests sent after
    attaching are rows. Node level, no router: the bug in its smallest form."""
    w = EdgeWorker(tmp, pick_ports(21070, 1)[0])
    try:
        conn = http.client.HTTPConnection("127.0.0.1", w.port, timeout=30)

        def one(rid):
            conn.request("POST", "/generate", json.dumps(gen(rid)), {"content-type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            return resp.status

        assert one("pre-attach") == 200
        # the handler thread is now blocked reading the next request
        wait_for(lambda: w.answered("pre-attach"), what="pre-attach logged")
        t = tracer("--worker-pid", str(w.pid), name="blocked-read")
        assert one("post-1") == 200 and one("post-2") == 200
        conn.close()
        rows, err = t.stop()
    finally:
        w.stop()
    got = exactly_once(rows, ["post-1", "post-2"], level="node")
    for r in got.values():
        assert r["success"] == "True" and r["server_created_time"], r

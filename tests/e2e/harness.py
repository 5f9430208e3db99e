# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""What the end-to-end tests drive: the real deployment scripts under
tools/deploy, the servetrace binary, and plain HTTP clients."""
import csv
import http.client
import json
import os
import signal
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVETRACE = os.path.join(ROOT, "servetrace")


class Deployment:
    """tools/deploy/up.sh ... ; down.sh on close."""

    def __init__(self, run_dir, *args):
        self.run_dir = run_dir
        cmd = [os.path.join(ROOT, "tools/deploy/up.sh"), "--run-dir", run_dir, *args]
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if res.returncode:
            self.down()
            raise RuntimeError("deployment failed:\n" + res.stdout[-4000:])
        with open(os.path.join(run_dir, "deploy.json")) as f:
            self.info = json.load(f)

    @property
    def router_port(self):
        return self.info["router"]["port"] if self.info.get("router") else None

    @property
    def worker_ports(self):
        return [w["port"] for w in self.info["workers"]]

    def worker_log(self, port):
        with open(os.path.join(self.run_dir, f"worker-{port}.log"), errors="replace") as f:
            return f.read()

    def down(self):
        subprocess.run([os.path.join(ROOT, "tools/deploy/down.sh"), "--run-dir", self.run_dir],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def _member(self, verb, who):
        """tools/deploy/deploy.py kill|start --worker I|--router; the state re-read."""
        which = ["--router"] if who == "router" else ["--worker", str(who)]
        res = subprocess.run(["python3", os.path.join(ROOT, "tools/deploy/deploy.py"), verb,
                              "--run-dir", self.run_dir, *which],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if res.returncode:
            raise RuntimeError(f"deploy {verb} {who} failed:\n" + res.stdout[-4000:])
        with open(os.path.join(self.run_dir, "deploy.json")) as f:
            self.info = json.load(f)

    def kill(self, who):
        """SIGKILL worker index who (or "router") with its children; waits for its port."""
        self._member("kill", who)

    def start(self, who):
        """Start it again on its port; returns when ready (self.info has the new pids)."""
        self._member("start", who)


def start_time(pid):
    """When pid started, in time.time() seconds (10 ms ticks), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None
    since_boot = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    return time.time() - since_boot


class StderrWatch:
    """When each of servetrace's stderr lines first appeared (polled every
    10 ms): servetrace does not time-stamp them itself."""

    def __init__(self, tracer):
        self.tracer, self.seen, self._stop = tracer, {}, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            now = time.time()
            with open(self.tracer.errf.name, errors="replace") as f:
                text = f.read()
            for line in text.splitlines():
                self.seen.setdefault(line, now)
            self._stop.wait(0.01)

    def first(self, needle):
        """(time, line) of the first line holding needle, or (None, None)."""
        hits = sorted((t, l) for l, t in self.seen.items() if needle in l)
        return hits[0] if hits else (None, None)

    def stop(self):
        self._stop.set()
        self.thread.join()


class Tracer:
    """servetrace in the background; stop() returns (rows, stderr)."""

    def __init__(self, tmpdir, *args, name="trace", env=None, record=True):
        """record=False: no --record (which keeps one collector thread);
        env: more environment variables."""
        self.csv = os.path.join(tmpdir, name + ".csv")
        self.ready = os.path.join(tmpdir, name + ".ready")
        self.errf = open(os.path.join(tmpdir, name + ".err"), "w+")
        if os.path.exists(self.ready):
            os.unlink(self.ready)
        self.record = os.path.join(tmpdir, name + ".strec") if record else None
        rec = ["--record", self.record] if record else []
        self.proc = subprocess.Popen([SERVETRACE, "-q", "-o", self.csv, "--ready-file", self.ready,
                                      *rec, *args], env=dict(os.environ, **(env or {})),
                                     stdout=subprocess.DEVNULL, stderr=self.errf)
        deadline = time.time() + 30
        while not os.path.exists(self.ready):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("servetrace did not attach:\n" + self.stderr())
            time.sleep(0.05)

    def stderr(self):
        self.errf.flush()
        self.errf.seek(0)
        return self.errf.read()

    def stop(self, sig=signal.SIGINT):
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)
        return read_rows(self.csv), self.stderr()


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def summary_counter(stderr, label):
    """A number from servetrace's exit summary, by its label."""
    for line in stderr.splitlines():
        if line.strip().startswith(label):
            return int(line.split()[-1])
    raise KeyError(label)


def request_body(path, rid, stream, max_tokens=8, prompt="the quick brown fox jumps"):
    if path == "/generate":
        return {"text": prompt, "rid": rid, "stream": stream,
                "sampling_params": {"max_new_tokens": max_tokens, "temperature": 0, "ignore_eos": True}}
    if path == "/v1/completions":
        return {"model": "default", "prompt": prompt, "max_tokens": max_tokens, "rid": rid,
                "stream": stream, "temperature": 0, "ignore_eos": True}
    return {"model": "default", "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens, "rid": rid, "stream": stream, "temperature": 0}


def post(port, path, body, rid=None, timeout=120):
    """One POST; returns (status, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"content-type": "application/json"}
    if rid:
        headers["x-request-id"] = rid
    conn.request("POST", path, json.dumps(body), headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def post_many(port, reqs):
    """reqs: [(path, rid, stream)], sent concurrently. Returns {rid: status}."""
    out = {}

    def one(path, rid, stream):
        try:
            out[rid] = post(port, path, request_body(path, rid, stream), rid)[0]
        except Exception as e:  # recorded, the test asserts on it
            out[rid] = repr(e)

    threads = [threading.Thread(target=one, args=r) for r in reqs]
    for t in threads:
        t.start()
        time.sleep(0.01)
    for t in threads:
        t.join()
    return out


def open_conns(port):
    """TCP connections whose local port is port, not yet closed by their
    owner (TIME_WAIT and listeners left out)."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as f:
            next(f)
            for line in f:
                cols = line.split()
                if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] not in ("06", "0A"):
                    n += 1
    return n


def wait_conns_closed(port, timeout=30):
    """Waits until the server on port has closed every connection to it."""
    deadline = time.monotonic() + timeout
    while open_conns(port):
        if time.monotonic() > deadline:
            raise AssertionError(f"connections to :{port} still open after {timeout} s")
        time.sleep(0.05)


def ts(row, col):
    return float(row[col]) if row.get(col) else None

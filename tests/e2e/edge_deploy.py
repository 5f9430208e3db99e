# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The real sglang-router in front of edge_worker.py upstreams: a deployment
whose protocol misbehaviour (503s, resets, slowness, a dead worker) the test
chooses, while the router's retries and health checks stay the real ones."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from harness import ROOT

EDGE_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "edge_worker.py")


def router_python():
    """tools/install_python.sh puts the router in its own venv when it can."""
    for venv in (".venv/router", ".venv"):
        py = os.path.join(ROOT, venv, "bin/python")
        if os.path.exists(py):
            return py
    return sys.executable


def port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pick_ports(base, n):
    """n bindable ports from base up. Bases stay below the ephemeral range
    (32768+), but the machine is shared: a port can still be taken."""
    out, port = [], base
    while len(out) < n:
        if port_free(port):
            out.append(port)
        port += 1
    return out


def stop_proc(proc, sig=signal.SIGTERM, timeout=10):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def http_get(port, path, timeout=5):
    """(status, body); a refused connection or an error status is data here."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return None, b""


class EdgeWorker:
    """One edge_worker.py; its --log says which rids it saw and answered."""

    def __init__(self, run_dir, port, mode="ok", delay=0.0, token_gap=0.002):
        self.port, self.mode = port, mode
        self.log = os.path.join(run_dir, "edge-%d.log" % port)
        self.out = open(os.path.join(run_dir, "edge-%d.out" % port), "w")
        self.proc = subprocess.Popen([sys.executable, EDGE_WORKER, "--port", str(port), "--mode", mode,
                                      "--delay", str(delay), "--token-gap", str(token_gap),
                                      "--log", self.log],
                                     stdout=self.out, stderr=subprocess.STDOUT)
        try:
            self.wait_up()
        except Exception:
            self.stop()
            raise

    def wait_up(self, timeout=30):
        """Up when the port answers with our pid, not merely accepts."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("edge_worker on port %d exited with %s" % (self.port, self.proc.returncode))
            status, body = http_get(self.port, "/get_server_info", timeout=1)
            if status == 200 and json.loads(body).get("pid") == self.proc.pid:
                return
            time.sleep(0.05)
        raise RuntimeError("edge_worker not up on port %d after %d s" % (self.port, timeout))

    @property
    def pid(self):
        return self.proc.pid

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    def posts(self):
        """[(what, rid, xrid)] per POST line: what is 'recv', 'reset' or the status."""
        out = []
        if not os.path.exists(self.log):
            return out
        with open(self.log) as f:
            for line in f:
                m = re.search(r'"POST [^"]*" (recv|reset|\d{3}).* rid=(\S+) xrid=(\S+)$', line) or \
                    re.search(r'(recv) "POST [^"]*" rid=(\S+) xrid=(\S+)$', line)
                if m:
                    out.append(m.groups())
        return out

    def answered(self, rid):
        """How many times this upstream answered or reset a POST of rid."""
        return sum(1 for what, r, _ in self.posts() if r == rid and what != "recv")

    def received(self, rid):
        return sum(1 for what, r, _ in self.posts() if r == rid and what == "recv")

    def stop(self):
        stop_proc(self.proc)
        self.out.close()


class EdgeDeployment:
    """The router and its upstreams on free ports from base_port up. Circuit
    breaker off so a failing upstream keeps being chosen (the tests count
    on the router's policy, not on its breaker's timing)."""

    def __init__(self, run_dir, base_port, workers, router_args=()):
        ports = pick_ports(base_port, len(workers) + 2)
        router_port, prometheus_port = ports[0], ports[-1]
        self.run_dir, self.port = run_dir, router_port
        self.workers, self.router = [], None
        try:
            for port, spec in zip(ports[1:], workers):
                spec = dict(spec) if isinstance(spec, dict) else {"mode": spec}
                self.workers.append(EdgeWorker(run_dir, port, **spec))
            self.router_log = os.path.join(run_dir, "router-%d.log" % router_port)
            self.router_out = open(self.router_log, "w")
            cmd = [router_python(), "-m", "sglang_router.launch_router",
                   "--worker-urls", *["http://" + w.host for w in self.workers],
                   "--policy", "round_robin", "--port", str(router_port), "--host", "127.0.0.1",
                   "--prometheus-port", str(prometheus_port), "--disable-circuit-breaker",
                   "--shutdown-grace-period-secs", "1", "--log-level", "debug", *router_args]
            self.router = subprocess.Popen(cmd, stdout=self.router_out, stderr=subprocess.STDOUT)
            self.wait_ready()
        except Exception:
            self.down()
            raise

    def wait_ready(self, timeout=60):
        """The router answers 503 until it has activated its workers."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.router.poll() is not None:
                raise RuntimeError("router exited:\n" + self.log_tail())
            status, body = http_get(self.port, "/readiness")
            if status == 200:
                info = json.loads(body)
                if info.get("healthy_workers") == len(self.workers):
                    return
            time.sleep(0.2)
        raise RuntimeError("router not ready after %d s:\n%s" % (timeout, self.log_tail()))

    def log_tail(self):
        with open(self.router_log, errors="replace") as f:
            return f.read()[-4000:]

    @property
    def pid(self):
        return self.router.pid

    def tracer_args(self):
        """What servetrace is told: the router and every upstream by pid."""
        return ["--router-pid", str(self.pid),
                "--worker-pid", ",".join(str(w.pid) for w in self.workers)]

    def down(self):
        if self.router:
            stop_proc(self.router, timeout=5)
            self.router_out.close()
        for w in self.workers:
            w.stop()


def abort_after(port, path, body, seconds):
    """Sends a POST and closes the socket after `seconds` without reading."""
    data = json.dumps(body).encode()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
              b"content-length: %d\r\n\r\n%s" % (path.encode(), len(data), data))
    time.sleep(seconds)
    s.close()


def rows_by_id(rows):
    out = {}
    for r in rows:
        out.setdefault(r["req_id"], []).append(r)
    return out

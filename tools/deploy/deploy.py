#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Bring a local SGLang deployment (N CPU workers behind a router) up or down.

Routers: sglang-router (.venv/router) or smg (.venv-smg), see ROUTERS. Workers:
SGLang over HTTP, or with --grpc SGLang --grpc-mode (smg only), see ENGINES;
an engine is a small class, so another engine is one more entry.

Called by tools/deploy/up.sh and down.sh; standard library only.

State lives in RUN_DIR (default <repo>/run): deploy.json and deploy.env (the
pids and ports, machine-readable), router.log, worker-<port>.log. Every
process started gets its own process group (schedulers, detokenizers and
multiprocessing helpers stay in it) and SERVETRACE_DEPLOY=<RUN_DIR> in its
environment (lost from /proc/PID/environ once setproctitle rewrites it), so
`down` finds all of them and nothing else.
"""

import argparse
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import vllm  # tools/deploy/vllm.py: vLLM workers (--engine/--engines)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POLICIES = ["round_robin", "cache_aware", "random", "power_of_two"]  # both routers have these


def log(msg):
    print(f"[deploy {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class DeployError(Exception):
    pass


# ---------------------------------------------------------------- /proc helpers

def proc_stat(pid):
    """(comm, ppid, pgid) of pid, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    comm = data[data.index("(") + 1:data.rindex(")")]
    fields = data[data.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None  # zombie: already dead, waiting for its reaper
    return comm, int(fields[1]), int(fields[2])


def alive(pid):
    return proc_stat(pid) is not None


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def children(pid):
    out = []
    for p in all_pids():
        st = proc_stat(p)
        if st and st[1] == pid:
            out.append(p)
    return sorted(out)


def pids_with_marker(marker):
    """Processes whose environment holds SERVETRACE_DEPLOY=marker."""
    needle = f"SERVETRACE_DEPLOY={marker}".encode()
    found = []
    for p in all_pids():
        if p == os.getpid():
            continue
        try:
            with open(f"/proc/{p}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(p)
        except OSError:
            pass
    return sorted(p for p in found if alive(p))


def group_members(pgids):
    """Live processes in one of pgids that look like ours (sglang or our venv in
    the command line), so a stale state file never reaches a reused pgid."""
    pgids = set(pgids)
    venv = os.environ.get("SERVETRACE_VENV", os.path.join(ROOT, ".venv"))
    marks = ["sglang", "smg::", venv] + [r.venv() for r in ROUTERS.values()]
    out = []
    for p in all_pids():
        st = proc_stat(p)
        if st and st[2] in pgids:
            cl = cmdline(p)
            if any(m in cl for m in marks) or vllm.is_ours(cl):
                out.append(p)
    return sorted(out)


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def tcp_sockets(port):
    """(state, inode) of the TCP sockets whose local port is port."""
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if int(cols[1].rsplit(":", 1)[1], 16) == port:
                        yield cols[3], cols[9]
        except OSError:
            pass


def listeners(port):
    """[(pid, comm)] of processes with a TCP socket listening on port."""
    inodes = {inode for state, inode in tcp_sockets(port) if state == "0A"}
    if not inodes:
        return []
    owners = []
    for p in all_pids():
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                link = os.readlink(f"/proc/{p}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    st = proc_stat(p)
                    owners.append((p, st[0] if st else "?"))
                    break
        except OSError:
            pass
    return owners or [(0, "unknown (another namespace?)")]


def ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = f.read().split()
            return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def holder(port):
    """Who holds a port nobody listens on: a connection's local end, most often."""
    states = {TCP_STATES.get(state, state) for state, _ in tcp_sockets(port)}
    what = (f"the local end of a connection ({', '.join(sorted(states))})" if states
            else "a bound socket")
    lo, hi = ephemeral_range()
    if lo <= port <= hi:
        what += (f"; {port} lies in the kernel's ephemeral range {lo}-{hi} "
                 "(net.ipv4.ip_local_port_range), where outgoing connections take "
                 "their local port: pick a port below " + str(lo))
    return what


TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
              "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
              "09": "LAST_ACK", "0B": "CLOSING"}


def port_free(port):
    """True if a server could bind port on 0.0.0.0 and 127.0.0.1 (as uvicorn does, SO_REUSEADDR)."""
    for host in ("0.0.0.0", "127.0.0.1"):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def accepts(host, port):
    """A TCP connection to host:port succeeds."""
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return f"    (no log at {path})"
    return "".join("    | " + line for line in lines[-n:]).rstrip()


def http_status(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------- up

def venv_paths(args):
    venv = os.environ.get("SERVETRACE_VENV", os.path.join(ROOT, ".venv"))
    return venv, ROUTERS[args.router].venv()


# Engines: how a worker starts, which ports it binds, when it is ready.
class SglangEngine:
    """SGLang over HTTP (OpenAI + /generate on the worker port)."""
    name = "sglang"
    scheme = "http"

    def cmd(self, args, venv, port, index):
        cmd = [os.path.join(venv, "bin", "python"), "-m", "sglang.launch_server",
               "--model-path", args.model, "--host", args.host, "--port", str(port),
               "--device", "cpu",
               "--attention-backend", "torch_native",
               "--sampling-backend", "pytorch",
               "--disable-overlap-schedule",
               "--disable-cuda-graph",
               "--max-total-tokens", str(args.max_total_tokens)]
        if args.sleep_on_idle:
            cmd.append("--sleep-on-idle")
        if args.enable_metrics:
            cmd.append("--enable-metrics")
        for extra in args.worker_arg:
            cmd += shlex.split(extra)
        return cmd

    def extra_ports(self, args, port, index):
        """{port: what} the worker binds besides its own port."""
        return {}

    def env(self, base, args):
        return base

    def wait_ready(self, name, proc, args, port, log_path, deadline):
        wait_healthy(name, proc, f"http://{args.host}:{port}/health", log_path, deadline)


class SglangGrpcEngine(SglangEngine):
    """SGLang --grpc-mode (smg-grpc-servicer): gRPC on the worker port, an
    aiohttp sidecar (/metrics, profiling) on a second port, no HTTP API and
    no detokenizer process (smg detokenizes)."""
    name = "sglang-grpc"
    scheme = "grpc"
    READY_LINE = "The server is fired up and ready to roll!"

    def sidecar_port(self, args, index):
        # SGLang's default is port + 1, the next worker's port here.
        return args.worker_port + args.workers + index

    def cmd(self, args, venv, port, index):
        return super().cmd(args, venv, port, index) + [
            "--grpc-mode", "--grpc-http-sidecar-port", str(self.sidecar_port(args, index))]

    def extra_ports(self, args, port, index):
        return {self.sidecar_port(args, index): f"worker {index} gRPC sidecar"}

    def wait_ready(self, name, proc, args, port, log_path, deadline):
        # gRPC health needs a gRPC client; the servicer logs this line after its warm-up.
        wait_log_line(name, proc, self.READY_LINE, log_path, deadline)


class VllmEngine(SglangEngine):
    """vLLM's OpenAI API server (tools/deploy/vllm.py knows its flags)."""
    name = "vllm"

    def cmd(self, args, venv, port, index):
        return vllm.worker_cmd(args, port)

    def env(self, base, args):
        return vllm.worker_env(base, args)


class VllmGrpcEngine(VllmEngine):
    """vLLM's gRPC launcher (smg-grpc-servicer's VllmEngineServicer): gRPC
    on the worker port, no HTTP at all; smg tokenizes and detokenizes."""
    name = "vllm-grpc"
    scheme = "grpc"

    def cmd(self, args, venv, port, index):
        return vllm.worker_cmd(args, port, grpc=True)

    def env(self, base, args):
        return vllm.worker_env(base, args, grpc=True)

    def wait_ready(self, name, proc, args, port, log_path, deadline):
        wait_log_line(name, proc, vllm.GRPC_READY_LINE, log_path, deadline)
        while not accepts(args.host, port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise DeployError(f"{name} (pid {proc.pid}) did not listen on {port} in time; "
                                  f"last lines of {log_path}:\n{tail(log_path)}")
            time.sleep(0.5)


ENGINES = {"sglang": SglangEngine(), "sglang-grpc": SglangGrpcEngine(), "vllm": VllmEngine(),
           "vllm-grpc": VllmGrpcEngine()}


def engine_of(args):
    return ENGINES["sglang-grpc" if args.grpc else "sglang"]


def engine_for(args, index):
    """The engine of worker index: --engines (a mixed fleet) picks vLLM."""
    if getattr(args, "engines", None) and args.engines[index] == "vllm":
        return ENGINES["vllm-grpc" if args.grpc else "vllm"]
    return engine_of(args)


# Routers: where they are installed and how they are launched.
class SglangRouter:
    name = "sglang-router"
    title = "sglang::router"
    install = "tools/install_python.sh"

    def venv(self):
        venv = os.environ.get("SERVETRACE_VENV", os.path.join(ROOT, ".venv"))
        return os.environ.get("SERVETRACE_ROUTER_VENV", os.path.join(venv, "router"))

    def cmd(self, args, worker_urls):
        cmd = [os.path.join(self.venv(), "bin", "python"), "-m", "sglang_router.launch_router",
               "--worker-urls", *worker_urls,
               "--policy", args.policy,
               "--host", args.host, "--port", str(args.router_port),
               "--prometheus-host", args.host,
               "--prometheus-port", str(args.router_metrics_port)]
        for extra in args.router_arg:
            cmd += shlex.split(extra)
        return cmd


class SmgRouter(SglangRouter):
    """smg (Shepherd Model Gateway) 1.13: HTTP/1.1 to http:// workers, gRPC
    to grpc:// ones. OpenAI requests are routed by model name (the workers'
    --model-path here)."""
    name = "smg"
    title = "smg::router"
    install = "tools/install_smg.sh"

    def venv(self):
        return os.environ.get("SERVETRACE_SMG_VENV", os.path.join(ROOT, ".venv-smg"))

    def cmd(self, args, worker_urls):
        cmd = [os.path.join(self.venv(), "bin", "smg"), "launch",
               "--worker-urls", *worker_urls,
               "--policy", args.policy,
               "--host", args.host, "--port", str(args.router_port),
               "--prometheus-host", args.host,
               "--prometheus-port", str(args.router_metrics_port)]
        for extra in args.router_arg:
            cmd += shlex.split(extra)
        return cmd


ROUTERS = {"sglang-router": SglangRouter(), "smg": SmgRouter()}


def spawn(cmd, env, log_path):
    with open(log_path, "wb") as logf:
        logf.write(f"# {time.strftime('%F %T')} {shlex.join(cmd)}\n".encode())
        logf.flush()
        return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)


def wait_healthy(name, proc, url, log_path, deadline):
    while True:
        if proc.poll() is not None:
            raise DeployError(f"{name} (pid {proc.pid}) exited with status {proc.returncode} "
                              f"before {url} answered; last lines of {log_path}:\n{tail(log_path)}")
        if http_status(url) == 200:
            return
        if time.monotonic() > deadline:
            raise DeployError(f"{name} (pid {proc.pid}) did not answer {url} with 200 in time; "
                              f"last lines of {log_path}:\n{tail(log_path)}")
        time.sleep(0.5)


def wait_log_line(name, proc, line, log_path, deadline):
    while True:
        if proc.poll() is not None:
            raise DeployError(f"{name} (pid {proc.pid}) exited with status {proc.returncode} "
                              f"before it logged '{line}'; last lines of {log_path}:\n"
                              f"{tail(log_path)}")
        try:
            with open(log_path, errors="replace") as f:
                if line in f.read():
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise DeployError(f"{name} (pid {proc.pid}) did not log '{line}' in time; "
                              f"last lines of {log_path}:\n{tail(log_path)}")
        time.sleep(0.5)


def wait_router_ready(proc, url, n_workers, log_path, deadline, tokenizer=False):
    """Router /health is 200 as soon as it listens; also wait for its workers.
    tokenizer: smg in gRPC mode tokenizes itself, and registers the model's
    tokenizer in a job of its own after the workers: until it logs that,
    requests get 503 tokenizer_not_ready."""
    wait_healthy("router", proc, url + "/health", log_path, deadline)
    while True:
        try:
            with urllib.request.urlopen(url + "/workers", timeout=2) as r:
                body = json.load(r)
            workers = body.get("workers", body) if isinstance(body, dict) else body
            healthy = [w for w in workers if w.get("is_healthy", True)]
            if len(healthy) >= n_workers:
                if tokenizer:
                    wait_log_line("router", proc, "Successfully registered tokenizer",
                                  log_path, deadline)
                return
        except (OSError, ValueError, AttributeError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise DeployError(f"router did not register {n_workers} healthy workers in time; "
                              f"last lines of {log_path}:\n{tail(log_path)}")
        time.sleep(0.5)


def describe_worker(proc_pid):
    sched, detok, other = [], [], []
    for c in children(proc_pid):
        comm = proc_stat(c)[0] if proc_stat(c) else "?"
        if comm.startswith("sglang::schedul") or vllm.role(comm) == "engine":
            sched.append(c)
        elif comm.startswith("sglang::detoken"):
            detok.append(c)
        else:
            other.append(c)
    return sched, detok, other


def write_state(run_dir, state):
    with open(os.path.join(run_dir, "deploy.json.tmp"), "w") as f:
        json.dump(state, f, indent=2)
        f.write("\n")
    os.replace(os.path.join(run_dir, "deploy.json.tmp"), os.path.join(run_dir, "deploy.json"))

    env = {
        "DEPLOY_RUN_DIR": run_dir,
        "DEPLOY_POLICY": state["policy"] or "",
        "DEPLOY_ENABLE_METRICS": int(state["enable_metrics"]),
        "DEPLOY_IPC": state["ipc"],
        "DEPLOY_MODEL": state["model"],
        "DEPLOY_ROUTER": state["router"]["kind"] if state["router"] else "",
        "DEPLOY_ENGINE": state["engine"],
        "TARGET_URL": state["target_url"],
        "WORKER_COUNT": len(state["workers"]),
        "WORKER_URLS": " ".join(w["url"] for w in state["workers"]),
        "WORKER_PIDS": " ".join(str(w["pid"]) for w in state["workers"]),
        "SCHEDULER_PIDS": " ".join(str(p) for w in state["workers"] for p in w["scheduler_pids"]),
        "DETOKENIZER_PIDS": " ".join(str(p) for w in state["workers"] for p in w["detokenizer_pids"]),
        "ALL_PIDS": " ".join(str(p) for p in state["all_pids"]),
    }
    r = state["router"]
    env.update({"ROUTER_PID": r["pid"] if r else "", "ROUTER_PORT": r["port"] if r else "",
                "ROUTER_URL": r["url"] if r else "",
                "ROUTER_METRICS_PORT": r["metrics_port"] if r else ""})
    for w in state["workers"]:
        i = w["index"]
        env[f"WORKER{i}_PID"] = w["pid"]
        env[f"WORKER{i}_PORT"] = w["port"]
        env[f"WORKER{i}_URL"] = w["url"]
        env[f"WORKER{i}_SCHEDULER_PID"] = " ".join(map(str, w["scheduler_pids"]))
        env[f"WORKER{i}_DETOKENIZER_PID"] = " ".join(map(str, w["detokenizer_pids"]))
    with open(os.path.join(run_dir, "deploy.env"), "w") as f:
        f.write("# written by tools/deploy/up.sh; source it\n")
        for k, v in env.items():
            f.write(f"{k}={shlex.quote(str(v))}\n")


def cmd_up(args):
    run_dir = os.path.abspath(args.run_dir)
    os.makedirs(run_dir, exist_ok=True)
    venv, router_venv = venv_paths(args)
    args.model = os.path.abspath(args.model)
    if args.router_metrics_port is None:
        args.router_metrics_port = args.router_port + 100

    # Refuse early and clearly: an old deployment, a missing install, a busy port.
    old = set(pids_with_marker(run_dir))
    try:
        with open(os.path.join(run_dir, "deploy.json")) as f:
            st = json.load(f)
        old |= set(group_members([w["pgid"] for w in st["workers"]] +
                                 ([st["router"]["pgid"]] if st.get("router") else [])))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if old:
        raise DeployError(f"a deployment from {run_dir} is still running "
                          f"(pids {sorted(old)}): run tools/deploy/down.sh first")
    if not os.path.exists(os.path.join(venv, "bin", "python")):
        raise DeployError(f"no venv at {venv}: run tools/install_python.sh")
    router_kind = ROUTERS[args.router]
    engine = engine_of(args)
    if "vllm" in args.engines and vllm.missing_install(args.grpc):
        raise DeployError(vllm.missing_install(args.grpc))
    if not args.no_router and not os.path.exists(os.path.join(router_venv, "bin", "python")):
        raise DeployError(f"no {router_kind.name} venv at {router_venv}: run {router_kind.install}")
    if args.grpc and args.router != "smg" and not args.no_router:
        raise DeployError("--grpc needs --router smg (sglang-router talks HTTP only)")
    if not os.path.exists(os.path.join(args.model, "config.json")):
        raise DeployError(f"no model at {args.model}: run "
                          f"{venv}/bin/python tools/model/gen_tiny_model.py")
    worker_ports = [args.worker_port + i for i in range(args.workers)]
    ports = {p: f"worker {i}" for i, p in enumerate(worker_ports)}
    n_ports = len(ports)
    for i, p in enumerate(worker_ports):
        extra = engine_for(args, i).extra_ports(args, p, i)
        ports.update(extra)
        n_ports += len(extra)
    if not args.no_router:
        ports[args.router_port] = "router"
        ports[args.router_metrics_port] = "router Prometheus"
        n_ports += 2
    if len(ports) != n_ports:
        raise DeployError(f"port ranges overlap: {sorted(ports)}")
    busy = [f"  {port} ({what}): held by " +
            (", ".join(f"pid {p} {c}" for p, c in listeners(port)) or holder(port))
            for port, what in sorted(ports.items()) if not port_free(port)]
    if busy:
        raise DeployError("ports already in use, refusing to start:\n" + "\n".join(busy) +
                          "\n  (another deployment? tools/deploy/down.sh, or choose other "
                          "ports with --router-port/--worker-port/--router-metrics-port)")

    env = dict(os.environ)
    env["SERVETRACE_DEPLOY"] = run_dir
    env["SERVETRACE_VENV"] = venv
    env["SGLANG_USE_CPU_ENGINE"] = "1"
    env["SGLANG_USE_PICKLE_IPC"] = "1" if args.ipc == "pickle" else "0"
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    env.setdefault("NO_COLOR", "1")

    started = []
    t0 = time.monotonic()
    deadline = t0 + args.timeout
    try:
        workers = []
        for i, port in enumerate(worker_ports):
            log_path = os.path.join(run_dir, f"worker-{port}.log")
            eng = engine_for(args, i)
            proc = spawn(eng.cmd(args, venv, port, i), eng.env(env, args), log_path)
            started.append(proc)
            workers.append((i, port, proc, log_path))
            log(f"worker {i}: pid {proc.pid} starting on {args.host}:{port} (log {log_path})")
        ready_at = {}
        for i, port, proc, log_path in workers:
            engine_for(args, i).wait_ready(f"worker {i}", proc, args, port, log_path, deadline)
            ready_at[i] = time.monotonic() - t0
            log(f"worker {i}: healthy after {ready_at[i]:.1f} s")

        router = None
        if not args.no_router:
            urls = [f"{engine_for(args, i).scheme}://{args.host}:{p}"
                    for i, p in enumerate(worker_ports)] + args.extra_worker_url
            log_path = os.path.join(run_dir, "router.log")
            rt0 = time.monotonic()
            proc = spawn(router_kind.cmd(args, urls), env, log_path)
            started.append(proc)
            log(f"router ({router_kind.name}): pid {proc.pid} starting on {args.host}:{args.router_port}, "
                f"policy {args.policy} (log {log_path})")
            url = f"http://{args.host}:{args.router_port}"
            wait_router_ready(proc, url, len(urls), log_path, deadline,
                              tokenizer=router_kind.name == "smg" and args.grpc)
            log(f"router: ready after {time.monotonic() - rt0:.1f} s")
            st = proc_stat(proc.pid)
            router = {"pid": proc.pid, "pgid": st[2], "comm": st[0], "port": args.router_port,
                      "metrics_port": args.router_metrics_port, "url": url, "log": log_path,
                      "cmdline": cmdline(proc.pid), "kind": router_kind.name,
                      "ready_after_s": round(time.monotonic() - rt0, 2)}
    except BaseException as e:
        log("startup failed: stopping what was started")
        stop(run_dir, [p.pid for p in started], [p.pid for p in started], grace=10)
        if isinstance(e, KeyboardInterrupt):
            raise DeployError("interrupted")
        raise

    state_workers = []
    for i, port, proc, log_path in workers:
        sched, detok, other = describe_worker(proc.pid)
        st = proc_stat(proc.pid)
        state_workers.append({
            "index": i, "port": port, "url": f"{engine_for(args, i).scheme}://{args.host}:{port}",
            "engine": engine_for(args, i).name,
            "extra_ports": sorted(engine_for(args, i).extra_ports(args, port, i)),
            "pid": proc.pid, "pgid": st[2], "comm": st[0], "cmdline": cmdline(proc.pid),
            "scheduler_pids": sched, "detokenizer_pids": detok, "other_child_pids": other,
            "log": log_path, "healthy_after_s": round(ready_at[i], 2)})
    state = {
        "created": time.time(), "run_dir": run_dir, "model": args.model,
        "policy": None if args.no_router else args.policy,
        "enable_metrics": args.enable_metrics, "ipc": args.ipc,
        "sleep_on_idle": args.sleep_on_idle, "host": args.host,
        "engine": ",".join(sorted({w["engine"] for w in state_workers})),
        "target_url": router["url"] if router else state_workers[0]["url"],
        "startup_s": round(time.monotonic() - t0, 2),
        "router": router, "workers": state_workers,
        "all_pids": group_members([p.pid for p in started]),
    }
    write_state(run_dir, state)

    print()
    print(f"deployment up in {state['startup_s']:.1f} s ({args.workers} worker(s), "
          f"{'no router' if args.no_router else args.router + ' policy ' + args.policy}, "
          f"engine {state['engine']}, "
          f"metrics {'on' if args.enable_metrics else 'off'}, ipc {args.ipc})")
    if router:
        print(f"  router      pid {router['pid']:>7}  {router['url']}  "
              f"(Prometheus :{router['metrics_port']})")
    for w in state_workers:
        print(f"  worker {w['index']}    pid {w['pid']:>7}  {w['url']}  "
              f"scheduler {','.join(map(str, w['scheduler_pids']))}  "
              f"detokenizer {','.join(map(str, w['detokenizer_pids']))}")
    print(f"  send requests to {state['target_url']}")
    print(f"  state: {run_dir}/deploy.json, {run_dir}/deploy.env; stop: tools/deploy/down.sh")
    return 0


# -------------------------------------------------------------------- down

def stop(run_dir, pgids, pids, grace):
    """TERM our process groups and any other of our pids; KILL after grace s.

    Returns the pids still alive at the end (should be none)."""
    def ours():
        return {p for p in set(pids) | set(group_members(pgids)) |
                set(pids_with_marker(run_dir)) if alive(p)}

    def signal_all(sig):
        for g in sorted(pgids):
            try:
                os.killpg(g, sig)
            except ProcessLookupError:
                pass
        for p in sorted(ours()):
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass

    signal_all(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not ours():
            return []
        time.sleep(0.2)
    log(f"still alive after {grace:.0f} s, sending SIGKILL: {sorted(ours())}")
    signal_all(signal.SIGKILL)
    deadline = time.monotonic() + 5
    while ours() and time.monotonic() < deadline:
        time.sleep(0.2)
    return sorted(ours())


def cmd_down(args):
    run_dir = os.path.abspath(args.run_dir)
    state_path = os.path.join(run_dir, "deploy.json")
    state = None
    if os.path.exists(state_path):
        with open(state_path) as f:
            state = json.load(f)
    pgids, pids, ports = [], [], []
    if state:
        pids = list(state.get("all_pids", []))
        if state.get("router"):
            pgids.append(state["router"]["pgid"])
            pids.append(state["router"]["pid"])
            ports += [state["router"]["port"], state["router"]["metrics_port"]]
        for w in state["workers"]:
            pgids.append(w["pgid"])
            pids += [w["pid"], *w["scheduler_pids"], *w["detokenizer_pids"]]
            ports.append(w["port"])
            ports += w.get("extra_ports", [])
    live = sorted(p for p in set(pids) | set(group_members(pgids)) |
                  set(pids_with_marker(run_dir)) if alive(p))
    if not state and not live:
        log(f"nothing to stop (no {state_path}, no process marked with {run_dir})")
        return 0
    log(f"stopping {len(live)} process(es): " +
        ", ".join(f"{p} {proc_stat(p)[0]}" for p in live if proc_stat(p)))
    t0 = time.monotonic()
    left = stop(run_dir, pgids, live, args.grace)
    problems = []
    if left:
        problems.append("still alive: " + ", ".join(f"{p} {cmdline(p)}" for p in left))
    # Sockets close with their last owner; allow the kernel a moment.
    deadline = time.monotonic() + 5
    busy = [p for p in ports if not port_free(p)]
    while busy and time.monotonic() < deadline:
        time.sleep(0.2)
        busy = [p for p in ports if not port_free(p)]
    for p in busy:
        problems.append(f"port {p} still bound by " +
                        ", ".join(f"pid {q} {c}" for q, c in listeners(p) or [(0, "?")]))
    if problems:
        log("teardown INCOMPLETE:\n  " + "\n  ".join(problems))
        return 1
    if state:
        os.replace(state_path, os.path.join(run_dir, "last-deploy.json"))
        try:
            os.remove(os.path.join(run_dir, "deploy.env"))
        except FileNotFoundError:
            pass
    log(f"down in {time.monotonic() - t0:.1f} s: no process left, "
        f"ports {', '.join(map(str, sorted(ports))) or '-'} free")
    return 0


# ------------------------------------------------------ kill / start again

def load_state(run_dir):
    try:
        with open(os.path.join(run_dir, "deploy.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        raise DeployError(f"no deployment state in {run_dir}: run up.sh first")


def member(state, args):
    """The state entry of --worker I or --router."""
    if args.router:
        if not state.get("router"):
            raise DeployError("this deployment has no router")
        return "router", state["router"]
    if not 0 <= args.worker < len(state["workers"]):
        raise DeployError(f"no worker {args.worker}")
    return f"worker {args.worker}", state["workers"][args.worker]


def cmd_kill(args):
    """SIGKILL one member's process group (a crash), wait until its port is free."""
    run_dir = os.path.abspath(args.run_dir)
    state = load_state(run_dir)
    name, m = member(state, args)
    live = [p for p in group_members([m["pgid"]]) if alive(p)]
    try:
        os.killpg(m["pgid"], signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 15
    while ([p for p in live if alive(p)] or not port_free(m["port"])) and time.monotonic() < deadline:
        time.sleep(0.05)
    if [p for p in live if alive(p)] or not port_free(m["port"]):
        raise DeployError(f"{name}: still alive or port {m['port']} bound after SIGKILL")
    log(f"{name}: killed process group {m['pgid']} ({len(live)} processes)")
    return 0


def cmd_start(args):
    """Start a killed member again with its first command line (the first
    line of its log) on the same port; wait until it is ready; the state
    then names the new pids."""
    run_dir = os.path.abspath(args.run_dir)
    state = load_state(run_dir)
    name, m = member(state, args)
    if not port_free(m["port"]):
        raise DeployError(f"{name}: port {m['port']} is in use")
    with open(m["log"], errors="replace") as f:
        cmd = shlex.split(f.readline())[3:]  # "# DATE TIME cmd..."
    env = dict(os.environ, SERVETRACE_DEPLOY=run_dir, SGLANG_USE_CPU_ENGINE="1",
               SGLANG_USE_PICKLE_IPC="1" if state["ipc"] == "pickle" else "0",
               OMP_NUM_THREADS="1", NO_COLOR="1")
    with open(m["log"], "ab") as logf:
        logf.write(f"# {time.strftime('%F %T')} started again\n".encode())
        logf.flush()
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
    started = time.time()
    deadline = time.monotonic() + args.timeout
    try:
        if args.router:
            wait_router_ready(proc, m["url"], len(state["workers"]), m["log"], deadline)
        else:
            wait_healthy(name, proc, m["url"] + "/health", m["log"], deadline)
    except BaseException:
        stop(run_dir, [proc.pid], [proc.pid], grace=5)
        raise
    st = proc_stat(proc.pid)
    m.update({"pid": proc.pid, "pgid": st[2], "started": started})
    if not args.router:
        sched, detok, other = describe_worker(proc.pid)
        m.update({"scheduler_pids": sched, "detokenizer_pids": detok, "other_child_pids": other})
    state["all_pids"] = sorted(set(state["all_pids"]) | set(group_members([st[2]])))
    write_state(run_dir, state)
    log(f"{name}: pid {proc.pid} ready again after {time.time() - started:.1f} s")
    return 0


# -------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    run_default = os.path.join(ROOT, "run")

    up = sub.add_parser("up", help="start workers (+ router), wait until healthy",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    up.add_argument("-n", "--workers", type=int, default=2, help="number of SGLang workers")
    up.add_argument("-p", "--policy", choices=POLICIES, default="round_robin",
                    help="router policy")
    up.add_argument("--router", choices=sorted(ROUTERS), default="sglang-router",
                    help="which router: sglang-router 0.3.2 or smg 1.13 (tools/install_smg.sh)")
    up.add_argument("--grpc", action="store_true",
                    help="workers in gRPC mode (SGLang --grpc-mode, vLLM's gRPC launcher), "
                         "smg talks gRPC to them (needs --router smg)")
    up.add_argument("--router-port", type=int, default=30000)
    up.add_argument("--router-metrics-port", type=int, default=None,
                    help="router Prometheus port (default: router port + 100)")
    up.add_argument("--worker-port", type=int, default=30001,
                    help="port of worker 0; worker i gets worker-port + i")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--no-router", action="store_true",
                    help="node-level run: workers only, clients talk to worker 0")
    up.add_argument("--enable-metrics", action=argparse.BooleanOptionalAction, default=False,
                    help="SGLang --enable-metrics (in-band timestamps in meta_info, /metrics)")
    up.add_argument("--ipc", choices=["pickle", "msgpack"], default="pickle",
                    help="SGLang IPC serialization (SGLANG_USE_PICKLE_IPC=1/0)")
    up.add_argument("--sleep-on-idle", action=argparse.BooleanOptionalAction, default=True,
                    help="SGLang --sleep-on-idle: an idle scheduler waits in zmq poll "
                         "instead of spinning a core (2 idle workers would take both)")
    up.add_argument("--threads", type=int, default=1,
                    help="OMP_NUM_THREADS per worker (0: torch default)")
    up.add_argument("--model", default=os.path.join(ROOT, "models", "tiny-llama"))
    up.add_argument("--max-total-tokens", type=int, default=4096,
                    help="KV cache size in tokens (automatic sizing misbehaves on tiny models)")
    up.add_argument("--timeout", type=float, default=240, help="seconds to wait for health")
    up.add_argument("--worker-arg", action="append", default=[],
                    help="extra sglang.launch_server arguments (repeatable, shell-split)")
    up.add_argument("--router-arg", action="append", default=[],
                    help="extra router arguments (repeatable, shell-split)")
    up.add_argument("--extra-worker-url", action="append", default=[],
                    help="a worker started elsewhere (tools/deploy/netns_worker.py: one "
                         "in a container) that the router also routes to (repeatable)")
    up.add_argument("--run-dir", default=run_default, help="logs and state")
    vllm.add_args(up)

    down = sub.add_parser("down", help="stop everything up started; verify",
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    down.add_argument("--grace", type=float, default=15, help="seconds before SIGKILL")
    down.add_argument("--run-dir", default=run_default, help="state written by up")

    for verb, text in (("kill", "SIGKILL a worker's or the router's process group (a crash)"),
                       ("start", "start a killed worker or router again on its port")):
        sp = sub.add_parser(verb, help=text)
        who = sp.add_mutually_exclusive_group(required=True)
        who.add_argument("--worker", type=int, help="worker index")
        who.add_argument("--router", action="store_true")
        sp.add_argument("--timeout", type=float, default=240, help="seconds to wait until ready")
        sp.add_argument("--run-dir", default=run_default, help="state written by up")

    args = ap.parse_args()
    try:
        if args.cmd in ("kill", "start"):
            return cmd_kill(args) if args.cmd == "kill" else cmd_start(args)
        if args.cmd == "up":
            if vllm.resolve(args) or args.workers < 1:
                raise DeployError(vllm.resolve(args) or "--workers must be >= 1")
            return cmd_up(args)
        return cmd_down(args)
    except DeployError as e:
        print(f"deploy {args.cmd}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

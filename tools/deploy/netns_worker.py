#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""One SGLang worker in a container of its own, for tracing from the host.

  netns_worker.py up --name stc1 --port 22605 --run-dir DIR [--addr 10.231.0.2]
  netns_worker.py down --run-dir DIR

The container is made of plain kernel namespaces, as a container runtime
would make them:
  network  `ip netns add NAME`, a veth pair NAME-h (host, HOST_ADDR/24) and
           NAME-c (inside, ADDR/24); the worker listens on ADDR:PORT, so
           the router on the host reaches it as http://ADDR:PORT;
  mount    `unshare --mount` (private propagation): a tmpfs over /tmp, the
           venv and the model bind-mounted under /tmp/ctr, paths the host
           does not have, so the worker's libzmq is reachable from the host
           only through /proc/PID/root;
  pid      `unshare --pid --fork --mount-proc`: the worker's shell is pid 1
           of its namespace; killing it (SIGKILL, from the host) kills
           every process inside, which is how `down` stops it.

State in DIR/netns.json (names, the host pid of the namespace's init, the
worker's url); the worker's log in DIR/worker-ns-PORT.log. Root and
iproute2 are needed; `check` says what is missing. Standard library only.
"""

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request

import deploy

INSIDE = "/tmp/ctr"  # mount points inside the container's private /tmp


def run(*cmd, check=True):
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and res.returncode:
        raise deploy.DeployError(f"{shlex.join(cmd)} failed ({res.returncode}): {res.stdout.strip()}")
    return res


def missing():
    """Why a container cannot be made here, or None."""
    if os.geteuid() != 0:
        return "not root (ip netns and unshare need CAP_SYS_ADMIN and CAP_NET_ADMIN)"
    for tool in ("ip", "unshare"):
        if not any(os.access(os.path.join(d, tool), os.X_OK)
                   for d in os.environ.get("PATH", "/usr/sbin:/usr/bin").split(":") + ["/usr/sbin"]):
            return f"no {tool} command (iproute2, util-linux)"
    for ns in ("net", "mnt", "pid"):
        if not os.path.exists(f"/proc/self/ns/{ns}"):
            return f"the kernel has no {ns} namespaces"
    probe = f"stprobe{os.getpid() % 100000}"
    res = run("ip", "netns", "add", probe, check=False)
    if res.returncode:
        return f"ip netns add failed: {res.stdout.strip()}"
    run("ip", "netns", "del", probe, check=False)
    return None


def names(name):
    if len(name) > 12:
        raise deploy.DeployError(f"--name {name}: at most 12 characters (veth names get -h/-c)")
    return name, f"{name}-h", f"{name}-c"


def remove_net(name):
    netns, veth_h, _ = names(name)
    run("ip", "link", "del", veth_h, check=False)  # takes its peer with it
    run("ip", "netns", "del", netns, check=False)


def make_net(name, host_addr, addr):
    netns, veth_h, veth_c = names(name)
    remove_net(name)  # a leftover of a killed run
    run("ip", "netns", "add", netns)
    run("ip", "link", "add", veth_h, "type", "veth", "peer", "name", veth_c)
    run("ip", "link", "set", veth_c, "netns", netns)
    run("ip", "addr", "add", f"{host_addr}/24", "dev", veth_h)
    run("ip", "link", "set", veth_h, "up")
    run("ip", "netns", "exec", netns, "ip", "addr", "add", f"{addr}/24", "dev", veth_c)
    run("ip", "netns", "exec", netns, "ip", "link", "set", veth_c, "up")
    run("ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up")


def worker_cmd(args):
    """The deployment's SGLang command line, with the container's paths."""
    venv = os.path.realpath(os.environ.get("SERVETRACE_VENV", os.path.join(deploy.ROOT, ".venv")))
    model = os.path.realpath(args.model)
    wargs = argparse.Namespace(model=f"{INSIDE}/model", host="0.0.0.0",
                               max_total_tokens=args.max_total_tokens, sleep_on_idle=True,
                               enable_metrics=False, worker_arg=args.worker_arg)
    cmd = deploy.SglangEngine().cmd(wargs, f"{INSIDE}/venv", args.port, 0)
    # The venv and model are bound on a staging tmpfs first and moved under
    # the private /tmp after: the checkout may itself live under /tmp,
    # which the new tmpfs would hide before the binds could read it.
    setup = (f"mkdir -p /mnt && mount -t tmpfs tmpfs /mnt && "
             f"mkdir -p /mnt/venv /mnt/model && "
             f"mount --bind {shlex.quote(venv)} /mnt/venv && "
             f"mount --bind {shlex.quote(model)} /mnt/model && "
             f"mount -t tmpfs -o mode=1777 tmpfs /tmp && "
             f"mkdir -p {INSIDE}/venv {INSIDE}/model && "
             f"mount --move /mnt/venv {INSIDE}/venv && "
             f"mount --move /mnt/model {INSIDE}/model && "
             f"cd / || exit 1; {shlex.join(cmd)} & wait")
    return setup


def init_pid(unshare_pid):
    """The host pid of the container's pid 1: unshare's only child."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        kids = deploy.children(unshare_pid)
        if kids:
            return kids[0]
        time.sleep(0.05)
    raise deploy.DeployError(f"unshare (pid {unshare_pid}) started no child")


def health(url):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url + "/health", timeout=2) as r:
            return r.status
    except (OSError, ValueError):
        return None


def cmd_up(args):
    run_dir = os.path.abspath(args.run_dir)
    os.makedirs(run_dir, exist_ok=True)
    why = missing()
    if why:
        raise deploy.DeployError(why)
    netns, veth_h, veth_c = names(args.name)
    make_net(args.name, args.host_addr, args.addr)
    env = dict(os.environ, SGLANG_USE_CPU_ENGINE="1", SGLANG_USE_PICKLE_IPC="1",
               OMP_NUM_THREADS=str(args.threads), NO_COLOR="1", SERVETRACE_DEPLOY=run_dir)
    log_path = os.path.join(run_dir, f"worker-ns-{args.port}.log")
    cmd = ["ip", "netns", "exec", netns, "unshare", "--mount", "--pid", "--fork",
           "--mount-proc", "sh", "-c", worker_cmd(args)]
    url = f"http://{args.addr}:{args.port}"
    proc = deploy.spawn(cmd, env, log_path)
    state = {"name": args.name, "netns": netns, "veth_host": veth_h, "veth_inside": veth_c,
             "host_addr": args.host_addr, "addr": args.addr, "port": args.port, "url": url,
             "unshare_pid": proc.pid, "log": log_path}
    try:
        state["init_pid"] = init_pid(proc.pid)
        write_state(run_dir, state)
        deadline = time.monotonic() + args.timeout
        while health(url) != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise deploy.DeployError(f"container worker at {url} did not become healthy; "
                                         f"last lines of {log_path}:\n{deploy.tail(log_path)}")
            time.sleep(0.5)
    except BaseException:
        stop(state)
        raise
    deploy.log(f"container worker {url} up: netns {netns}, init pid {state['init_pid']} "
               f"(log {log_path})")
    print(json.dumps(state))
    return 0


def write_state(run_dir, state):
    with open(os.path.join(run_dir, "netns.json"), "w") as f:
        json.dump(state, f, indent=2)


def stop(state):
    """SIGKILL to the namespace's init kills everything inside it."""
    for key in ("init_pid", "unshare_pid"):
        pid = state.get(key)
        if pid and deploy.alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
            state.get(k) and deploy.alive(state[k]) for k in ("init_pid", "unshare_pid")):
        time.sleep(0.1)
    remove_net(state["name"])


def cmd_down(args):
    path = os.path.join(os.path.abspath(args.run_dir), "netns.json")
    try:
        with open(path) as f:
            state = json.load(f)
    except OSError:
        if args.name:
            remove_net(args.name)
        deploy.log(f"no {path}: nothing else to stop")
        return 0
    stop(state)
    left = run("ip", "netns", "list", check=False).stdout.split()
    if state["netns"] in left:
        raise deploy.DeployError(f"netns {state['netns']} still there")
    os.replace(path, path + ".last")
    deploy.log(f"container {state['netns']} down")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up")
    up.add_argument("--name", required=True, help="netns name, at most 12 characters")
    up.add_argument("--port", type=int, required=True)
    up.add_argument("--addr", default="10.231.0.2")
    up.add_argument("--host-addr", default="10.231.0.1")
    up.add_argument("--model", default=os.path.join(deploy.ROOT, "models", "tiny-llama"))
    up.add_argument("--max-total-tokens", type=int, default=4096)
    up.add_argument("--threads", type=int, default=1)
    up.add_argument("--timeout", type=float, default=240)
    up.add_argument("--worker-arg", action="append", default=[])
    up.add_argument("--run-dir", required=True)
    down = sub.add_parser("down")
    down.add_argument("--run-dir", required=True)
    down.add_argument("--name", help="remove this netns and veth even without state")
    sub.add_parser("check", help="exit 1 and say why if no container can be made here")
    args = ap.parse_args()
    try:
        if args.cmd == "check":
            why = missing()
            print(why or "ok")
            return 1 if why else 0
        return cmd_up(args) if args.cmd == "up" else cmd_down(args)
    except deploy.DeployError as e:
        print(f"netns_worker {args.cmd}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

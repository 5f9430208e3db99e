#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Install smg (Shepherd Model Gateway, sglang-router's successor) alone in
# <repo>/.venv-smg, and the gRPC servicer SGLang's --grpc-mode needs into
# SGLang's venv. Idempotent: a second run checks and returns in seconds.
set -euo pipefail
# no wheel cache: it would double the 7 GB the venvs take on disk
export PIP_NO_CACHE_DIR=1

SMG_VERSION=1.13.0
# 0.9.1 .. 0.14.1 fail to import against SGLang 0.5.15 ("cannot import name
# 'publish' from sglang.srt.runtime_context"), 0.5.x fails too; 0.8.0 serves
# it. --no-deps: its sglang extra wants sglang >= 0.5.16.
SERVICER_VERSION=0.8.0
# What 0.8.0 needs at run time, as pinned for SGLang in constraints.txt.
SERVICER_DEPS="smg-grpc-proto==0.4.28 grpcio==1.85.1 grpcio-reflection==1.85.1
grpcio-health-checking==1.85.1 protobuf==7.36.2"
# smg's own dependencies (its wheel's METADATA), pinned.
SMG_DEPS="setproctitle==1.3.8 grpcio==1.85.1 grpcio-health-checking==1.85.1
protobuf==7.36.2 PyYAML==6.0.3"

usage() {
	cat <<EOF
Usage: tools/install_smg.sh [--force] [--check]

Creates <repo>/.venv-smg (override with SERVETRACE_SMG_VENV) with smg $SMG_VERSION
and installs smg-grpc-servicer $SERVICER_VERSION --no-deps into SGLang's venv
(<repo>/.venv, override with SERVETRACE_VENV; tools/install_python.sh first).

  --force     recreate .venv-smg and reinstall the servicer
  --check     only verify the install (exit 1 if incomplete)
  -h, --help  this text
EOF
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${SERVETRACE_VENV:-$ROOT/.venv}
SMG_VENV=${SERVETRACE_SMG_VENV:-$ROOT/.venv-smg}
PYTHON=${PYTHON:-python3}

force=0 check=0
for arg in "$@"; do
	case $arg in
	--force) force=1 ;;
	--check) check=1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "install_smg: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
	esac
done

step() { printf '[install_smg %4ds] %s\n' "$SECONDS" "$*"; }
die() { echo "install_smg: error: $*" >&2; exit 1; }

pipq() {
	local py=$1; shift
	"$py" -m pip --disable-pip-version-check "$@" 2>&1 |
		{ grep -v -e 'is ignored: it is neither a file nor a directory' || true; }
	return "${PIPESTATUS[0]}"
}

version_of() { # venv package -> installed version or nothing
	"$1/bin/python" -c "import importlib.metadata as m; print(m.version('$2'))" 2>/dev/null || true
}

smoke_test() {
	local ok=0
	[[ $(version_of "$SMG_VENV" smg) == "$SMG_VERSION" ]] &&
		"$SMG_VENV/bin/smg" --help >/dev/null 2>&1 || ok=1
	if ((ok == 0)); then
		[[ $(version_of "$VENV" smg-grpc-servicer) == "$SERVICER_VERSION" ]] &&
			"$VENV/bin/python" -c 'import smg_grpc_servicer.sglang.server' 2>/dev/null || ok=2
	fi
	case $ok in
	0) echo "  smg $SMG_VERSION ($SMG_VENV), smg-grpc-servicer $SERVICER_VERSION ($VENV)" ;;
	1) echo "  smg $SMG_VERSION missing or broken in $SMG_VENV" >&2 ;;
	2) echo "  smg-grpc-servicer $SERVICER_VERSION missing or not importable in $VENV" >&2 ;;
	esac
	return "$ok"
}

[[ -x $VENV/bin/python ]] || die "no SGLang venv at $VENV: run tools/install_python.sh first"

if ((check)); then
	smoke_test || die "incomplete; run tools/install_smg.sh"
	step "OK"
	exit 0
fi
if ((force)); then
	step "removing $SMG_VENV"
	rm -rf "$SMG_VENV"
elif smoke_test 2>/dev/null; then
	step "up to date"
	exit 0
fi

if [[ $(version_of "$SMG_VENV" smg) != "$SMG_VERSION" ]] || ((force)); then
	[[ -x $SMG_VENV/bin/python ]] || { step "creating $SMG_VENV"; "$PYTHON" -m venv "$SMG_VENV"; }
	"$ROOT/tools/deploy/need_space.sh" "$SMG_VENV" 600 install_smg  # .venv-smg is 150 MB
	step "installing smg==$SMG_VERSION into $SMG_VENV"
	# shellcheck disable=SC2086
	pipq "$SMG_VENV/bin/python" install -q --progress-bar off "smg==$SMG_VERSION" $SMG_DEPS
fi
if [[ $(version_of "$VENV" smg-grpc-servicer) != "$SERVICER_VERSION" ]] || ((force)); then
	step "installing smg-grpc-servicer==$SERVICER_VERSION --no-deps into $VENV"
	# shellcheck disable=SC2086
	pipq "$VENV/bin/python" install -q --progress-bar off $SERVICER_DEPS
	pipq "$VENV/bin/python" install -q --progress-bar off --no-deps "smg-grpc-servicer==$SERVICER_VERSION"
fi
step "checking the install"
smoke_test || die "smoke test failed"
step "done: $SMG_VENV ($(du -sh "$SMG_VENV" | cut -f1))"

#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Bring up N SGLang CPU workers behind a router (sglang-router, or smg with
# --router smg; --grpc for SGLang --grpc-mode workers) and wait until healthy.
#   tools/deploy/up.sh [-n 2] [-p round_robin] [--enable-metrics] [--no-router] ...
# tools/deploy/up.sh --help lists every option. Needs tools/install_python.sh
# and tools/model/gen_tiny_model.py to have run. Pids and ports go to
# run/deploy.json and run/deploy.env; stop with tools/deploy/down.sh.
set -euo pipefail
exec python3 "$(dirname "$0")/deploy.py" up "$@"

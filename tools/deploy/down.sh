#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Stop the deployment started by up.sh: every process group it started
# (router, worker mains, schedulers, detokenizers), then verify that no
# process is left and no port is still bound. Exit 1 if anything remains.
#   tools/deploy/down.sh [--grace 15] [--run-dir run]
set -euo pipefail
exec python3 "$(dirname "$0")/deploy.py" down "$@"

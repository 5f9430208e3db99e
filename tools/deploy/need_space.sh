#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# need_space.sh DIR MIB WHAT: fail at once, saying what is needed and what is
# free, when the file system that will hold DIR has less than MIB MiB free.
# The installers call it before pip runs: a disk that fills half-way through
# a 3.5 GB install leaves a broken venv and pip's bare "Errno 28" behind.
set -euo pipefail
dir=$1 need=$2 what=$3
probe=$dir
while [[ ! -d $probe ]]; do probe=$(dirname "$probe"); done
# a venv half there (a re-run) needs only the rest
if [[ -d $dir ]]; then
	have=$(du -sm "$dir" | awk '{ print $1 }')
	need=$((need > have + 500 ? need - have : 500))
fi
free=$(df -Pm "$probe" | awk 'NR == 2 { print $4 }')
if ((free < need)); then
	echo "$what: error: $free MiB free on $(df -P "$probe" | awk 'NR == 2 { print $6 }') (for $dir), about $need MiB needed" >&2
	echo "$what: free some space (old checkouts, venvs, /tmp) and run it again" >&2
	exit 1
fi

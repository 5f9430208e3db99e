#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Debian packages servetrace builds and is tested with. Idempotent.
set -euo pipefail

PKGS=(
	clang llvm libbpf-dev bpftool libelf-dev libcjson-dev zlib1g-dev	# servetrace
	libclang-rt-14-dev							# make fuzz (sanitizer runtimes)
	make pkg-config gcc
	libcurl4-openssl-dev							# tools/loadgen
	libmicrohttpd-dev							# --listen (query API, /metrics)
	prometheus chromium							# e2e: scrape /metrics, render the report
	nginx-light wrk								# make bench upstream and load
	python3-venv iproute2 procps psmisc curl gawk util-linux	# deployments, tests, demo
)

if [ "$(id -u)" != 0 ]; then
	echo "install_deps: run as root (apt-get)" >&2
	exit 1
fi
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install_deps: all ${#PKGS[@]} Debian packages present"
	exit 0
fi
echo "install_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install_deps: done"

#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Build and run the libzmq uprobe selftest (root). It needs a Python with
# pyzmq (its wheel bundles the libzmq we attach to): $PYTHON if set, else
# the repo's .venv (SGLang's), else a small venv made under .output/.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ $(id -u) -ne 0 ]]; then
	echo "test_zmq_uprobe: needs root (uprobes)" >&2
	exit 1
fi

has_pyzmq() { "$1" -c 'import zmq' >/dev/null 2>&1; }

py=${PYTHON:-}
if [[ -z $py ]]; then
	if [[ -x .venv/bin/python ]] && has_pyzmq .venv/bin/python; then
		py=.venv/bin/python
	else
		venv=.output/zmqtest-venv
		if ! has_pyzmq "$venv/bin/python" 2>/dev/null; then
			python3 -m venv "$venv"
			"$venv/bin/pip" install -q pyzmq msgpack
		fi
		py=$venv/bin/python
	fi
fi

make -s .output/zmq.skel.h
cc -g -O2 -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Werror \
	-I.output -Ibpf -Iuser -Itests/unit \
	tests/bpf/test_zmq_uprobe.c user/capture/zmq_trace.c user/procs/*.c user/proto/ipc.c user/proto/pickle.c user/proto/msgpack.c \
	-lbpf -lelf -lz -o .output/test_zmq_uprobe
exec .output/test_zmq_uprobe "$py" tests/bpf/zmq_peer.py

#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# What servetrace costs the processes it does not trace: an untraced
# syscall-heavy process (dd, 1-byte reads and writes) beside no servetrace,
# servetrace seeing reads and writes at the socket layer, and servetrace on
# the syscall tracepoints. Rounds alternate; prints the syscall rate and its
# ratio to the untraced rate of the same round. A benchmark: numbers only.
set -euo pipefail

usage() {
	cat <<EOF
Usage: tools/bench_bystander.sh [--rounds N] [--count N]

  --rounds N   rounds of the three phases (default $ROUNDS)
  --count N    dd's 1-byte copies per phase, 2 syscalls each (default $COUNT)
  -h, --help   this text

Each phase copies --count bytes from /dev/zero to /dev/null one byte at a
time. servetrace traces a sleeping process meanwhile, so what dd loses is
what the hooks cost every other process on the machine:
  sock       --io-hooks sock: the socket layer's tracepoints only, no
             syscall tracepoint (dd's syscalls run no program)
  syscalls   --io-hooks syscalls: every read and write of every process
             runs an enter and an exit program
Needs root. Environment: SERVETRACE overrides the binary.
EOF
}

ROUNDS=3 COUNT=3000000
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=$2; shift ;;
	--count) COUNT=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "bench_bystander: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[ "$(id -u)" = 0 ] || { echo "bench_bystander: needs root (BPF)" >&2; exit 1; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVETRACE=${SERVETRACE:-$ROOT/servetrace}
[ -x "$SERVETRACE" ] || { echo "bench_bystander: no $SERVETRACE: run 'make' first" >&2; exit 1; }
WORK=$(mktemp -d)
sleep 100000 & TARGET=$!
TRACER=""
cleanup() {
	[ -z "$TRACER" ] || { kill -INT "$TRACER" 2>/dev/null; wait "$TRACER" 2>/dev/null; } || true
	kill "$TARGET" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

rate() {	# syscalls per second of one dd run
	local t0 t1
	t0=$(date +%s%N)
	dd if=/dev/zero of=/dev/null bs=1 count="$COUNT" 2>/dev/null
	t1=$(date +%s%N)
	echo $(( 2 * COUNT * 1000000000 / (t1 - t0) ))
}

phase() {	# phase HOOKS: the rate with servetrace on HOOKS, or none
	local r
	if [ "$1" != none ]; then
		rm -f "$WORK/ready"
		"$SERVETRACE" --worker-pid "$TARGET" -o "$WORK/out.csv" -q \
			--ready-file "$WORK/ready" --io-hooks "$1" 2> "$WORK/err" &
		TRACER=$!
		for _ in $(seq 200); do [ -f "$WORK/ready" ] && break; sleep 0.05; done
		[ -f "$WORK/ready" ] || { echo "bench_bystander: servetrace did not attach: $(tail -3 "$WORK/err")" >&2; exit 1; }
	fi
	r=$(rate)
	if [ -n "$TRACER" ]; then
		kill -INT "$TRACER"
		wait "$TRACER" || { echo "bench_bystander: servetrace failed: $(tail -3 "$WORK/err")" >&2; exit 1; }
		TRACER=""
	fi
	echo "$r"
}

echo "bystander: dd, 1-byte read+write, $COUNT copies per phase, $ROUNDS rounds"
for i in $(seq 1 "$ROUNDS"); do
	n=$(phase none)
	s=$(phase sock)
	y=$(phase syscalls)
	awk -v i="$i" -v n="$n" -v s="$s" -v y="$y" 'BEGIN {
		printf "  round %d: untraced %.2f M syscalls/s  sock %.2f M (ratio %.3f)  syscalls %.2f M (ratio %.3f)\n",
			i, n / 1e6, s / 1e6, s / n, y / 1e6, y / n }'
done

#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Two or more servetrace builds, side by side in one run: each round runs
# one tools/bench_capture.sh round (untraced, then traced) per build, the
# builds alternating, so a slow spell of the machine falls on all of them.
# Prints every round, then each build's range. A benchmark: numbers only.
set -euo pipefail

usage() {
	cat <<EOF
Usage: tools/bench_ab.sh [--rounds N] [--args "BENCH_CAPTURE_OPTIONS"] BUILD BUILD...

  --rounds N     rounds; each runs every build once (default $ROUNDS)
  --args "..."   options for tools/bench_capture.sh (default: "$ARGS"),
                 e.g. "--layout16 --collector-threads 2 --bpf-stats"
  --out DIR      keep each round's output there (default: a temporary folder)
  BUILD          a servetrace binary; its file name labels its rows
  -h, --help     this text

Needs root, like tools/bench_capture.sh (whose environment it passes on:
NGINX_BIN, WRK ... as tools/bench_pack.sh's env.sh sets them).
EOF
}

ROUNDS=3 ARGS="--mode plain --duration 8" OUT="" BUILDS=()
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=$2; shift ;;
	--args) ARGS=$2; shift ;;
	--out) OUT=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	-*) echo "bench_ab: unknown option '$1' (see --help)" >&2; exit 2 ;;
	*) BUILDS+=("$1") ;;
	esac
	shift
done
die() { echo "bench_ab: $*" >&2; exit 1; }
[ ${#BUILDS[@]} -ge 2 ] || die "give two builds or more (see --help)"
case $ROUNDS in [1-9]|[1-9][0-9]) ;; *) die "--rounds is 1 to 99" ;; esac
for b in "${BUILDS[@]}"; do
	[ -x "$b" ] || die "no executable '$b'"
done
# --args is shell words, quotes and all: --args "--mode stream --events '16 128'"
eval "args=($ARGS)" || die "cannot read --args '$ARGS'"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${OUT:-$(mktemp -d /tmp/bench_ab.XXXXXX)}
mkdir -p "$WORK"
[ -n "$OUT" ] || trap 'rm -rf "$WORK"' EXIT

for r in $(seq 1 "$ROUNDS"); do
	for b in "${BUILDS[@]}"; do
		name=$(basename "$b")
		f="$WORK/$name-$r.txt"
		if ! SERVETRACE=$b "$ROOT/tools/bench_capture.sh" "${args[@]}" --rounds 1 > "$f" 2>&1 < /dev/null; then
			tail -5 "$f" >&2
			die "round $r of $name failed (its output: above)"
		fi
		awk -v name="$name" -v r="$r" '
			/^(plain|stream):/ { setup = $1 == "stream:" ? "stream " $2 " events" : "plain" }
			/^  round 1:/ { sub(/^  round 1:/, ""); printf "%-16s %-18s round %d:%s\n", name, setup, r, $0 }' "$f"
	done
done

echo
echo "ranges over $ROUNDS rounds (ratio, servetrace us/req, BPF us/req, drops, stream rows miscounted):"
for b in "${BUILDS[@]}"; do
	name=$(basename "$b")
	cat "$WORK/$name"-*.txt | awk -v name="$name" '
	function keep(k, v) {
		if (v == "" || v == "-") return
		if (!((k, s) in lo) || v + 0 < lo[k, s] + 0) lo[k, s] = v
		if (!((k, s) in hi) || v + 0 > hi[k, s] + 0) hi[k, s] = v
	}
	function range(k) { return (k, s) in lo ? lo[k, s] "-" hi[k, s] : "-" }
	/^(plain|stream):/ { s = $1 == "stream:" ? "stream " $2 " events" : "plain"; if (!(s in seen)) { seen[s] = 1; order[++ns] = s } }
	/^  round 1:/ {
		for (i = 1; i <= NF; i++) {
			if ($i == "ratio") keep("r", $(i + 1))
			if ($i == "us/req" && $(i - 2) != "bpf") keep("u", $(i - 1))
			if ($i == "bpf") keep("b", $(i + 1))
			if ($i == "drops") keep("d", $(i + 1))
			if ($i == "miscounted") keep("m", $(i + 1))
		}
	}
	END {
		for (j = 1; j <= ns; j++) {
			s = order[j]
			printf "  %-16s %-18s ratio %s  servetrace %s us/req  bpf %s us/req  drops %s  miscounted %s\n",
				name, s, range("r"), range("u"), range("b"), range("d"), range("m")
		}
	}'
done

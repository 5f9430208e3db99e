#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The collector's user-space CPU per request, without root: replays a
# recording through ./servetrace several times and prints user+sys CPU per
# row and per request (requests as the summary counts them: read by the
# router, else by the workers). A benchmark: it prints numbers only.
set -euo pipefail

usage() {
	cat <<EOF
Usage: tools/bench_collector.sh [OPTION...] RECORDING

  --runs N            replays (default $RUNS); the best and the median are shown
  --tracer-args "..." extra servetrace options for the replay
  --instructions      also one replay under valgrind (callgrind): instructions
                      per row, less a 100-row replay's (start-up, exit). Unlike
                      CPU time it does not move with the machine's load
  -h, --help          this text

A recording comes from a traced round of the capture bench, e.g.
  flock /tmp/servetrace-heavy.lock tools/bench_capture.sh --mode plain \\
      --rounds 1 --duration 8 --tracer-args "--record /tmp/plain.strec"
(the traced phase writes it; the file holds captured payloads: keep it
private). Replay CPU includes reading the file, which a live run does not
pay, and excludes the ring-buffer work a live run does.
Environment: SERVETRACE overrides the binary.
EOF
}

RUNS=5 TRACER_ARGS="" INSTRUCTIONS=0
while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2; shift ;;
	--tracer-args) TRACER_ARGS=$2; shift ;;
	--instructions) INSTRUCTIONS=1 ;;
	-h|--help) usage; exit 0 ;;
	-*) echo "bench_collector: unknown option '$1' (see --help)" >&2; exit 2 ;;
	*) break ;;
	esac
	shift
done
[ $# -eq 1 ] || { usage >&2; exit 2; }
REC=$1
[ -r "$REC" ] || { echo "bench_collector: cannot read $REC" >&2; exit 1; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVETRACE=${SERVETRACE:-$ROOT/servetrace}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

for i in $(seq 1 "$RUNS"); do
	# shellcheck disable=SC2086
	/usr/bin/time -f "%U %S" -o "$WORK/time.$i" \
		"$SERVETRACE" --replay "$REC" -o "$WORK/out.csv" $TRACER_ARGS 2> "$WORK/err.$i" ||
		{ echo "bench_collector: replay failed: $(tail -3 "$WORK/err.$i")" >&2; exit 1; }
done
rows=$(awk '/rows written/ { print $NF; exit }' "$WORK/err.1")
reqs=$(awk '/inference requests read by the router/ { r = $NF }
	    /requests read by the workers/ { w = $NF }
	    END { print (r > 0 ? r : w) + 0 }' "$WORK/err.1")
[ "${rows:-0}" -gt 0 ] || { echo "bench_collector: no rows from $REC" >&2; exit 1; }
cat "$WORK"/time.* | sort -n -k1,1 | awk -v rows="$rows" -v reqs="$reqs" -v runs="$RUNS" -v rec="$REC" '
	{ u[NR] = $1; s[NR] = $2; t[NR] = $1 + $2 }
	END {
		n = asort(t)
		best = t[1]; med = t[int((n + 1) / 2)]
		printf "recording %s: %d rows, %d requests, %d runs\n", rec, rows, reqs, runs
		printf "cpu (user+sys) best %.3f s, median %.3f s\n", best, med
		printf "per row     best %.2f us, median %.2f us\n", best * 1e6 / rows, med * 1e6 / rows
		if (reqs > 0)
			printf "per request best %.2f us, median %.2f us\n", best * 1e6 / reqs, med * 1e6 / reqs
	}'

[ "$INSTRUCTIONS" = 1 ] || exit 0
command -v valgrind >/dev/null || { echo "bench_collector: --instructions needs valgrind" >&2; exit 1; }
# the first 600 records (about 100 requests of the plain bench): the fixed part
python3 - "$REC" "$WORK/head.strec" <<'PY'
import struct, sys
f, o = open(sys.argv[1], 'rb'), open(sys.argv[2], 'wb')
magic = f.readline(); o.write(magic)
if magic == b'STREC2\n':
    o.write(f.readline())
o.write(f.read(8))
for _ in range(600):
    h = f.read(8)
    if len(h) < 8:
        break
    o.write(h); o.write(f.read(struct.unpack('<II', h)[1]))
PY
instr() {	# instr RECORDING: "instructions rows"
	# shellcheck disable=SC2086
	valgrind --tool=callgrind --callgrind-out-file=/dev/null \
		"$SERVETRACE" --replay "$1" -o "$WORK/cg.csv" $TRACER_ARGS 2> "$WORK/cg.err" ||
		{ echo "bench_collector: valgrind replay failed: $(tail -3 "$WORK/cg.err")" >&2; exit 1; }
	awk '/Collected :/ { i = $NF } /rows written/ && !r { r = $NF } END { print i, r }' "$WORK/cg.err"
}
read -r i_all r_all < <(instr "$REC")
read -r i_head r_head < <(instr "$WORK/head.strec")
awk -v a="$i_all" -v ra="$r_all" -v h="$i_head" -v rh="$r_head" 'BEGIN {
	printf "instructions per row %.0f (%d rows; %.0f fixed, from %d rows)\n", (a - h) / (ra - rh), ra, h, rh
}'

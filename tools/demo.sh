#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# make demo: on this machine, from scratch: install what is missing, build,
# make the tiny model, bring up 2 SGLang workers behind sglang-router, attach
# servetrace, send a short Poisson load, write the timeline CSV (and a
# Perfetto timeline), compare it with what the client and SGLang report
# (in-band), print a summary, write the HTML report, tear down.
set -euo pipefail

usage() {
	cat <<USAGE
Usage: tools/demo.sh [--requests N] [--rate R] [--out DIR] [--keep-up]

  --requests N   requests to send (default 60)
  --rate R       Poisson arrival rate, requests/s (default 4)
  --out DIR      where the CSVs go (default demo-out/)
  --keep-up      leave the deployment running afterwards
Ports: router 30000, workers 30001-30002 (must be free).
USAGE
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
N=60 RATE=4 OUT=$ROOT/demo-out KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--requests) N=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--keep-up) KEEP=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "demo: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "demo: run as root (BPF)" >&2; exit 1; }

step() { printf '\n== %s\n' "$*"; }
RUN=$ROOT/run/demo
TRACER_PID=

cleanup() {
	[ -n "$TRACER_PID" ] && kill -INT "$TRACER_PID" 2>/dev/null && wait "$TRACER_PID" 2>/dev/null || true
	if [ "$KEEP" = 0 ]; then
		step "tearing down"
		tools/deploy/down.sh --run-dir "$RUN" || true
	fi
}

step "set-up (skipped where already done)"
tools/install_deps.sh
tools/install_python.sh
make -s servetrace tools
[ -f models/tiny-llama/config.json ] || .venv/bin/python tools/model/gen_tiny_model.py

step "bringing up 2 SGLang workers behind sglang-router (takes ~40 s)"
mkdir -p "$OUT"
trap cleanup EXIT
tools/deploy/up.sh --run-dir "$RUN" -n 2 --policy round_robin --enable-metrics

step "attaching servetrace"
rm -f "$OUT/ready"
./servetrace --router-port 30000 --worker-port 30001,30002 -q \
	-o "$OUT/timeline.csv" --perfetto "$OUT/timeline.json" \
	--ready-file "$OUT/ready" 2>"$OUT/servetrace.log" &
TRACER_PID=$!
for _ in $(seq 100); do [ -f "$OUT/ready" ] && break; sleep 0.1; done
[ -f "$OUT/ready" ] || { cat "$OUT/servetrace.log" >&2; exit 1; }
rm -f "$OUT/ready"

step "sending $N requests, Poisson arrivals at $RATE/s (half streaming)"
half=$((N / 2))
tools/loadgen/loadgen --port 30000 --num-requests "$half" --request-rate "$RATE" \
	--random-input-len 32 --random-output-len 16 --random-range-ratio 0.5 \
	--seed 1 --rid-prefix demo-a --output-csv "$OUT/inband-nostream.csv" || true
tools/loadgen/loadgen --port 30000 --num-requests "$((N - half))" --request-rate "$RATE" \
	--random-input-len 32 --random-output-len 16 --random-range-ratio 0.5 --stream \
	--seed 2 --rid-prefix demo-b --output-csv "$OUT/inband-stream.csv" || true

kill -INT "$TRACER_PID"
wait "$TRACER_PID" || true
TRACER_PID=

step "servetrace said"
cat "$OUT/servetrace.log"

step "timeline: $OUT/timeline.csv ($(($(wc -l <"$OUT/timeline.csv") - 1)) rows)"
# Median of each stage, in ms, from the CSV (columns by name).
gawk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	function d(a, b) { return ($col[a] != "" && $col[b] != "") ? ($col[b] - $col[a]) * 1000 : "" }
	BEGIN { ns = split("router queue (arrival -> forward)|network (forward -> server read)|" \
			   "tokenize (server read -> scheduler)|scheduler queue|" \
			   "prefill (queue end -> first token)|ttft (arrival -> first token)|" \
			   "total latency (arrival -> finish)", name, "|") }
	{ n++; ok += ($col["success"] == "True")
	  v[1][n] = d("arrival_time", "router_send_time")
	  v[2][n] = d("router_send_time", "server_created_time")
	  v[3][n] = d("server_created_time", "queue_time_start")
	  v[4][n] = d("queue_time_start", "queue_time_end")
	  v[5][n] = d("queue_time_end", "server_first_token_time")
	  v[6][n] = d("arrival_time", "server_first_token_time")
	  v[7][n] = d("arrival_time", "finish_time") }
	END { printf "%d requests, %d succeeded\n%-40s %10s %6s\n", n, ok, "stage", "p50 ms", "rows"
	      for (s = 1; s <= ns; s++) { m = 0; delete a
	        for (i = 1; i <= n; i++) if (v[s][i] != "") a[++m] = v[s][i]
	        if (!m) { printf "%-40s %10s %6d\n", name[s], "-", 0; continue }
	        asort(a); printf "%-40s %10.3f %6d\n", name[s], a[int((m + 1) / 2)], m } }' "$OUT/timeline.csv"

step "servetrace vs in-band (client + SGLang --enable-metrics), streaming run"
tools/loadgen/compare "$OUT/timeline.csv" "$OUT/inband-stream.csv" || true
step "report"
# one in-band CSV for both runs (same columns)
{ cat "$OUT/inband-nostream.csv"; tail -n +2 "$OUT/inband-stream.csv"; } >"$OUT/inband.csv"
.venv/bin/python tools/report/report.py "$OUT/timeline.csv" --inband "$OUT/inband.csv" \
	-o "$OUT/report.html" --title "servetrace demo: $N requests at $RATE/s" >/dev/null
echo
echo "CSV: $OUT/timeline.csv   in-band: $OUT/inband.csv"
echo "timeline: $OUT/timeline.json (open in https://ui.perfetto.dev)"
echo "report: $OUT/report.html"

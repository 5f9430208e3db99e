#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# How far are servetrace's vLLM columns from vLLM's own stamps? One vLLM
# worker with stats on (deploy --enable-metrics): the first EngineCoreOutputs
# of each request then carries its QUEUED and SCHEDULED stamps, and every
# EngineCoreOutputs its creation stamp (vLLM's first_token_ts), all on the
# EngineCore's time.monotonic(), the clock of bpf_ktime_get_ns(). servetrace
# reads them (queue_time_end is then the SCHEDULED stamp) and writes in
# `notes` what it would say from the libzmq hop alone, as offsets from them:
#   loop: the loop-derived queue end (stats off) - SCHEDULED
#   recv: queue_time_start (EngineCore receive) - QUEUED
#   out:  server_first_token_time (first output sent) - first_token_ts
# This script loads the worker light and saturated, streaming and not, and
# prints the percentiles of those offsets per phase (ms). docs/accuracy.md
# ("vLLM") has the numbers. Needs root, make servetrace tools, .venv-vllm.
set -euo pipefail

PORT=${PORT:-28101} LIGHT_RATE=${LIGHT_RATE:-4} LIGHT_N=${LIGHT_N:-40}
SAT_N=${SAT_N:-150} IN_LEN=32 OUT_LEN=8 KEEP=${KEEP:-0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOADGEN=$ROOT/tools/loadgen/loadgen
die() { echo "accuracy_vllm: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (BPF)"
[ -x "$ROOT/servetrace" ] && [ -x "$LOADGEN" ] || die "run 'make servetrace tools' first"

WORK=$(mktemp -d /tmp/accuracy_vllm.XXXXXX)
TRACER_PID="" RUN_DIR=$WORK/run
cleanup() {
	local rc=$?
	trap - EXIT
	[ -z "$TRACER_PID" ] || { kill -INT "$TRACER_PID" 2>/dev/null; wait "$TRACER_PID" || true; }
	"$ROOT/tools/deploy/down.sh" --run-dir "$RUN_DIR" >/dev/null 2>&1 || true
	if [ "$KEEP" = 1 ]; then echo "accuracy_vllm: kept $WORK" >&2; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$ROOT/tools/deploy/up.sh" --run-dir "$RUN_DIR" --engine vllm -n 1 --no-router \
	--worker-port "$PORT" --enable-metrics > "$WORK/deploy.log" 2>&1 ||
	die "deployment failed: $(tail -20 "$WORK/deploy.log")"
"$ROOT/servetrace" -q -o "$WORK/trace.csv" --ready-file "$WORK/ready" --worker-port "$PORT" \
	2> "$WORK/trace.err" &
TRACER_PID=$!
for _ in $(seq 300); do [ -e "$WORK/ready" ] && break; sleep 0.1; done
[ -e "$WORK/ready" ] || die "servetrace did not attach: $(cat "$WORK/trace.err")"
lg() {	# lg TAG RATE N [--stream]
	"$LOADGEN" --port "$PORT" --backend openai --request-rate "$2" --num-requests "$3" \
		--random-input-len "$IN_LEN" --random-output-len "$OUT_LEN" --seed 7 --timeout 300 \
		--rid-prefix "$1" ${4:-} -q > "$WORK/lg-$1.txt" 2>&1 || die "loadgen: $(tail -5 "$WORK/lg-$1.txt")"
}
lg warm inf 20 --stream
lg light-stream "$LIGHT_RATE" "$LIGHT_N" --stream
lg light-nostream "$LIGHT_RATE" "$LIGHT_N"
lg sat-stream inf "$SAT_N" --stream
lg sat-nostream inf "$SAT_N"
sleep 1
kill -INT "$TRACER_PID"; wait "$TRACER_PID" || die "servetrace failed: $(tail -5 "$WORK/trace.err")"
TRACER_PID=""
echo "servetrace vs. vLLM's own stamps (ms): $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs; light = $LIGHT_N requests at $LIGHT_RATE req/s, saturated = $SAT_N at once; $IN_LEN-word prompts, $OUT_LEN tokens"
python3 - "$WORK/trace.csv" <<'PY'
import csv, re, sys
pat = re.compile(r"loop ([-+][0-9.]+), recv ([-+][0-9.]+), out ([-+][0-9.]+) ms")
phases = {}
for r in csv.DictReader(open(sys.argv[1])):
    tag = r["req_id"].rsplit("-", 1)[0]
    m = pat.search(r["notes"])
    if tag == "warm" or r["success"] != "True":
        continue
    d = phases.setdefault(tag, {"n": 0, "stamped": 0, "loop": [], "recv": [], "out": [], "wait": []})
    d["n"] += 1
    if not m:
        continue
    d["stamped"] += 1
    for k, v in zip(("loop", "recv", "out"), m.groups()):
        d[k].append(float(v))
    d["wait"].append((float(r["queue_time_end"]) - float(r["queue_time_start"])) * 1e3)
def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")
print("%-15s %4s %5s  %-34s %-34s %-34s %s" % ("phase", "rows", "stamp", "loop - SCHEDULED p50 / p90 / worst",
      "recv - QUEUED p50 / p90 / worst", "first out - stamp p50 / p90 / worst", "queue wait p50 / max"))
for tag in ("light-stream", "light-nostream", "sat-stream", "sat-nostream"):
    d = phases.get(tag)
    if not d:
        continue
    cells = []
    for k in ("loop", "recv", "out"):
        v = d[k]
        worst = max(v, key=abs) if v else float("nan")
        cells.append("%+8.3f %+8.3f %+8.3f" % (pct(v, .5), pct(v, .9), worst))
    print("%-15s %4d %5d  %-34s %-34s %-34s %.2f / %.2f" % (tag, d["n"], d["stamped"], *cells,
          pct(d["wait"], .5), max(d["wait"] or [0])))
PY
grep -E "vllm:" "$WORK/trace.err" || true

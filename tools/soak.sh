#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# make soak: servetrace left running under a steady load. The real
# sglang-router in front of 2 SGLang workers (tools/deploy), a Poisson load
# from tools/loadgen for SOAK_MINUTES (default 2), servetrace attached the
# whole time. Every SAMPLE_S (10) seconds: servetrace's RSS and CPU time.
# Reports the RSS slope (least squares over the samples after the first
# minute's warm-up; flat is the goal), CPU per request, and rows against
# requests sent: each request sent must be one row, or an explained loss
# (a loss counter of the exit summary); anything else fails the run.
# Bounded: the load stops by itself, the deployment is taken down on exit.
# Run it under the heavy lock: flock /tmp/servetrace-heavy.lock make soak
#   SOAK_MINUTES=30 SOAK_RATE=8 make soak
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MINUTES=${SOAK_MINUTES:-2}
RATE=${SOAK_RATE:-8}		# requests per second, Poisson
SAMPLE_S=${SAMPLE_S:-10}
ROUTER_PORT=${SOAK_PORT:-23000}
WORK=${SOAK_DIR:-$(mktemp -d /tmp/servetrace-soak.XXXXXX)}
mkdir -p "$WORK"
SERVETRACE=$ROOT/servetrace
LOADGEN=$ROOT/tools/loadgen/loadgen
HZ=$(getconf CLK_TCK)

log() { printf 'soak: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ -x "$SERVETRACE" ] && [ -x "$LOADGEN" ] || die "run make first"
TRACER_PID=
cleanup() {
	[ -n "$TRACER_PID" ] && kill -INT "$TRACER_PID" 2>/dev/null && wait "$TRACER_PID" 2>/dev/null
	"$ROOT/tools/deploy/down.sh" --run-dir "$WORK/run" >/dev/null 2>&1 || true
}
trap cleanup EXIT

log "deploying router :$ROUTER_PORT + 2 SGLang workers in $WORK/run"
"$ROOT/tools/deploy/up.sh" --run-dir "$WORK/run" -n 2 --policy round_robin \
	--router-port "$ROUTER_PORT" --worker-port $((ROUTER_PORT + 1)) >"$WORK/deploy.log" 2>&1 ||
	die "deployment failed: $(tail -5 "$WORK/deploy.log")"

# the whole deployment: the router, both workers and their libzmq hops
"$SERVETRACE" -q -o "$WORK/trace.csv" --ready-file "$WORK/ready" --router-port "$ROUTER_PORT" \
	--worker-port $((ROUTER_PORT + 1)),$((ROUTER_PORT + 2)) 2>"$WORK/trace.err" &
TRACER_PID=$!
for _ in $(seq 300); do [ -e "$WORK/ready" ] && break; sleep 0.1; done
[ -e "$WORK/ready" ] || die "servetrace did not attach: $(cat "$WORK/trace.err")"

NREQ=$(awk -v m="$MINUTES" -v r="$RATE" 'BEGIN { printf "%d", m * 60 * r }')
log "load: $NREQ requests at $RATE/s (~$MINUTES min), samples every ${SAMPLE_S}s"
"$LOADGEN" --port "$ROUTER_PORT" --num-requests "$NREQ" --request-rate "$RATE" \
	--random-input-len 128 --random-output-len 32 --random-range-ratio 0.25 \
	--stream --seed 13 --output-csv "$WORK/loadgen.csv" >"$WORK/loadgen.out" 2>&1 &
LG_PID=$!

# t_s rss_kb cpu_ticks (utime + stime of servetrace)
t0=$(date +%s.%N)
sample() {
	local rss cpu
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$TRACER_PID/status")
	cpu=$(awk '{ print $14 + $15 }' "/proc/$TRACER_PID/stat")
	echo "$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }') $rss $cpu"
}
sample >"$WORK/samples.txt"
while kill -0 "$LG_PID" 2>/dev/null; do
	kill -0 "$TRACER_PID" 2>/dev/null || die "servetrace died: $(tail -5 "$WORK/trace.err")"
	sleep "$SAMPLE_S"
	sample >>"$WORK/samples.txt"
done
wait "$LG_PID" || log "loadgen exited non-zero (see $WORK/loadgen.out)"
sleep 2		# the last rows linger
kill -INT "$TRACER_PID"
wait "$TRACER_PID" || die "servetrace failed: $(tail -5 "$WORK/trace.err")"
TRACER_PID=

python3 - "$WORK" "$HZ" "$MINUTES" <<'PY'
import csv, os, sys
work, hz, minutes = sys.argv[1], int(sys.argv[2]), sys.argv[3]
samples = [tuple(map(float, l.split())) for l in open(os.path.join(work, "samples.txt")) if l.strip()]
sent = list(csv.DictReader(open(os.path.join(work, "loadgen.csv"))))
rows = list(csv.DictReader(open(os.path.join(work, "trace.csv"))))
err = open(os.path.join(work, "trace.err")).read()
ids = {r["req_id"] for r in rows}
sent_ids = [r.get("req_id") or r.get("rid") for r in sent]
missing = [i for i in sent_ids if i not in ids]
extra = [r["req_id"] for r in rows if r["req_id"] not in set(sent_ids)]
failed_sent = sum(1 for r in sent if r.get("success") not in ("True", "true", "1"))
lost = {}
for line in err.splitlines():
    s = line.strip()
    if ("lost" in s or "evicted" in s or "unread" in s or "dropped" in s) and s.split()[-1].isdigit() \
            and int(s.split()[-1]):
        lost[" ".join(s.split()[:-1])] = int(s.split()[-1])
warm = [s for s in samples if s[0] >= 60] or samples
n = len(warm)
mx = sum(s[0] for s in warm) / n
my = sum(s[1] for s in warm) / n
den = sum((s[0] - mx) ** 2 for s in warm) or 1
slope = sum((s[0] - mx) * (s[1] - my) for s in warm) / den  # KiB/s
cpu_s = (samples[-1][2] - samples[0][2]) / hz
print("soak: %s min, %d samples" % (minutes, len(samples)))
print("  RSS KiB: first %d, last %d, max %d; slope after warm-up %.2f KiB/min"
      % (samples[0][1], samples[-1][1], max(s[1] for s in samples), slope * 60))
print("  CPU: %.2f s in all, %.3f ms per request" % (cpu_s, 1000 * cpu_s / max(len(sent), 1)))
print("  requests sent %d (client-side failures %d), rows %d, sent without a row %d, rows not sent %d"
      % (len(sent), failed_sent, len(rows), len(missing), len(extra)))
print("  loss counters: %s" % (lost or "none"))
# every stage traced: a row of a successful request has the worker's
# arrival and the scheduler's queue times, or the run did not trace it all
ok_rows = [r for r in rows if r["success"] == "True"]
full = [r for r in ok_rows if r["server_created_time"] and r["queue_time_start"]
        and r["queue_time_end"] and r["host"]]
print("  complete rows (worker arrival, scheduler queue, host): %d of %d successful"
      % (len(full), len(ok_rows)))
unexplained = len(missing) - sum(lost.values())
ok = unexplained <= 0 and not extra and len(full) == len(ok_rows)
print("  unexplained losses: %d -> %s" % (max(unexplained, 0), "OK" if ok else "FAIL"))
with open(os.path.join(work, "report.txt"), "w") as f:
    f.write("slope_kib_per_min %.3f\ncpu_ms_per_req %.4f\nsent %d\nrows %d\nmissing %d\ncomplete %d\n"
            % (slope * 60, 1000 * cpu_s / max(len(sent), 1), len(sent), len(rows), len(missing),
               len(full)))
sys.exit(0 if ok else 1)
PY

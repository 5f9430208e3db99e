#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# How far are servetrace's timestamps from the truth? Brings up a real
# deployment (router + 2 SGLang workers, --enable-metrics), traces it with
# --record, loads it with tools/loadgen (streaming and not, a light and a
# saturating rate), then prints per phase the signed error of each column
# against SGLang's own stamps (read from the scheduler's IPC payloads in
# the recording: tests/e2e/sglang_stamps.py) and against the client
# (tools/loadgen/compare). docs/accuracy.md explains the numbers.
set -euo pipefail

usage() {
	cat <<EOF
Usage: tools/accuracy_report.sh [OPTION...]

Phases, in order, all to /generate (random prompts of up to $IN_LEN words,
$OUT_LEN/2..$OUT_LEN output tokens):
  light-stream     --stream,    LIGHT_N requests at LIGHT_RATE req/s
  light-nostream   no stream,   the same
  sat-stream       --stream,    SAT_N requests at SAT_RATE req/s
  sat-nostream     no stream,   the same
  sat-mixed        both at once, SAT_N/2 each at SAT_RATE/2 req/s each
Needs root (BPF), make servetrace tools, the .venv (tools/install_python.sh).

  --port P          router port; workers P+1, P+2, router metrics P+100
                    (default $PORT)
  --ipc MODE        pickle or msgpack (default $IPC)
  --light-rate R    (default $LIGHT_RATE)    --light-n N   (default $LIGHT_N)
  --sat-rate R      (default $SAT_RATE)   --sat-n N     (default $SAT_N)
                    SAT_RATE must exceed what the deployment serves (about
                    190 req/s on the 2-core CI VM with these lengths)
  --quick           light-n 20, sat-n 100 (smoke run)
  --keep            keep the work directory (CSVs, recording, logs)
  -h, --help        this text
EOF
}

PORT=26600 IPC=pickle LIGHT_RATE=5 LIGHT_N=60 SAT_RATE=250 SAT_N=300
IN_LEN=48 OUT_LEN=16 KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--port) PORT=$2; shift ;;
	--ipc) IPC=$2; shift ;;
	--light-rate) LIGHT_RATE=$2; shift ;;
	--light-n) LIGHT_N=$2; shift ;;
	--sat-rate) SAT_RATE=$2; shift ;;
	--sat-n) SAT_N=$2; shift ;;
	--quick) LIGHT_N=20 SAT_N=100 ;;
	--keep) KEEP=1 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "accuracy_report: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done

die() { echo "accuracy_report: $*" >&2; exit 1; }
log() { echo "accuracy_report: $*" >&2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVETRACE=${SERVETRACE:-$ROOT/servetrace}
LOADGEN=$ROOT/tools/loadgen/loadgen
COMPARE=$ROOT/tools/loadgen/compare
STAMPS=$ROOT/tests/e2e/sglang_stamps.py

[ "$(id -u)" = 0 ] || die "needs root (BPF)"
for b in "$SERVETRACE" "$LOADGEN" "$COMPARE"; do
	[ -x "$b" ] || die "no $b: run 'make servetrace tools' first"
done
case $IPC in pickle|msgpack) ;; *) die "--ipc is pickle or msgpack" ;; esac

WORK=$(mktemp -d /tmp/accuracy.XXXXXX)
TRACER_PID=""
DEPLOYED=0
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$TRACER_PID" ]; then
		kill -INT "$TRACER_PID" 2>/dev/null || true
		wait "$TRACER_PID" 2>/dev/null || true
	fi
	[ "$DEPLOYED" = 0 ] || "$ROOT/tools/deploy/down.sh" --run-dir "$WORK/run" >/dev/null 2>&1 || true
	if [ "$KEEP" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "deployment: router :$PORT, workers :$((PORT + 1)),:$((PORT + 2)), $IPC IPC, --enable-metrics"
DEPLOYED=1
"$ROOT/tools/deploy/up.sh" --run-dir "$WORK/run" -n 2 --router-port "$PORT" \
	--worker-port "$((PORT + 1))" --enable-metrics --ipc "$IPC" > "$WORK/deploy.log" 2>&1 ||
	die "deployment failed: $(tail -20 "$WORK/deploy.log")"

"$SERVETRACE" -q -o "$WORK/trace.csv" --record "$WORK/trace.strec" --ready-file "$WORK/ready" \
	--router-port "$PORT" --worker-port "$((PORT + 1)),$((PORT + 2))" 2> "$WORK/trace.err" &
TRACER_PID=$!
for _ in $(seq 300); do
	[ -e "$WORK/ready" ] && break
	kill -0 "$TRACER_PID" 2>/dev/null || die "servetrace exited: $(cat "$WORK/trace.err")"
	sleep 0.1
done
[ -e "$WORK/ready" ] || die "servetrace did not attach within 30 s: $(cat "$WORK/trace.err")"

# load NAME RATE N STREAM(1/0) [seed]
load() {
	local name=$1 rate=$2 n=$3 stream=--no-stream seed=${5:-1}
	[ "$4" = 1 ] && stream=--stream
	"$LOADGEN" --port "$PORT" --num-requests "$n" --request-rate "$rate" "$stream" \
		--random-input-len "$IN_LEN" --random-output-len "$OUT_LEN" --random-range-ratio 0.5 \
		--seed "$seed" --timeout 300 --rid-prefix "$name" --output-csv "$WORK/$name.csv" \
		-q > "$WORK/$name.summary" 2>&1 ||
		die "loadgen $name failed: $(tail -5 "$WORK/$name.summary")"
}

log "warm-up"
load warm 20 20 1
PHASES=(light-stream light-nostream sat-stream sat-nostream sat-mixed)
log "light-stream: $LIGHT_N requests at $LIGHT_RATE req/s"
load light-stream "$LIGHT_RATE" "$LIGHT_N" 1 2
log "light-nostream: $LIGHT_N requests at $LIGHT_RATE req/s"
load light-nostream "$LIGHT_RATE" "$LIGHT_N" 0 3
log "sat-stream: $SAT_N requests at $SAT_RATE req/s"
load sat-stream "$SAT_RATE" "$SAT_N" 1 4
sleep 2
log "sat-nostream: $SAT_N requests at $SAT_RATE req/s"
load sat-nostream "$SAT_RATE" "$SAT_N" 0 5
sleep 2
half_rate=$(awk -v r="$SAT_RATE" 'BEGIN { print r / 2 }')
log "sat-mixed: $((SAT_N / 2)) streaming + $((SAT_N / 2)) not, at $half_rate req/s each"
load sat-mixed-s "$half_rate" "$((SAT_N / 2))" 1 6 &
mixed_s=$!
load sat-mixed-n "$half_rate" "$((SAT_N / 2))" 0 7
wait "$mixed_s" || die "loadgen sat-mixed-s failed"
{ cat "$WORK/sat-mixed-s.csv"; tail -n +2 "$WORK/sat-mixed-n.csv"; } > "$WORK/sat-mixed.csv"
cat "$WORK/sat-mixed-s.summary" "$WORK/sat-mixed-n.summary" > "$WORK/sat-mixed.summary"

sleep 1	# the last rows' linger
kill -INT "$TRACER_PID"
wait "$TRACER_PID" || die "servetrace failed: $(tail -5 "$WORK/trace.err")"
TRACER_PID=""

# ---- the report --------------------------------------------------------
summary_num() {
	awk -v k="$2" 'index($0, "  " k " ") == 1 && $NF ~ /^[0-9]+$/ { v = $NF } END { print v + 0 }' "$1"
}
lg() {	# a number from loadgen summaries (summed over files)
	awk -v k="$1" 'index($0, k) == 1 { v += $NF } END { printf "%g", v }' "${@:2}"
}

echo "servetrace accuracy: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -r), SGLang $(
	"$ROOT/.venv/bin/python" -c 'import importlib.metadata as m; print(m.version("sglang"))' 2>/dev/null || echo '?'),
	$IPC IPC, router + 2 workers, /generate, $IN_LEN-word prompts, $((OUT_LEN / 2))..$OUT_LEN output tokens"
echo "servetrace losses: zmq payloads cut at 4 KiB $(summary_num "$WORK/trace.err" zmq_truncated)," \
	"outputs with more rids than captured $(summary_num "$WORK/trace.err" "libzmq: outputs with more rids than captured")," \
	"kernel drops $(summary_num "$WORK/trace.err" "kernel: events dropped, ring buffer full")," \
	"zmq ring buffer full $(summary_num "$WORK/trace.err" zmq_ringbuf_full)"
# meta_info's scheduler stamps: with pickle IPC SGLang 0.5.15 loses them
# (no forward_entry_time/prefill_finished_time, queue_time 0.0)
META_PAIRS=()
[ "$IPC" = pickle ] || META_PAIRS=(-p queue_time_end=forward_entry_time
	-p server_first_token_time=prefill_finished_time -p pure_queue_time=queue_time)
for ph in "${PHASES[@]}"; do
	csv=$WORK/$ph.csv
	awk -F, -v p="$ph" 'NR == 1 || index($1, p) == 1' "$WORK/trace.csv" > "$WORK/trace-$ph.csv"
	echo
	echo "=== $ph: $(($(wc -l < "$csv") - 1)) requests," \
		"offered $(lg 'Traffic request rate:' "$WORK/$ph.summary") req/s," \
		"served $(lg 'Request throughput (req/s):' "$WORK/$ph.summary") req/s," \
		"peak in flight $(lg 'Peak requests in flight:' "$WORK/$ph.summary")"
	python3 "$STAMPS" report "$WORK/trace-$ph.csv" "$WORK/trace.strec" "$csv" | sed 's/^/  /'
	echo "  vs the client${META_PAIRS:+ and meta_info} (loadgen in-band CSV; tools/loadgen/compare):"
	"$COMPARE" -n 0 -p arrival_time=client_send_time -p server_created_time=request_received_ts \
		"${META_PAIRS[@]}" \
		-p server_first_token_time=client_first_token_time -p finish_time=client_finish_time \
		-p ttft -p total_latency -p output_tokens_from_trace=actual_output_tokens \
		"$WORK/trace-$ph.csv" "$csv" |
		awk '/^signed error/ { on = 1; next } /^worst outliers/ { on = 0 } on && NF' | sed 's/^/  /'
done

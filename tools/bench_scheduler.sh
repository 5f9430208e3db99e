#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# What do servetrace's libzmq uprobes cost the SGLang scheduler? One real
# SGLang worker (no router), saturated by tools/loadgen (--request-rate inf,
# a fixed number of short requests); baseline and traced phases alternate
# within each round and the table gives requests/s, their ratio and its
# spread, servetrace's CPU and its zmq counters. A third phase runs
# servetrace --http-only (socket tracepoints, no uprobes), so the cost of
# the uprobes is told apart from that of the syscall tracepoints. Run once with the
# scheduler sleeping when idle (SGLang --sleep-on-idle) and once spinning
# (the default without it): a spinning scheduler calls zmq_msg_recv in a
# tight loop, every call a uprobe hit, the worst case for the probes.
# --engine vllm: the same for vLLM's EngineCore (one vLLM worker, stats
# off, /v1/completions); its engine loop blocks on its input thread's
# poll, so there is one idle mode ("vllm") and no spinning.
# A benchmark: it prints numbers and asserts only that the setup worked.
set -euo pipefail

usage() {
	cat <<EOF
Usage: tools/bench_scheduler.sh [OPTION...]

For each idle mode (sleep, spin): deploy 1 SGLang worker, warm it up
(2 x BURSTS bursts), then ROUNDS rounds of: baseline, http-only, traced
(the order rotating between rounds). A phase is BURSTS bursts of N
requests sent at once (loadgen --request-rate inf, /generate, --stream,
$IN_LEN-word prompts, $OUT_LEN output tokens); its req/s is the median
burst's: about one burst in six runs at half speed, traced or not, its
scheduler burning twice the CPU (Python's garbage collector, most likely),
which would swing a one-burst phase by half. Then IDLE seconds traced with
no load: failed receives per second (the spin rate the probes see).
Traced = servetrace --worker-port PORT attached, CSV to a file; http-only
= the same with --http-only (no libzmq uprobes).
Needs root, make servetrace tools, the .venv (tools/install_python.sh).

  --rounds N        rounds per idle mode (default $ROUNDS)
  -n, --requests N  requests per burst (default $N)
  --bursts N        bursts per phase (default $BURSTS)
  --idle SEC        traced idle period per mode (default $IDLE)
  --modes LIST      sleep,spin (default $MODES)
  --port P          worker port (default $PORT)
  --engine E        sglang (default) or vllm (the EngineCore; mode "vllm")
  --quick           2 rounds of 100 requests, 2 s idle
  --keep            keep the work directory
  -h, --help        this text
EOF
}

ROUNDS=5 N=200 BURSTS=5 IDLE=5 MODES=sleep,spin PORT=26801 IN_LEN=32 OUT_LEN=4 KEEP=0 ENGINE=sglang
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=$2; shift ;;
	-n|--requests) N=$2; shift ;;
	--bursts) BURSTS=$2; shift ;;
	--idle) IDLE=$2; shift ;;
	--modes) MODES=$2; shift ;;
	--port) PORT=$2; shift ;;
	--engine) ENGINE=$2; shift ;;
	--quick) ROUNDS=2 N=100 BURSTS=3 IDLE=2 ;;
	--keep) KEEP=1 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "bench_scheduler: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
BACKEND=sglang
if [ "$ENGINE" = vllm ]; then
	MODES=vllm BACKEND=openai
elif [ "$ENGINE" != sglang ]; then
	echo "bench_scheduler: --engine sglang|vllm" >&2; exit 2
fi

die() { echo "bench_scheduler: $*" >&2; exit 1; }
log() { echo "bench_scheduler: $*" >&2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVETRACE=${SERVETRACE:-$ROOT/servetrace}
LOADGEN=$ROOT/tools/loadgen/loadgen
HZ=$(getconf CLK_TCK)

[ "$(id -u)" = 0 ] || die "needs root (BPF)"
for b in "$SERVETRACE" "$LOADGEN"; do
	[ -x "$b" ] || die "no $b: run 'make servetrace tools' first"
done
others=$(pgrep -d, -x servetrace || true)
[ -z "$others" ] || log "WARNING: other servetrace instances run here (pid $others): their syscall tracepoints cost every process, baseline included"

WORK=$(mktemp -d /tmp/bench_scheduler.XXXXXX)
TRACER_PID=""
RUN_DIR=""
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$TRACER_PID" ]; then
		kill -INT "$TRACER_PID" 2>/dev/null || true
		wait "$TRACER_PID" 2>/dev/null || true
	fi
	[ -z "$RUN_DIR" ] || "$ROOT/tools/deploy/down.sh" --run-dir "$RUN_DIR" >/dev/null 2>&1 || true
	if [ "$KEEP" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

proc_ticks() {	# utime+stime of a process (all threads), in ticks
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
summary_num() {	# a counter of servetrace's exit summary
	awk -v k="$2" 'index($0, "  " k " ") == 1 && $NF ~ /^[0-9]+$/ { v = $NF } END { print v + 0 }' "$1"
}
lg_median() {	# median over the bursts of a phase of a loadgen summary number
	awk -v k="$1" 'index($0, k) == 1 { print $NF }' "$WORK/lg-$2-"*.summary | sort -g |
		awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

tracer_start() {	# tracer_start TAG [servetrace option...]
	local tag=$1
	shift
	rm -f "$WORK/ready"
	"$SERVETRACE" -q -o "$WORK/trace-$tag.csv" --ready-file "$WORK/ready" \
		--worker-port "$PORT" "$@" 2> "$WORK/trace-$tag.err" &
	TRACER_PID=$!
	for _ in $(seq 300); do
		[ -e "$WORK/ready" ] && return 0
		kill -0 "$TRACER_PID" 2>/dev/null || die "servetrace exited: $(cat "$WORK/trace-$tag.err")"
		sleep 0.1
	done
	die "servetrace did not attach within 30 s: $(cat "$WORK/trace-$tag.err")"
}
tracer_stop() {
	kill -INT "$TRACER_PID"
	wait "$TRACER_PID" || die "servetrace failed: $(tail -5 "$WORK/trace-$1.err")"
	TRACER_PID=""
}

RESULTS=$WORK/results.tsv
printf 'idle\tmode\tround\trps\tttft_p50\tlat_p50\tcpu\tfailed_recv\tevents\tdrops\trows\tsched_us\tserver_us\n' > "$RESULTS"
SCHED_PIDS=() SERVER_PIDS=()	# of the current deployment
ticks_of() {	# summed CPU ticks of the pids given
	local t=0 p
	for p in "$@"; do t=$((t + $(proc_ticks "$p"))); done
	echo "$t"
}

# phase IDLE_MODE base|http|traced ROUND
phase() {
	local idle=$1 mode=$2 round=$3 tag=$1-$2-$3
	local cpu=- fails=- events=- drops=- rows=- s0 w0 w1 k0 v0 extra=()

	if [ "$mode" != base ]; then
		[ "$mode" = http ] && extra=(--http-only)
		tracer_start "$tag" "${extra[@]}"
		s0=$(proc_ticks "$TRACER_PID")
	fi
	# the uprobe handlers run in the probed threads: their cost shows up
	# as the server's own CPU time per request
	k0=$(ticks_of "${SCHED_PIDS[@]}") v0=$(ticks_of "${SERVER_PIDS[@]}")
	w0=$(date +%s%N)
	for ((b = 1; b <= BURSTS; b++)); do
		"$LOADGEN" --port "$PORT" --num-requests "$N" --request-rate inf --stream --backend "$BACKEND" \
			--random-input-len "$IN_LEN" --random-output-len "$OUT_LEN" --random-range-ratio 1 \
			--seed "$round$b" --timeout 300 --rid-prefix "b$tag-$b" \
			--output-csv "$WORK/lg-$tag-$b.csv" -q > "$WORK/lg-$tag-$b.summary" 2>&1 ||
			die "loadgen failed: $(tail -5 "$WORK/lg-$tag-$b.summary")"
	done
	w1=$(date +%s%N)
	k0=$(awk -v t="$(( $(ticks_of "${SCHED_PIDS[@]}") - k0 ))" -v hz="$HZ" -v n="$((N * BURSTS))" \
		'BEGIN { printf "%.0f", 1e6 * t / hz / n }')
	v0=$(awk -v t="$(( $(ticks_of "${SERVER_PIDS[@]}") - v0 ))" -v hz="$HZ" -v n="$((N * BURSTS))" \
		'BEGIN { printf "%.0f", 1e6 * t / hz / n }')
	if [ "$mode" != base ]; then
		cpu=$(awk -v t="$(( $(proc_ticks "$TRACER_PID") - s0 ))" -v hz="$HZ" -v w="$((w1 - w0))" \
			'BEGIN { printf "%.1f", 100 * t / hz / (w / 1e9) }')
		tracer_stop "$tag"
		fails=$(summary_num "$WORK/trace-$tag.err" zmq_failed_recv)
		events=$(summary_num "$WORK/trace-$tag.err" zmq_events)
		drops=$(( $(summary_num "$WORK/trace-$tag.err" zmq_ringbuf_full) +
			  $(summary_num "$WORK/trace-$tag.err" "kernel: events dropped, ring buffer full") ))
		rows=$(awk -F, -v p="b$tag-" 'index($1, p) == 1 && $2 == "True" && $16 != "" { n++ } END { print n + 0 }' \
			"$WORK/trace-$tag.csv")
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$idle" "$mode" "$round" \
		"$(lg_median 'Request throughput (req/s):' "$tag")" \
		"$(lg_median 'Median TTFT (ms):' "$tag")" \
		"$(lg_median 'Median Total Latency (ms):' "$tag")" \
		"$cpu" "$fails" "$events" "$drops" "$rows" "$k0" "$v0" >> "$RESULTS"
	log "$(tail -1 "$RESULTS" | awk -F'\t' '{ printf "%-5s %-6s round %s: %s req/s, scheduler %s us/req, server %s us/req (servetrace CPU %s%%, failed receives %s, rows with queue columns %s)", $1, $2, $3, $4, $12, $13, $7, $8, $11 }')"
}

IDLE_RESULTS=$WORK/idle.tsv
printf 'idle\tseconds\tfailed_recv\tevents\tcpu\n' > "$IDLE_RESULTS"

IFS=, read -r -a modes <<< "$MODES"
for idle in "${modes[@]}"; do
	case $idle in
	sleep) flag=--sleep-on-idle ;;
	spin) flag=--no-sleep-on-idle ;;
	vllm) flag="--engine vllm" ;;
	*) die "--modes: sleep and/or spin" ;;
	esac
	RUN_DIR=$WORK/run-$idle
	log "deploying 1 worker on :$PORT ($flag)"
	"$ROOT/tools/deploy/up.sh" --run-dir "$RUN_DIR" -n 1 --no-router --worker-port "$PORT" \
		$flag > "$WORK/deploy-$idle.log" 2>&1 || die "deployment failed: $(tail -20 "$WORK/deploy-$idle.log")"
	# shellcheck disable=SC1091
	read -r -a SCHED_PIDS <<< "$(. "$RUN_DIR/deploy.env"; echo "$SCHEDULER_PIDS")"
	# shellcheck disable=SC1091
	read -r -a SERVER_PIDS <<< "$(. "$RUN_DIR/deploy.env"; echo "$WORKER_PIDS $SCHEDULER_PIDS $DETOKENIZER_PIDS")"
	# warm-up: the first phases after start-up run slower (new batch
	# shapes, allocator growth), whatever the mode
	for ((b = 1; b <= 2 * BURSTS; b++)); do
		"$LOADGEN" --port "$PORT" --num-requests "$N" --request-rate inf --stream --backend "$BACKEND" \
			--random-input-len "$IN_LEN" --random-output-len "$OUT_LEN" --random-range-ratio 1 \
			--seed "$b" --rid-prefix "warm-$idle-$b" -q > "$WORK/warm-$idle.summary" 2>&1 ||
			die "warm-up failed: $(tail -5 "$WORK/warm-$idle.summary")"
	done
	order=(base http traced)
	for ((r = 1; r <= ROUNDS; r++)); do
		for ((i = 0; i < 3; i++)); do
			phase "$idle" "${order[(r + i) % 3]}" "$r"
		done
	done
	# idle: how often the probes fire with nothing to do
	tracer_start "idle-$idle"
	s0=$(proc_ticks "$TRACER_PID")
	sleep "$IDLE"
	cpu=$(awk -v t="$(( $(proc_ticks "$TRACER_PID") - s0 ))" -v hz="$HZ" -v s="$IDLE" \
		'BEGIN { printf "%.1f", 100 * t / hz / s }')
	tracer_stop "idle-$idle"
	printf '%s\t%s\t%s\t%s\t%s\n' "$idle" "$IDLE" \
		"$(summary_num "$WORK/trace-idle-$idle.err" zmq_failed_recv)" \
		"$(summary_num "$WORK/trace-idle-$idle.err" zmq_events)" "$cpu" >> "$IDLE_RESULTS"
	"$ROOT/tools/deploy/down.sh" --run-dir "$RUN_DIR" >/dev/null 2>&1 || true
	RUN_DIR=""
done

# ---- the report --------------------------------------------------------
echo "servetrace libzmq uprobes vs. the $([ "$ENGINE" = vllm ] && echo "vLLM EngineCore" || echo "SGLang scheduler"): $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -r)"
echo "1 $ENGINE worker (no router); a phase = $BURSTS bursts of $N streaming $([ "$ENGINE" = vllm ] && echo /v1/completions || echo /generate) requests sent" \
	"at once ($IN_LEN-word prompts, $OUT_LEN output tokens), req/s = the median burst's;" \
	"$ROUNDS rounds of base/http/traced phases in rotating order"
awk -F'\t' -v n="$((N * BURSTS))" '
NR == 1 { next }
{
	k = $1; if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
	rps[k, $2, $3] = $4; ttft[k, $2] = ttft[k, $2] " " $5
	sus[k, $2] = sus[k, $2] " " $12; vus[k, $2] = vus[k, $2] " " $13
	if ($2 != "base") {
		cpu[k, $2] += $7; fails[k, $2] += $8; ev[k, $2] += $9; drops[k, $2] += $10
		rows[k, $2] += $11; nt[k, $2]++
	}
	rounds[k] = $3 > rounds[k] ? $3 : rounds[k]
}
function med(s,   a, m, i, j, t) {
	m = split(s, a, " ")
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	return m ? (m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2) : 0
}
# per-round ratio num/den: "median [min, max]"
function ratio(k, num, den,   r, x, s, lo, hi) {
	lo = 1e9; hi = 0; s = ""
	for (r = 1; r <= rounds[k]; r++) {
		x = rps[k, num, r] / rps[k, den, r]; s = s " " x
		if (x < lo) lo = x; if (x > hi) hi = x
	}
	return sprintf("%.3f [%.3f, %.3f]", med(s), lo, hi)
}
function list(k, m,   r, s) {
	s = ""
	for (r = 1; r <= rounds[k]; r++) s = s sprintf("%.0f ", rps[k, m, r])
	return s
}
END {
	for (i = 1; i <= nk; i++) {
		k = order[i]
		printf "\nscheduler idle mode: %s\n", k
		printf "  %-8s %-28s %11s %14s %7s %14s %9s %6s %s\n", "phase", "req/s per round", "median TTFT",
			"CPU us/req", "CPU %", "failed recv", "records", "drops", "rows with queue columns"
		printf "  %-8s %-28s %11s %14s %7s\n", "", "", "", "sched/server", "tracer"
		for (j = 1; j <= 3; j++) {
			m = j == 1 ? "base" : j == 2 ? "http" : "traced"
			us = sprintf("%.0f / %.0f", med(sus[k, m]), med(vus[k, m]))
			if (m == "base")
				printf "  %-8s %-28s %8.1f ms %14s\n", m, list(k, m), med(ttft[k, m]), us
			else
				printf "  %-8s %-28s %8.1f ms %14s %7.1f %14.0f %9.0f %6d %.0f of %d\n", m, list(k, m),
					med(ttft[k, m]), us, cpu[k, m] / nt[k, m], fails[k, m] / nt[k, m],
					ev[k, m] / nt[k, m], drops[k, m], rows[k, m] / nt[k, m], n
		}
		printf "  req/s ratio, median [min, max] over rounds:\n"
		printf "    traced / base     %s   (everything servetrace does)\n", ratio(k, "traced", "base")
		printf "    http / base       %s   (syscall tracepoints only: --http-only)\n", ratio(k, "http", "base")
		printf "    traced / http     %s   (the libzmq uprobes)\n", ratio(k, "traced", "http")
	}
}' "$RESULTS"
echo
echo "idle, traced (no load): failed receives the kernel counted and dropped, records sent, servetrace CPU"
awk -F'\t' 'NR > 1 { printf "  %-6s %9.0f failed receives/s  %6.1f records/s  servetrace CPU %s%%\n", $1, $3 / $2, $4 / $2, $5 }' \
	"$IDLE_RESULTS"

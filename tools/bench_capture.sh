#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# What does servetrace cost, per request? wrk -> nginx as the router ->
# a separate upstream, untraced and traced rounds alternating in one run;
# prints ratios. Two setups:
#   plain   the upstream is nginx answering a canned /generate (non-streaming)
#   stream  the upstream writes N SSE events per request, one write each
#           (tools/bench/sse_upstream); N from --events (several: a row each)
# A benchmark: it prints numbers and asserts only that the setup worked.
set -euo pipefail

usage() {
	cat <<EOF
Usage: tools/bench_capture.sh [OPTION...]

  --mode plain|stream    setup (default $MODE)
  --events "N ..."       stream: events per request (default "$EVENTS")
  --rounds N             untraced+traced pairs per setup (default $ROUNDS)
  --duration SEC         each phase (default $DURATION)
  --conns N --threads N  wrk connections and threads (default $CONNS, $THREADS)
  --router-workers N     nginx router workers (default $RW)
  --upstream-workers N   nginx upstream workers, plain mode (default $UW)
  --cpus-router LIST     taskset CPU lists for the groups (default: no pinning)
  --cpus-upstream LIST
  --cpus-load LIST
  --cpus-tracer LIST
  --layout16             the 16-core machine's layout (shared/bench/16-core.md):
                         wrk -t4 -c64 on CPUs 8-11, router and upstream 4
                         workers each on 0-3 and 4-7, servetrace on 12-13;
                         options after it override
  --prompt-bytes N       pad each request's prompt to about N bytes (default:
                         a 45-byte prompt; LLM prompts run to KiBs, and the
                         collector reads every byte of them on every hop)
  --tracer-args "..."    extra servetrace options (e.g. "--full-capture")
  --collector-threads N  servetrace's parse threads (default: its own choice;
                         env COLLECTOR_THREADS does the same)
  --port P               router port; upstream P+1 (default $PORT)
  --out DIR              keep logs, CSVs and the result table there
  --bpf-stats            also report BPF run time per request (bpf_stats_enabled)
  --floor                a third phase per round: tools/bench/tp_floor's do-nothing
                         programs on the same tracepoints (the kernel's price for
                         any program there); its ratio is the "floor" column
  --floor-hooks SET      the floor's tracepoints: sock (default: servetrace's
                         socket-layer set), sock-raw (the same, raw) or syscalls
  -h, --help             this text

Columns: req/s untraced and traced and their ratio; p50/p99 latency deltas;
servetrace CPU (% of one core) and CPU per request, peak RSS, ring-buffer
drops, kernel records per request, rows vs requests wrk completed, the
time servetrace took to exit after SIGINT with the load still running, BPF
time per request (--bpf-stats), and, streaming, the rows with no error whose
token counts are not the upstream's events (miscounted: should be 0).
Environment: SERVETRACE, NGINX_BIN, WRK, SSE_UPSTREAM, TP_FLOOR override the
binaries (tools/bench_pack.sh packs them all for a machine without
packages); COLLECTOR_THREADS=N is --collector-threads N.
EOF
}

MODE=plain EVENTS="16 128 1024" ROUNDS=3 DURATION=8 CONNS=16 THREADS=1 RW=1 UW=1 FLOOR_HOOKS=sock
CPUS_ROUTER="" CPUS_UP="" CPUS_LOAD="" CPUS_TRACER="" TRACER_ARGS="" PORT=18900
OUT="" BPF_STATS=0 FLOOR=0 LAYOUT16=0 PROMPT_BYTES=0 COLLECTOR_THREADS=${COLLECTOR_THREADS:-}
while [ $# -gt 0 ]; do
	case $1 in
	--mode) MODE=$2; shift ;;
	--events) EVENTS=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--conns) CONNS=$2; shift ;;
	--threads) THREADS=$2; shift ;;
	--router-workers) RW=$2; shift ;;
	--upstream-workers) UW=$2; shift ;;
	--cpus-router) CPUS_ROUTER=$2; shift ;;
	--cpus-upstream) CPUS_UP=$2; shift ;;
	--cpus-load) CPUS_LOAD=$2; shift ;;
	--cpus-tracer) CPUS_TRACER=$2; shift ;;
	--layout16) LAYOUT16=1 CONNS=64 THREADS=4 RW=4 UW=4
		CPUS_ROUTER=0-3 CPUS_UP=4-7 CPUS_LOAD=8-11 CPUS_TRACER=12-13 ;;
	--tracer-args) TRACER_ARGS=$2; shift ;;
	--prompt-bytes) PROMPT_BYTES=$2; shift ;;
	--collector-threads) COLLECTOR_THREADS=$2; shift ;;
	--port) PORT=$2; shift ;;
	--out) OUT=$2; shift ;;
	--bpf-stats) BPF_STATS=1 ;;
	--floor) FLOOR=1 ;;
	--floor-hooks) FLOOR=1 FLOOR_HOOKS=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "bench_capture: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done

die() { echo "bench_capture: $*" >&2; exit 1; }
log() { echo "bench_capture: $*" >&2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/tools/bench
SERVETRACE=${SERVETRACE:-$ROOT/servetrace}
NGINX_BIN=${NGINX_BIN:-nginx}
WRK=${WRK:-wrk}
SSE_UPSTREAM=${SSE_UPSTREAM:-$BENCH/sse_upstream}
TP_FLOOR=${TP_FLOOR:-$BENCH/tp_floor}
HZ=$(getconf CLK_TCK)
UP_PORT=$((PORT + 1))

case $MODE in plain|stream) ;; *) die "--mode is plain or stream" ;; esac
case $PROMPT_BYTES in [0-9] | [1-9][0-9] | [1-9][0-9][0-9] | [1-9][0-9][0-9][0-9] | [1-9][0-9][0-9][0-9][0-9]) ;;
*) die "--prompt-bytes is 0 to 99999" ;; esac
case $COLLECTOR_THREADS in "" | [1-9] | 1[0-6]) ;; *) die "--collector-threads is 1 to 16" ;; esac
[ -z "$COLLECTOR_THREADS" ] || TRACER_ARGS="--collector-threads $COLLECTOR_THREADS $TRACER_ARGS"
[ "$LAYOUT16" = 0 ] || [ "$(nproc)" -ge 14 ] || die "--layout16 pins to CPUs 0-13: $(nproc) CPUs here"
[ "$(id -u)" = 0 ] || die "needs root (BPF)"
[ -x "$SERVETRACE" ] || die "no $SERVETRACE: run 'make' first"
command -v "$NGINX_BIN" >/dev/null || die "needs nginx (tools/install_deps.sh)"
command -v "$WRK" >/dev/null || die "needs wrk (tools/install_deps.sh)"
[ "$MODE" = plain ] || [ -x "$SSE_UPSTREAM" ] || die "no $SSE_UPSTREAM: run 'make tools'"
[ "$FLOOR" = 0 ] || [ -x "$TP_FLOOR" ] || die "no $TP_FLOOR: run 'make tools'"
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }	# no ss needed
for p in "$PORT" "$UP_PORT"; do
	! listening "$p" || die "port $p is in use; pick another with --port"
done
others=$(pgrep -d, -x servetrace || true)
[ -z "$others" ] || log "WARNING: servetrace already runs here (pid $others): it taxes the untraced rounds too"

pin() {	# pin LIST CMD...: run CMD on the CPUs in LIST (or anywhere)
	local cpus=$1; shift
	if [ -n "$cpus" ]; then taskset -c "$cpus" "$@"; else "$@"; fi
}

pin_bg() {	# pin_bg LIST CMD... &: the same, and $! is CMD itself (signals reach it)
	local cpus=$1; shift
	if [ -n "$cpus" ]; then exec taskset -c "$cpus" "$@"; else exec "$@"; fi
}

WORK=${OUT:-$(mktemp -d /tmp/bench_capture.XXXXXX)}
mkdir -p "$WORK"
PIDS=() TRACER_PID="" STATS_WAS=""
cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	[ -z "$TRACER_PID" ] || { kill -INT "$TRACER_PID" 2>/dev/null; wait "$TRACER_PID" 2>/dev/null; } || true
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; done
	for i in "${PIDS[@]}"; do wait "$i" 2>/dev/null || true; done
	[ -z "$STATS_WAS" ] || echo "$STATS_WAS" > /proc/sys/kernel/bpf_stats_enabled
	[ -n "$OUT" ] || rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ "$BPF_STATS" = 1 ]; then
	command -v bpftool >/dev/null || die "--bpf-stats needs bpftool"
	STATS_WAS=$(cat /proc/sys/kernel/bpf_stats_enabled)
	echo 1 > /proc/sys/kernel/bpf_stats_enabled
fi

extra_temp=""
for m in uwsgi scgi; do
	"$NGINX_BIN" -V 2>&1 | grep -q -- "--without-http_${m}_module" || extra_temp+=" ${m}_temp_path @DIR@/$m;"
done

start_nginx() {	# start_nginx NAME TEMPLATE PORT WORKERS CPUS
	local d=$WORK/$1
	mkdir -p "$d"
	sed -e "s|@EXTRA_TEMP@|$extra_temp|" -e "s|@DIR@|$d|g" -e "s|@PORT@|$3|g" \
		-e "s|@UPSTREAM@|$UP_PORT|g" -e "s|@WORKERS@|$4|g" "$2" > "$d/nginx.conf"
	pin_bg "$5" "$NGINX_BIN" -p "$d" -c "$d/nginx.conf" -e "$d/error.log" &
	PIDS+=($!)
}

wait_port() {
	for _ in $(seq 100); do
		listening "$1" && return 0
		sleep 0.1
	done
	die "nothing listens on port $1 (see $WORK)"
}

workers_of() { pgrep -d, -P "$1" || true; }	# nginx workers: children of the master

ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
field() { awk -v k="$2" '$1 == "BENCH" && $2 == k { print $3 }' "$1"; }
summ() { awk -v k="$2" 'index($0, "  " k) == 1 && $NF ~ /^[0-9]+$/ { v = $NF } END { print v + 0 }' "$1"; }
bpf_ns() { awk '/run_time_ns/ { for (i = 1; i <= NF; i++) if ($i == "run_time_ns") t += $(i + 1) } END { print t + 0 }' "$1"; }
# bpf_split BEFORE AFTER REQS: per program, its calls and run time between two
# `bpftool prog show` snapshots, per call and per request (heaviest first)
bpf_split() {
	awk -v n="$3" '
	/^[0-9]+: / { id = $1; name = "?"; t = c = 0	# no run_time_ns field: not run yet
		for (i = 1; i <= NF; i++) { if ($i == "name") name = $(i + 1); if ($i == "run_time_ns") t = $(i + 1); if ($i == "run_cnt") c = $(i + 1) }
		if (FILENAME == ARGV[1]) { t0[id] = t; c0[id] = c; next }
		if (c == c0[id]) next
		printf "    %-24s %10d calls %7.0f ns/call %6.2f us/req\n", name, c - c0[id], (t - t0[id]) / (c - c0[id]), (t - t0[id]) / 1e3 / n }
	' "$1" "$2" | sort -k6 -rn
}

# phase TAG TRACED: one wrk run; appends "tag reqs rps p50 p99 cpu% cpu_us rss drops rec/req rows exit_ms bpf_us miscounted"
phase() {
	local tag=$1 traced=$2 out=$WORK/wrk-$1.txt csv=$WORK/trace-$1.csv err=$WORK/trace-$1.err
	local t0=0 rss=- cpu=- cpu_us=- drops=- recs=- rows=- exit_ms=- bpf_us=- miscounted=-
	if [ "$traced" = 2 ]; then	# the floor: tp_floor instead of servetrace
		rm -f "$WORK/ready"
		pin_bg "$CPUS_TRACER" "$TP_FLOOR" --hooks "$FLOOR_HOOKS" --ready-file "$WORK/ready" \
			${ROUTER_W//,/ } ${UP_W//,/ } 2> "$err" &
		TRACER_PID=$!
		for _ in $(seq 200); do [ -f "$WORK/ready" ] && break; sleep 0.05; done
		[ -f "$WORK/ready" ] || die "tp_floor did not attach: $(tail -3 "$err")"
	elif [ "$traced" = 1 ]; then
		rm -f "$WORK/ready"
		# shellcheck disable=SC2086
		pin_bg "$CPUS_TRACER" "$SERVETRACE" --router-pid "$ROUTER_W" --worker-pid "$UP_W" \
			-o "$csv" -q --ready-file "$WORK/ready" $TRACER_ARGS 2> "$err" &
		TRACER_PID=$!
		for _ in $(seq 200); do [ -f "$WORK/ready" ] && break; sleep 0.05; done
		[ -f "$WORK/ready" ] || die "servetrace did not attach: $(tail -3 "$err")"
		t0=$(ticks "$TRACER_PID")
		[ "$BPF_STATS" = 0 ] || bpftool prog show > "$WORK/bpf-$tag.0" 2>/dev/null
	fi
	BENCH_TAG=$tag BENCH_STREAM=$STREAM BENCH_PROMPT_BYTES=$PROMPT_BYTES pin "$CPUS_LOAD" "$WRK" -t "$THREADS" -c "$CONNS" \
		-d "${DURATION}s" --latency -s "$BENCH/generate.lua" "http://127.0.0.1:$PORT" > "$out" 2>&1 ||
		die "wrk failed: $(tail -3 "$out")"
	local reqs secs
	reqs=$(field "$out" requests)
	secs=$(awk -v d="$(field "$out" duration_us)" 'BEGIN { print d / 1e6 }')
	[ "${reqs:-0}" -gt 0 ] || die "wrk completed no request: $(tail -3 "$out")"
	if [ "$traced" = 2 ]; then
		kill -INT "$TRACER_PID"
		wait "$TRACER_PID" || die "tp_floor failed: $(tail -3 "$err")"
		TRACER_PID=""
	fi
	if [ "$traced" = 1 ]; then
		local t1 ms0 ms1
		t1=$(ticks "$TRACER_PID")
		if [ "$BPF_STATS" = 1 ]; then
			bpftool prog show > "$WORK/bpf-$tag.1" 2>/dev/null
			bpf_us=$(awk -v a="$(bpf_ns "$WORK/bpf-$tag.0")" -v b="$(bpf_ns "$WORK/bpf-$tag.1")" -v n="$reqs" 'BEGIN { printf "%.2f", (b - a) / 1e3 / n }')
			bpf_split "$WORK/bpf-$tag.0" "$WORK/bpf-$tag.1" "$reqs" > "$WORK/bpf-$tag.txt"
		fi
		rss=$(awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$TRACER_PID/status")
		# exit under load: a second wrk keeps the router busy meanwhile
		BENCH_TAG=x$tag BENCH_STREAM=$STREAM BENCH_PROMPT_BYTES=$PROMPT_BYTES pin_bg "$CPUS_LOAD" "$WRK" -t "$THREADS" -c "$CONNS" -d 4s \
			-s "$BENCH/generate.lua" "http://127.0.0.1:$PORT" > /dev/null 2>&1 &
		local busy=$!
		sleep 1
		ms0=$(date +%s%N)
		kill -INT "$TRACER_PID"
		wait "$TRACER_PID" || true
		ms1=$(date +%s%N)
		TRACER_PID=""
		wait "$busy" || true
		exit_ms=$(( (ms1 - ms0) / 1000000 ))
		cpu=$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v s="$secs" 'BEGIN { printf "%.1f", 100 * t / hz / s }')
		cpu_us=$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v n="$reqs" 'BEGIN { printf "%.2f", 1e6 * t / hz / n }')
		drops=$(summ "$err" "kernel: events dropped, ring buffer full")
		# per row written: the exit phase's load is in both counts
		recs=$(awk -v e="$(summ "$err" "kernel: events submitted")" -v n="$(summ "$err" "rows written")" 'BEGIN { printf "%.1f", n ? e / n : 0 }')
		rows=$(awk -F, -v p="wrk$tag-" 'index($1, p) == 1 { n++ } END { print n + 0 }' "$csv")
		# stream rows with no error whose token counts (actual_output_tokens,
		# output_tokens_from_trace) are not the upstream's events: wrong
		# and silent, the worst a row can be
		[ "$STREAM" = 0 ] || miscounted=$(awk -F, -v p="wrk$tag-" -v n="$NEVENTS" '
			index($1, p) == 1 && $3 == "" && ($9 != n || $11 != n) { b++ } END { print b + 0 }' "$csv")
	fi
	echo "$tag $reqs $(awk -v n="$reqs" -v s="$secs" 'BEGIN { printf "%.0f", n / s }') $(field "$out" p50_us) $(field "$out" p99_us) $cpu $cpu_us $rss $drops $recs $rows $exit_ms $bpf_us $miscounted" >> "$WORK/phases"
}

report() {	# report TITLE: the pairs of this setup, and their medians
	awk -v title="$1" '
	function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
	$1 ~ /u$/ { u_rps[++nu] = $3; u50[nu] = $4; u99[nu] = $5 }
	$1 ~ /f$/ { nf++; f[nf] = $3 / u_rps[nf] }
	$1 ~ /t$/ { nt++; r[nt] = $3 / u_rps[nt]; d50[nt] = $4 - u50[nt]; d99[nt] = $5 - u99[nt]
		fl = nf >= nt ? sprintf("  (floor %.3f)", f[nt]) : ""
		line[nt] = sprintf("  round %d: %8d -> %8d req/s  ratio %.3f%s  p50 %+6d us  p99 %+7d us  cpu %5s%% %6s us/req  rss %4s MiB  drops %s  records/req %s  rows %s/%s  exit %s ms  bpf %s us/req  miscounted %s",
			nt, u_rps[nt], $3, r[nt], fl, d50[nt], d99[nt], $6, $7, $8, $9, $10, $11, $2, $12, $13, $14) }
	END {
		print title
		for (i = 1; i <= nt; i++) print line[i]
		printf "  median: throughput ratio %.3f, p50 %+d us, p99 %+d us\n", med(r, nt), med(d50, nt), med(d99, nt)
		if (nf)
			printf "  median floor (tracepoints with do-nothing programs): ratio %.3f\n", med(f, nf)
	}' "$WORK/phases"
}

run_setup() {	# run_setup TITLE: ROUNDS alternating pairs against what is up
	: > "$WORK/phases"
	BENCH_TAG=w BENCH_STREAM=$STREAM BENCH_PROMPT_BYTES=$PROMPT_BYTES "$WRK" -t 1 -c 4 -d 2s -s "$BENCH/generate.lua" \
		"http://127.0.0.1:$PORT" > /dev/null 2>&1 || die "warm-up failed"
	for r in $(seq "$ROUNDS"); do
		phase "${r}u" 0
		[ "$FLOOR" = 0 ] || phase "${r}f" 2
		phase "${r}t" 1
	done
	report "$1" | tee -a "$WORK/result.txt"
	if [ "$BPF_STATS" = 1 ]; then	# where the BPF time went, last traced round
		echo "  BPF programs, round $ROUNDS (bpf_stats_enabled):"
		cat "$WORK/bpf-${ROUNDS}t.txt"
	fi | tee -a "$WORK/result.txt"
}

start_router() {
	start_nginx router "$BENCH/nginx-router.conf.in" "$PORT" "$RW" "$CPUS_ROUTER"
	wait_port "$PORT"
	sleep 0.3
	ROUTER_W=$(workers_of "${PIDS[-1]}")
}

PROMPT_NOTE=""
[ "$PROMPT_BYTES" = 0 ] || PROMPT_NOTE=", prompts of ~$PROMPT_BYTES bytes"
log "work directory: $WORK"
log "servetrace options: ${TRACER_ARGS:-(none)}"
if [ "$MODE" = plain ]; then
	STREAM=0
	start_nginx upstream "$BENCH/nginx-upstream.conf.in" "$UP_PORT" "$UW" "$CPUS_UP"
	wait_port "$UP_PORT"
	sleep 0.3
	UP_W=$(workers_of "${PIDS[-1]}")
	start_router
	run_setup "plain: wrk -c$CONNS -t$THREADS -> nginx router ($RW) -> nginx upstream ($UW), $DURATION s phases$PROMPT_NOTE"
else
	STREAM=1
	for n in $EVENTS; do
		NEVENTS=$n
		pin_bg "$CPUS_UP" "$SSE_UPSTREAM" "$UP_PORT" "$n" &
		PIDS+=($!)
		UP_W=${PIDS[-1]}
		wait_port "$UP_PORT"
		start_router
		run_setup "stream: $n SSE events per request, one write each; wrk -c$CONNS -t$THREADS -> nginx router ($RW) -> sse_upstream, $DURATION s phases$PROMPT_NOTE"
		kill -TERM "${PIDS[-1]}" "${PIDS[-2]}" 2>/dev/null || true
		wait "${PIDS[-1]}" "${PIDS[-2]}" 2>/dev/null || true
		unset 'PIDS[-1]' 'PIDS[-1]'
		PIDS=("${PIDS[@]}")
		sleep 0.5
	done
fi

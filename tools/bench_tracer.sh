#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# make bench: what does servetrace cost the router it watches? The real
# sglang-router, then smg (both round_robin, HTTP mode), in front of two
# nginx upstreams answering a canned /generate, loaded by wrk; baseline and
# traced phases alternate in one run and a table per router gives the ratios. A benchmark: it prints numbers
# and asserts nothing beyond "the setup worked".
set -euo pipefail

usage() {
	cat <<EOF
Usage: tools/bench_tracer.sh [OPTION...]

Runs, after a warm-up, ROUNDS rounds of: saturation baseline, saturation
traced (wrk -c CONNS -t THREADS), paced baseline, paced traced (wrk -c
PACED_CONNS, each connection pausing PACED_DELAY ms between requests).
Traced = servetrace attached to the router and the nginx worker processes,
writing its CSV to a temporary file. Each router in ROUTERS in turn, on the
same upstreams. Needs root, wrk, nginx, curl and the router venvs
(tools/install_python.sh, tools/install_smg.sh).

  --router NAME       sglang-router, smg, or all (default: all, one table each)

  --quick             1 round of 3 s phases, 2 s warm-up (smoke run)
  --rounds N          rounds (default $ROUNDS)
  --duration SEC      saturation phase length (default $DURATION; paced
                      phases last half of it)
  --warmup SEC        untraced warm-up (default $WARMUP)
  --conns N           wrk connections at saturation (default $CONNS)
  --threads N         wrk threads (default $THREADS)
  --paced-conns N     connections of the paced phases (default $PACED_CONNS;
                      0 skips them)
  --paced-delay MS    pause per connection between requests (default $PACED_DELAY)
  --same-prompt       every request has the same prompt (default: varies)
  --router-log LEVEL  router --log-level (default $ROUTER_LOG: what users run)
  --port P            router port; upstreams use P+11, P+12, metrics P+1
                      (default $PORT)
  --tracer-args "..." extra servetrace options (e.g. "--ringbuf-size 64")
  --bpf-stats         also report servetrace's in-kernel BPF time per request
                      (sets kernel.bpf_stats_enabled for the run, which itself
                      costs a little)
  --no-trace          baseline phases only (no root needed)
  --keep              keep the work directory (logs, CSVs)
  -h, --help          this text

Environment: ROUTER_PYTHON (python with sglang_router), SMG (the smg
command, default .venv-smg/bin/smg), SERVETRACE (binary).
EOF
}

ROUNDS=4 DURATION=8 WARMUP=5 CONNS=32 THREADS=2
PACED_CONNS=4 PACED_DELAY=1 SAME_PROMPT=0 ROUTER_LOG=info PORT=18800
TRACER_ARGS="" TRACE=1 KEEP=0 BPF_STATS=0 ROUTERS="sglang-router smg"
while [ $# -gt 0 ]; do
	case $1 in
	--quick) ROUNDS=1 DURATION=3 WARMUP=2 ;;
	--rounds) ROUNDS=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--warmup) WARMUP=$2; shift ;;
	--conns) CONNS=$2; shift ;;
	--threads) THREADS=$2; shift ;;
	--paced-conns) PACED_CONNS=$2; shift ;;
	--paced-delay) PACED_DELAY=$2; shift ;;
	--same-prompt) SAME_PROMPT=1 ;;
	--router-log) ROUTER_LOG=$2; shift ;;
	--port) PORT=$2; shift ;;
	--router) case $2 in all) ;; sglang-router|smg) ROUTERS=$2 ;;
		  *) echo "bench_tracer: --router sglang-router|smg|all" >&2; exit 2 ;; esac
		  shift ;;
	--tracer-args) TRACER_ARGS=$2; shift ;;
	--bpf-stats) BPF_STATS=1 ;;
	--no-trace) TRACE=0 ;;
	--keep) KEEP=1 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "bench_tracer: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done

die() { echo "bench_tracer: $*" >&2; exit 1; }
log() { echo "bench_tracer: $*" >&2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/tools/bench
SERVETRACE=${SERVETRACE:-$ROOT/servetrace}
PACED_DURATION=$(( DURATION / 2 > 2 ? DURATION / 2 : 2 ))
UP_PORTS=($((PORT + 11)) $((PORT + 12)))
METRICS_PORT=$((PORT + 1))
HZ=$(getconf CLK_TCK)

# ---- preconditions --------------------------------------------------
for tool in wrk nginx curl ss awk; do
	command -v "$tool" >/dev/null || die "needs '$tool' (tools/install_deps.sh)"
done
if [ "$TRACE" = 1 ]; then
	[ "$(id -u)" = 0 ] || die "the traced phases need root (BPF); run as root or use --no-trace"
	[ -x "$SERVETRACE" ] || die "no $SERVETRACE: run 'make servetrace' first"
	others=$(pgrep -d, -x servetrace || true)
	[ -z "$others" ] || log "WARNING: servetrace already runs here (pid $others): its tracepoint programs run on every syscall of the machine, baseline included"
fi
if [ -z "${ROUTER_PYTHON:-}" ]; then
	for py in "$ROOT/.venv/router/bin/python" "$ROOT/.venv/bin/python"; do
		[ -x "$py" ] && "$py" -c 'import sglang_router' 2>/dev/null && { ROUTER_PYTHON=$py; break; }
	done
fi
SMG=${SMG:-$ROOT/.venv-smg/bin/smg}
case " $ROUTERS " in *" sglang-router "*)
	[ -n "${ROUTER_PYTHON:-}" ] || die "no python with sglang_router: run tools/install_python.sh (or set ROUTER_PYTHON)" ;;
esac
case " $ROUTERS " in *" smg "*)
	[ -x "$SMG" ] || die "no $SMG: run tools/install_smg.sh (or set SMG, or --router sglang-router)" ;;
esac
for p in "$PORT" "$METRICS_PORT" "${UP_PORTS[@]}"; do
	users=$(ss -ltnpH "sport = :$p" 2>/dev/null || true)
	[ -z "$users" ] || die "port $p is already in use ($(echo "$users" | grep -o 'users:.*' | head -1)); pick another base with --port"
done

# ---- processes we start, and their cleanup ---------------------------
WORK=$(mktemp -d /tmp/bench_tracer.XXXXXX)
PIDS=()		# router, nginx masters: stopped in reverse order
TRACER_PID=""
BPF_STATS_WAS=""
cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	if [ -n "$TRACER_PID" ]; then
		kill -INT "$TRACER_PID" 2>/dev/null || true
		wait "$TRACER_PID" 2>/dev/null || true
	fi
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill -TERM "${PIDS[i]}" 2>/dev/null || true
	done
	for i in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$i" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$i" 2>/dev/null || true
		wait "$i" 2>/dev/null || true
	done
	[ -z "$BPF_STATS_WAS" ] || echo "$BPF_STATS_WAS" > /proc/sys/kernel/bpf_stats_enabled
	if [ "$KEEP" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$BPF_STATS" = 1 ] && [ "$TRACE" = 1 ]; then
	BPF_STATS_WAS=$(cat /proc/sys/kernel/bpf_stats_enabled)
	echo 1 > /proc/sys/kernel/bpf_stats_enabled
fi

# ---- upstreams and router --------------------------------------------
extra_temp=""
for m in uwsgi scgi; do
	nginx -V 2>&1 | grep -q -- "--without-http_${m}_module" || extra_temp+=" ${m}_temp_path @DIR@/$m;"
done
UP_PIDS=()	# nginx worker processes (what servetrace traces)
for p in "${UP_PORTS[@]}"; do
	d=$WORK/nginx-$p
	mkdir -p "$d"
	sed -e "s|@EXTRA_TEMP@|$extra_temp|" -e "s|@DIR@|$d|g" -e "s|@PORT@|$p|g" \
		-e "s|@WORKERS@|1|" "$BENCH/nginx-upstream.conf.in" > "$d/nginx.conf"
	nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" &
	PIDS+=($!)
	for _ in $(seq 50); do
		curl -sf "http://127.0.0.1:$p/health" >/dev/null && break
		sleep 0.1
	done
	curl -sf "http://127.0.0.1:$p/health" >/dev/null || die "nginx on port $p did not start: $(tail -3 "$d/error.log")"
	UP_PIDS+=($(ps -o pid= --ppid "${PIDS[-1]}" | tr -d ' '))
done

# start_router NAME: the router on PORT in front of both upstreams, ready.
start_router() {
	local name=$1 log=$WORK/router-$1.log ready=0 activated healthy
	local urls=("http://127.0.0.1:${UP_PORTS[0]}" "http://127.0.0.1:${UP_PORTS[1]}")

	if [ "$name" = smg ]; then
		"$SMG" launch --worker-urls "${urls[@]}" \
			--policy round_robin --host 127.0.0.1 --port "$PORT" \
			--prometheus-host 127.0.0.1 --prometheus-port "$METRICS_PORT" \
			--log-level "$ROUTER_LOG" > "$log" 2>&1 &
	else
		"$ROUTER_PYTHON" -m sglang_router.launch_router --worker-urls "${urls[@]}" \
			--policy round_robin --host 127.0.0.1 --port "$PORT" \
			--prometheus-host 127.0.0.1 --prometheus-port "$METRICS_PORT" \
			--log-level "$ROUTER_LOG" > "$log" 2>&1 &
	fi
	ROUTER_PID=$!
	PIDS+=("$ROUTER_PID")
	# Ready = both workers activated (sglang-router's log says so at info
	# level, /workers of either at any level) and a /generate answered
	# 200: until then the router answers 503.
	for _ in $(seq 120); do
		kill -0 "$ROUTER_PID" 2>/dev/null || die "$name exited: $(tail -5 "$log")"
		activated=$(grep -c 'Activated 1 worker' "$log" || true)
		healthy=$(curl -s "http://127.0.0.1:$PORT/workers" 2>/dev/null |
			grep -Eo '"is_healthy": ?true' | wc -l || true)
		if { [ "$activated" -ge 2 ] || [ "$healthy" -ge 2 ]; } &&
		   [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
			-d '{"text":"hi","sampling_params":{"max_new_tokens":8}}' \
			"http://127.0.0.1:$PORT/generate")" = 200 ]; then
			ready=1
			break
		fi
		sleep 0.5
	done
	[ "$ready" = 1 ] || die "$name did not activate both upstreams within 60 s: $(tail -5 "$log")"
	# the pid that listens is the one to trace (python3 titled
	# sglang::router or smg::router)
	LISTEN_PID=$(ss -ltnpH "sport = :$PORT" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
	log "$name pid $LISTEN_PID (port $PORT), upstream nginx workers ${UP_PIDS[*]} (ports ${UP_PORTS[*]}): ready"
}

# stop_router: the port is free again for the next one.
stop_router() {
	local keep=() p

	kill -TERM "$ROUTER_PID" 2>/dev/null || true
	# a launcher that forked the listening process: that one too
	[ -z "$LISTEN_PID" ] || [ "$LISTEN_PID" = "$ROUTER_PID" ] || kill -TERM "$LISTEN_PID" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$ROUTER_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$ROUTER_PID" 2>/dev/null || true
	wait "$ROUTER_PID" 2>/dev/null || true
	for p in "${PIDS[@]}"; do [ "$p" = "$ROUTER_PID" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
	for _ in $(seq 50); do
		[ -z "$(ss -ltnH "sport = :$PORT" 2>/dev/null)" ] && break
		sleep 0.1
	done
}

# ---- measurement helpers ---------------------------------------------
proc_ticks() {	# utime+stime of a process (all its threads), in ticks
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
app_ticks() {	# router + upstream nginx workers
	local t=0 p
	for p in "$LISTEN_PID" "${UP_PIDS[@]}"; do t=$((t + $(proc_ticks "$p"))); done
	echo "$t"
}
child_ticks() {	# reaped children of this shell: wrk, curl, ...
	awk '{ sub(/^.*\) /, ""); print $14 + $15 }' "/proc/$$/stat"
}
busy_ticks() {	# whole machine, all CPUs
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}
field() { awk -v k="$2" '$1 == "BENCH" && $2 == k { print $3 }' "$1"; }
summary_num() {	# a counter of servetrace's exit summary
	awk -v k="$2" 'index($0, "  " k " ") == 1 && $NF ~ /^[0-9]+$/ { v = $NF } END { print v + 0 }' "$1"
}

new_results() {
	RESULTS=$WORK/results-$1.tsv
	printf 'kind\tmode\tround\trps\tp50\tp99\trequests\tfailed\tapp_us\tother\tcpu\tbpf_us\trss\tevents\tdrops\trows\tphase_rows\tok_rows\n' > "$RESULTS"
}

# run_phase KIND(sat|paced) MODE(base|traced) ROUND
run_phase() {
	local kind=$1 mode=$2 round=$3
	local tag=$round${mode:0:1}${kind:0:1}
	local conns=$CONNS threads=$THREADS delay=0 dur=$DURATION
	local out=$WORK/wrk-$tag.txt csv=$WORK/trace-$tag.csv err=$WORK/trace-$tag.err
	local cpu=- bpf=- rss=- events=- drops=- rows=- phase_rows=- ok_rows=-
	local a0 c0 b0 wall0 s0=0 st=0 secs reqs a app other

	if [ "$kind" = paced ]; then
		conns=$PACED_CONNS threads=1 delay=$PACED_DELAY dur=$PACED_DURATION
	fi
	if [ "$mode" = traced ]; then
		rm -f "$WORK/ready"
		# shellcheck disable=SC2086
		"$SERVETRACE" -q -o "$csv" --ready-file "$WORK/ready" $TRACER_ARGS \
			--router-pid "$LISTEN_PID" --worker-pid "$(IFS=,; echo "${UP_PIDS[*]}")" 2> "$err" &
		TRACER_PID=$!
		for _ in $(seq 300); do
			[ -e "$WORK/ready" ] && break
			kill -0 "$TRACER_PID" 2>/dev/null || die "servetrace exited: $(cat "$err")"
			sleep 0.1
		done
		[ -e "$WORK/ready" ] || die "servetrace did not attach within 30 s: $(cat "$err")"
		s0=$(proc_ticks "$TRACER_PID")
	fi
	a0=$(app_ticks) c0=$(child_ticks) b0=$(busy_ticks) wall0=$(date +%s%N)
	BENCH_TAG=$tag BENCH_DELAY_MS=$delay BENCH_SAME_PROMPT=$SAME_PROMPT \
		wrk -t "$threads" -c "$conns" -d "${dur}s" --latency -s "$BENCH/generate.lua" \
		"http://127.0.0.1:$PORT" > "$out" 2>&1 || die "wrk failed: $(tail -3 "$out")"
	secs=$(awk -v d="$(field "$out" duration_us)" 'BEGIN { print d / 1e6 }')
	reqs=$(field "$out" requests)
	[ -n "$reqs" ] && [ "$reqs" -gt 0 ] || die "wrk completed no request: $(tail -3 "$out")"
	if [ "$mode" = traced ]; then
		sleep 1	# servetrace drains its ring buffer and lingers: count that too
		st=$(( $(proc_ticks "$TRACER_PID") - s0 ))
		cpu=$(awk -v t="$st" -v hz="$HZ" -v s="$secs" 'BEGIN { printf "%.1f", 100 * t / hz / s }')
		rss=$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$TRACER_PID/status")
		# run_time_ns of each BPF program, in the fdinfo of its fd
		[ "$BPF_STATS" = 0 ] || bpf=$(cat "/proc/$TRACER_PID/fdinfo/"* 2>/dev/null |
			awk -v n="$reqs" '$1 == "run_time_ns:" { t += $2 } END { printf "%.1f", t / 1e3 / n }')
	fi
	a=$(( $(app_ticks) - a0 ))
	app=$(awk -v t="$a" -v hz="$HZ" -v n="$reqs" 'BEGIN { printf "%.1f", n ? 1e6 * t / hz / n : 0 }')
	# CPU the machine spent outside our processes (other sessions, kernel
	# threads), in cores, over the phase's wall time
	other=$(awk -v b="$(( $(busy_ticks) - b0 ))" -v a="$a" -v c="$(( $(child_ticks) - c0 ))" \
		-v s="$st" -v hz="$HZ" -v w="$(( $(date +%s%N) - wall0 ))" \
		'BEGIN { o = (b - a - c - s) / hz / (w / 1e9); printf "%.2f", o < 0 ? 0 : o }')
	if [ "$mode" = traced ]; then
		kill -INT "$TRACER_PID"
		wait "$TRACER_PID" || die "servetrace failed: $(tail -5 "$err")"
		TRACER_PID=""
		events=$(summary_num "$err" "kernel: events submitted")
		events=$(awk -v e="$events" -v s="$secs" 'BEGIN { printf "%.0f", e / s }')
		drops=$(summary_num "$err" "kernel: events dropped, ring buffer full")
		rows=$(summary_num "$err" "rows written")
		phase_rows=$(awk -F, -v p="wrk$tag-" 'index($1, p) == 1 { n++ } END { print n + 0 }' "$csv")
		ok_rows=$(awk -F, -v p="wrk$tag-" 'index($1, p) == 1 && $2 == "True" { n++ } END { print n + 0 }' "$csv")
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$kind" "$mode" "$round" \
		"$(awk -v n="$reqs" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')" \
		"$(field "$out" p50_us)" "$(field "$out" p99_us)" "$reqs" \
		"$(( $(field "$out" non2xx) + $(field "$out" sock_errors) ))" \
		"$app" "$other" "$cpu" "$bpf" "$rss" "$events" "$drops" "$rows" "$phase_rows" "$ok_rows" >> "$RESULTS"
	log "$(tail -1 "$RESULTS" | awk -F'\t' '{ printf "%-5s %-6s round %s: %s req/s, p50 %s us, p99 %s us", $1, $2, $3, $4, $5, $6 }')"
}

# ---- the run -----------------------------------------------------------
# bench_router NAME: warm-up, the rounds, the table.
bench_router() {
	local name=$1 r m version

	start_router "$name"
	new_results "$name"
	log "$name: warm-up ${WARMUP}s (untraced)"
	BENCH_TAG=warm BENCH_SAME_PROMPT=$SAME_PROMPT wrk -t "$THREADS" -c "$CONNS" -d "${WARMUP}s" \
		-s "$BENCH/generate.lua" "http://127.0.0.1:$PORT" > "$WORK/wrk-warm.txt" 2>&1 ||
		die "warm-up failed: $(tail -3 "$WORK/wrk-warm.txt")"
	[ "$(field "$WORK/wrk-warm.txt" non2xx)" = 0 ] ||
		die "warm-up got non-2xx answers from $name: $(tail -3 "$WORK/router-$name.log")"

	modes=(base)
	[ "$TRACE" = 1 ] && modes+=(traced)
	for ((r = 1; r <= ROUNDS; r++)); do
		for m in "${modes[@]}"; do run_phase sat "$m" "$r"; done
		if [ "$PACED_CONNS" -gt 0 ]; then
			for m in "${modes[@]}"; do run_phase paced "$m" "$r"; done
		fi
	done
	stop_router
	if [ "$name" = smg ]; then
		version=$("$SMG" --version 2>/dev/null | head -1 || true)
	else
		version=$("$ROUTER_PYTHON" -c 'import importlib.metadata as m; print("sglang-router", m.version("sglang-router"))' 2>/dev/null || true)
	fi
	echo
	echo "== router: ${version:-$name} (round_robin, HTTP/1.1 to 2 nginx upstreams)"
	awk -F'\t' -v cores="$(nproc)" -v conns="$CONNS" -v threads="$THREADS" \
		-v pconns="$PACED_CONNS" -v pdelay="$PACED_DELAY" -v dur="$DURATION" \
		-v pdur="$PACED_DURATION" -v rounds="$ROUNDS" -v same="$SAME_PROMPT" \
		-v rlog="$ROUTER_LOG" -f "$BENCH/report.awk" "$RESULTS"
}

for name in $ROUTERS; do
	bench_router "$name"
done

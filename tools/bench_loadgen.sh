#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Can loadgen keep a Poisson schedule of >= 10k requests/s? Runs it against
# nginx answering /generate with a canned response on a loopback port, one
# core each, and prints the achieved rate and the schedule lag (actual send
# minus scheduled arrival). A benchmark: it prints numbers, asserts nothing.
#
#   tools/bench_loadgen.sh                 # 60000 requests at 12000/s
#   RATE=20000 N=100000 tools/bench_loadgen.sh
set -euo pipefail

RATE=${RATE:-12000}
N=${N:-60000}
PORT=${PORT:-18089}
root=$(cd "$(dirname "$0")/.." && pwd)
lg=$root/tools/loadgen/loadgen

command -v nginx >/dev/null || { echo "bench_loadgen: needs nginx (apt-get install nginx-light)" >&2; exit 1; }
[ -x "$lg" ] || make -C "$root" -s tools/loadgen/loadgen

tmp=$(mktemp -d /tmp/bench_loadgen.XXXXXX)
cleanup() {
	if [ -s "$tmp/nginx.pid" ]; then
		kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
		sleep 0.2
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

extra=""
for m in uwsgi scgi; do
	nginx -V 2>&1 | grep -q -- "--without-http_${m}_module" || extra="$extra ${m}_temp_path $tmp/$m;"
done
sed -e "s|@TMP@|$tmp|g" -e "s|@PORT@|$PORT|g" -e "s|@EXTRA_TEMP@|$extra|" \
	"$root/tools/bench/nginx-generate.conf.in" > "$tmp/nginx.conf"
nginx -p "$tmp" -c "$tmp/nginx.conf"
for _ in $(seq 50); do
	curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null && break
	sleep 0.1
done

# loadgen on CPU 0, the nginx worker on CPU 1
pin=""
[ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null && pin="taskset -c 0"

run() {
	local name=$1 show_lag=$2; shift 2
	local rc=0
	$pin "$lg" --port "$PORT" --random-input-len 8 --random-output-len 8 \
		--random-range-ratio 1 --seed 1 -q "$@" >"$tmp/$name.txt" || rc=$?
	awk -v name="$name" -v rc="$rc" -v show_lag="$show_lag" -F':  +' '
		/^Successful requests:/         { ok = $2 }
		/^Achieved send rate/           { rate = $2 }
		/^Request throughput/           { tput = $2 }
		/^Schedule lag P50/             { p50 = $2 }
		/^Schedule lag P99/             { p99 = $2 }
		/^Schedule lag max/             { mx = $2 }
		/^Median Total Latency/         { lat = $2 }
		/^Peak requests in flight/      { peak = $2 }
		/^Load generator CPU/           { cpu = $2 }
		END {
			printf "%-10s ok %s  exit %s\n", name, ok, rc
			printf "           send rate %s req/s, completed %s req/s, peak in flight %s\n", rate, tput, peak
			printf "           loadgen CPU %s\n", cpu
			if (show_lag)
				printf "           schedule lag p50 %s ms, p99 %s ms, max %s ms; median latency %s ms\n", p50, p99, mx, lat
			else
				printf "           median latency %s ms\n", lat
		}' "$tmp/$name.txt"
}

echo "bench_loadgen: nginx canned /generate on 127.0.0.1:$PORT; $(nproc) CPUs"
busy=$(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 > 20 { printf "%s %s%%; ", $2, $1 }')
[ -n "$busy" ] && echo "bench_loadgen: note: other busy processes share the CPUs: $busy"
run poisson 1 --num-requests "$N" --request-rate "$RATE"
# the most the pair can do: a closed loop, 64 requests always in flight
run ceiling 0 --num-requests "$N" --request-rate inf --max-concurrency 64
echo "poisson: open loop, Poisson arrivals at $RATE req/s (lag = actual send - scheduled arrival)"
echo "ceiling: closed loop, 64 in flight (lag not meaningful: requests wait for a slot)"

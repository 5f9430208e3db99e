#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# End-to-end check of loadgen and compare against fake_sglang.py on
# loopback: every endpoint with and without streaming, ids, meta_info
# columns, errors, a target that is down, ^C, and compare on real CSVs.
# Asserts no durations; prints the send span of 100 requests at 50/s.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
lg=$root/tools/loadgen/loadgen
cmp=$root/tools/loadgen/compare
fake=$root/tools/loadgen/fake_sglang.py
port=${PORT:-18131}
pass=0
fail=0
tmp=$(mktemp -d /tmp/loadgen_smoke.XXXXXX)
fake_pid=""

make -C "$root" -s tools/loadgen/loadgen tools/loadgen/compare || exit 1

stop_fake() {
	if [ -n "$fake_pid" ]; then
		kill "$fake_pid" 2>/dev/null
		wait "$fake_pid" 2>/dev/null
		fake_pid=""
	fi
}
trap 'stop_fake; rm -rf "$tmp"' EXIT

start_fake() {
	stop_fake
	python3 "$fake" --port "$port" --log "$tmp/fake.log" "$@" &
	fake_pid=$!
	for _ in $(seq 50); do
		curl -sf "http://127.0.0.1:$port/health" >/dev/null && return 0
		sleep 0.1
	done
	echo "smoke: fake server did not start" >&2
	exit 1
}

check() {
	if [ "$1" = 0 ]; then
		pass=$((pass + 1))
		echo "  ok   $2"
	else
		fail=$((fail + 1))
		echo "  FAIL $2"
	fi
}

# csv_check FILE N STREAM API: rows, unique ids, success, the right columns filled
csv_check() {
	python3 - "$@" <<'PY'
import csv, sys
path, n, stream, api = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
rows = list(csv.DictReader(open(path)))
head = next(csv.reader(open(path)))
contract = ("req_id,success,error,host,has_generated_text,input_length,expected_output_length,"
            "actual_prompt_tokens,actual_output_tokens,actual_total_tokens,output_tokens_from_trace,"
            "decode_length,arrival_time,router_send_time,server_created_time,queue_time_start,"
            "queue_time_end,server_first_token_time,finish_time,server_latency,total_latency,ttft,"
            "queue_time_in_router,queue_time_in_server,tokenize_time,pure_queue_time").split(",")
assert head[:len(contract)] == contract, "contract columns first, in order"
assert len(rows) == n, f"{len(rows)} rows, want {n}"
assert len({r["req_id"] for r in rows}) == n, "ids unique"
for r in rows:
    assert r["success"] == "True", r["error"]
    assert r["has_generated_text"] == "True"
    assert int(r["actual_output_tokens"]) == int(r["expected_output_length"])
    assert r["client_first_token_time"] != "" if stream else r["client_first_token_time"] == ""
    assert r["arrival_time"] == r["client_send_time"]
    assert r["total_latency"] != ""
    if api == "generate":  # OpenAI answers carry no meta_info
        for c in ("request_received_ts", "forward_entry_time", "prefill_finished_time",
                  "e2e_latency", "response_sent_to_client_ts", "server_created_time",
                  "queue_time_end", "server_first_token_time", "ttft"):
            assert r[c] != "", c
    else:
        assert r["actual_total_tokens"] != "", "usage"
    assert float(r["arrival_time"]) <= float(r["finish_time"])
ids = {r["req_id"] for r in rows}
served = {}
for line in open(path.rsplit("/", 1)[0] + "/fake.log"):
    p, rid, hdr = line.split()
    served[rid] = hdr
assert all(served.get(i) == i for i in ids), "server saw rid == X-Request-Id for every row"
PY
}

echo "loadgen smoke test against fake_sglang.py on 127.0.0.1:$port"
start_fake --token-ms 0.5
for backend in sglang openai openai-chat; do
	for stream in 0 1; do
		sflag=--no-stream
		[ $stream = 1 ] && sflag=--stream
		api=$backend
		[ $backend = sglang ] && api=generate
		: > "$tmp/fake.log"
		"$lg" --port "$port" --backend "$backend" $sflag --num-requests 20 \
			--request-rate 200 --random-input-len 12 --random-output-len 6 \
			-q --output-csv "$tmp/run.csv" > "$tmp/out.txt" 2>&1
		rc=$?
		[ $rc = 0 ] && csv_check "$tmp/run.csv" 20 $stream $api
		check $? "$backend $sflag: 20 rows, ids unique and echoed, meta_info mapped (exit $rc)"
	done
done

grep -q "^Model: *fake-model" "$tmp/out.txt"
check $? "model asked from /v1/models"

"$lg" --port "$port" --num-requests 100 --request-rate 50 --random-input-len 8 \
	--random-output-len 4 --seed 3 -q --output-csv "$tmp/r50.csv" > "$tmp/r50.txt" 2>&1
check $? "100 requests at 50/s"
python3 - "$tmp/r50.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
s = sorted(float(r["scheduled_time"]) for r in rows)
a = sorted(float(r["client_send_time"]) for r in rows)
print(f"       scheduled span {s[-1]-s[0]:.2f} s, sent span {a[-1]-a[0]:.2f} s "
      f"(a serial sender would need the sum of all latencies)")
PY

"$cmp" "$tmp/r50.csv" "$tmp/r50.csv" > "$tmp/self.txt"
grep -q "requests in both: 100   only in servetrace: 0   only in in-band: 0" "$tmp/self.txt"
check $? "compare: a CSV against itself joins all 100"
"$cmp" --json -p server_created_time=request_received_ts -p arrival_time=scheduled_time \
	"$tmp/r50.csv" "$tmp/r50.csv" > "$tmp/self.json"
python3 - "$tmp/self.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
p = j["pairs"]
assert j["requests"]["both"] == 100
assert p[0]["n"] == 100 and p[0]["max_abs"] < 1e-6, "created == received"
assert p[1]["n"] == 100 and p[1]["p50"] >= 0, "send is not before schedule"
PY
check $? "compare --json with chosen pairs"

start_fake --fail-every 4
"$lg" --port "$port" --num-requests 20 --request-rate inf --random-input-len 8 \
	--random-output-len 4 -q --output-csv "$tmp/f.csv" > "$tmp/f.txt" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "HTTP 500 Internal Server Error: injected failure" "$tmp/f.txt" &&
	[ "$(grep -c '^[^,]*,False,' "$tmp/f.csv")" = 5 ]
check $? "server errors: exit 2, 5 of 20 failed, error text in summary and CSV"

start_fake --garbage
"$lg" --port "$port" --num-requests 5 -q > "$tmp/g.txt" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "is not JSON" "$tmp/g.txt"
check $? "garbage answers: exit 1, says the response is not JSON"

stop_fake
"$lg" --port "$port" --num-requests 5 -q > "$tmp/d.txt" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "cannot reach" "$tmp/d.txt"
check $? "target down: exit 1, says it cannot reach it"

start_fake --token-ms 1
"$lg" --port "$port" --num-requests 400 --request-rate 20 --random-input-len 8 \
	--random-output-len 4 -q --output-csv "$tmp/int.csv" > "$tmp/int.txt" 2>&1 &
lg_pid=$!
sleep 1.5
kill -INT $lg_pid
wait $lg_pid
rc=$?
rows=$(($(wc -l < "$tmp/int.csv") - 1))
[ $rc = 130 ] && [ "$rows" -gt 0 ] && [ "$rows" -lt 400 ] && grep -q interrupted "$tmp/int.txt"
check $? "^C: exit 130, CSV has the $rows requests sent so far"

echo "$pass passed, $fail failed"
[ $fail = 0 ]

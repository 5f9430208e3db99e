#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Re-make the h2 fixtures: smg 1.13.0 in front of 2 SGLang 0.5.15 workers in
# --grpc-mode (tools/deploy/up.sh --router smg --grpc), tcpdump on loopback
# from before smg connects until after it is stopped (so the connection
# preface, the first HPACK entries, RST_STREAM and GOAWAY are in it).
# Run as root from the repo root, under the shared lock:
#   flock /tmp/servetrace-heavy.lock tests/unit/data/h2/capture.sh
set -euo pipefail
cd "$(dirname "$0")/../../../.."
OUT=tests/unit/data/h2
RUN=$(mktemp -d /tmp/h2cap.XXXXXX)
RP=27080 WP=27081
MODEL=$PWD/models/tiny-llama
tcpdump -i lo -s 0 -U -w "$RUN/cap.pcap" "tcp port $WP or tcp port $((WP + 1))" 2>"$RUN/tcpdump.err" &
TCPDUMP=$!
trap 'kill -INT $TCPDUMP 2>/dev/null || true; tools/deploy/down.sh --run-dir "$RUN" >/dev/null || true' EXIT
sleep 1
tools/deploy/up.sh --router smg --grpc --router-port $RP --worker-port $WP --run-dir "$RUN"
post() { # rid path body
	curl -s -m 60 -H "x-request-id: $1" -H 'content-type: application/json' \
		"http://127.0.0.1:$RP$2" -d "$3" -o "$RUN/$1.out"
}
chat='"messages":[{"role":"user","content":"the quick brown fox jumps"}]'
# one at a time: chat, completions, generate; streaming and not
post h2-chat-1 /v1/chat/completions "{\"model\":\"$MODEL\",$chat,\"max_tokens\":8,\"temperature\":0}"
post h2-chat-2 /v1/chat/completions "{\"model\":\"$MODEL\",$chat,\"max_tokens\":8,\"stream\":true}"
post h2-cmpl-3 /v1/completions "{\"model\":\"$MODEL\",\"prompt\":\"the quick brown fox\",\"max_tokens\":8,\"ignore_eos\":true}"
post h2-cmpl-4 /v1/completions "{\"model\":\"$MODEL\",\"prompt\":\"the quick brown fox\",\"max_tokens\":8,\"stream\":true,\"ignore_eos\":true}"
post h2-gen-5 /generate "{\"model\":\"$MODEL\",\"text\":\"hello there\",\"sampling_params\":{\"max_new_tokens\":8,\"ignore_eos\":true}}"
post h2-gen-6 /generate "{\"model\":\"$MODEL\",\"text\":\"hello there\",\"stream\":true,\"sampling_params\":{\"max_new_tokens\":8,\"ignore_eos\":true}}"
# concurrent: streams interleave on each worker's one HTTP/2 connection
pids=()
for i in 7 8 9 10 11 12; do
	post h2-conc-$i /v1/completions "{\"model\":\"$MODEL\",\"prompt\":\"fox $i\",\"max_tokens\":24,\"stream\":true,\"ignore_eos\":true}" &
	pids+=($!)
done
wait "${pids[@]}"
# a client that goes away mid-stream: smg cancels the gRPC call (RST_STREAM)
curl -s -m 0.3 -H "x-request-id: h2-cancel-13" -H 'content-type: application/json' \
	"http://127.0.0.1:$RP/v1/completions" -o /dev/null \
	-d "{\"model\":\"$MODEL\",\"prompt\":\"long\",\"max_tokens\":2000,\"stream\":true,\"ignore_eos\":true}" || true
sleep 1
tools/deploy/down.sh --run-dir "$RUN"
sleep 1
kill -INT $TCPDUMP; wait $TCPDUMP || true
trap - EXIT
rm -f "$OUT"/conn*.c2s "$OUT"/conn*.s2c "$OUT"/conn*.seg
python3 "$OUT/pcap2seg.py" "$RUN/cap.pcap" $WP "$OUT/conn_w0_"
python3 "$OUT/pcap2seg.py" "$RUN/cap.pcap" $((WP + 1)) "$OUT/conn_w1_"
cp "$RUN/router.log" "$RUN/capture-router.log" 2>/dev/null || true
echo "capture dir: $RUN"
# Then by hand: the committed fixtures are smg_w0 / smg_w1 (each worker's
# long-lived smg connection: the largest conn_w*_), pyclient (the
# servicer's own warm-up client, grpcio: another HPACK encoder); the
# other conn_* (smg's one-off start-up calls) were deleted.

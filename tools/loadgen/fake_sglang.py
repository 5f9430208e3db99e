#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A stand-in for an SGLang server, for testing loadgen without a model.

Answers /generate, /v1/completions and /v1/chat/completions (streaming or
not) the way SGLang does with --enable-metrics, checks that the body "rid"
equals the X-Request-Id header, and appends every rid it served to --log.
Modes for error handling: --garbage (non-JSON 200 answers), --fail-every N
(HTTP 500 with an error object on every Nth request).
"""
import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOCK = threading.Lock()
COUNT = [0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small SSE writes must not wait for ACKs

    def log_message(self, *a):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/v1/models":
            self.send_json(200, {"object": "list", "data": [{"id": "fake-model"}]})
        elif self.path == "/get_model_info":
            self.send_json(200, {"model_path": "fake-model"})
        elif self.path == "/health":
            self.send_json(200, {})
        else:
            self.send_json(404, {"detail": "Not Found"})

    def do_POST(self):
        received = time.time()
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n))
        rid = req.get("rid")
        hdr = self.headers.get("X-Request-Id")
        with LOCK:
            COUNT[0] += 1
            k = COUNT[0]
            if ARGS.log:
                with open(ARGS.log, "a") as f:
                    f.write(f"{self.path} {rid} {hdr}\n")
        if rid is None or rid != hdr:
            self.send_json(400, {"object": "error", "message": f"rid {rid!r} != X-Request-Id {hdr!r}"})
            return
        if ARGS.fail_every and k % ARGS.fail_every == 0:
            self.send_json(500, {"error": {"message": "injected failure"}})
            return
        if ARGS.garbage:
            body = b"<html>not json</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path == "/generate":
            prompt = req["text"]
            max_tokens = req["sampling_params"]["max_new_tokens"]
        elif self.path == "/v1/completions":
            prompt = req["prompt"]
            max_tokens = req["max_tokens"]
        else:
            prompt = req["messages"][0]["content"]
            max_tokens = req["max_tokens"]
        ptoks = len(prompt.split())
        wait_entry = received + 0.001
        forward = wait_entry + 0.002
        time.sleep(0.003)
        prefill = time.time()
        meta = {"id": rid, "prompt_tokens": ptoks, "cached_tokens": 0,
                "request_received_ts": received, "forward_entry_time": forward,
                "queue_time": forward - wait_entry, "prefill_finished_time": prefill}
        if req.get("stream"):
            self.stream(req, rid, max_tokens, meta, received)
        else:
            time.sleep(ARGS.token_ms * max_tokens / 1e3)
            self.whole(req, rid, max_tokens, meta, received)

    def final_meta(self, meta, n, received):
        now = time.time()
        meta.update(completion_tokens=n, finish_reason={"type": "length", "length": n},
                    e2e_latency=now - received, request_finished_ts=now,
                    response_sent_to_client_ts=now)
        return meta

    def whole(self, req, rid, n, meta, received):
        text = " tok" * n
        meta = self.final_meta(meta, n, received)
        if self.path == "/generate":
            self.send_json(200, {"text": text, "meta_info": meta})
            return
        usage = {"prompt_tokens": meta["prompt_tokens"], "completion_tokens": n,
                 "total_tokens": meta["prompt_tokens"] + n}
        if self.path == "/v1/completions":
            choice = {"index": 0, "text": text, "finish_reason": "length"}
        else:
            choice = {"index": 0, "message": {"role": "assistant", "content": text},
                      "finish_reason": "length"}
        self.send_json(200, {"id": rid, "object": "x", "model": "fake-model",
                             "choices": [choice], "usage": usage})

    def chunk(self, obj):
        data = b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def stream(self, req, rid, n, meta, received):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.path == "/v1/chat/completions":
            self.chunk({"id": rid, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
        text = ""
        for i in range(1, n + 1):
            time.sleep(ARGS.token_ms / 1e3)
            text += " tok"
            if self.path == "/generate":
                m = dict(meta, completion_tokens=i)
                if i == n:
                    m = self.final_meta(m, n, received)
                self.chunk({"text": text, "meta_info": m})
            elif self.path == "/v1/completions":
                self.chunk({"id": rid, "choices": [{"index": 0, "text": " tok"}]})
            else:
                self.chunk({"id": rid, "choices": [{"index": 0, "delta": {"content": " tok"}}]})
        if self.path != "/generate":
            self.chunk({"id": rid, "choices": [], "usage": {
                "prompt_tokens": meta["prompt_tokens"], "completion_tokens": n,
                "total_tokens": meta["prompt_tokens"] + n}})
        self.chunk(b"[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=30000)
    ap.add_argument("--token-ms", type=float, default=1.0, help="time per output token")
    ap.add_argument("--log", help="append 'path rid x-request-id' per request")
    ap.add_argument("--garbage", action="store_true")
    ap.add_argument("--fail-every", type=int, default=0)
    ARGS = ap.parse_args()
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 1024
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    srv.serve_forever()


if __name__ == "__main__":
    main()

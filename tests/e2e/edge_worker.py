# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A purpose-built HTTP/1.1 upstream for protocol edge cases the real SGLang
cannot be made to produce (resets, 5xx for retries, odd chunking). It speaks
enough of SGLang's API for sglang-router to accept it as a worker. It never
stands in for SGLang in the end-to-end tests of the timeline."""
import argparse
import json
import os
import re
import socket
import struct
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    rid = None

    def log_message(self, fmt, *args):
        """One line per request; POSTs also name the rid and x-request-id
        they carried, so a test knows which upstream saw which request."""
        if self.server.log:
            msg = fmt % args
            if self.rid is not None:
                msg += " rid=%s xrid=%s" % (self.rid, self.headers.get("x-request-id", "-"))
            with self.server.log_lock:
                self.server.log.write("%s %s\n" % (time.time(), msg))
                self.server.log.flush()

    def _json(self, code, obj, extra_headers=()):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.rid = None
        if self.path in ("/health", "/health_generate"):
            self._json(200, {})
        elif self.path in ("/get_server_info", "/server_info"):
            self._json(200, {"port": self.server.server_port, "pid": os.getpid()})
        elif self.path in ("/get_model_info", "/model_info"):
            self._json(200, {"model_path": "edge", "is_generation": True})
        elif self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": "edge", "object": "model"}]})
        elif self.path == "/get_load":
            self._json(200, {"load": 0})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self):
        n = int(self.headers.get("content-length", 0))
        req = json.loads(self.rfile.read(n) or b"{}")
        rid = req.get("rid") or uuid.uuid4().hex
        self.rid = req.get("rid") or "-"
        self.log_message('recv "%s"', self.requestline)
        mode = self.server.mode
        if mode == "fail" or (mode == "fail-once" and rid not in self.server.failed):
            self.server.failed.add(rid)
            self._json(503, {"error": {"message": "overloaded"}})
            return
        if mode == "reset":
            # socket.close() would wait for rfile/wfile to let go of the fd
            # (and socketserver sends a FIN first): close the fd itself, with
            # a zero linger, so the peer gets an RST right away.
            self.log_message('"%s" reset', self.requestline)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            os.close(self.connection.detach())
            self.close_connection = True
            return
        ntok = int(req.get("max_tokens") or req.get("sampling_params", {}).get("max_new_tokens", 4))
        prompt_tokens = len(str(req.get("text") or req.get("prompt") or "").split())
        openai = self.path.startswith("/v1/")
        # a prompt word edge_delay=SEC[@PORT] slows this one request (on the
        # upstream at PORT only): the router passes prompts through untouched,
        # so a test picks which request is slow, and where
        m = re.search(r"\bedge_delay=([0-9.]+)(?:@(\d+))?\b",
                      str(req.get("text") or req.get("prompt") or ""))
        if m and (not m.group(2) or int(m.group(2)) == self.server.server_port):
            time.sleep(float(m.group(1)))
        else:
            time.sleep(self.server.delay)
        if req.get("stream"):
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            # --token-gap 0: every event in one write, so the router gets
            # them all in one read and forwards a burst of chunks at once
            burst = []
            for i in range(ntok):
                if openai:
                    ev = {"id": rid, "choices": [{"text": "w%d " % i}]}
                else:
                    ev = {"text": " ".join("w%d" % k for k in range(i + 1)),
                          "meta_info": {"id": rid, "prompt_tokens": prompt_tokens,
                                        "completion_tokens": i + 1}}
                data = ("data: %s\n\n" % json.dumps(ev)).encode()
                chunk = b"%x\r\n%s\r\n" % (len(data), data)
                if self.server.token_gap:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    time.sleep(self.server.token_gap)
                else:
                    burst.append(chunk)
            if openai:
                ev = {"id": rid, "choices": [], "usage": {"prompt_tokens": prompt_tokens,
                      "completion_tokens": ntok, "total_tokens": prompt_tokens + ntok}}
                data = ("data: %s\n\n" % json.dumps(ev)).encode()
                burst.append(b"%x\r\n%s\r\n" % (len(data), data))
            done = b"data: [DONE]\n\n"
            burst.append(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
            self.wfile.write(b"".join(burst))
            self.wfile.flush()
            return
        text = " ".join("w%d" % k for k in range(ntok))
        if openai:
            self._json(200, {"id": rid, "object": "text_completion",
                             "choices": [{"text": text, "index": 0}],
                             "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": ntok,
                                       "total_tokens": prompt_tokens + ntok}})
        else:
            self._json(200, {"text": text, "meta_info": {"id": rid, "prompt_tokens": prompt_tokens,
                                                          "completion_tokens": ntok}})


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mode", default="ok", choices=["ok", "fail", "fail-once", "reset"])
    ap.add_argument("--delay", type=float, default=0.0, help="seconds before answering")
    ap.add_argument("--token-gap", type=float, default=0.002,
                    help="seconds between streamed events (0: all in one write)")
    ap.add_argument("--log", help="append a line per request here, and one when a POST arrives")
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.mode, srv.delay, srv.token_gap, srv.failed = a.mode, a.delay, a.token_gap, set()
    srv.log = open(a.log, "a") if a.log else None
    srv.log_lock = threading.Lock()
    srv.daemon_threads = True
    srv.serve_forever()


if __name__ == "__main__":
    main()

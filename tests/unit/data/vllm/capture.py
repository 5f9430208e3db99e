# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Capture the fixtures of tests/unit/test_vllm_ipc.c from a running vLLM.

Root; run with .venv-vllm/bin/python (msgspec labels the frames):

  .venv-vllm/bin/python tests/unit/data/vllm/capture.py --pid API_PID --port 28001 --tag stats

Attaches .output/vllm_zmq_capture (tests/bpf/vllm_zmq_capture.c, the
libzmq uprobes of servetrace) to the API server and its VLLM::EngineCore,
sends /v1/completions and /v1/chat/completions, streaming and not (one
request at a time, then three at once, X-Request-Id fx-<tag>-<case>), and writes every frame
the API server sent or the EngineCore sent, as captured by the uprobes, to
<tag>-NN-<label>.bin, plus <tag>-frames.jsonl (all frames, labelled).
Nothing in vLLM is touched.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import msgspec

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))


def descendants(pid):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    s = f.read()
                kids.setdefault(int(s[s.rindex(")") + 2:].split()[1]), []).append(int(d))
            except OSError:
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def comm(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def post(port, path, body, rid):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "X-Request-Id": rid})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read()


def label(raw):
    """What the frame is, in words (for the file name), from msgspec's view."""
    if len(raw) <= 2:
        return {1: "type", 2: "identity"}[len(raw)] if raw else "empty"
    try:
        v = msgspec.msgpack.decode(raw)
    except msgspec.DecodeError:
        return "raw"
    if isinstance(v, list) and v and isinstance(v[0], str):
        return "add" if len(v) > 1 and not isinstance(v[1], str) else "abort"
    if isinstance(v, list) and len(v) >= 2 and isinstance(v[1], list):
        outs = v[1]
        if not outs:
            return "out-empty" if len(v) < 5 or v[4] is None else "out-utility"
        fin = any(len(o) > 5 and o[5] is not None for o in outs)
        ev = any(len(o) > 7 and o[7] for o in outs)
        return f"out{len(outs)}" + ("-fin" if fin else "") + ("-ev" if ev else "")
    if isinstance(v, list) and len(v) == 4 and isinstance(v[2], str):
        return "utility-" + v[2]
    return "other"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True, help="vLLM API server pid")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tag", required=True)
    ap.add_argument("--max-tokens", type=int, default=4)
    args = ap.parse_args()

    pids = [p for p in descendants(args.pid) if p == args.pid or comm(p).startswith("VLLM::EngineCor")]
    print("pids:", [(p, comm(p)) for p in pids], file=sys.stderr)
    # stdout to a file: a pipe nobody reads would fill and stall the capture.
    out = tempfile.TemporaryFile(mode="w+")
    cap = subprocess.Popen([os.path.join(ROOT, ".output", "vllm_zmq_capture"), *map(str, pids)],
                           stdout=out, stderr=subprocess.PIPE, text=True)
    while "capturing" not in cap.stderr.readline():
        if cap.poll() is not None:
            sys.exit("capture failed")
    model = os.path.join(ROOT, "models", "tiny-llama")
    cases = [
        ("cmpl-nostream", "/v1/completions", {"prompt": "hello there", "stream": False}),
        ("cmpl-stream", "/v1/completions", {"prompt": "hello again", "stream": True}),
        ("chat-nostream", "/v1/chat/completions",
         {"messages": [{"role": "user", "content": "hi"}], "stream": False}),
        ("chat-stream", "/v1/chat/completions",
         {"messages": [{"role": "user", "content": "hey"}], "stream": True}),
    ]
    for name, path, body in cases:
        body.update(model=model, max_tokens=args.max_tokens, ignore_eos=True)
        post(args.port, path, body, f"fx-{args.tag}-{name}")
        time.sleep(0.3)
    # Three at once: outputs that carry several requests.
    body = {"model": model, "prompt": "a batch", "max_tokens": args.max_tokens, "ignore_eos": True}
    threads = [threading.Thread(target=post, args=(args.port, "/v1/completions", body,
                                                   f"fx-{args.tag}-batch-{i}")) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(0.5)
    cap.terminate()
    cap.communicate(timeout=10)
    out.seek(0)
    lines = out.read().splitlines()

    frames = []
    for line in lines:
        e = json.loads(line)
        if e["dir"] != "send":  # the receiver sees the same bytes
            continue
        raw = bytes.fromhex(e["hex"])
        e["label"] = label(raw) if not e["trunc"] else "truncated"
        e["role"] = "api" if e["pid"] == args.pid else "engine"
        frames.append(e)
    with open(os.path.join(HERE, f"{args.tag}-frames.jsonl"), "w") as f:
        for e in frames:
            f.write(json.dumps(e) + "\n")
    for i, e in enumerate(frames):
        if e["label"] in ("type", "identity"):
            continue
        name = f"{args.tag}-{i:02d}-{e['role']}-{e['label']}.bin"
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(bytes.fromhex(e["hex"]))
    print(f"{len(frames)} frames sent; labels:", [e["label"] for e in frames], file=sys.stderr)


if __name__ == "__main__":
    main()

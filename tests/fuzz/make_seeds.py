#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Seed corpora for tests/fuzz/ from real captures: the HTTP streams, bodies,
SSE events and libzmq IPC payloads of a --record file (default
tests/unit/data/router_sglang.strec), plus the IPC fixtures of
tests/unit/data/ipc/. Writes tests/fuzz/corpus/<harness>/<sha1 prefix>.
Stream harnesses read two split-seed bytes first (fuzz_split.h)."""
import hashlib
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import strec  # noqa: E402

REC_ZMQ = 2  # user/capture/recording.h enum rec_source
EV_ZMQ_MSG = 100
ZMQ_MSG_HEAD = struct.Struct("=IIII6QIBBBB")  # struct zmq_msg_event, data follows
STREAM_MAX = 24 * 1024  # bytes of one connection direction kept
PER_HARNESS = 40
METHODS = (b"GET ", b"POST ", b"PUT ", b"DELETE ", b"HEAD ", b"OPTIONS ", b"PATCH ")


def http_messages(stream):
    """(head, body) of each message of a whole stream: Content-Length or
    chunked framing; a read-until-close body takes the rest."""
    pos = 0
    while pos < len(stream):
        end = stream.find(b"\r\n\r\n", pos)
        if end < 0:
            return
        head = stream[pos:end + 4]
        pos = end + 4
        low = head.lower()
        m = re.search(rb"\r\ncontent-length: *(\d+)", low)
        if b"transfer-encoding: chunked" in low:
            body = bytearray()
            while True:
                nl = stream.find(b"\r\n", pos)
                if nl < 0:
                    return
                size = int(stream[pos:nl].split(b";")[0] or b"0", 16)
                pos = nl + 2
                if size == 0:
                    pos = stream.find(b"\r\n\r\n", pos - 2) + 4
                    break
                body += stream[pos:pos + size]
                pos += size + 2
            yield head, bytes(body)
        elif m:
            n = int(m.group(1))
            yield head, stream[pos:pos + n]
            pos += n
        elif head.startswith(b"HTTP/") and not re.match(rb"HTTP/1\.\d (1\d\d|204|304)", head):
            yield head, stream[pos:]
            return
        else:
            yield head, b""


def sse_events(body):
    """The data of each event of an event-stream body, lines joined."""
    for block in re.split(rb"\r?\n\r?\n", body):
        data = [line[5:].lstrip(b" ") for line in block.splitlines() if line.startswith(b"data:")]
        if data:
            yield b"\n".join(data)


def collect(path):
    seeds = {h: [] for h in ("http_request", "http_response", "sse_parser", "body_request",
                             "body_response", "ipc_pickle", "ipc_msgpack")}
    streams = {}
    for source, rec in strec.records(path):
        if source == strec.REC_SOCK and len(rec) >= strec.SOCK_EVENT.size:
            ev = dict(zip(strec.FIELDS, strec.SOCK_EVENT.unpack_from(rec)))
            if ev["type"] != strec.EV_DATA or ev["truncated"]:
                continue
            data = rec[strec.SOCK_EVENT.size:strec.SOCK_EVENT.size + ev["cap_len"]]
            key = (ev["tgid"], ev["fd"], ev["sock_id"], ev["dir"])
            streams.setdefault(key, bytearray()).extend(data)
        elif source == REC_ZMQ and len(rec) >= ZMQ_MSG_HEAD.size:
            f = ZMQ_MSG_HEAD.unpack_from(rec)
            if f[0] != EV_ZMQ_MSG:
                continue
            payload = rec[ZMQ_MSG_HEAD.size:ZMQ_MSG_HEAD.size + f[3]]
            if payload[:1] == b"\x80":
                seeds["ipc_pickle"].append(payload)
            elif payload[:1] and (payload[0] & 0xF0 == 0x90 or payload[0] in (0xDC, 0xDD)):
                seeds["ipc_msgpack"].append(payload)
    for i, stream in enumerate(streams.values()):
        stream = bytes(stream)
        split = struct.pack("=H", i * 40503 & 0xFFFF)  # a different split per seed
        if stream.startswith(METHODS):
            seeds["http_request"].append(split + stream[:STREAM_MAX])
            for _, body in http_messages(stream):
                if body:
                    seeds["body_request"].append(body)
        elif stream.startswith(b"HTTP/1."):
            seeds["http_response"].append(split + stream[:STREAM_MAX])
            for head, body in http_messages(stream):
                if b"text/event-stream" in head.lower():
                    seeds["sse_parser"].append(split + body[:STREAM_MAX])
                    seeds["body_response"].append(b"\n".join(sse_events(body))[:STREAM_MAX])
                elif body:
                    seeds["body_response"].append(body[:STREAM_MAX])
    ipc = os.path.join(ROOT, "tests", "unit", "data", "ipc")
    for name in sorted(os.listdir(ipc)):
        for ext, harness in ((".pickle", "ipc_pickle"), (".msgpack", "ipc_msgpack")):
            if name.endswith(ext):
                with open(os.path.join(ipc, name), "rb") as f:
                    seeds[harness].insert(0, f.read())
    return seeds


def pick(items, limit):
    """Distinct items, spread over the sizes seen (so one kind of message
    that recurs a thousand times does not crowd out the rest)."""
    seen, unique = set(), []
    for it in items:
        h = hashlib.sha1(it).digest()
        if h not in seen:
            seen.add(h)
            unique.append(it)
    if len(unique) <= limit:
        return unique
    # keep the first of each (first 24 bytes, length bucket) shape, then fill
    shapes, out = set(), []
    for it in unique:
        shape = (it[:24], len(it).bit_length())
        if shape not in shapes:
            shapes.add(shape)
            out.append(it)
    for it in unique:
        if len(out) >= limit:
            break
        if it not in out:
            out.append(it)
    return out[:limit]


def h2_frames(stream):
    """(type, payload) of the frames of a captured HTTP/2 direction."""
    pos = 24 if stream.startswith(b"PRI * HTTP/2.0") else 0
    while pos + 9 <= len(stream):
        n = int.from_bytes(stream[pos:pos + 3], "big")
        yield stream[pos + 3], stream[pos + 9:pos + 9 + n]
        pos += 9 + n


def collector_seeds(path):
    """Event streams of the recording in the fuzz_collector encoding: the
    router's sockets become the harness's 0/5 (clients) and 1/2 (to the
    workers), the two workers' 3 and 4; 60 events per seed."""
    roles = {}
    for source, b in strec.records(path):
        if source == 3:  # REC_ROLE
            tgid, role = struct.unpack("=II", b[:8])
            roles[tgid] = role
    router = {t for t, r in roles.items() if r == 1}
    workers = sorted(t for t, r in roles.items() if r == 2)
    socks, ops, seeds, count = {}, bytearray(), [], 0
    free = {"client": [0, 5], "fwd": [1, 2]}
    for ev in strec.sock_events(path):
        key = (ev["tgid"], ev["fd"])
        if key not in socks:
            if ev["tgid"] in router:
                kind = "client" if ev["dir"] == strec.DIR_READ else "fwd"
                socks[key] = free[kind][len([k for k in socks if k[0] in router]) % 2]
            elif ev["tgid"] in workers:
                socks[key] = 3 + workers.index(ev["tgid"]) % 2
            else:
                continue
        k = socks[key]
        t = ev["type"]
        if t == 1:  # EV_DATA
            data = ev["data"][:0xfff]
            gap = 0x80 | min(0x7f, (ev["ret"] - len(data)) // 512) if ev["ret"] > len(data) else 0
            ops += bytes([k << 3 | ev["dir"]]) + len(data).to_bytes(2, "little") + bytes([gap]) + data
        elif t in (2, 3, 4):  # accept, connect, close
            ops.append(k << 3 | {2: 2, 3: 3, 4: 5}[t])
        else:
            continue
        count += 1
        if count % 60 == 0:
            seeds.append(bytes([1]) + bytes(ops))
            ops = bytearray()
            ops.append(7 | 4 << 4)  # time moves on between seeds
    if ops:
        seeds.append(bytes([1]) + bytes(ops))
    return seeds


def extra_seeds(path):
    """The harnesses of the HTTP/2 + gRPC, HPACK and vLLM parsers, and the
    collector's: from tests/unit/data/h2/, tests/unit/data/vllm/ and path."""
    data = os.path.join(ROOT, "tests", "unit", "data")
    out = {"h2_grpc": [], "hpack": [], "grpc_proto": [], "vllm_ipc": []}
    h2dir = os.path.join(data, "h2")
    for name in sorted(os.listdir(h2dir)):
        if not name.endswith((".c2s", ".s2c")):
            continue
        with open(os.path.join(h2dir, name), "rb") as f:
            stream = f.read()
        client = name.endswith(".c2s")
        out["h2_grpc"].append(b"\x01\x02" + bytes([1 if client else 0]) + stream)
        blocks = bytearray([1 if client else 0])
        for typ, payload in h2_frames(stream):
            if typ == 1 and 0 < len(payload) < 256:
                blocks += bytes([len(payload)]) + payload
            elif typ == 0 and len(payload) > 5:
                out["grpc_proto"].append(bytes([0 if client else 1]) + payload[5:])
        out["hpack"].append(bytes(blocks))
    vdir = os.path.join(data, "vllm")
    for name in sorted(os.listdir(vdir)):
        if name.endswith(".bin"):
            with open(os.path.join(vdir, name), "rb") as f:
                frame = f.read()
            out["vllm_ipc"] += [b"\x00" + frame, b"\x01" + frame[:len(frame) // 2]]
    out["collector"] = collector_seeds(path)
    return out


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        ROOT, "tests", "unit", "data", "router_sglang.strec")
    total = 0
    found = collect(path)
    found.update(extra_seeds(path))
    for harness, items in found.items():
        if not items:  # keep the committed seeds rather than none
            print("%-14s   nothing found: seeds kept" % harness)
            continue
        out = os.path.join(HERE, "corpus", harness)
        os.makedirs(out, exist_ok=True)
        for old in os.listdir(out):
            os.unlink(os.path.join(out, old))
        chosen = pick(items, PER_HARNESS)
        for it in chosen:
            with open(os.path.join(out, hashlib.sha1(it).hexdigest()[:16]), "wb") as f:
                f.write(it)
        size = sum(len(it) for it in chosen)
        total += size
        print("%-14s %3d seeds %8d bytes (of %d found)" % (harness, len(chosen), size, len(items)))
    print("total %d bytes" % total)


if __name__ == "__main__":
    main()

# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Peer for tests/bpf/test_zmq_uprobe.c: a pyzmq PUSH/PULL pair over
ipc:// in one process, driven step by step from stdin so the tracer can
attach after libzmq is mapped and check each step's events.

Protocol: prints "ready <pid> <push handle> <pull handle> <endpoint>",
then for each stdin line runs the command and prints "ok <command>".
"""
import os
import pickle
import sys
import tempfile
import time
import types

import zmq

try:
    import msgpack
except ImportError:  # msgpack case skipped by the test
    msgpack = None


class TokenizedGenerateReqInput:
    """Stands in for SGLang's class: a state dict with "rid" first."""

    def __init__(self, rid, n_ids):
        self.rid = rid
        self.http_worker_ipc = None
        self.input_text = "hello"
        self.input_ids = list(range(n_ids))
        self.stream = True


# Pickle names the class by module; make that module this one (and its
# parents importable) without importing a real SGLang.
TokenizedGenerateReqInput.__module__ = "sglang.srt.managers.io_struct"
for _name in ("sglang", "sglang.srt", "sglang.srt.managers"):
    sys.modules[_name] = types.ModuleType(_name)
sys.modules["sglang.srt.managers.io_struct"] = sys.modules[__name__]


def main():
    ctx = zmq.Context(2)
    path = tempfile.mktemp(prefix="servetrace-zmq-test-")
    endpoint = "ipc://" + path
    pull = ctx.socket(zmq.PULL)
    push = ctx.socket(zmq.PUSH)
    print(f"ready {os.getpid()} {push.underlying} {pull.underlying} {endpoint}",
          flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        op = cmd[0]
        if op == "connect":
            pull.bind(endpoint)
            push.connect(endpoint)
        elif op == "eagain":
            # Non-blocking receives on an empty socket, like the
            # scheduler's drain loop: every one fails with EAGAIN.
            for _ in range(int(cmd[1])):
                try:
                    pull.recv(zmq.NOBLOCK)
                    raise SystemExit("unexpected message")
                except zmq.Again:
                    pass
                if len(cmd) > 2:
                    time.sleep(float(cmd[2]))
        elif op == "pickle":
            obj = TokenizedGenerateReqInput(cmd[1], int(cmd[2]))
            push.send_pyobj(obj, protocol=pickle.HIGHEST_PROTOCOL)
            got = pull.recv()
            assert pickle.loads(got).rid == cmd[1]
        elif op == "raw":
            # A payload of exactly n bytes starting with the rid.
            data = cmd[1].encode()
            data += b"x" * (int(cmd[2]) - len(data))
            push.send(data, copy=len(data) < 65536)
            assert pull.recv() == data
        elif op == "msgpack":
            if msgpack is None:
                print("skip msgpack", flush=True)
                continue
            push.send(msgpack.packb(["BatchTokenIDOutput", cmd[1:], None,
                                     [None] * (len(cmd) - 1)]))
            pull.recv()
        elif op == "quit":
            print("ok quit", flush=True)
            break
        print(f"ok {op}", flush=True)
    push.close(linger=0)
    pull.close(linger=0)
    ctx.term()
    try:
        os.unlink(path)
    except OSError:
        pass


if __name__ == "__main__":
    main()

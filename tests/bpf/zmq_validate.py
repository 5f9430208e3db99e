# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Compare servetrace's inside-the-server timestamps with SGLang's own.

Input: JSON lines from `zmq_dump -x -c 16384 MAIN_PID` recorded while a
server started with --enable-metrics served requests. With metrics on,
every BatchTokenIDOutput the scheduler sends carries, per rid, SGLang's
SchedulerReqTimeStats (wait_queue_entry_time, forward_entry_time,
prefill_finished_time) in time.perf_counter() seconds: CLOCK_MONOTONIC,
the clock of bpf_ktime_get_ns(), so no clock conversion is needed.

Estimates checked, per rid (SGLang's stamp in brackets):
  queue_start      scheduler's zmq_msg_recv return of the request    [wait_queue_entry_time]
  queue_end_drain  end of the receive drain of the iteration whose
                   first output carries the rid (streaming only)     [forward_entry_time]
  queue_end_first  end of the first drain after the receive
                   (EV_ZMQ_LOOP gap start), any request              [forward_entry_time]
  queue_end_count  non-streaming: count N-1 busy iterations (EV_ZMQ_LOOP
                   gaps) back from the first send carrying the rid, N =
                   its completion tokens then (50, or all at finish) [forward_entry_time]
  queue_end_fcfs   non-streaming: the later of queue_end_first and the
                   queue_end_drain of the last streaming request received
                   before it (FCFS admits in receive order)          [forward_entry_time]
  fcfs_window      width of [queue_end_fcfs, queue_end_drain of the next
                   streaming request received after it] (not an error)
  first_token      scheduler's first send carrying the rid           [prefill_finished_time]

Run with SGLang's venv (it unpickles SGLang objects; pickle IPC only):
  .output/zmq_dump -x -c 16384 -d 60 MAIN_PID > dump.jsonl   # root, during a load
  .venv/bin/python tests/bpf/zmq_validate.py dump.jsonl
"""
import json
import pickle
import statistics
import sys
from collections import defaultdict


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))
    return xs[k]


def main(path):
    evs = [json.loads(line) for line in open(path)]
    key = lambda e: e.get("ts", e.get("gap_end", 0))
    evs.sort(key=key)

    recv = {}            # rid -> scheduler receive ts (ns)
    stream = {}          # rid -> bool
    first_out = {}       # rid -> first BatchTokenIDOutput send ts
    first_ntok = {}      # rid -> its completion tokens at that send
    drain_before = {}    # rid -> last failed receive before that send
    truth = {}           # rid -> SGLang's stamps (s)
    last_fail = defaultdict(int)   # tid -> latest failed receive (ns)
    loop_starts = []     # (gap_start, tid) of the scheduler
    undecodable = 0

    for e in evs:
        if e["ev"] == "loop" and e["role"] == "scheduler":
            loop_starts.append(e["gap_start"])
            last_fail[e["tid"]] = max(last_fail[e["tid"]], e["gap_end"])
            continue
        if e["ev"] != "msg" or e["role"] != "scheduler":
            continue
        if e["fail_n"]:
            last_fail[e["tid"]] = max(last_fail[e["tid"]], e["fail_last"])
        if e["dir"] == "recv" and e["class"] == "TokenizedGenerateReqInput":
            for rid in e["rids"]:
                recv.setdefault(rid, e["ts"])
                stream.setdefault(rid, e["stream"] == 1)
        if e["dir"] == "send" and e["class"] == "BatchTokenIDOutput":
            for rid in e["rids"]:
                if rid not in first_out:
                    first_out[rid] = e["ts"]
                    drain_before[rid] = last_fail[e["tid"]]
            if e["trunc"]:
                continue
            try:
                obj = pickle.loads(bytes.fromhex(e["hex"]))
            except Exception:
                undecodable += 1
                continue
            for rid, ts in zip(obj.rids, obj.time_stats or []):
                st = vars(ts)
                if st.get("forward_entry_time"):
                    truth.setdefault(rid, st)
            for rid, n in zip(obj.rids, obj.completion_tokens):
                first_ntok.setdefault(rid, n)

    loop_starts.sort()

    def first_drain_after(t):
        import bisect

        i = bisect.bisect_right(loop_starts, t)
        return loop_starts[i] if i < len(loop_starts) else None

    def count_back(t, n):
        """Start of the busy iteration n-1 iterations before the one
        holding t: one token per decode iteration."""
        import bisect

        j = bisect.bisect_right(loop_starts, t) - 1 - (n - 1)
        return loop_starts[j] if j >= 0 else None

    # Streaming requests in receive order, with their exact queue exit.
    by_recv = sorted((t, rid) for rid, t in recv.items())
    exits = []
    for t, rid in by_recv:
        if stream.get(rid) and rid in first_out:
            exits.append((t, drain_before[rid]))

    def fcfs(rid):
        import bisect

        t = recv[rid]
        i = bisect.bisect_left(exits, (t, 0))
        lo = first_drain_after(t) or 0
        if i > 0:
            lo = max(lo, exits[i - 1][1])
        hi = exits[i][1] if i < len(exits) else None
        if rid in first_out:
            hi = min(hi, first_out[rid]) if hi else first_out[rid]
        return lo, hi

    rows = defaultdict(list)
    for rid, st in truth.items():
        if rid not in recv or rid.startswith("HEALTH_CHECK"):
            continue
        s = "stream" if stream.get(rid) else "nostream"
        rows[f"queue_start/{s}"].append(recv[rid] / 1e9 - st["wait_queue_entry_time"])
        qf = first_drain_after(recv[rid])
        if qf:
            rows[f"queue_end_first/{s}"].append(qf / 1e9 - st["forward_entry_time"])
        if not stream.get(rid):
            lo, hi = fcfs(rid)
            rows[f"queue_end_fcfs/{s}"].append(lo / 1e9 - st["forward_entry_time"])
            if hi:
                rows[f"fcfs_window/{s}"].append((hi - lo) / 1e9)
        if rid in first_out and rid in first_ntok and not stream.get(rid):
            qc = count_back(first_out[rid], first_ntok[rid])
            if qc:
                rows[f"queue_end_count/{s}"].append(qc / 1e9 - st["forward_entry_time"])
        if rid in first_out:
            if stream.get(rid):
                rows[f"queue_end_drain/{s}"].append(
                    drain_before[rid] / 1e9 - st["forward_entry_time"])
                rows[f"first_token/{s}"].append(
                    first_out[rid] / 1e9 - st["prefill_finished_time"])
        rows[f"sglang_queue/{s}"].append(st["forward_entry_time"] - st["wait_queue_entry_time"])

    print(f"{len(recv)} requests received, {len(truth)} with SGLang stamps, "
          f"{undecodable} undecodable outputs")
    print(f"{'estimate (ours - SGLang), ms':34s} {'n':>5s} {'p50':>8s} {'p99':>8s} "
          f"{'min':>8s} {'max':>8s}")
    for name in sorted(rows):
        xs = [x * 1e3 for x in rows[name]]
        print(f"{name:34s} {len(xs):5d} {pct(xs, 50):8.3f} {pct(xs, 99):8.3f} "
              f"{min(xs):8.3f} {max(xs):8.3f}")


if __name__ == "__main__":
    main(sys.argv[1])

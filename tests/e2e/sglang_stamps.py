# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""SGLang's own per-request stamps, read back from a servetrace recording.

With --enable-metrics, every BatchTokenIDOutput the scheduler sends to the
detokenizer carries, per rid, its SchedulerReqTimeStats:
wait_queue_entry_time, forward_entry_time, prefill_finished_time, in
time.perf_counter() seconds = CLOCK_MONOTONIC, the clock of
bpf_ktime_get_ns(): no conversion. With pickle IPC (the default) SGLang
0.5.15 loses them on the way to the HTTP response (the detokenizer
unpickles the stats and pickles them again without their enable_metrics
flag, as {}): meta_info has queue_time = 0.0 and no forward_entry_time /
prefill_finished_time. With msgpack IPC they pass the detokenizer as
opaque bytes and reach meta_info. Either way the scheduler's payloads,
which servetrace records (--record), carry them, on the monotonic clock.

Payloads are captured up to 4 KiB: a batch of more than ~15 rids loses
its time_stats, which sit near the end of the message. Both decoders
here are tolerant of truncation and keep what was complete, so the stamps
of the first rids of a cut batch survive. Neither imports SGLang: the
pickle's classes are replaced by stand-ins (the approach of
tests/bpf/zmq_validate.py, without its unpickling of SGLang objects).

Used by tests/e2e/test_server_internals.py and tools/accuracy_report.sh:
    python3 tests/e2e/sglang_stamps.py report TRACE.csv TRACE.strec [INBAND.csv...]
"""
import csv
import io
import math
import pickle
import struct
import sys
from collections import namedtuple

import strec

REC_SOCK, REC_ZMQ, REC_ROLE, REC_SGLANG_PROC = 1, 2, 3, 4
EV_ZMQ_MSG, EV_ZMQ_ENDPOINT, EV_ZMQ_LOOP = 100, 101, 102
ROLE_MAIN, ROLE_SCHEDULER, ROLE_DETOKENIZER = 1, 2, 3
DIR_SEND, DIR_RECV = 0, 1
STAMP_FIELDS = ("wait_queue_entry_time", "forward_entry_time", "prefill_finished_time")

# struct zmq_msg_event (bpf/zmq_event.h): 72 bytes, then cap_len bytes of payload.
_MSG = struct.Struct("<IIIIQQQQQQIBBBB")
_LOOP = struct.Struct("<IIIIQQQ")

ZmqMsg = namedtuple("ZmqMsg", "ts tgid tid dir size truncated fail_count fail_last data")
ZmqLoop = namedtuple("ZmqLoop", "tgid gap_start gap_end")


class Recording:
    """A --record file: clock offset, SGLang process roles, zmq records."""

    def __init__(self, path):
        self.procs = {}      # pid -> (role, main_pid)
        self.msgs = []
        self.loops = []
        self.offset_ns = strec.clock_offset(path)
        for source, b in strec.records(path):
            if source == REC_SGLANG_PROC and len(b) >= 12:
                pid, role, main = struct.unpack_from("<III", b)
                self.procs[pid] = (role, main)
            elif source == REC_ZMQ and len(b) >= 4:
                self._zmq(b)

    def _zmq(self, b):
        typ = struct.unpack_from("<I", b)[0]
        if typ == EV_ZMQ_MSG and len(b) >= _MSG.size:
            (_, tgid, tid, cap, ts, _te, _sock, size, _ff, fl, fc, d, _k, _f,
             trunc) = _MSG.unpack_from(b)
            self.msgs.append(ZmqMsg(ts, tgid, tid, d, size, bool(trunc), fc, fl,
                                    b[_MSG.size:_MSG.size + cap]))
        elif typ == EV_ZMQ_LOOP and len(b) >= _LOOP.size:
            _, tgid, _tid, _fb, gs, ge, _s = _LOOP.unpack_from(b)
            self.loops.append(ZmqLoop(tgid, gs, ge))

    def role(self, pid):
        return self.procs.get(pid, (0, 0))[0]

    def main_of(self, pid):
        return self.procs.get(pid, (0, 0))[1]

    def epoch_to_mono_ns(self, epoch_s):
        """A CSV timestamp (epoch seconds) back on the monotonic clock."""
        return round(float(epoch_s) * 1e9) - self.offset_ns


# ---- pickle, tolerant of truncation -------------------------------------

class _Stub:
    """Stands in for any class the pickle names; BUILD fills __dict__."""

    def __new__(cls, *a, **k):
        return object.__new__(cls)

    def __init__(self, *a, **k):
        pass


def _rebuild(cls, state):
    # msgspec.Struct pickles as msgspec._utils.rebuild(cls, {field: value})
    d = dict(state)
    d["__class__"] = getattr(cls, "__name__", str(cls))
    return d


class _Unpickler(pickle._Unpickler):  # the pure-Python one: its stack survives an error
    def find_class(self, module, name):
        if (module, name) == ("msgspec._utils", "rebuild"):
            return _rebuild
        if module == "array" and name == "_array_reconstructor":
            return lambda *a: None
        self.classes.append(name)
        return type(name, (_Stub,), {})


def _items_frame(frames):
    """The key/value frame of a msgspec struct cut inside its SETITEMS."""
    for fr in frames:
        if len(fr) >= 2 and fr[0] == "rids" and isinstance(fr[1], list):
            return dict(zip(fr[0::2], fr[1::2]))
        for x in fr:  # cut after SETITEMS: the dict is whole
            for y in (x if isinstance(x, tuple) else (x,)):
                if isinstance(y, dict) and isinstance(y.get("rids"), list):
                    return y
    return None


def tolerant_unpickle(data):
    """(object or partial fields dict, complete?)"""
    u = _Unpickler(io.BytesIO(data))
    u.classes = []
    try:
        return u.load(), True
    except Exception:
        frames = list(getattr(u, "metastack", [])) + [getattr(u, "stack", [])]
        items = _items_frame(frames)
        if items is not None:
            items.setdefault("__class__", u.classes[0] if u.classes else None)
            return items, False
        # a bare list (msgpack's time_stats PickleWrapper) cut short
        for fr in frames:
            for x in fr:
                if isinstance(x, list):
                    return x, False
        return None, False


# ---- msgpack, tolerant of truncation ------------------------------------

class _Truncated(Exception):
    pass


def _mp_read(b, i, n):
    if i + n > len(b):
        raise _Truncated()
    return b[i:i + n], i + n


def _mp_decode(b, i, out):
    """Decodes one value at b[i:], appending it to out (containers are
    appended before they are filled, so a cut leaves them partial)."""
    if i >= len(b):
        raise _Truncated()
    t = b[i]
    i += 1
    if t <= 0x7F:
        out.append(t)
        return i
    if t >= 0xE0:
        out.append(t - 0x100)
        return i
    if 0xA0 <= t <= 0xBF or t in (0xD9, 0xDA, 0xDB):
        if t <= 0xBF:
            n = t & 0x1F
        else:
            w = {0xD9: 1, 0xDA: 2, 0xDB: 4}[t]
            s, i = _mp_read(b, i, w)
            n = int.from_bytes(s, "big")
        s, i = _mp_read(b, i, n)
        out.append(s.decode("utf-8", "replace"))
        return i
    if 0x90 <= t <= 0x9F or t in (0xDC, 0xDD):
        if t <= 0x9F:
            n = t & 0x0F
        else:
            s, i = _mp_read(b, i, 2 if t == 0xDC else 4)
            n = int.from_bytes(s, "big")
        lst = []
        out.append(lst)
        for _ in range(n):
            i = _mp_decode(b, i, lst)
        return i
    if 0x80 <= t <= 0x8F or t in (0xDE, 0xDF):
        if t <= 0x8F:
            n = t & 0x0F
        else:
            s, i = _mp_read(b, i, 2 if t == 0xDE else 4)
            n = int.from_bytes(s, "big")
        d = {}
        out.append(d)
        for _ in range(n):
            kv = []
            i = _mp_decode(b, i, kv)
            i = _mp_decode(b, i, kv)
            k = kv[0] if not isinstance(kv[0], (list, dict)) else repr(kv[0])
            d[k] = kv[1]
        return i
    fixed = {0xC0: None, 0xC2: False, 0xC3: True}
    if t in fixed:
        out.append(fixed[t])
        return i
    if t in (0xC4, 0xC5, 0xC6):
        s, i = _mp_read(b, i, {0xC4: 1, 0xC5: 2, 0xC6: 4}[t])
        s, i = _mp_read(b, i, int.from_bytes(s, "big"))
        out.append(bytes(s))
        return i
    nums = {0xCA: ">f", 0xCB: ">d", 0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
            0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}
    if t in nums:
        s, i = _mp_read(b, i, struct.calcsize(nums[t]))
        out.append(struct.unpack(nums[t], s)[0])
        return i
    ext = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
    if t in ext or t in (0xC7, 0xC8, 0xC9):
        if t in ext:
            n = ext[t]
        else:
            s, i = _mp_read(b, i, {0xC7: 1, 0xC8: 2, 0xC9: 4}[t])
            n = int.from_bytes(s, "big")
        s, i = _mp_read(b, i, 1 + n)
        out.append(("ext", s[0], bytes(s[1:])))
        return i
    raise ValueError(f"msgpack: bad type byte {t:#x}")


def tolerant_msgpack(data):
    """(value or partial value, complete?)"""
    out = []
    try:
        _mp_decode(data, 0, out)
        return out[0], True
    except _Truncated:
        return (out[0] if out else None), False


# ---- BatchTokenIDOutput -> stamps ---------------------------------------

def _stats_dict(x):
    if isinstance(x, _Stub):
        return vars(x)
    return x if isinstance(x, dict) else None


def decode_output(data):
    """A scheduler -> detokenizer payload: (class name, rids, [stats dict
    or None per rid, as far as captured], payload complete?)."""
    if data[:1] == b"\x80":
        obj, complete = tolerant_unpickle(data)
        if not isinstance(obj, dict):
            return None, [], [], complete
        ts = obj.get("time_stats")
        return (obj.get("__class__"), obj.get("rids") or [],
                [_stats_dict(x) for x in ts] if isinstance(ts, list) else [], complete)
    obj, complete = tolerant_msgpack(data)
    # tag=True, array_like=True: [class name, rids, http_worker_ipcs, ...]
    if not isinstance(obj, list) or len(obj) < 2 or not isinstance(obj[0], str):
        return None, [], [], complete
    stats = []
    for x in obj[2:]:
        # time_stats = PickleWrapper(pickle.dumps([SchedulerReqTimeStats...]))
        if isinstance(x, list) and len(x) == 2 and x[0] == "PickleWrapper" \
                and isinstance(x[1], bytes):
            inner, ok = tolerant_unpickle(x[1])
            if isinstance(inner, list) and inner and _stats_dict(inner[0]) is not None \
                    and "forward_entry_time" in _stats_dict(inner[0]):
                stats = [_stats_dict(s) for s in inner]
                complete = complete and ok
                break
    return obj[0], obj[1] if isinstance(obj[1], list) else [], stats, complete


class Stamps:
    """rid -> SGLang's stamps (monotonic ns), from the first scheduler
    output of that rid that carried them."""

    def __init__(self, rec):
        self.by_rid = {}
        self.outputs = self.cut_outputs = self.undecodable = 0
        for m in rec.msgs:
            if m.dir != DIR_SEND or rec.role(m.tgid) != ROLE_SCHEDULER:
                continue
            name, rids, stats, complete = decode_output(m.data)
            if name != "BatchTokenIDOutput":
                if name is None:
                    self.undecodable += 1
                continue
            self.outputs += 1
            if not complete or m.truncated:
                self.cut_outputs += 1
            for rid, st in zip(rids, stats):
                if rid in self.by_rid or not st or not st.get("forward_entry_time"):
                    continue
                self.by_rid[rid] = {k: round(st[k] * 1e9) if st.get(k) else None
                                    for k in STAMP_FIELDS}
                self.by_rid[rid]["main_pid"] = rec.main_of(m.tgid)

    def get(self, rid):
        return self.by_rid.get(rid)


# ---- comparison ---------------------------------------------------------

def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, math.ceil(p / 100 * len(xs)) - 1))
    return xs[k]


def _ts(row, col):
    v = row.get(col)
    return float(v) if v not in (None, "") else None


# (name, servetrace column, SGLang stamp, which rows)
PAIRS = [
    ("queue_time_start - wait_queue_entry", "queue_time_start", "wait_queue_entry_time", "all"),
    ("queue_time_end - forward_entry (stream)", "queue_time_end", "forward_entry_time", "stream"),
    ("queue_time_end - forward_entry (no stream)", "queue_time_end", "forward_entry_time", "nostream"),
    ("server_first_token - prefill_finished", "server_first_token_time",
     "prefill_finished_time", "stream"),
]


def errors_ms(rows, rec, stamps):
    """{pair name: [signed error ms]} and the per-row detail used for it."""
    out = {name: [] for name, *_ in PAIRS}
    out["pure_queue_time - sglang queue (stream)"] = []
    out["pure_queue_time - sglang queue (no stream)"] = []
    for r in rows:
        st = stamps.get(r.get("sglang_rid") or r["req_id"])
        if not st:
            continue
        kind = "stream" if r.get("stream") == "True" else "nostream"
        for name, col, stamp, which in PAIRS:
            v = _ts(r, col)
            if v is None or st.get(stamp) is None or which not in ("all", kind):
                continue
            out[name].append((rec.epoch_to_mono_ns(v) - st[stamp]) / 1e6)
        pq = _ts(r, "pure_queue_time")
        if pq is not None and st["wait_queue_entry_time"] and st["forward_entry_time"]:
            sq = (st["forward_entry_time"] - st["wait_queue_entry_time"]) / 1e9
            label = "stream" if kind == "stream" else "no stream"
            out[f"pure_queue_time - sglang queue ({label})"].append((pq - sq) * 1e3)
    return out


def print_table(title, errs, f=sys.stdout):
    print(f"{title}", file=f)
    print(f"  {'error (servetrace - SGLang), ms':44s} {'n':>5s} {'p50':>8s} {'p99':>8s} "
          f"{'min':>8s} {'max':>8s}", file=f)
    for name, xs in errs.items():
        if not xs:
            print(f"  {name:44s} {0:5d} {'-':>8s} {'-':>8s} {'-':>8s} {'-':>8s}", file=f)
            continue
        print(f"  {name:44s} {len(xs):5d} {pct(xs, 50):8.3f} {pct(xs, 99):8.3f} "
              f"{min(xs):8.3f} {max(xs):8.3f}", file=f)


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main(argv):
    if len(argv) < 3 or argv[0] != "report":
        print(__doc__, file=sys.stderr)
        return 2
    rows = read_rows(argv[1])
    rec = Recording(argv[2])
    stamps = Stamps(rec)
    ids = None
    if len(argv) > 3:
        ids = set()
        for p in argv[3:]:
            ids.update(r["req_id"] for r in read_rows(p))
        rows = [r for r in rows if r["req_id"] in ids]
    errs = errors_ms(rows, rec, stamps)
    print_table(f"{len(rows)} rows (recording: {len(stamps.by_rid)} rids with SGLang stamps in "
                f"{stamps.outputs} scheduler outputs, {stamps.cut_outputs} of them cut at the "
                f"capture size)", errs)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

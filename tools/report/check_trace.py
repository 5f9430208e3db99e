#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Validate a trace-event JSON file (servetrace --perfetto) against the
Trace Event Format: field types per phase, every B closed by its E on the
same track, B/E timestamps monotonic per track, X slices properly nested
per track, flow ids paired (one s, then one f, same id), counters numeric.
A file cut off after its last complete event (no closing "]") is accepted,
as the format allows.

Usage: check_trace.py [-q] FILE    exit 0 valid, 1 invalid, 2 unreadable
"""
import argparse
import json
import sys
from collections import defaultdict

PHASES = set("BEXIiCbneMsftPONDRc(),")
TRACK_PHASES = set("BEXsft")


def load(path):
    """The list of events; tolerates a missing "]" (and a trailing comma)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        t = text.rstrip().rstrip(",")
        data = json.loads(t + "]")
    if isinstance(data, dict):
        data = data.get("traceEvents")
    if not isinstance(data, list):
        raise ValueError("not a JSON array of events (nor an object with traceEvents)")
    return data


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_event(i, ev, errors):
    def err(msg):
        errors.append("event %d (%s): %s" % (i, json.dumps(ev)[:120], msg))

    if not isinstance(ev, dict):
        return err("not an object")
    ph = ev.get("ph")
    if not isinstance(ph, str) or ph not in PHASES:
        return err("ph missing or unknown")
    if not isinstance(ev.get("name"), str) and ph != "E":
        err("name must be a string")
    if not _int(ev.get("pid")):
        err("pid must be an integer")
    if ph in TRACK_PHASES and not _int(ev.get("tid")):
        err("tid must be an integer")
    if "tid" in ev and not _int(ev["tid"]):
        err("tid must be an integer")
    if ph != "M" and (not _num(ev.get("ts")) or ev["ts"] < 0):
        err("ts must be a non-negative number")
    if ph == "X" and (not _num(ev.get("dur")) or ev["dur"] < 0):
        err("dur must be a non-negative number")
    if "cat" in ev and not isinstance(ev["cat"], str):
        err("cat must be a string")
    if "args" in ev and not isinstance(ev["args"], dict):
        err("args must be an object")
    if ph in "sft" and not (_int(ev.get("id")) or isinstance(ev.get("id"), str)):
        err("flow id must be an integer or string")
    if ph == "f" and ev.get("bp", "e") != "e":
        err("bp must be \"e\"")
    if ph == "C" and not (isinstance(ev.get("args"), dict) and ev["args"]
                          and all(_num(v) for v in ev["args"].values())):
        err("counter args must be numbers")
    if ph == "M" and not isinstance(ev.get("args"), dict):
        err("metadata needs args")


def check(events):
    """Returns (errors, counts by phase)."""
    errors = []
    counts = defaultdict(int)
    stacks = defaultdict(list)          # (pid, tid) -> open B names
    last_be = {}                        # (pid, tid) -> last B/E ts
    slices = defaultdict(list)          # (pid, tid) -> [(ts, end)]
    flows = defaultdict(list)           # id -> [(ph, ts)]
    for i, ev in enumerate(events):
        n = len(errors)
        check_event(i, ev, errors)
        if len(errors) > n:
            continue
        ph = ev["ph"]
        counts[ph] += 1
        track = (ev["pid"], ev.get("tid"))
        if ph in "BE":
            if ev["ts"] < last_be.get(track, float("-inf")):
                errors.append("event %d: B/E ts goes back on track %s" % (i, track))
            last_be[track] = ev["ts"]
            if ph == "B":
                stacks[track].append(ev["name"])
            elif not stacks[track]:
                errors.append("event %d: E without a B on track %s" % (i, track))
            else:
                name = stacks[track].pop()
                if "name" in ev and ev["name"] != name:
                    errors.append("event %d: E %r closes B %r" % (i, ev["name"], name))
        elif ph == "X":
            slices[track].append((ev["ts"], ev["ts"] + ev["dur"]))
        elif ph in "sft":
            flows[ev["id"]].append((ph, ev["ts"]))
    for track, st in stacks.items():
        if st:
            errors.append("track %s: B without E: %s" % (track, st[:5]))
    for track, sl in slices.items():
        # sorted by start, longest first: each slice must fit in the
        # enclosing open one or start after it ends
        sl.sort(key=lambda s: (s[0], -s[1]))
        open_ = []
        for s, e in sl:
            while open_ and open_[-1] <= s + 1e-3:
                open_.pop()
            if open_ and e > open_[-1] + 1e-3:
                errors.append("track %s: slice [%.3f, %.3f] overlaps its parent's end %.3f"
                              % (track, s, e, open_[-1]))
            open_.append(e)
    for fid, evs in flows.items():
        phs = [p for p, _ in evs]
        if phs.count("s") != 1 or phs.count("f") != 1:
            errors.append("flow id %r: %s (want one s and one f)" % (fid, phs))
        elif evs[0][0] != "s" or evs[-1][0] != "f" or evs[-1][1] < evs[0][1]:
            errors.append("flow id %r: not s first, f last, forward in time" % (fid,))
    return errors, dict(counts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    a = ap.parse_args(argv)
    try:
        events = load(a.file)
    except (OSError, ValueError) as e:
        print("check_trace: %s: %s" % (a.file, e), file=sys.stderr)
        return 2
    errors, counts = check(events)
    for e in errors[:50]:
        print("check_trace: " + e, file=sys.stderr)
    if len(errors) > 50:
        print("check_trace: ... %d more" % (len(errors) - 50), file=sys.stderr)
    if not a.quiet:
        print("%s: %d events %s: %s" % (a.file, len(events), dict(sorted(counts.items())),
                                         "valid" if not errors else "%d errors" % len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

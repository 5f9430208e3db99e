# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Reads a --record file (user/capture/recording.h: "STREC2\\n", a notice line, int64 clock offset,
then u32 source, u32 length, bytes) and its socket events (bpf/sock_event.h
struct sock_event, host byte order), so a test can check what the kernel
side really delivered, not only what the collector made of it."""
import struct
import sys

MAGIC = b"STREC1\n"
MAGIC2 = b"STREC2\n"   # followed by one notice line: the file holds payloads
REC_SOCK_V1, REC_SOCK = 1, 5
EV_DATA, EV_SSE_TAIL = 1, 6
DIR_READ, DIR_WRITE = 0, 1
SC_WRITEV = 6         # enum sock_syscall
SYSCALLS = {1: "read", 2: "readv", 3: "recvfrom", 4: "recvmsg", 5: "write", 6: "writev",
            7: "sendto", 8: "sendmsg", 9: "accept", 10: "connect", 11: "close"}
SOCK_EVENT_V1 = struct.Struct("=IIIiQQqQ16sHH16sHHIBBBB")
SOCK_EVENT = struct.Struct("=IIIiQQqQ16sHH16sHHIBBBBQQQIIIIII")
FIELDS = ("type", "tgid", "tid", "fd", "ts_enter", "ts_exit", "ret", "sock_id",
          "laddr", "lport", "lfamily", "paddr", "pport", "pfamily",
          "cap_len", "dir", "syscall", "truncated", "flags",
          "stream_off", "skip_bytes", "skip_ts", "skip_calls", "skip_events", "cap_off", "skip_framing", "skip_chunk_left", "prev_len")


def _skip_header(f, path):
    magic = f.read(len(MAGIC))
    if magic == MAGIC2:
        f.readline()
    elif magic != MAGIC:
        raise ValueError("%s is not a servetrace recording" % path)


def notice(path):
    """The header's notice line ('' for a version-1 recording)."""
    with open(path, "rb") as f:
        return f.readline().decode() if f.read(len(MAGIC)) == MAGIC2 else ""


def clock_offset(path):
    """realtime - monotonic, in ns, as the writer measured it."""
    with open(path, "rb") as f:
        _skip_header(f, path)
        return struct.unpack("=q", f.read(8))[0]


def records(path):
    """(source, bytes) per record; a cut-off tail ends the iteration."""
    with open(path, "rb") as f:
        _skip_header(f, path)
        f.read(8)
        while True:
            head = f.read(8)
            if len(head) < 8:
                return
            source, length = struct.unpack("=II", head)
            data = f.read(length)
            if len(data) < length:
                return
            yield source, data


def sock_events(path):
    """Every socket event as a dict, with its captured bytes in 'data'."""
    for source, data in records(path):
        st = {REC_SOCK: SOCK_EVENT, REC_SOCK_V1: SOCK_EVENT_V1}.get(source)
        if not st or len(data) < st.size:
            continue
        ev = dict(zip(FIELDS, list(st.unpack_from(data)) + [0] * (len(FIELDS) - len(st.unpack_from(data)))))
        ev["data"] = data[st.size:st.size + ev["cap_len"]]
        yield ev


def sock_counts(path, ports):
    """(count, bytes) of a recording's socket records: all of them, and
    those on a connection to one of ports."""
    allc = allb = onc = onb = 0
    lport_at, pport_at = FIELDS.index("lport"), FIELDS.index("pport")
    for source, data in records(path):
        if source != REC_SOCK or len(data) < SOCK_EVENT.size:
            continue
        ev = SOCK_EVENT.unpack_from(data)
        allc, allb = allc + 1, allb + len(data)
        if ev[lport_at] in ports or ev[pport_at] in ports:
            onc, onb = onc + 1, onb + len(data)
    return (allc, allb), (onc, onb)


if __name__ == "__main__":
    for ev in sock_events(sys.argv[1]):
        if ev["type"] == EV_DATA:
            print(ev["tgid"], ev["fd"], ev["lport"], ev["pport"], SYSCALLS.get(ev["syscall"]),
                  "ret", ev["ret"], "cap", ev["cap_len"], "trunc" if ev["truncated"] else "",
                  ev["data"][:60])

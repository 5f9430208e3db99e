#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Turn a loopback pcap of smg <-> SGLang --grpc-mode traffic into the h2
fixtures: per TCP connection to the worker port, <name>.c2s / <name>.s2c (the
payload bytes of each direction, in order) and <name>.seg (one line per TCP
segment with payload: 'c' or 's', its length; in capture order), so tests
can feed the bytes in the pieces the wire carried them.

usage: pcap2seg.py CAPTURE.pcap WORKER_PORT OUT_PREFIX"""
import struct
import sys


def packets(path):
    with open(path, "rb") as f:
        magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", f.read(24))
        assert magic == 0xA1B2C3D4, hex(magic)
        while True:
            hdr = f.read(16)
            if len(hdr) < 16:
                return
            _, _, incl, _ = struct.unpack("<IIII", hdr)
            data = f.read(incl)
            if linktype == 1:  # Ethernet
                data = data[14:]
            elif linktype == 113:  # Linux cooked
                data = data[16:]
            elif linktype == 276:  # Linux cooked v2
                data = data[20:]
            yield data


def tcp_segments(path):
    for ip in packets(path):
        if ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        ihl = (ip[0] & 15) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        tcp = ip[ihl:total]
        sport, dport, seq = struct.unpack(">HHI", tcp[:8])
        flags = tcp[13]
        off = (tcp[12] >> 4) * 4
        yield sport, dport, seq, flags, tcp[off:]


def main():
    path, port, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    conns = {}  # client port -> {"c": bytes, "s": bytes, "seg": [], "next": {}}
    for sport, dport, seq, flags, payload in tcp_segments(path):
        if dport == port:
            key, d = sport, "c"
        elif sport == port:
            key, d = dport, "s"
        else:
            continue
        c = conns.setdefault(key, {"c": bytearray(), "s": bytearray(), "seg": [], "next": {}})
        if flags & 0x02:  # SYN
            c["next"][d] = seq + 1
            continue
        if not payload:
            continue
        exp = c["next"].get(d)
        if exp is not None and seq != exp:
            if (seq - exp) & 0xFFFFFFFF > 0x7FFFFFFF:
                continue  # retransmission
            sys.exit(f"gap in conn {key} dir {d}: seq {seq} expected {exp}")
        c["next"][d] = seq + len(payload)
        c[d] += payload
        c["seg"].append((d, len(payload)))
    for i, (key, c) in enumerate(sorted(conns.items())):
        if not c["seg"] or not c["c"].startswith(b"PRI * HTTP/2.0"):
            continue
        name = f"{prefix}{i}"
        open(name + ".c2s", "wb").write(c["c"])
        open(name + ".s2c", "wb").write(c["s"])
        with open(name + ".seg", "w") as f:
            for d, n in c["seg"]:
                f.write(f"{d} {n}\n")
        print(f"{name}: client port {key}, {len(c['c'])} bytes c2s, {len(c['s'])} s2c, "
              f"{len(c['seg'])} segments")


main()

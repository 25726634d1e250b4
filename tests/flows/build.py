"""Test helpers: PacketBatch from compact tuples or from scapy packets.

Compact packet: ``(t_seconds, "10.0.0.1:5000", "10.0.0.2:443", "S")`` with
optional proto ("tcp" default, "udp", "icmp", "other") and wire length.
Flags use scapy's letters (F S R P A U). ICMP errors for the side table:
``icmp_error(t, reporter, quoted_src, quoted_dst, proto, type, code)``.
"""

from __future__ import annotations

import itertools
from dataclasses import fields

import numpy as np

from auditor.tables import (
    ACK,
    FIN,
    PACKET_COLUMNS,
    PSH,
    RST,
    SYN,
    URG,
    Bucket,
    IcmpErrors,
    PacketBatch,
    text_to_addr,
)

FLAG_BITS = {"F": FIN, "S": SYN, "R": RST, "P": PSH, "A": ACK, "U": URG}
PROTO = {
    "tcp": (6, Bucket.TCP),
    "udp": (17, Bucket.UDP),
    "icmp": (1, Bucket.ICMP),
    "other": (47, Bucket.OTHER_IP),
}
NS = 1_000_000_000


def endpoint(text: str) -> tuple[int, int, int, int]:
    """ "10.0.0.1:80" or "[2001:db8::1]:80" -> (hi, lo, port, ip_version)."""
    if text.startswith("["):
        addr, port = text[1:].split("]:")
    else:
        addr, port = text.rsplit(":", 1)
    hi, lo = text_to_addr(addr)
    return hi, lo, int(port), 6 if ":" in addr else 4


def flags_byte(letters: str) -> int:
    return sum(FLAG_BITS[c] for c in letters)


def batch(packets, icmp_errors=()) -> PacketBatch:
    cols: dict[str, list] = {c.name: [] for c in PACKET_COLUMNS}
    for p in packets:
        t, src, dst, fl = p[:4]
        proto_name = p[4] if len(p) > 4 else "tcp"
        wire = p[5] if len(p) > 5 else 60
        proto, bucket = PROTO[proto_name]
        shi, slo, sp, v = endpoint(src)
        dhi, dlo, dp, _ = endpoint(dst)
        ports = proto_name in ("tcp", "udp")
        for k, val in (
            ("ts_ns", round(t * NS) if isinstance(t, float) else int(t) * NS),
            ("wire_len", wire),
            ("bucket", int(bucket)),
            ("ip_version", v),
            ("src_hi", shi),
            ("src_lo", slo),
            ("dst_hi", dhi),
            ("dst_lo", dlo),
            ("proto", proto),
            ("sport", sp if ports else 0),
            ("dport", dp if ports else 0),
            ("tcp_flags", flags_byte(fl) if proto_name == "tcp" else 0),
            ("ip_id", 0),
            ("frag", 0),
        ):
            cols[k].append(val)
    errs = IcmpErrors()
    if icmp_errors:
        e = {f.name: [] for f in fields(IcmpErrors)}
        for t, reporter, qsrc, qdst, proto_name, typ, code in icmp_errors:
            rhi, rlo, _, _ = (
                endpoint(reporter + ":0")
                if ":" not in reporter or reporter.startswith("[")
                else endpoint(reporter)
            )
            shi, slo, sp, _ = endpoint(qsrc)
            dhi, dlo, dp, _ = endpoint(qdst)
            for k, val in (
                ("ts_ns", round(t * NS)),
                ("icmp_type", typ),
                ("icmp_code", code),
                ("reporter_hi", rhi),
                ("reporter_lo", rlo),
                ("src_hi", shi),
                ("src_lo", slo),
                ("dst_hi", dhi),
                ("dst_lo", dlo),
                ("proto", PROTO[proto_name][0]),
                ("sport", sp),
                ("dport", dp),
            ):
                e[k].append(val)
        errs = IcmpErrors(
            **{
                f.name: np.asarray(e[f.name], dtype=getattr(IcmpErrors(), f.name).dtype)
                for f in fields(IcmpErrors)
            }
        )
    return PacketBatch.from_columns(
        {
            k: np.asarray(v, dtype=object).astype(
                {
                    "ts_ns": "int64",
                    "src_hi": "uint64",
                    "src_lo": "uint64",
                    "dst_hi": "uint64",
                    "dst_lo": "uint64",
                }.get(k, "int64")
            )
            for k, v in cols.items()
        },
        errs,
    )


def scapy_batch(pkts) -> PacketBatch:
    """PacketBatch from scapy packets (IP/IPv6 with TCP/UDP/ICMP); ``.time`` is
    the capture time, ``len(bytes(p))`` the wire length (plus 14 for Ethernet
    when the packet has no Ether layer, as on a wire)."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether

    rows = []
    for p in pkts:
        ip = p[IP] if IP in p else p[IPv6]
        fmt = "{}:{}" if IP in p else "[{}]:{}"
        wire = len(bytes(p)) + (0 if Ether in p else 14)
        t = float(p.time)
        if TCP in p:
            rows.append(
                (
                    t,
                    fmt.format(ip.src, p[TCP].sport),
                    fmt.format(ip.dst, p[TCP].dport),
                    str(p[TCP].flags),
                    "tcp",
                    wire,
                )
            )
        elif UDP in p:
            rows.append(
                (
                    t,
                    fmt.format(ip.src, p[UDP].sport),
                    fmt.format(ip.dst, p[UDP].dport),
                    "",
                    "udp",
                    wire,
                )
            )
        elif ICMP in p:
            rows.append((t, fmt.format(ip.src, 0), fmt.format(ip.dst, 0), "", "icmp", wire))
        else:
            rows.append((t, fmt.format(ip.src, 0), fmt.format(ip.dst, 0), "", "other", wire))
    return batch(rows)


def split(b: PacketBatch, cuts) -> list[PacketBatch]:
    """Cut a batch at the given packet positions (ICMP errors go with the
    first piece; their attachment happens at the end of the stream)."""
    from auditor.tables import PACKET_COLUMNS

    bounds = [0, *sorted(set(cuts)), len(b)]
    out = []
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        cols = {c.name: getattr(b, c.name)[lo:hi] for c in PACKET_COLUMNS}
        out.append(PacketBatch.from_columns(cols, b.icmp_errors if i == 0 else None))
    return out

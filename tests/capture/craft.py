"""Hand-built capture files for exact expectations (pcapng features scapy
cannot write: several sections and byte orders, if_tsresol/if_tsoffset,
Simple and obsolete Packet Blocks, unknown blocks)."""

from __future__ import annotations

import struct
from pathlib import Path

from auditor.capture import capture_to_packets
from auditor.tables import PacketBatch

NS = 1_000_000_000


def pcap_bytes(records: list[tuple[int, bytes]], *, linktype: int = 1, endian: str = "<", nano: bool = False,
               snaplen: int = 65535, orig_lens: list[int] | None = None) -> bytes:
    """Classic pcap: records are (ts_ns, frame bytes)."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for i, (ts_ns, data) in enumerate(records):
        sec, frac = divmod(ts_ns, NS)
        if not nano:
            frac //= 1000
        orig = orig_lens[i] if orig_lens else len(data)
        out.append(struct.pack(endian + "IIII", sec, frac, len(data), orig) + data)
    return b"".join(out)


def _pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def block(btype: int, body: bytes, endian: str = "<") -> bytes:
    body = _pad(body)
    n = len(body) + 12
    return struct.pack(endian + "II", btype, n) + body + struct.pack(endian + "I", n)


def option(code: int, value: bytes, endian: str = "<") -> bytes:
    return struct.pack(endian + "HH", code, len(value)) + _pad(value)


def shb(endian: str = "<") -> bytes:
    return block(0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1), endian)


def idb(linktype: int, *, snaplen: int = 0, tsresol: int | None = None, tsoffset: int | None = None,
        endian: str = "<") -> bytes:
    opts = b""
    if tsresol is not None:
        opts += option(9, bytes([tsresol]), endian)
    if tsoffset is not None:
        opts += option(14, struct.pack(endian + "q", tsoffset), endian)
    if opts:
        opts += option(0, b"", endian)
    return block(1, struct.pack(endian + "HHI", linktype, 0, snaplen) + opts, endian)


def epb(iface: int, ticks: int, data: bytes, *, orig_len: int | None = None, endian: str = "<",
        comment: bytes | None = None) -> bytes:
    hdr = struct.pack(endian + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data),
                      len(data) if orig_len is None else orig_len)
    opts = option(1, comment, endian) + option(0, b"", endian) if comment else b""
    return block(6, hdr + _pad(data) + opts, endian)


def pb(iface: int, ticks: int, data: bytes, *, endian: str = "<") -> bytes:
    """Obsolete Packet Block (type 2): 16-bit interface id and drops count."""
    hdr = struct.pack(endian + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data))
    return block(2, hdr + data, endian)


def spb(data: bytes, *, orig_len: int | None = None, endian: str = "<") -> bytes:
    return block(3, struct.pack(endian + "I", len(data) if orig_len is None else orig_len) + data, endian)


def read(path: Path | list[Path], **kw: object) -> tuple[object, PacketBatch]:
    """Read a capture; return (stream, all packets as one concatenated batch)."""
    import numpy as np

    stream = capture_to_packets(path if isinstance(path, list) else [path], **kw)  # type: ignore[arg-type]
    batches = list(stream)
    for b in batches:
        b.check()
    if not batches:
        return stream, PacketBatch.empty()
    cols = {name: np.concatenate([getattr(b, name) for b in batches]) for name in PacketBatch.__dataclass_fields__
            if name != "icmp_errors"}
    merged = PacketBatch.from_columns(cols)
    icmp = [b.icmp_errors for b in batches]
    for f in merged.icmp_errors.__dataclass_fields__:
        setattr(merged.icmp_errors, f, np.concatenate([getattr(e, f) for e in icmp]))
    return stream, merged

"""Capture mutators: seed bytes + a ``random.Random`` → a damaged capture.

Every mutation is a plain function ``op(rng, data) -> bytes`` over the
uncompressed capture; the structure-aware ones find the file's records
(pcap) or blocks (pcapng, byte order per section) with a lenient walk
(``units``) and damage exactly the fields a reader trusts: lengths, block
types, byte-order magics, link types, timestamps and options, and the IP,
TCP and UDP headers inside a packet. Compression is applied last
(``wrap``), optionally followed by damage to the compressed stream.

``make_mutant(rng, seeds)`` draws one mutant and names the operations that
made it, so a failure can be rebuilt from (seed name, rng seed) alone.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import random
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .seeds import PCAP_MAGICS, PCAPNG_MAGIC, Seed

SHB = 0x0A0D0D0A
BOM_LE, BOM_BE = b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"
MAX_RECORD_BYTES = (
    256 * 1024
)  # the reader's cap (auditor.capture.pcap); +1 is the first absurd value


@dataclass(frozen=True)
class Unit:
    """One pcap record or pcapng block as a lenient walk found it."""

    off: int
    length: int  # whole unit, header included
    endian: str
    btype: int  # pcapng block type; -1 for a pcap record, -2 for the pcap file header
    data_off: int = -1  # packet bytes (packet units only)
    caplen: int = 0
    linktype: int = -1


def units(data: bytes) -> list[Unit]:
    """Records/blocks of ``data`` up to the first one that does not fit."""
    if data[:4] in PCAP_MAGICS:
        return _pcap_units(data)
    if data[:4] == PCAPNG_MAGIC:
        return _pcapng_units(data)
    return []


def _pcap_units(data: bytes) -> list[Unit]:
    if len(data) < 24:
        return []
    e = "<" if data[:4] in (PCAP_MAGICS[0], PCAP_MAGICS[2]) else ">"
    linktype = struct.unpack_from(e + "I", data, 20)[0] & 0xFFFF
    out = [Unit(0, 24, e, -2)]
    pos = 24
    while pos + 16 <= len(data):
        caplen = struct.unpack_from(e + "I", data, pos + 8)[0]
        if pos + 16 + caplen > len(data):
            break
        out.append(Unit(pos, 16 + caplen, e, -1, pos + 16, caplen, linktype))
        pos += 16 + caplen
    return out


def _pcapng_units(data: bytes) -> list[Unit]:
    out: list[Unit] = []
    e, pos = "<", 0
    ifaces: list[int] = []
    while pos + 12 <= len(data):
        btype = struct.unpack_from("<I", data, pos)[0]
        if btype == SHB:
            bom = data[pos + 8 : pos + 12]
            e = "<" if bom == BOM_LE else ">"
            ifaces = []
        btype, blen = struct.unpack_from(e + "II", data, pos)
        if blen < 12 or blen % 4 or pos + blen > len(data):
            break
        u = Unit(pos, blen, e, btype)
        if btype == 1 and blen >= 20:
            ifaces.append(struct.unpack_from(e + "H", data, pos + 8)[0])
        elif btype in (2, 6) and blen >= 32:
            iface = struct.unpack_from(e + ("H" if btype == 2 else "I"), data, pos + 8)[0]
            caplen = min(struct.unpack_from(e + "I", data, pos + 20)[0], blen - 32)
            lt = ifaces[iface] if iface < len(ifaces) else -1
            u = Unit(pos, blen, e, btype, pos + 28, caplen, lt)
        elif btype == 3 and blen >= 16:
            u = Unit(pos, blen, e, btype, pos + 12, blen - 16, ifaces[0] if ifaces else -1)
        out.append(u)
        pos += blen
    return out


# ------------------------------------------------------------------ helpers
INTERESTING_U32 = (
    0,
    1,
    2,
    3,
    4,
    0x7F,
    0x80,
    0xFF,
    0xFFFF,
    0x10000,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFE,
    0xFFFFFFFF,
)
INTERESTING_U8 = (0, 1, 0x7F, 0x80, 0xFF)


def _put(data: bytes, off: int, raw: bytes) -> bytes:
    if off < 0 or off >= len(data):
        return data
    raw = raw[: len(data) - off]
    return data[:off] + raw + data[off + len(raw) :]


def _put_u32(data: bytes, off: int, e: str, value: int) -> bytes:
    return _put(data, off, struct.pack(e + "I", value & 0xFFFFFFFF))


def _pick(
    rng: random.Random, us: list[Unit], pred: Callable[[Unit], bool] = lambda u: True
) -> Unit | None:
    cand = [u for u in us if pred(u)]
    return rng.choice(cand) if cand else None


def _offset(rng: random.Random, data: bytes) -> int:
    """A random offset, biased to the start of a record/block (where headers are)."""
    us = units(data)
    if us and rng.random() < 0.5:
        u = rng.choice(us)
        return min(len(data) - 1, u.off + rng.randrange(0, 32))
    return rng.randrange(len(data))


# ------------------------------------------------------------------ generic byte damage
def bitflip(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = _offset(rng, data)
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def overwrite(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    off = _offset(rng, data)
    if rng.random() < 0.5:
        raw = struct.pack(rng.choice("<>") + "I", rng.choice(INTERESTING_U32))
    else:
        raw = bytes(
            rng.choice(INTERESTING_U8) if rng.random() < 0.5 else rng.randrange(256)
            for _ in range(rng.randint(1, 8))
        )
    return _put(data, off, raw)


def truncate(rng: random.Random, data: bytes) -> bytes:
    """Cut at any offset, often just inside a record/block header or body."""
    us = units(data)
    if us and rng.random() < 0.6:
        u = rng.choice(us)
        return data[: u.off + rng.randrange(0, min(u.length, 40) + 1)]
    return data[: rng.randrange(len(data) + 1)]


def insert_bytes(rng: random.Random, data: bytes) -> bytes:
    us = units(data)
    at = rng.choice(us).off if us and rng.random() < 0.7 else rng.randrange(len(data) + 1)
    junk = rng.choice(
        [b"\0" * rng.randint(1, 64), bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))]
    )
    return data[:at] + junk + data[at:]


def zero_range(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    off = _offset(rng, data)
    n = rng.randint(1, 64)
    return _put(data, off, b"\0" * n)


# ------------------------------------------------------------------ structure-aware damage
def absurd_length(rng: random.Random, data: bytes) -> bytes:
    """A record or block claims 0, 1, 4 GB, just past EOF, a non-multiple of 4..."""
    u = _pick(rng, units(data), lambda u: u.btype != -2)
    if u is None:
        return overwrite(rng, data)
    past_eof = len(data) - u.off + 4
    values = [
        0,
        1,
        2,
        3,
        11,
        12,
        13,
        0xFFFFFFFF,
        0xFFFFFFFC,
        0x7FFFFFFF,
        0x80000000,
        past_eof,
        past_eof - past_eof % 4,
        u.length + 1,
        u.length + 2,
        u.length - 4,
        MAX_RECORD_BYTES + 1,
        16 * 1024 * 1024 + 4,
        1 << 30,
    ]
    v = rng.choice(values)
    if u.btype == -1:  # pcap record: captured length (walk) or original length
        field = u.off + (8 if rng.random() < 0.75 else 12)
        if field == u.off + 8 and v == past_eof:
            v = past_eof - 16
    else:
        fields = [u.off + 4, u.off + u.length - 4]
        if u.btype in (2, 6):
            fields += [u.off + 20, u.off + 24]  # captured and original length
        if u.btype == 3:
            fields += [u.off + 8]
        if u.btype == 1 and u.length > 20:
            fields += [u.off + 16]  # first option's code/length
        field = rng.choice(fields)
        if field == u.off + 16 and u.btype == 1:
            return _put(
                data, field + 2, struct.pack(u.endian + "H", rng.choice([0xFFFF, u.length, 1, 3]))
            )
    return _put_u32(data, field, u.endian, v)


PCAPNG_TYPES = (
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    0xBAD,
    0x0A0D0D0A,
    0x80000001,
    0x40000BAD,
    0xFFFFFFFF,
)


def bogus_block_type(rng: random.Random, data: bytes) -> bytes:
    us = units(data)
    u = _pick(rng, us, lambda u: u.btype >= 0)
    if u is None:  # pcap: damage a record header's time fields instead
        return bogus_time(rng, data)
    v = rng.choice(PCAPNG_TYPES) if rng.random() < 0.8 else rng.getrandbits(32)
    return _put_u32(data, u.off, u.endian, v)


def duplicate_unit(rng: random.Random, data: bytes) -> bytes:
    us = [u for u in units(data) if u.btype != -2]
    if not us:
        return insert_bytes(rng, data)
    u, at = rng.choice(us), rng.choice(us)
    piece = data[u.off : u.off + u.length]
    pos = at.off if rng.random() < 0.5 else at.off + at.length
    return data[:pos] + piece * rng.randint(1, 3) + data[pos:]


FLOOD_COPIES = (10, 100, 1000, 4000)
FLOOD_BYTES = 1 << 20


def flood(rng: random.Random, data: bytes, copies: Sequence[int] = FLOOD_COPIES) -> bytes:
    """Repeat a run of 1-3 records/blocks many times (a section with its
    interface and a packet: thousands of sections), up to 1 MiB: time and
    memory must stay linear in the file."""
    us = [u for u in units(data) if u.btype != -2]
    if not us:
        return duplicate_unit(rng, data)
    i = rng.randrange(len(us))
    run = us[i : i + rng.randint(1, 3)]
    piece = data[run[0].off : run[-1].off + run[-1].length]
    n = min(rng.choice(copies), max(1, FLOOD_BYTES // max(1, len(piece))))
    at = run[-1].off + run[-1].length
    return data[:at] + piece * n + data[at:]


def remove_unit(rng: random.Random, data: bytes) -> bytes:
    """Drop a record/block (an IDB, leaving packets of a missing interface; an SHB...)."""
    us = units(data)
    u = _pick(rng, us)
    if u is None:
        return truncate(rng, data)
    return data[: u.off] + data[u.off + u.length :]


def swap_units(rng: random.Random, data: bytes) -> bytes:
    us = [u for u in units(data) if u.btype != -2]
    if len(us) < 2:
        return duplicate_unit(rng, data)
    a, b = sorted(rng.sample(us, 2), key=lambda u: u.off)
    return (
        data[: a.off]
        + data[b.off : b.off + b.length]
        + data[a.off + a.length : b.off]
        + data[a.off : a.off + a.length]
        + data[b.off + b.length :]
    )


def swap_magic(rng: random.Random, data: bytes) -> bytes:
    """Another pcap magic (byte order, resolution), a flipped or bogus pcapng
    byte-order magic, or the other format's magic."""
    us = units(data)
    if data[:4] in PCAP_MAGICS or not us:
        magic = rng.choice([*PCAP_MAGICS, PCAPNG_MAGIC, b"\xa1\xb2\xc3\xd5", b"\x00\x00\x00\x00"])
        return magic + data[4:]
    u = _pick(rng, us, lambda u: u.btype == SHB) or us[0]
    bom = rng.choice([BOM_LE, BOM_BE, b"\x1a\x2b\x3c\x4e", b"\0\0\0\0"])
    if rng.random() < 0.2:
        return rng.choice(PCAP_MAGICS) + data[4:]
    if rng.random() < 0.3:  # version
        return _put(data, u.off + 12, struct.pack(u.endian + "HH", rng.choice([0, 2, 0xFFFF]), 0))
    return _put(data, u.off + 8, bom)


LINKTYPES = (0, 1, 9, 12, 14, 101, 105, 108, 113, 127, 147, 192, 228, 229, 239, 276, 0xFFFF)


def bogus_linktype(rng: random.Random, data: bytes) -> bytes:
    us = units(data)
    v = rng.choice(LINKTYPES) if rng.random() < 0.8 else rng.getrandbits(16)
    if data[:4] in PCAP_MAGICS and us:
        e = us[0].endian
        if rng.random() < 0.2:  # FCS bits in the upper half (pcap draft section 4)
            v |= rng.getrandbits(16) << 16
        return _put_u32(data, 20, e, v)
    u = _pick(rng, us, lambda u: u.btype == 1)
    if u is None:
        return overwrite(rng, data)
    return _put(data, u.off + 8, struct.pack(u.endian + "H", v))


def bogus_time(rng: random.Random, data: bytes) -> bytes:
    """Absurd timestamps: all-ones seconds, fraction past one second, zero."""
    u = _pick(rng, units(data), lambda u: u.data_off >= 0 and u.btype != 3)
    if u is None:
        return overwrite(rng, data)
    field = u.off + rng.choice([0, 4]) if u.btype == -1 else u.off + rng.choice([12, 16])
    return _put_u32(
        data, field, u.endian, rng.choice([0, 999_999, 1_000_000, 0x7FFFFFFF, 0xFFFFFFFF])
    )


def idb_options(rng: random.Random, data: bytes) -> bytes:
    """Replace an interface block by one with odd options: if_tsresol of any
    byte, if_tsoffset of any int64, an option running past its block."""
    u = _pick(rng, units(data), lambda u: u.btype == 1)
    if u is None:
        return bogus_linktype(rng, data)
    e = u.endian
    linktype, snaplen = struct.unpack_from(e + "H2xI", data, u.off + 8)
    opts = b""
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(4)
        if kind == 0:
            opts += (
                struct.pack(e + "HH", 9, 1)
                + bytes([rng.choice([0, 6, 9, 19, 28, 29, 63, 0x7F, 0x80, 0x94, 0xBF, 0xFF])])
                + b"\0\0\0"
            )
        elif kind == 1:
            off = rng.choice([0, 1, -1, 2**62, -(2**63), 2**63 - 1, 10**11])
            opts += struct.pack(e + "HHq", 14, 8, off)
        elif kind == 2:
            opts += struct.pack(e + "HH", rng.randrange(1, 20), rng.choice([0xFFFF, 200, 7]))
        else:
            opts += struct.pack(e + "HH", 0, 0)
    body = struct.pack(e + "HHI", linktype, 0, snaplen) + opts
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    new = struct.pack(e + "II", 1, n) + body + struct.pack(e + "I", n)
    return data[: u.off] + new + data[u.off + u.length :]


def _ip_offset(data: bytes, u: Unit) -> int | None:
    """Where the (outer) IP header starts in a packet unit's bytes."""
    p, end, lt = u.data_off, u.data_off + u.caplen, u.linktype
    if lt == 1:
        p += 12
        while p + 2 <= end and data[p : p + 2] in (b"\x81\x00", b"\x88\xa8", b"\x91\x00"):
            p += 4
        if p + 2 > end or data[p : p + 2] not in (b"\x08\x00", b"\x86\xdd"):
            return None
        p += 2
    elif lt in (0, 108):
        p += 4
    elif lt == 113:
        p += 16
    elif lt == 276:
        p += 20
    elif lt not in (12, 14, 101, 228, 229):
        # unknown link: the first byte that looks like an IPv4 header start
        i = data.find(b"\x45", p, min(end, p + 64))
        return i if i >= 0 else None
    return p if p < end else None


def inner_header(rng: random.Random, data: bytes) -> bytes:
    """Damage the IP/TCP/UDP headers inside a packet (the outer one, or one
    deeper inside: a tunnel's inner packet, an ICMP error's quote): IHL
    0..15, total or payload length, fragment fields, protocol, TCP data
    offset, UDP length, IPv6 next header and extension header lengths."""
    us = [u for u in units(data) if u.data_off >= 0 and u.caplen > 0]
    rng.shuffle(us)
    for u in us[:8]:
        ip = _ip_offset(data, u)
        if ip is None:
            continue
        if rng.random() < 0.3:
            # a deeper IP header: a tunnel's inner packet or an ICMP error's quote
            deeper = data.find(b"\x45", ip + 20, u.data_off + u.caplen - 20)
            if deeper >= 0:
                ip = deeper
        version = data[ip] >> 4
        choice = rng.randrange(6)
        if version == 4:
            ihl = (data[ip] & 15) * 4
            l4 = ip + max(ihl, 20)
            if choice == 0:
                return _put(data, ip, bytes([0x40 | rng.choice([0, 1, 4, 5, 6, 15])]))
            if choice == 1:
                return _put(
                    data, ip + 2, struct.pack(">H", rng.choice([0, 1, 19, 20, 21, 28, 0xFFFF]))
                )
            if choice == 2:  # MF and/or a fragment offset
                return _put(
                    data,
                    ip + 6,
                    struct.pack(">H", rng.choice([0x2000, 0x0001, 0x1FFF, 0x3FFF, 0x4000])),
                )
            if choice == 3:
                return _put(
                    data, ip + 9, bytes([rng.choice([0, 1, 4, 6, 17, 41, 47, 50, 58, 132, 255])])
                )
            if choice == 4:  # TCP data offset / UDP length
                if data[ip + 9] == 17:
                    return _put(data, l4 + 4, struct.pack(">H", rng.choice([0, 1, 7, 8, 0xFFFF])))
                return _put(data, l4 + 12, bytes([rng.choice([0, 1, 4, 5, 15]) << 4]))
            return _put(data, ip, bytes([rng.choice([0x00, 0x60, 0xF5, 0x65])]))
        if version == 6:
            if choice in (0, 1):
                return _put(data, ip + 4, struct.pack(">H", rng.choice([0, 1, 8, 40, 0xFFFF])))
            if choice == 2:
                return _put(
                    data,
                    ip + 6,
                    bytes([rng.choice([0, 6, 17, 43, 44, 50, 51, 58, 59, 60, 135, 255])]),
                )
            if choice == 3:  # first extension header's length
                return _put(data, ip + 41, bytes([rng.choice([0, 1, 0x7F, 0xFF])]))
            if choice == 4:  # TCP data offset
                return _put(data, ip + 40 + 12, bytes([rng.choice([0, 1, 15]) << 4]))
            return _put(data, ip, bytes([rng.choice([0x40, 0x00, 0xF0])]))
    return overwrite(rng, data)


def splice(rng: random.Random, data: bytes, other: bytes) -> bytes:
    """Append (a piece of) another seed: pcapng + pcapng is a valid multi-section file."""
    if rng.random() < 0.5:
        return data + other
    return data + other[: rng.randrange(len(other) + 1)]


# ------------------------------------------------------------------ compression
COMPRESSIONS = ("gzip", "bzip2", "xz", "zstd")


def compress(kind: str, data: bytes) -> bytes:
    if kind == "gzip":
        return gzip.compress(data, mtime=0)
    if kind == "bzip2":
        return bz2.compress(data, 1)
    if kind == "xz":
        return lzma.compress(data, preset=0)
    import zstandard

    return zstandard.ZstdCompressor(level=1).compress(data)


def wrap(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """Compress, sometimes as several members/streams/frames split anywhere."""
    kind = rng.choice(COMPRESSIONS)
    if len(data) > 1 and rng.random() < 0.3:
        cut = rng.randrange(1, len(data))
        return compress(kind, data[:cut]) + compress(kind, data[cut:]), f"wrap-{kind}-2parts"
    return compress(kind, data), f"wrap-{kind}"


def corrupt_compressed(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    k = rng.randrange(4)
    if k == 0:
        return data[: rng.randrange(len(data) + 1)], "ztruncate"
    if k == 1:
        return data + bytes(
            rng.randrange(256) for _ in range(rng.randint(1, 32))
        ), "ztrailing-garbage"
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(b))
        b[i] = rng.randrange(256) if k == 2 else b[i] ^ (1 << rng.randrange(8))
    return bytes(b), "zoverwrite" if k == 2 else "zbitflip"


# ------------------------------------------------------------------ drawing mutants
OPS: dict[str, Callable[[random.Random, bytes], bytes]] = {
    "bitflip": bitflip,
    "overwrite": overwrite,
    "truncate": truncate,
    "insert_bytes": insert_bytes,
    "zero_range": zero_range,
    "absurd_length": absurd_length,
    "bogus_block_type": bogus_block_type,
    "duplicate_unit": duplicate_unit,
    "flood": flood,
    "remove_unit": remove_unit,
    "swap_units": swap_units,
    "swap_magic": swap_magic,
    "bogus_linktype": bogus_linktype,
    "bogus_time": bogus_time,
    "idb_options": idb_options,
    "inner_header": inner_header,
}
# structure-aware damage is drawn more often than blind byte damage
WEIGHTS = {
    "bitflip": 2,
    "overwrite": 2,
    "truncate": 2,
    "inner_header": 4,
    "absurd_length": 3,
    "bogus_block_type": 2,
    "idb_options": 2,
}


@dataclass(frozen=True)
class Mutant:
    seed: str
    ops: tuple[str, ...]
    data: bytes

    def describe(self) -> str:
        return f"{self.seed} + {' + '.join(self.ops) or 'nothing'}"


def make_mutant(
    rng: random.Random,
    seeds: Sequence[Seed],
    *,
    max_ops: int = 4,
    flood_copies: Sequence[int] = FLOOD_COPIES,
) -> Mutant:
    """One mutant; ``flood_copies`` bounds the flood mutation (the short
    suite run keeps it small, the campaign goes to thousands)."""
    seed = rng.choice(seeds)
    data, ops = seed.data, []
    names = list(OPS)
    weights = [WEIGHTS.get(n, 1) for n in names]
    for _ in range(rng.randint(1, max_ops)):
        if rng.random() < 0.05:
            other = rng.choice(seeds)
            data, op = splice(rng, data, other.data), f"splice({other.name})"
        else:
            op = rng.choices(names, weights)[0]
            data = flood(rng, data, flood_copies) if op == "flood" else OPS[op](rng, data)
        ops.append(op)
    if rng.random() < 0.2:
        data, op = wrap(rng, data)
        ops.append(op)
        if rng.random() < 0.4:
            data, op = corrupt_compressed(rng, data)
            ops.append(op)
    return Mutant(seed.name, tuple(ops), data)


def mutant_for(seed_text: str, seeds: Sequence[Seed]) -> Mutant:
    """The mutant of a campaign input, rebuilt from its rng seed text."""
    return make_mutant(random.Random(seed_text), seeds)

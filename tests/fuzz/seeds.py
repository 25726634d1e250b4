"""Seed captures for the fuzzer: every capture of the shared corpus (read in
place, never copied) plus small generated ones covering the reader's formats.

A seed is the *uncompressed* capture bytes; compression is a mutation
(``mutate.wrap``), so every seed can be fuzzed both plain and wrapped, and a
corrupted compressed stream is a mutation of a wrapped mutant.

Generated seeds are built with scapy (packet contents) and struct (pcap and
pcapng framing: scapy cannot write several sections, byte orders per
section, several interfaces or Simple/obsolete Packet Blocks).
"""

from __future__ import annotations

import bz2
import functools
import gzip
import lzma
import struct
from dataclasses import dataclass
from pathlib import Path

from capture.craft import NS, block, epb, idb, pb, pcap_bytes, shb, spb  # tests/ is on sys.path

REPO = Path(__file__).resolve().parents[2]
CORPUS = (REPO / ".." / "shared" / "corpus").resolve()

T0 = 1_700_000_000 * NS

PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


@dataclass(frozen=True)
class Seed:
    name: str  # "corpus/<file>" or "gen/<what>"
    data: bytes  # uncompressed capture bytes

    @property
    def fmt(self) -> str:
        return "pcapng" if self.data[:4] == PCAPNG_MAGIC else "pcap"



# ---------------------------------------------------------------- packets
@functools.lru_cache(maxsize=1)
def frames() -> dict[str, list[bytes]]:
    """Small sets of frames per link type (scapy), kept short so a mutant reads fast."""
    from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP, IPOption_RR
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
    from scapy.layers.l2 import Dot1Q, Ether
    from scapy.layers.vxlan import VXLAN

    a, b = "10.1.0.1", "10.2.0.2"
    e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    syn = IP(src=a, dst=b, id=1) / TCP(sport=40000, dport=4007, flags="S", seq=1)
    synack = IP(src=b, dst=a, id=2) / TCP(sport=4007, dport=40000, flags="SA", seq=9, ack=2)
    ack = IP(src=a, dst=b, id=3) / TCP(sport=40000, dport=4007, flags="A", seq=2, ack=10)
    data = (
        IP(src=a, dst=b, id=4)
        / TCP(sport=40000, dport=4007, flags="PA", seq=2, ack=10)
        / (b"x" * 40)
    )
    fin = IP(src=a, dst=b, id=5) / TCP(sport=40000, dport=4007, flags="FA", seq=42, ack=10)
    dns = IP(src=a, dst="10.9.9.9", id=6) / UDP(sport=5353, dport=53) / (b"\x12\x34" + b"\0" * 10)
    unreach = (
        IP(src=b, dst=a) / ICMP(type=3, code=3) / IP(src=a, dst=b) / UDP(sport=40001, dport=4008)
    )
    opts = IP(src=a, dst=b, options=[IPOption_RR()]) / TCP(sport=40002, dport=443, flags="S")
    v6 = (
        IPv6(src="fd00::1", dst="fd00::2")
        / IPv6ExtHdrHopByHop()
        / TCP(sport=40003, dport=9081, flags="S")
    )
    v6frag = (
        IPv6(src="fd00::1", dst="fd00::2")
        / IPv6ExtHdrFragment(id=7, m=1)
        / UDP(sport=1, dport=2)
        / (b"y" * 16)
    )
    frag1 = IP(src=a, dst=b, id=77, flags="MF") / UDP(sport=5000, dport=6000) / (b"z" * 24)
    frag2 = IP(src=a, dst=b, id=77, frag=4, proto=17) / (b"z" * 8)
    gre = IP(src="192.0.2.1", dst="192.0.2.2") / GRE(key_present=1, key=5) / syn
    vxlan = (
        IP(src="192.0.2.1", dst="192.0.2.2")
        / UDP(sport=50000, dport=4789)
        / VXLAN(vni=10)
        / e
        / synack
    )
    ips = [syn, synack, ack, data, fin, dns, unreach, opts, frag1, frag2, gre, vxlan]
    return {
        "eth": [bytes(e / p) for p in ips] + [bytes(e / v6), bytes(e / v6frag)],
        "vlan": [bytes(e / Dot1Q(vlan=10) / Dot1Q(vlan=20) / p) for p in (syn, synack, dns)],
        "raw": [bytes(p) for p in (syn, synack, ack, fin, v6)],
        "raw4": [bytes(p) for p in (syn, dns)],
        "null": [struct.pack("<I", 2) + bytes(p) for p in (syn, synack)],
        "sll": [
            struct.pack(">HHH8sH", 0, 1, 6, b"\x02" * 8, 0x0800) + bytes(p)
            for p in (syn, synack, dns)
        ],
    }


def generated_seeds() -> list[Seed]:
    f = frames()
    rec = lambda fs: [(T0 + i * 1000, x) for i, x in enumerate(fs)]
    out = [
        Seed("gen/pcap_le_us_eth", pcap_bytes(rec(f["eth"]))),
        Seed("gen/pcap_be_us_vlan", pcap_bytes(rec(f["vlan"]), endian=">")),
        Seed("gen/pcap_le_ns_raw", pcap_bytes(rec(f["raw"]), linktype=101, nano=True)),
        Seed("gen/pcap_be_ns_null", pcap_bytes(rec(f["null"]), linktype=0, endian=">", nano=True)),
        Seed(
            "gen/pcap_sll_snap64",
            pcap_bytes([(t, x[:64]) for t, x in rec(f["sll"])], linktype=113, snaplen=64),
        ),
        Seed("gen/pcap_dlt228", pcap_bytes(rec(f["raw4"]), linktype=228)),
    ]
    # pcapng: two sections of opposite byte order, several interfaces with
    # their own link type, if_tsresol (10^-9 and 2^-20) and if_tsoffset,
    # Enhanced, Simple and obsolete Packet Blocks, an unknown block, a comment.
    le = (
        shb("<")
        + idb(1, tsresol=9, tsoffset=5)
        + idb(101, snaplen=96)
        + b"".join(
            epb(
                i % 2,
                T0 + i,
                x if i % 2 == 0 else f["raw"][i % 5],
                comment=b"c" if i == 3 else None,
            )
            for i, x in enumerate(f["eth"][:8])
        )
        + block(0x0BAD, b"unknown block body")
    )
    be = (
        shb(">")
        + idb(0, endian=">")
        + idb(1, tsresol=0x94, endian=">")
        + pb(1, T0 >> 10, f["eth"][5], endian=">")
        + spb(f["null"][0], endian=">")
        + b"".join(epb(1, (T0 >> 10) + i, x, endian=">") for i, x in enumerate(f["vlan"]))
    )
    out += [
        Seed("gen/pcapng_le_two_ifaces", le),
        Seed("gen/pcapng_two_sections_le_be", le + be),
        Seed("gen/pcapng_be_spb_pb", be),
    ]
    return out


def _decompress(data: bytes) -> bytes | None:
    """The capture inside a (possibly compressed) file, or None if it is not one."""
    try:
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        elif data[:3] == b"BZh":
            data = bz2.decompress(data)
        elif data[:6] == b"\xfd7zXZ\x00":
            data = lzma.decompress(data)
        elif data[:4] == b"\x28\xb5\x2f\xfd":
            import zstandard

            data = zstandard.ZstdDecompressor().decompress(data)
    except Exception:  # noqa: BLE001 - a seed that does not decompress is no seed
        return None
    # an empty file is a seed too (the corpus has one): its mutants are insertions
    return data if not data or data[:4] in PCAP_MAGICS or data[:4] == PCAPNG_MAGIC else None


def corpus_seeds(corpus: Path = CORPUS) -> list[Seed]:
    """Every capture file of the shared corpus (by magic, compressed or not,
    and the empty one); the corpus' notes, tshark references and tools are
    not captures and are left out."""
    if not corpus.is_dir():
        return []
    out = []
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        data = _decompress(path.read_bytes())
        if data is not None:
            out.append(Seed(f"corpus/{path.relative_to(corpus)}", data))
    return out


@functools.lru_cache(maxsize=1)
def all_seeds() -> tuple[Seed, ...]:
    return tuple(generated_seeds() + corpus_seeds())

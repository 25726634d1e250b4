"""Invariants (hypothesis): the native decoder agrees with scapy on generated
packets; every packet read lands in exactly one bucket; arbitrary or mutated
bytes never raise anything but CaptureError."""

from __future__ import annotations

import ipaddress
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP, IPerror
from scapy.layers.inet6 import IPerror6, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop
from scapy.layers.l2 import Dot1Q, Ether
from scapy.layers.vxlan import VXLAN

from auditor.capture.reader import FileReader
from auditor.errors import CaptureError
from auditor.tables import Bucket, addr_to_text

from .craft import NS, epb, idb, pcap_bytes, shb

T0 = 1_700_000_000 * NS
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _eth(**kw: object) -> Ether:
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", **kw)


ipv4 = st.integers(1, 2**32 - 1).map(lambda v: str(ipaddress.IPv4Address(v)))
ipv6 = st.integers(1, 2**128 - 1).map(lambda v: str(ipaddress.IPv6Address(v)))
port = st.integers(0, 65535)


@st.composite
def packets(draw: st.DrawFn) -> bytes:
    v6 = draw(st.booleans())
    src, dst = (draw(ipv6), draw(ipv6)) if v6 else (draw(ipv4), draw(ipv4))
    ip = IPv6(src=src, dst=dst) if v6 else IP(src=src, dst=dst, id=draw(st.integers(0, 65535)))
    if v6 and draw(st.booleans()):
        ip = ip / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt()
    kind = draw(st.sampled_from(["tcp", "udp", "icmp", "other"]))
    sp, dp = draw(port), draw(port)
    if kind == "tcp":
        l4 = TCP(sport=sp, dport=dp, flags=draw(st.integers(0, 255)))
    elif kind == "udp":
        dp = dp if dp not in (4789, 6081) else 53
        l4 = UDP(sport=sp, dport=dp)
    elif kind == "icmp":
        l4 = ICMP(type=8) if not v6 else UDP(sport=sp, dport=53)
    else:
        l4 = b"\x00" * 8
    inner = ip / l4 / draw(st.binary(max_size=40))
    if kind == "other" and not v6:
        inner[IP].proto = 132  # SCTP, not decoded further
    tunnel = draw(st.sampled_from(["none", "vlan", "qinq", "vxlan", "gre"]))
    if tunnel == "vlan":
        return bytes(_eth() / Dot1Q(vlan=draw(st.integers(0, 4095))) / inner)
    if tunnel == "qinq":
        return bytes(_eth() / Dot1Q(vlan=1) / Dot1Q(vlan=2) / inner)
    if tunnel == "vxlan":
        return bytes(_eth() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=1234, dport=4789) / VXLAN() / _eth() / inner)
    if tunnel == "gre":
        return bytes(_eth() / IP(src="192.0.2.1", dst="192.0.2.2") / GRE() / inner)
    return bytes(_eth() / inner)


def _scapy_view(raw: bytes) -> dict:
    """The innermost IP layer (not one quoted in an ICMP error) and its ports, per scapy."""
    layer, last_ip = Ether(raw), None
    while layer is not None and layer.name != "NoPayload":
        if isinstance(layer, (IP, IPv6)) and not isinstance(layer, (IPerror, IPerror6)):
            last_ip = layer
        layer = layer.payload
    assert last_ip is not None
    l4 = last_ip.payload
    while isinstance(l4, (IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt)):
        l4 = l4.payload
    ports = isinstance(l4, (TCP, UDP))
    return {
        "src": str(ipaddress.ip_address(last_ip.src)), "dst": str(ipaddress.ip_address(last_ip.dst)),
        "bucket": "tcp" if isinstance(l4, TCP) else "udp" if isinstance(l4, UDP) else "icmp/other_ip",
        "sport": l4.sport if ports else 0,
        "dport": l4.dport if ports else 0,
        "flags": int(l4.flags) if isinstance(l4, TCP) else 0,
    }


def _read(data: bytes, block_bytes: int = 1 << 16, chunk: int = 1 << 18) -> tuple[FileReader, list]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x"
        path.write_bytes(data)
        reader = FileReader(path, chunk_packets=chunk, block_bytes=block_bytes)
        return reader, list(reader.batches())


@SETTINGS
@given(st.lists(packets(), min_size=1, max_size=12))
def test_native_decode_agrees_with_scapy(frames: list[bytes]) -> None:
    reader, batches = _read(pcap_bytes([(T0 + i, f) for i, f in enumerate(frames)]))
    b = batches[0]
    for i, raw in enumerate(frames):
        want = _scapy_view(raw)
        bucket = Bucket(int(b.bucket[i])).key
        got = {"src": addr_to_text(b.src_hi[i], b.src_lo[i]), "dst": addr_to_text(b.dst_hi[i], b.dst_lo[i]),
               "bucket": "icmp/other_ip" if bucket in ("icmp", "other_ip") else bucket,
               "sport": int(b.sport[i]), "dport": int(b.dport[i]), "flags": int(b.tcp_flags[i])}
        assert got == want, (i, raw.hex())
        assert int(b.proto[i]) == {"tcp": 6, "udp": 17}.get(bucket, int(b.proto[i]))
    assert int(reader.bucket_counts.sum()) == reader.packets == len(frames)


def _check_invariants(reader: FileReader, batches: list) -> None:
    n = sum(len(b) for b in batches)
    assert reader.packets == n == int(reader.bucket_counts.sum())
    for b in batches:
        b.check()
        assert np.bincount(b.bucket, minlength=len(Bucket)).sum() == len(b)
        assert b.bucket.max(initial=0) < len(Bucket)


HEADERS = [
    b"",
    pcap_bytes([]),
    pcap_bytes([], linktype=113),
    pcap_bytes([], linktype=0),
    pcap_bytes([], linktype=127),
    pcap_bytes([], linktype=9),
    pcap_bytes([], endian=">", nano=True),
    shb() + idb(1),
    shb(">"),
]


@FUZZ
@given(st.sampled_from(HEADERS), st.binary(max_size=600), st.sampled_from([4096, 1 << 16]))
def test_arbitrary_bytes_never_crash(header: bytes, body: bytes, block: int) -> None:
    try:
        reader, batches = _read(header + body, block_bytes=block, chunk=5)
    except CaptureError as e:
        assert "\n" not in e.line() and e.line().split(": ")[1].startswith(("byte ", "cannot read"))
        return
    _check_invariants(reader, batches)


def _seed_files() -> list[bytes]:
    frames = [
        bytes(_eth() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2)),
        bytes(_eth() / Dot1Q() / IPv6(src="::1", dst="::2") / IPv6ExtHdrHopByHop() / UDP(sport=3, dport=4)),
        bytes(_eth() / IP() / UDP(sport=1, dport=4789) / VXLAN() / _eth() / IP() / TCP()),
        bytes(_eth() / IP() / GRE(proto=0x6558) / _eth() / IP(flags="MF") / UDP()),
        bytes(_eth() / IP() / ICMP(type=3) / IPerror() / TCP()),
    ]
    return [
        pcap_bytes([(T0 + i, f) for i, f in enumerate(frames)]),
        shb() + idb(1, tsresol=9) + b"".join(epb(0, i, f) for i, f in enumerate(frames)),
    ]


SEEDS = _seed_files()


@FUZZ
@given(
    st.sampled_from(range(len(SEEDS))),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 7)), max_size=6),  # bit flips
    st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from([0, 0xFFFFFFFF, 0x7FFFFFFF, 13, 2**18 + 4])), max_size=2),
    st.one_of(st.none(), st.integers(0, 10**6)),  # truncation
    st.booleans(),  # the pure-Python record walks instead of the compiled ones
)
def test_mutated_captures_never_crash(seed: int, flips: list, words: list, cut: int | None, pure_python: bool) -> None:
    data = bytearray(SEEDS[seed])
    for pos, bit in flips:
        data[pos % len(data)] ^= 1 << bit
    for pos, value in words:  # absurd lengths and bogus block types
        p = pos % max(1, len(data) - 4)
        data[p : p + 4] = value.to_bytes(4, "little")
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    from auditor.capture import pcap, pcapng

    saved = pcap._walk_pcap_c, pcapng._walk_pcapng_c
    if pure_python:
        pcap._walk_pcap_c = pcapng._walk_pcapng_c = None
    try:
        reader, batches = _read(bytes(data), block_bytes=4096, chunk=3)
    except CaptureError:
        return
    finally:
        pcap._walk_pcap_c, pcapng._walk_pcapng_c = saved
    _check_invariants(reader, batches)

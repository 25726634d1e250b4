"""Link types, encapsulations, fragments, truncation and ICMP errors, each on a
scapy-crafted frame with exact expectations."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
from scapy.contrib.geneve import GENEVE
from scapy.contrib.mpls import MPLS
from scapy.layers.dot11 import Dot11, Dot11QoS, RadioTap
from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP, IPerror, TCPerror, UDPerror
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6TimeExceeded,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    PadN,
)
from scapy.layers.l2 import ARP, LLC, SNAP, CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.layers.vxlan import VXLAN

from auditor.tables import Bucket, addr_to_text

from .craft import NS, pcap_bytes, read

T0 = 1_700_000_000 * NS


def Eth(**kw: object) -> Ether:
    """Ethernet with fixed addresses (scapy would otherwise look up routes and ARP)."""
    return Ether(**{"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02", **kw})

INNER = IP(src="10.1.0.1", dst="10.2.0.2") / TCP(sport=40000, dport=4008, flags="S")
INNER6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=5000, dport=53)


def decode(tmp_path: Path, frames: list[bytes], linktype: int = 1, snaplen: int | None = None) -> tuple:
    records = [(T0 + i * 1000, f[:snaplen] if snaplen else f) for i, f in enumerate(frames)]
    path = tmp_path / "x.pcap"
    path.write_bytes(pcap_bytes(records, linktype=linktype, orig_lens=[len(f) for f in frames]))
    stream, batch = read(path)
    assert stream.counts["read"] == len(frames) == sum(v for k, v in stream.counts.items() if k != "read")
    return stream, batch


def row(batch, i: int = 0) -> dict:
    return {
        "bucket": Bucket(int(batch.bucket[i])).key,
        "src": addr_to_text(batch.src_hi[i], batch.src_lo[i]) if batch.ip_version[i] else None,
        "dst": addr_to_text(batch.dst_hi[i], batch.dst_lo[i]) if batch.ip_version[i] else None,
        "proto": int(batch.proto[i]),
        "sport": int(batch.sport[i]),
        "dport": int(batch.dport[i]),
        "flags": int(batch.tcp_flags[i]),
        "frag": int(batch.frag[i]),
    }


TCP_ROW = {"bucket": "tcp", "src": "10.1.0.1", "dst": "10.2.0.2", "proto": 6, "sport": 40000, "dport": 4008,
           "flags": 0x02, "frag": 0}
UDP6_ROW = {"bucket": "udp", "src": "2001:db8::1", "dst": "2001:db8::2", "proto": 17, "sport": 5000, "dport": 53,
            "flags": 0, "frag": 0}


# ---- link types ------------------------------------------------------------------------------
def _null(af: int, order: str) -> bytes:
    return struct.pack(order + "I", af)


LINK_CASES = {
    "EN10MB": (1, bytes(Eth() / INNER)),
    "LINUX_SLL": (113, bytes(CookedLinux(pkttype=0, lladdrtype=1, proto=0x0800) / INNER)),
    "LINUX_SLL2": (276, bytes(CookedLinuxV2(proto=0x0800) / INNER)),
    "RAW": (101, bytes(INNER)),
    "RAW DLT 12": (12, bytes(INNER)),
    "RAW DLT 14": (14, bytes(INNER)),
    "IPV4": (228, bytes(INNER)),
    "NULL host order LE": (0, _null(2, "<") + bytes(INNER)),
    "NULL written BE": (0, _null(2, ">") + bytes(INNER)),
    "LOOP": (108, _null(2, ">") + bytes(INNER)),
    "LOOP written LE": (108, _null(2, "<") + bytes(INNER)),
    "PPP": (9, b"\xff\x03\x00\x21" + bytes(INNER)),
    "PPP no address/control": (9, b"\x00\x21" + bytes(INNER)),
    "PPP compressed protocol": (9, b"\x21" + bytes(INNER)),
    "PPP_HDLC": (50, b"\xff\x03\x00\x21" + bytes(INNER)),
    "C_HDLC": (104, b"\x0f\x00\x08\x00" + bytes(INNER)),
    "ETHERNET_MPACKET": (274, b"\x55" * 7 + b"\xd5" + bytes(Eth() / INNER)),
    "IEEE802_11_RADIOTAP": (127, bytes(RadioTap() / Dot11(type=2, subtype=0, FCfield=0x01)
                                       / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(code=0x0800) / INNER)),
    "radiotap QoS data": (127, bytes(RadioTap() / Dot11(type=2, subtype=8) / Dot11QoS()
                                     / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(code=0x0800) / INNER)),
    "IEEE802_11": (105, bytes(Dot11(type=2, subtype=0) / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(code=0x0800) / INNER)),
}


@pytest.mark.parametrize("case", LINK_CASES)
def test_link_type(tmp_path: Path, case: str) -> None:
    linktype, frame = LINK_CASES[case]
    _, b = decode(tmp_path, [frame], linktype)
    assert row(b) == TCP_ROW


@pytest.mark.parametrize("linktype,frame", [
    (229, bytes(INNER6)),
    (101, bytes(INNER6)),
    (0, _null(30, "<") + bytes(INNER6)),  # Darwin AF_INET6
    (0, _null(24, "<") + bytes(INNER6)),  # NetBSD/OpenBSD
    (108, _null(28, ">") + bytes(INNER6)),  # FreeBSD
    (113, bytes(CookedLinux(proto=0x86DD) / INNER6)),
])
def test_link_type_ipv6(tmp_path: Path, linktype: int, frame: bytes) -> None:
    _, b = decode(tmp_path, [frame], linktype)
    assert row(b) == UDP6_ROW
    assert b.ip_version[0] == 6


def test_unknown_link_type_is_counted_not_an_error(tmp_path: Path) -> None:
    stream, _b = decode(tmp_path, [b"\x00" * 40, b"\x01" * 40], linktype=147)
    assert stream.counts["unsupported_link"] == 2
    assert stream.captures[0]["link_types"] == ["USER0"]
    assert stream.warnings == [(f"{tmp_path / 'x.pcap'}: link type 147 (USER0) is not decoded; its 2 packets are "
                               "counted as unsupported_link")]


def test_non_ip(tmp_path: Path) -> None:
    frames = [bytes(Eth() / ARP()), bytes(Eth(type=0x88CC) / (b"\0" * 40)),
              bytes(Eth(dst="01:80:c2:00:00:00") / LLC(dsap=0x42, ssap=0x42, ctrl=3) / (b"\0" * 40)),
              b"\x00\x00\x00\x05" + bytes(INNER)]
    stream, _ = decode(tmp_path, frames[:3])
    assert stream.counts["non_ip"] == 3
    stream, _b = decode(tmp_path, frames[3:], linktype=0)
    assert stream.counts["non_ip"] == 1


# ---- encapsulations --------------------------------------------------------------------------
ENCAP_CASES = {
    "802.1Q": Eth() / Dot1Q(vlan=20) / INNER,
    "802.1ad + 802.1Q (QinQ)": Eth() / Dot1AD(vlan=100) / Dot1Q(vlan=20) / INNER,
    "three tags": Eth() / Dot1AD(vlan=1) / Dot1Q(vlan=2) / Dot1Q(vlan=3) / INNER,
    "MPLS one label": Eth() / MPLS(label=16, s=1) / INNER,
    "MPLS stack in a VLAN": Eth() / Dot1Q(vlan=5) / MPLS(label=16, s=0) / MPLS(label=17, s=0) / MPLS(label=18, s=1) / INNER,
    "PPPoE session": Eth() / PPPoE(sessionid=7) / PPP(proto=0x0021) / INNER,
    "PPPoE over QinQ": Eth() / Dot1AD(vlan=1) / Dot1Q(vlan=2) / PPPoE() / PPP(proto=0x0021) / INNER,
    "GRE IPv4": Eth() / IP(src="192.0.2.1", dst="192.0.2.2") / GRE(proto=0x0800) / INNER,
    "GRE key+seq+checksum": Eth() / IP() / GRE(chksum_present=1, key_present=1, seqnum_present=1, key=9, sequence_number=3,
                                                 proto=0x0800) / INNER,
    "GRE transparent Ethernet bridging": Eth() / IP() / GRE(proto=0x6558) / Eth() / Dot1Q(vlan=9) / INNER,
    "ERSPAN II": Eth() / IP() / GRE(seqnum_present=1, proto=0x88BE) / ERSPAN_II(vlan=3) / Eth() / INNER,
    "ERSPAN I (no sequence: no header)": Eth() / IP() / GRE(proto=0x88BE) / Eth() / INNER,
    "ERSPAN III": Eth() / IP() / GRE(seqnum_present=1, proto=0x22EB) / ERSPAN_III() / Eth() / Dot1Q() / INNER,
    "ERSPAN III with platform subheader": Eth() / IP() / GRE(seqnum_present=1, proto=0x22EB) / ERSPAN_III(o=1)
    / ERSPAN_PlatformSpecific() / Eth() / INNER,
    "ERSPAN III carrying IP (frame type 2)": Eth() / IP() / GRE(seqnum_present=1, proto=0x22EB) / ERSPAN_III(ft=2) / INNER,
    "VXLAN": Eth() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=50000, dport=4789) / VXLAN(vni=5) / Eth() / INNER,
    "Geneve with options": Eth() / IP() / UDP(sport=50000, dport=6081) / GENEVE(proto=0x6558, options=b"\x01" * 12)
    / Eth() / INNER,
    "Geneve carrying IP directly": Eth() / IP() / UDP(sport=50000, dport=6081) / GENEVE(proto=0x0800) / INNER,
    "IP-in-IP": Eth() / IP(src="192.0.2.1", dst="192.0.2.2", proto=4) / INNER,
    "IPv4 in IPv6": Eth() / IPv6() / INNER,
    "IPv4 options": Eth() / IP(src="10.1.0.1", dst="10.2.0.2", options=b"\x94\x04\x00\x00\x01\x01\x01\x00")
    / TCP(sport=40000, dport=4008, flags="S"),
    "802.3 LLC/SNAP": Eth(type=None) / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(code=0x0800) / INNER,
    "LLC/SNAP behind an 802.1Q tag": Eth() / Dot1Q(vlan=5, type=0x0030) / LLC(dsap=0xAA, ssap=0xAA, ctrl=3)
    / SNAP(code=0x0800) / INNER,
}


@pytest.mark.parametrize("case", ENCAP_CASES)
def test_encapsulation_to_innermost_ip(tmp_path: Path, case: str) -> None:
    frame = bytes(ENCAP_CASES[case])
    if case == "802.3 LLC/SNAP":  # an 802.3 length instead of a type
        frame = frame[:12] + struct.pack(">H", len(frame) - 14) + frame[14:]
    _, b = decode(tmp_path, [frame])
    assert row(b) == TCP_ROW


def test_6in4_and_ipv6_ext_headers(tmp_path: Path) -> None:
    frames = [
        bytes(Eth() / IP(src="192.0.2.1", dst="192.0.2.2") / INNER6),  # 6in4 (proto 41)
        bytes(Eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0" * 4)])
              / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt() / UDP(sport=5000, dport=53)),
        bytes(Eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment(offset=0, m=0, id=77)
              / UDP(sport=5000, dport=53)),  # atomic fragment: not a fragment
        bytes(MPLS(s=1) / INNER6),  # IPv6 guessed from the nibble after the bottom label
    ]
    _, b = decode(tmp_path, frames[:3])
    for i in range(3):
        assert row(b, i) == UDP6_ROW, i
    _, b = decode(tmp_path, [bytes(Eth(type=0x8847)) + frames[3]])
    assert row(b) == UDP6_ROW


def test_tunnel_without_inner_ip_keeps_the_outer_header(tmp_path: Path) -> None:
    frames = [
        bytes(Eth() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=50000, dport=4789) / VXLAN() / Eth() / ARP()),
        bytes(Eth() / IP(src="192.0.2.1", dst="192.0.2.2") / GRE(proto=0x6558) / Eth() / ARP()),
        bytes(Eth() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=50000, dport=4789) / b"\x08\0"),  # VXLAN cut
    ]
    _, b = decode(tmp_path, frames)
    assert row(b, 0) == {"bucket": "udp", "src": "192.0.2.1", "dst": "192.0.2.2", "proto": 17, "sport": 50000,
                         "dport": 4789, "flags": 0, "frag": 0}
    assert row(b, 1)["bucket"] == "other_ip" and row(b, 1)["proto"] == 47 and row(b, 1)["src"] == "192.0.2.1"
    assert row(b, 2)["bucket"] == "udp" and row(b, 2)["dport"] == 4789


def test_deep_headers_past_the_first_window(tmp_path: Path) -> None:
    # ~300 bytes of extension headers (a wider window) and ~5.5 KB (whole-record pass)
    mid = IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0" * 250)])
    big_opt = [PadN(optdata=b"\0" * 255)] * 7  # 1.8 KB: near the largest extension header
    deep = IPv6ExtHdrDestOpt(options=big_opt) / IPv6ExtHdrDestOpt(options=big_opt) / IPv6ExtHdrDestOpt(options=big_opt)
    base = Eth() / Dot1Q() / IP() / GRE(proto=0x6558) / Eth()
    frames = [bytes(base / IPv6(src="2001:db8::1", dst="2001:db8::2") / mid / UDP(sport=5000, dport=53)),
              bytes(base / IPv6(src="2001:db8::1", dst="2001:db8::2") / deep / UDP(sport=5000, dport=53)),
              bytes(Eth() / INNER)]
    assert len(frames[1]) > 4096 + 128
    _, b = decode(tmp_path, frames)
    assert row(b, 0) == UDP6_ROW
    assert row(b, 1) == UDP6_ROW
    assert row(b, 2) == TCP_ROW


# ---- fragments -----------------------------------------------------------------------------------
def test_ipv4_fragments(tmp_path: Path) -> None:
    first = Eth() / IP(src="10.1.0.1", dst="10.2.0.2", id=4242, flags="MF", frag=0) / UDP(sport=5000, dport=53) / (b"x" * 100)
    later = Eth() / IP(src="10.1.0.1", dst="10.2.0.2", id=4242, frag=14, proto=17) / (b"y" * 50)
    _, b = decode(tmp_path, [bytes(first), bytes(later)])
    assert row(b, 0) == {"bucket": "udp", "src": "10.1.0.1", "dst": "10.2.0.2", "proto": 17, "sport": 5000,
                         "dport": 53, "flags": 0, "frag": 1}
    assert row(b, 1) == {"bucket": "fragment", "src": "10.1.0.1", "dst": "10.2.0.2", "proto": 17, "sport": 0,
                         "dport": 0, "flags": 0, "frag": 2}
    assert b.ip_id.tolist() == [4242, 4242]


def test_ipv6_fragments(tmp_path: Path) -> None:
    v6 = IPv6(src="2001:db8::1", dst="2001:db8::2")
    first = Eth() / v6 / IPv6ExtHdrFragment(offset=0, m=1, id=0x10203) / UDP(sport=5000, dport=53) / (b"x" * 64)
    later = Eth() / v6 / IPv6ExtHdrFragment(offset=9, m=0, id=0x10203, nh=17) / (b"y" * 40)
    _, b = decode(tmp_path, [bytes(first), bytes(later)])
    assert row(b, 0) == {**UDP6_ROW, "frag": 1}
    assert row(b, 1) == {**UDP6_ROW, "bucket": "fragment", "sport": 0, "dport": 0, "frag": 2}
    assert b.ip_id.tolist() == [0x10203, 0x10203]


# ---- snaplen cuts ----------------------------------------------------------------------------------
def test_snaplen_cuts(tmp_path: Path) -> None:
    frame = bytes(Eth() / INNER)  # TCP header starts at byte 34
    cuts = [34 + 14, 34 + 4, 34 + 3, 30]  # flags present / only ports / ports cut / IP header cut
    path = tmp_path / "cut.pcap"
    path.write_bytes(pcap_bytes([(T0, frame[:c]) for c in cuts], orig_lens=[len(frame)] * 4))
    _stream, b = read(path)
    assert row(b, 0) == TCP_ROW
    assert row(b, 1) == {**TCP_ROW, "flags": 0}
    assert [Bucket(x).key for x in b.bucket[2:]] == ["malformed", "malformed"]
    assert b.wire_len.tolist() == [len(frame)] * 4


def test_malformed_headers(tmp_path: Path) -> None:
    frames = [bytes(Eth(type=0x0800) / (b"\x65" + b"\0" * 30)),  # version 6 in an IPv4 ethertype
              bytes(Eth(type=0x0800) / (b"\x44" + b"\0" * 30)),  # IHL 4
              b"\0" * 10]  # shorter than an Ethernet header
    stream, _b = decode(tmp_path, frames)
    assert stream.counts["malformed"] == 3


# ---- ICMP errors ---------------------------------------------------------------------------------------
def test_icmp_unreachable_quoting_tcp_and_udp(tmp_path: Path) -> None:
    quoted_tcp = IPerror(src="10.1.0.1", dst="10.2.0.2") / TCPerror(sport=40000, dport=4008)
    quoted_udp = IPerror(src="10.1.0.1", dst="10.2.0.2") / UDPerror(sport=5000, dport=53)
    frames = [
        bytes(Eth() / IP(src="192.0.2.254", dst="10.1.0.1") / ICMP(type=3, code=13) / quoted_tcp),
        bytes(Eth() / Dot1Q() / IP(src="10.2.0.2", dst="10.1.0.1") / ICMP(type=3, code=3) / quoted_udp),
        bytes(Eth() / IP(src="192.0.2.254", dst="10.1.0.1") / ICMP(type=11, code=0) / quoted_udp),  # time exceeded
        bytes(Eth() / IP(src="192.0.2.254", dst="10.1.0.1") / ICMP(type=8)),  # echo
        bytes(Eth() / IPv6(src="2001:db8::fe", dst="2001:db8::1") / ICMPv6DestUnreach(code=1)
              / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=5000, dport=53)),
        bytes(Eth() / IPv6(src="2001:db8::fe", dst="2001:db8::1") / ICMPv6TimeExceeded()
              / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=5000, dport=53)),
        bytes(Eth() / IP(src="192.0.2.254", dst="10.1.0.1") / ICMP(type=3, code=1) / bytes(quoted_tcp)[:22]),  # ports cut
        bytes(Eth() / IPv6(src="2001:db8::fe", dst="2001:db8::1") / ICMPv6DestUnreach(code=4)
              / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrDestOpt()
              / IPv6ExtHdrFragment(offset=0, m=1, id=5) / TCP(sport=40000, dport=4008)),
        bytes(Eth() / IPv6(src="2001:db8::fe", dst="2001:db8::1") / ICMPv6DestUnreach(code=4)
              / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment(offset=3, m=0, id=5, nh=6)
              / (b"\0" * 8)),  # a later fragment quotes no ports
    ]
    stream, b = decode(tmp_path, frames)
    assert stream.counts["icmp"] == 9
    e = b.icmp_errors
    got = [(int(e.icmp_type[i]), int(e.icmp_code[i]), addr_to_text(e.reporter_hi[i], e.reporter_lo[i]),
            addr_to_text(e.src_hi[i], e.src_lo[i]), addr_to_text(e.dst_hi[i], e.dst_lo[i]),
            int(e.proto[i]), int(e.sport[i]), int(e.dport[i]), int(e.ts_ns[i])) for i in range(len(e))]
    assert sorted(got) == sorted([
        (3, 13, "192.0.2.254", "10.1.0.1", "10.2.0.2", 6, 40000, 4008, T0),
        (3, 3, "10.2.0.2", "10.1.0.1", "10.2.0.2", 17, 5000, 53, T0 + 1000),
        (1, 1, "2001:db8::fe", "2001:db8::1", "2001:db8::2", 17, 5000, 53, T0 + 4000),
        (1, 4, "2001:db8::fe", "2001:db8::1", "2001:db8::2", 6, 40000, 4008, T0 + 7000),
    ])


def test_many_records_with_headers_past_every_window(tmp_path: Path) -> None:
    # radiotap headers claiming 60 KB: every record needs its whole bytes decoded,
    # which happens in bounded groups (memory), and still lands in a bucket
    frame = struct.pack("<BBHI", 0, 0, 60000, 0) + bytes(60000 - 8) + bytes(Dot11(type=2) / LLC(dsap=0xAA, ssap=0xAA, ctrl=3)
                                                                        / SNAP(code=0x0800) / INNER)
    stream, b = decode(tmp_path, [frame] * 300, linktype=127)
    assert stream.counts["tcp"] == 300
    assert row(b, 299) == TCP_ROW


# ---- more UDP tunnels and capture-tool link types (as tshark decodes them) -------------------------
def _ayiya(next_header: int) -> bytes:
    # identity 16 bytes (idlen 4), SHA-1 signature 20 bytes (siglen 5), opcode 1 = forward
    return bytes([0x41, 0x52, 0x21, next_header]) + b"\0" * 4 + b"\x11" * 16 + b"\x22" * 20


def test_more_udp_tunnels(tmp_path: Path) -> None:
    from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer

    outer = Eth() / IP(src="192.0.2.1", dst="192.0.2.2")
    frames = [
        outer / UDP(sport=2152, dport=2152) / GTP_U_Header(teid=7, gtp_type=255) / INNER,
        outer / UDP(sport=2152, dport=2152) / GTP_U_Header(teid=7, gtp_type=255, E=1, next_ex=0x85)
        / GTPPDUSessionContainer(type=0, QFI=5) / INNER6,
        outer / UDP(sport=40001, dport=3544) / INNER6,  # Teredo, no extra header
        outer / UDP(sport=3544, dport=40001) / b"\x00\x00\x9c\x40\x01\x02\x03\x04" / INNER6,  # origin indication
        outer / UDP(sport=3544, dport=40001) / b"\x00\x01\x00\x00" / (b"\0" * 9) / INNER6,  # authentication
        outer / UDP(sport=5072, dport=5072) / _ayiya(41) / INNER6,
        outer / UDP(sport=5072, dport=5072) / _ayiya(4) / INNER,
        outer / UDP(sport=50000, dport=4754) / GRE(proto=0x0800) / INNER,
    ]
    _, b = decode(tmp_path, [bytes(f) for f in frames])
    want = [TCP_ROW, UDP6_ROW, UDP6_ROW, UDP6_ROW, UDP6_ROW, UDP6_ROW, TCP_ROW, TCP_ROW]
    assert [row(b, i) for i in range(len(frames))] == want


def test_udp_tunnel_ports_that_do_not_hold_a_packet(tmp_path: Path) -> None:
    from scapy.contrib.gtp import GTP_U_Header

    outer = Eth() / IP(src="192.0.2.1", dst="192.0.2.2")
    frames = [
        outer / UDP(sport=2152, dport=2152) / GTP_U_Header(gtp_type=1),  # echo request: no inner packet
        outer / UDP(sport=40001, dport=3544) / (b"\x45" + b"\0" * 30),  # Teredo carries only IPv6
        outer / UDP(sport=53, dport=4789) / (b"\0" * 40),  # DNS port first, as tshark tries the lower port
    ]
    _, b = decode(tmp_path, [bytes(f) for f in frames])
    assert [(row(b, i)["bucket"], row(b, i)["src"]) for i in range(3)] == [("udp", "192.0.2.1")] * 3


def test_capture_tool_link_types(tmp_path: Path) -> None:
    nflog = (bytes([2, 0, 0, 1]) + struct.pack("<HH", 8, 1) + b"\x08\x00\x00\x00"  # a 'packet header' TLV
             + struct.pack("<HH", 4 + len(bytes(INNER)), 9) + bytes(INNER))
    pflog = bytes([61, 2]) + b"\0" * 62 + bytes(INNER)  # header length 61, padded to 64; AF_INET
    ppi = struct.pack("<BBHI", 0, 0, 8, 105) + bytes(Dot11(type=2) / LLC(dsap=0xAA, ssap=0xAA, ctrl=3)
                                                     / SNAP(code=0x0800) / INNER)
    for linktype, frame in ((239, nflog), (117, pflog), (192, ppi)):
        _, b = decode(tmp_path, [frame], linktype)
        assert row(b) == TCP_ROW, linktype


def test_icmp_errors_found_in_wider_decodes_keep_their_packet_time(tmp_path: Path) -> None:
    quoted = IPerror(src="10.1.0.1", dst="10.2.0.2") / TCPerror(sport=40000, dport=4008)
    plain = Eth() / IP(src="192.0.2.254", dst="10.1.0.1") / ICMP(type=3, code=13) / quoted
    deep = (Eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0" * 250)])
            / IP(src="192.0.2.253", dst="10.1.0.1") / ICMP(type=3, code=1) / quoted)
    frames = [bytes(plain if i % 3 else deep) for i in range(30)]
    _, b = decode(tmp_path, frames)
    e = b.icmp_errors
    assert len(e) == 30
    got = sorted((int(t), addr_to_text(h, lo), int(c)) for t, h, lo, c in zip(e.ts_ns, e.reporter_hi, e.reporter_lo, e.icmp_code))
    want = sorted((T0 + i * 1000, "192.0.2.254" if i % 3 else "192.0.2.253", 13 if i % 3 else 1) for i in range(30))
    assert got == want


def test_backbone_bridging_vn_tag_and_l2tp(tmp_path: Path) -> None:
    outer = Eth() / IP(src="192.0.2.1", dst="192.0.2.2")
    frames = [
        bytes(Eth(type=0x88E7)) + b"\x00\x00\x01\x00" + bytes(Eth() / INNER),  # 802.1ah I-TAG
        bytes(Eth(type=0x8926)) + b"\x00\x01\x00\x02\x08\x00" + bytes(INNER),  # VN-Tag
        bytes(outer / UDP(sport=1701, dport=1701) / b"\x00\x02\x00\x01\x00\x02" / b"\xff\x03\x00\x21" / INNER),
        bytes(outer / UDP(sport=1701, dport=1701) / b"\x4a\x02\x00\x44\x00\x01\x00\x02\x00\x05\x00\x06\x00\x02\xee\xee"
              / b"\x00\x21" / INNER),  # length, sequence and a 2-byte offset pad
        bytes(outer / UDP(sport=1701, dport=1701) / b"\xc8\x02\x00\x0c\x00\x01\x00\x00\x00\x00\x00\x00"),  # control
    ]
    _, b = decode(tmp_path, frames)
    assert [row(b, i) for i in range(4)] == [TCP_ROW] * 4
    assert row(b, 4)["bucket"] == "udp" and row(b, 4)["dport"] == 1701

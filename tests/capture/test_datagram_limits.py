"""Where a header's bytes end: the captured length, a tunnel's inner header
and the IP datagram's own length (found by the differential test: tshark and
scapy agree on each of these)."""

from __future__ import annotations

from pathlib import Path

from scapy.contrib.erspan import ERSPAN_II
from scapy.contrib.geneve import GENEVE
from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP, IPerror, UDPerror
from scapy.layers.inet6 import ICMPv6DestUnreach, IPv6, IPv6ExtHdrHopByHop
from scapy.layers.vxlan import VXLAN

from auditor.tables import Bucket

from .test_decode import INNER, INNER6, Eth, _ayiya, decode, row

OUTER = IP(src="192.0.2.1", dst="192.0.2.2")
FIN_ACK = 0x11


def _set(frame: bytes, offset: int, value: bytes) -> bytes:
    return frame[:offset] + value + frame[offset + len(value):]


def _outer_row(proto: int, sport: int = 0, dport: int = 0) -> dict:
    return {"bucket": "udp" if proto == 17 else "other_ip", "src": "192.0.2.1", "dst": "192.0.2.2",
            "proto": proto, "sport": sport, "dport": dport, "flags": 0, "frag": 0}


# ---- a tunnel cut where its inner IP header starts keeps the outer packet -----------------------
def test_tunnel_cut_where_the_inner_ip_header_starts_keeps_the_outer_packet(tmp_path: Path) -> None:
    tunnels = [
        (Eth() / OUTER / INNER, _outer_row(4)),  # IP-in-IP
        (Eth() / OUTER / INNER6, _outer_row(41)),  # 6in4
        (Eth() / OUTER / GRE(proto=0x0800) / INNER, _outer_row(47)),
        (Eth() / OUTER / GRE(proto=0x88BE, seqnum_present=1) / ERSPAN_II() / Eth() / INNER, _outer_row(47)),
        (Eth() / OUTER / UDP(sport=50000, dport=4789) / VXLAN() / Eth() / INNER, _outer_row(17, 50000, 4789)),
        (Eth() / OUTER / UDP(sport=50000, dport=6081) / GENEVE(proto=0x0800) / INNER, _outer_row(17, 50000, 6081)),
        (Eth() / OUTER / UDP(sport=50000, dport=4754) / GRE(proto=0x0800) / INNER, _outer_row(17, 50000, 4754)),
    ]
    inner_len = {4: len(INNER), 41: len(INNER6)}
    frames = []
    for pkt, _ in tunnels:
        data = bytes(pkt)
        start = len(data) - inner_len[41 if IPv6 in pkt else 4]
        frames += [data[:start], data[:start + 1], data[:start + 19]]
    _, b = decode(tmp_path, frames)
    for i, (_, outer) in enumerate(tunnels):
        assert row(b, 3 * i) == outer, i  # zero inner bytes: the outer packet
        for k in (1, 2):  # 1 or 19 bytes of the inner header: malformed
            assert Bucket(int(b.bucket[3 * i + k])).key == "malformed", (i, k)


def test_outer_datagram_ending_inside_a_tunnel_header_keeps_the_outer_packet(tmp_path: Path) -> None:
    # the outer IPv4 total length ends 2 bytes into GRE / at the inner header (bytes follow in the record)
    gre = bytes(Eth() / OUTER / GRE(proto=0x0800) / INNER)
    frames = [_set(gre, 16, (20 + 2).to_bytes(2, "big")), _set(gre, 16, (20 + 4).to_bytes(2, "big"))]
    _, b = decode(tmp_path, frames)
    assert row(b, 0) == row(b, 1) == _outer_row(47)


# ---- the IP length ends the datagram --------------------------------------------------------------
def test_bytes_past_the_ip_length_are_not_header_bytes(tmp_path: Path) -> None:
    tcp = bytes(Eth() / IP(src="10.1.0.1", dst="10.2.0.2") / TCP(sport=40000, dport=4008, flags="FA") / (b"d" * 100))
    tcp6 = bytes(Eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=40000, dport=4008, flags="FA")
                 / (b"d" * 100))
    frames = [
        _set(tcp, 16, (20 + 6).to_bytes(2, "big")),  # ports, no flags
        _set(tcp6, 18, (6).to_bytes(2, "big")),
        _set(tcp, 16, (20 + 14).to_bytes(2, "big")),  # the flags byte is the datagram's last
        _set(tcp, 16, (20 + 3).to_bytes(2, "big")),  # ports cut: malformed
        _set(tcp, 16, (20).to_bytes(2, "big")),  # no TCP byte at all: malformed
        _set(tcp, 16, (19).to_bytes(2, "big")),  # shorter than its own header: malformed (tshark)
        _set(tcp, 16, b"\0\0"),  # 0: TCP segmentation offload, read to the captured end
        _set(tcp6, 18, b"\0\0"),  # 0: jumbogram or TSO, read to the captured end
    ]
    _, b = decode(tmp_path, frames)
    rows = [row(b, i) for i in range(len(frames))]
    assert [(r["bucket"], r["sport"], r["flags"]) for r in rows] == [
        ("tcp", 40000, 0), ("tcp", 40000, 0), ("tcp", 40000, FIN_ACK), ("malformed", 0, 0),
        ("malformed", 0, 0), ("malformed", 0, 0), ("tcp", 40000, FIN_ACK), ("tcp", 40000, FIN_ACK)]
    assert rows[3]["src"] == rows[4]["src"] == "10.1.0.1"  # a malformed row keeps the IP header it read


def test_ethernet_padding_is_not_read_as_a_header(tmp_path: Path) -> None:
    # a 1-byte UDP datagram padded to Ethernet's 60 bytes; an ICMP echo padded likewise; a
    # datagram whose length ends inside the ICMP type/code reads no ICMP error
    udp_cut = bytes(Eth() / IP(src="10.1.0.1", dst="10.2.0.2", proto=17) / b"\x13\x88")
    unreach = bytes(Eth() / IP(src="192.0.2.254", dst="10.1.0.1") / ICMP(type=3, code=3)
                    / IPerror(src="10.1.0.1", dst="10.2.0.2") / UDPerror(sport=5000, dport=53))
    frames = [udp_cut + b"\x00\x35" + b"\0" * 20, _set(unreach, 16, (21).to_bytes(2, "big"))]
    _, b = decode(tmp_path, frames)
    assert Bucket(int(b.bucket[0])).key == "malformed"  # 2 UDP bytes in the datagram: ports cut
    assert Bucket(int(b.bucket[1])).key == "icmp" and len(b.icmp_errors) == 0


# ---- UDP tunnel headers cut short ------------------------------------------------------------------------
def test_ayiya_cut_after_its_fixed_header_keeps_the_outer_packet(tmp_path: Path) -> None:
    ayiya = bytes(Eth() / OUTER / UDP(sport=5072, dport=5072) / _ayiya(41) / INNER6)
    fixed_end = 14 + 20 + 8 + 8
    _, b = decode(tmp_path, [ayiya[:fixed_end], ayiya[:fixed_end + 20]])
    assert row(b, 0) == row(b, 1) == _outer_row(17, 5072, 5072)


def test_teredo_with_one_byte_of_inner_ipv6_is_malformed(tmp_path: Path) -> None:
    origin = b"\x00\x00\x9c\x40\x01\x02\x03\x04"
    teredo = bytes(Eth() / OUTER / UDP(sport=3544, dport=40001) / origin / INNER6)
    start = 14 + 20 + 8 + 8
    _, b = decode(tmp_path, [teredo[:start + 1], teredo[:start], teredo])
    assert Bucket(int(b.bucket[0])).key == "malformed"  # one byte of IPv6: cut inside it
    assert row(b, 1) == _outer_row(17, 3544, 40001)  # nothing after the origin indication
    assert row(b, 2)["bucket"] == "udp" and row(b, 2)["src"] == "2001:db8::1"


# ---- a malformed inner IPv6 row says nothing of its outer header ------------------------------------
def test_ipv6_extension_cut_inside_6in4_resets_the_protocol(tmp_path: Path) -> None:
    v6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop() / UDP(sport=1, dport=2)
    frames = [bytes(Eth() / OUTER / v6)[:14 + 20 + 40 + 4], bytes(Eth() / v6)[:14 + 40 + 4]]
    _, b = decode(tmp_path, frames)
    for i in (0, 1):
        assert row(b, i) == {"bucket": "malformed", "src": "2001:db8::1", "dst": "2001:db8::2", "proto": 0,
                             "sport": 0, "dport": 0, "flags": 0, "frag": 0}, i


# ---- ICMP error rows in packet order --------------------------------------------------------------
def test_icmp_error_rows_are_in_packet_order(tmp_path: Path) -> None:
    v6_err = bytes(Eth() / IPv6(src="2001:db8::fe", dst="2001:db8::1") / ICMPv6DestUnreach(code=1)
                   / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=5000, dport=53))
    v4_err = bytes(Eth() / IP(src="192.0.2.254", dst="10.1.0.1") / ICMP(type=3, code=3)
                   / IPerror(src="10.1.0.1", dst="10.2.0.2") / UDPerror(sport=5000, dport=53))
    # the first one sits behind a tunnel, past the first window: found in a wider decode pass
    deep = bytes(Eth() / OUTER / GRE(proto=0x86DD) / IPv6(src="2001:db8::9", dst="2001:db8::1")
                 / IPv6ExtHdrHopByHop(options=[]) / ICMPv6DestUnreach(code=1)
                 / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=5000, dport=53))
    frames = [v6_err, v4_err, bytes(Eth() / INNER), v6_err, v4_err]
    _, b = decode(tmp_path, [deep, *frames])
    t = b.icmp_errors.ts_ns.tolist()
    assert len(t) == 5 and t == sorted(t)

"""scapy-crafted captures for the engine differential test: every encapsulation
and accounting case of SPEC section 5, written to a test's tmp_path.

``KINDS`` maps a name to a function returning a list of (frame bytes,
captured length or None) in one LINKTYPE; ``write_pcap``/``write_pcapng``
write them with increasing timestamps (several link types → one pcapng with
one interface each).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III
from scapy.contrib.geneve import GENEVE
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP, IPerror, TCPerror, UDPerror, fragment
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoRequest,
    IPerror6,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    fragment6,
)
from scapy.layers.l2 import ARP, LLC, SNAP, CookedLinux, Dot1AD, Dot1Q, Dot3, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

A4, B4, C4, D4 = "10.0.0.1", "10.0.0.2", "192.168.7.9", "172.16.1.1"
A6, B6 = "2001:db8::1", "2001:db8::2"
OUTER1, OUTER2 = "198.51.100.1", "198.51.100.2"
MAC = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}

Frames = list[tuple[bytes, int | None]]  # (bytes, captured length when cut by a snaplen)
LT_EN10MB, LT_RAW, LT_NULL, LT_PPP, LT_SLL, LT_IPV4, LT_IPV6, LT_RADIOTAP, LT_SLL2, LT_USER0 = (
    1,
    101,
    0,
    9,
    113,
    228,
    229,
    127,
    276,
    147,
)
LT_PFLOG, LT_NFLOG = 117, 239


def eth(p) -> Ether:
    return Ether(**MAC) / p


def _b(*pkts) -> Frames:
    return [(bytes(p), None) for p in pkts]


def tcp_conversation() -> Frames:
    c, s = IP(src=A4, dst=B4, id=100), IP(src=B4, dst=A4, id=200)
    return _b(
        eth(c / TCP(sport=40000, dport=4005, flags="S", seq=1)),
        eth(s / TCP(sport=4005, dport=40000, flags="SA", seq=9, ack=2)),
        eth(c / TCP(sport=40000, dport=4005, flags="A", seq=2, ack=10)),
        eth(c / TCP(sport=40000, dport=4005, flags="PA", seq=2, ack=10) / Raw(b"x" * 300)),
        eth(s / TCP(sport=4005, dport=40000, flags="FA", seq=10, ack=302)),
        eth(c / TCP(sport=40000, dport=4005, flags="FA", seq=302, ack=11)),
        eth(s / TCP(sport=4005, dport=40000, flags="A", seq=11, ack=303)),
        # rejected attempt, then a midstream flow without handshake
        eth(IP(src=A4, dst=C4) / TCP(sport=40001, dport=9081, flags="S")),
        eth(IP(src=C4, dst=A4) / TCP(sport=9081, dport=40001, flags="RA")),
        eth(IP(src=C4, dst=A4) / TCP(sport=443, dport=51000, flags="PA") / Raw(b"y" * 50)),
    )


def udp_icmp() -> Frames:
    return _b(
        eth(IP(src=A4, dst=B4) / UDP(sport=5353, dport=53) / Raw(b"q" * 30)),
        eth(IP(src=B4, dst=A4) / UDP(sport=53, dport=5353) / Raw(b"r" * 90)),
        eth(IP(src=A4, dst=B4) / ICMP(type=8) / Raw(b"ping")),
        eth(IP(src=B4, dst=A4) / ICMP(type=0) / Raw(b"ping")),
        # a UDP probe answered by port unreachable quoting it
        eth(IP(src=A4, dst=C4) / UDP(sport=5000, dport=9081) / Raw(b"probe")),
        eth(
            IP(src=C4, dst=A4)
            / ICMP(type=3, code=3)
            / IPerror(src=A4, dst=C4)
            / UDPerror(sport=5000, dport=9081)
        ),
        # administratively prohibited, quoting a TCP SYN (8 bytes of TCP quoted)
        eth(IP(src=A4, dst=D4) / TCP(sport=40002, dport=4007, flags="S")),
        eth(
            IP(src=OUTER1, dst=A4)
            / ICMP(type=3, code=13)
            / Raw(
                bytes(
                    IPerror(src=A4, dst=D4, proto=6) / TCPerror(sport=40002, dport=4007, flags="S")
                )[:28]
            )
        ),
        # time exceeded is not an unreachable
        eth(
            IP(src=OUTER2, dst=A4)
            / ICMP(type=11)
            / IPerror(src=A4, dst=B4)
            / UDPerror(sport=1, dport=2)
        ),
    )


def ipv6() -> Frames:
    return _b(
        eth(IPv6(src=A6, dst=B6) / TCP(sport=41000, dport=4005, flags="S")),
        eth(IPv6(src=B6, dst=A6) / TCP(sport=4005, dport=41000, flags="SA")),
        eth(
            IPv6(src=A6, dst=B6)
            / IPv6ExtHdrHopByHop()
            / IPv6ExtHdrDestOpt()
            / TCP(sport=41000, dport=4005, flags="A")
        ),
        eth(IPv6(src=A6, dst=B6) / UDP(sport=41001, dport=9081)),
        eth(
            IPv6(src=B6, dst=A6)
            / ICMPv6DestUnreach(code=4)
            / IPerror6(src=A6, dst=B6)
            / UDPerror(sport=41001, dport=9081)
        ),
        eth(IPv6(src=A6, dst=B6) / ICMPv6EchoRequest()),
        # an atomic fragment (offset 0, no more) is not a fragment
        eth(
            IPv6(src=A6, dst=B6)
            / IPv6ExtHdrFragment(id=7, m=0, offset=0)
            / UDP(sport=41002, dport=53)
        ),
    )


def fragments() -> Frames:
    big4 = IP(src=A4, dst=B4, id=4242) / UDP(sport=6000, dport=4007) / Raw(b"f" * 3000)
    big4t = IP(src=B4, dst=A4, id=4243) / TCP(sport=4007, dport=6001, flags="A") / Raw(b"g" * 2000)
    big6 = (
        IPv6(src=A6, dst=B6)
        / IPv6ExtHdrFragment(id=0x1234)
        / UDP(sport=6002, dport=53)
        / Raw(b"h" * 3000)
    )
    return _b(
        *(eth(f) for f in fragment(big4, 1480)),
        *(eth(f) for f in fragment(big4t, 800)),
        *(eth(f) for f in fragment6(big6, 1280)),
    )


def vlans_and_l2() -> Frames:
    inner = IP(src=A4, dst=B4) / TCP(sport=40010, dport=4005, flags="S")
    return _b(
        Ether(**MAC) / Dot1Q(vlan=10) / inner,
        Ether(**MAC, type=0x88A8)
        / Dot1AD(vlan=100)
        / Dot1Q(vlan=20)
        / IP(src=A4, dst=B4)
        / UDP(sport=7000, dport=7001),
        Dot3(**MAC)
        / LLC(dsap=0xAA, ssap=0xAA, ctrl=3)
        / SNAP(OUI=0, code=0x0800)
        / IP(src=A4, dst=B4)
        / UDP(sport=7002, dport=7003),
        Ether(**MAC) / ARP(psrc=A4, pdst=B4),
        Ether(**MAC, type=0x88CC) / Raw(b"\x02\x07\x04" + b"\0" * 40),  # LLDP: not IP
        eth(IP(src=A4, dst="224.0.0.22", proto=2) / Raw(b"\x22\0\0\0\0\0\0\0")),  # IGMP: other IP
        eth(IP(src=A4, dst=B4, proto=50) / Raw(b"\0" * 40)),  # ESP
        Ether(**MAC, type=0x8847)
        / MPLS(label=16, s=0)
        / MPLS(label=17, s=1)
        / IP(src=A4, dst=C4)
        / TCP(sport=40011, dport=22, flags="S"),
        Ether(**MAC, type=0x8864)
        / PPPoE(sessionid=5)
        / PPP(proto=0x21)
        / IP(src=A4, dst=C4)
        / TCP(sport=40012, dport=443, flags="S"),
    )


def tunnels() -> Frames:
    def outer(p, proto: int | None = None):
        return eth(
            (
                IP(src=OUTER1, dst=OUTER2)
                if proto is None
                else IP(src=OUTER1, dst=OUTER2, proto=proto)
            )
            / p
        )

    in4 = IP(src=A4, dst=B4) / TCP(sport=40020, dport=4005, flags="S")
    in4u = IP(src=A4, dst=B4) / UDP(sport=40021, dport=53)
    return _b(
        outer(in4),  # IP-in-IP
        outer(IPv6(src=A6, dst=B6) / UDP(sport=40022, dport=53)),  # 6in4
        outer(GRE() / in4),
        outer(GRE(key_present=1, key=77, seqnum_present=1, sequence_number=5) / in4u),
        outer(GRE(proto=0x6558) / Ether(**MAC) / in4),  # transparent Ethernet bridging
        outer(
            GRE(seqnum_present=1, sequence_number=9, proto=0x88BE)
            / ERSPAN_II(session_id=3)
            / Ether(**MAC)
            / Dot1Q(vlan=5)
            / in4
        ),
        outer(GRE(proto=0x22EB) / ERSPAN_III(session_id=4) / Ether(**MAC) / in4u),
        outer(UDP(sport=55555, dport=4789) / VXLAN(vni=5001) / Ether(**MAC) / in4),
        outer(
            UDP(sport=55556, dport=4789)
            / VXLAN(vni=5001)
            / Ether(**MAC)
            / IP(src=A4, dst=B4)
            / ICMP(type=8)
        ),
        outer(UDP(sport=55557, dport=6081) / GENEVE(proto=0x6558, vni=7) / Ether(**MAC) / in4u),
        # VXLAN with a non-IP payload: the outer UDP flow stands
        outer(UDP(sport=55558, dport=4789) / VXLAN(vni=1) / Ether(**MAC) / ARP()),
        # 4789 as the source port only: not VXLAN (the SPEC's rule is the destination port)
        outer(UDP(sport=4789, dport=12345) / VXLAN(vni=1) / Ether(**MAC) / in4u),
        # an ICMP unreachable inside GRE, quoting the inner flow
        outer(
            GRE()
            / IP(src=B4, dst=A4)
            / ICMP(type=3, code=1)
            / IPerror(src=A4, dst=B4)
            / TCPerror(sport=40020, dport=4005)
        ),
    )


def udp_tunnels() -> Frames:
    """UDP tunnels beside VXLAN/Geneve, on the port the lower-port-first rule picks."""
    from scapy.contrib.gtp import GTP_U_Header

    def outer(sport: int, dport: int, payload: bytes) -> Ether:
        return eth(IP(src=OUTER1, dst=OUTER2) / UDP(sport=sport, dport=dport) / Raw(payload))

    in4 = bytes(IP(src=A4, dst=B4) / TCP(sport=40040, dport=4005, flags="S"))
    in4u = IP(src=A4, dst=B4) / UDP(sport=40041, dport=53)
    return _b(
        outer(2152, 2152, bytes(GTP_U_Header(gtp_type=255, teid=77) / Raw(in4))),
        outer(
            2152, 2152, bytes(GTP_U_Header(gtp_type=1, teid=0) / Raw(b"\0" * 4))
        ),  # echo request: no packet
        outer(50000, 4754, bytes(GRE(proto=0x0800) / in4u)),  # GRE in UDP
        outer(
            4789, 40000, bytes(VXLAN(vni=9) / Ether(**MAC) / in4u)
        ),  # VXLAN on the lower (source) port
        outer(53, 4789, bytes(in4u)),  # the lower port is well known: plain UDP
    )


def udp_tunnels_scapyless() -> Frames:
    """Teredo and AYIYA: UDP tunnels scapy has no layer for."""
    in6 = bytes(IPv6(src=A6, dst=B6) / UDP(sport=40050, dport=53))
    in4 = bytes(IP(src=A4, dst=B4) / TCP(sport=40051, dport=4005, flags="S"))
    ayiya = (
        bytes([0x41, 0x52, 0x11, 4]) + struct.pack("!I", 1_700_000_000) + b"\1" * 16 + b"\2" * 20
    )
    return _b(
        eth(
            IP(src=OUTER1, dst=OUTER2) / UDP(sport=3544, dport=40000) / Raw(in6)
        ),  # Teredo, no headers
        eth(
            IP(src=OUTER1, dst=OUTER2)
            / UDP(sport=3544, dport=40001)
            / Raw(b"\0\0" + b"\x0d\x96" + b"\1" * 4 + in6)
        ),  # origin indication
        eth(IP(src=OUTER1, dst=OUTER2) / UDP(sport=40002, dport=5072) / Raw(ayiya + in4)),
    )


def snaplen_cuts() -> Frames:
    syn = eth(
        IP(src=A4, dst=B4) / TCP(sport=40030, dport=4005, flags="S", options=[("MSS", 1460)] * 4)
    )
    udp = eth(IP(src=A4, dst=B4) / UDP(sport=40031, dport=53) / Raw(b"z" * 100))
    opts = eth(IP(src=A4, dst=B4, options=[b"\x01" * 8]) / UDP(sport=40032, dport=53))
    return [
        (bytes(syn), 14 + 20 + 14),  # TCP cut after its flags
        (bytes(syn), 14 + 20 + 6),  # cut after the ports: tcp, flags read 0
        (bytes(syn), 14 + 20 + 2),  # cut before the ports: malformed
        (bytes(udp), 14 + 10),  # IP header cut: malformed
        (bytes(opts), 14 + 24),  # IPv4 options cut by the snaplen: malformed
        (bytes(udp), 14 + 20 + 8),  # UDP header whole, payload cut: udp
        (bytes(eth(IP(src=A4, dst=B4) / Raw(b"\0" * 20)))[:14] + b"\x45", None),  # one IP byte
    ]


def other_links() -> dict[int, Frames]:
    """Frames per LINKTYPE beside Ethernet."""
    from scapy.layers.dot11 import Dot11, RadioTap
    from scapy.layers.l2 import CookedLinuxV2
    from scapy.layers.pflog import PFLog

    t4 = IP(src=A4, dst=B4) / TCP(sport=40100, dport=4005, flags="S")
    u4 = IP(src=A4, dst=C4) / UDP(sport=40101, dport=53)
    t6 = IPv6(src=A6, dst=B6) / TCP(sport=40102, dport=4005, flags="S")
    return {
        LT_RAW: _b(t4, t6),
        LT_IPV4: _b(u4),
        LT_IPV6: _b(t6),
        LT_NULL: [
            (struct.pack("<I", 2) + bytes(u4), None),
            (struct.pack("<I", 30) + bytes(t6), None),
        ],
        LT_PPP: [(b"\xff\x03\x00\x21" + bytes(t4), None)],
        LT_SLL: _b(CookedLinux(proto=0x0800) / u4, CookedLinux(proto=0x0806) / ARP()),
        LT_SLL2: _b(CookedLinuxV2(proto=0x86DD) / t6),
        LT_RADIOTAP: _b(
            RadioTap()
            / Dot11(
                type=2, subtype=0, FCfield=1, addr1=MAC["dst"], addr2=MAC["src"], addr3=MAC["dst"]
            )
            / LLC(dsap=0xAA, ssap=0xAA, ctrl=3)
            / SNAP(OUI=0, code=0x0800)
            / u4
        ),
        LT_PFLOG: _b(PFLog(addrfamily=2, action=0, reason=0) / u4),
        LT_USER0: _b(Raw(b"\x01\x02\x03\x04" * 8)),  # a link type no reader decodes
    }


def nflog_links() -> dict[int, Frames]:
    """Linux NFLOG, which scapy has no layer for."""
    return {LT_NFLOG: [(nflog(IP(src=A4, dst=C4) / UDP(sport=40103, dport=53)), None)]}


def nflog(packet) -> bytes:
    """Linux NFLOG: family, version, resource id, then TLVs (packet header, payload)."""

    def tlv(kind: int, value: bytes) -> bytes:
        body = struct.pack("<HH", 4 + len(value), kind) + value
        return body + b"\0" * (-len(body) % 4)

    return bytes([2, 0, 0, 0]) + tlv(1, struct.pack("!HBB", 0x0800, 3, 0)) + tlv(9, bytes(packet))


KINDS: dict[str, Callable[[], Frames]] = {
    "tcp_conversation": tcp_conversation,
    "udp_icmp": udp_icmp,
    "ipv6": ipv6,
    "fragments": fragments,
    "vlans_and_l2": vlans_and_l2,
    "tunnels": tunnels,
    "udp_tunnels": udp_tunnels,
    "udp_tunnels_scapyless": udp_tunnels_scapyless,
    "snaplen_cuts": snaplen_cuts,
}

T0 = 1_700_000_000 * 1_000_000_000


def write_pcap(
    path: Path, frames: Frames, linktype: int = LT_EN10MB, step_ns: int = 1_000_000
) -> Path:
    """Classic pcap (microseconds), one record per frame, time ``step_ns`` apart."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    for i, (data, cut) in enumerate(frames):
        sec, ns = divmod(T0 + i * step_ns, 1_000_000_000)
        kept = data[:cut] if cut is not None else data
        out.append(struct.pack("<IIII", sec, ns // 1000, len(kept), len(data)) + kept)
    path.write_bytes(b"".join(out))
    return path


def write_pcapng(path: Path, by_link: dict[int, Frames], step_ns: int = 1_000_000) -> Path:
    """One section, one interface per LINKTYPE (nanosecond resolution), frames interleaved in time."""

    def block(btype: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    tsresol = struct.pack("<HHB", 9, 1, 9) + b"\0\0\0" + struct.pack("<HH", 0, 0)
    for lt in by_link:
        out.append(block(1, struct.pack("<HHI", lt, 0, 0) + tsresol))
    t = T0
    for iface, frames in enumerate(by_link.values()):
        for data, cut in frames:
            kept = data[:cut] if cut is not None else data
            out.append(
                block(
                    6,
                    struct.pack("<IIIII", iface, t >> 32, t & 0xFFFFFFFF, len(kept), len(data))
                    + kept,
                )
            )
            t += step_ns
    path.write_bytes(b"".join(out))
    return path


def all_ethernet() -> Frames:
    return [f for make in KINDS.values() for f in make()]


def ip_header_starts(data: bytes) -> list[int]:
    """Offsets where a whole IP header of this frame starts (an IPv4 header with
    a valid checksum, an IPv6 header whose payload length runs to the end)."""
    out = []
    for o in range(len(data) - 20):
        v = data[o] >> 4
        if v == 4 and data[o] & 15 >= 5:
            hl = (data[o] & 15) * 4
            words = struct.unpack(f"!{hl // 2}H", data[o : o + hl]) if o + hl <= len(data) else None
            if words:
                total = sum(words)
                while total >> 16:
                    total = (total & 0xFFFF) + (total >> 16)
                if total == 0xFFFF:
                    out.append(o)
        elif (
            v == 6
            and o + 40 <= len(data)
            and struct.unpack("!H", data[o + 4 : o + 6])[0] == len(data) - o - 40
        ):
            out.append(o)
    return out


def tunnel_cuts() -> Frames:
    """Tunnels cut exactly where their inner IP header would start."""
    frames = [f for f, _ in tunnels()[:8]] + [f for f, _ in udp_tunnels()[2:4]]
    return [(f, ip_header_starts(f)[1]) for f in frames]


def _set_bytes(frame, offset: int, value: bytes) -> bytes:
    data = bytearray(bytes(frame))
    data[offset : offset + len(value)] = value
    return bytes(data)


def tso_lengths() -> Frames:
    """IPv4 total length 0, as a sender's capture of TCP segmentation offload shows it."""
    tcp = eth(IP(src=A4, dst=B4) / TCP(sport=40060, dport=4005, flags="PA") / Raw(b"d" * 3000))
    return [(_set_bytes(tcp, 16, b"\0\0"), None)]


def short_ip_lengths() -> Frames:
    """IP length fields that end the datagram inside the TCP header (flags past the end)."""
    tcp = eth(IP(src=A4, dst=B4) / TCP(sport=40061, dport=4005, flags="FA") / Raw(b"d" * 100))
    tcp6 = eth(IPv6(src=A6, dst=B6) / TCP(sport=40062, dport=4005, flags="FA") / Raw(b"d" * 100))
    return [
        (_set_bytes(tcp, 16, (20 + 6).to_bytes(2, "big")), None),
        (_set_bytes(tcp6, 18, (6).to_bytes(2, "big")), None),
    ]


def udp_tunnel_header_cuts() -> Frames:
    """Teredo and AYIYA records cut inside or just after the tunnel header."""
    frames = [f for f, _ in udp_tunnels_scapyless()]
    teredo_origin, ayiya = frames[1], frames[2]
    return [
        (teredo_origin, 14 + 20 + 8 + 8 + 1),  # one byte of the inner IPv6 header
        (ayiya, 14 + 20 + 8 + 8),
    ]  # AYIYA's fixed 8 bytes, identity and signature cut


def gre_bad_versions() -> Frames:
    """GRE headers whose version field is neither 0 (RFC 2784) nor 1 (PPTP)."""
    inner = IP(src=A4, dst=B4) / UDP(sport=40070, dport=53)
    frame = eth(IP(src=OUTER1, dst=OUTER2) / GRE() / inner)
    return [(_set_bytes(frame, 35, bytes([v])), None) for v in (2, 4, 6)]


def pcap_version(path: Path, major: int) -> Path:
    """A classic pcap whose header claims another major version."""
    write_pcap(path, udp_icmp())
    data = bytearray(path.read_bytes())
    data[4:6] = struct.pack("<H", major)
    path.write_bytes(bytes(data))
    return path


def pcapng_cut_in_first_block(path: Path) -> Path:
    """A pcapng file that ends inside its Section Header Block."""
    write_pcapng(path, {LT_RAW: _b(IP(src=A4, dst=B4) / UDP(sport=1, dport=2))})
    data = bytearray(path.read_bytes())
    data[4:8] = struct.pack("<I", 256)  # the SHB claims more bytes than the file has
    path.write_bytes(bytes(data[:100]))
    return path


def pcapng_unknown_interface(path: Path) -> Path:
    """The third packet block names an interface its section never described."""
    frames = _b(*(IP(src=A4, dst=B4) / UDP(sport=40080 + i, dport=53) for i in range(5)))
    write_pcapng(path, {LT_RAW: frames})
    data = bytearray(path.read_bytes())
    # blocks: SHB (28) + IDB (32), then EPBs; the interface id is the first body word
    off = 28 + 32
    for _ in range(2):
        off += struct.unpack_from("<I", data, off + 4)[0]
    struct.pack_into("<I", data, off + 8, 7)
    path.write_bytes(bytes(data))
    return path


def pcapng_tsoffset(path: Path, offset_s: int = 3600) -> Path:
    """One interface with if_tsoffset (seconds added to every timestamp)."""

    def block(btype: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    opts = struct.pack("<HHq", 14, 8, offset_s) + struct.pack("<HH", 0, 0)
    out = [
        block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
        block(1, struct.pack("<HHI", LT_RAW, 0, 0) + opts),
    ]
    t = T0 // 1000  # default resolution: microseconds
    for data, _ in _b(
        IP(src=A4, dst=B4) / UDP(sport=40090, dport=53),
        IP(src=B4, dst=A4) / UDP(sport=53, dport=40090),
    ):
        out.append(
            block(6, struct.pack("<IIIII", 0, t >> 32, t & 0xFFFFFFFF, len(data), len(data)) + data)
        )
        t += 1000
    path.write_bytes(b"".join(out))
    return path


def ipv6_ext_cut_in_tunnel() -> Frames:
    """An IPv6 hop-by-hop header cut short, inside 6in4."""
    frame = bytes(
        eth(
            IP(src=OUTER1, dst=OUTER2)
            / IPv6(src=A6, dst=B6)
            / IPv6ExtHdrHopByHop()
            / UDP(sport=1, dport=2)
        )
    )
    return [(frame, 14 + 20 + 40 + 4)]

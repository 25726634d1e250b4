"""``--engine tshark``: Wireshark's dissectors through pyshark.

pyshark runs ``tshark -T pdml`` on the file and hands over one packet at a
time with its protocol layers in order. PDML (pyshark's default, not its
JSON/EK modes) is used on purpose: pyshark's JSON parser merges repeated
layers, so a VXLAN frame's inner ``eth``/``ip`` vanish behind the outer ones,
while in PDML every top-level ``<proto>`` is a layer of its own and the IP
header quoted by an ICMP error stays nested inside the ``icmp`` layer (never
taken for the innermost IP).

IP reassembly is off (``ip.defragment``/``ipv6.defragment`` FALSE), so
tshark sees the packets the native reader sees: a first fragment carries
the ports, later ones are bucket ``fragment``. The accounting rules are the
native reader's (``reference`` module doc). Like the scapy engine, the walk
only descends through tunnels the native reader decodes (GRE/ERSPAN,
IP-in-IP, 6in4, and VXLAN, Geneve, GRE-in-UDP, Teredo, GTP-U and AYIYA in
UDP, on the port the lower-port-first rule picks) even where tshark decodes
more (L2TP, CAPWAP, Teredo found by its heuristic on another port, ...).

Field values are tshark's ``show`` strings; the only byte position used is
where the innermost IPv4 header starts, to tell whether its options were
cut by the snaplen (tshark marks that as a short frame, not as a field).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Generator
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..tables import Bucket, PacketBatch
from .reference import FileFacts, PacketRow, ip_text_to_addr, plain_copy, tunnel_port, wrap_ns

NEEDS_TSHARK = "--engine tshark needs Wireshark's tshark (apt-get install tshark)"
NEEDS_PYSHARK = (
    "--engine tshark needs pyshark (pip install pyshark, or the zvr-audit[tshark] extra)"
)

PREFS = {"ip.defragment": "FALSE", "ipv6.defragment": "FALSE"}

# Wiretap encapsulation (frame.encap_type) → LINKTYPE, for inputs.captures.
_WTAP_TO_LINKTYPE = {
    1: 1,
    4: 9,
    7: 101,
    15: 0,
    19: 104,
    20: 105,
    23: 127,
    25: 113,
    39: 117,
    129: 228,
    130: 229,
    141: 239,
    210: 276,
    218: 274,
    **{45 + i: 147 + i for i in range(16)},
}
# layers tshark shows for a frame whose link layer it has no dissector for
_UNDISSECTED = frozenset({"data", "user_dlt", "pcap_pktdata"})
# UDP payload protocols that carry a packet, as the native reader decodes them
_UDP_TUNNELS = {
    "vxlan": 4789,
    "geneve": 6081,
    "gre": 4754,
    "teredo": 3544,
    "gtp": 2152,
    "ayiya": 5072,
}
# link and tunnel layers: cut short, they hide whether an IP header follows
_CARRIERS = frozenset(
    {
        "eth",
        "vlan",
        "ieee8021ad",
        "sll",
        "null",
        "loop",
        "ppp",
        "pppoes",
        "mpls",
        "pwethcw",
        "gre",
        "erspan",
        "vxlan",
        "geneve",
        "radiotap",
        "wlan_radio",
        "wlan",
        "llc",
        "ethertype",
        "raw",
        "pflog",
        "nflog",
        "ppi",
        "chdlc",
        "gtp",
        "teredo",
        "ayiya",
    }
)
_ETYPE_FIELDS = (
    "eth.type",
    "vlan.etype",
    "ieee8021ad.etype",
    "sll.etype",
    "sll.ltype",
    "ethertype.type",
    "llc.type",
    "gre.proto",
    "geneve.proto_type",
    "ppp.protocol",
    "chdlc.protocol",
)
# ethertypes (and PPP protocols) of IP or of a header that may carry it, as the native reader follows them
_CARRIER_ETYPES = frozenset(
    {
        0x0800,
        0x86DD,
        0x8847,
        0x8848,
        0x8864,
        0x880B,
        0x6558,
        0x88BE,
        0x22EB,
        0x8100,
        0x88A8,
        0x9100,
        0x9200,
        0x0021,
        0x0057,
        0x0281,
        0x0283,
    }
)
# IPv6 extension headers (next-header value → tshark's field prefix)
_EXT_NXT = {
    0: "ipv6.hopopts",
    43: "ipv6.routing",
    60: "ipv6.dstopts",
    44: "ipv6.fraghdr",
    135: "mip6",
    140: "shim6",
}
_NOT_A_LAYER = (
    "frame",
    "pkt_comment",
    "_ws.short",
    "_ws.malformed",
    "_ws.expert",
    "_ws.lua.fake",
    "_ws.unreassembled",
)


def frame_layer(pkt: Any) -> Any:
    """tshark's ``frame`` layer (pyshark takes a packet comment for it when there is one)."""
    if pkt.frame_info.layer_name == "frame":
        return pkt.frame_info
    return next((lay for lay in pkt.layers if lay.layer_name == "frame"), pkt.frame_info)


def check_available() -> None:
    """A clear InputError when pyshark or tshark is missing."""
    try:
        from pyshark.tshark.tshark import TSharkNotFoundException, get_process_path
    except ImportError:
        raise InputError(NEEDS_PYSHARK) from None
    try:
        get_process_path()
    except TSharkNotFoundException:
        raise InputError(NEEDS_TSHARK) from None


def _f(layer: Any, name: str) -> str | None:
    """First ``show`` value of a field of a pyshark PDML layer, or None."""
    v = layer._all_fields.get(name)
    if v is None:
        return None
    fields = getattr(v, "all_fields", None)
    first = fields[0] if fields else v
    return getattr(first, "show", None) if not isinstance(first, str) else first


def _nth(layer: Any, name: str, k: int, attr: str = "show") -> str | None:
    """The k-th ``show`` value (or other PDML attribute) of a repeated field, or None."""
    v = layer._all_fields.get(name)
    if v is None:
        return None
    fields = getattr(v, "all_fields", None) or [v]
    return getattr(fields[k], attr, None) if k < len(fields) else None


def _int(text: str | None, default: int = 0) -> int:
    if text is None or text == "":
        return default
    return int(text, 0)


def packet_row(pkt: Any) -> PacketRow:
    """One pyshark packet → its row (see the module doc)."""
    layers = [lay for lay in pkt.layers if lay.layer_name not in _NOT_A_LAYER]
    names = [lay.layer_name.lower() for lay in layers]  # pyshark spells tshark's "data" DATA
    frame = frame_layer(pkt)
    cap_len = _int(_f(frame, "frame.cap_len"))
    res: PacketRow | None = None
    i = 0
    # link and tunnel layers up to the first IP header
    while i < len(names) and names[i] not in ("ip", "ipv6"):
        i += 1
    while i < len(names):
        new, nxt = (
            _ip(layers, names, i, cap_len) if names[i] == "ip" else _ip6(layers, names, i, cap_len)
        )
        if new is None:  # this IP header is unreadable: the outer one's columns stand
            res = res.malformed() if res is not None else PacketRow(Bucket.MALFORMED)
            break
        res = new
        if nxt is None:
            break
        # descend through the tunnel's own layers (gre, erspan, vxlan, geneve, eth, vlan, mpls, ppp...)
        j = nxt
        while j < len(names) and names[j] not in ("ip", "ipv6", "tcp", "udp", "icmp", "icmpv6"):
            j += 1
        if j == len(names) or names[j] not in ("ip", "ipv6"):
            break  # not IP inside: the outer result stands
        i = j
    if res is not None:
        return res
    if not names:
        return PacketRow(Bucket.MALFORMED)  # not even a link header
    if set(names) <= _UNDISSECTED:
        return PacketRow(Bucket.UNSUPPORTED_LINK)
    short = any(lay.layer_name in ("_ws.short", "_ws.malformed") for lay in pkt.layers)
    if short and names[-1] in _CARRIERS:
        # a link or tunnel header cut short, or whole but what it announces is missing; an
        # ethertype of a protocol that is not IP and carries none (ARP...) is simply not IP
        etype = next(
            (_f(layers[-1], k) for k in _ETYPE_FIELDS if k in layers[-1]._all_fields), None
        )
        if etype is not None and _int(etype) not in _CARRIER_ETYPES:
            return PacketRow(Bucket.NON_IP)
        return PacketRow(Bucket.MALFORMED)
    return PacketRow(Bucket.NON_IP)


def _ip(layers: list, names: list[str], i: int, cap_len: int) -> tuple[PacketRow | None, int | None]:
    ip = layers[i]
    src, dst, hl = _f(ip, "ip.src"), _f(ip, "ip.dst"), _int(_f(ip, "ip.hdr_len"))
    if src is None or dst is None or _int(_f(ip, "ip.version")) != 4 or hl < 20:
        return None, None
    r = PacketRow(Bucket.OTHER_IP)
    r.ip_version = 4
    r.src, r.dst = ip_text_to_addr(src), ip_text_to_addr(dst)
    r.proto = _int(_f(ip, "ip.proto"))
    r.ip_id = _int(_f(ip, "ip.id"))
    if _int(_f(ip, "ip.frag_offset")):
        r.frag, r.bucket = 2, Bucket.FRAGMENT
        return r, None
    r.frag = 1 if _int(_f(ip, "ip.flags.mf")) else 0
    start = ip._all_fields["ip.version"]
    start = getattr(getattr(start, "all_fields", [start])[0], "pos", None)
    if start is not None and int(start) + hl > cap_len:
        return r.malformed(), None  # options cut by the snaplen
    return _upper(r, layers, names, i + 1)


def _ip6(layers: list, names: list[str], i: int, cap_len: int) -> tuple[PacketRow | None, int | None]:
    ip6 = layers[i]
    src, dst = _f(ip6, "ipv6.src"), _f(ip6, "ipv6.dst")
    if src is None or dst is None or _f(ip6, "ipv6.nxt") is None:
        return None, None
    r = PacketRow(Bucket.OTHER_IP)
    r.ip_version = 6
    r.src, r.dst = ip_text_to_addr(src), ip_text_to_addr(dst)
    # tshark nests the extension headers in the ipv6 layer: follow the chain
    # of next-header values through them (a name may repeat: two dstopts)
    nh = _int(_f(ip6, "ipv6.nxt"))
    used: dict[str, int] = {}
    j = i + 1
    for _ in range(32):
        ext = _EXT_NXT.get(nh)
        if ext is None:
            if nh == 51 and j < len(names) and names[j] == "ah":  # AH is a layer of its own
                nxt = _f(layers[j], "ah.next_header")
                if nxt is None:
                    return r.malformed(), None
                nh, j = _int(nxt), j + 1
                continue
            break
        k = used.get(ext, 0)
        used[ext] = k + 1
        nxt = _nth(ip6, f"{ext}.nxt", k)
        pos = _nth(ip6, f"{ext}.nxt", k, "pos")
        # every extension header is at least 8 bytes: fewer is a cut header (proto unknown)
        if nxt is None or (pos is not None and int(pos) + 8 > cap_len):
            return r.malformed(), None
        if ext == "ipv6.fraghdr":
            r.ip_id = _int(_nth(ip6, "ipv6.fraghdr.ident", k))
            if _int(_nth(ip6, "ipv6.fraghdr.offset", k)):
                r.frag, r.bucket, r.proto = 2, Bucket.FRAGMENT, _int(nxt)
                return r, None
            r.frag = 1 if _int(_nth(ip6, "ipv6.fraghdr.more", k)) else 0
        nh = _int(nxt)
    r.proto = nh
    return _upper(r, layers, names, j)


def _upper(r: PacketRow, layers: list, names: list[str], j: int) -> tuple[PacketRow, int | None]:
    p = r.proto
    name = names[j] if j < len(names) else None
    if p in (6, 17):
        key = "tcp" if p == 6 else "udp"
        if name != key:
            return r.malformed(), None
        l4 = layers[j]
        sport, dport = _f(l4, f"{key}.srcport"), _f(l4, f"{key}.dstport")
        if sport is None or dport is None:
            return r.malformed(), None  # cut before the ports
        r.sport, r.dport = int(sport), int(dport)
        r.bucket = Bucket.TCP if p == 6 else Bucket.UDP
        if p == 6:
            r.tcp_flags = _int(_f(l4, "tcp.flags")) & 0xFF
            return r, None
        inner = names[j + 1] if j + 1 < len(names) else None
        # a tunnel tshark decoded on the port the native rule picks (tshark's Teredo
        # heuristic, say, may claim any port)
        if inner is not None and _UDP_TUNNELS.get(inner) == tunnel_port(r.sport, r.dport):
            return r, j + 1
        return r, None
    if p in (1, 58):
        r.bucket = Bucket.ICMP
        if name in ("icmp", "icmpv6"):
            r.icmp = _icmp_error(layers[j], name)
        return r, None
    if p in (4, 41):  # IP-in-IP, 6in4 (a partial inner header is a layer whose fields are missing)
        if name not in ("ip", "ipv6"):
            return r, None  # cut before the inner header: the outer result stands
        return r, j
    if p == 47 and name == "gre":
        return r, j
    return r, None


def _icmp_error(icmp: Any, name: str) -> tuple | None:
    """(type, code, quoted src, dst, proto, sport, dport) of a destination
    unreachable quoting TCP/UDP; tshark nests the quoted header's fields in
    the icmp layer."""
    t, code = _int(_f(icmp, f"{name}.type"), -1), _int(_f(icmp, f"{name}.code"))
    if name == "icmp":
        if t != 3:
            return None
        src, dst = _f(icmp, "ip.src"), _f(icmp, "ip.dst")
        if (
            src is None
            or dst is None
            or _int(_f(icmp, "ip.frag_offset"))
            or _int(_f(icmp, "ip.hdr_len")) < 20
        ):
            return None
        qp = _int(_f(icmp, "ip.proto"))
    else:
        if t != 1:
            return None
        src, dst = _f(icmp, "ipv6.src"), _f(icmp, "ipv6.dst")
        if src is None or dst is None:
            return None
        qp = _int(_f(icmp, "ipv6.nxt"))
    if qp not in (6, 17):
        return None
    key = "tcp" if qp == 6 else "udp"
    sport, dport = _f(icmp, f"{key}.srcport"), _f(icmp, f"{key}.dstport")
    if sport is None or dport is None:
        return None
    return (t, code, ip_text_to_addr(src), ip_text_to_addr(dst), qp, int(sport), int(dport))


# ---- reading -------------------------------------------------------------------
def _ns(epoch: str | None) -> int | None:
    if not epoch:
        return None
    return wrap_ns(int(Decimal(epoch) * 1_000_000_000))


def _tshark_error(cap: Any) -> str | None:
    """tshark's complaint about the file, from its last stderr line.

    pyshark raises its crash exception after the last packet when tshark's
    exit status is not 0 or 1. A damaged file gives status 2 and a message
    naming the damage. But the status can also be a made-up 255: when a
    ``subprocess.Popen`` elsewhere in the process reaps the finished tshark
    first, asyncio's child watcher logs "Unknown child process" and reports
    255. Then the last stderr line is tshark's banner (or nothing), every
    packet has been read, and nothing is wrong with the file."""
    line = (cap._last_error_line or "").strip()
    if not line or "Running as user" in line:
        return None
    return line


def read_file(
    path: Path, facts: FileFacts, batch_packets: int
) -> Generator[PacketBatch, None, None]:
    """One capture → PacketBatch chunks of ``batch_packets`` rows; fills ``facts``."""
    import pyshark
    from pyshark.capture.capture import TSharkCrashException

    rows = facts.rows
    with plain_copy(path, facts.compression) as plain:
        loop = asyncio.new_event_loop()
        # pyshark logs tshark's stderr; library code does not print
        # (and asyncio's child watcher may log a process pyshark already reaped)
        logs = [logging.getLogger(n) for n in ("pyshark", "asyncio")]
        levels = [lg.level for lg in logs]
        for lg in logs:
            lg.setLevel(logging.CRITICAL)
        cap = pyshark.FileCapture(
            str(plain), keep_packets=False, override_prefs=PREFS, eventloop=loop
        )
        crash: str | None = None
        prev_ts = 0
        try:
            try:
                for pkt in cap:
                    frame = frame_layer(pkt)
                    lt = _WTAP_TO_LINKTYPE.get(_int(_f(frame, "frame.encap_type")))
                    if lt is not None:
                        facts.note_linktype(lt)
                    ts_ns = _ns(_f(frame, "frame.time_epoch"))
                    facts.note_time(
                        ts_ns
                    )  # a Simple Packet Block has none: the previous packet's time
                    ts_ns = prev_ts if ts_ns is None else ts_ns
                    prev_ts = ts_ns
                    wire_len = _int(_f(frame, "frame.len"))
                    r = packet_row(pkt)
                    if r.bucket == Bucket.UNSUPPORTED_LINK:
                        facts.note_unsupported(-1 if lt is None else lt)
                    rows.add_row(ts_ns, wire_len, r)
                    facts.packets += 1
                    facts.bytes += wire_len
                    if len(rows) >= batch_packets:
                        yield rows.take()
            except TSharkCrashException:
                crash = _tshark_error(cap)
            finally:
                try:
                    cap.close()
                except TSharkCrashException:
                    crash = crash or _tshark_error(cap)
                cap._running_processes.clear()  # closed: pyshark's __del__ must not close (and raise) again
                loop.close()
        finally:
            for lg, lv in zip(logs, levels):
                lg.setLevel(lv)
        if crash:
            facts.damage(None, f"tshark: {crash.removeprefix('tshark: ')}")
        if len(rows):
            yield rows.take()


__all__ = ["NEEDS_TSHARK", "check_available", "packet_row", "read_file"]

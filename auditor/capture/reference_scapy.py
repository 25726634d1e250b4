"""``--engine scapy``: scapy's readers and dissectors, one packet at a time.

Slow (a Python object tree per packet) but independent of the native
reader's byte walk: scapy's pcap/pcapng readers find the records, scapy's
link-layer table (``conf.l2types``) and layer bindings find the headers,
with the contrib layers for MPLS, Geneve and ERSPAN loaded. Any link type
scapy knows is read; others are bucket ``unsupported_link``.

The accounting rules are the native reader's (``reference`` module doc):
the walk descends through the encapsulations the native reader decodes
(VLAN tags, MPLS, PPP/PPPoE, GRE/ERSPAN, IP-in-IP, 6in4, and the UDP tunnels
VXLAN, Geneve, GRE-in-UDP and GTP-U) and stops at anything else scapy may
also decode (MPLS in IP, ...). Which UDP port names the tunnel follows the
native reader's (and tshark's) rule, ``tunnel_port``: the lower port first;
scapy's own bindings (VXLAN on any of five ports, either direction) are not
used for that choice, only its classes to dissect the tunnel header. scapy
has no Teredo or AYIYA layer: those stay the outer UDP packet here. The IP
header quoted inside an ICMP error is scapy's ``IPerror``/``IPerror6``,
never taken for a layer.

scapy's own limits, kept rather than patched over: its pcapng reader ignores
``if_tsoffset``; it has no NFLOG, Teredo or AYIYA layer.

Lengths come from the bytes each layer was given (``layer.original``), never
from scapy's field defaults: scapy fills fields a short buffer lacked with
defaults (a TCP header cut after its ports would read flags ``S``).
"""

from __future__ import annotations

import importlib
import logging
import struct
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..tables import Bucket, PacketBatch
from .reference import FileFacts, PacketRow, open_decompressed, tunnel_port, wrap_ns


class _Scapy:
    """scapy's classes this engine uses, imported once on first use (importing
    scapy's layers takes a second; the native engine never pays it)."""

    def __init__(self) -> None:
        with _quiet():
            import scapy.layers.all  # noqa: F401 - registers every standard layer and link type

            for mod in (
                "scapy.contrib.mpls",
                "scapy.contrib.geneve",
                "scapy.contrib.erspan",
                "scapy.contrib.gtp",
                "scapy.layers.pflog",
            ):
                importlib.import_module(mod)
        from scapy.config import conf
        from scapy.contrib import erspan, mpls
        from scapy.contrib.geneve import GENEVE
        from scapy.contrib.gtp import GTP_U_Header
        from scapy.layers import dot11, inet, inet6, l2, ppp
        from scapy.layers.ipsec import AH
        from scapy.layers.vxlan import VXLAN
        from scapy.packet import NoPayload, Padding, Raw

        self.IP, self.IPv6, self.UDP, self.GRE = inet.IP, inet6.IPv6, inet.UDP, inet.GRE
        self.RAW, self.PADDING, self.NOPAYLOAD = Raw, Padding, NoPayload
        self.MPLS, self.GTP_U = mpls.MPLS, GTP_U_Header
        self.IP6_EXT = (
            inet6.IPv6ExtHdrHopByHop,
            inet6.IPv6ExtHdrRouting,
            inet6.IPv6ExtHdrDestOpt,
            inet6.IPv6ExtHdrFragment,
            AH,
        )
        self.IP6_FRAG = inet6.IPv6ExtHdrFragment
        self.ICMP, self.IPERROR = inet.ICMP, inet.IPerror
        self.ICMP6_UNREACH, self.IPERROR6 = inet6.ICMPv6DestUnreach, inet6.IPerror6
        self.L2TYPES = conf.l2types.num2layer
        # UDP port (tunnel_port) -> class of the tunnel header
        self.UDP_TUNNELS = {4789: VXLAN, 6081: GENEVE, 4754: inet.GRE, 2152: GTP_U_Header}
        # link and tunnel layers: a header that may lead to an IP one
        self.CARRIERS = {
            l2.Ether,
            l2.Dot3,
            l2.Dot1Q,
            l2.Dot1AD,
            l2.LLC,
            l2.SNAP,
            l2.CookedLinux,
            l2.CookedLinuxV2,
            l2.Loopback,
            inet.GRE,
            ppp.PPP,
            ppp.PPPoE,
            ppp.HDLC,
            mpls.MPLS,
            mpls.EoMCW,
            erspan.ERSPAN,
            erspan.ERSPAN_II,
            erspan.ERSPAN_III,
            erspan.ERSPAN_PlatformSpecific,
            VXLAN,
            GENEVE,
            dot11.RadioTap,
            dot11.Dot11,
            dot11.Dot11QoS,
            GTP_U_Header,
        }
        # (underlayer class) -> (field, values, payload class): encapsulations the native
        # reader follows that scapy does not bind, applied here rather than globally:
        # MPLS over PPP (RFC 3032), and the BSD loopback address families for IPv6
        # (Linux, Windows, Net/OpenBSD, FreeBSD, Darwin) in either byte order, where
        # scapy binds only 24 and the running host's AF_INET6
        af6 = (10, 23, 24, 28, 30)
        self.LOCAL_BINDINGS: dict[Any, tuple[str, tuple[int, ...], Any]] = {
            ppp.PPP: ("proto", (0x0281, 0x0283), mpls.MPLS),
            l2.Loopback: (
                "type",
                af6 + tuple(int.from_bytes(a.to_bytes(4, "little"), "big") for a in af6),
                inet6.IPv6,
            ),
        }


S: Any = None


def _load() -> Any:
    global S
    if S is None:
        S = _Scapy()
    return S


@contextmanager
def _quiet() -> Iterator[list[str]]:
    """scapy logs damaged records and odd fields; library code does not print.
    The messages are collected instead (they tell a damaged end from a clean one)."""
    said: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage())

    handler = Collect(logging.WARNING)
    loggers = [logging.getLogger(n) for n in ("scapy", "scapy.runtime", "scapy.loading")]
    saved = [(lg.level, lg.propagate, lg.filters[:]) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
        lg.propagate = False
        lg.filters.clear()  # scapy's frequency filter would drop repeats
    loggers[1].addHandler(handler)
    try:
        yield said
    finally:
        loggers[1].removeHandler(handler)
        for lg, (level, propagate, filters) in zip(loggers, saved):
            lg.setLevel(level)
            lg.propagate = propagate
            lg.filters[:] = filters


_V4 = 0x0000FFFF00000000
# IPv6 next-header values the native reader walks as extension headers
_EXT_NH = (0, 43, 60, 44, 51, 135, 139, 140)


def _addr4(text: str) -> tuple[int, int]:
    a, b, c, d = (int(x) for x in text.split("."))
    return 0, _V4 | (a << 24) | (b << 16) | (c << 8) | d


def _addr6(text: str) -> tuple[int, int]:
    import ipaddress

    v = int(ipaddress.IPv6Address(text))
    return v >> 64, v & 0xFFFFFFFFFFFFFFFF


_FIXED: dict[Any, int] = {}


def _fixed_len(cls: Any) -> int:
    """Bytes of a layer's header as scapy builds it with default fields."""
    n = _FIXED.get(cls)
    if n is None:
        try:
            n = len(bytes(cls()))
        except Exception:  # noqa: BLE001 - some layers cannot be built bare
            n = 0
        _FIXED[cls] = n
    return n


def _avail(layer: Any) -> int:
    """Bytes scapy handed to this layer when dissecting."""
    return len(layer.original or b"")


def _ports_flags(l4: Any, proto: int) -> tuple[int, int, int] | None:
    """(sport, dport, tcp_flags) from the transport header's own bytes, or
    None when they are cut short before the ports. scapy may give a short
    header as Raw, so the bytes are read, not scapy's fields (see module doc)."""
    data = bytes(l4.original or b"") if not isinstance(l4, S.NOPAYLOAD) else b""
    if len(data) < 4:
        return None
    sport, dport = struct.unpack("!HH", data[:4])
    flags = data[13] if proto == 6 and len(data) >= 14 else 0
    return sport, dport, flags


def _malformed(outer: PacketRow | None) -> PacketRow:
    """An IP header that cannot be read: the row keeps the innermost readable
    IP header's columns (the outer one in a tunnel), as the native reader does."""
    return outer.malformed() if outer is not None else PacketRow(Bucket.MALFORMED)


def dissect(linktype: int, data: bytes) -> PacketRow:
    """One record's bytes → its row, by scapy's dissectors."""
    _load()
    cls = S.L2TYPES.get(linktype)
    if cls is None:
        return PacketRow(Bucket.UNSUPPORTED_LINK)
    try:
        pkt = cls(data)
    except Exception:  # noqa: BLE001 - scapy raises anything on hostile bytes; a record it cannot parse
        return PacketRow(Bucket.MALFORMED)
    return _walk(pkt)


def _walk(pkt: Any) -> PacketRow:
    res: PacketRow | None = None  # the innermost IP layer's result so far
    layer = pkt
    while True:
        t = type(layer)
        if t is S.IP or t is S.IPv6:
            new, layer = _ip(layer) if t is S.IP else _ip6(layer)
            if new is None:
                return _malformed(res)  # this IP header is unreadable
            res = new
            if layer is None:
                return res
            continue
        if isinstance(layer, S.NOPAYLOAD) or t is S.PADDING:
            return res or PacketRow(Bucket.NON_IP)
        if t in S.CARRIERS and isinstance(layer.payload, S.NOPAYLOAD):
            if _avail(layer) < _fixed_len(t):
                # a link or tunnel header cut short (scapy fills the missing fields with defaults)
                return res or PacketRow(Bucket.MALFORMED)
            want = layer.guess_payload_class(b"")
            if want is S.IP or want is S.IPv6:
                # the IP header it announces is missing: malformed, but a tunnel cut before
                # its inner IP header leaves the outer result standing
                return res or PacketRow(Bucket.MALFORMED)
            if (want in S.CARRIERS or t is S.MPLS) and res is None:
                return PacketRow(Bucket.MALFORMED)  # the next header it announces is missing
        if t is S.RAW and type(layer.underlayer) in S.LOCAL_BINDINGS:
            field, values, inner = S.LOCAL_BINDINGS[type(layer.underlayer)]
            if getattr(layer.underlayer, field) in values:
                layer = inner(bytes(layer))  # a binding scapy lacks, applied here, not globally
                continue
        if t is S.RAW:
            # scapy gives up: either nothing is bound (not IP), or the bound
            # layer could not be dissected from the bytes (cut short)
            under = layer.underlayer
            want = under.guess_payload_class(bytes(layer)) if under is not None else S.RAW
            if want is S.IP or want is S.IPv6:
                return _malformed(res)  # an IP header cut short, also inside a tunnel
            if res is not None:
                return (
                    res  # a tunnel that never reached an inner IP header: the outer result stands
                )
            # a carrier cut short is malformed; any other non-IP protocol is non-IP, cut or not
            return PacketRow(Bucket.MALFORMED if want in S.CARRIERS else Bucket.NON_IP)
        layer = layer.payload


def _ip(ip: Any) -> tuple[PacketRow | None, Any]:
    """An IPv4 layer → (its row or None when unreadable, the layer to descend into or None)."""
    n = _avail(ip)
    if n < 20 or ip.version != 4 or ip.ihl is None or ip.ihl < 5:
        return None, None
    r = PacketRow(Bucket.OTHER_IP)
    r.ip_version = 4
    r.src, r.dst = _addr4(ip.src), _addr4(ip.dst)
    r.proto = int(ip.proto)
    r.ip_id = int(ip.id)
    if ip.frag:
        r.frag, r.bucket = 2, Bucket.FRAGMENT
        return r, None
    r.frag = 1 if ip.flags.MF else 0
    if n < ip.ihl * 4:
        return r.malformed(), None  # options cut by the snaplen
    return _upper(r, ip.payload, ip)


def _ip6(ip6: Any) -> tuple[PacketRow | None, Any]:
    if _avail(ip6) < 40 or ip6.version != 6:
        return None, None
    r = PacketRow(Bucket.OTHER_IP)
    r.ip_version = 6
    r.src, r.dst = _addr6(ip6.src), _addr6(ip6.dst)
    nh = int(ip6.nh)
    layer = ip6.payload
    while True:
        if nh in _EXT_NH and not isinstance(layer, S.IP6_EXT):
            return r.malformed(), None  # an extension header scapy could not read: cut short
        if not isinstance(layer, S.IP6_EXT):
            break
        if _avail(layer) < 8:
            return r.malformed(), None
        if type(layer) is S.IP6_FRAG:
            r.ip_id = int(layer.id)
            if layer.offset:
                r.frag, r.bucket, r.proto = 2, Bucket.FRAGMENT, int(layer.nh)
                return r, None
            r.frag = 1 if layer.m else 0
        nh = int(layer.nh)
        layer = layer.payload
    r.proto = nh
    return _upper(r, layer, ip6)


def _upper(r: PacketRow, l4: Any, ip: Any) -> tuple[PacketRow, Any]:
    """The payload of the innermost IP header seen so far: ports, ICMP, or a tunnel."""
    p = r.proto
    if p in (6, 17):
        pf = _ports_flags(l4, p)
        if pf is None:
            return r.malformed(), None  # cut before the ports
        r.sport, r.dport, r.tcp_flags = pf
        r.bucket = Bucket.TCP if p == 6 else Bucket.UDP
        if p == 17:
            inner = _udp_tunnel(l4, r.sport, r.dport)
            if inner is not None:
                return r, inner
        return r, None
    if p in (1, 58):
        r.bucket = Bucket.ICMP
        r.icmp = _icmp_error(l4, p)
        return r, None
    if p in (4, 41, 47):  # IP-in-IP, 6in4, GRE
        if isinstance(l4, S.NOPAYLOAD):
            return r, None  # cut before the inner header: the outer result stands
        if type(l4) is S.RAW:
            if p in (4, 41):
                return r.malformed(), None  # the inner IP header is cut short
            return r, None
        return r, l4
    return r, None


def _udp_tunnel(udp: Any, sport: int, dport: int) -> Any:
    """The layer inside a UDP tunnel, dissected by scapy's class for the
    tunnel header (whatever port scapy itself binds it to), or None."""
    cls = S.UDP_TUNNELS.get(tunnel_port(sport, dport))
    if cls is None or type(udp) is not S.UDP:
        return None
    data = bytes(udp.payload)
    if not data:
        return None
    try:
        header = cls(data)
    except Exception:  # noqa: BLE001 - scapy raises anything on hostile bytes
        return None
    if cls is S.GTP_U:
        # only a G-PDU (message type 255) carries a packet, and only IP counts
        if header.gtp_type != 255 or (data[header_len(header) :][:1] or b"\0")[0] >> 4 not in (
            4,
            6,
        ):
            return None
        return header
    return header if cls is S.GRE else header.payload


def header_len(layer: Any) -> int:
    return _avail(layer) - (0 if isinstance(layer.payload, S.NOPAYLOAD) else _avail(layer.payload))


def _icmp_error(icmp: Any, proto: int) -> tuple | None:
    """(type, code, quoted src, dst, proto, sport, dport) of a destination
    unreachable that quotes a TCP/UDP header, else None."""
    if proto == 1 and type(icmp) is S.ICMP and icmp.type == 3 and type(icmp.payload) is S.IPERROR:
        q = icmp.payload
        if (
            _avail(q) < 20
            or q.ihl is None
            or q.ihl < 5
            or (q.frag or 0) != 0
            or q.proto not in (6, 17)
        ):
            return None
        pf = _ports_flags(q.payload, 0)
        if pf is None:
            return None
        return (3, int(icmp.code), _addr4(q.src), _addr4(q.dst), int(q.proto), pf[0], pf[1])
    if proto == 58 and type(icmp) is S.ICMP6_UNREACH and type(icmp.payload) is S.IPERROR6:
        q = icmp.payload
        if _avail(q) < 40 or q.nh not in (6, 17):
            return None
        pf = _ports_flags(q.payload, 0)
        if pf is None:
            return None
        return (1, int(icmp.code), _addr6(q.src), _addr6(q.dst), int(q.nh), pf[0], pf[1])
    return None


# ---- reading -------------------------------------------------------------------
def read_file(
    path: Path, facts: FileFacts, batch_packets: int
) -> Generator[PacketBatch, None, None]:
    """One capture → PacketBatch chunks of ``batch_packets`` rows; fills ``facts``."""
    _load()
    from scapy.error import Scapy_Exception
    from scapy.utils import RawPcapNgReader, RawPcapReader

    rows = facts.rows
    with open_decompressed(path, facts.compression) as f, _quiet() as said:
        try:
            # scapy's metaclass picks its pcapng reader by magic (and takes a file object)
            f = _Tracking(f)
            reader: Any = RawPcapReader(f)  # type: ignore[arg-type]
        except (Scapy_Exception, EOFError, OSError, struct.error) as e:
            facts.damage(0, f"scapy cannot read the file header ({e})")
            return
        pcapng = isinstance(reader, RawPcapNgReader)
        if not pcapng:
            facts.note_linktype(reader.linktype)
            nano = bool(getattr(reader, "nano", False))
        prev_ts = 0
        while True:
            start = _tell(f)
            said.clear()  # only what scapy says about the record it reads next counts
            try:
                # scapy's own record walk, without its MTU cut
                data, meta = reader._read_packet(size=1 << 31)
            except EOFError:
                # a clean end reads nothing (pcap) or only whole blocks (pcapng: scapy
                # says nothing); a cut one consumed part of a record header or block
                asked, got = f.last
                cut = 0 < got < asked  # the last read found some bytes, not all
                if pcapng and (cut or any(m.startswith("PcapNg") for m in said) or f.read(1)):
                    facts.warn_at(start, "file ends in the middle of a block")
                elif not pcapng and _tell(f) != start:
                    facts.warn_at(start, "file ends in the middle of a record header")
                break
            except (Scapy_Exception, struct.error, OSError, ValueError) as e:
                facts.damage(start, f"scapy stops here ({e})")
                break
            if any("invalid interface id" in m for m in said):
                # scapy skips a packet block naming an interface its section has not
                # described and reads on; the native reader and tshark stop there
                facts.damage(start, "packet block for an interface its section has not described")
                break
            if pcapng:
                for iface in reader.interfaces:
                    facts.note_linktype(iface[0])
                linktype = meta.linktype
                if meta.tshigh is None:  # Simple Packet Block: no time, the previous packet's
                    ts_ns, dated = prev_ts, False
                else:
                    ticks = (meta.tshigh << 32) + meta.tslow
                    res = int(meta.tsresol)
                    ts_ns = wrap_ns(ticks * 1_000_000_000 // res)
                    dated = True
            else:
                if len(data) < meta.caplen:  # cut short by the end of the file: not read
                    facts.warn_at(start, "file ends in the middle of a record")
                    break
                linktype = reader.linktype
                ts_ns = meta.sec * 1_000_000_000 + meta.usec * (1 if nano else 1000)
                dated = True
            prev_ts = ts_ns
            if dated:
                facts.note_time(ts_ns)
            r = dissect(linktype, data)
            if r.bucket == Bucket.UNSUPPORTED_LINK:
                facts.note_unsupported(linktype)
            rows.add_row(ts_ns, meta.wirelen, r)
            facts.packets += 1
            facts.bytes += meta.wirelen
            if len(rows) >= batch_packets:
                yield rows.take()
        if len(rows):
            yield rows.take()


def first_packet_ts_ns(path: Path) -> int | None:
    """Time of a file's first packet (orders several files); None when it has
    none or cannot be read (reading it for real then says why)."""
    from ..errors import InputError
    from .reference import sniff

    facts = FileFacts(path)
    try:
        sniff(path, facts)
        gen = read_file(path, facts, 1)
        try:
            for batch in gen:
                return int(batch.ts_ns[0])
        finally:
            gen.close()
    except InputError:
        return None
    return None


class _Tracking:
    """A file object that remembers its last read (asked, got): scapy's pcapng
    reader says nothing when the file ends inside the next block's type field."""

    def __init__(self, f: Any) -> None:
        self._f = f
        self.last = (0, 0)

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.last = (n, len(data))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


def _tell(f: Any) -> int | None:
    try:
        return int(f.tell())
    except (OSError, ValueError, AttributeError):
        return None


__all__ = ["dissect", "first_packet_ts_ns", "read_file"]

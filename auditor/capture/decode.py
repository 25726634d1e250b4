"""Vectorised header decode: the first bytes of many records → packet columns.

Input is a 2-D uint8 array, one row per record holding its first ``W`` bytes
(bytes past the record's captured length are whatever followed it in the file
and are never trusted: every read is checked against ``caplen`` first).

Each row carries a small state machine (``_st``: what sits at ``_off``). One
*iteration* runs every state's handler once over all rows in that state, so
the Python loop is over encapsulation depth, never over packets. A row whose
next header lies past ``W`` but inside its captured bytes is flagged ``wide``
and decoded again by the caller from a wider copy.

The innermost IP header wins (SPEC section 5): an inner IP layer overwrites
the outer one's columns; a tunnel whose payload is not IP (ARP inside VXLAN)
or is cut short before an IP header keeps the outer layer's result, as
tshark's innermost view does (also a record that ends exactly where the inner
IP header would start; 1 to 19 bytes of it are malformed).

Header bytes end at the captured length and at each IP datagram's own length
(IPv4 total length, IPv6 payload length; 0 means TCP segmentation offload or
a jumbogram: no limit): Ethernet padding and bytes past a short datagram are
no header's, as tshark and scapy read them.
"""

from __future__ import annotations

import numpy as np

from ..tables import IPV4_MAPPED_LO_PREFIX, PACKET_COLUMNS, Bucket

# Row states: what is found at the row's current offset.
DONE, LINK, ETH, ETYPE, MPLS, PPP, WLAN, IP4, IP6, IP6EXT, L4 = range(11)

# Wire values (IEEE 802 ethertypes, PPP protocol numbers, IP protocols).
_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100, 0x9200)  # 802.1Q, 802.1ad, old QinQ TPIDs
_IPV6_EXT = (0, 43, 60, 135, 139, 140)  # hop-by-hop, routing, dest opts, mobility, HIP, shim6
_AF_INET6 = (10, 23, 24, 28, 30)  # Linux, Windows, NetBSD/OpenBSD, FreeBSD, Darwin


def _any_of(a: np.ndarray, values: tuple[int, ...]) -> np.ndarray:
    """``np.isin`` for a handful of values, without its sort/hash overhead."""
    out = a == values[0]
    for v in values[1:]:
        out |= a == v
    return out

MAX_CAPLEN = 256 * 1024  # the reader never hands over a longer record
_UDP_TUNNEL_PORTS = (4789, 6081, 4754, 3544, 2152, 5072, 1701)  # VXLAN, Geneve, GRE, Teredo, GTP-U, AYIYA, L2TP
_MAX_DEPTH = 24  # iterations; each advances every live row, so this bounds nesting

# LINKTYPE values decoded here (https://www.tcpdump.org/linktypes.html).
LT_NULL, LT_EN10MB, LT_PPP, LT_RAW12, LT_RAW14, LT_PPP_HDLC, LT_PPP_ETHER = 0, 1, 9, 12, 14, 50, 51
LT_RAW, LT_C_HDLC, LT_IEEE802_11, LT_LOOP, LT_LINUX_SLL = 101, 104, 105, 108, 113
LT_RADIOTAP, LT_IPV4, LT_IPV6, LT_MPACKET, LT_LINUX_SLL2 = 127, 228, 229, 274, 276
LT_PFLOG, LT_PPI, LT_NFLOG = 117, 192, 239
DECODED_LINKTYPES = frozenset(
    {LT_NULL, LT_EN10MB, LT_PPP, LT_RAW12, LT_RAW14, LT_PPP_HDLC, LT_PPP_ETHER, LT_RAW, LT_C_HDLC,
     LT_IEEE802_11, LT_LOOP, LT_LINUX_SLL, LT_RADIOTAP, LT_IPV4, LT_IPV6, LT_MPACKET, LT_LINUX_SLL2,
     LT_PFLOG, LT_PPI, LT_NFLOG}
)


class Decoded:
    """What one decode call gives: ``columns``, one array per COLUMN_NAMES
    entry (the packet columns but time and length), also read as attributes
    (``d.bucket``); ``wide``, the rows to decode again from a wider window;
    ``icmp``, the ICMP unreachables quoting TCP/UDP ("row" = row index)."""

    def __init__(self, columns: dict[str, np.ndarray], wide: np.ndarray, icmp: dict[str, np.ndarray]) -> None:
        self.columns = columns
        self.wide = wide
        self.icmp = icmp

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["columns"][name]
        except KeyError:
            raise AttributeError(name) from None


# The packet columns a decode writes (all but the record header's time and length).
COLUMN_NAMES = tuple(c.name for c in PACKET_COLUMNS if c.name not in ("ts_ns", "wire_len"))
_COLUMN_DTYPES = {c.name: np.dtype(c.dtype) for c in PACKET_COLUMNS if c.name in COLUMN_NAMES}
ICMP_DTYPES = {"row": "int64", "icmp_type": "uint8", "icmp_code": "uint8", "reporter_hi": "uint64",
               "reporter_lo": "uint64", "src_hi": "uint64", "src_lo": "uint64", "dst_hi": "uint64",
               "dst_lo": "uint64", "proto": "uint8", "sport": "uint16", "dport": "uint16"}
ICMP_NAMES = tuple(ICMP_DTYPES)


class _Decoder:
    def __init__(self, rows: np.ndarray, caplen: np.ndarray, link: np.ndarray) -> None:
        n, self.W = rows.shape
        self.A = rows
        self.cap = caplen.astype(np.int64)
        # Where the bytes that may still be read end: the captured length, cut
        # back to each IP datagram's own length as headers are read (bytes
        # past a datagram's end, such as Ethernet padding, are no header's).
        self.end = self.cap.copy()
        self.link = link
        self.st = np.full(n, LINK, np.int8)
        self.off = np.zeros(n, np.int64)
        self.val = np.zeros(n, np.int64)  # ethertype / IPv6 next header / IP protocol, per state
        self.had_ip = np.zeros(n, bool)
        self.gre_seq = np.zeros(n, bool)  # ERSPAN II header present only with a GRE sequence number
        self.wide = np.zeros(n, bool)
        self.bucket = np.full(n, Bucket.NON_IP, np.uint8)
        self.ip_version = np.zeros(n, np.uint8)
        self.src_hi = np.zeros(n, np.uint64)
        self.src_lo = np.zeros(n, np.uint64)
        self.dst_hi = np.zeros(n, np.uint64)
        self.dst_lo = np.zeros(n, np.uint64)
        self.proto = np.zeros(n, np.uint8)
        self.sport = np.zeros(n, np.uint16)
        self.dport = np.zeros(n, np.uint16)
        self.tcp_flags = np.zeros(n, np.uint8)
        self.ip_id = np.zeros(n, np.uint32)
        self.frag = np.zeros(n, np.uint8)
        self.icmp_rows: list[np.ndarray] = []
        self.wlan_pad = np.zeros(n, bool)  # radiotap Flags 0x20: 802.11 header padded to 32 bits

    # ---- byte access (callers have checked the bounds) -------------------
    def take(self, r: np.ndarray, o: np.ndarray, width: int) -> np.ndarray:
        """Bytes ``o .. o+width`` of rows ``r`` as an (m, width) array.

        Offsets take few distinct values (one per encapsulation seen: plain,
        one VLAN tag, IPv4 options...), so rows are gathered per distinct
        offset with a column slice; only many distinct offsets fall back to a
        per-byte gather."""
        if not len(o):
            return np.zeros((0, width), np.uint8)
        lo, hi = int(o.min()), int(o.max())
        if lo == hi:
            if len(r) == len(self.st):  # r is every row, in order
                return self.A[:, lo : lo + width]
            return self.A[r, lo : lo + width]
        seen = np.flatnonzero(np.bincount(o - lo)) + lo if hi - lo < 4096 else None
        if seen is not None and len(seen) <= 8:
            out = np.empty((len(r), width), np.uint8)
            for c in seen.tolist():
                sel = np.flatnonzero(o == c)
                out[sel] = self.A[r[sel], c : c + width]
            return out
        flat = self.A.reshape(-1)
        base = r * self.W + o
        out = np.empty((len(r), width), np.uint8)
        for k in range(width):
            out[:, k] = flat[base + k]
        return out

    def every(self, r: np.ndarray) -> np.ndarray | slice:
        """``r`` as a slice when it is every row: scatters become copies."""
        return slice(None) if len(r) == len(self.st) else r

    def u8(self, r: np.ndarray, o: np.ndarray) -> np.ndarray:
        return self.take(r, o, 1)[:, 0].astype(np.int64)

    def be16(self, r: np.ndarray, o: np.ndarray) -> np.ndarray:
        b = self.take(r, o, 2)
        return (b[:, 0].astype(np.int64) << 8) | b[:, 1]

    def be32(self, r: np.ndarray, o: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self.take(r, o, 4)).view(">u4").ravel().astype(np.uint64)

    def be64(self, r: np.ndarray, o: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self.take(r, o, 8)).view(">u8").ravel().astype(np.uint64)

    # ---- bounds --------------------------------------------------------------
    def need(self, r: np.ndarray, end: np.ndarray, *, ip_level: bool = False) -> np.ndarray:
        """Mask of rows whose bytes up to ``end`` are present. Rows cut short
        end here (malformed, or the outer result in a tunnel); rows whose
        bytes lie past the window are flagged for a wider decode."""
        trunc = end > self.end[r]
        wide = ~trunc & (end > self.W)
        if trunc.any():
            self.cut(r[trunc], ip_level=ip_level)
        if wide.any():
            self.wide[r[wide]] = True
            self.st[r[wide]] = DONE
        return ~(trunc | wide)

    def cut(self, r: np.ndarray, *, ip_level: bool = False) -> None:
        """A header cut short before the ports. Inside a tunnel that never
        reached an inner IP header the outer layer's result stands."""
        self.st[r] = DONE
        if ip_level:
            self.bucket[r] = Bucket.MALFORMED
        else:
            self.bucket[r[~self.had_ip[r]]] = Bucket.MALFORMED

    def non_ip(self, r: np.ndarray) -> None:
        self.st[r] = DONE
        self.bucket[r[~self.had_ip[r]]] = Bucket.NON_IP

    def goto(self, r: np.ndarray, state: int, off: np.ndarray | int, val: np.ndarray | int | None = None) -> None:
        rr = self.every(r)
        self.st[rr] = state
        self.off[rr] = off
        if val is not None:
            self.val[rr] = val

    # ---- link layer ------------------------------------------------------------
    def h_link(self, r: np.ndarray) -> None:
        lts = self.link[r]
        kinds = [lts[0]] if lts.min() == lts.max() else np.unique(lts)
        for lt in kinds:
            g = r if len(kinds) == 1 else r[lts == lt]
            lt = int(lt)
            if lt == LT_EN10MB:
                self.goto(g, ETH, 0)
            elif lt in (LT_RAW, LT_RAW12, LT_RAW14):
                ok = self.need(g, np.ones(len(g), np.int64))
                g = g[ok]
                nib = self.A[g, 0] >> 4
                self.goto(g[nib == 4], IP4, 0)
                self.goto(g[nib == 6], IP6, 0)
                self.non_ip(g[(nib != 4) & (nib != 6)])
            elif lt == LT_IPV4:
                self.goto(g, IP4, 0)
            elif lt == LT_IPV6:
                self.goto(g, IP6, 0)
            elif lt == LT_LINUX_SLL:  # 16-byte cooked header, protocol at 14
                ok = self.need(g, np.full(len(g), 16))
                g = g[ok]
                self.goto(g, ETYPE, 16, self.be16(g, np.full(len(g), 14)))
            elif lt == LT_LINUX_SLL2:  # 20-byte cooked header, protocol first
                ok = self.need(g, np.full(len(g), 20))
                g = g[ok]
                self.goto(g, ETYPE, 20, self.be16(g, np.zeros(len(g), np.int64)))
            elif lt in (LT_NULL, LT_LOOP):
                # 4-byte address family: host order for NULL, network order for
                # LOOP, but files from the other endianness exist for both.
                ok = self.need(g, np.full(len(g), 4))
                g = g[ok]
                b = self.A[g, :4].astype(np.int64)
                le = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16) | (b[:, 3] << 24)
                be = b[:, 3] | (b[:, 2] << 8) | (b[:, 1] << 16) | (b[:, 0] << 24)
                af = np.where(le < 0x10000, le, be)
                v4 = af == 2
                v6 = _any_of(af, _AF_INET6)
                self.goto(g[v4], IP4, 4)
                self.goto(g[v6], IP6, 4)
                self.non_ip(g[~(v4 | v6)])
            elif lt in (LT_PPP, LT_PPP_HDLC):
                self.goto(g, PPP, 0)
            elif lt == LT_PPP_ETHER:  # PPPoE header without the Ethernet one
                self.goto(g, PPP, 6)
            elif lt == LT_C_HDLC:  # Cisco HDLC: address, control, ethertype
                ok = self.need(g, np.full(len(g), 4))
                g = g[ok]
                self.goto(g, ETYPE, 4, self.be16(g, np.full(len(g), 2)))
            elif lt == LT_MPACKET:
                # 802.3br mPacket: 7-byte preamble then the SMD; only an
                # express frame (SMD-E 0xD5) is a whole Ethernet frame.
                ok = self.need(g, np.full(len(g), 8))
                g = g[ok]
                e = self.A[g, 7] == 0xD5
                self.goto(g[e], ETH, 8)
                self.non_ip(g[~e])
            elif lt == LT_RADIOTAP:
                self.radiotap(g)
            elif lt == LT_IEEE802_11:
                self.goto(g, WLAN, 0)
            elif lt == LT_PFLOG:  # OpenBSD pf log: header length (padded to 4), address family
                ok = self.need(g, np.full(len(g), 4))
                g = g[ok]
                hl = (self.u8(g, np.zeros(len(g), np.int64)) + 3) & ~3
                af = self.u8(g, np.ones(len(g), np.int64))
                v4, v6 = af == 2, _any_of(af, _AF_INET6)
                self.goto(g[v4], IP4, hl[v4])
                self.goto(g[v6], IP6, hl[v6])
                self.non_ip(g[~(v4 | v6)])
            elif lt == LT_PPI:  # Per-Packet Information: header length and the DLT that follows
                ok = self.need(g, np.full(len(g), 8))
                g = g[ok]
                b = self.take(g, np.zeros(len(g), np.int64), 8).astype(np.int64)
                hl = b[:, 2] | (b[:, 3] << 8)
                dlt = b[:, 4] | (b[:, 5] << 8) | (b[:, 6] << 16) | (b[:, 7] << 24)
                self.goto(g[dlt == LT_IEEE802_11], WLAN, hl[dlt == LT_IEEE802_11])
                self.goto(g[dlt == LT_EN10MB], ETH, hl[dlt == LT_EN10MB])
                self.non_ip(g[(dlt != LT_IEEE802_11) & (dlt != LT_EN10MB)])
            elif lt == LT_NFLOG:
                self.nflog(g)
            else:
                self.bucket[g] = Bucket.UNSUPPORTED_LINK
                self.st[g] = DONE

    def nflog(self, g: np.ndarray) -> None:
        """Linux NFLOG: a 4-byte header, then TLVs (length and type in host
        byte order, little-endian in practice); type 9 holds the IP packet."""
        o = np.full(len(g), 4, np.int64)
        for _ in range(32):
            ok = self.need(g, o + 4)
            g, o = g[ok], o[ok]
            if not len(g):
                return
            b = self.take(g, o, 4).astype(np.int64)
            tlv_len, tlv_type = b[:, 0] | (b[:, 1] << 8), (b[:, 2] | (b[:, 3] << 8)) & 0x7FFF
            payload = tlv_type == 9
            self.inner_ip(g[payload], o[payload] + 4)
            self.non_ip(g[~payload & (tlv_len < 4)])
            more = ~payload & (tlv_len >= 4)
            g, o = g[more], o[more] + ((tlv_len[more] + 3) & ~3)
        self.non_ip(g)

    def radiotap(self, g: np.ndarray) -> None:
        ok = self.need(g, np.full(len(g), 8))
        g = g[ok]
        A = self.A
        rt_len = A[g, 2].astype(np.int64) | (A[g, 3].astype(np.int64) << 8)
        # The Flags field (present bit 1) says whether the 802.11 header is
        # padded to 32 bits (0x20). It follows the present words and TSFT.
        lim = np.minimum(rt_len, self.W)
        pos = np.full(len(g), 4, np.int64)
        first_word = A[g, 4].astype(np.int64)
        more = np.ones(len(g), bool)
        for _ in range(8):  # present words chain through bit 31
            has = more & (pos + 4 <= lim)
            ext = np.zeros(len(g), bool)
            ext[has] = (A[g[has], pos[has] + 3] & 0x80) != 0
            pos = np.where(has, pos + 4, pos)
            more = has & ext
            if not more.any():
                break
        has_flags = (first_word & 0x02) != 0
        tsft = (first_word & 0x01) != 0
        fpos = np.where(tsft, ((pos + 7) & ~7) + 8, pos)
        readable = has_flags & (fpos < lim)
        flags = np.zeros(len(g), np.int64)
        flags[readable] = A[g[readable], fpos[readable]]
        self.wlan_pad[g] = (flags & 0x20) != 0
        self.goto(g, WLAN, rt_len)

    def h_wlan(self, r: np.ndarray) -> None:
        o = self.off[r]
        ok = self.need(r, o + 24)
        r, o = r[ok], o[ok]
        fc0, fc1 = self.u8(r, o), self.u8(r, o + 1)
        subtype = fc0 >> 4
        # data frames (type 2) that carry data (not Null/QoS-Null) and are not encrypted
        data = (((fc0 >> 2) & 3) == 2) & ((subtype & 4) == 0) & ((fc1 & 0x40) == 0)
        self.non_ip(r[~data])
        r, o, fc1, subtype = r[data], o[data], fc1[data], subtype[data]
        qos = (subtype & 8) != 0
        hl = 24 + 6 * ((fc1 & 3) == 3) + 2 * qos + 4 * (qos & ((fc1 & 0x80) != 0))
        hl = np.where(self.wlan_pad[r], (hl + 3) & ~3, hl)
        o = o + hl
        ok = self.need(r, o + 8)
        r, o = r[ok], o[ok]
        snap = (self.A[r, o] == 0xAA) & (self.A[r, o + 1] == 0xAA) & (self.A[r, o + 2] == 0x03)
        self.non_ip(r[~snap])
        r, o = r[snap], o[snap]
        self.goto(r, ETYPE, o + 8, self.be16(r, o + 6))

    def h_eth(self, r: np.ndarray) -> None:
        o = self.off[r]
        ok = self.need(r, o + 14)
        r, o = r[ok], o[ok]
        self.goto(r, ETYPE, o + 14, self.be16(r, o + 12))

    def h_etype(self, r: np.ndarray) -> None:
        for _ in range(64):  # any number of 802.1Q / 802.1ad tags, one per round
            et = self.val[r]
            vlan = _any_of(et, _VLAN_TPIDS)
            if not vlan.any():
                break
            v = r[vlan]
            o = self.off[v]
            ok = self.need(v, o + 4)
            v, o = v[ok], o[ok]
            self.off[v] = o + 4
            self.val[v] = self.be16(v, o + 2)
            r = r[self.st[r] == ETYPE]  # rows cut short have left
        et = self.val[r]
        o = self.off[r]
        llc = et < 0x0600  # an 802.3 length (also behind VLAN tags): LLC follows, IP only behind SNAP
        if llc.any():
            lr, lo = r[llc], o[llc]
            ok = self.need(lr, lo + 8)
            lr, lo = lr[ok], lo[ok]
            snap = (self.A[lr, lo] == 0xAA) & (self.A[lr, lo + 1] == 0xAA) & (self.A[lr, lo + 2] == 0x03)
            self.non_ip(lr[~snap])
            lr, lo = lr[snap], lo[snap]
            self.goto(lr, ETYPE, lo + 8, self.be16(lr, lo + 6))  # handled in the next round
            r, o, et = r[~llc], o[~llc], et[~llc]
        sel = et == 0x0800
        self.st[r[sel]] = IP4
        sel = et == 0x86DD
        self.st[r[sel]] = IP6
        sel = (et == 0x8847) | (et == 0x8848)
        self.st[r[sel]] = MPLS
        sel = et == 0x8864  # PPPoE session: 6-byte header, then the PPP protocol
        self.goto(r[sel], PPP, o[sel] + 6)
        sel = et == 0x880B  # PPP inside (enhanced) GRE
        self.st[r[sel]] = PPP
        sel = et == 0x6558  # transparent Ethernet bridging (GRE, Geneve)
        self.st[r[sel]] = ETH
        sel = et == 0x88E7  # 802.1ah provider backbone bridging: 4-byte I-TAG, then the customer frame
        if sel.any():
            b, bo = r[sel], o[sel] + 4
            ok = self.need(b, bo)
            self.goto(b[ok], ETH, bo[ok])
        sel = et == 0x8926  # Cisco VN-Tag: 4 bytes, then an ethertype
        if sel.any():
            v, vo = r[sel], o[sel]
            ok = self.need(v, vo + 6)
            v, vo = v[ok], vo[ok]
            self.goto(v, ETYPE, vo + 6, self.be16(v, vo + 4))
        sel = et == 0x88BE  # ERSPAN II (type I has no header: GRE without sequence)
        if sel.any():
            e, eo = r[sel], o[sel]
            hl = np.where(self.gre_seq[e], 8, 0)
            ok = self.need(e, eo + hl)
            self.goto(e[ok], ETH, (eo + hl)[ok])
        sel = et == 0x22EB  # ERSPAN III: 12 bytes, + 8-byte platform subheader when O is set
        if sel.any():
            e, eo = r[sel], o[sel]
            ok = self.need(e, eo + 12)
            e, eo = e[ok], eo[ok]
            hl = 12 + 8 * (self.u8(e, eo + 11) & 1)
            ft = (self.u8(e, eo + 10) >> 2) & 0x1F  # frame type: 0 Ethernet, 2 IP
            self.goto(e[ft == 0], ETH, (eo + hl)[ft == 0])
            ip, ipo = e[ft == 2], (eo + hl)[ft == 2]
            ok = self.need(ip, ipo + 1)
            ip, ipo = ip[ok], ipo[ok]
            nib = self.A[ip, ipo] >> 4
            self.goto(ip[nib == 4], IP4, ipo[nib == 4])
            self.goto(ip[nib == 6], IP6, ipo[nib == 6])
            self.non_ip(ip[(nib != 4) & (nib != 6)])
            self.non_ip(e[(ft != 0) & (ft != 2)])
        known = _any_of(et, (0x0800, 0x86DD, 0x8847, 0x8848, 0x8864, 0x880B, 0x6558, 0x88BE, 0x22EB, 0x88E7, 0x8926))
        self.non_ip(r[~known])

    def h_mpls(self, r: np.ndarray) -> None:
        for _ in range(64):  # label stack, one label per round
            if not len(r):
                return
            o = self.off[r]
            ok = self.need(r, o + 4)
            r, o = r[ok], o[ok]
            bos = (self.A[r, o + 2] & 1) == 1
            self.off[r] = o + 4
            b = r[bos]
            r = r[~bos]
            if len(b):
                bo = self.off[b]
                ok = self.need(b, bo + 1)
                b, bo = b[ok], bo[ok]
                nib = self.A[b, bo] >> 4  # no type field: guess by the IP version nibble
                self.st[b[nib == 4]] = IP4
                self.st[b[nib == 6]] = IP6
                cw = nib == 0  # pseudowire control word, then Ethernet
                self.goto(b[cw], ETH, bo[cw] + 4)
                self.non_ip(b[(nib != 4) & (nib != 6) & ~cw])
        self.cut(r)

    def h_ppp(self, r: np.ndarray) -> None:
        o = self.off[r]
        ok = self.need(r, o + 2)
        r, o = r[ok], o[ok]
        hdlc = (self.A[r, o] == 0xFF) & (self.A[r, o + 1] == 0x03)  # address + control
        o = o + 2 * hdlc
        ok = self.need(r, o + 2)
        r, o = r[ok], o[ok]
        b0 = self.u8(r, o)
        short = (b0 & 1) == 1  # protocol-field compression: one odd byte
        proto = np.where(short, b0, (b0 << 8) | self.A[r, o + 1])
        o = o + 2 - short
        for val, state in ((0x21, IP4), (0x57, IP6), (0x281, MPLS), (0x283, MPLS)):
            sel = proto == val
            self.goto(r[sel], state, o[sel])
        self.non_ip(r[~_any_of(proto, (0x21, 0x57, 0x281, 0x283))])

    # ---- IP ------------------------------------------------------------------------
    def tunnel_ends_here(self, r: np.ndarray) -> np.ndarray:
        """Mask of the rows still to decode: a tunnel whose record (or outer
        datagram) ends exactly where its inner IP header would start keeps the
        outer result, as tshark shows it; 1 to 19 inner bytes are malformed."""
        gone = self.had_ip[r] & (self.off[r] >= self.end[r])
        if gone.any():
            self.st[r[gone]] = DONE
        return ~gone

    def h_ip4(self, r: np.ndarray) -> None:
        r = r[self.tunnel_ends_here(r)]
        o = self.off[r]
        ok = self.need(r, o + 20, ip_level=True)
        r, o = r[ok], o[ok]
        h = self.take(r, o, 20)  # the fixed header, gathered once
        b0 = h[:, 0].astype(np.int64)
        # total length: 0 is a sender's capture of TCP segmentation offload (no
        # limit, as tshark reads it); shorter than the header is bogus
        total = (h[:, 2].astype(np.int64) << 8) | h[:, 3]
        bad = ((b0 >> 4) != 4) | ((b0 & 15) < 5) | ((total != 0) & (total < (b0 & 15) * 4))
        if bad.any():
            self.cut(r[bad], ip_level=True)
            r, o, b0, h, total = r[~bad], o[~bad], b0[~bad], h[~bad], total[~bad]
        rr = self.every(r)
        self.end[rr] = np.where(total != 0, np.minimum(self.end[r], o + total), self.end[r])
        self.had_ip[rr] = True
        self.ip_version[rr] = 4
        self.src_hi[rr] = 0
        self.dst_hi[rr] = 0
        addrs = np.ascontiguousarray(h[:, 12:20]).view(">u4").astype(np.uint64)
        self.src_lo[rr] = addrs[:, 0] | IPV4_MAPPED_LO_PREFIX
        self.dst_lo[rr] = addrs[:, 1] | IPV4_MAPPED_LO_PREFIX
        proto = h[:, 9].astype(np.int64)
        self.proto[rr] = proto
        self.ip_id[rr] = (h[:, 4].astype(np.uint32) << 8) | h[:, 5]
        self.sport[rr] = 0
        self.dport[rr] = 0
        self.tcp_flags[rr] = 0
        fo = (h[:, 6].astype(np.int64) << 8) | h[:, 7]
        later = (fo & 0x1FFF) != 0
        self.frag[rr] = np.where(later, 2, (fo & 0x2000) != 0)
        self.bucket[rr] = np.where(later, Bucket.FRAGMENT, Bucket.OTHER_IP)
        if later.any():
            self.st[r[later]] = DONE
            r, o, b0, proto = r[~later], o[~later], b0[~later], proto[~later]
        end = o + (b0 & 15) * 4
        ok = self.need(r, end, ip_level=True)  # options cut by the snaplen
        self.goto(r[ok], L4, end[ok], proto[ok])

    def h_ip6(self, r: np.ndarray) -> None:
        r = r[self.tunnel_ends_here(r)]
        o = self.off[r]
        ok = self.need(r, o + 40, ip_level=True)
        r, o = r[ok], o[ok]
        bad = (self.A[r, o] >> 4) != 6
        self.cut(r[bad], ip_level=True)
        r, o = r[~bad], o[~bad]
        # payload length 0: a jumbogram or a TSO capture, no limit
        plen = self.be16(r, o + 4)
        self.end[r] = np.where(plen != 0, np.minimum(self.end[r], o + 40 + plen), self.end[r])
        self.had_ip[r] = True
        self.ip_version[r] = 6
        self.proto[r] = 0  # set by the upper-layer header; an outer IPv4's 41 must not stay
        self.src_hi[r] = self.be64(r, o + 8)
        self.src_lo[r] = self.be64(r, o + 16)
        self.dst_hi[r] = self.be64(r, o + 24)
        self.dst_lo[r] = self.be64(r, o + 32)
        self.ip_id[r] = 0
        self.frag[r] = 0
        self.sport[r] = 0
        self.dport[r] = 0
        self.tcp_flags[r] = 0
        self.bucket[r] = Bucket.OTHER_IP
        self.goto(r, IP6EXT, o + 40, self.u8(r, o + 6))

    def h_ip6ext(self, r: np.ndarray) -> None:
        for _ in range(16):  # one extension header per round
            if not len(r):
                return
            nh = self.val[r]
            o = self.off[r]
            upper = ~_any_of(nh, _IPV6_EXT + (44, 51))
            u = r[upper]
            self.proto[u] = nh[upper]
            self.st[u] = L4
            r, o, nh = r[~upper], o[~upper], nh[~upper]
            ok = self.need(r, o + 8, ip_level=True)  # every extension header is >= 8 bytes
            r, o, nh = r[ok], o[ok], nh[ok]
            fr = nh == 44
            if fr.any():
                f, fo_ = r[fr], o[fr]
                word = self.be16(f, fo_ + 2)
                self.ip_id[f] = self.be32(f, fo_ + 4)
                later = (word >> 3) != 0
                more = (word & 1) == 1  # offset 0, M=0 is an "atomic" fragment: not a fragment
                self.frag[f] = np.where(later, 2, more)
                lf = f[later]
                self.bucket[lf] = Bucket.FRAGMENT
                self.proto[lf] = self.u8(lf, fo_[later])
                self.st[lf] = DONE
            hl = np.where(nh == 44, 8, np.where(nh == 51, (self.u8(r, o + 1) + 2) * 4, (self.u8(r, o + 1) + 1) * 8))
            self.val[r] = self.u8(r, o)
            self.off[r] = o + hl
            r = r[self.st[r] == IP6EXT]
        self.cut(r, ip_level=True)

    # ---- transport and tunnels ------------------------------------------------------
    def h_l4(self, r: np.ndarray) -> None:
        p = self.val[r]
        o = self.off[r]
        for proto, bucket in ((6, Bucket.TCP), (17, Bucket.UDP)):
            sel = p == proto
            if not sel.any():
                continue
            t, to = r[sel], o[sel]
            ok = self.need(t, to + 4, ip_level=True)  # cut before the ports: malformed
            t, to = t[ok], to[ok]
            tt = self.every(t)
            self.st[tt] = DONE
            self.bucket[tt] = bucket
            ports = np.ascontiguousarray(self.take(t, to, 4)).view(">u2")
            self.sport[tt] = ports[:, 0]
            dport = ports[:, 1]
            self.dport[tt] = dport
            if proto == 6:
                # a header cut after the ports still counts; the flags then read 0
                fend = to + 14
                has = fend <= self.end[t]
                wide = has & (fend > self.W)
                self.wide[t[wide]] = True
                has &= ~wide
                if has.all():
                    self.tcp_flags[tt] = self.take(t, to + 13, 1)[:, 0]
                else:
                    self.tcp_flags[t[has]] = self.take(t[has], to[has] + 13, 1)[:, 0]
            else:
                self.udp_tunnels(t, to, ports[:, 0].astype(np.int64), dport.astype(np.int64))
        sel = (p == 1) | (p == 58)
        if sel.any():
            c, co = r[sel], o[sel]
            self.bucket[c] = Bucket.ICMP
            self.st[c] = DONE
            ok = co + 2 <= self.end[c]
            c, co = c[ok], co[ok]
            wide = co + 2 > self.W
            self.wide[c[wide]] = True
            c, co = c[~wide], co[~wide]
            unreach = np.where(self.val[c] == 1, 3, 1)  # v4 type 3, v6 type 1
            hit = self.A[c, co] == unreach
            if hit.any():
                self.icmp_rows.append(c[hit])
        sel = p == 47
        if sel.any():
            self.gre(r[sel], o[sel])
        sel = p == 4  # IP-in-IP
        self.st[r[sel]] = IP4
        sel = p == 41  # IPv6 in IPv4 (6in4, SIT) or IPv6 in IPv6
        self.st[r[sel]] = IP6
        done = ~_any_of(p, (6, 17, 1, 58, 47, 4, 41))
        self.st[r[done]] = DONE

    def udp_tunnels(self, t: np.ndarray, to: np.ndarray, sport: np.ndarray, dport: np.ndarray) -> None:
        """UDP payloads that carry another packet, chosen by port as tshark
        does: the lower port first, the higher one when the lower is not a
        well-known port. A payload that turns out not to hold an IP packet
        leaves the outer UDP header as the result."""
        low, high = np.minimum(sport, dport), np.maximum(sport, dport)
        port = np.where(_any_of(low, _UDP_TUNNEL_PORTS), low,
                        np.where(_any_of(high, _UDP_TUNNEL_PORTS) & (low >= 1024), high, 0))
        if not port.any():
            return
        u = to + 8  # the UDP payload
        sel = port == 4789  # VXLAN: 8-byte header, then Ethernet
        if sel.any():
            v, vo = t[sel], u[sel] + 8
            ok = self.need(v, vo)
            self.goto(v[ok], ETH, vo[ok])
        sel = port == 6081  # Geneve: protocol type and option length in its header
        if sel.any():
            g, go = t[sel], u[sel]
            ok = self.need(g, go + 8)
            g, go = g[ok], go[ok]
            optlen = (self.u8(g, go) & 0x3F) * 4
            self.goto(g, ETYPE, go + 8 + optlen, self.be16(g, go + 2))
        sel = port == 4754  # GRE in UDP (RFC 8086)
        if sel.any():
            self.gre(t[sel], u[sel])
        sel = port == 3544  # Teredo: optional authentication and origin indication, then IPv6
        if sel.any():
            self.teredo(t[sel], u[sel])
        sel = port == 2152  # GTPv1-U: a G-PDU carries an IP packet
        if sel.any():
            self.gtp_u(t[sel], u[sel])
        sel = port == 1701  # L2TPv2 data message: optional length, sequence, offset; then PPP
        if sel.any():
            t2, u2 = t[sel], u[sel]
            ok = self.need(t2, u2 + 6)
            t2, u2 = t2[ok], u2[ok]
            flags = self.be16(t2, u2)
            data = ((flags & 0x8000) == 0) & ((flags & 0x000F) == 2)
            t2, u2, flags = t2[data], u2[data], flags[data]
            hl = 2 + 2 * ((flags & 0x4000) != 0) + 4 + 4 * ((flags & 0x0800) != 0)
            has_off = (flags & 0x0200) != 0
            ok = self.need(t2, u2 + hl + 2 * has_off)
            t2, u2, hl, has_off = t2[ok], u2[ok], hl[ok], has_off[ok]
            pad = np.zeros(len(t2), np.int64)
            pad[has_off] = 2 + self.be16(t2[has_off], (u2 + hl)[has_off])
            self.goto(t2, PPP, u2 + hl + pad)
        sel = port == 5072  # AYIYA: identity and signature, then the packet of its next-header
        if sel.any():
            a, ao = t[sel], u[sel]
            ok = self.need(a, ao + 8)
            a, ao = a[ok], ao[ok]
            b = self.take(a, ao, 4).astype(np.int64)
            hl = 8 + (1 << (b[:, 0] >> 4)) + (b[:, 1] >> 4) * 4
            ok = self.need(a, ao + hl)  # identity and signature cut: the outer UDP packet
            a, ao, b, hl = a[ok], ao[ok], b[ok], hl[ok]
            fwd = (b[:, 2] & 0x0F) == 1
            self.goto(a[fwd & (b[:, 3] == 4)], IP4, (ao + hl)[fwd & (b[:, 3] == 4)])
            self.goto(a[fwd & (b[:, 3] == 41)], IP6, (ao + hl)[fwd & (b[:, 3] == 41)])

    def inner_ip(self, r: np.ndarray, o: np.ndarray, versions: tuple[int, ...] = (4, 6)) -> None:
        """An IP packet whose version nibble says which (else the outer result stands)."""
        ok = self.need(r, o + 1)
        r, o = r[ok], o[ok]
        nib = self.A[r, o] >> 4
        matched = np.zeros(len(r), bool)
        for version, state in ((4, IP4), (6, IP6)):
            if version in versions:
                self.goto(r[nib == version], state, o[nib == version])
                matched |= nib == version
        self.non_ip(r[~matched])

    def teredo(self, r: np.ndarray, o: np.ndarray) -> None:
        for _ in range(2):  # an authentication header, then an origin indication, each optional
            # fewer than 2 bytes left hold no Teredo header: they are the inner IPv6 one's
            peek = o + 2 <= self.end[r]
            wide = peek & (o + 2 > self.W)
            if wide.any():
                self.wide[r[wide]] = True
                self.st[r[wide]] = DONE
                r, o, peek = r[~wide], o[~wide], peek[~wide]
            kind = np.full(len(r), -1, np.int64)
            kind[peek] = self.be16(r[peek], o[peek])
            a = np.flatnonzero(kind == 1)  # 4 + id + auth + 8-byte nonce + confirmation byte
            if len(a):
                ok = self.need(r[a], o[a] + 4)
                keep = np.ones(len(r), bool)
                keep[a[~ok]] = False
                a = a[ok]
                o[a] += 4 + self.u8(r[a], o[a] + 2) + self.u8(r[a], o[a] + 3) + 9
                r, o, kind = r[keep], o[keep], kind[keep]
            o = np.where(kind == 0, o + 8, o)  # origin indication: 8 bytes
        self.inner_ip(r, o, (6,))

    def gtp_u(self, r: np.ndarray, o: np.ndarray) -> None:
        ok = self.need(r, o + 8)
        r, o = r[ok], o[ok]
        flags, mtype = self.u8(r, o), self.u8(r, o + 1)
        gpdu = ((flags >> 5) == 1) & ((flags & 0x10) != 0) & (mtype == 0xFF)  # version 1, GTP, G-PDU
        r, o, flags = r[gpdu], o[gpdu], flags[gpdu]
        opt = (flags & 0x07) != 0  # sequence number, N-PDU number or extension: 4 more bytes
        end = o + 8 + 4 * opt
        ok = self.need(r, end)
        r, o, flags, end = r[ok], o[ok], flags[ok], end[ok]
        nxt = np.zeros(len(r), np.int64)
        ext = np.flatnonzero((flags & 0x04) != 0)
        nxt[ext] = self.u8(r[ext], o[ext] + 11)
        o = end
        alive = np.ones(len(r), bool)
        for _ in range(8):  # extension headers: length in 4-byte units, next type in the last byte
            e = np.flatnonzero(alive & (nxt != 0))
            if not len(e):
                break
            ok = self.need(r[e], o[e] + 1)
            alive[e[~ok]] = False
            e = e[ok]
            ln = self.u8(r[e], o[e]) * 4
            alive[e[ln == 0]] = False
            e, ln = e[ln > 0], ln[ln > 0]
            ok = self.need(r[e], o[e] + ln)
            alive[e[~ok]] = False
            e, ln = e[ok], ln[ok]
            nxt[e] = self.u8(r[e], o[e] + ln - 1)
            o[e] += ln
        fin = alive & (nxt == 0)
        self.inner_ip(r[fin], o[fin])

    def gre(self, g: np.ndarray, o: np.ndarray) -> None:
        self.st[g] = DONE
        ok = self.need(g, o + 4)
        g, o = g[ok], o[ok]
        flags = self.be16(g, o)
        ver = flags & 7
        csum = (flags & 0xC000) != 0  # checksum or routing present: 4 more bytes
        key = (flags & 0x2000) != 0
        seq = (flags & 0x1000) != 0
        ack = (flags & 0x0080) != 0
        hl = np.where(ver == 0, 4 + 4 * csum + 4 * key + 4 * seq, 8 + 4 * seq + 4 * ack)
        usable = ((ver == 0) & ((flags & 0x4000) == 0)) | (ver == 1)  # no source routing
        g, o, hl, seq = g[usable], o[usable], hl[usable], seq[usable]
        ok = self.need(g, o + hl)
        g, o, hl, seq = g[ok], o[ok], hl[ok], seq[ok]
        self.gre_seq[g] = seq
        self.goto(g, ETYPE, o + hl, self.be16(g, o + 2))

    # ---- ICMP errors quoting TCP/UDP (SPEC section 6: evidence of "blocked") -----
    def icmp_errors(self) -> dict[str, np.ndarray]:
        empty = {k: np.zeros(0, d) for k, d in ICMP_DTYPES.items()}
        if not self.icmp_rows:
            return empty
        r = np.concatenate(self.icmp_rows)
        # ICMP rows end in DONE with their offset still on the ICMP header
        o = self.off[r]
        q = o + 8
        # a quoted header needs at most 60 + 4 bytes; past the window: decode wider
        wide = (self.end[r] > self.W) & (q + 64 > self.W)
        self.wide[r[wide]] = True
        r, o, q = r[~wide], o[~wide], q[~wide]
        cap = np.minimum(self.end[r], self.W)
        out = []
        v = self.A[r, np.minimum(q, self.W - 1)] >> 4
        # quoted IPv4: header, fragment offset 0, 4 port bytes
        s4 = (q + 20 <= cap) & (v == 4)
        r4, q4 = r[s4], q[s4]
        ihl = (self.u8(r4, q4) & 15) * 4
        ok = (ihl >= 20) & (q4 + ihl + 4 <= cap[s4])
        r4, q4, ihl = r4[ok], q4[ok], ihl[ok]
        fo = self.be16(r4, q4 + 6) & 0x1FFF
        qp = self.u8(r4, q4 + 9)
        ok = (fo == 0) & ((qp == 6) | (qp == 17))
        r4, q4, ihl, qp = r4[ok], q4[ok], ihl[ok], qp[ok]
        if len(r4):
            out.append((r4, q4, qp, IPV4_MAPPED_LO_PREFIX | self.be32(r4, q4 + 12), np.zeros(len(r4), np.uint64),
                        IPV4_MAPPED_LO_PREFIX | self.be32(r4, q4 + 16), np.zeros(len(r4), np.uint64), q4 + ihl))
        # quoted IPv6: header, extension headers (a fragment only at offset 0), 4 port bytes
        s6 = (q + 44 <= cap) & (v == 6)
        r6, q6, cap6 = r[s6], q[s6], cap[s6]
        qp = self.u8(r6, q6 + 6)
        l4 = q6 + 40
        for _ in range(4):
            ext = _any_of(qp, (0, 43, 60, 44)) & (l4 + 8 <= cap6)
            if not ext.any():
                break
            e, eo = r6[ext], l4[ext]
            is_frag = qp[ext] == 44
            later = is_frag & ((self.be16(e, eo + 2) >> 3) != 0)
            hl = np.where(is_frag, 8, (self.u8(e, eo + 1) + 1) * 8)
            qp[ext] = np.where(later, -1, self.u8(e, eo))
            l4[ext] = eo + hl
        ok = ((qp == 6) | (qp == 17)) & (l4 + 4 <= cap6)
        r6, q6, qp, l4 = r6[ok], q6[ok], qp[ok], l4[ok]
        if len(r6):
            out.append((r6, q6, qp, self.be64(r6, q6 + 16), self.be64(r6, q6 + 8),
                        self.be64(r6, q6 + 32), self.be64(r6, q6 + 24), l4))
        if not out:
            return empty
        cols: dict[str, list[np.ndarray]] = {k: [] for k in ICMP_NAMES}
        for rr, qq, qp, slo, shi, dlo, dhi, l4 in out:
            o = self.off[rr]
            cols["row"].append(rr)
            cols["icmp_type"].append(self.u8(rr, o))
            cols["icmp_code"].append(self.u8(rr, o + 1))
            cols["reporter_hi"].append(self.src_hi[rr])
            cols["reporter_lo"].append(self.src_lo[rr])
            cols["src_hi"].append(shi)
            cols["src_lo"].append(slo)
            cols["dst_hi"].append(dhi)
            cols["dst_lo"].append(dlo)
            cols["proto"].append(qp)
            cols["sport"].append(self.be16(rr, l4))
            cols["dport"].append(self.be16(rr, l4 + 2))
        return _in_packet_order({k: np.concatenate(v).astype(ICMP_DTYPES[k]) for k, v in cols.items()})

    def run(self) -> Decoded:
        handlers = ((LINK, self.h_link), (WLAN, self.h_wlan), (ETH, self.h_eth), (ETYPE, self.h_etype),
                    (MPLS, self.h_mpls), (PPP, self.h_ppp), (IP4, self.h_ip4), (IP6, self.h_ip6),
                    (IP6EXT, self.h_ip6ext), (L4, self.h_l4))
        for _ in range(_MAX_DEPTH):
            live = False
            for state, handler in handlers:
                r = np.flatnonzero(self.st == state)
                if len(r):
                    live = True
                    handler(r)
            if not live:
                break
        else:
            self.cut(np.flatnonzero(self.st != DONE))
        icmp = self.icmp_errors()
        return Decoded({k: getattr(self, k) for k in COLUMN_NAMES}, self.wide, icmp)


def _in_packet_order(icmp: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """ICMP error rows sorted by their packet's row (they are gathered per
    IP version and per decode pass)."""
    order = np.argsort(icmp["row"], kind="stable")
    if (np.diff(order) == 1).all():
        return icmp
    return {k: v[order] for k, v in icmp.items()}


def decode_rows(rows: np.ndarray, caplen: np.ndarray, link: np.ndarray) -> Decoded:
    """Decode records from their first bytes: ``rows`` (n × W uint8), the
    captured length of each record and its LINKTYPE."""
    return _Decoder(rows, caplen, link).run()


# Bytes copied per record for the first decode, then for the few records
# whose headers run past it (deep tunnels, long options, radiotap), then the
# whole captured bytes of the rare record that needs more still.
FIRST_WINDOW = 128
WIDER_WINDOWS = (512, 4096)
SECOND_WINDOW = WIDER_WINDOWS[-1]  # the buffer must extend this far past its last record
_WIDE_PASS_BYTES = 32 * 1024 * 1024  # memory bound of one wider decode


try:  # the common case compiled (auditor/capture/_walk.c), when built
    from ._walk import decode_common as _decode_common_c
except ImportError:  # pragma: no cover - depends on the build
    _decode_common_c = None

# Tests turn the compiled common case off to compare it with numpy alone.
USE_COMPILED = _decode_common_c is not None


def decode_records(arr: np.ndarray, data_off: np.ndarray, caplen: np.ndarray, link: np.ndarray) -> Decoded:
    """Decode records held in ``arr`` (which must extend SECOND_WINDOW bytes
    past its last record).

    With the compiled helper, one pass decodes the common case (Ethernet or
    raw IP, IPv4 or IPv6, TCP or UDP, no tunnel) straight from ``arr`` and
    flags every other record, which the numpy decoder then decodes alone;
    both write the same columns for the same bytes (tests compare them)."""
    if not (USE_COMPILED and len(data_off)):
        return _decode_records_numpy(arr, data_off, caplen, link)
    n = len(data_off)
    data_off = np.ascontiguousarray(data_off, np.int64)
    caplen = np.ascontiguousarray(caplen, np.int64)
    link = np.ascontiguousarray(link, np.int64)
    cols = {k: np.empty(n, dt) for k, dt in _COLUMN_DTYPES.items()}  # in _walk.c's argument order
    slow = np.empty(n, np.uint8)
    n_slow = _decode_common_c(arr, data_off, caplen, link, *cols.values(), slow)
    icmp = {k: np.zeros(0, d) for k, d in ICMP_DTYPES.items()}
    if n_slow:
        idx = np.flatnonzero(slow)
        sub = _decode_records_numpy(arr, data_off[idx], caplen[idx], link[idx])
        for name in COLUMN_NAMES:
            cols[name][idx] = getattr(sub, name)
        icmp = dict(sub.icmp, row=idx[sub.icmp["row"]])
    return Decoded(cols, np.zeros(n, bool), icmp)


def _decode_records_numpy(arr: np.ndarray, data_off: np.ndarray, caplen: np.ndarray, link: np.ndarray) -> Decoded:
    """Decode records with numpy alone: copy each record's first bytes into
    one 2-D array, decode it vectorised, and redo only the rows that need
    more, in groups small enough to keep memory bounded."""
    from numpy.lib.stride_tricks import sliding_window_view

    out = decode_rows(sliding_window_view(arr, FIRST_WINDOW)[data_off], caplen, link)
    for width in (*WIDER_WINDOWS, None):
        wide = np.flatnonzero(out.wide)
        if not len(wide):
            break
        step = _WIDE_PASS_BYTES // (width or MAX_CAPLEN)
        for start in range(0, len(wide), max(1, step)):
            idx = wide[start : start + max(1, step)]
            if width is not None:
                rows = sliding_window_view(arr, width)[data_off[idx]]
            else:  # headers past the widest window: the record's whole captured bytes
                rows = np.zeros((len(idx), int(caplen[idx].max())), np.uint8)
                for i, (o, c) in enumerate(zip(data_off[idx].tolist(), caplen[idx].tolist())):
                    rows[i, :c] = arr[o : o + c]
            sub = decode_rows(rows, caplen[idx], link[idx])
            for name in COLUMN_NAMES:
                getattr(out, name)[idx] = getattr(sub, name)
            out.wide[idx] = sub.wide
            keep = ~np.isin(out.icmp["row"], idx)
            sub.icmp["row"] = idx[sub.icmp["row"]]
            out.icmp = _in_packet_order({k: np.concatenate([out.icmp[k][keep], sub.icmp[k]]) for k in ICMP_NAMES})
    return out

"""Packets as a capture point sees them: realistic TCP connections, DNS, NTP
and ARP (IPv6: neighbour discovery), crafted with scapy and collected in time
order, over IPv4 or IPv6, on a plain or an 802.1Q-tagged (trunk) port.

Times are nanoseconds since the epoch *at the capture point*. A packet sent by
the side near the capture point is seen when it is sent; the answer is seen
one round-trip later. TCP follows RFC 9293: SYN and FIN each consume one
sequence number, ACKs acknowledge the next byte expected, the receiver ACKs
every second full segment (delayed ACK, RFC 1122 4.2.3.2), and options are
those a Linux/Windows stack sends (MSS, SACK-permitted, window scale,
timestamps, so a full segment carries 1448 bytes).
"""

from __future__ import annotations

import ipaddress
import random
import struct
from dataclasses import dataclass, field

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
)
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Packet, Raw

MSS = 1448  # payload of a full segment: 1460 minus the 12-byte timestamp option
SEC = 1_000_000_000
MS = 1_000_000
US = 1_000


def mac_of(ip: str) -> str:
    """VMware-style MAC derived from the address (stable across runs)."""
    b = ipaddress.ip_address(ip).packed[-3:]
    return f"00:50:56:{b[0] & 0x3F:02x}:{b[1]:02x}:{b[2]:02x}"


@dataclass(order=True)
class Frame:
    ts_ns: int
    order: int  # creation order: ties keep the order they were made in
    src: str = field(compare=False)
    dst: str = field(compare=False)
    data: bytes = field(compare=False)  # the Ethernet frame, built once


def stack(*layers: Packet) -> Packet:
    """Ether()/IP()/TCP() without the copies `/` makes (3x faster to build)."""
    for upper, lower in zip(layers[1:], layers):
        lower.add_payload(upper)
    return layers[0]


class Wire:
    """Collects frames; knows hosts' MAC addresses, gateways and TTLs."""

    def __init__(
        self,
        rng: random.Random,
        gateways: dict[str, str],
        windows_hosts: frozenset[str] = frozenset(),
        vlans: dict[str, int] | None = None,
    ):
        self.rng = rng
        self.frames: list[Frame] = []
        # site prefix (e.g. "10.10.") → gateway address; packets leaving the
        # sender's subnet carry the gateway's MAC as destination.
        self.gateways = gateways
        self.windows_hosts = windows_hosts
        # site prefix → VLAN id, when the capture is taken on a trunk port
        self.vlans = vlans
        self._ip_id: dict[str, int] = {}

    # -- link and IP layers -------------------------------------------------
    def _prefix(self, ip: str) -> str | None:
        for prefix in self.gateways:
            if ip.startswith(prefix):
                return prefix
        return None

    def link(self, src: str, dst: str, mac_dst: str | None = None) -> list[Packet]:
        """Ethernet header (and 802.1Q tag on a trunk) of a frame from src to
        dst as the capture point's segment carries it."""
        ps, pd = self._prefix(src), self._prefix(dst)
        if ps is not None and ps == pd:
            eth, segment = Ether(src=mac_of(src), dst=mac_dst or mac_of(dst)), ps
        elif ps is not None:  # leaving the sender's site through its router
            eth, segment = Ether(src=mac_of(src), dst=mac_of(self.gateways[ps])), ps
        else:  # arriving from elsewhere (another site or outside): the router sends it
            segment = pd if pd is not None else next(iter(self.gateways))
            eth = Ether(src=mac_of(self.gateways[segment]), dst=mac_of(dst))
        if self.vlans is None:
            return [eth]
        return [eth, Dot1Q(vlan=self.vlans[segment])]

    def ip(self, src: str, dst: str, df: bool = False) -> Packet:
        ttl = 128 if src in self.windows_hosts else 64
        if self._prefix(src) != self._prefix(dst):
            ttl -= 1  # routed once before the capture point
        if ":" in src:
            return IPv6(src=src, dst=dst, hlim=ttl)
        if src not in self._ip_id:
            self._ip_id[src] = self.rng.randrange(1, 0xFFFF)
        self._ip_id[src] = (self._ip_id[src] + 1) & 0xFFFF
        return IP(src=src, dst=dst, id=self._ip_id[src], ttl=ttl, flags="DF" if df else 0)

    def add(self, ts_ns: int, src: str, dst: str, *layers: Packet) -> None:
        self.frames.append(Frame(int(ts_ns), len(self.frames), src, dst, bytes(stack(*layers))))

    def sorted_frames(self) -> list[Frame]:
        return sorted(self.frames)

    # -- UDP background -------------------------------------------------------
    def dns_lookup(
        self,
        t: int,
        client: str,
        server: str,
        name: str,
        answer: str | None,
        rtt_ns: int = 400 * US,
    ) -> None:
        from scapy.layers.dns import DNS, DNSQR, DNSRR

        qid = self.rng.randrange(0, 0x10000)
        sport = self.rng.randrange(32768, 61000)
        qtype = "AAAA" if answer and ":" in answer else "A"
        q = DNS(id=qid, rd=1, qd=DNSQR(qname=name, qtype=qtype))
        self.add(
            t,
            client,
            server,
            *self.link(client, server),
            self.ip(client, server),
            UDP(sport=sport, dport=53),
            q,
        )
        if answer is None:
            r = DNS(id=qid, qr=1, rd=1, ra=1, rcode=3, qd=DNSQR(qname=name, qtype=qtype))
        else:
            r = DNS(
                id=qid,
                qr=1,
                rd=1,
                ra=1,
                qd=DNSQR(qname=name, qtype=qtype),
                an=DNSRR(rrname=name, type=qtype, ttl=300, rdata=answer),
            )
        self.add(
            t + rtt_ns,
            server,
            client,
            *self.link(server, client),
            self.ip(server, client),
            UDP(sport=53, dport=sport),
            r,
        )

    def ntp_poll(
        self, t: int, client: str, server: str, sport: int | None = None, rtt_ns: int = 300 * US
    ) -> None:
        """One NTPv4 client/server exchange (RFC 5905); `sport` 123 as ntpd
        does, otherwise an ephemeral port as chrony and w32time do."""
        sport = sport or self.rng.randrange(32768, 61000)
        t_ntp = t / SEC + 2_208_988_800  # NTP era 0 seconds

        def stamp(x: float) -> bytes:
            sec = int(x)
            return struct.pack("!II", sec, int((x - sec) * 2**32))

        req = (
            struct.pack("!BBbb", (0 << 6) | (4 << 3) | 3, 0, 6, -20)
            + b"\0" * 12
            + b"\0" * 24
            + stamp(t_ntp)
        )
        answer_t = t_ntp + rtt_ns / SEC / 2
        resp = (
            struct.pack("!BBbb", (0 << 6) | (4 << 3) | 4, 2, 6, -23)
            + struct.pack("!II", 0x00000A00, 0x00001E00)  # root delay, dispersion
            + ipaddress.ip_address("192.0.2.123").packed  # reference id: upstream server
            + stamp(answer_t - 37.25)
            + stamp(t_ntp)
            + stamp(answer_t)
            + stamp(answer_t + 0.00002)
        )
        self.add(
            t,
            client,
            server,
            *self.link(client, server),
            self.ip(client, server),
            UDP(sport=sport, dport=123),
            Raw(req),
        )
        self.add(
            t + rtt_ns,
            server,
            client,
            *self.link(server, client),
            self.ip(server, client),
            UDP(sport=123, dport=sport),
            Raw(resp),
        )

    def arp(self, t: int, asker: str, target: str) -> None:
        """Who-has and is-at (non-IP traffic every real capture has); for
        IPv6, neighbour solicitation and advertisement (RFC 4861)."""
        if ":" in asker:
            solicited = ipaddress.ip_address(target).packed[-3:]
            group = "ff02::1:ff" + f"{solicited[0]:02x}:{solicited[1]:02x}{solicited[2]:02x}"
            group_mac = "33:33:ff:" + ":".join(f"{x:02x}" for x in solicited)
            ns = [
                *self.link(asker, target, mac_dst=group_mac),
                IPv6(src=asker, dst=group, hlim=255),
                ICMPv6ND_NS(tgt=target),
                ICMPv6NDOptSrcLLAddr(lladdr=mac_of(asker)),
            ]
            self.add(t, asker, target, *ns)
            na = [
                *self.link(target, asker),
                IPv6(src=target, dst=asker, hlim=255),
                ICMPv6ND_NA(tgt=target, R=1, S=1, O=1),
                ICMPv6NDOptDstLLAddr(lladdr=mac_of(target)),
            ]
            self.add(t + 150 * US, target, asker, *na)
            return
        who_has = self.link(asker, target, mac_dst="ff:ff:ff:ff:ff:ff")
        self.add(
            t, asker, target, *who_has, ARP(op=1, hwsrc=mac_of(asker), psrc=asker, pdst=target)
        )
        is_at = self.link(target, asker)
        arp = ARP(op=2, hwsrc=mac_of(target), psrc=target, hwdst=mac_of(asker), pdst=asker)
        self.add(t + 150 * US, target, asker, *is_at, arp)


class TcpConn:
    """One TCP connection between a client and a server, as seen at the
    capture point (near the client). Every method takes the time to start at
    and returns the time after its last packet."""

    def __init__(self, wire: Wire, client: str, server: str, sport: int, dport: int, rtt_ns: int):
        self.w = wire
        self.client, self.server = client, server
        self.sport, self.dport = sport, dport
        self.rtt = rtt_ns
        rng = wire.rng
        self.isn_c = rng.randrange(0, 2**32)
        self.isn_s = rng.randrange(0, 2**32)
        self.next_c = self.isn_c  # next sequence number the client sends
        self.next_s = self.isn_s
        self.ts_base_c = rng.randrange(0, 2**31)
        self.ts_base_s = rng.randrange(0, 2**31)

    # -- one segment --------------------------------------------------------
    def _tsval(self, from_client: bool, t: int) -> int:
        base = self.ts_base_c if from_client else self.ts_base_s
        return (base + t // MS) & 0xFFFFFFFF

    def _segment(
        self,
        t: int,
        from_client: bool,
        flags: str,
        payload: bytes = b"",
        syn_options: bool = False,
        window: int = 502,
        retransmit_seq: int | None = None,
    ) -> None:
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        sport, dport = (self.sport, self.dport) if from_client else (self.dport, self.sport)
        seq = self.next_c if from_client else self.next_s
        if retransmit_seq is not None:
            seq = retransmit_seq
        ack = 0
        if "A" in flags:
            ack = self.next_s if from_client else self.next_c
        tsval = self._tsval(from_client, t)
        tsecr = self._tsval(not from_client, t - self.rtt // 2) if "A" in flags else 0
        if syn_options:
            opts = [
                ("MSS", 1460),
                ("SAckOK", b""),
                ("Timestamp", (tsval, tsecr)),
                ("NOP", None),
                ("WScale", 7),
            ]
            window = 64240
        elif "R" in flags:
            opts = []
            window = 0
        else:
            opts = [("NOP", None), ("NOP", None), ("Timestamp", (tsval, tsecr))]
        tcp = TCP(
            sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, window=window, options=opts
        )
        layers = [*self.w.link(src, dst), self.w.ip(src, dst, df=True), tcp]
        if payload:
            layers.append(Raw(payload))
        self.w.add(t, src, dst, *layers)
        consumed = len(payload) + ("S" in flags) + ("F" in flags)
        if retransmit_seq is not None:
            return  # a retransmission sends nothing new
        if from_client:
            self.next_c = (self.next_c + consumed) & 0xFFFFFFFF
        else:
            self.next_s = (self.next_s + consumed) & 0xFFFFFFFF

    # -- opening --------------------------------------------------------------
    def open(self, t: int) -> int:
        """Three-way handshake."""
        self._segment(t, True, "S", syn_options=True)
        self._segment(t + self.rtt, False, "SA", syn_options=True)
        self._segment(t + self.rtt + 40 * US, True, "A")
        return t + self.rtt + 40 * US

    def established_before_capture(self) -> None:
        """The connection was opened before the capture began: the capture
        shows it only mid-stream (Zeek OTH); sequence numbers continue."""
        self.next_c = (self.isn_c + 1 + self.w.rng.randrange(10_000, 5_000_000)) & 0xFFFFFFFF
        self.next_s = (self.isn_s + 1 + self.w.rng.randrange(10_000, 5_000_000)) & 0xFFFFFFFF

    def open_unanswered(self, t: int, attempts: int = 5) -> int:
        """SYN with exponential back-off retransmissions (1 s, 2 s, 4 s, …,
        RFC 6298 5.5) and no answer; the caller gives up after the last one.
        Returns the time the caller gives up (one more back-off later)."""
        backoff = SEC
        for i in range(attempts):
            self._segment(t, True, "S", syn_options=True)
            self.next_c = self.isn_c  # a retransmitted SYN carries the same ISN
            t += backoff
            backoff *= 2
        self.next_c = (self.isn_c + 1) & 0xFFFFFFFF
        return t

    def open_refused(self, t: int) -> int:
        """SYN answered by RST-ACK: nothing listens on the port (RFC 9293 3.10.7.1)."""
        self._segment(t, True, "S", syn_options=True)
        # The RST's seq is 0 and it acknowledges the SYN.
        self.next_s = 0
        self._segment(t + self.rtt, False, "RA")
        return t + self.rtt

    def open_prohibited(self, t: int, reporter: str) -> int:
        """SYN answered by ICMP destination unreachable, administratively
        prohibited (type 3 code 13, RFC 1812 5.2.7.1; ICMPv6 type 1 code 1,
        RFC 4443) from a firewall, quoting the SYN's IP header and first TCP
        bytes (all of the SYN for ICMPv6)."""
        self._segment(t, True, "S", syn_options=True)
        syn = self.w.frames[-1].data
        ip_start = 14 if self.w.vlans is None else 18  # Ethernet (+ 802.1Q tag)
        seen = t + self.rtt // 2
        link = self.w.link(reporter, self.client)
        if ":" in self.client:
            error = [
                self.w.ip(reporter, self.client),
                ICMPv6DestUnreach(code=1),
                Raw(syn[ip_start:]),
            ]
        else:
            quoted = syn[ip_start : ip_start + 20 + 8]  # IPv4 header without options
            error = [self.w.ip(reporter, self.client), ICMP(type=3, code=13), Raw(quoted)]
        self.w.add(seen, reporter, self.client, *link, *error)
        return seen

    # -- data -------------------------------------------------------------------
    def send(self, t: int, from_client: bool, nbytes: int, gap_ns: int = 15 * US) -> int:
        """`nbytes` from one side in full segments (last one partial, PSH),
        the other side ACKing every second segment and the last one."""
        rng = self.w.rng
        chunks = [MSS] * (nbytes // MSS) + ([nbytes % MSS] if nbytes % MSS else [])
        t_last_ack = t
        for i, size in enumerate(chunks):
            last = i == len(chunks) - 1
            self._segment(t, from_client, "PA" if last else "A", rng.randbytes(size))
            if i % 2 == 1 or last:
                # every second segment at once, a lone last one a little later
                t_last_ack = t + self.rtt + (0 if i % 2 == 1 else 200 * US)
                self._segment(t_last_ack, not from_client, "A")
            t += gap_ns + size * 8  # 1 Gb/s serialisation: 8 ns a byte
        return max(t, t_last_ack)

    def send_unacknowledged(self, t: int, from_client: bool, nbytes: int, retries: int = 6) -> int:
        """A burst the peer never acknowledges (a firewall began dropping it
        beyond the capture point): the segments, then the first of them
        retransmitted on each retransmission timeout, doubling from Linux's
        200 ms minimum (RFC 6298 5.5), until the sender gives up. Returns the
        time it gives up (one more back-off after the last retransmission)."""
        rng = self.w.rng
        first = self.next_c if from_client else self.next_s
        chunks = [MSS] * (nbytes // MSS) + ([nbytes % MSS] if nbytes % MSS else [])
        start = t
        payloads = [rng.randbytes(size) for size in chunks]
        for i, payload in enumerate(payloads):
            self._segment(t, from_client, "PA" if i == len(payloads) - 1 else "A", payload)
            t += 15 * US + len(payload) * 8
        rto = 200 * MS
        t = start + rto
        for _ in range(retries):
            self._segment(t, from_client, "A", payloads[0], retransmit_seq=first)
            rto *= 2
            t += rto
        return t

    def request(
        self, t: int, request_bytes: int, response_bytes: int, think_ns: int = 2 * MS
    ) -> int:
        """A request from the client answered by the server (RPC-style: the
        response carries the ACK of the request when it fits)."""
        rng = self.w.rng
        if request_bytes <= MSS and response_bytes <= MSS:
            self._segment(t, True, "PA", rng.randbytes(request_bytes))
            t2 = t + self.rtt + think_ns
            self._segment(t2, False, "PA", rng.randbytes(response_bytes))
            t3 = t2 + self.rtt // 2 + 40 * MS  # delayed ACK of the response
            self._segment(t3, True, "A")
            return t3
        t = self.send(t, True, request_bytes)
        return self.send(t + think_ns, False, response_bytes)

    def tls_open(self, t: int) -> int:
        """TLS 1.2/1.3 handshake sizes: ClientHello, ServerHello with the
        certificate chain, the client's Finished, the server's tickets."""
        t = self.request(t, 517, 4120)
        return self.request(t + 300 * US, 126, 258)

    # -- closing ----------------------------------------------------------------
    def close(self, t: int, by_client: bool = True) -> int:
        """FIN/ACK from one side, FIN/ACK back, last ACK."""
        self._segment(t, by_client, "FA")
        self._segment(t + self.rtt, not by_client, "FA")
        self._segment(t + self.rtt + 40 * US, by_client, "A")
        return t + self.rtt + 40 * US

    def reset(self, t: int, by_client: bool = True) -> int:
        self._segment(t, by_client, "RA")
        return t

"""Realistic TCP conversations built with scapy (sequence and acknowledgement
numbers that add up, ephemeral client ports), one per Zeek conn_state, for
the flow tests and for the capture round trip (test_flows_from_pcap)."""

from __future__ import annotations

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

T0 = 1_714_560_000.0  # 2024-05-01T10:40:00Z


class Conversation:
    """One TCP connection's packets, in the order they are sent."""

    def __init__(self, client=("10.10.2.11", 51012), server=("10.20.2.21", 4008), t0=T0, step=0.01):
        self.c, self.s = client, server
        self.t = t0
        self.step = step
        self.seq = {"c": 1000, "s": 5000}
        self.packets = []

    def send(self, who: str, flags: str, payload: bytes = b"", dt: float | None = None):
        src, dst = (self.c, self.s) if who == "c" else (self.s, self.c)
        other = "s" if who == "c" else "c"
        ack = self.seq[other] if "A" in flags else 0
        p = (
            Ether()
            / IP(src=src[0], dst=dst[0])
            / TCP(sport=src[1], dport=dst[1], flags=flags, seq=self.seq[who], ack=ack, window=65535)
            / payload
        )
        self.t += self.step if dt is None else dt
        p.time = self.t
        self.packets.append(p)
        self.seq[who] += len(payload) + ("S" in flags) + ("F" in flags)
        return self

    def handshake(self):
        return self.send("c", "S").send("s", "SA").send("c", "A")

    def data(self, who="c", size=100):
        return self.send(who, "PA", b"x" * size).send("s" if who == "c" else "c", "A")


def syn_retry(conv: Conversation, times: int):
    """The same SYN again (a retransmission: same sequence number)."""
    for _ in range(times):
        p = conv.packets[0].copy()
        conv.t += 1.0
        p.time = conv.t
        conv.packets.append(p)
    return conv


def scene(state: str) -> Conversation:
    """A conversation Zeek labels ``state``."""
    c = Conversation()
    if state == "S0":
        syn_retry(c.send("c", "S"), 2)
    elif state == "S1":
        c.handshake().data("c").data("s")
    elif state == "SF":
        c.handshake().data("c").data("s").send("c", "FA").send("s", "FA").send("c", "A")
    elif state == "REJ":
        c.send("c", "S").send("s", "RA")
    elif state == "S2":
        c.handshake().data("c").send("c", "FA")
    elif state == "S3":
        c.handshake().data("c").send("s", "FA")
    elif state == "RSTO":
        c.handshake().data("c").send("c", "RA")
    elif state == "RSTR":
        c.handshake().data("c").send("s", "RA")
    elif state == "RSTOS0":
        c.send("c", "S").send("c", "R")
    elif state == "RSTRH":
        c.send("s", "SA").send("s", "R")
    elif state == "SH":
        c.send("c", "S").send("c", "FA")
    elif state == "SHR":
        c.send("s", "SA").send("s", "FA")
    elif state == "OTH":
        c.data("c").data("s")  # mid-stream: no SYN, no SYN-ACK, no close
    else:
        raise ValueError(state)
    return c

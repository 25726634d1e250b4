"""Pure-Python anchors of the benchmark, each run as its own process:

    python3 -m benchmarks.anchors scapy FILE
    python3 -m benchmarks.anchors dpkt FILE

Both stream the capture record by record and aggregate packets and bytes per
bidirectional 5-tuple in a dict, which is what a hand-written flow counter
does with these libraries. They print one JSON line: packets read, flows,
and bytes counted.

- scapy: ``RawPcapReader`` (no dissection; scapy's full ``Ether(...)`` decode
  is roughly 10x slower still) plus manual ``struct`` parsing of Ethernet,
  802.1Q/802.1ad, IPv4, TCP and UDP. Bytes are wire lengths (orig len).
- dpkt: ``dpkt.pcap.Reader`` plus dpkt's own decoders (``dpkt.ethernet.Ethernet``
  follows VLAN tags). dpkt's reader does not expose the record's original
  length, so its bytes are the IP total length plus the Ethernet header
  (padding of short frames not counted).
"""

from __future__ import annotations

import json
import struct
import sys

_ETH_VLAN = (0x8100, 0x88A8)
_unpack_type = struct.Struct("!H").unpack_from
_unpack_ports = struct.Struct("!HH").unpack_from


def _add(flows: dict, key: tuple, wire: int) -> None:
    entry = flows.get(key)
    if entry is None:
        flows[key] = [1, wire]
    else:
        entry[0] += 1
        entry[1] += wire


def scapy_flows(path: str) -> dict:
    from scapy.utils import RawPcapReader

    flows: dict = {}
    packets = 0
    wire_total = 0
    with RawPcapReader(path) as reader:
        for data, meta in reader:
            packets += 1
            wire = meta.wirelen
            wire_total += wire
            if len(data) < 14:
                continue
            (etype,) = _unpack_type(data, 12)
            off = 14
            while etype in _ETH_VLAN and len(data) >= off + 4:
                (etype,) = _unpack_type(data, off + 2)
                off += 4
            if etype != 0x0800 or len(data) < off + 20:
                continue
            ihl = (data[off] & 0x0F) * 4
            proto = data[off + 9]
            src = data[off + 12 : off + 16]
            dst = data[off + 16 : off + 20]
            frag_off = _unpack_type(data, off + 6)[0] & 0x1FFF
            sport = dport = 0
            if proto in (6, 17) and frag_off == 0 and len(data) >= off + ihl + 4:
                sport, dport = _unpack_ports(data, off + ihl)
            a, b = (src, sport), (dst, dport)
            key = (proto, a, b) if a <= b else (proto, b, a)
            _add(flows, key, wire)
    return {"packets": packets, "flows": len(flows), "bytes": wire_total}


def dpkt_flows(path: str) -> dict:
    import dpkt

    flows: dict = {}
    packets = 0
    byte_total = 0
    IP, TCP, UDP = dpkt.ip.IP, dpkt.tcp.TCP, dpkt.udp.UDP
    with open(path, "rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            packets += 1
            try:
                eth = dpkt.ethernet.Ethernet(buf)
            except (dpkt.UnpackError, dpkt.NeedData):
                continue
            ip = eth.data
            if not isinstance(ip, IP):
                continue
            wire = ip.len + eth.__hdr_len__ + 4 * len(getattr(eth, "vlan_tags", ()) or ())
            byte_total += wire
            l4 = ip.data
            sport = dport = 0
            if isinstance(l4, (TCP, UDP)):
                sport, dport = l4.sport, l4.dport
            a, b = (ip.src, sport), (ip.dst, dport)
            key = (ip.p, a, b) if a <= b else (ip.p, b, a)
            _add(flows, key, wire)
    return {"packets": packets, "flows": len(flows), "bytes": byte_total}


ANCHORS = {"scapy": scapy_flows, "dpkt": dpkt_flows}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ANCHORS:
        print(f"usage: python3 -m benchmarks.anchors {{{','.join(ANCHORS)}}} FILE", file=sys.stderr)
        return 2
    print(json.dumps(ANCHORS[args[0]](args[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Capture files through the real capture stage into the flow stage: one
crafted pcap per Zeek conn_state, and a UDP exchange answered by ICMP."""

from __future__ import annotations

import pytest
from scapy.layers.inet import ICMP, IP, UDP, IPerror, UDPerror
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from auditor.capture import capture_to_packets
from auditor.flows import packets_to_flows
from auditor.tables import CONN_STATES

from .scenes import T0, scene

PORTS = {"tcp": frozenset({4008}), "udp": frozenset({53})}


@pytest.mark.parametrize("state", list(CONN_STATES))
@pytest.mark.parametrize("chunk", [1, 1 << 18])
def test_conn_state_through_capture(tmp_path, state, chunk):
    conv = scene(state)
    path = tmp_path / f"{state}.pcap"
    wrpcap(str(path), conv.packets)
    stream = capture_to_packets([path], chunk_packets=chunk)
    table = packets_to_flows(stream, PORTS)
    assert stream.counts["tcp"] == len(conv.packets)
    flows = table.flows
    assert len(flows) == 1
    row = flows.iloc[0]
    assert row.conn_state == state
    assert (row.client_ip, row.client_port, row.server_ip, row.server_port) == (
        "10.10.2.11",
        51012,
        "10.20.2.21",
        4008,
    )
    assert row.bytes_c2s + row.bytes_s2c == sum(len(bytes(p)) for p in conv.packets)
    assert row.first_ts_ns == round(float(conv.packets[0].time) * 1e6) * 1000


def test_udp_port_unreachable_through_capture(tmp_path):
    query = (
        Ether() / IP(src="10.10.2.11", dst="10.20.0.53") / UDP(sport=53001, dport=53) / (b"q" * 20)
    )
    query.time = T0
    err = (
        Ether()
        / IP(src="10.20.0.53", dst="10.10.2.11")
        / ICMP(type=3, code=3)
        / IPerror(src="10.10.2.11", dst="10.20.0.53")
        / UDPerror(sport=53001, dport=53)
        / (b"q" * 20)
    )
    err.time = T0 + 0.001
    path = tmp_path / "unreach.pcap"
    wrpcap(str(path), [query, err])
    stream = capture_to_packets([path])
    table = packets_to_flows(stream, PORTS)
    row = table.flows.iloc[0]
    assert (row.conn_state, row.icmp_unreach, row.icmp_type, row.icmp_code, row.icmp_reporter) == (
        "S0",
        1,
        3,
        3,
        "10.20.0.53",
    )
    assert table.unmatched_icmp_errors == 0
    assert table.saw([0, 0], [0xFFFF0A0A020B, 0xFFFF0A140035]).tolist() == [True, True]

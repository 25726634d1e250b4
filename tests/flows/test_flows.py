"""Flow semantics of SPEC section 5 with exact expectations: direction,
splitting, ICMP attachment, addresses seen, activity bins, the table's shape."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.flows import FlowTable, packets_to_flows
from auditor.flows.assemble import FlowAssembler
from auditor.tables import FLOW_COLUMNS, PACKET_COLUMNS, Bucket, PacketBatch, text_to_addr

from .build import batch, split

PORTS = {"tcp": frozenset({4008, 443, 9081}), "udp": frozenset({53, 123})}
C, S = "10.10.2.11", "10.20.2.21"


def flows_of(rows, icmp=(), ports=PORTS, **kw) -> FlowTable:
    return packets_to_flows([batch(rows, icmp)], ports, **kw)


def endpoints(row):
    return (row.client_ip, row.client_port, row.server_ip, row.server_port)


# ---------------------------------------------------------------- table shape
def test_columns_dtypes_and_order():
    t = flows_of(
        [(0.0, f"{C}:51000", f"{S}:4008", "S"), (0.5, f"{C}:53000", "10.0.0.53:53", "", "udp")]
    )
    assert [c for c in t.flows.columns] == [c.name for c in FLOW_COLUMNS]
    for c in FLOW_COLUMNS:
        assert str(t.flows[c.name].dtype) == c.dtype, c.name
    assert t.flows.proto.tolist() == ["tcp", "udp"]
    assert t.flows.first_ts.tolist() == [
        "1970-01-01T00:00:00.000000Z",
        "1970-01-01T00:00:00.500000Z",
    ]


def test_empty_input_gives_empty_typed_table():
    t = packets_to_flows([PacketBatch.empty()], PORTS)
    assert len(t.flows) == 0 and list(t.flows.columns) == [c.name for c in FLOW_COLUMNS]
    assert t.addresses.shape == (0, 2) and len(t.activity) == 0 and t.unmatched_icmp_errors == 0
    assert len(packets_to_flows([], PORTS).flows) == 0


def test_rows_sorted_by_time_then_endpoints():
    rows = [
        (5.0, f"{C}:51000", f"{S}:4008", "S"),
        (1.0, "10.0.0.9:1", "10.0.0.8:2", "", "udp"),
        (1.0, "10.0.0.10:1", "10.0.0.8:2", "", "udp"),
    ]
    f = flows_of(rows).flows
    # same first time: client_ip compared as text ("10.0.0.10" < "10.0.0.9")
    assert f.client_ip.tolist() == ["10.0.0.10", "10.0.0.9", C]


def test_ipv6_addresses_in_canonical_text():
    t = flows_of([(0.0, "[2001:db8:0:0::1]:51000", "[2001:db8::2]:4008", "S")])
    row = t.flows.iloc[0]
    assert (row.client_ip, row.server_ip, row.ip_version) == ("2001:db8::1", "2001:db8::2", 6)
    assert (row.client_hi, row.client_lo) == text_to_addr("2001:db8::1")


# ---------------------------------------------------------------- direction
def test_bare_syn_sender_is_client_even_after_midstream_packets():
    f = flows_of(
        [(0.0, f"{S}:4008", f"{C}:51000", "A"), (0.1, f"{C}:51000", f"{S}:4008", "S")]
    ).flows
    assert endpoints(f.iloc[0]) == (C, 51000, S, 4008) and f.iloc[0].direction_certain
    # even against the port ladder: the SYN went from 4008 to a high port
    f = flows_of([(0.0, f"{S}:4008", f"{C}:51000", "S")]).flows
    assert endpoints(f.iloc[0]) == (S, 4008, C, 51000) and f.iloc[0].direction_certain


def test_syn_ack_receiver_is_client():
    f = flows_of(
        [(0.0, f"{S}:4008", f"{C}:51000", "SA"), (0.1, f"{C}:51000", f"{S}:4008", "A")]
    ).flows
    assert endpoints(f.iloc[0]) == (C, 51000, S, 4008)
    assert f.iloc[0].direction_certain and f.iloc[0].syn_count == 0


@pytest.mark.parametrize(
    "first, expected, why",
    [
        # rule port: 4008 is a rule port, 51000 is not -> 4008 is the server
        ((f"{S}:4008", f"{C}:51000"), (C, 51000, S, 4008), "rule port"),
        # both sides on rule ports (4008, 443): next rung, the port below 1024
        ((f"{S}:443", f"{C}:4008"), (C, 4008, S, 443), "below 1024"),
        # no rule port, one side below 1024
        ((f"{S}:22", f"{C}:50000"), (C, 50000, S, 22), "below 1024"),
        # both low, neither a rule port: the first packet's receiver is the server
        ((f"{S}:22", f"{C}:23"), (S, 22, C, 23), "first receiver"),
        # both high, neither a rule port
        ((f"{C}:50001", f"{S}:50002"), (C, 50001, S, 50002), "first receiver"),
    ],
)
def test_port_ladder_without_syn(first, expected, why):
    src, dst = first
    f = flows_of([(0.0, src, dst, "PA"), (0.1, dst, src, "A")]).flows
    assert endpoints(f.iloc[0]) == expected, why
    assert not f.iloc[0].direction_certain


def test_udp_port_ladder_and_conn_states():
    f = flows_of([(0.0, "10.0.0.53:53", f"{C}:53001", "", "udp")]).flows
    row = f.iloc[0]
    assert endpoints(row) == (C, 53001, "10.0.0.53", 53)
    # only the server spoke: Zeek's SHR for UDP
    assert (row.conn_state, row.packets_c2s, row.packets_s2c) == ("SHR", 0, 1)
    f = flows_of(
        [
            (0.0, f"{C}:53001", "10.0.0.53:53", "", "udp"),
            (0.1, "10.0.0.53:53", f"{C}:53001", "", "udp", 90),
        ]
    ).flows
    row = f.iloc[0]
    assert (row.conn_state, row.bytes_c2s, row.bytes_s2c) == ("SF", 60, 90)
    assert (
        flows_of([(0.0, f"{C}:53001", "10.0.0.53:53", "", "udp")]).flows.iloc[0].conn_state == "S0"
    )


def test_rule_ports_decide_only_within_their_proto():
    # 53 is a udp rule port only; over tcp both sides are high/low by the ladder
    f = flows_of([(0.0, f"{C}:53", f"{S}:8080", "PA")], ports={"udp": frozenset({53})}).flows
    assert endpoints(f.iloc[0]) == (S, 8080, C, 53)  # below 1024 wins: server 53
    f = flows_of([(0.0, f"{C}:9081", f"{S}:50000", "PA")], ports={"udp": frozenset({9081})}).flows
    assert endpoints(f.iloc[0]) == (C, 9081, S, 50000)  # first packet's receiver


# ---------------------------------------------------------------- splitting
def _conn(t, sport=51000, close="FA"):
    c, s = f"{C}:{sport}", f"{S}:4008"
    rows = [(t, c, s, "S"), (t + 0.01, s, c, "SA"), (t + 0.02, c, s, "A"), (t + 0.03, c, s, "PA")]
    if close == "FA":
        rows += [(t + 0.04, c, s, "FA"), (t + 0.05, s, c, "FA"), (t + 0.06, c, s, "A")]
    elif close:
        rows += [(t + 0.04, s, c, close)]
    return rows


def test_new_syn_after_fin_starts_a_new_flow():
    f = flows_of(_conn(0.0) + _conn(1.0)).flows
    assert len(f) == 2 and f.conn_state.tolist() == ["SF", "SF"]
    assert f.packets_c2s.tolist() == [5, 5] and f.packets_s2c.tolist() == [2, 2]
    assert f.syn_count.tolist() == [1, 1]


def test_new_syn_after_rst_starts_a_new_flow():
    f = flows_of(_conn(0.0, close="RA") + _conn(1.0, close="")).flows
    assert f.conn_state.tolist() == ["RSTR", "S1"]


def test_retransmitted_syn_does_not_split():
    c, s = f"{C}:51000", f"{S}:4008"
    f = flows_of([(0.0, c, s, "S"), (1.0, c, s, "S"), (3.0, c, s, "S")]).flows
    assert len(f) == 1 and f.iloc[0].syn_count == 3 and f.iloc[0].conn_state == "S0"
    assert f.iloc[0].last_ts_ns - f.iloc[0].first_ts_ns == 3_000_000_000


def test_syn_in_an_open_connection_does_not_split():
    rows = _conn(0.0, close="") + [(0.5, f"{C}:51000", f"{S}:4008", "S")]
    assert len(flows_of(rows).flows) == 1


def test_rst_then_syn_in_the_same_packet_order_splits_each_attempt():
    c, s = f"{C}:51000", f"{S}:4008"
    rows = [
        (0.0, c, s, "S"),
        (0.0, s, c, "RA"),
        (1.0, c, s, "S"),
        (1.0, s, c, "RA"),
        (3.0, c, s, "S"),
        (3.0, s, c, "RA"),
    ]
    f = flows_of(rows).flows
    assert f.conn_state.tolist() == ["REJ"] * 3 and f.syn_count.tolist() == [1, 1, 1]


@pytest.mark.parametrize("gap, flows", [(299.0, 1), (300.0, 1), (301.0, 2)])
def test_tcp_idle_gap(gap, flows):
    c, s = f"{C}:51000", f"{S}:4008"
    rows = [(0.0, c, s, "PA"), (gap, c, s, "PA")]
    assert len(flows_of(rows).flows) == flows


@pytest.mark.parametrize("gap, flows", [(59.0, 1), (60.0, 1), (61.0, 2)])
def test_udp_idle_gap(gap, flows):
    rows = [
        (0.0, f"{C}:53001", "10.0.0.53:53", "", "udp"),
        (gap, "10.0.0.53:53", f"{C}:53001", "", "udp"),
    ]
    assert len(flows_of(rows).flows) == flows


def test_gap_is_measured_in_arrival_order_and_negative_gaps_are_none():
    c, s = f"{C}:51000", f"{S}:4008"
    # 0, 400 (gap: new flow), 100 (backwards: no gap, same flow as 400)
    f = flows_of([(0.0, c, s, "PA"), (400.0, c, s, "PA"), (100.0, c, s, "PA")]).flows
    assert len(f) == 2
    assert f.packets_c2s.tolist() == [1, 2]
    assert f.iloc[1].first_ts_ns == 100 * 10**9 and f.iloc[1].last_ts_ns == 400 * 10**9


def test_syn_after_a_gap_split_needs_a_fin_in_the_new_flow():
    c, s = f"{C}:51000", f"{S}:4008"
    # FIN closes flow 1; 400 s later an ACK opens flow 2 (gap); its SYN does not split
    rows = [(0.0, c, s, "S"), (0.1, c, s, "FA"), (400.0, c, s, "A"), (400.1, c, s, "S")]
    f = flows_of(rows).flows
    assert len(f) == 2 and f.packets_c2s.tolist() == [2, 2]


def test_evicted_flow_reopened_by_a_late_packet():
    k, other = (f"{C}:51000", f"{S}:4008"), ("10.0.0.1:1000", "10.0.0.2:2000")
    rows = [
        (0.0, *k, "PA"),  # flow A of key k
        (1000.0, *other, "PA"),  # time moves on: A is evicted
        (1000.0, *k, "PA"),  # gap: flow B of key k
        (2000.0, *other, "PA"),  # B is evicted
        (1100.0, *k, "PA"),  # back in time, 100 s after B: joins B, not A
    ]
    b = batch(rows)
    whole = packets_to_flows([b], PORTS).flows
    asm = FlowAssembler(evict_margin_ns=0)
    for part in split(b, range(1, len(b))):
        asm.add(part)
    from auditor.flows import state_to_flow_table

    chunked = state_to_flow_table(asm, PORTS).flows
    assert chunked.equals(whole)
    sub = whole[whole.server_port == 4008]
    assert sub.packets_c2s.tolist() == [1, 2]


# ---------------------------------------------------------------- ICMP errors
def test_icmp_port_unreachable_attaches_to_the_udp_flow():
    rows = [
        (0.0, f"{C}:53001", "10.0.0.53:53", "", "udp"),
        (1.0, f"{C}:53001", "10.0.0.53:53", "", "udp"),
    ]
    icmp = [
        (0.001, "10.0.0.53", f"{C}:53001", "10.0.0.53:53", "udp", 3, 3),
        (1.001, "10.0.0.53", f"{C}:53001", "10.0.0.53:53", "udp", 3, 13),
    ]
    t = flows_of(rows, icmp)
    row = t.flows.iloc[0]
    assert (row.icmp_unreach, row.icmp_type, row.icmp_code, row.icmp_reporter) == (
        2,
        3,
        3,
        "10.0.0.53",
    )
    assert t.unmatched_icmp_errors == 0


def test_icmp_quote_in_either_direction_and_from_a_router():
    rows = [(0.0, f"{C}:51000", f"{S}:4008", "S")]
    icmp = [(0.5, "10.20.2.1", f"{S}:4008", f"{C}:51000", "tcp", 3, 13)]
    row = flows_of(rows, icmp).flows.iloc[0]
    assert (row.icmp_unreach, row.icmp_code, row.icmp_reporter) == (1, 13, "10.20.2.1")


def test_icmp_without_a_flow_is_counted_not_attached():
    rows = [(0.0, f"{C}:51000", f"{S}:4008", "S")]
    icmp = [
        (0.5, "10.20.2.1", f"{C}:51001", f"{S}:4008", "tcp", 3, 13),  # no such flow
        (30.0, "10.20.2.1", f"{C}:51000", f"{S}:4008", "tcp", 3, 13),  # 30 s after the flow ended
        (0.5, "10.20.2.1", f"{C}:51000", f"{S}:4008", "udp", 3, 3),
    ]  # other proto
    t = flows_of(rows, icmp)
    assert t.flows.iloc[0].icmp_unreach == 0 and t.flows.iloc[0].icmp_type == -1
    assert t.unmatched_icmp_errors == 3


def test_icmp_attaches_to_the_latest_flow_of_the_key():
    rows = _conn(0.0) + _conn(1.0, close="")
    icmp = [(1.5, "10.20.2.1", f"{C}:51000", f"{S}:4008", "tcp", 3, 1)]
    f = flows_of(rows, icmp).flows
    assert f.icmp_unreach.tolist() == [0, 1]


def test_icmp_attachment_is_the_same_when_chunked():
    rows = _conn(0.0) + _conn(1.0, close="")
    icmp = [
        (0.02, "10.20.2.1", f"{C}:51000", f"{S}:4008", "tcp", 3, 1),
        (1.5, "10.20.2.1", f"{C}:51000", f"{S}:4008", "tcp", 3, 1),
    ]
    b = batch(rows, icmp)
    whole = packets_to_flows([b], PORTS)
    chunked = packets_to_flows(split(b, [3, 5, 9]), PORTS, coalesce_packets=1)
    assert chunked.flows.equals(whole.flows) and whole.flows.icmp_unreach.tolist() == [1, 1]


# ---------------------------------------------------------------- addresses seen
def test_addresses_from_every_ip_packet_only():
    rows = [
        (0.0, f"{C}:51000", f"{S}:4008", "S"),
        (0.1, "10.0.0.1:0", "10.0.0.2:0", "", "icmp"),
        (0.2, "10.0.0.3:0", "10.0.0.4:0", "", "other"),
        (0.3, "[2001:db8::7]:1", "[2001:db8::8]:2", "", "udp"),
    ]
    b = batch(rows)
    cols = {c.name: getattr(b, c.name).copy() for c in PACKET_COLUMNS}
    # a later fragment (no ports) and a non-IP frame (ARP: no addresses)
    cols = {k: np.append(v, [0, 0]).astype(v.dtype) for k, v in cols.items()}
    frag_hi, frag_lo = text_to_addr("10.0.0.5")
    cols["bucket"][-2:] = [Bucket.FRAGMENT, Bucket.NON_IP]
    cols["ip_version"][-2:] = [4, 0]
    cols["src_hi"][-2], cols["src_lo"][-2] = frag_hi, frag_lo
    cols["dst_hi"][-2], cols["dst_lo"][-2] = text_to_addr("10.0.0.6")
    t = packets_to_flows([PacketBatch.from_columns(cols)], PORTS)
    seen = {(int(h), int(lo)) for h, lo in t.addresses}
    want = {
        text_to_addr(a)
        for a in (
            C,
            S,
            "10.0.0.1",
            "10.0.0.2",
            "10.0.0.3",
            "10.0.0.4",
            "10.0.0.5",
            "10.0.0.6",
            "2001:db8::7",
            "2001:db8::8",
        )
    }
    assert seen == want
    assert t.addresses.dtype == np.uint64 and t.addresses.shape == (len(want), 2)
    assert (np.lexsort((t.addresses[:, 1], t.addresses[:, 0])) == np.arange(len(want))).all()
    h, lo = zip(*[text_to_addr(C), text_to_addr("10.9.9.9")])
    assert t.saw(h, lo).tolist() == [True, False]
    assert len(t.flows) == 2  # only TCP and UDP make flows


# ---------------------------------------------------------------- activity
def test_activity_per_flow_and_bin():
    c, s = f"{C}:51000", f"{S}:4008"
    rows = [
        (0.1, c, s, "S", "tcp", 60),
        (0.5, s, c, "SA", "tcp", 60),
        (1.2, c, s, "A", "tcp", 54),
        (0.7, "10.0.0.1:1", "10.0.0.2:2", "", "udp", 100),
    ]
    t = flows_of(rows)
    a = t.activity
    assert list(a.columns) == ["flow", "bin_start_ns", "packets", "bytes"]
    assert a.values.tolist() == [[0, 0, 2, 120], [0, 1_000_000_000, 1, 54], [1, 0, 1, 100]]
    assert t.flows.iloc[0].server_port == 4008
    t2 = flows_of(rows, activity_bin_ns=10**10)
    assert t2.activity.values.tolist() == [[0, 0, 3, 174], [1, 0, 1, 100]]
    assert packets_to_flows(split(batch(rows), [1, 2, 3]), PORTS, coalesce_packets=1).activity.equals(a)

"""Property: whatever a connection does (hypothesis draws the operations),
the packets the simulator writes are a consistent TCP conversation."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.l2 import Ether

from auditor.simulate.wire import MS, SEC, TcpConn, Wire

from .test_simulate import streams, tcp_problems

operations = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.booleans(), st.integers(1, 6 * 1448 + 7)),
        st.tuples(st.just("request"), st.integers(1, 3000), st.integers(1, 5000)),
        st.tuples(st.just("tls"), st.just(0), st.just(0)),
    ),
    max_size=6,
)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32),
    opening=st.sampled_from(["open", "mid-stream"]),
    ops=operations,
    ending=st.sampled_from(["close-client", "close-server", "reset", "cut", "open-ended"]),
    rtt_ms=st.sampled_from([0, 1, 12, 25]),
    ipv6=st.booleans(),
)
def test_any_connection_is_consistent(seed, opening, ops, ending, rtt_ms, ipv6):
    client, server = (
        ("2001:db8:10::10", "2001:db8:20:2::11") if ipv6 else ("10.10.0.10", "10.20.2.11")
    )
    gateways = {"2001:db8:10:": "2001:db8:10::1", "2001:db8:20:": "2001:db8:20::1"} if ipv6 else {
        "10.10.": "10.10.0.1", "10.20.": "10.20.0.1"}  # fmt: skip
    wire = Wire(random.Random(seed), gateways)
    c = TcpConn(wire, client, server, 50000, 4008, max(rtt_ms * MS, 100_000))
    t = SEC
    if opening == "open":
        t = c.open(t)
    else:
        c.established_before_capture()
    for op, a, b in ops:
        if op == "send":
            t = c.send(t + MS, a, b)
        elif op == "request":
            t = c.request(t + MS, a, b)
        else:
            t = c.tls_open(t + MS)
    if ending.startswith("close"):
        c.close(t + MS, by_client=ending == "close-client")
    elif ending == "reset":
        c.reset(t + MS)
    elif ending == "cut":
        c.reset(c.send_unacknowledged(t + MS, True, 3000))
    packets = [Ether(f.data) for f in wire.sorted_frames()]
    if not packets:
        return
    (conn,) = streams(packets).values()
    assert tcp_problems(conn) == []

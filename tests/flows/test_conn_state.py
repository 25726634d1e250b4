"""Zeek conn_state, one crafted conversation per code, and the machine's
transcription itself."""

from __future__ import annotations

import pytest

from auditor.flows import packets_to_flows
from auditor.flows.zeek_tcp import (
    CLOSED,
    ESTABLISHED,
    INACTIVE,
    N_ENDPOINT,
    RESET,
    RESET_AFTER_CLOSE,
    SYN_SENT,
    step,
    symbol,
)
from auditor.tables import CONN_STATES

from .build import scapy_batch
from .reference import reference_flows
from .scenes import scene

EXPECTED_CLIENT = {s: ("10.10.2.11", 51012, "10.20.2.21", 4008) for s in CONN_STATES}


@pytest.mark.parametrize("state", list(CONN_STATES))
def test_each_conn_state_from_a_crafted_conversation(state):
    conv = scene(state)
    b = scapy_batch(conv.packets)
    flows = packets_to_flows([b], {"tcp": frozenset({4008})}).flows
    assert len(flows) == 1
    row = flows.iloc[0]
    assert row.conn_state == state
    assert (row.client_ip, row.client_port, row.server_ip, row.server_port) == EXPECTED_CLIENT[
        state
    ]
    assert row.packets_c2s + row.packets_s2c == len(conv.packets)
    # the per-packet oracle agrees
    assert reference_flows(b, {"tcp": {4008}}).iloc[0].conn_state == state


def test_conn_state_is_the_same_in_every_chunking():
    for state in CONN_STATES:
        b = scapy_batch(scene(state).packets)
        from .build import split

        one = packets_to_flows([b], {}).flows
        for size in (1, 2, 3):
            parts = split(b, range(size, len(b), size))
            assert packets_to_flows(parts, {}, coalesce_packets=1).flows.equals(one), state


def _run(*syms):
    s = 0
    for sym in syms:
        s = step(s, sym)
    return divmod(s, N_ENDPOINT)


def test_machine_follows_zeek_on_the_handshake():
    syn = symbol(1, 1, 0, 0, 0, 0)
    synack = symbol(0, 1, 1, 0, 0, 0)
    assert _run(syn) == (SYN_SENT, INACTIVE)
    assert _run(syn, synack) == (ESTABLISHED, ESTABLISHED)  # the SYN-ACK establishes both ends
    fin_o, fin_r = symbol(1, 0, 1, 1, 0, 0), symbol(0, 0, 1, 1, 0, 0)
    assert _run(syn, synack, fin_o, fin_r) == (CLOSED, CLOSED)


def test_fin_then_rst_counts_as_normal_close():
    # orig FIN, orig RST (RESET after CLOSED), then the responder's FIN turns
    # the originator back into CLOSED (TCP.cc UpdateEstablishedState)
    syn, synack = symbol(1, 1, 0, 0, 0, 0), symbol(0, 1, 1, 0, 0, 0)
    fin_o, rst_o, fin_r = (
        symbol(1, 0, 1, 1, 0, 0),
        symbol(1, 0, 0, 0, 1, 0),
        symbol(0, 0, 1, 1, 0, 0),
    )
    # CLOSED does not move to RESET while the peer is ESTABLISHED? it does: peer not CLOSED
    assert _run(syn, synack, fin_o, rst_o) == (RESET_AFTER_CLOSE, ESTABLISHED)
    assert _run(syn, synack, fin_o, rst_o, fin_r) == (CLOSED, CLOSED)
    # a plain RESET (from ESTABLISHED) stays RESET
    assert _run(syn, synack, rst_o, fin_r) == (RESET, CLOSED)


def test_responder_payload_free_ack_to_a_syn_keeps_it_inactive():
    syn = symbol(1, 1, 0, 0, 0, 0)
    ack_r = symbol(0, 0, 1, 0, 0, 0)
    data_r = symbol(0, 0, 1, 0, 0, 1)
    assert _run(syn, ack_r) == (SYN_SENT, INACTIVE)
    assert _run(syn, data_r)[1] != INACTIVE

"""Property tests: the chunked, vectorised flow stage equals the packet-by-
packet reference, whatever the chunk sizes, and obeys the SPEC's invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.flows import packets_to_flows, state_to_flow_table
from auditor.flows.assemble import FlowAssembler
from auditor.tables import FLOW_COLUMNS, PACKET_COLUMNS, PacketBatch

from .build import batch, split
from .reference import as_records, reference_flows

V4 = ["10.0.0.1:1000", "10.0.0.2:443", "10.0.0.2:1000", "10.0.0.3:4008", "10.0.0.1:4008"]
V6 = ["[2001:db8::1]:4008", "[2001:db8::2]:50000"]
FLAGS = ["S", "SA", "A", "PA", "FA", "F", "R", "RA", "FPA", "SF", "SR", "FR", "", "P", "SRA", "FRA"]
STEPS = [0, 0, 0, 0.001, 0.5, 1, 59, 61, 299, 301, 400, -5, -400]
RULE_PORTS = {"tcp": frozenset({4008, 443}), "udp": frozenset({53})}


@st.composite
def packet_sequences(draw, max_size=60):
    n = draw(st.integers(1, max_size))
    t = 1_700_000_000.0
    rows, errors = [], []
    for _ in range(n):
        t += draw(st.sampled_from(STEPS))
        pool = V6 if draw(st.integers(0, 5)) == 0 else V4
        src = draw(st.sampled_from(pool))
        dst = draw(st.sampled_from([e for e in pool if e != src]))
        proto = draw(st.sampled_from(["tcp", "tcp", "tcp", "udp", "icmp"]))
        fl = draw(st.sampled_from(FLAGS)) if proto == "tcp" else ""
        rows.append((round(t, 3), src, dst, fl, proto, draw(st.integers(40, 1514))))
        if proto != "icmp" and draw(st.integers(0, 9)) == 0:
            q = (src, dst) if draw(st.booleans()) else (dst, src)
            errors.append(
                (
                    round(t + draw(st.sampled_from([0, 0.2, 5, 11, -1])), 3),
                    "192.0.2.1",
                    q[0],
                    q[1],
                    proto,
                    3,
                    draw(st.sampled_from([1, 3, 13])),
                )
            )
    errors.sort(key=lambda e: e[0])
    cuts = draw(st.lists(st.integers(0, n), max_size=6))
    return batch(rows, errors), cuts


def run(batches, margin=None, rule_ports=RULE_PORTS):
    asm = FlowAssembler() if margin is None else FlowAssembler(evict_margin_ns=margin)
    for b in batches:
        asm.add(b)
    return state_to_flow_table(asm, rule_ports)


def same_table(x, y):
    pd.testing.assert_frame_equal(x.flows, y.flows)
    pd.testing.assert_frame_equal(x.activity, y.activity)
    assert np.array_equal(x.addresses, y.addresses)
    assert x.unmatched_icmp_errors == y.unmatched_icmp_errors


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packet_sequences())
def test_matches_reference_and_chunking(case):
    b, cuts = case
    whole = packets_to_flows([b], RULE_PORTS)
    assert list(whole.flows.columns) == [c.name for c in FLOW_COLUMNS]
    assert as_records(whole.flows) == as_records(
        reference_flows(b, RULE_PORTS)[whole.flows.columns]
    )
    same_table(run(split(b, cuts)), whole)
    # evict as early as possible: reopening must restore the same flows
    same_table(run(split(b, cuts), margin=0), whole)


@settings(max_examples=15, deadline=None)
@given(packet_sequences(max_size=40))
def test_fixed_batch_sizes(case):
    b, _ = case
    whole = packets_to_flows([b], RULE_PORTS)
    for size in (1, 2, 7, 1000):
        same_table(run(split(b, range(size, len(b), size)), margin=0), whole)


@settings(max_examples=30, deadline=None)
@given(packet_sequences())
def test_bare_syn_sender_is_client(case):
    b, _ = case
    flows = packets_to_flows([b], RULE_PORTS).flows
    ref = reference_flows(b, {})  # (the oracle agrees, see above) find each flow's first bare SYN
    assert len(flows) == len(ref)
    syn = (
        ((b.tcp_flags & 0x02) != 0) & ((b.tcp_flags & 0x10) == 0) & (b.proto == 6) & (b.bucket == 0)
    )
    from auditor.tables import addr_to_text

    senders = {
        (
            addr_to_text(b.src_hi[i], b.src_lo[i]),
            int(b.sport[i]),
            addr_to_text(b.dst_hi[i], b.dst_lo[i]),
            int(b.dport[i]),
            int(b.ts_ns[i]),
        )
        for i in np.flatnonzero(syn)
    }
    for row in flows.itertuples():
        if row.syn_count > 0:
            assert row.direction_certain
            # some bare SYN of this flow went client -> server, within the flow's time span
            assert any(
                s[:4] == (row.client_ip, row.client_port, row.server_ip, row.server_port)
                and row.first_ts_ns <= s[4] <= row.last_ts_ns
                for s in senders
            )


def _shuffle_equal_times(b: PacketBatch, seed: int) -> PacketBatch:
    """Reorder packets that share a timestamp, keeping each key's own order."""
    rng = np.random.default_rng(seed)
    n = len(b)
    a = [
        (
            min(
                (int(b.src_hi[i]), int(b.src_lo[i]), int(b.sport[i])),
                (int(b.dst_hi[i]), int(b.dst_lo[i]), int(b.dport[i])),
            ),
            max(
                (int(b.src_hi[i]), int(b.src_lo[i]), int(b.sport[i])),
                (int(b.dst_hi[i]), int(b.dst_lo[i]), int(b.dport[i])),
            ),
            int(b.proto[i]),
        )
        for i in range(n)
    ]
    order = list(range(n))
    i = 0
    while i < n:
        j = i
        while j < n and b.ts_ns[j] == b.ts_ns[i]:
            j += 1
        group = order[i:j]
        # random interleaving of the per-key subsequences
        by_key: dict = {}
        for p in group:
            by_key.setdefault(a[p], []).append(p)
        queues = list(by_key.values())
        merged = []
        while queues:
            q = queues[rng.integers(len(queues))]
            merged.append(q.pop(0))
            queues = [x for x in queues if x]
        order[i:j] = merged
        i = j
    idx = np.asarray(order)
    return PacketBatch.from_columns(
        {c.name: getattr(b, c.name)[idx] for c in PACKET_COLUMNS}, b.icmp_errors
    )


@settings(max_examples=30, deadline=None)
@given(packet_sequences(), st.integers(0, 2**32 - 1))
def test_shuffling_equal_times_across_keys_changes_no_flow(case, seed):
    b, _ = case
    before = packets_to_flows([b], RULE_PORTS)
    after = packets_to_flows([_shuffle_equal_times(b, seed)], RULE_PORTS)
    pd.testing.assert_frame_equal(before.flows, after.flows)
    pd.testing.assert_frame_equal(before.activity, after.activity)


NO_BARE_SYN = [f for f in FLAGS if not ("S" in f and "A" not in f)]


@st.composite
def long_flows(draw):
    """One key, many control packets and no bare SYN after the first packet:
    a single flow deeper than the step-by-step fold (composition path)."""
    n = draw(st.integers(60, 200))
    first = draw(st.sampled_from(["S", "SA", "A", "PA"]))
    rows, t = [], 1_700_000_000.0
    for i in range(n):
        fwd = draw(st.booleans())
        src, dst = ("10.0.0.1:1000", "10.0.0.2:443") if fwd else ("10.0.0.2:443", "10.0.0.1:1000")
        rows.append(
            (round(t, 3), src, dst, first if i == 0 else draw(st.sampled_from(NO_BARE_SYN)))
        )
        t += 0.001
    return batch(rows), draw(st.lists(st.integers(0, n), max_size=4))


@settings(max_examples=25, deadline=None)
@given(long_flows())
def test_long_flows_match_reference(case):
    b, cuts = case
    whole = packets_to_flows([b], RULE_PORTS)
    assert len(whole.flows) == 1
    assert as_records(whole.flows) == as_records(
        reference_flows(b, RULE_PORTS)[whole.flows.columns]
    )
    same_table(run(split(b, cuts)), whole)


class _EagerAssembler(FlowAssembler):
    """Compacts its piles after every chunk and evicts as early as it may."""

    def __init__(self) -> None:
        super().__init__(evict_margin_ns=0)

    def _compact(self, limit: int = 256) -> None:
        super()._compact(limit=1)


@settings(max_examples=20, deadline=None)
@given(packet_sequences(max_size=40))
def test_compaction_and_internal_slicing_change_nothing(case):
    from auditor.flows import assemble

    b, cuts = case
    whole = packets_to_flows([b], RULE_PORTS)
    asm = _EagerAssembler()
    for part in split(b, cuts):
        asm.add(part)
    same_table(state_to_flow_table(asm, RULE_PORTS), whole)
    saved = assemble.SUB_CHUNK
    try:
        for size in (3, 1):  # one big batch cut into slices inside add()
            assemble.SUB_CHUNK = size
            same_table(packets_to_flows([b], RULE_PORTS), whole)
    finally:
        assemble.SUB_CHUNK = saved


@settings(max_examples=20, deadline=None)
@given(packet_sequences(max_size=40))
def test_unpacked_key_codes_change_nothing(case):
    """Keys of many addresses are coded in two hashing passes, not one."""
    from auditor.flows import keys

    b, cuts = case
    whole = packets_to_flows([b], RULE_PORTS)
    saved = keys.PACKED_ADDRESSES
    try:
        keys.PACKED_ADDRESSES = 0
        same_table(packets_to_flows([b], RULE_PORTS), whole)
        same_table(run(split(b, cuts), margin=0), whole)
    finally:
        keys.PACKED_ADDRESSES = saved

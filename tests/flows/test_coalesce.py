"""The flow stage joins small batches before assembly (``coalesce_batches``):
same packets, same order, same ICMP errors, and the same flows whatever the
batch sizes coming in and the size they are joined to."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.flows import coalesce_batches, packets_to_flows
from auditor.tables import PACKET_COLUMNS, IcmpErrors, PacketBatch

from .build import split
from .test_properties import RULE_PORTS, packet_sequences, same_table


def _numbered(n: int, first: int, errors: int = 0) -> PacketBatch:
    """``n`` packets whose ``ts_ns`` count up from ``first``, with ``errors``
    ICMP errors whose ``ts_ns`` do the same."""
    cols = {c.name: np.zeros(n, c.dtype) for c in PACKET_COLUMNS}
    cols["ts_ns"] = np.arange(first, first + n, dtype=np.int64)
    err = IcmpErrors(**{f.name: np.zeros(errors, getattr(IcmpErrors(), f.name).dtype) for f in fields(IcmpErrors)})
    err.ts_ns = np.arange(first, first + errors, dtype=np.int64)
    return PacketBatch.from_columns(cols, err)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 30), st.integers(0, 2)), max_size=20),
    st.integers(1, 40),
)
def test_joined_batches_keep_packets_errors_and_order(sizes, min_packets):
    batches, t = [], 0
    for n, errors in sizes:
        batches.append(_numbered(n, t, min(errors, n)))
        t += n
    out = list(coalesce_batches(iter(batches), min_packets))
    for c in PACKET_COLUMNS:
        got = np.concatenate([getattr(b, c.name) for b in out]) if out else np.zeros(0, c.dtype)
        assert got.dtype == np.dtype(c.dtype)
        want = np.concatenate([getattr(b, c.name) for b in batches]) if batches else got
        assert np.array_equal(got, want), c.name
    err_ts = [b.icmp_errors.ts_ns for b in out]
    assert np.array_equal(
        np.concatenate(err_ts) if err_ts else np.zeros(0, np.int64),
        np.concatenate([b.icmp_errors.ts_ns for b in batches]) if batches else np.zeros(0, np.int64),
    )
    for b in out:
        b.check()
    # every joined batch is big enough, but the last and one just before a big batch
    for i, b in enumerate(out[:-1]):
        assert len(b) >= min_packets or len(out[i + 1]) >= min_packets
    # a big batch is handed on as it is, not copied
    big = [b for b in batches if len(b) >= min_packets]
    assert all(any(o is b for o in out) for b in big)


def test_small_reader_batches_are_joined_to_the_target_size():
    batches = [_numbered(10, 10 * i) for i in range(25)]
    out = list(coalesce_batches(batches, 64))
    assert [len(b) for b in out] == [70, 70, 70, 40]


@settings(max_examples=40, deadline=None)
@given(packet_sequences(), st.sampled_from([2, 3, 10, 1 << 17]))
def test_flows_are_the_same_whatever_the_joined_size(case, min_packets):
    b, cuts = case
    whole = packets_to_flows([b], RULE_PORTS, coalesce_packets=1)
    parts = split(b, cuts)
    same_table(packets_to_flows(parts, RULE_PORTS, coalesce_packets=min_packets), whole)
    one_by_one = split(b, range(1, len(b)))
    same_table(packets_to_flows(one_by_one, RULE_PORTS, coalesce_packets=min_packets), whole)

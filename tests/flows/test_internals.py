"""The flow stage's building blocks against their plain definitions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.flows import keys as K
from auditor.flows.assemble import FOLD_DEPTH, STATE_FIELDS, OpenTable, fold_states
from auditor.flows.zeek_tcp import N_STATE, N_SYMBOL, TRANSITIONS
from auditor.tables import addr_to_text, iso_utc, iso_utc_array


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 3 * FOLD_DEPTH), min_size=1, max_size=12),
    st.integers(0, 2**32 - 1),
)
def test_fold_equals_stepwise_application(counts, seed):
    """Shallow pieces go step by step, deep ones through function composition:
    both must equal applying the table packet by packet."""
    rng = np.random.default_rng(seed)
    counts = np.asarray(counts)
    piece = np.repeat(np.arange(len(counts)), counts)
    symbols = rng.integers(0, N_SYMBOL, len(piece)).astype(np.intp)
    init = rng.integers(0, N_STATE, len(counts)).astype(np.uint8)
    want = init.copy()
    for sym, p in zip(symbols, piece):
        want[p] = TRANSITIONS[sym, want[p]]
    assert np.array_equal(fold_states(symbols, piece, init), want)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(-(2**62), 2**62),
            st.integers(0, 10**12).map(lambda us: us * 1000),
            st.integers(1_600_000_000, 1_900_000_000).map(lambda s: s * 10**9),
        ),
        max_size=30,
    )
)
def test_iso_utc_array_equals_iso_utc(values):
    ts = np.asarray(values, dtype=np.int64)
    assert iso_utc_array(ts).tolist() == [iso_utc(int(t)) for t in ts]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(0, 2**32 - 1).map(lambda v: (0, 0xFFFF00000000 | v)),
            st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)),
            st.tuples(st.just(0), st.integers(0, 2**64 - 1)),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_address_text_and_rank(addrs):
    hi = np.array([a[0] for a in addrs], np.uint64)
    lo = np.array([a[1] for a in addrs], np.uint64)
    text, rank = K.addresses_to_text_and_rank(hi, lo)
    assert text.tolist() == [addr_to_text(h, lo_) for h, lo_ in addrs]
    # ranks order the rows exactly as their texts
    for i in range(len(addrs)):
        for j in range(len(addrs)):
            assert (rank[i] < rank[j]) == (text[i] < text[j])
    pairs = K.unique_pairs(hi, lo)
    assert [tuple(map(int, p)) for p in pairs] == sorted(set(addrs))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 3),
            st.integers(0, 2),
            st.integers(0, 2),
            st.booleans(),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_flow_key_codes_equal_exactly_when_keys_equal(rows):
    vals = [0, 1, 2**63, 2**64 - 1]
    proto = np.array([6 if r[4] else 17 for r in rows], np.uint8)
    a_hi = np.array([vals[r[0]] for r in rows], np.uint64)
    a_lo = np.array([vals[r[1]] for r in rows], np.uint64)
    a_port = np.array([r[2] for r in rows], np.uint16)
    b_port = np.array([r[3] * 30000 for r in rows], np.uint16)
    b_hi, b_lo = a_lo.copy(), a_hi.copy()
    keys = list(zip(proto.tolist(), a_hi.tolist(), a_lo.tolist(), a_port.tolist(), b_port.tolist()))
    saved = K.PACKED_ADDRESSES
    try:
        for packed in (saved, 0):  # one int64 per key, or address pairs coded first
            K.PACKED_ADDRESSES = packed
            codes, n = K.flow_key_codes(proto, a_hi, a_lo, a_port, b_hi, b_lo, b_port)
            assert n == len(set(keys))
            for i in range(len(rows)):
                for j in range(len(rows)):
                    assert (codes[i] == codes[j]) == (keys[i] == keys[j])
    finally:
        K.PACKED_ADDRESSES = saved


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(0, 2**32 - 1).map(lambda v: (0, 0xFFFF00000000 | v)),
            st.tuples(st.sampled_from([0, 1, 2**63, 2**64 - 1]), st.integers(0, 2**64 - 1)),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_ordered_address_codes_keep_equality_and_order(addrs):
    hi = np.array([a[0] for a in addrs], np.uint64)
    lo = np.array([a[1] for a in addrs], np.uint64)
    codes, u_hi, u_lo = K.ordered_address_codes(hi, lo)
    assert list(zip(u_hi.tolist(), u_lo.tolist())) == sorted(set(addrs))
    assert [(int(u_hi[c]), int(u_lo[c])) for c in codes] == addrs


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["append", "put", "remove"]), st.integers(0, 3000), st.integers(0, 2**32 - 1)),
        max_size=25,
    )
)
def test_open_table_is_its_rows(ops):
    """Appends, overwrites and removals (holes filled by the last rows, the
    columns growing and shrinking) keep exactly the rows a plain dict keeps."""
    table, model, next_id = OpenTable(), {}, 0
    for op, k, seed in ops:
        rng = np.random.default_rng(seed)
        n = len(table)
        if op == "append":
            ids = np.arange(next_id, next_id + k, dtype=np.int64)
            next_id += k
            state = {f: rng.integers(0, 100, k).astype(t) for f, t in STATE_FIELDS.items()}
            state["flow_id"] = ids
            table.append(state)
            for i, fid in enumerate(ids):
                model[int(fid)] = int(state["pk0"][i])
        elif op == "put" and n:
            rows = rng.choice(n, size=min(k, n), replace=False)
            state = {f: v[rows] for f, v in table.view().items()}
            state["pk0"] = rng.integers(0, 100, len(rows))
            table.put(rows, state)
            for fid, pk in zip(state["flow_id"], state["pk0"]):
                model[int(fid)] = int(pk)
        elif op == "remove" and n:
            rows = np.sort(rng.choice(n, size=min(k, n), replace=False))
            for fid in table.column("flow_id")[rows]:
                del model[int(fid)]
            table.remove(rows)
        view = table.view()
        assert len(table) == len(model) == len(view["pk0"])
        assert dict(zip(view["flow_id"].tolist(), view["pk0"].tolist())) == model
        assert all(v.dtype == np.dtype(STATE_FIELDS[f]) for f, v in view.items())


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=10),
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), max_size=10),
)
def test_saw_is_membership(seen, queries):
    from auditor.flows import FlowTable

    pairs = K.unique_pairs(
        np.array([s[0] for s in seen], np.uint64), np.array([s[1] for s in seen], np.uint64)
    )
    table = FlowTable(flows=None, addresses=pairs)  # type: ignore[arg-type]
    got = table.saw([q[0] for q in queries], [q[1] for q in queries])
    assert got.tolist() == [q in set(seen) for q in queries]

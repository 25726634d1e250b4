"""Later IP fragments attached to their datagram's flow (issue 6): in order,
out of order within the windows, never across keys or windows; buckets stay
exact; the result does not depend on chunk sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditor.flows import fragments as FR
from auditor.flows import packets_to_flows
from auditor.tables import Bucket, PacketBatch

from .build import NS, batch

C, S = "10.0.0.1", "10.0.0.2"
C6, S6 = "[2001:db8::1]", "[2001:db8::2]"


def frames(rows) -> PacketBatch:
    """Rows: (t, "src:port", "dst:port", flags, proto, wire, frag, ip_id); frag 2
    rows lose their ports and flags and sit in the fragment bucket, as the
    capture stage hands them over."""
    b = batch([r[:6] for r in rows])
    b.frag[:] = [r[6] for r in rows]
    b.ip_id[:] = [r[7] for r in rows]
    later = b.frag == 2
    b.bucket[later] = Bucket.FRAGMENT
    b.sport[later] = b.dport[later] = b.tcp_flags[later] = 0
    return b


def split(b: PacketBatch, size: int) -> list[PacketBatch]:
    cols = {c: getattr(b, c) for c in ("ts_ns", "wire_len", "bucket", "ip_version", "src_hi", "src_lo", "dst_hi",
                                       "dst_lo", "proto", "sport", "dport", "tcp_flags", "ip_id", "frag")}
    return [PacketBatch.from_columns({k: v[i : i + size] for k, v in cols.items()})
            for i in range(0, len(b), size)]


def counts_of(b: PacketBatch) -> dict[str, int]:
    n = np.bincount(b.bucket, minlength=len(Bucket))
    return {"read": len(b), **{x.key: int(n[x]) for x in Bucket}}


def flow_rows(table) -> list[tuple]:
    f = table.flows
    return list(zip(f.client_port, f.server_port, f.proto, f.packets_c2s, f.packets_s2c, f.bytes_c2s,
                    f.bytes_s2c, f.conn_state, f.first_ts_ns, f.last_ts_ns))


DNS = [
    (1.0, f"{C}:5000", f"{S}:53", "", "udp", 80, 0, 1),
    (1.1, f"{S}:53", f"{C}:5000", "", "udp", 1514, 1, 77),  # first fragment of the answer
    (1.2, f"{S}:53", f"{C}:5000", "", "udp", 1514, 2, 77),
    (1.3, f"{S}:53", f"{C}:5000", "", "udp", 300, 2, 77),
]


def test_later_fragments_count_in_their_flow_and_leave_the_fragment_bucket() -> None:
    b = frames(DNS)
    table = packets_to_flows([b])
    assert table.attached_fragments == {"tcp": 0, "udp": 2}
    assert flow_rows(table) == [(5000, 53, "udp", 1, 3, 80, 1514 + 1514 + 300, "SF", 1 * NS, round(1.3 * NS))]
    counts = table.packet_counts(counts_of(b))
    assert (counts["udp"], counts["fragment"]) == (4, 0)
    assert sum(v for k, v in counts.items() if k != "read") == counts["read"] == 4


def test_a_later_fragment_before_its_first_attaches_at_the_first_ones_time() -> None:
    rows = [
        (1.0, f"{C6}:5000", f"{S6}:53", "", "udp", 90, 0, 0),
        (1.2, f"{S6}:53", f"{C6}:5000", "", "udp", 400, 2, 0x10203),  # arrives first
        (1.3, f"{S6}:53", f"{C6}:5000", "", "udp", 1500, 1, 0x10203),
    ]
    table = packets_to_flows([frames(rows)])
    assert table.attached_fragments == {"tcp": 0, "udp": 1}
    assert flow_rows(table) == [(5000, 53, "udp", 1, 2, 90, 1900, "SF", 1 * NS, round(1.3 * NS))]


@pytest.mark.parametrize(
    "change",
    [
        {"ip_id": 78},  # another datagram
        {"src": f"{C}:53"},  # another sender (the receiver's address)
        {"proto": "tcp"},  # another protocol
        {"t": 1.1 + 31.0},  # after the first fragment by more than WINDOW_NS
        {"t": 1.1 - 31.0, "first": True},  # before it (out of order) by more than WINDOW_NS
    ],
)
def test_what_cannot_be_attached_stays_a_fragment(change: dict) -> None:
    t = change.get("t", 1.2)
    later = (t, change.get("src", f"{S}:53"), f"{C}:5000", "", change.get("proto", "udp"), 700, 2,
             change.get("ip_id", 77))
    rows = [DNS[0], DNS[1], later] if not change.get("first") else [later, DNS[0], DNS[1]]
    b = frames(rows)
    table = packets_to_flows([b])
    assert table.attached_fragments == {"tcp": 0, "udp": 0}
    assert table.packet_counts(counts_of(b))["fragment"] == 1
    assert int(table.flows.packets_s2c.sum()) == 1


def test_packet_window_bounds_attachment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FR, "WINDOW_PACKETS", 3)
    filler = [(1.15, f"{C}:6000", f"{S}:53", "", "udp", 60, 0, 0)]
    near = frames([DNS[1], *filler * 2, DNS[2]])  # 3 packets after the first fragment
    far = frames([DNS[1], *filler * 3, DNS[2]])  # 4 packets after
    assert packets_to_flows([near]).attached_fragments["udp"] == 1
    assert packets_to_flows([far]).attached_fragments["udp"] == 0
    early = frames([DNS[2], *filler * 3, DNS[1]])  # out of order, 4 packets before
    assert packets_to_flows([early]).attached_fragments["udp"] == 0
    for size in (1, 2, 3):
        assert packets_to_flows(split(near, size), coalesce_packets=1).attached_fragments["udp"] == 1
        assert packets_to_flows(split(far, size), coalesce_packets=1).attached_fragments["udp"] == 0


def test_the_latest_first_fragment_of_a_reused_ip_id_wins() -> None:
    rows = [
        (1.0, f"{S}:53", f"{C}:5000", "", "udp", 1500, 1, 77),
        (2.0, f"{S}:53", f"{C}:5001", "", "udp", 1500, 1, 77),  # same id, another query's answer
        (2.1, f"{S}:53", f"{C}:0", "", "udp", 400, 2, 77),
    ]
    table = packets_to_flows([frames(rows)])
    f = table.flows.set_index("client_port")
    assert (f.loc[5000, "packets_s2c"], f.loc[5001, "packets_s2c"]) == (1, 2)


def test_attached_tcp_fragments_leave_conn_state_and_direction_alone() -> None:
    handshake = [
        (1.0, f"{C}:40000", f"{S}:4008", "S", "tcp", 60, 0, 1),
        (1.1, f"{S}:4008", f"{C}:40000", "SA", "tcp", 60, 0, 2),
        (1.2, f"{C}:40000", f"{S}:4008", "A", "tcp", 60, 0, 3),
        (1.3, f"{C}:40000", f"{S}:4008", "PA", "tcp", 1514, 1, 4),
    ]
    close = [
        (1.5, f"{C}:40000", f"{S}:4008", "FA", "tcp", 60, 0, 5),
        (1.6, f"{S}:4008", f"{C}:40000", "FA", "tcp", 60, 0, 6),
        (1.7, f"{C}:40000", f"{S}:4008", "A", "tcp", 60, 0, 7),
    ]
    frag = (1.4, f"{C}:40000", f"{S}:4008", "", "tcp", 600, 2, 4)
    without = packets_to_flows([frames(handshake + close)]).flows
    with_frag = packets_to_flows([frames([*handshake, frag, *close])])
    assert with_frag.attached_fragments == {"tcp": 1, "udp": 0}
    got = with_frag.flows
    assert got.packets_c2s.tolist() == [without.packets_c2s[0] + 1]
    assert got.bytes_c2s.tolist() == [without.bytes_c2s[0] + 600]
    assert got.conn_state.tolist() == without.conn_state.tolist() == ["SF"]
    # a server-to-client fragment arriving first, before its first fragment, in a
    # midstream flow: it is counted after the first fragment, so it does not
    # decide who spoke first
    mid = [(2.0, f"{S}:4008", f"{C}:40000", "", "tcp", 600, 2, 9),
           (2.1, f"{C}:40000", f"{S}:4008", "PA", "tcp", 100, 0, 8),
           (2.2, f"{S}:4008", f"{C}:40000", "PA", "tcp", 1514, 1, 9)]
    f = packets_to_flows([frames(mid)], {"tcp": frozenset({4008})}).flows
    assert (f.client_port[0], f.packets_c2s[0], f.packets_s2c[0], f.first_ts_ns[0]) == (40000, 1, 2, round(2.1 * NS))


def _mixed(seed: int, n: int = 300) -> PacketBatch:
    """Many datagrams over few keys and reused ids, fragments in and out of order."""
    rng = np.random.default_rng(seed)
    rows = []
    t = 0.0
    for _ in range(n):
        t += float(rng.exponential(0.5))
        src, dst = (f"{C}:5000", f"{S}:53") if rng.random() < 0.5 else (f"{S}:53", f"{C}:5000")
        proto = "udp" if rng.random() < 0.7 else "tcp"
        ip_id = int(rng.integers(0, 4))
        kind = rng.choice(["whole", "first", "later", "datagram"])
        if kind == "datagram":  # a first fragment with 1-3 later ones, shuffled locally
            parts = [(t, src, dst, "A" if proto == "tcp" else "", proto, 1500, 1, ip_id)]
            parts += [(t + 0.01 * (k + 1), src, dst, "", proto, 700, 2, ip_id) for k in range(rng.integers(1, 4))]
            rng.shuffle(parts)
            rows += parts
        else:
            frag = {"whole": 0, "first": 1, "later": 2}[kind]
            rows.append((t, src, dst, "A" if proto == "tcp" else "", proto, 200, frag, ip_id))
    return frames(rows)


def _attached_by_rule(b: PacketBatch) -> dict[str, int]:
    """The module doc's rule, one fragment at a time (quadratic, for small inputs)."""
    key = list(zip(b.src_hi.tolist(), b.src_lo.tolist(), b.dst_hi.tolist(), b.dst_lo.tolist(),
                   b.proto.tolist(), b.ip_id.tolist()))
    ts = b.ts_ns.tolist()
    firsts = [i for i in range(len(b)) if b.frag[i] == 1 and b.bucket[i] in (Bucket.TCP, Bucket.UDP)]
    out = {"tcp": 0, "udp": 0}
    for i in np.flatnonzero((b.frag == 2) & (b.bucket == Bucket.FRAGMENT)).tolist():
        def close(j: int, i: int = i) -> bool:
            return abs(j - i) <= FR.WINDOW_PACKETS and abs(ts[j] - ts[i]) <= FR.WINDOW_NS
        before = [j for j in firsts if j < i and key[j] == key[i]]
        after = [j for j in firsts if j > i and key[j] == key[i]]
        if (before and close(before[-1])) or (after and close(after[0])):
            out["tcp" if key[i][4] == 6 else "udp"] += 1
    return out


@pytest.mark.parametrize("seed", range(4))
def test_chunk_sizes_change_nothing(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FR, "WINDOW_PACKETS", 7)  # windows that chunk borders cut often
    monkeypatch.setattr(FR, "WINDOW_NS", 3 * NS)
    b = _mixed(seed)
    whole = packets_to_flows([b])
    assert sum(whole.attached_fragments.values()) > 0
    assert whole.attached_fragments == _attached_by_rule(b)
    counts = whole.packet_counts(counts_of(b))
    assert counts["tcp"] + counts["udp"] == int((whole.flows.packets_c2s + whole.flows.packets_s2c).sum())
    assert min(counts.values()) >= 0
    for size in (1, 2, 3, 5, 8, 13, 64):
        chunked = packets_to_flows(split(b, size), coalesce_packets=1)
        assert chunked.attached_fragments == whole.attached_fragments, size
        pd.testing.assert_frame_equal(chunked.flows, whole.flows)
        pd.testing.assert_frame_equal(chunked.activity, whole.activity)


def test_only_the_nearest_first_fragment_is_tried_whatever_the_chunks() -> None:
    # the first fragment right after the later one is 40 s away (timestamps go back
    # afterwards): the later one stays a fragment, also when a chunk border falls
    # between that first fragment and the next one of the same key
    rows = [
        (10.0, f"{S}:53", f"{C}:0", "", "udp", 400, 2, 77),
        (50.0, f"{S}:53", f"{C}:5000", "", "udp", 1500, 1, 77),
        (11.0, f"{S}:53", f"{C}:5001", "", "udp", 1500, 1, 77),
    ]
    b = frames(rows)
    assert _attached_by_rule(b) == {"tcp": 0, "udp": 0}
    for size in (1, 2, 3):
        assert packets_to_flows(split(b, size), coalesce_packets=1).attached_fragments == {"tcp": 0, "udp": 0}, size

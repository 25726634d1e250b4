"""Packets to flows (SPEC section 5): ``packets_to_flows``.

Bidirectional flows keyed by proto and the unordered endpoint pair, split on
reuse and idle time, with the SPEC's client/server decision, Zeek's
``conn_state`` (``zeek_tcp``), per-direction packets and wire bytes, attached
ICMP errors, every IP address seen, and packets per flow and time bin.
Later IP fragments are attached to their datagram's flow first
(``fragments``): they move from the ``fragment`` bucket to tcp/udp, which
``FlowTable.packet_counts`` applies to the capture stage's counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..tables import FLOW_COLUMNS, PACKET_COLUMNS, PacketBatch, iso_utc_array
from . import keys as K
from .assemble import FlowAssembler
from .fragments import FragmentAttacher
from .icmp import attach_icmp, concat_icmp
from .zeek_tcp import conn_state_codes, udp_conn_state_codes

__all__ = ["ACTIVITY_COLUMNS", "FlowTable", "coalesce_batches", "packets_to_flows"]

ACTIVITY_COLUMNS = ("flow", "bin_start_ns", "packets", "bytes")
# The flow stage's cost per batch is mostly fixed (key codes over the open
# flows, copies of their state): a reader's batches of ~18,000 full-size
# frames are merged into slices of at least this many packets (about 7.5 MB
# of packet columns, plus as much while they are joined).
COALESCE_PACKETS = 1 << 17


@dataclass
class FlowTable:
    """What the flow stage hands on.

    ``flows``: one row per flow, ``tables.FLOW_COLUMNS`` in order, sorted by
    (first_ts_ns, client_ip, client_port, server_ip, server_port, proto).
    ``addresses``: every innermost IP address of any packet with an IP header
    (TCP, UDP, ICMP, other IP, fragments), sorted unique (n, 2) uint64 (hi, lo)
    rows: "the capture saw this host" (SPEC section 6, observability).
    ``activity``: packets and wire bytes per flow row and time bin.
    ``unmatched_icmp_errors``: ICMP errors attached to no flow (dropped,
    counted): their key has no flow, or none that started at or before the
    error and ended at most ``icmp.ICMP_TOLERANCE_NS`` before it.
    ``attached_fragments``: later IP fragments counted in a flow, per "tcp"
    and "udp" (``fragments``); the capture stage counted them as
    ``fragment``, ``packet_counts`` moves them.
    """

    flows: pd.DataFrame
    addresses: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.uint64))
    activity: pd.DataFrame = field(default_factory=lambda: _empty_activity())
    unmatched_icmp_errors: int = 0
    activity_bin_ns: int = 1_000_000_000
    attached_fragments: dict[str, int] = field(default_factory=lambda: {"tcp": 0, "udp": 0})

    def packet_counts(self, counts: Mapping[str, int]) -> dict[str, int]:
        """The capture stage's bucket counts (``CaptureStream.counts``) with
        the later fragments attached to a flow moved from ``fragment`` to
        ``tcp``/``udp`` (``attached_fragments``): every packet stays in
        exactly one bucket, and tcp + udp are the packets of the flows."""
        out = dict(counts)
        for key, n in self.attached_fragments.items():
            out[key] = out.get(key, 0) + n
            out["fragment"] = out.get("fragment", 0) - n
        return out

    def saw(self, hi, lo) -> np.ndarray:
        """Whether each (hi, lo) address was seen in any IP packet."""
        hi = np.atleast_1d(np.asarray(hi, np.uint64))
        lo = np.atleast_1d(np.asarray(lo, np.uint64))
        a = self.addresses
        n = len(a)
        # one sort of addresses and queries; an address row sorts just before
        # the queries equal to it
        all_hi = np.concatenate([a[:, 0], hi])
        all_lo = np.concatenate([a[:, 1], lo])
        is_query = np.concatenate([np.zeros(n, bool), np.ones(len(hi), bool)])
        order = np.lexsort((is_query, all_lo, all_hi))
        pos = np.where(is_query[order], -1, np.arange(len(order)))
        last_address = np.maximum.accumulate(pos) if len(pos) else pos
        q = np.flatnonzero(is_query[order])
        cand = order[np.maximum(last_address[q], 0)]
        hit = (
            (last_address[q] >= 0)
            & (all_hi[cand] == all_hi[order[q]])
            & (all_lo[cand] == all_lo[order[q]])
        )
        out = np.zeros(len(hi), bool)
        out[order[q] - n] = hit
        return out


def _empty_activity() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "flow": np.zeros(0, np.int64),
            "bin_start_ns": np.zeros(0, np.int64),
            "packets": np.zeros(0, np.int64),
            "bytes": np.zeros(0, np.int64),
        }
    )


def packets_to_flows(
    batches: Iterable[PacketBatch],
    rule_ports: Mapping[str, frozenset[int]] | None = None,
    *,
    activity_bin_ns: int = 1_000_000_000,
    coalesce_packets: int = COALESCE_PACKETS,
) -> FlowTable:
    """Turn a stream of packet batches (file order) into flows.

    ``rule_ports`` maps "tcp"/"udp" to the ports of the loaded rules: the
    first rung of the port ladder that picks the server when no SYN or
    SYN-ACK shows who opened the connection (SPEC section 5).
    Batches smaller than ``coalesce_packets`` are joined before assembly
    (``coalesce_batches``); 1 takes each batch as it comes. The result is
    the same either way."""
    assembler = FlowAssembler(activity_bin_ns)
    fragments = FragmentAttacher()
    for batch in coalesce_batches(batches, coalesce_packets):
        assembler.add(fragments.attach(batch))
        del batch  # not held while the next one is gathered
    table = state_to_flow_table(assembler, rule_ports or {})
    table.attached_fragments = dict(fragments.attached)
    return table


def coalesce_batches(batches: Iterable[PacketBatch], min_packets: int) -> Iterator[PacketBatch]:
    """The same packets (and ICMP errors) in the same order, in batches of at
    least ``min_packets`` (except before a batch that large, and the last):
    small batches are held until they add up, then joined. A batch of
    ``min_packets`` or more passes through uncopied. Flows never depend on
    where batches are cut, so this changes no result, only the per-batch cost.
    Memory: the held columns, and while joining one column's parts twice."""
    held = _Held()
    for batch in batches:
        if len(batch) >= min_packets:
            if held.parts:
                yield held.join()
            yield batch
            continue
        held.add(batch)
        del batch
        if held.count >= min_packets:
            yield held.join()
    if held.parts:
        yield held.join()


class _Held:
    """Columns of small batches waiting to be joined (not the batches: a
    column's parts can go as soon as that column is joined)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.columns: dict[str, list[np.ndarray]] = {c.name: [] for c in PACKET_COLUMNS}
        self.errors: list = []
        self.count = 0
        self.parts = 0

    def add(self, batch: PacketBatch) -> None:
        for name, parts in self.columns.items():
            parts.append(getattr(batch, name))
        if len(batch.icmp_errors):
            self.errors.append(batch.icmp_errors)
        self.count += len(batch)
        self.parts += 1

    def join(self) -> PacketBatch:
        columns, errors = self.columns, self.errors
        self._reset()
        joined = {}
        for name in list(columns):
            parts = columns.pop(name)
            joined[name] = parts[0] if len(parts) == 1 else np.concatenate(parts)
            del parts
        icmp = concat_icmp(errors) if len(errors) > 1 else (errors[0] if errors else None)
        return PacketBatch.from_columns(joined, icmp)


def _client_is_a(
    st: dict[str, np.ndarray], rule_ports: Mapping[str, frozenset[int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Which side is the client, and whether a SYN or SYN-ACK said so."""
    has_syn = st["syn_dir"] >= 0
    has_synack = st["synack_dir"] >= 0
    certain = has_syn | has_synack
    a_port, b_port = st["a_port"], st["b_port"]
    a_rule = np.zeros(len(a_port), bool)
    b_rule = np.zeros(len(a_port), bool)
    for name, number in (("tcp", 6), ("udp", 17)):
        ports = np.fromiter(sorted(rule_ports.get(name, ())), dtype=np.int64)
        m = st["proto"] == number
        a_rule |= m & np.isin(a_port, ports)
        b_rule |= m & np.isin(b_port, ports)
    a_low, b_low = a_port < 1024, b_port < 1024
    client_is_a = np.select(
        [has_syn, has_synack, a_rule != b_rule, a_low != b_low],
        [st["syn_dir"] == 0, st["synack_dir"] == 1, b_rule, b_low],
        # else the receiver of the first packet is the server
        default=st["first_dir"] == 0,
    )
    return client_is_a.astype(bool), certain


def _side(client_is_a: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.where(client_is_a, a, b), np.where(client_is_a, b, a)


def state_to_flow_table(
    assembler: FlowAssembler, rule_ports: Mapping[str, frozenset[int]]
) -> FlowTable:
    """The assembler's flows as the stage's output: client and server sides,
    conn_state, ICMP attachment, text columns, sorted rows. Uses the
    assembler up. Memory: the flows' state is sorted once, column by column,
    columns are dropped once used, and the output columns, made in row
    order, become the DataFrame without a copy; text columns share one
    string per address, protocol and conn_state."""
    st = assembler.finish()
    n = len(st["flow_id"])
    ca, certain = _client_is_a(st, rule_ports)
    for f in ("syn_dir", "synack_dir", "first_dir", "prev_ts", "fin_seen"):
        del st[f]  # the direction is known; these were for splitting
    is_tcp = st["proto"] == 6
    # each address once: its text, and its rank in text order (to sort by text)
    addr, text, rank = K.address_text_codes(
        np.concatenate([st["a_hi"], st["b_hi"]]), np.concatenate([st["a_lo"], st["b_lo"]])
    )
    client_addr, server_addr = _side(ca, addr[:n], addr[n:])
    client_port, server_port = _side(ca, st["a_port"], st["b_port"])
    del addr
    # deterministic order (SPEC columns; text sorted as text); the flow's
    # first arrival breaks full ties
    order = np.lexsort(
        (
            st["first_arr"],
            ~is_tcp,
            server_port,
            rank[server_addr],
            client_port,
            rank[client_addr],
            st["first_ts"],
        )
    )
    del rank
    for k in list(st):  # rows in output order, one column at a time
        st[k] = st[k][order]
    ca, certain, is_tcp = ca[order], certain[order], is_tcp[order]
    client_addr, server_addr = client_addr[order], server_addr[order]
    client_port, server_port = client_port[order], server_port[order]
    del order

    # ICMP errors
    err = concat_icmp(assembler.icmp_errors)
    assembler.icmp_errors = []
    target, unmatched = attach_icmp(st, err)
    icmp_count = np.bincount(target[target >= 0], minlength=n).astype(np.int64)
    icmp_type = np.full(n, -1, np.int64)
    icmp_code = np.full(n, -1, np.int64)
    icmp_reporter = np.full(n, "", dtype=object)
    hit = np.flatnonzero(target >= 0)
    if len(hit):
        rows, first = np.unique(target[hit], return_index=True)  # errors are in stream order
        e = hit[first]
        icmp_type[rows] = err.icmp_type[e]
        icmp_code[rows] = err.icmp_code[e]
        icmp_reporter[rows] = K.addresses_to_text(err.reporter_hi[e], err.reporter_lo[e])
    del err, target, hit

    # Zeek's conn_state with orig = client
    pk_c2s, pk_s2c = _side(ca, st.pop("pk0"), st.pop("pk1"))
    # RSTOS0: the first letter is the client's S, and its R came before any H/A/F/I/Q
    rb_o = np.where(ca, st.pop("rb0"), st.pop("rb1"))
    rstos0 = st.pop("let_s") & (st.pop("let_dir") == np.where(ca, 0, 1)) & (rb_o == 1)
    del rb_o
    conn_state = np.where(
        is_tcp,
        conn_state_codes(
            np.where(ca, st.pop("st_a"), st.pop("st_b")).astype(np.int64),
            *_side(ca, st.pop("pay0"), st.pop("pay1")),
            rstos0,
        ),
        udp_conn_state_codes(pk_c2s, pk_s2c),
    )
    del rstos0
    by_c2s, by_s2c = _side(ca, st.pop("by0"), st.pop("by1"))
    syn_c = np.where(ca, st.pop("syn0"), st.pop("syn1"))
    client_hi, server_hi = _side(ca, st.pop("a_hi"), st.pop("b_hi"))
    client_lo, server_lo = _side(ca, st.pop("a_lo"), st.pop("b_lo"))
    protos = np.array(["udp", "tcp"], dtype=object)

    columns = {
        "client_ip": text[client_addr],
        "client_port": client_port,
        "server_ip": text[server_addr],
        "server_port": server_port,
        "proto": protos[is_tcp.astype(np.intp)],
        "first_ts": iso_utc_array(st["first_ts"]),
        "last_ts": iso_utc_array(st["last_ts"]),
        "packets_c2s": pk_c2s,
        "packets_s2c": pk_s2c,
        "bytes_c2s": by_c2s,
        "bytes_s2c": by_s2c,
        "conn_state": conn_state,
        "direction_certain": certain,
        "first_ts_ns": st.pop("first_ts"),
        "last_ts_ns": st.pop("last_ts"),
        "ip_version": st.pop("ip_version"),
        "client_hi": client_hi,
        "client_lo": client_lo,
        "server_hi": server_hi,
        "server_lo": server_lo,
        "syn_count": syn_c,
        "icmp_unreach": icmp_count,
        "icmp_type": icmp_type,
        "icmp_code": icmp_code,
        "icmp_reporter": icmp_reporter,
    }
    # pd.Series(dtype=object) keeps text columns object (pandas 3 would infer its str dtype);
    # copy=False: the arrays become the columns (a dict would otherwise be copied into blocks)
    flows = pd.DataFrame(
        {
            c.name: pd.Series(columns.pop(c.name), dtype=object, copy=False)
            if c.dtype == "object"
            else columns.pop(c.name).astype(c.dtype, copy=False)
            for c in FLOW_COLUMNS
        },
        copy=False,
    )
    row_of_flow_id = np.empty(n, np.int64)
    row_of_flow_id[st.pop("flow_id")] = np.arange(n)
    del st

    activity = _activity(assembler, row_of_flow_id)
    return FlowTable(
        flows=flows,
        addresses=assembler.addresses,
        activity=activity,
        unmatched_icmp_errors=unmatched,
        activity_bin_ns=assembler.activity_bin_ns,
    )


def _activity(assembler: FlowAssembler, row_of_flow_id: np.ndarray) -> pd.DataFrame:
    """Packets and bytes per flow row and time bin (uses ``assembler.activity`` up)."""
    parts, assembler.activity = assembler.activity, []
    if not parts:
        return _empty_activity()
    fid, bins, pk, by = (np.concatenate(p) for p in zip(*parts))
    del parts
    # a flow's bin may come in several parts (chunks, pieces): sum them
    row = row_of_flow_id[fid]
    del fid
    order = np.lexsort((bins, row))
    row, bins, pk, by = (
        row[order],
        bins[order],
        pk[order].astype(np.int64),
        by[order].astype(np.int64),
    )
    first = np.ones(len(row), bool)
    first[1:] = (row[1:] != row[:-1]) | (bins[1:] != bins[:-1])
    starts = np.flatnonzero(first)
    return pd.DataFrame(
        {
            "flow": row[starts].astype(np.int64),
            "bin_start_ns": bins[starts].astype(np.int64),
            "packets": np.add.reduceat(pk, starts),
            "bytes": np.add.reduceat(by, starts),
        },
        copy=False,
    )

"""Packets to flows, chunk by chunk (SPEC section 5).

Each chunk of packets is grouped by flow key (sorted by key, then arrival),
split into flow pieces with prefix maxima instead of a per-packet loop, and
aggregated with ``reduceat``. Flows still open at the end of a chunk are kept
as one row of partial aggregates each (``STATE_FIELDS`` columns of the
``OpenTable``, updated in place) and merged with the next chunk's first piece
of the same key, so the result is the same whatever the chunk size. Only one
row per key of a chunk is matched against the open flows, so a chunk costs
time for its packets and the flows it touches, plus one hashing pass over the
open flows' keys. Memory is bounded by the open flows plus the output.

Splitting (per key, in arrival order, not timestamp order):
- a gap above the idle timeout since the key's previous packet starts a new
  flow (TCP 5 min, UDP 1 min; a negative gap is no gap);
- TCP: a bare SYN (SYN without ACK) starts a new flow when the current flow
  has seen a FIN or RST since it started. Within a gap segment this holds
  exactly when the last FIN/RST before the SYN is later than the last bare
  SYN before it: a FIN/RST in the current flow cannot be followed by a bare
  SYN in the same flow (that SYN would have split), and a FIN/RST after the
  last bare SYN lies inside the flow that SYN (or the segment) started. A
  packet's own FIN/RST counts after its own SYN (position 2i+1 versus 2i).
  A flow carried over from an earlier chunk only needs "has it seen a FIN or
  RST" for this: it enters the next chunk as a SYN at position 0 followed by
  a FIN/RST at position 1, or as nothing.

Idle flows are moved out of the open table (relative to the newest timestamp
seen) so the per-chunk work stays proportional to the live flows. Should a
later packet still join one (timestamps going backwards by more than the
timeout), it is found again and reopened: eviction never changes a result.
"""

from __future__ import annotations

import numpy as np

from ..tables import ACK, FIN, PSH, RST, SYN, TCP_IDLE_NS, UDP_IDLE_NS, Bucket, PacketBatch
from . import keys as K
from .zeek_tcp import TRANSITIONS, symbol

INF = np.iinfo(np.int64).max
TCP, UDP = 6, 17
SUB_CHUNK = 1 << 20  # larger batches are processed in slices (bounded temporaries)
EVICT_MARGIN_NS = 60 * 1_000_000_000  # evict only flows idle this long past their timeout
FOLD_DEPTH = 48  # events per flow folded step by step; deeper flows are composed

# Open-flow state: one row per flow not yet known to be finished. Side A is
# the smaller (address, port) endpoint; "0" columns are A->B, "1" B->A.
STATE_FIELDS: dict[str, str] = {
    "proto": "uint8",
    "ip_version": "uint8",
    "a_hi": "uint64",
    "a_lo": "uint64",
    "a_port": "uint16",
    "b_hi": "uint64",
    "b_lo": "uint64",
    "b_port": "uint16",
    "flow_id": "int64",
    "pk0": "int64",
    "pk1": "int64",
    "by0": "int64",
    "by1": "int64",
    "first_ts": "int64",
    "last_ts": "int64",
    "prev_ts": "int64",  # timestamp of the flow's last packet in arrival order (for gaps)
    "first_arr": "int64",
    "first_dir": "int8",
    "syn_dir": "int8",  # direction of the first bare SYN, -1 without one
    "synack_dir": "int8",  # direction of the first SYN-ACK, -1 without one
    "syn0": "int64",
    "syn1": "int64",  # bare SYNs sent by A, by B
    "st_a": "uint8",
    "st_b": "uint8",  # Zeek joint TCP state with orig = A, orig = B
    "fin_seen": "bool",  # the flow has seen a FIN or RST (split rule)
    "let_dir": "int8",  # direction of the first history letter, -1 without one
    "let_s": "bool",  # is that letter 'S'?
    "rb0": "uint8",
    "rb1": "uint8",  # per side, which came first: RST-only 'R' (1) or an H/A/F/I/Q letter (2); 0 neither
    "pay0": "bool",
    "pay1": "bool",  # side sent payload (PSH, not with RST)
}


def later_by_more_than(later: np.ndarray | int, earlier: np.ndarray | int, span: np.ndarray | int) -> np.ndarray:
    """``later - earlier > span`` without int64 overflow: a damaged capture
    can hold times centuries apart, whose difference does not fit in int64.
    Where ``later > earlier`` the unsigned difference is the true one."""
    later = np.asarray(later, np.int64)
    earlier = np.asarray(earlier, np.int64)
    diff = later.view(np.uint64) - earlier.view(np.uint64)
    return (later > earlier) & (diff > np.asarray(span).astype(np.uint64))


def empty_state(n: int = 0) -> dict[str, np.ndarray]:
    return {k: np.zeros(n, dtype=v) for k, v in STATE_FIELDS.items()}


def take_state(state: dict[str, np.ndarray], idx) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in state.items()}


def concat_states(states: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    states = [s for s in states if len(s["flow_id"])]
    if not states:
        return empty_state()
    if len(states) == 1:
        return states[0]
    return {k: np.concatenate([s[k] for s in states]) for k in STATE_FIELDS}


def _state_len(state: dict[str, np.ndarray]) -> int:
    return len(state["flow_id"])


def _compose_segments(funcs: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Compose consecutive transition functions per segment (tree reduction,
    log2 depth): row i maps a state to its successor; the result has one row
    per segment mapping the state before the segment to the state after."""
    counts = counts.astype(np.int64)
    while (counts > 1).any():
        starts = np.cumsum(counts) - counts
        seg_len = np.repeat(counts, counts)
        rank = np.arange(len(funcs), dtype=np.int64) - np.repeat(starts, counts)
        pair = np.flatnonzero((rank % 2 == 0) & (rank + 1 < seg_len))
        # later function applied after the earlier one: g[f[s]]
        funcs[pair] = np.take_along_axis(funcs[pair + 1], funcs[pair].astype(np.intp), axis=1)
        funcs = funcs[rank % 2 == 0]
        counts = (counts + 1) // 2
    return funcs


def fold_states(symbols: np.ndarray, event_piece: np.ndarray, init: np.ndarray) -> np.ndarray:
    """Run the Zeek TCP machine over each piece's events (``symbols`` grouped
    by ``event_piece`` ascending, arrival order inside) from ``init``.

    Step k applies every piece's k-th event at once (one numpy gather per
    step); pieces with more than FOLD_DEPTH events have the rest composed as
    functions in log2 steps, so no per-packet Python loop ever runs."""
    n_piece = len(init)
    state = init.copy()
    if len(symbols) == 0:
        return state
    counts = np.bincount(event_piece, minlength=n_piece).astype(np.int64)
    offsets = np.cumsum(counts) - counts
    order = np.argsort(-counts, kind="stable")
    c_desc = counts[order]
    o_desc = offsets[order]
    st = state[order]
    depth = int(min(c_desc[0], FOLD_DEPTH))
    c_asc = c_desc[::-1]
    active = n_piece - np.searchsorted(c_asc, np.arange(depth), side="right")
    for k in range(depth):
        na = int(active[k])
        idx = o_desc[:na] + k
        st[:na] = TRANSITIONS[symbols[idx], st[:na]]
    deep = np.flatnonzero(c_desc > FOLD_DEPTH)
    if len(deep):
        rest = c_desc[deep] - FOLD_DEPTH
        ev = np.repeat(o_desc[deep] + FOLD_DEPTH - np.cumsum(rest) + rest, rest) + np.arange(
            rest.sum()
        )
        funcs = _compose_segments(TRANSITIONS[symbols[ev]].copy(), rest)
        st[deep] = funcs[np.arange(len(deep)), st[deep]]
    state[order] = st
    return state


def _first_per_run(mask: np.ndarray, run: np.ndarray) -> np.ndarray:
    """Indices of the first True of ``mask`` in each run (run ids non-decreasing)."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return idx
    r = run[idx]
    keep = np.ones(len(idx), bool)
    keep[1:] = r[1:] != r[:-1]
    return idx[keep]


KEY_FIELDS = ("proto", "a_hi", "a_lo", "a_port", "b_hi", "b_lo", "b_port")


def _typed(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The state with every column in its ``STATE_FIELDS`` dtype (no copy when it is)."""
    return {k: np.asarray(state[k], dtype=v) for k, v in STATE_FIELDS.items()}


def syn_splits(bare: np.ndarray, finrst: np.ndarray, seg_break: np.ndarray, init_f: np.ndarray) -> np.ndarray:
    """Bare SYNs that start a new flow (module docstring): within a gap
    segment, the last FIN/RST before the SYN is later than the last bare SYN
    before it; ``init_f`` marks segment starts inside a carried flow that has
    seen a FIN or RST. Only bare SYNs, FIN/RSTs and segment starts take part
    (in their order), so the prefix maxima run over few packets."""
    out = np.zeros(len(bare), bool)
    if not bare.any():
        return out
    ev = np.flatnonzero(bare | finrst | seg_break)  # the first packet is a segment start
    k = len(ev)
    e_bare, e_brk = bare[ev], seg_break[ev]
    e_init = init_f[ev].astype(np.int64)
    base = (np.cumsum(e_brk) - 1) * (2 * k + 8)
    pos = 2 * np.arange(k, dtype=np.int64) + 2
    inc_s = np.maximum.accumulate(base + np.where(e_bare, pos, 0))
    inc_f = np.maximum.accumulate(base + np.maximum(np.where(finrst[ev], pos + 1, 0), e_init))
    exc_s = np.empty(k, np.int64)
    exc_f = np.empty(k, np.int64)
    exc_s[1:], exc_f[1:] = inc_s[:-1], inc_f[:-1]
    exc_s[e_brk] = base[e_brk]
    exc_f[e_brk] = base[e_brk] + e_init[e_brk]
    out[ev[e_bare & (exc_f > exc_s)]] = True
    return out


def _group(
    b: PacketBatch, sl: slice, n: int, sel: np.ndarray, addr: np.ndarray, n_addr: int
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """The slice's TCP/UDP packets ``sel`` grouped by flow key, arrival order
    inside a key: each packet's row in the slice, its key's group (the k-th
    group has code k), each key once (``KEY_FIELDS``), and whether each packet
    goes B->A. ``addr``: address codes (in address order, below ``n_addr``)
    of the slice's sources, then its destinations."""
    whole = len(sel) == n

    def col(name):  # a column of the flow packets, in slice order
        c = getattr(b, name)[sl]
        return c if whole else c[sel]

    sport, dport, proto = col("sport"), col("dport"), col("proto")
    src, dst = addr[:n], addr[n:]
    if not whole:
        src, dst = src[sel], dst[sel]
    # side A is the smaller (address, port) endpoint; the codes keep address order
    src_a = (src < dst) | ((src == dst) & (sport <= dport))
    a_port = np.where(src_a, sport, dport)
    b_port = np.where(src_a, dport, sport)
    gp, ng = K.endpoint_key_codes(
        np.where(src_a, src, dst), np.where(src_a, dst, src), n_addr, a_port, b_port, proto == UDP
    )
    order = K.stable_group_order(gp, ng)
    gs = gp[order]
    del gp
    # the first packet of each group
    first = np.ones(len(order), bool)
    first[1:] = gs[1:] != gs[:-1]
    rep = order[first]
    row = order if whole else sel[order]
    rep_row = row[first]
    g_src_a = src_a[rep]

    def ends_of(src_name, dst_name):
        s_, d_ = getattr(b, src_name)[sl][rep_row], getattr(b, dst_name)[sl][rep_row]
        return np.where(g_src_a, s_, d_), np.where(g_src_a, d_, s_)

    gkey = {"proto": proto[rep], "a_port": a_port[rep], "b_port": b_port[rep]}
    gkey["a_hi"], gkey["b_hi"] = ends_of("src_hi", "dst_hi")
    gkey["a_lo"], gkey["b_lo"] = ends_of("src_lo", "dst_lo")
    return row, gs, gkey, ~src_a[order]


class OpenTable:
    """The open flows: ``STATE_FIELDS`` columns with room to grow, rows
    ``0..len-1`` in use, one per key, in no particular order. Rows are
    overwritten, appended and removed (the last rows fill the holes) in
    place, so a chunk costs work for the flows it touches, not a copy of
    every open flow."""

    def __init__(self) -> None:
        self.cols = empty_state(0)
        self.n = 0

    def __len__(self) -> int:
        return self.n

    def view(self) -> dict[str, np.ndarray]:
        return {k: v[: self.n] for k, v in self.cols.items()}

    def column(self, name: str) -> np.ndarray:
        return self.cols[name][: self.n]

    def take(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v[: self.n][rows] for k, v in self.cols.items()}

    def put(self, rows: np.ndarray, state: dict[str, np.ndarray]) -> None:
        for k, v in self.cols.items():
            v[rows] = state[k]

    def append(self, state: dict[str, np.ndarray]) -> None:
        k = _state_len(state)
        if k == 0:
            return
        end = self.n + k
        cap = len(self.cols["flow_id"])
        if end > cap:
            self._resize(max(end, cap + cap // 4, 1024))
        for name, v in self.cols.items():
            v[self.n : end] = state[name]
        self.n = end

    def remove(self, rows: np.ndarray) -> None:
        """Drop ``rows`` (sorted, unique); the last rows that stay fill the holes."""
        k = len(rows)
        if k == 0:
            return
        end = self.n - k
        holes = rows[rows < end]
        leaving = np.zeros(k, bool)
        leaving[rows[rows >= end] - end] = True
        movers = end + np.flatnonzero(~leaving)
        for v in self.cols.values():
            v[holes] = v[movers]
        self.n = end
        cap = len(self.cols["flow_id"])
        if cap > 4096 and end < cap // 4:
            self._resize(max(2 * end, 1024))

    def _resize(self, cap: int) -> None:
        for k, v in self.cols.items():  # one column at a time: one spare column at most
            new = np.zeros(cap, v.dtype)
            new[: self.n] = v[: self.n]
            self.cols[k] = new


class FlowAssembler:
    """Streaming packets-to-flows engine: ``add`` each batch, then ``finish``."""

    def __init__(
        self, activity_bin_ns: int = 1_000_000_000, evict_margin_ns: int = EVICT_MARGIN_NS
    ) -> None:
        if activity_bin_ns <= 0:
            raise ValueError("activity_bin_ns must be positive")
        self.activity_bin_ns = int(activity_bin_ns)
        self.evict_margin_ns = int(evict_margin_ns)
        self.table = OpenTable()
        self.evicted: list[dict[str, np.ndarray]] = []  # candidates for reopening
        self.evicted_max_prev = {TCP: -INF, UDP: -INF}
        self.finished: list[dict[str, np.ndarray]] = []
        self.activity: list[tuple[np.ndarray, ...]] = []
        self.icmp_errors: list = []
        self.addresses = np.zeros((0, 2), np.uint64)
        self.arrival = 0
        self.next_flow_id = 0
        self.newest_ts = -INF

    @property
    def open(self) -> dict[str, np.ndarray]:
        """The open flows as a state table (views of ``table``)."""
        return self.table.view()

    # ------------------------------------------------------------------
    def add(self, batch: PacketBatch) -> None:
        n = len(batch)
        if len(batch.icmp_errors):
            self.icmp_errors.append(batch.icmp_errors)
        for lo in range(0, n, SUB_CHUNK):
            hi = min(n, lo + SUB_CHUNK)
            sl = slice(lo, hi) if (lo, hi) != (0, n) else slice(None)
            self._add_slice(batch, sl, hi - lo)

    def _add_slice(self, b: PacketBatch, sl: slice, n: int) -> None:
        arr0 = self.arrival
        self.arrival += n
        if n:
            has_ip = b.ip_version[sl] != 0
            bucket, proto = b.bucket[sl], b.proto[sl]
            sel = np.flatnonzero(
                ((bucket == Bucket.TCP) & (proto == TCP)) | ((bucket == Bucket.UDP) & (proto == UDP))
            )
            self.newest_ts = max(self.newest_ts, int(b.ts_ns[sl].max()))
            any_ip = bool(has_ip.any())
            if any_ip or len(sel):
                # every source and destination of the slice, coded once in address order
                src_hi, dst_hi = b.src_hi[sl], b.dst_hi[sl]
                addr, u_hi, u_lo = K.ordered_address_codes(
                    np.concatenate([src_hi, dst_hi]) if src_hi.any() or dst_hi.any() else None,
                    np.concatenate([b.src_lo[sl], b.dst_lo[sl]]),
                )
                if any_ip:
                    seen = np.zeros(len(u_hi), bool)
                    if has_ip.all():
                        seen[addr] = True
                    else:
                        seen[addr[:n][has_ip]] = True
                        seen[addr[n:][has_ip]] = True
                    self.addresses = K.merge_pairs(
                        self.addresses, np.column_stack([u_hi[seen], u_lo[seen]])
                    )
                if len(sel):
                    grouped = _group(b, sl, n, sel, addr, len(u_hi))
                    del addr  # the slice's temporaries stay few
                    self._assemble(b, sl, arr0, *grouped)
        self._evict()
        self._compact()

    def _compact(self, limit: int = 256) -> None:
        """Merge the per-chunk pieces of finished flows, evicted flows and
        activity once they pile up (thousands of chunks in a long capture)."""
        if len(self.finished) > limit:
            self.finished = [concat_states(self.finished)]
        if len(self.evicted) > limit:
            self.evicted = [concat_states(self.evicted)]
        if len(self.activity) > limit:
            self.activity = [tuple(np.concatenate(parts) for parts in zip(*self.activity))]

    # ------------------------------------------------------------------
    def _reopen(self, gkey: dict[str, np.ndarray], gmin: np.ndarray) -> None:
        """Move evicted flows that keys of this chunk (``gkey``, earliest
        time ``gmin``) may still join back into the open table (only when
        timestamps went backwards that far)."""
        idle = {TCP: TCP_IDLE_NS, UDP: UDP_IDLE_NS}
        maybe = False
        for p in (TCP, UDP):
            m = gkey["proto"] == p
            if m.any() and int(gmin[m].min()) <= self.evicted_max_prev[p] + idle[p]:
                maybe = True
        if not maybe:
            return
        cand = concat_states(self.evicted)
        op = self.open
        nc, no = _state_len(cand), len(self.table)
        codes, ng = K.flow_key_codes(
            *(np.concatenate([op[k], cand[k], gkey[k]]) for k in KEY_FIELDS)
        )
        in_open = np.zeros(ng, bool)
        in_open[codes[:no]] = True
        in_chunk = np.zeros(ng, bool)
        in_chunk[codes[no + nc :]] = True
        cc = codes[no : no + nc]
        # the latest evicted flow of a key is the one with the highest id
        latest = np.full(ng, -1, np.int64)
        np.maximum.at(latest, cc, cand["flow_id"])
        pick = in_chunk[cc] & ~in_open[cc] & (latest[cc] == cand["flow_id"])
        if pick.any():
            self.table.append(take_state(cand, pick))
            self.evicted = [take_state(cand, ~pick)]

    def _evict(self) -> None:
        t = self.table
        if len(t) == 0:
            return
        prev = t.column("prev_ts")
        # no flow idle past the shorter timeout: none to look at one by one
        if not later_by_more_than(self.newest_ts, prev.min(), UDP_IDLE_NS + self.evict_margin_ns):
            return
        idle = np.where(t.column("proto") == TCP, TCP_IDLE_NS, UDP_IDLE_NS)
        newest = np.full(len(idle), self.newest_ts, np.int64)
        old = later_by_more_than(newest, prev, idle + self.evict_margin_ns)
        if old.any():
            rows = np.flatnonzero(old)
            gone = t.take(rows)
            self.evicted.append(gone)
            for p in (TCP, UDP):
                m = gone["proto"] == p
                if m.any():
                    self.evicted_max_prev[p] = max(
                        self.evicted_max_prev[p], int(gone["prev_ts"][m].max())
                    )
            t.remove(rows)

    # ------------------------------------------------------------------
    def _assemble(
        self,
        b: PacketBatch,
        sl: slice,
        arr0: int,
        row: np.ndarray,
        gs: np.ndarray,
        gkey: dict[str, np.ndarray],
        d1: np.ndarray,
    ) -> None:
        """Flows of the slice's TCP/UDP packets grouped by key (``_group``)."""
        m = len(row)
        key_first = np.empty(m, bool)
        key_first[0] = True
        key_first[1:] = gs[1:] != gs[:-1]
        gstart = np.flatnonzero(key_first)
        ng = len(gstart)
        ts = b.ts_ns[sl][row]
        if self.evicted:
            self._reopen(gkey, np.minimum.reduceat(ts, gstart))
        table = self.table
        no = len(table)
        g_open = np.full(ng, -1, np.int64)
        if no:
            codes, nk = K.flow_key_codes(
                *(np.concatenate([table.column(k), gkey[k]]) for k in KEY_FIELDS)
            )
            row_of = np.full(nk, -1, np.int64)
            row_of[codes[:no]] = np.arange(no)
            g_open = row_of[codes[no:]]
        carried_g = np.flatnonzero(g_open >= 0)
        cpos = gstart[carried_g]  # first packet of each key with an open flow
        crow = g_open[carried_g]

        is_tcp = (gkey["proto"] == TCP)[gs]
        flags = b.tcp_flags[sl][row]

        # --- gap splits: time since the key's previous packet in arrival order
        # (``later_by_more_than`` without int64 temporaries; negative gaps are no gaps)
        cprev = table.column("prev_ts")[crow]
        later = np.zeros(m, bool)
        np.greater(ts[1:], ts[:-1], out=later[1:])
        later[key_first] = False
        later[cpos] = ts[cpos] > cprev
        tsu = ts.view(np.uint64)
        since = np.zeros(m, np.uint64)
        np.subtract(tsu[1:], tsu[:-1], out=since[1:])
        since[cpos] = tsu[cpos] - cprev.view(np.uint64)
        gap = later & np.where(is_tcp, since > TCP_IDLE_NS, since > UDP_IDLE_NS)
        del later, since

        # --- TCP bare-SYN split rule
        syn = is_tcp & ((flags & SYN) != 0)
        ack = (flags & ACK) != 0
        fin = is_tcp & ((flags & FIN) != 0)
        rst = is_tcp & ((flags & RST) != 0)
        psh = is_tcp & ((flags & PSH) != 0)
        bare = syn & ~ack
        finrst = fin | rst
        seg_break = key_first | gap
        init_f = np.zeros(m, bool)  # a segment starts inside a carried flow that saw FIN/RST
        cont = ~gap[cpos]
        init_f[cpos[cont]] = table.column("fin_seen")[crow[cont]]
        syn_split = syn_splits(bare, finrst, seg_break, init_f)
        piece_break = seg_break | syn_split

        # --- pieces and their aggregates
        starts = np.flatnonzero(piece_break)
        n_piece = len(starts)
        ends = np.empty(n_piece, np.int64)
        ends[:-1] = starts[1:]
        ends[-1] = m
        pid = np.cumsum(piece_break) - 1
        p_open = g_open[gs[starts]]
        # the first piece of a key extends its open flow
        piece_cont = key_first[starts] & (p_open >= 0) & ~gap[starts] & ~syn_split[starts]

        def first_in(mask):
            """Per piece: whether ``mask`` holds for a packet, and the first one (0 if none)."""
            i = np.flatnonzero(mask)
            p = pid[i]
            keep = np.ones(len(i), bool)
            keep[1:] = p[1:] != p[:-1]
            found = np.zeros(n_piece, bool)
            at = np.zeros(n_piece, np.int64)
            found[p[keep]] = True
            at[p[keep]] = i[keep]
            return found, at

        def r_or_bad_first(r_mask, bad_mask):
            r_found, r_at = first_in(r_mask)
            b_found, b_at = first_in(bad_mask)
            return np.where(r_found & (~b_found | (r_at < b_at)), 1, np.where(b_found, 2, 0))

        def count_in(mask):
            return np.bincount(pid[mask], minlength=n_piece)

        wire = b.wire_len[sl][row]
        piece: dict[str, np.ndarray] = {k: v[gs[starts]] for k, v in gkey.items()}
        piece["ip_version"] = b.ip_version[sl][row[starts]]
        piece["pk1"] = np.add.reduceat(d1, starts, dtype=np.int64)
        piece["pk0"] = (ends - starts) - piece["pk1"]
        piece["by1"] = np.add.reduceat(np.where(d1, wire, 0), starts, dtype=np.int64)
        piece["by0"] = np.add.reduceat(wire, starts, dtype=np.int64) - piece["by1"]
        piece["first_ts"] = np.minimum.reduceat(ts, starts)
        piece["last_ts"] = np.maximum.reduceat(ts, starts)
        piece["prev_ts"] = ts[ends - 1]
        piece["first_arr"], piece["first_dir"] = row[starts] + arr0, d1[starts]
        found, i = first_in(bare)
        piece["syn_dir"] = np.where(found, d1[i], -1)
        found, i = first_in(syn & ack)
        piece["synack_dir"] = np.where(found, d1[i], -1)
        piece["syn0"] = count_in(bare & ~d1)
        piece["syn1"] = count_in(bare & d1)
        piece["fin_seen"] = np.logical_or.reduceat(finrst, starts)
        # Zeek history letters (RSTOS0 needs /^?S[^HAFGIQ]*R/ on the originator's letters)
        letter = is_tcp & (((flags & (SYN | FIN | RST | ACK)) != 0) | psh)
        found, i = first_in(letter)
        piece["let_dir"] = np.where(found, d1[i], -1)
        piece["let_s"] = found & bare[i] & ~fin[i] & ~rst[i]
        r_letter = rst & ~syn & ~fin
        nbits = syn.astype(np.int8) + fin + rst
        bad = (
            (syn & ack & (nbits == 1))  # H
            | (~syn & ~fin & ~rst & ack & ~psh & is_tcp)  # A (pure ACK, no payload)
            | (fin & (nbits == 1))  # F
            | (nbits > 1)  # I, Q
        )
        piece["rb0"] = r_or_bad_first(r_letter & ~d1, bad & ~d1)
        piece["rb1"] = r_or_bad_first(r_letter & d1, bad & d1)
        pay = psh & ~rst
        piece["pay0"] = np.logical_or.reduceat(pay & ~d1, starts)
        piece["pay1"] = np.logical_or.reduceat(pay & d1, starts)

        # --- Zeek TCP machine. Only packets that can change a state are fed:
        # control packets, and per run between them and per side the first
        # packet and the first with payload (a non-control packet changes only
        # an INACTIVE endpoint, which then never returns to INACTIVE, except a
        # responder's payload-free ACK to a SYN, which changes nothing).
        control = syn | fin | rst
        run = np.cumsum(control | piece_break)
        # an attached later fragment (frag 2) has no TCP header: no flags to feed
        plain = is_tcp & ~control & (b.frag[sl][row] != 2)
        feed = control.copy()
        for mask in (plain & ~d1, plain & d1, plain & psh & ~d1, plain & psh & d1):
            feed[_first_per_run(mask, run)] = True
        del run, plain
        events = np.flatnonzero(feed)
        ev_piece = pid[events]
        sym_a = symbol(
            (~d1[events]).astype(np.uint8),
            syn[events].astype(np.uint8),
            ack[events].astype(np.uint8),
            fin[events].astype(np.uint8),
            rst[events].astype(np.uint8),
            psh[events].astype(np.uint8),
        ).astype(np.intp)
        cont_idx = np.flatnonzero(piece_cont)
        carry_rows = p_open[cont_idx]
        init_a = np.zeros(n_piece, np.uint8)
        init_b = np.zeros(n_piece, np.uint8)
        init_a[cont_idx] = table.column("st_a")[carry_rows]
        init_b[cont_idx] = table.column("st_b")[carry_rows]
        piece["st_a"] = fold_states(sym_a, ev_piece, init_a)
        piece["st_b"] = fold_states(sym_a ^ 32, ev_piece, init_b)
        piece["flow_id"] = np.zeros(n_piece, np.int64)
        piece = _typed(piece)

        # --- merge first pieces with the flows they continue
        if len(cont_idx):
            c = table.take(carry_rows)
            p = take_state(piece, cont_idx)
            for f in ("pk0", "pk1", "by0", "by1", "syn0", "syn1"):
                p[f] = c[f] + p[f]
            p["first_ts"] = np.minimum(c["first_ts"], p["first_ts"])
            p["last_ts"] = np.maximum(c["last_ts"], p["last_ts"])
            for f in ("fin_seen", "pay0", "pay1"):
                p[f] = c[f] | p[f]
            # firsts: the carried part came first when it has one
            for f in ("rb0", "rb1"):
                p[f] = np.where(c[f] != 0, c[f], p[f])
            for seen, fields in (
                (c["syn_dir"] >= 0, ("syn_dir",)),
                (c["synack_dir"] >= 0, ("synack_dir",)),
                (c["let_dir"] >= 0, ("let_dir", "let_s")),
            ):
                for f in fields:
                    p[f] = np.where(seen, c[f], p[f])
            for f in ("first_arr", "first_dir", "ip_version"):
                p[f] = c[f]
            p["flow_id"] = c["flow_id"]
            for f in STATE_FIELDS:
                piece[f][cont_idx] = p[f]
        new_idx = np.flatnonzero(~piece_cont)
        piece["flow_id"][new_idx] = self.next_flow_id + np.arange(len(new_idx))
        self.next_flow_id += len(new_idx)

        # --- activity: packets and bytes per flow and time bin
        bin_ns = self.activity_bin_ns
        bins = (ts // bin_ns) * bin_ns
        change = piece_break.copy()  # a new piece starts a new run
        change[1:] |= bins[1:] != bins[:-1]
        rs = np.flatnonzero(change)
        self.activity.append(
            (
                piece["flow_id"][pid[rs]],
                bins[rs],
                np.diff(np.append(rs, m)),
                np.add.reduceat(wire, rs, dtype=np.int64),
            )
        )

        # --- the last piece of each key is its open flow; an open flow its
        # key's first piece does not continue is finished, as are other pieces
        last_piece = np.ones(n_piece, bool)
        last_piece[:-1] = key_first[starts[1:]]
        last = np.flatnonzero(last_piece)  # one per key, in key order
        has_open = g_open >= 0
        first_cont = piece_cont[np.flatnonzero(key_first[starts])]  # one per key
        for done in (
            take_state(piece, ~last_piece),
            table.take(g_open[has_open & ~first_cont]),
        ):
            if _state_len(done):
                self.finished.append(done)
        table.put(g_open[has_open], take_state(piece, last[has_open]))
        table.append(take_state(piece, last[~has_open]))

    # ------------------------------------------------------------------
    def finish(self) -> dict[str, np.ndarray]:
        """All flows (finished, evicted, still open) as one state table. The
        piles are handed over (and emptied), each column freed once joined."""
        parts = [*self.finished, *self.evicted, self.open]
        self.finished, self.evicted, self.table = [], [], OpenTable()
        return {k: np.concatenate([p.pop(k) for p in parts]) for k in STATE_FIELDS}

"""Packets to flows, chunk by chunk (SPEC section 5).

Each chunk of packets is grouped by flow key (sorted by key, then arrival),
split into flow pieces with prefix maxima instead of a per-packet loop, and
aggregated with ``reduceat``. Flows still open at the end of a chunk are kept
as one row of partial aggregates each (``_OpenState`` columns) and merged with
the next chunk's first piece of the same key, so the result is the same
whatever the chunk size. Memory is bounded by the open flows plus the output.

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
    "syn_arr": "int64",
    "syn_dir": "int8",  # first bare SYN
    "synack_arr": "int64",
    "synack_dir": "int8",  # first SYN-ACK
    "syn0": "int64",
    "syn1": "int64",  # bare SYNs sent by A, by B
    "st_a": "uint8",
    "st_b": "uint8",  # Zeek joint TCP state with orig = A, orig = B
    "fin_seen": "bool",  # the flow has seen a FIN or RST (split rule)
    "let_arr": "int64",
    "let_dir": "int8",
    "let_s": "bool",  # first history letter; is it 'S'?
    "r_arr0": "int64",
    "r_arr1": "int64",  # first RST-only packet ('R') per side
    "bad_arr0": "int64",
    "bad_arr1": "int64",  # first H/A/F/I/Q letter per side
    "pay0": "bool",
    "pay1": "bool",  # side sent payload (PSH, not with RST)
}


def later_by_more_than(later: np.ndarray, earlier: np.ndarray, span: np.ndarray) -> np.ndarray:
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


class FlowAssembler:
    """Streaming packets-to-flows engine: ``add`` each batch, then ``finish``."""

    def __init__(
        self, activity_bin_ns: int = 1_000_000_000, evict_margin_ns: int = EVICT_MARGIN_NS
    ) -> None:
        if activity_bin_ns <= 0:
            raise ValueError("activity_bin_ns must be positive")
        self.activity_bin_ns = int(activity_bin_ns)
        self.evict_margin_ns = int(evict_margin_ns)
        self.open = empty_state()
        self.evicted: list[dict[str, np.ndarray]] = []  # candidates for reopening
        self.evicted_max_prev = {TCP: -INF, UDP: -INF}
        self.finished: list[dict[str, np.ndarray]] = []
        self.activity: list[tuple[np.ndarray, ...]] = []
        self.icmp_errors: list = []
        self.addresses = np.zeros((0, 2), np.uint64)
        self.arrival = 0
        self.next_flow_id = 0
        self.newest_ts = -INF

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
        ip_version = b.ip_version[sl]
        has_ip = ip_version != 0
        if has_ip.any():
            pairs = K.unique_pairs(
                np.concatenate([b.src_hi[sl][has_ip], b.dst_hi[sl][has_ip]]),
                np.concatenate([b.src_lo[sl][has_ip], b.dst_lo[sl][has_ip]]),
            )
            self.addresses = K.merge_pairs(self.addresses, pairs)
        bucket, proto = b.bucket[sl], b.proto[sl]
        sel = np.flatnonzero(
            ((bucket == Bucket.TCP) & (proto == TCP)) | ((bucket == Bucket.UDP) & (proto == UDP))
        )
        ts_all = b.ts_ns[sl]
        if n:
            self.newest_ts = max(self.newest_ts, int(ts_all.max()))
        if len(sel):
            self._assemble(b, sl, sel, arr0)
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
    def _reopen(self, proto, ts, codes_in) -> None:
        """Move evicted flows that packets of this chunk may still join back
        into the open table (only when timestamps went backwards that far)."""
        if not self.evicted:
            return
        idle = {TCP: TCP_IDLE_NS, UDP: UDP_IDLE_NS}
        maybe = False
        for p in (TCP, UDP):
            m = proto == p
            if m.any() and int(ts[m].min()) <= self.evicted_max_prev[p] + idle[p]:
                maybe = True
        if not maybe:
            return
        cand = concat_states(self.evicted)
        a_hi, a_lo, a_port, b_hi, b_lo, b_port = codes_in
        nc, no = _state_len(cand), _state_len(self.open)
        codes, ng = K.flow_key_codes(
            np.concatenate([self.open["proto"], cand["proto"], proto]),
            np.concatenate([self.open["a_hi"], cand["a_hi"], a_hi]),
            np.concatenate([self.open["a_lo"], cand["a_lo"], a_lo]),
            np.concatenate([self.open["a_port"], cand["a_port"], a_port]),
            np.concatenate([self.open["b_hi"], cand["b_hi"], b_hi]),
            np.concatenate([self.open["b_lo"], cand["b_lo"], b_lo]),
            np.concatenate([self.open["b_port"], cand["b_port"], b_port]),
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
            self.open = concat_states([self.open, take_state(cand, pick)])
            self.evicted = [take_state(cand, ~pick)]

    def _evict(self) -> None:
        st = self.open
        if _state_len(st) == 0:
            return
        idle = np.where(st["proto"] == TCP, TCP_IDLE_NS, UDP_IDLE_NS)
        newest = np.full(len(idle), self.newest_ts, np.int64)
        old = later_by_more_than(newest, st["prev_ts"], idle + self.evict_margin_ns)
        if old.any():
            gone = take_state(st, old)
            self.evicted.append(gone)
            for p in (TCP, UDP):
                m = gone["proto"] == p
                if m.any():
                    self.evicted_max_prev[p] = max(
                        self.evicted_max_prev[p], int(gone["prev_ts"][m].max())
                    )
            self.open = take_state(st, ~old)

    # ------------------------------------------------------------------
    def _assemble(self, b: PacketBatch, sl: slice, sel: np.ndarray, arr0: int) -> None:
        def col(name):
            return getattr(b, name)[sl][sel]

        ts, wire = col("ts_ns"), col("wire_len").astype(np.int64)
        proto, ipv, flags = col("proto"), col("ip_version"), col("tcp_flags")
        shi, slo, sp = col("src_hi"), col("src_lo"), col("sport")
        dhi, dlo, dp = col("dst_hi"), col("dst_lo"), col("dport")
        arrival = sel.astype(np.int64) + arr0
        src_a = K.canonical_sides(shi, slo, sp, dhi, dlo, dp)
        direction = (~src_a).astype(np.int8)  # 0: A->B, 1: B->A
        a_hi, a_lo, a_port = (
            np.where(src_a, shi, dhi),
            np.where(src_a, slo, dlo),
            np.where(src_a, sp, dp),
        )
        b_hi, b_lo, b_port = (
            np.where(src_a, dhi, shi),
            np.where(src_a, dlo, slo),
            np.where(src_a, dp, sp),
        )

        self._reopen(proto, ts, (a_hi, a_lo, a_port, b_hi, b_lo, b_port))
        carried = self.open
        nc = _state_len(carried)
        codes, ng = K.flow_key_codes(
            np.concatenate([carried["proto"], proto]),
            np.concatenate([carried["a_hi"], a_hi]),
            np.concatenate([carried["a_lo"], a_lo]),
            np.concatenate([carried["a_port"], a_port]),
            np.concatenate([carried["b_hi"], b_hi]),
            np.concatenate([carried["b_lo"], b_lo]),
            np.concatenate([carried["b_port"], b_port]),
        )
        gc, gp = codes[:nc], codes[nc:]
        order = K.stable_group_order(gp, ng)
        m = len(order)
        gs = gp[order]
        ts, wire, proto, ipv, flags = ts[order], wire[order], proto[order], ipv[order], flags[order]
        direction, arrival = direction[order], arrival[order]
        a_hi, a_lo, a_port = a_hi[order], a_lo[order], a_port[order]
        b_hi, b_lo, b_port = b_hi[order], b_lo[order], b_port[order]

        key_first = np.ones(m, bool)
        key_first[1:] = gs[1:] != gs[:-1]
        carried_of = np.full(ng, -1, np.int64)
        carried_of[gc] = np.arange(nc)
        cg = carried_of[gs]  # carried row of the packet's key, -1 without one
        with_carry = key_first & (cg >= 0)

        # --- gap splits: previous packet of the key in arrival order
        prev_ts = np.empty(m, np.int64)
        prev_ts[1:] = ts[:-1]
        prev_ts[0] = 0
        prev_ts[with_carry] = carried["prev_ts"][cg[with_carry]]
        has_prev = ~key_first | with_carry
        idle = np.where(proto == TCP, TCP_IDLE_NS, UDP_IDLE_NS)
        gap = has_prev & later_by_more_than(ts, prev_ts, idle)  # negative gaps are no gaps

        # --- TCP bare-SYN split rule, by prefix maxima within gap segments
        is_tcp = proto == TCP
        syn = is_tcp & ((flags & SYN) != 0)
        ack = (flags & ACK) != 0
        fin = is_tcp & ((flags & FIN) != 0)
        rst = is_tcp & ((flags & RST) != 0)
        psh = is_tcp & ((flags & PSH) != 0)
        bare = syn & ~ack
        finrst = fin | rst
        seg_break = key_first | gap
        seg = np.cumsum(seg_break) - 1
        width = 2 * m + 8
        base = seg.astype(np.int64) * width
        pos = 2 * np.arange(m, dtype=np.int64) + 2
        cont_seg = with_carry & ~gap
        init_f = np.zeros(
            m, np.int64
        )  # 1 where a segment starts inside a carried flow that saw FIN/RST
        init_f[cont_seg] = carried["fin_seen"][cg[cont_seg]].astype(np.int64)
        inc_s = np.maximum.accumulate(base + np.where(bare, pos, 0))
        inc_f = np.maximum.accumulate(base + np.maximum(np.where(finrst, pos + 1, 0), init_f))
        exc_s = np.empty(m, np.int64)
        exc_f = np.empty(m, np.int64)
        exc_s[1:], exc_f[1:] = inc_s[:-1], inc_f[:-1]
        exc_s[seg_break] = base[seg_break]
        exc_f[seg_break] = base[seg_break] + init_f[seg_break]
        syn_split = bare & (exc_f > exc_s)
        piece_break = key_first | gap | syn_split
        continues = key_first & (cg >= 0) & ~gap & ~syn_split  # first piece extends a carried flow

        # --- pieces and their aggregates
        starts = np.flatnonzero(piece_break)
        n_piece = len(starts)
        ends = np.empty(n_piece, np.int64)
        ends[:-1] = starts[1:]
        ends[-1] = m
        pid = np.cumsum(piece_break) - 1
        idx = np.arange(m, dtype=np.int64)

        def first_of(mask):
            i = np.minimum.reduceat(np.where(mask, idx, m), starts)
            found = i < m
            i = np.minimum(i, m - 1)
            return found, i

        def first_arr(mask):
            found, i = first_of(mask)
            return np.where(found, arrival[i], INF)

        d1 = direction == 1
        piece = empty_state(n_piece)
        piece["proto"], piece["ip_version"] = proto[starts], ipv[starts]
        piece["a_hi"], piece["a_lo"], piece["a_port"] = a_hi[starts], a_lo[starts], a_port[starts]
        piece["b_hi"], piece["b_lo"], piece["b_port"] = b_hi[starts], b_lo[starts], b_port[starts]
        lengths = ends - starts
        piece["pk1"] = np.add.reduceat(d1.astype(np.int64), starts)
        piece["pk0"] = lengths - piece["pk1"]
        piece["by1"] = np.add.reduceat(np.where(d1, wire, 0), starts)
        piece["by0"] = np.add.reduceat(wire, starts) - piece["by1"]
        piece["first_ts"] = np.minimum.reduceat(ts, starts)
        piece["last_ts"] = np.maximum.reduceat(ts, starts)
        piece["prev_ts"] = ts[ends - 1]
        piece["first_arr"], piece["first_dir"] = arrival[starts], direction[starts]
        found, i = first_of(bare)
        piece["syn_arr"] = np.where(found, arrival[i], INF)
        piece["syn_dir"] = np.where(found, direction[i], -1)
        found, i = first_of(syn & ack)
        piece["synack_arr"] = np.where(found, arrival[i], INF)
        piece["synack_dir"] = np.where(found, direction[i], -1)
        piece["syn0"] = np.add.reduceat((bare & ~d1).astype(np.int64), starts)
        piece["syn1"] = np.add.reduceat((bare & d1).astype(np.int64), starts)
        piece["fin_seen"] = np.maximum.reduceat(finrst, starts)
        # Zeek history letters (RSTOS0 needs /^?S[^HAFGIQ]*R/ on the originator's letters)
        letter = is_tcp & (((flags & (SYN | FIN | RST | ACK)) != 0) | psh)
        found, i = first_of(letter)
        piece["let_arr"] = np.where(found, arrival[i], INF)
        piece["let_dir"] = np.where(found, direction[i], -1)
        piece["let_s"] = found & bare[i] & ~fin[i] & ~rst[i]
        r_letter = rst & ~syn & ~fin
        nbits = syn.astype(np.int8) + fin + rst
        bad = (
            (syn & ack & (nbits == 1))  # H
            | (~syn & ~fin & ~rst & ack & ~psh & is_tcp)  # A (pure ACK, no payload)
            | (fin & (nbits == 1))  # F
            | (nbits > 1)  # I, Q
        )
        piece["r_arr0"], piece["r_arr1"] = first_arr(r_letter & ~d1), first_arr(r_letter & d1)
        piece["bad_arr0"], piece["bad_arr1"] = first_arr(bad & ~d1), first_arr(bad & d1)
        pay = psh & ~rst
        piece["pay0"] = np.maximum.reduceat(pay & ~d1, starts)
        piece["pay1"] = np.maximum.reduceat(pay & d1, starts)

        # --- Zeek TCP machine. Only packets that can change a state are fed:
        # control packets, and per run between them and per side the first
        # packet and the first with payload (a non-control packet changes only
        # an INACTIVE endpoint, which then never returns to INACTIVE, except a
        # responder's payload-free ACK to a SYN, which changes nothing).
        control = syn | fin | rst
        run = np.cumsum(control | piece_break)
        # an attached later fragment (frag 2) has no TCP header: no flags to feed
        plain = is_tcp & ~control & (col("frag")[order] != 2)
        feed = control.copy()
        for mask in (plain & ~d1, plain & d1, plain & psh & ~d1, plain & psh & d1):
            feed[_first_per_run(mask, run)] = True
        events = np.flatnonzero(feed)
        ev_piece = pid[events]
        sym_a = symbol(
            (direction[events] == 0).astype(np.uint8),
            syn[events].astype(np.uint8),
            ack[events].astype(np.uint8),
            fin[events].astype(np.uint8),
            rst[events].astype(np.uint8),
            psh[events].astype(np.uint8),
        ).astype(np.intp)
        piece_cont = continues[starts]
        piece_carry = np.where(piece_cont, cg[starts], -1)
        cont_idx = np.flatnonzero(piece_cont)
        carry_rows = piece_carry[cont_idx]
        init_a = np.zeros(n_piece, np.uint8)
        init_b = np.zeros(n_piece, np.uint8)
        init_a[cont_idx] = carried["st_a"][carry_rows]
        init_b[cont_idx] = carried["st_b"][carry_rows]
        piece["st_a"] = fold_states(sym_a, ev_piece, init_a)
        piece["st_b"] = fold_states(sym_a ^ 32, ev_piece, init_b)

        # --- merge first pieces with the flows they continue
        if len(cont_idx):
            c = take_state(carried, carry_rows)
            p = take_state(piece, cont_idx)
            for f in ("pk0", "pk1", "by0", "by1", "syn0", "syn1"):
                p[f] = c[f] + p[f]
            p["first_ts"] = np.minimum(c["first_ts"], p["first_ts"])
            p["last_ts"] = np.maximum(c["last_ts"], p["last_ts"])
            for f in ("r_arr0", "r_arr1", "bad_arr0", "bad_arr1"):
                p[f] = np.minimum(c[f], p[f])
            for f in ("fin_seen", "pay0", "pay1"):
                p[f] = c[f] | p[f]
            for first, extra in (
                ("first_arr", ("first_dir", "ip_version")),
                ("syn_arr", ("syn_dir",)),
                ("synack_arr", ("synack_dir",)),
                ("let_arr", ("let_dir", "let_s")),
            ):
                keep = c[first] != INF  # the carried part came first
                for f in (first, *extra):
                    p[f] = np.where(keep, c[f], p[f])
            p["flow_id"] = c["flow_id"]
            for f in STATE_FIELDS:
                piece[f][cont_idx] = p[f]
        new_idx = np.flatnonzero(~piece_cont)
        piece["flow_id"][new_idx] = self.next_flow_id + np.arange(len(new_idx))
        self.next_flow_id += len(new_idx)

        # --- activity: packets and bytes per flow and time bin
        bin_ns = self.activity_bin_ns
        bins = (ts // bin_ns) * bin_ns
        change = np.ones(m, bool)
        change[1:] = (pid[1:] != pid[:-1]) | (bins[1:] != bins[:-1])
        rs = np.flatnonzero(change)
        self.activity.append(
            (
                piece["flow_id"][pid[rs]],
                bins[rs],
                np.diff(np.append(rs, m)),
                np.add.reduceat(wire, rs),
            )
        )

        # --- which flows stay open: the last piece of each key, and carried
        # flows whose key this chunk did not touch
        last_piece = np.ones(n_piece, bool)
        last_piece[:-1] = key_first[starts[1:]]
        touched = np.zeros(ng, bool)
        touched[gs[key_first]] = True
        carried_touched = touched[gc]
        carried_cont = np.zeros(nc, bool)
        carried_cont[carry_rows] = True
        for done in (
            take_state(piece, ~last_piece),
            take_state(carried, carried_touched & ~carried_cont),
        ):
            if _state_len(done):
                self.finished.append(done)
        self.open = concat_states(
            [take_state(carried, ~carried_touched), take_state(piece, last_piece)]
        )

    # ------------------------------------------------------------------
    def finish(self) -> dict[str, np.ndarray]:
        """All flows (finished, evicted, still open) as one state table."""
        return concat_states(self.finished + self.evicted + [self.open])

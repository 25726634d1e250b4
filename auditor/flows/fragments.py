"""Later IP fragments attached to their datagram's flow (issue 6, SPEC section 5).

The capture stage sees ports only in a datagram's first fragment (``frag``
1, bucket tcp/udp); a later fragment (``frag`` 2) has none and lands in the
``fragment`` bucket. Here a later TCP/UDP fragment takes the ports of the
first fragment with the same (source, destination, protocol, IP id) and is
then counted in that flow's packets and bytes:

- a first fragment *before* it: the latest such one, when it lies at most
  ``WINDOW_PACKETS`` packets and ``WINDOW_NS`` earlier; the fragment keeps its
  place and time;
- otherwise (out of order) the earliest first fragment *after* it within the
  same bounds: the fragment is counted right after that first fragment, at
  its time, as tshark attributes a reassembled datagram to the frame that
  completes it;
- otherwise it stays in the ``fragment`` bucket (its first fragment was not
  captured, or is too far away to be the same datagram: IP ids are reused).

Accounting stays exact (every packet in exactly one bucket): an attached
fragment moves from the ``fragment`` bucket to the ``tcp``/``udp`` bucket of
its flow. The capture stage cannot know which fragments attach, so it counts
them as ``fragment``; ``attached`` says how many moved, and
``FlowTable.packet_counts`` applies the move to the capture stage's counts.

The decision for each fragment depends only on the packets within the
windows, never on where chunk borders fall: results are the same for any
chunk size. Memory holds at most the first fragments and unattached later
fragments of the last ``WINDOW_PACKETS`` packets. A tunnel whose *outer*
datagram is fragmented is not attached: its first fragment's row shows the
inner packet, whose addresses and IP id differ from the later fragments'.
"""

from __future__ import annotations

import numpy as np

from ..tables import PACKET_COLUMNS, Bucket, PacketBatch
from . import keys as K
from .assemble import later_by_more_than

WINDOW_NS = 30 * 1_000_000_000  # Linux's ipfrag_time: how long a host waits for the rest
WINDOW_PACKETS = 100_000  # bounds memory and IP id reuse
_TCP, _UDP = 6, 17
_NAMES = tuple(c.name for c in PACKET_COLUMNS)
_KEY = ("src_hi", "src_lo", "dst_hi", "dst_lo", "proto", "ip_id")


def _empty() -> dict[str, np.ndarray]:
    return {c.name: np.zeros(0, c.dtype) for c in PACKET_COLUMNS} | {"arr": np.zeros(0, np.int64)}


def _take(cols: dict[str, np.ndarray], idx) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in cols.items()}


def _cat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _key_codes(cols: dict[str, np.ndarray]) -> np.ndarray:
    """Equal codes exactly when source, destination, protocol and IP id are equal."""
    n = len(cols["arr"])
    if not n:
        return np.zeros(0, np.int64)
    addr, n_addr = K.address_codes(
        np.concatenate([cols["src_hi"], cols["dst_hi"]]), np.concatenate([cols["src_lo"], cols["dst_lo"]])
    )
    pair, _ = K._factorize(addr[:n] * n_addr + addr[n:])
    rest = ((cols["proto"] == _UDP).astype(np.int64) << 32) | cols["ip_id"].astype(np.int64)
    codes, _ = K._factorize((pair << 33) | rest)
    return codes


def _close(later: dict[str, np.ndarray], earlier: dict[str, np.ndarray]) -> np.ndarray:
    """Both windows hold: ``later`` arrived at most WINDOW_PACKETS after
    ``earlier``, and their times are at most WINDOW_NS apart (either way)."""
    span = np.full(len(later["arr"]), WINDOW_NS, np.int64)
    return (
        (later["arr"] - earlier["arr"] <= WINDOW_PACKETS)
        & ~later_by_more_than(later["ts_ns"], earlier["ts_ns"], span)
        & ~later_by_more_than(earlier["ts_ns"], later["ts_ns"], span)
    )


class FragmentAttacher:
    """Streaming: ``attach`` each batch (in file order) before flow assembly."""

    def __init__(self) -> None:
        self.arrival = 0
        self.firsts = _empty()  # latest first fragment per key, last WINDOW_PACKETS packets
        self.pending = _empty()  # later fragments still waiting for a first fragment
        self.attached = {"tcp": 0, "udp": 0}

    def attach(self, batch: PacketBatch) -> PacketBatch:
        """The batch with attached later fragments turned into tcp/udp packets
        of their flow (``frag`` stays 2: they carry no TCP flags)."""
        n = len(batch)
        a0 = self.arrival
        self.arrival += n
        l4 = (batch.proto == _TCP) | (batch.proto == _UDP)
        first = l4 & (batch.frag == 1) & ((batch.bucket == Bucket.TCP) | (batch.bucket == Bucket.UDP))
        later = l4 & (batch.frag == 2) & (batch.bucket == Bucket.FRAGMENT)
        fi, li = np.flatnonzero(first), np.flatnonzero(later)
        if not len(li) and not len(self.pending["arr"]):
            if len(fi):
                self._remember(batch, fi, a0)
            self._forget(a0 + n)
            return batch

        def rows(idx: np.ndarray) -> dict[str, np.ndarray]:
            out = {k: getattr(batch, k)[idx] for k in _NAMES}
            out["arr"] = idx.astype(np.int64) + a0
            return out

        old_f, old_p, new_f, new_l = self.firsts, self.pending, rows(fi), rows(li)
        nof, nop, nnf = len(old_f["arr"]), len(old_p["arr"]), len(fi)
        allc = _cat([old_f, old_p, new_f, new_l])
        code = _key_codes(allc)
        is_f = np.zeros(len(code), bool)
        is_f[:nof] = True
        is_f[nof + nop : nof + nop + nnf] = True
        is_new_l = np.zeros(len(code), bool)
        is_new_l[nof + nop + nnf :] = True

        # in order: the latest first fragment before each new later fragment
        order = np.lexsort((allc["arr"], code))
        pos = np.arange(len(order))
        f_pos = np.maximum.accumulate(np.where(is_f[order], pos, -1))
        cand = np.where(f_pos >= 0, order[np.maximum(f_pos, 0)], -1)
        sl = np.flatnonzero(is_new_l[order])
        lrow, frow = order[sl], cand[sl]
        ok = frow >= 0
        ok[ok] = code[frow[ok]] == code[lrow[ok]]
        ok[ok] = _close(_take(allc, lrow[ok]), _take(allc, frow[ok]))
        in_place_l, in_place_f = lrow[ok], frow[ok]
        waiting = np.ones(len(code), bool)
        waiting[: nof] = False
        waiting[nof + nop : nof + nop + nnf] = False
        waiting[in_place_l] = False  # pending (old) and unattached new later fragments

        # out of order: the earliest first fragment of this batch after a waiting one
        is_bf = np.zeros(len(code), bool)
        is_bf[nof + nop : nof + nop + nnf] = True
        big = len(order)
        # sorted position p -> the nearest batch first fragment at or after p (suffix minimum)
        suf = np.minimum.accumulate(np.where(is_bf[order], pos, big)[::-1])[::-1]
        nxt = np.where(suf < big, order[np.minimum(suf, big - 1)], -1)
        sw = np.flatnonzero(waiting[order])
        wrow, frow = order[sw], nxt[sw]
        found = frow >= 0
        found[found] = code[frow[found]] == code[wrow[found]]
        ok = found.copy()
        ok[found] = _close(_take(allc, frow[found]), _take(allc, wrow[found]))
        moved_l, moved_f = wrow[ok], frow[ok]
        waiting[wrow[found]] = False  # only the earliest one counts: attached, or never

        out = batch
        if len(in_place_l) or len(moved_l):
            cols = {k: getattr(batch, k) for k in _NAMES}
            if len(in_place_l):
                cols = {k: v.copy() for k, v in cols.items()}
                at = in_place_l - (nof + nop + nnf)  # index into new_l
                rows_l = li[at]
                cols["sport"][rows_l] = allc["sport"][in_place_f]
                cols["dport"][rows_l] = allc["dport"][in_place_f]
                cols["bucket"][rows_l] = np.where(allc["proto"][in_place_f] == _TCP, Bucket.TCP, Bucket.UDP)
            if len(moved_l):
                copy = _take(allc, moved_l)
                copy["sport"] = allc["sport"][moved_f]
                copy["dport"] = allc["dport"][moved_f]
                copy["ts_ns"] = allc["ts_ns"][moved_f]
                copy["bucket"] = np.where(copy["proto"] == _TCP, Bucket.TCP, Bucket.UDP).astype(np.uint8)
                after = allc["arr"][moved_f] - a0  # the first fragment's row in this batch
                # originals keep their place; a copy follows its first fragment
                place = np.concatenate([2 * np.arange(n, dtype=np.int64), 2 * after + 1])
                tie = np.concatenate([np.zeros(n, np.int64), copy["arr"]])
                idx = np.lexsort((tie, place))
                cols = {k: np.concatenate([cols[k], copy[k]])[idx] for k in _NAMES}
            out = PacketBatch.from_columns(cols, batch.icmp_errors)
            attached = np.concatenate([allc["proto"][in_place_l], allc["proto"][moved_l]])
            self.attached["tcp"] += int((attached == _TCP).sum())
            self.attached["udp"] += int((attached == _UDP).sum())

        self.pending = _take(allc, np.flatnonzero(waiting))
        self.firsts = _take(allc, np.flatnonzero(is_f))
        self._latest_firsts()
        self._forget(a0 + n)
        return out

    # ------------------------------------------------------------------
    def _remember(self, batch: PacketBatch, fi: np.ndarray, a0: int) -> None:
        new = {k: getattr(batch, k)[fi] for k in _NAMES}
        new["arr"] = fi.astype(np.int64) + a0
        self.firsts = _cat([self.firsts, new])
        self._latest_firsts()

    def _latest_firsts(self) -> None:
        """Keep the latest first fragment per key (the only one a later
        fragment can still attach to in order)."""
        f = self.firsts
        if len(f["arr"]) < 2:
            return
        code = _key_codes(f)
        order = np.lexsort((f["arr"], code))
        last = np.ones(len(order), bool)
        last[:-1] = code[order[1:]] != code[order[:-1]]
        self.firsts = _take(f, np.sort(order[last]))

    def _forget(self, next_arrival: int) -> None:
        """Drop what no packet from ``next_arrival`` on can attach to."""
        for name in ("firsts", "pending"):
            t = getattr(self, name)
            keep = next_arrival - t["arr"] <= WINDOW_PACKETS
            if not keep.all():
                setattr(self, name, _take(t, keep))

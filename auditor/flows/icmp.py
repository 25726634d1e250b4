"""Attach ICMP destination-unreachable errors to the flows they quote.

An error quoting a TCP/UDP header (either direction of the quote) belongs to
the latest flow of that key that started at or before the error and whose
last packet is at most ``ICMP_TOLERANCE_NS`` before it (SPEC section 6: such
an error makes the quoted flow ``blocked``). Errors with no such flow are
counted, not attached. Done once over all flows at the end of the stream:
errors are few, and a flow may still be open when its error arrives.
"""

from __future__ import annotations

import numpy as np

from ..tables import IcmpErrors
from . import keys as K

ICMP_TOLERANCE_NS = 10 * 1_000_000_000


def concat_icmp(errors: list[IcmpErrors]) -> IcmpErrors:
    from dataclasses import fields

    if not errors:
        return IcmpErrors()
    return IcmpErrors(
        **{f.name: np.concatenate([getattr(e, f.name) for e in errors]) for f in fields(IcmpErrors)}
    )


def attach_icmp(flows: dict[str, np.ndarray], err: IcmpErrors) -> tuple[np.ndarray, int]:
    """Row of ``flows`` (state table) each error attaches to (-1: none), and
    the number of errors left unattached."""
    n_err = len(err)
    target = np.full(n_err, -1, np.int64)
    n_flow = len(flows["flow_id"])
    if n_err == 0:
        return target, 0
    if n_flow == 0:  # nothing to attach to (and nothing to index)
        return target, n_err
    ok = (err.proto == 6) | (err.proto == 17)
    src_a = K.canonical_sides(err.src_hi, err.src_lo, err.sport, err.dst_hi, err.dst_lo, err.dport)
    e_key = (
        err.proto,
        np.where(src_a, err.src_hi, err.dst_hi),
        np.where(src_a, err.src_lo, err.dst_lo),
        np.where(src_a, err.sport, err.dport),
        np.where(src_a, err.dst_hi, err.src_hi),
        np.where(src_a, err.dst_lo, err.src_lo),
        np.where(src_a, err.dport, err.sport),
    )
    f_key = tuple(flows[k] for k in ("proto", "a_hi", "a_lo", "a_port", "b_hi", "b_lo", "b_port"))
    codes, _ = K.flow_key_codes(*(np.concatenate([f, e]) for f, e in zip(f_key, e_key)))
    fc, ec = codes[:n_flow], codes[n_flow:]
    # One sorted sequence of flows (by start) and errors (by time) per key; an
    # error's candidate is the last flow before it in that sequence.
    kind = np.concatenate([np.zeros(n_flow, np.int8), np.ones(n_err, np.int8)])
    when = np.concatenate([flows["first_ts"], err.ts_ns])
    tie = np.concatenate([flows["first_arr"], np.zeros(n_err, np.int64)])
    code = np.concatenate([fc, ec])
    order = np.lexsort((tie, kind, when, code))
    is_flow = kind[order] == 0
    pos = np.where(is_flow, np.arange(len(order)), -1)
    last_flow_pos = np.maximum.accumulate(pos)
    err_pos = np.flatnonzero(~is_flow)
    cand_pos = last_flow_pos[err_pos]
    err_row = order[err_pos] - n_flow
    has = cand_pos >= 0
    cand_row = np.where(has, order[np.maximum(cand_pos, 0)], 0)
    same_key = has & (code[np.where(has, order[np.maximum(cand_pos, 0)], 0)] == ec[err_row])
    in_time = same_key & (err.ts_ns[err_row] <= flows["last_ts"][cand_row] + ICMP_TOLERANCE_NS)
    good = in_time & ok[err_row]
    target[err_row[good]] = cand_row[good]
    return target, int(n_err - good.sum())

"""Grouping helpers for the flow stage: canonical endpoint order, dense key
codes, and a stable counting sort, all over whole numpy columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

try:  # pandas' O(n) stable counting sort; numpy's stable argsort is 4x slower
    from pandas._libs.algos import groupsort_indexer as _groupsort_indexer
except ImportError:  # pragma: no cover - private API moved
    _groupsort_indexer = None
try:  # pandas' hash tables; pd.factorize sizes its table for every value at once
    from pandas._libs import hashtable as _hashtable

    _TABLES = {np.dtype(np.int64): _hashtable.Int64HashTable, np.dtype(np.uint64): _hashtable.UInt64HashTable}
except (ImportError, AttributeError):  # pragma: no cover - private API moved
    _TABLES = {}

# Hash tables start this big and grow with the distinct values (a flow key
# or address is repeated by many packets): pd.factorize would size one for
# every value, 8 MB for a slice's 300,000 addresses, and walk it out of cache.
TABLE_HINT = 1 << 14


def stable_group_order(codes: np.ndarray, ngroups: int) -> np.ndarray:
    """Indices that sort ``codes`` (0 <= code < ngroups), keeping the original
    order within a code: key order first, arrival order inside each key."""
    if _groupsort_indexer is not None and len(codes):
        order, _ = _groupsort_indexer(codes.astype(np.intp, copy=False), ngroups)
        return order.astype(np.int64, copy=False)
    return np.argsort(codes, kind="stable")


def canonical_sides(src_hi, src_lo, sport, dst_hi, dst_lo, dport) -> np.ndarray:
    """True where the source is side A, the smaller (address, port) endpoint.
    Both directions of a conversation then share one key (A, B)."""
    return (src_hi < dst_hi) | (
        (src_hi == dst_hi) & ((src_lo < dst_lo) | ((src_lo == dst_lo) & (sport <= dport)))
    )


def _factorize_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes (int64, in order of first appearance) and the distinct values."""
    table = _TABLES.get(values.dtype)
    if table is None:
        codes, uniques = pd.factorize(values, sort=False)
        return codes.astype(np.int64, copy=False), np.asarray(uniques)
    uniques, codes = table(min(len(values), TABLE_HINT)).factorize(values)
    return codes.astype(np.int64, copy=False), uniques


def _factorize(values: np.ndarray) -> tuple[np.ndarray, int]:
    codes, uniques = _factorize_values(values)
    return codes, len(uniques)


def _factorize_sorted(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes in the order of the values (unsigned order for uint64) and the
    sorted distinct values."""
    codes, uniques = _factorize_values(values)
    order = np.argsort(uniques, kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return np.take(rank, codes, out=codes), uniques[order]


def address_codes(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense codes of 128-bit (hi, lo) addresses."""
    lo_codes, n_lo = _factorize(lo)
    if not hi.any():  # IPv4-mapped and most IPv6-free captures: hi is all zero
        return lo_codes, n_lo
    hi_codes, _ = _factorize(hi)
    return _factorize(hi_codes * n_lo + lo_codes)


def ordered_address_codes(
    hi: np.ndarray | None, lo: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense codes of 128-bit (hi, lo) addresses that keep their order (code
    i < code j exactly when address i < address j), and the distinct
    addresses, sorted: ``(codes, unique_hi, unique_lo)``. ``hi`` None: all zero."""
    lo = np.asarray(lo, np.uint64)
    if hi is None or not hi.any():  # IPv4-mapped and most IPv6-free captures: hi is all zero
        codes, u = _factorize_sorted(lo)
        return codes, np.zeros(len(u), np.uint64), u
    hc, hu = _factorize_sorted(np.asarray(hi, np.uint64))
    lc, lu = _factorize_sorted(lo)
    n_lo = len(lu)
    codes, u = _factorize_sorted(hc * n_lo + lc)
    return codes, hu[u // n_lo], lu[u % n_lo]


# Address-pair codes below this many addresses are packed with the ports into
# one int64 (2 x 15 bits + 33), one hashing pass instead of two.
PACKED_ADDRESSES = 1 << 15


def endpoint_key_codes(
    a_addr: np.ndarray, b_addr: np.ndarray, n_addr: int, a_port, b_port, is_udp
) -> tuple[np.ndarray, int]:
    """Dense codes of (A address code, B address code, A port, B port, UDP?)
    given address codes below ``n_addr``: equal codes exactly when all are equal."""
    ports = (
        (a_port.astype(np.int64) << 17)
        | (b_port.astype(np.int64) << 1)
        | np.asarray(is_udp).astype(np.int64)
    )
    if n_addr <= PACKED_ADDRESSES:
        return _factorize(((a_addr * n_addr + b_addr) << 33) | ports)
    pair, _ = _factorize(a_addr * n_addr + b_addr)
    return _factorize((pair << 33) | ports)


def flow_key_codes(proto, a_hi, a_lo, a_port, b_hi, b_lo, b_port) -> tuple[np.ndarray, int]:
    """Dense codes of the flow key (proto, A address, A port, B address, B
    port): equal codes exactly when all five are equal."""
    n = len(proto)
    if n == 0:
        return np.zeros(0, np.int64), 0
    addr, n_addr = address_codes(np.concatenate([a_hi, b_hi]), np.concatenate([a_lo, b_lo]))
    return endpoint_key_codes(addr[:n], addr[n:], n_addr, a_port, b_port, proto == 17)


def unique_pairs(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Sorted unique (hi, lo) rows as an (n, 2) uint64 array."""
    if len(hi) == 0:
        return np.zeros((0, 2), np.uint64)
    _, u_hi, u_lo = ordered_address_codes(np.asarray(hi, np.uint64), lo)
    return np.column_stack([u_hi, u_lo])


def merge_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union of two sorted unique (n, 2) pair arrays, sorted unique."""
    if len(b) == 0:
        return a
    if len(a) == 0:
        return b
    both = np.concatenate([a, b])
    return unique_pairs(both[:, 0], both[:, 1])


def addresses_to_text(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Canonical text (``tables.addr_to_text``) of each (hi, lo), computed once
    per unique address: dotted quad for IPv4-mapped, compressed IPv6 else."""
    return addresses_to_text_and_rank(hi, lo)[0]


def addresses_to_text_and_rank(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``addresses_to_text`` plus each text's rank in sorted text order (to
    sort rows by address text with integer keys)."""
    codes, text, rank = address_text_codes(hi, lo)
    return text[codes], rank[codes]


def address_text_codes(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(codes, text, rank)``: each address's code, and per code the
    canonical text (``tables.addr_to_text``) and its rank in sorted text
    order. The text is made once per distinct address; ``text[codes]``
    shares one string among all rows of an address."""
    from ..tables import addr_to_text

    n = len(hi)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, dtype=object), np.zeros(0, np.int64)
    codes, n_u = address_codes(hi, lo)
    first = np.full(n_u, n, np.int64)
    np.minimum.at(first, codes, np.arange(n, dtype=np.int64))
    uh, ul = hi[first], lo[first]
    text = np.empty(n_u, dtype=object)
    v4 = (uh == 0) & ((ul >> np.uint64(32)) == np.uint64(0xFFFF))
    if v4.any():
        v = (ul[v4] & np.uint64(0xFFFFFFFF)).astype(np.int64)
        out = ((v >> 24) & 255).astype(str).astype(object)
        for shift in (16, 8, 0):
            out = out + "." + ((v >> shift) & 255).astype(str).astype(object)
        text[v4] = out
    for i in np.flatnonzero(~v4):  # IPv6: one ipaddress call per unique address
        text[i] = addr_to_text(uh[i], ul[i])
    rank = np.empty(n_u, np.int64)
    rank[np.argsort(text.astype(str), kind="stable")] = np.arange(n_u)
    return codes, text, rank

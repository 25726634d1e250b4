"""Address → inventory host, vectorised, most specific match first.

Addresses are (hi, lo) uint64 halves of a 128-bit number, IPv4 written
IPv4-mapped (``auditor.tables``). Inventory networks are grouped by prefix
length; for each length, longest first, the still-unmatched addresses are
masked and looked up in a hash index of that length's networks. Cost is
(number of distinct prefix lengths) × (addresses), never hosts × addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import numpy as np
import pandas as pd

from auditor.model import Host

_ALL = (1 << 64) - 1
_V4_MAPPED = 0x0000FFFF00000000


def _network_key(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int, int]:
    """(prefix length in the 128-bit space, hi, lo) of a network's start."""
    if net.version == 4:
        return 96 + net.prefixlen, 0, _V4_MAPPED | int(net.network_address)
    value = int(net.network_address)
    return net.prefixlen, value >> 64, value & _ALL


def _masks(prefix: int) -> tuple[np.uint64, np.uint64]:
    if prefix <= 64:
        hi = (_ALL << (64 - prefix)) & _ALL if prefix else 0
        return np.uint64(hi), np.uint64(0)
    lo = (_ALL << (128 - prefix)) & _ALL
    return np.uint64(_ALL), np.uint64(lo)


class AddressIndex:
    """Maps addresses to the index of their host in ``hosts`` (-1: none).

    IPv4 networks match only IPv4(-mapped) addresses and IPv6 networks only
    the others, as ``ipaddress`` has it: ``::/0`` does not swallow IPv4."""

    def __init__(self, hosts: Sequence[Host]) -> None:
        by_level: dict[tuple[int, bool], dict[tuple[int, int], int]] = {}
        for host_idx, host in enumerate(hosts):
            for net in host.networks:
                prefix, hi, lo = _network_key(net)
                # The inventory loader refuses one block on two hosts; if it
                # slipped through, the first host keeps it (deterministic).
                level = by_level.setdefault((prefix, net.version == 4), {})
                level.setdefault((hi, lo), host_idx)
        self._levels: list[tuple[bool, np.uint64, np.uint64, pd.MultiIndex, np.ndarray]] = []
        for prefix, is_v4 in sorted(by_level, reverse=True):  # most specific first
            entries = by_level[(prefix, is_v4)]
            keys = np.array(list(entries), dtype=np.uint64).reshape(-1, 2)
            index = pd.MultiIndex.from_arrays([keys[:, 0], keys[:, 1]])
            host_ids = np.fromiter(entries.values(), dtype=np.int32)
            self._levels.append((is_v4, *_masks(prefix), index, host_ids))

    def lookup(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        """Host index per address (int32, -1 outside the inventory)."""
        hi = np.asarray(hi, dtype=np.uint64)
        lo = np.asarray(lo, dtype=np.uint64)
        out = np.full(len(hi), -1, dtype=np.int32)
        mapped = (hi == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))
        todo = np.arange(len(hi))
        for is_v4, mask_hi, mask_lo, index, host_ids in self._levels:
            cand = todo[mapped[todo] == is_v4]
            if not len(cand):
                continue
            query = pd.MultiIndex.from_arrays([hi[cand] & mask_hi, lo[cand] & mask_lo])
            pos = index.get_indexer(query)
            hit = pos >= 0
            out[cand[hit]] = host_ids[pos[hit]]
            todo = todo[out[todo] < 0]
        return out

    def lookup_unique(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        """Same as ``lookup``, resolving each distinct address once (flows
        repeat the same few addresses millions of times)."""
        hi = np.asarray(hi, dtype=np.uint64)
        lo = np.asarray(lo, dtype=np.uint64)
        if not len(hi):
            return np.zeros(0, dtype=np.int32)
        codes, first = distinct_pairs(hi, lo)
        return self.lookup(hi[first], lo[first])[codes]


def distinct_pairs(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the distinct (hi, lo) pairs and the first row of each, by
    hashing each half separately (no Python tuple per row)."""
    code_hi, _ = pd.factorize(hi)
    code_lo, uniq_lo = pd.factorize(lo)
    combined = code_hi.astype(np.int64) * max(len(uniq_lo), 1) + code_lo
    return first_rows(combined)


def first_rows(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes of an integer key and the first row holding each code."""
    codes, uniques = pd.factorize(key)
    first = np.empty(len(uniques), dtype=np.int64)
    rows = np.arange(len(codes) - 1, -1, -1)
    first[codes[::-1]] = rows  # later writes win: the first occurrence remains
    return codes, first

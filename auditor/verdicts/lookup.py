"""Address → inventory host for whole flow columns.

The index itself (most specific match, IPv4 and IPv6 apart) is
``auditor.inventory.AddressIndex``; this module resolves each distinct
address once and gives the verdict stage dense codes of repeated keys.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from auditor.inventory import AddressIndex


def lookup_unique(index: AddressIndex, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Host index per address (-1 outside the inventory), resolving each
    distinct address once: flows repeat the same few addresses millions of
    times."""
    hi = np.asarray(hi, dtype=np.uint64)
    lo = np.asarray(lo, dtype=np.uint64)
    if not len(hi):
        return np.zeros(0, dtype=np.int64)
    codes, first = distinct_pairs(hi, lo)
    return index.lookup(hi[first], lo[first])[codes]


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

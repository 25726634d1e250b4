"""Our packets → tshark-style conversation keys, for the corpus agreement test."""

from __future__ import annotations

import ipaddress
from collections import defaultdict

import numpy as np

from auditor.tables import Bucket, PacketBatch, addr_to_text


def _endpoint(hi: int, lo: int, port: int) -> tuple[tuple, str]:
    text = addr_to_text(hi, lo)
    ip = ipaddress.ip_address(text)
    shown = f"[{text}]:{port}" if ip.version == 6 else f"{text}:{port}"
    return (ip.version, ip.packed, port), shown


def conversations(batches: list[PacketBatch]) -> dict[str, tuple[int, int]]:
    """{'tcp A <-> B': (packets, wire bytes)} over the tcp/udp packets, both
    directions together, endpoints ordered as tshark's refs order them."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for b in batches:
        sel = np.flatnonzero((b.bucket == Bucket.TCP) | (b.bucket == Bucket.UDP))
        cols = [getattr(b, c)[sel].tolist() for c in ("bucket", "src_hi", "src_lo", "sport", "dst_hi", "dst_lo", "dport", "wire_len")]
        cache: dict[tuple, str] = {}
        for bucket, shi, slo, sp, dhi, dlo, dp, wl in zip(*cols):
            k = (bucket, shi, slo, sp, dhi, dlo, dp)
            key = cache.get(k)
            if key is None:
                a, b_ = sorted([_endpoint(shi, slo, sp), _endpoint(dhi, dlo, dp)])
                key = cache[k] = f"{'tcp' if bucket == Bucket.TCP else 'udp'} {a[1]} <-> {b_[1]}"
            out[key][0] += 1
            out[key][1] += wl
    return {k: (v[0], v[1]) for k, v in out.items()}


def ref_conversations(ref: dict, fragments: bool) -> dict[str, tuple[int, int]]:
    view = ref["tshark"]["innermost"]
    if fragments and isinstance(ref.get("no_ip_reassembly"), dict):
        view = ref["no_ip_reassembly"]["innermost"]
    return {c["key"]: (c["packets"], c["bytes"]) for c in view["tcp"] + view["udp"]}

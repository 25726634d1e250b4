"""Time the flow stage alone on 2,000,000 generated packets (no capture
file): ``python3 -m tests.flows.bench_flows [CHUNK]``. Not a test (no timed
assertions in the suite); the numbers go into the flow stage's report.

The mix is the hard case for the flow stage, many flows per packet: 40 %
bulk 4008 segments on 16 VRA pairs, 50 % short TLS control connections (10
packets each, about 100,000 connections, client ports reused so SYN-after-
FIN splits happen), 10 % one-way DNS queries (about 200,000 UDP flows).
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np

from auditor.flows import packets_to_flows
from auditor.tables import PacketBatch

V4 = np.uint64(0xFFFF00000000)


def generate(n: int = 2_000_000, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.integers(0, 600 * 10**9, n)) + 1_700_000_000 * 10**9
    kind = rng.choice(3, size=n, p=[0.4, 0.5, 0.1])
    src, dst = np.zeros(n, np.uint64), np.zeros(n, np.uint64)
    sp, dp = np.zeros(n, np.uint16), np.zeros(n, np.uint16)
    flags = np.zeros(n, np.uint8)
    proto = np.full(n, 6, np.uint8)
    bucket = np.zeros(n, np.uint8)
    wire = np.full(n, 1514, np.uint32)

    bulk = kind == 0
    pair = rng.integers(0, 16, bulk.sum()).astype(np.uint64)
    fwd = rng.integers(0, 2, bulk.sum()).astype(bool)
    c_ip, s_ip = V4 + np.uint64(0x0A0A0200) + pair, V4 + np.uint64(0x0A140200) + pair
    src[bulk], dst[bulk] = np.where(fwd, c_ip, s_ip), np.where(fwd, s_ip, c_ip)
    sp[bulk], dp[bulk] = np.where(fwd, 40000 + pair, 4008), np.where(fwd, 4008, 40000 + pair)
    flags[bulk] = np.where(fwd, 0x18, 0x10)

    ctl = kind == 1
    k = np.arange(ctl.sum()) % 10
    conn = np.arange(ctl.sum()) // 10
    pattern = np.array([0x02, 0x12, 0x10, 0x18, 0x10, 0x18, 0x10, 0x11, 0x11, 0x10], np.uint8)
    from_client = np.array([1, 0, 1, 1, 0, 0, 1, 1, 0, 1], bool)[k]
    c_ip = V4 + np.uint64(0x0A0A0000) + (conn % 200).astype(np.uint64)
    s_ip = V4 + np.uint64(0x0A0A0064)
    c_port = (1024 + conn % 60000).astype(np.uint16)
    src[ctl], dst[ctl] = np.where(from_client, c_ip, s_ip), np.where(from_client, s_ip, c_ip)
    sp[ctl], dp[ctl] = np.where(from_client, c_port, 443), np.where(from_client, 443, c_port)
    flags[ctl], wire[ctl] = pattern[k], 120

    udp = kind == 2
    q = np.arange(udp.sum())
    src[udp] = V4 + np.uint64(0x0A0A0000) + (q % 50).astype(np.uint64)
    dst[udp] = V4 + np.uint64(0x0A0A0035)
    sp[udp], dp[udp] = (20000 + q % 30000).astype(np.uint16), 53
    proto[udp], bucket[udp], wire[udp] = 17, 1, 90

    zeros64 = np.zeros(n, np.uint64)
    return {
        "ts_ns": ts, "wire_len": wire, "bucket": bucket, "ip_version": np.full(n, 4, np.uint8),
        "src_hi": zeros64, "src_lo": src, "dst_hi": zeros64, "dst_lo": dst, "proto": proto,
        "sport": sp, "dport": dp, "tcp_flags": flags, "ip_id": np.zeros(n, np.uint32),
        "frag": np.zeros(n, np.uint8),
    }  # fmt: skip


def main(argv: list[str]) -> int:
    chunk = int(argv[1]) if len(argv) > 1 else 1 << 18
    cols = generate()
    n = len(cols["ts_ns"])
    batches = [
        PacketBatch.from_columns({k: v[i : i + chunk] for k, v in cols.items()})
        for i in range(0, n, chunk)
    ]
    cpu, wall = time.process_time(), time.perf_counter()
    table = packets_to_flows(batches, {"tcp": frozenset({4008, 443}), "udp": frozenset({53})})
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{n:,} packets in chunks of {chunk:,}: {wall:.2f} s wall, {cpu:.2f} s CPU, "
        f"{n / cpu / 1e6:.2f} M packets/s (CPU); {len(table.flows):,} flows, "
        f"{len(table.activity):,} activity rows; peak RSS {rss:.0f} MB (generator included)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

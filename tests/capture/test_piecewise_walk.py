"""The record walk runs piece by piece while a buffer fills (pcap records,
runs of pcapng packet blocks). Whatever the buffer and piece sizes, and
whatever the damage, a capture reads the same: same packets, columns,
counts, warnings, or the same error."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from auditor.capture.reader import FileReader
from auditor.errors import CaptureError

from .craft import epb, idb, pcap_bytes, shb, spb

SETTINGS = settings(max_examples=120, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
COLUMNS = ("ts_ns", "wire_len", "bucket", "src_lo", "dst_lo", "sport", "dport", "tcp_flags")


def _frames() -> list[bytes]:
    out = []
    for i in range(150):
        l4 = TCP(sport=1000 + i % 7, dport=4008, flags="PA") if i % 3 else UDP(sport=53, dport=2000 + i % 5)
        out.append(bytes(Ether() / IP(src="10.0.0.1", dst=f"10.0.1.{i % 4}") / l4 / (b"x" * (i * 7 % 300))))
    return out


def _seeds() -> list[bytes]:
    frames = _frames()
    pcapng = shb() + idb(1, tsresol=9) + b"".join(
        epb(0, 10**9 + i, f) if i % 50 != 17 else spb(f) for i, f in enumerate(frames))
    # a second section in the middle, with its own interface
    two_sections = (shb() + idb(1) + b"".join(epb(0, i, f) for i, f in enumerate(frames[:70]))
                    + shb() + idb(1, tsresol=9) + b"".join(epb(0, i, f) for i, f in enumerate(frames[70:])))
    return [pcap_bytes([(10**18 + i, f) for i, f in enumerate(frames)]), pcapng, two_sections]


SEEDS = _seeds()


def _read(path: Path, block_bytes: int, chunk: int) -> tuple:
    reader = FileReader(path, block_bytes=block_bytes, chunk_packets=chunk)
    try:
        batches = list(reader.batches())
    except CaptureError as e:
        return ("error", e.line())
    cols = {c: np.concatenate([getattr(b, c) for b in batches]) if batches else np.zeros(0) for c in COLUMNS}
    return ("read", reader.packets, reader.bytes, reader.bucket_counts.tolist(), reader.warnings,
            reader.skipped_blocks, reader.sha256, {c: v.tolist() for c, v in cols.items()})


def _three_ways(data: bytes) -> list[tuple]:
    """One buffer and chunk (no piecewise walk); pieces of 1 KiB; pieces of
    1250 bytes with chunks of 7 packets."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.cap"
        path.write_bytes(data)
        return [_read(path, 1 << 22, 1 << 18), _read(path, 4096, 1 << 18), _read(path, 5000, 7)]


@SETTINGS
@given(
    st.sampled_from(range(len(SEEDS))),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 7)), max_size=4),  # bit flips
    st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from([0, 0xFFFFFFFF, 13, 2**18 + 4, 6, 1])), max_size=2),
    st.one_of(st.none(), st.integers(0, 10**6)),  # truncation
)
def test_reading_does_not_depend_on_buffer_or_piece_size(seed: int, flips: list, words: list, cut: int | None) -> None:
    data = bytearray(SEEDS[seed])
    for pos, bit in flips:
        data[pos % len(data)] ^= 1 << bit
    for pos, value in words:
        p = pos % max(1, len(data) - 4)
        data[p : p + 4] = value.to_bytes(4, "little")
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    whole, pieces, small = _three_ways(bytes(data))
    assert pieces == whole
    assert small == whole


def test_seeds_are_read_whole() -> None:
    """The seeds themselves are clean: every frame read, no warning."""
    for data in SEEDS:
        for kind, packets, _bytes, _buckets, warnings, skipped, _sha, cols in _three_ways(data):
            assert kind == "read" and packets == 150 and warnings == [] and skipped == 0
            assert len(cols["sport"]) == 150


def _packet_blocks(data: bytes) -> list[int]:
    """Offsets of the Enhanced Packet Blocks of a little-endian pcapng file."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        btype, blen = int.from_bytes(data[pos : pos + 4], "little"), int.from_bytes(data[pos + 4 : pos + 8], "little")
        if btype == 6:
            out.append(pos)
        pos += blen
    return out


def test_damaged_packet_blocks_inside_a_walked_run() -> None:
    """A packet block that passes the walk's checks but not the field checks
    (an interface the section lacks, more captured bytes than the block
    holds), met in a run walked while the buffer filled: the packets before
    it are read, then the same warning as without pieces."""
    for seed in (SEEDS[1], SEEDS[2]):
        blocks = _packet_blocks(seed)
        for k in (30, 61, 97, 140):
            for field, value in ((8, 5), (20, 60000)):  # interface id; captured length
                data = bytearray(seed)
                at = blocks[k] + field
                data[at : at + 4] = value.to_bytes(4, "little")
                whole, pieces, small = _three_ways(bytes(data))
                assert whole[0] == "read" and whole[1] < 150 and len(whole[4]) == 1, whole[:5]
                assert pieces == whole
                assert small == whole


def test_absurd_record_inside_a_walked_piece() -> None:
    """A pcap record claiming more than the reader allows, met by the walk of
    a piece: the records before it are read, then the same warning."""
    seed = SEEDS[0]
    pos, offsets = 24, []
    while pos + 16 <= len(seed):
        offsets.append(pos)
        pos += 16 + int.from_bytes(seed[pos + 8 : pos + 12], "little")
    for k in (40, 99, 149):
        data = bytearray(seed)
        data[offsets[k] + 8 : offsets[k] + 12] = (2**18 + 4).to_bytes(4, "little")
        whole, pieces, small = _three_ways(bytes(data))
        assert whole[0] == "read" and whole[1] == k and "captured bytes" in whole[4][0]
        assert pieces == whole
        assert small == whole

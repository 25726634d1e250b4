"""Classic libpcap files: the 24-byte file header and the record walk.

Format: https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import CaptureError
from .source import PCAP_MAGICS

FILE_HEADER_BYTES = 24
RECORD_HEADER_BYTES = 16
# Larger than any real snaplen (libpcap's maximum is 262144): a record that
# claims more is damage, and is never allocated.
MAX_RECORD_BYTES = 256 * 1024


@dataclass(frozen=True)
class PcapHeader:
    endian: str  # "<" or ">"
    frac_ns: int  # nanoseconds per unit of the record's fraction field (1000 for µs)
    snaplen: int
    linktype: int


def parse_file_header(head: bytes, where: str) -> PcapHeader:
    if len(head) < FILE_HEADER_BYTES:
        raise CaptureError(
            f"{where}: byte {len(head)}: file ends inside the pcap file header "
            f"(expected {FILE_HEADER_BYTES} bytes, found {len(head)})"
        )
    endian, frac_ns = PCAP_MAGICS[head[:4]]
    major, minor, _zone, _sigfigs, snaplen, linktype = struct.unpack_from(endian + "HHiIII", head, 4)
    if major != 2:
        raise CaptureError(f"{where}: byte 4: pcap version {major}.{minor} (expected 2.4)")
    # The upper bits of the link-type field carry FCS information (draft section 4).
    return PcapHeader(endian, frac_ns, snaplen, linktype & 0xFFFF)


try:  # the same walk compiled (auditor/capture/_walk.c), built when a compiler exists
    from ._walk import walk_pcap as _walk_pcap_c
except ImportError:  # pragma: no cover - depends on the build
    _walk_pcap_c = None


class PcapWalk:
    """The records found so far in the reader's current buffer, walked piece
    by piece while the buffer fills: each record header is read right after
    its bytes were read in, while they are still in the CPU cache (a walk of
    a whole 16 MB buffer afterwards misses the cache on every record).

    ``walk`` goes on from ``pos`` up to ``end`` and returns where it stopped;
    ``take`` hands over the records found (valid until the next ``walk``)."""

    def __init__(self, max_records: int, endian: str) -> None:
        self.max_records = max_records
        self.endian = endian
        self.offsets = np.empty(max_records, np.int64)
        self.headers = np.empty((max_records, RECORD_HEADER_BYTES), np.uint8) if _walk_pcap_c else None
        self.n = 0
        self.absurd = False  # the walk stopped at a record claiming more than MAX_RECORD_BYTES

    def walk(self, arr: np.ndarray, pos: int, end: int) -> int:
        room = self.max_records - self.n
        if self.absurd or room <= 0:
            return pos
        if _walk_pcap_c is not None and self.headers is not None:
            got, pos, absurd = _walk_pcap_c(arr, pos, end, room, self.endian == ">", MAX_RECORD_BYTES,
                                            self.offsets[self.n :], self.headers[self.n :])
        else:
            found, pos, absurd = walk_pcap_records(arr.data, pos, end, room, self.endian)
            got = len(found)
            self.offsets[self.n : self.n + got] = found
        self.n += got
        self.absurd = bool(absurd)
        return pos

    def take(self) -> tuple[np.ndarray, np.ndarray | None]:
        n, self.n = self.n, 0
        return self.offsets[:n], None if self.headers is None else self.headers[:n]


def walk_pcap_records(buf: memoryview, pos: int, end: int, max_records: int, endian: str) -> tuple[list[int], int, bool]:
    """Offsets of the complete records in ``buf[pos:end]`` (at most ``max_records``).

    Returns (record offsets, offset after the last complete record, absurd):
    ``absurd`` is true when the walk stopped at a record claiming more than
    MAX_RECORD_BYTES. This is the only per-record Python loop of the reader;
    everything else about a record is decoded with numpy afterwards, so a
    compiled replacement only has to reproduce this function.
    """
    caplen_at = struct.Struct(endian + "I").unpack_from
    offsets: list[int] = []
    add = offsets.append
    absurd = False
    for _ in range(max_records):
        if pos + 16 > end:
            break
        (caplen,) = caplen_at(buf, pos + 8)
        if caplen > MAX_RECORD_BYTES:
            absurd = True
            break
        nxt = pos + 16 + caplen
        if nxt > end:
            break
        add(pos)
        pos = nxt
    return offsets, pos, absurd


def record_fields(
    arr: np.ndarray, offsets: np.ndarray, header: PcapHeader, headers: np.ndarray | None = None
) -> tuple[np.ndarray, ...]:
    """(ts_ns, caplen, wire_len, data_off) of the records at ``offsets``,
    vectorised; ``headers`` are the records' headers when the walk copied them."""
    hdr = sliding_window_view(arr, RECORD_HEADER_BYTES)[offsets] if headers is None else headers
    f = np.ascontiguousarray(hdr).view(header.endian + "u4").astype(np.int64)
    ts_ns = f[:, 0] * 1_000_000_000 + f[:, 1] * header.frac_ns
    return ts_ns, f[:, 2], f[:, 3], offsets + RECORD_HEADER_BYTES

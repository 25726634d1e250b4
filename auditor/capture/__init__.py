"""Capture stage: capture files → packets (SPEC sections 2 and 5).

``capture_to_packets(paths)`` returns a ``CaptureStream``: iterate it for
``PacketBatch`` chunks (numpy columns, ``auditor.tables``); afterwards it
holds the per-file facts for the report's ``inputs.captures`` (``.captures``),
the packet accounting (``.counts``) and the damage warnings (``.warnings``).

Several files (or a directory) are read as one time-ordered stream, as
ring-buffer segments are meant to be: files are ordered by the time of their
first packet; inside a file packets keep file order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import CaptureError
from ..tables import BUCKET_KEYS, PacketBatch
from .reader import FileReader
from .source import is_capture_file

__all__ = ["CaptureStream", "capture_to_packets", "expand_capture_paths"]


def expand_capture_paths(args: Iterable[str | Path]) -> list[Path]:
    """Files as given, directories replaced by the capture files in them
    (detected by magic; other files in a directory are skipped)."""
    out: list[Path] = []
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            found = [p for p in sorted(path.iterdir()) if p.is_file() and is_capture_file(p)]
            if not found:
                raise CaptureError(
                    f"{arg}: no capture files in this directory (expected pcap or pcapng files, optionally compressed)"
                )
            out.extend(found)
        elif path.exists():
            out.append(path)
        else:
            raise CaptureError(f"{arg}: no such file or directory")
    return out


class CaptureStream:
    """Iterable of PacketBatch over several capture files; see the module doc."""

    def __init__(
        self, paths: list[Path], chunk_packets: int, *, threads: bool = True, sha256: bool = True
    ) -> None:
        self.paths = paths
        self.chunk_packets = chunk_packets
        self.threads = threads  # False: everything on the calling thread (--jobs 1)
        self.sha256 = sha256  # False: no file is hashed, ``captures[].sha256`` is None
        self.captures: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {"read": 0, **{k: 0 for k in BUCKET_KEYS}}
        self.warnings: list[str] = []
        self.bytes_read = 0  # of total_bytes, for a progress bar

    @property
    def total_bytes(self) -> int:
        """Size of the files as stored (what ``bytes_read`` counts up to)."""
        return sum(p.stat().st_size for p in self.paths)

    def start(self) -> None:
        """Begin reading ahead of iteration where that helps (worker
        processes: ``parallel.ParallelCaptureStream``); here nothing to do."""

    def close(self) -> None:
        """Release what ``start`` took (nothing here); safe to call twice."""

    def time_order(self) -> list[Path]:
        return order_by_first_packet(self.paths, _first_packet_ts_ns)

    def __iter__(self) -> Iterator[PacketBatch]:
        self.captures.clear()
        self.warnings.clear()
        self.counts = {"read": 0, **{k: 0 for k in BUCKET_KEYS}}
        done = self.bytes_read = 0
        for path in self.time_order():
            reader = FileReader(
                path, chunk_packets=self.chunk_packets, threads=self.threads, sha256=self.sha256
            )
            for batch in reader.batches():
                self.bytes_read = done + reader.bytes_consumed
                yield batch
            done = self.bytes_read = done + path.stat().st_size
            self.captures.append(reader.info)
            self.counts["read"] += reader.packets
            for key, n in zip(BUCKET_KEYS, reader.bucket_counts.tolist()):
                self.counts[key] += n
            self.warnings.extend(reader.warnings)


def order_by_first_packet(paths: list[Path], first_ts_ns: Callable[[Path], int | None]) -> list[Path]:
    """Several files as one stream: files without packets first (they add
    nothing to the order), then by their first packet's time, ties in the
    order given. Every reader (native and reference) orders files so."""
    if len(paths) < 2:
        return list(paths)
    firsts = [first_ts_ns(p) for p in paths]
    order = sorted(range(len(paths)), key=lambda i: (firsts[i] is not None, firsts[i] or 0, i))
    return [paths[i] for i in order]


def _first_packet_ts_ns(path: Path) -> int | None:
    """A file's first packet time, from a small read, to order the files. A
    file that cannot be read is left for the full read to report: a probe of
    a damaged compressed file can fail differently than the real read."""
    try:
        probe = FileReader(path, chunk_packets=1, block_bytes=1 << 16, threads=False, sha256=False)
        return probe.first_packet_ts_ns()
    except CaptureError:
        return None


def capture_to_packets(
    paths: Iterable[str | Path], chunk_packets: int = 1 << 18, *, threads: bool = True, sha256: bool = True
) -> CaptureStream:
    """Capture files or directories → a stream of PacketBatch (see CaptureStream)."""
    return CaptureStream(expand_capture_paths(paths), chunk_packets, threads=threads, sha256=sha256)

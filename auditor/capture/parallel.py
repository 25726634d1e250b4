"""Several capture files decoded at once: on local worker processes
(``--jobs N``) or on a Dask cluster (``--dask ADDRESS``).

``--jobs N`` is how many cores the run may keep busy. ``--jobs 1`` reads,
hashes and decodes every file on the calling thread (``CaptureStream`` with
``threads=False``); from 2 on, a file read in-process hashes on a helper
thread, and several files go to up to N worker processes (each hashing and
decoding on its one thread), started before the flow and report stages are
imported so they overlap that set-up.

A file is the unit of work: a worker reads and decodes one whole file into
``PacketBatch`` chunks (the same ``FileReader`` the single-process stream
uses) and sends them back. The batches are handed on in exactly the order
the single-process stream gives (files by their first packet's time), so the
flow stage — which needs one ordered stream, since a connection may span
ring-buffer segments — sees the very same input and the results are
identical to ``--jobs 1``. At most ``jobs + 1`` files are in flight, so memory
stays bounded by a few files' packet columns (about 60 bytes a packet).

One large file is read in-process: its records must be walked in order to
find where each starts, and that walk is what the compiled helper already
makes fast.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from ..tables import BUCKET_KEYS, PacketBatch
from . import CaptureStream
from .reader import FileReader

# A local worker process hashes inline, on its one thread: the N workers
# already keep N cores busy, and a hash thread in each only added switching
# (8 files of 228 MB with --jobs 2: 2.85 s CPU inline, 3.06 s threaded, wall
# no better).
WORKER_THREADS = False


def read_file(
    path: Path, chunk_packets: int, threads: bool = True, sha256: bool = True
) -> tuple[list[PacketBatch], dict[str, Any], int, list[int], list[str]]:
    """Decode one whole file (runs in a worker): batches, info, packets,
    bucket counts, warnings. A CaptureError travels back as itself."""
    reader = FileReader(path, chunk_packets=chunk_packets, threads=threads, sha256=sha256)
    batches = [b for b in reader.batches() if len(b) or len(b.icmp_errors)]
    return batches, reader.info, reader.packets, reader.bucket_counts.tolist(), reader.warnings


class ParallelCaptureStream(CaptureStream):
    """A ``CaptureStream`` whose files are decoded by ``submit`` (a local
    process pool's or a Dask client's) — same interface, same results."""

    def __init__(
        self,
        paths: list[Path],
        chunk_packets: int,
        jobs: int,
        submit: Callable[..., Any],
        shutdown: Callable[[], None] | None = None,
        *,
        threads: bool = True,
        sha256: bool = True,
    ) -> None:
        super().__init__(paths, chunk_packets, threads=threads, sha256=sha256)
        self.jobs = max(1, jobs)
        self._submit = submit
        self._shutdown = shutdown
        self._pending: deque[Any] | None = None  # futures of the files in flight, in stream order
        self._order: Iterator[Path] = iter(())  # the files not yet handed out
        self._closed = False

    @property
    def _args(self) -> tuple[Any, ...]:
        """``read_file``'s arguments after the path."""
        return (self.chunk_packets, self.threads, self.sha256)

    def start(self) -> None:
        """Order the files and hand the first ``jobs + 1`` to the workers now,
        so they decode while the caller finishes setting up (the flow and
        report stages import pandas: about 0.3 s). Iterating starts too."""
        if self._pending is not None:
            return
        self._pending = deque()
        self._order = iter(self.time_order())
        for path in self._order:
            self._pending.append(self._submit(read_file, path, *self._args))
            if len(self._pending) > self.jobs:
                break

    def close(self) -> None:
        """Cancel the files not yet decoded and stop the workers (also when
        the stream was started but never read, say after an error)."""
        if self._closed:
            return
        self._closed = True
        for fut in self._pending or ():
            fut.cancel()
        if self._shutdown:
            self._shutdown()

    def __iter__(self) -> Iterator[PacketBatch]:
        self.captures.clear()
        self.warnings.clear()
        counts = np.zeros(len(BUCKET_KEYS), np.int64)
        read = self.bytes_read = 0
        self.start()
        pending = self._pending
        assert pending is not None
        try:
            while pending:
                batches, info, packets, buckets, warnings = pending.popleft().result()
                nxt = next(self._order, None)
                if nxt is not None:
                    pending.append(self._submit(read_file, nxt, *self._args))
                yield from batches
                self.bytes_read += Path(info["path"]).stat().st_size
                self.captures.append(info)
                read += packets
                counts += np.asarray(buckets, np.int64)
                self.warnings.extend(warnings)
        finally:
            self.close()
        self.counts = {"read": read, **dict(zip(BUCKET_KEYS, counts.tolist()))}


def cores(jobs: int) -> int:
    """How many cores ``--jobs`` allows (0: all of them); a negative number
    is a usage error."""
    if jobs < 0:
        raise UsageError(f"--jobs {jobs}: expected 0 (all cores) or a number of cores, 1 or more")
    return jobs or os.cpu_count() or 1


def capture_to_packets_parallel(
    paths: list[Path],
    *,
    jobs: int = 0,
    dask: str | None = None,
    chunk_packets: int = 1 << 18,
    sha256: bool = True,
) -> CaptureStream:
    """The stream of ``paths`` with at most ``jobs`` cores busy (0: all cores).

    ``jobs == 1``: one core; every file is read, hashed and decoded on the
    calling thread. ``jobs >= 2``: several files are decoded by up to
    ``jobs`` local worker processes; one file is read in-process with the
    hash on a helper thread. ``dask``: the files are decoded on that Dask
    cluster. ``sha256=False``: no file is hashed (``captures[].sha256`` is
    None), for output that shows no hash."""
    if dask:
        return _on_dask(paths, dask, chunk_packets, sha256)
    jobs = cores(jobs)
    if jobs == 1:
        return CaptureStream(paths, chunk_packets, threads=False, sha256=sha256)
    if len(paths) < 2:
        return CaptureStream(paths, chunk_packets, threads=True, sha256=sha256)
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(paths)))

    def submit(fn: Callable[..., Any], *args: Any) -> Future[Any]:
        return pool.submit(fn, *args)

    return ParallelCaptureStream(
        paths,
        chunk_packets,
        jobs,
        submit,
        lambda: pool.shutdown(wait=False, cancel_futures=True),
        threads=WORKER_THREADS,
        sha256=sha256,
    )


def _on_dask(paths: list[Path], address: str, chunk_packets: int, sha256: bool) -> CaptureStream:
    try:
        from distributed import Client
    except ImportError:
        raise UsageError(
            "--dask needs dask's distributed scheduler: pip install 'zvr-audit[dask]'"
        ) from None
    try:
        client = Client(address, timeout="10s")
    except OSError as e:
        raise UsageError(f"--dask {address}: cannot reach the Dask scheduler ({e})") from None
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    # Workers open the files by the paths given (give absolute paths on a
    # shared file system); pure=False: a file may change between runs, so a
    # cached read is never reused.
    return ParallelCaptureStream(
        paths,
        chunk_packets,
        workers,
        lambda fn, *args: client.submit(fn, *args, pure=False),
        client.close,
        sha256=sha256,
    )

"""One capture file → PacketBatch chunks, streamed with bounded memory.

The file is read in large blocks into one numpy buffer. A walk over the
record (pcap) or block (pcapng) headers finds where each record starts; the
records' header fields and first bytes are then gathered and decoded with
numpy (``decode.decode_records``). A record that straddles a block border
stays in the buffer for the next read.

Damage (SPEC section 2): with no packet read yet it is a CaptureError (exit
2); after some packets it ends the file with a warning naming the byte
offset where the bad record starts. A record cut short by the end of the
file is not counted as read.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CaptureError
from ..tables import Bucket, IcmpErrors, PacketBatch, iso_utc
from .decode import DECODED_LINKTYPES, SECOND_WINDOW, decode_records
from .linktypes import linktype_name
from .pcap import FILE_HEADER_BYTES, MAX_RECORD_BYTES, PcapWalk, parse_file_header, record_fields
from .pcapng import PacketBlockRuns, PcapngState, block_fields, walk_pcapng_blocks
from .source import (
    HashingFile,
    decompressor,
    read_fully,
    sniff_compression,
    sniff_format,
)

log = logging.getLogger(__name__)

BLOCK_BYTES = 16 * 1024 * 1024
PIECE_BYTES = 256 * 1024  # read between two steps of the record walk: stays in the CPU cache
_PAD = 2 * SECOND_WINDOW  # zeros after the data, so fixed-width windows never run off the buffer


def capture_info(reader: Any) -> dict[str, Any]:
    """A file's ``inputs.captures`` entry from what its reader counted (the
    native reader and the reference readers keep the same attributes)."""
    return {
        "path": reader.name,
        "sha256": reader.sha256,
        "format": reader.format,
        "compression": reader.compression,
        "link_types": list(dict.fromkeys(linktype_name(lt) for lt in reader.link_types)),
        "packets": reader.packets,
        "bytes": reader.bytes,
        "first_ts": iso_utc(reader.first_ts_ns),
        "last_ts": iso_utc(reader.last_ts_ns),
        "first_ts_ns": reader.first_ts_ns,
        "last_ts_ns": reader.last_ts_ns,
        "skipped_blocks": reader.skipped_blocks,
    }


# Read buffers outlive their file, two at the most per process: a directory
# of hundreds of ring-buffer segments would otherwise fault in fresh memory
# (a page fault every 4 KiB) for every file. A buffer comes back here only
# once no hash reads it any more (after HashingFile.close).
_FREE_BUFFERS: list[np.ndarray] = []
_FREE_MAX = 2


class _Window:
    """The unconsumed bytes of a stream: ``arr[start:end]``, stream offset ``base + i``."""

    def __init__(self, stream: Any, block_bytes: int) -> None:
        self.stream = stream
        self.block_bytes = block_bytes
        self.arr = np.zeros(_PAD, np.uint8)
        # The buffer before this one, reused for the next read: fresh memory
        # costs a page fault every 4 KiB, about as much as the read itself.
        # Decoded batches never point into a buffer, and HashingFile waits for
        # its hash of a buffer before that buffer is read into again.
        self._spare: np.ndarray | None = None
        self.start = self.end = self.base = 0
        self.eof = False
        self.error: str | None = None  # decompression failure, if any

    def fill(self, need: int = 0, on_piece: Callable[[np.ndarray, int, int], int] | None = None) -> None:
        """Keep the unconsumed bytes and read at least a block more (more when
        one block of ``need`` bytes, already checked against its cap, is pending).

        ``on_piece(arr, start, end)``, when given, runs after every PIECE_BYTES
        read and returns the new ``start``: the record walk, done while the
        bytes are still in the CPU cache."""
        keep = self.end - self.start
        want = max(self.block_bytes, need - keep)
        size = keep + want + _PAD
        spare, self._spare = self._spare, None
        if spare is None:  # a buffer an earlier file left
            try:
                spare = _FREE_BUFFERS.pop()  # atomic: readers may run in threads
            except IndexError:
                pass
        if spare is not None and len(spare) >= size:
            new = spare
            reclaim = getattr(self.stream, "reclaim", None)
            if reclaim is not None:  # its last bytes may still be hashing
                reclaim(new)
        else:
            new = np.empty(size, np.uint8)
        new[:keep] = self.arr[self.start : self.end]
        self.base += self.start
        if len(self.arr) > _PAD:
            self._spare = self.arr
        self.arr, self.start, self.end = new, 0, keep
        step = want if on_piece is None else min(PIECE_BYTES, max(1024, self.block_bytes // 4))
        got = 0
        while got < want:
            k = min(step, want - got)
            g, self.error = read_fully(self.stream, new.data[keep + got : keep + got + k])
            got += g
            self.end = keep + got
            if on_piece is not None and g:
                self.start = on_piece(new, self.start, self.end)
            if g < k or self.error:
                break
        new[self.end : size] = 0
        if got < want or self.error:
            self.eof = True

    def release(self) -> None:
        """Hand the buffers to the next file's window (call once nothing reads them)."""
        for buf in (self.arr, self._spare):
            if buf is not None and len(buf) > _PAD:
                _FREE_BUFFERS.append(buf)
        _FREE_BUFFERS.sort(key=len)
        del _FREE_BUFFERS[: max(0, len(_FREE_BUFFERS) - _FREE_MAX)]  # keep the largest
        self.arr, self._spare = np.zeros(_PAD, np.uint8), None


class FileReader:
    """Reads one capture; after ``batches()`` is exhausted ``info``,
    ``bucket_counts`` and ``warnings`` describe the file."""

    def __init__(
        self,
        path: Path | str,
        *,
        chunk_packets: int = 1 << 18,
        block_bytes: int = BLOCK_BYTES,
        threads: bool = True,
        sha256: bool = True,
    ) -> None:
        """``threads``: hash on a helper thread while decoding (False: all on
        the calling thread, for ``--jobs 1``); ``sha256``: hash the file at
        all (False leaves ``sha256`` None: for output that shows no hash)."""
        self.path = Path(path)
        self.threads = threads
        self.hash_file = sha256
        self.name = str(path)
        self.chunk_packets = max(1, int(chunk_packets))
        self.block_bytes = max(1 << 12, int(block_bytes))
        self.bucket_counts = np.zeros(len(Bucket), np.int64)
        self.warnings: list[str] = []
        self.packets = 0
        self.bytes = 0
        self.first_ts_ns: int | None = None
        self.last_ts_ns: int | None = None
        self.link_types: list[int] = []
        self.skipped_blocks = 0
        self.compression: str | None = None
        self.format: str | None = None
        self.sha256: str | None = None
        self._prev_ts = 0  # Simple Packet Blocks have no time: they take the previous packet's (or 0)
        self._unsupported: dict[int, int] = {}
        self._file_bytes: int | None = None

    # ---- public -----------------------------------------------------------------
    @property
    def info(self) -> dict[str, Any]:
        """The file's ``inputs.captures`` entry (SPEC section 7) plus
        ``first_ts_ns``/``last_ts_ns`` and ``skipped_blocks`` (pcapng blocks
        that carry no packet). First and last time are the smallest and
        largest packet time, as capinfos reports them (a merged capture is
        not in time order); packets without a time (Simple Packet Blocks)
        are left out. ``link_types`` lists every interface's link type."""
        return capture_info(self)

    @property
    def bytes_consumed(self) -> int:
        """How far into the file (as stored, compressed or not) the reader
        is: drives the progress bar."""
        raw = getattr(self, "_raw", None)
        if raw is None:
            return 0
        try:
            return raw.tell()
        except (OSError, ValueError):  # closed: the whole file was read
            return self.path.stat().st_size

    def first_packet_ts_ns(self) -> int | None:
        """Time of the file's first packet, from a small read (orders files)."""
        gen = self.batches()
        try:
            for batch in gen:
                if len(batch):
                    return int(batch.ts_ns[0])
        finally:
            gen.close()
        return None

    def batches(self) -> Generator[PacketBatch, None, None]:
        try:
            raw = open(self.path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as e:
            raise CaptureError(f"{self.name}: cannot read the file ({e.strerror or e})") from None
        self._raw = raw
        with raw:
            try:
                head = raw.read(8)
                raw.seek(0)
            except OSError as e:
                raise CaptureError(f"{self.name}: cannot read the file ({e.strerror or e})") from None
            if not head:
                raise CaptureError(
                    f"{self.name}: byte 0: empty file (expected a pcap or pcapng header; tshark reads a 0-byte "
                    "file as an empty ERF capture, zvr-audit refuses it)"
                )
            self.compression = sniff_compression(head)
            # what is left in the file bounds what a block may make us read (uncompressed only)
            self._file_bytes = None if self.compression else os.fstat(raw.fileno()).st_size
            hashing = HashingFile(raw, threads=self.threads, sha256=self.hash_file)
            win: _Window | None = None
            try:
                win = _Window(decompressor(hashing, self.compression, self.name), self.block_bytes)
                win.fill()
                if win.error and win.end < 4:
                    raise CaptureError(f"{self.name}: byte 0: {self.compression} data that cannot be decompressed ({win.error})")
                if win.end < 4:  # a compressed stream cut before its first block decompresses to nothing
                    raise CaptureError(
                        f"{self.name}: byte 0: {self.compression} data that holds only {win.end} byte(s) "
                        "(expected a pcap or pcapng header; cut short?)"
                    )
                self.format = sniff_format(bytes(win.arr[:4]), self.name, self.compression)
                if self.format == "pcap":
                    yield from self._pcap(win)
                else:
                    yield from self._pcapng(win)
                if win.error:
                    self._warn_at(win.base + win.end, f"the {self.compression} data is damaged or cut short ({win.error})")
                for lt, n in sorted(self._unsupported.items()):  # by link type: chunking never reorders
                    self.warnings.append(
                        f"{self.name}: link type {lt} ({linktype_name(lt)}) is not decoded; its {n} packets are "
                        "counted as unsupported_link"
                    )
                self.sha256 = hashing.drain()
            finally:
                hashing.close()
                if win is not None:  # no hash reads its buffers any more
                    win.release()

    # ---- formats -------------------------------------------------------------------
    def _pcap(self, win: _Window) -> Iterator[PacketBatch]:
        header = parse_file_header(bytes(win.arr[: min(win.end, FILE_HEADER_BYTES)]), self.name)
        self.link_types = [header.linktype]
        win.start = FILE_HEADER_BYTES
        walk = PcapWalk(self.chunk_packets, header.endian)
        while True:
            win.start = walk.walk(win.arr, win.start, win.end)  # what the pieces left: the end of a buffer
            offs, headers = walk.take()
            if len(offs):
                ts_ns, caplen, wire_len, data_off = record_fields(win.arr, offs, header, headers)
                link = np.full(len(offs), header.linktype, np.int64)
                yield self._emit(win.arr, ts_ns, None, caplen, wire_len, data_off, link)
            if walk.absurd:
                claimed = int(np.frombuffer(win.arr[win.start + 8 : win.start + 12].tobytes(), header.endian + "u4")[0])
                self._damage(win, win.start, f"record claims {claimed} captured bytes (expected at most {MAX_RECORD_BYTES})")
                return
            if len(offs) == self.chunk_packets:
                continue
            if win.eof:
                left = win.end - win.start
                if left and not win.error:
                    part = "record header" if left < 16 else "record"
                    self._warn_at(win.base + win.start, f"file ends in the middle of a {part}")
                return
            win.fill(16 + MAX_RECORD_BYTES, on_piece=walk.walk)

    def _pcapng(self, win: _Window) -> Iterator[PacketBatch]:
        st = PcapngState()
        # Walks stop at every section and interface block, so their records
        # are gathered here and decoded together: one decode per buffer (or
        # per chunk), however many sections the file has.
        pending: list[tuple[np.ndarray, ...]] = []
        pending_n = 0
        runs = PacketBlockRuns(self.chunk_packets)  # walks nothing without the compiled helper

        def walk_piece(arr: np.ndarray, start: int, end: int) -> int:
            return runs.walk(arr, start, end, self.chunk_packets - pending_n - runs.n, st)

        try:
            while True:
                if runs.n:  # walked while the buffer filled
                    blocks, kinds, headers = runs.take()
                    fields, good, bad = block_fields(win.arr, blocks, kinds, st, headers)
                    if good:
                        pending.append(fields)
                        pending_n += good
                    if bad:  # the full walk finds it again and reports it
                        win.start = int(blocks[good])
                blocks, kinds, nxt, problem, need = walk_pcapng_blocks(
                    win.arr.data, win.start, win.end, self.chunk_packets - pending_n, st
                )
                win.start = nxt
                if len(blocks):
                    fields, good, bad = block_fields(win.arr, blocks, kinds, st)
                    if good:
                        pending.append(fields)
                        pending_n += good
                    if bad:
                        problem = (int(blocks[good]), bad)
                # decode before the buffer changes, at damage, and at the chunk size
                if pending and (problem or need or pending_n >= self.chunk_packets):
                    cols = [np.concatenate(c) for c in zip(*pending)] if len(pending) > 1 else pending[0]
                    ts_ns, has_ts, caplen, wire_len, data_off, link = cols
                    pending, pending_n = [], 0
                    yield self._emit(win.arr, ts_ns, has_ts, caplen, wire_len, data_off, link)
                if problem:
                    self._damage(win, problem[0], problem[1])
                    return
                if not need:
                    continue
                past_end = self._file_bytes is not None and win.base + win.start + need > self._file_bytes
                if win.eof or past_end:
                    if win.end > win.start and not win.error:
                        if not st.sections:  # the file header itself is cut: nothing to audit
                            self._damage(win, win.start, "file ends inside its section header block")
                        self._warn_at(win.base + win.start, "file ends in the middle of a block")
                    return
                win.fill(need, on_piece=walk_piece)
        finally:
            self.skipped_blocks = st.skipped_blocks
            self.link_types = [i.linktype for i in st.interfaces]

    # ---- accounting ------------------------------------------------------------------
    def _where(self, offset: int) -> str:
        if self.compression:
            return f"{self.name}: byte {offset} of the decompressed data"
        return f"{self.name}: byte {offset}"

    def _warn_at(self, offset: int, what: str) -> None:
        self.warnings.append(f"{self._where(offset)}: {what}; audited the {self.packets} packets before it")

    def _damage(self, win: _Window, pos: int, what: str) -> None:
        if self.packets == 0:
            raise CaptureError(f"{self._where(win.base + pos)}: {what}")
        self._warn_at(win.base + pos, what)

    def _emit(
        self,
        arr: np.ndarray,
        ts_ns: np.ndarray,
        has_ts: np.ndarray | None,
        caplen: np.ndarray,
        wire_len: np.ndarray,
        data_off: np.ndarray,
        link: np.ndarray,
    ) -> PacketBatch:
        n = len(ts_ns)
        if has_ts is not None and not has_ts.all():
            # A Simple Packet Block has no timestamp: it takes the previous
            # packet's time (0 before any), so time order and flows stay sane;
            # it is left out of first/last time (tshark shows no time for it).
            idx = np.where(has_ts, np.arange(n), -1)
            np.maximum.accumulate(idx, out=idx)
            ts_ns = np.where(has_ts, ts_ns, np.where(idx >= 0, ts_ns[np.maximum(idx, 0)], self._prev_ts))
        dated = ts_ns if has_ts is None else ts_ns[has_ts]
        if len(dated):
            lo, hi = int(dated.min()), int(dated.max())
            self.first_ts_ns = lo if self.first_ts_ns is None else min(self.first_ts_ns, lo)
            self.last_ts_ns = hi if self.last_ts_ns is None else max(self.last_ts_ns, hi)
        if n:
            self._prev_ts = int(ts_ns[-1])
        d = decode_records(arr, data_off, caplen, link)
        self.packets += n
        self.bytes += int(wire_len.sum())
        self.bucket_counts += np.bincount(d.bucket, minlength=len(Bucket))[: len(Bucket)]
        unsupported = d.bucket == Bucket.UNSUPPORTED_LINK
        if unsupported.any():
            lts, cnt = np.unique(link[unsupported], return_counts=True)
            for lt, c in zip(lts.tolist(), cnt.tolist()):
                self._unsupported[lt] = self._unsupported.get(lt, 0) + c
        rows = d.icmp["row"]
        icmp = IcmpErrors(ts_ns=ts_ns[rows].astype(np.int64), **{k: v for k, v in d.icmp.items() if k != "row"})
        return PacketBatch(
            ts_ns=ts_ns.astype(np.int64, copy=False), wire_len=wire_len.astype(np.uint32), **d.columns, icmp_errors=icmp
        )


__all__ = ["DECODED_LINKTYPES", "FileReader"]

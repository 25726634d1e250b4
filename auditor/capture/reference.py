"""Reference capture backends: ``--engine scapy`` and ``--engine tshark``.

``capture_to_packets_reference(paths, engine)`` returns a stream with the
native ``CaptureStream``'s interface (iterate it for ``PacketBatch`` chunks;
afterwards ``.captures``, ``.counts``, ``.warnings``), filled by an
independent dissector one packet at a time:

- ``scapy`` (``reference_scapy``): scapy's own readers and layer classes,
  for any link type scapy knows. Slow (a Python object per packet) but exact.
- ``tshark`` (``reference_tshark``): Wireshark's dissectors through pyshark,
  for link types the native reader lacks.

Both apply the native reader's accounting rules (SPEC section 5,
``auditor.tables.Bucket``) to what their dissector found: the innermost IP
header wins (an IP header quoted inside an ICMP error is not a layer); a
first fragment carries its ports, a later one is bucket ``fragment``; an ICMP
or ICMPv6 destination-unreachable that quotes a TCP/UDP header adds an
``icmp_errors`` row; a header cut short before the ports is bucket
``malformed`` and the row keeps the innermost IP header that could be read
(the outer one when a tunnel's inner header is cut), while a tunnel cut
before its inner IP header leaves the outer packet standing. These engines
exist to check the native reader (the differential test in ``tests/engines``
lists every known difference with its reason) and to read what it cannot;
they are not meant for large captures.

What only the native reader reports: ``skipped_blocks`` stays 0, and the
tshark engine's ``link_types`` name the link types of the frames it read
(not every interface a pcapng file describes).

Per-packet Python objects are the point here (each packet goes through a
full dissector); rows are gathered in lists and handed on as numpy batches
of ``batch_packets`` rows, so downstream stages see the usual columns.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import CaptureError, UsageError
from ..tables import (
    BUCKET_KEYS,
    ICMP_ERROR_COLUMNS,
    PACKET_COLUMNS,
    Bucket,
    IcmpErrors,
    PacketBatch,
)
from .linktypes import linktype_name
from .reader import capture_info

__all__ = ["ENGINES", "ReferenceStream", "capture_to_packets_reference"]

ENGINES = ("scapy", "tshark")
Engine = Literal["scapy", "tshark"]

_COMPRESSION_MAGICS = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
_PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"

V4_PREFIX = 0x0000FFFF00000000


# UDP ports whose payload the native reader decodes as a tunnel: VXLAN,
# Geneve, GRE-in-UDP, Teredo, GTP-U, AYIYA
UDP_TUNNEL_PORTS = (4789, 6081, 4754, 3544, 2152, 5072)


def tunnel_port(sport: int, dport: int) -> int:
    """The port whose protocol a UDP payload is, as tshark picks it (and the
    native reader follows): the lower port first, the higher one when the
    lower is not well known; 0 for no tunnel."""
    low, high = min(sport, dport), max(sport, dport)
    if low in UDP_TUNNEL_PORTS:
        return low
    if high in UDP_TUNNEL_PORTS and low >= 1024:
        return high
    return 0


def wrap_ns(ns: int) -> int:
    """A nanosecond time as int64, wrapping like the native reader: a damaged
    timestamp may claim any value, and never raises."""
    return ((ns + 2**63) % 2**64) - 2**63


def ip_text_to_addr(text: str) -> tuple[int, int]:
    """Dotted quad or IPv6 text → (hi, lo), IPv4 written IPv4-mapped."""
    import ipaddress

    ip = ipaddress.ip_address(text)
    if ip.version == 4:
        return 0, V4_PREFIX | int(ip)
    v = int(ip)
    return v >> 64, v & 0xFFFFFFFFFFFFFFFF


class Rows:
    """Per-packet results gathered in lists, handed on as PacketBatch."""

    _NAMES = tuple(c.name for c in PACKET_COLUMNS)
    _ICMP_NAMES = tuple(c.name for c in ICMP_ERROR_COLUMNS)

    def __init__(self) -> None:
        self.cols: dict[str, list[int]] = {n: [] for n in self._NAMES}
        self.icmp: dict[str, list[int]] = {n: [] for n in self._ICMP_NAMES}
        self.bucket_counts = [0] * len(Bucket)

    def __len__(self) -> int:
        return len(self.cols["ts_ns"])

    def add_row(self, ts_ns: int, wire_len: int, r: PacketRow) -> None:
        """One packet as a reference reader dissected it, with its ICMP error."""
        c = self.cols
        for name, v in (
            ("ts_ns", ts_ns),
            ("wire_len", wire_len),
            ("bucket", r.bucket),
            ("ip_version", r.ip_version),
            ("src_hi", r.src[0]),
            ("src_lo", r.src[1]),
            ("dst_hi", r.dst[0]),
            ("dst_lo", r.dst[1]),
            ("proto", r.proto),
            ("sport", r.sport),
            ("dport", r.dport),
            ("tcp_flags", r.tcp_flags),
            ("ip_id", r.ip_id),
            ("frag", r.frag),
        ):
            c[name].append(v)
        self.bucket_counts[r.bucket] += 1
        if r.icmp is not None:
            t, code, qs, qd, qp, sp, dp = r.icmp
            self.add_icmp_error(ts_ns, t, code, r.src, qs, qd, qp, sp, dp)

    def add_icmp_error(
        self,
        ts_ns: int,
        icmp_type: int,
        icmp_code: int,
        reporter: tuple[int, int],
        src: tuple[int, int],
        dst: tuple[int, int],
        proto: int,
        sport: int,
        dport: int,
    ) -> None:
        i = self.icmp
        for name, v in (
            ("ts_ns", ts_ns),
            ("icmp_type", icmp_type),
            ("icmp_code", icmp_code),
            ("reporter_hi", reporter[0]),
            ("reporter_lo", reporter[1]),
            ("src_hi", src[0]),
            ("src_lo", src[1]),
            ("dst_hi", dst[0]),
            ("dst_lo", dst[1]),
            ("proto", proto),
            ("sport", sport),
            ("dport", dport),
        ):
            i[name].append(v)

    def take(self) -> PacketBatch:
        """The gathered rows as one batch; the lists start empty again."""
        icmp = IcmpErrors(
            **{c.name: np.asarray(self.icmp[c.name], dtype=c.dtype) for c in ICMP_ERROR_COLUMNS}
        )
        batch = PacketBatch.from_columns(
            {
                n: np.asarray(v, dtype=np.uint64 if n.endswith(("_hi", "_lo")) else None)
                for n, v in self.cols.items()
            },
            icmp,
        )
        for v in self.cols.values():
            v.clear()
        for v in self.icmp.values():
            v.clear()
        return batch


class FileFacts:
    """What one engine learns about one file: the ``inputs.captures`` entry,
    bucket counts and warnings (the native FileReader's ``info`` and friends)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)
        self.sha256: str | None = None
        self.compression: str | None = None
        self.format: str | None = None
        self.link_types: list[int] = []
        self.packets = 0
        self.bytes = 0
        self.first_ts_ns: int | None = None
        self.last_ts_ns: int | None = None
        self.skipped_blocks = 0
        self.warnings: list[str] = []
        self.unsupported: dict[int, int] = {}  # LINKTYPE -> packets the engine cannot decode
        self.rows = Rows()

    def note_time(self, ts_ns: int | None) -> None:
        if ts_ns is None:
            return
        self.first_ts_ns = ts_ns if self.first_ts_ns is None else min(self.first_ts_ns, ts_ns)
        self.last_ts_ns = ts_ns if self.last_ts_ns is None else max(self.last_ts_ns, ts_ns)

    def note_linktype(self, lt: int) -> None:
        if lt not in self.link_types:
            self.link_types.append(lt)

    def note_unsupported(self, lt: int) -> None:
        self.unsupported[lt] = self.unsupported.get(lt, 0) + 1

    def finish(self) -> None:
        """The end-of-file warnings (the native reader's wording)."""
        for lt, n in self.unsupported.items():
            name = linktype_name(lt) if lt >= 0 else "unknown to tshark's wiretap map"
            self.warnings.append(
                f"{self.name}: link type {lt} ({name}) is not decoded; its {n} packets are "
                "counted as unsupported_link"
            )

    def warn_at(self, offset: int | None, what: str) -> None:
        where = f"{self.name}: byte {offset}" if offset is not None else self.name
        if offset is not None and self.compression:
            where += " of the decompressed data"
        self.warnings.append(f"{where}: {what}; audited the {self.packets} packets before it")

    def damage(self, offset: int | None, what: str) -> None:
        """Damage with nothing read is an unreadable file; after packets, a warning."""
        if self.packets == 0:
            where = f"{self.name}: byte {offset}" if offset is not None else self.name
            raise CaptureError(f"{where}: {what}")
        self.warn_at(offset, what)

    @property
    def info(self) -> dict[str, Any]:
        return capture_info(self)


def sniff(path: Path, facts: FileFacts) -> None:
    """Fill sha256, compression and format (by magic, never by name)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            h.update(head)
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as e:
        raise CaptureError(f"{path}: cannot read the file ({e.strerror or e})") from None
    if not head:
        raise CaptureError(f"{path}: byte 0: empty file (expected a pcap or pcapng header)")
    facts.sha256 = h.hexdigest()
    facts.compression = next(
        (name for magic, name in _COMPRESSION_MAGICS if head.startswith(magic)), None
    )
    try:
        with open_decompressed(path, facts.compression) as f:
            magic = f.read(4)
    except (OSError, EOFError, lzma.LZMAError, ValueError) as e:
        raise CaptureError(
            f"{path}: byte 0: {facts.compression} data that cannot be decompressed ({e})"
        ) from None
    if magic in _PCAP_MAGICS:
        facts.format = "pcap"
    elif magic == _PCAPNG_MAGIC:
        facts.format = "pcapng"
    else:
        where = "byte 0 of the decompressed data" if facts.compression else "byte 0"
        raise CaptureError(
            f"{path}: {where}: not a pcap or pcapng file (magic {magic.hex() or 'missing'})"
        )


def open_decompressed(path: Path, compression: str | None) -> Any:
    if compression == "gzip":
        return gzip.open(path, "rb")
    if compression == "bzip2":
        return bz2.open(path, "rb")
    if compression == "xz":
        return lzma.open(path, "rb")
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
    return open(path, "rb")


@contextmanager
def plain_copy(path: Path, compression: str | None) -> Iterator[Path]:
    """The capture uncompressed on disk (for tools that take a file name)."""
    if compression is None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="zvr-ref-") as tmp:
        out = Path(tmp) / path.name
        with open_decompressed(path, compression) as src, open(out, "wb") as dst:
            try:
                shutil.copyfileobj(src, dst, 1 << 20)
            except (OSError, EOFError, lzma.LZMAError, ValueError):
                pass  # what decompressed is read; the reader warns about the cut
        yield out


class ReferenceStream:
    """Iterable of PacketBatch over several files, read by a reference engine
    (see the module doc); the same attributes as ``CaptureStream``."""

    def __init__(self, paths: list[Path], engine: Engine, batch_packets: int = 10_000) -> None:
        if engine not in ENGINES:
            raise UsageError(
                f"--engine {engine}: unknown engine (expected native, {', '.join(ENGINES)})"
            )
        self.paths = paths
        self.engine = engine
        self.batch_packets = max(1, int(batch_packets))
        self.captures: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {"read": 0, **{k: 0 for k in BUCKET_KEYS}}
        self.warnings: list[str] = []
        self._module = _engine_module(engine)

    def _time_order(self) -> list[Path]:
        """Several files are one stream ordered by their first packet's time, as
        the native reader orders them (files without packets first). The first
        time comes from scapy's reader for either engine: one record, cheap."""
        from . import order_by_first_packet
        from .reference_scapy import first_packet_ts_ns

        return order_by_first_packet(self.paths, first_packet_ts_ns)

    def __iter__(self) -> Iterator[PacketBatch]:
        self.captures.clear()
        self.warnings.clear()
        self.counts = {"read": 0, **{k: 0 for k in BUCKET_KEYS}}
        read_file = self._module.read_file
        for path in self._time_order():
            facts = FileFacts(path)
            sniff(path, facts)
            yield from read_file(path, facts, self.batch_packets)
            facts.finish()
            self.captures.append(facts.info)
            self.counts["read"] += facts.packets
            for key, n in zip(BUCKET_KEYS, facts.rows.bucket_counts):
                self.counts[key] += n
            self.warnings.extend(facts.warnings)


def _engine_module(engine: str) -> Any:
    if engine == "scapy":
        from . import reference_scapy

        return reference_scapy
    from . import reference_tshark

    reference_tshark.check_available()
    return reference_tshark


def capture_to_packets_reference(
    paths: Iterable[str | Path], engine: Engine, batch_packets: int = 10_000
) -> ReferenceStream:
    """Capture files or directories → a stream of PacketBatch read by ``engine``."""
    from . import expand_capture_paths

    return ReferenceStream(expand_capture_paths(paths), engine, batch_packets)


class PacketRow:
    """One packet's row (the PacketBatch columns) as a reference reader
    finds it."""

    __slots__ = (
        "bucket",
        "dport",
        "dst",
        "frag",
        "icmp",
        "ip_id",
        "ip_version",
        "proto",
        "sport",
        "src",
        "tcp_flags",
    )

    def __init__(self, bucket: int) -> None:
        self.bucket = bucket
        self.ip_version = 0
        self.src = self.dst = (0, 0)
        self.proto = self.sport = self.dport = self.tcp_flags = self.ip_id = self.frag = 0
        self.icmp: tuple | None = None

    def malformed(self) -> PacketRow:
        """This row as bucket malformed: a header inside it was cut short; the
        row keeps the innermost readable IP header's columns (the native reader's)."""
        self.bucket = Bucket.MALFORMED
        self.icmp = None
        return self

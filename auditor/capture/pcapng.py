"""pcapng files: section and interface bookkeeping and the block walk.

Format: https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html
Byte order is per section (the Section Header Block's byte-order magic);
interface ids restart in every section; each interface has its own link
type, timestamp resolution (``if_tsresol``) and offset (``if_tsoffset``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .pcap import MAX_RECORD_BYTES

SHB, IDB, PB, SPB, EPB = 0x0A0D0D0A, 1, 2, 3, 6
PACKET_BLOCKS = (PB, SPB, EPB)
BOM_LE, BOM_BE = b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"
# A packet block holds at most one record plus its header and options; any
# other block (name resolution, custom...) is capped like Wireshark's reader.
MAX_PACKET_BLOCK = MAX_RECORD_BYTES + 64 * 1024
MAX_OTHER_BLOCK = 16 * 1024 * 1024
OPT_TSRESOL, OPT_TSOFFSET = 9, 14


@dataclass
class Interface:
    linktype: int
    snaplen: int
    ts_base: int = 10  # if_tsresol: 10**-exp or 2**-exp seconds per tick
    ts_exp: int = 6
    ts_offset_s: int = 0  # if_tsoffset: seconds added to every timestamp


@dataclass
class PcapngState:
    """What the walk has learned so far in one file."""

    endian: str = "<"
    interfaces: list[Interface] = field(default_factory=list)  # every IDB of the file
    section_ifaces: list[int] = field(default_factory=list)  # current section's ids → index above
    # The current section's interfaces as arrays, one spare zero slot past the
    # last (a missing interface), grown by doubling: thousands of interface
    # blocks cost linear time.
    sec_global: np.ndarray = field(default_factory=lambda: np.zeros(8, np.int64))
    sec_snaplen: np.ndarray = field(default_factory=lambda: np.zeros(8, np.int64))
    sec_linktype: np.ndarray = field(default_factory=lambda: np.zeros(8, np.int64))

    def new_section(self) -> None:
        self.sections += 1
        used = len(self.section_ifaces) + 1
        self.sec_global[:used] = self.sec_snaplen[:used] = self.sec_linktype[:used] = 0
        self.section_ifaces = []

    def add_interface(self, iface: Interface) -> None:
        n = len(self.section_ifaces)
        if n + 1 >= len(self.sec_global):
            grow = len(self.sec_global)
            for name in ("sec_global", "sec_snaplen", "sec_linktype"):
                setattr(self, name, np.concatenate([getattr(self, name), np.zeros(grow, np.int64)]))
        self.sec_global[n] = len(self.interfaces)
        self.sec_snaplen[n] = iface.snaplen or MAX_RECORD_BYTES
        self.sec_linktype[n] = iface.linktype
        self.section_ifaces.append(len(self.interfaces))
        self.interfaces.append(iface)
    sections: int = 0
    skipped_blocks: int = 0  # blocks that carry no packet (ISB, NRB, DSB, custom, unknown)


def _parse_idb(buf: memoryview, pos: int, blen: int, st: PcapngState) -> str | None:
    if blen < 20:
        return f"interface description block of {blen} bytes (expected at least 20)"
    linktype, _res, snaplen = struct.unpack_from(st.endian + "HHI", buf, pos + 8)
    iface = Interface(linktype, snaplen)
    opt, stop = pos + 16, pos + blen - 4
    while opt + 4 <= stop:
        code, olen = struct.unpack_from(st.endian + "HH", buf, opt)
        if code == 0:
            break
        val = opt + 4
        if val + olen > stop:
            return f"interface option {code} of {olen} bytes runs past its block (expected it inside)"
        if code == OPT_TSRESOL and olen >= 1:
            r = buf[val]
            iface.ts_base, iface.ts_exp = (2, r & 0x7F) if r & 0x80 else (10, r)
        elif code == OPT_TSOFFSET and olen >= 8:
            (iface.ts_offset_s,) = struct.unpack_from(st.endian + "q", buf, val)
        opt = val + ((olen + 3) & ~3)
    st.add_interface(iface)
    return None


try:  # the packet-block part of the walk compiled (auditor/capture/_walk.c), when built
    from ._walk import walk_pcapng as _walk_pcapng_c
except ImportError:  # pragma: no cover - depends on the build
    _walk_pcapng_c = None


class PacketBlockRuns:
    """Runs of whole packet blocks walked as each piece of the reader's
    buffer is read (compiled walk; the bytes are still in cache), with each
    block's first 28 bytes copied on the way. A run of packet blocks changes
    no state, so the fields can be computed later, before the buffer changes;
    anything else (section or interface blocks, damage) stops the run and is
    left to ``walk_pcapng_blocks``, which starts where the run stopped."""

    def __init__(self, max_records: int) -> None:
        self.pos = np.empty(max_records, np.int64)
        self.kind = np.empty(max_records, np.int64)
        self.headers = np.empty((max_records, 28), np.uint8)
        self.n = 0

    def walk(self, arr: np.ndarray, pos: int, end: int, room: int, st: PcapngState) -> int:
        room = min(room, len(self.pos) - self.n)
        if room <= 0 or not st.sections or _walk_pcapng_c is None:
            return pos
        n = self.n
        got, pos = _walk_pcapng_c(arr, pos, end, room, st.endian == ">", MAX_PACKET_BLOCK,
                                  self.pos[n:], self.kind[n:], self.headers[n:])
        self.n += got
        return pos

    def take(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n, self.n = self.n, 0
        return self.pos[:n], self.kind[:n], self.headers[:n]



def walk_pcapng_blocks(
    buf: memoryview, pos: int, end: int, max_records: int, st: PcapngState
) -> tuple[np.ndarray, np.ndarray, int, tuple[int, str] | None, int]:
    """Walk the blocks in ``buf[pos:end]``, collecting packet blocks.

    Returns (packet block offsets, their block types, offset of the first
    block not consumed, damage as (offset, what was found) or None, bytes the
    unconsumed block needs when it is incomplete). Section and interface
    blocks update ``st`` on the way; the walk returns at a new section or
    interface when it already holds packets, so one result has one byte
    order and its packet blocks are checked against the interfaces that
    preceded them, whatever the chunk size. This is the
    only per-block Python loop; fields are decoded with numpy afterwards.
    """
    head = struct.Struct(st.endian + "II").unpack_from
    tail = struct.Struct(st.endian + "I").unpack_from
    compiled = _walk_pcapng_c is not None
    room = min(max_records, (end - pos) // 12 + 1)  # no more blocks than that fit
    out_pos = np.empty(room if compiled else 0, np.int64)
    out_kind = np.empty(room if compiled else 0, np.int64)
    blocks: list[int] = []
    kinds: list[int] = []
    n = 0

    def add(at: int, kind: int) -> None:
        if compiled:
            out_pos[n], out_kind[n] = at, kind
        else:
            blocks.append(at)
            kinds.append(kind)

    def done() -> tuple[np.ndarray, np.ndarray]:
        if compiled:
            return out_pos[:n], out_kind[:n]
        return np.asarray(blocks, np.int64), np.asarray(kinds, np.int64)

    while n < max_records:
        if compiled:  # a run of packet blocks, compiled; everything else below
            got, pos = _walk_pcapng_c(buf, pos, end, room - n, st.endian == ">", MAX_PACKET_BLOCK,
                                      out_pos[n:], out_kind[n:])
            n += got
            if n >= room:
                break
        if pos + 12 > end:
            return *done(), pos, None, 12
        btype, blen = head(buf, pos)
        nxt = pos + blen
        # fast path: a whole, well-formed Enhanced Packet Block
        if (btype == EPB and not blen & 3 and 32 <= blen <= MAX_PACKET_BLOCK and nxt <= end
                and tail(buf, nxt - 4)[0] == blen):
            add(pos, EPB)
            n += 1
            pos = nxt
            continue
        if btype == SHB:
            if n:
                break
            bom = bytes(buf[pos + 8 : pos + 12])
            if bom not in (BOM_LE, BOM_BE):
                return *done(), pos, (pos, f"section header byte-order magic 0x{bom.hex()} (expected 1a2b3c4d)"), 0
            st.endian = "<" if bom == BOM_LE else ">"
            head = struct.Struct(st.endian + "II").unpack_from
            tail = struct.Struct(st.endian + "I").unpack_from
            btype, blen = head(buf, pos)
            if blen % 4 or blen < 28 or blen > MAX_OTHER_BLOCK:
                return *done(), pos, (pos, f"section header block length {blen} (expected a multiple of 4, 28 to {MAX_OTHER_BLOCK})"), 0
            if pos + blen > end:
                return *done(), pos, None, blen
            major, minor = struct.unpack_from(st.endian + "HH", buf, pos + 12)
            if major != 1:
                return *done(), pos, (pos, f"pcapng version {major}.{minor} (expected 1.0)"), 0
        elif blen % 4 or blen < 12:
            return *done(), pos, (pos, f"block length {blen} (expected a multiple of 4, at least 12)"), 0
        elif blen > (MAX_PACKET_BLOCK if btype in PACKET_BLOCKS else MAX_OTHER_BLOCK):
            return *done(), pos, (pos, f"block of type 0x{btype:x} claims {blen} bytes (expected at most {MAX_PACKET_BLOCK if btype in PACKET_BLOCKS else MAX_OTHER_BLOCK})"), 0
        elif pos + blen > end:
            return *done(), pos, None, blen
        (trailer,) = tail(buf, pos + blen - 4)
        if trailer != blen:
            return *done(), pos, (pos, f"block length {blen} at its start but {trailer} at its end (expected the same)"), 0
        if btype in PACKET_BLOCKS:
            add(pos, btype)
            n += 1
        elif btype == SHB:
            st.new_section()
        elif btype == IDB:
            if n:  # packet blocks so far were checked against the interfaces before this one
                break
            problem = _parse_idb(buf, pos, blen, st)
            if problem:
                return *done(), pos, (pos, problem), 0
        else:
            st.skipped_blocks += 1
        pos += blen
    return *done(), pos, None, 0


def _ticks_to_ns(ticks: np.ndarray, iface: Interface) -> np.ndarray:
    # Damaged options may claim any resolution or offset: results wrap, never raise.
    offset_ns = np.int64(((iface.ts_offset_s * 1_000_000_000 + 2**63) % 2**64) - 2**63)
    if iface.ts_base == 10:
        if iface.ts_exp <= 9:
            ns = ticks * np.uint64(10 ** (9 - iface.ts_exp))
        elif iface.ts_exp <= 28:
            ns = ticks // np.uint64(10 ** (iface.ts_exp - 9))
        else:
            ns = np.zeros_like(ticks)
    else:
        e = min(iface.ts_exp, 63)
        whole = ticks >> np.uint64(e)
        frac = ticks & np.uint64((1 << e) - 1)
        if e > 33:  # keep frac * 1e9 inside 64 bits
            frac >>= np.uint64(e - 33)
            e = 33
        ns = whole * np.uint64(1_000_000_000) + ((frac * np.uint64(1_000_000_000)) >> np.uint64(e))
    return ns.astype(np.int64) + offset_ns


def block_fields(
    arr: np.ndarray, blocks: np.ndarray, kinds: np.ndarray, st: PcapngState, headers: np.ndarray | None = None
) -> tuple[tuple[np.ndarray, ...], int, str | None]:
    """Vectorised fields of packet blocks: ((ts_ns, has_ts, caplen, wire_len,
    data_off, linktype), number of good blocks, damage at the first bad one).
    ``headers``: the blocks' first 28 bytes when the walk copied them."""
    hdr = np.ascontiguousarray(sliding_window_view(arr, 28)[blocks] if headers is None else headers)
    f = hdr.view(st.endian + "u4").astype(np.int64)
    blen = f[:, 1]
    epb = kinds != SPB
    local = np.where(kinds == PB, hdr[:, 8:10].copy().view(st.endian + "u2")[:, 0], f[:, 2])
    local = np.where(epb, local, 0)  # a Simple Packet Block belongs to the section's first interface
    caplen = np.where(epb, f[:, 5], np.maximum(blen - 16, 0))
    wire_len = np.where(epb, f[:, 6], f[:, 2])
    data_off = blocks + np.where(epb, 28, 12)
    # per-interface facts of this section only (a file may hold thousands of sections)
    n_if = len(st.section_ifaces)
    local_if = np.minimum(local, n_if)  # n_if: a missing interface, refused below
    global_if = st.sec_global[local_if]
    snap = st.sec_snaplen[local_if]
    # SPB: the captured part is the original length cut by the snaplen (and the block)
    caplen = np.where(epb, caplen, np.minimum(np.minimum(wire_len, snap), caplen))
    bad = (local >= n_if) | (epb & ((blen < 32) | (caplen > blen - 32))) | (caplen > MAX_RECORD_BYTES)
    good = len(blocks)
    problem = None
    if bad.any():
        good = int(np.argmax(bad))
        if local[good] >= n_if:
            problem = f"packet block for interface {local[good]} (expected one of the {n_if} interfaces of its section)"
        else:
            problem = f"packet block of {blen[good]} bytes claims {caplen[good]} captured bytes (expected it to fit its block)"
    sl = slice(0, good)
    global_if, f = global_if[sl], f[sl]
    ticks = (f[:, 3].astype(np.uint64) << np.uint64(32)) | f[:, 4].astype(np.uint64)
    ts_ns = np.zeros(good, np.int64)
    if good and global_if.min() == global_if.max():  # one interface: no grouping
        ts_ns = _ticks_to_ns(ticks, st.interfaces[int(global_if[0])])
    else:
        for g in np.unique(global_if):
            sel = global_if == g
            ts_ns[sel] = _ticks_to_ns(ticks[sel], st.interfaces[int(g)])
    linktype = st.sec_linktype[local_if[sl]]
    has_ts = epb[sl]
    return (ts_ns, has_ts, caplen[sl], wire_len[sl], data_off[sl], linktype), good, problem

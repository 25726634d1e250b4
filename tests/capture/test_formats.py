"""Container formats: classic pcap in both byte orders and resolutions, pcapng
sections/interfaces/resolutions/block types, compression, several files and
directories, records across read-block borders."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
from pathlib import Path

import numpy as np
import pytest
import zstandard
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import PcapNgWriter, wrpcap

from auditor.capture import capture_to_packets, expand_capture_paths
from auditor.capture.reader import FileReader
from auditor.errors import CaptureError
from auditor.tables import Bucket, iso_utc

from .craft import NS, block, epb, idb, pb, pcap_bytes, read, shb, spb

T0 = 1_700_000_000 * NS
ETH = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}


def frame(sport: int = 40000, size: int = 0) -> bytes:
    return bytes(Ether(**ETH) / IP(src="10.1.0.1", dst="10.2.0.2") / TCP(sport=sport, dport=4008) / (b"\0" * size))


def raw_ip(sport: int = 5000) -> bytes:
    return bytes(IP(src="10.3.0.3", dst="10.4.0.4") / UDP(sport=sport, dport=53))


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_classic_pcap_byte_orders_and_resolutions(tmp_path: Path, endian: str, nano: bool) -> None:
    ts = [T0 + 123_456_789, T0 + 2 * NS + 1]
    path = tmp_path / "x.pcap"
    path.write_bytes(pcap_bytes([(t, frame(40000 + i)) for i, t in enumerate(ts)], endian=endian, nano=nano))
    stream, b = read(path)
    want = ts if nano else [t // 1000 * 1000 for t in ts]
    assert b.ts_ns.tolist() == want
    assert b.sport.tolist() == [40000, 40001]
    info = stream.captures[0]
    assert info["format"] == "pcap" and info["compression"] is None and info["link_types"] == ["EN10MB"]
    assert info["first_ts_ns"] == want[0] and info["last_ts_ns"] == want[1]
    assert info["first_ts"] == iso_utc(want[0]) and info["packets"] == 2
    assert info["bytes"] == 2 * len(frame())
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_scapy_written_pcap_and_pcapng(tmp_path: Path) -> None:
    pkts = [Ether(**ETH) / IP(src="10.1.0.1", dst="10.2.0.2") / TCP(sport=1000 + i, dport=443) for i in range(5)]
    for i, p in enumerate(pkts):
        p.time = 1_700_000_000 + i / 10
    wrpcap(str(tmp_path / "a.pcap"), pkts)
    with PcapNgWriter(str(tmp_path / "b.pcapng")) as w:
        for p in pkts:
            w.write(p)
    for name, fmt in (("a.pcap", "pcap"), ("b.pcapng", "pcapng")):
        stream, b = read(tmp_path / name)
        assert stream.captures[0]["format"] == fmt
        assert b.sport.tolist() == [1000, 1001, 1002, 1003, 1004]
        assert b.ts_ns.tolist() == [1_700_000_000 * NS + i * 100_000_000 for i in range(5)]


def test_pcapng_sections_interfaces_resolutions_and_block_types(tmp_path: Path) -> None:
    data = b"".join([
        # section 1, little-endian: Ethernet with nanosecond ticks, raw IP with 2^-20 s ticks and +100 s offset
        shb("<"),
        idb(1, tsresol=9),
        idb(101, tsresol=0x80 | 20, tsoffset=100),
        epb(0, T0 + 5, frame(40001)),
        epb(1, (1_700_000_000 << 20) + (1 << 19), raw_ip(5001)),  # 0.5 s past
        spb(frame(40002)),  # no timestamp: takes the previous packet's time
        # blocks that carry no packet: ISB, NRB, custom, DSB, an unknown type
        b"".join(block(t, b"\0" * 8) for t in (5, 4, 0x00000BAD, 0x0000000A, 0x1234)),
        # section 2, big-endian, interface ids restart: id 0 is now raw IP in microseconds
        shb(">"),
        idb(101, endian=">"),
        pb(0, (T0 // 1000) + 7, raw_ip(5002), endian=">"),
        epb(0, (T0 // 1000) + 8, raw_ip(5003), endian=">"),
    ])
    path = tmp_path / "multi.pcapng"
    path.write_bytes(data)
    stream, b = read(path)
    assert b.sport.tolist() == [40001, 5001, 40002, 5002, 5003]
    t1 = (1_700_000_000 + 100) * NS + NS // 2
    assert b.ts_ns.tolist() == [T0 + 5, t1, t1, T0 + 7000, T0 + 8000]
    info = stream.captures[0]
    assert info["link_types"] == ["EN10MB", "RAW"]
    assert info["skipped_blocks"] == 5
    assert info["packets"] == 5 and stream.counts["tcp"] == 2 and stream.counts["udp"] == 3
    assert info["first_ts_ns"] == T0 + 5 and info["last_ts_ns"] == t1


def test_simple_packet_block_first_in_file_takes_time_zero(tmp_path: Path) -> None:
    path = tmp_path / "spb.pcapng"
    path.write_bytes(shb() + idb(1, snaplen=40) + spb(frame()[:40], orig_len=len(frame())))
    stream, b = read(path)
    assert b.ts_ns.tolist() == [0]
    assert b.wire_len.tolist() == [len(frame())]  # original length from the block
    assert Bucket(int(b.bucket[0])) == Bucket.TCP
    assert stream.captures[0]["first_ts"] is None  # no packet with a time


@pytest.mark.parametrize("compression,compress", [
    ("gzip", gzip.compress), ("bzip2", bz2.compress), ("xz", lzma.compress),
    ("zstd", lambda d: zstandard.ZstdCompressor().compress(d)),
])
def test_compressed_captures(tmp_path: Path, compression: str, compress) -> None:
    plain = pcap_bytes([(T0 + i, frame(1000 + i)) for i in range(50)])
    path = tmp_path / "capture.bin"  # the name says nothing: detection is by magic
    path.write_bytes(compress(plain))
    stream, b = read(path)
    info = stream.captures[0]
    assert info["compression"] == compression and info["format"] == "pcap"
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()  # of the file as given
    assert b.sport.tolist() == list(range(1000, 1050))


def test_several_files_read_in_time_order(tmp_path: Path) -> None:
    late = tmp_path / "a_late.pcap"
    early = tmp_path / "b_early.pcapng"
    empty = tmp_path / "c_empty.pcap"
    late.write_bytes(pcap_bytes([(T0 + 10 * NS, frame(2)), (T0 + 11 * NS, frame(3))]))
    early.write_bytes(shb() + idb(1, tsresol=9) + epb(0, T0, frame(1)))
    empty.write_bytes(pcap_bytes([]))
    stream, b = read([late, early, empty])
    assert b.sport.tolist() == [1, 2, 3]
    assert [c["path"] for c in stream.captures] == [str(empty), str(early), str(late)]
    assert stream.counts["read"] == 3
    # a directory is all the captures in it, by magic; other files are skipped
    (tmp_path / "notes.txt").write_text("not a capture")
    (tmp_path / "late.gz").write_bytes(gzip.compress(late.read_bytes()))
    assert expand_capture_paths([tmp_path]) == [late, early, empty, tmp_path / "late.gz"]
    stream, b = read([tmp_path])
    # whole files one after the other, by first packet (a tie keeps the given order)
    assert b.sport.tolist() == [1, 2, 3, 2, 3]


def test_records_across_read_blocks_and_chunks(tmp_path: Path) -> None:
    # 400 records of ~1 KB read 4 KB at a time: most records straddle a block border
    frames = [frame(i, size=900 + i) for i in range(400)]
    path = tmp_path / "big.pcap"
    path.write_bytes(pcap_bytes([(T0 + i, f) for i, f in enumerate(frames)]))
    ng = tmp_path / "big.pcapng"
    ng.write_bytes(shb() + idb(1, tsresol=9) + b"".join(epb(0, T0 + i, f) for i, f in enumerate(frames)))
    for p in (path, ng):
        reader = FileReader(p, chunk_packets=7, block_bytes=4096)
        batches = list(reader.batches())
        assert max(len(x) for x in batches) <= 7
        sport = np.concatenate([x.sport for x in batches])
        assert sport.tolist() == list(range(400))
        assert np.concatenate([x.wire_len for x in batches]).tolist() == [len(f) for f in frames]
        assert reader.warnings == []
        assert reader.info["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()


def test_expand_capture_paths_errors(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="no such file or directory"):
        expand_capture_paths([tmp_path / "missing.pcap"])
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "empty_dir" / "readme.txt").write_text("hello")
    with pytest.raises(CaptureError, match="no capture files in this directory"):
        capture_to_packets([tmp_path / "empty_dir"])


def test_first_and_last_time_are_the_smallest_and_largest(tmp_path: Path) -> None:
    # a merged capture out of time order (as icmp_fragneeded_quotes_tcp.pcap in the corpus)
    ts = [T0 + 5 * NS, T0, T0 + 9 * NS, T0 + 1]
    path = tmp_path / "merged.pcap"
    path.write_bytes(pcap_bytes([(t, frame()) for t in ts], nano=True))
    stream, b = read(path)
    assert b.ts_ns.tolist() == ts  # file order is kept
    assert stream.captures[0]["first_ts_ns"] == T0 and stream.captures[0]["last_ts_ns"] == T0 + 9 * NS


def test_compiled_and_python_record_walks_agree() -> None:
    from auditor.capture import pcap

    if pcap._walk_pcap_c is None:
        pytest.skip("the compiled record walk is not built (pip install . builds it when a compiler exists)")
    good = pcap_bytes([(T0 + i, frame(i, size=i)) for i in range(50)])
    absurd = good + bytes(8) + (0xFFFFFFF0).to_bytes(4, "little") + bytes(40)
    for data in (good, good[:-7], good[:-30], absurd):
        arr = np.frombuffer(data + bytes(64), np.uint8)
        for limit in (1, 7, 1000):
            walk = pcap.PcapWalk(limit, "<")
            c_next = walk.walk(arr, 24, len(data))
            c_offs, c_headers = walk.take()
            py_offs, py_next, py_absurd = pcap.walk_pcap_records(arr.data, 24, len(data), limit, "<")
            assert c_offs.tolist() == py_offs and c_next == py_next and walk.absurd == py_absurd
            # the headers the walk copied are the records' own
            assert all(bytes(c_headers[i]) == data[o : o + 16] for i, o in enumerate(py_offs))


def test_pure_python_walks_read_exactly_what_the_compiled_ones_read(tmp_path: Path, monkeypatch) -> None:
    """Without a C compiler the reader walks records in Python: same packets, same warnings."""
    from auditor.capture import pcap, pcapng

    good_ng = (shb() + idb(1, tsresol=9) + idb(101) + epb(0, T0, frame(1)) + spb(frame(2))
               + block(5, b"\0" * 8) + pb(1, 7, raw_ip(3)) + epb(0, T0 + 9, frame(4))
               + shb(">") + idb(1, endian=">") + epb(0, 5, frame(5), endian=">"))
    files = {
        "a.pcapng": good_ng,
        "cut.pcapng": good_ng[:-9],
        "bad.pcapng": good_ng[:200] + b"\x06\0\0\0\x0e\0\0\0" + good_ng[208:],
        "a.pcap": pcap_bytes([(T0 + i, frame(i, size=i)) for i in range(40)]),
        "cut.pcap": pcap_bytes([(T0 + i, frame(i)) for i in range(40)])[:-20],
    }

    def read_all(name: str) -> tuple:
        path = tmp_path / name
        try:
            reader = FileReader(path, chunk_packets=3, block_bytes=4096)
            batches = list(reader.batches())
        except CaptureError as e:
            return ("error", str(e))
        cols = [np.concatenate([getattr(b, c) for b in batches]).tolist() for c in ("ts_ns", "sport", "bucket", "wire_len")]
        return cols, reader.warnings, reader.info["skipped_blocks"]

    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    compiled = {name: read_all(name) for name in files}
    monkeypatch.setattr(pcap, "_walk_pcap_c", None)
    monkeypatch.setattr(pcapng, "_walk_pcapng_c", None)
    assert {name: read_all(name) for name in files} == compiled
    assert compiled["a.pcapng"][0][1] == [1, 2, 3, 4, 5]


def test_many_small_sections_are_decoded_together(tmp_path: Path) -> None:
    # 3000 sections of one interface and one packet: one decode per read block, not per section
    unit = shb() + idb(1) + epb(0, T0, frame(7))
    path = tmp_path / "sections.pcapng"
    path.write_bytes(unit * 3000)
    reader = FileReader(path)
    batches = list(reader.batches())
    assert len(batches) == 1 and len(batches[0]) == 3000
    assert reader.info["link_types"] == ["EN10MB"] and set(batches[0].sport.tolist()) == {7}


def test_read_buffers_pass_from_file_to_file_without_stale_bytes(tmp_path: Path) -> None:
    """A file's read buffers serve the next file (no fresh memory per
    ring-buffer segment); the next file must read exactly as on its own,
    also where it is shorter than what the buffer held before."""
    from auditor.capture import reader as reader_mod

    big = [Ether() / IP(src="10.9.9.9", dst="10.8.8.8") / UDP(sport=9, dport=9) / (b"\xff" * 1400)
           for _ in range(400)]
    small = [Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1000 + i, dport=4008) / (b"a" * (i % 90))
             for i in range(120)]
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    wrpcap(str(a), big)
    wrpcap(str(b), small)
    reader_mod._FREE_BUFFERS.clear()
    alone = FileReader(b, block_bytes=1 << 16)
    alone_batches = list(alone.batches())
    reader_mod._FREE_BUFFERS.clear()
    list(FileReader(a, block_bytes=1 << 16).batches())
    pooled = list(reader_mod._FREE_BUFFERS)
    assert pooled  # a's buffers wait for the next file
    after = FileReader(b, block_bytes=1 << 16)
    after_batches = list(after.batches())
    assert any(any(buf is q for q in reader_mod._FREE_BUFFERS) for buf in pooled)  # and served it
    assert after.sha256 == alone.sha256 == hashlib.sha256(b.read_bytes()).hexdigest()
    assert after.warnings == alone.warnings == [] and after.packets == 120
    for column in ("sport", "wire_len", "ts_ns", "tcp_flags", "src_lo", "bucket"):
        assert np.array_equal(np.concatenate([getattr(x, column) for x in after_batches]),
                              np.concatenate([getattr(x, column) for x in alone_batches])), column


@pytest.mark.parametrize("block_bytes", [4096, 5000, 1 << 16])
def test_reused_read_buffers_keep_packets_and_hash_exact(tmp_path: Path, block_bytes: int) -> None:
    """The reader reads into the buffer before last again (no page faults
    for fresh memory); the sha256 thread must still see every block as it
    was read, and no packet may come from a reused buffer's old bytes."""
    pkts = [Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1000 + i % 50, dport=4008)
            / (bytes([i % 251]) * (i % 1400)) for i in range(600)]
    for suffix in ("pcap", "pcapng"):
        path = tmp_path / f"many.{suffix}"
        if suffix == "pcap":
            wrpcap(str(path), pkts)
        else:
            with PcapNgWriter(str(path)) as out:
                for p in pkts:
                    out.write(p)
        small = FileReader(path, block_bytes=block_bytes, chunk_packets=37)
        batches = list(small.batches())
        whole = list(FileReader(path).batches())
        assert small.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        for column in ("sport", "wire_len", "ts_ns", "tcp_flags"):
            assert np.array_equal(np.concatenate([getattr(b, column) for b in batches]),
                                  np.concatenate([getattr(b, column) for b in whole])), column

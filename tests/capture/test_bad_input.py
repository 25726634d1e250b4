"""Bad input (SPEC section 2): one line naming the file and the byte offset,
exit 2 (CaptureError) when nothing usable was read, otherwise the packets read
so far plus a warning; a record cut short by the end of file is not read."""

from __future__ import annotations

import gzip
import struct
import sys
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from auditor.capture import capture_to_packets
from auditor.errors import CaptureError, InputError

from .craft import NS, block, epb, idb, pcap_bytes, read, shb

T0 = 1_700_000_000 * NS
FRAME = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.1.0.1", dst="10.2.0.2") / TCP())
GOOD3 = pcap_bytes([(T0 + i, FRAME) for i in range(3)])  # 24 + 3 * (16 + 54) bytes
REC = 16 + len(FRAME)


def error_of(tmp_path: Path, data: bytes, name: str = "bad.pcap") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(CaptureError) as err:
        list(capture_to_packets([path]))
    assert err.value.exit_code == 2
    line = err.value.line()
    assert "\n" not in line
    assert line.startswith(f"{path}: ")
    return line[len(str(path)) + 2:]


def warning_of(tmp_path: Path, data: bytes, packets: int, name: str = "bad.pcap") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    stream, b = read(path)
    assert stream.counts["read"] == len(b) == packets
    assert len(stream.warnings) == 1
    w = stream.warnings[0]
    tail = f"; audited the {packets} packets before it"
    assert w.startswith(f"{path}: ") and w.endswith(tail)
    return w[len(str(path)) + 2: -len(tail)]


def test_zero_byte_file(tmp_path: Path) -> None:
    # tshark 4.0 reads a 0-byte file as an empty ERF capture (exit 0); we are stricter
    assert error_of(tmp_path, b"").startswith("byte 0: empty file (")


def test_not_a_capture(tmp_path: Path) -> None:
    msg = error_of(tmp_path, b"hello, this is a text file\n", "notes.pcap")
    assert msg.startswith("byte 0: magic 0x68656c6c is not a capture (expected pcap magic")


def test_compressed_non_capture(tmp_path: Path) -> None:
    assert "gzip-compressed data, magic 0x" in error_of(tmp_path, gzip.compress(b"just text, not a capture"))


def test_corrupt_compressed_data(tmp_path: Path) -> None:
    assert error_of(tmp_path, b"\x1f\x8b" + b"\xff" * 30).startswith("byte 0: gzip data that cannot be decompressed")


def test_header_cut_short(tmp_path: Path) -> None:
    assert error_of(tmp_path, GOOD3[:10]) == "byte 10: file ends inside the pcap file header (expected 24 bytes, found 10)"


def test_empty_but_valid_capture_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "empty.pcap"
    path.write_bytes(pcap_bytes([]))
    stream, b = read(path)
    assert len(b) == 0 and stream.warnings == [] and stream.captures[0]["first_ts"] is None


def test_absurd_record_length(tmp_path: Path) -> None:
    absurd = struct.pack("<IIII", 0, 0, 0xFFFFFFF0, 60)
    assert error_of(tmp_path, GOOD3[:24] + absurd) == (
        "byte 24: record claims 4294967280 captured bytes (expected at most 262144)")
    # after good records: the packets are kept and the warning names the bad record's offset
    msg = warning_of(tmp_path, GOOD3 + absurd + b"\0" * 100, 3)
    assert msg.startswith(f"byte {24 + 3 * REC}: record claims 4294967280 captured bytes")


def test_truncated_record_is_not_counted(tmp_path: Path) -> None:
    assert warning_of(tmp_path, GOOD3[:-10], 2) == f"byte {24 + 2 * REC}: file ends in the middle of a record"
    assert warning_of(tmp_path, GOOD3 + b"\0" * 7, 3) == f"byte {24 + 3 * REC}: file ends in the middle of a record header"


def test_truncated_compressed_file(tmp_path: Path) -> None:
    import random

    rnd = random.Random(1)
    plain = pcap_bytes([(T0 + i, FRAME + rnd.randbytes(200)) for i in range(500)])
    data = gzip.compress(plain)[:-3000]  # trailer and the end of the data gone
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(data)
    stream, b = read(path)
    assert 0 < stream.counts["read"] == len(b) < 500
    assert len(stream.warnings) == 1 and "of the decompressed data: the gzip data is damaged or cut short" in stream.warnings[0]


def _ng(*blocks: bytes) -> bytes:
    return shb() + idb(1) + b"".join(blocks)


def test_pcapng_bad_first_block(tmp_path: Path) -> None:
    bad_bom = bytearray(shb())
    bad_bom[8:12] = b"\x11\x22\x33\x44"
    assert error_of(tmp_path, bytes(bad_bom), "x.pcapng") == (
        "byte 0: section header byte-order magic 0x11223344 (expected 1a2b3c4d)")
    bad_len = bytearray(shb())
    bad_len[4:8] = struct.pack("<I", 30)
    assert error_of(tmp_path, bytes(bad_len), "x.pcapng").startswith("byte 0: section header block length 30 (expected")


def test_pcapng_bad_block_lengths(tmp_path: Path) -> None:
    good = epb(0, 1, FRAME)
    for blen, what in ((14, "block length 14 (expected a multiple of 4, at least 12)"),
                       (8, "block length 8 (expected a multiple of 4, at least 12)"),
                       (1 << 30, "block of type 0x6 claims 1073741824 bytes (expected at most")):
        bad = struct.pack("<II", 6, blen) + b"\0" * 40
        off = len(_ng())
        assert error_of(tmp_path, _ng(bad), "x.pcapng").startswith(f"byte {off}: {what}")
        msg = warning_of(tmp_path, _ng(good, good, bad), 2, "x.pcapng")
        assert msg.startswith(f"byte {off + 2 * len(good)}: {what}")


def test_pcapng_damaged_blocks(tmp_path: Path) -> None:
    good = epb(0, 1, FRAME)
    mismatch = bytearray(good)
    mismatch[-4:] = struct.pack("<I", len(good) + 4)
    off = len(_ng())
    assert error_of(tmp_path, _ng(bytes(mismatch)), "x.pcapng") == (
        f"byte {off}: block length {len(good)} at its start but {len(good) + 4} at its end (expected the same)")
    assert error_of(tmp_path, _ng(epb(3, 1, FRAME)), "x.pcapng") == (
        f"byte {off}: packet block for interface 3 (expected one of the 1 interfaces of its section)")
    liar = bytearray(good)
    liar[20:24] = struct.pack("<I", 5000)  # captured length bigger than its block
    msg = warning_of(tmp_path, _ng(good, bytes(liar)), 1, "x.pcapng")
    assert msg.startswith(f"byte {off + len(good)}: packet block of {len(good)} bytes claims 5000 captured bytes")
    assert warning_of(tmp_path, _ng(good, good)[:-30], 1, "x.pcapng") == (
        f"byte {off + len(good)}: file ends in the middle of a block")
    assert error_of(tmp_path, shb() + epb(0, 1, FRAME), "x.pcapng").endswith(
        "(expected one of the 0 interfaces of its section)")


def test_huge_non_packet_block_is_capped_before_reading(tmp_path: Path) -> None:
    huge = struct.pack("<II", 0x0BAD, 1 << 31) + b"\0" * 16
    assert "claims 2147483648 bytes (expected at most 16777216)" in error_of(tmp_path, _ng(huge), "x.pcapng")
    # within the cap but past the end of the file: a cut-short file, nothing allocated up front
    big = struct.pack("<II", 0x0BAD, 8 << 20) + b"\0" * 64
    assert warning_of(tmp_path, _ng(epb(0, 1, FRAME), big), 1, "x.pcapng").endswith(
        "file ends in the middle of a block")
    assert block(5, b"") == struct.pack("<III", 5, 12, 12)


def test_zstd_without_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import zstandard

    path = tmp_path / "x.pcap.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(GOOD3))
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import now fails
    with pytest.raises(InputError, match=r"zstd-compressed capture \(the zstandard package is needed"):
        list(capture_to_packets([path]))


def test_unreadable_path(tmp_path: Path) -> None:
    (tmp_path / "dir.pcap").mkdir()
    (tmp_path / "dir.pcap" / "x.txt").write_text("x")
    with pytest.raises(CaptureError, match="no capture files in this directory"):
        capture_to_packets([tmp_path / "dir.pcap"])


def test_sha256_covers_the_whole_file_even_after_damage(tmp_path: Path) -> None:
    import hashlib

    data = GOOD3 + struct.pack("<IIII", 0, 0, 0xFFFFFFF0, 60) + b"\xaa" * 5000
    path = tmp_path / "damaged.pcap"
    path.write_bytes(data)
    stream, _ = read(path)
    assert stream.captures[0]["sha256"] == hashlib.sha256(data).hexdigest()
    assert stream.captures[0]["packets"] == 3


def test_corrupt_zstd_is_an_input_problem(tmp_path: Path) -> None:
    import zstandard

    assert error_of(tmp_path, b"\x28\xb5\x2f\xfd" + b"\xff" * 20, "x.pcap.zst").startswith(
        "byte 0: zstd data that cannot be decompressed")
    # a damaged compressed file in a directory is reported, not silently left out
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "x.pcap.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"\xff" * 20)
    with pytest.raises(CaptureError, match=r"x\.pcap\.zst: byte 0: zstd data that cannot be decompressed"):
        list(capture_to_packets([folder]))
    path = tmp_path / "trailing.pcap.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(GOOD3) + bytes(range(8)))
    stream, b = read(path)
    assert len(b) == 3 and len(stream.warnings) == 1 and "the zstd data is damaged or cut short" in stream.warnings[0]


def test_packet_block_before_its_interface_block_whatever_the_chunk(tmp_path: Path) -> None:
    path = tmp_path / "epb_first.pcapng"
    path.write_bytes(shb() + epb(0, 1, FRAME) + idb(1) + epb(0, 2, FRAME))
    for chunk in (1 << 18, 1):
        with pytest.raises(CaptureError, match=r": byte 28: packet block for interface 0 "):
            list(capture_to_packets([path], chunk_packets=chunk))


def test_pcapng_cut_inside_its_section_header_block_is_an_error(tmp_path: Path) -> None:
    # the file's own header is incomplete: nothing can be read (as a pcap file header cut short)
    head = shb()
    for cut in (8, 12, len(head) - 1):
        assert error_of(tmp_path, head[:cut], "x.pcapng") == "byte 0: file ends inside its section header block"
    liar = bytearray(_ng(epb(0, 1, FRAME)))
    liar[4:8] = struct.pack("<I", 256)  # the header block claims more bytes than the file has
    assert error_of(tmp_path, bytes(liar[:100]), "x.pcapng") == "byte 0: file ends inside its section header block"
    # a later section's header cut short, after packets: a warning, the packets audited
    off = len(_ng(epb(0, 1, FRAME)))
    assert warning_of(tmp_path, _ng(epb(0, 1, FRAME)) + shb()[:20], 1, "x.pcapng") == (
        f"byte {off}: file ends in the middle of a block")

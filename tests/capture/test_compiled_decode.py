"""The compiled common-case decoder (``_walk.decode_common``) writes exactly
the columns the numpy decoder writes, for any bytes: generated headers with
every field free to be wrong, records cut anywhere, every link type; rows it
does not take are left to numpy and must still come out the same."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.capture import decode

pytestmark = pytest.mark.skipif(decode._decode_common_c is None, reason="the compiled helper is not built")

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TPIDS = (0x8100, 0x88A8, 0x9100, 0x9200)
TUNNEL_PORTS = (4789, 6081, 4754, 3544, 2152, 5072, 1701)


def _often(draw: st.DrawFn, usual: int, other: st.SearchStrategy[int]) -> int:
    return usual if draw(st.integers(0, 3)) else draw(other)


@st.composite
def l4(draw: st.DrawFn, proto: int) -> bytes:
    port = st.one_of(st.integers(0, 65535), st.sampled_from(TUNNEL_PORTS), st.integers(0, 1023))
    sp, dp = draw(port), draw(port)
    if proto == 6:
        hdr = struct.pack(">HHIIBBHHH", sp, dp, 1, 2, 0x50, draw(st.integers(0, 255)), 1024, 0, 0)
    elif proto == 17:
        hdr = struct.pack(">HHHH", sp, dp, draw(st.integers(0, 65535)), 0)
    elif proto in (1, 58):  # unreachable quoting whatever follows, or an echo
        hdr = bytes([draw(st.sampled_from([1, 3, 8, 128])), 0, 0, 0, 0, 0, 0, 0])
    else:
        hdr = b""
    return hdr + draw(st.binary(max_size=48))


@st.composite
def ip_packet(draw: st.DrawFn, depth: int = 0) -> bytes:
    proto = draw(st.sampled_from([6, 17, 6, 17, 1, 58, 47, 4, 41, 0, 43, 44, 60, 132]))
    inner = draw(ip_packet(depth + 1)) if proto in (4, 41) and depth < 1 else draw(l4(proto))
    if draw(st.booleans()):
        ihl = _often(draw, 5, st.integers(0, 15))
        options = draw(st.binary(min_size=max(0, ihl * 4 - 20), max_size=max(0, ihl * 4 - 20)))
        total = _often(draw, 20 + len(options) + len(inner), st.sampled_from([0, 19, 20, 24, 40, 1500, 65535]))
        flags_frag = draw(st.sampled_from([0, 0x4000, 0x2000, 0x2001, 0x0001, 0x1FFF, 0x6000]))
        hdr = struct.pack(">BBHHHBBH4s4s", (_often(draw, 4, st.integers(0, 15)) << 4) | ihl, 0, total,
                          draw(st.integers(0, 65535)), flags_frag, 64, proto, 0,
                          draw(st.binary(min_size=4, max_size=4)), draw(st.binary(min_size=4, max_size=4)))
        return hdr + options + inner
    plen = _often(draw, len(inner), st.sampled_from([0, 1, 8, 40, 65535]))
    nh = {4: 4, 41: 41}.get(proto, proto)
    hdr = struct.pack(">IHBB16s16s", _often(draw, 6, st.integers(0, 15)) << 28, plen, nh, 64,
                      draw(st.binary(min_size=16, max_size=16)), draw(st.binary(min_size=16, max_size=16)))
    if nh in (0, 43, 60, 44):  # an extension header whose next header is TCP or UDP
        hdr += bytes([draw(st.sampled_from([6, 17])), 0]) + draw(st.binary(min_size=6, max_size=6))
    return hdr + inner


@st.composite
def record(draw: st.DrawFn) -> tuple[bytes, int]:
    """(bytes, link type): Ethernet with tags, raw IP, or another link type."""
    link = draw(st.sampled_from([1, 1, 1, 101, 228, 229, 12, 14, 113, 0, 147]))
    payload = draw(st.one_of(ip_packet(), st.binary(max_size=80)))
    if link == 1:
        tags = b"".join(struct.pack(">HH", draw(st.sampled_from(TPIDS)), draw(st.integers(0, 65535)))
                        for _ in range(draw(st.integers(0, 10))))
        et = draw(st.sampled_from([0x0800, 0x86DD, 0x0806, 0x05DC, 0x8847, 0x88E7]))
        data = bytes(12) + (tags + struct.pack(">H", et))
        data += payload
    elif link == 113:
        data = bytes(14) + struct.pack(">H", 0x0800) + payload
    else:
        data = payload
    cut = draw(st.one_of(st.just(len(data)), st.integers(0, len(data))))
    return data[:cut], link


def _decode(arr: np.ndarray, data_off: np.ndarray, caplen: np.ndarray, link: np.ndarray,
            compiled: bool) -> decode.Decoded:
    saved = decode.USE_COMPILED
    decode.USE_COMPILED = compiled
    try:
        return decode.decode_records(arr, data_off, caplen, link)
    finally:
        decode.USE_COMPILED = saved


def _decode_both(records: list[tuple[bytes, int]], gap: int) -> tuple:
    """Decode the same buffer with and without the compiled common case.
    Records lie ``gap`` bytes apart (filled with 0xEE: never to be read)."""
    filler = b"\xee" * gap
    buf, offs = bytearray(), []
    for data, _ in records:
        buf += filler
        offs.append(len(buf))
        buf += data
    buf += filler
    arr = np.concatenate([np.frombuffer(bytes(buf), np.uint8), np.zeros(decode.SECOND_WINDOW, np.uint8)])
    data_off = np.array(offs, np.int64)
    caplen = np.array([len(d) for d, _ in records], np.int64)
    link = np.array([lt for _, lt in records], np.int64)
    return _decode(arr, data_off, caplen, link, True), _decode(arr, data_off, caplen, link, False)


def _assert_same(fast: decode.Decoded, slow: decode.Decoded) -> None:
    for name in decode.COLUMN_NAMES:
        a, b = getattr(fast, name), getattr(slow, name)
        assert a.dtype == b.dtype, name
        assert np.array_equal(a, b), (name, a, b)
    assert not fast.wide.any() and not slow.wide.any()
    assert set(fast.icmp) == set(slow.icmp)
    for name in fast.icmp:
        assert fast.icmp[name].dtype == slow.icmp[name].dtype, name
        assert np.array_equal(fast.icmp[name], slow.icmp[name]), name


@SETTINGS
@given(st.lists(record(), min_size=1, max_size=16), st.sampled_from([0, 3, 64]))
def test_compiled_decoder_writes_what_numpy_writes(records: list, gap: int) -> None:
    fast, slow = _decode_both(records, gap)
    _assert_same(fast, slow)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.binary(max_size=120), st.sampled_from([1, 101, 228, 229])), min_size=1, max_size=8))
def test_compiled_decoder_on_arbitrary_bytes(records: list) -> None:
    fast, slow = _decode_both(records, 0)
    _assert_same(fast, slow)


def test_common_case_is_taken_by_the_compiled_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path is not vacuous: plain TCP and UDP over Ethernet, one VLAN
    tag and raw IPv6 are decoded without the numpy decoder."""
    tcp = struct.pack(">HHIIBBHHH", 40000, 4008, 1, 2, 0x50, 0x18, 1024, 0, 0)
    udp = struct.pack(">HHHH", 5353, 123, 8, 0)
    v4 = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40, 7, 0x4000, 64, 6, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 1, 1]))
    v6 = struct.pack(">IHBB16s16s", 6 << 28, 8, 17, 64, bytes(15) + b"\x01", bytes(15) + b"\x02")
    records = [(bytes(12) + b"\x08\x00" + v4 + tcp, 1),
               (bytes(12) + b"\x81\x00\x00\x05\x86\xdd" + v6 + udp, 1),
               (v6 + udp, 229)]
    calls: list[int] = []
    real = decode._decode_records_numpy

    def spy(arr, data_off, caplen, link):
        calls.append(len(data_off))
        return real(arr, data_off, caplen, link)

    monkeypatch.setattr(decode, "_decode_records_numpy", spy)
    monkeypatch.setattr(decode, "USE_COMPILED", True)
    arr = np.zeros(4096 + decode.SECOND_WINDOW, np.uint8)
    offs, pos = [], 0
    for data, _ in records:
        arr[pos : pos + len(data)] = np.frombuffer(data, np.uint8)
        offs.append(pos)
        pos += len(data)
    out = decode.decode_records(arr, np.array(offs), np.array([len(d) for d, _ in records]),
                                np.array([lt for _, lt in records]))
    assert calls == []
    assert out.bucket.tolist() == [0, 1, 1]
    assert out.sport.tolist() == [40000, 5353, 5353] and out.dport.tolist() == [4008, 123, 123]
    assert out.tcp_flags.tolist() == [0x18, 0, 0] and out.ip_id.tolist() == [7, 0, 0]
    assert out.src_lo[0] == 0xFFFF0A000001 and out.dst_hi[1] == 0 and out.dst_lo[2] == 2


def test_records_outside_the_buffer_are_left_to_numpy() -> None:
    """Offsets and lengths are checked before any byte is read."""
    arr = np.zeros(64, np.uint8)
    n = 3
    cols = [np.empty(n, dt) for dt in decode._COLUMN_DTYPES.values()]
    slow = np.zeros(n, np.uint8)
    got = decode._decode_common_c(arr, np.array([-1, 60, 0], np.int64), np.array([10, 10, 65], np.int64),
                                  np.ones(n, np.int64), *cols, slow)
    assert got == 3 and slow.tolist() == [1, 1, 1]
    with pytest.raises(ValueError):
        decode._decode_common_c(arr, np.zeros(4, np.int64), np.zeros(4, np.int64), np.ones(4, np.int64),
                                *cols, slow)


def _templates() -> list[tuple[bytes, int]]:
    """Common-case records the mutations start from (every branch of the
    compiled decoder: tags, both IP versions, options, TCP and UDP)."""
    tcp = struct.pack(">HHIIBBHHH", 40000, 4008, 1, 2, 0x50, 0x18, 1024, 0, 0) + bytes(range(30))
    udp = struct.pack(">HHHH", 1024, 4789, 38, 0) + bytes(range(30))

    def v4(l4: bytes, proto: int, ihl: int = 5) -> bytes:
        return struct.pack(">BBHHHBBH4s4s", 0x40 | ihl, 0, 4 * ihl + len(l4), 7, 0x4000, 64, proto, 0,
                           bytes([10, 0, 0, 1]), bytes([10, 0, 1, 1])) + bytes(4 * ihl - 20) + l4

    def v6(l4: bytes, nh: int) -> bytes:
        return struct.pack(">IHBB16s16s", 6 << 28, len(l4), nh, 64, bytes(range(16)), bytes(range(16, 32))) + l4

    out = []
    for ip in (v4(tcp, 6), v4(udp, 17), v4(tcp, 6, 7), v6(tcp, 6), v6(udp, 17)):
        et = b"\x86\xdd" if ip[0] >> 4 == 6 else b"\x08\x00"
        out += [(bytes(12) + et + ip, 1), (bytes(12) + b"\x81\x00\x00\x07" + et + ip, 1),
                (bytes(12) + b"\x88\xa8\x00\x01\x81\x00\x00\x07" + et + ip, 1), (ip, 101),
                (ip, 228 if ip[0] >> 4 == 4 else 229)]
    return out


@pytest.mark.parametrize("seed", range(4))
def test_compiled_decoder_on_mutated_common_packets(seed: int) -> None:
    """Thousands of common-case records with a few header bytes changed and
    a random cut: whatever the change, both decoders agree."""
    rng = np.random.default_rng(seed)
    templates = _templates()
    records = []
    for _ in range(5000):
        data, link = templates[rng.integers(len(templates))]
        b = bytearray(data)
        for _ in range(rng.integers(0, 4)):
            pos = int(rng.integers(0, min(len(b), 80)))
            b[pos] = int(rng.choice([0, 1, 4, 5, 6, 0x11, 0x20, 0x45, 0x60, 0x81, 0xFF, rng.integers(256)]))
        cut = len(b) if rng.random() < 0.5 else int(rng.integers(0, len(b) + 1))
        records.append((bytes(b[:cut]), link))
    fast, slow = _decode_both(records, 0)
    _assert_same(fast, slow)
    assert (fast.bucket <= 1).mean() > 0.3  # the compiled path is exercised, not just the fallback

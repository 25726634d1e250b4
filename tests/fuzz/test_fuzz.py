"""Fuzzing the capture and flow stages (issue 6): a short derandomised
hypothesis run over mutated corpus and generated captures, the memory bound
for records that claim gigabytes, and one regression case per crash the
fuzzer found (each was an xfail until its owner fixed it; see tools/FUZZING.md).

The long campaign is ``python3 tools/fuzz_campaign.py --inputs 10000 --seed 1``.
"""

from __future__ import annotations

import random
import struct
import tracemalloc
from pathlib import Path

import pytest
from capture.craft import epb, idb, pcap_bytes, shb
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from auditor.capture import capture_to_packets
from auditor.errors import CaptureError

from .invariants import Hang, check_capture, check_cli, check_pair, known_bug, time_limit
from .mutate import OPS, compress, make_mutant, units
from .seeds import CORPUS, T0, all_seeds, corpus_seeds, frames, generated_seeds

SECONDS_PER_INPUT = 5
FLOOD_SHORT = (10, 100, 300)  # the campaign floods with up to thousands of copies


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def test_corpus_seeds_are_present() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}; fuzzing uses the generated seeds only")
    names = {s.name for s in corpus_seeds()}
    # every capture of the corpus, including its broken and empty ones
    assert len(names) >= 30
    assert {"corpus/broken_zero_length.pcap", "corpus/pcapng_3sections_isb_spb.pcapng"} <= names


@pytest.mark.parametrize("seed", generated_seeds(), ids=lambda s: s.name)
def test_generated_seeds_read_clean(seed, work: Path) -> None:
    """The mutators start from valid files: every generated seed reads without
    warning, and the lenient walk finds every record/block of it."""
    path = work / "seed.bin"
    path.write_bytes(seed.data)
    outcome = check_capture(path)
    assert outcome.kind == "clean" and outcome.packets > 0
    us = units(seed.data)
    assert us and us[-1].off + us[-1].length == len(seed.data)


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_mutator_changes_some_seed(op: str) -> None:
    rng = random.Random(op)
    seeds = generated_seeds()
    changed = sum(OPS[op](rng, s.data) != s.data for s in seeds for _ in range(3))
    assert changed >= len(seeds)  # a mutator that rarely mutates is a silent gap


@settings(
    max_examples=250,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(rng=st.randoms(use_true_random=False), through_cli=st.integers(0, 5))
def test_mutants_keep_the_invariants(rng: random.Random, through_cli: int, work: Path) -> None:
    """Any mutant: only the project's InputError (one line, file and byte
    offset), buckets summing to packets read, flows within tcp + udp, the same
    accounting in tiny chunks, and a result within the time limit."""
    mutant = make_mutant(rng, all_seeds(), flood_copies=FLOOD_SHORT)
    path = work / "mutant.bin"
    path.write_bytes(mutant.data)
    try:
        with time_limit(SECONDS_PER_INPUT):
            outcome = check_capture(path)
            if through_cli == 0:
                check_cli(path, work, outcome)
            elif through_cli == 1:  # and read together with a second mutant
                other = work / "mutant2.bin"
                other.write_bytes(make_mutant(rng, all_seeds(), flood_copies=FLOOD_SHORT).data)
                check_pair(path, other, (outcome, check_capture(other, chunk_check=False)))
    except (Exception, Hang) as e:
        if known_bug(e, mutant.data) is None:
            raise
        reject()  # a crash already pinned by an xfail test (see invariants.KNOWN_BUGS)


# ------------------------------------------------------------- memory
def _claims_4gb() -> dict[str, bytes]:
    """Captures whose first record/block claims (about) 4 GB, after a few good packets."""
    eth = frames()["eth"]
    good = pcap_bytes([(T0 + i, eth[i]) for i in range(3)])
    pcap_huge = good + struct.pack("<IIII", 1, 0, 0xFFFFFFFF, 0xFFFFFFFF) + b"\0" * 64
    ng = shb() + idb(1) + epb(0, T0, eth[0])
    return {
        "pcap_caplen": pcap_huge,
        "pcap_caplen_first": good[:24] + struct.pack("<IIII", 1, 0, 0xFFFFFFF0, 60) + b"\0" * 64,
        "pcapng_block_length": ng + struct.pack("<II", 6, 0xFFFFFFFC) + b"\0" * 64,
        "pcapng_block_past_eof": ng + struct.pack("<II", 6, 16 * 1024 * 1024 - 4) + b"\0" * 64,
        "pcapng_other_block": ng + struct.pack("<II", 0x0BAD, 0xFFFFFFF0) + b"\0" * 64,
        "pcapng_epb_caplen": ng
        + epb(0, T0, eth[1])[:20]
        + struct.pack("<I", 0xFFFFFFFF)
        + epb(0, T0, eth[1])[24:],
        "gzip_pcap_caplen": compress("gzip", pcap_huge),
        "zstd_pcapng_block_length": compress(
            "zstd", ng + struct.pack("<II", 6, 0xFFFFFFFC) + b"\0" * 64
        ),
    }


@pytest.mark.parametrize("name", sorted(_claims_4gb()))
def test_records_claiming_gigabytes_are_never_allocated(name: str, work: Path) -> None:
    """Peak Python/numpy allocation while reading stays far below what the
    record claims (the reader's blocks are 16 MB; 64 MB is generous)."""
    path = work / f"{name}.bin"
    path.write_bytes(_claims_4gb()[name])
    tracemalloc.start()
    try:
        with time_limit(SECONDS_PER_INPUT):
            try:
                for _ in capture_to_packets([path]):
                    pass
            except CaptureError:
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB"


# ------------------------------------------------------------- regressions found by the fuzzer
def _zstd_pcap() -> bytes:
    return compress("zstd", generated_seeds()[0].data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x28\xb5\x2f\xfd" + b"\xff" * 20, id="zstd-magic-then-junk"),
        pytest.param(_zstd_pcap() + bytes(range(8)), id="zstd-trailing-garbage"),
    ],
)
@pytest.mark.parametrize("given_as", ["file", "directory"])
def test_corrupt_zstd_is_an_input_problem(data: bytes, given_as: str, work: Path) -> None:
    """Found by the fuzzer: zstandard.ZstdError was not a decompression error
    (exit 3); also through a directory, where expand_capture_paths reads the
    head through the decompressor (fixed in f69b03a)."""
    folder = work / f"zstd_{given_as}_{len(data)}"
    folder.mkdir(exist_ok=True)
    path = folder / "corrupt.pcap.zst"
    path.write_bytes(data)
    with time_limit(SECONDS_PER_INPUT):
        if given_as == "file":
            check_capture(path)
        assert check_cli(path if given_as == "file" else folder, work) in (0, 2)


def test_packet_block_before_its_interface_block(work: Path) -> None:
    """Found by the fuzzer: accepted when the walk met the IDB later in the
    same chunk, refused in small chunks (fixed in f69b03a)."""
    eth = frames()["eth"]
    path = work / "epb_before_idb.pcapng"
    # SHB (28 bytes), then an EPB for interface 0 at byte 28, then the IDB
    path.write_bytes(shb() + epb(0, T0, eth[0]) + idb(1) + epb(0, T0 + 1, eth[1]))
    for chunk in (1 << 18, 1):
        with pytest.raises(CaptureError, match=r": byte 28: packet block for interface 0 "):
            list(capture_to_packets([path], chunk_packets=chunk))


@pytest.mark.parametrize("between", ["nothing", "icmp_error"])
def test_flows_of_times_further_apart_than_int64(between: str, work: Path) -> None:
    """Minimised from campaign input 3131 (seed 1): two ACKs of one TCP
    5-tuple 330 years apart (pcapng ticks read as int64: one before 1970,
    one after 2061) are two flows (far beyond the 5-minute idle time), in
    any chunk size. Between them: nothing, or an ICMP error quoting a UDP
    flow (which made the result chunk-dependent). Fixed in f01b584."""
    from auditor.flows import packets_to_flows

    eth = frames()["eth"]
    ack, unreach = eth[2], eth[6]
    mid = epb(0, T0, unreach) if between == "icmp_error" else b""
    data = (
        shb()
        + idb(1, tsresol=9)
        + epb(0, -7523372031854775806 % 2**64, ack)
        + mid
        + epb(0, 2899545218721258328, ack)
    )
    path = work / f"times_far_apart_{between}.pcapng"
    path.write_bytes(data)
    counts = [
        len(packets_to_flows(capture_to_packets([path], chunk_packets=c)).flows)
        for c in (1 << 18, 2, 1)
    ]
    assert counts == [2, 2, 2]


# ------------------------------------------------------------- exact oracles for two mutations
def _whole_seeds() -> list:
    """Seeds whose records/blocks the lenient walk finds up to the last byte."""
    out = []
    for s in all_seeds():
        us = units(s.data)
        if us and us[-1].off + us[-1].length == len(s.data):
            out.append(s)
    return out


def _packet_units(data: bytes) -> list:
    return [u for u in units(data) if u.data_off >= 0]


@settings(max_examples=150, derandomize=True, deadline=None, database=None)
@given(pick=st.integers(0, 10**6), cut=st.integers(0, 10**7))
def test_truncation_reads_every_whole_record_and_names_the_cut_one(
    pick: int, cut: int, work: Path
) -> None:
    """SPEC section 5: a record cut short by the end of the file is not
    counted as read, and the warning names the byte offset where it starts.
    For a valid seed cut at any offset past its file header the packets read
    are exactly the whole packet records before the cut."""
    seeds = _whole_seeds()
    seed = seeds[pick % len(seeds)]
    us = units(seed.data)
    first = 24 if seed.fmt == "pcap" else us[0].length  # shorter: refused (file header cut)
    cut = first + cut % (len(seed.data) - first + 1)
    path = work / "cut.bin"
    path.write_bytes(seed.data[:cut])
    stream = capture_to_packets([path])
    n = sum(len(b) for b in stream)
    whole = [u for u in _packet_units(seed.data) if u.off + u.length <= cut]
    assert n == stream.counts["read"] == len(whole)
    straddling = [u for u in us if u.off < cut < u.off + u.length]
    if not straddling:
        assert stream.warnings == []
    else:
        assert len(stream.warnings) == 1
        assert (
            f"{path}: byte {straddling[0].off}: file ends in the middle of a " in stream.warnings[0]
        )


@settings(max_examples=150, derandomize=True, deadline=None, database=None)
@given(
    pick=st.integers(0, 10**6),
    which=st.integers(0, 10**6),
    claim=st.sampled_from(
        [0xFFFFFFFF, 0xFFFFFFF0, 0x80000000, 16 * 1024 * 1024 + 4, 256 * 1024 + 4]
    ),
)
def test_absurd_length_stops_at_that_record(pick: int, which: int, claim: int, work: Path) -> None:
    """A packet record/block claiming more than the reader's cap: the packets
    before it are read; a warning (or, with none before, the error) names its
    byte offset; nothing of that size is allocated (see the memory test)."""
    seeds = [s for s in _whole_seeds() if _packet_units(s.data)]
    seed = seeds[pick % len(seeds)]
    pus = _packet_units(seed.data)
    k = which % len(pus)
    u = pus[k]
    field = u.off + (8 if u.btype == -1 else 4)  # pcap captured length / pcapng block total length
    data = seed.data[:field] + struct.pack(u.endian + "I", claim) + seed.data[field + 4 :]
    path = work / "absurd.bin"
    path.write_bytes(data)
    before = k
    stream = capture_to_packets([path])
    if u.btype != -1 and claim <= 320 * 1024:
        # within the pcapng packet-block cap (a record plus 64 KiB of options):
        # a block running past the end of the file, read as a cut-short file
        assert sum(len(b) for b in stream) == before
        expected = f"{path}: byte {u.off}: file ends in the middle of a block; audited the {before} packets before it"
        assert stream.warnings == [expected]
        return
    if before == 0:
        with pytest.raises(CaptureError) as err:
            list(stream)
        assert err.value.line().startswith(f"{path}: byte {u.off}: ")
        return
    assert sum(len(b) for b in stream) == stream.counts["read"] == before
    assert len(stream.warnings) == 1 and stream.warnings[0].startswith(f"{path}: byte {u.off}: ")


def test_many_small_sections_read_in_linear_time(work: Path) -> None:
    """Found by the flood mutation: 6000 sections of one interface and one
    packet (0.8 MB) took 9 s (4000: 5 s, 16000: 45 s); a 20 MB file of them
    would take hours. Linear work reads it in well under a second (fixed in
    3af88e0)."""
    unit = shb() + idb(1) + epb(0, T0, frames()["eth"][0])
    path = work / "many_sections.pcapng"
    path.write_bytes(unit * 6000)
    with time_limit(3):
        stream = capture_to_packets([path])
        assert sum(len(b) for b in stream) == 6000


@pytest.mark.parametrize("keep", [10, 0.5])
def test_cut_short_zstd_is_not_reported_as_a_zero_magic(keep: float, work: Path) -> None:
    """The file holds no zero magic: the error must say the zstd data ends
    early (as gzip, bzip2 and xz do), not describe bytes that are not there."""
    z = _zstd_pcap()
    path = work / "cut.pcap.zst"
    path.write_bytes(z[: int(keep if keep >= 1 else len(z) * keep)])
    with pytest.raises(CaptureError) as err:
        list(capture_to_packets([path]))
    line = err.value.line()
    assert line.startswith(f"{path}: byte 0: ") and "zstd" in line
    assert "magic 0x00000000" not in line


def test_one_damaged_file_gives_one_error_alone_or_with_others(work: Path) -> None:
    """Found by the campaign (seed 1, input 15905, read as a pair): a bzip2
    file whose first block's CRC is wrong and whose content is not a capture
    is refused with the same line whether it is read alone or beside a good
    capture."""
    import bz2

    payload = bytes(range(256)) * 512  # 128 KiB, not a capture
    z = bytearray(bz2.compress(payload, 9))
    z[10] ^= 0xFF  # the first block's stored CRC (after "BZh9" and the block magic)
    bad = work / "bad_crc.bin"
    bad.write_bytes(bytes(z))
    good = work / "good.pcap"
    good.write_bytes(generated_seeds()[0].data)
    lines = []
    for paths in ([bad], [bad, good]):
        with pytest.raises(CaptureError) as err:
            list(capture_to_packets(paths))
        lines.append(err.value.line())
    assert lines[0].startswith(f"{bad}: byte 0: ")
    assert lines[1] == lines[0]


def test_icmp_error_without_any_flow(work: Path) -> None:
    """Found by the campaign (seed 4, input 5365): a capture whose only packet
    is an ICMP port unreachable quoting a UDP exchange has no flow, one
    unmatched ICMP error, and exits 0 from ``zvr-audit flows``."""
    from auditor.flows import packets_to_flows

    path = work / "only_icmp_error.pcap"
    path.write_bytes(pcap_bytes([(T0, frames()["eth"][6])]))
    table = packets_to_flows(capture_to_packets([path]))
    assert len(table.flows) == 0 and table.unmatched_icmp_errors == 1
    assert check_cli(path, work) == 0


def test_unsupported_link_warnings_do_not_depend_on_the_chunk_size(work: Path) -> None:
    """Found by the campaign (seed 5, input 19848): two interfaces with link
    types the reader does not decode (9832, then 147) give the same warnings
    in the same order whatever the chunk size."""
    eth = frames()["eth"]
    path = work / "two_unsupported_links.pcapng"
    path.write_bytes(shb() + idb(9832) + idb(147) + epb(0, T0, eth[0]) + epb(1, T0 + 1, eth[1]))
    warnings = []
    for chunk in (1 << 18, 1):
        stream = capture_to_packets([path], chunk_packets=chunk)
        list(stream)
        warnings.append(stream.warnings)
    assert len(warnings[0]) == 2 and warnings[0] == warnings[1]

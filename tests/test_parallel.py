"""--jobs and --dask give exactly the single-process results (issue 4).

The captures are ring-buffer style: one scenario cut into segments whose
connections span several files, named so that name order is not time order.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scapy.utils import PcapWriter, rdpcap

from auditor import pipeline
from auditor.errors import CaptureError
from auditor.simulate import simulate

SEGMENTS = 6


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("ring")
    whole, inventory = work / "whole.pcap", work / "inventory.yaml"
    simulate("demo", whole, inventory, seed=3)
    packets = rdpcap(str(whole))
    folder = work / "segments"
    folder.mkdir()
    per = -(-len(packets) // SEGMENTS)
    for i in range(SEGMENTS):
        # names in reverse time order: the reader must order by first packet
        with PcapWriter(str(folder / f"seg-{SEGMENTS - i:02d}.pcap"), sync=True) as out:
            for pkt in packets[i * per : (i + 1) * per]:
                out.write(pkt)
    return folder, inventory


def _comparable(result: pipeline.AuditResult) -> str:
    report = dict(result.report)
    report.pop("generated_at")
    return json.dumps(report, sort_keys=True)


def test_jobs_give_identical_reports_and_flows(ring: tuple[Path, Path]) -> None:
    folder, inventory = ring
    one = pipeline.audit([folder], inventory, include_flows=True, jobs=1)
    two = pipeline.audit([folder], inventory, include_flows=True, jobs=2)
    assert len(one.report["inputs"]["captures"]) == SEGMENTS
    assert one.report["summary"]["flows"] > 0 and one.report["findings"]
    assert _comparable(one) == _comparable(two)
    assert one.verdicts.flows.equals(two.verdicts.flows)
    assert one.flow_table.activity.equals(two.flow_table.activity)


def test_segments_audit_like_the_whole_capture(ring: tuple[Path, Path]) -> None:
    """Cutting a capture into segments changes nothing but the inputs list."""
    folder, inventory = ring
    whole = pipeline.audit([folder.parent / "whole.pcap"], inventory, jobs=1)
    parts = pipeline.audit([folder], inventory, jobs=2)
    for key in ("summary", "findings", "coverage", "packets"):
        assert whole.report[key] == parts.report[key], key


def test_damaged_segment_is_the_same_error_in_parallel(ring: tuple[Path, Path], tmp_path: Path) -> None:
    folder, inventory = ring
    bad = tmp_path / "segments"
    bad.mkdir()
    for f in folder.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / "seg-03.pcap").write_bytes((folder / "seg-03.pcap").read_bytes()[:30])
    seen = []
    for jobs in (1, 2):
        result = pipeline.audit([bad], inventory, jobs=jobs)
        seen.append((result.report["warnings"], result.report["packets"]))
    assert seen[0] == seen[1]
    assert any("seg-03.pcap" in w for w in seen[0][0])
    (bad / "seg-04.pcap").write_bytes(b"not a capture at all, just text")
    errors = []
    for jobs in (1, 2):
        with pytest.raises(CaptureError) as info:
            pipeline.audit([bad / "seg-04.pcap", bad / "seg-05.pcap"], inventory, jobs=jobs)
        errors.append(str(info.value))
    assert errors[0] == errors[1] and "seg-04.pcap" in errors[0]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_dask_cluster_gives_identical_results(ring: tuple[Path, Path]) -> None:
    distributed = pytest.importorskip("distributed", reason="the 'dask' extra is not installed")
    folder, inventory = ring
    local = pipeline.audit([folder], inventory, include_flows=True, jobs=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        remote = pipeline.audit([folder], inventory, include_flows=True,
                                dask=cluster.scheduler_address)
    assert _comparable(local) == _comparable(remote)
    assert local.verdicts.flows.equals(remote.verdicts.flows)


# ---------------------------------------------------------------- what --jobs N uses
def _threads_started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the threads started from now on (the test's own process)."""
    import threading

    started: list[str] = []
    original = threading.Thread.start

    def start(self: threading.Thread) -> None:
        started.append(self.name)
        original(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    return started


def test_jobs_1_runs_everything_on_the_calling_thread(
    ring: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--jobs 1 is one core: no hash thread, no prefetch thread, no worker."""
    folder, inventory = ring
    started = _threads_started(monkeypatch)
    result = pipeline.audit([folder], inventory, jobs=1)
    table, _ = pipeline.flows([folder.parent / "whole.pcap"], jobs=1)
    assert result.report["summary"]["flows"] > 0 and len(table.flows) > 0
    assert started == []


def test_jobs_2_overlaps_hashing_and_decoding_with_flows(
    ring: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, inventory = ring
    started = _threads_started(monkeypatch)
    pipeline.audit([folder.parent / "whole.pcap"], inventory, jobs=2)
    assert any(n.startswith("sha256") for n in started) and "capture-reader" in started


@pytest.mark.parametrize("jobs", [0, 2, 3])
def test_one_file_gives_the_same_results_with_and_without_threads(
    ring: tuple[Path, Path], jobs: int
) -> None:
    whole, inventory = ring[0].parent / "whole.pcap", ring[1]
    one = pipeline.audit([whole], inventory, include_flows=True, jobs=1)
    many = pipeline.audit([whole], inventory, include_flows=True, jobs=jobs)
    assert _comparable(one) == _comparable(many)
    assert one.verdicts.flows.equals(many.verdicts.flows)


# ---------------------------------------------------------------- sha256
@pytest.fixture(scope="module")
def hash_cases(ring: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Captures whose sha256 is easy to get wrong: compressed (the hash is of
    the compressed bytes), damaged part-way (the bytes after the damage are
    hashed too) and cut inside a record."""
    import gzip
    import struct

    folder = tmp_path_factory.mktemp("hash-cases")
    whole = (ring[0].parent / "whole.pcap").read_bytes()
    (folder / "a-plain.pcap").write_bytes(whole)
    (folder / "b-gzip.pcap.gz").write_bytes(gzip.compress(whole, mtime=0))
    absurd = struct.pack("<IIII", 2**31 - 1, 0, 0xFFFFFFF0, 60) + b"\xaa" * 70000
    (folder / "c-damaged.pcap").write_bytes(whole + absurd)
    (folder / "d-cut.pcap").write_bytes(whole[:-7])
    return folder


@pytest.mark.parametrize("jobs", [1, 2])
def test_audit_sha256_is_of_every_byte_of_the_file(
    ring: tuple[Path, Path], hash_cases: Path, jobs: int
) -> None:
    """The report's sha256 is hashlib's of the file as stored, on one thread
    (--jobs 1), with the hash thread (one file, --jobs 2) and in worker
    processes (a directory, --jobs 2)."""
    import hashlib

    files = sorted(hash_cases.iterdir())
    expected = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    for captures in ([[f] for f in files] + [[hash_cases]]):
        result = pipeline.audit(captures, ring[1], jobs=jobs)
        got = {c["path"]: c["sha256"] for c in result.report["inputs"]["captures"]}
        assert got == {p: expected[p] for p in got}, captures
        assert len(got) == (len(files) if captures == [hash_cases] else 1)


@pytest.mark.parametrize("jobs", [1, 2])
def test_flows_skip_the_hash_and_give_the_same_flows(
    ring: tuple[Path, Path], hash_cases: Path, jobs: int
) -> None:
    """`flows` shows no sha256, so it hashes nothing; its flows and counts are
    those of the hashing reader."""
    from auditor.capture import capture_to_packets
    from auditor.flows import packets_to_flows
    from auditor.ruleset import effective_rules, load_rulesets, rule_ports

    ports = rule_ports(effective_rules(load_rulesets(None, "zvr-legacy"), None))
    for captures in ([ring[0]], [hash_cases]):
        table, stream = pipeline.flows(captures, jobs=jobs)
        hashed = capture_to_packets(captures, sha256=True)
        reference = packets_to_flows(iter(hashed), ports)
        assert len(table.flows) > 0
        assert table.flows.equals(reference.flows)
        assert stream.counts == hashed.counts and stream.warnings == hashed.warnings
        assert [c["sha256"] for c in stream.captures] == [None] * len(hashed.captures)
        unhashed = [{k: v for k, v in c.items() if k != "sha256"} for c in stream.captures]
        assert unhashed == [{k: v for k, v in c.items() if k != "sha256"} for c in hashed.captures]


@pytest.mark.parametrize("threads", [True, False])
@pytest.mark.parametrize("sha256", [True, False])
def test_file_reader_batches_do_not_depend_on_hashing(hash_cases: Path, threads: bool, sha256: bool) -> None:
    """Small blocks, so buffers are reused while (threaded) hashes of them may
    still be running."""
    import hashlib

    from auditor.capture.reader import FileReader

    for path in sorted(hash_cases.iterdir()):
        ref = FileReader(path, chunk_packets=7, block_bytes=1 << 12)
        want = list(ref.batches())
        reader = FileReader(path, chunk_packets=7, block_bytes=1 << 12, threads=threads, sha256=sha256)
        got = list(reader.batches())
        assert len(got) == len(want)
        for a, b in zip(got, want):
            assert (a.ts_ns == b.ts_ns).all() and (a.sport == b.sport).all() and (a.bucket == b.bucket).all()
        assert reader.packets == ref.packets and reader.warnings == ref.warnings
        assert reader.sha256 == (hashlib.sha256(path.read_bytes()).hexdigest() if sha256 else None)


def test_negative_jobs_is_a_usage_error(ring: tuple[Path, Path]) -> None:
    from auditor.errors import UsageError

    with pytest.raises(UsageError, match="--jobs -1"):
        pipeline.flows([ring[0]], jobs=-1)


def test_workers_start_early_and_stop_when_the_stream_is_closed_unread(ring: tuple[Path, Path]) -> None:
    """The pipeline starts the workers before it imports the flow stage; a
    stream started and then closed (an error in between) stops its workers."""
    import multiprocessing

    from auditor.capture import capture_to_packets, expand_capture_paths
    from auditor.capture.parallel import ParallelCaptureStream, capture_to_packets_parallel

    paths = expand_capture_paths([ring[0]])
    stream = capture_to_packets_parallel(paths, jobs=2)
    assert isinstance(stream, ParallelCaptureStream)
    stream.start()
    stream.start()  # once is enough
    early = list(stream)
    plain = capture_to_packets([ring[0]])
    late = list(plain)
    assert len(early) == len(late) and all((a.ts_ns == b.ts_ns).all() for a, b in zip(early, late))
    assert stream.captures == plain.captures and stream.counts == plain.counts

    # this stream's own workers: other streams' may still be on their way out
    before = set(multiprocessing.active_children())
    unread = capture_to_packets_parallel(paths, jobs=2)
    unread.start()
    workers = [p for p in multiprocessing.active_children() if p not in before]
    assert workers  # started before anything was read
    unread.close()
    unread.close()
    for worker in workers:
        worker.join(timeout=60)
    assert not any(worker.is_alive() for worker in workers)


@pytest.mark.parametrize("threads", [True, False])
def test_hashing_file_hashes_every_byte_in_order_however_it_is_read(threads: bool) -> None:
    """Pieces into numpy buffers (reused after ``reclaim``), into a bytearray,
    and ``read`` calls, interleaved; the run handed to the hash thread must
    never skip or repeat a byte."""
    import hashlib
    import io

    import numpy as np

    from auditor.capture import source

    data = bytes(range(256)) * 40000  # ~10 MB: several runs of HASH_RUN_BYTES
    hf = source.HashingFile(io.BytesIO(data), threads=threads)
    bufs = [np.zeros(3 << 20, np.uint8), np.zeros(3 << 20, np.uint8)]
    got = []
    for step in range(100):
        buf = bufs[step % 2]
        hf.reclaim(buf)
        n = 0
        for piece in (1000, 250_000, 7, 2_000_000):  # pieces of one buffer, contiguous
            k = hf.readinto(buf.data[n : n + piece])
            got.append(bytes(buf[n : n + k]))
            n += k
        extra = bytearray(5000)
        k = hf.readinto(extra)
        got.append(bytes(extra[:k]))
        got.append(hf.read(3333))
        if not k:
            break
    assert b"".join(got) == data
    assert hf.drain() == hashlib.sha256(data).hexdigest()
    hf.close()

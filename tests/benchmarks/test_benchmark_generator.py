"""Smoke tests of the benchmark's capture generator (benchmarks/generate.py):
the numpy-written pcap is a valid capture scapy reads back, with the packet
count, lengths and header fields the benchmark relies on. No timing here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Dot1Q
from scapy.plist import PacketList
from scapy.utils import RawPcapReader, rdpcap

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # benchmarks/ is not part of the installed package
    sys.path.insert(0, str(REPO))

from benchmarks import generate
from benchmarks.__main__ import Capture, Result, render

N = 2001


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> generate.Generated:
    out = tmp_path_factory.mktemp("bench") / "zvr.pcap"
    return generate.write_capture(out, N, cut=500, inventory_out=out.with_suffix(".yaml"))


@pytest.fixture(scope="module")
def packets(capture: generate.Generated) -> PacketList:
    return rdpcap(str(capture.path))


def test_scapy_reads_every_packet_with_wire_lengths(
    capture: generate.Generated, packets: PacketList
) -> None:
    assert len(packets) == N == capture.packets
    assert sum(p.wirelen for p in packets) == capture.wire_bytes
    for i, p in enumerate(packets):
        ip = p[IP]
        tags = 4 if p.haslayer(Dot1Q) else 0
        assert p.wirelen == len(p) == max(60, 14 + tags + ip.len)
        if i % 10 and not tags:
            continue
        # the generator's IPv4 header checksum equals the one scapy computes
        rebuilt = ip.copy()
        del rebuilt.chksum
        assert IP(bytes(rebuilt)).chksum == ip.chksum


def test_the_mix_has_what_the_benchmark_promises(packets: PacketList) -> None:
    tcp = [p for p in packets if p.haslayer(TCP)]
    udp = [p for p in packets if p.haslayer(UDP)]
    assert len(tcp) + len(udp) == N
    bulk = [p for p in tcp if 4008 in (p[TCP].sport, p[TCP].dport) and p.wirelen == 1514]
    assert len(bulk) > N / 2  # full-size replication segments dominate
    flags = {str(p[TCP].flags) for p in tcp}
    assert {"S", "SA", "A", "PA", "FA", "RA"} <= flags
    # SYNs that get no answer: 4008 to the stale recovery-VRA address
    stale = [p for p in tcp if p[IP].dst == "10.20.2.99"]
    assert stale and all(str(p[TCP].flags) == "S" for p in stale)
    assert not any(p[IP].src == "10.20.2.99" for p in packets)
    ports = {p[UDP].dport for p in udp} | {p[UDP].sport for p in udp}
    assert {53, 123} <= ports
    tagged = [p for p in packets if p.haslayer(Dot1Q)]
    assert 0 < len(tagged) < N / 10 and {p[Dot1Q].vlan for p in tagged} == {20}
    times = [p.time for p in packets]
    assert times == sorted(times)


def test_cut_is_the_first_records(capture: generate.Generated) -> None:
    assert capture.cut_path is not None and capture.cut_packets == 500
    assert len(rdpcap(str(capture.cut_path))) == 500
    assert capture.path.read_bytes().startswith(capture.cut_path.read_bytes())


def test_snaplen_cuts_records_and_keeps_original_lengths(
    capture: generate.Generated, tmp_path: Path
) -> None:
    snap = generate.write_capture(tmp_path / "snap.pcap", N, snaplen=128)
    with RawPcapReader(str(capture.path)) as reader:
        full = [(meta.caplen, meta.wirelen) for _, meta in reader]
    with RawPcapReader(str(snap.path)) as reader:
        cut = [(len(data), meta.caplen, meta.wirelen) for data, meta in reader]
    assert len(cut) == N
    assert [w for _, _, w in cut] == [w for _, w in full]
    assert all(n == c == min(w, 128) for n, c, w in cut)
    assert any(w > 128 for _, _, w in cut)


def test_same_seed_same_bytes(capture: generate.Generated, tmp_path: Path) -> None:
    again = generate.write_capture(tmp_path / "again.pcap", N)
    other = generate.write_capture(tmp_path / "other.pcap", N, seed=1)
    assert again.path.read_bytes() == capture.path.read_bytes()
    assert other.path.read_bytes() != capture.path.read_bytes()


def test_inventory_loads_and_names_the_capture_hosts(capture: generate.Generated) -> None:
    from auditor.inventory import load_inventory

    assert capture.inventory_path is not None
    inv = load_inventory(capture.inventory_path)
    assert len(inv.hosts) == len(generate.benchmark_hosts())
    names = {h.name for h in inv.hosts}
    assert {"zvm-prod", "zvm-dr", "vc-prod", "vra-prod-1", "vra-dr-4", "esx-dr-1"} <= names


def test_too_few_packets_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1000"):
        generate.write_capture(tmp_path / "x.pcap", 10)


def test_target_table_passes_and_fails_on_ratios(tmp_path: Path) -> None:
    cap_file = tmp_path / "c.pcap"
    cap_file.write_bytes(b"\0" * 100)
    cap = Capture("full-size frames", cap_file, cap_file, cap_file, 1000, 100, 65535)

    def res(tool: str, kind: str, seconds: float, packets: int = 1000) -> Result:
        return Result(tool, kind, "full", packets, 100, seconds, 10.0, runs=1, cpu_seconds=seconds)

    results = [
        res("C libpcap pcap_next_ex count", "anchor", 0.5),
        res("zvr-audit flows", "zvr", 1.0),
        res("zvr-audit audit", "zvr", 2.5),
        res("argus + racluster", "anchor", 1.0),
        res("scapy RawPcapReader + struct", "anchor", 0.4, packets=100),  # on a cut: 4 s per 1000
    ]
    table = render(cap, results)
    rows = {line.split("|")[2].strip(): line for line in table.splitlines() if line.startswith(("| 2 |", "| 4 |"))}
    assert "PASS" in rows["flows >= 3x scapy"] and "4.00x" in rows["flows >= 3x scapy"]
    assert "PASS" in rows["flows >= argus + racluster"]
    assert "FAIL" in rows["audit within 4x of the C libpcap loop"]  # 5x the C loop's time
    assert "FAIL" in rows["audit >= 3x argus + racluster"]
    assert "FAIL" in rows["audit >= 10x scapy"] and "1.60x" in rows["audit >= 10x scapy"]


def test_segments_are_the_capture_cut_at_record_boundaries(
    capture: generate.Generated, tmp_path: Path
) -> None:
    from benchmarks.segments import split_capture

    segments = split_capture(capture.path, 8, tmp_path / "seg")
    assert [s.name for s in segments] == [f"seg-{i:02d}.pcap" for i in range(1, 9)]
    def records(path: Path) -> list:
        with RawPcapReader(str(path)) as reader:
            return list(reader)

    whole = records(capture.path)
    parts = [rec for seg in segments for rec in records(seg)]
    assert [data for data, _ in parts] == [data for data, _ in whole]
    assert [(m.sec, m.usec, m.wirelen) for _, m in parts] == [(m.sec, m.usec, m.wirelen) for _, m in whole]
    sizes = [s.stat().st_size for s in segments]
    assert max(sizes) < 2 * min(sizes)


def test_parallel_table_passes_at_1_6x_and_needs_identical_reports(tmp_path: Path) -> None:
    from benchmarks.__main__ import Run, parallel_table

    cap_file = tmp_path / "c.pcap"
    cap_file.write_bytes(b"\0" * 100)
    cap = Capture("full-size frames", cap_file, cap_file, cap_file, 1000, 100, 65535)

    def run(seconds: float) -> Run:
        return Run(seconds, seconds * 1.5, 100.0, 0, "", "")

    def row(text: str) -> str:
        return next(line for line in text.splitlines() if line.startswith("| 4 |"))

    assert "1.60x | PASS" in row(parallel_table(8, cap, {1: run(3.2), 2: run(2.0)}, True, ""))
    assert "1.50x | FAIL" in row(parallel_table(8, cap, {1: run(3.0), 2: run(2.0)}, True, ""))
    assert "FAIL" in row(parallel_table(8, cap, {1: run(4.0), 2: run(2.0)}, False, ""))
    assert "NOT MEASURED" in row(parallel_table(8, cap, {1: run(3.0), 2: None}, None, ""))

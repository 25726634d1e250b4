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

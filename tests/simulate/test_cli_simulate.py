"""`zvr-audit simulate` end to end, in process (SPEC section 2), and the
simulated capture audited by `zvr-audit audit` with the inventory it wrote."""

from __future__ import annotations

import io
import json

from auditor.cli import main
from auditor.simulate import SCENARIOS


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_lists_every_scenario_with_its_description():
    code, out, err = run("simulate")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == len(SCENARIOS)
    for line, (name, s) in zip(lines, SCENARIOS.items()):
        assert line.split()[0] == name and line.endswith(s.description)


def test_writes_capture_and_inventory_then_audits_them(tmp_path):
    cap, inv, report = tmp_path / "x.pcap", tmp_path / "inv.yaml", tmp_path / "r.json"
    code, out, err = run("simulate", "4008-stale-vra", "-o", str(cap), "--inventory-out", str(inv))
    assert code == 0 and err == ""
    assert cap.read_bytes()[:4] == b"\xd4\xc3\xb2\xa1" and inv.read_text().startswith("#")
    code, out, err = run(
        "audit", str(cap), "--inventory", str(inv), "--json", str(report), "--quiet"
    )
    assert out == ""  # --quiet: nothing on stdout
    assert code == 1, err  # a finding at or above the default --fail-on low
    findings = json.loads(report.read_text())["findings"]
    assert [(f["kind"], f["server"]["ip"], f["port"]) for f in findings] == [
        ("misdirected", "10.20.2.99", 4008)
    ]
    code, *_ = run("audit", str(cap), "--inventory", str(inv), "--quiet", "--fail-on", "critical")
    assert code == 0  # the finding is high, below critical


def test_unknown_scenario_exits_2_with_one_line(tmp_path):
    code, out, err = run("simulate", "nope", "-o", str(tmp_path / "x.pcap"))
    assert code == 2 and out == ""
    assert err.startswith("zvr-audit: unknown scenario 'nope' (known: healthy-two-site")
    assert err.count("\n") == 1 and "Traceback" not in err

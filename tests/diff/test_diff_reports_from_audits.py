"""Diff of real reports: simulator scenarios audited by the pipeline."""

from __future__ import annotations

import io
import json

import pytest

from auditor.diff import diff_exit_status, reports_to_diff

simulate = pytest.importorskip("auditor.simulate", reason="the simulator has not landed yet")
pipeline = pytest.importorskip("auditor.pipeline", reason="the pipeline has not landed yet")


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    d = tmp_path_factory.mktemp("diff-audits")
    out = {}
    for name in ("healthy-two-site", "4008-refused"):
        cap, inv = d / f"{name}.pcap", d / f"{name}.yaml"
        simulate.simulate(name, cap, inv)
        report = pipeline.audit([cap], inv).report
        path = d / f"{name}.json"
        path.write_text(json.dumps(report), encoding="utf-8")
        out[name] = path
    return out


def test_reports_validate(reports, validate):
    for path in reports.values():
        validate(json.loads(path.read_text(encoding="utf-8")))


def test_refused_4008_shows_as_new_blocked_findings(reports):
    d = reports_to_diff(reports["healthy-two-site"], reports["4008-refused"])
    new = d["findings"]["new"]
    assert new and {(f["kind"], f["port"]) for f in new} == {("blocked", 4008)}
    assert d["findings"]["resolved"] == []
    assert d["inputs"]["inventory"]["same"] and d["inputs"]["rules"]["same"]
    assert d["warnings"] == [] and not d["inputs"]["captures"]["same"]
    assert any(
        c["rule"] == "vra-data" and c["before"] == "met" and c["after"] == "blocked"
        for c in d["coverage"]
    )
    assert diff_exit_status(d) == 1
    back = reports_to_diff(reports["4008-refused"], reports["healthy-two-site"])
    assert len(back["findings"]["resolved"]) == len(new) and diff_exit_status(back) == 0


def test_cli_diff_exit_codes(reports, tmp_path):
    cli = pytest.importorskip("auditor.cli")
    out, err = io.StringIO(), io.StringIO()
    assert (
        cli.main(["diff", str(reports["healthy-two-site"]), str(reports["4008-refused"])], out, err)
        == 1
    )
    assert "New findings (" in out.getvalue() and err.getvalue() == ""
    out = io.StringIO()
    assert (
        cli.main(
            ["diff", str(reports["4008-refused"]), str(reports["4008-refused"])], out, io.StringIO()
        )
        == 0
    )
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "zvr-audit/report/v0"}', encoding="utf-8")
    err = io.StringIO()
    assert cli.main(["diff", str(bad), str(reports["4008-refused"])], io.StringIO(), err) == 2
    assert (
        err.getvalue()
        .strip()
        .endswith(
            f"{bad}: not a zvr-audit v1 report (schema is 'zvr-audit/report/v0', expected 'zvr-audit/report/v1')"
        )
    )

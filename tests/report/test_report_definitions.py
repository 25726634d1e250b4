"""Every code a report writes is documented once, and the codes are the schema's."""

from __future__ import annotations

from report_builders import schema

from auditor.model import Severity
from auditor.report import definitions
from auditor.tables import CONN_STATES
from auditor.verdicts import CoverageStatus, FindingKind, Verdict


def test_codes_are_the_schemas():
    s = schema()
    finding = s["properties"]["findings"]["items"]["properties"]
    flow = s["properties"]["flows"]["items"]["properties"]
    coverage = s["properties"]["coverage"]["items"]["properties"]
    assert [k.value for k in FindingKind] == finding["kind"]["enum"]
    assert [v.value for v in Severity] == finding["severity"]["enum"]
    assert {v.value for v in Verdict} == set(flow["verdict"]["enum"])
    assert [c.value for c in CoverageStatus] == coverage["status"]["enum"]
    assert list(CONN_STATES) == flow["conn_state"]["enum"]
    summary = s["properties"]["summary"]["properties"]
    assert set(summary["verdicts"]["required"]) == {v.value for v in Verdict} - {"out_of_scope"}


def test_every_code_has_one_meaning():
    assert set(definitions.VERDICT_DOCS) == {v.value for v in Verdict}
    assert set(definitions.FINDING_KIND_DOCS) == {k.value for k in FindingKind}
    assert set(definitions.COVERAGE_STATUS_DOCS) == {c.value for c in CoverageStatus}
    assert set(definitions.SEVERITY_DOCS) == {s.value for s in Severity}
    for table in definitions.GLOSSARY.values():
        assert table and all(isinstance(v, str) and v.strip() for v in table.values())

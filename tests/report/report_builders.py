"""Reports built from small flow tables, and the schema check every test uses."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest
from verdict_builders import (
    bundled_rules,
    bundled_rulesets,
    flow,
    flow_table,
    healthy_two_site,
    inventory,
)

from auditor.report.json_report import verdicts_to_report
from auditor.verdicts import flows_to_verdicts

SCHEMA_PATH = Path(__file__).resolve().parents[2] / ".." / "shared" / "schema" / "report-v1.json"


def schema() -> dict:
    if not SCHEMA_PATH.exists():
        pytest.skip(
            f"shared schema not found at {SCHEMA_PATH} (needs ../shared beside the repository)"
        )
    return json.loads(SCHEMA_PATH.read_text())


def validate(report: dict) -> None:
    """Schema v1 (Draft 2020-12), after a JSON round trip (no numpy types)."""
    doc = json.loads(json.dumps(report))
    assert doc == report
    validator = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    # every time is ISO-8601 in UTC (the format checker may lack its helper package)
    times = [doc["generated_at"]]
    times += [c[k] for c in doc["inputs"]["captures"] for k in ("first_ts", "last_ts")]
    times += [f[k] for f in doc["findings"] for k in ("first_seen", "last_seen")]
    times += [f[k] for f in doc.get("flows", ()) for k in ("first_ts", "last_ts")]
    for t in times:
        if t is not None:
            assert t.endswith("Z") and dt.datetime.fromisoformat(t).utcoffset() == dt.timedelta(
                0
            ), t


CAPTURE = {
    "path": "captures/site.pcapng",
    "sha256": "a" * 64,
    "format": "pcapng",
    "compression": None,
    "link_types": ["EN10MB"],
    "packets": 120,
    "bytes": 54_000,
    "first_ts": "2024-05-01T12:00:00.000000Z",
    "last_ts": "2024-05-01T12:05:00.000000Z",
    "first_ts_ns": 1_714_564_800_000_000_000,
    "last_ts_ns": 1_714_565_100_000_000_000,
    "skipped_blocks": 0,
}
COUNTS = {"read": 120, "tcp": 100, "udp": 12, "icmp": 3, "non_ip": 5}


def troubled_rows() -> list:
    """Every kind of finding once: 9081 missing, 4007 blocked, 443 reversed,
    4008 misdirected, 3389 unexpected, plus an out-of-scope flow."""
    return [r for r in healthy_two_site() if ":9081" not in r and ":4007" not in r] + [
        flow("10.10.2.11:50000 > 10.20.2.11:4007 tcp S0", syns=3, dur=7),
        "10.10.0.5:50000 > 10.10.0.10:443 tcp SF",
        flow("10.10.2.11:50001 > 10.20.2.99:4008 tcp S0", syns=3, dur=7),
        "10.99.0.7:50000 > 10.10.0.10:3389 tcp SF",
        "192.0.2.1:5000 > 198.51.100.2:80 tcp SF",
        "10.20.0.10:50009 > 10.10.0.10:9999 tcp OTH",
    ]


def make_report(
    rows=None,
    *,
    include_flows=False,
    inv=None,
    rules=None,
    captures=None,
    counts=None,
    warnings=("captures/site.pcapng: byte 53980: record cut short",),
    generated_at=None,
    extra_seen=(),
):
    inv = inv or inventory()
    verdicts = flows_to_verdicts(
        flow_table(troubled_rows() if rows is None else rows, list(extra_seen)),
        inv,
        rules or bundled_rules(),
    )
    return verdicts_to_report(
        captures=captures or [CAPTURE],
        counts=COUNTS if counts is None else counts,
        warnings=list(warnings),
        inventory=inv,
        rulesets=bundled_rulesets(),
        verdicts=verdicts,
        include_flows=include_flows,
        generated_at=generated_at,
    )

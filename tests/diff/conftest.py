"""Report dicts for diff tests, valid against the shared schema v1."""

from __future__ import annotations

import copy

import pytest

SHA_A = "a" * 64
SHA_B = "b" * 64
SHA_INV = "1" * 64
SHA_RULES = "2" * 64
SHA_INFRA = "3" * 64


def end(ip=None, host=None, role=None, site=None) -> dict:
    return {"ip": ip, "host": host, "role": role, "site": site}


def finding(
    kind="blocked",
    severity="critical",
    rule="vra-data",
    client=None,
    server=None,
    port=4008,
    proto="tcp",
    flows=3,
    packets=9,
    bytes_=540,
    detail="4008 from vra-prod-1 to vra-dr-1: no answer.",
) -> dict:
    return {
        "kind": kind,
        "severity": severity,
        "rule": rule,
        "client": client or end("10.10.2.11", "vra-prod-1", "vra", "prod"),
        "server": server or end("10.20.2.11", "vra-dr-1", "vra", "dr"),
        "port": port,
        "proto": proto,
        "flows": flows,
        "packets": packets,
        "bytes": bytes_,
        "first_seen": None if kind == "missing" else "2026-01-01T00:00:00.000000Z",
        "last_seen": None if kind == "missing" else "2026-01-01T00:00:07.000000Z",
        "detail": detail,
    }


def report(
    findings=(),
    coverage=(),
    captures=(("cap1.pcap", SHA_A),),
    inventory_sha=SHA_INV,
    rules=(("zvr-legacy", 1, SHA_RULES), ("infrastructure", 1, SHA_INFRA)),
    version="0.1.0",
    flows=100,
) -> dict:
    counts = {k: 0 for k in ("missing", "blocked", "reversed", "misdirected", "unexpected")}
    for f in findings:
        counts[f["kind"]] += 1
    return {
        "schema": "zvr-audit/report/v1",
        "tool": {"name": "zvr-audit", "version": version},
        "generated_at": "2026-01-01T01:00:00Z",
        "inputs": {
            "captures": [
                {
                    "path": p,
                    "sha256": s,
                    "format": "pcap",
                    "compression": None,
                    "link_types": ["EN10MB"],
                    "packets": 1000,
                    "bytes": 100000,
                    "first_ts": "2026-01-01T00:00:00.000000Z",
                    "last_ts": "2026-01-01T00:10:00.000000Z",
                }
                for p, s in captures
            ],
            "inventory": {"path": "inventory.yaml", "sha256": inventory_sha},
            "rules": [
                {"path": f"rules/{r}.yaml", "sha256": s, "ruleset": r, "version": v}
                for r, v, s in rules
            ],
        },
        "packets": {
            "read": 1000,
            "tcp": 900,
            "udp": 100,
            "icmp": 0,
            "other_ip": 0,
            "non_ip": 0,
            "fragment": 0,
            "malformed": 0,
            "unsupported_link": 0,
        },
        "warnings": [],
        "summary": {
            "flows": flows,
            "out_of_scope": 5,
            "verdicts": {
                "expected": flows - 5,
                "blocked": 0,
                "reversed": 0,
                "misdirected": 0,
                "unexpected": 0,
            },
            "findings": counts,
        },
        "findings": [copy.deepcopy(f) for f in findings],
        "coverage": [dict(zip(("rule", "client", "server", "status"), c)) for c in coverage],
    }


@pytest.fixture
def validate(report_schema):
    """Validate a report against the shared schema (skips when /work/shared is absent)."""
    jsonschema = pytest.importorskip("jsonschema")

    def check(r: dict) -> dict:
        jsonschema.validate(r, report_schema)
        return r

    return check

"""The JSON report: schema v1, inputs, summary, findings, coverage, flows, exit status."""

from __future__ import annotations

import datetime as dt

import pytest
from report_builders import CAPTURE, make_report, validate
from verdict_builders import TWO_SITES, healthy_two_site, inventory

from auditor.model import Severity
from auditor.report.json_report import exit_status, verdicts_to_report


def test_every_kind_of_report_validates():
    for report in (
        make_report(),
        make_report(include_flows=True),
        make_report(healthy_two_site()),
        make_report([], warnings=()),
        make_report(counts={}),
    ):
        validate(report)


def test_top_level_shape_and_inputs():
    r = make_report()
    assert r["schema"] == "zvr-audit/report/v1"
    assert r["tool"]["name"] == "zvr-audit" and r["tool"]["version"]
    (cap,) = r["inputs"]["captures"]
    assert set(cap) == {
        "path",
        "sha256",
        "format",
        "compression",
        "link_types",
        "packets",
        "bytes",
        "first_ts",
        "last_ts",
    }  # the capture stage's extra keys are dropped
    assert cap["first_ts"] == "2024-05-01T12:00:00.000000Z"
    assert (
        r["inputs"]["inventory"]["path"] == "inventory.yaml"
        and len(r["inputs"]["inventory"]["sha256"]) == 64
    )
    assert [(x["ruleset"], x["version"]) for x in r["inputs"]["rules"]] == [
        ("zvr-legacy", 1),
        ("infrastructure", 1),
    ]
    assert r["packets"] == {
        "read": 120,
        "tcp": 100,
        "udp": 12,
        "icmp": 3,
        "other_ip": 0,
        "non_ip": 5,
        "fragment": 0,
        "malformed": 0,
        "unsupported_link": 0,
    }
    assert r["warnings"] == ["captures/site.pcapng: byte 53980: record cut short"]
    assert "flows" not in r


def test_capture_times_from_nanoseconds_when_text_is_absent():
    cap = {k: v for k, v in CAPTURE.items() if k not in ("first_ts", "last_ts")}
    r = make_report(captures=[cap])
    assert r["inputs"]["captures"][0]["last_ts"] == "2024-05-01T12:05:00.000000Z"
    validate(r)


def test_summary_counts_verdicts_and_findings():
    r = make_report()
    s = r["summary"]
    assert s["flows"] == len(healthy_two_site()) - 2 + 6
    assert s["out_of_scope"] == 1
    assert s["verdicts"] == {
        "expected": 7,
        "blocked": 1,
        "reversed": 1,
        "misdirected": 1,
        "unexpected": 2,
    }
    assert s["findings"] == {
        "missing": 1,
        "blocked": 1,
        "reversed": 1,
        "misdirected": 1,
        "unexpected": 2,
    }
    assert sum(s["findings"].values()) == len(r["findings"])


def test_findings_are_complete_and_most_severe_first():
    r = make_report()
    got = [(f["severity"], f["kind"], f["rule"]) for f in r["findings"]]
    assert got == [
        ("critical", "missing", "zvm-peer"),
        ("critical", "blocked", "vra-control"),
        ("high", "reversed", "zvm-vcenter"),
        ("high", "misdirected", "vra-data"),
        ("medium", "unexpected", None),
        ("medium", "unexpected", None),
    ]
    blocked = r["findings"][1]
    assert blocked["client"] == {
        "ip": "10.10.2.11",
        "host": "vra-prod-1",
        "role": "vra",
        "site": "prod",
    }
    assert blocked["server"] == {
        "ip": "10.20.2.11",
        "host": "vra-dr-1",
        "role": "vra",
        "site": "dr",
    }
    assert (
        blocked["port"],
        blocked["proto"],
        blocked["flows"],
        blocked["packets"],
        blocked["bytes"],
    ) == (4007, "tcp", 1, 3, 180)
    assert blocked["first_seen"] == "2024-05-01T12:00:00.000000Z"
    assert blocked["last_seen"] == "2024-05-01T12:00:07.000000Z"
    unexpected = r["findings"][4:]
    # two inventory servers, ordered deterministically (client name, then address)
    assert [(f["client"]["host"], f["client"]["ip"], f["port"]) for f in unexpected] == [
        (None, "10.99.0.7", 3389),
        ("zvm-dr", "10.20.0.10", 9999),
    ]
    assert all(f["detail"] for f in r["findings"])


def test_coverage_entries():
    r = make_report()
    by_key = {(c["rule"], c["client"], c["server"]): c["status"] for c in r["coverage"]}
    assert by_key[("zvm-peer", "zvm-dr", "zvm-prod")] == "missing"
    assert by_key[("vra-control", "dr", "prod")] == "blocked"
    assert by_key[("vra-data", "dr", "prod")] == "met"
    assert all(set(c) == {"rule", "client", "server", "status"} for c in r["coverage"])


def test_flows_only_with_include_flows_and_out_of_scope_included():
    r = make_report(include_flows=True)
    flows = r["flows"]
    assert len(flows) == r["summary"]["flows"]
    assert list(flows[0]) == [
        "client_ip",
        "client_port",
        "server_ip",
        "server_port",
        "proto",
        "first_ts",
        "last_ts",
        "packets_c2s",
        "packets_s2c",
        "bytes_c2s",
        "bytes_s2c",
        "conn_state",
        "direction_certain",
        "verdict",
        "rule",
    ]
    oos = [f for f in flows if f["verdict"] == "out_of_scope"]
    assert len(oos) == 1 and oos[0]["rule"] is None and oos[0]["client_ip"] == "192.0.2.1"
    assert {f["verdict"] for f in flows} == {
        "expected",
        "blocked",
        "reversed",
        "misdirected",
        "unexpected",
        "out_of_scope",
    }
    assert all(
        isinstance(f["client_port"], int) and isinstance(f["direction_certain"], bool)
        for f in flows
    )


def test_ipv6_addresses_are_canonical():
    hosts = TWO_SITES + [("zvm6", "zvm", "prod", "fd00:0:0:0::10")]
    r = make_report(
        ["fd00::99:50000 > fd00::10:3389 tcp SF"], inv=inventory(hosts), include_flows=True
    )
    (f,) = [f for f in r["findings"] if f["kind"] == "unexpected"]
    assert f["server"]["ip"] == "fd00::10" and f["server"]["host"] == "zvm6"
    validate(r)


def test_generated_at(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1714564800")
    assert make_report()["generated_at"] == "2024-05-01T12:00:00Z"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    now = make_report()["generated_at"]
    parsed = dt.datetime.strptime(now, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    assert abs((dt.datetime.now(dt.timezone.utc) - parsed).total_seconds()) < 60
    given = dt.datetime(2024, 5, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert make_report(generated_at=given)["generated_at"] == "2024-05-01T12:00:00Z"


@pytest.mark.parametrize("epoch", ["¹²", "99999999999999999999", "-5", "soon"])
def test_an_unusable_source_date_epoch_means_now(monkeypatch, epoch):
    """Superscript digits (isdigit but not int), a year past 9999 or text:
    the report is made with the current time, never a crash."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    parsed = dt.datetime.strptime(make_report()["generated_at"], "%Y-%m-%dT%H:%M:%SZ")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    assert abs((now - parsed).total_seconds()) < 60


def test_report_is_deterministic(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1714564800")
    assert make_report(include_flows=True) == make_report(include_flows=True)


@pytest.mark.parametrize(
    "fail_on,expected",
    [("low", 1), ("medium", 1), ("high", 1), ("critical", 1)],
)
def test_exit_status_with_a_critical_finding(fail_on, expected):
    assert exit_status(make_report(), Severity(fail_on)) == expected


def test_exit_status_thresholds():
    # only an unexpected flow to an address outside the inventory: one low finding
    r = make_report(healthy_two_site() + ["10.10.0.10:50000 > 203.0.113.9:3389 tcp SF"])
    assert [f["severity"] for f in r["findings"]] == ["low"]
    assert exit_status(r, Severity.LOW) == 1
    assert exit_status(r, Severity.MEDIUM) == 0
    assert exit_status(r, "critical") == 0
    assert exit_status(make_report(healthy_two_site()), Severity.LOW) == 0


def test_report_without_inventory_hosts_seen():
    r = make_report([])
    assert r["findings"] == [] and {c["status"] for c in r["coverage"]} == {"unobserved"}
    validate(r)


def test_verdicts_to_report_is_keyword_only():
    with pytest.raises(TypeError):
        verdicts_to_report([CAPTURE])  # type: ignore[misc]

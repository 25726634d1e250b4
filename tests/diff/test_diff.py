"""Report diffs (auditor.diff)."""

from __future__ import annotations

import copy
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.diff import (
    diff_exit_status,
    diff_reports,
    finding_key,
    load_report,
    render_diff,
    reports_to_diff,
)
from auditor.errors import InputError

from .conftest import SHA_B, end, finding, report

BLOCKED_4008 = finding()
MISSING_9081 = finding(
    kind="missing",
    rule="zvm-peer",
    port=9081,
    flows=0,
    packets=0,
    bytes_=0,
    client=end(None, None, None, "dr"),
    server=end(None, None, None, "prod"),
    detail="No 9081 between the sites.",
)
UNEXPECTED_RDP = finding(
    kind="unexpected",
    severity="medium",
    rule=None,
    port=3389,
    flows=1,
    client=end("192.0.2.7"),
    server=end("10.10.0.10", "zvm-prod", "zvm", "prod"),
    detail="RDP to the ZVM from an unknown host.",
)
COVERAGE = [("vra-data", "dr", "prod", "blocked"), ("zvm-vcenter", "vc-prod", "zvm-prod", "met")]


def render(diff, **kw) -> str:
    buf = io.StringIO()
    render_diff(diff, buf, **kw)
    return buf.getvalue()


def test_same_report_has_no_change(validate):
    r = validate(report([BLOCKED_4008, MISSING_9081], COVERAGE))
    d = diff_reports(r, copy.deepcopy(r))
    assert d["counts"] == {
        "new": 0,
        "resolved": 0,
        "still_present": 2,
        "changed": 0,
        "coverage_changed": 0,
    }
    assert d["warnings"] == [] and d["inputs"]["like_for_like"] and d["inputs"]["captures"]["same"]
    assert diff_exit_status(d) == 0
    json.dumps(d)  # JSON-ready


def test_new_resolved_and_still_present(validate):
    before = validate(report([BLOCKED_4008, MISSING_9081]))
    grown = dict(BLOCKED_4008, flows=5, packets=15, severity="high", detail="other words")
    after = validate(report([grown, UNEXPECTED_RDP]))
    d = diff_reports(before, after)
    assert [f["kind"] for f in d["findings"]["new"]] == ["unexpected"]
    assert [f["rule"] for f in d["findings"]["resolved"]] == ["zvm-peer"]
    [still] = d["findings"]["still_present"]
    assert still["changes"] == {
        "flows": {"before": 3, "after": 5},
        "packets": {"before": 9, "after": 15},
        "severity": {"before": "critical", "after": "high"},
    }
    assert d["counts"]["changed"] == 1
    assert diff_exit_status(d) == 1


def test_a_finding_that_changes_kind_is_resolved_plus_new(validate):
    before = validate(report([BLOCKED_4008]))
    missing = finding(kind="missing", flows=0, packets=0, bytes_=0)
    d = diff_reports(before, validate(report([missing])))
    assert [f["kind"] for f in d["findings"]["new"]] == ["missing"]
    assert [f["kind"] for f in d["findings"]["resolved"]] == ["blocked"]


def test_key_uses_ip_and_host_and_sites_for_site_findings():
    assert finding_key(BLOCKED_4008) == (
        "blocked",
        "vra-data",
        ("addr", "10.10.2.11", "vra-prod-1"),
        ("addr", "10.20.2.11", "vra-dr-1"),
        4008,
        "tcp",
    )
    other_site = dict(MISSING_9081, client=end(None, None, None, "branch"))
    assert finding_key(other_site) != finding_key(MISSING_9081)
    # A re-addressed VRA is a different finding; a changed detail is not.
    moved = dict(BLOCKED_4008, server=end("10.20.2.99", "vra-dr-1", "vra", "dr"))
    assert finding_key(moved) != finding_key(BLOCKED_4008)
    assert finding_key(dict(BLOCKED_4008, detail="x")) == finding_key(BLOCKED_4008)


def test_new_findings_are_most_severe_first(validate):
    after = validate(report([UNEXPECTED_RDP, MISSING_9081, BLOCKED_4008]))
    d = diff_reports(validate(report()), after)
    assert [(f["severity"], f["kind"]) for f in d["findings"]["new"]] == [
        ("critical", "missing"),
        ("critical", "blocked"),
        ("medium", "unexpected"),
    ]


def test_coverage_changes(validate):
    before = validate(report(coverage=COVERAGE))
    after = validate(
        report(coverage=[("vra-data", "dr", "prod", "met"), ("zvm-peer", "dr", "prod", "missing")])
    )
    assert diff_reports(before, after)["coverage"] == [
        {"rule": "vra-data", "client": "dr", "server": "prod", "before": "blocked", "after": "met"},
        {"rule": "zvm-peer", "client": "dr", "server": "prod", "before": None, "after": "missing"},
        {
            "rule": "zvm-vcenter",
            "client": "vc-prod",
            "server": "zvm-prod",
            "before": "met",
            "after": None,
        },
    ]


def test_summary_deltas(validate):
    d = diff_reports(validate(report([BLOCKED_4008], flows=100)), validate(report([], flows=130)))
    assert d["summary"]["flows"] == {"before": 100, "after": 130, "delta": 30}
    assert d["summary"]["findings"]["blocked"] == {"before": 1, "after": 0, "delta": -1}
    assert d["summary"]["verdicts"]["expected"] == {"before": 95, "after": 125, "delta": 30}
    assert d["summary"]["packets"]["read"] == {"before": 1000, "after": 1000, "delta": 0}


def test_captures_compared_by_content(validate):
    before = validate(report(captures=[("a.pcap", "a" * 64), ("b.pcap", SHA_B)]))
    after = validate(report(captures=[("/elsewhere/b.pcap", SHA_B), ("c.pcap", "c" * 64)]))
    caps = diff_reports(before, after)["inputs"]["captures"]
    assert caps["same"] is False
    assert caps["common"] == [
        {"sha256": SHA_B, "before_path": "b.pcap", "after_path": "/elsewhere/b.pcap"}
    ]
    assert caps["only_before"] == [{"sha256": "a" * 64, "path": "a.pcap"}]
    assert caps["only_after"] == [{"sha256": "c" * 64, "path": "c.pcap"}]
    assert diff_reports(before, after)["warnings"] == []  # new captures are the normal case


def test_inventory_change_warns(validate):
    d = diff_reports(validate(report()), validate(report(inventory_sha="9" * 64)))
    assert not d["inputs"]["like_for_like"] and not d["inputs"]["inventory"]["same"]
    assert d["warnings"] == [
        (
            "inventory changed (111111111111… → 999999999999…): roles, sites and expectations may differ,"
            " so findings are not like for like"
        )
    ]


def test_rule_changes_warn(validate):
    before = validate(report())
    after = validate(
        report(
            rules=[
                ("zvr-legacy", 2, "4" * 64),
                ("infrastructure", 1, "5" * 64),
                ("acme", 1, "6" * 64),
            ]
        )
    )
    d = diff_reports(before, after)
    assert [(c["ruleset"], c["change"]) for c in d["inputs"]["rules"]["changes"]] == [
        ("acme", "added"),
        ("infrastructure", "content"),
        ("zvr-legacy", "version"),
    ]
    assert d["warnings"] == [
        (
            "rules changed (acme v1 added; infrastructure v1 edited without a version bump;"
            " zvr-legacy v1 → v2): findings are not like for like"
        )
    ]
    removed = diff_reports(after, before)["inputs"]["rules"]["changes"][0]
    assert (removed["ruleset"], removed["change"], removed["after"]) == ("acme", "removed", None)


def test_tool_version_change_warns(validate):
    d = diff_reports(validate(report()), validate(report(version="0.2.0")))
    assert d["warnings"] == [
        "zvr-audit version changed (0.1.0 → 0.2.0): verdicts may differ for the same traffic"
    ]


def test_duplicate_keys_add_up(validate):
    r = validate(
        report([BLOCKED_4008, dict(BLOCKED_4008, flows=2, packets=1, severity="high", bytes=0)])
    )
    d = diff_reports(r, validate(report([dict(BLOCKED_4008, flows=5, packets=10)])))
    [still] = d["findings"]["still_present"]
    assert still["before"]["flows"] == 5 and still["before"]["severity"] == "critical"
    assert still["changes"] == {}  # 3+2 flows, 9+1 packets, 540+0 bytes: as after


# --------------------------------------------------------------------------
# Loading and bad input


def write(tmp_path, name, obj) -> str:
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return str(path)


def test_reports_to_diff_from_files(tmp_path, validate):
    b = write(tmp_path, "before.json", validate(report([BLOCKED_4008])))
    a = write(tmp_path, "after.json", validate(report([])))
    d = reports_to_diff(b, a)
    assert d["before"]["name"] == b and d["after"]["name"] == a
    assert d["counts"]["resolved"] == 1 and diff_exit_status(d) == 0


@pytest.mark.parametrize(
    "content, message",
    [
        (
            '{"schema": "zvr-audit/report/v1",\n  oops}',
            "{p}:2: not a zvr-audit v1 report (not JSON: Expecting property name enclosed in double quotes at column 3)",
        ),
        ("", "{p}:1: not a zvr-audit v1 report (not JSON: Expecting value at column 1)"),
        (
            '{"schema": "zvr-audit/report/v2"}',
            "{p}: not a zvr-audit v1 report (schema is 'zvr-audit/report/v2', expected 'zvr-audit/report/v1')",
        ),
        (
            '{"findings": []}',
            "{p}: not a zvr-audit v1 report (no schema field, expected 'zvr-audit/report/v1')",
        ),
        ("[1, 2]", "{p}: not a zvr-audit v1 report (top level is a list, expected an object)"),
    ],
)
def test_not_a_v1_report(tmp_path, content, message):
    p = write(tmp_path, "r.json", content)
    with pytest.raises(InputError) as exc:
        load_report(p)
    assert exc.value.line() == message.format(p=p)
    assert exc.value.exit_code == 2


def test_structural_problems_first_and_count(tmp_path):
    r = report([BLOCKED_4008, MISSING_9081])
    del r["findings"][0]["kind"]
    del r["findings"][1]["server"]
    r["coverage"] = [{"rule": "x"}]
    p = write(tmp_path, "r.json", r)
    with pytest.raises(InputError) as exc:
        load_report(p)
    assert exc.value.line() == f"{p}: findings[0]: 'kind' missing (and 4 more problems)"


def test_unreadable_and_binary_files(tmp_path):
    with pytest.raises(InputError, match=r"nope\.json: cannot read: No such file or directory"):
        load_report(tmp_path / "nope.json")
    p = tmp_path / "bin.json"
    p.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(
        InputError, match=r"bin\.json: byte 7: not a zvr-audit v1 report \(not UTF-8 text\)"
    ):
        load_report(p)


def test_diff_reports_checks_dicts_too():
    with pytest.raises(InputError, match="^after: not a zvr-audit v1 report"):
        diff_reports(report(), {"schema": "x"})


# --------------------------------------------------------------------------
# Rendering


def test_render_plain(validate):
    before = validate(report([BLOCKED_4008, MISSING_9081], COVERAGE))
    after = validate(
        report(
            [dict(BLOCKED_4008, flows=7), UNEXPECTED_RDP],
            [("vra-data", "dr", "prod", "met")],
            inventory_sha="9" * 64,
        )
    )
    text = render(
        diff_reports(before, after, before_name="b.json", after_name="a.json"), color=False
    )
    assert "\x1b[" not in text
    lines = text.splitlines()
    assert (
        lines[0] == "zvr-audit diff b.json (2026-01-01T01:00:00Z) → a.json (2026-01-01T01:00:00Z)"
    )
    assert lines[1].startswith("warning: inventory changed")
    assert "New findings (1)" in lines
    assert (
        "  + MEDIUM   unexpected  3389/tcp 192.0.2.7 → zvm-prod (10.10.0.10) [no rule], 1 flow(s)"
        in lines
    )
    assert "      RDP to the ZVM from an unknown host." in lines
    assert "  - CRITICAL missing     9081/tcp site dr → site prod [zvm-peer]" in lines
    assert (
        "  ~ CRITICAL blocked     4008/tcp vra-prod-1 (10.10.2.11) → vra-dr-1 (10.20.2.11) [vra-data],"
        " 7 flow(s): flows 3 → 7"
    ) in lines
    assert "  vra-data dr / prod: blocked → met" in lines
    assert "  zvm-vcenter vc-prod / zvm-prod: met → absent" in lines
    assert lines[-1] == "result: 1 new, 1 resolved, 1 still present"


def test_render_colour_only_when_asked_or_on_a_terminal(validate, monkeypatch):
    d = diff_reports(validate(report()), validate(report([BLOCKED_4008])))
    assert "\x1b[" in render(d, color=True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[" not in render(d)  # StringIO is not a terminal

    class Tty(io.StringIO):
        def isatty(self):
            return True

    buf = Tty()
    render_diff(d, buf)
    assert "\x1b[" in buf.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    buf = Tty()
    render_diff(d, buf)
    assert "\x1b[" not in buf.getvalue()


def test_render_prints_input_strings_as_text(validate):
    evil = dict(
        UNEXPECTED_RDP, client=end("192.0.2.7", "[bold red]x[/bold red]"), detail="[link=x]y[/link]"
    )
    text = render(diff_reports(validate(report()), validate(report([evil]))), color=True)
    assert "[bold red]x[/bold red]" in text and "[link=x]y[/link]" in text


# --------------------------------------------------------------------------
# Properties

ends = st.builds(
    end,
    st.sampled_from([None, "10.0.0.1", "10.0.0.2"]),
    st.sampled_from([None, "zvm-a", "vra-a-1"]),
    st.just(None),
    st.sampled_from([None, "prod", "dr"]),
)
findings = st.builds(
    finding,
    kind=st.sampled_from(["missing", "blocked", "reversed", "misdirected", "unexpected"]),
    severity=st.sampled_from(["critical", "high", "medium", "low"]),
    rule=st.sampled_from([None, "vra-data", "zvm-peer"]),
    client=ends,
    server=ends,
    port=st.sampled_from([443, 4008, 9081]),
    flows=st.integers(0, 5),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(findings, max_size=6), st.lists(findings, max_size=6))
def test_diff_is_antisymmetric_and_complete(fb, fa):
    before, after = report(fb), report(fa)
    d, back = diff_reports(before, after), diff_reports(after, before)
    key = finding_key
    assert sorted(map(key, d["findings"]["new"]), key=repr) == sorted(
        map(key, back["findings"]["resolved"]), key=repr
    )
    assert sorted(map(key, d["findings"]["resolved"]), key=repr) == sorted(
        map(key, back["findings"]["new"]), key=repr
    )
    keys_b, keys_a = {key(f) for f in fb}, {key(f) for f in fa}
    assert {key(f) for f in d["findings"]["new"]} == keys_a - keys_b
    assert {key(s["after"]) for s in d["findings"]["still_present"]} == keys_a & keys_b
    assert diff_exit_status(diff_reports(before, before)) == 0
    assert diff_exit_status(d) == (1 if keys_a - keys_b else 0)

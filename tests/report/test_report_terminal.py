"""The terminal report: verdict line first, findings, coverage, accounting;
colour only on a terminal and never with NO_COLOR."""

from __future__ import annotations

import io
import os
import pty

import pytest
from report_builders import make_report
from verdict_builders import healthy_two_site, inventory

from auditor.report.terminal import render, use_color, verdict_line


@pytest.fixture(autouse=True)
def plain_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """The layout assertions assume the default width of a non-terminal
    (pytest-xdist workers, and some shells, export COLUMNS=80)."""
    monkeypatch.delenv("COLUMNS", raising=False)

ESC = "\x1b["


def rendered(report, **kw) -> str:
    buf = io.StringIO()
    render(report, buf, **kw)
    return buf.getvalue()


def test_layout_and_order():
    out = rendered(make_report(), color=False)
    lines = out.splitlines()
    assert lines[0] == "FAIL: 2 critical, 2 high, 2 medium findings"
    assert (
        out.index("Findings (6)")
        < out.index("Coverage")
        < out.index("Packets: 120 read")
        < out.index("Warnings")
    )
    # most severe first: the critical rows come before the high and medium ones
    assert out.index("critical") < out.index("high") < out.index("medium")
    assert "zvm-dr → zvm-prod:9081" in out  # missing zvm-peer, hosts in name order
    assert "vra-prod-1 → 10.20.2.99:4008" in out
    assert "tcp 100, udp 12, icmp 3, non-ip 5" in out
    assert "captures/site.pcapng: byte 53980: record cut short" in out
    assert ESC not in out


def test_coverage_counts_and_names_what_is_not_met():
    out = rendered(make_report(), color=False, inventory=inventory())
    (row,) = [line for line in out.splitlines() if "zvm-peer" in line and "missing:" in line]
    assert "dr ↔ prod" in row and "missing: zvm-dr ↔ zvm-prod" in row
    (row,) = [
        line for line in out.splitlines() if line.startswith("│ zvm-vcenter") and "│ prod " in line
    ]
    assert "│   1 │" in row  # one met pair at prod
    (row,) = [
        line for line in out.splitlines() if "vra-control" in line and "blocked: dr ↔ prod" in line
    ]


def test_pass_line():
    assert (
        rendered(make_report(healthy_two_site()), color=False).splitlines()[0]
        == "PASS: no findings"
    )
    report = make_report(healthy_two_site() + ["10.10.0.10:50000 > 203.0.113.9:3389 tcp SF"])
    assert verdict_line(report, "medium") == (
        "PASS: no findings at or above medium (1 low below it)",
        False,
    )
    assert verdict_line(report, "low") == ("FAIL: 1 low finding", True)
    assert rendered(report, color=False, fail_on="medium").startswith(
        "PASS: no findings at or above medium"
    )


def test_colour_when_asked_and_not_otherwise(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    report = make_report()
    assert ESC in rendered(report, color=True)
    assert ESC not in rendered(report, color=False)
    assert ESC not in rendered(report)  # a StringIO is no terminal


def test_colour_decision_follows_the_terminal_and_no_color(monkeypatch):
    master, slave = pty.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            monkeypatch.delenv("NO_COLOR", raising=False)
            assert use_color(tty) is True
            monkeypatch.setenv("NO_COLOR", "1")
            assert use_color(tty) is False
            monkeypatch.setenv("NO_COLOR", "")  # empty means unset (no-color.org)
            assert use_color(tty) is True
            assert use_color(tty, False) is False
        assert use_color(io.StringIO()) is False
        assert use_color(io.StringIO(), True) is True
    finally:
        os.close(master)
        os.close(slave)


def test_rendering_to_a_terminal_with_no_color(monkeypatch):
    master, slave = pty.openpty()
    chunks: list[bytes] = []
    try:
        with os.fdopen(slave, "w", closefd=False, encoding="utf-8") as tty:
            monkeypatch.setenv("NO_COLOR", "1")
            render(make_report(healthy_two_site()), tty)
            tty.flush()
            os.set_blocking(master, False)
            while True:
                try:
                    data = os.read(master, 65536)
                except BlockingIOError:
                    break
                if not data:
                    break
                chunks.append(data)
    finally:
        os.close(master)
        os.close(slave)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert "PASS: no findings" in text
    assert ESC not in text


def test_input_strings_are_not_markup():
    hosts = [
        ("[bold red]evil[/]", "zvm", "prod", "10.10.0.10"),
        ("vc-prod", "vcenter", "prod", "10.10.0.5"),
    ]
    inv = inventory(hosts, peers={})
    report = make_report(["10.10.0.5:50000 > 10.10.0.10:443 tcp SF"], inv=inv)
    out = rendered(report, color=True)
    assert "[bold red]evil[/]" in out


def test_a_scan_does_not_drown_the_terminal():
    rows = healthy_two_site() + [
        f"10.10.0.10:50000 > 203.0.113.9:{p} tcp S0" for p in range(1000, 1150)
    ]
    report = make_report(rows)
    assert len(report["findings"]) == 150
    out = rendered(report, color=False)
    assert out.splitlines()[0] == "FAIL: 150 low findings"
    assert "… and 50 more findings (50 low); the JSON and HTML reports list them all." in out


INVENTORY_YAML = """\
name: acme-dr
sites:
  prod: {peers: [dr]}
  dr: {}
hosts:
  - {name: zvm-prod, role: zvm, site: prod, ip: 10.10.0.10}
  - {name: vc-prod, role: vcenter, site: prod, ip: 10.10.0.5}
  - {name: zvm-dr, role: zvm, site: dr, ip: 10.20.0.10}
  - {name: vc-dr, role: vcenter, site: dr, ip: 10.20.0.5}
"""


def test_coverage_sites_from_the_audited_inventory_file(tmp_path):
    load_inventory = pytest.importorskip("auditor.inventory").load_inventory
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY_YAML)
    inv = load_inventory(path)
    rows = ["10.10.0.10:50001 > 10.10.0.5:443 tcp SF", "10.20.0.10:50001 > 10.20.0.5:443 tcp SF"]
    report = make_report(rows, inv=inv)
    out = rendered(report, color=False)  # no inventory given: re-read from inputs.inventory.path
    assert [
        line.split("│")[2].strip() for line in out.splitlines() if line.startswith("│ zvm-vcenter")
    ] == [
        "dr",
        "prod",
    ]
    path.write_text(INVENTORY_YAML + "  - {name: extra, role: esxi, site: dr, ip: 10.20.1.1}\n")
    out = rendered(report, color=False)  # the file changed since the audit: not trusted
    assert "? ↔ ?" in out or "│ ?" in out

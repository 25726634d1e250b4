"""The report for a person at a terminal (rich): a one-line verdict, the
findings most severe first, coverage per rule and site pair, then packet
accounting and warnings.

Colour only on a terminal and never with NO_COLOR (https://no-color.org/);
every string from an input is passed as plain Text, never as rich markup.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import IO, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from auditor.errors import AuditorError
from auditor.model import Inventory, Severity
from auditor.report.json_report import failing_counts

SEVERITY_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
}
STATUS_STYLE = {"met": "green", "blocked": "bold red", "missing": "red", "unobserved": "dim"}
STATUSES = ("met", "blocked", "missing", "unobserved")
NAMED_LIMIT = 4  # non-met pairs named per coverage row before "+N more"
PLAIN_WIDTH = 120  # when not writing to a terminal
FINDINGS_LIMIT = 100  # rows shown; most severe first, so the rest are the least severe


def use_color(file: IO[str], color: bool | None = None) -> bool:
    """Colour when asked; by default only on a terminal and without NO_COLOR."""
    if color is not None:
        return color
    if os.environ.get("NO_COLOR", ""):
        return False
    isatty = getattr(file, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # closed or odd streams
        return False


def _console(file: IO[str], color: bool) -> Console:
    isatty = False
    try:
        isatty = bool(file.isatty())
    except (AttributeError, ValueError, OSError):
        pass
    width = None if isatty else int(os.environ.get("COLUMNS") or PLAIN_WIDTH)
    if color:
        return Console(
            file=file,
            force_terminal=True,
            color_system="auto" if isatty else "standard",
            highlight=False,
            emoji=False,
            markup=False,
            width=width,
            soft_wrap=False,
        )
    # color_system=None: no escape sequence at all, not even bold.
    return Console(
        file=file,
        force_terminal=False,
        color_system=None,
        no_color=True,
        highlight=False,
        emoji=False,
        markup=False,
        width=width,
        soft_wrap=False,
    )


def verdict_line(
    report: Mapping[str, Any], fail_on: Severity | str = Severity.LOW
) -> tuple[str, bool]:
    """("FAIL: 2 critical, 1 high findings", failed) or ("PASS: no findings", False)."""
    failing = failing_counts(report, fail_on)
    findings = report.get("findings") or []
    if failing:
        total = sum(failing.values())
        parts = ", ".join(f"{n} {sev}" for sev, n in failing.items())
        return f"FAIL: {parts} finding{'s' if total != 1 else ''}", True
    if not findings:
        return "PASS: no findings", False
    below = Counter(f["severity"] for f in findings)
    parts = ", ".join(f"{below[s.value]} {s.value}" for s in Severity if below[s.value])
    return f"PASS: no findings at or above {Severity(fail_on).value} ({parts} below it)", False


def _end(end: Mapping[str, Any]) -> str:
    if end.get("host"):
        return str(end["host"])
    if end.get("ip"):
        return str(end["ip"])
    site = end.get("site")
    return "any site" if site in (None, "*") else f"site {site}"


def _port(f: Mapping[str, Any]) -> str:
    return f"{f['port']}" if f.get("proto") == "tcp" else f"{f['port']}/{f.get('proto')}"


def _reload_inventory(report: Mapping[str, Any]) -> Inventory | None:
    """The report's inventory, re-read from its path when the file is still
    the one audited (same SHA-256); None otherwise. Only names sites."""
    entry = (report.get("inputs") or {}).get("inventory") or {}
    path, digest = entry.get("path"), entry.get("sha256")
    if not path or not digest:
        return None
    try:
        import hashlib
        from pathlib import Path

        if hashlib.sha256(Path(path).read_bytes()).hexdigest() != digest:
            return None
        from auditor.inventory import load_inventory

        return load_inventory(path)
    except (OSError, ValueError, AuditorError):  # a nicety for the coverage table, never fatal
        return None


def _host_sites(report: Mapping[str, Any], inventory: Inventory | None) -> dict[str, str]:
    if inventory is None:
        inventory = _reload_inventory(report)
    if inventory is not None:
        return {h.name: h.site for h in inventory.hosts}
    sites: dict[str, str] = {}
    for f in report.get("findings") or []:
        for end in (f.get("client") or {}, f.get("server") or {}):
            if end.get("host") and end.get("site"):
                sites[end["host"]] = end["site"]
    return sites


def _site_pair(cov: Mapping[str, Any], host_sites: Mapping[str, str], site_names: set[str]) -> str:
    """Sites of a coverage entry: a host pair's sites, or the `some` entry's
    own sites; "?" for a host whose site is unknown (no inventory given and
    the host appears in no finding)."""
    a, b = str(cov["client"]), str(cov["server"])
    if a == "*" and b == "*":
        return "whole deployment"

    def site(x: str) -> str:
        if x in host_sites:
            return host_sites[x]
        return x if x in site_names else "?"

    sa, sb = sorted((site(a), site(b)))
    return sa if sa == sb else f"{sa} ↔ {sb}"


def render(
    report: Mapping[str, Any],
    file: IO[str],
    *,
    color: bool | None = None,
    fail_on: Severity | str = Severity.LOW,
    inventory: Inventory | None = None,
) -> None:
    """Write the terminal report to ``file``.

    ``inventory`` (optional) lets coverage name the site of each host pair;
    without it sites come from the findings."""
    console = _console(file, use_color(file, color))
    line, failed = verdict_line(report, fail_on)
    console.print(Text(line, style="bold red" if failed else "bold green"))
    console.print(Text(_context_line(report), style="dim"))

    findings = report.get("findings") or []
    console.print()
    if findings:
        table = Table(
            title=f"Findings ({len(findings)})",
            title_justify="left",
            expand=False,
            show_lines=False,
            header_style="bold",
        )
        table.add_column("Severity", no_wrap=True)
        table.add_column("Kind", no_wrap=True)
        table.add_column("Rule", no_wrap=True)
        table.add_column("Client → Server:port", overflow="fold")
        table.add_column("Flows", justify="right", no_wrap=True)
        table.add_column("Detail", overflow="fold", ratio=1)
        shown = findings[:FINDINGS_LIMIT]
        for f in shown:
            sev = str(f["severity"])
            table.add_row(
                Text(sev, style=SEVERITY_STYLE.get(sev, "")),
                Text(str(f["kind"])),
                Text(str(f.get("rule") or "—")),
                Text(f"{_end(f['client'])} → {_end(f['server'])}:{_port(f)}"),
                Text(str(f.get("flows", 0))),
                Text(str(f.get("detail", ""))),
            )
        console.print(table)
        if len(findings) > len(shown):
            rest = Counter(f["severity"] for f in findings[len(shown) :])
            parts = ", ".join(f"{rest[s.value]} {s.value}" for s in Severity if rest[s.value])
            console.print(
                Text(
                    f"… and {len(findings) - len(shown)} more findings ({parts}); "
                    "the JSON and HTML reports list them all."
                )
            )
    else:
        console.print(Text("Findings: none", style="bold green"))

    _render_coverage(console, report, inventory)
    _render_accounting(console, report)


def _context_line(report: Mapping[str, Any]) -> str:
    inputs = report.get("inputs") or {}
    captures = inputs.get("captures") or []
    firsts = sorted(c["first_ts"] for c in captures if c.get("first_ts"))
    lasts = sorted(c["last_ts"] for c in captures if c.get("last_ts"))
    name = (inputs.get("inventory") or {}).get("name") or (inputs.get("inventory") or {}).get(
        "path", ""
    )
    window = f"{firsts[0]} → {lasts[-1]}" if firsts and lasts else "no packets"
    summary = report.get("summary") or {}
    return (
        f"{name} · {len(captures)} capture{'s' if len(captures) != 1 else ''} · {window} · "
        f"{summary.get('flows', 0):,} flows ({summary.get('out_of_scope', 0):,} out of scope)"
    )


def _render_coverage(
    console: Console, report: Mapping[str, Any], inventory: Inventory | None
) -> None:
    coverage = report.get("coverage") or []
    console.print()
    if not coverage:
        console.print(Text("Coverage: no expectations (no eligible host pairs in the inventory)"))
        return
    host_sites = _host_sites(report, inventory)
    site_names = set(inventory.sites) if inventory is not None else set(host_sites.values())
    for f in report.get("findings") or []:
        for end in (f.get("client") or {}, f.get("server") or {}):
            if end.get("site") and end["site"] != "*":
                site_names.add(end["site"])
    rows: dict[tuple[str, str], Counter] = defaultdict(Counter)
    not_met: dict[tuple[str, str], list[str]] = defaultdict(list)
    order: list[tuple[str, str]] = []
    for cov in coverage:
        key = (str(cov["rule"]), _site_pair(cov, host_sites, site_names))
        if key not in rows:
            order.append(key)
        rows[key][cov["status"]] += 1
        if cov["status"] != "met":
            pair = "*" if cov["client"] == "*" else f"{cov['client']} ↔ {cov['server']}"
            if cov["client"] == cov["server"]:
                pair = str(cov["client"])
            not_met[key].append(f"{cov['status']}: {pair}")
    table = Table(title="Coverage", title_justify="left", header_style="bold")
    table.add_column("Rule", no_wrap=True)
    table.add_column("Sites", no_wrap=True)
    for status in STATUSES:
        table.add_column(status, justify="right", no_wrap=True)
    table.add_column("Not met", overflow="fold", ratio=1)
    for key in order:
        counts = rows[key]
        named = not_met[key]
        text = "; ".join(named[:NAMED_LIMIT]) + (
            f"; +{len(named) - NAMED_LIMIT} more" if len(named) > NAMED_LIMIT else ""
        )
        table.add_row(
            Text(key[0]),
            Text(key[1]),
            *(
                Text(
                    str(counts[s]) if counts[s] else "·",
                    style=STATUS_STYLE[s] if counts[s] else "dim",
                )
                for s in STATUSES
            ),
            Text(text),
        )
    console.print(table)


def _render_accounting(console: Console, report: Mapping[str, Any]) -> None:
    console.print()
    packets = report.get("packets") or {}
    parts = [f"{k.replace('_', '-')} {v:,}" for k, v in packets.items() if k != "read" and v]
    console.print(
        Text(
            f"Packets: {packets.get('read', 0):,} read"
            + (f" — {', '.join(parts)}" if parts else "")
        )
    )
    summary = report.get("summary") or {}
    verdicts = summary.get("verdicts") or {}
    vparts = [f"{k} {v:,}" for k, v in verdicts.items() if v]
    console.print(
        Text(
            f"Flows: {summary.get('flows', 0):,} ({summary.get('out_of_scope', 0):,} out of scope)"
            + (f" — {', '.join(vparts)}" if vparts else "")
        )
    )
    warnings = report.get("warnings") or []
    if not warnings:
        console.print(Text("Warnings: none"))
        return
    console.print(Text(f"Warnings ({len(warnings)}):", style="bold yellow"))
    for w in warnings:
        console.print(Text(f"  - {w}"))

"""`zvr-audit rules`: the loaded rules as a table, CSV or JSON (SPEC section 2)."""

from __future__ import annotations

import csv
import json
import os
from typing import IO, Iterable

from auditor.model import Rule

# Columns in SPEC section 4's field order, then where the rule came from.
COLUMNS = (
    "id", "port", "proto", "client", "server", "scope", "phase", "expect",
    "bidirectional", "configurable", "severity", "purpose", "ruleset",
)
FORMATS = ("table", "csv", "json")


def rule_record(rule: Rule) -> dict[str, object]:
    """A rule as plain values, enum fields as their SPEC strings."""
    record: dict[str, object] = {}
    for column in COLUMNS:
        value = getattr(rule, column)
        record[column] = getattr(value, "value", value)
    return record


def render_rules(rules: Iterable[Rule], fmt: str, file: IO[str]) -> None:
    records = [rule_record(rule) for rule in rules]
    if fmt == "json":
        json.dump(records, file, indent=2)
        file.write("\n")
    elif fmt == "csv":
        writer = csv.DictWriter(file, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow({k: str(v).lower() if isinstance(v, bool) else v for k, v in record.items()})
    elif fmt == "table":
        _render_table(records, file)
    else:
        raise ValueError(f"unknown format {fmt!r} (expected: {', '.join(FORMATS)})")


def _render_table(records: list[dict[str, object]], file: IO[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    is_terminal = hasattr(file, "isatty") and file.isatty()
    colour = is_terminal and not os.environ.get("NO_COLOR")
    console = Console(
        file=file,
        force_terminal=is_terminal,
        no_color=not colour,
        highlight=False,
        width=None if is_terminal else 200,  # a pipe or file: do not squeeze to 80
    )
    table = Table(title=None, show_lines=False, header_style="bold" if colour else "")
    for column in ("id", "port", "proto", "client → server", "scope", "phase", "expect", "severity",
                   "ruleset", "purpose"):
        table.add_column(column, overflow="fold")
    severity_style = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "dim"}
    for r in records:
        arrow = "↔" if r["bidirectional"] else "→"
        port = f"{r['port']}*" if r["configurable"] else str(r["port"])
        severity = str(r["severity"])
        table.add_row(
            str(r["id"]), port, str(r["proto"]), f"{r['client']} {arrow} {r['server']}", str(r["scope"]),
            str(r["phase"]), str(r["expect"]),
            f"[{severity_style[severity]}]{severity}[/]" if colour else severity,
            str(r["ruleset"]), str(r["purpose"]),
        )
    console.print(table)
    console.print("* configurable: the inventory's `ports` may override it; ↔ either role may open it",
                  markup=False)

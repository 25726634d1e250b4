"""`zvr-audit rules`: the loaded rules as a table, CSV or JSON (SPEC section 2)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Iterable
from typing import IO

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
    from rich import box
    from rich.console import Console
    from rich.table import Table

    is_terminal = hasattr(file, "isatty") and file.isatty()
    # Styles only on a terminal, and none at all with NO_COLOR (not even bold).
    colour = is_terminal and not os.environ.get("NO_COLOR")
    # A pipe or file gets every column; a narrow terminal the ones that fit.
    width = shutil.get_terminal_size().columns if is_terminal else 200
    console = Console(file=io.StringIO(), force_terminal=colour, no_color=not colour, highlight=False,
                      width=width)
    wide = width >= 120
    columns = ["id", "port", "client → server", "scope", "phase", "expect", "severity", "purpose"]
    if not wide:
        columns = [c for c in columns if c not in ("phase", "purpose")]
    severity_style = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "dim"}
    for ruleset in dict.fromkeys(str(r["ruleset"]) for r in records):  # load order
        table = Table(title=f"{ruleset}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                      show_edge=False, collapse_padding=True, header_style="bold" if colour else "")
        for column in columns:
            if column == "purpose":
                table.add_column(column, overflow="fold", min_width=30)
            else:
                table.add_column(column, no_wrap=True)  # ids and codes stay whole
        for r in records:
            if r["ruleset"] != ruleset:
                continue
            severity = str(r["severity"])
            cells = {
                "id": str(r["id"]),
                "port": f"{r['port']}/{r['proto']}" + ("*" if r["configurable"] else ""),
                "client → server": f"{r['client']} {'↔' if r['bidirectional'] else '→'} {r['server']}",
                "scope": str(r["scope"]),
                "phase": str(r["phase"]),
                "expect": str(r["expect"]),
                "severity": f"[{severity_style[severity]}]{severity}[/]" if colour else severity,
                "purpose": str(r["purpose"]),
            }
            table.add_row(*(cells[c] for c in columns))
        console.print(table)
    console.print("* configurable: the inventory's `ports` may override it.  ↔ either role may open it.",
                  markup=False)
    if not wide:
        console.print("Phases and purposes: a wider terminal, or --format csv.", markup=False)
    # Rich pads every line to the table's width; a pipe or file need not carry that.
    text = console.file.getvalue()  # type: ignore[attr-defined]
    file.write("".join(line.rstrip() + "\n" for line in text.splitlines()))

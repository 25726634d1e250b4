"""The HTML evidence report (issue 5): one self-contained file an auditor can
file and an engineer can read — styles, pictures and the little script for
expanding rows are all inline; it loads nothing from anywhere.

``render`` turns the schema-v1 report dict (``json_report.verdicts_to_report``)
into that file, optionally enriched with the inventory (host roles and sites
for the picture and coverage), the effective rules (each rule's purpose) and
the activity table (the traffic chart). Templates are jinja2 with autoescape
on; the SVG is built by ``svg.py`` with escaping in its element builder. A
Content-Security-Policy allows only the one inline script, by hash, so even a
string that slipped through could not run.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from auditor.errors import UsageError
from auditor.model import Severity
from auditor.report import svg
from auditor.tables import BUCKET_KEYS, CONN_STATES

TEMPLATES = Path(__file__).resolve().parent / "templates"

SEVERITIES = tuple(s.value for s in Severity)  # most severe first
COVERAGE_STATUSES = ("met", "blocked", "missing", "unobserved")
FLOW_LIMIT_PER_FINDING = 100  # rows shown under one finding; the rest counted
WARNING_LIMIT = 500

def _glossary() -> list[dict]:
    """The glossary sections from ``auditor.report.definitions`` (the same
    tables the verdict stage, the flow stage and the model document their
    codes in), each with how its codes are shown."""
    from auditor.report import definitions as defs

    style_of = {id(defs.VERDICT_DOCS): "k-", id(defs.FINDING_KIND_DOCS): "k-",
                id(defs.COVERAGE_STATUS_DOCS): "k-", id(defs.SEVERITY_DOCS): "sev-"}
    return [{"title": title, "table": table, "style": style_of.get(id(table), "")}
            for title, table in defs.GLOSSARY.items()]


# --------------------------------------------------------------------------
# Formatting filters.
def _num(v: Any) -> str:
    if v is None:
        return "—"
    try:
        return f"{int(v):,}"
    except (TypeError, ValueError):
        return str(v)


def _bytes(v: Any) -> str:
    if v is None:
        return "—"
    n = float(v)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{int(n):,} B" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(v)


def _parse_ts(text: str | None) -> _dt.datetime | None:
    if not text:
        return None
    t = text.rstrip("Z")
    # Python's fromisoformat takes at most microseconds.
    if "." in t:
        head, frac = t.split(".", 1)
        t = f"{head}.{frac[:6]}"
    try:
        return _dt.datetime.fromisoformat(t).replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return None


def _ts(text: str | None) -> str:
    """ISO-8601 UTC as written in the report, with a space for the T so it
    reads as a date and a time; the exact value is kept."""
    if not text:
        return "—"
    return text.replace("T", " ", 1).replace("Z", " UTC")


def _clock(text: str | None) -> str:
    """The time of day of an ISO-8601 UTC stamp (the date is in the
    finding's own first/last seen; the full stamp is the cell's title)."""
    if not text:
        return "—"
    return text.split("T", 1)[-1].rstrip("Z")


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(round(seconds), 60)
    hours, m = divmod(minutes, 60)
    days, h = divmod(hours, 24)
    if days:
        return f"{days} d {h} h {m} min"
    if hours:
        return f"{hours} h {m} min"
    return f"{m} min {s} s"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every input string is escaped unless marked Markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=_num, bytes=_bytes, ts=_ts, clock=_clock)
    return env


# --------------------------------------------------------------------------
# View model.
def _end_text(end: dict) -> dict:
    return {
        "host": end.get("host"),
        "role": end.get("role"),
        "site": end.get("site"),
        "ip": end.get("ip"),
    }


def _flow_key(kind: str, client_ip: Any, server_ip: Any, port: Any, proto: Any) -> tuple:
    # SPEC section 7: flow findings group by (kind, client ip, server ip,
    # server port, proto); a flow's verdict is the finding's kind.
    return (kind, client_ip, server_ip, int(port) if port is not None else None, proto)


def _findings(report: dict, rules_by_id: dict[str, Any]) -> list[dict]:
    flows = report.get("flows")
    index: dict[tuple, list[dict]] = {}
    if flows is not None:
        for fl in flows:
            key = _flow_key(fl.get("verdict"), fl.get("client_ip"), fl.get("server_ip"),
                            fl.get("server_port"), fl.get("proto"))
            index.setdefault(key, []).append(fl)
    out = []
    order = sorted(
        enumerate(report.get("findings") or []),
        key=lambda t: (SEVERITIES.index(t[1]["severity"]) if t[1].get("severity") in SEVERITIES else 9, t[0]),
    )
    for n, (_, f) in enumerate(order, 1):
        rule = rules_by_id.get(f.get("rule")) if f.get("rule") else None
        kind = f.get("kind")
        matched: list[dict] | None = None
        if kind != "missing" and flows is not None:
            matched = index.get(_flow_key(kind, (f.get("client") or {}).get("ip"),
                                          (f.get("server") or {}).get("ip"), f.get("port"),
                                          f.get("proto")), [])
            matched = sorted(matched, key=lambda fl: fl.get("first_ts") or "")
        out.append({
            "n": n,
            "anchor": f"finding-{n}",
            "kind": kind,
            "severity": f.get("severity"),
            "rule": f.get("rule"),
            "purpose": getattr(rule, "purpose", None),
            "rule_meta": _rule_meta(rule),
            "client": _end_text(f.get("client") or {}),
            "server": _end_text(f.get("server") or {}),
            "port": f.get("port"),
            "proto": f.get("proto"),
            "flows": f.get("flows"),
            "packets": f.get("packets"),
            "bytes": f.get("bytes"),
            "first_seen": f.get("first_seen"),
            "last_seen": f.get("last_seen"),
            "detail": f.get("detail"),
            "flow_rows": None if matched is None else matched[:FLOW_LIMIT_PER_FINDING],
            "flow_rows_more": 0 if matched is None else max(0, len(matched) - FLOW_LIMIT_PER_FINDING),
        })
    return out


def _rule_meta(rule: Any) -> str | None:
    """The rule's row of the rule table, in one line."""
    if rule is None:
        return None

    def v(x: Any) -> str:
        return str(getattr(x, "value", x))

    arrow = "↔" if rule.bidirectional else "→"
    return (f"{rule.port}/{rule.proto} · {v(rule.client)} {arrow} {v(rule.server)} · "
            f"{v(rule.scope)} · {v(rule.phase)} · expect {v(rule.expect)} · {v(rule.severity)} · "
            f"rule set {rule.ruleset}")


def _host_sites(report: dict, inventory: Any) -> tuple[dict[str, str], list[str]]:
    host_site: dict[str, str] = {}
    sites: list[str] = []
    if inventory is not None:
        sites = list(inventory.sites)
        host_site = {h.name: h.site for h in inventory.hosts}
    for f in report.get("findings") or []:
        for end in (f.get("client") or {}, f.get("server") or {}):
            if end.get("host") and end.get("site"):
                host_site.setdefault(end["host"], end["site"])
            if end.get("site") and end["site"] not in sites:
                sites.append(end["site"])
    return host_site, sites


def _coverage(report: dict, inventory: Any, rules_by_id: dict[str, Any]) -> dict:
    """Rules × site (or site pair) with counts per status; a host pair
    counts at its hosts' sites."""
    host_site, sites = _host_sites(report, inventory)
    entries = report.get("coverage") or []
    col_of: list[str] = []
    columns: list[str] = []
    for cov in entries:
        c, s = cov.get("client"), cov.get("server")
        if c == "*" or s == "*":
            col = "whole deployment"
        else:
            sc = host_site.get(c, c if c in sites else None)
            ss = host_site.get(s, s if s in sites else None)
            if c not in host_site and s not in host_site and (sc is None or ss is None):
                # No inventory: a some-rule's sites are the ends themselves.
                sc, ss = c, s
            if sc is None or ss is None:
                col = "hosts of unknown site"
            elif sc == ss:
                col = sc
            else:
                a, b = sorted((sc, ss))
                col = f"{a} ↔ {b}"
        col_of.append(col)
        if col not in columns:
            columns.append(col)

    def col_sort(col: str) -> tuple:
        if col in sites:
            return (0, sites.index(col), col)
        if "↔" in col:
            return (1, 0, col)
        if col == "whole deployment":
            return (2, 0, col)
        if col in ("hosts of unknown site",):
            return (4, 0, col)
        return (3, 0, col)

    columns.sort(key=col_sort)
    rows: dict[str, dict[str, Counter]] = {}
    details: dict[tuple[str, str], list[dict]] = {}
    for cov, col in zip(entries, col_of):
        rid = cov.get("rule")
        rows.setdefault(rid, {}).setdefault(col, Counter())[cov.get("status")] += 1
        details.setdefault((rid, col), []).append(cov)
    matrix = []
    totals: Counter = Counter(cov.get("status") for cov in entries)
    for rid, cells in rows.items():
        rule = rules_by_id.get(rid)
        row_cells: list[dict | None] = []
        for col in columns:
            counts = cells.get(col)
            if not counts:
                row_cells.append(None)
                continue
            worst = next((s for s in ("missing", "blocked", "met", "unobserved") if counts.get(s)),
                         "unobserved")
            total = sum(counts.values())
            row_cells.append({
                "worst": worst,
                "parts": [(s, counts[s]) for s in COVERAGE_STATUSES if counts.get(s)],
                "total": total,
                "title": "; ".join(f"{e.get('client')} – {e.get('server')}: {e.get('status')}"
                                   for e in details[(rid, col)][:40]),
            })
        matrix.append({
            "rule": rid,
            "port": f"{rule.port}/{rule.proto}" if rule is not None else "",
            "expect": str(getattr(rule.expect, "value", rule.expect)) if rule is not None else "",
            "cells": row_cells,
        })
    return {"columns": columns, "rows": matrix, "entries": entries, "totals": totals}


def _capture_window(report: dict) -> dict:
    def stamps(field: str) -> list[tuple[_dt.datetime, str]]:
        out = []
        for c in report["inputs"]["captures"]:
            t = _parse_ts(c.get(field))
            if t is not None:
                out.append((t, c[field]))
        return out

    firsts, lasts = stamps("first_ts"), stamps("last_ts")
    if not firsts or not lasts:
        return {"first": None, "last": None, "duration": None}
    first = min(firsts)
    last = max(lasts)
    return {"first": first[1], "last": last[1],
            "duration": _duration((last[0] - first[0]).total_seconds())}


def _deployment_name(report: dict, inventory: Any) -> str:
    if inventory is not None and getattr(inventory, "name", None):
        return str(inventory.name)
    inv = (report.get("inputs") or {}).get("inventory") or {}
    if inv.get("name"):
        return str(inv["name"])
    if inv.get("path"):
        return Path(str(inv["path"])).stem
    return "unnamed deployment"


def _verdict(report: dict, fail_on: str) -> dict:
    rank = SEVERITIES.index(fail_on)
    findings = report.get("findings") or []
    failing = [f for f in findings if f.get("severity") in SEVERITIES[: rank + 1]]
    by_sev = Counter(f.get("severity") for f in findings)
    return {
        "passed": not failing,
        "fail_on": fail_on,
        "failing": len(failing),
        "total": len(findings),
        "by_severity": [(s, by_sev.get(s, 0)) for s in SEVERITIES],
        "exit_code": 1 if failing else 0,
    }


def _accounting(report: dict) -> dict:
    from auditor.report.definitions import BUCKET_DOCS

    packets = report.get("packets") or {}
    read = int(packets.get("read") or 0)
    counts = [int(packets.get(key) or 0) for key in BUCKET_KEYS]
    rows = [{"bucket": key.replace("_", "-"), "packets": n, "doc": BUCKET_DOCS.get(key, ""),
             "share": (100.0 * n / read) if read else 0.0} for key, n in zip(BUCKET_KEYS, counts)]
    total = sum(counts)
    return {"read": read, "rows": rows, "sums": total == read, "sum": total}


def join_activity(flow_activity: Any, verdicts: Any, rules: Any = None) -> Any:
    """The chart's input from the flow stage's activity table: ``flow_activity``
    has one row per (flow, bin) with columns ``flow`` (row position in the
    flow table), ``bin_start_ns``, ``packets`` (and optionally ``bytes``,
    ``bin_ns``); ``verdicts`` (and ``rules``) are aligned with the flow
    table (one verdict string / rule id or None per flow). Returns the
    DataFrame ``render`` takes: bin_start_ns, verdict, rule, packets
    (and bin_ns when given)."""
    import numpy as np
    import pandas as pd

    idx = flow_activity["flow"].to_numpy(dtype="int64")
    verdict_arr = np.asarray(verdicts, dtype=object)
    out = pd.DataFrame({
        "bin_start_ns": flow_activity["bin_start_ns"].to_numpy(dtype="int64"),
        "verdict": verdict_arr[idx],
        "rule": np.asarray(rules, dtype=object)[idx] if rules is not None else None,
        "packets": flow_activity["packets"].to_numpy(dtype="int64"),
    })
    if "bin_ns" in flow_activity.columns:
        out["bin_ns"] = flow_activity["bin_ns"].to_numpy(dtype="int64")
    return out


def render(
    report: dict,
    *,
    inventory: Any = None,
    rules: Sequence[Any] | None = None,
    activity: Any = None,
    fail_on: str = "low",
) -> str:
    """One self-contained HTML document for a schema-v1 report dict.

    - ``inventory``: the ``auditor.model.Inventory`` audited against; gives
      the deployment name, every host's role and site (the picture and the
      coverage columns) and the site pairing. Without it the picture uses
      what the findings say about their ends.
    - ``rules``: the effective ``auditor.model.Rule`` list; gives each
      finding's rule purpose, the ports and the roles of site-level
      expectations in the picture.
    - ``activity``: a pandas DataFrame, one row per (bin, verdict, rule)
      (repeats are summed): ``bin_start_ns`` int64 (start of the time bin,
      ns since the epoch), ``verdict`` (a flow verdict, ``out_of_scope``
      included), ``rule`` (rule id or None), ``packets`` int64 (packets of
      such flows in the bin); optional ``bin_ns`` (bin width; else the
      smallest gap between bin starts, else 1 s). ``join_activity`` builds
      it from a per-flow activity table. Without it the chart is omitted
      with a note.
    - ``fail_on``: the ``--fail-on`` severity the header's pass/fail uses.
    """
    if fail_on not in SEVERITIES:
        raise UsageError(f"--fail-on: unknown severity {fail_on!r} (known: {', '.join(SEVERITIES)})")
    rules_by_id = {r.id: r for r in (rules or [])}
    env = _environment()
    script = env.get_template("report.js").render()
    script_hash = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    flows = report.get("flows")
    context = {
        "r": report,
        "name": _deployment_name(report, inventory),
        "verdict": _verdict(report, fail_on),
        "window": _capture_window(report),
        "captures": report["inputs"]["captures"],
        "inventory_input": report["inputs"].get("inventory") or {},
        "inventory_hosts": len(inventory.hosts) if inventory is not None else None,
        "inventory_sites": list(inventory.sites) if inventory is not None else None,
        "rulesets": report["inputs"].get("rules") or [],
        "findings": _findings(report, rules_by_id),
        "summary": report.get("summary") or {},
        "verdict_order": [v for v in svg.VERDICT_ORDER if v != "out_of_scope"],
        "picture": svg.deployment_picture(report, inventory, rules),
        "picture_has_inventory": inventory is not None,
        "coverage": _coverage(report, inventory, rules_by_id),
        "chart": svg.traffic_chart(activity) if activity is not None else None,
        "activity_given": activity is not None,
        "accounting": _accounting(report),
        "warnings": (report.get("warnings") or [])[:WARNING_LIMIT],
        "warnings_more": max(0, len(report.get("warnings") or []) - WARNING_LIMIT),
        "flows_count": None if flows is None else len(flows),
        "glossary": _glossary(),
        "status_colours": svg.STATUS_COLOURS,
        "verdict_colours": svg.VERDICT_COLOURS,
        "severity_colours": svg.SEVERITY_COLOURS,
        "legend_statuses": ("met", "blocked", "missing", "misdirected", "reversed", "unexpected", "unobserved"),
        "conn_states": CONN_STATES,
        "script": Markup(script),
        "csp": (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                f"script-src 'sha256-{script_hash}'; base-uri 'none'; form-action 'none'"),
    }
    return env.get_template("report.html.j2").render(**context)

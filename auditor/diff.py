"""Two JSON reports → what changed (``zvr-audit diff BEFORE.json AFTER.json``).

The question an engineer asks after a firewall change, a migration or a fix:
*what is new, what went away, and can I trust the comparison?* ``diff``
answers it from two schema-v1 reports (SPEC section 7), without re-reading
any capture.

Documented choices
------------------
- **Finding identity.** A finding is the same finding in both reports when
  its key is equal: (kind, rule, client, server, port, proto), where an end
  is its (ip, host) pair, or its site when both are null (a ``missing``
  finding of a ``some`` rule names sites only). This is the grouping of
  SPEC section 7 plus the rule and host names; it ignores counts, times,
  severity and the detail sentence, which are what may *change*. A finding
  that changes kind (``blocked`` → ``missing`` when the attempts stop) is one
  resolved and one new finding: the engineer must look at both.
- **Three lists.** ``new`` (key only in AFTER), ``resolved`` (only in
  BEFORE), ``still_present`` (in both), each most severe first. A still
  present finding records the changes of ``flows``, ``packets``, ``bytes``
  and ``severity`` (a rule file that raised a severity shows here); times and
  the detail sentence always move and are not compared.
- **Coverage.** Each coverage entry is keyed by (rule, client, server); the
  diff lists every entry whose status differs, ``null`` on the side where the
  entry does not exist (the inventory gained or lost a host or site pair).
- **Summary deltas** for ``summary.flows``, ``out_of_scope``, each verdict
  and finding count, and each packet bucket: ``before``, ``after``,
  ``delta`` (``null`` where a side lacks the number).
- **Inputs compared.** Captures by SHA-256 (paths may differ between
  machines): common, only before, only after. The inventory by SHA-256; the
  rule sets by id, version and SHA-256. When the inventory or the rules
  differ, or the tool version does, the findings are not like for like (a
  finding may be new because a rule was added, not because the network
  changed): the diff carries a warning saying so, printed first. New
  captures are the normal case and only reported.
- **Exit status** (``diff_exit_status``): 0 when AFTER has no new finding, 1
  when it has at least one, whatever their severity; unusable input (not
  JSON, not a schema ``zvr-audit/report/v1`` report, a report missing what
  the diff reads) raises ``InputError`` (exit 2):
  ``FILE: not a zvr-audit v1 report (schema is 'zvr-audit/report/v2')``.
- **Rendering** (``render_diff``): warnings first, then the inputs line, new
  findings (with their detail sentence), resolved ones, still-present ones
  that changed (unchanged ones are only counted), coverage changes (met in
  green, missing or blocked in red, anything else in yellow), the summary
  deltas that moved and one result line. Colour only when asked or on a
  terminal without ``NO_COLOR``; input strings are printed as text, never as
  markup.
- The diff is itself a JSON-ready dict (schema ``zvr-audit/diff/v1``), so a
  ``--json OUT`` option needs only ``json.dump``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from auditor.errors import InputError

REPORT_SCHEMA = "zvr-audit/report/v1"
DIFF_SCHEMA = "zvr-audit/diff/v1"

SEVERITIES = ("critical", "high", "medium", "low")
KINDS = ("missing", "blocked", "reversed", "misdirected", "unexpected")
VERDICTS = ("expected", "blocked", "reversed", "misdirected", "unexpected")
BUCKETS = (
    "read",
    "tcp",
    "udp",
    "icmp",
    "other_ip",
    "non_ip",
    "fragment",
    "malformed",
    "unsupported_link",
)
CHANGE_FIELDS = ("flows", "packets", "bytes", "severity")
COVERAGE_STATUSES = ("met", "blocked", "missing", "unobserved")

_FINDING_FIELDS = ("kind", "severity", "rule", "client", "server", "port", "proto")
_END_FIELDS = ("ip", "host", "site")
_COVERAGE_FIELDS = ("rule", "client", "server", "status")


# --------------------------------------------------------------------------
# Loading and checking


def _not_v1(name: str, why: str) -> InputError:
    return InputError(f"{name}: not a zvr-audit v1 report ({why})")


def load_report(path: str | os.PathLike) -> dict:
    """Read one JSON report; ``InputError`` naming the file when it is not a
    readable zvr-audit v1 report."""
    shown = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{shown}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{shown}: byte {exc.start}: not a zvr-audit v1 report (not UTF-8 text)"
        ) from None
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{shown}:{exc.lineno}: not a zvr-audit v1 report (not JSON: {exc.msg} at column {exc.colno})"
        ) from None
    except RecursionError:
        raise _not_v1(shown, "JSON nested too deeply") from None
    check_report(report, shown)
    return report


def check_report(report: Any, name: str = "report") -> None:
    """Check that ``report`` is a schema-v1 report with what the diff reads;
    ``InputError`` with the first problem and a count of the rest."""
    if not isinstance(report, dict):
        raise _not_v1(name, f"top level is {_json_type(report)}, expected an object")
    schema = report.get("schema")
    if schema != REPORT_SCHEMA:
        why = "no schema field" if "schema" not in report else f"schema is {schema!r}"
        raise _not_v1(name, f"{why}, expected {REPORT_SCHEMA!r}")
    problems: list[str] = []
    for key, kind in (("findings", list), ("coverage", list), ("summary", dict), ("inputs", dict)):
        if not isinstance(report.get(key), kind):
            problems.append(f"'{key}' missing or not {'a list' if kind is list else 'an object'}")
    for i, f in enumerate(
        report.get("findings") or [] if isinstance(report.get("findings"), list) else []
    ):
        where = f"findings[{i}]"
        if not isinstance(f, dict):
            problems.append(f"{where}: not an object")
            continue
        problems += [f"{where}: '{k}' missing" for k in _FINDING_FIELDS if k not in f]
        for end in ("client", "server"):
            if end in f and not isinstance(f[end], dict):
                problems.append(f"{where}.{end}: not an object")
    for i, c in enumerate(
        report.get("coverage") or [] if isinstance(report.get("coverage"), list) else []
    ):
        if not isinstance(c, dict):
            problems.append(f"coverage[{i}]: not an object")
            continue
        problems += [f"coverage[{i}]: '{k}' missing" for k in _COVERAGE_FIELDS if k not in c]
    if problems:
        raise InputError(f"{name}: {problems[0]}", more=len(problems) - 1)


def _json_type(value: Any) -> str:
    return {
        list: "a list",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
    }.get(type(value), "null" if value is None else type(value).__name__)


# --------------------------------------------------------------------------
# Keys


def _end_key(end: dict) -> tuple:
    ip, host = end.get("ip"), end.get("host")
    if ip is None and host is None:
        return ("site", end.get("site"))
    return ("addr", ip, host)


def finding_key(f: dict) -> tuple:
    """(kind, rule, client, server, port, proto): the identity of a finding
    across reports."""
    return (
        f.get("kind"),
        f.get("rule"),
        _end_key(f["client"]),
        _end_key(f["server"]),
        f.get("port"),
        f.get("proto"),
    )


def _rank(seq: tuple[str, ...], value: Any) -> int:
    return seq.index(value) if value in seq else len(seq)


def _finding_sort(f: dict) -> tuple:
    return (
        _rank(SEVERITIES, f.get("severity")),
        _rank(KINDS, f.get("kind")),
        str(f.get("rule") or ""),
        str(_end_text(f["client"])),
        str(_end_text(f["server"])),
        int(f.get("port") or 0),
        str(f.get("proto")),
    )


def _merge_duplicates(findings: list[dict]) -> dict[tuple, dict]:
    """Findings by key; a report should have one per key, but two (a
    hand-merged report) add up rather than hide each other."""
    out: dict[tuple, dict] = {}
    for f in findings:
        key = finding_key(f)
        if key not in out:
            out[key] = dict(f)
            continue
        kept = out[key]
        for k in ("flows", "packets", "bytes"):
            kept[k] = (kept.get(k) or 0) + (f.get(k) or 0)
        if _rank(SEVERITIES, f.get("severity")) < _rank(SEVERITIES, kept.get("severity")):
            kept["severity"] = f.get("severity")
    return out


# --------------------------------------------------------------------------
# The diff


def diff_reports(
    before: dict, after: dict, *, before_name: str = "before", after_name: str = "after"
) -> dict:
    """Compare two schema-v1 reports (dicts as ``load_report`` returns them).
    Names label the sides in messages and in the rendered diff."""
    check_report(before, before_name)
    check_report(after, after_name)

    b_findings = _merge_duplicates(before["findings"])
    a_findings = _merge_duplicates(after["findings"])
    new = sorted((a_findings[k] for k in a_findings.keys() - b_findings.keys()), key=_finding_sort)
    resolved = sorted(
        (b_findings[k] for k in b_findings.keys() - a_findings.keys()), key=_finding_sort
    )
    still = []
    for key in sorted(
        a_findings.keys() & b_findings.keys(), key=lambda k: _finding_sort(a_findings[k])
    ):
        b, a = b_findings[key], a_findings[key]
        changes = {
            k: {"before": b.get(k), "after": a.get(k)}
            for k in CHANGE_FIELDS
            if b.get(k) != a.get(k)
        }
        still.append({"before": b, "after": a, "changes": changes})

    coverage = _coverage_changes(before["coverage"], after["coverage"])
    inputs, warnings = _inputs(before, after)
    diff = {
        "schema": DIFF_SCHEMA,
        "before": _side(before, before_name),
        "after": _side(after, after_name),
        "inputs": inputs,
        "warnings": warnings,
        "findings": {"new": new, "resolved": resolved, "still_present": still},
        "coverage": coverage,
        "summary": _summary(before, after),
        "counts": {
            "new": len(new),
            "resolved": len(resolved),
            "still_present": len(still),
            "changed": sum(1 for s in still if s["changes"]),
            "coverage_changed": len(coverage),
        },
    }
    return diff


def reports_to_diff(before_path: str | os.PathLike, after_path: str | os.PathLike) -> dict:
    """``zvr-audit diff`` short of printing: load both files and compare."""
    before, after = load_report(before_path), load_report(after_path)
    return diff_reports(before, after, before_name=str(before_path), after_name=str(after_path))


def diff_exit_status(diff: dict) -> int:
    """0 when the AFTER report has no new finding, 1 when it has any."""
    return 1 if diff["counts"]["new"] else 0



def _side(report: dict, name: str) -> dict:
    tool = report.get("tool")
    if not isinstance(tool, dict):
        tool = {}
    return {
        "name": name,
        "generated_at": report.get("generated_at"),
        "tool_version": tool.get("version"),
    }


def _coverage_changes(before: list[dict], after: list[dict]) -> list[dict]:
    def index(entries: list[dict]) -> dict[tuple, str]:
        return {(c["rule"], c["client"], c["server"]): c["status"] for c in entries}

    b, a = index(before), index(after)
    out = [
        {"rule": k[0], "client": k[1], "server": k[2], "before": b.get(k), "after": a.get(k)}
        for k in b.keys() | a.keys()
        if b.get(k) != a.get(k)
    ]
    return sorted(out, key=lambda c: (str(c["rule"]), str(c["client"]), str(c["server"])))


def _delta(b: Any, a: Any) -> dict:
    numbers = (
        isinstance(b, int)
        and isinstance(a, int)
        and not isinstance(b, bool)
        and not isinstance(a, bool)
    )
    return {"before": b, "after": a, "delta": a - b if numbers else None}


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def _summary(before: dict, after: dict) -> dict:
    out: dict[str, Any] = {}
    for key in ("flows", "out_of_scope"):
        out[key] = _delta(_get(before, "summary", key), _get(after, "summary", key))
    out["verdicts"] = {
        v: _delta(_get(before, "summary", "verdicts", v), _get(after, "summary", "verdicts", v))
        for v in VERDICTS
    }
    out["findings"] = {
        k: _delta(_get(before, "summary", "findings", k), _get(after, "summary", "findings", k))
        for k in KINDS
    }
    out["packets"] = {
        k: _delta(_get(before, "packets", k), _get(after, "packets", k)) for k in BUCKETS
    }
    return out


def _short(sha: Any) -> str:
    return f"{sha[:12]}…" if isinstance(sha, str) and len(sha) > 12 else str(sha)


def _ruleset_facts(entry: dict | None) -> dict | None:
    """A report's rule-set entry as the diff shows it (None when absent)."""
    if entry is None:
        return None
    return {"version": entry.get("version"), "sha256": entry.get("sha256"), "path": entry.get("path")}


def _inputs(before: dict, after: dict) -> tuple[dict, list[str]]:
    warnings: list[str] = []

    # Captures by content.
    def caps(report: dict) -> dict[Any, Any]:
        items = _get(report, "inputs", "captures") or []
        return {c.get("sha256"): c.get("path") for c in items if isinstance(c, dict)}

    bc, ac = caps(before), caps(after)
    captures = {
        "same": bool(bc) and bc.keys() == ac.keys(),
        "common": [
            {"sha256": s, "before_path": bc[s], "after_path": ac[s]}
            for s in sorted(bc.keys() & ac.keys())
        ],
        "only_before": [{"sha256": s, "path": bc[s]} for s in sorted(bc.keys() - ac.keys())],
        "only_after": [{"sha256": s, "path": ac[s]} for s in sorted(ac.keys() - bc.keys())],
    }

    # Inventory by content.
    bi, ai = _get(before, "inputs", "inventory") or {}, _get(after, "inputs", "inventory") or {}
    inventory = {
        "same": bi.get("sha256") == ai.get("sha256"),
        "before": {"path": bi.get("path"), "sha256": bi.get("sha256")},
        "after": {"path": ai.get("path"), "sha256": ai.get("sha256")},
    }
    if not inventory["same"]:
        warnings.append(
            f"inventory changed ({_short(bi.get('sha256'))} → {_short(ai.get('sha256'))}): roles, sites and"
            " expectations may differ, so findings are not like for like"
        )

    # Rule sets by id, version and content.
    def rulesets(report: dict) -> dict[Any, Any]:
        items = _get(report, "inputs", "rules") or []
        return {r.get("ruleset"): r for r in items if isinstance(r, dict)}

    br, ar = rulesets(before), rulesets(after)
    rule_changes: list[dict[str, Any]] = []
    for rs in sorted(br.keys() | ar.keys(), key=str):
        b, a = br.get(rs), ar.get(rs)
        if b is None or a is None:
            change = "added" if b is None else "removed"
        elif b.get("version") != a.get("version"):
            change = "version"
        elif b.get("sha256") != a.get("sha256"):
            change = "content"  # edited without a version bump
        else:
            continue
        rule_changes.append(
            {
                "ruleset": rs,
                "change": change,
                "before": _ruleset_facts(b),
                "after": _ruleset_facts(a),
            }
        )
    if rule_changes:
        parts = []
        for c in rule_changes:
            if c["change"] == "added":
                parts.append(f"{c['ruleset']} v{c['after']['version']} added")
            elif c["change"] == "removed":
                parts.append(f"{c['ruleset']} v{c['before']['version']} removed")
            elif c["change"] == "version":
                parts.append(f"{c['ruleset']} v{c['before']['version']} → v{c['after']['version']}")
            else:
                parts.append(
                    f"{c['ruleset']} v{c['after']['version']} edited without a version bump"
                )
        warnings.append(f"rules changed ({'; '.join(parts)}): findings are not like for like")

    bt, at = _get(before, "tool", "version"), _get(after, "tool", "version")
    tool = {"same": bt == at, "before": bt, "after": at}
    if bt != at:
        warnings.append(
            f"zvr-audit version changed ({bt} → {at}): verdicts may differ for the same traffic"
        )

    inputs = {
        "captures": captures,
        "inventory": inventory,
        "rules": {"same": not rule_changes, "changes": rule_changes},
        "tool": tool,
        "like_for_like": inventory["same"] and not rule_changes and tool["same"],
    }
    return inputs, warnings


# --------------------------------------------------------------------------
# Rendering

_SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def _end_text(end: dict) -> str:
    host, ip, site = end.get("host"), end.get("ip"), end.get("site")
    if host and ip:
        return f"{host} ({ip})"
    if host or ip:
        return str(host or ip)
    return f"site {site}" if site else "*"


def _finding_line(f: dict) -> list[tuple[str, str]]:
    sev = str(f.get("severity"))
    rule = f.get("rule") or "no rule"
    parts = [
        (f"{sev.upper():<8} ", _SEVERITY_STYLE.get(sev, "")),
        (f"{f.get('kind'):<11} ", "bold"),
        (f"{f.get('port')}/{f.get('proto')} ", ""),
        (f"{_end_text(f['client'])} → {_end_text(f['server'])} ", ""),
        (f"[{rule}]", "dim"),
    ]
    if f.get("kind") != "missing":
        parts.append((f", {f.get('flows', 0)} flow(s)", ""))
    return parts


def _console(file: IO[str], color: bool | None):
    from rich.console import Console

    if color is None:
        color = bool(getattr(file, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ
    return Console(
        file=file,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        emoji=False,
        soft_wrap=True,
        width=10_000,
    )


def render_diff(diff: dict, file: IO[str], color: bool | None = None) -> None:
    """Write the diff for a person: warnings first, then new, resolved and
    changed findings, coverage changes, summary deltas and the result line.
    Colour only when asked, or on a terminal without ``NO_COLOR``; every
    input string is printed as text (no markup is interpreted)."""
    from rich.text import Text

    console = _console(file, color)

    def line(*parts: tuple[str, str]) -> None:
        console.print(Text.assemble(*parts))

    b, a = diff["before"], diff["after"]
    line(
        ("zvr-audit diff ", "bold"),
        (f"{b['name']} ({b.get('generated_at')})", ""),
        (" → ", ""),
        (f"{a['name']} ({a.get('generated_at')})", ""),
    )
    for w in diff["warnings"]:
        line(("warning: ", "bold yellow"), (w, "yellow"))

    caps = diff["inputs"]["captures"]
    if caps["same"]:
        cap_text = f"the same {len(caps['common'])} capture(s)"
    else:
        cap_text = (
            f"{len(caps['common'])} capture(s) in common, {len(caps['only_before'])} only before,"
            f" {len(caps['only_after'])} only after"
        )
    inv = "same inventory" if diff["inputs"]["inventory"]["same"] else "inventory changed"
    rules = "same rules" if diff["inputs"]["rules"]["same"] else "rules changed"
    line(("inputs: ", "bold"), (f"{cap_text}; {inv}; {rules}", ""))

    f = diff["findings"]
    console.print()
    line((f"New findings ({len(f['new'])})", "bold red" if f["new"] else "bold"))
    for item in f["new"]:
        line(("  + ", "red"), *_finding_line(item))
        if item.get("detail"):
            line(("      ", ""), (str(item["detail"]), "dim"))
    line((f"Resolved findings ({len(f['resolved'])})", "bold green" if f["resolved"] else "bold"))
    for item in f["resolved"]:
        line(("  - ", "green"), *_finding_line(item))
    changed = [s for s in f["still_present"] if s["changes"]]
    line((f"Still present ({len(f['still_present'])}, {len(changed)} changed)", "bold"))
    for item in changed:
        changes = ", ".join(f"{k} {v['before']} → {v['after']}" for k, v in item["changes"].items())
        line(("  ~ ", "yellow"), *_finding_line(item["after"]), (f": {changes}", "yellow"))

    if diff["coverage"]:
        console.print()
        line((f"Coverage changes ({len(diff['coverage'])})", "bold"))
        for c in diff["coverage"]:
            # Met is good news, missing or blocked bad news; the rest
            # (unobserved, an entry that came or went) only needs a look.
            style = {"met": "green", "missing": "red", "blocked": "red"}.get(c["after"], "yellow")
            line(
                ("  ", ""),
                (f"{c['rule']} {c['client']} / {c['server']}: ", ""),
                (
                    f"{c['before'] or 'absent'} → {c['after'] or 'absent'}",
                    style,
                ),
            )

    s = diff["summary"]
    console.print()
    parts = [f"flows {_delta_text(s['flows'])}"]
    parts += [
        f"{k} {_delta_text(v)}" for k, v in s["findings"].items() if v["before"] != v["after"]
    ]
    line(("summary: ", "bold"), ("; ".join(parts), ""))
    counts = diff["counts"]
    result = f"{counts['new']} new, {counts['resolved']} resolved, {counts['still_present']} still present"
    line(("result: ", "bold"), (result, "bold red" if counts["new"] else "bold green"))


def _delta_text(d: dict) -> str:
    if d["delta"] is None:
        return f"{d['before']} → {d['after']}"
    sign = "+" if d["delta"] > 0 else ""
    return (
        f"{d['before']} → {d['after']} ({sign}{d['delta']})" if d["delta"] else f"{d['after']} (=)"
    )

"""Verdicts → the JSON report, schema ``zvr-audit/report/v1`` (SPEC section 7).

The dict built here is the one report every renderer reads (JSON file,
terminal, HTML). Its keys are the schema's (``/work/shared/schema``); the only
extra is ``inputs.inventory.name`` (the deployment's name, for headers).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from auditor import __version__
from auditor.model import Inventory, RuleSet, Severity
from auditor.tables import BUCKET_KEYS, FLOW_CSV_COLUMNS, iso_utc
from auditor.verdicts import FindingKind, Verdict, Verdicts

SCHEMA = "zvr-audit/report/v1"
CAPTURE_KEYS = (
    "path",
    "sha256",
    "format",
    "compression",
    "link_types",
    "packets",
    "bytes",
    "first_ts",
    "last_ts",
)
FLOW_KEYS = tuple(c.name for c in FLOW_CSV_COLUMNS) + ("verdict", "rule")
_INT_FLOW_KEYS = (
    "client_port",
    "server_port",
    "packets_c2s",
    "packets_s2c",
    "bytes_c2s",
    "bytes_s2c",
)


def generated_now(generated_at: _dt.datetime | str | None = None) -> str:
    """ISO-8601 UTC generation time: the given one, else SOURCE_DATE_EPOCH
    (reproducible builds, https://reproducible-builds.org/specs/source-date-epoch/),
    else now."""
    if isinstance(generated_at, str):
        return generated_at
    if generated_at is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
        generated_at = _dt.datetime.now(tz=_dt.timezone.utc)  # unless the epoch is a usable time
        if epoch.isascii() and epoch.isdigit():
            try:
                generated_at = _dt.datetime.fromtimestamp(int(epoch), tz=_dt.timezone.utc)
            except (OverflowError, OSError, ValueError):  # past year 9999
                pass
    if generated_at.tzinfo is None:
        generated_at = generated_at.replace(tzinfo=_dt.timezone.utc)
    return (
        generated_at.astimezone(_dt.timezone.utc)
        .replace(microsecond=0)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
    )


def _capture_entry(info: Mapping[str, Any]) -> dict[str, Any]:
    entry = {k: info.get(k) for k in CAPTURE_KEYS}
    for key in ("first_ts", "last_ts"):  # the capture stage may give only the ns form
        if entry[key] is None and info.get(f"{key}_ns") is not None:
            entry[key] = iso_utc(int(info[f"{key}_ns"]))
    entry["path"] = str(entry["path"])
    entry["link_types"] = [str(x) for x in (entry["link_types"] or [])]
    entry["packets"] = int(entry["packets"] or 0)
    entry["bytes"] = int(entry["bytes"] or 0)
    return entry


def _packets(counts: Mapping[str, int]) -> dict[str, int]:
    out = {"read": int(counts.get("read", 0))}
    for key in BUCKET_KEYS:
        out[key] = int(counts.get(key, 0))
    return out


def _flows(verdicts: Verdicts) -> list[dict[str, Any]]:
    """Every flow with its verdict and rule, out_of_scope ones included."""
    df = verdicts.flows
    if not len(df):
        return []
    cols: dict[str, Iterable[Any]] = {}
    for key in FLOW_KEYS:
        col = df[key]
        if key in _INT_FLOW_KEYS:
            cols[key] = col.to_numpy().astype(np.int64).tolist()
        elif key == "direction_certain":
            cols[key] = col.to_numpy().astype(bool).tolist()
        else:
            cols[key] = [_none_if_missing(x) for x in col.to_numpy(dtype=object)]
    return [dict(zip(FLOW_KEYS, row)) for row in zip(*(cols[k] for k in FLOW_KEYS))]


def _none_if_missing(x: Any) -> Any:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return str(x)


def verdicts_to_report(
    *,
    captures: Sequence[Mapping[str, Any]],
    counts: Mapping[str, int],
    warnings: Sequence[str],
    inventory: Inventory,
    rulesets: Sequence[RuleSet],
    verdicts: Verdicts,
    include_flows: bool = False,
    generated_at: _dt.datetime | str | None = None,
) -> dict[str, Any]:
    """The report dict, exactly schema v1 (flows only with include_flows)."""
    findings = [f.to_dict() for f in verdicts.findings]
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "tool": {"name": "zvr-audit", "version": __version__},
        "generated_at": generated_now(generated_at),
        "inputs": {
            "captures": [_capture_entry(c) for c in captures],
            "inventory": {
                "path": str(inventory.path),
                "sha256": inventory.sha256,
                "name": inventory.name,
            },
            "rules": [
                {
                    "path": str(rs.path),
                    "sha256": rs.sha256,
                    "ruleset": rs.ruleset,
                    "version": int(rs.version),
                }
                for rs in rulesets
            ],
        },
        "packets": _packets(counts),
        "warnings": [str(w) for w in warnings],
        "summary": {
            "flows": int(verdicts.summary["flows"]),
            "out_of_scope": int(verdicts.summary["out_of_scope"]),
            "verdicts": {
                v.value: int(verdicts.summary["verdicts"][v.value])
                for v in Verdict
                if v is not Verdict.OUT_OF_SCOPE
            },
            "findings": {
                k.value: sum(1 for f in findings if f["kind"] == k.value) for k in FindingKind
            },
        },
        "findings": findings,
        "coverage": [c.to_dict() for c in verdicts.coverage],
    }
    if include_flows:
        report["flows"] = _flows(verdicts)
    return report


def exit_status(report: Mapping[str, Any], fail_on: Severity | str = Severity.LOW) -> int:
    """0: no finding at or above ``fail_on``; 1: at least one (SPEC section 2)."""
    threshold = Severity(fail_on).rank
    return int(any(Severity(f["severity"]).rank <= threshold for f in report.get("findings", ())))


def failing_counts(
    report: Mapping[str, Any], fail_on: Severity | str = Severity.LOW
) -> dict[str, int]:
    """Findings per severity at or above ``fail_on``, most severe first."""
    threshold = Severity(fail_on).rank
    counts = {s.value: 0 for s in Severity if s.rank <= threshold}
    for f in report.get("findings", ()):
        if f["severity"] in counts:
            counts[f["severity"]] += 1
    return {k: v for k, v in counts.items() if v}

"""Rule files (``rules/*.yaml``, SPEC section 4) → `RuleSet`s → effective rules.

A rule file::

    ruleset: zvr-legacy
    version: 1
    rules:
      # Source: <document>, <version>
      - id: zvm-vcenter          # kebab-case, never changes, unique across all loaded sets
        port: 443                # 1-65535
        proto: tcp               # tcp | udp
        client: zvm              # a role, `any` (any address) or `inventory` (any host)
        server: vcenter
        scope: same-site         # same-site | peer-site | any
        phase: steady            # steady | install | on-demand        (default steady)
        expect: each             # each | some | optional
        bidirectional: false     # either role may open it            (default false)
        configurable: false      # inventory `ports` may override it  (default false)
        severity: high           # critical | high | medium | low
        purpose: One sentence a person can act on.

Load order is the order rules are matched in (SPEC section 6): the bundled
profile, then ``infrastructure``, then the user's files in the order given.
Every problem in every file is collected and raised once as `RulesError`.
"""

from __future__ import annotations

import dataclasses
import enum as enum_
import re
from collections.abc import Iterable
from pathlib import Path

from auditor.errors import InventoryError, RulesError
from auditor.model import (
    ANY,
    INVENTORY,
    Expect,
    Inventory,
    Phase,
    Role,
    Rule,
    RuleSet,
    Scope,
    Severity,
)
from auditor.resources import rules_dir
from auditor.ruleset.located_yaml import Located, Problems, load_user_yaml, sha256_hex

DEFAULT_PROFILE = "zvr-legacy"
INFRASTRUCTURE = "infrastructure"
PROTOS = ("tcp", "udp")
ENDPOINTS = tuple(r.value for r in Role) + (ANY, INVENTORY)
FILE_KEYS = ("ruleset", "version", "rules")
# SPEC section 4's field order; the values are the defaults of optional fields.
RULE_FIELDS: dict[str, object] = {
    "id": None,
    "port": None,
    "proto": None,
    "client": None,
    "server": None,
    "scope": None,
    "phase": Phase.STEADY,
    "expect": None,
    "bidirectional": False,
    "configurable": False,
    "severity": None,
    "purpose": None,
}
ENUMS: dict[str, type[enum_.Enum]] = {"scope": Scope, "phase": Phase, "expect": Expect, "severity": Severity}
ID_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def bundled_paths(profile: str = DEFAULT_PROFILE) -> list[Path]:
    """The bundled rule files for `profile`: the profile, then infrastructure."""
    folder = rules_dir()
    available = sorted(p.stem for p in folder.glob("*.yaml") if p.stem != INFRASTRUCTURE)
    if profile not in available:
        raise RulesError(
            f"{folder}: no bundled rule set for profile '{profile}' (bundled: {', '.join(available) or 'none'})"
        )
    return [folder / f"{profile}.yaml", folder / f"{INFRASTRUCTURE}.yaml"]


def load_rulesets(paths: list[str] | None, profile: str = DEFAULT_PROFILE) -> list[RuleSet]:
    """Bundled `profile` + infrastructure, then `paths` (adding rules), in load
    order. Raises `RulesError` with the first problem and a count of the rest."""
    files: list[str | Path] = [*bundled_paths(profile), *(paths or [])]
    problems = Problems()
    rulesets: list[RuleSet] = []
    first_seen: dict[str, tuple[str, int]] = {}  # rule id -> (file, line)
    loaded: dict[str, str] = {}  # ruleset name -> file
    for path in files:
        ruleset = _load_file(path, problems)
        if ruleset is None:
            continue
        if ruleset.ruleset in loaded:
            problems.add(
                ruleset.path, ruleset_line(ruleset),
                f"ruleset '{ruleset.ruleset}' is already loaded from {loaded[ruleset.ruleset]}",
            )
        elif ruleset.ruleset:
            loaded[ruleset.ruleset] = ruleset.path
        for rule in ruleset.rules:
            if rule.id in first_seen:
                where, line = first_seen[rule.id]
                problems.add(
                    ruleset.path, rule.source_line, f"rule '{rule.id}': duplicate id (first at {where}:{line})"
                )
            else:
                first_seen[rule.id] = (ruleset.path, rule.source_line)
        rulesets.append(ruleset)
    problems.raise_if_any(RulesError)
    return rulesets


def ruleset_line(ruleset: RuleSet) -> int:
    """Line of the `ruleset:` key (for messages about the whole file)."""
    try:
        with open(ruleset.path, encoding="utf-8-sig") as fh:
            for number, line in enumerate(fh, start=1):
                if line.startswith("ruleset:"):
                    return number
    except OSError:
        pass
    return 1


def _load_file(path: str | Path, problems: Problems) -> RuleSet | None:
    shown = str(path)
    root, data = load_user_yaml(path, RulesError)
    if root is None:
        problems.add(shown, 1, "empty file; expected ruleset, version and rules")
        return None
    if root.kind != "a mapping":
        problems.add(shown, root.line, f"expected a mapping with ruleset, version and rules, found {root.kind}")
        return None
    top: dict[str, Located] = {}
    for key, value in root.items(problems, "rule file"):
        if key not in FILE_KEYS:
            problems.add(shown, value.line, f"unknown key '{key}' (expected: {', '.join(FILE_KEYS)})")
        else:
            top[key] = value
    for key in FILE_KEYS:
        if key not in top:
            problems.add(shown, root.line, f"missing field '{key}'")
    name = ""
    if "ruleset" in top:
        text = top["ruleset"].text()
        if text is None or not ID_PATTERN.match(text):
            problems.add(
                shown, top["ruleset"].line, f"'ruleset' must be a kebab-case name, found {top['ruleset'].kind}"
            )
        else:
            name = text
    version = 0
    if "version" in top:
        number = top["version"].value() if top["version"].kind.startswith("number") else None
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            problems.add(
                shown, top["version"].line, f"'version' must be a whole number from 1, found {top['version'].kind}"
            )
        else:
            version = number
    rules: list[Rule] = []
    if "rules" in top:
        node = top["rules"]
        if node.kind == "a list":
            for item in node.elements():
                rule = _rule(item, name, problems)
                if rule is not None:
                    rules.append(rule)
        elif not node.is_null():  # `rules:` with nothing is an empty set
            problems.add(shown, node.line, f"'rules' must be a list of rules, found {node.kind}")
    return RuleSet(ruleset=name, version=version, path=shown, sha256=sha256_hex(data), rules=tuple(rules))


def _rule(item: Located, ruleset: str, problems: Problems) -> Rule | None:
    path = item.path
    if item.kind != "a mapping":
        problems.add(path, item.line, f"a rule must be a mapping of its fields, found {item.kind}")
        return None
    fields = dict(item.items(problems, "rule"))
    rule_id = fields["id"].text() if "id" in fields else None
    label = f"rule '{rule_id}'" if rule_id else "rule"
    ok = True

    def bad(node: Located, message: str) -> None:
        nonlocal ok
        ok = False
        problems.add(path, node.line, f"{label}: {message}")

    for key, given in fields.items():
        if key not in RULE_FIELDS:
            bad(given, f"unknown field '{key}' (expected: {', '.join(RULE_FIELDS)})")
    values: dict[str, object] = {}
    for key, default in RULE_FIELDS.items():
        found = fields.get(key)
        if found is None or found.is_null():
            if default is None:
                bad(item, f"missing field '{key}'")
            values[key] = default
            continue
        node = found
        if key == "id":
            if rule_id is None or not ID_PATTERN.match(rule_id):
                bad(node, f"id must be kebab-case (like zvm-vra-checkpoints), found {node.kind}")
            values[key] = rule_id
        elif key == "port":
            port = node.value() if node.kind.startswith("number") else None
            if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
                bad(node, f"port must be 1-65535, found {node.kind}")
            values[key] = port
        elif key == "proto":
            text = node.text()
            if text not in PROTOS:
                bad(node, f"proto must be tcp or udp, found {node.kind}")
            values[key] = text
        elif key in ("client", "server"):
            text = node.text()
            if text not in ENDPOINTS:
                bad(node, f"{key} must be a role, 'any' or 'inventory' (roles: {', '.join(ENDPOINTS[:-2])}), "
                          f"found {node.kind}")
            values[key] = text
        elif key in ENUMS:
            enum: type[enum_.Enum] = ENUMS[key]
            try:
                values[key] = enum(node.text())
            except ValueError:
                bad(node, f"{key} must be one of {', '.join(str(e.value) for e in enum)}, found {node.kind}")
        elif key in ("bidirectional", "configurable"):
            flag = node.value() if node.kind.startswith("boolean") else None
            if not isinstance(flag, bool):
                bad(node, f"{key} must be true or false, found {node.kind}")
            values[key] = flag
        elif key == "purpose":
            text = node.text()
            if text is None or not node.node.tag.endswith(":str"):
                bad(node, f"purpose must be one sentence of text, found {node.kind}")
            values[key] = text
    expect = values.get("expect")
    if ok and isinstance(expect, Expect) and expect is not Expect.OPTIONAL and ANY in (values["client"], values["server"]):
        bad(fields["expect"], f"expect '{expect.value}' needs inventory hosts on both sides; "
                              "'any' also matches addresses outside the inventory (use expect: optional)")
    if not ok:
        return None
    return Rule(ruleset=ruleset, source_line=item.line, **values)  # type: ignore[arg-type]


def effective_rules(rulesets: Iterable[RuleSet], inventory: Inventory | None) -> list[Rule]:
    """All rules in load order with the inventory's `ports` overrides applied.
    Overriding an unknown or non-configurable rule is an inventory error at the
    override's line."""
    rules = [rule for ruleset in rulesets for rule in ruleset.rules]
    if inventory is None or not inventory.ports:
        return rules
    by_id = {rule.id: rule for rule in rules}
    configurable = ", ".join(r.id for r in rules if r.configurable) or "none"
    problems = Problems()
    for rule_id in inventory.ports:
        line = inventory.port_lines.get(rule_id, 0)
        if rule_id not in by_id:
            problems.add(
                inventory.path, line, f"ports: unknown rule id '{rule_id}' (configurable: {configurable})"
            )
        elif not by_id[rule_id].configurable:
            problems.add(
                inventory.path, line,
                f"ports: rule '{rule_id}' is not configurable; its port is fixed at {by_id[rule_id].port} "
                f"(configurable: {configurable})",
            )
    problems.raise_if_any(InventoryError)
    return [
        dataclasses.replace(rule, port=inventory.ports[rule.id]) if rule.id in inventory.ports else rule
        for rule in rules
    ]


def rule_ports(rules: Iterable[Rule]) -> dict[str, frozenset[int]]:
    """Ports of the loaded rules per proto: the flow stage's server hint (SPEC
    section 5)."""
    ports: dict[str, set[int]] = {proto: set() for proto in PROTOS}
    for rule in rules:
        ports[rule.proto].add(rule.port)
    return {proto: frozenset(values) for proto, values in ports.items()}

"""Rule sets (SPEC section 4): the bundled files, the loader's checks (one test
per error message), port overrides and rendering."""

from __future__ import annotations

import csv
import io
import json
import re
import textwrap
from pathlib import Path

import pytest
import yaml

from auditor.errors import InventoryError, RulesError
from auditor.inventory import load_inventory
from auditor.model import Expect, Phase, Scope, Severity
from auditor.resources import rules_dir
from auditor.ruleset import bundled_paths, effective_rules, load_rulesets, rule_ports
from auditor.ruleset.show import COLUMNS, render_rules

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / ".." / "shared" / "SPEC.md"

# SPEC section 4's table, transcribed: id, port, client, server, scope, phase,
# expect, bidirectional, severity ("*" = configurable).
SPEC_TABLE = """\
vra-install-ssh | 22 | zvm → esxi | same-site | install | optional | no | low
vra-install-https | 443 | zvm → esxi | same-site | install | optional | no | low
zvm-vcenter | 443 | zvm → vcenter | same-site | steady | each | no | high
zvm-vra-logs | 4005 | zvm → vra | same-site | on-demand | optional | yes | low
zvm-vra | 4006 | zvm → vra | same-site | steady | each | yes | high
zvm-vba | 4006 | zvm → vba | same-site | steady | each | yes | medium
vra-control | 4007 | vra → vra | peer-site | steady | some | yes | critical
vra-data | 4008 | vra → vra | peer-site | steady | some | yes | critical
zvm-vra-checkpoints | 4009 | zvm → vra | same-site | steady | each | yes | high
zvm-vcd-amqp | 5672 | zvm → vcd | same-site | steady | each | no | high
zvm-zssp | 9779 | zssp → zvm | any | on-demand | optional | yes | low
zcm-clients | 9989 | client → zcm | any | on-demand | optional | no | low
zvm-cmdlets* | 9080 | client → zvm | any | on-demand | optional | no | low
zvm-peer* | 9081 | zvm → zvm | peer-site | steady | each | yes | critical
zvm-vba-service* | 9180 | vba → zvm | same-site | steady | optional | yes | medium
zvm-gui* | 9669 | client → zvm | any | on-demand | optional | no | low
zcm-zvm* | 9669 | zcm → zvm | any | steady | some | no | medium
"""
FIELD_ORDER = ["id", "port", "proto", "client", "server", "scope", "phase", "expect",
               "bidirectional", "configurable", "severity", "purpose"]


def table_rows(text: str) -> list[tuple]:
    rows = []
    for line in text.strip().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rid, port, ends, scope, phase, expect, bidi, severity = cells
        client, server = [e.strip() for e in ends.split("→")]
        rows.append((rid.rstrip("*"), int(port), client, server, scope, phase, expect, bidi == "yes",
                     rid.endswith("*"), severity))
    return rows


def rule_rows(rules) -> list[tuple]:
    return [(r.id, r.port, r.client, r.server, r.scope.value, r.phase.value, r.expect.value, r.bidirectional,
             r.configurable, r.severity.value) for r in rules]


# ------------------------------------------------------------- bundled files
def test_bundled_zvr_legacy_is_the_spec_table_in_order():
    legacy, infra = load_rulesets(None)
    assert (legacy.ruleset, legacy.version, infra.ruleset, infra.version) == ("zvr-legacy", 1, "infrastructure", 1)
    assert rule_rows(legacy.rules) == table_rows(SPEC_TABLE)
    assert all(r.proto == "tcp" and r.ruleset == "zvr-legacy" for r in legacy.rules)


def test_bundled_zvr_legacy_matches_the_shared_spec():
    if not SPEC.is_file():
        pytest.skip(f"shared SPEC not found at {SPEC}")
    text = SPEC.read_text()
    section = text[text.index("| id | port |"):]
    lines = []
    for ln in section.splitlines()[2:]:
        if not ln.startswith("|"):
            break
        lines.append(ln)
    legacy = load_rulesets(None)[0]
    assert rule_rows(legacy.rules) == table_rows("\n".join(lines))


def test_bundled_infrastructure_is_exactly_three_rules():
    infra = load_rulesets(None)[1]
    assert [(r.id, r.proto, r.port, r.client, r.server, r.scope, r.expect) for r in infra.rules] == [
        ("dns", "udp", 53, "inventory", "any", Scope.ANY, Expect.OPTIONAL),
        ("dns-tcp", "tcp", 53, "inventory", "any", Scope.ANY, Expect.OPTIONAL),
        ("ntp", "udp", 123, "inventory", "any", Scope.ANY, Expect.OPTIONAL),
    ]


@pytest.mark.parametrize("stem", ["zvr-legacy", "infrastructure"])
def test_bundled_file_style(stem):
    """DESIGN convention 6: block style, SPEC field order, a source comment
    above each rule, purpose one actionable sentence, ruleset == stem."""
    path = rules_dir() / f"{stem}.yaml"
    text = path.read_text()
    assert "{" not in text and "[" not in text, "block style only"
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("- id:"):
            assert lines[i - 1].lstrip().startswith("# Source: "), f"line {i + 1}: no source comment above"
    data = yaml.safe_load(text)
    assert data["ruleset"] == stem and data["version"] == 1
    for rule in data["rules"]:
        assert list(rule) == FIELD_ORDER, rule["id"]
        purpose = rule["purpose"]
        assert purpose[0].isupper() and purpose.endswith(".") and purpose.count(". ") == 0, rule["id"]
        assert 20 < len(purpose) < 160


def test_legacy_sources_name_the_seed_document():
    text = (rules_dir() / "zvr-legacy.yaml").read_text()
    sources = re.findall(r"# Source: (.*)", text)
    assert len(sources) == 17
    assert all(s.startswith("Zerto Virtual Replication architecture and port table (seed document), vSphere")
               for s in sources)


def test_user_files_add_rules_after_the_bundled_ones(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text(textwrap.dedent("""\
        ruleset: site-extra
        version: 3
        rules:
          # Source: acme firewall policy 2024-05
          - id: syslog
            port: 514
            proto: udp
            client: inventory
            server: any
            scope: any
            expect: optional
            severity: low
            purpose: Allow syslog to the collector.
    """))
    sets = load_rulesets([str(path)])
    assert [s.ruleset for s in sets] == ["zvr-legacy", "infrastructure", "site-extra"]
    extra = sets[2].rules[0]
    assert (extra.phase, extra.bidirectional, extra.configurable) == (Phase.STEADY, False, False)  # defaults
    assert extra.severity is Severity.LOW and extra.source_line == 5 and sets[2].version == 3
    assert sets[2].path == str(path)
    assert [r.id for r in effective_rules(sets, None)][-4:] == ["dns", "dns-tcp", "ntp", "syslog"]


def test_sha256_is_of_the_file():
    import hashlib

    for ruleset, path in zip(load_rulesets(None), bundled_paths()):
        assert ruleset.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert ruleset.path == str(path)


def test_unknown_profile():
    with pytest.raises(RulesError, match=r"no bundled rule set for profile 'nope' \(bundled: zvr-legacy\)"):
        load_rulesets(None, profile="nope")


# --------------------------------------------------- one test per error message
GOOD = {
    "id": "x-rule", "port": "1234", "proto": "tcp", "client": "zvm", "server": "vra", "scope": "any",
    "phase": "steady", "expect": "optional", "bidirectional": "false", "configurable": "false",
    "severity": "low", "purpose": "Allow it.",
}


def rule_file(tmp_path: Path, changes: dict[str, str | None] | None = None, extra: str = "",
              head: str = "ruleset: mine\nversion: 1\nrules:\n") -> Path:
    fields = dict(GOOD)
    for key, value in (changes or {}).items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    body = "".join(f"{'  - ' if i == 0 else '    '}{k}: {v}\n" for i, (k, v) in enumerate(fields.items()))
    path = tmp_path / "mine.yaml"
    path.write_text(head + body + extra)
    return path


def rules_error(path: Path) -> RulesError:
    with pytest.raises(RulesError) as info:
        load_rulesets([str(path)])
    return info.value


# (id, field changes, line, message)
FIELD_ERRORS = [
    ("unknown-field", {"colour": "red"}, 16, ("rule 'x-rule': unknown field 'colour' (expected: "
      "id, port, proto, client, server, scope, phase, expect, bidirectional, configurable, severity, purpose)")),
    ("missing-field", {"port": None}, 4, "rule 'x-rule': missing field 'port'"),
    ("bad-id", {"id": "X_Rule"}, 4, "rule 'X_Rule': id must be kebab-case (like zvm-vra-checkpoints), found text 'X_Rule'"),
    ("port-range", {"port": "70000"}, 5, "rule 'x-rule': port must be 1-65535, found number '70000'"),
    ("port-text", {"port": "https"}, 5, "rule 'x-rule': port must be 1-65535, found text 'https'"),
    ("proto", {"proto": "sctp"}, 6, "rule 'x-rule': proto must be tcp or udp, found text 'sctp'"),
    ("client-role", {"client": "zvmm"}, 7, ("rule 'x-rule': client must be a role, 'any' or 'inventory' "
      "(roles: zvm, vra, vba, vcenter, esxi, zcm, zssp, vcd, client), found text 'zvmm'")),
    ("server-role", {"server": "vcentre"}, 8, ("rule 'x-rule': server must be a role, 'any' or 'inventory' "
      "(roles: zvm, vra, vba, vcenter, esxi, zcm, zssp, vcd, client), found text 'vcentre'")),
    ("scope-enum", {"scope": "site"}, 9, "rule 'x-rule': scope must be one of same-site, peer-site, any, found text 'site'"),
    ("phase-enum", {"phase": "always"}, 10, "rule 'x-rule': phase must be one of steady, install, on-demand, found text 'always'"),
    ("expect-enum", {"expect": "all"}, 11, "rule 'x-rule': expect must be one of each, some, optional, found text 'all'"),
    ("severity-enum", {"severity": "urgent"}, 14, "rule 'x-rule': severity must be one of critical, high, medium, low, found text 'urgent'"),
    ("bool-field", {"bidirectional": "sometimes"}, 12, "rule 'x-rule': bidirectional must be true or false, found text 'sometimes'"),
    ("purpose-type", {"purpose": "[a, b]"}, 15, "rule 'x-rule': purpose must be one sentence of text, found a list"),
    ("expect-with-any", {"server": "any", "expect": "each"}, 11, ("rule 'x-rule': expect 'each' needs inventory "
      "hosts on both sides; 'any' also matches addresses outside the inventory (use expect: optional)")),
]


@pytest.mark.parametrize("changes, line, message", [e[1:] for e in FIELD_ERRORS], ids=[e[0] for e in FIELD_ERRORS])
def test_rule_field_error(tmp_path, changes, line, message):
    path = rule_file(tmp_path, changes)
    error = rules_error(path)
    assert str(error) == f"{path}:{line}: {message}"
    assert error.more == 0 and error.exit_code == 2


FILE_ERRORS = [
    ("ruleset-name", "ruleset: My Rules\nversion: 1\nrules:\n", 1,
     "'ruleset' must be a kebab-case name, found text 'My Rules'"),
    ("version", "ruleset: mine\nversion: one\nrules:\n", 2, "'version' must be a whole number from 1, found text 'one'"),
    ("missing-version", "ruleset: mine\nrules:\n", 1, "missing field 'version'"),
    ("missing-ruleset", "version: 1\nrules:\n", 1, "missing field 'ruleset'"),
    ("non-text-key", "ruleset: mine\nversion: 1\n[a]: 1\nrules:\n", 3, "rule file: a key must be text, found a list"),
    ("unknown-key", "ruleset: mine\nversion: 1\nrule: []\nrules:\n", 3,
     "unknown key 'rule' (expected: ruleset, version, rules)"),
    ("rules-type", "ruleset: mine\nversion: 1\nrules: dns\n", 3, "'rules' must be a list of rules, found text 'dns'"),
    ("rule-not-mapping", "ruleset: mine\nversion: 1\nrules:\n  - dns\n", 4,
     "a rule must be a mapping of its fields, found text 'dns'"),
    ("empty-file", "", 1, "empty file; expected ruleset, version and rules"),
    ("top-level-list", "- a\n", 1, "expected a mapping with ruleset, version and rules, found a list"),
    ("duplicate-key", "ruleset: mine\nruleset: yours\nversion: 1\nrules:\n", 2,
     "rule file: duplicate key 'ruleset' (first on line 1)"),
    ("unsafe-tag", "ruleset: !!python/name:os.system\n", 1,
     "tag 'tag:yaml.org,2002:python/name:os.system' is not allowed (plain YAML only)"),
]


@pytest.mark.parametrize("text, line, message", [e[1:] for e in FILE_ERRORS], ids=[e[0] for e in FILE_ERRORS])
def test_rule_file_error(tmp_path, text, line, message):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    assert str(rules_error(path)) == f"{path}:{line}: {message}"


def test_duplicate_id_across_sets(tmp_path):
    path = rule_file(tmp_path, {"id": "zvm-peer"})
    bundled = bundled_paths()[0]
    line = next(i for i, ln in enumerate(bundled.read_text().splitlines(), 1) if ln.endswith("id: zvm-peer"))
    assert str(rules_error(path)) == f"{path}:4: rule 'zvm-peer': duplicate id (first at {bundled}:{line})"


def test_same_ruleset_loaded_twice(tmp_path):
    path = tmp_path / "again.yaml"
    path.write_text("# a copy\nruleset: infrastructure\nversion: 1\nrules:\n")
    bundled = bundled_paths()[1]
    assert str(rules_error(path)) == f"{path}:2: ruleset 'infrastructure' is already loaded from {bundled}"


def test_bundled_file_given_again_reports_the_ruleset_first():
    bundled = bundled_paths()[0]
    error = rules_error(bundled)
    assert str(error) == f"{bundled}:4: ruleset 'zvr-legacy' is already loaded from {bundled}"
    assert error.more == 17  # and every rule id again


def test_hostile_rules_files_are_refused(tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("rules: " + "[" * 100 + "]" * 100 + "\n")
    assert str(rules_error(deep)) == f"{deep}:1: nesting deeper than 32 levels; refusing the file"
    bomb = tmp_path / "bomb.yaml"
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    bomb.write_text("\n".join(lines) + "\nrules: *a8\n")
    assert str(rules_error(bomb)) == f"{bomb}:5: aliases expand to more than 100000 values; refusing the file"
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as fh:
        fh.truncate(17 * 1024 * 1024)
    assert str(rules_error(huge)) == f"{huge}: file is 17825792 bytes; refusing files over 16777216 bytes"


def test_every_problem_is_counted(tmp_path):
    path = rule_file(tmp_path, {"port": "0", "proto": "icmp", "scope": "x"}, extra="  - id: y\n")
    error = rules_error(path)
    assert str(error) == f"{path}:5: rule 'x-rule': port must be 1-65535, found number '0'"
    assert error.more == 2 + 8  # proto, scope; the second rule misses its 8 required fields


def test_missing_rules_file(tmp_path):
    path = tmp_path / "nope.yaml"
    assert str(rules_error(path)) == f"{path}: no such file"


# ----------------------------------------------------------- port overrides
def inventory(tmp_path: Path, ports: str) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text("sites: {prod: {}, dr: {}}\nhosts:\n  - {name: z, role: zvm, site: prod, ip: 10.0.0.1}\n"
                    f"ports:\n{ports}")
    return path


def test_effective_rules_apply_overrides_in_load_order(tmp_path):
    inv = load_inventory(inventory(tmp_path, "  zvm-peer: 9181\n  zvm-gui: 443\n"))
    sets = load_rulesets(None)
    rules = effective_rules(sets, inv)
    by_id = {r.id: r for r in rules}
    assert by_id["zvm-peer"].port == 9181 and by_id["zvm-gui"].port == 443
    assert by_id["zcm-zvm"].port == 9669  # not overridden
    assert [r.id for r in rules] == [r.id for s in sets for r in s.rules]
    assert {r.id: r.port for r in effective_rules(sets, None)}["zvm-peer"] == 9081


def test_override_of_unknown_rule_is_an_inventory_error(tmp_path):
    path = inventory(tmp_path, "  zvm-peer: 9181\n  zvm-peeer: 9181\n")
    with pytest.raises(InventoryError) as info:
        effective_rules(load_rulesets(None), load_inventory(path))
    assert str(info.value) == (
        f"{path}:6: ports: unknown rule id 'zvm-peeer' "
        "(configurable: zvm-cmdlets, zvm-peer, zvm-vba-service, zvm-gui, zcm-zvm)"
    )


def test_override_of_fixed_rule_is_an_inventory_error(tmp_path):
    path = inventory(tmp_path, "  vra-data: 5008\n  dns: 5353\n")
    with pytest.raises(InventoryError) as info:
        effective_rules(load_rulesets(None), load_inventory(path))
    assert str(info.value) == (
        f"{path}:5: ports: rule 'vra-data' is not configurable; its port is fixed at 4008 "
        "(configurable: zvm-cmdlets, zvm-peer, zvm-vba-service, zvm-gui, zcm-zvm)"
    )
    assert info.value.more == 1


def test_rule_ports():
    ports = rule_ports(effective_rules(load_rulesets(None), None))
    assert ports == {
        "tcp": frozenset({22, 443, 4005, 4006, 4007, 4008, 4009, 5672, 9779, 9989, 9080, 9081, 9180, 9669, 53}),
        "udp": frozenset({53, 123}),
    }


# ---------------------------------------------------------------- rendering
class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def rules_now():
    return effective_rules(load_rulesets(None), None)


def test_render_json():
    out = io.StringIO()
    render_rules(rules_now(), "json", out)
    data = json.loads(out.getvalue())
    assert len(data) == 20 and list(data[0]) == list(COLUMNS)
    assert data[13] == {
        "id": "zvm-peer", "port": 9081, "proto": "tcp", "client": "zvm", "server": "zvm", "scope": "peer-site",
        "phase": "steady", "expect": "each", "bidirectional": True, "configurable": True, "severity": "critical",
        "purpose": data[13]["purpose"], "ruleset": "zvr-legacy",
    }


def test_render_csv():
    out = io.StringIO()
    render_rules(rules_now(), "csv", out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == 20 and rows[0]["id"] == "vra-install-ssh" and rows[-1]["id"] == "ntp"
    assert rows[13]["bidirectional"] == "true" and rows[0]["configurable"] == "false"


def test_render_table_plain_when_not_a_terminal():
    out = io.StringIO()
    render_rules(rules_now(), "table", out)
    text = out.getvalue()
    assert "\x1b[" not in text
    assert "zvm-vra-checkpoints" in text and "9081/tcp*" in text and "zvm ↔ zvm" in text
    assert "Allow 4008 between the VRAs of paired sites" in text  # a pipe gets every column
    assert text.index("zvr-legacy") < text.index("infrastructure")


def test_render_table_colour_on_a_terminal_unless_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = FakeTerminal()
    render_rules(rules_now(), "table", out)
    assert "\x1b[" in out.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    out = FakeTerminal()
    render_rules(rules_now(), "table", out)
    assert "\x1b[" not in out.getvalue() and "zvm-peer" in out.getvalue()


def test_render_unknown_format():
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        render_rules(rules_now(), "xml", io.StringIO())


def test_readme_example_rules_file_loads(tmp_path):
    text = (rules_dir() / "README.md").read_text() if (rules_dir() / "README.md").is_file() else None
    if text is None:
        pytest.skip("rules/README.md is not shipped in an installed wheel")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "acme-extra.yaml"
    path.write_text(example)
    extra = load_rulesets([str(path)])[-1]
    assert extra.ruleset == "acme-extra" and [r.id for r in extra.rules] == ["syslog"]

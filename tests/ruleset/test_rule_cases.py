"""Rules tested as data (DESIGN convention 7).

``tests/rule_cases/<ruleset>.yaml`` lists flows in compact notation with the
verdict and rule each must get against a small inventory beside it. This
module parses them (independently of any matcher), checks that every bundled
rule has a case it matches and a near miss it must not match, and runs every
case through the verdict engine.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from auditor.inventory import load_inventory
from auditor.model import Inventory, Rule
from auditor.ruleset import effective_rules, load_rulesets
from auditor.tables import CONN_STATES, FLOW_COLUMNS, iso_utc, text_to_addr

CASES_DIR = Path(__file__).resolve().parents[1] / "rule_cases"
VERDICTS = ("expected", "blocked", "reversed", "misdirected", "unexpected", "out_of_scope")
MATCHING = ("expected", "blocked")  # a rule "matches" a flow it names with these
CASE_KEYS = {"flow", "verdict", "rule", "must_not_match", "inventory"}
FILE_KEYS = {"ruleset", "inventory", "cases"}

# "CLIENT:PORT > SERVER:PORT PROTO [STATE] [certain|uncertain] [icmp-unreach]"
ENDPOINT = r"(\[[0-9A-Fa-f:.]+\]|[0-9.]+):(\d+)"
FLOW_PATTERN = re.compile(rf"^\s*{ENDPOINT}\s+>\s+{ENDPOINT}\s+(tcp|udp)((?:\s+\S+)*)\s*$")

# Plausible packet counts per state (client to server, server to client) and
# the bare SYNs the client sent; the verdict stage reads the state itself.
STATE_SHAPE = {
    "S0": (3, 0, 3), "S1": (3, 2, 1), "SF": (6, 5, 1), "REJ": (1, 1, 1), "S2": (4, 2, 1), "S3": (3, 3, 1),
    "RSTO": (4, 2, 1), "RSTR": (3, 3, 1), "RSTOS0": (2, 0, 1), "RSTRH": (0, 2, 0), "SH": (2, 0, 1),
    "SHR": (0, 2, 0), "OTH": (2, 2, 0),
}


class CaseError(ValueError):
    """A malformed case file: FILE:LINE: message."""


@dataclass(frozen=True)
class FlowSpec:
    client_ip: str
    client_port: int
    server_ip: str
    server_port: int
    proto: str
    conn_state: str
    direction_certain: bool
    icmp_unreach: bool


@dataclass(frozen=True)
class Case:
    path: Path
    line: int
    flow_text: str
    flow: FlowSpec
    verdict: str
    rule: str | None
    must_not_match: str | None
    inventory: Path

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}"

    def matches(self, rule_id: str) -> bool:
        return self.verdict in MATCHING and self.rule == rule_id


def parse_flow(text: str) -> FlowSpec:
    """The compact flow notation → FlowSpec; ValueError on anything else."""
    m = FLOW_PATTERN.match(text)
    if not m:
        raise ValueError(f"flow {text!r} is not 'CLIENT:PORT > SERVER:PORT tcp|udp [STATE] [flags]'")
    c_ip, c_port, s_ip, s_port, proto, rest = m.groups()
    ips = []
    for raw in (c_ip, s_ip):
        ip = ipaddress.ip_address(raw.strip("[]"))  # ValueError when malformed
        if raw.startswith("[") != (ip.version == 6):
            raise ValueError(f"flow {text!r}: write IPv6 as [addr]:port and IPv4 without brackets")
        ips.append(str(ip))
    ports = [int(c_port), int(s_port)]
    if not all(0 <= p <= 65535 for p in ports):
        raise ValueError(f"flow {text!r}: port out of range")
    state, certain, icmp = "SF", None, False
    for word in rest.split():
        if word in CONN_STATES:
            state = word
        elif word in ("certain", "uncertain"):
            certain = word == "certain"
        elif word == "icmp-unreach":
            icmp = True
        else:
            raise ValueError(f"flow {text!r}: unknown word {word!r} (a conn_state, certain, uncertain, icmp-unreach)")
    if certain is None:  # SPEC section 5: a SYN or SYN-ACK shows the direction; UDP has neither
        certain = proto == "tcp" and state != "OTH"
    return FlowSpec(ips[0], ports[0], ips[1], ports[1], proto, state, certain, icmp)


def parse_case_file(path: Path) -> tuple[str, list[Case]]:
    """(ruleset, cases) of one case file; CaseError names FILE:LINE."""
    root = yaml.compose(path.read_text(), Loader=yaml.SafeLoader)

    def fail(node: yaml.Node, message: str) -> CaseError:
        return CaseError(f"{path}:{node.start_mark.line + 1}: {message}")

    if not isinstance(root, yaml.MappingNode):
        raise CaseError(f"{path}:1: expected ruleset, inventory and cases")
    top = {k.value: v for k, v in root.value}
    if set(top) - FILE_KEYS or "ruleset" not in top or "cases" not in top:
        raise fail(root, f"keys must be {sorted(FILE_KEYS)} (ruleset and cases required), found {sorted(top)}")
    ruleset = top["ruleset"].value
    default_inventory = path.parent / top["inventory"].value if "inventory" in top else None
    cases = []
    for node in top["cases"].value:
        if not isinstance(node, yaml.MappingNode):
            raise fail(node, "a case is a mapping {flow, verdict, rule[, must_not_match][, inventory]}")
        data = yaml.safe_load(yaml.serialize(node))
        unknown = set(data) - CASE_KEYS
        if unknown or not {"flow", "verdict", "rule"} <= set(data):
            raise fail(node, f"case keys must be flow, verdict, rule[, must_not_match, inventory]; found {sorted(data)}")
        try:
            flow = parse_flow(str(data["flow"]))
        except ValueError as exc:
            raise fail(node, str(exc)) from None
        verdict, rule, near_miss = data["verdict"], data["rule"], data.get("must_not_match")
        if verdict not in VERDICTS:
            raise fail(node, f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
        if (rule is None) != (verdict in ("unexpected", "out_of_scope")):
            raise fail(node, f"verdict {verdict!r} {'needs a rule' if rule is None else 'names no rule (rule: null)'}")
        if near_miss is not None and verdict in MATCHING and rule == near_miss:
            raise fail(node, f"must_not_match {near_miss!r} contradicts verdict {verdict!r} under that rule")
        inventory = path.parent / data["inventory"] if "inventory" in data else default_inventory
        if inventory is None:
            raise fail(node, "no inventory: give one for the file or the case")
        cases.append(Case(path, node.start_mark.line + 1, str(data["flow"]), flow, verdict, rule, near_miss, inventory))
    return ruleset, cases


def case_files() -> list[Path]:
    return sorted(p for p in CASES_DIR.glob("*.yaml") if not p.name.startswith("inventory"))


def all_cases() -> list[Case]:
    return [case for path in case_files() for case in parse_case_file(path)[1]]


@cache
def inventory_and_rules(path: Path) -> tuple[Inventory, tuple[Rule, ...]]:
    inventory = load_inventory(path)
    return inventory, tuple(effective_rules(load_rulesets(None, inventory.profile), inventory))


def flow_table(flows: list[FlowSpec]) -> SimpleNamespace:
    """A flow stage output (FLOW_COLUMNS) holding exactly these flows."""
    base_ns = 1_700_000_000 * 1_000_000_000
    rows = []
    for i, f in enumerate(flows):
        c2s, s2c, syns = STATE_SHAPE[f.conn_state] if f.proto == "tcp" else (1, 1 if f.conn_state == "SF" else 0, 0)
        c_hi, c_lo = text_to_addr(f.client_ip)
        s_hi, s_lo = text_to_addr(f.server_ip)
        first, last = base_ns + i * 1_000_000_000, base_ns + i * 1_000_000_000 + 500_000_000
        rows.append({
            "client_ip": f.client_ip, "client_port": f.client_port, "server_ip": f.server_ip,
            "server_port": f.server_port, "proto": f.proto, "first_ts": iso_utc(first), "last_ts": iso_utc(last),
            "packets_c2s": c2s, "packets_s2c": s2c, "bytes_c2s": 74 * c2s, "bytes_s2c": 74 * s2c,
            "conn_state": f.conn_state, "direction_certain": f.direction_certain,
            "first_ts_ns": first, "last_ts_ns": last, "ip_version": ipaddress.ip_address(f.client_ip).version,
            "client_hi": c_hi, "client_lo": c_lo, "server_hi": s_hi, "server_lo": s_lo, "syn_count": syns,
            "icmp_unreach": int(f.icmp_unreach), "icmp_type": 3 if f.icmp_unreach else -1,
            "icmp_code": 13 if f.icmp_unreach else -1, "icmp_reporter": "192.0.2.254" if f.icmp_unreach else "",
        })
    frame = pd.DataFrame(rows, columns=[c.name for c in FLOW_COLUMNS])
    for column in FLOW_COLUMNS:
        frame[column.name] = frame[column.name].astype(column.dtype)
    addresses = np.array(
        sorted({(r["client_hi"], r["client_lo"]) for r in rows} | {(r["server_hi"], r["server_lo"]) for r in rows}),
        dtype=np.uint64,
    ).reshape(-1, 2)
    return SimpleNamespace(flows=frame, addresses=addresses)


# ------------------------------------------------------------ the parser
def test_parse_flow_notation():
    assert parse_flow("10.10.0.10:51000 > 10.10.0.5:443 tcp SF") == FlowSpec(
        "10.10.0.10", 51000, "10.10.0.5", 443, "tcp", "SF", True, False)
    assert parse_flow("[2001:DB8::1]:5 > 10.0.0.1:53 udp") == FlowSpec(
        "2001:db8::1", 5, "10.0.0.1", 53, "udp", "SF", False, False)
    assert parse_flow("1.2.3.4:1 > 5.6.7.8:2 tcp OTH").direction_certain is False
    assert parse_flow("1.2.3.4:1 > 5.6.7.8:2 tcp S0 uncertain icmp-unreach") == FlowSpec(
        "1.2.3.4", 1, "5.6.7.8", 2, "tcp", "S0", False, True)


@pytest.mark.parametrize("text", [
    "10.10.0.10:51000 -> 10.10.0.5:443 tcp", "10.10.0.10:51000 > 10.10.0.5:443 sctp",
    "10.10.0.300:1 > 10.0.0.1:2 tcp", "10.0.0.1:70000 > 10.0.0.2:1 tcp", "10.0.0.1:1 > 10.0.0.2:1 tcp XX",
    "2001:db8::1:5 > 10.0.0.1:53 udp", "[10.0.0.1]:5 > 10.0.0.2:53 udp",
])
def test_parse_flow_rejects(text):
    with pytest.raises(ValueError):
        parse_flow(text)


def test_case_file_errors_name_the_line(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("ruleset: x\ninventory: inventory.yaml\ncases:\n"
                    "  - {flow: '1.1.1.1:1 > 2.2.2.2:2 tcp', verdict: expected, rule: a}\n"
                    "  - {flow: '1.1.1.1:1 > 2.2.2.2:2 tcp', verdict: expected, rule: a, must_not_match: a}\n")
    with pytest.raises(CaseError, match=rf"^{re.escape(str(path))}:5: must_not_match 'a' contradicts"):
        parse_case_file(path)
    path.write_text("ruleset: x\ninventory: i.yaml\ncases:\n  - {flow: '1.1.1.1:1 > 2.2.2.2:2 tcp', verdict: unexpected, rule: a}\n")
    with pytest.raises(CaseError, match=r":4: verdict 'unexpected' names no rule"):
        parse_case_file(path)


# ---------------------------------------------------------- the meta-tests
def test_case_files_cover_the_bundled_rule_sets():
    bundled = [s.ruleset for s in load_rulesets(None)]
    files = {}
    for path in case_files():
        ruleset, cases = parse_case_file(path)
        assert ruleset == path.stem, f"{path}: ruleset {ruleset!r} must equal the file's stem"
        assert cases, f"{path}: no cases"
        files[ruleset] = cases
    assert sorted(files) == sorted(bundled)


def rules_lacking_cases(rule_ids: set[str], cases: list[Case]) -> tuple[list[str], list[str]]:
    """(rules without a case they match, rules without a must_not_match case)."""
    lacking_match = sorted(i for i in rule_ids if not any(c.matches(i) for c in cases))
    lacking_miss = sorted(i for i in rule_ids if not any(c.must_not_match == i for c in cases))
    return lacking_match, lacking_miss


@pytest.mark.parametrize("ruleset", [s.ruleset for s in load_rulesets(None)])
def test_every_rule_has_a_match_and_a_near_miss(ruleset):
    rules = next(s.rules for s in load_rulesets(None) if s.ruleset == ruleset)
    _, cases = parse_case_file(CASES_DIR / f"{ruleset}.yaml")
    all_ids = {r.id for s in load_rulesets(None) for r in s.rules}
    for case in cases:
        for named in (case.rule, case.must_not_match):
            assert named is None or named in all_ids, f"{case.id}: unknown rule {named!r}"
    lacking_match, lacking_miss = rules_lacking_cases({r.id for r in rules}, cases)
    assert not lacking_match, f"rules without a case they match: {lacking_match}"
    assert not lacking_miss, f"rules without a must_not_match case: {lacking_miss}"


def test_meta_test_notices_a_rule_without_cases(tmp_path):
    """The meta-test's check fails when a rule lacks either kind of case."""
    path = tmp_path / "zvr-legacy.yaml"
    original = (CASES_DIR / "zvr-legacy.yaml").read_text()
    text = original.replace("inventory: inventory.yaml", f"inventory: {CASES_DIR / 'inventory.yaml'}")
    ids = {r.id for r in load_rulesets(None)[0].rules}
    # Without zvm-vcd-amqp's lines: no case of either kind.
    path.write_text("".join(ln for ln in text.splitlines(keepends=True) if "zvm-vcd-amqp" not in ln))
    assert rules_lacking_cases(ids, parse_case_file(path)[1]) == (["zvm-vcd-amqp"], ["zvm-vcd-amqp"])
    # Without its near misses only.
    path.write_text(text.replace("must_not_match: zvm-vcd-amqp", "must_not_match: zvm-vcenter"))
    assert rules_lacking_cases(ids, parse_case_file(path)[1]) == ([], ["zvm-vcd-amqp"])
    assert rules_lacking_cases(ids, parse_case_file(CASES_DIR / "zvr-legacy.yaml")[1]) == ([], [])


ALL_CASES = all_cases()


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
def test_rule_case(case):
    from auditor.verdicts import flows_to_verdicts

    inventory, rules = inventory_and_rules(case.inventory)
    judged = flows_to_verdicts(flow_table([case.flow]), inventory, rules).flows
    assert len(judged) == 1
    got = (judged["verdict"].iloc[0], judged["rule"].iloc[0])
    assert got == (case.verdict, case.rule), f"{case.id}: {case.flow_text}"
    if case.must_not_match is not None:
        assert not (got[0] in MATCHING and got[1] == case.must_not_match)


@pytest.mark.parametrize("inventory", sorted({c.inventory for c in ALL_CASES}), ids=lambda p: p.name)
def test_all_cases_together_give_the_same_verdicts(inventory):
    """One flow table with every case of an inventory: a flow's verdict does
    not depend on the other flows in the capture."""
    from auditor.verdicts import flows_to_verdicts

    cases = [c for c in ALL_CASES if c.inventory == inventory]
    inv, rules = inventory_and_rules(inventory)
    judged = flows_to_verdicts(flow_table([c.flow for c in cases]), inv, rules).flows
    got = list(zip(judged["verdict"], judged["rule"]))
    assert got == [(c.verdict, c.rule) for c in cases]

"""Fixtures for discovery tests: the SPEC section 4 rule table as Rule
objects (the rules stage may not have landed yet) and a compact flow-table
builder in the rule-case notation ("10.10.0.10:51000 > 10.10.0.5:443 tcp SF")."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from auditor.model import Expect, Phase, Rule, Scope, Severity
from auditor.tables import FLOW_COLUMNS, text_to_addr

# id, port, client, server, scope, phase, expect, bidirectional, configurable, severity
SPEC_TABLE = [
    ("vra-install-ssh", 22, "zvm", "esxi", "same-site", "install", "optional", False, False, "low"),
    (
        "vra-install-https",
        443,
        "zvm",
        "esxi",
        "same-site",
        "install",
        "optional",
        False,
        False,
        "low",
    ),
    ("zvm-vcenter", 443, "zvm", "vcenter", "same-site", "steady", "each", False, False, "high"),
    ("zvm-vra-logs", 4005, "zvm", "vra", "same-site", "on-demand", "optional", True, False, "low"),
    ("zvm-vra", 4006, "zvm", "vra", "same-site", "steady", "each", True, False, "high"),
    ("zvm-vba", 4006, "zvm", "vba", "same-site", "steady", "each", True, False, "medium"),
    ("vra-control", 4007, "vra", "vra", "peer-site", "steady", "some", True, False, "critical"),
    ("vra-data", 4008, "vra", "vra", "peer-site", "steady", "some", True, False, "critical"),
    ("zvm-vra-checkpoints", 4009, "zvm", "vra", "same-site", "steady", "each", True, False, "high"),
    ("zvm-vcd-amqp", 5672, "zvm", "vcd", "same-site", "steady", "each", False, False, "high"),
    ("zvm-zssp", 9779, "zssp", "zvm", "any", "on-demand", "optional", True, False, "low"),
    ("zcm-clients", 9989, "client", "zcm", "any", "on-demand", "optional", False, False, "low"),
    ("zvm-cmdlets", 9080, "client", "zvm", "any", "on-demand", "optional", False, True, "low"),
    ("zvm-peer", 9081, "zvm", "zvm", "peer-site", "steady", "each", True, True, "critical"),
    (
        "zvm-vba-service",
        9180,
        "vba",
        "zvm",
        "same-site",
        "steady",
        "optional",
        True,
        True,
        "medium",
    ),
    ("zvm-gui", 9669, "client", "zvm", "any", "on-demand", "optional", False, True, "low"),
    ("zcm-zvm", 9669, "zcm", "zvm", "any", "steady", "some", False, True, "medium"),
]
INFRA_TABLE = [
    ("dns", 53, "udp"),
    ("dns-tcp", 53, "tcp"),
    ("ntp", 123, "udp"),
]


def make_spec_rules() -> list[Rule]:
    rules = [
        Rule(
            id=rid,
            port=port,
            proto="tcp",
            client=c,
            server=s,
            scope=Scope(scope),
            phase=Phase(phase),
            expect=Expect(expect),
            bidirectional=bidi,
            configurable=conf,
            severity=Severity(sev),
            purpose=f"{rid} purpose.",
            ruleset="zvr-legacy",
            source_line=i + 1,
        )
        for i, (rid, port, c, s, scope, phase, expect, bidi, conf, sev) in enumerate(SPEC_TABLE)
    ]
    rules += [
        Rule(
            id=rid,
            port=port,
            proto=proto,
            client="inventory",
            server="any",
            scope=Scope.ANY,
            phase=Phase.STEADY,
            expect=Expect.OPTIONAL,
            bidirectional=False,
            configurable=False,
            severity=Severity.LOW,
            purpose=f"{rid} purpose.",
            ruleset="infrastructure",
            source_line=i + 1,
        )
        for i, (rid, port, proto) in enumerate(INFRA_TABLE)
    ]
    return rules


@pytest.fixture
def spec_rules() -> list[Rule]:
    return make_spec_rules()


_ports = itertools.count(40000)


def flow_frame(lines: list[str]) -> pd.DataFrame:
    """Flows from compact lines 'CIP[:CPORT] > SIP:SPORT PROTO STATE [xN]'
    (xN repeats the flow N times; CPORT defaults to a fresh ephemeral port)."""
    rows = []
    for line in lines:
        parts = line.split()
        repeat = 1
        if parts[-1].startswith("x"):
            repeat = int(parts.pop()[1:])
        client, _gt, server, proto, state = parts
        cip, _, cport = client.rpartition(":") if client.count(":") == 1 else (client, "", "")
        sip, _, sport = server.rpartition(":")
        for _ in range(repeat):
            chi, clo = text_to_addr(cip)
            shi, slo = text_to_addr(sip)
            answered = state not in ("S0", "REJ", "SH", "RSTOS0")
            rows.append(
                {
                    "client_ip": cip,
                    "client_port": int(cport) if cport else next(_ports),
                    "server_ip": sip,
                    "server_port": int(sport),
                    "proto": proto,
                    "first_ts": "2026-01-01T00:00:00.000000Z",
                    "last_ts": "2026-01-01T00:00:01.000000Z",
                    "packets_c2s": 5,
                    "packets_s2c": 5 if answered else 0,
                    "bytes_c2s": 500,
                    "bytes_s2c": 500 if answered else 0,
                    "conn_state": state,
                    "direction_certain": state != "OTH",
                    "first_ts_ns": 1_767_225_600_000_000_000,
                    "last_ts_ns": 1_767_225_601_000_000_000,
                    "ip_version": 4 if "." in cip else 6,
                    "client_hi": chi,
                    "client_lo": clo,
                    "server_hi": shi,
                    "server_lo": slo,
                    "syn_count": 1,
                    "icmp_unreach": 0,
                    "icmp_type": -1,
                    "icmp_code": -1,
                    "icmp_reporter": "",
                }
            )
    df = pd.DataFrame(rows, columns=[c.name for c in FLOW_COLUMNS])
    for c in FLOW_COLUMNS:
        df[c.name] = df[c.name].astype(c.dtype)
    return df

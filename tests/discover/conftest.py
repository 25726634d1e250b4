"""Fixtures for discovery tests: the SPEC section 4 rule table as Rule
objects (the rules stage may not have landed yet) and a compact flow-table
builder in the rule-case notation ("10.10.0.10:51000 > 10.10.0.5:443 tcp SF")."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from auditor.model import Rule
from auditor.ruleset import effective_rules, load_rulesets
from auditor.tables import FLOW_COLUMNS, text_to_addr


def make_spec_rules() -> list[Rule]:
    """The bundled rules (rules/zvr-legacy.yaml + infrastructure.yaml), which
    tests/ruleset checks against SPEC section 4's table."""
    return effective_rules(load_rulesets(None, "zvr-legacy"), None)


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

"""Test builders for the verdict and report stages: the bundled rule table
(SPEC section 4) as Rule objects, small inventories, and flow tables in the
flow stage's column contract, written in a compact notation:

    "10.10.0.10:51000 > 10.10.0.5:443 tcp SF"
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditor.model import Expect, Host, Inventory, Phase, Role, Rule, RuleSet, Scope, Severity, Site
from auditor.tables import FLOW_COLUMNS, iso_utc, text_to_addr

# id, port, client, server, scope, phase, expect, bidirectional, severity, configurable
ZVR_LEGACY = [
    ("vra-install-ssh", 22, "zvm", "esxi", "same-site", "install", "optional", False, "low", False),
    (
        "vra-install-https",
        443,
        "zvm",
        "esxi",
        "same-site",
        "install",
        "optional",
        False,
        "low",
        False,
    ),
    ("zvm-vcenter", 443, "zvm", "vcenter", "same-site", "steady", "each", False, "high", False),
    ("zvm-vra-logs", 4005, "zvm", "vra", "same-site", "on-demand", "optional", True, "low", False),
    ("zvm-vra", 4006, "zvm", "vra", "same-site", "steady", "each", True, "high", False),
    ("zvm-vba", 4006, "zvm", "vba", "same-site", "steady", "each", True, "medium", False),
    ("vra-control", 4007, "vra", "vra", "peer-site", "steady", "some", True, "critical", False),
    ("vra-data", 4008, "vra", "vra", "peer-site", "steady", "some", True, "critical", False),
    ("zvm-vra-checkpoints", 4009, "zvm", "vra", "same-site", "steady", "each", True, "high", False),
    ("zvm-vcd-amqp", 5672, "zvm", "vcd", "same-site", "steady", "each", False, "high", False),
    ("zvm-zssp", 9779, "zssp", "zvm", "any", "on-demand", "optional", True, "low", False),
    ("zcm-clients", 9989, "client", "zcm", "any", "on-demand", "optional", False, "low", False),
    ("zvm-cmdlets", 9080, "client", "zvm", "any", "on-demand", "optional", False, "low", True),
    ("zvm-peer", 9081, "zvm", "zvm", "peer-site", "steady", "each", True, "critical", True),
    (
        "zvm-vba-service",
        9180,
        "vba",
        "zvm",
        "same-site",
        "steady",
        "optional",
        True,
        "medium",
        True,
    ),
    ("zvm-gui", 9669, "client", "zvm", "any", "on-demand", "optional", False, "low", True),
    ("zcm-zvm", 9669, "zcm", "zvm", "any", "steady", "some", False, "medium", True),
]
INFRASTRUCTURE = [
    ("dns", 53, "udp"),
    ("dns-tcp", 53, "tcp"),
    ("ntp", 123, "udp"),
]


def _rule(row: tuple, ruleset: str) -> Rule:
    rid, port, client, server, scope, phase, expect, bidir, sev, conf = row
    return Rule(
        id=rid,
        port=port,
        proto="tcp",
        client=client,
        server=server,
        scope=Scope(scope),
        phase=Phase(phase),
        expect=Expect(expect),
        bidirectional=bidir,
        configurable=conf,
        severity=Severity(sev),
        purpose=f"Purpose of {rid}.",
        ruleset=ruleset,
    )


def bundled_rulesets() -> list[RuleSet]:
    legacy = tuple(_rule(r, "zvr-legacy") for r in ZVR_LEGACY)
    infra = tuple(
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
            purpose=f"Purpose of {rid}.",
            ruleset="infrastructure",
        )
        for rid, port, proto in INFRASTRUCTURE
    )
    return [
        RuleSet(
            "zvr-legacy", 1, "rules/zvr-legacy.yaml", hashlib.sha256(b"legacy").hexdigest(), legacy
        ),
        RuleSet(
            "infrastructure",
            1,
            "rules/infrastructure.yaml",
            hashlib.sha256(b"infra").hexdigest(),
            infra,
        ),
    ]


def bundled_rules() -> list[Rule]:
    return [r for rs in bundled_rulesets() for r in rs.rules]


def rule(
    rid: str,
    port: int,
    client: str,
    server: str,
    *,
    proto: str = "tcp",
    scope: str = "any",
    expect: str = "optional",
    bidirectional: bool = False,
    severity: str = "medium",
    phase: str = "steady",
) -> Rule:
    return Rule(
        id=rid,
        port=port,
        proto=proto,
        client=client,
        server=server,
        scope=Scope(scope),
        phase=Phase(phase),
        expect=Expect(expect),
        bidirectional=bidirectional,
        configurable=False,
        severity=Severity(severity),
        purpose=f"Purpose of {rid}.",
        ruleset="user",
    )


# ---------------------------------------------------------------- inventories
TWO_SITES = [
    ("zvm-prod", "zvm", "prod", "10.10.0.10"),
    ("vc-prod", "vcenter", "prod", "10.10.0.5"),
    ("esx-prod-1", "esxi", "prod", "10.10.1.11"),
    ("vra-prod-1", "vra", "prod", "10.10.2.11"),
    ("admins", "client", "prod", "10.10.9.0/24"),
    ("zvm-dr", "zvm", "dr", "10.20.0.10"),
    ("vc-dr", "vcenter", "dr", "10.20.0.5"),
    ("esx-dr-1", "esxi", "dr", "10.20.1.11"),
    ("vra-dr-1", "vra", "dr", "10.20.2.11"),
]


def inventory(
    hosts: list[tuple] = TWO_SITES, peers: dict[str, list[str]] | None = None, name: str = "acme-dr"
) -> Inventory:
    site_names = sorted({h[2] for h in hosts} | set(peers or {}))
    if peers is None:
        peers = {site_names[0]: [site_names[1]]} if len(site_names) == 2 else {}
    sites = {s: Site(s, frozenset(peers.get(s, ()))) for s in site_names}
    host_objs = tuple(
        Host(
            name=n,
            role=Role(role),
            site=site,
            networks=tuple(
                ipaddress.ip_network(a, strict=False)
                for a in (ip if isinstance(ip, list) else [ip])
            ),
        )
        for n, role, site, ip in hosts
    )
    return Inventory(
        name=name,
        profile="zvr-legacy",
        path="inventory.yaml",
        sha256=hashlib.sha256(b"inventory").hexdigest(),
        sites=sites,
        hosts=host_objs,
        ports={},
    )


# ---------------------------------------------------------------- flows
@dataclass
class FlowTable:
    flows: pd.DataFrame
    addresses: np.ndarray


T0 = 1_714_564_800_000_000_000  # 2024-05-01T12:00:00Z


def flow(
    spec: str,
    *,
    t: float = 0.0,
    dur: float = 1.0,
    syns: int | None = None,
    certain: bool | None = None,
    packets: tuple[int, int] = (5, 4),
    nbytes: tuple[int, int] = (600, 400),
    icmp: tuple | None = None,
) -> dict:
    """ "CLIENT:PORT > SERVER:PORT PROTO STATE" → one flow row.
    icmp: (type, code, reporter) of an ICMP unreachable quoting the flow."""
    left, right = spec.split(" > ")
    server, proto, state = right.split()
    cip, cport = left.rsplit(":", 1)
    sip, sport = server.rsplit(":", 1)
    chi, clo = text_to_addr(cip)
    shi, slo = text_to_addr(sip)
    first = T0 + int(t * 1e9)
    last = first + int(dur * 1e9)
    if certain is None:
        certain = proto == "tcp" and state != "OTH"
    if syns is None:
        syns = 1 if proto == "tcp" and state != "OTH" else 0
    if state in ("S0", "REJ", "SH", "RSTOS0"):
        packets, nbytes = (
            (max(syns, 1), 1 if state == "REJ" else 0),
            (60 * max(syns, 1), 54 if state == "REJ" else 0),
        )
    return {
        "client_ip": cip,
        "client_port": int(cport),
        "server_ip": sip,
        "server_port": int(sport),
        "proto": proto,
        "first_ts": iso_utc(first),
        "last_ts": iso_utc(last),
        "packets_c2s": packets[0],
        "packets_s2c": packets[1],
        "bytes_c2s": nbytes[0],
        "bytes_s2c": nbytes[1],
        "conn_state": state,
        "direction_certain": certain,
        "first_ts_ns": first,
        "last_ts_ns": last,
        "ip_version": 4 if "." in cip else 6,
        "client_hi": chi,
        "client_lo": clo,
        "server_hi": shi,
        "server_lo": slo,
        "syn_count": syns,
        "icmp_unreach": 1 if icmp else 0,
        "icmp_type": icmp[0] if icmp else -1,
        "icmp_code": icmp[1] if icmp else -1,
        "icmp_reporter": icmp[2] if icmp else "",
    }


def flow_frame(rows: list[dict]) -> pd.DataFrame:
    data: dict[str, Any] = {}
    for c in FLOW_COLUMNS:
        values = [r[c.name] for r in rows]
        data[c.name] = pd.Series(values, dtype=c.dtype) if rows else pd.Series([], dtype=c.dtype)
    return pd.DataFrame(data)


def flow_table(rows: list[dict | str], extra_seen: list[str] = ()) -> FlowTable:
    """Flows plus the addresses they show (and any extra addresses seen in
    other packets, e.g. ARP-less ICMP)."""
    rows = [flow(r) if isinstance(r, str) else r for r in rows]
    df = flow_frame(rows)
    seen = {text_to_addr(r["client_ip"]) for r in rows} | {
        text_to_addr(r["server_ip"]) for r in rows
    }
    seen |= {text_to_addr(a) for a in extra_seen}
    addresses = np.array(sorted(seen), dtype=np.uint64).reshape(-1, 2)
    return FlowTable(df, addresses)


def healthy_two_site() -> list[str]:
    """Every steady expectation of TWO_SITES met once."""
    return [
        "10.10.0.10:50001 > 10.10.0.5:443 tcp SF",  # zvm-vcenter prod
        "10.20.0.10:50001 > 10.20.0.5:443 tcp SF",  # zvm-vcenter dr
        "10.10.0.10:50002 > 10.10.2.11:4006 tcp SF",  # zvm-vra prod
        "10.20.0.10:50002 > 10.20.2.11:4006 tcp SF",  # zvm-vra dr
        "10.10.0.10:50003 > 10.10.2.11:4009 tcp SF",  # checkpoints prod
        "10.20.2.11:50003 > 10.20.0.10:4009 tcp SF",  # checkpoints dr (bidirectional: VRA opens)
        "10.10.2.11:50004 > 10.20.2.11:4007 tcp SF",  # vra-control
        "10.10.2.11:50005 > 10.20.2.11:4008 tcp SF",  # vra-data
        "10.10.0.10:50006 > 10.20.0.10:9081 tcp SF",  # zvm-peer
    ]

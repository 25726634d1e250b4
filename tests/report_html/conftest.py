"""A realistic schema-v1 report for the HTML renderer: two paired sites with
a ZVM, a vCenter and N ESXi hosts with one VRA each, an admin subnet; the
4008 data stream from prod to dr stops part-way and is blocked afterwards,
one DR VRA never talks to its ZVM, one VRA sends 4008 to the DR ZVM, and
some unexpected traffic. Coverage, findings, flows and the activity table
are built consistently from the same scenario (the verdict engine is not
involved: these tests are about the rendering)."""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from auditor.model import Expect, Host, Inventory, Phase, Role, Rule, Scope, Severity, Site
from auditor.tables import iso_utc

T0 = 1_714_564_800 * 10**9  # 2024-05-01T12:00:00Z
SECOND = 10**9
DURATION_S = 600
STOP_S = 360  # the 4008 stream stops here

# SPEC section 4, zvr-legacy (id, port, client, server, scope, phase, expect, bidir, severity).
ZVR_LEGACY = [
    ("vra-install-ssh", 22, "zvm", "esxi", "same-site", "install", "optional", False, "low"),
    ("vra-install-https", 443, "zvm", "esxi", "same-site", "install", "optional", False, "low"),
    ("zvm-vcenter", 443, "zvm", "vcenter", "same-site", "steady", "each", False, "high"),
    ("zvm-vra-logs", 4005, "zvm", "vra", "same-site", "on-demand", "optional", True, "low"),
    ("zvm-vra", 4006, "zvm", "vra", "same-site", "steady", "each", True, "high"),
    ("zvm-vba", 4006, "zvm", "vba", "same-site", "steady", "each", True, "medium"),
    ("vra-control", 4007, "vra", "vra", "peer-site", "steady", "some", True, "critical"),
    ("vra-data", 4008, "vra", "vra", "peer-site", "steady", "some", True, "critical"),
    ("zvm-vra-checkpoints", 4009, "zvm", "vra", "same-site", "steady", "each", True, "high"),
    ("zvm-peer", 9081, "zvm", "zvm", "peer-site", "steady", "each", True, "critical"),
    ("zvm-gui", 9669, "client", "zvm", "any", "on-demand", "optional", False, "low"),
]


def make_rules(purpose_override: dict[str, str] | None = None) -> list[Rule]:
    out = []
    for rid, port, c, s, scope, phase, expect, bidir, sev in ZVR_LEGACY:
        purpose = (purpose_override or {}).get(rid, f"Required for {rid.replace('-', ' ')} (port {port}).")
        out.append(Rule(rid, port, "tcp", c, s, Scope(scope), Phase(phase), Expect(expect), bidir,
                        False, Severity(sev), purpose, "zvr-legacy"))
    out.append(Rule("dns", 53, "udp", "inventory", "any", Scope.ANY, Phase.STEADY, Expect.OPTIONAL,
                    False, False, Severity.LOW, "Name resolution.", "infrastructure"))
    return out


def _host(name: str, role: str, site: str, ip: str, esxi: str | None = None) -> Host:
    return Host(name, Role(role), site, (ipaddress.ip_network(ip),), esxi)


def make_inventory(vras_per_site: int = 20, evil: bool = False) -> Inventory:
    hosts = []
    for site, net in (("prod", "10.10"), ("dr", "10.20")):
        zvm = "<script>alert(1)</script>" if evil and site == "prod" else f"zvm-{site}"
        hosts.append(_host(zvm, "zvm", site, f"{net}.0.10"))
        hosts.append(_host(f"vc-{site}", "vcenter", site, f"{net}.0.5"))
        for i in range(1, vras_per_site + 1):
            hosts.append(_host(f"esx-{site}-{i}", "esxi", site, f"{net}.1.{10 + i}"))
            hosts.append(_host(f"vra-{site}-{i}", "vra", site, f"{net}.2.{10 + i}", f"esx-{site}-{i}"))
    hosts.append(_host("admins", "client", "prod", "10.10.9.0/24"))
    sites = {"prod": Site("prod", frozenset({"dr"})), "dr": Site("dr")}
    return Inventory("acme-dr" if not evil else "acme <i>dr</i>", "zvr-legacy", "inventory.yaml",
                     "a" * 64, sites, tuple(hosts), {})


@dataclass
class Scenario:
    report: dict
    inventory: Inventory
    rules: list[Rule]
    activity: pd.DataFrame


def _ip(inv: Inventory, name: str) -> str:
    h = next(h for h in inv.hosts if h.name == name)
    return str(h.networks[0].network_address)


def _end(inv: Inventory, name: str | None, ip: str | None = None) -> dict:
    if name is None:
        return {"ip": ip, "host": None, "role": None, "site": None}
    h = next(h for h in inv.hosts if h.name == name)
    return {"ip": ip or _ip(inv, name), "host": h.name, "role": h.role.value, "site": h.site}


def make_scenario(vras_per_site: int = 20, evil: bool = False, include_flows: bool = True) -> Scenario:
    if vras_per_site < 8:
        raise ValueError("the scenario names vra-*-7 and needs at least 8 VRAs per site")
    inv = make_inventory(vras_per_site, evil)
    rules = make_rules({"zvm-vra": "<img src=x onerror=alert(2)> Required between the ZVM and each VRA."}
                       if evil else None)
    zvm = {s: next(h.name for h in inv.hosts if h.site == s and h.role is Role.ZVM) for s in ("prod", "dr")}
    vras = {s: [f"vra-{s}-{i}" for i in range(1, vras_per_site + 1)] for s in ("prod", "dr")}
    missing_vra, unobserved_vra = "vra-dr-7", f"vra-dr-{vras_per_site}"

    coverage = []
    for s in ("prod", "dr"):
        coverage.append({"rule": "zvm-vcenter", "client": min(zvm[s], f"vc-{s}"),
                         "server": max(zvm[s], f"vc-{s}"), "status": "met"})
    for rid in ("zvm-vra", "zvm-vra-checkpoints"):
        for s in ("prod", "dr"):
            for v in vras[s]:
                status = "missing" if v == missing_vra else "unobserved" if v == unobserved_vra else "met"
                a, b = sorted((zvm[s], v))
                coverage.append({"rule": rid, "client": a, "server": b, "status": status})
    coverage.append({"rule": "vra-control", "client": "dr", "server": "prod", "status": "met"})
    coverage.append({"rule": "vra-data", "client": "dr", "server": "prod", "status": "blocked"})
    coverage.append({"rule": "zvm-peer", "client": min(zvm.values()), "server": max(zvm.values()),
                     "status": "met"})

    flows: list[dict] = []
    act: list[tuple[int, str, str | None, int]] = []

    def flow(c: str, cport: int, s: str, sport: int, t0: int, t1: int, pc: int, ps: int,
             state: str, verdict: str, rule: str | None, proto: str = "tcp") -> None:
        flows.append({
            "client_ip": c, "client_port": cport, "server_ip": s, "server_port": sport,
            "proto": proto, "first_ts": iso_utc(T0 + t0 * SECOND), "last_ts": iso_utc(T0 + t1 * SECOND),
            "packets_c2s": pc, "packets_s2c": ps, "bytes_c2s": pc * 900, "bytes_s2c": ps * 120,
            "conn_state": state, "direction_certain": state != "OTH", "verdict": verdict, "rule": rule,
        })
        per_s = max(1, (pc + ps) // max(1, t1 - t0 + 1))
        for t in range(t0, t1 + 1):
            act.append((T0 + t * SECOND, verdict, rule, per_s))

    port = 50000
    for s in ("prod", "dr"):
        flow(_ip(inv, zvm[s]), (port := port + 1), _ip(inv, f"vc-{s}"), 443, 0, DURATION_S, 3000, 2800,
             "S1", "expected", "zvm-vcenter")
        for v in vras[s]:
            if v in (missing_vra, unobserved_vra):
                continue
            flow(_ip(inv, zvm[s]), (port := port + 1), _ip(inv, v), 4006, 0, DURATION_S, 600, 600,
                 "OTH", "expected", "zvm-vra")
            flow(_ip(inv, zvm[s]), (port := port + 1), _ip(inv, v), 4009, 5, 65, 40, 38,
                 "SF", "expected", "zvm-vra-checkpoints")
    for i in range(1, min(vras_per_site, 6) + 1):
        a, b = _ip(inv, f"vra-prod-{i}"), _ip(inv, f"vra-dr-{i}")
        flow(a, (port := port + 1), b, 4007, 0, DURATION_S, 1200, 1200, "S1", "expected", "vra-control")
        flow(a, (port := port + 1), b, 4008, 0, STOP_S, 90000, 30000, "RSTR", "expected", "vra-data")
    flow(_ip(inv, zvm["prod"]), (port := port + 1), _ip(inv, zvm["dr"]), 9081, 0, DURATION_S, 900, 900,
         "S1", "expected", "zvm-peer")
    flow("10.10.9.20", (port := port + 1), _ip(inv, zvm["prod"]), 9669, 100, 160, 80, 90, "SF",
         "expected", "zvm-gui")
    # After the stop: SYNs from vra-prod-3 to vra-dr-3 on 4008 go unanswered.
    blocked_a, blocked_b = _ip(inv, "vra-prod-3"), _ip(inv, "vra-dr-3")
    for k in range(6):
        t = STOP_S + 10 + k * 35
        flow(blocked_a, (port := port + 1), blocked_b, 4008, t, t + 3, 3, 0, "S0", "blocked", "vra-data")
    mis_a, mis_b = _ip(inv, "vra-prod-5"), _ip(inv, zvm["dr"])
    for k in range(2):
        flow(mis_a, (port := port + 1), mis_b, 4008, 400 + k * 20, 402 + k * 20, 3, 1, "REJ",
             "misdirected", "vra-data")
    flow("10.10.9.20", (port := port + 1), _ip(inv, "vc-dr"), 22, 200, 230, 40, 38, "SF", "unexpected", None)
    flow(_ip(inv, "vra-prod-4"), (port := port + 1), "198.51.100.7", 445, 300, 310, 12, 10, "SF",
         "unexpected", None)
    flow(_ip(inv, "vc-prod"), (port := port + 1), _ip(inv, zvm["prod"]), 443, 50, 52, 6, 5, "SF",
         "reversed", "zvm-vcenter")
    flow("192.0.2.1", 40000, "192.0.2.2", 80, 0, 20, 10, 10, "SF", "out_of_scope", None)

    def group(verdict: str, c: str, s: str, sport: int) -> list[dict]:
        return [f for f in flows if (f["verdict"], f["client_ip"], f["server_ip"], f["server_port"])
                == (verdict, c, s, sport)]

    def finding(kind: str, sev: str, rule: str | None, c: dict, s: dict, port_: int, detail: str) -> dict:
        g = group(kind, c["ip"], s["ip"], port_) if kind != "missing" else []
        return {
            "kind": kind, "severity": sev, "rule": rule, "client": c, "server": s, "port": port_,
            "proto": "tcp", "flows": len(g), "packets": sum(f["packets_c2s"] + f["packets_s2c"] for f in g),
            "bytes": sum(f["bytes_c2s"] + f["bytes_s2c"] for f in g),
            "first_seen": min((f["first_ts"] for f in g), default=None),
            "last_seen": max((f["last_ts"] for f in g), default=None), "detail": detail,
        }

    findings = [
        finding("unexpected", "low", None, {"ip": _ip(inv, "vra-prod-4"), **_end(inv, "vra-prod-4")},
                _end(inv, None, "198.51.100.7"), 445,
                "vra-prod-4 opened tcp/445 to 198.51.100.7, an address outside the inventory; no rule allows it."),
        finding("missing", "high", "zvm-vra", _end(inv, zvm["dr"]) | {"ip": None},
                _end(inv, missing_vra) | {"ip": None}, 4006,
                f"No flow on tcp/4006 between {zvm['dr']} and {missing_vra} although the capture saw both."),
        finding("blocked", "critical", "vra-data", _end(inv, "vra-prod-3"), _end(inv, "vra-dr-3"), 4008,
                "6 connection attempts from vra-prod-3 to vra-dr-3 on tcp/4008 got no answer (S0): "
                "check the firewall between prod and dr."),
        finding("misdirected", "high", "vra-data", _end(inv, "vra-prod-5"), _end(inv, zvm["dr"]), 4008,
                f"vra-prod-5 sent tcp/4008 to {zvm['dr']} (zvm); the rule expects a VRA at the peer site."),
        finding("unexpected", "medium", None, {"ip": "10.10.9.20", "host": "admins", "role": "client",
                                               "site": "prod"}, _end(inv, "vc-dr"), 22,
                "admins opened tcp/22 to vc-dr (vcenter); no rule allows clients to reach a vCenter."),
        finding("missing", "high", "zvm-vra-checkpoints", _end(inv, zvm["dr"]) | {"ip": None},
                _end(inv, missing_vra) | {"ip": None}, 4009,
                f"No flow on tcp/4009 between {zvm['dr']} and {missing_vra} although the capture saw both."),
        finding("reversed", "high", "zvm-vcenter", _end(inv, "vc-prod"), _end(inv, zvm["prod"]), 443,
                f"vc-prod opened tcp/443 to {zvm['prod']}; the rule expects the ZVM to open it."),
    ]
    verdict_counts = {v: sum(f["verdict"] == v for f in flows)
                      for v in ("expected", "blocked", "reversed", "misdirected", "unexpected")}
    kinds = ("missing", "blocked", "reversed", "misdirected", "unexpected")
    packets = {"tcp": 512_340, "udp": 1_204, "icmp": 12, "other_ip": 3, "non_ip": 41, "fragment": 0,
               "malformed": 2, "unsupported_link": 0}
    capture_name = "captures/<evil>\"'&.pcapng" if evil else "captures/prod-dr-span-2024-05-01.pcapng.gz"
    report = {
        "schema": "zvr-audit/report/v1",
        "tool": {"name": "zvr-audit", "version": "0.1.0"},
        "generated_at": "2024-05-02T08:15:00.000000Z",
        "inputs": {
            "captures": [{
                "path": capture_name, "sha256": hashlib.sha256(b"capture").hexdigest(),
                "format": "pcapng", "compression": "gzip", "link_types": ["EN10MB"],
                "packets": sum(packets.values()), "bytes": 431_977_112,
                "first_ts": iso_utc(T0), "last_ts": iso_utc(T0 + DURATION_S * SECOND + 123_456_000),
            }],
            "inventory": {"path": "inventory.yaml", "sha256": hashlib.sha256(b"inventory").hexdigest()},
            "rules": [
                {"path": "rules/zvr-legacy.yaml", "sha256": hashlib.sha256(b"zl").hexdigest(),
                 "ruleset": "zvr-legacy", "version": 1},
                {"path": "rules/infrastructure.yaml", "sha256": hashlib.sha256(b"in").hexdigest(),
                 "ruleset": "infrastructure", "version": 1},
            ],
        },
        "packets": {"read": sum(packets.values()), **packets},
        "warnings": (["<script>alert(3)</script>: byte 1234: record cut short"] if evil else
                     [("captures/prod-dr-span-2024-05-01.pcapng.gz: byte 431977000: record cut short "
                       "by the end of the file; audited up to there")]),
        "summary": {
            "flows": len(flows), "out_of_scope": sum(f["verdict"] == "out_of_scope" for f in flows),
            "verdicts": verdict_counts,
            "findings": {k: sum(f["kind"] == k for f in findings) for k in kinds},
        },
        "findings": findings,
        "coverage": coverage,
    }
    if include_flows:
        report["flows"] = flows
    activity = pd.DataFrame(act, columns=["bin_start_ns", "verdict", "rule", "packets"])
    activity = (activity.groupby(["bin_start_ns", "verdict", "rule"], dropna=False)["packets"]
                .sum().reset_index())
    activity["packets"] = activity["packets"].astype(np.int64)
    return Scenario(report, inv, rules, activity)


@pytest.fixture
def scenario() -> Scenario:
    return make_scenario()


@pytest.fixture
def evil_scenario() -> Scenario:
    return make_scenario(vras_per_site=8, evil=True)

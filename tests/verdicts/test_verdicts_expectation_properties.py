"""Property: coverage equals a plain reading of SPEC section 6's expectation
rules, for generated captures over a three-site inventory (and its
single-vCenter variant)."""

from __future__ import annotations

import ipaddress
from itertools import permutations

from hypothesis import given, settings
from hypothesis import strategies as st
from verdict_builders import bundled_rules, flow, flow_table, inventory, rule

from auditor.model import Expect, Phase, Scope
from auditor.verdicts import flows_to_verdicts

HOSTS = [
    ("zvm-a", "zvm", "a", "10.1.0.10"),
    ("vc-a", "vcenter", "a", "10.1.0.5"),
    ("vra-a1", "vra", "a", "10.1.2.11"),
    ("vra-a2", "vra", "a", "10.1.2.12"),
    ("esx-a1", "esxi", "a", "10.1.1.11"),
    ("zvm-b", "zvm", "b", "10.2.0.10"),
    ("vc-b", "vcenter", "b", "10.2.0.5"),
    ("vra-b1", "vra", "b", "10.2.2.11"),
    ("zvm-c", "zvm", "c", "10.3.0.10"),
    ("vc-c", "vcenter", "c", "10.3.0.5"),
    ("vra-c1", "vra", "c", "10.3.2.11"),
    ("zcm", "zcm", "c", "10.3.9.9"),
]
PEERS = {"a": ["b", "c"]}
MULTI = inventory(HOSTS, peers=PEERS)
SINGLE = inventory([h for h in HOSTS if h[0] not in ("vc-b", "vc-c")], peers=PEERS)
RULES = bundled_rules() + [
    rule("esx-vc-some", 902, "esxi", "vcenter", scope="same-site", expect="some"),
    rule("any-each", 7000, "vra", "zcm", scope="any", expect="each"),
]


def scope_ok(inv, r, a, b):
    if r.scope is Scope.ANY:
        return True
    if inv.single_vcenter:
        return True
    return a.site == b.site if r.scope is Scope.SAME_SITE else inv.paired(a.site, b.site)


def role_ok(spec, h):
    return spec in ("any", "inventory") or h.role.value == spec


def oracle(inv, rows, judged):
    by_ip = {}
    for h in inv.hosts:
        by_ip[str(h.networks[0].network_address)] = h
    seen = {by_ip[r["client_ip"]].name for r in rows if r["client_ip"] in by_ip}
    seen |= {by_ip[r["server_ip"]].name for r in rows if r["server_ip"] in by_ip}
    site_view = set()
    for r in rows:
        c, s = by_ip.get(r["client_ip"]), by_ip.get(r["server_ip"])
        if c and s and c.name != s.name and c.site == s.site:
            site_view.add(c.site)
    judged_pairs = {}
    for r, verdict, rid in zip(rows, judged["verdict"], judged["rule"]):
        c, s = by_ip.get(r["client_ip"]), by_ip.get(r["server_ip"])
        if c and s:
            judged_pairs.setdefault((rid, frozenset((c.name, s.name))), set()).add(verdict)
    out = {}
    for r in RULES:
        if r.expect is Expect.OPTIONAL or r.phase is Phase.INSTALL:
            continue
        if inv.single_vcenter and r.id == "zvm-peer":
            continue
        pairs = {
            tuple(sorted((a.name, b.name))): (a, b)
            for a, b in permutations(inv.hosts, 2)
            if role_ok(r.client, a) and role_ok(r.server, b) and scope_ok(inv, r, a, b)
        }
        groups = {}
        for key, (a, b) in pairs.items():
            if r.expect is Expect.EACH:
                g = key
            elif r.scope is Scope.ANY or inv.single_vcenter:
                g = ("*", "*")
            else:
                g = tuple(sorted((a.site, b.site)))
            groups.setdefault(g, []).append((key, a, b))
        for g, members in groups.items():
            met = blocked = observable = False
            for key, a, b in members:
                verdicts = judged_pairs.get((r.id, frozenset(key)), set())
                met |= "expected" in verdicts
                blocked |= "blocked" in verdicts
                obs = a.name in seen and b.name in seen
                if r.scope is Scope.SAME_SITE and not inv.single_vcenter:
                    obs &= a.site in site_view
                observable |= obs
            status = (
                "met"
                if met
                else "unobserved"
                if not observable
                else "blocked"
                if blocked
                else "missing"
            )
            out[(r.id, *g)] = status
    return out


IPS = [str(ipaddress.ip_address(h[3])) for h in HOSTS] + ["10.9.9.9"]
PORTS = [443, 4006, 4007, 4008, 4009, 9081, 9669, 902, 7000]
rows_strategy = st.lists(
    st.builds(
        lambda c, s, p, state: flow(f"{c}:50000 > {s}:{p} tcp {state}"),
        st.sampled_from(IPS),
        st.sampled_from(IPS),
        st.sampled_from(PORTS),
        st.sampled_from(["SF", "S0", "REJ", "OTH"]),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(rows_strategy, st.booleans())
def test_coverage_matches_the_spec_reading(rows, single):
    inv = SINGLE if single else MULTI
    assert inv.single_vcenter is single
    v = flows_to_verdicts(flow_table(rows), inv, RULES)
    got = {(c.rule, c.client, c.server): c.status.value for c in v.coverage}
    assert got == oracle(inv, rows, v.flows)
    missing = {
        (f.rule, f.client.host or f.client.site, f.server.host or f.server.site)
        for f in v.findings
        if f.kind.value == "missing"
    }
    assert missing == {k for k, status in got.items() if status == "missing"}

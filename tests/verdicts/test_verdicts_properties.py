"""Property: the vectorised verdicts equal a plain per-flow reading of SPEC
section 6, for generated flows, and do not depend on row order."""

from __future__ import annotations

import ipaddress

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from verdict_builders import TWO_SITES, bundled_rules, flow, flow_table, inventory, rule

from auditor.model import Scope
from auditor.verdicts import flows_to_verdicts

HOSTS = TWO_SITES + [
    ("zcm-1", "zcm", "prod", "10.10.9.50"),
    ("vra-branch-1", "vra", "branch", "10.30.2.11"),
    ("vc-branch", "vcenter", "branch", "10.30.0.5"),
]
INV = inventory(HOSTS, peers={"prod": ["dr"]})
RULES = bundled_rules() + [rule("syslog", 514, "esxi", "any", proto="udp", scope="same-site")]
ADDRESSES = [
    "10.10.0.10",
    "10.10.0.5",
    "10.10.1.11",
    "10.10.2.11",
    "10.10.9.7",
    "10.10.9.50",
    "10.20.0.10",
    "10.20.0.5",
    "10.20.1.11",
    "10.20.2.11",
    "10.30.2.11",
    "10.30.0.5",
    "10.20.2.99",
    "192.0.2.1",
]
PORTS = sorted({r.port for r in RULES} | {3389, 50000})
STATES = ["SF", "S0", "S1", "REJ", "RSTOS0", "SH", "OTH", "RSTO"]


def host_of(ip: str):
    """Most specific inventory match, the slow obvious way."""
    addr = ipaddress.ip_address(ip)
    best = None
    for h in INV.hosts:
        for net in h.networks:
            if addr in net and (best is None or net.prefixlen > best[0]):
                best = (net.prefixlen, h)
    return best[1] if best else None


def role_ok(spec, h):
    return (
        spec == "any"
        or (spec == "inventory" and h is not None)
        or (h is not None and h.role.value == spec)
    )


def scope_ok(r, a, b):
    if r.scope is Scope.ANY:
        return True
    if a is None or b is None:
        return False
    if INV.single_vcenter:
        return True
    if r.scope is Scope.SAME_SITE:
        return a.site == b.site
    return INV.paired(a.site, b.site)


def oracle(row: dict) -> tuple[str, str | None]:
    c, s = host_of(row["client_ip"]), host_of(row["server_ip"])
    if c is None and s is None:
        return "out_of_scope", None
    rules = [
        r
        for r in RULES
        if r.proto == row["proto"]
        and r.port == row["server_port"]
        and not (INV.single_vcenter and r.id == "zvm-peer")
    ]
    failed = row["icmp_unreach"] > 0 or (
        row["proto"] == "tcp" and row["conn_state"] in ("S0", "SH", "REJ", "RSTOS0")
    )
    for r in rules:
        fwd = role_ok(r.client, c) and role_ok(r.server, s)
        bwd = role_ok(r.client, s) and role_ok(r.server, c)
        if scope_ok(r, c, s) and (fwd or (r.bidirectional and bwd)):
            return ("blocked" if failed else "expected"), r.id
    if row["direction_certain"]:
        for r in rules:
            if (
                not r.bidirectional
                and scope_ok(r, c, s)
                and role_ok(r.client, s)
                and role_ok(r.server, c)
            ):
                return "reversed", r.id
    for r in rules:
        if role_ok(r.client, c) or (r.bidirectional and role_ok(r.server, c)):
            return "misdirected", r.id
    return "unexpected", None


flow_rows = st.builds(
    lambda c, s, port, proto, state, certain, icmp, cport: flow(
        f"{c}:{cport} > {s}:{port} {proto} {state}",
        certain=certain and proto == "tcp",
        icmp=(3, 3, s) if icmp else None,
    ),
    st.sampled_from(ADDRESSES),
    st.sampled_from(ADDRESSES),
    st.sampled_from(PORTS),
    st.sampled_from(["tcp", "udp"]),
    st.sampled_from(STATES),
    st.booleans(),
    st.booleans() | st.just(False),
    st.integers(1024, 65535),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(flow_rows, min_size=1, max_size=40), st.randoms(use_true_random=False))
def test_vectorised_verdicts_match_the_spec_reading(rows, rnd):
    v = flows_to_verdicts(flow_table(rows), INV, RULES)
    got = list(zip(v.flows["verdict"], v.flows["rule"]))
    assert got == [oracle(r) for r in rows]
    # row order changes nothing per flow
    order = list(range(len(rows)))
    rnd.shuffle(order)
    shuffled = flows_to_verdicts(flow_table([rows[i] for i in order]), INV, RULES)
    assert list(zip(shuffled.flows["verdict"], shuffled.flows["rule"])) == [got[i] for i in order]
    assert [f.to_dict() for f in shuffled.findings] == [f.to_dict() for f in v.findings]
    assert [c.to_dict() for c in shuffled.coverage] == [c.to_dict() for c in v.coverage]
    assert v.summary["flows"] == len(rows)
    assert sum(v.summary["verdicts"].values()) + v.summary["out_of_scope"] == len(rows)
    # grouped findings account for every judged non-expected flow
    non_expected = int(
        np.isin(v.flows["verdict"], ["blocked", "reversed", "misdirected", "unexpected"]).sum()
    )
    assert sum(f.flows for f in v.findings if f.kind.value != "missing") == non_expected

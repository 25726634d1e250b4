"""Expectations (SPEC section 6): each/some, met/blocked/missing/unobserved,
observability, single-vCenter relaxation."""

from __future__ import annotations

from verdict_builders import (
    TWO_SITES,
    bundled_rules,
    flow,
    flow_table,
    healthy_two_site,
    inventory,
    rule,
)

from auditor.model import Severity
from auditor.verdicts import FindingKind, flows_to_verdicts


def judge(rows, inv=None, rules=None, extra_seen=()):
    return flows_to_verdicts(
        flow_table(rows, list(extra_seen)), inv or inventory(), rules or bundled_rules()
    )


def coverage(v):
    return {(c.rule, c.client, c.server): c.status.value for c in v.coverage}


def missing(v):
    return [f for f in v.findings if f.kind is FindingKind.MISSING]


def test_healthy_capture_meets_every_expectation():
    v = judge(healthy_two_site())
    assert coverage(v) == {
        ("zvm-vcenter", "vc-dr", "zvm-dr"): "met",
        ("zvm-vcenter", "vc-prod", "zvm-prod"): "met",
        ("zvm-vra", "vra-dr-1", "zvm-dr"): "met",
        ("zvm-vra", "vra-prod-1", "zvm-prod"): "met",
        ("vra-control", "dr", "prod"): "met",
        ("vra-data", "dr", "prod"): "met",
        ("zvm-vra-checkpoints", "vra-dr-1", "zvm-dr"): "met",
        ("zvm-vra-checkpoints", "vra-prod-1", "zvm-prod"): "met",
        ("zvm-peer", "zvm-dr", "zvm-prod"): "met",
    }
    assert v.findings == []
    # coverage in rule load order, then by name
    assert [c.rule for c in v.coverage][:3] == ["zvm-vcenter", "zvm-vcenter", "zvm-vra"]


def test_no_expectation_without_eligible_hosts():
    # no VBA, vCD or ZCM in the inventory: zvm-vba, zvm-vcd-amqp, zcm-zvm raise nothing;
    # optional and install-phase rules never do.
    rules = {c.rule for c in judge(healthy_two_site()).coverage}
    assert rules.isdisjoint(
        {"zvm-vba", "zvm-vcd-amqp", "zcm-zvm", "vra-install-ssh", "zvm-gui", "dns"}
    )


def test_missing_each_names_the_hosts_in_name_order():
    rows = [r for r in healthy_two_site() if ":9081" not in r]
    v = judge(rows)
    assert coverage(v)[("zvm-peer", "zvm-dr", "zvm-prod")] == "missing"
    (f,) = missing(v)
    assert f.rule == "zvm-peer" and f.severity is Severity.CRITICAL
    assert (f.client.host, f.client.ip, f.client.role, f.client.site) == (
        "zvm-dr",
        "10.20.0.10",
        "zvm",
        "dr",
    )
    assert (f.server.host, f.server.ip) == ("zvm-prod", "10.10.0.10")
    assert (f.port, f.proto, f.flows, f.packets, f.bytes, f.first_seen, f.last_seen) == (
        9081,
        "tcp",
        0,
        0,
        0,
        None,
        None,
    )
    assert f.detail.startswith(
        "no 9081 flow between zvm-dr (ZVM, dr) and zvm-prod (ZVM, prod) although the capture saw both"
    )


def test_missing_each_says_who_should_connect():
    rows = [r for r in healthy_two_site() if not r.startswith("10.10.0.10:50001")]
    (f,) = missing(judge(rows, extra_seen=["10.10.0.5"]))  # vc-prod seen (e.g. ARP-less ping)
    assert (f.client.host, f.server.host) == ("vc-prod", "zvm-prod")  # name order, not role order
    assert "no 443 flow from zvm-prod (ZVM, prod) to vc-prod (vCenter, prod)" in f.detail


def test_blocked_expectation_is_not_also_missing():
    rows = [r for r in healthy_two_site() if ":4008" not in r]
    rows.append(flow("10.10.2.11:50005 > 10.20.2.11:4008 tcp S0", syns=3, dur=7))
    v = judge(rows)
    assert coverage(v)[("vra-data", "dr", "prod")] == "blocked"
    assert missing(v) == []
    assert [f.kind for f in v.findings] == [FindingKind.BLOCKED]


def test_met_wins_over_blocked():
    rows = healthy_two_site() + [flow("10.10.2.11:50009 > 10.20.2.11:4008 tcp S0", syns=3)]
    v = judge(rows)
    assert coverage(v)[("vra-data", "dr", "prod")] == "met"
    assert [f.kind for f in v.findings] == [FindingKind.BLOCKED]


def test_unobserved_when_a_host_was_never_seen():
    v = judge(["10.10.0.10:50001 > 10.10.0.5:443 tcp SF"])
    cov = coverage(v)
    assert cov[("zvm-vcenter", "vc-prod", "zvm-prod")] == "met"
    assert cov[("zvm-vcenter", "vc-dr", "zvm-dr")] == "unobserved"
    assert cov[("zvm-vra", "vra-prod-1", "zvm-prod")] == "unobserved"  # the VRA never showed up
    assert cov[("zvm-peer", "zvm-dr", "zvm-prod")] == "unobserved"
    assert missing(v) == []


def test_a_packet_to_a_host_makes_it_seen():
    # addresses come from every IP packet, not only from flows (e.g. ICMP)
    v = judge(["10.10.0.10:50001 > 10.10.0.5:443 tcp SF"], extra_seen=["10.10.2.11"])
    assert coverage(v)[("zvm-vra", "vra-prod-1", "zvm-prod")] == "missing"


def test_capture_at_one_site_does_not_report_the_other_sites_internal_flows():
    # Taken at prod: prod's own flows, the cross-site flows, nothing internal to dr.
    rows = [r for r in healthy_two_site() if not r.startswith("10.20.")]
    rows.append("10.20.2.11:50007 > 10.10.2.11:4007 tcp SF")  # dr VRA seen across the WAN
    v = judge(rows)
    cov = coverage(v)
    # zvm-dr and vra-dr-1 were both seen (9081, 4007, 4008), but dr's own network was not
    assert cov[("zvm-vra", "vra-dr-1", "zvm-dr")] == "unobserved"
    assert cov[("zvm-vra-checkpoints", "vra-dr-1", "zvm-dr")] == "unobserved"
    assert cov[("zvm-vcenter", "vc-dr", "zvm-dr")] == "unobserved"
    assert cov[("zvm-vra", "vra-prod-1", "zvm-prod")] == "met"
    assert missing(v) == []
    # drop prod's zvm-vra flow: prod's network is seen, so that one is missing
    v = judge([r for r in rows if ":4006" not in r])
    assert [(f.rule, f.client.host) for f in missing(v)] == [("zvm-vra", "vra-prod-1")]


def test_some_is_per_pair_of_paired_sites():
    hosts = TWO_SITES + [
        ("vra-prod-2", "vra", "prod", "10.10.2.12"),
        ("vra-dr-2", "vra", "dr", "10.20.2.12"),
        ("zvm-br", "zvm", "branch", "10.30.0.10"),
        ("vc-br", "vcenter", "branch", "10.30.0.5"),
        ("vra-br-1", "vra", "branch", "10.30.2.11"),
    ]
    inv = inventory(hosts, peers={"prod": ["dr", "branch"]})
    rows = healthy_two_site() + [
        "10.10.2.12:50000 > 10.30.2.11:4007 tcp SF"
    ]  # prod-branch 4007 only
    v = judge(rows, inv)
    cov = coverage(v)
    assert cov[("vra-data", "dr", "prod")] == "met"  # one VRA pair is enough
    assert cov[("vra-control", "branch", "prod")] == "met"
    assert cov[("vra-data", "branch", "prod")] == "missing"
    assert ("vra-data", "branch", "dr") not in cov  # dr and branch are not paired
    (f,) = [f for f in missing(v) if f.rule == "vra-data"]
    assert (f.client.host, f.client.ip, f.client.site, f.client.role) == (
        None,
        None,
        "branch",
        "vra",
    )
    assert (f.server.host, f.server.ip, f.server.site) == (None, None, "prod")
    assert f.detail.startswith("no 4008 flow between any VRAs between branch and prod")


def test_some_same_site_is_per_site_and_any_is_deployment_wide():
    rules = bundled_rules() + [
        rule("esx-syslog", 514, "esxi", "vcenter", proto="udp", scope="same-site", expect="some"),
        rule("zvm-anything", 8443, "zvm", "vcenter", scope="any", expect="some"),
    ]
    v = judge(
        healthy_two_site()
        + ["10.10.1.11:514 > 10.10.0.5:514 udp SF", "10.20.1.11:1 > 10.20.0.5:2 tcp SF"],
        rules=rules,
    )
    cov = coverage(v)
    assert cov[("esx-syslog", "prod", "prod")] == "met"
    assert cov[("esx-syslog", "dr", "dr")] == "missing"
    assert cov[("zvm-anything", "*", "*")] == "missing"
    f = next(f for f in missing(v) if f.rule == "zvm-anything")
    assert (f.client.site, f.server.site) == ("*", "*")


def single_vcenter_inventory():
    return inventory(
        [
            ("zvm-main", "zvm", "main", "10.10.0.10"),
            ("vc-main", "vcenter", "main", "10.10.0.5"),
            ("vra-main-1", "vra", "main", "10.10.2.11"),
            ("zvm-branch", "zvm", "branch", "10.30.0.10"),
            ("vra-branch-1", "vra", "branch", "10.30.2.11"),
        ],
        peers={},
    )


def test_single_vcenter_relaxes_scopes():
    inv = single_vcenter_inventory()
    assert inv.single_vcenter
    v = judge(
        [
            "10.30.0.10:50000 > 10.10.0.5:443 tcp SF",  # branch ZVM to the one vCenter at main: same-site relaxed
            "10.10.2.11:50000 > 10.30.2.11:4008 tcp SF",  # VRAs at unpaired sites: peer-site relaxed
            "10.10.2.11:50001 > 10.10.2.12:4007 tcp SF",  # outside the inventory: still misdirected
        ],
        inv,
    )
    assert list(v.flows["verdict"]) == ["expected", "expected", "misdirected"]
    cov = coverage(v)
    assert cov[("zvm-vcenter", "vc-main", "zvm-branch")] == "met"
    assert cov[("vra-data", "*", "*")] == "met"  # once for the whole deployment
    assert cov[("vra-control", "*", "*")] == "missing"
    # same-site observability needs no site view in a single-vCenter deployment
    assert cov[("zvm-vcenter", "vc-main", "zvm-main")] == "unobserved"  # zvm-main never seen


def test_single_vcenter_has_no_zvm_peer():
    v = judge(["10.10.0.10:50000 > 10.30.0.10:9081 tcp SF"], single_vcenter_inventory())
    assert "zvm-peer" not in {c.rule for c in v.coverage}
    assert list(v.flows["verdict"]) == ["unexpected"] and v.flows["rule"].iloc[0] is None
    assert "zvm-peer" not in {r.id for r in v.rules}


def test_bidirectional_expectation_met_from_either_side():
    rows = [r for r in healthy_two_site() if ":4009" not in r]
    rows += [
        "10.10.2.11:50000 > 10.10.0.10:4009 tcp SF",
        "10.20.0.10:50000 > 10.20.2.11:4009 tcp SF",
    ]
    cov = coverage(judge(rows))
    assert cov[("zvm-vra-checkpoints", "vra-prod-1", "zvm-prod")] == "met"
    assert cov[("zvm-vra-checkpoints", "vra-dr-1", "zvm-dr")] == "met"


def test_reversed_flow_does_not_meet_the_expectation():
    rows = [r for r in healthy_two_site() if not r.startswith("10.10.0.10:50001")]
    rows.append("10.10.0.5:50000 > 10.10.0.10:443 tcp SF")
    v = judge(rows)
    assert coverage(v)[("zvm-vcenter", "vc-prod", "zvm-prod")] == "missing"
    assert {f.kind for f in v.findings} == {FindingKind.MISSING, FindingKind.REVERSED}

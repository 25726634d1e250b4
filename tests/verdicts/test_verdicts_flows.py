"""One verdict per flow, in the SPEC section 6 order."""

from __future__ import annotations

import numpy as np
import pytest
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


def only(v, kind):
    found = [f for f in v.findings if f.kind is kind]
    assert len(found) == 1, [f.to_dict() for f in v.findings]
    return found[0]


def test_expected_names_the_rule():
    v = judge(["10.10.0.10:50001 > 10.10.0.5:443 tcp SF"])
    assert list(v.flows["verdict"]) == ["expected"]
    assert list(v.flows["rule"]) == ["zvm-vcenter"]
    assert list(v.flows["client_host"]) == ["zvm-prod"] and list(v.flows["server_host"]) == [
        "vc-prod"
    ]
    assert not [f for f in v.findings if f.kind is not FindingKind.MISSING]


def test_midstream_flow_is_expected():
    v = judge(["10.10.2.11:50000 > 10.20.2.11:4008 tcp OTH"])
    assert list(v.flows["verdict"]) == ["expected"]


def test_out_of_scope_is_counted_not_judged():
    v = judge(
        ["192.0.2.1:5000 > 198.51.100.2:80 tcp SF", "10.10.0.10:50001 > 10.10.0.5:443 tcp SF"]
    )
    assert list(v.flows["verdict"]) == ["out_of_scope", "expected"]
    assert v.flows["rule"].iloc[0] is None
    assert v.summary["flows"] == 2 and v.summary["out_of_scope"] == 1
    assert v.summary["verdicts"]["expected"] == 1
    assert not [f for f in v.findings if f.kind is not FindingKind.MISSING]


@pytest.mark.parametrize(
    "state,expect_text",
    [
        ("S0", "no answer to 3 SYNs over 7 s"),
        ("SH", "no answer to 3 SYNs over 7 s"),
        ("REJ", "refused (RST)"),
        ("RSTOS0", "reset before any answer (RSTOS0)"),
    ],
)
def test_blocked_by_state_says_which(state, expect_text):
    v = judge([flow(f"10.10.2.11:50000 > 10.20.2.11:4008 tcp {state}", syns=3, dur=7)])
    assert list(v.flows["verdict"]) == ["blocked"]
    assert list(v.flows["rule"]) == ["vra-data"]
    f = only(v, FindingKind.BLOCKED)
    assert f.severity is Severity.CRITICAL and f.rule == "vra-data"
    assert f.detail.startswith("4008 from vra-prod-1 (VRA, prod) to vra-dr-1 (VRA, dr): ")
    assert expect_text in f.detail


def test_blocked_by_icmp_names_the_reporter():
    v = judge([flow("10.10.2.11:50000 > 10.20.2.11:4008 tcp S1", icmp=(3, 3, "10.20.0.1"))])
    f = only(v, FindingKind.BLOCKED)
    assert "ICMP port unreachable from 10.20.0.1" in f.detail
    assert "10.20.0.1" in f.detail.split("—")[1]  # the hint points at the reporter


def test_udp_without_answer_is_not_blocked():
    # Zeek calls a one-way UDP exchange S0: that is no TCP failure.
    v = judge([flow("10.10.0.10:40000 > 8.8.8.8:53 udp S0", syns=0)])
    assert list(v.flows["verdict"]) == ["expected"] and list(v.flows["rule"]) == ["dns"]
    v = judge([flow("10.10.0.10:40000 > 8.8.8.8:53 udp S0", syns=0, icmp=(3, 3, "8.8.8.8"))])
    assert list(v.flows["verdict"]) == ["blocked"]


def test_reversed_needs_a_certain_direction():
    v = judge(["10.10.0.5:50000 > 10.10.0.10:443 tcp SF"])  # vCenter opens 443 to the ZVM
    assert list(v.flows["verdict"]) == ["reversed"] and list(v.flows["rule"]) == ["zvm-vcenter"]
    f = only(v, FindingKind.REVERSED)
    assert f.severity is Severity.HIGH
    assert "rule zvm-vcenter expects a ZVM to connect to a vCenter on 443" in f.detail
    v = judge([flow("10.10.0.5:50000 > 10.10.0.10:443 tcp OTH", certain=False)])
    assert list(v.flows["verdict"]) == ["unexpected"]


def test_misdirected_to_an_unknown_address_whatever_the_state():
    v = judge([flow("10.10.2.11:50000 > 10.20.2.99:4008 tcp S0", syns=3, dur=7)])
    assert list(v.flows["verdict"]) == ["misdirected"]
    f = only(v, FindingKind.MISDIRECTED)
    assert f.severity is Severity.HIGH and f.rule == "vra-data"
    assert f.server.host is None and f.server.ip == "10.20.2.99"
    assert f.detail == (
        "4008 from vra-prod-1 (VRA, prod) to 10.20.2.99: no answer to 3 SYNs over 7 s; 10.20.2.99 is not in the "
        "inventory — stale address of a VRA at dr, or a host missing from the inventory?"
    )


def test_misdirected_to_another_role_carries_the_first_rule():
    # 4006 from the ZVM to its vCenter: zvm-vra and zvm-vba both use 4006; zvm-vra comes first.
    v = judge(["10.10.0.10:50000 > 10.10.0.5:4006 tcp SF"])
    f = only(v, FindingKind.MISDIRECTED)
    assert f.rule == "zvm-vra"
    assert "vc-prod is a vCenter, but rule zvm-vra expects a VRA at prod" in f.detail
    # 4008 from a protected VRA to the ZVM
    v = judge(["10.10.2.11:50000 > 10.10.0.10:4008 tcp SF"])
    assert only(v, FindingKind.MISDIRECTED).rule == "vra-data"


def test_misdirected_to_the_wrong_site():
    hosts = TWO_SITES + [
        ("vra-branch-1", "vra", "branch", "10.30.2.11"),
        ("vc-branch", "vcenter", "branch", "10.30.0.5"),
    ]
    inv = inventory(hosts, peers={"prod": ["dr"]})
    v = judge(["10.10.2.11:50000 > 10.30.2.11:4008 tcp SF"], inv)
    f = only(v, FindingKind.MISDIRECTED)
    assert f.rule == "vra-data" and f.server.site == "branch"
    assert "vra-branch-1 is at branch, but rule vra-data expects a VRA at dr" in f.detail
    # same site is wrong for a peer-site rule too
    v = judge(
        ["10.10.2.11:50000 > 10.10.2.12:4008 tcp SF"],
        inventory(TWO_SITES + [("vra-prod-2", "vra", "prod", "10.10.2.12")]),
    )
    assert list(v.flows["verdict"]) == ["misdirected"]


def test_unexpected_severity_depends_on_the_server():
    v = judge(
        ["10.99.0.7:50000 > 10.10.0.10:3389 tcp SF", "10.10.0.10:50000 > 203.0.113.9:3389 tcp SF"]
    )
    assert list(v.flows["verdict"]) == ["unexpected", "unexpected"]
    by_server = {f.server.ip: f for f in v.findings if f.kind is FindingKind.UNEXPECTED}
    assert by_server["10.10.0.10"].severity is Severity.MEDIUM
    assert by_server["203.0.113.9"].severity is Severity.LOW
    assert by_server["10.10.0.10"].rule is None
    assert (
        "no rule allows tcp 3389 from an address outside the inventory to a ZVM"
        in by_server["10.10.0.10"].detail
    )


def test_outside_address_matches_only_any():
    # client -> zvm 9669 (zvm-gui) needs an inventory `client`; an outside address is not one.
    v = judge(
        ["10.99.0.7:50000 > 10.10.0.10:9669 tcp SF", "10.10.9.7:50000 > 10.10.0.10:9669 tcp SF"]
    )
    assert list(v.flows["verdict"]) == ["unexpected", "expected"]
    # a user rule `any -> zvm` admits it
    rules = bundled_rules() + [rule("gui-anyone", 9669, "any", "zvm")]
    v = judge(["10.99.0.7:50000 > 10.10.0.10:9669 tcp SF"], rules=rules)
    assert list(v.flows["rule"]) == ["gui-anyone"]


def test_bidirectional_rules_match_either_orientation():
    v = judge(
        [
            "10.10.2.11:50000 > 10.10.0.10:4006 tcp SF",  # VRA opens zvm-vra
            "10.20.2.11:50000 > 10.10.2.11:4008 tcp SF",  # dr VRA opens vra-data
            "10.10.2.11:4006 > 10.10.0.10:50000 tcp SF",  # port is the server's: VRA's 4006 as client port
        ]
    )
    assert list(v.flows["verdict"][:2]) == ["expected", "expected"]
    assert list(v.flows["rule"][:2]) == ["zvm-vra", "vra-data"]
    assert v.flows["verdict"].iloc[2] == "unexpected"


def test_first_rule_in_load_order_names_the_flow():
    v = judge(["10.10.0.10:50000 > 10.10.1.11:443 tcp SF"])  # install-phase rule still allows it
    assert list(v.flows["rule"]) == ["vra-install-https"]
    rules = bundled_rules() + [rule("late", 443, "zvm", "vcenter", scope="same-site")]
    v = judge(["10.10.0.10:50000 > 10.10.0.5:443 tcp SF"], rules=rules)
    assert list(v.flows["rule"]) == ["zvm-vcenter"]
    v = judge(["10.10.0.10:50000 > 10.10.0.5:443 tcp SF"], rules=[rules[-1]] + rules[:-1])
    assert list(v.flows["rule"]) == ["late"]


def test_most_specific_inventory_match_wins():
    hosts = TWO_SITES + [("zcm-1", "zcm", "prod", "10.10.9.50")]  # inside the admins /24
    v = judge(
        ["10.10.9.50:50000 > 10.10.0.10:9669 tcp SF", "10.10.9.51:50000 > 10.10.0.10:9669 tcp SF"],
        inventory(hosts),
    )
    assert list(v.flows["client_host"]) == ["zcm-1", "admins"]
    assert list(v.flows["rule"]) == ["zcm-zvm", "zvm-gui"]


def test_ipv6_and_several_addresses_per_host():
    hosts = [h for h in TWO_SITES if h[0] != "zvm-prod"] + [
        ("zvm-prod", "zvm", "prod", ["10.10.0.10", "fd00::10"])
    ]
    inv = inventory(hosts + [("vc6", "vcenter", "prod", "fd00::5")])
    v = judge(["[fd00::10]:50000 > [fd00::5]:443 tcp SF".replace("[", "").replace("]", "")], inv)
    assert list(v.flows["client_host"]) == ["zvm-prod"] and list(v.flows["verdict"]) == ["expected"]


def test_flow_findings_are_grouped():
    rows = [
        flow(f"10.10.2.11:{50000 + i} > 10.20.2.99:4008 tcp S0", t=10 * i, dur=7, syns=3)
        for i in range(3)
    ]
    rows += [flow("10.10.2.11:50100 > 10.20.2.98:4008 tcp S0", syns=3)]
    v = judge(rows)
    found = [f for f in v.findings if f.kind is FindingKind.MISDIRECTED]
    assert [(f.server.ip, f.flows) for f in found] == [("10.20.2.98", 1), ("10.20.2.99", 3)]
    g = found[1]
    assert g.packets == 9 and g.bytes == 540
    assert (
        g.first_seen == "2024-05-01T12:00:00.000000Z"
        and g.last_seen == "2024-05-01T12:00:27.000000Z"
    )
    assert "no answer to 9 SYNs in 3 attempts over 27 s" in g.detail


def test_grouping_separates_kinds_for_the_same_endpoints():
    v = judge(
        [
            flow("10.10.2.11:50000 > 10.20.2.11:4008 tcp S0", syns=2),
            "10.10.2.11:50001 > 10.20.2.11:4008 tcp SF",
            "10.10.2.11:50002 > 10.20.2.11:4008 tcp REJ",
        ]
    )
    blocked = only(v, FindingKind.BLOCKED)
    assert (
        blocked.flows == 2
        and "no answer to 2 SYNs" in blocked.detail
        and "refused (RST)" in blocked.detail
    )


def test_findings_sorted_most_severe_then_kind():
    v = judge(
        [
            "10.99.0.7:50000 > 203.0.113.1:22 tcp SF",  # out of scope
            "10.10.0.10:50000 > 203.0.113.9:3389 tcp SF",  # unexpected low
            "10.99.0.7:50000 > 10.10.0.10:3389 tcp SF",  # unexpected medium
            "10.10.0.5:50000 > 10.10.0.10:443 tcp SF",  # reversed high
            "10.10.2.11:50000 > 10.20.2.99:4008 tcp SF",  # misdirected high
            flow("10.10.2.11:50000 > 10.20.2.11:4008 tcp S0"),  # blocked critical
        ]
    )
    kinds = [(f.severity.value, f.kind.value) for f in v.findings]
    assert kinds == sorted(kinds, key=lambda k: (Severity(k[0]).rank, FindingKind(k[1]).rank))
    # vra-control is missing between the two VRAs the capture saw: critical, and missing sorts first
    assert kinds[:2] == [("critical", "missing"), ("critical", "blocked")]
    assert ("high", "reversed") in kinds and ("high", "misdirected") in kinds
    assert kinds.index(("high", "reversed")) < kinds.index(("high", "misdirected"))
    assert kinds[-1] == ("low", "unexpected")


def test_addresses_may_be_a_set_of_pairs():
    table = flow_table(["10.10.0.10:50001 > 10.10.0.5:443 tcp SF"])
    table.addresses = {tuple(int(x) for x in row) for row in table.addresses}
    v = flows_to_verdicts(table, inventory(), bundled_rules())
    assert list(v.flows["verdict"]) == ["expected"]


def test_empty_capture():
    v = judge([])
    assert v.summary["flows"] == 0 and len(v.flows) == 0
    assert {c.status.value for c in v.coverage} == {"unobserved"}


def test_many_flows_are_judged_like_few():
    # Vectorised broadcast: 60,000 flows over a handful of combinations give
    # the same verdicts as each combination alone.
    base = healthy_two_site() + [
        "10.99.0.7:50000 > 10.10.0.10:3389 tcp SF",
        "10.10.0.5:50000 > 10.10.0.10:443 tcp SF",
    ]
    rows = [flow(s) for s in base]
    alone = [judge([r]).flows["verdict"].iloc[0] for r in rows]
    many = judge(rows * 6000)
    assert list(many.flows["verdict"]) == alone * 6000
    assert many.summary["verdicts"]["expected"] == 9 * 6000
    unexpected = only(many, FindingKind.UNEXPECTED)
    assert unexpected.flows == 6000
    assert np.all(
        many.flows["rule"].iloc[:11].to_numpy() == many.flows["rule"].iloc[11:22].to_numpy()
    )


def test_icmp_explains_the_silence_once():
    rows = [
        flow(
            f"10.10.2.11:{50000 + i} > 10.20.2.11:4008 tcp S0",
            t=i,
            syns=1,
            icmp=(3, 13, "10.10.0.1"),
        )
        for i in range(3)
    ]
    rows.append(flow("10.10.2.11:50100 > 10.20.2.11:4008 tcp S0", t=5, syns=2))
    f = only(judge(rows), FindingKind.BLOCKED)
    assert f.flows == 4
    assert (
        "ICMP administratively prohibited from 10.10.0.1 (3 of the flows), no answer to 2 SYNs over 1 s"
        in f.detail
    )


def test_a_flow_table_without_its_columns_is_a_bug():
    from auditor.errors import InternalError

    table = flow_table(["10.10.0.10:50001 > 10.10.0.5:443 tcp SF"])
    table.flows = table.flows.drop(columns=["icmp_unreach"])
    with pytest.raises(InternalError, match="icmp_unreach"):
        flows_to_verdicts(table, inventory(), bundled_rules())


def test_midstream_only_findings_say_the_direction_was_guessed():
    v = judge([flow("10.99.0.7:50000 > 10.10.0.10:3389 tcp OTH", certain=False)])
    f = only(v, FindingKind.UNEXPECTED)
    assert "seen mid-stream only (direction guessed from the ports); no rule allows" in f.detail

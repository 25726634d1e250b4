"""Discovery: flow tables → proposed inventory (auditor.discover)."""

from __future__ import annotations

import dataclasses
import io
import ipaddress
from types import SimpleNamespace

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.discover import flows_to_inventory, inventory_data, write_inventory

from .conftest import flow_frame, make_spec_rules

TWO_SITES = [
    "10.10.0.10 > 10.10.0.5:443 tcp SF x5",
    "10.10.0.10 > 10.10.1.11:22 tcp SF",
    "10.10.0.10 > 10.10.1.11:443 tcp SF",
    "10.10.0.10 > 10.10.2.11:4006 tcp SF x3",
    "10.10.0.10 > 10.10.2.12:4006 tcp SF",
    "10.10.0.10 > 10.10.2.11:4009 tcp SF",
    "10.10.0.10 > 10.20.0.10:9081 tcp SF",
    "10.20.0.10 > 10.10.0.10:9081 tcp SF",
    "10.10.2.11 > 10.20.2.11:4007 tcp SF",
    "10.10.2.11 > 10.20.2.11:4008 tcp S1",
    "10.10.2.12 > 10.20.2.11:4008 tcp SF",
    "10.20.2.11 > 10.10.2.11:4007 tcp SF",
    "10.10.9.5 > 10.10.0.10:9669 tcp SF",
    "10.10.0.10 > 10.10.0.2:53 udp SF",
    "10.10.2.11 > 10.10.0.2:53 udp SF",
    "10.10.0.10 > 10.10.0.3:123 udp SF",
    "10.20.0.10 > 10.20.0.5:443 tcp SF",
    "10.20.0.10 > 10.20.2.11:4006 tcp SF",
    "10.20.0.10 > 10.20.2.11:4009 tcp SF",
]


def by_ip(inv: dict) -> dict[str, dict]:
    return {h["ip"]: h for h in inv["hosts"]}


def roles(inv: dict) -> dict[str, str]:
    return {h["ip"]: h["role"] for h in inv["hosts"]}


def written(inv: dict) -> str:
    buf = io.StringIO()
    write_inventory(inv, buf)
    return buf.getvalue()


def test_two_sites_roles_sites_names_and_pairing(spec_rules):
    inv = flows_to_inventory(flow_frame(TWO_SITES), spec_rules)
    assert inv["name"] == "discovered" and inv["profile"] == "zvr-legacy"
    assert [(h["name"], h["role"], h["site"], h["ip"]) for h in inv["hosts"]] == [
        ("zvm-a", "zvm", "site-a", "10.10.0.10"),
        ("vc-a", "vcenter", "site-a", "10.10.0.5"),
        ("esx-a-1", "esxi", "site-a", "10.10.1.11"),
        ("vra-a-1", "vra", "site-a", "10.10.2.11"),
        ("vra-a-2", "vra", "site-a", "10.10.2.12"),
        ("client-a-1", "client", "site-a", "10.10.9.5"),
        ("zvm-b", "zvm", "site-b", "10.20.0.10"),
        ("vc-b", "vcenter", "site-b", "10.20.0.5"),
        ("vra-b-1", "vra", "site-b", "10.20.2.11"),
    ]
    assert inv["sites"] == {"site-a": {"peers": ["site-b"]}, "site-b": {}}
    # DNS/NTP servers are not hosts; they are listed as infrastructure.
    assert {i["ip"] for i in inv["discovery"]["infrastructure"]} == {"10.10.0.2", "10.10.0.3"}


def unwrapped(text: str) -> str:
    """The written YAML with wrapped comments joined back into one line each."""
    out: list[str] = []
    for line in text.splitlines():
        body = line.lstrip()
        if body.startswith("#   ") and out and out[-1].lstrip().startswith("#"):
            out[-1] += " " + body[4:]
        else:
            out.append(line)
    return "\n".join(out)


def test_evidence_comments_say_why(spec_rules):
    text = unwrapped(written(flows_to_inventory(flow_frame(TWO_SITES), spec_rules)))
    assert "# vc-a 10.10.0.5: receives 443 from zvm-a → vcenter" in text
    assert "# esx-a-1 10.10.1.11: receives 22/443 from zvm-a → esxi" in text
    assert "4007 both ways with vra-b-1 → vra" in text
    assert "opens 443 to vc-a, esx-a-1" in text
    assert "zvm-peer zvm-a↔zvm-b" in text
    assert "10.10.0.2: DNS (udp 53) for vra-a-1, zvm-a" in text
    assert "10.10.0.3: NTP (udp 123) for zvm-a" in text


def test_written_yaml_is_the_spec_part_and_comments_stay_comments(spec_rules):
    inv = flows_to_inventory(flow_frame(TWO_SITES), spec_rules, name="acme: dr\n# not a comment")
    text = written(inv)
    loaded = yaml.safe_load(text)
    assert loaded == inventory_data(inv)
    assert "discovery" not in loaded
    assert loaded["name"] == "acme: dr\n# not a comment"
    for line in text.splitlines():
        assert not line or line.startswith(("#", " ", "name:", "profile:", "sites:", "hosts:")), (
            line
        )


def test_write_inventory_to_path(tmp_path, spec_rules):
    inv = flows_to_inventory(flow_frame(TWO_SITES), spec_rules)
    path = tmp_path / "inv.yaml"
    write_inventory(inv, path)
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == inventory_data(inv)


def test_accepts_the_flow_table_object(spec_rules):
    table = SimpleNamespace(flows=flow_frame(TWO_SITES), addresses=set())
    assert (
        flows_to_inventory(table, spec_rules)["hosts"]
        == flows_to_inventory(flow_frame(TWO_SITES), spec_rules)["hosts"]
    )


def test_web_clients_of_the_vcenter_are_not_zvms(spec_rules):
    flows = TWO_SITES + [
        "10.10.9.6 > 10.10.0.5:443 tcp SF x20",  # an admin's browser on the vCenter
        "10.10.9.5 > 10.10.0.5:443 tcp SF",  # the GUI client also uses the vCenter
        "10.10.9.7 > 93.184.216.34:443 tcp SF",  # web traffic between unknowns
        "10.10.9.5 > 198.51.100.9:443 tcp SF",  # the GUI client browsing the web
        "10.10.0.10 > 203.0.113.80:443 tcp SF",  # the ZVM's call-home: worth a line
    ]
    inv = flows_to_inventory(flow_frame(flows), spec_rules)
    r = roles(inv)
    assert "10.10.9.6" not in r
    assert r["10.10.9.5"] == "client"
    assert r["10.10.0.5"] == "vcenter"
    left = {x["ip"]: x["evidence"] for x in inv["discovery"]["left_out"]}
    assert left["10.10.9.6"] == "opens 443/tcp to vc-a (20 flow(s))"
    assert "10.10.9.7" not in left and "93.184.216.34" not in left
    assert "198.51.100.9" not in left
    assert left["203.0.113.80"].startswith("receives 443 from zvm-a like its vCenter vc-a")


def test_unanswered_attempts_prove_no_role(spec_rules):
    flows = TWO_SITES + [
        "10.10.2.12 > 10.20.2.99:4008 tcp S0 x3",
        "10.10.2.12 > 10.20.2.98:4008 tcp REJ",
    ]
    inv = flows_to_inventory(flow_frame(flows), spec_rules)
    assert "10.20.2.99" not in roles(inv) and "10.20.2.98" not in roles(inv)
    left = {x["ip"]: x["evidence"] for x in inv["discovery"]["left_out"]}
    assert (
        left["10.20.2.99"] == "receives 4008/tcp from vra-a-2 (3 unanswered or refused attempt(s))"
    )
    text = unwrapped(written(inv))
    assert (
        "# - 10.20.2.99: receives 4008/tcp from vra-a-2 (3 unanswered or refused attempt(s))"
        in text
    )


def test_icmp_unreachable_flow_is_not_evidence(spec_rules):
    df = flow_frame(TWO_SITES + ["10.10.2.12 > 10.20.2.77:4008 udp SF"])
    df.loc[df.index[-1], "icmp_unreach"] = 1
    inv = flows_to_inventory(df, spec_rules)
    assert "10.20.2.77" not in roles(inv)


def test_midstream_flows_are_evidence(spec_rules):
    inv = flows_to_inventory(
        flow_frame(
            ["10.10.2.11:52000 > 10.20.2.11:4008 tcp OTH", "10.20.2.11 > 10.10.2.11:4007 tcp OTH"]
        ),
        spec_rules,
    )
    assert roles(inv) == {"10.10.2.11": "vra", "10.20.2.11": "vra"}


def test_one_vcenter_per_zvm(spec_rules):
    flows = [
        "10.10.0.10 > 10.10.0.5:443 tcp SF x9",
        "10.10.0.10 > 10.10.0.6:443 tcp SF x2",  # a second web service the ZVM uses, no SSH
        "10.10.0.10 > 10.10.2.11:4006 tcp SF",
        "10.10.0.10 > 10.10.2.11:4009 tcp SF",
    ]
    inv = flows_to_inventory(flow_frame(flows), spec_rules)
    assert roles(inv) == {"10.10.0.10": "zvm", "10.10.0.5": "vcenter", "10.10.2.11": "vra"}
    left = {x["ip"]: x["evidence"] for x in inv["discovery"]["left_out"]}
    assert left["10.10.0.6"].startswith(
        "receives 443 from zvm-a like its vCenter vc-a; a ZVM uses one vCenter"
    )


def test_vba_from_its_own_port(spec_rules):
    flows = [
        "10.10.0.10 > 10.10.0.5:443 tcp SF",
        "10.10.0.10 > 10.10.2.11:4006 tcp SF",
        "10.10.0.10 > 10.10.3.3:4006 tcp SF",
        "10.10.3.3 > 10.10.0.10:9180 tcp SF",
    ]
    r = roles(flows_to_inventory(flow_frame(flows), spec_rules))
    assert r == {
        "10.10.0.10": "zvm",
        "10.10.0.5": "vcenter",
        "10.10.2.11": "vra",
        "10.10.3.3": "vba",
    }


def test_vba_with_only_4006_beside_vras_with_4009(spec_rules):
    flows = [
        "10.10.0.10 > 10.10.0.5:443 tcp SF",
        "10.10.0.10 > 10.10.2.11:4006 tcp SF",
        "10.10.0.10 > 10.10.2.11:4009 tcp SF",
        "10.10.0.10 > 10.10.0.20:4006 tcp SF",  # no 9180 in this capture
    ]
    inv = flows_to_inventory(flow_frame(flows), spec_rules)
    assert roles(inv)["10.10.0.20"] == "vba" and roles(inv)["10.10.2.11"] == "vra"
    text = unwrapped(written(inv))
    assert (
        "# equally fits vra, but a vra would also show zvm-vra-checkpoints like its peers do with"
        " other hosts"
    ) in text
    # Without a sibling VRA showing 4009, a lone 4006 peer is a VRA (the commoner role).
    lone = [f for f in flows if "10.10.2.11" not in f]
    assert roles(flows_to_inventory(flow_frame(lone), spec_rules))["10.10.0.20"] == "vra"


def test_vra_with_only_zvm_control_flows_is_a_vra(spec_rules):
    # No 4007/4008 yet (nothing protected): 4006/4009 from the ZVM decide it,
    # by the rules' declared direction.
    flows = ["10.10.0.10 > 10.10.2.11:4006 tcp SF", "10.10.0.10 > 10.10.2.11:4009 tcp SF"]
    assert roles(flows_to_inventory(flow_frame(flows), spec_rules)) == {
        "10.10.0.10": "zvm",
        "10.10.2.11": "vra",
    }


def test_capture_at_one_site_groups_the_remote_hosts(spec_rules):
    flows = [
        "10.10.0.10 > 10.10.0.5:443 tcp SF",
        "10.10.0.10 > 10.10.2.11:4006 tcp SF",
        "10.10.0.10 > 10.10.2.12:4006 tcp SF",
        "10.10.0.10 > 10.20.0.10:9081 tcp SF",
        "10.10.2.11 > 10.20.2.11:4008 tcp SF",
        "10.10.2.12 > 10.20.2.12:4008 tcp SF",
        "10.10.2.12 > 10.20.2.11:4007 tcp SF",
    ]
    inv = flows_to_inventory(flow_frame(flows), spec_rules)
    h = by_ip(inv)
    assert {h[ip]["site"] for ip in ("10.20.0.10", "10.20.2.11", "10.20.2.12")} == {"site-b"}
    assert [h[ip]["name"] for ip in ("10.20.0.10", "10.20.2.11", "10.20.2.12")] == [
        "zvm-b",
        "vra-b-1",
        "vra-b-2",
    ]
    assert inv["sites"] == {"site-a": {"peers": ["site-b"]}, "site-b": {}}
    assert "grouped with the hosts that have the same peers" in unwrapped(written(inv))


def test_remote_vra_joins_the_one_paired_site(spec_rules):
    # site-b's ZVM and one VRA are seen with their own flows; a second remote
    # VRA only through 4008: it belongs to site-b, the only site paired with site-a.
    flows = TWO_SITES + ["10.10.2.12 > 10.20.2.12:4008 tcp SF"]
    inv = flows_to_inventory(flow_frame(flows), spec_rules)
    assert by_ip(inv)["10.20.2.12"]["site"] == "site-b"
    assert by_ip(inv)["10.20.2.12"]["name"] == "vra-b-2"


def test_single_vcenter_locations_stay_one_site(spec_rules):
    flows = [
        "10.10.0.10 > 10.10.0.5:443 tcp SF",
        "10.10.0.10 > 10.10.2.11:4006 tcp SF",
        "10.10.0.10 > 10.30.2.11:4006 tcp SF",  # branch-office VRA managed by the same ZVM
        "10.10.2.11 > 10.30.2.11:4008 tcp SF",
    ]
    inv = flows_to_inventory(flow_frame(flows), spec_rules)
    assert inv["sites"] == {"site-a": {}}
    assert "single-vCenter deployment" in unwrapped(written(inv))


def test_port_overrides_come_from_the_rules(spec_rules):
    moved = [dataclasses.replace(r, port=9181) if r.id == "zvm-peer" else r for r in spec_rules]
    flows = [
        "10.10.0.10 > 10.10.0.5:443 tcp SF",
        "10.20.0.10 > 10.20.0.5:443 tcp SF",
        "10.10.0.10 > 10.20.0.10:9181 tcp SF",
    ]
    assert flows_to_inventory(flow_frame(flows), spec_rules)["hosts"] == []
    inv = flows_to_inventory(flow_frame(flows), moved)
    assert roles(inv) == {
        "10.10.0.10": "zvm",
        "10.10.0.5": "vcenter",
        "10.20.0.10": "zvm",
        "10.20.0.5": "vcenter",
    }
    assert inv["sites"] == {"site-a": {"peers": ["site-b"]}, "site-b": {}}


def test_ipv6_hosts(spec_rules):
    flows = [
        "fd00:10::10 > fd00:10::5:443 tcp SF",
        "fd00:10::10 > fd00:10::2:11:4006 tcp SF",
        "fd00:10::2:11 > fd00:20::2:11:4008 tcp SF",
    ]
    inv = flows_to_inventory(flow_frame(flows), spec_rules)
    assert roles(inv) == {
        "fd00:10::10": "zvm",
        "fd00:10::5": "vcenter",
        "fd00:10::2:11": "vra",
        "fd00:20::2:11": "vra",
    }
    assert yaml.safe_load(written(inv)) == inventory_data(inv)


def test_empty_flow_table(spec_rules):
    inv = flows_to_inventory(flow_frame([]), spec_rules)
    assert inv["hosts"] == [] and inv["sites"] == {}
    assert yaml.safe_load(written(inv)) == {
        "name": "discovered",
        "profile": "zvr-legacy",
        "sites": {},
        "hosts": [],
    }


def test_site_and_host_names_beyond_z(spec_rules):
    # 28 independent ZVM+vCenter pairs → site-a … site-z, site-aa, site-ab.
    flows = [f"10.{i}.0.10 > 10.{i}.0.5:443 tcp SF" for i in range(1, 29)]
    flows += [f"10.{i}.0.10 > 10.{i}.2.11:4006 tcp SF" for i in range(1, 29)]
    flows += [f"10.{i}.0.10 > 10.{i}.2.11:4009 tcp SF" for i in range(1, 29)]
    inv = flows_to_inventory(flow_frame(flows), spec_rules)
    assert list(inv["sites"])[-2:] == ["site-aa", "site-ab"]
    assert by_ip(inv)["10.28.0.10"]["name"] == "zvm-ab"


def test_roles_from_a_loaded_ruleset_object(spec_rules):
    from auditor.model import RuleSet

    rs = RuleSet(
        ruleset="zvr-legacy", version=1, path="x", sha256="0" * 64, rules=tuple(spec_rules)
    )
    assert (
        flows_to_inventory(flow_frame(TWO_SITES), [rs])["hosts"]
        == flows_to_inventory(flow_frame(TWO_SITES), spec_rules)["hosts"]
    )


# ---------------------------------------------------------------------------
# Property: a generated deployment's flows give back its roles, sites and
# pairing, whatever the numbers of sites, VRAs and admin clients.


@st.composite
def deployments(draw):
    n_sites = draw(st.integers(1, 3))
    truth, flows = {}, []
    for s in range(n_sites):
        net = 10 + 10 * s
        zvm, vc = f"10.{net}.0.10", f"10.{net}.0.5"
        truth[zvm], truth[vc] = ("zvm", s), ("vcenter", s)
        flows.append(f"{zvm} > {vc}:443 tcp SF x{draw(st.integers(1, 4))}")
        for v in range(draw(st.integers(1, 4))):
            vra = f"10.{net}.2.{11 + v}"
            truth[vra] = ("vra", s)
            # Every VRA gets 4009 from its ZVM (steady, each); 4006 may be
            # between connections in a short capture.
            flows.append(f"{zvm} > {vra}:4009 tcp SF")
            if draw(st.booleans()):
                flows.append(f"{zvm} > {vra}:4006 tcp SF")
            if draw(st.booleans()):
                esx = f"10.{net}.1.{11 + v}"
                truth[esx] = ("esxi", s)
                flows += [f"{zvm} > {esx}:22 tcp SF", f"{zvm} > {esx}:443 tcp SF"]
        for c in range(draw(st.integers(0, 2))):
            admin = f"10.{net}.9.{5 + c}"
            truth[admin] = ("client", s)
            flows += [f"{admin} > {zvm}:9669 tcp SF", f"{admin} > {vc}:443 tcp SF"]
        flows.append(f"{zvm} > 10.{net}.0.2:53 udp SF")
    for s in range(1, n_sites):  # every site pairs with the first
        flows.append(f"10.10.0.10 > 10.{10 + 10 * s}.0.10:9081 tcp SF")
        flows.append(f"10.10.2.11 > 10.{10 + 10 * s}.2.11:4008 tcp SF")
    return n_sites, truth, draw(st.permutations(flows))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deployments())
def test_generated_deployments_round_trip(deployment):
    n_sites, truth, flows = deployment
    inv = flows_to_inventory(flow_frame(list(flows)), make_spec_rules())
    assert roles(inv) == {ip: role for ip, (role, _s) in truth.items()}
    # Sites: same partition as the truth, named in ZVM address order.
    site_of = {h["ip"]: h["site"] for h in inv["hosts"]}
    for ip, (_role, s) in truth.items():
        assert site_of[ip] == f"site-{'abc'[s]}", ip
    expected_sites = {f"site-{'abc'[s]}": {} for s in range(n_sites)}
    if n_sites > 1:
        expected_sites["site-a"] = {"peers": [f"site-{'abc'[s]}" for s in range(1, n_sites)]}
    assert inv["sites"] == expected_sites
    names = [h["name"] for h in inv["hosts"]]
    assert len(set(names)) == len(names)
    assert all(ipaddress.ip_address(h["ip"]) for h in inv["hosts"])
    assert yaml.safe_load(written(inv)) == inventory_data(inv)


def test_round_trip_through_the_inventory_loader(tmp_path, spec_rules):
    inventory = pytest.importorskip(
        "auditor.inventory", reason="auditor.inventory has not landed yet"
    )
    inv = flows_to_inventory(flow_frame(TWO_SITES), spec_rules)
    path = tmp_path / "discovered.yaml"
    write_inventory(inv, path)
    loaded = inventory.load_inventory(path)
    assert {h.name: (h.role.value, h.site) for h in loaded.hosts} == {
        h["name"]: (h["role"], h["site"]) for h in inv["hosts"]
    }
    assert {h.name: str(h.networks[0].network_address) for h in loaded.hosts} == {
        h["name"]: h["ip"] for h in inv["hosts"]
    }
    assert loaded.paired("site-a", "site-b")
    assert loaded.profile == "zvr-legacy"


def test_bundled_rules_by_default(spec_rules):
    pytest.importorskip("auditor.ruleset", reason="auditor.ruleset has not landed yet")
    df = flow_frame(TWO_SITES)
    bundled = flows_to_inventory(df)
    assert bundled["hosts"] == flows_to_inventory(df, spec_rules)["hosts"]
    assert bundled["sites"] == {"site-a": {"peers": ["site-b"]}, "site-b": {}}


def test_warnings(spec_rules):
    assert flows_to_inventory(flow_frame([]), spec_rules)["discovery"]["warnings"] == [
        "no ZVR host found: no answered flow on a port of the loaded rules"
    ]
    assert flows_to_inventory(flow_frame(TWO_SITES), spec_rules)["discovery"]["warnings"] == []
    one_site = [f for f in TWO_SITES if not f.startswith("10.20.0.10 > 10.20.0.5")]
    [warning] = flows_to_inventory(flow_frame(one_site), spec_rules)["discovery"]["warnings"]
    assert warning == (
        "no vCenter seen at site-b (the capture did not see its ZVM's 443): add it by hand; with 1"
        " vCenter(s) in the inventory the audit treats the deployment as single-vCenter (SPEC section 3)"
        " and ignores zvm-peer"
    )
    text = unwrapped(written(flows_to_inventory(flow_frame(one_site), spec_rules)))
    assert f"# WARNING: {warning}" in text


def test_busy_call_home_is_not_the_vcenter(spec_rules):
    flows = [
        "10.10.0.10 > 10.10.0.5:443 tcp SF x2",
        "10.10.0.10 > 8.8.4.4:443 tcp SF x30",  # public: a cloud service, however busy
        "10.10.0.10 > 10.10.2.11:4006 tcp SF",
        "10.10.0.10 > 10.10.2.11:4009 tcp SF",
    ]
    inv = flows_to_inventory(flow_frame(flows), spec_rules)
    assert roles(inv)["10.10.0.5"] == "vcenter" and "8.8.4.4" not in roles(inv)


def test_cloud_provider_roles(spec_rules):
    flows = TWO_SITES + [
        "10.10.0.10 > 10.10.5.5:5672 tcp SF",  # ZVM → vCloud Director (AMQP)
        "10.10.6.6 > 10.10.0.10:9669 tcp SF",  # ZCM → ZVM
        "10.10.6.6 > 10.20.0.10:9669 tcp SF",  # ZCM → the other ZVM
        "10.10.9.5 > 10.10.6.6:9989 tcp SF",  # a client on the ZCM
        "10.10.7.7 > 10.10.0.10:9779 tcp SF",  # ZSSP → ZVM
    ]
    inv = flows_to_inventory(flow_frame(flows), spec_rules)
    r = roles(inv)
    assert (r["10.10.5.5"], r["10.10.7.7"], r["10.10.9.5"]) == ("vcd", "zssp", "client")
    # Two ZVMs on 9669 and clients on 9989: a ZCM, though a lone 9669 opener is a client.
    assert r["10.10.6.6"] == "zcm"
    assert (
        by_ip(inv)["10.10.5.5"]["name"] == "vcd-a" and by_ip(inv)["10.10.5.5"]["site"] == "site-a"
    )


PORTS = [
    22,
    443,
    53,
    123,
    4005,
    4006,
    4007,
    4008,
    4009,
    5672,
    9080,
    9081,
    9180,
    9669,
    9779,
    9989,
    3389,
]
STATES = ["SF", "S1", "OTH", "S0", "REJ", "RSTO", "SH"]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.1.0.1", "10.1.0.2", "8.8.8.8", "fd00::1"]
            ),
            st.sampled_from(
                ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.1.0.1", "10.1.0.2", "8.8.8.8", "fd00::2"]
            ),
            st.sampled_from(PORTS),
            st.sampled_from(["tcp", "udp"]),
            st.sampled_from(STATES),
        ),
        max_size=30,
    )
)
def test_any_flows_give_a_loadable_inventory(tmp_path_factory, flows):
    inventory = pytest.importorskip("auditor.inventory")
    lines = [f"{c} > {s}:{p} {proto} {state}" for c, s, p, proto, state in flows if c != s]
    inv = flows_to_inventory(flow_frame(lines), make_spec_rules())
    names = [h["name"] for h in inv["hosts"]]
    ips = [h["ip"] for h in inv["hosts"]]
    assert len(set(names)) == len(names) and len(set(ips)) == len(ips)
    assert {h["site"] for h in inv["hosts"]} == set(inv["sites"])
    if not inv["hosts"]:
        return  # an empty proposal: nothing to load (the file says why)
    path = tmp_path_factory.mktemp("inv") / "discovered.yaml"
    write_inventory(inv, path)
    loaded = inventory.load_inventory(path)
    assert sorted(h.name for h in loaded.hosts) == sorted(names)

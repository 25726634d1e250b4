"""Inventory loading (SPEC section 3): good files, and one test per error message."""

from __future__ import annotations

import hashlib
import ipaddress
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.errors import InventoryError
from auditor.inventory import build_address_index, load_inventory
from auditor.model import Role
from auditor.tables import text_to_addr

SPEC_EXAMPLE = """\
name: acme-dr                 # free text
profile: zvr-legacy           # rule set profile, optional
sites:
  prod: {peers: [dr]}         # pairing is symmetric; naming it once is enough
  dr: {}
hosts:
  - {name: zvm-prod,   role: zvm,     site: prod, ip: 10.10.0.10}
  - {name: vc-prod,    role: vcenter, site: prod, ip: 10.10.0.5}
  - {name: esx-prod-1, role: esxi,    site: prod, ip: 10.10.1.11}
  - {name: vra-prod-1, role: vra,     site: prod, ip: 10.10.2.11, esxi: esx-prod-1}
  - {name: admins,     role: client,  site: prod, ip: 10.10.9.0/24}
ports:                        # overrides of configurable ports, by rule id
  zvm-peer: 9181
"""

# Two sites, no peers (paired by default); the host list is what tests vary.
HEAD = """\
sites:
  prod: {}
  dr: {}
hosts:
"""


def write(tmp_path: Path, text: str, name: str = "inventory.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load_error(path: Path, **kwargs) -> InventoryError:
    with pytest.raises(InventoryError) as info:
        load_inventory(path, **kwargs)
    return info.value


# ------------------------------------------------------------------ good files
def test_spec_example(tmp_path):
    path = write(tmp_path, SPEC_EXAMPLE)
    inv = load_inventory(path)
    assert inv.name == "acme-dr" and inv.profile == "zvr-legacy"
    assert inv.path == str(path)
    assert inv.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [h.name for h in inv.hosts] == ["zvm-prod", "vc-prod", "esx-prod-1", "vra-prod-1", "admins"]
    assert [h.line for h in inv.hosts] == [7, 8, 9, 10, 11]
    assert inv.hosts[3].role is Role.VRA and inv.hosts[3].esxi == "esx-prod-1"
    assert inv.hosts[4].networks == (ipaddress.ip_network("10.10.9.0/24"),)
    assert inv.paired("prod", "dr") and inv.paired("dr", "prod")  # symmetric
    assert not inv.paired("prod", "prod")
    assert inv.ports == {"zvm-peer": 9181} and inv.port_lines == {"zvm-peer": 13}
    assert inv.single_vcenter  # one vCenter in total
    assert inv.host_files == ()


def test_two_sites_without_peers_are_paired(tmp_path):
    inv = load_inventory(write(tmp_path, HEAD + "  - {name: a, role: zvm, site: prod, ip: 10.0.0.1}\n"))
    assert inv.paired("prod", "dr")
    assert inv.name == "inventory" and inv.profile == "zvr-legacy"  # defaults


def test_three_sites_without_peers_are_not_paired(tmp_path):
    text = "sites: {a: {}, b: {}, c: {}}\nhosts:\n  - {name: x, role: zvm, site: a, ip: 10.0.0.1}\n"
    inv = load_inventory(write(tmp_path, text))
    assert not inv.paired("a", "b") and not inv.paired("b", "c")


def test_peers_named_once_pair_both_ways_and_only_those(tmp_path):
    text = """\
    sites:
      a: {peers: [b]}
      b:
      c: {peers: b}
    hosts:
      - {name: x, role: zvm, site: a, ip: 10.0.0.1}
    """
    inv = load_inventory(write(tmp_path, text))
    assert inv.paired("b", "a") and inv.paired("b", "c") and not inv.paired("a", "c")


def test_several_addresses_blocks_and_v6(tmp_path):
    text = HEAD + """\
  - name: nat-zvm
    role: zvm
    site: prod
    ip: [10.0.0.1, 192.0.2.7, "2001:db8::10", 1:2:3:4:5:6:7:8]
  - {name: admins, role: client, site: dr, ip: "10.9.0.0/16 2001:db8:9::/48"}
  - {name: mapped, role: vcenter, site: dr, ip: "::ffff:10.0.0.5"}
"""
    inv = load_inventory(write(tmp_path, text))
    nets = [tuple(str(n) for n in h.networks) for h in inv.hosts]
    # 1:2:3:4:5:6:7:8 is a YAML 1.1 sexagesimal number when read naively.
    assert nets[0] == ("10.0.0.1/32", "192.0.2.7/32", "2001:db8::10/128", "1:2:3:4:5:6:7:8/128")
    assert nets[1] == ("10.9.0.0/16", "2001:db8:9::/48")
    assert nets[2] == ("10.0.0.5/32",)  # IPv4-mapped is read as IPv4
    assert not inv.single_vcenter or sum(h.role is Role.VCENTER for h in inv.hosts) == 1


def test_overlapping_blocks_are_allowed(tmp_path):
    text = HEAD + """\
  - {name: zvm, role: zvm, site: prod, ip: 10.0.0.10}
  - {name: admins, role: client, site: prod, ip: 10.0.0.0/24}
  - {name: everyone, role: client, site: dr, ip: 10.0.0.0/8}
"""
    inv = load_inventory(write(tmp_path, text))
    assert len(inv.hosts) == 3


def test_merge_keys_fill_in_defaults(tmp_path):
    text = """\
    sites: {prod: {}, dr: {}}
    hosts:
      - &vra {name: vra-1, role: vra, site: prod, ip: 10.0.2.1}
      - {<<: *vra, name: vra-2, ip: 10.0.2.2}
      - {<<: [*vra], name: vra-3, site: dr, ip: 10.1.2.3}
    """
    inv = load_inventory(write(tmp_path, text))
    assert [(h.name, h.role.value, h.site, str(h.networks[0])) for h in inv.hosts] == [
        ("vra-1", "vra", "prod", "10.0.2.1/32"),
        ("vra-2", "vra", "prod", "10.0.2.2/32"),
        ("vra-3", "vra", "dr", "10.1.2.3/32"),
    ]


def test_two_vcenters_is_not_single_vcenter(tmp_path):
    text = HEAD + """\
  - {name: vc-a, role: vcenter, site: prod, ip: 10.0.0.5}
  - {name: vc-b, role: vcenter, site: dr, ip: 10.1.0.5}
"""
    assert not load_inventory(write(tmp_path, text)).single_vcenter


def test_known_rule_ids_accepts_known_overrides(tmp_path):
    inv = load_inventory(write(tmp_path, SPEC_EXAMPLE), known_rule_ids=["zvm-peer", "zvm-gui"])
    assert inv.ports == {"zvm-peer": 9181}


def test_hosts_csv_referenced_from_yaml(tmp_path):
    csv_text = "name,role,site,ip,esxi\nzvm-a,zvm,prod,10.0.0.10,\nesx-a,esxi,prod,10.0.1.1,\n" \
               "vra-a,vra,prod,10.0.2.1 10.0.3.1,esx-a\n"
    (tmp_path / "hosts.csv").write_text(csv_text)
    path = write(tmp_path, "sites: {prod: {peers: [dr]}, dr: {}}\nhosts: hosts.csv\n")
    inv = load_inventory(path)
    assert [h.name for h in inv.hosts] == ["zvm-a", "esx-a", "vra-a"]
    assert [h.line for h in inv.hosts] == [2, 3, 4]
    assert [str(n) for n in inv.hosts[2].networks] == ["10.0.2.1/32", "10.0.3.1/32"]
    assert inv.hosts[2].esxi == "esx-a"
    # The YAML's hash is the inventory's; the CSV's is kept beside it.
    assert inv.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert inv.host_files == ((str(tmp_path / "hosts.csv"), hashlib.sha256(csv_text.encode()).hexdigest()),)


def test_csv_as_inventory_two_sites_paired(tmp_path):
    text = "# exported from the CMDB\nname,role,site,ip\nzvm-a,zvm,a,10.0.0.1\n\nzvm-b,zvm,b,10.1.0.1\n"
    path = write(tmp_path, text, "acme.csv")
    inv = load_inventory(path)
    assert inv.name == "acme" and inv.profile == "zvr-legacy"
    assert sorted(inv.sites) == ["a", "b"] and inv.paired("a", "b")
    assert inv.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [h.line for h in inv.hosts] == [3, 5]


def test_csv_as_inventory_three_sites_unpaired(tmp_path):
    text = "name,role,site,ip\nx,zvm,a,10.0.0.1\ny,zvm,b,10.1.0.1\nz,zvm,c,10.2.0.1\n"
    inv = load_inventory(write(tmp_path, text, "h.csv"))
    assert sorted(inv.sites) == ["a", "b", "c"] and not inv.paired("a", "b")


# --------------------------------------------------- one test per error message
ERRORS = [
    # (id, file text, line, message after "FILE:LINE: ", more)
    ("unknown-role", HEAD + "  - {name: zvm-a, role: zvmm, site: prod, ip: 10.0.0.1}\n", 5,
     "host 'zvm-a': unknown role 'zvmm' (known: zvm, vra, vba, vcenter, esxi, zcm, zssp, vcd, client)", 0),
    ("unknown-site", HEAD + "  - {name: vra-dr-2, role: vra, site: dr2, ip: 10.0.0.1}\n", 5,
     "host 'vra-dr-2': unknown site 'dr2' (known: dr, prod)", 0),
    ("same-address-two-hosts",
     HEAD + "  - {name: a, role: zvm, site: prod, ip: 10.0.0.1}\n  - {name: b, role: vra, site: prod, ip: 10.0.0.1}\n",
     6, "host 'b': address 10.0.0.1 already belongs to host 'a' (line 5)", 0),
    ("same-block-two-hosts",
     HEAD + "  - {name: a, role: client, site: prod, ip: 10.0.0.0/24}\n"
            "  - {name: b, role: client, site: dr, ip: [10.1.0.0/24, 10.0.0.0/24]}\n",
     6, "host 'b': block 10.0.0.0/24 already belongs to host 'a' (line 5)", 0),
    ("same-address-same-host", HEAD + "  - {name: a, role: zvm, site: prod, ip: [10.0.0.1, 10.0.0.1]}\n", 5,
     "host 'a': address 10.0.0.1 is listed twice", 0),
    ("malformed-address", HEAD + "  - {name: a, role: zvm, site: prod, ip: 10.0.0.300}\n", 5,
     "host 'a': malformed address '10.0.0.300' (expected an IPv4 or IPv6 address or CIDR block)", 0),
    ("host-bits-set", HEAD + "  - {name: a, role: client, site: prod, ip: 10.10.9.5/24}\n", 5,
     "host 'a': block '10.10.9.5/24' has host bits set (did you mean 10.10.9.0/24?)", 0),
    ("ip-wrong-type", HEAD + "  - {name: a, role: zvm, site: prod, ip: {v4: 10.0.0.1}}\n", 5,
     "host 'a': 'ip' must be addresses or blocks, found a mapping", 0),
    ("ip-empty-list", HEAD + "  - {name: a, role: zvm, site: prod, ip: []}\n", 5,
     "host 'a': 'ip' is an empty list", 0),
    ("vra-esxi-unknown",
     HEAD + "  - {name: esx-1, role: esxi, site: prod, ip: 10.0.1.1}\n"
            "  - {name: vra-1, role: vra, site: prod, ip: 10.0.2.1, esxi: esx-9}\n",
     6, "host 'vra-1': esxi 'esx-9' names no ESXi host (ESXi hosts: esx-1)", 0),
    ("vra-esxi-names-non-esxi",
     HEAD + "  - {name: zvm-1, role: zvm, site: prod, ip: 10.0.1.1}\n"
            "  - {name: vra-1, role: vra, site: prod, ip: 10.0.2.1, esxi: zvm-1}\n",
     6, "host 'vra-1': esxi 'zvm-1' names no ESXi host (ESXi hosts: none)", 0),
    ("esxi-on-non-vra", HEAD + "  - {name: zvm-1, role: zvm, site: prod, ip: 10.0.1.1, esxi: x}\n", 5,
     "host 'zvm-1': 'esxi' applies only to a vra, not a zvm", 0),
    ("host-missing-field", HEAD + "  - {name: a, role: zvm, site: prod}\n", 5,
     "host 'a': missing field 'ip'", 0),
    ("host-missing-name", HEAD + "  - {role: zvm, site: prod, ip: 10.0.0.1}\n", 5,
     "host #1: missing field 'name'", 0),
    ("missing-hosts", "sites: {prod: {}}\n", 1,
     "missing field 'hosts' (a list of hosts, or a CSV file name)", 0),
    ("missing-sites", "hosts:\n  - {name: a, role: zvm, site: prod, ip: 10.0.0.1}\n", 1,
     "missing field 'sites' (a mapping of site name to {peers: [...]})", 1),  # + unknown site
    ("duplicate-host-name",
     HEAD + "  - {name: a, role: zvm, site: prod, ip: 10.0.0.1}\n  - {name: a, role: vra, site: prod, ip: 10.0.0.2}\n",
     6, "host 'a': duplicate name (first on line 5)", 0),
    ("unknown-top-key", HEAD + "  - {name: a, role: zvm, site: prod, ip: 10.0.0.1}\nhost: []\n", 6,
     "unknown key 'host' (expected: name, profile, sites, hosts, ports)", 0),
    ("unknown-host-field", HEAD + "  - {name: a, role: zvm, site: prod, ip: 10.0.0.1, adress: x}\n", 5,
     "host 'a': unknown field 'adress' (expected: name, role, site, ip, esxi)", 0),
    ("unknown-site-field", "sites:\n  prod: {peer: dr}\n  dr: {}\nhosts:\n  - {name: a, role: zvm, site: prod, ip: 10.0.0.1}\n",
     2, "site 'prod': unknown field 'peer' (expected: peers)", 0),
    ("sites-wrong-type", "sites: [prod, dr]\nhosts:\n  - {name: a, role: zvm, site: prod, ip: 10.0.0.1}\n", 1,
     "'sites' must be a mapping of site name to {peers: [...]}, found a list", 1),  # + unknown site
    ("site-body-wrong-type", "sites:\n  prod: dr\nhosts:\n  - {name: a, role: zvm, site: prod, ip: 10.0.0.1}\n", 2,
     "site 'prod': expected {peers: [...]}, found text 'dr'", 0),
    ("hosts-wrong-type", "sites: {prod: {}}\nhosts: 3\n", 2,
     "'hosts' must be a list of hosts or a CSV file name, found number '3'", 0),
    ("host-not-mapping", HEAD + "  - zvm-a\n", 5,
     "host #1: expected a mapping {name, role, site, ip}, found text 'zvm-a'", 0),
    ("name-wrong-type", HEAD + "  - {name: [a, b], role: zvm, site: prod, ip: 10.0.0.1}\n", 5,
     "host #1: 'name' must be text, found a list", 0),
    ("inventory-name-wrong-type", "name: {x: 1}\n" + HEAD + "  - {name: a, role: zvm, site: prod, ip: 10.0.0.1}\n", 1,
     "'name' must be text, found a mapping", 0),
    ("peer-unknown-site", "sites:\n  prod: {peers: [dr2]}\n  dr: {}\nhosts:\n  - {name: a, role: zvm, site: prod, ip: 10.0.0.1}\n",
     2, "site 'prod': peer 'dr2' is not a site (known: dr, prod)", 0),
    ("peer-self", "sites:\n  prod: {peers: [prod]}\nhosts:\n  - {name: a, role: zvm, site: prod, ip: 10.0.0.1}\n",
     2, "site 'prod': a site cannot be its own peer", 0),
    ("peer-wrong-type", "sites:\n  prod: {peers: [{a: 1}]}\nhosts:\n  - {name: a, role: zvm, site: prod, ip: 10.0.0.1}\n",
     2, "site 'prod': peers must be site names, found a mapping", 0),
    ("port-out-of-range", HEAD + "  - {name: a, role: zvm, site: prod, ip: 10.0.0.1}\nports:\n  zvm-peer: 70000\n", 7,
     "ports: 'zvm-peer': number '70000' is not a port (1-65535)", 0),
    ("port-not-integer", HEAD + "  - {name: a, role: zvm, site: prod, ip: 10.0.0.1}\nports:\n  zvm-peer: nine\n", 7,
     "ports: 'zvm-peer': text 'nine' is not a port (1-65535)", 0),
    ("ports-wrong-type", HEAD + "  - {name: a, role: zvm, site: prod, ip: 10.0.0.1}\nports: [9181]\n", 6,
     "'ports' must be a mapping of rule id to port, found a list", 0),
    ("unknown-profile", "profile: zvr-legacyy\n" + HEAD + "  - {name: a, role: zvm, site: prod, ip: 10.0.0.1}\n", 1,
     "profile 'zvr-legacyy' is not a bundled rule set (bundled: zvr-legacy)", 0),
    ("non-text-key", HEAD + "  - {name: a, role: zvm, site: prod, ip: 10.0.0.1, ~: x}\n", 5,
     "host #1: a key must be text, found nothing", 0),
    ("esxi-wrong-type", HEAD + "  - {name: v, role: vra, site: prod, ip: 10.0.0.1, esxi: [a]}\n", 5,
     "host 'v': 'esxi' must be text, found a list", 0),
    ("merge-non-mapping", HEAD + "  - {<<: 5, name: a, role: zvm, site: prod, ip: 10.0.0.1}\n", 5,
     "host #1: '<<' merges a mapping, found number '5'", 0),
    ("duplicate-key", "sites: {prod: {}}\nsites: {dr: {}}\nhosts:\n  - {name: a, role: zvm, site: prod, ip: 10.0.0.1}\n",
     2, "inventory: duplicate key 'sites' (first on line 1)", 0),
    ("no-hosts", HEAD + "  []\n", 1, "no hosts; the audit needs at least one", 0),
    ("empty-file", "", 1, "empty file; expected an inventory with sites and hosts", 0),
    ("top-level-list", "- a\n- b\n", 1, "expected a mapping with sites and hosts, found a list", 0),
    ("unsafe-tag", "sites: !!python/object/apply:os.system [ls]\n", 1,
     "tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed (plain YAML only)", 0),
    ("custom-tag", "sites: !site {prod: {}}\n", 1, "tag '!site' is not allowed (plain YAML only)", 0),
]


@pytest.mark.parametrize("text, line, message, more", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_error_message(tmp_path, text, line, message, more):
    path = write(tmp_path, text)
    error = load_error(path)
    assert str(error) == f"{path}:{line}: {message}"
    assert error.more == more
    assert error.exit_code == 2


def test_unknown_rule_id_under_ports_with_known_ids(tmp_path):
    path = write(tmp_path, SPEC_EXAMPLE.replace("zvm-peer: 9181", "zvm-peeer: 9181"))
    error = load_error(path, known_rule_ids=["zvm-peer", "zvm-gui"])
    assert str(error) == f"{path}:13: ports: unknown rule id 'zvm-peeer'"


def test_every_problem_is_counted_first_in_file_order(tmp_path):
    text = HEAD + """\
  - {name: a, role: zvmm, site: prod, ip: 10.0.0.1}
  - {name: b, role: vra, site: dr2, ip: 10.0.0.1}
  - {name: c, role: vra, site: prod, ip: 10.0.0.999, esxi: nope}
ports: {zvm-peer: 0}
"""
    path = write(tmp_path, text)
    error = load_error(path)
    assert str(error) == f"{path}:5: host 'a': unknown role 'zvmm' (known: zvm, vra, vba, vcenter, esxi, zcm, zssp, vcd, client)"
    # unknown site, same address, malformed address, esxi, port
    assert error.more == 5
    assert error.line().endswith("(and 5 more problems)")


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "sites: {prod: {}\nhosts: []\n")
    # The wording is libyaml's or PyYAML's, whichever is installed.
    assert str(load_error(path)).startswith(f"{path}:2: not valid YAML: ")


def test_control_characters_in_names_stay_on_one_line(tmp_path):
    path = write(tmp_path, HEAD + '  - {name: "a\\nb\\e[31m", role: zvmm, site: prod, ip: 10.0.0.1}\n')
    message = str(load_error(path))
    assert message.startswith(f"{path}:5: host 'a\\x0ab\\x1b[31m': unknown role 'zvmm'")
    assert "\n" not in message and "\x1b" not in message


def test_no_such_file(tmp_path):
    path = tmp_path / "missing.yaml"
    assert str(load_error(path)) == f"{path}: no such file"


def test_directory_is_not_an_inventory(tmp_path):
    assert str(load_error(tmp_path)) == f"{tmp_path}: is a directory, expected a file"


def test_not_utf8(tmp_path):
    path = tmp_path / "inventory.yaml"
    path.write_bytes(b"sites: {prod: {}}\nname: caf\xe9\n")
    assert str(load_error(path)) == f"{path}: byte 27: not UTF-8 text"


def test_huge_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "inventory.yaml"
    with open(path, "wb") as fh:  # sparse: costs no disk
        fh.truncate(16 * 1024 * 1024 + 1)
    assert str(load_error(path)) == f"{path}: file is 16777217 bytes; refusing files over 16777216 bytes"


def test_deep_nesting_is_refused(tmp_path):
    path = write(tmp_path, "sites: " + "[" * 5000 + "]" * 5000 + "\n")
    assert str(load_error(path)) == f"{path}:1: nesting deeper than 32 levels; refusing the file"


def test_alias_bomb_is_refused(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    lines.append("sites: *a8")
    path = write(tmp_path, "\n".join(lines) + "\n")
    assert str(load_error(path)) == (
        f"{path}:5: aliases expand to more than 100000 values; refusing the file"
    )


def test_small_aliases_are_fine(tmp_path):
    text = "x-ip: &zvm-ip 10.0.0.1\n" + HEAD.replace("sites:", "sites:") + "  - {name: a, role: zvm, site: prod, ip: *zvm-ip}\n"
    path = write(tmp_path, text)
    assert str(load_error(path)).startswith(f"{path}:1: unknown key 'x-ip'")  # aliases themselves are fine


# CSV form errors (one test per message)
def test_csv_bad_header(tmp_path):
    path = write(tmp_path, "host,role,site,address\na,zvm,p,10.0.0.1\n", "h.csv")
    assert str(load_error(path)) == f"{path}:1: CSV header must be name,role,site,ip[,esxi], found host,role,site,address"


def test_csv_too_many_fields(tmp_path):
    path = write(tmp_path, "name,role,site,ip\na,zvm,p,10.0.0.1,extra\n", "h.csv")
    assert str(load_error(path)) == f"{path}:2: host 'a': 5 fields, the header has 4"


def test_csv_missing_field(tmp_path):
    path = write(tmp_path, "name,role,site,ip\na,zvm,p\n", "h.csv")
    assert str(load_error(path)) == f"{path}:2: host 'a': missing field 'ip'"


def test_csv_not_valid(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text('name,role,site,ip\na,zvm,p,10.0.0.1\nb,zvm,p,"' + "1" * 200_000 + '"\n')
    assert str(load_error(path)) == f"{path}:3: not valid CSV: field larger than field limit (131072)"


def test_csv_empty(tmp_path):
    path = write(tmp_path, "\n", "h.csv")
    assert str(load_error(path)) == f"{path}:1: empty host list; expected the header name,role,site,ip[,esxi]"


def test_csv_referenced_errors_name_the_csv(tmp_path):
    (tmp_path / "hosts.csv").write_text("name,role,site,ip\na,zvm,prod,10.0.0.1\nb,vra,dr2,10.0.0.2\n")
    write(tmp_path, "sites: {prod: {}, dr: {}}\nhosts: hosts.csv\n")
    error = load_error(tmp_path / "inventory.yaml")
    assert str(error) == f"{tmp_path / 'hosts.csv'}:3: host 'b': unknown site 'dr2' (known: dr, prod)"


def test_problems_in_the_yaml_come_before_those_in_its_csv(tmp_path):
    (tmp_path / "hosts.csv").write_text("name,role,site,ip\na,zvmm,prod,10.0.0.1\n")
    path = write(tmp_path, "sites: {prod: {}}\nhosts: hosts.csv\nports: {zvm-peer: -1}\n")
    error = load_error(path)
    assert str(error) == f"{path}:3: ports: 'zvm-peer': number '-1' is not a port (1-65535)"
    assert error.more == 1


def test_csv_referenced_missing(tmp_path):
    path = write(tmp_path, "sites: {prod: {}}\nhosts: hosts.csv\n")
    assert str(load_error(path)) == f"{path}:2: hosts: {tmp_path / 'hosts.csv'}: no such file"


# ------------------------------------------------------------- address index
def test_address_index_most_specific_wins(tmp_path):
    text = HEAD + """\
  - {name: zvm, role: zvm, site: prod, ip: [10.0.0.10, "2001:db8::10"]}
  - {name: admins, role: client, site: prod, ip: 10.0.0.0/24}
  - {name: everyone, role: client, site: dr, ip: [10.0.0.0/8, "2001:db8::/32"]}
  - {name: v6net, role: client, site: dr, ip: "2001:db8:1::/64"}
"""
    inv = load_inventory(write(tmp_path, text))
    index = build_address_index(inv)
    cases = {
        "10.0.0.10": 0, "10.0.0.11": 1, "10.0.1.1": 2, "11.0.0.1": -1, "2001:db8::10": 0,
        "2001:db8:1::99": 3, "2001:db8:2::1": 2, "2001:db9::1": -1, "::ffff:10.0.0.10": 0, "::a00:a": -1,
    }
    pairs = np.array([text_to_addr(a) for a in cases], dtype=np.uint64)
    got = index(pairs[:, 0], pairs[:, 1])
    assert got.dtype == np.int64
    assert dict(zip(cases, got.tolist())) == cases


def test_address_index_empty_query_and_no_networks(tmp_path):
    inv = load_inventory(write(tmp_path, HEAD + "  - {name: a, role: zvm, site: prod, ip: 10.0.0.1}\n"))
    index = build_address_index(inv)
    assert index(np.array([], dtype=np.uint64), np.array([], dtype=np.uint64)).shape == (0,)


@settings(max_examples=40, deadline=None)
@given(
    blocks=st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.integers(8, 32)), min_size=1, max_size=30
    ),
    v6_blocks=st.lists(st.tuples(st.integers(0, 2**128 - 1), st.integers(16, 128)), max_size=10),
    probes=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=200),
)
def test_address_index_agrees_with_brute_force(blocks, v6_blocks, probes):
    from auditor.model import Host, Inventory, Site

    networks = []
    seen = set()
    for value, length in blocks:
        net = ipaddress.ip_network((value, length), strict=False)
        if net not in seen:
            seen.add(net)
            networks.append(net)
    for value, length in v6_blocks:
        net = ipaddress.IPv6Network((value, length), strict=False)
        if net not in seen and net.network_address.ipv4_mapped is None:
            seen.add(net)
            networks.append(net)
    hosts = tuple(Host(f"h{i}", Role.CLIENT, "s", (n,)) for i, n in enumerate(networks))
    inv = Inventory("t", "zvr-legacy", "t.yaml", "", {"s": Site("s")}, hosts, {})
    # Probe inside blocks too, not only at random.
    addrs = [ipaddress.ip_address(p) for p in probes]
    addrs += [ipaddress.IPv6Address(p * 7919 % 2**128) for p in probes]
    addrs += [n.network_address for n in networks] + [n.broadcast_address for n in networks]
    # The capture side writes IPv4 as IPv4-mapped: ::ffff:a.b.c.d is IPv4.
    addrs = [a.ipv4_mapped if a.version == 6 and a.ipv4_mapped else a for a in addrs]
    expected = []
    for a in addrs:
        best = -1
        for i, n in enumerate(networks):
            if a.version == n.version and a in n and (best < 0 or n.prefixlen > networks[best].prefixlen):
                best = i
        expected.append(best)
    pairs = np.array([text_to_addr(str(a)) for a in addrs], dtype=np.uint64)
    got = build_address_index(inv)(pairs[:, 0], pairs[:, 1])
    assert got.tolist() == expected


def test_address_index_is_fast_for_thousands():
    # Not a timing assertion: a shape check that many hosts and queries work
    # in one vectorised call.
    from auditor.model import Host, Inventory, Site

    hosts = tuple(
        Host(f"h{i}", Role.VRA, "s", (ipaddress.ip_network(f"10.{i // 256}.{i % 256}.1/32"),)) for i in range(5000)
    )
    hosts += tuple(  # many distinct high halves: the 128-bit search path
        Host(f"v{i}", Role.VRA, "s", (ipaddress.ip_network(f"2001:db8:{i:x}::1/128"),)) for i in range(2000)
    )
    inv = Inventory("t", "zvr-legacy", "t.yaml", "", {"s": Site("s")}, hosts, {})
    texts = [f"10.{i // 256}.{i % 256}.1" for i in range(5000)] + [f"2001:db8:{i:x}::1" for i in range(2000)]
    texts += ["10.200.0.1", "2001:db8:ffff::1", "2001:db8:1::2"]
    pairs = np.array([text_to_addr(t) for t in texts], dtype=np.uint64)
    got = build_address_index(inv)(pairs[:, 0], pairs[:, 1])
    assert got.tolist() == list(range(7000)) + [-1, -1, -1]

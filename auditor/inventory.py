"""Inventory file (YAML, or CSV for the host list) → `Inventory` (SPEC section 3).

YAML::

    name: acme-dr                 # free text (default: the file's stem)
    profile: zvr-legacy           # a bundled rule set (default zvr-legacy)
    sites:                        # required; pairing is symmetric
      prod: {peers: [dr]}
      dr: {}
    hosts:                        # a list, or the path of a CSV beside the YAML
      - {name: zvm-prod, role: zvm, site: prod, ip: 10.10.0.10}
    ports: {zvm-peer: 9181}       # overrides of configurable rules, by rule id

CSV (``name,role,site,ip[,esxi]``, addresses space-separated) either as the
YAML's ``hosts:`` or as the inventory itself: then its sites are those it
names, paired only when there are exactly two.

Every problem is collected and raised once as `InventoryError`
(``FILE:LINE: message``, ``more=`` the rest). ``sha256`` is of the inventory
file as given; a referenced CSV's hash is in ``host_files``.

`build_address_index` maps captured addresses to hosts for the verdict stage.
"""

from __future__ import annotations

import csv
import io
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from auditor.errors import InventoryError
from auditor.model import Host, Inventory, Role, Site
from auditor.ruleset.located_yaml import (
    Located,
    Problems,
    decode_text,
    load_user_yaml,
    read_user_file,
    sha256_hex,
)

DEFAULT_PROFILE = "zvr-legacy"
TOP_KEYS = ("name", "profile", "sites", "hosts", "ports")
HOST_KEYS = ("name", "role", "site", "ip", "esxi")
SITE_KEYS = ("peers",)
CSV_HEADER = ("name", "role", "site", "ip")
ROLES = tuple(r.value for r in Role)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# A 128-bit address as two uint64 halves; numpy compares such records field by
# field, i.e. as one 128-bit number, so sort and searchsorted work on them.
_PAIR = np.dtype([("hi", np.uint64), ("lo", np.uint64)])


@dataclass
class _HostDraft:
    """A host as written, before cross-checks; `path` is the file it is in."""

    path: str
    line: int
    label: str  # how messages name it: "host 'x'" or "host #3"
    name: str | None = None
    role: Role | None = None
    site: str | None = None
    site_line: int = 0
    networks: list[tuple[Network, int]] = field(default_factory=list)
    esxi: str | None = None
    esxi_line: int = 0


def load_inventory(path: str | Path, known_rule_ids: Iterable[str] | None = None) -> Inventory:
    """Load and check an inventory. With `known_rule_ids` (the ids of the rules
    that will be used), `ports` keys are checked here too; otherwise
    `auditor.ruleset.effective_rules` checks them."""
    shown = str(path)
    problems = Problems()
    problems.register(shown)
    if _looks_like_csv(path):
        data = read_user_file(path, InventoryError)
        drafts = _csv_hosts(decode_text(data, shown, InventoryError), shown, problems)
        site_names = sorted({d.site for d in drafts if d.site})
        sites = _default_pairing({s: set() for s in site_names})
        inventory = _assemble(
            shown, Path(path).stem, DEFAULT_PROFILE, sha256_hex(data), sites, drafts, {}, {}, (), problems
        )
    else:
        inventory = _load_yaml_inventory(path, shown, problems)
    if known_rule_ids is not None:
        _check_port_ids(inventory, set(known_rule_ids), problems)
    problems.raise_if_any(InventoryError)
    return inventory


def _looks_like_csv(path: str | Path) -> bool:
    return str(path).lower().endswith(".csv")


# ---------------------------------------------------------------- YAML form
def _load_yaml_inventory(path: str | Path, shown: str, problems: Problems) -> Inventory:
    root, data = load_user_yaml(path, InventoryError)
    if root is None:
        raise InventoryError(f"{shown}:1: empty file; expected an inventory with sites and hosts")
    if not isinstance(root.node.value, list) or root.kind != "a mapping":
        raise InventoryError(
            f"{shown}:{root.line}: expected a mapping with sites and hosts, found {root.kind}"
        )
    top: dict[str, Located] = {}
    for key, value in root.items(problems, "inventory"):
        if key not in TOP_KEYS:
            problems.add(shown, value.line, f"unknown key '{key}' (expected: {', '.join(TOP_KEYS)})")
            continue
        top[key] = value

    name = Path(shown).stem
    if "name" in top and not top["name"].is_null():
        text = top["name"].text()
        if text is None:
            problems.add(shown, top["name"].line, f"'name' must be text, found {top['name'].kind}")
        else:
            name = text

    profile = DEFAULT_PROFILE
    if "profile" in top and not top["profile"].is_null():
        profile = _profile(top["profile"], problems) or DEFAULT_PROFILE

    sites: dict[str, Site] = {}
    if "sites" not in top:
        problems.add(shown, root.line, "missing field 'sites' (a mapping of site name to {peers: [...]})")
    else:
        sites = _sites(top["sites"], problems)

    drafts: list[_HostDraft] = []
    host_files: tuple[tuple[str, str], ...] = ()
    if "hosts" not in top:
        problems.add(shown, root.line, "missing field 'hosts' (a list of hosts, or a CSV file name)")
    else:
        hosts = top["hosts"]
        if hosts.kind == "a list":
            drafts = _yaml_hosts(hosts, problems)
        elif (csv_name := hosts.text()) is not None and hosts.node.tag.endswith(":str"):
            # `hosts: hosts.csv`, relative to the YAML file (SPEC section 3).
            csv_path = Path(shown).parent / csv_name
            csv_shown = str(csv_path)
            try:
                csv_data = read_user_file(csv_path, InventoryError)
            except InventoryError as exc:
                problems.add(shown, hosts.line, f"hosts: {exc.args[0]}")
            else:
                host_files = ((csv_shown, sha256_hex(csv_data)),)
                drafts = _csv_hosts(decode_text(csv_data, csv_shown, InventoryError), csv_shown, problems)
        else:
            problems.add(
                shown, hosts.line, f"'hosts' must be a list of hosts or a CSV file name, found {hosts.kind}"
            )

    ports, port_lines = ({}, {}) if "ports" not in top else _ports(top["ports"], problems)
    return _assemble(
        shown, name, profile, sha256_hex(data), sites, drafts, ports, port_lines, host_files, problems
    )


def _profile(node: Located, problems: Problems) -> str | None:
    from auditor.resources import rules_dir

    text = node.text()
    bundled = sorted(p.stem for p in rules_dir().glob("*.yaml") if p.stem != "infrastructure")
    if text is None or text not in bundled:
        found = repr(text) if text is not None else node.kind
        problems.add(
            node.path, node.line, f"profile {found} is not a bundled rule set (bundled: {', '.join(bundled)})"
        )
        return None
    return text


def _sites(node: Located, problems: Problems) -> dict[str, Site]:
    if node.kind != "a mapping":
        problems.add(
            node.path, node.line,
            f"'sites' must be a mapping of site name to {{peers: [...]}}, found {node.kind}",
        )
        return {}
    peers: dict[str, set[str]] = {}
    peer_refs: list[tuple[str, str, int]] = []
    for site, body in node.items(problems, "sites"):
        peers[site] = set()
        if body.is_null():
            continue
        if body.kind != "a mapping":
            problems.add(node.path, body.line, f"site '{site}': expected {{peers: [...]}}, found {body.kind}")
            continue
        for key, value in body.items(problems, f"site '{site}'"):
            if key not in SITE_KEYS:
                problems.add(
                    node.path, value.line, f"site '{site}': unknown field '{key}' (expected: peers)"
                )
                continue
            items = value.elements() if value.kind == "a list" else [value]
            for item in items:
                peer = item.text()
                if peer is None:
                    problems.add(
                        node.path, item.line, f"site '{site}': peers must be site names, found {item.kind}"
                    )
                else:
                    peer_refs.append((site, peer, item.line))
    for site, peer, line in peer_refs:
        if peer == site:
            problems.add(node.path, line, f"site '{site}': a site cannot be its own peer")
        elif peer not in peers:
            problems.add(
                node.path, line, f"site '{site}': peer '{peer}' is not a site (known: {', '.join(sorted(peers))})"
            )
        else:  # pairing is symmetric: naming it once is enough
            peers[site].add(peer)
            peers[peer].add(site)
    if not peer_refs:
        return _default_pairing(peers)
    return {s: Site(s, frozenset(p)) for s, p in peers.items()}


def _default_pairing(peers: dict[str, set[str]]) -> dict[str, Site]:
    """With exactly two sites and no peers named anywhere, the two are paired
    (SPEC section 3)."""
    if len(peers) == 2 and not any(peers.values()):
        a, b = sorted(peers)
        peers = {a: {b}, b: {a}}
    return {s: Site(s, frozenset(p)) for s, p in peers.items()}


def _yaml_hosts(node: Located, problems: Problems) -> list[_HostDraft]:
    drafts = []
    for number, item in enumerate(node.elements(), start=1):
        draft = _HostDraft(item.path, item.line, f"host #{number}")
        drafts.append(draft)
        if item.kind != "a mapping":
            problems.add(
                item.path, item.line,
                f"host #{number}: expected a mapping {{name, role, site, ip}}, found {item.kind}",
            )
            continue
        fields: dict[str, Located] = {}
        for key, value in item.items(problems, f"host #{number}"):
            fields[key] = value
        if "name" in fields and (name := fields["name"].text()) is not None:
            draft.name, draft.label = name, f"host '{name}'"
        for key, value in fields.items():
            if key not in HOST_KEYS:
                problems.add(
                    item.path, value.line,
                    f"{draft.label}: unknown field '{key}' (expected: {', '.join(HOST_KEYS)})",
                )
        for key in ("name", "role", "site", "ip"):
            if key not in fields or fields[key].is_null():
                problems.add(item.path, item.line, f"{draft.label}: missing field '{key}'")
        for key in ("name", "role", "site", "esxi"):
            given = fields.get(key)
            if given is not None and not given.is_null() and given.text() is None:
                problems.add(item.path, given.line, f"{draft.label}: '{key}' must be text, found {given.kind}")
        if (role := fields.get("role")) is not None and (text := role.text()) is not None:
            draft.role = _role(text, draft, role.line, problems)
        if (site := fields.get("site")) is not None and (text := site.text()) is not None:
            draft.site, draft.site_line = text, site.line
        if (esxi := fields.get("esxi")) is not None and (text := esxi.text()) is not None:
            draft.esxi, draft.esxi_line = text, esxi.line
        if (ip := fields.get("ip")) is not None and not ip.is_null():
            entries = ip.elements() if ip.kind == "a list" else [ip]
            if not entries:
                problems.add(item.path, ip.line, f"{draft.label}: 'ip' is an empty list")
            for entry in entries:
                text = entry.text()
                if text is None:
                    problems.add(
                        item.path, entry.line, f"{draft.label}: 'ip' must be addresses or blocks, found {entry.kind}"
                    )
                    continue
                _add_address(draft, text, entry.line, problems)
    return drafts


def _role(text: str, draft: _HostDraft, line: int, problems: Problems) -> Role | None:
    try:
        return Role(text)
    except ValueError:
        problems.add(draft.path, line, f"{draft.label}: unknown role '{text}' (known: {', '.join(ROLES)})")
        return None


def _add_address(draft: _HostDraft, text: str, line: int, problems: Problems) -> None:
    # Several addresses in one scalar, space separated, as in the CSV form.
    for word in text.split():
        network, message = parse_network(word)
        if network is None:
            problems.add(draft.path, line, f"{draft.label}: {message}")
        else:
            draft.networks.append((network, line))


def parse_network(text: str) -> tuple[Network | None, str]:
    """One address or CIDR block (v4 or v6) as a network; IPv4-mapped IPv6 is
    read as IPv4 so both spellings find the same host."""
    try:
        if "/" in text:
            network: Network = ipaddress.ip_network(text, strict=True)
        else:
            network = ipaddress.ip_network(ipaddress.ip_address(text))
    except ValueError:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return None, f"malformed address '{text}' (expected an IPv4 or IPv6 address or CIDR block)"
        return None, f"block '{text}' has host bits set (did you mean {loose}?)"
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
    return network, ""


def _ports(node: Located, problems: Problems) -> tuple[dict[str, int], dict[str, int]]:
    if node.is_null():
        return {}, {}
    if node.kind != "a mapping":
        problems.add(node.path, node.line, f"'ports' must be a mapping of rule id to port, found {node.kind}")
        return {}, {}
    ports, lines = {}, {}
    for rule_id, value in node.items(problems, "ports"):
        port = value.value() if value.kind.startswith("number") else None
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            problems.add(node.path, value.line, f"ports: '{rule_id}': {value.kind} is not a port (1-65535)")
            continue
        ports[rule_id], lines[rule_id] = port, value.line
    return ports, lines


# ----------------------------------------------------------------- CSV form
def _csv_hosts(text: str, shown: str, problems: Problems) -> list[_HostDraft]:
    reader = csv.reader(io.StringIO(text, newline=""))
    drafts: list[_HostDraft] = []
    header: list[str] | None = None
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            cells = [cell.strip() for cell in row]
            if header is None:
                header = [cell.lower() for cell in cells]
                if tuple(header) not in (CSV_HEADER, CSV_HEADER + ("esxi",)):
                    problems.add(
                        shown, line,
                        f"CSV header must be name,role,site,ip[,esxi], found {','.join(cells)}",
                    )
                    return drafts
                continue
            label = f"host '{cells[0]}'" if cells[0] else f"row {line}"
            draft = _HostDraft(shown, line, label, name=cells[0] or None)
            drafts.append(draft)
            if len(cells) > len(header):
                problems.add(shown, line, f"{label}: {len(cells)} fields, the header has {len(header)}")
            cells += [""] * (len(header) - len(cells))
            values = dict(zip(header, cells))
            for key in CSV_HEADER:
                if not values[key]:
                    problems.add(shown, line, f"{label}: missing field '{key}'")
            if values["role"]:
                draft.role = _role(values["role"], draft, line, problems)
            if values["site"]:
                draft.site, draft.site_line = values["site"], line
            if values.get("esxi"):
                draft.esxi, draft.esxi_line = values["esxi"], line
            if values["ip"]:
                _add_address(draft, values["ip"], line, problems)
    except csv.Error as exc:
        problems.add(shown, reader.line_num, f"not valid CSV: {exc}")
    if header is None:
        problems.add(shown, 1, "empty host list; expected the header name,role,site,ip[,esxi]")
    return drafts


# ------------------------------------------------------- cross-checks, build
def _assemble(
    shown: str,
    name: str,
    profile: str,
    sha256: str,
    sites: dict[str, Site],
    drafts: list[_HostDraft],
    ports: dict[str, int],
    port_lines: dict[str, int],
    host_files: tuple[tuple[str, str], ...],
    problems: Problems,
) -> Inventory:
    known_sites = ", ".join(sorted(sites))
    names: dict[str, int] = {}
    owners: dict[Network, tuple[str, int]] = {}
    esxi_hosts = sorted(d.name for d in drafts if d.role is Role.ESXI and d.name)
    if not drafts and not len(problems):
        problems.add(host_files[0][0] if host_files else shown, 1, "no hosts; the audit needs at least one")
    for d in drafts:
        if d.name is not None:
            if d.name in names:
                problems.add(d.path, d.line, f"{d.label}: duplicate name (first on line {names[d.name]})")
            else:
                names[d.name] = d.line
        if d.site is not None and d.site not in sites:
            problems.add(d.path, d.site_line, f"{d.label}: unknown site '{d.site}' (known: {known_sites})")
        for network, line in d.networks:
            what = "address" if network.num_addresses == 1 else "block"
            shown_net = str(network.network_address) if what == "address" else str(network)
            if network in owners:
                other, other_line = owners[network]
                same = other == d.label
                problems.add(
                    d.path, line,
                    f"{d.label}: {what} {shown_net} is listed twice" if same
                    else f"{d.label}: {what} {shown_net} already belongs to {other} (line {other_line})",
                )
            else:
                owners[network] = (d.label, line)
        if d.esxi is not None:
            if d.role is not None and d.role is not Role.VRA:
                problems.add(d.path, d.esxi_line, f"{d.label}: 'esxi' applies only to a vra, not a {d.role.value}")
            elif d.esxi not in esxi_hosts:
                known = ", ".join(esxi_hosts) if esxi_hosts else "none"
                problems.add(
                    d.path, d.esxi_line, f"{d.label}: esxi '{d.esxi}' names no ESXi host (ESXi hosts: {known})"
                )
    hosts = tuple(
        Host(
            name=d.name or "",
            role=d.role or Role.CLIENT,
            site=d.site or "",
            networks=tuple(n for n, _ in d.networks),
            esxi=d.esxi,
            line=d.line,
        )
        for d in drafts
    )
    return Inventory(
        name=name,
        profile=profile,
        path=shown,
        sha256=sha256,
        sites=sites,
        hosts=hosts,
        ports=ports,
        port_lines=port_lines,
        host_files=host_files,
    )


def _check_port_ids(inventory: Inventory, known: set[str], problems: Problems) -> None:
    for rule_id in inventory.ports:
        if rule_id not in known:
            problems.add(
                inventory.path, inventory.port_lines.get(rule_id, 0), f"ports: unknown rule id '{rule_id}'"
            )


# ------------------------------------------------------------ address index
class AddressIndex:
    """Captured (hi, lo) addresses → index into ``inventory.hosts`` (-1: not
    an inventory address). The most specific (longest) prefix wins (SPEC
    section 3); identical blocks on two hosts are refused at load, so the
    winner is unique."""

    def __init__(self, hosts: Sequence[Host]) -> None:
        groups: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        for index, host in enumerate(hosts):
            for network in host.networks:
                # IPv4 lives at ::ffff:0:0/96 (tables.text_to_addr).
                value = int(network.network_address)
                length = network.prefixlen
                if network.version == 4:
                    value |= 0xFFFF00000000
                    length += 96
                groups.setdefault((length, network.version), []).append(
                    (value >> 64, value & 0xFFFFFFFFFFFFFFFF, index)
                )
        # Longest prefix first; within a length, (hi, lo) sorted for searching.
        self._groups: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        for (length, version), entries in sorted(groups.items(), reverse=True):
            entries.sort()
            keys = np.array([(e[0], e[1]) for e in entries], dtype=_PAIR)
            self._groups.append((length, version, keys, np.array([e[2] for e in entries], dtype=np.int64)))

    @staticmethod
    def _masks(length: int) -> tuple[np.uint64, np.uint64]:
        full = (1 << 64) - 1
        hi_bits, lo_bits = min(length, 64), max(length - 64, 0)
        hi_mask = (full << (64 - hi_bits)) & full if hi_bits else 0
        lo_mask = (full << (64 - lo_bits)) & full if lo_bits else 0
        return np.uint64(hi_mask), np.uint64(lo_mask)

    def lookup(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        hi = np.asarray(hi, dtype=np.uint64)
        lo = np.asarray(lo, dtype=np.uint64)
        result = np.full(hi.shape, -1, dtype=np.int64)
        # An IPv6 block never claims an IPv4 address, even ::/0 (whose range
        # holds the IPv4-mapped ones).
        is_v4 = (hi == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))
        for length, version, keys, owner in self._groups:
            todo = np.flatnonzero((result < 0) & (is_v4 == (version == 4)))
            if todo.size == 0:
                continue
            hi_mask, lo_mask = self._masks(length)
            q_hi, q_lo = hi[todo] & hi_mask, lo[todo] & lo_mask
            if keys["hi"][0] == keys["hi"][-1]:
                # One high half for the whole group (every IPv4 block, most
                # IPv6 sites): search the low halves as plain uint64, faster.
                pos = np.minimum(np.searchsorted(keys["lo"], q_lo), keys.size - 1)
                hit = (keys["lo"][pos] == q_lo) & (q_hi == keys["hi"][0])
            else:
                # Binary search over (hi, lo) records compared as 128-bit numbers.
                query = np.empty(todo.size, dtype=_PAIR)
                query["hi"], query["lo"] = q_hi, q_lo
                pos = np.minimum(np.searchsorted(keys, query), keys.size - 1)
                hit = keys[pos] == query
            result[todo[hit]] = owner[pos[hit]]
        return result

    __call__ = lookup


def build_address_index(inventory: Inventory) -> AddressIndex:
    """The lookup the verdict stage uses: ``index(hi, lo) -> host indices``."""
    return AddressIndex(inventory.hosts)

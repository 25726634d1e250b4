"""Flows → a draft inventory (``zvr-audit discover CAPTURE... [-o INVENTORY.yaml]``).

Discovery reads the flow table of one or more captures and proposes the
inventory an engineer would otherwise type by hand (SPEC section 3 shape),
with a YAML comment above every host and site saying *why* it got its role,
its site and its pairing, so the draft can be reviewed line by line before it
is used for an audit. It is a proposal, never a verdict: the audit itself
still checks every flow against the rules.

How roles are chosen (documented choices)
-----------------------------------------
- **Evidence is the rule table.** Every flow whose server port and protocol
  are those of a loaded rule is an observation for both of its ends: "opens
  4008" for the client, "receives 4008" for the server. A role *explains* an
  observation when a rule with that port names the role on that side (on
  either side when the rule is bidirectional) and the peer's role, when known,
  fits the rule's other side. Each address takes the role that explains the
  most distinct observations (port, protocol, side). Ties go first to the
  role that *lacks* fewer steady ``each`` rules its peers show with other
  hosts (a VRA gets 4006 and 4009 from its ZVM like its sibling VRAs; a host
  with only 4006 from that ZVM is the VBA), then to the role that explains
  more observations in the rule's declared direction (the bidirectional
  ZVM↔VRA 4006/4009 rules declare the ZVM as opener), then to the commoner
  role in the order zvm, vra, vcenter, esxi, vba, client, vcd, zcm, zssp (a
  lone 443 from the ZVM is the vCenter, not an ESXi host mid-install; a lone
  9669 opener is a client, not a ZCM). The scoring is repeated with the
  peers' roles of the previous round until nothing changes, so "receives 443
  from the ZVM" can count once the ZVM is known.
- **Ports below 1024 never make a role on their own.** 22, 443, 53 and 123
  are spoken by everything on a network (an admin's browser opens 443 to the
  vCenter too). The server of such a flow takes the rule's server role only
  when its client already holds the rule's client role ("receives 443 from
  zvm-a → vcenter"; with 22 as well, "→ esxi", the VRA install); the client
  of such a flow counts it only as supporting evidence for a role it already
  has from a ZVR port.
- **Only answered connections are evidence.** Unanswered or refused attempts
  (conn_state S0, SH, REJ, RSTOS0, or an ICMP unreachable quoting the flow)
  prove intent, not a role: a stale address that only receives 4008 SYNs is
  left out and listed in a comment, never made a VRA.
- **One vCenter per ZVM.** A ZVM registers with one vCenter; when several
  addresses would be the vCenter of the same ZVM, a private address wins
  over a public one (Zerto's call-home is on 443 too), then the busiest
  (flows, then packets) keeps the role and the others are left out with a
  comment (an ESXi host reached over 443 during a VRA install, or another web
  service).
- Rules whose ends are ``any``/``inventory`` (the infrastructure set: DNS,
  NTP) give no role. Their servers are listed in a comment ("DNS (udp 53) for
  zvm-a, vra-a-1"), not as hosts: the infrastructure rules already allow them.
- Addresses that match no role are left out. Those seen on a ZVR port, or on
  a well-known rule port opposite a host playing its part of that rule (the
  ZVM's 443 to an unknown address, an unknown browser on the vCenter), are
  listed in a comment with what was seen; the rest (web and SSH traffic
  between other addresses) are only counted.
- ESXi hosts speak a rule port only while the ZVM installs a VRA (22 and 443
  from the ZVM): a steady-state capture shows none, and they must be added
  by hand if the audit should know them.
- Ports are the rules' ports: pass rules with the deployment's overrides
  applied (``auditor.ruleset.effective_rules``) to discover on moved ports.

How sites are formed
--------------------
- Hosts joined by an answered flow of a ``same-site`` rule (the ZVM with its
  vCenter, ESXi hosts, VRAs, VBA, vCD) are one site.
- ``peer-site`` flows (ZVM↔ZVM 9081, VRA↔VRA 4007/4008) pair the sites of
  their two ends. A host with no same-site flow (a remote VRA seen only
  through 4008) joins the one site paired with its peers' site when there is
  exactly one such site; otherwise such hosts form a site of their own.
  Peer-site flows inside one site are kept as they are (a single-vCenter
  deployment, SPEC section 3) and noted in the comment.
- Hosts of ``any``-scope rules only (clients, ZCM, ZSSP) join the site of the
  peer they exchanged the most flows with; a host no flow ties to any site
  gets a site of its own.
- Sites are named ``site-a``, ``site-b``, … in the order of their ZVM's
  address (or their lowest address when they have no ZVM); pairing is written
  once, on the first site of the pair (it is symmetric, SPEC section 3).

How hosts are named
-------------------
Role prefix plus the site letter: ``zvm-a``, ``vc-a``, ``vba-a``, ``vcd-a``,
``zcm-a``, ``zssp-a`` when the site has one host of that role (``zvm-a-1``,
``zvm-a-2`` otherwise), and always indexed for the roles that come in
numbers: ``vra-a-1``, ``esx-a-1``, ``client-a-1``; indices follow address
order. One address per host: discovery cannot tell that two addresses (both
sides of a NAT) are one host, nor which ESXi host a VRA runs on (no rule flow
joins them), so ``esxi:`` is never written.

Warnings
--------
``discovery["warnings"]`` (written at the top of the file as ``# WARNING:``)
names what a reviewer must fix before auditing: no ZVR host at all; two
ZVMs at one site; and above all a site whose vCenter the capture never saw
(a capture taken at one site sees the peer ZVM and VRAs, never the peer's
vCenter): with one vCenter in the inventory the audit would treat the
deployment as single-vCenter (SPEC section 3) and ignore ``zvm-peer``.
Discovery never invents an address to fill the gap.

Output
------
``flows_to_inventory`` returns a dict with the SPEC keys (``name``,
``profile``, ``sites``, ``hosts``) plus one key, ``discovery``, holding the
evidence; ``write_inventory`` writes the SPEC keys as YAML and the evidence
as comments (never as data), so the file loads with
``auditor.inventory.load_inventory`` as it is.
"""

from __future__ import annotations

import ipaddress
import os
import textwrap
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

import pandas as pd
import yaml

from auditor.model import ANY, INVENTORY, Role, Rule, RuleSet

# Connection states that show the connection failed (SPEC section 6, blocked).
FAILED_CONN_STATES = ("S0", "SH", "REJ", "RSTOS0")

# Tie-break between equally supported roles: the commoner role first.
ROLE_PRIOR = ("zvm", "vra", "vcenter", "esxi", "vba", "client", "vcd", "zcm", "zssp")

# Host name prefix per role, and the roles that are always numbered.
NAME_PREFIX = {
    "zvm": "zvm",
    "vra": "vra",
    "vba": "vba",
    "vcenter": "vc",
    "esxi": "esx",
    "zcm": "zcm",
    "zssp": "zssp",
    "vcd": "vcd",
    "client": "client",
}
ALWAYS_NUMBERED = frozenset({"vra", "esxi", "client"})
ROLE_PLURAL = {
    "zvm": "ZVMs",
    "vra": "VRAs",
    "vba": "VBAs",
    "vcenter": "vCenters",
    "esxi": "ESXi hosts",
    "zcm": "ZCMs",
    "zssp": "ZSSPs",
    "vcd": "vCDs",
    "client": "clients",
}
# Well-known service names for the infrastructure comment.
SERVICE_NAMES = {("udp", 53): "DNS", ("tcp", 53): "DNS", ("udp", 123): "NTP"}

WELL_KNOWN_PORT_LIMIT = 1024
MAX_ROUNDS = 8
MAX_LISTED = 50
COMMENT_WIDTH = 100

_ROLES = frozenset(r.value for r in Role)


# --------------------------------------------------------------------------
# Input shaping


def _flatten_rules(rules: Iterable[Rule | RuleSet] | None) -> list[Rule]:
    if rules is None:
        rules = _bundled_rules()
    out: list[Rule] = []
    for item in rules:
        if isinstance(item, RuleSet):
            out.extend(item.rules)
        else:
            out.append(item)
    return out


def _bundled_rules() -> list[RuleSet]:
    """The bundled zvr-legacy + infrastructure sets, via the rules stage."""
    from auditor.ruleset import load_rulesets  # type: ignore[attr-defined]

    return list(load_rulesets([], "zvr-legacy"))


@dataclass
class _Edge:
    """Answered or failed flows between one client and one server on one
    rule port, aggregated."""

    client: str
    server: str
    port: int
    proto: str
    failed: bool
    flows: int
    packets: int


def _rule_edges(
    df: pd.DataFrame, rule_ports: set[tuple[int, str]], role_ports: set[tuple[int, str]]
) -> list[_Edge]:
    """Aggregate the flows on rule ports by (client, server, port, proto,
    failed): discovery then walks edges, not flows, so a capture with
    millions of flows costs one groupby.

    Flows on well-known ports (443, 22, 53, ...) are kept only when one end
    can hold a role: an end of an answered ZVR-port flow, or (repeatedly) the
    server of an answered well-known rule-port flow from such an end. Web
    traffic between other addresses can neither make nor support a role."""
    if df.empty or not rule_ports:
        return []
    ports = pd.DataFrame(sorted(rule_ports), columns=["server_port", "proto"])
    ports["server_port"] = ports["server_port"].astype("int64")
    sub = df[["client_ip", "server_ip", "server_port", "proto", "conn_state"]].copy()
    sub["server_port"] = sub["server_port"].astype("int64")
    sub["proto"] = sub["proto"].astype(str)
    icmp = df["icmp_unreach"] if "icmp_unreach" in df else pd.Series(0, index=df.index)
    sub["failed"] = sub["conn_state"].isin(FAILED_CONN_STATES).to_numpy() | (icmp.to_numpy() > 0)
    packets = pd.Series(0, index=df.index, dtype="int64")
    for col in ("packets_c2s", "packets_s2c"):
        if col in df:
            packets = packets + df[col].astype("int64")
    sub["packets"] = packets
    sub = sub.merge(ports, on=["server_port", "proto"], how="inner")
    if sub.empty:
        return []

    well_known = sub["server_port"].to_numpy() < WELL_KNOWN_PORT_LIMIT
    role_port = pd.MultiIndex.from_frame(sub[["server_port", "proto"]]).isin(sorted(role_ports))
    answered = ~sub["failed"].to_numpy()
    specific = answered & role_port & ~well_known
    holders = set(sub["client_ip"][specific]) | set(sub["server_ip"][specific])
    reach = answered & role_port & well_known
    while True:
        grown = set(sub["server_ip"][reach & sub["client_ip"].isin(holders).to_numpy()]) - holders
        if not grown:
            break
        holders |= grown
    keep = (
        ~well_known
        | sub["client_ip"].isin(holders).to_numpy()
        | sub["server_ip"].isin(holders).to_numpy()
    )
    sub = sub[keep]
    if sub.empty:
        return []
    grouped = (
        sub.groupby(["client_ip", "server_ip", "server_port", "proto", "failed"], sort=True)
        .agg(flows=("packets", "size"), packets=("packets", "sum"))
        .reset_index()
    )
    return [
        _Edge(str(c), str(s), int(p), str(pr), bool(f), int(n), int(pk))
        for c, s, p, pr, f, n, pk in grouped.itertuples(index=False, name=None)
    ]


def _is_global(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_global
    except ValueError:
        return False


def _addr_key(ip: str) -> tuple[int, int]:
    """Sort key: IPv4 before IPv6, then numeric."""
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return (9, 0)
    return (a.version, int(a))


# --------------------------------------------------------------------------
# Role scoring


@dataclass
class _Obs:
    """One observation of an address: it opened (side 'client') or received
    (side 'server') flows on one rule port; peers with their flow counts."""

    port: int
    proto: str
    side: str
    peers: dict[str, int] = field(default_factory=dict)


@dataclass
class _Support:
    role: str
    explained: list[tuple[_Obs, list[str], list[str]]]  # obs, fitting peers, rule ids
    declared: int
    # Steady `each` rules this role would show with a peer that shows them
    # with others, and this address does not (filled for tied roles only).
    lacking: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[int, int, int, int]:
        return (
            len(self.explained),
            -len(self.lacking),
            self.declared,
            -ROLE_PRIOR.index(self.role) if self.role in ROLE_PRIOR else -99,
        )


def _concrete(side: str) -> bool:
    return side in _ROLES


def _fits(peer_role: str | None, other: str, strict: bool) -> bool:
    if other in (ANY, INVENTORY):
        return True
    if peer_role is None:
        return not strict
    return peer_role == other


def _support(
    role: str,
    observations: list[_Obs],
    rules_by_port: dict[tuple[int, str], list[Rule]],
    roles: dict[str, str],
) -> _Support:
    explained: list[tuple[_Obs, list[str], list[str]]] = []
    declared = 0
    supporting: list[tuple[_Obs, list[str], list[str]]] = []
    for obs in observations:
        well_known = obs.port < WELL_KNOWN_PORT_LIMIT
        fitting: set[str] = set()
        rule_ids: list[str] = []
        is_declared = False
        for rule in rules_by_port.get((obs.port, obs.proto), ()):
            mine, other = (
                (rule.client, rule.server) if obs.side == "client" else (rule.server, rule.client)
            )
            options = [(mine, other, True)]
            if rule.bidirectional:
                options.append((other, mine, False))
            for own, peer_side, in_declared in options:
                if own != role:
                    continue
                # A well-known port's server needs a known client (strict); its
                # client is only supported by it (handled below).
                strict = well_known and obs.side == "server"
                peers = [p for p in obs.peers if _fits(roles.get(p), peer_side, strict)]
                if peers:
                    fitting.update(peers)
                    if rule.id not in rule_ids:
                        rule_ids.append(rule.id)
                    is_declared = is_declared or in_declared
        if not fitting:
            continue
        entry = (obs, sorted(fitting, key=_addr_key), rule_ids)
        if well_known and obs.side == "client":
            supporting.append(entry)
            continue
        explained.append(entry)
        declared += is_declared
    if explained:  # supporting evidence counts once a ZVR port made the role
        explained.extend(supporting)
        declared += len(supporting)
    return _Support(role, explained, declared)


def _assign_roles(
    observations: dict[str, list[_Obs]],
    rules_by_port: dict[tuple[int, str], list[Rule]],
    candidate_roles: list[str],
) -> tuple[dict[str, str], dict[str, list[_Support]]]:
    # Only an address with a ZVR-port observation, or the server of a
    # well-known port whose client holds a role, can take a role (the rules
    # above); skipping the rest keeps a capture full of web traffic cheap.
    specific = {
        addr
        for addr, obs in observations.items()
        if any(o.port >= WELL_KNOWN_PORT_LIMIT for o in obs)
    }
    served_by: dict[str, list[str]] = defaultdict(list)  # client -> well-known servers
    for addr, obs in observations.items():
        for o in obs:
            if o.port < WELL_KNOWN_PORT_LIMIT and o.side == "server":
                for peer in o.peers:
                    served_by[peer].append(addr)
    roles: dict[str, str] = {}
    ranked: dict[str, list[_Support]] = {}
    for _ in range(MAX_ROUNDS):
        new_roles: dict[str, str] = {}
        ranked = {}
        scored = set(specific)
        for client in roles:
            scored.update(served_by.get(client, ()))
        for addr in scored:
            obs = observations[addr]
            supports = [_support(r, obs, rules_by_port, roles) for r in candidate_roles]
            supports = [s for s in supports if s.explained]
            if supports:
                top = max(len(s.explained) for s in supports)
                tied = [s for s in supports if len(s.explained) == top]
                if len(tied) > 1:
                    for s in tied:
                        s.lacking = _lacking(s.role, addr, observations, roles, rules_by_port)
            supports.sort(key=lambda s: s.key, reverse=True)
            ranked[addr] = supports
            if supports:
                new_roles[addr] = supports[0].role
        if new_roles == roles:
            break
        roles = new_roles
    return roles, ranked


def _lacking(
    role: str,
    addr: str,
    observations: dict[str, list[_Obs]],
    roles: dict[str, str],
    rules_by_port: dict[tuple[int, str], list[Rule]],
) -> list[str]:
    """Rules that count against ``role`` for ``addr``: steady ``each`` rules
    between ``role`` and a role one of its peers holds, which that peer shows
    with other hosts and ``addr`` never shows (a VRA gets 4009 from its ZVM
    like its sibling VRAs; a VBA does not)."""
    mine = {(o.port, o.proto) for o in observations[addr]}
    peers = {p for o in observations[addr] for p in o.peers}
    out: list[str] = []
    for rules in rules_by_port.values():
        for rule in rules:
            if getattr(rule.phase, "value", rule.phase) != "steady":
                continue
            if getattr(rule.expect, "value", rule.expect) != "each":
                continue
            if (rule.port, rule.proto) in mine:
                continue
            others = {rule.server} if rule.client == role else set()
            if rule.server == role:
                others.add(rule.client)
            if not others:
                continue
            if any(
                roles.get(p) in others
                and any(
                    (o.port, o.proto) == (rule.port, rule.proto) for o in observations.get(p, ())
                )
                for p in peers
            ):
                out.append(rule.id)
    return out


# --------------------------------------------------------------------------
# Sites


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # Deterministic root: the lower address.
            lo, hi = sorted((ra, rb), key=_addr_key)
            self.parent[hi] = lo


def _rule_fits_roles(rule: Rule, client_role: str | None, server_role: str | None) -> bool:
    def ok(side: str, role: str | None) -> bool:
        return side in (ANY, INVENTORY) or side == role

    if ok(rule.client, client_role) and ok(rule.server, server_role):
        return True
    return rule.bidirectional and ok(rule.client, server_role) and ok(rule.server, client_role)


def _site_letters(n: int) -> list[str]:
    """a, b, …, z, aa, ab, … (spreadsheet-column style)."""
    out = []
    for i in range(n):
        s, k = "", i
        while True:
            s = chr(ord("a") + k % 26) + s
            k = k // 26 - 1
            if k < 0:
                break
        out.append(s)
    return out


# --------------------------------------------------------------------------
# The stage


def flows_to_inventory(
    flow_table: Any,
    rules: Iterable[Rule | RuleSet] | None = None,
    *,
    name: str = "discovered",
    profile: str | None = None,
) -> dict:
    """Propose an inventory (SPEC section 3 shape) from a flow table.

    ``flow_table`` is the flow stage's result (its ``.flows`` DataFrame with
    ``auditor.tables.FLOW_COLUMNS``) or such a DataFrame itself; ``rules`` the
    loaded rules (``Rule`` objects or ``RuleSet``\\ s, load order kept), the
    bundled ``zvr-legacy`` + ``infrastructure`` sets when None. The result
    has the SPEC keys plus ``discovery`` (the evidence, written as comments
    by ``write_inventory``)."""
    df: pd.DataFrame = getattr(flow_table, "flows", flow_table)
    rule_list = _flatten_rules(rules)
    if profile is None:
        profile = next(
            (r.ruleset for r in rule_list if r.ruleset != "infrastructure"), "zvr-legacy"
        )

    rules_by_port: dict[tuple[int, str], list[Rule]] = defaultdict(list)
    for rule in rule_list:
        rules_by_port[(int(rule.port), rule.proto)].append(rule)
    role_rules = [r for r in rule_list if _concrete(r.client) or _concrete(r.server)]
    role_ports = {(int(r.port), r.proto) for r in role_rules}
    service_rules = [r for r in rule_list if not _concrete(r.client) and not _concrete(r.server)]

    edges = _rule_edges(df, set(rules_by_port), role_ports)

    # Observations from answered flows on role-bearing ports.
    obs_index: dict[tuple[str, int, str, str], _Obs] = {}
    observations: dict[str, list[_Obs]] = defaultdict(list)
    for e in edges:
        if e.failed or (e.port, e.proto) not in role_ports:
            continue
        for addr, peer, side in ((e.client, e.server, "client"), (e.server, e.client, "server")):
            key = (addr, e.port, e.proto, side)
            obs = obs_index.get(key)
            if obs is None:
                obs = obs_index[key] = _Obs(e.port, e.proto, side)
                observations[addr].append(obs)
            obs.peers[peer] = obs.peers.get(peer, 0) + e.flows

    candidate_roles = sorted(
        {r.client for r in role_rules if _concrete(r.client)}
        | {r.server for r in role_rules if _concrete(r.server)},
        key=lambda r: ROLE_PRIOR.index(r) if r in ROLE_PRIOR else len(ROLE_PRIOR),
    )
    roles, ranked = _assign_roles(dict(observations), rules_by_port, candidate_roles)

    answered = [e for e in edges if not e.failed]
    demoted = _one_vcenter_per_zvm(roles, answered)

    # ---- sites
    uf = _UnionFind()
    for addr in roles:
        uf.find(addr)
    same_site_evidence: dict[tuple[str, str], set[str]] = defaultdict(set)
    peer_edges: list[tuple[str, str, str]] = []  # (a, b, rule id)
    any_scope_flows: dict[str, dict[str, int]] = defaultdict(dict)
    for e in answered:
        cr, sr = roles.get(e.client), roles.get(e.server)
        if cr is None or sr is None:
            continue
        for rule in rules_by_port.get((e.port, e.proto), ()):
            if not (_concrete(rule.client) and _concrete(rule.server)) or not _rule_fits_roles(
                rule, cr, sr
            ):
                continue
            scope = getattr(rule.scope, "value", rule.scope)
            if scope == "same-site":
                uf.union(e.client, e.server)
                lo, hi = sorted((e.client, e.server), key=_addr_key)
                same_site_evidence[(lo, hi)].add(rule.id)
            elif scope == "peer-site":
                peer_edges.append((e.client, e.server, rule.id))
            else:
                for a, b in ((e.client, e.server), (e.server, e.client)):
                    any_scope_flows[a][b] = any_scope_flows[a].get(b, 0) + e.flows
            break  # the first fitting rule in load order names the flow

    linked = {a for pair in same_site_evidence for a in pair}
    components: dict[str, list[str]] = defaultdict(list)
    for addr in roles:
        if addr in linked:
            components[uf.find(addr)].append(addr)
    site_notes: dict[str, list[tuple[str, str]]] = defaultdict(list)  # (template, peer address)

    def anchored(members: list[str]) -> bool:
        return any(roles[m] in ("zvm", "vcenter") for m in members)

    # Hosts with no same-site flow but a peer-site flow (a remote VRA seen only
    # through 4008): join the one site paired with their peers' site.
    peer_of: dict[str, set[str]] = defaultdict(set)
    for a, b, _rid in peer_edges:
        peer_of[a].add(b)
        peer_of[b].add(a)
    comp_of = {m: root for root, ms in components.items() for m in ms}

    def comp_peers(root: str) -> set[str]:
        out = set()
        for m in components[root]:
            for p in peer_of.get(m, ()):
                if p in comp_of and comp_of[p] != root:
                    out.add(comp_of[p])
        return out

    orphan_groups: dict[frozenset[str], list[str]] = defaultdict(list)
    for addr in sorted(roles, key=_addr_key):
        if addr in comp_of or not peer_of.get(addr):
            continue
        peer_sites = frozenset(comp_of[p] for p in peer_of[addr] if p in comp_of)
        if not peer_sites:
            continue
        candidates = set.intersection(*(comp_peers(s) for s in peer_sites)) - set(peer_sites)
        candidates = {c for c in candidates if anchored(components[c])}
        if len(candidates) == 1:
            target = candidates.pop()
            components[target].append(addr)
            site_notes[addr].append(
                ("no same-site flow seen; placed at the only site paired with its peers' site", "")
            )
        else:
            orphan_groups[peer_sites].append(addr)
    for members in orphan_groups.values():
        components[members[0]] = list(members)
        for m in members:
            site_notes[m].append(
                ("no same-site flow seen; grouped with the hosts that have the same peers", "")
            )
    comp_of = {m: root for root, ms in components.items() for m in ms}

    # Hosts of any-scope rules only (clients, ZCM, ZSSP): the busiest peer's site.
    for addr in sorted(roles, key=_addr_key):
        if addr in comp_of:
            continue
        peers = sorted(
            ((n, p) for p, n in any_scope_flows.get(addr, {}).items() if p in comp_of),
            key=lambda t: (-t[0], _addr_key(t[1])),
        )
        if peers:
            comp_of[addr] = comp_of[peers[0][1]]
            components[comp_of[addr]].append(addr)
            site_notes[addr].append(
                ("site of {peer}, the peer it exchanged the most flows with", peers[0][1])
            )
        else:
            components[addr] = [addr]
            comp_of[addr] = addr
            site_notes[addr].append(("no flow ties it to another host's site", ""))

    def site_order(root: str) -> tuple:
        members = components[root]
        zvms = [m for m in members if roles[m] == "zvm"]
        return (0 if zvms else 1, min(_addr_key(m) for m in (zvms or members)))

    roots = sorted(components, key=site_order)
    letters = _site_letters(len(roots))
    site_name = {root: f"site-{letter}" for root, letter in zip(roots, letters)}
    site_letter = {root: letter for root, letter in zip(roots, letters)}

    # ---- names
    host_name: dict[str, str] = {}
    host_site: dict[str, str] = {}
    for root in roots:
        by_role: dict[str, list[str]] = defaultdict(list)
        for m in components[root]:
            by_role[roles[m]].append(m)
        for role, members in by_role.items():
            members.sort(key=_addr_key)
            for i, m in enumerate(members, 1):
                base = f"{NAME_PREFIX.get(role, role)}-{site_letter[root]}"
                host_name[m] = (
                    f"{base}-{i}" if (role in ALWAYS_NUMBERED or len(members) > 1) else base
                )
                host_site[m] = site_name[root]

    def label(addr: str) -> str:
        return host_name.get(addr, addr)

    # ---- pairing
    pair_evidence: dict[tuple[str, str], dict[str, set[tuple[str, str]]]] = defaultdict(
        lambda: defaultdict(set)
    )
    inner_peer: dict[str, set[str]] = defaultdict(set)
    for a, b, rid in peer_edges:
        sa, sb = host_site.get(a), host_site.get(b)
        if sa is None or sb is None:
            continue
        if sa == sb:
            inner_peer[sa].add(rid)
            continue
        s1, s2 = sorted((sa, sb))
        n1, n2 = sorted((label(a), label(b)))
        pair_evidence[(s1, s2)][rid].add((n1, n2))

    site_order_names = [site_name[r] for r in roots]
    sites: dict[str, dict] = {s: {} for s in site_order_names}
    for sa, sb in sorted(
        pair_evidence, key=lambda k: (site_order_names.index(k[0]), site_order_names.index(k[1]))
    ):
        sites[sa].setdefault("peers", []).append(sb)

    # ---- hosts and evidence
    role_order = {
        r: i
        for i, r in enumerate(
            ("zvm", "vcenter", "esxi", "vra", "vba", "vcd", "zcm", "zssp", "client")
        )
    }
    hosts_sorted = sorted(
        roles,
        key=lambda a: (
            site_order_names.index(host_site[a]),
            role_order.get(roles[a], 99),
            _addr_key(a),
        ),
    )
    hosts = [
        {"name": host_name[a], "role": roles[a], "site": host_site[a], "ip": a}
        for a in hosts_sorted
    ]

    host_evidence: dict[str, dict] = {}
    for a in hosts_sorted:
        supports = ranked.get(a, [])
        best = next(s for s in supports if s.role == roles[a])
        also = [
            s.role
            for s in supports
            if s.role != best.role and len(s.explained) == len(best.explained)
        ]
        host_evidence[host_name[a]] = {
            "ip": a,
            "role": roles[a],
            "evidence": _describe_support(best, label, roles),
            "rules": sorted({rid for _o, _p, rids in best.explained for rid in rids}),
            "also_fits": also,
            "tie": _tie_text(best, [s for s in supports if s.role in also]),
            "site": [t.format(peer=label(p)) for t, p in site_notes.get(a, [])],
        }

    site_evidence: dict[str, list[str]] = {}
    for root in roots:
        s = site_name[root]
        notes = []
        members = components[root]
        zvms = sorted(host_name[m] for m in members if roles[m] == "zvm")
        ss_rules = sorted(
            {rid for pair, rids in same_site_evidence.items() if pair[0] in members for rid in rids}
        )
        lead = f"{', '.join(zvms)} and " if zvms else ""
        notes.append(
            f"{lead}{len(members) - len(zvms)} host(s)"
            + (f" joined by same-site flows ({', '.join(ss_rules)})" if ss_rules else "")
        )
        for pair, by_rule in sorted(pair_evidence.items()):
            if s != pair[0] or pair[1] not in sites[s].get("peers", ()):
                continue  # the evidence goes where the pairing is written
            other = pair[1]
            parts = []
            for rid, pairs in sorted(by_rule.items()):
                shown = sorted(pairs)[:2]
                more = len(pairs) - len(shown)
                parts.append(
                    f"{rid} "
                    + ", ".join(f"{x}↔{y}" for x, y in shown)
                    + (f" and {more} more" if more else "")
                )
            notes.append(f"paired with {other}: " + "; ".join(parts))
        if inner_peer.get(s):
            notes.append(
                f"peer-site flows inside this site ({', '.join(sorted(inner_peer[s]))}): a single-vCenter"
                " deployment (SPEC section 3), or split the site by hand"
            )
        site_evidence[s] = notes

    warnings = _warnings(roles, host_site, site_order_names, label)
    left_out = _left_out(edges, roles, demoted, label, service_rules, rules_by_port)
    infrastructure = _infrastructure(edges, roles, label, service_rules)
    listed = set(roles) | {x["ip"] for x in left_out} | {x["ip"] for x in infrastructure}
    all_addresses = set()
    if not df.empty:
        all_addresses = set(pd.unique(df["client_ip"].astype(str))) | set(
            pd.unique(df["server_ip"].astype(str))
        )
    return {
        "name": name,
        "profile": profile,
        "sites": sites,
        "hosts": hosts,
        "discovery": {
            "flows": len(df),
            "warnings": warnings,
            "rules": len(rule_list),
            "hosts": host_evidence,
            "sites": site_evidence,
            "left_out": left_out,
            "infrastructure": infrastructure,
            "unlisted_addresses": len(all_addresses - listed),
        },
    }


def _warnings(
    roles: dict[str, str], host_site: dict[str, str], sites: list[str], label
) -> list[str]:
    """What a reviewer must fix before auditing with the proposal."""
    out: list[str] = []
    if not roles:
        return ["no ZVR host found: no answered flow on a port of the loaded rules"]
    by_site: dict[str, dict[str, list[str]]] = {s: defaultdict(list) for s in sites}
    for addr, role in roles.items():
        by_site[host_site[addr]][role].append(label(addr))
    vcenters = sum(len(r.get("vcenter", [])) for r in by_site.values())
    zvm_sites = [s for s in sites if by_site[s].get("zvm")]
    for s in sites:
        zvms = sorted(by_site[s].get("zvm", []))
        if len(zvms) > 1:
            out.append(
                f"{s} has {len(zvms)} ZVMs ({', '.join(zvms)}): one ZVM per site is expected"
            )
    if len(zvm_sites) > 1 and vcenters < len(zvm_sites):
        blind = [s for s in zvm_sites if not by_site[s].get("vcenter")]
        out.append(
            f"no vCenter seen at {', '.join(blind)} (the capture did not see its ZVM's 443):"
            f" add it by hand; with {vcenters} vCenter(s) in the inventory the audit"
            + (
                " treats the deployment as single-vCenter (SPEC section 3) and ignores zvm-peer"
                if vcenters == 1
                else " cannot check the zvm-vcenter rule there"
            )
        )
    return out


def _one_vcenter_per_zvm(
    roles: dict[str, str], answered: list[_Edge]
) -> dict[str, tuple[str, str]]:
    """Keep one vCenter per ZVM (the busiest); return the demoted addresses
    with (ZVM, kept vCenter); their role is removed from ``roles``."""
    served: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for e in answered:
        if roles.get(e.client) == "zvm" and roles.get(e.server) == "vcenter":
            f, p = served[e.client].get(e.server, (0, 0))
            served[e.client][e.server] = (f + e.flows, p + e.packets)
    demoted: dict[str, tuple[str, str]] = {}
    kept: set[str] = set()
    for zvm in sorted(served, key=_addr_key):
        # A public address is a cloud service (call-home), never the vCenter
        # while a private one is there; then the busiest.
        vcs = sorted(
            served[zvm].items(),
            key=lambda kv: (_is_global(kv[0]), -kv[1][0], -kv[1][1], _addr_key(kv[0])),
        )
        kept.add(vcs[0][0])
        for vc, _n in vcs[1:]:
            if vc not in kept:
                demoted[vc] = (zvm, vcs[0][0])
    demoted = {vc: why for vc, why in demoted.items() if vc not in kept}
    for vc in demoted:
        roles.pop(vc, None)
    return demoted


def _tie_text(best: _Support, others: list[_Support]) -> str:
    """Why ``best`` won over roles that explain as many observations."""
    if not others:
        return ""
    parts = []
    for other in others:
        if len(other.lacking) > len(best.lacking):
            parts.append(
                f"equally fits {other.role}, but a {other.role} would also show"
                f" {', '.join(other.lacking)} like its peers do with other hosts"
            )
        else:
            parts.append(
                f"equally fits {other.role}; tie broken by the rules' declared direction,"
                " then the commoner role"
            )
    return "; ".join(parts)


def _peers_text(peers: list[str], label, roles: dict[str, str]) -> str:
    names = [label(p) for p in peers]
    if len(names) <= 3:
        return ", ".join(names)
    kinds = {roles.get(p) for p in peers}
    noun = ROLE_PLURAL.get(kinds.pop() or "", "hosts") if len(kinds) == 1 else "hosts"
    return f"{len(names)} {noun} ({', '.join(names[:2])}, …)"


def _describe_support(support: _Support, label, roles: dict[str, str]) -> str:
    """'opens 443 to vc-a; opens 4006/4009 to vra-a-1, vra-a-2; 4007/4008
    both ways with vra-b-1 → vra'."""
    by_peers: dict[tuple[str, tuple[str, ...]], list[int]] = defaultdict(list)
    both: dict[tuple[int, tuple[str, ...]], int] = {}
    sides: dict[tuple[int, str], tuple[str, ...]] = {}
    for obs, fitting, _rids in support.explained:
        sides[(obs.port, obs.side)] = tuple(fitting)
    for (port, side), group in sides.items():
        other = "server" if side == "client" else "client"
        if sides.get((port, other)) == group:
            both[(port, group)] = 1
            continue
        by_peers[(side, group)].append(port)
    for port, group in both:
        by_peers[("both", group)].append(port)
    clauses = []
    verb = {
        "client": "opens {ports} to {peers}",
        "server": "receives {ports} from {peers}",
        "both": "{ports} both ways with {peers}",
    }
    order = {"client": 0, "server": 1, "both": 2}
    for (side, peers), ports in sorted(
        by_peers.items(), key=lambda kv: (order[kv[0][0]], min(kv[1]))
    ):
        ports_text = "/".join(str(p) for p in sorted(set(ports)))
        clauses.append(
            verb[side].format(ports=ports_text, peers=_peers_text(list(peers), label, roles))
        )
    return "; ".join(clauses) + f" → {support.role}"


def _left_out(edges, roles, demoted, label, service_rules, rules_by_port) -> list[dict]:
    service_ports = {(int(r.port), r.proto) for r in service_rules}
    seen: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        if (e.port, e.proto) in service_ports and not e.failed:
            continue  # infrastructure: listed on its own
        if e.port < WELL_KNOWN_PORT_LIMIT:
            # A well-known port is worth a line only when the known end plays
            # its role's part of a rule on it (the ZVM opening 443 to an
            # unknown address, an unknown opening 443 to the vCenter), not
            # for an admin's web browsing.
            rules = rules_by_port.get((e.port, e.proto), ())
            if not any(
                roles.get(e.client) in (r.client, *((r.server,) if r.bidirectional else ()))
                or roles.get(e.server) in (r.server, *((r.client,) if r.bidirectional else ()))
                for r in rules
            ):
                continue
        what = f"{e.flows} unanswered or refused attempt(s)" if e.failed else f"{e.flows} flow(s)"
        if e.server not in roles:
            seen[e.server].append(f"receives {e.port}/{e.proto} from {label(e.client)} ({what})")
        if e.client not in roles:
            seen[e.client].append(f"opens {e.port}/{e.proto} to {label(e.server)} ({what})")
    out = []
    for addr in sorted(seen, key=_addr_key):
        facts = seen[addr]
        text = "; ".join(facts[:4]) + (f"; and {len(facts) - 4} more" if len(facts) > 4 else "")
        if addr in demoted:
            zvm, vc = demoted[addr]
            text = (
                f"receives 443 from {label(zvm)} like its vCenter {label(vc)}; a ZVM uses one"
                f" vCenter; {text}"
            )
        out.append({"ip": addr, "evidence": text})
    return out


def _infrastructure(edges, roles, label, service_rules) -> list[dict]:
    by_port = {(int(r.port), r.proto): r for r in service_rules}
    served: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for e in edges:
        rule = by_port.get((e.port, e.proto))
        if rule is None or e.failed or e.server in roles:
            continue
        service = f"{SERVICE_NAMES.get((e.proto, e.port), rule.id)} ({e.proto} {e.port})"
        served[e.server][service].add(label(e.client))
    out = []
    for addr in sorted(served, key=_addr_key):
        services = served[addr]
        clients = sorted({c for cs in services.values() for c in cs})
        shown = ", ".join(clients[:4]) + (
            f" and {len(clients) - 4} more" if len(clients) > 4 else ""
        )
        out.append(
            {
                "ip": addr,
                "services": sorted(services),
                "clients": clients,
                "evidence": f"{', '.join(sorted(services))} for {shown}",
            }
        )
    return out


# --------------------------------------------------------------------------
# Writing


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _flow_map(d: dict) -> str:
    return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in d.items()) + "}"


def _comment(text: str, indent: str = "", lead: str = "") -> list[str]:
    """One comment, wrapped; input text never breaks out of the comment
    (every whitespace run, newlines included, becomes one space)."""
    clean = " ".join(str(text).split())
    lines = textwrap.wrap(
        clean,
        width=COMMENT_WIDTH - len(indent) - 2 - len(lead),
        subsequent_indent="  ",
        break_on_hyphens=False,
        break_long_words=False,
    ) or [""]
    return [f"{indent}# {lead}{line}".rstrip() for line in lines]


def write_inventory(inv: dict, file: IO[str] | str | os.PathLike) -> None:
    """Write ``inv`` (from ``flows_to_inventory``) as inventory YAML: the SPEC
    keys as data, the ``discovery`` evidence as comments above what it
    explains. ``file`` is a text stream or a path."""
    if isinstance(file, (str, os.PathLike)):
        with open(file, "w", encoding="utf-8") as fh:
            write_inventory(inv, fh)
        return
    disc = inv.get("discovery", {})
    hosts_ev = disc.get("hosts", {})
    sites_ev = disc.get("sites", {})
    out: list[str] = []
    out += _comment(
        f"Inventory proposed by zvr-audit discover from {disc.get('flows', 0)} flow(s). Review it before"
        " auditing with it: roles come from the ports each address used, sites from the flows between"
        " hosts. The comment above each entry says why."
    )
    for cap in disc.get("captures", []):
        out += _comment(f"capture: {cap.get('path')} (sha256 {cap.get('sha256')})")
    for warning in disc.get("warnings", []):
        out += _comment(f"WARNING: {warning}")
    out.append(f"name: {_scalar(inv.get('name', 'discovered'))}")
    out.append(f"profile: {_scalar(inv.get('profile', 'zvr-legacy'))}")
    sites = inv.get("sites", {})
    if sites:
        out.append("sites:")
        for site, spec in sites.items():
            for note in sites_ev.get(site, []):
                out += _comment(f"{site}: {note}", "  ")
            out.append(f"  {_scalar(site)}: {_flow_map(spec) if spec else '{}'}")
    else:
        out.append("sites: {}")
    hosts = inv.get("hosts", [])
    if hosts:
        out.append("hosts:")
        for host in hosts:
            ev = hosts_ev.get(host.get("name"), {})
            if ev:
                out += _comment(f"{host['name']} {host.get('ip')}: {ev.get('evidence', '')}", "  ")
                if ev.get("tie"):
                    out += _comment(ev["tie"], "  ")
                for note in ev.get("site", []):
                    out += _comment(f"site: {note}", "  ")
            out.append(f"  - {_flow_map(host)}")
    else:
        out.append("hosts: []")
    if inv.get("ports"):
        out.append("ports:")
        for rid, port in inv["ports"].items():
            out.append(f"  {_scalar(rid)}: {_scalar(port)}")
    left = disc.get("left_out", [])
    if left:
        out.append("")
        out += _comment(f"Left out: {len(left)} address(es) with flows on rule ports but no role:")
        for item in left[:MAX_LISTED]:
            out += _comment(f"{item['ip']}: {item['evidence']}", lead="- ")
        if len(left) > MAX_LISTED:
            out += _comment(f"… and {len(left) - MAX_LISTED} more", lead="- ")
    infra = disc.get("infrastructure", [])
    if infra:
        out.append("")
        out += _comment(
            "Infrastructure servers (not ZVR hosts; the bundled infrastructure rules allow them):"
        )
        for item in infra[:MAX_LISTED]:
            out += _comment(f"{item['ip']}: {item['evidence']}", lead="- ")
        if len(infra) > MAX_LISTED:
            out += _comment(f"… and {len(infra) - MAX_LISTED} more", lead="- ")
    if disc.get("unlisted_addresses"):
        out.append("")
        out += _comment(
            f"{disc['unlisted_addresses']} further address(es) had no flow on a rule port (not listed)."
        )
    file.write("\n".join(out) + "\n")


def inventory_data(inv: dict) -> dict:
    """The SPEC part of a discovered inventory (without ``discovery``)."""
    return {k: v for k, v in inv.items() if k != "discovery"}


def captures_to_inventory(
    paths: list[str], rules: Iterable[Rule | RuleSet] | None = None, **kwargs: Any
) -> dict:
    """The whole ``discover`` command short of writing: captures → packets →
    flows → inventory, using the capture and flow stages."""
    from auditor.capture import capture_to_packets  # type: ignore[attr-defined]
    from auditor.flows import packets_to_flows  # type: ignore[attr-defined]
    from auditor.ruleset import rule_ports

    rule_list = _flatten_rules(rules)
    stream = capture_to_packets(paths)
    table = packets_to_flows(stream, rule_ports(rule_list))
    inv = flows_to_inventory(table, rule_list, **kwargs)
    inv["discovery"]["captures"] = [
        {"path": c.get("path"), "sha256": c.get("sha256")} for c in getattr(stream, "captures", [])
    ]
    return inv

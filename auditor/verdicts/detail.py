"""The `detail` sentence of each finding: what happened, between which hosts
(by name, role and site), and what a person should check next."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auditor.model import ANY, INVENTORY, Host, Inventory, Rule, Scope

if TYPE_CHECKING:
    from auditor.verdicts.engine import Endpoint
    from auditor.verdicts.kinds import FindingKind

ROLE_LABEL: dict[str, str] = {
    "zvm": "ZVM",
    "vra": "VRA",
    "vba": "VBA",
    "vcenter": "vCenter",
    "esxi": "ESXi",
    "zcm": "ZCM",
    "zssp": "ZSSP",
    "vcd": "vCD",
    "client": "client",
}

# ICMP destination-unreachable codes (RFC 792, RFC 1812; ICMPv6: RFC 4443).
ICMP4_UNREACH = {
    0: "net unreachable",
    1: "host unreachable",
    2: "protocol unreachable",
    3: "port unreachable",
    4: "fragmentation needed",
    5: "source route failed",
    6: "network unknown",
    7: "host unknown",
    9: "network administratively prohibited",
    10: "host administratively prohibited",
    11: "network unreachable for TOS",
    12: "host unreachable for TOS",
    13: "administratively prohibited",
}
ICMP6_UNREACH = {
    0: "no route to destination",
    1: "administratively prohibited",
    2: "beyond scope of source address",
    3: "address unreachable",
    4: "port unreachable",
    5: "source address failed policy",
    6: "reject route",
}


@dataclass(frozen=True)
class Outcome:
    """What the grouped flows of one finding did."""

    flows: int
    first_ns: int  # span of the unanswered (S0/SH) flows
    last_ns: int
    no_answer: int  # TCP flows in S0 or SH
    syns: int  # bare SYNs sent by those flows
    rejected: int  # REJ
    reset_early: int  # RSTOS0
    icmp: int  # flows answered by an ICMP destination-unreachable
    midstream: int  # OTH: the capture saw no handshake
    icmp_first: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        return bool(self.no_answer or self.rejected or self.reset_early or self.icmp)


def role_label(role: str | None) -> str:
    if role is None:
        return "host"
    if role == ANY:
        return "any address"
    if role == INVENTORY:
        return "inventory host"
    return ROLE_LABEL.get(role, role)


def _a(label: str) -> str:
    return ("an " if label[:1].lower() in "aeiou" or label in ("ESXi",) else "a ") + label


def port_text(port: int, proto: str) -> str:
    """`4008` for TCP (the common case), `53/udp` otherwise."""
    return str(port) if proto == "tcp" else f"{port}/{proto}"


def who(ep: Endpoint) -> str:
    """First mention of an endpoint: name with role and site."""
    if ep.host is None:
        return f"{ep.ip}" if ep.ip else "?"
    return f"{ep.host} ({role_label(ep.role)}, {ep.site})"


def name(ep: Endpoint) -> str:
    return ep.host or ep.ip or "?"


def _seconds(ns: int) -> str:
    s = max(ns, 0) / 1e9
    if s >= 10:
        return f"{s:.0f} s"
    return f"{s:.1f}".rstrip("0").rstrip(".") + " s"


def _times(n: int, word: str = "time") -> str:
    return "once" if n == 1 else f"{n} {word}s"


def outcome_text(o: Outcome, server: Endpoint) -> str:
    """How the connections failed, e.g. "no answer to 3 SYNs over 7 s"."""
    parts: list[str] = []
    if o.icmp and o.icmp_first:
        icmp_type, icmp_code = int(o.icmp_first["icmp_type"]), int(o.icmp_first["icmp_code"])
        table = ICMP6_UNREACH if icmp_type == 1 else ICMP4_UNREACH
        what = table.get(icmp_code, f"destination unreachable (code {icmp_code})")
        reporter = o.icmp_first.get("icmp_reporter") or "?"
        if reporter == server.ip:
            reporter = f"{reporter} itself"
        share = (
            f" ({o.icmp} of the flows)"
            if 1 < o.icmp < o.flows
            else (" (every flow)" if o.icmp > 1 else "")
        )
        parts.append(f"ICMP {what} from {reporter}{share}")
    if o.no_answer:
        syns = f"{o.syns} SYN{'s' if o.syns != 1 else ''}" if o.syns > 0 else "the SYN"
        attempts = f" in {o.no_answer} attempts" if o.no_answer > 1 else ""
        span = o.last_ns - o.first_ns
        over = f" over {_seconds(span)}" if span >= 500_000_000 else ""  # "over 0 s" says nothing
        parts.append(f"no answer to {syns}{attempts}{over}")
    if o.rejected:
        parts.append("refused (RST)" + ("" if o.rejected == 1 else f" {_times(o.rejected)}"))
    if o.reset_early:
        parts.append(
            "reset before any answer (RSTOS0)"
            + ("" if o.reset_early == 1 else f" {_times(o.reset_early)}")
        )
    return ", ".join(parts)


def _blocked_hint(o: Outcome, client: Endpoint, server: Endpoint, port: int) -> str:
    if o.icmp and o.icmp_first and o.icmp_first.get("icmp_reporter") not in (None, "", server.ip):
        return f"check the firewall or route at {o.icmp_first['icmp_reporter']}"
    if o.rejected or o.reset_early or o.icmp:
        return f"check that the service on {name(server)} listens on {port} and that no firewall resets it"
    if client.site and server.site and client.site != server.site:
        return f"check the firewall between {client.site} and {server.site} and that {name(server)} is up"
    return f"check the firewall or ACL in front of {name(server)} and that it is up"


def _matches(spec: str, ep: Endpoint) -> bool:
    return (
        spec == ANY
        or (spec == INVENTORY and ep.host is not None)
        or (ep.role is not None and spec == ep.role)
    )


def wanted_server_role(rule: Rule, client: Endpoint) -> str:
    """The server role the rule wanted, given which side the client matched
    (a bidirectional rule may be opened by either role)."""
    if _matches(rule.client, client):
        return rule.server
    return rule.client


def _expected_server(rule: Rule, client: Endpoint, inventory: Inventory) -> str:
    """ "a VRA at dr": what the rule wanted at the other end."""
    label = _a(role_label(wanted_server_role(rule, client)))
    if inventory.single_vcenter or rule.scope is Scope.ANY or client.site is None:
        return label
    if rule.scope is Scope.SAME_SITE:
        return f"{label} at {client.site}"
    peers = sorted(
        s for s in inventory.sites if s != client.site and inventory.paired(client.site, s)
    )
    return f"{label} at {' or '.join(peers)}" if peers else f"{label} at a paired site"


def _scope_phrase(rule: Rule) -> str:
    return {
        Scope.SAME_SITE: "at the same site",
        Scope.PEER_SITE: "at a paired site",
        Scope.ANY: "anywhere",
    }[rule.scope]


def flow_detail(
    kind: FindingKind,
    rule: Rule | None,
    client: Endpoint,
    server: Endpoint,
    port: int,
    proto: str,
    o: Outcome,
    inventory: Inventory,
) -> str:
    from auditor.verdicts.kinds import FindingKind

    head = f"{port_text(port, proto)} from {who(client)} to {who(server)}"
    if o.flows > 1:
        head += f" ({o.flows} flows)"
    failure = outcome_text(o, server)
    if kind is FindingKind.BLOCKED:
        assert rule is not None
        return f"{head}: {failure}; rule {rule.id} needs it — {_blocked_hint(o, client, server, port)}."
    if not failure and o.midstream == o.flows:
        # no handshake seen: who is client was guessed from the ports (SPEC 5)
        failure = "seen mid-stream only (direction guessed from the ports)"
    state = f": {failure};" if failure else ":"
    if kind is FindingKind.REVERSED:
        assert rule is not None
        return (
            f"{head}{state} opened the wrong way — rule {rule.id} expects {_a(role_label(rule.client))} to connect "
            f"to {_a(role_label(rule.server))} on {port}; check which side initiates and that the firewall "
            f"does not allow this direction."
        )
    if kind is FindingKind.MISDIRECTED:
        assert rule is not None
        wanted = _expected_server(rule, client, inventory)
        if server.host is None:
            why = f"{server.ip} is not in the inventory — stale address of {wanted}, or a host missing from the inventory?"
        elif not _matches(wanted_server_role(rule, client), server):
            why = (
                f"{name(server)} is {_a(role_label(server.role))}, but rule {rule.id} expects {wanted} — "
                f"check the address configured for the {role_label(wanted_server_role(rule, client))}"
            )
        else:
            why = (
                f"{name(server)} is at {server.site}, but rule {rule.id} expects {wanted} ({_scope_phrase(rule)}) — "
                f"check the site pairing and the address configured for it"
            )
        return f"{head}{state} {why}" + ("" if why.endswith("?") else ".")
    # unexpected
    from_what = _a(role_label(client.role)) if client.host else "an address outside the inventory"
    to_what = _a(role_label(server.role)) if server.host else "an address outside the inventory"
    return (
        f"{head}{state} no rule allows {proto} {port} from {from_what} to {to_what} — "
        f"block it at the firewall, or add a rule to your rules file if it is needed."
    )


def missing_each_detail(rule: Rule, a: Host, b: Host) -> str:
    """Missing host pair: say which side should open the connection."""
    ra, rb = a.role.value, b.role.value
    a_opens = rule.client in (ANY, INVENTORY, ra) and rule.server in (ANY, INVENTORY, rb)
    b_opens = rule.client in (ANY, INVENTORY, rb) and rule.server in (ANY, INVENTORY, ra)
    ea = f"{a.name} ({role_label(ra)}, {a.site})"
    eb = f"{b.name} ({role_label(rb)}, {b.site})"
    p = port_text(rule.port, rule.proto)
    if rule.bidirectional or (a_opens and b_opens):
        what = f"no {p} flow between {ea} and {eb}"
        first, second = a.name, b.name
    elif b_opens:
        what = f"no {p} flow from {eb} to {ea}"
        first, second = b.name, a.name
    else:
        what = f"no {p} flow from {ea} to {eb}"
        first, second = a.name, b.name
    return (
        f"{what} although the capture saw both hosts (rule {rule.id}: {rule.purpose.rstrip('.')}) — check that "
        f"{first} is configured to reach {second} and that nothing between them drops {p}."
    )


def missing_some_detail(rule: Rule, site_a: str, site_b: str) -> str:
    p = port_text(rule.port, rule.proto)
    c, s = role_label(rule.client), role_label(rule.server)
    if site_a == "*":
        where = "anywhere in the deployment"
    elif site_a == site_b:
        where = f"at {site_a}"
    else:
        where = f"between {site_a} and {site_b}"
    pair = f"{c}s" if c == s else f"{c} and {s}"
    return (
        f"no {p} flow between any {pair} {where} although the capture saw both sides (rule {rule.id}: "
        f"{rule.purpose.rstrip('.')}) — check that the service runs and that the firewall passes {p}."
    )

"""Configuration model shared by the inventory, rules and verdict stages.

Frozen dataclasses and enums whose values are the SPEC's strings (sections 3
and 4). Loaders (`auditor.inventory`, `auditor.ruleset`) build these; the
verdict stage only reads them.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field


class Role(str, enum.Enum):
    ZVM = "zvm"
    VRA = "vra"
    VBA = "vba"
    VCENTER = "vcenter"
    ESXI = "esxi"
    ZCM = "zcm"
    ZSSP = "zssp"
    VCD = "vcd"
    CLIENT = "client"


ROLE_DOCS: dict[str, str] = {
    "zvm": "Zerto Virtual Manager: one per site, manages replication and talks to vCenter and the peer site.",
    "vra": "Virtual Replication Appliance: one per ESXi host, copies writes to the peer site's VRAs.",
    "vba": "Virtual Backup Appliance: file-level and backup services beside the ZVM.",
    "vcenter": "VMware vCenter Server the ZVM is registered with.",
    "esxi": "ESXi host; the ZVM reaches it on 22 and 443 while installing a VRA.",
    "zcm": "Zerto Cloud Manager (cloud service providers).",
    "zssp": "Zerto Self Service Portal (cloud service providers).",
    "vcd": "VMware vCloud Director.",
    "client": "People and tools: GUI, REST API, PowerShell cmdlets, diagnostics.",
}


class Scope(str, enum.Enum):
    SAME_SITE = "same-site"
    PEER_SITE = "peer-site"
    ANY = "any"


class Phase(str, enum.Enum):
    STEADY = "steady"
    INSTALL = "install"
    ON_DEMAND = "on-demand"


class Expect(str, enum.Enum):
    EACH = "each"
    SOME = "some"
    OPTIONAL = "optional"


class Severity(str, enum.Enum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for critical … 3 for low: sort key, most severe first."""
        return list(Severity).index(self)


# A rule's `client`/`server` is a role, or `any` (any address, inventory or
# not) or `inventory` (any inventory host) — SPEC section 4.
ANY = "any"
INVENTORY = "inventory"


@dataclass(frozen=True)
class Rule:
    id: str
    port: int
    proto: str  # "tcp" | "udp"
    client: str  # a Role value, "any" or "inventory"
    server: str
    scope: Scope
    phase: Phase
    expect: Expect
    bidirectional: bool
    configurable: bool
    severity: Severity
    purpose: str
    ruleset: str  # id of the rule set that defined it
    source_line: int = 0  # line of the rule in its file, for messages


@dataclass(frozen=True)
class RuleSet:
    ruleset: str
    version: int
    path: str  # as given (or the bundled file's path)
    sha256: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Host:
    name: str
    role: Role
    site: str
    # Every address or block of the host, as parsed networks (/32 or /128 for
    # one address).
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    esxi: str | None = None  # a VRA's ESXi host name
    line: int = 0  # line in the inventory file, for messages


@dataclass(frozen=True)
class Site:
    name: str
    peers: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Inventory:
    name: str
    profile: str
    path: str
    sha256: str
    sites: dict[str, Site]
    hosts: tuple[Host, ...]
    ports: dict[str, int]  # port overrides by rule id
    # Line of each `ports` entry, so overrides checked once the rule sets are
    # loaded (auditor.ruleset.effective_rules) still say FILE:LINE.
    port_lines: dict[str, int] = field(default_factory=dict)
    # Host list files a YAML inventory referenced (`hosts: hosts.csv`), as
    # (path, sha256): evidence beside `sha256`, which is the YAML file's.
    host_files: tuple[tuple[str, str], ...] = ()

    @property
    def single_vcenter(self) -> bool:
        """One vCenter in total: ZVR installed once, its "sites" are
        locations (SPEC section 3)."""
        return sum(1 for h in self.hosts if h.role is Role.VCENTER) == 1

    def paired(self, a: str, b: str) -> bool:
        """Whether sites a and b are paired (symmetric)."""
        sa, sb = self.sites.get(a), self.sites.get(b)
        return bool(sa and sb and (b in sa.peers or a in sb.peers))

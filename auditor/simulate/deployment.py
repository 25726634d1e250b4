"""The simulated deployments and the inventory YAML (SPEC section 3) that
describes them. Every two-site scenario uses the same deployment, so one
inventory serves them all; the single-vCenter scenario has its own."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class SimHost:
    name: str
    role: str
    site: str
    ip: str  # one address, or a CIDR block for a client group
    esxi: str | None = None
    windows: bool = False  # the legacy ZVM runs on Windows (TTL 128, ports 49152+)
    station: str | None = None  # for a block: the workstation whose packets we make

    @property
    def addr(self) -> str:
        """The address this host's packets carry."""
        return self.station or self.ip


@dataclass(frozen=True)
class Deployment:
    name: str
    sites: tuple[str, ...]
    peers: dict[str, tuple[str, ...]]  # as written in the YAML (pairing is symmetric)
    hosts: tuple[SimHost, ...]
    prefix: dict[str, str]  # site → address prefix of its subnets ("10.10.")
    domain: str = "acme.local"
    vlans: dict[str, int] | None = None  # site → VLAN id when captured on a trunk

    def of(self, role: str, site: str | None = None) -> list[SimHost]:
        return [h for h in self.hosts if h.role == role and (site is None or h.site == site)]

    def one(self, role: str, site: str | None = None) -> SimHost | None:
        found = self.of(role, site)
        return found[0] if found else None

    def the(self, role: str, site: str) -> SimHost:
        """The site's only host of a role, which the scenario requires."""
        found = self.one(role, site)
        if found is None:
            raise ValueError(f"deployment {self.name}: no {role} at {site}")
        return found

    def host(self, name: str) -> SimHost:
        return next(h for h in self.hosts if h.name == name)

    # Infrastructure outside the inventory (the `infrastructure` rules cover
    # traffic from inventory hosts to these).
    def address(self, site: str, subnet: int, host: int) -> str:
        return _address(self.prefix[site], subnet, host)

    def gateway(self, site: str) -> str:
        return self.address(site, 0, 1)

    def dns_server(self, site: str) -> str:
        return self.address(site, 0, 2)

    def ntp_server(self, site: str) -> str:
        return self.address(site, 0, 3)

    @property
    def single_vcenter(self) -> bool:
        return len(self.of("vcenter")) == 1

    def inventory_yaml(self) -> str:
        lines = [
            "# Inventory written by `zvr-audit simulate` (auditor.simulate): the",
            "# deployment the simulated capture was made for (SPEC section 3).",
            f"name: {self.name}",
            "profile: zvr-legacy",
            "sites:",
        ]
        for site in self.sites:
            peers = self.peers.get(site)
            lines.append(
                f"  {site}: {{peers: [{', '.join(peers)}]}}" if peers else f"  {site}: {{}}"
            )
        lines.append("hosts:")
        width = max(len(h.name) for h in self.hosts) + 1
        rwidth = max(len(h.role) for h in self.hosts) + 1
        swidth = max(len(h.site) for h in self.hosts) + 1
        for h in self.hosts:
            fields = [
                f"name: {(h.name + ',').ljust(width)}",
                f"role: {(h.role + ',').ljust(rwidth)}",
                f"site: {(h.site + ',').ljust(swidth)}",
                f"ip: {h.ip}",
            ]
            if h.esxi:
                fields[-1] += ","
                fields.append(f"esxi: {h.esxi}")
            lines.append("  - {" + " ".join(fields) + "}")
        return "\n".join(lines) + "\n"


def _address(prefix: str, subnet: int, host: int) -> str:
    """A site's address: ``10.10.`` + subnet 2, host 11 → 10.10.2.11;
    ``2001:db8:10:`` + 2, 11 → 2001:db8:10:2::11 (canonical text)."""
    if ":" in prefix:
        return str(ipaddress.ip_address(f"{prefix}{subnet}::{host}"))
    return f"{prefix}{subnet}.{host}"


def _site_hosts(
    site: str, p: str, vba: bool = True, zvm: bool = True, vcenter: bool = True
) -> list[SimHost]:
    """Subnet 0 servers, 1 ESXi hosts, 2 VRAs (each VRA beside its ESXi)."""
    hosts = []
    if zvm:
        hosts.append(SimHost(f"zvm-{site}", "zvm", site, _address(p, 0, 10), windows=True))
    if vcenter:
        hosts.append(SimHost(f"vc-{site}", "vcenter", site, _address(p, 0, 5)))
    if vba:
        hosts.append(SimHost(f"vba-{site}", "vba", site, _address(p, 0, 20)))
    for i in (1, 2):
        hosts.append(SimHost(f"esx-{site}-{i}", "esxi", site, _address(p, 1, 10 + i)))
    for i in (1, 2):
        esxi = f"esx-{site}-{i}"
        hosts.append(SimHost(f"vra-{site}-{i}", "vra", site, _address(p, 2, 10 + i), esxi=esxi))
    return hosts


def _admins(site: str, p: str) -> SimHost:
    """The administrators' workstations: a block, one of them active."""
    block = f"{p}9.0/24" if ":" not in p else f"{p}9::/64"
    return SimHost("admins", "client", site, block, station=_address(p, 9, 23))


def two_site(vlans: bool = False) -> Deployment:
    """acme-dr: protected site `prod` (10.10/16) paired with recovery site
    `dr` (10.20/16); per site a ZVM, a vCenter, a VBA, two ESXi hosts each
    with its VRA; the administrators' workstations at prod."""
    p = {"prod": "10.10.", "dr": "10.20."}
    hosts = _site_hosts("prod", p["prod"]) + _site_hosts("dr", p["dr"])
    hosts.append(_admins("prod", p["prod"]))
    return Deployment(
        name="acme-dr",
        sites=("prod", "dr"),
        peers={"prod": ("dr",)},
        hosts=tuple(hosts),
        prefix=p,
        vlans={"prod": 110, "dr": 120} if vlans else None,
    )


def two_site_trunk() -> Deployment:
    """acme-dr captured on a trunk port: each site's traffic on its own
    802.1Q VLAN (110 prod, 120 dr)."""
    return two_site(vlans=True)


def two_site_ipv6() -> Deployment:
    """acme-dr6: the same deployment addressed with IPv6 only
    (2001:db8:10::/48 prod, 2001:db8:20::/48 dr; documentation prefix)."""
    p = {"prod": "2001:db8:10:", "dr": "2001:db8:20:"}
    hosts = _site_hosts("prod", p["prod"]) + _site_hosts("dr", p["dr"])
    hosts.append(_admins("prod", p["prod"]))
    return Deployment(
        name="acme-dr6",
        sites=("prod", "dr"),
        peers={"prod": ("dr",)},
        hosts=tuple(hosts),
        prefix=p,
    )


def single_vcenter() -> Deployment:
    """acme-branch: ZVR installed once, against one vCenter at `main`; the
    `branch` office's ESXi hosts and VRAs are managed from there (SPEC
    section 3: the sites are locations)."""
    hosts = _site_hosts("main", "10.10.") + _site_hosts(
        "branch", "10.30.", vba=False, zvm=False, vcenter=False
    )
    hosts.append(_admins("main", "10.10."))
    return Deployment(
        name="acme-branch",
        sites=("main", "branch"),
        peers={"main": ("branch",)},
        hosts=tuple(hosts),
        prefix={"main": "10.10.", "branch": "10.30."},
    )

"""Scenarios → crafted captures (scapy), for tests, demos and training.

``simulate("4008-refused", Path("x.pcapng"), Path("inv.yaml"))`` writes a
capture of the scenario's deployment and the matching inventory. Output is
deterministic for a seed: a fixed start time, and every port, sequence
number, IP id and payload byte drawn from one seeded RNG.

  deployment.py  the simulated deployments and their inventory YAML
  traffic.py     a deployment's flows over a time window, faults per `Plan`
  wire.py        packets: TCP connections, DNS, NTP, ARP/ND, as captured
"""

from __future__ import annotations

import datetime as _dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from auditor.errors import UsageError

from .deployment import Deployment, single_vcenter, two_site, two_site_ipv6, two_site_trunk
from .traffic import Plan, Traffic
from .wire import Frame

# 2026-01-15T02:00:00Z: a night-time capture window, fixed for determinism.
START_NS = (
    int(_dt.datetime(2026, 1, 15, 2, 0, 0, tzinfo=_dt.timezone.utc).timestamp()) * 1_000_000_000
)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str  # one line, listed by `zvr-audit simulate` without a scenario
    deployment: Callable[[], Deployment]
    plan: Plan

    def build(self, seed: int = 0) -> tuple[Deployment, list[Frame]]:
        """The deployment and its frames in capture order. The scenario's
        name is mixed into the seed so scenarios differ, while one scenario
        and seed always give the same bytes."""
        dep = self.deployment()
        rng = random.Random(f"{seed}:{self.name}")
        return dep, Traffic(dep, self.plan, rng, START_NS).build().sorted_frames()


HEALTHY = Plan()


def _s(
    name: str,
    description: str,
    plan: Plan = HEALTHY,
    deployment: Callable[[], Deployment] = two_site,
) -> tuple[str, Scenario]:
    return name, Scenario(name, description, deployment, plan)


SCENARIOS: dict[str, Scenario] = dict(
    [
        _s("healthy-two-site", "Two paired sites, every expected ZVR flow present: no findings."),
        _s(
            "4008-blocked-drop",
            "4008 between the sites' VRAs silently dropped: SYNs retried, never answered.",
            Plan(vra_data="drop"),
        ),
        _s(
            "4008-refused",
            "4008 to the recovery VRAs refused: every SYN answered by RST-ACK.",
            Plan(vra_data="refuse"),
        ),
        _s(
            "4008-icmp-prohibited",
            "4008 to the recovery VRAs rejected by a firewall with ICMP admin-prohibited.",
            Plan(vra_data="prohibited"),
        ),
        _s(
            "4008-missing",
            "No 4008 between the sites at all, 4007 still up (nothing to replicate, or never tried).",
            Plan(vra_data="missing"),
        ),
        _s(
            "4008-stale-vra",
            "The first protected VRA sends 4008 to the recovery VRA's old address, not in the inventory.",
            Plan(stale_vra=True),
        ),
        _s(
            "4008-stream-cut",
            "The second VRA pair's 4008 stream stops at 30 s: retransmissions, reset, reconnects unanswered.",
            Plan(duration_s=90, stream_cut_s=30),
        ),
        _s(
            "9081-missing",
            "No 9081 between the two ZVMs at all (sites not talking).",
            Plan(zvm_peer="missing"),
        ),
        _s(
            "9081-blocked",
            "9081 between the two ZVMs dropped in both directions.",
            Plan(zvm_peer="drop"),
        ),
        _s(
            "vcenter-reversed",
            "The protected vCenter opens 443 to its ZVM (besides the ZVM's own 443 to it).",
            Plan(vcenter_reversed=True),
        ),
        _s(
            "rdp-unknown",
            "RDP (3389) to the protected ZVM from a workstation outside the inventory.",
            Plan(rdp_unknown=True),
        ),
        _s(
            "vba-missing",
            "The recovery ZVM never talks to its VBA on 4006.",
            Plan(vba_silent_site="dr"),
        ),
        _s(
            "single-vcenter",
            "One vCenter, ZVR installed once, VRAs at a main and a branch location: no findings.",
            HEALTHY,
            single_vcenter,
        ),
        _s(
            "one-site-capture",
            "Healthy deployment captured at prod only: prod's flows plus the cross-site ones.",
            Plan(capture_site="prod"),
        ),
        _s(
            "vra-install",
            "A VRA being installed at dr (ZVM to ESXi on 22 and 443), logs fetched on 4005: no findings.",
            Plan(vra_install=True),
        ),
        _s(
            "healthy-ipv6",
            "The healthy two-site deployment addressed with IPv6 only: no findings.",
            HEALTHY,
            two_site_ipv6,
        ),
        _s(
            "ipv6-4008-prohibited",
            "IPv6 deployment; 4008 to the recovery VRAs rejected with ICMPv6 admin-prohibited.",
            Plan(vra_data="prohibited"),
            two_site_ipv6,
        ),
        _s(
            "healthy-vlan-trunk",
            "The healthy two-site deployment captured on a trunk port (802.1Q, a VLAN per site).",
            HEALTHY,
            two_site_trunk,
        ),
        _s(
            "demo",
            "The bundled demo: stale 4008 address, 4008 cut at 80 s, 9081 blocked, vCenter reversed, RDP from an unknown host, a silent VBA.",
            Plan(
                duration_s=150,
                stream_cut_s=80,
                bulk_segments=4,
                stale_vra=True,
                zvm_peer="drop",
                vcenter_reversed=True,
                rdp_unknown=True,
                vba_silent_site="dr",
            ),
        ),
    ]
)


def scenario_frames(scenario: str, *, seed: int = 0) -> tuple[Deployment, list[Frame]]:
    """The scenario's deployment and its frames in capture order."""
    if scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario '{scenario}' (known: {', '.join(SCENARIOS)})")
    return SCENARIOS[scenario].build(seed)


COMPRESSORS = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}


def simulate(scenario: str, out: Path, inventory_out: Path | None = None, *, seed: int = 0) -> None:
    """Write the scenario's capture to `out` (pcapng when its name ends in
    .pcapng, classic microsecond pcap otherwise; compressed when it ends in
    .gz, .bz2 or .xz as well, e.g. ``x.pcapng.gz``) and, when asked, its
    inventory YAML to `inventory_out`."""
    out = Path(out)
    dep, frames = scenario_frames(scenario, seed=seed)
    compression = COMPRESSORS.get(out.suffix.lower())
    pcapng = (out.with_suffix("") if compression else out).suffix.lower() == ".pcapng"
    try:
        if compression is None:
            write_frames(out, frames, pcapng)
        else:
            plain = out.with_name(out.name + ".part")
            try:
                write_frames(plain, frames, pcapng)
                _compress(plain, out, compression)
            finally:
                plain.unlink(missing_ok=True)
        if inventory_out is not None:
            Path(inventory_out).write_text(dep.inventory_yaml(), encoding="utf-8")
    except OSError as e:
        raise UsageError(f"{e.filename or out}: cannot write: {e.strerror}") from None


def write_frames(out: Path, frames: list[Frame], pcapng: bool) -> None:
    """Frames to a pcapng or classic (microsecond) pcap file, Ethernet."""
    from scapy.utils import PcapNgWriter, PcapWriter

    if pcapng:
        ng = PcapNgWriter(str(out))
        ng.linktype = 1  # Ethernet; set before the header is written
        try:
            ng.write_header(None)
            for f in frames:
                # Decimal seconds: exact microseconds (a float would round)
                ng.write_packet(f.data, sec=Decimal(f.ts_ns) / Decimal(1_000_000_000))  # type: ignore[arg-type]
        finally:
            ng.close()
    else:
        w = PcapWriter(str(out), linktype=1, sync=False)
        try:
            w.write_header(None)
            for f in frames:
                sec, ns = divmod(f.ts_ns, 1_000_000_000)
                w.write_packet(f.data, sec=sec, usec=ns // 1000)
        finally:
            w.close()


def _compress(plain: Path, out: Path, compression: str) -> None:
    import bz2
    import gzip
    import lzma

    data = plain.read_bytes()
    if compression == "gzip":
        # no file name and a zero mtime in the header: the same bytes every run
        with (
            open(out, "wb") as fh,
            gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz,
        ):
            gz.write(data)
    elif compression == "bz2":
        out.write_bytes(bz2.compress(data))
    else:
        out.write_bytes(lzma.compress(data, format=lzma.FORMAT_XZ))


__all__ = ["SCENARIOS", "START_NS", "Scenario", "scenario_frames", "simulate", "write_frames"]

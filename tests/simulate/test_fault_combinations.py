"""Faults compose: any combination of the simulator's faults, audited, gives
exactly the findings an independent model of SPEC section 6 predicts for
that combination (hypothesis picks the combinations, derandomised)."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.simulate import START_NS, write_frames
from auditor.simulate.deployment import two_site
from auditor.simulate.traffic import STALE_VRA_IP, UNKNOWN_RDP_IP, Plan, Traffic

from .test_scenario_findings import _audit, key

plans = st.builds(
    Plan,
    vra_data=st.sampled_from(["ok", "drop", "refuse", "prohibited", "missing"]),
    stale_vra=st.booleans(),
    zvm_peer=st.sampled_from(["ok", "missing", "drop"]),
    vcenter_reversed=st.booleans(),
    rdp_unknown=st.booleans(),
    vba_silent_site=st.sampled_from([None, "prod", "dr"]),
)


def predicted(plan: Plan) -> tuple[list, dict]:
    """Findings and not-met coverage of a plan, from the SPEC alone."""
    findings, coverage = [], {}
    pairs = [("vra-prod-1", "vra-dr-1"), ("vra-prod-2", "vra-dr-2")]
    met = blocked = False
    for i, (protected, recovery) in enumerate(pairs):
        if plan.stale_vra and i == 0:  # server outside the inventory
            findings.append(("misdirected", "vra-data", protected, STALE_VRA_IP, 4008, "high"))
        elif plan.vra_data == "missing":  # no 4008 flow of this pair at all
            pass
        elif plan.vra_data != "ok":  # S0, REJ or ICMP-quoted: blocked
            findings.append(("blocked", "vra-data", protected, recovery, 4008, "critical"))
            blocked = True
        else:
            met = True
    if not met:
        # the `some` expectation of the site pair: blocked flows of its rule
        # make it blocked (the blocked findings stand for it); else missing,
        # sites in name order. A misdirected flow (stale address) is neither.
        coverage[("vra-data", "dr", "prod")] = "blocked" if blocked else "missing"
        if not blocked:
            findings.append(("missing", "vra-data", "dr", "prod", 4008, "critical"))
    if plan.zvm_peer == "missing":
        findings.append(("missing", "zvm-peer", "zvm-dr", "zvm-prod", 9081, "critical"))
        coverage[("zvm-peer", "zvm-dr", "zvm-prod")] = "missing"
    elif plan.zvm_peer == "drop":
        findings.append(("blocked", "zvm-peer", "zvm-prod", "zvm-dr", 9081, "critical"))
        findings.append(("blocked", "zvm-peer", "zvm-dr", "zvm-prod", 9081, "critical"))
        coverage[("zvm-peer", "zvm-dr", "zvm-prod")] = "blocked"
    if plan.vcenter_reversed:
        findings.append(("reversed", "zvm-vcenter", "vc-prod", "zvm-prod", 443, "high"))
    if plan.rdp_unknown:
        findings.append(("unexpected", None, UNKNOWN_RDP_IP, "zvm-prod", 3389, "medium"))
    if plan.vba_silent_site:
        site = plan.vba_silent_site
        findings.append(("missing", "zvm-vba", f"vba-{site}", f"zvm-{site}", 4006, "medium"))
        coverage[("zvm-vba", f"vba-{site}", f"zvm-{site}")] = "missing"
    return sorted(findings, key=str), coverage


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(plan=plans, seed=st.integers(0, 2**16))
def test_any_fault_combination_gives_its_predicted_findings(plan, seed):
    dep = two_site()
    frames = Traffic(dep, plan, random.Random(seed), START_NS).build().sorted_frames()
    with tempfile.TemporaryDirectory() as folder:
        cap, inv = Path(folder) / "x.pcap", Path(folder) / "inv.yaml"
        write_frames(cap, frames, pcapng=False)
        inv.write_text(dep.inventory_yaml())
        report = _audit(cap, inv)
    findings, not_met = predicted(plan)
    assert sorted(map(key, report["findings"]), key=str) == findings
    coverage = {(c["rule"], c["client"], c["server"]): c["status"] for c in report["coverage"]}
    assert {k: v for k, v in coverage.items() if v != "met"} == not_met

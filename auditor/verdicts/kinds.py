"""Verdicts, finding kinds and coverage statuses, each documented once here
(SPEC section 6). The report's glossary (`auditor.report.definitions`) reads
these docs; the strings are the SPEC's and the schema's, never renamed."""

from __future__ import annotations

import enum


class Verdict(str, enum.Enum):
    """One per flow, decided in this order (SPEC section 6)."""

    OUT_OF_SCOPE = "out_of_scope"
    EXPECTED = "expected"
    BLOCKED = "blocked"
    REVERSED = "reversed"
    MISDIRECTED = "misdirected"
    UNEXPECTED = "unexpected"


VERDICT_DOCS: dict[str, str] = {
    "out_of_scope": "Neither end is an inventory host: counted, not judged.",
    "expected": "A rule matches the client role, server role, port, proto and scope, and the connection did not fail "
    "(a flow seen only mid-stream counts as expected).",
    "blocked": "A rule matches, but the connection demonstrably failed: no answer to the SYN (S0, SH), refused (REJ, "
    "RSTOS0), or answered by an ICMP destination-unreachable.",
    "reversed": "A rule matches with client and server swapped, and the capture saw who opened the connection.",
    "misdirected": "The client's role, the port and the proto match a rule, but the server is not what the rule "
    "expects: another role, an address outside the inventory, or the wrong site.",
    "unexpected": "No rule allows this client role, port and proto (an address outside the inventory matches only "
    "`any`).",
}


class FindingKind(str, enum.Enum):
    MISSING = "missing"
    BLOCKED = "blocked"
    REVERSED = "reversed"
    MISDIRECTED = "misdirected"
    UNEXPECTED = "unexpected"

    @property
    def rank(self) -> int:
        """Sort key: the SPEC's order (missing first)."""
        return list(FindingKind).index(self)


FINDING_KIND_DOCS: dict[str, str] = {
    "missing": "An expectation the capture could check (it saw both hosts) but no expected flow met: the traffic a "
    "rule requires never happened.",
    "blocked": "Flows a rule allows that failed (no answer, refused, ICMP unreachable), grouped by client, server, "
    "port and proto.",
    "reversed": "Flows a rule allows in the other direction only: the wrong side opened the connection.",
    "misdirected": "Flows on a rule's port from the right client role to the wrong server: another role, an address "
    "outside the inventory, or the wrong site (often a stale address).",
    "unexpected": "Flows no rule allows: severity medium when the server is an inventory host, low otherwise.",
}


class CoverageStatus(str, enum.Enum):
    MET = "met"
    BLOCKED = "blocked"
    MISSING = "missing"
    UNOBSERVED = "unobserved"


COVERAGE_STATUS_DOCS: dict[str, str] = {
    "met": "At least one expected flow of the rule between the pair's hosts (or sites).",
    "blocked": "Observable and not met, and flows of the rule between them were blocked: the blocked findings stand "
    "for it.",
    "missing": "Observable (the capture saw both hosts), not met and no blocked flows: a `missing` finding.",
    "unobserved": "The capture could not have seen it (it never saw both hosts, or never saw that site's own "
    "network): listed, not a finding.",
}

SEVERITY_DOCS: dict[str, str] = {
    "critical": "Replication between the sites is affected (VRA-to-VRA or ZVM-to-ZVM traffic).",
    "high": "Management of replication at a site is affected, or traffic goes somewhere it should not (misdirected).",
    "medium": "A supporting service is affected, or an inventory host receives traffic no rule allows.",
    "low": "Optional or on-demand traffic, or unexpected traffic to an address outside the inventory.",
}

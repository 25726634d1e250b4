"""Every code a report shows, with its meaning, in one place: the HTML
glossary, the terminal and ``--help`` read from here. Each table is defined
beside the code that uses it (verdicts and findings in
``auditor.verdicts.kinds``, conn_state in ``auditor.tables``, roles in
``auditor.model``); this module only gathers them."""

from __future__ import annotations

from auditor.model import ROLE_DOCS
from auditor.tables import BUCKET_KEYS, CONN_STATES
from auditor.verdicts.kinds import (
    COVERAGE_STATUS_DOCS,
    FINDING_KIND_DOCS,
    SEVERITY_DOCS,
    VERDICT_DOCS,
)

BUCKET_DOCS: dict[str, str] = {
    "read": "Packets read from the captures (a record cut short by damage is not counted).",
    "tcp": "Innermost IP carries TCP with both ports (a first fragment counts).",
    "udp": "Innermost IP carries UDP with both ports (a first fragment counts).",
    "icmp": "ICMP or ICMPv6.",
    "other_ip": "Any other IP payload (IGMP, ESP, an undecoded tunnel, ...).",
    "non_ip": "No IP header at all (ARP, STP, LLDP, ...).",
    "fragment": "A later IP fragment that could not be attached to its flow.",
    "malformed": "A header cut short or inconsistent before the ports.",
    "unsupported_link": "A link type the reader does not decode.",
}
assert set(BUCKET_DOCS) == {"read", *BUCKET_KEYS}

# Section title → {code: meaning}, in the order a glossary shows them.
GLOSSARY: dict[str, dict[str, str]] = {
    "Verdicts (one per flow)": VERDICT_DOCS,
    "Finding kinds": FINDING_KIND_DOCS,
    "Coverage statuses": COVERAGE_STATUS_DOCS,
    "Severities": SEVERITY_DOCS,
    "Connection states (Zeek conn_state)": CONN_STATES,
    "Roles": ROLE_DOCS,
    "Packet buckets": BUCKET_DOCS,
}

__all__ = [
    "BUCKET_DOCS",
    "CONN_STATES",
    "COVERAGE_STATUS_DOCS",
    "FINDING_KIND_DOCS",
    "GLOSSARY",
    "ROLE_DOCS",
    "SEVERITY_DOCS",
    "VERDICT_DOCS",
]

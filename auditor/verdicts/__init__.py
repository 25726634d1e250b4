"""flows × inventory × rules → verdicts, expectations and findings (SPEC
section 6)."""

from auditor.verdicts.engine import Coverage, Endpoint, Finding, Verdicts, flows_to_verdicts
from auditor.verdicts.kinds import CoverageStatus, FindingKind, Verdict

__all__ = [
    "Coverage",
    "CoverageStatus",
    "Endpoint",
    "Finding",
    "FindingKind",
    "Verdict",
    "Verdicts",
    "flows_to_verdicts",
]

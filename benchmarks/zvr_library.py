"""Fallback for the benchmark while ``zvr-audit flows`` is not wired: the same
stages the CLI runs (capture_to_packets, then packets_to_flows with the
bundled rules' ports), in one process. Prints one JSON line.

    python3 benchmarks/zvr_library.py CAPTURE
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(path: str) -> int:
    from auditor.capture import capture_to_packets
    from auditor.flows import packets_to_flows
    from auditor.ruleset import effective_rules, load_rulesets, rule_ports

    ports = rule_ports(effective_rules(load_rulesets(None, "zvr-legacy"), None))
    stream = capture_to_packets([Path(path)])
    table = packets_to_flows(stream, ports)
    print(json.dumps({"packets": int(stream.counts["read"]), "flows": len(table.flows)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

#!/usr/bin/env python3
"""Regenerate the bundled demo: ``python3 captures/make_demo.py``.

Writes ``demo.pcapng`` and ``demo-inventory.yaml`` beside this script from
the simulator's ``demo`` scenario (auditor/simulate) with seed 0. The output
is byte-identical on every run: fixed start time (2026-01-15T02:00:00Z) and
every port, sequence number, IP id and payload byte drawn from one seeded
RNG. ``zvr-audit demo`` audits these two files.

What the demo shows (two paired sites, prod and dr, 150 s of traffic over a
realistic background of vSphere API calls, VRA replication, DNS, NTP, ARP):
  - misdirected  4008 from vra-prod-1 to 10.20.2.99, the recovery VRA's old
                 address (SYNs never answered)
  - blocked      4008 from vra-prod-2 to vra-dr-2 once a firewall starts dropping
                 it at 80 s (the running stream retransmits and is reset; the
                 reconnection attempts go unanswered)
  - blocked      9081 between zvm-prod and zvm-dr, dropped both ways
  - reversed     443 opened by vc-prod to zvm-prod
  - unexpected   RDP (3389) to zvm-prod from 192.168.77.23, outside the inventory
  - missing      4006 between zvm-dr and vba-dr (the VBA is up, never used)
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 0
SCAPY = "2.8.0"  # the scapy that made the committed files (byte-identity holds with it)

if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))  # the source checkout's auditor package
    from auditor.simulate import simulate

    simulate("demo", HERE / "demo.pcapng", HERE / "demo-inventory.yaml", seed=SEED)
    print(f"wrote {HERE / 'demo.pcapng'} and {HERE / 'demo-inventory.yaml'}")

"""The flow stage on the shared corpus's real captures: per conversation
(tshark's ``-z conv`` key, both directions), the packets and wire bytes of
all our flows of that 5-tuple add up to tshark's innermost view (the
no-reassembly view where the capture has IP fragments). The capture stage's
own agreement test checks the packets; this one checks that splitting,
chunk carry-over and direction never lose or double a packet."""

from __future__ import annotations

import ipaddress
import json
from collections import defaultdict
from pathlib import Path

import pytest

from auditor.capture import capture_to_packets
from auditor.errors import CaptureError
from auditor.flows import packets_to_flows
from auditor.tables import text_to_addr

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
CAPTURES = (
    sorted(
        p.name
        for p in CORPUS.glob("*")
        if p.is_file() and (CORPUS / "refs" / f"{p.name}.json").is_file()
    )
    if CORPUS.is_dir()
    else []
)

pytestmark = pytest.mark.skipif(
    not CAPTURES,
    reason=f"shared corpus not found at {CORPUS} (it lives beside the repo as ../shared/corpus)",
)


def _endpoint(ip: str, port: int) -> tuple[tuple, str]:
    a = ipaddress.ip_address(ip)
    return (a.version, a.packed, port), (f"[{ip}]:{port}" if a.version == 6 else f"{ip}:{port}")


def _conversations(flows) -> dict[str, tuple[int, int]]:
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in flows.itertuples():
        a, b = sorted(
            [_endpoint(r.client_ip, r.client_port), _endpoint(r.server_ip, r.server_port)]
        )
        key = f"{r.proto} {a[1]} <-> {b[1]}"
        out[key][0] += r.packets_c2s + r.packets_s2c
        out[key][1] += r.bytes_c2s + r.bytes_s2c
    return {k: (v[0], v[1]) for k, v in out.items()}


@pytest.mark.parametrize("name", CAPTURES)
@pytest.mark.parametrize("chunk", [7, 1 << 18])
def test_flows_add_up_to_tshark_conversations(name: str, chunk: int) -> None:
    ref = json.loads((CORPUS / "refs" / f"{name}.json").read_text())
    stream = capture_to_packets([CORPUS / name], chunk_packets=chunk)
    try:
        table = packets_to_flows(stream, {"tcp": frozenset({4008}), "udp": frozenset({53})})
    except CaptureError:
        pytest.skip("not a readable capture (the capture stage's tests cover why)")
    tshark = ref["tshark"]
    view = tshark["innermost"]
    if tshark["frames_with_ip_fragment_fields"] > 0 and isinstance(
        ref.get("no_ip_reassembly"), dict
    ):
        view = ref["no_ip_reassembly"]["innermost"]
    want = {c["key"]: (c["packets"], c["bytes"]) for c in view["tcp"] + view["udp"]}
    assert _conversations(table.flows) == want
    assert stream.counts["tcp"] + stream.counts["udp"] == int(
        (table.flows.packets_c2s + table.flows.packets_s2c).sum()
    )
    # every flow end is an address the capture saw
    seen = {(int(h), int(lo)) for h, lo in table.addresses}
    for ip in set(table.flows.client_ip) | set(table.flows.server_ip):
        assert text_to_addr(ip) in seen

"""The flow stage on the shared corpus's real captures: per conversation
(tshark's ``-z conv`` key, both directions), the packets and wire bytes of
all our flows of that 5-tuple add up to tshark's innermost view. The capture
stage's own agreement test checks the packets; this one checks that
splitting, chunk carry-over and direction never lose or double a packet.

Where the capture has IP fragments, tshark has two views and we match
neither exactly when a later fragment attaches to its flow (``flows.fragments``):

- tshark's default view reassembles: the datagram is counted once, at the
  frame that completes it; the other fragments are ``ip:data``;
- its ``no_ip_reassembly`` view counts the first fragment in the
  conversation (it holds the ports) and every later fragment as ``ip:data``;
- we count the first fragment *and* each later fragment attached to it.

So a conversation is tshark's no-reassembly view plus the later fragments
we attach, each named in ``ATTACHED`` with the frames and why; the check is
exact both ways (an unlisted attachment fails, a listed one that no longer
attaches fails). A tunnel whose *outer* datagram is fragmented
(gre_teb_fragmented.pcap) attaches nothing: the first fragment's row is the
inner TCP packet, whose addresses and IP id are not the later fragments';
those conversations are the no-reassembly view as they stand (the default
view differs there in bytes only: it counts the completing frame instead).
"""

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

# capture -> conversation -> (packets, wire bytes) we add to tshark's no-reassembly
# view, and which frames those are (frame numbers as tshark shows them)
ATTACHED: dict[str, dict[str, tuple[int, int, str]]] = {
    "ipv6_frag_dns.pcap": {
        "udp [2001:470:1f11:81f:d138:5f55:6d4:1fe2]:51851 <-> [2607:f740:b::f93]:53": (
            2,
            1494 + 436,
            (
                "frames 7 and 8 are the later fragments of the DNS response whose first fragment "
                "is frame 6 (fragment id 2); tshark's default view counts the response once, at "
                "frame 8, so we are 2 packets and 2 x 1494 bytes (frames 6 and 7) above it. "
                "Frame 4 (fragment id 1) has no first fragment in the capture: it stays a fragment"
            ),
        ),
    },
}

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
    assert set(ATTACHED) <= set(CAPTURES)
    tshark = ref["tshark"]
    view = tshark["innermost"]
    if tshark["frames_with_ip_fragment_fields"] > 0 and isinstance(
        ref.get("no_ip_reassembly"), dict
    ):
        view = ref["no_ip_reassembly"]["innermost"]
    want = {c["key"]: (c["packets"], c["bytes"]) for c in view["tcp"] + view["udp"]}
    extra = ATTACHED.get(name, {})
    for key, (packets, wire_bytes, _why) in extra.items():
        want[key] = (want[key][0] + packets, want[key][1] + wire_bytes)
    assert _conversations(table.flows) == want
    assert sum(table.attached_fragments.values()) == sum(p for p, _b, _w in extra.values())
    counts = table.packet_counts(stream.counts)
    assert counts["tcp"] + counts["udp"] == int(
        (table.flows.packets_c2s + table.flows.packets_s2c).sum()
    )
    assert sum(v for k, v in counts.items() if k != "read") == counts["read"]
    # every flow end is an address the capture saw
    seen = {(int(h), int(lo)) for h, lo in table.addresses}
    for ip in set(table.flows.client_ip) | set(table.flows.server_ip):
        assert text_to_addr(ip) in seen


def test_attached_fragments_against_the_reassembling_view() -> None:
    """ipv6_frag_dns.pcap against tshark's default (reassembling) view: it counts
    the fragmented response once, at frame 8; we count frames 6, 7 and 8."""
    name = "ipv6_frag_dns.pcap"
    ref = json.loads((CORPUS / "refs" / f"{name}.json").read_text())
    default = {c["key"]: (c["packets"], c["bytes"]) for c in ref["tshark"]["innermost"]["udp"]}
    table = packets_to_flows(capture_to_packets([CORPUS / name]), {})
    ours = _conversations(table.flows)
    (key,) = ATTACHED[name]
    assert ours[key] == (default[key][0] + 2, default[key][1] + 2 * 1494)
    assert {k: v for k, v in ours.items() if k != key} == {k: v for k, v in default.items() if k != key}

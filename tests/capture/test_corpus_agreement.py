"""The native reader against the shared corpus's tshark references.

One test id per capture (``../shared/corpus/README.md`` explains the refs).
Per conversation (canonical 5-tuple, both directions), packets and wire bytes
must equal tshark's innermost view, or its no-reassembly view where the ref
has IP fragments (we do not reassemble: a first fragment carries the ports,
later ones are bucket ``fragment``). Every remaining difference is listed in
EXPECTED_DEVIATIONS with its reason.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from auditor.capture import capture_to_packets
from auditor.capture.linktypes import linktype_name
from auditor.errors import CaptureError
from auditor.tables import BUCKET_KEYS, addr_to_text, iso_utc

from .corpus_view import conversations, ref_conversations

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
CAPTURES = sorted(
    p.name for p in CORPUS.glob("*") if p.is_file() and (CORPUS / "refs" / f"{p.name}.json").is_file()
) if CORPUS.is_dir() else []

pytestmark = pytest.mark.skipif(
    not CAPTURES, reason=f"shared corpus not found at {CORPUS} (it lives beside the repo as ../shared/corpus)"
)

# Conversations where we knowingly differ from tshark: {capture: {key: (our (packets, bytes), reason)}}.
# Empty today: every conversation of every corpus capture agrees. Known ambiguities that do
# NOT show up as differences, for the record:
# - snaplen68_tcp.pcap: frame 1 is a SYN cut inside its options. tshark's innermost view
#   keeps it (its conv tap drops it); we keep it too (ports present -> tcp, SPEC section 5).
# - gre_teb_fragmented.pcap: the outer GRE packets are IPv4 fragments; without reassembly the
#   first fragment is decoded through GRE to the inner packet (as tshark does), the later
#   fragments are bucket fragment keyed on the outer addresses.
EXPECTED_DEVIATIONS: dict[str, dict[str, tuple[tuple[int, int] | None, str]]] = {}

# Captures that are not read at all, with the reason (tshark reads them).
EXPECTED_ERRORS = {
    "broken_zero_length.pcap": (
        "empty file",
        ("tshark/capinfos 4.0 call a 0-byte file an empty ERF capture and exit 0; an empty file is not a "
        "capture of anything, so zvr-audit stops with exit 2 (stricter on purpose)"),
    ),
}


def _ref(name: str) -> dict:
    return json.loads((CORPUS / "refs" / f"{name}.json").read_text())


def _ns(text: str | None) -> int | None:
    return None if text is None else int(Decimal(text) * 1_000_000_000)


def _container_linktypes(container: dict) -> list[str]:
    if container["format"] == "pcap":
        return [linktype_name(container["linktype"])]
    seen: dict[str, None] = {}
    for section in container["sections"]:
        for lt in section.get("idb_linktypes") or [int(k) for k in section["idb_linktype_counts"]]:
            seen[linktype_name(lt)] = None
    return list(seen)


@pytest.mark.parametrize("name", CAPTURES)
def test_capture_agrees_with_tshark(name: str) -> None:
    ref = _ref(name)
    tshark = ref["tshark"]
    path = CORPUS / name
    stream = capture_to_packets([path])
    if name in EXPECTED_ERRORS:
        text, _reason = EXPECTED_ERRORS[name]
        with pytest.raises(CaptureError, match=text) as err:
            list(stream)
        assert f"{path}: byte 0:" in str(err.value)
        assert tshark["exit_code"] == 0 and tshark["packets"] == 0  # what tshark does instead
        return

    batches = list(stream)
    for b in batches:
        b.check()
    info = stream.captures[0]

    # accounting: every packet in exactly one bucket; the same packets as tshark
    assert stream.counts["read"] == sum(stream.counts[k] for k in BUCKET_KEYS)
    assert stream.counts["read"] == info["packets"] == sum(len(b) for b in batches) == tshark["packets"]
    assert info["bytes"] == tshark["total_bytes"]
    assert info["sha256"] == ref["sha256"]
    assert info["format"] == ref["container"]["format"]
    assert sorted(info["link_types"]) == sorted(_container_linktypes(ref["container"]))
    assert stream.counts["unsupported_link"] == 0

    # time: smallest and largest packet time (packets without a time excluded)
    assert info["first_ts_ns"] == _ns(tshark["min_ts"])
    assert info["last_ts_ns"] == _ns(tshark["max_ts"])
    capinfos_first = ref["capinfos"].get("fields", {}).get("First packet time")
    if capinfos_first and info["first_ts"]:
        assert info["first_ts"].replace("T", " ").rstrip("Z").startswith(capinfos_first)

    # conversations: tshark's innermost view (no-reassembly view where fragments exist)
    ours = conversations(batches)
    want = ref_conversations(ref, fragments=tshark["frames_with_ip_fragment_fields"] > 0)
    expected = EXPECTED_DEVIATIONS.get(name, {})
    diff = {k: (ours.get(k), want.get(k)) for k in set(ours) | set(want) if ours.get(k) != want.get(k)}
    unexplained = {k: v for k, v in diff.items() if k not in expected or expected[k][0] != v[0]}
    assert not unexplained, f"conversations differ from tshark (ours, tshark): {unexplained}"

    # ICMP destination-unreachable quoting TCP/UDP, and only those (time-exceeded is not "blocked")
    want_icmp = sorted(
        (q["from"], q["quoted"]["src"], q["quoted"]["dst"], int(q["quoted"]["proto"]),
         q["quoted"]["sport"], q["quoted"]["dport"], int(q["code"]))
        for q in tshark["icmp_errors_quoting"]
        if (q["icmp"], q["type"]) in (("icmp", "3"), ("icmpv6", "1")) and q["quoted"].get("l4") in ("tcp", "udp")
    )
    got_icmp = sorted(
        (addr_to_text(e.reporter_hi[i], e.reporter_lo[i]), addr_to_text(e.src_hi[i], e.src_lo[i]),
         addr_to_text(e.dst_hi[i], e.dst_lo[i]), int(e.proto[i]), int(e.sport[i]), int(e.dport[i]),
         int(e.icmp_code[i]))
        for e in (b.icmp_errors for b in batches) for i in range(len(e))
    )
    assert got_icmp == want_icmp

    # pcapng blocks that carry no packet are skipped and counted
    if ref["container"]["format"] == "pcapng":
        skipped = sum(
            n for s in ref["container"]["sections"] for t, n in s["blocks"].items()
            if t not in ("SHB", "IDB", "EPB", "SPB", "PB(obsolete)")
        )
        assert info["skipped_blocks"] == skipped

    # damaged files: tshark fails after the readable packets; we warn at the same byte
    container = ref["container"]
    broken_at = None
    if "last_record_incomplete" in container:
        broken_at = container["last_record_incomplete"]["offset"]
    elif "last_block_incomplete" in container:
        broken_at = container["last_block_incomplete"]["offset"]
    elif container.get("trailing_bytes"):
        broken_at = ref["size_bytes"] - container["trailing_bytes"]
    if broken_at is None:
        assert stream.warnings == []
        assert tshark["exit_code"] == 0
    else:
        assert tshark["exit_code"] != 0
        assert len(stream.warnings) == 1
        assert stream.warnings[0].startswith(f"{path}: byte {broken_at}: file ends in the middle of a ")
        assert stream.warnings[0].endswith(f"audited the {tshark['packets']} packets before it")
    assert info["first_ts"] == iso_utc(info["first_ts_ns"])

"""The simulator's captures: readable, realistic TCP, deterministic, and
holding the flows each scenario promises (checked on the packets themselves,
independently of the audit engine)."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import pytest
import yaml
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6ND_NA, ICMPv6ND_NS, IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.utils import rdpcap

from auditor.errors import UsageError
from auditor.simulate import SCENARIOS, START_NS, simulate
from auditor.simulate.deployment import single_vcenter, two_site, two_site_ipv6
from auditor.simulate.traffic import STALE_VRA_IP, UNKNOWN_RDP_IP

MOD = 2**32
ALL = list(SCENARIOS)


def read(path: Path):
    return rdpcap(str(path))


def ts_ns(p) -> int:
    # scapy keeps the capture time as an exact decimal of seconds
    return int(p.time * 1_000_000_000)


def after(a: int, b: int) -> bool:
    """a >= b in sequence space (RFC 9293 3.4)."""
    return (a - b) % MOD < 2**31


def net(p):
    """The packet's IP layer, v4 or v6."""
    return p[IP] if IP in p else p[IPv6]


def streams(packets) -> dict[tuple, list]:
    """TCP packets by connection (the simulator never reuses a 5-tuple)."""
    out: dict[tuple, list] = defaultdict(list)
    for p in packets:
        if TCP in p:
            a, b = (net(p).src, p[TCP].sport), (net(p).dst, p[TCP].dport)
            out[tuple(sorted((a, b)))].append(p)
    return out


def tcp_problems(pkts) -> list[str]:
    """Sequence/acknowledgement consistency of one connection, as a
    receiver would check it: every segment starts where the sender's last
    one ended (a retransmitted SYN repeats its ISN), SYN and FIN take one
    number, an ACK never acknowledges what the peer has not sent and never
    goes back, a SYN-ACK acknowledges the SYN, the handshake's last ACK the
    SYN-ACK, every FIN is acknowledged, a RST answering a SYN has seq 0 and
    acknowledges the SYN, no segment exceeds the 1448-byte MSS; a data
    segment may repeat one sent before (a retransmission)."""
    problems = []
    nxt: dict[tuple, int] = {}
    last_ack: dict[tuple, int] = {}
    syn_seq: dict[tuple, int] = {}
    fin_end: dict[tuple, int] = {}
    synack: tuple[tuple, int] | None = None  # (sender, seq) of the SYN-ACK
    sent: dict[tuple, set] = defaultdict(set)  # (seq, length) of every segment
    for i, p in enumerate(pkts):
        me, peer = (net(p).src, p[TCP].sport), (net(p).dst, p[TCP].dport)
        t = p[TCP]
        flags, seq, plen = str(t.flags), t.seq, len(t.payload)
        where = f"packet {i} {me}->{peer} {flags}"
        if plen > 1448:
            problems.append(f"{where}: {plen}-byte segment exceeds the MSS")
        if "R" in flags and peer in syn_seq and me not in nxt:
            # refusal of a SYN (RFC 9293 3.10.7.1)
            if seq != 0 or t.ack != (syn_seq[peer] + 1) % MOD:
                problems.append(f"{where}: RST-ACK seq {seq} ack {t.ack}, SYN seq {syn_seq[peer]}")
            continue
        if "S" in flags and "A" not in flags:
            if me in syn_seq and seq != syn_seq[me]:
                problems.append(f"{where}: retransmitted SYN changed ISN")
            syn_seq[me] = seq
        elif (seq, plen) in sent[me] and plen and not after(seq, nxt[me]):
            continue  # a retransmission of a segment sent before (nothing new)
        elif me in nxt and seq != nxt[me]:
            problems.append(f"{where}: seq {seq}, expected {nxt[me]}")
        sent[me].add((seq, plen))
        if "S" in flags and "A" in flags:
            synack = (me, seq)
            if t.ack != (syn_seq.get(peer, -1) + 1) % MOD:
                problems.append(f"{where}: SYN-ACK does not acknowledge the SYN")
        elif (
            synack
            and synack[0] == peer
            and "A" in flags
            and me not in last_ack
            and t.ack != (synack[1] + 1) % MOD
        ):
            problems.append(f"{where}: handshake ACK {t.ack}, SYN-ACK seq {synack[1]}")
        nxt[me] = (seq + plen + ("S" in flags) + ("F" in flags)) % MOD
        if "F" in flags:
            fin_end[me] = nxt[me]
        if "A" in flags:
            if peer in nxt and not after(nxt[peer], t.ack):
                problems.append(f"{where}: ack {t.ack} beyond what the peer sent ({nxt[peer]})")
            if me in last_ack and not after(t.ack, last_ack[me]):
                problems.append(f"{where}: ack went back from {last_ack[me]} to {t.ack}")
            last_ack[me] = t.ack
    for side, end in fin_end.items():
        other = [s for s in nxt if s != side]
        if other and last_ack.get(other[0]) != end:
            problems.append(f"FIN from {side} never acknowledged")
    return problems


# ------------------------------------------------------------------ every scenario
@pytest.mark.parametrize("scenario", ALL)
def test_capture_reads_back_in_time_order(scenario_files, scenario):
    _, inv = scenario_files(scenario)
    packets = scenario_files.packets(scenario)
    assert len(packets) > 100
    times = [ts_ns(p) for p in packets]
    assert times == sorted(times)
    assert (
        START_NS <= times[0]
        and times[-1] <= START_NS + (SCENARIOS[scenario].plan.duration_s + 1) * 1_000_000_000
    )
    for p in packets:
        assert Ether in p and (IP in p or IPv6 in p or ARP in p), p.summary()
    # the inventory is the SPEC section 3 format the loader accepts
    from auditor.inventory import load_inventory

    inventory = load_inventory(inv)
    dep = SCENARIOS[scenario].deployment()
    assert inventory.name == dep.name
    assert [(h.name, h.role.value, h.site) for h in inventory.hosts] == [
        (h.name, h.role, h.site) for h in dep.hosts
    ]


@pytest.mark.parametrize("scenario", ALL)
def test_tcp_sequence_numbers_are_consistent(scenario_files, scenario):
    conns = streams(scenario_files.packets(scenario))
    assert conns
    problems = {k: tcp_problems(v) for k, v in conns.items()}
    assert {k: v for k, v in problems.items() if v} == {}


def test_checker_catches_a_sequence_gap(scenario_files):
    """The consistency check can fail: drop one data segment of a stream."""
    conns = streams(scenario_files.packets("healthy-two-site"))
    bulk = next(v for k, v in conns.items() if any(port == 4008 for _, port in k))
    data = [i for i, p in enumerate(bulk) if len(p[TCP].payload) == 1448]
    damaged = bulk[: data[3]] + bulk[data[3] + 1 :]
    assert tcp_problems(bulk) == []
    assert any("expected" in m for m in tcp_problems(damaged))


def test_checksums_and_lengths_are_valid(scenario_files):
    for p in scenario_files.packets("demo")[:400]:
        if IP not in p:
            continue
        raw = bytes(p[IP])
        rebuilt = IP(raw)
        del rebuilt.chksum, rebuilt.len
        if TCP in rebuilt:
            del rebuilt[TCP].chksum
        if UDP in rebuilt:
            del rebuilt[UDP].chksum, rebuilt[UDP].len
        assert bytes(rebuilt) == raw, p.summary()


# ------------------------------------------------------------------ determinism, formats, errors
def test_same_seed_same_bytes(scenario_files, tmp_path):
    """Written again in both formats, the session's files come out identical;
    another seed gives other ports and sequence numbers."""
    for suffix in (".pcap", ".pcapng"):
        first_cap, first_inv = scenario_files("4008-stale-vra", suffix)
        again = tmp_path / f"again{suffix}"
        simulate("4008-stale-vra", again, tmp_path / "again.yaml", seed=0)
        assert again.read_bytes() == first_cap.read_bytes()
        assert (tmp_path / "again.yaml").read_bytes() == first_inv.read_bytes()
    other = tmp_path / "seed1.pcapng"
    simulate("4008-stale-vra", other, None, seed=1)
    assert other.read_bytes() != scenario_files("4008-stale-vra")[0].read_bytes()


def test_pcap_and_pcapng_hold_the_same_packets(scenario_files):
    ng, _ = scenario_files("4008-stale-vra", ".pcapng")
    classic, _ = scenario_files("4008-stale-vra", ".pcap")
    assert ng.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    assert classic.read_bytes()[:4] == b"\xd4\xc3\xb2\xa1"  # little-endian, microseconds
    a, b = (
        scenario_files.packets("4008-stale-vra"),
        scenario_files.packets("4008-stale-vra", ".pcap"),
    )
    assert [bytes(p) for p in a] == [bytes(p) for p in b]
    assert [ts_ns(p) for p in a] == [ts_ns(p) for p in b]


def test_unknown_scenario_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match=r"unknown scenario 'x' \(known: healthy-two-site, "):
        simulate("x", tmp_path / "x.pcap", None)
    assert not (tmp_path / "x.pcap").exists()


def test_every_scenario_has_a_one_line_description():
    for name, s in SCENARIOS.items():
        assert s.name == name and s.description and "\n" not in s.description


def test_inventory_matches_spec_example_shape(scenario_files):
    _, inv = scenario_files("healthy-two-site")
    doc = yaml.safe_load(inv.read_text())
    assert doc["name"] == "acme-dr" and doc["profile"] == "zvr-legacy"
    assert doc["sites"] == {"prod": {"peers": ["dr"]}, "dr": {}}
    roles = defaultdict(int)
    for h in doc["hosts"]:
        roles[(h["role"], h["site"])] += 1
    assert roles == {
        ("zvm", "prod"): 1,
        ("vcenter", "prod"): 1,
        ("vba", "prod"): 1,
        ("esxi", "prod"): 2,
        ("vra", "prod"): 2,
        ("zvm", "dr"): 1,
        ("vcenter", "dr"): 1,
        ("vba", "dr"): 1,
        ("esxi", "dr"): 2,
        ("vra", "dr"): 2,
        ("client", "prod"): 1,
    }
    assert {"zcm", "vcd"}.isdisjoint(h["role"] for h in doc["hosts"])  # their rules must not apply


# ------------------------------------------------------------------ the flows each scenario promises
def answered(packets) -> set[tuple[str, str, int]]:
    """(client ip, server ip, server port) of TCP connections that worked:
    a SYN-ACK seen, or data from both sides of a connection seen mid-stream."""
    out = set()
    for pkts in streams(packets).values():
        syn = next((p for p in pkts if str(p[TCP].flags) == "S"), None)
        if syn is not None:
            if any(str(p[TCP].flags) == "SA" for p in pkts):
                out.add((net(syn).src, net(syn).dst, syn[TCP].dport))
            continue
        senders = {(net(p).src, p[TCP].sport) for p in pkts if len(p[TCP].payload)}
        if len(senders) == 2:
            (a, _), (b, pb) = sorted(senders, key=lambda s: -s[1])  # ephemeral side first
            out.add((a, b, pb))
    return out


def names(dep) -> dict[str, str]:
    return {h.addr: h.name for h in dep.hosts}


# Every `each` pair and `some` group of rules/zvr-legacy (SPEC section 4) for
# the two-site deployment: (host, host, port), either direction.
TWO_SITE_EACH = {
    ("zvm-prod", "vc-prod", 443),
    ("zvm-dr", "vc-dr", 443),  # zvm-vcenter
    ("zvm-prod", "vra-prod-1", 4006),
    ("zvm-prod", "vra-prod-2", 4006),  # zvm-vra
    ("zvm-dr", "vra-dr-1", 4006),
    ("zvm-dr", "vra-dr-2", 4006),
    ("zvm-prod", "vba-prod", 4006),
    ("zvm-dr", "vba-dr", 4006),  # zvm-vba
    ("zvm-prod", "vra-prod-1", 4009),
    ("zvm-prod", "vra-prod-2", 4009),  # zvm-vra-checkpoints
    ("zvm-dr", "vra-dr-1", 4009),
    ("zvm-dr", "vra-dr-2", 4009),
    ("zvm-prod", "zvm-dr", 9081),  # zvm-peer
}


def seen_pairs(packets, dep) -> set[tuple[str, str, int]]:
    n = names(dep)
    out = set()
    for c, s, port in answered(packets):
        if c in n and s in n:
            out.add((n[c], n[s], port))
            out.add((n[s], n[c], port))
    return out


def test_healthy_has_every_expected_flow(scenario_files):
    seen = seen_pairs(scenario_files.packets("healthy-two-site"), two_site())
    assert TWO_SITE_EACH - seen == set()
    # `some` rules vra-control (4007) and vra-data (4008) between the sites
    assert any(
        port == 4007 and a.startswith("vra-prod") and b.startswith("vra-dr") for a, b, port in seen
    )
    assert any(
        port == 4008 and a.startswith("vra-prod") and b.startswith("vra-dr") for a, b, port in seen
    )


def test_single_vcenter_zvm_reaches_every_vra(scenario_files):
    seen = seen_pairs(scenario_files.packets("single-vcenter"), single_vcenter())
    for vra in ("vra-main-1", "vra-main-2", "vra-branch-1", "vra-branch-2"):
        assert {("zvm-main", vra, 4006), ("zvm-main", vra, 4009)} <= seen
    assert ("zvm-main", "vc-main", 443) in seen and ("zvm-main", "vba-main", 4006) in seen
    assert ("vra-branch-1", "vra-main-1", 4008) in seen and (
        "vra-main-1",
        "vra-main-2",
        4008,
    ) in seen


def syn_attempts(packets, port: int) -> dict[tuple, list]:
    out: dict[tuple, list] = defaultdict(list)
    for p in packets:
        if TCP in p and p[TCP].dport == port and str(p[TCP].flags) == "S":
            out[(net(p).src, p[TCP].sport, net(p).dst)].append(p)
    return out


def test_blocked_drop_retries_with_exponential_backoff(scenario_files):
    packets = scenario_files.packets("4008-blocked-drop")
    attempts = syn_attempts(packets, 4008)
    assert len(attempts) >= 4
    for syns in attempts.values():
        gaps = [ts_ns(b) - ts_ns(a) for a, b in pairwise(syns)]
        assert gaps == [1_000_000_000, 2_000_000_000, 4_000_000_000][: len(gaps)] and len(gaps) >= 2
    # nothing ever answers 4008; 4007 between the same VRAs still works
    assert not any(TCP in p and p[TCP].sport == 4008 for p in packets)
    seen = seen_pairs(packets, two_site())
    assert ("vra-prod-1", "vra-dr-1", 4007) in seen and not any(port == 4008 for *_, port in seen)
    assert {(s, d) for s, _, d in attempts} == {
        ("10.10.2.11", "10.20.2.11"),
        ("10.10.2.12", "10.20.2.12"),
    }


def test_refused_is_answered_by_rst_ack(scenario_files):
    packets = scenario_files.packets("4008-refused")
    rsts = [p for p in packets if TCP in p and p[TCP].sport == 4008]
    assert rsts and all(str(p[TCP].flags) == "RA" for p in rsts)
    assert len(rsts) == sum(len(v) for v in syn_attempts(packets, 4008).values())


def test_prohibited_icmp_quotes_the_syn(scenario_files):
    packets = scenario_files.packets("4008-icmp-prohibited")
    icmps = [p for p in packets if ICMP in p]
    assert icmps
    syns = {
        (p[IP].src, p[TCP].sport, p[IP].dst): p
        for p in packets
        if TCP in p and p[TCP].dport == 4008
    }
    for p in icmps:
        assert (p[ICMP].type, p[ICMP].code) == (3, 13)
        quoted = p[ICMP].payload  # scapy decodes the quote as IPerror/TCPerror
        key = (quoted.src, quoted.payload.sport, quoted.dst)
        assert key in syns and quoted.payload.dport == 4008
        assert quoted.payload.seq == syns[key][TCP].seq


def test_stale_vra_goes_to_the_old_address(scenario_files):
    packets = scenario_files.packets("4008-stale-vra")
    attempts = syn_attempts(packets, 4008)
    assert {(s, d) for s, _, d in attempts if d == STALE_VRA_IP} == {("10.10.2.11", STALE_VRA_IP)}
    assert not any(IP in p and p[IP].src == STALE_VRA_IP for p in packets)
    seen = seen_pairs(packets, two_site())
    assert ("vra-prod-2", "vra-dr-2", 4008) in seen and ("vra-prod-1", "vra-dr-1", 4008) not in seen


def test_9081_missing_and_blocked(scenario_files):
    assert not any(
        TCP in p and 9081 in (p[TCP].sport, p[TCP].dport)
        for p in scenario_files.packets("9081-missing")
    )
    packets = scenario_files.packets("9081-blocked")
    attempts = syn_attempts(packets, 9081)
    assert {(s, d) for s, _, d in attempts} == {
        ("10.10.0.10", "10.20.0.10"),
        ("10.20.0.10", "10.10.0.10"),
    }
    assert not any(TCP in p and p[TCP].sport == 9081 for p in packets)


def test_fault_flows_that_are_added(scenario_files):
    conns = answered(scenario_files.packets("vcenter-reversed"))
    assert ("10.10.0.5", "10.10.0.10", 443) in conns and ("10.10.0.10", "10.10.0.5", 443) in conns
    assert (UNKNOWN_RDP_IP, "10.10.0.10", 3389) in answered(scenario_files.packets("rdp-unknown"))


def test_vba_missing_has_no_4006_to_the_dr_vba(scenario_files):
    packets = scenario_files.packets("vba-missing")
    assert not any(
        TCP in p and "10.20.0.20" in (p[IP].src, p[IP].dst) and 4006 in (p[TCP].sport, p[TCP].dport)
        for p in packets
    )
    assert any(UDP in p and p[IP].src == "10.20.0.20" for p in packets)  # but it is seen (DNS, NTP)
    assert ("10.20.0.20", "10.20.0.10", 9180) in answered(packets)  # and its own 9180 still works


def test_one_site_capture_sees_only_prod(scenario_files):
    packets = scenario_files.packets("one-site-capture")
    for p in packets:
        ends = (p[IP].src, p[IP].dst) if IP in p else (p[ARP].psrc, p[ARP].pdst)
        assert any(e.startswith("10.10.") for e in ends), p.summary()
    seen = seen_pairs(packets, two_site())
    assert ("zvm-prod", "zvm-dr", 9081) in seen and ("vra-prod-1", "vra-dr-1", 4008) in seen
    assert not any(a.endswith("-dr") and b.endswith("-dr") for a, b, _ in seen)


def test_bulk_data_uses_full_segments(scenario_files):
    packets = scenario_files.packets("healthy-two-site")
    sizes = [
        len(p[TCP].payload)
        for p in packets
        if TCP in p and p[TCP].dport == 4008 and len(p[TCP].payload)
    ]
    assert sizes.count(1448) > len(sizes) // 2
    frame = next(p for p in packets if TCP in p and len(p[TCP].payload) == 1448)
    assert len(frame) == 1514  # Ethernet + IPv4 + TCP with timestamps + 1448


def test_unwritable_output_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match=r"missing/x\.pcap: cannot write"):
        simulate("healthy-two-site", tmp_path / "missing" / "x.pcap", None)
    with pytest.raises(UsageError, match=r"missing/inv\.yaml: cannot write"):
        simulate("rdp-unknown", tmp_path / "x.pcap", tmp_path / "missing" / "inv.yaml")


@pytest.mark.parametrize("seed", [3, 4])
def test_tcp_consistent_for_other_seeds(seed):
    """ISNs near the 2**32 wrap, other ports and timings: still consistent."""
    from scapy.layers.l2 import Ether as _Ether

    from auditor.simulate import scenario_frames

    _, frames = scenario_frames("healthy-two-site", seed=seed)
    packets = [_Ether(f.data) for f in frames]
    problems = {k: tcp_problems(v) for k, v in streams(packets).items()}
    assert {k: v for k, v in problems.items() if v} == {}


def test_ipv6_deployment_is_ipv6_only(scenario_files):
    packets = scenario_files.packets("healthy-ipv6")
    assert not any(IP in p or ARP in p for p in packets)
    assert any(ICMPv6ND_NS in p for p in packets) and any(ICMPv6ND_NA in p for p in packets)
    seen = seen_pairs(packets, two_site_ipv6())
    assert TWO_SITE_EACH - seen == set()
    assert ("vra-prod-1", "vra-dr-1", 4008) in seen


def test_icmpv6_prohibited_quotes_the_syn(scenario_files):
    packets = scenario_files.packets("ipv6-4008-prohibited")
    errors = [p for p in packets if ICMPv6DestUnreach in p]
    syns = syn_attempts(packets, 4008)
    assert errors and len(errors) == sum(len(v) for v in syns.values())
    for p in errors:
        assert p[ICMPv6DestUnreach].code == 1  # communication administratively prohibited
        quoted = p[ICMPv6DestUnreach].payload  # IPerror6 / TCPerror
        assert (quoted.src, quoted.payload.sport, quoted.dst) in syns


def test_trunk_capture_tags_each_site(scenario_files):
    packets = scenario_files.packets("healthy-vlan-trunk")
    assert all(Dot1Q in p for p in packets)
    for p in packets:
        if IP in p and p[IP].src.startswith("10.20.") and p[IP].dst.startswith("10.20."):
            assert p[Dot1Q].vlan == 120
        if IP in p and p[IP].src.startswith("10.10.") and p[IP].dst.startswith("10.10."):
            assert p[Dot1Q].vlan == 110
    plain = scenario_files.packets("healthy-two-site")
    assert len(packets) > 100 and len(plain) > 100


def test_vra_install_talks_to_the_esxi_host(scenario_files):
    packets = scenario_files.packets("vra-install")
    conns = answered(packets)
    assert ("10.20.0.10", "10.20.1.12", 22) in conns and ("10.20.0.10", "10.20.1.12", 443) in conns
    assert ("10.10.0.10", "10.10.2.11", 4005) in conns
    ssh = [p for p in packets if TCP in p and 22 in (p[TCP].sport, p[TCP].dport) and p[TCP].payload]
    assert ssh[0][TCP].sport == 22  # the SSH server speaks first (RFC 4253 4.2)


@pytest.mark.parametrize("suffix", [".pcap.gz", ".pcapng.gz", ".pcap.bz2", ".pcapng.xz"])
def test_compressed_output_holds_the_plain_capture(scenario_files, tmp_path, suffix):
    import bz2
    import gzip
    import lzma

    out = tmp_path / f"x{suffix}"
    simulate("4008-stale-vra", out, None)
    plain = scenario_files("4008-stale-vra", ".pcapng" if ".pcapng" in suffix else ".pcap")[0]
    unpack = {".gz": gzip.decompress, ".bz2": bz2.decompress, ".xz": lzma.decompress}[out.suffix]
    assert unpack(out.read_bytes()) == plain.read_bytes()
    again = tmp_path / f"again{suffix}"
    simulate("4008-stale-vra", again, None)
    assert again.read_bytes() == out.read_bytes()  # gzip header without name or time
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, again.name])


def test_stream_cut_retransmits_with_backoff_then_resets(scenario_files):
    packets = scenario_files.packets("4008-stream-cut")
    conns = streams(packets)
    (key,) = [k for k, v in conns.items() if any(str(p[TCP].flags) == "RA" for p in v)]
    stream = conns[key]
    assert ("10.20.2.12", 4008) in key
    data = [p for p in stream if len(p[TCP].payload) and p[TCP].dport == 4008]
    seqs = [p[TCP].seq for p in data]
    retransmits = [p for i, p in enumerate(data) if p[TCP].seq in seqs[:i]]
    assert len(retransmits) == 6  # the first unacknowledged segment, again and again
    assert len({p[TCP].seq for p in retransmits}) == 1
    gaps = [ts_ns(b) - ts_ns(a) for a, b in pairwise(retransmits)]
    assert gaps == [400_000_000, 800_000_000, 1_600_000_000, 3_200_000_000, 6_400_000_000]
    last_ack = max(ts_ns(p) for p in stream if p[TCP].sport == 4008)
    assert last_ack < ts_ns(retransmits[0])  # nothing from the server after the cut
    assert str(stream[-1][TCP].flags) == "RA" and stream[-1][TCP].sport != 4008
    # then reconnection attempts, never answered
    attempts = syn_attempts(packets, 4008)
    late = [k for k, syns in attempts.items() if ts_ns(syns[0]) > ts_ns(stream[-1])]
    assert late and all(k[2] == "10.20.2.12" for k in late)

"""Generate a ZVR-like classic pcap for the benchmark, with numpy, in seconds.

The capture is what a SPAN port between two ZVR sites would show (Ethernet,
IPv4, a few 802.1Q tags):

- bulk replication: long-lived TCP 4008 connections between the VRAs of the
  two sites, full-size segments (1514-byte frames) two to an ACK; one of them
  is already running when the capture starts (no handshake seen);
- steady control: VRA-VRA 4007, ZVM-ZVM 9081, long-lived;
- many short control connections with handshake and FIN teardown: ZVM to
  vCenter 443, ZVM to VRA 4006/4009, admin GUI to the ZVM 9669;
- failed attempts: SYNs with no answer (4008 to a stale recovery-VRA address),
  refusals answered by RST;
- DNS and NTP over UDP;
- the recovery site's ZVM-vCenter traffic tagged 802.1Q VLAN 20.

The whole packet plan (one numpy array per header field) is built first,
sorted by time, then serialised block by block: each block's headers are
assembled as one 2-D uint8 array and scattered into a zeroed buffer that is
written with one call. Payload bytes are zeros; lengths, ports, flags,
sequence numbers and IPv4 header checksums are real.

    python3 -m benchmarks.generate --packets 2000000 --out benchmarks/data/zvr.pcap

also writes the matching inventory (SPEC section 3) beside the capture.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_PACKETS = 2_000_000
DEFAULT_SEED = 20261126
DEFAULT_DURATION_S = 300.0
# 2026-03-01T02:00:00Z: the capture's first second.
EPOCH_START_NS = 1_772_330_400 * 1_000_000_000

ETH_MIN_FRAME = 60  # frames shorter than this are padded on the wire (no FCS in captures)
MSS = 1460  # full-size segment: 14 + 20 + 20 + 1460 = 1514-byte frame
BLOCK_PACKETS = 131_072

# TCP flags
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
PA = PSH | ACK
TCP, UDP = 6, 17

PCAP_MAGIC_US = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1


# --------------------------------------------------------------------------
# The benchmark deployment: two paired sites, four VRAs each.
@dataclass(frozen=True)
class BenchHost:
    name: str
    role: str
    site: str
    ip: str
    esxi: str | None = None


def benchmark_hosts(vras_per_site: int = 4) -> list[BenchHost]:
    hosts: list[BenchHost] = []
    for site, net in (("prod", 10), ("dr", 20)):
        hosts.append(BenchHost(f"zvm-{site}", "zvm", site, f"10.{net}.0.10"))
        hosts.append(BenchHost(f"vc-{site}", "vcenter", site, f"10.{net}.0.5"))
        for i in range(1, vras_per_site + 1):
            hosts.append(BenchHost(f"esx-{site}-{i}", "esxi", site, f"10.{net}.1.{10 + i}"))
        for i in range(1, vras_per_site + 1):
            hosts.append(
                BenchHost(f"vra-{site}-{i}", "vra", site, f"10.{net}.2.{10 + i}", f"esx-{site}-{i}")
            )
        hosts.append(BenchHost(f"admins-{site}", "client", site, f"10.{net}.9.0/24"))
    return hosts


def inventory_yaml(hosts: list[BenchHost]) -> str:
    lines = [
        "# Inventory of the hosts in the generated benchmark capture (benchmarks/generate.py).",
        "# DNS (10.x.0.2), NTP (10.x.0.3) and the stale address 10.20.2.99 are deliberately",
        "# not listed.",
        "name: zvr-benchmark",
        "profile: zvr-legacy",
        "sites:",
        "  prod: {peers: [dr]}",
        "  dr: {}",
        "hosts:",
    ]
    for h in hosts:
        esxi = f", esxi: {h.esxi}" if h.esxi else ""
        lines.append(f"  - {{name: {h.name}, role: {h.role}, site: {h.site}, ip: {h.ip}{esxi}}}")
    return "\n".join(lines) + "\n"


def _ip(text: str) -> int:
    a, b, c, d = (int(x) for x in text.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


# --------------------------------------------------------------------------
# Connection templates: head, body (repeated to fill), tail; each packet is
# (direction 0 = client to server / 1 = server to client, TCP flags, payload bytes).
@dataclass(frozen=True)
class Template:
    head: tuple[tuple[int, int, int], ...]
    body: tuple[tuple[int, int, int], ...]
    tail: tuple[tuple[int, int, int], ...] = ()


HANDSHAKE = ((0, SYN, 0), (1, SYN | ACK, 0), (0, ACK, 0))
FIN_TEARDOWN = ((0, FIN | ACK, 0), (1, FIN | ACK, 0), (0, ACK, 0))

BULK = Template(HANDSHAKE, ((0, ACK, MSS), (0, PA, MSS), (1, ACK, 0)), FIN_TEARDOWN)
BULK_MIDSTREAM = Template((), BULK.body, FIN_TEARDOWN)
VRA_CONTROL = Template(HANDSHAKE, ((0, PA, 180), (1, PA, 96), (0, ACK, 0)), FIN_TEARDOWN)
ZVM_PEER = Template(HANDSHAKE, ((0, PA, 320), (1, PA, 900), (0, ACK, 0), (1, PA, 240)), FIN_TEARDOWN)
HTTPS_SHORT = Template(
    HANDSHAKE,
    ((0, PA, 517), (1, ACK, MSS), (1, PA, 1200), (0, ACK, 0), (0, PA, 126), (1, PA, 51)),
    FIN_TEARDOWN,
)
RPC_SHORT = Template(HANDSHAKE, ((0, PA, 240), (1, PA, 64), (0, ACK, 0)), FIN_TEARDOWN)
SYN_NO_ANSWER = Template(((0, SYN, 0),), ((0, SYN, 0),))
SYN_REFUSED = Template(((0, SYN, 0), (1, RST | ACK, 0)), ())
DNS = Template(((0, 0, 44), (1, 0, 140)), ())
NTP = Template(((0, 0, 48), (1, 0, 48)), ())


@dataclass
class ConnSet:
    """Connections of one template, one entry per connection."""

    template: Template
    client: np.ndarray  # uint32 IPv4
    server: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    proto: int
    start_ns: np.ndarray
    dur_ns: np.ndarray
    n_packets: np.ndarray
    vlan: np.ndarray  # 0: untagged, else the 802.1Q VLAN id

    def __len__(self) -> int:
        return len(self.client)


PLAN_FIELDS = ("ts_ns", "src", "dst", "sport", "dport", "proto", "flags", "payload", "vlan", "seq", "ack")


def _expand(cs: ConnSet, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One row per packet of every connection in ``cs`` (grouped by connection)."""
    t = cs.template
    tmpl = np.array(t.head + t.body + t.tail, dtype=np.int64).reshape(-1, 3)
    h, period, tl = len(t.head), len(t.body), len(t.tail)
    n = cs.n_packets.astype(np.int64)
    if period == 0 and np.any(n != h + tl):
        raise ValueError("a template without body has a fixed packet count")
    total = int(n.sum())
    conn = np.repeat(np.arange(len(cs)), n)
    first = np.cumsum(n) - n
    pos = np.arange(total) - np.repeat(first, n)
    n_rep = n[conn]
    in_tail = pos >= n_rep - tl
    idx = np.where(pos < h, pos, h + (pos - h) % max(period, 1))
    idx = np.where(in_tail, h + period + (pos - (n_rep - tl)), idx)
    direction, flags, payload = tmpl[idx, 0], tmpl[idx, 1], tmpl[idx, 2]

    # Times: evenly spread over the connection, jittered by less than a step so
    # the order inside a connection holds.
    step = cs.dur_ns // np.maximum(n - 1, 1)
    jitter = (rng.random(total) * 0.4 * step[conn]).astype(np.int64)
    ts = cs.start_ns[conn] + pos * step[conn] + jitter

    # Sequence numbers: SYN and FIN take one, payload its length (RFC 9293).
    is_tcp = cs.proto == TCP
    contrib = (payload + ((flags & SYN) > 0) + ((flags & FIN) > 0)).astype(np.int64)
    isn = rng.integers(0, 2**32, size=(len(cs), 2), dtype=np.int64)
    sent = []
    for d in (0, 1):
        mine = np.where(direction == d, contrib, 0)
        cs_incl = np.cumsum(mine)
        base = (cs_incl - mine)[first]
        sent.append(cs_incl - np.repeat(base, n))  # inclusive, within the connection
    excl = [sent[d] - np.where(direction == d, contrib, 0) for d in (0, 1)]
    seq = np.where(direction == 0, isn[conn, 0] + excl[0], isn[conn, 1] + excl[1])
    ack = np.where(direction == 0, isn[conn, 1] + sent[1], isn[conn, 0] + sent[0])
    ack = np.where((flags & ACK) > 0, ack, 0)

    c2s = direction == 0
    return {
        "ts_ns": ts,
        "src": np.where(c2s, cs.client[conn], cs.server[conn]).astype(np.uint32),
        "dst": np.where(c2s, cs.server[conn], cs.client[conn]).astype(np.uint32),
        "sport": np.where(c2s, cs.sport[conn], cs.dport[conn]).astype(np.uint16),
        "dport": np.where(c2s, cs.dport[conn], cs.sport[conn]).astype(np.uint16),
        "proto": np.full(total, cs.proto, np.uint8),
        "flags": (flags if is_tcp else np.zeros(total, np.int64)).astype(np.uint8),
        "payload": payload.astype(np.uint16),
        "vlan": cs.vlan[conn].astype(np.uint16),
        "seq": (seq % 2**32 if is_tcp else np.zeros(total, np.int64)).astype(np.uint32),
        "ack": (ack % 2**32 if is_tcp else np.zeros(total, np.int64)).astype(np.uint32),
    }


def _ephemeral(count: int, rng: np.random.Generator) -> np.ndarray:
    """Linux's ephemeral range 32768-60999, handed out in turn from a random start."""
    start = int(rng.integers(0, 28232))
    return (32768 + (start + np.arange(count)) % 28232).astype(np.int64)


def _pairs_conns(
    template: Template,
    pairs: list[tuple[int, int]],
    dport: int,
    budget: int,
    per_conn: int,
    duration_ns: int,
    rng: np.random.Generator,
    *,
    proto: int = TCP,
    conn_dur_ns: tuple[float, float] = (20e6, 400e6),
    vlan_of: dict[int, int] | None = None,
    fixed_sport: int | None = None,
) -> ConnSet:
    """Short connections of ``per_conn`` packets, round-robin over ``pairs``,
    about ``budget`` packets in all, at uniformly random times."""
    count = max(len(pairs), budget // per_conn)
    pair_idx = np.arange(count) % len(pairs)
    client = np.array([p[0] for p in pairs], np.int64)[pair_idx]
    server = np.array([p[1] for p in pairs], np.int64)[pair_idx]
    dur = rng.uniform(*conn_dur_ns, size=count).astype(np.int64)
    start = (rng.random(count) * (duration_ns - dur)).astype(np.int64)
    # Ports per pair in start order, so each pair's ports go up with time.
    sport = np.empty(count, np.int64)
    order = np.lexsort((start, pair_idx))
    for p in range(len(pairs)):
        members = order[pair_idx[order] == p]
        sport[members] = fixed_sport if fixed_sport else _ephemeral(len(members), rng)
    vlan = np.zeros(count, np.int64)
    if vlan_of:
        for ip, tag in vlan_of.items():
            vlan[(client == ip) | (server == ip)] = tag
    return ConnSet(
        template, client, server, sport, np.full(count, dport), proto, start, dur,
        np.full(count, per_conn), vlan,
    )


def _long_conns(
    template: Template,
    pairs: list[tuple[int, int]],
    dport: int,
    budget: int,
    duration_ns: int,
    rng: np.random.Generator,
) -> ConnSet:
    """One connection per pair spanning the whole capture, ``budget`` packets in all."""
    k = len(pairs)
    fixed = len(template.head) + len(template.tail)
    n = np.full(k, max(budget // k, fixed + len(template.body)), np.int64)
    n[: max(budget - int(n.sum()), 0)] += 1
    start = rng.integers(0, 200_000_000, size=k)  # within the first 0.2 s
    dur = duration_ns - start - rng.integers(0, 200_000_000, size=k)
    return ConnSet(
        template,
        np.array([p[0] for p in pairs], np.int64),
        np.array([p[1] for p in pairs], np.int64),
        _ephemeral(k, rng),
        np.full(k, dport),
        TCP,
        start,
        dur,
        n,
        np.zeros(k, np.int64),
    )


def build_plan(packets: int, seed: int = DEFAULT_SEED, duration_s: float = DEFAULT_DURATION_S) -> dict[str, np.ndarray]:
    """Per-packet header fields of the whole capture, sorted by time; exactly
    ``packets`` rows."""
    if packets < 1000:
        raise ValueError(f"--packets must be at least 1000 (got {packets})")
    rng = np.random.default_rng(seed)
    D = int(duration_s * 1e9)
    ip = {h.name: _ip(h.ip) for h in benchmark_hosts() if "/" not in h.ip}
    vras = {s: [ip[f"vra-{s}-{i}"] for i in range(1, 5)] for s in ("prod", "dr")}
    zvm = {s: ip[f"zvm-{s}"] for s in ("prod", "dr")}
    vc = {s: ip[f"vc-{s}"] for s in ("prod", "dr")}
    esx = {s: [ip[f"esx-{s}-{i}"] for i in range(1, 5)] for s in ("prod", "dr")}
    dns = {"prod": _ip("10.10.0.2"), "dr": _ip("10.20.0.2")}
    ntp = {"prod": _ip("10.10.0.3"), "dr": _ip("10.20.0.3")}
    admins = [_ip(f"10.10.9.{i}") for i in (21, 22, 23)]
    stale_vra = _ip("10.20.2.99")
    vra_pairs = list(zip(vras["prod"], vras["dr"]))
    share = lambda f: int(packets * f)

    sets: list[ConnSet] = [
        _long_conns(VRA_CONTROL, vra_pairs, 4007, share(0.03), D, rng),
        _long_conns(ZVM_PEER, [(zvm["prod"], zvm["dr"]), (zvm["dr"], zvm["prod"])], 9081, share(0.02), D, rng),
    ]
    for s in ("prod", "dr"):
        vlan = {vc["dr"]: 20} if s == "dr" else None
        sets.append(_pairs_conns(HTTPS_SHORT, [(zvm[s], vc[s])], 443, share(0.02), 12, D, rng, vlan_of=vlan))
        zvm_vra = [(zvm[s], v) for v in vras[s]]
        sets.append(_pairs_conns(RPC_SHORT, zvm_vra, 4006, share(0.01), 9, D, rng))
        sets.append(_pairs_conns(RPC_SHORT, zvm_vra, 4009, share(0.01), 9, D, rng))
        infra = [zvm[s], vc[s], *esx[s], *vras[s]]
        sets.append(_pairs_conns(DNS, [(h, dns[s]) for h in infra], 53, share(0.0075), 2, D, rng,
                                 proto=UDP, conn_dur_ns=(2e5, 2e6)))
        sets.append(_pairs_conns(NTP, [(h, ntp[s]) for h in (zvm[s], *esx[s])], 123, share(0.0025), 2, D,
                                 rng, proto=UDP, conn_dur_ns=(2e5, 2e6), fixed_sport=123))
    sets.append(_pairs_conns(HTTPS_SHORT, [(a, zvm["prod"]) for a in admins], 9669, share(0.01), 12, D, rng))
    # Failed attempts: a protected VRA keeps trying the recovery VRA's old
    # address (3 SYNs over 3 s, no answer); the recovery ZVM is refused on 4009.
    sets.append(_pairs_conns(SYN_NO_ANSWER, [(vras["prod"][0], stale_vra)], 4008, share(0.003), 3, D,
                             rng, conn_dur_ns=(3e9, 3e9 + 1)))
    sets.append(_pairs_conns(SYN_REFUSED, [(zvm["dr"], vras["dr"][1])], 4009, share(0.002), 2, D, rng,
                             conn_dur_ns=(1e5, 5e5)))

    used = sum(int(cs.n_packets.sum()) for cs in sets)
    bulk_budget = packets - used
    # Bulk 4008: each protected VRA to its recovery VRA, plus two streams the
    # other way (reverse protection); the first is already running when the
    # capture starts, so its handshake is not in it.
    bulk_pairs = vra_pairs + [(d, p) for p, d in vra_pairs[:2]]
    mid_budget = bulk_budget // len(bulk_pairs)
    if mid_budget < 3 * (len(BULK.head) + len(BULK.body) + len(BULK.tail)):
        raise ValueError(f"--packets {packets} is too small for the bulk flows")
    mid = _long_conns(BULK_MIDSTREAM, bulk_pairs[:1], 4008, mid_budget, D, rng)
    mid.start_ns[:] = 0
    mid.dur_ns[:] = D - 100_000_000
    sets.append(mid)
    sets.append(_long_conns(BULK, bulk_pairs[1:], 4008, bulk_budget - mid_budget, D, rng))

    parts = [_expand(cs, rng) for cs in sets]
    plan = {f: np.concatenate([p[f] for p in parts]) for f in PLAN_FIELDS}
    if len(plan["ts_ns"]) != packets:
        raise AssertionError(f"plan has {len(plan['ts_ns'])} packets, wanted {packets}")
    order = np.argsort(plan["ts_ns"], kind="stable")
    plan = {f: a[order] for f, a in plan.items()}
    plan["ts_ns"] = plan["ts_ns"] + EPOCH_START_NS
    return plan


# --------------------------------------------------------------------------
# Serialisation
def frame_lengths(plan: dict[str, np.ndarray]) -> np.ndarray:
    l4 = np.where(plan["proto"] == TCP, 20, 8)
    frame = 14 + 4 * (plan["vlan"] > 0) + 20 + l4 + plan["payload"].astype(np.int64)
    return np.maximum(frame, ETH_MIN_FRAME)


def _be(a: np.ndarray, width: int) -> np.ndarray:
    """Big-endian bytes of ``a`` as an (n, width) uint8 array."""
    return a.astype(f">u{width}").view(np.uint8).reshape(-1, width)


def _le(a: np.ndarray, width: int) -> np.ndarray:
    return a.astype(f"<u{width}").view(np.uint8).reshape(-1, width)


def _mac(ip: np.ndarray) -> np.ndarray:
    """02:00:a:b:c:d, a locally administered MAC derived from the address."""
    out = np.zeros((len(ip), 6), np.uint8)
    out[:, 0] = 2
    out[:, 2:] = _be(ip, 4)
    return out


def _ipv4_checksum(words: list[np.ndarray]) -> np.ndarray:
    s = np.zeros(len(words[0]), np.uint32)
    for w in words:
        s += w.astype(np.uint32)
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return (~s & 0xFFFF).astype(np.uint16)


HEADER_WIDTH = 16 + 18 + 20 + 20  # record header, Ethernet + one tag, IPv4, TCP


def _block_bytes(plan: dict[str, np.ndarray], lo: int, hi: int, snaplen: int) -> np.ndarray:
    """Records ``lo:hi`` of the plan as one buffer (record headers included)."""
    p = {f: a[lo:hi] for f, a in plan.items()}
    n = hi - lo
    tcp = p["proto"] == TCP
    tagged = p["vlan"] > 0
    frame = frame_lengths(p)
    incl = np.minimum(frame, snaplen)
    l4_len = np.where(tcp, 20, 8)
    ip_len = 20 + l4_len + p["payload"]
    ip_id = ((np.arange(lo, hi) * 7) & 0xFFFF).astype(np.uint16)
    frag = np.where(tcp, 0x4000, 0).astype(np.uint16)  # DF on TCP
    ttl_proto = ((64 << 8) | p["proto"].astype(np.uint16)).astype(np.uint16)
    src, dst = p["src"], p["dst"]
    cksum = _ipv4_checksum(
        [np.full(n, 0x4500, np.uint16), ip_len, ip_id, frag, ttl_proto,
         src >> 16, src & 0xFFFF, dst >> 16, dst & 0xFFFF]
    )
    ts_us = p["ts_ns"] // 1000

    # Untagged layout (70 bytes) first; tagged rows get 4 bytes inserted at 28.
    h = np.zeros((n, 70), np.uint8)
    h[:, 0:4] = _le(ts_us // 1_000_000, 4)
    h[:, 4:8] = _le(ts_us % 1_000_000, 4)
    h[:, 8:12] = _le(incl, 4)
    h[:, 12:16] = _le(frame, 4)
    h[:, 16:22] = _mac(dst)
    h[:, 22:28] = _mac(src)
    h[:, 28:30] = (0x08, 0x00)
    h[:, 30] = 0x45
    h[:, 32:34] = _be(ip_len, 2)
    h[:, 34:36] = _be(ip_id, 2)
    h[:, 36:38] = _be(frag, 2)
    h[:, 38:40] = _be(ttl_proto, 2)
    h[:, 40:42] = _be(cksum, 2)
    h[:, 42:46] = _be(src, 4)
    h[:, 46:50] = _be(dst, 4)
    h[:, 50:52] = _be(p["sport"], 2)
    h[:, 52:54] = _be(p["dport"], 2)
    t = np.flatnonzero(tcp)
    h[t, 54:58] = _be(p["seq"][t], 4)
    h[t, 58:62] = _be(p["ack"][t], 4)
    h[t, 62] = 0x50  # data offset 5 words
    h[t, 63] = p["flags"][t]
    h[t, 64:66] = (0xFA, 0xF0)  # window 64240
    u = np.flatnonzero(~tcp)
    h[u, 54:56] = _be(8 + p["payload"][u], 2)  # UDP length; checksum 0 = none (IPv4)

    hdr = np.zeros((n, HEADER_WIDTH), np.uint8)
    hdr[:, :70] = h
    v = np.flatnonzero(tagged)
    if len(v):
        hdr[v, 28:30] = (0x81, 0x00)
        hdr[v, 30:32] = _be(p["vlan"][v], 2)  # PCP 0, DEI 0, VLAN id
        hdr[v, 32:74] = h[v, 28:70]
    hdr_len = 16 + 14 + 4 * tagged + 20 + l4_len
    write_len = np.minimum(hdr_len, 16 + incl)

    rec_len = 16 + incl
    rec_off = np.cumsum(rec_len) - rec_len
    buf = np.zeros(int(rec_len.sum()), np.uint8)
    cols = np.arange(HEADER_WIDTH)
    mask = cols[None, :] < write_len[:, None]
    buf[(rec_off[:, None] + cols[None, :])[mask]] = hdr[mask]
    return buf


def pcap_global_header(snaplen: int) -> bytes:
    return np.array(
        [(PCAP_MAGIC_US, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET)],
        dtype=[("m", "<u4"), ("maj", "<u2"), ("min", "<u2"), ("tz", "<i4"), ("sig", "<u4"),
               ("snap", "<u4"), ("lt", "<u4")],
    ).tobytes()


@dataclass
class Generated:
    path: Path
    packets: int
    file_bytes: int
    wire_bytes: int
    cut_path: Path | None
    cut_packets: int
    cut_file_bytes: int
    inventory_path: Path | None


def write_capture(
    out: Path,
    packets: int = DEFAULT_PACKETS,
    *,
    snaplen: int = 65535,
    seed: int = DEFAULT_SEED,
    duration_s: float = DEFAULT_DURATION_S,
    cut: int = 0,
    cut_out: Path | None = None,
    inventory_out: Path | None = None,
) -> Generated:
    """Write the capture (and the first ``cut`` records to ``cut_out``, and the
    inventory to ``inventory_out``) and say what was written."""
    plan = build_plan(packets, seed, duration_s)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    head = pcap_global_header(snaplen)
    if cut and cut_out is None:
        cut_out = out.with_name(f"{out.stem}.cut{cut}{out.suffix}")
    cut_n = min(cut, packets) if cut else 0
    file_bytes = len(head)
    cut_bytes = 0
    # Block edges, with one at the end of the cut so the cut file gets whole blocks.
    edges = sorted(set(range(0, packets, BLOCK_PACKETS)) | {packets} | ({cut_n} if cut_n else set()))
    with contextlib.ExitStack() as stack:
        f = stack.enter_context(open(out, "wb"))
        cut_file = stack.enter_context(open(cut_out, "wb")) if cut_n and cut_out else None
        f.write(head)
        if cut_file:
            cut_file.write(head)
            cut_bytes = len(head)
        for lo, hi in itertools.pairwise(edges):
            buf = _block_bytes(plan, lo, hi, snaplen)
            f.write(buf.data)
            file_bytes += buf.nbytes
            if cut_file and hi <= cut_n:
                cut_file.write(buf.data)
                cut_bytes += buf.nbytes
    if inventory_out:
        Path(inventory_out).write_text(inventory_yaml(benchmark_hosts()))
    return Generated(
        out, packets, file_bytes, int(frame_lengths(plan).sum()),
        cut_out if cut_n else None, cut_n, cut_bytes, Path(inventory_out) if inventory_out else None,
    )


def mean_record_bytes(seed: int = DEFAULT_SEED, snaplen: int = 65535) -> float:
    """Bytes per record of the generated mix (to size a capture in bytes)."""
    plan = build_plan(200_000, seed)
    return 16 + float(np.minimum(frame_lengths(plan), snaplen).mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m benchmarks.generate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=DEFAULT_PACKETS)
    ap.add_argument("--snaplen", type=int, default=65535, help="cut records to this many bytes (orig len kept)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/data/zvr.pcap"))
    ap.add_argument("--cut", type=int, default=0, help="also write the first N records to OUT-stem.cutN.pcap")
    ap.add_argument("--inventory", type=Path, default=None,
                    help="inventory YAML to write (default: OUT-stem.inventory.yaml)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--duration", type=float, default=DEFAULT_DURATION_S, help="seconds the capture spans")
    args = ap.parse_args(argv)
    if not 60 <= args.snaplen <= 262144:
        ap.error(f"--snaplen must be between 60 and 262144 (got {args.snaplen})")
    inv = args.inventory or args.out.with_name(f"{args.out.stem}.inventory.yaml")
    try:
        g = write_capture(args.out, args.packets, snaplen=args.snaplen, seed=args.seed,
                          duration_s=args.duration, cut=args.cut, inventory_out=inv)
    except ValueError as e:
        print(f"generate: {e}", file=sys.stderr)
        return 2
    print(f"{g.path}: {g.packets} packets, {g.file_bytes / 1e6:.1f} MB ({g.wire_bytes / 1e6:.1f} MB on the wire)")
    if g.cut_path:
        print(f"{g.cut_path}: first {g.cut_packets} packets, {g.cut_file_bytes / 1e6:.1f} MB")
    print(f"{g.inventory_path}: inventory")
    return 0


if __name__ == "__main__":
    sys.exit(main())

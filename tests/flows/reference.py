"""A slow, obvious packet-by-packet implementation of SPEC section 5, used
only by the tests as the oracle for the vectorised, chunked flow stage.

It shares one thing with the code under test: ``zeek_tcp.step`` (the
transcription of Zeek's endpoint machine, checked on its own in
test_conn_state). The history string is built letter by letter and matched
with Zeek's own RSTOS0 regular expression, independently of the first-time
aggregates the flow stage uses.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from auditor.flows.icmp import ICMP_TOLERANCE_NS
from auditor.flows.zeek_tcp import (
    CLOSED,
    ESTABLISHED,
    INACTIVE,
    N_ENDPOINT,
    PARTIAL,
    RESET,
    RESET_AFTER_CLOSE,
    SYN_ACK_SENT,
    SYN_SENT,
    step,
    symbol,
)
from auditor.tables import (
    ACK,
    FIN,
    PSH,
    RST,
    SYN,
    TCP_IDLE_NS,
    UDP_IDLE_NS,
    Bucket,
    addr_to_text,
    iso_utc,
)

RSTOS0 = re.compile(r"\^?S[^HAFGIQ]*R.*")


def zeek_conn_state(os_, rs, osize, rsize, history):
    os_ = RESET if os_ == RESET_AFTER_CLOSE else os_
    rs = RESET if rs == RESET_AFTER_CLOSE else rs
    o_inactive = os_ in (INACTIVE, PARTIAL)
    r_inactive = rs in (INACTIVE, PARTIAL)
    if rs == RESET:
        if os_ in (SYN_SENT, SYN_ACK_SENT) or (os_ == RESET and not osize and not rsize):
            return "REJ"
        return "RSTRH" if o_inactive else "RSTR"
    if os_ == RESET:
        if r_inactive:
            return "RSTOS0" if RSTOS0.fullmatch(history) else "OTH"
        return "RSTO"
    if rs == CLOSED and os_ == CLOSED:
        return "SF"
    if os_ == CLOSED:
        return "SH" if r_inactive else "S2"
    if rs == CLOSED:
        return "SHR" if o_inactive else "S3"
    if os_ == SYN_SENT and rs == INACTIVE:
        return "S0"
    if os_ == ESTABLISHED and rs == ESTABLISHED:
        return "S1"
    return "OTH"


def _letters(is_orig, syn, ack, fin, rst, payload, seen):
    out = []
    bits = syn + fin + rst

    def once(code):
        if code not in seen:
            seen.add(code)
            out.append(code)

    if bits > 1:
        once("I" if (fin and rst) else "Q")
    elif bits == 1:
        out.append("S" if syn and not ack else "H" if syn else "F" if fin else "R")
    elif payload:
        once("D")
    elif ack:
        once("A")
    return [c if is_orig else c.lower() for c in out]


def reference_flows(b, rule_ports):
    rule_ports = {k: set(v) for k, v in (rule_ports or {}).items()}
    open_: dict = {}
    flows: list[dict] = []
    for i in range(len(b)):
        proto = int(b.proto[i])
        if not (
            (b.bucket[i] == Bucket.TCP and proto == 6)
            or (b.bucket[i] == Bucket.UDP and proto == 17)
        ):
            continue
        src = (int(b.src_hi[i]), int(b.src_lo[i]), int(b.sport[i]))
        dst = (int(b.dst_hi[i]), int(b.dst_lo[i]), int(b.dport[i]))
        a, bb = min(src, dst), max(src, dst)
        d = 0 if src == a else 1
        key = (proto, a, bb)
        ts, wire, fl = int(b.ts_ns[i]), int(b.wire_len[i]), int(b.tcp_flags[i])
        tcp = proto == 6
        syn, ack, fin, rst, psh = ((fl & x) != 0 and tcp for x in (SYN, ACK, FIN, RST, PSH))
        bare = syn and not ack
        f = open_.get(key)
        idle = TCP_IDLE_NS if tcp else UDP_IDLE_NS
        if f is None or ts - f["prev_ts"] > idle or (bare and f["fin_seen"]):
            f = {
                "key": key,
                "arr": i,
                "first_dir": d,
                "pk": [0, 0],
                "by": [0, 0],
                "first_ts": ts,
                "last_ts": ts,
                "syn_dir": None,
                "synack_dir": None,
                "syns": [0, 0],
                "fin_seen": False,
                "st": [0, 0],
                "hist": ["", ""],
                "seen": [set(), set()],
                "pay": [False, False],
                "ip_version": int(b.ip_version[i]),
            }
            flows.append(f)
            open_[key] = f
        f["prev_ts"] = ts
        f["pk"][d] += 1
        f["by"][d] += wire
        f["first_ts"] = min(f["first_ts"], ts)
        f["last_ts"] = max(f["last_ts"], ts)
        if tcp:
            if bare and f["syn_dir"] is None:
                f["syn_dir"] = d
            if syn and ack and f["synack_dir"] is None:
                f["synack_dir"] = d
            if bare:
                f["syns"][d] += 1
            f["fin_seen"] |= fin or rst
            if psh and not rst:
                f["pay"][d] = True
            for orig in (0, 1):  # orientation: orig = side A (0) or side B (1)
                is_orig = int(d == orig)
                f["st"][orig] = step(
                    f["st"][orig], symbol(is_orig, int(syn), int(ack), int(fin), int(rst), int(psh))
                )
                f["hist"][orig] += "".join(
                    _letters(is_orig, syn, ack, fin, rst, psh, f["seen"][orig])
                )
    rows = []
    for f in flows:
        proto, a, bb = f["key"]
        pname = "tcp" if proto == 6 else "udp"
        ports = rule_ports.get(pname, set())
        if f["syn_dir"] is not None:
            client = f["syn_dir"]
        elif f["synack_dir"] is not None:
            client = 1 - f["synack_dir"]
        elif (a[2] in ports) != (bb[2] in ports):
            client = 1 if a[2] in ports else 0
        elif (a[2] < 1024) != (bb[2] < 1024):
            client = 1 if a[2] < 1024 else 0
        else:
            client = f["first_dir"]
        c, s = (a, bb) if client == 0 else (bb, a)
        o, r = client, 1 - client
        if proto == 6:
            joint = f["st"][client]
            state = zeek_conn_state(
                joint // N_ENDPOINT, joint % N_ENDPOINT, f["pay"][o], f["pay"][r], f["hist"][client]
            )
        else:
            state = {(True, True): "SF", (True, False): "S0", (False, True): "SHR"}[
                (f["pk"][o] > 0, f["pk"][r] > 0)
            ]
        rows.append(
            {
                "client_ip": addr_to_text(c[0], c[1]),
                "client_port": c[2],
                "server_ip": addr_to_text(s[0], s[1]),
                "server_port": s[2],
                "proto": pname,
                "first_ts": iso_utc(f["first_ts"]),
                "last_ts": iso_utc(f["last_ts"]),
                "packets_c2s": f["pk"][o],
                "packets_s2c": f["pk"][r],
                "bytes_c2s": f["by"][o],
                "bytes_s2c": f["by"][r],
                "conn_state": state,
                "direction_certain": f["syn_dir"] is not None or f["synack_dir"] is not None,
                "first_ts_ns": f["first_ts"],
                "last_ts_ns": f["last_ts"],
                "ip_version": f["ip_version"],
                "client_hi": c[0],
                "client_lo": c[1],
                "server_hi": s[0],
                "server_lo": s[1],
                "syn_count": f["syns"][o],
                "icmp_unreach": 0,
                "icmp_type": -1,
                "icmp_code": -1,
                "icmp_reporter": "",
                "_arr": f["arr"],
                "_key": f["key"],
            }
        )
    # ICMP errors: latest flow of the key started at or before, not too long after its end
    err = b.icmp_errors
    for e in range(len(err)):
        src = (int(err.src_hi[e]), int(err.src_lo[e]), int(err.sport[e]))
        dst = (int(err.dst_hi[e]), int(err.dst_lo[e]), int(err.dport[e]))
        key = (int(err.proto[e]), min(src, dst), max(src, dst))
        t = int(err.ts_ns[e])
        cands = [r for r in rows if r["_key"] == key and r["first_ts_ns"] <= t]
        if not cands:
            continue
        best = max(cands, key=lambda r: (r["first_ts_ns"], r["_arr"]))
        if t > best["last_ts_ns"] + ICMP_TOLERANCE_NS:
            continue
        best["icmp_unreach"] += 1
        if best["icmp_unreach"] == 1:
            best["icmp_type"], best["icmp_code"] = int(err.icmp_type[e]), int(err.icmp_code[e])
            best["icmp_reporter"] = addr_to_text(err.reporter_hi[e], err.reporter_lo[e])
    from auditor.tables import FLOW_COLUMNS

    df = pd.DataFrame(rows, columns=[c.name for c in FLOW_COLUMNS] + ["_arr", "_key"])
    if len(df):
        df = df.sort_values(
            [
                "first_ts_ns",
                "client_ip",
                "client_port",
                "server_ip",
                "server_port",
                "proto",
                "_arr",
            ],
            kind="mergesort",
        )
    return df.drop(columns=["_arr", "_key"], errors="ignore").reset_index(drop=True)


def as_records(df: pd.DataFrame) -> list[tuple]:
    """Comparable rows: plain Python values, column order of the frame."""
    return [
        tuple(v.item() if isinstance(v, np.generic) else v for v in row)
        for row in df.itertuples(index=False)
    ]

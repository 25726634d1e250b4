"""Zeek's TCP endpoint state machine and ``conn_state``, as lookup tables.

Zeek (``src/analyzer/protocol/tcp/TCP.cc``) keeps one state per endpoint
(INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET) and
moves them packet by packet; ``conn_state()`` in
``scripts/base/protocols/conn/main.zeek`` then names the connection from the
two final states and the history string. The machine reads only the packet's
direction, its SYN/ACK/FIN/RST bits and whether it carries payload, and the
pair of endpoint states is small (8 x 8, see below), so every packet is one
lookup ``TRANSITIONS[symbol, state]``: the flow stage folds those lookups over
a flow's packets with numpy, never a Python step per packet. ``step`` below is
the readable transcription of Zeek's code the tables are built from (and the
reference the tests replay packet by packet).

Where we approximate Zeek (documented once, here):
- Zeek's originator is the sender of the first packet, flipped by its own
  heuristics; ours is the SPEC's client (bare SYN sender, else SYN-ACK
  receiver, else the port ladder). The machine runs with orig = our client.
- Sequence numbers are not in the packet table: the SYN/SYN-ACK reversal that
  compares ``base_seq`` with the endpoint's start (``FlipRoles``) never fires,
  and history letters are recorded once per kind (Zeek records a repeated
  S/H/F/R again only when its sequence number differs, which does not change
  the ``RSTOS0`` pattern).
- Payload length is not in the packet table either: a TCP packet "carries
  payload" when its PSH bit is set (stacks set PSH on the last segment of
  every write). It decides three corner cases: a responder's bare ACK to a SYN
  (Zeek keeps the responder INACTIVE only for a payload-free one), the
  payload-free ``REJ`` of two RST-ing endpoints (Zeek's ``size == 0`` from
  sequence numbers), and 'A' versus 'D' in the ``RSTOS0`` history pattern.
- Content gaps ('G'), checksum errors and Zeek's timers and connection reuse
  are not modelled; flows are split by the SPEC section 5 rules instead.
"""

from __future__ import annotations

import numpy as np

from ..tables import ACK, FIN, PSH, RST, SYN

# Endpoint states in Zeek's order. RESET_AFTER_CLOSE is RESET whose previous
# state was CLOSED: Zeek turns such an endpoint back into CLOSED when its peer
# then sends a FIN ("FIN followed by a RST ... actually normal termination"),
# so it must be told apart from a plain RESET.
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET, RESET_AFTER_CLOSE = range(8)
N_ENDPOINT = 8
N_STATE = N_ENDPOINT * N_ENDPOINT  # joint state = orig * 8 + resp
N_SYMBOL = 64  # is_orig, SYN, ACK, FIN, RST, payload: one bit each


def symbol(is_orig, syn, ack, fin, rst, payload):
    """Symbol number of a packet (works on scalars and numpy arrays)."""
    return (is_orig * 32) + (syn * 16) + (ack * 8) + (fin * 4) + (rst * 2) + payload


def flag_bits(tcp_flags: np.ndarray):
    """(syn, ack, fin, rst, payload) as uint8 0/1 arrays from the TCP flags byte."""
    f = np.asarray(tcp_flags, dtype=np.uint8)
    return ((f & SYN) != 0, (f & ACK) != 0, (f & FIN) != 0, (f & RST) != 0, (f & PSH) != 0)


class _Endpoint:
    __slots__ = ("prev_closed", "state")

    def __init__(self, code: int) -> None:
        self.state = RESET if code == RESET_AFTER_CLOSE else code
        self.prev_closed = code == RESET_AFTER_CLOSE

    def set(self, new: int) -> None:
        # TCP_Endpoint::SetState: prev_state changes only on a real change.
        if new != self.state:
            self.prev_closed = self.state == CLOSED
            self.state = new

    @property
    def code(self) -> int:
        if self.state == RESET and self.prev_closed:
            return RESET_AFTER_CLOSE
        return self.state


def step(state: int, sym: int) -> int:
    """Zeek's ``TCP_Analyzer::UpdateStateMachine`` for one packet, on the joint
    state ``orig * 8 + resp``; returns the next joint state."""
    is_orig, syn, ack, fin, rst, payload = ((sym >> s) & 1 for s in (5, 4, 3, 2, 1, 0))
    orig, resp = _Endpoint(state // N_ENDPOINT), _Endpoint(state % N_ENDPOINT)
    ep, peer = (orig, resp) if is_orig else (resp, orig)
    st = ep.state
    if st == INACTIVE:  # UpdateInactiveState
        if syn:
            if is_orig:
                ep.set(SYN_ACK_SENT if ack else SYN_SENT)
            else:
                if peer.state == SYN_SENT:
                    peer.set(ESTABLISHED)
                ep.set(ESTABLISHED)
        if fin:
            ep.set(CLOSED)
        if rst:
            ep.set(RESET)
        if ep.state == INACTIVE:
            if not is_orig and not payload and orig.state == SYN_SENT:
                pass  # an eccentric stack ACKs the SYN before its SYN-ACK
            elif ack and peer.state == ESTABLISHED:
                ep.set(ESTABLISHED)  # missed the SYN, saw the SYN-ACK
            else:
                ep.set(PARTIAL)
    elif st in (SYN_SENT, SYN_ACK_SENT):  # UpdateSYN_SentState
        if fin:
            ep.set(CLOSED)
        if rst:
            ep.set(RESET)
    elif st in (ESTABLISHED, PARTIAL):  # UpdateEstablishedState
        if syn and st == PARTIAL and peer.state == INACTIVE and not ack:
            ep.set(SYN_SENT)
        if fin and not rst:
            ep.set(CLOSED)
            if peer.state == RESET and peer.prev_closed:
                peer.set(CLOSED)
        if rst:
            ep.set(RESET)
    elif st == CLOSED and rst and peer.state != CLOSED:  # UpdateClosedState
        ep.set(RESET)
    # RESET: UpdateResetState changes nothing.
    return orig.code * N_ENDPOINT + resp.code


def _build_transitions() -> np.ndarray:
    table = np.zeros((N_SYMBOL, N_STATE), dtype=np.uint8)
    for sym in range(N_SYMBOL):
        for state in range(N_STATE):
            table[sym, state] = step(state, sym)
    return table


# Built once at import from the transcribed state machine (about 6 ms).
TRANSITIONS = _build_transitions()


def conn_state_codes(
    joint: np.ndarray,
    orig_payload: np.ndarray,
    resp_payload: np.ndarray,
    rstos0_history: np.ndarray,
) -> np.ndarray:
    """Zeek's ``conn_state()`` for TCP, vectorised over flows.

    ``joint`` is the final joint state (orig = client); ``*_payload`` whether
    each side sent payload (Zeek's ``size != 0``); ``rstos0_history`` whether
    the history matches ``/^?S[^HAFGIQ]*R.*/`` (computed by the caller from
    first-times). Returns an object array of codes."""
    os_ = joint // N_ENDPOINT
    rs = joint % N_ENDPOINT
    o_reset = (os_ == RESET) | (os_ == RESET_AFTER_CLOSE)
    r_reset = (rs == RESET) | (rs == RESET_AFTER_CLOSE)
    o_inactive = (os_ == INACTIVE) | (os_ == PARTIAL)
    r_inactive = (rs == INACTIVE) | (rs == PARTIAL)
    o_syn = (os_ == SYN_SENT) | (os_ == SYN_ACK_SENT)
    no_size = ~orig_payload & ~resp_payload
    conditions = [
        r_reset & (o_syn | (o_reset & no_size)),
        r_reset & o_inactive,
        r_reset,
        o_reset & r_inactive & rstos0_history,
        o_reset & r_inactive,
        o_reset,
        (rs == CLOSED) & (os_ == CLOSED),
        (os_ == CLOSED) & r_inactive,
        os_ == CLOSED,
        (rs == CLOSED) & o_inactive,
        rs == CLOSED,
        (os_ == SYN_SENT) & (rs == INACTIVE),
        (os_ == ESTABLISHED) & (rs == ESTABLISHED),
    ]
    choices = [
        "REJ",
        "RSTRH",
        "RSTR",
        "RSTOS0",
        "OTH",
        "RSTO",
        "SF",
        "SH",
        "S2",
        "SHR",
        "S3",
        "S0",
        "S1",
    ]
    return _codes(conditions, choices)


def udp_conn_state_codes(orig_packets: np.ndarray, resp_packets: np.ndarray) -> np.ndarray:
    """Zeek's ``conn_state()`` udp branch: an endpoint is UDP_ACTIVE once it sent."""
    o = orig_packets > 0
    r = resp_packets > 0
    return _codes([o & r, o, r], ["SF", "S0", "SHR"])


def _codes(conditions: list[np.ndarray], choices: list[str]) -> np.ndarray:
    """``np.select(conditions, choices, default="OTH")`` as an object array
    whose rows share one string per code (not one string object per flow)."""
    names = np.array([*choices, "OTH"], dtype=object)
    pick = np.select(conditions, np.arange(len(choices), dtype=np.int8), default=np.int8(len(choices)))
    return names[pick]

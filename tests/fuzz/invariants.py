"""What must hold for ANY input file, however damaged (SPEC sections 2 and 5).

``check_capture(path)`` runs capture → flows through the public API and
returns the outcome ("clean", "warning" or "input_error"); it raises
``Violation`` when an invariant breaks, and lets any other exception through
(that exception IS the crash). ``check_cli(path, out_dir)`` does the same
through ``zvr-audit flows --csv`` and checks the exit code and stderr.
``time_limit`` bounds one input's wall time with SIGALRM.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auditor.capture import CaptureStream, capture_to_packets
from auditor.errors import InputError
from auditor.flows import FlowTable, packets_to_flows
from auditor.tables import BUCKET_KEYS, FLOW_COLUMNS, FLOW_CSV_COLUMNS, Bucket

# The ports of the bundled rules matter only to the direction guess; any
# fixed set exercises the same code.
RULE_PORTS = {"tcp": frozenset({22, 443, 4005, 4007, 4008, 9081}), "udp": frozenset({53, 123})}
CHUNK_SMALL = 3  # a second read in tiny chunks must give the same accounting
BYTE_OFFSET = re.compile(r": byte \d+")


class Violation(AssertionError):
    """An invariant broke on an input the reader accepted or refused."""


class Hang(BaseException):
    """One input took longer than its time limit (BaseException: no
    ``except Exception`` inside the code under test swallows it)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def _ring(signum, frame):
        raise Hang(f"no result after {seconds} s")

    old = signal.signal(signal.SIGALRM, _ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# Crashes the fuzzer found that are not fixed yet, each with its xfail
# regression test in test_fuzz.py. The short run and the campaign count an
# input that hits one as "known" instead of failing again; delete the entry
# together with the xfail once the owner fixed it.
KNOWN_BUGS: dict[str, str] = {}


def known_bug(exc: BaseException, data: bytes = b"") -> str | None:
    """The KNOWN_BUGS key an exception (on input ``data``) belongs to, or
    None (a new crash). Each open entry of KNOWN_BUGS gets a matcher here
    (the message, the exception type, or a property of the input such as
    its number of pcapng sections)."""
    if (
        "warning-order" in KNOWN_BUGS
        and isinstance(exc, Violation)
        and str(exc).startswith("tiny chunks warn in another order")
    ):
        return "warning-order"
    return None


@dataclass
class Outcome:
    kind: str  # "clean" | "warning" | "input_error"
    packets: int = 0
    flows: int = 0
    message: str = ""  # the error line, or the first warning
    warnings: tuple[str, ...] = ()


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise Violation(what)


def _check_offsets(text: str, path: Path) -> None:
    """A byte offset in a message about an uncompressed file lies inside it."""
    size = path.stat().st_size
    for m in re.finditer(r": byte (\d+)(?![\d]| of the decompressed)", text):
        _check(
            int(m.group(1)) <= size,
            f"byte offset {m.group(1)} past the end of a {size}-byte file: {text!r}",
        )


def _check_error_line(err: InputError, path: Path) -> str:
    line = err.line()
    _check(err.exit_code == 2, f"input error with exit code {err.exit_code}: {line}")
    _check(
        bool(line) and "\n" not in line and line.strip() == line, f"error is not one line: {line!r}"
    )
    _check(line.startswith(f"{path}: "), f"error does not start with the file name: {line!r}")
    _check(BYTE_OFFSET.search(line) is not None, f"error names no byte offset: {line!r}")
    _check_offsets(line, path)
    return line


def _read(path: Path, chunk_packets: int) -> tuple[CaptureStream, FlowTable, int]:
    """(stream, flow table, packets seen in the batches)."""
    stream = capture_to_packets([path], chunk_packets=chunk_packets)
    seen = 0

    def batches():
        nonlocal seen
        for b in stream:
            n = len(b)
            seen += n
            _check(
                len(b.ts_ns) == len(b.bucket) == len(b.sport) == n,
                "batch columns of unequal length",
            )
            _check(bool(np.all(b.bucket < len(Bucket))), "bucket code out of range")
            yield b

    table = packets_to_flows(batches(), RULE_PORTS)
    stream.counts = table.packet_counts(stream.counts)  # attached fragments: fragment -> tcp/udp
    return stream, table, seen


def check_capture(path: Path, *, chunk_check: bool = True) -> Outcome:
    """Capture → flows on one file; see the module doc."""
    try:
        stream, table, seen = _read(path, 1 << 18)
    except InputError as e:
        line = _check_error_line(e, path)
        if chunk_check:
            try:
                _read(path, CHUNK_SMALL)
            except InputError as e2:
                _check(
                    e2.line() == line, f"tiny chunks give another error: {e2.line()!r} vs {line!r}"
                )
            else:
                raise Violation(f"tiny chunks read the file that default chunks refused ({line!r})")
        return Outcome("input_error", message=line)
    counts = stream.counts
    _check(set(counts) == {"read", *BUCKET_KEYS}, f"count keys {sorted(counts)}")
    buckets = sum(counts[k] for k in BUCKET_KEYS)
    _check(
        counts["read"] == buckets, f"read {counts['read']} != sum of buckets {buckets} ({counts})"
    )
    _check(counts["read"] == seen, f"read {counts['read']} != packets in the batches {seen}")
    _check(min(counts.values()) >= 0, f"negative count ({counts})")
    _check(
        len(stream.captures) == 1 and stream.captures[0]["packets"] == counts["read"],
        f"per-file packets {[c.get('packets') for c in stream.captures]} != read {counts['read']}",
    )
    flows = table.flows
    _check(
        list(flows.columns) == [c.name for c in FLOW_COLUMNS],
        "flow columns differ from FLOW_COLUMNS",
    )
    in_flows = int(flows["packets_c2s"].sum() + flows["packets_s2c"].sum()) if len(flows) else 0
    _check(
        in_flows <= counts["tcp"] + counts["udp"],
        f"packets in flows {in_flows} > tcp + udp buckets {counts['tcp'] + counts['udp']}",
    )
    _check(
        bool((flows["packets_c2s"] >= 0).all() and (flows["packets_s2c"] >= 0).all()),
        "negative packets",
    )
    for w in stream.warnings:
        _check(
            "\n" not in w and w.startswith(f"{path}: "), f"warning does not name the file: {w!r}"
        )
        _check_offsets(w, path)
    if chunk_check:
        try:
            # tiny chunks, but not thousands of them: a flood mutant would spend
            # its time limit on per-batch overhead (that is not what is checked)
            small, table2, _ = _read(path, max(CHUNK_SMALL, counts["read"] // 64))
        except InputError as e:
            raise Violation(
                f"tiny chunks refuse the file that default chunks read: {e.line()!r}"
            ) from None
        both = f"; warnings {small.warnings} vs {stream.warnings}"
        _check(small.counts == counts, f"tiny chunks count {small.counts} vs {counts}{both}")
        _check(
            sorted(small.warnings) == sorted(stream.warnings), f"tiny chunks warn differently{both}"
        )
        _check(small.warnings == stream.warnings, f"tiny chunks warn in another order{both}")
        info = stream.captures[0]
        span = (info["last_ts_ns"] - info["first_ts_ns"]) if info["first_ts_ns"] is not None else 0
        _check(
            len(table2.flows) == len(flows),
            f"tiny chunks give {len(table2.flows)} flows vs {len(flows)} (packet times span {span} ns)",
        )
    kind = "warning" if stream.warnings else "clean"
    return Outcome(
        kind,
        counts["read"],
        len(flows),
        stream.warnings[0] if stream.warnings else "",
        tuple(stream.warnings),
    )


def check_pair(first: Path, second: Path, outcomes: tuple[Outcome, Outcome]) -> str:
    """Two files read as one stream (ring-buffer segments, SPEC section 2):
    refused when either alone is refused, else the counts add up, the
    warnings are the two files' warnings, and flows stay within tcp + udp."""
    stream = capture_to_packets([first, second])
    try:
        table = packets_to_flows(stream, RULE_PORTS)
        stream.counts = table.packet_counts(stream.counts)
    except InputError as e:
        _check_error_line(e, first if e.line().startswith(f"{first}: ") else second)
        refused = [o.message for o in outcomes if o.kind == "input_error"]
        _check(e.line() in refused, f"pair refused with {e.line()!r}, alone: {refused}")
        return "input_error"
    _check(
        all(o.kind != "input_error" for o in outcomes),
        f"pair read although one file alone is refused: {[o.message for o in outcomes]}",
    )
    _check(
        stream.counts["read"] == sum(o.packets for o in outcomes),
        f"pair read {stream.counts['read']} packets, alone {[o.packets for o in outcomes]}",
    )
    buckets = sum(stream.counts[k] for k in BUCKET_KEYS)
    _check(stream.counts["read"] == buckets, f"pair: read != sum of buckets ({stream.counts})")
    flows = table.flows
    in_flows = int(flows["packets_c2s"].sum() + flows["packets_s2c"].sum()) if len(flows) else 0
    _check(
        in_flows <= stream.counts["tcp"] + stream.counts["udp"],
        "pair: packets in flows > tcp + udp",
    )
    alone = sorted(w for o in outcomes for w in o.warnings)
    _check(sorted(stream.warnings) == alone, f"pair warns {stream.warnings}, alone {alone}")
    return "warning" if stream.warnings else "clean"


def check_cli(path: Path, out_dir: Path, expect: Outcome | None = None) -> int:
    """``zvr-audit flows PATH --csv OUT``: exit 0 or 2, never 3, never a
    traceback; exit 2 is one stderr line naming the file and a byte offset;
    exit 0 writes the CSV header and one row per flow. With ``expect`` (the
    library's outcome on the same file) the two must agree."""
    from auditor.cli import main

    out_csv = out_dir / "flows.csv"
    out_csv.unlink(missing_ok=True)
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["flows", str(path), "--csv", str(out_csv)], stdout=stdout, stderr=stderr)
    err = stderr.getvalue()
    _check("Traceback" not in err, f"traceback on stderr: {err[:500]!r}")
    _check(code in (0, 2), f"exit {code}: {err.strip()[:500]!r}")
    lines = err.splitlines()
    # PATH may be a directory: lines then name the file inside it
    names = re.compile(rf"({re.escape(str(path))}(/[^:/]+)?): ")
    if code == 2:
        _check(len(lines) == 1, f"exit 2 with {len(lines)} stderr lines: {err!r}")
        _check(
            names.match(lines[0], len("zvr-audit: ")) is not None
            and lines[0].startswith("zvr-audit: "),
            f"exit 2 line does not name the file: {lines[0]!r}",
        )
        _check(
            BYTE_OFFSET.search(lines[0]) is not None,
            f"exit 2 line names no byte offset: {lines[0]!r}",
        )
        _check(
            expect is None or expect.kind == "input_error",
            f"CLI exit 2 but the library read it: {lines[0]!r}",
        )
    else:
        for line in lines:
            _check(
                line.startswith("warning: ") and names.match(line, len("warning: ")) is not None,
                f"stderr line is not a warning about the file: {line!r}",
            )
        with open(out_csv, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        _check(
            bool(rows) and rows[0] == [c.name for c in FLOW_CSV_COLUMNS], f"CSV header {rows[:1]}"
        )
        if expect is not None:
            _check(
                expect.kind != "input_error",
                f"CLI exit 0 but the library refused: {expect.message!r}",
            )
            _check(
                len(rows) - 1 == expect.flows,
                f"CSV has {len(rows) - 1} flows, the library {expect.flows}",
            )
            _check(
                (expect.kind == "warning") == bool(lines),
                f"CLI warnings {lines} vs library {expect.kind}",
            )
    return code

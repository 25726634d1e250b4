"""Command line: argv → one pipeline call → exit code (SPEC section 2).

No pandas and no logic here: every subcommand parses its arguments, calls one
function of the package and turns the result into an exit code. Heavy modules
are imported inside the handlers so ``--help`` and bad arguments stay fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import IO, NoReturn

from auditor import __version__
from auditor.errors import AuditorError, UsageError

SEVERITIES = ("critical", "high", "medium", "low")


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so a bad
    argument is one line on stderr and exit 2 like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="zvr-audit",
        description="Audit packet captures of a Zerto Virtual Replication deployment: "
        "which documented flows are missing, unexpected, misdirected, reversed or blocked.",
    )
    p.add_argument("--version", action="version", version=f"zvr-audit {__version__}")
    p.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    # --debug is accepted after the subcommand too (main() looks for it in argv).
    common = _Parser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the traceback of an internal error",
    )
    _add = sub.add_parser

    def add_parser(name: str, **kw):  # type: ignore[no-untyped-def]
        return _add(name, parents=[common], **kw)

    sub.add_parser = add_parser  # type: ignore[method-assign]

    a = sub.add_parser("audit", help="audit captures against an inventory and the rules")
    a.add_argument("captures", nargs="+", metavar="CAPTURE", help="capture file or directory")
    a.add_argument("--inventory", required=True, metavar="INV", help="inventory (YAML or CSV)")
    a.add_argument(
        "--rules",
        action="append",
        default=[],
        metavar="FILE",
        help="extra rules file (may be given several times)",
    )
    a.add_argument(
        "--json", metavar="OUT", help="write the JSON report (schema zvr-audit/report/v1)"
    )
    a.add_argument("--html", metavar="OUT", help="write the self-contained HTML evidence report")
    a.add_argument(
        "--include-flows", action="store_true", help="list every flow in the JSON report"
    )
    a.add_argument("--flows-csv", metavar="OUT", help="write every flow with its verdict as CSV")
    a.add_argument(
        "--fail-on",
        choices=SEVERITIES,
        default="low",
        help="exit 1 when a finding is at or above this severity (default: low)",
    )
    a.add_argument("--quiet", action="store_true", help="print no terminal report")
    _add_jobs(a)

    d = sub.add_parser("demo", help="audit the bundled sample capture and write reports/")
    d.add_argument(
        "--out-dir",
        default="reports",
        metavar="DIR",
        help="where demo.json and demo.html go (default: ./reports)",
    )
    d.add_argument("--quiet", action="store_true", help="print no terminal report")

    f = sub.add_parser("flows", help="list the flows of captures (CSV or Parquet)")
    f.add_argument("captures", nargs="+", metavar="CAPTURE")
    out = f.add_mutually_exclusive_group()
    out.add_argument("--csv", metavar="OUT", help="CSV file ('-' for standard output, the default)")
    out.add_argument("--parquet", metavar="OUT", help="Parquet file (needs pyarrow)")
    _add_jobs(f)

    disc = sub.add_parser("discover", help="guess an inventory from the flows of captures")
    disc.add_argument("captures", nargs="+", metavar="CAPTURE")
    disc.add_argument(
        "-o", "--output", metavar="INVENTORY.yaml", help="write here (default: stdout)"
    )

    r = sub.add_parser("rules", help="print the loaded rules")
    r.add_argument(
        "--inventory", metavar="INV", help="apply this inventory's profile and port overrides"
    )
    r.add_argument("--rules", action="append", default=[], metavar="FILE", help="extra rules file")
    r.add_argument("--format", choices=("table", "csv", "json"), default="table")

    s = sub.add_parser("simulate", help="write a crafted capture of a ZVR scenario")
    s.add_argument(
        "scenario", nargs="?", metavar="SCENARIO", help="scenario name (omit to list them)"
    )
    s.add_argument("-o", "--output", metavar="OUT.pcap[ng]")
    s.add_argument("--inventory-out", metavar="INV", help="also write the matching inventory")
    s.add_argument("--seed", type=int, default=0)

    df = sub.add_parser("diff", help="compare two JSON reports")
    df.add_argument("before", metavar="BEFORE.json")
    df.add_argument("after", metavar="AFTER.json")
    return p


def _jobs(text: str) -> int:
    """``--jobs`` value: 0 (all cores) or a number of cores."""
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected 0 (all cores) or a number of cores, got {text!r}")
    return n


def _add_jobs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--jobs",
        type=_jobs,
        default=0,
        metavar="N",
        help="use at most N cores (default 0: all cores). 1: everything on one "
        "thread (read, sha256, decode, flows); 2 or more: hashing and decoding "
        "overlap the flow stage on helper threads, and the files of a directory "
        "or of several arguments are decoded by up to N worker processes. "
        "Results are identical whatever N is",
    )
    p.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="decode the capture files on this Dask scheduler "
        "(tcp://host:8786; needs the 'dask' extra and the files at the same paths)",
    )
    p.add_argument(
        "--engine",
        choices=("native", "scapy", "tshark"),
        default="native",
        help="packet reader: native (fast, default), or the scapy / tshark "
        "reference readers (slow; for cross-checks and odd link types)",
    )


def _one_blas_thread() -> None:
    """numpy's BLAS (OpenBLAS) starts a thread per core when numpy is
    imported, and it spins on a core (about 0.1 s CPU in an audit) although
    zvr-audit does no linear algebra: with one BLAS thread ``--jobs 1`` stays
    on one core and the default run keeps that time for decoding. Only before
    numpy is imported, and never over the user's own setting."""
    if "numpy" not in sys.modules:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")


def _steady_memory() -> None:
    """glibc raises its mmap threshold each time a large block is freed; from
    then on the reader's 16 MB buffers and the flow stage's 1 MB columns come
    from the heap, freed ones stay in the process, and peak RSS wanders by a
    buffer or two from run to run (SPEC's captures are gigabytes; memory must
    not depend on their size). A fixed 4 MiB threshold gives blocks that large
    back to the system when freed. glibc only; elsewhere nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-3, 4 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # musl or another libc: keep its defaults
        pass


def _color(stream: IO[str]) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ


# ---------------------------------------------------------------- handlers
def _cmd_audit(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from auditor import pipeline

    result = pipeline.audit(
        [Path(c) for c in args.captures],
        Path(args.inventory),
        rules=[Path(r) for r in args.rules] or None,
        include_flows=args.include_flows,
        progress_to=err,
        jobs=args.jobs,
        dask=args.dask,
        engine=args.engine,
    )
    pipeline.write_outputs(
        result,
        json_out=args.json,
        html_out=args.html,
        flows_csv=args.flows_csv,
        fail_on=args.fail_on,
    )
    if not args.quiet:
        pipeline.print_report(result, out, color=_color(out), fail_on=args.fail_on)
    return pipeline.exit_status(result, args.fail_on)


def _cmd_demo(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from auditor import pipeline

    result, written = pipeline.demo(Path(args.out_dir), progress_to=err)
    if not args.quiet:
        pipeline.print_report(result, out, color=_color(out))
    for path in written:
        print(f"wrote {path}", file=err)
    # The demo shows findings on purpose: it succeeded when the audit ran.
    return 0


def _cmd_flows(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from auditor import pipeline

    table, stream = pipeline.flows(
        [Path(c) for c in args.captures],
        progress_to=err,
        jobs=args.jobs,
        dask=args.dask,
        engine=args.engine,
    )
    pipeline.write_flows(table, csv=args.csv, parquet=args.parquet, stdout=out)
    for warning in stream.warnings:
        print(f"warning: {warning}", file=err)
    return 0


def _cmd_discover(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from auditor import pipeline

    pipeline.discover([Path(c) for c in args.captures], output=args.output, stdout=out, stderr=err)
    return 0


def _cmd_rules(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from auditor import pipeline

    pipeline.show_rules(inventory=args.inventory, rules=args.rules, fmt=args.format, stdout=out)
    return 0


def _cmd_simulate(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from auditor import simulate

    if not args.scenario:
        for name, scenario in simulate.SCENARIOS.items():
            print(f"{name:22} {scenario.description}", file=out)
        return 0
    if not args.output:
        raise UsageError("zvr-audit simulate: -o OUT.pcap[ng] is required")
    simulate.simulate(
        args.scenario,
        Path(args.output),
        Path(args.inventory_out) if args.inventory_out else None,
        seed=args.seed,
    )
    return 0


def _cmd_diff(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from auditor import pipeline

    return pipeline.diff(Path(args.before), Path(args.after), stdout=out, color=_color(out))


HANDLERS = {
    "audit": _cmd_audit,
    "demo": _cmd_demo,
    "flows": _cmd_flows,
    "discover": _cmd_discover,
    "rules": _cmd_rules,
    "simulate": _cmd_simulate,
    "diff": _cmd_diff,
}


def main(
    argv: Sequence[str] | None = None, stdout: IO[str] | None = None, stderr: IO[str] | None = None
) -> int:
    """Run one command; return its exit code (0, 1, 2 or 3; SPEC section 2)."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = _build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exit_:  # --help and --version print and exit 0
            return int(exit_.code or 0)
        if not args.command:
            parser.print_help(out)
            return 2
        _one_blas_thread()
        _steady_memory()
        return HANDLERS[args.command](args, out, err)
    except AuditorError as e:
        print(f"zvr-audit: {e.line() if hasattr(e, 'line') else e}", file=err)
        if debug:
            traceback.print_exc(file=err)
        return e.exit_code
    except KeyboardInterrupt:
        print("zvr-audit: interrupted", file=err)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # noqa: BLE001 — a bug: one line, the traceback only with --debug
        print(
            f"zvr-audit: internal error (a bug, please report it): {type(e).__name__}: {e}"
            + ("" if debug else " (run with --debug for the traceback)"),
            file=err,
        )
        if debug:
            traceback.print_exc(file=err)
        return 3


def run() -> NoReturn:
    """The ``zvr-audit`` command and ``python -m auditor``: ``main()``, then
    leave at once. Tearing the interpreter down frees every module and array
    one by one (0.1-0.2 s after auditing a 2 GB capture); the system reclaims
    a process in one go. Standard streams are flushed first; every file
    zvr-audit writes is closed by then. Should a thread or worker process
    still run (a Dask client, a process pool), the normal exit waits for it."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more to say
            pass
    import threading

    mp = sys.modules.get("multiprocessing")
    if threading.active_count() > 1 or (mp is not None and mp.active_children()):
        sys.exit(code)
    os._exit(code)

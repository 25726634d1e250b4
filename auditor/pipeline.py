"""The chain: capture → packets → flows → verdicts → report.

`audit()` is the whole tool in a few readable lines; the other functions are
the small jobs the CLI asks for (flows only, rules, demo, outputs).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from auditor.errors import InputError, UsageError


@dataclass
class AuditResult:
    report: dict[str, Any]
    flow_table: Any  # auditor.flows.FlowTable
    verdicts: Any  # auditor.verdicts.Verdicts
    inventory: Any  # auditor.model.Inventory
    rules: list[Any]  # auditor.model.Rule, effective, in load order
    rulesets: list[Any]


def audit(
    captures: list[Path],
    inventory: Path,
    rules: list[Path] | None = None,
    *,
    include_flows: bool = False,
    progress_to: IO[str] | None = None,
    jobs: int = 0,
    dask: str | None = None,
    engine: str = "native",
) -> AuditResult:
    """Audit captures against an inventory (SPEC sections 5-7)."""
    from auditor.inventory import load_inventory
    from auditor.ruleset import effective_rules, load_rulesets, rule_ports

    inv = load_inventory(inventory)
    rulesets = load_rulesets([str(r) for r in rules] if rules else None, inv.profile)
    active_rules = effective_rules(rulesets, inv)
    stream = _read(captures, engine, jobs, dask)
    with _reading(stream, progress_to, jobs) as batches:
        # imported while the files are already being read (pandas is slow to import)
        from auditor.flows import packets_to_flows
        from auditor.report.json_report import verdicts_to_report
        from auditor.verdicts import flows_to_verdicts

        flow_table = packets_to_flows(batches, rule_ports(active_rules))
    verdicts = flows_to_verdicts(flow_table, inv, active_rules)
    report = verdicts_to_report(
        captures=stream.captures,
        counts=flow_table.packet_counts(stream.counts),
        warnings=stream.warnings,
        inventory=inv,
        rulesets=rulesets,
        verdicts=verdicts,
        include_flows=include_flows,
    )
    return AuditResult(report, flow_table, verdicts, inv, active_rules, rulesets)


def flows(
    captures: list[Path],
    *,
    progress_to: IO[str] | None = None,
    jobs: int = 0,
    dask: str | None = None,
    engine: str = "native",
):
    """Flows of captures, direction guessed with the bundled rules' ports.

    The files are not hashed: flows output shows no sha256 (SPEC section 2),
    so the stream's ``captures[].sha256`` is None."""
    from auditor.ruleset import effective_rules, load_rulesets, rule_ports

    ports = rule_ports(effective_rules(load_rulesets(None, "zvr-legacy"), None))
    stream = _read(captures, engine, jobs, dask, sha256=False)
    with _reading(stream, progress_to, jobs) as batches:
        from auditor.flows import packets_to_flows  # while the files are already being read

        table = packets_to_flows(batches, ports)
    return table, stream


def exit_status(result: AuditResult, fail_on: str) -> int:
    from auditor.model import Severity
    from auditor.report.json_report import exit_status as _exit_status

    return _exit_status(result.report, Severity(fail_on))


# ---------------------------------------------------------------- outputs
def write_outputs(
    result: AuditResult,
    *,
    json_out: str | None,
    html_out: str | None,
    flows_csv: str | None,
    fail_on: str = "low",
) -> list[Path]:
    written: list[Path] = []
    if json_out:
        import json

        with _open_out(json_out) as fh:
            json.dump(result.report, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        written.append(Path(json_out))
    if html_out:
        from auditor.report import html

        text = html.render(
            result.report,
            inventory=result.inventory,
            activity=_activity_by_verdict(result),
            fail_on=fail_on,
            rules=result.rules,
        )
        with _open_out(html_out) as fh:
            fh.write(text)
        written.append(Path(html_out))
    if flows_csv:
        from auditor.tables import FLOW_CSV_COLUMNS

        df = result.verdicts.flows
        cols = [c.name for c in FLOW_CSV_COLUMNS] + ["verdict", "rule"]
        with _open_out(flows_csv) as fh:
            df[cols].to_csv(fh, index=False)
        written.append(Path(flows_csv))
    return written


def _activity_by_verdict(result: AuditResult):
    """Packets per time bin per verdict and rule, for the HTML chart."""
    activity = getattr(result.flow_table, "activity", None)
    flows_df = getattr(result.verdicts, "flows", None)
    if activity is None or flows_df is None or len(activity) == 0:
        return None
    joined = activity.join(flows_df[["verdict", "rule"]], on="flow")
    return (
        joined.groupby(["bin_start_ns", "verdict", "rule"], dropna=False, sort=True)["packets"]
        .sum()
        .reset_index()
    )


def write_flows(table, *, csv: str | None, parquet: str | None, stdout: IO[str]) -> None:
    from auditor.tables import FLOW_CSV_COLUMNS

    df = table.flows[[c.name for c in FLOW_CSV_COLUMNS]]
    if parquet:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UsageError("--parquet needs pyarrow: pip install 'zvr-audit[parquet]'") from None
        df.to_parquet(parquet, index=False)
        return
    if csv in (None, "-"):
        df.to_csv(stdout, index=False)
    else:
        with _open_out(csv) as fh:
            df.to_csv(fh, index=False)


def print_report(result: AuditResult, out: IO[str], *, color: bool, fail_on: str = "low") -> None:
    from auditor.report.terminal import render

    render(result.report, out, color=color, fail_on=fail_on, inventory=result.inventory)


def demo(out_dir: Path, *, progress_to: IO[str] | None = None) -> tuple[AuditResult, list[Path]]:
    """Audit the bundled sample capture; write demo.json and demo.html."""
    from auditor.resources import captures_dir

    folder = captures_dir()
    capture, inventory = folder / "demo.pcapng", folder / "demo-inventory.yaml"
    if not capture.exists():
        raise InputError(f"{capture}: the bundled demo capture is missing (broken install?)")
    result = audit([capture], inventory, include_flows=True, progress_to=progress_to)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = write_outputs(
        result,
        json_out=str(out_dir / "demo.json"),
        html_out=str(out_dir / "demo.html"),
        flows_csv=None,
    )
    return result, written


def discover(
    captures: list[Path], *, output: str | None, stdout: IO[str], stderr: IO[str] | None = None
) -> None:
    """Propose an inventory from captures; its warnings go to stderr."""
    from auditor.capture import expand_capture_paths
    from auditor.discover import captures_to_inventory, write_inventory

    inv = captures_to_inventory([str(p) for p in expand_capture_paths(captures)])
    for warning in inv.get("discovery", {}).get("warnings", []):
        print(f"warning: {warning}", file=stderr)
    if output:
        with _open_out(output) as fh:
            write_inventory(inv, fh)
    else:
        write_inventory(inv, stdout)


def show_rules(*, inventory: str | None, rules: list[str], fmt: str, stdout: IO[str]) -> None:
    from auditor.inventory import load_inventory
    from auditor.ruleset import effective_rules, load_rulesets
    from auditor.ruleset.show import render_rules

    inv = load_inventory(Path(inventory)) if inventory else None
    rulesets = load_rulesets(rules or None, inv.profile if inv else "zvr-legacy")
    render_rules(effective_rules(rulesets, inv), fmt, stdout)


def diff(before: Path, after: Path, *, stdout: IO[str], color: bool) -> int:
    from auditor.diff import diff_exit_status, render_diff, reports_to_diff

    d = reports_to_diff(before, after)
    render_diff(d, stdout, color=color)
    return diff_exit_status(d)


# ---------------------------------------------------------------- helpers
def _read(captures: list[Path], engine: str, jobs: int, dask: str | None, *, sha256: bool = True) -> Any:
    """The packet stream of the captures, from the chosen reader; with
    ``sha256=False`` the native reader hashes nothing."""
    from auditor.capture import expand_capture_paths
    from auditor.capture.parallel import capture_to_packets_parallel, cores

    cores(jobs)  # a bad --jobs is refused whichever reader runs
    paths = expand_capture_paths(captures)
    if engine == "native":
        return capture_to_packets_parallel(paths, jobs=jobs, dask=dask, sha256=sha256)
    if dask:
        raise UsageError("--dask works with the native reader only")
    from auditor.capture.reference import capture_to_packets_reference

    return capture_to_packets_reference(paths, engine)  # type: ignore[arg-type]


@contextlib.contextmanager
def _open_out(path: str) -> Iterator[IO[str]]:
    """Open an output file, turning a failure into one clear line (exit 2)."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 — closed by the with below
    except OSError as e:
        raise InputError(f"{path}: cannot write: {e.strerror}") from None
    with fh:
        yield fh


@contextlib.contextmanager
def _reading(stream: Any, progress_to: IO[str] | None, jobs: int) -> Iterator[Iterable[Any]]:
    """The stream's batches for the flow stage, already being read when the
    block starts, so reading overlaps the import of the flow and report
    stages (pandas: about 0.3 s): worker processes start on the first files
    (``stream.start``) and, from ``--jobs 2`` on, the reader thread starts
    decoding. ``--jobs 1`` (one core) reads on this thread, between flow
    updates. Everything is stopped however the block ends."""
    start = getattr(stream, "start", None)
    if start is not None:
        start()
    batches = _with_progress(stream, progress_to)
    ahead = None if jobs == 1 else _Prefetch(batches)
    try:
        yield batches if ahead is None else ahead
    finally:
        if ahead is not None:
            ahead.close()
        close = getattr(stream, "close", None)
        if close is not None:
            close()


class _Prefetch(Iterator[Any]):
    """The batches, decoded on a second thread while this one builds flows.

    Decoding and flow building are mostly numpy kernels that release the GIL,
    so the two overlap on a second core; order is kept (one producer, a FIFO
    queue) and an error in the reader is raised here, in the consumer. The
    thread starts at once; ``close`` (or the end of the batches) stops it."""

    def __init__(self, batches: Iterable[Any], depth: int = 2) -> None:
        import queue
        import threading

        self._box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._batches = batches
        self._worker = threading.Thread(target=self._produce, name="capture-reader", daemon=True)
        self._worker.start()

    def _offer(self, item: tuple[str, Any]) -> bool:
        import queue

        while not self._stop.is_set():
            try:
                self._box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False  # the consumer is gone

    def _produce(self) -> None:
        try:
            for batch in self._batches:
                if not self._offer(("batch", batch)):
                    return
            self._offer(("done", None))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which raises it
            self._offer(("error", e))

    def __next__(self) -> Any:
        if self._stop.is_set():
            raise StopIteration
        kind, item = self._box.get()
        if kind == "batch":
            return item
        self.close()
        if kind == "error":
            raise item
        raise StopIteration

    def close(self) -> None:
        self._stop.set()
        self._worker.join()


def _with_progress(stream: Any, progress_to: IO[str] | None) -> Iterable[Any]:
    """The stream's batches, with a progress bar on stderr when it is a
    terminal (never in a pipe, a log or CI)."""
    if progress_to is None or not getattr(progress_to, "isatty", lambda: False)():
        return stream
    total = getattr(stream, "total_bytes", None)
    if not total:
        return stream
    return _progress_iter(stream, progress_to, total)


def _progress_iter(stream: Any, progress_to: IO[str], total: int) -> Iterator[Any]:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    console = Console(file=progress_to, no_color="NO_COLOR" in os.environ)
    with Progress(
        "reading captures",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("read", total=total)
        for batch in stream:
            bar.update(task, completed=getattr(stream, "bytes_read", 0))
            yield batch

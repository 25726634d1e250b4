#!/usr/bin/env python3
"""Long fuzz campaign over the capture and flow stages (issue 6).

    python3 tools/fuzz_campaign.py --inputs 10000 --seed 1 [--jobs 2]

Input i is the mutant ``tests/fuzz/mutate.make_mutant(Random(f"{seed}:{i}"),
seeds)``: the same seed gives the same inputs on any machine. Each worker
process checks its inputs with ``tests/fuzz/invariants.check_capture`` (every
``--cli-every``-th also through ``zvr-audit flows --csv``), under an address
space limit (``--mem-headroom-mb`` above what the imports take: a reader that
allocates what a record claims fails with MemoryError instead of swapping)
and a time limit (SIGALRM in the worker; the parent kills a worker that does
not answer within twice the limit and counts a hang).

Prints the figures: inputs, outcomes (clean / warning / input_error /
known bug / crash / hang), throughput, slowest input, peak RSS, and for every
crash the reproducer saved under ``--out`` (a temp dir by default). Replay a
reproducer with ``--replay FILE`` (prints the traceback).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import random
import re
import resource
import sys
import tempfile
import time
import traceback
from multiprocessing import connection, get_context
from multiprocessing.connection import Connection
from pathlib import Path
from typing import cast

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]


def _vm_size_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _check_one(
    path: Path,
    work: Path,
    timeout: float,
    through_cli: bool,
    data: bytes = b"",
    companion: Path | None = None,
) -> dict:
    from fuzz.invariants import Hang, check_capture, check_cli, check_pair, known_bug, time_limit

    t0 = time.perf_counter()
    res: dict = {}
    try:
        with time_limit(timeout):
            outcome = check_capture(path)
            if through_cli:
                res["cli_exit"] = check_cli(path, work, outcome)
            if companion is not None:
                res["pair"] = check_pair(
                    path, companion, (outcome, check_capture(companion, chunk_check=False))
                )
        res["outcome"] = outcome.kind
        res["packets"] = outcome.packets
    except Hang as e:
        key = known_bug(e, data)
        res.update(
            outcome=f"known:{key}" if key else "hang",
            error=f"Hang: {e}",
            trace=traceback.format_exc(limit=-6),
        )
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        key = known_bug(e, data)
        res.update(
            outcome=f"known:{key}" if key else "crash",
            error=f"{type(e).__name__}: {e}"[:500],
            trace=traceback.format_exc(limit=-8),
        )
    res["seconds"] = time.perf_counter() - t0
    return res


def _worker(conn, args: argparse.Namespace, wid: int) -> None:
    import fuzz.invariants  # noqa: F401 - import everything before the address-space limit
    from fuzz.mutate import make_mutant
    from fuzz.seeds import all_seeds

    import auditor.cli
    import auditor.pipeline  # noqa: F401

    seeds = all_seeds()
    limit = _vm_size_bytes() + args.mem_headroom_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    work = Path(args.out) / f"worker{wid}"
    work.mkdir(parents=True, exist_ok=True)
    path = work / "input.bin"
    conn.send({"ready": wid, "as_limit": limit, "seeds": len(seeds)})
    while True:
        i = conn.recv()
        if i is None:
            return
        rng = random.Random(f"{args.seed}:{i}")
        mutant = make_mutant(rng, seeds)
        path.write_bytes(mutant.data)
        companion = None
        if args.pair_every > 0 and i % args.pair_every == args.pair_every // 2:
            # read together with a second mutant, as two files of one stream
            companion = work / "second.bin"
            second = make_mutant(rng, seeds)
            companion.write_bytes(second.data)
        res = _check_one(
            path,
            work,
            args.timeout,
            args.cli_every > 0 and i % args.cli_every == 0,
            mutant.data,
            companion,
        )
        if companion is not None:
            res["second"] = second.describe()
        res.update(
            i=i,
            what=mutant.describe(),
            size=len(mutant.data),
            maxrss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        )
        if "error" in res:  # the same message for every worker's input file
            res["error"] = (
                res["error"].replace(str(path), "INPUT").replace(str(work / "second.bin"), "SECOND")
            )
        if res["outcome"] in ("crash", "hang") or res["outcome"].startswith("known:"):
            keep = Path(args.out) / f"input-{i}.bin"
            keep.write_bytes(mutant.data)
            pair = ""
            if companion is not None:  # read as one stream with the first
                keep.with_suffix(".second.bin").write_bytes(second.data)
                pair = (
                    f"read together with {keep.with_suffix('.second.bin')}: {second.describe()}\n"
                )
            keep.with_suffix(".txt").write_text(
                f"{mutant.describe()}\n{pair}{res.get('error', '')}\n\n{res.get('trace', '')}"
            )
            res["reproducer"] = str(keep)
        conn.send(res)


class _Pool:
    """Worker processes fed one input index at a time; a worker that does not
    answer in time is killed (a hang) and replaced."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ctx = get_context("spawn")
        self.workers: dict[int, tuple] = {}  # wid -> (process, conn)
        self.busy: dict[int, tuple[int, float]] = {}  # wid -> (input, started)
        self.next_wid = 0
        self.info: dict = {}
        for _ in range(args.jobs):
            self._start()

    def _start(self) -> None:
        wid = self.next_wid
        self.next_wid += 1
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker, args=(child, self.args, wid), daemon=True)
        proc.start()
        child.close()
        self.info = parent.recv()
        self.workers[wid] = (proc, parent)

    def run(self, indices: list[int], on_result) -> None:
        todo = collections.deque(indices)
        hard = self.args.timeout * 2 + 5
        while todo or self.busy:
            for wid, (_, conn) in list(self.workers.items()):
                if wid not in self.busy and todo:
                    i = todo.popleft()
                    conn.send(i)
                    self.busy[wid] = (i, time.monotonic())
            conns = {self.workers[w][1]: w for w in self.busy}
            for ready in connection.wait(list(conns), timeout=0.5):
                conn = cast(Connection, ready)
                wid = conns[conn]
                i, started = self.busy.pop(wid)
                try:
                    on_result(conn.recv())
                except EOFError:  # the worker died: segfault, OOM kill...
                    proc = self.workers.pop(wid)[0]
                    proc.join(1)
                    on_result(
                        {
                            "i": i,
                            "outcome": "crash",
                            "error": f"worker died (exit code {proc.exitcode})",
                            "seconds": time.monotonic() - started,
                            "maxrss_kb": 0,
                        }
                    )
                    self._start()
            now = time.monotonic()
            for wid, (i, started) in list(self.busy.items()):
                if now - started > hard:
                    proc, conn = self.workers.pop(wid)
                    proc.kill()
                    proc.join()
                    del self.busy[wid]
                    on_result(
                        {
                            "i": i,
                            "outcome": "hang",
                            "error": f"killed after {now - started:.1f} s",
                            "seconds": now - started,
                            "maxrss_kb": 0,
                        }
                    )
                    self._start()

    def close(self) -> None:
        for proc, conn in self.workers.values():
            conn.send(None)
            proc.join(5)


def _git_head() -> str | None:
    import subprocess

    try:
        return subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def campaign(args: argparse.Namespace) -> dict:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    outcomes: collections.Counter = collections.Counter()
    ops: collections.Counter = collections.Counter()
    findings: list[dict] = []
    slowest: dict = {"seconds": -1.0}
    times: list[float] = []
    peak_kb = 0
    cli_exits: collections.Counter = collections.Counter()
    signatures: collections.Counter = collections.Counter()
    pairs: collections.Counter = collections.Counter()
    done = 0
    commit = _git_head()  # the code under test, as the run starts
    t0 = time.monotonic()

    def on_result(res: dict) -> None:
        nonlocal peak_kb, slowest, done
        done += 1
        outcomes[res["outcome"]] += 1
        times.append(res["seconds"])
        peak_kb = max(peak_kb, res.get("maxrss_kb", 0))
        if "cli_exit" in res:
            cli_exits[res["cli_exit"]] += 1
        if "pair" in res:
            pairs[res["pair"]] += 1
        for op in res.get("what", "").split(" + ")[1:]:
            ops[op.split("(")[0]] += 1
        if res["seconds"] > slowest["seconds"]:
            slowest = {k: res.get(k) for k in ("i", "seconds", "what", "size", "outcome")}
        if res["outcome"] in ("crash", "hang") or res["outcome"].startswith("known:"):
            findings.append(
                {k: res.get(k) for k in ("i", "outcome", "what", "second", "error", "reproducer")}
            )
            sig = (res["outcome"], re.sub(r"\d+", "N", str(res.get("error")))[:90])
            signatures[sig] += 1
            if (
                res["outcome"] in ("crash", "hang") and signatures[sig] == 1
            ):  # first of each kind only
                print(
                    f"  {res['outcome'].upper()} input {res['i']}: {res.get('error')}\n"
                    f"    {res.get('what')}\n    reproducer: {res.get('reproducer')}",
                    flush=True,
                )
        if args.progress and done % args.progress == 0:
            rate = done / (time.monotonic() - t0)
            print(f"  {done}/{args.inputs} inputs, {rate:.0f}/s, {dict(outcomes)}", flush=True)

    pool = _Pool(args)
    try:
        pool.run(list(range(args.first, args.first + args.inputs)), on_result)
    finally:
        pool.close()
    wall = time.monotonic() - t0
    times.sort()
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "commit": commit,
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "seed": args.seed,
        "inputs": done,
        "first_input": args.first,
        "jobs": args.jobs,
        "seeds": pool.info.get("seeds"),
        "outcomes": dict(sorted(outcomes.items())),
        "cli_checked": sum(cli_exits.values()),
        "cli_exit_codes": {str(k): v for k, v in sorted(cli_exits.items())},
        "pairs_checked": dict(sorted(pairs.items())),
        "wall_seconds": round(wall, 1),
        "inputs_per_second": round(done / wall, 1) if wall else None,
        "seconds_per_input": {
            "median": round(times[len(times) // 2], 4) if times else None,
            "p99": round(times[int(len(times) * 0.99)], 4) if times else None,
        },
        "slowest_input": slowest,
        "time_limit_seconds": args.timeout,
        "address_space_limit_mb": round(pool.info.get("as_limit", 0) / 2**20),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "mutations": dict(ops.most_common()),
        "finding_kinds": [
            {"outcome": o, "error": e, "inputs": n} for (o, e), n in signatures.most_common()
        ],
        "findings": findings[:200],
        "out": str(out),
    }


def replay(path: Path, timeout: float) -> int:
    import fuzz.invariants  # noqa: F401

    second = path.with_suffix(".second.bin")  # saved beside a finding made as a pair
    res = _check_one(
        path,
        Path(tempfile.mkdtemp(prefix="zvr-fuzz-replay-")),
        timeout,
        True,
        path.read_bytes(),
        second if second.is_file() else None,
    )
    print(json.dumps({k: v for k, v in res.items() if k != "trace"}, indent=2))
    if "trace" in res:
        print(res["trace"])
    return 0 if res["outcome"] in ("clean", "warning", "input_error") else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--inputs", type=int, default=10_000)
    p.add_argument("--seed", default="1", help="campaign seed: input i is Random(f'{seed}:{i}')")
    p.add_argument(
        "--first", type=int, default=0, help="index of the first input (to resume or shard)"
    )
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per input")
    p.add_argument(
        "--mem-headroom-mb",
        type=int,
        default=1024,
        help="address space a worker may add to what its imports take",
    )
    p.add_argument(
        "--cli-every", type=int, default=10, help="every n-th input also through the CLI (0: never)"
    )
    p.add_argument(
        "--pair-every",
        type=int,
        default=10,
        help="every n-th input also read together with a second mutant (0: never)",
    )
    p.add_argument("--out", default=None, help="where reproducers go (default: a new temp dir)")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    p.add_argument(
        "--progress", type=int, default=1000, help="print progress every n inputs (0: never)"
    )
    p.add_argument(
        "--replay", type=Path, default=None, help="check one saved input and show its traceback"
    )
    args = p.parse_args(argv)
    if args.replay:
        return replay(args.replay, args.timeout)
    args.out = args.out or tempfile.mkdtemp(prefix="zvr-fuzz-")
    figures = campaign(args)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    bad = figures["outcomes"].get("crash", 0) + figures["outcomes"].get("hang", 0)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

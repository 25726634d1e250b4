"""One test per exit path of the command line (SPEC section 2)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from auditor import cli


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    assert "audit" in capsys.readouterr().out


def test_no_command_prints_help_and_exits_2() -> None:
    code, out, _ = run()
    assert code == 2 and "COMMAND" in out


def test_unknown_option_is_one_line_exit_2() -> None:
    code, _, err = run("audit", "x.pcap", "--inventory", "i.yaml", "--bogus")
    assert code == 2
    assert err.count("\n") == 1 and "unrecognized arguments: --bogus" in err


def test_missing_required_inventory_exit_2() -> None:
    code, _, err = run("audit", "x.pcap")
    assert code == 2 and "--inventory" in err and "Traceback" not in err


def test_bad_fail_on_value_exit_2() -> None:
    code, _, err = run("audit", "x.pcap", "--inventory", "i.yaml", "--fail-on", "urgent")
    assert code == 2 and "fail-on" in err


def test_internal_error_is_exit_3_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a: object) -> int:
        raise ZeroDivisionError("bug")

    monkeypatch.setitem(cli.HANDLERS, "rules", boom)
    code, _, err = run("rules")
    assert code == 3
    assert err.count("\n") == 1 and "internal error" in err and "Traceback" not in err


def test_internal_error_traceback_only_with_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a: object) -> int:
        raise ZeroDivisionError("bug")

    monkeypatch.setitem(cli.HANDLERS, "rules", boom)
    code, _, err = run("rules", "--debug")
    assert code == 3 and "Traceback" in err


def test_python_m_auditor_runs() -> None:
    proc = subprocess.run([sys.executable, "-m", "auditor", "--version"], check=False,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("zvr-audit ")


def _buffered_env() -> dict[str, str]:
    """The environment with block-buffered standard streams, as a user's
    shell gives them (CI may set PYTHONUNBUFFERED, which hides lost output)."""
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def _demo_flows_to_stdout() -> list[str]:
    from auditor.resources import captures_dir

    return [sys.executable, "-m", "auditor", "flows", str(captures_dir() / "demo.pcapng"), "--csv", "-"]


def test_the_command_leaves_at_once_with_its_output_whole() -> None:
    """``run`` skips the interpreter's teardown: what sits in the stdout
    buffer (here the CSV pandas wrote) must still come out, and the exit
    code with it."""
    proc = subprocess.run(_demo_flows_to_stdout(), check=False, capture_output=True, text=True, timeout=120,
                          env=_buffered_env())
    assert proc.returncode == 0 and proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("client_ip,") and len(lines) == 1 + 150  # the demo's 150 flows
    assert lines[-1].count(",") == lines[0].count(",")


def test_a_reader_that_stops_early_gets_no_error_noise() -> None:
    """``zvr-audit flows CAP --csv - | head -0``: a reader that closes the
    pipe is no error: exit 0, nothing on stderr, no traceback."""
    with subprocess.Popen(_demo_flows_to_stdout(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=_buffered_env()) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # before anything is written: every write meets a closed pipe
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == 0 and err == b""


# ------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    from auditor.simulate import simulate

    work = tmp_path_factory.mktemp("cli")
    out = {}
    for name in ("healthy-two-site", "vcenter-reversed"):
        cap, inv = work / f"{name}.pcap", work / f"{name}.yaml"
        simulate(name, cap, inv)
        out[name] = (str(cap), str(inv))
    return out


def test_audit_clean_exits_0_and_writes_every_output(scenarios, tmp_path, report_schema) -> None:
    import json

    import jsonschema
    import pandas as pd

    from auditor.tables import FLOW_CSV_COLUMNS

    cap, inv = scenarios["healthy-two-site"]
    js, html, csv = tmp_path / "r.json", tmp_path / "r.html", tmp_path / "f.csv"
    code, out, err = run("audit", cap, "--inventory", inv, "--json", str(js), "--html", str(html),
                         "--flows-csv", str(csv), "--include-flows")
    assert code == 0, err
    assert out.startswith("PASS")
    report = json.loads(js.read_text())
    jsonschema.Draft202012Validator(report_schema).validate(report)
    assert report["findings"] == [] and len(report["flows"]) == report["summary"]["flows"]
    assert "<svg" in html.read_text()
    flows = pd.read_csv(csv)
    assert list(flows.columns) == [c.name for c in FLOW_CSV_COLUMNS] + ["verdict", "rule"]
    assert len(flows) == report["summary"]["flows"]


def test_audit_with_findings_exits_1_unless_below_fail_on(scenarios) -> None:
    cap, inv = scenarios["vcenter-reversed"]
    code, out, _ = run("audit", cap, "--inventory", inv)
    assert code == 1 and out.startswith("FAIL") and "reversed" in out
    # the reversed 443 is high: --fail-on critical lets the audit pass
    code, out, _ = run("audit", cap, "--inventory", inv, "--fail-on", "critical", "--quiet")
    assert code == 0 and out == ""


def test_audit_unreadable_capture_exits_2_naming_it(scenarios, tmp_path) -> None:
    _, inv = scenarios["healthy-two-site"]
    bogus = tmp_path / "notes.pcap"
    bogus.write_text("these are my notes, not a capture\n")
    code, _, err = run("audit", str(bogus), "--inventory", inv)
    assert code == 2 and err.count("\n") == 1 and "notes.pcap: byte 0" in err


def test_audit_bad_inventory_exits_2_with_file_and_line(scenarios, tmp_path) -> None:
    cap, inv = scenarios["healthy-two-site"]
    bad = tmp_path / "inv.yaml"
    bad.write_text(Path(inv).read_text().replace("role: vcenter", "role: vcentre", 1))
    code, _, err = run("audit", cap, "--inventory", str(bad))
    assert code == 2 and err.count("\n") == 1
    assert f"{bad}:" in err and "vcentre" in err


def test_flows_csv_and_parquet_hold_the_same_flows(scenarios, tmp_path) -> None:
    import pandas as pd

    from auditor.tables import FLOW_CSV_COLUMNS

    cap, _ = scenarios["vcenter-reversed"]
    code, out, _ = run("flows", cap)  # CSV on stdout by default
    assert code == 0
    assert out.splitlines()[0] == ",".join(c.name for c in FLOW_CSV_COLUMNS)
    pq = tmp_path / "f.parquet"
    assert run("flows", cap, "--parquet", str(pq))[0] == 0
    table = pd.read_parquet(pq)
    assert list(table.columns) == [c.name for c in FLOW_CSV_COLUMNS]
    assert len(table) == len(out.splitlines()) - 1


def test_progress_bar_only_on_a_terminal(scenarios) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    cap, inv = scenarios["healthy-two-site"]
    out, err = io.StringIO(), Tty()
    assert cli.main(["audit", cap, "--inventory", inv, "--quiet"], stdout=out, stderr=err) == 0
    assert "reading captures" in err.getvalue()
    plain = io.StringIO()
    assert cli.main(["audit", cap, "--inventory", inv, "--quiet"], stdout=out, stderr=plain) == 0
    assert plain.getvalue() == ""


def test_demo_from_an_empty_folder(tmp_path, monkeypatch, report_schema) -> None:
    import json

    import jsonschema

    monkeypatch.chdir(tmp_path)
    code, out, err = run("demo")
    assert code == 0, err
    assert "FAIL" in out  # the demo shows findings on purpose
    report = json.loads((tmp_path / "reports" / "demo.json").read_text())
    jsonschema.Draft202012Validator(report_schema).validate(report)
    kinds = {f["kind"] for f in report["findings"]}
    assert {"blocked", "misdirected", "reversed", "unexpected"} <= kinds
    assert (tmp_path / "reports" / "demo.html").stat().st_size > 10_000


def test_jobs_1_runs_on_one_core_numpy_blas_included(scenarios, tmp_path) -> None:
    """`--jobs N` means at most N cores: no hash or reader thread with
    --jobs 1, and numpy's BLAS pool (idle but spinning) is kept to one thread
    in a fresh process; a value below 0 is a usage error."""
    import os

    code = (
        "import sys, threading; from auditor import cli; "
        "rc = cli.main(sys.argv[1:]); "
        "import os; "
        "print(os.environ.get('OPENBLAS_NUM_THREADS'), sorted(t.name for t in threading.enumerate())); "
        "sys.exit(rc)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    cap, _ = scenarios["healthy-two-site"]
    argv = ["flows", cap, "--csv", str(tmp_path / "f.csv"), "--jobs", "1"]
    r = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=False, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1 ['MainThread']"
    rc, _, err = run("flows", cap, "--jobs", "-2")
    assert rc == 2 and err.count("\n") == 1 and "--jobs" in err

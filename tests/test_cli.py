"""One test per exit path of the command line (SPEC section 2)."""

from __future__ import annotations

import io
import subprocess
import sys

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
    proc = subprocess.run([sys.executable, "-m", "auditor", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("zvr-audit ")

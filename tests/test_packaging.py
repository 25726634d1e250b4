"""The wheel carries the rules and the demo, so `pip install .` followed by
`zvr-audit demo` works from any folder (DESIGN: rules/ and captures/ ship as
package data)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(out), str(REPO)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (whl,) = out.glob("zvr_audit-*.whl")
    return whl


def test_wheel_ships_rules_captures_and_every_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for rule_file in (REPO / "rules").glob("*.yaml"):
        assert f"auditor/_rules/{rule_file.name}" in names
    assert "auditor/_captures/demo.pcapng" in names
    assert "auditor/_captures/demo-inventory.yaml" in names
    # every sub-package of the source tree is in the wheel
    for init in (REPO / "auditor").rglob("__init__.py"):
        rel = init.relative_to(REPO).as_posix()
        assert rel in names, f"{rel} missing from the wheel (add it to pyproject packages)"
    for tpl in (REPO / "auditor" / "report" / "templates").glob("*"):
        assert f"auditor/report/templates/{tpl.name}" in names


def test_installed_wheel_runs_demo_from_an_empty_folder(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                   check=True, timeout=300)
    work = tmp_path / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(venv / "bin" / "zvr-audit"), "demo", "--quiet"], cwd=work,
                          capture_output=True, text=True, timeout=300, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (work / "reports" / "demo.json").is_file()
    assert (work / "reports" / "demo.html").is_file()
    # the installed copy ran, not the checkout
    where = subprocess.run([str(py), "-c", "import auditor; print(auditor.__file__)"], cwd=work,
                           capture_output=True, text=True, env=env, timeout=60, check=False)
    assert str(venv) in where.stdout

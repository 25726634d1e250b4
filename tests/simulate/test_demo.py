"""The bundled demo in captures/ is what its script makes, and small."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CAPTURES = REPO / "captures"


def test_make_demo_regenerates_the_committed_files(tmp_path):
    """`python3 captures/make_demo.py` is runnable and byte-identical (run
    from a copy so the repository's files are not touched)."""
    import scapy

    made_with = next(
        line.split('"')[1]
        for line in (CAPTURES / "make_demo.py").read_text().splitlines()
        if line.startswith("SCAPY = ")
    )
    if scapy.__version__ != made_with:
        pytest.skip(f"demo made with scapy {made_with}, this is {scapy.__version__}")
    folder = tmp_path / "captures"
    folder.mkdir()
    shutil.copy(CAPTURES / "make_demo.py", folder / "make_demo.py")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, str(folder / "make_demo.py")],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    for name in ("demo.pcapng", "demo-inventory.yaml"):
        assert (folder / name).read_bytes() == (CAPTURES / name).read_bytes(), (
            f"captures/{name} is stale: run python3 captures/make_demo.py"
        )


def test_demo_is_small_and_documented():
    assert (CAPTURES / "demo.pcapng").stat().st_size < 700_000  # well under 1 MB
    readme = (CAPTURES / "README.md").read_text()
    for name in ("demo.pcapng", "demo-inventory.yaml", "make_demo.py"):
        assert f"`{name}`" in readme

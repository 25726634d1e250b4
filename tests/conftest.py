"""Shared test fixtures: where the repository and the shared corpus are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()
CORPUS = SHARED / "corpus"
SCHEMA = SHARED / "schema" / "report-v1.json"

# Reports and timestamps are UTC whatever the machine says.
os.environ["TZ"] = "UTC"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files instead of comparing against them")


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS} (it is present in CI beside the repo)")
    return CORPUS


@pytest.fixture
def report_schema() -> dict:
    import json

    if not SCHEMA.is_file():
        pytest.skip(f"report schema not found at {SCHEMA}")
    return json.loads(SCHEMA.read_text())

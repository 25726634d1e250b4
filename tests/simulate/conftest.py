"""Scenario captures, generated once per test session (each ~1 s of scapy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.simulate import simulate


class ScenarioFiles:
    """Lazily writes a scenario's capture and inventory, once per session."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.made: dict[tuple[str, str], tuple[Path, Path]] = {}
        self.read: dict[tuple, object] = {}

    def __call__(self, scenario: str, suffix: str = ".pcapng") -> tuple[Path, Path]:
        key = (scenario, suffix)
        if key not in self.made:
            cap = self.folder / f"{scenario}{suffix}"
            inv = self.folder / f"{scenario}{suffix}.yaml"
            simulate(scenario, cap, inv, seed=0)
            self.made[key] = (cap, inv)
        return self.made[key]

    def packets(self, scenario: str, suffix: str = ".pcapng"):
        """The scenario's capture re-read with scapy (cached: dissection is slow)."""
        from scapy.utils import rdpcap

        key = ("read", scenario, suffix)
        if key not in self.read:
            self.read[key] = rdpcap(str(self(scenario, suffix)[0]))
        return self.read[key]


@pytest.fixture(scope="session")
def scenario_files(tmp_path_factory: pytest.TempPathFactory) -> ScenarioFiles:
    return ScenarioFiles(tmp_path_factory.mktemp("scenarios"))

"""Where the bundled rule sets and sample captures are.

Installed, they are the package data ``auditor._rules`` and
``auditor._captures``; in a source checkout that was not installed they are the
top-level ``rules/`` and ``captures/`` folders.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path


def _bundled(package: str, folder: str) -> Path:
    try:
        path = Path(str(importlib.resources.files(package)))
        if path.is_dir():
            return path
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parent.parent / folder


def rules_dir() -> Path:
    return _bundled("auditor._rules", "rules")


def captures_dir() -> Path:
    return _bundled("auditor._captures", "captures")

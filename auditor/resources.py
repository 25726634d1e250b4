"""Where the bundled rule sets and sample captures are.

Installed, they are the package data folders ``auditor/_rules`` and
``auditor/_captures`` (pyproject maps the top-level ``rules/`` and
``captures/`` there); in a source checkout that was not installed they are the
top-level folders themselves.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _bundled(installed: str, folder: str) -> Path:
    # Plain paths rather than importlib.resources: the data folders carry no
    # __init__.py, and a namespace package's files() is not a real directory.
    path = _PACKAGE / installed
    return path if path.is_dir() else _PACKAGE.parent / folder


def rules_dir() -> Path:
    return _bundled("_rules", "rules")


def captures_dir() -> Path:
    return _bundled("_captures", "captures")

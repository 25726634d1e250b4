"""The verdict tests write the bundled rule table out by hand (SPEC section 4);
this keeps that copy honest against the real rules/ files."""

from __future__ import annotations

import pytest
from verdict_builders import bundled_rules

FIELDS = (
    "id",
    "port",
    "proto",
    "client",
    "server",
    "scope",
    "phase",
    "expect",
    "bidirectional",
    "configurable",
    "severity",
)


def test_fixture_rules_equal_the_bundled_rule_sets():
    ruleset = pytest.importorskip("auditor.ruleset")
    real = ruleset.effective_rules(ruleset.load_rulesets(None, "zvr-legacy"), None)
    assert [tuple(getattr(r, f) for f in FIELDS) for r in real] == [
        tuple(getattr(r, f) for f in FIELDS) for r in bundled_rules()
    ]

"""Rules stage: ``rules/*.yaml`` → rule model (SPEC section 4).

`load_rulesets` reads and checks the rule files in load order,
`effective_rules` applies an inventory's port overrides, `rule_ports` gives the
flow stage its server-port hint, `show.render_rules` prints them.
"""

from auditor.ruleset.loader import (
    DEFAULT_PROFILE,
    INFRASTRUCTURE,
    bundled_paths,
    effective_rules,
    load_rulesets,
    rule_ports,
)

__all__ = [
    "DEFAULT_PROFILE",
    "INFRASTRUCTURE",
    "bundled_paths",
    "effective_rules",
    "load_rulesets",
    "rule_ports",
]

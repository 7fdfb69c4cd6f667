"""The demo folder is what a new user runs first: every default rule must fire there."""

from pathlib import Path

from gradlint.api import lint_paths
from gradlint.config import Settings
from gradlint.registry import select_rules

DEMO = Path(__file__).resolve().parents[1] / "demo"


def test_every_rule_fires_in_the_demo():
    rules = select_rules()
    result, missing = lint_paths([str(DEMO)], Settings(), rules, jobs=1)
    assert not missing and not result.errors
    fired = {finding.rule for finding in result.findings}
    expected = {rule.code for rule in rules if rule.code != "GL000"}
    assert expected <= fired, f"no demo finding for {sorted(expected - fired)}"

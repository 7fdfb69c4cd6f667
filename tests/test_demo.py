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


def test_the_readme_shows_the_demo_output_as_it_is(run_cli, monkeypatch):
    readme = (DEMO.parent / "README.md").read_text(encoding="utf-8")
    shown = readme.split("$ gradlint demo/\n", 1)[1].split("```", 1)[0]
    code, out, _ = run_cli("demo/", cwd=DEMO.parent)
    assert code == 1
    assert shown == out, "README.md's demo transcript is stale: paste the output of `gradlint demo/`"

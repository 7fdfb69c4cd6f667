"""Codes, names and selection."""

import re

import pytest

from gradlint.registry import SelectionError, all_rules, expand, get_rule, select_rules
from gradlint.rule import Rule


def test_codes_and_names_are_well_formed_and_unique():
    rules = all_rules()
    assert [r.code for r in rules] == sorted({r.code for r in rules})
    assert len({r.name for r in rules}) == len(rules)
    for rule in rules:
        assert re.fullmatch(r"GL\d{3}", rule.code)
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name)
        assert rule.frameworks


def test_one_rule_per_module():
    modules = [rule.__module__ for rule in all_rules()]
    assert len(modules) == len(set(modules))
    for rule in all_rules():
        assert rule.__module__.rsplit(".", 1)[1].startswith(rule.code.lower() + "_")


def test_prefix_and_name_selection():
    assert expand(["GL05"]) == {r.code for r in all_rules() if r.code.startswith("GL05")}
    assert expand(["objective-ignores-argument"]) == {"GL050"}
    assert expand(["ALL"]) == {r.code for r in all_rules()}
    assert get_rule("gl050").code == "GL050"
    with pytest.raises(SelectionError):
        expand(["GL99"])


def test_ignore_wins_over_select():
    assert [r.code for r in select_rules(["GL0"], ignore=["GL050"]) if r.code == "GL050"] == []


def test_rule_definition_errors():
    with pytest.raises(TypeError, match="code must look like"):
        type("BadCode", (Rule,), {"code": "X1", "message": "m", "__doc__": "d", "frameworks": ("torch",)})
    with pytest.raises(TypeError, match="is taken by"):
        type("Dup", (Rule,), {"code": "GL050", "message": "m", "__doc__": "d", "frameworks": ("torch",)})
    with pytest.raises(TypeError, match="names the frameworks"):
        type("NoFw", (Rule,), {"code": "GL998", "message": "m", "__doc__": "d"})


def test_a_finding_severity_other_than_the_rules_is_declared_and_explained():
    """The rule table shows one severity per rule; a rule whose findings may get another one
    declares it in `other_severities` and says when under `## Severity` (report() refuses
    an undeclared one)."""
    import inspect

    for rule in all_rules():
        used = set(re.findall(r"Severity\.(ERROR|WARNING|INFO)", inspect.getsource(inspect.getmodule(rule))))
        declared = {rule.severity.name, *(level.name for level in rule.other_severities)}
        assert used <= declared, f"{rule.code} reports {sorted(used - declared)} without declaring it"
        for level in rule.other_severities:
            section = rule.__doc__.split("## Severity", 1)[1].split("##", 1)[0].lower()
            assert level.value in section and rule.severity.value in section, rule.code

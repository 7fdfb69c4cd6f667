"""A rule that declares `differentiated_code_only` is not run on test files and optimiser
packages; the declaration holds: run there anyway, it finds nothing in its bad fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from gradlint.api import lint_source
from gradlint.engine import runner
from gradlint.registry import rule_index, get_rule

FIXTURES = Path(__file__).parent.parent / "fixtures"
DECLARED = [code for code in sorted(rule_index()) if get_rule(code).differentiated_code_only]
# Paths where no gradient goes through the file as a whole.
UNDIFFERENTIATED = ["tests/losses.py", "model_test.py", "test_model.py", "optim/sgd.py"]


def test_some_rules_declare_it():
    assert {"GL030", "GL080", "GL082"} <= set(DECLARED)


@pytest.mark.parametrize("code", DECLARED)
def test_the_declaration_holds_on_the_bad_fixtures(code, monkeypatch):
    bad = sorted((FIXTURES / code).glob("bad*.py"))
    found = [len(lint_source(path.read_text(), path=f"models/{path.name}", select=[code])) for path in bad]
    assert sum(found) > 0  # the fixtures do have findings where gradients go
    monkeypatch.setattr(runner, "_applicable", lambda rules, path: rules)  # run it anyway
    for path in bad:
        for where in UNDIFFERENTIATED:
            assert lint_source(path.read_text(), path=where, select=[code]) == [], (path.name, where)


def test_the_engine_does_not_run_them_there(monkeypatch):
    ran = []
    monkeypatch.setattr(runner, "_walk_rules", lambda context, instances: ran.extend(type(i).code for i in instances))
    source = (FIXTURES / "GL080" / "bad_torch.py").read_text()
    lint_source(source, path="tests/losses.py", select=[*DECLARED, "GL100"])
    assert ran == ["GL100"]

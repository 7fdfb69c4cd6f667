"""The dynamic fixtures: every marked line gets the verdict its marker names, through real workers.

Markers, in `fixtures/dynamic/<CODE>/*.py`:

    y = tf.norm(a - b)  # confirmed: GL030
    y = tf.norm(a - b + 1e-12)  # not-reproduced: GL030 at `tf.norm(a - b + 1e-12)`
    import utils  # inconclusive: GL050 (No module named 'utils')

Without `at`, the static rule must report a finding that starts on that line; with it, the
witness is run on the first occurrence of that code on the line (repaired code the static rule
rightly leaves alone). A text in parentheses must appear in the evidence.
All selected cases are checked in one batch, so each framework is imported once.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from gradlint.rule import Finding
from tests.conftest import FIXTURES, require_frameworks

MARKER = re.compile(r"#\s*(confirmed|not-reproduced|inconclusive):\s*(GL\d{3})(?:\s+at\s+`([^`]+)`)?(?:\s+\((.*)\))?\s*$")
DYNAMIC = FIXTURES / "dynamic"


def _cases() -> list:
    cases = []
    for path in sorted(DYNAMIC.rglob("*.py")):
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            match = MARKER.search(line)
            if match:
                verdict, code, at, reason = match.groups()
                case_id = f"{path.relative_to(DYNAMIC)}:{number}:{code}"
                cases.append(pytest.param(path, number, code, verdict, at, reason, id=case_id))
    return cases


CASES = _cases()


def _finding(path: Path, line: int, code: str, at: str | None) -> Finding | str:
    from gradlint.api import lint_source
    from gradlint.registry import get_rule

    if at is None:
        found = [f for f in lint_source(path.read_bytes(), str(path), select=[code]) if f.line == line]
        return found[0] if found else f"{code} reports nothing on line {line}"
    text = path.read_text("utf-8").splitlines()[line - 1]
    column = text.find(at)
    if column < 0:
        return f"`{at}` is not on line {line}"
    rule = get_rule(code)
    return Finding(str(path), line, column + 1, line, column + 1 + len(at), code, rule.name, rule.severity.value, "forced")


@pytest.fixture(scope="session")
def dynamic_results(request) -> dict:
    from gradlint.dynamic import DynamicOptions, confirm

    wanted = [item.callspec.params for item in request.session.items
              if item.originalname == "test_fixture_verdict" and hasattr(item, "callspec")]
    keys, findings, results = [], [], {}
    for params in wanted:
        key = (params["path"], params["line"], params["code"])
        finding = _finding(params["path"], params["line"], params["code"], params["at"])
        if isinstance(finding, str):
            results[key] = finding
        else:
            keys.append(key)
            findings.append(finding)
    confirm(findings, DynamicOptions(jobs=2, timeout=60))
    results.update(zip(keys, findings))
    return results


def _missing_module(path: Path) -> str | None:
    """The first framework module the fixture imports that is not installed here."""
    text = path.read_text("utf-8")
    for module in ("tensorflow_probability", "tf_keras", "torch", "tensorflow", "keras", "jax", "pytensor", "pymc", "scipy"):
        if re.search(rf"^\s*(import|from) {module}\b", text, re.MULTILINE) and importlib.util.find_spec(module) is None:
            return module
    return None


@pytest.mark.parametrize("path, line, code, verdict, at, reason", CASES)
def test_fixture_verdict(dynamic_results, path, line, code, verdict, at, reason):
    missing = _missing_module(path)
    if missing and not require_frameworks():
        pytest.skip(f"{missing} is not installed")
    finding = dynamic_results[(path, line, code)]
    assert not isinstance(finding, str), finding
    confirmation = finding.confirmation
    assert confirmation is not None, "no confirmation"
    assert confirmation["verdict"] == verdict, confirmation
    assert confirmation["evidence"]
    if reason:
        assert reason in confirmation["evidence"], confirmation
    if verdict != "inconclusive":
        assert confirmation["framework"] and confirmation["seconds"] > 0, confirmation


def test_every_confirmable_rule_has_dynamic_fixtures():
    from gradlint.dynamic import witnesses

    for code in witnesses.table():
        verdicts = {case.values[3] for case in CASES if case.values[2] == code}
        assert {"confirmed", "not-reproduced"} <= verdicts, f"{code}: needs a confirmed and a not-reproduced fixture"

"""Every rule against every fixture: `bad*.py` must be flagged exactly on its marked lines
(`# error: GL050`), `good*.py` must be quiet under every default rule. Nothing here names a
rule: a new rule adds cases, not code."""

import re
from pathlib import Path

import pytest

from gradlint import lint_source
from gradlint.registry import all_rules, default_codes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MARKER = re.compile(r"#\s*error:\s*((?:GL\d{3}[,\s]*)+)")


def marked(path: Path, code: str) -> list[tuple[int, str]]:
    lines = path.read_bytes().decode("utf-8", "replace").splitlines()
    found = []
    for number, line in enumerate(lines, 1):
        for match in MARKER.finditer(line):
            found.extend((number, c) for c in re.findall(r"GL\d{3}", match.group(1)) if c == code)
    return found


CASES = [
    pytest.param(rule.code, path, id=f"{rule.code}/{path.name}")
    for rule in all_rules()
    for path in sorted((FIXTURES / rule.code).glob("*.py"))
]


@pytest.mark.parametrize(("code", "path"), CASES)
def test_fixture(code: str, path: Path) -> None:
    source = path.read_bytes()
    if path.name.startswith("bad"):
        found = lint_source(source, path=path, select=[code])
        expected = marked(path, code)
        if not expected:  # a file that cannot be decoded cannot carry markers: line 1
            expected = [(1, code)]
        assert [(f.line, f.rule) for f in found] == expected
    else:
        found = lint_source(source, path=path, select=default_codes())
        assert [(f.line, f.rule, f.message) for f in found] == []


def test_every_rule_has_fixtures() -> None:
    for rule in all_rules():
        names = [p.name for p in (FIXTURES / rule.code).glob("*.py")]
        assert any(n.startswith("bad") for n in names), f"{rule.code} has no bad fixture"
        assert any(n.startswith("good") for n in names), f"{rule.code} has no good fixture"

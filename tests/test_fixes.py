"""Every fix against its fixtures: `fixtures/<CODE>/fixes/NAME.py` fixed with that rule must
equal `NAME.fixed.py` byte for byte, fixing again must change nothing, and the fixed file
must be quiet for the rule. Files named `unsafe_*.py` need `--unsafe-fixes`; without it
they must stay as they are. Nothing here names a rule."""

from pathlib import Path

import pytest

from gradlint import fix_source, lint_source
from gradlint.registry import all_rules

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

CASES = [
    pytest.param(rule.code, path, id=f"{rule.code}/{path.name}")
    for rule in all_rules()
    for path in sorted((FIXTURES / rule.code / "fixes").glob("*.py"))
    if not path.name.endswith(".fixed.py")
]


@pytest.mark.parametrize(("code", "path"), CASES)
def test_fix(code: str, path: Path) -> None:
    unsafe = path.name.startswith("unsafe_")
    before = path.read_bytes()
    expected = path.with_name(path.stem + ".fixed.py").read_bytes()
    assert lint_source(before, path=path, select=[code]), "the fixture must start with findings"
    fixed, remaining = fix_source(before, path=path, select=[code], unsafe_fixes=unsafe)
    assert fixed.decode() == expected.decode()
    assert fixed == expected
    assert remaining == [] and lint_source(fixed, path=path, select=[code]) == []
    again, _ = fix_source(fixed, path=path, select=[code], unsafe_fixes=unsafe)
    assert again == fixed
    if unsafe:
        untouched, _ = fix_source(before, path=path, select=[code])
        assert untouched == before


def test_a_rule_has_a_fix_title_exactly_when_it_has_fix_fixtures() -> None:
    """`fix_title` is what the rule pages and the README table show as an available fix."""
    for rule in all_rules():
        has_fixtures = any((FIXTURES / rule.code / "fixes").glob("*.fixed.py"))
        assert bool(rule.fix_title) == has_fixtures, rule.code

"""Rule pages are generated from docstrings and must not go stale."""

import re

from gradlint.dev.docs import REQUIRED_SECTIONS, RULES_DIR, TABLE_END, TABLE_START, docstring, write_docs
from gradlint.registry import all_rules


def test_rule_pages_are_up_to_date():
    stale = [path.name for path in write_docs(check=True)]
    assert not stale, f"stale or unexpected pages {stale}: run `python -m gradlint.dev docs`"


def test_docstrings_have_the_required_sections():
    for rule in all_rules():
        text = docstring(rule)
        positions = [text.find(section) for section in REQUIRED_SECTIONS]
        assert all(p >= 0 for p in positions), f"{rule.code} lacks one of {REQUIRED_SECTIONS}"
        assert positions == sorted(positions), f"{rule.code}: sections out of order"


def test_messages_are_one_short_line():
    for rule in all_rules():
        rendered = re.sub(r"\{[a-z_]+\}", "x", rule.message)
        assert "\n" not in rule.message and len(rendered) <= 110, rule.code


def test_readme_rule_table_lists_every_rule():
    readme = (RULES_DIR.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0]
    for rule in all_rules():
        assert f"| {rule.name} |" in table, f"README lacks {rule.code}"

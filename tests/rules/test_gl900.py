"""GL900 unused-noqa beside the rules whose findings the comments are for (the fixtures run it
alone, so there only codes that name no rule can be unused)."""

import textwrap

from gradlint import lint_source

SOFTMAX = "import torch\nlogits = torch.zeros(2, 3)\n"


def found(source: str, select=("GL080", "GL900")) -> list[tuple[int, str, str]]:
    return [(f.line, f.rule, f.message) for f in lint_source(SOFTMAX + textwrap.dedent(source), select=list(select))]


def test_a_code_whose_rule_found_nothing_is_unused():
    assert found("p = torch.log_softmax(logits, -1)  # noqa: GL080\n") == [
        (3, "GL900", "unused `noqa` directive (unused: GL080)")]


def test_a_used_code_is_quiet_and_the_finding_stays_suppressed():
    assert found("p = torch.log(torch.softmax(logits, -1))  # noqa: GL080\n") == []


def test_only_the_unused_codes_of_a_comment_are_named():
    source = "p = torch.log(torch.softmax(logits, -1))  # noqa: GL080, GL999, E501\n"
    assert found(source) == [(3, "GL900", "unused `noqa` directive (unknown: GL999)")]


def test_a_bare_gradlint_ignore_without_findings_is_unused_and_a_bare_noqa_is_left_to_other_tools():
    source = "p = torch.log_softmax(logits, -1)  # gradlint: ignore\nq = 1  # noqa\n"
    assert found(source) == [(3, "GL900", "unused `gradlint: ignore` directive (no finding here)")]


def test_a_rule_that_did_not_run_is_not_judged():
    assert found("p = torch.log_softmax(logits, -1)  # noqa: GL030\n") == []


def test_a_comment_on_the_first_line_of_the_statement_counts_as_used():
    source = """
    p = torch.log(  # noqa: GL080
        torch.softmax(logits, -1))
    """
    assert found(source) == []


def test_rule_names_in_gradlint_ignore_suppress_and_unknown_names_are_reported():
    assert found("p = torch.log(torch.softmax(logits, -1))  # gradlint: ignore[log-of-softmax]\n") == []
    assert found("p = torch.log_softmax(logits, -1)  # gradlint: ignore[log-of-softmax]\n") == [
        (3, "GL900", "unused `gradlint: ignore` directive (unused: GL080)")]
    assert found("p = 1  # gradlint: ignore[log-of-sofmax]\n") == [
        (3, "GL900", "unused `gradlint: ignore` directive (unknown: log-of-sofmax)")]


def test_off_by_default():
    assert [f.rule for f in lint_source(SOFTMAX + "p = 1  # noqa: GL999\n")] == []

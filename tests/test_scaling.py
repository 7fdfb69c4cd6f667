"""Costs that must not grow with the file: fixes described from their own span, large files
parsed in pieces with the same findings, and files too large to check reported, not parsed.
Nothing here is timed (bench/bench_scaling.py measures); each test checks the mechanism."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from gradlint.api import lint_source
from gradlint.engine import fixes, pieces, runner
from gradlint.engine.positions import Located
from gradlint.registry import get_rule, select_codes

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_FILES = sorted(p for p in (ROOT / "fixtures").glob("GL*/*.py") if not p.name.endswith(".fixed.py"))
ALL_RULES = [get_rule(code) for code in select_codes(["GL"], (), dynamic=False)]

LOSS = """
def loss_{i}(x, a, b):
    logp = torch.log(torch.softmax(x, -1))  # a finding with a fix
    dist = torch.sqrt(((a - b) ** 2).sum(-1))  # another, with an unsafe fix
    return logp.mean() + dist.mean()
"""


def dense(functions: int) -> str:
    return "import torch\n" + "".join(LOSS.format(i=i) for i in range(functions))


def _lint(path: Path | str, data: bytes) -> list[dict]:
    result = runner.lint_bytes(str(path), data, ALL_RULES)
    assert not result.errors
    return [f.to_dict() for f in sorted(result.findings, key=lambda f: f.sort_key())]


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_fix_described_from_its_span_is_the_edit_regenerating_the_module_finds(path, monkeypatch):
    """Every fix the fixtures produce, described both ways: the same title, range and text."""
    seen = []

    def both(located, fix, title, safe):
        fast = described(located, fix, title, safe)
        seen.append((fast, fixes._describe_by_regenerating(located, fix, title, safe)))
        return fast

    described = fixes.describe
    monkeypatch.setattr(runner, "describe", both)
    _lint(path, path.read_bytes())
    for fast, slow in seen:
        assert fast == slow


def test_no_fix_regenerates_the_module(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("a fix regenerated the whole module")

    monkeypatch.setattr(cst.Module, "deep_replace", refuse)
    found = lint_source(dense(30), path="losses.py", select=["GL030", "GL080"])
    assert len(found) == 60 and all(f.fix is not None for f in found)


def test_an_edit_that_runs_past_the_node_is_trimmed_as_the_whole_file_would_be():
    module = cst.parse_module("y = f(x) + z + z\n")
    call = module.body[0].body[0].value.left.left
    located = Located(module, [call])
    replacement = cst.parse_expression("f(x) + z + z + z")
    fast = fixes.describe(located, fixes.Fix(call, replacement), None, True)
    assert fast == fixes._describe_by_regenerating(located, fixes.Fix(call, replacement), None, True)
    assert fast["range"]["column"] > 9  # the insertion lands after the original text, as a diff puts it


def test_a_large_file_linted_in_pieces_has_the_findings_and_fixes_of_the_whole(monkeypatch):
    text = dense(40) + "\n\nclass Late:\n    def f(self, x):\n        return torch.log(torch.softmax(x, -1))\n"
    whole = _lint("losses.py", text.encode())
    monkeypatch.setattr(runner, "PIECE_SIZE", 1000)
    in_pieces = _lint("losses.py", text.encode())
    assert len(whole) == 81 and in_pieces == whole


def test_pieces_cut_only_where_the_code_parses(monkeypatch):
    """Cut candidates inside a string, after a decorator or inside brackets fail to parse and
    the piece grows past them."""
    text = (
        "import torch\n"
        'DOC = """\nlooks_like_a_statement = 1\nx = torch.log(torch.softmax(y, -1))\n"""\n'
        "@decorator\ndef f(x):\n    return torch.log(torch.softmax(x, -1))\n"
        "values = [\n1,\n2,\n]\n"
        "z = torch.log(torch.softmax(w, -1))\n"
    )
    whole = _lint("m.py", text.encode())
    assert [f["line"] for f in whole] == [8, 13]
    assert len(list(pieces.pieces(text, size=10))) == 4  # the import, the string, the function, the rest
    monkeypatch.setattr(runner, "PIECE_SIZE", 10)
    assert _lint("m.py", text.encode()) == whole


def test_a_later_piece_resolves_names_through_the_imports_of_earlier_ones(monkeypatch):
    text = "import torch.nn.functional as F\nimport torch as t\n" + "x = 1\n" * 50 + "y = t.log(F.softmax(z, -1))\n"
    monkeypatch.setattr(runner, "PIECE_SIZE", 100)
    assert [(f["rule"], f["line"]) for f in _lint("m.py", text.encode())] == [("GL080", 53)]


def test_a_statement_too_large_to_parse_in_pieces_is_reported_not_parsed(monkeypatch):
    text = "import torch\nclass Big:\n" + "".join(f"    def f{i}(self, x):\n        return x + {i}\n" for i in range(200))
    monkeypatch.setattr(runner, "PIECE_SIZE", 100)
    monkeypatch.setattr(pieces, "MAX_PIECE_TOKENS", 500)
    result = runner.lint_bytes("big.py", text.encode(), ALL_RULES)
    assert result.findings == []
    assert [e["kind"] for e in result.errors] == ["not-checked"]
    assert "line 2 is too large" in result.errors[0]["message"]


def test_a_syntax_error_in_a_late_piece_is_one_gl000_for_the_file(monkeypatch):
    text = dense(10) + "def broken(:\n"
    monkeypatch.setattr(runner, "PIECE_SIZE", 200)
    result = runner.lint_bytes("m.py", text.encode(), ALL_RULES)
    assert [(f.rule, f.line) for f in result.findings] == [("GL000", text.count("\n"))]


def test_a_file_above_max_file_size_is_not_checked_and_exits_2(run_cli, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.gradlint]\nmax-file-size = "2KB"\n')
    (tmp_path / "big.py").write_text(dense(20))
    (tmp_path / "small.py").write_text(dense(1))
    code, out, err = run_cli("--no-cache", ".", cwd=tmp_path)
    assert code == 2 and err == ""
    assert "big.py: not checked:" in out and "more than max-file-size (2.0 KB)" in out
    assert "in 1 file checked. 1 file not checked (too large)." in out
    assert "big.py:" not in out.replace("big.py: not checked", "")


@pytest.mark.parametrize("value", ['"lots"', "0", '"-1MB"', "true"])
def test_a_bad_max_file_size_is_a_configuration_error(run_cli, tmp_path, value):
    (tmp_path / "pyproject.toml").write_text(f"[tool.gradlint]\nmax-file-size = {value}\n")
    (tmp_path / "m.py").write_text("import torch\n")
    code, _, err = run_cli("--no-cache", ".", cwd=tmp_path)
    assert code == 2 and "'max-file-size' must be a size" in err


def test_parsing_without_validation_gives_the_tree_and_keeps_validating_built_nodes():
    text = "import torch\n\ndef f(x):\n    return torch.log(torch.softmax(x, -1))  # comment\n"
    assert pieces.parse_module(text).deep_equals(cst.parse_module(text))
    with pytest.raises(cst.CSTValidationError):  # a node built after parsing is still checked
        cst.Name("not a name")
    with pytest.raises(cst.ParserSyntaxError):
        pieces.parse_module("def f(:\n")
    with pytest.raises(cst.CSTValidationError):  # and after a parse that failed
        cst.Name("not a name")

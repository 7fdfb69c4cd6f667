"""Properties of the command line on generated programs, checked through `gradlint.cli.main`.

Inputs: programs from Python's grammar (hypothesmith), and the fixtures and demo files mutated
line by line. For every input: the exit status is 0, 1 or 2, no traceback is printed, JSON and
SARIF output parse, no internal error is reported, and a run without `--fix` changes no file.
With `--fix` (safe, and with `--unsafe-fixes`): a file that parsed still parses, a second
`--fix` changes nothing, and every byte outside the fix ranges reported before fixing is kept.

`bench/fuzz.py` runs the same checks (`check_source`) for much longer.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
hypothesmith = pytest.importorskip("hypothesmith")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
SEEDS = sorted(
    [*ROOT.glob("fixtures/GL*/bad*.py"), *ROOT.glob("fixtures/GL*/good*.py"),
     *ROOT.glob("fixtures/GL*/fixes/*.py"), *ROOT.glob("demo/*.py")]
)
# Prepended to generated programs so that the prefilter parses them instead of skipping them.
FRAMEWORK_IMPORTS = [
    "import torch", "import tensorflow as tf", "import jax.numpy as jnp", "import numpy as np",
    "import scipy.optimize", "from jax import grad", "import keras", "import theano.tensor as T",
]
# Tokens inserted at random places: brackets, operators, keywords, framework calls, odd whitespace.
TOKENS = [
    "(", ")", "[", "]", "{", "}", ":", ",", ".", "=", "lambda", "lambda x:", "def", "class", "if",
    "else", "return", "yield", "await", "async", "with", "\\", "'", '"', '"""', "#", "# noqa",
    "# gradlint: noqa", "\t", "\f", "\r", "\r\n", "  ", "0", "1e-8", "x", "self", "*", "**", "@",
    "tf.cond(", "tf.where(", "torch.round(", "jnp.sqrt(", "np.sqrt(", "tf.stop_gradient(",
    ".detach()", ".numpy()", "scipy.optimize.minimize(", "jax.grad(", "torch.no_grad()", "\x00",
    "é", "\u2028", "\ufeff",
]
PROPERTY_SETTINGS = {
    "deadline": None, "derandomize": True, "suppress_health_check": list(HealthCheck), "database": None,
}


# --- running the command line in-process -------------------------------------------------


def run_gradlint(*args: str) -> tuple[int, str, str]:
    """`gradlint ARGS` in this process; returns (exit status, stdout, stderr)."""
    from gradlint.cli import main

    out, err = io.BytesIO(), io.BytesIO()
    out_text = io.TextIOWrapper(out, encoding="utf-8", errors="replace", write_through=True)
    err_text = io.TextIOWrapper(err, encoding="utf-8", errors="replace", write_through=True)
    # Every warning counts as printed: a user would see it on stderr (Python 3.12 shows the
    # SyntaxWarning that 3.11 keeps as a hidden DeprecationWarning).
    with contextlib.redirect_stdout(out_text), contextlib.redirect_stderr(err_text), \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            code = main(["--isolated", "--no-cache", "--jobs", "1", *args])
        except SystemExit as exit_:  # argparse exits; it never should for these arguments
            code = exit_.code if isinstance(exit_.code, int) else 2
    printed = "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught)
    return code, out.getvalue().decode("utf-8", "replace"), err.getvalue().decode("utf-8", "replace") + printed


def parses(data: bytes) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(data)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


def text_of(data: bytes) -> str | None:
    from gradlint.engine.runner import decode

    try:
        return decode(data)
    except (UnicodeDecodeError, LookupError, SyntaxError):
        return None


def _offset(text: str, line: int, column: int) -> int:
    """Offset of a 1-based (line, column); lines end as Python ends them: "\\r\\n", "\\r" or "\\n"."""
    starts = [0, *(m.end() for m in re.finditer("\r\n|\r|\n", text))]
    return starts[line - 1] + column - 1


def kept_outside(before: str, after: str, ranges: list[tuple[int, int]]) -> bool:
    """Whether `after` is `before` with only the text inside `ranges` (offsets) replaced: the
    pieces between the ranges appear in `after` in order, the first at its start, the last at
    its end."""
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    cuts = [0, *(b for pair in merged for b in pair), len(before)]
    pieces = [before[cuts[i]:cuts[i + 1]] for i in range(0, len(cuts), 2)]
    if len(pieces) == 1:
        return before == after
    if not (after.startswith(pieces[0]) and after.endswith(pieces[-1])):
        return False
    position, limit = len(pieces[0]), len(after) - len(pieces[-1])
    for piece in pieces[1:-1]:
        found = after.find(piece, position, limit)
        if found < 0:
            return False
        position = found + len(piece)
    return position <= limit


def _assert_clean_output(code: int, out: str, err: str, what: str) -> None:
    assert code in (0, 1, 2), f"{what}: exit status {code}\n{out}\n{err}"
    assert "Traceback" not in out + err, f"{what}: traceback\n{out}\n{err}"
    assert err == "", f"{what}: printed on stderr: {err}"  # the report of a file run goes to stdout


def check_source(source: bytes, directory: str | os.PathLike, name: str = "model.py") -> None:
    """Every property for one file's content; raises AssertionError naming the one that fails."""
    path = Path(directory, name)
    path.write_bytes(source)
    target = str(path)

    code, out, err = run_gradlint("--format", "json", target)
    _assert_clean_output(code, out, err, "--format json")
    report = json.loads(out)
    assert report["errors"] == [], f"internal error: {report['errors']}"
    assert path.read_bytes() == source, "a run without --fix changed the file"
    code, out, err = run_gradlint("--format", "sarif", target)
    _assert_clean_output(code, out, err, "--format sarif")
    json.loads(out)
    code, out, err = run_gradlint(target)
    _assert_clean_output(code, out, err, "--format text")
    assert path.read_bytes() == source, "a run without --fix changed the file"

    before_text = text_of(source)
    for unsafe in (False, True):
        flags = ["--fix", "--unsafe-fixes"] if unsafe else ["--fix"]
        path.write_bytes(source)
        code, out, err = run_gradlint(*flags, target)
        _assert_clean_output(code, out, err, " ".join(flags))
        fixed = path.read_bytes()
        if fixed == source:
            continue
        assert before_text is not None, f"{flags}: changed a file it cannot decode"
        if parses(source):
            assert parses(fixed), f"{' '.join(flags)}: the fixed file no longer parses:\n{fixed!r}"
        after_text = text_of(fixed)
        assert after_text is not None, f"{' '.join(flags)}: the fixed file no longer decodes"
        ranges = [
            (_offset(before_text, r["line"], r["column"]), _offset(before_text, r["end_line"], r["end_column"]))
            for finding in report["findings"] if finding["fix"] and (unsafe or finding["fix"]["safe"])
            for r in [finding["fix"]["range"]]
        ]
        assert kept_outside(before_text, after_text, ranges), (
            f"{' '.join(flags)}: changed text outside the reported fix ranges {ranges}:\n"
            f"before: {before_text!r}\nafter:  {after_text!r}"
        )
        code, out, err = run_gradlint(*flags, target)
        _assert_clean_output(code, out, err, f"second {' '.join(flags)}")
        assert path.read_bytes() == fixed, f"a second {' '.join(flags)} changed the file again"


# --- generated inputs ----------------------------------------------------------------------


def mutate(lines: list[str], operation: str, first: int, second: int, token: str) -> list[str]:
    """One line-level mutation; `first` and `second` pick lines (taken modulo the length)."""
    if not lines:
        return [token]
    i, j = first % len(lines), second % len(lines)
    lines = list(lines)
    if operation == "delete":
        del lines[i]
    elif operation == "duplicate":
        lines.insert(i, lines[i])
    elif operation == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    elif operation == "insert-token":
        column = second % (len(lines[i]) + 1)
        lines[i] = lines[i][:column] + token + lines[i][column:]
    elif operation == "truncate":
        lines = lines[:i]
        if lines and second % 2:
            lines[-1] = lines[-1][: len(lines[-1]) // 2]
    elif operation == "indent":
        lines[i] = "    " + lines[i]
    elif operation == "dedent":
        lines[i] = lines[i][min(4, len(lines[i]) - len(lines[i].lstrip(" \t"))):]
    elif operation == "tabs":
        lines[i] = lines[i].replace("    ", "\t")
    elif operation == "crlf":
        lines[i] = lines[i].replace("\n", "\r\n")
    elif operation == "import":
        lines.insert(i, FRAMEWORK_IMPORTS[second % len(FRAMEWORK_IMPORTS)] + "\n")
    return lines


OPERATIONS = ["delete", "duplicate", "swap", "insert-token", "truncate", "indent", "dedent", "tabs", "crlf", "import"]


@st.composite
def mutated_fixtures(draw) -> bytes:
    seed = draw(st.sampled_from(SEEDS))
    lines = seed.read_text(encoding="utf-8", errors="surrogateescape").splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        lines = mutate(
            lines, draw(st.sampled_from(OPERATIONS)), draw(st.integers(0, 10_000)),
            draw(st.integers(0, 10_000)), draw(st.sampled_from(TOKENS)),
        )
    return "".join(lines).encode("utf-8", "surrogateescape")


def with_framework_imports(code: str, which: int) -> bytes:
    header = "".join(line + "\n" for line in FRAMEWORK_IMPORTS[: 1 + which % len(FRAMEWORK_IMPORTS)])
    return (header + code).encode("utf-8", "surrogatepass")


def grammar_programs():
    return st.builds(with_framework_imports, hypothesmith.from_grammar(), st.integers(0, 7))


def node_programs():
    return st.builds(with_framework_imports, hypothesmith.from_node(), st.integers(0, 7))


# --- the tests: small budgets here, `bench/fuzz.py` runs them for long ------------------------


@settings(max_examples=20, **PROPERTY_SETTINGS)
@given(mutated_fixtures())
def test_mutated_fixtures(source):
    with tempfile.TemporaryDirectory() as directory:
        check_source(source, directory)


@settings(max_examples=10, **PROPERTY_SETTINGS)
@given(grammar_programs())
def test_programs_from_the_grammar(source):
    with tempfile.TemporaryDirectory() as directory:
        check_source(source, directory)


@settings(max_examples=6, **PROPERTY_SETTINGS)
@given(node_programs())
def test_programs_from_libcst_nodes(source):
    with tempfile.TemporaryDirectory() as directory:
        check_source(source, directory)


def test_kept_outside_detects_a_change_outside_the_ranges():
    before = "a = f(x)\nb = 2\n"
    assert kept_outside(before, "a = f(y)\nb = 2\n", [(6, 7)])
    assert kept_outside(before, "a = f(long_name)\nb = 2\n", [(6, 7)])
    assert not kept_outside(before, "a = f(y)\nb = 3\n", [(6, 7)])
    assert not kept_outside(before, "a = f(x)\r\nb = 2\n", [(6, 7)])
    assert kept_outside(before, before, [])
    assert not kept_outside(before, before + " ", [])


def test_the_checks_fail_on_a_fix_that_damages_the_file(monkeypatch, tmp_path):
    """The properties can fail: a `--fix` that also rewrites a comment is caught."""
    from gradlint.engine import fixes

    real_apply = fixes.apply_edit
    monkeypatch.setattr(fixes, "apply_edit", lambda text, fix: real_apply(text, fix).replace("# keep", "# lost"))
    source = b"import scipy.optimize\n\ntheta = [0.0]\nJ = lambda x: sum(theta)  # keep\nscipy.optimize.minimize(J, theta)\n"
    with pytest.raises(AssertionError, match="outside the reported fix ranges"):
        check_source(source, tmp_path)


def test_mutants_through_a_real_process_print_no_traceback(tmp_path):
    """The same inputs through the installed entry point: nothing on stderr, in any format."""
    import random

    chooser = random.Random(0)
    for index in range(12):
        seed = SEEDS[index % len(SEEDS)]
        lines = seed.read_text(encoding="utf-8", errors="surrogateescape").splitlines(keepends=True)
        for _ in range(3):
            lines = mutate(lines, chooser.choice(OPERATIONS), chooser.randrange(10_000),
                           chooser.randrange(10_000), chooser.choice(TOKENS))
        (tmp_path / f"mutant_{index}.py").write_bytes("".join(lines).encode("utf-8", "surrogateescape"))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for output_format in ("text", "json", "sarif"):
        done = subprocess.run(
            [sys.executable, "-m", "gradlint", "--isolated", "--no-cache", "--format", output_format, str(tmp_path)],
            check=False, capture_output=True, text=True, timeout=300,
        )
        assert done.returncode in (1, 2), done.stderr
        assert done.stderr == "" and "Traceback" not in done.stdout
        if output_format != "text":
            json.loads(done.stdout)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before

import os
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Run `gradlint ARGS` in-process; returns (exit code, stdout, stderr)."""
    from gradlint.cli import main

    def run(*args, cwd=None, stdin=None):
        if cwd is not None:
            monkeypatch.chdir(cwd)
        if stdin is not None:
            import io

            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def require_frameworks() -> bool:
    """CI sets GRADLINT_REQUIRE_FRAMEWORKS=1 so that a missing framework fails instead of skipping."""
    return os.environ.get("GRADLINT_REQUIRE_FRAMEWORKS") == "1"


def write_files(root: Path, files: dict[str, str]) -> None:
    """Write each `relative path: text` under `root`, the text dedented."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def findings_in(folder: Path, rules: list[str]) -> list[tuple[str, int, str]]:
    """(file name, line, rule) of each finding of `rules` in the package at `folder`, sorted."""
    from gradlint.api import lint_paths
    from gradlint.config import Settings

    result, _ = lint_paths([str(folder)], Settings(), rules, jobs=1)
    return sorted((Path(f.path).name, f.line, f.rule) for f in result.findings)

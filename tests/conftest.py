import os
import sys
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

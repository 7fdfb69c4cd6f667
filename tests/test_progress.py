"""The progress bar of long runs: drawn on a terminal's standard error only, for the text format,
outside CI, and erased at the end."""

from __future__ import annotations

import io
import sys

import pytest

import gradlint.cli

pytest.importorskip("tqdm")

LOSS = "import torch\n\ndef loss(x):\n    return torch.log(torch.softmax(x, -1))\n"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def project(tmp_path, monkeypatch):
    for i in range(20):
        (tmp_path / f"m{i}.py").write_text(LOSS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(gradlint.cli, "PROGRESS_DELAY", 0.0)  # every run counts as long here
    return tmp_path


def run(monkeypatch, *args: str) -> tuple[int, str]:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    code = gradlint.cli.main(["--no-cache", "--jobs", "1", *args])
    return code, terminal.getvalue()


def test_a_terminal_sees_files_done_and_the_rate_then_the_bar_is_erased(project, monkeypatch, capsys):
    code, err = run(monkeypatch, ".")
    assert code == 1 and "Found 20 findings" in capsys.readouterr().out
    assert "gradlint:" in err and "/20 [" in err and ("file/s" in err or "s/file" in err)
    assert err.endswith("\r") and err.split("\r")[-2].strip() == ""  # the last draw blanks the line


@pytest.mark.parametrize("fmt", ["json", "sarif", "github"])
def test_no_bar_for_output_read_by_programs(project, monkeypatch, fmt):
    _, err = run(monkeypatch, "--format", fmt, ".")
    assert err == ""


def test_no_bar_in_ci(project, monkeypatch):
    monkeypatch.setenv("CI", "true")
    _, err = run(monkeypatch, ".")
    assert err == ""


def test_no_bar_in_a_pipe(project, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert gradlint.cli.main(["--no-cache", "--jobs", "1", "."]) == 1
    assert sys.stderr.getvalue() == ""

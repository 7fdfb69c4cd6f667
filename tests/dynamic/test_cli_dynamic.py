"""`gradlint --dynamic` from the command line: confirmations in the output, --confirmed-only and
the exit code, options that need --dynamic."""

from __future__ import annotations

import json

import pytest

from gradlint.dynamic.backends import installed
from tests.conftest import require_frameworks

needs_torch = pytest.mark.skipif(not installed("torch") and not require_frameworks(), reason="torch is not installed")

UNSAFE = "import torch\n\n\ndef distance(a, b):\n    return torch.sqrt(((a - b) ** 2).sum(dim=-1))\n"
# The static rule flags it too, but the module cannot be run: `helpers` does not exist.
UNRUNNABLE = "import torch\nimport helpers\n\nSCALE = helpers.scale()\n\n\ndef distance(a, b):\n    return torch.sqrt(SCALE * ((a - b) ** 2).sum(dim=-1))\n"


@pytest.mark.parametrize("flag", [["--confirmed-only"], ["--device", "auto"], ["--dynamic-jobs", "2"], ["--dynamic-timeout", "5"]])
def test_dynamic_options_need_dynamic(run_cli, tmp_path, flag):
    (tmp_path / "a.py").write_text(UNSAFE)
    code, out, err = run_cli(tmp_path / "a.py", *flag)
    assert code == 2
    assert f"{flag[0]} needs --dynamic" in err


@pytest.mark.parametrize("flag", [["--dynamic-timeout", "0"], ["--dynamic-jobs", "0"], ["--dynamic-memory", "-1"]])
def test_bad_dynamic_values_are_usage_errors(run_cli, tmp_path, flag):
    (tmp_path / "a.py").write_text(UNSAFE)
    code, out, err = run_cli(tmp_path / "a.py", "--dynamic", *flag)
    assert code == 2 and "must be" in err


@needs_torch
def test_json_carries_the_confirmation(run_cli, tmp_path):
    (tmp_path / "a.py").write_text(UNSAFE)
    code, out, err = run_cli(tmp_path / "a.py", "--dynamic", "--format", "json", "--no-cache")
    assert code == 1
    payload = json.loads(out)
    (finding,) = payload["findings"]
    confirmation = finding["confirmation"]
    assert set(confirmation) == {"verdict", "evidence", "framework", "device", "inputs", "seconds"}
    assert confirmation["verdict"] == "confirmed"
    assert confirmation["framework"].startswith("torch ") and confirmation["device"] == "cpu"
    assert payload["dynamic"]["verdicts"] == {"confirmed": 1}


@needs_torch
def test_text_shows_the_verdict_under_the_finding(run_cli, tmp_path):
    (tmp_path / "a.py").write_text(UNSAFE)
    (tmp_path / "b.py").write_text(UNRUNNABLE)
    code, out, err = run_cli(tmp_path, "--dynamic", "--no-cache")
    assert code == 1
    lines = out.splitlines()
    a = next(i for i, line in enumerate(lines) if "a.py:5:" in line)
    b = next(i for i, line in enumerate(lines) if "b.py:8:" in line)
    assert lines[a + 1].startswith("    confirmed: ") and "[torch " in lines[a + 1]
    assert lines[b + 1].startswith("    inconclusive: ") and "No module named 'helpers'" in lines[b + 1]
    assert "Dynamic mode: 1 confirmed, 0 not reproduced, 1 inconclusive" in out


@needs_torch
def test_confirmed_only_reports_confirmed_findings_and_exits_by_them(run_cli, tmp_path):
    (tmp_path / "a.py").write_text(UNSAFE)
    (tmp_path / "b.py").write_text(UNRUNNABLE)
    code, out, err = run_cli(tmp_path, "--dynamic", "--confirmed-only", "--no-cache")
    assert code == 1
    assert "a.py:5:" in out and "b.py" not in out
    assert "1 not confirmed and not shown" in out
    code, out, err = run_cli(tmp_path / "b.py", "--dynamic", "--confirmed-only", "--no-cache")
    assert code == 0, out
    assert "No findings" in out


def _torch_sees_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


@needs_torch
def test_cuda_without_a_gpu_is_inconclusive_with_the_reason(run_cli, tmp_path):
    if _torch_sees_gpu():
        pytest.skip("this machine has a GPU")
    (tmp_path / "a.py").write_text(UNSAFE)
    code, out, err = run_cli(tmp_path / "a.py", "--dynamic", "--device", "cuda", "--no-cache")
    assert "inconclusive: could not start the torch worker: RuntimeError: torch sees no CUDA device" in out


@needs_torch
def test_cuda_runs_on_the_gpu(run_cli, tmp_path):
    if not _torch_sees_gpu():
        pytest.skip("needs a GPU")
    (tmp_path / "a.py").write_text(UNSAFE)
    code, out, err = run_cli(tmp_path / "a.py", "--dynamic", "--device", "cuda", "--format", "json", "--no-cache")
    confirmation = json.loads(out)["findings"][0]["confirmation"]
    assert confirmation["verdict"] == "confirmed" and confirmation["device"] == "cuda"


@needs_torch
def test_standard_input_is_checked_too(run_cli, tmp_path):
    code, out, err = run_cli("-", "--dynamic", "--stdin-filename", "model.py", cwd=tmp_path, stdin=UNSAFE.encode())
    assert code == 1
    assert "model.py:5:" in out and "    confirmed: " in out


@needs_torch
def test_a_progress_bar_only_on_a_terminal(run_cli, tmp_path, monkeypatch):
    import sys

    (tmp_path / "a.py").write_text(UNSAFE)
    code, out, err = run_cli(tmp_path / "a.py", "--dynamic", "--no-cache")
    assert "gradlint --dynamic" not in err  # not a terminal: silent
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("CI", raising=False)  # CI machines set it, and it turns progress off
    code, out, err = run_cli(tmp_path / "a.py", "--dynamic", "--no-cache")
    assert "gradlint --dynamic" in err and "finding" in err

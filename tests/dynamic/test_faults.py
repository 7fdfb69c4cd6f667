"""User code that hangs, crashes, eats memory, exits or writes files ends as `inconclusive` with
the reason; the run finishes, the other findings still get their verdicts, and nothing outside
the worker's temporary directory changes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gradlint.dynamic.backends import installed
from gradlint.rule import Finding
from tests.conftest import require_frameworks

pytestmark = pytest.mark.skipif(not installed("torch") and not require_frameworks(), reason="torch is not installed")

FLAGGED = "torch.sqrt(((a - b) ** 2).sum())"

# Each case: the module-level code that runs before the flagged function can be checked, and
# what the verdict's evidence must say.
FAULTS = {
    "hang": ("import time\n\ndef _setup():\n    while True:\n        time.sleep(0.1)", "timed out after 3 s"),
    "segfault": ("import ctypes\n\ndef _setup():\n    return ctypes.string_at(0)", "crashed with SIGSEGV"),
    "memory": ("def _setup():\n    blocks = []\n    while True:\n        blocks.append(bytearray(50 * 2**20))", "memory"),
    "sys_exit": ("import sys\n\ndef _setup():\n    sys.exit(3)", "sys.exit(3)"),
    "os_exit": ("import os\n\ndef _setup():\n    os._exit(7)", "exit status 7"),
    "write": ("def _setup():\n    with open({outside!r}, 'w') as f:\n        f.write('x')", "outside its temporary directory"),
    "global_state": ("def _setup():\n    torch.set_grad_enabled(False)", "changed torch's global state (grad mode)"),
}


def _module(setup: str) -> str:
    return "import torch\n" + setup + textwrap.dedent(f"""

        SCALE = _setup()


        def distance(a, b):
            return {FLAGGED} + 0 * SCALE
        """)


def _finding(path: Path) -> Finding:
    lines = path.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if FLAGGED in text)
    column = lines[line - 1].index(FLAGGED) + 1
    return Finding(str(path), line, column, line, column + len(FLAGGED), "GL030", "unsafe-sqrt-or-norm", "error", "forced")


def _healthy(tmp_path: Path, name: str) -> Finding:
    path = tmp_path / f"{name}.py"
    path.write_text(f"import torch\n\n\ndef distance(a, b):\n    return {FLAGGED}\n")
    return _finding(path)


def test_faults_end_inconclusive_and_the_run_goes_on(tmp_path, monkeypatch):
    from gradlint.dynamic import DynamicOptions, confirm

    outside = tmp_path / "outside" / "written.txt"
    outside.parent.mkdir()
    findings, expected = [_healthy(tmp_path, "first")], {}
    for name, (setup, reason) in FAULTS.items():
        path = tmp_path / f"{name}.py"
        path.write_text(_module(setup.format(outside=str(outside))))
        expected[len(findings)] = (name, reason)
        findings.append(_finding(path))
        findings.append(_healthy(tmp_path, f"after_{name}"))  # the replaced worker still works
    monkeypatch.chdir(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))

    confirm(findings, DynamicOptions(timeout=3, jobs=1, memory_mb=1024))

    for index, finding in enumerate(findings):
        verdict = finding.confirmation
        assert verdict is not None
        if index in expected:
            name, reason = expected[index]
            assert verdict["verdict"] == "inconclusive", (name, verdict)
            assert reason in verdict["evidence"], (name, verdict)
        else:
            assert verdict["verdict"] == "confirmed", (finding.path, verdict)
    assert not outside.exists()
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_relative_write_stays_in_the_temporary_directory(tmp_path, monkeypatch):
    from gradlint.dynamic import DynamicOptions, confirm

    path = tmp_path / "writes.py"
    path.write_text(_module("def _setup():\n    with open('note.txt', 'w') as f:\n        f.write('x')"))
    monkeypatch.chdir(tmp_path)
    finding = _finding(path)
    confirm([finding], DynamicOptions(timeout=20))
    assert finding.confirmation["verdict"] == "confirmed", finding.confirmation
    assert not (tmp_path / "note.txt").exists()
    assert not any(p.name == "__pycache__" for p in tmp_path.rglob("*"))


def test_configuration_and_cache_folders_go_to_the_temporary_directory(tmp_path, monkeypatch):
    from gradlint.dynamic import DynamicOptions, confirm
    from gradlint.dynamic.pool import USER_FOLDERS

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    for name in USER_FOLDERS:
        monkeypatch.delenv(name, raising=False)
    # As matplotlib, Keras and the XDG-following libraries do when they are imported.
    made = "".join(f"    os.makedirs(os.environ.get({name!r}, os.path.expanduser('~/.{name.lower()}')), exist_ok=True)\n"
                   for name in USER_FOLDERS)
    path = tmp_path / "plots.py"
    path.write_text(_module(f"import os\n\ndef _setup():\n{made}    return 1.0"))
    monkeypatch.chdir(tmp_path)
    finding = _finding(path)
    confirm([finding], DynamicOptions(timeout=20))
    assert finding.confirmation["verdict"] == "confirmed", finding.confirmation
    assert not home.exists()


def test_a_project_module_that_imports_matplotlib_runs(tmp_path, monkeypatch):
    from gradlint.dynamic import DynamicOptions, confirm

    pytest.importorskip("matplotlib")
    (tmp_path / "plots.py").write_text("import matplotlib.pyplot as plt\n\nSCALE = 1.0\n")
    path = tmp_path / "loss.py"
    path.write_text(f"import torch\nfrom plots import SCALE\n\n\ndef distance(a, b):\n    return SCALE * {FLAGGED}\n")
    monkeypatch.chdir(tmp_path)
    finding = _finding(path)
    confirm([finding], DynamicOptions(timeout=20))
    assert finding.confirmation["verdict"] == "confirmed", finding.confirmation


def test_a_project_module_that_asks_for_the_processor_runs(tmp_path, monkeypatch):
    from gradlint.dynamic import DynamicOptions, confirm

    # As h5py does when it is imported: `platform.processor()` runs `uname -p` the first time.
    (tmp_path / "machine.py").write_text("import platform\n\nSCALE = 1.0 if platform.processor() is not None else 2.0\n")
    path = tmp_path / "loss.py"
    path.write_text(f"import torch\nfrom machine import SCALE\n\n\ndef distance(a, b):\n    return SCALE * {FLAGGED}\n")
    monkeypatch.chdir(tmp_path)
    finding = _finding(path)
    confirm([finding], DynamicOptions(timeout=20))
    assert finding.confirmation["verdict"] == "confirmed", finding.confirmation

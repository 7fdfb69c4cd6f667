"""Jupyter notebooks: code cells linted as one program, findings per cell, `--fix` that rewrites
only the fixed cell, `--dynamic` from the cells a finding needs, and broken notebooks."""

from __future__ import annotations

import json

import nbformat
import pytest

from gradlint.dynamic.backends import installed
from tests.conftest import require_frameworks

SETUP = "%matplotlib inline\n!pip install torch\nimport torch\nimport torch.nn.functional as F"
LOSS = "logits = torch.randn(4, 3)\nprobs = torch.softmax(logits, dim=-1)\nloss = -torch.log(probs)[:, 0].mean()"
DISTANCE = "def distance(a, b):\n    return torch.sqrt(((a - b) ** 2).sum(-1))\n\ndistance?"


def _notebook(path, *cells, language="python"):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "k", "display_name": "K", "language": language}
    notebook.cells = [nbformat.v4.new_markdown_cell("# A model")]
    for source in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.outputs = [nbformat.v4.new_output("stream", text="some output\n")]
        cell.execution_count = len(notebook.cells)
        notebook.cells.append(cell)
    nbformat.write(notebook, str(path))
    return path


def test_findings_name_the_cell_and_the_line_in_it(tmp_path, run_cli):
    _notebook(tmp_path / "nb.ipynb", SETUP, LOSS, "%%time\nanything at all ?!", DISTANCE)
    code, out, err = run_cli("nb.ipynb", "--no-cache", cwd=tmp_path)
    assert code == 1, out
    lines = out.splitlines()
    assert lines[0].startswith("nb.ipynb:cell 3:3:9: GL080 [warning] `torch.log(probs)`")
    assert lines[1].startswith("nb.ipynb:cell 5:2:12: GL030 [error] `torch.sqrt`")
    assert "GL000" not in out  # magics, shell escapes, `%%` cells and `obj?` are skipped


def test_json_sarif_and_github_point_at_the_notebook(tmp_path, run_cli):
    _notebook(tmp_path / "nb.ipynb", SETUP, LOSS)
    _, out, _ = run_cli("nb.ipynb", "--no-cache", "--format", "json", cwd=tmp_path)
    (finding,) = json.loads(out)["findings"]
    assert (finding["cell"], finding["line"], finding["column"], finding["rule"]) == (3, 3, 9, "GL080")
    _, out, _ = run_cli("nb.ipynb", "--no-cache", "--format", "sarif", cwd=tmp_path)
    (result,) = json.loads(out)["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"].endswith("nb.ipynb")
    assert (location["region"]["startLine"], location["region"]["properties"]) == (3, {"cell": 3})  # the cell's terms
    assert result["message"]["text"].startswith("cell 3, line 3: ")
    _, out, _ = run_cli("nb.ipynb", "--no-cache", "--format", "github", cwd=tmp_path)
    assert out.startswith("::warning file=nb.ipynb,title=GL080 log-of-softmax::cell 3:3:9: GL080 ")


def test_noqa_works_inside_a_cell(tmp_path, run_cli):
    _notebook(tmp_path / "nb.ipynb", SETUP, LOSS.replace(".mean()", ".mean()  # noqa: GL080"))
    code, out, _ = run_cli("nb.ipynb", "--no-cache", cwd=tmp_path)
    assert code == 0, out


def test_fix_rewrites_only_the_fixed_cell(tmp_path, run_cli):
    path = _notebook(tmp_path / "nb.ipynb", SETUP, LOSS, DISTANCE)
    before = path.read_bytes()
    code, out, _ = run_cli("nb.ipynb", "--no-cache", "--fix", "--unsafe-fixes", cwd=tmp_path)
    after = path.read_bytes()
    changed = [(old, new) for old, new in zip(before.splitlines(), after.splitlines()) if old != new]
    assert changed == [(b'    "    return torch.sqrt(((a - b) ** 2).sum(-1))\\n",',
                        b'    "    return torch.sqrt(((a - b) ** 2).sum(-1) + 1e-12)\\n",')]
    assert len(before.splitlines()) == len(after.splitlines())
    nbformat.validate(nbformat.reads(after.decode(), as_version=4))
    assert "distance?" in json.loads(after)["cells"][3]["source"][-1]  # the magic line is back
    run_cli("nb.ipynb", "--no-cache", "--fix", "--unsafe-fixes", cwd=tmp_path)
    assert path.read_bytes() == after  # idempotent


def test_fix_leaves_a_notebook_it_would_reformat(tmp_path, run_cli):
    path = _notebook(tmp_path / "nb.ipynb", SETUP, DISTANCE)
    path.write_text(json.dumps(json.loads(path.read_text()), indent=4))  # not Jupyter's layout
    before = path.read_bytes()
    code, out, err = run_cli("nb.ipynb", "--no-cache", "--fix", "--unsafe-fixes", cwd=tmp_path)
    assert path.read_bytes() == before
    # Not an internal error: the findings stay, and a warning says why they were not fixed.
    assert code == 1 and "internal error" not in out
    assert "gradlint: warning: nb.ipynb: fixes not written: the notebook's JSON is not laid out as Jupyter writes it" in err
    assert "GL030" in out


def test_broken_notebooks_give_gl000_and_no_traceback(tmp_path, run_cli):
    (tmp_path / "truncated.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "import torch')
    _notebook(tmp_path / "bad_cell.ipynb", SETUP, "def f(:\n    pass")
    code, out, err = run_cli(".", "--no-cache", cwd=tmp_path)
    assert code == 1 and "Traceback" not in out + err
    assert "truncated.ipynb:1:1: GL000 [error] file could not be checked: not a valid notebook (JSON)" in out
    assert "bad_cell.ipynb:cell 3:1:7: GL000 [error] file could not be checked: SyntaxError" in out


def test_directories_include_notebooks_and_other_languages_are_skipped(tmp_path, run_cli):
    _notebook(tmp_path / "py.ipynb", SETUP, DISTANCE)
    _notebook(tmp_path / "r.ipynb", "library(torch)\nx <- torch_sqrt(y)", language="R")
    code, out, _ = run_cli(".", "--no-cache", cwd=tmp_path)
    assert "py.ipynb:cell 3:2:12: GL030" in out and "r.ipynb" not in out
    assert "1 file checked, 1 skipped" in out


def test_baseline_records_notebook_findings_by_cell(tmp_path, run_cli):
    _notebook(tmp_path / "nb.ipynb", SETUP, DISTANCE)
    run_cli("nb.ipynb", "--no-cache", "--baseline", "base.json", cwd=tmp_path)
    code, out, _ = run_cli("nb.ipynb", "--no-cache", "--baseline", "base.json", cwd=tmp_path)
    assert code == 0 and "1 more known from the baseline" in out
    # A new cell before it moves the finding to another cell: it is still the known one.
    _notebook(tmp_path / "nb.ipynb", SETUP, "x = 1", DISTANCE)
    code, out, _ = run_cli("nb.ipynb", "--no-cache", "--baseline", "base.json", cwd=tmp_path)
    assert code == 0, out


@pytest.mark.skipif(not installed("torch") and not require_frameworks(), reason="torch is not installed")
def test_dynamic_runs_only_the_cells_a_finding_needs(tmp_path, run_cli):
    side_effect = f"open({str(tmp_path / 'ran.txt')!r}, 'w').write('the whole notebook ran')\nraise SystemExit(1)"
    _notebook(tmp_path / "nb.ipynb", SETUP, side_effect, LOSS, DISTANCE)
    code, out, _ = run_cli("nb.ipynb", "--no-cache", "--dynamic", cwd=tmp_path)
    lines = out.splitlines()
    for rule in ("GL080", "GL030"):
        index = next(i for i, line in enumerate(lines) if f" {rule} " in line)
        assert lines[index + 1].startswith("    confirmed: "), lines[index + 1]
    assert not (tmp_path / "ran.txt").exists()

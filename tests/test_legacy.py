"""Python 2 files are checked as their line-for-line Python 3 reading (gradlint/engine/legacy.py),
with the findings in the file's own lines and columns and without fixes."""

from __future__ import annotations

import libcst as cst
import pytest

from gradlint import lint_source
from gradlint.engine.legacy import as_python3

PYTHON2 = (
    "import torch\n"
    "import torch.nn.functional as F\n"
    "\n"
    "class Policy(torch.nn.Module):\n"
    "    def forward(self, x):\n"
    "\tprint 'scores', x.shape  # a tab, as Python 2 allowed\n"
    "\treturn F.softmax(x)\n"
    "\n"
    "def loss(policy, x):\n"
    "    try:\n"
    "        probs = policy(x)\n"
    "    except ValueError, error:\n"
    "        print >>sys.stderr, `error`\n"
    "        raise ValueError, 'no scores'\n"
    "    print\n"
    "    return -torch.log(F.softmax(x, 1)).sum()\n"
)


def test_the_rewrite_parses_and_keeps_every_line():
    rewrite = as_python3(PYTHON2)
    assert rewrite is not None
    cst.parse_module(rewrite.text)
    assert rewrite.text.count("\n") == PYTHON2.count("\n")
    lines = rewrite.text.splitlines()
    assert lines[5] == "        print('scores', x.shape)  # a tab, as Python 2 allowed"
    assert lines[11] == "    except ValueError as error:"
    assert lines[12] == "        print(  sys.stderr, repr(error))"
    assert lines[13] == "        raise ValueError( 'no scores')"
    assert lines[14] == "    print()"


@pytest.mark.parametrize(
    "source, spelling",
    [("x = 0777\n", "x = 0o777\n"), ("x = 10L\n", "x = 10\n"), ("if a <> b: pass\n", "if a != b: pass\n"),
     ("exec code in scope\n", "exec(code in scope)\n")],
)
def test_number_and_operator_spellings(source, spelling):
    assert as_python3(source).text == spelling


def test_findings_of_a_python2_file_are_in_its_own_columns_and_have_no_fix():
    findings = lint_source(PYTHON2, path="policy.py", select=["GL000", "GL080"])
    assert [(f.rule, f.line, f.column) for f in findings] == [("GL080", 16, 13)]
    assert PYTHON2.splitlines()[15][12:].startswith("torch.log(")
    assert findings[0].fix is None
    fixed = lint_source(PYTHON2.replace("\tprint 'scores', x.shape", "\tpass").replace("\t", "        ")
                        .replace("except ValueError, error", "except ValueError as error")
                        .replace("print >>sys.stderr, `error`", "pass").replace("raise ValueError, 'no scores'", "raise")
                        .replace("    print\n", "    pass\n"), path="policy.py", select=["GL080"])
    assert fixed[0].fix is not None  # the same finding in Python 3 has its fix


def test_a_tab_indented_line_maps_columns_back():
    source = "import torch\n\ndef loss(x):\n\tprint x\n\treturn torch.log(torch.softmax(x, 1))\n"
    (finding,) = lint_source(source, path="m.py", select=["GL080"])
    assert (finding.line, finding.column) == (5, 9)  # after the tab and `return `
    assert source.splitlines()[4][finding.column - 1:].startswith("torch.log")


def test_a_python3_syntax_error_is_still_reported():
    findings = lint_source("import torch\n\ndef loss(x:\n    return x\n", path="m.py", select=["GL000"])
    assert [f.rule for f in findings] == ["GL000"]
    assert as_python3("import torch\n\ndef loss(x:\n    return x\n") is None

"""The command line as users run it: formats, exit codes, selection, suppression, bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gradlint import __version__

BAD_OBJECTIVE = '''import scipy.optimize

theta = [0.0]
J = lambda x: sum(theta)
scipy.optimize.minimize(J, theta)
'''
EXPECTED_TEXT = (
    "{path}:4:5: GL050 [error] [*] `J` given to `scipy.optimize.minimize` never uses its argument `x`: "
    "the optimiser sees a constant and returns x0"
)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "train.py").write_text(BAD_OBJECTIVE)
    (tmp_path / "pkg" / "clean.py").write_text("import scipy.optimize\n\nx = scipy.optimize.rosen([1.0, 1.0])\n")
    (tmp_path / "pkg" / "plain.py").write_text("import os\n\nprint(os.getcwd())\n")
    return tmp_path


def test_text_output_and_exit_code(project, run_cli):
    code, out, err = run_cli("pkg", cwd=project)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == EXPECTED_TEXT.format(path=os.path.join("pkg", "train.py"))
    assert lines[-2] == "Found 1 finding in 2 files checked, 1 skipped (no framework imported)."
    assert lines[-1] == "[*] 1 fixable with `gradlint --fix`."
    assert err == ""


def test_clean_run_exits_zero(project, run_cli):
    code, out, _ = run_cli("pkg/clean.py", cwd=project)
    assert code == 0
    assert out.strip() == "No findings in 1 file checked."


def test_exit_zero(project, run_cli):
    code, _, _ = run_cli("--exit-zero", "pkg", cwd=project)
    assert code == 0


def test_json_contract(project, run_cli):
    code, out, _ = run_cli("--format", "json", "pkg", cwd=project)
    payload = json.loads(out)
    assert code == 1
    assert set(payload) == {"version", "findings", "files_checked", "files_skipped", "errors", "fixes_applied"}
    assert payload["version"] == __version__
    assert (payload["files_checked"], payload["files_skipped"], payload["errors"]) == (2, 1, [])
    [finding] = payload["findings"]
    assert finding == {
        "path": os.path.join("pkg", "train.py"),
        "line": 4,
        "column": 5,
        "end_line": 4,
        "end_column": 25,
        "rule": "GL050",
        "name": "objective-ignores-argument",
        "severity": "error",
        "message": EXPECTED_TEXT.split(" GL050 [error] [*] ", 1)[1],
        "fix": {
            "title": "read the parameter instead of the starting point it captured",
            "safe": True,
            "range": {"line": 4, "column": 19, "end_line": 4, "end_column": 24},
            "replacement": "x",
        },
        "confirmation": None,
        "cell": None,
    }


def test_sarif_output(project, run_cli):
    code, out, _ = run_cli("--format", "sarif", "pkg", cwd=project)
    log = json.loads(out)
    assert code == 1 and log["version"] == "2.1.0"
    run = log["runs"][0]
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert "GL050" in rule_ids and all(rule["help"]["markdown"] for rule in run["tool"]["driver"]["rules"])
    [result] = run["results"]
    assert result["ruleId"] == "GL050" and result["level"] == "error"
    assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "GL050"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (4, 5)
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "pkg/train.py"


def test_github_output(project, run_cli):
    code, out, _ = run_cli("--format", "github", "pkg", cwd=project)
    first = out.splitlines()[0]
    assert code == 1
    assert first.startswith(
        f"::error file={os.path.join('pkg', 'train.py')},line=4,col=5,endLine=4,endColumn=25,"
        "title=GL050 objective-ignores-argument::GL050 `J` given to"
    )


def test_output_file(project, run_cli):
    code, out, _ = run_cli("--format", "json", "--output", "report.json", "pkg", cwd=project)
    assert code == 1 and out == ""
    assert json.loads((project / "report.json").read_text())["findings"][0]["rule"] == "GL050"


def test_statistics_as_ruff_prints_them(project, run_cli):
    code, out, _ = run_cli("--statistics", "pkg", cwd=project)
    assert code == 1
    assert out.splitlines()[0] == "1\tGL050\t[*] objective-ignores-argument"  # the counts, no finding first
    assert "pkg/train.py:4:5" not in out
    code, out, _ = run_cli("--statistics", "--output-format", "json", "pkg", cwd=project)
    assert json.loads(out) == [{"code": "GL050", "name": "objective-ignores-argument", "count": 1, "fixable": True}]
    assert run_cli("--statistics", "--output-format", "sarif", "pkg", cwd=project)[0] == 2


def test_select_and_ignore(project, run_cli):
    assert run_cli("--ignore", "GL050", "pkg", cwd=project)[0] == 0
    assert run_cli("--ignore", "GL05", "pkg", cwd=project)[0] == 0
    assert run_cli("--select", "GL0", "pkg", cwd=project)[0] == 1
    assert run_cli("--select", "GL000", "--extend-select", "GL050", "pkg", cwd=project)[0] == 1


def test_unknown_code_is_a_usage_error(project, run_cli):
    code, out, err = run_cli("--select", "GL999", "pkg", cwd=project)
    assert code == 2 and out == ""
    assert err.strip() == "gradlint: error: unknown rule code or prefix 'GL999' (see `gradlint --list-rules`) (in --select)"


def test_missing_path(project, run_cli):
    code, _, err = run_cli("nope.py", cwd=project)
    assert code == 2
    assert "no such file or directory: nope.py" in err


def test_stdin(project, run_cli):
    code, out, _ = run_cli("-", "--stdin-filename", "model.py", cwd=project, stdin=BAD_OBJECTIVE.encode())
    assert code == 1
    assert out.startswith("model.py:4:5: GL050 ")


@pytest.mark.parametrize(
    "comment",
    ["# noqa: GL050", "# noqa", "# noqa:GL050,GL001", "# gradlint: ignore[GL050]", "# NOQA: gl050"],
)
def test_suppression_comments(tmp_path, run_cli, comment):
    source = BAD_OBJECTIVE.replace("J = lambda x: sum(theta)", f"J = lambda x: sum(theta)  {comment}")
    (tmp_path / "m.py").write_text(source)
    assert run_cli("m.py", cwd=tmp_path)[0] == 0


def test_suppression_for_another_code_does_not_hide(tmp_path, run_cli):
    source = BAD_OBJECTIVE.replace("J = lambda x: sum(theta)", "J = lambda x: sum(theta)  # noqa: GL001")
    (tmp_path / "m.py").write_text(source)
    assert run_cli("m.py", cwd=tmp_path)[0] == 1


def test_noqa_on_first_line_of_statement(tmp_path, run_cli):
    source = BAD_OBJECTIVE.replace("J = lambda x: sum(theta)", "J = (  # noqa: GL050\n    lambda x: sum(theta)\n)")
    (tmp_path / "m.py").write_text(source)
    assert run_cli("m.py", cwd=tmp_path)[0] == 0


def test_noqa_inside_a_string_is_not_a_comment(tmp_path, run_cli):
    source = BAD_OBJECTIVE.replace("J = lambda x: sum(theta)", "J = lambda x: sum(theta) or '# noqa'")
    (tmp_path / "m.py").write_text(source)
    assert run_cli("m.py", cwd=tmp_path)[0] == 1


def test_skip_file(tmp_path, run_cli):
    (tmp_path / "m.py").write_text("# gradlint: skip-file\n" + BAD_OBJECTIVE)
    code, out, _ = run_cli("m.py", cwd=tmp_path)
    assert code == 0 and "1 skipped" in out


def test_syntax_error_is_a_finding_and_the_run_goes_on(tmp_path, run_cli):
    (tmp_path / "broken.py").write_text("import scipy\n\ndef f(:\n    pass\n")
    (tmp_path / "train.py").write_text(BAD_OBJECTIVE)
    code, out, err = run_cli(".", cwd=tmp_path)
    assert code == 1 and err == ""
    assert out.splitlines()[0] == "broken.py:3:7: GL000 [error] file could not be checked: SyntaxError: invalid syntax"
    assert "train.py:4:5: GL050" in out


def test_undecodable_file(tmp_path, run_cli):
    (tmp_path / "latin.py").write_bytes(b"import scipy\nname = 'caf\xe9'\n")
    code, out, _ = run_cli("latin.py", cwd=tmp_path)
    assert code == 1
    assert out.startswith("latin.py:1:1: GL000 [error] file could not be checked: not valid text in its encoding")
    assert "Traceback" not in out


def test_deeply_nested_input_gives_no_traceback(tmp_path, run_cli):
    (tmp_path / "deep.py").write_text("import scipy\nx = " + "(" * 5000 + "1" + ")" * 5000 + "\n")
    code, out, err = run_cli("deep.py", cwd=tmp_path)
    assert code == 1 and "GL000" in out and "Traceback" not in out + err


def test_list_rules_and_rule_page(run_cli):
    code, out, _ = run_cli("--list-rules")
    assert code == 0 and "GL050  objective-ignores-argument" in out
    code, out, _ = run_cli("rule", "GL050")
    assert code == 0 and out.startswith("# objective-ignores-argument (GL050)\n")  # not the generator's comment
    assert "<!--" not in out
    assert run_cli("rule", "objective-ignores-argument")[0] == 0
    assert run_cli("rule", "GL999")[0] == 2


def test_internal_error_in_one_rule_is_reported_and_others_run(tmp_path, run_cli, monkeypatch):
    from gradlint.rules.gl050_objective_ignores_argument import ObjectiveIgnoresArgument

    def explode(self, node):
        raise ValueError("boom")

    (tmp_path / "m.py").write_text("import torch\nimport scipy\n\ndef f(:\n")
    (tmp_path / "ok.py").write_text(BAD_OBJECTIVE)
    monkeypatch.setattr(ObjectiveIgnoresArgument, "visit_Call", explode)
    code, out, _ = run_cli("--format", "json", ".", cwd=tmp_path)
    payload = json.loads(out)
    assert code == 2
    assert [e["rule"] for e in payload["errors"]] == ["GL050"]
    assert "internal error in GL050 objective-ignores-argument: ValueError: boom" in payload["errors"][0]["message"]
    assert [f["rule"] for f in payload["findings"]] == ["GL000"]


def test_parallel_run_matches_serial(tmp_path, run_cli):
    for i in range(40):
        (tmp_path / f"m{i:02}.py").write_text(BAD_OBJECTIVE if i % 3 == 0 else "import torch\n")
    serial = run_cli("--format", "json", "-j", "1", ".", cwd=tmp_path)[1]
    parallel = run_cli("--format", "json", "-j", "2", ".", cwd=tmp_path)[1]
    assert json.loads(serial) == json.loads(parallel)
    assert len(json.loads(serial)["findings"]) == 14


def test_console_entry_points():
    out = subprocess.run([sys.executable, "-m", "gradlint", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"gradlint {__version__}"


def test_version_and_help_do_not_import_libcst():
    code = "import sys\nfrom gradlint.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass\nprint('libcst' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip().endswith("False")


def test_pre_commit_hooks_file_names_the_entry_point():
    text = (Path(__file__).resolve().parents[1] / ".pre-commit-hooks.yaml").read_text()
    assert "entry: gradlint" in text and "types_or: [python, jupyter]" in text


def test_a_byte_order_mark_before_the_first_import_does_not_hide_the_file(tmp_path, run_cli):
    (tmp_path / "bom.py").write_bytes(b"\xef\xbb\xbf" + BAD_OBJECTIVE.encode())
    (tmp_path / "skipped.py").write_bytes(b"\xef\xbb\xbf# gradlint: skip-file\n" + BAD_OBJECTIVE.encode())
    code, out, _ = run_cli("--isolated", tmp_path)
    assert code == 1 and out.count("GL050") == 1 and "bom.py:4:5" in out

"""ruff's command-line habits, and the configuration mistakes that must not pass silently."""

import json
import os

import pytest

BAD = "import scipy.optimize\n\ntheta = [0.0]\nJ = lambda x: sum(theta)\nscipy.optimize.minimize(J, theta)\n"
FIXED = BAD.replace("sum(theta)", "sum(x)")
SOFTMAX = "import torch\n\nx = torch.zeros(3)\np = torch.log(torch.softmax(x, -1))\n"


@pytest.fixture
def project(tmp_path):
    (tmp_path / "train.py").write_text(BAD)
    return tmp_path


def configure(project, text: str) -> None:
    (project / "pyproject.toml").write_text("[tool.gradlint]\n" + text)


def test_check_is_accepted_as_a_subcommand(project, run_cli):
    code, out, err = run_cli("check", "train.py", "--no-cache", cwd=project)
    assert code == 1 and "train.py:4:5: GL050" in out and err == ""


def test_output_format_with_format_kept_as_an_alias(project, run_cli):
    outputs = [run_cli(flag, "json", "train.py", "--no-cache", cwd=project)[1] for flag in ("--output-format", "--format")]
    assert outputs[0] == outputs[1] and json.loads(outputs[0])["findings"][0]["rule"] == "GL050"


def test_the_command_line_select_beats_the_configuration_ignore(project, run_cli):
    configure(project, 'ignore = ["GL050"]\n')
    assert run_cli("train.py", "--no-cache", cwd=project)[0] == 0
    code, out, _ = run_cli("--select", "GL050", "train.py", "--no-cache", cwd=project)
    assert code == 1 and "GL050" in out
    assert run_cli("--extend-select", "GL050", "train.py", "--no-cache", cwd=project)[0] == 1


def test_an_unknown_code_on_the_command_line_is_not_blamed_on_the_configuration(project, run_cli):
    configure(project, 'ignore = ["GL010"]\n')
    code, _, err = run_cli("--select", "GL999", "train.py", cwd=project)
    assert code == 2 and "GL999" in err and "(in --select)" in err and "pyproject.toml" not in err
    configure(project, 'ignore = ["GL999"]\n')
    code, _, err = run_cli("train.py", cwd=project)
    assert code == 2 and "pyproject.toml, ignore" in err


@pytest.mark.parametrize("entry", ["objective-ignores-argument", "gl050", "GL05", "ALL"])
def test_per_file_ignores_read_entries_as_select_does(project, run_cli, entry):
    configure(project, f'[tool.gradlint.per-file-ignores]\n"train.py" = ["{entry}"]\n')
    code, out, _ = run_cli("train.py", "--no-cache", cwd=project)
    assert code == 0 and "GL050" not in out


def test_an_unknown_per_file_ignore_is_an_error_with_a_suggestion(project, run_cli):
    configure(project, '[tool.gradlint.per-file-ignores]\n"train.py" = ["objective-ignores-argumnt"]\n')
    code, out, err = run_cli("train.py", cwd=project)
    assert code == 2 and out == ""
    assert "per-file-ignores 'train.py'" in err and "did you mean 'objective-ignores-argument'?" in err


def test_force_exclude_applies_to_the_stdin_filename(project, run_cli):
    configure(project, 'exclude = ["generated"]\n')
    args = ("--force-exclude", "--stdin-filename", "generated/train.py", "-")
    code, out, _ = run_cli(*args, cwd=project, stdin=BAD.encode())
    assert code == 0 and "GL050" not in out
    code, out, _ = run_cli("--fix", *args, cwd=project, stdin=BAD.encode())
    assert code == 0 and out == BAD  # echoed unchanged, as ruff does for an excluded file
    code, out, _ = run_cli("--force-exclude", "--stdin-filename", "src/train.py", "-", cwd=project, stdin=BAD.encode())
    assert code == 1 and "src/train.py:4:5: GL050" in out


def test_an_empty_selection_warns(project, run_cli):
    code, _, err = run_cli("--select", "GL050", "--ignore", "GL050", "train.py", "--no-cache", cwd=project)
    assert code == 0 and "gradlint: warning: no rules selected" in err


def test_a_folder_without_python_files_warns(tmp_path, run_cli):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("nothing here\n")
    code, _, err = run_cli("docs", cwd=tmp_path)
    assert code == 0 and "gradlint: warning: no Python files found under docs" in err


def test_a_binary_py_file_without_a_framework_import_is_gl000(tmp_path, run_cli):
    (tmp_path / "blob.py").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    code, out, _ = run_cli("blob.py", "--no-cache", cwd=tmp_path)
    assert code == 1 and out.startswith("blob.py:1:1: GL000 [error] file could not be checked")


def test_a_missing_path_is_an_error_without_a_summary_of_nothing(tmp_path, run_cli):
    code, out, err = run_cli("nope.py", cwd=tmp_path)
    assert code == 2 and "no such file or directory: nope.py" in err
    assert out == "" and "0 files checked" not in err


def test_skip_file_is_counted_as_such(tmp_path, run_cli):
    (tmp_path / "a.py").write_text("# gradlint: skip-file\n" + SOFTMAX)
    (tmp_path / "b.py").write_text("import os\n")
    code, out, _ = run_cli(".", "--no-cache", cwd=tmp_path)
    assert code == 0
    assert out.strip() == "No findings in 0 files checked, 2 skipped (1 `# gradlint: skip-file`, 1 no framework imported)."
    _, out, _ = run_cli("a.py", "--no-cache", cwd=tmp_path)
    assert out.strip() == "No findings in 0 files checked, 1 skipped (`# gradlint: skip-file`)."


def test_show_fixes_lists_each_fix_and_what_fix_applied(project, run_cli):
    code, out, _ = run_cli("--show-fixes", "train.py", "--no-cache", cwd=project)
    assert code == 1
    assert "    fix (safe): read the parameter instead of the starting point it captured" in out.splitlines()
    code, out, _ = run_cli("--fix", "--show-fixes", "train.py", "--no-cache", cwd=project)
    assert code == 0 and (project / "train.py").read_text() == FIXED
    assert "Fixed 1 finding:\n- train.py:\n    1 × GL050 (objective-ignores-argument)" in out


def test_show_settings(project, run_cli):
    configure(project, 'select = ["GL05"]\nignore = ["GL051"]\n[tool.gradlint.per-file-ignores]\n"t*.py" = ["GL050"]\n')
    code, out, _ = run_cli("--show-settings", "--output-format", "json", "train.py", cwd=project)
    shown = json.loads(out)
    assert code == 0 and shown["config"] == str(project / "pyproject.toml")
    assert shown["rules"] == ["GL050", "GL052", "GL053"] and shown["per-file-ignores"] == {"t*.py": ["GL050"]}
    code, out, _ = run_cli("--show-settings", "train.py", cwd=project)
    assert code == 0 and 'rules = ["GL050", "GL052", "GL053"]' in out.splitlines()


def test_show_files(project, run_cli):
    (project / "pkg").mkdir()
    (project / "pkg" / "model.py").write_text(SOFTMAX)
    (project / "pkg" / "notes.txt").write_text("")
    configure(project, 'exclude = ["train.py"]\n')
    code, out, _ = run_cli("--show-files", ".", cwd=project)
    assert code == 0 and out.splitlines() == [os.path.join("pkg", "model.py")]


def test_list_rules_prints_whole_sentences_and_honours_json(run_cli):
    code, out, _ = run_cli("--list-rules")
    assert code == 0 and ":." not in out
    gl030 = next(line for line in out.splitlines() if line.startswith("GL030"))
    assert gl030.endswith("with no epsilon or positive clamp before the root.")
    code, out, _ = run_cli("--list-rules", "--output-format", "json")
    rules = json.loads(out)
    assert code == 0 and {"code": "GL050", "name": "objective-ignores-argument", "severity": "error"}.items() <= \
        next(r for r in rules if r["code"] == "GL050").items()


def test_add_noqa_suppresses_every_finding(tmp_path, run_cli):
    path = tmp_path / "model.py"
    path.write_bytes(b"import torch\r\n\r\nx = torch.zeros(3)\r\np = torch.log(torch.softmax(x, -1))  # keep\r\n"
                     b"q = torch.log(torch.softmax(x, -1))  # noqa: E501\r\ns = '''\r\n'''\r\n")
    code, _, err = run_cli("--add-noqa", "model.py", "--no-cache", cwd=tmp_path)
    assert code == 0 and "Added 2 noqa directives." in err
    assert path.read_bytes().splitlines()[3:5] == [
        b"p = torch.log(torch.softmax(x, -1))  # keep  # noqa: GL080",
        b"q = torch.log(torch.softmax(x, -1))  # noqa: E501, GL080",
    ]
    assert b"\r\n" in path.read_bytes() and b"\n" not in path.read_bytes().replace(b"\r\n", b"")
    assert run_cli("model.py", "--no-cache", "--extend-select", "GL900", cwd=tmp_path)[0] == 0

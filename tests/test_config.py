"""[tool.gradlint] and gradlint.toml: discovery, keys, errors that name the problem."""

import textwrap

import pytest

from tests.test_cli import BAD_OBJECTIVE


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture
def repo(tmp_path):
    write(tmp_path / "src" / "train.py", BAD_OBJECTIVE)
    write(tmp_path / "tests" / "test_train.py", BAD_OBJECTIVE)
    return tmp_path


def test_pyproject_ignore(repo, run_cli):
    write(repo / "pyproject.toml", '[project]\nname = "x"\n\n[tool.gradlint]\nignore = ["GL050"]\n')
    assert run_cli(".", cwd=repo)[0] == 0


def test_config_found_from_the_linted_path(repo, run_cli, tmp_path_factory):
    write(repo / "pyproject.toml", '[tool.gradlint]\nignore = ["GL050"]\n')
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    assert run_cli(str(repo / "src"), cwd=elsewhere)[0] == 0


def test_pyproject_without_table_is_passed_over(repo, run_cli):
    write(repo / "gradlint.toml", 'ignore = ["GL050"]\n')
    write(repo / "src" / "pyproject.toml", '[project]\nname = "inner"\n')
    assert run_cli("src", cwd=repo)[0] == 0


def test_gradlint_toml_select(repo, run_cli):
    write(repo / "gradlint.toml", 'select = ["GL000"]\n')
    assert run_cli(".", cwd=repo)[0] == 0


def test_exclude(repo, run_cli):
    write(repo / "pyproject.toml", '[tool.gradlint]\nexclude = ["tests"]\n')
    code, out, _ = run_cli(".", cwd=repo)
    assert code == 1 and "tests" not in out and "src/train.py" in out


def test_named_file_is_linted_despite_exclude_unless_forced(repo, run_cli):
    write(repo / "pyproject.toml", '[tool.gradlint]\nexclude = ["tests"]\n')
    assert run_cli("tests/test_train.py", cwd=repo)[0] == 1
    assert run_cli("--force-exclude", "tests/test_train.py", cwd=repo)[0] == 0


def test_per_file_ignores(repo, run_cli):
    write(repo / "pyproject.toml", '[tool.gradlint.per-file-ignores]\n"tests/*" = ["GL05"]\n')
    code, out, _ = run_cli(".", cwd=repo)
    assert code == 1 and "tests/test_train.py" not in out and "src/train.py" in out


def test_command_line_adds_to_config(repo, run_cli):
    write(repo / "pyproject.toml", '[tool.gradlint]\nignore = ["GL000"]\n')
    assert run_cli("--ignore", "GL050", ".", cwd=repo)[0] == 0


def test_isolated_ignores_config(repo, run_cli):
    write(repo / "pyproject.toml", '[tool.gradlint]\nignore = ["GL050"]\n')
    assert run_cli("--isolated", ".", cwd=repo)[0] == 1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('[tool.gradlint]\nselct = ["GL050"]\n', "unknown key 'selct'; did you mean 'select'?"),
        ('[tool.gradlint]\nignore = "GL8"\n', "unknown rule code or prefix 'GL8'"),
        ('[tool.gradlint]\nignore = [1]\n', "'ignore' must be a list of strings"),
        ('[tool.gradlint\n', "is not valid TOML"),
        ('[tool.gradlint]\nper-file-ignores = ["x"]\n', "'per-file-ignores' must be a table"),
        ('[tool.gradlint.per-file-ignores]\n"a.py" = ["GL777"]\n', "unknown rule code or prefix 'GL777'"),
    ],
)
def test_bad_config_is_a_clear_error(repo, run_cli, config, message):
    write(repo / "pyproject.toml", config)
    code, out, err = run_cli(".", cwd=repo)
    assert code == 2 and out == ""
    assert err.startswith("gradlint: error: ") and message in err
    assert "Traceback" not in err


def test_explicit_config_file(repo, run_cli):
    write(repo / "custom.toml", 'ignore = ["GL050"]\n')
    assert run_cli("--config", "custom.toml", ".", cwd=repo)[0] == 1  # not named gradlint.toml: [tool.gradlint] expected
    write(repo / "gradlint.toml", 'ignore = ["GL050"]\n')
    assert run_cli("--config", "gradlint.toml", ".", cwd=repo)[0] == 0
    assert run_cli("--config", "missing.toml", ".", cwd=repo)[0] == 2

"""The pre-commit hooks as a user sets them up: the real `pre-commit` package, a temporary git
repository, this checkout as the hook repository, a failing and a passing commit."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BAD = "import scipy.optimize\n\ntheta = [0.0]\nJ = lambda x: sum(theta)\nscipy.optimize.minimize(J, theta)\n"
GOOD = BAD.replace("sum(theta)", "sum(x)")


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory):
    """This checkout as committed a moment ago, so that uncommitted work is what gets tested."""
    source = tmp_path_factory.mktemp("gradlint-hooks")
    listed = git("ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=ROOT).split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    git("init", "-q", cwd=source)
    git("add", "-A", cwd=source)
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "hooks", cwd=source)
    return source, git("rev-parse", "HEAD", cwd=source).strip()


@pytest.fixture
def user_repo(tmp_path, hook_repo, tmp_path_factory):
    source, rev = hook_repo
    repo = tmp_path / "project"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {source}\n    rev: {rev}\n    hooks:\n      - id: gradlint\n"
    )
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path_factory.getbasetemp() / "pre-commit-cache"),
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    pre_commit = [sys.executable, "-m", "pre_commit"]
    subprocess.run([*pre_commit, "install"], cwd=repo, env=env, check=True, capture_output=True)

    def commit(name: str, text: str) -> subprocess.CompletedProcess:
        (repo / name).write_text(text)
        git("add", name, ".pre-commit-config.yaml", cwd=repo)
        return subprocess.run(["git", "commit", "-m", f"add {name}"], cwd=repo, env=env, capture_output=True, text=True)

    return repo, env, commit


def test_a_commit_with_a_finding_fails_and_a_clean_one_passes(user_repo):
    repo, _, commit = user_repo
    failing = commit("train.py", BAD)
    output = failing.stdout + failing.stderr
    assert failing.returncode != 0 and "train.py:4:5: GL050" in output, output
    passing = commit("train.py", GOOD)
    output = passing.stdout + passing.stderr
    assert passing.returncode == 0 and "Passed" in output, output
    assert "add train.py" in git("log", "--oneline", cwd=repo)


def test_the_fix_hook_repairs_the_file(user_repo, hook_repo):
    repo, env, _ = user_repo
    (repo / "train.py").write_text(BAD)
    git("add", "train.py", cwd=repo)
    source, _ = hook_repo
    run = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(source), "gradlint-fix", "--files", "train.py"],
        cwd=repo, env=env, capture_output=True, text=True,
    )
    assert run.returncode == 1 and "files were modified by this hook" in run.stdout, run.stdout + run.stderr
    assert (repo / "train.py").read_text() == GOOD

"""Run the README's install, pre-commit and GitHub Action instructions as written, each in a
fresh virtual environment, from a copy of this checkout (tracked and new files, as committed
or not). Needs network access to the package index.

    python bench/install_check.py            # install lines, both pre-commit snippets, the Action
    python bench/install_check.py --extras   # also install the `torch` extra for real (large)

What cannot run here is substituted and said so: the hook repository's path is this clone,
and `OWNER/gradlint@COMMIT` is this repository at that commit (GitHub itself is not run; the
action's own install and lint steps are).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BAD = "import scipy.optimize\n\ntheta = [0.0]\nJ = lambda x: sum(theta)\nscipy.optimize.minimize(J, theta)\n"
GOOD = BAD.replace("sum(theta)", "sum(x)")


def run(command, cwd, env=None, shell=False, expect=(0,)) -> subprocess.CompletedProcess:
    shown = command if shell else " ".join(map(str, command))
    shown = shown.strip().splitlines()[0] + (" ..." if "\n" in shown.strip() else "")
    print(f"$ {shown}    (in {cwd.name})", flush=True)
    done = subprocess.run(command, cwd=cwd, env=env, shell=shell, capture_output=True, text=True,
                          executable="/bin/bash" if shell else None)
    if done.returncode not in expect:
        sys.exit(f"FAILED (exit {done.returncode}, expected {expect}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def section(title: str) -> str:
    return README.split(f"\n{title}\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]


def blocks(text: str, language: str) -> list[str]:
    return [block.split("```", 1)[0] for block in text.split(f"```{language}\n")[1:]]


def copy_checkout(target: Path) -> Path:
    """This checkout's files as a new user's clone would hold them."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


def git(*args, cwd) -> str:
    return run(["git", *args], cwd=cwd).stdout


def user_repo(base: Path, config: str, env: dict, python: Path) -> Path:
    repo = base / "project"
    repo.mkdir(parents=True)
    git("init", "-q", cwd=repo)
    (repo / ".pre-commit-config.yaml").write_text(config)
    run([str(python), "-m", "pre_commit", "install"], cwd=repo, env=env)
    return repo


def check_commits(repo: Path, env: dict) -> None:
    (repo / "train.py").write_text(BAD)
    git("add", "-A", cwd=repo)
    refused = run(["git", "commit", "-m", "bad"], cwd=repo, env=env, expect=(1,))
    assert "train.py:4:5: GL050" in refused.stdout + refused.stderr, refused.stdout
    (repo / "train.py").write_text(GOOD)
    git("add", "-A", cwd=repo)
    run(["git", "commit", "-m", "good"], cwd=repo, env=env)
    print("  a commit with a finding is refused, a clean one goes through")


def check_install(base: Path, extras: bool) -> Path:
    """The quick start's first command, as written, in a new clone; then the other install lines."""
    clone = copy_checkout(base / "clone")
    [quick] = [b for b in blocks(section("## Quick start"), "sh")]
    first = quick.strip().splitlines()[0]
    assert first.startswith("python3 -m venv .venv && .venv/bin/pip install -e '.[test]'"), first
    done = run(first, cwd=clone, shell=True, expect=(1,))  # the demo has findings
    assert "Found" in done.stdout and "GL050" in done.stdout
    print("  quick start: installed, and `gradlint demo/` reports the demo's findings")
    pip = [str(clone / ".venv/bin/python"), "-m", "pip"]
    for extra in ("server", "torch", "tf", "jax", "pytensor", "all"):
        assert f"[{extra}]" in README, extra
    report = base / "report.json"
    run([*pip, "install", "--dry-run", "--quiet", "--report", str(report), "-e", ".[torch]"], cwd=clone)
    names = {item["metadata"]["name"] for item in json.loads(report.read_text())["install"]}
    assert "gradlint-ml" in names and "gradlint" not in names and "torch" in names, names
    print("  `pip install -e '.[torch]'` resolves to this project's extra (torch included), not PyPI's gradlint")
    if extras:
        run([*pip, "install", "--quiet", "-e", ".[torch]"], cwd=clone)
    run([*pip, "install", "--quiet", "-e", ".[server]"], cwd=clone)
    other = base / "other"
    run([sys.executable, "-m", "venv", str(other)], cwd=base)
    run([str(other / "bin/pip"), "install", "--quiet", str(clone)], cwd=base)  # `pip install /path/to/the/clone`
    assert run([str(other / "bin/gradlint"), "--version"], cwd=base).stdout.startswith("gradlint ")
    shown = run([str(other / "bin/pip"), "show", "gradlint-ml"], cwd=base).stdout
    assert "License: MIT" in shown or "MIT" in shown, shown
    print("  `pip install /path/to/the/clone`: distribution gradlint-ml, command gradlint")
    return clone


def check_pre_commit(base: Path, clone: Path) -> None:
    text = section("### pre-commit")
    local, remote = blocks(text, "yaml")
    env = {**os.environ, "PRE_COMMIT_HOME": str(base / "pre-commit-home"),
           "PATH": f"{clone / '.venv/bin'}{os.pathsep}{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    print("pre-commit, the local hook as written (gradlint from the quick start's environment):")
    python = clone / ".venv/bin/python"  # pre-commit came with the `test` extra
    check_commits(user_repo(base / "local", local, env, python), env)
    rev = yaml.safe_load(remote)["repos"][0]["rev"]
    git("cat-file", "-e", f"{rev}^{{commit}}", cwd=ROOT)
    print(f"pre-commit, the hook repository at {rev[:12]} (a commit of this repository), `repo:` this clone:")
    config = remote.replace("/path/to/your/gradlint/clone", str(ROOT))
    check_commits(user_repo(base / "remote", config, env, python), env)


def check_action(base: Path) -> None:
    workflows = [yaml.safe_load(text) for text in blocks(section("### GitHub Actions"), "yaml")]
    for number, workflow in enumerate(workflows):
        steps = next(iter(workflow["jobs"].values()))["steps"]
        [step] = [s for s in steps if s.get("uses", "").startswith("OWNER/gradlint@")]
        rev = step["uses"].split("@", 1)[1]
        git("cat-file", "-e", f"{rev}^{{commit}}", cwd=ROOT)
        action_path = base / f"action{number}"
        action_path.mkdir()
        archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(action_path)], input=archive, check=True)
        action = yaml.safe_load((action_path / "action.yml").read_text())
        venv = base / f"runner{number}"
        run([sys.executable, "-m", "venv", str(venv)], cwd=base)
        env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
               "GITHUB_OUTPUT": str(base / f"github-output{number}")}
        inputs = {name: spec.get("default", "") for name, spec in action["inputs"].items()} | step.get("with", {})
        project = base / f"workspace{number}"
        (project / "src").mkdir(parents=True)
        (project / "src" / "train.py").write_text(BAD)
        print(f"Action at {rev[:12]}, workflow {number + 1} (with: {step.get('with')}):")
        for action_step in action["runs"]["steps"]:
            if "run" not in action_step:
                continue  # actions/setup-python: the fresh virtual environment stands in for it
            step_env = dict(env)
            for name, expression in action_step.get("env", {}).items():
                key = re.fullmatch(r"\$\{\{ (?:inputs\.([\w-]+)|github\.action_path) \}\}", expression)
                step_env[name] = str(action_path) if key.group(1) is None else str(inputs[key.group(1)])
            expected = (1,) if action_step.get("id") == "lint" and inputs["format"] == "github" else (0,)
            done = run(["bash", "-c", action_step["run"]], cwd=project, env=step_env, expect=expected)
        if inputs["format"] == "github":
            assert "::error file=src/train.py,line=4" in done.stdout, done.stdout
            print("  the lint step fails with an annotation on src/train.py")
        else:
            log = json.loads((project / inputs["sarif-file"]).read_text())
            assert log["runs"][0]["results"][0]["ruleId"] == "GL050"
            print(f"  the lint step writes {inputs['sarif-file']} for upload-sarif and passes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extras", action="store_true", help="install the torch extra for real")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gradlint-install-") as temporary:
        base = Path(temporary)
        print("Install lines:")
        clone = check_install(base, args.extras)
        check_pre_commit(base, clone)
        check_action(base)
    print(f"All README install, pre-commit and Action instructions ran as written "
          f"({time.perf_counter() - started:.0f} s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())

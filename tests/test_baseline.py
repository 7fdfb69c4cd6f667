"""`--baseline FILE`: record today's findings, then report only new ones, by fingerprint not line."""

import json

import pytest

BAD = '''import scipy.optimize

theta = [0.0]
J = lambda x: sum(theta)
scipy.optimize.minimize(J, theta)
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "train.py").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_first_run_records_then_only_new_findings_are_reported(project, run_cli):
    code, out, err = run_cli("--isolated", "--baseline", "gradlint-baseline.json", ".")
    assert code == 0 and "recorded 1 finding in gradlint-baseline.json" in err
    [entry] = json.loads((project / "gradlint-baseline.json").read_text())["findings"]
    assert (entry["rule"], entry["path"]) == ("GL050", "train.py")

    code, out, _ = run_cli("--isolated", "--baseline", "gradlint-baseline.json", ".")
    assert code == 0 and out.strip() == "No new findings in 1 file checked; 1 more known from the baseline."

    # Lines added above move the finding; it is still the same finding.
    (project / "train.py").write_text("# a header comment\n\n" + BAD)
    code, _, _ = run_cli("--isolated", "--baseline", "gradlint-baseline.json", ".")
    assert code == 0

    # A second copy of the same bug, in another file, is new.
    (project / "other.py").write_text(BAD)
    code, out, _ = run_cli("--isolated", "--baseline", "gradlint-baseline.json", ".")
    assert code == 1 and out.startswith("other.py:4:5: GL050")


def test_changing_the_offending_code_makes_it_new_and_fixed_ones_are_stale(project, run_cli):
    run_cli("--isolated", "--baseline", "base.json", ".")
    (project / "train.py").write_text(BAD.replace("sum(theta)", "sum(theta) * 2"))
    code, out, _ = run_cli("--isolated", "--baseline", "base.json", ".")
    assert code == 1 and "train.py:4:5: GL050" in out
    (project / "train.py").write_text(BAD.replace("sum(theta)", "sum(x)"))
    code, out, err = run_cli("--isolated", "--baseline", "base.json", ".")
    assert code == 0 and "1 finding in base.json no longer occur" in err
    code, _, err = run_cli("--isolated", "--baseline", "base.json", "--update-baseline", ".")
    assert code == 0 and json.loads((project / "base.json").read_text())["findings"] == []


def test_baseline_paths_are_relative_to_the_baseline_file(project, run_cli):
    (project / "ci").mkdir()
    run_cli("--isolated", "--baseline", "ci/base.json", "train.py")
    [entry] = json.loads((project / "ci" / "base.json").read_text())["findings"]
    assert entry["path"] == "../train.py"
    code, _, _ = run_cli("--isolated", "--baseline", str(project / "ci" / "base.json"), str(project / "train.py"))
    assert code == 0


@pytest.mark.parametrize("content", ["not json", '{"findings": []}', '{"gradlint_baseline": 1, "findings": [{}]}'])
def test_a_broken_baseline_is_a_clear_error(project, run_cli, content):
    (project / "base.json").write_text(content)
    code, _, err = run_cli("--isolated", "--baseline", "base.json", ".")
    assert code == 2 and err.startswith("gradlint: error:") and "base.json" in err and "Traceback" not in err


def test_update_needs_a_baseline(project, run_cli):
    code, _, err = run_cli("--isolated", "--update-baseline", ".")
    assert code == 2 and "--update-baseline needs --baseline FILE" in err

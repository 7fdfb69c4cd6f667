"""The recall benchmark's own logic (bench/recall.py): its cases file is well formed, and a case
is scored as found, missed, false positive or unreadable on a git repository made here."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gradlint_bench_recall", ROOT / "bench" / "recall.py")
recall = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = recall  # dataclasses look their module up by name
spec.loader.exec_module(recall)


def test_the_corpus_is_well_formed():
    cases = recall.load_cases([recall.DEFAULT_CASES])
    labels = {label: sum(c.label == label for c in cases) for label in recall.LABELS}
    assert labels["positive"] >= 60 and labels["negative"] >= 40, labels
    by_id = {case.id: case for case in cases}
    for case in cases:
        if case.pair is not None:
            other = by_id[case.pair]
            assert other.pair == case.id, f"{case.id} names {other.id} as its pair, but not the other way"
            assert other.label != case.label and other.repo == case.repo


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": "/usr/bin:/bin:/usr/local/bin"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()


BUGGY = textwrap.dedent(
    """\
    import torch


    def loss(logits, target):
        probs = torch.softmax(logits, -1)
        return -(target * torch.log(probs)).sum()
    """
)
FIXED = BUGGY.replace("torch.log(probs)", "torch.log_softmax(logits, -1)")


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, Path]:
    mirrors = tmp_path / "mirrors"
    repo = mirrors / "someone" / "project"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q")
    (repo / "model.py").write_text(BUGGY)
    _git(repo, "add", "model.py")
    _git(repo, "commit", "-qm", "buggy")
    buggy = _git(repo, "rev-parse", "HEAD")
    (repo / "model.py").write_text(FIXED)
    _git(repo, "commit", "-qam", "fixed")
    fixed = _git(repo, "rev-parse", "HEAD")
    entries = [
        ("found", "positive", buggy, [6, 6], "GL080"),
        ("missed", "positive", buggy, [2, 2], "GL080"),
        ("clean", "negative", fixed, [6, 6], "GL080"),
        ("false-positive", "negative", buggy, [6, 6], "GL080"),
        ("unreadable", "positive", buggy, [1, 1], "GL080"),
    ]
    text = ""
    for name, label, commit, lines, rule in entries:
        path = "gone.py" if name == "unreadable" else "model.py"
        text += textwrap.dedent(
            f"""\
            [[case]]
            id = "{name}"
            rule = ["{rule}"]
            label = "{label}"
            repo = "someone/project"
            commit = "{commit}"
            path = "{path}"
            lines = {lines}
            framework = "torch"
            description = "d"
            evidence = "e"

            """
        )
    cases = tmp_path / "cases.toml"
    cases.write_text(text)
    return mirrors, cases


def test_cases_are_scored_from_a_run_over_their_commits(corpus, tmp_path, capsys):
    mirrors, cases = corpus
    out = tmp_path / "out.json"
    assert recall.main(["--mirrors", str(mirrors), "--cases", str(cases), "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    status = {case["id"]: case["status"] for case in results["cases"]}
    assert status == {name: name for name in status}
    assert results["per_rule"]["GL080"] == {"positives": 2, "found": 1, "negatives": 2, "false_positives": 1}
    printed = capsys.readouterr().out
    assert "nearest GL080 at line 6 (4 lines away)" in printed
    assert "unreadable (someone/project@" in printed and "gone.py" in printed


def test_bad_cases_are_refused_with_the_case_and_field(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[case]]\nid = "x"\nrule = ["GL999"]\n')
    assert recall.main(["--mirrors", str(tmp_path), "--cases", str(bad)]) == 2
    assert "case x: missing label" in capsys.readouterr().err

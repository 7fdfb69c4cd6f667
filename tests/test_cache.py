"""The result cache: unchanged files are not linted again, and nothing about the cache can
break a run: corrupt entries, concurrent writers, a read-only cache folder."""

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from gradlint.cache import CACHE_DIR_NAME, ResultCache
from gradlint.engine.result import FileResult

BAD = "import scipy.optimize\n\ntheta = [0.0]\nJ = lambda x: sum(theta)\nscipy.optimize.minimize(J, theta)\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "train.py").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def entries(root: Path) -> list[Path]:
    return sorted(p for p in (root / CACHE_DIR_NAME).rglob("*.json"))


def test_a_second_run_reads_the_cache_and_reports_the_same(project, run_cli, monkeypatch):
    first = run_cli("--isolated", ".")
    assert first[0] == 1 and len(entries(project)) == 1
    assert (project / CACHE_DIR_NAME / ".gitignore").read_text().endswith("*\n")

    def no_linting(*args, **kwargs):
        raise AssertionError("a cached file was linted again")

    monkeypatch.setattr("gradlint.engine.runner.lint_bytes", no_linting)
    assert run_cli("--isolated", ".") == first


def test_a_change_to_the_file_or_the_rules_is_a_miss(project, run_cli):
    run_cli("--isolated", ".")
    (project / "train.py").write_text(BAD.replace("sum(theta)", "sum(x)"))
    code, out, _ = run_cli("--isolated", ".")
    assert code == 0 and "No findings" in out
    code, _, _ = run_cli("--isolated", "--select", "GL030", ".")
    assert code == 0 and len(entries(project)) == 3


def test_no_cache_and_cache_dir(project, run_cli, tmp_path):
    run_cli("--isolated", "--no-cache", ".")
    assert not (project / CACHE_DIR_NAME).exists()
    elsewhere = tmp_path / "elsewhere"
    run_cli("--isolated", "--cache-dir", elsewhere, ".")
    assert list(elsewhere.rglob("*.json")) and not (project / CACHE_DIR_NAME).exists()


@pytest.mark.parametrize("damage", [b"", b"{not json", b'{"path": 3}', b"\x00\xff" * 10, b"[]"])
def test_a_corrupt_entry_is_rebuilt_not_an_error(project, run_cli, damage):
    expected = run_cli("--isolated", ".")
    [entry] = entries(project)
    entry.write_bytes(damage)
    assert run_cli("--isolated", ".") == expected
    assert json.loads(entry.read_bytes())["path"] == "train.py"


def test_an_unwritable_cache_location_is_not_an_error(project, run_cli):
    blocker = project / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    code, out, err = run_cli("--isolated", "--cache-dir", blocker / "cache", ".")
    assert code == 1 and "GL050" in out and err == ""


def _writer(directory: str, rounds: int) -> None:
    cache = ResultCache(Path(directory))
    for i in range(rounds):
        result = FileResult("train.py", skipped=bool(i % 2))
        cache.put(cache.key("train.py", b"same content", ["GL050"]), result)
        assert cache.get(cache.key("train.py", b"same content", ["GL050"])) is not None


def test_concurrent_writers_never_leave_a_broken_entry(tmp_path):
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    workers = [context.Process(target=_writer, args=(str(tmp_path), 200)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    [entry] = list(tmp_path.rglob("*.json"))
    assert json.loads(entry.read_bytes())["path"] == "train.py"
    assert not list(tmp_path.rglob(".tmp-*"))


def test_a_fully_cached_run_imports_no_parser(project):
    """Selection, cache keys and the prefilter read the rule index, not the rule modules."""
    import subprocess
    import sys

    probe = (
        "import sys\nfrom gradlint.cli import main\n"
        "code = main(['--isolated', '.'])\nprint(code, 'libcst' in sys.modules)\n"
    )
    first = subprocess.run([sys.executable, "-c", probe], cwd=project, capture_output=True, text=True)
    assert first.stdout.splitlines()[-1] == "1 True", first.stderr
    second = subprocess.run([sys.executable, "-c", probe], cwd=project, capture_output=True, text=True)
    assert second.stdout.splitlines()[-1] == "1 False", second.stderr


def test_the_rule_index_matches_the_rule_classes():
    from gradlint.registry import all_rules, index_entry, rule_index

    assert rule_index() == {rule.code: index_entry(rule) for rule in all_rules()}

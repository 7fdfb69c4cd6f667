"""The ecosystem check's keys, differences, snapshot and triage files, on small synthetic
packages (the real run over installed frameworks is `bench/ecosystem.py`, in CI)."""

import importlib.util
import io
import json
import sys
from pathlib import Path

import pytest

from gradlint.rule import Finding

ROOT = Path(__file__).resolve().parents[1]


def _load_script():
    spec = importlib.util.spec_from_file_location("gradlint_bench_ecosystem", ROOT / "bench" / "ecosystem.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


eco = _load_script()

DISTANCE = "    return torch.sqrt(torch.sum((a - b) ** 2))\n"
PACKAGE = f"import torch\n\n\ndef distance(a, b):\n{DISTANCE}"


def finding(path, line, rule="GL030", message="m"):
    return Finding(str(path), line, 1, line, 2, rule, "name", "error", message)


def entries_for(root, findings, sources):
    return eco.keyed("pkg", root, findings, lambda path: eco.split_lines(sources[path]))


# --- keys ------------------------------------------------------------------------------------


def test_key_is_relative_path_rule_stripped_text_and_occurrence(tmp_path):
    path = str(tmp_path / "sub" / "m.py")
    sources = {path: "x = 1\n  y = sqrt(d)  \nz = 2\n  y = sqrt(d)\n"}
    entries = entries_for(tmp_path, [finding(path, 4), finding(path, 2)], sources)
    assert [e.key for e in entries] == [
        eco.Key("pkg", "sub/m.py", "GL030", "y = sqrt(d)", 0),
        eco.Key("pkg", "sub/m.py", "GL030", "y = sqrt(d)", 1),
    ]
    assert [e.line for e in entries] == [2, 4]


def test_lines_are_numbered_as_the_parser_numbers_them():
    # A form feed or a vertical tab does not end a line for Python; \r and \r\n do.
    assert eco.split_lines("a\x0cb\r\nc\rd\ne") == ["a\x0cb", "c", "d", "e"]


def test_moved_code_is_no_change_and_changed_code_is(tmp_path):
    path = str(tmp_path / "m.py")
    before = entries_for(tmp_path, [finding(path, 2)], {path: "import torch\ny = sqrt(d)\n"})
    moved = entries_for(tmp_path, [finding(path, 5)], {path: "import torch\n\n\n\ny = sqrt(d)\n"})
    assert not eco.diff(before, moved)
    edited = entries_for(tmp_path, [finding(path, 2)], {path: "import torch\ny = sqrt(d + 1)\n"})
    change = eco.diff(before, edited)
    assert [e.key.text for e in change.new] == ["y = sqrt(d + 1)"]
    assert [e.key.text for e in change.vanished] == ["y = sqrt(d)"]


def test_a_second_copy_of_a_line_is_new(tmp_path):
    path = str(tmp_path / "m.py")
    one = entries_for(tmp_path, [finding(path, 1)], {path: "y = sqrt(d)\n"})
    two = entries_for(tmp_path, [finding(path, 1), finding(path, 2)], {path: "y = sqrt(d)\ny = sqrt(d)\n"})
    change = eco.diff(one, two)
    assert [(e.key.occurrence, e.line) for e in change.new] == [(1, 2)] and change.vanished == []


# --- the snapshot and triage files -------------------------------------------------------------


def part(name="pkg", version="1.0", entries=(), files=1, lines=10):
    return eco.PackagePart(name, name, version, files, lines, list(entries))


def entry(text="y = sqrt(d)", rule="GL030", occurrence=0, package="pkg", line=3):
    return eco.Entry(eco.Key(package, "m.py", rule, text, occurrence), line, "message")


def test_snapshot_round_trip(tmp_path):
    parts = {"pkg": part(entries=[entry(), entry(occurrence=1, line=9), entry("é = norm(x)", rule="GL040")])}
    path = tmp_path / "snapshot.json"
    path.write_text(eco.dump_snapshot(parts), encoding="utf-8")
    loaded = eco.load_snapshot(path)
    assert loaded["pkg"].entries == sorted(parts["pkg"].entries, key=lambda e: e.line)
    assert (loaded["pkg"].version, loaded["pkg"].files, loaded["pkg"].lines) == ("1.0", 1, 10)
    assert eco.dump_snapshot(loaded) == path.read_text(encoding="utf-8")  # stable: no churn on rewrite


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON"),
        ('{"format": 99, "packages": {}}', "expected format 1"),
        ('{"format": 1, "packages": {"pkg": {"version": "1"}}}', "is not valid: KeyError"),
        ("[]", "is not valid"),
    ],
)
def test_a_bad_snapshot_is_a_clear_input_error(tmp_path, content, message):
    path = tmp_path / "snapshot.json"
    path.write_text(content)
    with pytest.raises(eco.InputError, match=message):
        eco.load_snapshot(path)


TRIAGE = """
[[false_positive]]
package = "pkg"
path = "m.py"
rule = "GL030"
text = "y = sqrt(d)"
occurrence = 0
reason = "d is a sum of squares plus one: never 0"

[[real]]
package = "pkg"
path = "m.py"
rule = "GL030"
text = "y = sqrt(d)"
occurrence = 1
reason = "d is 0 for equal inputs"
"""


def test_triage_file_maps_keys_to_verdicts(tmp_path):
    path = tmp_path / "triage.toml"
    path.write_text(TRIAGE)
    verdicts = eco.load_triage(path).verdicts
    assert verdicts[entry().key][0] == "false_positive"
    assert verdicts[entry(occurrence=1).key] == ("real", "d is 0 for equal inputs")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[[maybe]]\nreason = 'x'\n", "unknown table"),
        (TRIAGE.replace('reason = "d is 0 for equal inputs"', 'reason = " "'), "`reason` is empty"),
        (TRIAGE.replace("occurrence = 1", "occurrence = 0"), "repeats pkg: m.py: GL030"),
        (TRIAGE.replace("occurrence = 1", 'occurrence = "1"'), "`occurrence` must be a int"),
        (TRIAGE + "line = 3\n", "unknown field"),
        ("false_positive = 3\n", "must be an array of tables"),
        ("[[real]\n", "is not TOML"),
    ],
)
def test_a_bad_triage_file_is_a_clear_input_error(tmp_path, content, message):
    path = tmp_path / "triage.toml"
    path.write_text(content)
    with pytest.raises(eco.InputError, match=message):
        eco.load_triage(path)


# --- comparison and report ----------------------------------------------------------------------


def test_version_mismatch_is_reported_and_not_counted(tmp_path):
    snapshot = {"pkg": part(version="1.0", entries=[entry()])}
    comparison = eco.Comparison(["pkg"], {"pkg": part(version="2.0")}, snapshot, eco.Triage({}))
    assert comparison.version_mismatch("pkg") and comparison.differs() == []
    out = io.StringIO()
    eco.report(comparison, ["GL030"], out)
    assert "version 2.0 installed, snapshot from 1.0" in out.getvalue()
    assert "another version (not counted)" in out.getvalue()
    same = eco.Comparison(["pkg"], {"pkg": part(version="1.0")}, snapshot, eco.Triage({}))
    assert same.differs() == ["pkg"]


def test_a_package_missing_from_the_snapshot_differs():
    comparison = eco.Comparison(["pkg"], {"pkg": part()}, {}, eco.Triage({}))
    assert comparison.differs() == ["pkg"]


def test_report_counts_per_rule_findings_false_positives_real_and_untriaged():
    found = [entry(), entry(occurrence=1), entry("z = norm(x)"), entry("w = where(c)", rule="GL040")]
    triage = eco.Triage({found[0].key: ("false_positive", "r"), found[1].key: ("real", "r")})
    stale_key = eco.Key("pkg", "gone.py", "GL030", "old", 0)
    triage.verdicts[stale_key] = ("real", "r")
    comparison = eco.Comparison(["pkg"], {"pkg": part(entries=found, lines=20_000)}, {"pkg": part(entries=found[:3])}, triage)
    out = io.StringIO()
    eco.report(comparison, ["GL030", "GL040"], out)
    text = out.getvalue()
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.startswith(("GL030 ", "GL040 "))}
    # findings, per 10k lines, known FP, real, untriaged, new, gone
    assert rows["GL030"] == ["3", "1.500", "1", "1", "1", "0", "0"]
    assert rows["GL040"] == ["1", "0.500", "0", "0", "1", "1", "0"]
    assert "UNTRIAGED (2)" in text and 'text = "w = where(c)"' in text
    assert comparison.stale_triage() == [stale_key] and "stale triage entries (1)" in text
    assert "+ pkg/m.py:3: message [untriaged]" in text


# --- the script end to end, over a synthetic package --------------------------------------------


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A package `pkg` installed at tmp_path/pkg, version 1.0; `pkg_missing` not installed."""
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "mod.py").write_text(PACKAGE)
    versions = {"pkg": "1.0"}
    monkeypatch.setattr(eco, "package_dir", lambda name: root if name == "pkg" else None)
    monkeypatch.setattr(eco, "distribution_of", lambda name: (name, versions[name]))

    def run(*args):
        argv = ["--snapshot", str(tmp_path / "snapshot.json"), "--triage", str(tmp_path / "triage.toml"), *args]
        return eco.main(argv)

    run.root, run.versions, run.snapshot = root, versions, tmp_path / "snapshot.json"
    return run


def test_update_then_check(installed, capsys):
    assert installed("pkg", "--check") == 1  # no snapshot yet
    assert "pkg: not in the snapshot" in capsys.readouterr().out
    assert installed("pkg", "--update") == 0
    recorded = json.loads(installed.snapshot.read_text())["packages"]["pkg"]
    assert recorded["version"] == "1.0" and recorded["files"] == 1
    assert [(f["path"], f["rule"], f["text"], f["line"]) for f in recorded["findings"]] == [
        ("mod.py", "GL030", DISTANCE.strip(), 5)
    ]
    capsys.readouterr()
    assert installed("pkg", "--check") == 0
    assert "no difference against the snapshot" in capsys.readouterr().out

    (installed.root / "mod.py").write_text("# moved down\n\n" + PACKAGE)
    assert installed("pkg", "--check") == 0

    (installed.root / "mod.py").write_text(PACKAGE + "\n\ndef again(a, b):\n" + DISTANCE)
    assert installed("pkg") == 0  # without --check a difference is reported, not failed
    assert installed("pkg", "--check") == 1
    out = capsys.readouterr().out
    assert "new: 1 (GL030 1; pkg 1)" in out and "+ pkg/mod.py:9:" in out


def test_version_mismatch_does_not_fail_check(installed, capsys):
    assert installed("pkg", "--update") == 0
    (installed.root / "mod.py").write_text("import torch\n")
    installed.versions["pkg"] = "2.0"
    assert installed("pkg", "--check") == 0
    out = capsys.readouterr().out
    assert "version 2.0 installed, snapshot from 1.0" in out and "- pkg/mod.py:5:" in out


def test_a_package_not_installed_is_skipped_and_its_snapshot_part_kept(installed, capsys):
    snapshot = {"pkg_missing": part("pkg_missing", entries=[entry(package="pkg_missing")])}
    installed.snapshot.write_text(eco.dump_snapshot(snapshot))
    assert installed("pkg", "pkg_missing", "--update") == 0
    assert "pkg_missing: not installed, skipped (its snapshot part is kept)" in capsys.readouterr().out
    assert set(json.loads(installed.snapshot.read_text())["packages"]) == {"pkg", "pkg_missing"}
    assert installed("pkg", "pkg_missing", "--check") == 0


def test_internal_error_exits_1_and_does_not_update(installed, capsys, monkeypatch):
    from gradlint.rules.gl030_unsafe_sqrt_or_norm import UnsafeSqrtOrNorm

    def explode(self, node):
        raise ValueError("boom")

    monkeypatch.setattr(UnsafeSqrtOrNorm, "visit_Call", explode)
    assert installed("pkg", "--update") == 1
    assert "INTERNAL ERROR: internal error in GL030" in capsys.readouterr().out
    assert not installed.snapshot.exists()


def test_bad_triage_file_exits_2_with_a_message(installed, capsys, tmp_path):
    (tmp_path / "triage.toml").write_text("[[real]]\npackage = 1\n")
    assert installed("pkg") == 2
    assert "error: triage file" in capsys.readouterr().err


def test_the_repository_triage_covers_the_snapshot():
    """Every finding recorded in the repository's snapshot is triaged, and no triage entry is stale."""
    snapshot = eco.load_snapshot(eco.ECOSYSTEM / "snapshot.json")
    triage = eco.load_triage(eco.ECOSYSTEM / "known_false_positives.toml")
    keys = {e.key for p in snapshot.values() for e in p.entries}
    assert snapshot, "ecosystem/snapshot.json is missing or empty"
    assert sorted(k.describe() for k in keys - set(triage.verdicts)) == []
    assert sorted(k.describe() for k in set(triage.verdicts) - keys) == []

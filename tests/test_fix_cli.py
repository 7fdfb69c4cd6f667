"""`--fix`, `--diff` and `--unsafe-fixes` as users run them, and the fix loop's guarantees."""

from gradlint.engine.fixes import apply_edit, fix_text
from gradlint.rule import Finding

BAD = b'''import scipy.optimize

theta = [0.0]
J = lambda x: sum(theta)  # keep me
scipy.optimize.minimize(J, theta)
'''
FIXED = BAD.replace(b"sum(theta)", b"sum(x)")


def test_fix_writes_the_file_and_reports_what_remains(tmp_path, run_cli):
    target = tmp_path / "train.py"
    target.write_bytes(BAD)
    code, out, err = run_cli("--isolated", "--fix", target)
    assert target.read_bytes() == FIXED
    assert code == 0 and err == ""
    assert out.strip() == "No findings in 1 file checked; 1 fixed in 1 file."
    code, out, _ = run_cli("--isolated", "--fix", target)
    assert target.read_bytes() == FIXED and out.strip() == "No findings in 1 file checked."


def test_diff_prints_and_writes_nothing(tmp_path, run_cli):
    (tmp_path / "train.py").write_bytes(BAD)
    code, out, err = run_cli("--isolated", "--diff", "train.py", cwd=tmp_path)
    assert code == 1
    assert (tmp_path / "train.py").read_bytes() == BAD
    assert out.splitlines()[:2] == ["--- a/train.py", "+++ b/train.py"]
    assert "-J = lambda x: sum(theta)  # keep me" in out and "+J = lambda x: sum(x)  # keep me" in out
    assert err.strip() == "Would fix 1 finding."
    (tmp_path / "train.py").write_bytes(FIXED)
    code, out, err = run_cli("--isolated", "--diff", "train.py", cwd=tmp_path)
    assert (code, out, err.strip()) == (0, "", "No fixes available.")


def test_fix_on_stdin_prints_the_code_and_reports_on_stderr(run_cli):
    code, out, err = run_cli("--isolated", "--fix", "-", stdin=BAD)
    assert out.encode() == FIXED
    assert code == 0 and "1 fixed in 1 file" in err


def test_fix_keeps_encoding_bom_and_line_endings(tmp_path, run_cli):
    crlf = b"\xef\xbb\xbf" + BAD.replace(b"\n", b"\r\n")
    latin = b"# -*- coding: latin-1 -*-\n# caf\xe9\n" + BAD
    (tmp_path / "crlf.py").write_bytes(crlf)
    (tmp_path / "latin.py").write_bytes(latin)
    code, _, _ = run_cli("--isolated", "--fix", tmp_path)
    assert code == 0
    assert (tmp_path / "crlf.py").read_bytes() == b"\xef\xbb\xbf" + FIXED.replace(b"\n", b"\r\n")
    assert (tmp_path / "latin.py").read_bytes() == b"# -*- coding: latin-1 -*-\n# caf\xe9\n" + FIXED


def test_unparsable_files_are_left_alone(tmp_path, run_cli):
    broken = BAD + b"def (:\n"
    (tmp_path / "broken.py").write_bytes(broken)
    code, out, _ = run_cli("--isolated", "--fix", tmp_path)
    assert code == 1 and "GL000" in out
    assert (tmp_path / "broken.py").read_bytes() == broken


def _finding(replacement: str, safe: bool = True) -> Finding:
    fix = {"title": "t", "safe": safe, "range": {"line": 1, "column": 1, "end_line": 1, "end_column": 2},
           "replacement": replacement}
    return Finding("f.py", 1, 1, 1, 2, "GL999", "test", "warning", "m", fix)


def test_a_fix_that_does_not_parse_or_does_not_help_is_skipped():
    def lint(text):  # one finding while the text starts with "a"; fixes offered: invalid, then useless, then good
        if not text.startswith("a"):
            return []
        return [_finding("("), _finding("a"), _finding("b")]

    outcome = fix_text("a = 1\n", lint)
    assert (outcome.text, outcome.applied, outcome.findings) == ("b = 1\n", 1, [])


def test_unsafe_fixes_need_the_flag():
    def lint(text):
        return [_finding("b", safe=False)] if text.startswith("a") else []

    assert fix_text("a = 1\n", lint).applied == 0
    assert fix_text("a = 1\n", lint, unsafe=True).text == "b = 1\n"


def test_apply_edit_spans_lines():
    fix = {"range": {"line": 1, "column": 3, "end_line": 2, "end_column": 2}, "replacement": "X"}
    assert apply_edit("ab\ncd\n", fix) == "abXd\n"


def test_fix_on_the_demo_folder(tmp_path, run_cli):
    import shutil
    from pathlib import Path

    demo = tmp_path / "demo"
    shutil.copytree(Path(__file__).resolve().parents[1] / "demo", demo)
    code, diff, _ = run_cli("--isolated", "--diff", "--unsafe-fixes", demo)
    assert code == 1 and diff.count("\n+++ ") + diff.startswith("+++ ") >= 1
    code, out, _ = run_cli("--isolated", "--fix", "--unsafe-fixes", demo)
    assert " fixed in " in out
    code, diff, err = run_cli("--isolated", "--diff", "--unsafe-fixes", demo)
    assert (code, diff, err.strip()) == (0, "", "No fixes available.")


def test_fixes_are_written_whole_or_not_at_all(tmp_path, run_cli, monkeypatch):
    import os

    target = tmp_path / "train.py"
    target.write_bytes(BAD)
    target.chmod(0o640)

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    code, _, err = run_cli("--isolated", "--fix", target)
    assert code == 130 and "interrupted" in err
    assert target.read_bytes() == BAD
    assert [p.name for p in tmp_path.iterdir()] == ["train.py"]  # no temporary file left behind
    monkeypatch.undo()
    run_cli("--isolated", "--fix", target)
    assert target.read_bytes() == FIXED and (target.stat().st_mode & 0o777) == 0o640


def test_a_read_only_file_is_not_fixed_and_the_run_says_so(tmp_path, run_cli, monkeypatch):
    import os

    locked, other = tmp_path / "locked.py", tmp_path / "other.py"
    locked.write_bytes(BAD)
    other.write_bytes(BAD)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if str(path) == str(locked) else real_access(path, mode))
    code, out, _ = run_cli("--isolated", "--fix", tmp_path)
    assert code == 2 and "fixes not written" in out and "locked.py" in out
    assert locked.read_bytes() == BAD and other.read_bytes() == FIXED

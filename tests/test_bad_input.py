"""Bad input through the command line: each case ends with a GL000 finding or an error line
naming the file, an exit status of 0, 1 or 2, no traceback, and no file changed without `--fix`.

Covered elsewhere and not repeated here: a file CPython cannot decode without a cookie
(test_cli.test_undecodable_file), deep nesting (test_cli.test_deeply_nested_input_gives_no_traceback,
here only under `--fix`), a symlink loop (test_discovery.test_symlink_loop_terminates), a
read-only file under `--fix` (test_fix_cli.test_a_read_only_file_is_not_fixed_and_the_run_says_so).
Tests run as root, where `chmod 000` does not stop a read: an unreadable file is simulated by
`/proc/self/mem` (its first page is unmapped: reading it fails with EIO) or by a read that raises.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

BAD = b"""import scipy.optimize

theta = [0.0]
J = lambda x: sum(theta)  # keep me
scipy.optimize.minimize(J, theta)
"""


def fixed(data: bytes) -> bytes:
    """What `--fix` must make of a file built from BAD: the one expression, nothing else."""
    assert data.count(b"sum(theta)") == 1
    return data.replace(b"sum(theta)", b"sum(x)")


def snapshot(directory: Path) -> dict[str, bytes]:
    """The user's files (the result cache is gradlint's own)."""
    def read(path: Path) -> bytes:  # not Path.read_bytes, which some tests make fail
        with open(path, "rb") as handle:
            return handle.read()

    return {
        str(p.relative_to(directory)): read(p) for p in sorted(directory.rglob("*"))
        if p.is_file() and ".gradlint_cache" not in p.parts
    }


@pytest.fixture
def lint(run_cli, tmp_path):
    """Run the CLI in tmp_path; check the exit status, that no traceback is printed, and that
    no file changes unless the run fixes."""

    def run(*args, stdin=None, changes_files=False):
        before = snapshot(tmp_path)
        code, out, err = run_cli("--isolated", *args, cwd=tmp_path, stdin=stdin)
        assert code in (0, 1, 2), (code, out, err)
        assert "Traceback" not in out + err
        if "--fix" not in args and not changes_files:
            assert snapshot(tmp_path) == before
        return code, out, err

    return run


# --- encodings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"# -*- coding: utf-8 -*-\nimport torch\nname = 'caf\xe9'\n", "not valid text in its encoding (invalid continuation byte)"),
        (b"# coding: klingon\nimport torch\n", "not valid text in its encoding (unknown encoding: klingon)"),
        (b"\xef\xbb\xbf# coding: latin-1\nimport torch\n", "not valid text in its encoding (encoding problem: utf-8)"),
        (b"\xef\xbb\xbfimport torch\nname = 'caf\xe9'\n", "not valid text in its encoding (invalid continuation byte)"),
        (b"\xff\xfei\x00m\x00p\x00o\x00r\x00t\x00 \x00t\x00o\x00r\x00c\x00h\x00\n\x00", "not valid text in its encoding"),
    ],
    ids=["utf8-cookie-latin1-bytes", "unknown-cookie", "bom-and-latin1-cookie", "bom-and-latin1-bytes", "utf16"],
)
def test_text_that_does_not_decode_is_a_gl000_finding(lint, tmp_path, content, reason):
    (tmp_path / "model.py").write_bytes(content)
    code, out, err = lint("--format", "json", "--select", "GL000", "model.py")
    findings = json.loads(out)["findings"]
    assert code == 1 and err == ""
    assert [(f["path"], f["rule"], f["line"]) for f in findings] == [("model.py", "GL000", 1)]
    assert findings[0]["message"].startswith(f"file could not be checked: {reason}")
    code, out, _ = lint("--fix", "model.py")  # nothing to fix in a file that cannot be read as text
    assert code == 1 and (tmp_path / "model.py").read_bytes() == content


def test_a_cookie_naming_the_right_encoding_is_linted_and_fixed_in_it(lint, tmp_path):
    content = b"# -*- coding: latin-1 -*-\n# caf\xe9\n" + BAD
    (tmp_path / "model.py").write_bytes(content)
    code, out, _ = lint("model.py")
    assert code == 1 and "model.py:6:5: GL050" in out
    lint("--fix", "model.py")
    assert (tmp_path / "model.py").read_bytes() == fixed(content)


def test_standard_input_that_does_not_decode(lint):
    content = b"import torch\nname = 'caf\xe9'\n"
    code, out, _ = lint("--stdin-filename", "model.py", "-", stdin=content)
    assert code == 1 and out.startswith("model.py:1:1: GL000 [error] file could not be checked: not valid text")
    # The bytes echoed by `--fix -` are not UTF-8, which capsys cannot take: a real process.
    done = subprocess.run(
        [sys.executable, "-m", "gradlint", "--isolated", "--fix", "--stdin-filename", "model.py", "-"],
        input=content, check=False, capture_output=True, timeout=60,
    )
    assert done.returncode == 1 and done.stdout == content  # echoed unchanged
    assert done.stderr.decode().startswith("model.py:1:1: GL000 [error] file could not be checked: not valid text")


# --- line endings, tabs, form feeds ----------------------------------------------------------

MIXED = [
    ("crlf", BAD.replace(b"\n", b"\r\n"), 4),
    ("cr", BAD.replace(b"\n", b"\r"), 4),
    ("mixed", b"import scipy.optimize\r\n\ntheta = [0.0]\r\f\nJ = lambda x: sum(theta)  # keep me\rscipy.optimize.minimize(J, theta)\n", 5),
    ("tabs", BAD.replace(b"  # keep", b"\t# keep").replace(b"theta = [0.0]", b"if True:\n\ttheta = [0.0]"), 5),
    ("form-feeds", BAD.replace(b"\ntheta", b"\n\f\ntheta").replace(b"\nscipy.optimize.min", b"\n\f\nscipy.optimize.min"), 5),
]


@pytest.mark.parametrize("content, line", [(c, n) for _, c, n in MIXED], ids=[name for name, _, _ in MIXED])
def test_line_endings_tabs_and_form_feeds_are_kept_byte_for_byte_by_fix(lint, tmp_path, content, line):
    (tmp_path / "model.py").write_bytes(content)
    code, out, _ = lint("--format", "json", "model.py")
    [finding] = json.loads(out)["findings"]
    # The finding and its fix count lines as Python does: "\r\n", "\r" and "\n" each end one.
    assert (finding["rule"], finding["line"], finding["fix"]["range"]["line"]) == ("GL050", line, line)
    code, out, _ = lint("--fix", "model.py")
    assert code == 0 and "1 fixed" in out
    assert (tmp_path / "model.py").read_bytes() == fixed(content)
    lint("--fix", "model.py")
    assert (tmp_path / "model.py").read_bytes() == fixed(content)


def test_a_form_feed_before_a_statement_is_linted_but_not_fixed(lint, tmp_path):
    """libcst drops a form feed that starts a statement's line, so positions in the code it
    regenerates are not positions in the file: the fix is withheld rather than misplaced."""
    content = b"\f" + BAD.replace(b"\nJ", b"\n\fJ")
    (tmp_path / "model.py").write_bytes(content)
    code, out, _ = lint("--format", "json", "model.py")
    [finding] = json.loads(out)["findings"]  # still found: the prefilter sees the import after "\f"
    assert (finding["rule"], finding["line"], finding["fix"]) == ("GL050", 4, None)
    code, out, _ = lint("--fix", "--unsafe-fixes", "model.py")
    assert code == 1 and (tmp_path / "model.py").read_bytes() == content


def test_a_framework_import_after_a_lone_carriage_return_is_seen(lint, tmp_path):
    content = b'"""A model."""\r' + BAD.replace(b"\n", b"\r")
    (tmp_path / "model.py").write_bytes(content)
    code, out, _ = lint("model.py")
    assert code == 1 and "model.py:5:5: GL050" in out


# --- empty, huge, deep ---------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n", b"import torch"], ids=["empty", "bom-only", "blank-lines", "no-newline"])
def test_empty_and_tiny_files(lint, tmp_path, content):
    (tmp_path / "model.py").write_bytes(content)
    code, out, err = lint("--fix", "model.py")
    assert code == 0 and err == "" and out.startswith("No findings in ")
    assert (tmp_path / "model.py").read_bytes() == content


def test_a_ten_megabyte_file_finishes(lint, tmp_path):
    """10 MB, a finding at each end; the bulk is one string literal, as 10 MB of dense code
    takes minutes and gigabytes to parse (libcst), too long for the suite."""
    tail = BAD.split(b"\n", 1)[1].replace(b"sum(theta)", b"sum(theta * 2)")
    filler = b'DATA = """\n' + b"".join(b"%08d %s\n" % (i, b"x" * 60) for i in range(145_000)) + b'"""\n'
    (tmp_path / "huge.py").write_bytes(BAD + filler + tail)
    assert (tmp_path / "huge.py").stat().st_size > 10_000_000
    started = time.perf_counter()
    code, out, _ = lint("--no-cache", "huge.py")
    elapsed = time.perf_counter() - started
    assert code == 1 and "huge.py:4:5: GL050" in out and f"huge.py:{5 + 145_002 + 3}:5: GL050" in out
    assert elapsed < 120, f"took {elapsed:.0f} s"


def test_deep_nesting_under_fix_leaves_the_file_alone(lint, tmp_path):
    deep = b"import scipy\nx = " + b"(" * 5000 + b"1" + b")" * 5000 + b"\n" + BAD
    (tmp_path / "deep.py").write_bytes(deep)
    code, out, _ = lint("--fix", "deep.py")
    assert code == 1 and "deep.py:2:" in out and "GL000" in out
    assert (tmp_path / "deep.py").read_bytes() == deep


# --- files that cannot be read, or go away ----------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux /proc")
def test_a_file_whose_read_fails_in_a_real_process():
    done = subprocess.run(
        [sys.executable, "-m", "gradlint", "--isolated", "--no-cache", "/proc/self/mem"],
        check=False, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1 and done.stderr == ""
    assert done.stdout.startswith("/proc/self/mem:1:1: GL000 [error] file could not be checked: cannot read it (Input/output error)")


def test_a_file_whose_read_fails_is_reported_and_the_others_are_linted(lint, tmp_path, monkeypatch):
    (tmp_path / "broken.py").write_bytes(BAD)
    (tmp_path / "train.py").write_bytes(BAD)
    real_read = Path.read_bytes

    def failing_read(self):
        if self.name == "broken.py":
            raise OSError(errno.EIO, "Input/output error")
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", failing_read)
    for flags in ([], ["--no-cache"], ["--fix"], ["--diff"]):
        code, out, err = lint(*flags, ".")
        assert code == (2 if flags == ["--diff"] else 1), flags  # --diff cannot show the whole change
        report = err if flags == ["--diff"] else out
        assert "broken.py:1:1: GL000 [error] file could not be checked: cannot read it (Input/output error)" in report
        if not flags or flags == ["--no-cache"]:
            assert "train.py:4:5: GL050" in out
        elif flags == ["--fix"]:
            assert "1 fixed in 1 file" in out
    monkeypatch.undo()
    assert (tmp_path / "broken.py").read_bytes() == BAD and (tmp_path / "train.py").read_bytes() == fixed(BAD)


@pytest.mark.parametrize("replacement", ["nothing", "directory"])
@pytest.mark.parametrize("flags", [[], ["--no-cache"], ["--fix"]], ids=["cached", "no-cache", "fix"])
def test_a_file_that_vanishes_between_discovery_and_reading(lint, tmp_path, monkeypatch, replacement, flags):
    import gradlint.api

    (tmp_path / "gone.py").write_bytes(BAD)
    (tmp_path / "kept.py").write_bytes(BAD)
    real_discover = gradlint.api.discover

    def discover_then_delete(*args, **kwargs):
        found = real_discover(*args, **kwargs)
        (tmp_path / "gone.py").unlink()
        if replacement == "directory":
            (tmp_path / "gone.py").mkdir()
        return found

    monkeypatch.setattr(gradlint.api, "discover", discover_then_delete)
    code, out, _ = lint(*flags, ".", changes_files=True)  # the test itself deletes gone.py
    reason = "No such file or directory" if replacement == "nothing" else "Is a directory"
    assert code == 1 and f"gone.py:1:1: GL000 [error] file could not be checked: cannot read it ({reason})" in out
    assert (tmp_path / "kept.py").read_bytes() == (fixed(BAD) if flags == ["--fix"] else BAD)
    assert (tmp_path / "gone.py").exists() is (replacement == "directory")


@pytest.mark.parametrize("flags", [["--fix"], ["--diff"]])
def test_a_file_that_vanishes_after_linting_before_its_fix_is_written(lint, tmp_path, monkeypatch, flags):
    import gradlint.api

    (tmp_path / "gone.py").write_bytes(BAD)
    (tmp_path / "kept.py").write_bytes(BAD)
    real_lint_paths = gradlint.api.lint_paths

    def lint_then_delete(*args, **kwargs):
        result = real_lint_paths(*args, **kwargs)
        (tmp_path / "gone.py").unlink()
        return result

    monkeypatch.setattr(gradlint.api, "lint_paths", lint_then_delete)
    code, out, err = lint(*flags, ".", changes_files=True)  # the test itself deletes gone.py
    assert code == 2
    assert "gone.py" in out + err and "No such file or directory" in out + err
    assert not (tmp_path / "gone.py").exists()  # not recreated from the fixed content
    assert (tmp_path / "kept.py").read_bytes() == (fixed(BAD) if flags == ["--fix"] else BAD)
    if flags == ["--diff"]:
        assert "+++ b/kept.py" in out


def test_a_directory_named_like_a_python_file_is_searched_not_read(lint, tmp_path):
    (tmp_path / "model.py").mkdir()
    code, out, err = lint("model.py")
    assert (code, out.strip()) == (0, "No findings in 0 files checked.")
    assert err == "gradlint: warning: no Python files found under model.py\n"
    (tmp_path / "model.py" / "layer.py").write_bytes(BAD)
    code, out, err = lint("--fix", ".")
    assert code == 0 and err == "" and "1 fixed in 1 file" in out
    assert (tmp_path / "model.py" / "layer.py").read_bytes() == fixed(BAD)


# --- interrupted or failing writes under --fix ----------------------------------------------


class _FailingStream:
    """A file object that writes half of what it is given, then raises."""

    def __init__(self, stream, error: BaseException) -> None:
        self.stream, self.error = stream, error

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.stream.__exit__(*exc)

    def write(self, data):
        self.stream.write(data[: len(data) // 2])
        self.stream.flush()
        raise self.error

    def __getattr__(self, name):
        return getattr(self.stream, name)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), OSError(errno.ENOSPC, "No space left on device")],
                         ids=["interrupt", "disk-full"])
def test_a_fix_interrupted_while_writing_leaves_each_file_old_or_fixed(run_cli, tmp_path, monkeypatch, error):
    for name in ("a.py", "b.py", "c.py"):
        (tmp_path / name).write_bytes(BAD)
    real_fdopen = os.fdopen
    opened = []

    def fdopen(fd, *args, **kwargs):
        stream = real_fdopen(fd, *args, **kwargs)
        opened.append(fd)
        return _FailingStream(stream, error) if len(opened) == 2 else stream  # the second file written

    monkeypatch.setattr(os, "fdopen", fdopen)
    code, out, err = run_cli("--isolated", "--fix", tmp_path)
    monkeypatch.undo()
    assert "Traceback" not in out + err
    contents = {name: (tmp_path / name).read_bytes() for name in ("a.py", "b.py", "c.py")}
    assert contents["a.py"] == fixed(BAD) and contents["b.py"] == BAD
    if isinstance(error, KeyboardInterrupt):  # the run stops: the third file is not written
        assert (code, err.strip()) == (130, "gradlint: interrupted") and contents["c.py"] == BAD
    else:  # the run goes on: the third file is written, the second is named
        assert code == 2 and contents["c.py"] == fixed(BAD)
        assert "b.py" in out and "fixes not written: No space left on device" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py", "b.py", "c.py"]  # no temporary left


def test_python_warnings_about_the_users_code_are_not_printed(lint, tmp_path):
    """Checking a syntax error re-parses with `ast`, which warns about an invalid escape
    sequence (a SyntaxWarning on stderr from Python 3.12 on): gradlint keeps it quiet."""
    import warnings

    (tmp_path / "model.py").write_bytes(b'import torch\npattern = "\\d+"\ndef broken(:\n')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = lint("model.py")
    assert code == 1 and "model.py:3:" in out and "GL000" in out and err == ""
    assert [str(w.message) for w in caught] == []

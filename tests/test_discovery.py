"""Which files a directory yields: .py only, default excludes, .gitignore rules."""

import os

import pytest

from gradlint.config import Settings
from gradlint.discovery import GitIgnore, discover


def names(tmp_path, paths=(".",), **kwargs):
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        found = discover(list(paths), Settings(root=tmp_path), **kwargs)
    finally:
        os.chdir(old)
    return sorted(p.as_posix() for p in found.files), found.missing


def touch(tmp_path, *relative):
    for name in relative:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("import torch\n")


def test_walks_python_files_and_skips_tool_folders(tmp_path):
    touch(tmp_path, "a.py", "pkg/b.py", "pkg/c.txt", ".venv/lib/d.py", "pkg/__pycache__/e.py", "node_modules/f.py")
    assert names(tmp_path) == (["a.py", "pkg/b.py"], [])


def test_missing_paths_are_returned(tmp_path):
    assert names(tmp_path, ["nope.py"]) == ([], ["nope.py"])


def test_gitignore(tmp_path):
    (tmp_path / ".git").mkdir()
    touch(tmp_path, "keep.py", "gen/out.py", "build_x.py", "sub/notes/n.py", "sub/keep2.py", "deep/a/b/skip.py", "vip.py")
    (tmp_path / ".gitignore").write_text("# comment\ngen/\nbuild_*.py\n/deep/**/skip.py\n*.py\n!keep*.py\n!vip.py\n!*/\n")
    (tmp_path / "sub").mkdir(exist_ok=True)
    (tmp_path / "sub" / ".gitignore").write_text("notes\n")
    assert names(tmp_path)[0] == ["keep.py", "sub/keep2.py", "vip.py"]
    assert names(tmp_path, respect_gitignore=False)[0] == [
        "build_x.py", "deep/a/b/skip.py", "gen/out.py", "keep.py", "sub/keep2.py", "sub/notes/n.py", "vip.py"
    ]


def test_gitignore_of_parent_directories_applies(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("generated/\n")
    touch(tmp_path, "pkg/generated/x.py", "pkg/y.py")
    found, _ = names(tmp_path / "pkg")
    assert found == ["y.py"]


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "ignored"),
    [
        ("*.py", "a/b.py", False, True),
        ("/top.py", "top.py", False, True),
        ("/top.py", "a/top.py", False, None),
        ("a/*.py", "a/b.py", False, True),
        ("a/*.py", "a/c/b.py", False, None),
        ("**/cache", "x/y/cache", True, True),
        ("logs/", "logs", False, None),
        ("logs/", "logs", True, True),
        ("a/**/z.py", "a/z.py", False, True),
        ("a/**/z.py", "a/b/c/z.py", False, True),
        ("file[0-9].py", "file7.py", False, True),
        ("file[!0-9].py", "file7.py", False, None),
        ("\\#hash.py", "#hash.py", False, True),
    ],
)
def test_gitignore_patterns(tmp_path, pattern, path, is_dir, ignored):
    assert GitIgnore(tmp_path, [pattern]).decide(tmp_path / path, is_dir) is ignored


def test_symlink_loop_terminates(tmp_path):
    touch(tmp_path, "pkg/a.py")
    os.symlink(tmp_path / "pkg", tmp_path / "pkg" / "loop")
    assert names(tmp_path)[0] == ["pkg/a.py"]

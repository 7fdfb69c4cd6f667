"""Paths on the command line -> the Python files to lint.

Directories are walked for `*.py` and `*.ipynb`, skipping the usual tool and environment folders, the
configured `exclude` globs and whatever `.gitignore` files (from the repository root down)
ignore. A file named on the command line is always linted unless `force_exclude` is set,
as pre-commit needs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gradlint.config import Settings

DEFAULT_EXCLUDES = frozenset(
    {
        ".bzr", ".direnv", ".eggs", ".git", ".hg", ".mypy_cache", ".nox", ".pytest_cache",
        ".ruff_cache", ".gradlint_cache", ".svn", ".tox", ".venv", "__pycache__", "__pypackages__",
        "_build", "buck-out", "node_modules", "venv", ".ipynb_checkpoints",
    }
)


@dataclass
class Discovered:
    files: list[Path]
    missing: list[str]


class GitIgnore:
    """The patterns of one .gitignore file, matched against paths relative to its folder."""

    def __init__(self, base: Path, lines: list[str]) -> None:
        self.base = base
        self.patterns: list[tuple[re.Pattern[str], bool, bool]] = []  # (regex, negated, dir only)
        for raw in lines:
            line = raw.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            if not line.endswith("\\ "):
                line = line.rstrip(" ")
            negated = line.startswith("!")
            if negated:
                line = line[1:]
            elif line.startswith("\\"):
                line = line[1:]
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            if not line:
                continue
            anchored = "/" in line
            self.patterns.append((re.compile(_glob_to_regex(line.lstrip("/"), anchored)), negated, dir_only))

    @classmethod
    def read(cls, directory: Path) -> GitIgnore | None:
        path = directory / ".gitignore"
        try:
            return cls(directory, path.read_text(encoding="utf-8", errors="replace").splitlines())
        except OSError:
            return None

    def decide(self, path: Path, is_dir: bool) -> bool | None:
        """True ignored, False re-included by `!`, None when no pattern speaks of it."""
        try:
            relative = path.relative_to(self.base).as_posix()
        except ValueError:
            return None
        verdict = None
        for regex, negated, dir_only in self.patterns:
            if dir_only and not is_dir:
                continue
            if regex.fullmatch(relative):
                verdict = not negated
        return verdict


def _glob_to_regex(pattern: str, anchored: bool) -> str:
    out = [] if anchored else ["(?:.*/)?"]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                out.append(re.escape(char))
                i += 1
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
                i = end + 1
        elif char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


def _git_root(start: Path) -> Path | None:
    for directory in [start, *start.parents]:
        if (directory / ".git").exists():
            return directory
    return None


def _inherited_ignores(directory: Path) -> list[GitIgnore]:
    """The .gitignore files of the directories above `directory`, up to the repository root."""
    root = _git_root(directory)
    if root is None:
        return []
    chain = [d for d in [directory, *directory.parents] if d == root or root in d.parents]
    ignores = [GitIgnore.read(d) for d in reversed(chain[1:])]
    return [g for g in ignores if g is not None]


def _ignored(path: Path, is_dir: bool, ignores: list[GitIgnore]) -> bool:
    verdict = False
    for gitignore in ignores:
        decided = gitignore.decide(path, is_dir)
        if decided is not None:
            verdict = decided
    return verdict


def discover(
    paths: list[str],
    settings: Settings,
    respect_gitignore: bool = True,
    force_exclude: bool = False,
) -> Discovered:
    files: list[Path] = []
    missing: list[str] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append(path)

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for found in _walk(path, settings, respect_gitignore):
                add(found)
        elif path.is_file():
            if force_exclude and force_excluded(raw, settings, respect_gitignore):
                continue
            add(path)
        else:
            missing.append(raw)
    return Discovered(files, missing)


def force_excluded(name: str, settings: Settings, respect_gitignore: bool) -> bool:
    """Whether `--force-exclude` drops a file named on the command line (or the name given to
    standard input): an exclude pattern or a .gitignore matches it."""
    path = Path(name)
    if settings.is_excluded(path):
        return True
    if not respect_gitignore:
        return False
    absolute = path.resolve()
    ignores = _inherited_ignores(absolute.parent)
    own = GitIgnore.read(absolute.parent)
    return _ignored(absolute, False, ignores + ([own] if own else []))


def _walk(root: Path, settings: Settings, respect_gitignore: bool) -> Iterator[Path]:
    absolute_root = root.resolve()
    # A directory named on the command line is linted even if an exclude pattern matches it;
    # the patterns still apply to what lies below it.
    named = set(settings.matching_excludes(root))
    excludes = [pattern for pattern in settings.exclude if pattern not in named]
    inherited = _inherited_ignores(absolute_root) if respect_gitignore else []
    stack: list[tuple[Path, Path, list[GitIgnore]]] = [(root, absolute_root, inherited)]
    visited: set[tuple[int, int]] = set()
    while stack:
        directory, absolute, ignores = stack.pop()
        try:
            stat = directory.stat()
            if (stat.st_dev, stat.st_ino) in visited:  # a symlink loop
                continue
            visited.add((stat.st_dev, stat.st_ino))
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError:
            continue
        if respect_gitignore:
            own = GitIgnore.read(absolute)
            if own is not None:
                ignores = ignores + [own]
        subdirectories = []
        for entry in entries:
            path = Path(directory, entry.name)
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if is_dir:
                if entry.name in DEFAULT_EXCLUDES:
                    continue
            elif not entry.name.endswith((".py", ".ipynb")):
                continue
            if excludes and settings.is_excluded(path, excludes):
                continue
            if ignores and _ignored(absolute / entry.name, is_dir, ignores):
                continue
            if is_dir:
                subdirectories.append((path, absolute / entry.name, ignores))
            else:
                yield path
        stack.extend(reversed(subdirectories))

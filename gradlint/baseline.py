"""Baselines: adopt gradlint on a large codebase by recording today's findings and reporting
only new ones afterwards.

A finding is recorded by rule, path (relative to the baseline file) and a fingerprint of the
code it points at, not by line number: edits elsewhere in the file do not bring it back, and
changing the offending code itself does. Identical fingerprints are counted, so a second copy
of a recorded bug in the same file is new.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from gradlint.rule import Finding

FORMAT_VERSION = 1


class BaselineError(Exception):
    pass


@dataclass
class Filtered:
    new: list[Finding]
    known: int  # findings the baseline hid
    stale: int  # baseline entries that no longer occur


def fingerprint(finding: Finding, lines: list[str] | dict[int, list[str]]) -> str:
    """A hash of the rule and the offending lines with whitespace collapsed (for a notebook,
    `lines` holds each cell's lines and the finding's cell is used)."""
    if isinstance(lines, dict):
        lines = lines.get(finding.cell, [])
    code = " ".join(" ".join(lines[finding.line - 1 : finding.end_line]).split()) if lines else finding.message
    return hashlib.sha256(f"{finding.rule}\0{code}".encode()).hexdigest()[:20]


def read_source_lines(path: str, stdin: bytes | None = None, stdin_name: str = "-") -> list[str] | dict[int, list[str]]:
    """A file's lines as fingerprints read them (a notebook's per cell); empty when unreadable."""
    from gradlint.engine.prefilter import decode
    from gradlint.notebook import Notebook, NotebookError, is_notebook

    try:
        data = stdin if stdin is not None and path == stdin_name else Path(path).read_bytes()
        return Notebook(data).cell_lines() if is_notebook(path) else decode(data).splitlines()
    except (OSError, UnicodeDecodeError, SyntaxError, LookupError, NotebookError):
        return []


def _keys(findings: Iterable[Finding], root: Path, read_lines: Callable[[str], list[str]]) -> list[tuple]:
    keys = []
    cache: dict[str, list[str]] = {}
    for finding in findings:
        if finding.path not in cache:
            cache[finding.path] = read_lines(finding.path)
        relative = Path(os.path.relpath(os.path.abspath(finding.path), root)).as_posix()
        keys.append((finding.rule, relative, fingerprint(finding, cache[finding.path])))
    return keys


def write(path: Path, findings: list[Finding], read_lines: Callable[[str], list[str]]) -> int:
    keys = _keys(findings, path.resolve().parent, read_lines)
    entries = [
        {"rule": rule, "path": relative, "fingerprint": print_, "message": finding.message}
        for (rule, relative, print_), finding in zip(keys, findings)
    ]
    entries.sort(key=lambda e: (e["path"], e["rule"], e["fingerprint"]))
    payload = {"gradlint_baseline": FORMAT_VERSION, "findings": entries}
    try:
        path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise BaselineError(f"cannot write baseline {path}: {error.strerror or error}") from None
    return len(entries)


def read(path: Path) -> Counter:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("gradlint_baseline") != FORMAT_VERSION:
            raise ValueError(f"not a gradlint baseline (format {FORMAT_VERSION})")
        return Counter((e["rule"], e["path"], e["fingerprint"]) for e in payload["findings"])
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineError(f"cannot read baseline {path}: {error}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise BaselineError(f"baseline {path} is not valid: {error}") from None


def filter_new(path: Path, findings: list[Finding], read_lines: Callable[[str], list[str]]) -> Filtered:
    remaining = read(path)
    total = sum(remaining.values())
    new = []
    for key, finding in zip(_keys(findings, path.resolve().parent, read_lines), findings):
        if remaining[key] > 0:
            remaining[key] -= 1
        else:
            new.append(finding)
    known = len(findings) - len(new)
    return Filtered(new, known, total - known)

"""Fixes: what a rule proposes, described as one text edit, and applied until nothing changes.

A rule proposes a fix as a libcst node and its replacement (`Rule.report(..., fix=Fix(...))`).
The edit is found by replacing that node in the module and comparing the regenerated code with
the original: libcst regenerates everything it did not touch byte for byte, so the edit is the
smallest span that differs, and comments and formatting around it are kept.
A fix is applied only if the result parses and the rule then reports fewer findings.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import tokenize
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst

from gradlint.rule import Finding, Fix

# A file whose fixes keep producing new fixes is left as it is after this many rounds.
MAX_ROUNDS = 50


def describe(module: cst.Module, fix: Fix, title: str | None, safe: bool, original: str | None = None) -> dict | None:
    """The JSON form of a fix: its title, safety, the range it replaces and the new text.
    `original` is the file's text: where libcst's code is not the file or the start of it (it
    drops a form feed that starts a line, and a last lone "\r"), positions in its code are not
    positions in the file: no fix."""
    try:
        replaced = module.deep_replace(fix.node, fix.replacement)
        before, after = module.code, replaced.code  # type: ignore[union-attr]
    except Exception:  # a rule built an invalid replacement: no fix rather than a crash
        return None
    if before == after or (original is not None and not original.startswith(before)):
        return None
    start = 0
    limit = min(len(before), len(after))
    while start < limit and before[start] == after[start]:
        start += 1
    end_before, end_after = len(before), len(after)
    while end_before > start and end_after > start and before[end_before - 1] == after[end_after - 1]:
        end_before -= 1
        end_after -= 1
    line, column = _position(before, start)
    end_line, end_column = _position(before, end_before)
    return {
        "title": title or "apply the suggested fix",
        "safe": safe,
        "range": {"line": line, "column": column, "end_line": end_line, "end_column": end_column},
        "replacement": after[start:end_after],
    }


# Lines end as Python's tokenizer ends them (and as the findings count them): "\r\n", "\r" or "\n".
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of an offset."""
    line, start = 1, 0
    for brk in _LINE_BREAK.finditer(text, 0, offset):
        line, start = line + 1, brk.end()
    return line, offset - start + 1


def _offset(text: str, line: int, column: int) -> int:
    start = 0
    if line > 1:
        for count, brk in enumerate(_LINE_BREAK.finditer(text), 2):
            if count == line:
                start = brk.end()
                break
        else:
            raise ValueError(f"line {line} is past the end of the text")
    return start + column - 1


def apply_edit(text: str, fix: dict) -> str:
    where = fix["range"]
    start = _offset(text, where["line"], where["column"])
    end = _offset(text, where["end_line"], where["end_column"])
    return text[:start] + fix["replacement"] + text[end:]



@dataclass
class FixOutcome:
    text: str
    applied: int = 0
    findings: list[Finding] = field(default_factory=list)
    rules: Counter = field(default_factory=Counter)  # (code, name) -> fixes applied


def fix_text(text: str, lint, unsafe: bool = False) -> FixOutcome:
    """Apply fixes one at a time, re-linting after each, until none applies.

    `lint(text)` returns the findings for a version of the file. A fix that does not parse or
    does not reduce its rule's findings is skipped; everything else the file holds is kept.
    """
    findings = lint(text)
    applied = 0
    rules: Counter = Counter()
    rejected: set[tuple] = set()
    for _ in range(MAX_ROUNDS):
        candidates = [
            f for f in findings if f.fixable(unsafe) and _key(f) not in rejected
        ]
        if not candidates:
            break
        finding = candidates[0]
        fixed = apply_edit(text, finding.fix)
        after = _checked(fixed, lint)
        if after is None or _count(after, finding.rule) >= _count(findings, finding.rule):
            rejected.add(_key(finding))
            continue
        text, findings, applied = fixed, after, applied + 1
        rules[finding.rule, finding.name] += 1
    return FixOutcome(text, applied, findings, rules)


def _checked(text: str, lint) -> list[Finding] | None:
    try:
        cst.parse_module(text)
    except Exception:
        return None
    return lint(text)


def _key(finding: Finding) -> tuple:
    return (finding.rule, finding.message, finding.fix["replacement"] if finding.fix else None)


def _count(findings: Sequence[Finding], code: str) -> int:
    return sum(1 for f in findings if f.rule == code)


def encoding_of(data: bytes) -> str:
    """The encoding a file was read with, to write it back the same way (BOM included)."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return encoding



def write_atomically(path: str, data: bytes) -> None:
    """Replace a file's content so that an interruption (Ctrl-C, a full disk) leaves either the
    old file or the new one, never a part: write a temporary file beside it, then rename.
    A file the user cannot write is refused, as a plain write would refuse it."""
    mode = os.stat(path).st_mode & 0o7777  # first: a file deleted since it was read is not "not writable"
    if not os.access(path, os.W_OK):
        raise PermissionError(f"{path} is not writable")
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".gradlint-fix-")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise

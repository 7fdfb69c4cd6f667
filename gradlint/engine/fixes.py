"""Fixes: what a rule proposes, described as one text edit, and applied until nothing changes.

A rule proposes a fix as a libcst node and its replacement (`Rule.report(..., fix=Fix(...))`).
The edit is what replacing that node in the module would change in the regenerated code:
libcst regenerates everything it did not touch byte for byte, so the edit is the smallest span
that differs, and comments and formatting around it are kept.
A fix is applied only if the result parses and the rule then reports fewer findings.
"""

from __future__ import annotations

import inspect
import io
import os
import tempfile
import tokenize
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst

from gradlint.engine.positions import LINE_BREAK, Located, code_for_node
from gradlint.rule import Finding, Fix

# A file whose fixes keep producing new fixes is left as it is after this many rounds.
MAX_ROUNDS = 50


def describe(located: Located, fix: Fix, title: str | None, safe: bool) -> dict | None:
    """The JSON form of a fix: its title, safety, the range it replaces and the new text.

    The edit is what replacing the node in the module and regenerating the module's code would
    change, trimmed to the smallest span that differs; it is computed from the node's own span
    and the code of its replacement, so a fix costs the size of the node, not of the file."""
    code = located.code
    span = located.span(fix.node)
    try:
        if span is None or not (_context_free(fix.node) and _context_free(fix.replacement)):
            return _describe_by_regenerating(located, fix, title, safe)
        new = code_for_node(located.module, fix.replacement, span.indent)
    except Exception:  # a rule built an invalid replacement: no fix rather than a crash
        return None
    # The node's own code is its span: a context-free node generated under the same indentation
    # gives the same tokens alone as in the module, so it is not generated again.
    if new == code[span.start : span.end]:
        return None
    return _edit(located, title, safe, *_smallest_edit(code, span.start, span.end, new))


def _edit(located: Located, title: str | None, safe: bool, start: int, end: int, replacement: str) -> dict:
    line, column = located.line_column(start)
    end_line, end_column = located.line_column(end)
    return {
        "title": title or "apply the suggested fix",
        "safe": safe,
        "range": {"line": line, "column": column, "end_line": end_line, "end_column": end_column},
        "replacement": replacement,
    }


_CONTEXT_FREE: dict[type, bool] = {}


def _context_free(node: cst.CSTNode) -> bool:
    """Whether a node generates its code from itself and the indentation alone: some take
    arguments from their parent (a default comma, `elif`), which a span cannot know."""
    cls = type(node)
    known = _CONTEXT_FREE.get(cls)
    if known is None:
        known = _CONTEXT_FREE[cls] = len(inspect.signature(cls._codegen_impl).parameters) == 2
    return known


def _smallest_edit(code: str, start: int, end: int, new: str) -> tuple[int, int, str]:
    """The span that differs between `code` and `code[:start] + new + code[end:]`, trimmed as a
    comparison of the two whole texts would trim it: (start, end in `code`, replacement text).
    Both texts share `code[:start]`; the common prefix may run past the node into the code after
    it, so that is read in growing windows until the prefix ends inside one."""
    window = 64
    while True:
        stop = min(len(code), end + window)
        before, after = code[start:stop], new + code[end:stop]
        limit = min(len(before), len(after))
        prefix = 0
        while prefix < limit and before[prefix] == after[prefix]:
            prefix += 1
        if prefix < limit or stop == len(code):
            break
        window *= 4
    end_before, end_after = len(before), len(after)
    while end_before > prefix and end_after > prefix and before[end_before - 1] == after[end_after - 1]:
        end_before -= 1
        end_after -= 1
    return start + prefix, start + end_before, after[prefix:end_after]


def _describe_by_regenerating(located: Located, fix: Fix, title: str | None, safe: bool) -> dict | None:
    """The edit found by regenerating the whole module with the node replaced: for the nodes
    whose code depends on their parent. A pass over the file, so never the common case."""
    try:
        after = located.module.deep_replace(fix.node, fix.replacement).code  # type: ignore[union-attr]
    except Exception:
        return None
    if after == located.code:
        return None
    return _edit(located, title, safe, *_smallest_edit(located.code, 0, len(located.code), after))


def _offset(text: str, line: int, column: int) -> int:
    start = 0
    if line > 1:
        for count, brk in enumerate(LINE_BREAK.finditer(text), 2):
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

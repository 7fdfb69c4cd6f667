"""Large files in pieces: libcst's tree of a file takes about a thousand times the file's size in
memory, so a file above `PIECE_SIZE` (128 KB) is cut between top-level statements and each piece is
parsed, walked and dropped before the next. A piece sees the module-level imports of the pieces
before it (they are put in front of it), so names resolve as in the whole file; definitions in
other pieces are not seen.

A cut is made only before a line that starts a statement at column 0; one that the cheap scan
gets wrong (inside a string or brackets, after a decorator or a backslash) leaves a piece that
does not parse, and the piece then grows to the next cuts, doubling, until it does.

libcst's parser takes longer per byte the longer its text (a 128 KB text about a third longer
than four of 32 KB), so every text is parsed in chunks of `CHUNK_SIZE` cut the same way, and
their statements are put together into the module that parsing it whole gives (`parse`).
"""

from __future__ import annotations

import bisect
import gc
import re
from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst

from gradlint.engine.names import binds_imports
from gradlint.engine.positions import LINE_BREAK

# Text parsed as one piece: at most about 200 MB of tree and positions for dense code (measured
# with bench/bench_scaling.py), so that a worker stays under 500 MB.
PIECE_SIZE = 128 * 1024
# An `if` or `try` holding imports is put in front of later pieces only up to this size.
MAX_PREFIX_STATEMENT = 4096
# A piece that cannot be cut smaller and holds more tokens than this is not parsed (its tree would
# take gigabytes): the file is reported as too large instead.
MAX_PIECE_TOKENS = 250_000
# Text parsed by one call of libcst's parser (`parse`).
CHUNK_SIZE = 32 * 1024

_CUT = re.compile(r"^(?![ \t\f#\r\n])(?!(?:else|elif|except|finally)\b)", re.M)
# Tokens as the tree will hold them: a string or a comment is one, whatever its length.
_TOKEN = re.compile(r"""(?:[rRbBuUfF]{0,2})(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')|#[^\n]*|\w+|[^\w\s]""")


class PieceTooLarge(Exception):
    """A top-level statement too large to parse within the memory a worker is given."""


@dataclass
class Piece:
    """A parsed piece: `module` is `prefix` (imports from earlier pieces) followed by the file's
    lines from `first_line` on."""

    module: cst.Module
    text: str
    first_line: int
    prefix_lines: int
    prefix_statements: int = 0

    def file_line(self, line: int) -> int | None:
        """The file's line for a line of the piece's text; None inside the prefix."""
        return None if line <= self.prefix_lines else line - self.prefix_lines + self.first_line - 1


def pieces(text: str, size: int = PIECE_SIZE) -> Iterator[Piece]:
    """Parse `text` a piece at a time; raises the parser's error where a piece never parses."""
    cuts = [match.start() for match in _CUT.finditer(text)] + [len(text)]
    prefix, prefix_statements = "", 0
    start, line = 0, 1
    while start < len(text):
        end = _next_cut(cuts, start, start + size)
        while True:
            body = text[start:end]
            if end - start > size and sum(1 for _ in _TOKEN.finditer(body)) > MAX_PIECE_TOKENS:
                raise PieceTooLarge(f"a top-level statement from line {line} is too large to check")
            try:
                module = parse(prefix + body)
                break
            except Exception:
                if end == len(text):
                    raise
                end = _next_cut(cuts, start, start + 2 * (end - start), at_least=end + 1)
        yield Piece(module, prefix + body, line, _lines(prefix), prefix_statements)
        imports = _imports(module, prefix_statements)
        prefix += "".join(imports)
        prefix_statements += len(imports)
        del module
        # Automatic collection is off while a file is linted: free the cycles the last piece
        # left (scope analysis makes some, and they hold its tree) before the next is parsed.
        # Only the objects made since the last collection are examined.
        gc.collect(0)
        line += _lines(body)
        start = end


def parse_module(text: str | bytes) -> cst.Module:
    """`cst.parse_module(text)` without validating each node as it is made: libcst checks every
    node it constructs, which its parser's nodes never need (libcst's own comment on
    `CSTNode.__post_init__` says so), and that is about a twentieth of a file's time. Done only
    where `__post_init__` does nothing but validate; the check is put back before returning,
    so nodes the rules build are still validated."""
    if not _VALIDATION_ONLY:
        return cst.parse_module(text)
    cst.CSTNode.__post_init__ = _no_validation
    try:
        return cst.parse_module(text)
    finally:
        cst.CSTNode.__post_init__ = _VALIDATE


_VALIDATE = cst.CSTNode.__post_init__
_VALIDATION_ONLY = _VALIDATE.__code__.co_names == ("_validate",)


def _no_validation(self: cst.CSTNode) -> None:
    return None


def parse(text: str, size: int = CHUNK_SIZE) -> cst.Module:
    """`cst.parse_module(text)`, parsed a chunk at a time; raises the whole text's error.

    A chunk starts at a statement, so the lines after the last statement of the one before it
    (its footer) are the leading lines of its first statement, as in the whole text. Each chunk
    finds its own default indentation and newline (the first of its text): where they all
    agree, the whole text's are the same, else it is parsed whole."""
    if len(text) <= size:
        return parse_module(text)
    cuts = [match.start() for match in _CUT.finditer(text)] + [len(text)]
    chunks: list[cst.Module] = []
    start = 0
    while start < len(text):
        end = _next_cut(cuts, start, start + size)
        while True:
            try:
                chunks.append(parse_module(text[start:end]))
                break
            except Exception:
                if end == len(text):
                    return parse_module(text)
                end = _next_cut(cuts, start, start + 2 * (end - start), at_least=end + 1)
        start = end
    first, last = chunks[0], chunks[-1]
    if len(chunks) == 1:
        return first
    if any(c.default_indent != first.default_indent or c.default_newline != first.default_newline or not c.body for c in chunks):
        return parse_module(text)
    body = list(first.body)
    for before, chunk in zip(chunks, chunks[1:]):
        head = chunk.body[0]
        if before.footer or chunk.header:
            head = head.with_changes(leading_lines=[*before.footer, *chunk.header, *head.leading_lines])
        body += [head, *chunk.body[1:]]
    return first.with_changes(body=body, footer=last.footer, has_trailing_newline=last.has_trailing_newline)


def _imports(module: cst.Module, skipped: int) -> list[str]:
    """The code of the import statements of a piece past its prefix (`skipped` statements)."""
    found = []
    for statement in module.body[skipped:]:
        if binds_imports(statement):
            code = module.code_for_node(statement)
            if len(code) <= MAX_PREFIX_STATEMENT:
                found.append(code)
    return found


def _next_cut(cuts: list[int], start: int, limit: int, at_least: int | None = None) -> int:
    """The last cut at or before `limit` past `start` (or `at_least`), else the first after it."""
    lowest = start + 1 if at_least is None else at_least
    index = bisect.bisect_right(cuts, limit) - 1
    if index >= 0 and cuts[index] >= lowest:
        return cuts[index]
    return cuts[bisect.bisect_left(cuts, lowest)]


def _lines(text: str) -> int:
    return sum(1 for _ in LINE_BREAK.finditer(text))

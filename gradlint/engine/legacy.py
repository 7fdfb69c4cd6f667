"""Python 2 source read as Python 3, line for line, so that old training code is checked too.

Old tutorials and model zoos are Python 2: `print x`, `except E, e:`, tabs mixed with spaces.
A file that does not parse is rewritten with the smallest edits that make those spellings
Python 3 (`print(x)`, `except E as e:`, tabs expanded to Python 2's 8 columns, `` `x` `` as
`repr(x)`, `0777` as `0o777`, `10L` as `10`, `<>` as `!=`, `raise E, m` as `raise E(m)`,
`exec code` as `exec(code)`), each within its line, and the findings' columns are mapped back to
the file's own. The rewrite is only ever read: findings of such a file have no fix, and the
dynamic mode does not run it.
"""

from __future__ import annotations

import bisect
import io
import tokenize
from dataclasses import dataclass, field

_STATEMENT_STARTS = {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT}
_NOT_AN_ARGUMENT = {"(", "=", ".", ")", ",", "[", "+=", "-="}
TAB_SIZE = 8  # Python 2 expands a tab to the next multiple of 8


@dataclass
class Rewrite:
    """The Python 3 text and, per line (1-based), the edits made: (new column where the edit's
    text ends, shift after it) in order, to map a column of the new text back."""

    text: str
    shifts: dict[int, list[tuple[int, int]]] = field(default_factory=dict)

    def column(self, line: int, column: int) -> int:
        """A 1-based column of the rewritten text, in the file's own line."""
        edits = self.shifts.get(line)
        if not edits:
            return column
        index = bisect.bisect_right([end for end, _ in edits], column - 1) - 1
        return max(1, column - edits[index][1]) if index >= 0 else column


def as_python3(text: str) -> Rewrite | None:
    """The rewrite of Python 2 `text`, or None when it has no Python 2 spelling to rewrite."""
    lines = text.splitlines(keepends=True)
    edits: dict[int, list[tuple[int, int, str]]] = {}  # line -> (old column, old length, new text)
    for number, line in enumerate(lines, 1):
        indent = len(line) - len(line.lstrip(" \t"))
        if "\t" in line[:indent]:
            edits.setdefault(number, []).append((0, indent, " " * _width(line[:indent])))
    expanded = _apply(lines, edits) if edits else text
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(expanded).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    token_edits = _token_edits(tokens)
    if not edits and not token_edits:
        return None
    # Token columns are in the expanded text: shift them back onto the original lines.
    expansion = {number: len(new) - length for number, ((_, length, new),) in edits.items()}
    for number, column, length, new in token_edits:
        edits.setdefault(number, []).append((column - expansion.get(number, 0), length, new))
    rewrite = Rewrite(_apply(lines, edits))
    for number, line_edits in edits.items():
        shift, ends = 0, []
        for column, length, new in sorted(line_edits):
            shift += len(new) - length
            ends.append((column + shift - (len(new) - length) + len(new), shift))
        rewrite.shifts[number] = ends
    return rewrite


def _width(indent: str) -> int:
    width = 0
    for char in indent:
        width = (width // TAB_SIZE + 1) * TAB_SIZE if char == "\t" else width + 1
    return width


def _apply(lines: list[str], edits: dict[int, list[tuple[int, int, str]]]) -> str:
    out = list(lines)
    for number, line_edits in edits.items():
        line = out[number - 1]
        for column, length, new in sorted(line_edits, reverse=True):
            line = line[:column] + new + line[column + length:]
        out[number - 1] = line
    return "".join(out)


def _token_edits(tokens: list[tokenize.TokenInfo]) -> list[tuple[int, int, int, str]]:
    """(line, column, old length, new text) for each Python 2 spelling among the tokens."""
    found: list[tuple[int, int, int, str]] = []
    backtick_open = None
    for index, token in enumerate(tokens):
        before = _previous(tokens, index)
        after = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.type == tokenize.NAME and token.string in ("print", "exec") and _starts_statement(before):
            found += _statement_call(tokens, index)
        elif token.type == tokenize.NAME and token.string == "except":
            comma = _top_level_comma(tokens, index, ":")
            if comma is not None:
                found.append((*comma.start, 1, " as"))
        elif token.type == tokenize.NAME and token.string == "raise" and _starts_statement(before):
            comma = _top_level_comma(tokens, index, None)
            if comma is not None:
                end = _statement_end(tokens, index)
                found.append((*comma.start, 1, "("))
                found.append((*end, 0, ")"))
        elif token.type == tokenize.ERRORTOKEN and token.string == "`":
            if backtick_open is None:
                backtick_open = token
                found.append((*token.start, 1, "repr("))
            else:
                backtick_open = None
                found.append((*token.start, 1, ")"))
        elif token.type == tokenize.NUMBER and after is not None and after.start == token.end:
            if after.type == tokenize.NUMBER and token.string == "0":  # 0777
                found.append((*token.start, 1, "0o"))
            elif after.type == tokenize.NAME and after.string in ("L", "l"):  # 10L
                found.append((*after.start, 1, ""))
        elif token.type == tokenize.OP and token.string == "<" and after is not None and after.string == ">" and after.start == token.end:
            found.append((*token.start, 2, "!="))
    return found


def _previous(tokens: list[tokenize.TokenInfo], index: int) -> tokenize.TokenInfo | None:
    for token in reversed(tokens[:index]):
        if token.type not in (tokenize.NL, tokenize.COMMENT):
            return token
    return None


def _starts_statement(before: tokenize.TokenInfo | None) -> bool:
    return before is None or before.type in _STATEMENT_STARTS or before.string in (";", ":")


def _statement_call(tokens: list[tokenize.TokenInfo], index: int) -> list[tuple[int, int, int, str]]:
    """`print x, y` -> `print(x, y)`; `print` -> `print()`; `print >>f, x` -> `print(  f, x)`."""
    keyword = tokens[index]
    following = tokens[index + 1] if index + 1 < len(tokens) else None
    if following is None or following.string in _NOT_AN_ARGUMENT:
        return []  # already a call, or a name used as a value (Python 3 code)
    end = _statement_end(tokens, index)
    if following.type in (tokenize.NEWLINE, tokenize.COMMENT, tokenize.ENDMARKER) or following.string == ";":
        return [(*keyword.end, 0, "()")]
    edits = []
    if following.start == keyword.end:
        return []
    # Replace the space after the keyword by "(" so that the columns of the arguments stay.
    edits.append((keyword.end[0], keyword.end[1], 1, "("))
    if following.string == ">>":
        edits.append((*following.start, 2, "  "))
    edits.append((*end, 0, ")"))
    return edits


def _statement_end(tokens: list[tokenize.TokenInfo], index: int) -> tuple[int, int]:
    """Where the simple statement starting at `index` ends: before a `;` at depth 0, a comment
    or the end of the logical line."""
    depth = 0
    last = tokens[index]
    for token in tokens[index + 1:]:
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
        if token.type in (tokenize.NEWLINE, tokenize.ENDMARKER) or (depth == 0 and token.string == ";"):
            return last.end
        if token.type not in (tokenize.NL, tokenize.COMMENT):
            last = token
    return last.end


def _top_level_comma(tokens: list[tokenize.TokenInfo], index: int, stop: str | None) -> tokenize.TokenInfo | None:
    """The first comma at bracket depth 0 after `index`, before `stop` or the end of the line."""
    depth = 0
    for token in tokens[index + 1:]:
        if token.type in (tokenize.NEWLINE, tokenize.ENDMARKER) or (depth == 0 and token.string == stop):
            return None
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
        elif depth == 0 and token.string == ",":
            return token
    return None

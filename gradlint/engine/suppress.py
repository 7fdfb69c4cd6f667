"""`# noqa: GL001`, `# gradlint: ignore[GL001]` and bare `# noqa` comments."""

from __future__ import annotations

import io
import re
import tokenize

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I)
_IGNORE = re.compile(r"#\s*gradlint:\s*ignore(?:\[(?P<codes>[^\]]*)\])?", re.I)
ALL = frozenset({"*"})


def suppressions(text: str) -> dict[int, frozenset[str]]:
    """Line number -> codes suppressed there (`{"*"}` for all), read from real comments."""
    found: dict[int, frozenset[str]] = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return found
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        codes: set[str] = set()
        for pattern in (_NOQA, _IGNORE):
            for match in pattern.finditer(token.string):
                listed = match.group("codes")
                if listed is None:
                    codes.add("*")
                else:
                    codes.update(code.upper() for code in re.split(r"[\s,]+", listed.strip()) if code)
        if codes:
            found[token.start[0]] = frozenset(codes)
    return found


def is_suppressed(code: str, lines: tuple[int, ...], table: dict[int, frozenset[str]]) -> bool:
    for line in lines:
        codes = table.get(line)
        if codes and ("*" in codes or code in codes or any(code.startswith(c) for c in codes)):
            return True
    return False



def with_noqa(text: str, wanted: dict[int, set[str]]) -> str:
    """`text` with `# noqa: CODES` on each wanted line: the codes are added to a `# noqa: ...`
    already there, else the comment is appended. A line with no room for a comment (its end lies
    in a multi-line string, or after a backslash) is left alone."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return text
    inside: set[int] = set()  # lines whose end lies inside a string
    f_strings: list[int] = []  # the lines open f-strings start on (Python 3.12 tokenizes their parts)
    noqa: dict[int, tuple[int, int, list[str]]] = {}  # line -> span of its `# noqa: codes`, the codes
    for token in tokens:
        if token.type == tokenize.STRING:
            inside.update(range(token.start[0], token.end[0]))
        elif token.type == getattr(tokenize, "FSTRING_START", None):
            f_strings.append(token.start[0])
        elif token.type == getattr(tokenize, "FSTRING_END", None) and f_strings:
            inside.update(range(f_strings.pop(), token.end[0]))
        elif token.type == tokenize.COMMENT:
            match = _NOQA.search(token.string)
            if match and match.group("codes"):
                offset = token.start[1]
                codes = [code.upper() for code in re.split(r"[\s,]+", match.group("codes").strip())]
                noqa[token.start[0]] = (offset + match.start(), offset + match.end(), codes)
    lines = io.StringIO(text, newline="").readlines()  # split as the tokenizer does (not at \f)
    for number, codes in wanted.items():
        if not 0 < number <= len(lines) or number in inside:
            continue
        body = lines[number - 1].rstrip("\r\n")
        ending = lines[number - 1][len(body):]
        if not body.strip() or body.endswith("\\"):
            continue
        if number in noqa:  # `# noqa: E501` becomes `# noqa: E501, GL080`
            start, end, listed = noqa[number]
            merged = listed + sorted(set(codes) - set(listed))
            body = body[:start] + f"# noqa: {', '.join(merged)}" + body[end:]
        else:
            body = f"{body.rstrip()}  # noqa: {', '.join(sorted(codes))}"
        lines[number - 1] = body + ending
    return "".join(lines)

"""`# noqa: GL001`, `# gradlint: ignore[GL001]` and bare `# noqa` comments."""

from __future__ import annotations

import io
import re
import tokenize

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I)
_IGNORE = re.compile(r"#\s*gradlint:\s*ignore(?:\[(?P<codes>[^\]]*)\])?", re.I)
ALL = frozenset({"*"})
# Text without this holds no suppression: the file is not tokenized (a tenth of a large file's run).
_ANY = re.compile(r"#\s*(?:noqa|gradlint\s*:)", re.I)


def suppressions(text: str) -> dict[int, frozenset[str]]:
    """Line number -> codes suppressed there (`{"*"}` for all), read from real comments."""
    found: dict[int, frozenset[str]] = {}
    if not _ANY.search(text):
        return found
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

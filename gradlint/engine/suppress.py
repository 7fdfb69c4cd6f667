"""`# noqa: GL001`, `# gradlint: ignore[GL001]` and bare `# noqa` comments; which of them went
unused (GL900), and adding `# noqa` comments (`--add-noqa`)."""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I)
_IGNORE = re.compile(r"#\s*gradlint:\s*ignore(?:\[(?P<codes>[^\]]*)\])?", re.I)
ALL = frozenset({"*"})
# Text without this holds no suppression: the file is not tokenized (a tenth of a large file's run).
_ANY = re.compile(r"#\s*(?:noqa|gradlint\s*:)", re.I)


class NoqaError(Exception):
    """A file `--add-noqa` cannot edit."""


@dataclass(frozen=True)
class Directive:
    """One suppression in a comment; `entries` as written (codes, prefixes or, in
    `gradlint: ignore[...]`, rule names), empty for every rule."""

    line: int
    column: int  # 1-based
    end_column: int
    kind: str  # "noqa" or "gradlint: ignore"
    entries: tuple[str, ...]

    def codes(self) -> frozenset[str]:
        """The codes or prefixes it names (`{"*"}` for all); a rule name becomes its code."""
        if not self.entries:
            return ALL
        from gradlint.registry import rule_index

        names = {entry["name"]: code for code, entry in rule_index().items()}
        return frozenset(entry.upper() if entry[:2].upper() == "GL" else names.get(entry.lower(), entry)
                         for entry in self.entries)


def directives(text: str) -> list[Directive]:
    """Every suppression directive in the file's real comments."""
    found: list[Directive] = []
    if not _ANY.search(text):
        return found
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return found
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        line, column = token.start
        for pattern, kind in ((_NOQA, "noqa"), (_IGNORE, "gradlint: ignore")):
            for match in pattern.finditer(token.string):
                listed = match.group("codes")
                entries = tuple(e for e in re.split(r"[\s,]+", listed.strip()) if e) if listed is not None else ()
                found.append(Directive(line, column + match.start() + 1, column + match.end() + 1, kind, entries))
    return found


def suppressions(text: str) -> dict[int, frozenset[str]]:
    """Line number -> codes suppressed there (`{"*"}` for all), read from real comments."""
    return _table(directives(text))


def _table(found: Iterable[Directive]) -> dict[int, frozenset[str]]:
    table: dict[int, frozenset[str]] = {}
    for directive in found:
        table[directive.line] = table.get(directive.line, frozenset()) | directive.codes()
    return table


def suppressing_line(code: str, lines: tuple[int, ...], table: dict[int, frozenset[str]]) -> int | None:
    """The line of the directive that suppresses `code` reported at `lines`, or None."""
    for line in lines:
        codes = table.get(line)
        if codes and ("*" in codes or code in codes or any(code.startswith(c) for c in codes)):
            return line
    return None


def is_suppressed(code: str, lines: tuple[int, ...], table: dict[int, frozenset[str]]) -> bool:
    return suppressing_line(code, lines, table) is not None


def unused(found: list[Directive], used: set[tuple[int, str]], ran: set[str], known: set[str]) -> list[tuple[Directive, str]]:
    """The directives that suppressed nothing, each with why (`unused: GL080`, `unknown: GL999`).

    `used` holds (directive line, code) for each suppressed finding, `ran` the codes of the rules
    that checked the file, `known` every rule code. In a `# noqa` only gradlint's codes are
    judged: another tool's code, or a bare `# noqa`, may serve that tool. A code whose rule did not run here
    (not selected, per-file-ignored, dynamic only) is not judged either: another run may need it.
    """
    verdicts = []
    for directive in found:
        codes = directive.codes()
        if codes == ALL:
            if directive.kind == "gradlint: ignore" and ran and not any(line == directive.line for line, _ in used):
                verdicts.append((directive, "no finding here"))
            continue
        ours = codes if directive.kind == "gradlint: ignore" else {c for c in codes if c.startswith("GL")}
        unknown = sorted(c for c in ours if not any(k.startswith(c) for k in known))
        idle = sorted(c for c in codes if any(k.startswith(c) for k in ran) and c not in unknown
                      and not any(line == directive.line and code.startswith(c) for line, code in used))
        why = [f"unused: {', '.join(idle)}"] if idle else []
        why += [f"unknown: {', '.join(unknown)}"] if unknown else []
        if why:
            verdicts.append((directive, "; ".join(why)))
    return verdicts


def add_noqa(path: str, findings: list) -> int:
    """Append `# noqa: CODES` to each line with a finding (see `with_noqa`). Returns the
    directives added."""
    from gradlint.engine.fixes import encoding_of, write_atomically
    from gradlint.engine.prefilter import decode

    if path.endswith(".ipynb"):
        raise NoqaError("notebooks are left alone: add `# noqa` in the cell")
    try:
        data = open(path, "rb").read()
        text = decode(data)
    except (OSError, UnicodeDecodeError, LookupError, SyntaxError) as error:
        raise NoqaError(f"cannot read it ({getattr(error, 'strerror', None) or error})") from None
    wanted: dict[int, set[str]] = {}
    for finding in findings:
        if finding.rule != "GL000":
            wanted.setdefault(finding.line, set()).add(finding.rule)
    text, added = with_noqa(text, wanted)
    if added:
        write_atomically(path, text.encode(encoding_of(data)))
    return added


def with_noqa(text: str, wanted: dict[int, set[str]]) -> tuple[str, int]:
    """`text` with `# noqa: CODES` on each wanted line (merged into a `# noqa: ...` already
    there), and how many lines got one; the language server's "Disable GLxxx for this line" too.
    A line with no room for a comment (its end in a multi-line string, or a backslash) is left alone."""
    lines = io.StringIO(text, newline="").readlines()  # split as the tokenizer does (not at \f)
    open_lines = _lines_inside_strings(text)
    existing = {d.line: d for d in directives(text) if d.kind == "noqa" and d.entries}
    added = 0
    for number, codes in sorted(wanted.items()):
        line = lines[number - 1] if number <= len(lines) else ""
        body = line.rstrip("\r\n")
        if not body or number in open_lines or body.endswith("\\"):  # no room for a comment
            continue
        ending = line[len(body):]
        directive = existing.get(number)
        if directive is not None:  # `# noqa: E501` becomes `# noqa: E501, GL080`
            merged = ", ".join([*directive.entries, *sorted(codes - set(directive.entries))])
            start = directive.column - 1
            body = body[:start] + f"# noqa: {merged}" + body[directive.end_column - 1:]
        else:
            body = f"{body.rstrip()}  # noqa: {', '.join(sorted(codes))}"
        lines[number - 1] = body + ending
        added += 1
    return "".join(lines), added


def _lines_inside_strings(text: str) -> set[int]:
    """Lines whose end lies inside a multi-line string, where a comment cannot go."""
    inside: set[int] = set()
    starts: list[int] = []  # open f-strings (Python 3.12 tokenizes their parts)
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.STRING:
                inside.update(range(token.start[0], token.end[0]))
            elif token.type == getattr(tokenize, "FSTRING_START", None):
                starts.append(token.start[0])
            elif token.type == getattr(tokenize, "FSTRING_END", None) and starts:
                inside.update(range(starts.pop(), token.end[0]))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return inside


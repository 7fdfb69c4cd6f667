"""GitHub Actions workflow commands: each finding becomes an annotation on the pull request."""

from __future__ import annotations

from gradlint.api import RunResult
from gradlint.report.text import summary, verdict_line

_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(result: RunResult, **_: object) -> str:
    lines = []
    for f in result.findings:
        if f.cell is None:
            where = f"file={_escape_property(f.path)},line={f.line},col={f.column},endLine={f.end_line},endColumn={f.end_column}"
            cell = ""
        else:  # a notebook: annotate the file; the cell and line go in the message
            where, cell = f"file={_escape_property(f.path)}", f"cell {f.cell}:{f.line}:{f.column}: "
        props = f"{where},title={_escape_property(f'{f.rule} {f.name}')}"
        text = f"{cell}{f.rule} {f.message}" + (f"\n{verdict_line(f.confirmation)}" if f.confirmation else "")
        lines.append(f"::{_LEVEL.get(f.severity, 'warning')} {props}::{_escape_data(text)}")
    for e in result.errors:
        lines.append(f"::error file={_escape_property(e['path'])}::{_escape_data(e['message'])}")
    lines.append(summary(result))
    return "\n".join(lines) + "\n"

"""What the server lints: an editor's text (a file or a notebook's cells), as the command line would.

A `Linted` is one text document at one version with the findings for exactly that text; every
position and edit the server sends is computed from it, so none refers to a text the editor no
longer holds. Positions go through pygls's codec, in the encoding negotiated with the client.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec, ServerTextPosition

from gradlint.api import _Job
from gradlint.engine.fixes import encoding_of
from gradlint.notebook import SUFFIX, Notebook, from_cells, is_notebook
from gradlint.rule import Finding


@dataclass
class Linted:
    uri: str  # a text document: a file, or a notebook's cell
    version: int | None
    text: str
    findings: list[Finding] = field(default_factory=list)


class Lines:
    """A text's lines as Python and LSP break them ("\\r\\n", "\\r", "\\n"; not form feeds, which
    str.splitlines counts) and conversions between findings' columns (1-based, in characters) and
    the client's positions."""

    def __init__(self, text: str, codec: PositionCodec) -> None:
        self.lines = io.StringIO(text, newline="").readlines()
        self.codec = codec

    def position(self, line: int, column: int) -> types.Position:
        return self.codec.position_to_client_units(self.lines, ServerTextPosition(line - 1, column - 1))

    def range(self, line: int, column: int, end_line: int, end_column: int) -> types.Range:
        return types.Range(start=self.position(line, column), end=self.position(end_line, end_column))

    def finding_range(self, finding: Finding) -> types.Range:
        return self.range(finding.line, finding.column, finding.end_line, finding.end_column)

    def point(self, position: types.Position) -> tuple[int, int]:
        """A client position as a 1-based line and column in characters."""
        where = self.codec.position_from_client_units(self.lines, types.Position(position.line, position.character))
        return where.line + 1, where.character + 1

    def edit(self, before: str, after: str) -> types.TextEdit:
        """One edit turning `before` (this text) into `after`: the span between what they share
        at the start and at the end, never splitting a "\r\n" (no position lies inside one)."""
        start = 0
        limit = min(len(before), len(after))
        while start < limit and before[start] == after[start]:
            start += 1
        end, end_after = len(before), len(after)
        while end > start and end_after > start and before[end - 1] == after[end_after - 1]:
            end, end_after = end - 1, end_after - 1
        if 0 < start < len(before) and before[start - 1 : start + 1] == "\r\n":
            start -= 1
        if 0 < end < len(before) and before[end - 1 : end + 1] == "\r\n":
            end, end_after = end + 1, end_after + 1
        return types.TextEdit(
            range=types.Range(start=self._at(before, start), end=self._at(before, end)),
            new_text=after[start:end_after],
        )

    def _at(self, text: str, offset: int) -> types.Position:
        lines = io.StringIO(text[:offset], newline="").readlines()
        if not lines:
            return self.position(1, 1)
        if lines[-1].endswith(("\n", "\r")):  # the offset starts the next line
            return self.position(len(lines) + 1, 1)
        return self.position(len(lines), len(lines[-1]) + 1)


def to_bytes(text: str) -> tuple[bytes, str]:
    """The editor's text as the file would hold it (in the encoding a coding cookie names)."""
    encoding = encoding_of(text.encode("utf-8"))
    try:
        return text.encode(encoding), encoding
    except (UnicodeEncodeError, LookupError):
        return text.encode("utf-8"), "utf-8"


def lint(job: _Job, path: str, text: str) -> tuple[list[Finding], list[dict]]:
    data, _ = to_bytes(text)
    result = job.run(path, data)
    return result.findings, result.errors


def fix_all(job: _Job, path: str, text: str) -> str | None:
    """What `gradlint --fix` writes for this text (safe fixes only, as there), or None."""
    data, encoding = to_bytes(text)
    result = _Job(job.codes, job.settings, fix=True).run(path, data)
    return result.fixed.decode(encoding) if result.fixed is not None else None


# Notebooks -------------------------------------------------------------------------------------


@dataclass
class Cell:
    uri: str
    kind: str  # a Jupyter cell type: "code", "markdown" or "raw"
    text: str
    version: int | None


def _notebook_job(job: _Job, path: str, cells: list[Cell], fix: bool = False):
    """Run on the cells as on their notebook file (an unsaved notebook's name may lack the suffix)."""
    if not is_notebook(path):
        path += SUFFIX
    return _Job(job.codes, job.settings, fix=fix).run(path, from_cells([(cell.kind, cell.text) for cell in cells]))


def lint_notebook(job: _Job, path: str, cells: list[Cell]) -> tuple[dict[str, Linted], list[dict]]:
    """Each cell's findings, in the cell's own lines: the cells are linted as one program."""
    result = _notebook_job(job, path, cells)
    linted = {cell.uri: Linted(cell.uri, cell.version, cell.text) for cell in cells}
    for finding in result.findings:
        if finding.cell is not None and 0 < finding.cell <= len(cells):
            linted[cells[finding.cell - 1].uri].findings.append(finding)
    return linted, result.errors


def fix_notebook(job: _Job, path: str, cells: list[Cell]) -> dict[str, str]:
    """The cells `gradlint --fix` would change in this notebook, with their new text."""
    result = _notebook_job(job, path, cells, fix=True)
    if result.fixed is None:
        return {}
    fixed = Notebook(result.fixed).json["cells"]
    changed = {}
    for cell, after in zip(cells, fixed):
        text = "".join(after["source"]) if isinstance(after["source"], list) else after["source"]
        if text != cell.text:
            changed[cell.uri] = text
    return changed

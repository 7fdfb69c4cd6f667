"""Jupyter notebooks: the code cells, in order, as one Python program.

IPython syntax is masked line for line (a `%magic`, `!shell` or `help?` line becomes `pass` at
the same indentation; a cell that starts with a `%%cell_magic` is masked whole), and a comment
line marks where each cell starts, so that positions map back to (cell, line) and fixed code
splits back into cells. Cells are numbered from 1 among all cells, as they appear in the file.
Only the standard library is used: the static linter needs nothing more.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field

SUFFIX = ".ipynb"
# A line of the program that starts a cell; fixes never touch comments.
_BOUNDARY = "# gradlint: notebook cell {index}"
_BOUNDARY_LINE = re.compile(r"^# gradlint: notebook cell (\d+)$")
_MASK = "pass  # gradlint: ipython {index}"
_MASK_LINE = re.compile(r"^(\s*)pass  # gradlint: ipython (\d+)$")
# `%time x`, `!ls`, `?obj`, `obj?`, `x = !ls`, `x = %env`; the first character after the
# indentation decides, as in IPython's own input transformers.
_IPYTHON_LINE = re.compile(r"^\s*([%!?]|[A-Za-z_][\w.,\s]*=\s*[%!])|^[^#'\"]*\?\s*$")


class NotebookError(ValueError):
    """Not a notebook gradlint can read (invalid JSON, not nbformat 4, another language)."""


def is_notebook(path: str) -> bool:
    return str(path).endswith(SUFFIX)


@dataclass
class CodeCell:
    index: int  # 1-based, among all cells
    source: str  # as in the notebook
    first_line: int = 0  # the program line holding the cell's first line
    masked: list[str] = field(default_factory=list)  # the IPython lines, in order


class Notebook:
    def __init__(self, data: bytes) -> None:
        try:
            self.json = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise NotebookError(f"not a valid notebook (JSON): {error}") from None
        if not isinstance(self.json, dict) or not isinstance(self.json.get("cells"), list):
            raise NotebookError("not a valid notebook: no list of cells (nbformat 4 is needed)")
        self.raw = data
        language = ((self.json.get("metadata") or {}).get("kernelspec") or {}).get("language") or \
            ((self.json.get("metadata") or {}).get("language_info") or {}).get("name") or "python"
        self.is_python = str(language).lower() == "python"
        self.cells: list[CodeCell] = []
        for index, cell in enumerate(self.json["cells"], 1):
            if isinstance(cell, dict) and cell.get("cell_type") == "code":
                source = cell.get("source", "")
                self.cells.append(CodeCell(index, "".join(source) if isinstance(source, list) else str(source)))
        self.program = self._program()
        # Looked up per finding: by bisection and by key, never a scan of the cells.
        self._boundaries = [cell.first_line - 1 for cell in self.cells]
        self._first_lines = {cell.index: cell.first_line for cell in self.cells}

    # The program -------------------------------------------------------------------------

    def _program(self) -> str:
        lines: list[str] = []
        for cell in self.cells:
            lines.append(_BOUNDARY.format(index=cell.index))
            cell.first_line = len(lines) + 1
            cell_lines = cell.source.splitlines()
            whole_cell = bool(cell_lines) and cell_lines[0].lstrip().startswith("%%")
            for line in cell_lines:
                if whole_cell or _IPYTHON_LINE.match(line):
                    indentation = "" if whole_cell else line[: len(line) - len(line.lstrip())]
                    lines.append(indentation + _MASK.format(index=len(cell.masked)))
                    cell.masked.append(line)
                else:
                    lines.append(line)
        return "\n".join(lines) + "\n" if lines else ""

    def locate(self, line: int) -> tuple[int, int]:
        """(cell index, line within the cell) of a program line (a cell's boundary line counts
        as its first line)."""
        found = bisect.bisect_right(self._boundaries, line) - 1
        if found < 0:
            return (self.cells[0].index if self.cells else 1), 1
        cell = self.cells[found]
        return cell.index, max(1, line - cell.first_line + 1)

    def program_line(self, cell_index: int, line: int) -> int:
        return self._first_lines[cell_index] + line - 1

    def cell_lines(self) -> dict[int, list[str]]:
        return {cell.index: cell.source.splitlines() for cell in self.cells}

    # Writing fixed code back -------------------------------------------------------------

    def round_trips(self) -> bool:
        """Whether writing the JSON back gives these very bytes (as Jupyter and nbformat write
        it): only then can a fix rewrite the notebook without touching anything else."""
        return _dump(self.json) == self.raw

    def with_program(self, program: str) -> bytes:
        """The notebook with each code cell's source taken from a fixed `program`."""
        sources: dict[int, list[str]] = {}
        current = None
        for line in program.splitlines():
            boundary = _BOUNDARY_LINE.match(line)
            if boundary:
                current = int(boundary.group(1))
                sources[current] = []
            elif current is not None:
                sources[current].append(line)
        for cell in self.cells:
            lines = sources.get(cell.index)
            if lines is None:
                raise NotebookError(f"cell {cell.index} was lost while fixing")
            restored = []
            for line in lines:
                mask = _MASK_LINE.match(line)
                restored.append(cell.masked[int(mask.group(2))] if mask else line)
            text = "\n".join(restored)
            if text == "\n".join(cell.source.splitlines()):
                continue  # unchanged: keep the source exactly as it was
            if cell.source.endswith("\n"):
                text += "\n"
            original = self.json["cells"][cell.index - 1]
            original["source"] = text.splitlines(keepends=True) if isinstance(original.get("source"), list) else text
        return _dump(self.json)


def from_cells(cells: list[tuple[str, str]]) -> bytes:
    """A notebook of these (cell type, source) pairs, laid out as Jupyter writes it (an editor's
    open notebook, linted and fixed as its file would be)."""
    return _dump({
        "cells": [{"cell_type": kind, "metadata": {}, "source": source} for kind, source in cells],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    })


def _dump(notebook: dict) -> bytes:
    """nbformat's own layout: sorted keys, one-space indent, UTF-8, a final newline."""
    return (json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def place_in_cell(finding, notebook: Notebook) -> None:
    """Turn a finding's program position (and its fix's) into its cell and the lines in it."""
    cell, line = notebook.locate(finding.line)
    end_cell, end_line = notebook.locate(finding.end_line)
    finding.cell, finding.line = cell, line
    finding.end_line = end_line if end_cell == cell else line
    if finding.fix is not None:
        where = dict(finding.fix["range"])
        where["line"] = notebook.locate(where["line"])[1]
        where["end_line"] = notebook.locate(where["end_line"])[1]
        finding.fix = {**finding.fix, "range": where}

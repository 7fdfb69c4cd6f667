"""Where nodes are: one code generation pass over a module gives every node's position, the
module's code, and for the nodes a fix replaces their span in that code and the indentation
their code is generated with. Everything a finding needs later is then a lookup, never another
pass over the module.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from itertools import accumulate
from types import SimpleNamespace

import libcst as cst
from libcst._position import CodeRange
from libcst.metadata.position_provider import PositionProvidingCodegenState

# Lines end as Python's tokenizer ends them (and as the findings count them): "\r\n", "\r" or "\n".
LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Span:
    """A node's code in the module: `code[start:end]`, generated under `indent` (the enclosing
    blocks' indentation tokens)."""

    start: int
    end: int
    indent: tuple[str, ...]


@dataclass(frozen=False)
class _LocatingState(PositionProvidingCodegenState):
    # node -> (index of its first token, indentation) while generating, then its last token
    wanted: Collection[cst.CSTNode] = field(default_factory=frozenset)
    marks: dict = field(default_factory=dict)

    def before_codegen(self, node: cst.CSTNode) -> None:
        super().before_codegen(node)
        if node in self.wanted:
            self.marks[node] = (len(self.tokens), tuple(self.indent_tokens))

    def after_codegen(self, node: cst.CSTNode) -> None:
        super().after_codegen(node)
        if node in self.wanted:
            first, indent = self.marks[node]
            self.marks[node] = (first, len(self.tokens), indent)


class Located:
    """Positions (libcst's `PositionProvider` ranges), the module's code and the spans of `wanted`."""

    def __init__(self, module: cst.Module, wanted: Collection[cst.CSTNode] = ()) -> None:
        self.module = module
        provider = SimpleNamespace(_computed={})
        state = _LocatingState(
            default_indent=module.default_indent,
            default_newline=module.default_newline,
            provider=provider,
            wanted=frozenset(wanted),
        )
        module._codegen(state)
        self.positions: dict[cst.CSTNode, CodeRange] = provider._computed
        self.code = "".join(state.tokens)
        self.spans: dict[cst.CSTNode, Span] = {}
        if state.marks:
            offsets = list(accumulate(map(len, state.tokens), initial=0))
            for node, (first, last, indent) in state.marks.items():
                if last < len(offsets):  # a node ending in the newline the module drops has no span
                    self.spans[node] = Span(offsets[first], offsets[last], indent)
        self._line_starts: list[int] | None = None

    def line_column(self, offset: int) -> tuple[int, int]:
        """1-based line and column (in characters) of an offset in the code."""
        if self._line_starts is None:
            self._line_starts = [0] + [brk.end() for brk in LINE_BREAK.finditer(self.code)]
        index = bisect.bisect_right(self._line_starts, offset) - 1
        if offset and self.code[offset - 1 : offset + 1] == "\r\n":  # counted as a lone "\r", as the text before the offset ends
            return index + 2, 1
        return index + 1, offset - self._line_starts[index] + 1

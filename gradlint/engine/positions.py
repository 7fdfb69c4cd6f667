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
from libcst._position import CodePosition, CodeRange
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


class _Recording:
    """libcst's `record_syntactic_position` as a plain context manager: the same positions,
    without a generator per node (the pass's largest cost)."""

    __slots__ = ("state", "node", "start_node", "end_node", "start")

    def __init__(self, state, node, start_node, end_node) -> None:
        self.state, self.node, self.start_node, self.end_node = state, node, start_node, end_node

    def __enter__(self) -> None:
        self.start = CodePosition(self.state.line, self.state.column)

    def __exit__(self, *_exc) -> None:
        computed = self.state.provider._computed
        start = computed[self.start_node].start if self.start_node is not None else self.start
        end = computed[self.end_node].end if self.end_node is not None else CodePosition(self.state.line, self.state.column)
        computed[self.node] = CodeRange(start, end)


@dataclass(frozen=False)
class _LocatingState(PositionProvidingCodegenState):
    # node -> (index of its first token, indentation) while generating, then its last token
    wanted: Collection[cst.CSTNode] = field(default_factory=frozenset)
    marks: dict = field(default_factory=dict)

    def record_syntactic_position(self, node, *, start_node=None, end_node=None) -> _Recording:
        return _Recording(self, node, start_node, end_node)

    def _update_position(self, value: str) -> None:
        if "\n" in value or "\r" in value:
            super()._update_position(value)
        else:
            self.column += len(value)

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

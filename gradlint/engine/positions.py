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
        computed = self.state.ranges
        start = computed[id(self.start_node)].start if self.start_node is not None else self.start
        end = computed[id(self.end_node)].end if self.end_node is not None else CodePosition(self.state.line, self.state.column)
        computed[id(self.node)] = CodeRange(start, end)


@dataclass(frozen=False)
class _LocatingState(PositionProvidingCodegenState):
    """libcst's position-providing code generation, keyed by `id(node)`: a node's own `__hash__`
    is a Python call, three per node in the pass."""

    ranges: dict = field(default_factory=dict)  # id(node) -> CodeRange
    wanted: Collection[int] = field(default_factory=frozenset)  # ids of the nodes to find spans for
    # id(node) -> (index of its first token, indentation) while generating, then its last token
    marks: dict = field(default_factory=dict)

    def record_syntactic_position(self, node, *, start_node=None, end_node=None) -> _Recording:
        return _Recording(self, node, start_node, end_node)

    def _update_position(self, value: str) -> None:
        if "\n" in value or "\r" in value:
            super()._update_position(value)
        else:
            self.column += len(value)

    def before_codegen(self, node: cst.CSTNode) -> None:
        self._stack.append(CodePosition(self.line, self.column))
        key = id(node)
        if key in self.wanted:
            self.marks[key] = (len(self.tokens), tuple(self.indent_tokens))

    def after_codegen(self, node: cst.CSTNode) -> None:
        start = self._stack.pop()
        key = id(node)
        if key not in self.ranges:  # a syntactic position, recorded while generating, stays
            self.ranges[key] = CodeRange(start, CodePosition(self.line, self.column))
        if key in self.wanted:
            first, indent = self.marks[key]
            self.marks[key] = (first, len(self.tokens), indent)


class Located:
    """libcst's `PositionProvider` range of every node, the module's code and the spans of `wanted`."""

    def __init__(self, module: cst.Module, wanted: Collection[cst.CSTNode] = ()) -> None:
        self.module = module
        state = _LocatingState(
            default_indent=module.default_indent,
            default_newline=module.default_newline,
            provider=None,  # positions go to `ranges`
            wanted=frozenset(map(id, wanted)),
        )
        module._codegen(state)
        self._ranges: dict[int, CodeRange] = state.ranges  # the module keeps every node (and id) alive
        self.code = "".join(state.tokens)
        self._spans: dict[int, Span] = {}
        if state.marks:
            offsets = list(accumulate(map(len, state.tokens), initial=0))
            for key, (first, last, indent) in state.marks.items():
                if last < len(offsets):  # a node ending in the newline the module drops has no span
                    self._spans[key] = Span(offsets[first], offsets[last], indent)
        self._line_starts: list[int] | None = None

    def position(self, node: cst.CSTNode) -> CodeRange | None:
        return self._ranges.get(id(node))

    def span(self, node: cst.CSTNode) -> Span | None:
        return self._spans.get(id(node))

    def line_column(self, offset: int) -> tuple[int, int]:
        """1-based line and column (in characters) of an offset in the code."""
        if self._line_starts is None:
            self._line_starts = [0] + [brk.end() for brk in LINE_BREAK.finditer(self.code)]
        index = bisect.bisect_right(self._line_starts, offset) - 1
        if offset and self.code[offset - 1 : offset + 1] == "\r\n":  # counted as a lone "\r", as the text before the offset ends
            return index + 2, 1
        return index + 1, offset - self._line_starts[index] + 1

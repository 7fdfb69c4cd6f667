"""Where nodes are: one code generation pass over a module gives every node's position, the
module's code, and for the nodes a fix replaces their span in that code and the indentation
their code is generated with. Everything a finding needs later is then a lookup, never another
pass over the module.

The pass records, for each node, the indices of its first and last tokens; a position is made
from them only when it is asked for (a few nodes of the tree's thousands).
"""

from __future__ import annotations

import bisect
import contextlib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

import libcst as cst
from libcst._nodes.internal import CodegenState
from libcst._position import CodePosition, CodeRange

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
    """libcst's `record_syntactic_position` as a plain context manager, in token indices."""

    __slots__ = ("state", "node", "start_node", "end_node", "start")

    def __init__(self, state, node, start_node, end_node) -> None:
        self.state, self.node, self.start_node, self.end_node = state, node, start_node, end_node

    def __enter__(self) -> None:
        self.start = len(self.state.tokens)

    def __exit__(self, *_exc) -> None:
        ranges = self.state.ranges
        start = ranges[id(self.start_node)][0] if self.start_node is not None else self.start
        end = ranges[id(self.end_node)][1] if self.end_node is not None else len(self.state.tokens)
        ranges[id(self.node)] = (start, end)


@dataclass(frozen=False)
class _LocatingState(CodegenState):
    """libcst's code generation recording what its `PositionProvider` records, as token indices
    keyed by `id(node)`, for the nodes asked about only (and the nodes their syntactic positions
    start or end at): no line and column counted per token, no position kept per node."""

    placed: set = field(default_factory=set)  # ids of the nodes whose position is asked for
    wanted: Collection[int] = field(default_factory=frozenset)  # ids of the nodes to find spans for
    watched: set = field(default_factory=set)  # placed | wanted: one lookup for each node generated
    ranges: dict = field(default_factory=dict)  # id(node) -> (first token, end token)
    starts: dict = field(default_factory=dict)  # id(node) -> its first token, for placed and wanted nodes
    # id(node) -> indentation while generating, then (first token, end token, indentation)
    marks: dict = field(default_factory=dict)
    dropped: bool = False  # the last token is the trailing newline the module drops

    def record_syntactic_position(self, node, *, start_node=None, end_node=None):
        if id(node) not in self.placed:
            return _NO_RECORDING
        # Generated inside the recording: their ranges are known when it ends.
        for child in (start_node, end_node):
            if child is not None:
                self.placed.add(id(child))
                self.watched.add(id(child))
        return _Recording(self, node, start_node, end_node)

    def before_codegen(self, node: cst.CSTNode) -> None:
        key = id(node)
        if key in self.watched:
            self.starts[key] = len(self.tokens)
            if key in self.wanted:
                self.marks[key] = tuple(self.indent_tokens)

    def after_codegen(self, node: cst.CSTNode) -> None:
        key = id(node)
        if key in self.placed and key not in self.ranges:  # a syntactic position, recorded while generating, stays
            self.ranges[key] = (self.starts[key], len(self.tokens))
        if key in self.wanted:  # the module's own code ends before the newline it drops
            self.marks[key] = (self.starts[key], len(self.tokens) - self.dropped, self.marks[key])

    def pop_trailing_newline(self) -> None:
        # Kept among the tokens, left out of the code: positions still count it, as libcst's
        # do (the module ends after it).
        self.dropped = bool(self.tokens)


class _PlainState(CodegenState):
    """libcst's code generation state without its per-node context manager, which is made from a
    generator function for each node and costs more than generating most nodes' code."""

    def record_syntactic_position(self, node, *, start_node=None, end_node=None) -> contextlib.nullcontext:
        return _NO_RECORDING


_NO_RECORDING = contextlib.nullcontext()


def code_for_node(module: cst.Module, node: cst.CSTNode, indent: Sequence[str] = ()) -> str:
    """`module.code_for_node(node)`, the same text, generated faster; given `indent` (the
    enclosing blocks' indentation tokens), as the node's code inside them."""
    state = _PlainState(
        default_indent=module.default_indent, default_newline=module.default_newline, indent_tokens=list(indent)
    )
    node._codegen(state)
    return "".join(state.tokens)


class Located:
    """libcst's `PositionProvider` range of the nodes in `placed`, the module's code and the
    spans of `wanted`."""

    def __init__(
        self, module: cst.Module, wanted: Collection[cst.CSTNode] = (), placed: Collection[cst.CSTNode] = ()
    ) -> None:
        self.module = module
        placed_ids, wanted_ids = set(map(id, placed)), frozenset(map(id, wanted))
        state = _LocatingState(
            default_indent=module.default_indent,
            default_newline=module.default_newline,
            placed=placed_ids,
            wanted=wanted_ids,
            watched=placed_ids | wanted_ids,
        )
        module._codegen(state)
        self._ranges: dict[int, tuple[int, int]] = state.ranges  # the module keeps every node (and id) alive
        generated = "".join(state.tokens)
        self.code = generated[: -len(state.tokens[-1])] if state.dropped else generated
        self._offsets = list(accumulate(map(len, state.tokens), initial=0))  # token index -> offset
        self._token_lines = _token_line_starts(generated, self._offsets)
        self._spans: dict[int, Span] = {}
        for key, (first, last, indent) in state.marks.items():
            if not (state.dropped and last == len(state.tokens)):  # a node ending in the newline the module drops has no span
                self._spans[key] = Span(self._offsets[first], self._offsets[last], indent)
        self._line_starts: list[int] | None = None

    def position(self, node: cst.CSTNode) -> CodeRange | None:
        found = self._ranges.get(id(node))
        if found is None:
            return None
        return CodeRange(self._at(found[0]), self._at(found[1]))

    def _at(self, token: int) -> CodePosition:
        offset = self._offsets[token]
        index = bisect.bisect_right(self._token_lines, offset) - 1
        return CodePosition(index + 1, offset - self._token_lines[index])

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


def _token_line_starts(code: str, offsets: list[int]) -> list[int]:
    """The offsets where lines start, counted as libcst counts them: token by token, so that a
    "\\r" ending one token and a "\\n" starting the next are two line breaks."""
    starts = [0] + [brk.end() for brk in LINE_BREAK.finditer(code)]
    if "\r\n" in code:
        boundaries = set(offsets)
        split = [brk.start() + 1 for brk in re.finditer("\r\n", code) if brk.start() + 1 in boundaries]
        if split:
            starts = sorted(starts + split)
    return starts

"""One walk of a libcst tree that feeds every rule's `visit_*` / `leave_*` methods.

libcst's own visitors rebuild each node's children as they go, which costs as much as the
parse; this walk only reads dataclass fields and skips whitespace and punctuation, which no
rule looks at. Rules see nodes in a depth-first order that follows the fields of each node
(source order for expressions and statements; a function's decorators come after its body).
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Iterator
from typing import Any

import libcst as cst

# Fields that only hold whitespace, comments, punctuation or operators.
_SKIPPED_FIELDS = frozenset(
    {
        "lpar", "rpar", "comma", "dot", "semicolon", "equal", "colon", "header", "footer",
        "leading_lines", "lines_after_decorators", "asynchronous", "indent", "operator",
        "lbracket", "rbracket", "lbrace", "rbrace", "newline", "trailing_whitespace",
        "star", "arrow", "whitespace",
    }
)
_child_fields: dict[type, tuple[str, ...]] = {}


def child_fields(cls: type) -> tuple[str, ...]:
    names = _child_fields.get(cls)
    if names is None:
        names = tuple(
            f.name
            for f in dataclasses.fields(cls)
            if f.name not in _SKIPPED_FIELDS and not f.name.startswith("whitespace")
        )
        _child_fields[cls] = names
    return names


# `isinstance(x, cst.CSTNode)` is an ABC check and the walk's hottest call: answer it once per type.
_is_node: dict[type, bool] = {}


def _node_type(cls: type) -> bool:
    known = _is_node.get(cls)
    if known is None:
        known = _is_node[cls] = issubclass(cls, cst.CSTNode)
    return known


# type -> a function giving the values of its child fields as a tuple (one C call for them all).
_field_getters: dict[type, Callable[[Any], tuple]] = {}


def _field_getter(cls: type) -> Callable[[Any], tuple]:
    names = child_fields(cls)
    if not names:
        getter = _no_fields
    elif len(names) == 1:
        one = operator.attrgetter(names[0])
        getter = lambda node: (one(node),)  # noqa: E731 - attrgetter of one name gives no tuple
    else:
        getter = operator.attrgetter(*names)
    _field_getters[cls] = getter
    return getter


def _no_fields(_node: Any) -> tuple:
    return ()


def iter_children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The child nodes of `node` in field order, whitespace and punctuation left out."""
    getter = _field_getters.get(type(node)) or _field_getter(type(node))
    found = []
    for value in getter(node):
        cls = type(value)
        if cls is tuple or cls is list:
            for item in value:
                if _node_type(type(item)):
                    found.append(item)
        elif _node_type(cls):
            found.append(value)
    return found


def iter_tree(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Every node under `node`, itself included, in walk order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        children = iter_children(current)
        children.reverse()
        stack.extend(children)


Handler = Callable[[Any], Any]


class HandlerError(Exception):
    """A rule's handler raised; carries the handler so the engine can name the rule."""

    def __init__(self, handler: Handler, error: BaseException) -> None:
        super().__init__(str(error))
        self.handler = handler
        self.error = error


def walk(root: cst.CSTNode, visitors: dict[type, list[Handler]], leavers: dict[type, list[Handler]]) -> None:
    """Depth-first walk calling `visitors[type]` on entry and `leavers[type]` on exit.

    A handler that raises stops the walk with `HandlerError`; the engine then drops that
    rule for this file and walks again with the others.
    """
    leave_marker = object()
    # A node with no handler and no child fields (a comma, a parenthesis, an operator) has
    # nothing to do in the walk: it is not pushed. Answered once per type.
    walked: dict[type, bool] = {}
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if node is leave_marker:
            node = stack.pop()
            handlers = leavers.get(type(node))
        else:
            handlers = visitors.get(type(node))
            if type(node) in leavers:  # else nothing happens on the way back up
                stack.append(node)
                stack.append(leave_marker)
            children = []
            for child in iter_children(node):
                cls = type(child)
                keep = walked.get(cls)
                if keep is None:
                    keep = walked[cls] = cls in visitors or cls in leavers or bool(child_fields(cls))
                if keep:
                    children.append(child)
            children.reverse()
            stack.extend(children)
        if handlers:
            for handler in handlers:
                try:
                    handler(node)
                except Exception as error:
                    raise HandlerError(handler, error) from error

"""Views: torch expressions whose result shares the storage of another tensor.

An in-place write to a view writes the tensor it views, and bumps the version counter that the
two share (the one autograd checks for every tensor it saved). Which APIs return a view is data
(`torch_training_views`: `.view`, `.reshape`, `.t()`, `torch.chunk`, `.split`, `.detach()`,
...); basic indexing (slices, integers, `...`, `None`) makes a view too, and a tensor or list
index a copy.
"""

from __future__ import annotations

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.syntax import argument

VIEWS = api_table("torch_training_views")
_VIEW_ATTRIBUTES = frozenset(VIEWS.info["attributes"])


def view_base(node: cst.BaseExpression, names) -> cst.BaseExpression | None:
    """The expression whose storage `node` shares, one step: `a` for `a.view(-1)`, `a[:, 1:]`,
    `a.T` or `torch.chunk(a, 2)` (a tuple of views of `a`); None when `node` is not a view."""
    if isinstance(node, cst.Call):
        if names.method(node) in VIEWS.methods:
            return node.func.value  # type: ignore[union-attr]
        if names.qualified_names(node.func) & VIEWS:
            return argument(node, ("input", "self"), 0)
        return None
    if isinstance(node, cst.Attribute) and node.attr.value in _VIEW_ATTRIBUTES:
        return node.value
    if isinstance(node, cst.Subscript) and all(_basic_index(element.slice) for element in node.slice):
        return node.value
    return None


def viewed_name(node: cst.BaseExpression, names) -> str | None:
    """The name whose storage `node` shares, through any chain of views: `a` for `a`,
    `a.view(-1).t()`, `a[:, 1:]`; None when `node` is not a name or a view of one."""
    for _ in range(16):
        if isinstance(node, cst.Name):
            return node.value
        base = view_base(node, names)
        if base is None:
            return None
        node = base
    return None


def _basic_index(index: cst.BaseSlice) -> bool:
    """A slice, an integer, `...` or `None`: basic indexing, which makes a view (a tensor or
    list index copies)."""
    if isinstance(index, cst.Slice):
        return True
    inner = index.value
    if isinstance(inner, cst.UnaryOperation):
        inner = inner.expression
    return isinstance(inner, (cst.Integer, cst.Ellipsis)) or (isinstance(inner, cst.Name) and inner.value == "None")

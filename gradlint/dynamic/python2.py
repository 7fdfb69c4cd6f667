"""Running the Python 3 reading of a Python 2 file (`gradlint.engine.legacy`) honestly.

The reading changes spellings only (`print x`, `except E, e`); what Python 3 computes differently
from the same text is guarded so that a check never rests on it:

- `a / b` of two integers floors in Python 2: each `/` goes through `divide`, which divides as
  both agree (a float on either side) and otherwise touches a stand-in, so the verdict of a check
  that needed it is inconclusive;
- `round` rounds halves away from zero and gives a float in Python 2: a tie touches a stand-in;
- `map`, `filter` and `zip` give lists (an iterator read twice would be empty the second time),
  and `xrange`, `unicode`, `basestring`, `long`, `reduce` are bound to their Python 3 meanings.

What Python 3 refuses (`dict.iteritems`, comparing `None < 1`) fails loudly by itself.
"""

from __future__ import annotations

import ast
import builtins
import functools
import numbers
from typing import Any

from gradlint.dynamic.unavailable import StandInTouched

DIVIDE = "__gradlint_py2_divide__"
DIVISOR = "__gradlint_py2_divisor__"
INTEGER_DIVISION = "`/` of two integers, which Python 2 floors and Python 3 does not (a Python 2 file)"
ROUND_TIE = "`round` of a half, which Python 2 rounds away from zero and Python 3 to even (a Python 2 file)"
LABEL = "Python 2 code run as its Python 3 reading, with Python 2's `/`, `round`, `map`, `filter` and `zip`"


def _integral(value: Any) -> bool:
    """A Python or NumPy integer, or an array or tensor of integers (booleans included)."""
    if isinstance(value, (bool, numbers.Integral)):
        return True
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return False
    kind = getattr(dtype, "kind", None)  # NumPy
    if kind is not None:
        return kind in "biu"
    text = str(dtype)
    return any(word in text for word in ("int", "bool"))


class _Divide(ast.NodeTransformer):
    """`a / b` as `divide(a, b)`; `t /= b` as `t /= divisor(t, b)` (the target stays in place)."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Div):
            return ast.copy_location(ast.Call(ast.Name(DIVIDE, ast.Load()), [node.left, node.right], []), node)
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Div):
            target = _as_load(node.target)
            node.value = ast.copy_location(ast.Call(ast.Name(DIVISOR, ast.Load()), [target, node.value], []), node.value)
        return node


def _as_load(target: ast.expr) -> ast.expr:
    """The augmented target read: a name, attribute or subscript, evaluated once more."""
    copy = ast.parse(ast.unparse(target), mode="eval").body
    return ast.copy_location(copy, target)


def transform(tree: ast.Module) -> ast.Module:
    return ast.fix_missing_locations(_Divide().visit(tree))


def names(used: list[str]) -> dict[str, Any]:
    """The names the transformed code calls, and Python 2's builtins, for its namespace."""

    def touch(why: str) -> None:
        used.append(why)
        raise StandInTouched(why)

    def divisor(left: Any, right: Any) -> Any:
        if _integral(left) and _integral(right):
            touch(INTEGER_DIVISION)
        return right

    def divide(left: Any, right: Any) -> Any:
        return left / divisor(left, right)

    def round2(number: Any, ndigits: Any = None) -> Any:
        if not isinstance(number, (numbers.Real,)) or isinstance(number, bool):
            return builtins.round(number, ndigits) if ndigits is not None else builtins.round(number)
        scaled = float(number) * 10 ** (ndigits or 0)
        if scaled - int(scaled) in (0.5, -0.5):
            touch(ROUND_TIE)
        return float(builtins.round(number, ndigits or 0))

    return {
        DIVIDE: divide, DIVISOR: divisor, "round": round2,
        "map": lambda *a: list(builtins.map(*a)), "filter": lambda *a: list(builtins.filter(*a)),
        "zip": lambda *a: list(builtins.zip(*a)),
        "xrange": range, "unicode": str, "basestring": str, "long": int, "reduce": functools.reduce,
        "raw_input": builtins.input, "unichr": chr,
    }

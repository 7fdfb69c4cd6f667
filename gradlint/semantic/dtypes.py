"""The floating precision of an array, from where it was made: "float32", "float64" or None.

`torch.randn(5)` is float32 (torch's default) unless the module switches the default with
`torch.set_default_dtype`; `np.random.randn(5)` is float64; `x.astype(np.float32)`,
`x.double()`, `dtype=torch.float64` say it outright; `torch.zeros_like(x)`, `x.clone()`,
`torch.from_numpy(a)` and `x + h` keep what their operands hold. Names are followed to the
expressions they may hold (`ModuleModel.origins`), a function's parameter to what the module
passes it. Anything else (JAX's default, which `jax_enable_x64` may switch from outside the
file; a value from an unknown call) is None: not known, not guessed.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.syntax import argument, string
from gradlint.engine.walker import iter_tree

PRECISION = api_table("semantic_precision")
_INFO = PRECISION.info
_FLOAT32, _FLOAT64 = frozenset(_INFO["float32"]), frozenset(_INFO["float64"])
_DEFAULTS: dict[str, str] = _INFO["defaults"]
_SWITCHES = frozenset(_INFO["switches"])
_CONVERTS = frozenset(_INFO["converts"])
MAX_DEPTH = 6


def precision(model, node: cst.BaseExpression, scopes: Sequence[cst.CSTNode] = (), depth: int = 0) -> str | None:
    """The precision of the array `node` holds, read inside `scopes`; None when not known."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(node, (cst.Name, cst.Attribute)) and not model.names.qualified_names(node):
        origins = model.origins(node, scopes)
        if not origins or any(origin is node for origin in origins):
            return None
        return _join([precision(model, origin, scopes, depth + 1) for origin in origins])
    if isinstance(node, cst.Subscript):
        return precision(model, node.value, scopes, depth + 1)
    if isinstance(node, cst.BinaryOperation):
        sides = [side for side in (node.left, node.right) if not isinstance(side, (cst.Integer, cst.Float))]
        found = [precision(model, side, scopes, depth + 1) for side in sides]
        # Both frameworks promote: float32 with float64 gives float64.
        return "float64" if "float64" in found else _join(found)
    if isinstance(node, cst.Call):
        return _call(model, node, scopes, depth)
    return None


def _call(model, call: cst.Call, scopes, depth: int) -> str | None:
    names = model.names
    given = _dtype(model, argument(call, "dtype"))
    if given is not None:
        return given
    method = names.method(call)
    if method is not None:
        if method in _INFO["to64"]:
            return "float64"
        if method in _INFO["to32"]:
            return "float32"
        receiver = call.func.value  # type: ignore[union-attr]
        if method in _INFO["casts"]:
            return _dtype(model, call.args[0].value) if call.args else None
        if method in _INFO["keeps"]:
            return precision(model, receiver, scopes, depth + 1)
        return None
    qualified = names.qualified_names(call.func)
    if not qualified:
        return None
    first = call.args[0].value if call.args and not call.args[0].keyword else None
    if any(name.endswith("_like") for name in qualified) and first is not None:
        return precision(model, first, scopes, depth + 1)
    if qualified & _CONVERTS and first is not None and not isinstance(
        first, (cst.List, cst.Tuple, cst.Float, cst.Integer, cst.UnaryOperation)
    ):
        return precision(model, first, scopes, depth + 1)  # `torch.from_numpy(a)` keeps `a`'s dtype
    for prefix, default in _DEFAULTS.items():
        if any(name.startswith(prefix) for name in qualified):
            return "float64" if _switched(model, prefix) else default
    return None


def _dtype(model, node: cst.BaseExpression | None) -> str | None:
    """`torch.float64`, `np.float32`, `"float64"`, `tf.double`: the precision a dtype names."""
    if node is None:
        return None
    text = string(node)
    if text is not None:
        return "float32" if text in _INFO["strings32"] else "float64" if text in _INFO["strings64"] else None
    qualified = model.names.qualified_names(node)
    if qualified & _FLOAT32:
        return "float32"
    if qualified & _FLOAT64:
        return "float64"
    return None


def _switched(model, prefix: str) -> bool:
    """The module switches the framework's default dtype (`torch.set_default_dtype(...)`):
    its constructors' precision is then not their default; read as float64, the usual switch."""
    memo = model.precision_switches
    if prefix not in memo:
        memo[prefix] = any(
            isinstance(node, cst.Call) and any(name.startswith(prefix) for name in model.names.qualified_names(node.func) & _SWITCHES)
            for node in iter_tree(model.module)
        )
    return memo[prefix]


def _join(found: list[str | None]) -> str | None:
    known = set(found)
    return known.pop() if len(known) == 1 and None not in known else None

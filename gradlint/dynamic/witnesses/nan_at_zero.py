"""GL030: a root or norm whose argument can be exactly zero has a non-finite gradient there.

The flagged call is evaluated with its argument replaced by an input, at the zero point, and the
gradient with respect to that input is inspected.
"""

from __future__ import annotations

import ast

import numpy as np

from gradlint.dynamic.backends import describe_array
from gradlint.dynamic.probe import Inconclusive, Probe, confirmed, not_reproduced

SHAPES = ((2, 3), (3,), (1, 3))


def _argument(call: ast.AST) -> ast.expr:
    if isinstance(call, ast.Call) and call.args:
        return call.args[0]
    if isinstance(call, ast.Call) and call.keywords:
        return call.keywords[0].value
    if isinstance(call, ast.BinOp) and isinstance(call.op, ast.Pow):
        return call.left
    raise Inconclusive(f"cannot tell the argument of `{ast.unparse(call)}`")


def witness(probe: Probe):
    call = probe.target
    expression = probe.expression(call, holes={"argument": _argument(call)}, inline_locals=False)
    if expression.inputs != ["argument"]:
        raise Inconclusive(f"`{expression.source}` also needs {', '.join(i for i in expression.inputs if i != 'argument')}")
    errors = []
    for shape in SHAPES:
        try:
            value, grads = probe.backend.gradients(expression, {"argument": np.zeros(shape)})
        except Exception as error:  # noqa: BLE001 - try the next shape
            errors.append(f"{type(error).__name__}: {error}"[:160])
            continue
        grad = grads["argument"]
        inputs = f"argument = zeros{shape} (float64)"
        if grad is None:
            return not_reproduced(f"`{expression.source}` has no gradient with respect to its argument", inputs)
        if not np.all(np.isfinite(grad)):
            return confirmed(f"d `{expression.source}` / d argument at argument = 0 is {describe_array(grad)}", inputs)
        return not_reproduced(f"d `{expression.source}` / d argument at argument = 0 is {describe_array(grad)}: finite", inputs)
    raise Inconclusive(f"could not evaluate `{expression.source}`: {errors[-1]}")

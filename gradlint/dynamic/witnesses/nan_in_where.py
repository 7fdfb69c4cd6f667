"""GL040: a `where` whose unselected branch is infinite passes a NaN gradient through the mask.

The flagged branch is walked up to its `where` call (or a reduction with `where=`), which is evaluated with its free variables
as inputs (locals inlined, `self.attr` weights as scalar inputs, methods of the class bound)
on a grid of points that includes the boundary of the condition: 0, +-1, +-0.5, the numbers
the condition compares against and their square roots, and each scalar parameter and its
square root (`x**2 = sigma`), and for an exponential that overflows (GL040 says "overflows to
inf") +-1000, where it does so even in float64. It is confirmed when the gradient is non-finite at a point where
the value itself is finite: the NaN comes from the branch the `where` did not select.
"""

from __future__ import annotations

import ast

import numpy as np

from gradlint.dynamic.backends import describe_array
from gradlint.dynamic.probe import SELF_PREFIX, Inconclusive, Probe, confirmed, not_reproduced, numeric_defaults

WHERES = ("where", "select", "switch")
# Points every grid holds: the singular points of log, 1/x, sqrt (0), log1p (-1), arcsin (+-1).
BASE_POINTS = (0.0, 1.0, -1.0, 0.5, -0.5, 2.0, 3.0)
# Values tried for scalar parameters such as a layer's `self.sigma` (the measured bump uses the
# bump with 1); each is a square, so the boundary x**2 = sigma falls on a grid point.
PARAMETER_VALUES = (1.0, 0.25)
# GL040's words for an exponential that overflows in the branch left out, and the points where
# `exp` overflows in float64 (above about 709).
OVERFLOW_FINDING = "overflows to inf"
OVERFLOW_POINTS = (1000.0, -1000.0)
MAX_SHOWN = 4


def _callee(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


def _where_call(probe: Probe, node: ast.AST) -> ast.Call:
    for candidate in (node, *probe.ancestors(node)):
        if isinstance(candidate, ast.Call) and (
            _callee(candidate) in WHERES or any(k.arg == "where" for k in candidate.keywords)  # `jnp.sum(..., where=m)`
        ):
            return candidate
        if isinstance(candidate, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            break
    raise Inconclusive(f"no `where` call around `{ast.unparse(node)}`")


def _numbers(node: ast.AST) -> set[float]:
    found = set()
    for inner in ast.walk(node):
        if isinstance(inner, ast.Constant) and isinstance(inner.value, (int, float)) and not isinstance(inner.value, bool):
            found.add(float(inner.value))
    return found


def _grid(constants: set[float], parameters: list[float], overflow: bool) -> np.ndarray:
    points = set(BASE_POINTS) | (set(OVERFLOW_POINTS) if overflow else set())
    for value in (*constants, *parameters):
        points.update((value, -value))
        if value > 0:
            points.update((np.sqrt(value), -np.sqrt(value)))
    return np.array(sorted(points))


def _split(expression) -> tuple[list[str], list[str]]:
    """(array inputs, scalar `self` parameters such as a layer's weight)."""
    scalars = [name for name in expression.inputs if name.startswith(SELF_PREFIX)]
    return [name for name in expression.inputs if name not in scalars], scalars


def witness(probe: Probe):
    where = _where_call(probe, probe.target)
    expression = probe.expression(where, inline_locals=True)
    arrays, scalars = _split(expression)
    defaults = {name: value for name, value in numeric_defaults(expression.function).items() if name in arrays}
    arrays = [name for name in arrays if name not in defaults]
    if not arrays and not scalars:
        raise Inconclusive(f"`{expression.source}` has no inputs to vary")
    constants = _numbers(expression.node) | set(defaults.values())
    checked = []
    for parameter in PARAMETER_VALUES if scalars else (None,):
        grid = _grid(constants, [parameter] if parameter is not None else [], OVERFLOW_FINDING in probe.job.message)
        values = {name: grid for name in arrays} | {name: np.array(parameter) for name in scalars}
        values |= {name: np.array(value) for name, value in defaults.items()}

        def function(**inputs):
            return expression(**inputs)

        try:
            value, grads = probe.backend.gradients(function, values)
        except Exception as error:  # noqa: BLE001 - say why the experiment did not run
            raise Inconclusive(f"could not evaluate `{expression.source}`: {type(error).__name__}: {error}") from None
        setting = ", ".join(f"`{n}` = {values[n]:g}" for n in (*scalars, *defaults))
        inputs = f"{', '.join(arrays)} = {describe_array(grid, 16)} (float64)" + (f"; {setting}" if setting else "")
        value = np.asarray(value, dtype=float)
        for name in (*arrays, *scalars):
            grad = grads.get(name)
            if grad is None:
                continue
            grad = np.asarray(grad, dtype=float)
            bad = ~np.isfinite(grad)
            if name in arrays and value.shape == grad.shape:
                bad &= np.isfinite(value)  # the value there is fine: the NaN is from the masked branch
            elif not np.all(np.isfinite(value)):
                continue  # the value itself is not finite: not this pitfall
            if bad.any():
                # Every array input holds the grid: the point is where all of them take that value
                # (the NaN of d/d`x` may come from `y` there).
                at = " = ".join(f"`{n}`" for n in arrays)
                where_text = f"{at} = {describe_array(grid[bad][:MAX_SHOWN])}" if name in arrays else "every point"
                return confirmed(
                    f"d `{expression.source}` / d `{name}` is {describe_array(grad[bad][:MAX_SHOWN])} at {where_text}"
                    f"{' (' + setting + ')' if setting else ''}, where the value is finite",
                    inputs,
                )
            checked.append((name, grad, grid, inputs))
    if not checked:
        raise Inconclusive(f"`{expression.source}` has no gradient with respect to {', '.join(arrays + scalars)}")
    name, grad, grid, inputs = checked[0]
    shown = f" (at `{name}` = {describe_array(grid)}: {describe_array(grad)})" if grad.shape == grid.shape else ""
    return not_reproduced(
        f"d `{expression.source}` / d `{name}` is finite at every point tried, the condition's boundary included{shown}",
        inputs,
    )

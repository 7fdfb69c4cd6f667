"""GL030: a root or L2 norm of a quantity that is exactly zero has a non-finite gradient there.

The flagged root or norm is evaluated with its own inputs (locals inlined, so the inputs are
the function's parameters), all set to the same array: then every difference `a - b` is zero,
as is the variance of a constant. The point counts only if the quantity under the root really
is zero there (or within an epsilon of it, so that a repaired `sqrt(s + 1e-12)` is tested at
the same point and found finite). When the inputs cannot be built (integer indices, dicts,
models), the difference inside the flagged expression, or the norm's argument, is replaced by
an input at zero instead. The evidence says which point was used.

The code's own selection is kept: a mask computed in the function (`pos = d2 > 0`, then
`sqrt(d2[pos])`) is inlined with the rest, and when it selects nothing at the zero point the
root never sees a zero (not reproduced). A root of `quantity[mask]` whose mask has no value here
(a parameter, a loop) is inconclusive: selecting every entry instead would drop that context.

A clamp applied to the root's result (`sqrt(s).clamp(min=eps)`, `maximum(norm(x), eps)`, or
`r = rsqrt(s)` then `minimum(r, 1 / eps)`) is evaluated with it: it fixes the value, and in
some frameworks the gradient too (TF's `sqrt`), so the verdict is the clamped code's.

A variance written as E[x²] - E[x]² (GL030 says it "rounds below zero") is run in float32 on
constant inputs of several values, where that difference rounds: it is confirmed when the code
gets a NaN value or gradient there, even with its epsilon.

Where the zero was put into an intermediate value (`var` from `mean, var = moments(x)`), the
root alone has an infinite gradient; the enclosing function is then run on constant inputs too,
and the evidence quotes the NaN the code itself gets there.
"""

from __future__ import annotations

import ast

import numpy as np

from gradlint.dynamic.backends import describe_array
from gradlint.dynamic.probe import CONFIRMED, NOT_REPRODUCED, Expression, Inconclusive, Probe, confirmed, free_names, not_reproduced, numeric_defaults, parameter_defaults

# Shapes tried in turn: pairwise differences and einsum need a matrix, `dot` a vector,
# moments over axes [1, 2] a rank-4 array.
SHAPES = ((2, 3), (3,), (2, 3, 4), (2, 3, 4, 2))
# Identical pairs first (a non-constant value, so no product collapses to 0 by accident),
# then a constant (a variance or `x - mean(x)` is zero only there).
PATTERN = np.array([0.5, -1.25, 2.0, 0.75, -0.5, 1.5, 3.0, -2.0])
# Last, zeros: for a root of an input that is itself the zero quantity (`sqrt(variance)` with
# `mean, variance = moments(x)`).
FILLS = (("identical inputs", "pattern"), ("identical constant inputs", "ones"), ("zero inputs", "zeros"))
# Clamps a root's result may go through (by the last part of their name, as spelled).
CLAMPS = frozenset({"clamp", "clip", "clamp_min", "clamp_max", "maximum", "minimum", "clip_by_value"})
# The quantity under the root counts as zero up to an epsilon: the repairs add 1e-12 ... 1e-5.
ZERO_REACHED = 1e-4

# GL030's words for a variance written as a difference of moments, and the constant values
# it is run with in float32 (their squares round, so the difference rarely comes out exactly 0).
ROUNDING_FINDING = "rounds below zero"
ROUNDING_VALUES = (0.1, 0.7, 3.3, 7.7, 10.1, 33.3, 101.7)

NORMS = ("norm", "vector_norm", "reduce_euclidean_norm")
ROOTS = ("sqrt", "rsqrt")
POWERS = ("pow", "power")
SUBTRACTS = ("subtract", "sub", "squared_difference")
GATHERS = ("gather", "take", "index_select", "take_along_axis")


def index_inputs(node: ast.AST) -> dict[str, bool]:
    """Names used as integer indices (`gather(means, labels)`, `x[pairs[:, 0]]`), each with
    whether it is itself sliced (then it needs two columns)."""
    found: dict[str, bool] = {}
    for inner in ast.walk(node):
        places: list[ast.AST] = []
        data: set[str] = set()
        if isinstance(inner, ast.Call) and _callee(inner) in GATHERS:
            places = [*inner.args[1:], *(k.value for k in inner.keywords if k.arg in ("indices", "index"))]
        elif isinstance(inner, ast.Subscript):
            places = [inner.slice]
            data = set(free_names(inner.value))  # `d2[d2 > 0]`: a mask computed from the data itself
        for place in places:
            for name in ast.walk(place):
                if isinstance(name, ast.Name) and name.id not in data:
                    found.setdefault(name.id, False)
                if isinstance(name, ast.Subscript) and isinstance(name.value, ast.Name):
                    found[name.value.id] = True
    return found


def index_value(backend, rows: int, sliced: bool):
    """Indices that pick every row once, in order, so identical inputs stay identical."""
    array = np.arange(rows)
    if sliced:
        array = np.stack([array, array], axis=1)
    if backend.name == "torch":
        return backend.torch.as_tensor(array, device=backend.device)
    if backend.name == "tensorflow":
        return backend.tf.constant(array)
    if backend.name == "jax":
        import jax.numpy as jnp

        return jnp.asarray(array)
    return array


def _callee(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


def _is_method(call: ast.Call) -> bool:
    """`d.sqrt()`, `s.pow(0.5)`: a method on a value, not a module function (`torch.sqrt(s)`)."""
    if not isinstance(call.func, ast.Attribute):
        return False
    return (_callee(call) in ROOTS and not call.args) or (_callee(call) in POWERS and len(call.args) == 1)


def _argument(node: ast.AST) -> ast.expr:
    """What the root is taken of: the radicand, or the vector a norm measures."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        return node.left
    if isinstance(node, ast.Call):
        if _is_method(node):
            return node.func.value
        if node.args:
            return node.args[0]
        for keyword in node.keywords:
            if keyword.arg in ("x", "tensor", "input", "a", "input_tensor"):
                return keyword.value
    raise Inconclusive(f"cannot tell what `{ast.unparse(node)}` takes the root of")


def _is_norm(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and _callee(node) in NORMS


def _difference(node: ast.expr) -> ast.expr | None:
    """The outermost difference inside `node`: `a - b`, `tf.subtract(a, b)`."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Sub):
            return inner
        if isinstance(inner, ast.Call) and _callee(inner) in SUBTRACTS[:2] and len(inner.args) == 2:
            return inner
    return None


def _describe_error(error: Exception) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0][:160]


def _with_fixed(expression: Expression, data: list[str], fixed: dict | None = None):
    """`expression` as a function of its data inputs only; the others get `fixed` or None."""
    fixed = {name: (fixed or {}).get(name) for name in expression.inputs if name not in data}
    return lambda **values: expression(**values, **fixed)


def _quantity(probe: Probe, node: ast.expr, values: dict, indices: dict, dtype: str = "float64") -> np.ndarray:
    radicand = probe.expression(node, inline_locals=True)
    data = [name for name in radicand.inputs if name not in indices]
    value, _ = probe.backend.gradients(_with_fixed(radicand, data, indices), {name: values[name] for name in data}, dtype)
    return np.asarray(value, dtype=float)


def _reached(quantity: np.ndarray, norm: bool) -> bool:
    """A norm needs a whole zero vector; a root one zero entry."""
    if quantity.size == 0 or not np.all(np.isfinite(quantity)):
        return False
    magnitude = np.abs(quantity)
    return bool((magnitude.max() if norm else magnitude.min()) <= ZERO_REACHED)


def _verdict(source: str, grads: dict, point: str, inputs: str):
    present = {name: g for name, g in grads.items() if g is not None}
    if not present:
        raise Inconclusive(f"`{source}` has no gradient with respect to its inputs at {point}")
    for name, grad in present.items():
        if not np.all(np.isfinite(grad)):
            return confirmed(f"d `{source}` / d `{name}` at {point} is {describe_array(grad)}", inputs)
    name, grad = next(iter(present.items()))
    return not_reproduced(f"d `{source}` / d `{name}` at {point} is {describe_array(grad)}: finite", inputs)


def _kept_defaults(probe: Probe, expression: Expression) -> dict[str, float]:
    """The inputs that are parameters with a numeric default (`eps=1e-8`): they keep it, since
    the code computes with it (a clamp's bound, an epsilon)."""
    defaults = numeric_defaults(probe.enclosing_function(probe.target))
    return {name: value for name, value in defaults.items() if name in expression.inputs}


def _shown_defaults(defaults: dict[str, float]) -> str:
    return "".join(f"; {name} = {value:g} (its default)" for name, value in defaults.items())


def _at_identical_inputs(probe: Probe, node: ast.AST, argument: ast.expr, norm: bool, errors: list[str]):
    expression = probe.expression(node, inline_locals=True)
    index_names = index_inputs(expression.node)
    defaults = _kept_defaults(probe, expression)
    data = [name for name in expression.inputs if name not in index_names and name not in defaults]
    if not data:
        raise Inconclusive(f"`{expression.source}` has no inputs to vary")
    empty = None  # a point where the code's own mask selected nothing
    for label, fill in FILLS:
        for shape in SHAPES:
            size = int(np.prod(shape))
            array = {"pattern": np.resize(PATTERN, size), "ones": np.ones(size), "zeros": np.zeros(size)}[fill].reshape(shape)
            values = {name: array for name in data}
            indices = {name: index_value(probe.backend, shape[0], sliced) for name, sliced in index_names.items()}
            function = _with_fixed(expression, data, {**indices, **defaults})
            try:
                quantity = _quantity(probe, argument, values, {**indices, **defaults})
                if quantity.size == 0 and empty is None:
                    _, grads = probe.backend.gradients(function, values)
                    empty = (label, array, grads, f"{fill}{shape}")
                if not _reached(quantity, norm):
                    break  # this fill does not make the quantity zero in any shape; try the next
                _, grads = probe.backend.gradients(function, values)
            except Inconclusive:
                raise
            except Exception as error:  # noqa: BLE001 - the inputs may need another shape
                errors.append(_describe_error(error))
                continue
            shown = describe_array(array)
            point = _point(data, shown)
            what = "under the root" if not norm else "the norm measures"
            inputs = f"{', '.join(data)} = {fill}{shape} (float64)" + _shown_defaults(defaults)
            if indices:
                inputs += f"; {', '.join(indices)} = every row in order"
            observation = _verdict(expression.source, grads, f"{point} ({label}: the quantity {what} is "
                                   f"{describe_array(quantity, 3)})", inputs)
            if observation.verdict == CONFIRMED and not any(_has_nan(g) for g in grads.values()):
                observation.evidence += _through_function(probe, expression, shape)
            return observation
    if empty is not None:
        label, array, grads, filled = empty
        observation = _verdict(expression.source, grads, f"{_point(data, describe_array(array))} ({label})",
                               f"{', '.join(data)} = {filled} (float64)")
        if observation.verdict == NOT_REPRODUCED:
            observation.evidence += (f"; there the selection `{probe.spelled(argument)}` is empty: the code's own mask "
                                     "leaves out the entries where the quantity is zero")
        return observation
    return None


def _has_nan(grad) -> bool:
    return grad is not None and bool(np.any(np.isnan(np.asarray(grad, dtype=float))))


def _through_function(probe: Probe, expression: Expression, shape: tuple) -> str:
    """An infinite gradient at an intermediate value set to zero (`sqrt(var)` after
    `mean, var = moments(x)`) is what the root alone gives; the code multiplies it by the zero
    derivative of what made the quantity zero and gets NaN. Run the enclosing module-level function
    on constant inputs to show what the code itself gets; nothing is added when it cannot run."""
    function = expression.function
    live = probe.namespace.get(function.name) if function is not None and probe.parent(function) is probe.tree else None
    if live is None or not callable(live) or all(name in _parameters(function) for name in expression.inputs):
        return ""
    defaults = parameter_defaults(function)
    required = [a.arg for a in (*function.args.posonlyargs, *function.args.args) if a.arg not in defaults]
    if not required:
        return ""
    values = {name: np.ones(shape) for name in required}
    try:
        _, grads = probe.backend.gradients(lambda **inputs: live(**inputs), values)
    except Exception:  # noqa: BLE001 - the function needs other inputs: the root's gradient stands alone
        return ""
    bad = next(((name, g) for name, g in grads.items() if g is not None and not np.all(np.isfinite(g))), None)
    if bad is None:
        return ""
    return (f"; through `{function.name}` itself, at {', '.join(required)} = ones{shape} (a constant input makes the "
            f"quantity zero), d / d `{bad[0]}` is {describe_array(bad[1])}")


def _parameters(function: ast.AST) -> set[str]:
    args = function.args
    return {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}


def _point(data: list[str], shown: str) -> str:
    return f"{' == '.join(f'`{n}`' for n in data) if len(data) > 1 else f'`{data[0]}`'} = {shown}"


def _unknown_selection(probe: Probe, argument: ast.expr) -> str | None:
    """The index of `quantity[index]` under the root when it has no value here (a mask passed in,
    or set in a loop): the mask the code uses may leave out the zeros, so no point stands for it."""
    radicand = probe.expression(argument, inline_locals=True)
    if not isinstance(radicand.node, ast.Subscript):
        return None
    # A mask computed from the same data (`d2[d2 > 0]` once inlined) is reproduced with it.
    data = set(free_names(radicand.node.value))
    unknown = [name for name in free_names(radicand.node.slice) if name in radicand.inputs and name not in data]
    return unknown[0] if unknown else None


def _at_zero_difference(probe: Probe, node: ast.AST, argument: ast.expr, norm: bool, errors: list[str]):
    hole = argument if norm else _difference(argument)
    if hole is None:
        return None
    expression = probe.expression(node, holes={"difference": hole}, inline_locals=True)
    defaults = _kept_defaults(probe, expression)
    data = [name for name in expression.inputs if name not in defaults]
    if data != ["difference"]:
        return None
    function = _with_fixed(expression, data, defaults)
    for shape in SHAPES:
        try:
            _, grads = probe.backend.gradients(function, {"difference": np.zeros(shape)})
        except Exception as error:  # noqa: BLE001 - try the next shape
            errors.append(_describe_error(error))
            continue
        point = f"`{ast.unparse(hole)}` replaced by zeros{shape} (its inputs could not be built)"
        return _verdict(expression.source, grads, point, f"difference = zeros{shape} (float64)" + _shown_defaults(defaults))
    return None


def _clamp_after(probe: Probe, node: ast.AST) -> ast.Call | None:
    """The clamp that bounds the root's result: around it, or on the name it is assigned to."""
    parent = probe.parent(node)
    if isinstance(parent, ast.Attribute) and parent.attr in CLAMPS:
        call = probe.parent(parent)
        return call if isinstance(call, ast.Call) and call.func is parent else None
    if isinstance(parent, ast.Call) and _callee(parent) in CLAMPS and node in parent.args:
        return parent
    if isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name):
        name = parent.targets[0].id
        scope = probe.enclosing_function(node) or probe.tree
        for call in ast.walk(scope):
            if isinstance(call, ast.Call) and call.lineno > parent.lineno and _callee(call) in CLAMPS:
                receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
                if any(isinstance(a, ast.Name) and a.id == name for a in (*call.args, receiver)):
                    return call
    return None


def _rounding_below_zero(probe: Probe, node: ast.AST, argument: ast.expr):
    """The root run in float32 with every input one constant value, value after value."""
    expression = probe.expression(node, inline_locals=True)
    defaults = _kept_defaults(probe, expression)
    data = [name for name in expression.inputs if name not in defaults]
    if not data or index_inputs(expression.node):
        raise Inconclusive(f"`{expression.source}` has no float inputs to set to a constant")
    function = _with_fixed(expression, data, defaults)
    for shape in ((7,), (7, 3)):
        for value in ROUNDING_VALUES:
            values = {name: np.full(shape, value) for name in data}
            output, grads = probe.backend.gradients(function, values, dtype="float32")
            if not np.all(np.isfinite(np.asarray(output, dtype=float))) or any(
                g is not None and not np.all(np.isfinite(g)) for g in grads.values()
            ):
                quantity = _quantity(probe, argument, values, defaults, "float32")
                return confirmed(
                    f"with every entry of {', '.join(f'`{n}`' for n in data)} = {value:g} (float32), the quantity under "
                    f"the root is {describe_array(quantity, 3)} and `{expression.source}` gives "
                    f"{describe_array(np.asarray(output, dtype=float), 3)}, gradient "
                    f"{describe_array(np.asarray(next(g for g in grads.values() if g is not None), dtype=float), 3)}",
                    f"{', '.join(data)} = constant{shape} of each of {', '.join(f'{v:g}' for v in ROUNDING_VALUES)} "
                    "(float32)" + _shown_defaults(defaults),
                )
    return not_reproduced(
        f"`{expression.source}` and its gradient stay finite in float32 for constant inputs of "
        f"{', '.join(f'{v:g}' for v in ROUNDING_VALUES)}", f"{', '.join(data)} = constant (float32)")


def witness(probe: Probe):
    node = probe.target
    argument = _argument(node)
    norm = _is_norm(node)
    if ROUNDING_FINDING in probe.job.message:
        return _rounding_below_zero(probe, node, argument)
    node = _clamp_after(probe, node) or node
    errors: list[str] = []
    mask = _unknown_selection(probe, argument)
    if mask is not None:
        raise Inconclusive(f"`{probe.spelled(argument)}` selects entries with the mask or index `{mask}`, which has no "
                           "value outside a call of the code; every entry selected in its place would drop the context "
                           "that may exclude the zeros")
    try:
        found = _at_identical_inputs(probe, node, argument, norm, errors)
    except Inconclusive:
        found = None
    if found is None:
        found = _at_zero_difference(probe, node, argument, norm, errors)
    if found is not None:
        return found
    if errors:
        raise Inconclusive(f"could not evaluate `{ast.unparse(node)}` where its argument is zero: {errors[-1]}")
    raise Inconclusive(f"no inputs make the argument of `{ast.unparse(node)}` zero (tried identical and constant inputs)")

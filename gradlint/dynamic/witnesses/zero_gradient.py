"""GL020, GL060, GL070, GL081: the flagged code has a gradient that is None or exactly zero.

One experiment per rule, each on the flagged code itself, in float64 where the code allows:

- GL020 (non-differentiable op): the op is evaluated with its argument as the input, at
  non-integer points away from its jumps; its gradient is None (TF), zero, or the result is an
  integer that autodiff refuses.
- GL060 (saturating activation): the activation is scanned on a grid over [-7, 7]; its gradient
  is exactly zero on both sides of a small linear region (or everywhere, for a step).
- GL070 (log_prob of a reparameterised sample): the gradient of `log_prob(sample)` with respect
  to the distribution's location is zero, while the scale's stays healthy.
- GL081 (softmax over one unit): the softmax (or the layer holding it) applied to an `(n, 1)`
  input is constant 1 and has zero gradient. The output is checked, not a loss: Keras 3's
  crossentropy uses the cached logits (`_keras_logits`) and hides the constant.

The numbers were measured with torch 2.13, TF 2.21 (Keras 3.15, TFP 0.25) and JAX 0.10.
"""

from __future__ import annotations

import ast
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from gradlint.dynamic.backends import describe_array
from gradlint.dynamic.probe import (
    SELF_PREFIX,
    Expression,
    Inconclusive,
    Observation,
    Probe,
    confirmed,
    free_names,
    not_reproduced,
    parameter_defaults,
)

# A "zero" gradient: TF/TFP give 1e-7-sized zeros in float32 (TFP location -8.9e-8, TF size-1
# softmax 4.8e-7); every healthy gradient measured was >= 1e-2.
ZERO_TOLERANCE = 1e-5

# GL020: non-integer points away from the jumps of round/floor/ceil/sign (measured),
# as a vector and, for ops taking an axis (`argmax(dim=1)`), as a matrix.
OP_POINTS = (0.3, 1.7, -2.4, -0.6, 2.2, 1.1)
OP_SHAPES = ((3,), (2, 3))

# GL060: a 0.1 grid over [-7, 7] (the region measured); offset by 0.05 so that no point lands
# on the edge of a linear region (±1, ±2.5, ±3, 0, 6), where frameworks disagree.
ACTIVATION_GRID = np.round(np.arange(-6.95, 7.0, 0.1), 2)
# Zero relative to the activation's steepest slope: hard activations give exact zeros, while a
# sigmoid's smallest slope on the grid (at ±6.95) is 9.6e-4 of its largest (0.25).
FLAT_RELATIVE = 1e-6

# GL070: Normal(0.3, 1.5) with four samples (measured): torch gives d/dloc exactly 0 for rsample(),
# the score sum(z - mu) / sigma^2 (~0.1..1) for sample(); d/dscale is -N / sigma either way.
LOCATION, SCALE, SAMPLES = 0.3, 1.5, 4
LOCATION_KEYWORDS = ("loc", "mean", "mu")
SCALE_KEYWORDS = ("scale", "scale_diag", "scale_tril", "covariance_matrix", "stddev", "sigma", "std")
WRAPPERS = ("Independent", "Sample", "TransformedDistribution")

# GL081: eight rows, where TF's float32 softmax gives 1 - 2^-24 rather than 1 (measured). The rows
# are weighted before summing: a real softmax sums to 1 along its axis, so its plain sum has a
# zero gradient too, while a weighted sum does not.
SOFTMAX_ROWS = 8
ONE_TOLERANCE = 1e-6
ROW_WEIGHTS = np.arange(1, SOFTMAX_ROWS + 1, dtype=float).reshape(SOFTMAX_ROWS, 1) / SOFTMAX_ROWS

COMPARISONS = frozenset({
    "greater", "greater_equal", "less", "less_equal", "equal", "not_equal", "gt", "ge", "lt", "le", "eq", "ne",
})
# Tensor methods that cast (a boolean) to numbers: their receiver is what a gradient would reach.
CAST_METHODS = frozenset({"float", "double", "half", "bfloat16", "long", "int", "bool", "to", "type", "astype"})
OPERAND_KEYWORDS = ("x", "input", "inputs", "a", "logits", "features", "tensor")


def witness(probe: Probe) -> Observation:
    checks = {
        "GL020": _non_differentiable_op,
        "GL060": _saturating_activation,
        "GL070": _log_prob_of_reparameterized_sample,
        "GL081": _softmax_over_one_unit,
    }
    check = checks.get(probe.job.rule)
    if check is None:
        raise Inconclusive(f"the zero-gradient witness does not check {probe.job.rule}")
    return check(probe)


# GL020 ------------------------------------------------------------------------------------


def _non_differentiable_op(probe: Probe) -> Observation:
    target = probe.target
    operand = _operand(probe, target) if isinstance(target, ast.Call) else None
    if operand is not None:
        expression = probe.expression(target, holes={OPERAND: operand}, inline_locals=False)
        wrt, shown = OPERAND, probe.spelled(operand)
    else:  # a forced probe on a whole expression (a straight-through estimator): its own input
        expression = probe.expression(target, inline_locals=False)
        plain = [name for name in expression.inputs if not name.startswith(SELF_PREFIX)]
        if len(plain) != 1:
            raise Inconclusive(f"cannot tell which input of `{probe.code(target)}` carries the gradient")
        wrt = shown = plain[0]
    code = probe.spelled(target)
    errors = []
    for shape in OP_SHAPES:
        value = np.resize(np.array(OP_POINTS), shape)
        fn, others = _fill_other_inputs(probe, expression, wrt, value)
        inputs = f"{shown} = {_show(value)} (float64){others}"
        try:
            _, grads = probe.backend.gradients(fn, {wrt: value})
        except Exception as error:  # noqa: BLE001 - an integer result, or a shape the op rejects
            if _integer_output_refused(error):
                return confirmed(f"`{code}` returns integers: {probe.backend.name} refuses to differentiate it "
                                 f"({_first_line(error)})", inputs)
            errors.append(_first_line(error))
            continue
        grad = grads[wrt]
        if grad is None:
            return confirmed(f"d `{code}` / d `{shown}` at {shown} = {_show(value)} is None: no gradient at all", inputs)
        if not np.all(np.isfinite(grad)):
            raise Inconclusive(f"d `{code}` / d `{shown}` is {describe_array(grad)}: not finite, a different problem")
        if np.max(np.abs(grad)) <= ZERO_TOLERANCE:
            return confirmed(f"d `{code}` / d `{shown}` at {shown} = {_show(value)} is {describe_array(grad)}", inputs)
        return not_reproduced(f"d `{code}` / d `{shown}` at {shown} = {_show(value)} is {describe_array(grad)}", inputs)
    raise Inconclusive(f"could not evaluate `{code}`: {errors[-1]}")


# GL060 ------------------------------------------------------------------------------------


def _saturating_activation(probe: Probe) -> Observation:
    target = probe.target
    code = probe.spelled(target)
    subject = f"`{code}`"
    activation = _built_object(probe, target)
    if activation is not None:
        # A layer with `activation=...` is scanned through its activation; a module or an
        # `Activation` layer is called itself.
        function = getattr(activation, "activation", None)
        fn = _call_with(function if callable(function) else activation, "x")
        shown = "x"
        if callable(function):
            subject = f"the activation of `{code}`"
    elif isinstance(target, ast.Call) and (operand := _operand(probe, target)) is not None:
        expression = probe.expression(target, holes={OPERAND: operand}, inline_locals=False)
        fn, _ = _fill_other_inputs(probe, expression, OPERAND, ACTIVATION_GRID)
        fn = _renamed(fn, "x", OPERAND)
        shown = probe.spelled(operand)
    else:
        raise Inconclusive(f"cannot tell the input of `{code}`")
    if not callable(fn):
        raise Inconclusive(f"`{code}` is not a function or a layer")
    inputs = f"{shown} = {ACTIVATION_GRID[0]}, {ACTIVATION_GRID[1]}, ..., {ACTIVATION_GRID[-1]} ({ACTIVATION_GRID.size} points, float64)"
    try:
        _, grads = probe.backend.gradients(fn, {"x": ACTIVATION_GRID})
    except Exception as error:
        if _integer_output_refused(error):
            return confirmed(f"{subject} returns integers: {probe.backend.name} refuses to differentiate it", inputs)
        raise
    grad = grads["x"]
    if grad is None:
        return confirmed(f"d {subject} / d `{shown}` is None on all of [-7, 7]: no gradient at all", inputs)
    grad = np.asarray(grad, dtype=float).reshape(-1)
    if grad.size != ACTIVATION_GRID.size or not np.all(np.isfinite(grad)):
        raise Inconclusive(f"`{code}` is not an elementwise activation with a finite gradient on [-7, 7]")
    steepest = float(np.max(np.abs(grad)))
    if steepest == 0.0:
        return confirmed(f"d {subject} / d `{shown}` is 0 at every one of {grad.size} points on [-7, 7]", inputs)
    flat = np.abs(grad) <= FLAT_RELATIVE * steepest
    live = ACTIVATION_GRID[~flat]
    region = f"nonzero only between {live[0]:g} and {live[-1]:g} (slope up to {steepest:.4g})"
    below, above = ACTIVATION_GRID[flat & (ACTIVATION_GRID < live[0])], ACTIVATION_GRID[flat & (ACTIVATION_GRID > live[-1])]
    if below.size and above.size:
        return confirmed(f"d {subject} / d `{shown}` on [-7, 7] is {region}, and exactly "
                         f"{_largest(grad[flat])} at the {int(flat.sum())} points outside (x <= {below[-1]:g}, x >= {above[0]:g})",
                         inputs)
    if not flat.any():
        smallest = int(np.argmin(np.abs(grad)))
        return not_reproduced(f"d {subject} / d `{shown}` is nonzero at every point of [-7, 7] "
                              f"(smallest {abs(grad[smallest]):.2g} at x = {ACTIVATION_GRID[smallest]:g})", inputs)
    side = f"x <= {below[-1]:g}" if below.size else f"x >= {above[0]:g}"
    return not_reproduced(f"d {subject} / d `{shown}` is flat on one side only ({side}), like a relu: it does not saturate", inputs)


# GL070 ------------------------------------------------------------------------------------


def _log_prob_of_reparameterized_sample(probe: Probe) -> Observation:
    target = probe.target
    code = probe.spelled(target)
    if not (isinstance(target, ast.Call) and isinstance(target.func, ast.Attribute) and target.func.attr == "log_prob"):
        raise Inconclusive(f"`{code}` is not a `log_prob` call")
    expression = probe.expression(target, inline_locals=True)
    distribution = _distribution_call(expression.node.func.value)
    if distribution is None:
        raise Inconclusive(f"cannot see which distribution `{probe.code(target.func.value)}` is (built elsewhere)")
    location, scale = _parameter(distribution, LOCATION_KEYWORDS, 0), _parameter(distribution, SCALE_KEYWORDS, 1)
    names = [n for n in expression.inputs if not n.startswith(SELF_PREFIX)]
    locations = [n for n in names if location is not None and n in free_names(location)]
    scales = [n for n in names if scale is not None and n in free_names(scale) and n not in locations]
    if not locations:
        raise Inconclusive(f"cannot tell the location of `{ast.unparse(distribution)}` from the function's inputs")
    fixed, values, described = _defaults(probe, expression, names), {}, []
    for name in names:
        if name in fixed:
            described.append(f"{name} = {fixed[name]!r}")
        elif name in locations or name in scales:
            values[name] = np.full(SAMPLES, LOCATION if name in locations else SCALE)
            described.append(f"{name} = {LOCATION if name in locations else SCALE} x {SAMPLES}")
        else:
            values[name] = np.ones(SAMPLES)
            described.append(f"{name} = ones({SAMPLES})")
    inputs = ", ".join(described) + " (float64)"
    at = ", ".join(f"{n} = {LOCATION if n in locations else SCALE}" for n in [*locations, *scales])
    _, grads = probe.backend.gradients(lambda **kw: expression(**kw, **fixed), values)
    location_grads = [grads[n] for n in locations]
    scale_text = "".join(f"; d / d `{n}` is {describe_array(grads[n])}" for n in scales if grads[n] is not None)
    shown = ", ".join(f"`{n}`" for n in locations)
    if any(g is not None and not np.all(np.isfinite(g)) for g in location_grads):
        raise Inconclusive(f"d sum(`{code}`) / d {shown} is not finite: a different problem")
    if all(g is None for g in location_grads):
        return confirmed(f"d sum(`{code}`) / d {shown} is None: the location gets no gradient{scale_text}", inputs)
    size = max(float(np.max(np.abs(g))) for g in location_grads if g is not None)
    described_grad = describe_array(next(g for g in location_grads if g is not None))
    if size <= ZERO_TOLERANCE:
        return confirmed(f"d sum(`{code}`) / d {shown} at {at} is {described_grad}: the location cancels{scale_text}", inputs)
    return not_reproduced(f"d sum(`{code}`) / d {shown} at {at} is {described_grad}: the score term{scale_text}", inputs)


def _distribution_call(node: ast.expr) -> ast.Call | None:
    """The constructor of the distribution whose `log_prob` is taken, through `Independent(...)`."""
    while isinstance(node, ast.Call):
        callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if callee not in WRAPPERS:
            return node
        inner = _parameter(node, ("distribution",), 0)
        if inner is None:
            return None
        node = inner
    return None


def _parameter(call: ast.Call, keywords: tuple[str, ...], position: int) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg in keywords:
            return keyword.value
    positional = [a for a in call.args if not isinstance(a, ast.Starred)]
    return positional[position] if len(positional) > position else None


def _defaults(probe: Probe, expression: Expression, names: list[str]) -> dict[str, Any]:
    """Inputs that are parameters with a literal default (`n=4`): sizes and flags, not tensors."""
    return {name: default.value for name, default in parameter_defaults(expression.function).items()
            if name in names and isinstance(default, ast.Constant)}


# GL081 ------------------------------------------------------------------------------------


def _softmax_over_one_unit(probe: Probe) -> Observation:
    target = probe.target
    code = probe.spelled(target)
    logits = np.linspace(-2.0, 2.0, SOFTMAX_ROWS).reshape(SOFTMAX_ROWS, 1)
    layer = _built_object(probe, target)
    if layer is not None:
        if not callable(layer):
            raise Inconclusive(f"`{code}` is not a layer or a function")
        fn, shown = _call_with(layer, "x"), "x"
    elif isinstance(target, ast.Call) and (operand := _operand(probe, target)) is not None:
        expression = probe.expression(target, holes={OPERAND: operand}, inline_locals=False)
        fn, _ = _fill_other_inputs(probe, expression, OPERAND, logits)
        fn, shown = _renamed(fn, "x", OPERAND), probe.spelled(operand)
    else:
        raise Inconclusive(f"cannot tell the input of `{code}`")
    inputs = f"{shown} = {describe_array(logits)} as shape ({SOFTMAX_ROWS}, 1) (float64)"

    def weighted(**values: Any) -> Any:
        output = fn(**values)
        if tuple(output.shape) != (SOFTMAX_ROWS, 1):
            raise Inconclusive(f"`{code}` on an ({SOFTMAX_ROWS}, 1) input gave shape {tuple(output.shape)}")
        return output * _array_like(probe, ROW_WEIGHTS, output)

    output, grads = probe.backend.gradients(weighted, {"x": logits})
    output = np.asarray(output, dtype=float) / ROW_WEIGHTS
    grad = grads["x"]
    spread = float(np.max(np.abs(output - 1.0)))
    size = 0.0 if grad is None else float(np.max(np.abs(grad)))
    gradient_text = "None" if grad is None else ("exactly 0" if size == 0.0 else f"at most {size:.2g} in size")
    if spread > ONE_TOLERANCE:
        return not_reproduced(f"`{code}` gives {describe_array(output)}, not constant 1; "
                              f"d sum(row weight * output) / d `{shown}` is {describe_array(grad) if grad is not None else 'None'}", inputs)
    if size <= ZERO_TOLERANCE:
        return confirmed(f"`{code}` on a size-1 last axis gives {_ones(output)} for all {output.size} rows; "
                         f"d sum(row weight * output) / d `{shown}` is {gradient_text}", inputs)
    raise Inconclusive(f"`{code}` gives constant {_ones(output)}, yet its gradient is {size:.2g}: not the pitfall's zero")


# Shared ----------------------------------------------------------------------------------

OPERAND = "__gradlint_operand__"


def _operand(probe: Probe, call: ast.Call) -> ast.expr | None:
    """The part of a flagged call that a gradient would come through: the argument of
    `tf.round(x)`, the receiver of `x.round()`, the compared value of `cast(x > 0.5)`."""
    func = call.func
    if isinstance(func, ast.Attribute) and not _names_a_namespace(probe, func.value) and not _is_self(func.value):
        return _compared_value(func.value) if func.attr in CAST_METHODS else func.value
    arguments = [a for a in call.args if not isinstance(a, ast.Starred)]
    if arguments:
        return _compared_value(arguments[0])
    for keyword in call.keywords:
        if keyword.arg in OPERAND_KEYWORDS:
            return _compared_value(keyword.value)
    return None


def _compared_value(node: ast.expr) -> ast.expr:
    """`x` in `x > 0.5`, `tf.greater(x, 0.5)` and `tf.not_equal(tf.round(x), y)`'s `tf.round(x)`."""
    if isinstance(node, ast.Compare):
        sides = [node.left, *node.comparators]
        return next((s for s in sides if not isinstance(s, ast.Constant)), node.left)
    if isinstance(node, ast.Call) and node.args:
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name in COMPARISONS:
            return node.args[0]
    return node


def _names_a_namespace(probe: Probe, node: ast.expr) -> bool:
    """`tf`, `K`, `jnp`, `tf.math`, `keras.ops`: a module (or class) of the snippet, not a tensor."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in probe.namespace:
        return False
    value = probe.namespace[node.id]
    for part in parts:
        value = getattr(value, part, None)
    return isinstance(value, (types.ModuleType, type))


def _is_self(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def _built_object(probe: Probe, target: ast.AST) -> Any | None:
    """A layer or activation that the flagged call constructs from constants only
    (`nn.Softmax(dim=-1)`, `Dense(1, activation="softmax")`); None for a call on data."""
    if not isinstance(target, ast.Call):
        return None
    expression = probe.expression(target, inline_locals=True)
    if expression.inputs:
        return None
    value = expression()
    if _is_tensor(value):
        return None
    return value


def _is_tensor(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _call_with(function: Callable, name: str) -> Callable:
    def call(**values: Any) -> Any:
        return function(values[name])

    return call


def _renamed(fn: Callable, new: str, old: str) -> Callable:
    def call(**values: Any) -> Any:
        return fn(**{old: values[new]})

    return call


def _fill_other_inputs(probe: Probe, expression: Expression, wrt: str, value: np.ndarray) -> tuple[Callable, str]:
    """A function of `wrt` alone: `self.attr` inputs get the value the class assigns them, other
    inputs (labels, masks) a constant array of ones shaped like `value`."""
    others: dict[str, Any] = {}
    described = []
    for name in expression.inputs:
        if name == wrt:
            continue
        if name.startswith(SELF_PREFIX):
            others[name] = _self_attribute(probe, expression, name[len(SELF_PREFIX):])
            described.append(f"`{name}` as the class builds it")
        else:
            others[name] = _constant_like(probe, value)
            described.append(f"{name} = ones{value.shape}")

    def call(**values: Any) -> Any:
        return expression(**values, **others)

    return call, "".join(f"; {d}" for d in described)


def _array_like(probe: Probe, array: np.ndarray, like: Any) -> Any:
    """`array` as a tensor of `like`'s framework, dtype and device."""
    backend = probe.backend
    if backend.name == "torch":
        return backend.torch.as_tensor(array, dtype=like.dtype, device=like.device)
    if backend.name == "tensorflow":
        return backend.tf.cast(backend.tf.constant(array), like.dtype)
    if backend.name == "jax":
        return backend.jax.numpy.asarray(array, dtype=like.dtype)
    if backend.name == "pytensor":
        return backend.pt.as_tensor(array.astype(like.dtype))
    return array.astype(np.asarray(like).dtype)


def _constant_like(probe: Probe, value: np.ndarray) -> Any:
    ones = np.ones_like(value)
    backend = probe.backend
    if backend.name == "torch":
        return backend.tensor(ones)
    if backend.name == "tensorflow":
        return backend.tf.constant(ones)
    if backend.name == "jax":
        return backend.jax.numpy.asarray(ones)
    return ones


def _self_attribute(probe: Probe, expression: Expression, attr: str) -> Any:
    """`self.softmax` from `self.softmax = nn.Softmax(dim=-1)` in the class, if built from constants."""
    cls = expression.cls
    assigned = [
        node.value for node in ast.walk(cls) if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Attribute) and _is_self(target.value) and target.attr == attr
    ] if cls is not None else []
    if len(assigned) != 1:
        raise Inconclusive(f"`self.{attr}` has no single value outside a built instance")
    value = probe.expression(assigned[0], inline_locals=False)
    if value.inputs:
        raise Inconclusive(f"`self.{attr} = {value.source}` needs {', '.join(value.inputs)}")
    return value()


def _integer_output_refused(error: Exception) -> bool:
    """JAX's `grad requires real-valued outputs ... got int64`: the value is an integer."""
    return isinstance(error, TypeError) and "real-valued outputs" in str(error)


def _first_line(error: Exception) -> str:
    """The error's first sentence: enough to say what failed."""
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text.split('. ')[0]}"[:200]


def _show(value: np.ndarray) -> str:
    return describe_array(value) if value.ndim == 1 else f"{describe_array(value)} as shape {value.shape}"


def _largest(values: np.ndarray) -> str:
    return f"{float(np.max(np.abs(values))):.2g}" if values.size and np.max(np.abs(values)) else "0"


def _ones(output: np.ndarray) -> str:
    low = float(np.min(output))
    return "exactly 1" if low == 1.0 else f"{low:.10g} (1 up to float32 rounding)"

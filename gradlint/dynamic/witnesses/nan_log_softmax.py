"""GL080: the log of a softmax or sigmoid computed in two steps is infinite for confident logits.

The flagged log is evaluated with its inputs (locals inlined) all set to confident logits, in
float64, and differentiated through a fixed positive weighting of its entries (like a label
picking one class per row). It is confirmed when the value or the gradient is not finite
(the probability underflowed to 0: `log(0) = -inf`, `0 * inf = NaN`), or when an epsilon or a
clip keeps the value finite but the gradient is exactly zero while the log-probability sits far
below 0 (a true log-probability only stops changing where it is 0). The stable forms
(`log_softmax`, `log_sigmoid`) give a finite, non-zero gradient at the same points.

When the code multiplies the log by a factor computed from the same inputs (the entropy
`p * log(clamp(p, tiny))`), the fixed weighting would drop what makes it correct: the product
itself is differentiated, and where the log is stuck the factor must be exactly 0 (then the
gradient equals the `log_softmax` form's) for `not-reproduced`; otherwise it is inconclusive.
"""

from __future__ import annotations

import ast

import numpy as np

from gradlint.dynamic.backends import describe_array
from gradlint.dynamic.probe import Inconclusive, Probe, confirmed, not_reproduced

# Measured in torch 2.13 and TF 2.21 with [[200, 0, -200]] in float32; float64 underflows only beyond a gap
# of about 745, hence 800. Each row and each column holds 800, 0 and -800, so a softmax over
# either axis underflows, and a sigmoid saturates both ways.
GAP = 800.0
LATIN = GAP * np.array([[1.0, 0.0, -1.0], [0.0, -1.0, 1.0], [-1.0, 1.0, 0.0]])
# Then every entry -800 (where sigmoid underflows) and every entry +800 (where 1 - sigmoid does).
POINTS = (("logits", LATIN), ("all logits", np.full((3, 3), -GAP)), ("all logits", np.full((3, 3), GAP)))
# Positive, unequal weights: a uniform weighting would make the stable log_softmax's gradient 0.
WEIGHTS = np.array([0.2, 0.5, 0.3, 0.6, 0.1, 0.3, 0.25, 0.25, 0.5])
# A gradient this small is zero (healthy gradients here are >= 0.1); a log-probability below
# FLOORED is far from 0, where a true log-probability still changes.
ZERO = 1e-6
FLOORED = -2.0
PROBABILITIES = ("softmax", "sigmoid", "exp", "log_softmax", "log_sigmoid")
# What shows that an expression's inputs are logits: a producer above, or a stable form.
TAKES_LOGITS = (*PROBABILITIES, "logsumexp", "reduce_logsumexp", "logsigmoid", "softplus")


def _callee(call: ast.AST) -> str:
    if not isinstance(call, ast.Call):
        return ""
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


def _logits_node(probe: Probe, node: ast.AST) -> ast.expr | None:
    """The argument of the softmax / sigmoid / exp inside the flagged log, written there or in
    the value of a local it reads (`probs = torch.softmax(model(x), -1)`)."""
    for inner in probe.reaching(node):
        if _callee(inner) in PROBABILITIES:
            if inner.args:
                return inner.args[0]
            if isinstance(inner.func, ast.Attribute) and inner is not node:
                return inner.func.value  # `logits.softmax(-1)`
    return None


def _weights(backend, output):
    if backend.name == "pytensor":  # symbolic: the static shape the backend's inputs give
        shape = tuple(int(n) for n in output.type.shape)
        weights = np.resize(WEIGHTS, int(np.prod(shape))).reshape(shape)
        return backend.pt.as_tensor(weights.astype(output.dtype)), weights
    shape = tuple(int(n) for n in output.shape)
    weights = np.resize(WEIGHTS, int(np.prod(shape))).reshape(shape)
    if backend.name == "torch":
        return backend.torch.as_tensor(weights, dtype=output.dtype, device=output.device), weights
    if backend.name == "tensorflow":
        return backend.tf.constant(weights, dtype=output.dtype), weights
    return weights, weights


# PyTensor rewrites log(softmax) into log_softmax for the value and for a weighted sum's
# gradient, but not for the gradient of the NLL idiom `log_p[arange(n), labels]` (measured,
# PyTensor 2.38.3): pick, in each row of LATIN, the class whose probability underflows.
PICKS = np.array([2, 1, 0])


def _picked(probe: Probe, expression, data: list[str], replaced: str):
    """PyTensor only: the gradient of one log-probability per row, picked by advanced indexing."""
    def picked(**inputs):
        output = expression(**inputs)
        if output.ndim != 2 or tuple(output.type.shape) != LATIN.shape:
            raise Inconclusive("not a (rows, classes) output")
        return output[np.arange(LATIN.shape[0]), PICKS]

    try:
        value, grads = probe.backend.gradients(picked, {name: LATIN for name in data})
    except Inconclusive:
        return None
    present = [np.asarray(g, dtype=float) for g in grads.values() if g is not None]
    bad = next((g for g in present if not np.all(np.isfinite(g))), None)
    if bad is None:
        return None
    inputs = f"{', '.join(data)} = {describe_array(LATIN, 9)} (float64)"
    return confirmed(
        f"`{expression.source}` at logits {describe_array(LATIN, 3)}{replaced}, one class per row picked by "
        f"`[arange(n), labels]`: value {describe_array(value, 3)}, gradient {describe_array(bad)} "
        "(PyTensor's rewrite fixes the value, not this gradient)",
        inputs,
    )


def _experiment(probe: Probe, expression, data: list[str], replaced: str = ""):
    """Run every point; returns an observation, or None if the expression could not be built."""
    if probe.backend.name == "pytensor":
        observation = _picked(probe, expression, data, replaced)
        if observation is not None:
            return observation
    seen_weights: dict[str, np.ndarray] = {}

    def weighted(**inputs):
        output = expression(**inputs)
        weights, plain = _weights(probe.backend, output)
        seen_weights["last"] = plain
        return output * weights

    healthy = None
    for label, logits in POINTS:
        values = {name: logits for name in data}
        value, grads = probe.backend.gradients(weighted, values)
        raw = np.asarray(value, dtype=float) / seen_weights["last"]
        point = f"{label} {describe_array(logits, 9 if label == 'logits' else 3)}{replaced}"
        inputs = f"{', '.join(data)} = {describe_array(logits, 9)} (float64)"
        present = {n: np.asarray(g, dtype=float) for n, g in grads.items() if g is not None}
        if not present:
            raise Inconclusive(f"`{expression.source}` has no gradient with respect to {', '.join(data)}")
        grad = next(iter(present.values()))
        if not np.all(np.isfinite(raw)) or not all(np.all(np.isfinite(g)) for g in present.values()):
            shown = describe_array(next((g for g in present.values() if not np.all(np.isfinite(g))), grad))
            return confirmed(f"`{expression.source}` at {point} is {describe_array(raw, 3)}; its gradient is {shown}", inputs)
        all_zero = all(np.max(np.abs(g)) <= ZERO for g in present.values())
        if all_zero and np.min(raw) < FLOORED:
            return confirmed(
                f"`{expression.source}` at {point} is stuck at {np.min(raw):.4g} with a gradient of exactly "
                f"{describe_array(grad, 3)}: the epsilon or clip hides the underflow, and the logits stop learning",
                inputs,
            )
        if healthy is None and np.all(np.abs(grad) > ZERO):
            healthy = (point, grad, raw, inputs)
    if healthy is None:
        raise Inconclusive(f"the gradient of `{expression.source}` is zero at some entries of every point tried; "
                           "cannot tell saturation from a clipped log")
    point, grad, raw, inputs = healthy
    return not_reproduced(
        f"`{expression.source}` at {point} is finite ({describe_array(raw, 3)}) with gradient {describe_array(grad, 3)}",
        inputs,
    )


def _uses(probe: Probe, node: ast.AST) -> list[ast.AST]:
    """Where the flagged value is used: the node itself, or, when it is assigned to a local
    (`logp = torch.log(...)`), each later read of that local in the same function."""
    parent = probe.parent(node)
    function = probe.enclosing_function(node)
    if not (isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name)) or function is None:
        return [node]
    name = parent.targets[0].id
    return [n for n in ast.walk(function) if isinstance(n, ast.Name) and n.id == name
            and isinstance(n.ctx, ast.Load) and n.lineno > parent.lineno]


def _factors(probe: Probe, use: ast.AST) -> list[tuple[ast.BinOp, ast.expr]]:
    """The products the use sits in, innermost first, through signs and sums:
    `-(p * log(q)).sum()` gives `(p * log(q), p)`."""
    found, current = [], use
    while isinstance(parent := probe.parent(current), (ast.BinOp, ast.UnaryOp)):
        if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Mult):
            found.append((parent, parent.right if parent.left is current else parent.left))
        current = parent
    return found


def _context(probe: Probe, node: ast.AST, holes: dict) -> tuple[ast.BinOp, ast.expr] | None:
    """The product that weights the flagged log by a factor computed from the same inputs
    (`p * log(clamp(p, tiny))`): the check must differentiate the product, since a fixed weighting
    in place of that factor drops what makes the code correct. Raises Inconclusive when the uses
    disagree."""
    log_inputs = set(probe.expression(node, holes=holes).inputs)
    weighted = []
    for use in _uses(probe, node):
        for product, factor in _factors(probe, use):
            if log_inputs & set(probe.expression(factor, holes=holes).inputs):
                weighted.append((product, factor))
                break
    if not weighted:
        return None
    if len(weighted) != len(_uses(probe, node)):
        raise Inconclusive(f"`{ast.unparse(node)}` is weighted by a factor computed from its own inputs in some uses "
                           "and not in others; the check cannot reproduce both")
    return weighted[0]


def _weighted_experiment(probe: Probe, node: ast.AST, product: ast.BinOp, factor: ast.expr, holes: dict, replaced: str):
    """The flagged log inside the product that uses it: confirmed only when the product's value
    or gradient is not finite. Where the log is stuck (a clamp or epsilon holds) and the factor is
    exactly 0, the product and its gradient are 0, as with the stable form: not reproduced."""
    expressions = [probe.expression(n, holes=holes) for n in (product, node, factor)]
    whole, log, weight = expressions
    data = list(whole.inputs)
    if not data or any(set(e.inputs) - set(data) for e in expressions[1:]):
        raise Inconclusive(f"`{whole.source}` could not be evaluated with the same inputs as its factor `{weight.source}`")
    for label, logits in POINTS:
        values = {name: logits for name in data}
        value, grads = probe.backend.gradients(whole, values)
        log_value, _ = probe.backend.gradients(log, {n: logits for n in log.inputs})
        weight_value, _ = probe.backend.gradients(weight, {n: logits for n in weight.inputs})
        point = f"{label} {describe_array(logits, 9 if label == 'logits' else 3)}{replaced}"
        inputs = f"{', '.join(data)} = {describe_array(logits, 9)} (float64)"
        present = [np.asarray(g, dtype=float) for g in grads.values() if g is not None]
        bad = next((g for g in present if not np.all(np.isfinite(g))), None)
        if bad is not None or not np.all(np.isfinite(np.asarray(value, dtype=float))):
            return confirmed(f"`{whole.source}` at {point} is {describe_array(value, 3)}; its gradient is "
                             f"{describe_array(bad if bad is not None else present[0])}", inputs)
        stuck, weights = np.broadcast_arrays(np.asarray(log_value, dtype=float) < FLOORED, np.asarray(weight_value, dtype=float))
        if np.any(weights[stuck] != 0):
            raise Inconclusive(f"`{probe.spelled(node)}` is weighted by `{probe.spelled(factor)}`, which is not 0 where the log sits far "
                               f"below 0 (at {point}); the check cannot tell a clipped log from a saturated one there")
    return not_reproduced(
        f"`{probe.spelled(node)}` is weighted by `{probe.spelled(factor)}` in `{probe.spelled(product)}`: at every point tried "
        "the factor is exactly 0 "
        "where the log is stuck, and the product's value and gradient are finite (as with `log_softmax`)",
        inputs,
    )


class _Fed:
    """An expression with its integer TF1 placeholders fed (an action index, a label): the
    logits go to its other inputs only."""

    def __init__(self, expression, feeds: dict) -> None:
        self.expression, self.feeds = expression, feeds
        self.inputs = [n for n in expression.inputs if n not in feeds]
        self.source, self.node = expression.source, expression.node

    def __call__(self, **values):
        return self.expression(**values, **self.feeds)


def _with_integer_feeds(probe: Probe, expression):
    """`expression` with the inputs that integer placeholders feed set to zeros of their
    declared dtype and shape, and how that reads in the evidence ("" when there are none)."""
    if probe.backend.name != "tensorflow":
        return expression, ""
    feeds = {n: probe.integer_feed(expression, n) for n in expression.inputs}
    feeds = {n: v for n, v in feeds.items() if v is not None}
    if not feeds:
        return expression, ""
    tf = probe.backend.tf
    shown = ", ".join(f"`{n}` = zeros {tuple(v.shape)} ({v.dtype})" for n, v in feeds.items())
    return _Fed(expression, {n: tf.constant(v) for n, v in feeds.items()}), f" (integer placeholders fed: {shown})"


def witness(probe: Probe):
    node = probe.target
    errors = []
    attempts = [{}]
    logits = _logits_node(probe, node)
    if logits is not None:
        attempts.append({"logits": logits})
    for holes in attempts:
        expression = probe.expression(node, holes=holes, inline_locals=True)
        expression, fed = _with_integer_feeds(probe, expression)
        data = list(expression.inputs)
        if not data:
            continue
        if not any(_callee(inner) in TAKES_LOGITS for inner in ast.walk(expression.node)):
            # The probability comes from code the check does not inline (a scan, a model): its
            # inputs are not logits, and setting them to logits would test something else.
            errors.append(f"no softmax, sigmoid or exp of the logits in `{expression.source}` once its locals are inlined")
            continue
        try:
            replaced = f" (`{ast.unparse(holes['logits'])}` replaced by the logits)" if holes else ""
            replaced += fed
            context = _context(probe, node, holes)
            if context is not None:
                return _weighted_experiment(probe, node, *context, holes, replaced)
            return _experiment(probe, expression, data, replaced)
        except Inconclusive:
            raise
        except Exception as error:  # noqa: BLE001 - try the logits as the only input
            errors.append(f"{type(error).__name__}: {error}".splitlines()[0][:200])
    if errors:
        raise Inconclusive(f"could not evaluate `{ast.unparse(node)}` on logits: {errors[-1]}")
    raise Inconclusive(f"`{ast.unparse(node)}` has no inputs to set to logits")

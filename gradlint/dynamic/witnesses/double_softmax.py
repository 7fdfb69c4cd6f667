"""GL082: probabilities given to a loss that applies softmax/sigmoid again shrink the gradient.

The user's own loss call is evaluated twice on the same logits, at a confidently wrong
prediction: once as written (the logits go through the flagged softmax/sigmoid, then the
loss's own), once with the logits given to the loss directly (the repair). The finding is
confirmed when the gradient with respect to the logits through the double squashing is at
least `SHRINK` times smaller than the from-logits one and the loss is smaller too (it cannot
grow with the error); it is not reproduced when both gradients agree, as for a call that is
given logits, or when Keras repairs the call from the logits it cached on its own softmax.
A distribution built on the logits (`Categorical(logits=...)`) is scored by the negative
log-probability of the same labels.

For a loss that expects log-probabilities (`nll_loss`, `kl_div`, `nn.NLLLoss`, `nn.KLDivLoss`),
the repair gives it `log_softmax` of the logits instead, and the labels are class indices.

The logits are found in the flagged prediction (the operand of the innermost softmax, sigmoid,
log_softmax or exp), or, for a model's output, by applying the model's last layer (an
`nn.Softmax`, a Keras `Dense(..., activation="softmax")`) to them. For a torch model with its
own `forward`, that last layer is the `nn.Softmax` / `nn.Sigmoid` whose output the model is
seen to return when run once on a small random input.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from gradlint.dynamic import models
from gradlint.dynamic.probe import SELF_PREFIX, Inconclusive, Observation, Probe, confirmed, not_reproduced
from gradlint.dynamic.witnesses.zero_gradient import _operand, _self_attribute

# Two examples, three classes, each predicted confidently (margin 10) for a wrong class: the
# from-logits cross-entropy gradient is ~softmax - onehot ~ [1, -1, 0] per row (norm ~1.4).
LOGITS = np.array([[5.0, -5.0, -5.0], [-5.0, 5.0, -5.0]])
LABELS = np.array([1, 0])
ONE_HOT = np.eye(LOGITS.shape[1])[LABELS]
# A binary prediction (a sigmoid) whose labels the code builds from the batch size
# (`ones((n,))`) may not broadcast with three classes: one logit per example then, each row
# confidently on one side, so that whichever label the code gives, one row is a mistake.
BINARY_LOGITS = np.array([[-5.0], [5.0]])
BINARY_ONE_HOT = LABELS[:, None].astype(float)
SIGMOIDS = frozenset({"sigmoid", "expit"})
# Confirmed when the doubled gradient is at least this many times smaller. At the point above,
# a softmax applied twice shrinks it ~200x and a sigmoid applied twice ~300x (the outer
# softmax sees inputs in [0, 1] and the inner one is saturated); the rule's own measurement on
# random logits was 9x; a loss given logits gives exactly 1x.
SHRINK = 10.0
# Ratios within this of 1 mean the two losses are the same computation.
SAME = 1e-3
SQUASHING = frozenset({"softmax", "sigmoid", "log_softmax", "exp", "expit"})
SPARSE_WORDS = ("sparse", "integer", "nll")
# Losses whose input is log-probabilities: repaired with `log_softmax` of the logits.
LOG_PROBABILITY_LOSSES = ("nll_loss", "kl_div", "NLLLoss", "KLDivLoss")
HOLE = "__gradlint_logits__"
LABELS_HOLE = "__gradlint_labels__"
CONSTANT_ARRAYS = frozenset({"ones", "zeros", "full", "ones_like", "zeros_like", "full_like", "fill", "empty", "eye", "constant"})


def witness(probe: Probe) -> Observation:
    target = probe.target
    call = _loss_call(probe, target)
    if call is None:
        raise Inconclusive(f"cannot find the loss that `{probe.spelled(target)}` is given to")
    if isinstance(call.func, ast.Attribute) and call.func.attr == "compile":
        return _compiled_model(probe, target, call)
    try:
        return _check(probe, target, call, {})
    except Inconclusive:
        raise
    except Exception as first:
        squash = _innermost_squash(probe, target)
        if squash is not None and _callee(squash) in SIGMOIDS:
            try:
                observation = _check(probe, target, call, {}, binary=True)
            except Exception:  # noqa: BLE001 - the labels may be what failed: try them below
                pass
            else:
                observation.evidence += " (one logit per example: three classes do not fit the code's own labels)"
                return observation
        # The labels are computed from what the check sets to labels (`y_true = from_numpy(
        # y.argmax(1))` with `y` the input): the loss's own label argument is set instead.
        labels = _label_argument(call, target)
        if labels is None:
            raise
        try:
            observation = _check(probe, target, call, {LABELS_HOLE: labels})
        except Inconclusive:
            raise
        except Exception:  # noqa: BLE001 - the first failure is the one to report
            raise first from None
        observation.evidence += f" (the labels given to the loss directly, in place of `{probe.spelled(labels)}`)"
        return observation


def _label_argument(call: ast.Call, target: ast.expr) -> ast.expr | None:
    """The one argument of the loss call besides the prediction that is not a constant: its labels."""
    arguments = [*call.args, *(k.value for k in call.keywords if k.arg is not None)]
    others = [a for a in arguments if a is not target and not isinstance(a, ast.Constant)]
    if len(others) != 1 or isinstance(others[0], ast.Starred):
        return None
    # Labels the code builds as constants (`ones((n,))` for "real" in a GAN) are part of what it
    # computes, not data: they are kept.
    if any(isinstance(n, ast.Call) and _callee(n) in CONSTANT_ARRAYS for n in ast.walk(others[0])):
        return None
    return others[0]


def _check(probe: Probe, target: ast.expr, call: ast.Call, labels: dict, binary: bool = False) -> Observation:
    prediction = probe.spelled(target)
    loss_text = probe.spelled(call.func)
    correct = probe.expression(call, holes={HOLE: target, **labels})
    squash = _innermost_squash(probe, target)
    if squash is not None:
        doubled = probe.expression(call, holes={HOLE: _operand(probe, squash), **labels})
        how = f"through `{probe.spelled(squash)}`"
        return _compare(probe, lambda **kw: doubled(**kw), correct, prediction, loss_text, how, _keras_squash(probe, squash), binary)
    model_call, last = _probability_model(probe, target)
    if model_call is not None:
        doubled = probe.expression(call, holes={HOLE: model_call, **labels})
        how = f"through the last layer of `{probe.spelled(model_call.func)}`"

        def through_last_layer(**kw: Any) -> Any:
            return doubled(**{**kw, HOLE: last(kw[HOLE])})

        return _compare(probe, through_last_layer, correct, prediction, loss_text, how, _is_keras(last))
    opaque = _opaque(probe, target)
    if opaque is not None:  # it may end in a softmax the check cannot see: no verdict either way
        raise Inconclusive(f"`{prediction}` {opaque}, so whether it ends in a softmax/sigmoid is not known")
    return _compare(probe, None, correct, prediction, loss_text, "", False)


def _opaque(probe: Probe, target: ast.expr) -> str | None:
    """Why the prediction may hold probabilities that no squash found in it shows: it comes from
    a call (a model, a function of the project) or from code the check did not run. A
    parameter of the enclosing function is the caller's business, as a loss given logits."""
    expression = probe.expression(target)
    call = next((n for n in ast.walk(expression.node) if isinstance(n, ast.Call)), None)
    if call is not None:
        return f"comes from `{ast.unparse(call.func)}`, which the check does not see into"
    unknown = [n for n in expression.inputs if not expression.is_parameter(n)]
    if unknown:
        return f"is computed by code the check did not run ({', '.join(f'`{n}`' for n in unknown)})"
    return None


def _compiled_model(probe: Probe, target: ast.expr, call: ast.Call) -> Observation:
    """`model.compile(loss=...(from_logits=True))` on a model ending in a softmax or sigmoid."""
    model = _constant_value(probe, call.func.value)
    loss = _constant_value(probe, target)
    last = _last_squash(model)
    if last is None:
        raise Inconclusive(f"`{probe.spelled(call.func.value)}` does not end in a softmax or sigmoid layer when built")
    backend = probe.backend
    labels_for = _labels(probe, type(loss).__name__)

    def doubled(**kw: Any) -> Any:
        return loss(labels_for(kw[HOLE]), last(kw[HOLE]))

    def correct(**kw: Any) -> Any:
        return loss(labels_for(kw[HOLE]), kw[HOLE])

    how = f"through the last layer of `{probe.spelled(call.func.value)}`"
    return _measure(backend, doubled, correct, f"`{probe.spelled(target)}`", how, _is_keras(last), "the model's output")


# Comparing the two losses ----------------------------------------------------------------


def _compare(probe, doubled_fn, correct, prediction: str, loss_text: str, how: str, keras_cached: bool,
             binary: bool = False) -> Observation:
    others = [n for n in correct.inputs if n != HOLE]
    fixed: dict[str, Any] = {}
    label_names = []
    for name in others:
        if name.startswith(SELF_PREFIX):
            fixed[name] = _self_attribute(probe, correct, name[len(SELF_PREFIX):])
        elif name in correct.called_inputs:
            raise Inconclusive(f"`{name}` is called in `{correct.source}` and has no value outside a call")
        else:
            label_names.append(name)
    loss_value = fixed.get(SELF_PREFIX + loss_text[len(SELF_PREFIX):]) if loss_text.startswith(SELF_PREFIX) else probe.namespace.get(loss_text)
    loss_name = f"{loss_text} {type(loss_value).__name__}"
    labels_for = _labels(probe, loss_name, binary)
    log_probabilities = any(name in loss_name for name in LOG_PROBABILITY_LOSSES)

    def bind(expression_fn, repair=lambda logits: logits):
        def call(**kw: Any) -> Any:
            given = {**kw, HOLE: repair(kw[HOLE])}
            value = expression_fn(**given, **fixed, **{n: labels_for(kw[HOLE]) for n in label_names})
            return _negative_log_likelihood(probe.backend, value, kw[HOLE]) if hasattr(value, "log_prob") else value

        return call

    correct_fn = bind(correct, (lambda logits: probe.backend.torch.log_softmax(logits, -1)) if log_probabilities else (lambda logits: logits))
    if log_probabilities and probe.backend.name != "torch":
        raise Inconclusive(f"`{loss_text}` is a torch loss, but the check runs on {probe.backend.name}")
    if doubled_fn is None:
        return _repaired(probe.backend, correct_fn, prediction, loss_text, label_names)
    return _measure(probe.backend, bind(doubled_fn), correct_fn, f"`{loss_text}`", how, keras_cached, f"`{prediction}`",
                    BINARY_LOGITS if binary else LOGITS)


def _measure(backend, doubled, correct, loss_text: str, how: str, keras_cached: bool, prediction: str,
             logits: np.ndarray = LOGITS) -> Observation:
    wrong = "each row confidently wrong" if logits is LOGITS else "one row confidently wrong for either label"
    inputs = f"logits = {_rows(logits)}, labels = {LABELS.tolist()} ({wrong}; float64)"
    dtype = _dtype(backend)
    inputs = inputs.replace("float64", dtype)
    correct_value, correct_grads = backend.gradients(correct, {HOLE: logits}, dtype)
    doubled_value, doubled_grads = backend.gradients(doubled, {HOLE: logits}, dtype)
    right, twice = _norm(correct_grads[HOLE]), _norm(doubled_grads[HOLE])
    right_loss, twice_loss = float(np.sum(correct_value)), float(np.sum(doubled_value))
    if right is None or not np.isfinite(right) or right == 0.0:
        raise Inconclusive(f"the from-logits loss has gradient {right} at these logits: no reference to compare with")
    if twice is None:
        raise Inconclusive(f"the loss {how} has no gradient at all with respect to the logits: a different problem")
    ratio = right / twice if twice > 0 else float("inf")
    numbers = (f"d {loss_text} / d logits has norm {twice:.3g} {how} against {right:.3g} from the logits "
               f"({ratio:.3g}x smaller); loss {twice_loss:.4g} against {right_loss:.4g}")
    if ratio >= SHRINK and twice_loss < right_loss:
        return confirmed(numbers, inputs)
    if abs(ratio - 1.0) <= SAME:
        cause = "Keras computed the loss from the logits it cached on its softmax/sigmoid output" if keras_cached else "the same gradient"
        return not_reproduced(f"{numbers}: {cause}", inputs)
    raise Inconclusive(f"{numbers}: neither the same nor {SHRINK:g}x smaller")


def _repaired(backend, correct, prediction: str, loss_text: str, label_names) -> Observation:
    """No softmax/sigmoid before the loss: its gradient at a confident mistake must be large."""
    inputs = f"{prediction} = {_rows(LOGITS)}, labels = {LABELS.tolist()} (each row confidently wrong; float64)"
    dtype = _dtype(backend)
    inputs = inputs.replace("float64", dtype)
    _, grads = backend.gradients(correct, {HOLE: LOGITS}, dtype)
    size = _norm(grads[HOLE])
    if size is None or not np.isfinite(size):
        raise Inconclusive(f"d `{loss_text}` / d `{prediction}` is {size}: a different problem")
    expected = _norm(LOGITS * 0 + _softmax(LOGITS) - ONE_HOT)
    if size >= expected / SHRINK:
        return not_reproduced(f"no softmax/sigmoid between `{prediction}` and `{loss_text}`: d loss / d `{prediction}` "
                              f"has norm {size:.3g} at a confident mistake (from-logits cross-entropy: up to {expected:.3g})", inputs)
    raise Inconclusive(f"d `{loss_text}` / d `{prediction}` is only {size:.3g} at a confident mistake, "
                       "but no softmax/sigmoid was found before the loss")


# Finding the parts -----------------------------------------------------------------------


def _loss_call(probe: Probe, target: ast.AST) -> ast.Call | None:
    parent = probe.parent(target)
    if isinstance(parent, ast.keyword):
        parent = probe.parent(parent)
    return parent if isinstance(parent, ast.Call) and parent.func is not target else None


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _innermost_squash(probe: Probe, target: ast.expr) -> ast.Call | None:
    """The softmax/sigmoid (or exp, log_softmax) nearest the logits in what `target` computes."""
    found = [n for n in probe.reaching(target) if isinstance(n, ast.Call) and _callee(n) in SQUASHING and _operand(probe, n) is not None]
    for call in found:
        operand = _operand(probe, call)
        inner = {id(n) for n in probe.reaching(operand)}
        if not any(id(other) in inner for other in found if other is not call):
            return call
    return None


def _probability_model(probe: Probe, target: ast.expr) -> tuple[ast.Call | None, Any]:
    """`model(x)` in what `target` computes, with `model` a live model ending in softmax/sigmoid."""
    for node in probe.reaching(target):
        if isinstance(node, ast.Call) and node.args:
            try:
                model = _constant_value(probe, node.func)
            except Inconclusive:
                continue
            if getattr(model, "__name__", "") in ("forward", "call"):  # `model.forward(x)` is `model(x)`
                model = getattr(model, "__self__", model)
            last = _last_squash(model) or _final_torch_squash(probe, model)
            if last is not None:
                return node, last
    return None, None


def _final_torch_squash(probe: Probe, model: Any) -> Any:
    """The softmax or sigmoid module whose output a torch model returns, seen by running the
    model once on a small random input with hooks on those modules (a custom `forward` the
    check cannot read statically); None when the output is not one of theirs."""
    torch = getattr(probe.backend, "torch", None)
    if torch is None or not isinstance(model, torch.nn.Module):
        return None
    squashes = [m for m in model.modules() if isinstance(m, (torch.nn.Softmax, torch.nn.Sigmoid))]
    if not squashes:
        return None
    seen: dict[int, Any] = {}
    hooks = [m.register_forward_hook(lambda module, _inputs, output: seen.__setitem__(id(output), module)) for m in squashes]
    try:
        _, shape = models.find_sample(lambda: model, type(model).__name__, "torch")
        output = model(*[torch.randn(shape) for _ in range(models.tensor_inputs(model))])
    except Exception:  # noqa: BLE001 - the model does not run on a guessed input: no verdict from it
        return None
    finally:
        for hook in hooks:
            hook.remove()
    return seen.get(id(output)) if isinstance(output, torch.Tensor) else None


def _constant_value(probe: Probe, node: ast.expr) -> Any:
    expression = probe.expression(node)
    if expression.inputs:
        raise Inconclusive(f"`{probe.spelled(node)}` needs {', '.join(expression.inputs)}")
    return expression()


def _last_squash(model: Any) -> Any:
    """The softmax/sigmoid that a torch `nn.Sequential` or a Keras `Sequential` ends in."""
    layers = None
    if hasattr(model, "layers"):  # Keras
        layers = list(model.layers)
    elif hasattr(model, "__getitem__") and hasattr(model, "forward"):  # torch nn.Sequential
        try:
            layers = [model[-1]]
        except (TypeError, IndexError):
            return None
    if not layers:
        return None
    last = layers[-1]
    activation = getattr(last, "activation", None)
    for candidate in (activation, last):
        name = getattr(candidate, "__name__", type(candidate).__name__).lower()
        if callable(candidate) and ("softmax" in name or "sigmoid" in name):
            return candidate
    return None


def _is_keras(function: Any) -> bool:
    return "keras" in (getattr(function, "__module__", "") or type(function).__module__)


def _keras_squash(probe: Probe, squash: ast.Call) -> bool:
    return probe.backend.name == "tensorflow" and "keras" in probe.spelled(squash.func)


def _labels(probe: Probe, loss_name: str, binary: bool = False):
    """Class indices for a sparse / integer-label loss, one-hot rows otherwise (one column for
    binary logits)."""
    sparse = any(word in loss_name.lower() for word in SPARSE_WORDS)
    values = LABELS if sparse else BINARY_ONE_HOT if binary else ONE_HOT
    return lambda like: _constant(probe.backend, values, like, sparse)


def _constant(backend, values: np.ndarray, like: Any, integer: bool) -> Any:
    """`values` as a tensor of the framework of `like` (integers, or `like`'s dtype)."""
    if backend.name == "torch":
        return backend.torch.as_tensor(values, dtype=backend.torch.long if integer else like.dtype)
    if backend.name == "tensorflow":
        return backend.tf.constant(values, dtype=backend.tf.int64 if integer else like.dtype)
    if backend.name == "jax":
        return backend.jax.numpy.asarray(values, dtype="int32" if integer else like.dtype)
    return values


def _negative_log_likelihood(backend, distribution: Any, logits: Any) -> Any:
    """A distribution built on the logits (`Categorical(logits=...)`) is used through the
    log-probability of an outcome: here the labels, as class indices, or as one-hot rows for a
    one-hot or elementwise distribution (`OneHotCategorical`, `Bernoulli`)."""
    one_hot = bool(tuple(distribution.event_shape)) or tuple(distribution.batch_shape) == tuple(logits.shape)
    values = (BINARY_ONE_HOT if logits.shape[-1] == 1 else ONE_HOT) if one_hot else LABELS
    return -distribution.log_prob(_constant(backend, values, logits, integer=not one_hot))


def _dtype(backend) -> str:
    """float32 for TensorFlow: Keras losses cast other dtypes to float32, and the cast tensor
    loses the logits Keras caches on its softmax output, which would hide its repair."""
    return "float32" if backend.name == "tensorflow" else "float64"


# Text ------------------------------------------------------------------------------------


def _norm(grad: Any) -> float | None:
    return None if grad is None else float(np.linalg.norm(np.asarray(grad, dtype=float)))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _rows(array: np.ndarray) -> str:
    return "[" + ", ".join("[" + ", ".join(f"{v:g}" for v in row) + "]" for row in array) + "]"



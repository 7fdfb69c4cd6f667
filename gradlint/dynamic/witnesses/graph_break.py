"""GL091: a value that leaves the autograd graph (`.item()`, `.numpy()`, `float(t)`,
`torch.tensor(t)`, a NumPy call, `.detach()`) carries no gradient back to its inputs.

The flagged expression is evaluated on its own, with each name it reads as an input that
requires a gradient (a model or loss the code calls is replaced by a small differentiable
stand-in). The finding is confirmed when what comes out is not a tensor at all (a Python float,
a NumPy array), when the framework refuses to go on (JAX's tracer conversion errors, torch's
"Can't call numpy() on Tensor that requires grad"), or when its gradient with respect to every
input is None. It is not reproduced when a gradient reaches an input. A dead additive term
(`loss - 0.01 * entropy.item()`) is judged by the term itself: what it gives is a constant.
"""

from __future__ import annotations

import ast
import builtins
import sys
import warnings
from typing import Any

import numpy as np

from gradlint.dynamic.backends import backend_for
from gradlint.dynamic.probe import SELF_PREFIX, Inconclusive, Observation, Probe, confirmed, first_line, not_reproduced

# Input shapes tried in turn: a small batch first, then a scalar for `.item()` / `float()` on a
# value the code reduces elsewhere.
SHAPES = ((4, 3), ())
# Deterministic input values in (0.1, 0.9): valid as probabilities and targets, away from kinks.
SEED = 0
# A gradient entry larger than this counts as a gradient (float64 checks; every healthy gradient
# measured in the ground truth was >= 1e-2).
LIVE = 1e-12
# Errors by which the framework itself refuses to turn a traced/graph value into a constant.
REFUSALS = (
    "ConcretizationTypeError", "TracerArrayConversionError", "TracerIntegerConversionError",
    "TracerBoolConversionError",
)
TORCH_REFUSAL = "Can't call numpy() on Tensor that requires grad"


class _NotATensor(Exception):
    """The expression gave a plain Python or NumPy value."""

    def __init__(self, value: Any) -> None:
        super().__init__(type(value).__name__)
        self.value = value


def witness(probe: Probe) -> Observation:
    target = probe.target
    if not isinstance(target, ast.expr):
        raise Inconclusive(f"`{probe.code(target)[:60]}` is not an expression")
    code = probe.spelled(target)
    # An attribute of `self` the expression reads as data (`self.fake.detach()`) is an input like
    # any other: whether a conversion or a detach cuts the graph does not depend on its value.
    expression = probe.expression(target, inline_locals=False)
    backend = autodiff_backend(probe)
    # Builtins (`float`) are not in the snippet's namespace, so the expression takes them as inputs.
    builtin = {name: getattr(builtins, name) for name in expression.inputs
               if hasattr(builtins, name) and not expression._is_local(name)}
    called = set(expression.called_inputs) - set(builtin)
    wrt = [name for name in expression.inputs if name not in called and name not in builtin]
    if not wrt:
        raise Inconclusive(f"`{code}` reads no tensor to differentiate")
    stand_ins = {name: _stand_in(backend, name) for name in called}
    stand_in_text = "".join(f"; `{name}` replaced by {stand_ins[name].__doc__}" for name in called)
    stand_ins.update(builtin)
    if backend is not probe.backend:
        stand_in_text += f"; differentiated with {backend.describe()}"
    errors: list[str] = []
    for shape in SHAPES:
        values = {name: _values(shape, index) for index, name in enumerate(wrt)}
        inputs = ", ".join(f"{name} = {_show(v)}" for name, v in values.items()) + f" (float64, requiring grad){stand_in_text}"
        seen: dict[str, Any] = {}

        def evaluate(seen: dict = seen, **tensors: Any) -> Any:
            output = expression(**tensors, **stand_ins)
            seen["output"] = output
            if not _is_tensor(backend, output):
                raise _NotATensor(output)
            return output

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value, grads = backend.gradients(evaluate, values)
            except _NotATensor as plain:
                return confirmed(f"`{code}` gives {_plain(plain.value)}: no gradient can flow back through it"
                                 f"{_warned(caught)}", inputs)
            except Exception as error:  # noqa: BLE001 - a refusal is the finding; other errors: next shape
                name = type(error).__name__
                if name in REFUSALS or TORCH_REFUSAL in str(error):
                    return confirmed(f"{backend.name} refuses to differentiate through `{code}`: "
                                     f"{name}: {first_line(error)}", inputs)
                errors.append(f"{name}: {first_line(error)}")
                continue
        live = {n: g for n, g in grads.items() if g is not None and np.all(np.isfinite(g)) and np.max(np.abs(g), initial=0) > LIVE}
        shown = ", ".join(f"`{n}`" for n in wrt)
        if live:
            parts = "; ".join(f"d sum(`{code}`) / d `{n}` has norm {np.linalg.norm(g):.3g}" for n, g in live.items())
            return not_reproduced(parts + _warned(caught), inputs)
        if all(g is None for g in grads.values()):
            output = seen.get("output")
            if backend.name == "torch" and output is not None and not output.requires_grad:
                detail = "has requires_grad=False and no grad_fn"
            elif backend.name == "torch":
                detail = "is a new leaf tensor, not connected to its inputs"
            else:
                detail = "is not connected to its inputs"
            return confirmed(f"`{code}` = {_value(value)} {detail}: the gradient with respect to {shown} is None"
                             f"{_warned(caught)}", inputs)
        if any(g is not None and not np.all(np.isfinite(g)) for g in grads.values()):
            raise Inconclusive(f"the gradient of `{code}` is not finite: a different problem")
        return confirmed(f"d sum(`{code}`) / d {shown} is exactly 0{_warned(caught)}", inputs)
    raise Inconclusive(f"could not evaluate `{code}` on small inputs ({errors[-1] if errors else 'no shape fits'})")


def autodiff_backend(probe: Probe):
    """The worker's backend, or, in the NumPy worker (chosen when the flagged line spells
    `numpy` more often than the framework, as in `pred.detach().numpy()`), the framework the
    snippet imports: the break can only be shown by a framework that differentiates."""
    backend = probe.backend
    if backend.name != "numpy":
        return backend
    imported = {getattr(value, "__name__", "").split(".")[0] for value in probe.namespace.values() if type(value) is type(sys)}
    for framework in ("torch", "jax"):
        if framework in imported:
            return backend_for(framework, backend.device)
    if imported & {"tensorflow", "keras", "tf_keras"}:
        # Importing TensorFlow changes the builtins, which would void this worker's later verdicts.
        raise Inconclusive("the finding was sent to the NumPy worker (the line spells `numpy`), where TensorFlow "
                           "cannot be imported safely")
    raise Inconclusive("the code imports no framework that differentiates: NumPy alone has no gradient to break")


# Inputs ----------------------------------------------------------------------------------


def _values(shape: tuple, index: int) -> np.ndarray:
    rng = np.random.default_rng(SEED + index)
    return rng.uniform(0.1, 0.9, size=shape)


def _stand_in(backend, name: str):
    """A differentiable stand-in for a model or loss the code calls: one tensor in, that
    tensor times 1.5 out; two tensors in, their mean squared difference."""
    framework = backend.name

    def mean(value):
        if framework == "tensorflow":
            return backend.tf.reduce_mean(value)
        return value.mean()

    def stand_in(*args: Any, **kwargs: Any) -> Any:
        tensors = [a for a in args if hasattr(a, "shape")]
        if not tensors:
            raise Inconclusive(f"`{name}` is called without a tensor argument")
        if len(tensors) == 1:
            return tensors[0] * 1.5
        return mean((tensors[0] - tensors[1]) ** 2)

    stand_in.__doc__ = "a stand-in (1 input: x * 1.5; 2 inputs: mean squared difference)"
    return stand_in


def _is_tensor(backend, value: Any) -> bool:
    if backend.name == "torch":
        return isinstance(value, backend.torch.Tensor)
    if backend.name == "tensorflow":
        tf = backend.tf
        return tf.is_tensor(value) or isinstance(value, tf.Variable)
    if backend.name == "jax":
        jax = backend.jax
        return isinstance(value, (jax.Array, jax.core.Tracer))
    return isinstance(value, np.ndarray)


# Text ------------------------------------------------------------------------------------


def _plain(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"a NumPy array (shape {value.shape})"
    if isinstance(value, np.generic):
        return f"a NumPy {type(value).__name__} ({float(value):.4g})"
    if isinstance(value, (int, float)):
        return f"a Python {type(value).__name__} ({value:.4g})"
    return f"a {type(value).__name__}, not a tensor"


def _value(value: Any) -> str:
    array = np.asarray(value, dtype=float)
    return f"{float(array):.4g}" if array.ndim == 0 else f"a tensor of shape {array.shape}"


def _warned(caught: list) -> str:
    texts = [str(w.message).splitlines()[0] for w in caught if str(w.message)]
    if not texts:
        return ""
    text = texts[0].split(". ")[0]
    return f" ({'it warned' if len(texts) == 1 else f'{len(texts)} warnings, the first'}: \"{text[:120]}\")"


def _show(value: np.ndarray) -> str:
    if value.ndim == 0:
        return f"{float(value):.3g}"
    return f"uniform(0.1, 0.9) of shape {value.shape}"

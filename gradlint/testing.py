"""Gradient checks for your own tests: torch modules, Keras layers and models, JAX functions.

    from gradlint.testing import assert_gradients_flow, check_gradient

    def test_every_weight_trains():
        assert_gradients_flow(MyModel(), torch.randn(4, 16))

    def test_custom_backward():
        check_gradient(MySafeNorm.apply, torch.tensor([0.0, -1.0, 2.0]))

`assert_gradients_flow` fails when a trainable parameter gets no gradient (None), a zero
gradient or a non-finite one from the model's output: the dynamic counterpart of gradlint's
GL001. `check_gradient` compares a function's gradient (autodiff, or a custom one:
`torch.autograd.Function`, `tf.custom_gradient`, `jax.custom_vjp`) with central differences in
float64 and fails with the largest error and where it is.

The module imports no framework until a check runs, so it loads anywhere gradlint does. It is
also a pytest plugin: the `gradlint_testing` fixture returns this module.
"""

from __future__ import annotations

import fnmatch
import inspect
import sys
from collections.abc import Callable, Iterable
from typing import Any

from gradlint import examples
from gradlint.dynamic import models

__all__ = ["ATOL", "NEAR_ZERO", "RTOL", "STEP", "assert_gradients_flow", "check_gradient"]

NEAR_ZERO = models.NEAR_ZERO
# Central differences in float64 with a step of cbrt(eps) agree with autodiff to ~1e-8
# elementwise (measured, torch 2.13); torch.autograd.gradcheck's tolerances fit.
STEP = 6.1e-6
RTOL = 1e-3
ATOL = 1e-5
SEED = 0


# assert_gradients_flow -------------------------------------------------------------------


def assert_gradients_flow(model: Any, *inputs: Any, ignore: Iterable[str] = (), zero_tol: float = NEAR_ZERO) -> dict[str, float]:
    """Fail unless every trainable parameter of `model` gets a finite, non-zero gradient.

    - torch `nn.Module` or Keras layer/model: `assert_gradients_flow(model, x, ...)` calls
      `model(x, ...)`. Without inputs, a small random input is searched for (shapes such as
      (2, 4), (2, 8), (2, 3, 8, 8)), unless a `@gradlint.example` for the model's class says
      which inputs it takes.
    - JAX: `assert_gradients_flow(fn, params, x, ...)` where `fn(params, x, ...)` returns an
      array (or a pytree of arrays); the parameters are the floating leaves of `params`.
    - Flax linen: `assert_gradients_flow(module, variables, x, ...)` (what `module.init`
      returned, or its `"params"`); Flax NNX and Equinox: `assert_gradients_flow(module, x, ...)`
      (the `nnx.Param`s; every floating array of the Equinox module). Parameters are named by
      their path in the pytree (`Dense_0.kernel`, `linear.weight`).

    The gradient taken is that of `sum(output * r)` for a fixed random `r` (a plain sum is
    constant after a softmax or a normalisation layer). A gradient counts as zero when no entry
    exceeds `zero_tol`. `ignore` lists parameter names or glob patterns (`"aux.*"`) to skip.
    Returns each checked parameter's gradient norm. The check uses the model's current weights:
    a parameter behind a zero-initialised one (a LoRA `B`) has a zero gradient at initialisation.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not gradlint's frames
    framework = models.framework_of(model)
    library = models.jax_library(model) if framework is None else None
    if library in ("linen", "nnx", "equinox"):
        title = f"`{type(model).__name__}`"
        report = _jax_module_gradients(model, library, title, inputs)
    elif framework is None:
        if not callable(model):
            raise TypeError(f"assert_gradients_flow expects a torch module, a Keras layer or a JAX function, not {type(model).__name__}")
        if not inputs:
            raise TypeError("for a function, call assert_gradients_flow(fn, params, *inputs)")
        title = f"`{getattr(model, '__name__', type(model).__name__)}`"
        report = _jax_gradients(model, inputs[0], inputs[1:])
    else:
        title = f"`{type(model).__name__}`"
        example = examples.find(type(model)) if not inputs else None
        if example is not None:  # the inputs a @gradlint.example gives, with this model
            _, inputs = examples.build(example, type(model))
        elif not inputs:
            inputs = tuple(_sample_inputs(model, framework))
        report = models.weight_gradients(model, framework, _framework_inputs(model, framework, inputs))
    if not report:
        raise AssertionError(f"{title} has no trainable parameters")
    ignored = tuple(ignore)
    checked = [w for w in report if not any(fnmatch.fnmatchcase(w.name, p) for p in ignored)]
    for weight in checked:
        if weight.status in ("ok", "zero"):
            weight.status = "zero" if weight.largest <= zero_tol else "ok"
    failing = [w for w in checked if not w.healthy]
    if failing:
        lines = [f"gradients do not reach {len(failing)} of {len(checked)} trainable parameters of {title}:"]
        lines += [f"  {w.describe()}" for w in failing]
        working = max((w for w in checked if w.healthy), key=lambda w: w.norm, default=None)
        if working is not None:
            lines.append(f"(the others do, e.g. {working.describe()})")
        raise AssertionError("\n".join(lines))
    return {w.name: w.norm for w in checked}


def _jax_module_gradients(model: Any, library: str, title: str, inputs: tuple) -> list[models.WeightGradient]:
    if library == "linen":
        if len(inputs) < 2:
            raise TypeError("for a Flax linen module, call assert_gradients_flow(module, variables, *inputs)")
        params, inputs = inputs[0], inputs[1:]
    elif not inputs:
        raise TypeError(f"pass example inputs: assert_gradients_flow(module, x) for a {library} module")
    else:
        params = None
    built = models.jax_model(model, tuple(inputs), library, title, params)
    return models.jax_weight_gradients(built, tuple(inputs))


def _sample_inputs(model: Any, framework: str) -> list:
    try:
        _, shape = models.find_sample(lambda: model, f"{type(model).__name__}", framework)
    except models.CannotRun as error:
        raise TypeError(f"{error}; pass example inputs: assert_gradients_flow(model, x)") from None
    _, sample = next(models.attempts(model, framework, shape, scales=(1.0,)))
    return sample


def _framework_inputs(model: Any, framework: str, inputs: tuple) -> list:
    """NumPy inputs become tensors of the model's floating dtype (torch); Keras takes NumPy."""
    if framework != "torch":
        return list(inputs)
    import torch

    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.get_default_dtype())
    converted = []
    for value in inputs:
        if not isinstance(value, torch.Tensor) and _is_array(value):
            value = torch.as_tensor(value)
            if value.is_floating_point():
                value = value.to(dtype)
        converted.append(value)
    return converted


def _is_array(value: Any) -> bool:
    return hasattr(value, "__array__") or isinstance(value, (list, tuple, float, int))


def _jax_gradients(fn: Callable, params: Any, inputs: tuple) -> list[models.WeightGradient]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    flat, tree = jax.tree_util.tree_flatten_with_path(params)
    trainable = [i for i, (_, leaf) in enumerate(flat) if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating)]
    leaves = [leaf for _, leaf in flat]

    def with_params(values: list) -> Any:
        merged = list(leaves)
        for index, value in zip(trainable, values):
            merged[index] = value
        return jax.tree_util.tree_unflatten(tree, merged)

    output = fn(params, *inputs)
    out_leaves = [leaf for leaf in jax.tree_util.tree_leaves(output) if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating)]
    if not out_leaves:
        raise TypeError(f"`{getattr(fn, '__name__', fn)}` returned no floating array")
    rng = np.random.default_rng(SEED)
    weights = [jnp.asarray(rng.standard_normal(jnp.shape(leaf)), dtype=jnp.asarray(leaf).dtype) for leaf in out_leaves]

    def total(values: list) -> Any:
        result = fn(with_params(values), *inputs)
        floats = [leaf for leaf in jax.tree_util.tree_leaves(result) if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating)]
        return sum(jnp.sum(leaf * w) for leaf, w in zip(floats, weights))

    grads = jax.grad(total)([leaves[i] for i in trainable])
    report = []
    for index, grad in zip(trainable, grads):
        report.append(models.WeightGradient(models.path_name(flat[index][0]), "", *models.gradient_status(np.asarray(grad), "jax")))
    return report


# check_gradient --------------------------------------------------------------------------


def check_gradient(fn: Callable, *inputs: Any, rtol: float = RTOL, atol: float = ATOL, step: float = STEP,
                   framework: str | None = None) -> float:
    """Compare the gradient of `fn` with central differences, in float64; return the largest
    relative error, or fail with it and where it is.

    `fn(*inputs)` is a torch, TensorFlow or JAX function (a `torch.autograd.Function` class or
    its `.apply`, a `tf.custom_gradient` or `jax.custom_vjp` function included). Its floating
    inputs are cast to float64 and differentiated; other inputs (integer indices, masks) are
    passed as they are. The framework is read from the inputs' types (pass `framework=` for
    NumPy inputs). The scalar compared is `sum(output * r)` for a fixed random `r`. An element
    fails when |autodiff - numerical| > atol + rtol * |numerical| or either is not finite.
    Costs two evaluations of `fn` per input element: keep the inputs small.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not gradlint's frames
    import numpy as np

    title = _title(fn)
    if isinstance(fn, type) and hasattr(fn, "apply"):
        fn = fn.apply  # a torch.autograd.Function class
    framework = framework or _framework(fn, title, inputs)
    if framework not in ("torch", "tensorflow", "jax"):
        raise TypeError("check_gradient cannot tell the framework from NumPy inputs: pass framework='torch', 'tensorflow' or 'jax'")
    fn = _in_float64(fn, title)
    engine = _ENGINES[framework]()
    values = list(inputs)
    positions = [i for i, v in enumerate(values) if _floating(v)]
    if not positions:
        raise TypeError("check_gradient needs at least one floating input to differentiate")
    points = {i: np.array(_to_numpy(values[i]), dtype=np.float64) for i in positions}
    weights_holder: list = []

    def scalar(arrays: dict[int, Any], differentiable: bool) -> Any:
        args = list(values)
        for i, array in arrays.items():
            args[i] = array
        output = fn(*args)
        if not weights_holder:
            rng = np.random.default_rng(SEED)
            weights_holder.extend(rng.standard_normal(tuple(s)) for s in engine.shapes(output))
        return engine.weighted_sum(output, weights_holder)

    with engine.float64():
        analytic, output_dtype = engine.gradients(scalar, points)
        numeric = {i: np.zeros_like(points[i]) for i in positions}
        for i in positions:
            for index in np.ndindex(points[i].shape):
                up, down = dict(points), dict(points)
                up[i], down[i] = points[i].copy(), points[i].copy()
                up[i][index] += step
                down[i][index] -= step
                numeric[i][index] = (engine.value(scalar, up) - engine.value(scalar, down)) / (2 * step)
    names = _parameter_names(fn, len(values))
    worst, failures, total = None, 0, 0
    for i in positions:
        got, want = analytic[i], numeric[i]
        if got is None:
            got = np.zeros_like(want)
        error = np.abs(got - want)
        bad = ~(np.isfinite(got) & np.isfinite(want)) | (error > atol + rtol * np.abs(want))
        relative = np.where(np.isfinite(error), error / np.maximum(np.maximum(np.abs(got), np.abs(want)), atol), np.inf)
        relative = np.where(np.isnan(relative), np.inf, relative)
        failures += int(bad.sum())
        total += bad.size
        for index in np.ndindex(want.shape):
            candidate = (bool(bad[index]), float(relative[index]))
            if worst is None or candidate > worst[0]:
                worst = (candidate, i, index, float(got[index]), float(want[index]))
    (_, largest), i, index, got_value, want_value = worst
    if failures:
        where = f"{names[i]} at index [{', '.join(map(str, index))}]" if index else names[i]
        note = "" if output_dtype in (None, "float64") else f" (the output is {output_dtype}: compute in float64 for this check)"
        raise AssertionError(
            f"gradient of `{title}` does not match central differences at {failures} of {total} "
            f"elements; largest relative error {largest:.3g} at {where}: autodiff {got_value:.6g}, numerical {want_value:.6g} "
            f"(rtol={rtol:g}, atol={atol:g}, step={step:g}){note}"
        )
    return largest


def _framework(fn: Callable, title: str, inputs: tuple) -> str | None:
    """The framework of the inputs, else of the modules the function's code names (a JAX
    lambda given NumPy inputs). A function that names only another framework than its inputs
    is refused: its error would be a confusing one from deep inside that framework."""
    given = _framework_of_values(inputs)
    named = _frameworks_named(fn)
    if given is not None and named and given not in named:
        raise TypeError(f"`{title}` calls {' and '.join(sorted(named))}, but its inputs are {given} values: "
                        "pass inputs of the framework the function uses")
    if given is None and len(named) == 1:
        return next(iter(named))
    return given


def _frameworks_named(fn: Callable) -> set[str]:
    """Frameworks among the globals and closure values that `fn`'s code reads."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return set()
    names, todo = set(), [code]
    while todo:
        current = todo.pop()
        names.update(current.co_names)
        todo.extend(c for c in current.co_consts if hasattr(c, "co_names"))
    values = [getattr(fn, "__globals__", {}).get(n) for n in names]
    values += [cell.cell_contents for cell in getattr(fn, "__closure__", None) or () if _filled(cell)]
    found = {_framework_of_values([v]) or _framework_of_module(v) for v in values}
    return {f for f in found if f is not None}


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


def _framework_of_module(value: Any) -> str | None:
    name = getattr(value, "__name__", "") if isinstance(value, type(sys)) else ""
    return _framework_of_name(name)


def _in_float64(fn: Callable, title: str) -> Callable:
    """A torch module computes in float64 as a copy cast with `.double()` (the user's module is
    left as it is); a Keras layer built in float32 cannot be cast, so it is refused clearly."""
    framework = models.framework_of(fn) if not isinstance(fn, type) else None
    if framework == "torch":
        import copy

        dtypes = {p.dtype for p in fn.parameters()} | {b.dtype for b in fn.buffers()}
        if any(d.is_floating_point and d != sys.modules["torch"].float64 for d in dtypes):
            return copy.deepcopy(fn).double()
    elif framework == "tensorflow":
        floats = {w.dtype for w in getattr(fn, "weights", [])} | {getattr(fn, "dtype", None)}
        if any("float" in str(d) and "64" not in str(d) for d in floats if d is not None):
            raise TypeError(f"`{title}` computes in float32, and check_gradient needs float64 to compare with "
                            "central differences: build it with `dtype='float64'`")
    return fn


def _title(fn: Any) -> str:
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type):
        return f"{owner.__name__}.{fn.__name__}"  # `MyFunction.apply`
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    return name.rsplit("<locals>.", 1)[-1]


def _parameter_names(fn: Callable, count: int) -> list[str]:
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type) and hasattr(owner, "forward"):
        fn = owner.forward  # `MyFunction.apply(*args)`: the names are `forward`'s, after `ctx`
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    if params[:1] == ["ctx"]:
        params = params[1:]
    return [f"`{params[i]}`" if i < len(params) else f"input {i}" for i in range(count)]


def _framework_of_values(values: Iterable[Any]) -> str | None:
    for value in values:
        found = _framework_of_name(type(value).__module__ or "")
        if found is not None:
            return found
    return None


def _framework_of_name(module: str) -> str | None:
    if module.split(".")[0] == "torch":
        return "torch"
    if module.split(".")[0] in ("tensorflow", "keras"):
        return "tensorflow"
    if module.split(".")[0] in ("jax", "jaxlib"):
        return "jax"
    return None


def _to_numpy(value: Any) -> Any:
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    if hasattr(value, "numpy"):
        return value.numpy()
    return value


def _floating(value: Any) -> bool:
    import numpy as np

    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return True
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return isinstance(value, (list, tuple)) and np.asarray(value).dtype.kind == "f"
    if hasattr(dtype, "is_floating_point"):
        return bool(dtype.is_floating_point)  # torch
    if hasattr(dtype, "is_floating"):
        return bool(dtype.is_floating)  # TensorFlow
    return np.dtype(dtype).kind == "f"


class _Engine:
    """One framework's float64 evaluation and autodiff for `check_gradient`."""

    def float64(self):
        import contextlib

        return contextlib.nullcontext()

    def shapes(self, output: Any) -> list[tuple]:
        return [tuple(leaf.shape) for leaf in self.leaves(output)]

    def leaves(self, output: Any) -> list:
        stack, found = [output], []
        while stack:
            item = stack.pop(0)
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, (list, tuple)):
                stack.extend(item)
            elif _floating(item):
                found.append(item)
        return found

    def value(self, scalar: Callable, arrays: dict) -> float:
        raise NotImplementedError

    def gradients(self, scalar: Callable, arrays: dict) -> tuple[dict, str | None]:
        raise NotImplementedError


class _Torch(_Engine):
    def __init__(self) -> None:
        import torch

        self.torch = torch

    def weighted_sum(self, output: Any, weights: list) -> Any:
        leaves = self.leaves(output)
        self.dtype = str(leaves[0].dtype).replace("torch.", "") if leaves else None
        return sum((leaf * self.torch.as_tensor(w, dtype=leaf.dtype, device=leaf.device)).sum() for leaf, w in zip(leaves, weights))

    def value(self, scalar, arrays):
        with self.torch.no_grad():
            return float(scalar({i: self.torch.tensor(a) for i, a in arrays.items()}, False))

    def gradients(self, scalar, arrays):
        tensors = {i: self.torch.tensor(a, requires_grad=True) for i, a in arrays.items()}
        total = scalar(tensors, True)
        if not getattr(total, "requires_grad", False):
            return {i: None for i in arrays}, self.dtype
        grads = self.torch.autograd.grad(total, list(tensors.values()), allow_unused=True)
        return {i: (None if g is None else g.detach().numpy()) for i, g in zip(tensors, grads)}, self.dtype


class _TensorFlow(_Engine):
    def __init__(self) -> None:
        import tensorflow as tf

        self.tf = tf

    def weighted_sum(self, output, weights):
        tf = self.tf
        leaves = self.leaves(output)
        self.dtype = leaves[0].dtype.name if leaves else None
        return tf.add_n([tf.reduce_sum(leaf * tf.constant(w, dtype=leaf.dtype)) for leaf, w in zip(leaves, weights)])

    def value(self, scalar, arrays):
        return float(scalar({i: self.tf.constant(a) for i, a in arrays.items()}, False))

    def gradients(self, scalar, arrays):
        tf = self.tf
        tensors = {i: tf.constant(a) for i, a in arrays.items()}
        with tf.GradientTape() as tape:
            for tensor in tensors.values():
                tape.watch(tensor)
            total = scalar(tensors, True)
        grads = tape.gradient(total, list(tensors.values()))
        return {i: (None if g is None else tf.convert_to_tensor(g).numpy()) for i, g in zip(tensors, grads)}, self.dtype


class _Jax(_Engine):
    def __init__(self) -> None:
        import jax
        import jax.numpy as jnp

        self.jax, self.jnp = jax, jnp

    def float64(self):
        # Scoped: the suite's own JAX settings are left as they were.
        if hasattr(self.jax, "enable_x64"):
            return self.jax.enable_x64(True)
        from jax.experimental import enable_x64

        return enable_x64()

    def weighted_sum(self, output, weights):
        jnp = self.jnp
        leaves = self.leaves(output)
        self.dtype = str(jnp.asarray(leaves[0]).dtype) if leaves else None
        return sum(jnp.sum(leaf * jnp.asarray(w, dtype=jnp.asarray(leaf).dtype)) for leaf, w in zip(leaves, weights))

    def value(self, scalar, arrays):
        return float(scalar({i: self.jnp.asarray(a) for i, a in arrays.items()}, False))

    def gradients(self, scalar, arrays):
        import numpy as np

        order = list(arrays)
        grads = self.jax.grad(lambda values: scalar(dict(zip(order, values)), True))([self.jnp.asarray(arrays[i]) for i in order])
        return {i: np.asarray(g) for i, g in zip(order, grads)}, self.dtype


_ENGINES = {"torch": _Torch, "tensorflow": _TensorFlow, "jax": _Jax}


# pytest plugin ---------------------------------------------------------------------------

try:
    import pytest
except ImportError:  # pytest is not needed to use the functions
    pytest = None

if pytest is not None:

    @pytest.fixture
    def gradlint_testing():
        """This module: `gradlint_testing.assert_gradients_flow(model, x)`."""
        return sys.modules[__name__]

"""GL052: a loss computed before the code that differentiates it starts recording.

The enclosing function runs for real, on small stand-in arguments chosen from their names (a
Dense(1)/`nn.Linear(4, 1)` model, a batch of 8 rows of 4 features, a variable of 4 values), and
stops at the flagged call, which is observed:

- `tape.gradient(loss, ...)`: the gradients it returns (TF 2.21: None for a loss computed
  before the `with` block, healthy when computed inside);
- `optimizer.minimize(lambda: loss, var_list)`: a fresh tape around the callable gives each
  variable's gradient, then the real `minimize` runs (TF 2.21's v1 optimisers raise "No
  gradients provided for any variable"); a loss tensor is handed to the real `minimize`;
- torch `optimizer.step(closure)`: the closure's returned losses and gradients on each
  evaluation, and how far the step moved the parameters (torch 2.13 LBFGS: a stale closure
  returns the same loss while the weights move, or leaves every gradient None and moves none);
- `jax.grad(f)(...)` and the like: the gradient returned (JAX 0.10: exactly zero when `f`
  ignores its argument).
"""

from __future__ import annotations

import ast
import types
from typing import Any

import numpy as np

from gradlint.dynamic.backends import describe_array
from gradlint.dynamic.probe import Inconclusive, Probe, confirmed, not_reproduced, substitute
from gradlint.dynamic.witnesses.accumulated_gradient import (
    COUNT_NAME,
    INPUT_NAME,
    MODEL_NAME,
    OPTIMIZER_NAME,
    RATE_NAME,
    TARGET_NAME,
)
from gradlint.dynamic.witnesses.late_binding import builder

# Stand-in data: a batch of BATCH rows of FEATURES features (seeded), one output.
BATCH, FEATURES, SEED = 8, 4, 0
# A gradient whose largest entry is at most this counts as zero (TF float32 "zeros" were <= 4.8e-7,
# healthy gradients >= 1e-2: ground truth).
ZERO = 1e-6
WEIGHT_NAME = ("w", "W", "weights", "params", "theta", "p", "variables", "var")
OBSERVE = "__gradlint_observe__"


class _Stop(Exception):
    """Raised once the flagged call has been observed: the rest of the function need not run."""


def _norm(value: Any) -> float:
    return float(np.max(np.abs(value))) if np.size(value) else 0.0


# Stand-in arguments -------------------------------------------------------------------------------

def _stand_ins(probe: Probe, names: list[str]) -> tuple[list[Any], str]:
    backend = probe.backend
    rng = np.random.default_rng(SEED)
    x_np, y_np = rng.normal(size=(BATCH, FEATURES)), rng.normal(size=(BATCH, 1))
    values: dict[str, Any] = {}
    shown = []
    model = None
    for name in names:
        if name == "self":
            values[name] = types.SimpleNamespace()
        elif RATE_NAME.match(name):
            values[name] = 0.1
        elif COUNT_NAME.match(name):
            values[name] = 1
        elif OPTIMIZER_NAME.search(name):
            values[name] = "optimizer"
        elif MODEL_NAME.search(name):
            if backend.name == "torch":
                backend.torch.manual_seed(SEED)
                model = backend.torch.nn.Linear(FEATURES, 1).double()
                shown.append(f"`{name}` = nn.Linear({FEATURES}, 1)")
            elif backend.name == "tensorflow":
                import keras

                keras.utils.set_random_seed(SEED)
                model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(1)])
                shown.append(f"`{name}` = Sequential([Dense(1)]) on {FEATURES} features")
            else:
                raise Inconclusive(f"cannot build a model for `{name}` in {backend.name}")
            values[name] = model
        elif INPUT_NAME.match(name) or TARGET_NAME.match(name):
            array = x_np if INPUT_NAME.match(name) else y_np
            values[name] = _array(probe, array)
            shown.append(f"`{name}` of shape {array.shape}")
        elif name in WEIGHT_NAME:
            values[name] = _array(probe, np.full(FEATURES, 0.5), variable=True)
            shown.append(f"`{name}` = [0.5] * {FEATURES}")
        elif "loss" in name.lower() or "cost" in name.lower():
            values[name] = _loss_function(probe)
            shown.append(f"`{name}` = mean squared error")
        elif name in ("step", "epoch", "i", "index"):
            values[name] = 0
        else:
            raise Inconclusive(f"cannot build a value for the parameter `{name}`")
    for name, value in values.items():
        if isinstance(value, str) and value == "optimizer":
            values[name] = _optimizer(probe, model, values)
            shown.append(f"`{name}` = {type(values[name]).__name__}")
    return [values[n] for n in names], ", ".join(shown)


def _array(probe: Probe, array: np.ndarray, variable: bool = False) -> Any:
    backend = probe.backend
    if backend.name == "torch":
        return backend.torch.tensor(array, requires_grad=variable)
    if backend.name == "tensorflow":
        tensor = backend.tf.constant(array, dtype=backend.tf.float32)
        return backend.tf.Variable(tensor) if variable else tensor
    import jax.numpy as jnp

    return jnp.asarray(array)


def _loss_function(probe: Probe) -> Any:
    if probe.backend.name == "tensorflow":
        tf = probe.backend.tf
        return lambda a, b: tf.reduce_mean(tf.square(a - b))
    return lambda a, b: ((a - b) ** 2).mean()


def _optimizer(probe: Probe, model: Any, values: dict) -> Any:
    backend = probe.backend
    if backend.name == "torch":
        params = list(model.parameters()) if model is not None else [v for v in values.values()
                                                                      if getattr(v, "requires_grad", False)]
        return backend.torch.optim.LBFGS(params, lr=0.5)  # the optimiser that re-evaluates its closure
    if backend.name == "tensorflow":
        import keras

        return keras.optimizers.SGD(0.1)
    raise Inconclusive("cannot build an optimiser in JAX")


# Observers ----------------------------------------------------------------------------------------

class Observer:
    """Called in place of the flagged call; records what it saw and stops the function."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.observation = None

    def tape(self, grads: Any) -> None:
        listed = list(grads) if isinstance(grads, (list, tuple)) else [grads]
        self.observation = ("tape", [None if g is None else self.probe.backend.to_numpy(g) for g in listed])
        raise _Stop

    def minimize(self, optimizer: Any):
        def run(loss: Any, var_list: Any = None, *args: Any, **kwargs: Any) -> None:
            tf = self.probe.backend.tf
            variables = var_list() if callable(var_list) else list(var_list or [])
            grads = None
            if callable(loss):
                with tf.GradientTape() as tape:
                    value = loss()
                grads = [None if g is None else g.numpy() for g in tape.gradient(value, variables)]
            before = [v.numpy().copy() for v in variables]
            error = None
            try:
                optimizer.minimize(loss, var_list, *args, **kwargs)
            except Exception as caught:  # noqa: BLE001 - the error is part of the evidence
                error = f"{type(caught).__name__}: {caught}".splitlines()[0].split(", check your graph")[0][:160]
            moved = max((_norm(v.numpy() - b) for v, b in zip(variables, before)), default=0.0)
            self.observation = ("minimize", (grads, error, moved, [v.name for v in variables]))
            raise _Stop

        return run

    def step(self, optimizer: Any):
        def run(closure: Any = None, *args: Any, **kwargs: Any) -> None:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            before = [p.detach().clone() for p in params]
            seen = []

            def watched():
                loss = closure()
                grads = [None if p.grad is None else _norm(p.grad.detach().cpu().numpy()) for p in params]
                seen.append((float(loss), grads, max(float((p - b).abs().max()) for p, b in zip(params, before))))
                return loss

            optimizer.step(watched, *args, **kwargs)
            moved = max(float((p.detach() - b).abs().max()) for p, b in zip(params, before))
            self.observation = ("step", (seen, moved, type(optimizer).__name__))
            raise _Stop

        return run

    def transform(self, transformed: Any):
        def run(*args: Any, **kwargs: Any) -> Any:
            result = transformed(*args, **kwargs)
            grads = result[1] if isinstance(result, tuple) and len(result) == 2 else result
            import jax

            leaves = [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(grads)]
            self.observation = ("transform", leaves)
            raise _Stop

        return run


def _site(probe: Probe) -> tuple[str, ast.Call]:
    target = probe.target
    if isinstance(target, ast.Expr):  # a call on its own line has the statement's range
        target = target.value
    if isinstance(target, ast.Call) and isinstance(target.func, ast.Attribute):
        if target.func.attr == "gradient":
            return "tape", target
        if target.func.attr == "step":
            return "step", target
    parent = probe.parent(target)
    if isinstance(parent, ast.Call) and target is not parent.func:
        if isinstance(parent.func, ast.Attribute) and parent.func.attr == "minimize":
            return "minimize", parent
        return "transform", parent
    raise Inconclusive(f"`{probe.code(target)[:60]}` is not a gradient call, an optimiser call or a transformed function")


def _instrument(kind: str, site: ast.Call):
    def observer(method: str) -> ast.expr:
        return ast.Attribute(ast.Name(OBSERVE, ast.Load()), method, ast.Load())

    def replace(node: ast.AST) -> ast.AST | None:
        if node is not site:
            return None
        if kind in ("tape", "transform"):
            return ast.Call(observer(kind), [node], [])
        # `opt.minimize(a, b)` -> `observe.minimize(opt)(a, b)`
        return ast.Call(ast.Call(observer(kind), [node.func.value], []), node.args, node.keywords)

    return replace


# The verdict --------------------------------------------------------------------------------------

def _verdict(kind: str, data: Any, inputs: str, code: str):
    if kind == "tape":
        if all(g is None for g in data):
            return confirmed(f"`{code}` returned None for all {len(data)} variable(s)", inputs)
        norms = [_norm(g) for g in data if g is not None]
        if max(norms) <= ZERO:
            return confirmed(f"`{code}` returned gradients that are all zero (largest {max(norms):.2g})", inputs)
        return not_reproduced(f"`{code}` returned gradients with largest entries {describe_array(norms, 4)}", inputs)
    if kind == "minimize":
        grads, error, moved, names = data
        tape = ""
        if grads is not None:
            dead = all(g is None or _norm(g) <= ZERO for g in grads)
            shown = ", ".join(f"`{n}`: {'None' if g is None else describe_array(g, 3)}" for n, g in zip(names, grads))
            tape = f"a tape around the callable gives {shown}"
            if not dead:
                return not_reproduced(f"{tape}; the variables moved by {moved:.3g}", inputs)
            if error is None and moved == 0:
                return confirmed(f"{tape}; `minimize` left the variables unchanged", inputs)
        if error is not None and any(s in error for s in ("No gradients", "should be a function", "tape")):
            return confirmed(f"{tape + '; ' if tape else ''}`{code}` raises {error}", inputs)
        if error is not None:
            raise Inconclusive(f"{tape + '; ' if tape else ''}`{code}` raises {error}")
        raise Inconclusive(f"`{code}` ran and moved the variables by {moved:.3g}")
    if kind == "step":
        seen, moved, name = data
        if not seen:
            raise Inconclusive(f"{name}.step never called the closure")
        losses = ", ".join(f"{loss:.4g}" for loss, _, _ in seen[:4]) + (", ..." if len(seen) > 4 else "")
        head = f"{name}.step evaluated the closure {len(seen)} time(s), which returned {losses}"
        if all(all(g is None or g <= ZERO for g in grads) for _, grads, _ in seen):
            return confirmed(f"{head} and left every gradient None or zero: the step moved the parameters by {moved:.3g}",
                             inputs)
        moved_between = [m for _, _, m in seen]
        if len(seen) > 1 and max(moved_between) > 0 and len({loss for loss, _, _ in seen}) == 1:
            return confirmed(f"{head}: the same loss although the parameters moved by up to {max(moved_between):.3g}",
                             inputs)
        if len(seen) > 1 and len({loss for loss, _, _ in seen}) > 1:
            return not_reproduced(f"{head}: the loss follows the parameters (moved by {moved:.3g})", inputs)
        raise Inconclusive(f"{head}; the parameters moved by {moved:.3g}: too few evaluations to tell")
    norms = [_norm(leaf) for leaf in data]
    if norms and max(norms) <= ZERO:
        return confirmed(f"`{code}` returned a gradient of exactly {max(norms):.3g} everywhere", inputs)
    return not_reproduced(f"`{code}` returned a gradient with largest entry {max(norms):.3g}", inputs)


def witness(probe: Probe):
    kind, site = _site(probe)
    if kind in ("tape", "minimize") and probe.backend.name != "tensorflow":
        raise Inconclusive(f"the `{kind}` check runs TensorFlow code")
    if kind == "step" and probe.backend.name != "torch":
        raise Inconclusive("the closure check runs torch optimisers")
    observer = Observer(probe)
    replace = _instrument(kind, site)
    owner = probe.enclosing_function(site)
    try:
        if owner is None:
            statement = next(s for s in probe.tree.body if s is site or any(a is s for a in probe.ancestors(site)))
            module = ast.fix_missing_locations(ast.Module([substitute(statement, replace)], type_ignores=[]))
            exec(compile(module, probe.job.path, "exec"), {**probe.namespace, OBSERVE: observer})  # noqa: S102
            inputs = "the module-level code as written"
        else:
            body = [substitute(s, replace) for s in owner.body]
            run, names = builder(probe, site, body, owner, {OBSERVE: observer})
            values, inputs = _stand_ins(probe, names)
            cls = probe.enclosing_class(owner)
            if cls is not None and names and names[0] == "self":
                values[0] = _instance(probe, cls)
            run(*values)
    except _Stop:
        pass
    if observer.observation is None:
        raise Inconclusive(f"the function returned before reaching `{probe.code(site)[:60]}`")
    kind, data = observer.observation
    return _verdict(kind, data, inputs, probe.code(site)[:60])


def _instance(probe: Probe, cls: ast.ClassDef) -> Any:
    """An instance of the method's class, its `__init__` given stand-ins by name."""
    klass = probe.live_class(cls)
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    names = [a.arg for a in init.args.args[1:]] if init is not None else []
    values, _ = _stand_ins(probe, names)
    return klass(*values)

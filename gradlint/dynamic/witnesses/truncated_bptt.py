"""GL110: a detach / stop_gradient of the carried state truncates backprop through time.

The function (or the module's `forward` / the layer's `call`) that holds the flagged call is run
twice on the same small random sequence: once as written, and once compiled again with the
flagged `h.detach()` / `stop_gradient(h)` replaced by its argument `h` (full BPTT). The weights'
gradients of `sum(output * r)` (a fixed random `r`) are compared. Measured with torch 2.13 (ground
truth, case 11): an 8-step `RNNCell` loop detached at every step differs from full BPTT by a
relative 0.199 (`W_hh`) and 0.630 (`W_ih`), every 4 steps by 0.007 / 0.015.

Confirmed when a weight's gradient differs by more than `MATERIAL`; not reproduced when none does
(the detached value is not what the loop carries) or when the probed code holds no cut at all.
"""

from __future__ import annotations

import ast
import copy
import re
from typing import Any

import numpy as np

from gradlint.dynamic import models
from gradlint.dynamic.probe import Inconclusive, Probe, confirmed, not_reproduced

# A relative gradient difference above this is material: float64 reruns of the same graph agree
# to ~1e-15, and detaching every 4 of 8 steps already gives 7e-3 (ground truth, case 11).
MATERIAL = 1e-3
# The sequence fed in: 8 steps (as in the measurement), batch 2, features / hidden size 4.
STEPS = 8
BATCH = 2
SIZE = models.GUESSED_SIZE
SEED = 0
CUT_METHODS = frozenset({"detach", "detach_"})
SEQUENCE_NAME = re.compile(r"^(x|xs|seq|sequence|inputs?|data|x_seq|sequences|tokens|emb|embedded)$", re.IGNORECASE)
# Arrays the step multiplies or compares with, of the state's shape, that are not trained.
MASK_NAME = re.compile(r"mask|target|teacher|noise|dropout", re.IGNORECASE)
STATE_NAME = re.compile(r"^(h|h0|h_0|hidden|hx|state|states|c|c0|c_0|carry|init_state|initial_state|h_init)$",
                        re.IGNORECASE)


def _is_cut(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr in CUT_METHODS and not node.args:
        return True
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name == "stop_gradient" and len(node.args) == 1


def _cuts(node: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(node) if _is_cut(n)]


def _argument(call: ast.Call) -> ast.expr:
    return call.func.value if isinstance(call.func, ast.Attribute) and call.func.attr in CUT_METHODS else call.args[0]


def _without(function: ast.FunctionDef, cuts: list[ast.Call]) -> ast.FunctionDef:
    """A copy of `function` with each of `cuts` replaced by its argument."""
    where = {(c.lineno, c.col_offset, c.end_lineno, c.end_col_offset) for c in cuts}

    class Remove(ast.NodeTransformer):
        def visit_Call(self, node: ast.Call) -> ast.AST:
            node = self.generic_visit(node)
            if (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset) in where:
                return ast.copy_location(_argument(node), node)
            return node

    return Remove().visit(copy.deepcopy(function))


def _compile(probe: Probe, function: ast.FunctionDef) -> Any:
    function = copy.deepcopy(function)
    function.decorator_list = []
    code = compile(ast.fix_missing_locations(ast.Module([function], type_ignores=[])), probe.job.path, "exec")
    scope: dict[str, Any] = {}
    exec(code, probe.namespace, scope)  # noqa: S102 - the user's recurrence, with or without its cut
    return scope[function.name]


def _outermost_function(probe: Probe, node: ast.AST) -> tuple[ast.FunctionDef, ast.ClassDef | None]:
    functions = [a for a in (node, *probe.ancestors(node)) if isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not functions:
        raise Inconclusive("the recurrence is not inside a function the check can call")
    outer = functions[-1]
    parent = probe.parent(outer)
    if parent is probe.tree:
        return outer, None
    if isinstance(parent, ast.ClassDef) and probe.parent(parent) is probe.tree:
        return outer, parent
    raise Inconclusive(f"`{outer.name}` is not a module-level function or a method of a module-level class")


# Inputs -------------------------------------------------------------------------------------

class Inputs:
    """Seeded random arrays in the code's framework; weights are made trainable."""

    def __init__(self, framework: str) -> None:
        self.framework = framework
        self.rng = np.random.default_rng(SEED)

    def array(self, shape: tuple, weight: bool = False) -> Any:
        value = self.rng.standard_normal(shape) * (0.5 if weight else 1.0)
        if self.framework == "torch":
            import torch

            return torch.tensor(value, dtype=torch.float64, requires_grad=weight)
        if self.framework == "tensorflow":
            import tensorflow as tf

            # float32, as `tf.zeros` makes the initial state
            return tf.Variable(value, dtype=tf.float32) if weight else tf.constant(value, dtype=tf.float32)
        import jax.numpy as jnp

        return jnp.asarray(value)


def _subscript_keys(function: ast.FunctionDef, name: str) -> list[str]:
    keys = []
    for node in ast.walk(function):
        if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == name
                and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
            keys.append(node.slice.value)
    return list(dict.fromkeys(keys))


def _called(function: ast.FunctionDef) -> set[str]:
    return {n.func.id for n in ast.walk(function) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def _torch_stand_in(name: str) -> tuple[Any, str]:
    from torch import nn

    lowered = name.lower()
    if "lstm" in lowered and "cell" not in lowered:
        return nn.LSTM(SIZE, SIZE).double(), f"nn.LSTM({SIZE}, {SIZE})"
    if "lstm" in lowered:
        return nn.LSTMCell(SIZE, SIZE).double(), f"nn.LSTMCell({SIZE}, {SIZE})"
    if "gru" in lowered:
        return nn.GRUCell(SIZE, SIZE).double(), f"nn.GRUCell({SIZE}, {SIZE})"
    return nn.RNNCell(SIZE, SIZE).double(), f"nn.RNNCell({SIZE}, {SIZE})"


# (sequence shape, state shape) layouts tried in turn: unbatched, time-major, batch-first.
LAYOUTS = (((STEPS, SIZE), (SIZE,)), ((STEPS, BATCH, SIZE), (BATCH, SIZE)), ((BATCH, STEPS, SIZE), (BATCH, SIZE)))


def _function_arguments(probe: Probe, function: ast.FunctionDef, layout: tuple) -> tuple[dict, dict, list[str]]:
    """(arguments, weights by name, what was fed in) for a module-level function."""
    framework = probe.backend.name
    made = Inputs(framework)
    sequence_shape, state_shape = layout
    called = _called(function)
    args: dict[str, Any] = {}
    weights: dict[str, Any] = {}
    described: list[str] = []
    lstm = False
    for arg in [*function.args.posonlyargs, *function.args.args]:
        name = arg.arg
        if name in called:
            if framework != "torch":
                raise Inconclusive(f"`{name}` is called: the check builds stand-in cells for torch only")
            torch = probe.backend.torch
            with torch.random.fork_rng():
                torch.manual_seed(SEED)
                module, text = _torch_stand_in(name)
            lstm = lstm or "LSTM" in text
            args[name] = module
            weights.update({f"{name}.{k}": p for k, p in module.named_parameters()})
            described.append(f"{name} = {text}")
    for arg in [*function.args.posonlyargs, *function.args.args]:
        name = arg.arg
        if name in args:
            continue
        if SEQUENCE_NAME.match(name):
            args[name] = made.array(sequence_shape)
            described.append(f"{name} = normal{sequence_shape}")
        elif STATE_NAME.match(name):
            shape = (1, *state_shape) if lstm and any("nn.LSTM(" in d for d in described) else state_shape
            args[name] = (made.array(shape), made.array(shape)) if lstm else made.array(shape)
            described.append(f"{name} = {'two arrays ' if lstm else ''}normal{shape}")
        elif keys := _subscript_keys(function, name):
            args[name] = {key: made.array((SIZE, SIZE), weight=True) for key in keys}
            weights.update({f'{name}["{key}"]': value for key, value in args[name].items()})
            described.append(f"{name} = {{{', '.join(repr(k) for k in keys)}: normal({SIZE}, {SIZE})}}")
        elif MASK_NAME.search(name):
            args[name] = made.array(state_shape)
            described.append(f"{name} = normal{state_shape}")
        elif name in ("steps", "n_steps", "length", "T"):
            args[name] = STEPS
        else:
            args[name] = made.array((SIZE, SIZE), weight=True)
            weights[name] = args[name]
            described.append(f"{name} = normal({SIZE}, {SIZE})")
    return args, weights, described


# Gradients ----------------------------------------------------------------------------------

def _main_output(output: Any) -> list:
    """The floating arrays that are the result: all items of a list (one per step), the first
    item of a tuple (`outputs, trace`), the value itself otherwise."""
    while isinstance(output, tuple) and output:
        output = output[0]
    items = list(output) if isinstance(output, list) else [output]
    return [item for item in items if hasattr(item, "shape") and "float" in str(getattr(item, "dtype", ""))]


def _gradients(probe: Probe, run: Any, weights: dict[str, Any]) -> dict[str, np.ndarray | None]:
    """d sum(output * r) / d weight for each weight, r fixed by the seed."""
    framework = probe.backend.name
    rng = np.random.default_rng(SEED + 1)
    if framework == "torch":
        torch = probe.backend.torch
        with torch.enable_grad():
            leaves = _main_output(run(weights))
            if not leaves:
                raise Inconclusive("the recurrence returned no floating tensor")
            total = sum((leaf * torch.as_tensor(rng.standard_normal(tuple(leaf.shape)), dtype=leaf.dtype)).sum()
                        for leaf in leaves)
            names = list(weights)
            grads = torch.autograd.grad(total, [weights[n] for n in names], allow_unused=True) if total.requires_grad \
                else [None] * len(names)
        return {n: None if g is None else g.detach().double().numpy() for n, g in zip(names, grads)}
    if framework == "tensorflow":
        tf = probe.backend.tf
        names = list(weights)
        with tf.GradientTape() as tape:
            leaves = _main_output(run(weights))
            if not leaves:
                raise Inconclusive("the recurrence returned no floating tensor")
            total = tf.add_n([tf.reduce_sum(leaf * tf.constant(rng.standard_normal(tuple(leaf.shape)), leaf.dtype))
                              for leaf in leaves])
        grads = tape.gradient(total, [weights[n] for n in names])
        return {n: None if g is None else np.asarray(tf.convert_to_tensor(g).numpy(), dtype=float)
                for n, g in zip(names, grads)}
    jax = probe.backend.jax
    import jax.numpy as jnp

    shapes: list = []

    def total(values: dict) -> Any:
        leaves = _main_output(run(values))
        if not leaves:
            raise Inconclusive("the recurrence returned no floating array")
        if not shapes:
            shapes.extend(rng.standard_normal(tuple(leaf.shape)) for leaf in leaves)
        return sum(jnp.sum(leaf * r) for leaf, r in zip(leaves, shapes))

    grads = jax.grad(total)(weights)
    return _flatten(grads)


def _module_case(probe: Probe, function: ast.FunctionDef, klass: ast.ClassDef, variants: dict[str, Any]):
    """Build the module / layer, and run its method as written and without the cut."""
    framework = probe.backend.name
    cls = probe.live_class(klass)
    if models.framework_of(cls) != framework or framework not in ("torch", "tensorflow"):
        raise Inconclusive(f"`{cls.__name__}` is neither a torch module nor a Keras layer")
    try:
        factory, call = probe.constructor(cls)
    except models.CannotRun as error:
        raise Inconclusive(str(error)) from None
    errors = []
    for shape in ((BATCH, STEPS, SIZE), (STEPS, BATCH, SIZE)):
        try:
            if framework == "torch":
                torch = probe.backend.torch
                with torch.random.fork_rng():
                    torch.manual_seed(SEED)  # the same weights on every run
                    instance = models.build(factory, call).double()
            else:
                instance = models.build(factory, call)
            sequence = Inputs(framework).array(shape)
            if framework == "tensorflow":
                import tensorflow as tf

                sequence = tf.cast(sequence, tf.float32)
                instance(sequence)  # a Keras layer creates its weights on its first call
            weights = {name: w for name, _, w in models.trainable_weights(instance, framework)}
            results = {key: _gradients(probe, lambda _w, fn=fn, instance=instance, sequence=sequence: fn(instance, sequence), weights)
                       for key, fn in variants.items()}
            return results, f"`{call}` on x = normal{shape}"
        except (models.CannotRun, Inconclusive) as error:
            raise Inconclusive(str(error)) from None
        except Exception as error:  # noqa: BLE001 - try the next layout
            errors.append(f"{type(error).__name__}: {error}".splitlines()[0][:160])
    raise Inconclusive(f"could not run `{call}.{function.name}` on a random sequence ({errors[0]})")


def _function_case(probe: Probe, function: ast.FunctionDef, variants: dict[str, Any]):
    errors = []
    for layout in LAYOUTS:
        try:
            args, weights, described = _function_arguments(probe, function, layout)

            def runner(fn, args=args):
                return lambda values: fn(**{**args, **{k: v for k, v in values.items() if k in args}})

            if not weights:
                raise Inconclusive(f"`{function.name}` takes no weight the check can differentiate")
            if probe.backend.name == "jax":
                plain = {n: w for n, w in weights.items() if "[" not in n}
                nested = {n: args[n] for n in args if isinstance(args[n], dict)}
                results = {key: _gradients(probe, runner(fn), {**plain, **nested}) for key, fn in variants.items()}
            else:
                results = {key: _gradients(probe, runner(fn), weights) for key, fn in variants.items()}
            return results, "; ".join(described)
        except Inconclusive:
            raise
        except Exception as error:  # noqa: BLE001 - try the next layout
            errors.append(f"{type(error).__name__}: {error}".splitlines()[0][:160])
    raise Inconclusive(f"could not run `{function.name}` on a random sequence ({errors[0]})")


def _flatten(grads: dict) -> dict[str, np.ndarray]:
    """`{"params": {"w_in": g}}` -> `{'params["w_in"]': g}` (JAX differentiates dicts as trees)."""
    flat = {}
    for name, value in grads.items():
        if isinstance(value, dict):
            flat.update({f'{name}["{k}"]': np.asarray(v, dtype=float) for k, v in value.items()})
        else:
            flat[name] = np.asarray(value, dtype=float)
    return flat


def witness(probe: Probe):
    target = probe.target
    if isinstance(target, ast.keyword) or isinstance(probe.parent(target), ast.keyword) or probe.backend.name == "numpy":
        raise Inconclusive("Lasagne's `gradient_steps` and `theano.scan(truncate_gradient=...)` need Theano, which "
                           "cannot be installed; the check runs torch, TensorFlow and JAX recurrences")
    cuts = _cuts(target)
    function, klass = _outermost_function(probe, target)
    written = _compile(probe, function)
    variants = {"written": written}
    if cuts:
        variants["full"] = _compile(probe, _without(function, cuts))
    if klass is not None:
        results, inputs = _module_case(probe, function, klass, variants)
    else:
        results, inputs = _function_case(probe, function, variants)

    written_grads = results["written"]
    if not cuts:
        live = {n: float(np.linalg.norm(g)) for n, g in written_grads.items() if g is not None}
        shown = ", ".join(f"||d{n}|| {v:.3g}" for n, v in list(live.items())[:3])
        return not_reproduced(f"no detach or stop_gradient in `{probe.code(target)[:60]}`: the recurrence "
                              f"backpropagates through every step ({shown})", inputs)
    full_grads = results["full"]
    rows = []
    for name, full in full_grads.items():
        cut = written_grads.get(name)
        if full is None or not np.linalg.norm(full):
            continue
        cut = np.zeros_like(full) if cut is None else cut
        rows.append((float(np.linalg.norm(cut - full) / np.linalg.norm(full)), name,
                     float(np.linalg.norm(cut)), float(np.linalg.norm(full))))
    if not rows:
        raise Inconclusive("no weight gets a gradient from the recurrence's output, with or without the cut")
    removed = ", ".join(f"`{probe.code(c)[:40]}`" for c in cuts)
    # Weights the cut keeps out entirely (a teacher's, a target network's) are not what BPTT
    # trains; unless the cut stops every weight, compare those that train as written.
    training = [row for row in rows if row[2] > 0]
    untouched = [row[1] for row in rows if row[2] == 0]
    compared = sorted(training or rows, reverse=True)
    shown = "; ".join(f"||d{name}|| {cut:.3g} vs {full:.3g}, relative difference {diff:.3g}"
                      for diff, name, cut, full in compared[:2])
    evidence = f"truncated vs full BPTT ({removed} removed): {shown}"
    if compared[0][0] > MATERIAL:
        if not training:
            evidence += " (as written, the output carries no gradient to any weight)"
        return confirmed(f"{evidence}: the gradient is not the derivative of the output", inputs)
    if untouched:
        evidence += f"; it only keeps {', '.join(f'`{n}`' for n in untouched[:3])} out, which the recurrence does not carry"
    return not_reproduced(f"{evidence}: the cut does not change the gradient (at most {MATERIAL:g})", inputs)

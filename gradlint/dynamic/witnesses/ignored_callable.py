"""GL053: a hand-written optimiser that never calls the function it is given.

The flagged function is called twice, the same way a call in the file calls it, with two
different functions in the flagged parameter: the functions the file's calls pass there when
there are two, otherwise two quadratics with different minima (sum((x - 1)^2) and
sum((x + 2)^2), or their gradients for a gradient-like parameter). Each is wrapped to count its
calls. Identical results and no call at all prove that the parameter is ignored (demo: gradient
descent returns J's minimiser [3, 3] for every objective); a parameter that is called is not.
"""

from __future__ import annotations

import ast
import inspect
import random
import re
from typing import Any

import numpy as np

from gradlint.dynamic.probe import Inconclusive, Probe, confirmed, free_names, inlined, not_reproduced, substitute
from gradlint.dynamic.witnesses.ignored_argument import Objective
from gradlint.dynamic.witnesses.late_binding import show

# Stand-in objectives: quadratics whose minima (1 and -2) differ in every coordinate.
CENTRES = (1.0, -2.0)
# A name for a derivative rather than a value (the rule's own test: `grad_f`, `fprime`, `jac`, `dJ`).
GRADIENT_WORDS = re.compile(r"grad|jac|deriv|prime|hess|^d[A-Z_]|^df", re.IGNORECASE)
SEED = 0
MAX_FORWARDS = 3  # callers followed when an argument is a parameter passed on (as the rule)
# Results closer than this (relative) are the same: an ignored parameter gives bit-identical runs.
SAME = 1e-12


def _total(value: Any) -> Any:
    """The sum of an array in its own framework (so jax.grad and tapes can follow it)."""
    module = type(value).__module__
    if module.startswith("torch"):
        return value.sum()
    if module.startswith("tensorflow"):
        import tensorflow as tf

        return tf.reduce_sum(value)
    if module.startswith("jax"):
        import jax.numpy as jnp

        return jnp.sum(value)
    return np.sum(value)


def _quadratic(centre: float, gradient: bool):
    if gradient:
        return lambda x, *rest: 2.0 * (x - centre)
    return lambda x, *rest: _total((x - centre) ** 2)


class Counted:
    """A function that counts its calls."""

    def __init__(self, function: Any) -> None:
        self.function = function
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.function(*args, **kwargs)


def _seed(probe: Probe) -> None:
    """The same random state before each run, so stand-in models and data repeat (a start point
    drawn with `random.uniform` included)."""
    random.seed(SEED)
    np.random.seed(SEED)
    backend = probe.backend
    if backend.name == "torch":
        backend.torch.manual_seed(SEED)
    elif backend.name == "tensorflow":
        backend.tf.random.set_seed(SEED)


def _numbers(probe: Probe, value: Any) -> list[np.ndarray]:
    """Every number in a result: arrays, tensors, variables, a model's parameters, nested."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(probe, v)]
    if isinstance(value, (tuple, list)):
        return [n for v in value for n in _numbers(probe, v)]
    parameters = getattr(value, "parameters", None) or getattr(value, "trainable_variables", None)
    if callable(parameters):
        parameters = list(parameters())
    if isinstance(parameters, list) and parameters and not isinstance(value, np.ndarray):
        return [n for v in parameters for n in _numbers(probe, v)]
    try:
        return [np.asarray(probe.backend.to_numpy(value), dtype=float).copy()]
    except Exception:  # noqa: BLE001 - not a number
        return []


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(
        x.shape == y.shape and bool(np.all(np.abs(x - y) <= SAME * np.maximum(1.0, np.abs(x)))) for x, y in zip(a, b)
    )


def _show_result(numbers: list[np.ndarray]) -> str:
    if not numbers:
        return "nothing numeric"
    if len(numbers) == 1:
        return show(numbers[0])
    return "(" + ", ".join(show(n) for n in numbers[:3]) + (", ..." if len(numbers) > 3 else "") + ")"


def _bound_calls(probe: Probe, tree: ast.Module, name: str, signature: inspect.Signature, depth: int = 0):
    """(call, {parameter: argument node}) for each call of the module function `name`. An
    argument that is a parameter of the module function the call is in is replaced by what
    that function's own calls pass there (`plot(f, df)` forwarding to `ascend(f, df)`), as the
    rule follows it; each combination is one entry."""
    module_functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    inside = {id(node) for function in module_functions for node in ast.walk(function)}  # found with their function
    found = []
    for caller in [None, *module_functions]:
        for call in ast.walk(tree if caller is None else caller):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == name):
                continue
            if caller is None and id(call) in inside:
                continue
            try:
                arguments = signature.bind(*call.args, **{k.arg: k.value for k in call.keywords if k.arg}).arguments
            except TypeError:
                continue
            if caller is not None:
                # `x_0 = -8; descend(x_0, f, df)`: a local of the caller is the value it was
                # assigned there (when that is one expression at the call), as the call passes it.
                arguments = {key: inlined(caller, node, call.lineno) for key, node in arguments.items()}
            own = {a.arg for a in (*caller.args.posonlyargs, *caller.args.args, *caller.args.kwonlyargs)} if caller else set()
            forwarded = {key: [n for n in free_names(node) if n in own] for key, node in arguments.items()}
            forwarded = {key: names for key, names in forwarded.items() if names}
            if not forwarded:
                found.append((call, arguments))
                continue
            if depth >= MAX_FORWARDS:
                continue
            for outer_call, outer_arguments in _bound_calls(probe, tree, caller.name, _signature(caller), depth + 1):
                # A parameter of the caller, alone (`plot(f, df)` forwarding `f`) or inside an
                # expression (`uniform(start, stop)`), takes what the caller's own call passes.
                if not all(name in outer_arguments for names in forwarded.values() for name in names):
                    continue
                replaced = {key: _passed(node, outer_arguments) if key in forwarded else node for key, node in arguments.items()}
                found.append((outer_call, replaced))
    return found


def _passed(node: ast.expr, outer: dict[str, ast.expr]) -> ast.expr:
    """`node` with the caller's parameters replaced by what the caller's call passes for them."""
    return substitute(node, lambda n: outer[n.id] if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in outer
                      else None)


def _signature(function: ast.FunctionDef) -> inspect.Signature:
    """The signature of a `def` from its source (the snippet may not define it: it only
    forwards an argument); a default is its source node."""
    args = function.args
    kind = inspect.Parameter
    positional = [*args.posonlyargs, *args.args]
    defaults = [kind.empty] * (len(positional) - len(args.defaults)) + list(args.defaults)
    parameters = [
        kind(a.arg, kind.POSITIONAL_ONLY if a in args.posonlyargs else kind.POSITIONAL_OR_KEYWORD, default=default)
        for a, default in zip(positional, defaults)
    ]
    if args.vararg is not None:
        parameters.append(kind(args.vararg.arg, kind.VAR_POSITIONAL))
    parameters += [
        kind(a.arg, kind.KEYWORD_ONLY, default=kind.empty if default is None else default)
        for a, default in zip(args.kwonlyargs, args.kw_defaults)
    ]
    if args.kwarg is not None:
        parameters.append(kind(args.kwarg.arg, kind.VAR_KEYWORD))
    return inspect.Signature(parameters)


def witness(probe: Probe):
    target = probe.target
    if not isinstance(target, ast.arg):
        raise Inconclusive(f"`{probe.code(target)[:60]}` is not a parameter")
    function = probe.enclosing_function(target)
    if function is None or probe.parent(function) is not probe.tree:
        raise Inconclusive("the parameter does not belong to a module-level function")
    param = target.arg
    live = probe.namespace.get(function.name)
    if not callable(live):
        raise Inconclusive(f"`{function.name}` is not defined at module level")
    note = ""
    if function.decorator_list and hasattr(live, "__wrapped__"):
        live, note = live.__wrapped__, " (run without its decorator, which takes no function)"
    signature = inspect.signature(live)

    helper = Objective(probe)  # evaluates the file's expressions with its module-level definitions
    bound_calls = _bound_calls(probe, probe.file_tree() or probe.tree, function.name, signature)

    # The functions to pass: those the file passes, else two quadratics.
    variants: list[tuple[Any, str]] = []
    seen: set[str] = set()
    for _, arguments in bound_calls:
        node = arguments.get(param)
        if node is None or ast.unparse(node) in seen:
            continue
        value = helper.evaluate(node)
        if callable(value):
            seen.add(ast.unparse(node))
            variants.append((value, f"`{ast.unparse(node)[:40]}`"))
    if len(variants) < 2:
        gradient = bool(GRADIENT_WORDS.search(param))
        form = "gradient of " if gradient else ""
        variants = [(_quadratic(c, gradient), f"the {form}sum((x {'-' if c > 0 else '+'} {abs(c):g})^2)") for c in CENTRES]

    # The other arguments: from the first call whose arguments all have values.
    for call, arguments in bound_calls:
        others = {name: node for name, node in arguments.items() if name != param}
        _seed(probe)
        if all(helper.evaluate(node) is not None for node in others.values()):
            break
    else:
        raise Inconclusive(f"no call of `{function.name}` in the file gives values for its other arguments")
    kinds = {name: p.kind for name, p in signature.parameters.items()}

    results, counters = [], []
    for value, _ in variants[:2]:
        _seed(probe)  # fresh, identical arguments for each run (a model the first run trained is rebuilt)
        values = {name: helper.evaluate(node) for name, node in others.items()}
        counter = Counted(value)
        values[param] = counter
        args = [values.pop(name) for name in list(values) if kinds.get(name) == inspect.Parameter.POSITIONAL_ONLY]
        star = values.pop(next((n for n, k in kinds.items() if k == inspect.Parameter.VAR_POSITIONAL), ""), ())
        try:
            result = live(*args, *star, **values)
        except Exception as error:  # noqa: BLE001 - the optimiser failed: say how
            raise Inconclusive(f"`{function.name}` failed with {variants[0][1]}: {type(error).__name__}: {error}") from None
        results.append(_numbers(probe, result))
        counters.append(counter.calls)
    inputs = f"the other arguments of `{ast.unparse(call)[:80]}`"
    (_, first), (_, second) = variants[:2]
    outcome = (f"`{function.name}` returned {_show_result(results[0])} with `{param}` = {first} "
               f"and {_show_result(results[1])} with {second}{note}")
    if counters[0] == counters[1] == 0:
        if _same(results[0], results[1]):
            return confirmed(f"{outcome}, and never called `{param}` (0 calls): it ignores the function it is given", inputs)
        raise Inconclusive(f"{outcome}: the results differ although `{param}` was never called (random state?)")
    return not_reproduced(f"{outcome}: it called `{param}` {counters[0]} and {counters[1]} times", inputs)

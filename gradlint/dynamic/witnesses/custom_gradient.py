"""GL101: a hand-written gradient that is not the derivative of its function.

The custom gradient (a torch Function's `backward`, a `tf.custom_gradient` gradient function, a
JAX `defvjp`/`defjvp` rule, or the gradient handed to `scipy.optimize`) is evaluated at a few
seeded random points in float64 and compared with central differences of the function's value.
Framework outputs are weighted by a random upstream gradient, so a rule that ignores it is
caught. A disagreement is confirmed only when two step sizes agree with each other and not with
the custom gradient (a kink between the steps is not a mismatch). A JAX rule's
`nondiff_argnums` arguments keep their defaults, or get a small integer (2), named in the
evidence.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gradlint.dynamic.probe import Inconclusive, Probe, confirmed, not_reproduced

# Central differences in float64 with step cbrt(eps) ~ 6e-6 agree with autodiff to ~1e-8
# elementwise (measured, torch 2.13); the tolerances are torch.autograd.gradcheck's defaults.
# A mismatch is re-measured with a 10x step, which must agree with the first one.
STEP = 6.1e-6
CHECK_STEP = 6.1e-5
ATOL, RTOL = 1e-5, 1e-3
# float32 code (constants that refuse float64): step cbrt(eps32) ~ 4.9e-3, looser tolerances
# (measured: float32 central differences are off by up to ~8e-2 elementwise near kinks).
STEP32, CHECK_STEP32, ATOL32, RTOL32 = 4.9e-3, 1.5e-2, 1e-3, 5e-2
SEED = 0
# The value a `nondiff_argnums` argument without a default gets: a small integer fits a size,
# an axis count or a flag.
NONDIFF_VALUE = 2
POINTS = 3
# Input shapes tried in order until the function runs: square matrices suit matmul and
# elementwise code alike.
SHAPES = ((3, 3), (4,), (2, 3), (3, 1), (1,))
# Above this many entries per input, a seeded sample of entries plus random directional
# derivatives (as accurate as the full check, measured) keeps the check fast.
MAX_ENTRIES = 64
DIRECTIONS = 2
# scipy objectives whose x0 cannot be evaluated: vector sizes tried.
SIZES = tuple(range(1, 65))


class _Check:
    """A differentiable scalar `loss(values)` and its custom gradient `custom(values)`."""

    def __init__(self, names: list[str], loss: Callable, custom: Callable, float32: bool = False) -> None:
        self.names, self.loss, self.custom, self.float32 = names, loss, custom, float32


# The comparison ------------------------------------------------------------------------


def _numerical(check: _Check, values: list[np.ndarray], which: int, direction: np.ndarray, step: float) -> float:
    up = [v.copy() for v in values]
    down = [v.copy() for v in values]
    up[which] = up[which] + step * direction
    down[which] = down[which] - step * direction
    return (check.loss(up) - check.loss(down)) / (2 * step)


def _format(value: float) -> str:
    return f"{value:.4g}"


def _entry(name: str, index: tuple, shape: tuple) -> str:
    if not shape:
        return f"`{name}`"
    return f"`{name}`[{', '.join(str(i) for i in index)}]"


def compare(check: _Check, points: list[list[np.ndarray]], what: str, inputs: str):
    """Run the comparison at each point; confirmed at the first real disagreement."""
    step, check_step, atol, rtol = (STEP32, CHECK_STEP32, ATOL32, RTOL32) if check.float32 else (STEP, CHECK_STEP, ATOL, RTOL)
    rng = np.random.default_rng(SEED)
    worst, compared, kinks = 0.0, 0, 0
    for values in points:
        custom = check.custom(values)
        if not np.isfinite(check.loss(values)):
            continue
        for which, (name, value) in enumerate(zip(check.names, values)):
            grad = np.zeros(value.shape) if custom[which] is None else np.asarray(custom[which], dtype=float)
            if grad.shape != value.shape:
                if grad.size == value.size:
                    grad = grad.reshape(value.shape)  # scipy gradients may come back as (n, 1)
                else:
                    return confirmed(f"{what} has shape {grad.shape} for `{name}` of shape {value.shape}", inputs)
            probes: list[tuple[str, np.ndarray, float]] = []
            indices = list(np.ndindex(value.shape))
            if len(indices) > MAX_ENTRIES:
                chosen = rng.choice(len(indices), MAX_ENTRIES, replace=False)
                indices = [indices[i] for i in sorted(chosen)]
                for _ in range(DIRECTIONS):
                    direction = rng.standard_normal(value.shape)
                    probes.append((f"the derivative of `{name}` along a random direction", direction, float(np.sum(grad * direction))))
            for index in indices:
                direction = np.zeros(value.shape)
                direction[index] = 1.0
                probes.append((_entry(name, index, value.shape), direction, float(grad[index])))
            mismatches = []
            for label, direction, analytic in probes:
                numeric = _numerical(check, values, which, direction, step)
                if not np.isfinite(numeric):
                    continue
                compared += 1
                error = abs(analytic - numeric) / max(abs(analytic), abs(numeric), 1e-300)
                if abs(analytic - numeric) <= atol + rtol * abs(numeric):
                    if max(abs(analytic), abs(numeric)) > atol:
                        worst = max(worst, error)
                    continue
                again = _numerical(check, values, which, direction, check_step)
                if abs(again - numeric) > atol + rtol * abs(numeric):
                    kinks += 1  # the two steps disagree: a kink or noise, not a verdict
                    continue
                mismatches.append((error if np.isfinite(error) else np.inf, label, analytic, numeric))
            if mismatches:
                error, label, analytic, numeric = max(mismatches, key=lambda m: m[0])
                return confirmed(
                    f"largest relative error {error:.2g} at {label}: custom {_format(analytic)}, numerical {_format(numeric)} "
                    f"({what} vs central differences)",
                    inputs,
                )
    if compared == 0:
        raise Inconclusive(f"{what}: the function was not finite at any point tried")
    note = f"; {kinks} entries near a kink skipped" if kinks else ""
    return not_reproduced(
        f"{what} matches central differences at {len(points)} points ({compared} entries, "
        f"largest relative error {worst:.1g}{note})",
        inputs,
    )


def _points(shapes: list[tuple], rng: np.random.Generator, positive: bool) -> list[list[np.ndarray]]:
    draw = (lambda s: rng.uniform(0.5, 2.0, s)) if positive else rng.standard_normal
    return [[np.asarray(draw(shape), dtype=float) for shape in shapes] for _ in range(POINTS)]


def _finite(check: _Check, points: list[list[np.ndarray]]) -> bool:
    return all(np.isfinite(check.loss(p)) for p in points)


def _positional(function: ast.FunctionDef | ast.Lambda) -> list[str]:
    """Parameters a caller must pass (those with defaults keep them)."""
    args = function.args
    ordered = [*args.posonlyargs, *args.args]
    required = ordered[: len(ordered) - len(args.defaults)]
    return [a.arg for a in required]


def _decorator_name(decorator: ast.expr) -> str:
    return ast.unparse(decorator.func if isinstance(decorator, ast.Call) else decorator)


def _top_level(probe: Probe, node: ast.AST, name: str) -> None:
    if node not in probe.tree.body:
        raise Inconclusive(f"`{name}` is defined inside another function or class; only module-level definitions can be called")


def _tensor_check(probe: Probe, parameters: list[str], build: Callable[[str], _Check], what: str):
    """Try the shapes in order (float64, then float32) until the function and its custom
    gradient both run; then compare."""
    errors: list[str] = []
    for dtype in ("float64", "float32"):
        check = build(dtype)
        for shape in SHAPES:
            rng = np.random.default_rng(SEED)
            shapes = [shape] * len(parameters)
            try:
                points = _points(shapes, rng, positive=False)
                check.custom(points[0])
                if not _finite(check, points):
                    points = _points(shapes, rng, positive=True)  # logs and roots want positive inputs
                    check.custom(points[0])
            except Inconclusive:
                raise
            except Exception as error:  # noqa: BLE001 - the next shape may fit
                errors.append(f"{type(error).__name__}: {error}".splitlines()[0][:200])
                continue
            spread = "N(0, 1)" if _finite(check, _points(shapes, np.random.default_rng(SEED), False)) else "U(0.5, 2)"
            inputs = ", ".join(f"{p} {shape}" for p in parameters) + f" ({dtype}) from {spread}, seed {SEED}; random upstream gradient"
            return compare(check, points, what, inputs)
    raise Inconclusive(f"could not run {what} on inputs of shapes {', '.join(map(str, SHAPES))}: {errors[-1] if errors else 'no inputs'}")


def _cotangents(outputs: list, shape_of: Callable, seed_offset: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(SEED + seed_offset)
    return [rng.standard_normal(shape_of(o)) for o in outputs]


# torch -----------------------------------------------------------------------------------


def _torch(probe: Probe, node: ast.ClassDef):
    torch = probe.backend.torch
    cls = probe.live_class(node)
    methods = {n.name: n for n in node.body if isinstance(n, ast.FunctionDef)}
    forward = methods.get("forward")
    if forward is None:
        raise Inconclusive(f"`{node.name}` has no `forward` of its own")
    parameters = _positional(forward)
    if "setup_context" not in methods and parameters:
        parameters = parameters[1:]  # `ctx`
    if not parameters:
        raise Inconclusive(f"`{node.name}.forward` takes no tensor argument")
    device = probe.backend.device

    def build(dtype: str) -> _Check:
        kind = getattr(torch, dtype)
        weights: dict[tuple, list[np.ndarray]] = {}

        def outputs(values, grad):
            tensors = [torch.tensor(v, dtype=kind, device=device, requires_grad=grad) for v in values]
            result = cls.apply(*tensors)
            found = [o for o in (result if isinstance(result, (tuple, list)) else (result,))
                     if isinstance(o, torch.Tensor) and o.is_floating_point()]
            if not found:
                raise Inconclusive(f"`{node.name}.forward` returns no floating-point tensor")
            key = tuple(tuple(o.shape) for o in found)
            weights.setdefault(key, _cotangents(found, lambda o: tuple(o.shape)))
            total = sum((o.double() * torch.tensor(w, dtype=torch.float64, device=device)).sum()
                        for o, w in zip(found, weights[key]))
            return tensors, total

        def loss(values):
            with torch.no_grad():
                return float(outputs(values, False)[1])

        def custom(values):
            tensors, total = outputs(values, True)
            if not total.requires_grad:
                raise Inconclusive(f"the output of `{node.name}.apply` does not require grad")
            grads = torch.autograd.grad(total, tensors, allow_unused=True)
            return [None if g is None else g.detach().cpu().double().numpy() for g in grads]

        return _Check(parameters, loss, custom, float32=dtype == "float32")

    return _tensor_check(probe, parameters, build, f"`{node.name}.backward`")


# TensorFlow --------------------------------------------------------------------------------


def _tensorflow(probe: Probe, node: ast.FunctionDef):
    tf = probe.backend.tf
    _top_level(probe, node, node.name)
    function = probe.namespace[node.name]
    parameters = _positional(node)
    if not parameters:
        raise Inconclusive(f"`{node.name}` takes no tensor argument")

    def build(dtype: str) -> _Check:
        kind = getattr(tf, dtype)
        weights: dict[tuple, list[np.ndarray]] = {}

        def total_of(result):
            found = [o for o in (result if isinstance(result, (tuple, list)) else (result,)) if tf.is_tensor(o)]
            key = tuple(tuple(o.shape) for o in found)
            weights.setdefault(key, _cotangents(found, lambda o: tuple(o.shape)))
            return tf.add_n([tf.reduce_sum(tf.cast(o, tf.float64) * w) for o, w in zip(found, weights[key])])

        def loss(values):
            return float(total_of(function(*[tf.constant(v, dtype=kind) for v in values])))

        def custom(values):
            tensors = [tf.constant(v, dtype=kind) for v in values]
            with tf.GradientTape() as tape:
                for tensor in tensors:
                    tape.watch(tensor)
                total = total_of(function(*tensors))
            grads = tape.gradient(total, tensors)
            return [None if g is None else np.asarray(tf.convert_to_tensor(g), dtype=float) for g in grads]

        return _Check(parameters, loss, custom, float32=dtype == "float32")

    return _tensor_check(probe, parameters, build, f"the gradient `{node.name}` returns")


# JAX -------------------------------------------------------------------------------------


def _jax(probe: Probe, node: ast.FunctionDef):
    jax = probe.backend.jax
    import jax.numpy as jnp

    _top_level(probe, node, node.name)
    _ModuleSource(probe).run_registrations(node.name)
    function = probe.namespace[node.name]
    required = _positional(node)
    # `nondiff_argnums` take Python values (a size, a flag): those without a default get a small
    # integer; those with one keep it, as a caller leaving them out does.
    fixed = {index: NONDIFF_VALUE for index in _nondiff_argnums(node) if index < len(required)}
    parameters = [name for index, name in enumerate(required) if index not in fixed]
    if not parameters:
        raise Inconclusive(f"`{node.name}` takes no array argument")
    kind = "defjvp" if any(_decorator_name(d).endswith("custom_jvp") for d in node.decorator_list) else "defvjp"
    chosen = "".join(f", `{required[i]}` = {v} (a small integer for `nondiff_argnums`)" for i, v in fixed.items())

    def full(arrays) -> list:
        given = iter(arrays)
        return [fixed[index] if index in fixed else next(given) for index in range(len(required))]

    def build(dtype: str) -> _Check:
        weights: dict[tuple, list] = {}

        def weights_for(result):
            leaves, tree = jax.tree_util.tree_flatten(result)
            key = tuple(tuple(np.shape(leaf)) for leaf in leaves)
            weights.setdefault(key, _cotangents(leaves, np.shape))
            return leaves, tree, weights[key]

        def loss(values):
            leaves, _, ws = weights_for(function(*full([jnp.asarray(v, dtype=dtype) for v in values])))
            return float(sum(np.sum(np.asarray(leaf, dtype=float) * w) for leaf, w in zip(leaves, ws)))

        def custom(values):
            result, pullback = jax.vjp(lambda *arrays: function(*full(arrays)), *[jnp.asarray(v, dtype=dtype) for v in values])
            leaves, tree, ws = weights_for(result)
            cotangent = jax.tree_util.tree_unflatten(tree, [jnp.asarray(w, dtype=leaf.dtype) for w, leaf in zip(ws, leaves)])
            return [np.asarray(g, dtype=float) for g in pullback(cotangent)]

        return _Check(parameters, loss, custom, float32=dtype == "float32")

    return _tensor_check(probe, parameters, build, f"the `{kind}` rule of `{node.name}`{chosen}")


def _nondiff_argnums(node: ast.FunctionDef) -> list[int]:
    for decorator in node.decorator_list:
        for keyword in decorator.keywords if isinstance(decorator, ast.Call) else []:
            if keyword.arg == "nondiff_argnums":
                try:
                    value = ast.literal_eval(keyword.value)
                except ValueError:
                    raise Inconclusive(f"the `nondiff_argnums` of `{node.name}` are not literal") from None
                return [value] if isinstance(value, int) else list(value)
    return []


# scipy -------------------------------------------------------------------------------------


def _scipy(probe: Probe, node: ast.FunctionDef | ast.Lambda):
    from gradlint.data import api_table

    table = api_table("custom_gradients_scipy")
    infos = {name.rsplit(".", 1)[-1]: table.info[name] for name in table}
    source = _ModuleSource(probe)
    name = node.name if isinstance(node, ast.FunctionDef) else _assigned_name(probe, node)
    found = source.find_call(node, name, infos)
    if found is None:
        raise Inconclusive(f"found no `scipy.optimize` call that takes `{name or 'the lambda'}` with a gradient")
    call, info, objective, gradient = found
    resolver = _Resolver(probe, source, call)
    fun = resolver.evaluate(objective, "the objective")
    grad_fn = resolver.evaluate(gradient, "the gradient") if gradient is not None else None
    args_node = _argument(call, "args", info["args"])
    args: tuple = ()
    args_error = ""
    if args_node is not None:
        try:
            args = tuple(resolver.evaluate(args_node, "`args`"))
        except Inconclusive as error:
            args, args_error = None, str(error)  # type: ignore[assignment]
    if args is None:
        raise Inconclusive(f"could not evaluate the extra arguments of `{ast.unparse(call.func)}`: {args_error}")

    def value(x):
        result = fun(x, *args)
        if grad_fn is None:
            result = result[0]
        return float(np.asarray(result, dtype=float).sum())

    def custom_of(x):
        result = grad_fn(x, *args) if grad_fn is not None else fun(x, *args)[1]
        return np.asarray(result, dtype=float)

    label = ast.unparse(objective) if not isinstance(objective, ast.Lambda) else "the lambda"
    parameter = _first_parameter(probe, fun) or "x"
    check = _Check([parameter], lambda values: value(values[0]), lambda values: [custom_of(values[0])])
    what = (f"the gradient `{label}` returns" if grad_fn is None else f"`{ast.unparse(gradient)}`")
    x0_node = _argument(call, "x0", 1)
    rng = np.random.default_rng(SEED)
    start, how = None, ""
    try:
        start = np.asarray(resolver.evaluate(x0_node, "`x0`"), dtype=float) if x0_node is not None else None
        how = f"x0 = `{ast.unparse(x0_node)}`"
    except Inconclusive:
        start = None
    if start is not None:
        try:
            value(start)
        except Exception:  # noqa: BLE001 - fall back to a size that works
            start = None
    if start is None:
        start = _infer_point(value, custom_of, rng)
        how = "a random vector"
    points = [start] + [start + 0.1 * max(1.0, float(np.abs(start).max(initial=0))) * rng.standard_normal(start.shape)
                        for _ in range(POINTS - 1)]
    inputs = f"{parameter} of shape {start.shape} (float64): {how} and {POINTS - 1} seeded points near it"
    return compare(check, [[p] for p in points], what, inputs)


def _infer_point(value: Callable, custom_of: Callable, rng: np.random.Generator) -> np.ndarray:
    tried: list[int] = []
    sizes = list(SIZES)
    while sizes and len(tried) < len(SIZES) + 1:
        size = sizes.pop(0)
        if size in tried:
            continue
        tried.append(size)
        x = rng.standard_normal(size)
        try:
            value(x)
            grad = custom_of(x)
        except Exception:  # noqa: BLE001, S112 - try the next size
            continue
        if grad.size == size:
            return x
        sizes.insert(0, grad.size)  # the gradient says how long x should be
    raise Inconclusive("could not evaluate `x0`, and no vector size up to "
                       f"{max(SIZES)} runs the objective with a gradient of the same size")


def _first_parameter(probe: Probe, function: Any) -> str | None:
    code = getattr(function, "__code__", None)
    if code is not None and code.co_argcount:
        return code.co_varnames[0]
    return None


def _assigned_name(probe: Probe, node: ast.AST) -> str | None:
    parent = probe.parent(node)
    if isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name):
        return parent.targets[0].id
    return None


def _argument(call: ast.Call, keyword: str, position: int) -> ast.expr | None:
    for item in call.keywords:
        if item.arg == keyword:
            return item.value
    positional = list(call.args)
    if any(isinstance(a, ast.Starred) for a in positional[: position + 1]):
        return None
    return positional[position] if position < len(positional) else None


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and bool(node.value) and not isinstance(node.value, str)


# The rest of the module: the snippet holds only the flagged definition -------------------


def _bound(statement: ast.stmt) -> set[str]:
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in statement.names}
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target] if isinstance(statement, ast.AnnAssign) else []
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _reads(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _is_main_guard(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.If) and "__main__" in ast.unparse(statement.test)


class _ModuleSource:
    """The flagged file, parsed again: the witness needs statements the snippet left out (the
    `defvjp` registration, the `scipy.optimize` call and its `x0`)."""

    SAFE = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        try:
            text = Path(probe.job.path).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise Inconclusive(f"could not read the file again: {error}") from None
        lines = text.splitlines()
        for number, line in enumerate(probe.lines, 1):
            if line.strip() and (number > len(lines) or lines[number - 1] != line):
                raise Inconclusive("the file changed since it was linted")
        self.tree = ast.parse(text)
        # Statements the snippet already ran (it keeps the original line numbers).
        self.executed = {i for i, s in enumerate(self.tree.body) if s.lineno <= len(probe.lines) and probe.lines[s.lineno - 1].strip()}

    def run(self, index: int, depth: int = 0) -> None:
        """Execute top-level statement `index` in the snippet's namespace, after the module-level
        statements it reads."""
        if index in self.executed or depth > 30:
            return
        statement = self.tree.body[index]
        if not isinstance(statement, self.SAFE) and not self._registration(statement):
            raise Inconclusive(f"line {statement.lineno} is not a plain definition; it is not run")
        self.executed.add(index)
        for name in _reads(statement) - set(self.probe.namespace):
            provider = self.provider(name, statement.lineno)
            if provider is not None:
                self.run(provider, depth + 1)
        module = ast.Module(body=[statement], type_ignores=[])
        try:
            exec(compile(module, self.probe.job.path, "exec"), self.probe.namespace)  # noqa: S102 - the user's own module
        except Exception as error:  # noqa: BLE001
            raise Inconclusive(f"could not run line {statement.lineno}: {type(error).__name__}: {error}") from None

    def provider(self, name: str, before: int | None = None) -> int | None:
        """The last safe top-level statement binding `name` (before line `before` when that
        line is at module level)."""
        found = None
        for index, statement in enumerate(self.tree.body):
            binds = isinstance(statement, self.SAFE) and name in _bound(statement)
            if binds and (before is None or statement.lineno < before or found is None):
                found = index
        return found

    def _registration(self, statement: ast.stmt, name: str | None = None) -> bool:
        targets: list[ast.expr] = []
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
            targets = [statement.value.func]
        elif isinstance(statement, ast.FunctionDef):
            targets = statement.decorator_list
        return any(isinstance(t, ast.Attribute) and t.attr in ("defvjp", "defjvp") and isinstance(t.value, ast.Name)
                   and (name is None or t.value.id == name) for t in targets)

    def run_registrations(self, name: str) -> None:
        for index, statement in enumerate(self.tree.body):
            if self._registration(statement, name):
                self.run(index)

    def find_call(self, node: ast.AST, name: str | None, infos: dict):
        """The first scipy call that takes the flagged function: (call, info, objective, gradient);
        `gradient` is None when the objective returns (cost, grad) itself."""
        for call in ast.walk(self.tree):
            if not isinstance(call, ast.Call):
                continue
            short = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)
            info = infos.get(short)
            if info is None:
                continue
            objective = next((k.value for k in call.keywords if k.arg in ("fun", "func", "f")), None)
            if objective is None and call.args and not isinstance(call.args[0], ast.Starred):
                objective = call.args[0]
            if objective is None:
                continue
            gradient = _argument(call, info["gradient"], info["position"])
            combined = (info["combined"] == "true" and _is_true(gradient)) or (
                info["combined"] == "absent" and gradient is None and not _is_true(_argument(call, "approx_grad", 4)))
            if combined:
                if _same(objective, node, name):
                    return call, info, objective, None
            elif gradient is not None and _same(gradient, node, name):
                return call, info, objective, gradient
        return None


def _same(expression: ast.expr, node: ast.AST, name: str | None) -> bool:
    if isinstance(expression, ast.Name):
        return expression.id == name
    return isinstance(node, ast.Lambda) and (expression.lineno, expression.col_offset) == (node.lineno, node.col_offset)


class _Resolver:
    """Evaluates an expression where the scipy call reads it: locals bound by a plain
    assignment earlier in the enclosing function (or `__main__` block) are evaluated first,
    module-level definitions are run from the file."""

    MAX_DEPTH = 30

    def __init__(self, probe: Probe, source: _ModuleSource, call: ast.Call) -> None:
        self.probe, self.source, self.call = probe, source, call
        self.locals: dict[str, Any] = {}
        self.scope = self._scope()

    def _scope(self) -> list[ast.stmt] | None:
        parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(self.source.tree):
            for child in ast.iter_child_nodes(parent):
                parents[child] = parent
        node: ast.AST | None = self.call
        while node is not None:
            node = parents.get(node)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or (isinstance(node, ast.If) and _is_main_guard(node)):
                self.function = node
                return node
        self.function = None
        return None

    def evaluate(self, expression: ast.expr, what: str, depth: int = 0) -> Any:
        self._prepare(expression, depth)
        code = compile(ast.Expression(body=expression), self.probe.job.path, "eval")
        try:
            return eval(code, {**self.probe.namespace, **self.locals})
        except Exception as error:  # noqa: BLE001
            raise Inconclusive(f"could not evaluate {what} `{ast.unparse(expression)}`: {type(error).__name__}: {error}") from None

    def _prepare(self, expression: ast.AST, depth: int) -> None:
        if depth > self.MAX_DEPTH:
            raise Inconclusive("the values the call needs are defined too indirectly")
        inner = {a.arg for n in ast.walk(expression) if isinstance(n, ast.Lambda) for a in n.args.args}
        for name in sorted(_reads(expression) - inner):
            if name in self.locals or (self.function is None and name in self.probe.namespace):
                continue
            if self._local(name, depth):
                continue
            if name in self.probe.namespace or hasattr(builtins, name):
                continue
            provider = self.source.provider(name, self.call.lineno if self.function is None else None)
            if provider is None:
                raise Inconclusive(f"`{name}` has no value outside a run of the program")
            self.source.run(provider)

    def _local(self, name: str, depth: int) -> bool:
        scope = self.function
        if scope is None:
            return False
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = scope.args
            if name in {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}:
                raise Inconclusive(f"`{name}` is a parameter of `{scope.name}`: its value is known only when it is called")
        assignments = [n for n in ast.walk(scope) if isinstance(n, ast.Assign) and n.lineno < self.call.lineno
                       and name in _bound(n)]
        rebound = any(isinstance(n, (ast.For, ast.AugAssign)) and name in {t.id for t in ast.walk(n.target) if isinstance(t, ast.Name)}
                      for n in ast.walk(scope))
        if not assignments or rebound:
            return False
        assignment = assignments[-1]
        value = self.evaluate(assignment.value, f"`{name}`", depth + 1)
        target = assignment.targets[0]
        if isinstance(target, ast.Name):
            self.locals[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)) and all(isinstance(e, ast.Name) for e in target.elts):
            for element, item in zip(target.elts, value):
                self.locals[element.id] = item
        else:
            return False
        return name in self.locals


def _with_decorators(probe: Probe, node: ast.FunctionDef) -> ast.FunctionDef:
    """The snippet may start a decorated function at its `def` line, without its decorators:
    run the definition again from the file, decorators included."""
    if node.decorator_list or node not in probe.tree.body:
        return node
    source = _ModuleSource(probe)
    for index, statement in enumerate(source.tree.body):
        if isinstance(statement, ast.FunctionDef) and statement.lineno == node.lineno and statement.decorator_list:
            source.executed.discard(index)
            source.run(index)
            probe.tree.body[probe.tree.body.index(node)] = statement
            return statement
    return node


# Dispatch ----------------------------------------------------------------------------------


def witness(probe: Probe):
    node = probe.target
    if isinstance(node, ast.ClassDef):
        if probe.backend.name != "torch":
            raise Inconclusive(f"`{node.name}` is a torch Function, but the file ran in the {probe.backend.name} worker")
        return _torch(probe, node)
    if isinstance(node, ast.FunctionDef):
        node = _with_decorators(probe, node)
        decorators = [_decorator_name(d) for d in node.decorator_list]
        decorators += [ast.unparse(d.args[0]) for d in node.decorator_list if isinstance(d, ast.Call) and d.args]
        if any(d.endswith("custom_gradient") for d in decorators) and probe.backend.name == "tensorflow":
            return _tensorflow(probe, node)
        if any(d.endswith(("custom_vjp", "custom_jvp")) for d in decorators) and probe.backend.name == "jax":
            return _jax(probe, node)
        return _scipy(probe, node)
    if isinstance(node, ast.Lambda):
        return _scipy(probe, node)
    raise Inconclusive(f"`{ast.unparse(node)[:60]}` is not a function with a custom gradient")


"""GL100: measure the error a hand-written finite difference makes.

The check function that holds the flagged quotient is run on a smooth test loss whose gradient
is known in closed form: every function the quotient evaluates (`f`, `J`, `loss_func`, a module
function such as `loss_at`) is replaced by the test loss, the point is a seeded random vector (or
the user's own parameters, read from the first evaluation), and the step is the user's (the
parameter default, or what a caller in the same file passes). The quotient is wrapped so that each
value it takes is recorded, with the points the test loss was evaluated at since the previous one:
the coordinate those points perturb says which partial derivative the value estimates. The
recorded values are compared with the exact gradient, next to what a central float64 difference
with h = 6.1e-6 reaches on the same loss and point.

Confirmed when the user's formula errs by more than `CHECK_TOLERANCE` and 100 times the central
float64 reference; not reproduced when it is as accurate as a check needs.
"""

from __future__ import annotations

import ast
import copy
import re
from collections import Counter
from typing import Any

import numpy as np

from gradlint.dynamic.probe import Inconclusive, Probe, binding, confirmed, not_reproduced, numeric_defaults

# Relative error above which a numerical gradient cannot check a gradient finely: the check's
# tolerance must then exceed it, while a central float64 difference reaches 1e-9 elementwise
# (ground truth, case 12: 1.2e-9 tanh, 1.3e-8 ReLU; `gradcheck`'s h = 1e-6: 1.2e-8 to 4.2e-8).
CHECK_TOLERANCE = 1e-6
# ...and it must be this many times worse than the central float64 reference on the same loss.
WORSE_THAN_CENTRAL = 100.0
# The reference: a central float64 difference with h = cbrt(eps64) (ground truth, case 12).
CENTRAL_STEP = 6.1e-6
# The test loss 0.5 * ||tanh(M p + b) - t||^2 (a one-layer tanh net, as in case 12), M of shape
# (HIDDEN, n) scaled by 1 / sqrt(n), and the size of the random point fed to a check.
HIDDEN = 4
POINT_SIZE = 6
SEED = 0
# A gradient entry smaller than this share of the largest is judged against the largest
# (the elementwise error of ground-truth case 12).
ELEMENT_FLOOR = 1e-3

# Parameters whose name says they hold the point where the gradient is taken.
POINT_NAME = re.compile(r"^(x|x0|w|theta|params?|nn_params|weights?|p|v|z|point|P)$|theta|param|weight", re.IGNORECASE)
RECORDER = "__gradlint_difference__"


class TestLoss:
    """The smooth test loss, callable on NumPy, torch, JAX and TF values (in their own dtype);
    it records each concrete point it is evaluated at."""

    def __init__(self, framework: str, pair: bool) -> None:
        self.framework = framework
        self.pair = pair  # the check unpacks `cost, grad = J(...)`
        self.points: list[np.ndarray] = []
        self.dtype: str | None = None  # of the first concrete point: the precision the check ran in
        self.weights: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def parameters(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if size not in self.weights:
            rng = np.random.default_rng(SEED + size)
            self.weights[size] = (rng.standard_normal((HIDDEN, size)) / np.sqrt(size),
                                  0.1 * rng.standard_normal(HIDDEN), 0.5 * rng.standard_normal(HIDDEN))
        return self.weights[size]

    def exact(self, point: np.ndarray) -> np.ndarray:
        flat = np.asarray(point, dtype=np.float64).ravel()
        matrix, bias, target = self.parameters(flat.size)
        hidden = np.tanh(matrix @ flat + bias)
        return matrix.T @ ((hidden - target) * (1 - hidden**2))

    def value64(self, point: np.ndarray) -> float:
        flat = np.asarray(point, dtype=np.float64).ravel()
        matrix, bias, target = self.parameters(flat.size)
        return float(0.5 * np.sum((np.tanh(matrix @ flat + bias) - target) ** 2))

    def _record(self, point: Any) -> None:
        try:
            if hasattr(point, "detach"):
                value = point.detach().cpu().numpy()
            elif hasattr(point, "numpy"):
                value = point.numpy()
            else:
                value = np.asarray(point)
            value = np.asarray(value)
            self.dtype = self.dtype or (value.dtype.name if value.dtype.kind == "f" else "float64")
            self.points.append(np.array(value, dtype=np.float64).ravel())
        except Exception:  # noqa: BLE001, S110 - a traced value (jax.grad) has no concrete point
            pass

    def __call__(self, point: Any, *args: Any, **kwargs: Any) -> Any:
        self._record(point)
        value = self._evaluate(point)
        if self.pair:
            return value, self.exact(self.points[-1]) if self.points else None
        return value

    def _evaluate(self, point: Any) -> Any:
        kind = type(point).__module__.split(".")[0]
        shape = getattr(point, "shape", ())
        size = int(np.prod(shape)) if shape else 1
        matrix, bias, target = self.parameters(size)
        if kind == "torch":
            import torch

            as_t = lambda a: torch.as_tensor(a, dtype=point.dtype, device=point.device)
            hidden = torch.tanh(as_t(matrix) @ point.reshape(-1) + as_t(bias))
            return 0.5 * ((hidden - as_t(target)) ** 2).sum()
        if kind in ("jax", "jaxlib"):
            import jax.numpy as jnp

            as_j = lambda a: jnp.asarray(a, dtype=point.dtype)
            hidden = jnp.tanh(as_j(matrix) @ point.reshape(-1) + as_j(bias))
            return 0.5 * jnp.sum((hidden - as_j(target)) ** 2)
        if kind in ("tensorflow", "keras"):
            import tensorflow as tf

            as_f = lambda a: tf.constant(a, dtype=point.dtype)
            hidden = tf.tanh(tf.linalg.matvec(as_f(matrix), tf.reshape(point, [-1])) + as_f(bias))
            return 0.5 * tf.reduce_sum((hidden - as_f(target)) ** 2)
        array = np.asarray(point)
        dtype = array.dtype if array.dtype.kind == "f" else np.float64
        hidden = np.tanh(matrix.astype(dtype) @ array.reshape(-1).astype(dtype) + bias.astype(dtype))
        value = dtype.type(0.5) * np.sum((hidden - target.astype(dtype)) ** 2)
        return value if array.ndim else value.item() if dtype == np.float64 else value


class Shared:
    """Stands in for a Theano shared variable (`get_value` / `set_value`); its test loss reads it."""

    def __init__(self, value: np.ndarray, loss: TestLoss) -> None:
        self.value = value
        self.loss = loss

    def get_value(self, borrow: bool = False) -> np.ndarray:
        return self.value.copy()

    def set_value(self, value: Any, borrow: bool = False) -> None:
        self.value = np.array(value, dtype=self.value.dtype)

    def evaluate(self, *args: Any, **kwargs: Any) -> Any:
        return self.loss(self.value)


# Reading the check function ----------------------------------------------------------------

def _called_names(function: ast.FunctionDef) -> set[str]:
    return {n.func.id for n in ast.walk(function) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def _evaluated_functions(probe: Probe, quotient: ast.BinOp, function: ast.FunctionDef) -> set[str]:
    """The names of the functions whose values the quotient subtracts: called in it, or in the
    assignments (`f0 = f(w)`, `cost1, grad1 = J(...)`) of the names it reads."""
    names = {n.id for n in ast.walk(quotient.left) if isinstance(n, ast.Name)}
    called: set[str] = set()
    for node in probe.reaching(quotient.left):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            called.add(node.func.id)
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and node.lineno < quotient.lineno:
            targets = {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            value = node.value.value if isinstance(node.value, ast.Subscript) else node.value
            if targets & names and isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
                called.add(value.func.id)
    return called


def _unpacks(function: ast.FunctionDef, name: str) -> bool:
    """Whether the check unpacks or indexes the result of `name(...)` (`cost, grad = J(x)`)."""
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple):
            value = node.value
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == name:
                return True
        if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name) and node.value.func.id == name):
            return True
    return False


def _shared_parameters(function: ast.FunctionDef) -> set[str]:
    return {n.func.value.id for n in ast.walk(function)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("get_value", "set_value")
            and isinstance(n.func.value, ast.Name)}


def _caller_value(probe: Probe, function: ast.FunctionDef, name: str, position: int) -> float | None:
    """The number a caller in the same file passes for parameter `name` (the finding's file is
    read again: callers are not part of the snippet)."""
    try:
        with open(probe.job.path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    for caller in ast.walk(tree):
        if not isinstance(caller, (ast.FunctionDef, ast.Module)):
            continue
        for call in ast.walk(caller):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == function.name):
                continue
            value = next((k.value for k in call.keywords if k.arg == name), None)
            if value is None and position < len(call.args):
                value = call.args[position]
            if isinstance(value, ast.Name) and isinstance(caller, ast.FunctionDef):
                bound = binding(caller, value.id, call.lineno)
                value = bound[1] if bound else None
            try:
                number = ast.literal_eval(value) if value is not None else None
            except ValueError:
                number = None
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                return float(number)
    return None


def _point(framework: str, dtype: str) -> Any:
    value = np.random.default_rng(SEED).standard_normal(POINT_SIZE).astype(dtype)
    if framework == "torch":
        import torch

        return torch.tensor(value)
    if framework == "jax":
        import jax.numpy as jnp

        return jnp.asarray(value)
    if framework == "tensorflow":
        import tensorflow as tf

        return tf.constant(value)
    return value


def _arguments(probe: Probe, function: ast.FunctionDef, replaced: set[str], loss: TestLoss, dtype: str,
               step: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    """Values for the check's parameters, and how each is described in `inputs`."""
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    defaults = numeric_defaults(function)
    shared = _shared_parameters(function)
    values: dict[str, Any] = {}
    described: dict[str, str] = {}
    point_given = False
    for position, arg in enumerate([*positional, *args.kwonlyargs]):
        name = arg.arg
        if name in replaced:
            values[name] = loss
        elif name in shared:
            holder = Shared(np.asarray(_point("numpy", dtype)), loss)
            values[name] = holder
            described[name] = f"{POINT_SIZE} random values ({dtype}) in a stand-in shared variable"
            point_given = True
        elif name in defaults:
            continue
        elif (number := _caller_value(probe, function, name, position if position < len(positional) else 10**6)) is not None:
            values[name] = number
            described[name] = f"{number:g} (as a caller passes it)"
        elif not point_given and (POINT_NAME.search(name) or name != step):
            values[name] = _point(probe.backend.name, dtype)
            described[name] = f"{POINT_SIZE} random values ({dtype})"
            point_given = True
        else:
            raise Inconclusive(f"cannot build a value for the parameter `{name}` of `{function.name}`")
    # A no-argument loss function reads the shared variable.
    for name in replaced:
        if name in values and shared and not any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                                                 and n.func.id == name and n.args for n in ast.walk(function)):
            holder = next(v for k, v in values.items() if isinstance(v, Shared))
            values[name] = holder.evaluate
    return values, described


# Running it ----------------------------------------------------------------------------------

class Recorder:
    """Called by the instrumented quotient: keeps each value with the points evaluated since the last one."""

    def __init__(self, loss: TestLoss) -> None:
        self.loss = loss
        self.values: list[float] = []
        self.windows: list[list[np.ndarray]] = []
        self._seen = 0

    def __call__(self, value: Any) -> Any:
        array = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value, dtype=np.float64)
        if array.size != 1:
            raise Inconclusive(f"the difference is an array of {array.size} values, not one partial derivative")
        self.values.append(float(array.ravel()[0]))
        self.windows.append(self.loss.points[self._seen:])
        self._seen = len(self.loss.points)
        return value


def _instrumented(probe: Probe, function: ast.FunctionDef, quotient: ast.BinOp) -> Any:
    """The check function compiled again with `RECORDER(...)` around the quotient (same lines)."""
    where = (quotient.lineno, quotient.col_offset, quotient.end_lineno, quotient.end_col_offset)

    class Wrap(ast.NodeTransformer):
        def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
            if (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset) == where:
                return ast.copy_location(ast.Call(ast.Name(RECORDER, ast.Load()), [node], []), node)
            return self.generic_visit(node)

    tree = Wrap().visit(ast.Module([copy.deepcopy(function)], type_ignores=[]))
    code = compile(ast.fix_missing_locations(tree), probe.job.path, "exec")
    scope: dict[str, Any] = {}
    exec(code, probe.namespace, scope)  # noqa: S102 - the user's check, with the quotient recorded
    return scope[function.name]


def _base_point(windows: list[list[np.ndarray]], given: np.ndarray | None, dtype: str) -> np.ndarray:
    """The point the check differentiates at: the one it was given, rounded to the precision it
    ran in (a check may cast), else the most frequent value of each coordinate."""
    if given is not None:
        return given.astype(dtype).astype(np.float64)
    points = [p for window in windows for p in window]
    if not points:
        raise Inconclusive("the check never evaluated the test loss at a concrete point")
    size = points[0].size
    stacked = np.stack([p for p in points if p.size == size])
    # Each coordinate is perturbed in few evaluations: its most frequent value is the base point.
    return np.array([Counter(column.tolist()).most_common(1)[0][0] for column in stacked.T])


def _directions(windows: list[list[np.ndarray]], base: np.ndarray) -> list[tuple[np.ndarray, bool] | None]:
    """For each recorded value, the direction its points perturb (a coordinate, or all
    coordinates by one step) and whether it perturbs both ways (central); None when it is not
    one such direction."""
    found: list[tuple[np.ndarray, bool] | None] = []
    for window in windows:
        moves = [p - base for p in window if p.size == base.size and np.any(p != base)]
        if not moves:
            found.append(None)
            continue
        largest = max(moves, key=lambda m: np.max(np.abs(m)))
        support = np.abs(largest) > 0
        if any(np.any((np.abs(m) > 0) & ~support) for m in moves):
            found.append(None)
            continue
        magnitude = np.abs(largest[support])
        if np.max(magnitude) > 1.5 * np.min(magnitude) or len(set(np.sign(largest[support]))) > 1:
            found.append(None)  # a random direction: its scale is not known
            continue
        signs = {float(np.sign(m[support][0])) for m in moves}
        found.append((support.astype(np.float64), len(signs) == 2))
    return found


def _errors(estimates: np.ndarray, exact: np.ndarray) -> tuple[float, float]:
    """(elementwise, normwise) relative errors, as in ground-truth case 12."""
    scale = np.maximum(np.abs(exact), ELEMENT_FLOOR * np.max(np.abs(exact)))
    elementwise = float(np.max(np.abs(estimates - exact) / scale))
    normwise = float(np.linalg.norm(estimates - exact) / np.linalg.norm(exact))
    return elementwise, normwise


def plural(count: int) -> str:
    return "s" if count != 1 else ""


def _step_name(divisor: ast.expr) -> str | None:
    """`h`, `2 * h`, `(2 * epsilon)` -> the step's name."""
    if isinstance(divisor, ast.Name):
        return divisor.id
    if isinstance(divisor, ast.BinOp) and isinstance(divisor.op, ast.Mult):
        names = [side.id for side in (divisor.left, divisor.right) if isinstance(side, ast.Name)]
        return names[0] if len(names) == 1 else None
    return None


def _step_text(function: ast.FunctionDef, quotient: ast.BinOp, values: dict[str, Any]) -> str:
    """`h=1e-05`: the step the quotient divides by, as the run used it."""
    name = _step_name(quotient.right)
    if name is None:
        return ""
    value = values.get(name, numeric_defaults(function).get(name))
    if value is None and (bound := binding(function, name, quotient.lineno)) is not None:
        try:
            value = ast.literal_eval(bound[1])
        except ValueError:
            value = None
    return f"{name}={value:g}" if isinstance(value, (int, float)) else ""


def witness(probe: Probe):
    target = probe.target
    if not (isinstance(target, ast.BinOp) and isinstance(target.op, ast.Div) and isinstance(target.left, ast.BinOp)
            and isinstance(target.left.op, ast.Sub)):
        raise Inconclusive(f"`{probe.code(target)[:60]}` is not a difference quotient: an absolute comparison's "
                           "fitness depends on the size of the gradients it compares, which the check does not know")
    function = probe.enclosing_function(target)
    if function is None or probe.parent(function) is not probe.tree:
        raise Inconclusive("the difference is not inside a module-level function the check can call")
    replaced = _evaluated_functions(probe, target, function)
    params = {a.arg for a in (*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs)}
    module_functions = {n for n in replaced if n not in params and callable(probe.namespace.get(n))
                        and getattr(probe.namespace[n], "__module__", None) == probe.job.module}
    replaced = {n for n in replaced if n in params} | module_functions
    if not replaced:
        raise Inconclusive(f"cannot tell which function `{probe.code(target)[:60]}` differentiates")
    dtype = "float32" if "float32" in probe.job.message else "float64"
    loss = TestLoss(probe.backend.name, any(_unpacks(function, n) for n in replaced))
    step = _step_name(target.right)
    values, described = _arguments(probe, function, replaced, loss, dtype, step)
    shared = next((v for v in values.values() if isinstance(v, Shared)), None)
    given = next((v for v in values.values() if not isinstance(v, (Shared, TestLoss, float)) and not callable(v)), None)
    base = shared.value if shared is not None else given
    base = None if base is None else np.asarray(base.numpy() if hasattr(base, "numpy") else base, dtype=np.float64).ravel()

    recorder = Recorder(loss)
    check = _instrumented(probe, function, target)
    saved = {n: probe.namespace[n] for n in module_functions}
    probe.namespace.update({n: loss for n in module_functions})
    probe.namespace[RECORDER] = recorder
    failure = None
    try:
        with np.errstate(all="ignore"):
            check(**values)
    except Inconclusive:
        raise
    except Exception as error:  # noqa: BLE001 - an assertion of the check may fail on the test loss
        failure = f"{type(error).__name__}: {error}".splitlines()[0][:120]
    finally:
        probe.namespace.update(saved)
        probe.namespace.pop(RECORDER, None)
    if not recorder.values:
        raise Inconclusive(f"`{function.name}` did not reach the difference on the test loss"
                           + (f" ({failure})" if failure else ""))

    dtype = loss.dtype or dtype
    base = _base_point(recorder.windows, base, dtype)
    directions = _directions(recorder.windows, base)
    pairs = [(v, d[0]) for v, d in zip(recorder.values, directions) if d is not None]
    central = sum(d[1] for d in directions if d is not None) * 2 > len(pairs)
    if not pairs:
        raise Inconclusive("cannot tell which derivative each difference estimates (it perturbs no single "
                           "coordinate of the point)")
    gradient = loss.exact(base)
    estimates = np.array([v for v, _ in pairs])
    exact = np.array([gradient @ d for _, d in pairs])
    if not np.all(np.isfinite(estimates)):
        elementwise = normwise = float("inf")
    else:
        elementwise, normwise = _errors(estimates, exact)
    reference = np.array([(loss.value64(base + CENTRAL_STEP * d) - loss.value64(base - CENTRAL_STEP * d))
                          / (2 * CENTRAL_STEP) for _, d in pairs])
    reference_error, _ = _errors(reference, exact)

    step_text = _step_text(function, target, values)
    setting = ", ".join(part for part in ("central" if central else "one-sided", step_text, dtype) if part)
    formula = f"`{probe.code(target)[:60]}` ({setting})"
    measured = (f"{formula} on a smooth test loss of {base.size} parameter{plural(base.size)}: relative error {elementwise:.2g} "
                f"elementwise ({normwise:.2g} normwise) over {len(pairs)} derivative{plural(len(pairs))}; a central float64 "
                f"difference with h={CENTRAL_STEP:g}: {reference_error:.2g}")
    inputs = [f"{k} = {v}" for k, v in described.items()]
    if given is None and shared is None:
        inputs.append(f"the check's own point ({base.size} values, {dtype})")
    replaced_text = ", ".join(f"`{n}`" for n in sorted(replaced))
    inputs.append(f"{replaced_text} replaced by the test loss 0.5*||tanh(M p + b) - t||^2")
    inputs = "; ".join(inputs)
    if elementwise > max(CHECK_TOLERANCE, WORSE_THAN_CENTRAL * reference_error):
        return confirmed(f"{measured}: too coarse to check a gradient", inputs)
    return not_reproduced(f"{measured}: accurate enough to check a gradient", inputs)

"""GL050: an objective handed to an optimiser that never reads the point the optimiser moves.

The flagged lambda or function is called at the optimiser's starting point x0 and at moved
points; identical values prove that it ignores its argument (every finite difference and every
gradient the optimiser sees is then zero). Where the objective is cheap, `scipy.optimize.minimize`
with its default method is run as well, to show that it stops at x0 and reports success
(measured with SciPy 1.17: every scipy method returns x0 with `success=True`).

x0 is the optimiser call's own starting point when it can be evaluated from the module's names
(the call is looked up in the snippet, then in the file); otherwise a small vector is chosen and
the inputs say so.

A constant objective handed to an optimiser together with `constraints=` is a feasibility
problem, not a mistake: `minimize` is rerun with the call's own constraints, bounds and method
and the result reported (not reproduced); when they cannot be evaluated, or the optimiser is
another one, the verdict is inconclusive rather than a confirmation that drops them.
"""

from __future__ import annotations

import ast
import builtins
import time
from typing import Any

import numpy as np

from gradlint.dynamic.backends import describe_array
from gradlint.dynamic.probe import Inconclusive, Probe, confirmed, free_names, not_reproduced

# Optimisers whose objective takes a scalar and that have no x0 (`minimize_scalar(f)`, `brentq(f, a, b)`).
SCALAR_OPTIMISERS = frozenset({
    "minimize_scalar", "root_scalar", "brentq", "brenth", "bisect", "ridder", "golden", "brent", "fminbound",
})
# Optimisers whose second positional argument is the bounds, not x0.
BOUNDS_OPTIMISERS = frozenset({"differential_evolution", "dual_annealing", "shgo", "direct", "brute"})
# Where no x0 can be evaluated: the measured case's starting point (x0 = 0 in three dimensions).
CHOSEN_VECTOR = np.zeros(3)
CHOSEN_SCALAR = 0.5
# The moved points: x0 + 0.1, x0 - 1, and x0 with its first coordinate moved by 0.37 (the first two
# from scipy's own finite differences, the third breaks any symmetry between coordinates).
SHIFTS = (0.1, -1.0)
SINGLE_SHIFT = 0.37
# Values closer than this (relative) count as the same: an objective that ignores its argument
# returns bit-identical values, one that uses it changes by far more at these steps.
SAME = 1e-12
# At most this many module-level statements are run to give x0 a value.
MAX_DEFINITIONS = 20
# Run `minimize` only when one objective evaluation is this cheap (seconds).
CHEAP_CALL = 0.01


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _objective_of(call: ast.Call) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg in ("fun", "func", "f"):
            return keyword.value
    return call.args[0] if call.args and not isinstance(call.args[0], ast.Starred) else None


def _argument(call: ast.Call, keyword: str, position: int) -> ast.expr | None:
    for item in call.keywords:
        if item.arg == keyword:
            return item.value
    if len(call.args) > position and not isinstance(call.args[position], ast.Starred):
        return call.args[position]
    return None


class Objective:
    """The flagged callable, live, with what is known about how the optimiser calls it."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.node = probe.target
        if isinstance(self.node, (ast.arguments, ast.arg)):
            self.node = probe.parent(self.node)
        if not isinstance(self.node, (ast.Lambda, ast.FunctionDef)):
            found = probe.enclosing(self.node, (ast.Lambda, ast.FunctionDef))
            if found is None:
                raise Inconclusive(f"`{probe.code(self.node)[:60]}` is not a lambda or a function")
            self.node = found
        args = self.node.args
        ordered = [*args.posonlyargs, *args.args]
        self.param = ordered[0].arg if ordered else (args.vararg.arg if args.vararg else None)
        if self.param is None:
            raise Inconclusive("the objective takes no argument")
        self.name = self.node.name if isinstance(self.node, ast.FunctionDef) else self._assigned_name()
        self.spelling = f"`{self.name}`" if self.name else "the lambda"
        self.call = self._optimiser_call()

    def _assigned_name(self) -> str | None:
        parent = self.probe.parent(self.node)
        if isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name):
            return parent.targets[0].id
        return None

    def _optimiser_call(self) -> ast.Call | None:
        """The call that receives the objective: in the snippet, else in the file."""
        def matches(call: ast.Call) -> bool:
            given = _objective_of(call)
            if given is self.node:
                return True
            return self.name is not None and isinstance(given, ast.Name) and given.id == self.name and call is not self.node

        for tree in (self.probe.tree, self.probe.file_tree()):
            if tree is None:
                continue
            calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and matches(n)]
            after = [c for c in calls if c.lineno >= self.node.lineno]
            if after or calls:
                return min(after or calls, key=lambda c: c.lineno)
        return None

    # Building the live function --------------------------------------------------------

    def live(self, bound: dict[str, Any]) -> Any:
        """The callable, with the names it reads from an enclosing function bound from `bound`."""
        inner = {self.param} | _bound_names(self.node)
        missing = [n for n in free_names(self.node) if n not in inner and n not in self.probe.namespace and not hasattr(builtins, n)]
        unknown = [n for n in missing if n not in bound]
        if unknown:
            owner = self.probe.enclosing_function(self.node)
            where = f" outside a call of `{owner.name}`" if owner is not None else ""
            raise Inconclusive(f"{self.spelling} reads {', '.join(f'`{n}`' for n in unknown)}, which has no value{where}")
        factory = ast.FunctionDef(
            name="__gradlint_objective__",
            args=ast.arguments(posonlyargs=[], args=[ast.arg(n) for n in missing], vararg=None, kwonlyargs=[],
                               kw_defaults=[], kwarg=None, defaults=[]),
            body=[self.node if isinstance(self.node, ast.FunctionDef) else ast.Return(self.node)]
            + ([ast.Return(ast.Name(self.node.name, ast.Load()))] if isinstance(self.node, ast.FunctionDef) else []),
            decorator_list=[], returns=None, type_params=[],
        )
        module = ast.fix_missing_locations(ast.Module([factory], type_ignores=[]))
        scope: dict = {}
        exec(compile(module, self.probe.job.path, "exec"), self.probe.namespace, scope)  # noqa: S102 - the user's code
        return scope["__gradlint_objective__"](*(bound[n] for n in missing))

    def evaluate(self, node: ast.expr | None) -> Any:
        """`node` evaluated from the module's names; None when that is not possible."""
        if node is None:
            return None
        namespace = self.probe.namespace
        missing = [n for n in free_names(node) if n not in namespace and not hasattr(builtins, n)]
        if missing:
            namespace = self._with_definitions(missing, node.lineno)
            if namespace is None:
                return None
        try:
            return eval(compile(ast.Expression(node), self.probe.job.path, "eval"), namespace)
        except Exception:  # noqa: BLE001 - no value: a chosen point is used instead
            return None

    def _with_definitions(self, names: list[str], line: int) -> dict | None:
        """A copy of the namespace with the file's module-level definitions of `names` run in it
        (the snippet holds only what the objective needs; x0 is often defined apart from it).
        Only plain assignments, imports and definitions are run, at most MAX_DEFINITIONS of them."""
        tree = self.probe.file_tree()
        if tree is None:
            return None
        binders = (ast.Assign, ast.AnnAssign, ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)
        chosen: dict[int, ast.stmt] = {}
        todo = list(names)
        namespace = dict(self.probe.namespace)
        while todo:
            name = todo.pop()
            found = [s for s in tree.body if s.lineno < line and name in _binds(s)]
            if not found or not isinstance(found[-1], binders) or len(chosen) >= MAX_DEFINITIONS:
                return None
            statement = found[-1]
            if id(statement) not in chosen:
                chosen[id(statement)] = statement
                todo += [n for n in free_names(statement) if n not in namespace and not hasattr(builtins, n)
                         and n not in _binds(statement)]
        module = ast.Module(sorted(chosen.values(), key=lambda s: s.lineno), type_ignores=[])
        try:
            exec(compile(module, self.probe.job.path, "exec"), namespace)  # noqa: S102 - the user's definitions
        except Exception:  # noqa: BLE001 - no value: a chosen point is used instead
            return None
        return namespace


def _binds(statement: ast.stmt) -> set[str]:
    """Names a module-level statement binds."""
    if isinstance(statement, (ast.FunctionDef, ast.ClassDef)):
        return {statement.name}
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in statement.names}
    return {n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _bound_names(function: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _starting_point(objective: Objective) -> tuple[np.ndarray | float, str, dict[str, Any]]:
    """x0, how it was found, and the enclosing function's names that hold it."""
    call = objective.call
    optimiser = _call_name(call) if call is not None else ""
    if optimiser in SCALAR_OPTIMISERS:
        return CHOSEN_SCALAR, f"x0 = {CHOSEN_SCALAR} (chosen: `{optimiser}` takes a scalar)", {}
    node = None
    if call is not None and optimiser not in BOUNDS_OPTIMISERS:
        node = _argument(call, "x0", 1)
    value = objective.evaluate(node)
    if value is not None:
        try:
            x0 = np.array(value, dtype=float)
        except (TypeError, ValueError):
            x0 = None
        if x0 is not None and x0.size:
            return x0, f"x0 = `{ast.unparse(node)}` = {describe_array(x0)} (from the `{optimiser}` call)", {}
    bound = {node.id: CHOSEN_VECTOR.copy()} if isinstance(node, ast.Name) else {}
    why = "the optimiser call was not found" if call is None else f"`{ast.unparse(node)}` has no value here" if node is not None else "the call gives none"
    return CHOSEN_VECTOR.copy(), f"x0 = {describe_array(CHOSEN_VECTOR)} (chosen: {why})", bound


def _cost(value: Any) -> np.ndarray:
    """The objective's value: the first element of a `(cost, gradient)` pair (`jac=True`)."""
    if isinstance(value, tuple) and value:
        value = value[0]
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError) as error:
        raise Inconclusive(f"the objective returned {type(value).__name__}, not a number: {error}") from None


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= SAME * np.maximum(1.0, np.abs(a))))


def _show(value: np.ndarray) -> str:
    return f"{float(value):.6g}" if value.size == 1 else describe_array(value)


def _at_x0(x0: np.ndarray | float) -> str:
    return f"x0 = {_show(np.asarray(x0))}" if np.size(x0) <= 4 else f"x0 ({np.size(x0)} values)"


def _points(x0: np.ndarray | float) -> list[tuple[str, Any]]:
    if np.ndim(x0) == 0:
        return [(f"x0{s:+g}", float(x0) + s) for s in SHIFTS]
    moved = [(f"x0{s:+g}", x0 + s) for s in SHIFTS]
    single = np.array(x0, dtype=float).copy()
    single.flat[0] += SINGLE_SHIFT
    return [*moved, (f"x0 with its first coordinate {SINGLE_SHIFT:+g}", single)]


def _minimize_note(function: Any, x0: np.ndarray | float, seconds: float) -> str:
    """What `scipy.optimize.minimize` (default method) does with the objective, when cheap."""
    if np.ndim(x0) == 0 or seconds > CHEAP_CALL:
        return ""
    try:
        from scipy.optimize import minimize
    except ImportError:
        return ""
    try:
        result = minimize(lambda x: float(_cost(function(x))), x0)
    except Exception:  # noqa: BLE001 - the extra evidence is optional
        return ""
    moved = float(np.max(np.abs(np.asarray(result.x) - x0)))
    return (f"; `scipy.optimize.minimize` stops after nit={result.nit} with success={bool(result.success)} "
            f"and x {'= x0' if moved == 0 else f'moved by {moved:.3g}'}")


def _feasibility(objective: Objective, function: Any, x0: Any, constant: str, inputs: str):
    """A constant objective with `constraints=` asks for a point that satisfies them, a
    legitimate use: the call is rerun with its constraints and bounds to show what it does."""
    call = objective.call
    optimiser = _call_name(call)
    given = {name: _argument(call, name, 99) for name in ("constraints", "bounds", "method")}
    values = {name: objective.evaluate(node) for name, node in given.items() if node is not None}
    why = f"{constant}, but the `{optimiser}` call passes `constraints=`: a constant objective with constraints is a feasibility problem"
    missing = [f"`{name}=`" for name, node in given.items() if node is not None and values.get(name) is None]
    if missing:
        raise Inconclusive(f"{why}, and its {', '.join(missing)} could not be evaluated here to run it")
    if optimiser != "minimize" or np.ndim(x0) == 0:
        raise Inconclusive(f"{why}; only `minimize` is rerun with them")
    try:
        from scipy.optimize import minimize

        result = minimize(lambda x: float(_cost(function(x))), x0, **values)
    except Exception as error:  # noqa: BLE001 - the call could not be reproduced: say how
        raise Inconclusive(f"{why}; rerunning it failed: {type(error).__name__}: {error}") from None
    moved = float(np.max(np.abs(np.asarray(result.x) - x0)))
    where = f"moved x by {moved:.3g} to {describe_array(np.asarray(result.x))}" if moved else "kept x0, which satisfies them"
    return not_reproduced(f"{why}; rerun with its {', '.join(f'`{n}=`' for n in values)}, `minimize` {where} "
                          f"(success={bool(result.success)})", inputs)


def witness(probe: Probe):
    objective = Objective(probe)
    x0, inputs, bound = _starting_point(objective)
    function = objective.live(bound)
    extra = objective.evaluate(_argument(objective.call, "args", 99)) if objective.call is not None else None
    extra = tuple(extra) if isinstance(extra, (tuple, list)) else (extra,) if extra is not None else ()

    def run(point: Any) -> np.ndarray:
        try:
            return _cost(function(point, *extra))
        except Inconclusive:
            raise
        except Exception as error:  # noqa: BLE001 - the user's objective failed: say how
            raise Inconclusive(f"{objective.spelling} failed at {describe_array(point)}: "
                               f"{type(error).__name__}: {error}") from None

    started = time.perf_counter()
    at_x0 = run(x0)
    seconds = time.perf_counter() - started
    for label, point in _points(x0):
        value = run(point)
        if not _same(value, at_x0):
            return not_reproduced(f"{objective.spelling} returned {_show(at_x0)} at {_at_x0(x0)} and {_show(value)} at {label}: "
                                  f"it reads its argument `{objective.param}`", inputs)
    labels = ", ".join(label for label, _ in _points(x0))
    constant = f"{objective.spelling} returned {_show(at_x0)} at {_at_x0(x0)} and the same at {labels}"
    if objective.call is not None and _argument(objective.call, "constraints", 99) is not None:
        return _feasibility(objective, lambda x: function(x, *extra), x0, constant, inputs)
    note = _minimize_note(lambda x: function(x, *extra), x0, seconds)
    return confirmed(f"{constant}: it ignores its argument `{objective.param}`{note}", inputs)

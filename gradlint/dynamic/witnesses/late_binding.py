"""GL051: closures made in a loop that read the loop variable when they run, after the loop.

The code that makes the closures runs for real: the enclosing function's statements up to and
including the loop (a comprehension is evaluated on its own), or the module-level statement,
with every closure the flagged `lambda`/`def` makes recorded as it is made, together with the
values its free variables hold at that moment. Each closure is then called, as `tf.switch_case`,
a hook or a `Lambda` layer would call it later, and so is a copy of it whose free variables are
frozen at the values they had when it was made: the value it was meant to compute. Closures that
all return the last iteration's result where their frozen copies differ are the pitfall (measured
with TF 2.21: `tf.switch_case` branches built over `k` in range(3) all return 4.0 for x = 2.0
instead of 0, 2, 4). Closures that bind the value (`lambda k=k: ...`) return one result each.

The enclosing function's parameters get stand-ins chosen from how the code uses them: a loop
iterable gets three distinct values, `range(n)` gets n = 3, anything else 2.0 (the rule's
measured x). Closures that take arguments are called with [[1, 2, 3]] (the input of the Keras
measurement), in the framework's own array type when it accepts one.
"""

from __future__ import annotations

import ast
import builtins
import re
import types
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradlint.dynamic.backends import describe_array
from gradlint.dynamic.stand_ins import RANDOM_KEY
from gradlint.dynamic.stand_ins import stand_in as shared_stand_in
from gradlint.dynamic.probe import Inconclusive, Probe, confirmed, free_names, not_reproduced, substitute
from gradlint.dynamic.witnesses.ignored_argument import _bound_names

# Distinct values a loop walks over when its iterable is a parameter (0.1, 0.01, 0.001: three
# learning rates, as in the piecewise schedules the rule was written for).
CHOSEN_SEQUENCE = (0.1, 0.01, 0.001)
# `range(n)` with n a parameter: three iterations, as in the rule's measurements.
CHOSEN_COUNT = 3
# Any other parameter: the measured x = 2.0 of the rule's docstring.
CHOSEN_SCALAR = 2.0
# The argument a closure that takes one gets: the Keras measurement's input [[1, 2, 3]].
CALL_ARGUMENT = [[1.0, 2.0, 3.0]]
# Results closer than this (relative) are the same: a late-bound closure computes bit-identical
# results, while the values it was meant to see differ by a factor of 10 or more.
SAME = 1e-9

CAPTURE = "__gradlint_capture__"
BUILT = "__gradlint_built__"
LOOPS = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
SEQUENCE_WRAPPERS = frozenset({"enumerate", "zip", "reversed", "sorted", "list", "tuple", "iter"})
MODULE_METHODS = frozenset({"named_children", "named_modules", "children", "modules", "named_parameters"})
OPTIMIZER_NAME = re.compile(r"optimi[sz]er|^opts?$", re.IGNORECASE)
TENSOR_NAME = re.compile(r"param|weight|tensor|^ws?$", re.IGNORECASE)
MESSAGE_VARIABLE = re.compile(r"loop variable `([^`]+)`")


@dataclass
class Made:
    """One closure and the values of its free variables (and defaults) when it was made."""

    function: types.FunctionType
    cells: dict[str, Any]


def _capture(records: list[Made]):
    def capture(function):
        cells = {}
        for name, cell in zip(function.__code__.co_freevars, function.__closure__ or ()):
            try:
                cells[name] = cell.cell_contents
            except ValueError:  # not assigned yet when the closure was made
                pass
        records.append(Made(function, cells))
        return function

    return capture


# Running the code that makes the closures -------------------------------------------------------

def closure_node(probe: Probe) -> ast.Lambda | ast.FunctionDef:
    target = probe.target
    if isinstance(target, (ast.Lambda, ast.FunctionDef)):
        return target
    found = probe.enclosing(target, (ast.Lambda, ast.FunctionDef))
    if found is None:
        raise Inconclusive(f"`{probe.code(target)[:60]}` is not a lambda or a function")
    return found


def _outermost_loop(probe: Probe, node: ast.AST, owner: ast.AST | None) -> ast.AST:
    found = None
    for ancestor in probe.ancestors(node):
        if ancestor is owner:
            break
        if isinstance(ancestor, LOOPS):
            found = ancestor
    if found is None:
        raise Inconclusive("no loop or comprehension holds the closure")
    return found


def _instrument(statement: ast.AST, closure: ast.AST) -> ast.AST:
    """`statement` with the closure passed to the capture as it is made."""
    def replace(node: ast.AST) -> ast.AST | None:
        if node is not closure:
            return None
        if isinstance(node, ast.Lambda):
            return ast.Call(ast.Name(CAPTURE, ast.Load()), [node], [])
        clone = substitute(node, lambda n: None)
        clone.decorator_list = [*node.decorator_list, ast.Name(CAPTURE, ast.Load())]  # applied first
        return clone

    return substitute(statement, replace)


def _body_statement(probe: Probe, node: ast.AST, owner_body: list[ast.stmt]) -> int:
    chain = [node, *probe.ancestors(node)]
    for index, statement in enumerate(owner_body):
        if any(statement is link for link in chain):
            return index
    raise Inconclusive("the loop is not in the enclosing function's body")


def _parameters(function: ast.FunctionDef) -> list[str]:
    args = function.args
    return [a.arg for a in (*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg) if a is not None]


def builder(probe: Probe, closure: ast.AST, statements: list[ast.stmt], owner: ast.FunctionDef | None,
            extra_globals: dict[str, Any]) -> tuple[Any, list[str]]:
    """A function of the owner's parameters (and the names it reads from functions around it)
    that runs `statements`, compiled among the module's names plus `extra_globals`."""
    namespace = {**probe.namespace, **extra_globals}
    names: list[str] = []
    if owner is not None:
        names = _parameters(owner)
        bound = _bound_names(owner) | {n.name for n in ast.walk(owner) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        names += [n for n in free_names(owner) if n not in bound and n not in names and n not in namespace
                  and not hasattr(builtins, n)]
    function = ast.FunctionDef(
        name="__gradlint_builder__",
        args=ast.arguments(posonlyargs=[], args=[ast.arg(n) for n in names], vararg=None, kwonlyargs=[],
                           kw_defaults=[], kwarg=None, defaults=[]),
        body=[*statements, ast.Return(ast.Constant(None))], decorator_list=[], returns=None, type_params=[],
    )
    module = ast.fix_missing_locations(ast.Module([function], type_ignores=[]))
    exec(compile(module, probe.job.path, "exec"), namespace)  # noqa: S102 - the user's own code
    return namespace[function.name], names


# Stand-in values for the enclosing function's parameters ----------------------------------------

def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _usage(owner: ast.AST, name: str) -> str:
    """How the code uses `name`: "count" (`range(n)`), "module" (`m.named_children()`),
    "sequence" (iterated or indexed) or "scalar"."""
    kinds = set()
    for node in ast.walk(owner):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "range" and any(_is_name(a, name) for a in node.args):
                kinds.add("count")
            elif node.func.id in SEQUENCE_WRAPPERS and any(_is_name(a, name) for a in node.args):
                kinds.add("sequence")
        elif (isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)) and _is_name(node.iter, name)) or (
            isinstance(node, ast.Subscript) and _is_name(node.value, name)
        ):
            kinds.add("sequence")
        elif isinstance(node, ast.Attribute) and _is_name(node.value, name) and node.attr in MODULE_METHODS:
            kinds.add("module")
        elif isinstance(node, ast.Tuple) and any(_is_name(e, name) for e in node.elts) and isinstance(node.ctx, ast.Load):
            kinds.add("count")  # a size in a shape, `keras.Input((width,))`
    for kind in ("module", "count", "sequence"):
        if kind in kinds:
            return kind
    return "scalar"


def stand_in(probe: Probe, owner: ast.AST, name: str) -> tuple[Any, str]:
    """A value for the parameter `name` and how to show it."""
    if name == "self":
        cls = probe.enclosing_class(owner) if isinstance(owner, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
        instance = probe.instance(cls) if cls is not None else None
        if instance is not None:  # built with its defaults; the probe shows how
            return instance, ""
        return types.SimpleNamespace(), ""
    if RANDOM_KEY.match(name):  # a JAX random key is a key, whatever the closures do with it
        found = shared_stand_in(name, None, probe.backend)
        if found is not None:
            return found[0], f"`{found[1]}`"
    kind = _usage(owner, name)
    torch = getattr(probe.backend, "torch", None)
    if kind == "count":
        return CHOSEN_COUNT, f"`{name}` = {CHOSEN_COUNT}"
    if kind == "module":
        if torch is None:
            raise Inconclusive(f"cannot build a model for `{name}` outside torch")
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
        return model, f"`{name}` = a stand-in Sequential(Linear, ReLU, Linear)"
    if kind == "sequence":
        if torch is not None and OPTIMIZER_NAME.search(name):
            optimizers = [torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1) for _ in CHOSEN_SEQUENCE]
            return optimizers, f"`{name}` = {len(optimizers)} stand-in SGD optimisers"
        if torch is not None and TENSOR_NAME.search(name):
            tensors = [torch.ones(2, dtype=torch.float64, requires_grad=True) for _ in CHOSEN_SEQUENCE]
            return tensors, f"`{name}` = {len(tensors)} tensors of ones(2) that require grad"
        return list(CHOSEN_SEQUENCE), f"`{name}` = {list(CHOSEN_SEQUENCE)}"
    return CHOSEN_SCALAR, f"`{name}` = {CHOSEN_SCALAR}"


# Calling the closures -----------------------------------------------------------------------------

def _argument_kinds(probe: Probe) -> list[tuple[Any, str]]:
    backend = probe.backend
    kinds: list[tuple[Any, str]] = []
    try:
        if backend.name == "torch":
            kinds.append((backend.torch.tensor(CALL_ARGUMENT), "a torch tensor"))
        elif backend.name == "tensorflow":
            kinds.append((backend.tf.constant(CALL_ARGUMENT), "a tf tensor"))
        elif backend.name == "jax":
            import jax.numpy as jnp

            kinds.append((jnp.asarray(CALL_ARGUMENT), "a JAX array"))
    except Exception:  # noqa: BLE001, S110 - the NumPy array below still serves
        pass
    kinds += [(np.array(CALL_ARGUMENT), "a NumPy array"), (CHOSEN_SCALAR, f"{CHOSEN_SCALAR}")]
    return kinds


def _required(function: types.FunctionType) -> int:
    code = function.__code__
    if code.co_kwonlyargcount and len(function.__kwdefaults__ or {}) < code.co_kwonlyargcount:
        raise Inconclusive(f"`{function.__name__}` has keyword-only parameters without defaults")
    return code.co_argcount - len(function.__defaults__ or ())


def _frozen(made: Made, varying: set[str]) -> types.FunctionType:
    """The closure with each of `varying` holding the value it had when the closure was made."""
    function = made.function
    cells = tuple(types.CellType(made.cells[name]) if name in varying else cell
                  for name, cell in zip(function.__code__.co_freevars, function.__closure__ or ()))
    frozen = types.FunctionType(function.__code__, function.__globals__, function.__name__, function.__defaults__, cells)
    frozen.__kwdefaults__ = function.__kwdefaults__
    return frozen


def _value(probe: Probe, result: Any) -> Any:
    if result is None or isinstance(result, (str, bool)):
        return result
    try:
        array = np.asarray(probe.backend.to_numpy(result), dtype=float)
    except Exception:  # noqa: BLE001 - not numeric: compared as it is
        return result
    return array


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.shape == b.shape and bool(np.all(np.abs(a - b) <= SAME * np.maximum(1.0, np.abs(a))) or
                                           np.array_equal(a, b, equal_nan=True))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - objects without a comparison
        return a is b


def show(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{float(value.ravel()[0]):.4g}" if value.size == 1 else describe_array(value, 4)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (int, str, bool)) or value is None:
        return repr(value)
    try:
        array = np.asarray(value, dtype=float)
        return f"{float(array.ravel()[0]):.4g}" if array.size == 1 else describe_array(array, 4)
    except Exception:  # noqa: BLE001 - shown by its type
        return type(value).__name__


def _call_all(probe: Probe, functions: list[types.FunctionType], frozen: list[types.FunctionType]) -> tuple[list, list, str]:
    """Each closure's result and its frozen copy's, with the first argument kind they accept."""
    required = _required(functions[0])
    errors = []
    for argument, label in _argument_kinds(probe) if required else [(None, "")]:
        args = (argument,) * required
        try:
            actual = [_value(probe, f(*args)) for f in functions]
            expected = [_value(probe, f(*args)) for f in frozen]
        except Inconclusive:
            raise
        except Exception as error:  # noqa: BLE001 - try the next kind of argument
            errors.append(f"{type(error).__name__}: {error}".splitlines()[0][:200])
            continue
        value = "[[1, 2, 3]]" if argument is not CHOSEN_SCALAR else ""
        called = f"each called with {required} argument(s) = {label} {value}".rstrip() if required \
            else "each called with no arguments"
        return actual, expected, called
    raise Inconclusive(f"the closures could not be called: {errors[-1]}")


def _shown_list(values: list, limit: int = 3) -> str:
    return ", ".join(show(v) for v in values[:limit]) + (", ..." if len(values) > limit else "")


def witness(probe: Probe):
    closure = closure_node(probe)
    owner = probe.enclosing_function(closure)
    loop = _outermost_loop(probe, closure, owner)
    records: list[Made] = []
    capture = {CAPTURE: _capture(records)}
    if owner is None:
        statement = next((s for s in probe.tree.body if s is loop or any(a is s for a in probe.ancestors(loop))), None)
        if statement is None:
            raise Inconclusive("the loop is not in a module-level statement")
        module = ast.fix_missing_locations(ast.Module([_instrument(statement, closure)], type_ignores=[]))
        exec(compile(module, probe.job.path, "exec"), {**probe.namespace, **capture})  # noqa: S102 - the user's loop
        inputs = "the module-level loop as written"
    else:
        index = _body_statement(probe, loop, owner.body)
        last = owner.body[index]
        if isinstance(loop, COMPREHENSIONS) and last is not loop:
            last = ast.copy_location(ast.Assign([ast.Name(BUILT, ast.Store())], loop), loop)
        statements = [_instrument(s, closure) for s in [*owner.body[:index], last]]
        build, names = builder(probe, closure, statements, owner, capture)
        values, shown = [], []
        for name in names:
            value, text = stand_in(probe, owner, name)
            values.append(value)
            if text and any(_is_name(n, name) for s in statements for n in ast.walk(s)):
                shown.append(text)
        build(*values)
        inputs = f"{', '.join(shown)} (chosen)" if shown else f"`{owner.name}` as written"
    label = f"`{probe.code(closure)[:40]}`" if isinstance(closure, ast.Lambda) else f"`{closure.name}`"
    if not records:
        raise Inconclusive(f"the loop ran and made no closure {label} ({inputs})")
    if len(records) < 2:
        raise Inconclusive(f"the loop made only one closure {label}: nothing to tell apart ({inputs})")

    varying: set[str] = set()
    for made in records:
        for name, value in made.cells.items():
            cell = made.function.__closure__[made.function.__code__.co_freevars.index(name)]
            try:
                now = cell.cell_contents
            except ValueError:
                continue
            if now is not value:
                varying.add(name)
    functions = [made.function for made in records]
    frozen = [_frozen(made, varying) for made in records]
    actual, expected, called = _call_all(probe, functions, frozen)
    inputs = f"{inputs}; {called}"
    count = len(records)

    if varying:
        match = MESSAGE_VARIABLE.search(probe.job.message or "")
        var = match.group(1) if match and match.group(1) in varying else min(varying)
        made_with = _shown_list([made.cells[var] for made in records])
        last_value = show(records[-1].function.__closure__[records[-1].function.__code__.co_freevars.index(var)].cell_contents)
        if any(not _same(a, e) for a, e in zip(actual, expected)):
            return confirmed(f"the {count} closures {label}, made with `{var}` = {made_with}, return {_shown_list(actual)} "
                             f"when called: all see `{var}` = {last_value}; expected {_shown_list(expected)}", inputs)
        return confirmed(f"the {count} closures {label}, made with `{var}` = {made_with}, all read `{var}` = {last_value} "
                         f"when called (they return {_shown_list(actual[:3])}, which does not show it)", inputs)
    if any(not _same(actual[0], a) for a in actual[1:]):
        return not_reproduced(f"the {count} closures {label} return {_shown_list(actual)} when called: "
                              "each keeps the value of its own iteration", inputs)
    defaults = [made.function.__defaults__ for made in records]
    if defaults[0] and any(not _same(defaults[0], d) for d in defaults[1:]):
        return not_reproduced(f"the {count} closures {label} hold their own defaults "
                              f"({', '.join(show(d[0]) for d in defaults)}): each keeps its iteration's value", inputs)
    raise Inconclusive(f"the {count} closures {label} return {_shown_list(actual[:3])} and read nothing that changed "
                       f"between iterations ({inputs})")

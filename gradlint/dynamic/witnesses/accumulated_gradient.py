"""GL090: a training loop that never zeroes its gradients adds every step's gradient to the last.

The flagged loop is run for a few steps on one fixed batch with the learning rate at 0 (so the
weights, and with them each step's own gradient, stay the same), and `p.grad` is read each time
the flagged `step()` (or hand-written update) is reached. Gradients that grow by the same amount
every step, k times the first one, are the pitfall; equal gradients at every step mean the loop
zeroes them (measured, torch 2.13: `weight.grad` after steps 1, 2, 3 was [4.2576, 5.5123],
[8.5152, 11.0247], [12.7727, 16.537] without `zero_grad()`, the same at every step with it).

A `step()` flagged for running on cleared gradients (the static message says "finds no
gradients": `zero_grad()` then `step()` with no `backward()` between) is read the same way and
confirmed when `p.grad` is None or zero every time the step is reached. A `zero_grad()` flagged
between `backward()` and `step()` is not run: the reading is taken at the flagged line, before it.

What runs is the user's own function or module-level loop (for a step function with no loop of
its own, the loop of the module that calls it): a function gets stand-in arguments
(an `nn.Linear` model, a loader that repeats one batch, an SGD optimiser, a learning rate of 0)
built from its parameter names; a method gets an instance built the same way; a loop at module
level runs on its own first batch, repeated. The reading is done by a trace on the flagged line,
and the run is stopped after STEPS readings.
"""

from __future__ import annotations

import ast
import itertools
import re
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from gradlint.dynamic import stand_ins
from gradlint.dynamic.backends import describe_array
from gradlint.dynamic.probe import Inconclusive, Probe, confirmed, free_names, not_reproduced, substitute

# Readings of `p.grad` at the flagged line before the run is stopped (three steps show the pattern).
STEPS = 3
# Relative tolerances on the change of the gradient between steps: equal steps are bit-identical
# (same batch, same weights), and accumulation adds the same gradient each time (float32 sums).
SAME = 1e-5
# Stand-in data: a batch of BATCH rows of FEATURES features (seeded, so runs are repeatable).
BATCH, FEATURES, CLASSES, SEED = 8, 4, 3, 0

MODEL_NAME = re.compile(r"model|net|module|network|classifier|encoder|decoder", re.IGNORECASE)
LOADER_NAME = re.compile(r"loader|data|dataset|batches|iterator|samples", re.IGNORECASE)
OPTIMIZER_NAME = re.compile(r"^opt(im(i[sz]er)?)?$|optimi[sz]er|^opt_|_opt$", re.IGNORECASE)
RATE_NAME = re.compile(r"^(lr|learning_rate|step_size|eta|alpha)$", re.IGNORECASE)
COUNT_NAME = re.compile(r"^(n_|num_)?(epochs?|steps|iterations|iters)$", re.IGNORECASE)
INPUT_NAME = re.compile(r"^(x|X|inputs?|features|images|xb|data_x)$")
TARGET_NAME = re.compile(r"^(y|Y|targets?|labels?|yb|data_y)$")
SCALER_NAME = re.compile(r"scaler", re.IGNORECASE)
BATCH_NAME = re.compile(r"^batch$", re.IGNORECASE)
BACKWARD = ("backward", "manual_backward")


class _Enough(Exception):
    """Raised from the trace once STEPS readings are in: stops the user's loop."""


class Readings:
    """`p.grad` of each watched tensor, each time the flagged line is reached."""

    def __init__(self, probe: Probe, watched: ast.expr, is_optimizer: bool) -> None:
        self.torch = probe.backend.torch
        self.path, self.line = probe.job.path, probe.job.line
        self.source = ast.unparse(watched)
        # Re-parsed so that an augmented assignment's target reads (Load) instead of writing.
        self.code = compile(ast.parse(self.source, mode="eval"), probe.job.path, "eval")
        self.is_optimizer = is_optimizer
        self.grads: dict[int, list[np.ndarray | None]] = {}
        self.labels: dict[int, str] = {}
        self.order: list[int] = []
        self.rate_zeroed = False  # whether the run's learning rate is 0 (optimiser or parameter)

    def clear(self) -> None:
        self.rate_zeroed = False
        self.grads.clear()
        self.labels.clear()
        self.order.clear()

    def _global(self, frame, event, arg):
        return self._local if frame.f_code.co_filename == self.path else None

    def _local(self, frame, event, arg):
        if event == "line" and frame.f_lineno == self.line:
            self.read(frame)
        return self._local

    def read(self, frame) -> None:
        value = eval(self.code, frame.f_globals, frame.f_locals)
        if self.is_optimizer:
            groups = getattr(value, "param_groups", None)
            if groups is None:
                raise Inconclusive(f"`{self.source}` is not an optimiser here")
            self.rate_zeroed = True
            for group in groups:
                group["lr"] = 0.0  # the weights stay fixed, so each step's own gradient does too
            tensors = [p for group in groups for p in group["params"]]
        else:
            tensors = [value]
        names = _parameter_names(self.torch, frame)
        for tensor in tensors:
            key = id(tensor)
            if key not in self.grads:
                self.grads[key], self.order = [], [*self.order, key]
                self.labels[key] = names.get(key, self.source)
            grad = getattr(tensor, "grad", None)
            self.grads[key].append(None if grad is None else grad.detach().cpu().double().numpy().copy())
        if len(self.grads[self.order[0]]) >= STEPS:
            raise _Enough

    def run(self, action: Callable[[], Any]) -> None:
        previous = sys.gettrace()
        sys.settrace(self._global)
        try:
            action()
        except _Enough:
            pass
        finally:
            sys.settrace(previous)

    def count(self) -> int:
        return len(self.grads[self.order[0]]) if self.order else 0


def _parameter_names(torch: Any, frame) -> dict[int, str]:
    """`net.weight` for the parameters of the modules the frame holds (locals and `self.*`)."""
    names: dict[int, str] = {}
    holders = dict(frame.f_locals)
    owner = frame.f_locals.get("self")
    if owner is not None and hasattr(owner, "__dict__"):
        holders.update({f"self.{k}": v for k, v in vars(owner).items()})
    for holder, value in holders.items():
        if isinstance(value, torch.nn.Module):
            for name, parameter in value.named_parameters():
                names.setdefault(id(parameter), f"{holder}.{name}")
    return names


# Finding what to watch and what to run ----------------------------------------------------------

def _strip_data(node: ast.expr) -> ast.expr:
    return node.value if isinstance(node, ast.Attribute) and node.attr == "data" else node


def _watched(target: ast.AST) -> tuple[ast.expr, bool]:
    """The optimiser of a `step()` call, or the tensor a hand-written update changes."""
    if isinstance(target, ast.Expr):
        target = target.value
    if isinstance(target, ast.Call) and isinstance(target.func, ast.Attribute):
        if target.func.attr == "step":
            return (target.args[0] if target.args else target.func.value), True
        if target.func.attr in ("sub_", "add_", "copy_"):
            return _strip_data(target.func.value), False
    if isinstance(target, ast.AugAssign):
        return _strip_data(target.target), False
    raise Inconclusive(f"`{ast.unparse(target)[:60]}` is neither an optimiser step nor an update of a tensor")


def _has_backward(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in BACKWARD
               for n in ast.walk(node))


def _training_loop(probe: Probe, target: ast.AST) -> ast.For | ast.While | None:
    """The loop with a `backward()` call that holds the flagged line; None when the line is in a
    module-level step function (with its `backward()`) whose caller may hold the loop."""
    for ancestor in probe.ancestors(target):
        if isinstance(ancestor, (ast.For, ast.While)) and _has_backward(ancestor):
            return ancestor
        if isinstance(ancestor, (ast.FunctionDef, ast.Lambda)):
            break
    step = probe.enclosing_function(target)
    if step is not None and probe.parent(step) is probe.tree and _has_backward(step):
        return None
    raise Inconclusive("no loop with a `backward()` call holds the flagged line")


def _calling_loop(probe: Probe, step: ast.FunctionDef) -> ast.FunctionDef:
    """The module-level function of the file that calls `step` in a loop (`for batch in loader:
    train_step(...)`), defined in the run's namespace to run the way the file does."""
    tree = probe.file_tree()
    for caller in tree.body if tree is not None else ():
        if not isinstance(caller, ast.FunctionDef) or caller.name == step.name:
            continue
        for loop in ast.walk(caller):
            if isinstance(loop, (ast.For, ast.While)) and any(
                isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == step.name
                for call in ast.walk(loop)
            ):
                module = ast.fix_missing_locations(ast.Module([caller], type_ignores=[]))
                exec(compile(module, probe.job.path, "exec"), probe.namespace)  # noqa: S102 - the user's function
                return caller
    raise Inconclusive(f"no function of the file calls `{step.name}` in a loop")


def _top_statement(probe: Probe, node: ast.AST) -> ast.stmt:
    for ancestor in [node, *probe.ancestors(node)]:
        if probe.parent(ancestor) is probe.tree:
            return ancestor
    raise Inconclusive("the flagged line is not in a module-level statement")


# Stand-ins ---------------------------------------------------------------------------------------

class StandIn:
    """A model and one batch, of one of the shapes a training loop commonly takes."""

    def __init__(self, torch: Any, outputs: int, labels: bool, paired: bool) -> None:
        generator = torch.Generator().manual_seed(SEED)
        self.torch = torch
        self.model = torch.nn.Linear(FEATURES, outputs)
        self.inputs = torch.randn(BATCH, FEATURES, generator=generator)
        self.targets = (torch.randint(0, outputs, (BATCH,), generator=generator) if labels
                        else torch.randn(BATCH, outputs, generator=generator))
        self.paired, self.labels = paired, labels
        kind = "(inputs, class labels)" if labels else "(inputs, targets)" if paired else "input tensors"
        self.description = f"a stand-in `nn.Linear({FEATURES}, {outputs})` and one batch of {BATCH} {kind}, repeated"

    def criterion(self) -> Any:
        """The loss that fits the stand-in's targets."""
        return self.torch.nn.CrossEntropyLoss() if self.labels else self.torch.nn.MSELoss()

    def batches(self) -> list:
        return [(self.inputs, self.targets) if self.paired else self.inputs] * (STEPS + 1)


def _stand_ins(torch: Any) -> list[StandIn]:
    return [StandIn(torch, 1, False, True), StandIn(torch, CLASSES, True, True), StandIn(torch, 1, False, False)]


def _arguments(function: ast.FunctionDef, stand_in: StandIn, skip_self: bool) -> dict[str, Any]:
    """Values for the parameters the function needs, from their names."""
    torch = stand_in.torch
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    if skip_self and positional:
        positional = positional[1:]
    defaults = dict(zip([a.arg for a in positional][len(positional) - len(args.defaults):], args.defaults))
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    values: dict[str, Any] = {}
    for name in [a.arg for a in (*positional, *args.kwonlyargs)]:
        if RATE_NAME.match(name):
            values[name] = 0.0
        elif OPTIMIZER_NAME.search(name):
            values[name] = "optimizer"  # built once the model is known
        elif SCALER_NAME.search(name):
            values[name] = torch.amp.GradScaler("cpu", enabled=False)  # a pass-through scaler
        elif MODEL_NAME.search(name):
            values[name] = stand_in.model
        elif LOADER_NAME.search(name):
            values[name] = stand_in.batches()
        elif stand_ins.CRITERION.match(name):
            values[name] = stand_in.criterion()
        elif stand_ins.DEVICE.match(name):
            values[name] = "cpu"
        elif stand_ins.STEP.match(name) and name not in defaults:
            values[name] = 0
        elif BATCH_NAME.match(name):
            values[name] = stand_in.batches()[0]
        elif INPUT_NAME.match(name):
            values[name] = stand_in.inputs
        elif TARGET_NAME.match(name):
            values[name] = stand_in.targets
        elif COUNT_NAME.match(name) and name not in defaults:
            values[name] = STEPS
        elif name not in defaults:
            raise Inconclusive(f"cannot build a value for the parameter `{name}` of `{function.name}`")
    for name, value in values.items():
        if isinstance(value, str) and value == "optimizer":
            values[name] = torch.optim.SGD(stand_in.model.parameters(), lr=0.0)
    return values


def _runner(probe: Probe, target: ast.AST, loop: ast.AST | None, readings: Readings) -> tuple[list, str]:
    """(actions, what they feed in): one action per stand-in to try, each a fresh run."""
    torch = probe.backend.torch
    namespace = probe.namespace
    if loop is None:  # a step function: run the file's function that calls it in a loop
        caller = _calling_loop(probe, probe.enclosing_function(target))
        return [_call_with(namespace, caller, stand_in, readings) for stand_in in _stand_ins(torch)], ""
    statement = _top_statement(probe, target)
    if isinstance(statement, (ast.For, ast.While)):
        return [lambda: _run_module_loop(probe, statement, loop)], _module_loop_inputs(loop)
    function = probe.enclosing_function(target)
    if function is None:
        raise Inconclusive("the flagged loop is neither in a function nor a module-level loop")
    cls = probe.enclosing_class(function)
    if cls is None and probe.parent(function) is not probe.tree:
        raise Inconclusive(f"`{function.name}` is nested in another function")
    if cls is not None and (probe.parent(cls) is not probe.tree or probe.parent(function) is not cls):
        raise Inconclusive(f"`{function.name}` is not a method of a module-level class")
    actions = []
    for stand_in in _stand_ins(torch):
        def action(stand_in=stand_in):
            if cls is None:
                callee = namespace[function.name]
            else:
                klass = probe.live_class(cls)
                init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
                instance = klass(**(_arguments(init, stand_in, True) if init is not None else {}))
                callee = getattr(instance, function.name)
            arguments = _arguments(function, stand_in, cls is not None)
            readings.rate_zeroed = readings.rate_zeroed or any(RATE_NAME.match(name) for name in arguments)
            callee(**arguments)
        action.description = stand_in.description
        actions.append(action)
    return actions, ""


def _call_with(namespace: dict, function: ast.FunctionDef, stand_in: StandIn, readings: Readings) -> Callable[[], Any]:
    """A run of the module-level `function` on stand-in arguments."""
    def action():
        arguments = _arguments(function, stand_in, False)
        readings.rate_zeroed = readings.rate_zeroed or any(RATE_NAME.match(name) for name in arguments)
        namespace[function.name](**arguments)
    action.description = f"`{function.name}` run with {stand_in.description}"
    return action


def _module_loop_inputs(loop: ast.AST) -> str:
    if isinstance(loop, ast.For):
        return f"the first item of `{ast.unparse(loop.iter)}`, repeated"
    return "the loop as written"


def _run_module_loop(probe: Probe, statement: ast.stmt, loop: ast.AST) -> None:
    """The module-level loop (the snippet does not run it), on its first batch repeated,
    with the gradients it left behind cleared."""
    torch = probe.backend.torch
    namespace = probe.namespace
    for value in list(namespace.values()):
        if isinstance(value, torch.nn.Module):
            value.zero_grad(set_to_none=True)
        elif isinstance(value, torch.Tensor) and value.is_leaf and value.requires_grad:
            value.grad = None
    body = statement
    if isinstance(loop, ast.For) and all(n in namespace for n in free_names(loop.iter)):
        try:
            first = next(iter(eval(compile(ast.Expression(loop.iter), probe.job.path, "eval"), namespace)))
        except StopIteration:
            raise Inconclusive(f"`{ast.unparse(loop.iter)}` is empty") from None
        namespace["__gradlint_batches__"] = [first] * (STEPS + 1)
        body = substitute(statement, lambda n: ast.copy_location(ast.Name("__gradlint_batches__", ast.Load()), n)
                          if n is loop.iter else None)
    module = ast.fix_missing_locations(ast.Module([body], type_ignores=[]))
    exec(compile(module, probe.job.path, "exec"), namespace)  # noqa: S102 - the user's loop


# The verdict -------------------------------------------------------------------------------------

def _norm(value: np.ndarray) -> float:
    return float(np.linalg.norm(value))


# The static message of a step that runs on cleared gradients.
CLEARED_FINDING = "finds no gradients"


def _cleared_verdict(readings: Readings, inputs: str):
    """Every reading at the step is None or zero: the step has nothing to apply."""
    key = readings.order[0]
    grads = readings.grads[key][:STEPS]
    label = readings.labels[key]
    shown = ", ".join("None" if g is None else describe_array(g, 4) for g in grads)
    evidence = f"`{label}.grad` when the step runs, at steps {', '.join(str(i + 1) for i in range(len(grads)))}, is {shown}"
    if all(g is None or not np.any(g) for g in grads):
        return confirmed(f"{evidence}: the step finds no gradients", inputs)
    return not_reproduced(f"{evidence}: the step has gradients to apply", inputs)


def _verdict(readings: Readings, inputs: str):
    key = next((k for k in readings.order if all(g is not None for g in readings.grads[k])), None)
    if key is None:
        raise Inconclusive(f"no gradient reached `{readings.source}` by the flagged line")
    grads = readings.grads[key][:STEPS]
    label = readings.labels[key]
    first = _norm(grads[0])
    if first == 0:
        raise Inconclusive(f"`{label}.grad` is zero at the first step")
    changes = [b - a for a, b in itertools.pairwise(grads)]
    shown = ", ".join(describe_array(g, 4) for g in grads)
    steps = ", ".join(str(i + 1) for i in range(len(grads)))
    setting = "learning rate 0, same batch" if readings.rate_zeroed else "same batch"
    evidence = f"`{label}.grad` at steps {steps} ({setting}) is {shown}"
    if all(_norm(c) <= SAME * first for c in changes):
        return not_reproduced(f"{evidence}: the same at every step, the loop zeroes it", inputs)
    growth = _norm(changes[0])
    if growth > SAME * first and all(_norm(c - changes[0]) <= SAME * growth for c in changes[1:]):
        ratios = ", ".join(f"{_norm(g) / first:.3g}" for g in grads)
        return confirmed(f"{evidence}: it grows by the same gradient every step ({ratios} times step 1): "
                         f"nothing zeroes it", inputs)
    raise Inconclusive(f"{evidence}: it changes irregularly (a random model or data, or weights that still move)")


def witness(probe: Probe):
    if probe.backend.name != "torch":
        raise Inconclusive("the check runs torch training loops")
    target = probe.target
    watched, is_optimizer = _watched(target)
    loop = _training_loop(probe, target)
    readings = Readings(probe, watched, is_optimizer)
    actions, inputs = _runner(probe, target, loop, readings)
    errors = []
    for index, action in enumerate(actions):
        readings.clear()
        try:
            with probe.backend.torch.random.fork_rng():
                readings.run(action)
        except Inconclusive:
            raise
        except Exception as error:  # noqa: BLE001 - try the next stand-in
            if readings.count() < 2:
                errors.append(f"{type(error).__name__}: {error}".splitlines()[0][:200])
                continue
        if readings.count() < 2:
            errors.append(f"the flagged line ran {readings.count()} time(s)")
            continue
        text = inputs or getattr(action, "description", "")
        verdict = _cleared_verdict if CLEARED_FINDING in probe.job.message else _verdict
        try:
            return verdict(readings, f"{text}; learning rate set to 0" if readings.rate_zeroed else text)
        except Inconclusive as reason:
            if index == len(actions) - 1:
                raise
            errors.append(str(reason))  # e.g. a one-output stand-in under a softmax loss: try the next
    raise Inconclusive(f"could not run the loop {('with ' + getattr(actions[0], 'description', '')) if not inputs else 'again'}: "
                       f"{errors[-1] if errors else 'no run'}")

"""GL092: an in-place write to a tensor autograd saved for backward makes backward raise.

The code holding the write is run and differentiated: a module's `forward` on an instance
built as the GL001 witness builds one (`gradlint.dynamic.models`), a plain function on small
inputs that require grad (it may call `backward()` itself), an `nn.Sequential` on a random
batch (a module's input is an activation, a clone of the leaf that requires grad, as inside
a network: writing to the input itself is allowed there), or, for a write at module level,
the tensor the snippet left behind. The flagged line is traced, so a verdict is given only
when the write really ran. The finding is confirmed when torch raises "one of the variables
needed for gradient computation has been modified by an inplace operation" (quoted with its
version numbers), and not reproduced when backward runs, unless the file switches modules to
run in place with a loop (`m.inplace = True`), which the run does not apply: inconclusive.
A write through `.data` raises nothing by design (the gradient is silently wrong), so it stays
inconclusive.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from typing import Any

import numpy as np

from gradlint.dynamic import models
from gradlint.dynamic.probe import Inconclusive, Observation, Probe, confirmed, first_line, not_reproduced

ERROR = "modified by an inplace operation"
# A square shape for a plain function's tensor arguments: `q @ k.T`, `h @ w` and elementwise
# code all accept it. Values in (0.1, 0.9): valid probabilities, targets and rates.
SQUARE = (4, 4)
SEED = 0
GUESSED_SIZE = models.GUESSED_SIZE


def witness(probe: Probe) -> Observation:
    if probe.backend.name != "torch":
        raise Inconclusive(f"GL092 is a torch pitfall; this code runs under {probe.backend.name}")
    target = probe.target
    code = probe.spelled(target)
    if ".data." in code or code.startswith("data."):
        raise Inconclusive(f"`{code}` writes through `.data`, which torch does not version-check: no error to observe "
                           "(the gradient is silently wrong instead)")
    line = target.lineno
    sequential = _enclosing_sequential(probe, target)
    if sequential is not None:
        return _run_sequential(probe, sequential, code)
    function = probe.enclosing_function(target)
    if function is None:
        return _module_level(probe, target, code)
    cls = probe.enclosing_class(target)
    if cls is not None:
        return _run_method(probe, cls, function, code, line)
    return _run_function(probe, function, code, line)


# The four ways to run the code -------------------------------------------------------------


def _run_method(probe: Probe, cls: ast.ClassDef, function: ast.FunctionDef, code: str, line: int) -> Observation:
    live = probe.live_class(cls)
    if models.framework_of(live) != "torch":
        raise Inconclusive(f"`{cls.name}` is not a torch module")
    try:
        module, call = models.build_among(probe.constructors(live))
    except models.CannotRun as error:
        raise Inconclusive(str(error)) from None
    method = getattr(module, function.name)
    dtype = _module_dtype(module)
    errors = []
    for shape in models.candidate_shapes(module, "torch"):
        if shape and shape[0] == "int":
            continue
        arguments = _arguments(inspect.signature(method), shape, dtype)
        if arguments is None:
            continue
        values, described = arguments
        where = f"`{call}.{function.name}` on {described}"
        outcome = _differentiate(probe, lambda values=values: method(*map(_activation, values)), values, list(module.parameters()), line)
        if isinstance(outcome, str):
            errors.append(outcome)
            continue
        return _verdict(probe, outcome, code, where)
    raise Inconclusive(f"could not run `{call}.{function.name}` on a small input ({errors[0] if errors else 'no shape fits'})")


def _run_function(probe: Probe, function: ast.FunctionDef, code: str, line: int) -> Observation:
    live = probe.namespace.get(function.name)
    if not callable(live):
        raise Inconclusive(f"`{function.name}` is not defined at module level")
    arguments = _arguments(inspect.signature(live), SQUARE, "float64")
    if arguments is None:
        raise Inconclusive(f"cannot choose arguments for `{function.name}`")
    values, described = arguments
    outcome = _differentiate(probe, lambda: live(*values), values, [], line)
    if isinstance(outcome, str):
        raise Inconclusive(f"could not run `{function.name}` on {described}: {outcome}")
    return _verdict(probe, outcome, code, f"`{function.name}` on {described}")


def _run_sequential(probe: Probe, node: ast.Call, code: str) -> Observation:
    expression = probe.expression(node)
    sizes = {name: GUESSED_SIZE for name in expression.inputs}
    try:
        module = expression(**sizes)
    except Exception as error:  # noqa: BLE001 - the model cannot be built with guessed sizes
        raise Inconclusive(f"could not build `{probe.spelled(node)[:60]}`: {type(error).__name__}: {error}") from None
    built = "`nn.Sequential(...)`" + (f" with {', '.join(f'{k} = {v}' for k, v in sizes.items())}" if sizes else "")
    errors = []
    for shape in models.candidate_shapes(module, "torch"):
        if shape and shape[0] == "int":
            continue
        x = _tensor(probe, shape, _module_dtype(module))
        outcome = _differentiate(probe, lambda x=x: module(_activation(x)), [x], list(module.parameters()), None)
        if isinstance(outcome, str):
            errors.append(outcome)
            continue
        return _verdict(probe, outcome, code, f"{built} in training mode on x = {models.describe_shape(shape)}")
    raise Inconclusive(f"could not run {built} ({errors[0] if errors else 'no shape fits'})")


def _module_level(probe: Probe, target: ast.AST, code: str) -> Observation:
    """The snippet already ran the write: differentiate the tensor it wrote to."""
    written = _written_name(target)
    value = probe.namespace.get(written) if written else None
    torch = probe.backend.torch
    if not isinstance(value, torch.Tensor) or not value.requires_grad:
        raise Inconclusive(f"`{written or code}` is not a tensor that requires grad after the module's code ran")
    try:
        value.sum().backward()
    except RuntimeError as error:
        if ERROR in str(error):
            return confirmed(f"after `{code}`, `{written}.sum().backward()` raised: {_quote(error)}", "the module's own tensors")
        raise
    return not_reproduced(f"after `{code}`, `{written}.sum().backward()` ran", "the module's own tensors")


# Running and judging ---------------------------------------------------------------------


def _differentiate(probe: Probe, run, inputs: list, parameters: list, line: int | None):
    """Run the code and backward through its output. Returns ("raised", error, ran) or
    ("ran", grad norms, ran), or a string saying why it could not run."""
    torch = probe.backend.torch
    ran = _LineTrace(probe.job.path, line)
    try:
        with torch.enable_grad(), ran:
            output = run()
        leaves = [t for t in _tensors(output, torch) if t.requires_grad]
        wrt = [t for t in [*inputs, *parameters] if isinstance(t, torch.Tensor) and t.requires_grad]
        if leaves:
            rng = np.random.default_rng(SEED)
            total = sum((leaf * torch.as_tensor(rng.standard_normal(tuple(leaf.shape)), dtype=leaf.dtype)).sum() for leaf in leaves)
            grads = torch.autograd.grad(total, wrt, allow_unused=True)
        elif any(t.grad is not None for t in wrt):  # the code called backward() itself
            grads = [t.grad for t in wrt]
        else:
            return "its output holds no tensor that requires grad"
    except RuntimeError as error:
        if ERROR in str(error):
            return ("raised", error, ran.hit)
        return f"{type(error).__name__}: {first_line(error)}"
    except Exception as error:  # noqa: BLE001 - wrong guess of shapes or arguments
        return f"{type(error).__name__}: {first_line(error)}"
    norms = [float(g.norm()) for g in grads if g is not None]
    return ("ran", norms, ran.hit)


def _verdict(probe: Probe, outcome: tuple, code: str, where: str) -> Observation:
    kind, detail, hit = outcome
    if kind == "raised":
        return confirmed(f"backward raised: {_quote(detail)} (after `{code}`)", where)
    if not hit:
        raise Inconclusive(f"backward ran, but `{code}` did not run on this input (a branch skipped it)")
    loop = _configuration_loop(probe.file_tree() or probe.tree)
    if loop is not None:  # the module that runs the loop may hold this code: what ran is not what it runs
        raise Inconclusive(
            f"backward ran, but line {loop} switches modules to run in place (`.inplace = True` in a loop), "
            "which this run did not apply"
        )
    largest = max(detail, default=0.0)
    return not_reproduced(f"`{code}` ran and backward ran: {len(detail)} gradients, the largest with norm {largest:.3g}", where)


def _configuration_loop(tree: ast.Module) -> int | None:
    """The line of an `m.inplace = True` inside a `for` loop of the file, if any."""
    for loop in ast.walk(tree):
        if isinstance(loop, ast.For):
            for node in ast.walk(loop):
                if (
                    isinstance(node, ast.Assign)
                    and any(isinstance(t, ast.Attribute) and t.attr == "inplace" for t in node.targets)
                    and isinstance(node.value, ast.Constant) and node.value.value is True
                ):
                    return node.lineno
    return None


class _LineTrace:
    """Records whether `line` of the user's file ran (None: nothing to check)."""

    def __init__(self, path: str, line: int | None) -> None:
        self.path, self.line, self.hit = path, line, line is None

    def _local(self, frame, event, arg):
        if event == "line" and frame.f_lineno == self.line:
            self.hit = True
        return self._local

    def _global(self, frame, event, arg):
        return self._local if frame.f_code.co_filename == self.path else None

    def __enter__(self):
        self._previous = sys.gettrace()
        if self.line is not None:
            sys.settrace(self._global)
        return self

    def __exit__(self, *exc):
        sys.settrace(self._previous)
        return False


def _arguments(signature: inspect.Signature, shape: tuple, dtype: str) -> tuple[list, str] | None:
    """Tensors of `shape` requiring grad for the parameters without a default; sizes for
    parameters that look like sizes; the first tensor's column index for an index (`dropped`)."""
    import torch

    rng = np.random.default_rng(SEED)
    values, described = [], []
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD) or parameter.default is not parameter.empty:
            continue
        if models._size_like(parameter) and not re.fullmatch(r"(x|h|in|inputs?)", parameter.name):
            values.append(GUESSED_SIZE)
            described.append(f"{parameter.name} = {GUESSED_SIZE}")
        elif values and parameter.name in INDEX_NAMES:
            values.append(0)
            described.append(f"{parameter.name} = 0")
        else:
            values.append(torch.tensor(rng.uniform(0.1, 0.9, size=shape), dtype=getattr(torch, dtype), requires_grad=True))
            described.append(f"{parameter.name} = uniform(0.1, 0.9){shape}")
    return values, ", ".join(described) + f" ({dtype}, requiring grad)"


# Parameters that index rather than carry data (`gate[:, dropped]`).
INDEX_NAMES = frozenset({"dropped", "index", "idx", "indices", "column", "col"})


def _activation(value: Any) -> Any:
    """What a module is given inside a network: an activation, not a leaf, so an in-place
    write to the input itself (`nn.ReLU(inplace=True)` first) is allowed, as it is there."""
    return value.clone() if getattr(value, "requires_grad", False) else value


def _tensor(probe: Probe, shape: tuple, dtype: str):
    torch = probe.backend.torch
    rng = np.random.default_rng(SEED)
    return torch.tensor(rng.standard_normal(shape), dtype=getattr(torch, dtype), requires_grad=True)


def _module_dtype(module: Any) -> str:
    return models._torch_dtype(module)


def _tensors(output: Any, torch) -> list:
    if isinstance(output, torch.Tensor):
        return [output] if output.is_floating_point() else []
    if isinstance(output, (list, tuple)):
        return [t for item in output for t in _tensors(item, torch)]
    if isinstance(output, dict):
        return [t for item in output.values() for t in _tensors(item, torch)]
    return []


def _enclosing_sequential(probe: Probe, target: ast.AST) -> ast.Call | None:
    for node in (target, *probe.ancestors(target)):
        if isinstance(node, ast.Call) and node is not target:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "Sequential":
                return node
        if isinstance(node, ast.stmt):
            return None
    return None


def _written_name(target: ast.AST) -> str | None:
    node = target
    if isinstance(node, ast.Expr):
        node = node.value
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr.endswith("_"):
            inner = func.value
            if isinstance(inner, ast.Name) and inner.id in ("torch", "F") and node.args and isinstance(node.args[0], ast.Name):
                return node.args[0].id  # torch.relu_(y)
            return inner.id if isinstance(inner, ast.Name) else None
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript) and isinstance(node.targets[0].value, ast.Name):
        return node.targets[0].value.id
    return None


def _quote(error: Exception) -> str:
    """torch's message up to the version numbers: "..., is at version 1; expected version 0 instead"."""
    text = " ".join(str(error).split())
    end = text.find("instead")
    return text[: end + len("instead")] if end > 0 else text[:300]



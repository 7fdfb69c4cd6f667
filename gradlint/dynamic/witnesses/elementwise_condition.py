"""GL010: a conditional that needs one boolean is given an elementwise predicate.

The flagged predicate is evaluated on a batch of three elements (the layer input or argument
becomes `[-1, 2, 3]`, as measured); a test that needs rows of features (a layer applied first,
`x[:, 0]`, `x.sum(dim=1)`) gets three rows whose first column is that batch, in float32, with the
first width the code accepts (said in the evidence). When it holds one boolean per element, the construct
itself is run on it: `tf.cond` / `jax.lax.cond` / `torch.cond` with the same inputs, and for `if`,
`while`, `... if ... else ...`, `and`, `or` and `not` the truth test they make (`bool(pred)`). The
error that follows is the pitfall (TF eager and NumPy-style arrays: "The truth value of an array
with more than one element is ambiguous"; torch: "Boolean value of Tensor with more than one value
is ambiguous"; JAX: "Pred must be a scalar"). A `cond` that accepts the batch without an error is
compared with the elementwise select of its two branches.

The shapes the code uses come first: a function that the same file only ever calls with one
example (a number, `torch.tensor(0.3)`, `x.item()`) gets that example, and its predicate is one
boolean (not reproduced); when some calls pass one example and others may pass a batch, the
verdict is inconclusive. A function the file never calls gets the batch.

A predicate that stays one value on a batch is not elementwise (not reproduced), and an
elementwise select (`tf.where`, `torch.where`, `jnp.where`, `keras.ops.where`, the repair) is run
and shown to select per element.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import numpy as np

from gradlint.dynamic.backends import DTYPE_CLASH, describe_array
from gradlint.dynamic.probe import SELF_PREFIX, Inconclusive, Probe, confirmed, not_reproduced, numeric_defaults

# The batch fed for every tensor input (as measured: `x = [-1, 2, 3]`).
BATCH = np.array([-1.0, 2.0, 3.0])
# When the code needs rows of features (a layer applied first, `x[:, 0]`, `x.sum(dim=1)`), the
# batch becomes its first column, in float32, for the first of these widths the code accepts.
ROW_WIDTHS = (2, 3, 4, 8, 16, 32, 64, 128, 256, 512)
# A layer's own weight (`self.threshold`, built with shape [1] in the seed): one value, broadcast.
WEIGHT = np.array([0.5])
# Error texts that are this pitfall: a conditional refusing a predicate with several elements
# (TF 2.21, and `jax.lax.cond` / `torch.cond` measured with JAX 0.10.2, torch 2.13.0).
PITFALL_ERROR = re.compile(
    r"truth value of an array with more than one element is ambiguous"
    r"|Boolean value of Tensor with more than one value is ambiguous"
    r"|Pred must be a scalar"
    r"|Expected pred to be bool or single-element tensor"
    r"|must be a scalar, but it has shape"
    r"|expected to be `?tf\.bool`? scalar"
    r"|boolean conversion of traced array",
    re.IGNORECASE,
)
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")  # Keras colours its messages
SELECTS = frozenset({"where", "select", "switch"})


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _cond_predicate(call: ast.Call) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg in ("pred", "condition"):
            return keyword.value
    return call.args[0] if call.args else None


class Construct:
    """What the predicate feeds: `cond` (a call), `select` (a `where`), or `truth` (`if` & co.)."""

    def __init__(self, probe: Probe) -> None:
        node = probe.target
        self.call: ast.Call | None = None
        if isinstance(node, ast.Call) and (_callee(node) == "cond" or _callee(node) in SELECTS):
            self.call, self.pred = node, _cond_predicate(node)
        else:
            self.pred = node
            parent = probe.parent(node)
            if isinstance(parent, ast.keyword):
                parent = probe.parent(parent)
            if isinstance(parent, ast.Call) and node is not parent.func and _callee(parent) in {"cond", *SELECTS}:
                self.call = parent
        if self.pred is None:
            raise Inconclusive(f"`{probe.code(node)}` has no predicate")
        if self.call is not None:
            self.kind = "select" if _callee(self.call) in SELECTS else "cond"
            self.name = ast.unparse(self.call.func)
        else:
            self.kind, self.name = "truth", _truth_construct(probe, node)


def _truth_construct(probe: Probe, node: ast.AST) -> str:
    """The statement or operator that tests `node`: through `and` / `or` / `not` up to the
    `if`, `while` or conditional expression holding them."""
    current, innermost = probe.parent(node), None
    while isinstance(current, (ast.BoolOp, ast.UnaryOp)):
        innermost = innermost or current
        current = probe.parent(current)
    if isinstance(current, ast.If):
        return "if"
    if isinstance(current, ast.While):
        return "while"
    if isinstance(current, ast.IfExp):
        return "... if ... else ..."
    if isinstance(innermost, ast.BoolOp):
        return "and" if isinstance(innermost.op, ast.And) else "or"
    return "not" if innermost is not None else "bool(...)"


def _values(names: list[str], defaults: dict[str, Any]) -> dict[str, Any]:
    values = {}
    for name in names:
        if name.startswith(SELF_PREFIX):
            values[name] = WEIGHT
        elif name in defaults:
            values[name] = np.array(defaults[name])
        else:
            values[name] = BATCH
    return values


def _describe_inputs(values: dict[str, Any], dtype: str = "float64") -> str:
    def shown(v: Any) -> str:
        if np.ndim(v) > 1:
            return f"rows whose first column is {describe_array(v[:, 0])} (shape {np.shape(v)})"
        return describe_array(v) if np.ndim(v) else f"{float(v):g}"
    return ", ".join(f"{name} = {shown(v)}" for name, v in values.items()) + f" ({dtype})"


def _describe_mask(values: np.ndarray, limit: int = 8) -> str:
    flat = np.asarray(values).ravel()
    if flat.dtype != bool:
        return describe_array(flat, limit)
    shown = ", ".join(str(bool(v)) for v in flat[:limit])
    return f"[{shown}{', ...' if flat.size > limit else ''}]"


def _tensor(backend: Any, value: np.ndarray, dtype: str = "float64") -> Any:
    if backend.name == "torch":
        return backend.tensor(value, dtype)
    if backend.name == "tensorflow":
        return backend.tf.constant(value, dtype=getattr(backend.tf, dtype))
    if backend.name == "jax":
        import jax.numpy as jnp

        return jnp.asarray(value, dtype=getattr(jnp, dtype))
    return np.asarray(value, dtype=dtype)


def _error_text(error: BaseException) -> str:
    """`Type: message`, with the line of the message that names the pitfall (Keras wraps the
    framework's error in "Exception encountered when calling ...")."""
    text = ANSI_ESCAPE.sub("", str(error))
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = next((line for line in lines if PITFALL_ERROR.search(line)), lines[0] if lines else "")
    return f"{type(error).__name__}: {line}"[:200]


def _run(probe: Probe, expression: Any, values: dict[str, np.ndarray], dtype: str = "float64") -> Any:
    backend = probe.backend
    try:
        return expression(**{name: _tensor(backend, v, dtype) for name, v in values.items()})
    except Exception as error:
        # Code that makes its own float32 tensors (`tf.ones(shape)`) runs in its own dtype, said so.
        if backend.name != "tensorflow" or not DTYPE_CLASH.search(str(error)):
            raise
        backend.narrowed = True
        return expression(**{name: backend.tf.constant(v, dtype=backend.tf.float32) for name, v in values.items()})


def _shape(probe: Probe, value: Any) -> tuple:
    return tuple(np.shape(probe.backend.to_numpy(value)))


# Calls that make one example from a number: `torch.tensor(0.3)`, `np.float32(1)`, `x.item()`.
ONE_EXAMPLE_CALLS = frozenset({
    "tensor", "as_tensor", "scalar_tensor", "constant", "convert_to_tensor", "array", "asarray",
    "float32", "float64", "float", "int",
})


def _number(node: ast.AST) -> float | None:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _one_example(node: ast.AST) -> float | None:
    """The number an argument holds when it is one example (a literal, `torch.tensor(0.3)`),
    NaN for `x.item()`; None when it may be a batch."""
    if _number(node) is not None:
        return _number(node)
    if isinstance(node, ast.Call) and _callee(node) == "item" and not node.args:
        return float("nan")
    if isinstance(node, ast.Call) and _callee(node) in ONE_EXAMPLE_CALLS and node.args:
        return _number(node.args[0])
    return None


def _argument_of(call: ast.Call, function: ast.FunctionDef, name: str) -> ast.expr | None:
    positional = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    index = positional.index(name) if name in positional else len(call.args)
    return call.args[index] if index < len(call.args) and not isinstance(call.args[index], ast.Starred) else None


def _call_shapes(probe: Probe, function: ast.AST | None, names: list[str]) -> dict[str, float] | None:
    """How the file calls the function holding the predicate: when every call passes one
    example (a scalar) for the predicate's parameters, those numbers; None when the file never
    calls it (or the finding is not in a plain function). Raises Inconclusive when some calls
    pass one example and others may pass a batch: no single shape stands for the code."""
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) or probe.enclosing_class(function) is not None:
        return None
    tree = probe.file_tree() or probe.tree
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == function.name]
    params = [name for name in names if name in {a.arg for a in (*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs)}]
    if not calls or not params:
        return None
    examples, batches = [], []
    for call in calls:
        given = {name: _argument_of(call, function, name) for name in params}
        numbers = {name: _one_example(node) for name, node in given.items() if node is not None}
        (batches if any(value is None for value in numbers.values()) else examples).append((call, numbers))
    if not batches:
        return examples[0][1]  # the first call's numbers; parameters it leaves out keep their defaults
    if examples:
        raise Inconclusive(f"this file calls `{function.name}` with one example (a scalar) at line {examples[0][0].lineno} "
                           f"and with another value at line {batches[0][0].lineno}; the check cannot tell which shape "
                           "the condition sees")
    return None


def witness(probe: Probe):
    construct = Construct(probe)
    node = construct.call if construct.call is not None else construct.pred
    defaults = numeric_defaults(probe.enclosing_function(node))
    predicate = probe.expression(construct.pred)
    examples = _call_shapes(probe, probe.enclosing_function(node), predicate.inputs)
    if examples:
        return _one_example_calls(probe, construct, predicate, defaults, examples)
    values = _values(predicate.inputs, defaults)
    inputs = _describe_inputs(values)
    if not any(np.ndim(v) for v in values.values()):
        raise Inconclusive(f"`{predicate.source}` reads no tensor input to feed a batch into")
    if construct.kind == "truth":  # only the test itself runs: rows of features may stand in
        pred_value, inputs = _evaluate_on_rows(probe, predicate, values)
    else:
        pred_value = _evaluate(probe, predicate, values, "a batch")
    shape = _shape(probe, pred_value)
    shown = inputs.rpartition(" (")[0]
    pred_text = f"`{predicate.source}` at {shown} is {_describe_mask(probe.backend.to_numpy(pred_value))} (shape {shape})"
    if construct.kind == "select":
        return _select(probe, construct, defaults, pred_text)
    if int(np.prod(shape)) <= 1:
        return not_reproduced(f"{pred_text}: one boolean, which `{construct.name}` can test", inputs)
    if construct.kind == "truth":
        try:
            bool(pred_value)
        except Exception as error:  # noqa: BLE001 - the error is what is observed
            if PITFALL_ERROR.search(str(error)):
                return confirmed(f"{pred_text}: `{construct.name}` raises {_error_text(error)}", inputs)
            raise Inconclusive(f"{pred_text}; testing it raised something else: {_error_text(error)}") from None
        raise Inconclusive(f"{pred_text}, yet `bool()` of it gave no error")
    return _cond(probe, construct, defaults, pred_value, pred_text, inputs)


def _evaluate(probe: Probe, predicate: Any, values: dict, on: str) -> Any:
    """The predicate's value at `values`; inconclusive when it cannot be computed."""
    try:
        return _run(probe, predicate, values)
    except Inconclusive:
        raise
    except Exception as error:  # noqa: BLE001 - the predicate itself could not be computed
        raise Inconclusive(f"could not evaluate `{predicate.source}` on {on}: {_error_text(error)}") from None


def _evaluate_on_rows(probe: Probe, predicate: Any, values: dict) -> tuple[Any, str]:
    """(the predicate's value, the inputs it ran on): on the batch, else, when the code needs
    rows of features (a layer, `x[:, 0]`), on rows whose first column is the batch."""
    try:
        return _run(probe, predicate, values), _describe_inputs(values)
    except Inconclusive:
        raise
    except Exception as error:  # noqa: BLE001 - try rows of features
        first = error
    for width in ROW_WIDTHS:
        rows = {name: np.column_stack([v] + [v * (k + 2) / 10 for k in range(width - 1)]) if np.ndim(v) == 1 else v
                for name, v in values.items()}
        try:
            return _run(probe, predicate, rows, "float32"), _describe_inputs(rows, "float32")
        except Inconclusive:
            raise
        except Exception:  # noqa: BLE001, S112 - the next width
            continue
    raise Inconclusive(f"could not evaluate `{predicate.source}` on a batch: {_error_text(first)}") from None


def _one_example_calls(probe: Probe, construct: Construct, predicate: Any, defaults: dict, examples: dict[str, float]):
    """The predicate with the numbers the file's calls pass (one example each): one boolean."""
    values = {name: np.array(examples[name] if np.isfinite(examples.get(name, np.nan)) else BATCH[0])
              if name in examples else _values([name], defaults)[name] for name in predicate.inputs}
    inputs = _describe_inputs(values)
    function = probe.enclosing_function(construct.pred)
    pred_value = _evaluate(probe, predicate, values, "one example")
    shape = _shape(probe, pred_value)
    if int(np.prod(shape)) > 1:
        raise Inconclusive(f"this file calls `{function.name}` only with one example, yet `{predicate.source}` at "
                           f"{inputs} has shape {shape}")
    return not_reproduced(f"this file calls `{function.name}` only with one example (a scalar) for "
                          f"{', '.join(f'`{n}`' for n in examples)}: `{predicate.source}` at {inputs.removesuffix(' (float64)')} "
                          f"is one boolean, which `{construct.name}` can test", inputs)


def _cond(probe: Probe, construct: Construct, defaults: dict, pred_value: Any, pred_text: str, inputs: str):
    call = probe.expression(construct.call)
    values = _values(call.inputs, defaults)
    try:
        output = _run(probe, call, values)
    except Inconclusive:
        raise
    except Exception as error:  # noqa: BLE001 - the error is what is observed
        if PITFALL_ERROR.search(str(error)):
            return confirmed(f"{pred_text}: `{construct.name}` raises {_error_text(error)}", inputs)
        raise Inconclusive(f"{pred_text}; `{construct.name}` failed for another reason: {_error_text(error)}") from None
    # Accepted without an error: compare with the elementwise select of the two branches.
    branches = _branches(construct.call)
    if branches is None:
        raise Inconclusive(f"{pred_text}; `{construct.name}` accepted it and its branches are not plain lambdas to compare with")
    chosen = []
    for branch in branches:
        expression = probe.expression(branch)
        chosen.append(probe.backend.to_numpy(_run(probe, expression, _values(expression.inputs, defaults))))
    mask = probe.backend.to_numpy(pred_value).astype(bool)
    elementwise = np.where(mask, *np.broadcast_arrays(*chosen))
    got = probe.backend.to_numpy(output)
    if got.shape == elementwise.shape and np.allclose(got, elementwise):
        return not_reproduced(f"{pred_text}; `{construct.name}` returned {describe_array(got)}, as the elementwise select", inputs)
    return confirmed(f"{pred_text}; `{construct.name}` silently returned {describe_array(got)} where the elementwise "
                     f"select gives {describe_array(elementwise)}", inputs)


def _branches(call: ast.Call) -> list[ast.expr] | None:
    positional = call.args[1:3]
    named = {k.arg: k.value for k in call.keywords}
    found = positional or [named.get("true_fn"), named.get("false_fn")]
    if len(found) != 2 or not all(isinstance(b, ast.Lambda) and not b.args.args for b in found):
        return None
    return [b.body for b in found]


def _select(probe: Probe, construct: Construct, defaults: dict, pred_text: str):
    """The repair: an elementwise select runs, and its gradient reaches each element."""
    call = probe.expression(construct.call)
    values = _values(call.inputs, defaults)
    inputs = _describe_inputs(values)
    try:
        output, grads = probe.backend.gradients(call, values)
    except Inconclusive:
        raise
    except Exception as error:  # noqa: BLE001 - a select that fails is another problem
        raise Inconclusive(f"`{construct.name}` failed on a batch: {_error_text(error)}") from None
    batch_inputs = [n for n, v in values.items() if np.ndim(v) and not n.startswith(SELF_PREFIX)]
    grad_text = ""
    if batch_inputs and grads.get(batch_inputs[0]) is not None:
        grad = grads[batch_inputs[0]]
        grad_text = f", d/d{batch_inputs[0]} = {describe_array(grad)}"
        if not np.all(np.isfinite(grad)):
            grad_text += " (the non-finite entries come from the branches themselves, not from the condition)"
    return not_reproduced(f"{pred_text}; `{construct.name}` selects per element: y = {describe_array(output)}{grad_text}", inputs)

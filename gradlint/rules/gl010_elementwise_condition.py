from __future__ import annotations

import re

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.gradients import LOSS_WORDS, name_words
from gradlint.engine.syntax import argument, number, parameter_names
from gradlint.engine.walker import iter_tree
from gradlint.rule import Fix, Rule, Severity
from gradlint.semantic.model import ModuleModel, Place

COND = api_table("condition_cond")
COMPARE = api_table("condition_compare")
ELEMENTWISE = api_table("condition_elementwise")
TENSOR_DECORATORS = api_table("condition_tensor_decorators")
SIDE_EFFECTS = api_table("condition_side_effects")
AXIS_REDUCTION = api_table("condition_axis_reduction")

# Methods whose first argument is a batch of tensors in a layer, module or loss class.
LAYER_METHODS = frozenset({"call", "forward", "__call__"})
# Parameters that are (nearly always) tensors wherever they appear.
TENSOR_PARAMS = frozenset({"y_true", "y_pred"})
# Receivers that are not the data: `self`, `cls`, the autograd `ctx`.
SKIPPED_PARAMS = frozenset({"self", "cls", "ctx"})
# Parameter names that usually hold Python scalars, sizes, flags or keys, even in tensor code.
SCALAR_PARAM = re.compile(
    r"^(?:i|j|k|n|t|it|step|steps|epoch|epochs|iteration|iters?|count|seed|key|rng|idx|index|dim|axis|"
    r"training|is_training|train|lr|learning_rate|rate|length|size|offset|seq_len|"
    r"(?:num|n|max|min)_\w+|\w+_(?:step|steps|len|length|size|dim|idx|index|count))$"
)
# Functions named like a loss: `hinge_loss`, `loss`, `custom_loss_fn` (not `lossless_cast`).
# An annotated parameter counts only when its annotation names a tensor type.
TENSOR_ANNOTATION = re.compile(r"Tensor|Array|ndarray")
# Framework of a resolved name -> the elementwise select to suggest.
WHERE = {"tensorflow": "tf.where", "keras": "keras.ops.where", "jax": "jnp.where", "torch": "torch.where"}
# Calls a branch may make and still be moved into a `where` (both branches then always run).
PURE_MODULES = frozenset({"tensorflow", "keras", "jax", "torch", "numpy", "math"})
ELEMENTWISE_COMPARISONS = (
    cst.LessThan, cst.LessThanEqual, cst.GreaterThan, cst.GreaterThanEqual, cst.Equal, cst.NotEqual,
)
ARITHMETIC = (
    cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.Power, cst.Modulo, cst.FloorDivide, cst.MatrixMultiply,
)
BITWISE = (cst.BitAnd, cst.BitOr, cst.BitXor)

# What an expression is known to be: a batch of numbers, or a batch of booleans.
TENSOR = "tensor"
MASK = "mask"


class ElementwiseCondition(Rule):
    """
    ## What it does
    Checks for a conditional that needs one boolean (`tf.cond`, `if`, `while`,
    `a if c else b`, `and`, `or`, `not`) given an elementwise tensor comparison.

    Covered conditionals: `tf.cond` (and `tf.compat.v1.cond`), `keras.ops.cond`,
    `jax.lax.cond`, `torch.cond`, and Python `if`, `while`, conditional expressions, `and`,
    `or` and `not`. A predicate is elementwise when it compares a batch of tensors: a layer's
    input (the first argument of `call` / `forward` / `__call__` in a Keras layer, a
    `torch.nn.Module` or a Flax module), an argument of a `tf.function`, `jax.jit` or
    `torch.compile` function, the `y_true` / `y_pred` of a loss (or the first two arguments of
    a function named `*_loss`), or a local value computed from these by elementwise framework
    calls (`tf.math.less`, `torch.gt`, `jnp.exp`, arithmetic, `x.abs()`, ...), by a layer
    (`h = self.dense(x)`, `self.block(x)` with a layer class of the project: the semantic
    model's `layer_object`), by a column taken whole along the first axis (`x[:, 0]`) or by a
    reduction along an axis after the first (`x.sum(dim=1)`, `tf.reduce_max(x, axis=2)`).

    ## Why is this bad?
    A conditional takes one branch for everything it computes, but an elementwise predicate
    holds one boolean per element. What happens depends on the shape, so the bug can hide:

    - Several elements (shape `(3,)`): TF eager `tf.cond` and Python `if` raise
      `ValueError: The truth value of an array with more than one element is ambiguous. Use
      a.any() or a.all()`. Inside `tf.function`, `tf.cond` traces fine and fails only at run
      time with `InvalidArgumentError: The second input must be a scalar, but it has shape
      [3]`; an AutoGraph `if` fails at trace time with `condition of if statement expected to
      be tf.bool scalar`. Torch raises `RuntimeError: Boolean value of Tensor with more than
      one value is ambiguous`, `torch.cond` `Expected pred to be bool or single-element
      tensor`, and `jax.lax.cond` `TypeError: Pred must be a scalar`.
    - One element (shape `(1,)`, a batch of one): `tf.cond` (eager and `tf.function`),
      `keras.ops.cond`, `torch.cond` and a torch `if` accept it silently and take one branch
      for everything the branches compute (`tf.cond(x > 0, lambda: 2*x, lambda: -3*x)` at
      `x = [2.]` gives `y = [4.]`, gradient `[2.]`). A test with a batch of one passes; a real
      batch fails, or, where the branches work on more elements than the predicate holds,
      every element gets the same branch and the same gradient.

    `tf.where` / `torch.where` / `jnp.where` / `keras.ops.where` select per element and give
    the per-element gradient (`y = [3, 4, 6]`, gradient `[-3, 2, 2]` at `x = [-1, 2, 3]`).
    Measured with TensorFlow 2.21.0, Keras 3.15.1, torch 2.13.0 and JAX 0.10.2.

    ## Example
    ```python
    class BumpLayer(tf.keras.layers.Layer):
        def call(self, inputs):
            inside = tf.math.less(inputs, self.threshold)
            return tf.cond(inside, lambda: bump(inputs), lambda: tf.zeros_like(inputs))
    ```

    Use instead:
    ```python
    class BumpLayer(tf.keras.layers.Layer):
        def call(self, inputs):
            inside = tf.math.less(inputs, self.threshold)
            return tf.where(inside, bump(inputs), 0.0)
    ```

    ## Notes
    The evidence that a predicate is elementwise must be positive, so the rule stays quiet on:
    reduced predicates (`tf.reduce_all`, `tf.reduce_any`, `torch.all`, `jnp.any`, `.any()`,
    `.all()`, `.item()`, `.sum()`, `float(x)`, `bool(x.sum())`); shape, rank, dtype and `None`
    checks (`x.shape[0] > 1`, `x.ndim == 2`, `tf.rank(x) > 2`, `len(x) > 0`, `x is None`);
    Python flags and configuration (`training`, `self.flag`); any value that is not derived
    from a layer input or a traced argument (`tf.cond(tf.less(step, warmup), ...)` on a
    scalar step is fine). Arguments named like scalars (`step`, `epoch`, `seq_len`, `axis`,
    `num_*`, `*_size`, ...) are not counted as tensors, nor are `jax.jit` static arguments.

    A layer is a class deriving from a framework layer or module, directly or through the
    project's own base classes in any module (`class Relie(BaseOp)` with `BaseOp` a
    `keras.layers.Layer` defined elsewhere in the project), as the semantic model resolves it.

    A value returned by a function of the project or a method (`s = row_score(x)` with `def
    row_score(t): return t.sum(dim=1)`) is elementwise when every `return` of it is, read with
    its parameters holding the call's arguments.

    Known misses: a reduction along the last
    axis (`x.sum(dim=-1) > 0`: for a 1-D input it leaves one value, so it is not counted);
    plain functions that are not layer methods, not decorated and
    do not take `y_true` / `y_pred`; `assert` statements and comprehension filters.

    ## Severity
    Error for `tf.cond` / `torch.cond` / `jax.lax.cond` / `keras.ops.cond`, which fail at run time
    or are silently wrong for shape-(1,) predicates; warning for Python control flow.

    ## References
    - `tf.cond`: "pred: A scalar determining whether to return the result of true_fn or false_fn."
    - `tf.where`, `torch.where`, `jax.numpy.where`: elementwise selection.
    """

    code = "GL010"
    severity = Severity.WARNING
    other_severities = (Severity.ERROR,)  # see ## Severity
    message = (
        "{construct} needs one bool but `{pred}` is elementwise: it fails or picks one branch for all; "
        "use `{where}`"
    )
    frameworks = ("tensorflow", "keras", "torch", "jax")
    fix_title = "select elementwise with `where` (both branches are computed)"

    def __init__(self, context) -> None:
        super().__init__(context)
        # Per function: its parameters that hold a batch of tensors -> their framework. Where no
        # function around the walk has one, no expression can be elementwise, and every
        # handler returns at once.
        self.tensors: dict[cst.FunctionDef, dict[str, str | None]] = {}
        self.evidence: list[bool] = []
        self.reported: set[int] = set()
        self._default_framework: str | None = None

    # Scopes ---------------------------------------------------------------------------

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        params = [*node.params.posonly_params, *node.params.params, *node.params.kwonly_params]
        tensors = dict(self._tensor_params(node, params))
        self.tensors[node] = tensors
        self.evidence.append(bool(tensors))

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.evidence.pop()

    def _active(self) -> bool:
        return True in self.evidence

    def _tensor_params(self, node: cst.FunctionDef, params: list[cst.Param]) -> list[tuple[str, str | None]]:
        candidates = [p.name.value for p in params if self._may_be_tensor(p)]
        found: list[tuple[str, str | None]] = [(name, None) for name in candidates if name in TENSOR_PARAMS]
        framework = self._decorated(node)
        if framework is not None:
            static = _static_params(node)
            return found if static is None else found + [(n, framework) for n in candidates if n not in static]
        positional = [
            p for p in (*node.params.posonly_params, *node.params.params) if p.name.value not in SKIPPED_PARAMS
        ]
        if not positional:
            return found
        name = node.name.value
        if name in LAYER_METHODS:
            framework = self._layer_class()
            if framework is not None and positional[0].name.value in candidates:
                found.append((positional[0].name.value, framework))
        elif _is_loss_function(name) and not name.lstrip("_").startswith("test"):
            found += [
                (p.name.value, None) for p in positional[:2] if p.default is None and p.name.value in candidates
            ]
        return found

    def _may_be_tensor(self, param: cst.Param) -> bool:
        """Not `self`, not named like a scalar, not annotated with a non-tensor type."""
        name = param.name.value
        if name in SKIPPED_PARAMS or SCALAR_PARAM.match(name):
            return False
        return param.annotation is None or bool(TENSOR_ANNOTATION.search(self.source(param.annotation.annotation)))

    def _decorated(self, node: cst.FunctionDef) -> str | None:
        for decorator in node.decorators:
            expr = decorator.decorator
            if isinstance(expr, cst.Call):
                inner = expr.args[0].value if expr.args else None
                names = self.qualified_names(expr.func)
                if "functools.partial" in names and inner is not None:
                    names = self.qualified_names(inner)
            else:
                names = self.qualified_names(expr)
            for name in names:
                if name in TENSOR_DECORATORS:
                    return _framework(name)
        return None

    def _layer_class(self) -> str | None:
        scopes = self.context.scopes
        if len(scopes) < 2 or not isinstance(scopes[-2], cst.ClassDef):
            return None
        return self.context.semantic.layer_framework(scopes[-2])

    # What an expression is ------------------------------------------------------------


    def _kind(self, node: cst.BaseExpression, place: Place, depth: int = 0) -> tuple[str, str | None] | None:
        """(MASK or TENSOR, framework) when `node`, read at `place`, is known to hold one value
        per element: a name when every assignment that reaches it does (the semantic model),
        a tensor parameter, or what computes elementwise from one."""
        if depth > _MAX_DEPTH:
            return None
        depth += 1
        if isinstance(node, cst.Name):
            return self._name_kind(node, place, depth)
        if isinstance(node, cst.Comparison):
            return self._comparison(node, place, depth)
        if isinstance(node, cst.BinaryOperation):
            left, right = self._kind(node.left, place, depth), self._kind(node.right, place, depth)
            if isinstance(node.operator, ARITHMETIC):
                known = left or right
                return (TENSOR, known[1]) if known else None
            if isinstance(node.operator, BITWISE):
                for side in (left, right):
                    if side is not None and side[0] == MASK:
                        return side
            return None
        if isinstance(node, cst.UnaryOperation):
            if isinstance(node.operator, cst.Not):
                return None
            return self._kind(node.expression, place, depth)
        if isinstance(node, cst.Call):
            return self._call(node, place, depth)
        if isinstance(node, cst.Subscript) and _keeps_first_axis(node):
            return self._kind(node.value, place, depth)  # `x[:, 0]`: one value per row
        return None

    def _name_kind(self, node: cst.Name, place: Place, depth: int) -> tuple[str, str | None] | None:
        values = ModuleModel.assignments(node, place)
        if values is None:  # a parameter: of a function whose tensors are known, or a lambda's
            owner = next((f for f in place.scope.functions if node.value in parameter_names(f)), None)
            framework = self.tensors.get(owner, {}).get(node.value, _NOT_A_TENSOR) if owner is not None else _NOT_A_TENSOR
            return (TENSOR, framework) if framework is not _NOT_A_TENSOR else None
        kinds = [self._kind(value, at, depth) if index is None and isinstance(value, cst.BaseExpression) else None
                 for value, index, at in values]
        if not kinds or None in kinds:
            return None
        framework = next((kind[1] for kind in kinds if kind[1]), None)
        return (MASK if all(kind[0] == MASK for kind in kinds) else TENSOR, framework)

    def _comparison(self, node: cst.Comparison, place: Place, depth: int) -> tuple[str, str | None] | None:
        operands = [node.left, *(c.comparator for c in node.comparisons)]
        if not all(isinstance(c.operator, ELEMENTWISE_COMPARISONS) for c in node.comparisons):
            return None
        if any(_not_a_tensor(operand) for operand in operands):
            return None
        for operand in operands:
            known = self._kind(operand, place, depth)
            if known is not None:
                return (MASK, known[1])
        return None

    def _call(self, node: cst.Call, place: Place, depth: int) -> tuple[str, str | None] | None:
        for table, kind in ((COMPARE, MASK), (ELEMENTWISE, TENSOR)):
            name = self.callee(node, table)
            if name is not None:
                for arg in node.args:
                    if arg.keyword is None and not arg.star:
                        known = self._kind(arg.value, place, depth)
                        if known is not None:
                            framework = _framework(name)
                            if name in ELEMENTWISE and name.split(".")[-1] in ("where", "switch"):
                                kind = TENSOR
                            return (kind, framework)
                return None
        reduced = self._reduced_along_an_axis(node)
        if reduced is not None:
            known = self._kind(reduced, place, depth)
            return (TENSOR, known[1]) if known is not None else None
        applied = self._layer_applied(node, place, depth)
        if applied is not None:
            return applied
        returned = ModuleModel.returns(node, place) if not place.qualified_names(node.func) else None
        if returned:  # a helper of the project: every `return` holds one value per element
            kinds = [self._kind(value, at, depth) for value, at in returned]
            if None not in kinds:
                framework = next((kind[1] for kind in kinds if kind[1]), None)
                return (MASK if all(kind[0] == MASK for kind in kinds) else TENSOR, framework)
        method = self.context.names.method(node)
        if method is None:
            return None
        receiver = node.func.value  # type: ignore[attr-defined]
        for table, kind in ((COMPARE, MASK), (ELEMENTWISE, TENSOR)):
            if method in table.methods:
                known = self._kind(receiver, place, depth)
                return (kind, known[1]) if known is not None else None
        return None

    def _reduced_along_an_axis(self, node: cst.Call) -> cst.BaseExpression | None:
        """The tensor of `x.sum(dim=1)`, `tf.reduce_max(x, axis=2)`: reduced along one axis
        other than the first, it keeps a value per row. An axis 0, -1 or held in a name may
        leave a single value (a 1-D `y_pred`), and is not counted."""
        method = self.context.names.method(node)
        if self.callee(node, AXIS_REDUCTION) is not None:
            tensor, position = argument(node, ("input", "input_tensor", "x", "a"), 0), AXIS_REDUCTION.info["position"]
        elif method in AXIS_REDUCTION.methods:
            tensor, position = node.func.value, AXIS_REDUCTION.info["method_position"]  # type: ignore[attr-defined]
        else:
            return None
        axis = argument(node, tuple(AXIS_REDUCTION.info["keywords"]), position)
        value = number(axis) if axis is not None else None
        return tensor if value is not None and value >= 1 and value == int(value) else None

    def _layer_applied(self, node: cst.Call, place: Place, depth: int) -> tuple[str, str | None] | None:
        """A layer called on an elementwise tensor (`self.dense(x)`, `Dense(4)(x)`, `self.block(x)`
        with a layer class of the project): a batch again, one value per element."""
        inputs = [arg.value for arg in node.args if arg.keyword is None and not arg.star]
        if not inputs or isinstance(node.func, cst.Name) and node.func.value in ("float", "int", "bool", "len"):
            return None
        known = self._kind(inputs[0], place, depth)
        if known is None:
            return None
        framework = self.context.semantic.layer_object(node.func, self.context.scopes)
        return (TENSOR, known[1] or framework) if framework is not None else None

    # Where a single boolean is needed -------------------------------------------------

    def visit_If(self, node: cst.If) -> None:
        if self._active():
            self._truth_test(node.test, "`if`")

    def visit_While(self, node: cst.While) -> None:
        if self._active():
            self._truth_test(node.test, "`while`")

    def visit_IfExp(self, node: cst.IfExp) -> None:
        if self._active():
            self._truth_test(node.test, "`... if ... else ...`")

    def visit_BooleanOperation(self, node: cst.BooleanOperation) -> None:
        if self._active():
            word = "`and`" if isinstance(node.operator, cst.And) else "`or`"
            self._truth_test(node.left, word)

    def visit_UnaryOperation(self, node: cst.UnaryOperation) -> None:
        if self._active() and isinstance(node.operator, cst.Not):
            self._truth_test(node.expression, "`not`")

    def visit_Call(self, node: cst.Call) -> None:
        if not self._active() or not node.args:
            return
        if isinstance(node.func, cst.Attribute) and node.func.attr.value != "cond":
            return  # a cheap look before resolving: every API in COND ends in `.cond`
        name = self.callee(node, COND)
        if name is None:
            return
        pred = _predicate(node)
        if pred is None:
            return
        known = self._kind(pred, self.place())
        if known is not None and known[0] == MASK and id(pred) not in self.reported:
            self.reported.add(id(pred))
            self.report(pred, construct=f"`{self.source(node.func)}`", pred=self.source(pred),
                        where=WHERE[_framework(name) or "tensorflow"], severity=Severity.ERROR,
                        fix=self._cond_to_where(node, name))

    def _cond_to_where(self, call: cst.Call, name: str) -> Fix | None:
        """`tf.cond(mask, lambda: a, lambda: b)` -> `tf.where(mask, a, b)`, when both branches are
        argument-free lambdas whose bodies only compute (no assignment, no unknown call)."""
        args = list(call.args)
        if len(args) != 3 or any(arg.star for arg in args):
            return None
        branches = [arg.value for arg in args[1:]]
        if not all(isinstance(b, cst.Lambda) and not _has_params(b.params) and self._pure(b.body) for b in branches):
            return None
        where = self._where_function(call.func, name)
        if where is None:
            return None
        new_args = [
            arg.with_changes(value=value, keyword=None, equal=cst.MaybeSentinel.DEFAULT)
            for arg, value in zip(args, [args[0].value, *(b.body for b in branches)])
        ]
        return Fix(call, call.with_changes(func=where, args=new_args))

    def _where_function(self, func: cst.BaseExpression, name: str) -> cst.BaseExpression | None:
        """The file's own spelling of the elementwise select that replaces this `cond`."""
        if name in ("tensorflow.cond", "keras.ops.cond", "torch.cond") and isinstance(func, cst.Attribute):
            return func.with_changes(attr=cst.Name("where"))
        if name == "jax.lax.cond":
            for local, targets in self.context.names.aliases.items():
                if targets == {"jax.numpy"}:
                    return cst.Attribute(cst.Name(local), cst.Name("where"))
        return None

    def _pure(self, expression: cst.BaseExpression) -> bool:
        """Only names, constants, operators, subscripts and calls of framework functions."""
        for node in iter_tree(expression):
            if isinstance(node, cst.Call):
                names = self.qualified_names(node.func)
                if not names or names & SIDE_EFFECTS or not all(n.split(".", 1)[0] in PURE_MODULES for n in names):
                    return False
            elif isinstance(node, (cst.NamedExpr, cst.Lambda, cst.Yield, cst.Await)):
                return False
        return True

    def _truth_test(self, test: cst.BaseExpression, construct: str) -> None:
        if isinstance(test, cst.BooleanOperation):
            self._truth_test(test.left, construct)
            self._truth_test(test.right, construct)
            return
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            self._truth_test(test.expression, construct)
            return
        if id(test) in self.reported:
            return
        known = self._kind(test, self.place())
        if known is None or known[0] != MASK:
            return
        self.reported.add(id(test))
        self.report(test, construct=construct, pred=self.source(test), where=self._where(known[1]))

    def _where(self, framework: str | None) -> str:
        if not framework:
            framework = self._file_framework()
        if framework == "keras" and "tensorflow" in self._imported():
            framework = "tensorflow"
        return WHERE.get(framework, "tf.where")

    def _imported(self) -> set[str]:
        return {target.split(".", 1)[0] for targets in self.context.names.aliases.values() for target in targets}

    def _file_framework(self) -> str:
        if self._default_framework is None:
            imported = self._imported()
            self._default_framework = next(
                (f for f in ("torch", "jax", "tensorflow", "keras") if f in imported), "tensorflow"
            )
        return self._default_framework


_MAX_DEPTH = 12  # names and calls followed from one condition
_NOT_A_TENSOR = object()


def _framework(name: str) -> str | None:
    head = name.split(".", 1)[0]
    if head in ("tensorflow", "keras", "jax", "torch"):
        return head
    if head == "flax":
        return "jax"
    return None


def _not_a_tensor(node: cst.BaseExpression) -> bool:
    """`None`, strings and containers: `x == None` and `x == "auto"` are not elementwise tests."""
    if isinstance(node, cst.Name):
        return node.value == "None"
    return isinstance(
        node, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString, cst.List, cst.Tuple, cst.Dict, cst.Set)
    )


def _has_params(params: cst.Parameters) -> bool:
    return bool(params.params or params.posonly_params or params.kwonly_params
                or isinstance(params.star_arg, cst.Param) or params.star_kwarg)


def _predicate(call: cst.Call) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "pred":
            return arg.value
    first = call.args[0]
    if first.keyword is None and not first.star:
        return first.value
    return None


def _static_params(node: cst.FunctionDef) -> set[str] | None:
    """Names of `jax.jit` static arguments; None when they cannot be read (then trust none)."""
    static: set[str] = set()
    positional = [p.name.value for p in (*node.params.posonly_params, *node.params.params)]
    for decorator in node.decorators:
        expr = decorator.decorator
        if not isinstance(expr, cst.Call):
            continue
        for arg in expr.args:
            keyword = arg.keyword.value if arg.keyword is not None else None
            if keyword not in ("static_argnums", "static_argnames"):
                continue
            values = arg.value.elements if isinstance(arg.value, (cst.Tuple, cst.List)) else None
            values = [e.value for e in values] if values is not None else [arg.value]
            for value in values:
                if keyword == "static_argnums" and isinstance(value, cst.Integer):
                    index = int(value.value)
                    if -len(positional) <= index < len(positional):
                        static.add(positional[index])
                elif keyword == "static_argnames" and isinstance(value, cst.SimpleString):
                    static.add(value.evaluated_value)
                else:
                    return None
    return static


def _is_loss_function(name: str) -> bool:
    """`dice_loss`, `loss_fn`, `nll`: a function that is a loss by its last word, not a helper
    of one (`nll_loss_helper` runs on one sample at a time)."""
    words = name_words(name)
    if words and words[-1] == "fn":
        words = words[:-1]
    return bool(words) and words[-1] in LOSS_WORDS


def _keeps_first_axis(node: cst.Subscript) -> bool:
    """`x[:, 0]`, `x[:, :, 1]`: the first axis taken whole, another one indexed."""
    first = node.slice[0].slice if node.slice else None
    return (
        len(node.slice) > 1
        and isinstance(first, cst.Slice)
        and first.lower is None and first.upper is None and first.step is None
    )

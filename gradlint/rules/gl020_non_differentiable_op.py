from __future__ import annotations

import re
from collections import Counter

import libcst as cst

from gradlint.data import api_table, canonical_name
from gradlint.engine.flow import StatementFlow
from gradlint.engine.gradients import name_words, named_like_loss, not_differentiated
from gradlint.engine.syntax import argument
from gradlint.engine.walker import iter_tree
from gradlint.rule import Fix, Rule, Severity
from gradlint.semantic.losses import compiled_losses

OPS = api_table("gl020_ops")
COMPARE = api_table("gl020_compare")
CASTS = api_table("gl020_casts")
FLOAT_CASTS = api_table("gl020_float_casts")
INT_DTYPES = api_table("gl020_int_dtypes")
STOP = api_table("gl020_stop_gradient")
WHERE = api_table("gl020_where")
GRAD_TRANSFORMS = api_table("semantic_grad_transforms")
GRAD_SINKS = api_table("semantic_gradient_sink")
POTENTIALS = api_table("gl020_potentials")
LOGP_OWNERS = api_table("gl020_logp_owners")
_LOGP_PARAMETERS = frozenset(range(1, 64))  # all but `value`, the first
CUSTOM_GRADIENT = api_table("gl020_custom_gradient")
NO_GRAD = api_table("gl020_no_grad")
AUTOGRAD_FUNCTION = api_table("gl020_autograd_function")
METRIC_BASES = api_table("gl020_metric_bases")
IN_PLACE_WRITE = api_table("semantic_in_place_write")
VARIABLES = api_table("gl020_variables")
LAYER_WRAPPERS = api_table("gl020_layer_wrappers")
VARIABLE_NAMESPACES = tuple(api_table("gl020_variable_namespaces"))
TRANSPARENT_DECORATORS = api_table("gl020_transparent_decorators")
STRAIGHT_THROUGH = api_table("gl020_straight_through")
NAMESPACES = tuple(api_table("gl020_namespaces"))
_TEST_FILE = re.compile(r"^(test_.*|.*_test|tests?|conftest)\.py$")

# How much gradient an expression can carry; combining takes the maximum.
CONST, DEAD, UNKNOWN, LIVE = 0, 1, 2, 3

# Names that hold labels, masks or sizes, not something a gradient is taken with respect to.
SAME_VALUE = api_table("semantic_same_value")
SHAPE_QUERY = api_table("semantic_shape_query")
NEW_TENSOR = api_table("semantic_new_tensor")

NO_GRAD_NAMES = frozenset({
    "y_true", "labels", "label", "targets", "target", "y", "gt", "ground_truth", "y_gt", "truth",
    "sample_weight", "sample_weights", "mask", "masks", "axis", "axes", "dim", "dims", "keepdims",
    "keepdim", "dtype", "depth", "num_classes", "n_classes", "shape", "training", "reduction", "name",
})
NO_GRAD_ATTRS = frozenset({"shape", "dtype", "ndim", "device", "is_cuda", "requires_grad"}) | NO_GRAD_NAMES
LABEL_KEYWORDS = frozenset({"y_true", "labels", "label", "targets", "target", "sample_weight", "mask"})
BUILTIN_ARITHMETIC = frozenset({"abs", "sum", "min", "max", "pow"})
FLOAT_DTYPE_NAMES = frozenset(
    {"float", "float16", "float32", "float64", "bfloat16", "double", "half", "floatX"}
)

METRIC_TOKENS = frozenset(
    {"metric", "metrics", "accuracy", "acc", "precision", "recall", "iou", "miou", "f1", "auc"}
)
METRIC_FUNCTIONS = frozenset({"update_state", "result", "reset_state", "reset_states", "merge_state"})
INFERENCE_PREFIXES = ("predict", "decode", "generate", "sample", "infer", "evaluate", "eval", "test", "valid")
# Ops with integer or boolean results: a layer that returns one is an index or preprocessing layer.
INTEGER_OPS = frozenset({
    "argmax", "argmin", "bucketize", "searchsorted", "digitize", "to_int32", "to_int64", "iround", "ifloor",
    "iceil", "long", "int", "bool", "short", "byte",
})

class _Status:
    """A level (CONST < DEAD < UNKNOWN < LIVE) and, when DEAD, the ops that made it so.

    `maybe` holds, for a value that may carry a gradient, the ops that cut it on some branch
    (`if epoch == 0: loss = criterion(y_hat.argmax(1).float(), y)`): enough for `.backward()`.
    """

    __slots__ = ("level", "ops", "maybe")

    def __init__(self, level: int, ops: tuple = (), maybe: tuple = ()) -> None:
        self.level = level
        self.ops = ops
        self.maybe = maybe

    @property
    def boolean(self) -> bool:
        """A comparison's result: no gradient, but nothing to report until cast to float."""
        return self.level == DEAD and not self.ops


_LITERALS = (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString, cst.UnaryOperation)

_CONST = _Status(CONST)
_BOOL = _Status(DEAD)
_UNKNOWN = _Status(UNKNOWN)
_LIVE = _Status(LIVE)


def _boolean(operands: _Status) -> _Status:
    """A comparison: constant when its operands are, else a boolean with no gradient."""
    return _CONST if operands.level == CONST else _BOOL


def _combine(statuses, branches: bool = False) -> _Status:
    """Arithmetic on values, or (`branches`) the values a name may hold after an `if`."""
    statuses = list(statuses)
    level, ops = CONST, []
    for status in statuses:
        level = max(level, status.level)
        if status.level == DEAD:
            ops.extend(op for op in status.ops if op not in ops)
    if level == DEAD:
        return _Status(DEAD, tuple(ops))
    if level == CONST:
        return _CONST
    # Dead on some path: after a branch, when one branch is; in arithmetic, when every operand
    # that can carry a gradient may be dead.
    maybe = list(ops)
    for status in statuses:
        if status.level > DEAD:
            if not status.maybe and not branches:
                maybe = []
                break
            maybe.extend(op for op in status.maybe if op not in maybe)
    if maybe:
        return _Status(level, (), tuple(maybe))
    return _UNKNOWN if level == UNKNOWN else _LIVE


class NonDifferentiableOp(Rule):
    """
    ## What it does
    Checks for a piecewise-constant or integer-valued operation (`round`, `floor`, `ceil`,
    `rint`, `trunc`, `sign`, `argmax`, `argmin`, a cast to an integer or boolean dtype, a
    comparison cast to float) whose result is all that reaches something a gradient is taken
    of: the value returned by a loss (a function named like a loss, a `keras.losses.Loss`
    subclass, a function given as `loss=` to `compile` or to `jax.grad`), the output of a
    layer's `call` / `forward` (a layer as the semantic model defines it: a framework base, or
    a base class of the project in any module), or a value given to `.backward()`, `tape.gradient`,
    `torch.autograd.grad` or `add_loss`, and in PyMC the value of a `pm.Potential` and the `logp=`
    function of a `pm.CustomDist` / `pm.DensityDist` (in its parameters). The flow is followed through local variables,
    arithmetic, reductions and framework losses inside one function. The `forward(input, target)`
    of a torch loss module (a class named like a loss) takes its gradient through `input` only,
    as torch's losses do; sizes (`x.size()`, `x.dim()`) carry no gradient, and a reshape or
    device move (`.view(n, -1)`, `.to(device)`) carries its receiver's.

    ## Why is this bad?
    These functions are flat almost everywhere, so their gradient is zero or missing, and
    nothing upstream of them ever learns. With `x = [0.3, 1.7, -2.4]` and the loss
    `sum(w * op(x))`, TensorFlow 2.21.0's `tape.gradient` returns `None` for `round`, `floor`,
    `ceil`, `argmax` and a cast to `int32`, and zeros for `sign`. torch 2.13.0 gives zero
    gradients for `round`/`floor`/`ceil`/`sign` and raises "element 0 of tensors does not
    require grad" for `argmax`, `.long()` and `(x > 0).float()`. With Keras 3.15.1,
    `binary_crossentropy(y, keras.ops.round(p))` has a `None` gradient and `keras.ops.sign`
    zeros; JAX 0.10.2 returns zeros for `jnp.round` and `jnp.argmax(p).astype(float)`;
    PyTensor 2.38.3 (PyMC 5.28.5) returns zeros for `pt.round`, `floor`, `sign` and `argmax`,
    so NUTS samples a parameter behind `pt.round` in a `logp` as if it had no influence. No
    framework warns at the op itself.

    ## Example
    ```python
    def rounded_loss(y_true, y_pred):
        y_pred = tf.round(y_pred)
        return tf.reduce_mean(tf.square(y_true - y_pred))
    ```

    Use instead:
    ```python
    def rounded_loss(y_true, y_pred):
        # straight-through: forward pass rounds, backward pass is the identity
        y_pred = y_pred + tf.stop_gradient(tf.round(y_pred) - y_pred)
        return tf.reduce_mean(tf.square(y_true - y_pred))
    ```

    ## Notes
    Flagged only when no differentiable path remains: `x * tf.round(x)` still has a gradient
    through `x` and is left alone, as is a value combined with a layer call, an attribute of
    `self` (maybe a trainable weight), a parameter, or an unknown function; an op applied to
    constants only (a mask built from `arange`) is left alone too. Names such as `y_true`,
    `labels`, `target`, `y`, `mask` and parameters with a literal default (`smooth=1.0`) are
    taken to carry no gradient, as are the `y_true` argument of a `compile` loss, the label
    argument of a framework loss (`nn.BCELoss()(pred, target)`) and the parameters that
    `jax.grad`'s `argnums` leaves out. A loss returning `(loss, aux)` is judged by `loss`.

    Followed: local variables and branches (a value dead on one branch of an `if` and given to
    `.backward()` is reported), loss objects bound locally, at module level or on `self`
    (`self.criterion = nn.BCELoss()`), and undecorated functions of the same file defined
    before their caller (`1 - dice_coef(y_true, y_pred)` with a rounding `dice_coef`: the op is
    reported inside the helper, naming the loss), and buffers written in place
    (`one_hot.scatter_(1, logits.argmax(1, keepdim=True), 1.0)`: the buffer holds what is
    written; an argmax written into a float buffer is a one-hot, no longer the integer ids a
    layer may return by design).

    A straight-through estimator wrapped in the op, `round(stop_gradient(hard - soft) + soft)`
    or `((x.round() - x).detach() + x).round()`, is reported wherever its value goes: the
    estimator exists only to pass a gradient, and the op around it takes that gradient away.

    Quiet for straight-through estimators (the op under `stop_gradient` / `.detach()`),
    `@tf.custom_gradient` and `jax.custom_vjp` / `custom_jvp` functions, the `forward` of a
    `torch.autograd.Function`, metrics (names with metric, accuracy, acc, precision, recall,
    iou, f1, auc, unless the name also says loss, as `IoULoss` does; `keras.metrics.Metric`
    subclasses, `update_state`, `result`), inference code
    (`predict*`, `decode*`, `generate*`, `sample*`, `infer*`, `eval*`, `test*`, `valid*`
    functions, `torch.no_grad` / `inference_mode` blocks and decorators), test files
    (`test_*.py`, `*_test.py`), names that mention a loss without being one (`loss_scale`,
    `loss_weights`), and ops used only as an index, a `where` condition, a shape or a dtype. A
    function with one differentiable `return` beside a rounded one (a training/inference
    switch) is not flagged. A layer whose output is an integer (`argmax`, a cast to `int32`:
    an index, lookup or preprocessing layer) is not flagged; in a loss it is.

    Helper methods on `self` (`return self.quantize(x)`, undecorated, in the same class) are
    followed the same way; one whose every result is a constant (a mask built from Python
    values with `torch.tensor([...])`) gives a constant. An indicator written with `where`,
    `where(pred == y, 0.0, 1.0)` (constant branches, a condition that is not), is a comparison
    cast to float: a chain of argmax, comparison and `where` ending in a loss term is reported.
    A setting stored on `self` (`self.beta = beta` with `beta=0.8`, a number written in the
    code, read through the semantic model) carries no gradient; any other attribute may be a
    weight.

    Misses: helpers defined after their caller or decorated (a
    decorator may give them a gradient), values passed between functions other than through a
    helper's return, and a rounded value divided by an attribute such as `self.levels`.

    ## References
    - Bengio, Léonard, Courville, "Estimating or Propagating Gradients Through Stochastic
      Neurons for Conditional Computation" (2013): the straight-through estimator.
    - `tf.custom_gradient`, `tf.stop_gradient`, `torch.Tensor.detach`, `jax.lax.stop_gradient`.
    """

    code = "GL020"
    severity = Severity.ERROR
    message = (
        "`{op}` has no gradient (None or zero) and {target} depends on it alone; "
        "use a straight-through estimator"
    )
    undone_message = (
        "`{op}` is applied to the straight-through estimator `{estimator}`, so its gradient is "
        "None or zero again; quantise first, then add the estimator: `{soft} + stop_gradient(q - {soft})`"
    )
    frameworks = ("tensorflow", "keras", "torch", "jax", "theano")
    fix_title = "use a straight-through estimator: the value of round(x), the gradient of x"
    fix_safe = False

    def __init__(self, context) -> None:
        super().__init__(context)
        self.test_file = bool(_TEST_FILE.match(context.filename))
        self.has_op: set[int] = set()  # scopes (id of node, 0 for the module) holding a candidate op
        # statement id -> the gradient requests in it: (kind, call, how to name the target)
        self.sinks: dict[int, list[tuple[str, cst.Call, str]]] = {}
        # function name -> (how to name it, the positional parameters differentiated or None for
        # all, whether its result is a layer's output rather than a loss)
        self.grad_targets: dict[str, tuple[str, frozenset[int] | None, bool]] = {}
        # Functions not differentiated by their name or class, that a later `compile`/`jax.grad` may name.
        self.pending: dict[str, list[cst.FunctionDef]] = {}
        self.reported: set[int] = set()
        # Loss objects bound at module level (`criterion = nn.MSELoss()`) or on `self` in a method
        # (`self.criterion = nn.MSELoss()`): name -> index of their label argument.
        self.module_losses: dict[str, int] = {}
        self.self_losses: dict[str, int] = {}
        # Plain functions holding an op (None when a name is defined twice), and the ops that
        # their returned value depends on alone, worked out on first call.
        self.helpers: dict[str, cst.FunctionDef | None] = {}
        self.summaries: dict[str, tuple] = {}
        # Plain methods by (class, name): `self.quantize(x)` is followed as a helper is.
        self.methods: dict[tuple[int, str], cst.FunctionDef] = {}
        self.method_summaries: dict[tuple[int, str], tuple] = {}
        # Helpers and methods whose every returned value is constant whatever they are given
        # (`torch.FloatTensor([...])` built from Python values): id of the function -> bool.
        self.constant_results: dict[int, bool] = {}
        # `self.<attr>` holding a number written in the code (`self.beta = beta`, `beta=0.8`).
        self.constant_attributes: dict[tuple[int, str], bool] = {}

    # The walk ---------------------------------------------------------------------------

    def _scope_id(self) -> int:
        scopes = self.context.scopes
        return id(scopes[-1]) if scopes else 0

    def visit_Assign(self, node: cst.Assign) -> None:
        if not isinstance(node.value, cst.Call) or len(node.targets) != 1:
            return
        target = node.targets[0].target
        if isinstance(target, cst.Name) and not self.context.scopes:
            table = self.module_losses
        elif (
            isinstance(target, cst.Attribute)
            and _is_self(target.value)
            and isinstance(self.context.enclosing((cst.FunctionDef, cst.ClassDef)), cst.FunctionDef)
        ):
            table, target = self.self_losses, target.attr
        else:
            return
        label = _loss_class(self, node.value)
        if label is not None:
            table[target.value] = label

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        names = self.qualified_names(func)
        if names:
            for name in names:
                if name in OPS or name in CASTS:
                    self.has_op.add(self._scope_id())
                    if name in OPS:
                        self._undone_estimator(node, argument(node, "x", 0) or argument(node, "input", 0))
                elif name in GRAD_SINKS:
                    self._add_sink("grad", node, f"the value given to `{self.source(func)}`")
                elif name in POTENTIALS:
                    self._add_sink("grad", node, f"the model's log-probability (`{self.source(func)}`)")
                elif name in LOGP_OWNERS:
                    # PyMC calls logp(value, *params): the parameters must get a gradient (the value
                    # of an observed variable is data).
                    self._grad_target(_keyword(node, "logp"), f"{{name}}, the `logp` of `{self.source(func)}`",
                                      _LOGP_PARAMETERS)
                elif name in GRAD_TRANSFORMS:
                    self._grad_target(
                        _first_arg(node, ("fun", "func", "f")),
                        f"{{name}} differentiated by `{self.source(func)}`",
                        _argnums(node),
                    )
                elif name in LAYER_WRAPPERS:
                    target = f"the output of the `{self.source(func)}` layer around {{name}}"
                    self._grad_target(_first_arg(node, ("function",)), target, None, layer=True)
            return
        if isinstance(func, cst.Name) and func.value in self.helpers:
            self.has_op.add(self._scope_id())
            return
        if isinstance(func, cst.Attribute) and _is_self(func.value) and self._method_key(func.attr.value) in self.methods:
            self.has_op.add(self._scope_id())
            return
        method = self.context.names.method(node)
        if method is None:
            return
        if method in OPS.methods or method in CASTS.methods or method in FLOAT_CASTS.methods:
            self.has_op.add(self._scope_id())
            if method in OPS.methods and isinstance(func, cst.Attribute):
                self._undone_estimator(node, func.value)
        elif method == "backward":
            self._add_sink("backward", node, "the value given to `.backward()`")
        elif method == "gradient" and len(node.args) >= 2:
            self._add_sink("gradient", node, f"the target of `{self.source(func)}`")
        elif method == "add_loss" and node.args:
            self._add_sink("gradient", node, "the value given to `add_loss`")
        elif method == "minimize" and node.args:
            self._add_sink("gradient", node, "the value given to `minimize`")
            self._grad_target(_first_arg(node, ("loss",)), "{name} given to `minimize`")
        elif method == "compile":
            for value in compiled_losses(node):
                # Keras calls loss(y_true, y_pred): only y_pred carries a gradient.
                self._grad_target(value, "{name} given as loss to `compile`", frozenset({1}))

    def _add_sink(self, kind: str, node: cst.Call, target: str) -> None:
        statement = self.context.current_statement()
        if statement is not None:
            self.sinks.setdefault(id(statement), []).append((kind, node, target))

    def _grad_target(
        self,
        value: cst.BaseExpression | None,
        target: str,
        argnums: frozenset[int] | None = None,
        layer: bool = False,
    ) -> None:
        if isinstance(value, cst.Lambda):
            if self._excluded_scopes(self.context.scopes):
                return
            flow = _Flow(self, self.context.current_statement())
            flow.bind_params(value.params, argnums)
            try:
                flow.returns.append((flow.eval(value.body), flow.eval(_head(value.body))))
            except RecursionError:
                return
            self._report_ops(_dead_ops(flow, layer), target.format(name="the lambda"))
        elif isinstance(value, cst.Name):
            self.grad_targets.setdefault(value.value, (target, argnums, layer))
        elif isinstance(value, cst.Attribute) and _is_self(value.value):
            self.grad_targets.setdefault(value.attr.value, (target, argnums, layer))

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        if id(node) not in self.has_op:
            return
        scopes = self.context.scopes
        if not isinstance(scopes[-2] if len(scopes) >= 2 else None, cst.ClassDef) and self._plain(node):
            # A helper such as `dice_coef` or `hard_round`: a loss that calls it may depend on it alone.
            name = node.name.value
            self.helpers[name] = None if name in self.helpers else node
        if self._excluded_scopes(scopes):
            return
        kind, target, argnums = self._target(node)
        flow = self._analyze(node, argnums)
        if flow is None:
            return
        for status, sink_target in flow.sink_hits:
            self._report_ops(status.ops, sink_target)
        if kind is None:
            self.pending.setdefault(node.name.value, []).append(node)
            return
        self._report_ops(_dead_ops(flow, kind == "layer"), target)

    def _analyze(self, node: cst.FunctionDef, argnums: frozenset[int] | None, every_parameter: bool = False) -> _Flow | None:
        flow = _Flow(self, None)
        flow.bind_params(node.params, argnums, every_parameter)
        try:
            flow.run_block(_body(node))
        except RecursionError:
            return None
        return flow

    def leave_Module(self, node: cst.Module) -> None:
        if self.test_file:
            return
        if 0 in self.has_op and self.sinks:
            flow = _Flow(self, None)
            try:
                flow.run_block(node.body)
            except RecursionError:
                flow.sink_hits = []
            for status, sink_target in flow.sink_hits:
                self._report_ops(status.ops, sink_target)
        for name, (target, argnums, layer) in self.grad_targets.items():
            for function in self.pending.get(name, ()):
                flow = self._analyze(function, argnums)
                if flow is not None:
                    self._report_ops(_dead_ops(flow, layer), target.format(name=f"`{name}`"))

    def _undone_estimator(self, call: cst.Call, operand: cst.BaseExpression | None) -> None:
        """`round(stop_gradient(hard - soft) + soft)`: the op undoes the estimator it wraps, whose
        only purpose is a gradient; reported wherever the value goes."""
        while isinstance(operand, cst.BinaryOperation) and isinstance(operand.operator, cst.Add):
            for stopped, soft in ((operand.left, operand.right), (operand.right, operand.left)):
                difference = self._stopped_difference(stopped)
                if difference is not None and self.source(difference.right) == self.source(soft):
                    if not self.test_file and not not_differentiated(self.context):
                        self.reported.add(id(call))
                        self.report(call, self.undone_message, op=self._op_text(call),
                                    estimator=_short(self.source(operand)), soft=_short(self.source(soft)))
                    return
            return

    def _stopped_difference(self, node: cst.BaseExpression) -> cst.BinaryOperation | None:
        """`a - b` in `stop_gradient(a - b)` or `(a - b).detach()`."""
        if not isinstance(node, cst.Call):
            return None
        method = self.context.names.method(node)
        if method in STOP.methods and isinstance(node.func, cst.Attribute):
            inner = node.func.value
        elif self.callee(node, STOP):
            inner = argument(node, "input", 0) or argument(node, "x", 0)
        else:
            return None
        if isinstance(inner, cst.BinaryOperation) and isinstance(inner.operator, cst.Subtract):
            return inner
        return None

    def _report_ops(self, ops: tuple, target: str) -> None:
        for call, statement, _ in ops:
            if id(call) in self.reported:
                continue
            self.reported.add(id(call))
            self.report(call, statement=statement, op=self._op_text(call), target=target,
                        fix=self._straight_through(call, statement))

    def _straight_through(self, call: cst.Call, statement: cst.CSTNode | None) -> Fix | None:
        """`round(x)` -> `x + stop_gradient(round(x) - x)`, in the call's own framework spelling."""
        name = self.callee(call, STRAIGHT_THROUGH)
        method = self.context.names.method(call) if name is None else None
        if name is not None:
            operand = argument(call, "x", 0) or argument(call, "input", 0)
            if len(call.args) != 1 or operand is None:
                return None  # `round(x, decimals)`: not a plain quantiser
        elif method in STRAIGHT_THROUGH.methods and not call.args and isinstance(call.func, cst.Attribute):
            operand = call.func.value
        else:
            return None
        if not isinstance(operand, (cst.Name, cst.Attribute, cst.Subscript)):
            return None  # it would be computed twice
        stop = self._stop_gradient(call, name)
        if stop is None:
            return None
        x, q = self.context.module.code_for_node(operand), self.context.module.code_for_node(call)
        text = f"{x} + ({q} - {x}).detach()" if stop == ".detach" else f"{x} + {stop}({q} - {x})"
        if not _stands_alone(call, statement):
            text = f"({text})"
        return Fix(call, cst.parse_expression(text))

    def _stop_gradient(self, call: cst.Call, name: str | None) -> str | None:
        """How this file spells stop-gradient for the quantiser's framework (None: it cannot)."""
        framework = name.split(".", 1)[0] if name else "torch"  # tensor methods are torch's
        if framework == "torch":
            return ".detach"
        module = {"tensorflow": "tensorflow", "keras": "keras.ops", "jax": "jax.lax"}[framework]
        root = call.func
        while isinstance(root, cst.Attribute):
            root = root.value
        locals_first = [root.value] if isinstance(root, cst.Name) else []
        for local in [*locals_first, *self.context.names.aliases]:
            targets = {canonical_name(t) for t in self.context.names.aliases.get(local, ())}
            for target in targets:
                if target == module:
                    return f"{local}.stop_gradient"
                if module.startswith(target + "."):  # `jax` -> `jax.lax`, `keras` -> `keras.ops`
                    return f"{local}{module[len(target):]}.stop_gradient"
        return None

    def _op_text(self, call: cst.Call) -> str:
        text = self.source(call)
        if len(text) <= 40:
            return text
        return f"{self.source(call.func)}(...)"

    # Which functions are differentiated -------------------------------------------------

    def _target(self, node: cst.FunctionDef) -> tuple[str | None, str, frozenset[int] | None]:
        """What kind of differentiated function this is, how to name it, which parameters carry gradients."""
        name = node.name.value
        for decorator in node.decorators:
            expr = decorator.decorator
            if self.qualified_names(expr) & GRAD_TRANSFORMS:
                return "loss", f"`{name}` differentiated by `{self.source(expr)}`", frozenset({0})
            if self.context.names.callee(expr, GRAD_TRANSFORMS):
                return "loss", f"`{name}` differentiated by `{self.source(expr.func)}`", _argnums(expr)
        scopes = self.context.scopes
        parent = scopes[-2] if len(scopes) >= 2 else None
        if isinstance(parent, cst.ClassDef):
            owner = parent.name.value
            bases = [name for base in parent.bases for name in self.qualified_names(base.value)]
            is_loss = named_like_loss(owner) or any(name.startswith("keras.losses.") for name in bases)
            if is_loss and name == "forward":
                # torch's convention, `forward(input, target)`: the gradient is taken through the input.
                return "loss", f"the loss `{owner}.{name}`", frozenset({0})
            if is_loss and name in ("call", "__call__"):
                return "loss", f"the loss `{owner}.{name}`", None
            layer_method = name in ("call", "__call__") and self.context.semantic.layer_framework(parent) is not None
            if (name == "forward" and parent.bases) or layer_method:
                return "layer", f"the output of `{owner}.{name}`", None
        if named_like_loss(name):
            return "loss", f"the loss `{name}`", None
        return None, "", None

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if not isinstance(node.body, cst.IndentedBlock):
            return
        defined = [item for item in node.body.body if isinstance(item, cst.FunctionDef)]
        twice = {name for name, count in Counter(item.name.value for item in defined).items() if count > 1}
        for item in defined:  # a name defined twice: neither definition is followed
            if not item.decorators and item.name.value not in twice:
                self.methods[(id(node), item.name.value)] = item

    def _method_key(self, name: str) -> tuple[int, str] | None:
        cls = self.context.enclosing(cst.ClassDef)
        return (id(cls), name) if cls is not None else None

    def method_summary(self, name: str) -> tuple:
        """The ops a plain method's returned value depends on alone, like `helper_summary`."""
        key = self._method_key(name)
        if key is None or key not in self.methods:
            return ()
        if key not in self.method_summaries:
            self.method_summaries[key] = ()  # recursion guard
            flow = self._analyze(self.methods[key], None)
            self.method_summaries[key] = flow.dead_returns(loss=False) if flow is not None else ()
        return self.method_summaries[key]

    def constant_result(self, function: cst.FunctionDef | None) -> bool:
        """Every `return` of a plain helper or method gives a constant, even with every parameter
        carrying a gradient: a value built from Python data, no gradient to cut."""
        if function is None:
            return False
        key = id(function)
        if key not in self.constant_results:
            self.constant_results[key] = False  # recursion guard
            flow = self._analyze(function, None, every_parameter=True)
            self.constant_results[key] = bool(flow and flow.returns) and all(
                whole.level == CONST for whole, _ in flow.returns)
        return self.constant_results[key]

    def constant_attribute(self, node: cst.Attribute) -> bool:
        """`self.<attr>` holds a number written in the code (the semantic model's `holds_constant`)."""
        cls = self.context.enclosing(cst.ClassDef)
        key = (id(cls), node.attr.value)
        if key not in self.constant_attributes:
            self.constant_attributes[key] = self.context.semantic.holds_constant(node, self.context.scopes)
        return self.constant_attributes[key]

    def helper_summary(self, name: str) -> tuple:
        """The ops a helper's returned value depends on alone (empty when it has a gradient path)."""
        if name in self.summaries:
            return self.summaries[name]
        node = self.helpers.get(name)
        self.summaries[name] = ()  # recursion guard
        if node is None:
            return ()
        flow = self._analyze(node, None)
        ops = flow.dead_returns(loss=False) if flow is not None else ()
        self.summaries[name] = ops
        return ops

    def _plain(self, function: cst.FunctionDef) -> bool:
        """Undecorated, or only compiled: a wrapper such as `@auto_ste` may give it a gradient."""
        for decorator in function.decorators:
            expr = decorator.decorator
            func = expr.func if isinstance(expr, cst.Call) else expr
            if not self.qualified_names(func) & TRANSPARENT_DECORATORS:
                return False
        return True

    def _own_gradient(self, function: cst.FunctionDef) -> bool:
        """Decorated with `tf.custom_gradient`, `jax.custom_vjp`, `torch.no_grad()` and the like."""
        for decorator in function.decorators:
            expr = decorator.decorator
            func = expr.func if isinstance(expr, cst.Call) else expr
            if self.qualified_names(func) & CUSTOM_GRADIENT:
                return True
            # functools.partial(jax.custom_vjp, nondiff_argnums=...)
            wrapped = expr.args[0].value if isinstance(expr, cst.Call) and expr.args else None
            if wrapped is not None and self.qualified_names(wrapped) & CUSTOM_GRADIENT:
                return True
        return False

    def _excluded_scopes(self, scopes) -> bool:
        if self.test_file:  # tests build rounding modules and check their gradients on purpose
            return True
        for scope in scopes:
            if isinstance(scope, cst.FunctionDef):
                name = scope.name.value
                if name in METRIC_FUNCTIONS or (set(name_words(name)) & METRIC_TOKENS and not named_like_loss(name)):
                    return True
                if name.lstrip("_").lower().startswith(INFERENCE_PREFIXES):
                    return True
                if self._own_gradient(scope):
                    return True
            elif isinstance(scope, cst.ClassDef):
                # `AccuracyLoss`, `dice_iou_loss`: a metric's word in a loss's name is still a loss.
                if set(name_words(scope.name.value)) & METRIC_TOKENS and not named_like_loss(scope.name.value):
                    return True
                for base in scope.bases:
                    names = self.qualified_names(base.value)
                    if names & AUTOGRAD_FUNCTION or names & METRIC_BASES:
                        return True
                    text = self.source(base.value).rsplit(".", 1)[-1]
                    if text.endswith("Function") or text.endswith("Metric"):
                        return True
        return False


def _dead_ops(flow: _Flow, layer: bool) -> tuple:
    """Ops to report for a function's returns: a loss is judged by the first element of a
    `(loss, aux)` tuple; a layer returning integer ids (a lookup, an argmax head) does so by design."""
    if not layer:
        return flow.dead_returns(loss=True)
    return tuple(op for op in flow.dead_returns(loss=False) if not op[2])


def _stands_alone(node: cst.CSTNode, statement: cst.CSTNode | None) -> bool:
    """Whether `node` is a whole assigned value, return value or call argument (no parentheses needed)."""
    if statement is None:
        return False
    for parent in iter_tree(statement):
        if isinstance(parent, (cst.Assign, cst.AnnAssign, cst.Return, cst.Arg)) and parent.value is node:
            return True
    return False


def _body(node: cst.FunctionDef) -> list:
    body = node.body
    return list(body.body) if isinstance(body, cst.IndentedBlock) else [body]


def _first_arg(call: cst.Call, keywords: tuple[str, ...]) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value in keywords:
            return arg.value
    if call.args and call.args[0].keyword is None and not call.args[0].star:
        return call.args[0].value
    return None


def _argnums(call: cst.Call) -> frozenset[int] | None:
    """The positional parameters `jax.grad(f, argnums=...)` differentiates; None when unknown."""
    value = _keyword(call, "argnums")
    if value is None:
        return frozenset({0})
    elements = [e.value for e in value.elements] if isinstance(value, (cst.Tuple, cst.List)) else [value]
    if all(isinstance(e, cst.Integer) for e in elements):
        return frozenset(int(e.value) for e in elements)
    return None


def _requires_grad(call: cst.Call) -> bool:
    """`torch.randn(3, requires_grad=True)`: a leaf that records gradients."""
    value = _keyword(call, "requires_grad")
    return value is not None and not (isinstance(value, cst.Name) and value.value == "False")


def _is_self(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "self"


def _head(value: cst.BaseExpression) -> cst.BaseExpression:
    """A returned `(loss, aux)` tuple's first element: what `has_aux` losses differentiate."""
    if isinstance(value, cst.Tuple) and value.elements:
        first = value.elements[0]
        if not isinstance(first, cst.StarredElement):
            return first.value
    return value


def _loss_class(rule: Rule, call: cst.Call) -> int | None:
    """`tf.keras.losses.BinaryCrossentropy()` -> 0 (y_true first); `nn.MSELoss()` -> 1 (target second)."""
    for name in rule.qualified_names(call.func):
        last = name.rsplit(".", 1)[-1]
        if not last[:1].isupper():
            continue
        if name.startswith("keras.losses."):
            return 0
        if name.startswith("torch.nn.") and last.endswith("Loss"):
            return 1
    return None


def _keyword(call: cst.Call, keyword: str) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == keyword:
            return arg.value
    return None


class _Flow(StatementFlow[_Status]):
    """Forward data flow over one function's statements: what each local name can carry."""

    constant = _CONST
    unknown = _UNKNOWN
    no_grad_attrs = NO_GRAD_ATTRS

    def __init__(self, rule: NonDifferentiableOp, statement: cst.CSTNode | None) -> None:
        super().__init__(rule, rule.sinks, statement)
        self.rule: NonDifferentiableOp = rule
        self.loss_objects: dict[str, int] = {}  # local name -> index of the label argument
        self.returns: list[tuple[_Status, _Status]] = []  # (whole value, first element)
        self.sink_hits: list[tuple[_Status, str]] = []

    def bind_params(self, params: cst.Parameters, argnums: frozenset[int] | None = None, every: bool = False) -> None:
        """Parameters carry gradients, except labels and sizes, and those `argnums` leaves out
        (all of them do with `every`)."""
        positional = [*params.posonly_params, *params.params]
        all_params = [*positional, *params.kwonly_params]
        for extra in (params.star_arg, params.star_kwarg):
            if isinstance(extra, cst.Param):
                all_params.append(extra)
        for param in all_params:
            name = param.name.value
            # `smooth=1.0`, `eps=1e-7`, `reduction="mean"`: hyperparameters, not tensors.
            constant = isinstance(param.default, _LITERALS)
            self.env[name] = _CONST if not every and (name in NO_GRAD_NAMES or constant) else _LIVE
        if argnums is not None:
            if positional and positional[0].name.value in ("self", "cls"):  # jax.grad(self.loss)
                argnums = frozenset(index + 1 for index in argnums) | {0}
            for index, param in enumerate(all_params):
                if index >= len(positional) or index not in argnums:
                    self.env[param.name.value] = _CONST

    # Statements -------------------------------------------------------------------------

    def merge(self, before: _Status, status: _Status) -> _Status:
        return _combine((before, status), branches=True)

    def is_no_grad(self, expr: cst.BaseExpression) -> bool:
        func = expr.func if isinstance(expr, cst.Call) else expr
        return bool(self.rule.qualified_names(func) & NO_GRAD)

    def on_return(self, value: cst.BaseExpression) -> None:
        whole = self.eval(value)
        head = _head(value)
        self.returns.append((whole, whole if head is value else self.eval(head)))

    def bind_loop(self, target: cst.BaseExpression, iterable: cst.BaseExpression) -> None:
        self.bind(target, self.eval(iterable), iterable, loop=True)

    def bind_name(self, name: str, status: _Status, value: cst.BaseExpression | None, loop: bool) -> None:
        if loop and name in NO_GRAD_NAMES:
            status = _CONST
        self.env[name] = status
        self.loss_objects.pop(name, None)
        if isinstance(value, cst.Call):
            label = _loss_class(self.rule, value)
            if label is not None:
                self.loss_objects[name] = label

    def on_call_statement(self, call: cst.Call) -> None:
        # `probs.scatter_(1, idx.argmax(1, keepdim=True), 1.0)`: the buffer holds what is written.
        func = call.func
        if self.names.method(call) in IN_PLACE_WRITE.methods and isinstance(func.value, cst.Name):
            name = func.value.value
            if name in self.env:
                # Written into a float buffer, integer ids (an argmax) become a one-hot: no longer ids.
                written = _combine((self.env[name], *(self.eval(arg.value) for arg in call.args)))
                if written.level == DEAD:
                    written = _Status(DEAD, tuple((op, at, False) for op, at, _ in written.ops))
                self.env[name] = written

    def bind_item(self, target: cst.BaseExpression, status: _Status) -> None:
        if isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name):
            name = target.value.value
            if name in self.env:
                self.env[name] = _combine((self.env[name], status))

    def sink_argument(self, call: cst.Call) -> cst.BaseExpression | None:
        if self.rule.qualified_names(call.func) & POTENTIALS:
            return argument(call, "var", 1)  # pm.Potential(name, var)
        return _first_arg(call, ("target", "outputs", "tensors", "ys", "cost", "loss", "losses"))

    def on_sink(self, status: _Status, target: str) -> None:
        if status.level == DEAD and status.ops:
            self.sink_hits.append((status, target))
        elif status.maybe:  # dead on some branch: that branch trains nothing
            self.sink_hits.append((_Status(DEAD, status.maybe), target))

    def dead_returns(self, loss: bool) -> tuple:
        """Ops to report when every value-returning `return` is dead or constant."""
        ops: list = []
        for whole, first in self.returns:
            status = first if loss else whole
            if status.level > DEAD:
                return ()
            ops.extend(op for op in status.ops if op not in ops)
        return tuple(ops)

    # Expressions ------------------------------------------------------------------------

    def combine(self, statuses, operator: cst.CSTNode | None = None) -> _Status:
        return _combine(statuses)

    def free_name(self, node: cst.Name) -> _Status:
        if node.value in ("True", "False", "None") or node.value in NO_GRAD_NAMES:
            return _CONST
        return _CONST if self.names.is_module(node) else _LIVE

    def eval(self, node: cst.BaseExpression) -> _Status:
        if isinstance(node, cst.Attribute) and _is_self(node.value) and self.rule.constant_attribute(node):
            return _CONST  # `self.beta = beta` with `beta=0.8`: a setting, not a weight
        return super().eval(node)

    def eval_other(self, node: cst.BaseExpression) -> _Status:
        if isinstance(node, cst.Comparison):
            operands = [self.eval(node.left), *(self.eval(target.comparator) for target in node.comparisons)]
            return _boolean(_combine(operands))
        return _UNKNOWN

    def _op(self, call: cst.Call, inputs: _Status, integer: bool = False) -> _Status:
        """The status of a non-differentiable op's result, given what its inputs carry."""
        if inputs.level == CONST:
            return _CONST  # nothing to differentiate: a mask of constants, labels, shapes
        if inputs.level == DEAD and inputs.ops:  # already cut upstream: report the first op
            return _Status(DEAD, tuple((op, at, True) for op, at, _ in inputs.ops)) if integer else inputs
        return _Status(DEAD, ((call, self.statement, integer),))

    def _args(self, call: cst.Call, skip: int | None = None) -> _Status:
        statuses = []
        for index, arg in enumerate(call.args):
            if arg.star:
                return _UNKNOWN
            if arg.keyword is not None:
                if arg.keyword.value in LABEL_KEYWORDS or arg.keyword.value in NO_GRAD_NAMES:
                    continue
            elif index == skip:
                continue
            statuses.append(self.eval(arg.value))
        return _combine(statuses)

    def eval_call(self, call: cst.Call) -> _Status:
        func = call.func
        names = self.rule.qualified_names(func)
        if names:
            if names & OPS:
                integer = any(name.rsplit(".", 1)[-1] in INTEGER_OPS for name in names)
                return self._op(call, self._args(call), integer)
            if names & STOP:
                return _CONST
            if names & VARIABLES or _requires_grad(call):
                return _LIVE
            if any(name.startswith(VARIABLE_NAMESPACES) for name in names):
                return _LIVE  # tf.compat.v1.layers.dense(x, 1) creates its weights
            if names & NEW_TENSOR:
                data = self._args(call)  # `torch.tensor([a != b for ...])`: a constant mask
                return _CONST if data.level == CONST or data.boolean else data
            if names & COMPARE:
                return _boolean(self._args(call))
            if names & CASTS:
                return self._cast(call)
            if names & WHERE:
                positional = [arg.value for arg in call.args if arg.keyword is None and not arg.star]
                if len(positional) == 1 and len(call.args) == 1:
                    return _CONST  # tf.where(cond): indices
                branches = _combine(self.eval(value) for value in positional[1:3])
                if branches.level == CONST and len(positional) == 3:
                    # `where(pred == y, 0.0, 1.0)`: an indicator of its condition, a comparison cast to float.
                    return self._op(call, self.eval(positional[0]))
                return branches
            for name in names:
                if name.split(".", 1)[0] in NAMESPACES:
                    return self._args(call, self._label_index(name))
            return _UNKNOWN
        if isinstance(func, cst.Name):
            label = self.loss_objects.get(func.value)
            if label is None and func.value not in self.env:
                label = self.rule.module_losses.get(func.value)
            if label is not None:
                return self._args(call, label)
            builtin = func.value in BUILTIN_ARITHMETIC and not self.names.is_module(func)
            if builtin and func.value not in self.env:
                return self._args(call)
            if func.value not in self.env and func.value in self.rule.helpers:
                if self.rule.constant_result(self.rule.helpers[func.value]):
                    return _CONST
                ops = self.rule.helper_summary(func.value)
                if ops and self._args(call).level != CONST:
                    return _Status(DEAD, ops)
            return _UNKNOWN
        if isinstance(func, cst.Call):  # tf.keras.losses.MeanSquaredError()(y_true, y_pred)
            label = _loss_class(self.rule, func)
            return self._args(call, label) if label is not None else _UNKNOWN
        if not isinstance(func, cst.Attribute):
            return _UNKNOWN
        method = func.attr.value
        if _is_self(func.value) and method in self.rule.self_losses:
            return self._args(call, self.rule.self_losses[method])
        if _is_self(func.value):
            key = self.rule._method_key(method)
            if self.rule.constant_result(self.rule.methods.get(key)):
                return _CONST
            ops = self.rule.method_summary(method)
            if ops and self._args(call).level != CONST:
                return _Status(DEAD, ops)
        if method in STOP.methods:
            return _CONST
        if method in VARIABLES.methods or _requires_grad(call):
            return _LIVE
        if method in SHAPE_QUERY.methods:
            return _CONST
        receiver = self.eval(func.value)
        if method in SAME_VALUE.methods and method not in CASTS.methods and method not in FLOAT_CASTS.methods:
            return receiver  # `.view(n, -1)`, `.to(device)`: the receiver's values; the arguments are sizes
        if method in OPS.methods:
            return self._op(call, _combine((receiver, self._args(call))), method in INTEGER_OPS)
        if method in COMPARE.methods:
            return _boolean(_combine((receiver, self._args(call))))
        if method in FLOAT_CASTS.methods:
            return self._op(call, receiver) if receiver.boolean else receiver
        if method in CASTS.methods:
            values = [arg.value for arg in call.args]
            if any(self._int_dtype(value) for value in values):
                return self._op(call, receiver, True)
            if receiver.boolean and any(self._float_dtype(value) for value in values):
                return self._op(call, receiver)
            return receiver
        return _combine((receiver, self._args(call)))

    def _cast(self, call: cst.Call) -> _Status:
        dtype = _keyword(call, "dtype")
        if dtype is None:
            dtype = _keyword(call, "new_dtype")
        positional = [arg.value for arg in call.args if arg.keyword is None and not arg.star]
        if dtype is None and len(positional) >= 2:
            dtype = positional[1]
        source = self.eval(positional[0]) if positional else _UNKNOWN
        if dtype is not None and self._int_dtype(dtype):
            return self._op(call, source, True)
        if source.boolean and dtype is not None:
            return self._op(call, source)
        return source

    def _int_dtype(self, node: cst.BaseExpression) -> bool:
        if isinstance(node, cst.SimpleString):
            value = node.evaluated_value
            return isinstance(value, str) and value in INT_DTYPES.methods
        if isinstance(node, cst.Name) and node.value in ("int", "bool") and node.value not in self.env:
            return not self.names.is_module(node)
        return bool(self.rule.qualified_names(node) & INT_DTYPES)

    def _float_dtype(self, node: cst.BaseExpression) -> bool:
        if isinstance(node, cst.SimpleString):
            value = node.evaluated_value
            return isinstance(value, str) and value in FLOAT_DTYPE_NAMES
        if isinstance(node, cst.Name) and node.value == "float":
            return True
        if isinstance(node, cst.Attribute):
            if node.attr.value == "dtype":
                return True
            names = self.rule.qualified_names(node)
            return any(name.rsplit(".", 1)[-1] in FLOAT_DTYPE_NAMES for name in names)
        return False

    def _label_index(self, name: str) -> int | None:
        """Which positional argument of a framework loss is the label (no gradient wanted)."""
        if name.startswith("keras.losses.") or name.startswith("keras.metrics."):
            return 0
        last = name.rsplit(".", 1)[-1]
        if (name.startswith("torch.nn.functional.") or name.startswith("optax.")) and (
            "loss" in last or "entropy" in last or last in ("nll", "kl_div", "l1_loss")
        ):
            return 1
        return None


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.gradients import name_words, named_like_loss, not_differentiated
from gradlint.engine.syntax import argument, bindings, number, own_nodes, positional, string
from gradlint.engine.walker import iter_tree
from gradlint.rule import Rule, Severity
from gradlint.semantic.model import ModuleModel

HARD = api_table("activations_hard")
HARD_STRINGS = api_table("activations_hard_strings")
HARD_MODULES = api_table("activations_hard_modules")
NO_GRADIENT = api_table("activations_no_gradient")
STEP = api_table("activations_step")
WHERE = api_table("activations_where")
CAST = api_table("activations_cast")
COMPARE = api_table("activations_compare")
STOP = api_table("activations_stop")
TRANSPARENT = api_table("activations_transparent")
CLIP = api_table("activations_clip")
LOSSES = api_table("activations_losses")
LOSS_CLASSES = api_table("activations_loss_classes")
GRAD = api_table("activations_grad")
TRAINING_FUNCTION = api_table("activations_training_function")
GRAD_EVIDENCE = api_table("activations_grad_evidence")
SEQUENTIAL = api_table("activations_sequential")
KERAS_MODEL = api_table("activations_keras_model")
ACTIVATION_LAYERS = api_table("activations_activation_layers")
_STEP_LIKE = STEP | WHERE | CAST

# Functions and classes that define an activation (`def hard_sigmoid(x)`, `class Hardsigmoid`,
# `h_sigmoid`, `get_activation`): the library's own code, never a misuse.
_DEFINITION = re.compile(
    r"hardsigmoid|hardtanh|relu6|ultrafastsigmoid|hsigmoid|hsig|hswish|hardswish|hardsilu|activation", re.I
)
# Names that hold labels: arithmetic with them keeps a saturated prediction saturated.
_LABEL = re.compile(
    r"^(y|t|gt|ys|yb|targets?|labels?|y_?true|y_?batch|y_?train|ground_?truth|exp_y|advs?|advantages?|returns)$", re.I
)
_LAYER_PREFIXES = ("keras.layers.", "lasagne.layers.", "flax.linen.")
_ORDERING = (cst.GreaterThan, cst.GreaterThanEqual, cst.LessThan, cst.LessThanEqual)
_MAX_DEPTH = 16
_OP_CHARS = 48


@dataclass
class _Source:
    """A saturating activation, step function or layer that may feed a loss."""

    node: cst.CSTNode
    statement: cst.CSTNode | None
    op: str
    gradient: str
    severity: Severity
    advice: str


class SaturatingActivation(Rule):
    """
    ## What it does
    Checks for activations whose gradient is zero (or missing) on most of their input,
    where that stops training:

    - a hard activation (`hard_sigmoid`, `hard_tanh` / `hardtanh`, `relu6` in Keras, tf.keras,
      TensorFlow, torch, JAX, flax and Theano; `nn.Hardsigmoid`, `nn.Hardtanh`, `nn.ReLU6`;
      `activation="hard_sigmoid"`) that is the model's output feeding the loss: the last layer
      of a `Sequential` model that is compiled, fitted or called into a loss, the last
      `model.add` before `compile` (also when a function of the file builds the model and
      another compiles or fits what it returns, as the semantic model follows names and
      returns), the `outputs` of a functional `keras.Model`, the output layer
      of a Lasagne network, or a value that reaches a loss, `T.grad`, `tape.gradient`,
      `.backward()` or a loss-named variable through arithmetic with labels and constants,
      reductions and `log` (also through the return value of a helper function of the same
      file, as in the seed's `layer()`);
    - Theano's `ultra_fast_sigmoid` in a file that differentiates (`T.grad`, `theano.grad`,
      `lasagne.updates.*`, `theano.function(..., updates=...)`): it has no gradient at all;
    - a step function (`sign`, `heaviside`, a lambda `cast(x > 0, "float32")`) given as a
      layer's `activation` or to an `Activation` layer;
    - a step function of a trainable value (`(self.gate(x) > 0).float()`, `where(z > 0, 1., 0.)`
      with `z = self.fc(x)`) that multiplies another value in a layer's method: a hard gate;
    - `where(cond, 1.0, 0.0)` of a prediction that feeds a loss;
    - an error or a probability ratio clipped to a band around a centre (`-1, 1`, `-c, c`,
      `1 - eps, 1 + eps`; a hinge clipped at 0 is flat on one side by design) that feeds a loss
      with no unclipped path beside it: `((q - target).clamp(-1, 1) ** 2).mean()` (the error is clipped, not its
      gradient: a Huber loss keeps one), a PPO objective `clamp(ratio, 1 - eps, 1 + eps) * adv`
      without the `min` with the unclipped `ratio * adv`. Measured (torch 2.13.0): the gradient
      with respect to the error or the ratio is exactly 0 outside the bounds.

    ## Why is this bad?
    Outside a small linear region these functions are flat, and their gradient is exactly 0
    in every framework, with no warning (ground truth, scanned on a 0.01 grid):

    - Keras 3.15.1 `hard_sigmoid` (also `tf.keras`): nonzero only on the open (-3, 3), slope 1/6;
      Keras 2 (tf_keras 2.21.0) on [-2.5, 2.5], slope 0.2: the boundaries changed between versions.
    - torch 2.13.0: `hardsigmoid` (-3, 3), `hardtanh` (-1, 1), `relu6` (0, 6), all 0 at the edges.
    - JAX 0.10.2: `jax.nn.hard_sigmoid` (-3, 3), `jax.nn.hard_tanh` the closed [-1, 1].
    - Theano `hard_sigmoid` is `clip(0.2 x + 0.5, 0, 1)`: zero gradient outside [-2.5, 2.5].
      `ultra_fast_sigmoid` has no gradient: `T.grad` raises
      `MethodNotDefined: ('grad', UltraFastScalarSigmoid)`.

    As the output that feeds the loss, a unit that lands on the wrong flat side (a confident
    wrong prediction) gets no gradient at all and never recovers, where a sigmoid would give it
    the largest one. In the seed, the XOR network with `hard_sigmoid` stalls at a cost of 0.70
    and predicts 0.49 everywhere; with `sigmoid` it converges to 0.01. A step function (`sign`,
    `heaviside`, `x > 0` cast to float) is flat everywhere: the weights before it never learn
    (torch 2.13.0 gives them no gradient, TF 2.21.0 zeros for `sign`).

    ## Example
    ```python
    model = keras.Sequential([
        layers.Dense(64, activation="relu"),
        layers.Dense(1, activation="hard_sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    ```

    Use instead:
    ```python
    model = keras.Sequential([
        layers.Dense(64, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    ```

    ## Notes
    Hard activations in hidden layers are not flagged: `relu6` in MobileNetV2 blocks and
    `hard_sigmoid` / `hard_swish` in MobileNetV3 squeeze-and-excite gates are deliberate and
    train well, and so is a `Sequential` that is a block inside a larger module. `hard_swish` /
    `hard_silu` are never flagged (they do not saturate for large inputs).

    Gates of recurrent cells with `hard_sigmoid` are not flagged, neither
    `recurrent_activation="hard_sigmoid"` nor a hand-written `K.hard_sigmoid` gate: it was the
    Keras 2 default for every LSTM and GRU until Keras 2.3 and trains; its only cost today is
    that it rules out the cuDNN kernel. Hard gates built from step functions are flagged.

    Also quiet: the definitions of these functions (inside a function or class named like the
    activation or like `*activation*`, or in a module under `activations`), straight-through
    estimators (`x + stop_gradient(step(x) - x)`, `(hard - soft).detach() + soft`), clipping
    (`clamp(p, eps, 1 - eps)` before a log, `hardtanh` of gradients), step functions used as
    masks, weights, metrics or counts, a relu written as `h * (h > 0).float()`, inference code
    (`no_grad`, `predict`, metrics, tests), NumPy and SciPy (never differentiated), and a
    Theano file that never differentiates `ultra_fast_sigmoid`.

    A step function feeding a loss directly (`cast(x > 0)`, `sign`, `(x > 0).float()`) is
    GL020's (non-differentiable-op); this rule reports only `where(cond, 1, 0)` there, which
    GL020 treats as a constant.

    Known misses: a model built in another module, a model whose last layer is added in a
    loop, hard outputs behind methods of `self` or functions defined after their caller, and
    `ReLU(max_value=6)` / `relu(x, max_value=...)` spellings.

    ## Severity
    Error when the gradient is 0 (or missing) everywhere: a layer with a step activation, a
    step of a trainable input gating a value, Theano's `ultra_fast_sigmoid` under `T.grad`;
    warning for activations whose gradient is 0 only outside a region (hard sigmoid, hard tanh,
    ReLU6 and the like), where training can still reach inputs inside it.

    ## References
    - Stack Overflow, "Theano hard_sigmoid() destroys gradient descent" (the seed).
    - Keras 2.3.0 release notes: LSTM/GRU `recurrent_activation` default changed from
      `hard_sigmoid` to `sigmoid`.
    - Howard et al., "Searching for MobileNetV3" (2019): hard-swish and hard-sigmoid in hidden
      layers; Sandler et al., "MobileNetV2" (2018): ReLU6.
    """

    code = "GL060"
    severity = Severity.WARNING
    other_severities = (Severity.ERROR,)  # see ## Severity
    message = "`{op}` {role}: {gradient}; {advice}"
    frameworks = ("tensorflow", "keras", "torch", "jax", "theano", "lasagne")

    def __init__(self, context) -> None:
        super().__init__(context)
        parts = {part.lower() for part in PurePath(context.path).parts}
        self.library = "activations" in parts or PurePath(context.path).stem == "activations"
        self.sources: dict[int, _Source] = {}  # id of a call -> what it is
        self.indicators: dict[int, tuple[cst.CSTNode | None, bool]] = {}  # step call -> (statement, quiet)
        self.hard_sequential: dict[int, int] = {}  # id of a Sequential call -> id of its hard last layer
        self.module_models: dict[str, int] = {}  # module-level name -> id of its hard last layer
        self.summaries: dict[str, frozenset[int]] = {}  # helper function -> sources its return depends on
        self.marked: set[int] = set()  # scopes (id, 0 for the module) worth analysing
        self.ultra: list[tuple[cst.Call, cst.CSTNode | None]] = []
        self.grad_evidence = False
        self.reported: set[int] = set()
        self._env: dict[str, list[cst.BaseExpression]] = {}
        self._memo: dict[int, frozenset[int]] = {}

    # The walk ---------------------------------------------------------------------------

    def _scope_key(self) -> int:
        for scope in reversed(self.context.scopes):
            if isinstance(scope, cst.FunctionDef):
                return id(scope)
        return 0

    def _quiet(self) -> bool:
        if self.library:
            return True
        for scope in self.context.scopes:
            if not isinstance(scope, cst.Lambda) and _DEFINITION.search(scope.name.value.replace("_", "")):
                return True
        return not_differentiated(self.context)

    def visit_Call(self, node: cst.Call) -> None:
        names = self.qualified_names(node.func)
        self._clipped_error(node, names)
        if not names:
            method = self.context.names.method(node)
            if method is not None and method in CAST.methods and _comparison(self, node.func.value):
                self.indicators[id(node)] = (self.context.current_statement(), self._quiet())
                self.marked.add(self._scope_key())
            elif isinstance(node.func, cst.Name) and node.func.value in self.summaries:
                self.marked.add(self._scope_key())
            elif isinstance(node.func, cst.Name) and node.func.value in self.module_models:
                self.marked.add(self._scope_key())
            elif method in ("compile", "fit"):  # the model may be built in another function
                self.marked.add(self._scope_key())
            return
        if names & GRAD_EVIDENCE or (names & TRAINING_FUNCTION and argument(node, "updates") is not None):
            self.grad_evidence = True
        hard = names & HARD
        if hard:
            if not self._quiet():
                name = min(hard)
                self._add(node, self.source(node.func), _flat(HARD.info.get(name, "")), Severity.WARNING)
            return
        if names & NO_GRADIENT:
            if not self._quiet():
                self.ultra.append((node, self.context.current_statement()))
            return
        if names & _STEP_LIKE:
            self._indicator_call(node, names)
            return
        if names & HARD_MODULES:
            if not self._quiet():
                region = HARD_MODULES.info.get(min(names & HARD_MODULES), "")
                self._add(node, self._short(node), _flat(region), Severity.WARNING)
            return
        value = None
        if names & ACTIVATION_LAYERS:
            value = argument(node, "activation", 0)
        elif any(name.startswith(_LAYER_PREFIXES) for name in names):
            value = argument(node, "activation")
            if value is None:
                value = argument(node, "nonlinearity")
        if value is not None:
            self._layer_activation(node, value)

    def _add(
        self, node: cst.Call, op: str, gradient: str, severity: Severity, advice: str = "use sigmoid/tanh there"
    ) -> None:
        self.sources[id(node)] = _Source(node, self.context.current_statement(), op, gradient, severity, advice)
        self.marked.add(self._scope_key())

    def _clipped_error(self, node: cst.Call, names: frozenset[str]) -> None:
        """`clamp(ratio, 1 - eps, 1 + eps)`, `(q - target).clamp(-1, 1)`: an error or a ratio
        clipped on both sides; a source when nothing unclipped goes beside it into the loss."""
        method = None if names else self.context.names.method(node)
        if not (names & CLIP or method in CLIP.methods) or self._quiet():
            return
        args = positional(node)
        operand = node.func.value if method is not None else (args[0] if args else argument(node, "input"))
        bounds = args if method is not None else args[1:]
        keywords = {arg.keyword.value: arg.value for arg in node.args if arg.keyword is not None}
        for low, high in _CLIP_KEYWORDS:
            if low in keywords and high in keywords:
                bounds = [keywords[low], keywords[high]]
        if operand is None or len(bounds) != 2 or not _error_or_ratio(self, operand) or not self._band(*bounds):
            return
        region = f"[{self.source(bounds[0])}, {self.source(bounds[1])}]"
        ratio = isinstance(operand, cst.Call) or (isinstance(operand, cst.Name) and "ratio" in operand.value.lower())
        advice = ("keep the unclipped ratio beside it, as PPO does: `min(ratio * adv, clip(ratio) * adv)`" if ratio
                  else "use a Huber loss (`smooth_l1_loss`, `huber`), whose gradient stays constant beyond the bound")
        self._add(node, self._short(node), _flat(region), Severity.WARNING, advice)

    def _band(self, low: cst.BaseExpression, high: cst.BaseExpression) -> bool:
        """Bounds around a centre, each of which binds: `-1, 1`, `-c, c`, `1 - eps, 1 + eps`. A
        hinge (`clip(margin - d, 0, 2 * margin)`) is flat on one side by design."""
        low_value, high_value = number(low), number(high)
        if low_value is not None and high_value is not None:
            return high_value > 0 and low_value == -high_value
        if isinstance(low, cst.UnaryOperation) and isinstance(low.operator, cst.Minus):
            return self.source(low.expression) == self.source(high)
        if isinstance(low, cst.BinaryOperation) and isinstance(high, cst.BinaryOperation):
            return (isinstance(low.operator, cst.Subtract) and isinstance(high.operator, cst.Add)
                    and self.source(low.left) == self.source(high.left)
                    and self.source(low.right) == self.source(high.right))
        return False

    def _short(self, node: cst.CSTNode) -> str:
        text = self.source(node)
        if len(text) > _OP_CHARS and isinstance(node, cst.Call):
            return self.source(node.func)
        return text

    def _indicator_call(self, node: cst.Call, names: frozenset[str]) -> None:
        if _indicator_condition(self, node) is None:
            return
        quiet = self._quiet()
        self.indicators[id(node)] = (self.context.current_statement(), quiet)
        self.marked.add(self._scope_key())
        if quiet or not names & WHERE:
            return
        # where(pred > 0, 1.0, 0.0): a step of the prediction, a source when it feeds a loss
        # (GL020 takes this `where` for a constant).
        condition = positional(node)[0]
        if _names(condition) - {"self"} and not all(_LABEL.match(n) for n in _names(condition)):
            self._add(node, self._short(node), "its gradient is 0 everywhere", Severity.ERROR)

    def _layer_activation(self, node: cst.Call, value: cst.BaseExpression) -> None:
        if self._quiet():
            return
        text = string(value)
        region = None
        if text is not None:
            region = HARD_STRINGS.info.get(text) if text in HARD_STRINGS else None
        else:
            hard = self.qualified_names(value) & HARD
            if hard:
                region = HARD.info.get(min(hard), "")
            elif self.qualified_names(value) & STEP or (
                isinstance(value, cst.Lambda) and _indicator_condition(self, value.body) is not None
            ):
                self.report(
                    node,
                    severity=Severity.ERROR,
                    op=self._short(node),
                    role="is a layer with a step activation",
                    gradient="its gradient is 0 everywhere, so nothing before it learns",
                    advice="use sigmoid/tanh or a straight-through estimator",
                )
                return
        if region is not None:
            self._add(node, self._short(node), _flat(region), Severity.WARNING)

    def leave_Call(self, node: cst.Call) -> None:
        if not self.callee(node, SEQUENTIAL):
            return
        args = positional(node)
        if len(args) == 1 and isinstance(args[0], cst.List):  # keras.Sequential([...])
            elements = args[0].elements
            last = elements[-1].value if elements and not isinstance(elements[-1], cst.StarredElement) else None
        elif any(arg.star for arg in node.args):
            last = None
        else:
            last = args[-1] if args else None
        if last is not None and id(last) in self.sources:
            self.hard_sequential[id(node)] = id(last)

    def leave_Assign(self, node: cst.Assign) -> None:
        if self.context.scopes or id(node.value) not in self.hard_sequential:
            return
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                self.module_models[target.target.value] = self.hard_sequential[id(node.value)]

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        if id(node) not in self.marked:
            return
        self._analyse(node, node.body)
        outer = self.context.scopes[:-1]
        if not outer:  # a module-level helper: remember what its return value depends on
            found: set[int] = set()
            for child in own_nodes(node.body):
                if isinstance(child, cst.Return) and child.value is not None:
                    found |= self._taint(child.value, 0)
            if found:
                self.summaries[node.name.value] = frozenset(found)

    def leave_Module(self, node: cst.Module) -> None:
        if 0 in self.marked:
            self._analyse(None, node)
        if self.grad_evidence:
            for call, statement in self.ultra:
                self.report(
                    call,
                    statement=statement,
                    severity=Severity.ERROR,
                    op=self.source(call.func),
                    role="is differentiated",
                    gradient="it has no gradient, `T.grad` raises MethodNotDefined",
                    advice="use `T.nnet.sigmoid`",
                )

    # One function (or the module) --------------------------------------------------------

    def _analyse(self, function: cst.FunctionDef | None, body: cst.CSTNode) -> None:
        self._env = bindings(function if function is not None else body)
        self._memo = {}
        self._product: dict[int, cst.BinaryOperation] = {}  # a product's factors -> the whole product
        loss_function = function is not None and named_like_loss(function.name.value)
        in_class = function is not None and any(isinstance(scope, cst.ClassDef) for scope in self.context.scopes)
        loss_objects = {
            name
            for name, values in self._env.items()
            if any(isinstance(v, cst.Call) and self.callee(v, LOSS_CLASSES) for v in values)
        }
        last_add: dict[str, int | None] = {}
        for child in own_nodes(body):
            if isinstance(child, cst.Call):
                self._sink_call(child, loss_objects, last_add)
            elif isinstance(child, cst.Assign):
                if any(isinstance(t.target, cst.Name) and named_like_loss(t.target.value) for t in child.targets):
                    self._found(self._taint(child.value, 0), "feeds the loss")
            elif isinstance(child, cst.AugAssign):
                if isinstance(child.target, cst.Name) and named_like_loss(child.target.value):
                    self._found(self._taint(child.value, 0), "feeds the loss")
            elif isinstance(child, cst.Return) and loss_function and child.value is not None:
                self._found(self._taint(child.value, 0), "feeds the loss")
            elif isinstance(child, cst.BinaryOperation) and in_class and isinstance(child.operator, cst.Multiply):
                # Walk order meets a product before its nested products: remember the whole one.
                top = self._product.setdefault(id(child), child)
                for factor in (child.left, child.right):
                    self._product[id(factor)] = top
                self._gate(child)

    def _sink_call(self, call: cst.Call, loss_objects: set[str], last_add: dict[str, int | None]) -> None:
        func = call.func
        names = self.qualified_names(func)
        if names:
            if names & LOSSES:
                for arg in call.args:
                    self._found(self._taint(arg.value, 0), f"feeds `{self.source(func)}`")
            elif names & GRAD:
                if call.args:
                    self._found(self._taint(call.args[0].value, 0), "is differentiated")
            elif names & TRAINING_FUNCTION:
                if argument(call, "updates") is not None:
                    outputs = argument(call, "outputs", 1)
                    if outputs is not None:
                        self._found(self._taint(outputs, 0), "feeds the cost being trained")
            elif names & KERAS_MODEL:
                outputs = argument(call, "outputs", 1)
                if outputs is not None:
                    for part in _elements(outputs):
                        self._found(self._taint(part, 0), "is the model's output")
            return
        if isinstance(func, cst.Call) and self.callee(func, LOSS_CLASSES):
            for arg in call.args:
                self._found(self._taint(arg.value, 0), f"feeds `{self.source(func)}`")
            return
        if isinstance(func, cst.Name):
            if func.value in loss_objects or (
                func.value not in self._env and named_like_loss(func.value) and not self.context.names.is_module(func)
            ):
                for arg in call.args:
                    self._found(self._taint(arg.value, 0), f"feeds `{func.value}`")
            return
        if not isinstance(func, cst.Attribute):
            return
        method = func.attr.value
        receiver = func.value
        if isinstance(receiver, cst.Name) and receiver.value == "self" and named_like_loss(method):
            for arg in call.args:
                self._found(self._taint(arg.value, 0), f"feeds `{self.source(func)}`")
        elif method == "backward" and not self.context.names.is_module(receiver):
            self._found(self._taint(receiver, 0), "is differentiated")
        elif method in ("gradient", "add_loss") and call.args:
            if method == "add_loss" or len(call.args) >= 2:
                self._found(self._taint(call.args[0].value, 0), "feeds the loss")
        elif method == "add" and isinstance(receiver, cst.Name) and len(call.args) == 1:
            layer = call.args[0].value
            last_add[receiver.value] = id(layer) if id(layer) in self.sources else None
        elif method in ("compile", "fit") and isinstance(receiver, cst.Name):
            layer = last_add.get(receiver.value)
            if layer is None:
                layer = self._model(receiver.value) or self._trained_model(receiver)
            if layer is not None:
                self._found(frozenset({layer}), "is the output of a trained model")

    def _trained_model(self, receiver: cst.BaseExpression) -> int | None:
        """The hard last layer of the Sequential model `receiver` holds, however it was built:
        a name or attribute assigned one, or a function of the project returning one (made
        with its layers, or filled with `add`); the semantic model follows the way."""
        todo = [(receiver, self.place())]
        for _ in range(_MAX_DEPTH):
            if not todo:
                return None
            node, place = todo.pop()
            if isinstance(node, cst.Call):
                if id(node) in self.hard_sequential:
                    return self.hard_sequential[id(node)]
                todo += ModuleModel.returns(node, place) or []
            elif isinstance(node, (cst.Name, cst.Attribute)):
                added = ModuleModel.added_layers(node.value, place) if isinstance(node, cst.Name) else []
                if added:
                    return id(added[-1]) if id(added[-1]) in self.sources else None
                todo += [(value, at) for value, index, at in ModuleModel.assignments(node, place) or () if index is None]
        return None

    def _model(self, name: str) -> int | None:
        """The hard last layer of the Sequential model bound to `name`, if any."""
        values = self._env.get(name)
        if values is None:
            return self.module_models.get(name)
        for value in values:
            if id(value) in self.hard_sequential:
                return self.hard_sequential[id(value)]
        return None

    def _found(self, sources: frozenset[int], role: str) -> None:
        for key in sources:
            if key in self.reported:
                continue
            self.reported.add(key)
            source = self.sources[key]
            self.report(
                source.node,
                statement=source.statement,
                severity=source.severity,
                op=source.op,
                role=role,
                gradient=source.gradient,
                advice=source.advice,
            )

    # What a value depends on ---------------------------------------------------------------

    def _taint(self, node: cst.BaseExpression, depth: int) -> frozenset[int]:
        """The saturating sources that `node`'s value depends on with no other gradient path."""
        if depth > _MAX_DEPTH:
            return frozenset()
        key = id(node)
        if key in self._memo:
            return self._memo[key]
        self._memo[key] = frozenset()  # cycles (`x = x + 1`) end here
        found = self._taint_uncached(node, depth + 1)
        self._memo[key] = found
        return found

    def _taint_uncached(self, node: cst.BaseExpression, depth: int) -> frozenset[int]:
        empty: frozenset[int] = frozenset()
        if isinstance(node, cst.Call):
            if id(node) in self.sources:
                return frozenset({id(node)})
            func = node.func
            if isinstance(func, cst.Call) and id(func) in self.sources:  # Dense(1, activation=...)(x)
                return frozenset({id(func)})
            names = self.qualified_names(func)
            if names:
                if names & STOP:
                    return empty
                if names & TRANSPARENT:
                    args = positional(node)
                    return self._taint(args[0], depth) if args else empty
                return empty
            if isinstance(func, cst.Name):
                model = self._model(func.value)
                if model is not None:
                    return frozenset({model})
                if func.value not in self._env and func.value in self.summaries:
                    return self.summaries[func.value]
                return empty
            if isinstance(func, cst.Attribute):
                method = func.attr.value
                if method in STOP.methods:
                    return empty
                if method in TRANSPARENT.methods:
                    return self._taint(func.value, depth)
            return empty
        if isinstance(node, cst.Name):
            found: set[int] = set()
            for value in self._env.get(node.value, ()):
                found |= self._taint(value, depth)
            return frozenset(found)
        if isinstance(node, cst.BinaryOperation):
            left, right = self._taint(node.left, depth), self._taint(node.right, depth)
            op = node.operator
            if isinstance(op, (cst.Add, cst.Subtract)):
                if left and (right or _inert(node.right)):
                    return left | right
                if right and _inert(node.left):
                    return right
                return empty
            if isinstance(op, (cst.Multiply, cst.Divide)):
                if left and _inert(node.right):
                    return left
                if right and _inert(node.left):
                    return right
                return empty
            if isinstance(op, cst.Power) and number(node.right) is not None:
                return left
            return empty
        if isinstance(node, cst.UnaryOperation):
            return self._taint(node.expression, depth)
        if isinstance(node, cst.Subscript):
            return self._taint(node.value, depth)
        return empty

    # Hard gates ------------------------------------------------------------------------

    def _gate(self, node: cst.BinaryOperation) -> None:
        for side in (node.left, node.right):
            step = side
            if isinstance(side, cst.Name):
                values = self._env.get(side.value, ())
                step = values[0] if len(values) == 1 else None
            if not isinstance(step, cst.Call) or id(step) not in self.indicators or id(step) in self.reported:
                continue
            statement, quiet = self.indicators[id(step)]
            if quiet:
                continue
            compared = _indicator_condition(self, step)
            if compared is None or not self._trainable(compared):
                continue
            others = [f for f in _factors(self._product.get(id(node), node)) if f is not side]
            if isinstance(compared, cst.Name) and any(compared.value in _names(f) for f in others):
                # `h * (h > 0).float()`, a relu, or `sign(z) * (1 - exp(-abs(z)))`: the gradient
                # flows through the other factors of the product.
                continue
            self.reported.add(id(step))
            self.report(
                step,
                statement=statement,
                severity=Severity.ERROR,
                op=self._short(step),
                role="gates a value with a step of a trainable input",
                gradient="its gradient is 0 everywhere, so the gate never learns",
                advice="use sigmoid or a straight-through estimator",
            )

    def _trainable(self, node: cst.BaseExpression, depth: int = 0) -> bool:
        """A layer call of `self` (`self.fc(x)`), a layer built and called (`Dense(4)(x)`), or a
        name bound to one."""
        if isinstance(node, cst.Name):
            if depth > 2:
                return False
            return any(self._trainable(value, depth + 1) for value in self._env.get(node.value, ()))
        for child in iter_tree(node):
            if isinstance(child, cst.Call):
                func = child.func
                if isinstance(func, cst.Call):
                    return True
                if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
                    return True
            elif isinstance(child, cst.Name) and child.value in self._env and self._trainable(child, depth + 1):
                return True
        return False


# The keyword pairs of a clip's bounds: torch, TensorFlow, NumPy/JAX, Keras.
_CLIP_KEYWORDS = (("min", "max"), ("clip_value_min", "clip_value_max"), ("a_min", "a_max"), ("x_min", "x_max"))
# Names of a value that is an error or a ratio: clipping one on both sides flattens a loss.
_ERROR_WORDS = frozenset({"ratio", "ratios", "err", "error", "errors", "diff", "delta", "td", "residual", "residuals"})


def _error_or_ratio(rule: Rule, node: cst.BaseExpression) -> bool:
    """A difference of two varying values, an `exp` (a probability ratio), or a name that says so."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Subtract):
        return number(node.left) is None and number(node.right) is None
    if isinstance(node, cst.Call):
        names = rule.qualified_names(node.func)
        return any(name.rpartition(".")[2] == "exp" for name in names) or (
            not names and rule.context.names.method(node) == "exp"
        )
    return isinstance(node, cst.Name) and bool(set(name_words(node.value)) & _ERROR_WORDS)


def _flat(region: str) -> str:
    return f"its gradient is 0 outside {region}" if region else "its gradient is 0 when it saturates"


def _elements(node: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(node, (cst.List, cst.Tuple)):
        return [e.value for e in node.elements if not isinstance(e, cst.StarredElement)]
    if isinstance(node, cst.Dict):
        return [e.value for e in node.elements if isinstance(e, cst.DictElement)]
    return [node]


def _factors(node: cst.BaseExpression) -> list[cst.BaseExpression]:
    """The factors of a product `a * b * c` (one factor for anything else)."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Multiply):
        return _factors(node.left) + _factors(node.right)
    return [node]


def _names(node: cst.CSTNode) -> set[str]:
    return {child.value for child in iter_tree(node) if isinstance(child, cst.Name)}


def _inert(node: cst.BaseExpression) -> bool:
    """A constant, a label, or arithmetic of those: combining with it keeps a value saturated."""
    if number(node) is not None:
        return True
    if isinstance(node, cst.Name):
        return bool(_LABEL.match(node.value))
    if isinstance(node, cst.BinaryOperation):
        return _inert(node.left) and _inert(node.right)
    if isinstance(node, cst.UnaryOperation):
        return _inert(node.expression)
    return False


def _comparison(rule: Rule, node: cst.BaseExpression) -> cst.BaseExpression | None:
    """For an ordering comparison `a > 0` (or `tf.greater(a, 0)`), the compared non-constant operand."""
    if isinstance(node, cst.Comparison):
        if len(node.comparisons) != 1 or not isinstance(node.comparisons[0].operator, _ORDERING):
            return None
        left, right = node.left, node.comparisons[0].comparator
    elif isinstance(node, cst.Call) and rule.callee(node, COMPARE):
        args = positional(node)
        if len(args) != 2:
            return None
        left, right = args
    elif isinstance(node, cst.Call) and rule.context.names.method(node) in COMPARE.methods and node.args:
        left, right = node.func.value, node.args[0].value
    else:
        return None
    if number(right) is not None:
        return left
    if number(left) is not None:
        return right
    return left


def _indicator_condition(rule: Rule, node: cst.BaseExpression) -> cst.BaseExpression | None:
    """For a step function of `a` (`where(a > 0, 1, 0)`, `cast(a > 0, float)`, `(a > 0).float()`,
    `sign(a)`, `heaviside(a, 0)`): `a`. None for anything else."""
    if not isinstance(node, cst.Call):
        return None
    args = positional(node)
    if rule.callee(node, STEP):
        return args[0] if args else None
    if rule.callee(node, WHERE):
        if len(args) == 3 and number(args[1]) is not None and number(args[2]) is not None:
            return _comparison(rule, args[0])
        return None
    if rule.callee(node, CAST):
        return _comparison(rule, args[0]) if args else None
    method = rule.context.names.method(node)
    if method is not None and method in CAST.methods:
        return _comparison(rule, node.func.value)
    return None


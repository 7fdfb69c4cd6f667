from __future__ import annotations

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.gradients import in_test_tree, not_differentiated
from gradlint.engine.syntax import argument, bindings, is_constant, positional, string
from gradlint.rule import Rule, Severity
from gradlint.rules.gl080_log_of_softmax import probability_kind

SOFTMAX = api_table("softmax_softmax")
SIGMOID = api_table("softmax_sigmoid")
DENSE = api_table("softmax_dense")
SOFTMAX_LAYER = api_table("softmax_softmax_layer")
SIGMOID_LAYER = api_table("softmax_sigmoid_layer")
SEQUENTIAL = api_table("softmax_sequential")
LOSS_FIRST = api_table("softmax_logits_loss_first")
LOSS_SECOND = api_table("softmax_logits_loss_second")
LOSS_CLASS = api_table("softmax_logits_loss_class")
FROM_LOGITS_FUNCTION = api_table("softmax_from_logits_function")
FROM_LOGITS_CLASS = api_table("softmax_from_logits_class")

_MAX_DEPTH = 4
_ARG_CHARS = 40
_WHAT = {
    "softmax": "softmax probabilities",
    "sigmoid": "sigmoid probabilities",
    "one minus sigmoid": "sigmoid probabilities",
    "one minus softmax": "softmax probabilities",
    "hand-written softmax": "softmax probabilities",
    "exp of log_softmax": "probabilities (`exp` of a `log_softmax`)",
    "sum of exp": "a sum of exponentials",
}


class ProbabilitiesIntoLogitsLoss(Rule):
    """
    ## What it does
    Checks for probabilities passed to a loss that expects logits, so that the softmax (or
    sigmoid) is applied twice:

    - a softmax or sigmoid output, the `exp` of a `log_softmax`, or a hand-written
      `exp(x) / sum(exp(x))`, given directly or through a local variable as the prediction of
      `F.cross_entropy`, `nn.CrossEntropyLoss()`, `F.binary_cross_entropy_with_logits`,
      `nn.BCEWithLogitsLoss()`, `tf.nn.softmax_cross_entropy_with_logits(logits=...)`,
      `tf.nn.sparse_softmax_cross_entropy_with_logits`,
      `tf.nn.sigmoid_cross_entropy_with_logits`, `optax.softmax_cross_entropy`,
      `optax.sigmoid_binary_cross_entropy`, and the Keras crossentropy losses (functions and
      classes) with `from_logits=True`;
    - the output of a model whose last layer is a softmax or sigmoid (`nn.Sequential(...,
      nn.Softmax(dim=1))`, `keras.Sequential([..., Dense(10, activation="softmax")])`) given to
      such a loss, or a Keras model of that kind compiled with a `from_logits=True` loss,
      when the model is built in the same file (severity warning).

    ## Why is this bad?
    The loss applies its own softmax (or sigmoid) to what it takes for logits. Probabilities
    lie in `[0, 1]`, so the second softmax sees almost equal inputs: the loss cannot go below a
    floor and its gradient shrinks several-fold. Measured with torch 2.13.0 (64 examples, 10
    classes): `F.cross_entropy(logits)` has gradient norm 0.126, `F.cross_entropy(softmax(logits))`
    0.014 (9x smaller); with logits scaled by 5, 0.155 against 0.0075 (20x). The smallest
    reachable loss for 10 classes is 1.46 instead of 0, whatever the model.
    `F.binary_cross_entropy_with_logits(sigmoid(z))`: gradient norm 0.012 instead of 0.068,
    loss floor 0.313. TF 2.21.0 `softmax_cross_entropy_with_logits(y, tf.nn.softmax(x))` at
    `x = [2, 0, -1]`: loss 1.39 and gradient `[0.13, -0.13, -0.005]` instead of 2.17 and
    `[0.84, -0.89, 0.04]`. No warning in torch, TF or JAX.

    Keras 3.15.1 on the TensorFlow backend repairs one case: a `keras.activations.softmax`
    output (a `Dense(..., activation="softmax")` layer) given to a crossentropy with
    `from_logits=True` is computed from the logits cached on the tensor, with the warning
    "received `from_logits=True`, but the `output` argument was produced by a Softmax
    activation and thus does not represent logits". `tf.nn.softmax` output is not repaired, and
    neither is anything on the JAX or torch backends.

    ## Example
    ```python
    model = nn.Sequential(nn.Linear(784, 10), nn.Softmax(dim=1))
    criterion = nn.CrossEntropyLoss()
    loss = criterion(model(x), y)

    probs = tf.nn.softmax(logits)
    loss = tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=probs)
    ```

    Use instead:
    ```python
    model = nn.Sequential(nn.Linear(784, 10))  # softmax only for predictions
    criterion = nn.CrossEntropyLoss()
    loss = criterion(model(x), y)

    loss = tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=logits)
    ```

    ## Notes
    Not flagged, on purpose:

    - losses that expect probabilities: `nn.NLLLoss` / `F.nll_loss` (on `log_softmax`),
      `F.binary_cross_entropy(sigmoid(x))`, Keras crossentropies with the default
      `from_logits=False`;
    - probabilities given as the *target*: distillation `F.cross_entropy(student_logits,
      softmax(teacher_logits / T))`, `softmax_cross_entropy_with_logits(labels=softmax(...))`;
    - `log_softmax` or `log` of probabilities given as logits (the softmax of a log-softmax
      is the softmax itself);
    - a softmax model used only for predictions (`no_grad`, `inference_mode`, `predict`),
      metrics and tests.

    Known misses: a model defined in another file, a custom `nn.Module` whose `forward` ends
    in a softmax, a functional Keras model (`keras.Model(inputs, outputs)`), and a loss object
    passed in as an argument.

    ## Severity
    Error when a softmax or sigmoid output (or its hand-written or `exp(log_softmax)` twin)
    reaches the loss; warning when the probabilities are the output of a model built in the
    same file whose last layer is a softmax or sigmoid.

    ## References
    - PyTorch documentation, `torch.nn.CrossEntropyLoss`: "The input is expected to contain
      the unnormalized logits for each class".
    - TensorFlow documentation, `tf.nn.softmax_cross_entropy_with_logits`: "This op expects
      unscaled logits, since it performs a softmax on logits internally for efficiency. Do
      not call this op with the output of softmax, as it will produce incorrect results."
    """

    code = "GL082"
    severity = Severity.ERROR
    other_severities = (Severity.WARNING,)  # see ## Severity
    message = (
        "{what} `{arg}` passed to `{loss}`, which applies softmax/sigmoid again: "
        "the gradient shrinks; pass the logits"
    )
    frameworks = ("torch", "tensorflow", "keras", "jax")

    def __init__(self, context) -> None:
        super().__init__(context)
        self._bindings: dict[int, dict] = {}
        self._attrs: dict[int, dict[str, list[cst.BaseExpression]]] = {}  # class -> self.<attr> values
        self._quiet = in_test_tree(context.path)

    def visit_Assign(self, node: cst.Assign) -> None:
        # `self.criterion = nn.CrossEntropyLoss()`, `self.model = nn.Sequential(...)`
        if not isinstance(node.value, cst.Call):
            return
        cls = self.context.enclosing(cst.ClassDef)
        if cls is None:
            return
        for target in node.targets:
            t = target.target
            if isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == "self":
                self._attrs.setdefault(id(cls), {}).setdefault(t.attr.value, []).append(node.value)

    # Looking up values --------------------------------------------------------------------

    def _values(self, node: cst.BaseExpression) -> list[cst.BaseExpression] | None:
        """Values of a local name (else a module name), or of a `self.<attr>` of this class."""
        if isinstance(node, cst.Attribute):
            if isinstance(node.value, cst.Name) and node.value.value == "self":
                cls = self.context.enclosing(cst.ClassDef)
                return self._attrs.get(id(cls), {}).get(node.attr.value) if cls is not None else None
            return None
        if not isinstance(node, cst.Name):
            return None
        function = self.context.enclosing(cst.FunctionDef)
        if function is not None:
            params = function.params
            if any(p.name.value == node.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)):
                return None
            found = self._table(function).get(node.value)
            if found is not None:
                return found
        return self._table(None).get(node.value)

    def _table(self, function: cst.FunctionDef | None) -> dict:
        key = id(function) if function is not None else 0
        table = self._bindings.get(key)
        if table is None:
            table = bindings(function if function is not None else self.context.module)
            self._bindings[key] = table
        return table

    # The losses ---------------------------------------------------------------------------------

    def visit_Call(self, node: cst.Call) -> None:
        if self._quiet:
            return
        if self.context.names.method(node) == "compile":
            self._compile(node)
            return
        prediction = self._prediction(node)
        if prediction is None:
            return
        kind = probability_kind(self, prediction, self._bindings)
        model_evidence = False
        if kind is None:
            if not self._model_output(prediction, 0):
                return
            what, model_evidence = "the softmax/sigmoid model's output", True
        else:
            what = _WHAT.get(kind[0])
            if what is None:
                return
        if not_differentiated(self.context):
            return
        self.report(
            prediction,
            what=what,
            arg=_short(self.source(prediction)),
            loss=_short(self.source(node.func)),
            severity=Severity.WARNING if model_evidence else None,
        )

    def _prediction(self, node: cst.Call) -> cst.BaseExpression | None:
        """The argument that must hold logits, when `node` is a loss expecting logits."""
        if self.callee(node, LOSS_FIRST):
            return argument(node, "input", 0) or argument(node, "logits", 0)
        if self.callee(node, LOSS_SECOND):
            return argument(node, "logits", 1)
        if self.callee(node, FROM_LOGITS_FUNCTION):
            if not _from_logits(node):
                return None
            return argument(node, "y_pred", 1) or argument(node, "output", 1)
        # A loss object called: `nn.CrossEntropyLoss()(p, y)`, `criterion(p, y)`, `self.loss_fn(p, y)`.
        func = node.func
        constructors = [func] if isinstance(func, cst.Call) else self._values(func) or []
        if not constructors or not all(isinstance(c, cst.Call) for c in constructors):
            return None
        if all(self.callee(c, LOSS_CLASS) for c in constructors):
            return argument(node, "input", 0)
        if all(self.callee(c, FROM_LOGITS_CLASS) and _from_logits(c) for c in constructors):
            return argument(node, "y_pred", 1)
        return None

    def _compile(self, node: cst.Call) -> None:
        """`model.compile(loss=CategoricalCrossentropy(from_logits=True))` on a softmax model."""
        loss = argument(node, "loss", 1)
        if loss is None:
            return
        constructors = [loss] if isinstance(loss, cst.Call) else self._values(loss) or []
        if not constructors or not all(
            isinstance(c, cst.Call) and self.callee(c, FROM_LOGITS_CLASS) and _from_logits(c) for c in constructors
        ):
            return
        model = node.func.value  # type: ignore[union-attr]
        if not self._probability_model(model, 0) or not_differentiated(self.context):
            return
        self.report(
            loss,
            "`{model}` ends in a softmax or sigmoid and `{loss}` applies it again: the gradient shrinks",
            model=_short(self.source(model)),
            loss=_short(self.source(loss)),
            severity=Severity.WARNING,
        )

    # Models ending in a probability layer -------------------------------------------------------

    def _model_output(self, node: cst.BaseExpression, depth: int) -> bool:
        """`model(x)` (or a name bound to it) where `model` ends in a softmax or sigmoid."""
        if depth > _MAX_DEPTH:
            return False
        if isinstance(node, cst.Name):
            values = self._values(node)
            return bool(values) and all(self._model_output(v, depth + 1) for v in values)
        if not isinstance(node, cst.Call) or not node.args:
            return False
        return self._probability_model(node.func, depth + 1)

    def _probability_model(self, node: cst.BaseExpression, depth: int) -> bool:
        if depth > _MAX_DEPTH:
            return False
        if isinstance(node, (cst.Name, cst.Attribute)) and not self.qualified_names(node):
            values = self._values(node)
            return bool(values) and all(self._probability_model(v, depth + 1) for v in values)
        if not (isinstance(node, cst.Call) and self.callee(node, SEQUENTIAL)):
            return False
        layers = positional(node)
        if len(layers) == 1 and isinstance(layers[0], (cst.List, cst.Tuple)):
            layers = [element.value for element in layers[0].elements]
        return bool(layers) and isinstance(layers[-1], cst.Call) and self._probability_layer(layers[-1])

    def _probability_layer(self, call: cst.Call) -> bool:
        if self.callee(call, SIGMOID_LAYER):
            return True
        name = self.callee(call, SOFTMAX_LAYER)
        if name == "keras.layers.Activation":
            return self._activation(argument(call, "activation", 0))
        if name is not None:
            return True
        dense = self.callee(call, DENSE)
        if dense is not None and dense.startswith("keras."):
            return self._activation(argument(call, "activation", 1))
        return False

    def _activation(self, node: cst.BaseExpression | None) -> bool:
        if node is None:
            return False
        if string(node) in ("softmax", "sigmoid"):
            return True
        return bool(self.qualified_names(node) & (SOFTMAX | SIGMOID))


def _from_logits(call: cst.Call) -> bool:
    value = argument(call, "from_logits")
    return value is not None and is_constant(value, True)


def _short(text: str) -> str:
    return text if len(text) <= _ARG_CHARS else text[: _ARG_CHARS - 3] + "..."

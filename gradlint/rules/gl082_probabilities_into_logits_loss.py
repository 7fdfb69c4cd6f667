from __future__ import annotations

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.gradients import in_test_tree, not_differentiated
from gradlint.engine.syntax import argument, is_constant
from gradlint.rule import Rule, Severity
from gradlint.semantic.losses import compiled_losses
from gradlint.semantic.summaries import logits_argument
from gradlint.semantic.values import Value

LOSS_CLASS = api_table("softmax_logits_loss_class")
LOG_PROBABILITY_LOSS = api_table("softmax_log_probability_loss")
LOG_PROBABILITY_CLASS = frozenset(LOG_PROBABILITY_LOSS.info["classes"])
FROM_LOGITS_CLASS = api_table("softmax_from_logits_class")

_ARG_CHARS = 40
_WHAT = {
    "softmax": "softmax probabilities",
    "sigmoid": "sigmoid probabilities",
    "one minus sigmoid": "sigmoid probabilities",
    "one minus softmax": "softmax probabilities",
    "hand-written softmax": "softmax probabilities",
    "exp of log_softmax": "probabilities (`exp` of a `log_softmax`)",
}


class ProbabilitiesIntoLogitsLoss(Rule):
    """
    ## What it does
    Checks for probabilities passed to a loss that expects logits, so that the softmax (or
    sigmoid) is applied twice, or log-probabilities:

    - a softmax or sigmoid output, the `exp` of a `log_softmax`, or a hand-written
      `exp(x) / sum(exp(x))` (also written into a buffer: `p = torch.zeros(n)`,
      `p[i] = torch.exp(...)`, `p /= p.sum()`), given directly or through a local variable as the prediction of
      `F.cross_entropy`, `nn.CrossEntropyLoss()`, `F.binary_cross_entropy_with_logits`,
      `nn.BCEWithLogitsLoss()`, `tf.nn.softmax_cross_entropy_with_logits(logits=...)`,
      `tf.nn.sparse_softmax_cross_entropy_with_logits`,
      `tf.nn.sigmoid_cross_entropy_with_logits`, `optax.softmax_cross_entropy`,
      `optax.sigmoid_binary_cross_entropy`, and the Keras crossentropy losses (functions and
      classes) with `from_logits=True`;
    - the same given as `logits=` to a distribution that normalises it itself
      (`torch.distributions.Categorical(logits=probs)`, `Bernoulli`, `OneHotCategorical`,
      TensorFlow Probability's and distrax's `Categorical` / `Bernoulli`), as policy-gradient
      code does before `log_prob`;
    - the output of a model whose last layer is a softmax or sigmoid (`nn.Sequential(...,
      nn.Softmax(dim=1))`, `keras.Sequential([..., Dense(10, activation="softmax")])`) given to
      such a loss, a Keras model of that kind compiled with a `from_logits=True` loss or with
      a loss function of the project that takes its `y_pred` as logits (`loss=focal`, with
      `focal` calling `sigmoid_cross_entropy_with_logits(labels=y_true, logits=y_pred)`), or a
      module of that kind given to a trainer with `criterion=` a loss that expects logits
      (severity warning);
    - softmax probabilities given to a torch loss that expects log-probabilities:
      `F.nll_loss(softmax(x), y)`, `nn.NLLLoss()`, `F.kl_div` and `nn.KLDivLoss()` (the
      student's input of a distillation loss). Given probabilities, the loss is linear in them
      (`nll_loss` is `-p[y]`, below zero) and its gradient vanishes where the softmax
      saturates: torch 2.13.0, logits `[8, 0, 0]` with label 1, `nll_loss(softmax)` is -0.00034
      with gradient `[3.4e-04, -3.4e-04, 1.1e-07]`, against 8.0 and `[0.9993, -0.9997, 0.0003]`
      for `nll_loss(log_softmax)`.

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
    `[0.84, -0.89, 0.04]`. A distribution given probabilities as logits is the same
    computation: `-Categorical(logits=softmax(x)).log_prob(a)` has gradient norm 0.014 against
    0.126 (torch 2.13.0, the same 64 examples; TFP 0.25.0: 0.013 against 0.126), and
    `Bernoulli(logits=sigmoid(z))` 0.012 against 0.068; the policy it samples from is also
    flatter than the one the code computed. No warning in torch, TF or JAX.

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

    - losses that expect probabilities or log-probabilities and get them: `nn.NLLLoss` /
      `F.nll_loss` on `log_softmax`,
      `F.binary_cross_entropy(sigmoid(x))`, Keras crossentropies with the default
      `from_logits=False`;
    - probabilities given as the *target*: distillation `F.cross_entropy(student_logits,
      softmax(teacher_logits / T))`, `softmax_cross_entropy_with_logits(labels=softmax(...))`;
    - `log_softmax` or `log` of probabilities given as logits (the softmax of a log-softmax
      is the softmax itself);
    - a softmax model used only for predictions (`no_grad`, `inference_mode`, `predict`),
      metrics and tests.

    The model's output is followed by the semantic model: a custom `nn.Module` or Keras layer
    whose `forward` / `call` ends in a softmax (a stored `nn.Softmax`, an `Activation` layer,
    an inherited `forward`), `nn.Sequential` and Keras `Sequential` (also filled with
    `add_module` / `add`), functional Keras models (`keras.Model(inputs, outputs)`), a model
    called as `self(x)` in its own training step (Lightning's `training_step`, Keras's
    `train_step`), a Flax module applied to its variables (`model.apply(params, x)`, or the
    method named by `method=`), a method of a model held in an attribute
    (`self.policy.probs(x)`), models and helpers from other modules of the project, and models and loss
    objects passed as arguments to the module's own functions. The module's own functions are losses on logits
    when they pass a parameter as the logits of a framework loss, to `log_softmax`, or into the
    stable sigmoid cross-entropy `max(x, 0) - x * z + log(1 + exp(-abs(x)))`
    (`gradlint.semantic.summaries`): a probability given to them there is reported at the
    call, once, whatever the helper is called.

    Known misses: a softmax written into a buffer in place.

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
    log_probability_message = (
        "{what} `{arg}` passed to `{loss}`, which expects log-probabilities: the loss is linear in "
        "the probabilities, and its gradient vanishes where the softmax saturates; pass `log_softmax`"
    )
    frameworks = ("torch", "tensorflow", "keras", "jax")
    differentiated_code_only = True

    def __init__(self, context) -> None:
        super().__init__(context)
        self._quiet = in_test_tree(context.path)

    # The losses ---------------------------------------------------------------------------------

    def visit_Call(self, node: cst.Call) -> None:
        if self._quiet:
            return
        if self.context.names.method(node) == "compile":
            self._compile(node)
            return
        if argument(node, "criterion") is not None:
            self._trainer(node)
        prediction, log_probabilities = self._prediction(node), False
        if prediction is None:
            prediction, log_probabilities = self._log_probability_input(node), True
        if prediction is None or self._callers_checked(prediction):
            return
        value = self.value(prediction)
        if not _probabilities(value) or log_probabilities and "softmax" not in value.probability:
            return
        model_evidence = value.through_call
        what = "the softmax/sigmoid model's output" if model_evidence else _WHAT.get(value.probability)
        if what is None:
            return
        if not_differentiated(self.context):
            return
        self.report(
            prediction,
            self.log_probability_message if log_probabilities else None,
            what=what,
            arg=_short(self.source(prediction)),
            loss=_short(self.source(node.func)),
            severity=Severity.WARNING if model_evidence else None,
        )

    def _callers_checked(self, prediction: cst.BaseExpression) -> bool:
        """`prediction` is the logits parameter of the module function it is in: its callers
        are checked, each where it passes a probability."""
        function = self.context.enclosing(cst.FunctionDef)
        if not isinstance(prediction, cst.Name) or function is None:
            return False
        if self.context.semantic.functions.get(function.name.value) is not function:
            return False
        position = self.context.semantic.logits_parameter(function.name)
        return position is not None and position[1] == prediction.value

    def _prediction(self, node: cst.Call) -> cst.BaseExpression | None:
        """The argument that must hold logits, when `node` is a loss expecting logits."""
        called = self.qualified_names(node.func)
        if called:
            return logits_argument(node, called)  # None for another API
        if isinstance(node.func, (cst.Name, cst.Attribute)):
            # A loss on logits of the project, this module's or imported: `bce_logits(sigmoid(x), y)`,
            # `losses.bce_logits(...)`.
            position = self.context.semantic.logits_parameter(node.func)
            if position is not None:
                return argument(node, position[1], position[0])
        # A loss object called: `nn.CrossEntropyLoss()(p, y)`, `criterion(p, y)`, `self.loss_fn(p, y)`,
        # `criterion.forward(p, y)`: a prediction and a target.
        if len(node.args) < 2:
            return None
        func = node.func
        if self.context.names.method(node) == "forward":
            func = func.value
        if self.context.names.qualified_names(func) or (isinstance(func, cst.Attribute) and not isinstance(func.value, cst.Name)):
            return None  # an API, or a method of a computed value: no loss object to follow
        constructors = [func] if isinstance(func, cst.Call) else self._origins(func)
        if not constructors or not all(isinstance(c, cst.Call) for c in constructors):
            return None
        if all(self.callee(c, LOSS_CLASS) for c in constructors):
            return argument(node, "input", 0)
        if all(self.callee(c, FROM_LOGITS_CLASS) and _from_logits(c) for c in constructors):
            return argument(node, "y_pred", 1)
        return None

    def _log_probability_input(self, node: cst.Call) -> cst.BaseExpression | None:
        """The input of a torch loss that expects log-probabilities: `F.nll_loss(input, y)`,
        `F.kl_div(input, target)`, or an `nn.NLLLoss()` / `nn.KLDivLoss()` object called."""
        if self.callee(node, LOG_PROBABILITY_LOSS):
            return argument(node, "input", 0)
        func = node.func.value if self.context.names.method(node) == "forward" else node.func
        if len(node.args) < 2 or not isinstance(func, (cst.Name, cst.Attribute, cst.Call)) or self.qualified_names(func):
            return None
        constructors = [func] if isinstance(func, cst.Call) else self._origins(func)
        if constructors and all(isinstance(c, cst.Call) and self.qualified_names(c.func) & LOG_PROBABILITY_CLASS
                                for c in constructors):
            return argument(node, "input", 0)
        return None

    def _compile(self, node: cst.Call) -> None:
        """`model.compile(loss=CategoricalCrossentropy(from_logits=True))` on a softmax model, or
        `loss=focal` where the project's `focal(y_true, y_pred)` takes `y_pred` as logits."""
        loss = argument(node, "loss", 1)
        if loss is None:
            return
        again = [given for given in compiled_losses(node) if self._takes_predictions_as_logits(given)]
        constructors = [loss] if isinstance(loss, cst.Call) else self._origins(loss)
        if constructors and all(
            isinstance(c, cst.Call) and self.callee(c, FROM_LOGITS_CLASS) and _from_logits(c) for c in constructors
        ):
            again.append(loss)
        if not again:
            return
        model = node.func.value  # type: ignore[union-attr]
        output = self.value(model).output
        if not _probabilities(output) or not_differentiated(self.context):
            return
        for given in again:
            self._report_model(given, model)

    def _takes_predictions_as_logits(self, loss: cst.BaseExpression) -> bool:
        """A loss function of the project whose second parameter (Keras calls `loss(y_true,
        y_pred)`) it uses as logits."""
        position = self.context.semantic.logits_parameter(loss)
        return position is not None and position[0] == 1

    def _trainer(self, node: cst.Call) -> None:
        """`NeuralNet(MyModule, criterion=nn.CrossEntropyLoss)`: a trainer (skorch and the like)
        given a model that ends in a softmax or sigmoid and a loss class that expects logits."""
        criterion = argument(node, "criterion")
        loss = criterion.func if isinstance(criterion, cst.Call) else criterion
        if not (self.qualified_names(loss) & LOSS_CLASS):
            return
        module = argument(node, "module", 0)
        if module is None:
            return
        value = self.value(module)
        # A module class (its instances' output) or a module instance (its output).
        outputs = [value.output, value.output.output if value.output is not None else None]
        if not any(_probabilities(o) for o in outputs) or not_differentiated(self.context):
            return
        self._report_model(criterion, module)

    def _report_model(self, loss: cst.BaseExpression, model: cst.BaseExpression) -> None:
        """A model that ends in a softmax or sigmoid, trained with `loss`, which applies it again."""
        self.report(
            loss,
            "`{model}` ends in a softmax or sigmoid and `{loss}` applies it again: the gradient shrinks",
            model=_short(self.source(model)),
            loss=_short(self.source(loss)),
            severity=Severity.WARNING,
        )

    def _origins(self, node: cst.BaseExpression) -> list[cst.BaseExpression]:
        return self.context.semantic.origins(node, self.context.scopes) or []


def _from_logits(call: cst.Call) -> bool:
    value = argument(call, "from_logits")
    return value is not None and is_constant(value, True)


def _short(text: str) -> str:
    return text if len(text) <= _ARG_CHARS else text[: _ARG_CHARS - 3] + "..."


def _probabilities(value: Value | None) -> bool:
    """The model's value is a probability (not a sum of exponentials, the other kind it reads)."""
    return value is not None and value.probability in _WHAT

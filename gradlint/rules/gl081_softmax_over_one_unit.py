from __future__ import annotations

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.gradients import in_test_tree, not_differentiated
from gradlint.engine.syntax import argument, number, positional, string
from gradlint.rule import Fix, Rule, Severity

SOFTMAX = api_table("softmax_softmax")
DENSE = api_table("softmax_dense")
SOFTMAX_LAYER = api_table("softmax_softmax_layer")
SEQUENTIAL = api_table("softmax_sequential")

_CALL_CHARS = 48


class SoftmaxOverOneUnit(Rule):
    """
    ## What it does
    Checks for a softmax taken over an axis of size 1:

    - `Dense(1, activation="softmax")` (Keras, `tf.keras`, also `activation=tf.nn.softmax` or
      `keras.activations.softmax`), and Lasagne `DenseLayer(l, num_units=1,
      nonlinearity=softmax)`;
    - a one-output layer followed by a softmax over the last axis in a `Sequential`:
      `nn.Linear(n, 1), nn.Softmax(dim=-1)`, `Dense(1), Softmax()`, `Dense(1),
      Activation("softmax")`, or added in that order (`model.add(Dense(1))`, then
      `model.add(Activation("softmax"))`, also to a container held in `self.model`);
    - a softmax over the last axis of a one-output layer's result, wherever the semantic
      model follows it (names, `self` attributes, the `forward` / `call` of a model of the
      project, helper functions, other modules): `F.softmax(self.fc(h), dim=-1)` with
      `self.fc = nn.Linear(n, 1)`, `torch.softmax(out, -1)`, `out.softmax(-1)`,
      `self.softmax(out)` with `self.softmax = nn.Softmax(dim=-1)`, `tf.nn.softmax(logits)`
      with `logits = Dense(1)(h)`, `Activation("softmax")(logits)`,
      `jax.nn.softmax(nn.Dense(1)(x))`, `F.softmax(net(x), -1)` with a `net` whose last
      layer is `nn.Linear(n, 1)`;
    - a width held in a name counts when every value it may hold is 1 (`n_classes = 1`, then
      `Dense(n_classes, activation="softmax")`).

    ## Why is this bad?
    A softmax normalises over its axis; over one element it is `exp(z) / exp(z) = 1`, whatever
    the input, and its derivative is exactly 0. The layer predicts a constant and no gradient
    reaches the weights below it (ground truth case 9):

    - torch 2.13.0, `Linear(4, 1)` + `softmax(dim=-1)` + `F.binary_cross_entropy`: output
      exactly 1.0, gradient of kernel and bias exactly 0. No warning.
    - TF 2.21.0, raw `tf.nn.softmax` on an `(n, 1)` tensor: exactly 1.0 for 3 rows
      (gradient 0), 0.99999994 for 8 rows (gradient 4.8e-07). No warning.
    - Keras 3.15.1, `Dense(1, activation="softmax")`: `predict()` is 0.99999994 for every
      input. With `mse` the loss stays flat at 0.75 (gradients about 1e-7). Keras 3 warns
      "You are using a softmax over axis -1 of a tensor of shape (8, 1). This axis has size 1.
      The softmax operation will always return the value 1, ..."; `tf_keras` 2.21.0 does not.
      With the built-in `binary_crossentropy` the loss does train, because Keras computes it
      from the logits it caches on the softmax output (`_keras_logits`), yet `predict()` still
      returns the constant 1: the model looks trained and is useless.

    ## Example
    ```python
    model = nn.Sequential(
        nn.Linear(1, 45), nn.ReLU(),
        nn.Linear(45, 45), nn.ReLU(),
        nn.Linear(45, 1),
        nn.Softmax(dim=-1),
    )
    head = keras.layers.Dense(1, activation="softmax")
    ```

    Use instead:
    ```python
    model = nn.Sequential(
        nn.Linear(1, 45), nn.ReLU(),
        nn.Linear(45, 45), nn.ReLU(),
        nn.Linear(45, 1),  # regression: no output activation
    )
    head = keras.layers.Dense(1, activation="sigmoid")  # binary: a sigmoid
    ```

    ## Notes
    Not flagged, on purpose:

    - a softmax over another axis: `nn.Softmax(dim=1)` or `softmax(scores, dim=0)` after a
      one-output layer is attention pooling over the sequence or the batch (weights over
      `(batch, seq, 1)`), a deliberate and correct use. In torch only an explicit `dim=-1`
      is flagged (`dim=1` is the size-1 axis only for 2-D inputs, unknown here).
    - `Dense(k)` with `k > 1`, `Dense(units)` with a width the model cannot read as 1 (a
      parameter no call of the module sets, a setting read from a file), and
      `Dense(1, activation="sigmoid")`.
    - tests, metrics and files under `tests/` or `testing/` folders.

    Known misses: a width computed at run time (`len(classes) - 1`), a one-output layer
    reshaped before the softmax (`.view(-1, 1)`: views drop the width), Theano
    `T.nnet.softmax(T.dot(h, W))` with a `(n, 1)` weight (the shape of `W` is not tracked),
    and layers added to one container from several methods (their order is read as the
    methods' order in the class).

    ## References
    - Stack Overflow, "Fitting a neural network with ReLUs to polynomial functions" (Flux,
      `Chain(..., Dense(45, 1), softmax)`): "It makes no sense to have softmax output
      activation on a regression problem"; the model returned `Float32[1.0]` for every input.
    - Keras source, `keras/src/activations/activations.py` and `keras/src/ops/nn.py`: the
      size-1 softmax warning.
    """

    code = "GL081"
    severity = Severity.ERROR
    message = "`{call}`: a softmax over a size-1 axis is always 1, with zero gradient; use sigmoid or no activation"
    fix_title = "use a sigmoid for the one output (unsafe: a regression output needs no activation instead)"
    fix_safe = False
    frameworks = ("torch", "tensorflow", "keras", "jax", "theano", "lasagne")
    differentiated_code_only = True

    def __init__(self, context) -> None:
        super().__init__(context)
        self._quiet = in_test_tree(context.path)

    def visit_Call(self, node: cst.Call) -> None:
        if self._quiet:
            return
        if self._dense_with_softmax(node):
            self._report(node, _sigmoid_activation(node))
        elif self.callee(node, SEQUENTIAL):
            self._sequential(node)
        elif (added := self.context.semantic.added_after(node, self.context.scopes)) is not None:
            before, layer = added  # `model.add(Dense(1))`, then `model.add(Activation("softmax"))`
            if self._one_unit_layer(before) and self._softmax_layer(layer):
                self._report(layer if isinstance(layer, cst.Call) else node)
        else:
            target = self._softmax_input(node)
            if target is not None and self.value(target).width == 1:
                self._report(node)

    def _report(self, node: cst.Call, fix: Fix | None = None) -> None:
        if not_differentiated(self.context):
            return
        call = self.source(node)
        if len(call) > _CALL_CHARS:
            call = call[: _CALL_CHARS - 3] + "..."
        self.report(node, call=call, fix=fix)

    # Layers, as the semantic model reads them ------------------------------------------------

    def _one_unit_layer(self, node: cst.BaseExpression) -> bool:
        """`nn.Linear(n, 1)`, `Dense(1)`, `nn.Dense(features=1)`, a name holding one."""
        output = self.value(node).output
        return output is not None and output.width == 1

    def _softmax_layer(self, node: cst.BaseExpression) -> bool:
        """A softmax layer over the last axis, or a name or `self` attribute holding only
        such layers: `nn.Softmax(dim=-1)`, `layers.Softmax()`, `Activation("softmax")`."""
        origins = self.context.semantic.origins(node, self.context.scopes) if not isinstance(node, cst.Call) else [node]
        return bool(origins) and all(isinstance(o, cst.Call) and self._last_axis_softmax_layer(o) for o in origins)

    def _last_axis_softmax_layer(self, call: cst.Call) -> bool:
        name = self.callee(call, SOFTMAX_LAYER)
        if name is None:
            return False
        if name == "torch.nn.Softmax":
            return number(argument(call, "dim", 0)) == -1
        if name == "keras.layers.Activation":
            return self._is_softmax_reference(argument(call, "activation", 0))
        axis = argument(call, "axis", 0)
        return axis is None or number(axis) == -1

    def _is_softmax_reference(self, node: cst.BaseExpression | None) -> bool:
        """`"softmax"`, `tf.nn.softmax`, `keras.activations.softmax`, `lasagne.nonlinearities.softmax`."""
        if node is None:
            return False
        if string(node) == "softmax":
            return True
        return bool(self.qualified_names(node) & SOFTMAX)

    def _dense_with_softmax(self, call: cst.Call) -> bool:
        name = self.callee(call, DENSE)
        if name is None or name.startswith("flax.") or not self._one_unit_layer(call):
            return False
        if name.startswith("lasagne."):
            return self._is_softmax_reference(argument(call, "nonlinearity", 2))
        return self._is_softmax_reference(argument(call, "activation", 1))

    # The checks ------------------------------------------------------------------------------

    def _sequential(self, node: cst.Call) -> None:
        layers = positional(node)
        if len(layers) == 1 and isinstance(layers[0], (cst.List, cst.Tuple)):
            layers = [element.value for element in layers[0].elements]
        for before, after in zip(layers, layers[1:]):
            if self._one_unit_layer(before) and self._softmax_layer(after):
                self._report(after if isinstance(after, cst.Call) else node)

    def _softmax_input(self, node: cst.Call) -> cst.BaseExpression | None:
        """What a softmax over the last axis is taken of: `F.softmax(x, dim=-1)` (explicit `-1`
        in torch, `-1` or the default elsewhere), `x.softmax(-1)`, or a softmax layer called on
        it (`self.softmax(x)`, `Activation("softmax")(x)`); None for any other call."""
        names = self.qualified_names(node.func)
        if names & SOFTMAX:
            if any(name.startswith(("theano.", "lasagne.")) for name in names):
                return None
            if any(name.startswith("torch.") for name in names):
                last = number(argument(node, "dim", 1)) == -1
            else:
                axis = argument(node, "axis", 1) or argument(node, "dim", 1)
                last = axis is None or number(axis) == -1
            return argument(node, ("input", "x", "logits"), 0) if last else None
        if names:
            return None
        func = node.func
        if isinstance(func, cst.Attribute) and self.context.names.method(node) == "softmax" and not _is_self(func.value):
            return func.value if number(argument(node, "dim", 0)) == -1 else None
        if isinstance(func, (cst.Name, cst.Attribute, cst.Call)) and self._softmax_layer(func):
            return argument(node, ("input", "inputs", "x"), 0)
        return None


def _is_self(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "self"


def _sigmoid_activation(dense: cst.Call) -> Fix | None:
    """`activation="softmax"` -> `activation="sigmoid"` (the same quotes); `tf.nn.softmax` ->
    `tf.nn.sigmoid`. Unsafe: right for a binary output, wrong for a regression one."""
    activation = argument(dense, "activation", 1)
    if isinstance(activation, cst.SimpleString) and string(activation) == "softmax":
        return Fix(activation, activation.with_changes(value=activation.value.replace("softmax", "sigmoid")))
    if isinstance(activation, cst.Attribute) and activation.attr.value == "softmax":
        return Fix(activation, activation.with_changes(attr=cst.Name("sigmoid")))
    return None

from __future__ import annotations

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.flow import StatementFlow
from gradlint.engine.gradients import is_test_file, name_words, named_like_loss, not_differentiated
from gradlint.engine.names import dotted
from gradlint.engine.syntax import argument, is_constant, own_nodes, positional
from gradlint.rule import Rule, Severity
from gradlint.semantic.losses import compiled_losses

REWRAP = api_table("graph_breaks_rewrap")
REWRAP_LIST = api_table("graph_breaks_rewrap_list")
TO_NUMPY = api_table("graph_breaks_to_numpy")
BUILTINS = api_table("graph_breaks_builtins")
STOP = api_table("graph_breaks_stop")
GRAD_TRANSFORMS = api_table("semantic_grad_transforms")
GRAD_SINKS = api_table("semantic_gradient_sink")
TAPE = api_table("graph_breaks_tape")
NO_GRAD = api_table("graph_breaks_no_grad")
OWN_GRADIENT = api_table("graph_breaks_own_gradient")
AUTOGRAD_FUNCTION = api_table("graph_breaks_autograd_function")
MODEL_CONSTRUCTORS = tuple(api_table("graph_breaks_model_constructors"))
WEIGHTLESS = api_table("graph_breaks_weightless_modules")
SAME_VALUE = api_table("semantic_same_value")
LOSS_CONSTRUCTORS = tuple(api_table("graph_breaks_loss_constructors"))
FRAMEWORKS = ("torch.", "tensorflow.", "keras.", "jax.", "flax.", "optax.", "theano.")
HARD_METHODS = frozenset({"item", "numpy", "tolist"})

# How much gradient an expression carries. BROKEN: it had one, and a break cut it.
CONST, BROKEN, UNKNOWN, LIVE = 0, 1, 2, 3

# Parameters and free names that hold labels, masks or sizes.
LABEL_NAMES = frozenset({
    "y_true", "labels", "label", "targets", "target", "y", "gt", "ground_truth", "y_gt", "truth",
    "sample_weight", "sample_weights", "mask", "masks", "axis", "axes", "dim", "dims", "keepdims",
    "keepdim", "dtype", "num_classes", "n_classes", "shape", "training", "reduction", "name", "epoch", "step",
})
# Parameters of a loss that hold the model's prediction: surely graph tensors.
PREDICTION_NAMES = frozenset({
    "y_pred", "pred", "preds", "prediction", "predictions", "logits", "output", "outputs", "y_hat",
    "yhat", "scores", "out", "recon", "reconstruction", "x_hat", "x_recon",
})
NO_GRAD_ATTRS = frozenset({"shape", "dtype", "ndim", "device", "is_cuda", "requires_grad", "grad", "size"})
CONST_BUILTINS = frozenset({"len", "range", "isinstance", "type", "str", "repr", "bool", "print"})
# Builtins whose result holds their arguments' values.
PASSING_BUILTINS = frozenset({"sum", "abs", "min", "max", "pow", "zip", "enumerate", "reversed", "sorted", "list", "tuple"})
# Literal lists and comprehensions: what a list constructor copies element by element.
_LISTS = (cst.List, cst.Tuple, cst.ListComp, cst.GeneratorExp)
MODEL_TOKENS = frozenset({
    "model", "net", "network", "encoder", "decoder", "generator", "discriminator", "critic", "actor",
    "policy", "classifier", "backbone", "head", "layer", "layers", "module", "fc", "conv", "mlp", "dense",
    "linear", "rnn", "lstm", "gru", "transformer", "embedding", "embed", "disc", "gen", "unet", "vae",
    "autoencoder", "student", "qnet", "dqn", "predictor", "regressor",
})
LOG_PROBABILITY_WORDS = frozenset({"prob", "probs", "probability", "probabilities", "likelihood", "likelihoods"})
# Functions whose first word says they run no training step.
INFERENCE_WORDS = frozenset({
    "predict", "decode", "generate", "sample", "infer", "inference", "eval", "evaluate", "test", "valid",
    "validate", "validation", "plot", "log", "print", "report", "summary", "summarize", "show", "visualize",
})


def _log_probability_named(name: str) -> bool:
    """`log_prob`, `get_logprobs`, `log_likelihood`: what a policy gradient or a likelihood
    loss differentiates."""
    tokens = name_words(name)
    if "logprob" in tokens or "logprobs" in tokens:
        return True
    return any(a == "log" and b in LOG_PROBABILITY_WORDS for a, b in zip(tokens, tokens[1:]))


# What reads a model's trainable weights: `model.weight`, `model.parameters()`.
_WEIGHT_ATTRIBUTES = frozenset({"weight", "bias", "kernel", "trainable_weights", "trainable_variables"})
_WEIGHT_METHODS = frozenset({"parameters", "named_parameters"})


def _model_named(node: cst.BaseExpression) -> bool:
    name = node.attr.value if isinstance(node, cst.Attribute) else node.value if isinstance(node, cst.Name) else ""
    return bool(set(name_words(name)) & MODEL_TOKENS)


class _S:
    """A level, the breaks that made a BROKEN value so, and hard breaks in dead additive terms."""

    __slots__ = ("level", "breaks", "partial")

    def __init__(self, level: int, breaks: tuple = (), partial: tuple = ()) -> None:
        self.level = level
        self.breaks = breaks
        self.partial = partial


_CONST = _S(CONST)
_UNKNOWN = _S(UNKNOWN)
_LIVE = _S(LIVE)


def _union(*groups) -> tuple:
    found: list = []
    for group in groups:
        for item in group:
            if item not in found:
                found.append(item)
    return tuple(found)


def _combine(statuses, additive: bool = False) -> _S:
    """Operands combined: `additive` for `+`/`-`, where a broken term beside a live one is dead;
    elsewhere (products, calls, tuples) a broken operand beside a live one is a weight or a target."""
    statuses = list(statuses)
    if not statuses:
        return _CONST
    level = max(status.level for status in statuses)
    partial = _union(*(status.partial for status in statuses))
    if level == BROKEN:
        return _S(BROKEN, _union(*(s.breaks for s in statuses if s.level == BROKEN)), partial)
    if additive and level > BROKEN:
        dead = [b for s in statuses if s.level == BROKEN for b in s.breaks if b[2] and b[3]]
        partial = _union(partial, dead)
    if not partial:
        return _CONST if level == CONST else _UNKNOWN if level == UNKNOWN else _LIVE
    return _S(level, (), partial)


class GraphBreakInLoss(Rule):
    """
    ## What it does
    Checks for a value taken off the autodiff graph inside the computation of something that
    is differentiated: `.item()`, `.numpy()`, `.tolist()`, `float(t)` / `int(t)` of a tensor,
    `torch.tensor(t)` of a tensor, a list of tensors copied into a new one
    (`torch.Tensor([score(a, b) for a, b in zip(x, y)])`: use `torch.stack`), a NumPy
    function applied to a tensor (`np.mean(pred)`, `np.exp(logits)`, `np.asarray(w)`),
    `keras.ops.convert_to_numpy`, `jax.device_get`, and `.detach()` of the prediction itself.
    Differentiated values are: the value given to `.backward()`, Lightning's
    `manual_backward`, `tape.gradient(target, ...)`, `torch.autograd.grad`, `tf.gradients` or
    `add_loss`; the value returned by a loss (a function named like a loss, a `keras.losses.Loss`
    or `*Loss` module's `call`/`forward`, a function given as `loss=` to `compile`, a function
    given to or decorated with `jax.grad` / `value_and_grad`) or by a function named like
    log-probabilities (`log_prob`, `get_logprobs`, `log_likelihood`: what a policy-gradient or
    likelihood loss differentiates); and the output of a layer's `forward` / `call`. The flow is
    followed through local variables and comprehensions inside one function; a module without
    weights (`nn.LogSoftmax()`, `nn.ReLU()`) passes on what its input carries.

    In a GAN, a generator loss (`G_loss`, `err_g_lat`, `loss_gen`) computed from the
    discriminator's score of a *detached* generator output (`netD(fake.detach())`) sends the
    generator nothing: the detach belongs to the discriminator step only. The generator's
    output is the result of calling a network named like a generator (`netG`, `self.g`,
    `generator`); `self.fake` and other attributes are followed within the method.

    ## Why is this bad?
    The converted value is a constant to autodiff: everything computed from it trains nothing.
    When the whole loss goes through the break, nothing trains at all; when one additive term
    does, that term silently contributes no gradient.
    Measured: torch 2.13.0 warns "To copy construct from a tensor, it is recommended to use
    sourceTensor.detach().clone() or sourceTensor.detach().clone().requires_grad_(True),
    rather than torch.tensor(sourceTensor)" and `loss.backward()` then raises "element 0 of
    tensors does not require grad and does not have a grad_fn"; with
    `torch.tensor(loss.item(), requires_grad=True)` backward runs and every weight's `.grad`
    stays `None`. `.numpy()` on a tensor that requires grad raises "Can't call numpy() on
    Tensor that requires grad. Use tensor.detach().numpy() instead.", which users obey, and
    `float(t)` warns "Converting a tensor with requires_grad=True to a scalar may lead to
    unexpected behavior". TensorFlow 2.21.0's `tape.gradient` returns `None` for a loss
    built from `.numpy()` or from `np.square(pred)`; a Keras 3.15.1 `compile` loss calling
    `.numpy()` fails with "'SymbolicTensor' object has no attribute 'numpy'", and with
    `run_eagerly=True` with "No gradients provided for any variable". In JAX 0.10.2 the bug
    is a crash: under `jax.grad`, `float(x)` raises `ConcretizationTypeError` ("Abstract
    tracer value encountered where concrete value is expected") and `np.asarray(x)` /
    `np.exp(x)` raise `TracerArrayConversionError` ("The numpy.ndarray conversion method
    __array__() was called on traced array"); `.item()` gives zero gradients, or the
    `ConcretizationTypeError` under `jit`.

    ## Example
    ```python
    def train_step(model, optimizer, x, y):
        pred = model(x)
        loss = torch.tensor(np.mean((pred.detach().numpy() - y.numpy()) ** 2), requires_grad=True)
        optimizer.zero_grad()
        loss.backward()  # runs, but no weight gets a gradient
        optimizer.step()
    ```

    Use instead:
    ```python
    def train_step(model, optimizer, x, y):
        pred = model(x)
        loss = torch.mean((pred - y) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    ```

    ## Notes
    Quiet for values used only for logging, metrics or conditions (`running_loss +=
    loss.item()`, `print(loss.item())`, `if loss.item() < best:`), for anything computed after
    the gradient request, for a broken value used as a factor or a target beside a live one
    (`loss / loss.detach()`, `mse(q, reward + gamma * target_net(s).detach())`, `x + (q -
    x).detach()`: straight-through estimators, DQN and distillation targets, BYOL/SimSiam
    stop-gradients), for `stop_gradient`, and in tests, metrics, `no_grad` /
    `inference_mode` code, `torch.autograd.Function` subclasses and functions with their own
    gradient (`tf.custom_gradient`, `jax.custom_vjp`). `.detach()` is reported only when the
    whole loss depends on it alone, never as a partial term, and never in a layer's output (a
    frozen feature extractor detaches on purpose). `torch.as_tensor(t)`,
    `torch.FloatTensor(t)` and `tf.constant(t)` of a tensor keep the graph in torch 2.13.0 and
    TensorFlow 2.21.0 (eager) and are not reported. A NumPy call or `float()` is reported only
    on a value known to be a graph tensor (a model's output, a model's weights such as
    `model.weight` or `model.parameters()`, a loss's prediction argument, a `jax.grad`
    argument); `.item()`, `.numpy()`, `.tolist()` are evidence of a tensor themselves; a
    dead additive term is reported when it came from a graph tensor (a weight penalty
    `lam * sum(p.pow(2).sum().item() for p in model.parameters())`). Checked with torch 2.13.0, TensorFlow 2.21.0, Keras 3.15.1 and JAX 0.10.2.

    A call of a function of the module whose every return leaves the graph
    (`def penalty(out): return torch.tensor(out.abs().sum().item())`) is a break itself.

    Misses: breaks inside helpers of other modules or methods, losses assembled across
    functions or in attributes (`self.loss = ...`), values that are broken on one branch only,
    a break in a term multiplied by a live value, and generator losses whose names do not say
    so.

    ## Severity
    Error when the whole differentiated value goes through the break (nothing trains at all);
    warning when one additive term does (that term silently contributes no gradient).

    ## References
    - PyTorch autograd mechanics: "Locally disabling gradient computation", `Tensor.detach`.
    - TensorFlow guide "Introduction to gradients and automatic differentiation": cases where
      `gradient` returns `None` (taking gradients through NumPy / a stateful object).
    - JAX errors: `ConcretizationTypeError`, `TracerArrayConversionError`.
    """

    code = "GL091"
    severity = Severity.ERROR
    other_severities = (Severity.WARNING,)  # see ## Severity
    message = "`{op}` leaves the autodiff graph and {target} depends on it alone: {effect}"
    partial_message = "`{op}` leaves the autodiff graph: its term in {target} gets no gradient; keep it a tensor"
    generator_message = (
        "`{op}` cuts the generator's output before the discriminator scores it: {target}, a generator "
        "loss, sends the generator no gradient through it"
    )
    frameworks = ("torch", "tensorflow", "keras", "jax")

    def __init__(self, context) -> None:
        super().__init__(context)
        self.test_file = is_test_file(context.filename)
        self.has_break: set[int] = set()  # functions (id) holding a break candidate; 0: module level
        self.has_sink: set[int] = set()
        # statement id -> gradient requests in it: (kind, call, how to name the target)
        self.sinks: dict[int, list[tuple[str, cst.Call, str]]] = {}
        self.tapes: set[str] = set()  # names bound by `with tf.GradientTape() as tape`
        # function name -> (how to name it, parameters differentiated or None, jax?)
        self.grad_targets: dict[str, tuple[str, frozenset[int] | None, bool]] = {}
        self.pending: dict[str, list[tuple[cst.FunctionDef, str | None, str]]] = {}
        self.models: set[str] = set()  # names bound to a model or layer instance
        self.loss_objects: set[str] = set()  # names bound to a loss object
        self.weightless: set[str] = set()  # names bound to a module without weights (`nn.LogSoftmax()`)
        self.reported: set[int] = set()
        self._helper_cuts: dict[str, bool] = {}

    # The walk ---------------------------------------------------------------------------

    def _scope_id(self) -> int:
        function = self.context.enclosing(cst.FunctionDef)
        return id(function) if function is not None else 0

    def visit_With(self, node: cst.With) -> None:
        for item in node.items:
            call = item.item
            if isinstance(call, cst.Call) and item.asname is not None and self.callee(call, TAPE):
                if isinstance(item.asname.name, cst.Name):
                    self.tapes.add(item.asname.name.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        if not isinstance(value, cst.Call):
            return
        for name in self.qualified_names(value.func):
            table = None
            if name.startswith(LOSS_CONSTRUCTORS) or (name.startswith("torch.nn.") and name.endswith("Loss")):
                table = self.loss_objects
            elif name in WEIGHTLESS:
                table = self.weightless
            elif name.startswith(MODEL_CONSTRUCTORS):
                table = self.models
            if table is not None:
                self._bind_all(node, table)
                return
        semantic = self.context.semantic
        ref = semantic.class_ref(value.func)
        if ref is not None and semantic.layer_framework(ref) is not None:  # the project's own layer class
            self._bind_all(node, self.models)

    @staticmethod
    def _bind_all(node: cst.Assign, table: set[str]) -> None:
        for target in node.targets:
            key = _binding_key(target.target)
            if key is not None:
                table.add(key)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        names = self.qualified_names(func)
        if names:
            for name in names:
                if name in REWRAP or name in REWRAP_LIST or name in TO_NUMPY or name.startswith("numpy."):
                    self.has_break.add(self._scope_id())
                elif name in GRAD_SINKS:
                    self._add_sink("grad", node, f"the value given to `{self.source(func)}`")
                elif name in GRAD_TRANSFORMS:
                    self._grad_target(argument(node, "fun", 0), f"{{name}} differentiated by `{self.source(func)}`",
                                      _argnums(node), jax=name.startswith("jax."))
            return
        if isinstance(func, cst.Name):
            if func.value in BUILTINS.methods or (
                func.value in self.context.semantic.functions and self.helper_cuts(func.value)
            ):
                self.has_break.add(self._scope_id())
            return
        method = self.context.names.method(node)
        if method is None:
            return
        if method in TO_NUMPY.methods:
            self.has_break.add(self._scope_id())
        elif method == "backward":
            self._add_sink("backward", node, "the value given to `.backward()`")
        elif method == "gradient" and len(node.args) >= 2:
            receiver = func.value
            if isinstance(receiver, cst.Name) and receiver.value in self.tapes:
                self._add_sink("grad", node, f"the target of `{self.source(func)}`")
        elif method == "manual_backward" and node.args:  # Lightning
            self._add_sink("grad", node, "the value given to `manual_backward`")
        elif method == "add_loss" and node.args:
            self._add_sink("grad", node, "the value given to `add_loss`")
        elif method == "compile":
            for value in compiled_losses(node):
                self._grad_target(value, "{name} given as loss to `compile`", frozenset({1}))

    def _add_sink(self, kind: str, node: cst.Call, target: str) -> None:
        statement = self.context.current_statement()
        if statement is not None:
            self.sinks.setdefault(id(statement), []).append((kind, node, target))
            self.has_sink.add(self._scope_id())

    def _grad_target(self, value, target: str, argnums: frozenset[int] | None, jax: bool = False) -> None:
        if isinstance(value, cst.Name):
            self.grad_targets.setdefault(value.value, (target, argnums, jax))
        elif isinstance(value, cst.Attribute) and _is_self(value.value):
            self.grad_targets.setdefault(value.attr.value, (target, argnums, jax))

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        key = id(node)
        if key not in self.has_break:
            return
        if self.test_file or self._excluded():
            return
        self._report_generator_terms(node)
        kind, target, argnums, jax = self._target(node)
        if kind in (None, "named"):
            # A later `compile(loss=...)` or `jax.grad(...)` may name it: decided at the module's end.
            self.pending.setdefault(node.name.value, []).append((node, kind, target))
            if key not in self.has_sink:
                return
        flow = self._analyze(node, kind, argnums)
        if flow is None:
            return
        self._report_sinks(flow)
        if kind not in (None, "named"):
            self._report_returns(flow, target, kind == "layer", jax)

    def _report_generator_terms(self, node: cst.FunctionDef) -> None:
        flow = _GeneratorFlow(self)
        body = node.body
        try:
            flow.run_block(list(body.body) if isinstance(body, cst.IndentedBlock) else [body])
        except RecursionError:
            return
        for cut, statement, loss in flow.cut_terms:
            self._emit(cut, statement, self.generator_message, Severity.WARNING, target=f"`{loss}`")

    def leave_Module(self, node: cst.Module) -> None:
        if self.test_file:
            return
        if 0 in self.has_break and 0 in self.has_sink:
            flow = _Flow(self, "script")
            try:
                flow.run_block(node.body)
            except RecursionError:
                flow.sink_hits = []
            self._report_sinks(flow)
        for name, functions in self.pending.items():
            for function, kind, target in functions:
                argnums, jax = None, False
                if name in self.grad_targets:
                    target, argnums, jax = self.grad_targets[name]
                    target, kind = target.format(name=f"`{name}`"), "jax" if jax else "loss"
                if kind is None:
                    continue
                flow = self._analyze(function, kind, argnums)
                if flow is not None:
                    self._report_returns(flow, target, False, jax)

    def _analyze(self, node: cst.FunctionDef, kind: str | None, argnums) -> _Flow | None:
        flow = _Flow(self, kind)
        flow.bind_params(node.params, kind, argnums)
        body = node.body
        try:
            flow.run_block(list(body.body) if isinstance(body, cst.IndentedBlock) else [body])
        except RecursionError:
            return None
        return flow

    def helper_cuts(self, name: str) -> bool:
        """Whether the module's function `name` returns only values taken off the graph
        (`return torch.tensor(out.abs().sum().item())`): calling it is a break itself."""
        found = self._helper_cuts.get(name)
        if found is None:
            self._helper_cuts[name] = False  # a recursive helper reads as no break
            function = self.context.semantic.functions.get(name)
            flow = self._analyze(function, None, None) if function is not None else None
            # A NumPy call on a parameter is no break: the helper may be NumPy code throughout.
            returns = [self._without_numpy_calls(status) for status in flow.returns] if flow is not None else []
            found = bool(returns) and all(
                status.level == BROKEN and any(hard for _, _, hard, _ in status.breaks) for status in returns
            )
            self._helper_cuts[name] = found
        return found

    # Reports ----------------------------------------------------------------------------

    def _report_sinks(self, flow: _Flow) -> None:
        for status, target in flow.sink_hits:
            self._report(status, target, layer=False, jax=False)

    def _report_returns(self, flow: _Flow, target: str, layer: bool, jax: bool) -> None:
        returns = flow.returns
        if not returns:
            return
        if flow.kind == "named":
            # Only its name says it is differentiated: NumPy calls there are a NumPy
            # implementation of the loss (a backend, a test reference), not a break.
            returns = [self._without_numpy_calls(status) for status in returns]
        if all(status.level <= BROKEN for status in returns):
            broken = _union(*(status.breaks for status in returns if status.level == BROKEN))
            partial = _union(*(status.partial for status in returns))
            self._report(_S(BROKEN, broken, partial), target, layer, jax)
        else:
            partial = _union(*(status.partial for status in returns))
            self._report(_S(LIVE, (), partial), target, layer, jax)

    def _without_numpy_calls(self, status: _S) -> _S:
        def keep(record) -> bool:
            return not any(n.startswith("numpy.") for n in self.qualified_names(record[0].func))

        partial = tuple(r for r in status.partial if keep(r))
        if status.level != BROKEN:
            return _S(status.level, (), partial)
        breaks = tuple(r for r in status.breaks if keep(r))
        return _S(BROKEN, breaks, partial) if breaks else _S(CONST, (), partial)

    def _report(self, status: _S, target: str, layer: bool, jax: bool) -> None:
        if jax:
            effect = "`jax.grad` raises a tracer error or gives zeros"
        elif layer:
            effect = "no gradient flows back"
        else:
            effect = "no gradient reaches the model"
        if status.level == BROKEN:
            for call, statement, hard, strong in status.breaks:
                if layer and not (hard and strong):
                    continue
                self._emit(call, statement, self.message, target=target, effect=effect)
        for call, statement, _, _ in status.partial:
            self._emit(call, statement, self.partial_message, Severity.WARNING, target=target)

    def _emit(self, call, statement, message: str, severity: Severity | None = None, **fields) -> None:
        if id(call) in self.reported:
            return
        self.reported.add(id(call))
        text = self.source(call)
        if len(text) > 40:
            text = f"{self.source(call.func)}(...)"
        self.report(call, message, statement=statement, severity=severity, op=text, **fields)

    # Which functions are differentiated -------------------------------------------------

    def _excluded(self) -> bool:
        if not_differentiated(self.context):
            return True
        for scope in self.context.scopes:
            if isinstance(scope, cst.FunctionDef):
                words = name_words(scope.name.value)
                if words and words[0] in INFERENCE_WORDS:
                    return True
                for decorator in scope.decorators:
                    expr = decorator.decorator
                    func = expr.func if isinstance(expr, cst.Call) else expr
                    if self.qualified_names(func) & OWN_GRADIENT:
                        return True
                    wrapped = expr.args[0].value if isinstance(expr, cst.Call) and expr.args else None
                    if wrapped is not None and self.qualified_names(wrapped) & OWN_GRADIENT:
                        return True
            elif isinstance(scope, cst.ClassDef):
                for base in scope.bases:
                    if self.qualified_names(base.value) & AUTOGRAD_FUNCTION:
                        return True
                    text = self.source(base.value).rsplit(".", 1)[-1]
                    if text.endswith("Function") or text.endswith("Metric"):
                        return True
        return False

    def _target(self, node: cst.FunctionDef) -> tuple[str | None, str, frozenset[int] | None, bool]:
        """(kind, how to name it, differentiated parameters, under jax.grad)."""
        name = node.name.value
        for decorator in node.decorators:
            expr = decorator.decorator
            if self.qualified_names(expr) & GRAD_TRANSFORMS:
                jax = any(n.startswith("jax.") for n in self.qualified_names(expr))
                return "jax" if jax else "loss", f"`{name}` differentiated by `{self.source(expr)}`", frozenset({0}), jax
            if isinstance(expr, cst.Call) and self.callee(expr, GRAD_TRANSFORMS):
                jax = any(n.startswith("jax.") for n in self.qualified_names(expr.func))
                target = f"`{name}` differentiated by `{self.source(expr.func)}`"
                return "jax" if jax else "loss", target, _argnums(expr), jax
        scopes = self.context.scopes
        parent = scopes[-2] if len(scopes) >= 2 else None
        if isinstance(parent, cst.ClassDef):
            owner = parent.name.value
            bases = [n for base in parent.bases for n in self.qualified_names(base.value)]
            is_loss = named_like_loss(owner) or any(n.startswith("keras.losses.") for n in bases)
            if is_loss and name in ("call", "__call__", "forward"):
                return "loss", f"the loss `{owner}.{name}`", None, False
            if name in ("forward", "call") and parent.bases:
                return "layer", f"the output of `{owner}.{name}`", None, False
            if name in ("train_step", "compute_loss", "training_step") and not _requests_gradients(node):
                # A step that runs backward itself returns its loss for logging (HF `Trainer`).
                return "loss", f"the loss of `{owner}.{name}`", None, False
        if named_like_loss(name):
            return "named", f"the loss `{name}`", None, False
        if _log_probability_named(name):
            return "named", f"the log-probabilities returned by `{name}`", None, False
        return None, "", None, False


_GRADIENT_REQUESTS = frozenset({"backward", "manual_backward", "gradient", "apply_gradients"})


def _requests_gradients(function: cst.FunctionDef) -> bool:
    """Whether the function computes gradients itself: `loss.backward()`,
    `self.accelerator.backward(loss)`, `tape.gradient(...)`, a `*_backward(...)` helper."""
    for node in own_nodes(function.body):
        if isinstance(node, cst.Call):
            func = node.func
            name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
            if name in _GRADIENT_REQUESTS or name.endswith("_backward"):
                return True
    return False


def _binding_key(target: cst.BaseExpression) -> str | None:
    if isinstance(target, cst.Name):
        return target.value
    if isinstance(target, cst.Attribute) and _is_self(target.value):
        return "self." + target.attr.value
    return None


def _is_self(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "self"


def _argnums(call: cst.Call) -> frozenset[int] | None:
    value = argument(call, "argnums", 1)
    if value is None:
        return frozenset({0})
    elements = [e.value for e in value.elements] if isinstance(value, (cst.Tuple, cst.List)) else [value]
    if all(isinstance(e, cst.Integer) for e in elements):
        return frozenset(int(e.value) for e in elements)
    return None


class _Flow(StatementFlow[_S]):
    """Forward data flow over one function's statements: what each local name carries."""

    constant = _CONST
    unknown = _UNKNOWN
    no_grad_attrs = NO_GRAD_ATTRS

    def __init__(self, rule: GraphBreakInLoss, kind: str | None) -> None:
        super().__init__(rule, rule.sinks)
        self.rule: GraphBreakInLoss = rule
        self.kind = kind
        self.returns: list[_S] = []
        self.sink_hits: list[tuple[_S, str]] = []

    def eval(self, node: cst.BaseExpression) -> _S:
        if isinstance(node, cst.Attribute) and node.attr.value in _WEIGHT_ATTRIBUTES and self._model(node.value):
            return _LIVE  # `model.weight`: a trainable weight
        return super().eval(node)

    def _model(self, node: cst.BaseExpression) -> bool:
        """Whether `node` names a model or layer: by its name, or bound to one here."""
        return _model_named(node) or (dotted(node) or "") in self.rule.models

    def bind_params(self, params: cst.Parameters, kind: str | None, argnums) -> None:
        ordered = [*params.posonly_params, *params.params]
        every = [*ordered, *params.kwonly_params]
        for extra in (params.star_arg, params.star_kwarg):
            if isinstance(extra, cst.Param):
                every.append(extra)
        offset = 1 if ordered and ordered[0].name.value in ("self", "cls") else 0
        for index, param in enumerate(every):
            name = param.name.value
            literal = param.default is not None and not isinstance(param.default, (cst.Name, cst.Attribute))
            if name in LABEL_NAMES or literal or (offset and index == 0):
                status = _CONST if name not in ("self", "cls") else _UNKNOWN
            elif argnums is not None and kind in ("jax", "loss"):
                position = index - offset
                status = _LIVE if index < len(ordered) and position in argnums else _CONST
            elif kind in ("loss", "named") and name in PREDICTION_NAMES:
                status = _LIVE
            else:
                status = _UNKNOWN
            self.env[name] = status

    # Statements -------------------------------------------------------------------------

    def merge(self, before: _S, status: _S) -> _S:
        if before.level == BROKEN and status.level == BROKEN:
            return _combine((before, status))
        # broken on one path only: not reported
        level = max(before.level, status.level)
        return _S(level if level != BROKEN else CONST, (), _union(before.partial, status.partial))

    def is_no_grad(self, expr: cst.BaseExpression) -> bool:
        if isinstance(expr, cst.Call):
            if "torch.set_grad_enabled" in self.rule.qualified_names(expr.func):
                return bool(expr.args) and is_constant(expr.args[0].value, False)
            expr = expr.func
        return bool(self.rule.qualified_names(expr) & NO_GRAD)

    def on_return(self, value: cst.BaseExpression) -> None:
        if isinstance(value, cst.Tuple) and value.elements and not isinstance(value.elements[0], cst.StarredElement):
            value = value.elements[0].value  # `return loss, logs`: the loss is differentiated
        status = self.eval(value)
        if self.kind == "named" and status.level == BROKEN and self._reports_number(value):
            return  # `return loss.item()`: a function named like a loss that reports a number
        self.returns.append(status)

    def bind_loop(self, target: cst.BaseExpression, iterable: cst.BaseExpression) -> None:
        self.bind(target, self.unpacked(self.eval(iterable)), None, loop=True)

    def bind_name(self, name: str, status: _S, value: cst.BaseExpression | None, loop: bool) -> None:
        if name in LABEL_NAMES and status.level < LIVE:
            status = _CONST  # `for x, y in loader`, `target = r + gamma * q_next.detach()`
        self.env[name] = status

    def unpacked(self, status: _S) -> _S:
        return _S(status.level if status.level != BROKEN else CONST)

    def _reports_number(self, value: cst.BaseExpression) -> bool:
        if not isinstance(value, cst.Call):
            return False
        if isinstance(value.func, cst.Name):
            return value.func.value in BUILTINS.methods
        return self.names.method(value) in TO_NUMPY.methods

    def sink_argument(self, call: cst.Call) -> cst.BaseExpression | None:
        value = argument(call, "target", 0)
        if value is None:
            value = argument(call, "outputs", 0) or argument(call, "ys", 0) or argument(call, "tensors", 0)
        return value

    def on_sink(self, status: _S, target: str) -> None:
        if status.level == BROKEN or status.partial:
            self.sink_hits.append((status, target))

    # Expressions ------------------------------------------------------------------------

    def combine(self, statuses, operator: cst.CSTNode | None = None) -> _S:
        additive = isinstance(operator, (cst.Add, cst.Subtract, cst.AddAssign, cst.SubtractAssign))
        return _combine(statuses, additive)

    def free_name(self, node: cst.Name) -> _S:
        if node.value in ("True", "False", "None") or node.value in LABEL_NAMES:
            return _CONST
        if node.value in self.rule.models:
            return _UNKNOWN
        return _CONST if self.names.is_module(node) else _UNKNOWN

    def eval_other(self, node: cst.BaseExpression) -> _S:
        return _CONST if isinstance(node, (cst.Comparison, cst.Lambda)) else _UNKNOWN

    def _break(self, call: cst.Call, source: _S, hard: bool) -> _S:
        """The result of a break applied to `source`: cut when it may have carried a gradient.

        A record is (call, statement, hard, strong): `hard` for a conversion (not `.detach()`),
        `strong` when the value was surely a graph tensor. Only hard and strong breaks are
        reported as a dead term or in a layer's output; any break is when the loss is all broken."""
        if source.level == BROKEN:
            if hard and not any(b[2] for b in source.breaks):  # `.detach().numpy()`: the numpy is the break
                strong = any(b[3] for b in source.breaks)
                return _S(BROKEN, ((call, self.statement, True, strong),), source.partial)
            return source
        if source.level >= UNKNOWN:
            return _S(BROKEN, ((call, self.statement, hard, source.level == LIVE),), source.partial)
        return _S(CONST, (), source.partial) if source.partial else _CONST

    def _args(self, call: cst.Call) -> _S:
        statuses = []
        for arg in call.args:
            if arg.star:
                return _UNKNOWN
            if arg.keyword is not None and arg.keyword.value in LABEL_NAMES:
                continue
            statuses.append(self.eval(arg.value))
        return _combine(statuses)

    def eval_call(self, call: cst.Call) -> _S:
        func = call.func
        names = self.rule.qualified_names(func)
        if names:
            if names & STOP:
                return _CONST
            values = positional(call)
            if names & REWRAP or names & TO_NUMPY or (names & REWRAP_LIST and values and isinstance(values[0], _LISTS)):
                source = self.eval(values[0]) if values else _CONST
                result = self._break(call, source, True)
                if result.level == CONST and _requires_grad(call):
                    return _LIVE  # a fresh trainable leaf
                return result
            if any(name.startswith("numpy.") for name in names):
                return self._break(call, self._args(call), True)
            if any(name.startswith(FRAMEWORKS) for name in names):
                if _requires_grad(call):
                    return _LIVE
                return self._args(call)
            if any(name.startswith(MODEL_CONSTRUCTORS) for name in names):
                return _UNKNOWN
            return _UNKNOWN
        if isinstance(func, cst.Name):
            name = func.value
            if name in BUILTINS.methods and name not in self.env:
                values = positional(call)
                source = self.eval(values[0]) if len(values) == 1 else _CONST
                return self._break(call, source, True)
            if name in CONST_BUILTINS and name not in self.env:
                return _CONST
            if name in PASSING_BUILTINS and name not in self.env:
                return self._args(call)
            if name in self.rule.loss_objects or named_like_loss(name):
                return self._args(call)
            if name not in self.env and self.rule.helper_cuts(name):
                return self._break(call, self._args(call), True)
            return self._model_call(call)
        if isinstance(func, cst.Call):  # nn.MSELoss()(pred, y), model(x) of a constructor
            if any(n.startswith(LOSS_CONSTRUCTORS) or n.endswith("Loss") for n in self.rule.qualified_names(func.func)):
                return self._args(call)
            return self._model_call(call)
        if not isinstance(func, cst.Attribute):
            return _UNKNOWN
        method = func.attr.value
        if _is_self(func.value):
            key = "self." + method
            if key in self.rule.loss_objects or named_like_loss(method):
                return self._args(call)
            return self._model_call(call)
        receiver = self.eval(func.value)
        if method in TO_NUMPY.methods:
            if call.args and method != "item":  # `np.ndarray.tolist` takes none; `x.numpy(force=True)` keeps
                if any(arg.keyword is None for arg in call.args):
                    return _UNKNOWN
            return self._break(call, receiver, method in HARD_METHODS)
        if method in ("requires_grad_",) or method in _WEIGHT_METHODS and self._model(func.value):
            return _LIVE  # `model.parameters()`: its trainable weights
        if method in SAME_VALUE.methods:  # `x.gather(-1, index)`, `x.to(device)`: the receiver's values
            return receiver
        if isinstance(func.value, cst.Name) and func.value.value in self.rule.loss_objects:
            return self._args(call)
        return _combine((receiver, self._args(call)))

    def _model_call(self, call: cst.Call) -> _S:
        """A call of something that is not a framework function: a model gives a graph tensor."""
        func = call.func
        args = self._args(call)
        if (dotted(func) or "") in self.rule.weightless:
            return args
        model = self._model(func)
        if isinstance(func, cst.Attribute) and _is_self(func.value):
            model = model or ("self." + func.attr.value) in self.rule.models or self.kind == "layer"
        if model and call.args:
            return _LIVE
        if args.level == LIVE:
            return _LIVE
        return _UNKNOWN if not args.partial else _S(UNKNOWN, (), args.partial)


def _requires_grad(call: cst.Call) -> bool:
    value = argument(call, "requires_grad")
    return value is not None and not is_constant(value, False)


# A generator network (`netG`, `self.generator`, `self.g`) and a generator's loss (`G_loss`,
# `err_g_lat`, `gen_loss`), by the words of their names.
GENERATOR_WORDS = frozenset({"generator", "gen", "netg", "gnet"})
GENERATOR_LOSS_WORDS = frozenset({"loss", "err", "error", "cost"})
# How a value depends on a generator's output: not at all, only through a cut, or live.
NONE, CUT, GENERATED = 0, 1, 2


def _generator_named(name: str) -> bool:
    tokens = set(name_words(name))
    return bool(tokens & GENERATOR_WORDS) or ("g" in tokens and tokens <= {"g", "net", "model"})


def _generator_loss_named(name: str) -> bool:
    tokens = set(name_words(name))
    return bool(tokens & GENERATOR_LOSS_WORDS) and bool(tokens & (GENERATOR_WORDS | {"g"}))


class _G:
    """How a value depends on a generator's output; `cut` is the `.detach()` that cut it,
    `scored` whether the cut value then went through a network or a loss (not just logging)."""

    __slots__ = ("level", "cut", "scored")

    def __init__(self, level: int, cut: cst.Call | None = None, scored: bool = False) -> None:
        self.level = level
        self.cut = cut
        self.scored = scored


_G_NONE = _G(NONE)


def _g_combine(statuses) -> _G:
    statuses = list(statuses)
    level = max((status.level for status in statuses), default=NONE)
    if level != CUT:
        return _G_NONE if level == NONE else _G(GENERATED)
    cut = next(status for status in statuses if status.level == CUT)
    return _G(CUT, cut.cut, any(status.scored for status in statuses if status.level == CUT))


class _GeneratorFlow(StatementFlow[_G]):
    """A GAN's generator step read statement by statement: a generator loss (`G_loss`) whose
    every path to the generator's output goes through `.detach()` and then a network (the
    discriminator scoring a detached fake) gives the generator nothing. Attributes of `self`
    are followed like names, since GAN trainers keep `self.fake` between their steps."""

    constant = _G_NONE
    unknown = _G_NONE

    def __init__(self, rule: GraphBreakInLoss) -> None:
        super().__init__(rule, {})
        self.rule: GraphBreakInLoss = rule
        self.cut_terms: list[tuple[cst.Call, cst.CSTNode, str]] = []

    def combine(self, statuses, operator: cst.CSTNode | None = None) -> _G:
        return _g_combine(statuses)

    def merge(self, before: _G, status: _G) -> _G:
        # A loss cut on one path only is not reported.
        return _G_NONE if NONE in (before.level, status.level) else _g_combine((before, status))

    def unpacked(self, status: _G) -> _G:
        return status

    def eval(self, node: cst.BaseExpression) -> _G:
        key = _binding_key(node) if isinstance(node, cst.Attribute) else None
        if key is not None and key in self.env:
            return self.env[key]
        return super().eval(node)

    def bind_name(self, name: str, status: _G, value: cst.BaseExpression | None, loop: bool) -> None:
        self.env[name] = status
        self._check(name, status)

    def bind_item(self, target: cst.BaseExpression, status: _G) -> None:
        key = _binding_key(target)
        if key is not None:
            self.env[key] = status
            self._check(key, status)

    def _check(self, key: str, status: _G) -> None:
        """A generator loss bound to a value whose generator part was all cut."""
        name = key.rsplit(".", 1)[-1]
        if status.level == CUT and status.scored and _generator_loss_named(name) and self.statement is not None:
            self.cut_terms.append((status.cut, self.statement, key))

    def eval_call(self, call: cst.Call) -> _G:
        func = call.func
        args = _g_combine(self.eval(arg.value) for arg in call.args)
        if isinstance(func, cst.Attribute) and func.attr.value == "detach" and not call.args:
            receiver = self.eval(func.value)
            return _G(CUT, call) if receiver.level == GENERATED else receiver
        # A network or a loss of the project: `netD(x)`, `self.netD(x)`, `criterion(p, y)`;
        # not a framework function, nor a tensor method (`.cpu()`, `.mean()`).
        called = func.value if isinstance(func, cst.Name) else func.attr.value if (
            isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)) else None
        if called is not None and not self.rule.qualified_names(func):
            if _generator_named(called):
                return _G(GENERATED)
            if args.level == CUT:
                return _G(CUT, args.cut, True)  # the discriminator scores the cut value
        if isinstance(func, cst.Attribute):
            return _g_combine((self.eval(func.value), args))
        return args

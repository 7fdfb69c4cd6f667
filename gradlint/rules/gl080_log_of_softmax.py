from __future__ import annotations


import libcst as cst

from gradlint.data import api_table
from gradlint.engine.gradients import STOP_GRADIENT, in_test_tree, not_differentiated
from gradlint.engine.syntax import argument, bare
from gradlint.rule import Fix, NodeCode, Rule, Severity
from gradlint.semantic.model import (
    EXP_LOG_SOFTMAX,
    HANDWRITTEN_SOFTMAX,
    ONE_MINUS_SIGMOID,
    ONE_MINUS_SOFTMAX,
    SIGMOID_KIND,
    SOFTMAX_KIND,
    SUM_OF_EXP,
    is_epsilon,
)

SOFTMAX = api_table("softmax_softmax")
SIGMOID = api_table("softmax_sigmoid")
LOG = api_table("softmax_log")
LOG1P = api_table("softmax_log1p")
CLIP = api_table("softmax_clip")
LOG_SOFTMAX = api_table("softmax_log_softmax")

# Calls whose receiver leaves autograd: `torch.log(p).detach()`, `.item()`.
_LEAVE_AUTOGRAD = frozenset({"detach", "detach_", "item", "numpy", "tolist"})
_ARG_CHARS = 48

# What a probability expression is (the semantic model's kinds), and the stable spelling that
# replaces its log.

_WHAT = {
    SOFTMAX_KIND: "a softmax",
    SIGMOID_KIND: "a sigmoid",
    ONE_MINUS_SIGMOID: "one minus a sigmoid",
    ONE_MINUS_SOFTMAX: "one minus a softmax",
    HANDWRITTEN_SOFTMAX: "a hand-written softmax",
    EXP_LOG_SOFTMAX: "the exp of a log_softmax",
    SUM_OF_EXP: "a sum of exponentials",
}
_FIX = {
    SOFTMAX_KIND: "`log_softmax` or a from-logits loss",
    SIGMOID_KIND: "`log_sigmoid(x)` (= `-softplus(-x)`)",
    ONE_MINUS_SIGMOID: "`log_sigmoid(-x)` (= `-softplus(x)`)",
    ONE_MINUS_SOFTMAX: "`log1p(-softmax)` on `log_softmax`, or a from-logits loss",
    HANDWRITTEN_SOFTMAX: "`log_softmax`",
    EXP_LOG_SOFTMAX: "the `log_softmax` itself",
    SUM_OF_EXP: "`logsumexp`",
}


def first_argument(rule: Rule, call: cst.Call) -> cst.BaseExpression | None:
    """The tensor a unary op works on: the receiver of `x.log()`, else the first argument."""
    if rule.context.names.method(call) is not None:
        return call.func.value  # type: ignore[union-attr]
    return argument(call, "input", 0) or argument(call, "x", 0) or argument(call, "logits", 0)


def is_call_to(rule: Rule, node: cst.CSTNode, table) -> bool:
    """`node` calls an API of `table`, by name or as a Tensor method (`x.softmax(-1)`)."""
    if not isinstance(node, cst.Call):
        return False
    if rule.callee(node, table):
        return True
    return bool(table.methods) and rule.context.names.method(node) in table.methods


def probability_kind(rule: Rule, node: cst.BaseExpression | None) -> tuple[str, bool] | None:
    """(kind, indirect) when `node` is a probability computed from logits, as the semantic model
    sees it: a softmax or sigmoid, one minus one, the exp of a log_softmax, a hand-written
    softmax, directly or through names, `self` attributes, views, layers, models and helpers."""
    if node is None:
        return None
    value = rule.value(node)
    return (value.probability, value.indirect) if value.probability else None


# PyTensor and PyMC spellings (raw import names): measured, PyTensor 2.38.3. Its rewrites make
# log(sigmoid), log(1 - sigmoid) and log(sum(exp)) stable, but not the gradient of log(softmax).
class LogOfSoftmax(Rule):
    """
    ## What it does
    Checks for the log of a probability computed from logits in two steps:
    `log(softmax(x))`, `log(sigmoid(x))`, `log(1 - sigmoid(x))` (and `log1p(-sigmoid(x))`),
    the log of a hand-written softmax `exp(x) / sum(exp(x))`, and the naive log-sum-exp
    `log(sum(exp(x)))` (`reduce_sum`, `sum`, `.sum()` of `exp`). Also `nll_loss(log(softmax(x)))`,
    a log whose argument has a small epsilon added or is clipped (`log(softmax(x) + 1e-8)`,
    `log(clip(softmax(x), eps, 1))`), and a probability or a sum of exponentials reaching the
    log through a name, an attribute, a layer or a helper's return, as the semantic model
    follows values (`p = softmax(x); ...; log(p)`, `log(normaliser(x))`).

    ## Why is this bad?
    In float32 the softmax of confident logits underflows to exactly 0 (and a sigmoid
    saturates to exactly 0 or 1); its log is `-inf` and the chain rule multiplies `1/p = inf`
    by a zero derivative: NaN. Ground truth case 10, logits `[[200, 0, -200]]`, label 1:

    - TF 2.21.0 `-tf.math.log(tf.nn.softmax(x))[label]`: loss `inf`, gradient `[nan nan nan]`.
    - torch 2.13.0 `-torch.log(torch.softmax(x, -1))[label]` and `F.nll_loss(torch.log(...))`:
      loss `inf`, gradient `[nan nan nan]`. With logits `[gap, 0]` the loss and gradient are
      right up to a gap of 88; from 89 to 103 the gradient is `[inf, nan]`; from 104 on the
      loss is `inf` and the gradient `[nan, nan]`. No warning anywhere.
    - torch 2.13.0 `log(sigmoid(x))` is `-inf` with a NaN gradient from `x = -89`;
      `log(1 - sigmoid(x))` already from `x = 17` (the sigmoid rounds to 1);
      `log(sum(exp(x)))` is `inf` with a NaN gradient from `x = 89`.
    - An epsilon does not save it: `-log(softmax(x) + 1e-8)` at the same logits gives a
      loss stuck at 18.42 and a gradient of exactly `[0, 0, 0]` (torch 2.13.0; 16.12 with
      `1e-7`, which is also what Keras 3.15.1's clipped `CategoricalCrossentropy` gives on
      `tf.nn.softmax` output: `[0 0 0]`). At a gap of 30 the gradient is `9e-06` where
      `log_softmax` gives 1: the confidently wrong examples stop learning.

    The stable forms (`log_softmax`, `sparse_softmax_cross_entropy_with_logits`,
    `F.cross_entropy`, `CategoricalCrossentropy(from_logits=True)`) give loss 200 and
    gradient `[1, -1, 0]` in every framework.

    ## Example
    ```python
    probs = torch.softmax(logits, dim=-1)
    loss = F.nll_loss(torch.log(probs + 1e-8), target)
    log_p = tf.math.log(tf.sigmoid(score))
    log_z = jnp.log(jnp.sum(jnp.exp(scores), axis=-1))
    ```

    Use instead:
    ```python
    loss = F.cross_entropy(logits, target)  # or F.nll_loss(F.log_softmax(logits, -1), target)
    log_p = tf.math.log_sigmoid(score)
    log_z = jax.nn.logsumexp(scores, axis=-1)
    ```

    ## Notes
    Not flagged, on purpose:

    - `log_softmax`, `log_sigmoid`, `logsumexp`, `softplus` and from-logits losses; a sum of
      exponentials shifted by its maximum first (`exp(x - x.max())`: no term exceeds 1).
    - The log of a probability that is not computed from logits in the same function: a
      library loss `log(clip(y_pred, eps, 1 - eps))` over its `y_pred` argument is a
      deliberate probability-space loss.
    - Entropy with an epsilon, `p * log(p + eps)` with the same `p` on both sides: its value
      and gradient stay finite (the product goes to 0 with `p`).
    - NumPy, SciPy and `math` (never differentiated).
    - PyTensor / PyMC (and Theano / Aesara, whose graph rewrites `local_logsoftmax`,
      `logsigm_to_softplus` and `log1msigm_to_softplus` PyTensor inherits) `log(sigmoid(x))`,
      `log(1 - sigmoid(x))` (`pm.math.invlogit`) and
      `log(sum(exp(x)))`: measured stable in PyTensor 2.38.3, value and gradient, at
      `x = [-200, 0, 200]` in float32 and float64 (gradients `[1, 0.5, 0]`, `[0, -0.5, -1]`).
      `log(softmax(x))` IS flagged: the rewrite fixes the value, not the gradient (Theano
      reports the same, Theano/Theano#3162: "Softmax+crossentropy can lead to nan in gradient").
      At logits `[[200, 0, -200]]`, label 1, float32, the tutorial loss
      `-mean(log(softmax(x))[arange(n), y])` gives loss 200 and gradient `[nan, nan, nan]`
      (`log_softmax`: `[1, -1, 0]`); `log(softmax(x) + 1e-8)` gives loss 18.42 and gradient
      `[0, 0, 0]`; and `grad(log(softmax(x)).sum())` is wrong at any point (`1 - p`
      instead of `1 - 3p` at `x = [0, 1, 2]`, a rewrite of the gradient).
    - Code no gradient goes through: tests, metrics, `no_grad` / `inference_mode`, arguments
      of `stop_gradient`, and a log followed by `.detach()`, `.item()` or `.numpy()`.

    The probability is found wherever the semantic model can follow it: through local names,
    views and indexing (`.view`, `p[:, 0]`), `self` attributes, helper functions, layers stored
    in `__init__` (`self.act = nn.Softmax(dim=1)`), `nn.Sequential` and Keras models (also built
    with `add_module` / `add`), a model's `forward` / `call` (inherited too, and run as
    `self(x)` in its own training step), the arguments the module passes to its own functions
    (a log inside a helper `bce(p, y)` called with a sigmoid's output), the `y_pred` Keras gives
    a loss function of the module that `model.compile(loss=...)` names, the results of a step
    function run by `theano.scan` or `jax.lax.scan` (unpacked, nested too) and of a function
    wrapped by `jax.vmap` / `jax.jit`, and models and helpers imported from other modules of
    the project.

    A log inside a helper that only other modules of the project call (`from .losses import
    bce`, then `bce(torch.sigmoid(z), y)`, or `losses.bce(...)`) is found from those calls,
    when every one of them passes a probability.

    Known misses: a name assigned in a loop or a `with` statement, and a buffer filled in place
    (`p[i] = exp(...)`).

    ## Severity
    Error for a log written directly around the softmax or sigmoid; warning when the
    probability comes through a variable, an epsilon or a clip (the value is finite there; the
    gradient vanishes instead of turning NaN).

    ## References
    - PyTorch documentation, `torch.nn.functional.log_softmax`: "While mathematically
      equivalent to log(softmax(x)), doing these two operations separately is slower and
      numerically unstable."
    - TensorFlow documentation, `tf.nn.softmax_cross_entropy_with_logits`: pass unscaled
      logits, it performs the softmax internally and efficiently.
    """

    code = "GL080"
    severity = Severity.ERROR
    other_severities = (Severity.WARNING,)  # see ## Severity
    message = "`{call}`: the log of {what} turns infinite for large logits, with NaN or zero gradients; use {remedy}"
    fix_title = "use the framework's log_softmax (same axis)"
    frameworks = ("torch", "tensorflow", "keras", "jax", "theano")
    differentiated_code_only = True

    def __init__(self, context) -> None:
        super().__init__(context)
        self._quiet_calls: set[int] = set()
        self._quiet_depth = 0
        self._entropy_logs: set[int] = set()

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        # `p * log(p + eps)`: an entropy term, finite in value and gradient.
        if not isinstance(node.operator, cst.Multiply):
            return
        for side, other in ((node.left, node.right), (node.right, node.left)):
            if isinstance(side, cst.Call) and self._is_log(side) and isinstance(other, (cst.Name, cst.Attribute, cst.UnaryOperation, cst.Call)):
                inner, guarded = _unguarded(self, first_argument(self, side))
                if isinstance(other, cst.UnaryOperation):
                    other = other.expression
                if guarded and inner is not None and self.source(bare(inner)) == self.source(bare(other)):
                    self._entropy_logs.add(id(side))

    def _is_log(self, node: cst.Call) -> bool:
        return is_call_to(self, node, LOG) or is_call_to(self, node, LOG1P)

    def visit_Call(self, node: cst.Call) -> None:
        if self.callee(node, STOP_GRADIENT) or self.context.names.method(node) in _LEAVE_AUTOGRAD:
            self._quiet_calls.add(id(node))
            self._quiet_depth += 1
            return
        log1p = is_call_to(self, node, LOG1P)
        if not (log1p or is_call_to(self, node, LOG)):
            return
        if self._quiet_depth or id(node) in self._entropy_logs or in_test_tree(self.context.path):
            return
        rewritten = any(name.startswith("theano.") for name in self.qualified_names(node.func))
        found = self._classify(first_argument(self, node), log1p)
        if found is None or not_differentiated(self.context, node=node):
            return
        if rewritten and found[0] != SOFTMAX_KIND:
            return  # Theano's lineage rewrites log(sigmoid), log(1 - sigmoid), log(sum(exp)) into stable forms
        kind, indirect = found
        self.report(
            node,
            call=NodeCode(node, _ARG_CHARS),
            what=_WHAT[kind],
            remedy=_FIX[kind],
            severity=Severity.WARNING if indirect else None,
            fix=None if indirect or kind != SOFTMAX_KIND or log1p else self._log_softmax(node),
        )

    def _log_softmax(self, log: cst.Call) -> Fix | None:
        """`log(softmax(x, axis))` -> `log_softmax(x, axis)`, in the softmax's own spelling."""
        inner = first_argument(self, log)
        if not isinstance(inner, cst.Call) or not isinstance(inner.func, cst.Attribute):
            return None
        if self.context.names.method(log) is None and len(log.args) != 1:
            return None  # `log(p, base)`: not the plain natural log
        names = self.qualified_names(inner.func)
        if names:
            renamed = {name.rpartition(".")[0] + ".log_softmax" for name in names if name.endswith(".softmax")}
            if not renamed & LOG_SOFTMAX:
                return None  # `keras.backend.softmax` has no log_softmax beside it
        elif self.context.names.method(inner) != "softmax":
            return None
        replacement = inner.with_changes(func=inner.func.with_changes(attr=cst.Name("log_softmax")))
        return Fix(log, replacement.with_changes(lpar=log.lpar, rpar=log.rpar))

    def leave_Call(self, node: cst.Call) -> None:
        if id(node) in self._quiet_calls:
            self._quiet_depth -= 1

    def _classify(self, arg: cst.BaseExpression | None, log1p: bool) -> tuple[str, bool] | None:
        """(kind, indirect) for the argument of a log; indirect when through a name, an
        epsilon or a clip."""
        if arg is None:
            return None
        if log1p:  # log1p(-sigmoid(x)) is log(1 - sigmoid(x))
            if isinstance(arg, cst.UnaryOperation) and isinstance(arg.operator, cst.Minus):
                kind = probability_kind(self, arg.expression)
                if kind is not None and kind[0] == SIGMOID_KIND:
                    return ONE_MINUS_SIGMOID, kind[1]
            return None
        inner, guarded = _unguarded(self, arg)
        if inner is None:
            return None
        kind = probability_kind(self, inner)
        if kind is None or kind[0] == EXP_LOG_SOFTMAX:
            return None
        return kind[0], kind[1] or guarded


def _unguarded(rule: Rule, node: cst.BaseExpression | None) -> tuple[cst.BaseExpression | None, bool]:
    """The probability under `p + eps` or `clip(p, eps, 1)`, and whether such a guard was there."""
    guarded = False
    for _ in range(3):
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
            if is_epsilon(node.right, rule.source(node.right)):
                node, guarded = node.left, True
                continue
            if is_epsilon(node.left, rule.source(node.left)):
                node, guarded = node.right, True
                continue
            return node, guarded
        if isinstance(node, cst.Call) and is_call_to(rule, node, CLIP):
            node, guarded = first_argument(rule, node), True
            continue
        break
    return node, guarded

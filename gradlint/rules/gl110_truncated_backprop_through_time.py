from __future__ import annotations

import re

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.gradients import STOP_GRADIENT, not_differentiated
from gradlint.engine.names import dotted, referenced_names
from gradlint.engine.syntax import argument, assigned_names, bindings, number, own_nodes, positional
from gradlint.rule import Rule, Severity

LASAGNE_RECURRENT = api_table("recurrent_lasagne_layers")
THEANO_SCAN = api_table("recurrent_theano_scan")
SCAN = api_table("recurrent_scan")
FORI_LOOP = api_table("recurrent_fori_loop")
WHILE_LOOP = api_table("recurrent_while_loop")
DETACH = api_table("recurrent_detach")
TRAINING_STEP = api_table("recurrent_training_step")

# A loop over batches, epochs or episodes, where cutting the state once per pass is the usual
# truncated BPTT of language-model training, not a truncation inside one sequence.
_BATCH_LOOP = re.compile(r"epoch|batch|loader|episode|dataset|minibatch|iteration|bptt|chunk|^train|_train", re.I)
# Code that compares a gradient with finite differences: a truncated gradient will disagree.
_GRADIENT_CHECK = re.compile(
    r"gradcheck|check_grads?\b|compute_gradient\b|verify_grad|finite_diff|numerical_grad|"
    r"numeric_grad|grad_check|gradient_check|check_gradient"
)
# Builtins that rebuild a state container without computing anything (`tuple(h.detach() ...)`).
_CONTAINERS = frozenset({"tuple", "list", "dict", "type"})
_ITER_CHARS = 32


class TruncatedBackpropThroughTime(Rule):
    """
    ## What it does
    Checks for recurrences whose backpropagation through time is cut short:

    - Lasagne recurrent layers (`RecurrentLayer`, `LSTMLayer`, `GRULayer`,
      `CustomRecurrentLayer`) built with `gradient_steps=k`, k > 0, and `theano.scan(...,
      truncate_gradient=k)`, k given as a number or held in a name or an attribute
      whose every assignment gives it (`self.bptt_truncate`, from the constructor's default
      when no call in the file passes one);
    - `h = h.detach()`, `h.detach_()`, `hidden = tuple(v.detach() for v in hidden)`,
      `cell(x_t, h.detach())`, `tf.stop_gradient(h)` or `jax.lax.stop_gradient(h)` on a state
      carried from one iteration of a `for` loop over time steps to the next (the loop body
      also updates it from itself: `h = cell(x_t, h)`);
    - `stop_gradient` of the carry inside the step function of `jax.lax.scan`,
      `jax.lax.fori_loop`, `tf.scan` or `tf.while_loop` (and the Keras `ops` equivalents).

    The message says more when the same file also checks gradients numerically
    (`gradcheck`, `check_grads`, `tf.test.compute_gradient`, `verify_grad`, a `finite_diff`
    helper).

    ## Why is this bad?
    It is often deliberate (truncated BPTT bounds memory and cost), but then the gradient is
    not the derivative of the loss: no gradient flows into a step from more than k steps
    later. A gradient check against finite differences disagrees, and long-range
    dependencies are not learned. In torch 2.13.0, an 8-step `RNNCell` loop with
    `h = h.detach()` at every step gives gradients that differ from full BPTT by a relative
    0.199 (`W_hh`) and 0.630 (`W_ih`); detaching every 2 steps by 0.059 / 0.150, every 4
    steps by 0.007 / 0.015. In the seed, Lasagne's `gradient_steps=1` made Theano's gradient
    four orders of magnitude smaller than the finite-difference one.

    ## Example
    ```python
    l_out = lasagne.layers.RecurrentLayer(l_in, num_units=n_class, gradient_steps=1)

    for t in range(x.size(1)):
        h = self.cell(x[:, t], h)
        h = h.detach()
    ```

    Use instead:
    ```python
    l_out = lasagne.layers.RecurrentLayer(l_in, num_units=n_class, gradient_steps=-1)

    for t in range(x.size(1)):
        h = self.cell(x[:, t], h)
    ```

    ## Notes
    Not flagged: detaching the hidden state once per batch in a training loop (the
    `repackage_hidden` of PyTorch's word_language_model example), recognised by a loop body
    that calls `backward()`, `zero_grad()`, `optimizer.step()`, `tape.gradient` or
    `apply_gradients`, or by a loop over names such as `loader`, `batch`, `epoch`, `episode`,
    `dataset`, `chunks`; a detach through a helper function; a detached copy of the state
    kept for logging (`trace.append(h.detach())`); `stop_gradient` of something that is not
    carried (a teacher's target, a straight-through estimator); `gradient_steps=-1` or a
    value the file does not pin down; code that is not differentiated (`no_grad` blocks, tests,
    evaluation functions). torch's behaviour was measured (torch 2.13.0); TF, JAX and
    Lasagne/Theano are checked with the same patterns.

    Known misses: `while` loops in Python; a state detached through a helper inside the time
    loop; a step function passed to `scan` through `functools.partial` or a lambda.

    ## References
    - Stack Overflow (in Russian), "Strange gradient results with recurrent layers": Lasagne
      `gradient_steps=1` against a finite-difference check.
    - Lasagne documentation, `lasagne.layers.RecurrentLayer`: "gradient_steps: Number of
      timesteps to include in the backpropagated gradient. If -1, backpropagate through the
      entire sequence."
    - PyTorch examples, word_language_model: `repackage_hidden` between batches.
    """

    code = "GL110"
    severity = Severity.INFO
    message = (
        "`{call}` truncates backprop through time {span}: not full BPTT, "
        "finite differences will disagree{alarm}"
    )
    frameworks = ("torch", "tensorflow", "jax", "theano", "lasagne")

    def __init__(self, context) -> None:
        super().__init__(context)
        self._loops: dict[int, bool] = {}  # id(For) -> whether it is a time loop (cached)
        self._reported: set[int] = set()  # statements already reported
        self._alarm: str | None = None
        # stop_gradient calls outside loops, kept until the module's end to match step functions.
        self._pending: list[tuple[cst.Call, cst.CSTNode, cst.FunctionDef, set[str]]] = []
        self._steps: dict[str, str] = {}  # step function name -> "scan" / "fori" / "while"

    def visit_Call(self, node: cst.Call) -> None:
        names = self.qualified_names(node.func)
        if names:
            if names & LASAGNE_RECURRENT:
                self._steps_argument(node, "gradient_steps")
            elif names & THEANO_SCAN:
                self._steps_argument(node, "truncate_gradient")
            elif names & STOP_GRADIENT:
                args = positional(node)
                if args:
                    self._cut(node, args[0])
            elif names & SCAN:
                self._step_function(argument(node, "f", 0) or argument(node, "fn"), "scan")
            elif names & FORI_LOOP:
                self._step_function(argument(node, "body_fun", 2) or argument(node, "body"), "fori")
            elif names & WHILE_LOOP:
                self._step_function(argument(node, "body", 1), "while")
            return
        method = self.context.names.method(node)
        if method in DETACH.methods and not node.args:
            self._cut(node, node.func.value)

    # Lasagne and Theano ---------------------------------------------------------------------

    def _steps_argument(self, call: cst.Call, keyword: str) -> None:
        value = argument(call, keyword)
        if value is None:
            return
        steps, shown = number(value), f"{keyword}={self.source(value)}"
        if steps is None:  # `truncate_gradient=self.bptt_truncate`: what every assignment gives
            defaults: list = []
            origins = self.context.semantic.origins(value, self.context.scopes, defaults)
            found = {number(origin) for origin in origins or ()}
            steps = found.pop() if len(found) == 1 else None
            if steps is not None and defaults:
                shown += f" ({steps:g} by default)"
        if steps is None or steps <= 0 or steps != int(steps):
            return
        if not_differentiated(self.context):
            return
        k = int(steps)
        self.report(
            value,
            call=shown,
            span=f"after {k} step{'s' if k != 1 else ''}",
            alarm=self._check_alarm(),
        )

    # detach / stop_gradient of a carried state ----------------------------------------------

    def _cut(self, call: cst.Call, value: cst.BaseExpression) -> None:
        statement = self.context.current_statement()
        if id(statement) in self._reported or not isinstance(statement, cst.SimpleStatementLine):
            return
        loop = self._innermost_loop()
        if loop is None:
            function = self.context.enclosing(cst.FunctionDef)
            if function is not None and self.context.scopes[-1] is function and not not_differentiated(self.context):
                base = value.value if isinstance(value, cst.Subscript) else value
                if isinstance(base, cst.Name):  # the carry itself, not a value computed from it
                    self._pending.append((call, statement, function, {base.value}))
            return
        states = _cut_states(statement, call, value)
        if not states or not self._time_loop(loop, states) or not_differentiated(self.context):
            return
        self._reported.add(id(statement))
        iterated = self.source(loop.iter)
        if len(iterated) > _ITER_CHARS:
            iterated = iterated[: _ITER_CHARS - 3] + "..."
        state = ", ".join(sorted(states))
        self.report(
            call,
            call=self.source(call),
            span=f"at state `{state}` in the loop over `{iterated}`",
            alarm=self._check_alarm(),
        )

    def _innermost_loop(self) -> cst.For | None:
        """The innermost `for` around the current statement, within the current function."""
        for statement in reversed(self.context.statements):
            if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
                return None
            if isinstance(statement, cst.For):
                return statement
        return None

    def _time_loop(self, loop: cst.For, states: set[str]) -> bool:
        """A loop over the steps of a sequence that updates a state from itself."""
        key = id(loop)
        cached = self._loops.get(key)
        if cached is None:
            cached = self._loops[key] = self._not_a_batch_loop(loop)
        return cached and self._recurrence(loop, states)

    def _not_a_batch_loop(self, loop: cst.For) -> bool:
        header = referenced_names(loop.target)
        iterated = loop.iter
        if not (isinstance(iterated, cst.Call) and isinstance(iterated.func, cst.Name) and iterated.func.value == "range"):
            header |= _attribute_names(iterated)  # `range(batch.size(1))` counts the steps of one batch
        if any(_BATCH_LOOP.search(name) for name in header):
            return False
        for node in own_nodes(loop.body):
            if isinstance(node, cst.Call):
                method = self.context.names.method(node)
                if method in TRAINING_STEP.methods:
                    return False
                if any(name.rpartition(".")[2] in TRAINING_STEP.methods for name in self.qualified_names(node.func)):
                    return False
        return True

    def _recurrence(self, loop: cst.For, states: set[str]) -> bool:
        """An assignment in the loop that computes a state from itself with a real call."""
        states = {s for s in states - set(assigned_names(loop.target)) if _read_first(loop, s)}
        if not states:
            return False
        for node in own_nodes(loop.body):
            if isinstance(node, cst.Assign):
                targets = {n for t in node.targets for n in assigned_names(t.target)}
                carried = targets & states & referenced_names(node.value)
                if carried and self._computes(node.value):
                    return True
            elif isinstance(node, cst.AugAssign) and isinstance(node.target, cst.Name):
                if node.target.value in states:
                    return True
        return False

    def _computes(self, value: cst.BaseExpression) -> bool:
        """Whether a value calls something other than a detach or a container builtin, or does arithmetic."""
        for node in (value, *own_nodes(value)):
            if isinstance(node, cst.BinaryOperation):
                return True
            if not isinstance(node, cst.Call):
                continue
            if self.qualified_names(node.func) & STOP_GRADIENT:
                continue
            if self.context.names.method(node) in DETACH.methods:
                continue
            if isinstance(node.func, cst.Name) and node.func.value in _CONTAINERS:
                continue
            return True
        return False

    # Step functions of scan / fori_loop / while_loop -------------------------------------

    def _step_function(self, node: cst.BaseExpression | None, kind: str) -> None:
        if isinstance(node, cst.Name):
            self._steps.setdefault(node.value, kind)

    def leave_Module(self, node: cst.Module) -> None:
        for call, statement, function, used in self._pending:
            kind = self._steps.get(function.name.value)
            if kind is None or id(statement) in self._reported:
                continue
            carry = _carry(function, kind)
            if not carry or not used & carry:
                continue
            self._reported.add(id(statement))
            self.report(
                call,
                statement=statement,
                call=self.source(call),
                span=f"at the carry of step function `{function.name.value}`",
                alarm=self._check_alarm(),
            )

    def _check_alarm(self) -> str:
        if self._alarm is None:
            found = _GRADIENT_CHECK.search(self.context.file_text)
            self._alarm = "; this file checks gradients numerically" if found else ""
        return self._alarm


def _cut_states(statement: cst.SimpleStatementLine, call: cst.Call, value: cst.BaseExpression) -> set[str]:
    """The state names a detach / stop_gradient in this statement cuts: `h = h.detach()`,
    `h, c = h.detach(), c.detach()`, `hidden = tuple(v.detach() for v in hidden)`,
    `h = cell(x, h.detach())`, `h.detach_()`."""
    if len(statement.body) != 1:
        return set()
    small = statement.body[0]
    if isinstance(small, cst.Expr):
        if small.value is call and isinstance(call.func, cst.Attribute) and call.func.attr.value == "detach_":
            name = dotted(value)
            return {name} if name is not None and "." not in name else set()
        return set()
    if not isinstance(small, cst.Assign):
        return set()
    targets = {n for t in small.targets for n in assigned_names(t.target)}
    cut = referenced_names(value)
    if cut & targets:
        return cut & targets
    # `tuple(v.detach() for v in hidden)`: the comprehension variable stands for the state.
    for node in (small.value, *own_nodes(small.value)):
        if isinstance(node, (cst.GeneratorExp, cst.ListComp)):
            clause = node.for_in
            if cut & set(assigned_names(clause.target)):
                return referenced_names(clause.iter) & targets
    return set()


def _read_first(loop: cst.For, name: str) -> bool:
    """Whether an iteration reads `name` before it assigns it: the value comes from the
    previous iteration (a carried state), not from this one."""
    for node in own_nodes(loop.body):
        if not isinstance(node, cst.SimpleStatementLine):
            if isinstance(node, cst.BaseCompoundStatement) and not isinstance(node, (cst.FunctionDef, cst.ClassDef)):
                header = [getattr(node, attr) for attr in ("test", "iter", "items") if getattr(node, attr, None)]
                if any(name in referenced_names(part) for part in header if isinstance(part, cst.CSTNode)):
                    return True
            continue
        for small in node.body:
            if isinstance(small, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
                if small.value is not None and name in referenced_names(small.value):
                    return True
                if isinstance(small, cst.AugAssign) and name in referenced_names(small.target):
                    return True
                targets = small.targets if isinstance(small, cst.Assign) else [small]
                if any(name in assigned_names(t.target) for t in targets):
                    return False
            elif name in referenced_names(small):
                return True
    return False


def _carry(function: cst.FunctionDef, kind: str) -> set[str]:
    """The carry parameters of a step function, and local names unpacked from them."""
    params = [p.name.value for p in (*function.params.posonly_params, *function.params.params)]
    if kind == "scan":
        carry = set(params[:1])
    elif kind == "fori":
        carry = set(params[1:2])
    else:
        carry = set(params)
    if not carry:
        return carry
    for name, values in bindings(function).items():
        for value in values:
            base = value.value if isinstance(value, cst.Subscript) else value
            if isinstance(base, cst.Name) and base.value in carry:
                carry = carry | {name}
    return carry


def _attribute_names(node: cst.CSTNode) -> set[str]:
    found = referenced_names(node)
    for current in own_nodes(node):
        if isinstance(current, cst.Attribute):
            found.add(current.attr.value)
    return found

from __future__ import annotations

import re

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.gradients import is_test_file
from gradlint.engine.names import dotted, referenced_names
from gradlint.engine.syntax import own_nodes, scoped_nodes
from gradlint.rule import Fix, Rule, Severity

OPTIMIZERS = api_table("torch_training_optimizers")
BACKWARD = api_table("torch_training_backward")

# `optimizer`, `opt`, `optim`, `optimizer_g`, `optG`, `optimizerD`, `g_optimizer`, `gen_opt`.
_OPTIMIZER_NAME = re.compile(r"^(opt|optim|optimizer|optimiser)([A-Z0-9_].*)?$|_(opt|optim|optimizer|optimiser)$")
_SCHEDULER_NAME = re.compile(r"sched|lr|warmup", re.I)
_ZEROING_HELPER = re.compile(r"zero_grad|^_?(reset|clear)_grads?$")
_NO_ZEROING = re.compile(r"^test|^_?(training|train)_step$", re.I)


def _last_name(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value
    return None


def _strip_data(node: cst.BaseExpression) -> cst.BaseExpression:
    """`w.data` -> `w` (the update of `w.data` updates `w`)."""
    while isinstance(node, cst.Attribute) and node.attr.value == "data":
        node = node.value
    return node


def _grad_owner(node: cst.BaseExpression) -> cst.BaseExpression | None:
    """For `w.grad` or `w.grad.data`: `w`."""
    node = _strip_data(node)
    if isinstance(node, cst.Attribute) and node.attr.value == "grad":
        return _strip_data(node.value)
    return None


class MissingZeroGrad(Rule):
    """
    ## What it does
    Checks for a torch training loop (a `for` or `while` body) that calls `loss.backward()`
    (or `torch.autograd.backward`, `scaler.scale(loss).backward()`,
    `accelerator.backward(loss)`, `self.manual_backward(loss)`) and then `opt.step()` (or
    `scaler.step(opt)`) on an optimiser that is never zeroed in that loop. Each optimiser is
    checked on its own: in a GAN loop with `opt_g` and `opt_d`, only the one not zeroed is
    flagged. The same holds for hand-written updates: `w -= lr * w.grad` (or
    `w.data.sub_(lr * w.grad.data)`) in a loop with `backward()` that never clears `w.grad`.

    A step function with no loop of its own (its caller runs it once per batch) is checked
    when it zeroes some gradients itself: in a GAN `step` that calls `self.generator.zero_grad()`
    but never zeroes the discriminator, `self.discriminator.optimizer.step()` is flagged. A
    function of the module (or a method) that zeroes nothing is checked at its callers, which
    the semantic model finds in the project (`ModuleModel.callers`: by name here and in the
    modules that import it, through `self`, on an instance of its class): when every call
    runs in a loop that zeroes nothing either (`for batch in loader: train_step(model, opt,
    batch)`, `learner.update(batch)`), its `step()` is flagged. One the project never calls
    is left alone (its callers elsewhere may zero).

    Optimisers are recognised by their construction (`opt = torch.optim.Adam(...)`,
    `self.optimizer = optim.SGD(...)`, any `torch.optim` class) or by their name
    (`optimizer`, `opt`, `optim`, `opt_g`, `optimizerD`, `g_optimizer`, ...).

    ## Why is this bad?
    `backward()` adds into `.grad`; it never overwrites it. Without `zero_grad()` the k-th
    step uses the sum of the last k gradients, so the effective learning rate grows with
    every step and the direction is dominated by stale gradients. Nothing warns. Measured
    with torch 2.13.0 (SGD, lr=0 so the weights stay fixed): `weight.grad` after steps 1, 2,
    3 is `[4.2576, 5.5123]`, `[8.5152, 11.0247]`, `[12.7727, 16.537]`, k times the step-1
    gradient; with `optimizer.zero_grad()` it is `[4.2576, 5.5123]` at every step.
    Zeroing only once, before the loop, cleans the first step only.

    ## Example
    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for inputs, targets in loader:
        loss = F.mse_loss(model(inputs), targets)
        loss.backward()
        optimizer.step()
    ```

    Use instead:
    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = F.mse_loss(model(inputs), targets)
        loss.backward()
        optimizer.step()
    ```

    ## Notes
    The finding is reported on the `step()` call (or on the hand-written update).

    It also checks the order in one loop body: a `zero_grad()` of the optimiser after
    `backward()` and before `step()` (reported on the `zero_grad()`), or a `step()` right after
    the zeroing with `backward()` only after it (reported on the `step()`). Either way the
    step finds no gradients: `zero_grad()` sets them to None (torch 2.13.0's default), and
    SGD and Adam skip such parameters, so the weights never move (measured: after five
    iterations of either order the weights were exactly their initial values). Only
    statements of the loop body itself count; a `step()` under a condition (gradient
    accumulation) is not judged this way, and a `backward()` anywhere before it (in a nested
    loop over chunks) counts.

    Accepted as zeroing, anywhere in the loop body (before `backward()` or after `step()`,
    inside a conditional too): `opt.zero_grad()`, `opt.zero_grad(set_to_none=True)`,
    `model.zero_grad()` (of a model whose parameters the optimiser was built with, or of any
    model when the construction is not visible), `p.grad = None`, `p.grad.zero_()`,
    `p.grad.data.zero_()`, and calls of helpers that do it: a function of the same file that
    zeroes, or one whose name says so (`zero_grad(model)`, `self._zero_grads()`,
    `reset_grad()`).

    Not flagged, on purpose: gradient accumulation (`if (i + 1) % k == 0: opt.step();
    opt.zero_grad()`), `opt.step(closure)` (the LBFGS pattern: the closure zeroes), loops
    without a backward call (evaluation), a `backward()` in one loop and the `step()` after
    it, Lightning `training_step` methods (Lightning zeroes for you), engines that zero
    themselves (`model_engine.step()` of DeepSpeed), learning-rate schedulers
    (`scheduler.step()`), and tests.

    Known misses: a step method called on an instance of a subclass, callers in modules that
    import only a subclass, an optimiser whose name does not say so and whose construction is in
    another file, and zeroing done through an alias the rule cannot follow.

    ## Severity
    Error when the function never zeroes that optimiser; warning when it zeroes it only outside
    the loop (before it, or in an outer loop once per epoch).

    ## References
    - PyTorch FAQ / tutorials, "Zeroing out gradients in PyTorch": gradients accumulate
      on every `backward()` call.
    - Stack Overflow, "Why do we need to call zero_grad() in PyTorch?".
    """

    code = "GL090"
    severity = Severity.ERROR
    other_severities = (Severity.WARNING,)  # see ## Severity
    message = (
        "`{step}` in a loop that never zeroes `{optimizer}`: gradients accumulate across steps; "
        "call `zero_grad()` each iteration"
    )
    frameworks = ("torch",)
    fix_title = "zero the optimiser at the top of the loop body"
    _per_call_message = (
        "`{step}` in a step function that zeroes other gradients but never `{optimizer}`'s: they "
        "accumulate across calls; call `zero_grad()` for it too"
    )

    _cleared_message = (
        "`{zero}` runs after `{backward}` and before `{step}`: the step finds no gradients and the "
        "weights never move; zero the gradients before `backward()`"
    )
    _unfilled_message = (
        "`{step}` runs after `{zero}` with no `backward()` between them: it finds no gradients and the "
        "weights never move; call `backward()` before `step()`"
    )

    _caller_message = (
        "`{step}` in `{function}`, which the project calls only in loops that never zero the gradients: "
        "they accumulate across calls; call `{optimizer}.zero_grad()` before `backward()`"
    )

    _manual_message = (
        "`{update}` in a loop that never clears `{param}.grad`: gradients accumulate across steps; "
        "zero it after the update"
    )

    def __init__(self, context) -> None:
        super().__init__(context)
        self._backward_scopes: dict[int, cst.CSTNode] = {}
        # Source text of each target assigned a torch optimiser -> names in the construction call.
        self._optimizers: dict[str, set[str]] = {}
        self._zeroing_functions: set[str] = set()

    # The walk: collect evidence cheaply ------------------------------------------------------

    def _scope(self) -> tuple[int, cst.CSTNode | None]:
        for scope in reversed(self.context.scopes):
            if isinstance(scope, cst.FunctionDef):
                return id(scope), scope
            if isinstance(scope, cst.ClassDef):
                break
        return 0, None

    def _mark_zeroing(self) -> None:
        for scope in reversed(self.context.scopes):
            if isinstance(scope, cst.FunctionDef):
                self._zeroing_functions.add(scope.name.value)
                return

    def visit_Call(self, node: cst.Call) -> None:
        method = self.context.names.method(node)
        if method is not None:
            if method in BACKWARD.methods:
                key, scope = self._scope()
                self._backward_scopes[key] = scope
            elif method == "zero_grad" or (method == "zero_" and _grad_owner(node.func.value) is not None):
                self._mark_zeroing()
        elif self.callee(node, BACKWARD):
            key, scope = self._scope()
            self._backward_scopes[key] = scope

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        if isinstance(value, cst.Call) and self._is_optimizer_class(value):
            names = _construction_names(value)
            for target in node.targets:
                self._optimizers[self.source(target.target)] = names
            return
        for target in node.targets:
            if _grad_owner(target.target) is not None:
                self._mark_zeroing()

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if isinstance(node.value, cst.Call) and self._is_optimizer_class(node.value):
            self._optimizers[self.source(node.target)] = _construction_names(node.value)

    def _is_optimizer_class(self, call: cst.Call) -> bool:
        for name in self.qualified_names(call.func):
            if name in OPTIMIZERS:
                return True
            head, _, last = name.rpartition(".")
            if head == "torch.optim" and last[:1].isupper() and last != "Optimizer":
                return True
        return False

    # The analysis, once per file ---------------------------------------------------------------

    def leave_Module(self, node: cst.Module) -> None:
        if is_test_file(self.context.filename):
            return
        for scope in self._backward_scopes.values():
            root = node if scope is None else scope
            # A `training_step` is zeroed by its framework, unless the module itself runs it.
            framework_step = isinstance(root, cst.FunctionDef) and bool(_NO_ZEROING.search(root.name.value))
            self._check(root, callers_only=framework_step)

    def _check(self, root: cst.CSTNode, callers_only: bool = False) -> None:
        aliases: dict[str, str] = {}
        backward_loops: list[tuple] = []
        steps: list[tuple[str, cst.BaseExpression, cst.Call, cst.CSTNode, tuple]] = []
        zeros: list[tuple[str | None, str | None, tuple]] = []  # (optimiser key, model name, loops)
        # In source order: each `backward()` and `zero_grad()` call with its statement, for the
        # order within a loop body (`zero_grad()` between `backward()` and `step()`).
        events: list[tuple[tuple | None, cst.Call, cst.CSTNode]] = []
        grad_zeros: list[tuple[str, tuple]] = []
        updates: list[tuple[str, cst.CSTNode, cst.CSTNode, tuple]] = []
        names = self.context.names
        for node, statement, loops, _ in scoped_nodes(root):
            if isinstance(node, cst.Call):
                method = names.method(node)
                if method is None:
                    if self.callee(node, BACKWARD):
                        backward_loops.append(loops)
                        events.append((None, node, statement))
                    elif self._zeroing_call(node, node.func):
                        zeros.append((None, None, loops))
                    continue
                receiver = node.func.value
                if method in BACKWARD.methods:
                    backward_loops.append(loops)
                    events.append((None, node, statement))
                elif method == "step":
                    self._step(node, receiver, statement, loops, steps, aliases)
                elif method == "zero_grad":
                    key = self._optimizer_key(receiver, aliases)
                    zeros.append((key, None, loops) if key else (None, self.source(receiver), loops))
                    events.append((zeros[-1], node, statement))
                elif method in ("zero_", "fill_", "mul_") and _grad_owner(receiver) is not None:
                    if method == "zero_" or _is_zero(node):
                        grad_zeros.append((self.source(_grad_owner(receiver)), loops))
                elif method in ("sub_", "add_", "copy_") and node.args:
                    owner = _strip_data(receiver)
                    if self._reads_grad_of(node, owner):
                        updates.append((self.source(owner), node, statement, loops))
                elif self._zeroing_call(node, node.func):
                    zeros.append((None, None, loops))
            elif isinstance(node, cst.Assign):
                for target in node.targets:
                    owner = _grad_owner(target.target)
                    if owner is not None:
                        grad_zeros.append((self.source(owner), loops))
                    elif isinstance(target.target, cst.Subscript) and _grad_owner(target.target.value) is not None:
                        grad_zeros.append((self.source(_grad_owner(target.target.value)), loops))
                    elif isinstance(target.target, cst.Name) and dotted(node.value) is not None:
                        aliases[target.target.value] = dotted(node.value)
            elif isinstance(node, cst.AugAssign):
                owner = _strip_data(node.target)
                if _grad_owner(node.target) is not None:
                    if isinstance(node.operator, cst.MultiplyAssign) and _zero_value(node.value):
                        grad_zeros.append((self.source(_grad_owner(node.target)), loops))
                elif isinstance(node.operator, (cst.SubtractAssign, cst.AddAssign)) and self._reads_grad_of(
                    node.value, owner
                ):
                    updates.append((self.source(owner), node, statement, loops))
        if not backward_loops:
            return
        for key, optimizer, call, statement, loops in steps:
            loop = _training_loop(loops, backward_loops)
            matching = [z for z in zeros if self._zeroes(z, key)] + [(None, None, l) for _, l in grad_zeros]
            if loop is None or callers_only:
                # A step function run once per batch by its caller: when it zeroes another
                # model's gradients itself, it is where this one's must be zeroed too; when it
                # zeroes none, the module's loops that call it must.
                if not isinstance(root, cst.FunctionDef) or loops:
                    continue
                if zeros and not matching and not callers_only:
                    self.report(call, self._per_call_message, statement=statement, step=self.source(call), optimizer=key)
                elif not zeros and not grad_zeros and self._looped_unzeroed(root):
                    self.report(call, self._caller_message, statement=statement, step=self.source(call),
                                function=root.name.value, optimizer=key)
                continue
            if any(loop in z[2] for z in matching):
                self._zeroed_before_step(loop, key, call, statement, events)
                continue
            self.report(
                call,
                statement=statement,
                severity=Severity.WARNING if matching else Severity.ERROR,
                step=self.source(call),
                optimizer=key,
                fix=_zero_at_top(loop, optimizer),
            )
        for param, node, statement, loops in updates if not callers_only else ():
            loop = _training_loop(loops, backward_loops)
            if loop is None:
                continue
            matching = [z[2] for z in zeros if z[0] is None] + [l for k, l in grad_zeros if k == param]
            if any(loop in l for l in matching):
                continue
            update = self.source(node)
            self.report(
                node,
                self._manual_message,
                statement=statement,
                severity=Severity.WARNING if matching else Severity.ERROR,
                update=update if len(update) <= 40 else update[:37] + "...",
                param=param,
            )

    def _step(self, call: cst.Call, receiver: cst.BaseExpression, statement, loops, steps, aliases) -> None:
        if not call.args:
            optimizer = receiver
        elif len(call.args) == 1 and call.args[0].keyword is None and not call.args[0].star:
            optimizer = call.args[0].value  # `scaler.step(opt)`
        else:
            return  # `opt.step(closure)`: the closure zeroes (LBFGS)
        key = self._optimizer_key(optimizer, aliases)
        if key is not None:
            steps.append((key, optimizer, call, statement, loops))

    def _optimizer_key(self, node: cst.BaseExpression, aliases: dict[str, str]) -> str | None:
        """The optimiser's spelling when `node` is an optimiser, else None."""
        text = self.source(node)
        if isinstance(node, cst.Name) and node.value in aliases:
            text = aliases[node.value]
        if text in self._optimizers or self.source(node) in self._optimizers:
            return text
        last = text.rpartition(".")[2]
        if isinstance(node, (cst.Name, cst.Attribute)) and _OPTIMIZER_NAME.search(last):
            if not _SCHEDULER_NAME.search(last.replace("opt", "")):
                return text
        return None

    def _zeroed_before_step(self, loop: cst.CSTNode, key: str, step: cst.Call, statement: cst.CSTNode,
                            events: list[tuple[tuple | None, cst.Call, cst.CSTNode]]) -> None:
        """`loss.backward(); opt.zero_grad(); opt.step()` (or `opt.zero_grad(); opt.step();
        loss.backward()`) in one loop body: the last of `backward()` and the optimiser's
        `zero_grad()` before the step is the zeroing, so the step finds no gradients."""
        body = list(getattr(loop.body, "body", ()))
        if statement not in body:
            return  # under a condition (gradient accumulation): the order is not one path
        at = body.index(statement)
        # A `backward()` anywhere in an earlier statement (a nested loop over chunks) may run; a
        # zeroing counts only as a statement of the body itself, which always runs.
        earlier = {id(node): i for i, line in enumerate(body[:at]) for node in (line, *own_nodes(line))}
        before = sorted(
            ((earlier[id(call)], zero, call) for zero, call, where in events
             if id(call) in earlier and (zero is None or where in body and self._zeroes(zero, key))),
            key=lambda item: item[0],
        )
        before = [(zero, call) for _, zero, call in before]
        if not before or before[-1][0] is None:
            return
        zero_call = before[-1][1]
        zero_statement = next(where for _, call, where in events if call is zero_call)
        backward = next((call for zero, call in reversed(before) if zero is None), None)
        if backward is not None:  # `backward(); zero_grad(); step()`: the zeroing is misplaced
            self.report(zero_call, self._cleared_message, statement=zero_statement, zero=self.source(zero_call),
                        backward=self.source(backward), step=self.source(step))
        else:  # `zero_grad(); step(); backward()`: the step is
            self.report(step, self._unfilled_message, statement=statement, zero=self.source(zero_call),
                        step=self.source(step))

    def _looped_unzeroed(self, function: cst.FunctionDef) -> bool:
        """Whether the project calls the function (or method), each time inside a loop whose
        body zeroes no gradients."""
        sites = self.context.semantic.callers(function)
        for call, place in sites:
            owner = place.scope.functions[0] if place.scope.functions else place.model.module
            loops = next((loops for node, _, loops, _ in scoped_nodes(owner) if node is call), ())
            if not loops or any(self._zeroes_in(loop) for loop in loops):
                return False
        return bool(sites)

    def _zeroes_in(self, loop: cst.For | cst.While) -> bool:
        """Whether the loop's body zeroes any gradients (`zero_grad()`, `p.grad = None`, a helper)."""
        for node in own_nodes(loop.body):
            if isinstance(node, cst.Call):
                method = self.context.names.method(node)
                if method == "zero_grad" or self._zeroing_call(node, node.func):
                    return True
                if method in ("zero_", "fill_", "mul_") and _grad_owner(node.func.value) is not None:
                    return True
            elif isinstance(node, cst.Assign) and any(_grad_owner(t.target) is not None for t in node.targets):
                return True
        return False

    def _zeroes(self, zero: tuple, key: str) -> bool:
        zero_key, model, _ = zero
        if zero_key is not None:
            return zero_key == key or zero_key.rpartition(".")[2] == key.rpartition(".")[2]
        if model is None or not model:
            return True
        owner = key.rpartition(".")[0]
        if owner and owner not in ("self", "cls"):  # `self.disc.optimizer` is zeroed by `self.disc.zero_grad()`
            return model == owner or model.startswith(owner + ".") or owner.startswith(model + ".")
        built_from = self._optimizers.get(key)
        return built_from is None or model.rpartition(".")[2] in built_from

    def _zeroing_call(self, call: cst.Call, func: cst.BaseExpression) -> bool:
        name = _last_name(func)
        if name is None:
            return False
        return bool(_ZEROING_HELPER.search(name)) or name in self._zeroing_functions

    def _reads_grad_of(self, node: cst.CSTNode, owner: cst.BaseExpression) -> bool:
        """Whether `node` reads `owner.grad` (the update of a hand-written SGD step)."""
        if not isinstance(owner, (cst.Name, cst.Attribute)):
            return False
        wanted = self.source(owner)
        return any(
            isinstance(current, cst.Attribute)
            and current.attr.value == "grad"
            and self.source(_strip_data(current.value)) == wanted
            for current in (node, *own_nodes(node))
        )


def _construction_names(call: cst.Call) -> set[str]:
    """Names and attribute names in an optimiser's arguments: `Adam(netD.parameters())` -> netD."""
    found: set[str] = set()
    for arg in call.args:
        found |= referenced_names(arg.value)
        found.update(
            current.attr.value for current in (arg.value, *own_nodes(arg.value)) if isinstance(current, cst.Attribute)
        )
    return found


def _zero_at_top(loop: cst.For | cst.While, optimizer: cst.BaseExpression) -> Fix | None:
    """`optimizer.zero_grad()` as the first statement of the loop body."""
    if not isinstance(loop.body, cst.IndentedBlock):
        return None  # `for x in xs: a(); b()` on one line
    zero = cst.SimpleStatementLine(
        [cst.Expr(cst.Call(cst.Attribute(optimizer.deep_clone(), cst.Name("zero_grad"))))]
    )
    return Fix(loop.body, loop.body.with_changes(body=[zero, *loop.body.body]))


def _training_loop(loops: tuple, backward_loops: list[tuple]) -> cst.CSTNode | None:
    """The innermost loop around `loops` that also holds a backward call."""
    for loop in reversed(loops):
        if any(loop in other for other in backward_loops):
            return loop
    return None


def _zero_value(node: cst.BaseExpression) -> bool:
    return isinstance(node, (cst.Integer, cst.Float)) and float(node.evaluated_value) == 0.0


def _is_zero(call: cst.Call) -> bool:
    return len(call.args) == 1 and _zero_value(call.args[0].value)

from __future__ import annotations

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.names import referenced_names
from gradlint.engine.syntax import assigned_names, bare, own_nodes
from gradlint.engine.walker import iter_children
from gradlint.rule import Fix, Rule, Severity

SWITCH = api_table("closures_switch")
REGISTER = api_table("closures_register")
CONTAINER = api_table("closures_container")
STORING = api_table("closures_storing")

_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp)
_SHOWN_CHARS = 40


class LateBindingClosure(Rule):
    """
    ## What it does
    Checks for a lambda or nested function created inside a loop (a `for` or `while` body,
    or a list, set or dict comprehension) that reads the loop variable, or a name assigned
    from it in the loop body, and is kept to be called after the iteration ends:

    - collected by a comprehension: `[lambda: x * k for k in range(3)]`,
      `{k: lambda: f(k) for k in keys}`;
    - appended or stored into a container that is used after the loop
      (`branches.append(lambda: ...)`, `fns[k] = lambda: ...`, `self.fns.append(...)`),
      for example the branch list later given to `tf.switch_case`, `tf.case`,
      `jax.lax.switch` or `keras.ops.switch`;
    - registered as a hook or callback (`p.register_hook(lambda g: g * scale[i])`,
      `m.register_forward_hook(...)`, `add_callback`), which runs during a later forward or
      backward pass;
    - kept by an object that calls it whenever it runs: `keras.layers.Lambda`,
      `LambdaCallback`, `LambdaLR`, `MultiplicativeLR`, or `setattr(obj, name, lambda: ...)`.

    ## Why is this bad?
    A Python closure reads the loop variable when it is called, not when it is created. By
    then the loop has finished, so every closure sees the last value: every branch computes
    the same thing, and the gradient flowing through the selected branch is the gradient of
    the last one. Nothing fails. Measured with `k` in `range(3)` and `x = 2.0`:

    - TF 2.21.0: `tf.switch_case(i, branches)` returns `[4.0, 4.0, 4.0]` for `i = 0, 1, 2`
      (expected `[0, 2, 4]`), and `tape.gradient` of branch 0 with respect to `x` is `2.0`
      instead of `0.0`; `tf.case` picks the right predicate but runs the last body.
    - JAX 0.10.2: `jax.lax.switch(i, fns, 2.0)` gives `[4.0, 4.0, 4.0]` and `jax.grad` gives
      `2.0` for every branch.
    - Keras 3.15.1: a functional model built from `layers.Lambda(lambda t: t[:, i:i + 1])`
      in a loop over `i` returns `[[3, 3, 3]]` for the input `[[1, 2, 3]]`, in `model(x)`
      and in `model.predict`.
    - torch 2.13.0: `p.register_hook(lambda g: g * scale[i])` over three parameters scales
      every gradient by the last factor (`100` for all, instead of `1`, `10`, `100`), and a
      forward hook per layer records only the last layer's name.

    ## Example
    ```python
    branches = []
    for k in range(num_segments):
        branches.append(lambda: base_lr * decay[k])
    lr = tf.switch_case(segment, branches)
    ```

    Use instead:
    ```python
    branches = []
    for k in range(num_segments):
        branches.append(lambda k=k: base_lr * decay[k])  # or functools.partial
    lr = tf.switch_case(segment, branches)
    ```

    ## Notes
    Not flagged: closures that bind the value (a default argument `lambda k=k: ...`,
    `functools.partial`, a factory function `make_branch(k)` that returns the closure),
    closures used within the iteration that created them (`map`, `sorted(key=...)`,
    `tf.map_fn`, `tf.cond`, `jax.lax.cond` called right there), closures that read no
    name that changes from one iteration to the next, containers created inside the loop
    body or never used after the loop, and hooks whose handle is removed in the same
    iteration (`h = m.register_forward_hook(...); ...; h.remove()`). A generator
    expression is lazy and not flagged. Reported only in files that import an ML framework.


    Known misses: a closure wrapped in another call before it is stored
    (`fns.append(tf.function(lambda: k))`, `property(lambda self: ...)`), attributes
    assigned in the loop (`m.fn = lambda: ...`), containers passed to a function that
    stores them, and loops in one function whose closures escape through `return`
    of a single closure.

    ## Severity
    Error when the closures are given to `tf.case`, `tf.switch_case`, `jax.lax.switch` or
    `keras.ops.switch` after the loop (measured above); warning otherwise.

    ## References
    - Python FAQ: "Why do lambdas defined in a loop with different values all return the
      same result?"
    - tensorflow/tensorflow#8776 and Stack Overflow threads on `tf.case` in a loop always
      taking the last branch.
    """

    code = "GL051"
    severity = Severity.WARNING
    other_severities = (Severity.ERROR,)  # see ## Severity
    message = (
        "{closure} reads loop variable `{var}` but runs later ({late}): all see its last value; "
        "bind `{var}={var}`"
    )
    fix_title = "bind the variable when the closure is made: a default argument (`lambda v=v: ...`)"
    frameworks = ("tensorflow", "keras", "jax", "torch", "numpy")

    def __init__(self, context) -> None:
        super().__init__(context)
        self._loops: list[_Loop] = []
        self._switch_args: set[int] = set()
        # Per scope: (loop or statement anchor, container name, closure, var, statement, late).
        self._pending: dict[int, list[tuple]] = {}

    # Loops ----------------------------------------------------------------------------------

    def _scope(self) -> int:
        scopes = self.context.scopes
        return id(scopes[-1]) if scopes else 0

    def visit_For(self, node: cst.For) -> None:
        self._loops.append(_Loop(node, self._scope()))

    def leave_For(self, node: cst.For) -> None:
        self._loops.pop()

    def visit_While(self, node: cst.While) -> None:
        self._loops.append(_Loop(node, self._scope()))

    def leave_While(self, node: cst.While) -> None:
        self._loops.pop()

    def _comprehension(self, node: cst.BaseComp) -> None:
        loop = _Loop(node, self._scope())
        self._loops.append(loop)
        element = node.value if isinstance(node, cst.DictComp) else node.elt
        for closure in _direct_closures(element):
            var = _read_var(closure, loop.varying())
            if var is None:
                continue
            statement = self.context.current_statement()
            if id(node) in self._switch_args:
                self._report(closure, var, "built in a comprehension for a switch", statement, Severity.ERROR)
                continue
            name = _assigned_to(statement, node)
            if name is not None:
                self._pending.setdefault(loop.scope, []).append(
                    (statement, name, closure, var, statement, "built in a comprehension")
                )
            else:
                self._report(closure, var, "built in a comprehension", statement)

    def visit_ListComp(self, node: cst.ListComp) -> None:
        self._comprehension(node)

    def leave_ListComp(self, node: cst.ListComp) -> None:
        self._loops.pop()

    def visit_SetComp(self, node: cst.SetComp) -> None:
        self._comprehension(node)

    def leave_SetComp(self, node: cst.SetComp) -> None:
        self._loops.pop()

    def visit_DictComp(self, node: cst.DictComp) -> None:
        self._comprehension(node)

    def leave_DictComp(self, node: cst.DictComp) -> None:
        self._loops.pop()

    # Closures defined in a loop and stored under a name -------------------------------------

    def _loop_here(self) -> _Loop | None:
        if self._loops and self._loops[-1].scope == self._scope():
            return self._loops[-1]
        return None

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if not self._loops:
            return
        scopes = self.context.scopes
        parent = id(scopes[-2]) if len(scopes) >= 2 else 0
        loop = self._loops[-1]
        if loop.scope == parent:
            loop.closures[node.name.value] = (node, node)

    def visit_Assign(self, node: cst.Assign) -> None:
        loop = self._loop_here()
        if loop is None:
            return
        statement = self.context.current_statement()
        for target in node.targets:
            target = target.target
            if isinstance(target, cst.Name):
                if isinstance(node.value, cst.Lambda):
                    loop.closures[target.value] = (node.value, statement)
                else:
                    loop.closures.pop(target.value, None)
            elif isinstance(target, cst.Subscript) and isinstance(target.value, (cst.Name, cst.Attribute)):
                self._stored(target.value, [node.value], statement)

    # Where closures escape the iteration -------------------------------------------------------

    def visit_Call(self, node: cst.Call) -> None:
        if any(isinstance(arg.value, _COMPREHENSIONS) for arg in node.args) and self.callee(node, SWITCH):
            self._switch_args.update(id(arg.value) for arg in node.args)
        if not self._loops or self._loop_here() is None:
            return
        statement = self.context.current_statement()
        values = [arg.value for arg in node.args]
        method = self.context.names.method(node)
        if method is not None:
            receiver = node.func.value
            if method in CONTAINER.methods and isinstance(receiver, (cst.Name, cst.Attribute)):
                self._stored(receiver, values, statement)
            elif method in REGISTER.methods:
                if self._handle_removed(statement, node):
                    return
                self._escape(values, statement, f"registered by `.{method}`")
            return
        if isinstance(node.func, cst.Name) and node.func.value == "setattr" and len(values) == 3:
            self._escape(values[2:], statement, "kept by `setattr`")
        elif self.callee(node, STORING):
            self._escape(values, statement, f"kept by `{self.source(node.func)}`")

    def _closures(self, values: list[cst.BaseExpression]) -> list[tuple[cst.CSTNode, cst.CSTNode | None]]:
        found = []
        loop = self._loops[-1]
        for value in values:
            for item in _flatten(value):
                if isinstance(item, cst.Lambda):
                    found.append((item, None))
                elif isinstance(item, cst.Name) and item.value in loop.closures:
                    found.append(loop.closures[item.value])
        return found

    def _escape(self, values: list[cst.BaseExpression], statement: cst.CSTNode | None, late: str) -> None:
        for closure, where in self._closures(values):
            found = self._loop_var(closure)
            if found is not None:
                self._report(closure, found[1], late, where or statement)

    def _stored(self, container: cst.BaseExpression, values: list[cst.BaseExpression], statement) -> None:
        closures = self._closures(values)
        if not closures:
            return
        for closure, where in closures:
            found = self._loop_var(closure)
            if found is None:
                continue
            loop, var = found
            if isinstance(container, cst.Attribute):
                self._report(closure, var, f"kept in `{self.source(container)}`", where or statement)
            elif container.value not in loop.assigned():
                self._pending.setdefault(loop.scope, []).append(
                    (loop.node, container.value, closure, var, where or statement, f"kept in `{container.value}`")
                )

    def _loop_var(self, closure: cst.CSTNode) -> tuple[_Loop, str] | None:
        scope = self._scope()
        for loop in reversed(self._loops):
            if loop.scope != scope:
                break
            var = _read_var(closure, loop.varying())
            if var is not None:
                return loop, var
        return None

    def _handle_removed(self, statement: cst.CSTNode | None, call: cst.Call) -> bool:
        """`h = m.register_forward_hook(...)` with `h.remove()` later in the same loop body."""
        if not isinstance(statement, cst.SimpleStatementLine):
            return False
        handles = {
            name
            for small in statement.body
            if isinstance(small, cst.Assign) and small.value is call
            for target in small.targets
            for name in assigned_names(target.target)
        }
        loop = self._loops[-1].node
        if not handles or not isinstance(loop, (cst.For, cst.While)):
            return False
        for node in own_nodes(loop.body):
            if (
                isinstance(node, cst.Call)
                and isinstance(node.func, cst.Attribute)
                and node.func.attr.value == "remove"
                and isinstance(node.func.value, cst.Name)
                and node.func.value.value in handles
            ):
                return True
        return False

    # Reports ------------------------------------------------------------------------------------

    def _report(self, closure, var: str, late: str, statement, severity: Severity | None = None) -> None:
        if isinstance(closure, cst.FunctionDef):
            node, shown = closure.name, f"`{closure.name.value}`"
        else:
            node, text = closure, self.source(bare(closure))
            if len(text) > _SHOWN_CHARS:
                text = text[: _SHOWN_CHARS - 3] + "..."
            shown = f"`{text}`"
        self.report(node, closure=shown, var=var, late=late, statement=statement, severity=severity,
                    fix=_bind_default(closure, var))

    def _flush(self, scope: int, body: cst.CSTNode) -> None:
        for anchor, name, closure, var, statement, late in self._pending.pop(scope, ()):
            used, switch = _uses_after(body, anchor, name, self)
            if not used:
                continue
            if switch is not None:
                late = f"{late}, given to `{self.source(switch.func)}`"
                self._report(closure, var, late, statement, Severity.ERROR)
            else:
                self._report(closure, var, late, statement)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        if self._pending:
            self._flush(id(node), node.body)

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        if self._pending:
            self._flush(id(node), node.body)

    def leave_Module(self, node: cst.Module) -> None:
        if self._pending:
            self._flush(0, node)


class _Loop:
    """A loop (or comprehension), the names that change between its iterations, and the
    closures bound to names in its body."""

    __slots__ = ("node", "scope", "closures", "_varying", "_assigned")

    def __init__(self, node: cst.CSTNode, scope: int) -> None:
        self.node = node
        self.scope = scope
        self.closures: dict[str, tuple[cst.CSTNode, cst.CSTNode]] = {}
        self._varying: frozenset[str] | None = None
        self._assigned: frozenset[str] | None = None

    def _bindings(self) -> list[tuple[list[str], set[str] | None]]:
        """(names bound, names read by the value; None when the binding changes by itself)."""
        found = []
        for node in own_nodes(self.node.body):
            if isinstance(node, cst.Assign):
                names = [n for t in node.targets for n in assigned_names(t.target)]
                found.append((names, _value_names(node.value)))
            elif isinstance(node, cst.AnnAssign) and node.value is not None:
                found.append((list(assigned_names(node.target)), _value_names(node.value)))
            elif isinstance(node, cst.NamedExpr):
                found.append((list(assigned_names(node.target)), _value_names(node.value)))
            elif isinstance(node, cst.AugAssign):
                found.append((list(assigned_names(node.target)), None))
            elif isinstance(node, cst.For):
                found.append((list(assigned_names(node.target)), None))
            elif isinstance(node, cst.WithItem) and node.asname is not None:
                found.append((list(assigned_names(node.asname.name)), _value_names(node.item)))
        return found

    def assigned(self) -> frozenset[str]:
        if self._assigned is None:
            if isinstance(self.node, (cst.For, cst.While)):
                self._assigned = frozenset(n for names, _ in self._bindings() for n in names)
            else:
                self._assigned = frozenset()
        return self._assigned

    def varying(self) -> frozenset[str]:
        if self._varying is not None:
            return self._varying
        if isinstance(self.node, _COMPREHENSIONS):
            varying: set[str] = set()
            clause = self.node.for_in
            while clause is not None:
                varying.update(assigned_names(clause.target))
                clause = clause.inner_for_in
            self._varying = frozenset(varying)
            return self._varying
        bindings = self._bindings()
        if isinstance(self.node, cst.For):
            varying = set(assigned_names(self.node.target))
        else:
            # A `while` loop changes what its body rebinds from itself or from a call.
            varying = {
                n for names, read in bindings
                if read is None or read & set(names) or "()" in read
                for n in names
            }
        for _ in range(3):
            before = len(varying)
            for names, read in bindings:
                if read is None or read & varying:
                    varying.update(names)
            if len(varying) == before:
                break
        self._varying = frozenset(varying)
        return self._varying


def _value_names(value: cst.BaseExpression) -> set[str]:
    names = referenced_names(value)
    if any(isinstance(node, cst.Call) for node in own_nodes(value)) or isinstance(value, cst.Call):
        names.add("()")
    return names


def _flatten(value: cst.BaseExpression, depth: int = 0) -> list[cst.BaseExpression]:
    if depth > 2:
        return []
    if isinstance(value, (cst.Tuple, cst.List, cst.Set)):
        return [item for element in value.elements for item in _flatten(element.value, depth + 1)]
    if isinstance(value, cst.Dict):
        return [
            item
            for element in value.elements
            if isinstance(element, cst.DictElement)
            for item in _flatten(element.value, depth + 1)
        ]
    return [value]


def _direct_closures(element: cst.BaseExpression) -> list[cst.Lambda]:
    return [item for item in _flatten(element) if isinstance(item, cst.Lambda)]


def _parameters(params: cst.Parameters) -> set[str]:
    found = {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            found.add(star.name.value)
    return found


def _read_var(closure: cst.CSTNode, varying: frozenset[str]) -> str | None:
    """The first name of `varying` that the closure reads from its enclosing scope."""
    if not varying:
        return None
    if isinstance(closure, cst.Lambda):
        free = referenced_names(closure.body) - _parameters(closure.params)
    elif isinstance(closure, cst.FunctionDef):
        local = _parameters(closure.params)
        for node in own_nodes(closure.body):
            if isinstance(node, cst.Assign):
                local.update(n for t in node.targets for n in assigned_names(t.target))
            elif isinstance(node, (cst.AugAssign, cst.AnnAssign, cst.NamedExpr, cst.For)):
                local.update(assigned_names(node.target))
        free = referenced_names(closure.body) - local
    else:
        return None
    hits = free & varying
    if not hits:
        return None
    # Prefer the loop target's own spelling order: report a stable, readable name.
    return sorted(hits)[0]


def _assigned_to(statement: cst.CSTNode | None, value: cst.CSTNode) -> str | None:
    if isinstance(statement, cst.SimpleStatementLine):
        for small in statement.body:
            if isinstance(small, cst.Assign) and small.value is value and len(small.targets) == 1:
                target = small.targets[0].target
                if isinstance(target, cst.Name):
                    return target.value
    return None


def _uses_after(body: cst.CSTNode, anchor: cst.CSTNode, name: str, rule: Rule) -> tuple[bool, cst.Call | None]:
    """Whether `name` is read after `anchor` (not inside it), and a switch call it is given to."""
    used = False
    after = False
    stack = [body]
    while stack:
        node = stack.pop()
        if node is anchor:
            after = True
            continue
        if after:
            if isinstance(node, cst.Name) and node.value == name:
                used = True
            elif isinstance(node, cst.Call) and rule.callee(node, SWITCH):
                if any(name in referenced_names(arg.value) for arg in node.args):
                    return True, node
        children = iter_children(node)
        children.reverse()
        stack.extend(children)
    return used, None


def _bind_default(closure: cst.Lambda | cst.FunctionDef, var: str) -> Fix | None:
    """`lambda: f(v)` -> `lambda v=v: f(v)`: the default is evaluated when the closure is made."""
    params = closure.params
    if params.star_arg is not cst.MaybeSentinel.DEFAULT or params.kwonly_params or params.star_kwarg:
        return None  # a parameter after `*args` would have to be keyword-only: leave it to the user
    if any(param.name.value == var for param in (*params.posonly_params, *params.params)):
        return None
    no_space = cst.SimpleWhitespace("")
    bound = cst.Param(cst.Name(var), default=cst.Name(var), equal=cst.AssignEqual(no_space, no_space))
    new_params = params.with_changes(params=[*params.params, bound])
    if isinstance(closure, cst.Lambda):
        changes = {"params": new_params}
        if not params.params and not params.posonly_params:
            changes["whitespace_after_lambda"] = cst.SimpleWhitespace(" ")
        return Fix(closure, closure.with_changes(**changes))
    return Fix(closure.params, new_params)

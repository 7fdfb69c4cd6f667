from __future__ import annotations

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.gradients import not_differentiated
from gradlint.engine.names import referenced_names
from gradlint.engine.syntax import argument, assigned_names, number, own_nodes
from gradlint.engine.walker import iter_tree
from gradlint.rule import Rule, Severity
from gradlint.semantic.model import ModuleModel

GRADIENT_TAPE = api_table("closures_gradient_tape")
GRAD_TRANSFORM = api_table("closures_grad_transform")
TF1_GRAPH = api_table("closures_tf1_graph")
KERAS_OPTIMIZER = api_table("closures_keras_optimizer")
LBFGS = api_table("closures_lbfgs")

# Values that are computed (a tensor), as opposed to a function, a name or a constant.
_COMPUTED = (cst.Call, cst.BinaryOperation, cst.UnaryOperation, cst.Subscript)


class StaleLossCallable(Rule):
    """
    ## What it does
    Checks for a loss that is computed once and then handed to code that must compute it
    again, under the eye of autodiff:

    - `tape.gradient(loss, variables)` where `loss` is assigned only before the
      `with tf.GradientTape() as tape:` block began;
    - `optimizer.minimize(lambda: loss, var_list)` (or a local `def loss_fn(): return loss`)
      where `loss` was computed before the call;
    - `optimizer.minimize(loss, var_list=...)` with a loss tensor and a Keras optimizer, in
      a file with no TF1 graph-mode code;
    - torch `optimizer.step(closure)` where the closure returns a loss computed outside it
      and never calls `backward()`;
    - `jax.grad(lambda p: loss)` (also `value_and_grad`, `jacrev`, `jacfwd`, `hessian`,
      `torch.func.grad`): a function that never reads the argument being differentiated.

    ## Why is this bad?
    Autodiff only sees operations that run while it is recording (a tape, the callable an
    optimiser calls, the traced function). A loss computed before has no recorded path to
    the variables:

    - TF 2.21.0: `tape.gradient(loss, w)` returns `None` for a `loss` computed before the
      `with` block (`-9.6` when computed inside). `tf.compat.v1.train.GradientDescentOptimizer
      .minimize(lambda: loss, var_list=[w])` raises `ValueError: No gradients provided for
      any variable`; passing the tensor itself raises `RuntimeError: loss passed to
      Optimizer.compute_gradients should be a function when eager execution is enabled`.
      Keras 3 optimizers (3.15.1) have no `minimize` at all.
    - torch 2.13.0: three `LBFGS.step(closure)` calls with a closure returning a stale
      loss move a 1-to-1 linear fit to a loss of `8.13` along the old gradient; the closure
      that recomputes the loss and calls `backward()` reaches `1.9e-12`.
    - JAX 0.10.2: `jax.grad(lambda q: L)(p)` with `L` computed from `p` beforehand is `0.0`.

    ## Example
    ```python
    loss = loss_fn(model(x), y)
    with tf.GradientTape() as tape:
        predictions = model(x)
    grads = tape.gradient(loss, model.trainable_variables)  # None
    ```

    Use instead:
    ```python
    with tf.GradientTape() as tape:
        loss = loss_fn(model(x), y)
    grads = tape.gradient(loss, model.trainable_variables)
    ```

    ## Notes
    Not flagged: a loss computed inside the tape (also when it was assigned before as
    well), `minimize(lambda: loss_fn(model(x), y), var_list)`, closures that call the
    model or `backward()`, or assign the loss themselves (`nonlocal`), Keras 3
    `optimizer.apply_gradients`, TF1 graph-mode `optimizer.minimize(loss_tensor)` (a
    receiver built from `tf.train.*Optimizer` or `tf.compat.v1.train.*Optimizer`, or a file
    using `Session`, `placeholder`, `disable_eager_execution`, `get_variable`), `minimize`
    given `tape=` (Keras 2), torch optimisers other than LBFGS (they call the closure once,
    so a stale closure only returns a stale number), parameters named `_...`, tests.
    Objectives handed to `scipy.optimize` are GL050's.

    Names and `self` attributes are read through the semantic model: a loss, a closure or an
    optimiser held in one (`lambda: self.loss` with `self.loss` computed in another method)
    counts when one assignment reaches the read.

    Known misses: tapes entered without `with` (`tape.__enter__()`), closures defined in
    another function or module, a `GradientTape` assigned to a name before the `with`.

    ## Severity
    Error for the tape, for a callable that returns a precomputed loss and for an LBFGS
    closure; warning for a loss tensor given to `minimize` and for a stale closure given to an
    optimiser of unknown type.

    ## References
    - TensorFlow guide "Introduction to gradients and automatic differentiation": the tape
      records operations executed inside the context.
    - tf.compat.v1.train.Optimizer.minimize: in eager mode `loss` must be a callable.
    - torch.optim.LBFGS: the closure "should clear the gradients, compute the loss, and
      return it".
    """

    code = "GL052"
    severity = Severity.ERROR
    other_severities = (Severity.WARNING,)  # see ## Severity
    message = "{subject} {problem}: {effect}; {remedy}"
    frameworks = ("tensorflow", "keras", "torch", "jax")

    def __init__(self, context) -> None:
        super().__init__(context)
        # Per function (id of the innermost function, 0 for the module): tape name -> its `with`.
        self._tapes: dict[int, dict[str, cst.With]] = {}
        self._tf1: bool | None = None

    # What a name holds (the semantic model) -------------------------------------------------

    def _key(self) -> int:
        function = self.context.enclosing(cst.FunctionDef)
        return id(function) if function is not None else 0


    def _held(self, node: cst.BaseExpression) -> object:
        """The value a name or `self` attribute holds here, when one assignment (or `def`)
        reaches the read."""
        found = ModuleModel.only_assignment(node, self.place())
        return found[0] if found is not None else None

    def visit_With(self, node: cst.With) -> None:
        for item in node.items:
            if item.asname is not None and isinstance(item.asname.name, cst.Name):
                if isinstance(item.item, cst.Call) and self.callee(item.item, GRADIENT_TAPE):
                    self._tapes.setdefault(self._key(), {})[item.asname.name.value] = node

    # The calls -------------------------------------------------------------------------------

    def visit_Call(self, node: cst.Call) -> None:
        method = self.context.names.method(node)
        if method == "gradient":
            self._tape_gradient(node)
        elif method == "minimize":
            self._minimize(node)
        elif method == "step":
            self._step(node)
        elif method is None and self.callee(node, GRAD_TRANSFORM):
            self._grad_transform(node)

    def _tape_gradient(self, node: cst.Call) -> None:
        receiver = node.func.value
        if not isinstance(receiver, cst.Name):
            return
        started = self._tapes.get(self._key(), {}).get(receiver.value)
        target = argument(node, "target", 0)
        if started is None or not isinstance(target, cst.Name):
            return
        sources = argument(node, "sources", 1)
        if sources is not None and target.value in referenced_names(sources):
            return
        # Every assignment of the name in the function, before the tape started (one made
        # later may be what a later turn of a loop differentiates).
        values = ModuleModel.assignments(target, self.context.semantic.place(self.context.scopes))
        start = self.context.semantic.place(self.context.scopes, started).scope.at
        if not values or start is None or any(at.scope.at is None or at.scope.at >= start for _, _, at in values):
            return
        if not any(isinstance(value, _COMPUTED) for value, _, _ in values):
            return
        name = target.value
        self.report(
            node,
            subject=f"`{self.source(node.func)}({name}, ...)`",
            problem=f"differentiates `{name}`, computed before the tape's `with` block",
            effect="the gradient is None",
            remedy="compute it inside the block",
        )

    def _stale_return(self, function: object) -> str | None:
        """The captured, precomputed name a parameterless callable returns, else None."""
        if isinstance(function, cst.Lambda):
            if _parameters(function.params):
                return None
            body = function.body
            return self.source(body) if isinstance(self._held(body), _COMPUTED) else None
        if not isinstance(function, cst.FunctionDef) or _parameters(function.params):
            return None
        returned = None
        local: set[str] = set()
        for node in own_nodes(function.body):
            if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "backward":
                return None
            if isinstance(node, (cst.Global, cst.Nonlocal)):
                return None
            if isinstance(node, cst.Assign):
                local.update(n for t in node.targets for n in assigned_names(t.target))
            elif isinstance(node, (cst.AugAssign, cst.AnnAssign, cst.NamedExpr, cst.For)):
                local.update(assigned_names(node.target))
            elif isinstance(node, cst.Return):
                if not isinstance(node.value, cst.Name) or returned is not None:
                    return None
                returned = node.value.value
        if returned is None or returned in local:
            return None
        return returned if isinstance(self._held(cst.Name(returned)), _COMPUTED) else None

    def _callable(self, value: cst.BaseExpression | None) -> object:
        if isinstance(value, (cst.Name, cst.Attribute)):
            bound = self._held(value)
            return bound if isinstance(bound, (cst.Lambda, cst.FunctionDef)) else None
        return value if isinstance(value, cst.Lambda) else None

    def _constructor(self, receiver: cst.BaseExpression) -> cst.Call | None:
        value = self._held(receiver)
        return value if isinstance(value, cst.Call) else None

    def _minimize(self, node: cst.Call) -> None:
        loss = argument(node, "loss", 0)
        if loss is None or not_differentiated(self.context):
            return
        function = self._callable(loss)
        if function is not None:
            name = self._stale_return(function)
            if name is not None:
                self.report(
                    loss,
                    subject=f"`{self.source(loss)}` given to `{self.source(node.func)}`",
                    problem=f"returns `{name}`, computed before the call",
                    effect="no variable gets a gradient",
                    remedy="compute the loss inside the callable",
                )
            return
        if not isinstance(self._held(loss), _COMPUTED):
            return
        if argument(node, "tape") is not None:
            return
        constructor = self._constructor(node.func.value)
        if constructor is None or not self.callee(constructor, KERAS_OPTIMIZER) or self._graph_mode():
            return
        self.report(
            loss,
            subject=f"`{self.source(node.func)}({self.source(loss)}, ...)`",
            problem="gets a loss tensor, not a callable",
            effect="eager TF cannot differentiate it",
            remedy="pass `lambda:` + the code computing it",
            severity=Severity.WARNING,
        )

    def _graph_mode(self) -> bool:
        if self._tf1 is None:
            names = self.context.names
            self._tf1 = any(
                isinstance(node, (cst.Attribute, cst.Name)) and names.qualified_names(node) & TF1_GRAPH
                for node in iter_tree(self.context.module)
            )
        return self._tf1

    def _step(self, node: cst.Call) -> None:
        closure = argument(node, "closure", 0)
        function = self._callable(closure)
        if function is None or not_differentiated(self.context):
            return
        name = self._stale_return(function)
        if name is None:
            return
        severity = Severity.WARNING
        constructor = self._constructor(node.func.value)
        if constructor is not None:
            optimizer = self.qualified_names(constructor.func)
            if optimizer & LBFGS:
                severity = Severity.ERROR
            elif any(q.startswith("torch.optim.") for q in optimizer):
                return  # called once: a stale closure only returns a stale number
        self.report(
            node,
            subject=f"the closure given to `{self.source(node.func)}`",
            problem=f"returns `{name}`, computed outside it, with no `backward()`",
            effect="every re-evaluation sees the old loss",
            remedy="recompute the loss and call backward() in it",
            severity=severity,
        )

    def _grad_transform(self, node: cst.Call) -> None:
        fun = argument(node, "fun", 0) or argument(node, "func")
        function = self._callable(fun)
        if function is None or not_differentiated(self.context):
            return
        argnums = argument(node, "argnums", 1)
        index = 0 if argnums is None else number(argnums)
        if index is None or index != int(index) or index < 0:
            return
        ordered = [*function.params.posonly_params, *function.params.params]
        if int(index) >= len(ordered):
            return
        param = ordered[int(index)].name.value
        if param.startswith("_") or param in referenced_names(function.body):
            return
        shown = self.source(fun) if len(self.source(fun)) <= 40 else self.source(fun)[:37] + "..."
        self.report(
            fun,
            subject=f"`{shown}` given to `{self.source(node.func)}`",
            problem=f"never reads `{param}`, the argument differentiated",
            effect="the gradient is zero",
            remedy="compute the value from it",
        )


def _parameters(params: cst.Parameters) -> list[str]:
    found = [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            found.append(star.name.value)
    return found

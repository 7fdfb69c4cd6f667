"""Per-function summaries: what a module's own function does with its parameters.

A summary is computed once per function and memoised on the module's model. Those kept:

- which parameter a function treats as logits. A parameter passed as the logits of a
  framework loss (`F.cross_entropy(p, y)`, `optax.sigmoid_binary_cross_entropy(p, z)`), to a
  `log_softmax`, to another summarised function at its logits position, or written into the
  stable sigmoid cross-entropy `... log(1 + exp(-abs(p)))`, makes the function a loss on
  logits at that position, whatever it is called (GL082 then checks its callers);
- which parameter a function returns the sum of squares of (`return jnp.sum(d ** 2, -1)`):
  non-negative, and exactly zero when that argument is the zero vector;
- which parameter a function returns the Euclidean norm of with nothing under the root but
  that sum (`return jnp.sqrt(squared_length(d))`, `return jnp.linalg.norm(d)`): its gradient
  is NaN at the zero vector (GL030 then checks what its callers pass there);
- which parameter a function returns views of (`return x[:, :c], x[:, c:]`, `return
  x.view(n, -1)`): a caller's write to the result writes that argument's storage (GL092).

A summary may name another module's function: `ModuleModel.project_function` finds it
through the project index, and that module's own summaries answer.
"""

from __future__ import annotations

import weakref

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.syntax import argument, assigned_names, is_constant, number, own_nodes, positional, small_statements
from gradlint.semantic.views import viewed_name

LOGITS_FIRST = api_table("softmax_logits_loss_first")
LOGITS_SECOND = api_table("softmax_logits_loss_second")
LOGITS_DISTRIBUTION = api_table("softmax_logits_distribution")
FROM_LOGITS_FUNCTION = api_table("softmax_from_logits_function")
LOG_SOFTMAX = api_table("softmax_log_softmax")
EXP = api_table("softmax_exp")
ABSOLUTE = api_table("semantic_absolute")
SQRT = api_table("roots_sqrt")
POW = api_table("roots_pow")
NORM = api_table("roots_norm")
SQUARE = api_table("roots_square")
REDUCE = api_table("roots_reduce")
SELF_PRODUCT = api_table("roots_self_product")
MAX_DEPTH = 3  # summarised functions followed through one another


class Summaries:
    """The summaries of one module's functions (`ModuleModel.logits_parameter`)."""

    def __init__(self, model) -> None:
        self.model = weakref.proxy(model)  # the model holds this: no cycle keeps a piece's tree alive
        self.names = model.names
        self._logits: dict[str, tuple[int, str] | None] = {}
        self._squares: dict[str, tuple[int, str] | None] = {}
        self._norms: dict[str, tuple[int, str] | None] = {}
        self._views: dict[str, tuple[str | None, ...] | str | None] = {}

    def logits_parameter(self, name: str, depth: int = 0) -> tuple[int, str] | None:
        """The position and name of the parameter that the module's function `name` uses as
        logits, or None."""
        if name in self._logits:
            return self._logits[name]
        function = self.model.functions.get(name)
        if function is None or depth > MAX_DEPTH:
            return None
        self._logits[name] = None  # a recursive call answers None while this one is open
        params = [p.name.value for p in (*function.params.posonly_params, *function.params.params)]
        local = _single_assignments(function)
        found = None
        for node in own_nodes(function.body):
            used = self._logits_use(node, local, depth) if isinstance(node, cst.Call) else None
            if used in params:
                found = (params.index(used), used)
                break
        self._logits[name] = found
        return found

    def viewed_parameters(self, name: str) -> tuple[str | None, ...] | str | None:
        """The parameter whose storage the module's function `name` returns a view of; for a
        function returning a tuple, the parameter each element views (None where one does not),
        when every `return` agrees; else None."""
        if name in self._views:
            return self._views[name]
        function = self.model.functions.get(name)
        found = None
        if function is not None:
            params = _parameter_names(function) - _rebound_names(function)
            answers = {
                self._returned_views(node.value, params)
                for node in small_statements(function.body)
                if isinstance(node, cst.Return)
            }
            found = answers.pop() if len(answers) == 1 else None
        self._views[name] = found
        return found

    def _returned_views(self, value: cst.BaseExpression | None, params: set[str]) -> tuple[str | None, ...] | str | None:
        if isinstance(value, (cst.Tuple, cst.List)):
            views = tuple(self._returned_views(element.value, params) for element in value.elements)
            return views if any(isinstance(view, str) for view in views) else None
        if value is None or isinstance(value, cst.Name):
            return None  # the argument itself, not a view of it
        viewed = viewed_name(value, self.names)
        return viewed if viewed in params else None

    def _logits_use(self, call: cst.Call, local: dict[str, cst.BaseExpression], depth: int) -> str | None:
        """The name that `call` takes as logits, when it is a bare name (`local`: the
        function's names assigned once, followed to their value)."""
        names = self.names.qualified_names(call.func)
        method = self.names.method(call)
        if names & (LOGITS_FIRST | LOGITS_SECOND | LOGITS_DISTRIBUTION | FROM_LOGITS_FUNCTION):
            value = logits_argument(call, names)
        elif names & LOG_SOFTMAX:
            value = argument(call, "logits", 0) or argument(call, "x", 0) or argument(call, "input", 0)
        elif method in LOG_SOFTMAX.methods:
            value = call.func.value
        elif names & EXP or method in EXP.methods:
            value = call.func.value if method else argument(call, "x", 0)
            if isinstance(value, cst.Name) and value.value in local:  # `neg_abs = -abs(x)`
                value = local[value.value]
            value = self._negated_absolute(value)
        elif isinstance(call.func, cst.Name) and call.func.value in self.model.functions:
            position = self.logits_parameter(call.func.value, depth + 1)
            value = None if position is None else argument(call, position[1], position[0])
        else:
            return None
        return value.value if isinstance(value, cst.Name) else None

    def _negated_absolute(self, node: cst.BaseExpression | None) -> cst.BaseExpression | None:
        """`x` in `-abs(x)`."""
        if not (isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus)):
            return None
        inner = node.expression
        if not isinstance(inner, cst.Call):
            return None
        method = self.names.method(inner)
        if method in ABSOLUTE.methods:
            return inner.func.value
        builtin = isinstance(inner.func, cst.Name) and inner.func.value in ABSOLUTE.info["builtins"] and not self.names.qualified_names(inner.func)
        if builtin or self.names.qualified_names(inner.func) & ABSOLUTE:
            return argument(inner, "x", 0)
        return None


    # Sums of squares and norms of a parameter ----------------------------------------------------

    def squares_parameter(self, name: str, depth: int = 0) -> tuple[int, str] | None:
        """The position and name of the parameter whose sum of squares the module's function
        `name` returns from its one `return` (`jnp.sum(d ** 2, -1)`, `(d * d).sum()`,
        `jnp.vdot(d, d)`, another such function of `d`), or None."""
        return self._parameter_summary(self._squares, name, depth, self._squares_of)

    def norm_parameter(self, name: str, depth: int = 0) -> tuple[int, str] | None:
        """The position and name of the parameter whose Euclidean norm (or its reciprocal) the
        module's function `name` returns, with no epsilon or clamp under the root
        (`jnp.sqrt(jnp.sum(d ** 2))`, `jnp.sqrt(squared_length(d))`, `jnp.linalg.norm(d)`), or
        None."""
        return self._parameter_summary(self._norms, name, depth, self._norm_of)

    def _parameter_summary(self, memo: dict, name: str, depth: int, find) -> tuple[int, str] | None:
        if name in memo:
            return memo[name]
        function = self.model.functions.get(name)
        if function is None or depth > MAX_DEPTH:
            return None
        memo[name] = None  # a recursive call answers None while this one is open
        params = [p.name.value for p in (*function.params.posonly_params, *function.params.params)]
        returns = [node for node in own_nodes(function.body) if isinstance(node, cst.Return)]
        found = None
        if len(returns) == 1 and returns[0].value is not None:
            local = _single_assignments(function)
            used = find(_followed(returns[0].value, local), local, depth)
            if isinstance(used, cst.Name) and used.value in params:
                found = (params.index(used.value), used.value)
        memo[name] = found
        return found

    def _squares_of(self, node: cst.BaseExpression, local: dict, depth: int) -> cst.BaseExpression | None:
        """`x` when `node` is a sum of squares of `x`."""
        if not isinstance(node, cst.Call):
            return None
        method = self.names.method(node)
        names = self.names.qualified_names(node.func)
        if method in REDUCE.methods:
            return self._square_of(_followed(node.func.value, local))
        if names & REDUCE:
            return self._square_of(_followed(argument(node, ("a", "x", "input", "input_tensor"), 0), local))
        pair = [node.func.value, *positional(node)] if method in SELF_PRODUCT.methods else positional(node)
        if (names & SELF_PRODUCT or method in SELF_PRODUCT.methods) and len(pair) == 2:
            return pair[0] if _same(pair[0], pair[1]) else None
        return self._summarised_argument(node, depth, "squares_parameter")

    def _square_of(self, node: cst.BaseExpression | None) -> cst.BaseExpression | None:
        """`x` of `x ** 2`, `x * x`, `square(x)`, `x.square()`, `x.pow(2)`."""
        if isinstance(node, cst.BinaryOperation):
            if isinstance(node.operator, cst.Power) and number(node.right) == 2:
                return node.left
            if isinstance(node.operator, cst.Multiply) and _same(node.left, node.right):
                return node.left
            return None
        if not isinstance(node, cst.Call):
            return None
        method = self.names.method(node)
        if self.names.qualified_names(node.func) & SQUARE:
            return argument(node, "x", 0)
        if method in SQUARE.methods or (method in POW.methods and [number(a) for a in positional(node)] == [2]):
            return node.func.value
        return None

    def _norm_of(self, node: cst.BaseExpression, local: dict, depth: int) -> cst.BaseExpression | None:
        """`x` when `node` is a root of a sum of squares of `x` with nothing else under it, or an
        L2 norm API of `x`."""
        under = None
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Power) and number(node.right) == 0.5:
            under = node.left
        elif isinstance(node, cst.Call):
            names = self.names.qualified_names(node.func)
            method = self.names.method(node)
            if names & SQRT:
                under = argument(node, "x", 0)
            elif method in SQRT.methods and not node.args:
                under = node.func.value
            elif names & NORM and len(positional(node)) == 1 and argument(node, "ord") is None:
                return positional(node)[0]  # the default order is the L2 norm
            else:
                return self._summarised_argument(node, depth, "norm_parameter")
        return None if under is None else self._squares_of(_followed(under, local), local, depth)

    def _summarised_argument(self, call: cst.Call, depth: int, summary: str) -> cst.BaseExpression | None:
        """The argument `call` passes at the position a function's summary names (the function
        of this module or of another module of the project)."""
        target = self.model.project_function(call.func)
        if target is None:
            return None
        model, function = target
        position = getattr(model._summaries, summary)(function.name.value, depth + 1)
        return None if position is None else argument(call, position[1], position[0])


def _followed(node: cst.BaseExpression | None, local: dict[str, cst.BaseExpression]) -> cst.BaseExpression | None:
    """A name assigned once in the function, followed to its value."""
    return local.get(node.value, node) if isinstance(node, cst.Name) else node


def _same(left: cst.BaseExpression, right: cst.BaseExpression) -> bool:
    """The same bare name twice (`d * d`, `jnp.dot(d, d)`)."""
    return isinstance(left, cst.Name) and isinstance(right, cst.Name) and left.value == right.value


def _single_assignments(function: cst.FunctionDef) -> dict[str, cst.BaseExpression]:
    """The names assigned exactly once in `function`'s own code, with their value."""
    values: dict[str, cst.BaseExpression | None] = {}
    for node in own_nodes(function.body):
        if isinstance(node, (cst.Assign, cst.AugAssign, cst.AnnAssign, cst.For, cst.NamedExpr)):
            targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            for target in targets:
                for name in assigned_names(target):
                    single = isinstance(node, cst.Assign) and isinstance(target, cst.Name) and name not in values
                    values[name] = node.value if single else None
    return {name: value for name, value in values.items() if value is not None}


def _parameter_names(function: cst.FunctionDef) -> set[str]:
    params = function.params
    return {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}


def _rebound_names(function: cst.FunctionDef) -> set[str]:
    """The names `function`'s own code assigns (a parameter assigned may hold another tensor)."""
    found: set[str] = set()
    for node in own_nodes(function.body):
        if isinstance(node, (cst.Assign, cst.AugAssign, cst.AnnAssign, cst.For, cst.NamedExpr, cst.WithItem)):
            targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [
                node.asname.name if isinstance(node, cst.WithItem) and node.asname else getattr(node, "target", None)
            ]
            for target in targets:
                if target is not None:
                    found.update(assigned_names(target))
    return found


def logits_argument(call: cst.Call, names: frozenset[str]) -> cst.BaseExpression | None:
    """The argument a framework loss or distribution takes as logits (`names`: the qualified
    names of its callee): `F.cross_entropy(input, ...)`, `tf.nn.softmax_cross_entropy_with_logits(
    labels, logits)`, `Categorical(logits=...)`, a Keras crossentropy's `y_pred` with
    `from_logits=True`; None for any other call."""
    if names & LOGITS_FIRST:
        return argument(call, "input", 0) or argument(call, "logits", 0)
    if names & LOGITS_SECOND:
        return argument(call, "logits", 1)
    if names & LOGITS_DISTRIBUTION:
        return argument(call, "logits")  # keyword only: the first positional is `probs`
    if names & FROM_LOGITS_FUNCTION:
        flag = argument(call, "from_logits")
        if flag is not None and is_constant(flag, True):
            return argument(call, "y_pred", 1) or argument(call, "output", 1)
    return None

"""Per-function summaries: what a module's own function does with its parameters.

A summary is computed once per function and memoised on the module's model. Two are kept:

- which parameter a function treats as logits. A parameter passed as the logits of a
  framework loss (`F.cross_entropy(p, y)`, `optax.sigmoid_binary_cross_entropy(p, z)`), to a
  `log_softmax`, to another summarised function at its logits position, or written into the
  stable sigmoid cross-entropy `... log(1 + exp(-abs(p)))`, makes the function a loss on
  logits at that position, whatever it is called (GL082 then checks its callers);
- which parameter a function returns views of (`return x[:, :c], x[:, c:]`, `return
  x.view(n, -1)`): a caller's write to the result writes that argument's storage (GL092).
"""

from __future__ import annotations

import weakref

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.syntax import argument, assigned_names, own_nodes, small_statements
from gradlint.semantic.views import viewed_name

LOGITS_FIRST = api_table("softmax_logits_loss_first")
LOGITS_SECOND = api_table("softmax_logits_loss_second")
LOG_SOFTMAX = api_table("softmax_log_softmax")
EXP = api_table("softmax_exp")
ABSOLUTE = api_table("semantic_absolute")
MAX_DEPTH = 3  # summarised functions followed through one another


class Summaries:
    """The summaries of one module's functions (`ModuleModel.logits_parameter`)."""

    def __init__(self, model) -> None:
        self.model = weakref.proxy(model)  # the model holds this: no cycle keeps a piece's tree alive
        self.names = model.names
        self._logits: dict[str, tuple[int, str] | None] = {}
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
        if names & LOGITS_FIRST:
            value = argument(call, "input", 0) or argument(call, "logits", 0)
        elif names & LOGITS_SECOND:
            value = argument(call, "logits", 1)
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

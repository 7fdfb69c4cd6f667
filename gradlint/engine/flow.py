"""Forward data flow over one function's statements: what each local name may carry.

Rules that ask whether a gradient reaches the value a function returns (or gives to
`.backward()`) follow values through the function statement by statement: assignments,
tuple unpacking, `if` / `try` / loops (each branch from a copy of the names, merged after),
`with no_grad()` blocks and returns. `StatementFlow` holds that walk; a rule subclasses it
with its own status type and answers a few hooks: how an expression, a call or a free name
is valued, how operands combine, how two branches merge, and what a return or a gradient
request records. No framework API is named here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

import libcst as cst

if TYPE_CHECKING:
    from gradlint.rule import Rule

S = TypeVar("S")  # a rule's status: what an expression can carry

_LITERALS = (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.ConcatenatedString,
             cst.FormattedString, cst.Ellipsis)

# Statement id -> the gradient requests in it: (kind, call, how to name the target). Kind
# "backward" is `x.backward()`, whose receiver is the value; any other names it by argument.
Sinks = Mapping[int, Sequence[tuple[str, cst.Call, str]]]


class StatementFlow(Generic[S]):
    """Abstract interpretation of a function body over a rule's status type `S`.

    A subclass sets `constant` (no gradient: literals, `no_grad` bindings), `unknown` (names
    bound by `with ... as`, nested definitions) and `no_grad_attrs`, and overrides the hooks
    below; the walk, the environment and the branch joins are shared.
    """

    constant: S
    unknown: S
    no_grad_attrs: frozenset[str] = frozenset()  # `x.shape`, `x.dtype`: metadata, no gradient

    def __init__(self, rule: Rule, sinks: Sinks, statement: cst.CSTNode | None = None) -> None:
        self.rule = rule
        self.names = rule.context.names
        self.sinks = sinks
        self.env: dict[str, S] = {}
        self.returns: list = []  # whatever `on_return` records
        self.statement = statement  # the simple statement being run: where a finding points
        self.no_grad = 0  # depth of enclosing `no_grad` blocks

    # Hooks ------------------------------------------------------------------------------

    def eval_call(self, call: cst.Call) -> S:
        return self.unknown

    def free_name(self, node: cst.Name) -> S:
        """A name not bound in the function: a global, a builtin, a module."""
        return self.unknown

    def eval_other(self, node: cst.BaseExpression) -> S:
        """Expressions the shared `eval` does not handle (comparisons, comprehensions, ...)."""
        return self.unknown

    def combine(self, statuses: Iterable[S], operator: cst.CSTNode | None = None) -> S:
        """Operands joined by `operator` (a binary or augmented operator), or None for a
        conditional, a boolean operation or a tuple."""
        raise NotImplementedError

    def merge(self, before: S, status: S) -> S:
        """What a name holds after a branch join, when two paths left different statuses."""
        raise NotImplementedError

    def on_return(self, value: cst.BaseExpression) -> None:
        """A `return value` outside `no_grad` code."""

    def is_no_grad(self, expr: cst.BaseExpression) -> bool:
        """Whether a `with` item switches gradient recording off."""
        return False

    def sink_argument(self, call: cst.Call) -> cst.BaseExpression | None:
        """The value differentiated by a gradient request other than `.backward()`."""
        return None

    def on_sink(self, status: S, target: str) -> None:
        """A gradient request outside `no_grad` code, on a value with `status`."""

    def bind_loop(self, target: cst.BaseExpression, iterable: cst.BaseExpression) -> None:
        """A `for` target: by default it may hold anything."""
        self.bind(target, self.unknown, None, loop=True)

    def bind_name(self, name: str, status: S, value: cst.BaseExpression | None, loop: bool) -> None:
        self.env[name] = status

    def unpacked(self, status: S) -> S:
        """An element of a value unpacked into a tuple target whose shape is unknown."""
        return status

    def bind_item(self, target: cst.BaseExpression, status: S) -> None:
        """An attribute or subscript target (`x[i] = v`): by default it binds no name."""

    def on_call_statement(self, call: cst.Call) -> None:
        """A call made for its effect (`buf.scatter_(1, idx, src)`): by default it binds nothing."""

    # Statements -------------------------------------------------------------------------

    def run_block(self, statements: Iterable[cst.CSTNode]) -> None:
        for statement in statements:
            self.run_statement(statement)

    @staticmethod
    def _suite(block) -> list:
        if block is None:
            return []
        body = block.body
        return list(body.body) if isinstance(body, cst.IndentedBlock) else [body]

    def _branches(self, blocks: list[list]) -> None:
        # Each path starts from the same names; a name one path left alone keeps its object,
        # so `is` tells an untouched name from a merge.
        start = dict(self.env)
        results = []
        for statements in blocks:
            self.env = dict(start)
            self.run_block(statements)
            results.append(self.env)
        merged: dict[str, S] = {}
        for env in results:
            for name, status in env.items():
                before = merged.get(name)
                merged[name] = status if before is None or before is status else self.merge(before, status)
        self.env = merged

    def run_statement(self, statement: cst.CSTNode) -> None:
        if isinstance(statement, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            self.statement = statement
            # A gradient request sees the names as they were before the line ran.
            for kind, call, target in self.sinks.get(id(statement), ()):
                self._sink(kind, call, target)
            for small in statement.body:
                self.run_small(small)
        elif isinstance(statement, cst.If):
            orelse = statement.orelse
            other = [orelse] if isinstance(orelse, cst.If) else self._suite(orelse)
            self._branches([self._suite(statement), other])
        elif isinstance(statement, (cst.For, cst.While)):
            if isinstance(statement, cst.For):
                self.bind_loop(statement.target, statement.iter)
            # The body may run or not: a branch beside an empty one.
            self._branches([[], self._suite(statement)])
            self.run_block(self._suite(statement.orelse))
        elif isinstance(statement, (cst.Try, cst.TryStar)):
            self._branches([self._suite(statement), *(self._suite(h) for h in statement.handlers)])
            self.run_block(self._suite(statement.orelse))
            self.run_block(self._suite(statement.finalbody))
        elif isinstance(statement, cst.With):
            quiet = any(self.is_no_grad(item.item) for item in statement.items)
            for item in statement.items:
                if item.asname is not None:
                    self.bind(item.asname.name, self.unknown, None)
            self.no_grad += quiet
            self.run_block(self._suite(statement))
            self.no_grad -= quiet
        elif isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            self.env[statement.name.value] = self.unknown
        elif isinstance(statement, cst.Match):
            self._branches([self._suite(case) for case in statement.cases])

    def run_small(self, small: cst.CSTNode) -> None:
        if isinstance(small, cst.Assign):
            status = self.eval(small.value)
            for target in small.targets:
                self.bind(target.target, status, small.value)
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            self.bind(small.target, self.eval(small.value), small.value)
        elif isinstance(small, cst.AugAssign):
            status = self.combine((self.eval(small.target), self.eval(small.value)), small.operator)
            self.bind(small.target, status, None)
        elif isinstance(small, cst.Return) and small.value is not None and not self.no_grad:
            self.on_return(small.value)
        elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            self.on_call_statement(small.value)

    def _sink(self, kind: str, call: cst.Call, target: str) -> None:
        if self.no_grad:
            return
        if kind == "backward":
            value = call.func.value if isinstance(call.func, cst.Attribute) else None
        else:
            value = self.sink_argument(call)
        if value is not None:
            self.on_sink(self.eval(value), target)

    def bind(self, target: cst.BaseExpression, status: S, value: cst.BaseExpression | None = None,
             loop: bool = False) -> None:
        """Bind an assignment target to `status`; `value` is the assigned expression when known,
        to pair `a, b = x, y` element by element."""
        if self.no_grad:
            status = self.constant
        if isinstance(target, cst.Name):
            self.bind_name(target.value, status, value, loop)
        elif isinstance(target, (cst.Tuple, cst.List)):
            elements = target.elements
            values = value.elements if isinstance(value, (cst.Tuple, cst.List)) else None
            paired = values is not None and len(values) == len(elements) and not any(
                isinstance(e, cst.StarredElement) for e in (*elements, *values)
            )
            for index, element in enumerate(elements):
                if paired:
                    self.bind(element.value, self.eval(values[index].value), values[index].value, loop)
                else:
                    self.bind(element.value, self.unpacked(status), None, loop)
        elif isinstance(target, cst.StarredElement):
            self.bind(target.value, status, None, loop)
        else:
            self.bind_item(target, status)

    # Expressions ------------------------------------------------------------------------

    def eval(self, node: cst.BaseExpression) -> S:
        if isinstance(node, cst.Name):
            status = self.env.get(node.value)
            return status if status is not None else self.free_name(node)
        if isinstance(node, _LITERALS):
            return self.constant
        if isinstance(node, cst.Call):
            return self.eval_call(node)
        if isinstance(node, cst.BinaryOperation):
            return self.combine((self.eval(node.left), self.eval(node.right)), node.operator)
        if isinstance(node, cst.Attribute):
            if node.attr.value in self.no_grad_attrs or self.rule.qualified_names(node):
                return self.constant
            return self.eval(node.value)
        if isinstance(node, cst.Subscript):
            return self.eval(node.value)
        if isinstance(node, cst.UnaryOperation):
            return self.constant if isinstance(node.operator, cst.Not) else self.eval(node.expression)
        if isinstance(node, (cst.IfExp, cst.BooleanOperation)):
            first, second = (node.body, node.orelse) if isinstance(node, cst.IfExp) else (node.left, node.right)
            return self.combine((self.eval(first), self.eval(second)))
        if isinstance(node, (cst.Tuple, cst.List)):
            return self.combine(self.eval(element.value) for element in node.elements)
        if isinstance(node, cst.NamedExpr):
            status = self.eval(node.value)
            self.bind(node.target, status, node.value)
            return status
        if isinstance(node, (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)):
            return self._comprehension(node)
        return self.eval_other(node)

    def _comprehension(self, node: cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp) -> S:
        """An element of a comprehension, its `for` targets bound like loop targets; the names
        it binds do not outlive it."""
        outer = self.env
        self.env = dict(outer)
        try:
            clause = node.for_in
            while clause is not None:
                self.bind_loop(clause.target, clause.iter)
                clause = clause.inner_for_in
            return self.eval(node.value if isinstance(node, cst.DictComp) else node.elt)
        finally:
            self.env = outer

"""Small questions about syntax that many rules ask: call arguments, constants, local bindings.

These read nodes only; nothing here resolves names (that is `engine.names`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType

import libcst as cst

from gradlint.engine.walker import iter_children

_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
_STATEMENTS = (cst.SimpleStatementLine, cst.BaseCompoundStatement)


def argument(call: cst.Call, keyword: str | tuple[str, ...], position: int | None = None) -> cst.BaseExpression | None:
    """The value passed as `keyword=` (or as any of several spellings), or as positional
    argument `position` (0-based)."""
    keywords = (keyword,) if isinstance(keyword, str) else keyword
    index = 0
    for arg in call.args:
        if arg.star:
            # After `*args` the positions are unknown; a keyword may still follow.
            index = -(10**6)
            continue
        if arg.keyword is not None:
            if arg.keyword.value in keywords:
                return arg.value
            continue
        if position is not None and index == position:
            return arg.value
        index += 1
    return None


def parameter_position(function: cst.FunctionDef, name: str, bound: bool = False) -> int | None:
    """The position of `function`'s parameter `name` among those a call may pass by position;
    None for a keyword-only one (or none of that name). With `bound`, as a call on an instance
    (or of the class) passes them: the first parameter, `self`, is not passed."""
    positional = [p.name.value for p in (*function.params.posonly_params, *function.params.params)]
    if bound:
        positional = positional[1:]
    return positional.index(name) if name in positional else None


def parameter_names(function: cst.FunctionDef | cst.Lambda) -> set[str]:
    """Every name `function` binds as a parameter, `*args` and `**kwargs` included."""
    params = function.params
    found = {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
    found.update(star.name.value for star in (params.star_arg, params.star_kwarg) if isinstance(star, cst.Param))
    return found


def passed_arguments(function: cst.FunctionDef, call: cst.Call) -> dict[str, cst.BaseExpression | None]:
    """Each parameter of `function` (positional-only, regular, keyword-only) and what `call`
    passes for it, else its default (None when it has neither)."""
    params = function.params
    found = {}
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        name = param.name.value
        given = argument(call, name, parameter_position(function, name))
        found[name] = given if given is not None else param.default
    return found


def positional(call: cst.Call) -> list[cst.BaseExpression]:
    """The positional arguments before any `*args`."""
    found = []
    for arg in call.args:
        if arg.star:
            break
        if arg.keyword is None:
            found.append(arg.value)
    return found


def number(node: cst.BaseExpression | None) -> float | None:
    """The value of a numeric constant expression (`0.5`, `1/2`, `-.5`, `1e-8`, `2**-3`), else None."""
    if isinstance(node, (cst.Integer, cst.Float)):
        try:
            return float(node.evaluated_value)
        except (ValueError, OverflowError):
            return None
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, (cst.Minus, cst.Plus)):
        value = number(node.expression)
        if value is None:
            return None
        return -value if isinstance(node.operator, cst.Minus) else value
    if isinstance(node, cst.BinaryOperation):
        left, right = number(node.left), number(node.right)
        if left is None or right is None:
            return None
        op = node.operator
        try:
            if isinstance(op, cst.Divide):
                return left / right
            if isinstance(op, cst.Multiply):
                return left * right
            if isinstance(op, cst.Add):
                return left + right
            if isinstance(op, cst.Subtract):
                return left - right
            if isinstance(op, cst.Power) and abs(right) <= 64:
                return float(left**right)
        except (ZeroDivisionError, OverflowError, TypeError):
            return None
    return None


def string(node: cst.CSTNode | None) -> str | None:
    """The value of a plain (non f-) string literal, else None."""
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def is_constant(node: cst.CSTNode, value: bool | None) -> bool:
    """`True`, `False` or `None` spelled as such."""
    return isinstance(node, cst.Name) and node.value == repr(value)


def bare(node: cst.BaseExpression) -> cst.BaseExpression:
    """The expression without its outer parentheses, to compare spellings (a copy: never
    resolve its names, the alias table caches by node)."""
    return node.with_changes(lpar=(), rpar=()) if getattr(node, "lpar", None) else node


def assigned_names(target: cst.BaseExpression) -> Iterator[str]:
    """Plain names bound by an assignment target (`a`, `a, (b, *c)`); attributes and subscripts bind none."""
    if isinstance(target, cst.Name):
        yield target.value
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from assigned_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from assigned_names(target.value)


def own_nodes(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Nodes under `node` in walk order, without entering nested functions, classes or lambdas."""
    stack = list(reversed(iter_children(node)))
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, _SCOPES):
            continue
        children = iter_children(current)
        children.reverse()
        stack.extend(children)


def scoped_nodes(
    root: cst.CSTNode, quiet: Callable[[cst.CSTNode], bool] | None = None
) -> Iterator[tuple[cst.CSTNode, cst.CSTNode | None, tuple[cst.CSTNode, ...], bool]]:
    """Nodes of a function's (or module's) own code, in walk order, each with its innermost
    statement, the `for`/`while` loops whose body holds it (outermost first) and whether a
    node for which `quiet(node)` is true encloses it (e.g. a `no_grad` block). Nested
    functions, classes and lambdas are yielded but not entered.
    """
    body = root.body if isinstance(root, cst.FunctionDef) else root
    stack: list[tuple[cst.CSTNode, cst.CSTNode | None, tuple, bool]] = [
        (child, None, (), False) for child in reversed(iter_children(body))
    ]
    while stack:
        node, statement, loops, hushed = stack.pop()
        if isinstance(node, _STATEMENTS):
            statement = node
        yield node, statement, loops, hushed
        if isinstance(node, _SCOPES):
            continue
        inner_hushed = hushed or (quiet is not None and quiet(node))
        loop_body = node.body if isinstance(node, (cst.For, cst.While)) else None
        children = iter_children(node)
        for child in reversed(children):
            inner = loops + (node,) if child is loop_body else loops
            stack.append((child, statement, inner, inner_hushed))


# id(function) -> (function, its bindings); the function is kept so that its id stays its own.
# The engine clears this before each file (`forget_file`).
_bindings: dict[int, tuple[cst.CSTNode, Mapping[str, list[cst.BaseExpression]]]] = {}


# Whether the file being linted may hold a walrus (`:=`); without one, finding bindings needs
# only the statements, not every expression node.
_walrus = True


def forget_file(text: str | None = None) -> None:
    global _walrus
    _bindings.clear()
    _walrus = text is None or ":=" in text


# What holds statements: compound statements, their blocks and clauses (never expressions).
STATEMENT_HOLDERS = (
    cst.SimpleStatementLine, cst.BaseSuite, cst.BaseCompoundStatement, cst.Else, cst.ExceptHandler, cst.ExceptStarHandler,
    cst.Finally, cst.MatchCase,
)


def small_statements(body: cst.CSTNode, headers: tuple[type, ...] = ()) -> Iterator[cst.CSTNode]:
    """Assignments and other small statements of a body, and the functions and classes it
    defines (not entered), in source order; with `headers`, also each compound statement of
    those kinds, just before its body (`cst.For`: where its target is bound)."""
    stack = [body]
    while stack:
        current = stack.pop()
        if isinstance(current, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            yield from current.body
            continue
        if isinstance(current, (cst.FunctionDef, cst.ClassDef)):
            yield current
            continue
        if headers and isinstance(current, headers):
            yield current
        children = [c for c in iter_children(current) if isinstance(c, STATEMENT_HOLDERS)]
        children.reverse()
        stack.extend(children)


def bindings(function: cst.FunctionDef | cst.Module) -> Mapping[str, list[cst.BaseExpression]]:
    """Each local name of a function (or module) and the values assigned to it, in source order.

    Computed once per function for all the rules that ask (read-only: do not change it).

    Covers `=`, annotated and walrus assignments; a tuple target maps each element to the
    matching element of a tuple value when the shapes agree, else to the whole value. Loop
    targets, `with ... as`, augmented assignments and nested scopes are left out: a rule that
    looks through a binding wants a value it can read.
    """
    cached = _bindings.get(id(function))
    if cached is not None and cached[0] is function:
        return cached[1]
    found: dict[str, list[cst.BaseExpression]] = {}
    body = function.body if isinstance(function, cst.FunctionDef) else function
    for node in own_nodes(body) if _walrus else small_statements(body):
        if isinstance(node, cst.Assign):
            for target in node.targets:
                _bind(found, target.target, node.value)
        elif isinstance(node, cst.AnnAssign) and node.value is not None:
            _bind(found, node.target, node.value)
        elif isinstance(node, cst.NamedExpr):
            _bind(found, node.target, node.value)
    result = MappingProxyType(found)
    _bindings[id(function)] = (function, result)
    return result


def _bind(found: dict, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
    if isinstance(target, cst.Name):
        found.setdefault(target.value, []).append(value)
        return
    if isinstance(target, (cst.Tuple, cst.List)):
        if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(target.elements):
            for element, item in zip(target.elements, value.elements):
                if not isinstance(element, cst.StarredElement) and not isinstance(item, cst.StarredElement):
                    _bind(found, element.value, item.value)
            return
        for name in assigned_names(target):
            found.setdefault(name, []).append(value)

"""Name resolution from a file's imports: a light alias table, not full scope analysis.

`import tensorflow as tf` binds `tf` to `tensorflow`; `from torch.nn import functional as F`
binds `F` to `torch.nn.functional`; a module-level `tfd = tfp.distributions` binds `tfd` to
`tensorflow_probability.distributions`. An expression such as `tf.math.log` then resolves to
`tensorflow.math.log`, and the canonical prefixes of `data/apis.toml` turn every spelling of
one namespace into one name (`tf.keras.ops.sqrt`, `keras.src.ops.sqrt` -> `keras.ops.sqrt`).
Names bound by several imports (try/except fallbacks) resolve to all their candidates.
"""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from gradlint.data import ApiTable, canonical_name

_COMPOUND_BODIES = (cst.If, cst.Try, cst.TryStar, cst.With, cst.For, cst.While, cst.FunctionDef, cst.ClassDef)


def dotted(node: cst.BaseExpression) -> str | None:
    """`a.b.c` as a string; None for anything that is not a plain dotted name."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted(node.value)
        return None if base is None else f"{base}.{node.attr.value}"
    return None


class NameTable:
    def __init__(self, module: cst.Module) -> None:
        self.aliases: dict[str, set[str]] = {}
        # `from ..pkg import name as local`: local -> (level, "pkg", "name"); never an API.
        self.relative: dict[str, tuple[int, str, str]] = {}
        # `from pkg.ops import *` and `from .ops import *`: (level, "pkg.ops"), in source order;
        # the semantic model looks a free name up in the project's ones.
        self.star: list[tuple[int, str]] = []
        # id(node) -> (node, names): the entry keeps the node alive, so its id is not reused by a
        # temporary node built later with `with_changes` (an int key hashes faster than a node).
        self._cache: dict[int, tuple[cst.CSTNode, frozenset[str]]] = {}
        for statement in _import_statements(module.body):
            self._bind(statement)
        for target, value in _module_aliases(module.body):
            for name in self.raw_names(value):
                self._add(target, name)

    def _add(self, local: str, target: str) -> None:
        self.aliases.setdefault(local, set()).add(target)

    def _bind(self, node: cst.Import | cst.ImportFrom) -> None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = dotted(alias.name)
                if full is None:
                    continue
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    self._add(alias.asname.name.value, full)
                else:  # `import a.b.c` binds `a`
                    head = full.split(".", 1)[0]
                    self._add(head, head)
            return
        module = dotted(node.module) if node.module is not None else ""
        if module is None:
            return
        if isinstance(node.names, cst.ImportStar):
            self.star.append((len(node.relative), module))
            return
        for alias in node.names:
            if not isinstance(alias.name, cst.Name):
                continue
            local = alias.name.value
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            if node.relative:  # `from .models import Net`: the project's own, resolved by the semantic model
                self.relative[local] = (len(node.relative), module, alias.name.value)
            else:
                self._add(local, f"{module}.{alias.name.value}")

    def raw_names(self, node: cst.CSTNode) -> frozenset[str]:
        """The dotted names an expression refers to, through the aliases, not canonicalised."""
        if isinstance(node, cst.Name):
            return frozenset(self.aliases.get(node.value, ()))
        if isinstance(node, cst.Attribute):
            return frozenset(f"{base}.{node.attr.value}" for base in self.raw_names(node.value))
        return frozenset()

    def qualified_names(self, node: cst.CSTNode) -> frozenset[str]:
        """Canonical names of an expression; empty when it is not an imported API."""
        known = self._cache.get(id(node))
        if known is None:
            known = self._cache[id(node)] = (node, frozenset(canonical_name(name) for name in self.raw_names(node)))
        return known[1]

    def callee(self, node: cst.CSTNode, table: ApiTable | Iterable[str]) -> str | None:
        """The canonical name of the called function when it is in `table`."""
        if not isinstance(node, cst.Call):
            return None
        for name in self.qualified_names(node.func):  # `vmap(f)(x)` has none: func is a Call
            if name in table:
                return name
        return None

    def method(self, node: cst.CSTNode) -> str | None:
        """For `x.sqrt()` on a receiver that is not an imported module: `sqrt`."""
        if (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and not self.qualified_names(node.func)
        ):
            return node.func.attr.value
        return None

    def is_module(self, node: cst.CSTNode) -> bool:
        return bool(self.raw_names(node))


def binds_imports(statement: cst.CSTNode) -> bool:
    """Whether a top-level statement is an import line, or an `if` or `try` holding imports
    (conditional and fallback imports)."""
    if isinstance(statement, cst.SimpleStatementLine):
        return any(isinstance(small, (cst.Import, cst.ImportFrom)) for small in statement.body)
    return isinstance(statement, (cst.If, cst.Try)) and next(iter(_import_statements([statement])), None) is not None


def _import_statements(body: Iterable[cst.CSTNode]) -> Iterable[cst.Import | cst.ImportFrom]:
    """Imports anywhere in the statement tree (function-local and conditional ones too)."""
    stack = list(body)
    while stack:
        statement = stack.pop()
        if isinstance(statement, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            for small in statement.body:
                if isinstance(small, (cst.Import, cst.ImportFrom)):
                    yield small
        elif isinstance(statement, _COMPOUND_BODIES):
            stack.extend(_blocks(statement))


def _module_aliases(body: Iterable[cst.CSTNode]) -> Iterable[tuple[str, cst.BaseExpression]]:
    """Module-level names given a dotted name, in source order: `tfd = tfp.distributions`,
    `K = tf.keras.backend`, `sigmoid = tf.nn.sigmoid` (also under `if` / `try`). A name the
    module binds twice this way resolves to both, as a fallback import does."""
    stack = list(reversed(list(body)))
    while stack:
        statement = stack.pop()
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if (isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name)
                        and isinstance(small.value, cst.Attribute) and dotted(small.value) is not None):
                    yield small.targets[0].target.value, small.value
        elif isinstance(statement, (cst.If, cst.Try, cst.TryStar)):
            stack.extend(reversed(_blocks(statement)))


def _blocks(statement: cst.BaseCompoundStatement) -> list[cst.CSTNode]:
    found: list[cst.CSTNode] = []
    body = statement.body
    found.extend(body.body if isinstance(body, cst.IndentedBlock) else [body])
    for attr in ("orelse", "finalbody"):
        extra = getattr(statement, attr, None)
        if extra is not None:
            found.extend(_blocks(extra) if hasattr(extra, "body") else [])
    for handler in getattr(statement, "handlers", ()):
        found.extend(_blocks(handler))
    return found


def referenced_names(node: cst.CSTNode) -> set[str]:
    """Plain names read or written under `node`; attribute names and keywords excluded."""
    from gradlint.engine.walker import iter_children

    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Name):
            found.add(current.value)
            continue
        if isinstance(current, cst.Attribute):
            stack.append(current.value)
            continue
        if isinstance(current, cst.Arg):
            stack.append(current.value)
            continue
        stack.extend(iter_children(current))
    return found

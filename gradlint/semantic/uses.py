"""Where a value goes: whether it can reach a place where a gradient is taken.

A value is followed forward from the expression that makes it: up through the expressions
that compute with it (arithmetic, framework calls, methods such as `.reshape`), into the
names it is assigned to and their later reads, into a function of the project through the
parameter it is given, out of a private function (any function of a script) through its
`return` to the module's calls of it, and into a private `self._attr` and the class's reads
of it. A path ends without a gradient where the value is cut (`.detach()`, `stop_gradient`,
`.item()`, NumPy) or made integer-valued or piecewise constant (`argmax`, `round`, a cast to an
integer dtype), only looked at (a comparison, a condition, an index, `.shape`, `print`,
a summary writer) or evaluated (`sess.run(..., feed_dict=...)`). Anything else (a call the
model does not know, a store into a container, a public name another module may read, a
closure, a name not read yet) may reach a gradient, and so does a path longer than
`MAX_STEPS`: the answer "never differentiated" is given only when every path ends without a
gradient.
"""

from __future__ import annotations

from collections.abc import Iterator
import weakref
from functools import cached_property

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.walker import iter_children, iter_tree

CUT = api_table("semantic_gradient_cut")
CUT_MODULES = tuple(CUT.info["modules"])
SINK = api_table("semantic_gradient_sink")
EVALUATION = api_table("semantic_evaluation")
PASS_THROUGH_MODULES = tuple(api_table("semantic_pass_through").info["modules"])
SESSIONS = api_table("semantic_session")
SHAPE_QUERY = api_table("semantic_shape_query")
CASTS = api_table("gl020_casts")
INTEGER_DTYPES = api_table("gl020_int_dtypes")
MAX_STEPS = 400  # reads followed for one value

# Sets of node classes, asked as `type(node) in ...`: libcst's node classes have no subclasses.
_BOUNDARIES = frozenset({cst.FunctionDef, cst.Lambda, cst.ClassDef})
_FUNCTIONS = frozenset({cst.FunctionDef, cst.Lambda})
_COMPUTES = frozenset({cst.BinaryOperation, cst.UnaryOperation, cst.BooleanOperation, cst.Tuple, cst.List, cst.Element, cst.StarredElement})
_CONDITIONS = frozenset({cst.Comparison, cst.ComparisonTarget, cst.If, cst.While, cst.Assert})
_SUBSCRIPTS = frozenset({cst.Subscript, cst.SubscriptElement, cst.Index, cst.Slice})
_ASSIGNMENTS = frozenset({cst.Assign, cst.AugAssign, cst.AnnAssign})
_CONTAINERS = frozenset({cst.Tuple, cst.List, cst.Element, cst.StarredElement})
_NOT_READS = frozenset({cst.Param, cst.FunctionDef, cst.ClassDef, cst.ImportAlias, cst.AsName, cst.Global, cst.Nonlocal, cst.NameItem})
_LOOPS = (cst.For, cst.While)


class Uses:
    """The forward flow of values in one module (`ModuleModel.reaches_gradient`)."""

    def __init__(self, model) -> None:
        self.model = weakref.proxy(model)  # the model holds this: no cycle keeps a piece's tree alive
        self.names = model.names
        # Keyed by `id(node)`: an int hashes faster than a node, and the model keeps every node
        # of its module, so no id is reused while these live.
        self._parents: dict[int, cst.CSTNode] | None = None
        self._order: dict[int, int] = {}
        self._loads: dict[cst.CSTNode, dict[str, list[cst.Name]]] = {}
        self._overwriters: dict[cst.CSTNode, dict[str, list[cst.CSTNode]]] = {}
        # (id(node), mode) -> whether it may reach a use; the mode is (dead, id of the loop left out or 0).
        self._answers: dict[tuple[int, tuple[bool, int]], bool] = {}
        self._dead_mode = False
        self._left_out: cst.For | None = None  # a loop whose body counts as no use (`only_through`)
        self._stored_attributes: dict[cst.ClassDef, set[str]] = {}
        # Per class: `self.<name>` attribute nodes and `self.<name>(...)` calls, by name.
        self._self_attributes: dict[cst.ClassDef, dict[str, list[cst.Attribute]]] = {}
        self._self_calls: dict[cst.ClassDef, dict[str, list[cst.Call]]] = {}
        self._globals: dict[cst.FunctionDef, set[str]] = {}

    def reaches_gradient(self, node: cst.CSTNode) -> bool:
        """False only when no path of the value of `node` reaches a place where a gradient is
        taken (see the module docstring); True when one may. A layer read to be called
        (`self.up` in `self.up(h)`) is followed through what the call returns."""
        return self._answer(self._called(node), dead=False)

    def is_dead(self, node: cst.CSTNode) -> bool:
        """The value of `node`, in a function, is never used for anything but a condition, a
        shape or a printout: every name it is stored in is overwritten or left unread, and a
        layer stored on `self` that it is given to has a dead result too (`u = self.up(h)`
        then `u = self.other(x)`). A cut (`.detach()`) is a use."""
        return not self._answer(self._called(node), dead=True)

    def only_through(self, node: cst.CSTNode, loop: cst.For) -> bool:
        """The value of `node` is used, but only inside the body of `loop`: with that body
        left out it would be dead. A weight read so trains only when the loop runs."""
        node = self._called(node)
        return self._answer(node, dead=True) and not self._answer(node, dead=True, left_out=loop)

    def _called(self, node: cst.CSTNode) -> cst.CSTNode:
        """`self.up` read to be called: the value is what the call returns."""
        parent = self._parents_of().get(id(node))
        return parent if isinstance(node, cst.Attribute) and isinstance(parent, cst.Call) and parent.func is node else node

    def _answer(self, node: cst.CSTNode, dead: bool, left_out: cst.For | None = None) -> bool:
        mode = (dead, id(left_out) if left_out is not None else 0)
        key = (id(node), mode)
        if key not in self._answers:
            self._parents_of()
            self._dead_mode, self._left_out = dead, left_out
            if id(node) not in self._parents:
                self._answers[key] = False
            else:
                self._follow(node, mode)
        return self._answers[key]

    # The walk ------------------------------------------------------------------------------

    def _follow(self, start: cst.CSTNode, mode: tuple[bool, int]) -> None:
        """Answer for `start` and for the nodes the walk from it settles: on a path to a use the
        model cannot judge (they may reach a gradient too), or all of them when no path ends in
        one (none of them does). The next question stops where it meets a settled node."""
        answers = self._answers
        came_from: dict[int, cst.CSTNode | None] = {id(start): None}
        todo = [start]
        steps = 0
        while todo:
            node = todo.pop()
            known = answers.get((id(node), mode))
            if known is False:
                continue
            if known:
                break
            steps += 1
            if steps > MAX_STEPS:  # too long to tell: the start may reach one, the rest is not settled
                answers[(id(start), mode)] = True
                return
            ends = self._step(node)
            if ends is None:  # a use the model cannot judge: it may be differentiated
                break
            for end in ends:
                if id(end) not in came_from:
                    came_from[id(end)] = node
                    todo.append(end)
        else:
            for key in came_from:
                answers[(key, mode)] = False
            return
        current: cst.CSTNode | None = node
        while current is not None:
            answers[(id(current), mode)] = True
            current = came_from[id(current)]

    def _step(self, node: cst.CSTNode) -> list[cst.CSTNode] | None:
        """Where the value of `node` goes next: the nodes that hold it after its parent uses
        it ([] when the parent cuts it or only looks at it), or None when unknown."""
        parent = self._parents.get(id(node))
        kind = type(parent)  # node classes are final: `type(...) in` is isinstance, without ABCMeta's cost
        if self._left_out is not None and self._inside(node, self._left_out.body):
            return []
        if parent is None or kind in _BOUNDARIES:
            return None
        if kind is cst.Attribute and parent.value is node:
            return self._attribute_use(parent)
        if kind is cst.Arg:
            call = self._parents.get(id(parent))
            if type(call) is cst.Call and parent in call.args:
                return self._argument_use(call, parent)
            return None
        if kind is cst.Expr:
            # A value dropped; a call made for its effect (`tf.add_to_collection('losses', x)`)
            # may keep it.
            return None if type(node) is cst.Call else []
        if kind in _CONDITIONS:
            return []  # a boolean, a condition: nothing to differentiate
        if kind is cst.IfExp:
            return [] if parent.test is node else [parent]
        if kind in _SUBSCRIPTS:
            return self._subscript_use(node, parent)
        if kind in _COMPUTES:
            return [parent]
        if kind in _ASSIGNMENTS:
            return self._assigned(parent)
        if kind is cst.Return:
            return self._returned(parent)
        if kind is cst.Parameters and type(node) is cst.Param:
            return self._parameter_reads(node)
        return None

    def _attribute_use(self, attribute: cst.Attribute) -> list[cst.CSTNode] | None:
        """`value.attr`: a method call (`.detach()`, `.reshape(...)`), or a property."""
        call = self._parents.get(id(attribute))
        if isinstance(call, cst.Call) and call.func is attribute:
            method = attribute.attr.value
            if method in SINK.methods:
                return None
            if method in CUT.methods or (method in CASTS.methods and self._integer_cast(call)):
                return self._cut()
            if method in SHAPE_QUERY.methods or method in EVALUATION.methods:
                return []
            return [call]  # the result of a tensor method holds the value
        if attribute.attr.value in CUT.info["attributes"]:
            return self._cut()
        return [attribute]

    def _argument_use(self, call: cst.Call, arg: cst.Arg) -> list[cst.CSTNode] | None:
        if self._dead_mode and self._stored_layer(call.func):
            return [call]  # `self.up(h)`: the layer's output carries what it is given
        names = self.names.qualified_names(call.func)
        method = self.names.method(call)
        if names & SINK or method in SINK.methods:
            return None
        if names & EVALUATION:
            return []
        if names & CUT or any(name.startswith(CUT_MODULES) for name in names):
            return self._cut()
        if names & CASTS and self._integer_cast(call):
            return self._cut()
        if isinstance(call.func, cst.Name) and call.func.value in CUT.info["builtins"] and not self._defined(call.func.value):
            return self._cut()
        if method in EVALUATION.methods or self._session_run(call, method):
            return []
        if names and all(name.startswith(PASS_THROUGH_MODULES) for name in names):
            return [call]  # a framework function: its result holds the value
        return self._passed_to_function(call, arg)

    def _passed_to_function(self, call: cst.Call, arg: cst.Arg) -> list[cst.CSTNode] | None:
        """A function of the project given the value: it goes where the function's parameter
        goes (`describe(w, "w")` only summarises it). In another module, that
        module's model answers for the parameter."""
        if arg.star or any(other.star for other in call.args):
            return None
        found = self.model.project_function(call.func)
        if found is None:
            return None
        model, function = found
        param = _parameter_of(function, call, arg)
        if param is None:
            return None
        if model._uses is self:  # this module (`self.model` is a proxy: `is` cannot tell)
            return [param]
        following = model.index.following  # another module: its model came from the index
        if function in following:  # a cycle across modules: unknown
            return None
        following.add(function)
        try:
            return [] if not model._uses._answer(param, self._dead_mode) else None
        finally:
            following.discard(function)

    def computes_tensor(self, call: cst.Call) -> bool:
        """A framework function (not a class: a layer, a variable) whose result is computed
        from its arguments."""
        names = self.names.qualified_names(call.func)
        return bool(names) and all(
            name.startswith(PASS_THROUGH_MODULES) and name.rsplit(".", 1)[1][:1].islower() for name in names
        )

    def _cut(self) -> list[cst.CSTNode] | None:
        """Where a value is cut (`.detach()`, `stop_gradient`, NumPy): no gradient goes on, but
        the value is used, perhaps on purpose, so it is not dead."""
        return None if self._dead_mode else []

    def _integer_cast(self, call: cst.Call) -> bool:
        """A cast to an integer or boolean dtype (`tf.cast(x, tf.int32)`, `x.to(torch.long)`,
        `x.astype("int32")`): its result carries no gradient."""
        for arg in call.args:
            dtype = arg.value
            if isinstance(dtype, cst.SimpleString):
                if dtype.evaluated_value in INTEGER_DTYPES.methods:
                    return True
            elif isinstance(dtype, cst.Name) and dtype.value in ("int", "bool") and not self._defined(dtype.value):
                return True
            elif self.names.qualified_names(dtype) & INTEGER_DTYPES:
                return True
        return False

    def _stored_layer(self, func: cst.BaseExpression) -> bool:
        """`self.<attr>` that the class stores (assigned in a method), not one of its methods."""
        if not (isinstance(func, cst.Attribute) and self._is_self(func.value)):
            return False
        cls = self._enclosing(func, (cst.ClassDef,), None)
        if cls is None:
            return False
        stored = self._stored_attributes.get(cls)
        if stored is None:  # once per class: the attributes its methods assign, less its methods
            methods = {item.name.value for item in cls.body.body if isinstance(item, cst.FunctionDef)}
            stored = {
                node.attr.value for node in iter_tree(cls) if isinstance(node, cst.Attribute) and self._is_store(node)
            } - methods
            self._stored_attributes[cls] = stored
        return func.attr.value in stored

    def _defined(self, name: str) -> bool:
        """The module defines or imports `name` (it is not the builtin)."""
        return name in self.model.functions or name in self.model.classes or name in self.names.aliases

    def _session_run(self, call: cst.Call, method: str | None) -> bool:
        """`sess.run(fetches, feed_dict=...)` / `tensor.eval(feed_dict=...)`: TF1 evaluation,
        which returns NumPy values, known by its `feed_dict` or a receiver made by a session API."""
        if method not in SESSIONS.methods:
            return False
        if any(arg.keyword is not None and arg.keyword.value in SESSIONS.info["keywords"] for arg in call.args):
            return True
        receiver = call.func.value if isinstance(call.func, cst.Attribute) else None
        return isinstance(receiver, cst.Name) and self._session_name(receiver)

    def _session_name(self, name: cst.Name) -> bool:
        owner = self._owner(name)
        for node in iter_tree(owner):
            if isinstance(node, cst.WithItem) and isinstance(node.asname, cst.AsName):
                target = node.asname.name
                if isinstance(target, cst.Name) and target.value == name.value and isinstance(node.item, cst.Call):
                    if self.names.qualified_names(node.item.func) & SESSIONS:
                        return True
        return False

    def _subscript_use(self, node: cst.CSTNode, parent: cst.CSTNode) -> list[cst.CSTNode] | None:
        if isinstance(parent, cst.Subscript):
            return [parent] if parent.value is node else []
        return []  # an index or a slice bound: integer positions

    # Names, attributes and returns -----------------------------------------------------------

    def _assigned(self, statement: cst.Assign | cst.AugAssign | cst.AnnAssign) -> list[cst.CSTNode] | None:
        targets = [t.target for t in statement.targets] if isinstance(statement, cst.Assign) else [statement.target]
        found: list[cst.CSTNode] = []
        for target in targets:
            for leaf in _leaves(target):
                if isinstance(leaf, cst.Name):
                    reads = self._later_reads(statement, leaf.value)
                    if reads is None:
                        return None
                    found += reads
                elif isinstance(leaf, cst.Attribute) and leaf.attr.value.startswith("_") and self._is_self(leaf.value):
                    reads = self._self_reads(leaf)
                    if reads is None:
                        return None
                    found += reads
                else:
                    return None  # an item of a container, an attribute of another object
        return found

    def _later_reads(self, statement: cst.CSTNode, name: str) -> list[cst.CSTNode] | None:
        """The reads of `name` the assignment may reach: those after it in its function (or
        module), and every read in a loop around it."""
        owner = self._owner(statement)
        if isinstance(owner, cst.Module) and not name.startswith("_") and not self._script:
            return None  # a public module-level name: another module may import it
        loop = self._enclosing(statement, _LOOPS, owner)
        start = self._order[id(statement)]
        killers = self._overwrites(owner).get(name, ())
        later = [
            read for read in self._reads(owner).get(name, ())
            if not self._inside(read, statement)
            and (self._owner(read) is not owner  # a closure reads it whenever it is called
                 or self._order[id(read)] > start or (loop is not None and self._inside(read, loop)))
        ]
        reads = [
            read for read in later
            if self._owner(read) is not owner
            or not any(start < self._order[id(k)] < self._order[id(read)] and not self._inside(read, k) for k in killers)
        ]
        if not reads and isinstance(owner, cst.FunctionDef) and (later or self._dead_mode) and name not in self._declared(owner):
            return []  # overwritten before any read (or, for a dead value, never read): it goes nowhere
        return reads or None  # a value not used yet (code being written) may be

    def _parameter_reads(self, param: cst.Param) -> list[cst.CSTNode] | None:
        """A parameter's value goes to its reads in the function (none: nowhere)."""
        function = self._owner(param)
        name = param.name.value
        if not self._reads(function).get(name):
            return []
        return self._later_reads(param, name)

    def _self_reads(self, store: cst.Attribute) -> list[cst.CSTNode] | None:
        """The reads of a private `self._attr` in the methods of its class."""
        cls = self._enclosing(store, (cst.ClassDef,), None)
        if cls is None:
            return None
        reads = [
            node for node in self._class_index(cls)[0].get(store.attr.value, ())
            if node is not store and not self._is_store(node)
        ]
        return reads or None

    def _class_index(self, cls: cst.ClassDef):
        """(`self.<name>` nodes, `self.<name>(...)` calls) of a class by name, read once."""
        if cls not in self._self_attributes:
            attributes: dict[str, list[cst.Attribute]] = {}
            calls: dict[str, list[cst.Call]] = {}
            for node in iter_tree(cls):
                if isinstance(node, cst.Attribute) and self._is_self(node.value):
                    attributes.setdefault(node.attr.value, []).append(node)
                elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and self._is_self(node.func.value):
                    calls.setdefault(node.func.attr.value, []).append(node)
            self._self_attributes[cls], self._self_calls[cls] = attributes, calls
        return self._self_attributes[cls], self._self_calls[cls]

    def _returned(self, statement: cst.Return) -> list[cst.CSTNode] | None:
        """A private function's result (any function's, in a script) goes where the module's
        calls of it go."""
        function = self._owner(statement)
        if not isinstance(function, cst.FunctionDef):
            return None
        if not function.name.value.startswith("_") and not self._script:  # callers may be elsewhere
            return None
        name = function.name.value
        cls = self._class_of(function)
        if cls is not None:
            calls = list(self._class_index(cls)[1].get(name, ()))
        elif self.model.functions.get(name) is function:
            calls = [call for call, _ in self.model._call_sites().get(name, ())]
        else:
            return None
        return calls or None

    # Positions -------------------------------------------------------------------------------

    def _parents_of(self) -> dict[int, cst.CSTNode]:
        """The parent of every node in the module, and each node's place in source order."""
        if self._parents is None:
            parents: dict[int, cst.CSTNode] = {}
            order = self._order
            stack: list[cst.CSTNode] = [self.model.module]
            while stack:
                node = stack.pop()
                order[id(node)] = len(order)
                children = iter_children(node)
                for child in children:
                    parents[id(child)] = node
                children.reverse()
                stack.extend(children)
            self._parents = parents
        return self._parents

    def _owner(self, node: cst.CSTNode) -> cst.CSTNode:
        """The function (or lambda, or the module) whose code `node` is part of."""
        parents = self._parents
        current = parents.get(id(node))
        while current is not None and type(current) not in _FUNCTIONS:
            current = parents.get(id(current))
        return current if current is not None else self.model.module

    def _enclosing(self, node: cst.CSTNode, kinds: tuple, stop: cst.CSTNode | None) -> cst.CSTNode | None:
        current = self._parents.get(id(node))
        while current is not None and current is not stop:
            if isinstance(current, kinds):
                return current
            current = self._parents.get(id(current))
        return None

    def _inside(self, node: cst.CSTNode, ancestor: cst.CSTNode) -> bool:
        return any(current is ancestor for current in self._ancestors(node))

    def _ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        current = self._parents.get(id(node))
        while current is not None:
            yield current
            current = self._parents.get(id(current))

    def _class_of(self, function: cst.FunctionDef) -> cst.ClassDef | None:
        """The class whose body defines `function` (FunctionDef -> IndentedBlock -> ClassDef)."""
        cls = self._parents.get(id(self._parents.get(id(function))))
        return cls if isinstance(cls, cst.ClassDef) else None

    def _declared(self, owner: cst.FunctionDef) -> set[str]:
        """Names `owner` declares `global` or `nonlocal`: stored for other code to read."""
        found = self._globals.get(owner)
        if found is None:
            found = {
                item.name.value
                for node in iter_tree(owner.body)
                if isinstance(node, (cst.Global, cst.Nonlocal))
                for item in node.names
            }
            self._globals[owner] = found
        return found

    def _overwrites(self, owner: cst.CSTNode) -> dict[str, list[cst.CSTNode]]:
        """The statements of `owner`'s own body (not in a branch, loop or `try`) that assign a
        name without reading it first: after one, an earlier value of the name is gone."""
        table = self._overwriters.get(owner)
        if table is None:
            table = {}
            body = owner.body if isinstance(owner, cst.FunctionDef) else None
            statements = body.body if isinstance(body, cst.IndentedBlock) else []
            for line in statements:
                if not isinstance(line, cst.SimpleStatementLine):
                    continue
                for small in line.body:
                    if isinstance(small, cst.Assign):
                        for target in small.targets:
                            for leaf in _leaves(target.target):
                                if isinstance(leaf, cst.Name):
                                    table.setdefault(leaf.value, []).append(small)
            self._overwriters[owner] = table
        return table

    def _reads(self, owner: cst.CSTNode) -> dict[str, list[cst.Name]]:
        """The names read in `owner`'s code (nested functions included: a closure reads them)."""
        table = self._loads.get(owner)
        if table is None:
            table = {}
            body = owner.body if isinstance(owner, (cst.FunctionDef, cst.Lambda)) else owner
            stack = [body]
            while stack:
                node = stack.pop()
                if type(node) is cst.Name:
                    if self._is_read(node):
                        table.setdefault(node.value, []).append(node)
                    continue
                stack.extend(iter_children(node))
            self._loads[owner] = table
        return table

    def _is_read(self, name: cst.Name) -> bool:
        parent = self._parents.get(id(name))
        kind = type(parent)
        if kind is cst.Attribute or kind is cst.Arg:
            return parent.value is name
        if kind in _NOT_READS:
            return False
        return not self._is_store(name)

    def _is_store(self, node: cst.CSTNode) -> bool:
        """`node` is (a part of) an assignment target, a loop variable or a `with ... as` name."""
        child, parent = node, self._parents.get(id(node))
        while type(parent) in _CONTAINERS:
            child, parent = parent, self._parents.get(id(parent))
        if type(parent) is cst.AssignTarget:
            return True
        if isinstance(parent, (cst.AnnAssign, cst.AugAssign)):
            return parent.target is child and not isinstance(parent, cst.AugAssign)
        if isinstance(parent, (cst.For, cst.CompFor)):
            return parent.target is child
        return isinstance(parent, cst.AsName)

    def _is_self(self, node: cst.BaseExpression) -> bool:
        """`node` is the first parameter of the method it is read in."""
        if not isinstance(node, cst.Name):
            return False
        function = self._owner(node)
        if not isinstance(function, cst.FunctionDef):
            return False
        params = function.params.posonly_params or function.params.params
        return bool(params) and params[0].name.value == node.value and self._class_of(function) is not None

    @cached_property  # asked for each module-level assignment a value goes through
    def _script(self) -> bool:
        """The module is a program, so no other module imports its names: it cannot be
        imported (no name, or not an identifier), or it runs at import (a `__main__` guard, a
        loop or a `with` block at the top level)."""
        if not all(part.isidentifier() for part in self.model.dotted_name.split(".")):
            return True
        for statement in self.model.module.body:
            if isinstance(statement, (cst.For, cst.While, cst.With)):
                return True
            if isinstance(statement, cst.If) and "__main__" in self.model._source(statement.test):
                return True
        return False


def _parameter_of(function: cst.FunctionDef, call: cst.Call, arg: cst.Arg) -> cst.Param | None:
    """The parameter of `function` that `arg` of `call` binds; None for a `*args`/`**kwargs`
    one or an argument that matches none."""
    params = function.params
    if arg.keyword is not None:
        named = [p for p in (*params.posonly_params, *params.params, *params.kwonly_params)
                 if p.name.value == arg.keyword.value and p not in params.posonly_params]
        return named[0] if named else None
    position = next(index for index, given in enumerate(call.args) if given is arg)
    positional = [*params.posonly_params, *params.params]
    return positional[position] if position < len(positional) else None


def _leaves(target: cst.BaseExpression) -> Iterator[cst.BaseExpression]:
    if isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _leaves(element.value)
    else:
        yield target

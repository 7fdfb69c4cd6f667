"""One module's semantic model: the value of an expression, through names, `self`, calls and imports.

Only what the model can see for certain counts: a name holds what every assignment reaching
the read gives (those before it, from the last one made unconditionally), a function's result
is what every `return` gives, a `self.<attr>` what every assignment to it in the class and its
project bases gives, and a parameter of a module-level function what every call in the module
passes (unknown when it has no caller there). Each function's result is computed once per class
of `self` (`_results`), a cycle reads as unknown, and the chains of names, calls and modules
are bounded (`MAX_DEPTH` within a function, `MAX_SUMMARIES` summaries inside one another).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import libcst as cst

from gradlint.data import api_table, framework_modules
from gradlint.engine.names import NameTable, referenced_names
from gradlint.engine.positions import code_for_node
from gradlint.engine.syntax import (
    STATEMENT_HOLDERS, argument, assigned_names, is_constant, number, own_nodes, parameter_names, parameter_position,
    passed_arguments, positional, small_statements, string,
)
from gradlint.engine.walker import iter_children
from gradlint.semantic.values import SAVES_INPUT, SAVES_OUTPUT, UNKNOWN, WRITES_INPUT, Value, join
from gradlint.semantic.dtypes import precision
from gradlint.semantic.losses import compiled_losses, losses_used
from gradlint.semantic.summaries import Summaries
from gradlint.semantic.uses import Uses
from gradlint.semantic.views import view_base

SOFTMAX = api_table("softmax_softmax")
SIGMOID = api_table("softmax_sigmoid")
EXP = api_table("softmax_exp")
SUM = api_table("softmax_sum")
CLIP = api_table("softmax_clip")
LOG_SOFTMAX = api_table("softmax_log_softmax")
DENSE = api_table("softmax_dense")
SOFTMAX_LAYER = api_table("softmax_softmax_layer")
SIGMOID_LAYER = api_table("softmax_sigmoid_layer")
SEQUENTIAL = api_table("softmax_sequential")
SAME_VALUE = api_table("semantic_same_value")
NOISE = api_table("sampling_noise")
EMPTY_BUFFER = api_table("semantic_empty_buffer")
CONTAINER_ADD = api_table("semantic_container_add")
FUNCTIONAL_MODEL = api_table("semantic_functional_model")
DENSE_FUNCTION = api_table("semantic_dense_function")
LAYER_BASES = api_table("semantic_layer_bases")
_LAYER_PREFIXES = tuple(LAYER_BASES.info["prefixes"])
_LAYER_SUFFIXES = tuple(LAYER_BASES.info["name_suffixes"])
_WEIGHT_METHODS = frozenset(api_table("semantic_weight_methods").methods)
APPLY_FUNCTION = api_table("semantic_apply_function")
FUNCTION_TRANSFORM = api_table("semantic_function_transform")
SAME_ARGUMENTS = api_table("semantic_same_arguments")
LAYER_WIDTH = api_table("semantic_layer_width")
# What torch ops and modules save for backward, and which modules can run in place.
SAVES_OUTPUT_OPS = api_table("torch_training_saves_output")
SAVES_INPUT_OPS = api_table("torch_training_saves_inputs")
SAVES_OUTPUT_MODULES = api_table("torch_training_saves_output_modules")
SAVES_INPUT_MODULES = api_table("torch_training_saves_input_modules")
INPLACE_MODULES = api_table("torch_training_inplace_modules")
# `for m in net.modules()`: the loops that visit every sub-module of a model.
_MODULE_WALKS = frozenset({"modules", "children", "named_modules", "named_children"})
# The framework a layer base belongs to, by the head of its canonical name.
_LAYER_FRAMEWORKS = {"tensorflow": "tensorflow", "keras": "keras", "torch": "torch", "jax": "jax", "flax": "jax",
                     "haiku": "jax", "equinox": "jax", "lasagne": "theano"}

# The kinds of probability computed from logits (`Value.probability`), and a sum of
# exponentials (its log overflows: `logsumexp` is the stable spelling).
SOFTMAX_KIND = "softmax"
SIGMOID_KIND = "sigmoid"
ONE_MINUS_SIGMOID = "one minus sigmoid"
ONE_MINUS_SOFTMAX = "one minus softmax"
HANDWRITTEN_SOFTMAX = "hand-written softmax"
EXP_LOG_SOFTMAX = "exp of log_softmax"
SUM_OF_EXP = "sum of exp"

# What calling an instance runs, first found wins: torch, Keras, Flax/Haiku/Equinox.
CALL_METHODS = ("forward", "call", "__call__")
MAX_DEPTH = 8  # names, calls and attributes followed within one function
MAX_SUMMARIES = 24  # function summaries computed inside one another
_EPSILON_WORDS = ("eps", "tiny", "epsilon", "small")
_ACTIVATIONS = {"softmax": SOFTMAX_KIND, "sigmoid": SIGMOID_KIND}


def is_epsilon(node: cst.BaseExpression, source: str) -> bool:
    """A small positive constant added to keep a value off zero: `1e-8`, `eps`, `self.epsilon`."""
    value = number(node)
    if value is not None:
        return 0 < value < 1e-2
    return len(source) < 40 and any(word in source.lower() for word in _EPSILON_WORDS)


@dataclass(frozen=True)
class ClassRef:
    """A class and the model of the module that defines it."""

    model: ModuleModel
    node: cst.ClassDef


@dataclass(frozen=True)
class Scope:
    """Where an expression is read: the functions around it (innermost first) and the class of
    `self` there (for an inherited method, the class of the instance, so that the attributes
    its subclass assigns are seen)."""

    functions: tuple[cst.FunctionDef | cst.Lambda, ...] = ()
    cls: ClassRef | None = None
    # The position of the statement being read in its function (or module), in source order:
    # the assignments that reach it are the ones before it (`_reaching`); None when unknown.
    at: int | None = None


@dataclass(frozen=True)
class Place:
    """Where an expression is read, for a rule that follows values itself through
    `ModuleModel.assignments` and `ModuleModel.returns`: the model of its module (whose
    imports name its APIs) and the scope."""

    model: ModuleModel
    scope: Scope
    # In a function reached through a call (`ModuleModel.returns`): what the call gives each
    # parameter, and where that argument is read.
    arguments: tuple[tuple[str, cst.BaseExpression, Place], ...] = ()

    def argument(self, name: str) -> tuple[cst.BaseExpression, Place] | None:
        """What the call that reached this function gives its parameter `name`, if known."""
        return next(((value, at) for given, value, at in self.arguments if given == name), None)

    def qualified_names(self, node: cst.BaseExpression) -> frozenset[str]:
        return self.model.names.qualified_names(node)

    def method(self, call: cst.Call) -> str | None:
        return self.model.names.method(call)

    def source(self, node: cst.CSTNode) -> str:
        return self.model._source(node)


# A function of the project: the model of its module, the function, the class of `self` in it.
_Function = tuple["ModuleModel", cst.FunctionDef, "ClassRef | None"]

_PARAMETER = Scope()  # where a parameter's value comes from: a caller the model does not follow


class ModuleModel:
    """The semantic model of one module; `index` finds the other modules of its project."""

    _summaries_open = 0  # across modules: a summary may need another module's

    def __init__(self, module: cst.Module, names: NameTable | None = None, index=None, dotted_name: str = "",
                 walrus: bool = True) -> None:
        self.module = module
        self.walrus = walrus  # the module's text may hold `:=`: assignments are looked for in expressions too
        self.names = names or NameTable(module)
        self.index = index
        self.dotted_name = dotted_name  # e.g. "pkg.models.net"; "" when not importable
        self.functions: dict[str, cst.FunctionDef] = {}
        self.classes: dict[str, cst.ClassDef] = {}
        self._owner: dict[cst.FunctionDef, cst.ClassDef] = {}
        for statement in _definitions(module):
            if isinstance(statement, cst.FunctionDef):
                self.functions[statement.name.value] = statement
            elif isinstance(statement, cst.ClassDef):
                self.classes[statement.name.value] = statement
                for item in _definitions(statement):
                    if isinstance(item, cst.FunctionDef):
                        self._owner[item] = statement
        self._imports = _project_imports(self.names, dotted_name)
        self._star_modules = _star_modules(self.names, dotted_name)
        self._bindings: dict[cst.CSTNode, dict[str, list[tuple[cst.BaseExpression, tuple[int, ...] | None]]]] = {}
        self._attributes: dict[cst.ClassDef, dict[str, list[tuple[cst.BaseExpression, cst.FunctionDef]]]] = {}
        self._results: dict[tuple[cst.FunctionDef, cst.ClassDef | None], Value] = {}
        # Small statements (and assigned values) -> (position in their function or module, made
        # unconditionally); filled by `_bound`.
        self._when: dict[cst.CSTNode, tuple[int, bool]] = {}
        self._arguments: dict[tuple[cst.FunctionDef, str], Value] = {}
        self._calls: dict[str, list[tuple[cst.Call, Scope]]] | None = None
        self._method_calls: dict[str, list[tuple[cst.Call, Scope]]] = {}  # `x.name(...)`, found with the calls
        self._callers: dict[cst.FunctionDef, list[tuple[cst.Call, Place]]] = {}
        self._saved_outputs: dict[cst.FunctionDef, frozenset[str]] = {}
        self._compile_calls: list[tuple[cst.Call, Scope]] = []  # `<model>.compile(...)`, found with the calls
        self._compiled: dict[str, list[tuple[cst.BaseExpression, Scope]]] | None = None
        # Containers filled after construction: owner -> name -> the layers added, in order.
        self._added: dict[cst.CSTNode, dict[str, list[cst.BaseExpression]]] = {}
        # Buffers filled element by element: owner -> name -> the values written (`p[i] = v`),
        # and the in-place divisions of the name (`p /= p.sum()`).
        self._written: dict[cst.CSTNode, dict[str, list[cst.BaseExpression]]] = {}
        self._divided: dict[cst.CSTNode, dict[str, list[cst.AugAssign]]] = {}
        # Buffers filled with noise in place (`eps.normal_()`, `eps.data.normal_()`): owner -> names.
        self._filled: dict[cst.CSTNode, set[str]] = {}
        # Per class: `self.<attr>` containers -> the layers added to them (`self.model.add(...)`), in order.
        self._added_attributes: dict[cst.ClassDef, dict[str, list[tuple[cst.BaseExpression, cst.FunctionDef]]]] = {}
        self._sources: dict[cst.CSTNode, str] = {}
        # Per class of this module: its methods by name, the class and its project bases, and
        # the assignments of an attribute in all of them.
        self._method_tables: dict[cst.ClassDef, dict[str, cst.FunctionDef]] = {}
        self._lineages: dict[cst.ClassDef, tuple[ClassRef, ...]] = {}
        self._inherited_attributes: dict[tuple[cst.ClassDef, str], list] = {}
        self._dispatched: dict[tuple, Value] = {}  # (function, constant arguments) -> result
        self._configured_inplace: frozenset[str] | None = None
        # (function or class, the creation test) -> whether calling it makes a weight.
        self._weight_functions: dict[tuple[cst.FunctionDef | cst.ClassDef, Callable], bool] = {}
        self._losses_used: frozenset[str] | None = None  # names this module uses as a loss
        self._losses_elsewhere: dict[str, bool] = {}  # name -> a module importing it uses it as one
        self.precision_switches: dict[str, bool] = {}  # framework prefix -> the module switches its default dtype

    def close(self) -> None:
        """Forget what was found, here and in the other modules read. The memos hold scopes and
        `ClassRef`s of this model, and the other modules' models hold the index: cycles that
        would keep the trees alive until a garbage collection, which walks every node of them.
        A query after `close` finds again what it needs."""
        self.forget()
        if self.index is not None:
            self.index.close()

    def forget(self) -> None:
        """Drop the memos that hold scopes and `ClassRef`s of this model."""
        for memo in (
            self._results, self._arguments, self._lineages, self._inherited_attributes, self._dispatched,
            self._weight_functions, self._callers,
        ):
            memo.clear()
        self._calls = self._compiled = None

    # Queries ------------------------------------------------------------------------------

    def value(
        self, node: cst.BaseExpression, scopes: Sequence[cst.CSTNode] = (), statement: cst.CSTNode | None = None
    ) -> Value:
        """The value of `node` read inside `scopes` (the walk's stack of functions, classes,
        lambdas), in `statement` when given (then only the assignments before it count)."""
        return self._eval(node, self._scope(scopes, statement), 0)

    def place(self, scopes: Sequence[cst.CSTNode] = (), statement: cst.CSTNode | None = None) -> Place:
        """The place of an expression read inside `scopes`, in `statement` when given."""
        return Place(self, self._scope(scopes, statement))

    @staticmethod
    def assignments(node: cst.BaseExpression, place: Place, callers: bool = False
                    ) -> list[tuple[cst.BaseExpression, tuple[int, ...] | None, Place]] | None:
        """What the name or `self` attribute `node`, read at `place`, may hold: each assignment
        that reaches the read, as (the value, the path of positions taken from it in tuple
        unpacking or None, where the value is read); None when the model cannot tell (a
        parameter, a loop variable, a name the module does not assign, a method). With
        `callers`, a parameter that no call reached holds what each call of its function in the
        project gives it (`ModuleModel.callers`); None when there is none, or one gives nothing."""
        model, scope = place.model, place.scope
        if isinstance(node, cst.Name):
            bound, where = model._local_with_scope(node.value, scope)
            if where is _PARAMETER:
                function = scope.functions[0] if scope.functions else None
                if function is None or node.value not in parameter_names(function):
                    return None
                given = place.argument(node.value)
                if given is not None:
                    return [(given[0], None, given[1])]
                return model._given_by_callers(function, node.value) if callers else None
            if not bound or any(isinstance(value, (cst.For, cst.With)) for value, _ in bound):
                return None
            # The arguments stay known for the values assigned in the function they were given to.
            arguments = place.arguments if where.functions[:1] == scope.functions[:1] else ()
            return [(value, index, Place(model, replace(where, at=model._when.get(value, (None, False))[0]), arguments))
                    for value, index in bound]
        if isinstance(node, cst.Attribute) and model._self_class(node.value, scope) is not None:
            assigned = _assigned(scope.cls, node.attr.value)
            if not assigned or _method(scope.cls, (node.attr.value,)) is not None:
                return None
            found = []
            for owner, value, method in assigned:
                owner._bound(method)  # records the positions
                found.append((value, None, Place(owner, Scope((method,), scope.cls, owner._when.get(value, (None, False))[0]))))
            return found
        return None

    @staticmethod
    def only_assignment(node: cst.BaseExpression, place: Place) -> tuple[cst.CSTNode, Place] | None:
        """What a name or `self` attribute holds at `place` when exactly one assignment reaches
        the read, not unpacked from a tuple: the value (an expression, or a `def`) and where it
        is read; else None."""
        values = ModuleModel.assignments(node, place) if isinstance(node, (cst.Name, cst.Attribute)) else None
        return (values[0][0], values[0][2]) if values and len(values) == 1 and values[0][1] is None else None

    @staticmethod
    def returns(call: cst.Call, place: Place) -> list[tuple[cst.BaseExpression, Place]] | None:
        """The expressions the function of the project that `call` (read at `place`) runs may
        return, each with where it is read, where the function's parameters hold what `call`
        gives them (`Place.argument`): a function of the module or imported from the project,
        or a method of `self`; None when the call runs no such function or one of its
        `return`s has no value."""
        model = place.model
        called = model._called_function(call.func, place.scope)
        if called is None and isinstance(call.func, cst.Attribute):  # `geometry.distance(...)`
            found = model.project_function(call.func)
            called = (*found, None) if found is not None else None
        if called is None:
            return None
        owner, function, cls = called
        owner._bound(function)  # records the positions
        if cls is None and function in owner._owner:
            cls = ClassRef(owner, owner._owner[function])
        returns = [node for node in small_statements(function.body) if isinstance(node, cst.Return)]
        if not returns or any(node.value is None for node in returns):
            return None
        arguments = ()
        if not any(arg.star for arg in call.args):
            method = isinstance(call.func, cst.Attribute) and function in owner._owner  # `self.helper(x)`
            given = ((name, argument(call, name, parameter_position(function, name, bound=method)))
                     for name in parameter_names(function))
            arguments = tuple((name, value, place) for name, value in given if value is not None)
        return [(node.value, Place(owner, Scope((function,), cls, owner._when[node][0]), arguments)) for node in returns]

    def used_as_loss(self, name: str) -> bool:
        """Whether the project uses the module's function or class `name` as a loss
        (`compile(loss=name)`, `jax.grad(name)`, `loss = name(p, y)`: `gradlint.semantic.losses`),
        here or in a module that imports it (`from .metrics import rmse`, then `loss=rmse`)."""
        if name in self._losses_here():
            return True
        if name not in self._losses_elsewhere:
            self._losses_elsewhere[name] = False  # an import cycle reads as no
            self._losses_elsewhere[name] = bool(self.index is not None and self.dotted_name) and any(
                local in user._losses_here()
                for user in self.index.users(name) or ()
                if user.dotted_name != self.dotted_name
                for local in user._names_for(self.dotted_name, name)
            )
        return self._losses_elsewhere[name]

    def _losses_here(self) -> frozenset[str]:
        if self._losses_used is None:
            self._losses_used = losses_used(self)
        return self._losses_used

    def reaches_gradient(self, node: cst.CSTNode) -> bool:
        """Whether the value of `node` may reach a place where a gradient is taken; False only
        when every path of it is cut, only looked at or evaluated (`gradlint.semantic.uses`)."""
        return self._uses.reaches_gradient(node)

    def is_dead(self, node: cst.CSTNode) -> bool:
        """Whether the value of `node` (in a function) is never used, but perhaps in a condition:
        stored in names that are overwritten or never read (`gradlint.semantic.uses`)."""
        return self._uses.is_dead(node)

    def precision(self, node: cst.BaseExpression, scopes: Sequence[cst.CSTNode] = ()) -> str | None:
        """The floating precision of the array `node` holds: "float32", "float64", or None when
        not known (`gradlint.semantic.dtypes`)."""
        return precision(self, node, scopes)

    def only_through(self, node: cst.CSTNode, loop: cst.For) -> bool:
        """Whether the value of `node` is used only inside the body of `loop`
        (`gradlint.semantic.uses`)."""
        return self._uses.only_through(node, loop)

    def added_after(self, call: cst.Call, scopes: Sequence[cst.CSTNode] = ()) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
        """For `container.add(layer)` as a statement, with the container a local or module
        name or a `self` attribute: the layer added to the same container just before, and
        `layer` (`model.add(Dense(1))`, then `model.add(Activation("softmax"))`); else None."""
        container = _container_addition(call)
        if container is None:
            return None
        place = self.place(scopes)
        if isinstance(container[0], cst.Name):
            layers = self.added_layers(container[0].value, place)
        elif isinstance(container[0], cst.Attribute) and (cls := self._self_class(container[0].value, place.scope)) is not None:
            added = _added(cls, container[0].attr.value)
            layers = [layer for layer, _ in added[1]] if added is not None else []
        else:
            return None
        position = next((i for i, layer in enumerate(layers) if layer is container[1]), 0)
        return (layers[position - 1], container[1]) if position > 0 else None

    def callers(self, function: cst.FunctionDef) -> list[tuple[cst.Call, Place]]:
        """The calls of `function`, a function or method of this module, in the project: by
        name (here, and in the modules that import it), and for a method through `self` or on
        an instance of its class (here, and in the modules that import the class), each with
        where it is read. Bounded like `ProjectIndex.users`: modules past that bound are not read."""
        known = self._callers.get(function)
        if known is None:
            known = self._callers[function] = self._find_callers(function)
        return known

    def _find_callers(self, function: cst.FunctionDef) -> list[tuple[cst.Call, Place]]:
        name = function.name.value
        cls = self._owner.get(function)
        if cls is None and self.functions.get(name) is not function:
            return []  # a nested function
        users = self.index.users(cls.name.value if cls is not None else name) if self.index is not None and self.dotted_name else ()
        found = []
        for model in (self, *(users or ())):
            model._call_sites()
            if cls is None:
                local = [name] if model is self else model._names_for(self.dotted_name, name)
                sites = [site for each in local for site in model._calls.get(each, ())]
            else:  # the other modules read this module through the index: its own tree, not this one
                sites = [(call, scope) for call, scope in model._method_calls.get(name, ())
                         if (called := model._called_function(call.func, scope)) is not None
                         and called[0].dotted_name == self.dotted_name and called[1].name.value == name
                         and called[0]._owner.get(called[1], cls).name.value == cls.name.value]
            found += [(call, Place(model, scope)) for call, scope in sites]
        return found

    def _given_by_callers(self, function: cst.FunctionDef | cst.Lambda, name: str
                          ) -> list[tuple[cst.BaseExpression, None, Place]] | None:
        if not isinstance(function, cst.FunctionDef):
            return None
        found = []
        for call, place in self.callers(function):
            given = _given(function, call, name, bound=isinstance(call.func, cst.Attribute) and function in self._owner)
            if given is None:
                return None
            found.append((given[0], None, Place(self, Scope()) if given[1] else place))  # a default: read here
        return found or None

    @staticmethod
    def added_layers(name: str, place: Place) -> list[cst.BaseExpression]:
        """The layers added, in order, to the container the local (or module) name `name`
        holds in the function of `place` (`m = Sequential()`, then `m.add(...)`)."""
        model, functions = place.model, place.scope.functions
        owner = functions[0] if functions and isinstance(functions[0], cst.FunctionDef) else model.module
        model._bound(owner)
        return model._added.get(owner, {}).get(name, [])

    def computes_tensor(self, call: cst.Call) -> bool:
        """Whether `call` is a framework function that computes a new tensor from its
        arguments (`tf.concat`, `K.dot`, `jnp.transpose`), rather than a class (a layer, a
        variable) or anything of the project (`gradlint.semantic.uses`)."""
        return self._uses.computes_tensor(call)
    def view_base(
        self, node: cst.BaseExpression, scopes: Sequence[cst.CSTNode] = (), element: int | None = None
    ) -> cst.BaseExpression | None:
        """The expression whose storage `node` (or its element `element`, unpacked from a
        tuple) shares, one step: a torch view (`a.view(-1)`, `a[:, 1:]`, `torch.chunk(a, 2)`:
        `gradlint.semantic.views`), or the argument a project function returns a view of
        (`def halves(t): return t[:, :c], t[:, c:]`)."""
        base = view_base(node, self.names)
        if base is not None or not isinstance(node, cst.Call):
            return base
        found = self.project_function(node.func)
        if found is None:
            return None
        model, function = found
        viewed = model._summaries.viewed_parameters(function.name.value)
        if isinstance(viewed, tuple):
            viewed = viewed[element] if element is not None and -len(viewed) <= element < len(viewed) else None
        if viewed is None:
            return None
        params = [p.name.value for p in (*function.params.posonly_params, *function.params.params)]
        return argument(node, viewed, params.index(viewed) if viewed in params else None)

    def configured_inplace(self) -> frozenset[str]:
        """The module classes a loop of this module switches to run in place: `for m in
        net.modules(): if isinstance(m, (nn.ReLU, nn.Dropout)): m.inplace = True` (every torch
        module with an `inplace` flag when no `isinstance` test picks some). Read as applying
        to every such module built in the file; found once, from the statements only."""
        if self._configured_inplace is None:
            found: set[str] = set()
            for loop, assignment, tests in _inplace_assignments(self.module):
                found |= self._configured_classes(loop, assignment, tests)
            self._configured_inplace = frozenset(found)
        return self._configured_inplace

    def _configured_classes(self, loop: cst.For, assignment: cst.Assign, tests: list[cst.BaseExpression]) -> set[str]:
        target = assignment.targets[0].target
        module = target.value.value  # type: ignore[attr-defined]
        walk = loop.iter
        if not (isinstance(walk, cst.Call) and self.names.method(walk) in _MODULE_WALKS):
            return set()
        if module not in assigned_names(loop.target):
            return set()
        classes = [
            kind
            for test in tests
            for call in (test, *own_nodes(test))
            if isinstance(call, cst.Call) and isinstance(call.func, cst.Name) and call.func.value == "isinstance"
            and len(call.args) == 2 and isinstance(call.args[0].value, cst.Name) and call.args[0].value.value == module
            for kind in _class_expressions(call.args[1].value)
        ]
        if not classes:
            return set(INPLACE_MODULES)
        return {name for kind in classes for name in self.names.qualified_names(kind)}

    def logits_parameter(self, func: cst.BaseExpression) -> tuple[int, str] | None:
        """For the callee `func` (a function of this module or of another module of the
        project): the position and name of the parameter it uses as logits
        (`gradlint.semantic.summaries`), or None."""
        target = self.project_function(func)
        return None if target is None else target[0]._summaries.logits_parameter(target[1].name.value)

    def squares_parameter(self, func: cst.BaseExpression) -> tuple[int, str] | None:
        """For the callee `func` (a function of this module or of another module of the
        project): the position and name of the parameter whose sum of squares it returns
        (`gradlint.semantic.summaries`), or None."""
        target = self.project_function(func)
        return None if target is None else target[0]._summaries.squares_parameter(target[1].name.value)

    def norm_parameter(self, func: cst.BaseExpression) -> tuple[int, str] | None:
        """For the callee `func`: the position and name of the parameter whose Euclidean norm
        it returns with nothing guarding the root (`gradlint.semantic.summaries`), or None."""
        target = self.project_function(func)
        return None if target is None else target[0]._summaries.norm_parameter(target[1].name.value)

    def project_function(self, func: cst.BaseExpression) -> tuple[ModuleModel, cst.FunctionDef] | None:
        """The function of the project that `func` names, with the model of its module: a
        function of this module (`helper`), one imported from the project (`from .geo import
        helper`), or one read from an imported project module (`geo.helper`); else None."""
        if isinstance(func, cst.Name):
            if func.value in self.functions:
                return self, self.functions[func.value]
            module, attribute = self._import_target(func.value)
        elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            module, attribute = self._import_target(func.value.value)
            if attribute is not None:
                return None  # an attribute of an imported function or class
            attribute = func.attr.value
        else:
            return None
        if module is None or attribute not in module.functions:
            return None
        return module, module.functions[attribute]

    @cached_property
    def _uses(self) -> Uses:
        return Uses(self)

    @cached_property
    def _summaries(self) -> Summaries:
        return Summaries(self)

    def _scope(self, scopes: Sequence[cst.CSTNode], statement: cst.CSTNode | None = None) -> Scope:
        functions = tuple(s for s in reversed(scopes) if isinstance(s, (cst.FunctionDef, cst.Lambda)))
        cls = next((s for s in reversed(scopes) if isinstance(s, cst.ClassDef)), None)
        at = None
        if statement is not None:
            owner = functions[0] if functions else self.module
            if isinstance(owner, (cst.FunctionDef, cst.Module)):
                self._bound(owner)  # records the positions
                # A small statement, or the header of a `for`, `with`, `if` or `while`.
                simple = isinstance(statement, (cst.SimpleStatementLine, cst.SimpleStatementSuite))
                key = statement.body[0] if simple and statement.body else statement
                at = self._when.get(key, (None, False))[0]
        return Scope(functions, ClassRef(self, cls) if cls is not None else None, at)

    def origins(
        self, node: cst.BaseExpression, scopes: Sequence[cst.CSTNode] = (), defaults: list | None = None
    ) -> list[cst.BaseExpression] | None:
        """The expressions `node` may hold, followed through local and module names, `self`
        attributes (`criterion = nn.CrossEntropyLoss()`, `self.loss_fn = ...`) and both
        branches of `a if c else b`; None when one way in is not an assignment the model can
        read (a parameter, a loop variable). Given a list as `defaults`, a parameter whose
        callers the model does not see gives its default (`def __init__(self, steps=4)`),
        which is also appended to `defaults`."""
        return self._origins(node, self._scope(scopes), defaults)

    def _origins(self, node: cst.BaseExpression, scope: Scope, defaults: list | None = None,
                 with_models: bool = False) -> list | None:
        """`origins`; with `with_models`, each expression with the model of its module."""
        found: list = []
        todo: list[tuple[cst.BaseExpression, Scope, ModuleModel]] = [(node, scope, self)]
        for _ in range(4 * MAX_DEPTH):
            if not todo:
                return found
            current, scope, model = todo.pop()
            if isinstance(current, cst.Name):
                bound, where = model._local_with_scope(current.value, scope)
                if where is _PARAMETER:
                    function = next(f for f in scope.functions if current.value in parameter_names(f))
                    passed = model._passed(function, current.value)
                    if passed is None:
                        default = _default(function, current.value) if defaults is not None else None
                        if default is None:
                            return None
                        defaults.append(default)
                        passed = [(default, Scope())]
                    todo.extend((value, at, model) for value, at in passed)
                    continue
                if not bound or any(index is not None for _, index in bound):
                    return None
                todo.extend((value, where, model) for value, _ in bound)
            elif isinstance(current, cst.Attribute) and model._self_class(current.value, scope) is not None:
                assigned = _assigned(scope.cls, current.attr.value)
                if not assigned:
                    return None
                todo.extend((value, Scope((method,), scope.cls), owner) for owner, value, method in assigned)
            elif isinstance(current, cst.IfExp):
                todo += [(current.body, scope, model), (current.orelse, scope, model)]
            elif isinstance(current, (cst.For, cst.With)):
                return None  # a loop variable, a context manager's value
            else:
                found.append((current, model) if with_models else current)
        return None

    def location_key(
        self, node: cst.BaseExpression, scopes: Sequence[cst.CSTNode] = (), statement: cst.CSTNode | None = None
    ) -> tuple | None:
        """What names the value of `node` as a location (`Value.location`): the assignments of a
        name that reach the read, a parameter, or an attribute of `self`; None otherwise."""
        return self._location_key(node, self._scope(scopes, statement))

    def holds_constant(self, node: cst.BaseExpression, scopes: Sequence[cst.CSTNode] = (),
                       configuration: bool = False) -> bool:
        """Whether every value `node` may hold is a number written in the code (`3`, `beta=0.8`,
        `2 * margin`), followed through local and module names, the calls of a module function
        and `self` attributes: a setting, never a tensor that carries a gradient. With
        `configuration`, a constructor's parameter with no number default counts too
        (`self.std = std` in `__init__`: a setting given when the object is built)."""
        todo: list[tuple[cst.BaseExpression, Scope, ModuleModel]] = [(node, self._scope(scopes), self)]
        for _ in range(4 * MAX_DEPTH):
            if not todo:
                return True
            current, scope, model = todo.pop()
            if number(current) is not None:
                continue
            if isinstance(current, cst.BinaryOperation):
                todo += [(current.left, scope, model), (current.right, scope, model)]
            elif isinstance(current, cst.Name):
                bound, where = model._local_with_scope(current.value, scope)
                if where is _PARAMETER:
                    passed = model._parameter_values(current.value, scope, configuration)
                    if passed is None:
                        return False
                    todo += [(value, at, model) for value, at in passed]
                    continue
                if not bound or any(index is not None for _, index in bound):
                    return False
                todo += [(value, where, model) for value, _ in bound]
            elif isinstance(current, cst.Attribute) and model._self_class(current.value, scope) is not None:
                assigned = _assigned(scope.cls, current.attr.value)
                if not assigned or _method(scope.cls, (current.attr.value,)) is not None:
                    return False
                todo += [(value, Scope((method,), scope.cls), owner) for owner, value, method in assigned]
            else:
                return False
        return False

    def _parameter_values(self, name: str, scope: Scope, configuration: bool) -> list[tuple[cst.BaseExpression, Scope]] | None:
        """What a parameter may hold: what the module's calls pass, else its default; for a
        constructor's parameter with no default, nothing more (`configuration`) or unknown (None)."""
        function = next(f for f in scope.functions if name in parameter_names(f))
        passed = self._passed(function, name)
        if passed is not None:
            return passed
        default = _default(function, name)
        if default is not None:
            return [(default, Scope())]
        constructor = isinstance(function, cst.FunctionDef) and function.name.value == "__init__" and function in self._owner
        return [] if configuration and constructor else None

    def global_value(self, name: str, depth: int = 0, at: int | None = None) -> Value:
        """What a module-level name holds: a function or class (callable), or an assigned value
        (those before position `at` of the module's code, when given)."""
        if depth > MAX_DEPTH:
            return UNKNOWN
        if name in self.functions:
            return self._eval(self.functions[name], Scope(), depth)
        if name in self.classes:
            return Value(output=self.instance(ClassRef(self, self.classes[name])))
        bound = self._reaching(self._bound(self.module).get(name), at)
        if bound:
            return self._bound_value(self.module, name, bound, Scope(), depth)
        return self._imported(name, depth)

    def instance(self, cls: ClassRef) -> Value:
        """An instance of `cls`: calling it runs its `forward` / `call` / `__call__`, its own or
        inherited from a class of the project, and calling a method on it runs that method."""
        autograd = _inherited_autograd(cls)
        found = _method(cls, CALL_METHODS)
        if found is None:
            return Value(autograd=autograd, instance=cls)
        owner, method = found
        return Value(output=owner._result(method, cls), autograd=autograd, instance=cls)

    def layer_object(self, node: cst.BaseExpression, scopes: Sequence[cst.CSTNode] = ()) -> str | None:
        """The framework of the layer object `node` holds, when every value it may hold is
        built by a framework layer class (`nn.Linear(8, 4)`, `layers.Dense(4)`) or by a layer
        class of the project (`Block()`, in any module); else None."""
        origins = self._origins(node, self._scope(scopes), with_models=True)
        frameworks = {model._built_layer(origin) if isinstance(origin, cst.Call) else None for origin, model in origins or ()}
        return frameworks.pop() if len(frameworks) == 1 else None

    def _built_layer(self, call: cst.Call) -> str | None:
        for name in self.names.qualified_names(call.func):
            head, _, last = name.rpartition(".")
            if (name + ".").startswith(_LAYER_PREFIXES) and last[:1].isupper():
                return _LAYER_FRAMEWORKS.get(head.split(".", 1)[0])
        cls = self.class_ref(call.func)
        return self.layer_framework(cls) or None if cls is not None else None

    def layer_framework(self, cls: cst.ClassDef | ClassRef) -> str | None:
        """The framework whose layer or module class `cls` derives from, directly or through
        classes of the project in any module; "" when only the name of a base that cannot be
        resolved says so (`class Block(MyLayer)`); None when it is not a layer."""
        return _layer_framework(cls if isinstance(cls, ClassRef) else ClassRef(self, cls), frozenset())

    @staticmethod
    def creates_weights(cls: ClassRef, creates: Callable[[frozenset[str]], bool], depth: int = 0) -> bool:
        """Whether the methods of `cls` or of its project bases call something that makes a
        weight: a call whose qualified names (in the module that makes it) satisfy `creates`,
        `self.add_weight(...)`, or a project class that creates weights itself. Memoised per
        class: a class whose methods build classes that build it back reads as making none."""
        memo, key = cls.model._weight_functions, (cls.node, creates)
        known = memo.get(key)
        if known is None:
            memo[key] = False
            memo[key] = known = _class_makes_weights(cls, creates, depth)
        return known

    def makes_weights(self, call: cst.Call, scopes: Sequence[cst.CSTNode],
                      creates: Callable[[frozenset[str]], bool]) -> bool:
        """Whether `call`, read inside `scopes`, runs a function of the project that makes a
        weight each time it is called (a weight factory: TF1's `linear(x, n, "fc1")` calling
        `tf.get_variable`): a module-level function of this module or imported from another
        (a star import included), or a method of the class of `self`, whose code makes one
        (`creates_weights` for its calls), itself or through the functions it calls."""
        found = self._called_function(call.func, self._scope(scopes))
        return found is not None and _function_makes_weights(*found, creates, 0)

    def returned_creation(self, call: cst.Call, scopes: Sequence[cst.CSTNode],
                          creates: Callable[[frozenset[str]], bool]) -> tuple[ModuleModel, cst.FunctionDef, cst.Call] | None:
        """For a call of a variable factory of the project (`def make_weight(shape, name):
        return tf.Variable(...)`): the function, its module's model and the creation call
        (`creates` for its callee's names) whose result every `return` of it returns, directly
        or through a name bound once; else None. The result of `call` is that new weight."""
        found = self._called_function(call.func, self._scope(scopes))
        if found is None:
            return None
        model, function, _ = found
        made = {model._returned_creation(node.value, function, creates)
                for node in small_statements(function.body) if isinstance(node, cst.Return)}
        if len(made) != 1 or None in made:
            return None
        return model, function, made.pop()

    def _returned_creation(self, value: cst.BaseExpression | None, function: cst.FunctionDef,
                           creates: Callable[[frozenset[str]], bool]) -> cst.Call | None:
        if isinstance(value, cst.Name):
            bound = self._bound(function).get(value.value, ())
            value = bound[0][0] if len(bound) == 1 and bound[0][1] is None else None
        if isinstance(value, cst.Call) and creates(self.names.qualified_names(value.func)):
            return value
        return None

    def _called_function(self, func: cst.BaseExpression, scope: Scope) -> _Function | None:
        """The function of the project a call runs: `name(...)` not bound in the function, or
        `self.method(...)`."""
        if isinstance(func, cst.Name):
            if self._enclosing_binding(func.value, scope)[1] is not None:
                return None  # a parameter or local of the function
            found = self.project_function(func)
            return (*found, None) if found is not None else None
        if isinstance(func, cst.Attribute) and scope.cls is not None and self._self_class(func.value, scope) is not None:
            found = _method(scope.cls, (func.attr.value,))
            return (found[0], found[1], scope.cls) if found is not None else None
        if isinstance(func, cst.Attribute) and not self.names.qualified_names(func):
            return self._instance_method(func, scope, 0)
        return None

    def _instance_method(self, func: cst.Attribute, scope: Scope, depth: int) -> _Function | None:
        """The method of a project class that `obj.method` names, where every value `obj` may
        hold is an instance of that class (`self.policy = Policy()`, `net = Net()`)."""
        if func.attr.value in CALL_METHODS or func.attr.value.startswith("__"):
            return None
        cls = self._eval(func.value, scope, depth + 1).instance
        found = _method(cls, (func.attr.value,)) if isinstance(cls, ClassRef) else None
        return (found[0], found[1], cls) if found is not None else None

    @staticmethod
    def outside_bases(cls: ClassRef) -> frozenset[str] | None:
        """The qualified names of the bases of `cls` and of its project bases that are not
        classes of the project (`torch.nn.Module`, `keras.layers.Layer`); None when one of
        them cannot be named."""
        found: set[str] = set()
        for ref in _lineage(cls):
            for base in ref.node.bases:
                if base.keyword is not None:
                    continue
                if base.star:
                    return None
                expr = base.value.value if isinstance(base.value, cst.Subscript) else base.value
                if ref.model.class_ref(expr) is not None:
                    continue
                names = ref.model.names.qualified_names(expr)
                if not names:
                    return None
                found |= names
        return frozenset(found)

    @staticmethod
    def self_reads(cls: ClassRef, whole: frozenset[str]) -> frozenset[str] | None:
        """The attributes the methods of `cls` and of its project bases read on `self`; None
        when one of them may read any (`getattr(self, name)`, or an attribute of `whole` such
        as `self.parameters()`)."""
        found: set[str] = set()
        for ref in _lineage(cls):
            for method, me in _methods_with_self(ref.node):
                for node in own_nodes(method.body):
                    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == me:
                        found.add(node.attr.value)
                    elif isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in (
                        "getattr", "vars"
                    ) and node.args and isinstance(node.args[0].value, cst.Name) and node.args[0].value.value == me:
                        return None
        return None if found & whole else frozenset(found)

    def class_ref(self, node: cst.BaseExpression, depth: int = 0) -> ClassRef | None:
        """The project class an expression names (`Net`, `models.Net`, an imported one)."""
        if depth > MAX_DEPTH:
            return None
        if isinstance(node, cst.Name):
            if node.value in self.classes:
                return ClassRef(self, self.classes[node.value])
            module, attribute = self._import_target(node.value)
            return module.class_ref(cst.Name(attribute), depth + 1) if module is not None and attribute else None
        if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name):
            module, attribute = self._import_target(node.value.value)
            return module.class_ref(node.attr, depth + 1) if module is not None and attribute is None else None
        return None

    # Expressions --------------------------------------------------------------------------

    def _eval(self, node: cst.BaseExpression, scope: Scope, depth: int) -> Value:
        if depth > MAX_DEPTH:
            return UNKNOWN
        if isinstance(node, cst.ClassDef):  # a class defined where the name is read
            return Value(output=self.instance(ClassRef(self, node)))
        if isinstance(node, cst.FunctionDef):
            return Value(output=self._result(node), autograd=self._returns_saved_output(node))
        if isinstance(node, cst.Name):
            return self._name(node.value, scope, depth)
        if isinstance(node, cst.Attribute):
            return self._attribute(node, scope, depth)
        if isinstance(node, cst.Call):
            return self._call(node, scope, depth)
        if isinstance(node, cst.Subscript):
            base = self._eval(node.value, scope, depth + 1)
            index = number(node.slice[0].slice.value) if len(node.slice) == 1 and isinstance(
                node.slice[0].slice, cst.Index) else None
            if base.elements is not None and index is not None and index == int(index):
                return base.element(int(index))
            return replace(base, indirect=True, output=None, elements=None) if base.probability else UNKNOWN
        if isinstance(node, (cst.Tuple, cst.List)):
            if any(isinstance(element, cst.StarredElement) for element in node.elements):
                return UNKNOWN
            return Value(elements=tuple(self._eval(e.value, scope, depth + 1) for e in node.elements))
        if isinstance(node, cst.IfExp):
            return join([self._eval(node.body, scope, depth + 1), self._eval(node.orelse, scope, depth + 1)])
        if isinstance(node, cst.BinaryOperation):
            return self._binary(node, scope, depth)
        return UNKNOWN

    def _name(self, name: str, scope: Scope, depth: int) -> Value:
        bound, where = self._enclosing_binding(name, scope)
        if where is _PARAMETER:
            cls = self._self_name(name, scope)
            if cls is not None:  # `self(x)` in a training step runs the class's own forward
                return self.instance(cls)
            function = next(f for f in scope.functions if name in parameter_names(f))
            return self._argument(function, name, depth)
        if bound:
            return self._bound_value(where.functions[0], name, bound, where, depth)
        return self.global_value(name, depth + 1, scope.at if not scope.functions else None).reached()

    def _bound_value(self, owner: cst.CSTNode, name: str, bound, scope: Scope, depth: int) -> Value:
        """What a name assigned in `owner` (a function or the module) holds; a container built
        empty and filled with `add_module` / `add` gives what its last layer gives."""
        added = self._added.get(owner, {}).get(name)
        if added and self._built_empty(bound):
            return self._last_layer(added[-1], scope, depth)
        if self._normalized_exp_buffer(owner, name, bound, scope, depth):
            return Value(HANDWRITTEN_SOFTMAX, indirect=True)
        return self._join_bound(bound, scope, depth, name)

    def _normalized_exp_buffer(self, owner: cst.CSTNode, name: str, bound, scope: Scope, depth: int) -> bool:
        """A softmax written into a buffer: `p = torch.zeros(n)`, `p[i] = torch.exp(...)` for
        each element, then `p /= p.sum()` before the read."""
        divisions = self._divided.get(owner, {}).get(name)
        written = self._written.get(owner, {}).get(name)
        if not divisions or not written:
            return False
        if scope.at is not None and not any(self._when.get(d, (scope.at, False))[0] < scope.at for d in divisions):
            return False
        if not all(self._is_empty_buffer(value) for value, _ in bound):
            return False
        if not all(self._is_exp(value, scope, depth + 1) for value in written):
            return False
        return any(self._sums_name(division.value, name) for division in divisions)

    def _is_empty_buffer(self, node: cst.BaseExpression) -> bool:
        """`torch.zeros(n)`, `np.empty(shape)`, also moved or cast (`torch.zeros(n).to(device)`)."""
        while isinstance(node, cst.Call) and self.names.method(node) in SAME_VALUE.methods:
            node = node.func.value
        return isinstance(node, cst.Call) and bool(self.names.qualified_names(node.func) & EMPTY_BUFFER)

    def _sums_name(self, node: cst.BaseExpression, name: str) -> bool:
        """`torch.sum(p)` or `p.sum()` of the name itself."""
        if not isinstance(node, cst.Call):
            return False
        method = self.names.method(node)
        if not (self.names.qualified_names(node.func) & SUM or method in SUM.methods):
            return False
        inner = _first_argument(node, method)
        return isinstance(inner, cst.Name) and inner.value == name

    def _built_empty(self, bound) -> bool:
        """Some value of the name is a container constructor (`nn.Sequential()`), filled later."""
        return any(isinstance(value, cst.Call) and self.names.qualified_names(value.func) & SEQUENTIAL for value, _ in bound)

    def _last_layer(self, layer: cst.BaseExpression, scope: Scope, depth: int) -> Value:
        output = self._eval(layer, scope, depth + 1).output
        return Value(output=output) if output is not None else UNKNOWN

    def _argument(self, function: cst.FunctionDef | cst.Lambda, name: str, depth: int) -> Value:
        """A parameter of a module-level function: what every call in the module passes (or
        its default), and for a Keras loss what `compile` makes Keras pass; unknown when the
        module does neither (its callers are elsewhere)."""
        key = (function, name)
        if key in self._arguments:
            return self._arguments[key]
        self._arguments[key] = UNKNOWN  # a recursive call reads as unknown
        passed = self._passed(function, name)
        called_here = isinstance(function, cst.FunctionDef) and bool(self._call_sites().get(function.name.value))
        if passed is None and called_here:
            result = UNKNOWN  # calls whose arguments cannot be matched
        else:
            values = [self._eval(value, scope, depth + 1) for value, scope in passed or ()]
            values += self._compiled_predictions(function, name, depth) or ()
            values = values or self._passed_elsewhere(function, name, depth) or []  # a helper only other modules call
            result = join(values).reached() if values else UNKNOWN
        self._arguments[key] = result
        return result

    def _passed_elsewhere(self, function: cst.FunctionDef | cst.Lambda, name: str, depth: int) -> list[Value] | None:
        """For a module-level function that this module never calls: what the calls of it in
        the other modules of the project give its parameter `name`, each read there (`from
        .losses import bce`, then `bce(torch.sigmoid(z), y)`; `model.compile(loss=bce)` gives
        `y_pred` the model's output); None when there is none, or one cannot be matched.
        Another module's own callers elsewhere are not followed further."""
        if (not isinstance(function, cst.FunctionDef) or self.functions.get(function.name.value) is not function
                or self.index is None or not self.dotted_name or depth > MAX_DEPTH):
            return None
        users = self.index.users(function.name.value)
        if users is None:
            return None
        values = []
        for user in users:
            for local in user._names_for(self.dotted_name, function.name.value):
                for call, scope in user._call_sites().get(local, ()):
                    given = _given(function, call, name)
                    if given is None:
                        return None
                    expression, default = given
                    values.append(self._eval(expression, Scope(), depth + 1) if default
                                  else user._eval(expression, scope, depth + 1))
                values += user._compiled_outputs(user._compile_sites().get(local, ()), function, name, depth)
        return values or None

    def _names_for(self, module: str, name: str) -> list[str]:
        """The names under which this module calls the function `name` of the project module
        `module`: `bce` after `from .losses import bce`, `losses.bce` after `from . import losses`."""
        full = f"{module}.{name}"
        return [local if target == full else f"{local}.{name}"
                for local, target in self._imports.items() if target in (full, module)]

    def _compiled_outputs(self, sites, function: cst.FunctionDef, name: str, depth: int) -> list[Value]:
        """What Keras gives `function`'s parameter `name` when this module's `compile` calls
        (`sites`: the compiled models, with their scopes) name it as the loss: it calls
        `loss(y_true, y_pred)`, so `y_pred` receives each model's output."""
        if parameter_position(function, name) != 1:
            return [UNKNOWN for _ in sites]
        outputs = [self._eval(compiled, scope, depth + 1).output for compiled, scope in sites]
        return [output if output is not None else UNKNOWN for output in outputs]

    def _compiled_predictions(self, function: cst.FunctionDef | cst.Lambda, name: str, depth: int) -> list[Value] | None:
        """For a module-level function given as a Keras loss (`model.compile(loss=f)`, in a list
        or dict too), which Keras calls as `f(y_true, y_pred)`: what its second parameter
        receives, the output of each compiled model; None when it is not given."""
        if not isinstance(function, cst.FunctionDef) or self.functions.get(function.name.value) is not function:
            return None
        sites = self._compile_sites().get(function.name.value)
        return self._compiled_outputs(sites, function, name, depth) if sites else None

    def _compile_sites(self) -> dict[str, list[tuple[cst.BaseExpression, Scope]]]:
        """The module's functions given by name to `<model>.compile(loss=...)`, each with the
        compiled model and the scope it is read in."""
        if self._compiled is None:
            self._compiled = {}
            self._call_sites()
            for call, scope in self._compile_calls:  # metrics see the same values, but are not differentiated
                for loss in compiled_losses(call):
                    named = _called_name(loss, self.functions, self._imports)
                    if named is not None:
                        self._compiled.setdefault(named, []).append((call.func.value, scope))
        return self._compiled

    def _passed(self, function: cst.FunctionDef | cst.Lambda, name: str) -> list[tuple[cst.BaseExpression, Scope]] | None:
        """The expressions the module's calls of `function` give its parameter `name` (the
        default where a call leaves it out), each with its scope; None when `function` is not
        a module-level function called in the module, or a call's arguments cannot be matched."""
        if not isinstance(function, cst.FunctionDef) or self.functions.get(function.name.value) is not function:
            return None
        passed = []
        for call, scope in self._call_sites().get(function.name.value, ()):
            given = _given(function, call, name)
            if given is None:
                return None
            passed.append((given[0], scope if not given[1] else Scope()))
        return passed or None

    def _call_sites(self) -> dict[str, list[tuple[cst.Call, Scope]]]:
        """Calls of the module's functions (and of the names and modules it imports from the
        project: `bce`, `losses.bce`) by name, in the module's own code and in the bodies of its functions and methods, each with
        the scope it is read in (and, on the side, the `compile` calls)."""
        if self._calls is None:
            self._calls, self._compile_calls, self._method_calls = {}, [], {}
            owners: list[tuple[cst.CSTNode, Scope]] = [(self.module, Scope())]
            owners += [(f, Scope((f,))) for f in self.functions.values()]
            owners += [(m, Scope((m,), ClassRef(self, c))) for m, c in self._owner.items()]
            for owner, scope in owners:
                body = owner.body if isinstance(owner, cst.FunctionDef) else owner
                for node in own_nodes(body):
                    if not isinstance(node, cst.Call):
                        continue
                    func = node.func
                    if isinstance(func, cst.Call) and func.args and self.names.qualified_names(func.func) & SAME_ARGUMENTS:
                        func = func.args[0].value  # `jax.grad(loss)(params, x)` calls `loss(params, x)`
                    called = _called_name(func, self.functions, self._imports)
                    if called is not None:
                        self._calls.setdefault(called, []).append((node, scope))
                    elif isinstance(node.func, cst.Attribute):
                        self._method_calls.setdefault(node.func.attr.value, []).append((node, scope))
                        if node.func.attr.value == "compile":
                            self._compile_calls.append((node, scope))
        return self._calls

    def _join_bound(self, bound, scope: Scope, depth: int, name: str | None = None) -> Value:
        # `p = p.clamp(min=eps)` updates the value a name holds: the earlier values decide.
        if name is not None and len(bound) > 1:
            fresh = [(value, index) for value, index in bound
                     if isinstance(value, (cst.For, cst.With)) or name not in referenced_names(value)]
            bound = fresh or bound
        values = []
        for value, index in bound:
            found = self._eval(value, replace(scope, at=self._when.get(value, (None, False))[0]), depth + 1)
            values.append(found.element(index) if index is not None else found)
        return join(values).reached()

    def _self_class(self, node: cst.BaseExpression, scope: Scope) -> ClassRef | None:
        """The class of `self` when `node` is the first parameter of the method being read."""
        return self._self_name(node.value, scope) if isinstance(node, cst.Name) else None

    def _self_name(self, name: str, scope: Scope) -> ClassRef | None:
        """The class of `self` when `name` is the first parameter of the method being read."""
        if scope.cls is None:
            return None
        for function in scope.functions:
            if isinstance(function, cst.FunctionDef) and function in self._owner:
                params = function.params.params or function.params.posonly_params
                return scope.cls if params and params[0].name.value == name else None
        return None

    def _attribute(self, node: cst.Attribute, scope: Scope, depth: int) -> Value:
        cls = self._self_class(node.value, scope)
        if cls is not None:
            return self._member(cls, node.attr.value, depth)
        names = self.names.qualified_names(node)
        if names:  # an API used as a value: `act = F.softmax`
            kind = _produced(names, None)
            autograd = _op_autograd(names)
            return Value(output=Value(kind) if kind else None, autograd=autograd) if kind or autograd else UNKNOWN
        if isinstance(node.value, cst.Name) and depth <= MAX_DEPTH:  # `models.Net`
            module, attribute = self._import_target(node.value.value)
            if module is not None and attribute is None:
                return module.global_value(node.attr.value, depth + 1).reached()
        return UNKNOWN

    def _member(self, cls: ClassRef, attr: str, depth: int) -> Value:
        """`self.<attr>`: a method (callable) or what the methods of the class and of its
        project bases assign to it."""
        found = _method(cls, (attr,))
        if found is not None:
            owner, method = found
            return Value(output=owner._result(method, cls))
        assigned = _assigned(cls, attr)
        if not assigned:
            return UNKNOWN
        added = _added(cls, attr)
        if added is not None:
            owner, layers = added
            layer, method = layers[-1]
            if owner._built_empty([(value, None) for _, value, _ in assigned]):
                return owner._last_layer(layer, Scope((method,), cls), depth)
        # `self.model = self.model.cuda()` updates the attribute: the other assignments decide.
        fresh = [(owner, value, where) for owner, value, where in assigned if not _reads_self_attribute(value, attr, where)]
        values = [owner._eval(value, Scope((where,), cls), depth + 1) for owner, value, where in fresh or assigned]
        return join(values).reached()

    def _call(self, node: cst.Call, scope: Scope, depth: int) -> Value:
        names = self.names.qualified_names(node.func)
        method = self.names.method(node)
        receiver_class = self._self_class(node.func.value, scope) if isinstance(node.func, cst.Attribute) else None
        if method in CALL_METHODS and receiver_class is None:  # `model.forward(x)` calls the model
            output = self._eval(node.func.value, scope, depth + 1).output
            return replace(output, indirect=True, through_call=True) if output is not None and output.known else UNKNOWN
        if method == "apply" and receiver_class is None and not names:  # Flax: `model.apply(variables, x)`
            applied = self._flax_apply(node, scope, depth)
            if applied is not None:
                return applied
        if receiver_class is None:
            kind = _produced(names, method)
            if kind is not None:
                return Value(kind)
            if names & EXP or method in EXP.methods:
                inner = _first_argument(node, method)
                if isinstance(inner, cst.Call) and (
                    self.names.qualified_names(inner.func) & LOG_SOFTMAX or self.names.method(inner) in LOG_SOFTMAX.methods
                ):
                    return Value(EXP_LOG_SOFTMAX)
                return UNKNOWN
            if (names & SUM or method in SUM.methods) and self._is_sum_of_exp(node, scope, depth + 1):
                # `exp(x - max(x)).sum()`: its largest term is 1, the sum cannot overflow.
                return UNKNOWN if self._max_shifted(_summed(node, method), scope, depth + 1) else Value(SUM_OF_EXP)
            if names & CLIP or method in CLIP.methods:
                inner = self._eval(_first_argument(node, method), scope, depth + 1)
                return inner.reached() if inner.probability else UNKNOWN
            if names & SAME_VALUE or method in SAME_VALUE.methods:
                inner = self._eval(_first_argument(node, method), scope, depth + 1)
                if inner.probability:
                    return replace(inner, indirect=True, output=None, elements=None)
                # `model.cuda()`, `model.to(device)`: a module moved or cast is the same module.
                return Value(output=inner.output) if method is not None and inner.output is not None else UNKNOWN
            dense = names & DENSE_FUNCTION
            if dense:  # `tf.layers.dense(h, 10, activation=tf.nn.softmax)`
                position = DENSE_FUNCTION.info[min(dense)]
                kind = self._activation(argument(node, ("activation", "activation_fn"), position))
                return Value(kind) if kind else UNKNOWN
            if names & FUNCTIONAL_MODEL:
                outputs = argument(node, ("outputs", "output"), 1)  # `output=`: Keras 1 and 2
                return Value(output=self._eval(outputs, scope, depth + 1)) if outputs is not None else UNKNOWN
            applied = names & APPLY_FUNCTION
            if applied:  # `theano.scan(fn=step, ...)`, `jax.lax.scan(f, ...)`: what `fn` returns
                keyword, position, pair = APPLY_FUNCTION.info[min(applied)]
                function = argument(node, keyword, position)
                result = self._eval(function, scope, depth + 1).output if function is not None else None
                if result is None or not result.known:
                    return UNKNOWN
                result = replace(result, indirect=True, through_call=True)
                return Value(elements=(result, UNKNOWN)) if pair else result
            transformed = names & FUNCTION_TRANSFORM
            if transformed:  # `jax.vmap(f)`, `tf.function(f)`: a function with `f`'s result
                keyword, position = FUNCTION_TRANSFORM.info[min(transformed)]
                function = argument(node, keyword, position)
                inner = self._eval(function, scope, depth + 1) if function is not None else UNKNOWN
                return Value(output=inner.output) if inner.output is not None else UNKNOWN
            layer = self._layer(node, names, scope)
            if layer is not None:
                return layer
            if isinstance(node.func, cst.Attribute) and not names:  # `self.policy.probs(x)`
                found = self._instance_method(node.func, scope, depth)
                if found is not None:
                    owner, function, cls = found
                    result = owner._result(function, cls)
                    return replace(result, indirect=True, through_call=True) if result.known else UNKNOWN
        dispatched = self._dispatch(node, depth)
        if dispatched is not None:
            return dispatched
        callee = self._eval(node.func, scope, depth + 1)
        if callee.output is not None and callee.output.known:
            return self._located_at_argument(replace(callee.output, indirect=True, through_call=True), node, scope)
        return UNKNOWN

    def _flax_apply(self, node: cst.Call, scope: Scope, depth: int) -> Value | None:
        """`model.apply(variables, x)` on an instance of a Flax module of the project: what its
        `__call__` returns, or the method named by `method=` (`method=MLP.encode`, `"encode"`)."""
        cls = self._eval(node.func.value, scope, depth + 1).instance
        if not isinstance(cls, ClassRef) or self.layer_framework(cls) != "jax":
            return None
        chosen = argument(node, "method", None)
        name = string(chosen) if chosen is not None else "__call__"
        if isinstance(chosen, cst.Attribute):
            name = chosen.attr.value
        found = _method(cls, (name,)) if name else None
        if found is None:
            return UNKNOWN
        result = found[0]._result(found[1], cls)
        return replace(result, indirect=True, through_call=True) if result.known else UNKNOWN

    def _returns_saved_output(self, function: cst.FunctionDef) -> frozenset[str]:
        """`SAVES_OUTPUT` when every `return` of `function` returns the output of a torch op
        whose backward reads it (`def squash(x): return torch.sigmoid(x)`): writing the result
        in place breaks backward as it would for the op's own output."""
        if function not in self._saved_outputs:
            returns = [node.value for node in small_statements(function.body) if isinstance(node, cst.Return)]
            saved = bool(returns) and all(
                isinstance(value, cst.Call) and (
                    _op_autograd(self.names.qualified_names(value.func)) & {SAVES_OUTPUT}
                    or self.names.method(value) in SAVES_OUTPUT_OPS.methods)
                for value in returns
            )
            self._saved_outputs[function] = frozenset({SAVES_OUTPUT}) if saved else frozenset()
        return self._saved_outputs[function]

    def _dispatch(self, node: cst.Call, depth: int) -> Value | None:
        """What a project function returns for the constants a call passes, when its body
        picks a `return` by testing them: `pick_activation("relu")` with `if name == "relu":
        return F.relu`; None when no constant decides a test (then every `return` counts)."""
        found = self.project_function(node.func)
        if found is None or depth > MAX_DEPTH:
            return None
        model, function = found
        constants = {}
        for name, given in passed_arguments(function, node).items():
            literal = _literal(given)
            if literal is not None:
                constants[name] = literal
        if not constants:
            return None
        key = (function, tuple(sorted(constants.items(), key=repr)))
        if key not in model._dispatched:
            model._dispatched[key] = UNKNOWN  # a recursive call reads as unknown
            returns, decided = _chosen_returns(function.body, constants)
            values = [_chosen_value(r.value, constants) if r.value is not None else None for r in returns]
            decided = decided or any(value is not r.value for value, r in zip(values, returns))
            result = None
            if decided and returns and None not in values:
                model._bound(function)  # records the positions
                owner = model._owner.get(function)
                scope = Scope((function,), ClassRef(model, owner) if owner is not None else None)
                result = join(
                    model._eval(value, replace(scope, at=model._when[r][0]), depth + 1) for value, r in zip(values, returns)
                ).reached()
            model._dispatched[key] = result
        return model._dispatched[key]

    def _layer(self, node: cst.Call, names: frozenset[str], scope: Scope) -> Value | None:
        """A layer object built by an API: what calling it gives, and what it does for autograd."""
        layer = self._layer_output(node, names, scope)
        autograd = self._module_autograd(node, names)
        if not autograd:
            return layer
        return replace(layer or UNKNOWN, autograd=autograd)

    def _module_autograd(self, node: cst.Call, names: frozenset[str]) -> frozenset[str]:
        """What a torch module built by `node` does when called: saves its input (a weight
        layer, a normalisation), saves its output (`nn.Sigmoid`, `nn.ReLU`), writes its input
        (built with `inplace=True`, or of a class a loop of this module switches in place);
        for `nn.Sequential`, its first layer's input and its last layer's output."""
        if names & SEQUENTIAL:
            layers = positional(node)
            if not layers or isinstance(layers[0], (cst.List, cst.Tuple)):
                return frozenset()
            first = self._eval(layers[0], Scope(), MAX_DEPTH - 2).autograd
            last = self._eval(layers[-1], Scope(), MAX_DEPTH - 2).autograd
            return (first & {SAVES_INPUT, WRITES_INPUT}) | (last & {SAVES_OUTPUT})
        found = _class_autograd(names)
        if names & INPLACE_MODULES:
            flag = argument(node, "inplace")
            if (flag is not None and is_constant(flag, True)) or names & self.configured_inplace():
                found |= {WRITES_INPUT}
        return found

    def _layer_output(self, node: cst.Call, names: frozenset[str], scope: Scope) -> Value | None:
        if names & SEQUENTIAL:
            layers = positional(node)
            if len(layers) == 1 and isinstance(layers[0], (cst.List, cst.Tuple)):
                layers = [element.value for element in layers[0].elements]
            if not layers:
                return UNKNOWN
            last = self._eval(layers[-1], Scope(), MAX_DEPTH - 2)
            return Value(output=last.output) if last.output is not None else UNKNOWN
        if names & SIGMOID_LAYER:
            return Value(output=Value(SIGMOID_KIND))
        if "keras.layers.Activation" in names:
            kind = self._activation(argument(node, "activation", 0))
            return Value(output=Value(kind)) if kind else UNKNOWN
        if names & SOFTMAX_LAYER:
            return Value(output=Value(SOFTMAX_KIND))
        width = self._layer_width(node, names, scope)
        keras_dense = any(name.startswith("keras.") for name in names & DENSE)
        kind = self._activation(argument(node, "activation", 1)) if keras_dense else None
        if kind or width is not None:
            return Value(output=Value(kind, width=width))
        return UNKNOWN if keras_dense else None

    def _layer_width(self, node: cst.Call, names: frozenset[str], scope: Scope) -> int | None:
        """The size of the last axis of what the layer `node` builds gives (`nn.Linear(8, 1)`,
        `Dense(n_out)` with every value of `n_out` the same whole number), or None."""
        found = names & LAYER_WIDTH
        if not found:
            return None
        keyword, position = LAYER_WIDTH.info[min(found)]
        given = argument(node, keyword, position)
        origins = self._origins(given, scope) if given is not None else None
        widths = {number(origin) for origin in origins or ()}
        width = widths.pop() if len(widths) == 1 else None
        return int(width) if width is not None and width == int(width) and width > 0 else None

    def _activation(self, node: cst.BaseExpression | None) -> str | None:
        if node is None:
            return None
        text = string(node)
        if text is not None:
            return _ACTIVATIONS.get(text)
        return _produced(self.names.qualified_names(node), None)

    def _binary(self, node: cst.BinaryOperation, scope: Scope, depth: int) -> Value:
        operator = node.operator
        if isinstance(operator, cst.Add):  # `p + eps`: the same probability, kept off zero
            for value, other in ((node.left, node.right), (node.right, node.left)):
                if self._is_noise(other, scope, depth + 1):  # `mu + std * eps`: a sample located at mu
                    location = self._location_key(value, scope)
                    return Value(location=location) if location is not None else UNKNOWN
                if is_epsilon(other, self._source(other)):
                    inner = self._eval(value, scope, depth + 1)
                    return inner.reached() if inner.probability else UNKNOWN
            return UNKNOWN
        if isinstance(operator, cst.Subtract) and number(node.left) == 1:
            inner = self._eval(node.right, scope, depth + 1)
            if inner.probability == SIGMOID_KIND:
                return replace(inner, probability=ONE_MINUS_SIGMOID)
            if inner.probability in (SOFTMAX_KIND, HANDWRITTEN_SOFTMAX):
                return replace(inner, probability=ONE_MINUS_SOFTMAX)
            return UNKNOWN
        if isinstance(operator, cst.Divide) and self._is_exp(node.left, scope, depth + 1):
            if self._is_sum_of_exp(node.right, scope, depth + 1):
                return Value(HANDWRITTEN_SOFTMAX)
        return UNKNOWN

    def _is_noise(self, node: cst.BaseExpression, scope: Scope, depth: int) -> bool:
        """Noise drawn apart from any other value: `torch.randn_like(mu)`, `std * eps`, a buffer
        filled in place (`eps = torch.zeros_like(mu)`, then `eps.normal_()`)."""
        if depth > MAX_DEPTH:
            return False
        if isinstance(node, cst.Call):
            return bool(self.names.qualified_names(node.func) & NOISE) or self.names.method(node) in NOISE.methods
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Multiply):
            return self._is_noise(node.left, scope, depth + 1) or self._is_noise(node.right, scope, depth + 1)
        if not isinstance(node, cst.Name):
            return False
        bound, where = self._local_with_scope(node.value, scope)
        if not bound or where is _PARAMETER:
            return False
        owner = where.functions[0] if where.functions else self.module
        if node.value in self._filled.get(owner, ()):
            return all(self._is_empty_buffer(value) for value, _ in bound)
        return all(index is None and self._is_noise(value, replace(where, at=self._when.get(value, (None, False))[0]), depth + 1)
                   for value, index in bound)

    def _location_key(self, node: cst.BaseExpression, scope: Scope) -> tuple | None:
        if isinstance(node, cst.Name):
            bound, where = self._local_with_scope(node.value, scope)
            if where is _PARAMETER:
                return ("parameter", next(f for f in scope.functions if node.value in parameter_names(f)), node.value)
            return ("name", *(value for value, _ in bound)) if bound else None
        if isinstance(node, cst.Attribute) and (cls := self._self_class(node.value, scope)) is not None:
            return ("attribute", cls.node, node.attr.value)
        return None

    def _located_at_argument(self, result: Value, call: cst.Call, scope: Scope) -> Value:
        """A function's sample located at its parameter (`return mu + std * eps`), read at a
        call: located at the argument given for it."""
        if result.location is None or result.location[0] != "parameter":
            return result
        _, function, name = result.location
        method = function in self._owner and isinstance(call.func, cst.Attribute)  # called on its instance
        given = argument(call, name, parameter_position(function, name, bound=method))
        location = self._location_key(given, scope) if given is not None else None
        return replace(result, location=location) if location is not None else replace(result, location=None)

    def _every_value(self, node: cst.Name, scope: Scope, depth: int, test) -> bool:
        """Whether every value assigned to the name passes `test`."""
        bound = self._local(node.value, scope)
        return bool(bound) and all(test(value, scope, depth + 1) for value, _ in bound)

    def _is_exp(self, node: cst.BaseExpression | None, scope: Scope, depth: int) -> bool:
        if node is None or depth > MAX_DEPTH:
            return False
        if isinstance(node, cst.Name):
            return self._every_value(node, scope, depth, self._is_exp)
        return isinstance(node, cst.Call) and bool(
            self.names.qualified_names(node.func) & EXP or self.names.method(node) in EXP.methods
        )

    def _is_sum_of_exp(self, node: cst.BaseExpression | None, scope: Scope, depth: int) -> bool:
        if node is None or depth > MAX_DEPTH:
            return False
        if isinstance(node, cst.Name):
            return self._every_value(node, scope, depth, self._is_sum_of_exp)
        if not isinstance(node, cst.Call):
            return False
        method = self.names.method(node)
        if not (self.names.qualified_names(node.func) & SUM or method in SUM.methods):
            return False
        return self._is_exp(_summed(node, method), scope, depth)

    def _max_shifted(self, node: cst.BaseExpression | None, scope: Scope, depth: int) -> bool:
        """`exp(x - max(x))`, through names: `x` shifted by its maximum (`m = x.max(-1)`,
        `x - stop_gradient(m)`) before the exponential."""
        for _ in range(MAX_DEPTH - depth):
            if isinstance(node, cst.Name):
                bound, where = self._local_with_scope(node.value, scope)
                if not bound or len(bound) != 1 or bound[0][1] is not None:
                    return False
                node, scope = bound[0][0], where
            elif isinstance(node, cst.Call) and (self.names.qualified_names(node.func) & EXP or self.names.method(node) in EXP.methods):
                node = _first_argument(node, self.names.method(node))
            elif isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Subtract):
                if "max" in self._source(node.right).lower():
                    return True
                for name in referenced_names(node.right):
                    bound = self._local(name, scope)
                    if bound and all("max" in self._source(value).lower() for value, _ in bound):
                        return True
                return False
            else:
                return False
        return False

    # Bindings -----------------------------------------------------------------------------

    def _local(self, name: str, scope: Scope):
        return self._local_with_scope(name, scope)[0]

    def _local_with_scope(self, name: str, scope: Scope):
        """The values assigned to `name` where it is read (its functions, else the module), and
        the scope they are read in; no values for a parameter."""
        bound, where = self._enclosing_binding(name, scope)
        if where is _PARAMETER:
            return None, _PARAMETER
        if bound:
            return bound, where
        return self._reaching(self._bound(self.module).get(name), scope.at if not scope.functions else None), Scope()

    def _enclosing_binding(self, name: str, scope: Scope):
        """(values, scope) from the innermost enclosing function that binds `name`; `_PARAMETER`
        as the scope when it is a parameter there; (None, None) when no function binds it."""
        for position, function in enumerate(scope.functions):
            at = scope.at if position == 0 else None
            bound = self._reaching(self._bound(function).get(name), at) if isinstance(function, cst.FunctionDef) else None
            if name in parameter_names(function):
                # `x = f(x)` after the parameter `x`: the assignment reaches only when made
                # unconditionally before the read.
                if not (bound and at is not None and self._when.get(bound[0][0], (at, False))[1]
                        and self._when[bound[0][0]][0] < at):
                    return None, _PARAMETER
            if bound:
                return bound, Scope(scope.functions[position:], scope.cls, at)
        return None, None

    def _reaching(self, bound, at: int | None):
        """The assignments of a name that reach position `at`: those before it, from the last
        one made unconditionally (not inside a branch, loop or `try`); all when `at` is unknown
        or none comes before it (a read in a loop may see a later assignment)."""
        if not bound or at is None:
            return bound
        before = [b for b in bound if self._when.get(b[0], (at, False))[0] < at]
        if not before:
            return bound
        last = max((i for i, b in enumerate(before) if self._when.get(b[0], (0, False))[1]), default=0)
        return before[last:]

    def _bound(self, owner: cst.CSTNode) -> dict[str, list[tuple[cst.BaseExpression, tuple[int, ...] | None]]]:
        """Each name a function (or the module) assigns, with the values and, for tuple
        unpacking of a value that is not a literal tuple, the path of positions taken from it."""
        table = self._bindings.get(owner)
        if table is None:
            table = {}
            body = owner.body if isinstance(owner, cst.FunctionDef) else owner
            added: dict[str, list[cst.BaseExpression]] = {}
            written: dict[str, list[cst.BaseExpression]] = {}
            divided: dict[str, list[cst.AugAssign]] = {}
            filled: set[str] = set()
            statements = body.body if isinstance(body, (cst.Module, cst.IndentedBlock)) else []
            unconditional = {
                id(small) for line in statements if isinstance(line, cst.SimpleStatementLine) for small in line.body
            } | {id(line) for line in statements if isinstance(line, (cst.FunctionDef, cst.ClassDef))}
            for position, small in enumerate(small_statements(body, _HEADERS)):
                when = (position, id(small) in unconditional)
                self._when[small] = when
                value = getattr(small, "value", None)
                if isinstance(small, (cst.Assign, cst.AnnAssign)) and value is not None:
                    for part in _literal_parts(value):  # `a, b = x, 0` binds `x` and `0` here
                        self._when.setdefault(part, when)
                if self.walrus:
                    for named in _walruses(small):
                        self._when.setdefault(named.value, when)
                        _bind(table, named.target, named.value, None)
                if isinstance(small, cst.For):  # the loop variable: a value the model does not know
                    _bind(table, small.target, small, None)
                elif isinstance(small, cst.With):
                    for item in small.items:
                        if item.asname is not None:
                            _bind(table, item.asname.name, small, None)
                elif isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name) and type(small.operator) in _AUGMENTED:
                    # `p += eps` binds `p + eps`, whose `p` is read just before it.
                    combined = cst.BinaryOperation(small.target, _AUGMENTED[type(small.operator)](), small.value)
                    self._when[combined] = when
                    table.setdefault(small.target.value, []).append((combined, None))
                elif isinstance(small, cst.Assign):
                    for target in small.targets:
                        _bind(table, target.target, small.value, None)
                        if isinstance(target.target, cst.Subscript) and isinstance(target.target.value, cst.Name):
                            written.setdefault(target.target.value.value, []).append(small.value)
                elif isinstance(small, cst.AugAssign) and isinstance(small.operator, cst.DivideAssign):
                    if isinstance(small.target, cst.Name):
                        divided.setdefault(small.target.value, []).append(small)
                elif isinstance(small, cst.AnnAssign) and small.value is not None:
                    _bind(table, small.target, small.value, None)
                elif isinstance(small, (cst.FunctionDef, cst.ClassDef)):  # defined in a function or a block
                    table.setdefault(small.name.value, []).append((small, None))
                    if isinstance(small, cst.ClassDef):
                        self._owner.update((method, small) for method, _ in _methods_with_self(small))
                elif isinstance(small, cst.Expr) and (addition := _container_addition(small.value)) is not None and isinstance(addition[0], cst.Name):
                    added.setdefault(addition[0].value, []).append(addition[1])
                elif isinstance(small, cst.Expr) and (buffer := _noise_filled(small.value)) is not None:
                    filled.add(buffer)
            self._bindings[owner] = table
            self._added[owner] = added
            self._written[owner] = written
            self._divided[owner] = divided
            self._filled[owner] = filled
        return table

    def _assigned_attributes(self, cls: cst.ClassDef) -> dict[str, list[tuple[cst.BaseExpression, cst.FunctionDef]]]:
        """`self.<attr> = value` in every method of the class, with the method."""
        table = self._attributes.get(cls)
        if table is None:
            table = {}
            for method, me in _methods_with_self(cls):
                for small in small_statements(method.body):
                    if isinstance(small, cst.Expr):
                        small = small.value
                    addition = _container_addition(small)
                    if addition is not None:
                        container = addition[0]
                        if isinstance(container, cst.Attribute) and isinstance(container.value, cst.Name) and container.value.value == me:
                            self._added_attributes.setdefault(cls, {}).setdefault(container.attr.value, []).append((addition[1], method))
                        continue
                    targets = []
                    if isinstance(small, cst.Assign):
                        targets = [t.target for t in small.targets]
                    elif isinstance(small, cst.AnnAssign) and small.value is not None:
                        targets = [small.target]
                    for target in targets:
                        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and target.value.value == me:
                            table.setdefault(target.attr.value, []).append((small.value, method))
            self._attributes[cls] = table
        return table

    def _result(self, function: cst.FunctionDef, cls: ClassRef | None = None) -> Value:
        """What calling `function` returns, whatever its arguments: computed once, from a fresh
        depth (it does not depend on the caller); a cycle or too deep a chain of summaries
        reads as unknown."""
        key = (function, cls.node if cls is not None else None)
        if key in self._results:
            return self._results[key]
        if ModuleModel._summaries_open >= MAX_SUMMARIES:
            return UNKNOWN
        self._results[key] = UNKNOWN  # a recursive call reads as unknown
        ModuleModel._summaries_open += 1
        try:
            owner = self._owner.get(function)
            scope = Scope((function,), cls or (ClassRef(self, owner) if owner is not None else None))
            self._bound(function)  # records the positions
            returns = [node for node in small_statements(function.body) if isinstance(node, cst.Return)]
            if not returns or any(node.value is None for node in returns):
                result = UNKNOWN
            else:
                result = join(self._eval(node.value, replace(scope, at=self._when[node][0]), 0) for node in returns)
        finally:
            ModuleModel._summaries_open -= 1
        self._results[key] = result
        return result

    # Other modules -------------------------------------------------------------------------

    def _imported(self, name: str, depth: int) -> Value:
        module, attribute = self._import_target(name)
        if module is None or attribute is None:
            return UNKNOWN  # not the project's, or a module object (its attributes: `_attribute`)
        return module.global_value(attribute, depth + 1)

    def _import_target(self, local: str) -> tuple[ModuleModel | None, str | None]:
        """The project module an imported name refers to, and the attribute taken from it
        (None when the name is the module itself)."""
        full = self._imports.get(local)
        if self.index is None:
            return None, None
        if full is None:
            return self._star_target(local)
        module = self.index.module(full)
        if module is not None:
            return module, None
        head, _, attribute = full.rpartition(".")
        module = self.index.module(head) if head else None
        return (module, attribute) if module is not None else (None, None)

    def _star_target(self, local: str) -> tuple[ModuleModel | None, str | None]:
        """The project module a name not defined here comes from through `from m import *`
        (the last such import that defines it wins, as when Python runs them)."""
        if not self._star_modules or self.defines(local):
            return None, None
        for name in reversed(self._star_modules):
            module = self.index.module(name)
            if module is not None and module.defines(local):
                return module, local
        return None, None

    def defines(self, name: str) -> bool:
        """The module defines `name` at its top level (a function, a class, an assignment)."""
        return name in self.functions or name in self.classes or name in self._bound(self.module)

    def _source(self, node: cst.CSTNode) -> str:
        text = self._sources.get(node)
        if text is None:
            text = self._sources[node] = code_for_node(self.module, node)
        return text


def _noise_filled(node: cst.BaseExpression) -> str | None:
    """The buffer a statement such as `eps.normal_()` or `eps.data.normal_(std=s)` fills with noise."""
    if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in NOISE.methods):
        return None
    target = node.func.value
    if isinstance(target, cst.Attribute) and target.attr.value == "data":
        target = target.value
    return target.value if isinstance(target, cst.Name) else None


def _layer_framework(cls: ClassRef, seen: frozenset) -> str | None:
    found = None
    for base in cls.node.bases:
        if base.keyword is not None or base.star:
            continue
        expr = base.value.value if isinstance(base.value, cst.Subscript) else base.value
        names = cls.model.names.qualified_names(expr)
        for name in names:
            if name in LAYER_BASES or name.startswith(_LAYER_PREFIXES):
                return _LAYER_FRAMEWORKS.get(name.split(".", 1)[0])
        parent = cls.model.class_ref(expr)
        if parent is not None:
            if parent.node not in seen:
                inherited = _layer_framework(parent, seen | {cls.node})
                if inherited:
                    return inherited
                found = found if inherited is None else inherited
        elif not names:
            last = expr.attr.value if isinstance(expr, cst.Attribute) else getattr(expr, "value", None)
            if isinstance(last, str) and last.endswith(_LAYER_SUFFIXES):
                found = ""
    return found


def _lineage(cls: ClassRef) -> tuple[ClassRef, ...]:
    """The class, then its project bases depth first (each once, at most `MAX_DEPTH` deep);
    found once per class."""
    known = cls.model._lineages.get(cls.node)
    if known is None:
        known = cls.model._lineages[cls.node] = tuple(_find_lineage(cls))
    return known


def _find_lineage(cls: ClassRef) -> list[ClassRef]:
    found: list[ClassRef] = []
    todo = [(cls, 0)]
    while todo:
        current, depth = todo.pop(0)
        if any(seen.node is current.node for seen in found) or depth > MAX_DEPTH:
            continue
        found.append(current)
        for base in current.node.bases:
            parent = current.model.class_ref(base.value)
            if parent is not None:
                todo.append((parent, depth + 1))
    return found


def _method(cls: ClassRef, names: Sequence[str]) -> tuple[ModuleModel, cst.FunctionDef] | None:
    """The first method of `names` defined by the class or inherited from a project base."""
    for ref in _lineage(cls):
        methods = ref.model._method_tables.get(ref.node)
        if methods is None:
            methods = ref.model._method_tables[ref.node] = {
                item.name.value: item for item in _definitions(ref.node) if isinstance(item, cst.FunctionDef)
            }
        for name in names:
            if name in methods:
                return ref.model, methods[name]
    return None


def _assigned(cls: ClassRef, attr: str) -> list[tuple[ModuleModel, cst.BaseExpression, cst.FunctionDef]]:
    """Every `self.<attr> = value` in the methods of the class and of its project bases."""
    key = (cls.node, attr)
    known = cls.model._inherited_attributes.get(key)
    if known is None:
        known = cls.model._inherited_attributes[key] = [
            (ref.model, value, method)
            for ref in _lineage(cls)
            for value, method in ref.model._assigned_attributes(ref.node).get(attr, ())
        ]
    return known


def _added(cls: ClassRef, attr: str) -> tuple[ModuleModel, list[tuple[cst.BaseExpression, cst.FunctionDef]]] | None:
    """The layers added, in order, to the container `self.<attr>` (`self.fc.add_module(...)`,
    `self.model.add(...)`), each with the method that adds it, and the model of their module."""
    for ref in _lineage(cls):
        ref.model._assigned_attributes(ref.node)
        added = ref.model._added_attributes.get(ref.node, {}).get(attr)
        if added:
            return ref.model, added
    return None


def _container_addition(node: cst.CSTNode) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
    """(container, layer) for a call such as `model.add_module("fc", layer)` or `model.add(layer)`."""
    if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)):
        return None
    position = CONTAINER_ADD.info.get(node.func.attr.value)
    if position is None:
        return None
    layer = argument(node, ("module", "layer"), position)
    return (node.func.value, layer) if layer is not None else None


def _produced(names: frozenset[str], method: str | None) -> str | None:
    """The probability kind an API call (or a method spelling) produces, if any."""
    if names & SOFTMAX or method in SOFTMAX.methods:
        return SOFTMAX_KIND
    if names & SIGMOID or method in SIGMOID.methods:
        return SIGMOID_KIND
    return None


def _summed(call: cst.Call, method: str | None) -> cst.BaseExpression | None:
    """The tensor a sum adds up: `x.sum()`, `torch.sum(x)`, `tf.reduce_sum(input_tensor=x)`."""
    return _first_argument(call, method) or argument(call, "input_tensor", 0)


def _first_argument(call: cst.Call, method: str | None) -> cst.BaseExpression | None:
    """The tensor a unary op works on: the receiver of `x.op()`, else the first argument."""
    if method is not None:
        return call.func.value  # type: ignore[union-attr]
    return argument(call, ("input", "x", "logits", "t", "tensor", "a"), 0)


def _reads_self_attribute(node: cst.CSTNode, attr: str, method: cst.FunctionDef) -> bool:
    """`node`, in `method`, reads the attribute `attr` of `self` (whatever the method calls it)."""
    params = method.params.posonly_params or method.params.params
    me = params[0].name.value if params else None
    return any(
        isinstance(n, cst.Attribute) and n.attr.value == attr and isinstance(n.value, cst.Name) and n.value.value == me
        for n in own_nodes(node)
    )


def _definitions(node: cst.Module | cst.ClassDef) -> list[cst.CSTNode]:
    """The functions and classes defined directly in a module or class body."""
    statements = node.body if isinstance(node, cst.Module) else node.body.body
    return [s for s in statements if isinstance(s, (cst.FunctionDef, cst.ClassDef))]


def _methods_with_self(cls: cst.ClassDef) -> Iterator[tuple[cst.FunctionDef, str]]:
    """Each method of the class with the name of its first parameter (`self`)."""
    for method in _definitions(cls):
        if isinstance(method, cst.FunctionDef):
            params = method.params.params or method.params.posonly_params
            if params:
                yield method, params[0].name.value


def _called_name(func: cst.BaseExpression, functions: dict, imports: dict) -> str | None:
    """How the module's call sites key a callee: a function of the module or a name imported
    from the project (`bce`), or a function of an imported project module (`losses.bce`)."""
    if isinstance(func, cst.Name) and (func.value in functions or func.value in imports):
        return func.value
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value in imports:
        return f"{func.value.value}.{func.attr.value}"
    return None


def _given(function: cst.FunctionDef, call: cst.Call, name: str, bound: bool = False) -> tuple[cst.BaseExpression, bool] | None:
    """What `call` gives `function`'s parameter `name` (`bound`: a method called on an
    instance), and whether that is the parameter's default (read in the function's module);
    None when it cannot be matched (a star argument, or neither an argument nor a default)."""
    if any(arg.star for arg in call.args):
        return None
    given = argument(call, name, parameter_position(function, name, bound=bound))
    if given is not None:
        return given, False
    default = _default(function, name)
    return (default, True) if default is not None else None


def _default(function: cst.FunctionDef | cst.Lambda, name: str) -> cst.BaseExpression | None:
    params = function.params
    return next((p.default for p in (*params.posonly_params, *params.params, *params.kwonly_params)
                 if p.name.value == name), None)


# Compound statements whose header binds names: a loop variable, a `with` target, an assignment
# expression in a test.
_HEADERS = (cst.For, cst.With, cst.If, cst.While)

# Augmented assignments read as the operation they make (`/=` is kept apart: a buffer divided
# in place is read by `_normalized_exp_buffer`).
_AUGMENTED = {
    cst.AddAssign: cst.Add, cst.SubtractAssign: cst.Subtract, cst.MultiplyAssign: cst.Multiply,
    cst.PowerAssign: cst.Power, cst.FloorDivideAssign: cst.FloorDivide, cst.ModuloAssign: cst.Modulo,
    cst.MatrixMultiplyAssign: cst.MatrixMultiply,
}


def _literal_parts(value: cst.BaseExpression) -> Iterator[cst.BaseExpression]:
    """The value, and the elements of a literal tuple or list in it, nested ones too."""
    stack = [value]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, (cst.Tuple, cst.List)):
            stack.extend(element.value for element in current.elements)


def _walruses(statement: cst.CSTNode) -> list[cst.NamedExpr]:
    """The assignment expressions (`(m := x > 0)`) of a small statement, or of the header of a
    compound one."""
    if isinstance(statement, (cst.If, cst.While)):
        parts = [statement.test]
    elif isinstance(statement, cst.For):
        parts = [statement.iter]
    elif isinstance(statement, cst.With):
        parts = [item.item for item in statement.items]
    elif isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
        parts = []
    else:
        parts = [statement]
    return [node for part in parts for node in (part, *own_nodes(part)) if isinstance(node, cst.NamedExpr)]


def _bind(table: dict, target: cst.BaseExpression, value: cst.BaseExpression, index: tuple[int, ...] | None) -> None:
    """Each name `target` binds, with the value and, in tuple unpacking of a value that is not
    a literal tuple, the position (a path of positions when nested) taken from it."""
    if isinstance(target, cst.Name):
        table.setdefault(target.value, []).append((value, index))
    elif isinstance(target, (cst.Tuple, cst.List)):
        if any(isinstance(element, cst.StarredElement) for element in target.elements):
            return
        literal = index is None and isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(target.elements)
        for position, element in enumerate(target.elements):
            if literal:
                _bind(table, element.value, value.elements[position].value, None)
            else:
                _bind(table, element.value, value, (*(index or ()), position))


def _class_makes_weights(cls: ClassRef, creates: Callable[[frozenset[str]], bool], depth: int) -> bool:
    for ref in _lineage(cls):
        for method, me in _methods_with_self(ref.node):
            for node in own_nodes(method.body):
                if not isinstance(node, cst.Call):
                    continue
                func = node.func
                if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == me:
                    if func.attr.value in _WEIGHT_METHODS:
                        return True
                    continue
                if creates(ref.model.names.qualified_names(func)):
                    return True
                inner = ref.model.class_ref(func) if depth < MAX_DEPTH else None
                if inner is not None and ModuleModel.creates_weights(inner, creates, depth + 1):
                    return True
    return False


def _function_makes_weights(model: ModuleModel, function: cst.FunctionDef, cls: ClassRef | None,
                            creates: Callable[[frozenset[str]], bool], depth: int) -> bool:
    key = (function, creates)
    known = model._weight_functions.get(key)
    if known is not None:
        return known
    model._weight_functions[key] = False  # a recursive function reads as not making one
    scope = Scope((function,), cls)
    # A weight stored on an object or in a container (`module.weight = nn.Parameter(...)`)
    # stays there whatever the function returns: the call's result does not carry it.
    stored = {
        id(part)
        for node in own_nodes(function.body)
        if isinstance(node, cst.Assign) and any(isinstance(t.target, (cst.Attribute, cst.Subscript)) for t in node.targets)
        for part in (node.value, *own_nodes(node.value))
    }
    found = False
    for node in own_nodes(function.body):
        if not isinstance(node, cst.Call) or id(node) in stored:
            continue
        if creates(model.names.qualified_names(node.func)):
            found = True
        elif depth < MAX_DEPTH:
            inner = model._called_function(node.func, scope)
            ref = model.class_ref(node.func) if inner is None else None
            found = (inner is not None and _function_makes_weights(*inner, creates, depth + 1)) or (
                ref is not None and ModuleModel.creates_weights(ref, creates, depth + 1))
        if found:
            break
    model._weight_functions[key] = found
    return found


def _project_imports(names: NameTable, dotted_name: str) -> dict[str, str]:
    """Local name -> the absolute dotted name it imports (`pkg.models.Net`, `pkg.models`) for
    every import that may be the project's own, relative ones resolved against the module's own
    package. The frameworks' modules are APIs, read through the tables, never parsed."""
    frameworks = set(framework_modules())
    found = {
        local: min(targets)
        for local, targets in names.aliases.items()
        if targets and min(targets).split(".", 1)[0] not in frameworks
    }
    for local, (level, module, name) in names.relative.items():
        found[local] = _absolute(dotted_name, level, module, name)
    return found


def _op_autograd(names: frozenset[str]) -> frozenset[str]:
    """What a torch function used as a value (`act = F.relu`) does when called."""
    return _autograd(names, SAVES_INPUT_OPS, SAVES_OUTPUT_OPS)


def _class_autograd(names: frozenset[str]) -> frozenset[str]:
    """What calling an instance of a torch module class does, by the class's names."""
    return _autograd(names, SAVES_INPUT_MODULES, SAVES_OUTPUT_MODULES)


def _autograd(names: frozenset[str], saves_input, saves_output) -> frozenset[str]:
    return frozenset(
        fact for fact, table in ((SAVES_INPUT, saves_input), (SAVES_OUTPUT, saves_output)) if names & table
    )


def _inherited_autograd(cls: ClassRef) -> frozenset[str]:
    """What calling an instance of a project class does by its torch bases (`class
    Conv(nn.Conv2d)` saves its input)."""
    found: frozenset[str] = frozenset()
    for ref in _lineage(cls):
        for base in ref.node.bases:
            if base.keyword is None and not base.star:
                found |= _class_autograd(ref.model.names.qualified_names(base.value))
    return found


def _class_expressions(node: cst.BaseExpression) -> list[cst.BaseExpression]:
    """The classes of an `isinstance` test: `nn.ReLU`, or each of `(nn.ReLU, nn.Dropout)`."""
    if isinstance(node, (cst.Tuple, cst.List)):
        return [element.value for element in node.elements]
    return [node]


def _inplace_assignments(module: cst.Module) -> Iterator[tuple[cst.For, cst.Assign, list[cst.BaseExpression]]]:
    """Each `m.inplace = True` in a `for` loop, with the loop and the tests of the `if`s around
    it inside the loop (not in an `else`); statements only (expressions are never entered)."""
    stack: list[tuple[cst.CSTNode, cst.For | None, tuple]] = [(module, None, ())]
    while stack:
        node, loop, tests = stack.pop()
        if isinstance(node, cst.SimpleStatementLine):
            if loop is None:
                continue
            for small in node.body:
                if (
                    isinstance(small, cst.Assign) and len(small.targets) == 1
                    and isinstance(small.targets[0].target, cst.Attribute)
                    and small.targets[0].target.attr.value == "inplace"
                    and isinstance(small.targets[0].target.value, cst.Name)
                    and is_constant(small.value, True)
                ):
                    yield loop, small, list(tests)
            continue
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            loop, tests = None, ()
        elif isinstance(node, cst.For):
            loop, tests = node, ()
        for child in iter_children(node):
            if isinstance(node, cst.If) and child is node.orelse:
                continue  # where the test is false: which classes get there is not read
            if isinstance(node, cst.If) and child is node.body:
                stack.append((child, loop, (*tests, node.test)))
            elif isinstance(child, STATEMENT_HOLDERS):
                stack.append((child, loop, tests))


def _literal(node: cst.BaseExpression | None) -> str | float | bool | None:
    """The value of a string or number literal, `True` or `False`; else None."""
    if node is None:
        return None
    text = string(node)
    if text is not None:
        return text
    if is_constant(node, True) or is_constant(node, False):
        return node.value == "True"  # type: ignore[attr-defined]
    return number(node)


def _decided(test: cst.BaseExpression, constants: dict) -> bool | None:
    """Whether `test` holds for the constants: `name == "relu"`, `name in ("a", "b")`, `name !=
    2`; None when it is not such a test of a constant parameter."""
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    left, comparison = test.left, test.comparisons[0]
    right = comparison.comparator
    if isinstance(right, cst.Name) and right.value in constants and not isinstance(left, cst.Name):
        left, right = right, left
    if not isinstance(left, cst.Name) or left.value not in constants:
        return None
    value = constants[left.value]
    operator = comparison.operator
    if isinstance(operator, (cst.In, cst.NotIn)):
        if not isinstance(right, (cst.Tuple, cst.List, cst.Set)):
            return None
        options = [_literal(element.value) for element in right.elements]
        if None in options:
            return None
        return (value in options) == isinstance(operator, cst.In)
    other = _literal(right)
    if other is None or not isinstance(operator, (cst.Equal, cst.NotEqual)):
        return None
    return (value == other) == isinstance(operator, cst.Equal)


def _chosen_returns(body: cst.CSTNode, constants: dict) -> tuple[list[cst.Return], bool]:
    """The `return`s of a function body reached when the parameters hold `constants`, and
    whether a test of them was decided on the way."""
    returns: list[cst.Return] = []
    decided = [False]
    _walk_chosen(body, constants, returns, decided)
    return returns, decided[0]


def _walk_chosen(block: cst.CSTNode, constants: dict, returns: list, decided: list) -> bool:
    """Collect into `returns` the `return`s of `block` reached for the constants; True when the
    path through `block` always leaves it (by a `return` or a `raise`)."""
    for statement in _block_statements(block):
        if isinstance(statement, cst.If):
            holds = _decided(statement.test, constants)
            if holds is None:
                returns.extend(n for n in small_statements(statement) if isinstance(n, cst.Return))
                continue
            decided[0] = True
            branch = statement.body if holds else statement.orelse
            if branch is not None and _walk_chosen(branch, constants, returns, decided):
                return True
        elif isinstance(statement, (cst.Return, cst.Raise)):
            if isinstance(statement, cst.Return):
                returns.append(statement)
            return True
        elif not isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            returns.extend(n for n in small_statements(statement) if isinstance(n, cst.Return))
    return False


def _block_statements(block: cst.CSTNode) -> list[cst.CSTNode]:
    """The statements of a block, the small ones taken out of their lines: an indented block, a
    one-line suite, an `else`, or an `elif` (one `if`)."""
    if isinstance(block, cst.If):
        return [block]
    if isinstance(block, cst.Else):
        block = block.body
    found: list[cst.CSTNode] = []
    for statement in getattr(block, "body", ()):
        found.extend(statement.body if isinstance(statement, cst.SimpleStatementLine) else [statement])
    return found


def _chosen_value(value: cst.BaseExpression, constants: dict) -> cst.BaseExpression:
    """The entry a constant key picks from a literal table: `{"relu": F.relu, ...}[name]`."""
    if isinstance(value, cst.Subscript) and isinstance(value.value, cst.Dict) and len(value.slice) == 1:
        key = value.slice[0].slice
        key = key.value if isinstance(key, cst.Index) else None
        if isinstance(key, cst.Name) and key.value in constants:
            for element in value.value.elements:
                if isinstance(element, cst.DictElement) and _literal(element.key) == constants[key.value]:
                    return element.value
    return value
def _star_modules(names: NameTable, dotted_name: str) -> list[str]:
    """The modules `from m import *` may take the project's names from, in source order."""
    frameworks = set(framework_modules())
    return [
        _absolute(dotted_name, level, module, "") for level, module in names.star
        if level or module.split(".", 1)[0] not in frameworks
    ]


def _absolute(dotted_name: str, level: int, module: str, name: str) -> str:
    """The dotted name an import refers to, a relative one (`level` dots) resolved against the
    package of the importing module."""
    if not level:
        return ".".join(part for part in (module, name) if part)
    package = dotted_name.split(".")[:-1]
    anchor = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join(part for part in (*anchor, module, name) if part)

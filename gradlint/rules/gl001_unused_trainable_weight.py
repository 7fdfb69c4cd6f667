from __future__ import annotations

import builtins
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import libcst as cst

from gradlint.data import api_table, framework_modules
from gradlint.engine.gradients import not_differentiated
from gradlint.engine.names import referenced_names
from gradlint.engine.syntax import argument, number, own_nodes, parameter_position, passed_arguments, small_statements
from gradlint.engine.walker import iter_children, iter_tree
from gradlint.rule import Rule, Severity
from gradlint.semantic.model import ClassRef

PARAMETER = api_table("weights_parameter")
TORCH_LAYERS = api_table("weights_torch_layers")
KERAS_LAYERS = api_table("weights_keras_layers")
CONTAINERS = api_table("weights_containers")
CONDITION = api_table("weights_condition")
COMPARISON = api_table("weights_comparison")
FLAX_LAYERS = api_table("weights_flax_layers")
EQUINOX_LAYERS = api_table("weights_equinox_layers")
JAX_ARRAYS = api_table("weights_jax_arrays")
LOCAL_PARAMETER = api_table("weights_local_parameter")
UPDATED_BY_HAND = api_table("weights_updated_by_hand")
TF1_LAYERS = api_table("weights_tf1_layers")
VARIABLE_REUSE = api_table("weights_variable_reuse")
TF1_TRAINING = api_table("weights_tf1_training")
VARIABLES_BY_NAME = api_table("weights_variables_by_name")
TF_VARIABLES = frozenset(name for name in PARAMETER if name.startswith("tensorflow."))
VARIABLE_NAMED = frozenset({"tensorflow.get_variable"})  # fetched again by its name under reuse
_VAR_LISTS = {key: tuple(value) for key, value in TF1_TRAINING.info["var_lists"].items()}

_LAST = {
    "torch.nn.": frozenset(name.rsplit(".", 1)[1] for name in TORCH_LAYERS),
    "keras.layers.": frozenset(name.rsplit(".", 1)[1] for name in KERAS_LAYERS),
    "flax.linen.": frozenset(n.rsplit(".", 1)[1] for n in FLAX_LAYERS if n.startswith("flax.linen.")),
    "flax.nnx.": frozenset(n.rsplit(".", 1)[1] for n in FLAX_LAYERS if n.startswith("flax.nnx.")),
    "equinox.nn.": frozenset(name.rsplit(".", 1)[1] for name in EQUINOX_LAYERS),
}
_CONTAINER_LAST = {
    "torch.nn.": frozenset(n.rsplit(".", 1)[1] for n in CONTAINERS if n.startswith("torch.nn.")),
    "keras.layers.": frozenset(n.rsplit(".", 1)[1] for n in CONTAINERS if n.startswith("keras.layers.")),
}

# Where weights are created, and methods whose reads are not uses (set-up and serialisation).
CREATORS = frozenset({"__init__", "build", "setup"})  # `setup`: Flax linen
INIT_LIKE = CREATORS | {
    "get_config", "from_config", "extra_repr", "__repr__", "__str__", "reset_parameters",
    "_reset_parameters", "_init_weights", "init_weights", "initialize", "_initialize_weights",
    "reset_weights", "_reset_weights", "weights_init", "init_params", "_init_params",
}
OUTPUT_METHODS = ("forward", "call", "__call__")
# `self.<name>` that hands every weight to someone: all weights count as used.
WHOLE_SELF = frozenset({
    "__dict__", "_modules", "_parameters", "_layers", "_flatten_layers", "parameters",
    "named_parameters", "children", "named_children", "modules", "named_modules", "state_dict",
    "load_state_dict", "apply", "get_submodule", "get_parameter", "_named_members",
    "trainable_weights", "trainable_variables", "non_trainable_weights", "weights", "variables",
    "_trainable_weights", "submodules", "get_weights", "set_weights", "layers", "_tracker",
    "__getattr__", "__getattribute__", "_get_name", "to_empty", "_apply",
})
# Flax linen's `self.param(name, init, *shape)` in `setup`, or in an `@nn.compact` method.
LINEN_PARAM = "param"
LINEN_COMPACT = frozenset({"flax.linen.compact", "flax.linen.module.compact"})
SELF_WEIGHT_METHODS = frozenset({"add_weight", "add_variable"})
REGISTER_METHODS = frozenset({"register_parameter", "add_module", "register_module"})
# In `__init__`/`build`, a statement touching `self.x` with one of these freezes it.
FREEZE_MARKERS = frozenset({
    "requires_grad", "requires_grad_", "trainable", "freeze", "_freeze", "freeze_", "eval", "no_grad",
})
MODULE_CHAIN = frozenset({"to", "cuda", "cpu", "float", "double", "half", "bfloat16", "train", "to_empty"})
# An unresolved base with one of these names is taken for the framework's own (its source
# imports it relatively); any other unresolved base may define methods that read the weights.
FRAMEWORK_LIKE = frozenset({"Module", "Layer"})
OPTIMIZER_PREFIXES = tuple(api_table("weights_optimizers").info["prefixes"])
# Framework bases whose own methods read no weight of a subclass: `super().forward(x)` on them
# runs nothing the rule does not see.
ROOT_BASES = frozenset({
    "torch.nn.Module", "torch.nn.modules.module.Module", "tensorflow.Module", "tensorflow.keras.layers.Layer",
    "keras.layers.Layer", "keras.Layer", "tf_keras.layers.Layer", "flax.linen.Module", "equinox.Module", "haiku.Module",
})
IGNORED_BASES = frozenset({"object", "ABC", "Generic", "Protocol", "abc.ABC", "typing.Generic", "typing.Protocol"})
_VALUE_OPS = (cst.Is, cst.IsNot, cst.In, cst.NotIn)
SELF_SAFE_BUILTINS = frozenset({"isinstance", "type", "id", "super", "repr", "str", "hash"})


_BUILTINS = frozenset(dir(builtins))
_FRAMEWORKS = frozenset(framework_modules())
_DOTTED_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$")


@dataclass
class _Creation:
    name: str
    node: cst.CSTNode
    statement: cst.CSTNode
    creator: str
    kind: str = "tensor"  # or "module": a layer, or a container of weights


@dataclass
class _Scan:
    """What the non-set-up methods of a class family do with `self`."""

    value: set = field(default_factory=set)  # attributes read for their value
    # The nodes of the value reads of each attribute, for the loop check; `untraced` when a
    # read has no node to follow.
    value_reads: dict = field(default_factory=dict)
    untraced: set = field(default_factory=set)
    predicate: set = field(default_factory=set)  # attributes read inside a condition
    dead: set = field(default_factory=set)  # attributes read into locals that are never used
    cut: set = field(default_factory=set)  # attributes whose read reaches no gradient (`stop_gradient`)
    # Weights read in set-up code only into a tensor computed there (Keras `build`), by the method.
    snapshots: dict = field(default_factory=dict)
    updated: set = field(default_factory=set)  # attributes written in place (`.data.copy_(...)`): used
    calls: set = field(default_factory=set)  # `self.m(...)`
    strings: set = field(default_factory=set)
    super_called: bool = False  # a method other than set-up runs `super().<method>(...)`
    whole: bool = False
    # Reads that are value or condition uses unless the semantic model finds their result dead:
    # (attribute, read, the set it joins otherwise), settled once the weights are known.
    pending: list = field(default_factory=list)


class UnusedTrainableWeight(Rule):
    """
    ## What it does
    Checks Keras layers, TF2 `tf.Module`s and torch modules for a trainable weight created in
    `__init__` or `build` (`self.add_weight(...)`, a trainable `tf.Variable`, `nn.Parameter`,
    `self.register_parameter(...)`, or a sub-layer such as `nn.Linear` / `layers.Dense`) that no
    other method of the class ever reads, or that is read only inside a condition or a
    comparison (`tf.cond(tf.less(x, self.w), ...)`, `if self.w < 0.5:`, the condition of
    `tf.where`), or whose output is dropped: stored in a name that is overwritten before any
    read or never read (`u = self.up1(x)` then `u = self.up2(skip)`: the wrong variable), also
    through the layers it feeds (`gradlint.semantic.uses`).

    In any function, it also checks calls that make weights and apply them: a TF1 functional
    layer (`tf.layers.dense(x, 64)`), a layer built and applied in place (`layers.Dense(64)(h)`
    in a Keras functional model), or a function of the project that makes variables each time
    it runs (a helper around `tf.get_variable`, found in this module, in another module of the
    project, through `from ops import *`, or as a method on `self`). When the call's result
    is stored in names that are overwritten or never read before the function ends
    (`h0 = relu(linear(z, n, "h0"))`, then `h1 = relu(linear(z, m, "h1"))`: `z` instead of
    `h0`), the weights it made get no gradient.

    In a TF1 script (a program: module-level code runs it, under `with tf.Graph().as_default():`,
    a loop or a `__main__` guard) that trains with `opt.minimize(loss)` or `tf.gradients`, it
    checks the variables the script makes outside classes, at module level or in a function:
    `w = tf.Variable(...)`, `w = tf.get_variable(...)` or `w = make_weight(...)`, a
    factory of the project that returns one. A variable whose every read reaches the loss only
    through a gradient cut (`tf.stop_gradient`), a summary or a session fetch gets no gradient;
    the semantic model follows the reads into the script's functions that read it as a global
    or are given it (`describe(w, "w")` only summarises it), and through their
    returns to the script's calls of them.

    It checks JAX libraries the same way: Flax linen (`self.w = self.param(...)` or a sub-layer such
    as `nn.Dense` in `setup`; `w = self.param(...)` in an `@nn.compact` method), Flax NNX
    (`nnx.Param(...)`, `nnx.Linear(...)` in `__init__`), Equinox (a module field assigned a
    floating array such as `jnp.zeros(...)`/`jax.random.normal(...)`, or a layer such as
    `eqx.nn.Linear`, in `__init__`) and Haiku (`w = hk.get_parameter(...)` in a transformed
    function or a `hk.Module`, or `self.w = hk.get_parameter(...)` in its `__init__`).

    A weight that is read, but whose every path to the output is cut, is reported too: read
    only through a stop-gradient, `.detach()`, `.item()`, an integer-valued op such as
    `argmin` (a code book patched with the straight-through estimator before its loss is
    taken), or, in a Keras layer, only in `build` into a tensor computed once there.

    ## Why is this bad?
    A weight that does not reach the output has no gradient: the optimiser never moves it,
    and nothing fails. A comparison returns a boolean, which carries no gradient either, so a
    threshold used only to choose a branch never learns. Measured (TF 2.21.0, Keras 3.15.1,
    torch 2.13.0): `tape.gradient` returns `None` for a Keras weight used only in
    `tf.cond(tf.less(...))` or in the condition of `tf.where`, while the kernel of the same layer
    gets a real gradient; `model.fit` leaves it at its initial value with one `UserWarning`
    ("Gradients do not exist for variables [...] when minimizing the loss") per `fit()` call
    (Keras 2 logs it through the `tensorflow` logger instead). In torch, `thr.grad is None`
    after `backward()` for an `nn.Parameter` used only in `if self.thr < 0.5:`, with no warning.
    The same holds for weights that are never read: with this rule's fixtures, every flagged
    `nn.Parameter` and sub-module has `grad is None` after `backward()` (torch 2.13.0) and every
    flagged `add_weight` gets `None` from `tape.gradient` (Keras 3.15.1). Under
    `DistributedDataParallel` such parameters make the next iteration fail unless
    `find_unused_parameters=True` (documented behaviour, not measured here).

    JAX does not say `None`: `jax.grad` over the parameter pytree returns exact zeros for every
    leaf the output does not depend on. Measured (JAX 0.10.2, Flax 0.12.8, Equinox 0.13.8,
    dm-haiku 0.0.17): a linen `self.param` made in `setup` or in `@nn.compact` and never read,
    an `nnx.Param` or `nnx.Linear` never called (`nnx.grad`), an Equinox array field never read
    (`eqx.filter_grad`) and an unused `hk.get_parameter` all get an all-zero gradient, while
    the used weights beside them get a real one; an optimiser then only applies weight decay
    to them. A linen sub-layer assigned in `setup` and never called creates no parameters at
    all (linen makes them on the first call), like an unbuilt Keras layer.

    ## Example
    ```python
    class TrainableBump(tf.keras.layers.Layer):
        def build(self, input_shape):
            self.threshold = self.add_weight(name="threshold", shape=[1], trainable=True)

        def call(self, inputs):
            logic = tf.math.less(inputs, self.threshold)
            return tf.cond(logic, lambda: bump(inputs), lambda: 0 * inputs)
    ```

    Use instead:
    ```python
    class Bump(tf.keras.layers.Layer):
        def build(self, input_shape):
            self.sigma = self.add_weight(name="sigma", shape=[1], trainable=True)

        def bump(self, x):
            return tf.math.exp(-self.sigma / (self.sigma - tf.math.pow(x, 2)))

        def call(self, inputs):
            inside = tf.math.less(tf.math.abs(inputs), self.sigma)
            return tf.where(inside, self.bump(tf.where(inside, inputs, 0.0)), 0.0)
    ```

    Flax (the same for a `w = self.param(...)` in `@nn.compact`, or `hk.get_parameter`):
    ```python
    class ScaledDense(nn.Module):
        def setup(self):
            self.dense = nn.Dense(8)
            self.shift = self.param("shift", nn.initializers.zeros, (8,))

        def __call__(self, x):
            return self.dense(x)
    ```

    Use instead:
    ```python
    class ScaledDense(nn.Module):
        def setup(self):
            self.dense = nn.Dense(8)
            self.shift = self.param("shift", nn.initializers.zeros, (8,))

        def __call__(self, x):
            return self.dense(x) + self.shift
    ```

    ## Notes
    Any read of the weight in a method other than `__init__`/`build`/`setup` and set-up or
    serialisation helpers (`get_config`, `extra_repr`, `reset_parameters`, `_init_weights`,
    ...) counts as a use, whichever method it is (helpers, properties, `encode`/`decode`,
    `training_step`, hooks); so does `obj.x` read anywhere in the file outside set-up code, a
    constant `getattr(self, "x")` or `"x"` string, a weight stored into another attribute
    that is used (`self.body = nn.Sequential(self.a, self.b)`, weight tying), and a sub-layer
    called in `__init__` (functional models). Sub-layers registered under numbered names
    (`self.add_module(f"unit{i}", ...)`) are one family, read by `getattr(self, f"unit{i}")`
    or `self.__getattr__(f"unit{i}")`; a layer made by a constructor parameter (`unit(width)`)
    is a layer with weights when every call of the constructor in the file, or every
    `super().__init__(...)` of a subclass, passes a layer class of the file that has weights;
    and so is the result of a function of the file whose every return makes a layer with
    weights (`self.up = upsample_block(64, 32)`).
    A read counts as "only in a condition" when it
    sits in an `if`/`while`/`assert` test, the condition of `tf.cond`/`tf.where`/`torch.where`/
    `keras.ops.where`/`K.switch`, or a comparison (`<`, `tf.math.less`, `torch.gt`, `.lt()`),
    directly or through local variables; `is None` checks and `if self.proj:` are not such
    reads. A read whose result is assigned to locals that are never used is no use.

    A read counts as "only through a gradient cut" when the semantic model follows every path
    of its value (through locals, arithmetic, framework calls, private helpers and private
    attributes) to a stop-gradient (`tf.stop_gradient`, `jax.lax.stop_gradient`, `.detach()`),
    a conversion to a Python or NumPy value (`.item()`, `.numpy()`), an integer-valued or
    piecewise-constant op (`argmax`, `round`, a cast to an integer dtype, a comparison) or an
    index, and never to anything that may carry a gradient. In the straight-through estimator
    `x + stop_gradient(q - x)` the weights behind `x` stay used and those only behind `q` do
    not. A weight the class updates in place (`self.codes.weight.data.lerp_(...)`, an
    exponential moving average; `self.w.assign(...)`) is not meant to get a gradient, and an
    Equinox field read only through `stop_gradient` is a constant kept that way on purpose:
    both count as used.

    In a Keras layer, a tensor computed from a weight in `build` or `__init__` (`self.kernel =
    K.concatenate([a, b])`, `ops.transpose(self.w)`, `self.w * 2`) is computed once, outside
    the gradient tape: storing it keeps the weight's value, not the weight, and a weight read
    only that way gets no gradient. This holds for weights kept in locals of `build`
    (`a = self.add_weight(...)`), which Keras tracks too; a local weight returned, or given to
    a call that is not a framework computation (a helper, `setattr`), counts as used. Not so in
    torch, which records `__init__`'s graph (a later backward fails loudly instead).

    The rule stays quiet for a class that hands all its weights to something
    (`self.parameters()`, `self.trainable_weights`, `self.__dict__`, `vars(self)`, `self`
    passed to a function, a non-constant `getattr`, `super().forward(...)` on a framework
    layer or container base such as `nn.Sequential`, `for m in self`; `super().forward(x)` on
    the project's own bases reads what their methods read, down to `nn.Module` or
    `keras.layers.Layer`, in this module or another);
    for classes that do not define `forward`/`call` themselves; for classes with a base
    imported from outside torch/Keras (a `LightningModule`, a project's own `BaseModel`: it
    may read the weights in methods the file does not show); for weights that are not
    trainable (`trainable=False`, `requires_grad=False`, a non-constant flag,
    `register_buffer`, frozen in `__init__` with `requires_grad_`/`.trainable = False`/
    `.eval()`, created under `torch.no_grad()`); and for sub-layers without weights
    (`nn.ReLU`, `nn.Dropout`, `layers.Dropout`, `layers.Flatten`). An unused Keras sub-layer
    is usually never built, so it has no variables yet: it is still reported as dead (so is an
    unused Flax linen sub-layer).

    For parameters made into a local (`w = hk.get_parameter(...)`, `w = self.param(...)` in a
    linen method) the local must reach a value the function uses (returned, passed on, stored,
    read by a nested function); `self.param(...)` or `hk.get_parameter(...)` as a bare
    statement is reported too. Not parameters: linen `self.variable(...)`, NNX `nnx.Variable`/
    `nnx.BatchStat`, `hk.get_state`, Equinox integer or boolean arrays (`jnp.zeros(n,
    jnp.int32)`, `jnp.array([0, 1])`) and static fields; a weight read only through
    `jax.lax.stop_gradient` counts as used. Test functions are not checked for unused
    `hk.get_parameter`/`self.param` locals. Checked with Flax 0.12.8, Equinox 0.13.8,
    dm-haiku 0.0.17 on JAX 0.10.2.

    Weights created in any other method (`self.init_architecture()`, called from `__init__` or
    before training) count too; reads in the methods that `__init__`/`build`/`setup` call on
    `self` are set-up, not uses. A base class of the project defined in another module is
    read: what its methods read on `self` counts as used, and it makes the class a layer when
    it derives from one. Handing `self.parameters()` to an optimiser (`torch.optim`, Keras
    optimisers, Optax) sets the weights up for training; it is not a use.

    In a TF1 script, a variable made with `trainable=False` (also through the factory's
    parameter: `make_weight(shape, "w", False)`), with its own `collections=`, or holding
    an integer (a step counter) is not a weight; one the script assigns (`tf.assign(target,
    source)`, `w.assign(...)`: a target network, a moving average) is updated by hand. The
    script is left alone when a training call names the variables it trains (`var_list=[...]`,
    `tf.gradients(loss, [w1, w2])`; `tf.trainable_variables()` names them all) or when it fetches
    variables by name or from a collection (`tf.get_collection`, `tf.trainable_variables()`
    elsewhere, `get_tensor_by_name`); a `tf.get_variable` is not judged when the script turns
    variable reuse on or makes another variable of the same name. A function's result is
    followed to every call of it, so a helper that one call stops and another does not keeps
    its weights used.

    A call that makes weights is not judged in code that runs with TF1 variable reuse on
    (`tf.get_variable_scope().reuse_variables()`, `tf.variable_scope(..., reuse=True)` in the
    function or around a call of it): its calls take variables made, and trained, elsewhere.
    A call made as a statement of its own (`linear(x, n, "warm_up")`) creates the variables
    for later use and is not reported.

    A weight whose every read reaches the output only inside a loop over a constructor setting,
    `for deg in range(2, self.degree)` (or `range(self.n)`), trains only when the loop runs. It
    is reported (as a warning) when the class visibly accepts a setting that leaves the loop
    empty: the constructor's default, a value its own checks let through (`if not 0 < degree <
    7: raise ...` admits 1 and 2), or a value a call of the class in the module passes. With
    Keras 2 this is the "Gradients do not exist for variables" warning for that setting; under
    torch's `DistributedDataParallel` it is the unused-parameter error.

    Known misses: Equinox fields assigned from constructor arguments, a local parameter overwritten before
    it is read (`w = hk.get_parameter(...)`, then `w = ...`), reads
    in helper methods that are never called, and thresholds whose comparison flows into the value
    (`x * tf.cast(mask, x.dtype)` where `mask = x > self.w`: the cast counts as a use).

    ## Severity
    Error for a weight that never trains; warning for one that trains only for some settings of
    the class (a loop over a constructor setting that may run no iteration).

    ## References
    - Keras: "Gradients do not exist for variables" warning in `BaseOptimizer.apply_gradients`.
    - PyTorch: `DistributedDataParallel(find_unused_parameters=...)` documentation.
    - Flax: "Module.param" and "setup vs compact" in the linen guides; `nnx.grad` and filters.
    - Equinox: `eqx.filter_grad` differentiates every floating array leaf of the module.
    - Haiku: `hk.get_parameter` and `hk.transform`.
    """

    code = "GL001"
    severity = Severity.ERROR
    message = "trainable weight `{attr}` never reaches the output of `{output}`: no gradient; use it or remove it"
    condition_message = (
        "trainable weight `{attr}` is used only in a condition or comparison, which has no gradient: it never trains"
    )
    snapshot_message = (
        "trainable weight `{attr}` is read only in `{creator}`, into a tensor computed once there: "
        "no gradient reaches it"
    )
    cut_message = (
        "trainable weight `{attr}` reaches `{output}` only through a gradient cut (stop-gradient, `.detach()`, "
        "an integer-valued op): it never trains"
    )
    script_message = (
        "trainable variable `{attr}` reaches the loss only through a gradient cut (stop-gradient, a summary, "
        "a session fetch, an integer-valued op): it never trains"
    )
    dropped_message = (
        "trainable weights made by `{call}` never reach the output of `{output}`: its result is overwritten "
        "or never read"
    )
    other_severities = (Severity.WARNING,)  # see ## Severity
    loop_message = (
        "trainable weight `{attr}` reaches the output of `{output}` only inside `{loop}`, which runs no "
        "iteration when `{attribute}` is {value} ({evidence}): it never trains then"
    )
    frameworks = ("keras", "tensorflow", "torch", "jax")

    def __init__(self, context) -> None:
        super().__init__(context)
        self.classes: list[cst.ClassDef] = []
        # Function -> parameters it creates into locals (`hk.get_parameter`, linen `self.param`).
        self.local_parameters: dict[int, list[tuple[cst.Call, cst.CSTNode, str]]] = {}
        self.statement_of: dict[int, cst.CSTNode] = {}
        # Attribute names read through something other than `self`, outside set-up code.
        self.external: set[str] = set()
        self.name_calls: dict[str, list[cst.Call]] = {}  # calls of a bare name, by name: constructors
        # Calls that may make weights and apply them (a TF1 helper, a functional layer): by
        # function while it is walked, then (call, statement, function, scopes) once it ends.
        self.weight_calls: dict[int, list[tuple[cst.Call, cst.CSTNode]]] = {}
        self.ended_weight_calls: list[tuple[cst.Call, cst.CSTNode, cst.FunctionDef, tuple]] = []
        # Names of functions and methods called inside a `with` that turns TF1 variable reuse on.
        self.called_reusing: set[str] = set()
        self.script = _ScriptFacts()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.append(node)

    def visit_Assign(self, node: cst.Assign) -> None:
        # `w = tf.Variable(...)` / `w = make_weight(...)` outside classes: a script's weight.
        if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
            return
        if not isinstance(node.value, cst.Call) or self.context.enclosing(cst.ClassDef) is not None:
            return
        if not not_differentiated(self.context):
            reusing = any(isinstance(s, cst.With) and _reuse_on(s) for s in self.context.statements)
            self.script.creations.append(_ScriptCreation(
                node.value, node.targets[0].target.value, self.context.current_statement(),
                self.context.enclosing(cst.FunctionDef), tuple(self.context.scopes), reusing,
            ))

    def visit_Attribute(self, node: cst.Attribute) -> None:
        value = node.value
        if isinstance(value, cst.Name) and value.value in ("self", "cls"):
            return
        function = self.context.enclosing(cst.FunctionDef)
        if function is not None and function.name.value in INIT_LIKE:
            return
        if self.context.names.is_module(value):
            return
        self.external.add(node.attr.value)

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        # A dotted key (`"lm_head.bias"` in a weight-tying map or a state-dict key) names a
        # weight that is used by name, out of sight of the class.
        text = node.value.strip("\"'rbuRBU")
        if "." in text and _DOTTED_KEY.match(text):
            self.external.add(text.rsplit(".", 1)[1])

    def visit_Call(self, node: cst.Call) -> None:
        self.script.read_call(self, node)
        func = node.func
        if isinstance(func, cst.Attribute):
            last = func.attr.value
        elif isinstance(func, cst.Name):
            last = func.value
            self.name_calls.setdefault(func.value, []).append(node)
        else:
            if isinstance(func, cst.Call) and self.layer_call(func):  # `h = layers.Dense(64)(x)`
                self._weight_call(node)
            return
        if last == LINEN_PARAM and isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            kind = "linen"
        elif last == "get_parameter" and self.callee(node, LOCAL_PARAMETER):
            kind = "haiku"
        else:
            self._weight_call(node)
            return
        function = self.context.enclosing(cst.FunctionDef)
        statement = self.context.current_statement()
        if function is None or statement is None or not_differentiated(self.context):
            return
        self.local_parameters.setdefault(id(function), []).append((node, statement, kind))

    def _weight_call(self, node: cst.Call) -> None:
        """Keep a call that may make weights and apply them, checked once the module is read:
        a TF1 functional layer, a function of the project, or a method on `self`."""
        func = node.func  # a name, an attribute or a layer built in place (`visit_Call`)
        tf1_layer = self.callee(node, TF1_LAYERS) is not None or isinstance(func, cst.Call)
        if not tf1_layer and (_framework_api(self.qualified_names(func)) or _is_builtin(func)):
            return
        if not tf1_layer and any(isinstance(s, cst.With) and _reuse_on(s) for s in self.context.statements):
            self.called_reusing.add(func.value if isinstance(func, cst.Name) else func.attr.value)
        function = self.context.enclosing(cst.FunctionDef)
        if function is None:
            return
        if isinstance(func, cst.Attribute) and not (tf1_layer or _is_name(func.value, _first_param(function) or "")):
            return
        statement = self.context.current_statement()
        if _assigns(statement) and not not_differentiated(self.context):  # a returned or dropped call is no dead store
            self.weight_calls.setdefault(id(function), []).append((node, statement))

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        created = self.local_parameters.pop(id(node), None)
        if created:
            _local_parameters(self, node, created)
        calls = self.weight_calls.pop(id(node), None)
        if calls:
            scopes = tuple(self.context.scopes)
            self.ended_weight_calls.extend((call, statement, node, scopes) for call, statement in calls)

    def leave_Module(self, node: cst.Module) -> None:
        if self.ended_weight_calls:
            _dropped_weight_calls(self)
        if self.script.creations and self.script.trains():
            _script_weights(self)
        if not self.classes:
            return
        _Analysis(self).run()

    # Classification helpers used by the analysis -------------------------------------

    def layer_call(self, call: cst.Call) -> bool:
        return _framework_layer(self.qualified_names(call.func))

    def container_call(self, call: cst.Call) -> bool:
        for name in self.qualified_names(call.func):
            if name in CONTAINERS:
                return True
            for prefix, last in _CONTAINER_LAST.items():
                if name.startswith(prefix) and name.rsplit(".", 1)[1] in last:
                    return True
        return False


def _framework_layer(names: frozenset[str]) -> bool:
    """One of `names` is a framework layer with weights (`nn.Linear`, `keras.layers.Dense`)."""
    for name in names:
        if name in TORCH_LAYERS or name in KERAS_LAYERS or name in FLAX_LAYERS or name in EQUINOX_LAYERS:
            return True
        for prefix, last in _LAST.items():
            if name.startswith(prefix) and name.rsplit(".", 1)[1] in last:
                return True
    return False


def _makes_weight(names: frozenset[str]) -> bool:
    """A call of `names` makes a weight: a framework layer, a parameter constructor
    (`tf.get_variable` included) or a TF1 functional layer."""
    return _framework_layer(names) or bool(names & PARAMETER) or bool(names & TF1_LAYERS)


def _dropped_weight_calls(rule: UnusedTrainableWeight) -> None:
    """Calls that make weights and apply them (`h0 = act(linear(z, n, "h0"))`, where the helper
    calls `tf.get_variable`) whose result is dead: every name it reaches is overwritten or left
    unread (`h1 = act(linear(z, ...))`: the wrong input), so the weights get no gradient. Not
    judged: code run with TF1 variable reuse on (in the function, or where it is called), whose
    calls take variables made elsewhere."""
    semantic = rule.context.semantic
    reusing: dict[int, bool] = {}
    for call, statement, function, scopes in rule.ended_weight_calls:
        applied = isinstance(call.func, cst.Call)  # a layer built and applied in place
        if not applied and rule.callee(call, TF1_LAYERS) is None and not semantic.makes_weights(call, scopes, _makes_weight):
            continue
        if not semantic.is_dead(call):
            continue
        if id(function) not in reusing:
            reusing[id(function)] = function.name.value in rule.called_reusing or _reuses_variables(rule, function)
        if reusing[id(function)]:
            continue
        labels = _string_arguments(call)
        shown = f"{rule.source(call.func)}(..., {labels[0]!r})" if labels else f"{rule.source(call.func)}(...)"
        rule.report(call, rule.dropped_message, statement=statement, call=shown, output=function.name.value)
    rule.ended_weight_calls.clear()


def _reuses_variables(rule: UnusedTrainableWeight, function: cst.FunctionDef) -> bool:
    """The function turns TF1 variable reuse on (`reuse_variables()`, `reuse=True`): its calls
    take variables made elsewhere."""
    for node in own_nodes(function.body):
        if isinstance(node, cst.Call) and rule.context.names.method(node) in VARIABLE_REUSE.methods:
            return True
        if isinstance(node, cst.Arg) and _reuse_argument(node):
            return True
    return False


def _reuse_on(statement: cst.With) -> bool:
    """`with tf.variable_scope(name, reuse=True):` (any value but False or None)."""
    return any(
        isinstance(item.item, cst.Call) and any(_reuse_argument(arg) for arg in item.item.args)
        for item in statement.items
    )


def _reuse_argument(arg: cst.Arg) -> bool:
    return (
        arg.keyword is not None and arg.keyword.value in VARIABLE_REUSE.info["keywords"]
        and _constant(arg.value) is not False and not _is_name(arg.value, "None")
    )


@dataclass
class _ScriptCreation:
    """`name = <call>` outside classes, which may make a script's weight."""

    call: cst.Call
    name: str
    statement: cst.CSTNode | None
    function: cst.FunctionDef | None
    scopes: tuple
    reusing: bool  # inside `with tf.variable_scope(..., reuse=True)`


@dataclass
class _ScriptFacts:
    """What a TF1 script does with its variables as a whole, read from its calls."""

    creations: list = field(default_factory=list)
    training: int = 0  # calls that take gradients (`opt.minimize(loss)`, `tf.gradients`)
    chosen: bool = False  # one names the variables it trains (`var_list=[...]`): the rest are left out on purpose
    fetches: list = field(default_factory=list)  # variables fetched by name or from a collection
    full_lists: set = field(default_factory=set)  # ids of `tf.trainable_variables()` given as a whole var list
    updated: set = field(default_factory=set)  # names assigned by hand: `w.assign(v)`, `tf.assign(w, v)`
    variable_names: dict = field(default_factory=dict)  # `tf.get_variable` name literals, counted
    reuse: bool = False  # the script turns TF1 variable reuse on somewhere

    def trains(self) -> bool:
        return self.training > 0

    def read_call(self, rule: UnusedTrainableWeight, call: cst.Call) -> None:
        names = rule.qualified_names(call.func)
        method = rule.context.names.method(call)
        if names & TF1_TRAINING or method in TF1_TRAINING.methods:
            self.training += 1
            self._var_list(call, names, method)
        if names & VARIABLES_BY_NAME or method in VARIABLES_BY_NAME.methods:
            self.fetches.append(call)
        receiver = call.func.value if isinstance(call.func, cst.Attribute) else None
        if method in UPDATED_BY_HAND.methods and isinstance(receiver, cst.Name):
            self.updated.add(receiver.value)
        elif names & UPDATED_BY_HAND and call.args and isinstance(call.args[0].value, cst.Name):
            self.updated.add(call.args[0].value.value)
        if names & VARIABLE_NAMED and call.args and (label := _string(call.args[0].value)):
            self.variable_names[label] = self.variable_names.get(label, 0) + 1
        if method in VARIABLE_REUSE.methods or any(_reuse_argument(arg) for arg in call.args):
            self.reuse = True

    def _var_list(self, call: cst.Call, names: frozenset[str], method: str | None) -> None:
        keyword, position = _VAR_LISTS.get(method or "") or next(
            (_VAR_LISTS[name] for name in names if name in _VAR_LISTS), (None, None))
        given = argument(call, keyword, position) if keyword else None
        if given is None and method == "minimize":
            # TF2's `minimize(loss, var_list)`; in TF1 the second argument is the global step.
            second = argument(call, "global_step", 1)
            given = None if second is None or isinstance(second, cst.Name) else second
        if given is None or _is_name(given, "None"):
            return
        if isinstance(given, cst.Call) and not given.args and self._all_variables(given):
            self.full_lists.add(id(given))
        else:
            self.chosen = True

    @staticmethod
    def _all_variables(call: cst.Call) -> bool:
        last = call.func.attr.value if isinstance(call.func, cst.Attribute) else getattr(call.func, "value", "")
        return last in TF1_TRAINING.info["all_variables"]

    def fetched_by_name(self) -> bool:
        return any(id(call) not in self.full_lists for call in self.fetches)


def _script_weights(rule: UnusedTrainableWeight) -> None:
    """A TF1 script's trainable variables (`w = tf.Variable(...)`, `tf.get_variable`, or a
    factory of the project that returns one) made at module level or in a function, whose
    every read reaches the loss only through a cut, a summary or a session fetch (the semantic
    model follows them into the functions that read them or are given them). Not judged: a
    script whose training names its variables (`var_list=`) or fetches variables by name or
    from a collection, variables assigned by hand (a target network, a moving average), and
    `tf.get_variable` under variable reuse."""
    facts = rule.script
    if facts.chosen or facts.fetched_by_name():
        return
    semantic = rule.context.semantic
    for creation in facts.creations:
        if creation.reusing or creation.name in facts.updated or _returns_name(creation.function, creation.name):
            continue
        made = _trainable_variable(rule, creation)
        if made is None or (made & VARIABLE_NAMED and _shared_by_name(rule, creation)):
            continue
        function = creation.function
        if function is not None and (function.name.value in rule.called_reusing or _reuses_variables(rule, function)):
            continue
        if not semantic.reaches_gradient(creation.call):
            rule.report(creation.call, rule.script_message, statement=creation.statement, attr=creation.name)


def _trainable_variable(rule: UnusedTrainableWeight, creation: _ScriptCreation) -> frozenset[str] | None:
    """The creator's names when `creation` makes one trainable floating TF variable, directly
    or through a factory whose flags are read from the call's arguments; else None."""
    call = creation.call
    names = rule.qualified_names(call.func)
    if names & TF_VARIABLES:
        return names if _trainable_tf_variable(call, names, lambda value: value) else None
    found = rule.context.semantic.returned_creation(call, creation.scopes, lambda made: bool(made & TF_VARIABLES))
    if found is None:
        return None
    model, function, inner = found
    inner_names = model.names.qualified_names(inner.func)
    through = lambda value: _passed_value(function, call, value)  # noqa: E731
    return inner_names if _trainable_tf_variable(inner, inner_names, through) else None


def _trainable_tf_variable(call: cst.Call, names: frozenset[str], through: Callable) -> bool:
    """`tf.Variable(init)` with no `trainable=False` (`through` maps a factory's parameter to
    what its caller passes), no own `collections=`, and not an integer counter."""
    flag = _keyword(call, "trainable", 1 if "tensorflow.Variable" in names else None)
    if flag is not None and _constant(through(flag.value)) is not True:
        return False
    if _keyword(call, "collections") is not None:
        return False
    initial = argument(call, "initial_value", 0) if "tensorflow.Variable" in names else None
    initial = through(initial) if initial is not None else None
    if isinstance(initial, cst.Integer) or _constant(initial) is not None:
        return False
    dtype = _keyword(call, "dtype")
    return dtype is None or not (_last_name(through(dtype.value)) or "").startswith(("int", "uint", "bool"))


def _passed_value(function: cst.FunctionDef, call: cst.Call, value: cst.BaseExpression | None):
    """A factory's parameter read as `value`: what `call` passes for it (or its default)."""
    if not isinstance(value, cst.Name):
        return value
    passed = passed_arguments(function, call)
    return passed[value.value] if value.value in passed else value


def _shared_by_name(rule: UnusedTrainableWeight, creation: _ScriptCreation) -> bool:
    """A `tf.get_variable` that other code may fetch again: the script turns reuse on, or
    makes another variable of the same name."""
    facts = rule.script
    label = _string(creation.call.args[0].value) if creation.call.args else None
    return facts.reuse or label is None or facts.variable_names.get(label, 0) > 1


def _returns_name(function: cst.FunctionDef | None, name: str) -> bool:
    """The function returns the variable: a factory, whose callers' results are the weights."""
    return function is not None and any(
        isinstance(node, cst.Return) and _is_name(node.value, name) for node in small_statements(function.body)
    )



def _assigns(statement: cst.CSTNode | None) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and any(
        isinstance(small, (cst.Assign, cst.AnnAssign, cst.AugAssign)) for small in statement.body
    )


def _is_builtin(func: cst.BaseExpression) -> bool:
    return isinstance(func, cst.Name) and func.value in _BUILTINS


def _framework_api(names: frozenset[str]) -> bool:
    """A name of a framework's or a library's API, not of the project (`from ops import linear`)."""
    return any(name.split(".", 1)[0] in _FRAMEWORKS for name in names)


def _string_arguments(call: cst.Call) -> list[str]:
    return [value for value in (_string(arg.value) for arg in call.args) if value]


def _is_name(node: cst.CSTNode, value: str) -> bool:
    return isinstance(node, cst.Name) and node.value == value


def _self_attr(node: cst.CSTNode, selfname: str) -> str | None:
    if isinstance(node, cst.Attribute) and _is_name(node.value, selfname):
        return node.attr.value
    return None


def _string(node: cst.CSTNode) -> str | None:
    if isinstance(node, cst.SimpleString):
        try:
            value = node.evaluated_value
        except Exception:  # pragma: no cover - odd literals
            return None
        return value if isinstance(value, str) else None
    return None


def _attribute_name(node: cst.CSTNode) -> str | None:
    """An attribute name given as a string: `"rcu0"`, or a family of names for an f-string
    (`f"rcu{i}"` is `"rcu{}"`), as `add_module` and `getattr` take them."""
    if isinstance(node, cst.FormattedString):
        parts = [part.value if isinstance(part, cst.FormattedStringText) else "{}" for part in node.parts]
        return "".join(parts) if any(part != "{}" for part in parts) else None
    return _string(node)


def _names_match(first: str, second: str) -> bool:
    """Whether two attribute names, either of them perhaps a family (`"rcu{}"`), can be the same."""
    if first == second:
        return True
    for family, name in ((first, second), (second, first)):
        if "{}" in family and "{}" not in name:
            return re.fullmatch(".+".join(re.escape(part) for part in family.split("{}")), name) is not None
    return False


def _constant(node: cst.CSTNode) -> bool | None:
    if isinstance(node, cst.Name) and node.value in ("True", "False"):
        return node.value == "True"
    return None


def _keyword(call: cst.Call, name: str, position: int | None = None) -> cst.Arg | None:
    for index, arg in enumerate(call.args):
        if arg.keyword is not None:
            if arg.keyword.value == name:
                return arg
        elif position is not None and index == position and not arg.star:
            return arg
    return None


def _trainable_flag(call: cst.Call, name: str, position: int | None = None) -> bool:
    """False when the flag is given and not the constant True."""
    arg = _keyword(call, name, position)
    return arg is None or _constant(arg.value) is True


def _first_param(function: cst.FunctionDef) -> str | None:
    params = [*function.params.posonly_params, *function.params.params]
    if not params:
        return None
    for decorator in function.decorators:
        if _is_name(decorator.decorator, "staticmethod"):
            return None
    return params[0].name.value


def _methods(cls: cst.ClassDef) -> list[cst.FunctionDef]:
    body = cls.body
    if not isinstance(body, cst.IndentedBlock):
        return []
    return [statement for statement in body.body if isinstance(statement, cst.FunctionDef)]


def _creator_methods(cls: cst.ClassDef) -> frozenset[str]:
    """`__init__` / `build` / `setup` and the methods of the class they call on `self`,
    transitively (`self.init_architecture()` creating the layers)."""
    methods = {m.name.value: m for m in _methods(cls)}
    found = {name for name in CREATORS if name in methods}
    todo = list(found)
    while todo:
        method = methods[todo.pop()]
        selfname = _first_param(method)
        for node in iter_tree(method.body):
            if isinstance(node, cst.Call):
                name = _self_attr(node.func, selfname) if selfname else None
                if name in methods and name not in found:
                    found.add(name)
                    todo.append(name)
    return frozenset(found)


def _statements(body: cst.CSTNode):
    """Statements of a block, descending into compound statements but not into definitions."""
    stack = list(reversed(body.body)) if isinstance(body, cst.IndentedBlock) else [body]
    while stack:
        statement = stack.pop()
        yield statement
        if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            continue
        if isinstance(statement, cst.Match):
            blocks = [case.body for case in statement.cases]
        elif isinstance(statement, cst.BaseCompoundStatement):
            blocks = [statement.body]
            orelse = getattr(statement, "orelse", None)
            while orelse is not None:
                blocks.append(orelse.body)
                orelse = getattr(orelse, "orelse", None)
            blocks.extend(handler.body for handler in getattr(statement, "handlers", ()))
            final = getattr(statement, "finalbody", None)
            if final is not None:
                blocks.append(final.body)
        else:
            continue
        inner = []
        for block in blocks:
            if isinstance(block, cst.IndentedBlock):
                inner.extend(block.body)
            elif isinstance(block, cst.SimpleStatementSuite):
                inner.append(block)
        stack.extend(reversed(inner))


class _Analysis:
    """The whole-file analysis, run once when the walk leaves the module."""

    def __init__(self, rule: UnusedTrainableWeight) -> None:
        self.rule = rule
        self.by_name: dict[str, list[cst.ClassDef]] = {}
        self.subclasses: dict[str, list[cst.ClassDef]] = {}  # base name -> the file's classes deriving from it
        for cls in rule.classes:
            self.by_name.setdefault(cls.name.value, []).append(cls)
            for base in cls.bases:
                if isinstance(base.value, cst.Name):
                    self.subclasses.setdefault(base.value.value, []).append(cls)
        self._layer: dict[int, bool | None] = {}
        self._unknown: dict[int, bool] = {}
        self._weights: dict[int, bool] = {}
        self._creations: dict[int, list[_Creation]] = {}
        self._base_cache: dict[int, list] = {}
        self._ancestor_cache: dict[int, list] = {}
        self._family_kind: dict[int, str | None] = {}
        self._creators: dict[int, frozenset[str]] = {}
        self.external_reads: dict[int, set[str]] = {}  # class -> what its bases in other modules read on self
        self.external_layer: set[int] = set()  # classes with a layer base in another module
        self.kind: str | None = None  # the framework family of the class whose creations are read
        # The constructor parameters of the class whose creations are read that every call of
        # the constructor in the module fills with a layer class of the module (factories).
        self.factories: frozenset[str] = frozenset()
        self._factories: dict[int, frozenset[str]] = {}

    # Class hierarchy -----------------------------------------------------------------

    def _bases(self, cls: cst.ClassDef) -> list[tuple[str, list[cst.ClassDef]]]:
        """Each base as ("framework" | "local" | "ignored" | "unknown", local classes)."""
        found = self._base_cache.get(id(cls))
        if found is not None:
            return found
        found = self._base_cache[id(cls)] = []
        for arg in cls.bases:
            if arg.keyword is not None or arg.star:
                continue
            expr = arg.value
            if isinstance(expr, cst.Subscript):
                expr = expr.value
            names = self.rule.qualified_names(expr)
            if any(_framework_base(name) for name in names):
                found.append(("framework", []))
            elif isinstance(expr, cst.Name) and expr.value in self.by_name and not names:
                found.append(("local", [c for c in self.by_name[expr.value] if c is not cls]))
            elif (isinstance(expr, cst.Name) and expr.value in IGNORED_BASES) or names & IGNORED_BASES:
                found.append(("ignored", []))
            elif self._external(cls, expr):
                found.append(("external", []))  # a base of the project in another module, read
            elif _last_name(expr) in FRAMEWORK_LIKE:
                found.append(("unknown", []))  # `from .module import Module` in framework code
            else:
                found.append(("opaque", []))  # a base from elsewhere may read any weight
        return found

    def _bases_read_nothing_else(self, cls: cst.ClassDef) -> bool:
        """Whether `super().forward(x)` in the class runs only code the rule reads: methods of
        its project bases (scanned with the family, or summarised by `external_reads`) on top
        of a framework root that reads no weight (`nn.Module`, `keras.layers.Layer`), not a
        framework layer or container (`nn.Sequential` runs every sub-module)."""
        semantic = self.rule.context.semantic
        outside = semantic.outside_bases(ClassRef(semantic, cls))
        return outside is not None and all(name in ROOT_BASES or name in IGNORED_BASES for name in outside)

    def _external(self, cls: cst.ClassDef, expr: cst.BaseExpression) -> bool:
        """Whether `expr` is a class of the project defined in another module whose reads of
        `self` are known: they count as uses of the weights (`external_reads`), and its
        layer-ness as the semantic model resolves it (`external_layer`)."""
        semantic = self.rule.context.semantic
        ref = semantic.class_ref(expr)
        if ref is None or ref.model is semantic:
            return False
        reads = semantic.self_reads(ref, WHOLE_SELF)
        if reads is None:
            return False
        self.external_reads.setdefault(id(cls), set()).update(reads)
        if semantic.layer_framework(ref):
            self.external_layer.add(id(cls))
        return True

    def is_layer(self, cls: cst.ClassDef, seen: frozenset = frozenset()) -> bool:
        key = id(cls)
        if key in self._layer:
            return bool(self._layer[key])
        if key in seen:
            return False
        result = False
        unknown = False
        for kind, locals_ in self._bases(cls):
            if kind == "framework" or (kind == "external" and key in self.external_layer):
                result = True
            elif kind == "local":
                for parent in locals_:
                    if self.is_layer(parent, seen | {key}):
                        result = True
                    unknown = unknown or self._unknown.get(id(parent), False)
                if not locals_:
                    unknown = True
            elif kind in ("unknown", "opaque"):
                unknown = True
        if not result and unknown and self._clearly_module(cls):
            result = True
        self._layer[key] = result
        self._unknown[key] = unknown
        return result

    def _clearly_module(self, cls: cst.ClassDef) -> bool:
        """A class with an unknown base that defines its output method and calls super().__init__."""
        methods = {m.name.value: m for m in _methods(cls)}
        if not any(name in methods for name in OUTPUT_METHODS[:2]):
            return False
        init = methods.get("__init__")
        if init is None:
            return False
        for node in iter_tree(init.body):
            if (
                isinstance(node, cst.Call)
                and isinstance(node.func, cst.Attribute)
                and node.func.attr.value == "__init__"
                and isinstance(node.func.value, cst.Call)
                and _is_name(node.func.value.func, "super")
            ):
                return True
        return False

    def ancestors(self, cls: cst.ClassDef) -> list[cst.ClassDef]:
        cached = self._ancestor_cache.get(id(cls))
        if cached is not None:
            return cached
        found, stack, seen = [], [cls], {id(cls)}
        while stack:
            current = stack.pop()
            for kind, locals_ in self._bases(current):
                for parent in locals_ if kind == "local" else ():
                    if id(parent) not in seen:
                        seen.add(id(parent))
                        found.append(parent)
                        stack.append(parent)
        self._ancestor_cache[id(cls)] = found
        return found

    def family(self, cls: cst.ClassDef) -> list[cst.ClassDef]:
        members = [cls, *self.ancestors(cls)]
        ids = {id(c) for c in members}
        for other in self.rule.classes:
            if id(other) not in ids and any(a is cls for a in self.ancestors(other)):
                members.append(other)
                ids.add(id(other))
        return members

    # Creations -------------------------------------------------------------------------

    def has_weights(self, cls: cst.ClassDef, seen: frozenset = frozenset()) -> bool:
        """A same-file layer class that creates a trainable weight (itself or its local bases)."""
        key = id(cls)
        if key in self._weights:
            return self._weights[key]
        if key in seen or not self.is_layer(cls):
            return False
        self._weights[key] = False  # cycle guard
        result = bool(self.creations(cls, seen | {key})) or any(
            self.has_weights(parent, seen | {key}) for parent in self.ancestors(cls)
        )
        self._weights[key] = result
        return result

    def framework_kind(self, cls: cst.ClassDef) -> str | None:
        """"linen", "equinox", "keras" or None, from the framework base of the class or of a local base."""
        key = id(cls)
        if key in self._family_kind:
            return self._family_kind[key]
        self._family_kind[key] = None  # cycle guard
        found = None
        for member in (cls, *self.ancestors(cls)):
            for arg in member.bases:
                for name in self.rule.qualified_names(arg.value):
                    if name.startswith("flax.linen."):
                        found = "linen"
                    elif name.startswith("equinox."):
                        found = "equinox"
                    elif name.startswith("keras."):
                        found = "keras"
        self._family_kind[key] = found
        return found

    def creation_kind(self, value: cst.CSTNode, selfname: str, seen: frozenset = frozenset()) -> str | None:
        if isinstance(value, cst.Call):
            rule = self.rule
            func = value.func
            if self.kind == "linen" and _self_attr(func, selfname) == LINEN_PARAM:
                return "tensor"
            if self.kind == "equinox" and rule.callee(value, JAX_ARRAYS) and _floating_dtype(value):
                return "tensor"
            if rule.callee(value, LOCAL_PARAMETER):  # `self.w = hk.get_parameter(...)` in an `hk.Module`
                return "tensor"
            if rule.callee(value, PARAMETER):
                position = 1 if "tensorflow.Variable" in rule.qualified_names(func) else None
                flag = "requires_grad" if rule.callee(value, ("torch.nn.Parameter", "torch.nn.UninitializedParameter")) else "trainable"
                if flag == "requires_grad":
                    position = 1
                return "tensor" if _trainable_flag(value, flag, position) else None
            if _self_attr(func, selfname) in SELF_WEIGHT_METHODS:
                return "tensor" if _trainable_flag(value, "trainable") else None
            if rule.layer_call(value) or self._local_layer_call(value, seen):
                return "module" if _trainable_flag(value, "trainable") else None
            if isinstance(func, cst.Name) and func.value in self.factories:
                return "module"
            if self._factory_function(value, seen):
                return "module"
            if rule.container_call(value):
                if not _trainable_flag(value, "trainable"):
                    return None
                return "module" if self._holds_weights(value, selfname, seen) else None
            if isinstance(func, cst.Attribute) and func.attr.value in MODULE_CHAIN and isinstance(func.value, cst.Call):
                inner = self.creation_kind(func.value, selfname, seen)
                return inner if inner == "module" else None
            return None
        if isinstance(value, (cst.List, cst.Tuple, cst.Dict, cst.ListComp, cst.DictComp)):
            return "module" if self._holds_weights(value, selfname, seen) else None
        return None

    def factory_parameters(self, cls: cst.ClassDef, seen: frozenset) -> frozenset[str]:
        """Parameters of `cls.__init__` that every call of the constructor in the module
        (`Block(64, ConvUnit)`, a subclass's `super().__init__(64, ConvUnit)`) gives a layer
        class of the module with weights: `unit(width)` in `__init__` makes a layer."""
        key = id(cls)
        if key in self._factories:
            return self._factories[key]
        self._factories[key] = frozenset()  # cycle guard
        init = next((m for m in _methods(cls) if m.name.value == "__init__"), None)
        if init is None:
            return frozenset()
        params = init.params
        positional_names = [p.name.value for p in (*params.posonly_params, *params.params)][1:]
        given: dict[str, list[cst.BaseExpression]] = {}
        constructor_calls = self._constructor_calls(cls)
        calls = len(constructor_calls)
        for call in constructor_calls:
            for index, arg in enumerate(call.args):
                if arg.star:
                    break
                name = arg.keyword.value if arg.keyword is not None else (
                    positional_names[index] if index < len(positional_names) else None)
                if name is not None:
                    given.setdefault(name, []).append(arg.value)
        found = frozenset(
            name for name, values in given.items()
            if calls and len(values) == calls and all(
                isinstance(v, cst.Name) and v.value in self.by_name and not self.rule.qualified_names(v)
                and all(self.has_weights(c, seen | {key}) for c in self.by_name[v.value]) for v in values
            )
        )
        self._factories[key] = found
        return found

    def _constructor_calls(self, cls: cst.ClassDef) -> list[cst.Call]:
        """`Cls(...)` in the module, and `super().__init__(...)` in the module's subclasses of it."""
        name = cls.name.value
        found = list(self.rule.name_calls.get(name, ()))
        for other in self.subclasses.get(name, ()):
            init = next((m for m in _methods(other) if m.name.value == "__init__"), None)
            for node in iter_tree(init.body) if init is not None else ():
                if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "__init__":
                    inner = node.func.value
                    if isinstance(inner, cst.Call) and _is_name(inner.func, "super"):
                        found.append(node)
        return found

    def _factory_function(self, call: cst.Call, seen: frozenset) -> bool:
        """`upsample_block(64, 32)`: a function of the module whose every return makes a layer
        with weights (`return nn.Sequential(nn.Upsample(2), nn.Conv2d(...))`)."""
        func = call.func
        if not isinstance(func, cst.Name) or self.rule.qualified_names(func):
            return False
        function = self.rule.context.semantic.functions.get(func.value)
        if function is None or id(function) in seen:
            return False
        returned = [n.value for n in own_nodes(function.body) if isinstance(n, cst.Return)]
        inner = seen | {id(function)}
        return bool(returned) and all(
            value is not None and self.creation_kind(value, "", inner) == "module" for value in returned
        )

    def _holds_weights(self, value: cst.CSTNode, selfname: str, seen: frozenset) -> bool:
        for node in iter_tree(value):
            if node is not value and isinstance(node, cst.Call) and self.creation_kind(node, selfname, seen):
                return True
        return False

    def _local_layer_call(self, call: cst.Call, seen: frozenset) -> bool:
        """A layer class of the project with weights: one of this file, or one imported from
        another module of the project (`from pkg.blocks import ConvBlock`)."""
        func = call.func
        if isinstance(func, cst.Name) and func.value in self.by_name and not self.rule.qualified_names(func):
            return any(self.has_weights(cls, seen) for cls in self.by_name[func.value])
        semantic = self.rule.context.semantic
        ref = semantic.class_ref(func)
        if ref is None or ref.model is semantic or not semantic.layer_framework(ref):
            return False
        return semantic.creates_weights(ref, _makes_weight)

    def creations(self, cls: cst.ClassDef, seen: frozenset = frozenset()) -> list[_Creation]:
        key = id(cls)
        if key in self._creations:
            return self._creations[key]
        self._creations[key] = []  # cycle guard
        outer = self.kind, self.factories
        self.kind, self.factories = self.framework_kind(cls), self.factory_parameters(cls, seen)
        try:
            result = self._read_creations(cls, seen, key)
        finally:
            self.kind, self.factories = outer
        self._creations[key] = result
        return result

    def _read_creations(self, cls: cst.ClassDef, seen: frozenset, key: int) -> list[_Creation]:
        found: dict[str, _Creation] = {}
        frozen: set[str] = set()
        for method in _methods(cls):
            if method.name.value in OUTPUT_METHODS and method.name.value not in CREATORS:
                continue  # weights made lazily while computing the output are read right there
            selfname = _first_param(method)
            if selfname is None:
                continue
            # Keras tracks a weight made by `self.add_weight` wherever it is kept, a local too.
            local = method.name.value if self.kind == "keras" and method.name.value in self.creator_methods(cls) else None
            no_grad: set[int] = set()
            for statement in _statements(method.body):
                if isinstance(statement, cst.With) and self._no_grad(statement):
                    no_grad.update(id(s) for s in _statements(statement.body))
                if isinstance(statement, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
                    for small in statement.body:
                        made = self._creation(small, selfname, seen) or self._local_weight(small, selfname, local)
                        if made is None:
                            self._freezes(small, selfname, frozen)
                            continue
                        name, node, kind = made
                        if id(statement) in no_grad:
                            frozen.add(name)
                        elif name not in found:
                            found[name] = _Creation(name, node, statement, method.name.value, kind)
                elif isinstance(statement, cst.For):
                    self._freezes(statement, selfname, frozen)
        return [c for name, c in found.items() if name not in frozen]

    def creator_methods(self, cls: cst.ClassDef) -> frozenset[str]:
        found = self._creators.get(id(cls))
        if found is None:
            found = self._creators[id(cls)] = _creator_methods(cls)
        return found

    def _no_grad(self, statement: cst.With) -> bool:
        for item in statement.items:
            expr = item.item.func if isinstance(item.item, cst.Call) else item.item
            if any(name.endswith("no_grad") or name.endswith("inference_mode") for name in self.rule.qualified_names(expr)):
                return True
        return False

    def _creation(self, small: cst.CSTNode, selfname: str, seen: frozenset):
        if isinstance(small, cst.Assign):
            if len(small.targets) != 1:
                return None
            target, value = small.targets[0].target, small.value
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            target, value = small.target, small.value
        elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            call = small.value
            method = _self_attr(call.func, selfname)
            if method in REGISTER_METHODS and len(call.args) >= 2:
                name = _attribute_name(call.args[0].value)
                kind = self.creation_kind(call.args[1].value, selfname, seen) if name is not None else None
                if kind:
                    return name, call, kind
            elif _is_name(call.func, "setattr") and len(call.args) == 3 and _is_name(call.args[0].value, selfname):
                name = _attribute_name(call.args[1].value)
                kind = self.creation_kind(call.args[2].value, selfname, seen) if name is not None else None
                if kind:
                    return name, call, kind
            return None
        else:
            return None
        name = _self_attr(target, selfname)
        kind = self.creation_kind(value, selfname, seen) if name is not None else None
        return (name, target, kind) if kind else None

    def _local_weight(self, small: cst.CSTNode, selfname: str, method: str | None):
        """`kernel = self.add_weight(...)` in the set-up `method` of a Keras layer: a weight
        named after the method and the local (`build:kernel`), which set-up code follows."""
        if method is None or not isinstance(small, cst.Assign) or len(small.targets) != 1:
            return None
        target, value = small.targets[0].target, small.value
        if not isinstance(target, cst.Name) or not isinstance(value, cst.Call):
            return None
        if _self_attr(value.func, selfname) not in SELF_WEIGHT_METHODS or not _trainable_flag(value, "trainable"):
            return None
        return _local_name(method, target.value), target, "tensor"

    def _freezes(self, node: cst.CSTNode, selfname: str, frozen: set[str]) -> None:
        touched: set[str] = set()
        marked = False
        for child in iter_tree(node):
            if isinstance(child, cst.Attribute):
                if child.attr.value in FREEZE_MARKERS:
                    marked = True
                name = _self_attr(child, selfname)
                if name is not None:
                    touched.add(name)
        if marked:
            frozen.update(touched)

    # Uses ------------------------------------------------------------------------------

    def run(self) -> None:
        rule = self.rule
        for cls in rule.classes:
            methods = {m.name.value for m in _methods(cls)}
            output = next((name for name in OUTPUT_METHODS if name in methods), None)
            if output is None or not self.is_layer(cls):
                continue
            created = self.creations(cls)
            if not created:
                continue
            family = self.family(cls)
            scan = _Scan()
            used: set[str] = set()
            aliases: dict[str, set[str]] = {}
            defined: set[str] = set()
            if any(kind == "opaque" for member in family for kind, _ in self._bases(member)):
                continue
            unknown = any(self._unknown_base(member) for member in family)
            setup = _SetUp(
                {c.name: c.kind for c in created}, scan.snapshots,
                rule.context.semantic.computes_tensor if self.framework_kind(cls) == "keras" else None,
            )
            for member in family:
                self._scan_class(member, scan, used, aliases, defined, setup)
            # Equinox keeps a floating field constant with `stop_gradient`: a cut read is a use there.
            self._settle(scan, created, aliases, cuts=self.framework_kind(cls) != "equinox")
            if scan.whole or scan.super_called and not self._bases_read_nothing_else(cls):
                continue
            if scan.value & (WHOLE_SELF - defined):
                continue
            if unknown and scan.calls - defined:
                continue
            used |= scan.value | scan.strings | scan.updated | rule.external
            for member in family:
                used |= self.external_reads.get(id(member), set())
            changed = True
            while changed:
                changed = False
                for name, targets in aliases.items():
                    if name not in used and targets & used:
                        used.add(name)
                        changed = True
            families = [name for name in used if "{}" in name]
            loops = list(_range_loops(family))
            used_otherwise = used - scan.value if loops else set()
            for creation in created:
                if creation.name in used or any(
                    _names_match(creation.name, name) for name in (used if "{}" in creation.name else families)
                ):
                    if loops and creation.name in scan.value and creation.name not in used_otherwise:
                        self._report_loop_only(cls, family, loops, scan, creation, output)
                    continue
                attr = rule.source(creation.node) if isinstance(creation.node, (cst.Attribute, cst.Name)) else creation.name
                if isinstance(creation.node, cst.Call) and "{}" in creation.name:  # `add_module(f"rcu{i}", ...)`
                    attr = rule.source(creation.node.args[0].value)
                if creation.name in scan.predicate and creation.name not in scan.dead:
                    rule.report(creation.node, rule.condition_message, statement=creation.statement, attr=attr)
                elif creation.name in scan.cut:
                    rule.report(creation.node, rule.cut_message, statement=creation.statement, attr=attr, output=output)
                elif creation.name in scan.snapshots:
                    creator = scan.snapshots[creation.name]
                    rule.report(creation.node, rule.snapshot_message, statement=creation.statement, attr=attr, creator=creator)
                else:
                    rule.report(creation.node, statement=creation.statement, attr=attr, output=output)

    def _report_loop_only(self, cls: cst.ClassDef, family: list, loops: list, scan: _Scan, creation: _Creation,
                          output: str) -> None:
        """A weight whose every value read reaches the output only inside `for _ in range(lo,
        self.n)`, when the class accepts an `n` that leaves the loop empty: it never trains then."""
        reads = scan.value_reads.get(creation.name)
        if not reads or creation.name in scan.untraced:
            return
        semantic = self.rule.context.semantic
        for loop, low, attribute in loops:
            if not all(semantic.only_through(read, loop) for read in reads):
                continue
            accepted = _accepted_up_to(self.rule, family, attribute, low, cls.name.value)
            if accepted is None:
                continue
            value, evidence = accepted
            rule = self.rule
            attr = rule.source(creation.node) if isinstance(creation.node, (cst.Attribute, cst.Name)) else creation.name
            rule.report(
                creation.node, rule.loop_message, statement=creation.statement, severity=Severity.WARNING,
                attr=attr, output=output, loop=_loop_head(rule, loop), attribute=attribute, value=value, evidence=evidence,
            )
            return

    def _settle(self, scan: _Scan, created: list, aliases: dict[str, set[str]], cuts: bool) -> None:
        """Place the pending reads; the semantic model is asked whether a read's result is dead,
        and (with `cuts`) whether a value read reaches no gradient (every path of it cut, made
        integer-valued or only looked at), only for the attributes a finding can depend on:
        the weights, the names that alias them, families and whole-`self` reads."""
        relevant = {c.name for c in created} | WHOLE_SELF | set(aliases)
        relevant.update(target for targets in aliases.values() for target in targets)
        families = [name for name in relevant if "{}" in name]
        semantic = self.rule.context.semantic
        for attr, node, joins in scan.pending:
            matters = attr in relevant or "{}" in attr or any(_names_match(family, attr) for family in families)
            if matters and semantic.is_dead(node):
                scan.dead.add(attr)
            elif matters and cuts and joins is scan.value and not semantic.reaches_gradient(node):
                scan.cut.add(attr)
            else:
                joins.add(attr)
                if joins is scan.value:
                    scan.value_reads.setdefault(attr, []).append(node)
        scan.pending.clear()

    def _unknown_base(self, cls: cst.ClassDef) -> bool:
        self.is_layer(cls)
        return any(kind == "unknown" for kind, _ in self._bases(cls))

    def _scan_class(self, cls, scan: _Scan, used: set, aliases: dict, defined: set, setup: _SetUp) -> None:
        body = cls.body
        if not isinstance(body, cst.IndentedBlock):
            return
        for statement in body.body:
            if isinstance(statement, cst.FunctionDef):
                defined.add(statement.name.value)
                selfname = _first_param(statement) or "self"
                for node in iter_tree(statement.body):
                    if isinstance(node, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
                        targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
                        for target in targets:
                            for part in iter_tree(target):
                                name = _self_attr(part, selfname)
                                if name is not None:
                                    defined.add(name)
                name = statement.name.value
                creator = name in CREATORS or name in self.creator_methods(cls)
                if name in INIT_LIKE or creator:
                    # Only the methods that make the weights keep tensors computed from them.
                    _InitScan(selfname, used, aliases, setup if creator else None, name).scan(statement.body)
                else:
                    _MethodScan(self.rule, selfname, scan).run(statement.body)
            elif not isinstance(statement, cst.ClassDef):
                _MethodScan(self.rule, "self", scan).run(statement)


def _floating_dtype(call: cst.Call) -> bool:
    """False for a JAX array call that makes integers or booleans (`jnp.zeros(n, jnp.int32)`,
    `jnp.array(0)`), which `eqx.filter_grad` leaves alone."""
    for arg in call.args:
        if arg.keyword is None or arg.keyword.value == "dtype":
            code = cst.Module([]).code_for_node(arg.value)
            literal = isinstance(arg.value, (cst.List, cst.Tuple, cst.Integer, cst.Float))
            if (arg.keyword is not None or not literal) and re.search(r"\b(u?int\d*|bool_?)\b", code):
                return False
    first = call.args[0].value if call.args and call.args[0].keyword is None else None
    if isinstance(first, (cst.List, cst.Tuple)):
        elements = [e.value for e in first.elements]
    else:
        elements = [first] if first is not None else []
    last = call.func.attr.value if isinstance(call.func, cst.Attribute) else None
    if last in ("array", "asarray") and elements and all(isinstance(e, cst.Integer) for e in elements):
        return any(a.keyword is not None and a.keyword.value == "dtype" for a in call.args)
    return True


def _local_parameters(rule: UnusedTrainableWeight, function: cst.FunctionDef, created: list) -> None:
    """Parameters created into locals (`w = hk.get_parameter(...)`, `w = self.param(...)` in
    an `@nn.compact` method) that nothing in the function passes on to its output."""
    selfname = _first_param(function)
    linen = _linen_function(rule, function)
    scan: _MethodScan | None = None
    for call, statement, kind in created:
        if kind == "linen" and (not linen or not _is_name(call.func.value, selfname or "")):
            continue
        small = next((s for s in getattr(statement, "body", ()) if any(n is call for n in iter_tree(s))), None)
        label = _string(call.args[0].value) if call.args else None
        if isinstance(small, cst.Expr) and small.value is call:
            rule.report(call, statement=statement, attr=label or rule.source(call), output=function.name.value)
            continue
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            target = small.targets[0].target
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            target = small.target
        else:
            continue  # used right where it is made (returned, passed on, stored)
        if not isinstance(target, cst.Name):
            continue
        if scan is None:
            scan = _MethodScan(rule, selfname or "self", _Scan())
            scan.run(function.body)
        name = target.value
        if scan.all_used or name in scan.value_names:
            continue
        if name in scan.pred_names:
            rule.report(target, rule.condition_message, statement=statement, attr=name)
        else:
            rule.report(target, statement=statement, attr=name, output=function.name.value)


def _linen_function(rule: UnusedTrainableWeight, function: cst.FunctionDef) -> bool:
    """A method of a Flax linen module (`@nn.compact`, or in a class with a linen base)."""
    if any(rule.qualified_names(d.decorator) & LINEN_COMPACT for d in function.decorators):
        return True
    scopes = rule.context.scopes
    owner = scopes[-2] if len(scopes) >= 2 and scopes[-1] is function else None
    if not isinstance(owner, cst.ClassDef):
        return False
    return any(name.startswith("flax.linen.") for arg in owner.bases for name in rule.qualified_names(arg.value))


def _last_name(expr: cst.CSTNode) -> str | None:
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    return None


def _framework_base(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    if name.startswith(("torch.nn.", "keras.layers.", "flax.linen.", "flax.nnx.", "equinox.nn.")):
        return last.lstrip("_")[:1].isupper()
    if name.startswith(("equinox.", "haiku.")):
        return last == "Module"
    if name == "tensorflow.Module":  # TF2's low-level modules: `tf.Variable`s read in `__call__`
        return True
    return name.startswith("keras.") and last in ("Layer", "Model", "Sequential", "Functional")


def _local_name(method: str, local: str) -> str:
    """The name of a weight kept in a local of a set-up method (`build:kernel`): never an attribute's."""
    return f"{method}:{local}"


@dataclass
class _SetUp:
    """What the set-up scans of a class share: its weights and their kind ("tensor" or
    "module"), where the weights read only into a computed tensor go (weight -> method), and,
    for a Keras layer, the semantic model's test of a call that computes a new tensor."""

    weights: dict
    snapshots: dict
    computes: Callable[[cst.Call], bool] | None


class _InitScan:
    """Set-up code: which weights are stored into other attributes, or used right there.

    In a Keras layer a tensor computed in set-up code from a weight (`concat([self.a,
    self.b])`, `self.a * 2`) is computed once, outside any gradient tape: it holds the weight's
    value, not the weight, so storing it is no alias of the weight (`_SetUp.snapshots`). A
    weight kept in a local (`kernel = self.add_weight(...)`) is followed like an attribute; one
    returned or given to a call the scan does not know counts as used."""

    def __init__(self, selfname: str, used: set, aliases: dict, setup: _SetUp | None = None, method: str = "") -> None:
        self.selfname = selfname
        self.used = used
        self.aliases = aliases
        self.locals: dict[str, set[str]] = {}
        self.setup = setup
        self.method = method
        self.computes = setup.computes if setup is not None else None

    def reads(self, node: cst.CSTNode) -> set[str]:
        found: set[str] = set()
        for child in iter_tree(node):
            name = _self_attr(child, self.selfname)
            if name is not None:
                found.add(name)
            elif isinstance(child, cst.Name) and child.value in self.locals:
                found |= self.locals[child.value]
        return found

    def kept(self, node: cst.CSTNode) -> set[str]:
        """The weights `node` holds as they are; in a Keras layer, those read only into a
        tensor computed from them are set aside as snapshots."""
        if self.computes is None:
            return self.reads(node)
        found: set[str] = set()
        stack = [node]
        while stack:
            child = stack.pop()
            if self._computed(child):
                for name in self.reads(child):
                    if self.setup.weights.get(name) == "tensor":
                        self.setup.snapshots.setdefault(name, self.method)
                continue
            name = _self_attr(child, self.selfname)
            if name is not None:
                found.add(name)
            elif isinstance(child, cst.Name) and child.value in self.locals:
                found |= self.locals[child.value]
            else:
                stack.extend(iter_children(child))
        return found

    def _computed(self, node: cst.CSTNode) -> bool:
        """A framework computation (`K.concatenate`, `tf.transpose`), or arithmetic on a
        weight tensor itself (`self.w * 2`; `self.ws + more` may join lists)."""
        if isinstance(node, cst.Call):
            return self.computes(node)
        if isinstance(node, cst.BinaryOperation):
            return self._weight_tensor(node.left) or self._weight_tensor(node.right)
        return isinstance(node, cst.UnaryOperation) and self._weight_tensor(node.expression)

    def _weight_tensor(self, node: cst.CSTNode) -> bool:
        name = _self_attr(node, self.selfname)
        if name is None and isinstance(node, cst.Name):
            name = _local_name(self.method, node.value)
        return self.setup.weights.get(name) == "tensor"

    def _local_weights(self, node: cst.CSTNode) -> set[str]:
        """The weights kept in locals that `node` holds as they are."""
        return {name for name in self.kept(node) if ":" in name}

    def alias(self, sources: set[str], target: str) -> None:
        for source in sources:
            if source != target:
                self.aliases.setdefault(source, set()).add(target)

    def root(self, target: cst.CSTNode) -> str | None:
        while isinstance(target, (cst.Attribute, cst.Subscript)):
            name = _self_attr(target, self.selfname)
            if name is not None:
                return name
            target = target.value
        return None

    def scan(self, body: cst.CSTNode) -> None:
        selfname = self.selfname
        for node in iter_tree(body):
            if isinstance(node, (cst.Lambda, cst.FunctionDef)) and node is not body:
                self.used |= {n for n in (_self_attr(c, selfname) for c in iter_tree(node.body)) if n}
            elif isinstance(node, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
                value = node.value
                if value is None:
                    continue
                targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
                sources = self.kept(value)
                for target in targets:
                    if isinstance(target, cst.Name):
                        local = _local_name(self.method, target.value)
                        made = self.setup is not None and local in self.setup.weights and isinstance(value, cst.Call)
                        self.locals.setdefault(target.value, set()).update(sources | ({local} if made else set()))
                        continue
                    root = self.root(target)
                    if root is not None:
                        self.alias(sources, root)
            elif isinstance(node, cst.For) and isinstance(node.target, cst.Name):
                self.locals.setdefault(node.target.value, set()).update(self.reads(node.iter))
            elif isinstance(node, cst.Return) and node.value is not None and self.computes is not None:
                self.used |= self._local_weights(node.value)
            elif isinstance(node, cst.Call):
                self.call(node)

    def call(self, node: cst.Call) -> None:
        func = node.func
        called = _self_attr(func, self.selfname)
        if called is not None:
            self.used.add(called)
            if called in REGISTER_METHODS and node.args:
                name = _attribute_name(node.args[0].value)
                if name is not None:
                    self.alias(set().union(*(self.kept(a.value) for a in node.args[1:])), name)
                    return
            self._unknown_call(node)
            return
        if isinstance(func, cst.Attribute):
            if isinstance(func.value, cst.Call) and _is_name(func.value.func, "super"):
                for arg in node.args:
                    self.used |= self.reads(arg.value)
                return
            root = self.root(func.value)
            if root is not None and func.attr.value not in FREEZE_MARKERS:
                for arg in node.args:
                    self.alias(self.kept(arg.value), root)
                return
            if isinstance(func.value, cst.Name) and func.value.value in self.locals:
                # `layers.append(self.a)`: the local list collects the weight.
                for arg in node.args:
                    self.locals[func.value.value] |= self.kept(arg.value)
                return
        self._unknown_call(node)

    def _unknown_call(self, node: cst.Call) -> None:
        """A weight kept in a local and given to a call that does not compute a tensor from it
        (`setattr(self, name, kernel)`, a helper) may be kept there: it counts as used."""
        if self.computes is not None and not self.computes(node):
            for arg in node.args:
                self.used |= self._local_weights(arg.value)


class _MethodScan:
    """Reads of `self.<attr>` in one method, each a value use or a use inside a condition."""

    def __init__(self, rule: UnusedTrainableWeight, selfname: str, scan: _Scan) -> None:
        self.rule = rule
        self.selfname = selfname
        self.scan = scan
        self.reads: list[tuple[str, bool, str | None, cst.Attribute | None]] = []
        self.uses: dict[str, list[tuple[bool, str | None]]] = {}
        self.declared: set[str] = set()  # `global` / `nonlocal` names live on after the method
        self.value_names: set[str] = set()  # locals whose value reaches a use (after `resolve`)
        self.pred_names: set[str] = set()  # locals that reach a condition
        self.all_used = False  # `locals()`, `eval`: any local may be used

    def run(self, body: cst.CSTNode) -> None:
        stack: list[tuple[cst.CSTNode, bool, str | None]] = [(body, False, None)]
        while stack:
            node, pred, sink = stack.pop()
            self.visit(node, pred, sink, stack)
        self.resolve()

    def is_self(self, node: cst.CSTNode) -> bool:
        return _is_name(node, self.selfname)

    def predicate(self, expr: cst.CSTNode, stack: list) -> None:
        while True:
            if isinstance(expr, cst.BooleanOperation):
                self.predicate(expr.left, stack)
                expr = expr.right
            elif isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
                expr = expr.expression
            else:
                break
        if isinstance(expr, cst.Attribute) and self.is_self(expr.value):
            stack.append((expr, False, None))  # `if self.proj:` is an existence check
        else:
            stack.append((expr, True, None))

    def target(self, node: cst.CSTNode, stack: list) -> None:
        if isinstance(node, cst.Name):
            return
        if isinstance(node, (cst.Tuple, cst.List)):
            for element in node.elements:
                self.target(element.value, stack)
        elif isinstance(node, cst.StarredElement):
            self.target(node.value, stack)
        elif isinstance(node, cst.Attribute) and self.is_self(node.value):
            return  # a write
        else:
            self.updated(node)  # `self.w.data = ...`, `self.w[0] = ...`
            stack.append((node, False, None))

    def updated(self, node: cst.CSTNode) -> None:
        """`node` (an attribute or item of `self.<attr>`) is written to: the weight is updated
        by hand, as an exponential moving average is, and not meant to get a gradient."""
        while isinstance(node, (cst.Attribute, cst.Subscript)):
            if isinstance(node, cst.Attribute) and self.is_self(node.value):
                self.scan.updated.add(node.attr.value)
                return
            node = node.value

    def visit(self, node: cst.CSTNode, pred: bool, sink: str | None, stack: list) -> None:
        kind = type(node)
        if kind is cst.Attribute:
            if self.is_self(node.value):
                self.reads.append((node.attr.value, pred, sink, node))
            else:
                stack.append((node.value, pred, sink))
            return
        if kind is cst.Name:
            if node.value == self.selfname:
                self.scan.whole = True  # `for m in self`, `fn(self)`, `self[0]`
            else:
                self.uses.setdefault(node.value, []).append((pred, sink))
            return
        if kind is cst.Call:
            self.call(node, pred, sink, stack)
            return
        if kind is cst.SimpleString:
            value = _string(node)
            if value is not None:
                self.scan.strings.add(value)
            return
        if kind in (cst.If, cst.While):
            self.predicate(node.test, stack)
            stack.append((node.body, False, None))
            if node.orelse is not None:
                stack.append((node.orelse, False, None))
            return
        if kind is cst.IfExp:
            self.predicate(node.test, stack)
            stack.append((node.body, pred, sink))
            stack.append((node.orelse, pred, sink))
            return
        if kind is cst.Assert:
            self.predicate(node.test, stack)
            return
        if kind is cst.Comparison:
            # `x is None`, `k in d` are checks on the object; `x < w` is a boolean of values.
            inside = not any(isinstance(c.operator, _VALUE_OPS) for c in node.comparisons)
            stack.append((node.left, inside, sink))
            for comparison in node.comparisons:
                stack.append((comparison.comparator, inside, sink))
            return
        if kind is cst.Assign:
            targets = node.targets
            if len(targets) == 1 and isinstance(targets[0].target, cst.Name):
                stack.append((node.value, pred, targets[0].target.value))
            else:
                stack.append((node.value, pred, None))
                for target in targets:
                    self.target(target.target, stack)
            return
        if kind is cst.AnnAssign:
            if node.value is not None:
                name = node.target.value if isinstance(node.target, cst.Name) else None
                stack.append((node.value, pred, name))
                if name is None:
                    self.target(node.target, stack)
            return
        if kind is cst.AugAssign:
            if isinstance(node.target, cst.Name):
                stack.append((node.value, pred, node.target.value))
            else:
                stack.append((node.value, pred, None))
                stack.append((node.target, pred, None))
            return
        if kind is cst.NamedExpr:
            name = node.target.value if isinstance(node.target, cst.Name) else None
            stack.append((node.value, pred, name))
            return
        if kind in (cst.For, cst.CompFor):
            name = node.target.value if isinstance(node.target, cst.Name) else None
            stack.append((node.iter, pred, name))
            if name is None:
                self.target(node.target, stack)
            if kind is cst.For:
                stack.append((node.body, False, None))
                if node.orelse is not None:
                    stack.append((node.orelse, False, None))
            else:
                for condition in node.ifs:
                    stack.append((condition, pred, sink))
                if node.inner_for_in is not None:
                    stack.append((node.inner_for_in, pred, sink))
            return
        if kind is cst.Arg:
            stack.append((node.value, pred, sink))
            return
        if kind is cst.FunctionDef:
            stack.append((node.body, False, None))
            return
        if kind is cst.Lambda:
            stack.append((node.body, pred, sink))
            return
        if kind in (cst.Global, cst.Nonlocal):
            self.declared.update(item.name.value for item in node.names)
            return
        if kind in (cst.ClassDef, cst.Import, cst.ImportFrom, cst.Param, cst.Parameters):
            return
        for child in iter_children(node):
            stack.append((child, pred, sink))

    def call(self, node: cst.Call, pred: bool, sink: str | None, stack: list) -> None:
        rule = self.rule
        func = node.func
        args = node.args
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call) and _is_name(func.value.func, "super"):
            if func.attr.value not in INIT_LIKE:
                self.scan.super_called = True  # `super().forward(x)`: what the bases read
            for arg in args:
                stack.append((arg.value, pred, sink))
            return
        if isinstance(func, cst.Name):
            name = func.value
            if name in ("getattr", "hasattr", "setattr", "delattr") and args and self.is_self(args[0].value):
                attr = _attribute_name(args[1].value) if len(args) > 1 else None
                if attr is None:
                    self.scan.whole = True
                elif name == "getattr":
                    self.reads.append((attr, pred, sink, None))
                elif name == "hasattr":
                    self.reads.append((attr, False, None, None))
                for arg in args[2:]:
                    stack.append((arg.value, pred, sink))
                return
            if name in ("vars", "dir") and args and self.is_self(args[0].value):
                self.scan.whole = True
                return
            if name == self.selfname or name in SELF_SAFE_BUILTINS:
                for arg in args:
                    if not self.is_self(arg.value):
                        stack.append((arg.value, pred, sink))
                return
        if any(name.startswith(OPTIMIZER_PREFIXES) for name in rule.qualified_names(func)):
            for arg in args:  # `Adam(self.parameters())` trains every weight; it reads none
                value = arg.value.func if isinstance(arg.value, cst.Call) else arg.value
                if _self_attr(value, self.selfname) not in WHOLE_SELF:
                    stack.append((arg.value, pred, sink))
            return
        if rule.callee(node, CONDITION):
            condition = _keyword(node, "pred") or _keyword(node, "condition") or _keyword(node, "cond")
            if condition is None:
                condition = next((a for a in args if a.keyword is None and not a.star), None)
            for arg in args:
                if arg is condition:
                    self.predicate(arg.value, stack)
                else:
                    stack.append((arg.value, pred, sink))
            return
        if rule.callee(node, COMPARISON) or rule.context.names.method(node) in COMPARISON.methods:
            stack.append((func, True, sink))
            for arg in args:
                stack.append((arg.value, True, sink))
            return
        called = _self_attr(func, self.selfname)
        if called == "__getattr__" and len(args) == 1 and (attr := _attribute_name(args[0].value)) is not None:
            self.reads.append((attr, pred, sink, node))  # `self.__getattr__(f"rcu{i}")`, like getattr
            return
        if called is not None:
            self.scan.calls.add(called)
        elif isinstance(func, cst.Attribute) and func.attr.value in UPDATED_BY_HAND.methods:
            self.updated(func.value)  # `self.codes.weight.data.lerp_(means, 0.01)`
        stack.append((func, pred, sink))
        for arg in args:
            stack.append((arg.value, pred, sink))

    def resolve(self) -> None:
        """Each read is a value use, a use only inside conditions, or dead (flows nowhere)."""
        uses = self.uses
        if uses.keys() & {"locals", "eval", "exec"}:
            self.scan.value.update(attr for attr, _, _, _ in self.reads)
            self.scan.untraced.update(attr for attr, _, _, _ in self.reads)
            self.all_used = True
            return
        value_names = {name for name, items in uses.items() if any(not p and s is None for p, s in items)}
        value_names |= self.declared
        pred_names = {name for name, items in uses.items() if any(p for p, _ in items)}
        changed = True
        while changed:
            changed = False
            for name, items in uses.items():
                for p, s in items:
                    if p or s is None:
                        continue
                    if s in value_names and name not in value_names:
                        value_names.add(name)
                        changed = True
                    if s in pred_names and name not in pred_names:
                        pred_names.add(name)
                        changed = True
        self.value_names, self.pred_names = value_names, pred_names
        scan = self.scan
        for attr, pred, sink, node in self.reads:
            if pred:
                scan.predicate.add(attr)
                continue
            if sink is None or sink in value_names:
                joins = scan.value
            elif sink in pred_names:
                joins = scan.predicate
            else:
                scan.dead.add(attr)
                continue
            if node is not None:  # `u = self.up(h)` overwritten before any read is dead
                scan.pending.append((attr, node, joins))
            else:
                joins.add(attr)
                scan.untraced.add(attr)


# Weights read only inside a loop over a constructor setting ----------------------------------


def _range_loops(family: list) -> Iterator[tuple[cst.For, int, str]]:
    """The loops of the family's methods over `range(self.n)` or `range(lo, self.n)`, with `lo`
    a number written in the code (step 1): each with `lo` and the attribute `n`."""
    for cls in family:
        for method in _methods(cls):
            params = method.params.params
            if not params:
                continue
            me = params[0].name.value
            for node in iter_tree(method.body):
                if not (isinstance(node, cst.For) and isinstance(node.iter, cst.Call)
                        and isinstance(node.iter.func, cst.Name) and node.iter.func.value == "range"):
                    continue
                args = node.iter.args
                if len(args) == 1:
                    low, stop = 0, args[0].value
                elif len(args) == 2:
                    low, stop = number(args[0].value), args[1].value
                else:
                    continue
                attribute = _self_attr(stop, me)
                if attribute is not None and low is not None and low == int(low) and not any(a.keyword or a.star for a in args):
                    yield node, int(low), attribute


def _accepted_up_to(rule, family: list, attribute: str, low: int, name: str) -> tuple[int, str] | None:
    """A value of at most `low` that the constructor visibly accepts for the parameter it
    stores in `self.<attribute>`: its default, a value its own checks (`if not 0 < n < 7: raise`,
    `assert n >= 1`) let through, or one a call of the class in the module passes. None without
    such evidence: a setting is not guessed."""
    found = _stored_parameter(family, attribute)
    if found is None:
        return None
    init, param = found
    parameter = param.name.value
    default = number(param.default) if param.default is not None else None
    if default is not None and default == int(default) and default <= low:
        return int(default), "its default"
    checks = _checks(init, parameter)
    for value in range(low, low - 3, -1) if checks else ():
        if all(_can_be(test, parameter, value, passes) for test, passes in checks):
            tests = " and ".join(f"`{rule.source(test)}`" for test, _ in checks)
            return value, f"a value the check {tests} in `__init__` lets through"
    position = parameter_position(init, parameter, bound=True)  # a constructor call does not pass `self`
    for node in iter_tree(rule.context.module):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == name:
            given = number(argument(node, parameter, position))
            if given is not None and given == int(given) and given <= low:
                return int(given), f"as `{rule.source(node)}` passes"
    return None


def _stored_parameter(family: list, attribute: str) -> tuple[cst.FunctionDef, cst.Param] | None:
    """The `__init__` of the family that stores one of its parameters as `self.<attribute> =
    parameter`, and that parameter."""
    for cls in family:
        for init in _methods(cls):
            if init.name.value != "__init__" or not init.params.params:
                continue
            me = init.params.params[0].name.value
            for statement in small_statements(init.body):
                if (isinstance(statement, cst.Assign) and len(statement.targets) == 1
                        and _self_attr(statement.targets[0].target, me) == attribute
                        and isinstance(statement.value, cst.Name)):
                    given = statement.value.value
                    param = next((p for p in (*init.params.params[1:], *init.params.kwonly_params)
                                  if p.name.value == given), None)
                    return (init, param) if param is not None else None
    return None


def _checks(init: cst.FunctionDef, parameter: str) -> list[tuple[cst.BaseExpression, bool]]:
    """The validations in `init` that name `parameter`: (test, whether the value passes when the
    test is True): `assert test` passes on True, `if test: raise ...` on False."""
    found = []
    for node in iter_tree(init.body):
        if isinstance(node, cst.Assert):
            test, passes = node.test, True
        elif (isinstance(node, cst.If) and isinstance(node.body, cst.IndentedBlock) and node.body.body
              and isinstance(node.body.body[0], cst.SimpleStatementLine) and isinstance(node.body.body[0].body[0], cst.Raise)):
            test, passes = node.test, False
        else:
            continue
        if parameter in referenced_names(test):
            found.append((test, passes))
    return found


def _can_be(test: cst.BaseExpression, name: str, value: int, want: bool) -> bool:
    """Whether `test` can come out `want` when `name` holds `value` and every other name may
    hold anything (each independently)."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return _can_be(test.expression, name, value, not want)
    if isinstance(test, cst.BooleanOperation):
        both = isinstance(test.operator, cst.And) == want  # `and` True / `or` False need both sides
        left, right = _can_be(test.left, name, value, want), _can_be(test.right, name, value, want)
        return (left and right) if both else (left or right)
    if isinstance(test, cst.Comparison):
        operands = [test.left, *(target.comparator for target in test.comparisons)]
        values = [value if isinstance(o, cst.Name) and o.value == name else number(o) for o in operands]
        if any(v is None for v in values):
            return True
        result = all(_COMPARISONS.get(type(op.operator), _unread)(a, b) for op, a, b in zip(test.comparisons, values, values[1:]))
        return result == want
    return True


_COMPARISONS = {
    cst.LessThan: operator.lt, cst.LessThanEqual: operator.le, cst.GreaterThan: operator.gt,
    cst.GreaterThanEqual: operator.ge, cst.Equal: operator.eq, cst.NotEqual: operator.ne,
}


def _unread(_left: float, _right: float) -> bool:  # an operator not read here (`in`, `is`) may hold
    return True


def _loop_head(rule, loop: cst.For) -> str:
    return f"for {rule.source(loop.target)} in {rule.source(loop.iter)}"

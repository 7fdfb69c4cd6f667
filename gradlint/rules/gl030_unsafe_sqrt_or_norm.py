from __future__ import annotations

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.gradients import STOP_GRADIENT, not_differentiated
from gradlint.engine.syntax import argument, assigned_names, bare, number, parameter_names, positional
from gradlint.engine.walker import iter_children
from gradlint.rule import Fix, NodeCode, Rule, Severity
from gradlint.semantic.model import ModuleModel, Place

SQRT = api_table("roots_sqrt")
POW = api_table("roots_pow")
NORM = api_table("roots_norm")
NORM_SAFE = api_table("roots_norm_safe")  # documentation: torch's norms are never flagged
SQUARE = api_table("roots_square")
SQUARED_DIFFERENCE = api_table("roots_squared_difference")
REDUCE = api_table("roots_reduce")
MEAN = api_table("roots_mean")
SELF_PRODUCT = api_table("roots_self_product")
EINSUM = api_table("roots_einsum")
VARIANCE = api_table("roots_variance")
MOMENTS = api_table("roots_moments")
VAR_FIRST = api_table("roots_var_first")
CLAMP = api_table("roots_clamp")
NAN_AFTER_CLAMP = api_table("roots_nan_after_clamp")
CLAMP_AFTER = api_table("roots_clamp_after")
SUBTRACT = api_table("roots_subtract")
TRANSPARENT = api_table("roots_transparent")
WHERE = api_table("roots_where")
WHILE_LOOP = api_table("roots_while_loop")
COMPLEX_PART = api_table("roots_complex_part")

# Norm APIs whose second positional parameter is `ord`; the others take no positional ord.
_ORD_SECOND = frozenset({"tensorflow.norm", "tensorflow.linalg.norm", "keras.ops.norm", "keras.ops.linalg.norm",
                         "jax.numpy.linalg.norm"})
_MAXIMUM = frozenset({"tensorflow.maximum", "tensorflow.math.maximum", "keras.ops.maximum", "keras.backend.maximum",
                      "jax.numpy.maximum", "jax.lax.max", "torch.maximum", "theano.tensor.maximum"})
_RELU = frozenset({"tensorflow.nn.relu", "keras.ops.relu", "keras.activations.relu", "keras.backend.relu",
                   "jax.nn.relu", "torch.relu", "torch.nn.functional.relu"})
_L2_ORDS = frozenset({"euclidean", "fro", "2"})
# Calls on a root's result that leave autograd.
_LEAVE_AUTOGRAD = frozenset({"detach", "detach_", "item", "numpy", "tolist"})
_NUMERIC_MODULES = ("numpy.", "scipy.", "math.")
# Callees that are APIs, never a function of the project.
_FRAMEWORKS = ("tensorflow.", "keras.", "jax.", "torch.", "theano.", "numpy.", "scipy.", "math.", "flax.", "optax.")
_MAX_DEPTH = 12
_ROUNDS_NEGATIVE = "a variance written as E[x²] - E[x]²"
EPSILON = "1e-12"
# Expressions that need parentheses as an operand of `+`.
_LOOSER_THAN_ADD = (cst.BooleanOperation, cst.Comparison, cst.IfExp, cst.Lambda, cst.UnaryOperation)
_ARG_CHARS = 36
# The argument a clamp bounds, when given by keyword; and calls that give a constant bound.
_CLAMPED_KEYWORDS = frozenset({"input", "x", "a", "t", "x1"})
_BOUND_CALLS = frozenset({"epsilon", "finfo", "float"})


class UnsafeSqrtOrNorm(Rule):
    """
    ## What it does
    Checks for a square root or Euclidean norm of a quantity that is exactly zero whenever
    two points coincide, with no epsilon or positive clamp before the root:

    - a TF, Keras or JAX L2 norm of a difference: `tf.norm(a - b)`, `tf.linalg.norm`,
      `tf.math.reduce_euclidean_norm`, `keras.ops.norm`, `jnp.linalg.norm` (also of a name
      assigned a difference earlier in the same function, and of broadcast pairwise
      differences such as `x[:, None] - x[None, :]`);
    - `sqrt`, `rsqrt`, `** 0.5`, `pow(., 0.5)` (any constant exponent strictly between -1 and
      1, in every framework, torch included) of a sum or mean of squared differences:
      `reduce_sum(square(a - b))`, `((a - b) ** 2).sum()`, `(d * d).sum()`, `d.pow(2).sum()`,
      `einsum("ij,ij->i", d, d)`, `dot(d, d)`, `squared_difference(a, b)`;
    - the same roots of a variance (`reduce_variance`, `var`, `torch.var`, `jnp.var`, the
      variance from `tf.nn.moments` or `torch.var_mean`);
    - the same roots of a pairwise squared distance expanded as `|a|² - 2 a·b + |b|²`, whose
      diagonal is zero (or slightly negative) for a set compared with itself, even after
      `maximum(., 0.)` or `clamp(min=0)`;
    - the same roots of a hand-written magnitude of a complex value, `sqrt(z.real ** 2 +
      z.imag ** 2)` (`torch.real(z)`, `tf.math.imag(z)`): an STFT is exactly 0 on silence or
      padding (torch 2.13.0, `torch.stft` of 1,024 samples of noise then 1,024 zeros: 1,935 of
      4,257 bins exactly 0, and the gradient of the summed magnitude holds NaN; `.abs()` of the
      complex STFT and a clamp below the root give a finite one);
    - the same roots of a variance written as a difference of moments, `mean(x ** 2) -
      mean(x) ** 2`, even with `+ eps`: for a constant feature it rounds below zero in
      float32 (torch 2.13.0, constant `x` of 7 values drawn in [0, 10): negative for 38% of
      them, exactly 0 for 28%), where the root itself is NaN;
    - any of these held in a name (every assignment that reaches the read must give one:
      a name made a difference in one branch and guarded in another is not flagged), in a
      `self` attribute, or returned by a function of the project or a method of `self`
      (`sqrt(squared_gap(a, b))` with `def squared_gap(a, b): return ((a - b) **
      2).sum(-1)`, `sqrt(self.pairwise(x))`), as the semantic model follows them; a
      difference returned by such a function counts too (`tf.norm(offset(a, b))`);
    - a difference given to a function of the project, in this module or another, that
      returns the sum of squares of its parameter (`sqrt(geo.squared_length(a - b))` with
      `def squared_length(v): return jnp.sum(v ** 2, -1)`) or a root of one with nothing
      else under it (`geo.length(x[:, None] - x[None])` with `def length(v): return
      jnp.sqrt(squared_length(v))`, or `jnp.linalg.norm(v)`); the fix belongs in the helper;
    - a root of a sum of squares of anything, or a JAX or Keras L2 norm of any vector, whose
      result is then clamped (`sqrt(sum(x**2)).clamp(min=eps)`, `maximum(norm(x), eps)`,
      `minimum(rsqrt(sum(square(x))), 1 / eps)`, directly or through a name): the clamp says
      a zero vector is expected, and it fixes the value there, not the gradient.

    ## Why is this bad?
    The derivative of `sqrt(s)` is `1 / (2 sqrt(s))`, infinite at `s = 0`; the chain rule
    multiplies it by the zero gradient of the sum of squares and gets `0 * inf = NaN`. One
    NaN gradient poisons every weight at the next optimiser step: the loss becomes NaN or
    the weights collapse, as in the seed, where a discriminative loss compared every cluster
    mean with itself. Measured at `d = p - q` with `p == q`, no warning anywhere:

    - TF 2.21.0: `tf.norm`, `tf.linalg.norm`, `tf.math.reduce_euclidean_norm` and
      `tf.sqrt(tf.reduce_sum(d**2))` give gradient `[nan nan nan]`, as do `tf.math.rsqrt`,
      `tf.pow(., 0.5)`, `squared_difference`, `sqrt(maximum(s, 0.))` and the `sqrt` of the
      variance from `tf.nn.moments` or `reduce_variance` of a constant vector.
    - Keras 3.15.1: `keras.ops.norm` gives `[nan nan nan]`, and so does Keras's own
      `keras.ops.cdist(x, x)` (TF backend), a hand-written `sqrt(sum(diff * diff))`.
    - JAX 0.10.2: `jnp.linalg.norm`, `jnp.sqrt(jnp.sum(d**2))`, `jnp.sqrt(jnp.vdot(d, d))`,
      `jnp.power(s, 0.5)`, `lax.rsqrt` and `jnp.sqrt(jnp.var(.))` give `[nan nan nan]`.
    - torch 2.13.0: `torch.sqrt((d**2).sum())`, `(d**2).sum()**0.5`, `torch.pow(s, 0.5)`,
      `einsum`/`dot` self-products, `sqrt(clamp(s, min=0))` and `torch.sqrt(d.var())` give
      `[nan nan nan]`.

    Behind a clamp, at `x = 0`, `x / maximum(root(sum(x**2)), 1e-8)` has gradient
    `[nan nan nan]` with torch 2.13.0 `sqrt`, `rsqrt` and `** 0.5`, JAX 0.10.2 `sqrt`,
    `rsqrt`, `linalg.norm` and `** 0.5`, TF 2.21.0 `pow(., 0.5)` and
    `reduce_euclidean_norm`, and Keras 3.15.1 `sqrt`, `rsqrt` and `norm` on the JAX backend
    (`keras.ops.normalize` had this bug, keras-team/keras#23075). TF's `sqrt`, `rsqrt` and
    `norm` and torch's built-in norms give a finite gradient there and are not flagged in
    this form.

    The fixes `sqrt(sum(d**2) + 1e-12)` and the double where
    `where(s > 0, sqrt(where(s > 0, s, 1)), 0)` give a gradient of `[0 0 0]` in all three.

    ## Example
    ```python
    mu_diff = tf.subtract(mu_band_rep, mu_interleaved_rep)  # includes mu_i - mu_i
    mu_diff = tf.norm(mu_diff, axis=1)
    rmse = tf.sqrt(tf.reduce_mean(tf.square(y_pred - y_true)))
    ```

    Use instead:
    ```python
    def safe_norm(x, axis=-1, epsilon=1e-7):
        return tf.sqrt(tf.reduce_sum(tf.square(x), axis=axis) + epsilon)

    mu_diff = safe_norm(tf.subtract(mu_band_rep, mu_interleaved_rep), axis=1)
    rmse = tf.sqrt(tf.reduce_mean(tf.square(y_pred - y_true)) + 1e-12)
    ```

    ## Notes
    Not flagged, on purpose:

    - torch's built-in norms (`torch.norm`, `torch.linalg.norm`, `torch.linalg.vector_norm`,
      `Tensor.norm`, `torch.cdist`, `F.pairwise_distance`): their gradient at the zero vector
      is 0 in torch 2.13.0 (checked), so in torch only hand-written roots are flagged.
      `torch.std` is not flagged either (0 gradient at a constant input, torch 2.13.0).
    - NumPy, SciPy and `math` (`np.sqrt`, `np.linalg.norm`, `math.sqrt`): not
      differentiated. Nor is `** 0.5` of a difference whose operands visibly come from NumPy.
    - Guarded forms: an added term under the root that is not itself a square (`s + eps`,
      `s + 1e-8`, `s + K.epsilon()`, `s + mask * 1e-16`), a positive lower bound
      (`maximum(s, eps)`, `clip_by_value(s, eps, ...)`, `clamp(s, min=eps)`,
      `s.clamp_min(eps)`), a `where` under the root (the double-where fix; a root inside a
      `where` branch is left to GL040), helpers such as `safe_norm`, and `norm(d + eps)`.
    - Non-L2 norms (`ord=1`, `ord=np.inf`, an `ord` held in a variable): their gradient at
      0 is `sign(0) = 0` (TF 2.21.0, JAX 0.10.2 checked).
    - Roots and norms of anything that is not a difference, a variance or an expanded
      distance: activations, embeddings, weights and kernels (`tf.norm(self.kernel)`),
      gradients (gradient penalties), cluster means. They reach exactly zero only in
      principle; flagging them would bury the real cases. A difference with a constant
      (`x - 1.0`) and `sqrt(a - b)` itself (`sqrt(1 - alpha_bar)`) are not flagged either.
    - Values that are not differentiated: inside functions or classes named like metrics,
      scores, errors, RMSE or evaluations (`update_state`, `result`, `rmse`, `*_error`;
      a name containing `loss`, `objective`, `criterion` or `penalty` is never exempt, nor
      is one the project trains on: `compile(loss=root_mean_squared_error)`,
      `loss = rmse(p, y)`, `jax.grad(energy_error)`, here or in a module that imports it),
      subclasses of `Metric` and of a weight `Constraint` (applied after the update), tests
      (files `test_*.py` / `*_test.py`, `Test*` classes, `test_*` and `assert*` functions),
      torch code under `no_grad` / `inference_mode` (context or decorator) and torch decompositions (`@register_decomposition`: autograd
      runs above them), the body and condition of a `jax.lax.while_loop` (reverse mode
      cannot run through it), arguments of `stop_gradient` and of `assert*` calls, a root
      followed by `.detach()`, `.item()` or `.numpy()`, a root inside a comparison
      (`norm(x - x_old) < tol`), and a root assigned to a name that is only used inside
      comparisons, or never.
    - A sum of masked terms under the root (`sqrt(sum(where(r < c, t, 0.)))`, `sqrt(sum(t *
      mask))`): exactly 0 only when every term is masked, and often not differentiated at all
      (replay priorities). With `where`, reverse mode even sends the masked terms a zero
      gradient (JAX 0.10.2: `grad` is 0 with every `r` beyond `c`; `jacfwd` gives NaN).
    - A norm helper's own root (`def length(v): return sqrt(sum(v ** 2))`): its parameter
      may be anything; it is checked where a caller gives it a difference.

    A parameter holds what every call of its function in the project gives it (the semantic
    model's callers: this module, the modules that import it, methods called through `self`
    or on an instance): `def pair_energy(dr): r = sqrt(sum(dr ** 2, -1))` is flagged when
    every call passes a difference such as `x[:, None] - x[None]` (a call that leaves it out
    gives its default), and the message names the function; a function that no call reaches
    is not judged this way.

    Known misses: a parameter that some call passes through `*args`,
    a function reached only through another function's parameter (`map_product(metric)`),
    a loop-carried value or a container;
    `tf.math.reduce_std` and
    `jnp.std` (NaN at a constant input in TF 2.21.0 and JAX 0.10.2). Theano is checked with
    the same patterns (`T.sqrt(T.sum(T.sqr(a - b)))`) but was not measured.

    ## References
    - Stack Overflow, "TensorFlow loss function zeroes out after first epoch": `tf.norm` of
      pairwise cluster-mean differences, fixed by `sqrt(sum(square(x)) + epsilon)`.
    - tensorflow/tensorflow#12071, "Numerical instability of gradient calculation of
      tf.norm (nan at 0, inf for small values)", open since TF 1.2.
    - tensorflow/tensorflow#30199: NaN gradients in a triplet loss when a positive equals
      its anchor.
    - pytorch/pytorch#2421: the same NaN in early torch, since fixed in torch's norms.
    - jax-ml/jax#4177: `grad(jnp.linalg.norm)` at zero is NaN, closed as intended.
    """

    code = "GL030"
    severity = Severity.ERROR
    message = "`{root}` of {what} `{arg}`{given}: the gradient is NaN where it is exactly 0; add an epsilon under the root"
    rounding_message = (
        "`{root}` of {what} `{arg}`: for a near-constant feature it rounds below zero in float32, "
        "where the root is NaN even with a small epsilon; use the framework's `var`, or clamp it to a positive floor"
    )
    helper_message = (
        "`{root}` of {what} `{arg}`: it returns a root of a sum of squares with nothing else under it, "
        "whose gradient is NaN where its argument is exactly 0; add an epsilon under the root in the helper"
    )
    frameworks = ("tensorflow", "keras", "jax", "torch", "theano")
    differentiated_code_only = True
    fix_title = "add an epsilon under the root (changes the value by at most 1e-6)"
    fix_safe = False

    def __init__(self, context) -> None:
        super().__init__(context)
        self._quiet_args: set[int] = set()  # Arg nodes whose value is not differentiated
        self._quiet_depth = 0
        # The function whose callers gave a parameter the value that vanishes, while a root is judged.
        self._given_by_callers: cst.FunctionDef | None = None
        self._quiet_nodes: set[int] = set()  # expressions whose result leaves autograd
        # Names bound by the comprehensions around the walk: the walk's scopes do not hold them.
        self._comprehension_names: list[set[str]] = []
        # Per function: findings `name = root(...)` kept until the function's end, to drop
        # those whose name is only compared (`err = norm(x - x_old); if err < tol: ...`).
        self._pending: dict[int, list[tuple[cst.Name, cst.CSTNode, cst.CSTNode, dict, tuple[str, ...]]]] = {}
        # Findings kept until the module's end, with the names of their enclosing functions,
        # to drop those in the body or condition of a `lax.while_loop` (never differentiated).
        self._findings: list[tuple[cst.CSTNode, cst.CSTNode | None, dict, tuple[str, ...]]] = []
        self._loop_functions: set[str] = set()
        # Roots of a sum of squares (of anything) whose result a clamp may fix only in value:
        # id of the root -> its finding; reported at the end when a clamp takes that result.
        self._before_clamp: dict[int, tuple[cst.CSTNode, cst.CSTNode | None, dict, tuple[str, ...]]] = {}
        self._clamped_roots: set[int] = set()

    # What a name holds (the semantic model) -------------------------------------------------


    def _values(self, node: cst.BaseExpression, place: Place) -> list[tuple[cst.BaseExpression, tuple | None, Place]] | None:
        """The values a name or `self` attribute may hold where it is read; None when unknown.
        A comprehension's own variable is unknown where the walk is inside it."""
        if isinstance(node, cst.Name) and any(node.value in names for names in self._comprehension_names):
            if place.scope == self.place().scope:
                return None
        return ModuleModel.assignments(node, place, callers=not self._norm_helper_body(place))

    def _note_callers(self, node: cst.BaseExpression, place: Place, values) -> None:
        """When `values`, which decided a finding, are what the callers give the parameter
        `node`: remember the function, for the message."""
        function = place.scope.functions[0] if place.scope.functions else None
        if (values and isinstance(node, cst.Name) and isinstance(function, cst.FunctionDef)
                and place.argument(node.value) is None and node.value in parameter_names(function)
                and all(at.scope.functions[:1] != (function,) for _, _, at in values)):
            self._given_by_callers = function

    def _norm_helper_body(self, place: Place) -> bool:
        """Whether `place` is in a function that returns the norm of its parameter: it is
        checked where a caller gives it a difference (`_norm_helper`), not through its callers."""
        function = place.scope.functions[0] if place.scope.functions else None
        return isinstance(function, cst.FunctionDef) and place.model.norm_parameter(function.name) is not None

    def _every(self, node: cst.BaseExpression, place: Place, test) -> bool:
        """Whether the name `node` holds only values that pass `test(value, place)`."""
        values = self._values(node, place)
        return bool(values) and all(index is None and test(value, at) for value, index, at in values)

    def _one_value(self, node: cst.BaseExpression | None, place: Place) -> tuple[cst.BaseExpression | None, Place]:
        """The value of a name with one assignment reaching the read, else the node itself."""
        values = self._values(node, place) if node is not None else None
        if values and len(values) == 1 and values[0][1] is None and isinstance(values[0][0], cst.BaseExpression):
            return values[0][0], values[0][2]
        return node, place

    def _comprehension(self, node: cst.BaseComp) -> None:
        names: set[str] = set()
        clause = node.for_in
        while clause is not None:
            names.update(assigned_names(clause.target))
            clause = clause.inner_for_in
        self._comprehension_names.append(names)

    def visit_ListComp(self, node: cst.ListComp) -> None:
        self._comprehension(node)

    def visit_SetComp(self, node: cst.SetComp) -> None:
        self._comprehension(node)

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> None:
        self._comprehension(node)

    def visit_DictComp(self, node: cst.DictComp) -> None:
        self._comprehension(node)

    def leave_ListComp(self, node: cst.ListComp) -> None:
        self._comprehension_names.pop()

    def leave_SetComp(self, node: cst.SetComp) -> None:
        self._comprehension_names.pop()

    def leave_GeneratorExp(self, node: cst.GeneratorExp) -> None:
        self._comprehension_names.pop()

    def leave_DictComp(self, node: cst.DictComp) -> None:
        self._comprehension_names.pop()

    # Regions that are not differentiated ----------------------------------------------------

    def visit_Arg(self, node: cst.Arg) -> None:
        if id(node) in self._quiet_args:
            self._quiet_depth += 1

    def leave_Arg(self, node: cst.Arg) -> None:
        if id(node) in self._quiet_args:
            self._quiet_depth -= 1

    # The roots --------------------------------------------------------------------------------

    def visit_Call(self, node: cst.Call) -> None:
        self._given_by_callers = None
        names = self.qualified_names(node.func)
        if not any(name.startswith(_FRAMEWORKS) for name in names):
            self._norm_helper(node)
        if names:
            self._api_call(node, names)
            return
        method = self.context.names.method(node)
        if method is None:
            if isinstance(node.func, cst.Name) and node.func.value == "pow" and len(node.args) == 2:
                self._power_root(node, node.args[0].value, node.args[1].value, "pow")
            return
        if method in CLAMP_AFTER.methods:
            self._clamp_after(node)
        if method in _LEAVE_AUTOGRAD:
            self._quiet_nodes.add(id(node.func.value))
        elif method.startswith("assert"):
            self._quiet_args.update(id(a) for a in node.args)
        elif method in SQRT.methods and not node.args:
            self._root(node, node.func.value, f".{method}()")
        elif method in POW.methods and len(node.args) == 1:
            self._power_root(node, node.func.value, node.args[0].value, f".{method}")
        elif method in WHERE.methods:
            self._quiet_args.update(id(a) for a in node.args)

    def _api_call(self, node: cst.Call, names: frozenset[str]) -> None:
        if names & CLAMP_AFTER:
            self._clamp_after(node)
        if names & SQRT:
            argument = _first_argument(node)
            if argument is not None:
                self._root(node, argument, NodeCode(node.func))
        elif names & POW:
            if len(node.args) >= 2:
                self._power_root(node, node.args[0].value, node.args[1].value, self.source(node.func))
        elif names & NORM:
            self._norm(node, names)
        elif names & WHERE:
            self._quiet_args.update(id(a) for a in node.args[1:])
        elif names & WHILE_LOOP:
            self._loop_functions.update(a.value.value for a in node.args if isinstance(a.value, cst.Name))
        elif names & STOP_GRADIENT or any(name.rpartition(".")[2].startswith("assert") for name in names):
            self._quiet_args.update(id(a) for a in node.args)

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        self._given_by_callers = None
        if isinstance(node.operator, cst.Power):
            self._power_root(node, node.left, node.right, "** " + self.source(node.right))

    def visit_Comparison(self, node: cst.Comparison) -> None:
        # `norm(x_new - x_old) < tol`: a convergence test, not a differentiated value.
        self._quiet_depth += 1

    def leave_Comparison(self, node: cst.Comparison) -> None:
        self._quiet_depth -= 1

    def _power_root(self, node: cst.CSTNode, base: cst.BaseExpression, exponent: cst.BaseExpression, root: str) -> None:
        power = number(exponent)
        if power is not None and 0 < abs(power) < 1:
            # `** 0.5` and `pow` also serve plain Python numbers: `(dx**2 + dy**2) ** 0.5` of
            # floats has no gradient. Ask for a call (a reduction, a framework op) on the way.
            if isinstance(node, cst.BinaryOperation) or root == "pow":
                if not self._has_call(base, self.place(), 0):
                    return
            self._root(node, base, root)

    def _has_call(self, node: cst.BaseExpression, place: Place, depth: int) -> bool:
        if depth > _MAX_DEPTH:
            return False
        if isinstance(node, cst.Call):
            return True
        if isinstance(node, cst.Name):
            return self._every(node, place, lambda value, at: self._has_call(value, at, depth + 1))
        if isinstance(node, cst.BinaryOperation):
            return self._has_call(node.left, place, depth + 1) or self._has_call(node.right, place, depth + 1)
        if isinstance(node, cst.UnaryOperation):
            return self._has_call(node.expression, place, depth + 1)
        if isinstance(node, cst.Subscript):
            return self._has_call(node.value, place, depth + 1)
        return False

    def _root(self, node: cst.CSTNode, argument: cst.BaseExpression, root: str | NodeCode) -> None:
        if self._quiet_depth or id(node) in self._quiet_nodes:
            return
        here = self.place()
        what = self._vanishes(argument, here, 0)
        if what is not None:
            self._report(node, root, what, argument)
            return
        self._given_by_callers = None  # what a failed search noted does not explain this one
        if self._nan_after_clamp(node) and self._squares(argument, here, 0):
            self._before_clamp_finding(node, root, "a sum of squares", argument)

    # A clamp after the root ----------------------------------------------------------------------

    def _nan_after_clamp(self, node: cst.CSTNode) -> bool:
        """A root whose gradient at 0 is NaN even behind a clamp (`roots_nan_after_clamp`);
        `** 0.5` is one in every framework."""
        if isinstance(node, cst.BinaryOperation):
            return True
        if not isinstance(node, cst.Call):
            return False
        method = self.context.names.method(node)
        return bool(self.qualified_names(node.func) & NAN_AFTER_CLAMP) or (method is not None and method in NAN_AFTER_CLAMP.methods)

    def _squares(self, node: cst.BaseExpression, place: Place, depth: int) -> bool:
        """`node` is a sum (or mean) of squares of anything: zero for a zero vector."""
        if depth > _MAX_DEPTH:
            return False
        if isinstance(node, cst.Name):
            return self._every(node, place, lambda value, at: self._squares(value, at, depth + 1))
        if not isinstance(node, cst.Call):
            return False
        method = place.method(node)
        if method in REDUCE.methods:
            inner = node.func.value
        elif place.qualified_names(node.func) & REDUCE:
            inner = _first_argument(node)
        else:
            return False
        inner, place = self._one_value(inner, place)
        if isinstance(inner, cst.BinaryOperation):
            if isinstance(inner.operator, cst.Power):
                return number(inner.right) == 2
            return isinstance(inner.operator, cst.Multiply) and place.source(inner.left) == place.source(inner.right)
        if isinstance(inner, cst.Call):
            inner_method = place.method(inner)
            if inner_method in SQUARE.methods or place.qualified_names(inner.func) & SQUARE:
                return True
            exponent = positional(inner)[-1:] if inner_method in POW.methods or place.qualified_names(inner.func) & POW else []
            return bool(exponent) and number(exponent[0]) == 2
        return False

    def _before_clamp_finding(self, node: cst.CSTNode, root: str | NodeCode, what: str, argument: cst.BaseExpression) -> None:
        found = self._finding(node, root, f"{what}, clamped only after the root,", argument)
        if found is not None:
            self._before_clamp[id(node)] = found

    def _clamp_after(self, clamp: cst.Call) -> None:
        """Marks the root whose result `clamp` bounds by a constant (`eps`, `1 / epsilon`,
        `K.epsilon()`), directly or through a name; `maximum(d1, d2)` of two norms is no guard."""
        here = self.place()
        method = self.context.names.method(clamp)
        values = [a.value for a in clamp.args if a.keyword is None or a.keyword.value in _CLAMPED_KEYWORDS]
        if method is not None and isinstance(clamp.func, cst.Attribute):
            values.insert(0, clamp.func.value)
        bounds = [a.value for a in clamp.args if a.value not in values]
        if not values:
            return
        clamped, others = values[0], values[1:] + bounds
        if not others or not all(self._constant(other, here, 0) for other in others):
            return
        assigned = self._values(clamped, here) if isinstance(clamped, cst.Name) else None
        self._clamped_roots.update(id(value) for value, _, _ in assigned or [(clamped, None, here)])

    def _constant(self, node: cst.BaseExpression, place: Place, depth: int) -> bool:
        """`node` is a bound, not a computed tensor: numbers, parameters and globals, attributes
        (`self.eps`), `epsilon()` / `finfo(...)`, and arithmetic of those."""
        if depth > _MAX_DEPTH:
            return False
        if number(node) is not None or isinstance(node, cst.Attribute):
            return True
        if isinstance(node, cst.Name):
            if self._values(node, place) is None:
                return True  # a parameter or a global
            return self._every(node, place, lambda value, at: self._constant(value, at, depth + 1))
        if isinstance(node, cst.BinaryOperation):
            return self._constant(node.left, place, depth + 1) and self._constant(node.right, place, depth + 1)
        if isinstance(node, cst.UnaryOperation):
            return self._constant(node.expression, place, depth + 1)
        if isinstance(node, cst.Call):
            func = node.func
            return (func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", None)) in _BOUND_CALLS
        return False

    def _norm(self, node: cst.Call, names: frozenset[str]) -> None:
        if self._quiet_depth or id(node) in self._quiet_nodes:
            return
        argument = _first_argument(node)
        if argument is None or not _is_l2(node, names):
            return
        if self._difference(argument, self.place(), 0):
            self._report(node, NodeCode(node.func), "the difference", argument)
        elif names & NAN_AFTER_CLAMP:
            self._given_by_callers = None
            self._before_clamp_finding(node, NodeCode(node.func), "the vector", argument)

    def _finding(self, node: cst.CSTNode, root: str | NodeCode, what: str, argument: cst.BaseExpression, fix: bool = True):
        """(node, statement, message fields, enclosing function names) of a root to report
        where the walk is; None in code that is not differentiated. A root in a helper gets no
        fix at its call: the epsilon belongs in the helper."""
        if not_differentiated(self.context, node=node):
            return None
        given = self._given_by_callers  # the check just made read a parameter through its callers
        fields = {"root": root, "what": what, "arg": NodeCode(argument, _ARG_CHARS), "fix": None,
                  "given": f" (from every call of `{given.name.value}`)" if given is not None else ""}
        if fix:
            fields["fix"] = _epsilon_fix(node, argument)
        else:
            fields["message"] = self.helper_message
        if what == _ROUNDS_NEGATIVE:  # an epsilon does not help: say so, and offer no fix
            fields.update(message=self.rounding_message, fix=None)
        functions = tuple(s.name.value for s in self.context.scopes if isinstance(s, cst.FunctionDef))
        return node, self.context.current_statement(), fields, functions

    def _report(self, node: cst.CSTNode, root: str | NodeCode, what: str, argument: cst.BaseExpression, fix: bool = True) -> None:
        found = self._finding(node, root, what, argument, fix)
        if found is None:
            return
        _, statement, fields, functions = found
        target = _assigned_name(statement, node)
        if target is None:
            self._findings.append((node, statement, fields, functions))
            return
        function = self.context.enclosing(cst.FunctionDef)
        self._pending.setdefault(id(function) if function is not None else 0, []).append(
            (target, node, statement, fields, functions)
        )

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._flush(self._pending.pop(id(node), None), node.body)

    def leave_Module(self, node: cst.Module) -> None:
        self._flush(self._pending.pop(0, None), node)
        self._findings += [found for key, found in self._before_clamp.items() if key in self._clamped_roots]
        for found, statement, fields, functions in self._findings:
            if not self._loop_functions.intersection(functions):
                self.report(found, statement=statement, **fields)

    def _flush(self, pending: list | None, body: cst.CSTNode) -> None:
        if not pending:
            return
        used = _differentiable_uses(body, {target.value for target, *_ in pending})
        for target, node, statement, fields, functions in pending:
            if used.get(target.value, set()) - {id(target)}:
                self._findings.append((node, statement, fields, functions))

    # What can vanish ----------------------------------------------------------------------------

    def _vanishes(self, node: cst.BaseExpression, place: Place, depth: int) -> str | None:
        """For a quantity under a root: what makes it exactly zero, or None when nothing known
        does. A name vanishes when every value that reaches it does."""
        if depth > _MAX_DEPTH:
            return None
        depth += 1
        if isinstance(node, (cst.Name, cst.Attribute)) and not place.qualified_names(node):
            values = self._values(node, place)
            found = [self._vanishes_bound(value, index, at, depth) for value, index, at in values or ()]
            if not found or None in found:
                return None
            self._note_callers(node, place, values)
            return found[0]
        if isinstance(node, cst.BinaryOperation):
            return self._vanishes_binary(node, place, depth)
        if isinstance(node, cst.Subscript):
            index = _single_index(node)
            if isinstance(node.value, cst.Call) and index is not None:
                variance = self._variance_element(node.value, (index,), place)
                if variance is not None:
                    return variance
            return self._vanishes(node.value, place, depth)
        if not isinstance(node, cst.Call):
            return None
        returned = ModuleModel.returns(node, place) if not place.qualified_names(node.func) else None
        if returned:  # `sqrt(sq_dist(a, b))`, `sqrt(self.pairwise(x))`: what the project's helper returns
            found = [self._vanishes(value, at, depth) for value, at in returned]
            if None not in found:
                return found[0]
        squared = self._summarised_argument(node, place, self.context.semantic.squares_parameter)
        if squared is not None:  # `sqrt(geometry.squared_length(a - b))`, the helper anywhere in the project
            return "a squared difference" if self._difference(squared, place, depth) else None
        names = place.qualified_names(node.func)
        if names:
            return self._vanishes_api(node, names, place, depth)
        method = place.method(node)
        if method is None:
            return None
        receiver = node.func.value
        if method in REDUCE.methods or method in TRANSPARENT.methods:
            return self._vanishes(receiver, place, depth)
        if method in SQUARE.methods:
            return "a squared difference" if self._difference(receiver, place, depth) else None
        if method in POW.methods:
            args = positional(node)
            if len(args) == 1 and number(args[0]) == 2 and self._difference(receiver, place, depth):
                return "a squared difference"
            return None
        if method in VARIANCE.methods:
            return "the variance"
        if method in SELF_PRODUCT.methods:
            args = positional(node)
            if len(args) == 1 and self._same_difference(receiver, args[0], place, depth):
                return "a squared difference"
            return None
        if method in CLAMP.methods:
            if _lower_bound_is_positive(node, method):
                return None
            return _clamped_at_zero(self._vanishes(receiver, place, depth))
        return None

    def _vanishes_bound(self, value: cst.CSTNode, index: tuple | None, place: Place, depth: int) -> str | None:
        """What makes one value assigned to a name vanish (`index`: the element unpacked from it)."""
        if index is None:
            return self._vanishes(value, place, depth) if isinstance(value, cst.BaseExpression) else None
        return self._variance_element(value, index, place) if isinstance(value, cst.Call) else None

    def _variance_element(self, call: cst.Call, index: tuple, place: Place) -> str | None:
        """The variance taken from `tf.nn.moments(x)` (element 1) or `torch.var_mean(x)` (element 0)."""
        names = place.qualified_names(call.func)
        if (index == (1,) and names & MOMENTS) or (index == (0,) and names & VAR_FIRST):
            return "the variance"
        return None

    def _vanishes_api(self, node: cst.Call, names: frozenset[str], place: Place, depth: int) -> str | None:
        first = _first_argument(node)
        if names & REDUCE or names & TRANSPARENT:
            return None if first is None else self._vanishes(first, place, depth)
        if names & SQUARE:
            return "a squared difference" if self._difference(first, place, depth) else None
        if names & SQUARED_DIFFERENCE:
            args = positional(node)
            if len(args) == 2 and number(args[0]) is None and number(args[1]) is None:
                return "a squared difference"
            return None
        if names & POW:
            args = positional(node)
            if len(args) == 2 and number(args[1]) == 2 and self._difference(args[0], place, depth):
                return "a squared difference"
            return None
        if names & VARIANCE:
            return "the variance"
        if names & SELF_PRODUCT:
            args = positional(node)
            if len(args) == 2 and self._same_difference(args[0], args[1], place, depth):
                return "a squared difference"
            return None
        if names & EINSUM:
            operands = positional(node)[1:]
            if len(operands) == 2 and self._same_difference(operands[0], operands[1], place, depth):
                return "a squared difference"
            return None
        if names & CLAMP:
            value, bounded = self._clamped(node, names)
            return None if bounded or value is None else _clamped_at_zero(self._vanishes(value, place, depth))
        return None

    def _difference_of_moments(self, terms: list[tuple[bool, cst.BaseExpression]], place: Place) -> bool:
        """`mean(x ** 2) - mean(x) ** 2`, perhaps plus constants: two moments of the same `x`."""
        positive = [term for negative, term in terms if not negative and number(term) is None]
        negative = [term for is_negative, term in terms if is_negative]
        if len(positive) != 1 or len(negative) != 1:
            return False
        squared = self._square_of(*self._mean_of(positive[0], place))
        mean = self._mean_of(*self._square_of(negative[0], place))
        return squared[0] is not None and mean[0] is not None and place.source(squared[0]) == place.source(mean[0])

    def _mean_of(self, node: cst.BaseExpression | None, place: Place) -> tuple[cst.BaseExpression | None, Place]:
        """`x` of `torch.mean(x)`, `x.mean(0)`, `jnp.mean(x, axis=0)`."""
        node, place = self._one_value(node, place)
        if not isinstance(node, cst.Call):
            return None, place
        if place.qualified_names(node.func) & MEAN:
            return _first_argument(node), place
        return (node.func.value if place.method(node) in MEAN.methods else None), place

    def _square_of(self, node: cst.BaseExpression | None, place: Place) -> tuple[cst.BaseExpression | None, Place]:
        """`x` of `x ** 2`, `x * x`, `torch.square(x)`, `x.square()`, `x.pow(2)`."""
        node, place = self._one_value(node, place)
        if isinstance(node, cst.BinaryOperation):
            if isinstance(node.operator, cst.Power) and number(node.right) == 2:
                return node.left, place
            if isinstance(node.operator, cst.Multiply) and place.source(node.left) == place.source(node.right):
                return node.left, place
            return None, place
        if not isinstance(node, cst.Call):
            return None, place
        if place.qualified_names(node.func) & SQUARE:
            return _first_argument(node), place
        method = place.method(node)
        if method in SQUARE.methods or (method in POW.methods and [number(a) for a in positional(node)] == [2]):
            return node.func.value, place
        return None, place

    def _summarised_argument(self, call: cst.Call, place: Place, summary) -> cst.BaseExpression | None:
        """The argument `call` passes at the parameter a project function's summary names
        (`squares_parameter`, `norm_parameter` of the semantic model); None for a local name."""
        func = call.func
        if place.model is not self.context.semantic or not isinstance(func, (cst.Name, cst.Attribute)):
            return None
        held = ModuleModel.assignments(func, place) if isinstance(func, cst.Name) else None
        if held and not all(isinstance(value, cst.FunctionDef) for value, _, _ in held):
            return None  # a local name
        position = summary(func)
        return None if position is None else argument(call, position[1], position[0])

    def _norm_helper(self, node: cst.Call) -> None:
        """`distance(a - b)` where the project's `distance` returns `sqrt(sum(d ** 2))` of its
        parameter: the same root as `jnp.linalg.norm(a - b)`, written in a helper."""
        if self._quiet_depth or id(node) in self._quiet_nodes:
            return
        here = self.place()
        argument_value = self._summarised_argument(node, here, self.context.semantic.norm_parameter)
        if argument_value is not None and self._difference(argument_value, here, 0):
            self._report(node, NodeCode(node.func), "the difference", argument_value, fix=False)

    def _vanishes_binary(self, node: cst.BinaryOperation, place: Place, depth: int) -> str | None:
        op = node.operator
        if isinstance(op, cst.Power):
            if number(node.right) == 2 and self._difference(node.left, place, depth):
                return "a squared difference"
            return None
        if isinstance(op, (cst.Multiply, cst.MatrixMultiply)):
            if self._same_difference(node.left, node.right, place, depth):
                return "a squared difference"
            if isinstance(op, cst.MatrixMultiply):
                return None
            # `0.5 * s`, `s * mask`: a product with a vanishing factor vanishes.
            return self._vanishes(node.left, place, depth) or self._vanishes(node.right, place, depth)
        if isinstance(op, cst.Divide):
            return self._vanishes(node.left, place, depth)
        if isinstance(op, (cst.Add, cst.Subtract)):
            terms = _additive_terms(node)
            if self._difference_of_moments(terms, place):
                return _ROUNDS_NEGATIVE
            if any(negative for negative, _ in terms):
                return "a pairwise squared distance" if self._expanded_distance(terms, place, depth) else None
            if self._complex_magnitude(terms, place):
                return "the squared magnitude of a complex value"
            found, guarded = None, False
            for _, term in terms:  # every term must vanish: `s + eps` is guarded
                what = self._vanishes(term, place, depth)
                if what is None and number(term) is not None:
                    guarded = True
                elif what is None:
                    return None
                found = found or what
            # A small constant does not lift a value that rounds below zero.
            return found if not guarded or found == _ROUNDS_NEGATIVE else None
        return None

    def _complex_magnitude(self, terms: list[tuple[bool, cst.BaseExpression]], place: Place) -> bool:
        """`z.real ** 2 + z.imag ** 2` (`torch.real(z)`, `tf.math.imag(z)`): zero where `z` is, as an
        STFT is on silence or padding."""
        if len(terms) != 2:
            return False
        parts = {}
        for _, term in terms:
            base, at = self._square_of(term, place)
            part = self._complex_part(base, at) if base is not None else None
            if part is None:
                return False
            parts[part[0]] = at.source(part[1])
        return set(parts) == {"real", "imag"} and parts["real"] == parts["imag"]

    def _complex_part(self, node: cst.BaseExpression, place: Place) -> tuple[str, cst.BaseExpression] | None:
        """("real" or "imag", the complex value) for `z.real`, `torch.imag(z)`."""
        node, place = self._one_value(node, place)
        if isinstance(node, cst.Attribute) and node.attr.value in ("real", "imag") and not place.qualified_names(node):
            return node.attr.value, node.value
        if isinstance(node, cst.Call):
            names = place.qualified_names(node.func) & COMPLEX_PART
            for part in ("real", "imag"):
                if names & frozenset(COMPLEX_PART.info[part]) and _first_argument(node) is not None:
                    return part, _first_argument(node)
        return None

    def _expanded_distance(self, terms: list[tuple[bool, cst.BaseExpression]], place: Place, depth: int) -> bool:
        """`|a|^2 - 2 a.b + |b|^2`: one cross term `2 * product` taken away, the other terms added."""
        cross = [term for negative, term in terms if negative]
        return len(terms) >= 3 and len(cross) == 1 and self._cross_term(cross[0], place, depth)

    def _cross_term(self, node: cst.BaseExpression, place: Place, depth: int) -> bool:
        """`2 * a @ b.T`, `2.0 * dot` (dot = matmul(a, b)), `2 * einsum(...)`."""
        if depth > _MAX_DEPTH or not isinstance(node, cst.BinaryOperation):
            return False
        if isinstance(node.operator, cst.MatrixMultiply):  # `2 * x @ y.T` is `(2 * x) @ y.T`
            left = node.left
            return isinstance(left, cst.BinaryOperation) and isinstance(left.operator, cst.Multiply) and (
                number(left.left) == 2 or number(left.right) == 2
            )
        if not isinstance(node.operator, cst.Multiply):
            return False
        if number(node.left) == 2:
            other = node.right
        elif number(node.right) == 2:
            other = node.left
        else:
            return False
        return self._product(other, place, depth + 1)

    def _product(self, node: cst.BaseExpression, place: Place, depth: int) -> bool:
        """A matrix or dot product: `a @ b.T`, `matmul(a, b)`, `einsum(...)`, or a name holding one."""
        if depth > _MAX_DEPTH:
            return False
        if isinstance(node, cst.Name):
            return self._every(node, place, lambda value, at: self._product(value, at, depth + 1))
        if isinstance(node, cst.BinaryOperation):
            return isinstance(node.operator, cst.MatrixMultiply)
        if isinstance(node, cst.Call):
            names = place.qualified_names(node.func)
            return bool(names & SELF_PRODUCT or names & EINSUM) or place.method(node) in SELF_PRODUCT.methods
        return False

    def _clamped(self, node: cst.Call, names: frozenset[str]) -> tuple[cst.BaseExpression | None, bool]:
        """(the clamped value, whether a positive lower bound guards it)."""
        args = positional(node)
        keywords = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
        if names & _MAXIMUM:
            if len(args) != 2:
                return None, True
            if _is_zero(args[1]):
                return args[0], False
            if _is_zero(args[0]):
                return args[1], False
            return None, True
        if names & _RELU:
            return (args[0] if args else None), False
        value = args[0] if args else keywords.get("t") or keywords.get("input") or keywords.get("x") or keywords.get("a")
        lower = args[1] if len(args) > 1 else None
        for key in ("min", "clip_value_min", "a_min", "x_min", "min_value"):
            if key in keywords:
                lower = keywords[key]
        if lower is None or _is_zero(lower):
            return value, False
        return value, True

    def _difference(self, node: cst.BaseExpression | None, place: Place, depth: int) -> bool:
        """Whether `node` is a difference of two non-constant values (zero when they coincide)."""
        if node is None or depth > _MAX_DEPTH:
            return False
        depth += 1
        if isinstance(node, (cst.Name, cst.Attribute)) and not place.qualified_names(node):
            values = self._values(node, place)
            if not values or not all(index is None and self._difference(value, at, depth) for value, index, at in values):
                return False
            self._note_callers(node, place, values)
            return True
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
            return self._difference(node.expression, place, depth)
        if isinstance(node, cst.BinaryOperation):
            if isinstance(node.operator, cst.Subtract):
                return self._operands(node.left, node.right, place, depth)
            return False
        if isinstance(node, cst.Subscript):
            return self._difference(node.value, place, depth)
        if not isinstance(node, cst.Call):
            return False
        names = place.qualified_names(node.func)
        if names:
            if names & SUBTRACT:
                args = positional(node)
                return len(args) == 2 and self._operands(args[0], args[1], place, depth)
            if names & TRANSPARENT:
                return self._difference(_first_argument(node), place, depth)
            return False
        returned = ModuleModel.returns(node, place)
        if returned:  # `tf.norm(offset(a, b))`: every `return` of the project's helper is a difference
            return all(self._difference(value, at, depth) for value, at in returned)
        method = place.method(node)
        if method in SUBTRACT.methods:
            args = positional(node)
            return len(args) == 1 and self._operands(node.func.value, args[0], place, depth)
        if method in TRANSPARENT.methods:
            return self._difference(node.func.value, place, depth)
        return False

    def _operands(self, left: cst.BaseExpression, right: cst.BaseExpression, place: Place, depth: int) -> bool:
        """Both sides of a difference vary: not a constant, not a NumPy value."""
        if number(left) is not None or number(right) is not None:
            return False
        return not (self._numeric(left, place, depth) or self._numeric(right, place, depth))

    def _numeric(self, node: cst.BaseExpression, place: Place, depth: int) -> bool:
        """Whether a value comes from NumPy, SciPy or `math` (never differentiated)."""
        for _ in range(_MAX_DEPTH - depth + 1):
            if isinstance(node, cst.Name):
                values = self._values(node, place)
                if not values:
                    return False
                return all(index is None and isinstance(value, cst.BaseExpression) and self._numeric(value, at, depth + 1)
                           for value, index, at in values)
            elif isinstance(node, cst.Subscript):
                node = node.value
            elif isinstance(node, cst.Attribute) and not place.qualified_names(node):
                node = node.value
            elif isinstance(node, (cst.Call, cst.Attribute)):
                func = node.func if isinstance(node, cst.Call) else node
                names = place.qualified_names(func)
                if names:
                    return any(name.startswith(_NUMERIC_MODULES) for name in names)
                if isinstance(node, cst.Call) and isinstance(func, cst.Attribute):
                    node = func.value  # `np.arange(3).reshape(...)`
                else:
                    return False
            elif isinstance(node, cst.BinaryOperation):
                return self._numeric(node.left, place, depth + 1) or self._numeric(node.right, place, depth + 1)
            else:
                return False
        return False

    def _same_difference(self, left: cst.BaseExpression, right: cst.BaseExpression, place: Place, depth: int) -> bool:
        """`d * d`, `dot(d, d)`, `d @ d.T`: the same difference twice."""
        left, right = _untransposed(left), _untransposed(right)
        if place.source(bare(left)) != place.source(bare(right)):
            return False
        return self._difference(left, place, depth)


# Small syntax helpers -------------------------------------------------------------------------


def _epsilon_fix(node: cst.CSTNode, argument: cst.BaseExpression) -> Fix:
    """`sqrt(s)` -> `sqrt(s + 1e-12)`, `s ** 0.5` -> `(s + 1e-12) ** 0.5`, `d.norm()` ->
    `(d + 1e-12).norm()`: unsafe, the value moves by up to sqrt(1e-12) = 1e-6."""
    inner = argument
    if isinstance(inner, _LOOSER_THAN_ADD):
        inner = inner.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    guarded: cst.BaseExpression = cst.BinaryOperation(
        inner.with_changes(lpar=(), rpar=()) if _bare_in_sum(inner) else inner,
        cst.Add(whitespace_before=cst.SimpleWhitespace(" "), whitespace_after=cst.SimpleWhitespace(" ")),
        cst.Float(EPSILON),
    )
    in_call = isinstance(node, cst.Call) and any(arg.value is argument for arg in node.args)
    if not in_call or argument.lpar:
        guarded = guarded.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return Fix(argument, guarded)


def _bare_in_sum(node: cst.BaseExpression) -> bool:
    """Whether the parentheses around `node` can go once it is the left operand of `+`."""
    return bool(getattr(node, "lpar", None)) and not isinstance(node, _LOOSER_THAN_ADD)


def _assigned_name(statement: cst.CSTNode | None, node: cst.CSTNode) -> cst.Name | None:
    """`name = node` as a whole statement: the target, else None."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    assign = statement.body[0]
    if isinstance(assign, cst.Assign) and assign.value is node and len(assign.targets) == 1:
        target = assign.targets[0].target
        return target if isinstance(target, cst.Name) else None
    return None


def _differentiable_uses(body: cst.CSTNode, names: set[str]) -> dict[str, set[int]]:
    """Ids of the Name nodes of `names` under `body`, except those inside comparisons."""
    found: dict[str, set[int]] = {}
    stack = [body]
    while stack:
        current = stack.pop()
        kind = type(current)  # node classes are final: cheaper than isinstance's ABCMeta check
        if kind is cst.Name:
            if current.value in names:
                found.setdefault(current.value, set()).add(id(current))
            continue
        if kind is cst.Comparison:
            continue  # a boolean: nothing in it is differentiated
        if kind is cst.Attribute or kind is cst.Arg:
            stack.append(current.value)
            continue
        stack.extend(iter_children(current))
    return found


def _first_argument(node: cst.Call) -> cst.BaseExpression | None:
    for arg in node.args:
        if arg.star:
            return None
        if arg.keyword is None or arg.keyword.value in ("x", "input", "input_tensor", "tensor", "a"):
            return arg.value
    return None


def _clamped_at_zero(what: str | None) -> str | None:
    """What a clamp with no positive floor leaves: a value that rounded below zero is now 0."""
    return f"{what}, clamped at 0" if what == _ROUNDS_NEGATIVE else what


def _single_index(node: cst.Subscript) -> int | None:
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return None
    value = number(node.slice[0].slice.value)
    return int(value) if value is not None and value == int(value) else None


def _untransposed(node: cst.BaseExpression) -> cst.BaseExpression:
    """`d.T`, `d.t()`, `d.transpose()` -> `d`."""
    if isinstance(node, cst.Attribute) and node.attr.value in ("T", "mT"):
        return node.value
    if (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value in ("t", "transpose")
        and not node.args
    ):
        return node.func.value
    return node


def _additive_terms(node: cst.BaseExpression, negative: bool = False) -> list[tuple[bool, cst.BaseExpression]]:
    """`a - 2 * b + (c + d)` -> [(False, a), (True, 2 * b), (False, c), (False, d)]."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Add, cst.Subtract)):
        right_negative = negative != isinstance(node.operator, cst.Subtract)
        return _additive_terms(node.left, negative) + _additive_terms(node.right, right_negative)
    return [(negative, node)]


def _is_zero(node: cst.BaseExpression) -> bool:
    return number(node) == 0


def _lower_bound_is_positive(node: cst.Call, method: str) -> bool:
    """For `s.clamp(min=eps)`, `s.clamp_min(eps)`, `s.clip(eps, ...)`: a nonzero lower bound."""
    if method == "relu":
        return False
    args = positional(node)
    keywords = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
    lower = args[0] if args else None
    for key in ("min", "a_min", "min_value"):
        if key in keywords:
            lower = keywords[key]
    return lower is not None and not _is_zero(lower)


def _is_l2(node: cst.Call, names: frozenset[str]) -> bool:
    ord_value: cst.BaseExpression | None = None
    for arg in node.args:
        if arg.keyword is not None and arg.keyword.value == "ord":
            ord_value = arg.value
    if ord_value is None and names & _ORD_SECOND:
        args = positional(node)
        if len(args) >= 2:
            ord_value = args[1]
    if ord_value is None:
        return True
    if isinstance(ord_value, cst.Name) and ord_value.value == "None":
        return True
    if isinstance(ord_value, cst.SimpleString):
        return ord_value.evaluated_value in _L2_ORDS
    return number(ord_value) == 2

from __future__ import annotations

import operator
import re

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.gradients import STOP_GRADIENT, not_differentiated
from gradlint.engine.names import dotted
from gradlint.engine.syntax import argument, bare, number, positional
from gradlint.engine.walker import iter_children
from gradlint.rule import Fix, Rule, Severity
from gradlint.semantic.model import ModuleModel, Place

WHERE = api_table("where_select")
MASKED_REDUCTION = api_table("where_masked_reduction")
FIXABLE_WHERE = api_table("where_fixable")
LOG = api_table("where_log")
LOG1P = api_table("where_log1p")
ROOT = api_table("where_root")
RECIPROCAL = api_table("where_reciprocal")
TF_ZERO_GRAD = api_table("where_tf_zero_grad")  # documentation: never flagged
DIVIDE = api_table("where_divide")
POW = api_table("where_pow")
ARC = api_table("where_arc")
OVERFLOW = api_table("where_overflow")
COMPARE = api_table("where_compare")
LOGICAL_AND = api_table("where_logical_and")
LOGICAL_OR = api_table("where_logical_or")
LOGICAL_NOT = api_table("where_logical_not")
ABS = api_table("where_abs")
SQUARE = api_table("where_square")
CLAMP = api_table("where_clamp")
REWRITTEN_SWITCH = api_table("where_rewritten_switch")  # raw PyTensor / PyMC spellings: never flagged

# The (condition, selected-where-true, selected-where-false) parameters of each `where`.
_PARAMETERS = {
    "torch.where": ("condition", "input", "other"),
    "keras.ops.where": ("condition", "x1", "x2"),
    "keras.backend.switch": ("condition", "then_expression", "else_expression"),
    "jax.lax.select": ("pred", "on_true", "on_false"),
    "theano.tensor.switch": ("cond", "ift", "iff"),
}
_DEFAULT_PARAMETERS = ("condition", "x", "y")

_OPERATORS = {
    cst.LessThan: "<", cst.GreaterThan: ">", cst.LessThanEqual: "<=", cst.GreaterThanEqual: ">=",
    cst.Equal: "==", cst.NotEqual: "!=",
}
_SUFFIX = {
    "greater": ">", "gt": ">", "less": "<", "lt": "<", "greater_equal": ">=", "ge": ">=",
    "less_equal": "<=", "le": "<=", "equal": "==", "eq": "==", "not_equal": "!=", "ne": "!=", "neq": "!=",
}
_EVALUATE = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}
_MIRROR = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!="}

# Per kind of unsafe op: the points tested against the condition, the points where its
# domain ends (a condition whose threshold is one of them was written to exclude it), and
# what the op does there.
_POINTS = {
    "log": ((0.0,), (0.0,), "is -inf where `{u}` = 0"),
    "log1p": ((-1.0,), (-1.0,), "is -inf where `{u}` = -1"),
    "div": ((0.0,), (0.0,), "is inf where `{u}` = 0"),
    "root": ((0.0, -1.0), (0.0,), "has an infinite slope where `{u}` = 0 and is NaN below"),
    "arc": ((1.0, -1.0), (1.0, -1.0), "has an infinite slope where `{u}` = ±1 and is NaN beyond"),
    # No single point ends the domain: any threshold that keeps large inputs out was written for
    # the overflow (`None`: every boundary counts).
    "overflow": ((1000.0, -1000.0), None, "overflows to inf where `{u}` is large"),
}
_UNSAFE_TABLES = ((LOG, "log"), (LOG1P, "log1p"), (ROOT, "root"), (RECIPROCAL, "div"), (ARC, "arc"), (OVERFLOW, "overflow"))
_EPS_NAME = re.compile(r"(^|_)(eps|epsilon|tiny|tol)(\d*|_.*)$|^eps", re.I)
_TINY = 1e-7
_CLOSE = 1e-3
_MAX_DEPTH = 4
# For the fix: a value of the op's input at which the op is finite and smooth.
_SAFE_VALUE = {"log": "1.0", "log1p": "0.0", "div": "1.0", "root": "1.0", "arc": "0.0", "overflow": "0.0"}
_CHARS = 40
_LEAVE_AUTOGRAD = frozenset({"detach", "numpy", "item", "tolist"})


class WhereUnsafeBranch(Rule):
    """
    ## What it does
    Checks for an elementwise `where` (`tf.where`, `tf.experimental.numpy.where`,
    `torch.where`, `Tensor.where`, `jnp.where`, `jax.lax.select`, `keras.ops.where`,
    `keras.backend.switch`, Theano/Aesara `T.switch`) whose branch applies a log, a
    division, a square root, a negative or fractional power, `log1p` or `arcsin` /
    `arccos` / `arctanh` to the very input the condition tests, at the point the condition
    was written to exclude: `where(x > 0, log(x), 0)`, `where(x != 0, 1 / x, 0)`,
    `where(abs(x) < eps, 1, sin(x) / x)`, the bump `where(x**2 < 1, exp(-1 / (1 - x**2)), 0)`.
    A branch computed earlier (`inv = 1 / x`, then `where(x != 0, inv, 0)`; also held in a
    `self` attribute) counts too, and so does a branch computed by a function of the project,
    in this module or another, or a method of `self` (`where(c, self.bump(x), 0)`, reported as
    a warning), its parameters read as the call's arguments (the semantic model's
    `returns`). An exponential (`exp`, `expm1`,
    `cosh`, `sinh`) in the branch the condition leaves out for large inputs overflows there:
    `where(x > 20, x, log1p(exp(x)))`, a hand-written ELU `where(x > 0, x, exp(x) - 1)`
    (a warning: it needs an input above about 88 in float32, 11 in float16), also when the
    threshold is held in a name or a parameter (`x > threshold`: whatever finite value it
    holds, the large inputs are on the same side); an input clamped
    from above first (`exp(minimum(x, 0))`, `clamp(max=...)`, an inner where) is safe. A JAX
    reduction with a mask, `jnp.sum(jnp.log(x), where=x > 0)`, is a where whose left-out branch
    is the masked entries: measured NaN at 0 in JAX 0.10.2.

    ## Why is this bad?
    `where` computes both branches everywhere and only then picks one. Its gradient sends 0
    to the branch it did not pick, and the chain rule multiplies that 0 by the derivative of
    the branch: where the branch is infinite (`log` at 0, `1/x` at 0, `sqrt` at 0), that is
    `0 * inf = NaN`, and the NaN reaches `x` and every weight before it. The forward value
    is perfect, so nothing shows until the weights turn NaN. Measured at
    `x = [0, -1, 2]`, no warning anywhere:

    - `where(x != 0, 1/x, 0)` gives gradient `[nan, -1, -0.25]` and `where(x > 0, log x, 0)`
      gives `[nan, 0, 0.5]` in TF 2.21.0, torch 2.13.0 and JAX 0.10.2 alike; so do
      `tf.math.divide`, `x ** -1`, `torch.div`, `torch.reciprocal`, `jnp.reciprocal`,
      `jax.lax.select`, `tf.experimental.numpy.where`, and `keras.ops.log` and
      `keras.ops.divide` in Keras 3.15.1.
    - the bump `where(x**2 < 1, exp(-1/(1 - x**2)), 0)` at `x = [0, .5, 1, 1.001, 3]` gives
      `[0, -0.469, nan, nan, 0]` in all three.
    - `where(x > 0, sqrt x, 0)` gives `[nan, nan, 0.354]` in torch and JAX, and TF's
      `where(x > 0, x ** 0.5, 0)` and `tf.pow(x, 0.5)` do the same.
    - `log1p` at -1 and `arcsin` at ±1 give NaN in all three (same versions).

    The fix is the double where: make the input safe where it is not selected, so that
    both branches stay finite, `where(c, log(where(c, x, 1.)), 0.)`. It gives a finite
    gradient everywhere (0 at the masked entries) with identical forward values. TF also has
    `tf.math.divide_no_nan` and `tf.math.xlogy`, torch `torch.xlogy`, JAX
    `jax.scipy.special.xlogy`; `xlogy(x, y)` is safe only in `x`: with respect to `y` its
    gradient is x/y, NaN at x = y = 0 (`torch.xlogy(p, p)` at p = 0, torch 2.13).
    `torch.nan_to_num` on the result is no fix: the NaN is in the gradient, not the value.

    ## Example
    ```python
    def call(self, inputs):
        condition = tf.math.less(tf.math.square(inputs), 1.0)
        return tf.where(condition, tf.math.exp(-1.0 / (1.0 - tf.math.square(inputs))), 0.0)
    ```

    Use instead:
    ```python
    def call(self, inputs):
        condition = tf.math.less(tf.math.square(inputs), 1.0)
        safe = tf.where(condition, inputs, 0.0)
        return tf.where(condition, tf.math.exp(-1.0 / (1.0 - tf.math.square(safe))), 0.0)
    ```

    ## Notes
    The finding sits on the unsafe operation when it is written inside the `where` call,
    else on the branch argument that carries it (the local name or the helper call).

    Not flagged, on purpose:

    - `tf.sqrt`, `tf.math.rsqrt` and `tf.math.reciprocal` (and Keras 3's `sqrt` and
      `reciprocal` on the TF backend): inside `tf.where` their gradient at the masked
      entries is 0, not NaN, in TF 2.21.0 (their gradient kernels return 0 for a 0 upstream
      gradient); the same maths spelled `1/x`, `x ** 0.5` or `tf.pow(x, 0.5)` is flagged.
    - the double where, and any input kept in the domain first: a name assigned from a
      `where`, a clamp with a positive lower bound (`maximum(x, eps)`, `clamp(x, min=1e-6)`),
      an added epsilon or positive constant (`log(x + eps)`, `1 / (x + 1e-8)`, `log(1 + x)`).
    - PyTensor's `pt.switch` and PyMC's `pm.math.switch`: PyTensor's graph rewrites
      (`local_mul_switch_sink`, `local_div_switch_sink`) move the switch below the
      multiplications and divisions of the gradient, so the masked entries get 0. Measured in
      PyTensor 2.38.3 (PyMC 5.28.5) at `x = [0, -1, 2]`: `switch(x > 0, log(x), 0)` gives
      `[0, 0, 0.5]`, `1/x` `[0, 0, -0.25]`, `sqrt(x)` `[0, 0, 0.354]`, and the bump, `log1p`,
      `arcsin`, `arccos` and `arctanh` stay finite at their singular points too, in the
      default, `FAST_COMPILE`, `NUMBA` and `JAX` modes; only a mode without rewrites
      (`Mode(optimizer=None)`) gives `nan`. Theano and Aesara carry the same rewrites in their
      source but were not measured: their `T.switch` stays a warning.
    - `divide_no_nan`, `xlogy`, `xlog1py` (safe by construction).
    - a condition that does not test the op's input (`where(labels > 0, log(p), 0)`), or
      tests it against an unrelated threshold (`where(x > 1, log(x), x - 1)`): the masked
      region need not reach the singular point.
    - NumPy `np.where` (NumPy is not differentiated), a `where` under `stop_gradient`
      or followed by `.detach()`, and code that is not differentiated: tests, metrics,
      `no_grad` / `inference_mode` blocks.

    Measured for the overflow: `where(x > 20, x, log1p(exp(x)))` at `x = 100` gives gradient
    NaN in torch 2.13.0, JAX 0.10.2 and TF 2.21.0.

    Known misses: `lgamma` and `digamma` at non-positive integers, `sin(x)/x` spelled through `torch.sinc`
    (safe anyway), a masked input stored in one method and tested in another (values are
    compared by their code within one function), a loop-carried value, and a condition built
    by another function.

    ## Severity
    Error when the condition's boundary is the op's singular point (`x > 0`, `x != 0`, `x > eps`,
    `abs(x) < 1e-6`, `x**2 < 1` against `1 - x**2`, `x > y` against `x - y`) and the NaN was
    measured for that framework and spelling; warning when the branch comes from a helper
    function, for Theano and for `keras.ops.sqrt` / `reciprocal` (0 under the TF backend, NaN
    under torch and JAX), and when the condition only compares the same variables as a
    difference in a denominator or under a log or a root (`(x > -s) & (x < s)` against
    `s - x**2`).

    ## References
    - Stack Overflow, "Implementing a trainable generalized Bump function layer in
      Keras/Tensorflow": the bump inside `tf.where` turns `sigma` into NaN; fixed by the
      inner `tf.where(condition, inputs, 0.0)`.
    - JAX FAQ, "Gradients contain NaN where using where": the double-where trick.
    """

    code = "GL040"
    severity = Severity.ERROR
    other_severities = (Severity.WARNING,)  # see ## Severity
    message = (
        "{op} in the branch `{where}` does not select {what}; its NaN gradient passes the mask: "
        "add an inner where"
    )
    fix_title = "sanitise the input with an inner where: `where(c, log(where(c, x, 1.0)), y)`"
    frameworks = ("tensorflow", "keras", "jax", "torch", "theano")
    differentiated_code_only = True

    def __init__(self, context) -> None:
        super().__init__(context)
        self._quiet_args: set[int] = set()
        self._quiet_nodes: set[int] = set()
        self._quiet_depth = 0

    # Regions no gradient reaches ---------------------------------------------------------

    def visit_Arg(self, node: cst.Arg) -> None:
        if id(node) in self._quiet_args:
            self._quiet_depth += 1

    def leave_Arg(self, node: cst.Arg) -> None:
        if id(node) in self._quiet_args:
            self._quiet_depth -= 1

    # The where calls ---------------------------------------------------------------------

    def visit_Call(self, node: cst.Call) -> None:
        names = self.qualified_names(node.func)
        if names:
            if names & STOP_GRADIENT:
                self._quiet_args.update(id(a) for a in node.args)
                return
            where = next((n for n in names if n in WHERE), None)
            mask = argument(node, "where") if names & MASKED_REDUCTION else None
            if mask is not None:  # `jnp.sum(log(x), where=x > 0)`: the masked entries are the branch left out
                condition, branches, framework = mask, (argument(node, "a", 0), cst.Integer("0")), "jax"
            elif where is None:
                return
            elif any(raw in REWRITTEN_SWITCH for raw in self.context.names.raw_names(node.func)):
                return  # PyTensor's rewrites keep the masked gradient at 0 (measured)
            else:
                params = _PARAMETERS.get(where, _DEFAULT_PARAMETERS)
                condition = argument(node, params[0], 0)
                branches = (argument(node, params[1], 1), argument(node, params[2], 2))
                framework = where.split(".", 1)[0]
        else:
            method = self.context.names.method(node)
            if method in _LEAVE_AUTOGRAD:
                self._quiet_nodes.add(id(node.func.value))
                return
            if method not in WHERE.methods:
                return
            args = positional(node)
            if len(args) != 2 or len(node.args) != 2:
                return
            condition, branches, framework = args[0], (node.func.value, args[1]), "torch"
        if condition is None or None in branches:
            return
        if self._quiet_depth or id(node) in self._quiet_nodes:
            return
        self._check(node, condition, branches, framework)

    def _check(self, node: cst.Call, condition: cst.BaseExpression, branches, framework: str) -> None:
        here = self.place()
        for selected, branch in zip((True, False), branches):
            for found in self._unsafe_ops(branch, here, 0, None, False):
                if _gradient_free(found.node, found.place, 0):
                    continue  # counts of a comparison: no gradient reaches this op
                verdict = self._verdict(condition, here, found, selected)
                if verdict is None:
                    continue
                if not_differentiated(self.context):
                    return
                self._report(node, found, verdict, framework, self._inner_where(node, condition, found, selected))
                break

    def _inner_where(self, where: cst.Call, condition, found: _Found, selected: bool) -> Fix | None:
        """`where(c, log(x), y)` -> `where(c, log(where(c, x, 1.0)), y)`: the masked entries get
        a value at which the op is finite, so its gradient there is 0 and not NaN."""
        if found.via is not None or found.helper or found.kind not in _SAFE_VALUE:
            return None
        if not self.qualified_names(where.func) & FIXABLE_WHERE or any(a.keyword or a.star for a in where.args):
            return None
        code = self.context.module.code_for_node
        keep, fill = code(bare(found.operand)), _SAFE_VALUE[found.kind]
        cond = code(condition)
        args = f"{cond}, {keep}, {fill}" if selected else f"{cond}, {fill}, {keep}"
        return Fix(found.operand, cst.parse_expression(f"{code(where.func)}({args})"))

    def _report(self, node: cst.Call, found: _Found, loose: bool, framework: str, fix: Fix | None = None) -> None:
        kind = found.kind
        severity = None
        if found.helper or loose or framework == "theano" or found.name.startswith("theano.") or kind == "overflow":
            severity = Severity.WARNING  # an overflow needs a large input (about 88 in float32)
        elif kind in ("root", "div") and found.name.startswith("keras.") and found.call_kind in ("root", "reciprocal"):
            severity = Severity.WARNING
        elif framework in ("tensorflow", "keras") and found.name.startswith("."):
            severity = Severity.WARNING
        what = _POINTS[kind][2].format(u=_short(self._text(found.operand, found.place)))
        op = f"`{_short(self.source(bare(found.node)))}`"
        names = self.qualified_names(node.func)
        where = _short(self.source(node.func)) if names else "Tensor.where"
        if names & MASKED_REDUCTION:
            where += "(..., where=...)"
        if found.via is not None:
            op += f" (from `{_short(self.source(found.via))}`)"
        self.report(found.via or found.node, severity=severity, op=op, where=where, what=what, fix=fix)

    # Unsafe operations in a branch ---------------------------------------------------------

    def _unsafe_ops(self, expr, place: Place, depth, via, helper):
        """The unsafe operations computed by `expr`, looking through the values names and `self`
        attributes hold and the returns of the project's helpers (the semantic model). A
        helper's parameter is not followed: the call's own arguments are searched there."""
        if depth > _MAX_DEPTH:
            return
        stack = [expr]
        while stack:
            current = stack.pop()
            if isinstance(current, (cst.Lambda, cst.FunctionDef, cst.ClassDef)):
                continue
            if isinstance(current, (cst.Name, cst.Attribute)) and not place.qualified_names(current):
                if isinstance(current, cst.Name) and place.argument(current.value) is not None:
                    continue
                for value, index, at in ModuleModel.assignments(current, place) or ():
                    if index is None and isinstance(value, cst.BaseExpression):
                        yield from self._unsafe_ops(value, at, depth + 1, via or current, helper)
                continue
            if isinstance(current, cst.Attribute):
                continue
            if isinstance(current, cst.Call):
                found = self._unsafe_call(current, place)
                if found is not None:
                    yield _Found(current, *found, place, via, helper)
                if self._skip_call(current, place):
                    continue
                if via is None and depth == 0:
                    for value, at in self._helper_returns(current, place):
                        yield from self._unsafe_ops(value, at, depth + 1, current, True)
                children = [a.value for a in current.args]
                if isinstance(current.func, cst.Attribute) and not place.qualified_names(current.func):
                    children.append(current.func.value)
                stack.extend(reversed(children))
                continue
            if isinstance(current, cst.BinaryOperation):
                found = self._unsafe_binary(current)
                if found is not None:
                    yield _Found(current, *found, place, via, helper)
            stack.extend(reversed(iter_children(current)))

    def _skip_call(self, node: cst.Call, place: Place) -> bool:
        """Calls whose arguments are not searched: nested wheres (checked on their own) and
        calls no gradient goes through."""
        names = place.qualified_names(node.func)
        if names:
            return bool(names & WHERE or names & STOP_GRADIENT) or any(_shape_only(n.rpartition(".")[2]) for n in names)
        method = place.method(node)
        return method in WHERE.methods or method in _LEAVE_AUTOGRAD or (method is not None and _shape_only(method))

    def _unsafe_call(self, node: cst.Call, place: Place):
        """(kind, operand, name, call kind) for an unsafe call, else None."""
        names = place.qualified_names(node.func)
        if names:
            if names & TF_ZERO_GRAD:
                return None
            first = _first(node)
            for table, kind in _UNSAFE_TABLES:
                hit = names & table
                if hit and first is not None:
                    return kind, first, min(hit), "reciprocal" if table is RECIPROCAL else kind
            if names & DIVIDE:
                args = positional(node)
                denominator = args[1] if len(args) == 2 else argument(node, "y") or argument(node, "other")
                if denominator is not None and number(denominator) is None:
                    return "div", denominator, min(names & DIVIDE), "div"
                return None
            if names & POW:
                args = positional(node)
                if len(args) == 2:
                    kind = _power_kind(args[1])
                    if kind is not None:
                        return kind, args[0], min(names & POW), kind
            return None
        method = place.method(node)
        if method is None:
            return None
        receiver = node.func.value
        if not node.args:
            for table, kind in _UNSAFE_TABLES:
                if method in table.methods:
                    return kind, receiver, "." + method, kind
            return None
        args = positional(node)
        if len(args) == 1 and len(node.args) == 1:
            if method in DIVIDE.methods and number(args[0]) is None:
                return "div", args[0], "." + method, "div"
            if method in POW.methods:
                kind = _power_kind(args[0])
                if kind is not None:
                    return kind, receiver, "." + method, kind
        return None

    def _unsafe_binary(self, node: cst.BinaryOperation):
        if isinstance(node.operator, cst.Divide):
            if number(node.right) is None and not isinstance(node.right, (cst.SimpleString, cst.FormattedString)):
                return "div", node.right, "/", "div"
            return None
        if isinstance(node.operator, cst.Power):
            kind = _power_kind(node.right)
            if kind is not None:
                return kind, node.left, "**", kind
        return None

    def _helper_returns(self, node: cst.Call, place: Place) -> list:
        """What a function of the project or a method of `self` called here returns, its
        parameters holding the call's arguments; none for the function being walked."""
        returned = ModuleModel.returns(node, place) or []
        if any(at.scope.functions[0] in self.context.scopes for _, at in returned):
            return []
        return returned

    # The condition -----------------------------------------------------------------------------

    def _verdict(self, condition, place: Place, found: _Found, selected: bool) -> bool | None:
        """None when quiet; False for a sure finding; True for one on looser evidence."""
        forms = self._forms(found.operand, found.place, found.kind)
        if forms is None:
            return None  # the input was made safe first
        points, bounds, _ = _POINTS[found.kind]
        known = False
        for point in points:
            value, exact = self._truth(condition, place, forms, found, point, bounds, 0)
            if value is None:
                continue
            known = True
            if value != selected and exact:
                return False
        if known:
            return None
        # The condition compares the very variables of a difference under the op.
        last = forms[-1]
        if isinstance(last[0], cst.BinaryOperation) and isinstance(last[0].operator, cst.Subtract):
            leaves = self._leaves(last[0], last[1])
            if leaves and leaves <= self._leaves(condition, place, condition=True):
                return True
        return None

    def _forms(self, node, place: Place, kind: str):
        """The operand and what its name was assigned (a helper's parameter: the caller's
        argument): [(expression, place)], or None when one of them keeps it in the domain (a
        where, a positive clamp, an epsilon; an upper clamp for an exponential)."""
        forms = []
        for _ in range(_MAX_DEPTH):
            if (_bounded_above if kind == "overflow" else _guarded)(node, self):
                return None
            forms.append((node, place))
            value, place = _one_value(node, place)
            if value is None:
                break
            node = value
        return forms

    def _truth(self, cond, place: Place, forms, found, point, bounds, depth):
        """(the condition's value where the op's input is `point`, whether its boundary is there)."""
        if depth > _MAX_DEPTH:
            return None, False
        depth += 1
        if isinstance(cond, cst.Name):
            value, at = _one_value(cond, place)
            if value is not None:
                return self._truth(value, at, forms, found, point, bounds, depth)
            return None, False
        parts = None
        if isinstance(cond, cst.Comparison):
            left, results = cond.left, []
            for target in cond.comparisons:
                op = _OPERATORS.get(type(target.operator))
                if op is None:
                    return None, False
                results.append(self._compare(left, op, target.comparator, forms, point, bounds, place))
                left = target.comparator
            return _combine(results, all_of=True)
        if isinstance(cond, cst.BinaryOperation) and isinstance(cond.operator, (cst.BitAnd, cst.BitOr)):
            parts = [cond.left, cond.right]
            combine_all = isinstance(cond.operator, cst.BitAnd)
        elif isinstance(cond, cst.UnaryOperation) and isinstance(cond.operator, (cst.BitInvert, cst.Not)):
            value, exact = self._truth(cond.expression, place, forms, found, point, bounds, depth)
            return (None if value is None else not value), exact
        elif isinstance(cond, cst.Call):
            names = place.qualified_names(cond.func)
            method = None if names else place.method(cond)
            args = positional(cond)
            if method is not None:
                args = [cond.func.value, *args]
            compare = next((n for n in names if n in COMPARE), None) or (method if method in COMPARE.methods else None)
            if compare is not None and len(args) == 2:
                op = _SUFFIX[compare.rpartition(".")[2]]
                return _combine([self._compare(args[0], op, args[1], forms, point, bounds, place)], True)
            if (names & LOGICAL_AND or method in LOGICAL_AND.methods) and len(args) == 2:
                parts, combine_all = args, True
            elif (names & LOGICAL_OR or method in LOGICAL_OR.methods) and len(args) == 2:
                parts, combine_all = args, False
            elif (names & LOGICAL_NOT or method in LOGICAL_NOT.methods) and len(args) == 1:
                value, exact = self._truth(args[0], place, forms, found, point, bounds, depth)
                return (None if value is None else not value), exact
        if parts is None:
            return None, False
        return _combine([self._truth(p, place, forms, found, point, bounds, depth) for p in parts], combine_all)

    def _compare(self, left, op, right, forms, point, bounds, place: Place):
        """`left op right` where the op's input is `point`: (value, whether the boundary is the domain's end)."""
        for form, form_place in forms:
            difference = _difference(form)
            if difference is not None:
                a, b = difference
                if self._same(left, place, a, form_place) and self._same(right, place, b, form_place):
                    return _EVALUATE[op](point, 0.0), True
                if self._same(left, place, b, form_place) and self._same(right, place, a, form_place):
                    return _EVALUATE[op](-point, 0.0), True
        for side, other, side_op in ((left, right, op), (right, left, _MIRROR[op])):
            function, inner = self._unwrap(side)
            if not any(self._same(inner, place, form, form_place) for form, form_place in forms):
                continue
            threshold = self._threshold(other, place)
            if threshold is None and bounds is None:
                # Overflow: whatever finite threshold a name holds (`x < limit`), the side that
                # holds large inputs stays the same.
                threshold = 0.0
            elif threshold is None:
                return None, False
            value = function(point)
            exact = bounds is None or any(abs(threshold - function(b)) <= _CLOSE for b in bounds)
            return _EVALUATE[side_op](value, threshold), exact
        return None, False

    def _unwrap(self, node):
        """`abs(e)`, `e ** 2`, `square(e)`: (the function of e, e)."""
        if isinstance(node, cst.Call):
            names = self.qualified_names(node.func) or (
                frozenset({"abs"}) if isinstance(node.func, cst.Name) and node.func.value == "abs" else frozenset()
            )
            method = None if names else self.context.names.method(node)
            first = _first(node)
            if (names & ABS) and first is not None:
                return abs, first
            if method in ABS.methods and not node.args:
                return abs, node.func.value
            if (names & SQUARE) and first is not None:
                return _square, first
            if method in SQUARE.methods and not node.args:
                return _square, node.func.value
        base = self._square_base(node)
        if base is not None:
            return _square, base
        return _identity, node

    def _square_base(self, node):
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Power) and number(node.right) == 2:
            return node.left
        if isinstance(node, cst.Call):
            names = self.qualified_names(node.func)
            args = positional(node)
            if names & POW and len(args) == 2 and number(args[1]) == 2:
                return args[0]
            if names & SQUARE and len(args) == 1:
                return args[0]
        return None

    def _same(self, a, a_place: Place, b, b_place: Place) -> bool:
        """The same value by its code, read in the same function (a helper's parameters read
        as the caller's arguments)."""
        if a_place.scope.functions[:1] != b_place.scope.functions[:1] and not (a_place.arguments or b_place.arguments):
            return False
        value_a, value_b = number(a), number(b)
        if value_a is not None or value_b is not None:
            return value_a is not None and value_a == value_b
        base_a, base_b = self._square_base(a), self._square_base(b)
        if base_a is not None and base_b is not None:
            return self._same(base_a, a_place, base_b, b_place)
        return self._text(a, a_place) == self._text(b, b_place)

    def _threshold(self, node, place: Place) -> float | None:
        value = number(node)
        if value is not None:
            return value
        name = node
        if isinstance(node, cst.Call):
            name = node.func  # `K.epsilon()`, `keras.backend.epsilon()`
        text = dotted(name) if isinstance(name, (cst.Name, cst.Attribute)) else None
        if text is None:
            return None
        last = text.rpartition(".")[2]
        if _EPS_NAME.search(last) or last in ("eps", "tiny"):
            return _TINY
        if isinstance(node, cst.Name):
            value, _ = _one_value(node, place)
            return number(value) if value is not None else None
        return None

    def _text(self, node, place: Place) -> str:
        """The expression's code, with a helper's parameters replaced by the caller's arguments."""
        node = bare(node)
        if not place.arguments:
            return self.source(node)
        if isinstance(node, cst.Name) and place.argument(node.value) is not None:
            return self._text(*place.argument(node.value))
        replaced = node.visit(_Substitute({name: bare(value) for name, value, _ in place.arguments}))
        return self.source(replaced)

    def _leaves(self, node, place: Place, condition: bool = False) -> set[str]:
        """Variables an expression reads (names and dotted attributes, not modules or functions),
        through a helper's parameters and, for a `condition`, the names that hold one."""
        found: set[str] = set()
        stack = [(node, 0)]
        while stack:
            current, depth = stack.pop()
            if isinstance(current, (cst.Name, cst.Attribute)):
                text = dotted(current)
                if text is None:
                    stack.append((current.value, depth))
                    continue
                if place.model.names.is_module(current):
                    continue
                given = place.argument(current.value) if isinstance(current, cst.Name) else None
                if given is not None:
                    if _guarded(given[0], self):
                        found.add("<kept in the domain>")  # never in a condition
                        continue
                    found |= self._leaves(*given)
                    continue
                if condition and isinstance(current, cst.Name) and depth < _MAX_DEPTH:
                    value, _ = _one_value(current, place)
                    if value is not None and self._boolean(value, place):
                        stack.append((value, depth + 1))
                        continue
                found.add(text)
                continue
            if isinstance(current, cst.Call):
                stack.extend((a.value, depth) for a in current.args)
                if isinstance(current.func, cst.Attribute) and not place.qualified_names(current.func):
                    stack.append((current.func.value, depth))
                continue
            stack.extend((child, depth) for child in iter_children(current))
        return found

    def _boolean(self, node, place: Place) -> bool:
        """Whether an assigned value is a condition (so a name holding it stands for it)."""
        if isinstance(node, cst.Comparison):
            return True
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.BitAnd, cst.BitOr)):
            return True
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.BitInvert):
            return True
        if not isinstance(node, cst.Call):
            return False
        tables = (COMPARE, LOGICAL_AND, LOGICAL_OR, LOGICAL_NOT)
        names = place.qualified_names(node.func)
        if names:
            return any(names & table for table in tables)
        method = place.method(node)
        return any(method in table.methods for table in tables)


# Reductions and casts that keep a value gradient-free when their input is (a count stays a count).
_KEEPS_CONSTANT = frozenset({"sum", "float", "int", "long", "double", "half", "to", "type", "mean", "count_nonzero",
                             "any", "all", "astype", "cast", "reduce_sum", "reduce_mean"})


def _gradient_free(node, place: Place, depth: int) -> bool:
    """Whether `node` is built only from comparisons and constants (through local names and
    sums or casts of them): `area_i / area_u` with `area_u = (m > t).sum().float()`."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(node, cst.Comparison) or number(node) is not None:
        return True
    if isinstance(node, cst.Name):
        values = ModuleModel.assignments(node, place)
        return bool(values) and all(index is None and isinstance(value, cst.BaseExpression)
                                    and _gradient_free(value, at, depth + 1) for value, index, at in values)
    if isinstance(node, cst.BinaryOperation):
        return _gradient_free(node.left, place, depth + 1) and _gradient_free(node.right, place, depth + 1)
    if isinstance(node, cst.UnaryOperation):
        return _gradient_free(node.expression, place, depth + 1)
    if isinstance(node, cst.Call):
        func = node.func
        name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else None
        if name not in _KEEPS_CONSTANT:
            return False
        inputs = positional(node)[:1]
        if isinstance(func, cst.Attribute) and not inputs:
            inputs = [func.value]  # `(m > t).sum()`: the receiver is the input
        return bool(inputs) and all(_gradient_free(value, place, depth + 1) for value in inputs)
    return False


class _Found:
    __slots__ = ("node", "kind", "operand", "name", "call_kind", "place", "via", "helper")

    def __init__(self, node, kind, operand, name, call_kind, place, via, helper) -> None:
        self.node, self.kind, self.operand, self.name, self.call_kind = node, kind, operand, name, call_kind
        self.place, self.via, self.helper = place, via, helper


def _one_value(node, place: Place) -> tuple[cst.BaseExpression | None, Place]:
    """What a name holds when one assignment reaches the read (a helper's parameter: the
    caller's argument), with where it is read; (None, place) otherwise."""
    found = ModuleModel.only_assignment(node, place)
    return found if found is not None and isinstance(found[0], cst.BaseExpression) else (None, place)


class _Substitute(cst.CSTTransformer):
    def __init__(self, params: dict) -> None:
        super().__init__()
        self.params = params

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        return self.params.get(original.value, updated)

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
        return updated.with_changes(attr=original.attr)


# Small helpers ------------------------------------------------------------------------------


def _first(node: cst.Call) -> cst.BaseExpression | None:
    for arg in node.args:
        if arg.star:
            return None
        if arg.keyword is None or arg.keyword.value in ("x", "input", "a", "self"):
            return arg.value
    return None


def _shape_only(name: str) -> bool:
    """`ones_like(v)`, `v.new_zeros(...)`, `v.size()`: only the shape of `v` is read, no gradient flows."""
    return name.endswith("_like") or name.startswith("new_") or name in ("shape", "size", "dim", "numel")


def _power_kind(exponent: cst.BaseExpression) -> str | None:
    value = number(exponent)
    if value is None or value >= 1 or value == 0:
        return None
    if value < 0 and value == int(value):
        return "div"
    return "root"


def _difference(node):
    """`a - b` (parentheses aside): (a, b), else None."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Subtract):
        return node.left, node.right
    return None


def _guarded(node, rule: WhereUnsafeBranch) -> bool:
    """An input kept in the domain: a where, a clamp with a positive bound, `x + eps`."""
    if isinstance(node, cst.Call):
        names = rule.qualified_names(node.func)
        method = None if names else rule.context.names.method(node)
        if names & WHERE or method in WHERE.methods:
            return True
        if names & CLAMP or method in CLAMP.methods:
            return _positive_bound(node, names, method)
        return False
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        return True  # `x + eps`, `1 + x`, `x**2 + 1e-12`: a positive term added
    return False


def _bounded_above(node, rule: WhereUnsafeBranch) -> bool:
    """An exponential's input kept from overflowing: a where, `clamp(x, max=c)`,
    `clip(x, lo, hi)`, `minimum(x, c)`."""
    if not isinstance(node, cst.Call):
        return False
    names = rule.qualified_names(node.func)
    method = None if names else rule.context.names.method(node)
    if names & WHERE or method in WHERE.methods:
        return True
    if any(name.endswith("minimum") for name in names) or method in ("clamp_max", "minimum"):
        return True
    if not (names & CLAMP or method in CLAMP.methods):
        return False
    keywords = {a.keyword.value for a in node.args if a.keyword is not None}
    upper = len(positional(node)) >= (2 if method is not None else 3)
    return upper or bool(keywords & {"max", "clip_value_max", "a_max", "x_max", "max_value"})


def _positive_bound(node: cst.Call, names, method) -> bool:
    keywords = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
    args = positional(node)
    lower = None
    if method is not None:
        lower = args[0] if args else None
    elif len(args) >= 2:
        lower = args[1]
    for key in ("min", "clip_value_min", "a_min", "x_min", "min_value"):
        if key in keywords:
            lower = keywords[key]
    if lower is None:
        return False
    value = number(lower)
    return value is None or value > 0


def _combine(results, all_of: bool):
    values = [value for value, _ in results]
    decisive = False if all_of else True
    hits = [exact for value, exact in results if value is decisive]
    if hits:
        return decisive, any(hits)
    if values and all(value is not None for value in values):
        return (not decisive), any(exact for _, exact in results)
    return None, False


def _identity(value: float) -> float:
    return value


def _square(value: float) -> float:
    return value * value


def _short(text: str) -> str:
    return text if len(text) <= _CHARS else text[: _CHARS - 3] + "..."

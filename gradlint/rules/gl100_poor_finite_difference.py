from __future__ import annotations

import io
import re
import tokenize

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.gradients import is_test_file
from gradlint.engine.names import dotted
from gradlint.engine.syntax import argument, bindings, number, own_nodes
from gradlint.engine.walker import iter_tree
from gradlint.rule import Rule, Severity

ABS = api_table("handwritten_abs")
NORM = api_table("handwritten_norm")
REDUCE = api_table("handwritten_reduce")
ALLCLOSE = api_table("handwritten_allclose")
CHECKERS = api_table("handwritten_gradient_checkers")  # documentation: recommended, never flagged

# Functions whose name says they check or estimate a gradient numerically.
_CHECK_FUNCTION = re.compile(
    r"check|verif|compar|numeric|numgrad|num_grad|finite|fin_diff|^fd_|_fd$|_fd_|approx_?grad|estimate|^test", re.I
)
# Functions whose result, when they hold a finite difference, is a numerical gradient.
_NUMERICAL_FUNCTION = re.compile(r"grad|deriv|jac|finite|fin_diff|numeric|approx|estimat", re.I)
# Names that hold a numerical gradient.
_NUMERICAL_NAME = re.compile(r"num|^fd_|_fd$|finite|approx|estimat", re.I)
_FLOAT32 = re.compile(r"float32|float16|bfloat16|\.float\(\)|\.half\(\)")
_FLOAT64 = re.compile(r"float64|double|enable_x64|floatX\s*=|set_default_dtype")
_EPS = {"float64": 2.2e-16, "float32": 1.2e-7}
_TOO_LARGE = 1e-2
_TOO_SMALL = {"float64": 1e-10, "float32": 1e-4}
_EXPR_CHARS = 48
# Methods and attributes that give a view of an array: a write through them perturbs the array.
_VIEWS = frozenset({"ravel", "reshape", "view", "view_as"})
_VIEW_ATTRIBUTES = frozenset({"flat", "data", "T"})


class PoorFiniteDifference(Rule):
    """
    ## What it does
    Checks hand-written numerical gradients, the finite differences written to check an
    analytic or autodiff gradient: two calls of the same function at perturbed points
    (`f(x + h)` and `f(x - h)`, `J(theta + perturb)`, or the same call after
    `theta_plus[i] += eps`, `x.ravel()[i] += eps` / `param.set_value(...)`) whose difference is divided by the
    step (`h`, `2 * h`, `(2 * epsilon)`). A difference is central when the step is applied
    both ways (`x + h` and `x - h`, `x[i] += h` then `x[i] -= 2 * h`); when every perturbation
    in the function adds it (`x[i] += eps`, the reference value taken before the loop) it is
    one-sided, even if both calls read the perturbed array. It flags:

    - a one-sided (forward) difference `(f(x + h) - f(x)) / h` in a function (or a method of
      a class) named like a gradient check (`check*`, `*numerical*`, `finite_diff`, `compute_numerical_gradient`,
      `test_*`);
    - a step of 1e-2 or more, or one below 1e-10 (1e-4 in float32), whether the value
      is written in place, assigned, a parameter default or passed by a caller in the same
      file;
    - a gradient check on float32 arrays: made so (`dtype=torch.float32`, `.float()`,
      `.astype(np.float32)`), or by torch's or TensorFlow's constructors, whose default is
      float32 (`torch.randn(5)`, `torch.tensor([1.0])`, unless the module calls
      `torch.set_default_dtype`), followed through names, the module's calls of the
      checking function, `zeros_like`, copies and arithmetic (`gradlint.semantic.dtypes`).
      NumPy arrays are float64 by default, and so is `torch.from_numpy` of one. Only when
      no array's origin is known does the file's text decide: float32 when it says
      `float32`, `.float()` or `half` and never float64;
    - (info) a comparison of the numerical and the analytic gradient by absolute difference:
      `abs(num - ana) < 1e-5`, `np.max(np.abs(num - ana)) < tol`,
      `np.linalg.norm(num - ana) < tol`, `np.allclose(num, ana, rtol=0, atol=...)`.

    ## Why is this bad?
    The error of a finite difference is truncation (about `h` one-sided, `h²` central)
    plus round-off (about `eps / h`). Measured on a 5-16-1 MLP (113 parameters) against
    torch 2.13.0 float64 autodiff: a one-sided float32 difference with `h = 1e-3` reaches
    an elementwise error of 1.7e-2 (tanh) and 6.4e-2 (ReLU), so a correct gradient looks
    wrong and a wrong one (a missing factor, a sign in one layer) can pass; a central
    float32 difference with the best step `cbrt(eps32) = 4.9e-3` still errs by 7e-4 (2e-3
    normwise for ReLU nets). A central float64 difference with `h = cbrt(eps64) = 6.1e-6`
    agrees to 1.2e-9 (5e-11 normwise), and with `h = 1e-6` (`gradcheck`'s default) to
    1.2e-8. A float32 value perturbed by 1e-6 loses every digit of the difference.
    An absolute tolerance says nothing about gradients of norm 1e3 or 1e-6: compare
    `norm(a - n) / max(norm(a), norm(n))` instead.

    The built-in checkers do this right: `torch.autograd.gradcheck` (central, `eps=1e-6`,
    `atol=1e-5`, `rtol=1e-3`; it warns and fails on float32 inputs even for a correct
    gradient, torch 2.13.0), `jax.test_util.check_grads`, `scipy.optimize.check_grad`,
    and `tf.test.compute_gradient` (central, `delta = 1/1024`, no tolerance: the comparison
    is up to the caller; TF 2.21.0).

    ## Example
    ```python
    def finite_diff(param, loss_func, epsilon=1e-3):
        loss = loss_func()
        P = param.get_value()
        grad = np.zeros_like(P)
        for ind in np.ndindex(P.shape):
            dP = P.copy()
            dP[ind] += epsilon
            param.set_value(dP)
            grad[ind] = (loss_func() - loss) / epsilon
        param.set_value(P)
        return grad
    ```

    Use instead:
    ```python
    def finite_diff(param, loss_func, epsilon=6e-6):
        P = param.get_value().astype(np.float64)
        grad = np.zeros_like(P)
        for ind in np.ndindex(P.shape):
            dP = P.copy()
            dP[ind] += epsilon
            param.set_value(dP)
            plus = loss_func()
            dP[ind] -= 2 * epsilon
            param.set_value(dP)
            minus = loss_func()
            grad[ind] = (plus - minus) / (2 * epsilon)
        param.set_value(P)
        return grad

    rel = np.linalg.norm(num - ana) / max(np.linalg.norm(num), np.linalg.norm(ana))
    ```

    ## Notes
    Not flagged, on purpose: central differences with a step between 1e-10 and 1e-2 (the
    Coursera `e = 1e-4` check is fine in float64), steps computed at run time (from
    `np.finfo(...).eps`, scaled by `|x|`), `scipy.optimize.approx_fprime` / `check_grad`,
    `torch.autograd.gradcheck`, `jax.test_util.check_grads`; one-sided differences outside
    functions named like gradient checks (derivative-free methods use them on purpose);
    differences of array elements (`(u[i + 1] - u[i]) / dx` in a PDE solver): the same
    function must be evaluated twice; relative comparisons (a difference divided by a
    norm) and `allclose` with its default `rtol`.

    Known misses: JAX arrays of unknown precision (`jax_enable_x64` may be set outside the
    file) and Theano's `floatX`, where only the file's text decides; a perturbation made in
    another function; a step passed from another file (a step in a name, a `self` attribute
    or a parameter is read through the semantic model: its assignments, what the module's
    calls pass, else the default); a difference written as a product
    (`(f_pos - f_neg) * (0.5 / eps)`); a one-sided difference whose step is taken back in
    place after the call (`x[i] -= eps`), which reads as both directions. Checked against the measurements of torch 2.13.0,
    TF 2.21.0 and JAX 0.10.2.

    ## Severity
    Warning for a poor finite difference; info for an absolute comparison of the numerical and
    analytic gradients, which is a weak check rather than a wrong one.

    ## References
    - Stack Overflow, "Strange gradient results with recurrent layers" (Theano/Lasagne):
      a one-sided float32 check with `eps = 1e-3` whose noise (0.00047684 vs 0.00058144)
      hid the real cause.
    - Stack Overflow, "Python neural network backpropagation" (`checkNNGradients`): the
      answer recommends a relative comparison.
    - CS231n notes, "Gradient checks": centred formula, relative error, double precision.
    """

    code = "GL100"
    severity = Severity.WARNING
    other_severities = (Severity.INFO,)  # see ## Severity
    message = "`{expr}`: {problems}; use a central difference in float64 with h ≈ 6e-6·max(1, |x|), or {checker}"
    absolute_message = (
        "`{expr}` compares numerical and analytic gradients absolutely: "
        "use `norm(a - n) / max(norm(a), norm(n))`"
    )
    frameworks = ("numpy", "scipy", "torch", "tensorflow", "jax", "theano")

    def __init__(self, context) -> None:
        super().__init__(context)
        # Quotients found, resolved once every caller of their function is known.
        self._pending: list[dict] = []
        self._quotients: dict[int, list] = {}  # id of the function (of None: the module) -> quotients
        self._fd_functions: set[str] = set()
        self._comparisons: list[tuple] = []  # (node, statement, (name, name), function)
        self._bindings: dict[int, dict] = {}
        self._dtype_seen: str | None = None

    # Collection ----------------------------------------------------------------------------

    def _scope(self) -> cst.FunctionDef | None:
        return self.context.enclosing(cst.FunctionDef)

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if (
            isinstance(node.operator, cst.Divide)
            and isinstance(node.left, cst.BinaryOperation)
            and isinstance(node.left.operator, cst.Subtract)
        ):
            scope = self._scope()
            self._quotients.setdefault(id(scope), []).append((node, self.context.current_statement()))

    def visit_Comparison(self, node: cst.Comparison) -> None:
        if len(node.comparisons) == 1 and isinstance(node.comparisons[0].operator, (cst.LessThan, cst.LessThanEqual)):
            self._comparisons.append((node, self.context.current_statement(), None, self._scope()))

    def visit_Call(self, node: cst.Call) -> None:
        if self.callee(node, ALLCLOSE):
            pair = _absolute_comparison(self, node)
            if pair is not None:
                self._comparisons.append((node, self.context.current_statement(), pair, self._scope()))

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._scan(node, node)

    def leave_Module(self, node: cst.Module) -> None:
        self._scan(node, None)
        for item in self._pending:
            self._finish(item)
        for comparison in self._comparisons:
            self._finish_comparison(*comparison)

    def _local_bindings(self, scope) -> dict:
        key = id(scope)
        if key not in self._bindings:
            self._bindings[key] = bindings(scope)
        return self._bindings[key]

    def _scan(self, scope: cst.FunctionDef | cst.Module, function: cst.FunctionDef | None) -> None:
        quotients = self._quotients.pop(id(function), None)
        if not quotients:
            return
        body = scope.body if isinstance(scope, cst.FunctionDef) else scope
        nodes = list(own_nodes(body))
        local = self._local_bindings(scope)
        for quotient, statement in quotients:
            item = self._finite_difference(quotient, local, nodes, function)
            if item is not None:
                item["statement"] = statement
                owner = self.context.enclosing(cst.ClassDef) if function is not None else None
                item["class"] = owner.name.value if owner is not None else None
                self._pending.append(item)
                if function is not None and _NUMERICAL_FUNCTION.search(function.name.value):
                    self._fd_functions.add(function.name.value)

    # Finite differences --------------------------------------------------------------------

    def _finite_difference(self, quotient, local, nodes, function) -> dict | None:
        step, factor = _step(quotient.right)
        if step is None:
            return None
        first = _evaluation(quotient.left.left, local)
        second = _evaluation(quotient.left.right, local)
        if first is None or second is None:
            return None
        if self.source(first.func) != self.source(second.func):
            return None
        step_name = None if isinstance(step, float) else dotted(step)
        if step_name is None and not isinstance(step, float):
            return None
        perturbed = _perturbed_names(nodes, step_name, quotient) if step_name else set()
        marks = {step_name} | perturbed if step_name else set()
        one = _perturbed(first, marks, step)
        two = _perturbed(second, marks, step)
        same_args = _arguments(self, first) == _arguments(self, second)
        imported = bool(self.qualified_names(first.func))
        if same_args:
            # The same call twice: the state was perturbed in between (`set_value`, `+=`).
            if imported or not perturbed:
                return None
            central = factor == 2
        elif not (one or two):
            return None
        else:
            # Both calls perturbed, but every perturbation in the function goes one way (`x[i] += eps`
            # only, the other call made before it): a one-sided difference all the same.
            one_way = step_name is not None and len(_directions(nodes, step_name, quotient)) == 1
            central = one and two and not one_way or factor == 2
        return {
            "node": quotient,
            "step": step,
            "central": central,
            "literal": _literal_step(first, step) or _literal_step(second, step) if isinstance(step, float) else None,
            "function": function,
            "local": local,
            "calls": (first, second),
            "scopes": tuple(self.context.scopes),
        }

    def _finish(self, item: dict) -> None:
        function = item["function"]
        dtype = self._precision(item)
        check = self._check_context(function, item.get("class"))
        problems = []
        if not item["central"] and check:
            problems.append("one-sided difference (error ~h)")
        for value in self._step_values(item):
            if value >= _TOO_LARGE:
                problems.append(f"step {value:g} is too large")
                break
            if 0 < value < _TOO_SMALL[dtype]:
                problems.append(f"step {value:g} is too small for {dtype}")
                break
        if dtype == "float32" and check:
            problems.append("float32 values keep 7 digits")
        if not problems:
            return
        self.report(
            item["node"],
            statement=item["statement"],
            expr=_short(self.source(item["node"])),
            problems=", ".join(problems),
            checker=self._checker(),
        )

    def _step_values(self, item: dict) -> list[float]:
        """The numbers the step may be: a constant, or what the semantic model finds a name or
        `self` attribute may hold (its assignments, what the module's calls pass for a
        parameter, else the parameter's default); none when one of them is not a number."""
        step = item["step"]
        if isinstance(step, float):
            return [item["literal"] or step]
        origins = self.context.semantic.origins(step, item["scopes"], defaults=[])
        return _numbers(origins or ())

    def _check_context(self, function, owner: str | None = None) -> bool:
        """A gradient check: a test file, or a function (or the class of a method) named like one."""
        if is_test_file(self.context.filename) or re.search(r"grad.*check|check.*grad", self.context.filename, re.I):
            return True
        names = [n for n in (function.name.value if function is not None else None, owner) if n]
        return any(_CHECK_FUNCTION.search(name) for name in names)

    def _precision(self, item: dict) -> str:
        """The precision of the arrays the difference evaluates at, from where they were made
        (`gradlint.semantic.dtypes`): float64 wins when any is, as arithmetic promotes; the
        file's text decides only when none is known."""
        semantic = self.context.semantic
        found = {semantic.precision(arg.value, item["scopes"]) for call in item["calls"] for arg in call.args}
        if "float64" in found:
            return "float64"
        return "float32" if "float32" in found else self._dtype()

    def _dtype(self) -> str:
        if self._dtype_seen is None:
            text = _code_only(self.context.file_text)
            self._dtype_seen = "float32" if _FLOAT32.search(text) and not _FLOAT64.search(text) else "float64"
        return self._dtype_seen

    def _checker(self) -> str:
        aliases = {target.split(".", 1)[0] for targets in self.context.names.aliases.values() for target in targets}
        if "torch" in aliases:
            return "`torch.autograd.gradcheck`"
        if "jax" in aliases:
            return "`jax.test_util.check_grads`"
        return "`scipy.optimize.check_grad`"

    # Absolute comparisons -------------------------------------------------------------------

    def _finish_comparison(self, node, statement, pair, function) -> None:
        local = self._local_bindings(function if function is not None else self.context.module)
        if pair is None:  # `abs(num - ana) < tol`, or `err < tol` with `err = abs(num - ana)`
            left = node.left
            if isinstance(left, cst.Name) and len(local.get(left.value, ())) == 1:
                left = local[left.value][0]
            pair = _absolute_difference(self, left)
            if pair is None:
                return
        numerical = [self._is_numerical(name, local) for name in pair]
        if numerical.count(True) != 1:
            return
        self.report(node, self.absolute_message, statement=statement, severity=Severity.INFO,
                    expr=_short(self.source(node)))

    def _is_numerical(self, name: str, local: dict) -> bool:
        if _NUMERICAL_NAME.search(name):
            return True
        for value in local.get(name, ()):
            if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value in self._fd_functions:
                return True
        return False


# Helpers -----------------------------------------------------------------------------------


def _step(node: cst.BaseExpression) -> tuple[object, int]:
    """`h` -> (h, 1); `2 * h`, `(2.0 * eps)`, `h * 2` -> (h, 2); `1e-4` -> (1e-4, 1)."""
    value = number(node)
    if value is not None:
        return (value, 1) if value > 0 else (None, 0)
    if isinstance(node, (cst.Name, cst.Attribute)):
        return node, 1
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Multiply):
        for constant, other in ((node.left, node.right), (node.right, node.left)):
            k = number(constant)
            if k is not None and isinstance(other, (cst.Name, cst.Attribute)):
                return other, 2 if k == 2 else 1
    return None, 0


def _evaluation(node: cst.BaseExpression, local: dict) -> cst.Call | None:
    """`f(x)`, `J(x)[0]`, or a name bound in this function to one of them."""
    if isinstance(node, cst.Subscript):
        node = node.value
    if isinstance(node, cst.Call):
        return node
    if isinstance(node, cst.Name):
        values = local.get(node.value, ())
        if len(values) == 1:
            value = values[0]
            if isinstance(value, cst.Subscript):
                value = value.value
            if isinstance(value, cst.Call):
                return value
    return None


def _mentions(node: cst.CSTNode, names: set[str]) -> bool:
    for current in iter_tree(node):
        if isinstance(current, (cst.Name, cst.Attribute)) and dotted(current) in names:
            return True
    return False


def _literal_step(call: cst.Call, step: float) -> float | None:
    """The constant in `f(x + 0.1)` that matches a written denominator `0.1` or `0.2`."""
    for arg in call.args:
        for node in iter_tree(arg.value):
            if isinstance(node, (cst.Float, cst.Integer)):
                value = number(node)
                if value is not None and value > 0 and (value == step or abs(2 * value - step) <= 1e-12 * step):
                    return value
    return None


def _perturbed(call: cst.Call, marks: set[str], step) -> bool:
    for arg in call.args:
        if isinstance(step, float):
            if _literal_step(call, step) is not None:
                return True
        elif _mentions(arg.value, marks):
            return True
    return False


def _arguments(rule: Rule, call: cst.Call) -> tuple[str, ...]:
    return tuple(rule.source(arg) for arg in call.args)


def _target_name(target: cst.BaseExpression) -> str | None:
    """The array a write goes to: `x` in `x[i]`, `x.ravel()[i]`, `x.flat[i]`, `x.data[i]`."""
    while True:
        if isinstance(target, cst.Subscript):
            target = target.value
        elif isinstance(target, cst.Call) and isinstance(target.func, cst.Attribute) and target.func.attr.value in _VIEWS:
            target = target.func.value
        elif isinstance(target, cst.Attribute) and target.attr.value in _VIEW_ATTRIBUTES:
            target = target.value
        else:
            return target.value if isinstance(target, cst.Name) else None


def _perturbed_names(nodes: list, step_name: str, quotient: cst.CSTNode) -> set[str]:
    """Names that the step perturbs: `perturb[i] = e`, `dP[ind] += eps`, `x_plus = x + perturb`
    (not where the quotient itself is stored, `grad[i] = (f1 - f0) / eps`)."""
    assignments = []
    for node in nodes:
        if isinstance(node, (cst.Assign, cst.AugAssign)) and any(inner is quotient for inner in iter_tree(node.value)):
            continue
        if isinstance(node, cst.Assign):
            for target in node.targets:
                assignments.append((_target_name(target.target), node.value))
        elif isinstance(node, cst.AugAssign):
            assignments.append((_target_name(node.target), node.value))
    found: set[str] = set()
    for _ in range(3):
        marks = {step_name} | found
        before = len(found)
        for name, value in assignments:
            if name is not None and name != step_name and _mentions(value, marks):
                found.add(name)
        if len(found) == before:
            break
    return found


def _directions(nodes: list, step_name: str, quotient: cst.CSTNode) -> set[str]:
    """The signs the step is applied with in a function: `x + h`, `x[i] += h` give "+";
    `x - h`, `x[i] -= 2 * h` give "-"; through names that hold the step (`e[i] = h`)."""
    holders = {step_name}
    for _ in range(2):
        for node in nodes:
            if isinstance(node, cst.Assign) and _is_step_term(node.value, holders):
                holders |= {name for t in node.targets if (name := _target_name(t.target)) is not None}
    found: set[str] = set()
    for node in nodes:
        if node is quotient:
            continue
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Add, cst.Subtract)):
            sides = (node.right,) if isinstance(node.operator, cst.Subtract) else (node.left, node.right)
            if any(_is_step_term(side, holders) for side in sides):
                found.add("-" if isinstance(node.operator, cst.Subtract) else "+")
        elif isinstance(node, cst.AugAssign) and isinstance(node.operator, (cst.AddAssign, cst.SubtractAssign)):
            if _is_step_term(node.value, holders):
                found.add("-" if isinstance(node.operator, cst.SubtractAssign) else "+")
    return found


def _is_step_term(node: cst.BaseExpression, holders: set[str]) -> bool:
    """The step, a name holding it, an element of one, or a product with one (`2 * h`, `h * e_i`)."""
    if isinstance(node, cst.Subscript):
        node = node.value
    if isinstance(node, (cst.Name, cst.Attribute)):
        return dotted(node) in holders
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Multiply):
        return _is_step_term(node.left, holders) or _is_step_term(node.right, holders)
    return False


def _code_only(text: str) -> str:
    """The file's code without comments and string literals (a docstring saying float32 is not code)."""
    try:
        tokens = tokenize.generate_tokens(io.StringIO(text).readline)
        return " ".join(t.string for t in tokens if t.type not in (tokenize.COMMENT, tokenize.STRING))
    except (tokenize.TokenError, SyntaxError):
        return text


def _numbers(values) -> list[float]:
    found = []
    for value in values:
        constant = number(value)
        if constant is None:
            return []
        found.append(constant)
    return found


def _short(text: str) -> str:
    return text if len(text) <= _EXPR_CHARS else text[: _EXPR_CHARS - 3] + "..."


def _absolute_comparison(rule: Rule, node: cst.Call) -> tuple[str, str] | None:
    """The two names an `allclose(a, b, rtol=0)` compares, else None."""
    if rule.callee(node, ALLCLOSE) is None:
        return None
    rtol = argument(node, "rtol")
    if rtol is None or number(rtol) != 0:
        return None
    if len(node.args) < 2:
        return None
    a, b = argument(node, "actual", 0), argument(node, "desired", 1)
    if a is None or b is None:
        return None
    pair = _name(a), _name(b)
    return pair if None not in pair else None


def _absolute_difference(rule: Rule, node) -> tuple[str, str] | None:
    """`abs(a - b)`, `np.max(np.abs(a - b))`, `(a - b).abs().max()`, `norm(a - b)`."""
    for _ in range(4):
        if not isinstance(node, cst.Call):
            return None
        is_builtin = isinstance(node.func, cst.Name) and node.func.value in ("abs", "max", "sum")
        method = rule.context.names.method(node)
        if isinstance(node.func, cst.Attribute) and method is not None:
            inner = node.func.value
            if method in ABS.methods or method in NORM.methods:
                return _difference(inner)
            if method in REDUCE.methods:
                node = inner
                continue
            return None
        if not node.args:
            return None
        first = node.args[0].value
        if (is_builtin and node.func.value == "abs") or rule.callee(node, ABS) or rule.callee(node, NORM):
            return _difference(first)
        if is_builtin or rule.callee(node, REDUCE):
            node = first
            continue
        return None
    return None


def _difference(node) -> tuple[str, str] | None:
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Subtract):
        pair = _name(node.left), _name(node.right)
        return pair if None not in pair else None
    return None


def _name(node) -> str | None:
    if isinstance(node, cst.Subscript):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None

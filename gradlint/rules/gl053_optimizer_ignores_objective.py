from __future__ import annotations

import re

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.names import referenced_names
from gradlint.engine.syntax import argument, own_nodes, positional
from gradlint.rule import Rule, Severity

PARTIAL = api_table("handwritten_partial")
TRANSPARENT_DECORATORS = api_table("handwritten_transparent_decorators")

# Parameter names that say "a function": every `_`-separated part must be one of these.
_CALLABLE_WORDS = frozenset(
    {
        "f", "fun", "func", "function", "fn", "j", "obj", "objective", "cost", "loss", "lossfunction",
        "costfunction", "grad", "gradient", "gradf", "fgrad", "df", "dfdx", "jac", "jacobian", "hess",
        "hessian", "fprime", "derivative", "deriv", "target",
    }
)
_SUFFIXES = frozenset({"x", "fn", "fun", "func", "function", "f", "j", "prime"})
_MAX_FORWARDS = 3  # callers followed when a function is passed on through a parameter
# The body reads its parameters some way that no name lookup sees.
_INTROSPECTION = frozenset({"locals", "vars", "eval", "exec"})


def callable_parameter_name(name: str) -> bool:
    """`f`, `grad_f`, `loss_fn`, `objective`, `jac`, `gradJ`: names that say the value is a function."""
    if name.startswith("_"):
        return False
    parts = [p for p in re.split(r"_|(?<=[a-z])(?=[A-Z])", name) if p]
    if not parts:
        return False
    lowered = [p.lower() for p in parts]
    if lowered[0] not in _CALLABLE_WORDS:
        return False
    return all(p in _CALLABLE_WORDS or p in _SUFFIXES for p in lowered[1:])


class OptimizerIgnoresObjective(Rule):
    """
    ## What it does
    Checks for a hand-written optimiser, root finder or gradient check that takes a function
    as a parameter (`f`, `fun`, `func`, `fn`, `objective`, `loss_fn`, `cost`, `grad`,
    `gradient`, `grad_f`, `df`, `jac`, `fprime`, ...) and never uses it, although some call
    in the same file passes a function (a `def`, a lambda, a `functools.partial`) in that
    position, directly or through a parameter of its own that its callers fill with one
    (`plot(f, df)` calling `ascend(f, df)`, followed three calls deep). When the body calls a module-level function of this file instead (the global
    objective or gradient the author tested with), the finding names it.

    ## Why is this bad?
    `gradient_descent(f, grad_f, x0, lr)` whose loop calls the global `grad_J(x)` instead of
    `grad_f(x)` optimises `J` for every caller: the first test passes, because it was run
    with `J`, and every later objective silently gets `J`'s minimiser. No error is raised;
    the run converges, to the wrong point. The same slip in a hand-written gradient check
    compares the analytic gradient with the numerical gradient of another function.

    ## Example
    ```python
    def grad_J(x):
        return 2 * (x - 3.0)

    def gradient_descent(f, grad, x0, lr=0.1, steps=100):
        x = x0
        for _ in range(steps):
            x = x - lr * grad_J(x)
        return x

    x_min = gradient_descent(lambda x: (x + 1.0) ** 2, lambda x: 2 * (x + 1.0), 0.0)
    ```

    Use instead:
    ```python
    def gradient_descent(f, grad, x0, lr=0.1, steps=100):
        x = x0
        for _ in range(steps):
            x = x - lr * grad(x)
        return x
    ```

    ## Notes
    The finding sits on the unused parameter, where the `# noqa` goes; the message names
    the global function called in its place.

    Not flagged, on purpose: parameters used in any way (called, passed on, stored, read in
    a nested function), parameters named `_` or `_f`, functions that no call in the same
    file passes a function to in that position (no evidence that the parameter is a
    callable), stub bodies (`...`, `pass`, `raise NotImplementedError`, a docstring),
    functions with decorators other than compilers (`jax.jit`, `numba.njit`, `tf.function`,
    `torch.compile`, caches): wrappers (`functools.wraps`), registrations, overloads and
    abstract methods keep unused parameters for their interface, and bodies that read
    `locals()` or `vars()`. Methods are not checked (known miss), nor functions called only
    from other files. GL050 covers the related slip on the other side: an objective that
    ignores its own argument.

    ## Severity
    Error when the global called instead is passed in the same position by a caller, or is the
    only module-level function of this file that the body calls with as many arguments as the
    callables that callers pass; otherwise warning (the parameter is unused, callers pass
    functions, nothing says what replaced it).

    ## References
    - Stack Overflow, "Can I implement a gradient descent for arbitrary convex loss
      function?": the answer's `derivative(fun, X, b, lambs, h)` and `gradient(...)` show the
      correct form, calling the function they are given.
    """

    code = "GL053"
    severity = Severity.ERROR
    other_severities = (Severity.WARNING,)  # see ## Severity
    message = (
        "`{function}` never calls its parameter `{param}`; it calls the global `{used}` instead: "
        "every caller gets `{used}`'s result"
    )
    warning_message = (
        "`{function}` never uses its parameter `{param}`, though callers pass a function there: "
        "their function is ignored"
    )
    frameworks = ("numpy", "scipy", "torch", "tensorflow", "jax", "theano")

    def __init__(self, context) -> None:
        super().__init__(context)
        self._clock = 0
        self._functions: dict[cst.FunctionDef, int] = {}  # candidates, with their time
        self._definitions: dict[str, list[int]] = {}  # function name -> times of its defs
        self._module_functions: dict[str, cst.FunctionDef | cst.Lambda] = {}
        self._callables: dict[str, cst.FunctionDef | cst.Lambda | None] = {}  # names bound to functions
        self._calls: dict[str, list[tuple[int, cst.Call]]] = {}  # callee name -> calls
        self._caller: dict[cst.Call, cst.FunctionDef | None] = {}  # call -> the function it is in

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._clock += 1
        scopes = self.context.scopes
        parent = scopes[-2] if len(scopes) >= 2 else None
        name = node.name.value
        if isinstance(parent, cst.ClassDef):
            return
        self._callables.setdefault(name, node)
        if parent is None:
            self._module_functions[name] = node
        self._definitions.setdefault(name, []).append(self._clock)
        self._functions[node] = self._clock

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        is_lambda = isinstance(value, cst.Lambda)
        if not (is_lambda or self.callee(value, PARTIAL)):
            return
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                name = target.target.value
                self._callables.setdefault(name, value if is_lambda else None)
                if is_lambda and not self.context.scopes:
                    self._module_functions[name] = value

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name):
            self._clock += 1
            self._calls.setdefault(node.func.value, []).append((self._clock, node))
            self._caller[node] = self.context.enclosing(cst.FunctionDef)

    def leave_Module(self, node: cst.Module) -> None:
        for function, time in self._functions.items():
            self._check(time, function)

    # Analysis ------------------------------------------------------------------------------

    def _check(self, time: int, function: cst.FunctionDef) -> None:
        if not self._plain(function) or _stub(function.body):
            return
        params = function.params
        ordered = [*params.posonly_params, *params.params]
        candidates = [
            (index, param)
            for index, param in enumerate(ordered)
            if callable_parameter_name(param.name.value)
        ]
        candidates += [(None, param) for param in params.kwonly_params if callable_parameter_name(param.name.value)]
        if not candidates:
            return
        used = referenced_names(function.body)
        unused = [(i, p) for i, p in candidates if p.name.value not in used]
        if not unused or used & _INTROSPECTION:
            return
        calls = self._calls_of(function.name.value, time)
        if not calls:
            return
        body_calls = self._global_calls(function)
        taken: set[str] = set()
        findings = []
        for index, param in unused:
            passed = [
                function
                for call in calls
                if (value := argument(call, param.name.value, index)) is not None
                for function in self._functions_passed(value, call, 0)
            ]
            if not passed:
                continue
            findings.append((param, passed))
        for param, passed in findings:
            used_global = self._replacement(param, passed, body_calls, taken)
            name = function.name.value
            if used_global is not None:
                taken.add(used_global)
                self.report(param.name, statement=function, function=name, param=param.name.value, used=used_global)
            else:
                self.report(
                    param.name,
                    self.warning_message,
                    statement=function,
                    severity=Severity.WARNING,
                    function=name,
                    param=param.name.value,
                )

    def _plain(self, function: cst.FunctionDef) -> bool:
        """No decorator other than a compiler: a wrapper or registration keeps its signature."""
        for decorator in function.decorators:
            expr = decorator.decorator
            if isinstance(expr, cst.Call):
                expr = expr.func
            if not (self.qualified_names(expr) & TRANSPARENT_DECORATORS):
                return False
        return True

    def _calls_of(self, name: str, time: int) -> list[cst.Call]:
        """Calls of `name` that reach this definition: those after it and before the next one
        of the same name (calls before the first definition go to the first)."""
        times = self._definitions.get(name, [time])
        later = [t for t in times if t > time]
        end = later[0] if later else float("inf")
        start = time if time != times[0] else float("-inf")
        return [call for at, call in self._calls.get(name, ()) if start < at < end]

    def _functions_passed(self, value: cst.BaseExpression, call: cst.Call, depth: int) -> list[cst.BaseExpression]:
        """The functions `value` (an argument of `call`) holds: itself, or, when it is a
        parameter of the module function the call is in, what that function's callers pass
        there (`plot(f, df)` forwarding `df` to `ascend(f, df)`), a few calls deep."""
        if self._is_function(value):
            return [value]
        caller = self._caller.get(call)
        if not isinstance(value, cst.Name) or depth >= _MAX_FORWARDS or caller is None:
            return []
        if self._module_functions.get(caller.name.value) is not caller:
            return []
        ordered = [p.name.value for p in (*caller.params.posonly_params, *caller.params.params)]
        keyword = {p.name.value for p in caller.params.kwonly_params}
        if value.value not in ordered and value.value not in keyword:
            return []
        index = ordered.index(value.value) if value.value in ordered else None
        return [
            function
            for outer in self._calls_of(caller.name.value, self._functions[caller])
            if (passed := argument(outer, value.value, index)) is not None
            for function in self._functions_passed(passed, outer, depth + 1)
        ]

    def _is_function(self, value: cst.BaseExpression) -> bool:
        if isinstance(value, cst.Lambda):
            return True
        if isinstance(value, cst.Name):
            return value.value in self._callables and not self.context.names.is_module(value)
        if isinstance(value, cst.Call):
            return self.callee(value, PARTIAL) is not None
        return False

    def _global_calls(self, function: cst.FunctionDef) -> dict[str, set[int]]:
        """Module-level functions of this file that the body calls, with the argument counts."""
        found: dict[str, set[int]] = {}
        own = function.name.value
        params = function.params
        shadowed = {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
        for node in own_nodes(function.body):
            if not isinstance(node, cst.Call):
                continue
            # Called (`grad_J(x)`), or handed to a transformation (`jax.grad(J)`).
            if isinstance(node.func, cst.Name):
                name = node.func.value
                if name != own and name not in shadowed and name in self._module_functions:
                    found.setdefault(name, set()).add(len(positional(node)))
            for arg in node.args:
                value = arg.value
                if isinstance(value, cst.Name) and value.value != own and value.value not in shadowed:
                    held = self._module_functions.get(value.value)
                    if held is not None:
                        found.setdefault(value.value, set()).add(_arity(held.params))
        return found

    def _replacement(self, param: cst.Param, passed: list, body_calls: dict[str, set[int]], taken: set[str]) -> str | None:
        """The global function called where `param` should be, when the evidence says which."""
        body_calls = {name: counts for name, counts in body_calls.items() if name not in taken}
        if not body_calls:
            return None
        for value in passed:  # a caller passes the very function the body calls
            if isinstance(value, cst.Name) and value.value in body_calls:
                return value.value
        arities = set()
        for value in passed:
            target = value if isinstance(value, cst.Lambda) else None
            if isinstance(value, cst.Name):
                held = self._callables.get(value.value)
                target = held if isinstance(held, (cst.Lambda, cst.FunctionDef)) else None
            if target is not None:
                arities.add(_arity(target.params))
        matching = [name for name, counts in body_calls.items() if counts & arities]
        if len(matching) > 1:  # `f` -> `J`, `fprime` -> `grad_J`
            kind = _gradient_like(param.name.value)
            matching = [name for name in matching if _gradient_like(name) == kind]
        return matching[0] if len(matching) == 1 else None


_GRADIENT_WORDS = re.compile(r"grad|jac|deriv|prime|hess|^d[A-Z_]|^df", re.I)


def _gradient_like(name: str) -> bool:
    """`grad_f`, `fprime`, `jac`, `dJ`, `df`: a name for a derivative rather than a value."""
    return bool(_GRADIENT_WORDS.search(name))


def _arity(params: cst.Parameters) -> int:
    """Required positional parameters."""
    return sum(1 for p in (*params.posonly_params, *params.params) if p.default is None)


def _stub(body: cst.BaseSuite) -> bool:
    """`...`, `pass`, a docstring, `raise NotImplementedError`, or any mix of them."""
    statements = body.body if isinstance(body, cst.IndentedBlock) else [body]
    for statement in statements:
        smalls = statement.body if isinstance(statement, (cst.SimpleStatementLine, cst.SimpleStatementSuite)) else None
        if smalls is None:
            return False
        for small in smalls:
            if isinstance(small, cst.Pass):
                continue
            if isinstance(small, cst.Expr) and isinstance(
                small.value, (cst.Ellipsis, cst.SimpleString, cst.ConcatenatedString)
            ):
                continue
            if isinstance(small, cst.Raise):
                continue
            return False
    return True

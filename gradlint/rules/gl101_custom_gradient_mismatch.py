from __future__ import annotations

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.names import dotted
from gradlint.engine.syntax import argument as argument_value
from gradlint.rule import Rule, Severity

TORCH_FUNCTION = api_table("custom_gradients_torch_function")
TF_CUSTOM_GRADIENT = api_table("custom_gradients_tensorflow")
JAX_CUSTOM = api_table("custom_gradients_jax")
PARTIAL = api_table("custom_gradients_partial")
SCIPY_GRADIENT = api_table("custom_gradients_scipy")
OBJECTIVE_KEYWORDS = ("fun", "func", "f")


class CustomGradientMismatch(Rule):
    """
    ## What it does
    Checks that a hand-written gradient is the derivative of the function it belongs to, by
    evaluating both. This rule runs only under `gradlint --dynamic`: statically it finds the
    candidates, and a finding is reported only when the check confirms it.

    The candidates are `torch.autograd.Function` subclasses with a `forward` and a
    `backward`, functions decorated with `@tf.custom_gradient`, `jax.custom_vjp` and
    `jax.custom_jvp` functions whose rule is attached with `defvjp` / `defjvp`, and
    objectives handed to `scipy.optimize` together with a gradient: `minimize(fun, x0,
    jac=True)` where `fun` returns `(cost, grad)`, `minimize(fun, x0, jac=grad_fn)`, and the
    `fprime` of the `fmin_*` routines (the function the call names is reported when it is
    defined in the same file).

    The check evaluates the custom gradient at a few seeded random points (for scipy, at
    `x0` when it can be evaluated) in float64 and compares it with central differences
    (step 6e-6), with the tolerances of `torch.autograd.gradcheck` (atol 1e-5, rtol 1e-3).
    Framework gradients are weighted by a random upstream gradient, so a `backward` that
    forgets to multiply by `grad_output` is caught too.

    ## Why is this bad?
    Nothing compares a hand-written gradient with its function. A wrong sign, a missing
    factor, a transposed matrix or a gradient computed at the wrong point trains slowly, to
    the wrong place, or not at all; scipy's line searches stop with
    `ABNORMAL_TERMINATION_IN_LNSRCH` after 0 iterations.

    ## Example
    ```python
    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return 3 * x ** 2  # the upstream gradient is dropped
    ```

    Use instead:
    ```python
        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return grad_output * 3 * x ** 2
    ```

    ## Notes
    Inputs are float64 tensors of small shapes tried in order; a function that needs
    particular shapes or non-tensor arguments may stay inconclusive. Functions defined inside
    other functions are not reachable. A correct custom gradient is never reported.

    ## References
    - `torch.autograd.gradcheck`: the same comparison, with the same default tolerances.
    - scipy.optimize.minimize: with `jac=True`, `fun` returns the cost and its gradient.
    """

    code = "GL101"
    severity = Severity.ERROR
    message = "{gradient} is not the derivative of {value}: the hand-written gradient disagrees with finite differences"
    frameworks = ("torch", "tensorflow", "jax", "scipy")
    dynamic_only = True

    def __init__(self, context) -> None:
        super().__init__(context)
        # name -> (definition node, its statement), for functions and `name = lambda ...`.
        self.definitions: dict[str, tuple[cst.CSTNode, cst.CSTNode]] = {}
        self.jax_candidates: list[tuple[cst.FunctionDef, cst.CSTNode, str]] = []
        self.jax_registered: set[str] = set()
        self.scipy_uses: list[tuple[str, str, str]] = []  # (function name, gradient text, value text)

    # torch -----------------------------------------------------------------------------

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if not any(self.qualified_names(base.value) & TORCH_FUNCTION for base in node.bases):
            return
        methods = {s.name.value for s in node.body.body if isinstance(s, cst.FunctionDef)}
        if {"forward", "backward"} <= methods:
            name = node.name.value
            self.report(node.name, gradient=f"`{name}.backward`", value=f"`{name}.forward`", statement=node)

    # TensorFlow and JAX decorators -------------------------------------------------------

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.definitions.setdefault(node.name.value, (node, node))
        name = node.name.value
        for decorator in node.decorators:
            expression = decorator.decorator
            registered = _registration(expression)
            if registered is not None:
                self.jax_registered.add(registered)
                continue
            if isinstance(expression, cst.Call):
                if self.callee(expression, PARTIAL) and expression.args:
                    expression = expression.args[0].value
                else:
                    expression = expression.func
            names = self.qualified_names(expression)
            if names & TF_CUSTOM_GRADIENT:
                self.report(node.name, gradient=f"the gradient function `{name}` returns", value=f"`{name}`",
                            statement=node)
            elif names & JAX_CUSTOM:
                kind = "defjvp" if any(n.endswith("custom_jvp") for n in names) else "defvjp"
                self.jax_candidates.append((node, node, kind))

    def visit_Call(self, node: cst.Call) -> None:
        registered = _registration(node.func)
        if registered is not None:
            self.jax_registered.add(registered)
            return
        optimizer = self.callee(node, SCIPY_GRADIENT)
        if optimizer is not None:
            self._scipy_call(node, SCIPY_GRADIENT.info[optimizer])

    def visit_Assign(self, node: cst.Assign) -> None:
        if isinstance(node.value, cst.Lambda):
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    self.definitions.setdefault(target.target.value, (node.value, self.context.current_statement()))

    # scipy -----------------------------------------------------------------------------

    def _scipy_call(self, call: cst.Call, info: dict) -> None:
        objective = argument_value(call, OBJECTIVE_KEYWORDS, 0)
        gradient = argument_value(call, info["gradient"], info["position"])
        combined = info["combined"]
        if combined == "true" and _is_true(gradient):
            if isinstance(objective, cst.Name):
                name = objective.value
                self.scipy_uses.append((name, f"the gradient `{name}` returns", "its cost"))
            elif isinstance(objective, cst.Lambda):
                self.report(objective, gradient="the gradient this lambda returns", value="its cost")
            return
        if combined == "absent" and gradient is None and not _is_true(argument_value(call, "approx_grad", 4)):
            if isinstance(objective, cst.Name):
                name = objective.value
                self.scipy_uses.append((name, f"the gradient `{name}` returns", "its cost"))
            return
        if isinstance(gradient, cst.Name) and objective is not None:
            self.scipy_uses.append((gradient.value, f"`{gradient.value}`", f"`{self.source(objective)}`"))

    def leave_Module(self, node: cst.Module) -> None:
        for function, statement, kind in self.jax_candidates:
            name = function.name.value
            if name in self.jax_registered:
                self.report(function.name, gradient=f"the `{kind}` rule of `{name}`", value=f"`{name}`",
                            statement=statement)
        reported: set[str] = set()
        for name, gradient, value in self.scipy_uses:
            if name in reported or name not in self.definitions:
                continue
            reported.add(name)
            definition, statement = self.definitions[name]
            target = definition.name if isinstance(definition, cst.FunctionDef) else definition
            self.report(target, gradient=gradient, value=value, statement=statement)


def _registration(expression: cst.BaseExpression) -> str | None:
    """`f.defvjp` / `f.defjvp` (called or used as a decorator): `f`."""
    if isinstance(expression, cst.Attribute) and expression.attr.value in JAX_CUSTOM.methods:
        return dotted(expression.value)
    return None


def _is_true(node: cst.BaseExpression | None) -> bool:
    if isinstance(node, cst.Name):
        return node.value == "True"
    return isinstance(node, cst.Integer) and node.value not in ("0", "0x0")

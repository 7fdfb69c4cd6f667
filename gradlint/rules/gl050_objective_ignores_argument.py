from __future__ import annotations

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.names import referenced_names
from gradlint.engine.syntax import argument as argument_value
from gradlint.engine.walker import iter_tree
from gradlint.rule import Fix, Rule, Severity

SCIPY_OBJECTIVE = api_table("scipy_objective")
OBJECTIVE_KEYWORDS = ("fun", "func", "f")


class ObjectiveIgnoresArgument(Rule):
    """
    ## What it does
    Checks for a function handed to a `scipy.optimize` routine (`minimize`,
    `minimize_scalar`, `least_squares`, `root`, the `fmin*` family, `basinhopping`,
    `differential_evolution`, ...) whose body never uses its first parameter, the point the
    optimiser is moving. A lambda or function assigned to a name and passed later is
    followed to its definition.

    ## Why is this bad?
    The optimiser varies `x`, but the objective computes the same value from some other
    variable, so every finite difference and every gradient is zero. Every method then
    reports success and returns the starting point unchanged: BFGS, L-BFGS-B, CG, TNC,
    SLSQP and trust-constr stop after 0 or 1 iterations with `success=True`, Nelder-Mead and
    Powell after a few. Nothing warns.

    ## Example
    ```python
    J = lambda x: autoencoder_cost_and_grad(theta, visible_size, hidden_size, lambda_, data)
    result = scipy.optimize.minimize(J, theta, method="L-BFGS-B", jac=True)
    ```

    Use instead:
    ```python
    J = lambda x: autoencoder_cost_and_grad(x, visible_size, hidden_size, lambda_, data)
    ```

    ## Notes
    Only functions defined in the same file are followed; a parameter used anywhere in the
    body, nested functions included, counts as used. Bound methods are not checked. A call
    with `constraints=` is not checked: a constant objective under constraints asks for any
    feasible point, and SLSQP or trust-constr iterate until the constraints hold.

    ## References
    - scipy.optimize.minimize: the objective is `fun(x, *args) -> float`.
    """

    code = "GL050"
    severity = Severity.ERROR
    message = (
        "{objective} given to `{optimizer}` never uses its argument `{param}`: "
        "the optimiser sees a constant and returns x0"
    )
    frameworks = ("scipy",)
    fix_title = "read the parameter instead of the starting point it captured"

    def __init__(self, context) -> None:
        super().__init__(context)
        # Per scope (by id of its node; 0 for the module): name -> (function, its statement).
        self.callables: dict[int, dict[str, tuple[cst.Lambda | cst.FunctionDef, cst.CSTNode] | None]] = {}

    def _scope_key(self, depth: int = 1) -> int:
        scopes = self.context.scopes
        return id(scopes[-depth]) if len(scopes) >= depth else 0

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        # The walk has already pushed this function: its name lives in the scope around it.
        self.callables.setdefault(self._scope_key(2), {})[node.name.value] = (node, node)

    def visit_Assign(self, node: cst.Assign) -> None:
        statement = self.context.current_statement()
        held = (node.value, statement) if isinstance(node.value, cst.Lambda) else None
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                self.callables.setdefault(self._scope_key(), {})[target.target.value] = held

    def visit_Call(self, node: cst.Call) -> None:
        optimizer = self.callee(node, SCIPY_OBJECTIVE)
        if optimizer is None:
            return
        constraints = argument_value(node, "constraints")
        if constraints is not None and not (isinstance(constraints, cst.Name) and constraints.value == "None"):
            return  # a constant objective under constraints is a feasibility problem: it iterates
        argument = argument_value(node, OBJECTIVE_KEYWORDS, 0)
        definition = self._definition(argument) if argument is not None else None
        if definition is None:
            return
        function, statement = definition
        param = _first_parameter(function.params)
        if param is None or param in referenced_names(function.body):
            return
        self.report(
            function if isinstance(function, cst.Lambda) else function.name,
            objective=f"`{argument.value}`" if isinstance(argument, cst.Name) else "the lambda",
            optimizer=self.source(node.func),
            param=param,
            statement=statement,
            fix=_use_parameter(function, param, argument_value(node, "x0", 1)),
        )

    def _definition(self, argument: cst.BaseExpression) -> tuple | None:
        if isinstance(argument, cst.Lambda):
            return argument, self.context.current_statement()
        if not isinstance(argument, cst.Name):
            return None
        keys = [id(scope) for scope in reversed(self.context.scopes)] + [0]
        for key in keys:
            held = self.callables.get(key, {})
            if argument.value in held:
                return held[argument.value]
        return None


def _use_parameter(function, param: str, start: cst.BaseExpression | None) -> Fix | None:
    """Read the parameter where the body reads the optimiser's starting point (`x0`)."""
    if not isinstance(start, cst.Name) or param == start.value:
        return None
    captured = start.value
    reads = []
    for node in iter_tree(function.body):
        if isinstance(node, (cst.Lambda, cst.FunctionDef, cst.ClassDef, cst.Assign, cst.AugAssign, cst.For)):
            return None  # a nested scope or a rebinding: renaming is no longer obviously right
        if isinstance(node, cst.Name) and node.value == captured:
            reads.append(node)
    reads = [name for name in reads if name not in _non_reads(function.body)]
    if not reads:
        return None
    renamed = function.visit(_Rename(set(reads), param))
    return Fix(function, renamed)


def _non_reads(body: cst.CSTNode) -> set[cst.Name]:
    """Names that are attribute names or keywords, not variables."""
    found: set[cst.Name] = set()
    for node in iter_tree(body):
        if isinstance(node, cst.Attribute):
            found.add(node.attr)
        elif isinstance(node, cst.Arg) and node.keyword is not None:
            found.add(node.keyword)
    return found


class _Rename(cst.CSTTransformer):
    def __init__(self, targets: set[cst.Name], new: str) -> None:
        super().__init__()
        self.targets = targets
        self.new = new

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        return updated_node.with_changes(value=self.new) if original_node in self.targets else updated_node


def _first_parameter(params: cst.Parameters) -> str | None:
    ordered = [*params.posonly_params, *params.params]
    if ordered:
        return ordered[0].name.value
    if isinstance(params.star_arg, cst.Param):
        return params.star_arg.name.value
    return None


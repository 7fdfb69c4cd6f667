"""Which functions and classes a module uses as a loss, whatever their names say.

A name such as `rmse` or `root_mean_squared_error` reads as a metric, and metrics are not
differentiated; but `model.compile(loss=root_mean_squared_error)` trains on it. The module
says so, and that outranks the name. A function or class of the module is used as a loss
when the module

- gives it to a transform that differentiates it (`jax.grad(f)`, `jax.value_and_grad(f)`,
  `torch.func.grad(f)`) or decorates it with one;
- passes it as the loss of `compile` (`loss=f`, `loss=[f, ...]`, `loss={"out": f}`, `loss=F()`,
  or a lambda calling it) or as the objective of `minimize`;
- binds the result of calling it to a name that reads as a loss (`loss = rmse(p, y)`,
  `total_loss += rmse(p, y)`, `self.criterion = RMSE()`; not `val_loss`), returns it from a
  function that reads as a loss, or differentiates it directly (`rmse(p, y).backward()`);

outside functions named like evaluation or tests and outside `no_grad` blocks.

A module that imports the function by name (`from .metrics import rmse`) and uses it so makes
it a loss too: `ModuleModel.used_as_loss` asks the modules of the project that mention it
(`ProjectIndex.users`).
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.gradients import grad_disabled_block, is_test_function, name_words, named_like_evaluation, named_like_loss
from gradlint.engine.syntax import argument
from gradlint.engine.walker import iter_children, iter_tree

GRAD_TRANSFORMS = api_table("semantic_grad_transforms")
SINK = api_table("semantic_gradient_sink")
_EVALUATION_WORDS = frozenset({"val", "valid", "validation", "test", "eval", "evaluation", "dev"})


def losses_used(model) -> frozenset[str]:
    """The names (of functions and classes, the module's own or imported, and `module.name` for
    a function of an imported module) that the module uses as a loss."""
    names = model.names
    found: set[str] = set()

    def called_in(node: cst.CSTNode | None) -> None:
        if node is None:
            return
        for inner in iter_tree(node):
            if isinstance(inner, cst.Call):
                named(inner.func)

    def named(value: cst.BaseExpression) -> None:
        """`rmse`, or `metrics.rmse` (a function of a module: recorded as its dotted name)."""
        if isinstance(value, cst.Name):
            found.add(value.value)
        elif isinstance(value, cst.Attribute) and isinstance(value.value, cst.Name):
            found.add(f"{value.value.value}.{value.attr.value}")

    def given(value: cst.BaseExpression | None) -> None:
        if isinstance(value, (cst.Name, cst.Attribute)):
            named(value)
        elif isinstance(value, (cst.Call, cst.Lambda)):
            called_in(value)

    for node in _training_code(model.module, names):
        if isinstance(node, cst.Call):
            method = names.method(node)
            if names.qualified_names(node.func) & GRAD_TRANSFORMS:
                given(argument(node, ("fun", "func", "f"), 0))
            elif method == "compile":
                for loss in compiled_losses(node):
                    given(loss)
            elif method == "minimize":
                given(argument(node, "loss", 0))
            elif method in SINK.methods and isinstance(node.func, cst.Attribute):
                called_in(node.func.value)  # `rmse(p, y).backward()`
            elif names.qualified_names(node.func) & SINK:
                called_in(node.args[0].value if node.args else None)
        elif isinstance(node, cst.FunctionDef):
            for decorator in node.decorators:
                expr = decorator.decorator
                if names.qualified_names(expr.func if isinstance(expr, cst.Call) else expr) & GRAD_TRANSFORMS:
                    found.add(node.name.value)
            if named_like_loss(node.name.value):
                for statement in iter_tree(node.body):
                    if isinstance(statement, cst.Return):
                        called_in(statement.value)
        elif isinstance(node, (cst.Assign, cst.AugAssign, cst.AnnAssign)):
            targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            if any(_loss_target(target) for target in targets):
                called_in(node.value)
    return frozenset(found)


def _training_code(module: cst.Module, names) -> Iterator[cst.CSTNode]:
    """The module's nodes, without the bodies of functions named like evaluation or tests
    (`evaluate`, `test_rmse`) and of `with torch.no_grad():` blocks: a loss computed there
    (`val_loss = rmse(p, y)`) is measured, not trained on."""
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, cst.FunctionDef) and (named_like_evaluation(node.name.value) or is_test_function(node.name.value)):
            stack.extend(reversed(node.decorators))
            continue
        if isinstance(node, cst.With) and grad_disabled_block(node, names):
            continue
        stack.extend(reversed(iter_children(node)))


def compiled_losses(compile_call: cst.Call) -> list[cst.BaseExpression]:
    """The losses a Keras `compile` call is given: `loss=f`, each of `loss=[f, g]` and of
    `loss={"out": f}`."""
    given, found = [argument(compile_call, "loss")], []
    while given:
        value = given.pop()
        if isinstance(value, (cst.List, cst.Tuple)):
            given += [element.value for element in reversed(value.elements)]
        elif isinstance(value, cst.Dict):
            given += [element.value for element in reversed(value.elements) if isinstance(element, cst.DictElement)]
        elif value is not None:
            found.append(value)
    return found


def _loss_target(target: cst.BaseExpression) -> bool:
    """A name that reads as a training loss: `loss`, `total_loss`, `self.criterion`; not
    `val_loss` or `test_loss`."""
    if isinstance(target, (cst.Name, cst.Attribute)):
        name = target.value if isinstance(target, cst.Name) else target.attr.value
        return named_like_loss(name) and not set(name_words(name)) & _EVALUATION_WORDS
    if isinstance(target, (cst.Tuple, cst.List)):
        return any(_loss_target(element.value) for element in target.elements)
    return False

"""Where no gradient flows: tests, metrics, `no_grad` blocks, functions autograd never runs.

Rules about gradients stay quiet there; a NaN in a metric or a test's expected value harms
no training run. Every question is answered from the walk's current position
(`context.scopes`, `context.statements`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import PurePath

import libcst as cst

from gradlint.data import api_table
from gradlint.engine.names import dotted
from gradlint.engine.syntax import is_constant

STOP_GRADIENT = api_table("stop_gradient")
NO_GRAD_CONTEXT = api_table("no_grad_context")
NO_AUTOGRAD_DECORATORS = api_table("no_autograd_decorators")
NO_GRADIENT_PATHS = api_table("no_gradient_paths")
CUSTOM_GRADIENT_BASES = api_table("custom_gradient_bases")

# Enclosing functions and classes whose results are not differentiated ...
_NOT_DIFFERENTIATED = re.compile(
    r"metric|accuracy|update_state|^result$|evaluat|^eval_|_eval$|_score$|_error$|rmse", re.I
)
# ... unless the name also says it is a training objective.
_OBJECTIVE = re.compile(r"loss|objective|criterion|penalty", re.I)
# Tests compute expected values; they do not train.
_TEST_FUNCTION = re.compile(r"^test_|^assert", re.I)
_TEST_CLASS = re.compile(r"^Test|Tests?$|TestCase$")
_TEST_FILE = re.compile(r"^(test_.*|.*_test|conftest)\.py$")


# The words of an identifier: `computeLoss` and `compute_loss` are ["compute", "loss"].
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
LOSS_WORDS = frozenset({"loss", "losses", "cost", "criterion", "crossentropy", "hinge", "nll", "objective"})
# One word made of a short prefix and "loss": `dloss`, `gloss`, `celoss`, `bceloss`.
_COMPOUND_LOSS = re.compile(r"[a-z]{1,4}loss(?:es)?")
# `loss_scale`, `loss_history`, `LossScaleOptimizer`: named after a loss, but not one.
_NOT_A_LOSS_AFTER = frozenset({
    "scale", "scaling", "scaler", "weight", "weights", "mask", "masks", "schedule", "scheduler", "factor",
    "coef", "coeff", "ratio", "name", "names", "key", "keys", "history", "tracker", "log", "logger",
    "count", "counts", "index", "step", "steps", "meter", "avg", "average", "value", "values", "item",
    "items", "list", "dict", "hist", "str", "print", "plot", "record", "records", "running", "total",
    "sum", "type", "types", "config", "cfg", "landscape",
})
_NOT_A_LOSS_BEFORE = frozenset({"log", "print", "plot", "record", "running"})


def name_words(name: str) -> list[str]:
    """The lower-case words of an identifier, split at underscores, case changes and digits."""
    return [word.lower() for word in _WORD.findall(name)]


def named_like_loss(name: str) -> bool:
    """`my_loss`, `compute_loss`, `DiceLoss`, `criterion`, `calc_dloss`: yes. `loss_scale`, `log_loss_value`,
    `running_loss`: no. The one definition of a loss by its name."""
    words = name_words(name)
    for index, word in enumerate(words):
        if word in LOSS_WORDS or _COMPOUND_LOSS.fullmatch(word):
            following = words[index + 1] if index + 1 < len(words) else None
            previous = words[index - 1] if index else None
            if following not in _NOT_A_LOSS_AFTER and previous not in _NOT_A_LOSS_BEFORE:
                return True
    return False


def named_like_evaluation(name: str) -> bool:
    """`rmse`, `compute_metrics`, `evaluate`, `val_score`: named like code that measures rather
    than trains (a name that also reads as an objective does not count)."""
    return bool(_NOT_DIFFERENTIATED.search(name)) and not _OBJECTIVE.search(name)


def is_test_function(name: str) -> bool:
    """`test_*` and `assert*` functions compute expected values; they do not train."""
    return bool(_TEST_FUNCTION.search(name))


def is_test_file(filename: str) -> bool:
    return bool(_TEST_FILE.match(filename))


@lru_cache(maxsize=256)
def in_test_tree(path: str) -> bool:
    """A file under a `test`, `tests` or `testing` folder: reference values, not training code."""
    return any(part in ("test", "tests", "testing") for part in PurePath(path).parts[:-1])


@lru_cache(maxsize=256)  # asked for every candidate finding of a file
def no_gradient_path(path: str) -> bool:
    """A file in an optimiser, quantiser or below-autograd package (`NO_GRADIENT_PATHS`)."""
    parts = PurePath(path).parts
    return any(part in NO_GRADIENT_PATHS for part in (*parts[:-1], PurePath(path).stem))


@lru_cache(maxsize=256)  # asked for every candidate finding of a file
def undifferentiated_file(path: str) -> bool:
    """A file no gradient goes through as a whole: a test file, a file under a tests folder, an
    optimiser, quantiser or below-autograd package."""
    return is_test_file(PurePath(path).name) or in_test_tree(path) or no_gradient_path(path)


def not_differentiated(context, names=None, node: cst.CSTNode | None = None) -> bool:
    """True when the walk is in code whose values no gradient goes through: a test file or
    a file under a tests folder, an optimiser or quantiser package, a test function or class,
    a `torch.autograd.Function` (its backward is written by hand), a metric (named like one, unless
    the project uses it as a loss), a `Metric` or `Constraint` subclass, a `no_grad` / `inference_mode`
    block or decorated function, a torch decomposition; or, given `node`, when no path of its
    value reaches a place where a gradient is taken (the semantic model's `reaches_gradient`)."""
    names = names or context.names
    if undifferentiated_file(context.path):
        return True
    for scope in context.scopes:
        if isinstance(scope, cst.Lambda):
            continue
        name = scope.name.value
        if named_like_evaluation(name) and not context.semantic.used_as_loss(name):
            return True
        if isinstance(scope, cst.ClassDef):
            if _TEST_CLASS.search(name):
                return True
            if any(names.qualified_names(base.value) & CUSTOM_GRADIENT_BASES for base in scope.bases):
                return True
            for base in scope.bases:
                base_name = dotted(base.value)
                # Metrics, and weight constraints (Keras applies them after the update, outside autodiff).
                if base_name is not None and base_name.endswith(("Metric", "Constraint")):
                    return True
        else:
            if is_test_function(name):
                return True
            for decorator in scope.decorators:
                expr = decorator.decorator
                if isinstance(expr, cst.Call):
                    expr = expr.func
                if names.qualified_names(expr) & NO_AUTOGRAD_DECORATORS:
                    return True
    if any(isinstance(statement, cst.With) and grad_disabled_block(statement, names) for statement in context.statements):
        return True
    # Last: the only question that follows values through the module.
    return node is not None and not context.semantic.reaches_gradient(node)


def grad_disabled_block(statement: cst.With, names) -> bool:
    """`with torch.no_grad():`, `inference_mode()`, `set_grad_enabled(False)`."""
    return any(isinstance(item.item, cst.Call) and grad_disabled(item.item, names) for item in statement.items)


def grad_disabled(call: cst.Call, names) -> bool:
    qualified = names.qualified_names(call.func)
    if qualified & NO_GRAD_CONTEXT:
        return True
    if "torch.set_grad_enabled" in qualified:
        return bool(call.args) and is_constant(call.args[0].value, False)
    return False

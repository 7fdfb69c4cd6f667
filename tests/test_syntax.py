"""The shared syntax and no-gradient helpers that rules build on."""

import libcst as cst
import pytest

from gradlint.engine.context import FileContext
from gradlint.engine.gradients import not_differentiated
from gradlint.engine.syntax import argument, bindings, number, own_nodes, passed_arguments, positional, string


def expr(code: str) -> cst.BaseExpression:
    return cst.parse_expression(code)


def test_argument_by_keyword_or_position():
    call = expr("f(a, b, axis=-1)")
    assert isinstance(argument(call, "x", 1), cst.Name) and argument(call, "x", 1).value == "b"
    assert number(argument(call, "axis", 2)) == -1
    assert argument(call, "missing") is None
    assert argument(expr("f(*xs, y)"), "y", 0) is None  # position unknown after *args
    assert [n.value for n in positional(expr("f(a, b, *c, d)"))] == ["a", "b"]


@pytest.mark.parametrize(
    "code, value",
    [("0.5", 0.5), ("1/2", 0.5), ("-.5", -0.5), ("1e-8", 1e-8), ("2**-3", 0.125), ("x", None), ("1/0", None)],
)
def test_number(code, value):
    assert number(expr(code)) == value


def test_string():
    assert string(expr("'softmax'")) == "softmax"
    assert string(expr("f'{x}'")) is None


def test_bindings_stay_in_the_function():
    module = cst.parse_module(
        "def f(x):\n"
        "    a, b = x + 1, x - 1\n"
        "    c: int = 3\n"
        "    if (d := a * 2):\n"
        "        pass\n"
        "    def g():\n"
        "        e = 1\n"
        "    h = lambda: (z := 1)\n"
    )
    function = module.body[0]
    found = bindings(function)
    assert sorted(found) == ["a", "b", "c", "d", "h"]
    assert cst.Module([]).code_for_node(found["b"][0]) == "x - 1"
    assert not any(isinstance(node, cst.Name) and node.value == "e" for node in own_nodes(function.body))


def _context_at(code: str, filename: str = "model.py") -> FileContext:
    """A context positioned at the innermost function of `code`, as the walk would be."""
    module = cst.parse_module(code)
    context = FileContext(filename, code, module)
    node = module
    while True:
        inner = next((n for n in own_nodes(node) if isinstance(n, (cst.FunctionDef, cst.ClassDef, cst.With))), None)
        if inner is None:
            return context
        if isinstance(inner, cst.With):
            context.statements.append(inner)
        else:
            context.scopes.append(inner)
        node = inner.body


@pytest.mark.parametrize(
    "code, filename, expected",
    [
        ("import torch\ndef loss(x):\n    pass\n", "model.py", False),
        ("import torch\ndef loss(x):\n    pass\n", "test_model.py", True),
        ("import torch\ndef loss(x):\n    pass\n", "pkg/tests/model.py", True),
        ("import torch\ndef loss(x):\n    pass\n", "pkg/testing/_internal/ref.py", True),
        ("import torch\ndef loss(x):\n    pass\n", "pkg/contest/model.py", False),
        ("import torch\ndef update(x):\n    pass\n", "keras/src/optimizers/lamb.py", True),
        ("import torch\ndef update(x):\n    pass\n", "jax/example_libraries/optimizers.py", True),
        ("import torch\ndef sgn(x):\n    pass\n", "torch/_refs/__init__.py", True),
        ("import torch\nclass XSoftmax(torch.autograd.Function):\n    def forward(ctx, x):\n        pass\n", "m.py", True),
        ("import torch\nclass MeanIoUMetric:\n    def update(self):\n        pass\n", "m.py", True),
        ("import torch\ndef metric_loss(x):\n    pass\n", "m.py", False),
        ("import torch\n@torch.no_grad()\ndef sample(x):\n    pass\n", "m.py", True),
        ("import torch\ndef f(x):\n    with torch.no_grad():\n        pass\n", "m.py", True),
        ("import torch\ndef f(x):\n    with torch.set_grad_enabled(False):\n        pass\n", "m.py", True),
        ("import torch\ndef f(x):\n    with torch.set_grad_enabled(True):\n        pass\n", "m.py", False),
    ],
)
def test_not_differentiated(code, filename, expected):
    assert not_differentiated(_context_at(code, filename)) is expected


def test_bindings_read_only_statements_unless_the_file_has_a_walrus():
    from gradlint.engine.syntax import forget_file

    source = (
        "def f(x):\n    a = 1\n    if x:\n        b: int = 2\n    else:\n        c = 3\n"
        "    for i in x:\n        d = 4\n    with x:\n        e = 5\n    try:\n        g = 6\n"
        "    except E:\n        k = 7\n    match x:\n        case 1:\n            m = 8\n"
    )
    function = cst.parse_module(source).body[0]
    forget_file(source)
    fast = sorted(bindings(function))
    forget_file(None)  # as for a file with a walrus: every expression is searched
    assert fast == sorted(bindings(function)) == ["a", "b", "c", "d", "e", "g", "k", "m"]
    walrus = "def f(x):\n    if (n := len(x)):\n        pass\n"
    forget_file(walrus)
    assert sorted(bindings(cst.parse_module(walrus).body[0])) == ["n"]


def test_passed_arguments_give_each_parameter_its_argument_or_default():
    function = cst.parse_module("def f(a, /, b, c=3, *, d, e=5): pass\n").body[0]
    call = cst.parse_expression("f(1, 2, d=4)")
    found = {name: None if value is None else cst.Module([]).code_for_node(value) for name, value in passed_arguments(function, call).items()}
    assert found == {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"}
    assert passed_arguments(function, cst.parse_expression("f(*xs)"))["b"] is None  # after `*args`, positions are unknown

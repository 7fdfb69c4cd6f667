"""GL053 optimizer-ignores-objective: evidence from callers, severities and exemptions."""

import textwrap

from gradlint import lint_source


def findings(source: str):
    return lint_source(textwrap.dedent(source), select=["GL053"])


OPTIMIZER = """
import numpy as np

def J(x):
    return x ** 2

def grad_J(x):
    return 2 * x

def descend(f, grad, x0, lr=0.1):
    for _ in range(10):
        x0 = x0 - lr * grad_J(x0)
    return x0, f(x0)
"""


def test_global_passed_by_a_caller_is_an_error():
    found = findings(OPTIMIZER + "descend(J, grad_J, 1.0)\n")
    assert [(f.line, f.severity) for f in found] == [(10, "error")]
    assert "`grad_J`" in found[0].message and "`grad`" in found[0].message


def test_same_arity_lambda_is_an_error():
    found = findings(OPTIMIZER + "descend(lambda x: x ** 4, lambda x: 4 * x ** 3, 1.0)\n")
    assert [f.severity for f in found] == ["error"]


def test_keyword_and_partial_count_as_evidence():
    source = OPTIMIZER + "import functools\ndescend(f=J, grad=functools.partial(grad_J), x0=1.0)\n"
    assert len(findings(source)) == 1


def test_a_function_forwarded_through_a_caller_s_parameter_counts_as_evidence():
    forwarding = "def plot(f, grad, start):\n    return descend(f, grad, start)\n\n"
    found = findings(OPTIMIZER + forwarding + "plot(J, grad_J, 1.0)\n")
    assert [(f.line, f.severity) for f in found] == [(10, "error")]
    assert "`grad_J`" in found[0].message
    # Forwarded, but nothing callable comes in: quiet.
    assert findings(OPTIMIZER + forwarding + "plot(None, 3, 1.0)\n") == []


def test_no_callable_passed_is_quiet():
    assert findings(OPTIMIZER + "descend(None, 3, 1.0)\n") == []
    assert findings(OPTIMIZER) == []


def test_unused_without_replacement_is_a_warning():
    source = """
    import numpy as np

    def sgd(loss_fn, params, lr=0.01):
        return params - lr * np.sign(params)

    sgd(lambda p: (p ** 2).sum(), np.ones(3))
    """
    assert [f.severity for f in findings(source)] == ["warning"]


def test_underscore_decorated_and_methods_are_quiet():
    source = """
    import numpy as np
    import functools

    def J(x):
        return x ** 2

    def a(_f, x0):
        return J(x0)

    @functools.wraps(J)
    def b(f, x0):
        return J(x0)

    class Opt:
        def run(self, f, x0):
            return J(x0)

    a(J, 1.0)
    b(J, 1.0)
    Opt().run(J, 1.0)
    """
    assert findings(source) == []


def test_nested_use_counts_and_redefinition_is_followed():
    source = """
    import numpy as np

    def J(x):
        return x ** 2

    def descend(f, x0):
        def step(x):
            return x - 0.1 * f(x)
        return step(x0)

    descend(J, 1.0)

    def run(f, x0):
        return J(x0)

    def run(f, x0):
        return f(x0)

    run(J, 1.0)
    """
    assert findings(source) == []


def test_noqa_on_the_def_line():
    assert findings(OPTIMIZER.replace("lr=0.1):", "lr=0.1):  # noqa: GL053") + "descend(J, grad_J, 1.0)\n") == []

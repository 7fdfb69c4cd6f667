"""GL101 custom-gradient-mismatch: which hand-written gradients are candidates (statically)."""

import textwrap

from gradlint import lint_source
from gradlint.registry import default_codes, select_codes


def findings(source: str):
    return [f.line for f in lint_source(textwrap.dedent(source), select=["GL101"])]


def test_dynamic_only():
    assert "GL101" not in default_codes()
    assert "GL101" not in select_codes(["GL101"])
    assert "GL101" in select_codes(None, dynamic=True)


def test_torch_function_needs_backward():
    source = """
    import torch

    class A(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    class B(torch.nn.Module):
        def forward(self, x):
            return x

        def backward(self, g):
            return g
    """
    assert findings(source) == [4]


def test_jax_needs_a_registered_rule():
    source = """
    import jax

    @jax.custom_vjp
    def f(x):
        return x

    @jax.custom_jvp
    def g(x):
        return x

    f.defvjp(lambda x: (x, None), lambda r, t: (t,))
    """
    assert findings(source) == [5]


def test_scipy_combined_and_separate():
    source = """
    from scipy.optimize import minimize, fmin_l_bfgs_b, fmin_bfgs

    def both(x):
        return x @ x, 2 * x

    def value(x):
        return x @ x

    def slope(x):
        return 2 * x

    minimize(both, [1.0], jac=True)
    minimize(value, [1.0], jac=slope)
    fmin_bfgs(value, [1.0], slope)
    fmin_l_bfgs_b(both, [1.0])
    fmin_l_bfgs_b(value, [1.0], approx_grad=1)
    minimize(value, [1.0])
    minimize(imported_elsewhere, [1.0], jac=True)
    """
    assert findings(source) == [4, 10]

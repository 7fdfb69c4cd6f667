"""GL100 poor-finite-difference: step resolution, central/one-sided, comparisons."""

import textwrap

import pytest

from gradlint import lint_source


def findings(source: str):
    return lint_source(textwrap.dedent(source), select=["GL100"])


@pytest.mark.parametrize(
    "body, flagged",
    [
        ("return (f(x + h) - f(x - h)) / (2 * h)", False),
        ("return (f(x + h) - f(x)) / h", True),  # one-sided in a check function
        ("return (f(x + h) - f(x - h)) / (2.0 * h)", False),
        ("return (f(x + 0.5 * h) - f(x - 0.5 * h)) / h", False),
        ("return (f(x + 1e-4) - f(x - 1e-4)) / 2e-4", False),
        ("return (f(x + 0.01) - f(x - 0.01)) / 0.02", True),  # too large
        ("return (g(x + h) - f(x - h)) / (2 * h)", False),  # two functions: not a difference quotient
        ("return (x[1] - x[0]) / h", False),
    ],
)
def test_quotients(body, flagged):
    source = f"""
    import numpy as np

    def grad_check(f, g, x, h=1e-5):
        {body}
    """
    assert bool(findings(source)) == flagged


def test_one_sided_outside_a_check_is_quiet():
    source = """
    import numpy as np

    def descend(f, x, h=1e-6):
        return x - 0.1 * (f(x + h) - f(x)) / h
    """
    assert findings(source) == []


def test_step_from_a_caller():
    source = """
    import numpy as np

    def derivative(f, x, h):
        return (f(x + h) - f(x - h)) / (2 * h)

    def main():
        step = 0.05
        return derivative(np.sin, 0.3, step)
    """
    assert [f.line for f in findings(source)] == [5]


def test_step_from_machine_epsilon_is_quiet():
    source = """
    import numpy as np

    def check_derivative(f, x):
        h = np.finfo(float).eps ** (1 / 3) * max(1.0, abs(x))
        return (f(x + h) - f(x - h)) / (2 * h)
    """
    assert findings(source) == []


def test_relative_comparison_is_quiet_and_absolute_is_info():
    source = """
    import numpy as np

    def check(num_grad, grad):
        assert np.linalg.norm(num_grad - grad) / np.linalg.norm(grad) < 1e-7
        assert abs(num_grad - grad) < 1e-5
        assert np.allclose(num_grad, grad)
    """
    found = findings(source)
    assert [(f.line, f.severity) for f in found] == [(6, "info")]


def test_float32_marker_in_a_docstring_does_not_count():
    source = '''
    """Works in float32."""
    import numpy as np

    def grad_check(f, x, h=1e-5):
        return (f(x + h) - f(x - h)) / (2 * h)
    '''
    assert findings(source) == []
    assert len(findings(source.replace("import numpy as np", "import numpy as np\n    X = np.float32(1)"))) == 1


@pytest.mark.parametrize("write", ["v.ravel()[i] += eps", "v.flat[i] += eps", "v.reshape(-1)[i] += eps"])
def test_a_step_written_through_a_view_perturbs_the_array(write):
    source = f"""\
    import numpy as np

    class NumericGradient:
        def __init__(self, executor, v, eps=1e-4):
            executor.forward()
            f_x = executor.outputs[0].asnumpy()[0]
            self.grad = np.zeros(v.size)
            for i in range(v.size):
                old = v.ravel()[i]
                {write}
                executor.forward()
                f_eps = executor.outputs[0].asnumpy()[0]
                self.grad[i] = (f_eps - f_x) / eps
                v.ravel()[i] = old
    """
    # The same evaluation twice, the array perturbed in between; a class named like a check.
    found = findings(source)
    assert [(f.line, "one-sided" in f.message) for f in found] == [(13, True)]


def test_a_write_to_a_copy_is_not_a_perturbation():
    source = """\
    import numpy as np

    def numeric_grad(executor, v, eps=1e-4):
        f_x = executor.outputs[0].asnumpy()[0]
        grad = np.zeros(v.size)
        for i in range(v.size):
            v.copy()[i] += eps
            f_eps = executor.outputs[0].asnumpy()[0]
            grad[i] = (f_eps - f_x) / eps
        return grad
    """
    assert findings(source) == []


def test_in_place_steps_one_way_are_one_sided():
    # Both calls read the perturbed buffer, but the reference is taken before the loop and the
    # step is only ever added.
    source = """
    import numpy as np

    def numeric_grad(f, buf, eps):
        grad = np.zeros_like(buf)
        base = f(buf.copy())
        for i in range(buf.size):
            buf[i] += eps
            grad[i] = (f(buf) - base) / eps
        return grad
    """
    assert [f.line for f in findings(source)] == [9]


def test_steps_held_in_a_vector_both_ways_are_central():
    source = """
    import numpy as np

    def numeric_grad(f, x, eps):
        grad = np.zeros_like(x)
        for i in range(x.size):
            e = np.zeros_like(x)
            e[i] = eps
            upper = f(x + e)
            lower = f(x - e)
            grad[i] = (upper - lower) / (2 * eps)
        return grad
    """
    assert findings(source) == []


def test_a_step_held_in_an_attribute_is_read_through_the_model():
    source = """
        import torch

        class GradCheck:
            def __init__(self, f):
                self.f = f
                self.eps = 1e-12

            def check_grad(self, x):
                x = x.double()
                return (self.f(x + self.eps) - self.f(x - self.eps)) / (2 * self.eps)
    """
    (finding,) = lint_source(textwrap.dedent(source), select=["GL100"])
    assert "step 1e-12 is too small for float64" in finding.message

"""GL030 unsafe-sqrt-or-norm: spellings, local look-through and exemptions that fixtures show poorly."""

import textwrap

import pytest

from gradlint import lint_source


def lines(source: str) -> list[int]:
    return [f.line for f in lint_source(textwrap.dedent(source), select=["GL030"])]


@pytest.mark.parametrize(
    "imports, call",
    [
        ("from tensorflow import norm", "norm(a - b)"),
        ("import tensorflow.compat.v1 as tf", "tf.norm(a - b)"),
        ("import tensorflow as tf", "tf.keras.ops.norm(a - b)"),
        ("from tensorflow.python.ops import linalg_ops", "linalg_ops.norm(a - b)"),
        ("from jax.numpy.linalg import norm", "norm(a - b)"),
        ("from jax import numpy as jnp", "jnp.linalg.norm(a - b, ord=2)"),
        ("import keras", "keras.ops.norm(a - b, ord='fro')"),
        ("from keras.src import ops", "ops.linalg.norm(a - b)"),
        ("import tensorflow as tf", "tf.norm(a - b, 'euclidean')"),
        ("import tensorflow as tf", "tf.norm(a - b, ord=None)"),
        ("import torch", "torch.sqrt(torch.sum((a - b) ** 2))"),
        ("import torch", "pow(((a - b) ** 2).sum(), 0.5)"),
        ("import torch", "((a - b) ** 2).sum() ** (1 / 2)"),
        ("import torch", "((a - b) ** 2).sum() ** -0.5"),
        ("import torch", "((a - b) ** 2).sum().pow(0.5)"),
        ("import torch", "(a - b).square().mean().rsqrt()"),
        ("import tensorflow as tf", "tf.sqrt(tf.nn.moments(x, [0])[1])"),
        ("import tensorflow as tf", "tf.sqrt(tf.square(a - b))"),
        ("import tensorflow as tf", "tf.sqrt(tf.square(a - b) + tf.square(c - d))"),
        ("import tensorflow as tf", "tf.sqrt(0.5 * tf.reduce_sum(tf.square(a - b)) / n)"),
        ("import tensorflow as tf", "tf.sqrt(tf.reduce_sum(tf.square(tf.reshape(a - b, [-1]))))"),
        ("import tensorflow as tf", "tf.sqrt(tf.nn.relu(tf.reduce_sum(tf.square(a - b))))"),
        ("import jax.numpy as jnp", "jnp.sqrt(jnp.sum(jnp.abs(a - b) ** 2))"),
        ("import jax.numpy as jnp", "jnp.sqrt(jnp.dot(a - b, (a - b).T))"),
    ],
)
def test_flagged_spellings(imports: str, call: str) -> None:
    assert lines(f"{imports}\n\ndef loss(a, b, c, d, x, n):\n    return {call}\n") == [4]


@pytest.mark.parametrize(
    "imports, call",
    [
        ("import torch", "torch.norm(a - b)"),
        ("import torch", "torch.linalg.vector_norm(a - b, dim=-1)"),
        ("import torch", "(a - b).norm(dim=-1)"),
        ("import torch.nn.functional as F", "F.pairwise_distance(a, b)"),
        ("import tensorflow as tf", "tf.norm(a - b, 1)"),
        ("import tensorflow as tf", "tf.norm(a - b, ord=1)"),
        ("import tensorflow as tf", "tf.norm(x - 1.0)"),
        ("import tensorflow as tf", "tf.norm(x)"),
        ("import tensorflow as tf", "tf.sqrt(tf.reduce_sum(tf.square(x)))"),
        ("import tensorflow as tf", "tf.sqrt(a - b)"),
        ("import tensorflow as tf", "tf.sqrt(tf.reduce_sum(tf.square(a - b)) + c)"),
        ("import tensorflow as tf", "tf.sqrt(tf.maximum(tf.reduce_sum(tf.square(a - b)), 1e-12))"),
        ("import tensorflow as tf", "tf.where(x > 0, tf.sqrt(tf.reduce_sum(tf.square(a - b))), 0.0)"),
        ("import tensorflow as tf", "tf.stop_gradient(tf.norm(a - b))"),
        ("import torch", "torch.sqrt(((a - b) ** 2).sum()).detach()"),
        ("import torch", "((a - b) ** 2).sum() ** 2"),
        ("import torch", "((a - b) ** 2).sum() ** p"),
        ("import torch\nimport numpy as np", "np.sqrt(((a - b) ** 2).sum())"),
        ("import torch\nimport numpy as np", "((np.asarray(a) - b) ** 2).sum() ** 0.5"),
        ("import torch\nimport math", "math.sqrt(((a - b) ** 2).sum())"),
    ],
)
def test_quiet_spellings(imports: str, call: str) -> None:
    assert lines(f"{imports}\n\ndef loss(a, b, c, d, x, n, p):\n    return {call}\n") == []


def test_numpy_only_file_is_not_checked() -> None:
    assert lines("import numpy as np\n\ndef f(a, b):\n    return ((a - b) ** 2).sum() ** 0.5\n") == []


def test_looks_through_locals_in_binding_order() -> None:
    source = """\
        import tensorflow as tf

        def f(a, b, x):
            d = a - b
            n = tf.norm(d, axis=-1)
            d = x
            m = tf.norm(d, axis=-1)
            s = tf.reduce_sum(tf.square(a - b), -1)
            s = s + 1e-8
            r = tf.sqrt(s)
            mean, var = tf.nn.moments(x, axes=[0])
            return n, m, r, tf.sqrt(var), tf.sqrt(mean)
        """
    assert lines(source) == [5, 12]


def test_rebinding_from_itself() -> None:
    source = """\
        import tensorflow as tf

        def f(mu_band_rep, mu_interleaved_rep):
            mu_diff = tf.subtract(mu_band_rep, mu_interleaved_rep)
            mu_diff = tf.norm(mu_diff, axis=1)
            mu_diff = tf.norm(mu_diff, axis=1)
            return mu_diff
        """
    assert lines(source) == [5]


def test_parameters_and_loop_targets_hide_outer_bindings() -> None:
    source = """\
        import tensorflow as tf

        d = 1.0 - 2.0
        def f(d):
            return tf.norm(d)

        def g(a, b, items):
            d = a - b
            for d in items:
                tf.print(tf.norm(d))
        """
    assert lines(source) == []


def test_compared_or_unused_results_are_quiet() -> None:
    source = """\
        import jax.numpy as jnp

        def solve(x, x_old, tol):
            err = jnp.linalg.norm(x - x_old)
            if err < tol:
                return x
            unused = jnp.linalg.norm(x - x_old)
            dist = jnp.linalg.norm(x - x_old)
            return dist
        """
    assert lines(source) == [8]


def test_while_loop_body_is_quiet_but_fori_loop_is_not() -> None:
    source = """\
        import jax
        import jax.numpy as jnp

        def body(state):
            x, prev = state
            return x - 0.1 * jnp.linalg.norm(x - prev), x

        def step(i, x):
            return x - 0.1 * jnp.linalg.norm(x - i)

        jax.lax.while_loop(lambda s: True, body, (1.0, 0.0))
        jax.lax.fori_loop(0, 10, step, 1.0)
        """
    assert lines(source) == [9]


def test_not_differentiated_scopes() -> None:
    source = """\
        import torch

        class DistanceMetric:
            def update_state(self, a, b):
                return torch.sqrt(((a - b) ** 2).sum())

        @torch.no_grad()
        def evaluate(a, b):
            return torch.sqrt(((a - b) ** 2).sum())

        def rmse(a, b):
            return torch.sqrt(((a - b) ** 2).mean())

        def rmse_loss(a, b):
            return torch.sqrt(((a - b) ** 2).mean())

        def validate(a, b):
            with torch.inference_mode():
                d = torch.sqrt(((a - b) ** 2).sum())
            with torch.set_grad_enabled(False):
                e = torch.sqrt(((a - b) ** 2).sum())
            return d, e
        """
    assert lines(source) == [15]


def test_noqa_on_a_deferred_finding() -> None:
    source = """\
        import tensorflow as tf

        def f(a, b):
            n = tf.norm(a - b)  # noqa: GL030
            return n
        """
    assert lines(source) == []


def test_message_names_the_root_and_the_argument() -> None:
    source = "import tensorflow as tf\n\ndef f(a, b):\n    return tf.norm(a - b, axis=1)\n"
    (finding,) = lint_source(source, select=["GL030"])
    assert finding.message.startswith("`tf.norm` of the difference `a - b`: the gradient is NaN")
    assert finding.column == 12


def test_lambda_and_comprehension_targets_hide_outer_bindings() -> None:
    source = """\
        import tensorflow as tf

        def f(a, b, pieces):
            d = a - b
            g = lambda d: tf.norm(d)
            h = lambda: tf.norm(d)
            norms = [tf.norm(d) for d in pieces]
            return g, norms, h
        """
    assert lines(source) == [6]


def test_power_of_plain_numbers_needs_a_call() -> None:
    source = """\
        import torch

        def box_diagonal(x1, y1, x2, y2):
            dx = x2 - x1
            return (dx ** 2 + (y2 - y1) ** 2) ** 0.5, pow((x2 - x1) ** 2, 0.5)

        def distance(a, b):
            sq = ((a - b) ** 2).sum(-1)
            return sq ** 0.5, pow(sq, 0.5)
        """
    assert lines(source) == [9, 9]


CLAMPED_AFTER = """\
import jax.numpy as jnp
import keras
import tensorflow as tf
import torch

def normalize(x, eps=1e-8):
    {body}
"""


@pytest.mark.parametrize(
    "body",
    [
        "return x / torch.sqrt((x ** 2).sum(-1, keepdim=True)).clamp(min=eps)",
        "return x / torch.clamp(torch.sqrt(torch.sum(x * x, -1)), min=eps)",
        "return x * torch.rsqrt(x.pow(2).sum()).clamp_max(1 / eps)",
        "n = ((x * x).sum(-1) ** 0.5)\n    return x / n.clamp_min(eps)",
        "return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), eps)",
        "return x / jnp.maximum(jnp.sqrt(jnp.sum(jnp.square(x))), eps)",
        "s = keras.ops.sum(keras.ops.square(x))\n    inv = keras.ops.rsqrt(s)\n    inv = keras.ops.minimum(inv, 1 / eps)\n    return x * inv",
        "return x / tf.maximum(tf.pow(tf.reduce_sum(x * x), 0.5), eps)",
    ],
)
def test_a_root_clamped_only_after_it(body: str) -> None:
    # The clamp fixes the value at a zero vector, not the NaN gradient (measured per framework).
    found = lint_source(CLAMPED_AFTER.format(body=body), select=["GL030"])
    assert len(found) == 1 and "clamped only after the root" in found[0].message


@pytest.mark.parametrize(
    "body",
    [
        "return x / torch.sqrt((x ** 2).sum(-1) + eps).clamp(min=eps)",  # epsilon under the root
        "return x / tf.maximum(tf.sqrt(tf.reduce_sum(tf.square(x))), eps)",  # TF's sqrt: finite there
        "return x / torch.linalg.norm(x, dim=-1).clamp(min=eps)",  # torch's norm: 0 gradient at 0
        "return x / torch.sqrt((x ** 2).sum(-1))",  # no clamp: a vector that is not expected to vanish
        "return x / jnp.sqrt(jnp.maximum(jnp.sum(x ** 2), eps ** 2))",  # clamped before the root
        "d1 = jnp.linalg.norm(x)\n    d2 = jnp.linalg.norm(x + 1)\n    return 0.01 / jnp.maximum(d1, d2)",  # no bound
    ],
)
def test_a_root_guarded_before_or_not_clamped_is_quiet(body: str) -> None:
    assert lint_source(CLAMPED_AFTER.format(body=body), select=["GL030"]) == []


def test_a_weight_constraint_is_not_differentiated() -> None:
    # Keras applies a constraint to the weights after the optimiser step, outside autodiff.
    source = CLAMPED_AFTER.format(body="return x").replace(
        "def normalize", "class MaxNorm(keras.constraints.Constraint):\n    def __call__(self, w):\n"
        "        norms = keras.ops.sqrt(keras.ops.sum(keras.ops.square(w - w.mean())))\n"
        "        return w / keras.ops.maximum(norms, 1e-7)\n\ndef normalize"
    )
    assert lint_source(source, select=["GL030"]) == []


def _project(tmp_path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


HELPERS = """
    import jax.numpy as jnp

    def squared_length(v):
        return jnp.sum(v ** 2, axis=-1)

    def length(v):
        return jnp.sqrt(squared_length(v))

    def guarded_length(v):
        return jnp.sqrt(squared_length(v) + 1e-12)
"""


def test_a_norm_helper_of_another_module_is_checked_at_its_callers(tmp_path) -> None:
    _project(tmp_path, {
        "sim/__init__.py": "",
        "sim/shapes.py": HELPERS,
        "sim/forces.py": """
            import jax
            import jax.numpy as jnp
            from sim import shapes
            from sim.shapes import squared_length, guarded_length

            def pair_energy(x):
                r = shapes.length(x[:, None] - x[None, :])
                return jnp.sum(jnp.exp(-r))

            def spring(a, b):
                return jnp.sqrt(squared_length(a - b))

            def safe_spring(a, b):
                return guarded_length(a - b) + jnp.sqrt(squared_length(a) + 1e-9)

            def size(w):
                return shapes.length(w)

            forces = jax.grad(pair_energy)
        """,
    })
    path = tmp_path / "sim" / "forces.py"
    found = lint_source(path.read_bytes(), path=path, select=["GL030"])
    assert [(f.line, f.fix is None) for f in found] == [(8, True), (12, False)]


@pytest.mark.parametrize(
    "body",
    [
        "jnp.sqrt(jnp.sum(jnp.exp(-r) * (r < c), axis=1))",
        "jnp.sqrt(jnp.sum(jnp.where(r < c, jnp.exp(-r), 0.0), axis=1))",
        "jnp.sqrt(jnp.sum(jnp.exp(-r) * w, axis=1))",
    ],
)
def test_a_masked_sum_is_not_flagged(body: str) -> None:
    source = f"import jax\nimport jax.numpy as jnp\n\ndef energy(r, c, w):\n    return {body}\n\ng = jax.grad(energy)\n"
    # Zero only when every term is masked, and often never differentiated (replay priorities);
    # with `where`, reverse mode gives the masked terms a zero gradient.
    assert lines(source) == []


def test_methods_attributes_and_branches_are_followed_through_the_model() -> None:
    source = """\
        import torch
        from torch import nn

        class Triplet(nn.Module):
            def pairwise(self, x):
                diff = x.unsqueeze(1) - x.unsqueeze(0)
                return (diff ** 2).sum(-1)

            def remember(self, a, b):
                self.gap = a - b

            def forward(self, x):
                distances = torch.sqrt(self.pairwise(x))
                stored = torch.sqrt((self.gap ** 2).sum())
                return distances, stored

        def either(a, b, squared):
            if squared:
                d = ((a - b) ** 2).sum(-1)
            else:
                d = ((a - b) ** 2).sum(-1) + 1e-12
            return torch.sqrt(d)

        def both(a, b, flat):
            if flat:
                d = ((a - b) ** 2).sum()
            else:
                d = ((a - b) ** 2).sum(-1)
            return torch.sqrt(d)
        """
    assert lines(source) == [13, 14, 29]


def test_a_loop_variable_hides_an_earlier_binding() -> None:
    source = """\
        import torch

        def f(a, b, gaps):
            d = a - b
            for d in gaps:
                pass
            return torch.sqrt((d ** 2).sum())
        """
    assert lines(source) == []

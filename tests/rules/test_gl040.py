"""GL040 where-unsafe-branch: spellings, look-through and exemptions that fixtures show poorly."""

import textwrap

import pytest

from gradlint import lint_source
from tests.conftest import findings_in, write_files


def findings(source: str):
    return lint_source(textwrap.dedent(source), select=["GL040"])


def lines(source: str) -> list[int]:
    return [f.line for f in findings(source)]


@pytest.mark.parametrize(
    "imports, expression",
    [
        ("import tensorflow as tf", "tf.where(x > 0, tf.math.log(x), 0.0)"),
        ("import tensorflow as tf", "tf.where_v2(x > 0, tf.math.log(x), 0.0)"),
        ("import tensorflow as tf", "tf.experimental.numpy.where(x > 0, tf.math.log(x), 0.0)"),
        ("import tensorflow.compat.v1 as tf", "tf.where(x > 0, tf.log(x), tf.zeros_like(x))"),
        ("from tensorflow import where, math", "where(x > 0, math.log(x), 0.0)"),
        ("import tensorflow as tf", "tf.keras.ops.where(x > 0, tf.keras.ops.log(x), 0.0)"),
        ("import tensorflow as tf", "tf.where(condition=x > 0, x=tf.math.log(x), y=0.0)"),
        ("import tensorflow as tf", "tf.where(0 < x, tf.math.log(x), 0.0)"),
        ("import tensorflow as tf", "tf.where(x > 1e-8, tf.math.log(x), 0.0)"),
        ("import tensorflow as tf", "tf.where(x <= 0, 0.0, tf.math.log(x))"),
        ("import tensorflow as tf", "tf.where(tf.logical_not(x > 0), 0.0, tf.math.log(x))"),
        ("import tensorflow as tf", "tf.where((x > 0) & (y > 0), tf.math.log(x), 0.0)"),
        ("import tensorflow as tf", "tf.where(x >= 0, x ** 0.5, 0.0)"),
        ("import tensorflow as tf", "tf.where(x > 0, tf.pow(x, -2), 0.0)"),
        ("import torch", "torch.where(x > 0, torch.log2(x), 0.0)"),
        ("import torch", "torch.where(condition=x > 0, input=torch.log(x), other=x)"),
        ("import torch", "torch.where(x.ne(0), x.reciprocal(), 0.0)"),
        ("import torch", "torch.where(x.abs() > 1e-6, x.sin() / x, 1.0)"),
        ("import torch", "torch.where(x > y, torch.sqrt(x - y), 0.0)"),
        ("import torch", "torch.where(x > 0, x.div(x.sqrt()), 0.0)"),
        ("import torch", "torch.where(x ** 2 < 1.0, torch.exp(-1 / (1 - x ** 2)), 0.0)"),
        ("import jax.numpy as jnp", "jnp.where(x > 0, jnp.log10(x), 0.0)"),
        ("from jax import lax", "lax.select(x > 0, lax.log(x), x)"),
    ],
)
def test_flagged(imports: str, expression: str) -> None:
    assert lines(f"{imports}\n\ndef f(x, y):\n    return {expression}\n") == [4]


@pytest.mark.parametrize(
    "imports, expression",
    [
        ("import tensorflow as tf", "tf.where(x > 0, tf.sqrt(x), 0.0)"),
        ("import tensorflow as tf", "tf.where(x > 0, tf.math.rsqrt(x), 0.0)"),
        ("import tensorflow as tf", "tf.where(x != 0, tf.math.reciprocal(x), 0.0)"),
        ("import tensorflow as tf", "tf.where(x > 0, x, tf.math.log(y))"),
        ("import tensorflow as tf", "tf.where(x > 0.5, tf.math.log(x), 0.0)"),
        ("import tensorflow as tf", "tf.where(y > 0, tf.math.log(x), 0.0)"),
        ("import tensorflow as tf", "tf.where(x > 0, tf.math.log(1.0 + x), 0.0)"),
        ("import tensorflow as tf", "tf.where(x > 0, tf.math.log(tf.nn.softplus(x)), 0.0)"),
        ("import tensorflow as tf", "tf.where(x > 0, tf.math.xlogy(x, x), 0.0)"),
        ("import tensorflow as tf", "tf.where(x > 0, x / 2.0, 0.0)"),
        ("import tensorflow as tf", "tf.where(x > 0, tf.math.log(tf.stop_gradient(x)), 0.0)"),
        ("import tensorflow as tf", "tf.where(x)"),
        ("import torch", "torch.where(x > 0)"),
        ("import torch", "torch.where(x > 0, torch.log(x), 0.0).detach()"),
        ("import torch", "torch.where(x >= 0, 1.0 / x, 0.0)"),
        ("import numpy as np", "np.where(x > 0, np.log(x), 0.0)"),
        ("import pandas as pd\nimport torch", "frame.where(frame > 0, 0.0)"),
    ],
)
def test_quiet(imports: str, expression: str) -> None:
    assert lines(f"{imports}\n\ndef f(x, y, frame):\n    return {expression}\n") == []


def test_local_names_are_followed_both_ways() -> None:
    source = """
    import tensorflow as tf

    def bad(x):
        mask = x > 0
        logx = tf.math.log(x)
        return tf.where(mask, logx, 0.0)

    def good(x):
        mask = x > 0
        x = tf.where(mask, x, 1.0)
        return tf.where(mask, tf.math.log(x), 0.0)

    def rebound_after(x):
        out = tf.where(x > 0, tf.math.log(x), 0.0)
        x = tf.where(x > 0, x, 1.0)
        return out
    """
    assert lines(source) == [7, 15]


def test_helper_function_is_a_warning() -> None:
    source = """
    import torch

    def inverse(v):
        return 1.0 / v

    def layer(x):
        return torch.where(x != 0, inverse(x), torch.zeros_like(x))

    def layer_fixed(x):
        return torch.where(x != 0, inverse(torch.where(x != 0, x, 1.0)), torch.zeros_like(x))
    """
    found = findings(source)
    assert [(f.line, f.severity) for f in found] == [(8, "warning")]
    assert "inverse(x)" in found[0].message


def test_message_names_op_and_point() -> None:
    (found,) = findings("import tensorflow as tf\n\ndef f(x):\n    return tf.where(x > 0, tf.math.log(x), 0.0)\n")
    assert found.severity == "error"
    assert "`tf.math.log(x)`" in found.message and "`x` = 0" in found.message and "an inner where" in found.message


def test_not_differentiated_code_is_quiet() -> None:
    source = """
    import torch

    def test_log(x):
        return torch.where(x > 0, torch.log(x), 0.0)

    def evaluate(x):
        with torch.no_grad():
            return torch.where(x > 0, torch.log(x), 0.0)
    """
    assert lines(source) == []


def test_a_branch_held_in_an_attribute_or_computed_by_a_helper_of_another_module(tmp_path) -> None:
    write_files(tmp_path, {
        "proj/__init__.py": "",
        "proj/ops.py": "import torch\n\ndef entropy_term(p):\n    return p * torch.log(p)\n",
        "proj/model.py": """
            import torch
            from torch import nn
            from .ops import entropy_term

            class Head(nn.Module):
                def forward(self, x):
                    self.gap = x - self.centre
                    kept = torch.where(x - self.centre > 0, torch.sqrt(self.gap), 0.0)
                    h = torch.where(x > 0, entropy_term(x), 0.0)
                    return kept, h
        """,
    })
    assert findings_in(tmp_path / "proj", ["GL040"]) == [("model.py", 9, "GL040"), ("model.py", 10, "GL040")]

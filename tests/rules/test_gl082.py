"""GL082 probabilities-into-logits-loss: which argument is checked, severities, exemptions."""

import textwrap

import pytest

from gradlint import lint_source


def findings(source: str):
    return lint_source(textwrap.dedent(source), select=["GL082"])


@pytest.mark.parametrize(
    "imports, expr",
    [
        ("import torch.nn.functional as F", "F.cross_entropy(F.softmax(x, 1), y)"),
        ("import torch.nn.functional as F", "F.cross_entropy(target=y, input=x.softmax(1))"),
        ("from torch import nn", "nn.CrossEntropyLoss(reduction='sum')(x.softmax(-1), y)"),
        ("import tensorflow as tf", "tf.nn.softmax_cross_entropy_with_logits(y, tf.nn.softmax(x))"),
        ("import tensorflow.compat.v1 as tf", "tf.losses.softmax_cross_entropy(y, tf.nn.softmax(x))"),
        ("import keras", "keras.ops.categorical_crossentropy(y, keras.ops.softmax(x), from_logits=True)"),
        ("import keras", "keras.losses.BinaryCrossentropy(from_logits=True)(y, keras.ops.sigmoid(x))"),
        ("import optax\nimport jax", "optax.sigmoid_binary_cross_entropy(jax.nn.sigmoid(x), y)"),
    ],
)
def test_errors(imports: str, expr: str) -> None:
    found = findings(f"{imports}\n\ndef loss(x, y):\n    return {expr}\n")
    assert [(f.line, f.severity) for f in found] == [(imports.count("\n") + 4, "error")]


@pytest.mark.parametrize(
    "imports, expr",
    [
        # The probability is the target, not the prediction.
        ("import torch.nn.functional as F", "F.cross_entropy(x, F.softmax(y, 1))"),
        ("import tensorflow as tf", "tf.nn.softmax_cross_entropy_with_logits(labels=tf.nn.softmax(y), logits=x)"),
        ("import optax\nimport jax", "optax.softmax_cross_entropy(x, jax.nn.softmax(y))"),
        # Losses that expect probabilities.
        ("import torch.nn.functional as F", "F.binary_cross_entropy(x.sigmoid(), y)"),
        ("import keras", "keras.losses.categorical_crossentropy(y, keras.ops.softmax(x))"),
        ("import keras", "keras.losses.categorical_crossentropy(y, keras.ops.softmax(x), from_logits=False)"),
        ("import keras", "keras.losses.CategoricalCrossentropy()(y, keras.ops.softmax(x))"),
        # Log-probabilities are valid logits.
        ("import torch.nn.functional as F", "F.cross_entropy(F.log_softmax(x, 1), y)"),
    ],
)
def test_quiet(imports: str, expr: str) -> None:
    assert findings(f"{imports}\n\ndef loss(x, y):\n    return {expr}\n") == []


def test_model_evidence_is_a_warning() -> None:
    source = """
        from torch import nn

        class Trainer:
            def __init__(self):
                self.model = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1))
                self.criterion = nn.CrossEntropyLoss()

            def step(self, x, y):
                return self.criterion(self.model(x), y)
    """
    assert [(f.line, f.severity) for f in findings(source)] == [(10, "warning")]


def test_inference_is_quiet() -> None:
    source = """
        import torch
        from torch import nn

        model = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1))
        criterion = nn.CrossEntropyLoss()

        with torch.no_grad():
            val_loss = criterion(model(x), y)
    """
    assert findings(source) == []


HELPERS = """\
import jax
import jax.numpy as jnp
import torch.nn.functional as F

def bce_logits(x, z):
    return jnp.mean(jnp.maximum(x, 0) - x * z + jnp.log1p(jnp.exp(-abs(x))))

def nll(labels, scores):
    return -jax.nn.log_softmax(scores)[labels].mean()

def wrapped(y, z):
    return F.cross_entropy(z, y)

def twice(a, b):
    return wrapped(b, a)

def positive(x):
    return jax.nn.softplus(x)

def loss(x, y):
    return {call}
"""


@pytest.mark.parametrize(
    "call",
    ["bce_logits(jax.nn.sigmoid(x), y)", "nll(y, jax.nn.softmax(x))", "nll(scores=jax.nn.softmax(x), labels=y)",
     "wrapped(y, F.softmax(x, -1))", "twice(F.softmax(x, -1), y)"],
)
def test_the_module_s_own_loss_on_logits_is_checked_at_its_call(call: str) -> None:
    # Reported once, where the probability is passed, not again inside the helper.
    found = findings(HELPERS.format(call=call))
    assert [f.line for f in found] == [21]


@pytest.mark.parametrize(
    "call", ["bce_logits(x, y)", "nll(jax.nn.softmax(x), y)", "positive(jax.nn.sigmoid(x))", "wrapped(F.softmax(x, -1), y)"],
)
def test_helpers_given_logits_or_not_taking_logits_are_quiet(call: str) -> None:
    assert findings(HELPERS.format(call=call)) == []


def test_a_helper_s_logits_followed_through_its_local_names() -> None:
    source = """\
    import jax
    import jax.numpy as jnp

    def bce_logits(input, target):
        neg_abs = -jnp.abs(input)
        return jnp.mean(jnp.maximum(input, 0) - input * target + jnp.log(1 + jnp.exp(neg_abs)))

    def loss(x, y):
        return bce_logits(jax.nn.sigmoid(x), y)
    """
    assert [f.line for f in findings(source)] == [9]

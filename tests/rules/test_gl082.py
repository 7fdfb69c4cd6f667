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

"""GL080 log-of-softmax: spellings, severities and exemptions that fixtures show poorly."""

import textwrap

import pytest

from gradlint import lint_source


def findings(source: str):
    return lint_source(textwrap.dedent(source), select=["GL080"])


@pytest.mark.parametrize(
    "imports, expr",
    [
        ("import torch", "torch.log(torch.softmax(x, -1))"),
        ("import torch", "torch.softmax(x, -1).log()"),
        ("import torch.nn.functional as F", "F.softmax(x, dim=1).log()"),
        ("import torch", "torch.log(torch.special.expit(x))"),
        ("import tensorflow as tf", "tf.math.log(tf.math.softmax(x))"),
        ("import tensorflow as tf", "tf.math.log(tf.nn.sigmoid(x))"),
        ("import tensorflow as tf", "tf.math.log(tf.keras.activations.softmax(x))"),
        ("from tensorflow.keras import backend as K", "K.log(K.softmax(x))"),
        ("import keras", "keras.ops.log(keras.ops.softmax(x))"),
        ("from keras.src import ops", "ops.log(ops.softmax(x))"),
        ("import jax", "jax.numpy.log(jax.nn.softmax(x))"),
        ("from jax.scipy.special import expit\nimport jax.numpy as jnp", "jnp.log(expit(x))"),
        ("import jax.numpy as jnp", "jnp.log(jnp.exp(x).sum(-1))"),
        ("import torch", "torch.log(torch.sum(torch.exp(x), dim=1))"),
    ],
)
def test_spellings_are_errors(imports: str, expr: str) -> None:
    found = findings(f"{imports}\n\ndef loss(x):\n    return {expr}\n")
    assert [(f.line, f.severity) for f in found] == [(imports.count("\n") + 4, "error")]


@pytest.mark.parametrize(
    "body",
    [
        "p = torch.softmax(x, -1)\n    return torch.log(p)",
        "return torch.log(torch.softmax(x, -1) + 1e-8)",
        "return torch.log(torch.softmax(x, -1) + eps)",
        "return torch.log(torch.clamp(torch.softmax(x, -1), min=1e-7))",
    ],
)
def test_indirect_or_guarded_are_warnings(body: str) -> None:
    found = findings(f"import torch\n\ndef loss(x, eps=1e-6):\n    {body}\n")
    assert [f.severity for f in found] == ["warning"]


@pytest.mark.parametrize(
    "source",
    [
        # NumPy is never differentiated.
        "import numpy as np\nimport torch\n\ndef f(x):\n    return np.log(np.exp(x) / np.exp(x).sum())\n",
        # Theano, like PyTensor, rewrites log(sigmoid) into a stable softplus.
        "import theano.tensor as T\n\ndef f(x):\n    return T.log(T.nnet.sigmoid(x))\n",
        # Under stop_gradient, detach or item.
        "import tensorflow as tf\n\ndef f(x):\n    return tf.stop_gradient(tf.math.log(tf.nn.softmax(x)))\n",
        "import torch\n\ndef f(x):\n    return torch.log(torch.softmax(x, -1)).detach()\n",
        # A name rebound to something else is not followed.
        "import torch\n\ndef f(x, y):\n    p = torch.softmax(x, -1)\n    p = y\n    return torch.log(p)\n",
        # A parameter is an input probability.
        "import torch\n\ndef f(p):\n    return torch.log(p)\n",
        # Entropy with an epsilon.
        "import torch\n\ndef f(x):\n    p = x.softmax(-1)\n    return -(p * torch.log(p + 1e-9)).sum()\n",
        # log(1 + sigmoid) is bounded.
        "import torch\n\ndef f(x):\n    return torch.log(1 + torch.sigmoid(x))\n",
        # A lambda parameter shadows a local probability.
        "import torch\n\ndef f(x):\n    p = torch.softmax(x, -1)\n    g = lambda p: torch.log(p)\n    return g\n",
    ],
)
def test_quiet(source: str) -> None:
    assert findings(source) == []


@pytest.mark.parametrize("module", ["theano.tensor", "aesara.tensor", "pytensor.tensor"])
def test_theano_lineage_log_of_softmax(module: str) -> None:
    # The graph rewrite fixes the value of log(softmax), not its gradient (Theano/Theano#3162).
    source = f"import {module} as T\n\ndef nll(x, y):\n    return -T.mean(T.log(T.nnet.softmax(x))[T.arange(y.shape[0]), y])\n"
    assert [f.rule for f in findings(source)] == ["GL080"]


def test_test_files_and_test_trees_are_quiet() -> None:
    source = "import torch\n\ndef f(x):\n    return torch.log(torch.softmax(x, -1))\n"
    assert lint_source(source, path="pkg/tests/helpers.py", select=["GL080"]) == []
    assert lint_source(source, path="test_model.py", select=["GL080"]) == []
    assert len(lint_source(source, path="pkg/model.py", select=["GL080"])) == 1


def test_noqa() -> None:
    source = "import torch\n\ndef f(x):\n    return torch.log(torch.softmax(x, -1))  # noqa: GL080\n"
    assert findings(source) == []


def test_a_sum_of_exponentials_is_a_value_of_the_model() -> None:
    source = """\
        import torch

        def normaliser(scores):
            return torch.exp(scores).sum(dim=-1)

        def shifted(scores):
            m = scores.max(dim=-1, keepdim=True).values
            return torch.exp(scores - m).sum(dim=-1)

        def energy(scores):
            total = normaliser(scores)
            stable = shifted(scores)
            return torch.log(total) + torch.log(stable)
        """
    assert [f.line for f in lint_source(textwrap.dedent(source), select=["GL080"])] == [13]

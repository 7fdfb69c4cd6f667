from gradlint import lint_source


def lines(src: str, path: str = "model.py") -> list[int]:
    return [f.line for f in lint_source(src, path=path, select=["GL060"])]


def test_aliases_tf_keras_and_compat():
    src = (
        "from tensorflow import keras\n"
        "from tensorflow.keras import backend as K\n"
        "import tensorflow.compat.v1 as tf1\n"
        "def my_loss(y_true, z):\n"
        "    return keras.losses.binary_crossentropy(y_true, K.hard_sigmoid(z))\n"
        "def other_loss(y_true, z):\n"
        "    return tf1.reduce_mean(tf1.square(tf1.nn.relu6(z) - y_true))\n"
    )
    assert lines(src) == [5, 7]


def test_pytensor_and_aesara_spellings():
    src = (
        "import pytensor\n"
        "import pytensor.tensor as pt\n"
        "from aesara.tensor.nnet import ultra_fast_sigmoid\n"
        "x = pt.vector()\n"
        "p = ultra_fast_sigmoid(x)\n"
        "g = pytensor.grad(p.sum(), x)\n"
    )
    assert lines(src) == [5]


def test_ultra_fast_sigmoid_without_gradient_is_quiet():
    src = "import theano.tensor as T\nx = T.vector()\np = T.nnet.ultra_fast_sigmoid(x)\n"
    assert lines(src) == []


def test_severities():
    src = (
        "import torch.nn.functional as F\n"
        "import tensorflow as tf\n"
        "def loss_a(z, y):\n"
        "    return F.mse_loss(F.hardtanh(z), y)\n"
        "def loss_b(z, y):\n"
        "    return tf.reduce_mean(tf.square(tf.where(z > 0, 1.0, 0.0) - y))\n"
    )
    found = lint_source(src, path="m.py", select=["GL060"])
    assert [(f.line, f.severity) for f in found] == [(4, "warning"), (6, "error")]


def test_definitions_and_activation_modules_are_quiet():
    src = (
        "import torch.nn.functional as F\n"
        "class HardSigmoidLoss:\n"
        "    def __call__(self, z, y):\n"
        "        return F.binary_cross_entropy(F.hardsigmoid(z), y)\n"
    )
    assert lines(src) == []
    src2 = "import torch.nn.functional as F\ndef loss(z, y):\n    return F.mse_loss(F.relu6(z), y)\n"
    assert lines(src2) == [3]
    assert lines(src2, path="pkg/activations/relu.py") == []


def test_straight_through_and_no_grad_are_quiet():
    src = (
        "import jax, jax.numpy as jnp\n"
        "import torch, torch.nn.functional as F\n"
        "def ste_loss(z, y):\n"
        "    q = z + jax.lax.stop_gradient(jax.nn.hard_sigmoid(z) - z)\n"
        "    return jnp.mean((q - y) ** 2)\n"
        "def train(model, x, y):\n"
        "    with torch.no_grad():\n"
        "        loss = F.mse_loss(F.hardtanh(model(x)), y)\n"
    )
    assert lines(src) == []


def test_hidden_hard_activation_is_quiet():
    src = (
        "import torch\nimport torch.nn as nn\n"
        "model = nn.Sequential(nn.Linear(4, 8), nn.ReLU6(), nn.Linear(8, 1), nn.Sigmoid())\n"
        "loss = nn.BCELoss()(model(torch.randn(2, 4)), torch.ones(2, 1))\n"
    )
    assert lines(src) == []


def test_sequential_block_never_trained_is_quiet():
    src = (
        "import torch.nn as nn\n"
        "def conv_bn(i, o):\n"
        "    return nn.Sequential(nn.Conv2d(i, o, 3), nn.BatchNorm2d(o), nn.ReLU6(inplace=True))\n"
    )
    assert lines(src) == []


def test_recurrent_activation_hard_sigmoid_is_quiet():
    src = (
        "import keras\n"
        "m = keras.Sequential([keras.layers.GRU(8, recurrent_activation='hard_sigmoid'), keras.layers.Dense(1)])\n"
        "m.compile(loss='mse')\n"
    )
    assert lines(src) == []


def test_relu_written_with_indicator_is_quiet_but_gate_is_not():
    src = (
        "import torch, torch.nn as nn\n"
        "class Block(nn.Module):\n"
        "    def forward(self, x, h):\n"
        "        z = self.fc(x)\n"
        "        a = z * (z > 0).float()\n"
        "        g = torch.where(self.g(x) > 0, 1.0, 0.0)\n"
        "        return a + g * h\n"
    )
    assert lines(src) == [6]


def test_flax_and_keras_ops():
    src = (
        "import keras\nimport flax.linen as nn\nimport optax\n"
        "def loss_fn(p, y):\n"
        "    return keras.ops.mean(keras.losses.mse(y, keras.ops.hard_tanh(p)))\n"
        "def loss2(p, y):\n"
        "    return optax.l2_loss(nn.relu6(p), y).mean()\n"
    )
    assert lines(src) == [5, 7]

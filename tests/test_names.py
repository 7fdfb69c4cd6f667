"""Every spelling of an API resolves to one canonical name."""

import libcst as cst
import pytest

from gradlint.engine.names import NameTable


def resolve(source: str) -> set[str]:
    module = cst.parse_module(source)
    expression = module.body[-1].body[0].value
    return set(NameTable(module).qualified_names(expression))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import tensorflow as tf\ntf.math.log", {"tensorflow.math.log"}),
        ("import tensorflow as tf\ntf.keras.layers.Layer", {"keras.layers.Layer"}),
        ("from tensorflow.keras import backend as K\nK.sqrt", {"keras.backend.sqrt"}),
        ("from tensorflow import keras\nkeras.ops.sqrt", {"keras.ops.sqrt"}),
        ("import keras\nkeras.ops.sqrt", {"keras.ops.sqrt"}),
        ("from keras.src import ops\nops.sqrt", {"keras.ops.sqrt"}),
        ("import tf_keras\ntf_keras.activations.hard_sigmoid", {"keras.activations.hard_sigmoid"}),
        ("import tensorflow.compat.v1 as tf\ntf.sqrt", {"tensorflow.sqrt"}),
        ("import torch.nn.functional as F\nF.softmax", {"torch.nn.functional.softmax"}),
        ("from torch import nn\nnn.Module", {"torch.nn.Module"}),
        ("from torch.nn import functional as F\nF.relu", {"torch.nn.functional.relu"}),
        ("import torch.nn.functional\ntorch.nn.functional.relu", {"torch.nn.functional.relu"}),
        ("import jax.numpy as jnp\njnp.linalg.norm", {"jax.numpy.linalg.norm"}),
        ("import numpy as np\nnp.sqrt", {"numpy.sqrt"}),
        ("import theano.tensor as T\nT.nnet.sigmoid", {"theano.tensor.nnet.sigmoid"}),
        ("import theano.tensor.nnet as nnet\nnnet.hard_sigmoid", {"theano.tensor.nnet.hard_sigmoid"}),
        ("import pytensor.tensor as pt\npt.switch", {"theano.tensor.switch"}),
        ("import lasagne\nlasagne.layers.DenseLayer", {"lasagne.layers.DenseLayer"}),
        ("from scipy.optimize import minimize as m\nm", {"scipy.optimize.minimize"}),
        ("try:\n    import tensorflow as K\nexcept ImportError:\n    import keras.backend as K\nK.sqrt",
         {"tensorflow.sqrt", "keras.backend.sqrt"}),
        ("def f():\n    import torch\n    return torch\ntorch.sqrt", {"torch.sqrt"}),
        ("x = 1\nx.sqrt", set()),
        ("import tensorflow_probability as tfp\ntfd = tfp.distributions\ntfd.Normal",
         {"tensorflow_probability.distributions.Normal"}),
        ("import tensorflow as tf\nK = tf.keras.backend\nK.sqrt", {"keras.backend.sqrt"}),
        ("import torch\nif True:\n    act = torch.sigmoid\nact", {"torch.sigmoid"}),
        ("import torch\ndef f():\n    act = torch.sigmoid\nact", set()),
        ("import torch\nnet = make()\nnet.sqrt", set()),
        ("from . import torch\ntorch.sqrt", set()),
    ],
)
def test_spellings(source, expected):
    assert resolve(source) == expected


def test_method_heuristic_and_vmap_refusal():
    module = cst.parse_module("import jax\nx.sqrt()\njax.vmap(f)(x)\n")
    names = NameTable(module)
    method_call = module.body[1].body[0].value
    vmap_call = module.body[2].body[0].value
    assert names.method(method_call) == "sqrt"
    assert names.callee(vmap_call, {"jax.vmap"}) is None
    assert names.method(vmap_call) is None

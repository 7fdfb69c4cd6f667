"""GL020 non-differentiable-op: spellings, flow and exemptions that fixtures show poorly."""

import textwrap

import pytest

from gradlint import lint_source


def lines(source: str) -> list[int]:
    return [f.line for f in lint_source(textwrap.dedent(source), select=["GL020"])]


@pytest.mark.parametrize(
    "imports, op",
    [
        ("import tensorflow as tf", "tf.round(y_pred)"),
        ("import tensorflow as tf", "tf.math.round(y_pred)"),
        ("import tensorflow.compat.v1 as tf", "tf.floor(y_pred)"),
        ("from tensorflow.math import ceil", "ceil(y_pred)"),
        ("from tensorflow import math as tfm", "tfm.rint(y_pred)"),
        ("import tensorflow as tf", "tf.cast(tf.argmax(y_pred, -1), tf.float32)"),
        ("import tensorflow as tf", "tf.cast(y_pred, tf.int32)"),
        ("import tensorflow as tf", "tf.cast(y_pred, 'int64')"),
        ("import tensorflow as tf", "tf.cast(y_pred >= 0.5, y_pred.dtype)"),
        ("import tensorflow as tf", "tf.cast(tf.greater(y_pred, 0.5), 'float32')"),
        ("import tensorflow as tf", "tf.keras.ops.sign(y_pred)"),
        ("from tensorflow.keras import backend as K", "K.round(y_pred)"),
        ("from keras.src import ops", "ops.floor(y_pred)"),
        ("import keras", "keras.ops.argmin(y_pred, axis=-1)"),
        ("import torch", "torch.trunc(y_pred)"),
        ("from torch import round as tround", "tround(y_pred)"),
        ("import torch", "y_pred.ceil()"),
        ("import torch", "y_pred.long()"),
        ("import torch", "y_pred.to(torch.int64)"),
        ("import torch", "y_pred.to(dtype=torch.long)"),
        ("import torch", "y_pred.type(torch.LongTensor)"),
        ("import torch", "(y_pred > 0).float()"),
        ("import torch", "(y_pred > 0).to(y_pred.dtype)"),
        ("import jax.numpy as jnp", "jnp.rint(y_pred)"),
        ("from jax import numpy as jnp", "y_pred.astype(int)"),
        ("import jax.numpy as jnp", "y_pred.astype(jnp.int32)"),
        ("import jax.numpy as jnp", "(y_pred > 0).astype(jnp.float32)"),
        ("from jax import lax", "lax.round(y_pred)"),
        ("import theano.tensor as T", "T.argmax(y_pred, axis=1)"),
        ("import pytensor.tensor as pt", "pt.round(y_pred)"),
        ("import aesara.tensor as at", "at.floor(y_pred)"),
    ],
)
def test_spellings_in_a_loss(imports: str, op: str) -> None:
    source = f"""
    {imports}

    def my_loss(y_true, y_pred):
        hard = {op}
        return (hard - y_true) ** 2
    """
    assert lines(source) == [5]


@pytest.mark.parametrize(
    "op",
    [
        "y_pred + tf.stop_gradient(tf.round(y_pred) - y_pred)",
        "y_pred - tf.stop_gradient(y_pred - tf.round(y_pred))",
        "tf.stop_gradient(tf.round(y_pred))",
        "y_pred * tf.round(y_pred)",
        "tf.round(y_pred) * self_scale",
        "tf.gather(y_pred, tf.argmax(y_pred, -1), batch_dims=1)",
        "tf.where(tf.round(y_pred) > 0, y_pred, 0.0)",
        "tf.round(y_pred) + dense(y_pred)",
    ],
)
def test_gradient_path_remains(op: str) -> None:
    source = f"""
    import tensorflow as tf

    def my_loss(y_true, y_pred, self_scale, dense):
        hard = {op}
        return tf.reduce_mean(hard - y_true)
    """
    assert lines(source) == []


def test_flow_through_locals_and_branches() -> None:
    source = """
    import torch

    def my_loss(pred, target):
        q = pred.round()
        if q.dim() > 1:
            q = q.sum(dim=1)
        else:
            q = q * 2
        err = (q - target).abs()
        return err.mean()
    """
    assert lines(source) == [5]


def test_a_differentiable_return_beside_a_dead_one_is_quiet() -> None:
    source = """
    import torch

    def my_loss(pred, target, hard):
        if hard:
            return (pred.round() - target).abs().mean()
        return (pred - target).abs().mean()
    """
    assert lines(source) == []


def test_reassignment_restores_a_gradient() -> None:
    source = """
    import torch

    def my_loss(pred, target):
        q = torch.round(pred)
        q = pred + (q - pred).detach()
        return ((q - target) ** 2).mean()
    """
    assert lines(source) == []


def test_tuple_return_of_a_loss_uses_its_first_element() -> None:
    source = """
    import torch

    def compute_loss(pred, target):
        loss = (pred.sign() - target).pow(2).mean()
        return loss, {"loss": loss.item()}

    class Net(torch.nn.Module):
        def forward(self, x):
            return x.round(), x
    """
    assert lines(source) == [5]


def test_jax_grad_respects_argnums() -> None:
    source = """
    import jax
    import jax.numpy as jnp

    def energy(x, w):
        return jnp.sum(x @ jnp.round(w))

    g0 = jax.grad(energy)
    """
    # x (argument 0) still carries a gradient: quiet.
    assert lines(source) == []
    assert lines(source.replace("jax.grad(energy)", "jax.grad(energy, argnums=1)")) == [6]


def test_method_given_to_jax_grad() -> None:
    source = """
    import jax
    import jax.numpy as jnp

    class Model:
        def energy(self, w, x):
            return jnp.sum(jnp.floor(w) * x)

        def step(self, w, x):
            return jax.grad(self.energy)(w, x)
    """
    assert lines(source) == [7]


def test_compile_with_a_list_and_a_lambda() -> None:
    source = """
    import tensorflow as tf

    def hard_mse(y_true, y_pred):
        return tf.reduce_mean(tf.square(y_true - tf.round(y_pred)))

    model.compile(loss=[hard_mse], optimizer="adam")
    model.compile(loss=lambda t, p: tf.reduce_mean(tf.abs(t - tf.floor(p))))
    """
    # Keras passes (y_true, y_pred): whatever the first parameter is called, it carries no gradient.
    assert lines(source) == [5, 8]


def test_backward_of_a_module_level_value() -> None:
    source = """
    import torch

    w = torch.randn(3, requires_grad=True)
    loss = torch.floor(w * 2).sum()
    loss.backward()
    """
    assert lines(source) == [5]


def test_no_grad_blocks_and_decorators() -> None:
    source = """
    import torch

    class Net(torch.nn.Module):
        def forward(self, x):
            with torch.no_grad():
                return x.round()

    @torch.no_grad()
    def score_loss(pred, target):
        return (pred.round() - target).abs().mean()
    """
    assert lines(source) == []


def test_exempt_names() -> None:
    source = """
    import tensorflow as tf

    def iou_metric(y_true, y_pred):
        return tf.reduce_mean(tf.round(y_pred))

    def sample_loss(y_pred):
        return tf.reduce_mean(tf.round(y_pred))

    class RoundLayer(tf.keras.layers.Layer):
        def call(self, x):
            return tf.round(x)

        def predict_step(self, x):
            return tf.round(x)

    def iou_loss(y_true, y_pred):  # a metric's word in a loss's name: still a loss
        return tf.reduce_mean(tf.round(y_pred))
    """
    assert lines(source) == [12, 18]


def test_noqa_and_once_per_op() -> None:
    source = """
    import torch

    def my_loss(pred, target):
        q = pred.round()  # noqa: GL020
        return (q - target).abs().mean()

    def other_loss(pred, target):
        q = pred.floor()
        if target is None:
            return q.sum()
        return q.mean()
    """
    assert lines(source) == [9]


def test_loss_objects_at_module_level_and_on_self() -> None:
    source = """
    import torch
    from torch import nn

    criterion = nn.MSELoss()

    def train(model, loader):
        for x, target in loader:
            loss = criterion(model(x).round(), target)
            loss.backward()

    class Trainer:
        def __init__(self, model):
            self.model = model
            self.loss_fn = nn.L1Loss()

        def step(self, x, y):
            loss = self.loss_fn(self.model(x).argmax(dim=1).float(), y)
            loss.backward()

        def good_step(self, x, y):
            loss = self.loss_fn(self.model(x), y.round())
            loss.backward()
    """
    assert lines(source) == [9, 18]


def test_names_that_mention_a_loss_without_being_one() -> None:
    source = """
    import tensorflow as tf

    def loss_scale(step):
        return 2.0 ** tf.floor(step / 1000.0)

    def loss_weights(epoch):
        return tf.round(epoch / 10.0)

    def loss_fn(y_true, y_pred):
        return tf.reduce_mean(tf.abs(y_true - tf.round(y_pred)))
    """
    assert lines(source) == [11]


def test_ops_on_constants_are_quiet() -> None:
    source = """
    import torch
    from torch import nn

    class CausalMask(nn.Module):
        def forward(self, x):
            n = x.shape[1]
            return (torch.arange(n)[None, :] <= torch.arange(n)[:, None]).float()

    class Buckets(nn.Module):
        def forward(self, x):
            return torch.floor(torch.linspace(0, 10, steps=5))

    def label_loss(pred, target):
        return torch.round(target).mean()
    """
    assert lines(source) == []


def test_variables_built_from_constants_carry_a_gradient() -> None:
    source = """
    import tensorflow as tf

    v = tf.Variable(tf.zeros([3]))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.round(v))
    g = tape.gradient(y, v)
    """
    assert lines(source) == [6]


def test_an_integer_cast_of_a_floor_is_an_integer_output() -> None:
    source = """
    import keras
    from keras import ops

    class Discretize(keras.layers.Layer):
        def call(self, x):
            return ops.cast(ops.floor(x * 10.0), "int32")

    def discretized_loss(y_true, y_pred):
        return ops.mean(ops.cast(ops.cast(ops.floor(y_pred * 10.0), "int32"), "float32"))
    """
    assert lines(source) == [10]


def test_dead_on_one_branch_reaching_backward() -> None:
    source = """
    import torch
    import torch.nn.functional as F

    def step(model, x, y, hard, opt):
        out = model(x)
        if hard:
            pred = out.round()
        else:
            pred = out
        loss = F.mse_loss(pred, y)
        loss.backward()

    def step_with_extra_term(model, x, y, hard, reg):
        out = model(x)
        if hard:
            pred = out.round()
        else:
            pred = out
        loss = F.mse_loss(pred, y) + reg(model)
        loss.backward()

    def forward_switch(x, training):
        if training:
            q = x
        else:
            q = x.round()
        return q
    """
    # The second adds a term that always carries a gradient; a return switch is left alone.
    assert lines(source) == [8]


def test_decorated_helpers_and_test_files() -> None:
    source = """
    import torch
    from mylib import auto_ste

    @auto_ste
    def hard(x):
        return torch.round(x)

    @torch.compile
    def compiled(x):
        return torch.round(x)

    def my_loss(pred, target):
        return ((hard(pred) - target) ** 2).mean()

    def other_loss(pred, target):
        return ((compiled(pred) - target) ** 2).mean()

    class TorchRound(torch.nn.Module):
        def forward(self, x):
            return torch.round(x)
    """
    assert lines(source) == [11, 21]
    found = lint_source(textwrap.dedent(source), path="tests/test_export.py", select=["GL020"])
    assert found == []


def test_a_torch_loss_module_takes_its_gradient_through_the_input_only():
    source = """
        import torch
        import torch.nn.functional as F
        from torch.nn.modules.loss import _WeightedLoss

        class EdgeLoss(_WeightedLoss):
            def forward(self, pred, image):
                size = pred.size()
                pred = pred.argmax(1).view(size[0], 1, size[2], size[3]).float()
                return torch.mean(F.conv2d(pred, image) * image)

        class SmoothLoss(_WeightedLoss):
            def forward(self, pred, image):
                size = pred.size()
                pred = pred.softmax(1).view(size[0], 1, size[2], size[3])
                return torch.mean(F.conv2d(pred, image) * image)
    """
    assert lines(source) == [9]


@pytest.mark.parametrize(
    "imports, expr",
    [
        ("import torch", "((x.round() - x).detach() + x).round()"),
        ("import torch", "torch.floor(x + (q - x).detach())"),
        ("import jax", "jax.numpy.round(jax.lax.stop_gradient(q - x) + x)"),
        ("import tensorflow as tf", "tf.round(tf.stop_gradient(q - x) + x)"),
    ],
)
def test_an_estimator_wrapped_in_the_op_is_reported_wherever_it_goes(imports: str, expr: str) -> None:
    source = f"{imports}\n\ndef quantize(x, q):\n    return {expr}\n"
    found = lint_source(source, select=["GL020"])
    assert [(f.line, "straight-through estimator" in f.message) for f in found] == [(4, True)]


@pytest.mark.parametrize(
    "expr",
    ["tf.stop_gradient(tf.round(x) - x) + x", "tf.round(tf.stop_gradient(q - x) + y)", "tf.round(q - x + x)"],
)
def test_an_estimator_outside_the_op_is_quiet(expr: str) -> None:
    source = f"import tensorflow as tf\n\ndef quantize(x, q, y):\n    return {expr}\n"
    assert lint_source(source, select=["GL020"]) == []


def test_a_helper_method_on_self_is_followed():
    source = """\
    import torch
    from torch import nn

    class Quantized(nn.Module):
        def forward(self, x):
            return self.quantize(x) * 2

        def quantize(self, x):
            return torch.floor(x)

    class Mixed(nn.Module):
        def forward(self, x):
            return self.quantize(x) + x

        def quantize(self, x):
            return torch.floor(x)
    """
    # Defined after its caller and still followed (a class's methods are known up front);
    # `+ x` keeps a gradient path.
    assert lines(source) == [9]


def test_an_indicator_of_a_prediction_made_with_where_is_cut():
    source = """
    import torch

    def mistake_loss(logits, labels, weight=0.3):
        wrong = torch.where(logits.argmax(1) == labels, 0.0, 1.0)
        return weight * wrong.mean()

    def weighted_loss(logits, labels):
        positive = torch.where(labels > 0, 2.0, 1.0)  # of the labels alone: a constant weight
        return (positive * logits).mean()
    """
    assert lines(source) == [5]


def test_settings_stored_on_self_are_constants_and_weights_are_not():
    source = """
    import torch
    import torch.nn as nn

    class RoundedLoss:
        def __init__(self, scale=4.0):
            self.scale = scale

        def __call__(self, pred):
            return self.scale * torch.round(pred).sum()

    class LearnedRoundedLoss(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1))

        def forward(self, pred):
            return self.scale * torch.round(pred).sum()
    """
    assert lines(source) == [10]


def test_a_helper_building_a_mask_from_python_values_gives_a_constant():
    source = """
    import torch

    class TreeLoss:
        def __init__(self, parent_of):
            self.parent_of = parent_of

        def _orphans(self, child, parent):
            return torch.tensor([self.parent_of[int(c)] != int(p) for c, p in zip(child, parent)]).float()

        def compute_tloss(self, child_logits, parent_logits):
            child = child_logits.argmax(1)
            parent = parent_logits.argmax(1)
            return (self._orphans(child, parent) * (child != 0).float()).sum()
    """
    assert lines(source) == [14]

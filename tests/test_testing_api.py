"""`gradlint.testing`: each helper passes on healthy code and fails, for the right reason, on
the pitfall, in every framework it supports."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from gradlint.dynamic.backends import FRAMEWORKS, installed
from gradlint.testing import (
    assert_gradients_flow,
    check_gradient,
    gradlint_testing,  # noqa: F401 - the fixture, as the plugin registers it
)
from tests.conftest import ROOT, require_frameworks


def need(framework: str):
    if not installed(framework):
        if require_frameworks():
            pytest.fail(f"{FRAMEWORKS[framework][1]} is required")
        pytest.skip(f"{FRAMEWORKS[framework][1]} is not installed")
    return __import__(FRAMEWORKS[framework][0])


def test_importable_without_any_framework():
    blocker = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "tensorflow", "keras", "jax", "numpy", "pytest"):
                    raise ImportError(f"blocked {name}")
        sys.meta_path.insert(0, Block())
        import gradlint.testing as t
        assert callable(t.assert_gradients_flow) and callable(t.check_gradient)
        assert not {"torch", "tensorflow", "jax", "numpy"} & set(sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", blocker], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def test_fixture_returns_the_module(gradlint_testing):  # noqa: F811 - the fixture imported above
    assert gradlint_testing.check_gradient is check_gradient


def test_rejects_what_it_cannot_check():
    with pytest.raises(TypeError, match="torch module, a Keras layer or a JAX function"):
        assert_gradients_flow(42)


# torch -----------------------------------------------------------------------------------


def _torch_gate(hard: bool):
    torch = need("torch")
    nn = torch.nn

    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 4)
            self.thr = nn.Parameter(torch.tensor(0.3))

        def forward(self, x):
            y = self.linear(x)
            if hard:
                return -y if self.thr < 0.5 else y
            return y * torch.sigmoid((y - self.thr) / 0.1)

    return torch, Gate()


def test_torch_gradients_flow():
    torch, model = _torch_gate(hard=False)
    norms = assert_gradients_flow(model, torch.randn(3, 4))
    assert set(norms) == {"linear.weight", "linear.bias", "thr"} and min(norms.values()) > 1e-3


def test_torch_parameter_only_in_condition_fails():
    torch, model = _torch_gate(hard=True)
    with pytest.raises(AssertionError, match=r"1 of 3 trainable parameters of `Gate`:\n  grad of `thr` is None"):
        assert_gradients_flow(model, torch.randn(3, 4))


def test_torch_ignore_and_sampled_input():
    _, model = _torch_gate(hard=True)
    assert set(assert_gradients_flow(model, ignore=["th*"])) == {"linear.weight", "linear.bias"}


def test_torch_softmax_output_is_not_mistaken_for_dead_weights():
    torch = need("torch")
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3), torch.nn.Softmax(-1))
    assert_gradients_flow(model, torch.randn(5, 4))  # the plain sum of a softmax is constant


def test_torch_zero_initialised_gate_fails_as_zero():
    torch = need("torch")

    class ReZero(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Linear(4, 4)
            self.alpha = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return x + self.alpha * self.body(x)

    with pytest.raises(AssertionError, match=r"grad of `body.weight` is zero"):
        assert_gradients_flow(ReZero(), torch.randn(2, 4))


def test_torch_check_gradient_custom_function():
    torch = need("torch")

    class SafeNorm(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            norm = x.norm()
            ctx.save_for_backward(x, norm)
            return norm

        @staticmethod
        def backward(ctx, grad):
            x, norm = ctx.saved_tensors
            return grad * x / norm.clamp_min(1e-12)

    class WrongSign(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**2

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return -2 * grad * x

    assert check_gradient(SafeNorm, torch.tensor([1.0, -1.0, 2.0])) < 1e-7
    with pytest.raises(AssertionError, match=r"`WrongSign.apply` .* 3 of 3 elements; largest relative error 2 at `x` at index \["):
        check_gradient(WrongSign.apply, torch.tensor([1.0, -1.0, 2.0]))


def test_torch_check_gradient_nan_at_zero_and_integer_inputs():
    torch = need("torch")
    with pytest.raises(AssertionError, match=r"at `x` at index \[0\]: autodiff nan, numerical 0"):
        check_gradient(lambda x: torch.sqrt((x**2).sum()), torch.zeros(3))
    assert check_gradient(lambda x, index: x[index].sin(), torch.randn(5), torch.tensor([0, 2])) < 1e-7


def test_torch_check_gradient_casts_a_float32_module_to_a_float64_copy():
    torch = need("torch")
    layer = torch.nn.Linear(3, 2)
    assert check_gradient(layer, torch.randn(4, 3)) < 1e-6
    assert layer.weight.dtype == torch.float32  # the user's module is left as it was


def test_failures_point_at_the_callers_line(tmp_path):
    need("torch")
    (tmp_path / "test_user.py").write_text(textwrap.dedent("""
        import torch
        from gradlint.testing import check_gradient

        def test_root():
            check_gradient(lambda x: torch.sqrt((x**2).sum()), torch.zeros(3))
    """))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(tmp_path)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
                            env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert "autodiff nan" in result.stdout, result.stdout
    assert "gradlint/testing.py" not in result.stdout, result.stdout


# TensorFlow / Keras ----------------------------------------------------------------------


def _keras_gate(hard: bool):
    tf = need("tensorflow")
    import keras

    class Gate(keras.layers.Layer):
        def build(self, input_shape):
            self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], 3))
            self.cutoff = self.add_weight(name="cutoff", shape=(3,), initializer="zeros")

        def call(self, x):
            y = tf.matmul(x, self.kernel)
            if hard:
                return tf.where(y > self.cutoff, y, tf.zeros_like(y))
            return y * tf.sigmoid((y - self.cutoff) / 0.1)

    return tf, Gate()


def test_keras_check_gradient_says_a_float32_layer_needs_float64():
    need("tensorflow")
    import keras
    import numpy as np

    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    with pytest.raises(TypeError, match=r"computes in float32, and check_gradient needs float64"):
        check_gradient(layer, np.ones((2, 3)), framework="tensorflow")


def test_keras_gradients_flow():
    import numpy as np

    _, layer = _keras_gate(hard=False)
    assert set(assert_gradients_flow(layer, np.random.randn(2, 4).astype("float32"))) == {"kernel", "cutoff"}


def test_keras_weight_only_in_condition_fails():
    tf, layer = _keras_gate(hard=True)
    with pytest.raises(AssertionError, match=r"grad of `cutoff` is None\n\(the others do, e.g. grad of `kernel` has norm"):
        assert_gradients_flow(layer, tf.random.normal((2, 4)))


def test_keras_model_with_an_unused_input_branch_fails():
    need("tensorflow")
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3, activation="softmax")])
    assert_gradients_flow(model, np.random.randn(5, 4))
    frozen_relu = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, bias_initializer=keras.initializers.Constant(-100.0),
                                                                           activation="relu"), keras.layers.Dense(2)])
    with pytest.raises(AssertionError, match=r"grad of `layers.0.kernel` is zero"):
        assert_gradients_flow(frozen_relu, np.random.randn(5, 4))


def test_tensorflow_check_gradient_custom_gradient():
    tf = need("tensorflow")

    @tf.custom_gradient
    def half_cos_grad(x):
        def grad(upstream):
            return upstream * tf.cos(x) * 0.5

        return tf.sin(x), grad

    assert check_gradient(lambda x: tf.norm(x + 1.0), tf.constant([1.0, 2.0])) < 1e-7
    with pytest.raises(AssertionError, match=r"`half_cos_grad` .* largest relative error 0.5 at `x`"):
        check_gradient(half_cos_grad, tf.constant([0.1, 0.5]))


# JAX -------------------------------------------------------------------------------------


def _jax_model(hard: bool):
    jax = need("jax")
    jnp = jax.numpy

    def model(params, x):
        y = jnp.tanh(x @ params["w"] + params["b"])
        if hard:
            return y * jnp.where(params["thr"] > 0, 1.0, 2.0)
        return y * jax.nn.sigmoid(params["thr"])

    params = {"w": jnp.ones((4, 3)), "b": jnp.zeros(3), "thr": jnp.array(0.5), "steps": jnp.array(3)}
    return jnp, model, params


def test_jax_gradients_flow():
    jnp, model, params = _jax_model(hard=False)
    assert set(assert_gradients_flow(model, params, jnp.full((2, 4), 0.1))) == {"w", "b", "thr"}  # integer leaves skipped


def test_jax_leaf_only_in_condition_fails():
    jnp, model, params = _jax_model(hard=True)
    with pytest.raises(AssertionError, match=r"1 of 3 trainable parameters of `model`:\n  grad of `thr` is zero"):
        assert_gradients_flow(model, params, jnp.full((2, 4), 0.1))


def test_jax_check_gradient_custom_vjp():
    jax = need("jax")
    jnp = jax.numpy

    def softplus_with(backward_scale):
        @jax.custom_vjp
        def softplus(x):
            return jnp.log1p(jnp.exp(x))

        softplus.defvjp(lambda x: (softplus(x), x), lambda x, g: (g * jax.nn.sigmoid(backward_scale * x),))
        return softplus

    x64 = jax.config.jax_enable_x64
    assert check_gradient(softplus_with(1.0), jnp.array([-3.0, 0.0, 3.0])) < 1e-7
    with pytest.raises(AssertionError, match=r"2 of 3 elements; largest relative error"):
        check_gradient(softplus_with(2.0), jnp.array([-3.0, 0.0, 3.0]))
    assert jax.config.jax_enable_x64 == x64  # float64 only inside the check


def test_the_function_names_its_framework():
    jax = need("jax")
    torch = need("torch")
    import numpy as np

    jnp = jax.numpy
    assert check_gradient(lambda x: jnp.sin(x), np.array([0.5, 1.0])) < 1e-7  # NumPy inputs, a JAX function
    with pytest.raises(TypeError, match=r"calls torch, but its inputs are jax values"):
        check_gradient(lambda x: torch.sin(x), jnp.array([0.5, 1.0]))


def test_numpy_inputs_need_a_framework():
    need("numpy")
    import numpy as np

    with pytest.raises(TypeError, match="pass framework="):
        check_gradient(lambda x: x, np.ones(2))


# Flax and Equinox ------------------------------------------------------------------------


def _flax_scaled(used: bool):
    need("jax")
    pytest.importorskip("flax")
    import flax.linen as nn
    import jax

    class ScaledDense(nn.Module):
        def setup(self):
            self.dense = nn.Dense(3)
            self.shift = self.param("shift", nn.initializers.zeros, (3,))

        def __call__(self, x):
            return self.dense(x) + self.shift if used else self.dense(x)

    x = jax.numpy.ones((2, 4))
    module = ScaledDense()
    return module, module.init(jax.random.PRNGKey(0), x), x


def test_flax_linen_gradients_flow():
    module, variables, x = _flax_scaled(used=True)
    assert set(assert_gradients_flow(module, variables, x)) == {"dense.kernel", "dense.bias", "shift"}
    assert set(assert_gradients_flow(module, variables["params"], x)) == {"dense.kernel", "dense.bias", "shift"}


def test_flax_linen_unused_param_fails():
    module, variables, x = _flax_scaled(used=False)
    with pytest.raises(AssertionError, match=r"1 of 3 trainable parameters of `ScaledDense`:\n  grad of `shift` is zero"):
        assert_gradients_flow(module, variables, x)


def _equinox_head(used: bool):
    jax = need("jax")
    eqx = pytest.importorskip("equinox")

    class Head(eqx.Module):
        linear: eqx.nn.Linear
        bias: jax.Array

        def __init__(self, key):
            self.linear = eqx.nn.Linear(4, 3, key=key)
            self.bias = jax.numpy.zeros(3)

        def __call__(self, x):
            return self.linear(x) + self.bias if used else self.linear(x)

    return Head(jax.random.PRNGKey(0)), jax.numpy.ones(4)


def test_equinox_gradients_flow():
    model, x = _equinox_head(used=True)
    assert set(assert_gradients_flow(model, x)) == {"linear.weight", "linear.bias", "bias"}


def test_equinox_unused_field_fails():
    model, x = _equinox_head(used=False)
    with pytest.raises(AssertionError, match=r"1 of 3 trainable parameters of `Head`:\n  grad of `bias` is zero"):
        assert_gradients_flow(model, x)

"""GL001 on Flax (linen and NNX), Equinox and Haiku: spellings the fixtures do not show."""

from gradlint import lint_source


def lines(src: str) -> list[int]:
    return [f.line for f in lint_source(src, select=["GL001"])]


def test_linen_imported_by_name():
    src = (
        "from flax.linen import Module, compact\n"
        "class Head(Module):\n"
        "    @compact\n"
        "    def __call__(self, x):\n"
        "        w = self.param('w', None, (4, 4))\n"
        "        v = self.param('v', None, (4,))\n"
        "        return x @ w\n"
    )
    assert lines(src) == [6]


def test_linen_param_through_a_cast_and_a_loop_is_used():
    src = (
        "from flax import linen as nn\n"
        "import jax.numpy as jnp\n"
        "class Head(nn.Module):\n"
        "    @nn.compact\n"
        "    def __call__(self, x):\n"
        "        w = jnp.asarray(self.param('w', None, (4, 4)), x.dtype)\n"
        "        for _ in range(2):\n"
        "            x = x @ w\n"
        "        return x\n"
    )
    assert lines(src) == []


def test_param_method_outside_flax_is_not_a_weight():
    src = (
        "import torch\n"
        "class Config:\n"
        "    def param(self, name, default):\n"
        "        return default\n"
        "    def read(self):\n"
        "        unused = self.param('lr', 0.1)\n"
        "        return 1\n"
    )
    assert lines(src) == []


def test_linen_param_returned_or_stored_is_used():
    src = (
        "import flax.linen as nn\n"
        "class Scale(nn.Module):\n"
        "    @nn.compact\n"
        "    def __call__(self, x):\n"
        "        return x * self.param('scale', nn.initializers.ones, ())\n"
    )
    assert lines(src) == []


def test_haiku_by_name_and_in_tests():
    src = (
        "from haiku import get_parameter\n"
        "def net(x):\n"
        "    b = get_parameter('b', (4,), init=None)\n"
        "    return x\n"
    )
    assert lines(src) == [3]
    test_src = "import haiku as hk\ndef test_shapes():\n    b = hk.get_parameter('b', (4,), init=None)\n"
    assert [f.line for f in lint_source(test_src, "test_net.py", select=["GL001"])] == []


def test_haiku_locals_and_eval_keep_everything():
    src = (
        "import haiku as hk\n"
        "def net(x):\n"
        "    b = hk.get_parameter('b', (4,), init=None)\n"
        "    return eval('x + b', locals())\n"
    )
    assert lines(src) == []


def test_equinox_integer_and_boolean_arrays_are_not_trained():
    src = (
        "import equinox as eqx\n"
        "import jax.numpy as jnp\n"
        "class M(eqx.Module):\n"
        "    def __init__(self):\n"
        "        self.index = jnp.array([0, 1, 2])\n"
        "        self.mask = jnp.ones(3, dtype=bool)\n"
        "        self.count = jnp.zeros((), jnp.int32)\n"
        "        self.scale = jnp.array(0.5)\n"
        "    def __call__(self, x):\n"
        "        return x\n"
    )
    assert lines(src) == [8]


def test_equinox_field_read_in_a_helper_or_outside_is_used():
    src = (
        "from equinox import Module\n"
        "import jax\n"
        "class M(Module):\n"
        "    def __init__(self, key):\n"
        "        self.w = jax.random.normal(key, (3,))\n"
        "        self.v = jax.random.normal(key, (3,))\n"
        "    def helper(self):\n"
        "        return self.w\n"
        "    def __call__(self, x):\n"
        "        return x * self.helper()\n"
        "def penalty(model):\n"
        "    return (model.v ** 2).sum()\n"
    )
    assert lines(src) == []


def test_nnx_variable_is_not_a_parameter():
    src = (
        "from flax import nnx\n"
        "import jax.numpy as jnp\n"
        "class M(nnx.Module):\n"
        "    def __init__(self, rngs):\n"
        "        self.count = nnx.Variable(jnp.zeros(()))\n"
        "        self.stat = nnx.BatchStat(jnp.zeros(()))\n"
        "        self.scale = nnx.Param(jnp.ones(()))\n"
        "    def __call__(self, x):\n"
        "        return x\n"
    )
    assert lines(src) == [7]

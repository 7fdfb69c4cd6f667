"""GL001 unused-trainable-weight: spellings, messages and guards the fixtures do not show."""

import textwrap

import pytest

from gradlint import lint_source
from tests.conftest import findings_in, write_files


def lines(src: str) -> list[int]:
    return [f.line for f in lint_source(textwrap.dedent(src), select=["GL001"])]


def line_of(src: str, text: str) -> int:
    return next(n for n, line in enumerate(textwrap.dedent(src).splitlines(), 1) if text in line)


def messages(src: str) -> list[str]:
    return [f.message for f in lint_source(textwrap.dedent(src), select=["GL001"])]


@pytest.mark.parametrize(
    ("imports", "base", "param", "layer"),
    [
        ("import torch\nimport torch.nn as nn", "nn.Module", "nn.Parameter", "nn.Linear"),
        ("import torch\nfrom torch.nn import Module, Parameter, Linear", "Module", "Parameter", "Linear"),
        ("import torch\nfrom torch.nn.modules.module import Module\nfrom torch.nn.parameter import Parameter\n"
         "from torch.nn.modules.linear import Linear", "Module", "Parameter", "Linear"),
        ("import torch\nimport torch as T", "T.nn.Module", "T.nn.Parameter", "T.nn.Linear"),
    ],
)
def test_torch_spellings(imports: str, base: str, param: str, layer: str) -> None:
    src = f"""{imports}

class M({base}):
    def __init__(self):
        super().__init__()
        self.w = {param}(torch.ones(3))
        self.used = {layer}(3, 3)
        self.spare = {layer}(3, 3)

    def forward(self, x):
        return self.used(x)
"""
    assert lines(src) == [line_of(src, "self.w ="), line_of(src, "self.spare =")]


@pytest.mark.parametrize(
    ("imports", "base", "dense"),
    [
        ("import tensorflow as tf", "tf.keras.layers.Layer", "tf.keras.layers.Dense"),
        ("import tf_keras", "tf_keras.layers.Layer", "tf_keras.layers.Dense"),
        ("from keras.src.layers.layer import Layer\nfrom keras.src.layers.core.dense import Dense", "Layer", "Dense"),
        ("from tensorflow.keras import layers", "layers.Layer", "layers.Dense"),
        ("import keras", "keras.Model", "keras.layers.Dense"),
    ],
)
def test_keras_spellings(imports: str, base: str, dense: str) -> None:
    src = f"""{imports}

class L({base}):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.a = {dense}(4)
        self.b = {dense}(4)

    def build(self, input_shape):
        self.w = self.add_weight(shape=(4,))

    def call(self, x):
        return self.a(x)
"""
    assert lines(src) == [line_of(src, "self.b ="), line_of(src, "self.w =")]


def test_condition_message_and_plain_message() -> None:
    found = messages(
        """
        import torch
        from torch import nn

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.thr = nn.Parameter(torch.zeros(()))
                self.spare = nn.Parameter(torch.zeros(()))

            def forward(self, x):
                if self.thr.item() > 0 and x.sum() > self.thr:
                    return x
                return -x
        """
    )
    assert len(found) == 2
    assert "used only in a condition" in found[0] and "`self.thr`" in found[0]
    assert "never reaches the output of `forward`" in found[1] and "`self.spare`" in found[1]


def test_condition_through_locals_and_dead_locals() -> None:
    src = """
    import tensorflow as tf

    class L(tf.keras.layers.Layer):
        def build(self, shape):
            self.lo = self.add_weight(shape=())
            self.hi = self.add_weight(shape=())
            self.k = self.add_weight(shape=())
            self.dead = self.add_weight(shape=())

        def call(self, x):
            above = tf.math.greater(x, self.lo)
            below = tf.math.less(x, self.hi)
            inside = tf.logical_and(above, below)
            unused = x * self.dead
            unused = unused + 1.0
            return tf.where(inside, x * self.k, 0.0)
    """
    found = lint_source(textwrap.dedent(src), select=["GL001"])
    assert [f.line for f in found] == [6, 7, 9]
    assert "condition" in found[0].message and "condition" in found[1].message
    assert "never reaches" in found[2].message


def test_noqa_on_creation_line() -> None:
    src = """
    import torch
    from torch import nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.spare = nn.Linear(2, 2)  # noqa: GL001

        def forward(self, x):
            return x
    """
    assert lines(src) == []


@pytest.mark.parametrize(
    "forward",
    [
        "return sum(p.sum() for p in self.parameters()) + x",
        "return torch.func.functional_call(self, dict(self.named_parameters()), (x,))",
        "return getattr(self, self.name)(x)",
        "return [m(x) for m in self.children()]",
        "return vars(self)['spare'](x)",
        "return self.__dict__['_modules']['spare'](x)",
        "return self.get_submodule('spare')(x)",
        "return getattr(self, 'spare')(x)",
        "return self._modules['spare'](x)",
    ],
)
def test_whole_model_uses_are_quiet(forward: str) -> None:
    src = f"""
import torch
from torch import nn

class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.name = "spare"
        self.spare = nn.Linear(2, 2)

    def forward(self, x):
        {forward}
"""
    assert lines(src) == []


def test_super_forward_reads_what_the_bases_read() -> None:
    src = """
    import torch
    from torch import nn

    class Base(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(2, 2)

        def forward(self, x):
            return self.proj(x)

    class Child(Base):
        def __init__(self):
            super().__init__()
            self.extra = nn.Linear(2, 2)

        def forward(self, x):
            return super().forward(x) * 2

    class Stack(nn.Sequential):
        def __init__(self):
            super().__init__(nn.Linear(2, 2))
            self.extra = nn.Linear(2, 2)  # `nn.Sequential.forward` runs every sub-module

        def forward(self, x):
            return super().forward(x) * 2
    """
    assert lines(src) == [line_of(src, "self.extra = nn.Linear(2, 2)")]


def test_external_attribute_use_is_a_use() -> None:
    src = """
    import torch
    from torch import nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(2, 2)
            self.aux_head = nn.Linear(2, 2)

        def forward(self, x):
            return self.body(x)

    def train_step(model, x):
        return model.aux_head(model(x)).sum()
    """
    assert lines(src) == []


def test_unknown_base_is_quiet_but_framework_like_base_is_checked() -> None:
    opaque = """
    import torch
    from torch import nn
    from .base import BaseModel

    class M(BaseModel):
        def __init__(self):
            super().__init__()
            self.decoder = nn.Linear(2, 2)

        def forward(self, x):
            return x
    """
    assert lines(opaque) == []
    internal = """
    import torch
    from torch.nn.parameter import Parameter
    from .module import Module

    class Scale(Module):
        def __init__(self, n):
            super().__init__()
            self.weight = Parameter(torch.ones(n))
            self.spare = Parameter(torch.ones(n))

        def forward(self, x):
            return x * self.weight

    class Inherits(Module):
        def __init__(self, n):
            super().__init__()
            self.spare = Parameter(torch.ones(n))

        def forward(self, x):
            return self._inherited_helper(x)
    """
    assert lines(internal) == [line_of(internal, "self.spare = Parameter")]


def test_non_trainable_and_conditional_creation() -> None:
    src = """
    import torch
    from torch import nn

    class M(nn.Module):
        def __init__(self, bias=True, freeze=False):
            super().__init__()
            self.w = nn.Parameter(torch.ones(2), requires_grad=not freeze)
            self.b = nn.Parameter(torch.ones(2), False)
            self.register_buffer("scale", torch.ones(2))
            self.register_parameter("offset", None)
            self.emb = nn.Embedding(3, 2)
            self.emb.requires_grad_(False)
            if bias:
                self.bias = nn.Parameter(torch.zeros(2))
            else:
                self.bias = None

        def forward(self, x):
            out = x * self.scale
            if self.bias is not None:
                out = out + self.bias
            return out
    """
    assert lines(src) == []


def test_subclass_in_same_file_reads_parent_weight() -> None:
    src = """
    import tensorflow as tf

    class Base(tf.keras.layers.Layer):
        def build(self, shape):
            self.alpha = self.add_weight(shape=())
            self.beta = self.add_weight(shape=())
            self.gamma = self.add_weight(shape=())

        def call(self, x):
            return x * self.alpha

    class Child(Base):
        def call(self, x):
            return x * self.alpha + self.beta
    """
    assert lines(src) == [8]


def test_local_layer_class_as_sub_layer() -> None:
    src = """
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x)

    class Gelu(nn.Module):
        def forward(self, x):
            return torch.nn.functional.gelu(x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.first = Block()
            self.second = Block()
            self.act = Gelu()

        def forward(self, x):
            return self.first(x)
    """
    assert lines(src) == [21]


def test_handing_self_parameters_to_an_optimiser_is_not_a_use():
    src = """
        import torch
        from torch import nn

        class Unmixer(nn.Module):
            def __init__(self):
                super().__init__()

            def build_layers(self):
                self.encoder = nn.Linear(4, 4)
                self.spare = nn.Linear(4, 4)

            def forward(self, x):
                return self.encoder(x)

            def fit(self, x):
                self.build_layers()
                optimizer = torch.optim.Adam(self.parameters(), lr=1e-3)
                loss = self(x).sum()
                loss.backward()
                optimizer.step()

        class Regularised(nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = nn.Linear(4, 4)
                self.spare = nn.Linear(4, 4)

            def forward(self, x):
                return self.encoder(x)

            def penalty(self):
                return sum(p.norm() for p in self.parameters())
    """
    assert lines(src) == [line_of(src, "self.spare = nn.Linear(4, 4)")]


OVERWRITTEN = """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.c = nn.Linear(4, 4)

    def forward(self, x, flag=False):
        h = self.a(x)
        y = self.b(h)
        {then}
        return y
"""


def test_a_layer_output_overwritten_before_it_is_read_never_trains():
    # `y = self.c(x)` drops `self.b(h)`, and with it `self.a`: the wrong variable, a real slip.
    found = lint_source(OVERWRITTEN.format(then="y = self.c(x)"), select=["GL001"])
    assert [(f.line, f.message.split("`")[1]) for f in found] == [(8, "self.a"), (9, "self.b")]


def test_an_overwrite_that_reads_the_value_or_may_not_run_keeps_it():
    for then in ("y = y + self.c(x)", "if flag:\n            y = self.c(x)", "y = self.c(y)"):
        assert lint_source(OVERWRITTEN.format(then=then), select=["GL001"]) == [], then


def test_cut_and_snapshot_messages() -> None:
    found = messages(
        """
        import tensorflow as tf

        class L(tf.keras.layers.Layer):
            def build(self, shape):
                self.gate = self.add_weight(shape=())
                self.kernel = self.add_weight(shape=(4, 4))
                self.kernel_t = tf.transpose(self.kernel)

            def call(self, x):
                return tf.matmul(x, self.kernel_t) * tf.stop_gradient(self.gate)
        """
    )
    assert len(found) == 2
    assert "`self.gate` reaches `call` only through a gradient cut" in found[0]
    assert "`self.kernel` is read only in `build`, into a tensor computed once there" in found[1]


TORCH_DERIVED = """
import torch
from torch import nn

class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(4))
        self.w2 = {derived}

    def forward(self, x):
        return x * self.w2
"""


@pytest.mark.parametrize("derived", ["self.w * 2", "torch.cat([self.w, self.w])"])
def test_a_tensor_derived_in_torch_init_is_not_a_snapshot(derived: str) -> None:
    # torch records the graph of `__init__`: the first backward reaches the weight (a second
    # one fails loudly), so it is not the silent pitfall.
    assert lines(TORCH_DERIVED.format(derived=derived)) == []


KERAS_LOCAL = """
import tensorflow as tf

class L(tf.keras.layers.Layer):
    def build(self, shape):
        kernel = self.add_weight(shape=(4, 4))
        {keep}

    def call(self, x):
        return tf.matmul(x, self.kept)
"""


@pytest.mark.parametrize(
    ("keep", "flagged"),
    [
        ("self.kept = kernel", False),
        ("self.kept = tf.identity(kernel)", True),
        ("self.kept = -kernel", True),
        ("self.kept = self.wrap(kernel)", False),  # a helper may keep it
        ("self.kept = tf.Variable(kernel)", False),  # a class: not a computation the scan knows
        ("setattr(self, 'kept', kernel)", False),
    ],
)
def test_a_keras_weight_kept_in_a_local(keep: str, flagged: bool) -> None:
    assert bool(lines(KERAS_LOCAL.format(keep=keep))) is flagged


def test_an_equinox_field_behind_stop_gradient_is_a_constant() -> None:
    src = """
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    class M(eqx.Module):
        scale: jax.Array

        def __init__(self):
            self.scale = jnp.ones(3)

        def __call__(self, x):
            return x * jax.lax.stop_gradient(self.scale)
    """
    assert lines(src) == []


def test_a_tensor_computed_in_get_config_is_no_snapshot() -> None:
    found = messages(
        """
        import tensorflow as tf

        class L(tf.keras.layers.Layer):
            def build(self, shape):
                self.w = self.add_weight(shape=())

            def call(self, x):
                return x

            def get_config(self):
                config = {"w": float(tf.reduce_sum(self.w))}
                return config
        """
    )
    assert len(found) == 1 and "never reaches the output of `call`" in found[0]
HELPERS = """
import tensorflow as tf

def fc(x, units, scope):
    with tf.variable_scope(scope):
        w = tf.get_variable("w", [x.get_shape()[-1], units])
        return tf.matmul(x, w)
"""

GENERATOR = """
import tensorflow as tf
from helpers import *

class Gan(object):
    def generate(self, z):
        h0 = tf.nn.relu(fc(z, 64, "layer_a"))
        h1 = tf.nn.relu(fc({source}, 64, "layer_b"))
        return tf.nn.tanh(fc(h1, 8, "layer_out"))

    def sample(self, z):
        with tf.variable_scope("gen", reuse={reuse}):
            return self.generate(z)
"""


@pytest.mark.parametrize(("source", "reuse", "lines"), [("z", "False", [7]), ("h0", "False", []), ("z", "True", [])])
def test_a_dropped_result_of_a_star_imported_weight_helper(tmp_path, source, reuse, lines):
    # `fc` comes from a project module through `from helpers import *`; feeding `z` to the second
    # layer leaves `h0` unread, so the first layer's variables get no gradient, unless the code
    # runs with reuse on (then it takes variables made elsewhere).
    (tmp_path / "helpers.py").write_text(HELPERS)
    model = tmp_path / "model.py"
    model.write_text(GENERATOR.format(source=source, reuse=reuse))
    found = lint_source(model.read_text(), path=model, select=["GL001"])
    assert [f.line for f in found] == lines
    if lines:
        assert "`fc(..., 'layer_a')`" in found[0].message and "`generate`" in found[0].message


def test_a_weight_helper_called_for_its_effect_or_outside_training_is_quiet():
    source = HELPERS + textwrap.dedent(
        """
        def warm_up(x):
            fc(x, 4, "warm")  # makes the variables for a later reuse
            return x

        def test_shapes(x):
            h = fc(x, 4, "t")
            h = fc(x, 4, "u")
            return h
        """
    )
    assert lint_source(source, select=["GL001"]) == []


def test_a_helper_that_stores_the_weight_it_makes_on_a_module_is_not_a_weight_factory():
    # The new weight lives on the module it is stored on; the helper returns a mask, which the
    # caller may drop: no weight is lost with it.
    source = textwrap.dedent(
        """
        import torch
        from torch import nn

        def _shrink(linear, keep):
            mask = linear.weight.abs().sum(1) > keep
            with torch.no_grad():
                linear.weight = nn.Parameter(linear.weight[mask])
            return mask

        def _shrink_bias(linear, mask):
            linear.bias = nn.Parameter(linear.bias[mask])

        def shrink(linear, keep):
            mask = _shrink(linear, keep)
            if getattr(linear, "shrink_bias", False):
                _shrink_bias(linear, mask)
        """
    )
    assert lint_source(source, select=["GL001"]) == []


def test_a_weight_helper_imported_by_name_is_followed(tmp_path):
    (tmp_path / "helpers.py").write_text(HELPERS)
    model = tmp_path / "model.py"
    model.write_text(GENERATOR.format(source="z", reuse="False").replace("from helpers import *", "from helpers import fc"))
    assert [f.line for f in lint_source(model.read_text(), path=model, select=["GL001"])] == [7]


TF1_SCRIPT = """
import tensorflow as tf

def weight(shape, label, learn=True):
    return tf.Variable(tf.random_normal(shape), name=label, trainable=learn)

def policy(state):
    return {policy}

with tf.Graph().as_default():
    state = tf.placeholder(tf.float32, [None, 4])
    body = weight([4, 4], "body")
    head = {head}
    action = policy(state) + tf.tanh(tf.matmul(state, body))[:, :2]
    loss = tf.reduce_mean(tf.square(action))
    {train}
"""
_TRAIN = "step = tf.train.AdamOptimizer(0.1).minimize(loss)"
_STOPPED = "tf.stop_gradient(tf.matmul(state, head))"


@pytest.mark.parametrize(
    ("policy", "head", "train", "found"),
    [
        (_STOPPED, 'weight([4, 2], "head")', _TRAIN, True),
        (_STOPPED, 'tf.Variable(tf.zeros([4, 2]))', _TRAIN, True),
        (_STOPPED, 'tf.get_variable("head", [4, 2])', _TRAIN, True),
        (_STOPPED, 'weight([4, 2], "head")', "grads = tf.gradients(loss, tf.trainable_variables())", True),
        ("tf.matmul(state, head) + tf.stop_gradient(tf.matmul(state, head))", 'weight([4, 2], "head")', _TRAIN, False),
        # Not trainable: directly, through the factory's parameter, an integer counter.
        (_STOPPED, 'weight([4, 2], "head", False)', _TRAIN, False),
        (_STOPPED, 'weight([4, 2], "head", learn=False)', _TRAIN, False),
        (_STOPPED, 'tf.Variable(tf.zeros([4, 2]), trainable=False)', _TRAIN, False),
        (_STOPPED, "tf.Variable(0)", _TRAIN, False),
        # The script does not train (inference), or names what it trains.
        (_STOPPED, 'weight([4, 2], "head")', "pass", False),
        (_STOPPED, 'weight([4, 2], "head")', "step = tf.train.AdamOptimizer(0.1).minimize(loss, var_list=[body])", False),
        (_STOPPED, 'weight([4, 2], "head")', "grads = tf.gradients(loss, [body])", False),
        # Variables read back from a collection, or by name under reuse.
        (_STOPPED, 'weight([4, 2], "head")', _TRAIN + "\n    decay = tf.add_n([tf.nn.l2_loss(v) for v in tf.get_collection('trainable_variables')])", False),
        (_STOPPED, 'tf.get_variable("head", [4, 2])', _TRAIN + "\n    tf.get_variable_scope().reuse_variables()", False),
        (_STOPPED, 'weight([4, 2], "head")', _TRAIN + "\n    copy = head.assign(body[:, :2])", False),
    ],
)
def test_a_tf1_script_variable_read_only_through_a_cut(policy, head, train, found):
    source = TF1_SCRIPT.format(policy=policy, head=head, train=train)
    assert lines(source) == ([line_of(source, "    head = ")] if found else [])


def test_a_tf1_script_variable_made_by_a_factory_of_another_module(tmp_path):
    (tmp_path / "params.py").write_text(
        "import tensorflow as tf\n\ndef weight(shape, label, learn=True):\n"
        "    value = tf.Variable(tf.random_normal(shape), name=label, trainable=learn)\n    return value\n"
    )
    script = tmp_path / "train.py"
    source = textwrap.dedent(TF1_SCRIPT.format(policy=_STOPPED, head='weight([4, 2], "head")', train=_TRAIN))
    script.write_text(source.replace("def weight(", "from params import weight\n\ndef unused_weight("))
    assert [f.line for f in lint_source(script.read_text(), path=script, select=["GL001"])] == [
        line_of(script.read_text(), "    head = ")
    ]


def test_super_forward_of_a_base_in_another_module(tmp_path) -> None:
    write_files(tmp_path, {
        "m/__init__.py": "",
        "m/base.py": """
            import torch.nn as nn

            class Base(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.proj = nn.Linear(d, d)
                    self.norm = nn.LayerNorm(d)

                def forward(self, x):
                    return self.norm(self.proj(x))
        """,
        "m/net.py": """
            import torch
            import torch.nn as nn
            from .base import Base

            class Child(Base):
                def __init__(self, d):
                    super().__init__(d)
                    self.extra = nn.Linear(d, d)
                    self.gate = nn.Parameter(torch.zeros(d))

                def forward(self, x):
                    return super().forward(x) * torch.sigmoid(self.gate)
        """,
    })
    assert findings_in(tmp_path / "m", ["GL001"]) == [("net.py", 9, "GL001")]

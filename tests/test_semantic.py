"""The semantic model (gradlint/semantic/): what a value is, through names, `self`, calls, layers,
models and the other modules of a project; and the result cache that depends on those modules."""

from __future__ import annotations

import os
import textwrap

import libcst as cst

from gradlint import lint_source
from gradlint.api import lint_paths
from gradlint.cache import ResultCache
from gradlint.config import Settings
from gradlint.semantic.index import ProjectIndex, module_name
from gradlint.semantic.model import ModuleModel
from tests.conftest import findings_in, write_files


def model_of(source: str) -> ModuleModel:
    return ModuleModel(cst.parse_module(textwrap.dedent(source)))


def returned(model: ModuleModel, function: str):
    return model.global_value(function).output


def test_a_stored_softmax_layer_makes_forward_a_probability():
    model = model_of(
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)
                self.act = nn.Softmax(dim=1)

            def forward(self, x):
                h = self.fc(x)
                return self.act(h).view(-1, 3)

        def make():
            return Net()
        """
    )
    instance = returned(model, "make")
    assert instance.output.probability == "softmax"
    assert instance.output.through_call


def test_sequential_keras_activation_and_dense_activation_end_in_a_probability():
    model = model_of(
        """
        import torch.nn as nn
        import keras

        def torch_model():
            return nn.Sequential(nn.Linear(4, 3), nn.Sigmoid())

        def keras_activation():
            return keras.layers.Activation("softmax")

        def keras_dense():
            return keras.layers.Dense(10, activation="softmax")

        def keras_relu():
            return keras.layers.Dense(10, activation="relu")
        """
    )
    assert returned(model, "torch_model").output.probability == "sigmoid"
    assert returned(model, "keras_activation").output.probability == "softmax"
    assert returned(model, "keras_dense").output.probability == "softmax"
    relu = returned(model, "keras_relu").output
    assert relu.probability is None and relu.width == 10


def test_helpers_tuples_views_and_guards_keep_the_kind():
    model = model_of(
        """
        import torch

        def pair(x):
            return torch.sigmoid(x), x

        def first(x):
            p, _ = pair(x)
            return p[:, 0]

        def one_minus(x):
            return 1 - first(x)

        def guarded(x):
            p = torch.softmax(x, -1)
            p = p.clamp(min=1e-6)
            return p + 1e-8

        def second(x):
            _, z = pair(x)
            return z
        """
    )
    assert returned(model, "first").probability == "sigmoid"
    assert returned(model, "one_minus").probability == "one minus sigmoid"
    assert returned(model, "guarded").probability == "softmax" and returned(model, "guarded").indirect
    assert returned(model, "second").probability is None


def test_what_the_model_cannot_see_is_unknown():
    model = model_of(
        """
        import torch

        def parameter(p):
            return p

        def mixed(x, logits):
            out = torch.softmax(x, -1)
            if logits:
                out = x
            return out

        def sometimes(x, training):
            if training:
                return x
            return torch.softmax(x, -1)

        def recursive(x):
            return recursive(x)
        """
    )
    for name in ("parameter", "mixed", "sometimes", "recursive"):
        assert returned(model, name).probability is None, name


PACKAGE = {
    "pkg/__init__.py": "",
    "pkg/models/__init__.py": "",
    "pkg/models/base.py": """
        import torch.nn as nn

        class Base(nn.Module):
            def forward(self, x):
                return self.act(self.fc(x))
        """,
    "pkg/models/net.py": """
        import torch.nn as nn
        from .base import Base

        class Net(Base):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)
                self.act = nn.Softmax(dim=1)
        """,
    "pkg/train.py": """
        import torch
        import torch.nn.functional as F
        from .models.net import Net
        from .models import net as nets

        def train(x, y):
            model = Net()
            loss = F.nll_loss(torch.log(model(x)), y)
            other = nets.Net()
            return loss + F.cross_entropy(other(x), y)
        """,
    "script.py": """
        import torch
        from pkg.models.net import Net

        criterion = torch.nn.CrossEntropyLoss()
        model = Net()
        for x, y in data:
            criterion(model(x), y).backward()
        """,
}


def test_a_model_defined_in_another_module_is_followed(tmp_path):
    write_files(tmp_path, PACKAGE)
    assert module_name(tmp_path / "pkg" / "models" / "net.py") == ("pkg.models.net", tmp_path.resolve())
    train = tmp_path / "pkg" / "train.py"
    found = lint_source(train.read_bytes(), path=train, select=["GL080", "GL082"])
    assert [(f.line, f.rule) for f in found] == [(9, "GL080"), (11, "GL082")]
    script = tmp_path / "script.py"
    found = lint_source(script.read_bytes(), path=script, select=["GL082"])
    assert [(f.line, f.rule, f.severity) for f in found] == [(8, "GL082", "warning")]


def test_import_cycles_and_missing_modules_are_unknown(tmp_path):
    write_files(
        tmp_path,
        {
            "a.py": "import torch\nfrom b import f\n\ndef g(x):\n    return f(x)\n",
            "b.py": "from a import g\nfrom missing import h\n\ndef f(x):\n    return g(h(x))\n",
        },
    )
    index = ProjectIndex(str(tmp_path / "a.py"))
    model = index.module("a")
    assert model.global_value("g").output.probability is None
    assert set(index.read) == {str(tmp_path / "a.py"), str(tmp_path / "b.py")}


def test_a_cached_result_is_not_reused_when_a_module_it_depends_on_changes(tmp_path):
    write_files(tmp_path, PACKAGE)
    cache = ResultCache(tmp_path / ".cache")
    settings = Settings()
    train = str(tmp_path / "pkg" / "train.py")

    def run():
        result, _ = lint_paths([train], settings, ["GL080"], jobs=1, cache=cache)
        return [f.line for f in result.findings]

    assert run() == [9]
    net = tmp_path / "pkg" / "models" / "net.py"
    net.write_text(net.read_text().replace("nn.Softmax(dim=1)", "nn.Identity()"))
    stat = net.stat()
    os.utime(net, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert run() == []


def test_containers_filled_after_construction_and_explicit_forward_calls():
    source = """
        import torch
        import keras

        def build_model(n):
            model = torch.nn.Sequential()
            model.add_module("linear", torch.nn.Linear(n, 3))
            model.add_module("softmax", torch.nn.Softmax())
            return model

        class ConvNet(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = torch.nn.Sequential()
                self.fc.add_module("softmax", torch.nn.Softmax())

            def forward(self, x):
                return self.fc.forward(x.view(-1, 320))

        def train(model, loss, x, y):
            return loss.forward(model.forward(x), y)

        def main(x, y):
            criterion = torch.nn.CrossEntropyLoss()
            train(build_model(3), criterion, x, y)
            train(ConvNet(), criterion, x, y)

        seq = keras.Sequential()
        seq.add(keras.layers.Dense(3, activation="relu"))
        seq.add(keras.layers.Dense(3, activation="softmax"))
        seq.compile(loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    """
    found = lint_source(textwrap.dedent(source), select=["GL082"])
    assert [f.line for f in found] == [21, 31]


def test_a_parameter_holds_what_every_call_in_the_module_passes():
    model = model_of(
        """
        import torch

        def nll(p, y):
            return p

        def always(x, y):
            return nll(torch.softmax(x, -1), y) + nll(torch.softmax(-x, -1), y)

        def once_logits(x, y):
            return mixed(torch.softmax(x, -1)) + mixed(x)

        def mixed(p):
            return p

        def uncalled(p):
            return p
        """
    )
    assert returned(model, "nll").probability == "softmax"
    assert returned(model, "mixed").probability is None
    assert returned(model, "uncalled").probability is None


def test_tf1_dense_layers_and_trainers_given_a_model_class():
    source = """
        import tensorflow as tf
        from torch import nn
        from skorch import NeuralNet

        def model(x):
            h = tf.layers.dense(x, 64, activation=tf.nn.relu)
            return x, tf.layers.dense(h, 10, activation=tf.nn.softmax)

        x, output = model(1)
        loss = tf.nn.softmax_cross_entropy_with_logits_v2(logits=output, labels=y)

        class MyModule(nn.Module):
            def __init__(self):
                super().__init__()
                self.softmax = nn.Softmax(dim=-1)

            def forward(self, X):
                return self.softmax(X)

        net = NeuralNet(MyModule, criterion=nn.CrossEntropyLoss, max_epochs=10)
        fine = NeuralNet(MyModule, criterion=nn.NLLLoss, max_epochs=10)
        logits = tf.layers.dense(x, 10)
        also_fine = tf.nn.softmax_cross_entropy_with_logits_v2(logits=logits, labels=y)
    """
    found = lint_source(textwrap.dedent(source), select=["GL082"])
    assert [f.line for f in found] == [11, 21]


def test_a_layer_whose_base_class_lives_in_another_module_is_a_layer(tmp_path):
    write_files(
        tmp_path,
        {
            "ops/__init__.py": "",
            "ops/baseop.py": """
                import tensorflow as tf

                class BaseOp(tf.keras.layers.Layer):
                    pass
                """,
            "ops/simple.py": """
                import tensorflow as tf
                from ops.baseop import BaseOp
                from .baseop import BaseOp as Relative

                class Relie(BaseOp):
                    def call(self, inputs):
                        return tf.cond(tf.greater(inputs, 0), lambda: inputs, lambda: 0.01 * inputs)

                class Deeper(Relie):
                    def call(self, inputs):
                        return tf.cond(inputs > 0, lambda: inputs, lambda: -inputs)

                class Other(Relative):
                    def call(self, inputs):
                        return tf.cond(inputs > 0, lambda: inputs, lambda: -inputs)

                class NotALayer(object):
                    def call(self, inputs):
                        return tf.cond(inputs > 0, lambda: inputs, lambda: -inputs)
                """,
        },
    )
    simple = tmp_path / "ops" / "simple.py"
    found = lint_source(simple.read_bytes(), path=simple, select=["GL010"])
    assert [f.line for f in found] == [8, 12, 16]


def test_a_base_class_in_another_module_is_read_for_its_uses_of_the_weights(tmp_path):
    write_files(
        tmp_path,
        {
            "models/__init__.py": "",
            "models/base.py": """
                class Mixin:
                    def describe(self):
                        return self.name

                class UsesHead:
                    def logits(self, x):
                        return self.head(x)

                class Opaque:
                    def weights(self):
                        return [getattr(self, n) for n in self.names]
                """,
            "models/net.py": """
                import torch.nn as nn
                from .base import Mixin, UsesHead, Opaque

                class Net(nn.Module, Mixin):
                    def __init__(self):
                        super().__init__()
                        self.name = "net"
                        self.body = nn.Linear(4, 4)
                        self.head = nn.Linear(4, 2)

                    def setup_layers(self):
                        self.extra = nn.Linear(4, 4)

                    def forward(self, x):
                        return self.body(x)

                class WithHead(nn.Module, UsesHead):
                    def __init__(self):
                        super().__init__()
                        self.head = nn.Linear(4, 2)

                    def forward(self, x):
                        return x

                class Hidden(nn.Module, Opaque):
                    def __init__(self):
                        super().__init__()
                        self.head = nn.Linear(4, 2)

                    def forward(self, x):
                        return x
                """,
        },
    )
    net = tmp_path / "models" / "net.py"
    found = lint_source(net.read_bytes(), path=net, select=["GL001"])
    assert [(f.line, f.message.split("`")[1]) for f in found] == [(10, "self.head"), (13, "self.extra")]


def test_only_the_assignments_that_reach_the_read_count():
    source = """
        import torch
        import torch.nn.functional as F
        import keras
        from keras.layers import Dense, Input
        from keras.models import Model

        def later(x, y):
            p = torch.softmax(x, -1)
            loss = F.nll_loss(torch.log(p), y)
            p = x
            return loss

        def branch(x, y, use_logits):
            p = torch.softmax(x, -1)
            if use_logits:
                p = x
            return F.nll_loss(torch.log(p), y)

        inputs = Input(shape=(4,))
        output = Dense(20)(inputs)
        output = Dense(3, activation="softmax")(output)
        model = Model(inputs=inputs, output=output)
        model.compile(loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    """
    found = lint_source(textwrap.dedent(source), select=["GL080", "GL082"])
    assert [(f.line, f.rule) for f in found] == [(10, "GL080"), (24, "GL082")]


def test_a_parameter_reassigned_before_the_read_holds_the_assignment():
    model = model_of(
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.out = nn.Linear(4, 2)
                self.softmax = nn.Softmax(dim=-1)

            def forward(self, X, flag=False):
                X = self.softmax(self.out(X))
                return X

            def maybe(self, X, flag=False):
                if flag:
                    X = self.softmax(X)
                return X

        def make():
            return Net()
        """
    )
    net = returned(model, "make")
    assert net.output.probability == "softmax"
    maybe = model.classes["Net"].body.body[2]
    assert model._result(maybe).probability is None


def test_a_module_moved_to_a_device_is_the_same_module():
    source = """
    import torch.nn as nn
    import torch.nn.functional as F

    class Policy(nn.Module):
        def forward(self, x):
            return F.softmax(self.fc(x))

    class Agent:
        def __init__(self):
            self.model = Policy()
            self.model = self.model.cuda()

        def act(self, x):
            probs = self.model(x)
            return -(probs * probs.log()).sum()
    """
    found = lint_source(textwrap.dedent(source), select=["GL080"])
    assert [(f.rule, f.line) for f in found] == [("GL080", 16)]
    moved_elsewhere = source.replace("self.model.cuda()", "other.model.cuda()")
    assert lint_source(textwrap.dedent(moved_elsewhere), select=["GL080"]) == []


def test_a_layer_class_imported_from_another_module_holds_weights_when_it_makes_some(tmp_path):
    write_files(
        tmp_path,
        {
            "seg/__init__.py": "",
            "seg/blocks.py": """
                import tensorflow as tf

                class ConvBlock(tf.keras.layers.Layer):
                    def __init__(self, filters):
                        super().__init__()
                        self.conv = tf.keras.layers.Conv3D(filters, 3)

                    def call(self, x):
                        return self.conv(x)

                class UpBlock(ConvBlock):
                    pass

                class Scale(tf.keras.layers.Layer):
                    def __init__(self, factor):
                        super().__init__()
                        self.factor = factor

                    def call(self, x):
                        return x * self.factor

                class Gain(tf.keras.layers.Layer):
                    def build(self, shape):
                        self.gain = self.add_weight(shape=(1,))

                    def call(self, x):
                        return x * self.gain
                """,
            "seg/net.py": """
                import tensorflow as tf
                from seg.blocks import ConvBlock, UpBlock, Scale, Gain

                class Net(tf.keras.Model):
                    def __init__(self):
                        super().__init__()
                        self.down = ConvBlock(8)
                        self.bottleneck = ConvBlock(16)
                        self.up = UpBlock(8)
                        self.scale = Scale(2.0)
                        self.gain = Gain()

                    def call(self, x):
                        x1 = self.down(x)
                        skipped = self.up(self.bottleneck(x1))
                        return self.scale(x1)
                """,
        },
    )
    net = tmp_path / "seg" / "net.py"
    found = lint_source(net.read_bytes(), path=net, select=["GL001"])
    # `Scale` makes no weight; `bottleneck` and `up` feed a value never read.
    assert [(f.line, f.message.split("`")[1]) for f in found] == [(9, "self.bottleneck"), (10, "self.up"), (12, "self.gain")]


def test_scans_maps_and_function_transforms_keep_what_the_function_returns():
    model = model_of(
        """
        import functools
        import jax
        import jax.numpy as jnp
        import theano
        import theano.tensor as T

        def recurrence(x_t, h_tm1, w):
            h_t = T.nnet.sigmoid(T.dot(x_t, w) + h_tm1)
            s_t = T.nnet.softmax(T.dot(h_t, w))
            return [h_t, s_t]

        def theano_outputs(x, h0, w):
            [h, s], _ = theano.scan(fn=recurrence, sequences=x, outputs_info=[h0, None], non_sequences=w)
            return s[:, 0, :]

        def step(carry, x):
            return carry + x, jax.nn.softmax(x)

        def jax_outputs(xs):
            carry, probs = jax.lax.scan(step, 0.0, xs)
            return probs

        def head(x):
            return jax.nn.softmax(x)

        def batched(xs):
            return jax.vmap(head)(xs)

        def compiled(xs):
            return jax.jit(functools.partial(head))(xs)

        def unknown(xs):
            return jax.lax.scan(lambda c, x: (c, x), 0.0, xs)[1]
        """
    )
    for function in ("theano_outputs", "jax_outputs", "batched", "compiled"):
        assert returned(model, function).probability == "softmax", function
    assert returned(model, "unknown").probability is None


def test_a_buffer_of_exponentials_divided_by_its_sum_is_a_softmax_after_the_division():
    source = """
        import torch
        import torch.nn.functional as F

        def grouped(logits, groups, y):
            p = torch.zeros(len(groups)).to(logits.device)
            for i, members in enumerate(groups):
                p[i] = torch.exp(logits[members].max())
            early = F.cross_entropy(p.view(1, -1), y)
            p /= p.sum()
            return early + F.cross_entropy(p.view(1, -1), y)

        def other_divisor(logits, groups, y, total):
            p = torch.zeros(len(groups))
            for i, members in enumerate(groups):
                p[i] = torch.exp(logits[members].max())
            p /= total
            return F.cross_entropy(p.view(1, -1), y)

        def mixed(logits, groups, y):
            p = torch.zeros(len(groups))
            p[0] = logits[0]
            for i, members in enumerate(groups):
                p[i + 1] = torch.exp(logits[members].max())
            p /= p.sum()
            return F.cross_entropy(p.view(1, -1), y)
    """
    found = lint_source(textwrap.dedent(source), select=["GL082"])
    assert [f.line for f in found] == [11]


def test_numbers_written_in_the_code_and_constructor_settings_are_constants():
    model = model_of(
        """
        import torch
        import torch.nn as nn

        MARGIN = 0.5

        class Head(nn.Module):
            def __init__(self, std, beta=0.8, scale=None):
                super().__init__()
                self.std = std
                self.beta = beta
                self.margin = 2 * MARGIN
                self.scale = scale
                self.log_std = nn.Parameter(torch.zeros(2))

            def forward(self, h):
                return self.std, self.beta, self.margin, self.scale, self.log_std
        """
    )
    head = model.classes["Head"]
    forward = head.body.body[1]
    values = forward.body.body[0].body[0].value.elements
    scopes = (head, forward)
    constants = [model.holds_constant(e.value, scopes) for e in values]
    settings = [model.holds_constant(e.value, scopes, configuration=True) for e in values]
    assert constants == [False, True, True, False, False]
    assert settings == [True, True, True, False, False]


def test_a_location_plus_noise_is_a_sample_located_there():
    model = model_of(
        """
        import torch

        def draw(mu, std):
            eps = torch.zeros_like(mu)
            eps.normal_()
            a = mu + std * eps
            b = mu + std * torch.randn_like(mu)
            c = mu + std
            return a, b, c
        """
    )
    a, b, c = returned(model, "draw").elements
    function = model.functions["draw"]
    assert a.location == b.location == ("parameter", function, "mu")
    assert c.location is None
def test_what_calling_a_module_or_an_op_does_for_autograd():
    from gradlint.semantic.values import SAVES_INPUT, SAVES_OUTPUT, WRITES_INPUT

    model = model_of(
        """
        import torch.nn as nn
        import torch.nn.functional as F

        class Conv(nn.Conv2d):
            def forward(self, x):
                return super().forward(x)

        def linear():
            return nn.Linear(4, 4)
        def conv():
            return Conv(4, 4, 3)
        def stack():
            return nn.Sequential(nn.Conv2d(4, 4, 3), nn.ReLU(inplace=True), nn.Sigmoid())
        def gate():
            return nn.Sigmoid()
        def drop():
            return nn.Dropout(0.1, inplace=True)
        def act():
            return F.relu
        def either(flag):
            return F.relu if flag else F.gelu
        """
    )
    assert returned(model, "linear").autograd == {SAVES_INPUT}
    assert returned(model, "conv").autograd == {SAVES_INPUT}
    assert returned(model, "stack").autograd == {SAVES_INPUT, SAVES_OUTPUT}
    assert returned(model, "gate").autograd == {SAVES_OUTPUT}
    assert returned(model, "drop").autograd == {WRITES_INPUT}
    assert returned(model, "act").autograd == {SAVES_OUTPUT}
    assert returned(model, "either").autograd == frozenset()  # only what every way in does


def test_a_loop_over_the_modules_switches_their_classes_in_place():
    source = """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                for m in self.modules():
                    if isinstance(m, (nn.ReLU, nn.Dropout)) or isinstance(m, nn.ELU):
                        m.inplace = True
                    else:
                        m.other = True
        """
    assert model_of(source).configured_inplace() == {"torch.nn.ReLU", "torch.nn.Dropout", "torch.nn.ELU"}
    unguarded = model_of("import torch.nn as nn\nfor m in net.modules():\n    m.inplace = True\n")
    assert "torch.nn.Dropout2d" in unguarded.configured_inplace()
    assert model_of("for m in items:\n    m.inplace = True\n").configured_inplace() == frozenset()
    in_else = """
        import torch.nn as nn
        for m in net.modules():
            if isinstance(m, nn.ReLU):
                pass
            else:
                m.inplace = True
        """
    assert model_of(in_else).configured_inplace() == frozenset()


def test_a_helper_that_picks_a_return_by_a_constant_argument():
    model = model_of(
        """
        import torch.nn as nn
        import torch.nn.functional as F

        def pick(name, default="softmax"):
            if name == "relu":
                return F.relu
            elif name in ("tanh", "sigmoid"):
                return F.sigmoid
            return {"softmax": F.softmax, "gelu": F.gelu}[default]

        relu = pick("relu")
        sigmoid = pick(name="tanh")
        table = pick("other", default="gelu")
        unknown = pick(kind, default="gelu")
        """
    )
    assert model.global_value("relu").autograd
    assert model.global_value("sigmoid").output.probability == "sigmoid"
    assert model.global_value("table").autograd == frozenset()  # `F.gelu` saves its input
    assert model.global_value("unknown").autograd == frozenset()  # any of the returns


def test_views_returned_by_a_project_function(tmp_path):
    write_files(
        tmp_path,
        {
            "ops.py": """
                def halves(t):
                    c = t.shape[1] // 2
                    return t[:, :c], t.narrow(1, c, c)

                def flat(t, n):
                    return t.view(n, -1)

                def fresh(t):
                    t = t * 2
                    return t[:, :1], t[:, 1:]
                """,
            "net.py": """
                import torch
                from ops import halves, flat, fresh
                import ops

                a, b = halves(x)
                f = ops.flat(y, 4)
                c, d = fresh(x)
                e = torch.chunk(w, 2)
                """,
        },
    )
    model = ProjectIndex(str(tmp_path / "net.py")).module("net")
    values = {name: value for name, [(value, _)] in model._bound(model.module).items()}
    base = lambda name, element=None: cst.Module([]).code_for_node(model.view_base(values[name], (), element))  # noqa: E731
    assert base("a", 0) == base("b", 1) == "x"
    assert base("f") == "y"
    assert base("e") == "w"
    assert model.view_base(values["c"], (), 0) is None
    assert model.view_base(values["a"], (), None) is None  # a tuple: only its elements are views

def _creates_variable(names: frozenset[str]) -> bool:
    return "tensorflow.get_variable" in names


def test_a_star_import_of_a_project_module_resolves_its_names(tmp_path):
    write_files(
        tmp_path,
        {
            "blocks.py": """
                import tensorflow as tf

                def affine(x, units, scope):
                    with tf.variable_scope(scope):
                        w = tf.get_variable("w", [4, units])
                        return tf.matmul(x, w)

                def stacked(x):
                    return affine(affine(x, 8, "a"), 8, "b")

                def pad(x):
                    return tf.pad(x, [[0, 1]])

                class Head:
                    pass
                """,
            "net.py": """
                import tensorflow as tf
                from os.path import *
                from blocks import *

                def pad(x):
                    return x

                class Net:
                    def _local(self, x):
                        return stacked(x)

                    def run(self, x, affine_too):
                        return [affine(x, 2, "c"), stacked(x), pad(x), self._local(x), affine_too(x), join(x)]
                """,
        },
    )
    path = tmp_path / "net.py"
    index = ProjectIndex(str(path))
    module = cst.parse_module(path.read_text())
    model = ModuleModel(module, index=index, dotted_name=index.dotted_name)
    assert model.class_ref(cst.Name("Head")).node.name.value == "Head"
    assert model._import_target("pad") == (None, None)  # defined here: the star import does not shadow it
    cls = model.classes["Net"]
    run = cls.body.body[1]
    calls = [element.value for element in run.body.body[0].body[0].value.elements]
    answers = [model.makes_weights(call, (module, cls, run), _creates_variable) for call in calls]
    # `affine_too` is a parameter; `join` comes from a framework-free module outside the project.
    assert answers == [True, True, False, True, False, False]


def test_classes_that_build_one_another_are_answered_once_each(tmp_path):
    # Forty classes whose methods each build every other one: without a memo per class the
    # question branches at every level and overflows the stack.
    classes = "".join(
        f"class Node{i}:\n    def grow(self):\n        return [{', '.join(f'Node{j}()' for j in range(40))}]\n\n"
        for i in range(40)
    )
    write_files(tmp_path, {"graph.py": "import tensorflow as tf\n\n" + classes + "class Leaf:\n    def build(self):\n        return tf.get_variable('w', [2])\n"})
    model = ProjectIndex(str(tmp_path / "graph.py")).module("graph")
    assert not ModuleModel.creates_weights(model.class_ref(cst.Name("Node7")), _creates_variable)
    assert ModuleModel.creates_weights(model.class_ref(cst.Name("Leaf")), _creates_variable)


def test_calling_self_runs_the_class_forward():
    source = """
        import tensorflow as tf
        import torch.nn as nn
        import torch.nn.functional as F
        from tensorflow import keras

        class Classifier(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 3)

            def forward(self, x):
                return F.softmax(self.fc(x), dim=-1)

            def training_step(self, batch, idx):
                x, y = batch
                return F.cross_entropy(self(x), y)

        class Logits(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 3)

            def forward(self, x):
                return self.fc(x)

            def training_step(self, batch, idx):
                x, y = batch
                return F.cross_entropy(self(x), y)

        class Clf(keras.Model):
            def __init__(self):
                super().__init__()
                self.out = keras.layers.Dense(10, activation="softmax")
                self.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

            def call(self, x):
                return self.out(x)

            def train_step(self, data):
                x, y = data
                with tf.GradientTape() as tape:
                    loss = self.loss_fn(y, self(x, training=True))
                return tape.gradient(loss, self.trainable_variables)
    """
    found = lint_source(textwrap.dedent(source), select=["GL082"])
    assert [f.line for f in found] == [17, 43]


def test_the_module_says_which_functions_are_losses_whatever_their_names():
    model = model_of(
        """
        import jax
        import tensorflow as tf

        def rmse(y, p):
            return tf.sqrt(tf.reduce_mean(tf.square(p - y)))

        def root_mean_squared_error(y, p):
            return rmse(y, p)

        def mae_metric(y, p):
            return tf.reduce_mean(tf.abs(p - y))

        def energy_error(x):
            return x

        class RMSE:
            def __call__(self, p, y):
                return rmse(y, p)

        def accuracy(p, y):
            return p

        model = tf.keras.Model()
        model.compile(loss=[root_mean_squared_error], metrics=[mae_metric])
        criterion = RMSE()
        force = jax.grad(energy_error)

        def step(p, y):
            total_loss = rmse(y, p) + 1.0
            print(accuracy(p, y))
            return total_loss
        """
    )
    used = {name for name in ("rmse", "root_mean_squared_error", "mae_metric", "energy_error", "RMSE", "accuracy")
            if model.used_as_loss(name)}
    assert used == {"rmse", "root_mean_squared_error", "energy_error", "RMSE"}


def test_a_function_named_like_a_metric_is_checked_when_the_module_trains_on_it():
    source = """
        from keras import backend as K

        def root_mean_squared_error(y_true, y_pred):
            return K.sqrt(K.mean(K.square(y_pred - y_true)))

        def rmse_metric(y_true, y_pred):
            return K.sqrt(K.mean(K.square(y_pred - y_true)))

        def build(model):
            model.compile(optimizer="adam", loss=root_mean_squared_error, metrics=[rmse_metric])
            return model
    """
    found = lint_source(textwrap.dedent(source), select=["GL030"])
    assert [f.line for f in found] == [5]


def test_a_keras_loss_function_receives_the_compiled_models_output():
    source = """
        import tensorflow as tf
        from tensorflow import keras

        def bce(y_true, y_pred):
            return -tf.reduce_mean(y_true * tf.math.log(y_pred))

        def on_logits(y_true, y_pred):
            return -tf.reduce_mean(y_true * tf.math.log(y_pred))

        def only_a_metric(y_true, y_pred):
            return -tf.reduce_mean(y_true * tf.math.log(y_pred))

        inputs = keras.Input((4,))
        model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
        model.compile(optimizer="adam", loss={"out": bce}, metrics=[only_a_metric])
        raw = keras.Model(inputs, keras.layers.Dense(1)(inputs))
        raw.compile(optimizer="adam", loss=on_logits)
    """
    found = lint_source(textwrap.dedent(source), select=["GL080"])
    assert [f.line for f in found] == [6]


def test_a_loss_computed_to_measure_does_not_make_a_metric_a_loss():
    model = model_of(
        """
        import torch

        def rmse(p, y):
            return torch.sqrt(((p - y) ** 2).mean())

        def evaluate(model, x, y):
            loss = rmse(model(x), y)
            return loss

        def validate(model, x, y):
            with torch.no_grad():
                loss = rmse(model(x), y)
            val_loss = rmse(model(x), y)
            return loss, val_loss
        """
    )
    assert not model.used_as_loss("rmse")


def test_the_precision_of_an_array_from_where_it_was_made():
    source = """
        import numpy as np
        import torch

        def numgrad(f, x):
            step = torch.zeros_like(x)
            return f(x + step)

        point = torch.randn(5)
        numgrad(abs, point)
        data = np.random.randn(3)
        narrowed = data.astype(np.float32)
        shared = torch.from_numpy(data)
        listed = torch.tensor([1.0, 2.0])
        wide = torch.randn(3, dtype=torch.float64)
        promoted = wide + listed
        unknown = load()
    """
    module = cst.parse_module(textwrap.dedent(source))
    model = ModuleModel(module)
    function = module.body[2]
    perturbed = function.body.body[1].body[0].value.args[0].value
    assert model.precision(perturbed, [function]) == "float32"
    found = {
        small.targets[0].target.value: model.precision(small.targets[0].target)
        for statement in module.body[3:]
        for small in statement.body
        if isinstance(small, cst.Assign)
    }
    assert found == {
        "point": "float32", "data": "float64", "narrowed": "float32", "shared": "float64",
        "listed": "float32", "wide": "float64", "promoted": "float64", "unknown": None,
    }
    switched = ModuleModel(cst.parse_module("import torch\ntorch.set_default_dtype(torch.float64)\nx = torch.randn(3)\n"))
    target = switched.module.body[2].body[0].targets[0].target
    assert switched.precision(target) == "float64"


def test_a_metric_named_function_another_module_trains_on_is_checked(tmp_path):
    write_files(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/metrics.py": """
            from keras import backend as K

            def root_mean_squared_error(y_true, y_pred):
                return K.sqrt(K.mean(K.square(y_pred - y_true)))

            def rmse_metric(y_true, y_pred):
                return K.sqrt(K.mean(K.square(y_pred - y_true)))
        """,
        "pkg/train.py": """
            from .metrics import root_mean_squared_error, rmse_metric

            def build(model):
                model.compile(optimizer="adam", loss=root_mean_squared_error, metrics=[rmse_metric])
                return model
        """,
    })
    package, train = tmp_path / "pkg", tmp_path / "pkg" / "train.py"
    cache = ResultCache(tmp_path / ".cache")

    def run():
        result, _ = lint_paths([str(package / "metrics.py")], Settings(), ["GL030"], jobs=1, cache=cache)
        return [f.line for f in result.findings]

    assert run() == [5]
    train.write_text(train.read_text().replace("loss=root_mean_squared_error", "loss='mse'"))
    stat = train.stat()
    os.utime(train, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert run() == []  # the cached result depended on train.py, and train.py changed


def test_a_helper_only_other_modules_call_holds_what_they_pass(tmp_path):
    write_files(tmp_path, {
        "proj/__init__.py": "",
        "proj/losses.py": """
            import torch
            import torch.nn.functional as F

            def bce(p, y):
                return -(y * torch.log(p)).mean()

            def nll(p, y):
                return -(y * torch.log(p)).mean()

            def ce(logits, y):
                return F.cross_entropy(logits, y)
        """,
        "proj/train.py": """
            import torch
            from .losses import bce, ce, nll

            def step(model, x, y):
                out = model(x)
                return bce(torch.sigmoid(out), y) + nll(out, y) + ce(torch.softmax(out, -1), y)
        """,
    })
    assert findings_in(tmp_path / "proj", ["GL080", "GL082"]) == [("losses.py", 6, "GL080"), ("train.py", 7, "GL082")]


def test_a_loss_function_compiled_in_another_module_receives_the_models_output(tmp_path):
    write_files(tmp_path, {
        "kp/__init__.py": "",
        "kp/losses.py": """
            import tensorflow as tf

            def bce(y_true, y_pred):
                return -tf.reduce_mean(y_true * tf.math.log(y_pred))

            def focal(y_true, y_pred):
                return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=y_pred))
        """,
        "kp/train.py": """
            from tensorflow import keras
            from .losses import bce, focal

            inputs = keras.Input((4,))
            model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
            model.compile(optimizer="adam", loss=bce)
            other = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
            other.compile(optimizer="adam", loss=focal)
            raw = keras.Model(inputs, keras.layers.Dense(1)(inputs))
            raw.compile(optimizer="adam", loss=focal)
        """,
    })
    assert findings_in(tmp_path / "kp", ["GL080", "GL082"]) == [("losses.py", 5, "GL080"), ("train.py", 9, "GL082")]


def test_functions_of_a_project_module_called_through_the_module(tmp_path):
    write_files(tmp_path, {
        "q/__init__.py": "",
        "q/metrics.py": """
            from keras import backend as K

            def root_mean_squared_error(y_true, y_pred):
                return K.sqrt(K.mean(K.square(y_pred - y_true)))
        """,
        "q/losses.py": """
            import torch

            def bce(p, y):
                return -(y * torch.log(p)).mean()

            def ce(logits, y):
                return torch.nn.functional.cross_entropy(logits, y)
        """,
        "q/train.py": """
            import torch
            from . import losses, metrics

            def step(model, x, y):
                return losses.bce(torch.sigmoid(model(x)), y) + losses.ce(torch.softmax(model(x), -1), y)

            def build(m):
                m.compile(optimizer="adam", loss=metrics.root_mean_squared_error)
        """,
    })
    assert findings_in(tmp_path / "q", ["GL030", "GL080", "GL082"]) == [
        ("losses.py", 5, "GL080"), ("metrics.py", 5, "GL030"), ("train.py", 6, "GL082"),
    ]


def test_what_a_name_holds_is_a_layer_object_when_every_value_builds_one():
    model = model_of(
        """
        import torch
        from torch import nn
        from keras import layers

        class Block(nn.Module):
            pass

        class Plain:
            pass

        dense = layers.Dense(4)
        block = Block()
        either = nn.Linear(2, 2) if torch.cuda.is_available() else Block()
        plain = Plain()
        function = nn.functional.relu
        tensor = torch.zeros(3)
        """
    )
    held = {name: model.layer_object(cst.Name(name)) for name in ("dense", "block", "either", "plain", "function", "tensor")}
    assert held == {"dense": "keras", "block": "torch", "either": "torch", "plain": None, "function": None, "tensor": None}


def test_a_layer_fixes_the_width_of_what_it_gives():
    model = model_of(
        """
        from torch import nn
        from keras import layers
        N = 1

        def one(h):
            return nn.Linear(8, 1)(h)

        def named(h):
            return layers.Dense(N)(h)

        def through_a_model(h):
            return nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 1))(h)

        def reshaped(h):
            return nn.Linear(8, 1)(h).view(-1)

        def joined(h, wide):
            return nn.Linear(8, 1)(h) if wide else nn.Linear(8, 2)(h)
        """
    )
    widths = {name: returned(model, name).width for name in ("one", "named", "through_a_model", "reshaped", "joined")}
    assert widths == {"one": 1, "named": 1, "through_a_model": 1, "reshaped": None, "joined": None}


def test_loop_variables_context_values_and_augmented_assignments_rebind_a_name():
    model = model_of(
        """
        import torch

        def rebound_by_a_loop(z, batches):
            p = torch.softmax(z, -1)
            for p in batches:
                pass
            return p

        def inside_the_loop(z, batches):
            p = torch.softmax(z, -1)
            for p, _ in batches:
                return p

        def rebound_by_with(z):
            p = torch.softmax(z, -1)
            with open("f") as p:
                return p

        def kept_off_zero(z):
            p = torch.softmax(z, -1)
            p += 1e-8
            return p
        """
    )
    kinds = {name: returned(model, name).probability
             for name in ("rebound_by_a_loop", "inside_the_loop", "rebound_by_with", "kept_off_zero")}
    assert kinds == {"rebound_by_a_loop": None, "inside_the_loop": None, "rebound_by_with": None, "kept_off_zero": "softmax"}


def test_assignment_expressions_and_literal_tuples_bind_where_they_are_made():
    model = model_of(
        """
        import torch

        def walrus(z):
            if (p := torch.softmax(z, -1)) is not None:
                return p

        def swapped(z, q):
            q, other = torch.softmax(z, -1), 0
            return q

        def before_the_test(z):
            p = torch.softmax(z, -1)
            if p.sum() > 0:
                p = z
            return p
        """
    )
    kinds = {name: returned(model, name).probability for name in ("walrus", "swapped", "before_the_test")}
    assert kinds == {"walrus": "softmax", "swapped": "softmax", "before_the_test": None}


def test_places_follow_names_attributes_and_helpers_with_their_arguments():
    source = textwrap.dedent(
        """
        def offset(a, b):
            gap = a - b
            return gap

        class Net:
            def setup(self, x):
                self.kept = x * 2

            def run(self, x, y):
                d = offset(x, y)
                return d, self.kept
        """
    )
    module = cst.parse_module(source)
    model = ModuleModel(module)
    net = next(s for s in module.body if isinstance(s, cst.ClassDef))
    run = next(s for s in net.body.body if isinstance(s, cst.FunctionDef) and s.name.value == "run")
    ret = run.body.body[-1]
    place = model.place([net, run], ret)
    (value, index, at), = model.assignments(cst.Name("d"), place)
    assert model._source(value) == "offset(x, y)" and index is None
    (returned, inside), = ModuleModel.returns(value, at)
    (gap, _, gap_place), = ModuleModel.assignments(returned, inside)
    assert model._source(gap) == "a - b"
    given, caller = gap_place.argument("a")  # the helper's parameter holds the call's argument
    assert model._source(given) == "x" and caller.scope.functions[0] is run
    (kept, _, _), = ModuleModel.assignments(cst.parse_expression("self.kept"), place)
    assert model._source(kept) == "x * 2"
    assert ModuleModel.assignments(cst.Name("x"), place) is None  # a parameter no call binds


def test_a_method_called_on_an_instance_of_a_project_class_runs_that_method(tmp_path):
    write_files(tmp_path, {
        "rl/__init__.py": "",
        "rl/policy.py": """
            import tensorflow as tf
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Policy(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 2)

                def probs(self, x):
                    return F.softmax(self.fc(x), dim=-1)

                def logits(self, x):
                    return self.fc(x)

            class Geometry:
                def gap(self, a, b):
                    return a - b
        """,
        "rl/agent.py": """
            import tensorflow as tf
            import torch
            from .policy import Geometry, Policy

            class Agent:
                def __init__(self):
                    self.policy = Policy()
                    self.geometry = Geometry()

                def update(self, obs, y):
                    p = self.policy.probs(obs)
                    return -torch.log(p.gather(1, y)).mean()

                def fine(self, obs, y):
                    return torch.log(1 + self.policy.logits(obs) ** 2).mean()

                def spread(self, a, b):
                    return tf.norm(self.geometry.gap(a, b))

            def local(obs, other, flag):
                policy = Policy()
                either = policy if flag else other
                mixed = torch.log(either.probs(obs)).mean()  # `other` may be anything
                return torch.log(policy.probs(obs)).mean() + mixed
        """,
    })
    assert findings_in(tmp_path / "rl", ["GL030", "GL080"]) == [
        ("agent.py", 13, "GL080"), ("agent.py", 19, "GL030"), ("agent.py", 25, "GL080"),
    ]


def test_a_flax_module_applied_to_its_variables_runs_its_call_or_the_method_named():
    source = textwrap.dedent(
        """
        import flax.linen as nn
        import jax.numpy as jnp
        import optax

        class Classifier(nn.Module):
            @nn.compact
            def __call__(self, x):
                return nn.softmax(nn.Dense(10)(x))

            def logits(self, x):
                return nn.Dense(10)(x)

        model = Classifier()

        def loss_fn(params, x, y):
            probs = model.apply(params, x)
            return optax.softmax_cross_entropy_with_integer_labels(probs, y).mean()

        def raw_loss(params, x, y):
            logits = model.apply(params, x, method=Classifier.logits)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        """
    )
    assert [(f.line, f.rule) for f in lint_source(source, select=["GL082"])] == [(18, "GL082")]


def test_a_function_called_through_a_transform_receives_the_arguments():
    source = textwrap.dedent(
        """
        import flax.linen as nn
        import jax
        import optax

        class Classifier(nn.Module):
            @nn.compact
            def __call__(self, x):
                return nn.softmax(nn.Dense(10)(x))

        def loss_fn(params, net, x, y):
            probs = net.apply(params, x)
            return optax.softmax_cross_entropy_with_integer_labels(probs, y).mean()

        def train(params, x, y):
            model = Classifier()
            for _ in range(10):
                grads = jax.grad(loss_fn)(params, model, x, y)
                params = jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, grads)
            return params
        """
    )
    assert [(f.line, f.rule) for f in lint_source(source, select=["GL082"])] == [(13, "GL082")]

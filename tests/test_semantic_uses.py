"""Where a value goes (gradlint/semantic/uses.py): a value is 'never differentiated' only when
every path of it ends cut, looked at or evaluated; anything the model cannot judge keeps it."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from gradlint.semantic.model import ModuleModel


def reaches(source: str, marker: str = "sqrt", dotted_name: str = "pkg.losses", dead: bool = False) -> bool:
    """Whether the first call of `marker` in `source` may reach a gradient (with `dead`:
    whether its value is dead)."""
    module = cst.parse_module(textwrap.dedent(source))
    model = ModuleModel(module, dotted_name=dotted_name)
    found = []

    class Find(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            func = node.func
            name = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", None)
            if name == marker and not found:
                found.append(node)

    module.visit(Find())
    return model.is_dead(found[0]) if dead else model.reaches_gradient(found[0])


HELPER = """
import torch

def {name}(advantages, eps=1e-8):
    var = torch.var(advantages, dim=0)
    normalized = (advantages - advantages.mean(0)) / (torch.sqrt(var) + eps)
    return normalized.reshape(-1)

class Loss:
    def __call__(self, log_prob, advantages, clip):
        advantages = {name}(advantages)
        if clip:
            advantages = torch.clamp(advantages, -clip, clip)
        return -(advantages.{use}() * log_prob).mean()
"""


def test_a_private_helpers_result_that_every_caller_detaches_is_never_differentiated():
    assert not reaches(HELPER.format(name="_normalize", use="detach"))


def test_the_same_result_used_with_its_gradient_may_be_differentiated():
    assert reaches(HELPER.format(name="_normalize", use="abs"))


def test_a_public_helper_may_have_callers_in_other_modules():
    assert reaches(HELPER.format(name="normalize", use="detach"))


SCRIPT = """
import tensorflow as tf

x = tf.placeholder(tf.float32, [None, 1])
y = tf.placeholder(tf.float32, [None, 1])
w = tf.Variable(tf.zeros([1, 1]))
loss = tf.reduce_sum(tf.square(tf.matmul(x, w) - y))
train = tf.train.AdamOptimizer(0.01).minimize(loss)
rmse = tf.sqrt(tf.reduce_mean(tf.square(x - y)))
{extra}
with tf.Session() as sess:
    sess.run(train, feed_dict={{x: [[1.0]], y: [[2.0]]}})
    print(sess.run(rmse, feed_dict={{x: [[1.0]], y: [[2.0]]}}))
"""


def test_a_metric_only_evaluated_by_a_session_is_never_differentiated():
    assert not reaches(SCRIPT.format(extra=""))


def test_the_metric_handed_to_an_optimiser_is_differentiated():
    assert reaches(SCRIPT.format(extra="tf.train.GradientDescentOptimizer(0.1).minimize(rmse)"))


def test_a_metric_added_to_a_loss_collection_may_be_differentiated():
    assert reaches(SCRIPT.format(extra="tf.add_to_collection('losses', rmse)"))


def test_a_public_name_of_an_importable_module_may_be_read_elsewhere():
    library = SCRIPT.format(extra="").replace("with tf.Session() as sess:", "def main():\n  with tf.Session() as sess:")
    assert reaches(library)
    assert not reaches(library + "\nif __name__ == '__main__':\n    main()\n")


def test_a_value_not_used_yet_may_be_differentiated():
    assert reaches(SCRIPT.format(extra="").split("with tf.Session")[0], dotted_name="")


def test_a_private_attribute_read_only_by_session_runs_is_never_differentiated():
    source = """
    import tensorflow as tf

    class Model:
        def build(self, logits):
            self._log_probs = tf.nn.top_k(tf.log(tf.nn.softmax(logits)), 4)
            self.loss = tf.reduce_mean(logits)

        def decode(self, sess, feed):
            return sess.run([self._log_probs], feed_dict=feed)
    """
    assert not reaches(source, marker="log")
    trained = source + """
        def train(self):
            return tf.train.AdamOptimizer().minimize(-tf.reduce_mean(self._log_probs[0]))
    """
    assert reaches(trained, marker="log")


@pytest.mark.parametrize(
    "use, differentiated",
    [
        ("loss = d.mean()\n    loss.backward()", True),
        ("return d", True),  # a public function's result
        ("print(d.item())", False),
        ("if d.max() > 1:\n        print('far')", False),
        ("losses.append(d)", True),  # into a container the model does not follow
        ("writer.add_scalar('distance', d)", False),
        ("return float(d)", False),
        ("return d.detach().cpu().numpy()", False),
        ("return x[d.argmax()]", False),
        ("return x[d.round().long()]", False),  # piecewise constant, then an integer
        ("return x[torch.floor(d).to(torch.int64)]", False),
        ("return x * d.to(torch.float16)", True),  # a floating cast keeps the gradient
        ("return torch.tensor(1.0).to(d.device)", False),
        ("q = d + (x - d).detach()\n    return q", True),  # straight through: `d` outside the cut
        ("q = x + (d - x).detach()\n    return q", False),  # `d` only inside it
        ("for _ in range(3):\n        x = x + d\n    return x", True),
    ],
)
def test_uses_in_a_function(use, differentiated):
    source = f"""
import torch

def step(x, y, losses, writer):
    d = torch.sqrt(((x - y) ** 2).sum())
    {use}
"""
    assert reaches(source) is differentiated


DEAD = """
import torch

counter = 0

def forward(x, w):
    {body}
"""


@pytest.mark.parametrize(
    "body, dead",
    [
        ("h = torch.tanh(x)\n    h = x * w\n    return h", True),  # overwritten before any read
        ("h = torch.tanh(x)\n    return x", True),  # never read
        ("h = torch.tanh(x)\n    if h.sum() > 0:\n        return x\n    return w", True),  # only a condition
        ("h = torch.tanh(x)\n    h = h * w\n    return h", False),  # read by the overwrite
        ("h = torch.tanh(x)\n    if w is None:\n        h = x\n    return h", False),  # may not be overwritten
        ("h = torch.tanh(x)\n    return h.detach()", False),  # a cut is a use
        ("def later():\n        return h\n    h = torch.tanh(x)\n    return later", False),  # a closure
        ("global counter\n    counter = torch.tanh(x)\n    return x", False),  # another module may read it
    ],
)
def test_dead_values(body: str, dead: bool) -> None:
    assert reaches(DEAD.format(body=body), marker="tanh", dead=True) is dead


def test_a_value_overwritten_before_any_read_reaches_nothing():
    source = """
    import torch

    def loss(a, b):
        d = torch.sqrt(((a - b) ** 2).sum())
        d = (a - b).abs().sum()
        return d
    """
    assert reaches(source) is False
    assert reaches(source.replace("d = (a - b)", "d = d + (a - b)")) is True  # read by the overwrite


INTEGER_CAST = """
import tensorflow as tf

def step(x, y):
    d = tf.sqrt(tf.reduce_sum((x - y) ** 2))
    return tf.gather(x, tf.cast(d, {dtype}))
"""


@pytest.mark.parametrize(("dtype", "differentiated"), [("tf.int32", False), ("'int64'", False), ("tf.float32", True)])
def test_a_cast_to_an_integer_dtype_ends_the_path(dtype, differentiated):
    assert reaches(INTEGER_CAST.format(dtype=dtype)) is differentiated


STRAIGHT_THROUGH = """
import jax
import jax.numpy as jnp

def quantise(x, codes):
    q = codes[jnp.argmin(jnp.sum((x[:, None] - codes) ** 2, -1), -1)]
    q = x + jax.lax.stop_gradient(q - jnp.tanh(x))
    return q
"""


def test_only_the_stopped_part_of_a_straight_through_estimator_is_cut():
    assert reaches(STRAIGHT_THROUGH, marker="tanh") is False  # only inside the stop_gradient
    assert reaches(STRAIGHT_THROUGH.replace("jnp.tanh(x))", "x) + jnp.tanh(x)"), marker="tanh") is True


def test_a_layer_read_to_be_called_is_followed_through_its_result():
    source = """
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.side = nn.Linear(4, 4)

        def forward(self, x):
            return x + self.side(x).detach()
    """
    module = cst.parse_module(textwrap.dedent(source))
    model = ModuleModel(module, dotted_name="pkg.net")
    read = next(
        node for node in _walk(module)
        if isinstance(node, cst.Attribute) and node.attr.value == "side" and not _is_assigned(module, node)
    )
    assert model.reaches_gradient(read) is False
    assert model.is_dead(read) is False  # cut, but not dead: the result is used


@pytest.mark.parametrize(
    ("call", "computes"),
    [("tf.concat([a, b], 0)", True), ("K.dot(a, b)", True), ("tf.keras.layers.Dense(4)", False),
     ("tf.Variable(a)", False), ("helper(a)", False)],
)
def test_a_framework_function_computes_a_new_tensor(call, computes):
    source = f"import tensorflow as tf\nfrom keras import backend as K\nresult = {call}\n"
    module = cst.parse_module(source)
    model = ModuleModel(module, dotted_name="pkg.layers")
    value = module.body[-1].body[0].value
    assert model.computes_tensor(value) is computes


def _walk(node):
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.children)


def _is_assigned(module, attribute):
    return any(
        isinstance(node, cst.AssignTarget) and node.target is attribute for node in _walk(module)
    )


GRAPH_SCRIPT = """
import tensorflow as tf

def record(tensor, label):
    with tf.name_scope("stats"):
        average = tf.reduce_mean(tensor)
        tf.summary.scalar(label + "/mean", average)
        tf.summary.histogram(label, tensor)

def head(features):
    return tf.matmul(features, kernel)

with tf.Graph().as_default():
    kernel = tf.Variable(tf.zeros([8, 2]))
    record(kernel, "kernel")
    inputs = tf.placeholder(tf.float32, [None, 8])
    scores = {use}
    loss = tf.reduce_sum(scores)
    step = tf.train.AdamOptimizer(0.1).minimize(loss)
"""


def test_a_value_given_to_a_function_goes_where_its_parameter_goes():
    assert not reaches(GRAPH_SCRIPT.format(use="tf.stop_gradient(head(inputs))"), marker="Variable", dotted_name="train")


def test_a_scripts_public_function_returns_to_its_callers():
    assert reaches(GRAPH_SCRIPT.format(use="head(inputs)"), marker="Variable", dotted_name="train")


def test_a_parameter_the_function_keeps_may_reach_a_gradient():
    source = GRAPH_SCRIPT.replace('tf.summary.histogram(label, tensor)', 'tf.add_to_collection("losses", tensor)')
    assert reaches(source.format(use="tf.stop_gradient(head(inputs))"), marker="Variable", dotted_name="train")


def test_a_public_function_of_an_importable_module_may_have_other_callers():
    # A private module-level variable: only the function's callers elsewhere may differentiate it.
    source = GRAPH_SCRIPT.replace("with tf.Graph().as_default():", "if True:").replace("kernel", "_kernel")
    assert reaches(source.format(use="tf.stop_gradient(head(inputs))"), marker="Variable", dotted_name="pkg.model")


def test_a_value_used_only_inside_one_loop():
    import libcst as cst
    from gradlint.semantic.model import ModuleModel

    module = cst.parse_module(
        "def forward(self, x):\n"
        "    a = self.alpha * 2\n"
        "    b = self.beta\n"
        "    y = x + b\n"
        "    for k in range(2, self.n):\n"
        "        y = y + a * k\n"
        "    return y\n"
    )
    model = ModuleModel(module)
    function = module.body[0]
    loop = next(node for node in function.body.body if isinstance(node, cst.For))
    alpha, beta = (statement.body[0].value for statement in function.body.body[:2])
    assert model.only_through(alpha, loop)
    assert not model.only_through(beta, loop)

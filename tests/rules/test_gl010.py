"""GL010 edge cases that the fixtures do not show well: aliases, scoping, rebinding."""

import pytest

from gradlint import fix_source, lint_source


def lines(src: str) -> list[int]:
    return [f.line for f in lint_source(src, select=["GL010"])]


def test_message_names_the_construct_predicate_and_fix():
    src = (
        "import tensorflow as tf\n"
        "class L(tf.keras.layers.Layer):\n"
        "    def call(self, inputs):\n"
        "        return tf.cond(inputs > 0, lambda: inputs, lambda: -inputs)\n"
    )
    (finding,) = lint_source(src, select=["GL010"])
    assert finding.line == 4
    assert "`tf.cond`" in finding.message and "`inputs > 0`" in finding.message
    assert "`tf.where`" in finding.message


def test_aliased_cond_imports():
    src = (
        "from tensorflow import cond as tf_cond\n"
        "from jax.lax import cond\n"
        "import tensorflow as tf\n"
        "class L(tf.keras.layers.Layer):\n"
        "    def call(self, x):\n"
        "        a = tf_cond(x > 0, lambda: x, lambda: -x)\n"
        "        return cond(tf.less(x, 1.0), lambda: a, lambda: x)\n"
    )
    assert lines(src) == [6, 7]


def test_torch_message_suggests_torch_where():
    src = (
        "import torch\n"
        "class M(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        return x if x > 0 else -x\n"
    )
    (finding,) = lint_source(src, select=["GL010"])
    assert "`torch.where`" in finding.message and "`... if ... else ...`" in finding.message


def test_closure_sees_the_layer_input_but_a_lambda_parameter_shadows_it():
    src = (
        "import tensorflow as tf\n"
        "class L(tf.keras.layers.Layer):\n"
        "    def call(self, x):\n"
        "        def inner():\n"
        "            return tf.cond(x > 0, lambda: x, lambda: -x)\n"
        "        per_item = tf.map_fn(lambda x: tf.cond(x > 0, lambda: x, lambda: -x), tf.reshape(x, [-1]))\n"
        "        return inner(), per_item\n"
    )
    assert lines(src) == [5]


def test_rebinding_to_a_reduction_or_a_loop_variable_clears_the_evidence():
    src = (
        "import torch\n"
        "class M(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        m = x > 0\n"
        "        m = m.any()\n"
        "        if m:\n"
        "            pass\n"
        "        y = x * 2\n"
        "        for y in range(3):\n"
        "            if y > 1:\n"
        "                pass\n"
        "        a, x = x, 0\n"
        "        if x > 0:\n"
        "            pass\n"
    )
    assert lines(src) == []


def test_walrus_and_augmented_assignment():
    src = (
        "import torch\n"
        "class M(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        if (m := torch.gt(x, 0)) is not None:\n"
        "            pass\n"
        "        if m:\n"
        "            pass\n"
        "        total = 0\n"
        "        total += x\n"
        "        while total > 10:\n"
        "            total = total - 1\n"
    )
    assert lines(src) == [6, 10]


def test_not_a_layer_class_and_annotated_scalars_stay_quiet():
    src = (
        "import torch\n"
        "class Runner:\n"
        "    def forward(self, x):\n"
        "        return x if x > 0 else 0\n"
        "class M(torch.nn.Module):\n"
        "    def forward(self, n: int, x: torch.Tensor):\n"
        "        return x if n > 0 else -x\n"
        "class N(torch.nn.Module):\n"
        "    def forward(self, x: torch.Tensor):\n"
        "        return x if x > 0 else -x\n"
    )
    assert lines(src) == [10]


def test_jit_static_arguments_and_unreadable_static_specs():
    src = (
        "from functools import partial\n"
        "import jax\n"
        "STATIC = (1,)\n"
        "@partial(jax.jit, static_argnums=(1,))\n"
        "def f(x, flag):\n"
        "    return x if flag > 0 else -x\n"
        "@partial(jax.jit, static_argnums=STATIC)\n"
        "def g(x, flag):\n"
        "    return x if x > 0 else -x\n"
        "@jax.jit\n"
        "def h(x, flag):\n"
        "    return x if flag > 0 else -x\n"
    )
    assert lines(src) == [12]


def test_unresolved_framework_base_class_by_name():
    # Inside torch itself modules import their base class relatively.
    src = (
        "import torch\n"
        "from .module import Module\n"
        "class Threshold(Module):\n"
        "    def forward(self, input):\n"
        "        if input > 0:\n"
        "            return input\n"
        "        return torch.zeros_like(input)\n"
    )
    assert lines(src) == [5]


def test_identity_membership_and_none_comparisons_are_quiet():
    src = (
        "import tensorflow as tf\n"
        "class L(tf.keras.layers.Layer):\n"
        "    def call(self, inputs):\n"
        "        if inputs is None or inputs in ():\n"
        "            return inputs\n"
        "        if inputs == None or inputs == 'auto':\n"
        "            return inputs\n"
        "        return inputs\n"
    )
    assert lines(src) == []


def test_noqa_on_the_statement():
    src = (
        "import tensorflow as tf\n"
        "class L(tf.keras.layers.Layer):\n"
        "    def call(self, inputs):\n"
        "        return tf.cond(inputs > 0,  # noqa: GL010\n"
        "                       lambda: inputs, lambda: -inputs)\n"
    )
    assert lines(src) == []


def test_module_level_code_is_not_tensor_code():
    src = (
        "import torch\n"
        "x = torch.randn(3)\n"
        "if torch.gt(x, 0).all():\n"
        "    pass\n"
        "y = x if x.sum() > 0 else -x\n"
    )
    assert lines(src) == []


def test_cond_is_an_error_and_python_control_flow_a_warning():
    src = (
        "import tensorflow as tf\n"
        "class L(tf.keras.layers.Layer):\n"
        "    def call(self, inputs):\n"
        "        if inputs > 0:\n"
        "            inputs = -inputs\n"
        "        return tf.cond(inputs > 0, lambda: inputs, lambda: -inputs)\n"
    )
    assert [(f.line, f.severity) for f in lint_source(src, select=["GL010"])] == [(4, "warning"), (6, "error")]


@pytest.mark.parametrize(
    "branches",
    [
        "lambda: tf.print(inputs), lambda: inputs",  # a side effect would run for every element
        "lambda: helper(inputs), lambda: inputs",  # an unknown call may have one
        "lambda x: x, lambda x: -x",  # branches that take operands
        "true_branch, lambda: inputs",  # not a lambda
    ],
)
def test_cond_is_not_rewritten_when_moving_a_branch_could_change_behaviour(branches):
    source = (
        "import tensorflow as tf\n\n"
        "class Gate(tf.keras.layers.Layer):\n"
        "    def call(self, inputs):\n"
        f"        return tf.cond(tf.greater(inputs, 0.0), {branches})\n"
    )
    [finding] = lint_source(source, select=["GL010"])
    assert finding.fix is None
    assert fix_source(source, select=["GL010"])[0] == source.encode()

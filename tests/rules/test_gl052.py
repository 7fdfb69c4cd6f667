"""GL052 stale-loss-callable: the tape's timeline, optimiser receivers and graph mode."""

import textwrap

from gradlint import lint_source


def found(source: str) -> list[tuple[int, str]]:
    return [(f.line, f.severity) for f in lint_source(textwrap.dedent(source), select=["GL052"])]


def test_tape_alias():
    source = """
    from tensorflow import GradientTape
    def step(model, x, y):
        loss = ((model(x) - y) ** 2).sum()
        with GradientTape(persistent=True) as t:
            out = model(x)
        return t.gradient(loss, model.trainable_variables)
    """
    assert found(source) == [(7, "error")]


def test_tape_gradient_inside_the_block():
    source = """
    import tensorflow as tf
    def step(model, x, y):
        loss = tf.reduce_sum(model(x) - y)
        with tf.GradientTape() as tape:
            out = model(x)
            g = tape.gradient(loss, model.trainable_variables)
        return g
    """
    assert found(source) == [(7, "error")]


def test_loss_rebound_after_the_tape_is_quiet():
    source = """
    import tensorflow as tf
    def run(model, batches):
        loss = tf.constant(0.0)
        for x in batches:
            with tf.GradientTape() as tape:
                out = model(x)
            g = tape.gradient(loss, model.trainable_variables)
            loss = tf.reduce_sum(out)
    """
    assert found(source) == []


def test_target_is_a_parameter_is_quiet():
    source = """
    import tensorflow as tf
    def grads(loss, variables):
        with tf.GradientTape() as tape:
            pass
        return tape.gradient(loss, variables)
    """
    assert found(source) == []


def test_unknown_optimizer_stale_closure_is_warning():
    source = """
    import torch
    def step(opt, model, x):
        loss = model(x).sum()
        loss.backward()
        opt.step(lambda: loss)
    """
    assert found(source) == [(6, "warning")]


def test_known_one_shot_optimizer_is_quiet():
    source = """
    import torch
    def step(model, x):
        opt = torch.optim.Adam(model.parameters())
        loss = model(x).sum()
        loss.backward()
        opt.step(lambda: loss)
    """
    assert found(source) == []


def test_graph_mode_receiver_is_quiet():
    source = """
    import tensorflow as tf
    opt = tf.keras.optimizers.Adam()
    sess = tf.compat.v1.Session()
    loss = tf.reduce_sum(w * x)
    opt.minimize(loss, var_list=[w])
    """
    assert found(source) == []


def test_grad_argnums():
    source = """
    import jax
    def f(p, x, y):
        g1 = jax.grad(lambda p, x: (p * y).sum(), argnums=1)(p, x)
        g0 = jax.grad(lambda p, x: (p * x).sum(), argnums=0)(p, x)
        return g1, g0
    """
    assert found(source) == [(4, "error")]


def test_test_files_are_quiet():
    source = """
    import jax
    loss = jax.numpy.ones(())
    g = jax.grad(lambda p: loss)(1.0)
    """
    assert lint_source(textwrap.dedent(source), path="test_grads.py", select=["GL052"]) == []


def test_a_loss_held_in_an_attribute_and_returned_by_a_lambda():
    source = """
    import tensorflow as tf

    class Trainer:
        def __init__(self, model):
            self.model = model
            self.optimizer = tf.keras.optimizers.Adam()

        def forward(self, x):
            self.loss = tf.reduce_mean(self.model(x))

        def step(self, x):
            self.forward(x)
            self.optimizer.minimize(lambda: self.loss, self.model.trainable_variables)
    """
    assert found(source) == [(14, "error")]

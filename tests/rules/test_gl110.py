"""GL110 truncated-backprop-through-time: aliases and the loops it must tell apart."""

import textwrap

import pytest

from gradlint import lint_source


def lines(source: str) -> list[int]:
    return [f.line for f in lint_source(textwrap.dedent(source), select=["GL110"])]


@pytest.mark.parametrize(
    "imports, call",
    [
        ("import lasagne", "lasagne.layers.LSTMLayer(l_in, 8, gradient_steps=3)"),
        ("from lasagne.layers.recurrent import CustomRecurrentLayer", "CustomRecurrentLayer(l_in, a, b, gradient_steps=1)"),
        ("import pytensor", "pytensor.scan(step, sequences=x, truncate_gradient=5)"),
        ("import aesara as th", "th.scan(step, sequences=x, truncate_gradient=2)"),
    ],
)
def test_truncating_arguments(imports, call):
    assert lines(f"{imports}\nresult = {call}\n") == [2]


@pytest.mark.parametrize(
    "call",
    [
        "lasagne.layers.LSTMLayer(l_in, 8, gradient_steps=-1)",
        "lasagne.layers.LSTMLayer(l_in, 8, gradient_steps=k)",
        "lasagne.layers.LSTMLayer(l_in, 8)",
        "lasagne.layers.DenseLayer(l_in, 8)",
    ],
)
def test_full_bptt_arguments(call):
    assert lines(f"import lasagne\nresult = {call}\n") == []


def test_keras_ops_scan_carry():
    assert lines("""
        import keras
        def run(xs, h0):
            def step(h, x):
                h = keras.ops.stop_gradient(h)
                return keras.ops.tanh(h + x), h
            return keras.ops.scan(step, h0, xs)
    """) == [5]


@pytest.mark.parametrize(
    "loop",
    [
        # training loop over batches: the usual truncated BPTT
        "for x in xs:\n    h = h.detach()\n    out, h = model(x, h)\n    loss(out).backward()",
        "for i, batch in enumerate(train_loader):\n    h = h.detach()\n    h = model(batch, h)",
        # the loop variable itself is not carried
        "for h in states:\n    h = model(h.detach())",
        # a state rebuilt from scratch each step
        "for x in xs:\n    h = encoder(x)\n    h = h.detach()\n    h = model(h)",
        # no recurrence: the detached value is not fed back
        "for x in xs:\n    y = model(x)\n    y = y.detach()",
    ],
)
def test_quiet_loops(loop):
    source = "import torch\ndef run(model, xs, h, states, train_loader, loss):\n" + textwrap.indent(loop, "    ") + "\n"
    assert lint_source(source, select=["GL110"]) == []


def test_gradient_check_raises_the_alarm():
    found = lint_source(textwrap.dedent("""
        import torch
        from torch.autograd import gradcheck
        def run(cell, xs, h):
            for x in xs:
                h = cell(x, h).detach()
            return h
        gradcheck(run, (torch.randn(3, dtype=torch.float64),))
    """), select=["GL110"])
    assert [f.line for f in found] == [6]
    assert "checks gradients numerically" in found[0].message
    assert found[0].severity == "info"


def test_nested_time_loop_inside_batch_loop():
    assert lines("""
        import torch
        def train(model, loader, optimizer):
            for batch in loader:
                h = torch.zeros(4)
                for t in range(batch.size(1)):
                    h = model.cell(batch[:, t], h)
                    h = h.detach()
                model.head(h).sum().backward()
                optimizer.step()
    """) == [8]

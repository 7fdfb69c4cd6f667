"""GL091 graph-break-in-loss: aliases, severities and look-alikes the fixtures do not show."""
from gradlint import lint_source


def lint(src: str):
    return lint_source(src, select=["GL091"])


def test_whole_loss_is_error_and_term_is_warning():
    src = (
        "import torch\n"
        "def step(model, x, y, opt):\n"
        "    pred = model(x)\n"
        "    loss = torch.tensor(((pred - y) ** 2).mean().item(), requires_grad=True)\n"
        "    loss.backward()\n"
        "    total = ((pred - y) ** 2).mean() + pred.std().item()\n"
        "    total.backward()\n"
    )
    found = lint(src)
    assert [(f.line, f.severity) for f in found] == [(4, "error"), (6, "warning")]


def test_aliases_resolve():
    src = (
        "import numpy as onp\n"
        "import jax\n"
        "from jax import numpy as jnp\n"
        "def f(w):\n"
        "    return jnp.sum(onp.tanh(w))\n"
        "g = jax.grad(f)\n"
    )
    assert [f.line for f in lint(src)] == [5]


def test_detach_as_factor_or_target_is_quiet():
    src = (
        "import torch.nn.functional as F\n"
        "def step(model, target_model, x, opt):\n"
        "    pred = model(x)\n"
        "    loss = F.mse_loss(pred, target_model(x).detach())\n"
        "    loss = loss / loss.detach()\n"
        "    loss.backward()\n"
    )
    assert lint(src) == []


def test_detached_term_beside_live_term_is_quiet():
    src = (
        "import torch\n"
        "def step(model, x, opt):\n"
        "    pred = model(x)\n"
        "    loss = pred.pow(2).mean() + pred.detach().mean()\n"
        "    loss.backward()\n"
    )
    assert lint(src) == []


def test_logging_after_backward_and_no_grad_are_quiet():
    src = (
        "import torch\n"
        "def step(model, x, y, opt):\n"
        "    loss = ((model(x) - y) ** 2).mean()\n"
        "    loss.backward()\n"
        "    value = float(loss)\n"
        "    with torch.no_grad():\n"
        "        ref = torch.tensor(model(x).numpy())\n"
        "    return value, ref\n"
    )
    assert lint(src) == []


def test_as_tensor_and_tf_constant_keep_the_graph():
    src = (
        "import torch\n"
        "def step(model, x, y):\n"
        "    loss = torch.as_tensor(((model(x) - y) ** 2).mean())\n"
        "    loss.backward()\n"
    )
    assert lint(src) == []


def test_loss_named_function_returning_a_number_is_quiet():
    src = (
        "import torch.nn.functional as F\n"
        "def batch_loss(model, x, y):\n"
        "    return F.cross_entropy(model(x), y).item()\n"
    )
    assert lint(src) == []


def test_noqa():
    src = (
        "import torch\n"
        "def step(model, x):\n"
        "    loss = torch.tensor(model(x).sum().item(), requires_grad=True)  # noqa: GL091\n"
        "    loss.backward()\n"
    )
    assert lint(src) == []

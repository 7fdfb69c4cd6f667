"""GL092 inplace-on-graph-tensor: spellings and the data-flow limits that fixtures show poorly."""

import textwrap

import pytest

from gradlint import lint_source


def lines(source: str) -> list[int]:
    return [f.line for f in lint_source(textwrap.dedent(source), select=["GL092"])]


TEMPLATE = """\
import torch
import torch.nn.functional as F

def forward(x, w):
    y = {op}
    {write}
    return y * w
"""


@pytest.mark.parametrize(
    "op", ["torch.sigmoid(x)", "x.tanh()", "torch.exp(x)", "F.softmax(x, dim=-1)", "x.log_softmax(-1)",
           "F.relu(x)", "torch.sqrt(x)", "x.rsqrt()", "torch.special.expit(x)"],
)
@pytest.mark.parametrize(
    "write", ["y += 1", "y[0] = 0.0", "y.mul_(2)", "y.clamp_(max=1.0)", "torch.tanh_(y)",
              "F.relu(y, inplace=True)", "y.copy_(w)", "y.data.add_(1)"],
)
def test_saved_outputs(op, write):
    assert lines(TEMPLATE.format(op=op, write=write)) == [6]


@pytest.mark.parametrize(
    "op", ["x ** 2", "torch.log(x)", "torch.sin(x)", "x @ w", "F.linear(x, w)", "F.gelu(x)", "F.elu(x)",
           "x.clamp(0, 1)", "F.relu(x, inplace=True)", "torch.sigmoid(x).clone()", "torch.sigmoid(x).detach()"],
)
def test_outputs_not_saved(op):
    assert lines(TEMPLATE.format(op=op, write="y += 1")) == []


VIEW_TEMPLATE = """\
import torch

def forward(x, w, idx):
    y = torch.softmax(x, -1)
    v = {view}
    v.mul_(2)
    return y * w
"""


@pytest.mark.parametrize(
    "view", ["y", "y.view(-1)", "y.reshape(-1).t()", "y[:, 1:]", "y[0]", "y[..., None]", "y.T", "y.detach()"],
)
def test_write_through_an_alias_or_a_view(view):
    # torch 2.13.0 raises: the view shares the softmax output's storage and version counter.
    assert lines(VIEW_TEMPLATE.format(view=view)) == [6]


@pytest.mark.parametrize("copy", ["y.clone()", "y[idx]", "y[[0, 1]]", "y * 1", "torch.zeros_like(y)"])
def test_write_to_a_copy_is_quiet(copy):
    assert lines(VIEW_TEMPLATE.format(view=copy)) == []


def test_not_differentiated_function_is_quiet():
    source = TEMPLATE.format(op="torch.sigmoid(x)", write="y += 1").replace("def forward", "def postprocess")
    assert lines(source) == []


def test_write_under_no_grad_is_quiet():
    source = TEMPLATE.format(op="torch.sigmoid(x)", write="with torch.no_grad():\n        y += 1")
    assert lines(source) == []


def test_input_of_mul():
    source = """\
    import torch

    def step(x, w):
        a = x.clone()
        z = torch.mul(a, w)
        a[0] = 0.0
        z.sum().backward()
    """
    assert lines(source) == [6]


def test_input_of_numpy_mul_is_quiet():
    source = """\
    import numpy as np
    import torch

    def step(x, w):
        a = np.zeros(3)
        z = a * w
        a[0] = 1.0
        torch.as_tensor(z).sum().backward()
    """
    assert lines(source) == []


def test_sequential_aliases():
    source = """\
    from torch import nn

    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.ReLU(inplace=True))
    safe = nn.Sequential(nn.Linear(3, 3), nn.ReLU(inplace=True), nn.Linear(3, 3), nn.ReLU(inplace=True))
    """
    assert lines(source) == [3]

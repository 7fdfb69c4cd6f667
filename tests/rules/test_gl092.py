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
           "F.relu(x)", "F.relu(x, inplace=True)", "torch.sqrt(x)", "x.rsqrt()", "torch.special.expit(x)"],
)
@pytest.mark.parametrize(
    "write", ["y += 1", "y[0] = 0.0", "y.mul_(2)", "y.clamp_(max=1.0)", "torch.tanh_(y)",
              "F.relu(y, inplace=True)", "y.copy_(w)", "y.data.add_(1)"],
)
def test_saved_outputs(op, write):
    assert lines(TEMPLATE.format(op=op, write=write)) == [6]


@pytest.mark.parametrize(
    "op", ["x ** 2", "torch.log(x)", "torch.sin(x)", "x @ w", "F.linear(x, w)", "F.gelu(x)", "F.elu(x)",
           "x.clamp(0, 1)", "torch.sigmoid(x).clone()", "torch.sigmoid(x).detach()"],
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


SPLIT_TEMPLATE = """\
import torch
from torch import nn


class HalfMix(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, z):
        return self.mix(z * 1.0)

    def mix(self, z):
        {split}
        h = self.net(a)
        {write}
        return torch.cat([a, b], 1)
"""


@pytest.mark.parametrize(
    "split",
    ["a, b = z[:, :2], z[:, 2:]", "a, b = z.split(2, dim=1)", "a = torch.narrow(z, 1, 0, 2); b = z[:, 2:]",
     "a, b = torch.tensor_split(z, 2, dim=1)", "a, b = z.chunk(2, 1)"],
)
@pytest.mark.parametrize("write", ["b += h", "b.mul_(h)", "b[:, 0] = h[:, 0]"])
def test_write_to_a_view_whose_sibling_a_layer_saved(split, write):
    # torch 2.13.0 raises: the slices share `z`'s version counter, and the convolution saved `a`
    # (writing an output of `split`/`chunk` in place is refused outright, too).
    assert lines(SPLIT_TEMPLATE.format(split=split, write=write)) == [16]


@pytest.mark.parametrize(
    "split",
    ["a, b = z[:, :2].clone(), z[:, 2:]", "a, b = z[:, :2], z[:, 2:].clone()", "a, b = z[:, :2], z[:, [2, 3]]"],
)
def test_write_to_a_copy_of_a_half_is_quiet(split):
    assert lines(SPLIT_TEMPLATE.format(split=split, write="b += h")) == []


def test_write_to_a_view_under_no_grad_or_out_of_place_is_quiet():
    split = "a, b = z[:, :2], z[:, 2:]"
    assert lines(SPLIT_TEMPLATE.format(split=split, write="with torch.no_grad():\n            b += h")) == []
    assert lines(SPLIT_TEMPLATE.format(split=split, write="b = b + h")) == []


def test_a_method_forward_does_not_call_is_not_analysed():
    source = SPLIT_TEMPLATE.format(split="a, b = z[:, :2], z[:, 2:]", write="b += h")
    assert lines(source.replace("return self.mix(z * 1.0)", "return z")) == []


def test_views_returned_by_a_helper_in_another_module(tmp_path):
    (tmp_path / "ops.py").write_text("def halves(t):\n    c = t.shape[1] // 2\n    return t[:, :c], t[:, c:]\n")
    (tmp_path / "copies.py").write_text("def halves(t):\n    t = t.clone()\n    return t[:, :2], t[:, 2:]\n")
    body = textwrap.dedent(
        """\
        import torch
        from torch import nn
        from {module} import halves


        class HalfMix(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = nn.Linear(2, 2)

            def forward(self, z):
                a, b = halves(z)
                b += self.net(a)
                return torch.cat([a, b], 1)
        """
    )
    for module, expected in (("ops", [13]), ("copies", [])):
        path = tmp_path / f"model_{module}.py"
        path.write_text(body.format(module=module))
        assert [f.line for f in lint_source(path.read_bytes(), path=path, select=["GL092"])] == expected


DISPATCH_TEMPLATE = """\
import torch.nn.functional as F
from torch import nn


def activation(name):
    {body}


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = activation({name!r})
        self.drop = nn.Dropout(0.1)
        {setting}

    def forward(self, x):
        return self.drop(self.act(self.fc(x)))
"""

_IF_CHAIN = 'if name == "relu":\n        return F.relu\n    elif name == "gelu":\n        return F.gelu\n    raise ValueError(name)'
_TABLE = 'return {"relu": F.relu, "gelu": F.gelu, "tanh": F.tanh}[name]'


@pytest.mark.parametrize("body", [_IF_CHAIN, _TABLE])
@pytest.mark.parametrize(
    ("name", "setting", "expected"),
    [
        ("relu", "self.drop.inplace = True", []),  # an attribute set outside a loop is not read
        ("relu", "for m in self.modules():\n            m.inplace = True", [18]),
        ("relu", "for _, m in self.named_modules():\n            if isinstance(m, (nn.ReLU, nn.Dropout)):\n                m.inplace = True", [18]),
        ("relu", "for m in self.modules():\n            if isinstance(m, nn.ReLU):\n                m.inplace = True", []),
        ("gelu", "for m in self.modules():\n            m.inplace = True", []),  # gelu saves its input
        ("relu", "", []),
    ],
)
def test_dropout_switched_in_place_after_a_chosen_activation(body, name, setting, expected):
    source = DISPATCH_TEMPLATE.format(body=body, name=name, setting=setting)
    found = lines(source)
    line = source.splitlines().index("        return self.drop(self.act(self.fc(x)))") + 1 if expected else None
    assert found == ([line] if expected else [])


def test_stored_activation_output_written_in_place():
    source = """\
    import torch
    from torch import nn

    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = nn.Sigmoid()
            self.smooth = nn.GELU()

        def forward(self, x):
            g = self.act(x)
            g.mul_(2)
            s = self.smooth(x)
            s.mul_(2)
            return g + s
    """
    assert lines(source) == [12]


def test_output_written_as_it_is_made():
    source = """\
    import torch

    def forward(x, w):
        y = torch.sigmoid(x @ w).mul_(2)
        z = torch.sigmoid(x @ w).clone().mul_(2)
        torch.tanh(x).add_(1)
        return y + z
    """
    assert lines(source) == [4]

"""The GL001 witness and `gradlint.dynamic.models`, in-process on torch (the Keras cases run
through the fixtures in `fixtures/dynamic/GL001`)."""

from __future__ import annotations

import textwrap

import pytest

from gradlint.dynamic import models
from gradlint.dynamic.backends import installed
from gradlint.dynamic.probe import Job
from tests.conftest import require_frameworks

if not installed("torch") and not require_frameworks():
    pytest.skip("torch is not installed", allow_module_level=True)


def run(source: str, flagged: str, occurrence: int = 1) -> dict:
    """The witness's result for a finding on the `occurrence`-th `flagged` text of `source`."""
    from gradlint.dynamic.backends import backend_for
    from gradlint.dynamic.worker import run_job

    source = textwrap.dedent(source)
    lines = source.splitlines()
    seen = 0
    for number, line in enumerate(lines, 1):
        if flagged in line:
            seen += 1
            if seen == occurrence:
                column = line.index(flagged) + 1
                break
    else:
        raise AssertionError(f"`{flagged}` not in the source")
    job = Job(0, "GL001", "<test>", number, column, number, column + len(flagged), "", "torch", source)
    return run_job(job, backend_for("torch"))


HEADER = """
import torch
from torch import nn
"""


def test_parameter_only_in_an_if_is_confirmed_with_contrast():
    result = run(HEADER + """
class Gate(nn.Module):
    def __init__(self, dim=3):
        super().__init__()
        self.linear = nn.Linear(dim, dim)
        self.thr = nn.Parameter(torch.tensor(0.7))

    def forward(self, x):
        y = self.linear(x)
        if self.thr < 0.5:
            return -y
        return y
""", "self.thr")
    assert result["verdict"] == "confirmed", result
    assert result["evidence"].startswith("grad of `thr` is None; grad of `linear.") and "has norm" in result["evidence"]
    assert result["inputs"] == "`Gate()` on x = normal(2, 3)"


def test_used_parameter_is_not_reproduced():
    result = run(HEADER + """
class Scale(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(5))

    def forward(self, x):
        return x * self.scale
""", "self.scale")
    assert result["verdict"] == "not-reproduced", result
    assert result["evidence"].startswith("grad of `scale` has norm")


def test_nonfinite_gradient_is_inconclusive_not_confirmed():
    result = run(HEADER + """
class Root(nn.Module):
    def __init__(self):
        super().__init__()
        self.offset = nn.Parameter(torch.zeros(4))

    def forward(self, x):
        return torch.sqrt(self.offset) + x
""", "self.offset")
    assert result["verdict"] == "inconclusive", result
    assert result["evidence"].startswith("grad of `offset` is non-finite (")
    assert "reaches the output" in result["evidence"]


def test_missing_constructor_arguments_are_named():
    result = run(HEADER + """
class Wrapper(nn.Module):
    def __init__(self, encoder, dim: int):
        super().__init__()
        self.encoder = encoder
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        return self.encoder(x)
""", "self.bias")
    assert result["verdict"] == "inconclusive"
    assert result["evidence"] == "could not build `Wrapper`: missing constructor arguments encoder"


def test_uncallable_module_is_inconclusive_with_the_error():
    result = run(HEADER + """
class Picky(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        raise ValueError("needs a dict of features")
""", "self.w")
    assert result["verdict"] == "inconclusive"
    assert "could not call `Picky()` on a small random input" in result["evidence"]
    assert "needs a dict of features" in result["evidence"]


def test_weight_outside_a_class_is_inconclusive():
    result = run(HEADER + """
w = nn.Parameter(torch.ones(2))
""", "w")
    assert result == {**result, "verdict": "inconclusive", "evidence": "the weight is not created inside a class"}


def test_constructor_guesses_only_sizes():
    class Net:
        def __init__(self, d_in: int, hidden_size, n_heads, dropout=0.1):
            self.args = (d_in, hidden_size, n_heads, dropout)

    factory, call = models.constructor(Net)
    assert call == "Net(d_in=4, hidden_size=4, n_heads=4)"
    assert factory().args == (4, 4, 4, 0.1)

    class Needs:
        def __init__(self, config, vocab_size, /, tokenizer=None, *, activation):
            pass

    with pytest.raises(models.CannotRun, match="missing constructor arguments config, vocab_size, activation"):
        models.constructor(Needs)


def test_constructor_guesses_what_the_body_uses_as_a_size():
    class Pool:
        def __init__(self, feats, blocks, encoder, scale):
            self.layers = [Conv(feats, feats * 2) for _ in range(blocks)]
            self.encoder = encoder
            self.scale = scale

    with pytest.raises(models.CannotRun, match="missing constructor arguments encoder, scale$"):
        models.constructor(Pool)


class Conv:
    def __init__(self, a, b):
        pass


def test_a_device_argument_is_the_cpu():
    class Net:
        def __init__(self, dim: int, device):
            self.args = (dim, device)

    factory, call = models.constructor(Net)
    assert call == "Net(dim=4, device='cpu')" and factory().args == (4, "cpu")


def test_input_shape_comes_from_the_first_layer():
    import torch

    convnet = torch.nn.Sequential(torch.nn.Conv2d(5, 4, 3), torch.nn.Flatten())
    assert models.candidate_shapes(convnet, "torch")[0] == (2, 5, 8, 8)
    tagger = torch.nn.Sequential(torch.nn.Embedding(7, 4), torch.nn.LSTM(4, 4, batch_first=True))
    assert models.candidate_shapes(tagger, "torch")[0] == ("int", 7, (2, 5))
    assert models.framework_of(convnet) == "torch" and models.framework_of(object()) is None


def test_weight_gradients_classify_none_zero_and_ok():
    import torch

    class Mixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.used = torch.nn.Parameter(torch.ones(3))
            self.unused = torch.nn.Parameter(torch.ones(3))
            self.rounded = torch.nn.Parameter(torch.ones(3))
            self.frozen = torch.nn.Parameter(torch.ones(3), requires_grad=False)

        def forward(self, x):
            return x * self.used + torch.round(self.rounded)

    report = {w.name: w.status for w in models.weight_gradients(Mixed(), "torch", [torch.randn(2, 3)])}
    assert report == {"used": "ok", "unused": "none", "rounded": "zero"}


def test_each_input_of_forward_gets_its_own_array():
    result = run(HEADER + """
class Fuse(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x, skip):
        return self.a(x) + skip
""", "self.b")
    assert result["verdict"] == "confirmed", result
    assert "for each of the 2 inputs" in result["inputs"], result


def test_a_group_norm_that_needs_more_channels_than_the_first_guess_is_built_with_larger_sizes():
    """`GroupNorm(32, channels)` cannot be built with 4 channels; the larger guess (32) builds it,
    a `spatial_dims` argument is an image's 2, and the input comes from the norm's channels."""
    result = run(HEADER + """
class Attention(nn.Module):
    def __init__(self, spatial_dims, num_channels):
        super().__init__()
        self.spatial_dims = spatial_dims
        self.norm = nn.GroupNorm(num_groups=32, num_channels=num_channels)
        self.to_q = nn.Linear(num_channels, num_channels)
        self.proj = nn.Linear(num_channels, num_channels)

    def forward(self, x):
        b, c, h, w = x.shape
        y = self.norm(x).view(b, c, h * w).transpose(1, 2)
        return self.to_q(y)
""", "self.proj")
    assert result["verdict"] == "confirmed", result
    assert "Attention(spatial_dims=2, num_channels=32)" in result["inputs"]
    assert "normal(2, 32, 8, 8)" in result["inputs"]


def test_the_larger_size_is_tried_only_when_sizes_are_guessed():
    import torch

    class Sized(torch.nn.Module):
        def __init__(self, hidden_dim):
            super().__init__()

    class Plain(torch.nn.Module):
        def __init__(self, scale=1.0):
            super().__init__()

    assert [call for _, call in models.constructors(Sized)] == ["Sized(hidden_dim=4)", "Sized(hidden_dim=32)"]
    assert [call for _, call in models.constructors(Plain)] == ["Plain()"]

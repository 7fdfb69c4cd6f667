"""GL081 softmax-over-one-unit: spellings and the axes that are left alone."""

import textwrap

import pytest

from gradlint import lint_source


def lines(source: str) -> list[int]:
    return [f.line for f in lint_source(textwrap.dedent(source), select=["GL081"])]


@pytest.mark.parametrize(
    "imports, expr",
    [
        ("from tensorflow.keras.layers import Dense", 'Dense(1, activation="softmax")'),
        ("import tensorflow as tf", "tf.keras.layers.Dense(1, activation=tf.keras.activations.softmax)"),
        ("import tf_keras", 'tf_keras.layers.Dense(units=1, activation="softmax")'),
        ("from keras import layers", 'layers.Dense(1, "softmax")'),
        ("from keras.src.layers import Dense", 'Dense(1, activation="softmax")'),
        ("from torch import nn", "nn.Sequential(nn.Linear(8, 1), nn.Softmax(dim=-1))"),
        ("import torch.nn", "torch.nn.Sequential(torch.nn.Linear(8, out_features=1), torch.nn.Softmax(-1))"),
        ("import keras", "keras.Sequential([keras.layers.Dense(1), keras.layers.Softmax(axis=-1)])"),
    ],
)
def test_flagged(imports: str, expr: str) -> None:
    assert lines(f"{imports}\n\nlayer = {expr}\n") == [imports.count("\n") + 3]


@pytest.mark.parametrize(
    "imports, expr",
    [
        ("from tensorflow.keras.layers import Dense", 'Dense(2, activation="softmax")'),
        ("from tensorflow.keras.layers import Dense", 'Dense(n, activation="softmax")'),
        ("from tensorflow.keras.layers import Dense", 'Dense(1, activation="sigmoid")'),
        ("from torch import nn", "nn.Sequential(nn.Linear(8, 1), nn.Softmax(dim=1))"),
        ("from torch import nn", "nn.Sequential(nn.Linear(8, 1), nn.Softmax())"),
        ("from torch import nn", "nn.Sequential(nn.Linear(8, 1), nn.Sigmoid())"),
        ("from torch import nn", "nn.Sequential(nn.Linear(1, 8), nn.Softmax(dim=-1))"),
        ("import keras", "keras.Sequential([keras.layers.Dense(1), keras.layers.Softmax(axis=1)])"),
    ],
)
def test_quiet(imports: str, expr: str) -> None:
    assert lines(f"{imports}\nn = 3\nlayer = {expr}\n") == []


def test_forward_softmax_over_a_one_unit_linear() -> None:
    source = """
        import torch
        from torch import nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 1)

            def forward(self, x):
                out = self.fc(x)
                a = F.softmax(out, dim=-1)
                b = F.softmax(out, dim=1)
                c = torch.softmax(out, 0)
                d = F.softmax(out)
                return a, b, c, d
    """
    assert lines(source) == [13]


def test_attributes_are_per_class() -> None:
    source = """
        from torch import nn
        import torch.nn.functional as F

        class A(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 1)

        class B(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 4)

            def forward(self, x):
                return F.softmax(self.fc(x), dim=-1)
    """
    assert lines(source) == []


def test_tests_are_quiet() -> None:
    source = 'from keras.layers import Dense\n\ndef test_warns():\n    Dense(1, activation="softmax")\n'
    assert lines(source) == []
